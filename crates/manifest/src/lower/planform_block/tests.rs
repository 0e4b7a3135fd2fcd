//! Unit tests of the `planform {}` block: workspace and state backend.

use super::super::tests::{assert_text, lower_main, render};
use crate::lower::Inputs;

/// Lowers `input` and renders the workspace and the backend, or the diagnostics.
fn check(input: &str, expect: &str) {
    let actual = render(lower_main(input, &Inputs::default()), |d| {
        format!("workspace={} backend={:?}\n", d.workspace, d.backend)
    });
    assert_text(&actual, expect);
}

#[test]
fn without_a_block_the_defaults_apply() {
    check(
        "",
        r#"workspace=default backend=Local { path: ".planform/state.json" }"#,
    );
}

#[test]
fn workspace_and_local_state_path_are_read() {
    check(
        r#"
planform {
  workspace = "prod.eu-1"
  state "local" { path = "state/${lower("PROD")}.json" }
}
"#,
        r#"workspace=prod.eu-1 backend=Local { path: "state/prod.json" }"#,
    );
}

#[test]
fn workspace_names_are_limited() {
    check(
        r#"planform { workspace = "has space" }"#,
        r#"main.hcl:1:24: planform.workspace: "has space" must be 1 to 64 letters, digits, '-', '_' or '.'"#,
    );
    check(
        &format!("planform {{ workspace = \"{}\" }}", "w".repeat(65)),
        &format!(
            "main.hcl:1:24: planform.workspace: \"{}\" must be 1 to 64 letters, digits, '-', '_' or '.'",
            "w".repeat(65)
        ),
    );
    check(
        "planform { workspace = [1] }",
        "main.hcl:1:24: planform.workspace: must be a string, got a list",
    );
}

#[test]
fn only_the_local_backend_exists() {
    check(
        r#"
planform {
  state "postgres" {}
}
planform {
  state {}
}
"#,
        r#"
        main.hcl:3:3: unknown state backend "postgres"; supported: "local" (a PostgreSQL backend is planned)
        main.hcl:5:1: only one planform block is allowed (first at main.hcl:2:1)
        "#,
    );
}

#[test]
fn unknown_attributes_and_blocks_are_reported() {
    check(
        r#"
planform {
  workspce = "x"
  backend {}
}
"#,
        r#"
        main.hcl:3:3: unknown attribute "workspce" in planform; did you mean "workspace"?
        main.hcl:4:3: unknown block "backend" in planform
        "#,
    );
}

#[test]
fn a_met_version_constraint_is_accepted() {
    for c in [
        ">= 0.1",
        "~> 0.1",
        ">= 0.1.0, < 2",
        "^0.1",
        "~> 0.1.0",
        "0.1.0",
    ] {
        check(
            &format!("planform {{ required_version = {c:?} }}"),
            r#"workspace=default backend=Local { path: ".planform/state.json" }"#,
        );
    }
}

/// An unmet constraint is checked before anything else: it is the only diagnostic, even when
/// the rest of the manifests is full of errors (written for another version).
#[test]
fn an_unmet_version_constraint_is_the_only_error() {
    check(
        r#"
planform { required_version = ">= 99.0" }
plan "x" { unknown_attribute = 1 }
"#,
        r#"main.hcl:2:31: planform.required_version: this planform is version 0.1.0, which does not meet the manifests' constraint ">= 99.0"; use a planform version that does, or change the constraint"#,
    );
    check(
        r#"planform { required_version = "~> 0.2" }"#,
        r#"main.hcl:1:31: planform.required_version: this planform is version 0.1.0, which does not meet the manifests' constraint "~> 0.2"; use a planform version that does, or change the constraint"#,
    );
}

#[test]
fn a_malformed_version_constraint_is_an_error() {
    check(
        r#"planform { required_version = "newest" }"#,
        r#"main.hcl:1:31: planform.required_version: "newest" is not a version constraint such as ">= 0.1, < 2" or "~> 0.1": unexpected character 'n' while parsing major version number"#,
    );
    check(
        r#"planform { required_version = "~> one" }"#,
        r#"main.hcl:1:31: planform.required_version: "~> one": expected ~> followed by a version such as 1.2 or 1.2.3"#,
    );
}
