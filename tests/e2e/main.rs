//! End-to-end tests: the real `planform` binary against the embedded sandbox, with scenario
//! steps compared with expected exit codes and output. Regression tests are named `issue_<n>`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Instant;

use planform_state::{Backend, LockInfo};
use planform_testkit::sandbox::Serve;

mod apply;
mod cli;
mod corpus;
mod credentials;
mod diagnostics;
mod drift;
mod format;
mod pg;
mod planfile;
mod recipes;
mod restart;
mod schema;
mod sensitive;
mod server;
mod state;
mod throttle;

/// A scratch manifest directory.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace::new()
    }
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A workspace holding a copy of `examples/NAME`.
    pub fn example(name: &str) -> Workspace {
        let w = Workspace::new();
        let src = repo().join("examples").join(name);
        for e in std::fs::read_dir(&src).expect("example exists") {
            let e = e.unwrap();
            if e.path().is_file() {
                std::fs::copy(e.path(), w.path().join(e.file_name())).unwrap();
            }
        }
        w
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap()
    }

    pub fn edit(&self, name: &str, from: &str, to: &str) {
        let text = self.read(name);
        assert!(text.contains(from), "{name} does not contain {from:?}");
        self.write(name, &text.replace(from, to));
    }

    /// Runs `planform -C DIR args…` with no terminal and fast sandbox timings. With
    /// `--format json`, every line (or document) it prints must validate against the committed
    /// JSON Schema (`docs/schema/`).
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("planform runs");
        let run = Run::from(out);
        schema::check(args, &run.stdout);
        run
    }

    /// [`Workspace::command`] with the Alibaba credentials of [`sandbox`]'s key.
    pub fn alibaba_command(&self, args: &[&str]) -> Command {
        let mut c = self.command(args);
        with_sandbox_key(&mut c, self.path());
        c
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_planform"));
        // Run from the workspace, as a user would: relative paths (`--out F`) land there.
        c.current_dir(self.path());
        c.arg("-C").arg(self.path()).args(args);
        c.env("CI", "true")
            .env("NO_COLOR", "1")
            .env("PLANFORM_SANDBOX_PREVIEW_MS", "20")
            .env("PLANFORM_SANDBOX_EXECUTE_MS", "40");
        c.stdin(std::process::Stdio::null());
        c
    }
}

/// `planform sandbox serve` as these tests run it: the key `e2eid:e2esecret`, previews of 20 ms
/// and executions of 40 ms (the timings [`Workspace::command`] gives the embedded sandbox).
pub fn sandbox() -> Serve {
    Serve::new(env!("CARGO_BIN_EXE_planform"))
        .access_key("e2eid:e2esecret")
        .preview_ms(20)
        .execute_ms(40)
}

/// Gives `c` the Alibaba credentials of [`sandbox`]'s key, and `home` as its home directory
/// (so that no credential file of the caller's is read).
pub fn with_sandbox_key<'c>(c: &'c mut Command, home: &Path) -> &'c mut Command {
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "e2eid")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "e2esecret")
        .env("HOME", home)
}

/// A `provider "alibaba"` block pointed at a served sandbox's `endpoint`, with the client's
/// retries capped at `max_retries`.
pub fn alibaba_provider(endpoint: &str, max_retries: u32) -> String {
    format!(
        r#"
provider "alibaba" {{
  region      = "cn-hangzhou"
  endpoint    = "{endpoint}"
  max_retries = {max_retries}
}}
"#
    )
}

/// A `provider "aws"` block pointed at a served sandbox's `endpoint`.
pub fn aws_provider(endpoint: &str) -> String {
    format!(
        r#"
provider "aws" {{
  region   = "us-east-1"
  endpoint = "{endpoint}"
}}
"#
    )
}

/// `plan.bucket`: one executed VPC plan named `logs` through the `aws` provider at a served
/// sandbox's `endpoint`, with the attribute lines `more` (e.g. tags) before `execute`.
pub fn aws_bucket(endpoint: &str, more: &str) -> String {
    format!(
        r#"{provider}
plan "bucket" {{
  name                     = "logs"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "logs"
  parameters               = {{ cidr_block = "10.0.0.0/16" }}
{more}  execute                  = true
}}
"#,
        provider = aws_provider(endpoint)
    )
}

/// `plan "LABEL"` with `count` executed VPC plans, named `PREFIX0`, `PREFIX1`…, the plan of
/// index N on CIDR 10.N.0.0/16.
pub fn counted_vpcs(label: &str, prefix: &str, count: usize) -> String {
    format!(
        r#"
plan "{label}" {{
  count                    = {count}
  name                     = "{prefix}${{count.index}}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "{prefix}${{count.index}}"
  parameters               = {{ cidr_block = "10.${{count.index}}.0.0/16" }}
  execute                  = true
}}
"#
    )
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A runtime for the tests' own reads of a backend.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Waits (polling `backend`, not a timer) until the running `child` holds its lock and has named
/// itself; returns the holder as stored.
pub fn wait_until_locked_by(
    rt: &tokio::runtime::Runtime,
    backend: &dyn Backend,
    child: &mut Child,
) -> LockInfo {
    let started = Instant::now();
    loop {
        if let Some(h) = rt.block_on(backend.holder()).unwrap() {
            if h.pid == child.id() {
                return h;
            }
        }
        assert!(
            started.elapsed().as_secs() < 60,
            "the first apply never locked"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first apply ended early"
        );
        std::thread::yield_now();
    }
}

/// JSON lines with their `@timestamp` replaced, for snapshots.
pub fn without_timestamps(lines: &str) -> String {
    lines
        .lines()
        .map(|l| {
            let mut v: serde_json::Value =
                serde_json::from_str(l).expect("one JSON object per line");
            v["@timestamp"] = "(timestamp)".into();
            format!("{v}\n")
        })
        .collect()
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
