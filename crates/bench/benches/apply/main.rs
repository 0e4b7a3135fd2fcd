//! Apply benchmark, of what users run: the real `planform` binary applies N independent plans
//! (`count = N`, each created, previewed, executed and its outputs read) through the Alibaba
//! client against a real `planform sandbox serve` with request latency and preview / execute
//! durations, with the real state backend: local (journal, group commit, compaction) or
//! PostgreSQL (a throwaway server with fsync on, from `planform-testkit`, or the one
//! `PLANFORM_BENCH_PG_URL` names). Reported as a ratio to the lower bound those settings imply,
//! ⌈N / parallelism⌉ × (preview + execute + 3 × latency), with the requests per plan by action
//! (from the client's request log). Then the state's write cost per operation: p50/p99 of a
//! record's latency (enqueue → durable) with 50 concurrent writers on states of 1,000 and 10,000
//! addresses.
//!
//!     cargo build --release -p planform
//!     cargo bench -p planform-bench --bench apply [-- N PARALLELISM LATENCY_MS PREVIEW_MS EXECUTE_MS] [--backend local|pg|both]
//!
//! The binary is `$PLANFORM_BIN`, else `target/release/planform` under `cargo bench` and
//! `target/debug/planform` under `cargo test` (a small smoke run of both backends). The backend
//! is `--backend`, else `$PLANFORM_BENCH_BACKEND`, else local (`cargo bench`) or both (`cargo test`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use planform_model::{Address, PlanInputs, ProviderKind, ProviderRef};
use planform_state::{Backend, Change, LocalBackend, Locked, ManagedPlan, Record, State};
use planform_state_pg::PgBackend;
use planform_testkit::postgres::{Durability, Options, Postgres};
use planform_testkit::sandbox::Serve;

/// The variable naming an existing PostgreSQL server to use instead of starting one.
const PG_URL_VAR: &str = "PLANFORM_BENCH_PG_URL";

/// Where the state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Local,
    Pg,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Local => "local",
            Store::Pg => "pg",
        }
    }
}

fn stores(bench: bool) -> Vec<Store> {
    let args: Vec<String> = std::env::args().collect();
    let given = args
        .iter()
        .position(|a| a == "--backend")
        .map(|i| {
            args.get(i + 1)
                .cloned()
                .unwrap_or_else(|| panic!("--backend needs a value: local, pg or both"))
        })
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--backend=").map(str::to_string))
        })
        .or_else(|| std::env::var("PLANFORM_BENCH_BACKEND").ok());
    match given.as_deref() {
        None if bench => vec![Store::Local],
        None => vec![Store::Local, Store::Pg],
        Some("local") => vec![Store::Local],
        Some("pg") => vec![Store::Pg],
        Some("both") => vec![Store::Local, Store::Pg],
        Some(other) => panic!("--backend {other:?}: expected local, pg or both"),
    }
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test` this runs as a small smoke test.
    let bench = std::env::args().any(|a| a == "--bench");
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, d: u64| args.get(i).copied().unwrap_or(d);
    let run = Run {
        n: arg(0, if bench { 1000 } else { 20 }),
        parallelism: arg(1, 50),
        latency: arg(2, 20),
        preview: arg(3, 200),
        execute: arg(4, 200),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for store in stores(bench) {
        // fsync on: what users run, and what a record's latency is made of.
        let pg = (store == Store::Pg).then(|| {
            Postgres::named_by_or_throwaway(
                PG_URL_VAR,
                Options {
                    durability: Durability::Fsync,
                    tls: false,
                },
            )
        });
        let conn = pg.as_ref().map(|p| p.conn_str().to_string());
        end_to_end(&rt, bench, store, conn.as_deref(), &run);
        let sizes: &[usize] = if bench { &[1_000, 10_000] } else { &[100] };
        for &size in sizes {
            rt.block_on(record_latency(
                store,
                conn.as_deref(),
                size,
                if bench { 5_000 } else { 200 },
            ));
        }
    }
}

struct Run {
    n: u64,
    parallelism: u64,
    latency: u64,
    preview: u64,
    execute: u64,
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

/// The backend a bench run's state is in (`workspace` in the pg schema `schema`).
fn backend(
    store: Store,
    conn: Option<&str>,
    path: &Path,
    schema: &str,
    workspace: &str,
) -> Box<dyn Backend> {
    match store {
        Store::Local => Box::new(LocalBackend::new(path.join("state.json"))),
        Store::Pg => Box::new(
            PgBackend::new(
                conn.expect("a pg server"),
                schema,
                workspace,
                path.join("errored-state.json"),
            )
            .expect("a valid pg backend"),
        ),
    }
}

fn end_to_end(
    rt: &tokio::runtime::Runtime,
    bench: bool,
    store: Store,
    conn: Option<&str>,
    run: &Run,
) {
    let Run {
        n,
        parallelism,
        latency,
        preview,
        execute,
    } = *run;
    let bin = binary(bench);
    let dir = tempfile::tempdir().unwrap();
    let served = Serve::new(&bin)
        .access_key("bench:secret")
        .latency_ms(latency)
        .preview_ms(preview)
        .execute_ms(execute)
        .start();
    let endpoint = served.endpoint.clone();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let state_block = match store {
        Store::Local => String::new(),
        Store::Pg => "planform {\n  state \"pg\" { schema_name = \"bench\" }\n}\n".to_string(),
    };
    std::fs::write(
        work.join("main.hcl"),
        format!(
            r#"{state_block}
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
    let log = dir.path().join("requests.log");
    let mut apply = Command::new(&bin);
    apply
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
        // Every request the client sends, one line each (the request log, values never logged).
        .env("PLANFORM_LOG", "planform_client::request=debug")
        .env("PLANFORM_LOG_PATH", &log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(c) = conn {
        apply.env("PG_CONN_STR", c);
    }
    let t = Instant::now();
    let out = apply.output().unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(served);
    let state = rt
        .block_on(backend(store, conn, &work.join(".planform"), "bench", "default").load())
        .unwrap()
        .expect("the apply saved a state");
    assert_eq!(state.plans.len() as u64, n, "every plan is in the state");
    assert!(
        state.plans.values().all(|m| !m.outputs.is_empty()),
        "every plan's outputs are in the state"
    );
    let requests = requests_by_action(&std::fs::read_to_string(&log).unwrap());
    let total: usize = requests.values().sum();
    let per_plan = Duration::from_millis(preview + execute + 3 * latency);
    let bound = per_plan * n.div_ceil(parallelism) as u32;
    println!("apply (real binary, {} state) of {n} plans, parallelism {parallelism}, latency {latency} ms, preview {preview} ms, execute {execute} ms", store.name());
    println!(
        "  wall time {:.2} s; lower bound {:.2} s; ratio {:.3}; state serial {}",
        took.as_secs_f64(),
        bound.as_secs_f64(),
        took.as_secs_f64() / bound.as_secs_f64(),
        state.serial
    );
    println!(
        "  requests {total} ({:.2} per plan): {}",
        total as f64 / n as f64,
        requests
            .iter()
            .map(|(a, c)| format!("{a} {c} ({:.2})", *c as f64 / n as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Requests sent (retries included) by action, from the client's request log: one
/// `planform_client::request` event named `request` per attempt, with its `action` field.
fn requests_by_action(log: &str) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for line in log.lines() {
        let Some((_, rest)) = line.split_once("planform_client::request: request ") else {
            continue;
        };
        let Some((_, after)) = rest.split_once("action=") else {
            continue;
        };
        let action = after
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_matches('"');
        *by.entry(action.to_string()).or_insert(0) += 1;
    }
    by
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
async fn record_latency(store: Store, conn: Option<&str>, size: usize, records: usize) {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(
        store,
        conn,
        dir.path(),
        "bench_records",
        &format!("records{size}"),
    );
    let mut state = State::new(&format!("records{size}"), planform_state::new_lineage());
    for i in 0..size {
        state
            .plans
            .insert(Address::new(format!("p{i}")), managed(i));
    }
    let guard: Arc<dyn Locked> = Arc::from(backend.lock("bench", Duration::ZERO).await.unwrap());
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
    let mut latencies = vec![];
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r.unwrap());
    }
    let took = t.elapsed();
    drop(guard);
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let snapshot = match store {
        Store::Local => format!(
            " (snapshot {} KiB)",
            std::fs::metadata(dir.path().join("state.json")).map_or(0, |m| m.len() / 1024)
        ),
        Store::Pg => String::new(),
    };
    println!(
        "state records ({} backend) on {size} addresses: {records} records by 50 writers in {:.2} s ({:.0} records/s); latency p50 {:.2} ms, p99 {:.2} ms{snapshot}",
        store.name(),
        took.as_secs_f64(),
        records as f64 / took.as_secs_f64(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
    );
}
