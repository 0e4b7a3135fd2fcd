//! The GitHub recipe's `run:` steps, executed as a runner would (bash -eo pipefail, the
//! workflow's, job's and step's `env`, `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files) against
//! `planform sandbox serve` with OIDC credentials, through a whole cycle: plan on a pull request
//! → one comment → apply that saved plan on merge → drift opens one issue → updates it → drift
//! cleared closes it → a reviewed plan gone stale is refused with the current plan in the summary.
//!
//! What a runner does besides the scripts is played by the test: `actions/checkout` (the
//! workspace is there), `actions/upload-artifact` / `download-artifact` (copies into a store),
//! and GitHub's API, through a stand-in `gh` (`fakes/gh`, answering from a JSON file). The two
//! steps that reach GitHub's own services, "Install planform" (a release download) and "OIDC
//! tokens" (the runner's token endpoint), are not run: the test puts the planform under test on
//! PATH and writes the OIDC token file itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::repo;

/// Steps played by the test instead of run: they reach GitHub's own services.
const NOT_RUN: [&str; 2] = ["Install planform", "OIDC tokens"];

struct Runner {
    workflow: Yaml,
    root: tempfile::TempDir,
    /// The fake GitHub: state.json, calls.log, artifacts/.
    store: PathBuf,
    /// Values of the `${{ … }}` expressions the recipe uses.
    context: BTreeMap<&'static str, String>,
    /// What the test sets on top (endpoints, token file, PATH).
    overrides: BTreeMap<String, String>,
}

struct JobRun {
    code: i32,
    outputs: String,
    summary: String,
    log: String,
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn env_of(y: &Yaml) -> Vec<(String, String)> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

impl Runner {
    fn new(endpoint: &str) -> Runner {
        let source =
            std::fs::read_to_string(repo().join("examples/ci/github/planform.yml")).unwrap();
        let workflow = YamlLoader::load_from_str(&source).unwrap().remove(0);
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("github");
        std::fs::create_dir_all(store.join("artifacts")).unwrap();
        let bin = root.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(repo().join("tests/e2e/fakes/gh"), bin.join("gh")).unwrap();
        let planform_dir = Path::new(env!("CARGO_BIN_EXE_planform")).parent().unwrap();
        let token = root.path().join("oidc-token");
        std::fs::write(&token, crate::credentials::jwt()).unwrap();
        let overrides: BTreeMap<String, String> = [
            (
                "PATH",
                format!(
                    "{}:{}:{}",
                    bin.display(),
                    planform_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            ),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token.display().to_string()),
            ("ALIBABA_CLOUD_STS_ENDPOINT", endpoint.to_string()),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("HOME", root.path().display().to_string()),
            ("FAKE_GH_STORE", store.display().to_string()),
            ("GITHUB_REPOSITORY", "acme/infra".into()),
            (
                "GITHUB_SHA",
                "0123456789abcdef0123456789abcdef01234567".into(),
            ),
            (
                "RUNNER_TEMP",
                root.path().join("runner-temp").display().to_string(),
            ),
            ("CI", "true".into()),
            ("NO_COLOR", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let context = [
            ("secrets.PLANFORM_PG_CONN_STR", String::new()),
            ("github.token", "fake-token".to_string()),
            ("github.event.pull_request.number", "7".to_string()),
            ("github.server_url", "https://github.com".to_string()),
            ("github.repository", "acme/infra".to_string()),
            ("github.run_id", "1001".to_string()),
        ]
        .into_iter()
        .collect();
        std::fs::create_dir_all(root.path().join("runner-temp")).unwrap();
        Runner {
            workflow,
            root,
            store,
            context,
            overrides,
        }
    }

    fn checkout(&self) -> &Path {
        self.root.path()
    }

    /// `${{ expr }}` replaced by the context's value; an expression the test does not know fails.
    fn expand(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("closed expression") + start;
            let expr = rest[start + 3..end].trim();
            let v = self.context.get(expr).unwrap_or_else(|| {
                panic!("the recipe uses ${{{{ {expr} }}}}, which the test does not know")
            });
            out.push_str(v);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    fn fake(&self) -> serde_json::Value {
        let p = self.store.join("state.json");
        if p.exists() {
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        } else {
            serde_json::json!({"comments": [], "issues": []})
        }
    }

    fn set_fake(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let mut v = self.fake();
        f(&mut v);
        std::fs::write(self.store.join("state.json"), v.to_string()).unwrap();
    }

    /// Runs job `name`'s steps in order until one fails.
    fn job(&self, name: &str) -> JobRun {
        let job = &self.workflow["jobs"][name];
        assert!(!job.is_badvalue(), "no job {name}");
        let outputs = self.root.path().join(format!("output-{name}"));
        let summary = self.root.path().join(format!("summary-{name}"));
        for f in [&outputs, &summary] {
            std::fs::write(f, "").unwrap();
        }
        let mut log = String::new();
        let mut code = 0;
        for step in job["steps"].as_vec().expect("steps") {
            let step_name = step["name"].as_str().expect("every step is named");
            if NOT_RUN.contains(&step_name) {
                continue;
            }
            if let Some(uses) = step["uses"].as_str() {
                self.play(uses, &step["with"]);
                continue;
            }
            let script = step["run"].as_str().expect("run or uses");
            let mut c = Command::new("bash");
            c.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
                .current_dir(self.checkout())
                .env_clear();
            for (k, v) in env_of(&self.workflow["env"])
                .into_iter()
                .chain(env_of(&job["env"]))
                .chain(env_of(&step["env"]))
            {
                c.env(k, self.expand(&v));
            }
            c.envs(&self.overrides)
                .env("GITHUB_OUTPUT", &outputs)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .env("GITHUB_ENV", self.root.path().join("github-env"))
                .env("GITHUB_PATH", self.root.path().join("github-path"));
            let out = c.output().unwrap();
            log.push_str(&format!(
                "--- {step_name}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
            code = out.status.code().unwrap_or(-1);
            if code != 0 {
                break;
            }
        }
        JobRun {
            code,
            outputs: std::fs::read_to_string(outputs).unwrap(),
            summary: std::fs::read_to_string(summary).unwrap(),
            log,
        }
    }

    /// `planform ARGS` in the checkout with the apply job's credentials (someone fixing drift).
    fn run_planform(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_planform"))
            .args(args)
            .current_dir(self.checkout())
            .envs(&self.overrides)
            .env(
                "ALIBABA_CLOUD_ROLE_ARN",
                "acs:ram::1234567890123456:role/planform-apply",
            )
            .env(
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1234567890123456:oidc-provider/github",
            )
            .output()
            .unwrap()
    }

    /// What the runner does for an action.
    fn play(&self, uses: &str, with: &Yaml) {
        let action = uses.split('@').next().unwrap();
        match action {
            "actions/checkout" => {}
            "actions/upload-artifact" => {
                let name = self.expand(with["name"].as_str().unwrap());
                let dir = self.store.join("artifacts").join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                for p in with["path"]
                    .as_str()
                    .unwrap()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                {
                    let from = self.checkout().join(p.trim());
                    std::fs::copy(&from, dir.join(p.trim()))
                        .unwrap_or_else(|e| panic!("upload-artifact: {}: {e}", from.display()));
                }
                self.set_fake(|v| v["artifacts"][&name] = serde_json::json!(1001));
            }
            "actions/download-artifact" => {
                let name = self.expand(with["name"].as_str().unwrap());
                for e in std::fs::read_dir(self.store.join("artifacts").join(&name)).unwrap() {
                    let e = e.unwrap();
                    std::fs::copy(e.path(), self.checkout().join(e.file_name())).unwrap();
                }
            }
            other => panic!("the test does not play {other}"),
        }
    }
}

/// Writes the workspace's manifest in planform's canonical layout (the recipe checks `fmt`).
fn write_manifest(dir: &Path, endpoint: &str, cidr: &str) {
    write_formatted(dir, &manifest(endpoint, cidr));
}

/// Writes `text` as `dir`'s `main.hcl`, then lays it out as `planform fmt` does.
fn write_formatted(dir: &Path, text: &str) {
    std::fs::write(dir.join("main.hcl"), text).unwrap();
    let fmt = Command::new(env!("CARGO_BIN_EXE_planform"))
        .arg("-C")
        .arg(dir)
        .arg("fmt")
        .output()
        .unwrap();
    assert!(
        fmt.status.success(),
        "{}",
        String::from_utf8_lossy(&fmt.stderr)
    );
}

fn manifest(endpoint: &str, cidr: &str) -> String {
    format!(
        r#"
provider "alibaba" {{
  region   = "cn-hangzhou"
  endpoint = "{endpoint}"
}}

plan "network" {{
  name                     = "vpc-recipe"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "vpc-recipe"
  parameters               = {{ cidr_block = "{cidr}" }}
  execute                  = true
}}
"#
    )
}

/// Deletes the workspace's plan outside planform, through the Alibaba API with another key.
fn delete_outside(r: &Runner, endpoint: &str) {
    delete_outside_in(r.checkout(), endpoint)
}

/// Deletes `plan.network` of the workspace in `checkout`/infra outside planform.
fn delete_outside_in(checkout: &Path, endpoint: &str) {
    let state = std::fs::read_to_string(checkout.join("infra/.planform/state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let id = state["plans"]["plan.network"]["plan_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no plan.network in {state}"))
        .to_string();
    let client = planform_client::AlibabaClient::new(
        planform_client::AlibabaOptions::resolve("cn-hangzhou", Some(endpoint), &BTreeMap::new()),
        planform_client::AlibabaCredentials {
            access_key_id: "e2eid".into(),
            access_key_secret: planform_model::Sensitive::new("e2esecret".into()),
            security_token: None,
        },
    )
    .unwrap();
    use planform_model::PlanService;
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(client.delete_plan(&id))
        .unwrap();
}

#[track_caller]
fn ok(run: &JobRun, job: &str) {
    assert_eq!(run.code, 0, "{job} failed:\n{}", run.log);
}

#[test]
fn the_github_recipe_plans_applies_the_reviewed_plan_and_tracks_drift_in_one_issue() {
    let server = crate::credentials::serve(3600, 40);
    let r = Runner::new(&server.endpoint);
    std::fs::create_dir_all(r.checkout().join("infra")).unwrap();
    let infra = r.checkout().join("infra");
    write_manifest(&infra, &server.endpoint, "10.0.0.0/16");

    // Pull request 7: validate, plan (exit 2, not a failure), the plan in the summary and an artifact.
    let plan = r.job("plan");
    ok(&plan, "plan");
    assert!(plan.outputs.contains("exitcode=2"), "{}", plan.outputs);
    assert!(plan.summary.contains("plan.network"), "{}", plan.summary);
    assert!(r
        .store
        .join("artifacts/planform-plan-7/changes.plan")
        .exists());
    ok(&r.job("comment"), "comment");
    // A second push to the pull request: the same comment, updated in place.
    ok(&r.job("plan"), "plan");
    ok(&r.job("comment"), "comment");
    let fake = r.fake();
    let comments = fake["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1, "{fake}");
    assert_eq!(comments[0]["edits"], 1);
    assert!(comments[0]["body"]
        .as_str()
        .unwrap()
        .contains("plan.network"));

    // Merged: the reviewed plan is applied.
    r.set_fake(|v| v["pulls"]["0123456789abcdef0123456789abcdef01234567"] = serde_json::json!(7));
    let apply = r.job("apply");
    ok(&apply, "apply");
    assert!(
        apply.log.contains("Apply complete! 1 done"),
        "{}",
        apply.log
    );

    // Drift: the plan was deleted outside planform; one issue, opened then updated.
    delete_outside(&r, &server.endpoint);
    for round in 1..=2 {
        let drift = r.job("drift");
        ok(&drift, "drift");
        assert!(drift.outputs.contains("exitcode=2"), "{}", drift.log);
        let fake = r.fake();
        let issues = fake["issues"].as_array().unwrap();
        assert_eq!(issues.len(), 1, "one issue for one drift: {fake}");
        assert_eq!(issues[0]["state"], "open");
        assert!(
            issues[0]["body"].as_str().unwrap().contains("plan.network"),
            "{fake}"
        );
        assert_eq!(issues[0]["comments"].as_array().unwrap().len(), round - 1);
    }
    // Applied again, the cloud matches the manifests: the issue is closed.
    let reapplied = r.run_planform(&["-C", "infra", "apply", "--auto-approve"]);
    assert!(
        reapplied.status.success(),
        "{}",
        String::from_utf8_lossy(&reapplied.stderr)
    );
    let cleared = r.job("drift");
    ok(&cleared, "drift");
    assert!(
        cleared.outputs.contains("exitcode=0"),
        "{}\n{}\n{}",
        cleared.log,
        cleared.summary,
        String::from_utf8_lossy(&reapplied.stdout)
    );
    let fake = r.fake();
    assert_eq!(fake["issues"].as_array().unwrap().len(), 1);
    assert_eq!(fake["issues"][0]["state"], "closed", "{fake}");

    // A reviewed plan that went stale before its merge is refused, with the current plan shown.
    write_manifest(&infra, &server.endpoint, "10.1.0.0/16");
    ok(&r.job("plan"), "plan");
    delete_outside(&r, &server.endpoint);
    let stale = r.job("apply");
    assert_eq!(stale.code, 1, "{}", stale.log);
    assert!(
        stale.log.contains("::error::the reviewed plan is stale"),
        "{}",
        stale.log
    );
    assert!(
        stale
            .summary
            .starts_with("## The reviewed plan is stale: nothing was applied")
            && stale.summary.contains("plan.network"),
        "{}",
        stale.summary
    );
}

/// Trial 3 F2: the apply job ends with exit 3 while a plan waits for its approvers; once they
/// approved it, re-running the job executes it (what is left of the reviewed plan), where it
/// used to refuse the saved plan as stale and execute nothing. A re-run that would do anything
/// else is still refused.
#[test]
fn the_github_recipe_re_run_after_approval_executes_the_approved_plan() {
    let server = crate::credentials::serve(3600, 40);
    let r = Runner::new(&server.endpoint);
    let infra = r.checkout().join("infra");
    std::fs::create_dir_all(&infra).unwrap();
    write_formatted(
        &infra,
        r#"
plan "db" {
  name                     = "db-recipe"
  product_id               = "prod-sbxrds0000001"
  product_version_id       = "pv-sbxrds0000001"
  portfolio_id             = "port-sbxreview0001"
  provisioned_product_name = "db-recipe"
  parameters               = { engine = "MySQL" }
  execute                  = true
}
"#,
    );
    ok(&r.job("plan"), "plan");
    r.set_fake(|v| v["pulls"]["0123456789abcdef0123456789abcdef01234567"] = serde_json::json!(7));
    let waiting = r.job("apply");
    assert_eq!(waiting.code, 3, "{}", waiting.log);
    let line = waiting
        .log
        .lines()
        .find(|l| l.starts_with("Awaiting approval: plan.db ("))
        .unwrap_or_else(|| panic!("{}", waiting.log));
    let id = line.split(['(', ')']).nth(1).unwrap().to_string();
    // Not approved yet: the re-run has more than executing to do (it waits), so it is refused.
    let early = r.job("apply");
    assert_eq!(early.code, 1, "{}", early.log);
    assert!(
        early.log.contains("::error::the reviewed plan is stale"),
        "{}",
        early.log
    );
    let approved = r.run_planform(&["-C", "infra", "sandbox", "approve", &id]);
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let rerun = r.job("apply");
    ok(&rerun, "apply");
    assert!(
        rerun.log.contains("Apply complete! 1 done"),
        "{}",
        rerun.log
    );
    let plan = r.run_planform(&["-C", "infra", "plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&plan.stdout)
    );
}

#[test]
fn the_github_recipe_annotates_manifest_errors() {
    let server = crate::credentials::serve(3600, 40);
    let r = Runner::new(&server.endpoint);
    std::fs::create_dir_all(r.checkout().join("infra")).unwrap();
    std::fs::write(
        r.checkout().join("infra/main.hcl"),
        "plan \"a\" {\n  name  = \"a\"\n  bogus = 1\n}\n",
    )
    .unwrap();
    let plan = r.job("plan");
    assert_eq!(plan.code, 1, "{}", plan.log);
    assert!(
        plan.log.contains(
            "::error file=infra/main.hcl,line=3,col=3::unknown attribute \"bogus\" in plan \"a\""
        ),
        "{}",
        plan.log
    );
}

// ---------------------------------------------------------------------------------------------
// GitLab

/// The GitLab recipe's `script:` lines, executed as a runner would (one shell per job,
/// `before_script` then `script`, `set -eo pipefail`, the pipeline's, templates' and job's
/// `variables`, the predefined `CI_*` variables and the job's `id_tokens`) against
/// `planform sandbox serve`, with GitLab's API played by a local HTTP server that records every
/// call. What a runner does besides the scripts is played by the test: the checkout (the
/// workspace is there) and `artifacts:` (the files are kept and served by the fake API). The
/// `before_script` lines that install the release binary from the network are not run: the
/// planform under test is on PATH.
mod gitlab {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::{Arc, Mutex};

    use serde_json::{json, Value};
    use yaml_rust2::{yaml::Hash, Yaml, YamlLoader};

    use crate::credentials::fake_http::{form, percent_decode, FakeHttp, Request};
    use crate::repo;

    /// `before_script` lines that download and install the release: played by the test.
    const NOT_RUN: [&str; 5] = [
        "apk add ",
        "file=",
        "curl -fsSLO ",
        "sha256sum -c ",
        "install -m ",
    ];
    const PROJECT: &str = "42";
    const TOKEN: &str = "glpat-fake-token";

    #[derive(Debug, Default)]
    struct Note {
        id: u64,
        merge_request: u64,
        body: String,
        edits: u32,
    }

    #[derive(Debug, Default)]
    struct Issue {
        iid: u64,
        title: String,
        labels: String,
        description: String,
        closed: bool,
        notes: Vec<String>,
    }

    /// What the fake GitLab holds, and every call it answered.
    #[derive(Debug, Default)]
    struct Gitlab {
        calls: Vec<String>,
        /// Calls the recipe should not make (unknown routes, a missing or wrong token).
        refused: Vec<String>,
        notes: Vec<Note>,
        issues: Vec<Issue>,
        /// Commit SHA → the merge request it was merged from.
        merged: BTreeMap<String, u64>,
        /// (ref, job) → file name → contents.
        artifacts: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    }

    /// One API call: (status, body).
    fn answer(g: &mut Gitlab, req: &Request) -> (u16, Vec<u8>) {
        let prefix = format!("/api/v4/projects/{PROJECT}/");
        let call = format!("{} {}", req.method, req.path);
        if req.headers.get("private-token").map(String::as_str) != Some(TOKEN) {
            g.refused.push(format!("{call}: no PRIVATE-TOKEN {TOKEN}"));
            return (401, br#"{"message":"401 Unauthorized"}"#.to_vec());
        }
        let Some(route) = req.path.strip_prefix(&prefix) else {
            g.refused.push(call);
            return (404, br#"{"message":"404 Not Found"}"#.to_vec());
        };
        g.calls.push(call.clone());
        let segments: Vec<&str> = route.split('/').collect();
        let json_body = || -> Value { serde_json::from_slice(&req.body).unwrap_or(Value::Null) };
        let form_body = || form(std::str::from_utf8(&req.body).unwrap());
        let ok = |v: Value| (200, v.to_string().into_bytes());
        match (req.method.as_str(), segments.as_slice()) {
            ("GET", ["merge_requests", iid, "notes"]) => {
                let iid: u64 = iid.parse().unwrap();
                ok(g.notes
                    .iter()
                    .filter(|n| n.merge_request == iid)
                    .map(|n| json!({"id": n.id, "body": n.body}))
                    .collect())
            }
            ("POST", ["merge_requests", iid, "notes"]) => {
                let body = json_body()["body"].as_str().unwrap().to_string();
                let id = 500 + g.notes.len() as u64;
                g.notes.push(Note {
                    id,
                    merge_request: iid.parse().unwrap(),
                    body,
                    edits: 0,
                });
                (201, json!({ "id": id }).to_string().into_bytes())
            }
            ("PUT", ["merge_requests", _, "notes", id]) => {
                let body = json_body()["body"].as_str().unwrap().to_string();
                let id: u64 = id.parse().unwrap();
                let note = g.notes.iter_mut().find(|n| n.id == id).unwrap();
                note.body = body;
                note.edits += 1;
                ok(json!({ "id": id }))
            }
            ("GET", ["repository", "commits", sha, "merge_requests"]) => ok(g
                .merged
                .get(*sha)
                .map(|iid| json!([{ "iid": iid }]))
                .unwrap_or(json!([]))),
            ("GET", ["jobs", "artifacts", reference, "raw", file]) => {
                let key = (percent_decode(reference), req.query["job"].clone());
                match g.artifacts.get(&key).and_then(|files| files.get(*file)) {
                    Some(bytes) => (200, bytes.clone()),
                    None => (404, br#"{"message":"404 Not found"}"#.to_vec()),
                }
            }
            ("GET", ["issues"]) => {
                let label = req.query.get("labels").cloned().unwrap_or_default();
                let opened = req.query.get("state").map(String::as_str) == Some("opened");
                ok(g.issues
                    .iter()
                    .filter(|i| i.labels.split(',').any(|l| l == label) && !(opened && i.closed))
                    .map(|i| json!({"iid": i.iid, "title": i.title}))
                    .collect())
            }
            ("POST", ["issues"]) => {
                let f = form_body();
                let iid = 1 + g.issues.len() as u64;
                g.issues.push(Issue {
                    iid,
                    title: f["title"].clone(),
                    labels: f["labels"].clone(),
                    description: f["description"].clone(),
                    ..Issue::default()
                });
                (201, json!({ "iid": iid }).to_string().into_bytes())
            }
            ("PUT", ["issues", iid]) => {
                let f = form_body();
                let iid: u64 = iid.parse().unwrap();
                let issue = g.issues.iter_mut().find(|i| i.iid == iid).unwrap();
                if let Some(d) = f.get("description") {
                    issue.description = d.clone();
                }
                if f.get("state_event").map(String::as_str) == Some("close") {
                    issue.closed = true;
                }
                ok(json!({ "iid": iid }))
            }
            ("POST", ["issues", iid, "notes"]) => {
                let body = form_body()["body"].clone();
                let iid: u64 = iid.parse().unwrap();
                g.issues
                    .iter_mut()
                    .find(|i| i.iid == iid)
                    .unwrap()
                    .notes
                    .push(body);
                (201, json!({}).to_string().into_bytes())
            }
            _ => {
                g.calls.pop();
                g.refused.push(call);
                (404, br#"{"message":"404 Not Found"}"#.to_vec())
            }
        }
    }

    /// GitLab's REST API (the part the recipe calls) on a local port.
    fn fake_api(state: Arc<Mutex<Gitlab>>) -> FakeHttp {
        FakeHttp::serve(move |req| answer(&mut state.lock().unwrap(), req))
    }

    fn text(y: &Yaml) -> Option<String> {
        match y {
            Yaml::String(s) => Some(s.clone()),
            Yaml::Integer(i) => Some(i.to_string()),
            Yaml::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// GitLab's `extends` merge: hashes merged key by key, anything else replaced.
    fn merge(base: &Yaml, over: &Yaml) -> Yaml {
        match (base, over) {
            (Yaml::Hash(b), Yaml::Hash(o)) => {
                let mut out: Hash = b.clone();
                for (k, v) in o {
                    let merged = match b.get(k) {
                        Some(bv) => merge(bv, v),
                        None => v.clone(),
                    };
                    out.insert(k.clone(), merged);
                }
                Yaml::Hash(out)
            }
            (_, o) => o.clone(),
        }
    }

    /// The pipeline's job `name` with its `extends` templates merged in.
    fn resolved(pipeline: &Yaml, name: &str) -> Yaml {
        let job = &pipeline[name];
        assert!(!job.is_badvalue(), "no job {name}");
        let parents: Vec<String> = match &job["extends"] {
            Yaml::String(s) => vec![s.clone()],
            Yaml::Array(a) => a.iter().filter_map(text).collect(),
            _ => vec![],
        };
        let mut base = Yaml::Hash(Hash::new());
        for p in parents {
            base = merge(&base, &resolved(pipeline, &p));
        }
        merge(&base, job)
    }

    /// A rule's `if:`: `$A == $B` and `$A == "literal"` joined by `&&`, as the recipe writes them.
    fn rule_holds(expr: &str, vars: &BTreeMap<String, String>) -> bool {
        let value = |side: &str| -> String {
            let side = side.trim();
            if let Some(var) = side.strip_prefix('$') {
                vars.get(var).cloned().unwrap_or_default()
            } else if let Some(lit) = side.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                lit.to_string()
            } else {
                panic!("the test does not evaluate {side:?} in the rule {expr:?}")
            }
        };
        expr.split("&&").all(|clause| {
            let (a, b) = clause
                .split_once("==")
                .unwrap_or_else(|| panic!("the test evaluates only == in rules: {expr:?}"));
            value(a) == value(b)
        })
    }

    pub struct JobRun {
        pub code: i32,
        pub log: String,
    }

    /// A pipeline's predefined variables.
    pub struct Pipeline<'a> {
        pub source: &'a str,
        pub sha: &'a str,
        pub merge_request: Option<u64>,
    }

    struct Runner {
        pipeline: Yaml,
        root: tempfile::TempDir,
        api: FakeHttp,
        state: Arc<Mutex<Gitlab>>,
        overrides: BTreeMap<String, String>,
    }

    impl Runner {
        fn new(endpoint: &str) -> Runner {
            let source =
                std::fs::read_to_string(repo().join("examples/ci/gitlab/.gitlab-ci.yml")).unwrap();
            let pipeline = YamlLoader::load_from_str(&source).unwrap().remove(0);
            let root = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(root.path().join("checkout/infra")).unwrap();
            let planform_dir = Path::new(env!("CARGO_BIN_EXE_planform")).parent().unwrap();
            let oidc = root.path().join("oidc");
            let overrides: BTreeMap<String, String> = [
                (
                    "PATH",
                    format!(
                        "{}:{}",
                        planform_dir.display(),
                        std::env::var("PATH").unwrap_or_default()
                    ),
                ),
                (
                    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
                    oidc.join("alibaba").display().to_string(),
                ),
                (
                    "AWS_WEB_IDENTITY_TOKEN_FILE",
                    oidc.join("aws").display().to_string(),
                ),
                ("ALIBABA_CLOUD_STS_ENDPOINT", endpoint.to_string()),
                ("AWS_ENDPOINT_URL_STS", endpoint.to_string()),
                ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true".into()),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
                ("HOME", root.path().display().to_string()),
                ("NO_COLOR", "1".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let state = Arc::new(Mutex::new(Gitlab::default()));
            Runner {
                pipeline,
                root,
                api: fake_api(state.clone()),
                state,
                overrides,
            }
        }

        fn checkout(&self) -> PathBuf {
            self.root.path().join("checkout")
        }

        fn api(&self) -> std::sync::MutexGuard<'_, Gitlab> {
            self.state.lock().unwrap()
        }

        /// Runs job `name` of a pipeline, as its rules allow (a job they leave out fails the test).
        fn job(&self, name: &str, p: &Pipeline) -> JobRun {
            let job = resolved(&self.pipeline, name);
            // A fresh checkout: only the repository's files (the manifests and, for the local
            // state backend this test uses, the state beside them).
            for e in std::fs::read_dir(self.checkout()).unwrap() {
                let e = e.unwrap();
                if e.file_name() != "infra" {
                    std::fs::remove_file(e.path()).unwrap();
                }
            }
            let mut vars: BTreeMap<String, String> = BTreeMap::new();
            for source in [&self.pipeline["variables"], &job["variables"]] {
                for (k, v) in source.as_hash().into_iter().flatten() {
                    vars.insert(text(k).unwrap(), text(v).unwrap());
                }
            }
            let job_id = 3000 + self.api().calls.len();
            let predefined = [
                ("CI", "true".to_string()),
                ("GITLAB_CI", "true".to_string()),
                ("CI_API_V4_URL", format!("{}/api/v4", self.api.url)),
                ("CI_PROJECT_ID", PROJECT.to_string()),
                ("CI_DEFAULT_BRANCH", "main".to_string()),
                ("CI_PIPELINE_SOURCE", p.source.to_string()),
                ("CI_COMMIT_SHA", p.sha.to_string()),
                (
                    "CI_JOB_URL",
                    format!("https://gitlab.example/acme/infra/-/jobs/{job_id}"),
                ),
                ("GITLAB_API_TOKEN", TOKEN.to_string()),
            ];
            vars.extend(predefined.map(|(k, v)| (k.to_string(), v)));
            match p.merge_request {
                Some(iid) => {
                    vars.insert("CI_MERGE_REQUEST_IID".into(), iid.to_string());
                }
                None => {
                    vars.insert("CI_COMMIT_BRANCH".into(), "main".into());
                }
            }
            for (k, _) in job["id_tokens"].as_hash().into_iter().flatten() {
                vars.insert(text(k).unwrap(), crate::credentials::jwt());
            }
            let runs = job["rules"].as_vec().into_iter().flatten().any(|rule| {
                rule["if"]
                    .as_str()
                    .is_none_or(|expr| rule_holds(expr, &vars))
            });
            assert!(
                runs,
                "job {name}'s rules leave it out of a {} pipeline",
                p.source
            );
            vars.extend(self.overrides.clone());

            let mut lines = Vec::new();
            let mut skipped = 0;
            for key in ["before_script", "script"] {
                for line in job[key].as_vec().into_iter().flatten() {
                    let line = line.as_str().expect("script lines are strings");
                    if NOT_RUN.iter().any(|p| line.starts_with(p)) {
                        skipped += 1;
                        continue;
                    }
                    lines.push(line.to_string());
                }
            }
            assert_eq!(
                skipped,
                NOT_RUN.len(),
                "the install lines of {name} changed"
            );
            let out = Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
                .arg(lines.join("\n"))
                .current_dir(self.checkout())
                .env_clear()
                .envs(&vars)
                .output()
                .unwrap();
            let code = out.status.code().unwrap_or(-1);
            let log = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // artifacts: kept on success (or always, with `when: always`), under the pipeline's ref.
            let artifacts = &job["artifacts"];
            if code == 0 || artifacts["when"].as_str() == Some("always") {
                let reference = match p.merge_request {
                    Some(iid) => format!("refs/merge-requests/{iid}/head"),
                    None => "main".to_string(),
                };
                let mut files = BTreeMap::new();
                for path in artifacts["paths"].as_vec().into_iter().flatten() {
                    let path = path.as_str().unwrap();
                    if let Ok(bytes) = std::fs::read(self.checkout().join(path)) {
                        files.insert(path.to_string(), bytes);
                    }
                }
                if !files.is_empty() {
                    self.api()
                        .artifacts
                        .insert((reference, name.to_string()), files);
                }
            }
            JobRun { code, log }
        }
    }

    #[track_caller]
    fn ok(run: &JobRun, job: &str) {
        assert_eq!(run.code, 0, "{job} failed:\n{}", run.log);
    }

    fn manifest(endpoint: &str, cidr: &str) -> String {
        format!(
            r#"
provider "alibaba" {{
  region   = "cn-hangzhou"
  endpoint = "{endpoint}"
}}

provider "aws" {{
  region   = "us-east-1"
  endpoint = "{endpoint}"
}}

plan "network" {{
  provider                 = alibaba
  name                     = "vpc-gitlab"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "vpc-gitlab"
  parameters               = {{ cidr_block = "{cidr}" }}
  execute                  = true
}}

plan "edge" {{
  provider                 = aws
  name                     = "vpc-gitlab-edge"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "vpc-gitlab-edge"
  parameters               = {{ cidr_block = "10.9.0.0/16" }}
  execute                  = true
}}
"#
        )
    }

    fn write_manifest(dir: &Path, endpoint: &str, cidr: &str) {
        super::write_formatted(dir, &manifest(endpoint, cidr));
    }

    #[test]
    fn the_gitlab_recipe_plans_applies_the_reviewed_plan_and_tracks_drift_in_one_issue() {
        let server = crate::credentials::serve(3600, 40);
        let r = Runner::new(&server.endpoint);
        let infra = r.checkout().join("infra");
        write_manifest(&infra, &server.endpoint, "10.0.0.0/16");
        let mr = |sha| Pipeline {
            source: "merge_request_event",
            sha,
            merge_request: Some(7),
        };

        // Merge request 7: validate, then plan (exit 2 is not a failure): one note, the artifact.
        ok(&r.job("validate", &mr("a1")), "validate");
        let plan = r.job("plan", &mr("a1"));
        ok(&plan, "plan");
        assert!(
            plan.log.contains("Saved the plan to changes.plan"),
            "{}",
            plan.log
        );
        // A second push: the same note, edited in place.
        ok(&r.job("plan", &mr("a2")), "plan");
        {
            let api = r.api();
            assert_eq!(api.notes.len(), 1, "{:?}", api.notes);
            let note = &api.notes[0];
            assert_eq!((note.merge_request, note.edits), (7, 1));
            assert!(
                note.body
                    .starts_with("<!-- planform plan -->\n### planform plan")
                    && note.body.contains("`plan.network`")
                    && note.body.contains("`plan.edge`"),
                "{}",
                note.body
            );
            assert!(api
                .artifacts
                .contains_key(&("refs/merge-requests/7/head".to_string(), "plan".to_string())));
        }

        // Merged as m1: the apply job finds merge request 7 and applies the plan it saved.
        r.api().merged.insert("m1".into(), 7);
        let push = |sha| Pipeline {
            source: "push",
            sha,
            merge_request: None,
        };
        let apply = r.job("apply", &push("m1"));
        ok(&apply, "apply");
        assert!(
            apply.log.contains("Apply complete! 2 done"),
            "{}",
            apply.log
        );

        // Drift: the Alibaba plan deleted outside planform; one issue, opened, then updated.
        let schedule = Pipeline {
            source: "schedule",
            sha: "m1",
            merge_request: None,
        };
        super::delete_outside_in(&r.checkout(), &server.endpoint);
        for round in 1..=2 {
            let drift = r.job("drift", &schedule);
            ok(&drift, "drift");
            let api = r.api();
            assert_eq!(
                api.issues.len(),
                1,
                "one issue for one drift: {:?}",
                api.issues
            );
            let issue = &api.issues[0];
            assert!(
                !issue.closed && issue.labels == "planform-drift",
                "{issue:?}"
            );
            assert!(
                issue.description.contains("`plan.network` | deleted"),
                "{issue:?}"
            );
            assert_eq!(issue.notes.len(), round - 1, "{issue:?}");
        }
        assert!(r.api().issues[0].notes[0].starts_with("Still drifting: https://gitlab.example/"));
        // Applied again: the next drift run closes the issue.
        let reapplied = Command::new(env!("CARGO_BIN_EXE_planform"))
            .args(["-C", "infra", "apply", "--auto-approve"])
            .current_dir(r.checkout())
            .envs(&r.overrides)
            .env(
                "ALIBABA_CLOUD_ROLE_ARN",
                "acs:ram::1234567890123456:role/planform-apply",
            )
            .env(
                "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                "acs:ram::1234567890123456:oidc-provider/gitlab",
            )
            .env(
                "AWS_ROLE_ARN",
                "arn:aws:iam::123456789012:role/planform-apply",
            )
            .output()
            .unwrap();
        assert!(
            reapplied.status.success(),
            "{}",
            String::from_utf8_lossy(&reapplied.stderr)
        );
        ok(&r.job("drift", &schedule), "drift");
        {
            let api = r.api();
            assert_eq!(api.issues.len(), 1);
            assert!(api.issues[0].closed, "{:?}", api.issues);
            assert!(api.issues[0].notes[1].starts_with("The cloud matches the manifests again"));
        }

        // Merge request 8 is reviewed, then the cloud moves before its merge: the apply refuses
        // the stale plan and shows the plan as it stands now.
        write_manifest(&infra, &server.endpoint, "10.1.0.0/16");
        let mr8 = Pipeline {
            source: "merge_request_event",
            sha: "b1",
            merge_request: Some(8),
        };
        ok(&r.job("plan", &mr8), "plan");
        super::delete_outside_in(&r.checkout(), &server.endpoint);
        r.api().merged.insert("m2".into(), 8);
        let stale = r.job("apply", &push("m2"));
        assert_eq!(stale.code, 1, "{}", stale.log);
        assert!(
            stale.log.contains(
                "The reviewed plan is stale: nothing was applied. The plan as it stands now:"
            ) && stale.log.contains("plan.network will be created"),
            "{}",
            stale.log
        );

        // A push that came from no merge request has no reviewed plan to apply.
        let lone = r.job("apply", &push("c9"));
        assert_eq!(lone.code, 1);
        assert!(
            lone.log.contains("c9 was not merged from a merge request"),
            "{}",
            lone.log
        );

        let api = r.api();
        assert!(
            api.refused.is_empty(),
            "calls the recipe should not make: {:?}",
            api.refused
        );
        assert_eq!(api.notes.iter().filter(|n| n.merge_request == 8).count(), 1);
    }
}
