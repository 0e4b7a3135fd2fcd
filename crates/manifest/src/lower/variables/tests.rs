//! Unit tests of the variables phase: declaration, precedence, types, validation, sensitive and
//! nullable.

use std::collections::BTreeMap;

use super::super::tests::{assert_text, lower_main, render, vars};
use crate::diagnostic::SourceFile;
use crate::lower::{Inputs, VarArg};

/// Lowers `input` with `inputs` and renders the value every output shows (each variable under
/// test is exposed through an output) or the diagnostics.
fn check(input: &str, inputs: &Inputs, expect: &str) {
    let actual = render(lower_main(input, inputs), |d| {
        d.outputs
            .values()
            .map(|o| {
                let sensitive = if o.sensitive { " (sensitive)" } else { "" };
                format!("{} = {:?}{sensitive}\n", o.name, o.value)
            })
            .collect()
    });
    assert_text(&actual, expect);
}

const ENV: &str = r#"
variable "env" { type = string }
output "env" { value = var.env }
"#;

fn pfvars(name: &str, text: &str) -> SourceFile {
    SourceFile::new(name, text)
}

#[test]
fn later_sources_win_env_then_pfvars_then_auto_then_command_line_in_order() {
    let env = BTreeMap::from([("PLANFORM_VAR_env".to_string(), "from-env".to_string())]);
    let mut inputs = Inputs {
        env,
        ..Inputs::default()
    };
    check(ENV, &inputs, r#"env = String("from-env")"#);

    inputs.pfvars = vec![pfvars("planform.pfvars", "env = \"from-pfvars\"\n")];
    check(ENV, &inputs, r#"env = String("from-pfvars")"#);

    inputs
        .pfvars
        .push(pfvars("b.auto.pfvars", "env = \"from-auto\"\n"));
    check(ENV, &inputs, r#"env = String("from-auto")"#);

    inputs.args = vec![
        VarArg::Assign {
            name: "env".into(),
            value: "from-var".into(),
        },
        VarArg::File(pfvars("prod.pfvars", "env = \"from-var-file\"\n")),
    ];
    check(ENV, &inputs, r#"env = String("from-var-file")"#);

    inputs.args.reverse();
    check(ENV, &inputs, r#"env = String("from-var")"#);
}

#[test]
fn a_required_variable_without_a_value_says_how_to_give_one() {
    check(
        ENV,
        &Inputs::default(),
        r#"
        main.hcl:2:1: var.env: no value given for required variable "env": set a default, --var env=…, a .pfvars file or PLANFORM_VAR_env
        "#,
    );
}

/// A variable whose value fails is reported once: where it is used there is no follow-on
/// error (docs/manifest.md), whatever made it fail.
#[test]
fn a_failed_variable_makes_no_follow_on_error_where_it_is_used() {
    let input = r#"
variable "n" { type = number }
variable "d" {
  type    = number
  default = "many"
}
variable "strict" {
  type     = string
  nullable = false
}
locals { twice = var.n * 2 }
output "n" { value = "n-${var.n}" }
output "d" { value = var.d + 1 }
output "strict" { value = upper(var.strict) }
output "twice" { value = local.twice }
"#;
    let env = BTreeMap::from([("PLANFORM_VAR_n".to_string(), "zz".to_string())]);
    let pf = |text: &str| Inputs {
        pfvars: vec![pfvars("planform.pfvars", text)],
        env: env.clone(),
        ..Inputs::default()
    };
    check(
        input,
        &pf("strict = null\n"),
        r#"
        $PLANFORM_VAR_n:1:1: var.n: value does not match type number: a number is required, got "zz"
        main.hcl:5:13: var.d: default does not match type number: a number is required, got "many"
        main.hcl:7:1: var.strict: must not be null (nullable = false)
        "#,
    );
    check(
        input,
        &vars(&[("n", "abc"), ("strict", "s")]),
        r#"
        <command line>:1:1: var.n: value does not match type number: a number is required, got "abc"
        main.hcl:5:13: var.d: default does not match type number: a number is required, got "many"
        "#,
    );
}

/// A variable file that does not parse says so, once: not "no value given" for the variables
/// it may have set, nor follow-on errors where they are used.
#[test]
fn a_broken_variable_file_says_it_did_not_parse_and_nothing_else() {
    check(
        ENV,
        &Inputs {
            pfvars: vec![pfvars("planform.pfvars", "env = \n")],
            ..Inputs::default()
        },
        "planform.pfvars:1:7: syntax error: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit",
    );
    check(
        ENV,
        &Inputs {
            pfvars: vec![pfvars("planform.pfvars", "env = upper(1)\n")],
            ..Inputs::default()
        },
        "planform.pfvars:1:7: var.env: error calling function `upper`: expected argument at position 0 to be of type `string`, got `1`",
    );
}

#[test]
fn text_values_convert_to_the_declared_type() {
    let input = r#"
variable "n" { type = number }
variable "zones" { type = list(string) }
variable "on" { type = bool }
output "n" { value = var.n }
output "on" { value = var.on }
output "zones" { value = var.zones }
"#;
    check(
        input,
        &vars(&[("n", "3"), ("zones", r#"["a", "b"]"#), ("on", "true")]),
        r#"
        n = Number(3.0)
        on = Bool(true)
        zones = List([String("a"), String("b")])
        "#,
    );
    check(
        input,
        &vars(&[("n", "three"), ("zones", "[a"), ("on", "true")]),
        r#"
        <command line>:1:1: var.zones: value does not match type list(string): not an HCL value: column 3: expected `]`
        <command line>:1:1: var.n: value does not match type number: a number is required, got "three"
        "#,
    );
}

#[test]
fn defaults_must_match_the_type_and_values_from_files_are_checked_too() {
    let input = r#"
variable "n" {
  type    = number
  default = "many"
}
variable "m" { type = map(string) }
"#;
    let inputs = Inputs {
        pfvars: vec![pfvars("planform.pfvars", "m = [1]\nunknown = 2\n")],
        ..Inputs::default()
    };
    check(
        input,
        &inputs,
        r#"
        main.hcl:4:13: var.n: default does not match type number: a number is required, got "many"
        planform.pfvars:1:5: var.m: value does not match type map(string): a map(string) is required, got a list
        warning: planform.pfvars:2:1: value for undeclared variable "unknown"
        "#,
    );
}

#[test]
fn validations_report_their_error_message_when_false() {
    let input = r#"
variable "env" {
  type = string
  validation {
    condition     = contains(["dev", "prod"], var.env)
    error_message = "env must be dev or prod"
  }
  validation {
    condition = length(var.env) < 4
  }
}
output "env" { value = var.env }
"#;
    check(input, &vars(&[("env", "dev")]), r#"env = String("dev")"#);
    check(
        input,
        &vars(&[("env", "staging")]),
        r#"
        main.hcl:5:21: var.env: invalid value: env must be dev or prod
        main.hcl:9:17: var.env: invalid value: validation failed
        "#,
    );
}

#[test]
fn nullable_false_rejects_null_and_sensitive_outputs_must_say_so() {
    let input = r#"
variable "a" {
  default  = null
  nullable = false
}
variable "secret" {
  default   = "s3cr3t"
  sensitive = true
}
output "leak" { value = var.secret }
"#;
    check(
        input,
        &Inputs::default(),
        r#"
        main.hcl:2:1: var.a: must not be null (nullable = false)
        main.hcl:10:25: output.leak: the value reads var.secret, which is sensitive; set sensitive = true on this output
        "#,
    );
}

#[test]
fn unknown_command_line_variables_and_duplicates_are_errors() {
    let input = r#"
variable "env" { default = "dev" }
variable "env" { default = "prod" }
"#;
    check(
        input,
        &vars(&[("enb", "x")]),
        r#"
        <command line>:1:1: --var enb: no variable named "enb" is declared; did you mean "env"?
        main.hcl:3:1: duplicate variable "env" (first declared at main.hcl:2:1)
        "#,
    );
}
