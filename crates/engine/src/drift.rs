//! Drift: what changed in the cloud outside planform, compared with the state (what planform
//! last applied) and the manifests. Pure: the CLI does the reads.

use std::collections::BTreeMap;

use planform_model::{
    Address, Capabilities, DesiredState, PlanStatus, ProviderRef, ProvisionedProduct,
};
use planform_state::{hash_sensitive, State};

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
    /// A plan with this workspace's ownership tag that no state or manifest knows.
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
            Some(LiveEntry::Present(l)) => {
                if let Some(applied) = &m.applied {
                    // Compare like with like: hash the live sensitive values as the state does.
                    let mut now = l.inputs.clone();
                    now = planform_model::ownership::strip(now);
                    // A portfolio planform left to the cloud is the cloud's choice, not drift.
                    if applied.portfolio_id.is_none() {
                        now.portfolio_id = None;
                    }
                    for (k, v) in now.parameters.iter_mut() {
                        if m.sensitive_parameters.contains(k) {
                            *v = hash_sensitive(&state.lineage, v);
                        }
                    }
                    let shape = desired
                        .plans
                        .get(address)
                        .cloned()
                        .unwrap_or_else(|| placeholder(address, m));
                    let mut shape = shape;
                    shape.ignore_changes.clear();
                    shape.sensitive_parameters = m.sensitive_parameters.clone();
                    let diffs: Vec<AttrDiff> = compare(
                        &shape,
                        &now,
                        applied,
                        capabilities_of(capabilities, &m.provider),
                    )
                    .into_iter()
                    .filter(|d| !ignored(&a, Some(&d.path)))
                    .collect();
                    if !diffs.is_empty() {
                        let paths: Vec<&str> = diffs.iter().map(|d| d.path.as_str()).collect();
                        out.push(DriftItem {
                            address: a.clone(),
                            kind: DriftKind::Changed,
                            plan_id: Some(l.id.clone()),
                            message: format!("changed outside planform: {}", paths.join(", ")),
                            diffs,
                        });
                    }
                }
                if matches!(
                    l.status,
                    PlanStatus::ExecuteFailed
                        | PlanStatus::ApplicationRejected
                        | PlanStatus::PreviewFailed
                ) {
                    let why = l
                        .status_message
                        .clone()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    out.push(DriftItem {
                        address: a.clone(),
                        kind: DriftKind::Status,
                        plan_id: Some(l.id.clone()),
                        message: format!("{} is {}{why}", l.id, l.status),
                        diffs: vec![],
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
    for (claimed, id) in &live.unmanaged {
        if !ignored(claimed, None) {
            out.push(DriftItem { address: claimed.clone(), kind: DriftKind::Unmanaged, plan_id: Some(id.clone()), message: format!("{id} carries this workspace's ownership tag but is in neither the state nor the manifests"), diffs: vec![] });
        }
    }
    out.sort_by(|a, b| (&a.address, a.kind).cmp(&(&b.address, b.kind)));
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
}
