//! The Alibaba client's batched reads against a real `sandbox serve` (in process, loopback):
//! products looked up by many names in a few listings, outputs read in one request.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use planform_client::{AlibabaClient, AlibabaCredentials, AlibabaOptions};
use planform_model::{ErrorKind, PlanService, Sensitive};
use planform_sandbox::server::{serve_on_loopback, AccessKey, ServerConfig};
use planform_sandbox::{store::Store, Catalog, CreatePlan, Sandbox, Settings, SystemClock};

/// A server whose previews and executions end at once, with `products` launched products
/// named `lk-0`, `lk-1`, …; returns the endpoint, the sandbox and the products' ids.
async fn start(products: usize) -> (String, Arc<Mutex<Sandbox>>, Vec<String>) {
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
    let mut ids = vec![];
    for i in 0..products {
        let name = format!("lk-{i}");
        let plan = sb
            .create_plan(CreatePlan {
                name: name.clone(),
                product_id: "prod-sbxvpc0000001".into(),
                product_version_id: "pv-sbxvpc0000001".into(),
                provisioned_product_name: name,
                stack_region_id: Some("cn-hangzhou".into()),
                parameters: vec![("cidr_block".into(), format!("10.{i}.0.0/16"))],
                ..CreatePlan::default()
            })
            .unwrap();
        let done = sb.execute_plan(&plan.id).unwrap();
        ids.push(done.provisioned_product_id);
    }
    let sb = Arc::new(Mutex::new(sb));
    let config = ServerConfig {
        keys: vec![AccessKey::parse("testid:testsecret").unwrap()],
        ..ServerConfig::default()
    };
    (
        serve_on_loopback(sb.clone(), config).await.unwrap(),
        sb,
        ids,
    )
}

fn client(endpoint: &str) -> AlibabaClient {
    AlibabaClient::new(
        AlibabaOptions::resolve("cn-hangzhou", Some(endpoint), &BTreeMap::new()),
        AlibabaCredentials {
            access_key_id: "testid".into(),
            access_key_secret: Sensitive::new("testsecret".into()),
            security_token: None,
        },
    )
    .unwrap()
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// Requests `c` sent while `f` ran.
async fn counted<T>(c: &AlibabaClient, f: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = c.requests.load(Ordering::SeqCst);
    let out = f.await;
    (out, c.requests.load(Ordering::SeqCst) - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_names_are_answered_by_a_few_listings() {
    let (endpoint, _, ids) = start(250).await;
    let c = client(&endpoint);
    // Page 1 holds the newest 100 (lk-249 … lk-150); five names are still unknown and only two
    // pages remain: the pages are read, not the names one by one.
    let wanted = names(&["lk-0", "lk-249", "nope-1", "nope-2", "nope-3", "nope-4"]);
    let (found, sent) = counted(&c, c.find_provisioned_products(&wanted)).await;
    let found = found.unwrap();
    assert_eq!(sent, 3, "page 1, then pages 2 and 3");
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        ["lk-0", "lk-249"]
    );
    assert_eq!(found["lk-0"].id, ids[0]);
    // One name unknown after page 1, two pages left: that name is looked up alone.
    let (found, sent) = counted(&c, c.find_provisioned_products(&names(&["lk-249", "lk-7"]))).await;
    assert_eq!(sent, 2, "page 1, then one lookup by name");
    assert_eq!(found.unwrap()["lk-7"].id, ids[7]);
    // Everything on page 1: one request.
    let (found, sent) = counted(
        &c,
        c.find_provisioned_products(&names(&["lk-200", "lk-201", "lk-202"])),
    )
    .await;
    assert_eq!((found.unwrap().len(), sent), (3, 1));
    // The default (one lookup per name) gives the same answer.
    let each = planform_model::PlanService::find_provisioned_product(&c, "lk-0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(each.id, ids[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_take_one_request_and_a_terminated_product_is_not_found() {
    let (endpoint, sb, ids) = start(3).await;
    let c = client(&endpoint);
    let (outputs, sent) = counted(&c, c.product_outputs(&ids[1])).await;
    let outputs = outputs.unwrap();
    assert_eq!(sent, 1, "ListTasks alone");
    assert_eq!(outputs["cidr_block"], "10.1.0.0/16");
    let (full, sent) = counted(&c, c.provisioned_product(&ids[1])).await;
    assert_eq!(sent, 2, "GetProvisionedProduct, then GetTask");
    assert_eq!(full.unwrap().outputs, outputs);
    sb.lock().unwrap().terminate_product(&ids[2]).unwrap();
    let gone = c.product_outputs(&ids[2]).await.unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound, "{gone:?}");
    let never = c.product_outputs("pp-doesnotexist01").await.unwrap_err();
    assert_eq!(never.kind, ErrorKind::NotFound, "{never:?}");
}
