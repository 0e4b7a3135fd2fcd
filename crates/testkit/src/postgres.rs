//! A throwaway PostgreSQL server: `initdb` + `pg_ctl` in a temporary directory on a free loopback
//! port, run as `nobody` when the caller runs as root (initdb refuses root), stopped (and its
//! directory removed) on drop. A variable ([`TEST_URL_VAR`] for the tests) may name an existing
//! server instead ([`Postgres::named_by_or_throwaway`]). A machine without PostgreSQL fails with
//! a message pointing at `scripts/setup-postgres`.
//!
//! initdb runs once per set of binaries and [`Durability`]: its data directory is kept as a
//! template in cargo's `target/tmp` and copied for each server, which starts much faster than a
//! new initdb.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// What the server promises about a crash, and what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Durability {
    /// fsync and full-page writes off, 1 MB WAL segments (less to copy per server): a crash may
    /// lose data, which a throwaway server never keeps. Fast: the tests' choice.
    NoFsync,
    /// fsync and full-page writes on, 16 MB WAL segments: PostgreSQL as users run it. The
    /// benchmarks' choice, since what they measure is the cost of durable writes.
    Fsync,
}

impl Durability {
    fn wal_segment_mb(self) -> u32 {
        match self {
            Durability::NoFsync => 1,
            Durability::Fsync => 16,
        }
    }
}

/// How a throwaway server is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub durability: Durability,
    /// Also speak TLS, with a certificate for `localhost` and `127.0.0.1` issued by a test CA
    /// ([`Postgres::authorities`]). Needs the `openssl` command.
    pub tls: bool,
}

impl Options {
    /// No fsync, no TLS: what most tests want.
    pub const TESTS: Options = Options {
        durability: Durability::NoFsync,
        tls: false,
    };
}

/// The variable that names a server the tests share instead of starting their own (those that
/// do not stop and start the server themselves).
pub const TEST_URL_VAR: &str = "PLANFORM_TEST_PG_URL";

/// A PostgreSQL server for one test or benchmark run.
pub struct Postgres {
    conn_str: String,
    local: Option<Local>,
}

/// A server this process started and controls.
struct Local {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_nobody: bool,
    options: Options,
}

impl Postgres {
    /// The server the environment variable `var` names by its connection string, else a new
    /// throwaway one set up as `options` say.
    pub fn named_by_or_throwaway(var: &str, options: Options) -> Postgres {
        match std::env::var(var) {
            Ok(url) if !url.trim().is_empty() => Postgres {
                conn_str: url,
                local: None,
            },
            _ => Postgres::throwaway_or_advise(options, Some(var)),
        }
    }

    /// The tests' server: the one [`TEST_URL_VAR`] names, else a new throwaway one without fsync.
    pub fn for_tests() -> Postgres {
        Postgres::named_by_or_throwaway(TEST_URL_VAR, Options::TESTS)
    }

    /// A new throwaway server without fsync, whatever the environment says (for a test that
    /// stops and starts it).
    pub fn throwaway() -> Postgres {
        Postgres::throwaway_with(Options::TESTS)
    }

    /// A new throwaway server set up as `options` say, whatever the environment says.
    pub fn throwaway_with(options: Options) -> Postgres {
        Postgres::throwaway_or_advise(options, None)
    }

    fn throwaway_or_advise(options: Options, var: Option<&str>) -> Postgres {
        let bin = server_binaries().unwrap_or_else(|| {
            let or_var = var
                .map(|v| format!(" (or set {v} to a server's connection string)"))
                .unwrap_or_default();
            panic!(
                "PostgreSQL's initdb and pg_ctl were not found on PATH, in /usr/lib/postgresql/*/bin \
                 or in /usr/local/bin: run scripts/setup-postgres to install them{or_var}"
            )
        });
        let as_nobody = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("planform-pg-")
            .tempdir()
            .expect("a temporary directory");
        if as_nobody {
            // initdb refuses to run as root: the server runs as nobody, in a directory it owns.
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY))
                .expect("chown the server's directory to nobody");
        }
        let port = crate::free_port();
        let local = Local {
            dir,
            bin,
            port,
            as_nobody,
            options,
        };
        if options.tls {
            make_certificates(&local);
        }
        let copied = Command::new("cp")
            .arg("-a")
            .arg(template(&local))
            .arg(local.data())
            .status()
            .expect("run cp");
        assert!(
            copied.success(),
            "cp -a of the template data directory failed"
        );
        let pg = Postgres {
            conn_str: format!(
                "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable"
            ),
            local: Some(local),
        };
        pg.start_again();
        pg
    }

    /// The connection string (`sslmode=disable`, no password): `PG_CONN_STR` for the CLI.
    pub fn conn_str(&self) -> &str {
        &self.conn_str
    }

    /// The connection string with other options in place of `sslmode=disable`.
    pub fn conn_str_with(&self, options: &str) -> String {
        self.conn_str.replace("sslmode=disable", options)
    }

    /// The CA that issued a TLS server's certificate, and another CA that did not.
    pub fn authorities(&self) -> (PathBuf, PathBuf) {
        let l = self.local();
        assert!(l.options.tls, "this server was started without TLS");
        let dir = l.dir.path();
        (dir.join("ca.pem"), dir.join("other-ca.pem"))
    }

    fn local(&self) -> &Local {
        self.local
            .as_ref()
            .expect("this test controls the server: start it with Postgres::throwaway")
    }

    /// Stops the server (fast shutdown: sessions are ended).
    pub fn stop(&self) {
        self.local().pg_ctl_stop("fast");
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`): sessions are cut
    /// and the next start recovers from the WAL.
    pub fn stop_immediately(&self) {
        self.local().pg_ctl_stop("immediate");
    }

    /// Starts the (stopped) server again on the same port; returns once it accepts connections.
    pub fn start_again(&self) {
        let l = self.local();
        let dir = l.dir.path();
        let mut server_options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            l.port,
            dir.display()
        );
        if l.options.durability == Durability::NoFsync {
            server_options.push_str(" -c fsync=off -c full_page_writes=off");
        }
        if l.options.tls {
            server_options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            ));
        }
        l.run(
            "pg_ctl",
            &[
                "-D",
                text(&l.data()),
                "-l",
                text(&dir.join("server.log")),
                "-o",
                &server_options,
                "-w",
                "start",
            ],
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(l) = &self.local {
            // Immediate: the directory is removed next, nothing needs to be kept. A failure is
            // not reported: drop may run while a test is already failing.
            let _ = l
                .command("pg_ctl")
                .args(["-D", text(&l.data()), "-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

/// The uid and gid of `nobody`.
const NOBODY: u32 = 65534;

impl Local {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl_stop(&self, mode: &str) {
        self.run(
            "pg_ctl",
            &["-D", text(&self.data()), "-m", mode, "-w", "stop"],
        );
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        let mut c = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.current_dir(self.dir.path());
        c
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out: Output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                let how = if self.as_nobody {
                    "as nobody through setpriv"
                } else {
                    "directly"
                };
                panic!("cannot run {program} {how}: {e}; run scripts/setup-postgres")
            });
        if !out.status.success() {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            panic!(
                "{program} {args:?} failed ({}):\n{}\n{}\nserver log:\n{log}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The data directory initdb made for `l`'s binaries and WAL segment size, made on first use:
/// initdb runs in `l`'s temporary directory (as `nobody` under root), and the result is moved
/// into the cache directory, where other test processes find it.
fn template(l: &Local) -> PathBuf {
    static MADE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let mut made_here = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let key: String = l
        .bin
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let segment_mb = l.options.durability.wal_segment_mb();
    let root = cache_dir();
    let made = root.join(format!("pg-template{key}-wal{segment_mb}"));
    if made_here.contains(&made) || made.join("PG_VERSION").is_file() {
        return made;
    }
    let data = l.dir.path().join("template");
    l.run(
        "initdb",
        &[
            "-D",
            text(&data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
            &format!("--wal-segsize={segment_mb}"),
        ],
    );
    std::fs::create_dir_all(&root)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
    let staged = root.join(format!(
        "pg-template{key}-wal{segment_mb}.tmp-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staged);
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(&staged)
        .status()
        .expect("run cp");
    assert!(copied.success(), "cp -a of the new template failed");
    // Another test process may have made it meanwhile: either one will do.
    if std::fs::rename(&staged, &made).is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    let _ = std::fs::remove_dir_all(&data);
    made_here.push(made.clone());
    made
}

/// Where templates are kept across runs: `tmp/` of the cargo target directory the running test
/// or benchmark was built in (cargo's `CARGO_TARGET_TMPDIR`, which only integration tests and
/// benchmarks see at compile time: their executables are `<target>/<profile>/deps/<name>`), else
/// the system's temporary directory.
fn cache_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    exe.as_deref()
        .and_then(Path::parent)
        .filter(|deps| deps.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|target| target.join("tmp"))
        .unwrap_or_else(|| std::env::temp_dir().join("planform-testkit"))
}

/// A test CA, a server certificate it issues for localhost and 127.0.0.1 (P-256 keys), and a
/// second CA, made with the openssl command in the server's directory.
fn make_certificates(l: &Local) {
    let dir = l.dir.path();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}): a TLS server's certificates are made with it; install it (apt-get install openssl)")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other-ca"] {
        let (key, pem, subject) = (
            format!("{ca}.key"),
            format!("{ca}.pem"),
            format!("/CN=planform test {ca}"),
        );
        let mut args = vec![
            "req", "-x509", "-days", "2", "-subj", &subject, "-keyout", &key, "-out", &pem,
        ];
        args.extend(ec);
        openssl(&args);
    }
    let mut args = vec![
        "req",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ];
    args.extend(ec);
    openssl(&args);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write server.ext");
    openssl(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    // The server reads its key only when its owner alone may.
    let key = dir.join("server.key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600 server.key");
    if l.as_nobody {
        for f in ["server.key", "server.crt"] {
            std::os::unix::fs::chown(dir.join(f), Some(NOBODY), Some(NOBODY))
                .expect("chown the server's certificate to nobody");
        }
    }
}

fn text(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn running_as_root() -> bool {
    // The effective uid, as the kernel reports it (no libc needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The directory holding both `initdb` and `pg_ctl`: on PATH, the newest
/// `/usr/lib/postgresql/*/bin`, or `/usr/local/bin`.
fn server_binaries() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versioned.sort();
    on_path
        .into_iter()
        .chain(versioned.into_iter().rev().map(|(_, p)| p))
        .chain([PathBuf::from("/usr/local/bin")])
        .find(|d| has_both(d))
        .map(|d| {
            // /usr/local/bin/initdb may be a link into the versioned directory: use that one.
            d.join("initdb")
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|real| has_both(real))
                .unwrap_or(d)
        })
}
