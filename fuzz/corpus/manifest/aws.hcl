# AWS Service Catalog, built from CreateProvisionedProductPlan's API and boto3 documentation.
# Credentials, region and endpoint resolve as the AWS CLI resolves them (environment, shared
# config and credentials files, SSO, web identity in CI).

planform {
  workspace = "platform-us"
}

provider "aws" {
  alias  = "us"
  region = "us-east-1"
}

variable "alerts_topic" {
  type    = string
  default = "arn:aws:sns:us-east-1:123456789012:service-catalog-events"
}

plan "bucket" {
  provider                 = aws.us
  name                     = "logs-bucket-plan"
  product_id               = "prod-cfrfxmraxxxxx"
  product_version_id       = "pa-7wz4cu5cxxxxx"
  portfolio_id             = "lpv3-y3fnkeslpxxxx"
  provisioned_product_name = "logs-bucket"
  parameters               = { BucketName = "acme-logs", Versioning = "Enabled" }
  tags                     = { team = "platform", "cost-center" = "1234" }
  notification_arns        = [var.alerts_topic]
  execute                  = true
}

plan "reader" {
  provider                 = aws.us
  count                    = 2
  name                     = "log-reader-${count.index}"
  product_id               = "prod-dxxfxmraxxxxx"
  product_version_id       = "pa-8xz4cu5cxxxxx"
  provisioned_product_name = "log-reader-${count.index}"
  parameters = {
    SourceBucket = plan.bucket.outputs.BucketName
    Index        = tostring(count.index)
  }
  execute    = true
  depends_on = [plan.bucket]
}
