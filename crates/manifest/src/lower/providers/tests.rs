//! Unit tests of the providers phase: configurations, aliases, the default provider and how a
//! plan names its provider.

use super::super::tests::{assert_text, lower_main, render, NET};
use crate::lower::Inputs;

/// Lowers `input` and renders each provider configuration, then each plan's provider and stack
/// region, or the diagnostics.
fn check(input: &str, expect: &str) {
    let actual = render(lower_main(input, &Inputs::default()), |d| {
        let providers = d.providers.values().map(|c| {
            format!(
                "provider {} region={:?} endpoint={:?} max_retries={:?} rps={:?} timeout={:?}\n",
                c.reference, c.region, c.endpoint, c.max_retries, c.requests_per_second, c.timeout
            )
        });
        let plans = d.plans.values().map(|p| {
            format!(
                "{} -> {} region={:?}\n",
                p.address, p.provider, p.inputs.stack_region_id
            )
        });
        providers.chain(plans).collect()
    });
    assert_text(&actual, expect);
}

#[test]
fn without_provider_blocks_plans_use_the_sandbox_in_cn_hangzhou() {
    check(NET, "plan.net -> sandbox region=Some(\"cn-hangzhou\")");
}

#[test]
fn every_attribute_is_lowered() {
    let input = format!(
        r#"
provider "alibaba" {{
  region              = "cn-shanghai"
  endpoint            = "https://servicecatalog.cn-shanghai.aliyuncs.com"
  max_retries         = 5
  requests_per_second = 2.5
  timeout             = "1m30s"
}}
{NET}"#
    );
    check(
        &input,
        r#"
        provider alibaba region=Some("cn-shanghai") endpoint=Some("https://servicecatalog.cn-shanghai.aliyuncs.com") max_retries=Some(5) rps=Some(2.5) timeout=Some(90s)
        plan.net -> alibaba region=Some("cn-shanghai")
        "#,
    );
}

#[test]
fn an_alias_is_chosen_with_a_reference_and_the_unaliased_one_is_the_default() {
    let input = r#"
provider "aws" { region = "us-east-1" }
provider "aws" {
  alias  = "eu"
  region = "eu-west-1"
}
plan "a" {
  name                     = "a"
  product_id               = "prod-abcdefghijklm"
  product_version_id       = "pa-abcdefghijklm"
  provisioned_product_name = "a"
}
plan "b" {
  provider                 = aws.eu
  name                     = "b"
  product_id               = "prod-abcdefghijklm"
  product_version_id       = "pa-abcdefghijklm"
  provisioned_product_name = "b"
}
"#;
    check(
        input,
        r#"
        provider aws region=Some("us-east-1") endpoint=None max_retries=None rps=None timeout=None
        provider aws.eu region=Some("eu-west-1") endpoint=None max_retries=None rps=None timeout=None
        plan.a -> aws region=None
        plan.b -> aws.eu region=None
        "#,
    );
}

#[test]
fn only_aliased_providers_leave_no_default() {
    let input = format!(
        r#"
provider "sandbox" {{ alias = "one" }}
provider "sandbox" {{ alias = "two" }}
{NET}"#
    );
    check(
        &input,
        "main.hcl:5:1: plan.net: set provider = one of sandbox.one, sandbox.two: no single default provider configuration",
    );
}

#[test]
fn unknown_kinds_duplicates_and_bad_values_are_reported() {
    let input = r#"
provider "awz" {}
provider "sandbox" {
  endpoint    = "localhost:8080"
  max_retries = 21
  timeout     = "2 minutes"
  profile     = "default"
}
provider "sandbox" {}
"#;
    check(
        input,
        r#"
        main.hcl:2:1: unknown provider type "awz"; supported: alibaba, aws, sandbox; did you mean "aws"?
        main.hcl:4:17: provider.sandbox.endpoint: "localhost:8080" must be a URL starting with http:// or https://
        main.hcl:5:17: provider.sandbox.max_retries: must be a whole number from 0 to 20, got the number 21
        main.hcl:6:17: provider.sandbox.timeout: must be a duration such as "30s" or "2m", got the string "2 minutes"
        main.hcl:7:3: provider.sandbox.profile: the sandbox provider takes no credentials
        main.hcl:9:1: duplicate provider configuration sandbox (first at main.hcl:3:1); give one an alias
        "#,
    );
}

#[test]
fn a_plan_naming_an_undeclared_provider_or_a_string_is_an_error() {
    let input = r#"
provider "aws" { region = "us-east-1" }
plan "a" {
  provider                 = aws.us
  name                     = "a"
  product_id               = "prod-abcdefghijklm"
  product_version_id       = "pa-abcdefghijklm"
  provisioned_product_name = "a"
}
plan "b" {
  provider                 = "aws"
  name                     = "b"
  product_id               = "prod-abcdefghijklm"
  product_version_id       = "pa-abcdefghijklm"
  provisioned_product_name = "b"
}
"#;
    check(
        input,
        r#"
        main.hcl:4:30: plan.a.provider: no provider configuration aws.us is declared; did you mean "aws"?
        main.hcl:11:30: plan.b.provider: must be a provider reference such as sandbox or aws.us (not a string)
        "#,
    );
}
