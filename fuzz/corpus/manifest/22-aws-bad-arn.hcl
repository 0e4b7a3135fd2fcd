provider "aws" {
  region = "us-east-1"
}

plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
  notification_arns = ["not-an-arn"]
}
