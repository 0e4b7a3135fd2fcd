plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "a"
  parameters = { x = plan.c.outputs.x }
}

plan "b" {
  name                     = "b"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "b"
  parameters = { x = plan.a.outputs.x }
}

plan "c" {
  name                     = "c"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "c"
  parameters = { x = plan.b.id }
}
