//! Text like Terraform's: change sets, apply progress and summary, drift, state and outputs.

use std::fmt::Write;
use std::sync::Mutex;

use planform_engine::{Action, Change, ChangeSet, DriftItem, Event};
use planform_model::{is_known, PlanInputs};
use planform_state::State;

use super::escape;
use super::progress::Live;
use super::{show_value, state_errors, Out, Sink, Style};
use crate::ops::{ApplySummary, PreviewResult, Previewed, RefreshDrift, ShownOutput};

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
        Action::Replace {
            update_existing: true,
            ..
        } => "will be replaced by a new plan that updates its product".to_string(),
        Action::Replace { .. } => "must be replaced".to_string(),
        Action::UpdateProduct {
            delete_executed_first: true,
            ..
        } => format!(
            "will update its product with a new plan, deleting executed plan {} first (one plan per provisioned product)",
            escape::text(c.live_plan_id.as_deref().unwrap_or("(unknown)"))
        ),
        Action::UpdateProduct { .. } => "will update its product with a new plan".to_string(),
        Action::Retry => "will be retried".to_string(),
        Action::Execute => "will be executed".to_string(),
        Action::AwaitApproval => "is awaiting approval".to_string(),
        Action::Wait { .. } => "is busy; apply will wait for it".to_string(),
        Action::Terminate { .. } => "will be terminated".to_string(),
        Action::Delete { .. } => "will be deleted".to_string(),
        Action::Forget => "will be forgotten (already deleted outside planform)".to_string(),
        Action::Blocked { message } => format!("cannot proceed: {}", escape::text(message)),
    };
    match &c.reason {
        Some(r) => format!("# {} {what} ({})", c.address, escape::text(r)),
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
            let keys: Vec<String> = map.keys().map(|k| escape::key(k)).collect();
            let w = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0);
            for ((k, v), shown) in map.iter().zip(&keys) {
                let sensitive = attr == "parameters" && c.sensitive_parameters.contains(k);
                out.push(format!(
                    "        {sign} {shown:w$} = {}",
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
                    .map(|a| escape::quoted(a))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    match (&c.action, &c.before, &c.after) {
        (Action::Create { .. }, _, Some(after)) => full(after, &style.green("+"), &mut out),
        (Action::Terminate { .. } | Action::Delete { .. }, Some(before), _) => {
            full(before, &style.red("-"), &mut out)
        }
        _ => {
            for d in &c.diffs {
                let sign = if d.before.is_none() {
                    style.green("+")
                } else if d.after.is_none() {
                    style.red("-")
                } else {
                    style.yellow("~")
                };
                let suffix = if d.forces_replacement {
                    style.red(" # forces replacement")
                } else {
                    String::new()
                };
                match (&d.before, &d.after) {
                    (Some(b), Some(a)) if !d.sensitive && is_known(a) && long(a, b) => {
                        out.push(format!("    {sign} {} ={suffix}", d.path));
                        let diff = similar::TextDiff::from_lines(b.as_str(), a.as_str());
                        for change in diff.iter_all_changes() {
                            let tag = match change.tag() {
                                similar::ChangeTag::Delete => style.red("-"),
                                similar::ChangeTag::Insert => style.green("+"),
                                similar::ChangeTag::Equal => " ".into(),
                            };
                            out.push(format!(
                                "        {tag} {}",
                                escape::text(change.value().trim_end_matches('\n'))
                            ));
                        }
                    }
                    // An added attribute shows its value alone, as Terraform's `+` lines do;
                    // a removed one goes to null.
                    (None, Some(a)) => out.push(format!(
                        "    {sign} {} = {}{suffix}",
                        d.path,
                        show_value(a, d.sensitive)
                    )),
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

pub fn changes(cs: &ChangeSet, style: &Style) -> String {
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
        out.push_str(&change(c, style));
        out.push('\n');
    }
    out.push_str(&style.bold(&summary(cs)));
    out.push('\n');
    out
}

/// One change: its `# address will …` header and its block, each line ending in a newline.
/// Markers stand at fixed columns: 2 (the plan), 4 (an attribute), 8 (a map entry or a line of
/// a long value's diff, whose unchanged lines start at column 10).
pub fn change(c: &Change, style: &Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  {}", style.bold(&header(c)));
    let key = match &c.address.key {
        planform_model::InstanceKey::None => String::new(),
        planform_model::InstanceKey::Str(s) => format!(" [{}]", escape::quoted(s)),
        planform_model::InstanceKey::Int(i) => format!(" [{i}]"),
    };
    let _ = writeln!(
        out,
        "  {} plan {}{key} {{",
        style.marker(&c.action),
        escape::quoted(&c.address.name)
    );
    if let Some(id) = &c.live_plan_id {
        let _ = writeln!(
            out,
            "      id = {}{}",
            escape::quoted(id),
            c.live_status.map(|s| format!(" ({s})")).unwrap_or_default()
        );
    }
    for l in body_lines(c, style) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str("    }\n");
    out
}

pub(super) fn drift_diffs(item: &DriftItem) -> Vec<String> {
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

pub fn drift(items: &[DriftItem]) -> String {
    if items.is_empty() {
        return "No drift. The cloud matches what planform applied.\n".into();
    }
    let mut out = format!(
        "Drift detected: {} item{}.\n\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    );
    for i in items {
        let _ = writeln!(
            out,
            "  {} [{}] {}",
            i.address,
            i.kind.as_str(),
            escape::text(&i.message)
        );
        for d in drift_diffs(i) {
            let _ = writeln!(out, "      ~ {d}");
        }
    }
    out
}

/// The outputs block after an apply.
fn outputs_block(outputs: &[ShownOutput], style: &Style) -> String {
    if outputs.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{}\n", style.bold("Outputs:"));
    for o in outputs {
        let _ = writeln!(out, "{} = {}", o.name, output_text(o));
    }
    out
}

fn output_text(o: &ShownOutput) -> String {
    if o.sensitive {
        "(sensitive value)".to_string()
    } else {
        o.value.to_string()
    }
}

/// The text sink; apply events go to the live display chosen when apply begins.
pub struct Text {
    style: Style,
    terminal: bool,
    out: Out,
    live: Mutex<Option<Live>>,
}

impl Text {
    pub fn new(style: Style, terminal: bool, out: Out) -> Text {
        Text {
            style,
            terminal,
            out,
            live: Mutex::new(None),
        }
    }
}

impl Sink for Text {
    fn changes(&self, cs: &ChangeSet) {
        self.out.put(&changes(cs, &self.style));
    }

    fn cloud_preview_begin(&self) {
        self.out.line(
            "\nCloud preview (the plans are created, not executed; `planform apply` executes them):\n",
        );
    }

    fn cloud_preview(&self, entry: &Previewed) {
        match entry {
            Previewed::Ran {
                address,
                plan_id,
                status,
                result,
            } => match result {
                PreviewResult::Ready(changes) => {
                    self.out.line(&format!(
                        "  # {address}: {} ({})",
                        escape::text(plan_id),
                        escape::text(&status.to_string())
                    ));
                    for r in changes {
                        let replacement = r
                            .replacement
                            .as_deref()
                            .map(|x| format!(" (replacement: {})", escape::text(x)))
                            .unwrap_or_default();
                        let physical = r
                            .physical_resource_id
                            .as_deref()
                            .map(|x| format!(" {}", escape::text(x)))
                            .unwrap_or_default();
                        self.out.line(&format!(
                            "      {:<6} {} {}{physical}{replacement}",
                            escape::text(&r.action),
                            escape::text(&r.resource_type),
                            escape::text(&r.logical_resource_id)
                        ));
                    }
                }
                PreviewResult::Failed(msg) => {
                    self.out.line(&format!(
                        "  # {address}: preview failed: {}",
                        escape::text(msg)
                    ))
                }
                PreviewResult::Other(other) => self.out.line(&format!(
                    "  # {address}: {}",
                    escape::text(&other.to_string())
                )),
            },
            Previewed::Deferred { address } => self.out.line(&format!(
                "  # {address}: previewed by apply: its inputs are known only after its dependencies are executed"
            )),
        }
    }

    fn apply_begin(&self, total: usize) {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Live::new(self.terminal, total, self.out.clone()));
    }

    fn apply_event(&self, event: &Event) {
        if let Some(live) = &*self.live.lock().unwrap_or_else(|e| e.into_inner()) {
            live.event(event);
        }
    }

    fn apply_summary(&self, s: &ApplySummary) {
        state_errors(s);
        let style = &self.style;
        self.out.line("");
        for (a, m) in &s.failed {
            self.out.line(&format!(
                "{} {a}: {}",
                style.bold("Error:"),
                escape::text(m)
            ));
        }
        for (a, id) in &s.awaiting {
            self.out.line(&format!(
                "Awaiting approval: {a} ({}); approve it, then run `planform apply` again.",
                escape::text(id)
            ));
        }
        let word = if s.destroy { "Destroy" } else { "Apply" };
        let status = if !s.state_errors.is_empty() {
            "finished, but the state was not saved (see the errors above)."
        } else if s.failed.is_empty() && s.awaiting.is_empty() && !s.interrupted {
            "complete!"
        } else {
            "stopped."
        };
        self.out.line(&format!(
            "{} {} done, {} failed, {} awaiting approval, {} deferred.",
            style.bold(&format!("{word} {status}")),
            s.done,
            s.failed.len(),
            s.awaiting.len(),
            s.deferred
        ));
        if let Some(outputs) = &s.outputs {
            self.out.put(&outputs_block(outputs, style));
        }
    }

    fn drift(&self, items: &[DriftItem], _workspace: &str) {
        self.out.put(&drift(items));
    }

    fn state(&self, state: &State) {
        state_text(&self.out, state);
    }

    fn outputs(&self, outputs: &[ShownOutput]) {
        for o in outputs {
            self.out.line(&format!("{} = {}", o.name, output_text(o)));
        }
    }

    fn output_value(&self, output: &ShownOutput) {
        match &output.value {
            _ if output.sensitive => self.out.line(super::json::SENSITIVE),
            serde_json::Value::String(s) => self.out.line(s),
            v => self.out.line(&v.to_string()),
        }
    }

    fn refresh_drift(&self, drift: &[RefreshDrift]) {
        refresh_drift_text(&self.out, drift);
    }

    fn nothing_to_apply(&self, outputs: Option<&[ShownOutput]>) {
        nothing_to_apply_text(&self.out, outputs, &self.style);
    }
}

/// The state's plans, one line each (`show` without a plan file).
pub(super) fn state_text(out: &Out, state: &State) {
    if state.plans.is_empty() {
        out.line("The state is empty.");
    }
    for (a, m) in &state.plans {
        out.line(&format!(
            "{a}  {}  {}  {}",
            escape::text(&m.provider.to_string()),
            escape::text(&m.plan_id),
            escape::text(&m.status.to_string())
        ));
    }
}

/// `plan --refresh-only`: what changed outside planform, or that nothing did.
pub(super) fn refresh_drift_text(out: &Out, drift: &[RefreshDrift]) {
    for d in drift {
        match d {
            RefreshDrift::Deleted(a) => out.line(&format!("  # {a} was deleted outside planform")),
            RefreshDrift::Status { address, from, to } => out.line(&format!(
                "  # {address} status changed outside planform: {} -> {}",
                escape::text(&from.to_string()),
                escape::text(&to.to_string())
            )),
        }
    }
    if drift.is_empty() {
        out.line("No changes. The state matches the cloud.");
    }
}

pub(super) fn nothing_to_apply_text(out: &Out, outputs: Option<&[ShownOutput]>, style: &Style) {
    if let Some(outputs) = outputs {
        out.put(&outputs_block(outputs, style));
    }
}
