//! The state lock: a file created exclusively beside the state, naming its holder, with a lease
//! that the holder's renewal thread extends. A lock whose lease has run out (its holder was
//! killed) is taken over, and so is one whose holder ran on this host and is gone; a live one is
//! waited for up to `--lock-timeout`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub command: String,
    /// When the lock was taken, seconds since the epoch.
    pub since: u64,
    /// When the lease runs out unless renewed, seconds since the epoch.
    pub lease_until: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the state is locked by pid {} on {} ({}) since {}s ago, lease until {}s from now (lock id {}); wait, or run `planform state unlock --force` if that job is gone", .0.pid, .0.host, .0.command, now().saturating_sub(.0.since), .0.lease_until.saturating_sub(now()), .0.id)]
    Held(LockInfo),
    #[error("cannot use lock file {path}: {message}")]
    Io { path: String, message: String },
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn lock_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// A held lock; dropping it stops the renewal and removes the lock file.
pub struct StateLock {
    path: PathBuf,
    pub info: LockInfo,
    stop: Arc<AtomicBool>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StateLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.renewer.take() {
            h.thread().unpark();
            let _ = h.join();
        }
        if read(&self.path).is_some_and(|i| i.id == self.info.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn read(path: &Path) -> Option<LockInfo> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn write_new(path: &Path, info: &LockInfo) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(serde_json::to_string(info).expect("serialises").as_bytes())?;
    f.sync_all()
}

/// Takes the lock of the state at `state`, waiting up to `timeout` for a live holder.
pub fn lock(
    state: &Path,
    command: &str,
    lease: Duration,
    timeout: Duration,
) -> Result<StateLock, LockError> {
    let path = lock_path(state);
    let io = |e: std::io::Error| LockError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let started = std::time::Instant::now();
    let info = LockInfo {
        id: crate::new_lineage(),
        pid: std::process::id(),
        host,
        command: command.to_string(),
        since: now(),
        lease_until: now() + lease.as_secs().max(1),
    };
    loop {
        match write_new(&path, &info) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match read(&path) {
                    Some(held)
                        if held.lease_until > now()
                            && (held.host != info.host || pid_alive(held.pid)) =>
                    {
                        if started.elapsed() >= timeout {
                            return Err(LockError::Held(held));
                        }
                        std::thread::sleep(Duration::from_millis(200).min(timeout));
                    }
                    // Expired, or unreadable (a holder killed mid-write): take it over.
                    _ => {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
            Err(e) => return Err(io(e)),
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let renewer = {
        let (stop, path, mut info) = (stop.clone(), path.clone(), info.clone());
        let every = (lease / 3).max(Duration::from_millis(100));
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(every);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                info.lease_until = now() + lease.as_secs().max(1);
                let tmp = path.with_extension("lock.renew");
                if std::fs::write(&tmp, serde_json::to_string(&info).expect("serialises")).is_ok()
                    && read(&path).is_some_and(|i| i.id == info.id)
                {
                    let _ = std::fs::rename(&tmp, &path);
                }
            }
        })
    };
    Ok(StateLock {
        path,
        info,
        stop,
        renewer: Some(renewer),
    })
}

/// Whether a process with this pid runs on this host (Linux: /proc; elsewhere assumed alive).
fn pid_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Who holds the lock, if anyone.
pub fn holder(state: &Path) -> Option<LockInfo> {
    read(&lock_path(state))
}

/// Removes the lock: only an expired one unless `force`.
pub fn unlock(state: &Path, force: bool) -> Result<Option<LockInfo>, LockError> {
    let path = lock_path(state);
    match read(&path) {
        None if !path.exists() => Ok(None),
        Some(held) if held.lease_until > now() && !force => Err(LockError::Held(held)),
        held => {
            std::fs::remove_file(&path).map_err(|e| LockError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            Ok(held)
        }
    }
}
