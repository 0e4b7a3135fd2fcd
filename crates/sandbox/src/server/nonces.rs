//! The Alibaba face's replay guard: every signature nonce seen, kept as its SHA-256 with the
//! moment it stops mattering (the request's signed time plus the 15-minute window, after which
//! the timestamp check refuses the request anyway), evicted by time and never by count, and
//! written to a redb file in the data directory before the request is carried out, so a
//! captured request replayed after a restart is still refused.
//!
//! Durable writes cost an fsync each (about 4 ms here), so concurrent requests share one:
//! the first request to find no commit under way commits every nonce queued so far, and the
//! others wait for the commit that holds theirs (group commit).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use redb::{Database, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};

/// The longest nonce accepted. Alibaba documents no limit and asks for a UUID (36 characters)
/// or 32 hex characters; 128 leaves room for any SDK's spelling and refuses the 60 KB nonces
/// that once filled memory.
pub const MAX_NONCE_LEN: usize = 128;

/// How many unexpired nonces are kept at most (about 100 bytes each in memory). Past it, new
/// requests are refused with the cloud's flow-control error until nonces expire: a flood can
/// neither grow memory without bound nor push older nonces out to make them replayable.
pub const MAX_LIVE_NONCES: usize = 1_000_000;

const TABLE: TableDefinition<&[u8; 32], u64> = TableDefinition::new("nonces");

type Hash = [u8; 32];

/// Why a nonce was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    #[error("the nonce was used already")]
    Used,
    #[error("{0} unexpired nonces are kept already")]
    Full(usize),
    #[error("nonce database: {0}")]
    Store(String),
}

fn store_error(e: impl std::fmt::Display) -> NonceError {
    NonceError::Store(e.to_string())
}

/// The nonces seen and not yet expired, by hash and by expiry.
#[derive(Default)]
struct Seen {
    expiry_of: HashMap<Hash, u64>,
    by_expiry: BTreeSet<(u64, Hash)>,
}

impl Seen {
    /// Forgets every nonce whose expiry is at or before `now_ms`; returns their hashes.
    fn evict(&mut self, now_ms: u64) -> Vec<Hash> {
        let keep = self
            .by_expiry
            .split_off(&(now_ms.saturating_add(1), [0; 32]));
        let gone = std::mem::replace(&mut self.by_expiry, keep);
        gone.into_iter()
            .map(|(_, h)| {
                self.expiry_of.remove(&h);
                h
            })
            .collect()
    }

    fn insert(&mut self, hash: Hash, expires_ms: u64) {
        self.expiry_of.insert(hash, expires_ms);
        self.by_expiry.insert((expires_ms, hash));
    }
}

/// Writes queued for the next commit, and the outcome every request in it waits for.
struct Batch {
    insert: Vec<(Hash, u64)>,
    remove: Vec<Hash>,
    outcome: Arc<OnceLock<Result<(), NonceError>>>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            insert: Vec::new(),
            remove: Vec::new(),
            outcome: Arc::new(OnceLock::new()),
        }
    }
}

struct Queue {
    open: Batch,
    committing: bool,
}

pub(crate) struct Nonces {
    seen: Mutex<Seen>,
    limit: usize,
    db: Option<Database>,
    queue: Mutex<Queue>,
    committed: Condvar,
}

fn hash(nonce: &str) -> Hash {
    Sha256::digest(nonce.as_bytes()).into()
}

impl Nonces {
    /// Nonces kept in memory only (tests, benchmarks, servers without a data directory).
    pub fn memory() -> Nonces {
        Nonces::with(None, Seen::default(), MAX_LIVE_NONCES)
    }

    fn with(db: Option<Database>, seen: Seen, limit: usize) -> Nonces {
        Nonces {
            seen: Mutex::new(seen),
            limit,
            db,
            queue: Mutex::new(Queue {
                open: Batch::new(),
                committing: false,
            }),
            committed: Condvar::new(),
        }
    }

    /// Opens (or creates) the nonce database at `path`, keeping the nonces not expired at
    /// `now_ms` and deleting the others.
    pub fn open(path: &Path, now_ms: u64) -> Result<Nonces, NonceError> {
        let db =
            Database::create(path).map_err(|e| store_error(format!("{}: {e}", path.display())))?;
        let mut seen = Seen::default();
        let txn = db.begin_write().map_err(store_error)?;
        {
            let mut table = txn.open_table(TABLE).map_err(store_error)?;
            let mut expired = Vec::new();
            for item in table.iter().map_err(store_error)? {
                let (k, v) = item.map_err(store_error)?;
                let (h, until) = (*k.value(), v.value());
                if until <= now_ms {
                    expired.push(h);
                } else {
                    seen.insert(h, until);
                }
            }
            for h in &expired {
                table.remove(h).map_err(store_error)?;
            }
        }
        txn.commit().map_err(store_error)?;
        Ok(Nonces::with(Some(db), seen, MAX_LIVE_NONCES))
    }

    /// Admits `nonce`, which matters until `expires_ms`, at `now_ms`: refused when it was seen
    /// before; otherwise remembered, durably when there is a database, before this returns.
    pub fn admit(&self, nonce: &str, expires_ms: u64, now_ms: u64) -> Result<(), NonceError> {
        let h = hash(nonce);
        let evicted = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let evicted = seen.evict(now_ms);
            if seen.expiry_of.contains_key(&h) {
                Err(NonceError::Used)
            } else if seen.expiry_of.len() >= self.limit {
                Err(NonceError::Full(self.limit))
            } else {
                seen.insert(h, expires_ms);
                Ok(evicted)
            }
        };
        match evicted {
            Ok(evicted) => self.persist(h, expires_ms, evicted),
            Err(e) => Err(e),
        }
    }

    /// How many nonces are remembered now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expiry_of
            .len()
    }

    /// Queues the write and waits until a commit holding it is durable (group commit).
    fn persist(&self, h: Hash, expires_ms: u64, evicted: Vec<Hash>) -> Result<(), NonceError> {
        let Some(db) = &self.db else { return Ok(()) };
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.open.insert.push((h, expires_ms));
        q.open.remove.extend(evicted);
        let mine = q.open.outcome.clone();
        loop {
            if let Some(outcome) = mine.get() {
                return outcome.clone();
            }
            if !q.committing {
                q.committing = true;
                let batch = std::mem::replace(&mut q.open, Batch::new());
                drop(q);
                let outcome = write(db, &batch);
                let _ = batch.outcome.set(outcome);
                q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                q.committing = false;
                self.committed.notify_all();
                continue;
            }
            q = self.committed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One durable transaction: the batch's new nonces in, its expired ones out.
fn write(db: &Database, batch: &Batch) -> Result<(), NonceError> {
    let txn = db.begin_write().map_err(store_error)?;
    {
        let mut table = txn.open_table(TABLE).map_err(store_error)?;
        for (h, until) in &batch.insert {
            table.insert(h, until).map_err(store_error)?;
        }
        for h in &batch.remove {
            table.remove(h).map_err(store_error)?;
        }
    }
    txn.commit().map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn a_nonce_is_admitted_once_until_it_expires() {
        let n = Nonces::memory();
        assert_eq!(n.admit("a", 15 * MIN, 0), Ok(()));
        assert_eq!(n.admit("a", 15 * MIN, 1), Err(NonceError::Used));
        assert_eq!(n.admit("b", 15 * MIN, 1), Ok(()));
        // At its expiry the timestamp check refuses the request, so the nonce may go.
        assert_eq!(n.admit("a", 30 * MIN, 15 * MIN), Ok(()));
        assert_eq!(n.len(), 1, "b expired at the same moment and is gone too");
    }

    #[test]
    fn a_flood_of_unique_nonces_stays_bounded_by_time() {
        let n = Nonces::memory();
        let mut now = 0;
        // 20 minutes of 50 requests a second (60,000 nonces), each valid for 15 minutes.
        for i in 0..60_000u64 {
            now = i * 20;
            n.admit(&format!("{i:032x}"), now + 15 * MIN, now).unwrap();
        }
        // Only the last 15 minutes' nonces remain: 45,000, not 60,000.
        assert_eq!(n.len(), 45_000);
        // Once every one has expired, the next request finds them all gone.
        n.admit("late", now + 31 * MIN, now + 16 * MIN).unwrap();
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn past_the_limit_requests_are_refused_not_older_nonces_forgotten() {
        let n = Nonces::with(None, Seen::default(), 3);
        for x in ["a", "b", "c"] {
            n.admit(x, 10, 0).unwrap();
        }
        assert_eq!(n.admit("d", 10, 1), Err(NonceError::Full(3)));
        // "a" is still remembered: filling the table did not push it out.
        assert_eq!(n.admit("a", 10, 2), Err(NonceError::Used));
        // Time frees room.
        assert_eq!(n.admit("d", 20, 10), Ok(()));
    }

    #[test]
    fn nonces_survive_a_reopen_with_their_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nonces.redb");
        {
            let n = Nonces::open(&path, 0).unwrap();
            n.admit("captured", 15 * MIN, 0).unwrap();
            n.admit("short", MIN, 0).unwrap();
        }
        let n = Nonces::open(&path, 2 * MIN).unwrap();
        assert_eq!(n.len(), 1, "the expired nonce was dropped on open");
        assert_eq!(
            n.admit("captured", 17 * MIN, 2 * MIN),
            Err(NonceError::Used)
        );
        assert_eq!(n.admit("short", 17 * MIN, 2 * MIN), Ok(()));
        drop(n);
        // Past every expiry, nothing is left on disk either.
        let n = Nonces::open(&path, 60 * MIN).unwrap();
        assert_eq!(n.len(), 0);
        assert_eq!(n.admit("captured", 75 * MIN, 60 * MIN), Ok(()));
    }

    #[test]
    fn concurrent_admissions_share_commits_and_each_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nonces.redb");
        {
            let n = Nonces::open(&path, 0).unwrap();
            std::thread::scope(|s| {
                for t in 0..8 {
                    let n = &n;
                    s.spawn(move || {
                        for i in 0..25 {
                            n.admit(&format!("{t}-{i}"), MIN, 0).unwrap();
                        }
                    });
                }
            });
        }
        let n = Nonces::open(&path, 1).unwrap();
        assert_eq!(n.len(), 200);
        assert_eq!(n.admit("7-24", MIN, 1), Err(NonceError::Used));
    }
}
