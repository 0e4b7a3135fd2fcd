//! Unit tests of the plans phase: declaration, attributes and their types, values that must be
//! known, lifecycle, timeouts, sensitive parameters and limits.

use super::super::tests::{assert_text, lower_main, render, vars};
use crate::lower::Inputs;

/// Lowers `input` with `inputs` and renders each plan in full, or the diagnostics.
fn check_with(input: &str, inputs: &Inputs, expect: &str) {
    let actual = render(lower_main(input, inputs), |d| {
        d.plans
            .values()
            .map(|p| {
                let i = &p.inputs;
                let ignore: Vec<String> = p.ignore_changes.iter().map(|a| a.to_string()).collect();
                format!(
                    "{} at {}\n  name={} product={}/{} portfolio={:?} pp={} region={:?} description={:?}\n  parameters={:?} sensitive={:?} tags={:?} arns={:?}\n  execute={} prevent_destroy={} ignore_changes={ignore:?} timeouts={:?}/{:?}/{:?}\n",
                    p.address,
                    p.location,
                    i.name,
                    i.product_id,
                    i.product_version_id,
                    i.portfolio_id,
                    i.provisioned_product_name,
                    i.stack_region_id,
                    i.description,
                    i.parameters,
                    p.sensitive_parameters,
                    i.tags,
                    i.notification_arns,
                    p.execute,
                    p.prevent_destroy,
                    p.timeouts.preview,
                    p.timeouts.approval,
                    p.timeouts.execute,
                )
            })
            .collect()
    });
    assert_text(&actual, expect);
}

fn check(input: &str, expect: &str) {
    check_with(input, &Inputs::default(), expect);
}

#[test]
fn every_attribute_is_lowered() {
    let input = r#"
plan "app" {
  name                     = "app"
  description              = "the app"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  portfolio_id             = "port-sbx0000001"
  provisioned_product_name = "app-1"
  stack_region_id          = "cn-beijing"
  parameters               = { size = 3, name = "x" }
  tags                     = { team = "core" }
  execute                  = true
  lifecycle {
    prevent_destroy = true
    ignore_changes  = [tags["owner"], parameters, description]
  }
  timeouts {
    preview  = "90s"
    approval = "1h30m"
  }
}
"#;
    check(
        input,
        r#"
        plan.app at main.hcl:2:1
        name=app product=prod-sbxvpc0000001/pv-sbxvpc0000001 portfolio=Some("port-sbx0000001") pp=app-1 region=Some("cn-beijing") description=Some("the app")
        parameters={"name": "x", "size": "3"} sensitive={} tags={"team": "core"} arns=[]
        execute=true prevent_destroy=true ignore_changes=["tags[\"owner\"]", "parameters", "description"] timeouts=90s/5400s/1800s
        "#,
    );
}

#[test]
fn missing_and_mistyped_attributes_are_reported_each_once() {
    let input = r#"
plan "app" {
  name       = ["a"]
  product_id = "prod-sbxvpc0000001"
  tags       = "x"
  execute    = "yes"
  colour     = "red"
}
"#;
    check(
        input,
        r#"
        main.hcl:2:1: plan.app: missing required attribute "product_version_id"
        main.hcl:2:1: plan.app: missing required attribute "provisioned_product_name"
        main.hcl:3:16: plan.app.name: must be a string, got a list
        main.hcl:5:16: plan.app.tags: must be a map of strings, got the string "x"
        main.hcl:6:16: plan.app.execute: must be true or false, got the string "yes"
        main.hcl:7:3: unknown attribute "colour" in plan "app"
        "#,
    );
}

#[test]
fn names_must_be_identifiers_and_unique() {
    let input = r#"
plan "1st" {}
plan "a" "b" {}
plan "dup" {
  name                     = "dup"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "dup"
}
plan "dup" {}
"#;
    check(
        input,
        r#"
        main.hcl:2:1: plan name "1st" must start with a letter or _ and hold only letters, digits, _ and -
        main.hcl:3:1: plan block takes one label, got 2
        main.hcl:10:1: plan.dup: duplicate plan "dup" (first declared at main.hcl:4:1)
        "#,
    );
}

#[test]
fn identifying_values_must_be_known_before_apply() {
    let input = r#"
plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
}
plan "app" {
  name                     = "app-${plan.net.id}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app"
  description              = "next to ${plan.net.id}"
}
"#;
    check(
        input,
        "main.hcl:9:30: plan.app.name: must be known before apply; only parameters, tags and description may use another plan's attributes",
    );
}

#[test]
fn parameters_from_sensitive_variables_are_marked_sensitive() {
    let input = r#"
variable "password" { sensitive = true }
locals { conn = "db:${var.password}" }
plan "db" {
  name                     = "db"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "db"
  parameters               = { password = var.password, conn = local.conn, size = "1" }
}
"#;
    check_with(
        input,
        &vars(&[("password", "hunter2")]),
        r#"
        plan.db at main.hcl:4:1
        name=db product=prod-sbxvpc0000001/pv-sbxvpc0000001 portfolio=None pp=db region=Some("cn-hangzhou") description=None
        parameters={"conn": "db:hunter2", "password": "hunter2", "size": "1"} sensitive={"conn", "password"} tags={} arns=[]
        execute=false prevent_destroy=false ignore_changes=[] timeouts=600s/0ns/1800s
        "#,
    );
}

#[test]
fn lifecycle_and_timeouts_are_checked() {
    let input = r#"
plan "app" {
  name                     = "app"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app"
  lifecycle {
    ignore_changes = [colour, tags.owner]
  }
  timeouts {
    execute = "10 minutes"
    later   = "1h"
  }
}
"#;
    check(
        input,
        r#"
        main.hcl:8:22: plan.app.lifecycle.ignore_changes: "colour" is not an attribute planform compares
        main.hcl:11:15: plan.app.timeouts.execute: must be a duration such as "10m", "90s" or "1h30m", got the string "10 minutes"
        main.hcl:12:5: unknown attribute "later" in timeouts
        "#,
    );
}

#[test]
fn limits_are_checked_on_every_plan() {
    let long = "n".repeat(129);
    let input = format!(
        r#"
plan "app" {{
  name                     = "{long}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app"
  tags                     = {{ "acs:x" = "1", "ok\n  # plan.fake will be destroyed" = "v" }}
}}
"#
    );
    check(
        &input,
        r#"
        main.hcl:3:30: plan.app.name: must be 1 to 128 characters long, got 129
        main.hcl:7:30: plan.app.tags: key "acs:x" must not start with "acs:" or "aliyun"
        main.hcl:7:30: plan.app.tags: key "ok\n  # plan.fake will be destroyed" must not contain control characters (line breaks, tabs, escapes)
        "#,
    );
}

/// The ownership tag planform adds to each instance must fit the cloud's tag value length:
/// a `for_each` key that makes it too long is reported at `for_each`, before any request.
#[test]
fn the_ownership_tag_of_every_instance_fits_the_cloud() {
    let key = "k".repeat(120);
    let input = format!(
        r#"
plan "app" {{
  for_each                 = toset(["short", "{key}"])
  name                     = "app"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app"
}}
"#
    );
    check(
        &input,
        &format!("main.hcl:3:30: plan.app[\"{key}\"].for_each: the ownership tag planform:address = \"plan.app/{key}\" would be 129 characters long; the sandbox provider allows at most 128 in a tag value: use a shorter name or key\n"),
    );
}

/// An error inside an object or list is reported at the part that fails (a call, a nested
/// value, an argument), not at the object's `{`, with any value it shows on one line.
#[test]
fn errors_inside_objects_point_at_the_failing_part_on_one_line() {
    check(
        r#"
plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "a"
  parameters = {
    cidr_block = "10.0.0.0/16"
    zone       = upper(["x"])
  }
  tags = {
    team = "t"
    list = [
      "ok",
      join("-", [1, ["nested", "list"]]),
    ]
  }
  notification_arns = [lower("A"), 1 + "x"]
}
"#,
        r#"
        main.hcl:9:18: plan.a.parameters: error calling function `upper`: expected argument at position 0 to be of type `string`, got `["x"]`
        main.hcl:15:7: plan.a.tags: error calling function `join`: join() cannot join a list
        main.hcl:18:36: plan.a.notification_arns: binary operator `+` is not applicable to `1` and `"x"`
        "#,
    );
}

/// A map or list of strings holding something else names the key or item, at its place.
#[test]
fn a_map_of_strings_names_the_key_that_is_not_a_string() {
    check(
        r#"
plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "a"
  parameters               = { cidr_block = 1, nested = { a = 1 } }
  tags                     = merge({ a = "b" }, { c = ["d"] })
  notification_arns        = ["arn", null]
}
"#,
        r#"
        main.hcl:7:57: plan.a.parameters: must be a map of strings; key "nested" is a map
        main.hcl:8:30: plan.a.tags: must be a map of strings; key "c" is a list
        main.hcl:9:38: plan.a.notification_arns: must be a list of strings; item 2 is null
        "#,
    );
}

/// Trial 3 F10: an attribute that fails to evaluate is reported once for all the instances of its
/// block, and no instance reports a limit on the value it never got ("must be 1 to 128
/// characters long, got 0" became false CI annotations).
#[test]
fn an_attribute_that_fails_for_every_instance_is_one_error_and_no_limit_errors() {
    let e = lower_main(
        r#"
plan "y" {
  for_each                 = toset(["a|b", "c`d", "e]f\"g"])
  name                     = "y"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "y-${md5(each.key)}"
}
"#,
        &Inputs::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e, "main.hcl:7:30: plan.y[\"a|b\"].provisioned_product_name: undefined function `md5`\n",
        "{e}"
    );
}
