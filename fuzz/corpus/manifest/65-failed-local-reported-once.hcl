locals {
  bad  = env("NOPE")
  more = "${local.bad}-x"
}

plan "net" {
  name                     = "net-${local.more}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
}

output "o" {
  value = local.bad
}
