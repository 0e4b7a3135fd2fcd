//! Where a workspace's state lives: the seam between the commands and a store (the local
//! directory, PostgreSQL). A backend reads the state, takes the lock, and — only through the
//! lock it holds — records what changed, one address at a time, in O(size of the change).
//!
//! Ordering and fencing, the two rules every backend keeps:
//! - Records are made durable in the order [`Locked::record`] is *called* (not the order their
//!   futures are awaited), so a caller that assigns serials under its own mutex and calls
//!   `record` before releasing it gets them stored in serial order, while the writes of
//!   concurrent callers may share one commit (group commit).
//! - Every write is fenced: it fails with [`StateError::LockLost`] when the lock is no longer
//!   this holder's, and with [`StateError::SerialMismatch`] when the stored serial is not the one
//!   the write expects (`record.serial - 1`, or `expected` for [`Locked::write`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use planform_model::Address;

use crate::{LockInfo, ManagedPlan, State, StateError};

/// One durable step: what changed, stamped with the serial the state has once it is applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub serial: u64,
    pub changes: Vec<Change>,
}

/// What one record changes at one address.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The address now holds this plan (newly managed or changed).
    Put {
        address: Address,
        plan: Box<ManagedPlan>,
    },
    /// The address is no longer managed.
    Remove { address: Address },
}

impl State {
    /// Applies `record` to this state: each change in order, then the record's serial.
    pub fn apply_record(&mut self, record: &Record) {
        for change in &record.changes {
            match change {
                Change::Put { address, plan } => {
                    self.plans.insert(address.clone(), (**plan).clone());
                }
                Change::Remove { address } => {
                    self.plans.remove(address);
                }
            }
        }
        self.serial = record.serial;
    }
}

/// Resolves once a record is durable (or failed to become so).
pub type Durable = Pin<Box<dyn Future<Output = Result<(), StateError>> + Send + 'static>>;

/// A future a backend returns; boxed so the traits stay object safe.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// A store of one workspace's state.
pub trait Backend: Send + Sync {
    /// Where the state lives, for messages: `local state .planform/state.json`,
    /// `pg workspace "prod" (schema planform, host db.internal)`. Never a secret.
    fn describe(&self) -> String;

    /// The state as stored; `None` when there is none yet. Needs no lock (`plan --lock=false`,
    /// `show`, `output`); a reader never sees half of a record.
    fn load(&self) -> BackendFuture<'_, Option<State>>;

    /// Takes the lock for `command`, waiting up to `timeout` for a live holder; the error
    /// [`StateError::Locked`] names the holder when the wait runs out. The lock holds a lease
    /// that the returned guard renews while it lives.
    fn lock<'a>(
        &'a self,
        command: &'a str,
        timeout: Duration,
    ) -> BackendFuture<'a, Box<dyn Locked>>;

    /// Who holds the lock, if anyone.
    fn holder(&self) -> BackendFuture<'_, Option<LockInfo>>;

    /// Removes the lock of a holder that is gone: only an expired lease unless `force`.
    /// Returns the lock removed.
    fn unlock(&self, force: bool) -> BackendFuture<'_, Option<LockInfo>>;
}

/// A held lock: the only way to write a state.
pub trait Locked: Send + Sync {
    /// The lock as others see it (holder, command, host, lease).
    fn info(&self) -> &LockInfo;

    /// Enqueues `record`, whose serial must be one more than the stored serial once the records
    /// enqueued before it are stored. Returns at once; the future resolves when it is durable.
    fn record(&self, record: Record) -> Durable;

    /// Replaces the whole stored state with `state` (a first save, `state push`, a migration,
    /// the compaction at the end of a run), if the stored serial is `expected` (`None`: there
    /// must be no state yet). Waits for the records enqueued before it.
    fn write<'a>(&'a self, state: &'a State, expected: Option<u64>) -> BackendFuture<'a, ()>;

    /// Finishes: waits for every enqueued record, compacts where the backend keeps a journal,
    /// and releases the lock. Dropping a guard without `release` stops renewing the lease and
    /// releases the lock as well as it can without blocking.
    fn release(self: Box<Self>) -> BackendFuture<'static, ()>;
}
