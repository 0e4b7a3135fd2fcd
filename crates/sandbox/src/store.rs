//! Persistence: every record as JSON in a redb table. A mutation queues its writes (in memory,
//! under the sandbox's mutex) and the request that made it is answered only once they are
//! durable ([`Store::settle`], outside the mutex): writes queued by concurrent requests share
//! one redb transaction and one fsync (group commit). A `kill -9` loses at most the requests not
//! yet answered, and each of them wholly or not at all (one request's writes are never split
//! between transactions).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("sandbox database {path}: {message}")]
    Open { path: String, message: String },
    #[error("sandbox database: {0}")]
    Io(String),
    #[error("sandbox database record {key} is corrupt: {message}")]
    Corrupt { key: String, message: String },
}

fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// One change to write: a key and its new value, or `None` to delete it.
pub type Write = (String, Option<Vec<u8>>);

pub struct Store {
    durable: Option<Durability>,
}

/// The writes queued and how far they are durable, shared by the store and whoever answers
/// requests (the server and the embedded provider settle outside the sandbox's mutex).
#[derive(Clone)]
pub struct Durability(Arc<Shared>);

struct Shared {
    db: Database,
    queue: Mutex<Queue>,
    settled: Condvar,
}

#[derive(Default)]
struct Queue {
    /// Writes not yet handed to a transaction, in the order they were made.
    pending: Vec<Write>,
    /// Mutations queued so far (each `commit` is one).
    queued: u64,
    /// Mutations known durable.
    durable: u64,
    /// A request is writing a group now; the others wait for it.
    writing: bool,
    /// A group failed to commit: what is in memory is no longer what is on disk, so every
    /// request from now on fails until the sandbox is opened again.
    failed: Option<StoreError>,
}

impl Store {
    /// A store that keeps nothing (tests, benchmarks).
    pub fn memory() -> Store {
        Store { durable: None }
    }

    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(RECORDS).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(Store {
            durable: Some(Durability(Arc::new(Shared {
                db,
                queue: Mutex::new(Queue::default()),
                settled: Condvar::new(),
            }))),
        })
    }

    /// Every record whose key starts with `prefix`, as stored (call before queuing writes).
    pub fn load<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>, StoreError> {
        let Some(Durability(shared)) = &self.durable else {
            return Ok(Vec::new());
        };
        let txn = shared.db.begin_read().map_err(io)?;
        let table = txn.open_table(RECORDS).map_err(io)?;
        let mut out = Vec::new();
        for item in table.range(prefix..).map_err(io)? {
            let (k, v) = item.map_err(io)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                    key: k.value().to_string(),
                    message: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }

    /// Queues `changes` as one mutation, written in one transaction with whatever else is
    /// queued when the next group is written. Durable once [`Durability::settle`] returns.
    pub fn commit(&self, changes: Vec<Write>) -> Result<(), StoreError> {
        let Some(Durability(shared)) = &self.durable else {
            return Ok(());
        };
        if changes.is_empty() {
            return Ok(());
        }
        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = &q.failed {
            return Err(e.clone());
        }
        q.pending.extend(changes);
        q.queued += 1;
        Ok(())
    }

    /// The handle to settle with, outside the sandbox's mutex; `None` for a memory store.
    pub fn durability(&self) -> Option<Durability> {
        self.durable.clone()
    }
}

impl Drop for Store {
    /// Whatever was queued is written before the store goes (a process that exits normally
    /// loses nothing).
    fn drop(&mut self) {
        if let Some(d) = &self.durable {
            let _ = d.settle();
        }
    }
}

impl Durability {
    /// Returns once every mutation queued before the call is durable. The first caller that
    /// finds writes pending and nobody writing writes them all in one transaction (one fsync);
    /// the others wait for it, then write the next group if theirs is not in it.
    pub fn settle(&self) -> Result<(), StoreError> {
        let shared = &self.0;
        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        let target = q.queued;
        loop {
            if let Some(e) = &q.failed {
                return Err(e.clone());
            }
            if q.durable >= target {
                return Ok(());
            }
            if q.writing {
                q = shared.settled.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let group = std::mem::take(&mut q.pending);
            let upto = q.queued;
            q.writing = true;
            drop(q);
            let written = write_group(&shared.db, &group);
            q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.writing = false;
            match written {
                Ok(()) => q.durable = upto,
                Err(e) => q.failed = Some(e),
            }
            shared.settled.notify_all();
        }
    }
}

/// One transaction with every write of the group, in order (a later write of a key wins).
fn write_group(db: &Database, group: &[Write]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(io)?;
    {
        let mut table = txn.open_table(RECORDS).map_err(io)?;
        for (k, v) in group {
            match v {
                Some(v) => {
                    table.insert(k.as_str(), v.as_slice()).map_err(io)?;
                }
                None => {
                    table.remove(k.as_str()).map_err(io)?;
                }
            }
        }
    }
    txn.commit().map_err(io)
}

pub fn encode<T: Serialize>(key: String, value: &T) -> Write {
    (
        key,
        Some(serde_json::to_vec(value).expect("records serialise")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Option<Vec<u8>> {
        Some(serde_json::to_vec(s).unwrap())
    }

    #[test]
    fn queued_writes_are_durable_once_settled_and_a_later_write_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        store
            .commit(vec![("k/1".into(), value("a")), ("k/2".into(), value("b"))])
            .unwrap();
        store
            .commit(vec![("k/1".into(), value("c")), ("k/2".into(), None)])
            .unwrap();
        store.durability().unwrap().settle().unwrap();
        // Read through a second handle on the file: what is durable, not what is queued.
        drop(store);
        let again = Store::open(&path).unwrap();
        assert_eq!(again.load::<String>("k/").unwrap(), ["c"]);
    }

    #[test]
    fn concurrent_mutations_share_groups_and_every_one_is_durable_when_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Arc::new(Store::open(&path).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let d = store.durability().unwrap();
                    for i in 0..50 {
                        store
                            .commit(vec![(format!("k/{t}/{i:02}"), value("v"))])
                            .unwrap();
                        d.settle().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let store = Arc::into_inner(store).unwrap();
        drop(store);
        let again = Store::open(&path).unwrap();
        assert_eq!(again.load::<String>("k/").unwrap().len(), 400);
    }

    #[test]
    fn dropping_the_store_writes_what_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        store.commit(vec![("k/1".into(), value("a"))]).unwrap();
        drop(store);
        assert_eq!(
            Store::open(&path).unwrap().load::<String>("k/").unwrap(),
            ["a"]
        );
    }

    #[test]
    fn a_failed_group_fails_every_later_request() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let d = store.durability().unwrap();
        d.0.queue.lock().unwrap().failed = Some(StoreError::Io("disk full".into()));
        assert!(matches!(
            store.commit(vec![("k".into(), value("a"))]),
            Err(StoreError::Io(m)) if m == "disk full"
        ));
        assert!(d.settle().is_err());
    }
}
