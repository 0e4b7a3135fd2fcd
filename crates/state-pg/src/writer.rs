//! The held lock: one writer task owns the guard's connection (and with it the advisory lock),
//! takes the records in the order they were enqueued, commits each run of queued records in one
//! fenced transaction (group commit), and renews the lease between them.
//!
//! When the database goes away the writer reconnects (taking the advisory lock again and checking
//! the lease row still names it) and retries with backoff for a bounded time; a commit whose
//! answer was lost is recognised on retry by the serial it left. Once a write fails for good, every
//! later one fails the same way, and the state as this run knows it (the stored state with every
//! record and write applied, stored or not) is saved to the rescue file with mode 0600.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use planform_model::Address;
use planform_state::{
    BackendFuture, Change, Durable, Encryption, LockInfo, Locked, ManagedPlan, Record, State,
    StateError,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};

use crate::conn::{self, Connector};
use crate::schema::Tables;

/// A held lock on a PostgreSQL workspace.
pub struct PgLock {
    info: LockInfo,
    backend: String,
    jobs: mpsc::UnboundedSender<Job>,
    commits: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
}

impl PgLock {
    /// How many transactions have stored records so far (fewer than the records when concurrent
    /// records shared a commit).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// How many times a write was retried after the database could not be reached.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::SeqCst)
    }

    fn stopped(&self) -> StateError {
        StateError::Unavailable {
            backend: self.backend.clone(),
            message: "the writer of this lock has stopped".into(),
        }
    }
}

type Reply = oneshot::Sender<Result<(), StateError>>;

enum Job {
    Record(Record, Reply),
    Write(Box<State>, Option<u64>, Reply),
    Release(Reply),
}

impl Locked for PgLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn record(&self, record: Record) -> Durable {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send(Job::Record(record, tx)).is_err() {
            let e = self.stopped();
            return Box::pin(async move { Err(e) });
        }
        let stopped = self.stopped();
        Box::pin(async move { rx.await.unwrap_or(Err(stopped)) })
    }

    fn write<'a>(&'a self, state: &'a State, expected: Option<u64>) -> BackendFuture<'a, ()> {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .jobs
            .send(Job::Write(Box::new(state.clone()), expected, tx));
        Box::pin(async move {
            sent.map_err(|_| self.stopped())?;
            rx.await.unwrap_or_else(|_| Err(self.stopped()))
        })
    }

    fn release(self: Box<Self>) -> BackendFuture<'static, ()> {
        let (tx, rx) = oneshot::channel();
        let sent = self.jobs.send(Job::Release(tx));
        let (unsent, stopped) = (self.stopped(), self.stopped());
        Box::pin(async move {
            sent.map_err(|_| unsent)?;
            rx.await.unwrap_or(Err(stopped))
        })
    }
}

/// What [`start`] needs: the connection holding the advisory lock and the lease row just written.
pub(crate) struct Start {
    pub(crate) client: Client,
    pub(crate) connector: Connector,
    pub(crate) tables: Tables,
    pub(crate) workspace: String,
    pub(crate) backend: String,
    pub(crate) key: i64,
    pub(crate) info: LockInfo,
    pub(crate) lease: Duration,
    pub(crate) retry_for: Duration,
    pub(crate) rescue_file: PathBuf,
    /// The stored state when the lock was taken.
    pub(crate) state: Option<State>,
    pub(crate) encryption: Arc<Encryption>,
}

/// Starts the writer task of a lock just taken.
pub(crate) fn start(s: Start) -> PgLock {
    let (jobs, rx) = mpsc::unbounded_channel();
    let commits = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let lock = PgLock {
        info: s.info.clone(),
        backend: s.backend.clone(),
        jobs,
        commits: commits.clone(),
        retries: retries.clone(),
    };
    let known = s
        .state
        .unwrap_or_else(|| State::new(&s.workspace, planform_state::new_lineage()));
    let writer = Writer {
        client: Some(s.client),
        statements: None,
        connector: s.connector,
        tables: s.tables,
        workspace: s.workspace,
        backend: s.backend,
        key: s.key,
        lock_id: s.info.id,
        lease: s.lease,
        retry_for: s.retry_for,
        rescue_file: s.rescue_file,
        encryption: s.encryption,
        known,
        failed: None,
        unwritten: 0,
        commits,
        retries: retries.clone(),
    };
    tokio::spawn(writer.run(rx));
    lock
}

/// Why writes stopped for good.
#[derive(Debug, Clone)]
enum Failure {
    LockLost,
    Serial { expected: u64, found: u64 },
    Unavailable(String),
}

/// Why one attempt failed.
enum Attempt {
    /// A fence said no: not retried.
    Fence(Failure),
    Db(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Attempt {
    fn from(e: tokio_postgres::Error) -> Self {
        Attempt::Db(e)
    }
}

/// What one transaction stores.
enum Op<'a> {
    Records(&'a [Record]),
    State(&'a State, Option<u64>),
}

struct Writer {
    /// `None` after the connection was lost, until the next write reconnects.
    client: Option<Client>,
    /// The record statements prepared on `client`.
    statements: Option<Statements>,
    connector: Connector,
    tables: Tables,
    workspace: String,
    backend: String,
    key: i64,
    lock_id: String,
    lease: Duration,
    retry_for: Duration,
    rescue_file: PathBuf,
    encryption: Arc<Encryption>,
    /// The state as this run knows it: the stored state with every record and write applied,
    /// whether or not it was stored.
    known: State,
    failed: Option<Failure>,
    /// Records and writes that were not stored.
    unwritten: usize,
    commits: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let every = self.lease / 3;
        let mut renew_at = Instant::now() + every;
        let mut next: Option<Job> = None;
        loop {
            let job = match next.take() {
                Some(j) => Some(j),
                None => tokio::select! {
                    j = rx.recv() => j,
                    _ = tokio::time::sleep_until(renew_at) => {
                        self.renew().await;
                        renew_at = Instant::now() + every;
                        continue;
                    }
                },
            };
            match job {
                None => {
                    // The guard was dropped without `release`: let go of the lock.
                    self.let_go().await;
                    return;
                }
                Some(Job::Record(record, reply)) => {
                    let mut batch = vec![(record, reply)];
                    while let Ok(j) = rx.try_recv() {
                        match j {
                            Job::Record(r, reply) => batch.push((r, reply)),
                            other => {
                                next = Some(other);
                                break;
                            }
                        }
                    }
                    self.store_records(batch).await;
                }
                Some(Job::Write(state, expected, reply)) => {
                    let _ = reply.send(self.store_state(*state, expected).await);
                }
                Some(Job::Release(reply)) => {
                    self.let_go().await;
                    let _ = reply.send(self.outcome());
                    return;
                }
            }
            if renew_at <= Instant::now() {
                self.renew().await;
                renew_at = Instant::now() + every;
            }
        }
    }

    fn error(&self, f: &Failure) -> StateError {
        match f {
            Failure::LockLost => StateError::LockLost {
                backend: self.backend.clone(),
                lock_id: self.lock_id.clone(),
            },
            Failure::Serial { expected, found } => StateError::SerialMismatch {
                backend: self.backend.clone(),
                expected: *expected,
                found: *found,
            },
            Failure::Unavailable(m) => StateError::Unavailable {
                backend: self.backend.clone(),
                message: format!("{m}; {}", self.rescue_note()),
            },
        }
    }

    fn rescue_note(&self) -> String {
        let path = self.rescue_file.display();
        // The push runs where the manifests are (it checks their workspace) and reads the
        // file as given: with an absolute path and `-C`, the command works from any directory.
        let push = match self.rescue_file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => {
                format!("planform -C {} state push {path}", dir.display())
            }
            _ => format!("planform state push {path}"),
        };
        format!(
            "{} change(s) of this run were not written; the state as this run knows it is saved in {path}: once the database is back, run `{push}`",
            self.unwritten
        )
    }

    /// The answer to `release`: an error while anything of this run is not stored.
    fn outcome(&self) -> Result<(), StateError> {
        match &self.failed {
            None => Ok(()),
            Some(Failure::Unavailable(m)) => Err(StateError::Unavailable {
                backend: self.backend.clone(),
                message: format!("{m}; {}", self.rescue_note()),
            }),
            Some(f) => Err(StateError::Unavailable {
                backend: self.backend.clone(),
                message: format!("{}; {}", self.error(f), self.rescue_note()),
            }),
        }
    }

    /// Saves what this run knows to the rescue file (mode 0600, atomic).
    fn rescue(&mut self) {
        if let Err(e) = planform_state::save_with(&self.rescue_file, &self.known, &self.encryption)
        {
            // Nothing better is left to do than to say so with the error every caller gets.
            let note = format!("and saving the rescue file failed too: {e}");
            self.failed = Some(match self.failed.take() {
                Some(Failure::Unavailable(m)) => Failure::Unavailable(format!("{m} ({note})")),
                Some(other) => other,
                None => Failure::Unavailable(note),
            });
        }
    }

    async fn store_records(&mut self, batch: Vec<(Record, Reply)>) {
        // Runs of consecutive serials share a transaction; a gap starts a new one, whose fence
        // then reports the mismatch.
        let mut runs: Vec<Vec<(Record, Reply)>> = vec![];
        for (r, reply) in batch {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|(p, _)| p.serial + 1 == r.serial) => {
                    run.push((r, reply))
                }
                _ => runs.push(vec![(r, reply)]),
            }
        }
        for run in runs {
            let (records, replies): (Vec<Record>, Vec<Reply>) = run.into_iter().unzip();
            let result = match &self.failed {
                Some(f) => Err(f.clone()),
                None => self.attempt(Op::Records(&records)).await,
            };
            for r in &records {
                self.known.apply_record(r);
            }
            match result {
                Ok(()) => {
                    self.commits.fetch_add(1, Ordering::SeqCst);
                    for reply in replies {
                        let _ = reply.send(Ok(()));
                    }
                }
                Err(f) => {
                    self.unwritten += records.len();
                    self.failed = Some(f);
                    self.rescue();
                    let f = self.failed.clone().expect("just set");
                    for reply in replies {
                        let _ = reply.send(Err(self.error(&f)));
                    }
                }
            }
        }
    }

    async fn store_state(&mut self, state: State, expected: Option<u64>) -> Result<(), StateError> {
        let result = match &self.failed {
            Some(f) => Err(f.clone()),
            None => self.attempt(Op::State(&state, expected)).await,
        };
        self.known = state;
        match result {
            Ok(()) => {
                self.commits.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(f) => {
                self.unwritten += 1;
                self.failed = Some(f);
                self.rescue();
                let f = self.failed.clone().expect("just set");
                Err(self.error(&f))
            }
        }
    }

    /// Runs `op`, reconnecting and retrying with backoff while the database is unreachable, for
    /// up to `retry_for`.
    async fn attempt(&mut self, op: Op<'_>) -> Result<(), Failure> {
        let deadline = Instant::now() + self.retry_for;
        let mut backoff = Duration::from_millis(50);
        let mut retrying = false;
        loop {
            // A database that stops answering (a network partition) must not hang the run: each
            // attempt gets the time left, and at least a second.
            let budget = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            let outcome = tokio::time::timeout(budget, async {
                self.connect().await?;
                let client = self.client.as_mut().expect("connected");
                let statements = self.statements.as_ref().expect("prepared");
                commit(
                    client,
                    statements,
                    &self.tables,
                    &self.workspace,
                    &self.lock_id,
                    &self.encryption,
                    &op,
                    retrying,
                )
                .await
            })
            .await;
            let message = match outcome {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(Attempt::Fence(f))) => return Err(f),
                Ok(Err(Attempt::Db(e))) => {
                    let message = conn::describe_error(&e, self.connector.tls_mode);
                    if !transient(&e) {
                        return Err(Failure::Unavailable(message));
                    }
                    message
                }
                Err(_) => format!("the database did not answer within {budget:?}"),
            };
            self.client = None;
            retrying = true;
            self.retries.fetch_add(1, Ordering::SeqCst);
            let now = Instant::now();
            if now >= deadline {
                return Err(Failure::Unavailable(format!(
                    "no write succeeded for {:?}: {message}",
                    self.retry_for
                )));
            }
            // Full jitter, as the clients' retries (docs/retries.md).
            let pause = backoff
                .mul_f64(fastrand::f64())
                .max(Duration::from_millis(10));
            tokio::time::sleep(pause.min(deadline - now)).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// The guard's connection; after a loss, a new one that takes the advisory lock again, if
    /// the lease row still names this guard and nobody else holds it.
    async fn connect(&mut self) -> Result<(), Attempt> {
        if let Some(client) = self.client.as_ref().filter(|c| !c.is_closed()) {
            if self.statements.is_none() {
                self.statements = Some(prepare(client, &self.tables).await?);
            }
            return Ok(());
        }
        self.client = None;
        self.statements = None;
        let client = self.connector.connect().await?;
        let ours = client
            .query_opt(
                &format!(
                    "SELECT 1 FROM {} WHERE workspace = $1 AND lock_id = $2",
                    self.tables.locks
                ),
                &[&self.workspace, &self.lock_id],
            )
            .await?
            .is_some();
        if !ours {
            return Err(Attempt::Fence(Failure::LockLost));
        }
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.key])
            .await?
            .get(0);
        if !got {
            return Err(Attempt::Fence(Failure::LockLost));
        }
        self.statements = Some(prepare(&client, &self.tables).await?);
        self.client = Some(client);
        Ok(())
    }

    /// Extends the lease. A lease row that no longer names this guard stops every later write.
    async fn renew(&mut self) {
        if self.failed.is_some() {
            return;
        }
        match self.connect().await {
            Ok(()) => {}
            Err(Attempt::Fence(f)) => {
                self.failed = Some(f);
                return;
            }
            // The database is away: the next write retries, renewing can wait.
            Err(Attempt::Db(_)) => return,
        }
        let client = self.client.as_ref().expect("connected");
        let renewed = client
            .execute(
                &format!(
                    "UPDATE {} SET lease_until = extract(epoch FROM now())::bigint + $3
                     WHERE workspace = $1 AND lock_id = $2",
                    self.tables.locks
                ),
                &[
                    &self.workspace,
                    &self.lock_id,
                    &(self.lease.as_secs() as i64),
                ],
            )
            .await;
        match renewed {
            Ok(0) => self.failed = Some(Failure::LockLost),
            Ok(_) => {}
            Err(_) => self.client = None,
        }
    }

    /// Removes the lease row (if still this guard's) and the advisory lock, once, without retry:
    /// when the database is away they go with the session anyway.
    async fn let_go(&mut self) {
        let Some(client) = self.client.take().filter(|c| !c.is_closed()) else {
            return;
        };
        let _ = client
            .execute(
                &format!(
                    "DELETE FROM {} WHERE workspace = $1 AND lock_id = $2",
                    self.tables.locks
                ),
                &[&self.workspace, &self.lock_id],
            )
            .await;
        let _ = client
            .execute("SELECT pg_advisory_unlock($1)", &[&self.key])
            .await;
    }
}

/// Whether a failed statement may succeed on a new connection: the connection was lost, the
/// server is shutting down or starting, or the transaction lost a race it can retry.
fn transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(c) = e.code() {
        return c.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
                SqlState::T_R_SERIALIZATION_FAILURE,
                SqlState::T_R_DEADLOCK_DETECTED,
            ]
            .contains(c);
    }
    // Connecting or talking failed below SQL (refused, reset, timed out): an I/O error.
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// The statements of a record, prepared once per connection.
struct Statements {
    fence: Statement,
    advance: Statement,
    upsert: Statement,
    remove: Statement,
}

async fn prepare(client: &Client, tables: &Tables) -> Result<Statements, tokio_postgres::Error> {
    let fence = format!(
        "SELECT lock_id FROM {} WHERE workspace = $1 FOR SHARE",
        tables.locks
    );
    let advance = format!(
        "UPDATE {} SET serial = $2, updated_at = now() WHERE workspace = $1 AND serial = $3",
        tables.workspaces
    );
    let upsert = format!(
        "INSERT INTO {} (workspace, address, plan)
         SELECT $1, a, p FROM unnest($2::text[], $3::jsonb[]) AS t(a, p)
         ON CONFLICT (workspace, address) DO UPDATE SET plan = EXCLUDED.plan",
        tables.plans
    );
    let remove = format!(
        "DELETE FROM {} WHERE workspace = $1 AND address = ANY($2)",
        tables.plans
    );
    let (fence, advance, upsert, remove) = tokio::try_join!(
        client.prepare(&fence),
        client.prepare(&advance),
        client.prepare(&upsert),
        client.prepare(&remove),
    )?;
    Ok(Statements {
        fence,
        advance,
        upsert,
        remove,
    })
}

/// One fenced transaction: the lease row must name `lock_id` (and is share-locked until commit,
/// so it cannot be taken over meanwhile), and the stored serial must be the expected one. The
/// statements of a record are pipelined (sent together, one round trip) and their answers
/// checked before the commit; when a check fails the transaction is rolled back.
// The writer's fields, borrowed apart from its mutably borrowed connection.
#[allow(clippy::too_many_arguments)]
async fn commit(
    client: &mut Client,
    st: &Statements,
    tables: &Tables,
    workspace: &str,
    lock_id: &str,
    encryption: &Encryption,
    op: &Op<'_>,
    retrying: bool,
) -> Result<(), Attempt> {
    let stored = |address: &Address, plan: &ManagedPlan| {
        let context = crate::row_context(workspace, &address.to_string());
        planform_state::plan_to_stored(&context, plan, encryption)
            .map_err(|e| Attempt::Fence(Failure::Unavailable(e.to_string())))
    };
    let tx = client.transaction().await?;
    match op {
        Op::Records(records) => {
            let (first, last) = (&records[0], &records[records.len() - 1]);
            let old = first.serial.saturating_sub(1);
            // Only the net effect per address matters inside one transaction.
            let mut net: BTreeMap<&Address, Option<&ManagedPlan>> = BTreeMap::new();
            for r in records.iter() {
                for c in &r.changes {
                    match c {
                        Change::Put { address, plan } => net.insert(address, Some(plan)),
                        Change::Remove { address } => net.insert(address, None),
                    };
                }
            }
            let (mut put_addresses, mut put_plans, mut removed) = (vec![], vec![], vec![]);
            for (a, p) in net {
                match p {
                    Some(p) => {
                        put_addresses.push(a.to_string());
                        put_plans.push(stored(a, p)?);
                    }
                    None => removed.push(a.to_string()),
                }
            }
            let (new, old_i) = (last.serial as i64, old as i64);
            let (holder, updated, _, _) = tokio::try_join!(
                async { tx.query_opt(&st.fence, &[&workspace]).await },
                async { tx.execute(&st.advance, &[&workspace, &new, &old_i]).await },
                async {
                    match put_addresses.is_empty() {
                        true => Ok(0),
                        false => {
                            tx.execute(&st.upsert, &[&workspace, &put_addresses, &put_plans])
                                .await
                        }
                    }
                },
                async {
                    match removed.is_empty() {
                        true => Ok(0),
                        false => tx.execute(&st.remove, &[&workspace, &removed]).await,
                    }
                },
            )?;
            if holder.map(|r| r.get::<_, String>(0)).as_deref() != Some(lock_id) {
                return Err(Attempt::Fence(Failure::LockLost));
            }
            if updated == 0 {
                let found = stored_serial(&tx, tables, workspace).await?.unwrap_or(0);
                // A commit whose answer was lost left exactly this serial, and only this
                // lock's holder can have written it.
                if retrying && found == last.serial {
                    return Ok(());
                }
                return Err(Attempt::Fence(Failure::Serial {
                    expected: old,
                    found,
                }));
            }
        }
        Op::State(state, expected) => {
            let holder = tx.query_opt(&st.fence, &[&workspace]).await?;
            if holder.map(|r| r.get::<_, String>(0)).as_deref() != Some(lock_id) {
                return Err(Attempt::Fence(Failure::LockLost));
            }
            let found = tx
                .query_opt(
                    &format!(
                        "SELECT serial FROM {} WHERE workspace = $1 FOR UPDATE",
                        tables.workspaces
                    ),
                    &[&workspace],
                )
                .await?
                .map(|r| r.get::<_, i64>(0) as u64);
            if found != *expected {
                if retrying && found == Some(state.serial) {
                    return Ok(());
                }
                return Err(Attempt::Fence(Failure::Serial {
                    expected: expected.unwrap_or(0),
                    found: found.unwrap_or(0),
                }));
            }
            tx.execute(
                &format!(
                    "INSERT INTO {} (workspace, lineage, serial) VALUES ($1, $2, $3)
                     ON CONFLICT (workspace) DO UPDATE
                       SET lineage = EXCLUDED.lineage, serial = EXCLUDED.serial, updated_at = now()",
                    tables.workspaces
                ),
                &[&workspace, &state.lineage, &(state.serial as i64)],
            )
            .await?;
            tx.execute(
                &format!("DELETE FROM {} WHERE workspace = $1", tables.plans),
                &[&workspace],
            )
            .await?;
            let addresses: Vec<String> = state.plans.keys().map(|a| a.to_string()).collect();
            let plans: Vec<serde_json::Value> = state
                .plans
                .iter()
                .map(|(a, p)| stored(a, p))
                .collect::<Result<_, _>>()?;
            if !addresses.is_empty() {
                tx.execute(&st.upsert, &[&workspace, &addresses, &plans])
                    .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn stored_serial(
    tx: &tokio_postgres::Transaction<'_>,
    tables: &Tables,
    workspace: &str,
) -> Result<Option<u64>, tokio_postgres::Error> {
    Ok(tx
        .query_opt(
            &format!(
                "SELECT serial FROM {} WHERE workspace = $1",
                tables.workspaces
            ),
            &[&workspace],
        )
        .await?
        .map(|r| r.get::<_, i64>(0) as u64))
}
