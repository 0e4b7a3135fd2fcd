//! Alibaba Cloud Service Catalog, RPC API 2021-09-01: requests signed with ACS3-HMAC-SHA256,
//! parameters in the form body or the query string per action (wire/alibaba.md §2.1), flat
//! 1-based arrays, JSON answers, typed errors that keep the cloud's code, message and request id.
//! This client is the only layer that retries its requests (`retry::retry`, docs/retries.md).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, TryStreamExt};
use planform_model::{
    Capabilities, ErrorKind, LivePlan, NewPlan, OperationType, Page, PlanFilter, PlanInputs,
    PlanService, PlanStatus, PlanUpdate, ProviderError, ProvisionedProduct, ResourceChange, Sent,
};
use planform_wire::{acs3, encoding, sha256_hex};
use serde_json::Value;

use crate::credentials::{AlibabaCredentials, CredentialProvider};
use crate::request_log;
use crate::retry::{nothing_to_look_for, retry, RateLimit, RetryPolicy};

const VERSION: &str = "2021-09-01";
/// Alibaba STS, for `GetCallerIdentity`.
const STS_VERSION: &str = "2015-04-01";

/// Where and how to reach the service.
#[derive(Debug, Clone)]
pub struct AlibabaOptions {
    /// `https://servicecatalog.cn-hangzhou.aliyuncs.com` or an override such as a sandbox server.
    pub endpoint: String,
    /// STS, asked once for the caller's account (`GetCallerIdentity`): see [`sts_endpoint`].
    pub sts_endpoint: String,
    pub retry: RetryPolicy,
    pub requests_per_second: Option<f64>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl AlibabaOptions {
    /// The endpoint as the official tools pick it: the manifest's `endpoint`, then
    /// `ALIBABA_CLOUD_ENDPOINT_SERVICECATALOG`, then `servicecatalog.<region>.aliyuncs.com`.
    pub fn resolve(
        region: &str,
        endpoint: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> AlibabaOptions {
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| {
                env.get("ALIBABA_CLOUD_ENDPOINT_SERVICECATALOG")
                    .filter(|v| !v.is_empty())
                    .cloned()
            })
            .unwrap_or_else(|| format!("servicecatalog.{region}.aliyuncs.com"));
        let endpoint = if endpoint.starts_with("http://") || endpoint.starts_with("https://") {
            endpoint
        } else {
            format!("https://{endpoint}")
        };
        let endpoint = endpoint.trim_end_matches('/').to_string();
        AlibabaOptions {
            sts_endpoint: sts_endpoint(region, &endpoint, env),
            endpoint,
            retry: RetryPolicy::default(),
            requests_per_second: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Where STS `GetCallerIdentity` goes: `ALIBABA_CLOUD_STS_ENDPOINT` when set (as the credential
/// chain reaches STS); else the Service Catalog endpoint when it is not Alibaba Cloud's (a
/// sandbox server answers STS on the same port); else the region's STS
/// (`sts[-vpc].<region>.aliyuncs.com`, `sts-vpc` with `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true`),
/// or `sts.aliyuncs.com` without a region.
pub fn sts_endpoint(region: &str, endpoint: &str, env: &BTreeMap<String, String>) -> String {
    let region = Some(region).filter(|r| !r.is_empty());
    if env
        .get("ALIBABA_CLOUD_STS_ENDPOINT")
        .is_none_or(|v| v.is_empty())
        && !is_alibaba_endpoint(endpoint)
    {
        return endpoint.to_string();
    }
    crate::credentials::sts_endpoint(env, region, false)
}

/// Whether `endpoint` is Alibaba Cloud's own (`*.aliyuncs.com`).
fn is_alibaba_endpoint(endpoint: &str) -> bool {
    crate::host_of(endpoint).ends_with(".aliyuncs.com")
}

/// One API the client calls: where, as which host it signs, and which version.
#[derive(Debug, Clone)]
struct Api {
    /// Named in errors: "Service Catalog", "STS".
    name: &'static str,
    endpoint: String,
    host: String,
    version: &'static str,
}

impl Api {
    fn new(name: &'static str, endpoint: &str, version: &'static str) -> Api {
        Api {
            name,
            host: endpoint
                .split("://")
                .nth(1)
                .unwrap_or(endpoint)
                .trim_end_matches('/')
                .to_string(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            version,
        }
    }
}

pub struct AlibabaClient {
    http: reqwest::Client,
    options: AlibabaOptions,
    service: Api,
    sts: Api,
    /// The caller's account, asked once ([`PlanService::account`]).
    account: tokio::sync::OnceCell<String>,
    credentials: std::sync::Arc<CredentialProvider>,
    limit: Option<RateLimit>,
    nonce: AtomicU64,
    /// Requests sent, retries included (for benchmarks and tests).
    pub requests: AtomicU64,
}

impl std::fmt::Debug for AlibabaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlibabaClient")
            .field("endpoint", &self.options.endpoint)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// A request ready to send: everything the signature covers.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRequest {
    pub method: &'static str,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Actions whose parameters go in the query string (the rest use a form body).
fn in_query(action: &str) -> bool {
    matches!(
        action,
        "ListProvisionedProductPlans"
            | "ListProvisionedProductPlanApprovers"
            | "GetProvisionedProduct"
            | "ListProvisionedProducts"
            | "GetProductAsEndUser"
            | "GetProductVersion"
            | "ListLaunchOptions"
            | "ListProductVersions"
            | "ListProductsAsEndUser"
            | "ListTasks"
    )
}

/// Builds and signs a Service Catalog request; pure, so the request shapes are tested without
/// a network.
pub fn sign(
    action: &str,
    params: &[(String, String)],
    host: &str,
    credentials: &AlibabaCredentials,
    date: &str,
    nonce: &str,
) -> SignedRequest {
    sign_for(VERSION, action, params, host, credentials, date, nonce)
}

/// [`sign`] for the API of `version` (Service Catalog's, or STS's for `GetCallerIdentity`).
pub fn sign_for(
    version: &str,
    action: &str,
    params: &[(String, String)],
    host: &str,
    credentials: &AlibabaCredentials,
    date: &str,
    nonce: &str,
) -> SignedRequest {
    let method = if action == "ListProvisionedProductPlanApprovers" {
        "GET"
    } else {
        "POST"
    };
    let (query_pairs, body) = if in_query(action) {
        (params.to_vec(), String::new())
    } else {
        (vec![], encoding::form_encode(params))
    };
    let payload = sha256_hex(body.as_bytes());
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        ("x-acs-version".to_string(), version.to_string()),
        ("x-acs-action".to_string(), action.to_string()),
        ("x-acs-date".to_string(), date.to_string()),
        ("x-acs-signature-nonce".to_string(), nonce.to_string()),
        ("accept".to_string(), "application/json".to_string()),
        ("x-acs-content-sha256".to_string(), payload.clone()),
    ];
    if !body.is_empty() {
        headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    if let Some(t) = &credentials.security_token {
        headers.push((
            "x-acs-accesskey-id".into(),
            credentials.access_key_id.clone(),
        ));
        headers.push(("x-acs-security-token".into(), t.expose().clone()));
    }
    let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let canonical = acs3::canonical_request(method, &query_pairs, &headers, &signed, &payload);
    let signature = acs3::signature(credentials.access_key_secret.expose(), &canonical);
    headers.push((
        "authorization".into(),
        acs3::authorization(&credentials.access_key_id, &signed, &signature),
    ));
    let query = query_pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encoding::pct(k), encoding::pct(v)))
        .collect::<Vec<_>>()
        .join("&");
    SignedRequest {
        method,
        query,
        headers,
        body: body.into_bytes(),
    }
}

fn iso_now() -> String {
    planform_wire::iso8601(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

/// Classifies an error answer by its HTTP status, error code and retry-after header: the kind
/// decides between retrying and failing. Codes are checked before statuses where they are more
/// precise (`InvalidAccessKeyId.NotFound` is a 404 about credentials, not about a plan).
pub fn classify(status: u16, code: &str, retry_after: Option<Duration>) -> ErrorKind {
    if status == 429
        || retry_after.is_some()
        || code.starts_with("Throttling")
        || code == "Rejected.Throttling"
    {
        ErrorKind::Throttled { retry_after }
    } else if status == 401
        || status == 403
        || code.starts_with("InvalidAccessKeyId")
        || code.starts_with("Signature")
        || code == "IncompleteSignature"
        || code.starts_with("InvalidSecurityToken")
        || code == "MissingAccessKeyId"
        || code == "MissingSecurityToken"
        || code.starts_with("Forbidden")
        || code == "NoPermission"
        || code.starts_with("InvalidTimeStamp")
    {
        ErrorKind::Auth
    } else if status >= 500 || code == "ServiceUnavailable" || code == "InternalError" {
        ErrorKind::Transient
    } else if code.starts_with("InvalidAction") {
        ErrorKind::Invalid
    } else if status == 404 || code.ends_with("NotFound") || code.starts_with("EntityNotExist") {
        ErrorKind::NotFound
    } else if status == 409
        || code.starts_with("InvalidStatus")
        || code.starts_with("IncorrectStatus")
        || code.ends_with("Conflict")
        || code.ends_with(".Duplicate")
    {
        ErrorKind::Conflict
    } else {
        ErrorKind::Invalid
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn pairs(v: &Value, list: &str, key: &str, value: &str) -> BTreeMap<String, String> {
    v.get(list)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| Some((s(x, key)?, s(x, value).unwrap_or_default())))
                .collect()
        })
        .unwrap_or_default()
}

/// A `PlanDetail` (Get) or an item of `PlanDetails` (List) as a `LivePlan`.
pub fn live_plan(d: &Value) -> LivePlan {
    let raw = s(d, "Status").unwrap_or_default();
    LivePlan {
        id: s(d, "PlanId").unwrap_or_default(),
        inputs: PlanInputs {
            name: s(d, "PlanName").unwrap_or_default(),
            description: s(d, "Description"),
            product_id: s(d, "ProductId").unwrap_or_default(),
            product_version_id: s(d, "ProductVersionId").unwrap_or_default(),
            portfolio_id: s(d, "PortfolioId"),
            provisioned_product_name: s(d, "ProvisionedProductName").unwrap_or_default(),
            stack_region_id: s(d, "StackRegionId"),
            parameters: pairs(d, "Parameters", "ParameterKey", "ParameterValue"),
            tags: pairs(d, "Tags", "Key", "Value"),
            notification_arns: vec![],
        },
        operation_type: s(d, "OperationType")
            .and_then(|o| OperationType::parse(&o))
            .unwrap_or(OperationType::LaunchProduct),
        status: PlanStatus::parse(&raw).unwrap_or(PlanStatus::PreviewFailed),
        raw_status: raw,
        status_message: s(d, "StatusMessage").filter(|m| !m.is_empty()),
        provisioned_product_id: s(d, "ProvisionedProductId"),
        stack_id: s(d, "StackId").filter(|x| !x.is_empty()),
        create_time: s(d, "CreateTime").unwrap_or_default(),
        update_time: s(d, "UpdateTime").unwrap_or_default(),
    }
}

fn flat(
    params: &mut Vec<(String, String)>,
    list: &str,
    key: &str,
    value: &str,
    items: &BTreeMap<String, String>,
) {
    for (i, (k, v)) in items.iter().enumerate() {
        params.push((format!("{list}.{}.{key}", i + 1), k.clone()));
        params.push((format!("{list}.{}.{value}", i + 1), v.clone()));
    }
}

fn p(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_string(), v.into())
}

impl AlibabaClient {
    /// A client signing with fixed keys.
    pub fn new(
        options: AlibabaOptions,
        credentials: AlibabaCredentials,
    ) -> Result<AlibabaClient, ProviderError> {
        AlibabaClient::with_provider(
            options,
            std::sync::Arc::new(CredentialProvider::fixed(credentials)),
        )
    }

    /// A client asking `credentials` for current credentials before every request, so
    /// temporary credentials are refreshed before they expire, also in the middle of an apply.
    pub fn with_provider(
        options: AlibabaOptions,
        credentials: std::sync::Arc<CredentialProvider>,
    ) -> Result<AlibabaClient, ProviderError> {
        let http = reqwest::Client::builder()
            // A signed request goes only where it was addressed: never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(concat!("planform/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ProviderError::new(ErrorKind::Invalid, Sent::No, "ClientSetup", e.to_string())
            })?;
        Ok(AlibabaClient {
            http,
            limit: options.requests_per_second.and_then(RateLimit::new),
            service: Api::new("Service Catalog", &options.endpoint, VERSION),
            sts: Api::new("STS", &options.sts_endpoint, STS_VERSION),
            account: tokio::sync::OnceCell::new(),
            credentials,
            options,
            nonce: AtomicU64::new(fastrand::u64(..)),
            requests: AtomicU64::new(0),
        })
    }

    fn nonce(&self) -> String {
        let n = self.nonce.fetch_add(1, Ordering::SeqCst);
        sha256_hex(format!("{n}:{}", std::process::id()).as_bytes())[..32].to_string()
    }

    /// One attempt, after the rate limit lets it go. A failure to connect was not sent; a failure
    /// after connecting (a timeout, a reset) may have been; an error answer was.
    async fn send_once(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Value, ProviderError> {
        self.send_once_to(&self.service, action, params).await
    }

    /// [`AlibabaClient::send_once`] to `api`.
    async fn send_once_to(
        &self,
        api: &Api,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Value, ProviderError> {
        if let Some(l) = &self.limit {
            l.until_ready().await;
        }
        let credentials = self.credentials.current().await.map_err(|e| {
            ProviderError::new(ErrorKind::Auth, Sent::No, "Credentials", e.to_string())
        })?;
        let req = sign_for(
            api.version,
            action,
            params,
            &api.host,
            &credentials,
            &iso_now(),
            &self.nonce(),
        );
        let url = if req.query.is_empty() {
            format!("{}/", api.endpoint)
        } else {
            format!("{}/?{}", api.endpoint, req.query)
        };
        let mut builder = self.http.request(
            if req.method == "GET" {
                reqwest::Method::GET
            } else {
                reqwest::Method::POST
            },
            url,
        );
        for (k, v) in &req.headers {
            if k != "host" {
                builder = builder.header(k.as_str(), v.as_str());
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            target: request_log::TARGET,
            cloud = "alibaba",
            method = req.method,
            action,
            host = %api.host,
            "request"
        );
        tracing::trace!(
            target: request_log::TARGET,
            cloud = "alibaba",
            action,
            headers = %request_log::headers(req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            parameters = %params.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(","),
            "request headers and parameter names (values are not logged)"
        );
        let started = std::time::Instant::now();
        let resp = builder.body(req.body).send().await.map_err(|e| {
            let sent = if e.is_connect() {
                Sent::No
            } else {
                Sent::Maybe
            };
            tracing::debug!(
                target: request_log::TARGET,
                cloud = "alibaba",
                action,
                duration_ms = started.elapsed().as_millis() as u64,
                error = %describe_reqwest(&e),
                "no response"
            );
            ProviderError::new(
                ErrorKind::Transient,
                sent,
                "NetworkError",
                format!("{action}: {}", describe_reqwest(&e)),
            )
        })?;
        let status = resp.status().as_u16();
        let header_request_id = resp
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = resp
            .headers()
            .get("x-acs-retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_millis)
            .or_else(|| {
                resp.headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .map(Duration::from_secs)
            });
        let text = resp.text().await.map_err(|e| {
            ProviderError::new(
                ErrorKind::Transient,
                Sent::Maybe,
                "NetworkError",
                format!("{action}: reading the answer: {e}"),
            )
        })?;
        let Some(body) = serde_json::from_str::<Value>(&text)
            .ok()
            .filter(Value::is_object)
        else {
            // Not an answer of the API (a proxy's page, another service): say where it came
            // from, and never take a 2xx page for an empty answer.
            let shown: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(200)
                .collect();
            let code = status.to_string();
            return Err(ProviderError {
                kind: if status < 300 {
                    ErrorKind::Invalid
                } else {
                    classify(status, &code, retry_after)
                },
                sent: Sent::Yes,
                message: format!(
                    "{action} at {}: HTTP {status} with an answer that is not {}'s JSON{}",
                    api.endpoint,
                    api.name,
                    if shown.trim().is_empty() {
                        " (empty)".to_string()
                    } else {
                        format!(": {}", shown.trim())
                    }
                ),
                code,
                request_id: header_request_id,
            });
        };
        let request_id = s(&body, "RequestId")
            .or_else(|| s(&body, "requestId"))
            .or(header_request_id);
        tracing::debug!(
            target: request_log::TARGET,
            cloud = "alibaba",
            action,
            status,
            duration_ms = started.elapsed().as_millis() as u64,
            request_id = request_id.as_deref().unwrap_or("-"),
            bytes = text.len(),
            "response"
        );
        if status >= 300 {
            // An empty code names nothing (found by the alibaba_response fuzz target): the
            // status stands in for it.
            let code = s(&body, "Code")
                .or_else(|| s(&body, "code"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| status.to_string());
            let message = s(&body, "Message")
                .or_else(|| s(&body, "message"))
                .unwrap_or_default();
            return Err(ProviderError {
                kind: classify(status, &code, retry_after),
                sent: Sent::Yes,
                code,
                message,
                request_id,
            });
        }
        Ok(body)
    }

    /// Sends with retries (`retry::retry`). For a create (`create` is set), an attempt that may
    /// have landed is resent only after listing by name shows it made no plan; if it did, that
    /// plan is the answer.
    async fn send(
        &self,
        action: &str,
        params: &[(String, String)],
        create: Option<&NewPlan>,
    ) -> Result<Answer, ProviderError> {
        let attempt = || async { self.send_once(action, params).await.map(Answer::Body) };
        match create {
            None => retry(&self.options.retry, attempt, nothing_to_look_for).await,
            Some(request) => {
                let look = || async {
                    let found = self.landed(request).await?;
                    Ok(found.map(|l| Answer::Landed(Box::new(l))))
                };
                retry(&self.options.retry, attempt, look).await
            }
        }
    }

    async fn call(
        &self,
        action: &str,
        params: &[(String, String)],
    ) -> Result<Value, ProviderError> {
        match self.send(action, params, None).await? {
            Answer::Body(b) => Ok(b),
            Answer::Landed(_) => unreachable!("only a create looks for a landed plan"),
        }
    }

    /// A plan made by an earlier attempt of this create, if one landed: same name, same inputs
    /// (ownership tags included), and not executed.
    async fn landed(&self, request: &NewPlan) -> Result<Option<LivePlan>, ProviderError> {
        let filter = PlanFilter {
            name: Some(request.inputs.name.clone()),
            statuses: vec![],
        };
        let page = self.list_plans(&filter, 1, 100).await?;
        Ok(page.items.into_iter().find(|l| {
            l.inputs.provisioned_product_name == request.inputs.provisioned_product_name
                && l.inputs.product_version_id == request.inputs.product_version_id
                && l.inputs.parameters == request.inputs.parameters
                && l.inputs.tags == request.inputs.tags
                && l.operation_type == request.operation_type
                && matches!(
                    l.status,
                    PlanStatus::PreviewInProgress
                        | PlanStatus::PreviewSuccess
                        | PlanStatus::PreviewFailed
                )
        }))
    }

    /// One page of the caller's products (`ListProvisionedProducts`, newest first), outputs
    /// not included.
    async fn product_page(&self, page: usize) -> Result<Page<ProvisionedProduct>, ProviderError> {
        let params = [
            p("PageNumber", page.to_string()),
            p("PageSize", PRODUCT_PAGE.to_string()),
            p("SortBy", "CreateTime"),
            p("SortOrder", "Desc"),
        ];
        let body = self.call("ListProvisionedProducts", &params).await?;
        let items = body
            .get("ProvisionedProductDetails")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|d| product(d, BTreeMap::new())).collect())
            .unwrap_or_default();
        Ok(Page {
            items,
            total_count: body.get("TotalCount").and_then(Value::as_u64).unwrap_or(0) as usize,
        })
    }

    fn inputs_params(params: &mut Vec<(String, String)>, i: &PlanInputs) {
        params.push(p("ProductId", &i.product_id));
        params.push(p("ProductVersionId", &i.product_version_id));
        if let Some(x) = &i.portfolio_id {
            params.push(p("PortfolioId", x));
        }
        if let Some(x) = &i.description {
            params.push(p("Description", x));
        }
        flat(
            params,
            "Parameters",
            "ParameterKey",
            "ParameterValue",
            &i.parameters,
        );
        flat(params, "Tags", "Key", "Value", &i.tags);
    }
}

/// What a send ended with: the answer, or (for a create) the plan an earlier attempt made.
enum Answer {
    Body(Value),
    Landed(Box<LivePlan>),
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        s.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    s
}

#[async_trait::async_trait]
impl PlanService for AlibabaClient {
    async fn list_plans(
        &self,
        filter: &PlanFilter,
        page: usize,
        page_size: usize,
    ) -> Result<Page<LivePlan>, ProviderError> {
        let mut params = vec![
            // The account's plans, not only this principal's (the default, User): a workspace
            // is applied by people and CI as different principals.
            p("AccessLevelFilter", "Account"),
            p("PageNumber", page.to_string()),
            p("PageSize", page_size.to_string()),
            p("SortBy", "CreateTime"),
            p("SortOrder", "Desc"),
        ];
        let mut n = 0;
        let mut filt = |k: &str, v: &str| {
            n += 1;
            params.push((format!("Filters.{n}.Key"), k.to_string()));
            params.push((format!("Filters.{n}.Value"), v.to_string()));
        };
        if let Some(name) = &filter.name {
            filt("ProvisionedProductPlanName", name);
        }
        for st in &filter.statuses {
            filt("ProvisionedProductPlanStatus", st.as_str());
        }
        let body = self.call("ListProvisionedProductPlans", &params).await?;
        let items = body
            .get("PlanDetails")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(live_plan).collect())
            .unwrap_or_default();
        Ok(Page {
            items,
            total_count: body.get("TotalCount").and_then(Value::as_u64).unwrap_or(0) as usize,
        })
    }

    async fn get_plan(&self, plan_id: &str) -> Result<LivePlan, ProviderError> {
        let body = self
            .call("GetProvisionedProductPlan", &[p("PlanId", plan_id)])
            .await?;
        Ok(live_plan(body.get("PlanDetail").unwrap_or(&Value::Null)))
    }

    async fn create_plan(&self, r: &NewPlan) -> Result<LivePlan, ProviderError> {
        let i = &r.inputs;
        let mut params = vec![
            p("PlanName", &i.name),
            p("PlanType", "Ros"),
            p("ProvisionedProductName", &i.provisioned_product_name),
            p("OperationType", r.operation_type.as_str()),
        ];
        if let Some(region) = &i.stack_region_id {
            params.push(p("StackRegionId", region));
        }
        Self::inputs_params(&mut params, i);
        let body = match self
            .send("CreateProvisionedProductPlan", &params, Some(r))
            .await?
        {
            Answer::Body(b) => b,
            Answer::Landed(found) => return Ok(*found),
        };
        Ok(LivePlan {
            id: s(&body, "PlanId").unwrap_or_default(),
            inputs: i.clone(),
            operation_type: r.operation_type,
            status: PlanStatus::PreviewInProgress,
            raw_status: "PreviewInProgress".into(),
            status_message: None,
            provisioned_product_id: s(&body, "ProvisionedProductId"),
            stack_id: None,
            create_time: String::new(),
            update_time: String::new(),
        })
    }

    async fn update_plan(&self, r: &PlanUpdate) -> Result<LivePlan, ProviderError> {
        let mut params = vec![p("PlanId", &r.plan_id)];
        Self::inputs_params(&mut params, &r.inputs);
        self.call("UpdateProvisionedProductPlan", &params).await?;
        self.get_plan(&r.plan_id).await
    }

    async fn execute_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.call("ExecuteProvisionedProductPlan", &[p("PlanId", plan_id)])
            .await
            .map(|_| ())
    }

    async fn cancel_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.call("CancelProvisionedProductPlan", &[p("PlanId", plan_id)])
            .await
            .map(|_| ())
    }

    async fn delete_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.call("DeleteProvisionedProductPlan", &[p("PlanId", plan_id)])
            .await
            .map(|_| ())
    }

    async fn resource_changes(&self, plan_id: &str) -> Result<Vec<ResourceChange>, ProviderError> {
        let body = self
            .call("GetProvisionedProductPlan", &[p("PlanId", plan_id)])
            .await?;
        Ok(body
            .get("ResourceChanges")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|c| ResourceChange {
                        action: s(c, "Action").unwrap_or_default(),
                        logical_resource_id: s(c, "LogicalResourceId").unwrap_or_default(),
                        physical_resource_id: s(c, "PhysicalResourceId"),
                        resource_type: s(c, "ResourceType").unwrap_or_default(),
                        replacement: s(c, "Replacement"),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn find_provisioned_product(
        &self,
        name: &str,
    ) -> Result<Option<ProvisionedProduct>, ProviderError> {
        let params = [
            p("Filters.1.Key", "ProvisionedProductName"),
            p("Filters.1.Value", name),
            p("PageSize", "10"),
            p("PageNumber", "1"),
        ];
        let body = self.call("ListProvisionedProducts", &params).await?;
        let found = body
            .get("ProvisionedProductDetails")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .find(|d| s(d, "ProvisionedProductName").as_deref() == Some(name))
                    .cloned()
            });
        Ok(found.map(|d| product(&d, BTreeMap::new())))
    }

    async fn provisioned_product(&self, id: &str) -> Result<ProvisionedProduct, ProviderError> {
        let body = self
            .call("GetProvisionedProduct", &[p("ProvisionedProductId", id)])
            .await?;
        let d = body
            .get("ProvisionedProductDetail")
            .cloned()
            .unwrap_or(Value::Null);
        // Outputs come only from the last successful provisioning task (wire/alibaba.md §4).
        let task =
            s(&d, "LastSuccessfulProvisioningTaskId").or_else(|| s(&d, "LastProvisioningTaskId"));
        let mut outputs = BTreeMap::new();
        if let Some(t) = task {
            let tb = self.call("GetTask", &[p("TaskId", t)]).await?;
            outputs = pairs(
                tb.get("TaskDetail").unwrap_or(&Value::Null),
                "Outputs",
                "OutputKey",
                "OutputValue",
            );
        }
        Ok(product(&d, outputs))
    }

    /// One listing of the caller's products answers many names: page 1 gives the total, then
    /// the rest of the pages (concurrently) when they are fewer than the names still unknown,
    /// else one filtered lookup per remaining name. So new addresses cost
    /// min(names, ⌈products / 100⌉) + 1 requests instead of one per name.
    async fn find_provisioned_products(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, ProvisionedProduct>, ProviderError> {
        let wanted: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let mut found = BTreeMap::new();
        if wanted.len() <= 1 {
            for name in wanted {
                if let Some(p) = self.find_provisioned_product(name).await? {
                    found.insert(name.to_string(), p);
                }
            }
            return Ok(found);
        }
        let first = self.product_page(1).await?;
        let pages = first.total_count.div_ceil(PRODUCT_PAGE);
        keep_named(&mut found, &wanted, first.items);
        let unknown: Vec<String> = wanted
            .iter()
            .filter(|n| !found.contains_key(**n))
            .map(|n| n.to_string())
            .collect();
        if unknown.is_empty() || pages <= 1 {
            return Ok(found);
        }
        if pages - 1 <= unknown.len() {
            let rest: Vec<Page<ProvisionedProduct>> = futures_util::stream::iter(2..=pages)
                .map(|n| self.product_page(n))
                .buffer_unordered(LOOKUPS_AT_ONCE)
                .try_collect()
                .await?;
            for page in rest {
                keep_named(&mut found, &wanted, page.items);
            }
        } else {
            let each: Vec<Option<ProvisionedProduct>> = futures_util::stream::iter(unknown)
                .map(|n| async move { self.find_provisioned_product(&n).await })
                .buffer_unordered(LOOKUPS_AT_ONCE)
                .try_collect()
                .await?;
            keep_named(&mut found, &wanted, each.into_iter().flatten().collect());
        }
        Ok(found)
    }

    /// One request: the product's newest tasks (`ListTasks`, newest first), whose items carry
    /// the outputs as `GetTask` does (wire/alibaba.md §4); the newest successful provisioning
    /// task is the one `LastSuccessfulProvisioningTaskId` names. Falls back to the documented
    /// two reads (`GetProvisionedProduct`, `GetTask`) when the page holds no such task, its
    /// items come without outputs, or the caller may not list tasks (a RAM policy written
    /// before planform read outputs this way).
    async fn product_outputs(&self, id: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let params = [
            p("ProvisionedProductId", id),
            p("PageNumber", "1"),
            p("PageSize", "10"),
            p("SortBy", "CreateTime"),
            p("SortOrder", "Desc"),
        ];
        let body = match self.call("ListTasks", &params).await {
            Ok(body) => body,
            Err(e) if e.kind == ErrorKind::Auth => Value::Null,
            Err(e) => return Err(e),
        };
        match last_successful_provisioning(&body) {
            Some(task) if task.get("Outputs").is_some() => {
                Ok(pairs(task, "Outputs", "OutputKey", "OutputValue"))
            }
            _ => Ok(self.provisioned_product(id).await?.outputs),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALIBABA
    }

    fn location(&self) -> String {
        location(&self.options.endpoint)
    }

    /// STS `GetCallerIdentity` (RPC API 2015-04-01), signed as every request (ACS3), with the
    /// client's retries; asked once, kept for the client's life (one run).
    async fn account(&self) -> Result<String, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                let attempt = || async {
                    self.send_once_to(&self.sts, "GetCallerIdentity", &[])
                        .await
                        .map(Answer::Body)
                };
                match retry(&self.options.retry, attempt, nothing_to_look_for).await? {
                    Answer::Body(b) => caller_account(&b),
                    Answer::Landed(_) => unreachable!("only a create looks for a landed plan"),
                }
            })
            .await
            .cloned()
    }
}

/// The `AccountId` of a `GetCallerIdentity` answer (`{"RequestId", "AccountId", "UserId",
/// "Arn", "IdentityType", "PrincipalId", …}`): digits, or the answer is not STS's.
pub fn caller_account(body: &Value) -> Result<String, ProviderError> {
    match body.get("AccountId") {
        Some(Value::String(a)) if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(a.clone())
        }
        other => Err(ProviderError {
            kind: ErrorKind::Invalid,
            sent: Sent::Yes,
            code: "MalformedAnswer".into(),
            message: format!(
                "STS GetCallerIdentity answered without an account id (AccountId: {})",
                other.map_or("absent".to_string(), Value::to_string)
            ),
            request_id: s(body, "RequestId"),
        }),
    }
}

/// Where the plans behind `endpoint` live: the region of an Alibaba Cloud endpoint
/// (`servicecatalog[-vpc].<region>.aliyuncs.com`: the public and the VPC endpoint are one
/// location), or the endpoint itself when it is not Alibaba Cloud's (a sandbox server).
fn location(endpoint: &str) -> String {
    let host = crate::host_of(endpoint);
    match host
        .strip_suffix(".aliyuncs.com")
        .map(|h| h.split('.').collect::<Vec<_>>())
    {
        Some(labels) if labels.len() == 2 && labels[0].starts_with("servicecatalog") => {
            format!("alibaba {}", labels[1])
        }
        _ => format!("alibaba at {endpoint}"),
    }
}

/// Keeps the products whose name is wanted (the first seen of each name).
fn keep_named(
    found: &mut BTreeMap<String, ProvisionedProduct>,
    wanted: &BTreeSet<&str>,
    items: Vec<ProvisionedProduct>,
) {
    for p in items {
        if wanted.contains(p.name.as_str()) {
            found.entry(p.name.clone()).or_insert(p);
        }
    }
}

/// Products per `ListProvisionedProducts` page (the API's largest).
const PRODUCT_PAGE: usize = 100;
/// Concurrent requests of one batched lookup.
const LOOKUPS_AT_ONCE: usize = 16;

/// Of a `ListTasks` answer, the newest task that provisioned the product (launch or update)
/// and succeeded: the newest `CreateTime`, the page's order (newest first) breaking ties. None
/// when the page has none, or when a successful termination is as new (the product is gone,
/// which `GetProvisionedProduct` reports as not found).
fn last_successful_provisioning(body: &Value) -> Option<&Value> {
    let tasks = body.get("TaskDetails").and_then(Value::as_array)?;
    let time = |v: &Value| {
        v.get("CreateTime")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let succeeded = |t: &&Value| t.get("Status").and_then(Value::as_str) == Some("Succeeded");
    let of_type = |t: &&Value, types: &[&str]| {
        t.get("TaskType")
            .and_then(Value::as_str)
            .is_some_and(|x| types.contains(&x))
    };
    let mut best: Option<&Value> = None;
    for t in tasks
        .iter()
        .filter(succeeded)
        .filter(|t| of_type(t, &["LaunchProduct", "UpdateProvisionedProduct"]))
    {
        if best.is_none_or(|b| time(t) > time(b)) {
            best = Some(t);
        }
    }
    let best = best?;
    let terminated = tasks
        .iter()
        .filter(succeeded)
        .filter(|t| of_type(t, &["TerminateProvisionedProduct"]))
        .any(|t| time(t) >= time(best));
    (!terminated).then_some(best)
}

fn product(d: &Value, outputs: BTreeMap<String, String>) -> ProvisionedProduct {
    ProvisionedProduct {
        id: s(d, "ProvisionedProductId").unwrap_or_default(),
        name: s(d, "ProvisionedProductName").unwrap_or_default(),
        status: s(d, "Status").unwrap_or_default(),
        status_message: s(d, "StatusMessage"),
        stack_id: s(d, "StackId"),
        product_id: s(d, "ProductId").unwrap_or_default(),
        product_version_id: s(d, "ProductVersionId").unwrap_or_default(),
        outputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_model::Sensitive;

    #[test]
    fn a_region_whatever_its_endpoint_and_a_foreign_endpoint_as_itself() {
        assert_eq!(
            location("https://servicecatalog.cn-hangzhou.aliyuncs.com"),
            "alibaba cn-hangzhou"
        );
        assert_eq!(
            location("https://servicecatalog-vpc.cn-hangzhou.aliyuncs.com/"),
            "alibaba cn-hangzhou"
        );
        assert_eq!(
            location("https://servicecatalog.cn-shanghai.aliyuncs.com:443"),
            "alibaba cn-shanghai"
        );
        assert_eq!(
            location("http://127.0.0.1:8080"),
            "alibaba at http://127.0.0.1:8080"
        );
    }

    #[test]
    fn sts_is_its_variable_else_a_foreign_endpoint_else_the_region_s() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let none = env(&[]);
        let public = "https://servicecatalog.cn-shanghai.aliyuncs.com";
        assert_eq!(
            sts_endpoint("cn-shanghai", public, &none),
            "https://sts.cn-shanghai.aliyuncs.com"
        );
        assert_eq!(
            sts_endpoint(
                "cn-shanghai",
                public,
                &env(&[("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "true")])
            ),
            "https://sts-vpc.cn-shanghai.aliyuncs.com"
        );
        assert_eq!(sts_endpoint("", public, &none), "https://sts.aliyuncs.com");
        // A sandbox server answers STS on its own port.
        assert_eq!(
            sts_endpoint("cn-hangzhou", "http://127.0.0.1:8080", &none),
            "http://127.0.0.1:8080"
        );
        let pinned = env(&[("ALIBABA_CLOUD_STS_ENDPOINT", "sts.example.test")]);
        assert_eq!(
            sts_endpoint("cn-hangzhou", "http://127.0.0.1:8080", &pinned),
            "https://sts.example.test"
        );
        assert_eq!(
            AlibabaOptions::resolve("cn-beijing", None, &none).sts_endpoint,
            "https://sts.cn-beijing.aliyuncs.com"
        );
    }

    #[test]
    fn get_caller_identity_is_signed_for_sts() {
        let r = sign_for(
            STS_VERSION,
            "GetCallerIdentity",
            &[],
            "sts.cn-hangzhou.aliyuncs.com",
            &creds(Some("CAIStoken")),
            "2024-01-02T03:04:05Z",
            "fedcba9876543210fedcba9876543210",
        );
        assert_eq!((r.method, r.query.as_str()), ("POST", ""));
        assert!(r.body.is_empty());
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("x-acs-version"), Some("2015-04-01"));
        assert_eq!(header("x-acs-action"), Some("GetCallerIdentity"));
        assert_eq!(header("host"), Some("sts.cn-hangzhou.aliyuncs.com"));
        assert_eq!(header("x-acs-security-token"), Some("CAIStoken"));
        assert!(header("authorization")
            .unwrap()
            .starts_with("ACS3-HMAC-SHA256 Credential=testid,"));
    }

    #[test]
    fn the_account_is_get_caller_identity_s_account_id() {
        let answer = serde_json::json!({
            "RequestId": "r-1", "AccountId": "1234567890123456", "UserId": "2000000000000001",
            "Arn": "acs:ram::1234567890123456:user/ci", "IdentityType": "RAMUser",
            "PrincipalId": "2000000000000001",
        });
        assert_eq!(caller_account(&answer).unwrap(), "1234567890123456");
        for bad in [
            serde_json::json!({"RequestId": "r-2"}),
            serde_json::json!({"RequestId": "r-2", "AccountId": ""}),
            serde_json::json!({"RequestId": "r-2", "AccountId": 1234}),
            serde_json::json!({"RequestId": "r-2", "AccountId": "12ab"}),
        ] {
            let e = caller_account(&bad).unwrap_err();
            assert_eq!(
                (e.kind, e.code.as_str(), e.request_id.as_deref()),
                (ErrorKind::Invalid, "MalformedAnswer", Some("r-2")),
                "{bad}"
            );
        }
    }

    fn creds(token: Option<&str>) -> AlibabaCredentials {
        AlibabaCredentials {
            access_key_id: "testid".into(),
            access_key_secret: Sensitive::new("testsecret".into()),
            security_token: token.map(|t| Sensitive::new(t.to_string())),
        }
    }

    #[test]
    fn signs_the_documented_vector_request() {
        // The request of wire/alibaba.md §10.2 (query parameters), built by the client.
        let params = vec![
            p("AccessLevelFilter", "User"),
            p("Filters.1.Key", "FullTextSearch"),
            p("Filters.1.Value", "demo plan/x"),
            p("PageNumber", "1"),
            p("PageSize", "10"),
        ];
        let r = sign(
            "ListProvisionedProductPlans",
            &params,
            "servicecatalog.cn-hangzhou.aliyuncs.com",
            &creds(None),
            "2024-01-02T03:04:05Z",
            "fedcba9876543210fedcba9876543210",
        );
        assert_eq!(r.method, "POST");
        assert!(r.body.is_empty());
        assert_eq!(r.query, "AccessLevelFilter=User&Filters.1.Key=FullTextSearch&Filters.1.Value=demo%20plan%2Fx&PageNumber=1&PageSize=10");
        let auth = &r
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.ends_with(
                "Signature=13e45747975ffec8bb13532e46d2880b83235da2e67b18dc172ac6bda96db227"
            ),
            "{auth}"
        );
    }

    #[test]
    fn plan_writes_go_in_a_form_body_with_flat_arrays() {
        let r = sign(
            "GetProvisionedProductPlan",
            &[p("PlanId", "plan-1")],
            "h",
            &creds(Some("tok")),
            "2024-01-02T03:04:05Z",
            "n",
        );
        assert_eq!(r.body, b"PlanId=plan-1");
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "x-acs-security-token" && v == "tok"));
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/x-www-form-urlencoded"));
        let mut params = vec![];
        flat(
            &mut params,
            "Tags",
            "Key",
            "Value",
            &[
                ("a".to_string(), "1".to_string()),
                ("b".to_string(), "2".to_string()),
            ]
            .into(),
        );
        assert_eq!(params[2], ("Tags.2.Key".to_string(), "b".to_string()));
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(
            classify(400, "Throttling.User", Some(Duration::from_millis(2000))),
            ErrorKind::Throttled {
                retry_after: Some(Duration::from_millis(2000))
            }
        );
        assert_eq!(
            classify(503, "ServiceUnavailable", None),
            ErrorKind::Transient
        );
        assert_eq!(
            classify(404, "InvalidProvisionedProductPlan.NotFound", None),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify(400, "InvalidStatus.ProvisionedProductPlan", None),
            ErrorKind::Conflict
        );
        assert_eq!(
            classify(400, "SignatureDoesNotMatch", None),
            ErrorKind::Auth
        );
        assert_eq!(classify(400, "InvalidTagKey", None), ErrorKind::Invalid);
    }

    #[test]
    fn every_status_and_code_family_has_its_kind() {
        let throttled = |ms: Option<u64>| ErrorKind::Throttled {
            retry_after: ms.map(Duration::from_millis),
        };
        let cases: &[(u16, &str, Option<u64>, ErrorKind)] = &[
            (429, "TooManyRequests", None, throttled(None)),
            (400, "Throttling", None, throttled(None)),
            (400, "Throttling.Api", Some(5), throttled(Some(5))),
            (403, "Rejected.Throttling", None, throttled(None)),
            (503, "ServiceUnavailable", Some(1000), throttled(Some(1000))),
            (500, "InternalError", None, ErrorKind::Transient),
            (502, "502", None, ErrorKind::Transient),
            (504, "GatewayTimeout", None, ErrorKind::Transient),
            (400, "ServiceUnavailable", None, ErrorKind::Transient),
            (404, "404", None, ErrorKind::NotFound),
            (404, "InvalidProduct.NotFound", None, ErrorKind::NotFound),
            (400, "InvalidTask.NotFound", None, ErrorKind::NotFound),
            (404, "EntityNotExist.Role", None, ErrorKind::NotFound),
            (404, "InvalidAction.NotFound", None, ErrorKind::Invalid),
            (400, "InvalidParameter", None, ErrorKind::Invalid),
            (400, "InvalidPageSize", None, ErrorKind::Invalid),
            (400, "MissingFilters.N.Value", None, ErrorKind::Invalid),
            (400, "MissingParameter", None, ErrorKind::Invalid),
            (409, "409", None, ErrorKind::Conflict),
            (
                400,
                "InvalidStatus.ProvisionedProduct",
                None,
                ErrorKind::Conflict,
            ),
            (400, "IncorrectStatus.Plan", None, ErrorKind::Conflict),
            (400, "OperationConflict", None, ErrorKind::Conflict),
            (
                400,
                "InvalidProvisionedProductName.Duplicate",
                None,
                ErrorKind::Conflict,
            ),
            (401, "401", None, ErrorKind::Auth),
            (403, "Forbidden.RAM", None, ErrorKind::Auth),
            (403, "NoPermission", None, ErrorKind::Auth),
            (404, "InvalidAccessKeyId.NotFound", None, ErrorKind::Auth),
            (400, "InvalidAccessKeyId.Inactive", None, ErrorKind::Auth),
            (400, "SignatureNonceUsed", None, ErrorKind::Auth),
            (400, "IncompleteSignature", None, ErrorKind::Auth),
            (400, "InvalidSecurityToken.Malformed", None, ErrorKind::Auth),
            (400, "MissingSecurityToken", None, ErrorKind::Auth),
            (400, "InvalidTimeStamp.Expired", None, ErrorKind::Auth),
        ];
        for (status, code, retry_after, kind) in cases {
            assert_eq!(
                &classify(*status, code, retry_after.map(Duration::from_millis)),
                kind,
                "{status} {code}"
            );
        }
    }

    #[test]
    fn outputs_come_from_the_newest_successful_provisioning_task() {
        let task = |id: &str, kind: &str, status: &str, at: &str| {
            serde_json::json!({"TaskId": id, "TaskType": kind, "Status": status, "CreateTime": at,
                "Outputs": [{"OutputKey": "k", "OutputValue": id}]})
        };
        let page = |tasks: Vec<Value>| serde_json::json!({ "TaskDetails": tasks });
        let id = |body: &Value| {
            last_successful_provisioning(body).map(|t| s(t, "TaskId").unwrap_or_default())
        };
        let launch = task("t1", "LaunchProduct", "Succeeded", "2026-01-01T00:00:00Z");
        let update = task(
            "t2",
            "UpdateProvisionedProduct",
            "Succeeded",
            "2026-01-02T00:00:00Z",
        );
        let failed = task(
            "t3",
            "UpdateProvisionedProduct",
            "Failed",
            "2026-01-03T00:00:00Z",
        );
        let running = task(
            "t4",
            "UpdateProvisionedProduct",
            "InProgress",
            "2026-01-04T00:00:00Z",
        );
        let ended = task(
            "t5",
            "TerminateProvisionedProduct",
            "Succeeded",
            "2026-01-05T00:00:00Z",
        );
        // In whatever order the page comes, the newest successful launch or update wins.
        assert_eq!(
            id(&page(vec![
                running.clone(),
                failed.clone(),
                launch.clone(),
                update.clone()
            ])),
            Some("t2".into())
        );
        assert_eq!(
            id(&page(vec![launch.clone(), update.clone()])),
            Some("t2".into())
        );
        assert_eq!(id(&page(vec![failed.clone(), running])), None);
        // A product terminated since has no outputs to read (GetProvisionedProduct says so).
        assert_eq!(id(&page(vec![ended, update, launch])), None);
        assert_eq!(id(&serde_json::json!({})), None);
    }

    #[test]
    fn no_secret_in_debug_output() {
        let c = AlibabaClient::new(
            AlibabaOptions::resolve("cn-hangzhou", None, &BTreeMap::new()),
            creds(Some("the-token")),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("testsecret") && !shown.contains("the-token"),
            "{shown}"
        );
        assert!(shown.contains("https://servicecatalog.cn-hangzhou.aliyuncs.com"));
    }
}
