//! Issue 13: the real `planform` on the PostgreSQL backend, against a throwaway server started
//! for the test (`crates/state-pg/tests/support`, or `PLANFORM_TEST_PG_URL`).

use crate::{Run, Workspace};

#[path = "../../crates/state-pg/tests/support/mod.rs"]
mod support;

fn on_pg(w: &Workspace, conn: &str, args: &[&str]) -> Run {
    let mut c = w.command(args);
    c.env("PG_CONN_STR", conn);
    Run::from(c.output().expect("planform runs"))
}

/// The quickstart applied with its state in PostgreSQL: the next plan has no changes, `state
/// pull` prints what was stored, no local state file is made; without `PG_CONN_STR` every
/// command says which variable is missing.
#[test]
fn the_quickstart_lifecycle_on_pg() {
    let pg = support::Pg::start();
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
