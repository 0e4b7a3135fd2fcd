//! The diff: desired state, state and live plans in, a [`ChangeSet`] out. Pure.
//!
//! Each address gets the action of the table in spec §2 (see `docs/reconciliation.md`).

use std::collections::{BTreeMap, BTreeSet};

use planform_model::{
    ownership, Address, Capabilities, DesiredPlan, DesiredState, LivePlan, OperationType,
    PlanInputs, PlanStatus, ProviderRef, TerminateVia, Timeouts,
};
use planform_state::State;

use crate::resolve::resolve_inputs;

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
    /// Where each provider read keeps its plans; empty when the state stands in for a refresh.
    pub locations: BTreeMap<ProviderRef, String>,
    /// The account each provider read acts in (see `PlanService::account`); empty when the
    /// state stands in for a refresh.
    pub accounts: BTreeMap<ProviderRef, String>,
    /// Plans carrying this workspace's ownership tag whose address is in neither the state nor
    /// the manifests: (the address they claim, plan id).
    pub unmanaged: Vec<(String, String)>,
    /// A managed product updated outside planform: the newest executed update plan of the
    /// address's product that planform did not make, newer than the address's own plan (a
    /// console user's, another tool's). Drift reports it.
    pub updated_outside: BTreeMap<Address, LivePlan>,
}

/// What the state knows of the cloud, standing in for a refresh (`plan --refresh=false`): each
/// managed plan as last seen, with the inputs the cloud last accepted. A sensitive parameter's
/// value is in the state only when it is encrypted; where it is not, the manifests' value stands
/// in (the parameter is taken as unchanged, which [`unverified_sensitive`] lists for the plan to
/// say). Pure: nothing is read from any cloud.
pub fn stored_snapshot(desired: &DesiredState, state: &State) -> LiveSnapshot {
    let mut out = LiveSnapshot::default();
    for (address, m) in &state.plans {
        let mut inputs = m.applied.clone().unwrap_or_default();
        for k in &m.sensitive_parameters {
            if m.applied.is_none() || inputs.parameters.contains_key(k) {
                continue;
            }
            let wanted = desired
                .plans
                .get(address)
                .and_then(|d| d.inputs.parameters.get(k));
            // Removed from the manifests: some value was set, and removing it is a change.
            let stand_in = wanted.cloned().unwrap_or_else(|| SENSITIVE_STAND_IN.into());
            inputs.parameters.insert(k.clone(), stand_in);
        }
        // The cloud's copy carries the ownership tags; so does this one (a plan file made
        // without a refresh fingerprints it, and `apply PLANFILE` compares with the cloud's).
        let inputs = ownership::tag(&inputs, &state.workspace, address);
        let status = PlanStatus::parse(&m.status).unwrap_or(PlanStatus::PreviewInProgress);
        let operation_type = if m.launched && status != PlanStatus::ExecuteSuccess {
            OperationType::UpdateProvisionedProduct
        } else {
            OperationType::LaunchProduct
        };
        out.provider_of.insert(address.clone(), m.provider.clone());
        out.outputs.insert(address.clone(), m.outputs.clone());
        out.plans.insert(
            address.clone(),
            LiveEntry::Present(LivePlan {
                id: m.plan_id.clone(),
                inputs,
                operation_type,
                status,
                raw_status: m.status.clone(),
                status_message: None,
                provisioned_product_id: m.provisioned_product_id.clone(),
                stack_id: m.stack_id.clone(),
                create_time: String::new(),
                update_time: String::new(),
            }),
        );
    }
    out
}

/// What stands for a sensitive value that the state does not keep and the manifests no longer set.
const SENSITIVE_STAND_IN: &str = "(sensitive value)";

/// The sensitive parameters [`stored_snapshot`] takes as unchanged because the state does not
/// keep their values (it is not encrypted) and the manifests still set them: `ADDR.parameters["KEY"]`.
pub fn unverified_sensitive(desired: &DesiredState, state: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (address, m) in &state.plans {
        let (Some(applied), Some(d)) = (&m.applied, desired.plans.get(address)) else {
            continue;
        };
        for k in &m.sensitive_parameters {
            if !applied.parameters.contains_key(k) && d.inputs.parameters.contains_key(k) {
                out.push(format!("{address}.parameters[{k:?}]"));
            }
        }
    }
    out
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
        // Judged before `observe` takes `l` for the address's plan.
        let sent_and_accepted = state
            .plans
            .get(address)
            .is_some_and(|m| asked_is_live(m, l))
            && accepted(l.status);
        let m = out.observe(address, provider, l);
        if let Some(at) = live.locations.get(provider) {
            m.location = Some(at.clone());
        }
        // A state written before planform recorded accounts gains it here; a recorded account
        // is kept, so a refresh with another account's credentials is refused
        // ([`account_changes`]), never written over.
        if m.account.is_none() {
            m.account = live.accounts.get(provider).cloned();
        }
        if let Some(o) = live.outputs.get(address) {
            m.outputs = o.clone();
        }
        // What a run sent but did not see accepted (it was interrupted): the cloud accepted
        // it since, so it is what was applied.
        if sent_and_accepted {
            m.applied = m.asked.take();
        }
    }
    out
}

/// Whether `l` is the plan `m` records as its current one, holding the inputs planform sent for
/// it (`ManagedPlan::asked`): planform's own, in flight or done, not a change made outside.
/// Sensitive values are compared where the state keeps them.
pub fn asked_is_live(m: &planform_state::ManagedPlan, l: &LivePlan) -> bool {
    let Some(asked) = &m.asked else {
        return false;
    };
    let mut live = ownership::strip(l.inputs.clone());
    // A portfolio planform left to the cloud is the cloud's choice.
    if asked.portfolio_id.is_none() {
        live.portfolio_id = None;
    }
    for k in &m.sensitive_parameters {
        if !asked.parameters.contains_key(k) {
            live.parameters.remove(k);
        }
    }
    l.id == m.plan_id && live == *asked
}

/// A status in which the cloud has accepted a plan's inputs and nothing is under way: previewed,
/// under or past review, executed.
fn accepted(status: PlanStatus) -> bool {
    matches!(
        status,
        PlanStatus::PreviewSuccess
            | PlanStatus::ApplicationInProgress
            | PlanStatus::ApplicationApproved
            | PlanStatus::ExecuteSuccess
    )
}

/// How a launched product is terminated, decided by the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Termination {
    /// A `TerminateProvisionedProduct` plan of this name, previewed and executed.
    Plan { name: String },
    /// A direct `TerminateProvisionedProduct` call, then a wait until the product is gone.
    Direct,
    /// Carry on with the terminate plan an interrupted run left unfinished.
    Resume { plan_id: String },
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
    /// `~ update product`: a new plan that updates the launched product. Where a provisioned
    /// product has one plan (AWS), its executed plan is deleted first (`delete_executed_first`).
    UpdateProduct {
        execute: bool,
        delete_executed_first: bool,
    },
    /// `~ retry`: the last execution failed; update the plan in place and execute it again
    /// (only where plans update in place; elsewhere a failed plan is replaced).
    Retry,
    /// `> execute`.
    Execute,
    /// `… awaiting approval`.
    AwaitApproval,
    /// The plan is busy (preview or execution running): wait for it, then execute it if wanted.
    Wait { execute: bool },
    /// `- terminate`: a TerminateProvisionedProduct plan, executed, or a direct terminate.
    Terminate { via: Termination },
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
            Action::Terminate { .. } | Action::Delete { .. } | Action::Forget => "-",
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
            // The new plan updates the product: nothing is launched or terminated.
            Action::Replace {
                update_existing: true,
                ..
            } => "replace plan, update product",
            Action::Replace { .. } => "replace",
            Action::UpdateProduct { .. } => "update product",
            Action::Retry => "retry",
            Action::Execute => "execute",
            Action::AwaitApproval => "awaiting approval",
            Action::Wait { .. } => "wait for the running operation",
            Action::Terminate { .. } => "terminate",
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
            | Action::UpdateProduct { execute, .. } => *execute,
            Action::Retry | Action::Execute | Action::AwaitApproval | Action::Terminate { .. } => {
                true
            }
            Action::Wait { execute } => *execute,
            _ => false,
        }
    }

    /// Whether it removes something from the cloud (terminates and deletes run dependents first).
    pub fn destroys(&self) -> bool {
        matches!(
            self,
            Action::Terminate { .. } | Action::Delete { .. } | Action::Forget
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

    /// `(create, update, terminate, execute)` counts for the summary line. A replacement that
    /// keeps its launched product (the new plan updates it, as `plan --replace` of an executed
    /// plan and AWS's retry of a failed execution do) is an update: nothing is launched or
    /// terminated.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for ch in &self.changes {
            match ch.action {
                Action::Create { .. } => c.0 += 1,
                Action::Replace {
                    update_existing: true,
                    ..
                } => c.1 += 1,
                Action::Replace { .. } => {
                    c.0 += 1;
                    c.2 += 1
                }
                Action::UpdateInPlace { .. } | Action::UpdateProduct { .. } | Action::Retry => {
                    c.1 += 1
                }
                Action::Terminate { .. } | Action::Delete { .. } => c.2 += 1,
                _ => {}
            }
            if ch.action.executes() && !matches!(ch.action, Action::Terminate { .. }) {
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
    #[error(
        "--replace {0}: no such address in the manifests (only a planned address can be replaced)"
    )]
    UnknownReplace(Address),
    #[error("--replace {0}: the address has no plan in the cloud yet, so there is nothing to replace; it will be created")]
    NothingToReplace(Address),
    #[error("{address}: its plan {plan_id} is managed through provider {from}, but the manifests now say {to}; planform does not move plans between providers. Keep the {from} provider and run `planform destroy --target {address}` first (or `planform state rm {address}` to leave the plan where it is), then apply with {to}")]
    ProviderChanged {
        address: Address,
        plan_id: String,
        from: ProviderRef,
        to: ProviderRef,
    },
    #[error("{address}: its plan {plan_id} was made in {from}, but provider {provider} now points at {to}, where planform did not make it (the same data behind another endpoint is another location to planform); planform does not move plans between regions, endpoints or clouds. Point {provider} back at {from} and run `planform destroy --target {address}` first (or `planform state rm {address}` to leave the plan where it is), then apply with the new setting")]
    ProviderMoved {
        address: Address,
        plan_id: String,
        provider: ProviderRef,
        from: String,
        to: String,
    },
    #[error("{address}: its plan {plan_id} was made in account {from}, but the credentials of provider {provider} now act in account {to}, where planform did not make it; planform does not move plans between accounts. Point {provider}'s credentials (its profile, keys or role) back at account {from} and run `planform destroy --target {address}` first (or `planform state rm {address}` to leave the plan where it is), then apply with the new credentials")]
    AccountChanged {
        address: Address,
        plan_id: String,
        provider: ProviderRef,
        from: String,
        to: String,
    },
}

/// The managed plans whose provider the manifests changed (another kind or alias) or pointed
/// elsewhere (another region, endpoint or cloud than the one the state recorded): planform does
/// not move plans, so these are refused. Pure, and cheap enough to run before any request (a
/// refresh of the new place would only find the plans missing). `locations` says where each
/// configured provider points now; a state entry written before planform recorded locations is
/// taken to be where its provider points. `destroy` checks locations only: it works through the
/// state's provider, whatever the manifests say.
pub fn provider_moves(
    desired: &DesiredState,
    state: &State,
    locations: &BTreeMap<ProviderRef, String>,
    destroy: bool,
) -> Vec<DiffError> {
    let mut errors = vec![];
    for (address, m) in &state.plans {
        if !destroy {
            if let Some(d) = desired
                .plans
                .get(address)
                .filter(|d| d.provider != m.provider)
            {
                errors.push(DiffError::ProviderChanged {
                    address: address.clone(),
                    plan_id: m.plan_id.clone(),
                    from: m.provider.clone(),
                    to: d.provider.clone(),
                });
                continue;
            }
        }
        if let (Some(from), Some(to)) = (&m.location, locations.get(&m.provider)) {
            if from != to {
                errors.push(DiffError::ProviderMoved {
                    address: address.clone(),
                    plan_id: m.plan_id.clone(),
                    provider: m.provider.clone(),
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
    }
    errors
}

/// The managed plans recorded in another account than the one their provider's credentials act
/// in now (`accounts`, from a refresh: [`LiveSnapshot::accounts`]): that account's cloud does
/// not hold them, and planform would otherwise take them for deleted and make them again in
/// the wrong account. Refused, as [`provider_moves`] refuses another location; `destroy` too
/// (it would terminate nothing, or the wrong thing). A plan recorded without an account (a
/// state written before planform recorded accounts) is accepted, and gains it at this refresh
/// ([`absorb`]). Pure.
pub fn account_changes(state: &State, accounts: &BTreeMap<ProviderRef, String>) -> Vec<DiffError> {
    state
        .plans
        .iter()
        .filter_map(|(address, m)| {
            let (from, to) = (m.account.as_ref()?, accounts.get(&m.provider)?);
            (from != to).then(|| DiffError::AccountChanged {
                address: address.clone(),
                plan_id: m.plan_id.clone(),
                provider: m.provider.clone(),
                from: from.clone(),
                to: to.clone(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// `planform destroy`: every managed address goes.
    pub destroy: bool,
    /// `--target`: only these (with their dependencies).
    pub targets: Vec<Address>,
    /// `--replace`: these addresses are replaced (their plan deleted and created again, updating
    /// the launched product) even when nothing changed.
    pub replace: BTreeSet<Address>,
    /// What each configured provider can do (see [`crate::capabilities`]); a provider missing
    /// here is taken to have the capabilities of its kind's API.
    pub capabilities: BTreeMap<ProviderRef, Capabilities>,
    /// Where each configured provider points now (see [`provider_moves`]); a provider missing
    /// here is not checked.
    pub locations: BTreeMap<ProviderRef, String>,
}

impl DiffOptions {
    fn capabilities_of(&self, provider: &ProviderRef) -> Capabilities {
        capabilities_of(&self.capabilities, provider)
    }
}

/// What `provider` can do: as its service reported it, or else as its kind's API can.
pub(crate) fn capabilities_of(
    known: &BTreeMap<ProviderRef, Capabilities>,
    provider: &ProviderRef,
) -> Capabilities {
    known
        .get(provider)
        .copied()
        .unwrap_or_else(|| Capabilities::of(provider.kind))
}

/// The name of the plan that terminates the product launched by a plan named `name`.
fn terminate_plan_name(name: &str) -> String {
    format!("terminate-{name}").chars().take(128).collect()
}

/// The attributes where `after` differs from `before`, `ignore_changes` left out.
pub fn compare(
    d: &DesiredPlan,
    after: &PlanInputs,
    before: &PlanInputs,
    capabilities: Capabilities,
) -> Vec<AttrDiff> {
    let ignored = |attr: &str, key: Option<&str>| {
        d.ignore_changes
            .iter()
            .any(|p| p.attribute == attr && (p.key.is_none() || p.key.as_deref() == key))
    };
    let replace_fields: &[&str] = if capabilities.update_in_place {
        &["name", "provisioned_product_name", "stack_region_id"]
    } else {
        // Without in-place updates, notification ARNs can only change with a new plan.
        &[
            "name",
            "provisioned_product_name",
            "stack_region_id",
            "notification_arns",
        ]
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
    // Left out of the manifests, the portfolio is the cloud's choice (the product's default
    // launch option) and the cloud reports the one it chose: only a named portfolio is compared.
    // (Drift, which compares the other way round, leaves out what planform left to the cloud.)
    if after.portfolio_id.is_some() {
        scalar(
            "portfolio_id",
            before.portfolio_id.as_ref(),
            after.portfolio_id.as_ref(),
        );
    }
    scalar(
        "provisioned_product_name",
        Some(&before.provisioned_product_name),
        Some(&after.provisioned_product_name),
    );
    if capabilities.stack_regions {
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
            .filter(|k| attr != "tags" || !ownership::is_ownership_tag(k))
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

/// The address a provider-move refusal is about.
fn moved_address(e: &DiffError) -> Option<Address> {
    match e {
        DiffError::ProviderChanged { address, .. }
        | DiffError::ProviderMoved { address, .. }
        | DiffError::AccountChanged { address, .. } => Some(address.clone()),
        _ => None,
    }
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
    // Adding `count` to a plan (`plan.x` → `plan.x[0]`) or removing it (`plan.x[0]` → `plan.x`)
    // keeps its plan, as Terraform moves the object by itself; an explicit `moved` of the
    // address wins.
    let implicit: Vec<planform_model::Moved> = state
        .plans
        .keys()
        .filter(|a| {
            !desired.plans.contains_key(*a)
                && !desired.moved.iter().any(|m| m.destination(a).is_some())
        })
        .filter_map(|a| {
            let other = match &a.key {
                planform_model::InstanceKey::None => {
                    Address::with_key(a.name.clone(), planform_model::InstanceKey::Int(0))
                }
                planform_model::InstanceKey::Int(0) => Address::new(a.name.clone()),
                _ => return None,
            };
            (desired.plans.contains_key(&other) && !state.plans.contains_key(&other)).then(|| {
                planform_model::Moved {
                    from: a.clone(),
                    to: other,
                }
            })
        })
        .collect();
    for m in implicit.iter().chain(&desired.moved) {
        let moving: Vec<(Address, Address)> = state
            .plans
            .keys()
            .filter_map(|a| m.destination(a).map(|to| (a.clone(), to)))
            .collect();
        for (from, to) in moving {
            if state.plans.contains_key(&to) {
                errors.push(DiffError::Unsupported {
                    address: from.clone(),
                    message: format!(
                        "moved: {to} is managed already, so {from} cannot move there; remove the moved block or `planform state rm` one of them"
                    ),
                });
                continue;
            }
            let p = state.to_mut().plans.remove(&from).expect("listed");
            state.to_mut().plans.insert(to.clone(), p);
            if let Some(l) = live.to_mut().plans.remove(&from) {
                live.to_mut().plans.insert(to.clone(), l);
            }
            out.moved.push((from, to));
        }
    }
    let state: &State = &state;
    let live: &LiveSnapshot = &live;
    for r in &options.replace {
        if !desired.plans.contains_key(r) {
            errors.push(DiffError::UnknownReplace(r.clone()));
        } else if !matches!(live.plans.get(r), Some(LiveEntry::Present(_))) {
            errors.push(DiffError::NothingToReplace(r.clone()));
        }
    }
    let mut changing: BTreeSet<Address> = BTreeSet::new();
    let mut moves = provider_moves(desired, state, &options.locations, options.destroy);
    moves.extend(account_changes(state, &live.accounts));
    let moved: BTreeSet<Address> = moves.iter().filter_map(moved_address).collect();
    errors.extend(moves);
    if !options.destroy {
        for address in topo(desired) {
            let d = &desired.plans[address];
            if moved.contains(address) {
                continue;
            }
            let caps = options.capabilities_of(&d.provider);
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
                // A terminate plan left unfinished by an interrupted destroy is that run's step,
                // not what the manifests want: abandon it and keep the product (updated to the
                // manifests), or, if it is already terminating the product, launch it again.
                Some(LiveEntry::Present(l))
                    if l.operation_type == OperationType::TerminateProvisionedProduct
                        && l.status != PlanStatus::ExecuteSuccess =>
                {
                    let terminating = l.status == PlanStatus::ExecuteInProgress;
                    Some(base(
                        Action::Replace {
                            update_existing: !terminating,
                            execute: d.execute,
                        },
                        Some(if terminating {
                            format!("an interrupted destroy is terminating the product ({}); it is launched again", l.id)
                        } else {
                            format!("an interrupted destroy left terminate plan {} ({}); it is deleted and the product kept", l.id, l.status)
                        }),
                        None,
                        vec![],
                        Some(l),
                    ))
                }
                Some(LiveEntry::Present(l)) => {
                    let diffs = compare(d, &after, &l.inputs, caps);
                    let replace = diffs.iter().any(|x| x.forces_replacement);
                    let changed = !diffs.is_empty();
                    let in_place = caps.update_in_place;
                    let reason = changed.then(|| {
                        let names: Vec<&str> = diffs.iter().map(|x| x.path.as_str()).collect();
                        format!("{} changed", names.join(", "))
                    });
                    let exec = d.execute;
                    let launched_product =
                        l.operation_type != OperationType::TerminateProvisionedProduct;
                    // A plan replaced before it ran updates the product when it was an update,
                    // or when this address launched its product before (AWS plans do not say
                    // which operation they are: a failed update plan reads as a launch).
                    let updates_product = l.operation_type
                        == OperationType::UpdateProvisionedProduct
                        || managed.is_some_and(|m| m.launched);
                    let action = match l.status {
                        PlanStatus::PreviewInProgress | PlanStatus::ExecuteInProgress if !changed || l.status == PlanStatus::ExecuteInProgress => Some(Action::Wait { execute: exec }),
                        PlanStatus::ExecuteSuccess if changed && replace && diffs.iter().any(|x| x.path == "provisioned_product_name" || x.path == "stack_region_id") => {
                            errors.push(DiffError::Unsupported {
                                address: address.clone(),
                                message: "provisioned_product_name and stack_region_id of a launched product cannot change; to launch another product, declare the plan at a new address (removing this one terminates its product)".into(),
                            });
                            None
                        }
                        PlanStatus::ExecuteSuccess if changed && launched_product => Some(Action::UpdateProduct { execute: exec, delete_executed_first: caps.one_plan_per_product }),
                        PlanStatus::ExecuteSuccess if !launched_product => Some(Action::Create { update_existing: false, execute: exec }),
                        PlanStatus::ExecuteSuccess => None,
                        PlanStatus::ExecuteFailed if in_place && !replace => Some(Action::Retry),
                        PlanStatus::ExecuteFailed => Some(Action::Replace { update_existing: true, execute: exec }),
                        PlanStatus::PreviewFailed if !changed => Some(Action::Blocked {
                            message: format!("the cloud rejected these inputs: {}", l.status_message.clone().unwrap_or_else(|| "preview failed".into())),
                        }),
                        PlanStatus::ApplicationRejected if !changed => Some(Action::Blocked { message: "the plan's approval was rejected; change its inputs to submit it again".into() }),
                        PlanStatus::ApplicationInProgress if !changed => Some(Action::AwaitApproval),
                        PlanStatus::ApplicationInProgress => Some(Action::Replace { update_existing: updates_product, execute: exec }),
                        PlanStatus::ApplicationApproved if !changed => exec.then_some(Action::Execute),
                        PlanStatus::PreviewSuccess if !changed => exec.then_some(Action::Execute),
                        PlanStatus::Canceled if !changed => Some(Action::Replace { update_existing: updates_product, execute: exec }),
                        _ if replace || !in_place || l.status == PlanStatus::ApplicationApproved || l.status == PlanStatus::Canceled => {
                            Some(Action::Replace { update_existing: updates_product, execute: exec })
                        }
                        _ => Some(Action::UpdateInPlace { execute: exec }),
                    };
                    // `--replace`: replace exactly this address, whatever else would happen,
                    // unless an operation is running (apply waits for it; replace next time).
                    let action = match action {
                        Some(Action::Wait { .. }) | Some(Action::Replace { .. }) => action,
                        _ if options.replace.contains(address) => Some(Action::Replace {
                            update_existing: updates_product
                                || matches!(
                                    l.status,
                                    PlanStatus::ExecuteSuccess | PlanStatus::ExecuteFailed
                                ),
                            execute: exec,
                        }),
                        other => other,
                    };
                    let replace_requested = options.replace.contains(address)
                        && matches!(action, Some(Action::Replace { .. }));
                    action.map(|a| {
                        let reason = match &a {
                            _ if replace_requested => Some(match reason {
                                Some(r) => format!("{r}; replacement requested with --replace"),
                                None => "replacement requested with --replace".to_string(),
                            }),
                            Action::Retry => Some(format!(
                                "the last execution failed: {}",
                                l.status_message.clone().unwrap_or_default()
                            )),
                            _ => reason,
                        };
                        // The product is gone, terminated by the plan the address holds (a
                        // destroy killed before it recorded the end, or someone outside): a
                        // launch anew, not a change of that terminate plan's inputs.
                        if !launched_product && matches!(a, Action::Create { .. }) {
                            return base(
                                a,
                                Some(format!("{} terminated its product", l.id)),
                                None,
                                vec![],
                                Some(l),
                            );
                        }
                        base(
                            a,
                            reason,
                            Some(ownership::strip(l.inputs.clone())),
                            diffs,
                            Some(l),
                        )
                    })
                }
            };
            if let Some(c) = change {
                // Replacing a terminate plan an interrupted destroy left keeps the product.
                let abandons_terminate = matches!(
                    entry,
                    Some(LiveEntry::Present(l))
                        if l.operation_type == OperationType::TerminateProvisionedProduct
                );
                if matches!(c.action, Action::Replace { .. })
                    && d.prevent_destroy
                    && !abandons_terminate
                {
                    errors.push(DiffError::PreventDestroy {
                        address: address.clone(),
                        action: "replacement".into(),
                    });
                }
                // A replacement asked for with `--replace` of an unchanged plan that updates
                // the same product leaves its outputs as they are: dependents see no change.
                let same_product = options.replace.contains(address)
                    && c.diffs.is_empty()
                    && matches!(
                        c.action,
                        Action::Replace {
                            update_existing: true,
                            ..
                        }
                    );
                if !same_product {
                    changing.insert(address.clone());
                }
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
        let terminate_via =
            |product_plan_name: &str| match options.capabilities_of(&m.provider).terminate_via {
                TerminateVia::Plan => Termination::Plan {
                    name: terminate_plan_name(product_plan_name),
                },
                TerminateVia::Direct => Termination::Direct,
            };
        let action = match l {
            None => Action::Forget,
            // A terminate plan an interrupted destroy left unfinished: carry it on.
            Some(l)
                if l.operation_type == OperationType::TerminateProvisionedProduct
                    && (l.status.in_progress()
                        || matches!(
                            l.status,
                            PlanStatus::PreviewSuccess | PlanStatus::ApplicationApproved
                        )) =>
            {
                Action::Terminate {
                    via: Termination::Resume {
                        plan_id: l.id.clone(),
                    },
                }
            }
            // One that failed: terminate again with a new plan named after the product's.
            Some(l)
                if l.operation_type == OperationType::TerminateProvisionedProduct
                    && l.status != PlanStatus::ExecuteSuccess =>
            {
                let name = m.applied.as_ref().map_or_else(
                    || l.inputs.name.trim_start_matches("terminate-").to_string(),
                    |a| a.name.clone(),
                );
                Action::Terminate {
                    via: terminate_via(&name),
                }
            }
            Some(l)
                if m.launched
                    || l.status == PlanStatus::ExecuteSuccess
                    || l.status == PlanStatus::ExecuteFailed =>
            {
                if l.operation_type == OperationType::TerminateProvisionedProduct
                    && l.status == PlanStatus::ExecuteSuccess
                {
                    Action::Forget
                } else {
                    Action::Terminate {
                        via: terminate_via(&l.inputs.name),
                    }
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
            before: l.map(|l| ownership::strip(l.inputs.clone())),
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
    // A product one address would take over (create, updating the existing product) while
    // another address terminates it: both would run, and the product would be lost. Refused,
    // with the way to say what was meant.
    for c in &out.changes {
        let (
            Action::Create {
                update_existing: true,
                ..
            },
            Some(after),
        ) = (&c.action, &c.after)
        else {
            continue;
        };
        let name = &after.provisioned_product_name;
        if let Some(t) = out.changes.iter().find(|t| {
            matches!(t.action, Action::Terminate { .. })
                && t.provider == c.provider
                && t.before
                    .as_ref()
                    .is_some_and(|b| &b.provisioned_product_name == name)
        }) {
            errors.push(DiffError::Unsupported {
                address: c.address.clone(),
                message: format!(
                    "it would take over the existing product {name:?} while {} terminates it, and the product would be lost; if {} is {} under a new address, say so with `moved {{ from = {}, to = {} }}`, else give it another provisioned_product_name",
                    t.address, c.address, t.address, t.address, c.address
                ),
            });
        }
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
            // A target names a declared or managed address: a whole plan by its name, or one
            // instance by its exact key (a mistyped key is an error, not "no changes").
            let known = desired.plans.keys().chain(state.plans.keys()).any(|a| {
                a == t || (t.key == planform_model::InstanceKey::None && a.name == t.name)
            });
            if matched.is_empty() && !known {
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
