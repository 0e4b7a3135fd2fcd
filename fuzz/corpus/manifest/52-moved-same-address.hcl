moved {
  from = plan.a
  to   = plan.a
}
