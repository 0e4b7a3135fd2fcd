//! The PostgreSQL state backend (`planform { state "pg" { schema_name = "planform" } }`).
//!
//! Several workspaces share one database: one row per workspace (lineage, serial) and one row per
//! (workspace, address) holding the plan as the state file stores it. The lock is a lease row
//! (holder, command, host, lease) plus a session-level advisory lock held on the guard's own
//! connection, so a killed holder's lock goes with its connection. Every write runs on that
//! connection in one short transaction that first checks the lease row still names this guard
//! and the stored serial is the one expected. See `docs/state.md`.

mod conn;
mod schema;
mod writer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use planform_model::{is_pg_schema_name, Address};
use planform_state::{
    Backend, BackendFuture, Encryption, LockError, LockInfo, Locked, State, StateError,
};
use tokio::sync::OnceCell;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, IsolationLevel};

pub use conn::TlsMode;
pub use writer::PgLock;

use conn::Connector;
use schema::{Migrated, Tables};

/// The environment variable that holds the connection string (as Terraform's pg backend).
pub const CONN_STR_VAR: &str = "PG_CONN_STR";

/// The file, beside the manifests, where a run saves the state it could not write.
pub const RESCUE_FILE_NAME: &str = "errored-state.json";

/// How long a lease lasts unless its holder renews it (every third of it).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How long a write is retried while the database cannot be reached.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(60);

/// Why a backend could not be set up from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum PgConfigError {
    #[error("the state \"pg\" backend reads its connection string from the environment variable {CONN_STR_VAR}, which is not set (e.g. {CONN_STR_VAR}='postgres://user@db.internal/planform?sslmode=verify-full')")]
    MissingConnStr,
    #[error("{CONN_STR_VAR} is not a valid connection string: {message}")]
    ConnStr { message: String },
    #[error("cannot use the root certificate {path} (sslrootcert): {message}")]
    RootCert { path: String, message: String },
    #[error("schema_name {0:?} must be 1 to 63 lower-case letters, digits or '_', not start with a digit or \"pg_\"")]
    SchemaName(String),
    #[error("workspace name {0:?} must not be empty")]
    Workspace(String),
}

/// The connection string from the environment (`PG_CONN_STR`).
pub fn conn_str_from_env(env: &BTreeMap<String, String>) -> Result<&str, PgConfigError> {
    env.get(CONN_STR_VAR)
        .map(String::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or(PgConfigError::MissingConnStr)
}

/// A workspace's state in a PostgreSQL schema.
pub struct PgBackend {
    connector: Connector,
    tables: Tables,
    workspace: String,
    rescue_file: PathBuf,
    lease: Duration,
    retry_for: Duration,
    migrated: OnceCell<()>,
    encryption: Arc<Encryption>,
}

impl PgBackend {
    /// The backend of `workspace` in `schema` of the database `conn_str` names. A run that cannot
    /// write what it did saves it to `rescue_file` (`errored-state.json` beside the manifests).
    pub fn new(
        conn_str: &str,
        schema: &str,
        workspace: &str,
        rescue_file: PathBuf,
    ) -> Result<PgBackend, PgConfigError> {
        if !is_pg_schema_name(schema) {
            return Err(PgConfigError::SchemaName(schema.to_string()));
        }
        if workspace.is_empty() {
            return Err(PgConfigError::Workspace(workspace.to_string()));
        }
        Ok(PgBackend {
            connector: Connector::parse(conn_str)?,
            tables: Tables::new(schema),
            workspace: workspace.to_string(),
            rescue_file,
            lease: DEFAULT_LEASE,
            retry_for: DEFAULT_RETRY_FOR,
            migrated: OnceCell::new(),
            encryption: Arc::new(Encryption::off()),
        })
    }

    /// Reads and writes each plan row's payload with `encryption` (sealed for its workspace and
    /// address; plaintext rows keep no sensitive value).
    pub fn with_encryption(mut self, encryption: Arc<Encryption>) -> PgBackend {
        self.encryption = encryption;
        self
    }

    /// Sets how long a lease lasts (renewed every third of it).
    pub fn with_lease(mut self, lease: Duration) -> PgBackend {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// Sets how long a write is retried while the database cannot be reached.
    pub fn with_retry_for(mut self, retry_for: Duration) -> PgBackend {
        self.retry_for = retry_for;
        self
    }

    /// The TLS mode the connection string asks for.
    pub fn tls_mode(&self) -> TlsMode {
        self.connector.tls_mode
    }

    fn unavailable(&self, e: &tokio_postgres::Error) -> StateError {
        StateError::Unavailable {
            backend: self.describe(),
            message: conn::describe_error(e, self.connector.tls_mode),
        }
    }

    fn corrupt(&self, message: String) -> StateError {
        StateError::Corrupt {
            path: self.describe(),
            message,
        }
    }

    fn read_error(&self, e: ReadError) -> StateError {
        match e {
            ReadError::Db(e) => self.unavailable(&e),
            ReadError::Corrupt(m) => self.corrupt(m),
            ReadError::Row(e) => e,
        }
    }

    fn lock_key(&self) -> i64 {
        schema::advisory_key(&["lock", &self.tables.schema, &self.workspace])
    }

    /// A connection with the schema migrated (once per backend).
    async fn open(&self) -> Result<Client, StateError> {
        let mut client = self
            .connector
            .connect()
            .await
            .map_err(|e| self.unavailable(&e))?;
        self.migrated
            .get_or_try_init(|| async {
                match schema::migrate(&mut client, &self.tables).await {
                    Ok(Migrated::Current) => Ok(()),
                    Ok(Migrated::TooNew(version)) => Err(StateError::TooNew {
                        path: self.describe(),
                        version: version as u32,
                    }),
                    Err(e) => Err(self.unavailable(&e)),
                }
            })
            .await?;
        Ok(client)
    }

    async fn read_state(&self, client: &mut Client) -> Result<Option<State>, StateError> {
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.unavailable(&e))?;
        let state = read_state_in(&tx, &self.tables, &self.workspace, &self.rows())
            .await
            .map_err(|e| self.read_error(e))?;
        tx.commit().await.map_err(|e| self.unavailable(&e))?;
        Ok(state.map(|s| s.state))
    }

    async fn read_holder(&self, client: &Client) -> Result<Option<LockInfo>, StateError> {
        let row = client
            .query_opt(
                &format!(
                    "SELECT lock_id, pid, host, command, since, lease_until FROM {} WHERE workspace = $1",
                    self.tables.locks
                ),
                &[&self.workspace],
            )
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(row.map(|r| lock_info(&r)))
    }

    /// Takes the lock (see [`Backend::lock`]) and returns the concrete guard.
    pub async fn lock_pg(&self, command: &str, timeout: Duration) -> Result<PgLock, StateError> {
        let mut client = self.open().await?;
        let key = self.lock_key();
        let db = |e: tokio_postgres::Error| self.unavailable(&e);
        let got = if timeout.is_zero() {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(db)?
                .get::<_, bool>(0)
        } else {
            // The server waits for the advisory lock, up to `lock_timeout`: no polling.
            let ms = timeout.as_millis().clamp(1, i32::MAX as u128);
            client
                .execute(
                    "SELECT set_config('lock_timeout', $1, false)",
                    &[&format!("{ms}ms")],
                )
                .await
                .map_err(db)?;
            let waited = client.execute("SELECT pg_advisory_lock($1)", &[&key]).await;
            client
                .execute("SELECT set_config('lock_timeout', '0', false)", &[])
                .await
                .map_err(db)?;
            match waited {
                Ok(_) => true,
                Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => false,
                Err(e) => return Err(db(e)),
            }
        };
        if !got {
            let holder = self.read_holder(&client).await?;
            return Err(StateError::Locked(LockError::Held(holder.unwrap_or_else(
                || LockInfo {
                    id: "(a run that is taking the lock right now)".into(),
                    pid: 0,
                    host: "(unknown)".into(),
                    command: "(unknown)".into(),
                    since: 0,
                    lease_until: 0,
                },
            ))));
        }
        // This session holds the advisory lock, so no earlier holder's session lives: its lease
        // row, if any, is taken over.
        let id = planform_state::new_lineage();
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let pid = std::process::id();
        let tx = client.transaction().await.map_err(db)?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO {} (workspace, lock_id, pid, host, command, backend_pid, since, lease_until)
                     VALUES ($1, $2, $3, $4, $5, pg_backend_pid(),
                             extract(epoch FROM now())::bigint, extract(epoch FROM now())::bigint + $6)
                     ON CONFLICT (workspace) DO UPDATE SET lock_id = EXCLUDED.lock_id, pid = EXCLUDED.pid,
                       host = EXCLUDED.host, command = EXCLUDED.command, backend_pid = EXCLUDED.backend_pid,
                       since = EXCLUDED.since, lease_until = EXCLUDED.lease_until
                     RETURNING lock_id, pid, host, command, since, lease_until",
                    self.tables.locks
                ),
                &[
                    &self.workspace,
                    &id,
                    &i64::from(pid),
                    &host,
                    &command,
                    &(self.lease.as_secs() as i64),
                ],
            )
            .await
            .map_err(db)?;
        let info = lock_info(&row);
        let stored = read_state_in(&tx, &self.tables, &self.workspace, &self.rows())
            .await
            .map_err(|e| self.read_error(e))?;
        if let Some(Stored { state, stale: true }) = &stored {
            rewrite_in(&tx, &self.tables, &self.workspace, state, &self.rows())
                .await
                .map_err(|e| self.read_error(e))?;
        }
        tx.commit().await.map_err(db)?;
        let state = stored.map(|s| s.state);
        Ok(writer::start(writer::Start {
            client,
            connector: self.connector.clone(),
            tables: self.tables.clone(),
            workspace: self.workspace.clone(),
            backend: self.describe(),
            key,
            info,
            lease: self.lease,
            retry_for: self.retry_for,
            rescue_file: self.rescue_file.clone(),
            state,
            encryption: self.encryption.clone(),
        }))
    }

    async fn unlock_pg(&self, force: bool) -> Result<Option<LockInfo>, StateError> {
        let mut client = self.open().await?;
        let db = |e: tokio_postgres::Error| self.unavailable(&e);
        let key = self.lock_key();
        let tx = client.transaction().await.map_err(db)?;
        let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT lock_id, pid, host, command, since, lease_until,
                            lease_until <= extract(epoch FROM now())::bigint
                     FROM {} WHERE workspace = $1 FOR UPDATE",
                    self.tables.locks
                ),
                &[&self.workspace],
            )
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let info = lock_info(&row);
        let expired: bool = row.get(6);
        // Whether the holder's session still holds the advisory lock (in this database).
        let (hi, lo) = ((key >> 32) & 0xffff_ffff, key & 0xffff_ffff);
        let session: Option<i32> = tx
            .query_opt(
                "SELECT l.pid FROM pg_locks l
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                   AND l.classid::bigint = $1 AND l.objid::bigint = $2
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[&hi, &lo],
            )
            .await
            .map_err(db)?
            .map(|r| r.get(0));
        if session.is_some() && !expired && !force {
            return Err(StateError::Locked(LockError::Held(info)));
        }
        tx.execute(
            &format!("DELETE FROM {} WHERE workspace = $1", self.tables.locks),
            &[&self.workspace],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        if let Some(pid) = session {
            // The holder's session still holds the advisory lock: end it, so the lock is free.
            client
                .execute("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .map_err(db)?;
        }
        Ok(Some(info))
    }
}

fn lock_info(row: &tokio_postgres::Row) -> LockInfo {
    LockInfo {
        id: row.get(0),
        pid: row.get::<_, i64>(1) as u32,
        host: row.get(2),
        command: row.get(3),
        since: row.get::<_, i64>(4).max(0) as u64,
        lease_until: row.get::<_, i64>(5).max(0) as u64,
    }
}

enum ReadError {
    Db(tokio_postgres::Error),
    Corrupt(String),
    /// A row that does not open (another key, plaintext where encryption is on).
    Row(StateError),
}

/// How plan rows are read: with which encryption, named how in errors.
struct Rows<'a> {
    encryption: &'a Encryption,
    backend: String,
}

impl PgBackend {
    fn rows(&self) -> Rows<'_> {
        Rows {
            encryption: &self.encryption,
            backend: self.describe(),
        }
    }
}

/// The context a plan row is sealed for: its workspace and address, so a row copied to another
/// address or workspace does not open.
pub(crate) fn row_context(workspace: &str, address: &str) -> String {
    format!("pg:{workspace}:{address}")
}

impl From<tokio_postgres::Error> for ReadError {
    fn from(e: tokio_postgres::Error) -> Self {
        ReadError::Db(e)
    }
}

/// A workspace as read back.
struct Stored {
    state: State,
    /// Whether a plan row is stored otherwise than this run writes (a migration, or a row sealed
    /// with the fallback key): the lock rewrites the workspace.
    stale: bool,
}

async fn read_state_in(
    tx: &tokio_postgres::Transaction<'_>,
    tables: &Tables,
    workspace: &str,
    rows: &Rows<'_>,
) -> Result<Option<Stored>, ReadError> {
    let Some(row) = tx
        .query_opt(
            &format!(
                "SELECT lineage, serial FROM {} WHERE workspace = $1",
                tables.workspaces
            ),
            &[&workspace],
        )
        .await?
    else {
        return Ok(None);
    };
    let mut state = State::new(workspace, row.get(0));
    state.serial = row.get::<_, i64>(1) as u64;
    let mut stale = false;
    for r in tx
        .query(
            &format!(
                "SELECT address, plan FROM {} WHERE workspace = $1",
                tables.plans
            ),
            &[&workspace],
        )
        .await?
    {
        let spelled: String = r.get(0);
        let address: Address =
            spelled
                .parse()
                .map_err(|e: planform_model::AddressParseError| {
                    ReadError::Corrupt(format!("address {spelled:?}: {e}"))
                })?;
        let value: serde_json::Value = r.get(1);
        stale |= rows.encryption.is_stale_value(&value);
        let plan = planform_state::plan_from_stored(
            &row_context(workspace, &spelled),
            &address,
            value,
            rows.encryption,
            &format!("{} row {spelled}", rows.backend),
        )
        .map_err(|e| match e {
            StateError::Corrupt { message, .. } => ReadError::Corrupt(message),
            other => ReadError::Row(other),
        })?;
        state.plans.insert(address, plan);
    }
    Ok(Some(Stored { state, stale }))
}

/// Rewrites every plan row of `stored` in the form this run writes, and touches the workspace
/// row, in `tx`: the transaction that took the lease row (so no other guard can write
/// meanwhile), fenced by the serial read in it. A migration (`PLANFORM_ENCRYPTION_MIGRATE`) or a
/// rotation is then finished by any run that takes the lock, even one with nothing to record.
async fn rewrite_in(
    tx: &tokio_postgres::Transaction<'_>,
    tables: &Tables,
    workspace: &str,
    state: &State,
    rows: &Rows<'_>,
) -> Result<(), ReadError> {
    let touched = tx
        .execute(
            &format!(
                "UPDATE {} SET updated_at = now() WHERE workspace = $1 AND serial = $2",
                tables.workspaces
            ),
            &[&workspace, &(state.serial as i64)],
        )
        .await?;
    if touched != 1 {
        // Only a writer that ignores the lock can have moved the serial since it was read.
        let found = writer::stored_serial(tx, tables, workspace)
            .await?
            .unwrap_or(0);
        return Err(ReadError::Row(StateError::SerialMismatch {
            backend: rows.backend.clone(),
            expected: state.serial,
            found,
        }));
    }
    let addresses: Vec<String> = state.plans.keys().map(|a| a.to_string()).collect();
    let plans: Vec<serde_json::Value> = state
        .plans
        .iter()
        .zip(&addresses)
        .map(|((_, plan), address)| {
            planform_state::plan_to_stored(&row_context(workspace, address), plan, rows.encryption)
        })
        .collect::<Result<_, _>>()
        .map_err(ReadError::Row)?;
    if addresses.is_empty() {
        return Ok(());
    }
    let updated = tx
        .execute(
            &format!(
                "UPDATE {} AS p SET plan = t.p FROM unnest($2::text[], $3::jsonb[]) AS t(a, p)
                 WHERE p.workspace = $1 AND p.address = t.a",
                tables.plans
            ),
            &[&workspace, &addresses, &plans],
        )
        .await?;
    if updated != addresses.len() as u64 {
        return Err(ReadError::Corrupt(format!(
            "{} of {} plan rows were rewritten: the rows changed while they were rewritten",
            updated,
            addresses.len()
        )));
    }
    Ok(())
}

impl Backend for PgBackend {
    fn describe(&self) -> String {
        format!(
            "pg workspace {:?} (schema {}, {})",
            self.workspace,
            self.tables.schema,
            self.connector.server()
        )
    }

    fn load(&self) -> BackendFuture<'_, Option<State>> {
        Box::pin(async move {
            let mut client = self.open().await?;
            self.read_state(&mut client).await
        })
    }

    fn lock<'a>(
        &'a self,
        command: &'a str,
        timeout: Duration,
    ) -> BackendFuture<'a, Box<dyn Locked>> {
        Box::pin(async move {
            let guard = self.lock_pg(command, timeout).await?;
            Ok(Box::new(guard) as Box<dyn Locked>)
        })
    }

    fn holder(&self) -> BackendFuture<'_, Option<LockInfo>> {
        Box::pin(async move {
            let client = self.open().await?;
            self.read_holder(&client).await
        })
    }

    fn unlock(&self, force: bool) -> BackendFuture<'_, Option<LockInfo>> {
        Box::pin(self.unlock_pg(force))
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
    fn the_connection_string_comes_from_pg_conn_str() {
        assert_eq!(
            conn_str_from_env(&env(&[("PG_CONN_STR", "host=db")])).unwrap(),
            "host=db"
        );
        let e = conn_str_from_env(&env(&[("PG_CONN_STR", " ")])).unwrap_err();
        assert!(e.to_string().starts_with(
            "the state \"pg\" backend reads its connection string from the environment variable PG_CONN_STR, which is not set"
        ));
        assert!(conn_str_from_env(&env(&[])).is_err());
    }

    #[test]
    fn describe_names_the_server_but_never_the_password() {
        let b = PgBackend::new(
            "postgres://admin:hunter2@db.internal:6432/state?sslmode=require",
            "planform",
            "prod",
            PathBuf::from("errored-state.json"),
        )
        .unwrap();
        assert_eq!(
            b.describe(),
            "pg workspace \"prod\" (schema planform, db.internal:6432/state)"
        );
        let b = PgBackend::new(
            "host=db password=hunter2 user=admin",
            "ops_state",
            "dev",
            PathBuf::from("errored-state.json"),
        )
        .unwrap();
        assert_eq!(
            b.describe(),
            "pg workspace \"dev\" (schema ops_state, db:5432)"
        );
    }

    #[test]
    fn bad_schema_names_are_refused() {
        for bad in ["", "Planform", "1st", "pg_state", "a-b", &"s".repeat(64)] {
            let e = PgBackend::new("host=db", bad, "w", PathBuf::new())
                .err()
                .unwrap();
            assert!(matches!(e, PgConfigError::SchemaName(_)), "{bad}: {e}");
        }
    }
}
