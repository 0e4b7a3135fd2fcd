variable "pw" {
  sensitive = true
  default   = "x"
}

output "pw" {
  value = var.pw
}
