//! The Alibaba Cloud face: RPC API 2021-09-01 (wire/alibaba.md), ACS3-HMAC-SHA256 and legacy
//! HMAC-SHA1 signatures, JSON answers with `RequestId`, errors as `{RequestId, HostId, Code,
//! Message, Recommend}` with the documented HTTP statuses.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use planform_wire::{acs3, constant_time_eq, encoding, rpc, sha256_hex};
use serde_json::{json, Value};

use super::{repeat_list, App, Fault, Request};
use crate::clock::iso8601;
use crate::core::partition::is_region;
use crate::core::{
    CreatePlan, ListPlans, Partition, PlanRecord, PlanStatus, ProductRecord, Sandbox, SandboxError,
    TaskRecord, UpdatePlan,
};
use planform_wire::parse_iso8601;

const VERSION: &str = "2021-09-01";

pub(crate) fn error_response(
    app: &App,
    status: u16,
    code: &str,
    message: &str,
    retry_after_ms: Option<u64>,
) -> Response {
    let id = app.request_id();
    let body = json!({
        "RequestId": id,
        "HostId": "servicecatalog.sandbox.planform",
        "Code": code,
        "Message": message,
        "Recommend": format!("https://api.aliyun.com/troubleshoot?q={code}&product=servicecatalog&requestId={id}"),
    });
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json;charset=utf-8")
        .header("x-acs-request-id", id);
    if let Some(ms) = retry_after_ms {
        b = b.header("x-acs-retry-after", ms.to_string());
    }
    b.body(Body::from(body.to_string()))
        .expect("valid response")
}

fn ok_response(app: &App, mut body: Value) -> Response {
    let id = app.request_id();
    body["RequestId"] = json!(id);
    Response::builder()
        .status(200)
        .header("content-type", "application/json;charset=utf-8")
        .header("x-acs-request-id", id)
        .body(Body::from(body.to_string()))
        .expect("valid response")
}

pub(crate) struct Denied(pub u16, pub &'static str, pub String);

/// The caller (its principal and account), once the request's signature, date, token and nonce
/// check out.
pub(crate) fn authenticate(
    app: &App,
    req: &Request,
    query: &[(String, String)],
    params: &BTreeMap<String, String>,
) -> Result<super::principals::Caller, Denied> {
    let now = app.now_ms();
    let skew = app.config.max_skew.as_millis() as u64;
    // The signed date must be well formed and within the clock window (15 minutes).
    let check_time = |value: Option<&str>| -> Result<u64, Denied> {
        let t = value.and_then(parse_iso8601).ok_or(Denied(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.".into(),
        ))?;
        if t.abs_diff(now) > skew {
            return Err(Denied(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.".into(),
            ));
        }
        Ok(t)
    };
    if let Some(auth) = req
        .header("authorization")
        .filter(|a| a.starts_with(acs3::ALGORITHM))
    {
        let parsed = acs3::parse_authorization(auth).ok_or(Denied(
            400,
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.".into(),
        ))?;
        let caller = app.caller(&parsed.access_key_id).ok_or(Denied(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.".into(),
        ))?;
        let key = &caller.key;
        for required in [
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-version",
        ] {
            if !parsed.signed_headers.iter().any(|h| h == required) {
                return Err(Denied(400, "IncompleteSignature", format!("The request signature does not conform to Aliyun standards: {required} must be signed.")));
            }
        }
        let nonce = checked_nonce(req.header("x-acs-signature-nonce"))?;
        let payload = req.header("x-acs-content-sha256").unwrap_or_default();
        if payload != sha256_hex(&req.body) {
            return Err(Denied(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation: x-acs-content-sha256 does not match the body.".into()));
        }
        let signed_ms = check_time(req.header("x-acs-date"))?;
        let canonical = acs3::canonical_request(
            req.method.as_str(),
            query,
            &req.header_pairs(),
            &parsed.signed_headers,
            payload,
        );
        if !constant_time_eq(&acs3::signature(&key.secret, &canonical), &parsed.signature) {
            return Err(Denied(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.".into(),
            ));
        }
        check_token(key, req.header("x-acs-security-token"))?;
        check_expiry(app, &caller)?;
        admit_nonce(app, nonce, signed_ms)?;
        return Ok(caller);
    }
    if let Some(sig) = params.get("Signature") {
        if params.get("SignatureMethod").map(String::as_str) != Some("HMAC-SHA1") {
            return Err(Denied(
                400,
                "InvalidSignatureMethod",
                "Specified signature method is not valid.".into(),
            ));
        }
        let id = params.get("AccessKeyId").ok_or(Denied(
            400,
            "MissingAccessKeyId",
            "AccessKeyId is mandatory for this action.".into(),
        ))?;
        let caller = app.caller(id).ok_or(Denied(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.".into(),
        ))?;
        let key = &caller.key;
        let nonce = checked_nonce(params.get("SignatureNonce").map(String::as_str))?;
        let signed_ms = check_time(params.get("Timestamp").map(String::as_str))?;
        let all: Vec<(String, String)> =
            params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if !constant_time_eq(&rpc::signature(&key.secret, req.method.as_str(), &all), sig) {
            let sts = rpc::string_to_sign(req.method.as_str(), &all);
            return Err(Denied(400, "SignatureDoesNotMatch", format!("Specified signature is not matched with our calculation. server string to sign is:{sts}")));
        }
        check_token(key, params.get("SecurityToken").map(String::as_str))?;
        check_expiry(app, &caller)?;
        admit_nonce(app, nonce, signed_ms)?;
        return Ok(caller);
    }
    Err(Denied(
        400,
        "IncompleteSignature",
        "The request signature does not conform to Aliyun standards: no signature.".into(),
    ))
}

/// The request's signature nonce: present, and at most [`super::MAX_NONCE_LEN`] characters.
fn checked_nonce(nonce: Option<&str>) -> Result<&str, Denied> {
    match nonce {
        None | Some("") => Err(Denied(
            400,
            "MissingSignatureNonce",
            "SignatureNonce is mandatory for this action.".into(),
        )),
        Some(n) if n.len() > super::MAX_NONCE_LEN => Err(Denied(
            400,
            "InvalidSignatureNonce",
            format!(
                "Specified parameter SignatureNonce is not valid: longer than {} characters.",
                super::MAX_NONCE_LEN
            ),
        )),
        Some(n) => Ok(n),
    }
}

/// Refuses a nonce seen before (or, with the nonce table full, any new one until nonces
/// expire); a nonce admitted is remembered before the request is carried out.
fn admit_nonce(app: &App, nonce: &str, signed_ms: u64) -> Result<(), Denied> {
    match app.admit_nonce(nonce, signed_ms) {
        Ok(()) => Ok(()),
        Err(super::NonceError::Used) => Err(Denied(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.".into(),
        )),
        Err(super::NonceError::Full(_)) => Err(Denied(
            400,
            "Throttling.User",
            "Request was denied due to user flow control.".into(),
        )),
        Err(super::NonceError::Store(_)) => Err(Denied(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error.".into(),
        )),
    }
}

/// Temporary credentials past their expiry are refused, as the cloud refuses them.
fn check_expiry(app: &App, caller: &super::principals::Caller) -> Result<(), Denied> {
    match caller.expires_ms {
        Some(until) if app.now_ms() >= until => Err(Denied(
            400,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.".into(),
        )),
        _ => Ok(()),
    }
}

fn check_token(key: &super::AccessKey, sent: Option<&str>) -> Result<(), Denied> {
    match (&key.token, sent) {
        (None, None) => Ok(()),
        (Some(t), Some(s)) if constant_time_eq(t, s) => Ok(()),
        (Some(_), None) => Err(Denied(
            400,
            "MissingSecurityToken",
            "SecurityToken is mandatory for this access key.".into(),
        )),
        _ => Err(Denied(
            400,
            "InvalidSecurityToken.Malformed",
            "The security token is invalid.".into(),
        )),
    }
}

pub(crate) fn handle(app: &App, req: &Request, fault: Option<Fault>) -> Response {
    let query = encoding::form_decode(req.uri.query().unwrap_or_default());
    let mut params: BTreeMap<String, String> = query.iter().cloned().collect();
    if !req.body.is_empty() {
        params.extend(encoding::form_decode(&String::from_utf8_lossy(&req.body)));
    }
    let Some(action) = req
        .header("x-acs-action")
        .map(str::to_string)
        .or_else(|| params.get("Action").cloned())
    else {
        return error_response(
            app,
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
            None,
        );
    };
    let version = req
        .header("x-acs-version")
        .map(str::to_string)
        .or_else(|| params.get("Version").cloned());
    if version.as_deref() != Some(VERSION) {
        return error_response(
            app,
            400,
            "InvalidVersion",
            "Specified parameter Version is not valid.",
            None,
        );
    }
    let caller = match authenticate(app, req, &query, &params) {
        Ok(caller) => caller,
        Err(Denied(status, code, message)) => {
            return error_response(app, status, code, &message, None)
        }
    };
    match fault {
        Some(Fault::Throttled { retry_after_ms }) => {
            return error_response(
                app,
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
                Some(retry_after_ms),
            )
        }
        Some(Fault::Internal) => {
            return error_response(
                app,
                500,
                "InternalError",
                "The request processing has failed due to some unknown error.",
                None,
            )
        }
        Some(Fault::Unavailable) => {
            return error_response(
                app,
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
                None,
            )
        }
        None => {}
    }
    let region = match request_region(req, &params) {
        Ok(r) => r,
        Err(e) => return error_response(app, e.status, &e.code, &e.message, None),
    };
    let mut sb = app.sandbox.lock().unwrap_or_else(|e| e.into_inner());
    // Each region is its own store, as on Alibaba Cloud: the request sees the plans, product
    // instances and tasks of its region, and none of the AWS face's.
    // And each account: a key of another account sees none of these.
    let partition = Partition::alibaba_in(&region, caller.foreign_account(&sb.settings.account_id));
    let answer = sb.within(partition, |sb| {
        dispatch(sb, &action, &params, &caller.principal, &region)
    });
    match answer {
        Ok(Some(body)) => {
            drop(sb);
            ok_response(app, body)
        }
        Ok(None) => {
            drop(sb);
            error_response(
                app,
                404,
                "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
                None,
            )
        }
        Err(e) => {
            drop(sb);
            error_response(app, e.status, &e.code, &e.message, None)
        }
    }
}

/// The region of the endpoint the request was sent to: `servicecatalog[-vpc].<region>.aliyuncs.com`
/// names it; any other host (a local `sandbox serve`) is the documented live endpoint's region.
fn endpoint_region(req: &Request) -> String {
    req.header("host")
        .and_then(|h| h.split(':').next())
        .and_then(|h| h.strip_suffix(".aliyuncs.com"))
        .and_then(|h| {
            h.strip_prefix("servicecatalog.")
                .or_else(|| h.strip_prefix("servicecatalog-vpc."))
        })
        .filter(|r| is_region(r))
        .unwrap_or(crate::core::partition::ALIBABA_DEFAULT_REGION)
        .to_string()
}

/// The region a request is for: its `RegionId` when it names one, else its endpoint's.
fn request_region(
    req: &Request,
    params: &BTreeMap<String, String>,
) -> Result<String, SandboxError> {
    match params.get("RegionId") {
        Some(r) if is_region(r) => Ok(r.clone()),
        Some(_) => Err(SandboxError::new(
            400,
            "InvalidRegionId",
            "Specified parameter RegionId is not valid: lower-case letters, digits and hyphens.",
        )),
        None => Ok(endpoint_region(req)),
    }
}

fn required<'a>(p: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, SandboxError> {
    p.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            SandboxError::new(
                400,
                format!("Missing{name}"),
                format!("{name} is mandatory for this action."),
            )
        })
}

fn opt(p: &BTreeMap<String, String>, name: &str) -> Option<String> {
    p.get(name).filter(|v| !v.is_empty()).cloned()
}

fn pairs(
    p: &BTreeMap<String, String>,
    prefix: &str,
    key: &str,
    value: &str,
) -> Result<Vec<(String, String)>, SandboxError> {
    repeat_list(p, prefix)
        .into_iter()
        .map(|m| match (m.get(key), m.get(value)) {
            (Some(k), Some(v)) => Ok((k.clone(), v.clone())),
            _ => Err(SandboxError::new(
                400,
                format!(
                    "Missing{prefix}.N.{}",
                    if m.contains_key(key) { value } else { key }
                ),
                format!("{prefix}.N.{key} and {prefix}.N.{value} must both be given."),
            )),
        })
        .collect()
}

fn number(p: &BTreeMap<String, String>, name: &str, default: usize) -> Result<usize, SandboxError> {
    match p.get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            SandboxError::new(
                400,
                format!("Invalid{name}"),
                format!("Specified parameter {name} is not valid."),
            )
        }),
    }
}

fn kv(list: &[(String, String)], k: &str, v: &str) -> Value {
    Value::Array(list.iter().map(|(a, b)| json!({ k: a, v: b })).collect())
}

fn principal(s: &str) -> (String, String) {
    match s.split_once(':') {
        Some((t, n)) => (t.to_string(), n.to_string()),
        None => ("RamUser".to_string(), s.to_string()),
    }
}

/// A principal's id in the caller's account (see [`crate::core::ids::principal_id_in`]).
fn principal_id(sb: &Sandbox, name: &str) -> String {
    crate::core::ids::principal_id_in(name, sb.caller_account())
}

pub(crate) fn plan_detail(sb: &Sandbox, p: &PlanRecord, with_approval: bool) -> Value {
    let (owner_type, owner_name) = principal(&p.owner);
    let mut d = json!({
        "PlanId": p.id,
        "PlanName": p.name,
        "PlanType": "Ros",
        "OperationType": p.operation_type.as_str(),
        "Status": p.status.as_str(),
        "ProductId": p.product_id,
        "ProductVersionId": p.product_version_id,
        "ProvisionedProductId": p.provisioned_product_id,
        "ProvisionedProductName": p.provisioned_product_name,
        "Parameters": kv(&p.parameters, "ParameterKey", "ParameterValue"),
        "Tags": kv(&p.tags, "Key", "Value"),
        "Uid": sb.caller_account(),
        "OwnerPrincipalId": principal_id(sb, &owner_name),
        // The RAM user (or role) by name, as Alibaba shows it; never a key id.
        "OwnerPrincipalName": owner_name,
        "OwnerPrincipalType": owner_type,
        "AssignedApprovers": p.approvers.iter().map(|a| { let (t, n) = principal(a); json!({"PrincipalType": t, "PrincipalName": n}) }).collect::<Vec<_>>(),
        "CreateTime": iso8601(p.create_ms),
        "UpdateTime": iso8601(p.update_ms),
    });
    let o = d.as_object_mut().expect("object");
    for (k, v) in [
        ("Description", &p.description),
        ("StatusMessage", &p.status_message),
        ("PortfolioId", &p.portfolio_id),
        ("StackId", &p.stack_id),
        ("StackRegionId", &p.stack_region_id),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    if with_approval {
        let records: Vec<Value> = p
            .records
            .iter()
            .map(|r| {
                let (t, n) = principal(&r.principal);
                json!({"ApprovalAction": r.action, "Comment": r.comment, "CreateTime": iso8601(r.time_ms), "Operator": {"PrincipalId": principal_id(sb, &n), "PrincipalName": n, "PrincipalType": t}})
            })
            .collect();
        let todo: Vec<Value> = if p.status == PlanStatus::ApplicationInProgress {
            vec![
                json!({"ActivityName": "ApproverNode-1", "Tasks": p.approvers.iter().map(|a| { let (t, n) = principal(a); json!({"Operator": {"PrincipalName": n, "PrincipalType": t}}) }).collect::<Vec<_>>()}),
            ]
        } else {
            vec![]
        };
        o.insert(
            "ApprovalDetail".into(),
            json!({"OperationRecords": records, "TodoTaskActivities": todo}),
        );
    } else if let Some(prod) = sb.catalog.product(&p.product_id) {
        o.insert("ProductName".into(), json!(prod.name));
    }
    d
}

fn product_detail(sb: &Sandbox, product_id: &str, region: &str) -> Value {
    match sb.catalog.product(product_id) {
        Some(p) => json!({
            "ProductId": p.id, "ProductName": p.name, "ProductType": "Ros",
            "ProductArn": format!("acs:servicecatalog:{region}:{}:product/{}", sb.caller_account(), p.id),
            "ProviderName": p.provider_name, "Description": p.description, "CreateTime": "2024-01-01T00:00:00Z",
        }),
        None => json!({}),
    }
}

fn version_detail(sb: &Sandbox, product_id: &str, version_id: &str) -> Value {
    match sb.catalog.version(product_id, version_id) {
        Some(v) => json!({
            "ProductVersionId": v.id, "ProductVersionName": v.name, "ProductId": product_id, "Active": v.active,
            "Guidance": v.guidance.clone().unwrap_or_else(|| "Default".into()), "TemplateType": "RosTerraformTemplate",
            "TemplateUrl": format!("oss://planform-sandbox/{}/{}.tf", product_id, v.id), "Description": "", "CreateTime": "2024-01-01T00:00:00Z",
        }),
        None => json!({}),
    }
}

fn pp_detail(sb: &Sandbox, p: &ProductRecord, region: &str) -> Value {
    let (owner_type, owner_name) = match p.owner.as_str() {
        "" => ("RamUser".to_string(), sb.caller_account().to_string()),
        owner => principal(owner),
    };
    let mut d = json!({
        "ProvisionedProductId": p.id, "ProvisionedProductName": p.name, "ProvisionedProductType": "RosStack",
        "ProvisionedProductArn": format!("acs:servicecatalog:{region}:{}:provisionedproduct/{}", sb.caller_account(), p.id),
        "Status": p.status.as_str(), "StackId": p.stack_id, "ProductId": p.product_id,
        "ProductName": sb.catalog.product(&p.product_id).map(|x| x.name.clone()).unwrap_or_default(),
        "ProductVersionId": p.product_version_id,
        "ProductVersionName": sb.catalog.version(&p.product_id, &p.product_version_id).map(|v| v.name.clone()).unwrap_or_default(),
        "OwnerPrincipalId": principal_id(sb, &owner_name), "OwnerPrincipalType": owner_type, "CreateTime": iso8601(p.create_ms),
    });
    let o = d.as_object_mut().expect("object");
    for (k, v) in [
        ("StatusMessage", &p.status_message),
        ("StackRegionId", &p.stack_region_id),
        ("PortfolioId", &p.portfolio_id),
        ("LastTaskId", &p.last_task_id),
        ("LastProvisioningTaskId", &p.last_provisioning_task_id),
        (
            "LastSuccessfulProvisioningTaskId",
            &p.last_successful_task_id,
        ),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    d
}

fn task_detail(t: &TaskRecord) -> Value {
    json!({
        "TaskId": t.id, "TaskType": t.task_type.as_str(), "Status": t.status, "StatusMessage": t.status_message.clone().unwrap_or_default(),
        "Outputs": t.outputs.iter().map(|(k, v, d)| json!({"OutputKey": k, "OutputValue": v, "Description": d})).collect::<Vec<_>>(),
        "Parameters": kv(&t.parameters, "ParameterKey", "ParameterValue"),
        "TaskTags": [], "Log": {"TerraformLogs": []},
        "ProvisionedProductId": t.provisioned_product_id, "ProvisionedProductName": t.provisioned_product_name,
        "ProductId": t.product_id, "ProductVersionId": t.product_version_id, "PortfolioId": t.portfolio_id,
        "CreateTime": iso8601(t.create_ms), "UpdateTime": iso8601(t.update_ms),
    })
}

fn page_of<T>(
    items: Vec<T>,
    p: &BTreeMap<String, String>,
) -> Result<(Vec<T>, usize, usize, usize), SandboxError> {
    let page = number(p, "PageNumber", 1)?;
    let size = number(p, "PageSize", 10)?;
    if page == 0 {
        return Err(SandboxError::new(
            400,
            "InvalidPageNumber",
            "Specified parameter PageNumber is not valid.",
        ));
    }
    if !(1..=100).contains(&size) {
        return Err(SandboxError::new(
            400,
            "InvalidPageSize",
            "Specified parameter PageSize is not valid.",
        ));
    }
    let total = items.len();
    Ok((
        items
            .into_iter()
            .skip((page - 1).saturating_mul(size))
            .take(size)
            .collect(),
        total,
        page,
        size,
    ))
}

fn dispatch(
    sb: &mut Sandbox,
    action: &str,
    p: &BTreeMap<String, String>,
    caller: &str,
    region: &str,
) -> Result<Option<Value>, SandboxError> {
    let body = match action {
        "CreateProvisionedProductPlan" => {
            let plan_type = required(p, "PlanType")?;
            if plan_type != "Ros" {
                return Err(SandboxError::new(
                    400,
                    "InvalidPlanType",
                    "Specified parameter PlanType is not valid: only Ros.",
                ));
            }
            let req = CreatePlan {
                owner: Some(caller.to_string()),
                name: required(p, "PlanName")?.into(),
                // Sent empty, it is refused (1 to 128 characters), as Alibaba does.
                description: p.get("Description").cloned(),
                operation_type: opt(p, "OperationType"),
                portfolio_id: opt(p, "PortfolioId"),
                product_id: required(p, "ProductId")?.into(),
                product_version_id: required(p, "ProductVersionId")?.into(),
                provisioned_product_name: required(p, "ProvisionedProductName")?.into(),
                stack_region_id: Some(required(p, "StackRegionId")?.into()),
                parameters: pairs(p, "Parameters", "ParameterKey", "ParameterValue")?,
                tags: pairs(p, "Tags", "Key", "Value")?,
                notification_arns: vec![],
                idempotency_token: None,
                aws: false,
            };
            let plan = sb.create_plan(req)?;
            json!({"PlanId": plan.id, "ProvisionedProductId": plan.provisioned_product_id})
        }
        "UpdateProvisionedProductPlan" => {
            let plan = sb.update_plan(UpdatePlan {
                plan_id: required(p, "PlanId")?.into(),
                product_id: required(p, "ProductId")?.into(),
                product_version_id: required(p, "ProductVersionId")?.into(),
                portfolio_id: opt(p, "PortfolioId"),
                // Sent empty, it is refused (1 to 128 characters), as Alibaba does.
                description: p.get("Description").cloned(),
                parameters: pairs(p, "Parameters", "ParameterKey", "ParameterValue")?,
                tags: pairs(p, "Tags", "Key", "Value")?,
            })?;
            json!({"PlanId": plan.id, "ProvisionedProductId": plan.provisioned_product_id})
        }
        "GetProvisionedProductPlan" => {
            let plan = sb.get_plan(required(p, "PlanId")?)?;
            let changes: Vec<Value> = plan
                .resource_changes
                .iter()
                .map(|r| {
                    let mut c = json!({"Action": r.action, "LogicalResourceId": r.logical_resource_id, "ResourceType": r.resource_type});
                    if let Some(x) = &r.physical_resource_id {
                        c["PhysicalResourceId"] = json!(x);
                    }
                    if let Some(x) = &r.replacement {
                        c["Replacement"] = json!(x);
                    }
                    c
                })
                .collect();
            json!({
                "PlanDetail": plan_detail(sb, &plan, true),
                "ProductDetail": product_detail(sb, &plan.product_id, region),
                "ProductVersionDetail": version_detail(sb, &plan.product_id, &plan.product_version_id),
                "ResourceChanges": changes,
            })
        }
        "ListProvisionedProductPlans" => {
            let mut q = ListPlans {
                page_number: number(p, "PageNumber", 1)?,
                page_size: number(p, "PageSize", 10)?,
                ..ListPlans::default()
            };
            for f in ["AccessLevelFilter", "ApprovalFilter"] {
                if let Some(v) = p.get(f) {
                    let ok: &[&str] = if f == "AccessLevelFilter" {
                        &["User", "Account", "ResourceDirectory"]
                    } else {
                        &["ReceivedRequests", "ApprovalHistory", "AccountRequests"]
                    };
                    if !ok.contains(&v.as_str()) {
                        return Err(SandboxError::new(
                            400,
                            format!("Invalid{f}"),
                            format!(
                                "Specified parameter {f} is not valid: one of {}.",
                                ok.join(", ")
                            ),
                        ));
                    }
                }
            }
            if let Some(s) = p.get("SortBy") {
                if s != "CreateTime" {
                    return Err(SandboxError::new(
                        400,
                        "InvalidSortBy",
                        "Specified parameter SortBy is not valid: only CreateTime.",
                    ));
                }
            }
            q.ascending = match p.get("SortOrder").map(String::as_str) {
                None | Some("Desc") => false,
                Some("Asc") => true,
                Some(_) => {
                    return Err(SandboxError::new(
                        400,
                        "InvalidSortOrder",
                        "Specified parameter SortOrder is not valid: Asc or Desc.",
                    ))
                }
            };
            q.provisioned_product_id = opt(p, "ProvisionedProductId");
            // The caller's own plans unless the account's are asked for (the default is User).
            if p.get("ApprovalFilter").is_none()
                && matches!(
                    p.get("AccessLevelFilter").map(String::as_str),
                    None | Some("User")
                )
            {
                q.owner = Some(caller.to_string());
            }
            for f in repeat_list(p, "Filters") {
                let (Some(k), Some(v)) = (f.get("Key"), f.get("Value")) else {
                    return Err(SandboxError::new(
                        400,
                        "MissingFilters.N.Value",
                        "Filters.N.Key and Filters.N.Value must both be given.",
                    ));
                };
                match k.as_str() {
                    "ProvisionedProductPlanName" => q.names.push(v.clone()),
                    "ProvisionedProductPlanApprover" => q.approvers.push(v.clone()),
                    "ProvisionedProductPlanApproverName" => q.approver_names.push(v.clone()),
                    "ProvisionedProductPlanStatus" => q.statuses.push(v.clone()),
                    "ProvisionedProductPlanOwnerUid" => q.owner_uid = Some(v.clone()),
                    "FullTextSearch" => q.full_text = Some(v.clone()),
                    other => {
                        return Err(SandboxError::new(
                            400,
                            "InvalidFilters.N.Key",
                            format!("Specified parameter Filters.N.Key is not valid: {other}."),
                        ))
                    }
                }
            }
            let (items, total) = sb.list_plans(&q)?;
            json!({
                "PageNumber": q.page_number, "PageSize": q.page_size, "TotalCount": total,
                "PlanDetails": items.iter().map(|x| plan_detail(sb, x, false)).collect::<Vec<_>>(),
            })
        }
        "ListProvisionedProductPlanApprovers" => {
            match (p.get("AccessLevelFilter"), p.get("ApprovalFilter")) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(SandboxError::new(
                        400,
                        "InvalidParameter",
                        "Specify exactly one of AccessLevelFilter and ApprovalFilter.",
                    ))
                }
                _ => {}
            }
            let name_filter: Vec<String> = repeat_list(p, "Filters")
                .into_iter()
                .filter_map(|f| f.get("Value").cloned())
                .collect();
            let mut approvers: Vec<String> = sb
                .catalog
                .portfolios
                .iter()
                .flat_map(|x| x.approvers.clone())
                .collect();
            approvers.sort();
            approvers.dedup();
            let list: Vec<Value> = approvers
                .iter()
                .map(|a| principal(a))
                .filter(|(_, n)| name_filter.iter().all(|f| n.contains(f.as_str())))
                .map(|(t, n)| json!({"PrincipalType": t, "PrincipalName": n}))
                .collect();
            json!({"Approvers": list})
        }
        "ApproveProvisionedProductPlan" => {
            sb.approve_plan(
                required(p, "PlanId")?,
                required(p, "ApprovalAction")?,
                p.get("Comment").map(String::as_str).unwrap_or_default(),
                caller,
            )?;
            json!({})
        }
        "ExecuteProvisionedProductPlan" => {
            let plan = sb.execute_plan(required(p, "PlanId")?)?;
            json!({"PlanId": plan.id})
        }
        "CancelProvisionedProductPlan" => {
            sb.cancel_plan(required(p, "PlanId")?)?;
            json!({})
        }
        "DeleteProvisionedProductPlan" => {
            sb.delete_plan(required(p, "PlanId")?)?;
            json!({})
        }
        "GetProvisionedProduct" => {
            let pp = sb.provisioned_product(required(p, "ProvisionedProductId")?)?;
            json!({"ProvisionedProductDetail": pp_detail(sb, &pp, region)})
        }
        "ListProvisionedProducts" => {
            let mut items = sb.list_provisioned_products()?;
            for f in repeat_list(p, "Filters") {
                match (f.get("Key").map(String::as_str), f.get("Value")) {
                    (Some("ProvisionedProductName"), Some(v)) => items.retain(|x| x.name == *v),
                    (Some("FullTextSearch"), Some(v)) => {
                        items.retain(|x| x.name.to_lowercase().contains(&v.to_lowercase()))
                    }
                    _ => {
                        return Err(SandboxError::new(
                            400,
                            "InvalidFilters.N.Key",
                            "Specified parameter Filters.N.Key is not valid.",
                        ))
                    }
                }
            }
            if p.get("SortOrder").map(String::as_str) == Some("Asc") {
                items.reverse();
            }
            let (items, total, page, size) = page_of(items, p)?;
            json!({"PageNumber": page, "PageSize": size, "TotalCount": total, "ProvisionedProductDetails": items.iter().map(|x| pp_detail(sb, x, region)).collect::<Vec<_>>()})
        }
        "GetTask" => {
            let t = sb.task(required(p, "TaskId")?)?;
            json!({"TaskDetail": task_detail(&t)})
        }
        "ListTasks" => {
            let tasks = sb.tasks_of(required(p, "ProvisionedProductId")?)?;
            let (items, total, page, size) = page_of(tasks, p)?;
            json!({"PageNumber": page, "PageSize": size, "TotalCount": total, "TaskDetails": items.iter().map(task_detail).collect::<Vec<_>>()})
        }
        "GetProductAsEndUser" => {
            let id = required(p, "ProductId")?;
            let prod = sb.catalog.product(id).ok_or_else(|| {
                SandboxError::new(
                    404,
                    "InvalidProduct.NotFound",
                    format!("The specified product {id} does not exist."),
                )
            })?;
            let mut s = product_detail(sb, &prod.id.clone(), region);
            s["TemplateType"] = json!("RosTerraformTemplate");
            s["HasDefaultLaunchOption"] = json!(sb.catalog.portfolios_of(id).count() == 1);
            json!({"ProductSummary": s})
        }
        "ListProductsAsEndUser" => {
            let ids: Vec<String> = sb.catalog.products.iter().map(|x| x.id.clone()).collect();
            let (items, total, page, size) = page_of(ids, p)?;
            json!({"PageNumber": page, "PageSize": size, "TotalCount": total, "ProductSummaries": items.iter().map(|i| product_detail(sb, i, region)).collect::<Vec<_>>()})
        }
        "GetProductVersion" => {
            let id = required(p, "ProductVersionId")?;
            let prod = sb
                .catalog
                .products
                .iter()
                .find(|x| x.versions.iter().any(|v| v.id == id))
                .map(|x| x.id.clone());
            let prod = prod.ok_or_else(|| {
                SandboxError::new(
                    404,
                    "InvalidProductVersion.NotFound",
                    format!("The specified product version {id} does not exist."),
                )
            })?;
            json!({"ProductVersionDetail": version_detail(sb, &prod, id)})
        }
        "ListProductVersions" => {
            let id = required(p, "ProductId")?;
            let prod = sb.catalog.product(id).ok_or_else(|| {
                SandboxError::new(
                    404,
                    "InvalidProduct.NotFound",
                    format!("The specified product {id} does not exist."),
                )
            })?;
            let versions: Vec<String> = prod.versions.iter().map(|v| v.id.clone()).collect();
            json!({"ProductVersionDetails": versions.iter().map(|v| version_detail(sb, id, v)).collect::<Vec<_>>()})
        }
        "ListLaunchOptions" => {
            let id = required(p, "ProductId")?;
            if sb.catalog.product(id).is_none() {
                return Err(SandboxError::new(
                    404,
                    "InvalidProduct.NotFound",
                    format!("The specified product {id} does not exist."),
                ));
            }
            let options: Vec<Value> = sb
                .catalog
                .portfolios_of(id)
                .map(|port| {
                    let mut constraints = vec![json!({"ConstraintType": "Launch", "Description": "Launch as the sandbox role"})];
                    if !port.approval_operation_types.is_empty() {
                        constraints.push(json!({"ConstraintType": "Approval", "Description": "Needs approval", "OperationTypes": port.approval_operation_types}));
                    }
                    if !port.stack_regions.is_empty() {
                        constraints.push(json!({"ConstraintType": "StackRegion", "Description": "Allowed regions", "StackRegions": port.stack_regions}));
                    }
                    json!({"PortfolioId": port.id, "PortfolioName": port.name, "ConstraintSummaries": constraints})
                })
                .collect();
            json!({"LaunchOptionSummaries": options})
        }
        _ => return Ok(None),
    };
    Ok(Some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_host(host: &str) -> Request {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("host", host.parse().expect("a header value"));
        Request {
            method: axum::http::Method::POST,
            uri: "/".parse().expect("a uri"),
            headers,
            body: Default::default(),
        }
    }

    #[test]
    fn arns_name_the_region_of_the_endpoint() {
        assert_eq!(
            endpoint_region(&to_host("servicecatalog.cn-shanghai.aliyuncs.com")),
            "cn-shanghai"
        );
        assert_eq!(
            endpoint_region(&to_host(
                "servicecatalog-vpc.ap-southeast-1.aliyuncs.com:443"
            )),
            "ap-southeast-1"
        );
        // A local `sandbox serve` is the documented live endpoint's region.
        assert_eq!(endpoint_region(&to_host("127.0.0.1:8080")), "cn-hangzhou");
        assert_eq!(
            endpoint_region(&to_host("servicecatalog..aliyuncs.com")),
            "cn-hangzhou"
        );
    }
}
