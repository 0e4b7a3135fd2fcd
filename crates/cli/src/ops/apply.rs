//! Carrying out change sets: `apply` and `destroy`, a saved plan file, and the cloud preview of
//! `plan --cloud-preview`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use planform_engine::{
    absorb, apply, refresh, Action, ApplyOptions, Change, ChangeSet, Event, Interrupt, Observer,
    Outcome,
};
use planform_model::{Address, DesiredPlan, DesiredState, ResourceChange};
use planform_state::{Locked, State};

use super::backend::{self, Guard};
use super::outputs::{outputs, ShownOutput};
use super::providers::providers;
use super::workspace::{Session, Workspace};
use crate::invocation::Invocation;
use crate::planfile::PlanFile;
use crate::render::{Feed, Sink};

/// What an apply did, for the summary and the exit code.
pub struct ApplySummary {
    pub destroy: bool,
    pub done: usize,
    pub failed: Vec<(Address, String)>,
    pub awaiting: Vec<(Address, String)>,
    pub deferred: usize,
    pub interrupted: bool,
    pub state_errors: Vec<String>,
    /// The outputs after an apply of manifests (not after destroy or a plan file).
    pub outputs: Option<Vec<ShownOutput>>,
}

/// The result of carrying out a change set.
pub enum Executed {
    /// There was nothing to change; the outputs when the manifests are known.
    Nothing {
        outputs: Option<Vec<ShownOutput>>,
    },
    Ran(ApplySummary),
}

/// One plan of `plan --cloud-preview`.
pub enum Previewed {
    Ran {
        address: Address,
        plan_id: String,
        status: String,
        result: PreviewResult,
    },
    /// Left for apply: its inputs are known only after its dependencies ran.
    Deferred { address: Address },
}

pub enum PreviewResult {
    /// The preview is ready: the cloud's resource changes.
    Ready(Vec<ResourceChange>),
    Failed(String),
    /// Neither (awaiting approval, deferred, interrupted), as the engine says it.
    Other(String),
}

/// Carries out a change set on a locked session, reporting to `sink`: what the refresh learnt
/// is stored first, then each cloud operation is recorded through the session's lock, which is
/// released (the journal compacted) at the end.
pub async fn execute(
    changes: &ChangeSet,
    session: Session,
    desired: Option<&DesiredState>,
    parallelism: usize,
    destroy: bool,
    sink: Arc<dyn Sink>,
) -> Result<Executed> {
    let command = if destroy { "destroy" } else { "apply" };
    let guard = session.guard(command)?;
    if changes.is_empty() {
        // Still record what the refresh learnt (adopted plans, outputs).
        if session.exists || !session.state.plans.is_empty() {
            session.store_refresh(command).await?;
        }
        let state = session.state;
        drop(session.guard);
        Guard::release(guard).await?;
        return Ok(Executed::Nothing {
            outputs: desired.map(|d| outputs(d, &state)),
        });
    }
    let state = session.store_refresh(command).await?;
    drop(session.guard);
    let interrupt = Interrupt::default();
    {
        let flag = interrupt.clone();
        tokio::spawn(async move {
            // SIGTERM (what CI runners and container platforms send to cancel a job) is an
            // interrupt too, as Terraform takes it; a second signal of either kind ends at once.
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            // The exit status a signal's default action gives: 130 for SIGINT, 143 for SIGTERM.
            let mut signalled = async || match terminate.as_mut() {
                Some(t) => tokio::select! {
                    r = tokio::signal::ctrl_c() => r.is_ok().then_some(130),
                    r = t.recv() => r.map(|()| 143),
                },
                None => tokio::signal::ctrl_c().await.is_ok().then_some(130),
            };
            if signalled().await.is_some() {
                errln!(
                    "Interrupt received: starting nothing new and no longer waiting (plans go on in the cloud; the next apply picks them up); requests under way finish and are recorded. A second interrupt (Ctrl-C, SIGTERM) exits at once."
                );
                flag.trigger();
                if let Some(status) = signalled().await {
                    // As safe as a crash: every create's token is recorded before it is sent,
                    // and the next run adopts what it made by its ownership tags.
                    errln!(
                        "Second interrupt: exiting now. The next apply adopts anything sent but not yet recorded."
                    );
                    std::process::exit(status);
                }
            }
        });
    }
    let options = ApplyOptions {
        parallelism,
        workspace: state.workspace.clone(),
        interrupt,
        accounts: session.live.accounts.clone(),
        ..ApplyOptions::default()
    };
    sink.apply_begin(changes.changes.len());
    let observer: Arc<dyn Observer> = Arc::new(Feed(sink));
    let locked: Arc<dyn Locked> = guard.clone();
    let run = apply(
        changes,
        state,
        &session.providers,
        locked,
        observer,
        &options,
    )
    .await;
    let (state, report) = match run {
        Ok(r) => r,
        Err(e) => {
            Guard::release(guard).await?;
            return Err(e.into());
        }
    };
    // The first failed record stopped the run; the later ones failed for the same reason (a
    // backend whose writes failed refuses the rest), and release says what was not written.
    let mut state_errors: Vec<String> = vec![];
    if let Some((first, later)) = report.state_errors.split_first() {
        state_errors.push(match later.len() {
            0 => first.to_string(),
            n => format!("{first} ({n} later write(s) of this run failed too)"),
        });
    }
    if let Err(e) = Guard::release(guard).await {
        state_errors.push(e.to_string());
    }
    let count = |f: fn(&Outcome) -> bool| report.results.iter().filter(|(_, o)| f(o)).count();
    Ok(Executed::Ran(ApplySummary {
        destroy,
        done: count(|o| matches!(o, Outcome::Done(_))),
        failed: report
            .failed()
            .map(|(a, m)| (a.clone(), m.to_string()))
            .collect(),
        awaiting: report
            .awaiting()
            .map(|(a, id)| (a.clone(), id.to_string()))
            .collect(),
        deferred: count(|o| matches!(o, Outcome::Deferred { .. })),
        interrupted: report.interrupted(),
        state_errors,
        outputs: desired.filter(|_| !destroy).map(|d| outputs(d, &state)),
    }))
}

/// Locks and refreshes the state a plan file was made from. `Err(moved)` lists what changed
/// in the cloud since (the file is stale); another lineage or serial in the backend is an error.
pub async fn open_planfile(
    inv: &Invocation,
    file: &Path,
    pf: &PlanFile,
    manifests: Option<&DesiredState>,
) -> Result<std::result::Result<Session, Vec<String>>> {
    if !inv.lock {
        bail!("apply writes the state, so it needs the state lock: drop --lock=false");
    }
    // The state is the one the manifests of this directory name, never a path taken from the
    // file: the file must have been made for that same workspace and backend (a plan file from
    // elsewhere, serial 0 included, is refused rather than applied to a state it never saw).
    let named = manifests.cloned().unwrap_or_default();
    let store = backend::backend(&named, &inv.dir, &inv.env)?;
    let workspace = named.workspace;
    if workspace != pf.workspace {
        bail!(
            "{} was made for workspace {:?}; the manifests here say {:?}",
            file.display(),
            pf.workspace,
            workspace
        );
    }
    let made_for = match pf.state_path.strip_prefix(PG_STATE_PREFIX) {
        Some(schema) if store.describe().contains(&format!("schema {schema},")) => store.describe(),
        Some(schema) => format!("PostgreSQL schema {schema}"),
        None => backend::local(&inv.dir, &pf.state_path, &inv.env)?.describe(),
    };
    if made_for != store.describe() {
        bail!(
            "{} was made with the state in {made_for}; the manifests here name {}",
            file.display(),
            store.describe()
        );
    }
    // Made from these very manifests: a fresh directory (no state, serial 0 accepted) with
    // other manifests would otherwise take a plan made elsewhere, and changed manifests would
    // name other outputs than the plan's.
    if let Some(made_from) = &pf.manifests {
        let here = planform_manifest::sources_digest(&inv.dir)
            .map_err(|e| anyhow!("cannot read the manifests in {}: {e}", inv.dir.display()))?;
        if here != *made_from {
            bail!(
                "{} is stale: it was made from other manifests than those in {} (they changed since, or it was made in another directory); run `planform plan` again",
                file.display(),
                inv.dir.display()
            );
        }
    }
    let guard =
        Guard::new(super::workspace::take_lock(&*store, "apply", inv.lock_timeout()?).await?);
    let (state, exists) = match backend::load(&*store, &pf.workspace).await? {
        Some(s) if s.lineage != pf.lineage => bail!("{} is stale: it was made for another state (lineage {}, {} has {}); run `planform plan` again", file.display(), pf.lineage, store.describe(), s.lineage),
        Some(s) if s.serial != pf.serial => bail!("{} is stale: the state changed since it was made (serial {} -> {}); run `planform plan` again", file.display(), pf.serial, s.serial),
        Some(s) => (s, true),
        // Made from no state: only the manifests' digest ties it to this directory, and a file
        // of an older planform has none.
        None if pf.serial == 0 && pf.manifests.is_none() => bail!("{} was made by an older planform from no state, and records no digest of its manifests to tie it to {}; run `planform plan` again", file.display(), inv.dir.display()),
        None if pf.serial == 0 => (State::new(&pf.workspace, pf.lineage.clone()), false),
        None => bail!("{} is stale: it was made from a state that no longer exists in {}", file.display(), store.describe()),
    };
    // The desired state the refresh needs: providers and the plans the change set creates.
    let mut desired = DesiredState {
        workspace: pf.workspace.clone(),
        ..DesiredState::default()
    };
    for c in &pf.providers {
        desired.providers.insert(c.reference.clone(), c.clone());
    }
    for c in pf.changes.changes.iter().filter(|c| c.after.is_some()) {
        desired.plans.insert(
            c.address.clone(),
            DesiredPlan {
                address: c.address.clone(),
                provider: c.provider.clone(),
                inputs: c.after.clone().expect("filtered"),
                sensitive_parameters: c.sensitive_parameters.clone(),
                execute: c.action.executes(),
                depends_on: c.depends_on.clone(),
                prevent_destroy: false,
                ignore_changes: vec![],
                timeouts: c.timeouts,
                location: Default::default(),
            },
        );
    }
    let providers = providers(&inv.dir, &desired, &state, &inv.env).await?;
    // Where the plan's addresses live is checked as destroy checks it: the changes were made
    // for the providers' places then, and a provider pointed elsewhere since is refused.
    super::workspace::refuse_moves(&desired, &state, &providers, true)?;
    let (live, _) = refresh(&desired, &state, &providers).await?;
    super::workspace::refuse_account_changes(&state, &live)?;
    let now = planform_engine::fingerprints(&live, pf.fingerprints.keys());
    let moved = planform_engine::staleness(&pf.fingerprints, &now);
    if !moved.is_empty() {
        return Ok(Err(moved.iter().map(|m| m.to_string()).collect()));
    }
    Ok(Ok(Session {
        state: absorb(&state, &live),
        stored: state,
        exists,
        live,
        providers,
        guard: Some(guard),
    }))
}

/// How a plan file names a state kept in PostgreSQL: `pg:<schema>`.
const PG_STATE_PREFIX: &str = "pg:";

/// The plan file `plan --out` saves: the change set stamped with the state and live plans.
pub fn plan_file(ws: &Workspace, session: &Session, changes: &ChangeSet) -> PlanFile {
    let fingerprints =
        planform_engine::fingerprints(&session.live, changes.changes.iter().map(|c| &c.address));
    let state_path = match &ws.desired.backend {
        planform_model::StateBackend::Local { path } => path.clone(),
        planform_model::StateBackend::Pg { schema_name } => {
            format!("{PG_STATE_PREFIX}{schema_name}")
        }
    };
    PlanFile {
        workspace: ws.desired.workspace.clone(),
        state_path,
        lineage: session.state.lineage.clone(),
        serial: session.state.serial,
        changes: changes.clone(),
        fingerprints,
        providers: ws.desired.providers.values().cloned().collect(),
        refresh_only: false,
        manifests: Some(ws.manifests_digest.clone()),
    }
}

/// `plan --cloud-preview`: creates or updates the cloud plans without executing them, waits for
/// their previews, and reports the cloud's ResourceChanges; the next `apply` executes those
/// plans. Returns how many previews failed.
pub async fn cloud_preview(
    ws: &Workspace,
    session: Session,
    changes: &ChangeSet,
    sink: &dyn Sink,
) -> Result<usize> {
    let mut preview = ChangeSet {
        changes: vec![],
        moved: changes.moved.clone(),
    };
    let changing: BTreeSet<Address> = changes.changes.iter().map(|c| c.address.clone()).collect();
    let mut later = Vec::new();
    for c in &changes.changes {
        if let Some(after) = &c.after {
            let known = planform_engine::resolve_inputs(after, &session.state, &changing);
            if known
                .parameters
                .values()
                .chain(known.tags.values())
                .chain(known.description.iter())
                .any(|v| !planform_model::is_known(v))
            {
                later.push(c.address.clone());
                continue;
            }
        }
        let action = match &c.action {
            Action::Create {
                update_existing, ..
            } => Action::Create {
                update_existing: *update_existing,
                execute: false,
            },
            Action::UpdateInPlace { .. } => Action::UpdateInPlace { execute: false },
            Action::Replace {
                update_existing, ..
            } => Action::Replace {
                update_existing: *update_existing,
                execute: false,
            },
            Action::UpdateProduct {
                delete_executed_first,
                ..
            } => Action::UpdateProduct {
                execute: false,
                delete_executed_first: *delete_executed_first,
            },
            // The diff retries in place only where plans update in place.
            Action::Retry => Action::UpdateInPlace { execute: false },
            _ => continue,
        };
        preview.changes.push(Change {
            action,
            ..c.clone()
        });
    }
    if preview.changes.is_empty() {
        return Ok(0);
    }
    let state = session.store_refresh("plan --cloud-preview").await?;
    let guard = session.guard("plan --cloud-preview")?;
    let locked: Arc<dyn Locked> = guard.clone();
    let options = ApplyOptions {
        workspace: ws.desired.workspace.clone(),
        accounts: session.live.accounts.clone(),
        ..ApplyOptions::default()
    };
    let quiet: Arc<dyn Observer> = Arc::new(|_: &Event| {});
    let (state, report) =
        apply(&preview, state, &session.providers, locked, quiet, &options).await?;
    if let Some(e) = report.state_errors.first() {
        bail!("{e}");
    }
    drop(session.guard);
    Guard::release(guard).await?;
    sink.cloud_preview_begin();
    for (address, outcome) in &report.results {
        let Some(m) = state.plans.get(address) else {
            continue;
        };
        let Some(service) = session.providers.get(&m.provider) else {
            continue;
        };
        let result = match outcome {
            Outcome::Done(_) => PreviewResult::Ready(
                service
                    .resource_changes(&m.plan_id)
                    .await
                    .map_err(|e| anyhow!("{address}: {e}"))?,
            ),
            Outcome::Failed(msg) => PreviewResult::Failed(msg.to_string()),
            other => PreviewResult::Other(format!("{other:?}")),
        };
        sink.cloud_preview(&Previewed::Ran {
            address: address.clone(),
            plan_id: m.plan_id.clone(),
            status: m.status.clone(),
            result,
        });
    }
    for a in later {
        sink.cloud_preview(&Previewed::Deferred { address: a });
    }
    Ok(report.failed().count())
}
