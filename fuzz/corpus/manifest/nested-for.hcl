locals {
  m = { for k, v in { a = 1, b = 2 } : k => [for i in [v] : "${k}-${i}"] if v > 0 }
}

plan "x" {
  for_each                 = toset(["a"])
  name                     = "x-${each.key}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "x-${each.key}"
  parameters               = { cidr_block = lookup(local.m, each.key, ["none"])[0] }
}
