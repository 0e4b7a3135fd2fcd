//! `plan --out`, `show PLANFILE`, `apply PLANFILE`, and stale plan files refused.

use crate::Workspace;

#[test]
fn a_saved_plan_is_applied_exactly() {
    let w = Workspace::example("quickstart");
    let plan = w.path().join("changes.plan");
    let p = plan.to_str().unwrap();
    w.run(&["plan", "--out", p]).expect(0);
    let shown = w.run(&["show", p]).expect(0).stdout;
    assert!(
        shown.contains("Plan: 3 to create, 0 to update, 0 to terminate, 3 to execute."),
        "{shown}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let applied = w.run(&["apply", p]).expect(0);
    assert!(
        applied.stdout.contains("Apply complete! 3 done"),
        "{}",
        applied.stdout
    );
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
    // The same file again: the state moved on since it was made.
    let stale = w.run(&["apply", p]).expect(1);
    assert!(
        stale
            .stderr
            .contains("is stale: the state changed since it was made (serial 0 ->"),
        "{}",
        stale.stderr
    );
    let listed = w.run(&["show"]).expect(0).stdout;
    assert!(
        listed.contains("plan.network  sandbox  plan-") && listed.contains("ExecuteSuccess"),
        "{listed}"
    );
}

#[test]
fn a_plan_file_made_before_the_cloud_changed_is_refused_naming_what_moved() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.edit(
        "main.hcl",
        "cidr_block = \"10.0.0.0/16\"",
        "cidr_block = \"10.1.0.0/16\"",
    );
    let plan = w.path().join("update.plan");
    let p = plan.to_str().unwrap();
    w.run(&["plan", "--out", p]).expect(0);
    // Out of band: the network's plan is deleted in the cloud.
    let id = {
        let state = w.read(".planform/state.json");
        let v: serde_json::Value = serde_json::from_str(&state).unwrap();
        v["plans"]["plan.network"]["plan_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    {
        use planform_sandbox::{store::Store, Catalog, Sandbox, Settings, SystemClock};
        let store = Store::open(&w.path().join(".planform/sandbox/sandbox.redb")).unwrap();
        let mut sb = Sandbox::new(
            Catalog::demo(),
            Settings::default(),
            std::sync::Arc::new(SystemClock),
            store,
        )
        .unwrap();
        sb.delete_plan(&id).unwrap();
    }
    let stale = w.run(&["apply", p]).expect(1);
    assert!(
        stale
            .stderr
            .contains("is stale: the cloud changed since it was made"),
        "{}",
        stale.stderr
    );
    assert!(
        stale.stderr.contains(&format!(
            "plan.network: plan {id} -> none, status ExecuteSuccess -> gone"
        )),
        "{}",
        stale.stderr
    );
}

#[test]
fn a_plan_file_that_is_not_one_is_a_clear_error() {
    let w = Workspace::example("quickstart");
    w.write("junk.plan", "{\"hello\": 1}");
    let run = w
        .run(&["apply", w.path().join("junk.plan").to_str().unwrap()])
        .expect(1);
    assert!(
        run.stderr.contains("is not a planform plan file"),
        "{}",
        run.stderr
    );
}

#[test]
fn cloud_preview_creates_the_plans_and_apply_executes_the_same_ones() {
    let w = Workspace::example("quickstart");
    let run = w.run(&["plan", "--cloud-preview"]).expect(0).stdout;
    assert!(run.contains("Add    alicloud_vpc Vpc"), "{run}");
    assert!(
        run.contains("plan.app[\"web\"]: previewed by apply"),
        "{run}"
    );
    let previewed = {
        let v: serde_json::Value = serde_json::from_str(&w.read(".planform/state.json")).unwrap();
        v["plans"]["plan.network"]["plan_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let plan = w.run(&["plan"]).expect(0).stdout;
    assert!(plan.contains("# plan.network will be executed"), "{plan}");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&w.read(".planform/state.json")).unwrap();
    assert_eq!(
        v["plans"]["plan.network"]["plan_id"].as_str().unwrap(),
        previewed,
        "apply executed the previewed plan"
    );
    assert_eq!(v["plans"]["plan.network"]["status"], "ExecuteSuccess");
}

#[test]
fn import_from_tags_rebuilds_a_lost_state() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let before = w.run(&["state", "list"]).expect(0).stdout;
    std::fs::remove_file(w.path().join(".planform/state.json")).unwrap();
    let imported = w.run(&["import", "--from-tags"]).expect(0).stdout;
    assert!(imported.contains("3 plans imported"), "{imported}");
    assert_eq!(w.run(&["state", "list"]).expect(0).stdout, before);
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
    let again = w.run(&["import", "--from-tags"]).expect(0).stdout;
    assert!(again.contains("Nothing to import"), "{again}");
}

/// Issue 12 (5): `plan --refresh-only --out F` saves what it shows (no change), so `apply F`
/// creates nothing.
#[test]
fn issue_12_a_refresh_only_plan_file_holds_no_changes() {
    let w = Workspace::example("quickstart");
    let plan = w.path().join("refresh.plan");
    let p = plan.to_str().unwrap();
    let saved = w.run(&["plan", "--refresh-only", "--out", p]).expect(0);
    // The hint runs from where this ran: with its `-C` (trial 3 F12).
    assert!(
        saved
            .stderr
            .contains(&format!("`planform -C {} apply {p}`", w.path().display())),
        "{}",
        saved.stderr
    );
    let shown = w.run(&["show", p]).expect(0).stdout;
    assert!(!shown.contains("to create"), "{shown}");
    // Said for what it is (acceptance audit F6: it said "The cloud matches the manifests").
    assert!(
        shown.contains("is a refresh-only plan: it changes nothing in the cloud"),
        "{shown}"
    );
    let applied = w.run(&["apply", p]).expect(0).stdout;
    assert!(
        applied.contains("No changes. The state matches the cloud.")
            && !applied.contains("The cloud matches the manifests"),
        "{applied}"
    );
    // Nothing was applied: there is no state to list.
    let listed = w.run(&["state", "list"]).expect(1);
    assert!(
        listed.stderr.contains("there is no state"),
        "{}",
        listed.stderr
    );
    // The real plan still has everything to do.
    w.run(&["plan", "--detailed-exitcode"]).expect(2);
}

/// Issue 16 (4): a plan file is written atomically with mode 0600, whatever was at its path: a
/// wider file is replaced (not kept at 0644), a symlink is replaced (its target untouched).
#[test]
fn issue_16_a_plan_file_is_0600_and_never_follows_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let w = Workspace::example("quickstart");
    let plan = w.path().join("changes.plan");
    std::fs::write(&plan, "old").unwrap();
    std::fs::set_permissions(&plan, std::fs::Permissions::from_mode(0o644)).unwrap();
    w.run(&["plan", "--out", plan.to_str().unwrap()]).expect(0);
    let mode =
        |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&plan), 0o600);
    let linked = w.path().join("linked.plan");
    w.write("victim", "keep");
    std::os::unix::fs::symlink(w.path().join("victim"), &linked).unwrap();
    w.run(&["plan", "--out", linked.to_str().unwrap()])
        .expect(0);
    assert_eq!(w.read("victim"), "keep");
    assert_eq!(mode(&linked), 0o600);
    w.run(&["show", linked.to_str().unwrap()]).expect(0);
}

/// Issue 16 (8): a plan file is applied to the state the manifests of the directory name, never
/// to a path it carries: made for another workspace or another state, it is refused — a fresh
/// one (serial 0) included — and nothing is written.
#[test]
fn issue_16_a_plan_file_applies_only_to_the_state_it_was_made_for() {
    let w = Workspace::example("quickstart");
    let plan = w.path().join("changes.plan");
    let p = plan.to_str().unwrap();
    w.run(&["plan", "--out", p]).expect(0);

    let main = w.read("main.hcl");
    let other = Workspace::new();
    other.write(
        "main.hcl",
        &main.replace("workspace = \"quickstart\"", "workspace = \"other\""),
    );
    let refused = other.run(&["apply", p]).expect(1);
    assert!(
        refused
            .stderr
            .contains("was made for workspace \"quickstart\"; the manifests here say \"other\""),
        "{}",
        refused.stderr
    );
    let elsewhere = Workspace::new();
    elsewhere.write(
        "main.hcl",
        &main.replace(
            "workspace = \"quickstart\"",
            "workspace = \"quickstart\"\n  state \"local\" { path = \"elsewhere.json\" }",
        ),
    );
    let refused = elsewhere.run(&["apply", p]).expect(1);
    assert!(
        refused
            .stderr
            .contains("was made with the state in local state")
            && refused.stderr.contains("elsewhere.json"),
        "{}",
        refused.stderr
    );
    // Acceptance audit F8: the same workspace and state path, but other manifests (a fresh
    // directory, so serial 0 matches): refused, it would make there what it plans here.
    let fresh = Workspace::new();
    fresh.write(
        "main.hcl",
        "planform {\n  workspace = \"quickstart\"\n}\nprovider \"sandbox\" {}\n",
    );
    let refused = fresh.run(&["apply", p]).expect(1);
    assert!(
        refused
            .stderr
            .contains("was made from other manifests than those in")
            && refused.stderr.contains("run `planform plan` again"),
        "{}",
        refused.stderr
    );
    for dir in [&other, &elsewhere, &fresh] {
        assert!(!dir.path().join(".planform/state.json").exists());
        assert!(!dir.path().join("elsewhere.json").exists());
    }
    // A copy of the same manifests (a fresh clone, as a CI apply job has) takes it, but not a
    // file made from no state by an older planform, which has no digest to tie it anywhere.
    let clone = Workspace::new();
    clone.write("main.hcl", &main);
    let mut legacy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    legacy.as_object_mut().unwrap().remove("manifests").unwrap();
    clone.write("legacy.plan", &legacy.to_string());
    let legacy_path = clone.path().join("legacy.plan");
    let refused = clone
        .run(&["apply", legacy_path.to_str().unwrap()])
        .expect(1);
    assert!(
        refused
            .stderr
            .contains("was made by an older planform from no state"),
        "{}",
        refused.stderr
    );
    clone.run(&["apply", p]).expect(0);
    clone.run(&["plan", "--detailed-exitcode"]).expect(0);
    // Where it was made, a manifest edited since refuses it too.
    w.run(&["plan", "--out", p]).expect(0);
    w.write("main.hcl", &format!("{main}\n# edited\n"));
    let refused = w.run(&["apply", p]).expect(1);
    assert!(
        refused.stderr.contains("was made from other manifests"),
        "{}",
        refused.stderr
    );
    w.write("main.hcl", &main);
    w.run(&["apply", p]).expect(0);
}

/// Issue 16 (found by the `plan_file` fuzz target): an instance key with a backslash or a
/// newline reads back from a plan file and from the state as it was written; it used to gain a
/// backslash on every load, so the next plan wanted to terminate the plan just applied.
#[test]
fn issue_16_instance_keys_with_escapes_survive_plan_files_and_the_state() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"provider "sandbox" {}

plan "net" {
  for_each                 = { "a\\b" = "one", "two\nlines" = "two" }
  name                     = "net-${each.value}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net-${each.value}"
  parameters               = { cidr_block = "10.0.0.0/16" }
  execute                  = true
}
"#,
    );
    let plan = w.path().join("keys.plan");
    let p = plan.to_str().unwrap();
    w.run(&["plan", "--out", p]).expect(0);
    let shown = w.run(&["show", p]).expect(0).stdout;
    assert!(
        shown.contains(r#"plan.net["a\\b"] will be created"#)
            && shown.contains(r#"plan.net["two\nlines"] will be created"#),
        "{shown}"
    );
    w.run(&["apply", p]).expect(0);
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
    assert_eq!(
        w.run(&["state", "list"]).expect(0).stdout,
        "plan.net[\"a\\\\b\"]\nplan.net[\"two\\nlines\"]\n"
    );
}
