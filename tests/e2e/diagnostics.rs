//! Manifest diagnostics as a new user meets them: syntax errors carry a range in JSON, a
//! variable that fails is reported once, a broken variable file says it did not parse.

use crate::Workspace;

/// A syntax error has a place, so its JSON diagnostic has a range and snippet (also at the end
/// of the file, where the parser gave up after the last token).
#[test]
fn validate_json_gives_syntax_errors_a_range() {
    let w = Workspace::new();
    w.write("bad.hcl", "plan \"z\" {\n");
    let doc: serde_json::Value =
        serde_json::from_str(&w.run(&["validate", "--format", "json"]).expect(1).stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert_eq!(
        d["detail"],
        "bad.hcl:1:11: syntax error: invalid block body; expected `}`, newline or identifier"
    );
    assert_eq!(d["range"]["filename"], "bad.hcl");
    assert_eq!(d["range"]["start"]["line"], 1);
    assert_eq!(d["range"]["start"]["column"], 11);
    assert_eq!(d["snippet"]["code"], "plan \"z\" {");

    w.write("bad.hcl", "plan \"z\" {\n  name = \"x\n}\n");
    let doc: serde_json::Value =
        serde_json::from_str(&w.run(&["validate", "--format", "json"]).expect(1).stdout).unwrap();
    let d = &doc["diagnostics"][0];
    assert!(
        d["summary"]
            .as_str()
            .unwrap()
            .starts_with("syntax error: unterminated string"),
        "{d}"
    );
    assert_eq!(d["range"]["start"]["line"], 2);
    assert_eq!(d["range"]["start"]["column"], 10);
}

/// A required variable without a value, a bad `--var`, a bad `PLANFORM_VAR_*` and a broken
/// `planform.pfvars` each make one error, none where the variable is used.
#[test]
fn validate_reports_a_failed_variable_once() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"variable "env" { type = string }
variable "n" { type = number }
plan "a" {
  name                     = "x-${var.env}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "x-${var.n}"
}
"#,
    );
    let r = w.run(&["validate", "--var", "n=abc"]).expect(1);
    assert!(
        r.stderr.contains("var.env: no value given") && r.stderr.contains("var.n: value does not"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("2 errors found"), "{}", r.stderr);
    assert!(!r.stderr.contains("no such key"), "{}", r.stderr);

    w.write("planform.pfvars", "env = \nn = 1\n");
    let r = w.run(&["validate"]).expect(1);
    assert!(
        r.stderr.contains("planform.pfvars:1:7: syntax error"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("1 error found"), "{}", r.stderr);
}

/// `fmt --check` of a file that does not parse says `file:line:col: syntax error: …` on one
/// line, as validate does, and leaves the file alone.
#[test]
fn fmt_check_locates_a_syntax_error() {
    let w = Workspace::new();
    w.write("bad.pfvars", "name = \n");
    let r = w.run(&["fmt", "--check", "bad.pfvars"]).expect(1);
    assert_eq!(
        r.stderr.trim_end(),
        "error: bad.pfvars:1:8: syntax error: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit"
    );
    assert_eq!(w.read("bad.pfvars"), "name = \n");
}
