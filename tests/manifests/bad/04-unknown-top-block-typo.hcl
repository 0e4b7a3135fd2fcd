plann "a" {}
