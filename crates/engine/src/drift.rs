//! Drift: what changed in the cloud outside planform, compared with the state (what planform
//! last applied) and the manifests. Pure: the CLI does the reads.

use std::collections::BTreeMap;

use planform_model::{
    Address, Capabilities, DesiredState, PlanStatus, ProviderRef, ProvisionedProduct,
};
use planform_state::{ManagedPlan, State};

use crate::diff::{capabilities_of, compare, LiveEntry, LiveSnapshot};
use crate::AttrDiff;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftKind {
    /// The plan is gone from the cloud.
    Deleted,
    /// The plan's inputs differ from what planform applied.
    Changed,
    /// The plan is in a failed or rejected status.
    Status,
    /// The launched product is in error or was terminated outside planform.
    Product,
    /// A plan with this workspace's ownership tag that no state or manifest knows and that still
    /// matters: it can still act, or holds a live product no address manages.
    Unmanaged,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Deleted => "deleted",
            DriftKind::Changed => "changed",
            DriftKind::Status => "status",
            DriftKind::Product => "product",
            DriftKind::Unmanaged => "unmanaged",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DriftItem {
    pub address: String,
    pub kind: DriftKind,
    pub plan_id: Option<String>,
    pub message: String,
    pub diffs: Vec<AttrDiff>,
}

/// The launched product of each address as read now: `None` when it no longer exists.
pub type Products = BTreeMap<Address, Option<ProvisionedProduct>>;

/// Compares the cloud with the state and the manifests. `ignore` holds `ADDR` or `ADDR.ATTR`;
/// `capabilities` are the providers' (see [`crate::capabilities`]), as the diff takes them.
pub fn drift(
    desired: &DesiredState,
    state: &State,
    live: &LiveSnapshot,
    products: &Products,
    ignore: &[String],
    capabilities: &BTreeMap<ProviderRef, Capabilities>,
) -> Vec<DriftItem> {
    let ignored = |a: &str, attr: Option<&str>| {
        ignore.iter().any(|i| {
            i == a
                || attr.is_some_and(|x| {
                    *i == format!("{a}.{x}")
                        || i.starts_with(&format!("{a}.{}", x.split('[').next().unwrap_or(x)))
                })
        })
    };
    let mut out = Vec::new();
    for (address, m) in &state.plans {
        let a = address.to_string();
        if ignored(&a, None) {
            continue;
        }
        match live.plans.get(address) {
            Some(LiveEntry::Gone) => out.push(DriftItem {
                address: a.clone(),
                kind: DriftKind::Deleted,
                plan_id: Some(m.plan_id.clone()),
                message: format!("{} was deleted outside planform", m.plan_id),
                diffs: vec![],
            }),
            // A plan planform sent and is still running (an apply in flight beside this drift,
            // or one interrupted while the cloud goes on): planform's own change, not drift.
            Some(LiveEntry::Present(l))
                if l.status.in_progress() && crate::diff::asked_is_live(m, l) => {}
            Some(LiveEntry::Present(l)) => {
                let failed = l.status.failed();
                let mut changed = vec![];
                // What the plan is compared with: what was applied, or, for a plan planform
                // sent that the cloud accepted but the run ended before recording, what was
                // sent (a failed one keeps the comparison with what was applied: its
                // differences are what did not take).
                let reference = if !failed && crate::diff::asked_is_live(m, l) {
                    m.asked.as_ref()
                } else {
                    m.applied.as_ref()
                };
                if let Some(reference) = reference {
                    changed = differences(desired, address, m, reference, l, capabilities)
                        .into_iter()
                        .filter(|d| !ignored(&a, Some(&d.path)))
                        .collect();
                }
                if failed {
                    // A failed plan that differs from what was applied is an update that did
                    // not take (whoever sent it: planform, or someone who updated this plan),
                    // so its differences go with its status, not a change of the product.
                    let why = l
                        .status_message
                        .as_deref()
                        .map(|m| format!(": {}", m.trim_end_matches('.')))
                        .unwrap_or_default();
                    let asked = if changed.is_empty() {
                        String::new()
                    } else {
                        let paths: Vec<&str> = changed.iter().map(|d| d.path.as_str()).collect();
                        let taken = if l.status == PlanStatus::ExecuteFailed {
                            "which its failed execution may have partly applied"
                        } else {
                            "which was not applied"
                        };
                        format!("; it asks for {}, {taken}", paths.join(", "))
                    };
                    out.push(DriftItem {
                        address: a.clone(),
                        kind: DriftKind::Status,
                        plan_id: Some(l.id.clone()),
                        message: format!("{} is {}{why}{asked}", l.id, l.status),
                        diffs: changed,
                    });
                } else if !changed.is_empty() {
                    let paths: Vec<&str> = changed.iter().map(|d| d.path.as_str()).collect();
                    out.push(DriftItem {
                        address: a.clone(),
                        kind: DriftKind::Changed,
                        plan_id: Some(l.id.clone()),
                        message: format!("changed outside planform: {}", paths.join(", ")),
                        diffs: changed,
                    });
                }
                if let Some(p) = products.get(address) {
                    match p {
                        None => out.push(DriftItem {
                            address: a.clone(),
                            kind: DriftKind::Product,
                            plan_id: Some(l.id.clone()),
                            message: format!(
                                "product {} was terminated outside planform",
                                m.provisioned_product_id.clone().unwrap_or_default()
                            ),
                            diffs: vec![],
                        }),
                        Some(p)
                            if p.status.eq_ignore_ascii_case("Error") || p.status == "TAINTED" =>
                        {
                            out.push(DriftItem {
                                address: a.clone(),
                                kind: DriftKind::Product,
                                plan_id: Some(l.id.clone()),
                                message: format!(
                                    "product {} is in {}{}",
                                    p.id,
                                    p.status,
                                    p.status_message
                                        .clone()
                                        .map(|m| format!(": {m}"))
                                        .unwrap_or_default()
                                ),
                                diffs: vec![],
                            })
                        }
                        Some(_) => {}
                    }
                }
            }
            None => {}
        }
    }
    for (address, p) in &live.updated_outside {
        let a = address.to_string();
        let Some(m) = state.plans.get(address) else {
            continue;
        };
        if ignored(&a, None) {
            continue;
        }
        let diffs: Vec<AttrDiff> = match &m.applied {
            Some(applied) => differences(desired, address, m, applied, p, capabilities)
                .into_iter()
                // What the product runs with; the other plan's own name and description are
                // not the product's.
                .filter(|d| d.path.starts_with("parameters") || d.path == "product_version_id")
                .filter(|d| !ignored(&a, Some(&d.path)))
                .collect(),
            None => vec![],
        };
        let paths: Vec<&str> = diffs.iter().map(|d| d.path.as_str()).collect();
        let what = if paths.is_empty() {
            String::new()
        } else {
            format!(": {}", paths.join(", "))
        };
        out.push(DriftItem {
            address: a.clone(),
            kind: DriftKind::Changed,
            plan_id: Some(p.id.clone()),
            message: format!(
                "product {} was updated outside planform by {}{what}; `planform apply --replace {a}` gives it the manifests' values again",
                p.provisioned_product_id.clone().unwrap_or_default(),
                p.id
            ),
            diffs,
        });
    }
    for (claimed, id) in &live.unmanaged {
        if !ignored(claimed, None) {
            out.push(DriftItem {
                address: claimed.clone(),
                kind: DriftKind::Unmanaged,
                plan_id: Some(id.clone()),
                message: unmanaged_message(id, &state.workspace),
                diffs: vec![],
            });
        }
    }
    out.sort_by(|a, b| (&a.address, a.kind).cmp(&(&b.address, b.kind)));
    out
}

/// How the live plan `l` of `address` differs from `reference` (what was applied, or sent):
/// compared as the diff compares, with the plan's ownership tags left out, a portfolio planform
/// left to the cloud taken as the cloud's choice, and sensitive values compared where known.
fn differences(
    desired: &DesiredState,
    address: &Address,
    m: &ManagedPlan,
    reference: &planform_model::PlanInputs,
    l: &planform_model::LivePlan,
    capabilities: &BTreeMap<ProviderRef, Capabilities>,
) -> Vec<AttrDiff> {
    let mut now = planform_model::ownership::strip(l.inputs.clone());
    if reference.portfolio_id.is_none() {
        now.portfolio_id = None;
    }
    let reference = &with_sensitive_reference(desired, address, m, reference, &mut now);
    let mut shape = desired
        .plans
        .get(address)
        .cloned()
        .unwrap_or_else(|| placeholder(address, m));
    shape.ignore_changes.clear();
    shape.sensitive_parameters = m.sensitive_parameters.clone();
    compare(
        &shape,
        &now,
        reference,
        capabilities_of(capabilities, &m.provider),
    )
}

/// The `--ignore` entries (`ADDR` or `ADDR.ATTR`) that name no address drift knows: none of the
/// state, the manifests or the unmanaged plans found. Such an entry silences nothing, most
/// likely a typo; the CLI warns rather than refuse, so an ignore left behind by an address since
/// removed does not break a scheduled drift check.
pub fn ignores_matching_nothing(
    desired: &DesiredState,
    state: &State,
    live: &LiveSnapshot,
    ignore: &[String],
) -> Vec<String> {
    let known: Vec<String> = state
        .plans
        .keys()
        .chain(desired.plans.keys())
        .map(Address::to_string)
        .chain(live.unmanaged.iter().map(|(claimed, _)| claimed.clone()))
        .collect();
    ignore
        .iter()
        .filter(|i| {
            !known.iter().any(|a| {
                *i == a
                    || i.strip_prefix(a.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
        .cloned()
        .collect()
}

/// Why an unmanaged plan is drift, naming the workspace whose ownership tag it carries (under
/// the default workspace, likely another directory's; the CLI says so once).
fn unmanaged_message(id: &str, workspace: &str) -> String {
    format!(
        "{id} carries the ownership tag of workspace `{workspace}` and can still act or holds a live product, but is in neither the state nor the manifests"
    )
}

/// What a sensitive parameter's live value is compared with: the applied value where the state
/// keeps it (encrypted), else the manifests' value where it is known; with neither, the
/// parameter is left out of the comparison (see [`drift_unverifiable`]).
fn with_sensitive_reference(
    desired: &DesiredState,
    address: &Address,
    m: &ManagedPlan,
    applied: &planform_model::PlanInputs,
    now: &mut planform_model::PlanInputs,
) -> planform_model::PlanInputs {
    let mut reference = applied.clone();
    for k in &m.sensitive_parameters {
        if reference.parameters.contains_key(k) {
            continue;
        }
        match manifests_value(desired, address, k) {
            Some(v) => {
                reference.parameters.insert(k.clone(), v.clone());
            }
            None => {
                now.parameters.remove(k);
            }
        }
    }
    reference
}

/// The manifests' value of parameter `k` at `address`, when the manifests set it to a known value.
fn manifests_value<'a>(
    desired: &'a DesiredState,
    address: &Address,
    k: &str,
) -> Option<&'a String> {
    desired
        .plans
        .get(address)
        .and_then(|d| d.inputs.parameters.get(k))
        .filter(|v| planform_model::is_known(v))
}

/// The sensitive parameters [`drift`] cannot compare: the state does not keep their values (it
/// is not encrypted) and the manifests do not give one (the address left them, or the value is
/// known only after apply): `ADDR.parameters["KEY"]`. The CLI says so rather than stay silent.
pub fn drift_unverifiable(desired: &DesiredState, state: &State) -> Vec<String> {
    let mut out = Vec::new();
    for (address, m) in &state.plans {
        let Some(applied) = &m.applied else {
            continue;
        };
        for k in &m.sensitive_parameters {
            if !applied.parameters.contains_key(k) && manifests_value(desired, address, k).is_none()
            {
                out.push(format!("{address}.parameters[{k:?}]"));
            }
        }
    }
    out
}

fn placeholder(address: &Address, m: &planform_state::ManagedPlan) -> planform_model::DesiredPlan {
    planform_model::DesiredPlan {
        address: address.clone(),
        provider: m.provider.clone(),
        inputs: Default::default(),
        sensitive_parameters: m.sensitive_parameters.clone(),
        execute: false,
        depends_on: Default::default(),
        prevent_destroy: false,
        ignore_changes: vec![],
        timeouts: Default::default(),
        location: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use planform_model::{Capabilities, PlanStatus, ProviderKind};

    use super::*;
    use crate::diff::compare;
    use crate::LiveEntry;

    fn plan(portfolio: Option<&str>) -> planform_model::DesiredPlan {
        let mut d = placeholder(
            &Address::new("app"),
            &planform_state::ManagedPlan::new(
                ProviderRef::default_for(ProviderKind::Sandbox),
                "plan-1",
            ),
        );
        d.inputs.name = "app".into();
        d.inputs.portfolio_id = portfolio.map(str::to_string);
        d
    }

    /// Issue 12 (7): Alibaba reports the portfolio it chose for a plan that named none; that is
    /// neither a change to plan nor drift, while a named portfolio is still compared.
    #[test]
    fn a_portfolio_left_to_the_cloud_is_not_a_change_or_drift() {
        let chosen = plan(Some("port-default"));
        let unnamed = plan(None);
        let caps = Capabilities::ALIBABA;
        assert!(compare(&unnamed, &unnamed.inputs, &chosen.inputs, caps).is_empty());
        let other = plan(Some("port-other"));
        let diffs = compare(&other, &other.inputs, &chosen.inputs, caps);
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].path, "portfolio_id");

        let address = Address::new("app");
        let mut state = State::new("ws", "lin".into());
        let mut m = planform_state::ManagedPlan::new(unnamed.provider.clone(), "plan-1");
        m.applied = Some(unnamed.inputs.clone());
        state.plans.insert(address.clone(), m);
        let mut live = LiveSnapshot::default();
        let mut l = planform_model::LivePlan {
            id: "plan-1".into(),
            inputs: chosen.inputs.clone(),
            operation_type: planform_model::OperationType::LaunchProduct,
            status: PlanStatus::PreviewSuccess,
            raw_status: "PreviewSuccess".into(),
            status_message: None,
            provisioned_product_id: None,
            stack_id: None,
            create_time: String::new(),
            update_time: String::new(),
        };
        live.plans
            .insert(address.clone(), LiveEntry::Present(l.clone()));
        let desired = DesiredState::default();
        let caps_of = BTreeMap::from([(unnamed.provider.clone(), caps)]);
        let found = drift(&desired, &state, &live, &Products::new(), &[], &caps_of);
        assert!(found.is_empty(), "{found:?}");
        // What planform named and the cloud changed is drift.
        state.plans.get_mut(&address).unwrap().applied = Some(other.inputs.clone());
        l.inputs = chosen.inputs.clone();
        live.plans.insert(address, LiveEntry::Present(l));
        let found = drift(&desired, &state, &live, &Products::new(), &[], &caps_of);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    /// Issue 12 (trial 2 B1): an update whose preview failed leaves the state naming the failed
    /// plan and the inputs applied before it. Its differences are the update that did not take,
    /// reported with its status, never as a change made outside planform; a plan that differs
    /// and did not fail is still changed outside planform.
    #[test]
    fn a_failed_update_is_its_status_not_a_change_outside_planform() {
        let address = Address::new("app");
        let applied = plan(None);
        let mut live_inputs = applied.inputs.clone();
        live_inputs.product_version_id = "pv-old".into();
        let mut state = State::new("ws", "lin".into());
        let mut m = planform_state::ManagedPlan::new(applied.provider.clone(), "plan-2");
        m.applied = Some(applied.inputs.clone());
        state.plans.insert(address.clone(), m);
        let live_as = |status: PlanStatus| {
            let mut live = LiveSnapshot::default();
            live.plans.insert(
                address.clone(),
                LiveEntry::Present(planform_model::LivePlan {
                    id: "plan-2".into(),
                    inputs: live_inputs.clone(),
                    operation_type: planform_model::OperationType::UpdateProvisionedProduct,
                    status,
                    raw_status: status.to_string(),
                    status_message: Some("not one of the AllowedValues".into()),
                    provisioned_product_id: None,
                    stack_id: None,
                    create_time: String::new(),
                    update_time: String::new(),
                }),
            );
            live
        };
        let caps = BTreeMap::from([(applied.provider.clone(), Capabilities::ALIBABA)]);
        let desired = DesiredState::default();
        let run = |status| {
            drift(
                &desired,
                &state,
                &live_as(status),
                &Products::new(),
                &[],
                &caps,
            )
        };

        let found = run(PlanStatus::PreviewFailed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, DriftKind::Status);
        assert_eq!(
            found[0].message,
            "plan-2 is PreviewFailed: not one of the AllowedValues; it asks for product_version_id, which was not applied"
        );
        assert_eq!(found[0].diffs.len(), 1);
        assert_eq!(found[0].diffs[0].path, "product_version_id");
        let found = run(PlanStatus::ExecuteFailed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0]
            .message
            .ends_with("which its failed execution may have partly applied"));

        let found = run(PlanStatus::PreviewSuccess);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, DriftKind::Changed);
        assert_eq!(
            found[0].message,
            "changed outside planform: product_version_id"
        );

        // Trial 3 F1, F4: the same plan with what planform sent for it recorded (`asked`), the
        // run ended before recording it as applied: planform's own, in flight or accepted, so
        // no drift; a failed one still reports what did not take.
        let mut sent = state.clone();
        sent.plans.get_mut(&address).unwrap().asked = Some(live_inputs.clone());
        let run_sent = |status| {
            drift(
                &desired,
                &sent,
                &live_as(status),
                &Products::new(),
                &[],
                &caps,
            )
        };
        assert!(run_sent(PlanStatus::ExecuteInProgress).is_empty());
        assert!(run_sent(PlanStatus::PreviewSuccess).is_empty());
        assert!(run_sent(PlanStatus::ExecuteSuccess).is_empty());
        let found = run_sent(PlanStatus::PreviewFailed);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, DriftKind::Status);
        assert_eq!(found[0].diffs[0].path, "product_version_id");
        // What was sent for another plan is not this one's.
        sent.plans.get_mut(&address).unwrap().plan_id = "plan-1".into();
        let found = drift(
            &desired,
            &sent,
            &live_as(PlanStatus::PreviewSuccess),
            &Products::new(),
            &[],
            &caps,
        );
        assert_eq!(found.len(), 1, "{found:?}");
    }

    /// Issue 16 (5): the state keeps no digest of a sensitive value. Without encryption it keeps
    /// only that the parameter is set: drift compares the live value with the manifests' (and
    /// says when it cannot), and `plan --refresh=false` takes it as unchanged (and says so);
    /// with the value kept (an encrypted state), both compare with it.
    #[test]
    fn sensitive_values_compare_with_the_manifests_or_are_said_to_be_unverifiable() {
        let address = Address::new("app");
        let mut wanted = plan(None);
        wanted
            .inputs
            .parameters
            .insert("password".into(), "hunter2".into());
        wanted.sensitive_parameters.insert("password".into());
        let desired = DesiredState {
            plans: [(address.clone(), wanted.clone())].into(),
            ..DesiredState::default()
        };
        let mut state = State::new("ws", "lin".into());
        let mut m = planform_state::ManagedPlan::new(wanted.provider.clone(), "plan-1");
        m.sensitive_parameters.insert("password".into());
        m.applied = Some(planform_state::redact(
            "lin",
            &wanted.inputs,
            &m.sensitive_parameters,
        ));
        state.plans.insert(address.clone(), m);
        let live_with = |password: &str| {
            let mut inputs = wanted.inputs.clone();
            inputs
                .parameters
                .insert("password".into(), password.to_string());
            let mut live = LiveSnapshot::default();
            live.plans.insert(
                address.clone(),
                LiveEntry::Present(planform_model::LivePlan {
                    id: "plan-1".into(),
                    inputs,
                    operation_type: planform_model::OperationType::LaunchProduct,
                    status: PlanStatus::ExecuteSuccess,
                    raw_status: "ExecuteSuccess".into(),
                    status_message: None,
                    provisioned_product_id: None,
                    stack_id: None,
                    create_time: String::new(),
                    update_time: String::new(),
                }),
            );
            live
        };
        let caps = BTreeMap::from([(wanted.provider.clone(), Capabilities::ALIBABA)]);
        let run = |desired: &DesiredState, state: &State, live: &str| {
            drift(
                desired,
                state,
                &live_with(live),
                &Products::new(),
                &[],
                &caps,
            )
        };

        // Plaintext state: the live value is compared with the manifests'.
        assert!(run(&desired, &state, "hunter2").is_empty());
        let found = run(&desired, &state, "changed");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].diffs[0].path, "parameters[\"password\"]");
        assert!(found[0].diffs[0].sensitive, "masked when shown");
        assert!(drift_unverifiable(&desired, &state).is_empty());
        // Without the address in the manifests there is nothing to compare with: no drift
        // claimed, and the CLI is told it could not tell.
        let none = DesiredState::default();
        assert!(run(&none, &state, "changed").is_empty());
        assert_eq!(
            drift_unverifiable(&none, &state),
            ["plan.app.parameters[\"password\"]"]
        );

        // `plan --refresh=false`: taken as unchanged, and listed for the plan to say so.
        let stored = crate::stored_snapshot(&desired, &state);
        let LiveEntry::Present(l) = &stored.plans[&address] else {
            panic!("present");
        };
        assert_eq!(l.inputs.parameters["password"], "hunter2");
        assert_eq!(
            crate::unverified_sensitive(&desired, &state),
            ["plan.app.parameters[\"password\"]"]
        );
        // Removed from the manifests: still a change to show, with no value to show.
        let mut dropped = desired.clone();
        dropped
            .plans
            .get_mut(&address)
            .unwrap()
            .inputs
            .parameters
            .clear();
        let stored = crate::stored_snapshot(&dropped, &state);
        let LiveEntry::Present(l) = &stored.plans[&address] else {
            panic!("present");
        };
        assert_eq!(l.inputs.parameters["password"], "(sensitive value)");

        // An encrypted state keeps the value: both compare with it, and nothing is unverified.
        state.plans.get_mut(&address).unwrap().applied = Some(wanted.inputs.clone());
        assert!(run(&none, &state, "hunter2").is_empty());
        assert_eq!(run(&none, &state, "changed").len(), 1);
        assert!(drift_unverifiable(&none, &state).is_empty());
        assert!(crate::unverified_sensitive(&desired, &state).is_empty());
        let mut rotated = desired.clone();
        rotated
            .plans
            .get_mut(&address)
            .unwrap()
            .inputs
            .parameters
            .insert("password".into(), "new".into());
        let stored = crate::stored_snapshot(&rotated, &state);
        let LiveEntry::Present(l) = &stored.plans[&address] else {
            panic!("present");
        };
        assert_eq!(
            l.inputs.parameters["password"], "hunter2",
            "the applied value"
        );
    }
}
