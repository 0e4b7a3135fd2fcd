provider "aws" {
  region = "us-east-1"
}

plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
  notification_arns = [for i in ["0","1","2","3","4","5"] : "arn:aws:sns:us-east-1:123456789012:t${i}"]
}
