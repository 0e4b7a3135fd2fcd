//! `StateFileV1`: the stored format, converted to and from the domain `State`.
//!
//! Sensitive parameter values are kept only inside an encrypted store: in plaintext (a state
//! file without encryption, `state pull`) a sensitive parameter is listed in
//! `sensitive_parameters` (it is set) and its value is left out, so nothing in the file can be
//! guessed back. The hashes older planforms stored in its place are dropped when read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use planform_model::{Address, PlanInputs, ProviderRef};
use serde::{Deserialize, Serialize};

use planform_encryption::{Encryption, EncryptionError};

use crate::{LockError, ManagedPlan, State};

/// The stored format version this planform writes.
const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {message}")]
    Read { path: String, message: String },
    #[error("state file {path} is corrupt ({message}); it was left untouched: fix it, or restore an earlier copy (a local state keeps the one before its last write in {path}.backup)")]
    Corrupt { path: String, message: String },
    #[error("state file {path} has format version {version}, newer than this planform understands ({VERSION}); upgrade planform")]
    TooNew { path: String, version: u32 },
    #[error("cannot write state file {path}: {message}")]
    Write { path: String, message: String },
    /// The lock is held by someone else and the wait ran out.
    #[error("{0}")]
    Locked(#[from] LockError),
    /// A fenced write found that this holder's lock was taken over or removed.
    #[error("the state lock of {backend} is no longer held by this run (lock id {lock_id}): another run took it over or it was force-unlocked; nothing more was written")]
    LockLost { backend: String, lock_id: String },
    /// A fenced write found another serial than the one it builds on.
    #[error("the state in {backend} has serial {found}, this run expected {expected}: someone else wrote it; nothing was written")]
    SerialMismatch {
        backend: String,
        expected: u64,
        found: u64,
    },
    /// The stored state is encrypted and cannot be opened, or is plaintext where encryption is
    /// on; the message names the file or row, never a key.
    #[error("{0}")]
    Encryption(#[from] EncryptionError),
    /// The store cannot be reached (a database down, a connection lost).
    #[error("the state backend {backend} is unavailable: {message}")]
    Unavailable { backend: String, message: String },
}

#[derive(Serialize, Deserialize)]
struct StateFileV1 {
    version: u32,
    serial: u64,
    lineage: String,
    workspace: String,
    plans: BTreeMap<String, PlanV1>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct PlanV1 {
    provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    plan_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    provisioned_product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack_id: Option<String>,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    applied: Option<StoredInputs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    asked: Option<StoredInputs>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    sensitive_parameters: BTreeSet<String>,
    #[serde(default)]
    launched: bool,
    #[serde(default)]
    outputs: BTreeMap<String, String>,
    #[serde(default)]
    history: Vec<String>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_token: Option<String>,
}

/// A plan's inputs as the state file and the plan file store them (version 1 of both): each
/// optional field is left out when unset, and read as unset when absent or null.
#[derive(Serialize, Deserialize)]
pub struct StoredInputs {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    product_id: String,
    product_version_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    portfolio_id: Option<String>,
    provisioned_product_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stack_region_id: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notification_arns: Vec<String>,
}

impl From<&PlanInputs> for StoredInputs {
    fn from(i: &PlanInputs) -> Self {
        StoredInputs {
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
}

impl From<StoredInputs> for PlanInputs {
    fn from(i: StoredInputs) -> Self {
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
}

/// Whether a stored form keeps sensitive values: only an encrypted one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Secrets {
    /// Plaintext: sensitive values are left out (and old hashes dropped when read).
    Strip,
    /// Inside an encrypted envelope: kept.
    Keep,
}

impl Secrets {
    /// What a store written with `encryption` keeps.
    pub(crate) fn written_by(encryption: &Encryption) -> Secrets {
        if encryption.writes_encrypted() {
            Secrets::Keep
        } else {
            Secrets::Strip
        }
    }

    pub(crate) fn read_from(sealed: bool) -> Secrets {
        if sealed {
            Secrets::Keep
        } else {
            Secrets::Strip
        }
    }
}

/// The context a state snapshot is sealed for.
const SNAPSHOT: &str = "state";

/// Reads the plaintext state at `path`; `Ok(None)` when there is none yet. An encrypted file is
/// an error naming it; see [`load_with`].
pub fn load(path: &Path) -> Result<Option<State>, StateError> {
    load_with(path, &Encryption::off()).map(|s| s.map(|(s, _)| s))
}

/// Reads the state at `path` with `encryption`; `Ok(None)` when there is none yet. The flag says
/// whether it was stored encrypted.
pub fn load_with(
    path: &Path,
    encryption: &Encryption,
) -> Result<Option<(State, bool)>, StateError> {
    let p = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StateError::Read {
                path: p,
                message: e.to_string(),
            })
        }
    };
    decode(&text, &p, encryption).map(Some)
}

/// Reads a plaintext state from its stored JSON; `origin` names where it came from in errors.
pub fn parse(text: &str, origin: &str) -> Result<State, StateError> {
    decode(text, origin, &Encryption::off()).map(|(s, _)| s)
}

/// Reads a state as stored (plaintext JSON or an encrypted envelope) with `encryption`; the flag
/// says whether it was encrypted.
pub fn decode(
    text: &str,
    origin: &str,
    encryption: &Encryption,
) -> Result<(State, bool), StateError> {
    let opened = encryption.decode(SNAPSHOT, text, origin)?;
    let secrets = Secrets::read_from(opened.sealed);
    let corrupt = |message: String| StateError::Corrupt {
        path: origin.to_string(),
        message,
    };
    let probe: serde_json::Value =
        serde_json::from_str(&opened.text).map_err(|e| corrupt(e.to_string()))?;
    let version = probe
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| corrupt("no \"version\" field".into()))? as u32;
    if version > VERSION {
        return Err(StateError::TooNew {
            path: origin.to_string(),
            version,
        });
    }
    let file: StateFileV1 = serde_json::from_value(probe).map_err(|e| corrupt(e.to_string()))?;
    let mut plans = BTreeMap::new();
    for (addr, v) in file.plans {
        let (address, plan) = decode_plan(&addr, v, secrets).map_err(corrupt)?;
        plans.insert(address, plan);
    }
    Ok((
        State {
            serial: file.serial,
            lineage: file.lineage,
            workspace: file.workspace,
            plans,
        },
        opened.sealed,
    ))
}

/// One stored plan read back; the error says what is wrong.
pub(crate) fn decode_plan(
    addr: &str,
    v: PlanV1,
    secrets: Secrets,
) -> Result<(Address, ManagedPlan), String> {
    let address: Address = addr
        .parse()
        .map_err(|e: planform_model::AddressParseError| e.to_string())?;
    let provider = ProviderRef::parse(&v.provider)
        .ok_or_else(|| format!("{addr}: unknown provider {:?}", v.provider))?;
    let depends_on = v
        .depends_on
        .iter()
        .map(|d| d.parse::<Address>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    Ok((
        address,
        ManagedPlan {
            provider,
            location: v.location,
            account: v.account,
            plan_id: v.plan_id,
            provisioned_product_id: v.provisioned_product_id,
            stack_id: v.stack_id,
            status: v.status,
            applied: v
                .applied
                .map(|i| stored_inputs(i.into(), &v.sensitive_parameters, secrets)),
            asked: v
                .asked
                .map(|i| stored_inputs(i.into(), &v.sensitive_parameters, secrets)),
            sensitive_parameters: v.sensitive_parameters,
            launched: v.launched,
            outputs: v.outputs,
            history: v.history,
            depends_on,
            pending_token: v.pending_token,
        },
    ))
}

/// `inputs` as a store with `secrets` keeps them.
fn stored_inputs(
    mut inputs: PlanInputs,
    sensitive: &BTreeSet<String>,
    secrets: Secrets,
) -> PlanInputs {
    if secrets == Secrets::Strip {
        inputs.parameters.retain(|k, _| !sensitive.contains(k));
    }
    inputs
}

/// One plan in its stored form.
pub(crate) fn encode_plan(m: &ManagedPlan, secrets: Secrets) -> PlanV1 {
    PlanV1 {
        provider: m.provider.to_string(),
        location: m.location.clone(),
        account: m.account.clone(),
        plan_id: m.plan_id.clone(),
        provisioned_product_id: m.provisioned_product_id.clone(),
        stack_id: m.stack_id.clone(),
        status: m.status.clone(),
        applied: m
            .applied
            .as_ref()
            .map(|i| (&stored_inputs(i.clone(), &m.sensitive_parameters, secrets)).into()),
        asked: m
            .asked
            .as_ref()
            .map(|i| (&stored_inputs(i.clone(), &m.sensitive_parameters, secrets)).into()),
        sensitive_parameters: m.sensitive_parameters.clone(),
        launched: m.launched,
        outputs: m.outputs.clone(),
        history: m.history.clone(),
        depends_on: m.depends_on.iter().map(|d| d.to_string()).collect(),
        pending_token: m.pending_token.clone(),
    }
}

/// The state as plaintext: pretty `StateFileV1` JSON with a final newline, sensitive values left
/// out (what `state pull` prints and an unencrypted `state.json` holds).
pub fn to_json(state: &State) -> String {
    to_json_keeping(state, Secrets::Strip)
}

fn to_json_keeping(state: &State, secrets: Secrets) -> String {
    let file = StateFileV1 {
        version: VERSION,
        serial: state.serial,
        lineage: state.lineage.clone(),
        workspace: state.workspace.clone(),
        plans: state
            .plans
            .iter()
            .map(|(a, m)| (a.to_string(), encode_plan(m, secrets)))
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("state serialises");
    text.push('\n');
    text
}

/// The state as `encryption` stores it: an envelope of the JSON with sensitive values kept when
/// writes are encrypted, else [`to_json`].
pub fn encode(state: &State, encryption: &Encryption) -> Result<String, StateError> {
    match Secrets::written_by(encryption) {
        Secrets::Strip => Ok(to_json(state)),
        Secrets::Keep => {
            let mut sealed = encryption.encode(SNAPSHOT, &to_json_keeping(state, Secrets::Keep))?;
            sealed.push('\n');
            Ok(sealed)
        }
    }
}

/// A plaintext snapshot's text sealed as `encryption` seals snapshots (a plaintext state holds no
/// sensitive value, so the sealed text is a valid encrypted snapshot of the same state).
pub(crate) fn seal_snapshot_text(
    text: &str,
    encryption: &Encryption,
) -> Result<String, StateError> {
    let mut sealed = encryption.encode(SNAPSHOT, text)?;
    sealed.push('\n');
    Ok(sealed)
}

/// Writes `state` as plaintext to `path` with [`crate::write_atomically`] (mode 0600), creating
/// the directory when needed.
pub fn save(path: &Path, state: &State) -> Result<(), StateError> {
    save_with(path, state, &Encryption::off())
}

/// [`save`] as `encryption` stores it.
pub fn save_with(path: &Path, state: &State, encryption: &Encryption) -> Result<(), StateError> {
    let werr = |e: std::io::Error| StateError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let text = encode(state, encryption)?;
    std::fs::create_dir_all(crate::atomic::directory_of(path)).map_err(werr)?;
    crate::write_atomically(path, text.as_bytes()).map_err(werr)
}

/// A managed plan as a plaintext state file stores it (the per-address object of `plans`,
/// sensitive values left out).
pub fn plan_to_json(plan: &ManagedPlan) -> serde_json::Value {
    serde_json::to_value(encode_plan(plan, Secrets::Strip)).expect("a plan serialises")
}

/// The plaintext managed plan stored as `value` at `address`; the error says what is wrong.
pub fn plan_from_json(address: &Address, value: serde_json::Value) -> Result<ManagedPlan, String> {
    let v: PlanV1 = serde_json::from_value(value).map_err(|e| format!("{address}: {e}"))?;
    decode_plan(&address.to_string(), v, Secrets::Strip).map(|(_, plan)| plan)
}

/// A managed plan as a backend that keeps one plan per row stores it with `encryption`: an
/// envelope object sealed for `context` (which names the row: workspace and address) when writes
/// are encrypted, else [`plan_to_json`].
pub fn plan_to_stored(
    context: &str,
    plan: &ManagedPlan,
    encryption: &Encryption,
) -> Result<serde_json::Value, StateError> {
    let secrets = Secrets::written_by(encryption);
    let value = serde_json::to_value(encode_plan(plan, secrets)).expect("a plan serialises");
    Ok(encryption.encode_value(context, value)?)
}

/// The managed plan stored as `value` at `address` (sealed for `context` when encrypted);
/// `origin` names the row in errors.
pub fn plan_from_stored(
    context: &str,
    address: &Address,
    value: serde_json::Value,
    encryption: &Encryption,
    origin: &str,
) -> Result<ManagedPlan, StateError> {
    let secrets = Secrets::read_from(planform_encryption::is_sealed_value(&value));
    let value = encryption.decode_value(context, value, origin)?;
    let corrupt = |message: String| StateError::Corrupt {
        path: origin.to_string(),
        message,
    };
    let v: PlanV1 =
        serde_json::from_value(value).map_err(|e| corrupt(format!("{address}: {e}")))?;
    decode_plan(&address.to_string(), v, secrets)
        .map(|(_, plan)| plan)
        .map_err(corrupt)
}
