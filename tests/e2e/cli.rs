//! The command line Terraform users script (issue 15): `plan --destroy`, `--replace`,
//! `--refresh=false`, the `--target` warning, `PLANFORM_VAR_*`, `required_version`, the JSON
//! UI and documents, `version`, `completions`, `man`, and the request logs.

use crate::server::serve;
use crate::{Run, Workspace};

/// The addresses and actions of a `--format json` change set.
fn planned(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|v| v["type"] == "planned_change")
        .map(|v| {
            (
                v["address"].as_str().unwrap().to_string(),
                v["action"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn types(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn plan_destroy_is_what_destroy_does() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let plan = w
        .run(&["plan", "--destroy", "--detailed-exitcode"])
        .expect(2);
    // `destroy` without a terminal shows its change set, then refuses to go on unconfirmed.
    let destroy = w.run(&["destroy"]).expect(1);
    assert!(
        destroy.stdout.starts_with(&plan.stdout),
        "plan --destroy:\n{}\ndestroy:\n{}",
        plan.stdout,
        destroy.stdout
    );
    let json = w.run(&["plan", "--destroy", "--format", "json"]).expect(0);
    let mut actions = planned(&json.stdout);
    actions.sort();
    assert_eq!(
        actions,
        vec![
            ("plan.app[\"api\"]".to_string(), "terminate".to_string()),
            ("plan.app[\"web\"]".to_string(), "terminate".to_string()),
            ("plan.network".to_string(), "terminate".to_string()),
        ]
    );
    // Saved and applied, it destroys everything, as destroy would.
    w.run(&["plan", "--destroy", "--out", "destroy.plan"])
        .expect(0);
    let applied = w.run(&["apply", "destroy.plan"]).expect(0);
    assert!(applied.stdout.contains("3 done"), "{}", applied.stdout);
    assert_eq!(w.run(&["state", "list"]).expect(0).stdout, "");
}

#[test]
fn replace_forces_a_replacement_of_exactly_that_address() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let before = w.run(&["show", "--format", "json"]).expect(0).stdout;
    let ids = |doc: &str| -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        v["values"]["plans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["address"].as_str().unwrap().to_string(),
                    p["plan_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let json = w
        .run(&[
            "plan",
            "--replace",
            "plan.network",
            "--format",
            "json",
            "--detailed-exitcode",
        ])
        .expect(2);
    assert_eq!(
        planned(&json.stdout),
        vec![("plan.network".to_string(), "replace".to_string())]
    );
    let applied = w.run(&["apply", "--auto-approve"]);
    // Without --replace, apply has nothing to do: the replacement is only what was asked for.
    assert!(applied.stdout.contains("No changes"), "{}", applied.stdout);
    let text = w
        .run(&["plan", "--replace", "plan.network"])
        .expect(0)
        .stdout;
    assert!(
        text.contains("# plan.network will be replaced by a new plan that updates its product (replacement requested with --replace)")
            && text.contains("Plan: 0 to create, 1 to update, 0 to terminate, 1 to execute."),
        "{text}"
    );
    w.run(&["plan", "--replace", "plan.network", "--out", "r.plan"])
        .expect(0);
    w.run(&["apply", "r.plan"]).expect(0);
    let after = w.run(&["show", "--format", "json"]).expect(0).stdout;
    let (b, a) = (ids(&before), ids(&after));
    for ((addr, id_before), (_, id_after)) in b.iter().zip(&a) {
        if addr == "plan.network" {
            assert_ne!(id_before, id_after, "plan.network was replaced");
        } else {
            assert_eq!(id_before, id_after, "{addr} was left alone");
        }
    }
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
    let unknown = w.run(&["plan", "--replace", "plan.nope"]).expect(1);
    assert!(
        unknown
            .stderr
            .contains("--replace plan.nope: no such address in the manifests"),
        "{}",
        unknown.stderr
    );
    // In JSON the diff's errors are diagnostics too.
    let unknown = w
        .run(&["plan", "--replace", "plan.nope", "--format", "json"])
        .expect(1);
    let last: serde_json::Value =
        serde_json::from_str(unknown.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "diagnostic");
    assert_eq!(last["diagnostic"]["severity"], "error");
}

fn served_manifest(endpoint: &str) -> String {
    crate::alibaba_provider(endpoint, 1)
        + r#"
variable "password" {
  type      = string
  sensitive = true
}

plan "network" {
  name                     = "vpc-e2e"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "vpc-e2e"
  parameters               = { cidr_block = "10.0.0.0/16" }
  execute                  = true
}

plan "app" {
  name                     = "app-e2e"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "app-e2e"
  parameters = {
    vpc_id        = plan.network.outputs.vpc_id
    instance_type = "ecs.g7.large"
    password      = var.password
  }
  execute = true
}
"#
}

const SECRET: &str = "e2e-secret-5f1c";
const TOKEN: &str = "e2e-sts-token-93ab";

/// `planform` with STS credentials for the server's key, logging at `level` to `log`.
fn served(w: &Workspace, args: &[&str], level: &str, log: &std::path::Path) -> Run {
    let mut c = w.command(args);
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "stsid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
        .env("PLANFORM_VAR_password", "hunter2-sensitive")
        .env("HOME", w.path())
        .env("PLANFORM_LOG", level)
        .env("PLANFORM_LOG_PATH", log);
    let run = Run::from(c.output().unwrap());
    crate::schema::check(args, &run.stdout);
    run
}

fn requests_in(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("planform_client::request") && l.contains(": request "))
        .count()
}

/// A `trace` log of an apply shows every request and response (action, status, duration,
/// request id, attempt) and no secret: not the access key secret, not the security token, no
/// signature, no sensitive parameter value.
#[test]
fn a_trace_log_of_an_apply_shows_requests_and_no_secret() {
    let server = serve(&["--access-key", &format!("stsid:{SECRET}:{TOKEN}")]);
    let w = Workspace::new();
    w.write("main.hcl", &served_manifest(&server.endpoint));
    let log = w.path().join("trace.log");
    served(&w, &["apply", "--auto-approve"], "trace", &log).expect(0);
    let text = std::fs::read_to_string(&log).expect("the log was written");
    assert!(requests_in(&text) >= 5, "requests are logged:\n{text}");
    for needle in [
        "action=\"CreateProvisionedProductPlan\"",
        "action=\"ExecuteProvisionedProductPlan\"",
        "status=200",
        "request_id=\"",
        "duration_ms=",
        "attempt=1",
    ] {
        assert!(text.contains(needle), "{needle} is not in the log:\n{text}");
    }
    for secret in [SECRET, TOKEN, "hunter2-sensitive"] {
        assert!(!text.contains(secret), "{secret} leaked into the log");
    }
    for (i, line) in text.lines().enumerate() {
        assert!(
            !line.contains("Signature=") && !line.contains("Signature\":"),
            "a signature leaked into line {}: {line}",
            i + 1
        );
    }
    // At debug, without PLANFORM_LOG_PATH, the log goes to standard error.
    let mut c = w.command(&["plan"]);
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "stsid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
        .env("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
        .env("PLANFORM_VAR_password", "hunter2-sensitive")
        .env("HOME", w.path())
        .env("PLANFORM_LOG", "debug");
    let plan = Run::from(c.output().unwrap()).expect(0);
    assert!(requests_in(&plan.stderr) >= 1, "{}", plan.stderr);
    assert!(!plan.stderr.contains(SECRET) && !plan.stderr.contains(TOKEN));
    // A cloud error shown to the user carries the cloud's request id.
    let mut c = w.command(&["plan"]);
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "stsid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "not-the-secret")
        .env("ALIBABA_CLOUD_SECURITY_TOKEN", TOKEN)
        .env("PLANFORM_VAR_password", "hunter2-sensitive")
        .env("HOME", w.path());
    let refused = Run::from(c.output().unwrap()).expect(1);
    assert!(
        refused.stderr.contains("SignatureDoesNotMatch") && refused.stderr.contains("(request id "),
        "{}",
        refused.stderr
    );
    // A bad PLANFORM_LOG is a clear error.
    let mut c = w.command(&["validate"]);
    c.env("PLANFORM_LOG", "loud");
    let bad = Run::from(c.output().unwrap()).expect(1);
    assert!(
        bad.stderr
            .contains("PLANFORM_LOG=\"loud\": expected a level"),
        "{}",
        bad.stderr
    );
}

/// The same through the official AWS SDK: each attempt is logged by an SDK interceptor, with the
/// SigV4 signature, the secret and the session token kept out; a cloud error shown to the user
/// carries the cloud's request id.
#[test]
fn a_trace_log_through_the_aws_sdk_shows_requests_and_no_secret() {
    let server = serve(&["--access-key", &format!("stsid:{SECRET}:{TOKEN}")]);
    let w = Workspace::new();
    w.write("main.hcl", &crate::aws_bucket(&server.endpoint, ""));
    let log = w.path().join("aws.log");
    let aws = |args: &[&str], secret: &str| {
        let mut c = w.command(args);
        c.env("AWS_ACCESS_KEY_ID", "stsid")
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", w.path())
            .env("PLANFORM_LOG", "trace")
            .env("PLANFORM_LOG_PATH", &log);
        Run::from(c.output().unwrap())
    };
    aws(&["apply", "--auto-approve"], SECRET).expect(0);
    let text = std::fs::read_to_string(&log).expect("the log was written");
    assert!(requests_in(&text) >= 3, "requests are logged:\n{text}");
    for needle in [
        "cloud=\"aws\"",
        "action=CreateProvisionedProductPlan",
        "status=200",
        "attempt=1",
        "request_id=",
    ] {
        assert!(text.contains(needle), "{needle} is not in the log:\n{text}");
    }
    for secret in [SECRET, TOKEN, "Signature="] {
        assert!(!text.contains(secret), "{secret} leaked into the log");
    }
    let refused = aws(&["plan"], "not-the-secret").expect(1);
    assert!(
        refused.stderr.contains("(request id "),
        "the cloud's request id is shown: {}",
        refused.stderr
    );
}

/// `--refresh=false` reads nothing from the cloud: with the server stopped it still plans
/// (from the stored state), and its log holds no request; a normal plan cannot.
#[test]
fn refresh_false_sends_no_request() {
    let mut server = serve(&["--access-key", &format!("stsid:{SECRET}:{TOKEN}")]);
    let w = Workspace::new();
    w.write("main.hcl", &served_manifest(&server.endpoint));
    let log = w.path().join("debug.log");
    served(&w, &["apply", "--auto-approve"], "debug", &log).expect(0);
    server.stop();
    let quiet = w.path().join("quiet.log");
    let plan = served(
        &w,
        &["plan", "--refresh=false", "--detailed-exitcode"],
        "debug",
        &quiet,
    );
    let plan = plan.expect(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    assert_eq!(requests_in(&std::fs::read_to_string(&quiet).unwrap()), 0);
    // A change in the manifests shows against the stored state, still without a request.
    w.edit("main.hcl", "ecs.g7.large", "ecs.g7.xlarge");
    let changed = served(
        &w,
        &[
            "plan",
            "--refresh=false",
            "--detailed-exitcode",
            "--format",
            "json",
        ],
        "debug",
        &quiet,
    )
    .expect(2);
    assert_eq!(
        planned(&changed.stdout),
        vec![("plan.app".to_string(), "update_product".to_string())]
    );
    assert_eq!(requests_in(&std::fs::read_to_string(&quiet).unwrap()), 0);
    // With a refresh, the stopped server is needed.
    let refreshed = served(&w, &["plan"], "debug", &quiet).expect(1);
    assert!(
        refreshed.stderr.contains("NetworkError"),
        "{}",
        refreshed.stderr
    );
    assert!(requests_in(&std::fs::read_to_string(&quiet).unwrap()) >= 1);
    let contradiction = served(
        &w,
        &["plan", "--refresh=false", "--refresh-only"],
        "debug",
        &quiet,
    )
    .expect(1);
    assert!(
        contradiction.stderr.contains("contradict"),
        "{}",
        contradiction.stderr
    );
}

#[test]
fn every_targeted_run_warns() {
    let w = Workspace::example("quickstart");
    let text = w.run(&["plan", "--target", "plan.network"]).expect(0);
    assert!(
        text.stderr
            .contains("Warning: Resource targeting is in effect"),
        "{}",
        text.stderr
    );
    let json = w
        .run(&["plan", "--target", "plan.network", "--format", "json"])
        .expect(0);
    let first_two: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .take(2)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(first_two[0]["type"], "version");
    assert_eq!(first_two[1]["type"], "diagnostic");
    assert_eq!(first_two[1]["@level"], "warn");
    assert_eq!(
        first_two[1]["diagnostic"]["summary"],
        "Resource targeting is in effect"
    );
    let apply = w
        .run(&["apply", "--auto-approve", "--target", "plan.network"])
        .expect(0);
    assert!(apply.stderr.contains("Resource targeting is in effect"));
    let plain = w.run(&["plan"]).expect(0);
    assert!(!plain.stderr.contains("targeting"), "{}", plain.stderr);
}

/// `PLANFORM_VAR_name` has the lowest precedence, as `TF_VAR_name` has: `.pfvars` files and
/// `--var` override it.
#[test]
fn environment_variables_have_terraforms_precedence() {
    let w = Workspace::example("quickstart");
    let name = |r: Run| -> String {
        let line = r
            .stdout
            .lines()
            .find(|l| l.contains("\"type\":\"planned_change\"") && l.contains("plan.network"))
            .expect("the network plan")
            .to_string();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["after"]["name"].as_str().unwrap().to_string()
    };
    let run = |extra: &[&str]| {
        let mut args = vec!["plan", "--format", "json"];
        args.extend_from_slice(extra);
        let mut c = w.command(&args);
        c.env("PLANFORM_VAR_env", "prod");
        let r = Run::from(c.output().unwrap()).expect(0);
        crate::schema::check(&args, &r.stdout);
        r
    };
    assert_eq!(
        name(w.run(&["plan", "--format", "json"]).expect(0)),
        "vpc-dev"
    );
    assert_eq!(name(run(&[])), "vpc-prod");
    w.write("planform.pfvars", "env = \"dev\"\n");
    assert_eq!(
        name(run(&[])),
        "vpc-dev",
        "a .pfvars file overrides the environment"
    );
    assert_eq!(
        name(run(&["--var", "env=prod"])),
        "vpc-prod",
        "--var overrides both"
    );
}

#[test]
fn required_version_refuses_a_newer_constraint() {
    let w = Workspace::example("quickstart");
    w.edit(
        "main.hcl",
        "workspace = \"quickstart\"",
        "workspace = \"quickstart\"\n  required_version = \">= 99.0\"",
    );
    // Also a mistake that an older/newer planform might not make: only the version is reported.
    w.edit(
        "main.hcl",
        "execute                  = true",
        "execute = true\n  future_attribute = 1",
    );
    for args in [&["validate"][..], &["plan"], &["apply", "--auto-approve"]] {
        let r = w.run(args).expect(1);
        assert!(
            r.stderr.contains(
                "planform.required_version: this planform is version 0.1.0, which does not meet the manifests' constraint \">= 99.0\""
            ),
            "{args:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("future_attribute"), "{}", r.stderr);
    }
    assert!(
        !w.path().join(".planform/state.json").exists(),
        "nothing was done"
    );
    let json = w.run(&["validate", "--format", "json"]).expect(1);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["error_count"], 1);
    assert_eq!(doc["diagnostics"][0]["range"]["filename"], "main.hcl");
    w.edit("main.hcl", ">= 99.0", "~> 0.1");
    w.edit("main.hcl", "\n  future_attribute = 1", "");
    w.run(&["validate"]).expect(0);
}

/// A manifest error in JSON mode is a `diagnostic` event with its range and source snippet, not
/// text; `validate --format json` is one document.
#[test]
fn manifest_errors_in_json_are_diagnostics() {
    let w = Workspace::example("quickstart");
    w.edit(
        "main.hcl",
        "execute                  = true",
        "execute                  = \"often\"",
    );
    let plan = w.run(&["plan", "--format", "json"]).expect(1);
    assert_eq!(types(&plan.stdout), vec!["version", "diagnostic"]);
    let d: serde_json::Value = serde_json::from_str(plan.stdout.lines().nth(1).unwrap()).unwrap();
    let range = &d["diagnostic"]["range"];
    assert_eq!(range["filename"], "main.hcl");
    let text = w.read("main.hcl");
    let (start, end) = (
        range["start"]["byte"].as_u64().unwrap() as usize,
        range["end"]["byte"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[start..end], "\"often\"");
    assert_eq!(
        d["diagnostic"]["snippet"]["code"],
        "  execute                  = \"often\""
    );
    assert!(plan.stderr.is_empty(), "nothing as text: {}", plan.stderr);
    let validate = w.run(&["validate", "--format", "json"]).expect(1);
    let doc: serde_json::Value = serde_json::from_str(&validate.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["diagnostics"][0]["range"], *range);
    let ok = Workspace::example("quickstart");
    let valid: serde_json::Value =
        serde_json::from_str(&ok.run(&["validate", "--format", "json"]).expect(0).stdout).unwrap();
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["error_count"], 0);
}

/// `show --format json` and `output --format json` are documents; `show` of a missing state is
/// an error; a JSON apply ends with the outputs.
#[test]
fn documents_of_show_and_output() {
    let w = Workspace::example("quickstart");
    let missing = w.run(&["show"]).expect(1);
    assert!(
        missing.stderr.contains("there is no state in local state"),
        "{}",
        missing.stderr
    );
    for args in [&["state", "list"][..], &["state", "show", "plan.network"]] {
        let missing = w.run(args).expect(1);
        assert!(
            missing.stderr.contains("there is no state in local state"),
            "{}",
            missing.stderr
        );
    }
    w.run(&["plan", "--out", "first.plan"]).expect(0);
    let plan_doc: serde_json::Value = serde_json::from_str(
        &w.run(&["show", "first.plan", "--format", "json"])
            .expect(0)
            .stdout,
    )
    .unwrap();
    assert_eq!(plan_doc["format_version"], "1.0");
    assert_eq!(plan_doc["resource_changes"].as_array().unwrap().len(), 3);
    assert_eq!(
        plan_doc["resource_changes"][0]["before"],
        serde_json::Value::Null
    );
    assert_eq!(plan_doc["planned_values"].as_array().unwrap().len(), 3);
    let apply = w
        .run(&["apply", "--auto-approve", "--format", "json"])
        .expect(0);
    let kinds = types(&apply.stdout);
    assert_eq!(kinds.first().map(String::as_str), Some("version"));
    assert_eq!(kinds.last().map(String::as_str), Some("outputs"));
    let state: serde_json::Value =
        serde_json::from_str(&w.run(&["show", "--format", "json"]).expect(0).stdout).unwrap();
    assert_eq!(state["values"]["plans"].as_array().unwrap().len(), 3);
    assert!(state["outputs"]["vpc_id"]["value"]
        .as_str()
        .unwrap()
        .starts_with("vpc-"));
    let outputs: serde_json::Value =
        serde_json::from_str(&w.run(&["output", "--format", "json"]).expect(0).stdout).unwrap();
    assert_eq!(outputs["vpc_id"], state["outputs"]["vpc_id"]);
    let again = w
        .run(&["apply", "--auto-approve", "--format", "json"])
        .expect(0);
    assert_eq!(
        types(&again.stdout),
        vec!["version", "change_summary", "apply_summary", "outputs"]
    );
    let unconfirmed = w.run(&["apply", "--format", "json"]).expect(1);
    assert!(
        unconfirmed
            .stderr
            .contains("apply --format json needs --auto-approve"),
        "{}",
        unconfirmed.stderr
    );
    assert_eq!(types(&unconfirmed.stdout), vec!["version", "diagnostic"]);
    let refused = w.run(&["apply", "--format", "markdown"]).expect(1);
    assert!(
        refused.stderr.contains("[possible values: text, json]"),
        "{}",
        refused.stderr
    );
    let planfile_vars = w
        .run(&["apply", "first.plan", "--var", "env=prod"])
        .expect(1);
    assert!(
        planfile_vars
            .stderr
            .contains("--var and --var-file do not apply to `apply first.plan`"),
        "{}",
        planfile_vars.stderr
    );
}

#[test]
fn version_completions_and_man_pages() {
    let w = Workspace::new();
    let text = w.run(&["version"]).expect(0).stdout;
    assert!(text.starts_with("planform 0.1.0 ("), "{text}");
    let doc: serde_json::Value =
        serde_json::from_str(&w.run(&["version", "--format", "json"]).expect(0).stdout).unwrap();
    assert_eq!(doc["planform_version"], "0.1.0");
    assert_eq!(doc["ui_version"], "1.0");
    let commit = doc["commit"].as_str().unwrap();
    assert!(
        commit == "unknown" || commit.chars().all(|c| c.is_ascii_hexdigit()),
        "{commit}"
    );
    assert!(!doc["target"].as_str().unwrap().is_empty());
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = w.run(&["completions", shell]).expect(0).stdout;
        assert!(script.contains("planform"), "{shell}");
        assert!(
            script.contains("refresh-only"),
            "{shell}: flags are completed"
        );
    }
    w.run(&["completions", "tcsh"]).expect(1);
    let man = w.path().join("man");
    w.run(&["man", man.to_str().unwrap()]).expect(0);
    let page = std::fs::read_to_string(man.join("planform-plan.1")).unwrap();
    assert!(
        page.contains("\\-\\-refresh\\-only") || page.contains("refresh\\-only"),
        "{page}"
    );
    assert!(man.join("planform.1").exists());
    assert!(man.join("planform-state-list.1").exists());
}

#[test]
fn graphs_in_dot_and_mermaid() {
    let w = Workspace::example("quickstart");
    let mermaid = w.run(&["graph", "--format", "mermaid"]).expect(0).stdout;
    insta::assert_snapshot!("graph_mermaid", mermaid);
    let plan = w
        .run(&["graph", "--plan", "--format", "dot"])
        .expect(0)
        .stdout;
    assert!(
        plan.contains("fillcolor = \"#b7e4c7\""),
        "creates are green: {plan}"
    );
    assert!(
        plan.contains("\"plan.app[\\\"web\\\"]\" -> \"plan.network\""),
        "{plan}"
    );
    let md = w.run(&["plan", "--format", "markdown"]).expect(0).stdout;
    assert!(md.contains("```mermaid\nflowchart RL\n"), "{md}");
}

/// `--markdown-limit` sizes the markdown plan, names the saved plan file for what it leaves
/// out, and is refused where it would mean nothing.
#[test]
fn the_markdown_plan_keeps_to_its_limit() {
    let w = Workspace::example("quickstart");
    let full = w.run(&["plan", "--format", "markdown"]).expect(0).stdout;
    assert!(
        full.len() > 2_000 && !full.contains("_Cut to fit"),
        "{full}"
    );
    let cut = w
        .run(&[
            "plan",
            "--format",
            "markdown",
            "--markdown-limit",
            "2000",
            "--out",
            "changes.plan",
        ])
        .expect(0)
        .stdout;
    assert!(cut.len() <= 2_000, "{} bytes:\n{cut}", cut.len());
    assert!(
        cut.lines().last().unwrap().contains(
            "The full plan is the saved plan file `changes.plan` (the CI recipes keep it in the run's artifact): `planform show changes.plan` prints it."
        ),
        "{cut}"
    );
    let text = w.run(&["plan", "--markdown-limit", "5000"]).expect(1);
    assert!(
        text.stderr
            .contains("--markdown-limit sizes a markdown report: it needs --format markdown"),
        "{}",
        text.stderr
    );
    let tiny = w
        .run(&["drift", "--format", "markdown", "--markdown-limit", "100"])
        .expect(1);
    assert!(
        tiny.stderr.contains("100 is not in 2000.."),
        "{}",
        tiny.stderr
    );
}

/// A plan file made with `--refresh=false` is not stale when the cloud is as the state says:
/// `apply PLANFILE` runs it.
#[test]
fn a_plan_file_made_without_a_refresh_applies() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.edit("main.hcl", "ecs.g7.large", "ecs.g7.xlarge");
    w.run(&["plan", "--refresh=false", "--out", "stored.plan"])
        .expect(0);
    let applied = w.run(&["apply", "stored.plan"]).expect(0);
    assert!(applied.stdout.contains("2 done"), "{}", applied.stdout);
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
}

/// Issue 20: a reader that closes standard output early (`planform state list | head -0`) ends
/// nothing in a panic: the command runs to its end quietly, with its own exit code.
#[test]
fn issue_20_a_closed_standard_output_is_quiet() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    for (args, code) in [
        (&["state", "list"][..], 0),
        (&["show"], 0),
        (&["output"], 0),
        (&["plan", "--detailed-exitcode"], 0),
        (&["plan", "--format", "json"], 0),
        (&["graph"], 0),
        (&["version"], 0),
        (&["completions", "bash"], 0),
    ] {
        // The pipe's reading end is closed before planform starts, so its first write fails
        // with EPIPE, whatever the timing.
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = w
            .command(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("planform runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            stderr.is_empty(),
            "{args:?} says nothing of the closed pipe: {stderr}"
        );
    }
}

/// Issue 21: outputs whose plans are not applied, or were destroyed, have no value: `output`
/// warns and prints none (exit 0, as Terraform), `output NAME` fails (exit 1); never the
/// placeholder "(known after apply)", which a script would take for a value.
#[test]
fn issue_21_outputs_after_destroy_have_no_value() {
    let w = Workspace::example("quickstart");
    let before = w.run(&["output"]).expect(0);
    assert_eq!(before.stdout, "");
    assert!(
        before.stderr.contains("No outputs found"),
        "{}",
        before.stderr
    );
    w.run(&["apply", "--auto-approve"]).expect(0);
    assert!(w
        .run(&["output", "vpc_id"])
        .expect(0)
        .stdout
        .starts_with("vpc-"));
    w.run(&["destroy", "--auto-approve"]).expect(0);
    let all = w.run(&["output"]).expect(0);
    assert_eq!(all.stdout, "");
    assert!(
        all.stderr.contains("Warning: No outputs found")
            && all.stderr.contains("vpc_id, web_instance"),
        "{}",
        all.stderr
    );
    let json = w.run(&["output", "--format", "json"]).expect(0);
    assert_eq!(json.stdout.trim(), "{}");
    let one = w.run(&["output", "vpc_id"]).expect(1);
    assert_eq!(one.stdout, "");
    assert!(
        one.stderr
            .contains("error: output \"vpc_id\" has no value: the plans it reads are not applied"),
        "{}",
        one.stderr
    );
    assert!(!format!("{}{}", all.stdout, one.stdout).contains("known after apply"));
}

/// Issue 22: `destroy --format json` prints the events `apply --format json` does (every line
/// checked against the UI schema by `run`), and, as apply, needs --auto-approve.
#[test]
fn issue_22_destroy_streams_json_events() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let refused = w.run(&["destroy", "--format", "json"]).expect(1);
    assert!(
        refused
            .stderr
            .contains("destroy --format json needs --auto-approve"),
        "{}",
        refused.stderr
    );
    let destroy = w
        .run(&["destroy", "--auto-approve", "--format", "json"])
        .expect(0);
    let kinds = types(&destroy.stdout);
    assert_eq!(kinds.first().map(String::as_str), Some("version"));
    assert_eq!(
        kinds.iter().filter(|k| *k == "planned_change").count(),
        3,
        "{kinds:?}"
    );
    for kind in ["change_summary", "apply_start", "apply_complete"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert_eq!(kinds.last().map(String::as_str), Some("apply_summary"));
    assert!(planned(&destroy.stdout)
        .iter()
        .all(|(_, action)| action == "terminate"));
}

/// Issue 24: `apply PLANFILE` ends with the outputs, as `apply` does.
#[test]
fn issue_24_apply_of_a_plan_file_prints_the_outputs() {
    let w = Workspace::example("quickstart");
    w.run(&["plan", "--out", "changes.plan"]).expect(0);
    let applied = w.run(&["apply", "changes.plan"]).expect(0);
    let vpc = w.run(&["output", "vpc_id"]).expect(0).stdout;
    assert!(
        applied.stdout.contains("\nOutputs:\n")
            && applied
                .stdout
                .contains(&format!("vpc_id = \"{}\"", vpc.trim())),
        "{}",
        applied.stdout
    );
}

/// Issue 24: `state push` of a file that is no state says so, without advising to restore a
/// backup of the file pushed.
#[test]
fn issue_24_state_push_of_a_non_state_file_says_what_it_is() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.write("g.json", "{\"a\": 1}\n");
    let push = w.run(&["state", "push", "g.json"]).expect(1);
    assert!(
        push.stderr
            .contains("g.json is not a state file planform can push")
            && push.stderr.contains("nothing was written")
            && !push.stderr.contains(".backup"),
        "{}",
        push.stderr
    );
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
}

/// Issue 24: a launched product's provisioned_product_name cannot change; the error says how to
/// launch another product (a new address), not `moved`, which keeps the plan.
#[test]
fn issue_24_a_changed_product_name_points_at_a_new_address() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    w.edit(
        "main.hcl",
        "provisioned_product_name = \"vpc-${var.env}\"",
        "provisioned_product_name = \"vpc2-${var.env}\"",
    );
    let plan = w.run(&["plan"]).expect(1);
    assert!(
        plan.stderr
            .contains("to launch another product, declare the plan at a new address")
            && !plan.stderr.contains("moved"),
        "{}",
        plan.stderr
    );
}

/// Issue 6: a manifest's map keys cannot forge a line of the plan a reviewer reads, nor reach
/// the terminal as escape sequences, in text or in markdown.
#[test]
fn issue_6_map_keys_cannot_forge_plan_lines() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"plan "x" {
  name                     = "ansi"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "ansi"
  parameters               = { cidr_block = "10.0.0.0/16", "\u001b[31mEVIL\u001b[0m" = "v", "ok\n  # plan.fake will be destroyed | x |\n" = "v" }
}
"#,
    );
    for format in ["text", "markdown"] {
        let plan = w.run(&["plan", "--format", format]).expect(0).stdout;
        assert!(!plan.contains('\u{1b}'), "{plan}");
        assert!(
            !plan
                .lines()
                .any(|l| l.trim_start().starts_with("# plan.fake")),
            "{plan}"
        );
        assert!(
            plan.contains(r#""ok\n  # plan.fake will be destroyed | x |\n""#)
                && plan.contains(r#""\u{1b}[31mEVIL\u{1b}[0m""#),
            "{plan}"
        );
    }
    // A tag key with a line break is refused outright (it is never a name).
    let text = w.read("main.hcl").replace(
        "provisioned_product_name = \"ansi\"",
        "provisioned_product_name = \"ansi\"\n  tags = { \"a\\nb\" = \"v\" }",
    );
    w.write("main.hcl", &text);
    let refused = w.run(&["validate"]).expect(1);
    assert!(
        refused
            .stderr
            .contains("must not contain control characters"),
        "{}",
        refused.stderr
    );
}

/// `sandbox approve` outside a manifest directory says there is no embedded sandbox there and
/// creates nothing (found by a new-user trial: it made `./.planform/sandbox` and answered "not
/// found").
#[test]
fn sandbox_approve_outside_a_manifest_directory_says_where_it_looked() {
    let w = Workspace::new();
    let refused = w.run(&["sandbox", "approve", "plan-x"]).expect(1);
    assert!(
        refused.stderr.contains("there is no embedded sandbox in"),
        "{}",
        refused.stderr
    );
    assert!(!w.path().join(".planform").exists());
}

/// `validate` and `graph` read the manifests only: a PostgreSQL state configured without its
/// connection string (a developer's machine) does not make them fail, in text as in JSON (found
/// by a second trial: text validate failed, JSON validate passed).
#[test]
fn validate_and_graph_need_no_state_backend() {
    let w = Workspace::example("quickstart");
    w.edit(
        "main.hcl",
        "workspace = \"quickstart\"",
        "workspace = \"quickstart\"\n  state \"pg\" {\n    schema_name = \"dev\"\n  }",
    );
    for args in [
        &["validate"][..],
        &["validate", "--format", "json"],
        &["graph"],
    ] {
        let mut c = w.command(args);
        c.env_remove("PG_CONN_STR");
        crate::Run::from(c.output().unwrap()).expect(0);
    }
    let mut c = w.command(&["plan"]);
    c.env_remove("PG_CONN_STR");
    let refused = crate::Run::from(c.output().unwrap()).expect(1);
    assert!(refused.stderr.contains("PG_CONN_STR"), "{}", refused.stderr);
}

/// A refusal the diff makes (here `prevent_destroy`) ends a JSON stream as an error diagnostic,
/// as every other refusal does (found by a second trial: `destroy --format json` printed nothing).
#[test]
fn a_diff_refusal_ends_the_json_stream_as_a_diagnostic() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"plan "a" {
  name                     = "a"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "a"
  parameters               = { cidr_block = "10.0.0.0/16" }
  lifecycle {
    prevent_destroy = true
  }
}
"#,
    );
    w.run(&["apply", "--auto-approve"]).expect(0);
    let refused = w
        .run(&["destroy", "--auto-approve", "--format", "json"])
        .expect(1);
    let last: serde_json::Value =
        serde_json::from_str(refused.stdout.lines().last().expect("a JSON stream")).unwrap();
    assert_eq!(last["type"], "diagnostic", "{}", refused.stdout);
    assert_eq!(last["diagnostic"]["severity"], "error");
    assert!(last["diagnostic"]["summary"]
        .as_str()
        .unwrap()
        .contains("lifecycle.prevent_destroy forbids this destroy"));
}

/// Trial 3 F9: a markdown run that fails writes its error where its report would have gone
/// (standard output, or the file of `drift --out`), so the job summary or the pull request's
/// comment says why instead of staying blank; the exit code is still 1.
#[test]
fn a_failed_markdown_report_says_why() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        &(crate::alibaba_provider("http://127.0.0.1:9", 0) + &crate::counted_vpcs("net", "md-", 1)),
    );
    let run = |args: &[&str]| crate::Run::from(w.alibaba_command(args).output().unwrap());
    let plan = run(&["plan", "--format", "markdown"]).expect(1);
    assert!(
        plan.stdout
            .starts_with("### planform plan: failed\n\n```text\n")
            && plan.stdout.contains("127.0.0.1:9"),
        "{}",
        plan.stdout
    );
    assert!(plan.stderr.contains("127.0.0.1:9"), "{}", plan.stderr);
    run(&["drift", "--format", "markdown", "--out", "drift.md"]).expect(1);
    let report = w.read("drift.md");
    assert!(
        report.starts_with("### planform drift: failed\n\n```text\n"),
        "{report}"
    );
}
