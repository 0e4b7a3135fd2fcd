provider "alibaba" {
  region   = "cn-hangzhou"
  endpoint = "ftp://127.0.0.1"
}
