plan "a" {
  name = "a"
