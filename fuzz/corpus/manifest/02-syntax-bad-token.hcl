plan "a" {
  name = = "a"
}
