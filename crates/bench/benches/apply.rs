//! Apply benchmark, of what users run: the real `planform` binary applies N independent plans
//! (`count = N`, each created, previewed, executed and read back) through the Alibaba client
//! against a real `planform sandbox serve` with request latency and preview / execute
//! durations, with the real local state (journal, group commit, compaction). Reported as a
//! ratio to the lower bound those settings imply: ⌈N / parallelism⌉ × (preview + execute +
//! 3 × latency). Then the state's write cost per operation: p50/p99 of a record's latency
//! (enqueue → durable) with 50 concurrent writers on states of 1,000 and 10,000 addresses.
//!
//!     cargo build --release -p planform
//!     cargo bench -p planform-bench --bench apply [-- N PARALLELISM LATENCY_MS PREVIEW_MS EXECUTE_MS]
//!
//! The binary is `$PLANFORM_BIN`, else `target/release/planform` under `cargo bench` and
//! `target/debug/planform` under `cargo test` (a small smoke run).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use planform_model::{Address, PlanInputs, ProviderKind, ProviderRef};
use planform_state::{Backend, Change, LocalBackend, Locked, ManagedPlan, Record, State};

fn main() {
    // `cargo bench` passes --bench; under `cargo test` this runs as a small smoke test.
    let bench = std::env::args().any(|a| a == "--bench");
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, d: u64| args.get(i).copied().unwrap_or(d);
    let (n, parallelism, latency, preview, execute) = (
        arg(0, if bench { 1000 } else { 20 }),
        arg(1, 50),
        arg(2, 20),
        arg(3, 200),
        arg(4, 200),
    );
    end_to_end(bench, n, parallelism, latency, preview, execute);
    let sizes: &[usize] = if bench { &[1_000, 10_000] } else { &[100] };
    for &size in sizes {
        record_latency(size, if bench { 5_000 } else { 200 });
    }
}

fn binary(bench: bool) -> PathBuf {
    let path = std::env::var_os("PLANFORM_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target")
                .join(if bench { "release" } else { "debug" })
                .join("planform")
        });
    assert!(
        path.exists(),
        "the planform binary {} is missing: build it first (`cargo build{} -p planform`) or set PLANFORM_BIN",
        path.display(),
        if bench { " --release" } else { "" }
    );
    path
}

/// `sandbox serve` on a free port, killed when dropped.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn end_to_end(bench: bool, n: u64, parallelism: u64, latency: u64, preview: u64, execute: u64) {
    let bin = binary(bench);
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Command::new(&bin)
        .args(["sandbox", "serve", "--listen", "127.0.0.1:0"])
        .args(["--access-key", "bench:secret"])
        .args(["--latency-ms", &latency.to_string()])
        .args(["--preview-ms", &preview.to_string()])
        .args(["--execute-ms", &execute.to_string()])
        .arg("--data")
        .arg(dir.path().join("sandbox"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.take_stdout())
        .read_line(&mut line)
        .unwrap();
    let served = Served(serve);
    let endpoint = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("sandbox serve said {line:?}"))
        .to_string();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join("main.hcl"),
        format!(
            r#"
provider "alibaba" {{
  region      = "cn-hangzhou"
  endpoint    = "{endpoint}"
  max_retries = 8
}}

plan "p" {{
  count                    = {n}
  name                     = "apply-${{count.index}}"
  product_id               = "prod-sbxvpc0000001"
  product_version_id       = "pv-sbxvpc0000001"
  provisioned_product_name = "apply-${{count.index}}"
  parameters               = {{ cidr_block = "10.0.0.0/16" }}
  execute                  = true
}}
"#
        ),
    )
    .unwrap();
    let t = Instant::now();
    let out = Command::new(&bin)
        .arg("-C")
        .arg(&work)
        .args([
            "apply",
            "--auto-approve",
            "--parallelism",
            &parallelism.to_string(),
        ])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "bench")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret")
        .env("HOME", &work)
        .env("CI", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(served);
    let state = LocalBackend::new(work.join(".planform/state.json"))
        .load_now()
        .unwrap()
        .unwrap();
    assert_eq!(state.plans.len() as u64, n, "every plan is in the state");
    let per_plan = Duration::from_millis(preview + execute + 3 * latency);
    let bound = per_plan * n.div_ceil(parallelism) as u32;
    println!("apply (real binary, local state) of {n} plans, parallelism {parallelism}, latency {latency} ms, preview {preview} ms, execute {execute} ms");
    println!(
        "wall time {:.2} s; lower bound {:.2} s; ratio {:.3}; state serial {}",
        took.as_secs_f64(),
        bound.as_secs_f64(),
        took.as_secs_f64() / bound.as_secs_f64(),
        state.serial
    );
}

trait Stdout {
    fn take_stdout(&mut self) -> std::process::ChildStdout;
}

impl Stdout for std::process::Child {
    fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.stdout.take().expect("piped")
    }
}

/// A plan as an apply records it: applied inputs, outputs, history.
fn managed(i: usize) -> ManagedPlan {
    let mut m = ManagedPlan::new(
        ProviderRef::default_for(ProviderKind::Alibaba),
        format!("plan-{i:08}"),
    );
    m.status = "ExecuteSuccess".into();
    m.provisioned_product_id = Some(format!("pp-{i:08}"));
    m.applied = Some(PlanInputs {
        name: format!("apply-{i}"),
        product_id: "prod-sbxvpc0000001".into(),
        product_version_id: "pv-sbxvpc0000001".into(),
        provisioned_product_name: format!("apply-{i}"),
        parameters: [("cidr_block".to_string(), "10.0.0.0/16".to_string())].into(),
        ..PlanInputs::default()
    });
    m.outputs = [("vpc_id".to_string(), format!("vpc-{i:08}"))].into();
    m.launched = true;
    m
}

/// p50/p99 of a record's latency on a state of `size` addresses: 50 writers, each recording
/// one address at a time as the executor does (serial stamped under a mutex, awaited outside).
fn record_latency(size: usize, records: usize) {
    let dir = tempfile::tempdir().unwrap();
    let backend = LocalBackend::new(dir.path().join("state.json"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut latencies = rt.block_on(async {
        let mut state = State::new("bench", "lin".into());
        for i in 0..size {
            state.plans.insert(Address::new(format!("p{i}")), managed(i));
        }
        let guard: Arc<dyn Locked> =
            Arc::from(backend.lock("bench", Duration::ZERO).await.unwrap());
        guard.write(&state, None).await.unwrap();
        let shared = Arc::new(std::sync::Mutex::new(state));
        let mut tasks = tokio::task::JoinSet::new();
        let t = Instant::now();
        for w in 0..50 {
            let (guard, shared) = (guard.clone(), shared.clone());
            tasks.spawn(async move {
                let mut mine = vec![];
                for k in (w..records).step_by(50) {
                    let start = Instant::now();
                    let durable = {
                        let mut s = shared.lock().unwrap();
                        let address = Address::new(format!("p{}", k % size));
                        let mut m = managed(k % size);
                        m.status = format!("Step{k}");
                        s.plans.insert(address.clone(), m.clone());
                        s.serial += 1;
                        guard.record(Record {
                            serial: s.serial,
                            changes: vec![Change::Put {
                                address,
                                plan: Box::new(m),
                            }],
                        })
                    };
                    durable.await.unwrap();
                    mine.push(start.elapsed());
                }
                mine
            });
        }
        let mut all = vec![];
        while let Some(r) = tasks.join_next().await {
            all.extend(r.unwrap());
        }
        let took = t.elapsed();
        println!(
            "state records on {size} addresses: {records} records by 50 writers in {:.2} s ({:.0} records/s)",
            took.as_secs_f64(),
            records as f64 / took.as_secs_f64()
        );
        all
    });
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "  record latency p50 {:.2} ms, p99 {:.2} ms (snapshot {} KiB)",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        std::fs::metadata(backend.path()).map_or(0, |m| m.len() / 1024)
    );
}
