# Alibaba Cloud Service Catalog (API 2021-09-01), built from the CreateProvisionedProductPlan
# documentation's example: an ECS instance launched through a ROS product.
#
# Credentials are read as the official tools read them: ALIBABA_CLOUD_ACCESS_KEY_ID /
# ALIBABA_CLOUD_ACCESS_KEY_SECRET / ALIBABA_CLOUD_SECURITY_TOKEN, then ~/.aliyun/config.json.

planform {
  workspace = "platform-prod"
  state "local" {
    path = ".planform/state.json"
  }
}

provider "alibaba" {
  region  = "cn-hangzhou"
  profile = "prod"
}

variable "env" {
  type        = string
  default     = "prod"
  description = "Deployment stage"
  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be dev or prod."
  }
}

variable "instance_types" {
  type    = map(string)
  default = { web = "ecs.s6-c1m1.small", api = "ecs.s6-c1m2.large" }
}

locals {
  tags = { k1 = "v1", team = "platform", env = var.env }
}

plan "network" {
  name                     = "vpc-${var.env}"
  description              = "The shared VPC."
  product_id               = "prod-bp1vpc7q1270ab"
  product_version_id       = "pv-bp1vpc9d26a0cd"
  portfolio_id             = "port-bp1yt7582gab12"
  provisioned_product_name = "vpc-${var.env}"
  stack_region_id          = "cn-hangzhou"
  parameters               = { cidr_block = "10.0.0.0/16" }
  tags                     = local.tags
  execute                  = true
  lifecycle {
    prevent_destroy = true
  }
}

plan "ecs" {
  for_each                 = var.instance_types
  name                     = "DEMO-ECS instance ${each.key}"
  description              = "Create an ECS instance."
  product_id               = "prod-bp18r7q127ab01"
  product_version_id       = "pv-bp15e79d26ab01"
  portfolio_id             = "port-bp1yt7582gab12"
  provisioned_product_name = "DEMO-ECS instance ${each.key}"
  parameters = {
    instance_type = each.value
    vpc_id        = plan.network.outputs.vpc_id
  }
  tags    = merge(local.tags, { role = each.key })
  execute = true
  lifecycle {
    ignore_changes = [tags["owner"]]
  }
  timeouts {
    preview  = "10m"
    approval = "0s"
    execute  = "30m"
  }
}

output "web_plan_id" {
  value = plan.ecs["web"].id
}
