//! How many times each client sends a request (docs/retries.md): a tiny responder on a loopback
//! port answers every request by its action and records what it received, so each test counts
//! the attempts exactly.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_servicecatalog::config::{BehaviorVersion, Credentials, Region};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use planform_client::{aws::retry_config, AlibabaClient, AlibabaCredentials, AlibabaOptions};
use planform_client::{AwsClient, RetryPolicy};
use planform_model::{
    ErrorKind, NewPlan, OperationType, PlanInputs, PlanService, ProviderError, Sensitive, Sent,
};

/// A request as the responder saw it.
#[derive(Debug, Clone)]
struct Received {
    action: String,
    body: String,
}

/// An answer: status, headers and body.
type Answer = (u16, Vec<(&'static str, String)>, String);

struct Responder {
    answer: Box<dyn Fn(&str) -> Answer + Send + Sync>,
    received: Mutex<Vec<Received>>,
}

async fn respond(State(r): State<Arc<Responder>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    // Alibaba names the action in a header; AWS JSON 1.1 in the target after the service.
    let target = header("x-amz-target");
    let action = match target.split_once('.') {
        Some((_, op)) => op.to_string(),
        None => header("x-acs-action"),
    };
    r.received.lock().unwrap().push(Received {
        action: action.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let (status, headers, body) = (r.answer)(&action);
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(k, v.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), map, body).into_response()
}

/// Starts a responder on a loopback port; returns its endpoint and what it will have received.
async fn responder(
    answer: impl Fn(&str) -> Answer + Send + Sync + 'static,
) -> (String, Arc<Responder>) {
    let r = Arc::new(Responder {
        answer: Box::new(answer),
        received: Mutex::new(vec![]),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(respond).with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), r)
}

fn actions(r: &Responder) -> Vec<String> {
    r.received
        .lock()
        .unwrap()
        .iter()
        .map(|x| x.action.clone())
        .collect()
}

fn alibaba_error(status: u16, code: &str, retry_after_ms: Option<u64>) -> Answer {
    let mut headers = vec![("content-type", "application/json".to_string())];
    if let Some(ms) = retry_after_ms {
        headers.push(("x-acs-retry-after", ms.to_string()));
    }
    let body = format!(r#"{{"Code":"{code}","Message":"no","RequestId":"req-ali"}}"#);
    (status, headers, body)
}

/// An Alibaba client that makes `max_attempts` attempts with (nearly) no backoff.
fn alibaba(endpoint: &str, max_attempts: u32) -> AlibabaClient {
    let mut o = AlibabaOptions::resolve("cn-hangzhou", Some(endpoint), &BTreeMap::new());
    o.retry = RetryPolicy {
        max_attempts,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
    };
    AlibabaClient::new(
        o,
        AlibabaCredentials {
            access_key_id: "testid".into(),
            access_key_secret: Sensitive::new("testsecret".into()),
            security_token: None,
        },
    )
    .unwrap()
}

fn new_plan() -> NewPlan {
    NewPlan {
        inputs: PlanInputs {
            name: "net".into(),
            product_id: "prod-1".into(),
            product_version_id: "pv-1".into(),
            provisioned_product_name: "net".into(),
            tags: [("planform:address".to_string(), "plan.net".to_string())].into(),
            ..PlanInputs::default()
        },
        operation_type: OperationType::LaunchProduct,
        idempotency_token: "tok-1".into(),
    }
}

fn sent(c: &AlibabaClient) -> u64 {
    c.requests.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn the_documented_default_is_five_attempts() {
    assert_eq!(RetryPolicy::default().max_attempts, 5);
    assert_eq!(retry_config(None).max_attempts(), 5);
    assert_eq!(retry_config(Some(4)).max_attempts(), 4);
    assert_eq!(
        retry_config(Some(4)).mode(),
        aws_config::retry::RetryMode::Standard
    );
}

#[tokio::test]
async fn a_throttled_alibaba_request_is_sent_max_attempts_times() {
    let (endpoint, r) = responder(|_| alibaba_error(400, "Throttling.User", Some(1))).await;
    let c = alibaba(&endpoint, 4);
    let e = c.get_plan("plan-1").await.unwrap_err();
    assert_eq!(
        e,
        ProviderError {
            kind: ErrorKind::Throttled {
                retry_after: Some(Duration::from_millis(1))
            },
            sent: Sent::Yes,
            code: "Throttling.User".into(),
            message: "no".into(),
            request_id: Some("req-ali".into()),
        }
    );
    assert_eq!(actions(&r).len(), 4);
    assert_eq!(sent(&c), 4);
}

#[tokio::test]
async fn a_throttled_alibaba_create_is_resent_without_looking() {
    let (endpoint, r) = responder(|_| alibaba_error(429, "TooManyRequests", None)).await;
    let c = alibaba(&endpoint, 3);
    let e = c.create_plan(&new_plan()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Throttled { retry_after: None });
    assert_eq!(actions(&r), ["CreateProvisionedProductPlan"; 3]);
}

#[tokio::test]
async fn an_alibaba_create_answered_with_5xx_is_resent_only_after_looking() {
    let (endpoint, r) = responder(|action| match action {
        "ListProvisionedProductPlans" => (
            200,
            vec![],
            r#"{"PlanDetails":[],"TotalCount":0,"RequestId":"req-list"}"#.into(),
        ),
        _ => alibaba_error(503, "ServiceUnavailable", None),
    })
    .await;
    let c = alibaba(&endpoint, 3);
    let e = c.create_plan(&new_plan()).await.unwrap_err();
    assert_eq!((e.kind, e.sent), (ErrorKind::Transient, Sent::Yes));
    assert_eq!(
        actions(&r),
        [
            "CreateProvisionedProductPlan",
            "ListProvisionedProductPlans",
            "CreateProvisionedProductPlan",
            "ListProvisionedProductPlans",
            "CreateProvisionedProductPlan",
        ]
    );
}

#[tokio::test]
async fn an_alibaba_create_that_landed_is_not_resent() {
    let (endpoint, r) = responder(|action| match action {
        "ListProvisionedProductPlans" => (
            200,
            vec![],
            r#"{"PlanDetails":[{"PlanId":"plan-landed","PlanName":"net","ProductId":"prod-1",
                "ProductVersionId":"pv-1","ProvisionedProductName":"net",
                "OperationType":"LaunchProduct","Status":"PreviewInProgress",
                "Tags":[{"Key":"planform:address","Value":"plan.net"}]}],"TotalCount":1}"#
                .into(),
        ),
        _ => alibaba_error(500, "InternalError", None),
    })
    .await;
    let c = alibaba(&endpoint, 5);
    let found = c.create_plan(&new_plan()).await.unwrap();
    assert_eq!(found.id, "plan-landed");
    assert_eq!(
        actions(&r),
        [
            "CreateProvisionedProductPlan",
            "ListProvisionedProductPlans"
        ]
    );
}

#[tokio::test]
async fn an_alibaba_answer_that_is_not_retryable_is_sent_once() {
    for (status, code, kind) in [
        (400, "InvalidParameter", ErrorKind::Invalid),
        (
            404,
            "InvalidProvisionedProductPlan.NotFound",
            ErrorKind::NotFound,
        ),
        (
            400,
            "InvalidStatus.ProvisionedProductPlan",
            ErrorKind::Conflict,
        ),
        (404, "InvalidAccessKeyId.NotFound", ErrorKind::Auth),
    ] {
        let (endpoint, r) = responder(move |_| alibaba_error(status, code, None)).await;
        let c = alibaba(&endpoint, 5);
        let e = c.execute_plan("plan-1").await.unwrap_err();
        assert_eq!((e.kind, e.sent), (kind, Sent::Yes), "{code}");
        assert_eq!(actions(&r).len(), 1, "{code}");
    }
}

/// A connection that is accepted, read and then dropped: the request may have been acted on.
#[tokio::test]
async fn an_alibaba_request_whose_answer_is_lost_may_have_been_sent() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(Mutex::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            *counter.lock().unwrap() += 1;
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
        }
    });
    let c = alibaba(&endpoint, 2);
    let e = c.get_plan("plan-1").await.unwrap_err();
    assert_eq!((e.kind, e.sent), (ErrorKind::Transient, Sent::Maybe));
    assert_eq!(*accepted.lock().unwrap(), 2);
}

/// An AWS client on planform's retry configuration, with a 1 ms first backoff so that the test
/// does not wait the SDK's default second.
fn aws(endpoint: &str, max_attempts: u32) -> AwsClient {
    let conf = aws_sdk_servicecatalog::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testid", "testsecret", None, None, "test"))
        .retry_config(
            retry_config(Some(max_attempts)).with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    let sts = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testid", "testsecret", None, None, "test"))
        .retry_config(
            retry_config(Some(max_attempts)).with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    AwsClient::from_conf(conf, None, sts)
}

fn aws_error(status: u16, code: &str) -> Answer {
    (
        status,
        vec![
            ("content-type", "application/x-amz-json-1.1".to_string()),
            ("x-amzn-requestid", "req-aws".to_string()),
        ],
        format!(r#"{{"__type":"{code}","message":"no"}}"#),
    )
}

#[tokio::test]
async fn a_throttled_aws_create_is_sent_max_attempts_times_with_one_idempotency_token() {
    let (endpoint, r) = responder(|_| aws_error(400, "ThrottlingException")).await;
    let e = aws(&endpoint, 4)
        .create_plan(&new_plan())
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.sent, e.code.as_str(), e.request_id.as_deref()),
        (
            ErrorKind::Throttled { retry_after: None },
            Sent::Yes,
            "ThrottlingException",
            Some("req-aws")
        )
    );
    let received = r.received.lock().unwrap().clone();
    assert_eq!(received.len(), 4, "the SDK's attempts and no more");
    for x in &received {
        assert_eq!(x.action, "CreateProvisionedProductPlan");
        let body: serde_json::Value = serde_json::from_str(&x.body).unwrap();
        assert_eq!(body["IdempotencyToken"], "tok-1", "{}", x.body);
    }
}

#[tokio::test]
async fn an_aws_answer_that_is_not_retryable_is_sent_once() {
    for (status, code, kind) in [
        (400, "InvalidParametersException", ErrorKind::Invalid),
        (400, "ResourceNotFoundException", ErrorKind::NotFound),
        (400, "InvalidStateException", ErrorKind::Conflict),
        (400, "InvalidSignatureException", ErrorKind::Auth),
        (403, "AccessDeniedException", ErrorKind::Auth),
    ] {
        let (endpoint, r) = responder(move |_| aws_error(status, code)).await;
        let e = aws(&endpoint, 4).get_plan("plan-1").await.unwrap_err();
        assert_eq!(
            (e.kind, e.sent, e.request_id.as_deref()),
            (kind, Sent::Yes, Some("req-aws")),
            "{code}"
        );
        assert_eq!(actions(&r).len(), 1, "{code}");
    }
}

#[tokio::test]
async fn an_aws_answer_with_5xx_is_retried_and_then_transient() {
    let (endpoint, r) = responder(|_| aws_error(503, "ServiceUnavailable")).await;
    let e = aws(&endpoint, 3).delete_plan("plan-1").await.unwrap_err();
    assert_eq!((e.kind, e.sent), (ErrorKind::Transient, Sent::Yes));
    assert_eq!(actions(&r).len(), 3);
}

#[tokio::test]
async fn an_unreachable_aws_endpoint_is_a_transient_error_not_sent() {
    let e = aws("http://127.0.0.1:9", 2)
        .get_plan("plan-1")
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.sent), (ErrorKind::Transient, Sent::No));
}

/// Outputs in one `ListTasks`, else the documented two reads: when the caller may not list
/// tasks (a RAM policy without `ListTasks`) or the listed tasks come without outputs.
#[tokio::test]
async fn outputs_fall_back_to_the_documented_reads() {
    let ok = |body: &str| -> Answer {
        (
            200,
            vec![("content-type", "application/json".to_string())],
            body.to_string(),
        )
    };
    let detail = r#"{"RequestId":"r","ProvisionedProductDetail":{"ProvisionedProductId":"pp-1","ProvisionedProductName":"n","Status":"Available","LastSuccessfulProvisioningTaskId":"task-1"}}"#;
    let task = r#"{"RequestId":"r","TaskDetail":{"TaskId":"task-1","Outputs":[{"OutputKey":"vpc_id","OutputValue":"vpc-1"}]}}"#;
    let listed = r#"{"RequestId":"r","TaskDetails":[{"TaskId":"task-1","TaskType":"LaunchProduct","Status":"Succeeded","CreateTime":"2026-01-01T00:00:00Z","Outputs":[{"OutputKey":"vpc_id","OutputValue":"vpc-1"}]}]}"#;
    let summaries = r#"{"RequestId":"r","TaskDetails":[{"TaskId":"task-1","TaskType":"LaunchProduct","Status":"Succeeded","CreateTime":"2026-01-01T00:00:00Z"}]}"#;
    for (list_tasks, expected) in [
        (ok(listed), vec!["ListTasks"]),
        (
            alibaba_error(403, "NoPermission", None),
            vec!["ListTasks", "GetProvisionedProduct", "GetTask"],
        ),
        (
            ok(summaries),
            vec!["ListTasks", "GetProvisionedProduct", "GetTask"],
        ),
    ] {
        let (endpoint, r) = responder(move |action| match action {
            "ListTasks" => list_tasks.clone(),
            "GetProvisionedProduct" => ok(detail),
            "GetTask" => ok(task),
            other => panic!("unexpected {other}"),
        })
        .await;
        let outputs = alibaba(&endpoint, 1).product_outputs("pp-1").await.unwrap();
        assert_eq!(outputs["vpc_id"], "vpc-1");
        assert_eq!(actions(&r), expected);
    }
}

/// A redirect is not followed: the Alibaba request is signed in its query (with the security
/// token), so following a `Location` would hand a signed request to another host. The answer is
/// an error naming the status, and the other host receives nothing.
#[tokio::test]
async fn an_alibaba_redirect_is_not_followed() {
    let (elsewhere, other) = responder(|_| (200, vec![], "{}".into())).await;
    let (endpoint, r) = responder(move |_| {
        (
            302,
            vec![("location", format!("{elsewhere}/steal"))],
            "".into(),
        )
    })
    .await;
    let c = alibaba(&endpoint, 1);
    let e = c.get_plan("plan-1").await.unwrap_err();
    assert_eq!(actions(&r), ["GetProvisionedProductPlan"]);
    assert!(actions(&other).is_empty(), "the redirect was followed");
    assert!(e.message.contains("302") || e.code.contains("302"), "{e:?}");
}

/// An endpoint that answers with something other than the API's JSON (a proxy's page, another
/// service) is an error naming the action, the endpoint and the status, also with a 2xx status
/// (found by a new-user trial: "404: " with nothing else, and a 200 page read as an empty answer).
#[tokio::test]
async fn an_answer_that_is_not_the_apis_json_names_the_action_and_endpoint() {
    for (status, body) in [(404, ""), (200, "<html><body>portal</body></html>")] {
        let (endpoint, _) = responder(move |_| (status, vec![], body.into())).await;
        let c = alibaba(&endpoint, 1);
        let e = c.get_plan("plan-1").await.unwrap_err();
        assert!(
            e.message.contains(&format!(
                "GetProvisionedProductPlan at {endpoint}: HTTP {status}"
            )),
            "{e:?}"
        );
        assert_eq!(e.code, status.to_string());
        if status == 200 {
            assert_eq!(e.kind, ErrorKind::Invalid);
            assert!(e.message.contains("portal"), "{e:?}");
        }
    }
}
