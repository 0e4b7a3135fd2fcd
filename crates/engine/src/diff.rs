//! The diff: desired state, state and live plans in, a [`ChangeSet`] out. Pure.
//!
//! Each address gets the action of the table in spec §2 (see `docs/reconciliation.md`).

use std::collections::{BTreeMap, BTreeSet};

use planform_model::{
    is_known, resolve_unknowns, Address, DesiredPlan, DesiredState, LivePlan, PlanInputs,
    PlanStatus, ProviderKind, ProviderRef, Timeouts, TAG_ADDRESS, TAG_WORKSPACE,
};
use planform_state::State;

/// What the cloud holds for an address.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // Present is the common case; boxing it buys nothing.
pub enum LiveEntry {
    Present(LivePlan),
    /// The state knows it; the cloud no longer has it.
    Gone,
}

/// The result of a refresh.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveSnapshot {
    pub plans: BTreeMap<Address, LiveEntry>,
    /// Addresses whose provisioned product (by name) already exists though no plan is known.
    pub existing_products: BTreeSet<Address>,
    /// Outputs read from the cloud for executed plans.
    pub outputs: BTreeMap<Address, BTreeMap<String, String>>,
    /// Which provider each entry came from.
    pub provider_of: BTreeMap<Address, ProviderRef>,
    /// Plans carrying this workspace's ownership tag whose address is in neither the state nor
    /// the manifests: (the address they claim, plan id).
    pub unmanaged: Vec<(String, String)>,
}

/// The state with what a refresh learnt: adopted plans, statuses, products and outputs. Pure.
pub fn absorb(state: &State, live: &LiveSnapshot) -> State {
    let mut out = state.clone();
    for (address, entry) in &live.plans {
        let LiveEntry::Present(l) = entry else {
            continue;
        };
        let Some(provider) = live.provider_of.get(address) else {
            continue;
        };
        let m = out
            .plans
            .entry(address.clone())
            .or_insert_with(|| planform_state::ManagedPlan::new(provider.clone(), l.id.clone()));
        if m.plan_id != l.id {
            let old = std::mem::replace(&mut m.plan_id, l.id.clone());
            m.history.push(old);
        }
        m.pending_token = None;
        m.status = l.raw_status.clone();
        m.provisioned_product_id = l
            .provisioned_product_id
            .clone()
            .or(m.provisioned_product_id.take());
        m.stack_id = l.stack_id.clone().or(m.stack_id.take());
        if l.status == PlanStatus::ExecuteSuccess
            && l.operation_type != planform_model::OperationType::TerminateProvisionedProduct
        {
            m.launched = true;
        }
        if let Some(o) = live.outputs.get(address) {
            m.outputs = o.clone();
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `+ create`, or `+ create (update existing product)`.
    Create {
        update_existing: bool,
        execute: bool,
    },
    /// `~ update in place`: Alibaba UpdateProvisionedProductPlan, a new preview.
    UpdateInPlace { execute: bool },
    /// `-/+ replace`: delete the plan (cancel first if under review), then create it.
    Replace {
        update_existing: bool,
        execute: bool,
    },
    /// `~ update product`: a new plan that updates the launched product.
    UpdateProduct { execute: bool },
    /// `~ retry`: the last execution failed; update (or replace) and execute again.
    Retry,
    /// `> execute`.
    Execute,
    /// `… awaiting approval`.
    AwaitApproval,
    /// The plan is busy (preview or execution running): wait for it, then execute it if wanted.
    Wait { execute: bool },
    /// `- terminate`: a TerminateProvisionedProduct plan, executed.
    Terminate,
    /// `- delete`: the plan was never executed.
    Delete { cancel_first: bool },
    /// Gone from the cloud and from the manifests: drop it from the state.
    Forget,
    /// Nothing can be done until the manifests change.
    Blocked { message: String },
}

impl Action {
    pub fn marker(&self) -> &'static str {
        match self {
            Action::Create { .. } => "+",
            Action::UpdateInPlace { .. } | Action::UpdateProduct { .. } | Action::Retry => "~",
            Action::Replace { .. } => "-/+",
            Action::Execute => ">",
            Action::AwaitApproval | Action::Wait { .. } => "…",
            Action::Terminate | Action::Delete { .. } | Action::Forget => "-",
            Action::Blocked { .. } => "!",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Action::Create {
                update_existing: false,
                ..
            } => "create",
            Action::Create {
                update_existing: true,
                ..
            } => "create (update existing product)",
            Action::UpdateInPlace { .. } => "update in place",
            Action::Replace { .. } => "replace",
            Action::UpdateProduct { .. } => "update product",
            Action::Retry => "retry",
            Action::Execute => "execute",
            Action::AwaitApproval => "awaiting approval",
            Action::Wait { .. } => "wait for the running operation",
            Action::Terminate => "terminate",
            Action::Delete { .. } => "delete",
            Action::Forget => "forget (already deleted outside planform)",
            Action::Blocked { .. } => "blocked",
        }
    }

    /// Whether carrying it out ends with an execution.
    pub fn executes(&self) -> bool {
        match self {
            Action::Create { execute, .. }
            | Action::UpdateInPlace { execute }
            | Action::Replace { execute, .. }
            | Action::UpdateProduct { execute } => *execute,
            Action::Retry | Action::Execute | Action::AwaitApproval | Action::Terminate => true,
            Action::Wait { execute } => *execute,
            _ => false,
        }
    }

    /// Whether it removes something from the cloud (terminates and deletes run dependents first).
    pub fn destroys(&self) -> bool {
        matches!(
            self,
            Action::Terminate | Action::Delete { .. } | Action::Forget
        )
    }
}

/// One attribute that differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrDiff {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub sensitive: bool,
    pub forces_replacement: bool,
}

/// One address's change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub address: Address,
    pub provider: ProviderRef,
    pub action: Action,
    /// Why, in words (`deleted outside planform`, `product_version_id changed`).
    pub reason: Option<String>,
    /// The live inputs (ownership tags removed), if any.
    pub before: Option<PlanInputs>,
    /// The inputs to send; may hold unknown markers resolved at apply time.
    pub after: Option<PlanInputs>,
    pub diffs: Vec<AttrDiff>,
    pub sensitive_parameters: BTreeSet<String>,
    pub live_plan_id: Option<String>,
    pub live_status: Option<PlanStatus>,
    /// What this must wait for: dependencies for creates and updates; dependents for destroys.
    pub after_addresses: BTreeSet<Address>,
    /// The dependencies recorded in state once applied.
    pub depends_on: BTreeSet<Address>,
    /// The idempotency token of the create this change may send.
    pub idempotency_token: String,
    pub timeouts: Timeouts,
}

/// The output of `diff`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
    /// `moved` blocks applied to the state.
    pub moved: Vec<(Address, Address)>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.moved.is_empty()
    }

    /// `(create, update, terminate, execute)` counts for the summary line.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for ch in &self.changes {
            match ch.action {
                Action::Create { .. } => c.0 += 1,
                Action::Replace { .. } => {
                    c.0 += 1;
                    c.2 += 1
                }
                Action::UpdateInPlace { .. } | Action::UpdateProduct { .. } | Action::Retry => {
                    c.1 += 1
                }
                Action::Terminate | Action::Delete { .. } => c.2 += 1,
                _ => {}
            }
            if ch.action.executes() && !matches!(ch.action, Action::Terminate) {
                c.3 += 1;
            }
        }
        c
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    #[error("{address}: lifecycle.prevent_destroy forbids this {action}; remove prevent_destroy first if this is intended")]
    PreventDestroy { address: Address, action: String },
    #[error("{address}: {message}")]
    Unsupported { address: Address, message: String },
    #[error("--target {0}: no such address in the manifests or the state")]
    UnknownTarget(Address),
}

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// `planform destroy`: every managed address goes.
    pub destroy: bool,
    /// `--target`: only these (with their dependencies).
    pub targets: Vec<Address>,
}

/// Desired inputs with every marker resolved that the state can resolve: the ids and outputs of
/// plans that are already applied and `unchanged` in this run.
pub fn resolve_inputs(
    inputs: &PlanInputs,
    state: &State,
    changing: &BTreeSet<Address>,
) -> PlanInputs {
    let lookup = |reference: &str| -> Option<String> {
        let (addr, attr) = planform_model::split_reference(reference)?;
        if changing.contains(&addr) {
            return None;
        }
        let m = state.plans.get(&addr)?;
        match attr.as_str() {
            "id" => Some(m.plan_id.clone()),
            "provisioned_product_id" => m.provisioned_product_id.clone(),
            "stack_id" => m.stack_id.clone(),
            "status" => Some(m.status.clone()),
            a => a
                .strip_prefix("outputs.")
                .and_then(|k| m.outputs.get(k).cloned()),
        }
    };
    let mut out = inputs.clone();
    for v in out
        .parameters
        .values_mut()
        .chain(out.tags.values_mut())
        .chain(out.description.iter_mut())
    {
        if !is_known(v) {
            *v = resolve_unknowns(v, lookup);
        }
    }
    out
}

fn strip_ownership(mut inputs: PlanInputs) -> PlanInputs {
    inputs.tags.remove(TAG_WORKSPACE);
    inputs.tags.remove(TAG_ADDRESS);
    inputs
}

/// The attributes where `after` differs from `before`, `ignore_changes` left out.
pub fn compare(d: &DesiredPlan, after: &PlanInputs, before: &PlanInputs) -> Vec<AttrDiff> {
    let ignored = |attr: &str, key: Option<&str>| {
        d.ignore_changes
            .iter()
            .any(|p| p.attribute == attr && (p.key.is_none() || p.key.as_deref() == key))
    };
    let replace_fields: &[&str] = if d.provider.kind == ProviderKind::Aws {
        &[
            "name",
            "provisioned_product_name",
            "stack_region_id",
            "notification_arns",
        ]
    } else {
        &["name", "provisioned_product_name", "stack_region_id"]
    };
    let mut out = Vec::new();
    let mut scalar = |name: &str, b: Option<&String>, a: Option<&String>| {
        if b != a && !ignored(name, None) {
            out.push(AttrDiff {
                path: name.into(),
                before: b.cloned(),
                after: a.cloned(),
                sensitive: false,
                forces_replacement: replace_fields.contains(&name),
            });
        }
    };
    scalar("name", Some(&before.name), Some(&after.name));
    scalar(
        "description",
        before.description.as_ref(),
        after.description.as_ref(),
    );
    scalar(
        "product_id",
        Some(&before.product_id),
        Some(&after.product_id),
    );
    scalar(
        "product_version_id",
        Some(&before.product_version_id),
        Some(&after.product_version_id),
    );
    scalar(
        "portfolio_id",
        before.portfolio_id.as_ref(),
        after.portfolio_id.as_ref(),
    );
    scalar(
        "provisioned_product_name",
        Some(&before.provisioned_product_name),
        Some(&after.provisioned_product_name),
    );
    if d.provider.kind != ProviderKind::Aws {
        scalar(
            "stack_region_id",
            before.stack_region_id.as_ref(),
            after.stack_region_id.as_ref(),
        );
    }
    if before.notification_arns != after.notification_arns && !ignored("notification_arns", None) {
        out.push(AttrDiff {
            path: "notification_arns".into(),
            before: Some(before.notification_arns.join(", ")),
            after: Some(after.notification_arns.join(", ")),
            sensitive: false,
            forces_replacement: replace_fields.contains(&"notification_arns"),
        });
    }
    for (attr, b, a) in [
        ("parameters", &before.parameters, &after.parameters),
        ("tags", &before.tags, &after.tags),
    ] {
        if ignored(attr, None) || b == a {
            continue;
        }
        let keys: BTreeSet<&String> = b
            .keys()
            .chain(a.keys())
            .filter(|k| {
                attr != "tags" || (k.as_str() != TAG_WORKSPACE && k.as_str() != TAG_ADDRESS)
            })
            .collect();
        for k in keys {
            if b.get(k) != a.get(k) && !ignored(attr, Some(k)) {
                out.push(AttrDiff {
                    path: format!("{attr}[{k:?}]"),
                    before: b.get(k).cloned(),
                    after: a.get(k).cloned(),
                    sensitive: attr == "parameters" && d.sensitive_parameters.contains(k),
                    forces_replacement: false,
                });
            }
        }
    }
    out
}

fn token(state: &State, address: &Address, live: Option<&str>) -> String {
    if let Some(t) = state
        .plans
        .get(address)
        .and_then(|m| m.pending_token.clone())
    {
        return t;
    }
    // Deterministic for a given state serial, so a plan file's token survives into apply.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in format!(
        "{}|{}|{}|{}",
        state.lineage,
        state.serial,
        address,
        live.unwrap_or("new")
    )
    .bytes()
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("pf-{h:016x}-{}", state.serial)
}

fn topo(desired: &DesiredState) -> Vec<&Address> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit<'a>(
        a: &'a Address,
        d: &'a DesiredState,
        seen: &mut BTreeSet<&'a Address>,
        out: &mut Vec<&'a Address>,
    ) {
        if !seen.insert(a) {
            return;
        }
        if let Some(p) = d.plans.get(a) {
            for dep in &p.depends_on {
                if let Some((k, _)) = d.plans.get_key_value(dep) {
                    visit(k, d, seen, out);
                }
            }
        }
        out.push(a);
    }
    for a in desired.plans.keys() {
        visit(a, desired, &mut seen, &mut out);
    }
    out
}

/// Computes the change set. Pure: the same inputs give the same change set.
pub fn diff(
    desired: &DesiredState,
    state: &State,
    live: &LiveSnapshot,
    options: &DiffOptions,
) -> Result<ChangeSet, Vec<DiffError>> {
    let mut errors = Vec::new();
    let mut out = ChangeSet::default();
    // `moved`: rename in a copy of the state first (only when there is something to move).
    let mut state = std::borrow::Cow::Borrowed(state);
    let mut live = std::borrow::Cow::Borrowed(live);
    for m in &desired.moved {
        if state.plans.contains_key(&m.from) {
            let p = state.to_mut().plans.remove(&m.from).expect("checked");
            state.to_mut().plans.insert(m.to.clone(), p);
            if let Some(l) = live.to_mut().plans.remove(&m.from) {
                live.to_mut().plans.insert(m.to.clone(), l);
            }
            out.moved.push((m.from.clone(), m.to.clone()));
        }
    }
    let state: &State = &state;
    let live: &LiveSnapshot = &live;
    let mut changing: BTreeSet<Address> = BTreeSet::new();
    if !options.destroy {
        for address in topo(desired) {
            let d = &desired.plans[address];
            let after = resolve_inputs(&d.inputs, state, &changing);
            let entry = live.plans.get(address);
            let managed = state.plans.get(address);
            let base = |action: Action,
                        reason: Option<String>,
                        before: Option<PlanInputs>,
                        diffs: Vec<AttrDiff>,
                        l: Option<&LivePlan>| Change {
                address: address.clone(),
                provider: d.provider.clone(),
                action,
                reason,
                before,
                after: Some(after.clone()),
                diffs,
                sensitive_parameters: d.sensitive_parameters.clone(),
                live_plan_id: l.map(|l| l.id.clone()),
                live_status: l.map(|l| l.status),
                after_addresses: d.depends_on.clone(),
                depends_on: d.depends_on.clone(),
                idempotency_token: token(state, address, l.map(|l| l.id.as_str())),
                timeouts: d.timeouts,
            };
            let change = match entry {
                None | Some(LiveEntry::Gone) => {
                    let reason = match (entry, managed) {
                        (Some(LiveEntry::Gone), _) | (None, Some(_)) => {
                            Some("deleted outside planform".to_string())
                        }
                        _ => None,
                    };
                    let update_existing = live.existing_products.contains(address);
                    Some(base(
                        Action::Create {
                            update_existing,
                            execute: d.execute,
                        },
                        reason,
                        None,
                        vec![],
                        None,
                    ))
                }
                Some(LiveEntry::Present(l)) => {
                    let diffs = compare(d, &after, &l.inputs);
                    let replace = diffs.iter().any(|x| x.forces_replacement);
                    let changed = !diffs.is_empty();
                    let in_place = d.provider.kind != ProviderKind::Aws;
                    let reason = changed.then(|| {
                        let names: Vec<&str> = diffs.iter().map(|x| x.path.as_str()).collect();
                        format!("{} changed", names.join(", "))
                    });
                    let exec = d.execute;
                    let launched_product = l.operation_type
                        != planform_model::OperationType::TerminateProvisionedProduct;
                    let action = match l.status {
                        PlanStatus::PreviewInProgress | PlanStatus::ExecuteInProgress if !changed || l.status == PlanStatus::ExecuteInProgress => Some(Action::Wait { execute: exec }),
                        PlanStatus::ExecuteSuccess if changed && replace && diffs.iter().any(|x| x.path == "provisioned_product_name" || x.path == "stack_region_id") => {
                            errors.push(DiffError::Unsupported {
                                address: address.clone(),
                                message: "provisioned_product_name and stack_region_id of a launched product cannot change; use a new address (or moved) to launch another product".into(),
                            });
                            None
                        }
                        PlanStatus::ExecuteSuccess if changed && launched_product => Some(Action::UpdateProduct { execute: exec }),
                        PlanStatus::ExecuteSuccess if !launched_product => Some(Action::Create { update_existing: false, execute: exec }),
                        PlanStatus::ExecuteSuccess => None,
                        PlanStatus::ExecuteFailed if in_place && !replace => Some(Action::Retry),
                        PlanStatus::ExecuteFailed => Some(Action::Replace { update_existing: true, execute: exec }),
                        PlanStatus::PreviewFailed if !changed => Some(Action::Blocked {
                            message: format!("the cloud rejected these inputs: {}", l.status_message.clone().unwrap_or_else(|| "preview failed".into())),
                        }),
                        PlanStatus::ApplicationRejected if !changed => Some(Action::Blocked { message: "the plan's approval was rejected; change its inputs to submit it again".into() }),
                        PlanStatus::ApplicationInProgress if !changed => Some(Action::AwaitApproval),
                        PlanStatus::ApplicationInProgress => Some(Action::Replace { update_existing: l.operation_type == planform_model::OperationType::UpdateProvisionedProduct, execute: exec }),
                        PlanStatus::ApplicationApproved if !changed => exec.then_some(Action::Execute),
                        PlanStatus::PreviewSuccess if !changed => exec.then_some(Action::Execute),
                        PlanStatus::Canceled if !changed => Some(Action::Replace { update_existing: l.operation_type == planform_model::OperationType::UpdateProvisionedProduct, execute: exec }),
                        _ if replace || !in_place || l.status == PlanStatus::ApplicationApproved || l.status == PlanStatus::Canceled => {
                            Some(Action::Replace { update_existing: l.operation_type == planform_model::OperationType::UpdateProvisionedProduct, execute: exec })
                        }
                        _ => Some(Action::UpdateInPlace { execute: exec }),
                    };
                    action.map(|a| {
                        let reason = match &a {
                            Action::Retry => Some(format!(
                                "the last execution failed: {}",
                                l.status_message.clone().unwrap_or_default()
                            )),
                            _ => reason,
                        };
                        base(
                            a,
                            reason,
                            Some(strip_ownership(l.inputs.clone())),
                            diffs,
                            Some(l),
                        )
                    })
                }
            };
            if let Some(c) = change {
                if matches!(c.action, Action::Replace { .. }) && d.prevent_destroy {
                    errors.push(DiffError::PreventDestroy {
                        address: address.clone(),
                        action: "replacement".into(),
                    });
                }
                changing.insert(address.clone());
                out.changes.push(c);
            }
        }
    }
    // Addresses in state but not wanted.
    for (address, m) in &state.plans {
        if !options.destroy && desired.plans.contains_key(address) {
            continue;
        }
        if let Some(d) = desired.plans.get(address) {
            if d.prevent_destroy {
                errors.push(DiffError::PreventDestroy {
                    address: address.clone(),
                    action: "destroy".into(),
                });
                continue;
            }
        }
        let l = match live.plans.get(address) {
            Some(LiveEntry::Present(l)) => Some(l),
            _ => None,
        };
        let action = match l {
            None => Action::Forget,
            Some(l)
                if m.launched
                    || l.status == PlanStatus::ExecuteSuccess
                    || l.status == PlanStatus::ExecuteFailed =>
            {
                if l.operation_type == planform_model::OperationType::TerminateProvisionedProduct
                    && l.status == PlanStatus::ExecuteSuccess
                {
                    Action::Forget
                } else {
                    Action::Terminate
                }
            }
            Some(l) => Action::Delete {
                cancel_first: l.status == PlanStatus::ApplicationInProgress,
            },
        };
        // Dependents go first: whatever in the state depends on this address.
        let dependents: BTreeSet<Address> = state
            .plans
            .iter()
            .filter(|(_, o)| o.depends_on.contains(address))
            .map(|(a, _)| a.clone())
            .collect();
        out.changes.push(Change {
            address: address.clone(),
            provider: m.provider.clone(),
            action,
            reason: if options.destroy {
                Some("destroy".into())
            } else {
                Some("no longer in the manifests".into())
            },
            before: l.map(|l| strip_ownership(l.inputs.clone())),
            after: None,
            diffs: vec![],
            sensitive_parameters: m.sensitive_parameters.clone(),
            live_plan_id: l.map(|l| l.id.clone()),
            live_status: l.map(|l| l.status),
            after_addresses: dependents,
            depends_on: BTreeSet::new(),
            idempotency_token: token(state, address, l.map(|l| l.id.as_str())),
            timeouts: desired
                .plans
                .get(address)
                .map(|d| d.timeouts)
                .unwrap_or_default(),
        });
    }
    if !options.targets.is_empty() {
        let mut keep: BTreeSet<Address> = BTreeSet::new();
        for t in &options.targets {
            let matched: Vec<&Address> = out
                .changes
                .iter()
                .map(|c| &c.address)
                .filter(|a| {
                    *a == t || (t.key == planform_model::InstanceKey::None && a.name == t.name)
                })
                .collect();
            if matched.is_empty()
                && !desired
                    .plans
                    .keys()
                    .chain(state.plans.keys())
                    .any(|a| a == t || a.name == t.name)
            {
                errors.push(DiffError::UnknownTarget(t.clone()));
            }
            let mut stack: Vec<Address> = matched.into_iter().cloned().collect();
            while let Some(a) = stack.pop() {
                if keep.insert(a.clone()) {
                    if let Some(c) = out.changes.iter().find(|c| c.address == a) {
                        stack.extend(c.after_addresses.iter().cloned());
                    }
                }
            }
        }
        out.changes.retain(|c| keep.contains(&c.address));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}
