# planform quickstart: three plans in the embedded sandbox, no cloud account needed.
#
#   cargo run -p planform -- -C examples/quickstart apply --auto-approve
#
# The network plan launches a VPC product; the two app plans launch an ECS product whose
# vpc_id parameter is the VPC's output, so they wait for the network and receive its id.

planform {
  workspace = "quickstart"
}

provider "sandbox" {}

variable "env" {
  type        = string
  default     = "dev"
  description = "Deployment stage"
  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be dev or prod."
  }
}

locals {
  tags = { team = "platform", env = var.env }
}

plan "network" {
  name                     = "vpc-${var.env}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  portfolio_id             = "port-sbxdemo000001"
  provisioned_product_name = "vpc-${var.env}"
  parameters               = { cidr_block = "10.0.0.0/16" }
  tags                     = local.tags
  execute                  = true
}

plan "app" {
  for_each                 = toset(["web", "api"])
  name                     = "app-${each.key}-${var.env}"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  portfolio_id             = "port-sbxdemo000001"
  provisioned_product_name = "app-${each.key}-${var.env}"
  parameters = {
    vpc_id        = plan.network.outputs.vpc_id
    instance_type = "ecs.g7.large"
  }
  tags    = merge(local.tags, { role = each.key })
  execute = true
}

output "vpc_id" {
  value = plan.network.outputs.vpc_id
}

output "web_instance" {
  value = plan.app["web"].outputs.instance_id
}
