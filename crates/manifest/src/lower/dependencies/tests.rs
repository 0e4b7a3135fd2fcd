//! Unit tests of dependencies: explicit `depends_on`, dependencies implied by references, and
//! cycles.

use super::super::tests::{assert_text, lower_main, render};
use crate::lower::Inputs;

/// Lowers the plans `a`, `b` and `c` whose extra attributes are given and renders each plan's
/// dependencies, or the diagnostics.
fn check(a: &str, b: &str, c: &str, expect: &str) {
    let plan = |name: &str, extra: &str| {
        // Each instance names its own product.
        let product = if extra.contains("count") {
            format!("{name}-${{count.index}}")
        } else {
            name.to_string()
        };
        format!(
            r#"
plan "{name}" {{
  name                     = "{name}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "{product}"
  {extra}
}}"#
        )
    };
    let input = [plan("a", a), plan("b", b), plan("c", c)].concat();
    let actual = render(lower_main(&input, &Inputs::default()), |d| {
        d.plans
            .values()
            .map(|p| {
                let deps: Vec<String> = p.depends_on.iter().map(|a| a.to_string()).collect();
                format!("{} -> [{}]\n", p.address, deps.join(", "))
            })
            .collect()
    });
    assert_text(&actual, expect);
}

#[test]
fn depends_on_names_plans_or_single_instances() {
    check(
        "count = 2",
        "depends_on = [plan.a]",
        "depends_on = [plan.a[1], plan.b]",
        r#"
        plan.a[0] -> []
        plan.a[1] -> []
        plan.b -> [plan.a[0], plan.a[1]]
        plan.c -> [plan.a[1], plan.b]
        "#,
    );
}

#[test]
fn references_in_parameters_tags_and_description_imply_dependencies() {
    check(
        "",
        r#"parameters = { vpc = plan.a.outputs.vpc_id }"#,
        r#"description = "after ${plan.b.id}"
  tags = { a = plan.a.status }"#,
        r#"
        plan.a -> []
        plan.b -> [plan.a]
        plan.c -> [plan.a, plan.b]
        "#,
    );
}

#[test]
fn cycles_are_reported_from_their_smallest_address() {
    check(
        "depends_on = [plan.c]",
        "depends_on = [plan.a]",
        "parameters = { x = plan.b.id }",
        "main.hcl:2:1: dependency cycle: plan.a -> plan.c -> plan.b -> plan.a",
    );
    check(
        "depends_on = [plan.a]",
        "",
        "",
        "main.hcl:2:1: dependency cycle: plan.a -> plan.a",
    );
}

#[test]
fn bad_depends_on_entries_are_reported() {
    check(
        "depends_on = plan.b",
        "depends_on = [plan.x, \"c\"]",
        "depends_on = [plan.a[\"k\"]]",
        r#"
        main.hcl:7:16: plan.a.depends_on: must be a list of plan references, e.g. [plan.network]
        main.hcl:14:16: expected a plan address such as plan.network or plan.app["web"]
        main.hcl:14:16: plan.b.depends_on: reference to undeclared plan "x"
        main.hcl:21:16: plan.c.depends_on: plan.a["k"] does not exist (instances: plan.a)
        "#,
    );
}

#[test]
fn references_must_name_an_exposed_attribute() {
    check(
        "",
        "tags = { x = plan.a.arn }",
        "tags = { x = plan.a }",
        r#"
        main.hcl:14:16: plan.b.tags: plan.a has no attribute "arn"; it exposes id, provisioned_product_id, stack_id, status, outputs
        main.hcl:21:16: plan.c.tags: a reference to plan.a must name an attribute (id, provisioned_product_id, stack_id, status, outputs); to order plans use depends_on
        "#,
    );
}
