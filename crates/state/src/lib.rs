//! The state: what planform manages (address → provider, plan id, product, last applied
//! inputs, outputs, history), stored as versioned JSON (`StateFileV1`) behind a [`Backend`]:
//! the local one keeps a snapshot replaced atomically (mode 0600) and a journal of per-address
//! records, under an OS lock (see `docs/state.md`). With a key in the environment, everything a
//! backend writes is encrypted ([`Encryption`]); without one, no sensitive value is written at all.

mod atomic;
mod backend;
mod file;
mod local;
mod lock;

pub use atomic::{write_atomically, write_atomically_with_mode};
pub use backend::{Backend, BackendFuture, Change, Durable, Locked, Record};
pub use file::{
    decode, encode, load, load_with, parse, plan_from_json, plan_from_stored, plan_to_json,
    plan_to_stored, save, save_with, to_json, StateError, StoredInputs,
};
pub use local::{lock_path, LocalBackend};
pub use lock::{host_name, now, LockError, LockInfo};
pub use planform_encryption::{is_sealed, Encryption, EncryptionError};

use std::collections::{BTreeMap, BTreeSet};

use planform_model::{Address, LivePlan, OperationType, PlanInputs, PlanStatus, ProviderRef};

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
    /// Where the provider kept the plan when it was last applied or seen (see
    /// `PlanService::location`); `None` in states written before planform recorded it.
    pub location: Option<String>,
    /// The account the provider's credentials acted in when the plan was last applied or seen
    /// (see `PlanService::account`); `None` in states written before planform recorded it.
    pub account: Option<String>,
    pub plan_id: String,
    pub provisioned_product_id: Option<String>,
    pub stack_id: Option<String>,
    pub status: String,
    /// The inputs the cloud last accepted. A sensitive parameter's value is here only while it
    /// is known: in memory after an apply, or read from an encrypted store; a plaintext store
    /// leaves it out (see [`redact`]).
    pub applied: Option<PlanInputs>,
    /// The inputs planform sent for its current plan (a create or an update), until the cloud
    /// accepted them and they became `applied`. A run interrupted in between leaves them: the
    /// next refresh that finds the plan accepted with these inputs records them as applied, and
    /// drift knows the plan for planform's own (in flight, or failed) rather than a change made
    /// outside. Kept like `applied` (a sensitive value only in an encrypted store).
    pub asked: Option<PlanInputs>,
    /// Parameters whose values are sensitive; each was set when applied.
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
            location: None,
            account: None,
            plan_id: plan_id.into(),
            provisioned_product_id: None,
            stack_id: None,
            status: String::new(),
            applied: None,
            asked: None,
            sensitive_parameters: BTreeSet::new(),
            launched: false,
            outputs: BTreeMap::new(),
            history: vec![],
            depends_on: BTreeSet::new(),
            pending_token: None,
        }
    }

    /// Folds in what the cloud says of this address's plan: its id (an earlier one moves to the
    /// history), status, product and stack (kept when the cloud omits them), and whether a
    /// product was launched. The pending create token is cleared: the plan it guarded is known.
    /// Refresh, apply and import all merge a live plan through here.
    pub fn observe(&mut self, live: &LivePlan) {
        if self.plan_id != live.id {
            let old = std::mem::replace(&mut self.plan_id, live.id.clone());
            self.history.push(old);
            // What was sent belonged to the plan before.
            self.asked = None;
        }
        self.pending_token = None;
        self.status = live.raw_status.clone();
        if let Some(id) = &live.provisioned_product_id {
            self.provisioned_product_id = Some(id.clone());
        }
        if let Some(id) = &live.stack_id {
            self.stack_id = Some(id.clone());
        }
        if live.status == PlanStatus::ExecuteSuccess
            && live.operation_type != OperationType::TerminateProvisionedProduct
        {
            self.launched = true;
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

    /// The managed plan at `address` after observing `live` there; a new entry when the
    /// address was not managed yet.
    pub fn observe(
        &mut self,
        address: &Address,
        provider: &ProviderRef,
        live: &LivePlan,
    ) -> &mut ManagedPlan {
        let m = self
            .plans
            .entry(address.clone())
            .or_insert_with(|| ManagedPlan::new(provider.clone(), live.id.clone()));
        m.observe(live);
        m
    }
}

impl State {
    /// The changes that turn `before` into this state, one per address that differs: what a
    /// run records when a refresh taught it something (adopted plans, statuses, outputs).
    pub fn changes_since(&self, before: &State) -> Vec<Change> {
        let mut changes: Vec<Change> = self
            .plans
            .iter()
            .filter(|(a, m)| before.plans.get(*a) != Some(*m))
            .map(|(a, m)| Change::Put {
                address: a.clone(),
                plan: Box::new(m.clone()),
            })
            .collect();
        changes.extend(
            before
                .plans
                .keys()
                .filter(|a| !self.plans.contains_key(*a))
                .map(|a| Change::Remove { address: a.clone() }),
        );
        changes
    }
}

/// `inputs` as a plaintext store keeps them: the sensitive parameters' values left out (the
/// names stay in `sensitive`). No digest stands in for a value, since anything derived from it
/// without a secret key can be guessed back. `_lineage` is unused: it salted the hash that older
/// planforms stored, and the signature is kept for their callers.
pub fn redact(_lineage: &str, inputs: &PlanInputs, sensitive: &BTreeSet<String>) -> PlanInputs {
    let mut out = inputs.clone();
    out.parameters.retain(|k, _| !sensitive.contains(k));
    out
}

/// A new lineage id: a random (version 4) UUID from the operating system's randomness.
pub fn new_lineage() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests;
