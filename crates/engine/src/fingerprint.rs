//! Fingerprints of live plans, stored in a plan file so `apply PLANFILE` can refuse a plan made
//! against a cloud that has since changed, naming what moved. Pure.

use std::collections::BTreeMap;

use planform_model::{Address, PlanInputs};

use crate::diff::{LiveEntry, LiveSnapshot};

/// What a plan file remembers of one live plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub plan_id: Option<String>,
    pub status: String,
    pub product_version_id: Option<String>,
    /// A stable hash of the live inputs.
    pub inputs: String,
}

fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

fn inputs_hash(i: &PlanInputs) -> String {
    let mut text = format!(
        "{}|{:?}|{}|{}|{:?}|{}|{:?}|",
        i.name,
        i.description,
        i.product_id,
        i.product_version_id,
        i.portfolio_id,
        i.provisioned_product_name,
        i.stack_region_id
    );
    for (k, v) in i.parameters.iter().chain(i.tags.iter()) {
        text.push_str(&format!("{k}={v};"));
    }
    text.push_str(&i.notification_arns.join(","));
    fnv(&text)
}

pub fn fingerprint(entry: Option<&LiveEntry>) -> Fingerprint {
    match entry {
        None => Fingerprint {
            plan_id: None,
            status: "absent".into(),
            product_version_id: None,
            inputs: String::new(),
        },
        Some(LiveEntry::Gone) => Fingerprint {
            plan_id: None,
            status: "gone".into(),
            product_version_id: None,
            inputs: String::new(),
        },
        Some(LiveEntry::Present(l)) => Fingerprint {
            plan_id: Some(l.id.clone()),
            status: l.raw_status.clone(),
            product_version_id: Some(l.inputs.product_version_id.clone()),
            inputs: inputs_hash(&l.inputs),
        },
    }
}

/// The fingerprints of `addresses` in `live`.
pub fn fingerprints<'a>(
    live: &LiveSnapshot,
    addresses: impl IntoIterator<Item = &'a Address>,
) -> BTreeMap<Address, Fingerprint> {
    addresses
        .into_iter()
        .map(|a| (a.clone(), fingerprint(live.plans.get(a))))
        .collect()
}

/// What moved between the plan's fingerprints and now, one line per address.
pub fn staleness(
    then: &BTreeMap<Address, Fingerprint>,
    now: &BTreeMap<Address, Fingerprint>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (a, t) in then {
        let n = now.get(a).cloned().unwrap_or_else(|| fingerprint(None));
        let mut what = Vec::new();
        if t.plan_id != n.plan_id {
            what.push(format!(
                "plan {} -> {}",
                t.plan_id.as_deref().unwrap_or("none"),
                n.plan_id.as_deref().unwrap_or("none")
            ));
        }
        if t.status != n.status {
            what.push(format!("status {} -> {}", t.status, n.status));
        }
        if t.product_version_id != n.product_version_id && t.plan_id == n.plan_id {
            what.push(format!(
                "version {} -> {}",
                t.product_version_id.as_deref().unwrap_or("none"),
                n.product_version_id.as_deref().unwrap_or("none")
            ));
        }
        if t.inputs != n.inputs && t.plan_id == n.plan_id {
            what.push("inputs changed".into());
        }
        if !what.is_empty() {
            out.push(format!("{a}: {}", what.join(", ")));
        }
    }
    out
}
