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
fn unknown_backends_and_blocks_are_reported() {
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
        main.hcl:3:3: unknown state backend "postgres"; supported: "local", "pg"
        main.hcl:5:1: only one planform block is allowed (first at main.hcl:2:1)
        "#,
    );
    check(
        "planform {\n  state {}\n}",
        r#"main.hcl:2:3: state block needs one label: state "local" { path = … } or state "pg" { schema_name = … }"#,
    );
    check(
        r#"
planform {
  state "local" {}
  state "pg" {}
}
"#,
        "main.hcl:4:3: only one state block is allowed (first at main.hcl:3:3)",
    );
}

#[test]
fn the_pg_backend_takes_a_schema_name() {
    check(
        "planform {\n  state \"pg\" {}\n}",
        r#"workspace=default backend=Pg { schema_name: "planform" }"#,
    );
    check(
        r#"
planform {
  workspace = "prod"
  state "pg" { schema_name = "${lower("OPS")}_state" }
}
"#,
        r#"workspace=prod backend=Pg { schema_name: "ops_state" }"#,
    );
}

#[test]
fn pg_schema_names_are_identifiers() {
    check(
        "planform {\n  state \"pg\" { schema_name = \"Plan-Form\" }\n}",
        r#"main.hcl:2:30: planform.state.schema_name: "Plan-Form" must be 1 to 63 lower-case letters, digits or '_', not start with a digit or "pg_""#,
    );
    check(
        "planform {\n  state \"pg\" { schema_name = \"pg_state\" }\n}",
        r#"main.hcl:2:30: planform.state.schema_name: "pg_state" must be 1 to 63 lower-case letters, digits or '_', not start with a digit or "pg_""#,
    );
    check(
        "planform {\n  state \"pg\" { schema_name = [1] }\n}",
        "main.hcl:2:30: planform.state.schema_name: must be a string, got a list",
    );
}

#[test]
fn a_pg_connection_string_in_a_manifest_is_refused() {
    check(
        r#"
planform {
  state "pg" {
    conn_str    = "postgres://admin:secret@db/state"
    schema_nmae = "x"
  }
}
"#,
        r#"
        main.hcl:4:5: planform.state.conn_str: the connection string is never read from a manifest (it would put a secret in the repository); set the environment variable PG_CONN_STR instead
        main.hcl:5:5: unknown attribute "schema_nmae" in state "pg"; did you mean "schema_name"?
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
