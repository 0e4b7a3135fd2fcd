//! `drift` regressions from the new-user trial (findings 1, 9 and 24).

use crate::Workspace;

const TWO_PLANS: &str = r#"
plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "d1-a"
  parameters               = { cidr_block = "10.0.0.0/16" }
  execute                  = true
}
plan "b" {
  name                     = "b"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "d1-b"
  parameters               = { cidr_block = "10.1.0.0/16" }
  execute                  = true
}
"#;

/// Finding 1: removing an address terminates its product; its launch, update and terminate
/// plans stay in the cloud, tagged with the workspace, and are finished history, not drift.
/// Finding 24: an `--ignore` that names nothing is said to match nothing.
#[test]
fn drift_after_removing_an_address_reports_no_unmanaged_history() {
    let w = Workspace::new();
    w.write("main.hcl", TWO_PLANS);
    w.run(&["apply", "--auto-approve"]).expect(0);
    // An update of b first, so that b leaves a launch, an update and a terminate plan.
    w.edit("main.hcl", "10.1.0.0/16", "10.2.0.0/16");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let only_a = &TWO_PLANS[..TWO_PLANS.find("plan \"b\"").unwrap()];
    w.write("main.hcl", only_a);
    w.run(&["apply", "--auto-approve"]).expect(0);
    let r = w.run(&["drift"]).expect(0);
    assert!(r.stdout.contains("No drift."), "{}", r.stdout);
    let md = w.run(&["drift", "--format", "markdown"]).expect(0);
    assert!(md.stdout.contains("**In sync.**"), "{}", md.stdout);

    let typo = w.run(&["drift", "--ignore", "plan.bogus"]).expect(0);
    let said = format!("{}{}", typo.stdout, typo.stderr);
    assert!(
        said.contains("Ignore matches nothing") && said.contains("plan.bogus"),
        "{said}"
    );
    // An ignore of a known address, or of one of its attributes, is no typo.
    let fine = w
        .run(&[
            "drift",
            "--ignore",
            "plan.a",
            "--ignore",
            "plan.a.parameters",
        ])
        .expect(0);
    let said = format!("{}{}", fine.stdout, fine.stderr);
    assert!(!said.contains("matches nothing"), "{said}");
}

/// Findings 1 and 9: a plan made outside this state with this workspace's tags, that can still
/// act, is unmanaged drift; the report names the workspace whose tag it carries and, for
/// `default`, says how to keep two directories apart.
#[test]
fn drift_reports_a_live_plan_of_another_directory_on_the_default_workspace() {
    let mine = Workspace::new();
    let split = TWO_PLANS.find("plan \"b\"").unwrap();
    mine.write("a.hcl", &TWO_PLANS[..split]);
    // b is previewed, not executed: a plan that can still act.
    mine.write(
        "b.hcl",
        &TWO_PLANS[split..].replace(
            "execute                  = true",
            "execute                  = false",
        ),
    );
    mine.run(&["apply", "--auto-approve"]).expect(0);
    // Forget b in this state (as if another directory had made it): it can still act.
    mine.run(&["state", "rm", "plan.b"]).expect(0);
    std::fs::remove_file(mine.path().join("b.hcl")).unwrap();
    let r = mine.run(&["drift"]).expect(2);
    assert!(r.stdout.contains("plan.b [unmanaged]"), "{}", r.stdout);
    assert!(r.stdout.contains("workspace `default`"), "{}", r.stdout);
    let said = format!("{}{}", r.stdout, r.stderr);
    assert!(
        said.contains("Workspace left at \"default\"")
            && said.contains("Give each directory its own workspace"),
        "{said}"
    );
    let md = mine.run(&["drift", "--format", "markdown"]).expect(2);
    assert!(
        !md.stdout.contains("to restore the manifests' intent"),
        "{}",
        md.stdout
    );
    mine.run(&["drift", "--ignore", "plan.b"]).expect(0);
}

/// Trial 2 B1: an update whose preview fails (a deprecated version that refuses the instance
/// type) leaves the failed plan in the cloud. Drift reports it once, with its status and what it
/// asked for, and never as a change made outside planform: planform sent it.
#[test]
fn drift_reports_a_failed_update_as_its_status_not_as_a_change_outside_planform() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"
plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "b1-net"
  parameters               = { cidr_block = "10.0.0.0/16" }
  execute                  = true
}
plan "app" {
  name                     = "app"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "b1-app"
  parameters               = { vpc_id = plan.net.outputs.vpc_id, instance_type = "ecs.g7.large" }
  execute                  = true
}
"#,
    );
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.edit("main.hcl", "pv-sbxecs0000002", "pv-sbxecs0000001");
    // Trial 3 F5: a failed JSON run's last line is its error, which standard error has too.
    let failed = w
        .run(&["apply", "--auto-approve", "--format", "json"])
        .expect(1);
    let last: serde_json::Value =
        serde_json::from_str(failed.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&last["type"], &last["@level"]),
        (&"diagnostic".into(), &"error".into()),
        "{}",
        failed.stdout
    );
    let summary = last["diagnostic"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("apply failed: plan.app: preview failed"),
        "{summary}"
    );
    assert!(failed.stderr.contains(summary), "{}", failed.stderr);
    let r = w.run(&["drift"]).expect(2);
    assert!(r.stdout.contains("Drift detected: 1 item."), "{}", r.stdout);
    assert!(
        r.stdout.contains("plan.app [status]")
            && r.stdout
                .contains("it asks for product_version_id, which was not applied"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("outside planform"), "{}", r.stdout);
}
