//! The local backend: `state.json` is the readable snapshot (`StateFileV1`, mode 0600, replaced
//! atomically); `state.json.journal` beside it takes one line per record, appended by one writer
//! thread that commits every record queued meanwhile with one fsync (group commit); `load`
//! replays it; it is compacted into the snapshot at `release` and when it outgrows the
//! snapshot. The lock is an OS lock on `state.json.lock` (see `lock.rs`). Every commit is fenced:
//! the lock file must still be the one this guard holds and the serial must follow the stored one.
//! With encryption on, the snapshot is one envelope and each journal line another (see
//! `journal.rs`); a run that finds them stored otherwise than it writes (a migration, or a
//! rotation: sealed with the fallback key) rewrites the snapshot as soon as it holds the lock.

mod journal;
mod lock;

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use planform_encryption::Encryption;

use tokio::sync::oneshot;

use crate::backend::{Backend, BackendFuture, Durable, Locked, Record};
use crate::{LockInfo, State, StateError};

pub use lock::lock_path;

/// A journal smaller than this is never compacted before `release`.
const MIN_COMPACTION_BYTES: u64 = 1 << 20;

/// The state in a local directory.
pub struct LocalBackend {
    path: PathBuf,
    /// The journal is compacted when it grows past this or the snapshot's size, whichever is
    /// larger, so a compaction's O(state) cost is spread over as many bytes of records.
    compaction_bytes: u64,
    encryption: Arc<Encryption>,
}

impl LocalBackend {
    /// The backend of the snapshot at `path` (`<dir>/.planform/state.json` by default), in
    /// plaintext (see [`LocalBackend::with_encryption`]).
    pub fn new(path: impl Into<PathBuf>) -> LocalBackend {
        LocalBackend {
            path: path.into(),
            compaction_bytes: MIN_COMPACTION_BYTES,
            encryption: Arc::new(Encryption::off()),
        }
    }

    /// The same backend, reading and writing with `encryption`.
    pub fn with_encryption(mut self, encryption: Arc<Encryption>) -> LocalBackend {
        self.encryption = encryption;
        self
    }

    /// The snapshot's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`Backend::load`] without a runtime: the snapshot with the journal replayed (tests and
    /// benchmarks watch a running apply through this).
    pub fn load_now(&self) -> Result<Option<State>, StateError> {
        Ok(self.read()?.map(|r| r.state))
    }

    fn read(&self) -> Result<Option<Stored>, StateError> {
        read_state(&self.path, &self.journal_path(), &self.encryption)
    }

    /// The journal's path.
    pub fn journal_path(&self) -> PathBuf {
        lock::suffixed(&self.path, ".journal")
    }

    fn describe_path(&self) -> String {
        format!("local state {}", self.path.display())
    }
}

fn read_error(path: &Path, e: std::io::Error) -> StateError {
    StateError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// The file beside the snapshot `path` that holds the snapshot before its last replacement
/// (`state.json.backup`, as Terraform keeps `terraform.tfstate.backup`).
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".backup");
    PathBuf::from(name)
}

/// Copies the snapshot at `path` to its backup (atomically, mode 0600) before it is replaced, so
/// a snapshot damaged later by hand or by the disk has an earlier one to restore. With
/// `encryption` on, a plaintext snapshot (the one a migration to encryption replaces) is kept
/// sealed, never in clear beside the encrypted state.
fn keep_backup(path: &Path, encryption: &Encryption) -> Result<(), StateError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(read_error(path, e)),
    };
    let bytes = match std::str::from_utf8(&bytes) {
        Ok(text) if encryption.writes_encrypted() && !planform_encryption::is_sealed(text) => {
            crate::file::seal_snapshot_text(text, encryption)?.into_bytes()
        }
        _ => bytes,
    };
    let backup = backup_path(path);
    crate::write_atomically(&backup, &bytes).map_err(|e| write_error(&backup, e))
}

/// What is stored: the snapshot with the journal replayed onto it.
struct Stored {
    state: State,
    /// How many bytes of the journal are valid.
    valid_len: u64,
    /// Whether the snapshot or a journal line is stored otherwise than this run writes
    /// (encrypted or not: a migration; sealed with the fallback key: a rotation), finished by
    /// rewriting the snapshot.
    other_form: bool,
}

/// The snapshot with the journal replayed onto it.
fn read_state(
    snapshot: &Path,
    journal_path: &Path,
    encryption: &Encryption,
) -> Result<Option<Stored>, StateError> {
    let origin = snapshot.display().to_string();
    let state = match std::fs::read_to_string(snapshot) {
        Ok(text) => Some((
            crate::file::decode(&text, &origin, encryption)?.0,
            encryption.is_stale(&text),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(read_error(snapshot, e)),
    };
    let bytes = match std::fs::read(journal_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(read_error(journal_path, e)),
    };
    match state {
        Some((mut state, stale)) => {
            let replayed = journal::replay(
                &mut state,
                &bytes,
                encryption,
                &journal_path.display().to_string(),
            )?;
            Ok(Some(Stored {
                state,
                valid_len: replayed.valid_len,
                other_form: replayed.other_form || stale,
            }))
        }
        None if bytes.is_empty() => Ok(None),
        None => Err(StateError::Corrupt {
            path: snapshot.display().to_string(),
            message: format!(
                "it is missing but its journal {} is not; restore the snapshot or remove the journal",
                journal_path.display()
            ),
        }),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl Backend for LocalBackend {
    fn describe(&self) -> String {
        self.describe_path()
    }

    fn load(&self) -> BackendFuture<'_, Option<State>> {
        Box::pin(async move { Ok(self.read()?.map(|r| r.state)) })
    }

    fn lock<'a>(
        &'a self,
        command: &'a str,
        timeout: Duration,
    ) -> BackendFuture<'a, Box<dyn Locked>> {
        Box::pin(async move {
            let guard = LocalLocked::take(self, command, timeout).await?;
            Ok(Box::new(guard) as Box<dyn Locked>)
        })
    }

    fn holder(&self) -> BackendFuture<'_, Option<LockInfo>> {
        Box::pin(async move { Ok(lock::holder(&self.path)?) })
    }

    fn unlock(&self, force: bool) -> BackendFuture<'_, Option<LockInfo>> {
        Box::pin(async move { Ok(lock::unlock(&self.path, force)?) })
    }
}

type Reply = oneshot::Sender<Result<(), StateError>>;

enum Command {
    Record(Record, Reply),
    Write(Box<State>, Option<u64>, Reply),
    Release(Reply),
}

/// A held local lock: the writer thread owns the OS lock, the journal and the state as stored.
struct LocalLocked {
    info: LockInfo,
    queue: std::sync::Mutex<mpsc::Sender<Command>>,
}

impl LocalLocked {
    async fn take(
        backend: &LocalBackend,
        command: &str,
        timeout: Duration,
    ) -> Result<LocalLocked, StateError> {
        let path = backend.path.clone();
        let dir = crate::atomic::directory_of(&path);
        create_private_dir(&dir).map_err(|e| write_error(&dir, e))?;
        let os_lock = lock::take(&lock::lock_path(&path), &lock::info_path(&path), timeout).await?;
        let info = LockInfo {
            id: crate::new_lineage(),
            pid: std::process::id(),
            host: crate::lock::host_name(),
            command: command.to_string(),
            since: crate::lock::now(),
            lease_until: 0,
        };
        let info_path = lock::info_path(&path);
        crate::write_atomically(
            &info_path,
            serde_json::to_string(&info).expect("serialises").as_bytes(),
        )
        .map_err(|e| write_error(&info_path, e))?;
        let journal_path = backend.journal_path();
        let (state, valid_len, rewrite) = match backend.read()? {
            Some(r) => (Some(r.state), r.valid_len, r.other_form),
            None => (None, 0, false),
        };
        let journal = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&journal_path)
            .map_err(|e| write_error(&journal_path, e))?;
        // Cut off a torn tail before appending after it.
        let len = journal
            .metadata()
            .map_err(|e| write_error(&journal_path, e))?
            .len();
        if len != valid_len {
            journal
                .set_len(valid_len)
                .and_then(|()| journal.sync_all())
                .map_err(|e| write_error(&journal_path, e))?;
        }
        crate::atomic::sync_directory(&dir).map_err(|e| write_error(&dir, e))?;
        let snapshot_len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let mut writer = Writer {
            describe: backend.describe_path(),
            path,
            journal_path,
            info_path,
            journal,
            journal_len: valid_len,
            snapshot_len,
            state,
            lock_id: info.id.clone(),
            os_lock,
            compaction_bytes: backend.compaction_bytes,
            failed: None,
            encryption: backend.encryption.clone(),
        };
        if rewrite {
            // A migration: rewritten now, while the lock is held, rather than at release (a
            // run that drops its guard may end before the writer thread compacts).
            writer.snapshot()?;
        }
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("planform-state-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| write_error(backend.path(), e))?;
        Ok(LocalLocked {
            info,
            queue: std::sync::Mutex::new(tx),
        })
    }

    /// Queues `command`; the answer resolves when the writer has carried it out.
    fn send(
        &self,
        command: impl FnOnce(Reply) -> Command,
    ) -> oneshot::Receiver<Result<(), StateError>> {
        let (tx, rx) = oneshot::channel();
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        // A writer that has ended drops the reply, which the receiver reports.
        let _ = queue.send(command(tx));
        rx
    }
}

async fn answer(
    rx: oneshot::Receiver<Result<(), StateError>>,
    lock_id: String,
) -> Result<(), StateError> {
    rx.await.unwrap_or(Err(StateError::LockLost {
        backend: "local state".into(),
        lock_id,
    }))
}

impl Locked for LocalLocked {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn record(&self, record: Record) -> Durable {
        let rx = self.send(|reply| Command::Record(record, reply));
        Box::pin(answer(rx, self.info.id.clone()))
    }

    fn write<'a>(&'a self, state: &'a State, expected: Option<u64>) -> BackendFuture<'a, ()> {
        let rx = self.send(|reply| Command::Write(Box::new(state.clone()), expected, reply));
        Box::pin(answer(rx, self.info.id.clone()))
    }

    fn release(self: Box<Self>) -> BackendFuture<'static, ()> {
        let rx = self.send(Command::Release);
        Box::pin(answer(rx, self.info.id.clone()))
    }
}

/// The one writer of a locked local state.
struct Writer {
    describe: String,
    path: PathBuf,
    journal_path: PathBuf,
    info_path: PathBuf,
    journal: File,
    journal_len: u64,
    snapshot_len: u64,
    /// The state as stored (`None`: none yet).
    state: Option<State>,
    lock_id: String,
    os_lock: lock::OsLock,
    compaction_bytes: u64,
    /// Set once a write failed: the journal's end is unknown, so nothing more is written.
    failed: Option<String>,
    encryption: Arc<Encryption>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Command>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            batch.extend(rx.try_iter());
            let mut records = Vec::new();
            for command in batch {
                match command {
                    Command::Record(r, reply) => records.push((r, reply)),
                    Command::Write(state, expected, reply) => {
                        self.commit(std::mem::take(&mut records));
                        let _ = reply.send(self.replace(*state, expected));
                    }
                    Command::Release(reply) => {
                        self.commit(std::mem::take(&mut records));
                        let result = self.compact().and_then(|()| self.clear_info());
                        // The OS lock goes with `self`: released before the answer, so whoever
                        // awaited `release` finds the lock free.
                        drop(self);
                        let _ = reply.send(result);
                        return;
                    }
                }
            }
            self.commit(records);
            if self.journal_len > self.compaction_bytes.max(self.snapshot_len) {
                // Answers were sent already; an error here is met again by the next write.
                if let Err(e) = self.compact() {
                    self.failed = Some(e.to_string());
                }
            }
        }
        // The guard was dropped without `release`: what was queued is written (above). Compact
        // as release would (if the process ends first, the journal is replayed instead), and
        // release the lock with `self`.
        if self.journal_len > 0 {
            let _ = self.compact();
        }
        let _ = self.clear_info();
    }

    /// Fencing: the lock file is still the one held, and still names this guard.
    fn fence(&self) -> Result<(), StateError> {
        if let Some(message) = &self.failed {
            return Err(write_error(&self.journal_path, message));
        }
        let named = lock::read_info(&self.info_path).is_some_and(|i| i.id == self.lock_id);
        if !self.os_lock.still_ours() || !named {
            return Err(StateError::LockLost {
                backend: self.describe.clone(),
                lock_id: self.lock_id.clone(),
            });
        }
        Ok(())
    }

    fn mismatch(&self, expected: u64) -> StateError {
        StateError::SerialMismatch {
            backend: self.describe.clone(),
            expected,
            found: self.state.as_ref().map_or(0, |s| s.serial),
        }
    }

    /// Appends `records` with one fsync, then answers each.
    fn commit(&mut self, records: Vec<(Record, Reply)>) {
        if records.is_empty() {
            return;
        }
        if let Err(e) = self.fence() {
            for (_, reply) in records {
                let _ = reply.send(Err(clone_error(&e)));
            }
            return;
        }
        let mut bytes = Vec::new();
        let mut answers = Vec::with_capacity(records.len());
        for (record, reply) in records {
            let expected = record.serial.wrapping_sub(1);
            match &mut self.state {
                Some(state) if state.serial == expected => {
                    match journal::encode(&state.lineage, &record, &self.encryption) {
                        Ok(line) => {
                            bytes.extend(line);
                            state.apply_record(&record);
                            answers.push((reply, Ok(())));
                        }
                        Err(e) => answers.push((reply, Err(e))),
                    }
                }
                _ => {
                    let e = self.mismatch(expected);
                    answers.push((reply, Err(e)));
                }
            }
        }
        let written = if bytes.is_empty() {
            Ok(())
        } else {
            self.journal
                .write_all(&bytes)
                .and_then(|()| self.journal.sync_data())
        };
        match written {
            Ok(()) => {
                self.journal_len += bytes.len() as u64;
                for (reply, result) in answers {
                    let _ = reply.send(result);
                }
            }
            Err(e) => {
                self.failed = Some(e.to_string());
                for (reply, _) in answers {
                    let _ = reply.send(Err(write_error(&self.journal_path, &e)));
                }
            }
        }
    }

    /// Replaces the snapshot with `state` if the stored serial is `expected`.
    fn replace(&mut self, state: State, expected: Option<u64>) -> Result<(), StateError> {
        self.fence()?;
        match (&self.state, expected) {
            (None, None) => {}
            (Some(s), Some(e)) if s.serial == e => {}
            (_, e) => return Err(self.mismatch(e.unwrap_or(0))),
        }
        self.state = Some(state);
        self.snapshot()
    }

    /// Writes the state as the snapshot and empties the journal.
    fn snapshot(&mut self) -> Result<(), StateError> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let done = crate::file::encode(state, &self.encryption).and_then(|text| {
            keep_backup(&self.path, &self.encryption)?;
            crate::write_atomically(&self.path, text.as_bytes())
                .map_err(|e| write_error(&self.path, e))
                .map(|()| text.len())
        });
        let text_len = match done {
            Ok(n) => n,
            Err(e) => {
                self.failed = Some(e.to_string());
                return Err(e);
            }
        };
        self.snapshot_len = text_len as u64;
        // A crash before this leaves records the snapshot already has; replay skips them.
        if self.journal_len > 0 {
            if let Err(e) = self
                .journal
                .set_len(0)
                .and_then(|()| self.journal.sync_all())
            {
                self.failed = Some(e.to_string());
                return Err(write_error(&self.journal_path, e));
            }
            self.journal_len = 0;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<(), StateError> {
        if self.journal_len == 0 {
            return match &self.failed {
                Some(m) => Err(write_error(&self.journal_path, m)),
                None => Ok(()),
            };
        }
        self.fence()?;
        self.snapshot()
    }

    fn clear_info(&self) -> Result<(), StateError> {
        if lock::read_info(&self.info_path).is_some_and(|i| i.id == self.lock_id) {
            std::fs::remove_file(&self.info_path).map_err(|e| write_error(&self.info_path, e))?;
        }
        Ok(())
    }
}

/// `StateError` is not `Clone` (it wraps `LockError`); the fencing errors a batch shares are.
fn clone_error(e: &StateError) -> StateError {
    match e {
        StateError::LockLost { backend, lock_id } => StateError::LockLost {
            backend: backend.clone(),
            lock_id: lock_id.clone(),
        },
        StateError::Write { path, message } => StateError::Write {
            path: path.clone(),
            message: message.clone(),
        },
        other => StateError::Write {
            path: "(state)".into(),
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
