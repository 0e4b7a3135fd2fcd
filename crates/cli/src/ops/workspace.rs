//! The workspace a command opens once: the manifests (diagnostics reported once), the state
//! backend, and for commands that write, the lock, the state, the providers and a refresh
//! absorbed into the state.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use planform_engine::{
    absorb, account_changes, diff, locations, provider_moves, refresh, ChangeSet, DiffOptions,
    LiveSnapshot, Providers,
};
use planform_model::{Address, DesiredState};
use planform_state::{Backend, Locked, Record, State};

use super::backend::{self, Guard};
use super::providers::providers;
use crate::invocation::Invocation;
use crate::render::Sink;

/// The manifests of the invocation's directory and the backend their state lives in.
pub struct Workspace {
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub desired: DesiredState,
    /// The digest of the manifests `desired` was lowered from, as read (a plan file records it).
    pub manifests_digest: String,
    pub backend: Box<dyn Backend>,
}

/// A workspace refreshed and ready to diff or apply; locked unless opened read-only.
pub struct Session {
    /// The state as stored, before the refresh (a new one, serial 0, when there is none).
    pub stored: State,
    /// Whether `stored` is stored (`false`: the first write creates it).
    pub exists: bool,
    /// The state with what the refresh learnt (adopted plans, statuses, outputs).
    pub state: State,
    pub live: LiveSnapshot,
    pub providers: Providers,
    /// The lock; `None` for a read-only session (`plan --lock=false`).
    pub guard: Option<Arc<Guard>>,
}

impl Workspace {
    /// The manifests alone, their warnings or errors given to `sink` (`validate`, `graph`
    /// without `--plan`: no state, so no backend configuration such as `PG_CONN_STR` is needed).
    pub fn manifests(inv: &Invocation, sink: &dyn Sink) -> Option<DesiredState> {
        loaded(inv, sink).map(|l| l.desired)
    }

    /// Loads the manifests with the invocation's variables and opens their backend; `None`
    /// when they are invalid (the diagnostics went to `sink`).
    pub fn load(inv: &Invocation, sink: &dyn Sink) -> Result<Option<Workspace>> {
        let Some(loaded) = loaded(inv, sink) else {
            return Ok(None);
        };
        Ok(Some(Workspace {
            dir: inv.dir.clone(),
            env: inv.env.clone(),
            backend: backend::backend(&loaded.desired, &inv.dir, &inv.env)?,
            desired: loaded.desired,
            manifests_digest: loaded.manifests_digest,
        }))
    }

    /// The state as stored (no lock); `None` when there is none yet.
    pub async fn stored(&self) -> Result<Option<State>> {
        backend::load(&*self.backend, &self.desired.workspace).await
    }

    /// Takes the state lock for `command` and loads the state (a new one when there is none;
    /// the flag says whether it is stored).
    pub async fn lock(
        &self,
        command: &str,
        timeout: Duration,
    ) -> Result<(State, bool, Arc<Guard>)> {
        let guard = Guard::new(take_lock(&*self.backend, command, timeout).await?);
        let (state, exists) = match self.stored().await? {
            Some(s) => (s, true),
            None => (
                State::new(&self.desired.workspace, planform_state::new_lineage()),
                false,
            ),
        };
        Ok((state, exists, guard))
    }

    /// The state, locked for `command` unless `lock` is false (a read-only session): a new one
    /// when there is none, with whether it is stored.
    async fn load_state(
        &self,
        command: &str,
        timeout: Duration,
        lock: bool,
    ) -> Result<(State, bool, Option<Arc<Guard>>)> {
        if lock {
            let (s, exists, g) = self.lock(command, timeout).await?;
            return Ok((s, exists, Some(g)));
        }
        Ok(match self.stored().await? {
            Some(s) => (s, true, None),
            None => (
                State::new(&self.desired.workspace, planform_state::new_lineage()),
                false,
                None,
            ),
        })
    }

    /// A service per provider configuration the manifests and `state` use.
    pub async fn providers(&self, state: &State) -> Result<Providers> {
        providers(&self.dir, &self.desired, state, &self.env).await
    }

    /// Locks (unless `lock` is false: a read-only session), loads the state, builds the
    /// providers, refuses plans whose provider the manifests moved (before any request: a
    /// refresh of the new place would only find them missing), refreshes and absorbs the
    /// refresh. `destroy`: the session will destroy, through the state's providers.
    pub async fn open(
        &self,
        command: &str,
        timeout: Duration,
        lock: bool,
        destroy: bool,
    ) -> Result<Session> {
        let (stored, exists, guard) = self.load_state(command, timeout, lock).await?;
        let providers = self.providers(&stored).await?;
        refuse_moves(&self.desired, &stored, &providers, destroy)?;
        let (live, _stats) = refresh(&self.desired, &stored, &providers).await?;
        refuse_account_changes(&stored, &live)?;
        let state = absorb(&stored, &live);
        Ok(Session {
            stored,
            exists,
            state,
            live,
            providers,
            guard,
        })
    }

    /// Loads the state like [`Workspace::open`] (locked unless `lock` is false), but reads
    /// nothing from any cloud (`plan --refresh=false`): the state stands in for the refresh.
    pub async fn open_stored(
        &self,
        command: &str,
        timeout: Duration,
        lock: bool,
        destroy: bool,
    ) -> Result<Session> {
        let (stored, exists, guard) = self.load_state(command, timeout, lock).await?;
        let providers = self.providers(&stored).await?;
        refuse_moves(&self.desired, &stored, &providers, destroy)?;
        let live = planform_engine::stored_snapshot(&self.desired, &stored);
        Ok(Session {
            state: stored.clone(),
            stored,
            exists,
            live,
            providers,
            guard,
        })
    }

    /// The changes that make the cloud match the manifests (or destroy, with `destroy`);
    /// `None` when the manifests cannot be planned, after giving the diff's errors to `sink`
    /// (so a JSON stream ends with them as diagnostics).
    pub fn diff(
        &self,
        session: &Session,
        targets: &[String],
        destroy: bool,
        sink: &dyn Sink,
    ) -> Result<Option<ChangeSet>> {
        Ok(match self.diff_replacing(session, targets, destroy, &[])? {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in &errors {
                    sink.error(&e.to_string());
                }
                None
            }
        })
    }

    /// [`Workspace::diff`], replacing the addresses of `plan --replace`; the diff's errors are
    /// returned for the caller to report.
    pub fn diff_replacing(
        &self,
        session: &Session,
        targets: &[String],
        destroy: bool,
        replace: &[String],
    ) -> Result<Result<ChangeSet, Vec<planform_engine::DiffError>>> {
        let options = DiffOptions {
            destroy,
            targets: parse_targets(targets)?,
            replace: replace
                .iter()
                .map(|r| {
                    r.parse::<Address>()
                        .map_err(|e| anyhow::anyhow!("--replace: {e}"))
                })
                .collect::<Result<_>>()?,
            capabilities: planform_engine::capabilities(&session.providers),
            locations: locations(&session.providers),
        };
        Ok(diff(&self.desired, &session.state, &session.live, &options))
    }
}

impl Session {
    /// The lock, or the error a read-only session gives a command that writes.
    pub fn guard(&self, command: &str) -> Result<Arc<Guard>> {
        match &self.guard {
            Some(g) => Ok(g.clone()),
            None => {
                bail!("{command} writes the state, so it needs the state lock: drop --lock=false")
            }
        }
    }

    /// Stores what the refresh learnt (adopted plans, statuses, outputs) as one record of the
    /// addresses that differ, or as the first snapshot of a new state; returns the state as
    /// stored now, ready for the executor.
    pub async fn store_refresh(&self, command: &str) -> Result<State> {
        let guard = self.guard(command)?;
        let mut state = self.state.clone();
        state.serial = self.stored.serial;
        if !self.exists {
            guard.write(&state, None).await?;
            return Ok(state);
        }
        let changes = state.changes_since(&self.stored);
        if !changes.is_empty() {
            state.serial += 1;
            guard
                .record(Record {
                    serial: state.serial,
                    changes,
                })
                .await?;
        }
        Ok(state)
    }
}

/// The backend of the manifests in the invocation's directory, read without variables and
/// without reporting diagnostics (the default local state when they do not load).
pub fn read_backend(inv: &Invocation) -> Result<(Box<dyn Backend>, String)> {
    let desired = quiet_manifests(inv).unwrap_or_default();
    Ok((
        backend::backend(&desired, &inv.dir, &inv.env)?,
        desired.workspace,
    ))
}

/// The manifests of the directory read quietly, without the invocation's variables (`None`
/// when they do not load): what names the workspace and backend for commands that work on the
/// state or a plan file, which must not fail on a variable they do not need.
pub fn quiet_manifests(inv: &Invocation) -> Option<DesiredState> {
    planform_manifest::load(&inv.dir, &[], &inv.env)
        .ok()
        .map(|l| l.desired)
}

/// The manifests loaded with the invocation's variables, their warnings shown; `None` when they
/// are invalid (the diagnostics went to `sink`).
fn loaded(inv: &Invocation, sink: &dyn Sink) -> Option<planform_manifest::Loaded> {
    match planform_manifest::load(&inv.dir, &inv.vars, &inv.env) {
        Ok(l) => {
            sink.diagnostics(&l.warnings);
            Some(l)
        }
        Err(d) => {
            sink.invalid(&d);
            None
        }
    }
}

/// The lock of `backend` for `command`, waiting up to `timeout` for its holder; a wait that ran
/// out says so before naming the holder.
pub async fn take_lock(
    backend: &dyn Backend,
    command: &str,
    timeout: Duration,
) -> Result<Box<dyn Locked>> {
    backend.lock(command, timeout).await.map_err(|e| {
        let held = matches!(e, planform_state::StateError::Locked(_));
        let e = anyhow::Error::from(e);
        if held && !timeout.is_zero() {
            e.context(format!(
                "the state lock stayed held for the whole --lock-timeout ({}s)",
                timeout.as_secs_f64()
            ))
        } else {
            e
        }
    })
}

/// The error naming every managed plan whose provider the manifests changed or pointed
/// elsewhere (see [`planform_engine::provider_moves`]).
pub fn refuse_moves(
    desired: &DesiredState,
    state: &State,
    providers: &Providers,
    destroy: bool,
) -> Result<()> {
    refused(provider_moves(
        desired,
        state,
        &locations(providers),
        destroy,
    ))
}

/// The error naming every managed plan recorded in another account than the one its provider's
/// credentials act in now (see [`planform_engine::account_changes`]): refused after the refresh
/// (which learnt the accounts) and before anything is written.
pub fn refuse_account_changes(state: &State, live: &LiveSnapshot) -> Result<()> {
    refused(account_changes(state, &live.accounts))
}

/// The plans `errors` refuse (moved provider, other account), as one error whose lines `main`
/// prints each as an error of its own; none is no error.
fn refused(errors: Vec<planform_engine::DiffError>) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    Err(ProviderMoves(errors.iter().map(ToString::to_string).collect()).into())
}

/// Plans refused because their provider the manifests changed, or the account they are in, one
/// message each: `main` prints each as an error line of its own.
#[derive(Debug)]
pub struct ProviderMoves(pub Vec<String>);

impl std::fmt::Display for ProviderMoves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\nerror: "))
    }
}

impl std::error::Error for ProviderMoves {}

fn parse_targets(list: &[String]) -> Result<Vec<Address>> {
    list.iter()
        .map(|t| {
            t.parse::<Address>()
                .map_err(|e| anyhow::anyhow!("--target: {e}"))
        })
        .collect()
}
