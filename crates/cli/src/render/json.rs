//! One JSON object per line: the event types of docs/json-output.md as Rust types, their fields
//! declared in the order they are printed.

use std::collections::{BTreeMap, BTreeSet};

use planform_engine::{Action, Change, ChangeSet, DriftItem, Event};
use planform_model::{is_known, PlanInputs, ResourceChange};
use planform_state::State;
use serde::Serialize;

use super::text::Text;
use super::{state_errors, Out, Sink};
use crate::ops::{ApplySummary, PreviewResult, Previewed, RefreshDrift, ShownOutput};

/// Every JSON event, tagged by its `type`. Events are built and written at once, never stored,
/// so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JsonEvent<'a> {
    Moved {
        from: String,
        to: String,
    },
    PlannedChange {
        address: String,
        provider: String,
        action: &'static str,
        executes: bool,
        reason: Option<&'a str>,
        plan_id: Option<&'a str>,
        status: Option<&'static str>,
        after: Option<InputsJson<'a>>,
        changes: Vec<AttrChangeJson<'a>>,
    },
    ChangeSummary {
        create: usize,
        update: usize,
        terminate: usize,
        execute: usize,
    },
    ApplyStart {
        address: String,
        action: &'a str,
    },
    ApplyProgress {
        address: String,
        message: &'a str,
    },
    ApplyComplete {
        address: String,
        message: &'a str,
    },
    ApplyErrored {
        address: String,
        message: &'a str,
    },
    AwaitingApproval {
        address: String,
        plan_id: &'a str,
    },
    Deferred {
        address: String,
        because: String,
    },
    ApplySummary {
        done: usize,
        failed: usize,
        awaiting_approval: usize,
        deferred: usize,
    },
    CloudPreview(CloudPreviewJson<'a>),
    Drift {
        address: &'a str,
        kind: &'static str,
        plan_id: Option<&'a str>,
        message: &'a str,
        changes: Vec<DriftChangeJson<'a>>,
    },
    DriftSummary {
        items: usize,
        in_sync: bool,
        by_kind: BTreeMap<&'static str, usize>,
    },
}

/// The inputs a planned change sends, masked.
#[derive(Serialize)]
pub struct InputsJson<'a> {
    name: &'a str,
    description: Option<&'a str>,
    product_id: &'a str,
    product_version_id: &'a str,
    portfolio_id: Option<&'a str>,
    provisioned_product_name: &'a str,
    stack_region_id: Option<&'a str>,
    parameters: BTreeMap<&'a str, &'a str>,
    tags: BTreeMap<&'a str, &'a str>,
    notification_arns: &'a [String],
}

/// One changed attribute of a planned change, masked.
#[derive(Serialize)]
pub struct AttrChangeJson<'a> {
    path: &'a str,
    before: Option<&'a str>,
    after: Option<&'a str>,
    forces_replacement: bool,
}

/// A `cloud_preview` event: a plan made, or one left for apply.
#[derive(Serialize)]
#[serde(untagged)]
pub enum CloudPreviewJson<'a> {
    Ran {
        address: String,
        plan_id: &'a str,
        status: &'a str,
        error: Option<&'a str>,
        resource_changes: Vec<ResourceChangeJson<'a>>,
    },
    Deferred {
        address: String,
        deferred: &'static str,
    },
}

#[derive(Serialize)]
pub struct ResourceChangeJson<'a> {
    action: &'a str,
    logical_resource_id: &'a str,
    physical_resource_id: Option<&'a str>,
    resource_type: &'a str,
    replacement: Option<&'a str>,
}

/// One changed attribute of a drift item: what planform applied and what the cloud has now.
#[derive(Serialize)]
pub struct DriftChangeJson<'a> {
    path: &'a str,
    applied: Option<&'a str>,
    now: Option<&'a str>,
}

/// A plan of the state (`show --format json`); a document, not an event, so it has no `type`.
#[derive(Serialize)]
pub struct StatePlanJson<'a> {
    address: String,
    provider: String,
    plan_id: &'a str,
    status: &'a str,
    provisioned_product_id: Option<&'a str>,
    outputs: &'a BTreeMap<String, String>,
}

/// An output of `output --format json`.
#[derive(Serialize)]
pub struct OutputJson<'a> {
    value: &'a serde_json::Value,
    sensitive: bool,
}

const SENSITIVE: &str = "(sensitive value)";
const UNKNOWN: &str = "(known after apply)";

/// How a value shows in JSON: masked, unknown, or itself.
fn shown(v: &str, sensitive: bool) -> &str {
    if sensitive {
        SENSITIVE
    } else if !is_known(v) {
        UNKNOWN
    } else {
        v
    }
}

fn inputs<'a>(i: &'a PlanInputs, sensitive: &BTreeSet<String>) -> InputsJson<'a> {
    InputsJson {
        name: &i.name,
        description: i.description.as_deref(),
        product_id: &i.product_id,
        product_version_id: &i.product_version_id,
        portfolio_id: i.portfolio_id.as_deref(),
        provisioned_product_name: &i.provisioned_product_name,
        stack_region_id: i.stack_region_id.as_deref(),
        parameters: i
            .parameters
            .iter()
            .map(|(k, v)| (k.as_str(), shown(v, sensitive.contains(k))))
            .collect(),
        tags: i
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), shown(v, false)))
            .collect(),
        notification_arns: &i.notification_arns,
    }
}

fn planned_change(c: &Change) -> JsonEvent<'_> {
    JsonEvent::PlannedChange {
        address: c.address.to_string(),
        provider: c.provider.to_string(),
        action: action_name(&c.action),
        executes: c.action.executes(),
        reason: c.reason.as_deref(),
        plan_id: c.live_plan_id.as_deref(),
        status: c.live_status.map(|s| s.as_str()),
        after: c.after.as_ref().map(|i| inputs(i, &c.sensitive_parameters)),
        changes: c
            .diffs
            .iter()
            .map(|d| AttrChangeJson {
                path: &d.path,
                before: d.before.as_deref().map(|v| shown(v, d.sensitive)),
                after: d.after.as_deref().map(|v| shown(v, d.sensitive)),
                forces_replacement: d.forces_replacement,
            })
            .collect(),
    }
}

/// The `action` of a planned change.
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

fn apply_event(e: &Event) -> JsonEvent<'_> {
    match e {
        Event::Started { address, action } => JsonEvent::ApplyStart {
            address: address.to_string(),
            action,
        },
        Event::Progress { address, message } => JsonEvent::ApplyProgress {
            address: address.to_string(),
            message,
        },
        Event::Finished { address, message } => JsonEvent::ApplyComplete {
            address: address.to_string(),
            message,
        },
        Event::Failed { address, message } => JsonEvent::ApplyErrored {
            address: address.to_string(),
            message,
        },
        Event::AwaitingApproval { address, plan_id } => JsonEvent::AwaitingApproval {
            address: address.to_string(),
            plan_id,
        },
        Event::Deferred { address, because } => JsonEvent::Deferred {
            address: address.to_string(),
            because: because.to_string(),
        },
    }
}

fn cloud_preview(entry: &Previewed) -> CloudPreviewJson<'_> {
    match entry {
        Previewed::Ran {
            address,
            plan_id,
            status,
            result,
        } => {
            let (error, changes): (Option<&str>, &[ResourceChange]) = match result {
                PreviewResult::Ready(changes) => (None, changes),
                PreviewResult::Failed(msg) => (Some(msg), &[]),
                PreviewResult::Other(_) => (None, &[]),
            };
            CloudPreviewJson::Ran {
                address: address.to_string(),
                plan_id,
                status,
                error,
                resource_changes: changes
                    .iter()
                    .map(|r| ResourceChangeJson {
                        action: &r.action,
                        logical_resource_id: &r.logical_resource_id,
                        physical_resource_id: r.physical_resource_id.as_deref(),
                        resource_type: &r.resource_type,
                        replacement: r.replacement.as_deref(),
                    })
                    .collect(),
            }
        }
        Previewed::Deferred { address } => CloudPreviewJson::Deferred {
            address: address.to_string(),
            deferred: "its inputs are known only after its dependencies are executed",
        },
    }
}

/// A value as one line of JSON.
fn line(out: &mut String, value: &impl Serialize) {
    out.push_str(&serde_json::to_string(value).expect("JSON events serialize"));
    out.push('\n');
}

/// A change set as events: the moves, a `planned_change` per change, the `change_summary`.
pub fn changes(cs: &ChangeSet) -> String {
    let mut out = String::new();
    for (from, to) in &cs.moved {
        line(
            &mut out,
            &JsonEvent::Moved {
                from: from.to_string(),
                to: to.to_string(),
            },
        );
    }
    for c in &cs.changes {
        line(&mut out, &planned_change(c));
    }
    let (create, update, terminate, execute) = cs.counts();
    line(
        &mut out,
        &JsonEvent::ChangeSummary {
            create,
            update,
            terminate,
            execute,
        },
    );
    out
}

/// Drift items as events, then the `drift_summary`.
pub fn drift(items: &[DriftItem]) -> String {
    let mut out = String::new();
    for i in items {
        line(
            &mut out,
            &JsonEvent::Drift {
                address: &i.address,
                kind: i.kind.as_str(),
                plan_id: i.plan_id.as_deref(),
                message: &i.message,
                changes: i
                    .diffs
                    .iter()
                    .map(|d| DriftChangeJson {
                        path: &d.path,
                        applied: masked(&d.before, d.sensitive),
                        now: masked(&d.after, d.sensitive),
                    })
                    .collect(),
            },
        );
    }
    let mut by_kind = BTreeMap::new();
    for i in items {
        *by_kind.entry(i.kind.as_str()).or_insert(0) += 1;
    }
    line(
        &mut out,
        &JsonEvent::DriftSummary {
            items: items.len(),
            in_sync: items.is_empty(),
            by_kind,
        },
    );
    out
}

/// A drift value as shown: masked when sensitive.
fn masked(v: &Option<String>, sensitive: bool) -> Option<&str> {
    if sensitive {
        Some(SENSITIVE)
    } else {
        v.as_deref()
    }
}

/// The JSON sink; what has no JSON form is shown as text.
pub struct Json {
    text: Text,
    out: Out,
}

impl Json {
    pub fn new(text: Text, out: Out) -> Json {
        Json { text, out }
    }

    fn event(&self, value: &impl Serialize) {
        let mut s = String::new();
        line(&mut s, value);
        self.out.put(&s);
    }
}

impl Sink for Json {
    fn changes(&self, cs: &ChangeSet) {
        self.out.put(&changes(cs));
    }

    fn cloud_preview_begin(&self) {}

    fn cloud_preview(&self, entry: &Previewed) {
        self.event(&JsonEvent::CloudPreview(cloud_preview(entry)));
    }

    fn apply_begin(&self, _total: usize) {}

    fn apply_event(&self, event: &Event) {
        self.event(&apply_event(event));
    }

    fn apply_summary(&self, s: &ApplySummary) {
        state_errors(s);
        self.event(&JsonEvent::ApplySummary {
            done: s.done,
            failed: s.failed.len(),
            awaiting_approval: s.awaiting.len(),
            deferred: s.deferred,
        });
    }

    fn drift(&self, items: &[DriftItem], _workspace: &str) {
        self.out.put(&drift(items));
    }

    fn state(&self, state: &State) {
        if state.plans.is_empty() {
            self.out.line("The state is empty.");
        }
        for (a, m) in &state.plans {
            self.event(&StatePlanJson {
                address: a.to_string(),
                provider: m.provider.to_string(),
                plan_id: &m.plan_id,
                status: &m.status,
                provisioned_product_id: m.provisioned_product_id.as_deref(),
                outputs: &m.outputs,
            });
        }
    }

    fn outputs(&self, outputs: &[ShownOutput]) {
        let all: BTreeMap<&str, OutputJson<'_>> = outputs
            .iter()
            .map(|o| {
                (
                    o.name.as_str(),
                    OutputJson {
                        value: &o.value,
                        sensitive: o.sensitive,
                    },
                )
            })
            .collect();
        self.event(&all);
    }

    fn output_value(&self, value: &serde_json::Value) {
        self.out.line(&value.to_string());
    }

    fn refresh_drift(&self, drift: &[RefreshDrift]) {
        self.text.refresh_drift(drift);
    }

    fn nothing_to_apply(&self, outputs: Option<&[ShownOutput]>) {
        self.text.nothing_to_apply(outputs);
    }
}
