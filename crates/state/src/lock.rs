//! What every backend's lock says of its holder, and the lock errors. How a lock is held is the
//! backend's business (the local backend: an OS lock on a file; PostgreSQL: a lease row and an
//! advisory lock).

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub command: String,
    /// When the lock was taken, seconds since the epoch.
    pub since: u64,
    /// When the lease runs out unless renewed, seconds since the epoch; 0 for a lock without a
    /// lease (the local backend's OS lock, which the kernel releases when its holder ends).
    pub lease_until: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the state is locked by pid {} on {} ({}) since {}s ago{} (lock id {}); {}", .0.pid, .0.host, .0.command, now().saturating_sub(.0.since), lease(.0), .0.id, advice(.0))]
    Held(LockInfo),
    /// The lock is held, but its holder has not said who it is yet (it is just starting).
    #[error("the state at {path} is locked by another process that is just starting; wait (--lock-timeout) and retry")]
    HeldUnnamed { path: String },
    /// `state unlock --force` on a lock the operating system holds for a live process: only
    /// ending that process releases it.
    #[error("the state is locked by pid {} on {} ({}), a process that is still running: the operating system holds this lock until that process ends, so it cannot be removed; stop that process (kill {}) and the lock is released", .0.pid, .0.host, .0.command, .0.pid)]
    HeldByLiveProcess(LockInfo),
    #[error("cannot use lock file {path}: {message}")]
    Io { path: String, message: String },
}

fn lease(info: &LockInfo) -> String {
    if info.lease_until == 0 {
        String::new()
    } else {
        format!(
            ", lease until {}s from now",
            info.lease_until.saturating_sub(now())
        )
    }
}

/// What to do about a held lock: a lock without a lease is the operating system's, released
/// when its holder ends, so only waiting helps; a leased one may outlive a job that is gone.
fn advice(info: &LockInfo) -> &'static str {
    if info.lease_until == 0 {
        "wait (--lock-timeout): the operating system releases the lock when that process ends"
    } else {
        "wait (--lock-timeout), or run `planform state unlock --force` if that job is gone"
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This host's name, for holder information.
pub fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_str()
        .map(str::to_string)
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(lease_until: u64) -> LockInfo {
        LockInfo {
            id: "l-1".into(),
            pid: 7,
            host: "vm".into(),
            command: "apply".into(),
            since: now(),
            lease_until,
        }
    }

    #[test]
    fn only_a_leased_lock_is_advised_to_be_forced() {
        let os = LockError::Held(holder(0)).to_string();
        assert!(!os.contains("unlock --force"), "{os}");
        assert!(
            os.contains("releases the lock when that process ends"),
            "{os}"
        );
        let leased = LockError::Held(holder(now() + 60)).to_string();
        assert!(leased.contains("unlock --force"), "{leased}");
    }
}
