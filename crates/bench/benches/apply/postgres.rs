//! A throwaway PostgreSQL server for the benchmark's `pg` backend: `initdb` and `pg_ctl` in a
//! temporary directory on a free loopback port, **with fsync on** (what users run; the state-pg
//! tests turn it off for speed), run as `nobody` when the bench runs as root (initdb refuses
//! root), stopped on drop. `PLANFORM_BENCH_PG_URL` names an existing server instead. Without
//! PostgreSQL the bench fails with a message pointing at `scripts/setup-postgres`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable naming an existing server to use instead of starting one.
pub const URL_VAR: &str = "PLANFORM_BENCH_PG_URL";

pub struct Postgres {
    conn_str: String,
    local: Option<(tempfile::TempDir, PathBuf, bool)>,
}

impl Postgres {
    pub fn start() -> Postgres {
        if let Ok(url) = std::env::var(URL_VAR) {
            if !url.trim().is_empty() {
                return Postgres {
                    conn_str: url,
                    local: None,
                };
            }
        }
        let bin = server_binaries().unwrap_or_else(|| {
            panic!(
                "--backend pg: PostgreSQL's initdb and pg_ctl were not found on PATH, in \
                 /usr/lib/postgresql/*/bin or in /usr/local/bin: run scripts/setup-postgres \
                 (or set {URL_VAR} to a server's connection string)"
            )
        });
        let as_nobody = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("planform-bench-pg-")
            .tempdir()
            .expect("a temporary directory");
        if as_nobody {
            std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534))
                .expect("chown the server's directory to nobody");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = dir.path().join("data");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.path().display()
        );
        let pg = Postgres {
            conn_str: format!(
                "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable"
            ),
            local: Some((dir, bin, as_nobody)),
        };
        pg.run(
            "initdb",
            &[
                "-D",
                text(&data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let log = data.with_file_name("server.log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                text(&data),
                "-l",
                text(&log),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        pg
    }

    /// `PG_CONN_STR` for the CLI and the backend.
    pub fn conn_str(&self) -> &str {
        &self.conn_str
    }

    fn run(&self, program: &str, args: &[&str]) {
        let (dir, bin, as_nobody) = self.local.as_ref().expect("a local server");
        let exe = bin.join(program);
        let mut c = if *as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(exe);
            c
        } else {
            Command::new(exe)
        };
        let out = c
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}; run scripts/setup-postgres"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((dir, _, _)) = &self.local {
            let data = dir.path().join("data");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.run(
                    "pg_ctl",
                    &["-D", text(&data), "-m", "immediate", "-w", "stop"],
                )
            }));
        }
    }
}

fn text(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The directory holding both `initdb` and `pg_ctl`.
fn server_binaries() -> Option<PathBuf> {
    let both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .collect();
    versioned.sort();
    on_path
        .into_iter()
        .chain(versioned.into_iter().rev().map(|(_, p)| p))
        .chain([PathBuf::from("/usr/local/bin")])
        .find(|d| both(d))
        .map(|d| {
            // /usr/local/bin/initdb may link into the versioned directory: use that one.
            d.join("initdb")
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|real| both(real))
                .unwrap_or(d)
        })
}
