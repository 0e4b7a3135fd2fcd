//! Bringing existing plans under management: one plan by id, or every plan that carries this
//! workspace's ownership tags.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use planform_engine::{absorb, refresh};
use planform_model::{ownership, Address};
use planform_state::{Change, Locked, Record, State};

use super::backend::Guard;
use super::workspace::Workspace;
use crate::invocation::Invocation;

/// `import ADDR PLAN_ID`: records the plan as `address` in the state. A plan this state already
/// manages (at another address), or whose ownership tags name another workspace (unless
/// `force`), is refused: two owners would each update or terminate one product.
pub async fn import(
    ws: &Workspace,
    inv: &Invocation,
    address: &Address,
    plan_id: &str,
    force: bool,
) -> Result<()> {
    let Some(d) = ws.desired.plans.get(address) else {
        bail!("{address} is not in the manifests; add its plan block first");
    };
    let (mut state, exists, guard) = ws.lock("import", inv.lock_timeout()?).await?;
    if let Some(m) = state.plans.get(address) {
        bail!(
            "{address} is already managed (plan {}); `planform state rm` it first",
            m.plan_id
        );
    }
    if let Some((other, _)) = state.plans.iter().find(|(_, m)| m.plan_id == plan_id) {
        bail!(
            "{plan_id} is already managed as {other}; a plan has one address (`moved` renames it)"
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
    if let Some(claim) = ownership::claim(&l.inputs) {
        if claim.workspace != state.workspace && !force {
            bail!(
                "{plan_id} belongs to workspace {:?} (as {}), by its ownership tags; two workspaces would each update or terminate its product. Remove it from that workspace first (`planform state rm {}` there), then import it here with --force",
                claim.workspace,
                claim.address().map_or_else(|| "an unreadable address".to_string(), |a| a.to_string()),
                claim.address().map_or_else(|| "ADDRESS".to_string(), |a| a.to_string()),
            );
        }
    }
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
    // The account the plan was read in is the one it lives in: recorded, so credentials of
    // another account are refused later rather than taking it for deleted.
    let account = service
        .account()
        .await
        .map_err(|e| anyhow!("provider {}: {e}", d.provider))?;
    let managed = state.observe(address, &d.provider, &l);
    managed.location = Some(service.location());
    managed.account = Some(account);
    managed.sensitive_parameters = d.sensitive_parameters.clone();
    managed.outputs = outputs;
    managed.depends_on = d.depends_on.clone();
    let change = Change::Put {
        address: address.clone(),
        plan: Box::new(managed.clone()),
    };
    store(guard, &mut state, exists, vec![change]).await
}

/// `import --from-tags`: adopts every plan the refresh matched by ownership tags to an address
/// the state does not manage; returns the adopted addresses and plan ids.
pub async fn import_from_tags(ws: &Workspace, inv: &Invocation) -> Result<Vec<(Address, String)>> {
    let (state, exists, guard) = ws.lock("import --from-tags", inv.lock_timeout()?).await?;
    let providers = ws.providers(&state).await?;
    let (live, _) = refresh(&ws.desired, &state, &providers).await?;
    super::workspace::refuse_account_changes(&state, &live)?;
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
    let changes = adopted.changes_since(&state);
    store(guard, &mut adopted, exists, changes).await?;
    Ok(adopted_ids)
}

/// Stores `changes` (already made in `state`) as one record, or `state` as the first snapshot
/// when none is stored yet; then releases the lock.
async fn store(
    guard: std::sync::Arc<Guard>,
    state: &mut State,
    exists: bool,
    changes: Vec<Change>,
) -> Result<()> {
    if exists {
        state.serial += 1;
        guard
            .record(Record {
                serial: state.serial,
                changes,
            })
            .await?;
    } else {
        guard.write(state, None).await?;
    }
    Guard::release(guard).await?;
    Ok(())
}
