//! Renders change sets: text like Terraform's, one JSON event per line, or markdown for a
//! pull-request comment. The JSON schema is documented in docs/json-output.md.

use std::fmt::Write;

use planform_engine::{Action, Change, ChangeSet};
use planform_model::{is_known, PlanInputs};
use serde_json::json;

pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    pub fn marker(&self, action: &Action) -> String {
        let m = action.marker();
        let code = match m {
            "+" => "32",
            "-" => "31",
            "~" => "33",
            "-/+" => "35",
            ">" => "36",
            _ => "1",
        };
        self.paint(code, m)
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// How a value shows: masked, unknown, or quoted.
pub fn show_value(v: &str, sensitive: bool) -> String {
    if sensitive {
        "(sensitive value)".into()
    } else if !is_known(v) {
        "(known after apply)".into()
    } else {
        format!("{v:?}")
    }
}

fn header(c: &Change) -> String {
    let what = match &c.action {
        Action::Create {
            update_existing: false,
            ..
        } => "will be created".to_string(),
        Action::Create {
            update_existing: true,
            ..
        } => "will be created, updating the existing product".to_string(),
        Action::UpdateInPlace { .. } => "will be updated in place".to_string(),
        Action::Replace { .. } => "must be replaced".to_string(),
        Action::UpdateProduct { .. } => "will update its product with a new plan".to_string(),
        Action::Retry => "will be retried".to_string(),
        Action::Execute => "will be executed".to_string(),
        Action::AwaitApproval => "is awaiting approval".to_string(),
        Action::Wait { .. } => "is busy; apply will wait for it".to_string(),
        Action::Terminate { .. } => "will be terminated".to_string(),
        Action::Delete { .. } => "will be deleted".to_string(),
        Action::Forget => "will be forgotten (already deleted outside planform)".to_string(),
        Action::Blocked { message } => format!("cannot proceed: {message}"),
    };
    match &c.reason {
        Some(r) => format!("# {} {what} ({r})", c.address),
        None => format!("# {} {what}", c.address),
    }
}

fn long(a: &str, b: &str) -> bool {
    a.len() + b.len() > 120 || a.contains('\n') || b.contains('\n')
}

fn body_lines(c: &Change, style: &Style) -> Vec<String> {
    let mut out = Vec::new();
    let full = |i: &PlanInputs, sign: &str, out: &mut Vec<String>| {
        let mut rows: Vec<(String, String)> = vec![("name".into(), show_value(&i.name, false))];
        if let Some(d) = &i.description {
            rows.push(("description".into(), show_value(d, false)));
        }
        rows.push(("product_id".into(), show_value(&i.product_id, false)));
        rows.push((
            "product_version_id".into(),
            show_value(&i.product_version_id, false),
        ));
        if let Some(p) = &i.portfolio_id {
            rows.push(("portfolio_id".into(), show_value(p, false)));
        }
        rows.push((
            "provisioned_product_name".into(),
            show_value(&i.provisioned_product_name, false),
        ));
        if let Some(s) = &i.stack_region_id {
            rows.push(("stack_region_id".into(), show_value(s, false)));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in rows {
            out.push(format!("    {sign} {k:width$} = {v}"));
        }
        for (attr, map) in [("parameters", &i.parameters), ("tags", &i.tags)] {
            if map.is_empty() {
                continue;
            }
            out.push(format!("    {sign} {attr} = {{"));
            let w = map.keys().map(|k| k.len()).max().unwrap_or(0);
            for (k, v) in map {
                let sensitive = attr == "parameters" && c.sensitive_parameters.contains(k);
                out.push(format!(
                    "        {sign} {k:w$} = {}",
                    show_value(v, sensitive)
                ));
            }
            out.push("      }".into());
        }
        if c.action.executes() && !matches!(c.action, Action::Terminate { .. }) {
            out.push(format!("    {sign} execute = true"));
        }
        if !i.notification_arns.is_empty() {
            out.push(format!(
                "    {sign} notification_arns = [{}]",
                i.notification_arns
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    match (&c.action, &c.before, &c.after) {
        (Action::Create { .. }, _, Some(after)) => full(after, &style.paint("32", "+"), &mut out),
        (Action::Terminate { .. } | Action::Delete { .. }, Some(before), _) => {
            full(before, &style.paint("31", "-"), &mut out)
        }
        _ => {
            for d in &c.diffs {
                let sign = if d.before.is_none() {
                    style.paint("32", "+")
                } else if d.after.is_none() {
                    style.paint("31", "-")
                } else {
                    style.paint("33", "~")
                };
                let suffix = if d.forces_replacement {
                    style.paint("31", " # forces replacement")
                } else {
                    String::new()
                };
                match (&d.before, &d.after) {
                    (Some(b), Some(a)) if !d.sensitive && is_known(a) && long(a, b) => {
                        out.push(format!("    {sign} {} ={suffix}", d.path));
                        let diff = similar::TextDiff::from_lines(b.as_str(), a.as_str());
                        for change in diff.iter_all_changes() {
                            let tag = match change.tag() {
                                similar::ChangeTag::Delete => style.paint("31", "-"),
                                similar::ChangeTag::Insert => style.paint("32", "+"),
                                similar::ChangeTag::Equal => " ".into(),
                            };
                            out.push(format!(
                                "        {tag} {}",
                                change.value().trim_end_matches('\n')
                            ));
                        }
                    }
                    (b, a) => {
                        let b = b
                            .as_deref()
                            .map(|v| show_value(v, d.sensitive))
                            .unwrap_or_else(|| "null".into());
                        let a = a
                            .as_deref()
                            .map(|v| show_value(v, d.sensitive))
                            .unwrap_or_else(|| "null".into());
                        out.push(format!("    {sign} {} = {b} -> {a}{suffix}", d.path));
                    }
                }
            }
        }
    }
    out
}

pub fn summary(cs: &ChangeSet) -> String {
    let (create, update, terminate, execute) = cs.counts();
    format!("Plan: {create} to create, {update} to update, {terminate} to terminate, {execute} to execute.")
}

pub fn text(cs: &ChangeSet, style: &Style) -> String {
    let mut out = String::new();
    if cs.is_empty() {
        out.push_str("No changes. The cloud matches the manifests.\n");
        return out;
    }
    for (from, to) in &cs.moved {
        let _ = writeln!(out, "  # {from} has moved to {to}\n");
    }
    if !cs.changes.is_empty() {
        out.push_str("planform will perform the following actions:\n\n");
    }
    for c in &cs.changes {
        let _ = writeln!(out, "  {}", style.bold(&header(c)));
        let key = match &c.address.key {
            planform_model::InstanceKey::None => String::new(),
            planform_model::InstanceKey::Str(s) => format!(" [{s:?}]"),
            planform_model::InstanceKey::Int(i) => format!(" [{i}]"),
        };
        let _ = writeln!(
            out,
            "  {} plan {:?}{key} {{",
            style.marker(&c.action),
            c.address.name
        );
        if let Some(id) = &c.live_plan_id {
            let _ = writeln!(
                out,
                "      id = {id:?}{}",
                c.live_status.map(|s| format!(" ({s})")).unwrap_or_default()
            );
        }
        for l in body_lines(c, style) {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("    }\n\n");
    }
    out.push_str(&style.bold(&summary(cs)));
    out.push('\n');
    out
}

fn inputs_json(
    i: &PlanInputs,
    sensitive: &std::collections::BTreeSet<String>,
) -> serde_json::Value {
    let shown = |v: &str, s: bool| -> serde_json::Value {
        if s {
            json!("(sensitive value)")
        } else if !is_known(v) {
            json!("(known after apply)")
        } else {
            json!(v)
        }
    };
    json!({
        "name": i.name,
        "description": i.description,
        "product_id": i.product_id,
        "product_version_id": i.product_version_id,
        "portfolio_id": i.portfolio_id,
        "provisioned_product_name": i.provisioned_product_name,
        "stack_region_id": i.stack_region_id,
        "parameters": i.parameters.iter().map(|(k, v)| (k.clone(), shown(v, sensitive.contains(k)))).collect::<serde_json::Map<_, _>>(),
        "tags": i.tags.iter().map(|(k, v)| (k.clone(), shown(v, false))).collect::<serde_json::Map<_, _>>(),
        "notification_arns": i.notification_arns,
    })
}

fn change_json(c: &Change) -> serde_json::Value {
    let mask = |path: &str, v: &Option<String>, sensitive: bool| -> serde_json::Value {
        match v {
            None => serde_json::Value::Null,
            Some(_) if sensitive => json!("(sensitive value)"),
            Some(v) if !is_known(v) => json!("(known after apply)"),
            Some(v) => {
                let _ = path;
                json!(v)
            }
        }
    };
    json!({
        "type": "planned_change",
        "address": c.address.to_string(),
        "provider": c.provider.to_string(),
        "action": action_name(&c.action),
        "executes": c.action.executes(),
        "reason": c.reason,
        "plan_id": c.live_plan_id,
        "status": c.live_status.map(|s| s.as_str()),
        "after": c.after.as_ref().map(|i| inputs_json(i, &c.sensitive_parameters)),
        "changes": c.diffs.iter().map(|d| json!({
            "path": d.path,
            "before": mask(&d.path, &d.before, d.sensitive),
            "after": mask(&d.path, &d.after, d.sensitive),
            "forces_replacement": d.forces_replacement,
        })).collect::<Vec<_>>(),
    })
}

pub fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Create {
            update_existing: false,
            ..
        } => "create",
        Action::Create {
            update_existing: true,
            ..
        } => "create_update_existing",
        Action::UpdateInPlace { .. } => "update",
        Action::Replace { .. } => "replace",
        Action::UpdateProduct { .. } => "update_product",
        Action::Retry => "retry",
        Action::Execute => "execute",
        Action::AwaitApproval => "await_approval",
        Action::Wait { .. } => "wait",
        Action::Terminate { .. } => "terminate",
        Action::Delete { .. } => "delete",
        Action::Forget => "forget",
        Action::Blocked { .. } => "blocked",
    }
}

pub fn json_lines(cs: &ChangeSet) -> String {
    let mut out = String::new();
    for (from, to) in &cs.moved {
        out.push_str(
            &json!({"type": "moved", "from": from.to_string(), "to": to.to_string()}).to_string(),
        );
        out.push('\n');
    }
    for c in &cs.changes {
        out.push_str(&change_json(c).to_string());
        out.push('\n');
    }
    let (create, update, terminate, execute) = cs.counts();
    out.push_str(&json!({"type": "change_summary", "create": create, "update": update, "terminate": terminate, "execute": execute}).to_string());
    out.push('\n');
    out
}

pub fn markdown(cs: &ChangeSet) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### planform plan\n");
    if cs.is_empty() {
        out.push_str("**No changes.** The cloud matches the manifests.\n");
        return out;
    }
    let _ = writeln!(out, "**{}**\n", summary(cs));
    out.push_str("| | address | action | reason |\n|---|---|---|---|\n");
    for c in &cs.changes {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            c.action.marker(),
            c.address,
            c.action.label(),
            c.reason.clone().unwrap_or_default().replace('|', "\\|")
        );
    }
    out.push_str("\n<details><summary>Details</summary>\n\n```diff\n");
    out.push_str(&text(cs, &Style { color: false }));
    out.push_str("```\n\n</details>\n");
    out
}

fn drift_diffs(item: &planform_engine::DriftItem) -> Vec<String> {
    item.diffs
        .iter()
        .map(|d| {
            let b = d
                .before
                .as_deref()
                .map(|v| show_value(v, d.sensitive))
                .unwrap_or_else(|| "null".into());
            let a = d
                .after
                .as_deref()
                .map(|v| show_value(v, d.sensitive))
                .unwrap_or_else(|| "null".into());
            format!("{}: {b} (applied) -> {a} (now)", d.path)
        })
        .collect()
}

pub fn drift_text(items: &[planform_engine::DriftItem]) -> String {
    if items.is_empty() {
        return "No drift. The cloud matches what planform applied.\n".into();
    }
    let mut out = format!(
        "Drift detected: {} item{}.\n\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    );
    for i in items {
        let _ = writeln!(out, "  {} [{}] {}", i.address, i.kind.as_str(), i.message);
        for d in drift_diffs(i) {
            let _ = writeln!(out, "      ~ {d}");
        }
    }
    out
}

pub fn drift_json(items: &[planform_engine::DriftItem]) -> String {
    let mut out = String::new();
    for i in items {
        let v = json!({
            "type": "drift",
            "address": i.address,
            "kind": i.kind.as_str(),
            "plan_id": i.plan_id,
            "message": i.message,
            "changes": i.diffs.iter().map(|d| json!({
                "path": d.path,
                "applied": if d.sensitive { json!("(sensitive value)") } else { json!(d.before) },
                "now": if d.sensitive { json!("(sensitive value)") } else { json!(d.after) },
            })).collect::<Vec<_>>(),
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    let mut counts = std::collections::BTreeMap::new();
    for i in items {
        *counts.entry(i.kind.as_str()).or_insert(0) += 1;
    }
    out.push_str(&json!({"type": "drift_summary", "items": items.len(), "in_sync": items.is_empty(), "by_kind": counts}).to_string());
    out.push('\n');
    out
}

pub fn drift_markdown(items: &[planform_engine::DriftItem], workspace: &str) -> String {
    let mut out = format!("### planform drift: `{workspace}`\n\n");
    if items.is_empty() {
        out.push_str("**In sync.** The cloud matches what planform applied.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "**{} drift item{} found.**\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    );
    out.push_str("| address | kind | what |\n|---|---|---|\n");
    for i in items {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            i.address,
            i.kind.as_str(),
            i.message.replace('|', "\\|")
        );
    }
    let detailed: Vec<_> = items.iter().filter(|i| !i.diffs.is_empty()).collect();
    if !detailed.is_empty() {
        out.push_str("\n<details><summary>Changed inputs</summary>\n\n```diff\n");
        for i in detailed {
            let _ = writeln!(out, "# {}", i.address);
            for d in drift_diffs(i) {
                let _ = writeln!(out, "~ {d}");
            }
        }
        out.push_str("```\n\n</details>\n");
    }
    out.push_str("\nRun `planform apply` to restore the manifests' intent.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_engine::{AttrDiff, DriftItem, DriftKind};

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
        use planform_model::{
            Address, InstanceKey, PlanStatus, ProviderKind, ProviderRef, Timeouts,
        };
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
        let d = |path: &str, b: &str, a: &str, sensitive: bool, forces: bool| {
            planform_engine::AttrDiff {
                path: path.into(),
                before: Some(b.into()),
                after: Some(a.into()),
                sensitive,
                forces_replacement: forces,
            }
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
                    A::Terminate,
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
        let text = text(&cs, &Style { color: false });
        assert!(!text.contains("hunter2"), "sensitive values never show");
        insta::assert_snapshot!("every_action_text", text);
        let json = json_lines(&cs);
        assert!(!json.contains("hunter2"));
        insta::assert_snapshot!("every_action_json", json);
        insta::assert_snapshot!("every_action_markdown", markdown(&cs));
        let colored = super::text(&cs, &Style { color: true });
        assert!(
            colored.contains("\x1b[32m+\x1b[0m"),
            "colour only when asked for"
        );
    }

    #[test]
    fn drift_renderings() {
        insta::assert_snapshot!("drift_text", drift_text(&items()));
        insta::assert_snapshot!("drift_json", drift_json(&items()));
        insta::assert_snapshot!("drift_markdown", drift_markdown(&items(), "prod"));
        assert_eq!(
            drift_text(&[]),
            "No drift. The cloud matches what planform applied.\n"
        );
    }
}
