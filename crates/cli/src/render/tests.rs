//! Snapshot tests of every rendering: change sets, drift reports, apply events, every JSON event
//! type and every JSON document (all of which `schema.rs` validates against their schemas).

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
                A::UpdateProduct {
                    execute: true,
                    delete_executed_first: false,
                },
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
            change(
                "one_plan",
                A::UpdateProduct {
                    execute: true,
                    delete_executed_first: true,
                },
                Some(inputs("x")),
                Some(inputs("x")),
                vec![d("description", "old", "new", false, false)],
                Some(PlanStatus::ExecuteSuccess),
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
    let json = json::changes(&cs, T);
    assert!(!json.contains("hunter2"));
    insta::assert_snapshot!("every_action_json", json);
    insta::assert_snapshot!(
        "every_action_markdown",
        markdown::changes(&cs, &markdown::Budget::default())
    );
    let colored = text::changes(&cs, &Style { color: true });
    assert!(
        colored.contains("\x1b[32m+\x1b[0m"),
        "colour only when asked for"
    );
}

#[test]
fn drift_renderings() {
    insta::assert_snapshot!("drift_text", text::drift(&items()));
    insta::assert_snapshot!("drift_json", json::drift(&items(), T));
    insta::assert_snapshot!(
        "drift_markdown",
        markdown::drift(&items(), "prod", &markdown::Budget::default())
    );
    assert_eq!(
        text::drift(&[]),
        "No drift. The cloud matches what planform applied.\n"
    );
}

/// `n` changes cycling through every action kind, each at its own address.
fn many_changes(n: usize) -> ChangeSet {
    let kinds = every_action().changes.len();
    changes_of(n, |i| i % kinds)
}

/// `n` changes, the `i`th of the kind `every_action()` has at `kind(i)`, each at its own address.
fn changes_of(n: usize, kind: impl Fn(usize) -> usize) -> ChangeSet {
    use planform_model::{Address, InstanceKey};
    let kinds = every_action().changes;
    ChangeSet {
        moved: vec![],
        changes: (0..n)
            .map(|i| {
                let mut c = kinds[kind(i)].clone();
                c.address = Address::with_key("app", InstanceKey::Str(format!("service-{i:04}")));
                c
            })
            .collect(),
    }
}

/// The lines inside the ```` ```diff ```` blocks of a markdown report.
fn diff_lines(markdown: &str) -> Vec<&str> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in markdown.lines() {
        match line {
            "```diff" => inside = true,
            "```" => inside = false,
            l if inside => out.push(l),
            _ => {}
        }
    }
    out
}

#[test]
fn a_markdown_plan_of_5000_changes_fits_a_pull_request_comment() {
    // Mostly creates and updates; one change in 100 replaces or terminates a plan.
    let cs = changes_of(5_000, |i| match i % 200 {
        0 => 3,               // replace
        1 => 9,               // terminate
        n if n % 3 == 0 => 2, // update in place
        n if n % 3 == 1 => 4, // update product
        _ => 0,               // create
    });
    let budget = markdown::Budget::new(None, Some(std::path::Path::new("changes.plan")));
    let md = markdown::changes(&cs, &budget);
    // Room for the recipes' hidden marker line too.
    assert!(
        md.len() + "<!-- planform plan -->\n".len() <= markdown::COMMENT_LIMIT,
        "{} bytes",
        md.len()
    );
    assert!(md.chars().count() <= markdown::DEFAULT_LIMIT);
    assert!(
        md.starts_with(&format!(
            "### planform plan\n\n**{}**\n",
            text::summary(&cs)
        )),
        "the summary stays: {}",
        &md[..300]
    );
    // The most important first: every replacement and destroy listed comes before any update.
    let actions: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split(" | ").nth(2).unwrap())
        .collect();
    assert!(actions.len() > 100, "{} rows", actions.len());
    let first_other = actions
        .iter()
        .position(|a| !["replace", "terminate", "delete"].contains(a))
        .unwrap_or(actions.len());
    assert!(
        actions[first_other..]
            .iter()
            .all(|a| !["replace", "terminate", "delete"].contains(a)),
        "{actions:?}"
    );
    // The last line: how many are shown and left out, by kind, and where the whole plan is.
    let last = md.lines().last().unwrap();
    let left_out = 5_000 - actions.len();
    let left_out = format!(
        "Left out: {},{:03} changes (",
        left_out / 1000,
        left_out % 1000
    );
    assert!(last.contains(&left_out), "{last}");
    assert!(
        last.contains("`changes.plan`") && last.contains("`planform show changes.plan`"),
        "{last}"
    );
    // Markers at column 0 inside the diff block, so GitHub colours them.
    let lines = diff_lines(&md);
    for marker in ["+ ", "- ", "~ ", "-/+ "] {
        assert!(
            lines.iter().any(|l| l.starts_with(marker)),
            "no line starts with {marker:?}"
        );
    }
    for l in &lines {
        let t = l.trim_start();
        let indent = l.len() - t.len();
        assert!(
            indent == 0 || indent >= 6 || t.starts_with('#') || t.starts_with('}'),
            "a marker not at column 0: {l:?}"
        );
    }
}

#[test]
fn diff_markers_move_to_column_0_and_unchanged_lines_stay() {
    let cs = every_action();
    let md = markdown::changes(&cs, &markdown::Budget::default());
    let lines = diff_lines(&md);
    assert!(
        lines.contains(&"+   plan \"net\" [\"create\"] {"),
        "{lines:#?}"
    );
    assert!(lines.contains(&"+     name                     = \"net\""));
    assert!(lines.contains(&"+         cidr_block = (known after apply)"));
    assert!(
        lines.contains(&"~     parameters[\"cidr_block\"] = \"10.0.0.0/16\" -> \"10.1.0.0/16\"")
    );
    assert!(lines.contains(&"-/+   plan \"net\" [\"replace\"] {"));
    // A long value's diff: changed lines marked at column 0, unchanged ones (column 10) not,
    // even when their text starts like a marker.
    assert!(lines.contains(&"-         line 4"));
    assert!(lines.contains(&"+         line four"));
    assert!(lines.contains(&"          line 5"));
    let mut listy = every_action();
    listy
        .changes
        .retain(|c| c.address.to_string() == "plan.net[\"product\"]");
    let diff = &mut listy.changes[0].diffs[0];
    diff.before = Some("- one\n- two\n- three".into());
    diff.after = Some("- one\n- 2\n- three".into());
    let md = markdown::changes(&listy, &markdown::Budget::default());
    let lines = diff_lines(&md);
    assert!(lines.contains(&"          - one"), "{lines:#?}");
    assert!(lines.contains(&"-         - two"));
    assert!(lines.contains(&"+         - 2"));
}

#[test]
fn a_markdown_plan_cut_to_a_small_budget() {
    let cs = many_changes(26);
    let budget = markdown::Budget {
        limit: 4_000,
        full_plan: Some("changes.plan".into()),
    };
    let md = markdown::changes(&cs, &budget);
    assert!(md.len() <= 4_000, "{}", md.len());
    insta::assert_snapshot!("cut_markdown", md);
}

#[test]
fn a_markdown_drift_report_of_5000_items_fits_an_issue() {
    let items: Vec<DriftItem> = (0..5_000)
        .map(|i| {
            let mut item = items()[i % 3].clone();
            item.address = format!("plan.app[\"service-{i:04}\"]");
            item
        })
        .collect();
    let md = markdown::drift(&items, "prod", &markdown::Budget::default());
    assert!(md.len() <= markdown::DEFAULT_LIMIT, "{}", md.len());
    assert!(md.contains("**5,000 drift items found.**"));
    let last = md.lines().last().unwrap();
    assert!(
        last.contains("Left out: ") && last.contains("`planform drift` prints the full report"),
        "{last}"
    );
    // Deleted plans first.
    let first = md.lines().find(|l| l.starts_with("| `")).unwrap();
    assert!(first.contains("| deleted |"), "{first}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Whatever the plan and the budget, the markdown fits it and accounts for every change.
    #[test]
    fn a_markdown_plan_always_fits_its_budget(n in 0usize..300, limit in markdown::MIN_LIMIT..40_000) {
        let cs = many_changes(n);
        let budget = markdown::Budget { limit, full_plan: Some("changes.plan".into()) };
        let md = markdown::changes(&cs, &budget);
        proptest::prop_assert!(md.len() <= limit, "{} > {limit}", md.len());
        let listed = md.lines().filter(|l| l.starts_with("| `")).count();
        proptest::prop_assert!(listed <= n);
        if listed < n {
            let last = md.lines().last().unwrap();
            proptest::prop_assert!(last.contains("Left out: "), "{}", last);
        }
    }
}

/// The `@timestamp` of every line the tests render.
const T: &str = "2026-01-02T03:04:05Z";

fn fixed_clock() -> String {
    T.to_string()
}

/// What a sink of `format` writes for `report` (JSON with a fixed clock, `version` line first).
fn rendered(format: crate::args::Format, report: impl FnOnce(&dyn super::Sink)) -> String {
    let out = super::Out::buffer();
    let dir = manifests();
    let sink: std::sync::Arc<dyn super::Sink> = match format {
        crate::args::Format::Json => std::sync::Arc::new(json::Json::with_clock(
            text::Text::new(Style { color: false }, false, out.clone()),
            out.clone(),
            dir.path().to_path_buf(),
            fixed_clock,
        )),
        _ => super::sink(
            format,
            Style { color: false },
            false,
            out.clone(),
            dir.path(),
            markdown::Budget::default(),
        ),
    };
    report(&*sink);
    out.contents()
}

/// A manifest directory with one file the diagnostics point into.
fn manifests() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("main.hcl"),
        "plan \"app\" {\n  name = \"app\"\n  execute = maybe\n}\n",
    )
    .expect("written");
    dir
}

fn diagnostics() -> planform_manifest::Diagnostics {
    use planform_manifest::{Diagnostic, Diagnostics, Severity};
    use planform_model::SourceLocation;
    let at = |file: &str, line, col| SourceLocation {
        file: file.into(),
        line,
        col,
    };
    Diagnostics(vec![
        Diagnostic {
            severity: Severity::Error,
            location: at("main.hcl", 3, 13),
            subject: Some("plan.app.execute".into()),
            message: "expected a bool, got a reference to an unknown variable maybe".into(),
            anchor: at("main.hcl", 3, 13),
        },
        Diagnostic {
            severity: Severity::Warning,
            location: at("main.hcl", 2, 3),
            subject: None,
            message: "name is deprecated here".into(),
            anchor: at("main.hcl", 2, 3),
        },
        Diagnostic {
            severity: Severity::Error,
            location: at("<command line>", 1, 1),
            subject: None,
            message: "--var \"x\": expected NAME=VALUE".into(),
            anchor: at("<command line>", 1, 1),
        },
    ])
}

fn outputs() -> Vec<crate::ops::ShownOutput> {
    vec![
        crate::ops::ShownOutput {
            name: "b".into(),
            value: serde_json::Value::from("x"),
            sensitive: false,
            known: true,
        },
        crate::ops::ShownOutput {
            name: "a".into(),
            value: serde_json::Value::from(vec![1.5]),
            sensitive: true,
            known: true,
        },
    ]
}

fn state() -> planform_state::State {
    use planform_model::{Address, ProviderKind, ProviderRef};
    let mut state = planform_state::State::new("dev", "l".into());
    let mut m =
        planform_state::ManagedPlan::new(ProviderRef::default_for(ProviderKind::Sandbox), "p-1");
    m.status = "ExecuteSuccess".into();
    m.outputs = [("vpc_id".to_string(), "vpc-1".to_string())].into();
    m.applied = Some(inputs("10.0.0.0/16"));
    m.sensitive_parameters = ["password".to_string()].into();
    state.plans.insert(
        Address::with_key("net", planform_model::InstanceKey::Str("update".into())),
        m,
    );
    state
}

/// Every JSON event type, as lines (each a stream starting with its `version` line).
pub fn every_json_line() -> Vec<String> {
    use crate::args::Format;
    vec![
        rendered(Format::Json, |s| s.changes(&every_action())),
        apply_events(Format::Json),
        cloud_previews(Format::Json),
        rendered(Format::Json, |s| s.drift(&items(), "prod")),
        rendered(Format::Json, |s| s.diagnostics(&diagnostics())),
        rendered(Format::Json, |s| {
            s.warning("Resource targeting is in effect", "Only plan.a is planned.")
        }),
        rendered(Format::Json, |s| {
            s.refresh_drift(&[
                crate::ops::RefreshDrift::Deleted(planform_model::Address::new("a")),
                crate::ops::RefreshDrift::Status {
                    address: planform_model::Address::new("b"),
                    from: "PreviewSuccess".into(),
                    to: "ExecuteSuccess".into(),
                },
            ])
        }),
        rendered(Format::Json, |s| s.nothing_to_apply(Some(&outputs()))),
    ]
}

/// Every JSON document, with the name of its schema.
pub fn every_document() -> Vec<(&'static str, String)> {
    use super::document;
    let state = state();
    let cs = every_action();
    let dir = manifests();
    vec![
        (
            "show.v1.json",
            document::to_json(&document::show_state(&state, &outputs())),
        ),
        (
            "show.v1.json",
            document::to_json(&document::show_plan("dev", &cs, Some(&state), &outputs())),
        ),
        (
            "validate.v1.json",
            document::to_json(&document::validate(&diagnostics(), dir.path())),
        ),
        (
            "validate.v1.json",
            document::to_json(&document::validate(
                &planform_manifest::Diagnostics::default(),
                dir.path(),
            )),
        ),
        (
            "output.v1.json",
            document::to_json(&document::OutputDocument(json::outputs_json(&outputs()))),
        ),
        ("version.v1.json", document::to_json(&document::version())),
    ]
}

#[test]
fn every_json_event_type_renders() {
    let lines = every_json_line();
    let all = lines.concat();
    assert!(!all.contains("hunter2"), "sensitive values never show");
    for l in all.lines() {
        let v: serde_json::Value = serde_json::from_str(l).expect("one object per line");
        for key in ["@level", "@message", "@module", "@timestamp", "type"] {
            assert!(v.get(key).is_some(), "{key} missing: {l}");
        }
    }
    for text in &lines {
        assert!(
            text.starts_with(r#"{"@level":"info","@message":"planform 0.1.0","@module":"planform.ui","@timestamp":"2026-01-02T03:04:05Z","type":"version","planform":"0.1.0","ui":"1.0"}"#),
            "every stream starts with the version event: {text}"
        );
    }
    let types: std::collections::BTreeSet<String> = all
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>().join(" "),
        "apply_complete apply_errored apply_progress apply_start apply_summary awaiting_approval \
         change_summary cloud_preview deferred diagnostic drift drift_summary moved outputs \
         planned_change resource_drift version"
    );
    let names = [
        "json_changes",
        "json_apply",
        "json_cloud_preview",
        "json_drift",
        "json_diagnostics",
        "json_warning",
        "json_resource_drift",
        "json_nothing_to_apply",
    ];
    for (name, text) in names.iter().zip(&lines) {
        insta::assert_snapshot!(*name, text);
    }
}

#[test]
fn every_document_renders() {
    let names = [
        "document_show_state",
        "document_show_plan",
        "document_validate_invalid",
        "document_validate_valid",
        "document_output",
    ];
    let docs = every_document();
    for (name, (_, doc)) in names.iter().zip(&docs) {
        assert!(!doc.contains("hunter2"), "sensitive values never show");
        assert!(!doc.contains("[1.5]"), "sensitive outputs are masked");
        let pretty: serde_json::Value = serde_json::from_str(doc).expect("one document");
        insta::assert_snapshot!(*name, serde_json::to_string_pretty(&pretty).unwrap());
    }
    let mut version: serde_json::Value = serde_json::from_str(&docs[5].1).unwrap();
    assert!(version["commit"].is_string() && version["target"].is_string());
    // The commit and target depend on the build: the snapshot shows the rest.
    version["commit"] = "(commit)".into();
    version["target"] = "(target)".into();
    insta::assert_snapshot!(
        "document_version",
        serde_json::to_string_pretty(&version).unwrap()
    );
}

/// A diagnostic's range and snippet: the byte offsets count from the start of the file, the
/// end closes the token at the start, and the snippet's highlight is within its line.
#[test]
fn diagnostics_carry_ranges_bytes_and_snippets() {
    let text = "plan \"app\" {\n  name = \"é\"\n  execute = maybe\n}\n";
    let (start, end, snippet) = json::place(text, 3, 13).expect("in the text");
    assert_eq!((start.line, start.column, start.byte), (3, 13, 39));
    assert_eq!(&text[start.byte..end.byte], "maybe");
    assert_eq!((end.line, end.column), (3, 18));
    assert_eq!(snippet.code, "  execute = maybe");
    assert_eq!(snippet.context.as_deref(), Some("plan \"app\""));
    assert_eq!(
        &snippet.code[snippet.highlight_start_offset..snippet.highlight_end_offset],
        "maybe"
    );
    // Columns count characters; bytes count bytes.
    let (s, e, _) = json::place(text, 2, 10).unwrap();
    assert_eq!((s.byte, e.byte, e.column), (22, 26, 13));
    assert_eq!(&text[s.byte..e.byte], "\"é\"");
    assert!(json::place(text, 9, 1).is_none());
    assert!(json::place(text, 1, 99).is_none());
}

fn apply_events(format: crate::args::Format) -> String {
    use crate::ops::ApplySummary;
    use planform_engine::Event;
    use planform_model::Address;
    let (a, b) = (Address::new("a"), Address::new("b"));
    rendered(format, |s| {
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
            message: "Throttling: slow down (request id 5F00)".into(),
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
            outputs: Some(outputs()),
        });
    })
}

fn cloud_previews(format: crate::args::Format) -> String {
    use crate::ops::{PreviewResult, Previewed};
    use planform_model::{Address, ResourceChange};
    let entries = vec![
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
    ];
    rendered(format, |s| {
        s.cloud_preview_begin();
        for e in &entries {
            s.cloud_preview(e);
        }
    })
}

#[test]
fn cloud_previews_in_text() {
    assert_eq!(
        cloud_previews(crate::args::Format::Text),
        "\nCloud preview (the plans are created, not executed; `planform apply` executes them):\n\n\
         \x20 # plan.a: plan-1 (PreviewSuccess)\n\
         \x20     Add    ALIYUN::ECS::VPC Vpc (replacement: False)\n\
         \x20 # plan.b: preview failed: InvalidParameter: bad\n\
         \x20 # plan.c: previewed by apply: its inputs are known only after its dependencies are executed\n"
    );
}

#[test]
fn state_and_outputs_in_text() {
    use crate::args::Format;
    assert_eq!(
        rendered(Format::Text, |s| s.state(&state())),
        "plan.net[\"update\"]  sandbox  p-1  ExecuteSuccess\n"
    );
    let outputs = outputs();
    assert_eq!(
        rendered(Format::Text, |s| s.outputs(&outputs)),
        "b = \"x\"\na = (sensitive value)\n"
    );
    assert_eq!(
        rendered(Format::Text, |s| s.output_value(&outputs[0])),
        "x\n"
    );
    assert_eq!(
        rendered(Format::Text, |s| s.output_value(&outputs[1])),
        "(sensitive value)\n"
    );
    assert_eq!(
        rendered(Format::Json, |s| s.output_value(&outputs[1])),
        "\"(sensitive value)\"\n"
    );
}

#[test]
fn pictures_of_the_change_set() {
    let cs = every_action();
    insta::assert_snapshot!("graph_changes_mermaid", super::graph::changes_mermaid(&cs));
    insta::assert_snapshot!("graph_changes_dot", super::graph::changes_dot(&cs));
    let embedded = super::graph::markdown_mermaid(&cs);
    assert!(
        embedded.starts_with("```mermaid\nflowchart RL\n"),
        "{embedded}"
    );
    let mut big = cs.clone();
    let template = big.changes[0].clone();
    for i in 0..super::graph::MERMAID_MAX_CHANGES {
        let mut c = template.clone();
        c.address =
            planform_model::Address::with_key("many", planform_model::InstanceKey::Int(i as u64));
        big.changes.push(c);
    }
    assert!(
        super::graph::markdown_mermaid(&big).starts_with("_The change graph is left out:"),
        "too large a graph is left out of the markdown"
    );
}

/// Every change of [`every_action`] carrying `hostile` wherever a manifest or a cloud puts a
/// string: an instance key, a map key and value, a reason, a blocked message, a plan id, a
/// long value.
fn hostile_changes(hostile: &str) -> ChangeSet {
    use planform_engine::Action as A;
    let mut cs = every_action();
    for c in &mut cs.changes {
        if let planform_model::InstanceKey::Str(name) = &c.address.key {
            c.address.key = planform_model::InstanceKey::Str(format!("{hostile}{name}"));
        }
        c.reason = Some(hostile.to_string());
        if c.live_plan_id.is_some() {
            c.live_plan_id = Some(hostile.to_string());
        }
        if let A::Blocked { message } = &mut c.action {
            *message = hostile.to_string();
        }
        for inputs in [&mut c.before, &mut c.after].into_iter().flatten() {
            inputs
                .parameters
                .insert(hostile.to_string(), hostile.to_string());
            inputs.tags.insert(hostile.to_string(), hostile.to_string());
            inputs.description = Some(hostile.to_string());
        }
        c.diffs.push(AttrDiff {
            path: format!("tags[{hostile:?}]"),
            before: Some(format!("{hostile}\nline 2\nline 3")),
            after: Some(format!(
                "{hostile}\nline 2 changed\nline 3 {}",
                "x".repeat(120)
            )),
            sensitive: false,
            forces_replacement: false,
        });
    }
    cs
}

/// Lines a reviewer could mistake for a change's own: its header (`  # plan… will …`) and its
/// block's first line (`  + plan "net" …`), each at column 2.
fn change_heads(text: &str) -> (usize, usize) {
    let headers = text.lines().filter(|l| l.starts_with("  # ")).count();
    let blocks = text
        .lines()
        .filter(|l| {
            ["+", "-", "~", "-/+", ">", "!", "…", "?"]
                .iter()
                .any(|m| l.starts_with(&format!("  {m} plan ")))
        })
        .count();
    (headers, blocks)
}

/// Whether a rendering holds a character that could move the cursor, colour the terminal or
/// reorder text: each of its lines is left as it is by the escaping.
fn inert(rendered: &str) -> bool {
    match rendered.lines().find(|l| super::escape::text(l) != *l) {
        Some(l) => {
            eprintln!("not inert: {l:?}");
            false
        }
        None => true,
    }
}

#[test]
fn hostile_keys_and_messages_cannot_forge_lines() {
    let hostile =
        "ok\n  # plan.fake will be destroyed | x |\n\u{1b}[31mEVIL\u{1b}[0m\u{202e}`<br><b>";
    let cs = hostile_changes(hostile);
    let n = cs.changes.len();
    let text = text::changes(&cs, &Style { color: false });
    assert!(inert(&text), "{text}");
    assert_eq!(change_heads(&text), (n + cs.moved.len(), n));
    insta::assert_snapshot!("hostile_text", text);
    let md = markdown::changes(&cs, &markdown::Budget::default());
    assert!(inert(&md), "{md}");
    assert_eq!(md.lines().filter(|l| l.starts_with("| `")).count(), n);
    for row in md.lines().filter(|l| l.starts_with("| `")) {
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 5, "a pipe in a cell is escaped: {row}");
        assert!(
            row.ends_with("&lt;br&gt;&lt;b&gt; |"),
            "no tag opens in a reason: {row}"
        );
    }
    insta::assert_snapshot!("hostile_markdown", md);
    let mermaid = super::graph::changes_mermaid(&cs);
    assert!(inert(&mermaid), "{mermaid}");
    insta::assert_snapshot!("hostile_mermaid", mermaid);
    let dot = super::graph::changes_dot(&cs);
    assert!(inert(&dot), "{dot}");
    let mut hostile_items = items();
    for i in &mut hostile_items {
        i.message = hostile.to_string();
    }
    let drift = text::drift(&hostile_items);
    assert!(inert(&drift), "{drift}");
    assert_eq!(drift.lines().count(), text::drift(&items()).lines().count());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Whatever a manifest or a cloud puts in a change's strings, its text, markdown and graph
    /// renderings hold no control or format character, and no line of them is a forged header.
    #[test]
    fn no_rendered_line_carries_a_line_break_or_control_character_from_the_input(
        hostile in "(\\PC|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}\\u{2029}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}]|`|\\|| |#|\n  # plan.x will be destroyed\n)*"
    ) {
        let cs = hostile_changes(&hostile);
        let n = cs.changes.len();
        let text = text::changes(&cs, &Style { color: false });
        proptest::prop_assert!(inert(&text), "{}", text);
        proptest::prop_assert_eq!(change_heads(&text), (n + cs.moved.len(), n));
        // A budget that cuts nothing: a long input's details may fill the default one and
        // leave rows out, which is the budget's business (tested above), not the escaping's.
        let whole = markdown::Budget { limit: usize::MAX / 2, full_plan: None };
        let md = markdown::changes(&cs, &whole);
        proptest::prop_assert!(inert(&md), "{}", md);
        proptest::prop_assert_eq!(md.lines().filter(|l| l.starts_with("| `")).count(), n);
        proptest::prop_assert!(inert(&super::graph::changes_mermaid(&cs)));
        proptest::prop_assert!(inert(&super::graph::changes_dot(&cs)));
    }
}

/// `plan --replace` of an executed plan (and AWS's retry of a failed execution): the plan is
/// made anew and updates its product, which is kept: one update, nothing launched or terminated.
#[test]
fn a_replacement_that_keeps_its_product_counts_as_an_update() {
    use planform_engine::Action as A;
    let mut cs = every_action();
    cs.moved.clear();
    cs.changes.retain(|c| matches!(c.action, A::Replace { .. }));
    cs.changes[0].action = A::Replace {
        update_existing: true,
        execute: true,
    };
    cs.changes[0].reason = Some("replacement requested with --replace".into());
    let text = text::changes(&cs, &Style { color: false });
    assert!(
        text.contains("Plan: 0 to create, 1 to update, 0 to terminate, 1 to execute."),
        "{text}"
    );
    insta::assert_snapshot!("replace_keeping_the_product_text", text);
    let md = markdown::changes(&cs, &markdown::Budget::default());
    assert!(md.contains("| replace plan, update product |"), "{md}");
    let json = json::changes(&cs, T);
    let summary = json.lines().last().unwrap();
    assert!(
        summary.contains(r#""create":0"#)
            && summary.contains(r#""update":1"#)
            && summary.contains(r#""terminate":0"#),
        "{summary}"
    );
}

/// An attribute the change adds shows its value alone (`+ parameters["engine"] = "MySQL"`, as
/// Terraform), never `null -> "MySQL"`; one it removes goes to null.
#[test]
fn an_added_attribute_shows_its_value_alone() {
    use planform_engine::Action as A;
    let mut cs = every_action();
    cs.moved.clear();
    cs.changes
        .retain(|c| matches!(c.action, A::UpdateInPlace { .. }));
    cs.changes[0].diffs = vec![
        AttrDiff {
            path: "parameters[\"engine\"]".into(),
            before: None,
            after: Some("MySQL".into()),
            sensitive: false,
            forces_replacement: false,
        },
        AttrDiff {
            path: "tags[\"old\"]".into(),
            before: Some("x".into()),
            after: None,
            sensitive: false,
            forces_replacement: false,
        },
    ];
    let text = text::changes(&cs, &Style { color: false });
    assert!(
        text.contains("    + parameters[\"engine\"] = \"MySQL\"\n"),
        "{text}"
    );
    assert!(
        text.contains("    - tags[\"old\"] = \"x\" -> null\n"),
        "{text}"
    );
}

/// Trial finding 24: a drift report of unmanaged plans only does not advise `planform apply`,
/// which leaves them alone; a mixed report says both.
#[test]
fn a_markdown_drift_report_of_unmanaged_plans_only_does_not_advise_apply() {
    let unmanaged: Vec<DriftItem> = items()
        .into_iter()
        .filter(|i| i.kind == DriftKind::Unmanaged)
        .collect();
    let md = markdown::drift(&unmanaged, "prod", &markdown::Budget::default());
    assert!(!md.contains("to restore the manifests' intent"), "{md}");
    insta::assert_snapshot!("drift_markdown_unmanaged_only", md);
    let mixed = markdown::drift(&items(), "prod", &markdown::Budget::default());
    assert!(
        mixed.contains("to restore the manifests' intent"),
        "{mixed}"
    );
    assert!(mixed.contains("leaves unmanaged plans alone"), "{mixed}");
}

/// A failed run's markdown: its error in a code block that no text of the error can close.
#[test]
fn a_failure_in_markdown_cannot_close_its_code_block() {
    let md = markdown::failure("plan", "bad ``` and ```` fence\u{1b}[31m");
    assert!(
        md.starts_with("### planform plan: failed\n\n`````text\n"),
        "{md}"
    );
    assert!(md.ends_with("\n`````\n"), "{md}");
    assert!(inert(&md), "{md}");
    // However long the error, the report fits the smallest budget.
    let long = markdown::failure("drift", &"x".repeat(100_000));
    assert!(long.len() <= markdown::MIN_LIMIT, "{}", long.len());
    assert!(long.contains("(cut: the whole error is in the job's log)"));
}
