//! The ECS instance metadata service, in its hardened mode (IMDSv2): `PUT /latest/api/token` with
//! `X-aliyun-ecs-metadata-token-ttl-seconds` gives a session token, and every read must carry it
//! in `X-aliyun-ecs-metadata-token`. `GET /latest/meta-data/ram/security-credentials/` names the
//! instance's role; `…/<role>` hands out its temporary credentials. And a credentials URI
//! (`GET /credentials-uri/<role>`), the shape `ALIBABA_CLOUD_CREDENTIALS_URI` servers answer.

use axum::body::Body;
use axum::response::Response;
use serde_json::json;

use super::principals::Cloud;
use super::{App, Request};
use crate::clock::iso8601;

pub(crate) const METADATA_PREFIX: &str = "/latest/";
pub(crate) const URI_PREFIX: &str = "/credentials-uri/";
const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";
/// How long the metadata service's credentials live (it rotates them hourly).
const ROLE_SECONDS: u64 = 3600;

fn text(status: u16, body: impl Into<String>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Body::from(body.into()))
        .expect("valid response")
}

/// The credentials of `role`, as both the metadata service and a credentials URI write them.
fn role_credentials(app: &App, role: &str) -> Response {
    if !app.config.roles.iter().any(|r| r == role) {
        return text(404, "Not Found");
    }
    let now = app.now_ms();
    // The instance's role, in the sandbox's own account.
    let issued = app.principals.issue(
        Cloud::Alibaba,
        &format!("RamRole:{role}"),
        None,
        "instance",
        app.expiry(ROLE_SECONDS),
    );
    let body = json!({
        "AccessKeyId": issued.access_key_id,
        "AccessKeySecret": issued.access_key_secret,
        "Expiration": iso8601(issued.expires_ms),
        "SecurityToken": issued.security_token,
        "LastUpdated": iso8601(now),
        "Code": "Success",
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

pub(crate) fn instance(app: &App, req: &Request) -> Response {
    let path = req.uri.path();
    if path == "/latest/api/token" {
        if req.method != axum::http::Method::PUT {
            return text(405, "Method Not Allowed");
        }
        let ttl = req
            .header("x-aliyun-ecs-metadata-token-ttl-seconds")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| (1..=21_600).contains(s));
        return match ttl {
            Some(s) => text(200, app.principals.metadata_token(app.now_ms() + s * 1000)),
            None => text(
                400,
                "X-aliyun-ecs-metadata-token-ttl-seconds must be from 1 to 21600",
            ),
        };
    }
    if req.method != axum::http::Method::GET {
        return text(405, "Method Not Allowed");
    }
    // Hardened mode: no read without a live session token.
    let token = req
        .header("x-aliyun-ecs-metadata-token")
        .unwrap_or_default();
    if !app.principals.metadata_token_valid(token, app.now_ms()) {
        return text(401, "Unauthorized");
    }
    match path.strip_prefix(CREDENTIALS_PATH) {
        Some("") => text(200, app.config.instance_role.clone()),
        Some(role) if role == app.config.instance_role => role_credentials(app, role),
        _ => text(404, "Not Found"),
    }
}

pub(crate) fn credentials_uri(app: &App, req: &Request) -> Response {
    if req.method != axum::http::Method::GET {
        return text(405, "Method Not Allowed");
    }
    let role = req.uri.path().strip_prefix(URI_PREFIX).unwrap_or_default();
    role_credentials(app, role)
}
