//! The workspace a command opens once: the manifests (diagnostics reported once), the state
//! path, and for commands that write, the lock, the state, the providers and a refresh absorbed
//! into the state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use planform_engine::{absorb, diff, refresh, ChangeSet, DiffOptions, LiveSnapshot, Providers};
use planform_model::{Address, DesiredState, StateBackend};
use planform_state::{State, StateLock};

use super::providers::providers;
use crate::invocation::Invocation;
use crate::render::Sink;

/// How long a lock's lease lasts; its holder renews it.
const LEASE: Duration = Duration::from_secs(60);

/// The manifests of the invocation's directory and where their state lives.
pub struct Workspace {
    pub dir: PathBuf,
    pub env: BTreeMap<String, String>,
    pub desired: DesiredState,
    pub state_path: PathBuf,
}

/// A workspace locked, refreshed and ready to diff or apply.
pub struct Session {
    /// The state as stored, before the refresh.
    pub stored: State,
    /// The state with what the refresh learnt (adopted plans, statuses, outputs).
    pub state: State,
    pub live: LiveSnapshot,
    pub providers: Providers,
    _lock: StateLock,
}

impl Workspace {
    /// Loads the manifests with the invocation's variables; `None` when they are invalid
    /// (the diagnostics went to `sink`).
    pub fn load(inv: &Invocation, sink: &dyn Sink) -> Result<Option<Workspace>> {
        match planform_manifest::load(&inv.dir, &inv.vars, &inv.env) {
            Ok(l) => {
                sink.diagnostics(&l.warnings);
                Ok(Some(Workspace {
                    dir: inv.dir.clone(),
                    env: inv.env.clone(),
                    state_path: state_path(&inv.dir, Some(&l.desired))?,
                    desired: l.desired,
                }))
            }
            Err(d) => {
                sink.invalid(&d);
                Ok(None)
            }
        }
    }

    /// Takes the state lock for `command` and loads the state (a new one when there is none).
    pub fn lock(&self, command: &str, timeout: Duration) -> Result<(State, StateLock)> {
        let lock = planform_state::lock(&self.state_path, command, LEASE, timeout)?;
        let state = load_state(&self.state_path, &self.desired.workspace)?;
        Ok((state, lock))
    }

    /// A service per provider configuration the manifests and `state` use.
    pub async fn providers(&self, state: &State) -> Result<Providers> {
        providers(&self.dir, &self.desired, state, &self.env).await
    }

    /// Locks, loads the state, builds the providers, refreshes and absorbs the refresh.
    pub async fn open(&self, command: &str, timeout: Duration) -> Result<Session> {
        let (stored, lock) = self.lock(command, timeout)?;
        let providers = self.providers(&stored).await?;
        let (live, _stats) = refresh(&self.desired, &stored, &providers).await?;
        let state = absorb(&stored, &live);
        Ok(Session {
            stored,
            state,
            live,
            providers,
            _lock: lock,
        })
    }

    /// Locks and loads the state like [`Workspace::open`], but reads nothing from any cloud
    /// (`plan --refresh=false`): the state stands in for the refresh.
    pub async fn open_stored(&self, command: &str, timeout: Duration) -> Result<Session> {
        let (stored, lock) = self.lock(command, timeout)?;
        let providers = self.providers(&stored).await?;
        let live = planform_engine::stored_snapshot(&self.desired, &stored);
        Ok(Session {
            state: stored.clone(),
            stored,
            live,
            providers,
            _lock: lock,
        })
    }

    /// The changes that make the cloud match the manifests (or destroy, with `destroy`);
    /// `None` when the manifests cannot be planned (the errors were printed).
    pub fn diff(
        &self,
        session: &Session,
        targets: &[String],
        destroy: bool,
    ) -> Result<Option<ChangeSet>> {
        Ok(match self.diff_replacing(session, targets, destroy, &[])? {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in &errors {
                    eprintln!("error: {e}");
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
        };
        Ok(diff(&self.desired, &session.state, &session.live, &options))
    }
}

/// The state path of the manifests in the invocation's directory, read without variables and
/// without reporting diagnostics (the default path when they do not load).
pub fn read_state_path(inv: &Invocation) -> Result<PathBuf> {
    let desired = planform_manifest::load(&inv.dir, &[], &inv.env)
        .ok()
        .map(|l| l.desired);
    state_path(&inv.dir, desired.as_ref())
}

fn state_path(dir: &Path, desired: Option<&DesiredState>) -> Result<PathBuf> {
    let p = match desired.map(|d| &d.backend) {
        Some(StateBackend::Local { path }) => path.clone(),
        // The pg backend (crates/state-pg) is wired in once the commands use the backend traits.
        Some(StateBackend::Pg { .. }) => bail!(
            "the manifests use state \"pg\", which these commands cannot use yet; use state \"local\""
        ),
        None => ".planform/state.json".into(),
    };
    Ok(dir.join(p))
}

/// Takes the lock of the state at `path` for `command`.
pub fn lock_path(path: &Path, command: &str, timeout: Duration) -> Result<StateLock> {
    Ok(planform_state::lock(path, command, LEASE, timeout)?)
}

fn load_state(path: &Path, workspace: &str) -> Result<State> {
    Ok(match planform_state::load(path)? {
        Some(s) => {
            if s.workspace != workspace {
                bail!(
                    "the state at {} belongs to workspace {:?}, the manifests say {:?}",
                    path.display(),
                    s.workspace,
                    workspace
                );
            }
            s
        }
        None => State::new(workspace, planform_state::new_lineage()),
    })
}

fn parse_targets(list: &[String]) -> Result<Vec<Address>> {
    list.iter()
        .map(|t| {
            t.parse::<Address>()
                .map_err(|e| anyhow::anyhow!("--target: {e}"))
        })
        .collect()
}
