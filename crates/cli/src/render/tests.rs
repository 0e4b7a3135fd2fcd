//! Snapshot tests of every rendering of change sets and drift reports.

use super::{json, markdown, text, Style};
use planform_engine::{AttrDiff, DriftItem, DriftKind};
use planform_engine::{Change, ChangeSet};
use planform_model::PlanInputs;

fn items() -> Vec<DriftItem> {
    vec![
        DriftItem { address: "plan.app[\"web\"]".into(), kind: DriftKind::Changed, plan_id: Some("plan-1".into()), message: "changed outside planform: parameters[\"size\"], parameters[\"password\"]".into(), diffs: vec![
            AttrDiff { path: "parameters[\"size\"]".into(), before: Some("small".into()), after: Some("large".into()), sensitive: false, forces_replacement: false },
            AttrDiff { path: "parameters[\"password\"]".into(), before: Some("sha256:aa".into()), after: Some("sha256:bb".into()), sensitive: true, forces_replacement: false },
        ] },
        DriftItem { address: "plan.db".into(), kind: DriftKind::Deleted, plan_id: Some("plan-2".into()), message: "plan-2 was deleted outside planform".into(), diffs: vec![] },
        DriftItem { address: "plan.ghost".into(), kind: DriftKind::Unmanaged, plan_id: Some("plan-3".into()), message: "plan-3 carries this workspace's ownership tag but is in neither the state nor the manifests".into(), diffs: vec![] },
    ]
}

fn inputs(cidr: &str) -> PlanInputs {
    PlanInputs {
        name: "net".into(),
        product_id: "prod-1".into(),
        product_version_id: "pv-1".into(),
        provisioned_product_name: "net".into(),
        stack_region_id: Some("cn-hangzhou".into()),
        parameters: [
            ("cidr_block".to_string(), cidr.to_string()),
            ("password".to_string(), "hunter2".to_string()),
        ]
        .into(),
        ..PlanInputs::default()
    }
}

/// One change of every action kind.
fn every_action() -> ChangeSet {
    use planform_engine::Action as A;
    use planform_model::{Address, InstanceKey, PlanStatus, ProviderKind, ProviderRef, Timeouts};
    let change = |name: &str,
                  action: A,
                  before: Option<PlanInputs>,
                  after: Option<PlanInputs>,
                  diffs: Vec<planform_engine::AttrDiff>,
                  status: Option<PlanStatus>| Change {
        address: Address::with_key("net", InstanceKey::Str(name.into())),
        provider: ProviderRef::default_for(ProviderKind::Sandbox),
        action,
        reason: Some(format!("{name} reason")),
        before,
        after,
        diffs,
        sensitive_parameters: ["password".to_string()].into(),
        live_plan_id: status.map(|_| format!("plan-{name}")),
        live_status: status,
        after_addresses: Default::default(),
        depends_on: Default::default(),
        idempotency_token: "t".into(),
        timeouts: Timeouts::default(),
    };
    let d =
        |path: &str, b: &str, a: &str, sensitive: bool, forces: bool| planform_engine::AttrDiff {
            path: path.into(),
            before: Some(b.into()),
            after: Some(a.into()),
            sensitive,
            forces_replacement: forces,
        };
    let long_before = (1..=6)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let long_after = long_before.replace("line 4", "line four");
    ChangeSet {
        moved: vec![(Address::new("old"), Address::new("new"))],
        changes: vec![
            change(
                "create",
                A::Create {
                    update_existing: false,
                    execute: true,
                },
                None,
                Some(inputs(&planform_model::unknown_marker(
                    "plan.vpc.outputs.cidr",
                ))),
                vec![],
                None,
            ),
            change(
                "adopt",
                A::Create {
                    update_existing: true,
                    execute: false,
                },
                None,
                Some(inputs("10.0.0.0/16")),
                vec![],
                None,
            ),
            change(
                "update",
                A::UpdateInPlace { execute: false },
                Some(inputs("10.0.0.0/16")),
                Some(inputs("10.1.0.0/16")),
                vec![
                    d(
                        "parameters[\"cidr_block\"]",
                        "10.0.0.0/16",
                        "10.1.0.0/16",
                        false,
                        false,
                    ),
                    d("parameters[\"password\"]", "a", "b", true, false),
                ],
                Some(PlanStatus::PreviewSuccess),
            ),
            change(
                "replace",
                A::Replace {
                    update_existing: false,
                    execute: true,
                },
                Some(inputs("x")),
                Some(inputs("x")),
                vec![d("name", "old", "net", false, true)],
                Some(PlanStatus::PreviewSuccess),
            ),
            change(
                "product",
                A::UpdateProduct { execute: true },
                Some(inputs("x")),
                Some(inputs("x")),
                vec![d("description", &long_before, &long_after, false, false)],
                Some(PlanStatus::ExecuteSuccess),
            ),
            change(
                "retry",
                A::Retry,
                Some(inputs("x")),
                Some(inputs("x")),
                vec![],
                Some(PlanStatus::ExecuteFailed),
            ),
            change(
                "execute",
                A::Execute,
                Some(inputs("x")),
                Some(inputs("x")),
                vec![],
                Some(PlanStatus::PreviewSuccess),
            ),
            change(
                "approval",
                A::AwaitApproval,
                Some(inputs("x")),
                Some(inputs("x")),
                vec![],
                Some(PlanStatus::ApplicationInProgress),
            ),
            change(
                "wait",
                A::Wait { execute: true },
                Some(inputs("x")),
                Some(inputs("x")),
                vec![],
                Some(PlanStatus::PreviewInProgress),
            ),
            change(
                "terminate",
                A::Terminate {
                    via: planform_engine::Termination::Plan {
                        name: "terminate-x".into(),
                    },
                },
                Some(inputs("x")),
                None,
                vec![],
                Some(PlanStatus::ExecuteSuccess),
            ),
            change(
                "delete",
                A::Delete { cancel_first: true },
                Some(inputs("x")),
                None,
                vec![],
                Some(PlanStatus::ApplicationInProgress),
            ),
            change("forget", A::Forget, None, None, vec![], None),
            change(
                "blocked",
                A::Blocked {
                    message: "the cloud rejected these inputs: bad".into(),
                },
                Some(inputs("x")),
                Some(inputs("x")),
                vec![],
                Some(PlanStatus::PreviewFailed),
            ),
        ],
    }
}

#[test]
fn every_action_kind_renders() {
    let cs = every_action();
    let text = text::changes(&cs, &Style { color: false });
    assert!(!text.contains("hunter2"), "sensitive values never show");
    insta::assert_snapshot!("every_action_text", text);
    let json = json::changes(&cs);
    assert!(!json.contains("hunter2"));
    insta::assert_snapshot!("every_action_json", json);
    insta::assert_snapshot!("every_action_markdown", markdown::changes(&cs));
    let colored = text::changes(&cs, &Style { color: true });
    assert!(
        colored.contains("\x1b[32m+\x1b[0m"),
        "colour only when asked for"
    );
}

#[test]
fn drift_renderings() {
    insta::assert_snapshot!("drift_text", text::drift(&items()));
    insta::assert_snapshot!("drift_json", json::drift(&items()));
    insta::assert_snapshot!("drift_markdown", markdown::drift(&items(), "prod"));
    assert_eq!(
        text::drift(&[]),
        "No drift. The cloud matches what planform applied.\n"
    );
}

/// What a sink of `format` writes for `report`.
fn rendered(format: crate::args::Format, report: impl FnOnce(&dyn super::Sink)) -> String {
    let out = super::Out::buffer();
    let sink = super::sink(format, Style { color: false }, false, out.clone());
    report(&*sink);
    out.contents()
}

#[test]
fn apply_events_in_json() {
    use crate::args::Format;
    use crate::ops::ApplySummary;
    use planform_engine::Event;
    use planform_model::Address;
    let (a, b) = (Address::new("a"), Address::new("b"));
    let json = rendered(Format::Json, |s| {
        s.apply_begin(2);
        s.apply_event(&Event::Started {
            address: a.clone(),
            action: "create".into(),
        });
        s.apply_event(&Event::Progress {
            address: a.clone(),
            message: "plan-1 previewed".into(),
        });
        s.apply_event(&Event::Finished {
            address: a.clone(),
            message: "plan-1 executed".into(),
        });
        s.apply_event(&Event::Failed {
            address: a.clone(),
            message: "Throttling: slow down".into(),
        });
        s.apply_event(&Event::AwaitingApproval {
            address: a.clone(),
            plan_id: "plan-1".into(),
        });
        s.apply_event(&Event::Deferred {
            address: b.clone(),
            because: a.clone(),
        });
        s.apply_summary(&ApplySummary {
            destroy: false,
            done: 1,
            failed: vec![(a.clone(), "bad".into())],
            awaiting: vec![],
            deferred: 1,
            interrupted: false,
            state_errors: vec![],
            outputs: Some(vec![]),
        });
    });
    assert_eq!(
        json,
        r#"{"type":"apply_start","address":"plan.a","action":"create"}
{"type":"apply_progress","address":"plan.a","message":"plan-1 previewed"}
{"type":"apply_complete","address":"plan.a","message":"plan-1 executed"}
{"type":"apply_errored","address":"plan.a","message":"Throttling: slow down"}
{"type":"awaiting_approval","address":"plan.a","plan_id":"plan-1"}
{"type":"deferred","address":"plan.b","because":"plan.a"}
{"type":"apply_summary","done":1,"failed":1,"awaiting_approval":0,"deferred":1}
"#
    );
}

#[test]
fn cloud_previews_in_json_and_text() {
    use crate::args::Format;
    use crate::ops::{PreviewResult, Previewed};
    use planform_model::{Address, ResourceChange};
    let entries = || {
        vec![
            Previewed::Ran {
                address: Address::new("a"),
                plan_id: "plan-1".into(),
                status: "PreviewSuccess".into(),
                result: PreviewResult::Ready(vec![ResourceChange {
                    action: "Add".into(),
                    logical_resource_id: "Vpc".into(),
                    physical_resource_id: None,
                    resource_type: "ALIYUN::ECS::VPC".into(),
                    replacement: Some("False".into()),
                }]),
            },
            Previewed::Ran {
                address: Address::new("b"),
                plan_id: "plan-2".into(),
                status: "PreviewFailed".into(),
                result: PreviewResult::Failed("InvalidParameter: bad".into()),
            },
            Previewed::Deferred {
                address: Address::new("c"),
            },
        ]
    };
    let show = |format| {
        rendered(format, |s| {
            s.cloud_preview_begin();
            for e in &entries() {
                s.cloud_preview(e);
            }
        })
    };
    assert_eq!(
        show(Format::Json),
        r#"{"type":"cloud_preview","address":"plan.a","plan_id":"plan-1","status":"PreviewSuccess","error":null,"resource_changes":[{"action":"Add","logical_resource_id":"Vpc","physical_resource_id":null,"resource_type":"ALIYUN::ECS::VPC","replacement":"False"}]}
{"type":"cloud_preview","address":"plan.b","plan_id":"plan-2","status":"PreviewFailed","error":"InvalidParameter: bad","resource_changes":[]}
{"type":"cloud_preview","address":"plan.c","deferred":"its inputs are known only after its dependencies are executed"}
"#
    );
    assert_eq!(
        show(Format::Text),
        "\nCloud preview (the plans are created, not executed; `planform apply` executes them):\n\n\
         \x20 # plan.a: plan-1 (PreviewSuccess)\n\
         \x20     Add    ALIYUN::ECS::VPC Vpc (replacement: False)\n\
         \x20 # plan.b: preview failed: InvalidParameter: bad\n\
         \x20 # plan.c: previewed by apply: its inputs are known only after its dependencies are executed\n"
    );
}

#[test]
fn state_and_outputs_in_json_and_text() {
    use crate::args::Format;
    use crate::ops::ShownOutput;
    use planform_model::{Address, ProviderKind, ProviderRef};
    let mut state = planform_state::State::new("dev", "l".into());
    let mut m =
        planform_state::ManagedPlan::new(ProviderRef::default_for(ProviderKind::Sandbox), "p-1");
    m.status = "ExecuteSuccess".into();
    m.outputs = [("vpc_id".to_string(), "vpc-1".to_string())].into();
    state.plans.insert(Address::new("net"), m);
    assert_eq!(
        rendered(Format::Json, |s| s.state(&state)),
        "{\"address\":\"plan.net\",\"provider\":\"sandbox\",\"plan_id\":\"p-1\",\"status\":\"ExecuteSuccess\",\"provisioned_product_id\":null,\"outputs\":{\"vpc_id\":\"vpc-1\"}}\n"
    );
    assert_eq!(
        rendered(Format::Text, |s| s.state(&state)),
        "plan.net  sandbox  p-1  ExecuteSuccess\n"
    );
    let outputs = vec![
        ShownOutput {
            name: "b".into(),
            value: serde_json::Value::from("x"),
            sensitive: false,
        },
        ShownOutput {
            name: "a".into(),
            value: serde_json::Value::from(vec![1.5]),
            sensitive: true,
        },
    ];
    assert_eq!(
        rendered(Format::Json, |s| s.outputs(&outputs)),
        "{\"a\":{\"value\":[1.5],\"sensitive\":true},\"b\":{\"value\":\"x\",\"sensitive\":false}}\n"
    );
    assert_eq!(
        rendered(Format::Text, |s| s.outputs(&outputs)),
        "b = \"x\"\na = (sensitive value)\n"
    );
    assert_eq!(
        rendered(Format::Text, |s| s.output_value(&outputs[0].value)),
        "x\n"
    );
    assert_eq!(
        rendered(Format::Markdown, |s| s.output_value(&outputs[0].value)),
        "\"x\"\n"
    );
}
