//! Test support for the lowering phases (each phase's `tests.rs` has its own `check`), and tests
//! of what the phases do together.

use planform_model::DesiredState;

use super::{lower, Inputs, Loaded, VarArg};
use crate::diagnostic::{Diagnostics, SourceFile};

/// A plan with every required attribute, to append to manifests under test.
pub(super) const NET: &str = r#"
plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
}
"#;

/// Lowers one `main.hcl` holding `text`, with `inputs`.
pub(super) fn lower_main(text: &str, inputs: &Inputs) -> Result<Loaded, Diagnostics> {
    lower(&[SourceFile::new("main.hcl", text)], inputs)
}

/// `show` of the desired state followed by the warnings, or the diagnostics (one
/// `file:line:col: subject: rule` line each) when lowering failed.
pub(super) fn render(
    result: Result<Loaded, Diagnostics>,
    show: impl Fn(&DesiredState) -> String,
) -> String {
    match result {
        Ok(loaded) => format!("{}{}", show(&loaded.desired), loaded.warnings),
        Err(diags) => diags.to_string(),
    }
}

/// Writes unknown markers (raw, or escaped by `Debug`) as `${reference}`, so expectations stay
/// readable.
pub(super) fn unmark(s: &str) -> String {
    s.replace('\u{E000}', "${")
        .replace('\u{E001}', "}")
        .replace("\\u{e000}", "${")
        .replace("\\u{e001}", "}")
}

/// Compares rendered text with the expectation line by line, ignoring surrounding blank lines
/// and indentation.
#[track_caller]
pub(super) fn assert_text(actual: &str, expect: &str) {
    let expect: Vec<&str> = expect.trim().lines().map(str::trim).collect();
    let actual_lines: Vec<&str> = actual.trim().lines().map(str::trim).collect();
    assert_eq!(actual_lines, expect, "\nactual:\n{actual}");
}

/// Inputs holding only command-line variables.
pub(super) fn vars(assignments: &[(&str, &str)]) -> Inputs {
    Inputs {
        args: assignments
            .iter()
            .map(|(name, value)| VarArg::Assign {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
        ..Inputs::default()
    }
}

#[test]
fn every_problem_is_reported_at_once_in_source_order() {
    let text = r#"
workspace = "x"
resource "aws_instance" "a" {}
plan "app" {
  name = var.missing
}
"#;
    assert_text(
        &render(lower_main(text, &Inputs::default()), |_| String::new()),
        r#"
        main.hcl:2:1: unexpected top-level attribute "workspace": manifests hold only blocks (planform, provider, variable, locals, plan, output, moved)
        main.hcl:3:1: unknown block type "resource"; planform manages plans: write `plan "NAME" { … }`
        main.hcl:4:1: plan.app: missing required attribute "product_id"
        main.hcl:4:1: plan.app: missing required attribute "product_version_id"
        main.hcl:4:1: plan.app: missing required attribute "provisioned_product_name"
        main.hcl:5:10: plan.app.name: reference to undeclared variable "missing"
        "#,
    );
}

#[test]
fn a_manifest_split_over_files_is_one_manifest() {
    let files = [
        SourceFile::new("a.hcl", "variable \"env\" { default = \"dev\" }\n"),
        SourceFile::new("b.hcl", "output \"env\" { value = var.env }\n"),
    ];
    let result = lower(&files, &Inputs::default());
    assert_text(
        &render(result, |d| format!("{:?}\n", d.outputs["env"].value)),
        r#"String("dev")"#,
    );
}

#[test]
fn syntax_errors_are_located() {
    assert_text(
        &render(lower_main("plan \"a\" {\n  name = \n}\n", &Inputs::default()), |_| {
            String::new()
        }),
        "main.hcl:2:10: syntax error: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit",
    );
}

/// Issue 12 (8): an error inside an object points at the offending expression, and a wrong
/// reference is reported once, with no follow-on limit errors from its failed value.
#[test]
fn issue_12_errors_point_inside_objects_and_are_reported_once() {
    let text = r#"
plan "app" {
  count                    = 2
  name                     = "app-${var.nope}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app-${count.index}"
  parameters = {
    a = "ok"
    x = var.nope
  }
}
"#;
    assert_text(
        &render(lower_main(text, &Inputs::default()), |_| String::new()),
        r#"
        main.hcl:4:37: plan.app.name: reference to undeclared variable "nope"
        main.hcl:10:9: plan.app.parameters: reference to undeclared variable "nope"
        "#,
    );
}

/// Two addresses naming one provisioned product would fight over it (or launch two products of
/// one name): refused at the second claimant, naming every claimant; instances of one block
/// with a constant name are the common case.
#[test]
fn two_addresses_claiming_one_provisioned_product_are_refused() {
    let text = r#"
plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "same"
}

plan "b" {
  name                     = "b"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "same"
}

plan "app" {
  count                    = 2
  name                     = "app-${count.index}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app"
}
"#;
    assert_text(
        &render(lower_main(text, &Inputs::default()), |_| String::new()),
        r#"
        main.hcl:9:1: plan.b.provisioned_product_name: provisioned product "same" on provider sandbox is claimed by 2 addresses (plan.a, plan.b; the first at main.hcl:2:1): a provisioned product is managed by one address; give each instance its own name (for example with each.key or count.index)
        main.hcl:16:1: plan.app[1].provisioned_product_name: provisioned product "app" on provider sandbox is claimed by 2 addresses (plan.app[0], plan.app[1]; the first at main.hcl:16:1): a provisioned product is managed by one address; give each instance its own name (for example with each.key or count.index)
        "#,
    );
}

/// One name on two providers (two regions, two clouds) is two products.
#[test]
fn one_product_name_on_two_providers_is_two_products() {
    let text = r#"
provider "sandbox" {}

provider "sandbox" {
  alias = "other"
}

plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "same"
}

plan "b" {
  provider                 = sandbox.other
  name                     = "b"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "same"
}
"#;
    assert!(lower_main(text, &Inputs::default()).is_ok());
}

/// A declaration repeated in another file says that every `*.hcl` file counts (found by a
/// second trial: a backup copy of main.hcl gave duplicate errors with no hint why).
#[test]
fn a_copy_of_a_manifest_says_every_file_counts() {
    let text = format!("planform {{\n  workspace = \"w\"\n}}\n{NET}");
    let files = [
        SourceFile::new("main.hcl", &text),
        SourceFile::new("main.hcl.bak.hcl", &text),
    ];
    let errors = render(lower(&files, &Inputs::default()), |_| String::new());
    assert!(
        errors.contains("only one planform block is allowed (first at main.hcl:1:1); every *.hcl file of the directory is part of one manifest")
            && errors.contains("duplicate plan \"net\" (first declared at main.hcl:5:1); every *.hcl file"),
        "{errors}"
    );
}
