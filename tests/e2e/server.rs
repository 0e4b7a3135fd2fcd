//! The real `planform` against a real `planform sandbox serve`, through the Alibaba HTTP client.

use std::process::Stdio;

use planform_testkit::sandbox::Served;

use crate::Workspace;

/// [`crate::sandbox`] with `extra` options of `sandbox serve`.
pub fn serve(extra: &[&str]) -> Served {
    crate::sandbox().args(extra).start()
}

fn manifest(endpoint: &str) -> String {
    crate::alibaba_provider(endpoint, 8)
        + r#"
plan "network" {
  name                     = "vpc-e2e"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "vpc-e2e"
  parameters               = { cidr_block = "10.0.0.0/16" }
  execute                  = true
}

plan "app" {
  for_each                 = toset(["web", "api"])
  name                     = "app-${each.key}-e2e"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "app-${each.key}-e2e"
  parameters = {
    vpc_id        = plan.network.outputs.vpc_id
    instance_type = "ecs.g7.large"
  }
  execute = true
}
"#
}

/// `planform` with AWS credentials for the server's key (and no instance metadata lookups).
fn run_aws(w: &Workspace, args: &[&str]) -> crate::Run {
    let mut c = w.command(args);
    c.env("AWS_ACCESS_KEY_ID", "e2eid")
        .env("AWS_SECRET_ACCESS_KEY", "e2esecret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", w.path());
    crate::Run::from(c.output().unwrap())
}

fn run(w: &Workspace, args: &[&str]) -> crate::Run {
    crate::Run::from(w.alibaba_command(args).output().unwrap())
}

#[test]
fn apply_plan_destroy_through_the_alibaba_client() {
    let server = serve(&[]);
    let w = Workspace::new();
    w.write("main.hcl", &manifest(&server.endpoint));
    run(&w, &["plan", "--detailed-exitcode"]).expect(2);
    let applied = run(&w, &["apply", "--auto-approve"]).expect(0);
    assert!(
        applied.stdout.contains("Apply complete! 3 done"),
        "{}",
        applied.stdout
    );
    run(&w, &["plan", "--detailed-exitcode"]).expect(0);
    let state = w.read(".planform/state.json");
    assert!(
        state.contains("\"vpc_id\": \"vpc-"),
        "outputs read (ListTasks, else GetProvisionedProduct + GetTask)"
    );
    run(&w, &["destroy", "--auto-approve"]).expect(0);
    assert_eq!(run(&w, &["state", "list"]).expect(0).stdout, "");
}

#[test]
fn converges_under_failures_and_throttling() {
    let server = serve(&["--fail-rate", "0.2", "--throttle-rps", "50"]);
    let w = Workspace::new();
    w.write("main.hcl", &manifest(&server.endpoint));
    let applied = run(&w, &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    run(&w, &["plan", "--detailed-exitcode"]).expect(0);
}

#[test]
fn wrong_credentials_and_unreachable_endpoints_are_clear_errors() {
    let server = serve(&[]);
    let w = Workspace::new();
    w.write("main.hcl", &manifest(&server.endpoint));
    let mut c = w.command(&["plan"]);
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "e2eid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-it")
        .env("HOME", w.path());
    let bad = crate::Run::from(c.output().unwrap()).expect(1);
    assert!(
        bad.stderr.contains("SignatureDoesNotMatch") && !bad.stderr.contains("not-it"),
        "{}",
        bad.stderr
    );
    let w2 = Workspace::new();
    w2.write(
        "main.hcl",
        &manifest("http://127.0.0.1:9").replace("max_retries = 8", "max_retries = 1"),
    );
    let down = run(&w2, &["plan"]).expect(1);
    assert!(down.stderr.contains("NetworkError"), "{}", down.stderr);
    let w3 = Workspace::new();
    w3.write("main.hcl", &manifest(&server.endpoint));
    let mut c = w3.command(&["plan"]);
    c.env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
        .env("HOME", w3.path());
    let none = crate::Run::from(c.output().unwrap()).expect(1);
    assert!(
        none.stderr.contains("no Alibaba Cloud credentials"),
        "{}",
        none.stderr
    );
}

#[test]
fn apply_through_the_official_aws_sdk() {
    let server = serve(&[]);
    let w = Workspace::new();
    w.write(
        "main.hcl",
        &crate::aws_bucket(
            &server.endpoint,
            "  tags                     = { team = \"platform\" }\n",
        ),
    );
    let aws = |args: &[&str]| run_aws(&w, args);
    aws(&["plan", "--detailed-exitcode"]).expect(2);
    let applied = aws(&["apply", "--auto-approve"]).expect(0);
    assert!(
        applied.stdout.contains("Apply complete! 1 done"),
        "{}",
        applied.stdout
    );
    aws(&["plan", "--detailed-exitcode"]).expect(0);
    // AWS has no in-place update: a changed parameter updates the product with a new plan.
    w.edit("main.hcl", "10.0.0.0/16", "10.2.0.0/16");
    let plan = aws(&["plan"]).expect(0).stdout;
    assert!(
        plan.contains("will update its product with a new plan"),
        "{plan}"
    );
    aws(&["apply", "--auto-approve"]).expect(0);
    aws(&["plan", "--detailed-exitcode"]).expect(0);
    aws(&["destroy", "--auto-approve"]).expect(0);
    // The product is really gone: planning again launches a new one.
    let again = aws(&["plan"]).expect(0).stdout;
    assert!(again.contains("# plan.bucket will be created\n"), "{again}");
}

/// A 30-plan workspace on `sandbox serve` through the Alibaba client.
fn thirty(endpoint: &str) -> String {
    crate::alibaba_provider(endpoint, 8) + &crate::counted_vpcs("net", "vpc-k", 30)
}

/// Runs `args` and kills it with SIGKILL once the state has been saved `saves` more times (by
/// polling the state's serial, not by a timer); returns whether it was killed before it ended.
fn kill_after(w: &Workspace, args: &[&str], saves: u64) -> bool {
    let state = planform_state::LocalBackend::new(w.path().join(".planform/state.json"));
    let serial = || -> u64 {
        // The snapshot with the journal replayed: what is stored, even mid-apply.
        state.load_now().ok().flatten().map_or(0, |s| s.serial)
    };
    let start = serial();
    let mut c = w.alibaba_command(args);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let began = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if serial() >= start + saves {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        assert!(began.elapsed().as_secs() < 120, "{args:?} made no progress");
        std::thread::yield_now();
    }
}

/// What the sandbox holds once the server is stopped: (products, plans not in a final status,
/// plans per ownership address).
fn cloud_of(
    data: &std::path::Path,
) -> (
    usize,
    Vec<String>,
    std::collections::BTreeMap<String, usize>,
) {
    use planform_sandbox::{store::Store, Catalog, Sandbox, Settings, SystemClock};
    let store = Store::open(&data.join("sandbox.redb")).unwrap();
    let mut sb = Sandbox::new(
        Catalog::demo(),
        Settings::default(),
        std::sync::Arc::new(SystemClock),
        store,
    )
    .unwrap();
    let products = sb.list_provisioned_products().unwrap().len();
    let plans = crate::apply::all_plans(&mut sb);
    let pending: Vec<String> = plans
        .iter()
        .filter(|p| !matches!(p.status.as_str(), "ExecuteSuccess" | "ExecuteFailed"))
        .map(|p| {
            format!(
                "{} {} {} {:?}",
                p.id,
                p.operation_type.as_str(),
                p.status,
                p.tags
            )
        })
        .collect();
    let mut per_address = std::collections::BTreeMap::new();
    for p in plans
        .iter()
        .filter(|p| p.operation_type.as_str() != "TerminateProvisionedProduct")
    {
        if let Some((_, a)) = p.tags.iter().find(|(k, _)| k == "planform:address") {
            *per_address.entry(a.clone()).or_insert(0) += 1;
        }
    }
    (products, pending, per_address)
}

/// Issue 12 (4): `apply` and `destroy` killed with SIGKILL at several moments, over and over;
/// after each round one `apply` converges (one live product per address, no plan pending) and
/// one `destroy` leaves no product.
#[test]
fn issue_12_apply_and_destroy_killed_at_any_moment_converge_in_one_run() {
    for (round, (apply_at, destroy_at)) in [(4, 3), (40, 25), (90, 60), (150, 110)]
        .into_iter()
        .enumerate()
    {
        let mut server = serve(&[]);
        let w = Workspace::new();
        w.write("main.hcl", &thirty(&server.endpoint));
        kill_after(&w, &["apply", "--auto-approve"], apply_at);
        // Applying again part-way, then a destroy killed part-way.
        kill_after(&w, &["apply", "--auto-approve"], apply_at / 2 + 1);
        kill_after(&w, &["destroy", "--auto-approve"], destroy_at);
        let applied = run(&w, &["apply", "--auto-approve"]);
        assert_eq!(
            applied.code, 0,
            "round {round}: {}\n{}",
            applied.stdout, applied.stderr
        );
        run(&w, &["plan", "--detailed-exitcode"]).expect(0);
        let data = server.stop();
        let (products, pending, per_address) = cloud_of(&data);
        assert_eq!(products, 30, "round {round}");
        assert_eq!(
            pending,
            Vec::<String>::new(),
            "round {round}: plans left pending"
        );
        assert_eq!(per_address.len(), 30, "round {round}");
        server.restart();
        w.write("main.hcl", &thirty(&server.endpoint));
        kill_after(&w, &["destroy", "--auto-approve"], destroy_at);
        let destroyed = run(&w, &["destroy", "--auto-approve"]);
        assert_eq!(
            destroyed.code, 0,
            "round {round}: {}\n{}",
            destroyed.stdout, destroyed.stderr
        );
        let data = server.stop();
        let (products, pending, _) = cloud_of(&data);
        assert_eq!((products, pending), (0, vec![]), "round {round}");
    }
}

/// Issue 12 (1): plans made with `for_each` and `count` through the AWS provider carry an
/// address tag inside AWS's tag value pattern, which `sandbox serve` enforces as AWS does.
#[test]
fn issue_12_for_each_and_count_through_the_aws_provider() {
    let server = serve(&[]);
    let w = Workspace::new();
    w.write(
        "main.hcl",
        &(crate::aws_provider(&server.endpoint)
            + r#"
plan "app" {
  for_each                 = toset(["web", "api", "a b"])
  name                     = "app-${replace(each.key, " ", "-")}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app-${replace(each.key, " ", "-")}"
  parameters               = { cidr_block = "10.0.0.0/16" }
  execute                  = true
}

plan "worker" {
  count                    = 2
  name                     = "worker-${count.index}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "worker-${count.index}"
  parameters               = { cidr_block = "10.1.0.0/16" }
  execute                  = true
}
"#),
    );
    let aws = |args: &[&str]| run_aws(&w, args);
    let applied = aws(&["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}\n{}", applied.stdout, applied.stderr);
    assert!(
        applied.stdout.contains("Apply complete! 5 done"),
        "{}",
        applied.stdout
    );
    aws(&["plan", "--detailed-exitcode"]).expect(0);
    // A lost state is rebuilt from the tags: they decode back to the addresses.
    std::fs::remove_file(w.path().join(".planform/state.json")).unwrap();
    aws(&["import", "--from-tags"]).expect(0);
    let listed = aws(&["state", "list"]).expect(0).stdout;
    for a in [
        "plan.app[\"a b\"]",
        "plan.app[\"api\"]",
        "plan.app[\"web\"]",
        "plan.worker[0]",
        "plan.worker[1]",
    ] {
        assert!(listed.contains(a), "{a} in {listed}");
    }
    aws(&["plan", "--detailed-exitcode"]).expect(0);
    aws(&["destroy", "--auto-approve"]).expect(0);
}

/// Issue 12 (2): a developer applies a workspace, CI (another principal of the same account)
/// plans and applies it: CI sees the developer's plans and duplicates nothing.
#[test]
fn issue_12_two_principals_share_one_workspace_without_duplicates() {
    let server = serve(&["--access-key", "ciid:cisecret"]);
    let w = Workspace::new();
    w.write("main.hcl", &manifest(&server.endpoint));
    run(&w, &["apply", "--auto-approve"]).expect(0);
    let as_ci = |args: &[&str]| {
        let mut c = w.command(args);
        c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "ciid")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "cisecret")
            .env("HOME", w.path());
        crate::Run::from(c.output().unwrap())
    };
    let planned = as_ci(&["plan", "--detailed-exitcode"]);
    assert_eq!(planned.code, 0, "{}\n{}", planned.stdout, planned.stderr);
    as_ci(&["drift", "--format", "json"]).expect(0);
    // CI changes a parameter: the developer's plans are updated, not made again.
    w.edit("main.hcl", "ecs.g7.large", "ecs.g7.xlarge");
    as_ci(&["apply", "--auto-approve"]).expect(0);
    run(&w, &["plan", "--detailed-exitcode"]).expect(0);
    as_ci(&["destroy", "--auto-approve"]).expect(0);
    assert_eq!(run(&w, &["state", "list"]).expect(0).stdout, "");
}

/// Issue 12 (3): a plan's provider is part of what it is. Applied through one endpoint, the
/// same `alibaba` provider pointed at another is refused — by plan, apply, destroy and drift,
/// before any request (the other endpoint here has no server: a request would fail otherwise)
/// — and pointed back, nothing changed. The embedded quickstart moved to the `alibaba` kind is
/// refused by plan and drift (found by a new-user trial: drift checked the new place), while
/// destroy works through the provider the state recorded.
#[test]
fn issue_12_a_provider_pointed_elsewhere_is_refused_before_any_request() {
    let server = serve(&[]);
    let w = Workspace::new();
    w.write("main.hcl", &manifest(&server.endpoint));
    run(&w, &["apply", "--auto-approve"]).expect(0);
    let nowhere = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    w.write("main.hcl", &manifest(&nowhere));
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["destroy", "--auto-approve"],
        &["drift"],
    ] {
        let refused = run(&w, args).expect(1);
        assert!(
            refused.stderr.contains(&format!(
                "was made in alibaba at {}, but provider alibaba now points at alibaba at {nowhere}",
                server.endpoint
            )) && refused.stderr.contains("planform destroy --target plan.network"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    w.write("main.hcl", &manifest(&server.endpoint));
    run(&w, &["plan", "--detailed-exitcode"]).expect(0);

    let q = Workspace::example("quickstart");
    q.run(&["apply", "--auto-approve"]).expect(0);
    let main = q.read("main.hcl").replace(
        "provider \"sandbox\" {}",
        &format!(
            "provider \"alibaba\" {{\n  region   = \"cn-hangzhou\"\n  endpoint = \"{}\"\n}}",
            server.endpoint
        ),
    );
    q.write("main.hcl", &main);
    for args in [&["plan"][..], &["drift"]] {
        let refused = run(&q, args).expect(1);
        assert!(
            refused
                .stderr
                .contains("is managed through provider sandbox, but the manifests now say alibaba"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    // destroy works through the provider the state recorded (the embedded sandbox is where it
    // always was), whatever the manifests now say.
    let destroyed = run(&q, &["destroy", "--auto-approve"]).expect(0);
    assert!(
        destroyed.stdout.contains("Destroy complete!"),
        "{}",
        destroyed.stdout
    );
    assert!(q.run(&["state", "list"]).stdout.trim().is_empty());
}

/// Issue 12 (7): AWS allows one plan per provisioned product, executed plans included (the
/// seed: "You can create one plan per provisioned product"); the sandbox's AWS face refuses a
/// second one. An update through the AWS provider replaces the product's executed plan (deleted
/// first) instead of adding a second, and the cloud keeps one plan per product.
#[test]
fn issue_12_an_aws_update_keeps_one_plan_per_provisioned_product() {
    let mut server = serve(&[]);
    let w = Workspace::new();
    let manifest = |cidr: &str| {
        format!(
            r#"
provider "aws" {{
  region   = "us-east-1"
  endpoint = "{}"
}}

plan "app" {{
  for_each                 = toset(["web", "api"])
  name                     = "app-${{each.key}}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "app-${{each.key}}"
  parameters               = {{ cidr_block = "{cidr}" }}
  execute                  = true
}}
"#,
            server.endpoint
        )
    };
    w.write("main.hcl", &manifest("10.0.0.0/16"));
    run_aws(&w, &["apply", "--auto-approve"]).expect(0);
    // The state keeps AWS's spelling; `state show` gives both clouds' one, AWS's beside it.
    let shown = run_aws(&w, &["state", "show", "plan.app[\"web\"]"]).expect(0);
    assert!(
        shown
            .stdout
            .contains("status                 = \"ExecuteSuccess\" # EXECUTE_SUCCESS"),
        "{}",
        shown.stdout
    );
    w.write("main.hcl", &manifest("10.9.0.0/16"));
    let updated = run_aws(&w, &["apply", "--auto-approve"]).expect(0);
    assert!(
        updated.stdout.contains("Apply complete! 2 done"),
        "{}",
        updated.stdout
    );
    run_aws(&w, &["plan", "--detailed-exitcode"]).expect(0);
    let data = server.stop();
    let (products, pending, per_address) = cloud_of(&data);
    assert_eq!(products, 2);
    assert!(pending.is_empty(), "{pending:?}");
    assert!(
        per_address.values().all(|n| *n == 1) && per_address.len() == 2,
        "one plan per product: {per_address:?}"
    );
}

/// `import ADDR PLAN_ID` refuses a plan whose ownership tags name another workspace (two
/// workspaces would each update or terminate its product), unless `--force` (found by a
/// new-user trial: the adoption was silent and both workspaces then managed the product).
#[test]
fn import_refuses_a_plan_another_workspace_owns() {
    let server = serve(&[]);
    let prod = Workspace::new();
    prod.write("main.hcl", &manifest(&server.endpoint));
    run(&prod, &["apply", "--auto-approve"]).expect(0);
    let shown = run(&prod, &["state", "show", "plan.network"])
        .expect(0)
        .stdout;
    let id = shown
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("plan-"))
        .unwrap_or_else(|| panic!("no plan id in {shown}"))
        .to_string();
    let other = Workspace::new();
    let network_only = manifest(&server.endpoint);
    let network_only = &network_only[..network_only.find("plan \"app\"").unwrap()];
    other.write(
        "main.hcl",
        &format!("planform {{\n  workspace = \"adopt\"\n}}\n{network_only}"),
    );
    let refused = run(&other, &["import", "plan.network", &id]).expect(1);
    assert!(
        refused.stderr.contains(&format!(
            "{id} belongs to workspace \"default\" (as plan.network)"
        )),
        "{}",
        refused.stderr
    );
    assert!(run(&other, &["state", "list"]).stdout.trim().is_empty());
    run(&other, &["import", "plan.network", &id, "--force"]).expect(0);
    let again = run(&other, &["import", "plan.network", &id]).expect(1);
    assert!(again.stderr.contains("already managed"), "{}", again.stderr);
}

/// Every file of the workspace but the lock's (the state, its journal and backup, the
/// manifests) and its content.
fn files_of(w: &Workspace) -> std::collections::BTreeMap<std::path::PathBuf, String> {
    fn walk(
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<std::path::PathBuf, String>,
    ) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                walk(&p, out);
            } else if !name.contains(".lock") {
                out.insert(
                    p.clone(),
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into(),
                );
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(w.path(), &mut out);
    out
}

/// Issue 12 (3): switching credentials to another account in the same place finds none of
/// the plans; rather than take them for deleted and create them again in the wrong account,
/// plan, apply, destroy and drift refuse, naming both accounts, and write nothing. With the
/// first account's credentials again, nothing changed. Through the Alibaba client (STS
/// GetCallerIdentity signed with ACS3) and the AWS SDK (STS GetCallerIdentity, SigV4).
#[test]
fn issue_12_credentials_of_another_account_are_refused() {
    let server = serve(&[
        "--access-key",
        "ci@2000000000000001=otherid:othersecret",
        "--access-key",
        "ci@210987654321=awsotherid:awsothersecret",
    ]);
    let refused_by_all = |w: &Workspace,
                          run: &dyn Fn(&Workspace, &[&str]) -> crate::Run,
                          from: &str,
                          to: &str,
                          provider: &str,
                          address: &str| {
        let before = files_of(w);
        for args in [
            &["plan"][..],
            &["apply", "--auto-approve"],
            &["destroy", "--auto-approve"],
            &["drift"],
        ] {
            let refused = run(w, args).expect(1);
            assert!(
                refused.stderr.contains(&format!(
                    "{address}: its plan "
                )) && refused.stderr.contains(&format!(
                    "was made in account {from}, but the credentials of provider {provider} now act in account {to}"
                )) && refused
                    .stderr
                    .contains(&format!("planform destroy --target {address}")),
                "{args:?}: {}",
                refused.stderr
            );
            assert_eq!(files_of(w), before, "{args:?} wrote nothing");
        }
    };

    let w = Workspace::new();
    w.write("main.hcl", &manifest(&server.endpoint));
    run(&w, &["apply", "--auto-approve"]).expect(0);
    let state = w.read(".planform/state.json");
    assert!(
        state.contains("\"account\"") && state.contains("\"1234567890123456\""),
        "the account is recorded: {state}"
    );
    let other_account = |w: &Workspace, args: &[&str]| {
        let mut c = w.alibaba_command(args);
        c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "otherid")
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "othersecret");
        crate::Run::from(c.output().unwrap())
    };
    refused_by_all(
        &w,
        &other_account,
        "1234567890123456",
        "2000000000000001",
        "alibaba",
        "plan.network",
    );
    run(&w, &["plan", "--detailed-exitcode"]).expect(0);

    let a = Workspace::new();
    a.write("main.hcl", &crate::aws_bucket(&server.endpoint, ""));
    run_aws(&a, &["apply", "--auto-approve"]).expect(0);
    let other_aws = |w: &Workspace, args: &[&str]| {
        let mut c = w.command(args);
        c.env("AWS_ACCESS_KEY_ID", "awsotherid")
            .env("AWS_SECRET_ACCESS_KEY", "awsothersecret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", w.path());
        crate::Run::from(c.output().unwrap())
    };
    refused_by_all(
        &a,
        &other_aws,
        "123456789012",
        "210987654321",
        "aws",
        "plan.bucket",
    );
    run_aws(&a, &["plan", "--detailed-exitcode"]).expect(0);
}
