//! The cost of recording one cloud operation in PostgreSQL, as the executor does it: PARALLELISM
//! tasks, each taking its share of N addresses through 3 operations (create, execute, final read),
//! each operation GAP_MS long (the cloud), then a record of that address's plan (serial assigned
//! under a mutex, `record` called before it is released, then awaited). Prints the latency of a
//! record (call to durable) at p50/p99, the records per commit and the wall time against the lower
//! bound ⌈N / PARALLELISM⌉ × 3 × GAP_MS. Starts its own PostgreSQL (`planform-testkit`), or uses
//! the one `PLANFORM_TEST_PG_URL` names.
//!
//!     cargo bench -p planform-state-pg --bench record [-- N PARALLELISM GAP_MS]
//!
//! Under `cargo test` it runs as a small smoke test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use planform_model::{Address, PlanInputs, ProviderKind, ProviderRef};
use planform_state::{Backend, Change, Locked, ManagedPlan, Record, State};
use planform_state_pg::{PgBackend, RESCUE_FILE_NAME};
use planform_testkit::postgres::Postgres;

fn plan(i: usize, op: usize) -> ManagedPlan {
    let mut m = ManagedPlan::new(
        ProviderRef::default_for(ProviderKind::Sandbox),
        format!("plan-{i}-{op}"),
    );
    m.status = "ExecuteSuccess".into();
    m.applied = Some(PlanInputs {
        name: format!("app-{i}"),
        product_id: "prod-sbxvpc0000001".into(),
        product_version_id: "pv-sbxvpc0000001".into(),
        provisioned_product_name: format!("app-{i}"),
        parameters: (0..20)
            .map(|p| (format!("param_{p}"), format!("value-{i}-{p}")))
            .collect(),
        ..PlanInputs::default()
    });
    m.outputs.insert("vpc_id".into(), format!("vpc-{i}"));
    m
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let arg = |i: usize, d: u64| args.get(i).copied().unwrap_or(d);
    let (n, parallelism, gap) = (
        arg(0, if bench { 1000 } else { 40 }) as usize,
        arg(1, 50) as usize,
        arg(2, if bench { 20 } else { 1 }),
    );
    let pg = Postgres::for_tests();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let b = PgBackend::new(
            pg.conn_str(),
            &format!("bench_{:08x}", fastrand::u32(..)),
            "bench",
            dir.path().join(RESCUE_FILE_NAME),
        )
        .unwrap();
        let guard = b.lock_pg("bench", Duration::ZERO).await.unwrap();
        guard
            .write(
                &State::new("bench", planform_state::new_lineage()),
                None,
            )
            .await
            .unwrap();
        let commits_before = guard.commits();
        let guard = Arc::new(guard);
        let serial = Arc::new(tokio::sync::Mutex::new(0u64));
        let started = Instant::now();
        let tasks: Vec<_> = (0..parallelism)
            .map(|t| {
                let (guard, serial) = (guard.clone(), serial.clone());
                tokio::spawn(async move {
                    let mut latencies = vec![];
                    for i in (t..n).step_by(parallelism) {
                        for op in 0..3 {
                            tokio::time::sleep(Duration::from_millis(gap)).await;
                            let durable = {
                                let mut s = serial.lock().await;
                                *s += 1;
                                guard.record(Record {
                                    serial: *s,
                                    changes: vec![Change::Put {
                                        address: Address::new(format!("app_{i}")),
                                        plan: Box::new(plan(i, op)),
                                    }],
                                })
                            };
                            let t0 = Instant::now();
                            durable.await.unwrap();
                            latencies.push(t0.elapsed());
                        }
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = vec![];
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let wall = started.elapsed();
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
        let commits = guard.commits() - commits_before;
        let bound = Duration::from_millis(n.div_ceil(parallelism) as u64 * 3 * gap);
        println!(
            "pg record: {n} plans, {} records, parallelism {parallelism}, gap {gap} ms: \
             record p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {commits} commits ({:.1} records per commit); \
             wall {:.2} s, lower bound {:.2} s ({:.3}x)",
            latencies.len(),
            pct(0.5).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            latencies[latencies.len() - 1].as_secs_f64() * 1e3,
            latencies.len() as f64 / commits as f64,
            wall.as_secs_f64(),
            bound.as_secs_f64(),
            wall.as_secs_f64() / bound.as_secs_f64(),
        );
        let guard = Arc::into_inner(guard).expect("every task is done");
        Box::new(guard).release().await.unwrap();
        let stored = b.load().await.unwrap().unwrap();
        assert_eq!(stored.plans.len(), n);
        assert_eq!(stored.serial, 3 * n as u64);
    });
}
