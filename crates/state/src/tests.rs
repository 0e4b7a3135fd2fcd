//! State file and lock tests.

use std::time::Duration;

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
fn a_held_lock_names_its_holder_and_an_expired_one_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let first = lock(&path, "apply", Duration::from_secs(60), Duration::ZERO).unwrap();
    let err = lock(&path, "plan", Duration::from_secs(60), Duration::ZERO)
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("pid {}", std::process::id())) && msg.contains("(apply)"),
        "{msg}"
    );
    assert!(
        unlock(&path, false).is_err(),
        "a live lease is not removed without --force"
    );
    drop(first);
    assert!(holder(&path).is_none());
    // A lock left by a killed job: its lease is in the past.
    let stale = LockInfo {
        id: "x".into(),
        pid: 1,
        host: "h".into(),
        command: "apply".into(),
        since: 0,
        lease_until: 1,
    };
    std::fs::write(lock_path(&path), serde_json::to_string(&stale).unwrap()).unwrap();
    let taken = lock(&path, "apply", Duration::from_secs(60), Duration::ZERO).unwrap();
    assert_eq!(holder(&path).unwrap().id, taken.info.id);
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
