//! The machine-readable UI: one JSON object per line, each an envelope (`@level`, `@message`,
//! `@module`, `@timestamp`) around a typed event tagged by its `type`, like Terraform's
//! machine-readable UI. The first line of a stream is the `version` event. Every event is a Rust
//! type here; their JSON Schema is derived from these types (`docs/schema/`, checked by a test),
//! and docs/json-output.md sets out the compatibility policy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use planform_engine::{Action, Change, ChangeSet, DriftItem, Event};
use planform_manifest::{Diagnostic, Diagnostics, Severity};
use planform_model::{is_known, PlanInputs, ResourceChange};
use planform_state::State;
use schemars::JsonSchema;
use serde::Serialize;

use super::text::Text;
use super::{state_errors, Out, Sink};
use crate::ops::{ApplySummary, PreviewResult, Previewed, RefreshDrift, ShownOutput};

/// The version of the machine-readable UI (the line events and the documents). Within a major
/// version, changes are additive only (docs/json-output.md).
pub const UI_VERSION: &str = "1.0";

/// The `@module` of every line.
pub const MODULE: &str = "planform.ui";

/// How important a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warn,
    Info,
}

/// One line of `--format json`: the envelope, then the event's `type` and fields.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "planform machine-readable UI line")]
pub struct Line<'a> {
    /// `error`, `warn` or `info`.
    #[serde(rename = "@level")]
    pub level: Level,
    /// A human-readable summary of the event.
    #[serde(rename = "@message")]
    pub message: String,
    /// Always `planform.ui`.
    #[serde(rename = "@module")]
    pub module: &'static str,
    /// When the line was written (RFC 3339).
    #[serde(rename = "@timestamp")]
    pub timestamp: String,
    #[serde(flatten)]
    pub event: JsonEvent<'a>,
}

/// Every JSON event, tagged by its `type`. Events are built and written at once, never stored,
/// so the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JsonEvent<'a> {
    /// The first line: the planform version and the UI format version.
    Version {
        planform: &'static str,
        ui: &'static str,
    },
    /// A problem in the manifests, or a warning about the run (e.g. `--target`).
    Diagnostic {
        diagnostic: DiagnosticJson,
    },
    /// An address renamed by a `moved` block.
    Moved {
        from: String,
        to: String,
    },
    /// One change of a plan.
    PlannedChange {
        address: String,
        provider: String,
        action: ActionName,
        /// The change ends with an execution.
        executes: bool,
        reason: Option<&'a str>,
        /// The live plan's id, if there is one.
        plan_id: Option<&'a str>,
        /// The live plan's status, if there is one.
        status: Option<&'static str>,
        /// The inputs that will be sent (masked), or null.
        after: Option<InputsJson<'a>>,
        changes: Vec<AttrChangeJson<'a>>,
    },
    /// The counts of the summary line.
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
    /// A step of an apply: a request sent, a status reached.
    ApplyProgress {
        address: String,
        message: &'a str,
    },
    ApplyComplete {
        address: String,
        message: &'a str,
    },
    /// A change failed: the cloud's code and message (with its request id when it gave one).
    ApplyErrored {
        address: String,
        message: &'a str,
    },
    AwaitingApproval {
        address: String,
        plan_id: &'a str,
    },
    /// A change was not started because a dependency failed or waits.
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
    /// A cloud plan `plan --cloud-preview` made, or one left for apply.
    CloudPreview(CloudPreviewJson<'a>),
    /// `plan --refresh-only`: a plan that changed outside planform.
    ResourceDrift {
        address: String,
        /// `deleted` or `status`.
        kind: &'static str,
        /// The status planform knew (for `status`).
        from: Option<&'a str>,
        /// The status the cloud has now (for `status`).
        to: Option<&'a str>,
    },
    /// `drift`: one thing that changed outside planform.
    Drift {
        address: &'a str,
        /// `deleted`, `changed`, `status`, `product` or `unmanaged`.
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
    /// The manifests' outputs after an apply, sensitive values masked.
    Outputs {
        outputs: BTreeMap<&'a str, OutputJson<'a>>,
    },
}

/// The `action` of a planned change (docs/reconciliation.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Create,
    CreateUpdateExisting,
    Update,
    Replace,
    UpdateProduct,
    Retry,
    Execute,
    AwaitApproval,
    Wait,
    Terminate,
    Delete,
    Forget,
    Blocked,
}

impl ActionName {
    /// How the action reads in a sentence ("plan.x: Plan to create").
    fn verb(self) -> &'static str {
        match self {
            ActionName::Create => "create",
            ActionName::CreateUpdateExisting => "create, updating the existing product",
            ActionName::Update => "update in place",
            ActionName::Replace => "replace",
            ActionName::UpdateProduct => "update its product",
            ActionName::Retry => "retry",
            ActionName::Execute => "execute",
            ActionName::AwaitApproval => "wait for approval",
            ActionName::Wait => "wait for the busy plan",
            ActionName::Terminate => "terminate",
            ActionName::Delete => "delete",
            ActionName::Forget => "forget",
            ActionName::Blocked => "stop: blocked",
        }
    }
}

/// A diagnostic, as Terraform's machine-readable UI shapes it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DiagnosticJson {
    /// `error` or `warning`.
    pub severity: &'static str,
    /// One sentence: what is wrong.
    pub summary: String,
    /// More about it: the subject and the located one-line form; may be empty.
    pub detail: String,
    /// What the problem is about, e.g. `plan.app["web"].tags`.
    pub address: Option<String>,
    /// Where in which file; null for problems without a place (the command line).
    pub range: Option<RangeJson>,
    /// The source line the range starts on; null without a range.
    pub snippet: Option<SnippetJson>,
}

/// A range of a source file: `start` is where the problem is; `end` closes the token there.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RangeJson {
    pub filename: String,
    pub start: PosJson,
    pub end: PosJson,
}

/// A position: 1-based line and column (in characters), 0-based byte offset in the file.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
pub struct PosJson {
    pub line: usize,
    pub column: usize,
    pub byte: usize,
}

/// The source line around a diagnostic.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SnippetJson {
    /// The enclosing block's header (`plan "app"`), when one is found above the line.
    pub context: Option<String>,
    /// The source line, without its line break.
    pub code: String,
    /// The line number of `code`.
    pub start_line: usize,
    /// Byte offsets into `code` of the highlighted part.
    pub highlight_start_offset: usize,
    pub highlight_end_offset: usize,
}

/// The inputs a planned change sends, masked.
#[derive(Serialize, JsonSchema)]
pub struct InputsJson<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub product_id: &'a str,
    pub product_version_id: &'a str,
    pub portfolio_id: Option<&'a str>,
    pub provisioned_product_name: &'a str,
    pub stack_region_id: Option<&'a str>,
    pub parameters: BTreeMap<&'a str, &'a str>,
    pub tags: BTreeMap<&'a str, &'a str>,
    pub notification_arns: &'a [String],
}

/// One changed attribute of a planned change, masked.
#[derive(Serialize, JsonSchema)]
pub struct AttrChangeJson<'a> {
    pub path: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
    pub forces_replacement: bool,
}

/// A `cloud_preview` event: a plan made, or one left for apply.
#[derive(Serialize, JsonSchema)]
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

/// One resource change of the cloud's own preview.
#[derive(Serialize, JsonSchema)]
pub struct ResourceChangeJson<'a> {
    pub action: &'a str,
    pub logical_resource_id: &'a str,
    pub physical_resource_id: Option<&'a str>,
    pub resource_type: &'a str,
    pub replacement: Option<&'a str>,
}

/// One changed attribute of a drift item: what planform applied and what the cloud has now.
#[derive(Serialize, JsonSchema)]
pub struct DriftChangeJson<'a> {
    pub path: &'a str,
    pub applied: Option<&'a str>,
    pub now: Option<&'a str>,
}

/// An output: its value (`"(sensitive value)"` when sensitive) and whether it is sensitive.
#[derive(Serialize, JsonSchema)]
pub struct OutputJson<'a> {
    pub sensitive: bool,
    pub value: ShownValue<'a>,
}

/// An output's value as shown: itself, or the sensitive marker.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ShownValue<'a> {
    Value(&'a serde_json::Value),
    Masked(&'static str),
}

pub const SENSITIVE: &str = "(sensitive value)";
pub const UNKNOWN: &str = "(known after apply)";

/// How a value shows in JSON: masked, unknown, or itself.
pub fn shown(v: &str, sensitive: bool) -> &str {
    if sensitive {
        SENSITIVE
    } else if !is_known(v) {
        UNKNOWN
    } else {
        v
    }
}

/// An output's value as shown.
pub fn output_value(o: &ShownOutput) -> ShownValue<'_> {
    if o.sensitive {
        ShownValue::Masked(SENSITIVE)
    } else {
        ShownValue::Value(&o.value)
    }
}

/// Outputs by name, masked.
pub fn outputs_json(outputs: &[ShownOutput]) -> BTreeMap<&str, OutputJson<'_>> {
    outputs
        .iter()
        .map(|o| {
            (
                o.name.as_str(),
                OutputJson {
                    sensitive: o.sensitive,
                    value: output_value(o),
                },
            )
        })
        .collect()
}

pub fn inputs<'a>(i: &'a PlanInputs, sensitive: &BTreeSet<String>) -> InputsJson<'a> {
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

/// A change's attribute diffs, masked.
pub fn attr_changes(c: &Change) -> Vec<AttrChangeJson<'_>> {
    c.diffs
        .iter()
        .map(|d| AttrChangeJson {
            path: &d.path,
            before: d.before.as_deref().map(|v| shown(v, d.sensitive)),
            after: d.after.as_deref().map(|v| shown(v, d.sensitive)),
            forces_replacement: d.forces_replacement,
        })
        .collect()
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
        changes: attr_changes(c),
    }
}

/// The `action` of a planned change.
pub fn action_name(a: &Action) -> ActionName {
    match a {
        Action::Create {
            update_existing: false,
            ..
        } => ActionName::Create,
        Action::Create {
            update_existing: true,
            ..
        } => ActionName::CreateUpdateExisting,
        Action::UpdateInPlace { .. } => ActionName::Update,
        Action::Replace { .. } => ActionName::Replace,
        Action::UpdateProduct { .. } => ActionName::UpdateProduct,
        Action::Retry => ActionName::Retry,
        Action::Execute => ActionName::Execute,
        Action::AwaitApproval => ActionName::AwaitApproval,
        Action::Wait { .. } => ActionName::Wait,
        Action::Terminate { .. } => ActionName::Terminate,
        Action::Delete { .. } => ActionName::Delete,
        Action::Forget => ActionName::Forget,
        Action::Blocked { .. } => ActionName::Blocked,
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

/// A diagnostic of the manifests in `dir`, with its range and snippet when its file can be read.
pub fn diagnostic(d: &Diagnostic, dir: &Path) -> DiagnosticJson {
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let source = source_path(&d.location.file, dir).and_then(|p| std::fs::read_to_string(p).ok());
    let placed = source
        .as_deref()
        .and_then(|text| place(text, d.location.line, d.location.col));
    let (range, snippet) = match placed {
        Some((start, end, snippet)) => (
            Some(RangeJson {
                filename: d.location.file.clone(),
                start,
                end,
            }),
            Some(snippet),
        ),
        None => (None, None),
    };
    let mut located = d.clone();
    located.severity = Severity::Error; // the one-line form without the "warning: " prefix
    DiagnosticJson {
        severity,
        summary: d.message.clone(),
        detail: located.to_string(),
        address: d.subject.clone(),
        range,
        snippet,
    }
}

/// A warning about the run itself (not about a place in the manifests).
pub fn warning(summary: &str, detail: &str) -> DiagnosticJson {
    DiagnosticJson {
        severity: "warning",
        summary: summary.into(),
        detail: detail.into(),
        address: None,
        range: None,
        snippet: None,
    }
}

/// An error of the run itself, e.g. one a cloud answered.
pub fn error(summary: &str) -> DiagnosticJson {
    DiagnosticJson {
        severity: "error",
        summary: summary.into(),
        detail: String::new(),
        address: None,
        range: None,
        snippet: None,
    }
}

/// Where a diagnostic's file is: manifests are named relative to their directory; `--var-file`
/// files as given. `<command line>` has no file.
fn source_path(file: &str, dir: &Path) -> Option<PathBuf> {
    if file.starts_with('<') {
        return None;
    }
    let in_dir = dir.join(file);
    if in_dir.is_file() {
        Some(in_dir)
    } else {
        Some(PathBuf::from(file))
    }
}

/// The start and end of the token at `line:col` (1-based, columns in characters) of `text`, and
/// the line as a snippet; `None` when the position is not in the text.
pub fn place(text: &str, line: usize, col: usize) -> Option<(PosJson, PosJson, SnippetJson)> {
    let line_start = if line == 1 {
        0
    } else {
        text.match_indices('\n').nth(line.checked_sub(2)?)?.0 + 1
    };
    let code = text[line_start..]
        .split('\n')
        .next()?
        .trim_end_matches('\r');
    let in_line = match code.char_indices().nth(col.checked_sub(1)?) {
        Some((i, _)) => i,
        None if col - 1 == code.chars().count() => code.len(),
        None => return None,
    };
    let rest = &code[in_line..];
    let token = match rest.chars().next() {
        Some('"') => rest[1..].find('"').map(|i| i + 2).unwrap_or(rest.len()),
        Some(c) if c.is_alphanumeric() || c == '_' => rest
            .find(|c: char| !(c.is_alphanumeric() || "_-".contains(c)))
            .unwrap_or(rest.len()),
        Some(c) => c.len_utf8(),
        None => 0,
    };
    let end_in_line = in_line + token;
    let start = PosJson {
        line,
        column: col,
        byte: line_start + in_line,
    };
    let end = PosJson {
        line,
        column: col + code[in_line..end_in_line].chars().count(),
        byte: line_start + end_in_line,
    };
    let context = text[..line_start]
        .lines()
        .rev()
        .find(|l| !l.starts_with([' ', '\t', '}', '#']) && l.trim_end().ends_with('{'))
        .map(|l| l.trim_end().trim_end_matches('{').trim_end().to_string());
    Some((
        start,
        end,
        SnippetJson {
            context,
            code: code.to_string(),
            start_line: line,
            highlight_start_offset: in_line,
            highlight_end_offset: end_in_line,
        },
    ))
}

/// The level and human-readable message of an event.
fn describe(e: &JsonEvent<'_>) -> (Level, String) {
    let info = |m: String| (Level::Info, m);
    match e {
        JsonEvent::Version { planform, .. } => info(format!("planform {planform}")),
        JsonEvent::Diagnostic { diagnostic } => {
            if diagnostic.severity == "error" {
                (Level::Error, format!("Error: {}", diagnostic.summary))
            } else {
                (Level::Warn, format!("Warning: {}", diagnostic.summary))
            }
        }
        JsonEvent::Moved { from, to } => info(format!("{from}: has moved to {to}")),
        JsonEvent::PlannedChange {
            address, action, ..
        } => info(format!("{address}: Plan to {}", action.verb())),
        JsonEvent::ChangeSummary {
            create,
            update,
            terminate,
            execute,
        } => info(format!(
            "Plan: {create} to create, {update} to update, {terminate} to terminate, {execute} to execute."
        )),
        JsonEvent::ApplyStart { address, action } => info(format!("{address}: {action} started")),
        JsonEvent::ApplyProgress { address, message }
        | JsonEvent::ApplyComplete { address, message } => info(format!("{address}: {message}")),
        JsonEvent::ApplyErrored { address, message } => {
            (Level::Error, format!("{address}: {message}"))
        }
        JsonEvent::AwaitingApproval { address, plan_id } => {
            info(format!("{address}: {plan_id} awaits approval"))
        }
        JsonEvent::Deferred { address, because } => {
            info(format!("{address}: deferred because of {because}"))
        }
        JsonEvent::ApplySummary {
            done,
            failed,
            awaiting_approval,
            deferred,
        } => {
            let level = if *failed > 0 {
                Level::Error
            } else {
                Level::Info
            };
            (level, format!("Apply: {done} done, {failed} failed, {awaiting_approval} awaiting approval, {deferred} deferred."))
        }
        JsonEvent::CloudPreview(CloudPreviewJson::Ran {
            address,
            plan_id,
            status,
            ..
        }) => info(format!("{address}: cloud preview {plan_id} ({status})")),
        JsonEvent::CloudPreview(CloudPreviewJson::Deferred { address, deferred }) => {
            info(format!("{address}: previewed by apply: {deferred}"))
        }
        JsonEvent::ResourceDrift {
            address,
            kind,
            from,
            to,
        } => match (from, to) {
            (Some(f), Some(t)) => info(format!(
                "{address}: status changed outside planform: {f} -> {t}"
            )),
            _ => info(format!("{address}: {kind} outside planform")),
        },
        JsonEvent::Drift {
            address, message, ..
        } => (Level::Warn, format!("{address}: {message}")),
        JsonEvent::DriftSummary { items, .. } => info(if *items == 0 {
            "No drift. The cloud matches what planform applied.".into()
        } else {
            format!(
                "{items} drift item{} found.",
                if *items == 1 { "" } else { "s" }
            )
        }),
        JsonEvent::Outputs { outputs } => info(format!(
            "Outputs: {}",
            outputs.len()
        )),
    }
}

/// The current time as the `@timestamp` of a line.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("the current time formats as RFC 3339")
}

/// An event in its envelope, as one line of JSON.
pub fn line(event: JsonEvent<'_>, timestamp: &str) -> String {
    let (level, message) = describe(&event);
    let mut s = serde_json::to_string(&Line {
        level,
        message,
        module: MODULE,
        timestamp: timestamp.into(),
        event,
    })
    .expect("JSON events serialize");
    s.push('\n');
    s
}

/// The `version` event.
pub fn version_event() -> JsonEvent<'static> {
    JsonEvent::Version {
        planform: env!("CARGO_PKG_VERSION"),
        ui: UI_VERSION,
    }
}

/// A change set as events: the moves, a `planned_change` per change, the `change_summary`.
pub fn changes(cs: &ChangeSet, timestamp: &str) -> String {
    let mut out = String::new();
    for (from, to) in &cs.moved {
        out.push_str(&line(
            JsonEvent::Moved {
                from: from.to_string(),
                to: to.to_string(),
            },
            timestamp,
        ));
    }
    for c in &cs.changes {
        out.push_str(&line(planned_change(c), timestamp));
    }
    let (create, update, terminate, execute) = cs.counts();
    out.push_str(&line(
        JsonEvent::ChangeSummary {
            create,
            update,
            terminate,
            execute,
        },
        timestamp,
    ));
    out
}

/// Drift items as events, then the `drift_summary`.
pub fn drift(items: &[DriftItem], timestamp: &str) -> String {
    let mut out = String::new();
    for i in items {
        out.push_str(&line(
            JsonEvent::Drift {
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
            timestamp,
        ));
    }
    let mut by_kind = BTreeMap::new();
    for i in items {
        *by_kind.entry(i.kind.as_str()).or_insert(0) += 1;
    }
    out.push_str(&line(
        JsonEvent::DriftSummary {
            items: items.len(),
            in_sync: items.is_empty(),
            by_kind,
        },
        timestamp,
    ));
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

/// Whether the `version` line went to standard output (once per process, whichever sink or
/// error report writes first).
static STDOUT_STARTED: AtomicBool = AtomicBool::new(false);

/// The JSON sink: every report as events on `out`, the `version` event first.
pub struct Json {
    text: Text,
    out: Out,
    /// The manifest directory, to read diagnostics' source lines.
    dir: PathBuf,
    /// Whether a buffer `out` got its `version` line.
    started: AtomicBool,
    /// The clock of `@timestamp` (fixed in tests).
    clock: fn() -> String,
}

impl Json {
    pub fn new(text: Text, out: Out, dir: PathBuf) -> Json {
        Json::with_clock(text, out, dir, now)
    }

    pub fn with_clock(text: Text, out: Out, dir: PathBuf, clock: fn() -> String) -> Json {
        Json {
            text,
            out,
            dir,
            started: AtomicBool::new(false),
            clock,
        }
    }

    /// Writes `s` (lines of events made at `timestamp`), after the `version` line if it is the
    /// first.
    fn put(&self, s: &str, timestamp: &str) {
        let first = match self.out {
            Out::Stdout => !STDOUT_STARTED.swap(true, Ordering::SeqCst),
            Out::Buffer(_) => !self.started.swap(true, Ordering::SeqCst),
        };
        if first {
            self.out.put(&line(version_event(), timestamp));
        }
        self.out.put(s);
    }

    fn event(&self, event: JsonEvent<'_>) {
        let t = (self.clock)();
        self.put(&line(event, &t), &t);
    }
}

/// An error that ends the run, as a `diagnostic` line on standard output (after the `version`
/// line when nothing was written yet): `--format json` keeps standard output parseable.
pub fn fatal(message: &str) {
    let t = now();
    if !STDOUT_STARTED.swap(true, Ordering::SeqCst) {
        out!("{}", line(version_event(), &t));
    }
    out!(
        "{}",
        line(
            JsonEvent::Diagnostic {
                diagnostic: error(message)
            },
            &t
        )
    );
}

impl Sink for Json {
    fn started(&self) {
        self.put("", &(self.clock)());
        super::console::flush();
    }

    fn changes(&self, cs: &ChangeSet) {
        let t = (self.clock)();
        self.put(&changes(cs, &t), &t);
    }

    fn cloud_preview_begin(&self) {}

    fn cloud_preview(&self, entry: &Previewed) {
        self.event(JsonEvent::CloudPreview(cloud_preview(entry)));
    }

    fn apply_begin(&self, _total: usize) {}

    fn apply_event(&self, event: &Event) {
        self.event(apply_event(event));
    }

    fn apply_summary(&self, s: &ApplySummary) {
        state_errors(s);
        for e in &s.state_errors {
            self.event(JsonEvent::Diagnostic {
                diagnostic: error(&format!("saving the state failed: {e}")),
            });
        }
        self.event(JsonEvent::ApplySummary {
            done: s.done,
            failed: s.failed.len(),
            awaiting_approval: s.awaiting.len(),
            deferred: s.deferred,
        });
        if let Some(outputs) = &s.outputs {
            self.event(JsonEvent::Outputs {
                outputs: outputs_json(outputs),
            });
        }
    }

    fn drift(&self, items: &[DriftItem], _workspace: &str) {
        let t = (self.clock)();
        self.put(&drift(items, &t), &t);
    }

    fn state(&self, state: &State) {
        // `show --format json` prints a document (render::document); a stream shows it as text.
        self.text.state(state);
    }

    fn outputs(&self, outputs: &[ShownOutput]) {
        self.event(JsonEvent::Outputs {
            outputs: outputs_json(outputs),
        });
    }

    fn output_value(&self, output: &ShownOutput) {
        self.out
            .line(&serde_json::to_string(&output_value(output)).expect("JSON values serialize"));
    }

    fn refresh_drift(&self, drift: &[RefreshDrift]) {
        for d in drift {
            self.event(match d {
                RefreshDrift::Deleted(a) => JsonEvent::ResourceDrift {
                    address: a.to_string(),
                    kind: "deleted",
                    from: None,
                    to: None,
                },
                RefreshDrift::Status { address, from, to } => JsonEvent::ResourceDrift {
                    address: address.to_string(),
                    kind: "status",
                    from: Some(from),
                    to: Some(to),
                },
            });
        }
        self.event(JsonEvent::ChangeSummary {
            create: 0,
            update: 0,
            terminate: 0,
            execute: 0,
        });
    }

    fn nothing_to_apply(&self, outputs: Option<&[ShownOutput]>) {
        self.event(JsonEvent::ApplySummary {
            done: 0,
            failed: 0,
            awaiting_approval: 0,
            deferred: 0,
        });
        if let Some(outputs) = outputs {
            self.event(JsonEvent::Outputs {
                outputs: outputs_json(outputs),
            });
        }
    }

    fn diagnostics(&self, diagnostics: &Diagnostics) {
        for d in &diagnostics.0 {
            self.event(JsonEvent::Diagnostic {
                diagnostic: diagnostic(d, &self.dir),
            });
        }
    }

    fn invalid(&self, diagnostics: &Diagnostics) {
        self.diagnostics(diagnostics);
    }

    fn error(&self, message: &str) {
        self.event(JsonEvent::Diagnostic {
            diagnostic: error(message),
        });
    }

    fn warning(&self, summary: &str, detail: &str) {
        self.event(JsonEvent::Diagnostic {
            diagnostic: warning(summary, detail),
        });
    }
}
