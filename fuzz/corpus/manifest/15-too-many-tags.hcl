plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
  tags = { for i in ["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17","18","19"] : "k${i}" => "v" }
}
