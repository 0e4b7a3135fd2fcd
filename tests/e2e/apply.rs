//! plan / apply / destroy against the embedded sandbox.

use std::sync::Arc;

use planform_sandbox::{store::Store, Catalog, ListPlans, Sandbox, Settings, SystemClock};

use crate::Workspace;

fn sandbox_of(w: &Workspace) -> Sandbox {
    let store = Store::open(&w.path().join(".planform/sandbox/sandbox.redb")).unwrap();
    Sandbox::new(
        Catalog::demo(),
        Settings::default(),
        Arc::new(SystemClock),
        store,
    )
    .unwrap()
}

pub fn all_plans(sb: &mut Sandbox) -> Vec<planform_sandbox::PlanRecord> {
    let mut out = Vec::new();
    for page in 1.. {
        let (items, total) = sb
            .list_plans(&ListPlans {
                page_number: page,
                page_size: 100,
                ascending: true,
                ..ListPlans::default()
            })
            .unwrap();
        out.extend(items);
        if out.len() >= total {
            break;
        }
    }
    out
}

#[test]
fn quickstart_lifecycle() {
    let w = Workspace::example("quickstart");
    w.run(&["plan", "--detailed-exitcode"]).expect(2);
    let first = w.run(&["apply", "--auto-approve"]).expect(0);
    assert!(
        first.stdout.contains("Apply complete! 3 done"),
        "{}",
        first.stdout
    );
    // The VPC's output flowed into the app plans' parameters.
    let vpc = w
        .run(&["output", "vpc_id"])
        .expect(0)
        .stdout
        .trim()
        .to_string();
    assert!(vpc.starts_with("vpc-"), "{vpc}");
    let web = w
        .run(&["state", "show", "plan.app[\"web\"]"])
        .expect(0)
        .stdout;
    assert!(
        web.contains(&format!("parameters[\"vpc_id\"] = {vpc:?}")),
        "{web}"
    );
    // Dependency order, from the sandbox's records: no app plan was created before the VPC existed.
    {
        let mut sb = sandbox_of(&w);
        let plans = all_plans(&mut sb);
        let net = plans.iter().find(|p| p.name == "vpc-dev").unwrap();
        for app in plans.iter().filter(|p| p.name.starts_with("app-")) {
            assert!(
                app.create_ms >= net.update_ms,
                "{} created before the VPC was executed",
                app.name
            );
            assert_eq!(
                app.parameters
                    .iter()
                    .find(|(k, _)| k == "vpc_id")
                    .unwrap()
                    .1,
                vpc
            );
        }
    }
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
    let again = w.run(&["apply", "--auto-approve"]).expect(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);

    // Change a parameter: the launched products are updated by new plans.
    w.edit(
        "main.hcl",
        "instance_type = \"ecs.g7.large\"",
        "instance_type = \"ecs.g7.xlarge\"",
    );
    let plan = w.run(&["plan", "--detailed-exitcode"]).expect(2).stdout;
    assert!(
        plan.contains("~ parameters[\"instance_type\"] = \"ecs.g7.large\" -> \"ecs.g7.xlarge\""),
        "{plan}"
    );
    assert!(
        plan.contains("Plan: 0 to create, 2 to update, 0 to terminate, 2 to execute."),
        "{plan}"
    );
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
    let web = w
        .run(&["state", "show", "plan.app[\"web\"]"])
        .expect(0)
        .stdout;
    assert!(web.contains("history"), "the old plan id is kept: {web}");

    // Remove a plan: its product is terminated.
    w.edit("main.hcl", "toset([\"web\", \"api\"])", "toset([\"web\"])");
    let plan = w.run(&["plan"]).expect(0).stdout;
    assert!(
        plan.contains("# plan.app[\"api\"] will be terminated"),
        "{plan}"
    );
    w.run(&["apply", "--auto-approve"]).expect(0);
    assert_eq!(
        w.run(&["state", "list"]).expect(0).stdout,
        "plan.app[\"web\"]\nplan.network\n"
    );

    // Destroy: dependents first, then nothing is left.
    w.run(&["destroy", "--auto-approve"]).expect(0);
    assert_eq!(w.run(&["state", "list"]).expect(0).stdout, "");
    let mut sb = sandbox_of(&w);
    assert!(
        sb.list_provisioned_products().unwrap().is_empty(),
        "every product was terminated"
    );
    let plans = all_plans(&mut sb);
    let term_web = plans
        .iter()
        .find(|p| p.name == "terminate-app-web-dev")
        .unwrap();
    let term_net = plans
        .iter()
        .find(|p| p.name == "terminate-vpc-dev")
        .unwrap();
    assert!(
        term_net.create_ms >= term_web.update_ms,
        "the network was terminated after the app that uses it"
    );
    drop(sb);
    // Nothing is adopted back from the old plans' ownership tags (regression): all is created anew.
    let again = w.run(&["plan"]).expect(0).stdout;
    assert!(again.contains("Plan: 2 to create, 0 to update"), "{again}");
}

#[test]
fn apply_without_a_terminal_needs_auto_approve() {
    let w = Workspace::example("quickstart");
    let run = w.run(&["apply"]).expect(1);
    assert!(run.stderr.contains("--auto-approve"), "{}", run.stderr);
    assert!(
        !w.path().join(".planform/state.json").exists(),
        "nothing was applied"
    );
}

#[test]
fn corrupt_state_is_a_clear_error_and_is_kept() {
    let w = Workspace::example("quickstart");
    std::fs::create_dir_all(w.path().join(".planform")).unwrap();
    w.write(".planform/state.json", "{\"version\": 1, \"serial\": ");
    let run = w.run(&["plan"]).expect(1);
    assert!(
        run.stderr.contains("is corrupt") && run.stderr.contains("left untouched"),
        "{}",
        run.stderr
    );
    assert_eq!(
        w.read(".planform/state.json"),
        "{\"version\": 1, \"serial\": "
    );
}

#[test]
fn a_held_lock_is_a_clear_error() {
    let w = Workspace::example("quickstart");
    use planform_state::Backend;
    let backend = planform_state::LocalBackend::new(w.path().join(".planform/state.json"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _held = rt
        .block_on(backend.lock("apply (another job)", std::time::Duration::ZERO))
        .unwrap();
    let run = w.run(&["plan"]).expect(1);
    assert!(
        run.stderr.contains("the state is locked by pid")
            && run.stderr.contains("apply (another job)"),
        "{}",
        run.stderr
    );
}

const APPROVAL: &str = r#"
provider "sandbox" {}

plan "db" {
  name                     = "orders-db"
  product_id               = "prod-sbxrds0000001"
  product_version_id       = "pv-sbxrds0000001"
  portfolio_id             = "port-sbxreview0001"
  provisioned_product_name = "orders-db"
  parameters               = { engine = "PostgreSQL" }
  execute                  = true
  timeouts {
    approval = "0s"
  }
}

plan "app" {
  name                     = "orders-app"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "orders-app"
  parameters = {
    vpc_id        = "vpc-shared"
    instance_type = "ecs.g7.large"
    password      = plan.db.outputs.connection_string
  }
  execute = true
}
"#;

#[test]
fn approval_flow_exits_3_then_completes() {
    let w = Workspace::new();
    w.write("main.hcl", APPROVAL);
    let run = w.run(&["apply", "--auto-approve"]).expect(3);
    assert!(
        run.stdout.contains("plan.app: deferred (waits on plan.db)"),
        "{}",
        run.stdout
    );
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Awaiting approval: plan.db ("))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let id = line.split(['(', ')']).nth(1).unwrap().to_string();
    // Still waiting: apply says so again.
    w.run(&["apply", "--auto-approve"]).expect(3);
    w.run(&["sandbox", "approve", &id, "--comment", "ok"])
        .expect(0);
    let done = w.run(&["apply", "--auto-approve"]).expect(0);
    assert!(done.stdout.contains("Apply complete!"), "{}", done.stdout);
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
}

const FAILING: &str = r#"
plan "app" {
  name                     = "orders-app"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "orders-app"
  parameters = {
    vpc_id          = "vpc-shared"
    instance_type   = "ecs.g7.large"
    fail_on_execute = "true"
  }
  execute = true
}
"#;

#[test]
fn a_failed_execution_is_retried_after_the_fix() {
    let w = Workspace::new();
    w.write("main.hcl", FAILING);
    let run = w.run(&["apply", "--auto-approve"]).expect(1);
    assert!(
        run.stdout.contains("InvalidInstanceType.NotSupported"),
        "{}",
        run.stdout
    );
    // Unchanged inputs after a failed execution: a retry is proposed.
    let plan = w.run(&["plan"]).expect(0).stdout;
    assert!(plan.contains("will be retried"), "{plan}");
    w.edit(
        "main.hcl",
        "fail_on_execute = \"true\"",
        "fail_on_execute = \"false\"",
    );
    let plan = w.run(&["plan"]).expect(0).stdout;
    assert!(
        plan.contains("~ parameters[\"fail_on_execute\"] = \"true\" -> \"false\""),
        "{plan}"
    );
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
}

#[test]
fn sensitive_values_are_masked_and_not_stored() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"
variable "password" {
  type      = string
  sensitive = true
}

plan "app" {
  name                     = "app"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "app"
  parameters = {
    vpc_id        = "vpc-1"
    instance_type = "ecs.g7.large"
    password      = var.password
  }
}
"#,
    );
    let plan = w.run(&["plan", "--var", "password=hunter2"]).expect(0);
    assert!(
        plan.stdout.contains("password      = (sensitive value)"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("hunter2"));
    let json = w
        .run(&["plan", "--var", "password=hunter2", "--format", "json"])
        .expect(0);
    assert!(!json.stdout.contains("hunter2"));
    w.run(&["apply", "--auto-approve", "--var", "password=hunter2"])
        .expect(0);
    assert!(
        !w.read(".planform/state.json").contains("hunter2"),
        "the state keeps a hash only"
    );
    let show = w.run(&["state", "show", "plan.app"]).expect(0).stdout;
    assert!(
        show.contains("(sensitive value)") && !show.contains("hunter2"),
        "{show}"
    );
}

#[test]
fn kill_9_mid_apply_then_apply_again_leaves_one_plan_per_address() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"
plan "net" {
  count                    = 50
  name                     = "net-${count.index}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net-${count.index}"
  parameters               = { cidr_block = "10.${count.index}.0.0/16" }
  execute                  = true
}
"#,
    );
    let mut child = w
        .command(&["apply", "--auto-approve", "--parallelism", "5"])
        .env("PLANFORM_SANDBOX_EXECUTE_MS", "300")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (by polling the state, not by a fixed sleep) until some plans are recorded.
    let state = planform_state::LocalBackend::new(w.path().join(".planform/state.json"));
    let started = std::time::Instant::now();
    loop {
        let n = state.load_now().ok().flatten().map_or(0, |s| s.plans.len());
        if n >= 8 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "apply made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply finished before it could be killed"
        );
        std::thread::yield_now();
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let run = w.run(&["apply", "--auto-approve"]).expect(0);
    assert!(run.stdout.contains("Apply complete!"), "{}", run.stdout);
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
    assert_eq!(
        w.run(&["state", "list"]).expect(0).stdout.lines().count(),
        50
    );
    let mut sb = sandbox_of(&w);
    let plans = all_plans(&mut sb);
    let mut per_address = std::collections::BTreeMap::new();
    for p in &plans {
        let a = p
            .tags
            .iter()
            .find(|(k, _)| k == "planform:address")
            .map(|(_, v)| v.clone())
            .expect("ownership tag");
        *per_address.entry(a).or_insert(0) += 1;
    }
    assert_eq!(per_address.len(), 50);
    assert!(
        per_address.values().all(|n| *n == 1),
        "duplicates: {per_address:?}"
    );
    assert_eq!(sb.list_provisioned_products().unwrap().len(), 50);
}

#[test]
fn renderings_of_a_plan() {
    let w = Workspace::example("quickstart");
    let text = w.run(&["plan"]).expect(0).stdout;
    insta::assert_snapshot!("plan_text_create", text);
    let json = w.run(&["plan", "--format", "json"]).expect(0).stdout;
    insta::assert_snapshot!("plan_json_create", crate::without_timestamps(&json));
    let md = w.run(&["plan", "--format", "markdown"]).expect(0).stdout;
    insta::assert_snapshot!("plan_markdown_create", md);
}

#[test]
/// Trial finding 11: Ctrl-C (or SIGTERM) starts nothing new and stops waiting at once; the plans
/// started are in the state (their ids, nothing pending) and go on in the cloud; the next apply
/// picks them up.
fn ctrl_c_stops_waiting_saves_and_exits_1() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"
plan "net" {
  count                    = 30
  name                     = "int-${count.index}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "int-${count.index}"
  parameters               = { cidr_block = "10.0.0.0/16" }
  execute                  = true
}
"#,
    );
    let child = w
        .command(&["apply", "--auto-approve", "--parallelism", "3"])
        .env("PLANFORM_SANDBOX_EXECUTE_MS", "300")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = planform_state::LocalBackend::new(w.path().join(".planform/state.json"));
    let started = std::time::Instant::now();
    while state.load_now().ok().flatten().map_or(0, |s| s.plans.len()) < 3 {
        assert!(started.elapsed().as_secs() < 60, "apply made no progress");
        std::thread::yield_now();
    }
    // SIGTERM, as a CI runner cancelling the job sends it, is an interrupt like Ctrl-C (trial 3
    // F5: it killed the run at once).
    let interrupted = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Apply stopped."), "{stdout}");
    assert!(stdout.contains("stopped waiting for"), "{stdout}");
    // It ends with its error, as every failed command does.
    assert!(
        stderr.trim_end().ends_with("the next run picks them up"),
        "{stderr}"
    );
    // Every plan that was started is in the state, by id, with no create pending.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.path()).unwrap()).unwrap();
    let plans = v["plans"].as_object().unwrap();
    assert!(plans.len() < 30, "it stopped early");
    assert!(
        plans
            .values()
            .all(|p| p["plan_id"].is_string() && p["pending_token"].is_null()),
        "{plans:?}"
    );
    // The next apply picks up the rest, and the plans it stopped waiting for.
    w.run(&["apply", "--auto-approve"]).expect(0);
    assert_eq!(
        w.run(&["state", "list"]).expect(0).stdout.lines().count(),
        30
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.path()).unwrap()).unwrap();
    assert!(
        v["plans"]
            .as_object()
            .unwrap()
            .values()
            .all(|p| p["status"] == "ExecuteSuccess"),
        "{v}"
    );
}

/// Trial 3 F1 and F4: an update's apply interrupted (Ctrl-C, a cancelled CI job) while its plan
/// executes leaves the state naming the new plan and the inputs it sent. `drift` beside it, or
/// after, sees planform's own change, not one made outside; once the cloud finished, the next
/// apply has nothing to do and records the inputs as applied, and drift stays quiet.
#[test]
fn an_interrupted_update_is_recorded_by_the_next_apply_and_is_never_drift() {
    let w = Workspace::new();
    let manifest = |cidr: &str| {
        format!(
            r#"
plan "net" {{
  name                     = "sent"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "sent"
  parameters               = {{ cidr_block = "{cidr}" }}
  execute                  = true
}}
"#
        )
    };
    w.write("main.hcl", &manifest("10.0.0.0/16"));
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.write("main.hcl", &manifest("10.9.0.0/16"));
    let mut child = w
        .command(&["apply", "--auto-approve"])
        // Long enough that the interrupt lands while it executes, however slow the machine.
        .env("PLANFORM_SANDBOX_EXECUTE_MS", "3000")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupted once its progress says the plan executes.
    let mut progress = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("is ExecuteInProgress") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut progress, &mut line).unwrap() > 0,
            "apply ended before executing"
        );
    }
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    std::io::Read::read_to_end(&mut progress, &mut Vec::new()).unwrap();
    child.wait().unwrap();
    let state = planform_state::LocalBackend::new(w.path().join(".planform/state.json"));
    let address: planform_model::Address = "plan.net".parse().unwrap();
    let sent = state.load_now().unwrap().unwrap().plans[&address].clone();
    let cidr = |i: &Option<planform_model::PlanInputs>| {
        i.as_ref().unwrap().parameters["cidr_block"].clone()
    };
    assert_eq!(cidr(&sent.asked), "10.9.0.0/16");
    assert_eq!(cidr(&sent.applied), "10.0.0.0/16");
    // Beside the run, or after it: planform's own update is no drift.
    let drift = w.run(&["drift"]).expect(0);
    assert!(drift.stdout.contains("No drift."), "{}", drift.stdout);
    // Once the cloud has finished (read from the sandbox's store, not waited for by a timer).
    let id = sent.plan_id.clone();
    let started = std::time::Instant::now();
    while sandbox_of(&w).get_plan(&id).unwrap().status != planform_model::PlanStatus::ExecuteSuccess
    {
        assert!(
            started.elapsed().as_secs() < 60,
            "the execution never ended"
        );
        // A pause between polls of the store (each opens it), not a wait for anything.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let again = w.run(&["apply", "--auto-approve"]).expect(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    let net = state.load_now().unwrap().unwrap().plans[&address].clone();
    assert_eq!(cidr(&net.applied), "10.9.0.0/16", "{net:?}");
    assert!(net.asked.is_none(), "{net:?}");
    assert_eq!(net.outputs["cidr_block"], "10.9.0.0/16", "{net:?}");
    let drift = w.run(&["drift"]).expect(0);
    assert!(drift.stdout.contains("No drift."), "{}", drift.stdout);
}
