provider "alibaba" {
  region = "cn-hangzhou"
}

plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
  stack_region_id   = "cn-hangzhou"
  notification_arns = ["arn:aws:sns:us-east-1:123456789012:t"]
}
