//! AWS Service Catalog through the official `aws-sdk-servicecatalog` and `aws-config` crates:
//! credentials, region, profiles, SSO, web identity and `AWS_ENDPOINT_URL_SERVICE_CATALOG` are
//! resolved the way the AWS CLI resolves them; the SDK signs (SigV4) and is the only layer that
//! retries (standard mode, `max_attempts` from the provider's `max_retries`, see `retry_config`
//! and docs/retries.md); planform adds its request-rate limit and typed errors, and sends each
//! request to the SDK exactly once.
//!
//! AWS has no in-place plan update (`can_update_in_place` is false: the engine replaces) and its
//! list carries summaries only, so listing describes each plan (bounded concurrency).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_servicecatalog::config::http::HttpResponse;
use aws_sdk_servicecatalog::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_servicecatalog::operation::RequestId;
use aws_sdk_servicecatalog::types::{
    AccessLevelFilter, AccessLevelFilterKey, ProvisionedProductPlanStatus,
    ProvisionedProductPlanType, Tag, UpdateProvisioningParameter,
};
use aws_sdk_servicecatalog::Client;
use planform_model::{
    Capabilities, ErrorKind, LivePlan, NewPlan, OperationType, Page, PlanFilter, PlanInputs,
    PlanService, PlanStatus, PlanUpdate, ProviderError, ProvisionedProduct, ResourceChange, Sent,
};

use crate::request_log;
use crate::retry::{RateLimit, RetryPolicy};

/// How to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An endpoint override (e.g. a sandbox server); `AWS_ENDPOINT_URL_SERVICE_CATALOG` also works.
    pub endpoint: Option<String>,
    /// Attempts in all, the first included (the provider's `max_retries` + 1); planform's default
    /// (`RetryPolicy::default().max_attempts`) when unset.
    pub max_attempts: Option<u32>,
    pub requests_per_second: Option<f64>,
    pub timeout: Option<std::time::Duration>,
}

pub struct AwsClient {
    client: Client,
    /// STS, for `GetCallerIdentity` (the account, [`PlanService::account`]).
    sts: aws_sdk_sts::Client,
    /// The caller's account, asked once.
    account: tokio::sync::OnceCell<String>,
    limit: Option<RateLimit>,
    /// See [`PlanService::location`]: the region, and the endpoint when it is not AWS's own.
    location: String,
}

impl std::fmt::Debug for AwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClient").finish_non_exhaustive()
    }
}

/// Whether `endpoint` is AWS's own (`*.amazonaws.com`, FIPS and dual-stack included).
fn is_aws_endpoint(endpoint: &str) -> bool {
    let host = crate::host_of(endpoint);
    host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")
}

/// Where the plans of `region` behind `endpoint` live: the region alone for AWS's own endpoints
/// (`*.amazonaws.com`, FIPS and dual-stack included), with the endpoint for any other.
fn location(region: Option<&str>, endpoint: Option<&str>) -> String {
    let region = region.unwrap_or("(no region)");
    let foreign = endpoint.filter(|e| !is_aws_endpoint(e));
    match foreign {
        Some(e) => format!("aws {region} at {}", e.trim_end_matches('/')),
        None => format!("aws {region}"),
    }
}

/// Where STS `GetCallerIdentity` goes: `AWS_ENDPOINT_URL_STS` when set (`sts_variable`); else
/// the Service Catalog endpoint when it is not AWS's own (a sandbox server answers STS on the
/// same port, as LocalStack does); else `None`, the SDK's regional STS endpoint.
fn sts_endpoint(sts_variable: Option<&str>, endpoint: Option<&str>) -> Option<String> {
    sts_variable
        .filter(|e| !e.is_empty())
        .or(endpoint.filter(|e| !is_aws_endpoint(e)))
        .map(str::to_string)
}

/// The SDK's retry configuration: standard mode (full-jitter exponential backoff from 1 s up to
/// 20 s, honouring `x-amz-retry-after`), `max_attempts` attempts in all, the first included.
pub fn retry_config(max_attempts: Option<u32>) -> RetryConfig {
    let attempts = max_attempts.unwrap_or(RetryPolicy::default().max_attempts);
    RetryConfig::standard().with_max_attempts(attempts.max(1))
}

/// Classifies an error answer by its HTTP status and error code: the kind decides between
/// retrying and failing. Codes are checked before statuses where they are more precise.
pub fn classify(status: u16, code: &str, retry_after: Option<Duration>) -> ErrorKind {
    const THROTTLING: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "PriorRequestNotComplete",
    ];
    const AUTH: &[&str] = &[
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "AccessDeniedException",
        "AccessDenied",
        "ExpiredTokenException",
        "ExpiredToken",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
    ];
    const TRANSIENT: &[&str] = &[
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    ];
    const CONFLICT: &[&str] = &[
        "InvalidStateException",
        "DuplicateResourceException",
        "ResourceInUseException",
    ];
    if status == 429 || THROTTLING.contains(&code) {
        ErrorKind::Throttled { retry_after }
    } else if status == 401 || status == 403 || AUTH.contains(&code) {
        ErrorKind::Auth
    } else if status >= 500 || TRANSIENT.contains(&code) {
        ErrorKind::Transient
    } else if status == 404 || code.ends_with("NotFoundException") || code.ends_with("NotFound") {
        ErrorKind::NotFound
    } else if status == 409 || CONFLICT.contains(&code) || code.ends_with("ConflictException") {
        ErrorKind::Conflict
    } else {
        ErrorKind::Invalid
    }
}

/// The wait an answer asks for: `x-amz-retry-after` (milliseconds) or `Retry-After` (seconds).
fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let header = |name| response.headers().get(name)?.trim().parse::<u64>().ok();
    header("x-amz-retry-after")
        .map(Duration::from_millis)
        .or_else(|| header("retry-after").map(Duration::from_secs))
}

/// Whether a connection error happened before the request went out: the connection was refused.
fn refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = inner.source();
    }
    false
}

/// The shared config and credentials files, as the SDK finds them: `AWS_CONFIG_FILE` and
/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/config` and `~/.aws/credentials`.
fn profile_files(env: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    let home = env("HOME").unwrap_or_default();
    let config = env("AWS_CONFIG_FILE")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{home}/.aws/config"));
    let credentials = env("AWS_SHARED_CREDENTIALS_FILE")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{home}/.aws/credentials"));
    (config, credentials)
}

/// The profile chosen by name: the manifest's `profile`, else a non-empty `AWS_PROFILE`, with
/// what named it.
fn named_profile(
    env: &dyn Fn(&str) -> Option<String>,
    profile: Option<&str>,
) -> Option<(String, &'static str)> {
    match profile {
        Some(p) => Some((p.to_string(), "the provider's `profile`")),
        None => env("AWS_PROFILE")
            .filter(|p| !p.is_empty())
            .map(|p| (p, "AWS_PROFILE")),
    }
}

/// Which source of the credential chain is in effect, named for errors. With the manifest's
/// `profile`, that profile (the only source planform uses then); otherwise the first of the SDK
/// chain's order (environment keys, the profile, web identity, the container endpoint, the
/// instance metadata service) whose settings are present. `env` looks up a variable.
pub fn credential_source(env: &dyn Fn(&str) -> Option<String>, profile: Option<&str>) -> String {
    let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
    let (config, credentials) = profile_files(env);
    if let Some(p) = profile {
        return format!("profile {p:?} ({config}, {credentials})");
    }
    if set("AWS_ACCESS_KEY_ID") {
        return "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)".into();
    }
    let name = named_profile(env, None).map_or_else(|| "default".to_string(), |(n, _)| n);
    let has_section = |file: &str, section: &str| {
        std::fs::read_to_string(file)
            .map(|t| t.lines().any(|l| l.trim() == section))
            .unwrap_or(false)
    };
    let config_section = if name == "default" {
        "[default]".to_string()
    } else {
        format!("[profile {name}]")
    };
    if has_section(&config, &config_section) || has_section(&credentials, &format!("[{name}]")) {
        return format!("profile {name:?} ({config}, {credentials})");
    }
    if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        return format!(
            "web identity (AWS_ROLE_ARN {}, the token in AWS_WEB_IDENTITY_TOKEN_FILE {})",
            env("AWS_ROLE_ARN").unwrap_or_default(),
            env("AWS_WEB_IDENTITY_TOKEN_FILE").unwrap_or_default()
        );
    }
    if set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        return "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_*)".into();
    }
    INSTANCE_METADATA.into()
}

/// The last source of the chain, in effect when no other has settings.
const INSTANCE_METADATA: &str = "the EC2 instance metadata service";

/// The sources the chain tried when none but the instance metadata service had settings.
fn sources_tried(env: &dyn Fn(&str) -> Option<String>) -> String {
    let (config, credentials) = profile_files(env);
    let name = named_profile(env, None).map_or_else(|| "default".to_string(), |(n, _)| n);
    format!(
        "the environment (AWS_ACCESS_KEY_ID is not set), profile {name:?} (not in {config} or \
         {credentials}), web identity (AWS_WEB_IDENTITY_TOKEN_FILE is not set), the container \
         endpoint (AWS_CONTAINER_CREDENTIALS_* are not set), {INSTANCE_METADATA}"
    )
}

/// Why the AWS client cannot be configured: found before any request.
#[derive(Debug, thiserror::Error)]
pub enum AwsConfigError {
    #[error("profile {name:?} (named by {named_by}) was not found in {config} or {credentials}")]
    ProfileNotFound {
        name: String,
        named_by: &'static str,
        config: String,
        credentials: String,
    },
    #[error("cannot read the profiles of {config} and {credentials}: {message}")]
    ProfileFiles {
        config: String,
        credentials: String,
        message: String,
    },
    #[error("no region (set `region`, AWS_REGION or the profile's region)")]
    NoRegion,
}

/// Checks that a profile chosen by name (the manifest's `profile`, or `AWS_PROFILE`) is in the
/// config or credentials file, as the AWS CLI does ("The config profile (x) could not be
/// found"): the SDK's chain would go on to other sources and fail far from the typo. `default`
/// may be absent (the SDK then uses the other sources). `env` and `fs` are the SDK's views of
/// the environment and the file system.
pub async fn check_profile(
    env: &aws_types::os_shim_internal::Env,
    fs: &aws_types::os_shim_internal::Fs,
    profile: Option<&str>,
) -> Result<(), AwsConfigError> {
    let lookup = |k: &str| env.get(k).ok();
    let Some((name, named_by)) = named_profile(&lookup, profile) else {
        return Ok(());
    };
    if name == "default" {
        return Ok(());
    }
    let (config, credentials) = profile_files(&lookup);
    // The default files (the SDK's `EnvConfigFiles`, honouring the variables above).
    let profiles = aws_config::profile::load(fs, env, &Default::default(), None)
        .await
        .map_err(|e| AwsConfigError::ProfileFiles {
            config: config.clone(),
            credentials: credentials.clone(),
            message: describe(&e),
        })?;
    if profiles.get_profile(&name).is_none() {
        return Err(AwsConfigError::ProfileNotFound {
            name,
            named_by,
            config,
            credentials,
        });
    }
    Ok(())
}

/// No credential source had any: the sources tried, and the last one's reason.
#[derive(Debug, thiserror::Error)]
#[error("no AWS credentials: tried {tried}")]
pub struct NoCredentials {
    pub tried: String,
    #[source]
    pub error: CredentialsError,
}

/// A credential source's refusal, naming the source.
#[derive(Debug, thiserror::Error)]
#[error("the AWS credentials from {source_name} were refused")]
pub struct CredentialsRefused {
    pub source_name: String,
    #[source]
    pub error: CredentialsError,
}

/// The credential chain (the SDK's default one, or the manifest's profile alone), whose failures
/// name the source in effect.
#[derive(Debug)]
struct NamedChain {
    chain: SharedCredentialsProvider,
    source: String,
    /// When no source but the instance metadata service has settings: the sources tried, so that
    /// its failure (off EC2, nothing answers or it refuses) reads as "no credentials".
    tried: Option<String>,
}

impl ProvideCredentials for NamedChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.chain.provide_credentials().await.map_err(|error| {
                match (&self.tried, &error) {
                    (Some(tried), _) => CredentialsError::not_loaded(NoCredentials {
                        tried: tried.clone(),
                        error,
                    }),
                    // The source in effect had nothing to give (a profile without keys).
                    (None, CredentialsError::CredentialsNotLoaded(_)) => {
                        CredentialsError::not_loaded(NoCredentials {
                            tried: format!("{}, which has none", self.source),
                            error,
                        })
                    }
                    (None, _) => CredentialsError::provider_error(CredentialsRefused {
                        source_name: self.source.clone(),
                        error,
                    }),
                }
            })
        })
    }
}

/// A typed credential failure's message: its own, then its causes without the SDK's wrapper
/// sentence ("an error occurred while loading credentials") that every `CredentialsError` layer
/// repeats.
fn credential_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let causes = std::iter::successors(e.source(), |c| c.source());
    for c in causes.filter(|c| !c.is::<CredentialsError>()) {
        message.push_str(&format!(": {c}"));
    }
    message
}

/// The credential failure behind an SDK error, if that is what stopped the request: the
/// refusal naming its source (code `CredentialsRefused`) or no credentials at all
/// (`NoCredentials`).
fn credentials_failure(e: &(dyn std::error::Error + 'static)) -> Option<(&'static str, String)> {
    let chain = || std::iter::successors(Some(e), |inner| inner.source());
    if let Some(refused) = chain().find_map(|i| i.downcast_ref::<CredentialsRefused>()) {
        return Some(("CredentialsRefused", credential_message(refused)));
    }
    if let Some(none) = chain().find_map(|i| i.downcast_ref::<NoCredentials>()) {
        return Some(("NoCredentials", credential_message(none)));
    }
    chain()
        .find_map(|i| i.downcast_ref::<CredentialsError>())
        .map(|c| match c {
            CredentialsError::CredentialsNotLoaded(_) => ("NoCredentials", describe(c)),
            _ => ("CredentialsRefused", describe(c)),
        })
}

/// The `Account` of a `GetCallerIdentity` answer: AWS's are 12 digits; an answer without one is
/// not STS's.
fn caller_account(account: Option<&str>) -> Result<String, ProviderError> {
    match account {
        Some(a) if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) => Ok(a.to_string()),
        other => Err(ProviderError::new(
            ErrorKind::Invalid,
            Sent::Yes,
            "MalformedAnswer",
            format!(
                "STS GetCallerIdentity answered without an account id (Account: {:?})",
                other.unwrap_or_default()
            ),
        )),
    }
}

/// Maps an SDK error (after the SDK's own retries): its kind, whether the request may have been
/// sent, and the cloud's code, message and request id when it answered. A request stopped
/// because the credential source refused (or there was none) is an `Auth` error, never sent.
pub fn provider_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, HttpResponse>,
) -> ProviderError {
    if let SdkError::DispatchFailure(_) = &e {
        if let Some((code, message)) = credentials_failure(&e) {
            return ProviderError::new(ErrorKind::Auth, Sent::No, code, message);
        }
    }
    match &e {
        SdkError::ConstructionFailure(_) => ProviderError::new(
            ErrorKind::Invalid,
            Sent::No,
            "ConstructionFailure",
            describe(&e),
        ),
        SdkError::TimeoutError(_) => {
            ProviderError::new(ErrorKind::Transient, Sent::Maybe, "Timeout", describe(&e))
        }
        SdkError::DispatchFailure(d) => {
            let sent = if refused(&e) {
                Sent::No
            } else if d.is_io() || d.is_timeout() {
                Sent::Maybe
            } else {
                Sent::No
            };
            ProviderError::new(ErrorKind::Transient, sent, "NetworkError", describe(&e))
        }
        SdkError::ResponseError(r) => ProviderError {
            kind: ErrorKind::Transient,
            sent: Sent::Yes,
            code: "ResponseError".into(),
            message: describe(&e),
            request_id: r.raw().request_id().map(str::to_string),
        },
        _ => {
            // An answer with an empty error type names no code (found by the aws_response fuzz
            // target): say "Unknown" rather than nothing.
            let code = e
                .code()
                .filter(|c| !c.is_empty())
                .unwrap_or("Unknown")
                .to_string();
            let message = e.message().unwrap_or_default().to_string();
            let raw = e.raw_response();
            let kind = classify(
                raw.map_or(400, |r| r.status().as_u16()),
                &code,
                raw.and_then(retry_after),
            );
            let request_id = e
                .request_id()
                .or_else(|| e.meta().request_id())
                .map(str::to_string);
            ProviderError {
                kind,
                sent: Sent::Yes,
                code,
                message,
                request_id,
            }
        }
    }
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    s
}

fn status(s: Option<&ProvisionedProductPlanStatus>) -> (PlanStatus, String) {
    let raw = s.map(|s| s.as_str().to_string()).unwrap_or_default();
    (
        PlanStatus::parse(&raw).unwrap_or(PlanStatus::PreviewFailed),
        raw,
    )
}

/// Logs every attempt the SDK makes (`request_log`): at `debug` the operation, method, attempt,
/// status, duration and request id; at `trace` the headers with signatures, credentials and
/// tokens redacted. Bodies are never logged.
#[derive(Debug)]
struct RequestLog;

/// When the current attempt was sent.
#[derive(Debug, Clone)]
struct AttemptStarted(std::time::Instant);

impl aws_smithy_types::config_bag::Storable for AttemptStarted {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

fn operation(cfg: &aws_sdk_servicecatalog::config::ConfigBag) -> String {
    cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
        .map(|m| m.name().to_string())
        .unwrap_or_else(|| "?".into())
}

fn attempt(cfg: &aws_sdk_servicecatalog::config::ConfigBag) -> u32 {
    cfg.load::<aws_smithy_runtime_api::client::retries::RequestAttempts>()
        .map(|a| a.attempts())
        .unwrap_or(1)
}

impl aws_sdk_servicecatalog::config::Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "planform request log"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_servicecatalog::config::interceptors::BeforeTransmitInterceptorContextRef<
            '_,
        >,
        _components: &aws_sdk_servicecatalog::config::RuntimeComponents,
        cfg: &mut aws_sdk_servicecatalog::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let request = context.request();
        tracing::debug!(
            target: request_log::TARGET,
            cloud = "aws",
            method = request.method(),
            action = %operation(cfg),
            attempt = attempt(cfg),
            "request"
        );
        tracing::trace!(
            target: request_log::TARGET,
            cloud = "aws",
            action = %operation(cfg),
            headers = %request_log::headers(request.headers().iter()),
            "request headers (the body is not logged)"
        );
        cfg.interceptor_state()
            .store_put(AttemptStarted(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &aws_sdk_servicecatalog::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &aws_sdk_servicecatalog::config::RuntimeComponents,
        cfg: &mut aws_sdk_servicecatalog::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let duration_ms = cfg
            .load::<AttemptStarted>()
            .map(|s| s.0.elapsed().as_millis() as u64)
            .unwrap_or_default();
        match context.response() {
            Some(response) => {
                let request_id = response
                    .headers()
                    .get("x-amzn-requestid")
                    .or_else(|| response.headers().get("x-amz-request-id"))
                    .unwrap_or("-");
                tracing::debug!(
                    target: request_log::TARGET,
                    cloud = "aws",
                    action = %operation(cfg),
                    attempt = attempt(cfg),
                    status = response.status().as_u16(),
                    duration_ms,
                    request_id,
                    "response"
                );
            }
            None => tracing::debug!(
                target: request_log::TARGET,
                cloud = "aws",
                action = %operation(cfg),
                attempt = attempt(cfg),
                duration_ms,
                "no response"
            ),
        }
        Ok(())
    }
}

impl AwsClient {
    /// Loads configuration as the AWS CLI does, with the manifest's overrides; a manifest's
    /// `profile` is the only credential source then (the environment's keys do not override it).
    /// A profile named but missing from the files, or no region anywhere, is an error before any
    /// request.
    pub async fn new(options: AwsOptions) -> Result<AwsClient, AwsConfigError> {
        check_profile(
            &aws_types::os_shim_internal::Env::real(),
            &aws_types::os_shim_internal::Fs::real(),
            options.profile.as_deref(),
        )
        .await?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = &options.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(p) = &options.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &options.endpoint {
            loader = loader.endpoint_url(e);
        }
        // Explicit, so that `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE` and profile settings do not
        // change how often planform's requests are sent.
        loader = loader.retry_config(retry_config(options.max_attempts));
        if let Some(t) = options.timeout {
            loader = loader.timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(t)
                    .build(),
            );
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(AwsConfigError::NoRegion);
        }
        // The SDK's own precedence: the manifest's endpoint, then the service's variable, then
        // the general one (`SdkConfig` holds the last two as one).
        let endpoint = options
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_SERVICE_CATALOG").ok())
            .or_else(|| config.endpoint_url().map(str::to_string))
            .filter(|e| !e.is_empty());
        let mut conf =
            aws_sdk_servicecatalog::config::Builder::from(&config).interceptor(RequestLog);
        let env = |k: &str| std::env::var(k).ok();
        let source = credential_source(&env, options.profile.as_deref());
        let tried = (source == INSTANCE_METADATA).then(|| sources_tried(&env));
        if options.profile.is_some() && env("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty()) {
            tracing::info!(
                source = %source,
                "AWS credentials: the provider's profile, not AWS_ACCESS_KEY_ID (set but not used)"
            );
        } else {
            tracing::info!(source = %source, "AWS credentials");
        }
        // The manifest's profile is intent: it alone, as Terraform's AWS provider does when its
        // `profile` is set, and as the Alibaba side does; AWS_ACCESS_KEY_ID does not override it.
        let chain = match &options.profile {
            Some(p) => Some(SharedCredentialsProvider::new(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .configure(
                        &aws_config::provider_config::ProviderConfig::default()
                            .with_behavior_version(Some(aws_config::BehaviorVersion::latest()))
                            .with_region(config.region().cloned()),
                    )
                    .profile_name(p)
                    .build(),
            )),
            None => config.credentials_provider(),
        };
        let mut sts = aws_sdk_sts::config::Builder::from(&config).interceptor(RequestLog);
        if let Some(chain) = chain {
            let named = SharedCredentialsProvider::new(NamedChain {
                chain,
                source,
                tried,
            });
            sts = sts.credentials_provider(named.clone());
            conf = conf.credentials_provider(named);
        }
        sts.set_endpoint_url(sts_endpoint(
            std::env::var("AWS_ENDPOINT_URL_STS").ok().as_deref(),
            endpoint.as_deref(),
        ));
        let sts = sts.build();
        let conf = conf.build();
        Ok(AwsClient {
            location: location(conf.region().map(|r| r.as_ref()), endpoint.as_deref()),
            client: Client::from_conf(conf),
            sts: aws_sdk_sts::Client::from_conf(sts),
            account: tokio::sync::OnceCell::new(),
            limit: options.requests_per_second.and_then(RateLimit::new),
        })
    }

    /// A client on an explicit SDK configuration (tests); its retry configuration is the caller's
    /// (`retry_config` gives planform's).
    /// `sts` is STS's configuration (`GetCallerIdentity`, for [`PlanService::account`]).
    pub fn from_conf(
        conf: aws_sdk_servicecatalog::Config,
        requests_per_second: Option<f64>,
        sts: aws_sdk_sts::Config,
    ) -> AwsClient {
        AwsClient {
            location: location(conf.region().map(|r| r.as_ref()), None),
            client: Client::from_conf(conf.to_builder().interceptor(RequestLog).build()),
            sts: aws_sdk_sts::Client::from_conf(sts.to_builder().interceptor(RequestLog).build()),
            account: tokio::sync::OnceCell::new(),
            limit: requests_per_second.and_then(RateLimit::new),
        }
    }

    /// STS `GetCallerIdentity`: the account the credentials act in.
    async fn caller_account(&self) -> Result<String, ProviderError> {
        self.pace().await;
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(provider_error)?;
        caller_account(out.account())
    }

    /// Waits for the rate limit before handing a request to the SDK (its retries are not paced).
    async fn pace(&self) {
        if let Some(l) = &self.limit {
            l.until_ready().await;
        }
    }

    /// One page of `DescribeProvisionedProductPlan`: the plan, that page of its resource
    /// changes, and the token of the next page.
    async fn describe_plan(
        &self,
        plan_id: &str,
        page_token: Option<String>,
    ) -> Result<(LivePlan, Vec<ResourceChange>, Option<String>), ProviderError> {
        self.pace().await;
        let out = self
            .client
            .describe_provisioned_product_plan()
            .plan_id(plan_id)
            .set_page_token(page_token)
            .send()
            .await
            .map_err(provider_error)?;
        let d = out.provisioned_product_plan_details().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Transient,
                Sent::Yes,
                "EmptyAnswer",
                "no plan details",
            )
        })?;
        let (st, raw) = status(d.status());
        let time = |t: Option<&aws_sdk_servicecatalog::primitives::DateTime>| {
            t.map(|t| t.to_string()).unwrap_or_default()
        };
        let live = LivePlan {
            id: d.plan_id().unwrap_or(plan_id).to_string(),
            inputs: PlanInputs {
                name: d.plan_name().unwrap_or_default().to_string(),
                description: None,
                product_id: d.product_id().unwrap_or_default().to_string(),
                product_version_id: d.provisioning_artifact_id().unwrap_or_default().to_string(),
                portfolio_id: d.path_id().map(str::to_string),
                provisioned_product_name: d
                    .provision_product_name()
                    .unwrap_or_default()
                    .to_string(),
                stack_region_id: None,
                parameters: d
                    .provisioning_parameters()
                    .iter()
                    .filter_map(|p| {
                        Some((
                            p.key()?.to_string(),
                            p.value().unwrap_or_default().to_string(),
                        ))
                    })
                    .collect(),
                tags: d
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
                notification_arns: d.notification_arns().to_vec(),
            },
            // AWS plans do not say; a plan for an existing product updates it.
            operation_type: OperationType::LaunchProduct,
            status: st,
            raw_status: raw,
            status_message: d
                .status_message()
                .map(str::to_string)
                .filter(|m| !m.is_empty()),
            provisioned_product_id: d.provision_product_id().map(str::to_string),
            stack_id: None,
            create_time: time(d.created_time()),
            update_time: time(d.updated_time()),
        };
        let changes = out
            .resource_changes()
            .iter()
            .map(|r| ResourceChange {
                action: r
                    .action()
                    .map(|a| a.as_str().to_string())
                    .unwrap_or_default(),
                logical_resource_id: r.logical_resource_id().unwrap_or_default().to_string(),
                physical_resource_id: r.physical_resource_id().map(str::to_string),
                resource_type: r.resource_type().unwrap_or_default().to_string(),
                replacement: r.replacement().map(|x| x.as_str().to_string()),
            })
            .collect();
        Ok((live, changes, out.next_page_token().map(str::to_string)))
    }
}

#[async_trait::async_trait]
impl PlanService for AwsClient {
    /// AWS gives no total, so page 1 walks every page token and describes each plan; later
    /// pages are empty.
    async fn list_plans(
        &self,
        filter: &PlanFilter,
        page: usize,
        _page_size: usize,
    ) -> Result<Page<LivePlan>, ProviderError> {
        if page > 1 {
            return Ok(Page {
                items: vec![],
                total_count: 0,
            });
        }
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        let mut tokens = PageTokens::default();
        loop {
            self.pace().await;
            let out = self
                .client
                .list_provisioned_product_plans()
                // The account's plans, not only this principal's (the default, User).
                .access_level_filter(
                    AccessLevelFilter::builder()
                        .key(AccessLevelFilterKey::Account)
                        .value("self")
                        .build(),
                )
                .page_size(20)
                .set_page_token(token.clone())
                .send()
                .await
                .map_err(provider_error)?;
            for s in out.provisioned_product_plans() {
                let name_ok = filter
                    .name
                    .as_deref()
                    .is_none_or(|n| s.plan_name().is_some_and(|x| x.eq_ignore_ascii_case(n)));
                if let (Some(id), true) = (s.plan_id(), name_ok) {
                    ids.push(id.to_string());
                }
            }
            token = tokens.next("ListProvisionedProductPlans", out.next_page_token())?;
            if token.is_none() {
                break;
            }
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(8));
        let mut items = Vec::with_capacity(ids.len());
        let mut futures = Vec::new();
        for id in &ids {
            let sem = sem.clone();
            futures.push(async move {
                let _permit = sem.acquire().await.expect("semaphore open");
                self.describe_plan(id, None).await
            });
        }
        for r in futures_join(futures).await {
            match r {
                Ok((l, _, _))
                    if filter.statuses.is_empty() || filter.statuses.contains(&l.status) =>
                {
                    items.push(l)
                }
                Ok(_) => {}
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let total = items.len();
        Ok(Page {
            items,
            total_count: total,
        })
    }

    async fn get_plan(&self, plan_id: &str) -> Result<LivePlan, ProviderError> {
        self.describe_plan(plan_id, None).await.map(|(l, _, _)| l)
    }

    async fn create_plan(&self, r: &NewPlan) -> Result<LivePlan, ProviderError> {
        let i = &r.inputs;
        self.pace().await;
        let out = self
            .client
            .create_provisioned_product_plan()
            .plan_name(&i.name)
            .plan_type(ProvisionedProductPlanType::Cloudformation)
            .product_id(&i.product_id)
            .provisioning_artifact_id(&i.product_version_id)
            .set_path_id(i.portfolio_id.clone())
            .provisioned_product_name(&i.provisioned_product_name)
            .set_provisioning_parameters(Some(
                i.parameters
                    .iter()
                    .map(|(k, v)| {
                        UpdateProvisioningParameter::builder()
                            .key(k)
                            .value(v)
                            .build()
                    })
                    .collect(),
            ))
            .set_tags(Some(
                i.tags
                    .iter()
                    .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                    .collect(),
            ))
            .set_notification_arns(if i.notification_arns.is_empty() {
                None
            } else {
                Some(i.notification_arns.clone())
            })
            // The SDK serialises the request once and resends those bytes on each retry, so every
            // attempt carries this token: a repeat returns the first plan (tests/attempts.rs).
            .idempotency_token(&r.idempotency_token)
            .send()
            .await
            .map_err(provider_error)?;
        Ok(LivePlan {
            id: out.plan_id().unwrap_or_default().to_string(),
            inputs: i.clone(),
            operation_type: r.operation_type,
            status: PlanStatus::PreviewInProgress,
            raw_status: "CREATE_IN_PROGRESS".into(),
            status_message: None,
            provisioned_product_id: out.provision_product_id().map(str::to_string),
            stack_id: None,
            create_time: String::new(),
            update_time: String::new(),
        })
    }

    async fn update_plan(&self, r: &PlanUpdate) -> Result<LivePlan, ProviderError> {
        Err(ProviderError::new(
            ErrorKind::Invalid,
            Sent::No,
            "UnsupportedOperation",
            format!(
                "AWS plans cannot be updated in place ({}); replace the plan",
                r.plan_id
            ),
        ))
    }

    async fn execute_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.pace().await;
        self.client
            .execute_provisioned_product_plan()
            .plan_id(plan_id)
            .idempotency_token(format!("pf-exec-{plan_id}"))
            .send()
            .await
            .map(|_| ())
            .map_err(provider_error)
    }

    async fn cancel_plan(&self, _plan_id: &str) -> Result<(), ProviderError> {
        // AWS plans have no review step to cancel.
        Ok(())
    }

    async fn delete_plan(&self, plan_id: &str) -> Result<(), ProviderError> {
        self.pace().await;
        self.client
            .delete_provisioned_product_plan()
            .plan_id(plan_id)
            .send()
            .await
            .map(|_| ())
            .map_err(provider_error)
    }

    /// Every page of the plan's resource changes (AWS pages them, 20 at most).
    async fn resource_changes(&self, plan_id: &str) -> Result<Vec<ResourceChange>, ProviderError> {
        let mut tokens = PageTokens::default();
        let (_, mut all, next) = self.describe_plan(plan_id, None).await?;
        let mut next = tokens.next("DescribeProvisionedProductPlan", next.as_deref())?;
        while let Some(token) = next {
            let (_, page, after) = self.describe_plan(plan_id, Some(token)).await?;
            all.extend(page);
            next = tokens.next("DescribeProvisionedProductPlan", after.as_deref())?;
        }
        Ok(all)
    }

    async fn find_provisioned_product(
        &self,
        name: &str,
    ) -> Result<Option<ProvisionedProduct>, ProviderError> {
        self.pace().await;
        match self
            .client
            .describe_provisioned_product()
            .name(name)
            .send()
            .await
            .map_err(provider_error)
        {
            Ok(out) => Ok(out
                .provisioned_product_detail()
                .map(|d| product(d, BTreeMap::new()))),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn provisioned_product(&self, id: &str) -> Result<ProvisionedProduct, ProviderError> {
        self.pace().await;
        let out = self
            .client
            .describe_provisioned_product()
            .id(id)
            .send()
            .await
            .map_err(provider_error)?;
        let mut outputs = BTreeMap::new();
        let mut token: Option<String> = None;
        let mut tokens = PageTokens::default();
        loop {
            self.pace().await;
            let o = self
                .client
                .get_provisioned_product_outputs()
                .provisioned_product_id(id)
                .page_size(20)
                .set_page_token(token.clone())
                .send()
                .await
                .map_err(provider_error)?;
            for x in o.outputs() {
                if let Some(k) = x.output_key() {
                    outputs.insert(
                        k.to_string(),
                        x.output_value().unwrap_or_default().to_string(),
                    );
                }
            }
            token = tokens.next("GetProvisionedProductOutputs", o.next_page_token())?;
            if token.is_none() {
                break;
            }
        }
        let d = out.provisioned_product_detail().ok_or_else(|| {
            ProviderError::not_found("ResourceNotFoundException", format!("{id} not found"))
        })?;
        Ok(product(d, outputs))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::AWS
    }

    fn location(&self) -> String {
        self.location.clone()
    }

    async fn account(&self) -> Result<String, ProviderError> {
        self.account
            .get_or_try_init(|| self.caller_account())
            .await
            .cloned()
    }

    async fn terminate_product(&self, name: &str, token: &str) -> Result<(), ProviderError> {
        self.pace().await;
        self.client
            .terminate_provisioned_product()
            .provisioned_product_name(name)
            .terminate_token(token)
            .send()
            .await
            .map(|_| ())
            .map_err(provider_error)
    }
}

fn product(
    d: &aws_sdk_servicecatalog::types::ProvisionedProductDetail,
    outputs: BTreeMap<String, String>,
) -> ProvisionedProduct {
    ProvisionedProduct {
        id: d.id().unwrap_or_default().to_string(),
        name: d.name().unwrap_or_default().to_string(),
        status: d
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        status_message: d.status_message().map(str::to_string),
        stack_id: None,
        product_id: d.product_id().unwrap_or_default().to_string(),
        product_version_id: d.provisioning_artifact_id().unwrap_or_default().to_string(),
        outputs,
    }
}

/// Runs futures concurrently (the semaphore bounds them) and keeps their order.
async fn futures_join<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// The page tokens one listing was handed: a service that hands back a token it gave before
/// would be paged forever, so the listing fails instead (found by the `aws_response` fuzz
/// target, `fuzz/regressions/aws_response/`).
#[derive(Default)]
struct PageTokens(std::collections::HashSet<String>);

impl PageTokens {
    /// The token of the next page; `None` at the end (no token, or an empty one).
    fn next(
        &mut self,
        operation: &str,
        token: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        let Some(t) = token.filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if !self.0.insert(t.to_string()) {
            return Err(ProviderError::new(
                ErrorKind::Transient,
                Sent::Yes,
                "RepeatedPageToken",
                format!("{operation} handed back a page token it gave before ({t:?}): the listing would never end"),
            ));
        }
        Ok(Some(t.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_servicecatalog::error::ConnectorError;
    use aws_sdk_servicecatalog::operation::describe_provisioned_product_plan::DescribeProvisionedProductPlanError as Describe;

    #[test]
    fn a_region_for_aws_endpoints_and_the_endpoint_for_any_other() {
        assert_eq!(location(Some("us-east-1"), None), "aws us-east-1");
        assert_eq!(
            location(
                Some("us-east-1"),
                Some("https://servicecatalog-fips.us-east-1.amazonaws.com")
            ),
            "aws us-east-1"
        );
        assert_eq!(
            location(Some("eu-west-1"), Some("http://127.0.0.1:9000/")),
            "aws eu-west-1 at http://127.0.0.1:9000"
        );
    }

    #[test]
    fn sts_goes_to_its_variable_else_a_foreign_endpoint_else_the_regional_default() {
        let sandbox = Some("http://127.0.0.1:9000");
        let aws = Some("https://servicecatalog-fips.us-east-1.amazonaws.com");
        assert_eq!(
            sts_endpoint(Some("http://127.0.0.1:7000"), sandbox).as_deref(),
            Some("http://127.0.0.1:7000")
        );
        assert_eq!(
            sts_endpoint(Some("https://sts.eu-west-1.amazonaws.com"), aws).as_deref(),
            Some("https://sts.eu-west-1.amazonaws.com")
        );
        assert_eq!(sts_endpoint(None, sandbox).as_deref(), sandbox);
        assert_eq!(sts_endpoint(Some(""), sandbox).as_deref(), sandbox);
        // AWS's own Service Catalog endpoint is no STS endpoint: the SDK's regional one.
        assert_eq!(sts_endpoint(None, aws), None);
        assert_eq!(sts_endpoint(None, None), None);
    }

    /// A client whose every request is answered `status` with `body` (no network).
    fn answering(status: u16, body: &'static str) -> AwsClient {
        use aws_sdk_servicecatalog::config::{BehaviorVersion, Credentials, Region};
        use aws_smithy_runtime_api::client::http::{
            http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
        };
        #[derive(Debug, Clone)]
        struct Canned(u16, &'static str);
        impl HttpConnector for Canned {
            fn call(
                &self,
                _: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
            ) -> HttpConnectorFuture {
                let mut r = HttpResponse::new(
                    self.0.try_into().unwrap(),
                    aws_smithy_types::body::SdkBody::from(self.1),
                );
                r.headers_mut().insert("content-type", "text/xml");
                HttpConnectorFuture::ready(Ok(r))
            }
        }
        let canned = Canned(status, body);
        let http = http_client_fn(move |_, _| SharedHttpConnector::new(canned.clone()));
        let credentials = Credentials::new("testid", "testsecret", None, None, "test");
        let conf = aws_sdk_servicecatalog::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .http_client(http.clone())
            .build();
        let sts = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .http_client(http)
            .retry_config(RetryConfig::disabled())
            .build();
        AwsClient::from_conf(conf, None, sts)
    }

    #[tokio::test]
    async fn the_account_is_the_get_caller_identity_answer_s() {
        let ok = answering(
            200,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::210987654321:user/ci</Arn><UserId>AIDAEXAMPLE</UserId><Account>210987654321</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        );
        assert_eq!(ok.account().await.unwrap(), "210987654321");
        let refused = answering(
            403,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r-2</RequestId></ErrorResponse>",
        );
        let e = refused.account().await.unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_str(), e.sent),
            (ErrorKind::Auth, "InvalidClientTokenId", Sent::Yes)
        );
        let throttled = answering(
            400,
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-3</RequestId></ErrorResponse>",
        );
        assert!(matches!(
            throttled.account().await.unwrap_err().kind,
            ErrorKind::Throttled { .. }
        ));
        let empty = answering(
            200,
            "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>x</Arn></GetCallerIdentityResult></GetCallerIdentityResponse>",
        );
        let e = empty.account().await.unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Invalid, "MalformedAnswer")
        );
        assert!(caller_account(Some("12345678901x")).is_err());
    }

    #[test]
    fn every_status_and_code_family_has_its_kind() {
        let throttled = |ms: Option<u64>| ErrorKind::Throttled {
            retry_after: ms.map(Duration::from_millis),
        };
        let cases: &[(u16, &str, Option<u64>, ErrorKind)] = &[
            (400, "ThrottlingException", None, throttled(None)),
            (400, "Throttling", Some(300), throttled(Some(300))),
            (400, "TooManyRequestsException", None, throttled(None)),
            (400, "RequestLimitExceeded", None, throttled(None)),
            (429, "Unknown", None, throttled(None)),
            (500, "InternalFailure", None, ErrorKind::Transient),
            (503, "ServiceUnavailable", None, ErrorKind::Transient),
            (502, "Unknown", None, ErrorKind::Transient),
            (400, "ResourceNotFoundException", None, ErrorKind::NotFound),
            (404, "Unknown", None, ErrorKind::NotFound),
            (400, "InvalidParametersException", None, ErrorKind::Invalid),
            (400, "ValidationException", None, ErrorKind::Invalid),
            (400, "MissingParameter", None, ErrorKind::Invalid),
            (400, "InvalidStateException", None, ErrorKind::Conflict),
            (400, "DuplicateResourceException", None, ErrorKind::Conflict),
            (400, "ResourceInUseException", None, ErrorKind::Conflict),
            (409, "Unknown", None, ErrorKind::Conflict),
            (400, "UnrecognizedClientException", None, ErrorKind::Auth),
            (400, "InvalidSignatureException", None, ErrorKind::Auth),
            (403, "SignatureDoesNotMatch", None, ErrorKind::Auth),
            (403, "InvalidClientTokenId", None, ErrorKind::Auth),
            (400, "AccessDeniedException", None, ErrorKind::Auth),
            (400, "ExpiredTokenException", None, ErrorKind::Auth),
            (403, "MissingAuthenticationToken", None, ErrorKind::Auth),
            (401, "Unknown", None, ErrorKind::Auth),
        ];
        for (status, code, retry_after, kind) in cases {
            assert_eq!(
                &classify(*status, code, retry_after.map(Duration::from_millis)),
                kind,
                "{status} {code}"
            );
        }
    }

    fn mapped(e: SdkError<Describe, HttpResponse>) -> (ErrorKind, Sent, String) {
        let p = provider_error(e);
        (p.kind, p.sent, p.code)
    }

    #[test]
    fn failures_without_an_answer_say_whether_the_request_went_out() {
        let io = |kind| Box::new(std::io::Error::new(kind, "socket"));
        assert_eq!(
            mapped(SdkError::construction_failure("no region")),
            (ErrorKind::Invalid, Sent::No, "ConstructionFailure".into())
        );
        assert_eq!(
            mapped(SdkError::timeout_error("attempt timeout")),
            (ErrorKind::Transient, Sent::Maybe, "Timeout".into())
        );
        assert_eq!(
            mapped(SdkError::dispatch_failure(ConnectorError::io(io(
                std::io::ErrorKind::ConnectionRefused
            )))),
            (ErrorKind::Transient, Sent::No, "NetworkError".into())
        );
        assert_eq!(
            mapped(SdkError::dispatch_failure(ConnectorError::io(io(
                std::io::ErrorKind::ConnectionReset
            )))),
            (ErrorKind::Transient, Sent::Maybe, "NetworkError".into())
        );
        assert_eq!(
            mapped(SdkError::dispatch_failure(ConnectorError::timeout(
                "read timeout".into()
            ))),
            (ErrorKind::Transient, Sent::Maybe, "NetworkError".into())
        );
        assert_eq!(
            mapped(SdkError::dispatch_failure(ConnectorError::user(
                "bad request".into()
            ))),
            (ErrorKind::Transient, Sent::No, "NetworkError".into())
        );
    }

    #[test]
    fn a_refused_credential_source_is_an_auth_error_naming_the_source() {
        let refusal = CredentialsError::provider_error(CredentialsRefused {
            source_name: "web identity (AWS_ROLE_ARN arn:aws:iam::1:role/x, …)".into(),
            error: CredentialsError::provider_error("AccessDenied: Not authorized"),
        });
        let e: SdkError<Describe, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(Box::new(refusal), None));
        let p = provider_error(e);
        assert_eq!(
            (p.kind, p.sent, p.code.as_str()),
            (ErrorKind::Auth, Sent::No, "CredentialsRefused")
        );
        assert!(
            p.message.starts_with(
                "the AWS credentials from web identity (AWS_ROLE_ARN arn:aws:iam::1:role/x, …) were refused: "
            ) && p.message.contains("AccessDenied: Not authorized"),
            "{}",
            p.message
        );
        let none: SdkError<Describe, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::not_loaded(
                    "no providers in chain provided credentials",
                )),
                None,
            ));
        let p = provider_error(none);
        assert_eq!(
            (p.kind, p.code.as_str()),
            (ErrorKind::Auth, "NoCredentials")
        );
    }

    #[test]
    fn the_credential_source_named_follows_the_chain_order() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile ci]\nregion = us-east-1\n").unwrap();
        let source = |vars: &[(&str, &str)], profile: Option<&str>| {
            let mut vars: BTreeMap<String, String> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            vars.insert("AWS_CONFIG_FILE".into(), config.display().to_string());
            vars.insert("HOME".into(), dir.path().display().to_string());
            credential_source(&|k: &str| vars.get(k).cloned(), profile)
        };
        let web = [
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/t"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/ci"),
        ];
        assert_eq!(
            source(&web, None),
            "web identity (AWS_ROLE_ARN arn:aws:iam::1:role/ci, the token in AWS_WEB_IDENTITY_TOKEN_FILE /t)"
        );
        // A profile with settings comes before web identity; one the files lack does not.
        let mut with_profile = web.to_vec();
        with_profile.push(("AWS_PROFILE", "ci"));
        assert!(source(&with_profile, None).starts_with("profile \"ci\" ("));
        assert!(source(&web, Some("ci")).starts_with("profile \"ci\" ("));
        assert!(source(&with_profile[..2], Some("other")).starts_with("profile \"other\" ("));
        let mut keys = with_profile.clone();
        keys.push(("AWS_ACCESS_KEY_ID", "AKIA"));
        assert!(source(&keys, None).starts_with("the environment"));
        // The manifest's profile is the source even with keys in the environment.
        assert!(source(&keys, Some("ci")).starts_with("profile \"ci\" ("));
        assert_eq!(
            source(&[("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/x")], None),
            "the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_*)"
        );
        assert_eq!(source(&[], None), "the EC2 instance metadata service");
    }

    #[tokio::test]
    async fn a_profile_named_but_missing_from_both_files_is_refused_naming_them() {
        use aws_types::os_shim_internal::{Env, Fs};
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let credentials = dir.path().join("credentials");
        std::fs::write(&config, "[profile ci]\nregion = us-east-1\n").unwrap();
        std::fs::write(&credentials, "[keys]\naws_access_key_id = A\n").unwrap();
        let (c, k) = (
            config.display().to_string(),
            credentials.display().to_string(),
        );
        let check = |vars: Vec<(&'static str, String)>, profile: Option<&'static str>| {
            let mut vars = vars;
            vars.push(("AWS_CONFIG_FILE", c.clone()));
            vars.push(("AWS_SHARED_CREDENTIALS_FILE", k.clone()));
            async move {
                let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
                check_profile(&Env::from_slice(&pairs), &Fs::real(), profile).await
            }
        };
        // In either file, or not named at all, or `default`: fine.
        check(vec![], Some("ci")).await.unwrap();
        check(vec![], Some("keys")).await.unwrap();
        check(vec![], None).await.unwrap();
        check(vec![("AWS_PROFILE", "default".into())], None)
            .await
            .unwrap();
        check(vec![("AWS_PROFILE", "".into())], None).await.unwrap();
        let e = check(vec![("AWS_PROFILE", "nosuch".into())], None)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("profile \"nosuch\" (named by AWS_PROFILE) was not found in {c} or {k}")
        );
        // The manifest's profile is checked, not AWS_PROFILE.
        let e = check(vec![("AWS_PROFILE", "ci".into())], Some("cii"))
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "profile \"cii\" (named by the provider's `profile`) was not found in "
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_chain_says_no_credentials_or_refused_by_what_had_settings() {
        #[derive(Debug)]
        struct Failing(fn() -> CredentialsError);
        impl ProvideCredentials for Failing {
            fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
            where
                Self: 'a,
            {
                future::ProvideCredentials::ready(Err((self.0)()))
            }
        }
        let mapped = |chain: NamedChain| async move {
            let e = chain.provide_credentials().await.unwrap_err();
            let e: SdkError<Describe, HttpResponse> =
                SdkError::dispatch_failure(ConnectorError::other(Box::new(e), None));
            let p = provider_error(e);
            (p.code, p.message)
        };
        let imds_refuses = || CredentialsError::provider_error("request forbidden");
        // Nothing configured: the metadata service's refusal is "no credentials", sources named.
        let (code, message) = mapped(NamedChain {
            chain: SharedCredentialsProvider::new(Failing(imds_refuses)),
            source: INSTANCE_METADATA.into(),
            tried: Some("the environment, the EC2 instance metadata service".into()),
        })
        .await;
        assert_eq!(code, "NoCredentials");
        assert_eq!(
            message,
            "no AWS credentials: tried the environment, the EC2 instance metadata service: request forbidden"
        );
        // A profile in effect that has no keys.
        let (code, message) = mapped(NamedChain {
            chain: SharedCredentialsProvider::new(Failing(CredentialsError::not_loaded_no_source)),
            source: "profile \"r\" (c, k)".into(),
            tried: None,
        })
        .await;
        assert_eq!(code, "NoCredentials");
        assert!(
            message.starts_with("no AWS credentials: tried profile \"r\" (c, k), which has none"),
            "{message}"
        );
        // A source with settings that fails: refused, naming it.
        let (code, message) = mapped(NamedChain {
            chain: SharedCredentialsProvider::new(Failing(imds_refuses)),
            source: "profile \"r\" (c, k)".into(),
            tried: None,
        })
        .await;
        assert_eq!(code, "CredentialsRefused");
        assert_eq!(
            message,
            "the AWS credentials from profile \"r\" (c, k) were refused: request forbidden"
        );
    }
}
