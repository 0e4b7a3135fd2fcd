//! Bringing existing plans under management: one plan by id, or every plan that carries this
//! workspace's ownership tags.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use planform_engine::{absorb, refresh};
use planform_model::Address;

use super::workspace::Workspace;
use crate::invocation::Invocation;

/// `import ADDR PLAN_ID`: records the plan as `address` in the state.
pub async fn import(
    ws: &Workspace,
    inv: &Invocation,
    address: &Address,
    plan_id: &str,
) -> Result<()> {
    let Some(d) = ws.desired.plans.get(address) else {
        bail!("{address} is not in the manifests; add its plan block first");
    };
    let (mut state, _lock) = ws.lock("import", inv.lock_timeout()?)?;
    if let Some(m) = state.plans.get(address) {
        bail!(
            "{address} is already managed (plan {}); `planform state rm` it first",
            m.plan_id
        );
    }
    let providers = ws.providers(&state).await?;
    let service = providers
        .get(&d.provider)
        .ok_or_else(|| anyhow!("provider {} is not configured", d.provider))?;
    let l = service
        .get_plan(plan_id)
        .await
        .map_err(|e| anyhow!("{plan_id}: {e}"))?;
    let mut outputs = BTreeMap::new();
    if let (planform_model::PlanStatus::ExecuteSuccess, Some(pp)) =
        (l.status, &l.provisioned_product_id)
    {
        outputs = service
            .provisioned_product(pp)
            .await
            .map(|p| p.outputs)
            .unwrap_or_default();
    }
    let managed = state.observe(address, &d.provider, &l);
    managed.sensitive_parameters = d.sensitive_parameters.clone();
    managed.outputs = outputs;
    managed.depends_on = d.depends_on.clone();
    state.serial += 1;
    planform_state::save(&ws.state_path, &state)?;
    Ok(())
}

/// `import --from-tags`: adopts every plan the refresh matched by ownership tags to an address
/// the state does not manage; returns the adopted addresses and plan ids.
pub async fn import_from_tags(ws: &Workspace, inv: &Invocation) -> Result<Vec<(Address, String)>> {
    let (state, _lock) = ws.lock("import --from-tags", inv.lock_timeout()?)?;
    let providers = ws.providers(&state).await?;
    let (live, _) = refresh(&ws.desired, &state, &providers).await?;
    let mut adopted = absorb(&state, &live);
    let new: Vec<&Address> = adopted
        .plans
        .keys()
        .filter(|a| !state.plans.contains_key(*a))
        .collect();
    let adopted_ids: Vec<(Address, String)> = new
        .iter()
        .map(|a| ((*a).clone(), adopted.plans[*a].plan_id.clone()))
        .collect();
    if adopted_ids.is_empty() {
        return Ok(adopted_ids);
    }
    adopted.serial += 1;
    planform_state::save(&ws.state_path, &adopted)?;
    Ok(adopted_ids)
}
