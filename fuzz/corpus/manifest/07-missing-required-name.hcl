plan "a" {
  product_id               = "p"
  product_version_id       = "v"
  provisioned_product_name = "a"
}
