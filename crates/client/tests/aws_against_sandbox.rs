//! The AWS client (the official aws-sdk-servicecatalog) against a real `sandbox serve`: every
//! interface method, and the server's SigV4 verification judged by the official Rust SDK.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_servicecatalog::config::{BehaviorVersion, Credentials, Region};
use planform_client::AwsClient;
use planform_model::{
    ErrorKind, NewPlan, OperationType, PlanFilter, PlanInputs, PlanService, PlanStatus,
};
use planform_sandbox::server::{serve_on_loopback, AccessKey, ServerConfig};
use planform_sandbox::{store::Store, Catalog, Sandbox, Settings, SystemClock};

async fn start() -> String {
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
    let config = ServerConfig {
        keys: vec![AccessKey::parse("testid:testsecret").unwrap()],
        ..ServerConfig::default()
    };
    serve_on_loopback(Arc::new(Mutex::new(sb)), config)
        .await
        .unwrap()
}

fn client(endpoint: &str, secret: &str) -> AwsClient {
    let conf = aws_sdk_servicecatalog::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testid", secret, None, None, "test"))
        .build();
    let sts = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testid", secret, None, None, "test"))
        .build();
    AwsClient::from_conf(conf, None, sts)
}

async fn settle(c: &AwsClient, id: &str, until: PlanStatus) -> planform_model::LivePlan {
    for _ in 0..2000 {
        let l = c.get_plan(id).await.unwrap();
        if l.status == until {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{id} never reached {until}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_interface_method_through_the_official_sdk() {
    let endpoint = start().await;
    let c = client(&endpoint, "testsecret");
    let inputs = PlanInputs {
        name: "aws-net".into(),
        product_id: "prod-sbxvpc0000001".into(),
        product_version_id: "pv-sbxvpc0000001".into(),
        provisioned_product_name: "aws-net".into(),
        parameters: [("cidr_block".to_string(), "10.0.0.0/16".to_string())].into(),
        tags: [("planform:address".to_string(), "plan.net".to_string())].into(),
        notification_arns: vec!["arn:aws:sns:us-east-1:123456789012:t".into()],
        ..PlanInputs::default()
    };
    let req = NewPlan {
        inputs,
        operation_type: OperationType::LaunchProduct,
        idempotency_token: "tok-1".into(),
    };
    let made = c.create_plan(&req).await.unwrap();
    assert_eq!(
        c.create_plan(&req).await.unwrap().id,
        made.id,
        "the idempotency token returns the first plan"
    );
    let l = settle(&c, &made.id, PlanStatus::PreviewSuccess).await;
    assert_eq!(
        (
            l.raw_status.as_str(),
            l.inputs.tags["planform:address"].as_str()
        ),
        ("CREATE_SUCCESS", "plan.net")
    );
    assert_eq!(
        l.inputs.notification_arns,
        ["arn:aws:sns:us-east-1:123456789012:t"]
    );
    assert_eq!(
        c.resource_changes(&made.id)
            .await
            .unwrap()
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        ["ADD", "ADD"]
    );
    let listed = c.list_plans(&PlanFilter::default(), 1, 100).await.unwrap();
    assert_eq!(
        (listed.total_count, listed.items[0].id.as_str()),
        (1, made.id.as_str())
    );
    assert!(c
        .update_plan(&planform_model::PlanUpdate {
            plan_id: made.id.clone(),
            inputs: l.inputs.clone()
        })
        .await
        .is_err());
    assert!(!c.capabilities().update_in_place);
    c.execute_plan(&made.id).await.unwrap();
    let done = settle(&c, &made.id, PlanStatus::ExecuteSuccess).await;
    let pp = c
        .find_provisioned_product("aws-net")
        .await
        .unwrap()
        .expect("launched");
    assert_eq!(Some(pp.id.clone()), done.provisioned_product_id);
    let full = c.provisioned_product(&pp.id).await.unwrap();
    assert!(full.outputs["vpc_id"].starts_with("vpc-"));
    assert!(c.find_provisioned_product("nope").await.unwrap().is_none());
    c.delete_plan(&made.id).await.unwrap();
    let e = c.get_plan(&made.id).await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::NotFound, "ResourceNotFoundException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_an_auth_error() {
    let endpoint = start().await;
    let e = client(&endpoint, "wrong")
        .get_plan("plan-x")
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Auth, "InvalidSignatureException")
    );
}

/// Issue 12 (3): the account comes from STS `GetCallerIdentity` through the official SDK (query
/// API, SigV4 for `sts`) at the sandbox's endpoint; a wrong secret is STS's auth error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_is_asked_of_sts() {
    let endpoint = start().await;
    let c = client(&endpoint, "testsecret");
    assert_eq!(c.account().await.unwrap(), "123456789012");
    assert_eq!(c.account().await.unwrap(), "123456789012");
    let e = client(&endpoint, "wrong").account().await.unwrap_err();
    assert_eq!(
        (e.kind, e.code.as_str()),
        (ErrorKind::Auth, "SignatureDoesNotMatch")
    );
}

/// Issue 12 (7): AWS pages a plan's ResourceChanges (20 at most); the client reads every page.
/// The sandbox's Kubernetes product has 24 resources, so one page would miss four.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_changes_are_read_from_every_page() {
    let endpoint = start().await;
    let c = client(&endpoint, "testsecret");
    let req = NewPlan {
        inputs: PlanInputs {
            name: "aws-k8s".into(),
            product_id: "prod-sbxk8s0000001".into(),
            product_version_id: "pv-sbxk8s0000001".into(),
            provisioned_product_name: "aws-k8s".into(),
            parameters: [("cluster_name".to_string(), "k".to_string())].into(),
            ..PlanInputs::default()
        },
        operation_type: OperationType::LaunchProduct,
        idempotency_token: "tok-k8s".into(),
    };
    let made = c.create_plan(&req).await.unwrap();
    settle(&c, &made.id, PlanStatus::PreviewSuccess).await;
    let changes = c.resource_changes(&made.id).await.unwrap();
    assert_eq!(changes.len(), 24);
    assert_eq!(changes.last().unwrap().logical_resource_id, "Addons");
}
