//! Refresh: reads the live plans with the fewest requests the API allows. Each provider is
//! listed in pages of 100 (the first page gives the total; the rest are fetched concurrently),
//! managed plans are matched by state id or ownership tags, and single reads are made only for
//! what a list does not carry (outputs of executed plans the state lacks); the products of new
//! addresses are looked up by name in one batch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use planform_model::{
    ownership, Address, Capabilities, DesiredState, LivePlan, OperationType, PlanFilter,
    PlanService, PlanStatus, ProviderError, ProviderRef,
};
use planform_state::State;
use tokio::task::JoinSet;

use crate::diff::{LiveEntry, LiveSnapshot};

pub type Providers = BTreeMap<ProviderRef, Arc<dyn PlanService>>;

/// What each configured provider can do: the diff's input for deciding each change.
pub fn capabilities(providers: &Providers) -> BTreeMap<ProviderRef, Capabilities> {
    providers
        .iter()
        .map(|(r, s)| (r.clone(), s.capabilities()))
        .collect()
}

/// Where each provider keeps its plans (see [`planform_model::PlanService::location`]).
pub fn locations(providers: &Providers) -> BTreeMap<ProviderRef, String> {
    providers
        .iter()
        .map(|(r, s)| (r.clone(), s.location()))
        .collect()
}

/// How many requests a refresh sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RefreshStats {
    pub list_requests: usize,
    pub single_requests: usize,
    /// Batched product lookups (by name, for addresses without a live plan): one call each,
    /// however many names it answers.
    pub product_lookups: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("refresh of provider {provider}: {error}")]
pub struct RefreshError {
    pub provider: ProviderRef,
    pub error: ProviderError,
}

const PAGE: usize = 100;

/// How much of a provider's plan history a refresh reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Every plan: drift's census of unmanaged plans, and any refresh that may have to adopt a
    /// plan the state does not name.
    Full,
    /// Newest first, until every plan the state names has been seen: executed plans stay in the
    /// cloud (one more per address per update), so a no-change plan costs ⌈N/100⌉+1 requests
    /// whatever the history.
    #[default]
    Enough,
}

/// How many list pages are requested at once.
const PAGES_AT_ONCE: usize = 16;

/// Lists `pages` (by number), [`PAGES_AT_ONCE`] at a time, in page order. A short or empty page
/// is the end of the listing, whatever total the first page claimed: a wrong `TotalCount` costs
/// at most one round of requests, never a task per page it claims.
async fn list_pages(
    service: &Arc<dyn PlanService>,
    pages: std::ops::RangeInclusive<usize>,
    stats: &mut RefreshStats,
) -> Result<Vec<LivePlan>, ProviderError> {
    let mut set = JoinSet::new();
    let mut to_ask = pages;
    let mut ended = false;
    let mut got: Vec<(usize, Vec<LivePlan>)> = Vec::new();
    loop {
        while !ended && set.len() < PAGES_AT_ONCE {
            let Some(n) = to_ask.next() else { break };
            let s = service.clone();
            set.spawn(async move { (n, s.list_plans(&PlanFilter::default(), n, PAGE).await) });
        }
        let Some(r) = set.join_next().await else {
            break;
        };
        let (n, page) = r.expect("list task does not panic");
        stats.list_requests += 1;
        let items = page?.items;
        ended |= items.len() < PAGE;
        got.push((n, items));
    }
    got.sort_by_key(|(n, _)| *n);
    Ok(got.into_iter().flat_map(|(_, items)| items).collect())
}

/// The provider's plans, newest first. With `needed`, listing stops once every one of those
/// ids has been seen (the rest is older history nothing here needs).
async fn list_all(
    service: Arc<dyn PlanService>,
    stats: &mut RefreshStats,
    needed: Option<&BTreeSet<&str>>,
) -> Result<Vec<LivePlan>, ProviderError> {
    let first = service.list_plans(&PlanFilter::default(), 1, PAGE).await?;
    stats.list_requests += 1;
    let pages = first.total_count.div_ceil(PAGE);
    let mut all = first.items;
    match needed {
        Some(needed) => {
            // The ids still to see, shrunk as pages arrive.
            let mut missing = needed.clone();
            let mut seen = |page: &[LivePlan]| {
                for p in page {
                    missing.remove(p.id.as_str());
                }
                missing.is_empty()
            };
            let mut done = seen(&all);
            // The state's plans are usually the newest: read as many pages as they fill at
            // once, then one page at a time until each has been seen.
            let mut next = 2;
            let at_once = needed.len().div_ceil(PAGE).clamp(1, pages.max(1));
            if at_once >= 2 && !done {
                let page = list_pages(&service, 2..=at_once, stats).await?;
                done = seen(&page);
                all.extend(page);
                next = at_once + 1;
            }
            while next <= pages && !done {
                let page = list_pages(&service, next..=next, stats).await?;
                done = seen(&page);
                all.extend(page);
                next += 1;
            }
        }
        None => all.extend(list_pages(&service, 2..=pages, stats).await?),
    }
    // Plans created while paging can shift items between pages: keep each id once.
    let mut seen = BTreeSet::new();
    all.retain(|p| seen.insert(p.id.clone()));
    Ok(all)
}

/// The live products with these names, in one batched lookup (none when there are no names).
async fn lookup_products<'a>(
    service: &dyn PlanService,
    names: impl Iterator<Item = &'a str>,
    stats: &mut RefreshStats,
) -> Result<BTreeMap<String, planform_model::ProvisionedProduct>, ProviderError> {
    let names: Vec<String> = names
        .map(str::to_string)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if names.is_empty() {
        return Ok(BTreeMap::new());
    }
    stats.product_lookups += 1;
    service.find_provisioned_products(&names).await
}

/// Reads what the cloud holds for every managed and desired address ([`Depth::Enough`]).
pub async fn refresh(
    desired: &DesiredState,
    state: &State,
    providers: &Providers,
) -> Result<(LiveSnapshot, RefreshStats), RefreshError> {
    refresh_to(desired, state, providers, Depth::Enough).await
}

/// [`refresh`], reading the plan history to `depth`.
pub async fn refresh_to(
    desired: &DesiredState,
    state: &State,
    providers: &Providers,
    depth: Depth,
) -> Result<(LiveSnapshot, RefreshStats), RefreshError> {
    let mut stats = RefreshStats::default();
    let mut snapshot = LiveSnapshot::default();
    let mut involved: BTreeSet<&ProviderRef> =
        desired.plans.values().map(|p| &p.provider).collect();
    involved.extend(state.plans.values().map(|m| &m.provider));
    for provider in involved {
        let Some(service) = providers.get(provider) else {
            continue;
        };
        snapshot
            .locations
            .insert(provider.clone(), service.location());
        let err = |error| RefreshError {
            provider: provider.clone(),
            error,
        };
        // Stopping early is safe only when the state names every plan this refresh must find:
        // no address the manifests want is unknown to the state (its plan could be a lost create
        // to adopt) and no create is pending (what it made is newer than the state's plan, so it
        // is met first anyway, but a create that never landed would be looked for to the end).
        let managed: Vec<&planform_state::ManagedPlan> = state
            .plans
            .values()
            .filter(|m| &m.provider == provider)
            .collect();
        let needed: BTreeSet<&str> = managed.iter().map(|m| m.plan_id.as_str()).collect();
        let settled = depth == Depth::Enough
            && managed.iter().all(|m| m.pending_token.is_none())
            && desired
                .plans
                .iter()
                .filter(|(_, d)| &d.provider == provider)
                .all(|(a, _)| state.plans.contains_key(a));
        // Which account the credentials act in (the diff refuses plans recorded in another),
        // asked beside the listing; the listing's error comes first, so a refused key or a
        // missing permission is the Service Catalog's answer, as before accounts were asked.
        let (plans, account) = tokio::join!(
            list_all(service.clone(), &mut stats, settled.then_some(&needed)),
            service.account()
        );
        let plans = plans.map_err(err)?;
        snapshot
            .accounts
            .insert(provider.clone(), account.map_err(err)?);
        let by_id: BTreeMap<&str, &LivePlan> = plans.iter().map(|p| (p.id.as_str(), p)).collect();
        // Newest plan per address among those carrying this workspace's ownership tag: of any
        // operation (what a create the state did not record may have made), and of those that
        // launch or update a product (what a lost state can adopt).
        let mut tagged: BTreeMap<Address, &LivePlan> = BTreeMap::new();
        let mut tagged_any: BTreeMap<Address, Vec<&LivePlan>> = BTreeMap::new();
        let newer = |q: &LivePlan, p: &LivePlan| {
            (q.create_time.as_str(), q.id.as_str()) < (p.create_time.as_str(), p.id.as_str())
        };
        for p in &plans {
            let Some(a) = ownership::claimed_address(&p.inputs, &state.workspace) else {
                continue;
            };
            // A plan's tags keep the address it was made for; `moved` blocks say where that
            // address is now (a lost state rebuilt from tags finds renamed plans too).
            let a = desired.current_address(&a);
            tagged_any.entry(a.clone()).or_default().push(p);
            if p.operation_type == OperationType::TerminateProvisionedProduct {
                continue;
            }
            if tagged.get(&a).is_none_or(|q| newer(q, p)) {
                tagged.insert(a, p);
            }
        }
        for (address, m) in state.plans.iter().filter(|(_, m)| &m.provider == provider) {
            // A create was sent but not recorded (a launch, an update or a terminate): what it
            // made is the newest tagged plan the state has never known.
            let unrecorded = m
                .pending_token
                .as_ref()
                .and_then(|_| tagged_any.get(address))
                .and_then(|plans| {
                    plans
                        .iter()
                        .filter(|p| p.id != m.plan_id && !m.history.contains(&p.id))
                        .copied()
                        .reduce(|a, b| if newer(a, b) { b } else { a })
                });
            let entry = match (by_id.get(m.plan_id.as_str()), unrecorded) {
                (_, Some(t)) => LiveEntry::Present(t.clone()),
                (Some(p), _) => LiveEntry::Present((*p).clone()),
                (None, _) => LiveEntry::Gone,
            };
            snapshot
                .provider_of
                .insert(address.clone(), provider.clone());
            snapshot.plans.insert(address.clone(), entry);
        }
        // Addresses with no live plan: whether their product exists decides launch or update.
        // One batched lookup answers every name (a listing, where the provider has one).
        let unplanned: Vec<(&Address, &planform_model::DesiredPlan)> = desired
            .plans
            .iter()
            .filter(|(a, d)| {
                &d.provider == provider
                    && !matches!(snapshot.plans.get(*a), Some(LiveEntry::Present(_)))
            })
            .collect();
        let products = lookup_products(
            service.as_ref(),
            unplanned
                .iter()
                .map(|(_, d)| d.inputs.provisioned_product_name.as_str()),
            &mut stats,
        )
        .await
        .map_err(err)?;
        for (address, d) in unplanned {
            let found = products.get(&d.inputs.provisioned_product_name);
            if let Some(t) = tagged.get(address) {
                // Made by planform in this workspace but not in the state (lost state, crash):
                // adopt it, unless it launched a product that has since been terminated.
                let product_gone = t.status == PlanStatus::ExecuteSuccess
                    && found.is_none_or(|p| Some(&p.id) != t.provisioned_product_id.as_ref());
                if !product_gone {
                    snapshot
                        .provider_of
                        .insert(address.clone(), provider.clone());
                    snapshot
                        .plans
                        .insert(address.clone(), LiveEntry::Present((*t).clone()));
                    continue;
                }
            }
            if found.is_some() {
                snapshot.existing_products.insert(address.clone());
            }
        }
        if depth == Depth::Full {
            snapshot
                .updated_outside
                .extend(updated_outside(&plans, &snapshot, state, provider));
        }
        if depth == Depth::Full {
            snapshot.unmanaged.extend(
                census(&plans, desired, state, service, &mut stats)
                    .await
                    .map_err(err)?,
            );
        }
        // Outputs the state does not have yet.
        for (address, entry) in &snapshot.plans {
            let LiveEntry::Present(l) = entry else {
                continue;
            };
            // Known unless a run that sent this plan's inputs ended before recording them
            // (and its outputs) as applied.
            let known = state
                .plans
                .get(address)
                .is_some_and(|m| m.plan_id == l.id && !m.outputs.is_empty() && m.asked.is_none());
            if l.status == PlanStatus::ExecuteSuccess && !known {
                if let Some(pp) = &l.provisioned_product_id {
                    match service.product_outputs(pp).await {
                        Ok(outputs) => {
                            snapshot.outputs.insert(address.clone(), outputs);
                        }
                        Err(e) if e.kind == planform_model::ErrorKind::NotFound => {}
                        Err(e) => return Err(err(e)),
                    }
                    stats.single_requests += 1;
                }
            }
        }
    }
    Ok((snapshot, stats))
}

/// Products updated outside planform (drift's read): for each managed address, the newest
/// executed update plan of the product it launched that is newer than the address's own plan
/// and that planform never knew (not in its history, no ownership tag of this workspace).
/// `plans` is the listing, newest first (ties of its second-granular times in the cloud's
/// order): what comes before the address's own plan is newer. One pass indexes the listing.
fn updated_outside(
    plans: &[LivePlan],
    snapshot: &LiveSnapshot,
    state: &State,
    provider: &ProviderRef,
) -> BTreeMap<Address, LivePlan> {
    let at: BTreeMap<&str, usize> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    // Executed update plans by product, newest first, with their place in the listing.
    let mut updates: BTreeMap<&str, Vec<(usize, &LivePlan)>> = BTreeMap::new();
    for (i, p) in plans.iter().enumerate() {
        if let (Some(pp), OperationType::UpdateProvisionedProduct, PlanStatus::ExecuteSuccess) =
            (&p.provisioned_product_id, p.operation_type, p.status)
        {
            if ownership::claimed_address(&p.inputs, &state.workspace).is_none() {
                updates.entry(pp.as_str()).or_default().push((i, p));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (address, m) in state.plans.iter().filter(|(_, m)| &m.provider == provider) {
        let (Some(pp), Some(LiveEntry::Present(own))) =
            (&m.provisioned_product_id, snapshot.plans.get(address))
        else {
            continue;
        };
        let (Some(&own_at), Some(candidates)) = (at.get(own.id.as_str()), updates.get(pp.as_str()))
        else {
            continue;
        };
        if let Some((_, p)) = candidates
            .iter()
            .find(|(i, p)| *i < own_at && !m.history.contains(&p.id))
        {
            out.insert(address.clone(), (*p).clone());
        }
    }
    out
}

/// What a tagged plan no address manages still does, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// It can still act: previewing, previewed, awaiting or given approval, executing.
    CanAct,
    /// It ran and launched or updated a product that may still exist: its product decides.
    ProductMayLive,
    /// Finished history: it never made anything (failed preview, rejected, canceled) or it
    /// terminated its product.
    Finished,
}

fn standing(p: &LivePlan) -> Standing {
    match p.status {
        PlanStatus::PreviewInProgress
        | PlanStatus::PreviewSuccess
        | PlanStatus::ApplicationInProgress
        | PlanStatus::ApplicationApproved
        | PlanStatus::ExecuteInProgress => Standing::CanAct,
        PlanStatus::PreviewFailed | PlanStatus::ApplicationRejected | PlanStatus::Canceled => {
            Standing::Finished
        }
        PlanStatus::ExecuteSuccess | PlanStatus::ExecuteFailed => {
            if p.operation_type == OperationType::TerminateProvisionedProduct {
                Standing::Finished
            } else {
                Standing::ProductMayLive
            }
        }
    }
}

/// Drift's census of unmanaged plans: plans carrying this workspace's ownership tag that are
/// neither the current nor an earlier plan of an address the state holds, nor claimed by an
/// address of the manifests, and that still matter: they can still act, or they launched or
/// updated a product that still exists and no address of the state manages. Finished history
/// of a product this workspace terminated (an address removed from the manifests leaves its
/// launch, update and executed terminate plans in the cloud) is not drift. Products are looked
/// up by name in one batch, only when some executed plan is in question.
async fn census(
    plans: &[LivePlan],
    desired: &DesiredState,
    state: &State,
    service: &Arc<dyn PlanService>,
    stats: &mut RefreshStats,
) -> Result<Vec<(String, String)>, ProviderError> {
    let known_ids: BTreeSet<&str> = state
        .plans
        .values()
        .flat_map(|m| {
            std::iter::once(m.plan_id.as_str()).chain(m.history.iter().map(String::as_str))
        })
        .collect();
    let mut candidates = Vec::new();
    for p in plans {
        let Some(claim) = ownership::claim(&p.inputs) else {
            continue;
        };
        if claim.workspace != state.workspace || known_ids.contains(p.id.as_str()) {
            continue;
        }
        // Owned where it is now: a renamed address (moved, count added) owns its old tags.
        let owned = claim.address().is_some_and(|a| {
            let now = desired.current_address(&a);
            [&a, &now]
                .iter()
                .any(|x| state.plans.contains_key(*x) || desired.plans.contains_key(*x))
        });
        if owned {
            continue;
        }
        // Shown as an address when the tag holds one, else as written.
        let shown = claim.address().map_or(claim.address, |a| a.to_string());
        match standing(p) {
            Standing::Finished => {}
            s => candidates.push((shown, p, s)),
        }
    }
    let products = lookup_products(
        service.as_ref(),
        candidates
            .iter()
            .filter(|(_, p, s)| {
                *s == Standing::ProductMayLive && !p.inputs.provisioned_product_name.is_empty()
            })
            .map(|(_, p, _)| p.inputs.provisioned_product_name.as_str()),
        stats,
    )
    .await?;
    let managed_products: BTreeSet<&str> = state
        .plans
        .values()
        .filter_map(|m| m.provisioned_product_id.as_deref())
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|(_, p, s)| match s {
            Standing::CanAct => true,
            Standing::Finished => false,
            Standing::ProductMayLive => {
                if p.inputs.provisioned_product_name.is_empty() {
                    // Nothing to look the product up by: it may live.
                    return true;
                }
                products
                    .get(&p.inputs.provisioned_product_name)
                    .is_some_and(|live| {
                        p.provisioned_product_id
                            .as_ref()
                            .is_none_or(|id| *id == live.id)
                            && !managed_products.contains(live.id.as_str())
                    })
            }
        })
        .map(|(shown, p, _)| (shown, p.id.clone()))
        .collect())
}
