//! The services that hand out temporary credentials: STS (`AssumeRole`, signed with the legacy
//! RPC HMAC-SHA1 signature as the credentials SDKs sign it; `AssumeRoleWithOIDC`, anonymous),
//! the ECS metadata service (IMDSv2 session token first) and a credentials URI. Requests are
//! built by pure functions, so their shapes are unit-tested; errors name the source and the
//! service's code, never a secret.

use std::path::Path;
use std::time::Duration;

use planform_wire::{encoding, parse_iso8601, rpc};
use serde_json::Value;

use super::{AlibabaCredentials, CredentialError, RoleRequest, Session};
use planform_model::Sensitive;

const STS_VERSION: &str = "2015-04-01";
/// The metadata service's session token lifetime the SDKs ask for (6 hours).
const METADATA_TOKEN_TTL_S: u64 = 21_600;

/// An STS request: query string and form body.
#[derive(Debug, Clone, PartialEq)]
pub struct StsRequest {
    pub query: Vec<(String, String)>,
    pub body: Vec<(String, String)>,
}

fn pair(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

fn role_body(role: &RoleRequest) -> Vec<(String, String)> {
    let mut body = vec![pair("RoleArn", &role.role_arn)];
    if let Some(p) = &role.policy {
        body.push(pair("Policy", p));
    }
    if let Some(x) = &role.external_id {
        body.push(pair("ExternalId", x));
    }
    body.push(pair("RoleSessionName", &role.session_name));
    body.push(pair("DurationSeconds", role.duration_s.to_string()));
    body
}

/// `AssumeRole`, signed with `base` (HMAC-SHA1 over the query and body parameters).
pub fn assume_role_request(
    base: &AlibabaCredentials,
    role: &RoleRequest,
    timestamp: &str,
    nonce: &str,
) -> StsRequest {
    let mut query = vec![
        pair("Action", "AssumeRole"),
        pair("Format", "JSON"),
        pair("Version", STS_VERSION),
        pair("Timestamp", timestamp),
        pair("SignatureMethod", "HMAC-SHA1"),
        pair("SignatureVersion", "1.0"),
        pair("SignatureNonce", nonce),
        pair("AccessKeyId", &base.access_key_id),
    ];
    if let Some(t) = &base.security_token {
        query.push(pair("SecurityToken", t.expose()));
    }
    let body = role_body(role);
    let all: Vec<(String, String)> = query.iter().chain(body.iter()).cloned().collect();
    let signature = rpc::signature(base.access_key_secret.expose(), "POST", &all);
    query.push(pair("Signature", signature));
    StsRequest { query, body }
}

/// `AssumeRoleWithOIDC`: anonymous, the token in the body.
pub fn assume_role_with_oidc_request(
    provider_arn: &str,
    token: &str,
    role: &RoleRequest,
    timestamp: &str,
) -> StsRequest {
    let query = vec![
        pair("Action", "AssumeRoleWithOIDC"),
        pair("Format", "JSON"),
        pair("Version", STS_VERSION),
        pair("Timestamp", timestamp),
    ];
    let mut body = vec![
        pair("OIDCProviderArn", provider_arn),
        pair("OIDCToken", token),
    ];
    body.extend(role_body(role));
    StsRequest { query, body }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    s
}

fn text_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// Reads `{AccessKeyId, AccessKeySecret, SecurityToken, Expiration}` from `v`.
pub fn session(v: &Value, source_name: &str) -> Result<Session, CredentialError> {
    let malformed = |field: &str| CredentialError::Malformed {
        source_name: source_name.to_string(),
        message: format!("the answer has no {field}"),
    };
    let id = text_field(v, "AccessKeyId").ok_or_else(|| malformed("AccessKeyId"))?;
    let secret = text_field(v, "AccessKeySecret").ok_or_else(|| malformed("AccessKeySecret"))?;
    let token = text_field(v, "SecurityToken").ok_or_else(|| malformed("SecurityToken"))?;
    let expiration = text_field(v, "Expiration").ok_or_else(|| malformed("Expiration"))?;
    let expires_ms = parse_iso8601(&expiration).ok_or_else(|| CredentialError::Malformed {
        source_name: source_name.to_string(),
        message: format!("Expiration {expiration:?} is not a time like 2024-01-02T03:04:05Z"),
    })?;
    Ok(Session {
        credentials: AlibabaCredentials {
            access_key_id: id,
            access_key_secret: Sensitive::new(secret),
            security_token: Some(Sensitive::new(token)),
        },
        expires_ms: Some(expires_ms),
    })
}

/// An STS answer: `Credentials` on 200, the error's code and message otherwise.
pub fn sts_answer(status: u16, text: &str, source_name: &str) -> Result<Session, CredentialError> {
    let v: Value = serde_json::from_str(text).map_err(|_| CredentialError::Malformed {
        source_name: source_name.to_string(),
        message: format!("STS answered HTTP {status} with a body that is not JSON"),
    })?;
    if status != 200 {
        return Err(CredentialError::Refused {
            source_name: source_name.to_string(),
            code: text_field(&v, "Code").unwrap_or_else(|| format!("HTTP {status}")),
            message: text_field(&v, "Message").unwrap_or_default(),
        });
    }
    session(v.get("Credentials").unwrap_or(&Value::Null), source_name)
}

async fn post_sts(
    http: &reqwest::Client,
    endpoint: &str,
    request: StsRequest,
    source_name: &str,
) -> Result<Session, CredentialError> {
    let query = request
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encoding::pct(k), encoding::pct(v)))
        .collect::<Vec<_>>()
        .join("&");
    let answer = http
        .post(format!("{endpoint}/?{query}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(encoding::form_encode(&request.body))
        .send()
        .await
        .map_err(|e| CredentialError::Unreachable {
            source_name: source_name.to_string(),
            endpoint: endpoint.to_string(),
            message: describe(&e),
        })?;
    let status = answer.status().as_u16();
    let text = answer
        .text()
        .await
        .map_err(|e| CredentialError::Unreachable {
            source_name: source_name.to_string(),
            endpoint: endpoint.to_string(),
            message: describe(&e),
        })?;
    sts_answer(status, &text, source_name)
}

fn nonce() -> String {
    format!("{:032x}", fastrand::u128(..))
}

pub async fn assume_role(
    http: &reqwest::Client,
    base: &AlibabaCredentials,
    role: &RoleRequest,
    now_ms: u64,
) -> Result<Session, CredentialError> {
    let request = assume_role_request(base, role, &planform_wire::iso8601(now_ms), &nonce());
    post_sts(
        http,
        &role.sts_endpoint,
        request,
        &format!("STS AssumeRole {}", role.role_arn),
    )
    .await
}

pub async fn assume_role_with_oidc(
    http: &reqwest::Client,
    token_file: &Path,
    provider_arn: &str,
    role: &RoleRequest,
    now_ms: u64,
) -> Result<Session, CredentialError> {
    let shown = token_file.display().to_string();
    let token = std::fs::read_to_string(token_file).map_err(|e| CredentialError::Config {
        path: shown.clone(),
        message: format!("the OIDC token file cannot be read: {e}"),
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(CredentialError::Config {
            path: shown,
            message: "the OIDC token file is empty".into(),
        });
    }
    let request =
        assume_role_with_oidc_request(provider_arn, token, role, &planform_wire::iso8601(now_ms));
    post_sts(
        http,
        &role.sts_endpoint,
        request,
        &format!(
            "STS AssumeRoleWithOIDC {} with the token in {shown}",
            role.role_arn
        ),
    )
    .await
}

/// The metadata service has short timeouts: off ECS nothing answers.
fn metadata_http() -> reqwest::Client {
    reqwest::Client::builder()
        // A signed request goes only where it was addressed: never follow a redirect.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default()
}

pub async fn ecs_role(
    metadata: &str,
    role_name: Option<&str>,
    disable_v1: bool,
) -> Result<Session, CredentialError> {
    let source_name = "ECS metadata service";
    let http = metadata_http();
    let unreachable = |e: reqwest::Error| CredentialError::Unreachable {
        source_name: source_name.to_string(),
        endpoint: metadata.to_string(),
        message: describe(&e),
    };
    // IMDSv2: a session token first; without one, go on in v1 mode unless that is disabled.
    let token = match http
        .put(format!("{metadata}/latest/api/token"))
        .header(
            "X-aliyun-ecs-metadata-token-ttl-seconds",
            METADATA_TOKEN_TTL_S.to_string(),
        )
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => Some(r.text().await.map_err(unreachable)?),
        Ok(r) if disable_v1 => {
            return Err(CredentialError::Refused {
                source_name: source_name.into(),
                code: format!("HTTP {}", r.status().as_u16()),
                message: "no metadata session token, and ALIBABA_CLOUD_IMDSV1_DISABLED=true".into(),
            })
        }
        Ok(_) => None,
        Err(e) => return Err(unreachable(e)),
    };
    let get = |path: String| {
        let mut r = http.get(format!("{metadata}{path}"));
        if let Some(t) = &token {
            r = r.header("X-aliyun-ecs-metadata-token", t.trim());
        }
        r.send()
    };
    let refused = |what: &str, status: u16| CredentialError::Refused {
        source_name: source_name.into(),
        code: format!("HTTP {status}"),
        message: what.to_string(),
    };
    let role = match role_name {
        Some(r) => r.to_string(),
        None => {
            let r = get("/latest/meta-data/ram/security-credentials/".into())
                .await
                .map_err(unreachable)?;
            let status = r.status().as_u16();
            if status != 200 {
                return Err(refused(
                    "the instance's RAM role cannot be read (is a role attached to the instance?)",
                    status,
                ));
            }
            r.text().await.map_err(unreachable)?.trim().to_string()
        }
    };
    let r = get(format!("/latest/meta-data/ram/security-credentials/{role}"))
        .await
        .map_err(unreachable)?;
    let status = r.status().as_u16();
    if status != 200 {
        return Err(refused(
            &format!("no credentials for the RAM role {role:?} (is it the role attached to the instance?)"),
            status,
        ));
    }
    let text = r.text().await.map_err(unreachable)?;
    let v: Value = serde_json::from_str(&text).map_err(|_| CredentialError::Malformed {
        source_name: source_name.into(),
        message: "the credentials are not JSON".into(),
    })?;
    if v.get("Code").and_then(Value::as_str) != Some("Success") {
        return Err(CredentialError::Malformed {
            source_name: source_name.into(),
            message: format!(
                "Code is {:?}, not \"Success\"",
                v.get("Code").and_then(Value::as_str).unwrap_or_default()
            ),
        });
    }
    session(&v, source_name)
}

pub async fn credentials_uri(
    http: &reqwest::Client,
    url: &str,
) -> Result<Session, CredentialError> {
    let source_name = format!("credentials URI {url}");
    let unreachable = |e: reqwest::Error| CredentialError::Unreachable {
        source_name: source_name.clone(),
        endpoint: url.to_string(),
        message: describe(&e),
    };
    let r = http.get(url).send().await.map_err(unreachable)?;
    let status = r.status().as_u16();
    let text = r.text().await.map_err(unreachable)?;
    if status != 200 {
        return Err(CredentialError::Refused {
            source_name,
            code: format!("HTTP {status}"),
            message: "the credentials URI refused".into(),
        });
    }
    let v: Value = serde_json::from_str(&text).map_err(|_| CredentialError::Malformed {
        source_name: source_name.clone(),
        message: "the answer is not JSON".into(),
    })?;
    if let Some(code) = v.get("Code").and_then(Value::as_str) {
        if code != "Success" {
            return Err(CredentialError::Malformed {
                source_name,
                message: format!("Code is {code:?}, not \"Success\""),
            });
        }
    }
    session(&v, &source_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role() -> RoleRequest {
        RoleRequest {
            role_arn: "acs:ram::1234567890123456:role/planform-ci".into(),
            session_name: "ci".into(),
            duration_s: 3600,
            policy: None,
            external_id: Some("ext".into()),
            sts_endpoint: "https://sts.aliyuncs.com".into(),
        }
    }

    #[test]
    fn assume_role_is_signed_over_query_and_body() {
        let base = AlibabaCredentials {
            access_key_id: "testid".into(),
            access_key_secret: Sensitive::new("testsecret".into()),
            security_token: Some(Sensitive::new("tok".into())),
        };
        let r = assume_role_request(&base, &role(), "2024-01-02T03:04:05Z", "n1");
        let q = |k: &str| {
            r.query
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(q("Action"), Some("AssumeRole"));
        assert_eq!(q("SecurityToken"), Some("tok"));
        assert_eq!(
            r.body.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            [
                "RoleArn",
                "ExternalId",
                "RoleSessionName",
                "DurationSeconds"
            ]
        );
        let all: Vec<(String, String)> = r
            .query
            .iter()
            .chain(r.body.iter())
            .filter(|(k, _)| k != "Signature")
            .cloned()
            .collect();
        assert_eq!(
            q("Signature"),
            Some(rpc::signature("testsecret", "POST", &all).as_str())
        );
    }

    #[test]
    fn assume_role_with_oidc_is_anonymous() {
        let r = assume_role_with_oidc_request("acs:ram::1:oidc-provider/gh", "jwt", &role(), "t");
        assert!(r
            .query
            .iter()
            .all(|(k, _)| !["Signature", "AccessKeyId"].contains(&k.as_str())));
        assert!(r.body.contains(&pair("OIDCToken", "jwt")));
    }

    #[test]
    fn answers_become_sessions_or_named_errors() {
        let ok = r#"{"RequestId":"r","Credentials":{"AccessKeyId":"STS.a","AccessKeySecret":"s3cr3t","SecurityToken":"CAIStok","Expiration":"2024-01-02T03:04:05Z"}}"#;
        let s = sts_answer(200, ok, "STS").unwrap();
        assert_eq!(s.credentials.access_key_id, "STS.a");
        assert_eq!(s.expires_ms, parse_iso8601("2024-01-02T03:04:05Z"));
        let refused = sts_answer(
            404,
            r#"{"Code":"EntityNotExist.Role","Message":"The role does not exist."}"#,
            "STS AssumeRole x",
        )
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "STS AssumeRole x: EntityNotExist.Role: The role does not exist."
        );
        let missing = sts_answer(200, r#"{"Credentials":{"AccessKeyId":"a"}}"#, "STS")
            .unwrap_err()
            .to_string();
        assert_eq!(missing, "STS: the answer has no AccessKeySecret");
        let bad_time = sts_answer(200, &ok.replace("2024-01-02T03:04:05Z", "soon"), "STS")
            .unwrap_err()
            .to_string();
        assert!(bad_time.contains("Expiration \"soon\""), "{bad_time}");
        assert!(!bad_time.contains("s3cr3t") && !bad_time.contains("CAIStok"));
        assert!(sts_answer(500, "<html>", "STS").is_err());
    }
}
