//! The Alibaba client against a real `sandbox serve` (in process, on a loopback port).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use planform_client::{AlibabaClient, AlibabaCredentials, AlibabaOptions, RetryPolicy};
use planform_model::{
    ErrorKind, NewPlan, OperationType, PlanFilter, PlanInputs, PlanService, PlanStatus, PlanUpdate,
    Sensitive,
};
use planform_sandbox::server::{serve_on_loopback, AccessKey, ServerConfig};
use planform_sandbox::{store::Store, Catalog, Sandbox, Settings, SystemClock};

async fn start(config: ServerConfig) -> (String, Arc<Mutex<Sandbox>>) {
    let sb = Sandbox::new(
        Catalog::demo(),
        Settings {
            preview_ms: 20,
            execute_ms: 40,
            ..Settings::default()
        },
        Arc::new(SystemClock),
        Store::memory(),
    )
    .unwrap();
    let sb = Arc::new(Mutex::new(sb));
    let config = ServerConfig {
        keys: vec![AccessKey::parse("testid:testsecret").unwrap()],
        ..config
    };
    (serve_on_loopback(sb.clone(), config).await.unwrap(), sb)
}

fn client(endpoint: &str, secret: &str, retry: RetryPolicy, rps: Option<f64>) -> AlibabaClient {
    let mut o = AlibabaOptions::resolve("cn-hangzhou", Some(endpoint), &BTreeMap::new());
    o.retry = retry;
    o.requests_per_second = rps;
    AlibabaClient::new(
        o,
        AlibabaCredentials {
            access_key_id: "testid".into(),
            access_key_secret: Sensitive::new(secret.into()),
            security_token: None,
        },
    )
    .unwrap()
}

fn vpc(name: &str, cidr: &str) -> PlanInputs {
    PlanInputs {
        name: name.into(),
        product_id: "prod-sbxvpc0000001".into(),
        product_version_id: "pv-sbxvpc0000001".into(),
        provisioned_product_name: name.into(),
        stack_region_id: Some("cn-hangzhou".into()),
        parameters: [("cidr_block".to_string(), cidr.to_string())].into(),
        tags: [("planform:address".to_string(), format!("plan.{name}"))].into(),
        description: Some("a plan".into()),
        ..PlanInputs::default()
    }
}

async fn settle(c: &AlibabaClient, id: &str, until: PlanStatus) -> planform_model::LivePlan {
    for _ in 0..2000 {
        let l = c.get_plan(id).await.unwrap();
        if l.status == until {
            return l;
        }
        assert!(
            !l.status.in_progress() || l.status != PlanStatus::PreviewFailed,
            "{l:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{id} never reached {until}");
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 10,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(100),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interface_method() {
    let (endpoint, _) = start(ServerConfig::default()).await;
    let c = client(&endpoint, "testsecret", fast(), None);
    let made = c
        .create_plan(&NewPlan {
            inputs: vpc("cl-net", "10.0.0.0/16"),
            operation_type: OperationType::LaunchProduct,
            idempotency_token: "t".into(),
        })
        .await
        .unwrap();
    assert!(made.id.starts_with("plan-"));
    let l = settle(&c, &made.id, PlanStatus::PreviewSuccess).await;
    assert_eq!(l.inputs.parameters["cidr_block"], "10.0.0.0/16");
    assert_eq!(l.inputs.description.as_deref(), Some("a plan"));
    assert_eq!(c.resource_changes(&made.id).await.unwrap().len(), 2);
    let updated = c
        .update_plan(&PlanUpdate {
            plan_id: made.id.clone(),
            inputs: vpc("cl-net", "10.5.0.0/16"),
        })
        .await
        .unwrap();
    assert_eq!(updated.inputs.parameters["cidr_block"], "10.5.0.0/16");
    settle(&c, &made.id, PlanStatus::PreviewSuccess).await;
    let page = c
        .list_plans(
            &PlanFilter {
                name: Some("cl-net".into()),
                statuses: vec![PlanStatus::PreviewSuccess],
            },
            1,
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        (page.total_count, page.items[0].id.as_str()),
        (1, made.id.as_str())
    );
    c.execute_plan(&made.id).await.unwrap();
    let done = settle(&c, &made.id, PlanStatus::ExecuteSuccess).await;
    let pp = c
        .find_provisioned_product("cl-net")
        .await
        .unwrap()
        .expect("launched");
    assert_eq!(Some(pp.id.clone()), done.provisioned_product_id);
    let full = c.provisioned_product(&pp.id).await.unwrap();
    assert_eq!(full.outputs["cidr_block"], "10.5.0.0/16");
    assert!(full.outputs["vpc_id"].starts_with("vpc-"));
    assert!(c.find_provisioned_product("nope").await.unwrap().is_none());
    // Approval, cancel.
    let mut db = vpc("cl-db", "x");
    db.product_id = "prod-sbxrds0000001".into();
    db.product_version_id = "pv-sbxrds0000001".into();
    db.portfolio_id = Some("port-sbxreview0001".into());
    db.parameters = [("engine".to_string(), "MySQL".to_string())].into();
    let d = c
        .create_plan(&NewPlan {
            inputs: db,
            operation_type: OperationType::LaunchProduct,
            idempotency_token: "t2".into(),
        })
        .await
        .unwrap();
    settle(&c, &d.id, PlanStatus::PreviewSuccess).await;
    c.execute_plan(&d.id).await.unwrap();
    assert_eq!(
        c.get_plan(&d.id).await.unwrap().status,
        PlanStatus::ApplicationInProgress
    );
    c.cancel_plan(&d.id).await.unwrap();
    assert_eq!(
        c.get_plan(&d.id).await.unwrap().status,
        PlanStatus::Canceled
    );
    c.delete_plan(&d.id).await.unwrap();
    let gone = c.get_plan(&d.id).await.unwrap_err();
    assert_eq!(
        (gone.kind, gone.code.as_str()),
        (
            ErrorKind::NotFound,
            "InvalidProvisionedProductPlan.NotFound"
        )
    );
    assert!(gone.request_id.is_some());
    assert!(c.capabilities().update_in_place);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_an_auth_error_that_is_not_retried() {
    let (endpoint, _) = start(ServerConfig::default()).await;
    let c = client(&endpoint, "wrong", fast(), None);
    let e = c.get_plan("plan-x").await.unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.code.as_str()),
        (ErrorKind::Auth, "SignatureDoesNotMatch")
    );
    assert_eq!(c.requests.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert!(
        !format!("{e} {e:?}").contains("wrong"),
        "no secret in errors"
    );
}

/// Issue 12 (3): the account comes from STS `GetCallerIdentity` at the sandbox's endpoint
/// (signed with ACS3 as every request), asked once for the client's life; a wrong secret is an
/// auth error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_is_asked_of_sts_once() {
    let (endpoint, _) = start(ServerConfig::default()).await;
    let c = client(&endpoint, "testsecret", fast(), None);
    assert_eq!(c.account().await.unwrap(), "1234567890123456");
    assert_eq!(c.account().await.unwrap(), "1234567890123456");
    assert_eq!(c.requests.load(std::sync::atomic::Ordering::Relaxed), 1);
    let e = client(&endpoint, "wrong", fast(), None)
        .account()
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Auth, "SignatureDoesNotMatch")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_a_transient_error_not_sent() {
    let c = client(
        "http://127.0.0.1:9",
        "testsecret",
        RetryPolicy {
            max_attempts: 2,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        },
        None,
    );
    let e = c.get_plan("plan-x").await.unwrap_err();
    assert_eq!(
        (e.kind, e.sent),
        (ErrorKind::Transient, planform_model::Sent::No)
    );
    assert_eq!(
        c.requests.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "retried once"
    );
}

/// 60 plans × create, update, execute (+ delete of half) = 210 writes under a 30% failure rate,
/// a tight rate limit and added latency: all succeed, and the sandbox holds exactly what it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_operations_under_faults() {
    let config = ServerConfig {
        fail_rate: 0.3,
        throttle_rps: Some(400.0),
        latency: Duration::from_millis(2),
        ..ServerConfig::default()
    };
    let (endpoint, sb) = start(config).await;
    let c = Arc::new(client(&endpoint, "testsecret", fast(), Some(300.0)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let c = c.clone();
        tasks.spawn(async move {
            let name = format!("fault-{i:02}");
            let made = c
                .create_plan(&NewPlan {
                    inputs: vpc(&name, "10.0.0.0/16"),
                    operation_type: OperationType::LaunchProduct,
                    idempotency_token: name.clone(),
                })
                .await
                .unwrap();
            settle(&c, &made.id, PlanStatus::PreviewSuccess).await;
            c.update_plan(&PlanUpdate {
                plan_id: made.id.clone(),
                inputs: vpc(&name, "10.1.0.0/16"),
            })
            .await
            .unwrap();
            settle(&c, &made.id, PlanStatus::PreviewSuccess).await;
            c.execute_plan(&made.id).await.unwrap();
            settle(&c, &made.id, PlanStatus::ExecuteSuccess).await;
            if i % 2 == 0 {
                c.delete_plan(&made.id).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let mut sb = sb.lock().unwrap();
    let (plans, total) = sb
        .list_plans(&planform_sandbox::ListPlans {
            page_number: 1,
            page_size: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(total, 30, "no duplicate, none lost");
    let mut names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 30);
    assert!(plans
        .iter()
        .all(|p| p.status.as_str() == "ExecuteSuccess" && p.parameters[0].1 == "10.1.0.0/16"));
    assert_eq!(
        sb.list_provisioned_products().unwrap().len(),
        60,
        "every plan launched exactly one product"
    );
}
