//! The AWS face: Service Catalog over JSON 1.1 (`X-Amz-Target: AWS242ServiceCatalogService.*`),
//! SigV4 verification, `{"__type", "message"}` errors, `PageToken` pagination and idempotency
//! tokens (wire/aws.md).

use axum::body::Body;
use axum::response::Response;
use planform_wire::{constant_time_eq, sha256_hex, sigv4};
use regex::Regex;
use serde_json::{json, Value};
use std::sync::OnceLock;

use super::{App, Fault, Request};
use crate::core::{
    CreatePlan, ListPlans, Partition, PlanRecord, PlanStatus, ProductRecord, ProductStatus,
    Sandbox, SandboxError, TaskRecord, TaskStatus,
};
use planform_model::OperationType;
use planform_wire::parse_amz_date;

const PREFIX: &str = "AWS242ServiceCatalogService.";

fn respond(app: &App, status: u16, body: Value, retry_after_s: Option<u64>) -> Response {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amzn-RequestId", app.request_id().to_lowercase());
    if let Some(s) = retry_after_s {
        b = b.header("retry-after", s.to_string());
    }
    b.body(Body::from(body.to_string()))
        .expect("valid response")
}

fn error(app: &App, status: u16, code: &str, message: &str) -> Response {
    respond(
        app,
        status,
        json!({"__type": code, "message": message}),
        None,
    )
}

/// A modeled error of the AWS API.
struct ApiError(&'static str, String);

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError("InvalidParametersException", msg.into())
}

impl From<SandboxError> for ApiError {
    fn from(e: SandboxError) -> ApiError {
        if e.status == 404 {
            ApiError("ResourceNotFoundException", e.message)
        } else if e.code.starts_with("InvalidStatus") {
            ApiError("InvalidStateException", e.message)
        } else if e.status >= 500 {
            ApiError("InternalFailure", e.message)
        } else {
            ApiError("InvalidParametersException", e.message)
        }
    }
}

/// The request's region and caller (its access key's principal and account), once its
/// signature checks out, signed for `service` (`servicecatalog`, or `sts` for STS).
pub(crate) fn authenticate(
    app: &App,
    req: &Request,
    service: &str,
) -> Result<(String, super::principals::Caller), (u16, &'static str, String)> {
    let auth = req.header("authorization").ok_or((
        400,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token".to_string(),
    ))?;
    let parsed = sigv4::parse_authorization(auth).ok_or((
        400,
        "IncompleteSignature",
        "The request signature does not conform to AWS standards.".to_string(),
    ))?;
    let caller = app.caller(&parsed.access_key_id).ok_or((
        400,
        "UnrecognizedClientException",
        "The security token included in the request is invalid.".to_string(),
    ))?;
    let key = &caller.key;
    let amz_date = req.header("x-amz-date").ok_or((
        400,
        "IncompleteSignature",
        "X-Amz-Date is required.".to_string(),
    ))?;
    let when = parse_amz_date(amz_date).ok_or((
        400,
        "IncompleteSignature",
        "X-Amz-Date is not in the basic ISO 8601 format.".to_string(),
    ))?;
    if when.abs_diff(app.now_ms()) > app.config.max_skew.as_millis() as u64 {
        return Err((
            400,
            "InvalidSignatureException",
            format!(
                "Signature expired: {amz_date} is now earlier or later than the allowed window."
            ),
        ));
    }
    if let Some(name) = unsigned_header(req, &parsed.signed_headers) {
        return Err((400, "InvalidSignatureException", name));
    }
    if parsed.service != service
        || !amz_date.starts_with(&parsed.date)
        || !crate::core::partition::is_region(&parsed.region)
    {
        return Err((
            400,
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to a valid date, region and the {service} service."
            ),
        ));
    }
    let payload = sha256_hex(&req.body);
    let canonical = sigv4::canonical_request(
        req.method.as_str(),
        &req.header_pairs(),
        &parsed.signed_headers,
        &payload,
    );
    let scope = sigv4::scope(&parsed.date, &parsed.region, &parsed.service);
    let signing_key =
        sigv4::signing_key(&key.secret, &parsed.date, &parsed.region, &parsed.service);
    let expected = sigv4::signature(
        &signing_key,
        &sigv4::string_to_sign(amz_date, &scope, &canonical),
    );
    if !constant_time_eq(&expected, &parsed.signature) {
        return Err((400, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".to_string()));
    }
    match (&key.token, req.header("x-amz-security-token")) {
        (None, None) => {}
        (Some(t), Some(s))
            if constant_time_eq(t, s)
                && parsed
                    .signed_headers
                    .iter()
                    .any(|h| h == "x-amz-security-token") => {}
        _ => {
            return Err((
                400,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.".to_string(),
            ))
        }
    }
    if caller.expires_ms.is_some_and(|until| app.now_ms() >= until) {
        return Err((
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired".to_string(),
        ));
    }
    Ok((parsed.region, caller))
}

/// The message for the first header that must be signed and is not: `host`, `content-type`,
/// `x-amz-target` and every other `x-amz-*` header the request carries. A request that leaves
/// one out could be replayed with that header changed (a captured Describe turned into a
/// Delete by rewriting `X-Amz-Target`), so AWS refuses it before checking the signature.
fn unsigned_header(req: &Request, signed: &[String]) -> Option<String> {
    let is_signed = |name: &str| signed.iter().any(|h| h == name);
    if !is_signed("host") {
        return Some(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        );
    }
    let mut present: Vec<&str> = req
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| *k == "content-type" || k.starts_with("x-amz-"))
        .collect();
    present.sort_unstable();
    present
        .into_iter()
        .find(|name| !is_signed(name))
        .map(|name| {
            format!(
                "'{}' must be a 'SignedHeader' in the AWS Authorization.",
                header_spelling(name)
            )
        })
}

/// `x-amz-target` → `X-Amz-Target`, as AWS names headers in its messages.
fn header_spelling(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

pub(crate) fn handle(app: &App, req: &Request, fault: Option<Fault>) -> Response {
    let target = req.header("x-amz-target").unwrap_or_default();
    let Some(op) = target.strip_prefix(PREFIX).map(str::to_string) else {
        return error(
            app,
            400,
            "UnknownOperationException",
            &format!("Unknown operation {target}"),
        );
    };
    let (region, caller) = match authenticate(app, req, "servicecatalog") {
        Ok(r) => r,
        Err((status, code, msg)) => return error(app, status, code, &msg),
    };
    match fault {
        Some(Fault::Throttled { retry_after_ms }) => {
            return respond(
                app,
                400,
                json!({"__type": "ThrottlingException", "message": "Rate exceeded"}),
                Some(retry_after_ms.div_ceil(1000)),
            )
        }
        Some(Fault::Internal) => {
            return error(
                app,
                500,
                "InternalFailure",
                "The request processing has failed because of an unknown error.",
            )
        }
        Some(Fault::Unavailable) => {
            return error(
                app,
                503,
                "ServiceUnavailable",
                "The request has failed due to a temporary failure of the server.",
            )
        }
        None => {}
    }
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return error(
                    app,
                    400,
                    "SerializationException",
                    "Start of structure or map found where not expected.",
                )
            }
        }
    };
    let mut sb = app.sandbox.lock().unwrap_or_else(|e| e.into_inner());
    // Each region is its own store, as on AWS: the request sees the plans, products and
    // records of the region its credential scope names, and none of the Alibaba face's.
    // And each account: a key of another account sees none of these.
    let partition = Partition::aws_in(&region, caller.foreign_account(&sb.settings.aws_account_id));
    let result = sb.within(partition, |sb| {
        dispatch(sb, &op, &body, &region, &caller.principal)
    });
    drop(sb);
    match result {
        Ok(Some(v)) => respond(app, 200, v, None),
        Ok(None) => error(
            app,
            400,
            "UnknownOperationException",
            &format!("Unknown operation {op}"),
        ),
        // A failure of the service itself is a 5xx (retryable), never a client error.
        Err(ApiError(code @ "InternalFailure", msg)) => error(app, 500, code, &msg),
        Err(ApiError(code, msg)) => error(app, 400, code, &msg),
    }
}

fn re(pattern: &'static str, cell: &'static OnceLock<Regex>) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("valid pattern"))
}

fn id_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(r"^[a-zA-Z0-9_\-]{1,100}$", &R)
}

fn str_field<'a>(b: &'a Value, name: &str) -> Option<&'a str> {
    b.get(name).and_then(Value::as_str)
}

fn required<'a>(b: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    str_field(b, name).ok_or_else(|| invalid(format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null")))
}

fn id_field<'a>(b: &'a Value, name: &str, req: bool) -> Result<Option<&'a str>, ApiError> {
    match str_field(b, name) {
        None if req => Err(invalid(format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"))),
        None => Ok(None),
        Some(v) if id_re().is_match(v) => Ok(Some(v)),
        Some(v) => Err(invalid(format!("1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-]*"))),
    }
}

fn page_size(b: &Value, max: u64) -> Result<usize, ApiError> {
    match b.get("PageSize").and_then(Value::as_u64) {
        None | Some(0) => Ok(max as usize),
        Some(n) if n <= max => Ok(n as usize),
        Some(n) => Err(invalid(format!("1 validation error detected: Value '{n}' at 'pageSize' failed to satisfy constraint: Member must have value less than or equal to {max}"))),
    }
}

fn page_token(b: &Value) -> Result<usize, ApiError> {
    match str_field(b, "PageToken") {
        None | Some("") => Ok(0),
        Some(t) => t
            .strip_prefix("pt-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid("The page token is not valid.")),
    }
}

/// The page of `items` from `start` (a token this server issued: never past the end) and the
/// token of the next page.
fn paged<T: Clone>(
    items: &[T],
    start: usize,
    size: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    if start > items.len() {
        return Err(invalid("The page token is not valid."));
    }
    let end = start.saturating_add(size).min(items.len());
    let page = items[start..end].to_vec();
    Ok((page, (end < items.len()).then(|| format!("pt-{end}"))))
}

/// A list of strings (absent or malformed: empty).
fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An output with `NextPageToken` when there is a next page (absent on the last one).
fn with_next(mut out: Value, next: Option<String>) -> Value {
    if let Some(n) = next {
        out["NextPageToken"] = json!(n);
    }
    out
}

fn secs(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// AWS has six plan statuses; the approval steps, which it lacks, read as their outcome.
fn aws_status(s: PlanStatus) -> &'static str {
    match s {
        PlanStatus::PreviewInProgress => "CREATE_IN_PROGRESS",
        PlanStatus::PreviewSuccess
        | PlanStatus::ApplicationInProgress
        | PlanStatus::ApplicationApproved => "CREATE_SUCCESS",
        PlanStatus::PreviewFailed | PlanStatus::ApplicationRejected | PlanStatus::Canceled => {
            "CREATE_FAILED"
        }
        PlanStatus::ExecuteInProgress => "EXECUTE_IN_PROGRESS",
        PlanStatus::ExecuteSuccess => "EXECUTE_SUCCESS",
        PlanStatus::ExecuteFailed => "EXECUTE_FAILED",
    }
}

fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn plan_summary(p: &PlanRecord) -> Value {
    json!({"PlanName": p.name, "PlanId": p.id, "ProvisionProductId": p.provisioned_product_id, "ProvisionProductName": p.provisioned_product_name, "PlanType": "CLOUDFORMATION", "ProvisioningArtifactId": p.product_version_id})
}

fn plan_details(p: &PlanRecord) -> Value {
    let mut d = json!({
        "CreatedTime": secs(p.create_ms), "UpdatedTime": secs(p.update_ms), "ProductId": p.product_id, "PlanName": p.name, "PlanId": p.id,
        "ProvisionProductId": p.provisioned_product_id, "ProvisionProductName": p.provisioned_product_name, "PlanType": "CLOUDFORMATION",
        "ProvisioningArtifactId": p.product_version_id, "Status": aws_status(p.status), "NotificationArns": p.notification_arns,
        "ProvisioningParameters": p.parameters.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
        "Tags": tags_json(&p.tags),
    });
    if let Some(path) = &p.portfolio_id {
        d["PathId"] = json!(path);
    }
    if let Some(m) = &p.status_message {
        d["StatusMessage"] = json!(m);
    }
    d
}

/// The region of a product made before products recorded theirs.
const DEFAULT_REGION: &str = "us-east-1";

/// A provisioned product as DescribeProvisionedProduct/SearchProvisionedProducts show it; its ARN
/// names the region it was launched in (the region the request was signed for).
fn pp_json(sb: &Sandbox, p: &ProductRecord) -> Value {
    let status = match p.status {
        ProductStatus::Available => "AVAILABLE",
        ProductStatus::UnderChange => "UNDER_CHANGE",
        ProductStatus::Error => "ERROR",
        ProductStatus::Terminated => "TAINTED",
    };
    let mut d = json!({
        "Name": p.name, "Arn": format!("arn:aws:servicecatalog:{}:{}:stack/{}/{}", p.stack_region_id.as_deref().unwrap_or(DEFAULT_REGION), sb.caller_account(), p.name, p.id),
        "Type": "CFN_STACK", "Id": p.id, "Status": status, "CreatedTime": secs(p.create_ms), "ProductId": p.product_id,
        "ProvisioningArtifactId": p.product_version_id,
    });
    for (k, v) in [
        ("StatusMessage", &p.status_message),
        ("LastRecordId", &p.last_task_id),
        ("LastProvisioningRecordId", &p.last_provisioning_task_id),
        (
            "LastSuccessfulProvisioningRecordId",
            &p.last_successful_task_id,
        ),
    ] {
        if let Some(v) = v {
            d[k] = json!(v);
        }
    }
    d
}

fn record_json(t: &TaskRecord) -> Value {
    let record_type = match t.task_type {
        OperationType::LaunchProduct => "PROVISION_PRODUCT",
        OperationType::UpdateProvisionedProduct => "UPDATE_PROVISIONED_PRODUCT",
        OperationType::TerminateProvisionedProduct => "TERMINATE_PROVISIONED_PRODUCT",
    };
    let status = match t.status {
        TaskStatus::Succeeded => "SUCCEEDED",
        TaskStatus::Failed => "FAILED",
        TaskStatus::InProgress => "IN_PROGRESS",
    };
    let mut d = json!({
        "RecordId": t.id, "ProvisionedProductName": t.provisioned_product_name, "Status": status, "CreatedTime": secs(t.create_ms),
        "UpdatedTime": secs(t.update_ms), "ProvisionedProductType": "CFN_STACK", "RecordType": record_type,
        "ProvisionedProductId": t.provisioned_product_id, "ProductId": t.product_id, "ProvisioningArtifactId": t.product_version_id,
        "RecordErrors": t.status_message.iter().map(|m| json!({"Code": "ExecutionFailed", "Description": m})).collect::<Vec<_>>(),
        "RecordTags": [],
    });
    if let Some(p) = &t.portfolio_id {
        d["PathId"] = json!(p);
    }
    d
}

fn outputs_json(outputs: &[(String, String, String)]) -> Vec<Value> {
    outputs
        .iter()
        .map(|(k, v, d)| json!({"OutputKey": k, "OutputValue": v, "Description": d}))
        .collect()
}

fn find_product(
    sb: &mut Sandbox,
    b: &Value,
    id_key: &str,
    name_key: &str,
) -> Result<ProductRecord, ApiError> {
    match (str_field(b, id_key), str_field(b, name_key)) {
        (Some(id), None) => Ok(sb.provisioned_product(id)?),
        (None, Some(name)) => sb.provisioned_product_named(name)?.ok_or_else(|| {
            ApiError(
                "ResourceNotFoundException",
                format!("Provisioned product {name} not found."),
            )
        }),
        _ => Err(invalid(format!(
            "Exactly one of {id_key} and {name_key} must be given."
        ))),
    }
}

/// A list of `{Key, Value}` members (Tags, ProvisioningParameters) as pairs.
/// `ProvisioningParameters`: `UsePreviousValue: true` takes the existing product's value (and
/// ignores `Value`); on a new product it is invalid.
fn provisioning_parameters(
    b: &Value,
    product: Option<&ProductRecord>,
) -> Result<Vec<(String, String)>, ApiError> {
    let Some(list) = b.get("ProvisioningParameters").and_then(Value::as_array) else {
        return Ok(vec![]);
    };
    let mut out = Vec::new();
    for x in list {
        let key = str_field(x, "Key").unwrap_or_default().to_string();
        if x.get("UsePreviousValue").and_then(Value::as_bool) == Some(true) {
            let previous = product
                .and_then(|p| p.parameters.iter().find(|(k, _)| *k == key))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    invalid(format!(
                        "UsePreviousValue is set for {key}, which has no previous value."
                    ))
                })?;
            out.push((key, previous));
        } else {
            out.push((key, str_field(x, "Value").unwrap_or_default().to_string()));
        }
    }
    Ok(out)
}

fn key_values(b: &Value, field: &str) -> Vec<(String, String)> {
    b.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        str_field(x, "Key").unwrap_or_default().to_string(),
                        str_field(x, "Value").unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn check_tags(b: &Value) -> Result<Vec<(String, String)>, ApiError> {
    static R: OnceLock<Regex> = OnceLock::new();
    let tag_re = re(r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$", &R);
    let tags: Vec<(String, String)> = key_values(b, "Tags");
    if tags.len() > 50 {
        return Err(invalid(format!("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50 (got {})", tags.len())));
    }
    for (k, v) in &tags {
        if !(1..=128).contains(&k.chars().count())
            || !tag_re.is_match(k)
            || !(1..=256).contains(&v.chars().count())
            || !tag_re.is_match(v)
        {
            return Err(invalid(format!(
                "The tag {k:?}={v:?} does not satisfy the tag constraints."
            )));
        }
    }
    Ok(tags)
}

fn dispatch(
    sb: &mut Sandbox,
    op: &str,
    b: &Value,
    region: &str,
    caller: &str,
) -> Result<Option<Value>, ApiError> {
    // Every operation of the API takes AcceptLanguage (`max=100` in the model).
    if let Some(lang) = b.get("AcceptLanguage") {
        match lang.as_str() {
            Some(l) if l.chars().count() <= 100 => {}
            Some(_) => return Err(invalid("1 validation error detected: Value at 'acceptLanguage' failed to satisfy constraint: Member must have length less than or equal to 100")),
            None => return Err(invalid("Start of structure or map found where not expected: AcceptLanguage must be a string")),
        }
    }
    let v = match op {
        "CreateProvisionedProductPlan" => {
            let name = required(b, "PlanName")?;
            if required(b, "PlanType")? != "CLOUDFORMATION" {
                return Err(invalid("1 validation error detected: Value at 'planType' failed to satisfy constraint: Member must satisfy enum value set: [CLOUDFORMATION]"));
            }
            let product = id_field(b, "ProductId", true)?
                .unwrap_or_default()
                .to_string();
            let artifact = id_field(b, "ProvisioningArtifactId", true)?
                .unwrap_or_default()
                .to_string();
            let path = id_field(b, "PathId", false)?.map(str::to_string);
            let pp_name = required(b, "ProvisionedProductName")?;
            static PP: OnceLock<Regex> = OnceLock::new();
            if !re(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$", &PP).is_match(pp_name) {
                return Err(invalid(format!("1 validation error detected: Value '{pp_name}' at 'provisionedProductName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9][a-zA-Z0-9._-]*")));
            }
            let token = required(b, "IdempotencyToken")?;
            static TOK: OnceLock<Regex> = OnceLock::new();
            if !re(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,127}$", &TOK).is_match(token) {
                return Err(invalid("The idempotency token is not valid."));
            }
            let arns: Vec<String> = strings(b.get("NotificationArns"));
            if arns.len() > 5 {
                return Err(invalid("1 validation error detected: Value at 'notificationArns' failed to satisfy constraint: Member must have length less than or equal to 5"));
            }
            static ARN: OnceLock<Regex> = OnceLock::new();
            if let Some(bad) = arns.iter().find(|a| !re(r"^arn:[a-z0-9\-.]{1,63}:[a-z0-9\-.]{0,63}:[a-z0-9\-.]{0,63}:[a-z0-9\-.]{0,63}:[^/].{0,1023}$", &ARN).is_match(a)) {
                return Err(invalid(format!("The notification ARN {bad} is not valid.")));
            }
            let tags = check_tags(b)?;
            let product_now = sb.provisioned_product_named(pp_name)?;
            // A plan for an existing product needs it AVAILABLE (or TAINTED).
            if let Some(pp) = &product_now {
                if pp.status != ProductStatus::Available {
                    return Err(ApiError(
                        "InvalidStateException",
                        format!(
                            "Provisioned product {} is in state {}; a plan needs it AVAILABLE or TAINTED.",
                            pp.name,
                            pp_json(sb, pp)["Status"].as_str().unwrap_or_default()
                        ),
                    ));
                }
            }
            // Then "you can create one plan per provisioned product" (the seed): any plan counts,
            // executed ones included, except the one a resend of this request made.
            if let Some(other) = sb.aws_plan_for_product(pp_name)? {
                if other.idempotency_token.as_deref() != Some(token) {
                    return Err(invalid(format!(
                        "Provisioned product {pp_name} already has plan {}; a provisioned product can have one plan. Delete it before creating another.",
                        other.id
                    )));
                }
            }
            let parameters = provisioning_parameters(b, product_now.as_ref())?;
            let existing = product_now.is_some();
            let plan = sb.create_plan(CreatePlan {
                owner: Some(caller.to_string()),
                name: name.into(),
                description: None,
                operation_type: Some(
                    if existing {
                        "UpdateProvisionedProduct"
                    } else {
                        "LaunchProduct"
                    }
                    .into(),
                ),
                portfolio_id: path,
                product_id: product,
                product_version_id: artifact,
                provisioned_product_name: pp_name.into(),
                stack_region_id: Some(region.into()),
                parameters,
                tags,
                notification_arns: arns,
                idempotency_token: Some(token.into()),
                aws: true,
            })?;
            json!({"PlanName": plan.name, "PlanId": plan.id, "ProvisionProductId": plan.provisioned_product_id, "ProvisionedProductName": plan.provisioned_product_name, "ProvisioningArtifactId": plan.product_version_id})
        }
        "DescribeProvisionedProductPlan" => {
            let plan = sb.get_plan(id_field(b, "PlanId", true)?.unwrap_or_default())?;
            let changes: Vec<Value> = plan
                .resource_changes
                .iter()
                .map(|r| {
                    let mut c = json!({"Action": r.action.to_uppercase(), "LogicalResourceId": r.logical_resource_id, "ResourceType": r.resource_type, "Scope": ["PROPERTIES"], "Details": []});
                    if let Some(p) = &r.physical_resource_id {
                        c["PhysicalResourceId"] = json!(p);
                    }
                    if let Some(x) = &r.replacement {
                        c["Replacement"] = json!(x.to_uppercase());
                    }
                    c
                })
                .collect();
            let (page, next) = paged(&changes, page_token(b)?, page_size(b, 20)?)?;
            with_next(
                json!({"ProvisionedProductPlanDetails": plan_details(&plan), "ResourceChanges": page}),
                next,
            )
        }
        "ListProvisionedProductPlans" => {
            let pp = id_field(b, "ProvisionProductId", false)?.map(str::to_string);
            // AccessLevelFilter {Key: Account|Role|User, Value: "self"}; the default is User:
            // the caller's own plans (a principal is one access key here, so Role is User).
            let owner = match b.get("AccessLevelFilter") {
                None => Some(caller.to_string()),
                Some(f) => {
                    let key = f.get("Key").and_then(Value::as_str);
                    if f.get("Value").and_then(Value::as_str) != Some("self") {
                        return Err(invalid("AccessLevelFilter.Value must be \"self\"."));
                    }
                    match key {
                        Some("Account") => None,
                        Some("Role" | "User") => Some(caller.to_string()),
                        _ => {
                            return Err(invalid(
                                "AccessLevelFilter.Key must be one of Account, Role, User.",
                            ))
                        }
                    }
                }
            };
            let mut all = Vec::new();
            for page in 1.. {
                let (items, total) = sb.list_plans(&ListPlans {
                    page_number: page,
                    page_size: 100,
                    ascending: true,
                    provisioned_product_id: pp.clone(),
                    owner: owner.clone(),
                    ..ListPlans::default()
                })?;
                all.extend(items);
                if all.len() >= total {
                    break;
                }
            }
            let summaries: Vec<Value> = all.iter().map(plan_summary).collect();
            let (page, next) = paged(&summaries, page_token(b)?, page_size(b, 20)?)?;
            with_next(json!({"ProvisionedProductPlans": page}), next)
        }
        "ExecuteProvisionedProductPlan" => {
            let id = id_field(b, "PlanId", true)?.unwrap_or_default().to_string();
            let token = required(b, "IdempotencyToken")?;
            let plan = sb.get_plan(&id)?;
            // A repeat of the request that started the execution gets the first answer.
            if plan.execute_token.as_deref() == Some(token) {
                let pp = sb.provisioned_product(&plan.provisioned_product_id)?;
                let task = sb.task(pp.last_task_id.as_deref().unwrap_or_default())?;
                return Ok(Some(json!({"RecordDetail": record_json(&task)})));
            }
            if !matches!(
                plan.status,
                PlanStatus::PreviewSuccess | PlanStatus::ApplicationApproved
            ) {
                return Err(ApiError(
                    "InvalidStateException",
                    format!(
                        "Plan {id} is in status {}; it must be CREATE_SUCCESS.",
                        aws_status(plan.status)
                    ),
                ));
            }
            sb.execute_plan_with_token(&id, Some(token))?;
            let pp = sb.provisioned_product(&plan.provisioned_product_id)?;
            let task = sb.task(pp.last_task_id.as_deref().unwrap_or_default())?;
            json!({"RecordDetail": record_json(&task)})
        }
        "DeleteProvisionedProductPlan" => {
            // AWS models no state error here: a plan is deleted whatever its status.
            sb.delete_plan_in_any_status(id_field(b, "PlanId", true)?.unwrap_or_default())?;
            json!({})
        }
        "DescribeProvisionedProduct" => {
            let pp = find_product(sb, b, "Id", "Name")?;
            json!({"ProvisionedProductDetail": pp_json(sb, &pp), "CloudWatchDashboards": []})
        }
        "GetProvisionedProductOutputs" => {
            let pp = find_product(sb, b, "ProvisionedProductId", "ProvisionedProductName")?;
            let keys: Vec<String> = strings(b.get("OutputKeys"));
            let outputs: Vec<Value> = outputs_json(&pp.outputs)
                .into_iter()
                .filter(|o| keys.is_empty() || keys.iter().any(|k| o["OutputKey"] == json!(k)))
                .collect();
            let (page, next) = paged(&outputs, page_token(b)?, page_size(b, 20)?)?;
            with_next(json!({"Outputs": page}), next)
        }
        "SearchProvisionedProducts" => {
            let mut items = sb.list_provisioned_products()?;
            let queries: Vec<String> = strings(b.pointer("/Filters/SearchQuery"));
            for q in &queries {
                let (field, value) = q.split_once(':').unwrap_or(("", q.as_str()));
                items.retain(|p| {
                    let status = pp_json(sb, p)["Status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    match field {
                        "name" => p.name == value,
                        "id" => p.id == value,
                        "status" => status == value,
                        "productId" => p.product_id == value,
                        _ => p.name.contains(value) || p.id.contains(value),
                    }
                });
            }
            match str_field(b, "SortBy") {
                None | Some("arn") | Some("name") => items.sort_by(|a, b| a.name.cmp(&b.name)),
                Some("id") => items.sort_by(|a, b| a.id.cmp(&b.id)),
                Some("lastRecordId") => items.sort_by(|a, b| a.last_task_id.cmp(&b.last_task_id)),
                Some(other) => {
                    return Err(invalid(format!(
                        "SortBy {other} is not one of arn, id, name, lastRecordId"
                    )))
                }
            }
            if str_field(b, "SortOrder") == Some("DESCENDING") {
                items.reverse();
            }
            let all: Vec<Value> = items.iter().map(|p| pp_json(sb, p)).collect();
            let (page, next) = paged(&all, page_token(b)?, page_size(b, 100)?)?;
            with_next(
                json!({"ProvisionedProducts": page, "TotalResultsCount": all.len()}),
                next,
            )
        }
        "TerminateProvisionedProduct" => {
            required(b, "TerminateToken")?;
            let pp = find_product(sb, b, "ProvisionedProductId", "ProvisionedProductName")?;
            let task = sb.terminate_product(&pp.id)?;
            json!({"RecordDetail": record_json(&task)})
        }
        "DescribeRecord" => {
            let task = sb.task(required(b, "Id")?).map_err(|_| {
                ApiError(
                    "ResourceNotFoundException",
                    format!(
                        "Record {} not found.",
                        str_field(b, "Id").unwrap_or_default()
                    ),
                )
            })?;
            json!({"RecordDetail": record_json(&task), "RecordOutputs": outputs_json(&task.outputs)})
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}
