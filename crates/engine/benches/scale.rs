//! Scale benchmark: parse + evaluate + diff of a generated manifest of N plans (default 10,000:
//! 100 `for_each` blocks of 100 instances, 20 parameters each, references to a variable, a local
//! and another plan's outputs).
//!
//!     cargo bench -p planform-engine --bench scale [-- N]
//!
//! Prints the time of each phase and the process's peak resident memory. Targets (spec §7):
//! parse + evaluate under 0.5 s and 150 MB; with the diff under 1 s and 200 MB.

use std::collections::BTreeMap;
use std::time::Instant;

use planform_engine::{diff, DiffOptions, LiveEntry, LiveSnapshot};
use planform_manifest::{lower, Inputs, SourceFile};
use planform_model::{LivePlan, OperationType, PlanStatus};
use planform_state::{ManagedPlan, State};

fn manifest(n: usize) -> String {
    let blocks = n.div_ceil(100);
    let mut s = String::from("variable \"env\" {\n  default = \"bench\"\n}\n\nlocals {\n  tags = { team = \"platform\", env = var.env }\n}\n\n");
    s.push_str("plan \"network\" {\n  name = \"vpc\"\n  product_id = \"prod-sbxvpc0000001\"\n  product_version_id = \"pv-sbxvpc0000001\"\n  provisioned_product_name = \"vpc\"\n  parameters = { cidr_block = \"10.0.0.0/16\" }\n  execute = true\n}\n\n");
    let keys: Vec<String> = (0..100).map(|i| format!("\"k{i:03}\"")).collect();
    for b in 0..blocks {
        s.push_str(&format!(
            "plan \"app{b}\" {{\n  for_each = toset([{}])\n",
            keys.join(", ")
        ));
        s.push_str(&format!("  name = \"app{b}-${{each.key}}-${{var.env}}\"\n  product_id = \"prod-sbxecs0000001\"\n  product_version_id = \"pv-sbxecs0000002\"\n  provisioned_product_name = \"app{b}-${{each.key}}\"\n"));
        s.push_str("  parameters = {\n    vpc_id = plan.network.outputs.vpc_id\n");
        for p in 0..19 {
            s.push_str(&format!("    p{p:02} = \"${{each.key}}-value-{p}\"\n"));
        }
        s.push_str("  }\n  tags = merge(local.tags, { block = \"b\" })\n  execute = true\n}\n\n");
    }
    s
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if std::env::args().any(|a| a == "--bench") {
            10_000
        } else {
            300
        });
    let text = manifest(n);
    println!(
        "manifest: {} plans, {:.1} MB of HCL; peak RSS before: {:.1} MB",
        n + 1,
        text.len() as f64 / 1e6,
        peak_rss_mb()
    );

    let t = Instant::now();
    let loaded = lower(&[SourceFile::new("main.hcl", text)], &Inputs::default())
        .expect("the generated manifest is valid");
    let parse = t.elapsed();
    let desired = loaded.desired;
    assert_eq!(desired.plans.len(), n.div_ceil(100) * 100 + 1);
    println!(
        "parse + evaluate: {:>8.1} ms   peak RSS {:.1} MB",
        parse.as_secs_f64() * 1e3,
        peak_rss_mb()
    );

    let t = Instant::now();
    let fresh = diff(
        &desired,
        &State::new("bench", "lin".into()),
        &LiveSnapshot::default(),
        &DiffOptions::default(),
    )
    .unwrap();
    let d1 = t.elapsed();
    println!(
        "diff (all new):   {:>8.1} ms   {} changes",
        d1.as_secs_f64() * 1e3,
        fresh.changes.len()
    );

    // A state and live snapshot that match the manifests: the full comparison path.
    let mut state = State::new("bench", "lin".into());
    let mut live = LiveSnapshot::default();
    for (i, (a, p)) in desired.plans.iter().enumerate() {
        let mut outputs = BTreeMap::new();
        if a.name == "network" {
            outputs.insert("vpc_id".to_string(), "vpc-1".to_string());
        }
        state.plans.insert(
            a.clone(),
            ManagedPlan {
                provider: p.provider.clone(),
                plan_id: format!("plan-{i}"),
                provisioned_product_id: Some(format!("pp-{i}")),
                stack_id: None,
                status: "ExecuteSuccess".into(),
                applied: None,
                asked: None,
                sensitive_parameters: Default::default(),
                launched: true,
                outputs,
                history: vec![],
                depends_on: p.depends_on.clone(),
                pending_token: None,
                location: None,
                account: None,
            },
        );
        let mut inputs = planform_engine::resolve_inputs(&p.inputs, &state, &Default::default());
        inputs
            .parameters
            .entry("vpc_id".into())
            .and_modify(|v| *v = "vpc-1".into());
        live.plans.insert(
            a.clone(),
            LiveEntry::Present(LivePlan {
                id: format!("plan-{i}"),
                inputs,
                operation_type: OperationType::LaunchProduct,
                status: PlanStatus::ExecuteSuccess,
                raw_status: "ExecuteSuccess".into(),
                status_message: None,
                provisioned_product_id: Some(format!("pp-{i}")),
                stack_id: None,
                create_time: String::new(),
                update_time: String::new(),
            }),
        );
    }
    let t = Instant::now();
    let same = diff(&desired, &state, &live, &DiffOptions::default()).unwrap();
    let d2 = t.elapsed();
    println!(
        "diff (in sync):   {:>8.1} ms   {} changes",
        d2.as_secs_f64() * 1e3,
        same.changes.len()
    );
    assert!(
        same.changes.is_empty(),
        "a state in sync has no diff: {:?}",
        same.changes.first().map(|c| (&c.address, &c.reason))
    );
    println!(
        "parse + evaluate + diff: {:.1} ms; peak RSS {:.1} MB",
        (parse + d2).as_secs_f64() * 1e3,
        peak_rss_mb()
    );
}
