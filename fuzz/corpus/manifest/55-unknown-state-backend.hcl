planform {
  state "s3" {
    bucket = "b"
  }
}
