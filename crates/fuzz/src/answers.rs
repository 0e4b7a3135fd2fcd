//! The clients' response decoding, given a server that answers every request with the same
//! arbitrary status, headers and body: the Alibaba client (reqwest) through a loopback server
//! this module runs on a thread, the AWS client (the official SDK) through an in-process HTTP
//! connector. Every `PlanService` call is made; what must hold is checked in `lib.rs`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_servicecatalog::config::{
    retry::RetryConfig, BehaviorVersion, Credentials, Region, StalledStreamProtectionConfig,
};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use planform_client::{AlibabaClient, AlibabaCredentials, AlibabaOptions, AwsClient, RetryPolicy};
use planform_model::{
    NewPlan, OperationType, PlanFilter, PlanInputs, PlanService, PlanUpdate, ProviderError,
    Sensitive,
};

/// What the server answers: an HTTP status (200–599), headers and a body.
#[derive(Debug, Clone)]
pub(crate) struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    /// From fuzz input: two bytes of status, then header lines up to an empty line, then the
    /// body. Headers that no server could send are left out.
    pub(crate) fn from_bytes(data: &[u8]) -> Canned {
        let status = match data {
            [a, b, ..] => 200 + u16::from_be_bytes([*a, *b]) % 400,
            _ => 200,
        };
        let rest = data.get(2..).unwrap_or_default();
        let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&rest[..i], &rest[i + 2..]),
            None => (&[][..], rest),
        };
        let headers = head
            .split(|b| *b == b'\n')
            .filter_map(|line| {
                let line = std::str::from_utf8(line).ok()?;
                let (k, v) = line.split_once(':')?;
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                // Framing is the server's; a redirect could lead the client off loopback.
                let framing = [
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "location",
                ];
                let ok = !k.is_empty()
                    && !framing.contains(&k.as_str())
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && v.bytes().all(|b| (b' '..=b'~').contains(&b));
                ok.then_some((k, v))
            })
            .collect();
        Canned {
            status,
            headers,
            body: body.to_vec(),
        }
    }
}

/// What one call of every `PlanService` method gave (`Ok` as `None`) and how many requests it
/// made.
pub(crate) type Outcomes = Vec<(&'static str, Option<ProviderError>, u64)>;

fn inputs() -> PlanInputs {
    PlanInputs {
        name: "fuzz".into(),
        product_id: "prod-fuzz".into(),
        product_version_id: "pv-fuzz".into(),
        provisioned_product_name: "fuzz".into(),
        ..PlanInputs::default()
    }
}

/// Calls every method of `c` once; `requests` counts the requests made so far.
async fn every_call(c: &dyn PlanService, requests: &dyn Fn() -> u64) -> Outcomes {
    let new = NewPlan {
        inputs: inputs(),
        operation_type: OperationType::LaunchProduct,
        idempotency_token: "fuzz-token".into(),
    };
    let update = PlanUpdate {
        plan_id: "plan-fuzz".into(),
        inputs: inputs(),
    };
    let mut out = Outcomes::new();
    let mut note = |call: &'static str, r: Result<(), ProviderError>, before: u64| {
        out.push((call, r.err(), requests() - before));
    };
    let b = requests();
    let r = c.list_plans(&PlanFilter::default(), 1, 100).await.map(drop);
    note("list_plans", r, b);
    let b = requests();
    let r = c.get_plan("plan-fuzz").await.map(drop);
    note("get_plan", r, b);
    let b = requests();
    let r = c.create_plan(&new).await.map(drop);
    note("create_plan", r, b);
    let b = requests();
    let r = c.update_plan(&update).await.map(drop);
    note("update_plan", r, b);
    let b = requests();
    let r = c.execute_plan("plan-fuzz").await;
    note("execute_plan", r, b);
    let b = requests();
    let r = c.cancel_plan("plan-fuzz").await;
    note("cancel_plan", r, b);
    let b = requests();
    let r = c.delete_plan("plan-fuzz").await;
    note("delete_plan", r, b);
    let b = requests();
    let r = c.resource_changes("plan-fuzz").await.map(drop);
    note("resource_changes", r, b);
    let b = requests();
    let r = c.find_provisioned_product("fuzz").await.map(drop);
    note("find_provisioned_product", r, b);
    let b = requests();
    let r = c.provisioned_product("pp-fuzz").await.map(drop);
    note("provisioned_product", r, b);
    let b = requests();
    let r = c.terminate_product("fuzz", "token").await;
    note("terminate_product", r, b);
    out
}

/// The loopback server the Alibaba client talks to: it answers every request with the
/// canned answer set last, and counts the requests.
struct Loopback {
    endpoint: String,
    answer: Arc<Mutex<Vec<u8>>>,
    requests: Arc<AtomicU64>,
    /// One fuzz input at a time (the answer is the server's only state).
    turn: Mutex<()>,
}

fn loopback() -> &'static Loopback {
    static SERVER: OnceLock<Loopback> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().expect("its address"));
        let answer = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicU64::new(0));
        let (a, n) = (answer.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                n.fetch_add(1, Ordering::SeqCst);
                let answer = a.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let _ = serve_one(stream, &answer);
            }
        });
        Loopback {
            endpoint,
            answer,
            requests,
            turn: Mutex::new(()),
        }
    })
}

/// Reads one request (head and `content-length` body) and writes `answer`, then closes.
fn serve_one(mut stream: std::net::TcpStream, answer: &[u8]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    stream.write_all(answer)?;
    stream.flush()
}

fn http_answer(c: &Canned) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} Fuzz\r\n", c.status).into_bytes();
    for (k, v) in &c.headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            c.body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&c.body);
    out
}

/// Every call of the Alibaba client against a server answering `c`, and how many requests
/// they made.
pub(crate) fn alibaba(c: &Canned) -> (Outcomes, u64) {
    let server = loopback();
    let _turn = server.turn.lock().unwrap_or_else(|e| e.into_inner());
    *server.answer.lock().unwrap_or_else(|e| e.into_inner()) = http_answer(c);
    let before = server.requests.load(Ordering::SeqCst);
    let options = AlibabaOptions {
        endpoint: server.endpoint.clone(),
        sts_endpoint: server.endpoint.clone(),
        retry: RetryPolicy {
            max_attempts: 1,
            base: Duration::ZERO,
            cap: Duration::ZERO,
        },
        requests_per_second: None,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
    };
    let client = AlibabaClient::new(
        options,
        AlibabaCredentials {
            access_key_id: "fuzzid".into(),
            access_key_secret: Sensitive::new("fuzzsecret".into()),
            security_token: None,
        },
    )
    .expect("a client");
    let count = || server.requests.load(Ordering::SeqCst);
    let outcomes = crate::faces::block_on(every_call(&client, &count));
    (outcomes, count() - before)
}

/// The SDK's connector: the canned answer to every request, counted.
#[derive(Debug, Clone)]
struct CannedConnector {
    canned: Arc<Canned>,
    requests: Arc<AtomicU64>,
    /// Past this many requests the connector fails them: a client that keeps asking is looping.
    limit: u64,
}

impl HttpConnector for CannedConnector {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        if n >= self.limit {
            return HttpConnectorFuture::ready(Err(
                aws_smithy_runtime_api::client::result::ConnectorError::other(
                    "the fuzz connector's request limit".into(),
                    None,
                ),
            ));
        }
        let mut response = HttpResponse::new(
            self.canned
                .status
                .try_into()
                .expect("statuses 200–599 are valid"),
            SdkBody::from(self.canned.body.clone()),
        );
        for (k, v) in &self.canned.headers {
            let _ = response.headers_mut().try_insert(k.clone(), v.clone());
        }
        HttpConnectorFuture::ready(Ok(response))
    }
}

/// Every call of the AWS client against a connector answering `c` (and failing every request
/// past `limit`), and how many requests they made.
pub(crate) fn aws(c: &Canned, limit: u64) -> (Outcomes, u64) {
    let connector = CannedConnector {
        canned: Arc::new(c.clone()),
        requests: Arc::new(AtomicU64::new(0)),
        limit,
    };
    let requests = connector.requests.clone();
    let http = http_client_fn(move |_, _| SharedHttpConnector::new(connector.clone()));
    let conf = aws_sdk_servicecatalog::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("fuzzid", "fuzzsecret", None, None, "fuzz"))
        .http_client(http.clone())
        .retry_config(RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    let sts = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("fuzzid", "fuzzsecret", None, None, "fuzz"))
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .build();
    let client = AwsClient::from_conf(conf, None, sts);
    let count = || requests.load(Ordering::SeqCst);
    let outcomes = crate::faces::block_on(every_call(&client, &count));
    (outcomes, count())
}
