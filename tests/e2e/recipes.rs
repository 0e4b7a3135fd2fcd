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
    std::fs::write(dir.join("main.hcl"), manifest(endpoint, cidr)).unwrap();
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
    let state = std::fs::read_to_string(r.checkout().join("infra/.planform/state.json")).unwrap();
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
    let server = crate::credentials::serve("3600", "40");
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

#[test]
fn the_github_recipe_annotates_manifest_errors() {
    let server = crate::credentials::serve("3600", "40");
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
