//! Apply benchmark: N independent plans (default 1,000), each created, previewed, executed and
//! read back, through the Alibaba client against `sandbox serve` with added latency and preview /
//! execute durations, reported as a ratio to the lower bound those settings imply:
//! ⌈N / parallelism⌉ × (preview + execute + 3 × latency) (a create, an execute and a final read).
//!
//!     cargo bench -p planform-bench --bench apply [-- N PARALLELISM LATENCY_MS PREVIEW_MS EXECUTE_MS]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use planform_client::{AlibabaClient, AlibabaCredentials, AlibabaOptions};
use planform_engine::{
    apply, diff, ApplyOptions, DiffOptions, Event, LiveSnapshot, Providers, StateSink,
};
use planform_model::{
    Address, DesiredPlan, DesiredState, PlanInputs, PlanService, ProviderKind, ProviderRef,
    Sensitive, Timeouts,
};
use planform_sandbox::server::{serve, AccessKey, ServerConfig};
use planform_sandbox::{store::Store, Catalog, Sandbox, Settings, SystemClock};
use planform_state::State;

struct NoSink;

impl StateSink for NoSink {
    fn save(&self, _: &State) -> Result<(), planform_state::StateError> {
        Ok(())
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
    let (n, parallelism, latency, preview, execute) = (
        arg(0, if bench { 1000 } else { 20 }) as usize,
        arg(1, 50) as usize,
        arg(2, 10),
        arg(3, 500),
        arg(4, 1000),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let sb = Sandbox::new(Catalog::demo(), Settings { preview_ms: preview, execute_ms: execute, ..Settings::default() }, Arc::new(SystemClock), Store::memory()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let config = ServerConfig { keys: vec![AccessKey::parse("bench:secret").unwrap()], latency: Duration::from_millis(latency), ..ServerConfig::default() };
        tokio::spawn(serve(listener, Arc::new(Mutex::new(sb)), config));
        let provider = ProviderRef { kind: ProviderKind::Alibaba, alias: None };
        let client = AlibabaClient::new(AlibabaOptions::resolve("cn-hangzhou", Some(&endpoint), &BTreeMap::new()), AlibabaCredentials {
            access_key_id: "bench".into(), access_key_secret: Sensitive::new("secret".into()), security_token: None,
        }).unwrap();
        let client = Arc::new(client);
        let mut providers: Providers = BTreeMap::new();
        providers.insert(provider.clone(), client.clone() as Arc<dyn PlanService>);
        let mut desired = DesiredState { workspace: "bench".into(), ..DesiredState::default() };
        for i in 0..n {
            let a = Address::new(format!("p{i:04}"));
            desired.plans.insert(a.clone(), DesiredPlan {
                address: a,
                provider: provider.clone(),
                inputs: PlanInputs {
                    name: format!("apply-{i:04}"),
                    product_id: "prod-sbxvpc0000001".into(),
                    product_version_id: "pv-sbxvpc0000001".into(),
                    provisioned_product_name: format!("apply-{i:04}"),
                    stack_region_id: Some("cn-hangzhou".into()),
                    parameters: [("cidr_block".to_string(), "10.0.0.0/16".to_string())].into(),
                    ..PlanInputs::default()
                },
                sensitive_parameters: BTreeSet::new(),
                execute: true,
                depends_on: BTreeSet::new(),
                prevent_destroy: false,
                ignore_changes: vec![],
                timeouts: Timeouts::default(),
                location: Default::default(),
            });
        }
        let state = State::new("bench", "lin".into());
        let changes = diff(&desired, &state, &LiveSnapshot::default(), &DiffOptions::default()).unwrap();
        let options = ApplyOptions { parallelism, workspace: "bench".into(), ..ApplyOptions::default() };
        let t = Instant::now();
        let (_, report) = apply(&changes, state, &providers, Arc::new(NoSink), Arc::new(|_: &Event| {}), &options).await.unwrap();
        let took = t.elapsed();
        assert_eq!(report.failed().count(), 0, "{:?}", report.failed().next());
        let per_plan = Duration::from_millis(preview + execute + 3 * latency);
        let bound = per_plan * n.div_ceil(parallelism) as u32;
        let requests = client.requests.load(std::sync::atomic::Ordering::Relaxed);
        println!("apply of {n} plans, parallelism {parallelism}, latency {latency} ms, preview {preview} ms, execute {execute} ms");
        println!("wall time {:.2} s; lower bound {:.2} s; ratio {:.3}; {requests} requests ({:.1} per plan)", took.as_secs_f64(), bound.as_secs_f64(), took.as_secs_f64() / bound.as_secs_f64(), requests as f64 / n as f64);
    });
}
