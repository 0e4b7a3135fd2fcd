//! The security token services. Alibaba STS (RPC API 2015-04-01): `AssumeRole` and
//! `GetCallerIdentity`, signed by a key the server knows (a configured key or issued
//! credentials), and `AssumeRoleWithOIDC`, anonymous, trading an OIDC token for the role's
//! credentials; JSON answers. AWS STS (query API 2011-06-15): `GetCallerIdentity`, signed
//! (SigV4 for the `sts` service), and `AssumeRoleWithWebIdentity`, anonymous; XML answers. The
//! credentials they issue are real for this server (`principals.rs`) and act in the role's
//! account (the one its ARN names).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::response::Response;
use base64::Engine;
use planform_wire::encoding;
use serde_json::{json, Value};

use super::alibaba::{authenticate, error_response, Denied};
use super::principals::{Caller, Cloud, Issued};
use super::{App, Request};
use crate::clock::iso8601;

const ALIBABA_VERSION: &str = "2015-04-01";
const AWS_VERSION: &str = "2011-06-15";

/// Which STS a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Alibaba,
    Aws,
}

/// The query and form-body parameters of a request, query first.
fn params(req: &Request) -> (Vec<(String, String)>, BTreeMap<String, String>) {
    let query = encoding::form_decode(req.uri.query().unwrap_or_default());
    let mut all: BTreeMap<String, String> = query.iter().cloned().collect();
    let form = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if form && !req.body.is_empty() {
        all.extend(encoding::form_decode(&String::from_utf8_lossy(&req.body)));
    }
    (query, all)
}

/// Some(service) when the request names an STS API version.
pub(crate) fn addressed(req: &Request) -> Option<Service> {
    let (_, all) = params(req);
    let version = req
        .header("x-acs-version")
        .map(str::to_string)
        .or_else(|| all.get("Version").cloned())?;
    match version.as_str() {
        ALIBABA_VERSION => Some(Service::Alibaba),
        AWS_VERSION => Some(Service::Aws),
        _ => None,
    }
}

pub(crate) fn handle(app: &App, req: &Request, service: Service) -> Response {
    match service {
        Service::Alibaba => alibaba(app, req),
        Service::Aws => aws(app, req),
    }
}

/// An STS refusal: HTTP status, code, message.
struct Refused(u16, &'static str, String);

fn refused(status: u16, code: &'static str, message: impl Into<String>) -> Refused {
    Refused(status, code, message.into())
}

/// The claims of an OIDC token that STS checks. The sandbox does not fetch the issuer's keys,
/// so the signature part is only required to be present; the claims are checked as STS does.
#[derive(Debug, PartialEq)]
struct Claims {
    issuer: String,
    subject: String,
    audience: String,
    expires_ms: u64,
}

/// `header.payload.signature`, base64url; the payload must carry `iss`, `sub`, `aud` and `exp`.
fn claims(token: &str) -> Option<Claims> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&payload).ok()?;
    let audience = match &v["aud"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.first()?.as_str()?.to_string(),
        _ => return None,
    };
    Some(Claims {
        issuer: v["iss"].as_str()?.to_string(),
        subject: v["sub"].as_str()?.to_string(),
        audience,
        expires_ms: v["exp"].as_u64()?.checked_mul(1000)?,
    })
}

/// The role name in `acs:ram::<account>:role/<name>` (Alibaba) or `arn:aws:iam::<account>:role/<name>`.
fn role_name(arn: &str, cloud: Service) -> Option<&str> {
    role_of(arn, cloud).map(|(_, name)| name)
}

/// The account and role name of a role ARN.
fn role_of(arn: &str, cloud: Service) -> Option<(&str, &str)> {
    let rest = match cloud {
        Service::Alibaba => arn.strip_prefix("acs:ram::")?,
        Service::Aws => arn.strip_prefix("arn:aws:iam::")?,
    };
    let (account, resource) = rest.split_once(':')?;
    if !crate::core::partition::is_account(account) {
        return None;
    }
    let name = resource.strip_prefix("role/").filter(|n| !n.is_empty())?;
    Some((account, name))
}

fn session_name_ok(name: &str) -> bool {
    (2..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
}

fn required<'a>(p: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, Refused> {
    p.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Refused(
                400,
                missing(name),
                format!("{name} is mandatory for this action."),
            )
        })
}

fn missing(name: &str) -> &'static str {
    match name {
        "RoleArn" => "MissingRoleArn",
        "RoleSessionName" => "MissingRoleSessionName",
        "OIDCProviderArn" => "MissingOIDCProviderArn",
        "OIDCToken" => "MissingOIDCToken",
        "WebIdentityToken" => "MissingParameter",
        _ => "MissingParameter",
    }
}

/// `DurationSeconds`: 900 up to the role's maximum session (3600 by default for RAM roles,
/// 43200 for IAM's `AssumeRoleWithWebIdentity`); 3600 when absent.
fn duration(p: &BTreeMap<String, String>, max: u64) -> Option<u64> {
    match p.get("DurationSeconds") {
        None => Some(3600),
        Some(v) => v.parse().ok().filter(|d| (900..=max).contains(d)),
    }
}

fn alibaba(app: &App, req: &Request) -> Response {
    let (query, p) = params(req);
    let action = req
        .header("x-acs-action")
        .map(str::to_string)
        .or_else(|| p.get("Action").cloned())
        .unwrap_or_default();
    let result = match action.as_str() {
        "AssumeRole" => match authenticate(app, req, &query, &p) {
            Ok(_) => assume_role(app, &p),
            Err(Denied(status, code, message)) => Err(Refused(status, code, message)),
        },
        "GetCallerIdentity" => match authenticate(app, req, &query, &p) {
            Ok(caller) => Ok(alibaba_identity(app, &caller)),
            Err(Denied(status, code, message)) => Err(Refused(status, code, message)),
        },
        "AssumeRoleWithOIDC" => assume_role_with_oidc(app, &p),
        _ => Err(refused(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        )),
    };
    match result {
        Ok(body) => {
            let id = app.request_id();
            let mut body = body;
            body["RequestId"] = json!(id);
            Response::builder()
                .status(200)
                .header("content-type", "application/json;charset=utf-8")
                .header("x-acs-request-id", id)
                .body(Body::from(body.to_string()))
                .expect("valid response")
        }
        Err(Refused(status, code, message)) => error_response(app, status, code, &message, None),
    }
}

/// The role's name, once the ARN is well formed and the role exists.
fn existing_role<'a>(app: &App, arn: &'a str, cloud: Service) -> Result<&'a str, Refused> {
    let name = role_name(arn, cloud).ok_or_else(|| match cloud {
        Service::Alibaba => refused(
            400,
            "InvalidParameter.RoleArn",
            "The parameter RoleArn is wrongly formed.",
        ),
        Service::Aws => refused(
            400,
            "ValidationError",
            format!("{arn} is invalid: Request ARN is invalid"),
        ),
    })?;
    if !app
        .config
        .roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return Err(match cloud {
            Service::Alibaba => refused(
                404,
                "EntityNotExist.Role",
                format!("The role does not exist: {name}."),
            ),
            Service::Aws => refused(
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ),
        });
    }
    Ok(name)
}

fn credentials_json(issued: &Issued) -> Value {
    json!({
        "AccessKeyId": issued.access_key_id,
        "AccessKeySecret": issued.access_key_secret,
        "SecurityToken": issued.security_token,
        "Expiration": iso8601(issued.expires_ms),
    })
}

/// Credentials for `role` of `account` (the role ARN's) in role session `session`.
fn assumed(app: &App, role: &str, account: &str, session: &str, seconds: u64) -> (Issued, Value) {
    let issued = app.principals.issue(
        Cloud::Alibaba,
        &format!("RamRole:{role}"),
        Some(account),
        session,
        app.expiry(seconds),
    );
    let user = json!({
        "AssumedRoleId": format!("3{}:{session}", &crate::core::ids::principal_id(role)),
        "Arn": format!("acs:ram::{account}:role/{}/{session}", role.to_lowercase()),
    });
    (issued, user)
}

fn session_and_duration(p: &BTreeMap<String, String>) -> Result<(String, u64), Refused> {
    let session = required(p, "RoleSessionName")?;
    if !session_name_ok(session) {
        return Err(refused(
            400,
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed.",
        ));
    }
    let seconds = duration(p, 3600).ok_or_else(|| {
        refused(
            400,
            "InvalidParameter.DurationSeconds",
            "The Min/Max value of DurationSeconds is 15min/1hr.",
        )
    })?;
    Ok((session.to_string(), seconds))
}

fn assume_role(app: &App, p: &BTreeMap<String, String>) -> Result<Value, Refused> {
    let arn = required(p, "RoleArn")?;
    let role = existing_role(app, arn, Service::Alibaba)?;
    let account = role_account(arn, Service::Alibaba);
    let (session, seconds) = session_and_duration(p)?;
    let (issued, user) = assumed(app, role, account, &session, seconds);
    Ok(json!({"AssumedRoleUser": user, "Credentials": credentials_json(&issued)}))
}

fn assume_role_with_oidc(app: &App, p: &BTreeMap<String, String>) -> Result<Value, Refused> {
    let arn = required(p, "RoleArn")?;
    let provider_arn = required(p, "OIDCProviderArn")?;
    let token = required(p, "OIDCToken")?;
    let provider = provider_arn
        .strip_prefix("acs:ram::")
        .and_then(|r| r.split_once(':'))
        .and_then(|(_, res)| res.strip_prefix("oidc-provider/"))
        .ok_or_else(|| {
            refused(
                400,
                "InvalidParameter.OIDCProviderArn",
                "The parameter OIDCProviderArn is wrongly formed.",
            )
        })?;
    if !app.config.oidc_providers.iter().any(|o| o == provider) {
        return Err(refused(
            404,
            "EntityNotExist.OIDCProvider",
            format!("The OIDC provider does not exist: {provider}."),
        ));
    }
    let role = existing_role(app, arn, Service::Alibaba)?;
    let (session, seconds) = session_and_duration(p)?;
    let c = claims(token).ok_or_else(|| {
        refused(
            400,
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDCToken is invalid: it is not a well-formed JWT with iss, sub, aud and exp.",
        )
    })?;
    if app.now_ms() >= c.expires_ms {
        return Err(refused(
            400,
            "AuthenticationFail.OIDCToken.Expired",
            format!(
                "The OIDCToken is expired: it expired at {}.",
                iso8601(c.expires_ms)
            ),
        ));
    }
    let account = role_account(arn, Service::Alibaba);
    let (issued, user) = assumed(app, role, account, &session, seconds);
    Ok(json!({
        "AssumedRoleUser": user,
        "Credentials": credentials_json(&issued),
        "OIDCTokenInfo": {"Subject": c.subject, "Issuer": c.issuer, "ClientIds": c.audience},
    }))
}

/// The account a role ARN names (checked well formed by [`existing_role`]).
fn role_account(arn: &str, cloud: Service) -> &str {
    role_of(arn, cloud).map_or("", |(account, _)| account)
}

/// Who the caller is, as a face sees it: account, user or role name, and role session.
struct Identity<'a> {
    account: &'a str,
    /// A RAM / IAM user's name, or an assumed role's.
    name: String,
    /// The role session of issued credentials; `None`: a user's key.
    session: Option<&'a str>,
}

/// The caller's identity, its account defaulting to `own` (the face's account).
fn identity<'a>(caller: &'a Caller, own: &'a str) -> Identity<'a> {
    let name = caller
        .principal
        .split_once(':')
        .map_or(caller.principal.as_str(), |(_, name)| name);
    Identity {
        account: caller.account.as_deref().unwrap_or(own),
        name: name.to_string(),
        session: caller.session.as_deref(),
    }
}

/// Alibaba `GetCallerIdentity`: a RAM user's `acs:ram::<account>:user/<name>`, or an assumed
/// role's `acs:ram::<account>:assumed-role/<role>/<session>` with its `RoleId`.
fn alibaba_identity(app: &App, caller: &Caller) -> Value {
    let own = {
        let sb = app.sandbox.lock().unwrap_or_else(|e| e.into_inner());
        sb.settings.account_id.clone()
    };
    let id = identity(caller, &own);
    match id.session {
        None => {
            let user_id = crate::core::ids::principal_id(&id.name);
            json!({
                "IdentityType": "RAMUser",
                "AccountId": id.account,
                "UserId": user_id,
                "PrincipalId": user_id,
                "Arn": format!("acs:ram::{}:user/{}", id.account, id.name),
            })
        }
        Some(session) => {
            let role_id = format!("3{}", crate::core::ids::principal_id(&id.name));
            json!({
                "IdentityType": "AssumedRoleUser",
                "AccountId": id.account,
                "RoleId": role_id,
                "PrincipalId": format!("{role_id}:{session}"),
                "Arn": format!(
                    "acs:ram::{}:assumed-role/{}/{session}",
                    id.account,
                    id.name.to_lowercase()
                ),
            })
        }
    }
}

/// AWS `GetCallerIdentity`: an IAM user's `arn:aws:iam::<account>:user/<name>` and `AIDA…` id,
/// or an assumed role's `arn:aws:sts::<account>:assumed-role/<role>/<session>` and
/// `AROA…:<session>`.
fn aws_identity(app: &App, caller: &Caller, request_id: &str) -> String {
    let own = {
        let sb = app.sandbox.lock().unwrap_or_else(|e| e.into_inner());
        sb.settings.aws_account_id.clone()
    };
    let id = identity(caller, &own);
    let unique = crate::core::ids::principal_id(&id.name);
    let (arn, user_id) = match id.session {
        None => (
            format!("arn:aws:iam::{}:user/{}", id.account, id.name),
            format!("AIDA{unique}"),
        ),
        Some(session) => (
            format!(
                "arn:aws:sts::{}:assumed-role/{}/{session}",
                id.account, id.name
            ),
            format!("AROA{unique}:{session}"),
        ),
    };
    let e = xml_escape;
    format!(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
<GetCallerIdentityResult><Arn>{arn}</Arn><UserId>{user_id}</UserId><Account>{account}</Account></GetCallerIdentityResult>\
<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
</GetCallerIdentityResponse>",
        arn = e(&arn),
        user_id = e(&user_id),
        account = e(id.account),
    )
}

/// A SigV4 refusal as STS spells it (the Service Catalog face's JSON-protocol codes differ):
/// 403 for a key it does not know, a signature that does not match or an expired token.
fn sts_refusal((status, code, message): (u16, &'static str, String)) -> Refused {
    match code {
        "MissingAuthenticationToken" => Refused(403, code, message),
        "UnrecognizedClientException" => Refused(403, "InvalidClientTokenId", message),
        "ExpiredTokenException" => Refused(
            403,
            "ExpiredToken",
            "The security token included in the request is expired".into(),
        ),
        "InvalidSignatureException" => Refused(403, "SignatureDoesNotMatch", message),
        _ => Refused(status, code, message),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn aws(app: &App, req: &Request) -> Response {
    let (_, p) = params(req);
    let id = app.request_id().to_lowercase();
    let result = match p.get("Action").map(String::as_str) {
        Some("AssumeRoleWithWebIdentity") => assume_role_with_web_identity(app, &p, &id),
        Some("GetCallerIdentity") => super::aws::authenticate(app, req, "sts")
            .map(|(_, caller)| aws_identity(app, &caller, &id))
            .map_err(sts_refusal),
        other => Err(refused(
            400,
            "InvalidAction",
            format!(
                "Could not find operation {} for version {AWS_VERSION}",
                other.unwrap_or_default()
            ),
        )),
    };
    let (status, body) = match result {
        Ok(xml) => (200, xml),
        Err(Refused(status, code, message)) => (
            status,
            format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>",
                xml_escape(&message)
            ),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .header("x-amzn-RequestId", id)
        .body(Body::from(body))
        .expect("valid response")
}

fn assume_role_with_web_identity(
    app: &App,
    p: &BTreeMap<String, String>,
    request_id: &str,
) -> Result<String, Refused> {
    let arn = p
        .get("RoleArn")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refused(400, "ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null"))?;
    let session = p
        .get("RoleSessionName")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refused(400, "ValidationError", "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"))?;
    let token = p
        .get("WebIdentityToken")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refused(400, "ValidationError", "1 validation error detected: Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null"))?;
    if !session_name_ok(session) {
        return Err(refused(400, "ValidationError", format!("1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")));
    }
    let seconds = duration(p, 43_200).ok_or_else(|| refused(400, "ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"))?;
    let role = existing_role(app, arn, Service::Aws)?;
    let c = claims(token).ok_or_else(|| {
        refused(
            400,
            "InvalidIdentityToken",
            "Couldn't parse the web identity token as a JWT with iss, sub, aud and exp.",
        )
    })?;
    if app.now_ms() >= c.expires_ms {
        return Err(refused(
            400,
            "ExpiredTokenException",
            "Token expired: current date/time must be before the expiration date/time.",
        ));
    }
    let account = role_account(arn, Service::Aws);
    let issued = app.principals.issue(
        Cloud::Aws,
        &format!("RamRole:{role}"),
        Some(account),
        session,
        app.expiry(seconds),
    );
    let e = xml_escape;
    Ok(format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
<AssumeRoleWithWebIdentityResult>\
<SubjectFromWebIdentityToken>{sub}</SubjectFromWebIdentityToken>\
<Audience>{aud}</Audience>\
<AssumedRoleUser><Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn><AssumedRoleId>AROA{rid}:{session}</AssumedRoleId></AssumedRoleUser>\
<Credentials><AccessKeyId>{id}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken><Expiration>{exp}</Expiration></Credentials>\
<Provider>{iss}</Provider>\
</AssumeRoleWithWebIdentityResult>\
<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
</AssumeRoleWithWebIdentityResponse>",
        sub = e(&c.subject),
        aud = e(&c.audience),
        iss = e(&c.issuer),
        role = e(role),
        session = e(session),
        rid = crate::core::ids::principal_id(role),
        id = issued.access_key_id,
        secret = issued.access_key_secret,
        token = issued.security_token,
        exp = iso8601(issued.expires_ms),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.{}", b(r#"{"alg":"RS256"}"#), b(payload), b("sig"))
    }

    #[test]
    fn reads_the_claims_sts_checks() {
        let t = jwt(
            r#"{"iss":"https://token.actions.githubusercontent.com","sub":"repo:o/r:ref:refs/heads/main","aud":["sts.aliyuncs.com"],"exp":1700000000}"#,
        );
        assert_eq!(
            claims(&t),
            Some(Claims {
                issuer: "https://token.actions.githubusercontent.com".into(),
                subject: "repo:o/r:ref:refs/heads/main".into(),
                audience: "sts.aliyuncs.com".into(),
                expires_ms: 1_700_000_000_000,
            })
        );
        assert_eq!(claims("not-a-jwt"), None);
        assert_eq!(claims(&jwt(r#"{"iss":"i","sub":"s","aud":"a"}"#)), None);
        assert_eq!(claims("a..c"), None);
    }

    #[test]
    fn role_arns_of_both_clouds() {
        assert_eq!(
            role_name(
                "acs:ram::1234567890123456:role/planform-ci",
                Service::Alibaba
            ),
            Some("planform-ci")
        );
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/ci", Service::Aws),
            Some("ci")
        );
        assert_eq!(role_name("acs:ram::abc:role/x", Service::Alibaba), None);
        assert_eq!(role_name("acs:ram::1:user/x", Service::Alibaba), None);
        assert_eq!(
            role_name("arn:aws:iam::1:role/x", Service::Alibaba),
            None,
            "each cloud its own ARN"
        );
    }

    #[test]
    fn session_names_and_durations_follow_the_rules() {
        assert!(session_name_ok("planform-ci@run.1"));
        assert!(!session_name_ok("x"));
        assert!(!session_name_ok("has space"));
        let p = |d: &str| -> BTreeMap<String, String> {
            [("DurationSeconds".to_string(), d.to_string())].into()
        };
        assert_eq!(duration(&BTreeMap::new(), 3600), Some(3600));
        assert_eq!(duration(&p("900"), 3600), Some(900));
        assert_eq!(duration(&p("899"), 3600), None);
        assert_eq!(duration(&p("3601"), 3600), None);
        assert_eq!(duration(&p("43200"), 43_200), Some(43_200));
    }
}
