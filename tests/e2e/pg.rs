//! Issue 13: the real `planform` on the PostgreSQL backend, against a throwaway server started
//! for the test (`planform-testkit`, or `PLANFORM_TEST_PG_URL`): the lifecycle, two
//! applies on one workspace, kill -9 mid-apply, the database stopped mid-apply, a migration
//! local → pg → local, and turning encryption on. The tests that do not stop the server share
//! one (each in its own schema); the one that stops it starts its own.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use planform_sandbox::{store::Store, Catalog, PlanStatus, Sandbox, Settings, SystemClock};
use planform_state::Backend;
use planform_state_pg::PgBackend;
use planform_testkit::postgres::Postgres;

use crate::{runtime, Run, Workspace};

/// The server the tests of this binary share while any of them runs: started by the first,
/// stopped (on drop) when the last one is done, so a run starts one or a few, not one per test.
fn shared_server() -> Arc<Postgres> {
    static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pg) = shared.upgrade() {
        return pg;
    }
    let pg = Arc::new(Postgres::for_tests());
    *shared = Arc::downgrade(&pg);
    pg
}

fn on_pg_command(w: &Workspace, conn: &str, args: &[&str]) -> Command {
    let mut c = w.command(args);
    c.env("PG_CONN_STR", conn);
    c
}

fn on_pg(w: &Workspace, conn: &str, args: &[&str]) -> Run {
    Run::from(
        on_pg_command(w, conn, args)
            .output()
            .expect("planform runs"),
    )
}

/// The test's own view of a workspace's rows (it never writes through it).
fn observer(conn: &str, schema: &str, workspace: &str) -> PgBackend {
    let unused = std::env::temp_dir().join("planform-e2e-observer-never-writes.json");
    PgBackend::new(conn, schema, workspace, unused).expect("a valid backend")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `count` executed VPC plans in the embedded sandbox, with the state in `schema` of the pg
/// backend under `workspace`.
fn counted_plans(workspace: &str, schema: &str, count: usize) -> String {
    pg_state(workspace, schema) + &crate::counted_vpcs("net", "net-", count)
}

/// A `planform` block keeping `workspace`'s state in `schema` of the pg backend.
fn pg_state(workspace: &str, schema: &str) -> String {
    format!(
        r#"
planform {{
  workspace = "{workspace}"
  state "pg" {{ schema_name = "{schema}" }}
}}
"#
    )
}

/// A workspace of 30 plans with its state in `schema` of the pg backend under `workspace`, and
/// the command that applies it slowly enough to be interrupted: 5 at a time, each execution
/// taking 300 ms.
fn interruptible_apply(pg: &Postgres, schema: &str, workspace: &str) -> (Workspace, Command) {
    let w = Workspace::new();
    w.write("main.hcl", &counted_plans(workspace, schema, 30));
    let mut apply = on_pg_command(
        &w,
        pg.conn_str(),
        &["apply", "--auto-approve", "--parallelism", "5"],
    );
    apply.env("PLANFORM_SANDBOX_EXECUTE_MS", "300");
    (w, apply)
}

/// Waits (polling the database, not a timer) until the running `child` has stored at least
/// `n` plans in the workspace `observer` reads.
fn wait_for_stored_plans(rt: &tokio::runtime::Runtime, o: &PgBackend, child: &mut Child, n: usize) {
    let started = Instant::now();
    loop {
        let stored = rt
            .block_on(o.load())
            .ok()
            .flatten()
            .map_or(0, |s| s.plans.len());
        if stored >= n {
            return;
        }
        assert!(started.elapsed().as_secs() < 60, "apply made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply finished before {n} plans were stored"
        );
        std::thread::yield_now();
    }
}

/// Every plan the sandbox at `redb` holds, by the address its ownership tag names.
fn plans_per_address(
    redb: &std::path::Path,
) -> BTreeMap<String, Vec<planform_sandbox::PlanRecord>> {
    let store = Store::open(redb).unwrap();
    let mut sb = Sandbox::new(
        Catalog::demo(),
        Settings::default(),
        Arc::new(SystemClock),
        store,
    )
    .unwrap();
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for p in crate::apply::all_plans(&mut sb) {
        let address = p
            .tags
            .iter()
            .find(|(k, _)| k == "planform:address")
            .and_then(|(_, v)| planform_model::ownership::decode_address(v))
            .unwrap_or_else(|| panic!("plan {} has no ownership tag", p.id))
            .to_string();
        out.entry(address).or_default().push(p);
    }
    out
}

/// The embedded sandbox of `w` holds exactly one plan per address of `addresses`, each executed,
/// and one product per address (no duplicate, no orphan).
fn assert_one_executed_plan_per_address(w: &Workspace, addresses: &[String]) {
    let redb = w.path().join(".planform/sandbox/sandbox.redb");
    let per_address = plans_per_address(&redb);
    assert_eq!(
        per_address.keys().cloned().collect::<Vec<_>>(),
        {
            let mut a = addresses.to_vec();
            a.sort();
            a
        },
        "the sandbox's plans are the state's addresses"
    );
    for (address, plans) in &per_address {
        assert_eq!(plans.len(), 1, "{address} has {} plans", plans.len());
        assert_eq!(
            plans[0].status,
            PlanStatus::ExecuteSuccess,
            "{address} is not executed"
        );
    }
    let store = Store::open(&redb).unwrap();
    let mut sb = Sandbox::new(
        Catalog::demo(),
        Settings::default(),
        Arc::new(SystemClock),
        store,
    )
    .unwrap();
    assert_eq!(
        sb.list_provisioned_products().unwrap().len(),
        addresses.len(),
        "one product per address"
    );
}

/// The pulled state's addresses, each checked executed and with no create pending.
fn settled_addresses(pulled: &serde_json::Value) -> Vec<String> {
    let plans = pulled["plans"].as_object().expect("plans");
    for (address, p) in plans {
        assert_eq!(p["status"], "ExecuteSuccess", "{address}: {p}");
        assert!(p["pending_token"].is_null(), "{address} is pending: {p}");
    }
    plans.keys().cloned().collect()
}

/// The quickstart applied with its state in PostgreSQL: the next plan has no changes, `state
/// pull` prints what was stored, no local state file is made; without `PG_CONN_STR` every
/// command says which variable is missing.
#[test]
fn the_quickstart_lifecycle_on_pg() {
    let pg = shared_server();
    let w = Workspace::example("quickstart");
    w.edit(
        "main.hcl",
        "workspace = \"quickstart\"",
        "workspace = \"quickstart\"\n  state \"pg\" { schema_name = \"planform_e2e\" }",
    );
    let missing = w.run(&["plan"]).expect(1);
    assert!(missing.stderr.contains("PG_CONN_STR"), "{}", missing.stderr);

    on_pg(&w, pg.conn_str(), &["apply", "--auto-approve"]).expect(0);
    assert!(!w.path().join(".planform/state.json").exists());
    let again = on_pg(&w, pg.conn_str(), &["plan", "--detailed-exitcode"]).expect(0);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);
    let pulled = on_pg(&w, pg.conn_str(), &["state", "pull"]).expect(0);
    let state: serde_json::Value = serde_json::from_str(&pulled.stdout).unwrap();
    assert_eq!(state["workspace"], "quickstart");
    assert_eq!(
        state["plans"].as_object().unwrap().len(),
        3,
        "{}",
        pulled.stdout
    );
    on_pg(&w, pg.conn_str(), &["destroy", "--auto-approve"]).expect(0);
    let pulled = on_pg(&w, pg.conn_str(), &["state", "pull"]).expect(0);
    let state: serde_json::Value = serde_json::from_str(&pulled.stdout).unwrap();
    assert!(
        state["plans"].as_object().unwrap().is_empty(),
        "{}",
        pulled.stdout
    );
}

/// Two applies on one pg workspace: while the first holds the lock, a second one without a
/// timeout fails naming the holder (pid, host, command), and one with a timeout waits on the
/// server and then finds nothing to do; the sandbox has one plan per address.
#[test]
fn two_applies_on_one_pg_workspace() {
    let pg = shared_server();
    let server = crate::server::serve(&["--latency-ms", "100"]);
    let w = Workspace::new();
    w.write(
        "main.hcl",
        &(pg_state("shared", "e2e_two_applies")
            + &crate::alibaba_provider(&server.endpoint, 8)
            + &crate::counted_vpcs("net", "net-", 6)),
    );
    let apply = |args: &[&str]| {
        let mut c = on_pg_command(&w, pg.conn_str(), args);
        crate::with_sandbox_key(&mut c, w.path());
        c
    };
    let mut first = apply(&["apply", "--auto-approve", "--parallelism", "2"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let o = observer(pg.conn_str(), "e2e_two_applies", "shared");
    let rt = runtime();
    // Until the first apply holds the lock (the lease row names it).
    let holder = crate::wait_until_locked_by(&rt, &o, &mut first);
    assert_eq!(holder.command, "apply");

    let refused = Run::from(apply(&["apply", "--auto-approve"]).output().unwrap()).expect(1);
    assert!(
        refused.stderr.contains(&format!(
            "the state is locked by pid {} on {} (apply)",
            first.id(),
            holder.host
        )) && refused.stderr.contains(&holder.id),
        "{}",
        refused.stderr
    );
    let waited = Run::from(
        apply(&["apply", "--auto-approve", "--lock-timeout", "10m"])
            .output()
            .unwrap(),
    )
    .expect(0);
    assert!(first.wait().unwrap().success());
    assert!(
        waited.stdout.contains("No changes"),
        "the waiting apply ran after the first one: {}",
        waited.stdout
    );
    assert_eq!(
        rt.block_on(o.holder()).unwrap(),
        None,
        "the lock is released"
    );
    let pulled = json(
        &on_pg(&w, pg.conn_str(), &["state", "pull"])
            .expect(0)
            .stdout,
    );
    let addresses = settled_addresses(&pulled);
    assert_eq!(addresses.len(), 6);

    // The server's store, read once it is stopped: one plan per address, nothing pending.
    let mut server = server;
    let data = server.stop();
    let per_address = plans_per_address(&data.join("sandbox.redb"));
    assert_eq!(per_address.keys().cloned().collect::<Vec<_>>(), addresses);
    assert!(
        per_address
            .values()
            .all(|p| p.len() == 1 && p[0].status == PlanStatus::ExecuteSuccess),
        "{:?}",
        per_address
            .iter()
            .map(|(a, p)| (a, p.iter().map(|p| p.status).collect::<Vec<_>>()))
            .collect::<Vec<_>>()
    );
}

/// kill -9 of an apply on pg once its first records are stored: its lease row stays behind
/// (naming the dead process, its lease not run out), the next apply takes the lock over at once
/// through the advisory lock its dead session let go, and converges: one executed plan and one
/// product per address, nothing pending, the lock released.
#[test]
fn kill_9_mid_apply_on_pg_then_one_apply_converges() {
    let pg = shared_server();
    let (schema, workspace) = ("e2e_kill", "killed");
    let (w, mut apply) = interruptible_apply(&pg, schema, workspace);
    let mut child = apply.stdout(Stdio::null()).spawn().unwrap();
    let o = observer(pg.conn_str(), schema, workspace);
    let rt = runtime();
    wait_for_stored_plans(&rt, &o, &mut child, 6);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let stale = rt
        .block_on(o.holder())
        .unwrap()
        .expect("the killed run's lease row is left behind");
    assert_eq!(stale.pid, child.id());
    assert!(
        stale.lease_until > now_s(),
        "the lease has not run out: the takeover below is not an expiry"
    );
    let stored = rt.block_on(o.load()).unwrap().expect("a stored state");
    assert!(stored.plans.len() < 30, "it was killed mid-run");

    // The dead session's advisory lock is gone once the server sees the connection close; the
    // timeout only covers that instant.
    let run = on_pg(
        &w,
        pg.conn_str(),
        &["apply", "--auto-approve", "--lock-timeout", "30s"],
    )
    .expect(0);
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
    assert_eq!(
        rt.block_on(o.holder()).unwrap(),
        None,
        "the taken-over lock is released"
    );
    on_pg(&w, pg.conn_str(), &["plan", "--detailed-exitcode"]).expect(0);
    let pulled = json(
        &on_pg(&w, pg.conn_str(), &["state", "pull"])
            .expect(0)
            .stdout,
    );
    assert_eq!(pulled["lineage"], stored.lineage.as_str(), "the same state");
    assert!(pulled["serial"].as_u64().unwrap() > stored.serial);
    let addresses = settled_addresses(&pulled);
    assert_eq!(addresses.len(), 30);
    assert_one_executed_plan_per_address(&w, &addresses);
}

/// The database stopped (immediate shutdown, as a crash) in the middle of an apply: the run
/// fails with an error naming the backend and the rescue file, which holds everything the run
/// did; once the database is back, `state push` of the rescue file and one apply converge with
/// no duplicate plan and no orphan product.
#[test]
fn the_database_stopped_mid_apply_then_push_and_apply_lose_nothing() {
    // Its own server: this test stops it.
    let pg = Postgres::throwaway();
    let (schema, workspace) = ("e2e_halted", "halted");
    let (w, mut apply) = interruptible_apply(&pg, schema, workspace);
    let mut child = apply
        .env("PLANFORM_PG_RETRY_FOR", "2s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = observer(pg.conn_str(), schema, workspace);
    let rt = runtime();
    wait_for_stored_plans(&rt, &o, &mut child, 6);
    pg.stop_immediately();
    let out = Run::from(child.wait_with_output().unwrap()).expect(1);
    let backend = format!("pg workspace \"{workspace}\" (schema {schema}, 127.0.0.1:");
    assert!(
        out.stderr.contains(&backend)
            && out.stderr.contains("is unavailable")
            && out.stderr.contains(&format!(
                "once the database is back, run `planform -C {} state push {}`",
                w.path().display(),
                w.path().join("errored-state.json").display()
            ))
            && !out.stdout.contains("Apply complete!")
            && out.stdout.contains("the state was not saved")
            // Nobody pressed Ctrl-C: the waits it ended say why they stopped.
            && !out.stdout.contains(": interrupted (")
            && !out.stderr.contains(": interrupted ("),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.matches("error: saving the state failed").count() <= 2,
        "the first failed write and the release, not one error per write: {}",
        out.stderr
    );
    let rescue_path = w.path().join("errored-state.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&rescue_path)
            .expect("the rescue file is written")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let rescue = json(&w.read("errored-state.json"));

    pg.start_again();
    let stored = rt.block_on(o.load()).unwrap().expect("a stored state");
    assert_eq!(rescue["lineage"], stored.lineage.as_str());
    assert!(
        rescue["serial"].as_u64().unwrap() > stored.serial,
        "the rescue file holds changes the database does not"
    );
    for address in stored.plans.keys() {
        assert!(
            rescue["plans"].get(address.to_string()).is_some(),
            "{address} is stored but not in the rescue file"
        );
    }
    on_pg(&w, pg.conn_str(), &["state", "push", "errored-state.json"]).expect(0);
    assert_eq!(
        json(
            &on_pg(&w, pg.conn_str(), &["state", "pull"])
                .expect(0)
                .stdout
        ),
        rescue,
        "push stored the rescue file"
    );
    std::fs::remove_file(&rescue_path).unwrap();

    let run = on_pg(&w, pg.conn_str(), &["apply", "--auto-approve"]).expect(0);
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
    on_pg(&w, pg.conn_str(), &["plan", "--detailed-exitcode"]).expect(0);
    let pulled = json(
        &on_pg(&w, pg.conn_str(), &["state", "pull"])
            .expect(0)
            .stdout,
    );
    let addresses = settled_addresses(&pulled);
    assert_eq!(addresses.len(), 30);
    assert_one_executed_plan_per_address(&w, &addresses);
    assert!(
        !rescue_path.exists(),
        "a run that succeeds writes no rescue file"
    );
}

/// A state moved local → pg → local with `state pull` / `state push`: lineage and serial kept at
/// each step (including a serial raised by an apply on pg), and `plan` finds no change after
/// each move.
#[test]
fn migration_local_to_pg_and_back_keeps_lineage_and_serial() {
    let pg = shared_server();
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let local = w.run(&["state", "pull"]).expect(0).stdout;
    w.write("local.json", &local);
    let local = json(&local);

    // local → pg
    w.edit(
        "main.hcl",
        "workspace = \"quickstart\"",
        "workspace = \"quickstart\"\n  state \"pg\" { schema_name = \"e2e_migration\" }",
    );
    let empty = on_pg(&w, pg.conn_str(), &["state", "pull"])
        .expect(1)
        .stderr;
    assert!(
        empty.contains("there is no state in pg workspace"),
        "{empty}"
    );
    on_pg(&w, pg.conn_str(), &["state", "push", "local.json"]).expect(0);
    let on_server = json(
        &on_pg(&w, pg.conn_str(), &["state", "pull"])
            .expect(0)
            .stdout,
    );
    assert_eq!(on_server, local, "lineage, serial and plans kept");
    let plan = on_pg(&w, pg.conn_str(), &["plan", "--detailed-exitcode"]).expect(0);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);

    // A change applied on pg raises the serial.
    w.edit(
        "main.hcl",
        "instance_type = \"ecs.g7.large\"",
        "instance_type = \"ecs.g7.xlarge\"",
    );
    on_pg(&w, pg.conn_str(), &["apply", "--auto-approve"]).expect(0);
    let changed = on_pg(&w, pg.conn_str(), &["state", "pull"])
        .expect(0)
        .stdout;
    w.write("pg.json", &changed);
    let changed = json(&changed);
    assert_eq!(changed["lineage"], local["lineage"]);
    assert!(changed["serial"].as_u64() > local["serial"].as_u64());

    // pg → local, into a state file that does not exist yet.
    w.edit(
        "main.hcl",
        "state \"pg\" { schema_name = \"e2e_migration\" }",
        "state \"local\" { path = \"moved/state.json\" }",
    );
    w.run(&["state", "push", "pg.json"]).expect(0);
    assert_eq!(json(&w.read("moved/state.json")), changed);
    assert_eq!(json(&w.run(&["state", "pull"]).expect(0).stdout), changed);
    let plan = w.run(&["plan", "--detailed-exitcode"]).expect(0);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
}

/// B9 (second trial): docs/security.md's "Turning it on" on pg — one `plan` with
/// `PLANFORM_ENCRYPTION_MIGRATE=encrypt`, then runs with the key alone — works: the migrate run
/// rewrote every row encrypted, so the next plan has no changes instead of "row … is not
/// encrypted, but encryption is on".
#[test]
fn turning_encryption_on_for_a_pg_state_takes_one_plan() {
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let pg = shared_server();
    let w = Workspace::example("quickstart");
    w.edit(
        "main.hcl",
        "workspace = \"quickstart\"",
        "workspace = \"quickstart\"\n  state \"pg\" { schema_name = \"e2e_encrypt_on\" }",
    );
    on_pg(&w, pg.conn_str(), &["apply", "--auto-approve"]).expect(0);
    let with_key = |args: &[&str], migrate: Option<&str>| {
        let mut c = on_pg_command(&w, pg.conn_str(), args);
        c.env("PLANFORM_ENCRYPTION_KEY", KEY);
        if let Some(m) = migrate {
            c.env("PLANFORM_ENCRYPTION_MIGRATE", m);
        }
        Run::from(c.output().expect("planform runs"))
    };
    let refused = with_key(&["plan"], None).expect(1);
    assert!(
        refused
            .stderr
            .contains("is not encrypted, but encryption is on"),
        "{}",
        refused.stderr
    );
    let migrating = with_key(&["plan", "--detailed-exitcode"], Some("encrypt")).expect(0);
    assert!(
        migrating.stdout.contains("No changes"),
        "{}",
        migrating.stdout
    );

    // Every row is sealed: a reader with the key alone (which refuses plaintext) reads all three.
    let env = BTreeMap::from([("PLANFORM_ENCRYPTION_KEY".to_string(), KEY.to_string())]);
    let key = planform_state::Encryption::from_env(&env).unwrap();
    let sealed =
        observer(pg.conn_str(), "e2e_encrypt_on", "quickstart").with_encryption(Arc::new(key));
    let stored = runtime().block_on(sealed.load()).unwrap().unwrap();
    assert_eq!(stored.plans.len(), 3);

    let next = with_key(&["plan", "--detailed-exitcode"], None).expect(0);
    assert!(next.stdout.contains("No changes"), "{}", next.stdout);
}
