//! An apply during which `sandbox serve` is killed (SIGKILL) and restarted on the same port and
//! data converges: the interrupted apply retries or fails, the next one finishes, and every
//! address has one provisioned product and no plan left waiting.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::{Run, Workspace};

/// Far beyond what each step takes: reaching it means the step hung.
const HANG: Duration = Duration::from_secs(120);

const PLANS: usize = 10;

fn manifest(endpoint: &str) -> String {
    crate::alibaba_provider(endpoint, 8) + &crate::counted_vpcs("app", "restart-", PLANS)
}

/// Waits until the client's request log shows a create was sent.
fn wait_for_first_create(log: &Path, apply: &mut Child) {
    let deadline = Instant::now() + HANG;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("action=\"CreateProvisionedProductPlan\"") {
            return;
        }
        assert!(
            apply.try_wait().unwrap().is_none(),
            "the apply ended before it sent a create:\n{text}"
        );
        assert!(Instant::now() < deadline, "no create was sent:\n{text}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn an_apply_converges_when_the_server_is_killed_and_restarted() {
    let mut server = crate::sandbox().preview_ms(100).execute_ms(200).start();
    let w = Workspace::new();
    w.write("main.hcl", &manifest(&server.endpoint));
    let log = w.path().join("requests.log");
    let mut apply = w
        .alibaba_command(&["apply", "--auto-approve"])
        .env("PLANFORM_LOG", "planform_client=debug")
        .env("PLANFORM_LOG_PATH", &log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_first_create(&log, &mut apply);
    // SIGKILL, then a new server on the same port and data.
    server.restart();
    // The interrupted apply retries through the outage, or fails; either is fine.
    let first = Run::from(apply.wait_with_output().unwrap());
    assert!(
        first.code == 0 || first.code == 1,
        "{}\n{}",
        first.stdout,
        first.stderr
    );
    eprintln!(
        "the interrupted apply exited {}:\n{}{}",
        first.code, first.stdout, first.stderr
    );
    let second = Run::from(
        w.alibaba_command(&["apply", "--auto-approve"])
            .output()
            .unwrap(),
    );
    assert_eq!(
        second.code, 0,
        "first apply:\n{}\n{}\nsecond apply:\n{}\n{}",
        first.stdout, first.stderr, second.stdout, second.stderr
    );
    Run::from(
        w.alibaba_command(&["plan", "--detailed-exitcode"])
            .output()
            .unwrap(),
    )
    .expect(0);
    let listed = Run::from(w.alibaba_command(&["state", "list"]).output().unwrap()).expect(0);
    assert_eq!(listed.stdout.lines().count(), PLANS, "{}", listed.stdout);
    let data = server.stop();

    // What the cloud holds: one provisioned product per address, and every plan carried out.
    let sandbox = planform_sandbox::Embedded::open(&data, planform_sandbox::Settings::default())
        .unwrap()
        .sandbox;
    let mut sb = sandbox.lock().unwrap();
    let mut products: BTreeMap<String, usize> = BTreeMap::new();
    for p in sb.list_provisioned_products().unwrap() {
        *products.entry(p.name.clone()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> =
        (0..PLANS).map(|i| (format!("restart-{i}"), 1)).collect();
    assert_eq!(products, expected);
    let (plans, _) = sb
        .list_plans(&planform_sandbox::ListPlans {
            page_number: 1,
            page_size: 100,
            ..Default::default()
        })
        .unwrap();
    let waiting: Vec<String> = plans
        .iter()
        .filter(|p| p.status != planform_sandbox::PlanStatus::ExecuteSuccess)
        .map(|p| format!("{} {} {}", p.id, p.name, p.status))
        .collect();
    assert!(waiting.is_empty(), "plans left waiting: {waiting:?}");
}
