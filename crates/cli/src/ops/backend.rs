//! Which backend holds a workspace's state (the manifests' `state "…" { … }` block), and the
//! guard the commands hold while they write through it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
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
        StateBackend::Pg { schema_name } => {
            let mut pg = planform_state_pg::PgBackend::new(
                planform_state_pg::conn_str_from_env(env)?,
                schema_name,
                &desired.workspace,
                // Absolute, so the recovery command it names works from any directory.
                std::path::absolute(dir.join(planform_state_pg::RESCUE_FILE_NAME))
                    .unwrap_or_else(|_| dir.join(planform_state_pg::RESCUE_FILE_NAME)),
            )?
            .with_encryption(encryption);
            if let Some(retry_for) = pg_retry_for(env)? {
                pg = pg.with_retry_for(retry_for);
            }
            Box::new(pg)
        }
    })
}

/// The environment variable that sets how long the pg backend retries a write while the
/// database cannot be reached (default [`planform_state_pg::DEFAULT_RETRY_FOR`]).
pub const PG_RETRY_FOR_VAR: &str = "PLANFORM_PG_RETRY_FOR";

/// `PLANFORM_PG_RETRY_FOR` as a duration (`90s`, `5m`), if set.
fn pg_retry_for(env: &BTreeMap<String, String>) -> Result<Option<Duration>> {
    let Some(v) = env.get(PG_RETRY_FOR_VAR).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let d = crate::invocation::parse_duration(v.trim())
        .with_context(|| format!("the environment variable {PG_RETRY_FOR_VAR}"))?;
    Ok(Some(d))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_pg_retry_window_comes_from_the_environment() {
        assert_eq!(pg_retry_for(&env(&[])).unwrap(), None);
        assert_eq!(
            pg_retry_for(&env(&[(PG_RETRY_FOR_VAR, " ")])).unwrap(),
            None
        );
        assert_eq!(
            pg_retry_for(&env(&[(PG_RETRY_FOR_VAR, "90s")])).unwrap(),
            Some(Duration::from_secs(90))
        );
        let e = pg_retry_for(&env(&[(PG_RETRY_FOR_VAR, "soon")])).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "the environment variable PLANFORM_PG_RETRY_FOR: \"soon\" is not a duration such as 30s or 2m"
        );
    }
}
