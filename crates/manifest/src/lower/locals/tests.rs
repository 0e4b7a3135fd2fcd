//! Unit tests of the locals phase: collection, dependency order, cycles, references and the
//! locals that read plans.

use super::super::tests::{assert_text, lower_main, render, unmark, NET};
use crate::lower::Inputs;

/// Lowers `input` and renders every output (locals under test are exposed through outputs)
/// and the `tags` of every plan, or the diagnostics.
fn check(input: &str, expect: &str) {
    let actual = render(lower_main(input, &Inputs::default()), |d| {
        let outputs = d
            .outputs
            .values()
            .map(|o| format!("{} = {:?}\n", o.name, o.value));
        let plans = d
            .plans
            .values()
            .map(|p| format!("{} tags={:?}\n", p.address, p.inputs.tags));
        unmark(&outputs.chain(plans).collect::<String>())
    });
    assert_text(&actual, expect);
}

#[test]
fn locals_are_evaluated_in_dependency_order_whatever_their_source_order() {
    let input = r#"
locals {
  c = "${local.b}-c"
}
locals {
  b = "${local.a}-b"
  a = var.prefix
}
variable "prefix" { default = "a" }
output "c" { value = local.c }
"#;
    check(input, r#"c = String("a-b-c")"#);
}

#[test]
fn cycles_are_reported_once_with_their_path_and_not_evaluated() {
    let input = r#"
locals {
  a = local.b
  b = local.c
  c = local.a
  d = "fine"
}
output "d" { value = local.d }
"#;
    check(
        input,
        "main.hcl:3:3: locals refer to each other in a cycle: local.a -> local.b -> local.c -> local.a",
    );
}

#[test]
fn references_to_undeclared_names_get_hints() {
    let input = r#"
variable "region" { default = "x" }
locals {
  tags = { env = var.regoin }
  name = local.tagz
  bad  = path.module
}
"#;
    check(
        input,
        r#"
        main.hcl:4:18: local.tags: reference to undeclared variable "regoin"; did you mean "region"?
        main.hcl:5:10: local.name: reference to undeclared local "tagz"; did you mean "tags"?
        main.hcl:6:10: local.bad: "path" references are not part of the planform language
        "#,
    );
}

#[test]
fn duplicates_labels_and_nested_blocks_are_errors() {
    let input = r#"
locals {
  a = 1
}
locals "x" {
  a = 2
  nested {}
}
"#;
    check(
        input,
        r#"
        main.hcl:5:1: locals blocks take no label
        main.hcl:6:3: duplicate local "a" (first at main.hcl:3:3)
        main.hcl:7:3: locals hold only NAME = VALUE attributes, not blocks ("nested")
        "#,
    );
}

#[test]
fn locals_that_read_plans_hold_unknown_markers_and_so_do_locals_built_from_them() {
    let input = format!(
        r#"
locals {{
  vpc  = plan.net.outputs.vpc_id
  tags = {{ vpc = "vpc:${{local.vpc}}", team = local.team }}
  team = "core"
}}
output "tags" {{ value = local.tags }}
{NET}"#
    );
    check(
        &input,
        r#"
        tags = Map({"team": String("core"), "vpc": String("vpc:${plan.net.outputs.vpc_id}")})
        plan.net tags={}
        "#,
    );
}

#[test]
fn an_evaluation_error_names_the_local() {
    let input = r#"
locals {
  n = 1 + "x"
  f = uppr("a")
}
"#;
    check(
        input,
        r#"
        main.hcl:3:7: local.n: binary operator `+` is not applicable to `1` and `"x"`
        main.hcl:4:7: local.f: undefined function `uppr`; did you mean "upper"?
        "#,
    );
}
