//! `PlanFileV1`: a saved change set (`plan --out`), stamped with the state's lineage and serial,
//! the live plans' fingerprints and the provider configurations, so `apply PLANFILE` runs exactly
//! what was reviewed, or refuses when the state or the cloud moved since.
//!
//! The file holds the inputs to send, sensitive values included (as Terraform's plan files do):
//! it is written with mode 0600 and should be treated as a secret.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use planform_engine::{Action, AttrDiff, Change, ChangeSet, Fingerprint, Termination};
use planform_model::{Address, PlanInputs, PlanStatus, ProviderConfig, ProviderRef, Timeouts};
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

/// A plan file's contents, in domain types.
pub struct PlanFile {
    pub workspace: String,
    pub state_path: String,
    pub lineage: String,
    pub serial: u64,
    pub changes: ChangeSet,
    pub fingerprints: BTreeMap<Address, Fingerprint>,
    pub providers: Vec<ProviderConfig>,
}

#[derive(Serialize, Deserialize)]
struct PlanFileV1 {
    version: u32,
    workspace: String,
    state_path: String,
    lineage: String,
    serial: u64,
    moved: Vec<(String, String)>,
    changes: Vec<ChangeV1>,
    fingerprints: BTreeMap<String, FingerprintV1>,
    providers: Vec<ProviderV1>,
}

#[derive(Serialize, Deserialize)]
struct FingerprintV1 {
    plan_id: Option<String>,
    status: String,
    product_version_id: Option<String>,
    inputs: String,
}

#[derive(Serialize, Deserialize)]
struct ProviderV1 {
    reference: String,
    region: Option<String>,
    endpoint: Option<String>,
    profile: Option<String>,
    max_retries: Option<u32>,
    requests_per_second: Option<f64>,
    timeout_secs: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum ActionV1 {
    Create {
        update_existing: bool,
        execute: bool,
    },
    UpdateInPlace {
        execute: bool,
    },
    Replace {
        update_existing: bool,
        execute: bool,
    },
    UpdateProduct {
        execute: bool,
    },
    Retry,
    Execute,
    AwaitApproval,
    Wait {
        execute: bool,
    },
    Terminate {
        via: TerminationV1,
    },
    Delete {
        cancel_first: bool,
    },
    Forget,
    Blocked {
        message: String,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TerminationV1 {
    Plan { name: String },
    Direct,
    Resume { plan_id: String },
}

#[derive(Serialize, Deserialize)]
struct InputsV1 {
    name: String,
    description: Option<String>,
    product_id: String,
    product_version_id: String,
    portfolio_id: Option<String>,
    provisioned_product_name: String,
    stack_region_id: Option<String>,
    parameters: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
    notification_arns: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct DiffV1 {
    path: String,
    before: Option<String>,
    after: Option<String>,
    sensitive: bool,
    forces_replacement: bool,
}

#[derive(Serialize, Deserialize)]
struct ChangeV1 {
    address: String,
    provider: String,
    action: ActionV1,
    reason: Option<String>,
    before: Option<InputsV1>,
    after: Option<InputsV1>,
    diffs: Vec<DiffV1>,
    sensitive_parameters: BTreeSet<String>,
    live_plan_id: Option<String>,
    live_status: Option<String>,
    after_addresses: Vec<String>,
    depends_on: Vec<String>,
    idempotency_token: String,
    timeouts_secs: [u64; 3],
}

fn inputs_v1(i: &PlanInputs) -> InputsV1 {
    InputsV1 {
        name: i.name.clone(),
        description: i.description.clone(),
        product_id: i.product_id.clone(),
        product_version_id: i.product_version_id.clone(),
        portfolio_id: i.portfolio_id.clone(),
        provisioned_product_name: i.provisioned_product_name.clone(),
        stack_region_id: i.stack_region_id.clone(),
        parameters: i.parameters.clone(),
        tags: i.tags.clone(),
        notification_arns: i.notification_arns.clone(),
    }
}

fn inputs(i: InputsV1) -> PlanInputs {
    PlanInputs {
        name: i.name,
        description: i.description,
        product_id: i.product_id,
        product_version_id: i.product_version_id,
        portfolio_id: i.portfolio_id,
        provisioned_product_name: i.provisioned_product_name,
        stack_region_id: i.stack_region_id,
        parameters: i.parameters,
        tags: i.tags,
        notification_arns: i.notification_arns,
    }
}

fn action_v1(a: &Action) -> ActionV1 {
    match a.clone() {
        Action::Create {
            update_existing,
            execute,
        } => ActionV1::Create {
            update_existing,
            execute,
        },
        Action::UpdateInPlace { execute } => ActionV1::UpdateInPlace { execute },
        Action::Replace {
            update_existing,
            execute,
        } => ActionV1::Replace {
            update_existing,
            execute,
        },
        Action::UpdateProduct { execute } => ActionV1::UpdateProduct { execute },
        Action::Retry => ActionV1::Retry,
        Action::Execute => ActionV1::Execute,
        Action::AwaitApproval => ActionV1::AwaitApproval,
        Action::Wait { execute } => ActionV1::Wait { execute },
        Action::Terminate { via } => ActionV1::Terminate {
            via: match via {
                Termination::Plan { name } => TerminationV1::Plan { name },
                Termination::Direct => TerminationV1::Direct,
                Termination::Resume { plan_id } => TerminationV1::Resume { plan_id },
            },
        },
        Action::Delete { cancel_first } => ActionV1::Delete { cancel_first },
        Action::Forget => ActionV1::Forget,
        Action::Blocked { message } => ActionV1::Blocked { message },
    }
}

fn action(a: ActionV1) -> Action {
    match a {
        ActionV1::Create {
            update_existing,
            execute,
        } => Action::Create {
            update_existing,
            execute,
        },
        ActionV1::UpdateInPlace { execute } => Action::UpdateInPlace { execute },
        ActionV1::Replace {
            update_existing,
            execute,
        } => Action::Replace {
            update_existing,
            execute,
        },
        ActionV1::UpdateProduct { execute } => Action::UpdateProduct { execute },
        ActionV1::Retry => Action::Retry,
        ActionV1::Execute => Action::Execute,
        ActionV1::AwaitApproval => Action::AwaitApproval,
        ActionV1::Wait { execute } => Action::Wait { execute },
        ActionV1::Terminate { via } => Action::Terminate {
            via: match via {
                TerminationV1::Plan { name } => Termination::Plan { name },
                TerminationV1::Direct => Termination::Direct,
                TerminationV1::Resume { plan_id } => Termination::Resume { plan_id },
            },
        },
        ActionV1::Delete { cancel_first } => Action::Delete { cancel_first },
        ActionV1::Forget => Action::Forget,
        ActionV1::Blocked { message } => Action::Blocked { message },
    }
}

fn addr(s: &str) -> Result<Address> {
    s.parse().map_err(|e| anyhow!("{e}"))
}

pub fn write(path: &Path, p: &PlanFile) -> Result<()> {
    let file = PlanFileV1 {
        version: VERSION,
        workspace: p.workspace.clone(),
        state_path: p.state_path.clone(),
        lineage: p.lineage.clone(),
        serial: p.serial,
        moved: p
            .changes
            .moved
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        changes: p
            .changes
            .changes
            .iter()
            .map(|c| ChangeV1 {
                address: c.address.to_string(),
                provider: c.provider.to_string(),
                action: action_v1(&c.action),
                reason: c.reason.clone(),
                before: c.before.as_ref().map(inputs_v1),
                after: c.after.as_ref().map(inputs_v1),
                diffs: c
                    .diffs
                    .iter()
                    .map(|d| DiffV1 {
                        path: d.path.clone(),
                        before: d.before.clone(),
                        after: d.after.clone(),
                        sensitive: d.sensitive,
                        forces_replacement: d.forces_replacement,
                    })
                    .collect(),
                sensitive_parameters: c.sensitive_parameters.clone(),
                live_plan_id: c.live_plan_id.clone(),
                live_status: c.live_status.map(|s| s.as_str().to_string()),
                after_addresses: c.after_addresses.iter().map(|a| a.to_string()).collect(),
                depends_on: c.depends_on.iter().map(|a| a.to_string()).collect(),
                idempotency_token: c.idempotency_token.clone(),
                timeouts_secs: [
                    c.timeouts.preview.as_secs(),
                    c.timeouts.approval.as_secs(),
                    c.timeouts.execute.as_secs(),
                ],
            })
            .collect(),
        fingerprints: p
            .fingerprints
            .iter()
            .map(|(a, f)| {
                (
                    a.to_string(),
                    FingerprintV1 {
                        plan_id: f.plan_id.clone(),
                        status: f.status.clone(),
                        product_version_id: f.product_version_id.clone(),
                        inputs: f.inputs.clone(),
                    },
                )
            })
            .collect(),
        providers: p
            .providers
            .iter()
            .map(|c| ProviderV1 {
                reference: c.reference.to_string(),
                region: c.region.clone(),
                endpoint: c.endpoint.clone(),
                profile: c.profile.clone(),
                max_retries: c.max_retries,
                requests_per_second: c.requests_per_second,
                timeout_secs: c.timeout.map(|t| t.as_secs()),
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&file)?;
    // Mode 0600 whatever was there before: a plan file may hold values from the state.
    planform_state::write_atomically(path, text.as_bytes())
        .with_context(|| format!("cannot write plan file {}", path.display()))
}

pub fn read(path: &Path) -> Result<PlanFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let probe: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{} is not a planform plan file: {e}", path.display()))?;
    match probe.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v as u32 == VERSION => {}
        Some(v) => bail!(
            "{} has plan file version {v}; this planform reads version {VERSION}",
            path.display()
        ),
        None => bail!(
            "{} is not a planform plan file (no version)",
            path.display()
        ),
    }
    let f: PlanFileV1 = serde_json::from_value(probe)
        .map_err(|e| anyhow!("{} is not a valid plan file: {e}", path.display()))?;
    let mut changes = ChangeSet {
        changes: vec![],
        moved: vec![],
    };
    for (a, b) in f.moved {
        changes.moved.push((addr(&a)?, addr(&b)?));
    }
    for c in f.changes {
        changes.changes.push(Change {
            address: addr(&c.address)?,
            provider: ProviderRef::parse(&c.provider)
                .ok_or_else(|| anyhow!("unknown provider {}", c.provider))?,
            action: action(c.action),
            reason: c.reason,
            before: c.before.map(inputs),
            after: c.after.map(inputs),
            diffs: c
                .diffs
                .into_iter()
                .map(|d| AttrDiff {
                    path: d.path,
                    before: d.before,
                    after: d.after,
                    sensitive: d.sensitive,
                    forces_replacement: d.forces_replacement,
                })
                .collect(),
            sensitive_parameters: c.sensitive_parameters,
            live_plan_id: c.live_plan_id,
            live_status: c.live_status.and_then(|s| PlanStatus::parse(&s)),
            after_addresses: c
                .after_addresses
                .iter()
                .map(|a| addr(a))
                .collect::<Result<_>>()?,
            depends_on: c
                .depends_on
                .iter()
                .map(|a| addr(a))
                .collect::<Result<_>>()?,
            idempotency_token: c.idempotency_token,
            timeouts: Timeouts {
                preview: Duration::from_secs(c.timeouts_secs[0]),
                approval: Duration::from_secs(c.timeouts_secs[1]),
                execute: Duration::from_secs(c.timeouts_secs[2]),
            },
        });
    }
    let mut fingerprints = BTreeMap::new();
    for (a, v) in f.fingerprints {
        fingerprints.insert(
            addr(&a)?,
            Fingerprint {
                plan_id: v.plan_id,
                status: v.status,
                product_version_id: v.product_version_id,
                inputs: v.inputs,
            },
        );
    }
    let mut providers = Vec::new();
    for p in f.providers {
        let mut c = ProviderConfig::new(
            ProviderRef::parse(&p.reference)
                .ok_or_else(|| anyhow!("unknown provider {}", p.reference))?,
        );
        c.region = p.region;
        c.endpoint = p.endpoint;
        c.profile = p.profile;
        c.max_retries = p.max_retries;
        c.requests_per_second = p.requests_per_second;
        c.timeout = p.timeout_secs.map(Duration::from_secs);
        providers.push(c);
    }
    Ok(PlanFile {
        workspace: f.workspace,
        state_path: f.state_path,
        lineage: f.lineage,
        serial: f.serial,
        changes,
        fingerprints,
        providers,
    })
}
