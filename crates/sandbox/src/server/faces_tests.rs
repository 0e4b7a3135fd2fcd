//! Both faces' authentication against replayed and tampered requests, in process: requests are
//! built and signed here (or copied from wire/aws.md's captures), handed to the face, and the
//! sandbox's clock is a manual one.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use planform_wire::{acs3, encoding, sha256_hex, sigv4};
use serde_json::Value;

use super::{alibaba, aws, AccessKey, App, Request, ServerConfig};
use crate::catalog::Catalog;
use crate::clock::ManualClock;
use crate::core::{CreatePlan, ListPlans, Sandbox, Settings};
use crate::store::Store;

/// 2026-11-22T23:09:19Z, when wire/aws.md's captures were made.
const CAPTURED_AT: u64 = 1_795_388_959_000;

fn sandbox(clock: &Arc<ManualClock>) -> Arc<Mutex<Sandbox>> {
    Arc::new(Mutex::new(
        Sandbox::new(
            Catalog::demo(),
            Settings::default(),
            clock.clone(),
            Store::memory(),
        )
        .unwrap(),
    ))
}

fn app(sandbox: &Arc<Mutex<Sandbox>>, key: AccessKey, nonce_db: Option<std::path::PathBuf>) -> App {
    App::new(
        sandbox.clone(),
        ServerConfig {
            keys: vec![key],
            nonce_db,
            ..ServerConfig::default()
        },
    )
    .unwrap()
}

fn request(headers: &[(&str, &str)], query: &str, body: &str) -> Request {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    Request {
        method: Method::POST,
        uri: format!("/{query}").parse::<Uri>().unwrap(),
        headers: map,
        body: Bytes::from(body.to_string()),
    }
}

/// The status and JSON body of a face's answer.
fn answer(r: axum::response::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn code(v: &Value) -> &str {
    v.get("__type")
        .or_else(|| v.get("Code"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

// ---- AWS ----

const AKID: &str = "AKIDEXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Capture 2 of wire/aws.md: boto3's DescribeProvisionedProductPlan, as it went on the wire.
const CAPTURED_DESCRIBE: &[(&str, &str)] = &[
    ("host", "127.0.0.1:18765"),
    ("accept-encoding", "identity"),
    ("x-amz-target", "AWS242ServiceCatalogService.DescribeProvisionedProductPlan"),
    ("content-type", "application/x-amz-json-1.1"),
    ("user-agent", "Boto3/1.44.5 md/Botocore#1.44.5 ua/2.1 os/linux#6.18.44-fc-v669 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/Z,b,e,E,N cfg/retry-mode#standard Botocore/1.44.5"),
    ("x-amz-date", "20261122T230919Z"),
    ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/servicecatalog/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=fc2716a3b31a9180f38ccdf5022ebf2d2ad8428aa828d3e16dfc9b629839d837"),
    ("amz-sdk-invocation-id", "ef2a0bdc-8d5c-4b5d-a4b4-0c5d8e0a93a4"),
    ("amz-sdk-request", "attempt=1; max=3"),
];
const CAPTURED_DESCRIBE_BODY: &str = r#"{"PlanId": "pp-abcdefghijklm"}"#;

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    with_header(headers, "", "")
}

/// `headers` with `name`'s value replaced by `value`.
fn with_header(headers: &[(&str, &str)], name: &str, value: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let v = if *k == name { value } else { v };
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn aws_request(headers: &[(String, String)], body: &str) -> Request {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    request(&h, "", body)
}

/// Signs `headers` + `body` over the headers named in `signed` only, as a client that signs
/// less than it sends would.
fn aws_signed(headers: &[(&str, &str)], signed: &[&str], body: &str) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| *k != "authorization")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let amz_date = h.iter().find(|(k, _)| k == "x-amz-date").unwrap().1.clone();
    let date = &amz_date[..8];
    let signed: Vec<String> = signed.iter().map(|s| s.to_string()).collect();
    let canonical = sigv4::canonical_request("POST", &h, &signed, &sha256_hex(body.as_bytes()));
    let scope = sigv4::scope(date, "us-east-1", "servicecatalog");
    let key = sigv4::signing_key(AWS_SECRET, date, "us-east-1", "servicecatalog");
    let sig = sigv4::signature(&key, &sigv4::string_to_sign(&amz_date, &scope, &canonical));
    h.push((
        "authorization".into(),
        format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={}, Signature={sig}",
            signed.join(";")
        ),
    ));
    h
}

fn aws_app(clock: &Arc<ManualClock>) -> (Arc<Mutex<Sandbox>>, App) {
    let sb = sandbox(clock);
    let app = app(
        &sb,
        AccessKey::parse(&format!("{AKID}:{AWS_SECRET}")).unwrap(),
        None,
    );
    (sb, app)
}

fn plan_count(sb: &Arc<Mutex<Sandbox>>) -> usize {
    sb.lock()
        .unwrap()
        .list_plans(&ListPlans {
            page_number: 1,
            page_size: 100,
            ..ListPlans::default()
        })
        .unwrap()
        .1
}

#[test]
fn the_captured_describe_verifies_and_with_its_target_changed_it_does_not() {
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let (_sb, app) = aws_app(&clock);
    let (status, body) = answer(aws::handle(
        &app,
        &aws_request(&owned(CAPTURED_DESCRIBE), CAPTURED_DESCRIBE_BODY),
        None,
    ));
    // Past authentication: the plan of the capture does not exist here.
    assert_eq!(
        (status, code(&body)),
        (400, "ResourceNotFoundException"),
        "{body}"
    );
    let tampered = with_header(
        CAPTURED_DESCRIBE,
        "x-amz-target",
        "AWS242ServiceCatalogService.DeleteProvisionedProductPlan",
    );
    let (status, body) = answer(aws::handle(
        &app,
        &aws_request(&tampered, CAPTURED_DESCRIBE_BODY),
        None,
    ));
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidSignatureException"),
        "{body}"
    );
}

#[test]
fn a_describe_that_did_not_sign_its_target_cannot_be_replayed_as_a_delete() {
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let (sb, app) = aws_app(&clock);
    let plan = sb
        .lock()
        .unwrap()
        .create_plan(CreatePlan {
            name: "net".into(),
            product_id: "prod-sbxvpc0000001".into(),
            product_version_id: "pv-sbxvpc0000001".into(),
            provisioned_product_name: "net".into(),
            stack_region_id: Some("us-east-1".into()),
            parameters: vec![("cidr_block".into(), "10.0.0.0/16".into())],
            aws: true,
            ..CreatePlan::default()
        })
        .unwrap();
    let body = format!(r#"{{"PlanId": "{}"}}"#, plan.id);
    // A client that signs only what SigV4 itself needs: host and x-amz-date.
    let weak = aws_signed(CAPTURED_DESCRIBE, &["host", "x-amz-date"], &body);
    let weak: Vec<(&str, &str)> = weak.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, answered) = answer(aws::handle(&app, &aws_request(&owned(&weak), &body), None));
    assert_eq!(
        (
            status,
            code(&answered),
            answered["message"].as_str().unwrap()
        ),
        (
            400,
            "InvalidSignatureException",
            "'Content-Type' must be a 'SignedHeader' in the AWS Authorization."
        )
    );
    let replayed = with_header(
        &weak,
        "x-amz-target",
        "AWS242ServiceCatalogService.DeleteProvisionedProductPlan",
    );
    let (status, answered) = answer(aws::handle(&app, &aws_request(&replayed, &body), None));
    assert_eq!(
        (status, code(&answered)),
        (400, "InvalidSignatureException"),
        "{answered}"
    );
    assert_eq!(plan_count(&sb), 1, "the plan was not deleted");

    // Each header that must be signed is named when it is left out.
    for (left_out, named) in [
        (
            "host",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            "x-amz-target",
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.",
        ),
        (
            "x-amz-date",
            "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
        ),
    ] {
        let all = ["content-type", "host", "x-amz-date", "x-amz-target"];
        let signed: Vec<&str> = all.into_iter().filter(|h| *h != left_out).collect();
        let h = aws_signed(CAPTURED_DESCRIBE, &signed, &body);
        let (status, answered) = answer(aws::handle(&app, &aws_request(&h, &body), None));
        assert_eq!(
            (status, answered["message"].as_str().unwrap()),
            (400, named)
        );
    }
    // Another x-amz-* header sent but not signed is refused too.
    let mut extra: Vec<(&str, &str)> = CAPTURED_DESCRIBE.to_vec();
    extra.push(("x-amz-user-agent", "aws-sdk-rust/1.0"));
    let h = aws_signed(
        &extra,
        &["content-type", "host", "x-amz-date", "x-amz-target"],
        &body,
    );
    let (_, answered) = answer(aws::handle(&app, &aws_request(&h, &body), None));
    assert_eq!(
        answered["message"],
        "'X-Amz-User-Agent' must be a 'SignedHeader' in the AWS Authorization."
    );
    // Signed over everything, the same request is served.
    let h = aws_signed(
        &extra,
        &[
            "content-type",
            "host",
            "x-amz-date",
            "x-amz-target",
            "x-amz-user-agent",
        ],
        &body,
    );
    let (status, answered) = answer(aws::handle(&app, &aws_request(&h, &body), None));
    assert_eq!(status, 200, "{answered}");
}

// ---- Alibaba ----

const ALI_KEY: &str = "testid:testsecret";

/// A CreateProvisionedProductPlan signed with ACS3-HMAC-SHA256 at the clock's time, with
/// `nonce`, its parameters in the query as the Alibaba SDK sends them.
fn ali_create(clock: &ManualClock, nonce: &str) -> Request {
    ali_create_at(
        clock,
        nonce,
        "servicecatalog.cn-hangzhou.aliyuncs.com",
        None,
    )
}

/// [`ali_create`] sent to `host`, with a `RegionId` when given.
fn ali_create_at(clock: &ManualClock, nonce: &str, host: &str, region: Option<&str>) -> Request {
    let mut query: Vec<(String, String)> = [
        ("PlanName", "replayed"),
        ("PlanType", "Ros"),
        ("ProductId", "prod-sbxvpc0000001"),
        ("ProductVersionId", "pv-sbxvpc0000001"),
        ("ProvisionedProductName", "replayed"),
        ("StackRegionId", "cn-hangzhou"),
        ("Parameters.1.ParameterKey", "cidr_block"),
        ("Parameters.1.ParameterValue", "10.0.0.0/16"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(r) = region {
        query.push(("RegionId".into(), r.into()));
    }
    use crate::clock::Clock;
    let date = crate::clock::iso8601(clock.now_ms());
    let mut headers: Vec<(String, String)> = [
        ("host", host),
        ("x-acs-action", "CreateProvisionedProductPlan"),
        ("x-acs-version", "2021-09-01"),
        ("x-acs-date", date.as_str()),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-content-sha256", &sha256_hex(b"")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let canonical = acs3::canonical_request("POST", &query, &headers, &signed, &sha256_hex(b""));
    let sig = acs3::signature("testsecret", &canonical);
    headers.push((
        "authorization".into(),
        acs3::authorization("testid", &signed, &sig),
    ));
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    request(&h, &format!("?{}", encoding::form_encode(&query)), "")
}

#[test]
fn a_captured_create_replayed_after_a_restart_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nonces.redb");
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let sb = sandbox(&clock);
    let captured = ali_create(&clock, "5f4dcc3b5aa765d61d8327deb882cf99");
    {
        let app = app(&sb, AccessKey::parse(ALI_KEY).unwrap(), Some(db.clone()));
        let (status, body) = answer(alibaba::handle(&app, &captured, None));
        assert_eq!(status, 200, "{body}");
        let (status, body) = answer(alibaba::handle(&app, &captured, None));
        assert_eq!((status, code(&body)), (400, "SignatureNonceUsed"));
    }
    // The server restarts (a new App over the same data) ten minutes later: still refused.
    clock.advance(10 * 60_000);
    let app = app(&sb, AccessKey::parse(ALI_KEY).unwrap(), Some(db.clone()));
    let (status, body) = answer(alibaba::handle(&app, &captured, None));
    assert_eq!((status, code(&body)), (400, "SignatureNonceUsed"), "{body}");
    assert_eq!(plan_count(&sb), 1);
    // Past the window, the timestamp check refuses it (and the nonce may be forgotten).
    clock.advance(6 * 60_000);
    let (status, body) = answer(alibaba::handle(&app, &captured, None));
    assert_eq!(
        (status, code(&body)),
        (400, "InvalidTimeStamp.Expired"),
        "{body}"
    );
    assert_eq!(plan_count(&sb), 1);
}

#[test]
fn nonces_must_be_present_and_short() {
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let sb = sandbox(&clock);
    let app = app(&sb, AccessKey::parse(ALI_KEY).unwrap(), None);
    let longest = "n".repeat(super::MAX_NONCE_LEN);
    let (status, body) = answer(alibaba::handle(&app, &ali_create(&clock, &longest), None));
    assert_eq!(status, 200, "{body}");
    let long = "n".repeat(super::MAX_NONCE_LEN + 1);
    let (status, body) = answer(alibaba::handle(&app, &ali_create(&clock, &long), None));
    assert_eq!(
        (status, code(&body), body["Message"].as_str().unwrap()),
        (
            400,
            "InvalidSignatureNonce",
            "Specified parameter SignatureNonce is not valid: longer than 128 characters."
        )
    );
    let (status, body) = answer(alibaba::handle(&app, &ali_create(&clock, ""), None));
    assert_eq!((status, code(&body)), (400, "MissingSignatureNonce"));
    assert_eq!(plan_count(&sb), 1);
}

/// Issue 13: an Alibaba request's region is its `RegionId`, else its endpoint's (a local
/// endpoint: cn-hangzhou), and its plan lives in that region only. Issue 24: the plan's owner is
/// the key's RAM user by name.
#[test]
fn an_alibaba_request_works_in_its_region_as_its_user() {
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let sb = sandbox(&clock);
    let app = app(
        &sb,
        AccessKey::parse("ops=testid:testsecret").unwrap(),
        None,
    );
    for (nonce, host, region, partition) in [
        (
            "n1",
            "servicecatalog.cn-hangzhou.aliyuncs.com",
            None,
            "cn-hangzhou",
        ),
        (
            "n2",
            "servicecatalog.cn-shanghai.aliyuncs.com",
            None,
            "cn-shanghai",
        ),
        ("n3", "127.0.0.1:8787", None, "cn-hangzhou"),
        ("n4", "127.0.0.1:8787", Some("cn-beijing"), "cn-beijing"),
    ] {
        let (status, body) = answer(alibaba::handle(
            &app,
            &ali_create_at(&clock, nonce, host, region),
            None,
        ));
        assert_eq!(status, 200, "{body}");
        let id = body["PlanId"].as_str().unwrap().to_string();
        let mut sb = sb.lock().unwrap();
        let plan = sb
            .within(crate::core::Partition::alibaba(partition), |sb| {
                sb.get_plan(&id)
            })
            .unwrap_or_else(|e| panic!("{host} {region:?}: {e}"));
        assert_eq!(plan.owner, "RamUser:ops");
        let shown = alibaba::plan_detail(&sb, &plan, false);
        assert_eq!(
            (&shown["OwnerPrincipalType"], &shown["OwnerPrincipalName"]),
            (&Value::from("RamUser"), &Value::from("ops"))
        );
        for other in ["cn-hangzhou", "cn-shanghai", "cn-beijing"] {
            if other != partition {
                let seen = sb.within(crate::core::Partition::alibaba(other), |sb| {
                    sb.get_plan(&id)
                });
                assert!(seen.is_err(), "{id} seen from {other}");
            }
        }
        assert!(sb
            .within(crate::core::Partition::aws(partition), |sb| sb
                .get_plan(&id))
            .is_err());
    }
    let (status, body) = answer(alibaba::handle(
        &app,
        &ali_create_at(&clock, "n5", "127.0.0.1:8787", Some("CN_Beijing")),
        None,
    ));
    assert_eq!((status, code(&body)), (400, "InvalidRegionId"), "{body}");
}

// ---- STS GetCallerIdentity and accounts ----

/// The sandbox's own account's key (user `ops`) and a key of account 2000000000000001 (`ci`).
const OWN_KEY: &str = "ops=testid:testsecret";
const OTHER_KEY: &str = "ci@2000000000000001=ciid:cisecret";

fn two_accounts(sb: &Arc<Mutex<Sandbox>>) -> App {
    App::new(
        sb.clone(),
        ServerConfig {
            keys: vec![
                AccessKey::parse(OWN_KEY).unwrap(),
                AccessKey::parse(OTHER_KEY).unwrap(),
            ],
            ..ServerConfig::default()
        },
    )
    .unwrap()
}

/// A POST to `host` signed with ACS3-HMAC-SHA256 by `id` / `secret` at the clock's time, its
/// parameters in the query.
fn ali_signed(
    clock: &ManualClock,
    (id, secret): (&str, &str),
    version: &str,
    action: &str,
    params: &[(&str, &str)],
    nonce: &str,
) -> Request {
    use crate::clock::Clock;
    let query: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let date = crate::clock::iso8601(clock.now_ms());
    let mut headers: Vec<(String, String)> = [
        ("host", "127.0.0.1:8787"),
        ("x-acs-action", action),
        ("x-acs-version", version),
        ("x-acs-date", date.as_str()),
        ("x-acs-signature-nonce", nonce),
        ("x-acs-content-sha256", &sha256_hex(b"")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let canonical = acs3::canonical_request("POST", &query, &headers, &signed, &sha256_hex(b""));
    let sig = acs3::signature(secret, &canonical);
    headers.push((
        "authorization".into(),
        acs3::authorization(id, &signed, &sig),
    ));
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", encoding::form_encode(&query))
    };
    request(&h, &query, "")
}

/// An AWS query-API POST (`body`) to `host`, SigV4-signed by `id` / `secret` for `service` at
/// the clock's time; unsigned without a key.
fn aws_query(clock: &ManualClock, key: Option<(&str, &str)>, service: &str, body: &str) -> Request {
    use crate::clock::Clock;
    let amz_date: String = crate::clock::iso8601(clock.now_ms())
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let mut h: Vec<(String, String)> = [
        ("host", "127.0.0.1:8787"),
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("x-amz-date", amz_date.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some((id, secret)) = key {
        let date = &amz_date[..8];
        let signed: Vec<String> = h.iter().map(|(k, _)| k.clone()).collect();
        let canonical = sigv4::canonical_request("POST", &h, &signed, &sha256_hex(body.as_bytes()));
        let scope = sigv4::scope(date, "us-east-1", service);
        let signing = sigv4::signing_key(secret, date, "us-east-1", service);
        let sig = sigv4::signature(
            &signing,
            &sigv4::string_to_sign(&amz_date, &scope, &canonical),
        );
        h.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={id}/{scope}, SignedHeaders={}, Signature={sig}",
                signed.join(";")
            ),
        ));
    }
    aws_request(&h, body)
}

/// The status and text of an answer (AWS STS answers XML).
fn text_answer(r: axum::response::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(axum::body::to_bytes(r.into_body(), usize::MAX))
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// Issue 12 (3): Alibaba STS `GetCallerIdentity`, signed, names the caller's account, user and
/// ARN (a key of another account names that account); unsigned or badly signed, it is refused
/// as STS refuses it.
#[test]
fn alibaba_get_caller_identity_names_the_callers_account() {
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let sb = sandbox(&clock);
    let app = two_accounts(&sb);
    let sts = |key, nonce| {
        let req = ali_signed(&clock, key, "2015-04-01", "GetCallerIdentity", &[], nonce);
        assert_eq!(
            super::sts::addressed(&req),
            Some(super::sts::Service::Alibaba)
        );
        answer(super::sts::handle(&app, &req, super::sts::Service::Alibaba))
    };
    let (status, own) = sts(("testid", "testsecret"), "n1");
    assert_eq!(status, 200, "{own}");
    assert_eq!(
        (
            own["AccountId"].as_str(),
            own["Arn"].as_str(),
            own["IdentityType"].as_str()
        ),
        (
            Some("1234567890123456"),
            Some("acs:ram::1234567890123456:user/ops"),
            Some("RAMUser")
        )
    );
    assert!(own["RequestId"].is_string() && own["UserId"] == own["PrincipalId"]);
    let (status, other) = sts(("ciid", "cisecret"), "n2");
    assert_eq!(status, 200, "{other}");
    assert_eq!(
        (other["AccountId"].as_str(), other["Arn"].as_str()),
        (
            Some("2000000000000001"),
            Some("acs:ram::2000000000000001:user/ci")
        )
    );
    let (status, body) = sts(("ciid", "wrongsecret"), "n3");
    assert_eq!(
        (status, code(&body)),
        (400, "SignatureDoesNotMatch"),
        "{body}"
    );
    let unsigned = request(
        &[("host", "127.0.0.1:8787")],
        "?Action=GetCallerIdentity&Version=2015-04-01&Format=JSON",
        "",
    );
    let (status, body) = answer(super::sts::handle(
        &app,
        &unsigned,
        super::sts::Service::Alibaba,
    ));
    assert_eq!(
        (status, code(&body)),
        (400, "IncompleteSignature"),
        "{body}"
    );
}

/// Issue 12 (3): AWS STS `GetCallerIdentity` (query API, SigV4 for `sts`) answers
/// `GetCallerIdentityResult/{Arn,UserId,Account}` in XML; unsigned, badly signed or signed for
/// another service, it is refused with STS's codes.
#[test]
fn aws_get_caller_identity_names_the_callers_account() {
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let sb = sandbox(&clock);
    let app = two_accounts(&sb);
    const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
    let sts = |key, service| {
        let req = aws_query(&clock, key, service, BODY);
        assert_eq!(super::sts::addressed(&req), Some(super::sts::Service::Aws));
        text_answer(super::sts::handle(&app, &req, super::sts::Service::Aws))
    };
    let (status, own) = sts(Some(("testid", "testsecret")), "sts");
    assert_eq!(status, 200, "{own}");
    assert!(
        own.contains(
            "<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/ops</Arn><UserId>AIDA"
        ) && own.contains("</UserId><Account>123456789012</Account></GetCallerIdentityResult>")
            && own.contains("<ResponseMetadata><RequestId>"),
        "{own}"
    );
    let (status, other) = sts(Some(("ciid", "cisecret")), "sts");
    assert_eq!(status, 200, "{other}");
    assert!(
        other.contains("<Arn>arn:aws:iam::2000000000000001:user/ci</Arn>")
            && other.contains("<Account>2000000000000001</Account>"),
        "{other}"
    );
    for (key, service, refusal) in [
        (None, "sts", "<Code>MissingAuthenticationToken</Code>"),
        (
            Some(("ciid", "wrongsecret")),
            "sts",
            "<Code>SignatureDoesNotMatch</Code>",
        ),
        (
            Some(("unknownid", "x")),
            "sts",
            "<Code>InvalidClientTokenId</Code>",
        ),
        (
            Some(("testid", "testsecret")),
            "servicecatalog",
            "<Code>SignatureDoesNotMatch</Code>",
        ),
    ] {
        let (status, body) = sts(key, service);
        assert!(
            status == 403 && body.contains(refusal) && body.starts_with("<ErrorResponse"),
            "{key:?} {service}: {status} {body}"
        );
    }
}

/// Issue 12 (3): each account is its own cloud. A plan made with the sandbox's own key is not
/// listed, read or reused for a key of another account, on either face; what the other account
/// makes carries its account in owners and ARNs.
#[test]
fn a_key_of_another_account_sees_none_of_this_accounts_plans() {
    let clock = Arc::new(ManualClock::new(CAPTURED_AT));
    let sb = sandbox(&clock);
    let app = two_accounts(&sb);
    const OWN: (&str, &str) = ("testid", "testsecret");
    const OTHER: (&str, &str) = ("ciid", "cisecret");
    let create = [
        ("PlanName", "net"),
        ("PlanType", "Ros"),
        ("ProductId", "prod-sbxvpc0000001"),
        ("ProductVersionId", "pv-sbxvpc0000001"),
        ("ProvisionedProductName", "net"),
        ("StackRegionId", "cn-hangzhou"),
        ("Parameters.1.ParameterKey", "cidr_block"),
        ("Parameters.1.ParameterValue", "10.0.0.0/16"),
    ];
    let call = |key, action, params: &[(&str, &str)], nonce| {
        answer(alibaba::handle(
            &app,
            &ali_signed(&clock, key, "2021-09-01", action, params, nonce),
            None,
        ))
    };
    let (status, made) = call(OWN, "CreateProvisionedProductPlan", &create, "c1");
    assert_eq!(status, 200, "{made}");
    let id = made["PlanId"].as_str().unwrap().to_string();
    let list = [("AccessLevelFilter", "Account")];
    let listed = |key, nonce| {
        let (status, body) = call(key, "ListProvisionedProductPlans", &list, nonce);
        assert_eq!(status, 200, "{body}");
        body["TotalCount"].as_u64().unwrap()
    };
    assert_eq!(listed(OWN, "l1"), 1);
    assert_eq!(listed(OTHER, "l2"), 0, "another account's key lists none");
    let (status, body) = call(OTHER, "GetProvisionedProductPlan", &[("PlanId", &id)], "g1");
    assert_eq!(status, 404, "{body}");
    // The other account may use the same names: its own plan, in its own account.
    let (status, theirs) = call(OTHER, "CreateProvisionedProductPlan", &create, "c2");
    assert_eq!(status, 200, "{theirs}");
    let theirs = theirs["PlanId"].as_str().unwrap().to_string();
    assert_ne!(theirs, id);
    let (status, body) = call(
        OTHER,
        "GetProvisionedProductPlan",
        &[("PlanId", &theirs)],
        "g2",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["PlanDetail"]["Uid"].as_str(), Some("2000000000000001"));
    assert_eq!(listed(OWN, "l3"), 1);
    assert_eq!(listed(OTHER, "l4"), 1);
    // The AWS face: a plan of the sandbox's own account in us-east-1, unseen by the other's key.
    sb.lock()
        .unwrap()
        .within(crate::core::Partition::aws("us-east-1"), |sb| {
            sb.create_plan(CreatePlan {
                name: "net".into(),
                product_id: "prod-sbxvpc0000001".into(),
                product_version_id: "pv-sbxvpc0000001".into(),
                provisioned_product_name: "net".into(),
                stack_region_id: Some("us-east-1".into()),
                parameters: vec![("cidr_block".into(), "10.0.0.0/16".into())],
                aws: true,
                ..CreatePlan::default()
            })
        })
        .unwrap();
    let aws_listed = |(id, secret): (&str, &str)| {
        let body = r#"{"AccessLevelFilter":{"Key":"Account","Value":"self"}}"#;
        let headers = [
            ("host", "127.0.0.1:8787"),
            (
                "x-amz-target",
                "AWS242ServiceCatalogService.ListProvisionedProductPlans",
            ),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-date", "20261122T230919Z"),
        ];
        let mut h: Vec<(String, String)> = owned(&headers);
        let signed: Vec<String> = h.iter().map(|(k, _)| k.clone()).collect();
        let canonical = sigv4::canonical_request("POST", &h, &signed, &sha256_hex(body.as_bytes()));
        let scope = sigv4::scope("20261122", "us-east-1", "servicecatalog");
        let signing = sigv4::signing_key(secret, "20261122", "us-east-1", "servicecatalog");
        let sig = sigv4::signature(
            &signing,
            &sigv4::string_to_sign("20261122T230919Z", &scope, &canonical),
        );
        h.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={id}/{scope}, SignedHeaders={}, Signature={sig}",
                signed.join(";")
            ),
        ));
        let (status, body) = answer(aws::handle(&app, &aws_request(&h, body), None));
        assert_eq!(status, 200, "{body}");
        body["ProvisionedProductPlans"].as_array().unwrap().len()
    };
    assert_eq!(aws_listed(OWN), 1);
    assert_eq!(aws_listed(OTHER), 0, "another account's key lists none");
}
