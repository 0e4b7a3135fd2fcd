provider "gcp" {}
