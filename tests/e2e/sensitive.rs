//! Issue 16 (5): no sensitive value is recoverable from anything planform prints, logs or
//! writes. One distinctive secret is used in every place the language lets a sensitive value go
//! (a sensitive variable directly, through a local, a template, functions, a `for` expression,
//! `count.index`, `each.key`/`each.value`, `env()`, a sensitive output), and every command's
//! output, the logs, the state files and the plan files are searched for it and for its SHA-256,
//! with encryption off and on. The cloud is a `sandbox serve` outside the workspace (its own
//! copy of the parameters is the cloud's), reached through the Alibaba HTTP client so that the
//! request logs are searched too.

use std::path::Path;

use sha2::{Digest, Sha256};

use planform_testkit::sandbox::Served;

use crate::server::serve;
use crate::{Run, Workspace};

const SECRET: &str = "Zq7-distinctive-S3CRET-4711";
const ROTATED: &str = "Zq7-distinctive-ROTATED-0815";
const PASSPHRASE: &str = "correct horse battery staple e2e";

fn manifest(endpoint: &str) -> String {
    format!(
        r#"
planform {{
  allowed_env = ["DEPLOY_SALT"]
}}

provider "alibaba" {{
  region      = "cn-hangzhou"
  endpoint    = "{endpoint}"
  max_retries = 8
}}

variable "pw" {{
  type      = string
  sensitive = true
}}

locals {{
  dsn     = "db://app:${{var.pw}}@db.internal"
  wrapped = [for s in [var.pw] : trimspace(s)][0]
}}

plan "direct" {{
  name                     = "direct"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "direct"
  parameters = {{
    vpc_id        = "vpc-1"
    instance_type = "ecs.g7.large"
    password      = var.pw
  }}
  execute = true
}}

plan "via_local" {{
  name                     = "via-local"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "via-local"
  parameters = {{
    vpc_id        = "vpc-1"
    instance_type = "ecs.g7.large"
    password      = local.dsn
  }}
  execute = true
}}

plan "counted" {{
  count                    = 2
  name                     = "counted-${{count.index}}"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "counted-${{count.index}}"
  parameters = {{
    vpc_id        = "vpc-1"
    instance_type = "ecs.g7.large"
    password      = "${{local.wrapped}}#${{count.index}}"
  }}
  execute = true
}}

plan "each" {{
  for_each                 = {{ a = "x", b = "y" }}
  name                     = "each-${{each.key}}"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "each-${{each.key}}"
  parameters = {{
    vpc_id        = "vpc-1"
    instance_type = "ecs.g7.large"
    password      = format("%s-%s:%s", each.key, each.value, var.pw)
  }}
  execute = true
}}

plan "from_env" {{
  name                     = "from-env"
  product_id               = "prod-sbxecs0000001"
  product_version_id       = "pv-sbxecs0000002"
  provisioned_product_name = "from-env"
  parameters = {{
    vpc_id        = "vpc-1"
    instance_type = "ecs.g7.large"
    password      = env("DEPLOY_SALT")
  }}
  execute = true
}}

output "dsn" {{
  value     = local.dsn
  sensitive = true
}}

output "first" {{
  value     = var.pw == "" ? "none" : var.pw
  sensitive = true
}}
"#
    )
}

/// A workspace on its own server, and everything its runs printed.
struct Probe {
    w: Workspace,
    _server: Served,
    encryption: Vec<(&'static str, String)>,
    secret: String,
    printed: String,
    /// The state file as it was while the plans were applied (before the final destroy).
    applied_state: String,
}

impl Probe {
    fn new(encryption: &[(&'static str, &str)]) -> Probe {
        let server = serve(&[]);
        let w = Workspace::new();
        w.write("main.hcl", &manifest(&server.endpoint));
        Probe {
            w,
            _server: server,
            encryption: encryption
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect(),
            secret: SECRET.into(),
            printed: String::new(),
            applied_state: String::new(),
        }
    }

    /// Runs planform with the secret in the environment only (never on the command line), the
    /// cloud's credentials, the encryption settings and trace logs to a file in the workspace.
    fn run(&mut self, args: &[&str], code: i32) -> Run {
        let mut c = self.w.alibaba_command(args);
        c.env("PLANFORM_VAR_pw", &self.secret)
            .env("DEPLOY_SALT", &self.secret)
            .env("PLANFORM_LOG", "trace")
            .env("PLANFORM_LOG_PATH", self.w.path().join("planform.log"));
        for (k, v) in &self.encryption {
            c.env(k, v);
        }
        let run = Run::from(c.output().expect("planform runs")).expect(code);
        crate::schema::check(args, &run.stdout);
        self.printed
            .push_str(&format!("$ {args:?}\n{}{}", run.stdout, run.stderr));
        run
    }

    /// Every command a user runs on this workspace, outputs kept.
    fn run_everything(&mut self, plan_file_saved: bool) {
        for f in ["text", "json"] {
            self.run(&["validate", "--format", f], 0);
        }
        for f in ["text", "json", "markdown"] {
            self.run(&["plan", "--format", f], 0);
        }
        let out = self.run(
            &["plan", "--out", "first.plan"],
            if plan_file_saved { 0 } else { 1 },
        );
        if plan_file_saved {
            self.run(&["show", "first.plan"], 0);
            self.run(&["show", "first.plan", "--format", "json"], 0);
            self.run(&["apply", "first.plan"], 0);
        } else {
            assert!(
                out.stderr.contains("error: the plan was not saved to first.plan: it holds sensitive values (plan.counted[0].parameters[\"password\"], plan.counted[1].parameters[\"password\"], plan.direct.parameters[\"password\"], plan.each[\"a\"].parameters[\"password\"]"),
                "{}",
                out.stderr
            );
            assert!(
                out.stderr.contains("turn on encryption (set PLANFORM_ENCRYPTION_KEY or PLANFORM_ENCRYPTION_PASSPHRASE"),
                "{}",
                out.stderr
            );
            assert!(
                !self.w.path().join("first.plan").exists(),
                "nothing written"
            );
            self.run(&["apply", "--auto-approve", "--format", "json"], 0);
        }
        self.run(&["plan", "--detailed-exitcode"], 0);
        let cached = self.run(&["plan", "--refresh=false", "--detailed-exitcode"], 0);
        let unverified = cached
            .stderr
            .contains("Sensitive values taken as unchanged");
        assert_eq!(unverified, !plan_file_saved, "{}", cached.stderr);
        self.run(&["plan", "--refresh=false", "--format", "json"], 0);
        for f in ["text", "json"] {
            self.run(&["show", "--format", f], 0);
            self.run(&["output", "--format", f], 0);
        }
        self.run(&["output", "dsn"], 0);
        let listed = self.run(&["state", "list"], 0).stdout;
        for address in listed.lines() {
            let shown = self.run(&["state", "show", address], 0).stdout;
            assert!(
                shown.contains("parameters[\"password\"] = (sensitive value)"),
                "{shown}"
            );
        }
        self.run(&["state", "pull"], 0);
        for f in ["text", "json", "markdown"] {
            self.run(&["drift", "--format", f], 0);
        }
        self.run(&["graph"], 0);

        // A new secret: the change shows, masked, and applies.
        self.secret = ROTATED.into();
        let changed = self.run(&["plan", "--detailed-exitcode"], 2).stdout;
        assert!(
            changed.contains("~ parameters[\"password\"] = (sensitive value) -> (sensitive value)")
                || changed.contains("password") && changed.contains("(sensitive value)"),
            "{changed}"
        );
        if plan_file_saved {
            self.run(&["plan", "--out", "second.plan"], 0);
            self.run(&["apply", "second.plan"], 0);
        } else {
            self.run(&["plan", "--out", "second.plan"], 1);
            self.run(&["apply", "--auto-approve"], 0);
        }
        self.run(&["plan", "--detailed-exitcode"], 0);
        self.applied_state = self.w.read(".planform/state.json");
        self.run(&["destroy", "--auto-approve"], 0);
    }

    /// Asserts that neither secret, nor its SHA-256 (alone or salted with the state's lineage,
    /// as older planforms stored it), appears in anything printed or in any file under the
    /// workspace.
    fn assert_nothing_recoverable(&self) {
        let mut haystacks = vec![("(printed)".to_string(), self.printed.clone())];
        files(self.w.path(), &mut haystacks);
        assert!(
            haystacks.iter().any(|(p, _)| p.ends_with("planform.log")),
            "the logs were written"
        );
        assert!(
            haystacks
                .iter()
                .any(|(p, _)| p.ends_with(".planform/state.json")),
            "the state was written"
        );
        let lineages: Vec<String> = self
            .printed
            .split("\"lineage\": \"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(str::to_string)
            .collect();
        assert!(!lineages.is_empty(), "state pull printed the lineage");
        for secret in [SECRET, ROTATED] {
            let mut needles = vec![
                secret.to_string(),
                hex::encode(Sha256::digest(secret)),
                base64(secret),
            ];
            for l in &lineages {
                needles.push(hex::encode(Sha256::digest(format!("{l}\0{secret}"))));
            }
            for (path, text) in &haystacks {
                for n in &needles {
                    assert!(!text.contains(n.as_str()), "{path} holds {n}:\n{text}");
                }
            }
        }
    }
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Every file under `dir`, as text (lossy).
fn files(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            let bytes = std::fs::read(&p).unwrap();
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into(),
            ));
        }
    }
}

#[test]
fn issue_16_no_output_or_file_holds_a_sensitive_value_with_encryption_off() {
    let mut p = Probe::new(&[]);
    p.run_everything(false);
    p.assert_nothing_recoverable();
    // Plaintext: the parameter is known to be sensitive and set, and nothing else of it.
    let state = &p.applied_state;
    assert!(
        state.contains("\"sensitive_parameters\": [\n        \"password\""),
        "{state}"
    );
    assert!(!state.contains("\"password\": \""), "{state}");
}

#[test]
fn issue_16_no_output_or_file_holds_a_sensitive_value_with_encryption_on() {
    let mut p = Probe::new(&[("PLANFORM_ENCRYPTION_PASSPHRASE", PASSPHRASE)]);
    p.run_everything(true);
    p.assert_nothing_recoverable();
    let state = &p.applied_state;
    assert!(state.starts_with("{\"planform_encryption\":1,"), "{state}");
    assert!(p
        .w
        .read("first.plan")
        .starts_with("{\"planform_encryption\":1,"));
}

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn with_env(w: &Workspace, args: &[&str], env: &[(&str, &str)], code: i32) -> Run {
    let mut c = w.command(args);
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().expect("planform runs")).expect(code)
}

/// Issue 16 (5): turning encryption on, rotating the key and turning it off are explicit; a
/// wrong or missing key, or a malformed one, is exit 1 with an error naming the file or the
/// variable (never the key), and the state is left byte for byte as it was.
#[test]
fn issue_16_encryption_is_turned_on_rotated_and_off_explicitly_and_a_wrong_key_loses_nothing() {
    let w = Workspace::example("quickstart");
    w.run(&["apply", "--auto-approve"]).expect(0);
    let state = w.path().join(".planform/state.json");
    let plaintext = std::fs::read(&state).unwrap();
    let on = [("PLANFORM_ENCRYPTION_KEY", KEY_A)];

    // A key alone does not read a plaintext state: the error says how to migrate.
    let e = with_env(&w, &["plan"], &on, 1).stderr;
    assert!(
        e.contains("state.json is not encrypted, but encryption is on (PLANFORM_ENCRYPTION_KEY is set): to read it and write it back encrypted, run once with PLANFORM_ENCRYPTION_MIGRATE=encrypt"),
        "{e}"
    );
    assert_eq!(std::fs::read(&state).unwrap(), plaintext, "untouched");
    // A malformed key names the variable and the rule.
    let e = with_env(&w, &["plan"], &[("PLANFORM_ENCRYPTION_KEY", "c2hvcnQ=")], 1).stderr;
    assert!(
        e.contains("PLANFORM_ENCRYPTION_KEY is not usable: must be 32 bytes in base64"),
        "{e}"
    );

    // Migration: one run that takes the lock rewrites the state encrypted.
    with_env(
        &w,
        &["plan"],
        &[
            ("PLANFORM_ENCRYPTION_KEY", KEY_A),
            ("PLANFORM_ENCRYPTION_MIGRATE", "encrypt"),
        ],
        0,
    );
    let sealed = std::fs::read_to_string(&state).unwrap();
    assert!(
        sealed.starts_with("{\"planform_encryption\":1,"),
        "{sealed}"
    );
    assert!(!sealed.contains("plan.network"));
    let plan = with_env(&w, &["plan", "--detailed-exitcode"], &on, 0).stdout;
    assert!(plan.contains("No changes."), "{plan}");
    let pulled = with_env(&w, &["state", "pull"], &on, 0).stdout;
    assert!(pulled.contains("\"plan.network\""), "pull prints plaintext");

    // Without the key, or with another one: exit 1 naming the file, nothing changed.
    for env in [vec![], vec![("PLANFORM_ENCRYPTION_KEY", KEY_B)]] {
        let e = with_env(&w, &["apply", "--auto-approve"], &env, 1).stderr;
        assert!(
            e.contains(".planform/state.json is encrypted, but no encryption key is set")
                || e.contains(".planform/state.json was encrypted with a key (key id "),
            "{e}"
        );
        assert!(!e.contains(KEY_A) && !e.contains(KEY_B), "{e}");
        assert_eq!(std::fs::read_to_string(&state).unwrap(), sealed);
    }

    // A plan file made with the key is encrypted and needs it.
    let plan_file = w.path().join("next.plan");
    let p = plan_file.to_str().unwrap();
    w.edit(
        "main.hcl",
        "cidr_block = \"10.0.0.0/16\"",
        "cidr_block = \"10.9.0.0/16\"",
    );
    with_env(&w, &["plan", "--out", p], &on, 0);
    assert!(std::fs::read_to_string(&plan_file)
        .unwrap()
        .starts_with("{\"planform_encryption\":1,"));
    let e = with_env(&w, &["show", p], &[], 1).stderr;
    assert!(
        e.contains("plan file")
            && e.contains("next.plan is encrypted, but no encryption key is set"),
        "{e}"
    );

    // Rotation: the new key writes, the old one reads as the fallback; then the new one alone.
    let rotating = [
        ("PLANFORM_ENCRYPTION_PASSPHRASE", PASSPHRASE),
        ("PLANFORM_ENCRYPTION_KEY_FALLBACK", KEY_A),
    ];
    with_env(&w, &["apply", p], &rotating, 0);
    let rotated = std::fs::read_to_string(&state).unwrap();
    assert!(rotated.contains("\"kdf\":\"pbkdf2-sha256\""), "{rotated}");
    let new_only = [("PLANFORM_ENCRYPTION_PASSPHRASE", PASSPHRASE)];
    with_env(&w, &["plan", "--detailed-exitcode"], &new_only, 0);

    // Off again, explicitly: plaintext, readable without a key.
    with_env(
        &w,
        &["plan"],
        &[
            ("PLANFORM_ENCRYPTION_PASSPHRASE", PASSPHRASE),
            ("PLANFORM_ENCRYPTION_MIGRATE", "decrypt"),
        ],
        0,
    );
    let plain = w.read(".planform/state.json");
    assert!(plain.contains("\"plan.network\""), "{plain}");
    w.run(&["plan", "--detailed-exitcode"]).expect(0);
}

/// A whole-state rewrite through `state pull`, an edit and `state push` works with encryption
/// on (the pulled file is plaintext by design) and keeps the sensitive values the encrypted
/// state held for the plans it keeps (found by a second trial: the push was refused, and with
/// a migration it dropped every stored sensitive value).
#[test]
fn a_pull_edit_push_round_trip_keeps_an_encrypted_states_sensitive_values() {
    let w = Workspace::new();
    w.write(
        "main.hcl",
        r#"
variable "cidr" {
  type      = string
  sensitive = true
  default   = "10.42.0.0/16"
}

plan "net" {
  name                     = "net"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "net"
  parameters               = { cidr_block = var.cidr }
  execute                  = true
}
"#,
    );
    let on = [("PLANFORM_ENCRYPTION_KEY", KEY_A)];
    with_env(&w, &["apply", "--auto-approve"], &on, 0);
    let quiet = with_env(&w, &["plan", "--refresh=false"], &on, 0);
    assert!(
        !quiet.stderr.contains("cannot be compared"),
        "{}",
        quiet.stderr
    );
    let pulled = with_env(&w, &["state", "pull"], &on, 0).stdout;
    let mut doc: serde_json::Value = serde_json::from_str(&pulled).unwrap();
    doc["serial"] = serde_json::json!(doc["serial"].as_u64().unwrap() + 1);
    w.write("edited.json", &doc.to_string());
    with_env(&w, &["state", "push", "edited.json"], &on, 0);
    let after = with_env(
        &w,
        &["plan", "--refresh=false", "--detailed-exitcode"],
        &on,
        0,
    );
    assert!(
        !after.stderr.contains("cannot be compared"),
        "the encrypted state still holds the value: {}",
        after.stderr
    );
}
