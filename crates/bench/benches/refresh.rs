//! Refresh benchmark: N managed plans (default 10,000) served by `sandbox serve` with 20 ms of
//! added latency per request, read through the Alibaba client by the engine's refresh (pages of
//! 100; pages after the first fetched concurrently), against fetching the pages one by one.
//!
//!     cargo bench -p planform-bench --bench refresh [-- N]

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use planform_client::{AlibabaClient, AlibabaCredentials, AlibabaOptions};
use planform_model::{
    Address, DesiredPlan, DesiredState, PlanFilter, PlanInputs, PlanService, ProviderKind,
    ProviderRef, Sensitive,
};
use planform_sandbox::server::{serve_on_loopback, AccessKey, ServerConfig};
use planform_sandbox::{store::Store, Catalog, CreatePlan, Sandbox, Settings, SystemClock};
use planform_state::{ManagedPlan, State};

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            10_000
        } else {
            300
        });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for rounds in [0, 5] {
        rt.block_on(bench(n, rounds));
    }
}

/// N plans whose addresses were each updated `rounds` times before (so the cloud holds
/// N × (rounds + 1) plans), refreshed through the Alibaba client against `sandbox serve`.
async fn bench(n: usize, rounds: usize) {
    {
        let mut sb = Sandbox::new(
            Catalog::demo(),
            Settings {
                preview_ms: 0,
                execute_ms: 0,
                ..Settings::default()
            },
            Arc::new(SystemClock),
            Store::memory(),
        )
        .unwrap();
        let provider = ProviderRef {
            kind: ProviderKind::Alibaba,
            alias: None,
        };
        let mut state = State::new("bench", "lin".into());
        let t = Instant::now();
        for _round in 0..=rounds {
            for i in 0..n {
                let name = format!("bench-{i:05}");
                let p = sb
                    .create_plan(CreatePlan {
                        name: name.clone(),
                        product_id: "prod-sbxvpc0000001".into(),
                        product_version_id: "pv-sbxvpc0000001".into(),
                        provisioned_product_name: name.clone(),
                        stack_region_id: Some("cn-hangzhou".into()),
                        parameters: vec![("cidr_block".into(), "10.0.0.0/16".into())],
                        tags: vec![
                            ("planform:workspace".into(), "bench".into()),
                            ("planform:address".into(), format!("plan.{name}")),
                        ],
                        ..CreatePlan::default()
                    })
                    .unwrap();
                state.plans.insert(
                    Address::new(name),
                    ManagedPlan {
                        provider: provider.clone(),
                        plan_id: p.id,
                        provisioned_product_id: None,
                        stack_id: None,
                        status: "PreviewSuccess".into(),
                        applied: None,
                        asked: None,
                        sensitive_parameters: Default::default(),
                        launched: false,
                        outputs: BTreeMap::new(),
                        history: vec![],
                        depends_on: Default::default(),
                        pending_token: None,
                        location: None,
                        account: None,
                    },
                );
            }
        }
        println!("{n} plans, each updated {rounds} times ({} in the cloud), created in the sandbox in {:.1} s", n * (rounds + 1), t.elapsed().as_secs_f64());
        let config = ServerConfig {
            keys: vec![AccessKey::parse("bench:secret").unwrap()],
            latency: Duration::from_millis(20),
            ..ServerConfig::default()
        };
        let endpoint = serve_on_loopback(Arc::new(Mutex::new(sb)), config)
            .await
            .unwrap();
        let client = || {
            Arc::new(
                AlibabaClient::new(
                    AlibabaOptions::resolve("cn-hangzhou", Some(&endpoint), &BTreeMap::new()),
                    AlibabaCredentials {
                        access_key_id: "bench".into(),
                        access_key_secret: Sensitive::new("secret".into()),
                        security_token: None,
                    },
                )
                .unwrap(),
            )
        };

        // The engine's refresh.
        let c = client();
        let mut providers: planform_engine::Providers = BTreeMap::new();
        providers.insert(provider.clone(), c.clone() as Arc<dyn PlanService>);
        // The manifests want exactly what the state has: a no-change plan.
        let desired = DesiredState {
            workspace: "bench".into(),
            plans: state
                .plans
                .keys()
                .map(|a| {
                    (
                        a.clone(),
                        DesiredPlan {
                            address: a.clone(),
                            provider: provider.clone(),
                            inputs: PlanInputs::default(),
                            sensitive_parameters: Default::default(),
                            execute: false,
                            depends_on: Default::default(),
                            prevent_destroy: false,
                            ignore_changes: vec![],
                            timeouts: Default::default(),
                            location: Default::default(),
                        },
                    )
                })
                .collect(),
            ..DesiredState::default()
        };
        let t = Instant::now();
        let (live, stats) = planform_engine::refresh(&desired, &state, &providers)
            .await
            .unwrap();
        let concurrent = t.elapsed();
        assert_eq!(live.plans.len(), n);
        let sent = c.requests.load(Ordering::Relaxed);
        // The listing's ⌈N/100⌉ pages, at most one more page once a settled state's plans are
        // seen, and one STS GetCallerIdentity (the account, asked once per provider per run).
        println!("refresh after {rounds} rounds of updates: {sent} requests ({} list, 1 STS GetCallerIdentity), {:.2} s; bound ceil(N/100)+2 = {}", stats.list_requests, concurrent.as_secs_f64(), n.div_ceil(100) + 2);
        assert!(sent as usize <= n.div_ceil(100) + 2);

        // Pages one by one.
        let c = client();
        let t = Instant::now();
        let mut seen = 0;
        for page in 1.. {
            let p = c
                .list_plans(&PlanFilter::default(), page, 100)
                .await
                .unwrap();
            seen += p.items.len();
            if seen >= p.total_count {
                break;
            }
        }
        let sequential = t.elapsed();
        println!(
            "every page, one by one:          {} requests, {:.2} s",
            c.requests.load(Ordering::Relaxed),
            sequential.as_secs_f64()
        );
    }
}
