//! A throwaway PostgreSQL server for the tests: `initdb` + `pg_ctl` in a temporary directory on a
//! free port, run as `nobody` when the tests run as root (initdb refuses root), stopped and
//! removed on drop. `PLANFORM_TEST_PG_URL` names a server to use instead (for the tests that do
//! not stop and start the server themselves). A machine without PostgreSQL fails with a message
//! pointing at `scripts/setup-postgres`.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The environment variable naming an existing server for the tests.
pub const URL_VAR: &str = "PLANFORM_TEST_PG_URL";

/// A PostgreSQL server for one test.
pub struct Pg {
    conn_str: String,
    local: Option<Local>,
}

struct Local {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_nobody: bool,
    tls: bool,
}

impl Pg {
    /// The server `PLANFORM_TEST_PG_URL` names, or a new local one.
    pub fn start() -> Pg {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Pg {
                conn_str: url,
                local: None,
            },
            _ => Pg::start_local(),
        }
    }

    /// A new local server, whatever the environment says (for tests that stop and start it).
    pub fn start_local() -> Pg {
        Pg::start_local_with(false)
    }

    /// A new local server that speaks TLS too, with a certificate for `localhost` and
    /// `127.0.0.1` issued by a test CA (see [`Pg::tls`]). Needs the `openssl` command.
    pub fn start_local_tls() -> Pg {
        Pg::start_local_with(true)
    }

    /// The CA that issued the TLS server's certificate, and another CA that did not.
    pub fn tls(&self) -> (PathBuf, PathBuf) {
        let dir = self.local().dir.path();
        (dir.join("ca.pem"), dir.join("other-ca.pem"))
    }

    fn start_local_with(tls: bool) -> Pg {
        let bin = find_bin().unwrap_or_else(|| {
            panic!(
                "PostgreSQL's initdb and pg_ctl were not found on PATH, in /usr/lib/postgresql/*/bin \
                 or in /usr/local/bin: run scripts/setup-postgres to install them (or set {URL_VAR} \
                 to a server's connection string)"
            )
        });
        let as_nobody = is_root();
        let dir = tempfile::Builder::new()
            .prefix("planform-pg-")
            .tempdir()
            .expect("a temporary directory");
        if as_nobody {
            // initdb refuses to run as root: the server runs as nobody, in a directory it owns.
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534))
                .expect("chown the server's directory to nobody");
        }
        let port = free_port();
        let local = Local {
            dir,
            bin,
            port,
            as_nobody,
            tls,
        };
        if tls {
            make_certificates(&local);
        }
        // A copy of a data directory made once by initdb (kept in target/tmp across runs) starts
        // much faster than a new initdb for every test.
        let data = local.dir.path().join("data");
        let copied = Command::new("cp")
            .arg("-a")
            .arg(template(&local))
            .arg(&data)
            .status()
            .expect("run cp");
        assert!(
            copied.success(),
            "cp -a of the template data directory failed"
        );
        let pg = Pg {
            conn_str: format!(
                "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable"
            ),
            local: Some(local),
        };
        pg.start_again();
        pg
    }

    /// The connection string (`sslmode=disable`, no password).
    pub fn conn_str(&self) -> &str {
        &self.conn_str
    }

    /// The connection string with other options in place of `sslmode=disable`.
    pub fn conn_str_with(&self, options: &str) -> String {
        self.conn_str.replace("sslmode=disable", options)
    }

    fn local(&self) -> &Local {
        self.local
            .as_ref()
            .expect("this test controls the server: start it with Pg::start_local")
    }

    /// Stops the server (fast shutdown: sessions are ended).
    pub fn stop(&self) {
        let l = self.local();
        l.run(
            "pg_ctl",
            &[
                "-D",
                path(&l.dir.path().join("data")),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`): sessions are cut
    /// and the next start recovers from the WAL.
    pub fn stop_immediately(&self) {
        let l = self.local();
        l.run(
            "pg_ctl",
            &[
                "-D",
                path(&l.dir.path().join("data")),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts the (stopped) server again on the same port.
    pub fn start_again(&self) {
        let l = self.local();
        let dir = l.dir.path();
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            l.port,
            dir.display()
        );
        if l.tls {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            ));
        }
        l.run(
            "pg_ctl",
            &[
                "-D",
                path(&dir.join("data")),
                "-l",
                path(&dir.join("server.log")),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(l) = &self.local {
            // Immediate: the directory is removed next, nothing needs to be kept.
            let _ = l
                .command("pg_ctl")
                .args([
                    "-D",
                    path(&l.dir.path().join("data")),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ])
                .output();
        }
    }
}

impl Local {
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

/// The data directory initdb made for `l`'s binaries, made on first use: initdb runs in a
/// temporary directory (as `nobody` under root), and the result is moved into target/tmp.
fn template(l: &Local) -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let key: String = l
                .bin
                .to_string_lossy()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            let made = root.join(format!("pg-template{key}-wal1"));
            if made.join("PG_VERSION").is_file() {
                return made;
            }
            let data = l.dir.path().join("template");
            l.run(
                "initdb",
                &[
                    "-D",
                    path(&data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    // 1 MB WAL segments instead of 16: less to copy per test.
                    "--wal-segsize=1",
                ],
            );
            std::fs::create_dir_all(&root).expect("create target/tmp");
            let staged = root.join(format!("pg-template{key}.tmp-{}", std::process::id()));
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
            made
        })
        .clone()
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
                panic!("cannot run openssl ({e}): the TLS test makes its certificates with it; install it (apt-get install openssl)")
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
    .unwrap();
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
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    if l.as_nobody {
        for f in ["server.key", "server.crt"] {
            std::os::unix::fs::chown(dir.join(f), Some(65534), Some(65534)).unwrap();
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn is_root() -> bool {
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The directory holding both `initdb` and `pg_ctl`: on PATH, the newest
/// `/usr/lib/postgresql/*/bin`, or `/usr/local/bin`.
fn find_bin() -> Option<PathBuf> {
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
