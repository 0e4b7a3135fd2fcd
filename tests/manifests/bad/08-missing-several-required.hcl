plan "a" {
  name = "a"
}
