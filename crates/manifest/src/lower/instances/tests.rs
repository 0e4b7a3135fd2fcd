//! Unit tests of the instances phase: `for_each` and `count` expansion, `each` and `count`
//! references, and the `plan` object of unknown markers.

use super::super::tests::{assert_text, lower_main, render, unmark};
use crate::lower::Inputs;

/// Lowers a plan `app` whose meta-argument is `meta` and whose `name` and `tags` are given, and
/// renders each instance's address, name and tags, or the diagnostics.
fn check(prelude: &str, meta: &str, name: &str, expect: &str) {
    let input = format!(
        r#"{prelude}
plan "app" {{
  {meta}
  name                     = {name}
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = {name}
}}
"#
    );
    let actual = render(lower_main(&input, &Inputs::default()), |d| {
        d.plans
            .values()
            .map(|p| {
                unmark(&format!(
                    "{} name={} tags={:?}\n",
                    p.address, p.inputs.name, p.inputs.tags
                ))
            })
            .collect()
    });
    assert_text(&actual, expect);
}

#[test]
fn for_each_over_a_map_binds_each_key_and_value() {
    check(
        "",
        r#"for_each = { web = "w", db = "d" }
  tags = { role = each.value }"#,
        r#""app-${each.key}""#,
        r#"
        plan.app["db"] name=app-db tags={"role": "d"}
        plan.app["web"] name=app-web tags={"role": "w"}
        "#,
    );
}

#[test]
fn for_each_over_a_set_sorts_and_drops_duplicates() {
    check(
        "",
        r#"for_each = toset(["b", "a", "b"])"#,
        "each.value",
        r#"
        plan.app["a"] name=a tags={}
        plan.app["b"] name=b tags={}
        "#,
    );
}

#[test]
fn count_makes_numbered_instances_and_zero_makes_none() {
    check(
        "",
        "count = 2",
        r#""app-${count.index}""#,
        r#"
        plan.app[0] name=app-0 tags={}
        plan.app[1] name=app-1 tags={}
        "#,
    );
    check("", "count = 0", "\"app\"", "");
}

#[test]
fn bad_meta_arguments_are_reported() {
    check(
        "",
        "count = -1",
        "\"app\"",
        "main.hcl:3:11: plan.app.count: must be a whole number of 0 or more, got the number -1",
    );
    check(
        "",
        "for_each = [1, [2]]",
        "\"app\"",
        "main.hcl:3:14: plan.app.for_each: must be a map, or a set of strings (use toset([…])), got a list",
    );
    check(
        "",
        "for_each = {}\n  count = 1",
        "\"app\"",
        "main.hcl:4:3: plan.app: for_each and count cannot both be set",
    );
}

#[test]
fn each_and_count_exist_only_in_plans_that_expand() {
    check(
        "",
        "",
        "each.key",
        r#"
        main.hcl:4:30: plan.app.name: each.key and each.value exist only in a plan with for_each
        main.hcl:7:30: plan.app.provisioned_product_name: each.key and each.value exist only in a plan with for_each
        "#,
    );
    check(
        "",
        "count = 1",
        "\"a-${count.value}\"",
        r#"
        main.hcl:4:35: plan.app.name: count has only index
        main.hcl:7:35: plan.app.provisioned_product_name: count has only index
        "#,
    );
}

#[test]
fn for_each_cannot_depend_on_another_plan() {
    check(
        r#"
plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
}
locals { zones = plan.net.outputs.zones }"#,
        "for_each = toset(local.zones)",
        "\"app\"",
        "main.hcl:10:14: plan.app.for_each: for_each must be known before apply; it cannot depend on another plan's attributes",
    );
}

#[test]
fn references_to_instances_of_other_plans_are_markers_with_their_address() {
    check(
        r#"
plan "net" {
  for_each                 = toset(["a", "b"])
  name                     = "net-${each.key}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net-${each.key}"
}"#,
        r#"tags = { vpc = plan.net["b"].outputs.vpc_id, id = plan.net["a"].id }"#,
        "\"app\"",
        r#"
        plan.app name=app tags={"id": "${plan.net[\"a\"].id}", "vpc": "${plan.net[\"b\"].outputs.vpc_id}"}
        plan.net["a"] name=net-a tags={}
        plan.net["b"] name=net-b tags={}
        "#,
    );
}

/// A refused `for_each` or `count` is reported once: the plan's `each.key`, and what other
/// blocks read of it, make no follow-on error.
#[test]
fn a_refused_for_each_makes_no_follow_on_error() {
    let net = r#"
plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
}
output "ids" { value = plan.app["a"].id }"#;
    check(
        net,
        "for_each = toset([plan.net.outputs.vpc_id])",
        "each.key",
        "main.hcl:10:14: plan.app.for_each: for_each must be known before apply; it cannot depend on another plan's attributes",
    );
    check(
        net,
        "for_each = [1, [2]]",
        "each.key",
        "main.hcl:10:14: plan.app.for_each: must be a map, or a set of strings (use toset([…])), got a list",
    );
    check(
        "variable \"zones\" { type = set(string) }",
        "for_each = var.zones",
        "each.key",
        r#"main.hcl:1:1: var.zones: no value given for required variable "zones": set a default, --var zones=…, a .pfvars file or PLANFORM_VAR_zones"#,
    );
}

/// A reference to a plan with instances must name one, and one to a plan without may not:
/// each says so instead of "no such key".
#[test]
fn references_say_whether_the_plan_has_instances() {
    let net = r#"
plan "net" {
  count                    = 2
  name                     = "net-${count.index}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net-${count.index}"
}
output "one" { value = plan.app.id }
output "two" { value = plan.net.outputs["x"] }
output "ok" { value = plan.net[1].id }"#;
    check(
        net,
        "for_each = toset([\"a\"])",
        "\"app-${plan.net[0].id}-${plan.net[\"k\"].id}-${each.key}\"",
        r#"
        main.hcl:9:24: output.one: plan.app has instances (it has for_each): name one, e.g. plan.app["KEY"].id
        main.hcl:10:24: output.two: plan.net has instances (it has count): name one, e.g. plan.net[0].outputs["x"]
        main.hcl:14:55: plan.app.name: plan.net has count: its instances are numbered, e.g. plan.net[0]
        main.hcl:17:55: plan.app.provisioned_product_name: plan.net has count: its instances are numbered, e.g. plan.net[0]
        "#,
    );
    check(
        net.replace("count                    = 2", "")
            .replace("-${count.index}", "")
            .as_str(),
        "",
        "plan.net[\"k\"].id",
        r#"
        main.hcl:11:23: output.ok: plan.net has no instances (it has no for_each or count): write plan.net.ATTRIBUTE without an index
        main.hcl:14:30: plan.app.name: plan.net has no instances (it has no for_each or count): write plan.net.ATTRIBUTE without an index
        main.hcl:17:30: plan.app.provisioned_product_name: plan.net has no instances (it has no for_each or count): write plan.net.ATTRIBUTE without an index
        "#,
    );
}
