//! Unit tests of `moved` blocks.

use super::super::tests::{assert_text, lower_main, render, NET};
use crate::lower::Inputs;

/// Lowers `moved` blocks next to the plan `net` and renders each move, or the diagnostics.
fn check(moved: &str, expect: &str) {
    let input = format!("{NET}{moved}");
    let actual = render(lower_main(&input, &Inputs::default()), |d| {
        d.moved
            .iter()
            .map(|m| format!("{} -> {}\n", m.from, m.to))
            .collect()
    });
    assert_text(&actual, expect);
}

#[test]
fn a_move_names_two_addresses_of_any_instance_kind() {
    check(
        r#"
moved {
  from = plan.network
  to   = plan.net
}
moved {
  from = plan.old["a"]
  to   = plan.new[2]
}
"#,
        r#"
        plan.network -> plan.net
        plan.old["a"] -> plan.new[2]
        "#,
    );
}

#[test]
fn from_must_no_longer_exist_and_differ_from_to() {
    check(
        r#"
moved {
  from = plan.net
  to   = plan.network
}
moved {
  from = plan.x
  to   = plan.x
}
"#,
        r#"
        main.hcl:9:1: moved: plan.net still exists in the manifests; remove it or move it elsewhere
        main.hcl:13:1: moved: from and to are the same address plan.x
        "#,
    );
}

#[test]
fn both_addresses_are_required_and_must_be_plan_addresses() {
    check(
        r#"
moved { from = plan.a }
moved {
  from = "plan.a"
  to   = plan.b.id
  by   = "me"
}
"#,
        r#"
        main.hcl:9:1: moved: missing required attribute "to"
        main.hcl:11:10: expected a plan address such as plan.network or plan.app["web"]
        main.hcl:12:10: expected a plan address such as plan.network or plan.app["web"]
        main.hcl:13:3: unknown attribute "by" in moved
        "#,
    );
}

#[test]
fn moves_are_kept_in_source_order() {
    check(
        r#"
moved {
  from = plan.z
  to   = plan.y
}
moved {
  from = plan.b
  to   = plan.a
}
"#,
        r#"
        plan.z -> plan.y
        plan.b -> plan.a
        "#,
    );
}

/// A whole plan moved while its instances are still declared under the old name is refused as
/// a single plan is (the instances are `plan.net[0]`…, not `plan.net`).
#[test]
fn a_whole_plan_with_instances_must_no_longer_exist() {
    let counted = NET
        .replace(
            "  name                     = \"net\"",
            "  count                    = 2\n  name                     = \"net-${count.index}\"",
        )
        .replace(
            "provisioned_product_name = \"net\"",
            "provisioned_product_name = \"net-${count.index}\"",
        );
    let input = format!("{counted}\nmoved {{\n  from = plan.net\n  to   = plan.network\n}}\n");
    let actual = render(lower_main(&input, &Inputs::default()), |_| String::new());
    assert!(
        actual.contains("moved: plan.net still exists in the manifests"),
        "{actual}"
    );
}
