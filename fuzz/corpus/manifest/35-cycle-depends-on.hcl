plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "a"
  depends_on = [plan.b]
}

plan "b" {
  name                     = "b"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "b"
  depends_on = [plan.a]
}
