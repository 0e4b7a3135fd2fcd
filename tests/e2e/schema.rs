//! Every JSON line and document the end-to-end tests see validates against the JSON Schema
//! committed under `docs/schema/` (which a unit test keeps equal to the one the Rust types
//! generate): `Workspace::run` checks each `--format json` run's standard output.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use jsonschema::Validator;

fn validators() -> &'static BTreeMap<&'static str, Validator> {
    static V: OnceLock<BTreeMap<&'static str, Validator>> = OnceLock::new();
    V.get_or_init(|| {
        [
            "ui-line.v1.json",
            "show.v1.json",
            "validate.v1.json",
            "output.v1.json",
            "version.v1.json",
        ]
        .into_iter()
        .map(|name| {
            let path = crate::repo().join("docs/schema").join(name);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let schema: serde_json::Value = serde_json::from_str(&text).expect("a JSON schema");
            let v = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect()
    })
}

/// The schema of what `args` prints with `--format json`: a document, or lines of events;
/// `None` without `--format json` (or for `output NAME`, which prints a bare value).
fn schema_of(args: &[&str]) -> Option<&'static str> {
    let json = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.contains(&"--format=json");
    if !json {
        return None;
    }
    let command = args.iter().find(|a| !a.starts_with('-'))?;
    Some(match *command {
        "show" => "show.v1.json",
        "validate" => "validate.v1.json",
        "version" => "version.v1.json",
        "output" if args.iter().filter(|a| !a.starts_with('-')).count() > 1 => return None,
        "output" => "output.v1.json",
        _ => "ui-line.v1.json",
    })
}

/// Validates the standard output of `planform args…`.
#[track_caller]
pub fn check(args: &[&str], stdout: &str) {
    let Some(name) = schema_of(args) else { return };
    let validator = &validators()[name];
    let mut checked = 0;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!("planform {args:?}: not one JSON value per line ({e}): {line}")
        });
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "planform {args:?}: a line does not validate against docs/schema/{name}: {errors:?}\n{line}"
        );
        checked += 1;
    }
    if name != "ui-line.v1.json" {
        assert!(
            checked <= 1,
            "planform {args:?}: one document expected, got {checked}"
        );
    }
}

#[test]
fn the_schema_check_can_fail() {
    // A line without the envelope, and one with a wrong `type`, are refused.
    for bad in [
        r#"{"type":"change_summary","create":1,"update":0,"terminate":0,"execute":0}"#,
        r#"{"@level":"info","@message":"m","@module":"planform.ui","@timestamp":"t","type":"nonsense"}"#,
    ] {
        let outcome = std::panic::catch_unwind(|| check(&["plan", "--format", "json"], bad));
        assert!(outcome.is_err(), "{bad} validated");
    }
    check(
        &["plan", "--format", "json"],
        r#"{"@level":"info","@message":"m","@module":"planform.ui","@timestamp":"t","type":"change_summary","create":1,"update":0,"terminate":0,"execute":0}"#,
    );
}
