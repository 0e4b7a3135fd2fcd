//! State file and lock tests.

use planform_model::{Address, PlanInputs, ProviderKind, ProviderRef};

use super::*;

fn sample() -> State {
    let mut s = State::new("ws", "lin-1".into());
    s.serial = 3;
    let mut inputs = PlanInputs {
        name: "n".into(),
        product_id: "p".into(),
        ..PlanInputs::default()
    };
    inputs
        .parameters
        .insert("password".into(), "hunter2".into());
    let sensitive: std::collections::BTreeSet<String> = ["password".to_string()].into();
    s.plans.insert(
        "plan.app[\"web\"]".parse().unwrap(),
        ManagedPlan {
            provider: ProviderRef::default_for(ProviderKind::Sandbox),
            plan_id: "plan-1".into(),
            provisioned_product_id: Some("pp-1".into()),
            stack_id: None,
            status: "ExecuteSuccess".into(),
            applied: Some(inputs),
            asked: None,
            sensitive_parameters: sensitive,
            launched: true,
            outputs: [("vpc_id".to_string(), "vpc-1".to_string())].into(),
            history: vec!["plan-0".into()],
            depends_on: [Address::new("network")].into(),
            pending_token: None,
            location: None,
            account: Some("1234567890123456".into()),
        },
    );
    s
}

/// `sample()` as a plaintext store gives it back: the sensitive value left out, its name kept.
fn without_secrets(mut s: State) -> State {
    for m in s.plans.values_mut() {
        if let Some(a) = &m.applied {
            m.applied = Some(redact(&s.lineage, a, &m.sensitive_parameters));
        }
    }
    s
}

/// The SHA-256 hex digest of `v` alone and salted as older planforms did: neither may be stored.
fn digests(lineage: &str, v: &str) -> [String; 2] {
    use sha2::{Digest, Sha256};
    [
        hex::encode(Sha256::digest(v)),
        hex::encode(Sha256::digest(format!("{lineage}\0{v}"))),
    ]
}

/// Issue 16 (5): a plaintext state holds no sensitive value and nothing derived from one (the
/// lineage-salted hash of older planforms fell to 256 guesses for a CIDR): only the parameter's
/// name, which says it is sensitive and set.
#[test]
fn round_trips_without_secrets_and_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let s = sample();
    save(&path, &s).unwrap();
    assert_eq!(load(&path).unwrap().unwrap(), without_secrets(s.clone()));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"));
    assert!(!text.contains("sha256"));
    for d in digests("lin-1", "hunter2") {
        assert!(!text.contains(&d), "{text}");
    }
    assert!(
        text.contains("\"sensitive_parameters\": [\n        \"password\""),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn corrupt_and_newer_files_are_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    std::fs::write(&path, "{ not json").unwrap();
    assert!(matches!(load(&path), Err(StateError::Corrupt { .. })));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
    std::fs::write(&path, r#"{"version": 9, "serial": 1}"#).unwrap();
    assert!(matches!(
        load(&path),
        Err(StateError::TooNew { version: 9, .. })
    ));
    assert!(load(&dir.path().join("none.json")).unwrap().is_none());
}

#[test]
fn changes_since_names_each_address_that_differs() {
    let before = sample();
    let mut after = before.clone();
    let web: Address = "plan.app[\"web\"]".parse().unwrap();
    after.plans.get_mut(&web).unwrap().status = "ExecuteFailed".into();
    after.plans.insert(
        Address::new("new"),
        ManagedPlan::new(ProviderRef::default_for(ProviderKind::Sandbox), "p-9"),
    );
    let changes = after.changes_since(&before);
    assert_eq!(changes.len(), 2);
    let mut rebuilt = before.clone();
    rebuilt.apply_record(&Record {
        serial: 4,
        changes: changes.clone(),
    });
    after.serial = 4;
    assert_eq!(rebuilt, after);
    assert_eq!(
        before.changes_since(&after),
        vec![
            Change::Put {
                address: web.clone(),
                plan: Box::new(before.plans[&web].clone())
            },
            Change::Remove {
                address: Address::new("new")
            }
        ]
    );
    assert!(before.changes_since(&before).is_empty());
}

#[test]
fn a_plan_as_json_is_the_state_files_per_address_object() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let s = sample();
    save(&path, &s).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let (address, plan) = s.plans.iter().next().unwrap();
    let json = plan_to_json(plan);
    assert_eq!(json, file["plans"][address.to_string()]);
    assert_eq!(
        plan_from_json(address, json).unwrap(),
        without_secrets(s.clone()).plans[address]
    );
    let e = plan_from_json(address, serde_json::json!({ "provider": "nope" })).unwrap_err();
    assert!(e.starts_with("plan.app[\"web\"]: "), "{e}");
}

/// A state file as planforms before issue 16 wrote it (a lineage-salted hash in place of the
/// sensitive value) still loads; the hash is dropped and never written again.
#[test]
fn an_old_state_with_hashed_values_loads_without_them() {
    let old = r#"{
  "version": 1,
  "serial": 3,
  "lineage": "lin-1",
  "workspace": "ws",
  "plans": {
    "plan.db": {
      "provider": "sandbox",
      "plan_id": "plan-1",
      "status": "ExecuteSuccess",
      "applied": {
        "name": "db",
        "product_id": "p",
        "product_version_id": "v",
        "provisioned_product_name": "db",
        "parameters": {
          "password": "sha256:5b1f7c4a0ccf1b63e2c4ab3b7bd2b9d2d0d4e4d69e0b6e0d6d41b0c8e4e4e4e4",
          "size": "small"
        }
      },
      "sensitive_parameters": ["password"],
      "launched": true
    }
  }
}
"#;
    let s = parse(old, "old.json").unwrap();
    let m = &s.plans[&Address::new("db")];
    let applied = m.applied.as_ref().unwrap();
    assert_eq!(
        applied.parameters,
        [("size".to_string(), "small".to_string())].into()
    );
    assert!(m.sensitive_parameters.contains("password"));
    assert!(!to_json(&s).contains("sha256"));
}

/// With encryption on, the snapshot is one envelope that keeps the sensitive values (the
/// comparisons need them) and shows none of them; without the key it does not load, and the
/// error names the file.
#[test]
fn an_encrypted_state_keeps_sensitive_values_and_shows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let s = sample();
    let key = Encryption::with_key([9; 32]);
    save_with(&path, &s, &key).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for needle in ["hunter2", "password", "plan-1", "lin-1"] {
        assert!(!text.contains(needle), "{needle} in {text}");
    }
    assert_eq!(load_with(&path, &key).unwrap().unwrap(), (s.clone(), true));
    let e = load(&path).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{} is encrypted, but no encryption key is set: set PLANFORM_ENCRYPTION_KEY or PLANFORM_ENCRYPTION_PASSPHRASE (the key it was written with) to read it",
            path.display()
        )
    );
    let other = Encryption::with_key([8; 32]);
    assert!(matches!(
        load_with(&path, &other),
        Err(StateError::Encryption(EncryptionError::WrongKey { .. }))
    ));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "left untouched"
    );
    // A plaintext state where encryption is on is refused, not silently read.
    save(&path, &s).unwrap();
    assert!(matches!(
        load_with(&path, &key),
        Err(StateError::Encryption(EncryptionError::Plaintext { .. }))
    ));
}

/// Rows of a one-plan-per-row store: sealed for their own address, sensitive values kept inside;
/// in plaintext, left out.
#[test]
fn a_plan_row_is_sealed_for_its_address() {
    let s = sample();
    let (address, plan) = s.plans.iter().next().unwrap();
    let key = Encryption::with_key([9; 32]);
    let row = plan_to_stored("ws/a", plan, &key).unwrap();
    assert!(!row.to_string().contains("hunter2"));
    assert_eq!(
        &plan_from_stored("ws/a", address, row.clone(), &key, "row a").unwrap(),
        plan
    );
    assert!(plan_from_stored("ws/b", address, row, &key, "row b").is_err());
    let off = Encryption::off();
    let plain = plan_to_stored("ws/a", plan, &off).unwrap();
    assert!(!plain.to_string().contains("hunter2"));
    assert_eq!(
        plan_from_stored("ws/a", address, plain, &off, "row a").unwrap(),
        without_secrets(s.clone()).plans[address]
    );
}
