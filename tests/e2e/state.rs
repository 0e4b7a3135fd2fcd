//! Issue 13: the state through its backend from the command line: `state pull` / `state push`
//! (and a migration between workspaces keeping lineage and serial), `--lock=false`, and two
//! applies on one workspace.

use std::process::Stdio;
use std::time::Duration;

use planform_state::{Backend, LocalBackend};

use crate::{runtime, Workspace};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn issue_13_pull_and_push_round_trip_and_refusals() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let pulled = w.run(&["state", "pull"]).expect(0).stdout;
    let v = json(&pulled);
    assert_eq!(
        v,
        json(&w.read(".planform/state.json")),
        "pull prints the snapshot"
    );
    let serial = v["serial"].as_u64().unwrap();
    assert!(serial > 0);

    // The same serial again: refused, nothing written.
    w.write("pulled.json", &pulled);
    let same = w.run(&["state", "push", "pulled.json"]).expect(1).stderr;
    assert!(same.contains("not newer than the stored serial"), "{same}");
    // Another lineage: refused.
    let other = pulled.replace(v["lineage"].as_str().unwrap(), "another-lineage");
    w.write(
        "other.json",
        &other.replace(&format!("\"serial\": {serial}"), "\"serial\": 999"),
    );
    let foreign = w.run(&["state", "push", "other.json"]).expect(1).stderr;
    assert!(foreign.contains("it is another state"), "{foreign}");
    // A corrupt file: refused, naming it.
    w.write("bad.json", "{ nope");
    let bad = w.run(&["state", "push", "bad.json"]).expect(1).stderr;
    assert!(
        bad.contains("bad.json is not a state file planform can push"),
        "{bad}"
    );
    assert_eq!(
        json(&w.read(".planform/state.json")),
        v,
        "refusals write nothing"
    );

    // An edited state with a newer serial: pushed.
    let edited = pulled.replace(
        &format!("\"serial\": {serial}"),
        &format!("\"serial\": {}", serial + 1),
    );
    w.write("edited.json", &edited);
    w.run(&["state", "push", "edited.json"]).expect(0);
    assert_eq!(
        json(&w.run(&["state", "pull"]).expect(0).stdout),
        json(&edited)
    );
    w.run(&["plan", "--detailed-exitcode"]).expect(0);

    // Migration: the pulled state pushed into a workspace without state keeps lineage and
    // serial, and the moved workspace sees no change.
    let moved = Workspace::example("quickstart");
    moved.write("from.json", &edited);
    moved.run(&["state", "push", "from.json"]).expect(0);
    assert_eq!(
        json(&moved.run(&["state", "pull"]).expect(0).stdout),
        json(&edited)
    );
    assert_eq!(
        moved.run(&["state", "list"]).expect(0).stdout,
        w.run(&["state", "list"]).expect(0).stdout
    );
    let none = Workspace::example("quickstart");
    let empty = none.run(&["state", "pull"]).expect(1).stderr;
    assert!(
        empty.contains("there is no state in local state"),
        "{empty}"
    );
}

#[test]
fn issue_13_lock_false_is_read_only() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let backend = LocalBackend::new(w.path().join(".planform/state.json"));
    let rt = runtime();
    let held = rt
        .block_on(backend.lock("apply (another job)", Duration::ZERO))
        .unwrap();
    // A read-only plan needs no lock.
    let plan = w
        .run(&["plan", "--lock=false", "--detailed-exitcode"])
        .expect(0);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
    // A plan that locks names the holder.
    let locked = w.run(&["plan"]).expect(1).stderr;
    assert!(locked.contains("apply (another job)"), "{locked}");
    rt.block_on(held.release()).unwrap();
    for args in [
        &["apply", "--auto-approve", "--lock=false"][..],
        &["destroy", "--auto-approve", "--lock=false"][..],
        &["state", "rm", "plan.network", "--lock=false"][..],
        &["state", "mv", "plan.network", "plan.net", "--lock=false"][..],
        &["state", "push", "x.json", "--lock=false"][..],
    ] {
        w.write("x.json", &w.read(".planform/state.json"));
        let refused = w.run(args).expect(1).stderr;
        assert!(refused.contains("drop --lock=false"), "{args:?}: {refused}");
    }
    assert_eq!(
        w.run(&["state", "list"]).expect(0).stdout.lines().count(),
        3
    );
}

fn slow(endpoint: &str) -> String {
    crate::alibaba_provider(endpoint, 8) + &crate::counted_vpcs("net", "net-", 6)
}

/// Two applies on one workspace: while the first holds the lock, a second one without a
/// timeout fails naming it, and one with a timeout waits and then finds nothing to do.
#[test]
fn issue_13_two_applies_on_one_workspace() {
    let server = crate::server::serve(&["--latency-ms", "100"]);
    let w = Workspace::new();
    w.write("main.hcl", &slow(&server.endpoint));
    let mut first = w
        .alibaba_command(&["apply", "--auto-approve", "--parallelism", "2"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let backend = LocalBackend::new(w.path().join(".planform/state.json"));
    let rt = runtime();
    crate::wait_until_locked_by(&rt, &backend, &mut first);
    let run = |args: &[&str]| crate::Run::from(w.alibaba_command(args).output().unwrap());
    let refused = run(&["apply", "--auto-approve"]).expect(1).stderr;
    assert!(
        refused.contains(&format!("locked by pid {}", first.id())) && refused.contains("(apply)"),
        "{refused}"
    );
    let waited = run(&["apply", "--auto-approve", "--lock-timeout", "10m"]).expect(0);
    assert!(first.wait().unwrap().success());
    assert!(
        waited.stdout.contains("No changes"),
        "the waiting apply ran after the first one: {}",
        waited.stdout
    );
    assert_eq!(
        w.run(&["state", "list"]).expect(0).stdout.lines().count(),
        6
    );
}

/// Trial 3 F6 and F7: a JSON run waiting for the state lock has written its `version` line (it
/// wrote nothing until it had the lock), and a wait that runs out says so. The test holds the
/// lock itself, so nothing depends on how long another run takes.
#[test]
fn a_run_waiting_for_the_lock_says_it_is_alive_and_a_wait_run_out_says_so() {
    let w = Workspace::example("quickstart");
    let backend = LocalBackend::new(w.path().join(".planform/state.json"));
    let rt = runtime();
    let held = rt
        .block_on(backend.lock("test", std::time::Duration::ZERO))
        .unwrap();
    let gave_up = w.run(&["plan", "--lock-timeout", "1ms"]).expect(1).stderr;
    assert!(
        gave_up.contains("the state lock stayed held for the whole --lock-timeout (0.001s)")
            && gave_up.contains(&format!("locked by pid {}", std::process::id())),
        "{gave_up}"
    );
    let mut watcher = w
        .command(&["plan", "--format", "json", "--lock-timeout", "10m"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream = std::io::BufReader::new(watcher.stdout.take().unwrap());
    let mut first_line = String::new();
    std::io::BufRead::read_line(&mut stream, &mut first_line).unwrap();
    assert!(first_line.contains("\"type\":\"version\""), "{first_line}");
    // Written while this test holds the lock: the run cannot have taken it.
    assert!(watcher.try_wait().unwrap().is_none());
    rt.block_on(held.release()).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stream, &mut rest).unwrap();
    assert!(watcher.wait().unwrap().success(), "{rest}");
    assert!(rest.contains("\"type\":\"change_summary\""), "{rest}");
}

/// `-C DIR` names where the manifests are; a path a command is given is relative to the current
/// directory, `state push FILE` included (found by a second trial: push alone resolved FILE
/// inside DIR, so the recovery hint's path failed either way).
#[test]
fn state_push_reads_its_file_relative_to_the_current_directory() {
    let root = Workspace::new();
    let infra = root.path().join("infra");
    std::fs::create_dir(&infra).unwrap();
    std::fs::copy(
        crate::repo().join("examples/quickstart/main.hcl"),
        infra.join("main.hcl"),
    )
    .unwrap();
    let planform = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_planform"));
        c.current_dir(root.path())
            .args(["-C", "infra"])
            .args(args)
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("PLANFORM_SANDBOX_PREVIEW_MS", "20")
            .env("PLANFORM_SANDBOX_EXECUTE_MS", "40")
            .stdin(Stdio::null());
        crate::Run::from(c.output().unwrap())
    };
    planform(&["apply", "--auto-approve"]).expect(0);
    let pulled = planform(&["state", "pull"]).expect(0).stdout;
    let mut doc: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    doc["serial"] = serde_json::json!(doc["serial"].as_u64().unwrap() + 1);
    std::fs::write(root.path().join("edited.json"), doc.to_string()).unwrap();
    planform(&["state", "push", "edited.json"]).expect(0);
    planform(&["plan", "--detailed-exitcode"]).expect(0);
}
