//! The PostgreSQL backend against a real server (`planform-testkit`'s throwaway one, or the one
//! `PLANFORM_TEST_PG_URL` names): lifecycle, several workspaces, ordering and group commit,
//! fencing, the lock, a holder whose connection dies, the server going away, migrations, TLS
//! modes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use planform_model::{Address, PlanInputs, ProviderKind, ProviderRef};
use planform_state::{Backend, Change, Locked, ManagedPlan, Record, State, StateError};
use planform_state_pg::{PgBackend, RESCUE_FILE_NAME};
use planform_testkit::postgres::{Options, Postgres};
use tokio_postgres::NoTls;

/// A fresh schema name, so tests sharing a server (`PLANFORM_TEST_PG_URL`) never meet.
fn schema() -> String {
    format!("t_{:016x}", fastrand::u64(..))
}

/// What a test starts from: a server, a directory for rescue files, and a schema of its own.
struct Setup {
    pg: Postgres,
    dir: tempfile::TempDir,
    schema: String,
}

impl Setup {
    /// On the tests' server (the one `PLANFORM_TEST_PG_URL` names, else a throwaway one).
    fn shared() -> Setup {
        Setup::on(Postgres::for_tests())
    }

    /// On a throwaway server of the test's own, which it may stop and start.
    fn own() -> Setup {
        Setup::on(Postgres::throwaway())
    }

    fn on(pg: Postgres) -> Setup {
        Setup {
            pg,
            dir: tempfile::tempdir().unwrap(),
            schema: schema(),
        }
    }
}

fn backend(pg: &Postgres, schema: &str, workspace: &str, dir: &Path) -> PgBackend {
    PgBackend::new(pg.conn_str(), schema, workspace, dir.join(RESCUE_FILE_NAME)).unwrap()
}

fn plan(id: &str) -> ManagedPlan {
    let mut m = ManagedPlan::new(ProviderRef::default_for(ProviderKind::Sandbox), id);
    m.status = "ExecuteSuccess".into();
    m.applied = Some(PlanInputs {
        name: format!("name-{id}"),
        product_id: "prod-1".into(),
        ..PlanInputs::default()
    });
    m.outputs.insert("vpc_id".into(), format!("vpc-{id}"));
    m.history.push(format!("{id}-old"));
    m.depends_on.insert(Address::new("network"));
    m
}

fn put(serial: u64, name: &str, id: &str) -> Record {
    Record {
        serial,
        changes: vec![Change::Put {
            address: Address::new(name),
            plan: Box::new(plan(id)),
        }],
    }
}

fn fresh_state(workspace: &str) -> State {
    State::new(workspace, planform_state::new_lineage())
}

async fn admin(pg: &Postgres) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(pg.conn_str(), NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Runs one SQL statement as the server's superuser.
async fn as_admin(pg: &Postgres, statement: &str) {
    admin(pg).await.execute(statement, &[]).await.unwrap();
}

#[tokio::test]
async fn lifecycle_load_lock_record_reload() {
    let Setup { pg, dir, schema } = Setup::shared();
    let b = backend(&pg, &schema, "prod", dir.path());
    assert_eq!(b.load().await.unwrap(), None);
    assert_eq!(b.holder().await.unwrap(), None);

    let guard = b.lock("apply", Duration::from_secs(5)).await.unwrap();
    assert_eq!(b.holder().await.unwrap().as_ref(), Some(guard.info()));
    assert_eq!(guard.info().command, "apply");
    assert_eq!(guard.info().pid, std::process::id());

    let mut expect = fresh_state("prod");
    guard.write(&expect, None).await.unwrap();
    let records = [
        put(1, "a", "plan-a"),
        put(2, "b", "plan-b"),
        Record {
            serial: 3,
            changes: vec![
                Change::Remove {
                    address: Address::new("a"),
                },
                Change::Put {
                    address: Address::new("c"),
                    plan: Box::new(plan("plan-c")),
                },
            ],
        },
    ];
    for r in &records {
        guard.record(r.clone()).await.unwrap();
        expect.apply_record(r);
    }
    // A reader without the lock sees what was recorded.
    assert_eq!(b.load().await.unwrap().as_ref(), Some(&expect));
    guard.release().await.unwrap();
    assert_eq!(b.holder().await.unwrap(), None);

    // A new process (a new backend) reads the same state.
    let again = backend(&pg, &schema, "prod", dir.path());
    let loaded = again.load().await.unwrap().unwrap();
    assert_eq!(loaded, expect);
    assert_eq!(loaded.serial, 3);
    assert_eq!(
        loaded
            .plans
            .keys()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        ["plan.b", "plan.c"]
    );

    // Each row holds the plan as the state file stores it.
    let stored: serde_json::Value = admin(&pg)
        .await
        .query_one(
            &format!("SELECT plan FROM \"{schema}\".plans WHERE workspace = 'prod' AND address = 'plan.b'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, planform_state::plan_to_json(&plan("plan-b")));

    // `write` replaces the whole state.
    let guard = again
        .lock("state push", Duration::from_secs(5))
        .await
        .unwrap();
    let mut replaced = fresh_state("prod");
    replaced.lineage = expect.lineage.clone();
    replaced.serial = 10;
    replaced.plans.insert(Address::new("z"), plan("plan-z"));
    guard.write(&replaced, Some(3)).await.unwrap();
    guard.release().await.unwrap();
    assert_eq!(again.load().await.unwrap(), Some(replaced));
    assert!(!dir.path().join(RESCUE_FILE_NAME).exists());
}

#[tokio::test]
async fn several_workspaces_share_a_database_apart() {
    let Setup { pg, dir, schema } = Setup::shared();
    let prod = backend(&pg, &schema, "prod", dir.path());
    let dev = backend(&pg, &schema, "dev", dir.path());
    // Both locks are held at once: they are per workspace.
    let p = prod.lock("apply", Duration::ZERO).await.unwrap();
    let d = dev.lock("apply", Duration::ZERO).await.unwrap();
    let mut ps = fresh_state("prod");
    let mut ds = fresh_state("dev");
    p.write(&ps, None).await.unwrap();
    d.write(&ds, None).await.unwrap();
    let (rp, rd) = (put(1, "app", "plan-prod"), put(1, "app", "plan-dev"));
    p.record(rp.clone()).await.unwrap();
    d.record(rd.clone()).await.unwrap();
    ps.apply_record(&rp);
    ds.apply_record(&rd);
    d.write(&fresh_state("dev"), Some(1)).await.unwrap();
    p.release().await.unwrap();
    d.release().await.unwrap();
    assert_eq!(prod.load().await.unwrap(), Some(ps));
    assert_eq!(dev.load().await.unwrap().unwrap().plans.len(), 0);
}

#[tokio::test]
async fn queued_records_share_one_commit_in_call_order() {
    let Setup { pg, dir, schema } = Setup::shared();
    let b = backend(&pg, &schema, "w", dir.path());
    let guard = b.lock_pg("apply", Duration::ZERO).await.unwrap();
    let mut expect = fresh_state("w");
    guard.write(&expect, None).await.unwrap();
    let before = guard.commits();
    // On this single-threaded runtime the writer cannot run until we await: all 100 records
    // are queued first, and must be stored in the order they were enqueued.
    let pending: Vec<_> = (1..=100)
        .map(|i| {
            let r = Record {
                serial: i,
                changes: vec![
                    Change::Put {
                        address: Address::new("moving"),
                        plan: Box::new(plan(&format!("plan-{i}"))),
                    },
                    Change::Put {
                        address: Address::new(format!("p{i}")),
                        plan: Box::new(plan(&format!("plan-{i}"))),
                    },
                ],
            };
            expect.apply_record(&r);
            guard.record(r)
        })
        .collect();
    for p in pending {
        p.await.unwrap();
    }
    assert_eq!(guard.commits() - before, 1, "one group commit");
    Box::new(guard).release().await.unwrap();
    let loaded = b.load().await.unwrap().unwrap();
    assert_eq!(loaded, expect);
    assert_eq!(loaded.plans[&Address::new("moving")].plan_id, "plan-100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_are_stored_in_serial_order() {
    let Setup { pg, dir, schema } = Setup::shared();
    let b = backend(&pg, &schema, "w", dir.path());
    let guard: Arc<dyn Locked> = Arc::from(b.lock("apply", Duration::ZERO).await.unwrap());
    guard.write(&fresh_state("w"), None).await.unwrap();
    // As the executor does: serials assigned under a mutex, `record` called before releasing it.
    let serial = Arc::new(tokio::sync::Mutex::new(0u64));
    let mut tasks = vec![];
    for t in 0..8 {
        let (guard, serial) = (guard.clone(), serial.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let durable = {
                    let mut s = serial.lock().await;
                    *s += 1;
                    guard.record(put(*s, &format!("t{t}_{i}"), &format!("plan-{t}-{i}")))
                };
                durable.await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let loaded = b.load().await.unwrap().unwrap();
    assert_eq!(loaded.serial, 200);
    assert_eq!(loaded.plans.len(), 200);
}

#[tokio::test]
async fn a_second_holder_after_force_unlock_fences_out_the_first() {
    let Setup { pg, dir, schema } = Setup::shared();
    let b = backend(&pg, &schema, "w", dir.path());
    let first = b.lock("apply", Duration::ZERO).await.unwrap();
    first.write(&fresh_state("w"), None).await.unwrap();
    first.record(put(1, "a", "plan-a")).await.unwrap();

    let removed = b.unlock(true).await.unwrap().unwrap();
    assert_eq!(&removed, first.info());
    let second = b.lock("apply", Duration::from_secs(10)).await.unwrap();
    assert_ne!(second.info().id, first.info().id);

    let e = first.record(put(2, "b", "plan-b")).await.unwrap_err();
    assert!(matches!(e, StateError::LockLost { .. }), "{e}");
    assert!(e.to_string().contains(&first.info().id), "{e}");
    // The first run's unstored record is kept in the rescue file.
    let rescued = planform_state::load(&dir.path().join(RESCUE_FILE_NAME))
        .unwrap()
        .unwrap();
    assert_eq!(rescued.serial, 2);
    assert!(rescued.plans.contains_key(&Address::new("b")));
    assert!(first.release().await.is_err());

    // The second holder writes on; the first one's release removed nothing of it.
    second.record(put(2, "c", "plan-c")).await.unwrap();
    assert_eq!(b.holder().await.unwrap().as_ref(), Some(second.info()));
    second.release().await.unwrap();
    let loaded = b.load().await.unwrap().unwrap();
    assert_eq!(
        loaded
            .plans
            .keys()
            .map(|a| a.to_string())
            .collect::<Vec<_>>(),
        ["plan.a", "plan.c"]
    );
}

#[tokio::test]
async fn a_serial_race_is_refused() {
    let Setup { pg, dir, schema } = Setup::shared();
    let b = backend(&pg, &schema, "w", dir.path());
    let guard = b.lock("apply", Duration::ZERO).await.unwrap();
    guard.write(&fresh_state("w"), None).await.unwrap();
    // Someone writes behind the lock's back.
    as_admin(
        &pg,
        &format!("UPDATE \"{schema}\".workspaces SET serial = 9 WHERE workspace = 'w'"),
    )
    .await;
    let e = guard.record(put(1, "a", "plan-a")).await.unwrap_err();
    match &e {
        StateError::SerialMismatch {
            expected, found, ..
        } => assert_eq!((*expected, *found), (0, 9)),
        other => panic!("{other}"),
    }
    // A later record builds on the one that failed: refused as well, without writing.
    let e = guard.record(put(2, "b", "plan-b")).await.unwrap_err();
    assert!(matches!(e, StateError::SerialMismatch { .. }), "{e}");
    drop(guard);

    // `write` checks the serial it replaces, too.
    let guard = b.lock("state push", Duration::from_secs(10)).await.unwrap();
    let e = guard.write(&fresh_state("w"), Some(3)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the state in {} has serial 9, this run expected 3: someone else wrote it; nothing was written",
            b.describe()
        )
    );
    let e = guard.write(&fresh_state("w"), None).await;
    assert!(matches!(e, Err(StateError::SerialMismatch { .. })));
    let _ = guard.release().await;
    assert_eq!(b.load().await.unwrap().unwrap().plans.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_locker_waits_times_out_naming_the_holder_then_gets_it() {
    let Setup { pg, dir, schema } = Setup::shared();
    let b = Arc::new(backend(&pg, &schema, "w", dir.path()));
    let first = b.lock("apply", Duration::ZERO).await.unwrap();

    let e = b
        .lock("plan", Duration::from_millis(300))
        .await
        .err()
        .unwrap();
    let StateError::Locked(planform_state::LockError::Held(held)) = &e else {
        panic!("{e}");
    };
    assert_eq!(held, first.info());
    let text = e.to_string();
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    assert!(text.contains("(apply)"), "{text}");
    // Without force, a live holder's lock stays.
    assert!(matches!(b.unlock(false).await, Err(StateError::Locked(_))));

    // A waiter queued before the release gets the lock once it is released.
    let waiter = {
        let b = b.clone();
        tokio::spawn(async move {
            b.lock("plan", Duration::from_secs(30))
                .await
                .map(|g| g.info().clone())
        })
    };
    wait_for_waiter(&pg).await;
    first.release().await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    assert_eq!(got.command, "plan");
}

/// Returns once a session waits for an advisory lock.
async fn wait_for_waiter(pg: &Postgres) {
    let admin = admin(pg).await;
    loop {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_holder_whose_connection_dies_loses_the_lock_to_the_next() {
    let Setup { pg, dir, schema } = Setup::shared();
    // A lease long enough that the holder does not renew (and so reconnect) during the test.
    let b = backend(&pg, &schema, "w", dir.path()).with_lease(Duration::from_secs(3600));
    let first = b.lock("apply", Duration::ZERO).await.unwrap();
    first.write(&fresh_state("w"), None).await.unwrap();
    // Kill the holder's session, as when its process is killed (and wait until it is gone).
    let terminate = format!(
        "SELECT pg_terminate_backend(backend_pid, 10000) FROM \"{schema}\".locks WHERE workspace = 'w'"
    );
    as_admin(&pg, &terminate).await;
    // The advisory lock went with the session: its row is left, but even `unlock` without
    // force removes it, and the next run takes over at once.
    assert_eq!(b.holder().await.unwrap().as_ref(), Some(first.info()));
    assert_eq!(b.unlock(false).await.unwrap().as_ref(), Some(first.info()));
    let second = b.lock("apply", Duration::from_secs(10)).await.unwrap();
    assert_eq!(b.holder().await.unwrap().as_ref(), Some(second.info()));
    let e = first.record(put(1, "a", "plan-a")).await.unwrap_err();
    assert!(matches!(e, StateError::LockLost { .. }), "{e}");
    second.record(put(1, "b", "plan-b")).await.unwrap();
    second.release().await.unwrap();
}

#[tokio::test]
async fn dropping_a_guard_releases_the_lock() {
    let Setup { pg, dir, schema } = Setup::shared();
    let b = backend(&pg, &schema, "w", dir.path());
    let first = b.lock("apply", Duration::ZERO).await.unwrap();
    drop(first);
    let second = b.lock("apply", Duration::from_secs(10)).await.unwrap();
    second.release().await.unwrap();
}

/// Writes an empty state for `workspace` through `guard`, then records one plan (`a`): returns
/// the state stored so far.
async fn one_record_stored(guard: &(impl Locked + ?Sized), workspace: &str) -> State {
    let mut stored = fresh_state(workspace);
    guard.write(&stored, None).await.unwrap();
    let r1 = put(1, "a", "plan-a");
    guard.record(r1.clone()).await.unwrap();
    stored.apply_record(&r1);
    stored
}

#[tokio::test]
async fn records_survive_a_server_restart() {
    let Setup { pg, dir, schema } = Setup::own();
    let b = backend(&pg, &schema, "w", dir.path()).with_retry_for(Duration::from_secs(60));
    let guard = b.lock_pg("apply", Duration::ZERO).await.unwrap();
    let mut expect = one_record_stored(&guard, "w").await;

    pg.stop();
    let (r2, r3) = (put(2, "b", "plan-b"), put(3, "c", "plan-c"));
    let pending = [guard.record(r2.clone()), guard.record(r3.clone())];
    expect.apply_record(&r2);
    expect.apply_record(&r3);
    // The writer meets the stopped server and retries before it comes back.
    while guard.retries() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pg.start_again();
    for p in pending {
        p.await.unwrap();
    }
    Box::new(guard).release().await.unwrap();
    assert_eq!(b.load().await.unwrap(), Some(expect));
    assert!(!dir.path().join(RESCUE_FILE_NAME).exists());
}

#[tokio::test]
async fn a_server_that_stays_down_leaves_a_rescue_file_to_push_back() {
    let Setup { pg, dir, schema } = Setup::own();
    let b = backend(&pg, &schema, "w", dir.path()).with_retry_for(Duration::from_millis(500));
    let guard = b.lock("apply", Duration::ZERO).await.unwrap();
    let mut expect = one_record_stored(&*guard, "w").await;

    pg.stop();
    let r2 = put(2, "b", "plan-b");
    expect.apply_record(&r2);
    let e = guard.record(r2).await.unwrap_err();
    let rescue: PathBuf = dir.path().join(RESCUE_FILE_NAME);
    assert!(matches!(e, StateError::Unavailable { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("no write succeeded for 500ms"), "{text}");
    assert!(
        text.contains(&format!(
            "planform -C {} state push {}",
            dir.path().display(),
            rescue.display()
        )),
        "{text}"
    );
    // Later records fail at once and join the rescue file.
    let r3 = put(3, "c", "plan-c");
    expect.apply_record(&r3);
    assert!(guard.record(r3).await.is_err());
    let e = guard.release().await.unwrap_err();
    assert!(
        e.to_string()
            .contains("2 change(s) of this run were not written"),
        "{e}"
    );

    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&rescue).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let rescued = planform_state::load(&rescue).unwrap().unwrap();
    assert_eq!(rescued, expect);

    // Once the server is back, `state push` writes it over the stored serial.
    pg.start_again();
    let b = backend(&pg, &schema, "w", dir.path());
    let stored = b.load().await.unwrap().unwrap();
    assert_eq!(stored.serial, 1);
    let guard = b.lock("state push", Duration::from_secs(10)).await.unwrap();
    guard.write(&rescued, Some(stored.serial)).await.unwrap();
    guard.release().await.unwrap();
    assert_eq!(b.load().await.unwrap(), Some(expect));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_even_when_first_runs_race() {
    let Setup { pg, dir, schema } = Setup::shared();
    let runs: Vec<_> = (0..4)
        .map(|i| {
            let b = backend(&pg, &schema, &format!("w{i}"), dir.path());
            tokio::spawn(async move { b.load().await.map(|s| s.is_none()) })
        })
        .collect();
    for r in runs {
        assert!(r.await.unwrap().unwrap());
    }
    let admin = admin(&pg).await;
    assert_eq!(versions(&admin, &schema).await, [1]);
    // Again, from a new backend: nothing to do.
    assert_eq!(
        backend(&pg, &schema, "w", dir.path()).load().await.unwrap(),
        None
    );
    assert_eq!(versions(&admin, &schema).await, [1]);

    // A database migrated by a newer planform is refused, not written.
    admin
        .execute(
            &format!("INSERT INTO \"{schema}\".schema_version (version) VALUES (99)"),
            &[],
        )
        .await
        .unwrap();
    let e = backend(&pg, &schema, "w", dir.path())
        .load()
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::TooNew { version: 99, .. }), "{e}");
}

async fn versions(admin: &tokio_postgres::Client, schema: &str) -> Vec<i32> {
    admin
        .query(
            &format!("SELECT version FROM \"{schema}\".schema_version ORDER BY version"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn tls_modes() {
    let Setup { pg, dir, .. } = Setup::own();
    // disable: plain TCP (every other test uses it too).
    let b = backend(&pg, &schema(), "w", dir.path());
    assert_eq!(b.tls_mode(), planform_state_pg::TlsMode::Disable);
    assert_eq!(b.load().await.unwrap(), None);
    let with_sslmode = |mode: &str| {
        PgBackend::new(
            &pg.conn_str_with(&format!("sslmode={mode}")),
            &schema(),
            "w",
            PathBuf::new(),
        )
        .unwrap()
    };
    // prefer: falls back to plain TCP on a server without TLS.
    let b = with_sslmode("prefer");
    assert_eq!(b.load().await.unwrap(), None);
    // require: refused by a server without TLS, with a message that says so.
    let b = with_sslmode("require");
    let e = b.load().await.unwrap_err();
    assert!(matches!(e, StateError::Unavailable { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("sslmode=require"), "{text}");
    assert!(text.to_lowercase().contains("tls"), "{text}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let port = planform_testkit::free_port();
    let b = PgBackend::new(
        &format!("host=127.0.0.1 port={port} user=u password=hunter2 sslmode=disable"),
        "planform",
        "w",
        PathBuf::new(),
    )
    .unwrap();
    let e = b.load().await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "the state backend pg workspace \"w\" (schema planform, 127.0.0.1:{port}) is unavailable: "
        )),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn a_role_without_create_privileges_uses_an_existing_schema() {
    // Local: the role is spelled into the connection string this server gives.
    let Setup { pg, dir, schema } = Setup::own();
    // The first run (an owner) creates the schema.
    assert_eq!(
        backend(&pg, &schema, "w", dir.path()).load().await.unwrap(),
        None
    );
    let role = format!("r_{schema}");
    admin(&pg)
        .await
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN;
             GRANT USAGE ON SCHEMA \"{schema}\" TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{schema}\" TO {role};"
        ))
        .await
        .unwrap();
    let limited = PgBackend::new(
        &pg.conn_str()
            .replace("user=postgres", &format!("user={role}")),
        &schema,
        "w",
        dir.path().join(RESCUE_FILE_NAME),
    )
    .unwrap();
    let guard = limited.lock("apply", Duration::ZERO).await.unwrap();
    guard.write(&fresh_state("w"), None).await.unwrap();
    guard.record(put(1, "a", "plan-a")).await.unwrap();
    guard.release().await.unwrap();
    assert_eq!(limited.load().await.unwrap().unwrap().serial, 1);
}

#[tokio::test]
async fn local_to_pg_to_local_keeps_the_state_file_byte_for_byte() {
    let Setup { pg, dir, schema } = Setup::shared();
    // A local state file with everything a plan can hold, sensitive values hashed.
    let mut state = fresh_state("prod");
    state.serial = 41;
    let mut m = plan("plan-1");
    m.provisioned_product_id = Some("pp-1".into());
    m.stack_id = Some("stack-1".into());
    m.launched = true;
    m.pending_token = Some("token-1".into());
    let inputs = PlanInputs {
        name: "n".into(),
        product_id: "p".into(),
        parameters: [("password".to_string(), "hunter2".to_string())].into(),
        tags: [("team".to_string(), "ops".to_string())].into(),
        notification_arns: vec!["arn:1".into()],
        ..PlanInputs::default()
    };
    m.sensitive_parameters.insert("password".into());
    m.applied = Some(planform_state::redact(
        &state.lineage,
        &inputs,
        &m.sensitive_parameters,
    ));
    state.plans.insert("plan.app[\"web\"]".parse().unwrap(), m);
    state.plans.insert(Address::new("network"), plan("plan-2"));
    let local = dir.path().join("state.json");
    planform_state::save(&local, &state).unwrap();
    let before = std::fs::read(&local).unwrap();

    // local → pg
    let b = backend(&pg, &schema, "prod", dir.path());
    let from_file = planform_state::load(&local).unwrap().unwrap();
    let guard = b.lock("state push", Duration::ZERO).await.unwrap();
    guard.write(&from_file, None).await.unwrap();
    guard.release().await.unwrap();
    // pg → local
    let back = b.load().await.unwrap().unwrap();
    assert_eq!(back, state);
    let again = dir.path().join("again.json");
    planform_state::save(&again, &back).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), before);
    assert!(!String::from_utf8(before).unwrap().contains("hunter2"));
}

#[tokio::test]
async fn tls_require_and_verify_full_against_a_tls_server() {
    let Setup { pg, dir, schema } = Setup::on(Postgres::throwaway_with(Options {
        tls: true,
        ..Options::TESTS
    }));
    let (ca, other_ca) = pg.authorities();
    // require: encrypted, the certificate unchecked.
    let b = PgBackend::new(
        &pg.conn_str_with("sslmode=require"),
        &schema,
        "w",
        dir.path().join(RESCUE_FILE_NAME),
    )
    .unwrap();
    let guard = b.lock("apply", Duration::ZERO).await.unwrap();
    let encrypted: bool = admin(&pg)
        .await
        .query_one(
            &format!("SELECT s.ssl FROM pg_stat_ssl s JOIN \"{schema}\".locks l ON s.pid = l.backend_pid"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the guard's connection uses TLS");
    guard.release().await.unwrap();

    // verify-full: the chain and the host name are checked, by name and by address.
    for host in ["localhost", "127.0.0.1"] {
        let conn = pg
            .conn_str_with(&format!("sslmode=verify-full sslrootcert={}", ca.display()))
            .replace("host=127.0.0.1", &format!("host={host}"));
        let b = PgBackend::new(&conn, &schema, "w", PathBuf::new()).unwrap();
        assert_eq!(b.load().await.unwrap(), None, "{host}");
    }
    // verify-full refuses a certificate another CA issued.
    let conn = pg.conn_str_with(&format!(
        "sslmode=verify-full sslrootcert={}",
        other_ca.display()
    ));
    let e = PgBackend::new(&conn, &schema, "w", PathBuf::new())
        .unwrap()
        .load()
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, StateError::Unavailable { .. }), "{text}");
    assert!(
        text.contains("certificate") && text.contains("(sslmode=verify-full)"),
        "{text}"
    );
}

/// Whatever the batches the writer forms, the stored state is the one the records give applied
/// one by one (the net effect per address inside a commit is right).
#[test]
fn group_commits_store_what_applying_records_one_by_one_gives() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let Setup { pg, dir, schema } = Setup::shared();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // (address, put or remove, await everything queued so far after this record)
    let steps = proptest::collection::vec((0..5usize, any::<bool>(), any::<bool>()), 1..30);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(&steps, |steps| {
            rt.block_on(async {
                let workspace = format!("w{:016x}", fastrand::u64(..));
                let b = backend(&pg, &schema, &workspace, dir.path());
                let guard = b.lock_pg("apply", Duration::ZERO).await.unwrap();
                let mut expect = fresh_state(&workspace);
                guard.write(&expect, None).await.unwrap();
                let mut pending = vec![];
                for (i, (a, put, flush)) in steps.iter().enumerate() {
                    let address = Address::new(format!("a{a}"));
                    let change = if *put {
                        Change::Put {
                            address,
                            plan: Box::new(plan(&format!("plan-{i}"))),
                        }
                    } else {
                        Change::Remove { address }
                    };
                    let r = Record {
                        serial: i as u64 + 1,
                        changes: vec![change],
                    };
                    expect.apply_record(&r);
                    pending.push(guard.record(r));
                    if *flush {
                        for p in pending.drain(..) {
                            p.await.unwrap();
                        }
                    }
                }
                for p in pending {
                    p.await.unwrap();
                }
                Box::new(guard).release().await.unwrap();
                prop_assert_eq!(b.load().await.unwrap(), Some(expect));
                Ok(())
            })
        })
        .unwrap();
}

/// Issue 16 (5): with encryption on, each plan row's payload is an envelope sealed for its
/// workspace and address, keeping the sensitive value for the next run; a row copied to another
/// address does not open, a plaintext row is refused outside a migration, and without
/// encryption no row holds the value.
#[tokio::test]
async fn plan_rows_are_encrypted_and_sealed_for_their_address() {
    let Setup { pg, dir, schema } = Setup::shared();
    let key = Arc::new(planform_state::Encryption::with_key([5; 32]));
    let secret = |m: &ManagedPlan| {
        m.applied
            .as_ref()
            .unwrap()
            .parameters
            .get("password")
            .cloned()
    };
    let mut m = plan("plan-1");
    m.applied
        .as_mut()
        .unwrap()
        .parameters
        .insert("password".into(), "pg-s3cr3t-distinctive".into());
    m.sensitive_parameters.insert("password".into());
    let record = |serial: u64, name: &str| Record {
        serial,
        changes: vec![Change::Put {
            address: Address::new(name),
            plan: Box::new(m.clone()),
        }],
    };
    let rows = |admin: tokio_postgres::Client, schema: String| async move {
        admin
            .query(
                &format!(
                    "SELECT address, plan::text FROM \"{schema}\".plans WHERE workspace = 'sealed'"
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect::<Vec<_>>()
    };

    // Off: the row keeps that the parameter is set, not its value.
    let plain = backend(&pg, &schema, "plain", dir.path());
    let guard = plain.lock("apply", Duration::ZERO).await.unwrap();
    guard.write(&fresh_state("plain"), None).await.unwrap();
    guard.record(record(1, "a")).await.unwrap();
    guard.release().await.unwrap();
    let loaded = plain.load().await.unwrap().unwrap();
    assert_eq!(secret(&loaded.plans[&Address::new("a")]), None);

    // On: an envelope that keeps it.
    let sealed = backend(&pg, &schema, "sealed", dir.path()).with_encryption(key.clone());
    let guard = sealed.lock("apply", Duration::ZERO).await.unwrap();
    guard.write(&fresh_state("sealed"), None).await.unwrap();
    guard.record(record(1, "a")).await.unwrap();
    guard.record(record(2, "b")).await.unwrap();
    guard.release().await.unwrap();
    let loaded = sealed.load().await.unwrap().unwrap();
    assert_eq!(
        secret(&loaded.plans[&Address::new("a")]).as_deref(),
        Some("pg-s3cr3t-distinctive")
    );
    for (address, text) in rows(admin(&pg).await, schema.clone()).await {
        assert!(!text.contains("pg-s3cr3t"), "{address}: {text}");
        assert!(!text.contains("plan-1"), "{address}: {text}");
    }

    // A row copied onto another address does not open; the error names the row.
    let copy = format!(
        "UPDATE \"{schema}\".plans SET plan = (SELECT plan FROM \"{schema}\".plans WHERE workspace = 'sealed' AND address = 'plan.a') WHERE workspace = 'sealed' AND address = 'plan.b'"
    );
    as_admin(&pg, &copy).await;
    let e = sealed.load().await.unwrap_err().to_string();
    assert!(e.contains("row plan.b does not authenticate"), "{e}");

    // Plaintext rows where encryption is on: refused, unless migrating.
    let on_plain = backend(&pg, &schema, "plain", dir.path()).with_encryption(key.clone());
    let e = on_plain.load().await.unwrap_err().to_string();
    assert!(e.contains("is not encrypted, but encryption is on"), "{e}");
    // Without the key, an encrypted row is refused by name.
    let no_key = backend(&pg, &schema, "sealed", dir.path());
    let e = no_key.load().await.unwrap_err().to_string();
    assert!(
        e.contains("is encrypted, but no encryption key is set"),
        "{e}"
    );
}

/// B9 (second trial): a run with `PLANFORM_ENCRYPTION_MIGRATE` rewrites every plan row of the
/// workspace in the new form as soon as it holds the lock, with nothing to record, and keeps the
/// serial; a load alone rewrites nothing. So one `planform plan` with the variable, then runs
/// without it, work: turning encryption on, rotating the key (rows of the fallback key are
/// rewritten with the new one, then the fallback can go), and turning it off.
#[tokio::test]
async fn a_migration_or_rotation_rewrites_every_row_when_the_lock_is_taken() {
    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
    let Setup { pg, dir, schema } = Setup::shared();
    let with = |pairs: &[(&str, &str)]| {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let e = planform_state::Encryption::from_env(&env).unwrap();
        backend(&pg, &schema, "mig", dir.path()).with_encryption(Arc::new(e))
    };
    // The rows as stored: (address, key id of its envelope or "" when plaintext).
    let rows = || async {
        admin(&pg)
            .await
            .query(
                &format!(
                    "SELECT address, coalesce(plan->>'key_id', '') FROM \"{schema}\".plans
                     WHERE workspace = 'mig' ORDER BY address"
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect::<Vec<_>>()
    };
    let lock_and_release = |b: PgBackend| async move {
        let guard = b.lock("plan", Duration::ZERO).await.unwrap();
        guard.release().await.unwrap();
        b
    };

    let plain = with(&[]);
    let guard = plain.lock("apply", Duration::ZERO).await.unwrap();
    guard.write(&fresh_state("mig"), None).await.unwrap();
    for (serial, name) in [(1, "a"), (2, "b"), (3, "c")] {
        guard.record(put(serial, name, name)).await.unwrap();
    }
    guard.release().await.unwrap();
    let before = plain.load().await.unwrap().unwrap();
    assert_eq!(before.serial, 3);

    // Turning it on: a load reads plaintext and rewrites nothing; the lock rewrites all rows.
    let encrypting = with(&[
        ("PLANFORM_ENCRYPTION_KEY", KEY_A),
        ("PLANFORM_ENCRYPTION_MIGRATE", "encrypt"),
    ]);
    assert_eq!(encrypting.load().await.unwrap().unwrap(), before);
    assert!(rows().await.iter().all(|(_, key)| key.is_empty()));
    lock_and_release(encrypting).await;
    let after = rows().await;
    assert_eq!(after.len(), 3);
    let key_a = after[0].1.clone();
    assert!(!key_a.is_empty());
    assert!(after.iter().all(|(_, key)| *key == key_a), "{after:?}");
    // The next run, without the variable, reads the same state (serial kept).
    let on = with(&[("PLANFORM_ENCRYPTION_KEY", KEY_A)]);
    assert_eq!(on.load().await.unwrap().unwrap(), before);
    // As this run writes already: taking the lock rewrites nothing.
    let untouched = rows().await;
    lock_and_release(on).await;
    assert_eq!(rows().await, untouched);

    // Rotation: the rows the fallback opens are rewritten with the new key; the fallback can go.
    let rotated = with(&[
        ("PLANFORM_ENCRYPTION_KEY", KEY_B),
        ("PLANFORM_ENCRYPTION_KEY_FALLBACK", KEY_A),
    ]);
    lock_and_release(rotated).await;
    let after = rows().await;
    let key_b = after[0].1.clone();
    assert_ne!(key_b, key_a);
    assert!(after.iter().all(|(_, key)| *key == key_b), "{after:?}");
    let new_only = with(&[("PLANFORM_ENCRYPTION_KEY", KEY_B)]);
    assert_eq!(new_only.load().await.unwrap().unwrap(), before);

    // Turning it off: every row back to plaintext, read without a key.
    let decrypting = with(&[
        ("PLANFORM_ENCRYPTION_KEY", KEY_B),
        ("PLANFORM_ENCRYPTION_MIGRATE", "decrypt"),
    ]);
    lock_and_release(decrypting).await;
    assert!(rows().await.iter().all(|(_, key)| key.is_empty()));
    assert_eq!(with(&[]).load().await.unwrap().unwrap(), before);
}
