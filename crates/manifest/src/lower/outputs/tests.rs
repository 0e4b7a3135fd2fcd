//! Unit tests of the outputs phase: values, unknown markers, sensitivity and descriptions.

use super::super::tests::{assert_text, lower_main, render, unmark, NET};
use crate::lower::Inputs;

/// Lowers `input` and renders every output, or the diagnostics.
fn check(input: &str, expect: &str) {
    let actual = render(lower_main(input, &Inputs::default()), |d| {
        d.outputs
            .values()
            .map(|o| {
                unmark(&format!(
                    "{} = {:?} sensitive={} description={:?}\n",
                    o.name, o.value, o.sensitive, o.description
                ))
            })
            .collect()
    });
    assert_text(&actual, expect);
}

#[test]
fn values_of_every_type_are_lowered() {
    check(
        r#"
output "n" { value = 1.5 }
output "list" {
  value       = [true, null, "s"]
  description = "a list"
}
output "map" { value = { a = { b = 1 } } }
"#,
        r#"
        list = List([Bool(true), Null, String("s")]) sensitive=false description=Some("a list")
        map = Map({"a": Map({"b": Number(1.0)})}) sensitive=false description=None
        n = Number(1.5) sensitive=false description=None
        "#,
    );
}

#[test]
fn plan_attributes_are_unknown_markers() {
    let input = format!(
        r#"
output "vpc" {{ value = plan.net.outputs["vpc_id"] }}
output "ids" {{ value = "${{plan.net.id}}/${{plan.net.stack_id}}" }}
{NET}"#
    );
    check(
        &input,
        r#"
        ids = String("${plan.net.id}/${plan.net.stack_id}") sensitive=false description=None
        vpc = String("${plan.net.outputs.vpc_id}") sensitive=false description=None
        "#,
    );
}

#[test]
fn outputs_of_sensitive_values_must_be_sensitive() {
    let input = r#"
variable "token" {
  default   = "t"
  sensitive = true
}
locals { header = "Bearer ${var.token}" }
output "ok" {
  value     = local.header
  sensitive = true
}
output "leak" { value = local.header }
"#;
    check(
        input,
        "main.hcl:11:25: output.leak: the value reads local.header, which is sensitive; set sensitive = true on this output",
    );
    check(
        &input.replace("output \"leak\" { value = local.header }", ""),
        r#"ok = String("Bearer t") sensitive=true description=None"#,
    );
}

#[test]
fn outputs_need_a_unique_name_and_a_value() {
    check(
        r#"
output "a" { value = 1 }
output "a" { value = 2 }
output "b" { description = "nothing" }
output {}
"#,
        r#"
        main.hcl:3:1: output.a: duplicate output
        main.hcl:4:1: output.b: missing required attribute "value"
        main.hcl:5:1: output block needs one label: output "NAME" { … }
        "#,
    );
}

#[test]
fn output_keys_must_be_literal_and_references_must_exist() {
    let input = format!(
        r#"
variable "k" {{ default = "vpc_id" }}
output "a" {{ value = plan.net.outputs[var.k] }}
output "b" {{ value = plan.nett.id }}
{NET}"#
    );
    check(
        &input,
        r#"
        main.hcl:3:1: plan.net.outputs must be indexed with a literal key, e.g. plan.net.outputs.vpc_id
        main.hcl:3:22: output.a: no such key: `vpc_id`
        main.hcl:4:22: output.b: reference to undeclared plan "nett"; did you mean "net"?
        "#,
    );
}
