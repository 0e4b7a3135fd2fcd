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
            applied: Some(redact("lin-1", &inputs, &sensitive)),
            sensitive_parameters: sensitive,
            launched: true,
            outputs: [("vpc_id".to_string(), "vpc-1".to_string())].into(),
            history: vec!["plan-0".into()],
            depends_on: [Address::new("network")].into(),
            pending_token: None,
            location: None,
        },
    );
    s
}

#[test]
fn round_trips_without_secrets_and_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let s = sample();
    save(&path, &s).unwrap();
    assert_eq!(load(&path).unwrap().unwrap(), s);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"));
    assert!(text.contains("sha256:"));
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
    assert_eq!(&plan_from_json(address, json).unwrap(), plan);
    let e = plan_from_json(address, serde_json::json!({ "provider": "nope" })).unwrap_err();
    assert!(e.starts_with("plan.app[\"web\"]: "), "{e}");
}
