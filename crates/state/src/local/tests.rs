//! Local backend tests: records, replay, compaction, fencing, and the lock between threads and
//! between processes (the test binary re-runs itself as the child process).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::time::Duration;

use planform_model::{Address, ProviderKind, ProviderRef};

use super::*;
use crate::{Change, ManagedPlan};

fn plan(id: &str) -> Box<ManagedPlan> {
    Box::new(ManagedPlan::new(
        ProviderRef::default_for(ProviderKind::Sandbox),
        id,
    ))
}

fn put(serial: u64, name: &str, id: &str) -> Record {
    Record {
        serial,
        changes: vec![Change::Put {
            address: Address::new(name),
            plan: plan(id),
        }],
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

const LONG: Duration = Duration::from_secs(600);

/// The wait for a lock nobody else holds. Not zero: a process another test of this binary
/// spawns shares the lock file's open descriptions (and so its `flock`) between its fork and its
/// exec, so a lock just released can look held for that moment.
const FREE: Duration = Duration::from_secs(30);

/// A locked backend with a first snapshot written (serial 0).
async fn started(backend: &LocalBackend) -> Box<dyn Locked> {
    let guard = backend.lock("test", FREE).await.unwrap();
    guard
        .write(&State::new("ws", "lin".into()), None)
        .await
        .unwrap();
    guard
}

#[test]
fn records_are_journalled_replayed_and_compacted_at_release() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join(".planform/state.json"));
    runtime().block_on(async {
        assert_eq!(backend.load().await.unwrap(), None);
        let guard = started(&backend).await;
        // Records queued together, awaited afterwards (they may share one commit).
        let pending: Vec<Durable> = (1..=20)
            .map(|i| guard.record(put(i, &format!("p{}", i % 7), &format!("id{i}"))))
            .collect();
        for d in pending {
            d.await.unwrap();
        }
        let snapshot = crate::load(backend.path()).unwrap().unwrap();
        assert_eq!(
            snapshot.serial, 0,
            "records go to the journal, not the snapshot"
        );
        let seen = backend.load().await.unwrap().unwrap();
        assert_eq!(seen.serial, 20);
        assert_eq!(seen.plans.len(), 7);
        assert_eq!(seen.plans[&Address::new("p6")].plan_id, "id20");
        guard.release().await.unwrap();
        assert_eq!(crate::load(backend.path()).unwrap().unwrap(), seen);
        assert_eq!(std::fs::metadata(backend.journal_path()).unwrap().len(), 0);
        assert_eq!(backend.holder().await.unwrap(), None);
    });
    use std::os::unix::fs::PermissionsExt;
    for f in [
        backend.path().to_path_buf(),
        backend.journal_path(),
        lock_path(backend.path()),
    ] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    let mode = std::fs::metadata(dir.path().join(".planform"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_guard_dropped_without_release_loses_nothing_and_frees_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join("state.json"));
    runtime().block_on(async {
        let guard = started(&backend).await;
        guard.record(put(1, "a", "x")).await.unwrap();
        guard
            .record(Record {
                serial: 2,
                changes: vec![Change::Remove {
                    address: Address::new("a"),
                }],
            })
            .await
            .unwrap();
        guard.record(put(3, "b", "y")).await.unwrap();
        drop(guard);
        let again = backend.lock("test", LONG).await.unwrap();
        let s = backend.load().await.unwrap().unwrap();
        assert_eq!(s.serial, 3);
        assert_eq!(s.plans.keys().collect::<Vec<_>>(), vec![&Address::new("b")]);
        again.record(put(4, "c", "z")).await.unwrap();
        again.release().await.unwrap();
        assert_eq!(crate::load(backend.path()).unwrap().unwrap().serial, 4);
    });
}

#[test]
fn a_torn_tail_is_ignored_and_cut_off_before_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join("state.json"));
    let rt = runtime();
    rt.block_on(async {
        let guard = started(&backend).await;
        guard.record(put(1, "a", "x")).await.unwrap();
        drop(guard);
    });
    // A crash in the middle of the next line.
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(backend.journal_path())
        .unwrap();
    let torn = journal::encode("lin", &put(2, "b", "y"), &Encryption::off()).unwrap();
    j.write_all(&torn[..torn.len() / 2]).unwrap();
    rt.block_on(async {
        let s = backend.load().await.unwrap().unwrap();
        assert_eq!((s.serial, s.plans.len()), (1, 1));
        let guard = backend.lock("test", LONG).await.unwrap();
        guard.record(put(2, "c", "z")).await.unwrap();
        drop(guard);
        let s = backend.load().await.unwrap().unwrap();
        assert_eq!(s.serial, 2, "the record after the cut is replayed");
        assert!(s.plans.contains_key(&Address::new("c")));
    });
}

#[test]
fn writes_are_fenced_by_serial() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join("state.json"));
    runtime().block_on(async {
        let guard = backend.lock("test", FREE).await.unwrap();
        let no_state = guard.record(put(1, "a", "x")).await.unwrap_err();
        assert!(
            matches!(no_state, StateError::SerialMismatch { .. }),
            "{no_state}"
        );
        guard
            .write(&State::new("ws", "lin".into()), None)
            .await
            .unwrap();
        let skipped = guard.record(put(2, "a", "x")).await.unwrap_err();
        assert!(
            matches!(
                skipped,
                StateError::SerialMismatch {
                    expected: 1,
                    found: 0,
                    ..
                }
            ),
            "{skipped}"
        );
        guard.record(put(1, "a", "x")).await.unwrap();
        let mut newer = State::new("ws", "lin".into());
        newer.serial = 9;
        let stale = guard.write(&newer, Some(0)).await.unwrap_err();
        assert!(
            stale
                .to_string()
                .contains("has serial 1, this run expected 0"),
            "{stale}"
        );
        let exists = guard.write(&newer, None).await.unwrap_err();
        assert!(matches!(exists, StateError::SerialMismatch { .. }));
        guard.write(&newer, Some(1)).await.unwrap();
        guard.release().await.unwrap();
        assert_eq!(backend.load().await.unwrap().unwrap(), newer);
    });
}

#[test]
fn writes_are_fenced_by_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join("state.json"));
    runtime().block_on(async {
        let guard = started(&backend).await;
        guard.record(put(1, "a", "x")).await.unwrap();
        // Someone removed the lock file under a running holder: a new run could lock a new file.
        std::fs::remove_file(lock_path(backend.path())).unwrap();
        let e = guard.record(put(2, "a", "y")).await.unwrap_err();
        assert!(matches!(e, StateError::LockLost { .. }), "{e}");
        assert!(e.to_string().contains(&guard.info().id), "{e}");
        let e = guard
            .write(&State::new("ws", "lin".into()), Some(1))
            .await
            .unwrap_err();
        assert!(matches!(e, StateError::LockLost { .. }), "{e}");
        drop(guard);
        assert_eq!(backend.load().await.unwrap().unwrap().serial, 1);
    });
}

#[test]
fn the_journal_is_compacted_when_it_outgrows_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut backend = LocalBackend::new(dir.path().join("state.json"));
    backend.compaction_bytes = 2_000;
    runtime().block_on(async {
        let guard = started(&backend).await;
        for i in 1..=40 {
            guard
                .record(put(i, &format!("p{}", i % 3), "x"))
                .await
                .unwrap();
        }
        let len = std::fs::metadata(backend.journal_path()).unwrap().len();
        assert!(
            len <= 2_000 + 400,
            "journal of {len} bytes was not compacted"
        );
        assert!(crate::load(backend.path()).unwrap().unwrap().serial > 0);
        assert_eq!(backend.load().await.unwrap().unwrap().serial, 40);
        drop(guard);
    });
}

#[test]
fn a_held_lock_names_its_holder_and_a_waiter_gets_it_on_release() {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(LocalBackend::new(dir.path().join("state.json")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let first = backend.lock("apply", FREE).await.unwrap();
        let err = backend.lock("plan", Duration::ZERO).await.err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())) && msg.contains("(apply)"),
            "{msg}"
        );
        assert_eq!(backend.holder().await.unwrap().unwrap().id, first.info().id);
        let refused = backend.unlock(false).await.unwrap_err().to_string();
        assert!(refused.contains("(apply)"), "{refused}");
        let forced = backend.unlock(true).await.unwrap_err().to_string();
        assert!(forced.contains("still running"), "{forced}");
        let waiter = {
            let backend = backend.clone();
            tokio::spawn(async move {
                let g = backend.lock("second", LONG).await.unwrap();
                let id = g.info().id.clone();
                g.release().await.unwrap();
                id
            })
        };
        first.release().await.unwrap();
        let second = waiter.await.unwrap();
        assert_ne!(second, "");
        assert_eq!(backend.holder().await.unwrap(), None);
        assert_eq!(backend.unlock(false).await.unwrap(), None);
    });
}

/// Appends `line` to the shared log with O_APPEND (one write: atomic between processes).
fn log(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    f.write_all(line.as_bytes()).unwrap();
}

/// Takes and releases the lock `rounds` times, logging entries and exits. Each time it holds
/// the lock it reads the state and records the next serial: a read-modify-write that two
/// holders at once would make collide (a refused serial) or lose (a final serial short of the
/// number of rounds of all contenders).
fn contend(state: &Path, log_path: &Path, who: &str, rounds: usize) {
    let backend = LocalBackend::new(state);
    let rt = runtime();
    for n in 0..rounds {
        rt.block_on(async {
            let g = backend.lock(who, LONG).await.unwrap();
            log(log_path, &format!("enter {who} {n}\n"));
            match backend.load().await.unwrap() {
                Some(s) => g
                    .record(put(s.serial + 1, who, &format!("{who}-{n}")))
                    .await
                    .unwrap(),
                None => g
                    .write(&State::new("ws", "lin".into()), None)
                    .await
                    .unwrap(),
            }
            log(log_path, &format!("exit {who} {n}\n"));
            g.release().await.unwrap();
        });
    }
}

/// What the contenders left: each round but the very first recorded one serial.
fn serial_after(state: &Path) -> u64 {
    crate::load(state).unwrap().unwrap().serial
}

/// Overlaps in a log of entries and exits: an entry while someone is inside.
fn overlaps(log_path: &Path) -> (usize, usize) {
    let text = std::fs::read_to_string(log_path).unwrap();
    let (mut inside, mut overlaps, mut entries) = (None::<String>, 0, 0);
    for line in text.lines() {
        let (kind, who) = line.split_once(' ').unwrap();
        match kind {
            "enter" => {
                entries += 1;
                if inside.is_some() {
                    overlaps += 1;
                }
                inside = Some(who.to_string());
            }
            _ => {
                if inside.as_deref() == Some(who) {
                    inside = None;
                }
            }
        }
    }
    (entries, overlaps)
}

/// A directory for the contention tests: in memory where the machine has one (`/dev/shm`),
/// so that thousands of rounds cost the lock's time, not the disk's fsyncs.
fn contention_dir() -> tempfile::TempDir {
    match Path::new("/dev/shm") {
        shm if shm.is_dir() => tempfile::tempdir_in(shm).unwrap(),
        _ => tempfile::tempdir().unwrap(),
    }
}

#[test]
fn threads_contending_for_the_lock_never_overlap() {
    let dir = contention_dir();
    let state = dir.path().join("state.json");
    let log_path = dir.path().join("log");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (state, log_path) = (state.clone(), log_path.clone());
            std::thread::spawn(move || contend(&state, &log_path, &format!("t{t}"), 200))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(overlaps(&log_path), (1_600, 0));
    assert_eq!(serial_after(&state), 1_599);
}

const CHILD: &str = "PLANFORM_STATE_TEST_CHILD";

/// Runs this test binary's `child` test as a separate process with `args`.
fn spawn_child(args: &str) -> Process {
    let mut c = Process::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "local::tests::child",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, args)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    c
}

/// The child process of the tests below, started with `PLANFORM_STATE_TEST_CHILD` naming its
/// role. Run by the harness itself (no role), it checks its `contend` role in process: every
/// round enters and leaves the lock once.
#[test]
fn child() {
    let Ok(args) = std::env::var(CHILD) else {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("log");
        contend(&dir.path().join("state.json"), &log_path, "solo", 3);
        assert_eq!(overlaps(&log_path), (3, 0));
        assert_eq!(serial_after(&dir.path().join("state.json")), 2);
        return;
    };

    let parts: Vec<&str> = args.split('|').collect();
    match parts[0] {
        "contend" => contend(
            Path::new(parts[1]),
            Path::new(parts[2]),
            parts[3],
            parts[4].parse().unwrap(),
        ),
        "record" => {
            // Takes the lock, then records until killed, printing each serial once durable.
            // The parent holds our stdin: should it end without killing us, so do we.
            std::thread::spawn(|| {
                let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
                std::process::exit(0);
            });
            let backend = LocalBackend::new(parts[1]);
            runtime().block_on(async {
                let g = backend.lock("child", LONG).await.unwrap();
                let base = backend.load().await.unwrap().map_or(0, |s| s.serial);
                if base == 0 {
                    g.write(&State::new("ws", "lin".into()), None)
                        .await
                        .unwrap();
                }
                println!("locked");
                for serial in base + 1.. {
                    g.record(put(
                        serial,
                        &format!("p{}", serial % 50),
                        &format!("id{serial}"),
                    ))
                    .await
                    .unwrap();
                    println!("{serial}");
                }
            });
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn processes_contending_for_the_lock_never_overlap() {
    let dir = contention_dir();
    let state = dir.path().join("state.json");
    let log_path = dir.path().join("log");
    let children: Vec<_> = (0..16)
        .map(|p| {
            spawn_child(&format!(
                "contend|{}|{}|p{p}|150",
                state.display(),
                log_path.display()
            ))
            .spawn()
            .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(overlaps(&log_path), (2_400, 0));
    assert_eq!(serial_after(&state), 2_399);
}

/// kill -9 of a holder in the middle of recording: its lock is free at once (the kernel
/// released it), and every record it acknowledged is there.
#[test]
fn a_killed_holder_loses_nothing_acknowledged_and_leaves_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let backend = LocalBackend::new(&state);
    let rt = runtime();
    let mut acknowledged = 0;
    for round in 0..3 {
        let mut c = spawn_child(&format!("record|{}", state.display()))
            .spawn()
            .unwrap();
        let mut out = BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        // The test harness prints its own lines first.
        while !line.trim_end().ends_with("locked") {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the child ended early"
            );
        }
        // Let it acknowledge a few dozen records, then kill it mid-stream.
        let mut seen = 0;
        while seen < 30 + round * 17 {
            line.clear();
            out.read_line(&mut line).unwrap();
            if let Ok(serial) = line.trim().parse::<u64>() {
                acknowledged = serial;
                seen += 1;
            }
        }
        c.kill().unwrap();
        c.wait().unwrap();
        let s = rt.block_on(backend.load()).unwrap().unwrap();
        assert!(s.serial >= acknowledged, "{} < {acknowledged}", s.serial);
        let holder = rt.block_on(backend.holder()).unwrap();
        assert_eq!(holder, None, "the kernel released the killed holder's lock");
    }
    rt.block_on(async {
        let g = backend.lock("after", FREE).await.unwrap();
        g.release().await.unwrap();
    });
    // The name the killed holder left beside the lock is not a holder.
    assert!(acknowledged >= 30);
}

fn encryption(pairs: &[(&str, &str)]) -> Arc<Encryption> {
    let env = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(Encryption::from_env(&env).unwrap())
}

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A plan whose sensitive parameter is known (in memory after an apply).
fn secret_plan(id: &str) -> Box<ManagedPlan> {
    let mut m = plan(id);
    m.applied = Some(planform_model::PlanInputs {
        name: "db".into(),
        parameters: [("password".to_string(), "s3cr3t-distinctive".to_string())].into(),
        ..Default::default()
    });
    m.sensitive_parameters.insert("password".into());
    m
}

fn files_text(backend: &LocalBackend) -> String {
    [backend.path().to_path_buf(), backend.journal_path()]
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// Issue 16 (5): with encryption on, the snapshot and every journal line are envelopes that
/// keep the sensitive value for the next run; off, neither holds it. Migration both ways is
/// explicit and finished by the next lock holder, and reading with the wrong key changes nothing.
#[test]
fn encrypted_snapshot_and_journal_and_migrations_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let on = encryption(&[("PLANFORM_ENCRYPTION_KEY", KEY)]);
    let secret = |b: &LocalBackend| {
        b.load_now().unwrap().unwrap().plans[&Address::new("db")]
            .applied
            .as_ref()
            .unwrap()
            .parameters
            .get("password")
            .cloned()
    };
    runtime().block_on(async {
        // Plaintext first: the value is not written.
        let plain = LocalBackend::new(&path);
        let guard = started(&plain).await;
        let record = |serial| Record {
            serial,
            changes: vec![Change::Put {
                address: Address::new("db"),
                plan: secret_plan("plan-1"),
            }],
        };
        guard.record(record(1)).await.unwrap();
        assert!(!files_text(&plain).contains("s3cr3t"));
        guard.release().await.unwrap();
        assert_eq!(secret(&plain), None);

        // Encryption on without a migration: the plaintext state is refused, and left as is.
        let encrypted = LocalBackend::new(&path).with_encryption(on.clone());
        let before = std::fs::read(&path).unwrap();
        let e = encrypted.load().await.unwrap_err().to_string();
        assert!(e.contains("is not encrypted, but encryption is on"), "{e}");
        assert!(encrypted.lock("apply", FREE).await.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);

        // Migrating: the next lock holder rewrites the snapshot encrypted, even with nothing
        // to record.
        let migrating = LocalBackend::new(&path).with_encryption(encryption(&[
            ("PLANFORM_ENCRYPTION_KEY", KEY),
            ("PLANFORM_ENCRYPTION_MIGRATE", "encrypt"),
        ]));
        migrating
            .lock("plan", FREE)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
        assert!(planform_encryption::is_sealed(
            &std::fs::read_to_string(&path).unwrap()
        ));
        // The plaintext snapshot the migration replaced is kept sealed, not in clear beside the
        // encrypted state (found by a second trial), and opens as the state it was.
        let kept = std::fs::read_to_string(backup_path(&path)).unwrap();
        assert!(planform_encryption::is_sealed(&kept), "{kept}");
        assert_eq!(
            crate::decode(&kept, "backup", &on).unwrap().0.serial,
            crate::decode(
                &String::from_utf8(before.clone()).unwrap(),
                "plain",
                &Encryption::off()
            )
            .unwrap()
            .0
            .serial
        );
        // Encrypted: the journal line keeps the value for the next run, in an envelope.
        let guard = encrypted.lock("apply", FREE).await.unwrap();
        guard.record(record(2)).await.unwrap();
        let journal = std::fs::read_to_string(encrypted.journal_path()).unwrap();
        assert!(planform_encryption::is_sealed(&journal[17..]), "{journal}");
        assert!(!files_text(&encrypted).contains("s3cr3t"));
        assert_eq!(secret(&encrypted).as_deref(), Some("s3cr3t-distinctive"));
        guard.release().await.unwrap();
        assert_eq!(secret(&encrypted).as_deref(), Some("s3cr3t-distinctive"));

        // Another key: refused by name, nothing changed.
        let other = LocalBackend::new(&path).with_encryption(encryption(&[(
            "PLANFORM_ENCRYPTION_KEY",
            "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
        )]));
        let sealed = std::fs::read(&path).unwrap();
        let e = other.lock("apply", FREE).await.err().unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("{} was encrypted with a key", path.display())),
            "{e}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), sealed);

        // Rotation: the new key writes, the old one reads as the fallback.
        let rotated = LocalBackend::new(&path).with_encryption(encryption(&[
            (
                "PLANFORM_ENCRYPTION_KEY",
                "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
            ),
            ("PLANFORM_ENCRYPTION_KEY_FALLBACK", KEY),
        ]));
        let guard = rotated.lock("apply", FREE).await.unwrap();
        guard.record(record(3)).await.unwrap();
        guard.release().await.unwrap();
        assert!(other.load().await.is_ok(), "rewritten with the new key");
        assert_eq!(secret(&other).as_deref(), Some("s3cr3t-distinctive"));

        // Decrypting: written back as plaintext, without the sensitive value.
        let decrypting = LocalBackend::new(&path).with_encryption(encryption(&[
            (
                "PLANFORM_ENCRYPTION_KEY",
                "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
            ),
            ("PLANFORM_ENCRYPTION_MIGRATE", "decrypt"),
        ]));
        decrypting
            .lock("apply", FREE)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
        let text = files_text(&plain);
        assert!(!planform_encryption::is_sealed(&text) && !text.contains("s3cr3t"));
        assert_eq!(plain.load().await.unwrap().unwrap().serial, 3);
        assert_eq!(secret(&plain), None);
    });
}

/// Issue 16 (8): the corrupt-state error points at a backup, so one is kept: every time the
/// snapshot is replaced, the one before goes to `state.json.backup` (0600); a snapshot damaged
/// afterwards is refused naming it, and restoring it loads the earlier state.
#[test]
fn the_snapshot_before_the_last_write_is_kept_as_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join(".planform/state.json"));
    let backup = backup_path(backend.path());
    runtime().block_on(async {
        let guard = started(&backend).await;
        assert!(
            !backup.exists(),
            "nothing to back up before the first snapshot"
        );
        guard.record(put(1, "a", "first")).await.unwrap();
        guard.release().await.unwrap();
        let first = crate::load(backend.path()).unwrap().unwrap();
        assert_eq!(crate::load(&backup).unwrap().unwrap().serial, 0);
        let guard = backend.lock("test", FREE).await.unwrap();
        guard.record(put(2, "a", "second")).await.unwrap();
        guard.release().await.unwrap();
        assert_eq!(crate::load(&backup).unwrap().unwrap(), first);
    });
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::write(backend.path(), b"{ damaged").unwrap();
    let refused = runtime().block_on(backend.load()).unwrap_err().to_string();
    assert!(
        refused.contains("is corrupt") && refused.contains("state.json.backup"),
        "{refused}"
    );
    std::fs::copy(&backup, backend.path()).unwrap();
    let restored = runtime().block_on(backend.load()).unwrap().unwrap();
    assert_eq!(restored.plans[&Address::new("a")].plan_id, "first");
}

/// B9 (second trial), rotation: a run with a new key and the old one as the fallback rewrites the
/// snapshot with the new key as soon as it holds the lock, even with nothing to record, so the
/// fallback can be dropped after one run (`planform plan` is enough), as docs/security.md says.
#[test]
fn a_rotation_rewrites_the_snapshot_with_the_new_key_at_lock() {
    const NEW: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    runtime().block_on(async {
        let old = LocalBackend::new(&path)
            .with_encryption(encryption(&[("PLANFORM_ENCRYPTION_KEY", KEY)]));
        let guard = started(&old).await;
        guard.record(put(1, "a", "first")).await.unwrap();
        guard.release().await.unwrap();
        let written = old.load().await.unwrap().unwrap();

        let rotated = LocalBackend::new(&path).with_encryption(encryption(&[
            ("PLANFORM_ENCRYPTION_KEY", NEW),
            ("PLANFORM_ENCRYPTION_KEY_FALLBACK", KEY),
        ]));
        let sealed_by_old = std::fs::read(&path).unwrap();
        assert_eq!(rotated.load().await.unwrap().unwrap(), written);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            sealed_by_old,
            "a load writes nothing"
        );
        rotated
            .lock("plan", FREE)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();

        let new_only = LocalBackend::new(&path)
            .with_encryption(encryption(&[("PLANFORM_ENCRYPTION_KEY", NEW)]));
        assert_eq!(new_only.load().await.unwrap().unwrap(), written);
        // Written as this run writes now: the next lock leaves the snapshot alone.
        let current = std::fs::read(&path).unwrap();
        new_only
            .lock("plan", FREE)
            .await
            .unwrap()
            .release()
            .await
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), current);
    });
}
