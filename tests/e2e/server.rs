//! The real `planform` against a real `planform sandbox serve`, through the Alibaba HTTP client.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::Workspace;

pub struct Served {
    child: Child,
    pub endpoint: String,
    _data: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(extra: &[&str]) -> Served {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_planform"))
        .args([
            "sandbox",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--access-key",
            "e2eid:e2esecret",
            "--preview-ms",
            "20",
            "--execute-ms",
            "40",
            "--data",
        ])
        .arg(data.path())
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    Served {
        child,
        endpoint,
        _data: data,
    }
}

fn manifest(endpoint: &str) -> String {
    format!(
        r#"
provider "alibaba" {{
  region      = "cn-hangzhou"
  endpoint    = "{endpoint}"
  max_retries = 8
}}

plan "network" {{
  name                     = "vpc-e2e"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "vpc-e2e"
  parameters               = {{ cidr_block = "10.0.0.0/16" }}
  execute                  = true
}}

plan "app" {{
  for_each                 = toset(["web", "api"])
  name                     = "app-${{each.key}}-e2e"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "app-${{each.key}}-e2e"
  parameters = {{
    vpc_id        = plan.network.outputs.vpc_id
    instance_type = "ecs.g7.large"
  }}
  execute = true
}}
"#
    )
}

fn run(w: &Workspace, args: &[&str]) -> crate::Run {
    let mut c = w.command(args);
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "e2eid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "e2esecret")
        .env("HOME", w.path());
    crate::Run::from(c.output().unwrap())
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
        "outputs read through GetProvisionedProduct + GetTask"
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
        &format!(
            r#"
provider "aws" {{
  region   = "us-east-1"
  endpoint = "{}"
}}

plan "bucket" {{
  name                     = "logs"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "logs"
  parameters               = {{ cidr_block = "10.0.0.0/16" }}
  tags                     = {{ team = "platform" }}
  execute                  = true
}}
"#,
            server.endpoint
        ),
    );
    let aws = |args: &[&str]| {
        let mut c = w.command(args);
        c.env("AWS_ACCESS_KEY_ID", "e2eid")
            .env("AWS_SECRET_ACCESS_KEY", "e2esecret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", w.path());
        crate::Run::from(c.output().unwrap())
    };
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
