//! The JSON documents: where Terraform prints one object rather than a stream of events
//! (`show -json`, `validate -json`, `output -json`, `version -json`), planform does too. Each is
//! a Rust type whose JSON Schema is derived and committed under `docs/schema/`; they share the
//! UI format version of the line events ([`UI_VERSION`]).

use std::collections::BTreeMap;
use std::path::Path;

use planform_engine::ChangeSet;
use planform_manifest::{Diagnostics, Severity};
use planform_state::State;
use schemars::JsonSchema;
use serde::Serialize;

use super::json::{
    action_name, attr_changes, diagnostic, inputs, outputs_json, ActionName, AttrChangeJson,
    DiagnosticJson, InputsJson, OutputJson, UI_VERSION,
};
use crate::ops::ShownOutput;

/// `show --format json`: a plan file's change set, or the state.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "planform show document")]
pub struct ShowDocument<'a> {
    /// The UI format version.
    pub format_version: &'static str,
    pub planform_version: &'static str,
    pub workspace: &'a str,
    /// The state (`show` without a plan file); null for a plan file.
    pub values: Option<StateJson<'a>>,
    /// For a plan file: each address's inputs once the change set is carried out (addresses
    /// the change set leaves alone keep the inputs the cloud last accepted); null for the state.
    pub planned_values: Option<Vec<PlannedValueJson<'a>>>,
    /// For a plan file: the changes, with the inputs before and after; empty for the state.
    pub resource_changes: Vec<ResourceChangeDoc<'a>>,
    /// For a plan file: the state it was made from, when that state is still the current one.
    pub prior_state: Option<StateJson<'a>>,
    /// The manifests' outputs resolved from the state (empty when the manifests do not load).
    pub outputs: BTreeMap<&'a str, OutputJson<'a>>,
}

/// The state: its identity and every managed plan.
#[derive(Serialize, JsonSchema)]
pub struct StateJson<'a> {
    pub serial: u64,
    pub lineage: &'a str,
    pub plans: Vec<StatePlanJson<'a>>,
}

/// One managed plan of the state.
#[derive(Serialize, JsonSchema)]
pub struct StatePlanJson<'a> {
    pub address: String,
    pub provider: String,
    pub plan_id: &'a str,
    pub status: &'a str,
    pub provisioned_product_id: Option<&'a str>,
    /// The inputs the cloud last accepted (sensitive parameters masked), or null.
    pub applied: Option<InputsJson<'a>>,
    pub outputs: &'a BTreeMap<String, String>,
}

/// An address's inputs after the change set.
#[derive(Serialize, JsonSchema)]
pub struct PlannedValueJson<'a> {
    pub address: String,
    pub provider: String,
    pub inputs: InputsJson<'a>,
}

/// One change of a plan file, with the inputs before and after (masked).
#[derive(Serialize, JsonSchema)]
pub struct ResourceChangeDoc<'a> {
    pub address: String,
    pub provider: String,
    pub action: ActionName,
    pub executes: bool,
    pub reason: Option<&'a str>,
    pub plan_id: Option<&'a str>,
    pub status: Option<&'static str>,
    pub before: Option<InputsJson<'a>>,
    pub after: Option<InputsJson<'a>>,
    pub changes: Vec<AttrChangeJson<'a>>,
}

/// `validate --format json`.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "planform validate document")]
pub struct ValidateDocument {
    pub format_version: &'static str,
    pub valid: bool,
    pub error_count: usize,
    pub warning_count: usize,
    pub diagnostics: Vec<DiagnosticJson>,
}

/// `version --format json`.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "planform version document")]
pub struct VersionDocument {
    pub planform_version: &'static str,
    /// The git commit planform was built from, or `unknown`.
    pub commit: &'static str,
    /// The target triple planform was built for.
    pub target: &'static str,
    /// The UI format version of `--format json`.
    pub ui_version: &'static str,
}

/// `output --format json`: every output by name.
#[derive(Serialize, JsonSchema)]
#[schemars(title = "planform output document")]
#[serde(transparent)]
pub struct OutputDocument<'a>(pub BTreeMap<&'a str, OutputJson<'a>>);

fn state_json(state: &State) -> StateJson<'_> {
    StateJson {
        serial: state.serial,
        lineage: &state.lineage,
        plans: state
            .plans
            .iter()
            .map(|(a, m)| StatePlanJson {
                address: a.to_string(),
                provider: m.provider.to_string(),
                plan_id: &m.plan_id,
                status: &m.status,
                provisioned_product_id: m.provisioned_product_id.as_deref(),
                applied: m
                    .applied
                    .as_ref()
                    .map(|i| inputs(i, &m.sensitive_parameters)),
                outputs: &m.outputs,
            })
            .collect(),
    }
}

/// `show` of the state.
pub fn show_state<'a>(state: &'a State, outputs: &'a [ShownOutput]) -> ShowDocument<'a> {
    ShowDocument {
        format_version: UI_VERSION,
        planform_version: env!("CARGO_PKG_VERSION"),
        workspace: &state.workspace,
        values: Some(state_json(state)),
        planned_values: None,
        resource_changes: vec![],
        prior_state: None,
        outputs: outputs_json(outputs),
    }
}

/// `show PLANFILE`: its change set over `prior` (the state it was made from, if still current).
pub fn show_plan<'a>(
    workspace: &'a str,
    changes: &'a ChangeSet,
    prior: Option<&'a State>,
    outputs: &'a [ShownOutput],
) -> ShowDocument<'a> {
    let mut planned: BTreeMap<String, PlannedValueJson<'a>> = BTreeMap::new();
    if let Some(state) = prior {
        for (a, m) in &state.plans {
            if let Some(applied) = &m.applied {
                planned.insert(
                    a.to_string(),
                    PlannedValueJson {
                        address: a.to_string(),
                        provider: m.provider.to_string(),
                        inputs: inputs(applied, &m.sensitive_parameters),
                    },
                );
            }
        }
    }
    for c in &changes.changes {
        match &c.after {
            Some(after) => {
                planned.insert(
                    c.address.to_string(),
                    PlannedValueJson {
                        address: c.address.to_string(),
                        provider: c.provider.to_string(),
                        inputs: inputs(after, &c.sensitive_parameters),
                    },
                );
            }
            None => {
                planned.remove(&c.address.to_string());
            }
        }
    }
    ShowDocument {
        format_version: UI_VERSION,
        planform_version: env!("CARGO_PKG_VERSION"),
        workspace,
        values: None,
        planned_values: Some(planned.into_values().collect()),
        resource_changes: changes
            .changes
            .iter()
            .map(|c| ResourceChangeDoc {
                address: c.address.to_string(),
                provider: c.provider.to_string(),
                action: action_name(&c.action),
                executes: c.action.executes(),
                reason: c.reason.as_deref(),
                plan_id: c.live_plan_id.as_deref(),
                status: c.live_status.map(|s| s.as_str()),
                before: c
                    .before
                    .as_ref()
                    .map(|i| inputs(i, &c.sensitive_parameters)),
                after: c.after.as_ref().map(|i| inputs(i, &c.sensitive_parameters)),
                changes: attr_changes(c),
            })
            .collect(),
        prior_state: prior.map(state_json),
        outputs: outputs_json(outputs),
    }
}

/// `validate`: whether the manifests of `dir` are valid, with every diagnostic.
pub fn validate(diagnostics: &Diagnostics, dir: &Path) -> ValidateDocument {
    let errors = diagnostics.errors().count();
    ValidateDocument {
        format_version: UI_VERSION,
        valid: errors == 0,
        error_count: errors,
        warning_count: diagnostics
            .0
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count(),
        diagnostics: diagnostics.0.iter().map(|d| diagnostic(d, dir)).collect(),
    }
}

/// The git commit this binary was built from (build.rs), or `unknown`.
pub const COMMIT: &str = match option_env!("PLANFORM_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// The target triple this binary was built for (build.rs), or `unknown`.
pub const TARGET: &str = match option_env!("PLANFORM_TARGET") {
    Some(t) => t,
    None => "unknown",
};

pub fn version() -> VersionDocument {
    VersionDocument {
        planform_version: env!("CARGO_PKG_VERSION"),
        commit: COMMIT,
        target: TARGET,
        ui_version: UI_VERSION,
    }
}

/// A document as one line of JSON.
pub fn to_json(document: &impl Serialize) -> String {
    let mut s = serde_json::to_string(document).expect("documents serialize");
    s.push('\n');
    s
}
