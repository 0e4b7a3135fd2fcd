//! The local lock: an exclusive `flock` on `<state>.lock`, held for the guard's life. The
//! kernel releases it when its holder ends, however it ends (`kill -9` included), so there is
//! no lease to expire, no "crashed holder" to guess and nothing to take over: a lock is held
//! exactly while its holder's open file is. Who holds it is written beside it
//! (`<state>.lock.info`, for messages and `state unlock`); the file itself is never removed, so
//! every process always locks the same inode.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{flock, FlockOperation};

use crate::{LockError, LockInfo};

/// The lock file of the state at `state`.
pub fn lock_path(state: &Path) -> PathBuf {
    suffixed(state, ".lock")
}

/// Where the holder of the lock of the state at `state` is named.
pub(crate) fn info_path(state: &Path) -> PathBuf {
    suffixed(state, ".lock.info")
}

pub(crate) fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A held OS lock: released when dropped (or when the process ends).
pub(crate) struct OsLock {
    file: File,
    path: PathBuf,
}

impl OsLock {
    /// Whether `path` still names the file this lock is on (nobody removed or replaced it).
    pub(crate) fn still_ours(&self) -> bool {
        match (self.file.metadata(), std::fs::metadata(&self.path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> LockError {
    LockError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn open(path: &Path) -> Result<File, LockError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .map_err(|e| io_error(path, e))
}

/// Tries to take the lock without waiting: `Ok(None)` when another holder has it.
fn try_take(path: &Path) -> Result<Option<OsLock>, LockError> {
    let file = open(path)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(OsLock {
            file,
            path: path.to_path_buf(),
        })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(io_error(path, e)),
    }
}

/// Takes the lock at `path`, waiting up to `timeout` for the holder named at `info` to end.
/// The wait is the kernel's (a blocking `flock` on a helper thread), not polling; a wait that
/// runs out leaves that thread to release the lock at once should it still get it.
pub(crate) async fn take(path: &Path, info: &Path, timeout: Duration) -> Result<OsLock, LockError> {
    if let Some(held) = try_take(path)? {
        return Ok(held);
    }
    if !timeout.is_zero() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let file = open(path)?;
        std::thread::spawn(move || {
            let result = flock(&file, FlockOperation::LockExclusive).map(|()| file);
            // If the waiter gave up, the send fails and the file (and its lock) is dropped.
            let _ = tx.send(result);
        });
        if let Ok(answer) = tokio::time::timeout(timeout, rx).await {
            match answer {
                Ok(Ok(file)) => {
                    return Ok(OsLock {
                        file,
                        path: path.to_path_buf(),
                    })
                }
                Ok(Err(e)) => return Err(io_error(path, e)),
                Err(_) => return Err(io_error(path, "the lock waiter ended")),
            }
        }
    }
    Err(match read_info(info) {
        Some(holder) => LockError::Held(holder),
        None => LockError::HeldUnnamed {
            path: path.display().to_string(),
        },
    })
}

pub(crate) fn read_info(path: &Path) -> Option<LockInfo> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Who holds the lock of the state at `state`, if anyone: the holder named beside the lock,
/// provided the OS lock is really held (a name left by a killed holder is not a holder).
pub(crate) fn holder(state: &Path) -> Result<Option<LockInfo>, LockError> {
    let path = lock_path(state);
    if !path.exists() {
        return Ok(None);
    }
    let file = open(&path)?;
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(None),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(Some(
            read_info(&info_path(state)).unwrap_or_else(unnamed_holder),
        )),
        Err(e) => Err(io_error(&path, e)),
    }
}

fn unnamed_holder() -> LockInfo {
    LockInfo {
        id: "(not yet named)".into(),
        pid: 0,
        host: "(unknown host)".into(),
        command: "starting".into(),
        since: crate::lock::now(),
        lease_until: 0,
    }
}

/// `state unlock`: a lock whose holder is gone is already released by the kernel, so this only
/// clears the name it left (and returns it). A lock held by a live process is refused, even
/// with `force`: the kernel keeps it until that process ends.
pub(crate) fn unlock(state: &Path, force: bool) -> Result<Option<LockInfo>, LockError> {
    let path = lock_path(state);
    if !path.exists() {
        return Ok(None);
    }
    let info = info_path(state);
    match try_take(&path)? {
        Some(_held) => {
            let left = read_info(&info);
            if left.is_some() {
                std::fs::remove_file(&info).map_err(|e| io_error(&info, e))?;
            }
            Ok(left)
        }
        None => {
            let holder = read_info(&info).unwrap_or_else(unnamed_holder);
            Err(if force {
                LockError::HeldByLiveProcess(holder)
            } else {
                LockError::Held(holder)
            })
        }
    }
}
