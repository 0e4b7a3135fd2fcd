//! Requests for the sandbox server's two faces made from fuzz input, answered in process by
//! `planform_sandbox::server::answer` (the handler `sandbox serve` runs, without a socket).
//!
//! Three shapes reach three depths: raw bytes as method, target, headers and body (the parsers
//! and the signature checks see anything); an Alibaba RPC request with arbitrary parameters,
//! signed with the server's key so it reaches the dispatch and the emulator's validation; an AWS
//! JSON 1.1 request with an arbitrary body for one of the operations, SigV4-signed likewise.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use planform_sandbox::server::{AccessKey, ServerConfig};
use planform_sandbox::{store::Store, Catalog, ManualClock, Sandbox, Settings};
use planform_wire::{encoding, rpc, sha256_hex, sigv4};

const KEY_ID: &str = "fuzzid";
const SECRET: &str = "fuzzsecret";
/// The sandbox's clock, fixed: 2026-01-01T00:00:00Z.
const NOW_MS: u64 = 1_767_225_600_000;
const HOST: &str = "servicecatalog.cn-hangzhou.aliyuncs.com";

/// One request, as the HTTP layer hands it to the handler.
pub(crate) struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The Alibaba actions the sandbox answers, and a name it does not.
const ALIBABA_ACTIONS: &[&str] = &[
    "CreateProvisionedProductPlan",
    "UpdateProvisionedProductPlan",
    "GetProvisionedProductPlan",
    "ListProvisionedProductPlans",
    "ListProvisionedProductPlanApprovers",
    "ApproveProvisionedProductPlan",
    "ExecuteProvisionedProductPlan",
    "CancelProvisionedProductPlan",
    "DeleteProvisionedProductPlan",
    "GetProvisionedProduct",
    "ListProvisionedProducts",
    "GetTask",
    "ListTasks",
    "GetProductAsEndUser",
    "ListProductsAsEndUser",
    "GetProductVersion",
    "ListProductVersions",
    "ListLaunchOptions",
    "NoSuchAction",
];

/// The AWS operations the sandbox answers, and a name it does not.
const AWS_OPERATIONS: &[&str] = &[
    "CreateProvisionedProductPlan",
    "DescribeProvisionedProductPlan",
    "ListProvisionedProductPlans",
    "ExecuteProvisionedProductPlan",
    "DeleteProvisionedProductPlan",
    "DescribeProvisionedProduct",
    "GetProvisionedProductOutputs",
    "SearchProvisionedProducts",
    "TerminateProvisionedProduct",
    "DescribeRecord",
    "NoSuchOperation",
];

/// The emulator every request of this process goes to (in memory, its clock fixed), so one
/// input's plans are there for the next.
fn sandbox() -> Arc<Mutex<Sandbox>> {
    static SANDBOX: OnceLock<Arc<Mutex<Sandbox>>> = OnceLock::new();
    SANDBOX
        .get_or_init(|| {
            let sb = Sandbox::new(
                Catalog::demo(),
                Settings::default(),
                Arc::new(ManualClock::new(NOW_MS)),
                Store::memory(),
            )
            .expect("the demo sandbox");
            Arc::new(Mutex::new(sb))
        })
        .clone()
}

fn config() -> ServerConfig {
    ServerConfig {
        keys: vec![AccessKey {
            id: KEY_ID.into(),
            secret: SECRET.into(),
            token: None,
            user: None,
            account: None,
        }],
        ..ServerConfig::default()
    }
}

/// A nonce no earlier request of this process used.
fn nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("fuzz-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// A value the selector byte `b` picks from `list`.
fn pick<'a>(list: &[&'a str], b: u8) -> &'a str {
    list[usize::from(b) % list.len()]
}

/// `METHOD TARGET\nName: value\n…\n\nbody`: a request line, headers up to an empty line, and
/// the rest as the body. `None` when the HTTP layer would refuse it before the handler (a bad
/// method, target or header), as hyper does.
pub(crate) fn raw(data: &[u8]) -> Option<Request> {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|b| *b == b'\n');
    let first = lines.next().unwrap_or_default();
    let mut parts = first.splitn(2, |b| *b == b' ');
    let method = Method::from_bytes(parts.next().filter(|m| !m.is_empty())?).ok()?;
    let uri = Uri::try_from(parts.next().unwrap_or(b"/")).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let colon = line.iter().position(|b| *b == b':')?;
        let name = HeaderName::from_bytes(&line[..colon]).ok()?;
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii()).ok()?;
        headers.append(name, value);
    }
    Some(Request {
        method,
        uri,
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

/// An Alibaba RPC request (signature version 1.0): the action from the first byte, then the
/// input as form pairs, which may override any protocol parameter; signed with the server's key.
/// The parameters go in the query (GET) or in a form body (POST).
pub(crate) fn alibaba_rpc(data: &[u8], in_body: bool) -> Option<Request> {
    let (&which, rest) = data.split_first()?;
    let mut params: BTreeMap<String, String> = [
        ("Action", pick(ALIBABA_ACTIONS, which).to_string()),
        ("Version", "2021-09-01".into()),
        ("Format", "JSON".into()),
        ("AccessKeyId", KEY_ID.into()),
        ("SignatureMethod", "HMAC-SHA1".into()),
        ("SignatureVersion", "1.0".into()),
        ("SignatureNonce", nonce()),
        ("Timestamp", planform_wire::iso8601(NOW_MS)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    params.extend(encoding::form_decode(&String::from_utf8_lossy(rest)));
    let method = if in_body { Method::POST } else { Method::GET };
    let mut pairs: Vec<(String, String)> = params.into_iter().collect();
    let signature = rpc::signature(SECRET, method.as_str(), &pairs);
    pairs.push(("Signature".into(), signature));
    let form = encoding::form_encode(&pairs);
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(HOST));
    let (uri, body) = if in_body {
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        (Uri::from_static("/"), Bytes::from(form))
    } else {
        (Uri::try_from(format!("/?{form}")).ok()?, Bytes::new())
    };
    Some(Request {
        method,
        uri,
        headers,
        body,
    })
}

/// An AWS JSON 1.1 request: the operation from the first byte, the rest of the input as the
/// body, every header signed (SigV4) with the server's key.
pub(crate) fn aws_json(data: &[u8]) -> Option<Request> {
    let (&which, body) = data.split_first()?;
    let amz_date = "20260101T000000Z";
    let (date, region, service) = ("20260101", "us-east-1", "servicecatalog");
    let pairs: Vec<(String, String)> = [
        ("host", "servicecatalog.us-east-1.amazonaws.com".to_string()),
        ("content-type", "application/x-amz-json-1.1".into()),
        ("x-amz-date", amz_date.into()),
        (
            "x-amz-target",
            format!(
                "AWS242ServiceCatalogService.{}",
                pick(AWS_OPERATIONS, which)
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let signed: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    let canonical = sigv4::canonical_request("POST", &pairs, &signed, &sha256_hex(body));
    let scope = sigv4::scope(date, region, service);
    let signature = sigv4::signature(
        &sigv4::signing_key(SECRET, date, region, service),
        &sigv4::string_to_sign(amz_date, &scope, &canonical),
    );
    let mut headers = HeaderMap::new();
    for (k, v) in &pairs {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).ok()?,
            HeaderValue::from_str(v).ok()?,
        );
    }
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!(
            "{} Credential={KEY_ID}/{scope}, SignedHeaders={}, Signature={signature}",
            sigv4::ALGORITHM,
            signed.join(";")
        ))
        .ok()?,
    );
    Some(Request {
        method: Method::POST,
        uri: Uri::from_static("/"),
        headers,
        body: Bytes::copy_from_slice(body),
    })
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// `f` on this thread's runtime (current-thread, made on first use).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.with(|cell| {
        let mut rt = cell.borrow_mut();
        let rt = rt.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
        });
        rt.block_on(f)
    })
}

/// The sandbox's answer to `r`: status, content type and body.
pub(crate) fn answer(r: Request) -> (u16, String, Vec<u8>) {
    block_on(async {
        let response = planform_sandbox::server::answer(
            sandbox(),
            config(),
            r.method,
            r.uri,
            r.headers,
            r.body,
        )
        .await;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("an in-memory body");
        (status, content_type, body.to_vec())
    })
}
