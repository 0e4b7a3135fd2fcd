//! `PlanFileV1`: a saved change set (`plan --out`), stamped with the state's lineage and serial,
//! the live plans' fingerprints and the provider configurations, so `apply PLANFILE` runs exactly
//! what was reviewed, or refuses when the state or the cloud moved since.
//!
//! The file holds the inputs to send. A plan with sensitive values is saved only with encryption
//! on (`PLANFORM_ENCRYPTION_KEY` or `_PASSPHRASE`, docs/security.md): the file is then one
//! AES-256-GCM envelope; without encryption such a plan is refused, naming what it would hold,
//! rather than written with the secret in clear. Either way it is written atomically, mode 0600.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use planform_engine::{Action, AttrDiff, Change, ChangeSet, Fingerprint, Termination};
use planform_model::{Address, PlanInputs, PlanStatus, ProviderConfig, ProviderRef, Timeouts};
use planform_state::Encryption;
use serde::{Deserialize, Serialize};

const VERSION: u32 = 1;

/// The context a plan file is sealed for (a state snapshot does not open as a plan file).
const CONTEXT: &str = "plan";

/// The sensitive values a change set holds, as `ADDR.parameters["KEY"]`: what a plan file
/// would have to keep.
pub fn sensitive_values(changes: &ChangeSet) -> Vec<String> {
    let mut out = Vec::new();
    for c in &changes.changes {
        for k in &c.sensitive_parameters {
            let held = [&c.before, &c.after]
                .into_iter()
                .flatten()
                .any(|i| i.parameters.contains_key(k));
            if held {
                out.push(format!("{}.parameters[{k:?}]", c.address));
            }
        }
    }
    out
}

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
        /// Absent in files written before AWS's one plan per provisioned product was kept.
        #[serde(default)]
        delete_executed_first: bool,
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
        Action::UpdateProduct {
            execute,
            delete_executed_first,
        } => ActionV1::UpdateProduct {
            execute,
            delete_executed_first,
        },
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
        ActionV1::UpdateProduct {
            execute,
            delete_executed_first,
        } => Action::UpdateProduct {
            execute,
            delete_executed_first,
        },
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

/// Writes `p` to `path` as `encryption` stores it; a plan holding sensitive values is refused
/// without encryption, and nothing is written.
pub fn write(path: &Path, p: &PlanFile, encryption: &Encryption) -> Result<()> {
    if !encryption.writes_encrypted() {
        let held = sensitive_values(&p.changes);
        if !held.is_empty() {
            bail!(
                "the plan was not saved to {}: it holds sensitive values ({}), which a plan file would keep in clear; turn on encryption (set PLANFORM_ENCRYPTION_KEY or PLANFORM_ENCRYPTION_PASSPHRASE, see docs/security.md) to save it, or run `planform apply` without a plan file",
                path.display(),
                held.join(", ")
            );
        }
    }
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
    let text = encryption.encode(CONTEXT, &serde_json::to_string_pretty(&file)?)?;
    // Mode 0600 whatever was there before: a plan file may hold values from the state.
    planform_state::write_atomically(path, text.as_bytes())
        .with_context(|| format!("cannot write plan file {}", path.display()))
}

/// Reads the plan file at `path` (opened with `encryption` when it is encrypted).
pub fn read(path: &Path, encryption: &Encryption) -> Result<PlanFile> {
    let stored = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let text = encryption
        .decode(CONTEXT, &stored, &format!("plan file {}", path.display()))?
        .text;
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
