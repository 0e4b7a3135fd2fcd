//! Which backend holds a workspace's state (the manifests' `state "…" { … }` block), and the
//! guard the commands hold while they write through it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Result};
use planform_model::{DesiredState, StateBackend};
use planform_state::{
    Backend, BackendFuture, Durable, Encryption, LocalBackend, LockInfo, Locked, Record, State,
};

/// The key provider the process environment `env` describes (`PLANFORM_ENCRYPTION_*`, see
/// docs/security.md): the state and plan files are encrypted when it holds a key.
pub fn encryption(env: &BTreeMap<String, String>) -> Result<Arc<Encryption>> {
    Ok(Arc::new(Encryption::from_env(env)?))
}

/// The backend the manifests name, for the manifests in `dir` with the process environment
/// `env` (where a backend's secrets and the encryption key come from, never from the manifests).
pub fn backend(
    desired: &DesiredState,
    dir: &Path,
    env: &BTreeMap<String, String>,
) -> Result<Box<dyn Backend>> {
    let encryption = encryption(env)?;
    Ok(match &desired.backend {
        StateBackend::Local { path } => {
            Box::new(LocalBackend::new(dir.join(path)).with_encryption(encryption))
        }
        StateBackend::Pg { schema_name } => Box::new(
            planform_state_pg::PgBackend::new(
                planform_state_pg::conn_str_from_env(env)?,
                schema_name,
                &desired.workspace,
                dir.join(planform_state_pg::RESCUE_FILE_NAME),
            )?
            .with_encryption(encryption),
        ),
    })
}

/// The local backend of a state path relative to `dir` (plan files made with a local state).
pub fn local(dir: &Path, path: &str, env: &BTreeMap<String, String>) -> Result<Box<dyn Backend>> {
    Ok(Box::new(
        LocalBackend::new(dir.join(path)).with_encryption(encryption(env)?),
    ))
}

/// The state as stored, checked to belong to `workspace`; `None` when there is none yet.
pub async fn load(backend: &dyn Backend, workspace: &str) -> Result<Option<State>> {
    let state = backend.load().await?;
    if let Some(s) = &state {
        if s.workspace != workspace {
            bail!(
                "the state in {} belongs to workspace {:?}, the manifests say {:?}",
                backend.describe(),
                s.workspace,
                workspace
            );
        }
    }
    Ok(state)
}

/// A held lock, shareable with the executor (`Arc<dyn Locked>`) and released once the run is
/// over ([`Guard::release`]).
pub struct Guard(Box<dyn Locked>);

impl Guard {
    pub fn new(locked: Box<dyn Locked>) -> Arc<Guard> {
        Arc::new(Guard(locked))
    }

    /// Waits for every record, compacts and releases the lock. A guard still shared (which a
    /// finished run does not do) is dropped instead, which releases the lock too.
    pub async fn release(guard: Arc<Guard>) -> Result<(), planform_state::StateError> {
        match Arc::try_unwrap(guard) {
            Ok(g) => g.0.release().await,
            Err(_) => Ok(()),
        }
    }
}

impl Locked for Guard {
    fn info(&self) -> &LockInfo {
        self.0.info()
    }

    fn record(&self, record: Record) -> Durable {
        self.0.record(record)
    }

    fn write<'a>(&'a self, state: &'a State, expected: Option<u64>) -> BackendFuture<'a, ()> {
        self.0.write(state, expected)
    }

    fn release(self: Box<Self>) -> BackendFuture<'static, ()> {
        self.0.release()
    }
}
