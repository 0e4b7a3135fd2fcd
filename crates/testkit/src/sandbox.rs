//! `planform sandbox serve` as a child process: its data in a temporary directory, on a free
//! loopback port unless told otherwise, killed (SIGKILL) on drop. It is ready once it announces
//! its address (`listening on http://…` on standard output), which [`Serve::start`] reads; no
//! timer is involved.
//!
//! ```no_run
//! use planform_testkit::sandbox::Serve;
//!
//! // In the planform crate's integration tests: env!("CARGO_BIN_EXE_planform").
//! let server = Serve::new("target/debug/planform")
//!     .access_key("e2eid:e2esecret")
//!     .preview_ms(20)
//!     .execute_ms(40)
//!     .start();
//! println!("point a provider's endpoint at {}", server.endpoint);
//! ```

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the server announces on standard output once it listens.
const ANNOUNCEMENT: &str = "listening on ";

/// How long a restart may wait for its address to be free again (a killed server's socket may
/// linger a moment): far beyond that moment, so reaching it means something else holds it.
const ADDRESS_FREED_WITHIN: Duration = Duration::from_secs(120);

/// How to start a server: the `planform` binary and the options of `sandbox serve`.
#[derive(Debug, Clone)]
pub struct Serve {
    binary: PathBuf,
    listen: String,
    access_keys: Vec<String>,
    latency_ms: Option<u64>,
    preview_ms: Option<u64>,
    execute_ms: Option<u64>,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
}

impl Serve {
    /// `binary sandbox serve --listen 127.0.0.1:0` with nothing else set (the server's own
    /// defaults; with no access key it makes one and prints it).
    pub fn new(binary: impl Into<PathBuf>) -> Serve {
        Serve {
            binary: binary.into(),
            listen: "127.0.0.1:0".into(),
            access_keys: vec![],
            latency_ms: None,
            preview_ms: None,
            execute_ms: None,
            args: vec![],
            envs: vec![],
        }
    }

    /// Accepts `ID:SECRET` or `ID:SECRET:STS_TOKEN` (`--access-key`; several may be given).
    pub fn access_key(mut self, key: &str) -> Serve {
        self.access_keys.push(key.to_string());
        self
    }

    /// Adds this latency to every answer (`--latency-ms`).
    pub fn latency_ms(mut self, ms: u64) -> Serve {
        self.latency_ms = Some(ms);
        self
    }

    /// A plan's preview takes this long (`--preview-ms`).
    pub fn preview_ms(mut self, ms: u64) -> Serve {
        self.preview_ms = Some(ms);
        self
    }

    /// A plan's execution takes this long (`--execute-ms`).
    pub fn execute_ms(mut self, ms: u64) -> Serve {
        self.execute_ms = Some(ms);
        self
    }

    /// Other options of `sandbox serve`, as given (fault injection, more access keys…).
    pub fn args<S: AsRef<str>>(mut self, args: &[S]) -> Serve {
        self.args
            .extend(args.iter().map(|a| OsString::from(a.as_ref())));
        self
    }

    /// An environment variable for the server (e.g. `PLANFORM_SANDBOX_CREDENTIALS_TTL_SECONDS`).
    pub fn env(mut self, name: &str, value: &str) -> Serve {
        self.envs.push((name.into(), value.into()));
        self
    }

    /// Starts the server over a new, empty data directory; returns once it listens.
    #[track_caller]
    pub fn start(self) -> Served {
        let dir = tempfile::Builder::new()
            .prefix("planform-sandbox-")
            .tempdir()
            .expect("a temporary directory");
        match self.spawn(dir.path()) {
            Ok((child, endpoint)) => Served {
                child,
                endpoint,
                dir,
                serve: self,
            },
            Err(refused) => panic!("{refused}"),
        }
    }

    /// The server's command line, over the data in `dir`.
    fn command(&self, dir: &Path) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(["sandbox", "serve", "--listen", &self.listen]);
        for key in &self.access_keys {
            c.args(["--access-key", key]);
        }
        for (flag, ms) in [
            ("--latency-ms", self.latency_ms),
            ("--preview-ms", self.preview_ms),
            ("--execute-ms", self.execute_ms),
        ] {
            if let Some(ms) = ms {
                c.args([flag, &ms.to_string()]);
            }
        }
        c.arg("--data").arg(dir.join("data")).args(&self.args);
        c.envs(self.envs.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Starts the server and reads its announcement: the child and its endpoint, or why it
    /// stopped without listening (its exit status and standard error).
    fn spawn(&self, dir: &Path) -> Result<(Child, String), NotListening> {
        let stderr_path = dir.join("stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        let mut child = self
            .command(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} sandbox serve: {e} (build it first: cargo build -p planform)",
                    self.binary.display()
                )
            });
        let mut said = String::new();
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        loop {
            let mut line = String::new();
            let read = match out.read_line(&mut line) {
                Ok(read) => read,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("cannot read what sandbox serve says: {e}");
                }
            };
            if let Some(address) = line.trim().strip_prefix(ANNOUNCEMENT) {
                return Ok((child, address.to_string()));
            }
            said.push_str(&line);
            if read == 0 {
                let status = child.wait().expect("wait for the server");
                return Err(NotListening {
                    command: format!("{:?}", self.command(dir)),
                    status: status.to_string(),
                    stdout: said,
                    stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
                });
            }
        }
    }
}

/// A server that stopped before it listened.
struct NotListening {
    command: String,
    status: String,
    stdout: String,
    stderr: String,
}

impl NotListening {
    /// Its address was taken: another process listens there (for now).
    fn address_in_use(&self) -> bool {
        self.stderr.contains("Address already in use") || self.stderr.contains("AddrInUse")
    }
}

impl std::fmt::Display for NotListening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sandbox serve stopped without listening ({}): {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.command, self.stdout, self.stderr
        )
    }
}

/// A running `sandbox serve`, killed when dropped.
pub struct Served {
    child: Child,
    /// Where it listens: `http://127.0.0.1:PORT`.
    pub endpoint: String,
    dir: tempfile::TempDir,
    serve: Serve,
}

impl Served {
    /// The server's data directory (its databases), kept until this is dropped.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Kills the server (SIGKILL, as a crash would); its data stays, at the path returned.
    /// Killing a stopped server does nothing.
    pub fn stop(&mut self) -> PathBuf {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.data()
    }

    /// Kills the server if it runs, and starts a new one over the same data at the same
    /// endpoint (a plan is where it was made: another endpoint is another place to planform),
    /// once the killed one's address is free.
    #[track_caller]
    pub fn restart(&mut self) {
        self.stop();
        let address = self.endpoint.trim_start_matches("http://").to_string();
        let again = Serve {
            listen: address.clone(),
            ..self.serve.clone()
        };
        let deadline = Instant::now() + ADDRESS_FREED_WITHIN;
        loop {
            match again.spawn(self.dir.path()) {
                Ok((child, endpoint)) => {
                    assert_eq!(endpoint, self.endpoint, "the restarted server moved");
                    self.child = child;
                    return;
                }
                Err(refused) if refused.address_in_use() && Instant::now() < deadline => {
                    std::thread::yield_now();
                }
                Err(refused) => panic!("restarting on {address}: {refused}"),
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            // What the server said, for the failing test's output.
            let stderr =
                std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default();
            if !stderr.is_empty() {
                eprintln!("--- sandbox serve at {} said:\n{stderr}", self.endpoint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A stand-in for `planform`: a shell script that records its arguments and environment,
    /// says `before` on standard output, then either announces `listening on ADDRESS` and waits
    /// (until killed), or says `stderr` and exits 1 when `ADDRESS` is empty.
    fn fake_planform(dir: &Path, before: &str, address: &str, stderr: &str) -> PathBuf {
        let script = dir.join("planform");
        let announce = if address.is_empty() {
            format!("echo '{stderr}' >&2\nexit 1")
        } else {
            format!("echo 'listening on {address}'\nexec tail -f /dev/null")
        };
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" > '{args}'\necho \"$FAKE_SETTING\" > '{env}'\nprintf '{before}'\n{announce}\n",
                args = dir.join("args").display(),
                env = dir.join("env").display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    #[test]
    fn start_reads_the_announced_address_and_passes_every_option_once() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_planform(
            dir.path(),
            "access key: generated:secret\\n",
            "http://127.0.0.1:4567",
            "",
        );
        let mut served = Serve::new(&bin)
            .access_key("a:b")
            .access_key("c:d:token")
            .execute_ms(10)
            .execute_ms(3000)
            .preview_ms(20)
            .latency_ms(5)
            .args(&["--fail-rate", "0.2"])
            .env("FAKE_SETTING", "on")
            .start();
        assert_eq!(served.endpoint, "http://127.0.0.1:4567");
        let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
        assert_eq!(
            args.trim(),
            format!(
                "sandbox serve --listen 127.0.0.1:0 --access-key a:b --access-key c:d:token \
                 --latency-ms 5 --preview-ms 20 --execute-ms 3000 --data {} --fail-rate 0.2",
                served.data().display()
            )
        );
        let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
        assert_eq!(env.trim(), "on");
        let data = served.stop();
        assert_eq!(data, served.data());
        assert!(served.child.try_wait().unwrap().is_some(), "stopped");
    }

    #[test]
    fn a_server_that_stops_without_listening_is_a_failure_with_what_it_said() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_planform(dir.path(), "", "", "error: cannot listen on 127.0.0.1:9");
        let Err(failed) = std::panic::catch_unwind(|| Serve::new(&bin).start()) else {
            panic!("a server that said nothing started");
        };
        let message = failed.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("sandbox serve stopped without listening (exit status: 1)")
                && message.contains("--- stderr\nerror: cannot listen on 127.0.0.1:9"),
            "{message}"
        );
    }

    #[test]
    fn only_a_taken_address_is_worth_waiting_for() {
        let refused = |stderr: &str| NotListening {
            command: String::new(),
            status: String::new(),
            stdout: String::new(),
            stderr: stderr.into(),
        };
        assert!(refused(
            "error: cannot listen on 127.0.0.1:4567\n\nCaused by:\n    Address already in use (os error 98)"
        )
        .address_in_use());
        assert!(!refused("error: --fail-rate must be from 0 to 1, got 2").address_in_use());
    }
}
