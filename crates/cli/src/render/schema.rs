//! The JSON Schemas of the machine-readable UI, derived from the Rust types of `json.rs` and
//! `document.rs`, and the test that the copies committed under `docs/schema/` are current.
//! Regenerate them with `PLANFORM_WRITE_SCHEMA=1 cargo test -p planform schema`.

use std::path::PathBuf;

use schemars::schema_for;

use super::document::{OutputDocument, ShowDocument, ValidateDocument, VersionDocument};
use super::json::Line;

/// Each schema with its file name under `docs/schema/`.
pub fn schemas() -> Vec<(&'static str, serde_json::Value)> {
    let value = |s: schemars::Schema| s.to_value();
    vec![
        ("ui-line.v1.json", value(schema_for!(Line<'static>))),
        ("show.v1.json", value(schema_for!(ShowDocument<'static>))),
        ("validate.v1.json", value(schema_for!(ValidateDocument))),
        (
            "output.v1.json",
            value(schema_for!(OutputDocument<'static>)),
        ),
        ("version.v1.json", value(schema_for!(VersionDocument))),
    ]
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema")
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("schemas serialize");
    s.push('\n');
    s
}

#[test]
fn committed_schemas_are_current() {
    let write = std::env::var_os("PLANFORM_WRITE_SCHEMA").is_some();
    let mut stale = Vec::new();
    for (name, schema) in schemas() {
        let path = dir().join(name);
        let generated = pretty(&schema);
        if write {
            std::fs::create_dir_all(dir()).expect("docs/schema can be created");
            std::fs::write(&path, &generated).expect("the schema can be written");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == generated => {}
            _ => stale.push(name),
        }
    }
    assert!(
        stale.is_empty(),
        "docs/schema/{{{}}} differ from the schemas the event types generate; if the change is \
         intended (additive only within a major version, docs/json-output.md), regenerate with \
         `PLANFORM_WRITE_SCHEMA=1 cargo test -p planform schema` and review the diff",
        stale.join(",")
    );
}

/// Every event and document the snapshot tests render validates against its schema.
#[test]
fn rendered_output_validates() {
    let schemas: std::collections::BTreeMap<_, _> = schemas().into_iter().collect();
    let validator = |name: &str| {
        jsonschema::validator_for(&schemas[name]).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let line = validator("ui-line.v1.json");
    for text in super::tests::every_json_line() {
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("one object per line");
            let errors: Vec<String> = line
                .iter_errors(&v)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{l}\ndoes not validate: {errors:?}");
        }
    }
    for (name, doc) in super::tests::every_document() {
        let v: serde_json::Value = serde_json::from_str(&doc).expect("one document");
        let errors: Vec<String> = validator(name)
            .iter_errors(&v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{doc}\ndoes not validate against {name}: {errors:?}"
        );
    }
}
