//! The state: what planform manages (address → provider, plan id, product, last applied
//! inputs, outputs, history), stored as versioned JSON (`StateFileV1`) with atomic replace,
//! mode 0600, and a lock whose lease a live holder renews so a killed job's lock expires.

mod file;
mod lock;

pub use file::{load, save, StateError};
pub use lock::{holder, lock, lock_path, unlock, LockError, LockInfo, StateLock};

use std::collections::{BTreeMap, BTreeSet};

use planform_model::{Address, PlanInputs, ProviderRef};
use sha2::{Digest, Sha256};

/// The state of one workspace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub serial: u64,
    pub lineage: String,
    pub workspace: String,
    pub plans: BTreeMap<Address, ManagedPlan>,
}

/// One managed address.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedPlan {
    pub provider: ProviderRef,
    pub plan_id: String,
    pub provisioned_product_id: Option<String>,
    pub stack_id: Option<String>,
    pub status: String,
    /// The inputs the cloud last accepted, with sensitive parameter values replaced by hashes.
    pub applied: Option<PlanInputs>,
    pub sensitive_parameters: BTreeSet<String>,
    /// Whether a product was launched through this address (decides terminate vs delete).
    pub launched: bool,
    pub outputs: BTreeMap<String, String>,
    /// Earlier plan ids of this address, oldest first.
    pub history: Vec<String>,
    /// Addresses this one depended on when applied (orders terminates without manifests).
    pub depends_on: BTreeSet<Address>,
    /// A create that was sent but whose answer was not recorded: the idempotency token used.
    pub pending_token: Option<String>,
}

impl ManagedPlan {
    /// A newly managed plan, known only by its provider and id so far.
    pub fn new(provider: ProviderRef, plan_id: impl Into<String>) -> ManagedPlan {
        ManagedPlan {
            provider,
            plan_id: plan_id.into(),
            provisioned_product_id: None,
            stack_id: None,
            status: String::new(),
            applied: None,
            sensitive_parameters: BTreeSet::new(),
            launched: false,
            outputs: BTreeMap::new(),
            history: vec![],
            depends_on: BTreeSet::new(),
            pending_token: None,
        }
    }
}

impl State {
    pub fn new(workspace: &str, lineage: String) -> State {
        State {
            serial: 0,
            lineage,
            workspace: workspace.to_string(),
            plans: BTreeMap::new(),
        }
    }
}

/// How a sensitive value is kept: a salted hash, never the value.
pub fn hash_sensitive(lineage: &str, value: &str) -> String {
    let digest = Sha256::digest(format!("{lineage}\0{value}"));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `inputs` as stored: sensitive parameter values replaced by their hashes.
pub fn redact(lineage: &str, inputs: &PlanInputs, sensitive: &BTreeSet<String>) -> PlanInputs {
    let mut out = inputs.clone();
    for (k, v) in out.parameters.iter_mut() {
        if sensitive.contains(k) {
            *v = hash_sensitive(lineage, v);
        }
    }
    out
}

/// A new random-enough lineage id (time and process based; no randomness crate needed).
pub fn new_lineage(now_nanos: u128, pid: u32) -> String {
    let digest = Sha256::digest(format!("{now_nanos}:{pid}"));
    let h: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests;
