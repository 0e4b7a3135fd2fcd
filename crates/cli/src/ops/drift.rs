//! What changed in the cloud outside planform: the drift report of `drift`, and the status
//! changes `plan --refresh-only` shows.

use anyhow::{bail, Result};
use planform_engine::{refresh_to, Depth, DriftItem, LiveEntry, Products};
use planform_model::{Address, ErrorKind};
use planform_state::State;

use super::workspace::{Session, Workspace};

/// What `drift` found.
pub struct DriftReport {
    pub items: Vec<DriftItem>,
    /// `--ignore` entries that name no address drift knows (see
    /// [`planform_engine::ignores_matching_nothing`]).
    pub ignores_matching_nothing: Vec<String>,
}

/// `drift`: read-only by construction (no lock taken, nothing written).
pub async fn drift(ws: &Workspace, ignore: &[String]) -> Result<DriftReport> {
    let state = match ws.stored().await? {
        Some(s) => s,
        None => State::new(&ws.desired.workspace, String::new()),
    };
    let providers = ws.providers(&state).await?;
    // Drift compares the cloud with the manifests: a plan whose manifests now name another
    // provider, or whose provider points elsewhere, is refused as `plan` refuses it, rather than
    // checked in a place the manifests no longer mean (or reported as everything deleted).
    super::workspace::refuse_moves(&ws.desired, &state, &providers, false)?;
    // Drift takes the census of every plan (unmanaged ones may be anywhere in the history).
    let (live, _) = refresh_to(&ws.desired, &state, &providers, Depth::Full).await?;
    // Nor does it take another account's cloud for this one's (everything deleted).
    super::workspace::refuse_account_changes(&state, &live)?;
    let mut products = Products::new();
    for (address, m) in state.plans.iter().filter(|(_, m)| m.launched) {
        let (Some(LiveEntry::Present(_)), Some(pp), Some(service)) = (
            live.plans.get(address),
            &m.provisioned_product_id,
            providers.get(&m.provider),
        ) else {
            continue;
        };
        match service.provisioned_product(pp).await {
            Ok(p) => {
                products.insert(address.clone(), Some(p));
            }
            Err(e) if e.kind == ErrorKind::NotFound => {
                products.insert(address.clone(), None);
            }
            Err(e) => bail!("{address}: reading product {pp}: {e}"),
        }
    }
    Ok(DriftReport {
        items: planform_engine::drift(
            &ws.desired,
            &state,
            &live,
            &products,
            ignore,
            &planform_engine::capabilities(&providers),
        ),
        ignores_matching_nothing: planform_engine::ignores_matching_nothing(
            &ws.desired,
            &state,
            &live,
            ignore,
        ),
    })
}

/// A change `plan --refresh-only` reports.
pub enum RefreshDrift {
    Deleted(Address),
    Status {
        address: Address,
        from: String,
        to: String,
    },
}

/// What the refresh saw that the stored state does not know.
pub fn refresh_drift(session: &Session) -> Vec<RefreshDrift> {
    let mut out = Vec::new();
    for (a, e) in &session.live.plans {
        match e {
            LiveEntry::Gone => out.push(RefreshDrift::Deleted(a.clone())),
            LiveEntry::Present(l) => {
                let known = session.stored.plans.get(a).map(|m| m.status.clone());
                if let Some(known) = known.filter(|k| *k != l.raw_status) {
                    out.push(RefreshDrift::Status {
                        address: a.clone(),
                        from: known,
                        to: l.raw_status.clone(),
                    });
                }
            }
        }
    }
    out
}
