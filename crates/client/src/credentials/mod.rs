//! Alibaba Cloud credentials, found the way Alibaba's own credentials SDKs and the aliyun CLI
//! find them, in their order (`resolve`):
//!
//! 1. `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (+ `ALIBABA_CLOUD_SECURITY_TOKEN`);
//! 2. an OIDC role: `ALIBABA_CLOUD_ROLE_ARN`, `ALIBABA_CLOUD_OIDC_PROVIDER_ARN`,
//!    `ALIBABA_CLOUD_OIDC_TOKEN_FILE` (+ `ALIBABA_CLOUD_ROLE_SESSION_NAME`) → STS
//!    `AssumeRoleWithOIDC`; setting some of the three but not all is an error;
//! 3. the aliyun CLI's `~/.aliyun/config.json` (`ALIBABA_CLOUD_CONFIG_FILE`; profile
//!    `ALIBABA_CLOUD_PROFILE`, else `current`; skipped when `ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true`)
//!    in every mode the CLI writes for keys: AK, StsToken, RamRoleArn, ChainableRamRoleArn,
//!    EcsRamRole, OIDC, CredentialsURI;
//! 4. the credentials file `~/.alibabacloud/credentials.ini` (`ALIBABA_CLOUD_CREDENTIALS_FILE`;
//!    section `ALIBABA_CLOUD_PROFILE`, else `default`);
//! 5. the ECS instance's RAM role through the metadata service, with an IMDSv2 session token
//!    (`ALIBABA_CLOUD_ECS_METADATA` names the role; `ALIBABA_CLOUD_ECS_METADATA_DISABLED=true`
//!    skips it; `ALIBABA_CLOUD_IMDSV1_DISABLED=true` refuses to go on without a token);
//! 6. `ALIBABA_CLOUD_CREDENTIALS_URI`.
//!
//! A manifest's `profile` picks a profile of the CLI's file (or a section of the INI file) and
//! skips the environment. Temporary credentials are refreshed before they expire
//! ([`CredentialProvider::current`], asked for every request). STS is reached at
//! `ALIBABA_CLOUD_STS_ENDPOINT`, else `sts[-vpc].<ALIBABA_CLOUD_STS_REGION>.aliyuncs.com`, else
//! `sts.aliyuncs.com`; the metadata service at `PLANFORM_ECS_METADATA_ENDPOINT`, else
//! `http://100.100.100.200` (planform's own variable: the SDKs have none).

mod files;
mod services;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use planform_model::Sensitive;

pub use files::{cli_config, ini, ini_source, CliConfig};

/// The process environment, injected.
pub type Env = BTreeMap<String, String>;

/// Milliseconds since the Unix epoch: the wall clock, or a test's.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlibabaCredentials {
    pub access_key_id: String,
    pub access_key_secret: Sensitive<String>,
    pub security_token: Option<Sensitive<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, an OIDC role (ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), or configure a profile with `aliyun configure` ({0})")]
    Missing(String),
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("{path}: profile {profile:?}: mode: {mode:?} is not supported; planform supports AK, StsToken, RamRoleArn, ChainableRamRoleArn, EcsRamRole, OIDC and CredentialsURI")]
    UnsupportedMode {
        profile: String,
        path: String,
        mode: String,
    },
    #[error("{0}")]
    Incomplete(String),
    #[error("{source_name}: {code}: {message}")]
    Refused {
        source_name: String,
        code: String,
        message: String,
    },
    #[error("{source_name}: cannot reach {endpoint}: {message}")]
    Unreachable {
        source_name: String,
        endpoint: String,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Malformed {
        source_name: String,
        message: String,
    },
}

/// What an STS `AssumeRole*` call asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRequest {
    pub role_arn: String,
    pub session_name: String,
    pub duration_s: u64,
    pub policy: Option<String>,
    pub external_id: Option<String>,
    /// `https://sts.aliyuncs.com` or an override.
    pub sts_endpoint: String,
}

/// Where credentials come from, and how to get them again.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Keys given as they are (an STS token given this way cannot be refreshed).
    Static {
        credentials: AlibabaCredentials,
        expires_ms: Option<u64>,
    },
    /// STS `AssumeRole`, signed with the credentials of `base`.
    AssumeRole {
        base: Box<Source>,
        role: RoleRequest,
    },
    /// STS `AssumeRoleWithOIDC` with the token in `token_file` (read again at every refresh).
    Oidc {
        token_file: PathBuf,
        provider_arn: String,
        role: RoleRequest,
    },
    /// The ECS instance's RAM role through the metadata service.
    EcsRole {
        role_name: Option<String>,
        metadata: String,
        disable_v1: bool,
    },
    /// A credentials URI answering `{AccessKeyId, AccessKeySecret, SecurityToken, Expiration}`.
    Uri { url: String },
}

impl Source {
    /// What this source is, for logs and errors (never a secret).
    pub fn kind(&self) -> String {
        match self {
            Source::Static {
                credentials,
                expires_ms,
            } => match (&credentials.security_token, expires_ms) {
                (None, _) => format!("access key {}", credentials.access_key_id),
                (Some(_), None) => format!("STS token of {}", credentials.access_key_id),
                (Some(_), Some(e)) => format!(
                    "STS token of {} (expires {})",
                    credentials.access_key_id,
                    planform_wire::iso8601(*e)
                ),
            },
            Source::AssumeRole { base, role } => {
                format!("role {} assumed with {}", role.role_arn, base.kind())
            }
            Source::Oidc {
                token_file, role, ..
            } => format!(
                "role {} assumed with the OIDC token in {}",
                role.role_arn,
                token_file.display()
            ),
            Source::EcsRole { role_name, .. } => match role_name {
                Some(r) => format!("ECS instance RAM role {r}"),
                None => "ECS instance RAM role".to_string(),
            },
            Source::Uri { url } => format!("credentials URI {url}"),
        }
    }
}

/// Credentials and when they expire.
#[derive(Debug, Clone)]
pub struct Session {
    pub credentials: AlibabaCredentials,
    pub expires_ms: Option<u64>,
}

struct Cached {
    credentials: Arc<AlibabaCredentials>,
    expires_ms: Option<u64>,
    refresh_at: Option<u64>,
}

/// How long before expiry a refresh happens: 3 minutes as the SDKs do, or half the lifetime
/// when credentials live less than 6 minutes.
fn refresh_at(now_ms: u64, expires_ms: u64) -> u64 {
    let margin = (expires_ms.saturating_sub(now_ms) / 2).min(180_000);
    expires_ms.saturating_sub(margin)
}

/// Hands out current credentials: cached, and fetched again before they expire. One refresh
/// at a time; the others wait for it. Cheap on the common path (a read lock and an `Arc` clone).
pub struct CredentialProvider {
    source: Source,
    origin: String,
    http: reqwest::Client,
    clock: Clock,
    cached: RwLock<Option<Cached>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for CredentialProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialProvider")
            .field("source", &self.source.kind())
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl CredentialProvider {
    /// A provider for `source`; `origin` says where it was configured (for logs).
    pub fn new(source: Source, origin: impl Into<String>, clock: Clock) -> CredentialProvider {
        let http = reqwest::Client::builder()
            // A signed request goes only where it was addressed: never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("planform/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        CredentialProvider {
            source,
            origin: origin.into(),
            http,
            clock,
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// Fixed keys (tests, benchmarks).
    pub fn fixed(credentials: AlibabaCredentials) -> CredentialProvider {
        CredentialProvider::new(
            Source::Static {
                credentials,
                expires_ms: None,
            },
            "given keys",
            system_clock(),
        )
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Where the source was configured: `environment`, `profile "ci" in …/config.json`, ….
    pub fn origin(&self) -> &str {
        &self.origin
    }

    fn fresh(&self, now_ms: u64) -> Option<Arc<AlibabaCredentials>> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        let c = cached.as_ref()?;
        match c.refresh_at {
            Some(at) if now_ms >= at => None,
            _ => Some(c.credentials.clone()),
        }
    }

    fn store(&self, session: Session, now_ms: u64) -> Arc<AlibabaCredentials> {
        let credentials = Arc::new(session.credentials);
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        *cached = Some(Cached {
            credentials: credentials.clone(),
            expires_ms: session.expires_ms,
            refresh_at: session.expires_ms.map(|e| refresh_at(now_ms, e)),
        });
        credentials
    }

    /// The credentials to sign the next request with: the cached ones until their refresh is
    /// due, then new ones. A failed refresh keeps the old credentials while they are still
    /// valid (and says so in the log); after that, the error.
    pub async fn current(&self) -> Result<Arc<AlibabaCredentials>, CredentialError> {
        if let Some(c) = self.fresh((self.clock)()) {
            return Ok(c);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        let now = (self.clock)();
        if let Some(c) = self.fresh(now) {
            return Ok(c);
        }
        match fetch(&self.source, &self.http, &self.clock).await {
            Ok(session) => {
                match session.expires_ms {
                    Some(e) => tracing::info!(
                        source = %self.source.kind(),
                        origin = %self.origin,
                        access_key_id = %session.credentials.access_key_id,
                        expires = %planform_wire::iso8601(e),
                        "Alibaba Cloud credentials obtained"
                    ),
                    None => tracing::debug!(
                        source = %self.source.kind(),
                        origin = %self.origin,
                        "Alibaba Cloud credentials in use"
                    ),
                }
                Ok(self.store(session, now))
            }
            Err(e) => {
                let cached = self.cached.read().unwrap_or_else(|p| p.into_inner());
                match cached.as_ref() {
                    Some(c) if c.expires_ms.is_some_and(|until| now < until) => {
                        tracing::warn!(
                            source = %self.source.kind(),
                            error = %e,
                            "refreshing Alibaba Cloud credentials failed; the current ones are still valid"
                        );
                        Ok(c.credentials.clone())
                    }
                    _ => Err(e),
                }
            }
        }
    }
}

type Fetching<'a> = Pin<Box<dyn Future<Output = Result<Session, CredentialError>> + Send + 'a>>;

/// Gets credentials from `source` (for a role, from its base first).
pub fn fetch<'a>(source: &'a Source, http: &'a reqwest::Client, clock: &'a Clock) -> Fetching<'a> {
    Box::pin(async move {
        match source {
            Source::Static {
                credentials,
                expires_ms,
            } => {
                if let Some(until) = expires_ms.filter(|until| *until <= clock()) {
                    return Err(CredentialError::Malformed {
                        source_name: source.kind(),
                        message: format!(
                            "the STS token expired at {} and cannot be refreshed",
                            planform_wire::iso8601(until)
                        ),
                    });
                }
                Ok(Session {
                    credentials: credentials.clone(),
                    expires_ms: *expires_ms,
                })
            }
            Source::AssumeRole { base, role } => {
                let base = fetch(base, http, clock).await?;
                services::assume_role(http, &base.credentials, role, clock()).await
            }
            Source::Oidc {
                token_file,
                provider_arn,
                role,
            } => {
                services::assume_role_with_oidc(http, token_file, provider_arn, role, clock()).await
            }
            Source::EcsRole {
                role_name,
                metadata,
                disable_v1,
            } => services::ecs_role(metadata, role_name.as_deref(), *disable_v1).await,
            Source::Uri { url } => services::credentials_uri(http, url).await,
        }
    })
}

fn get<'a>(env: &'a Env, k: &str) -> Option<&'a str> {
    env.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

fn flag(env: &Env, k: &str) -> bool {
    get(env, k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `ALIBABA_CLOUD_ROLE_SESSION_NAME`, else `planform-<millis>`.
fn session_name(env: &Env) -> String {
    get(env, "ALIBABA_CLOUD_ROLE_SESSION_NAME")
        .map(str::to_string)
        .unwrap_or_else(|| format!("planform-{}", system_clock()()))
}

fn with_scheme(endpoint: &str) -> String {
    let e = endpoint.trim_end_matches('/');
    if e.starts_with("http://") || e.starts_with("https://") {
        e.to_string()
    } else {
        format!("https://{e}")
    }
}

/// The STS endpoint: `ALIBABA_CLOUD_STS_ENDPOINT`, else the profile's region or
/// `ALIBABA_CLOUD_STS_REGION` (`sts-vpc.` when `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true` or the
/// profile enables VPC), else `sts.aliyuncs.com`.
pub(crate) fn sts_endpoint(env: &Env, region: Option<&str>, vpc: bool) -> String {
    if let Some(e) = get(env, "ALIBABA_CLOUD_STS_ENDPOINT") {
        return with_scheme(e);
    }
    let prefix = if vpc || flag(env, "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED") {
        "sts-vpc"
    } else {
        "sts"
    };
    match region.or_else(|| get(env, "ALIBABA_CLOUD_STS_REGION")) {
        Some(r) => format!("https://{prefix}.{r}.aliyuncs.com"),
        None => "https://sts.aliyuncs.com".to_string(),
    }
}

/// The metadata service: `PLANFORM_ECS_METADATA_ENDPOINT`, else `http://100.100.100.200`.
fn metadata_endpoint(env: &Env) -> String {
    get(env, "PLANFORM_ECS_METADATA_ENDPOINT")
        .map(|e| {
            let e = e.trim_end_matches('/');
            if e.contains("://") {
                e.to_string()
            } else {
                format!("http://{e}")
            }
        })
        .unwrap_or_else(|| "http://100.100.100.200".to_string())
}

const OIDC_VARS: [&str; 3] = [
    "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
];

fn home(env: &Env) -> Option<PathBuf> {
    get(env, "HOME").map(PathBuf::from)
}

/// The source the chain picks, and where it was configured, without any network: the
/// environment, the OIDC variables, the CLI's profiles, the INI file. `Missing` leaves the
/// metadata service and the credentials URI to try ([`resolve`]).
pub fn configured(
    env: &Env,
    profile: Option<&str>,
    now_ms: u64,
) -> Result<(Source, String), CredentialError> {
    if profile.is_none() {
        let id = get(env, "ALIBABA_CLOUD_ACCESS_KEY_ID");
        let secret = get(env, "ALIBABA_CLOUD_ACCESS_KEY_SECRET");
        match (id, secret) {
            (Some(id), Some(secret)) => {
                return Ok((
                    Source::Static {
                        credentials: AlibabaCredentials {
                            access_key_id: id.to_string(),
                            access_key_secret: Sensitive::new(secret.to_string()),
                            security_token: get(env, "ALIBABA_CLOUD_SECURITY_TOKEN")
                                .map(|t| Sensitive::new(t.to_string())),
                        },
                        expires_ms: None,
                    },
                    "environment (ALIBABA_CLOUD_ACCESS_KEY_ID)".into(),
                ))
            }
            (Some(_), None) => {
                return Err(CredentialError::Incomplete(
                    "ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not; set both".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(CredentialError::Incomplete(
                    "ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but ALIBABA_CLOUD_ACCESS_KEY_ID is not; set both".into(),
                ))
            }
            (None, None) => {}
        }
        let (set, unset): (Vec<&str>, Vec<&str>) =
            OIDC_VARS.iter().partition(|k| get(env, k).is_some());
        if set.len() == OIDC_VARS.len() {
            return Ok((
                Source::Oidc {
                    token_file: PathBuf::from(
                        get(env, "ALIBABA_CLOUD_OIDC_TOKEN_FILE").unwrap_or_default(),
                    ),
                    provider_arn: get(env, "ALIBABA_CLOUD_OIDC_PROVIDER_ARN")
                        .unwrap_or_default()
                        .to_string(),
                    role: RoleRequest {
                        role_arn: get(env, "ALIBABA_CLOUD_ROLE_ARN")
                            .unwrap_or_default()
                            .to_string(),
                        session_name: session_name(env),
                        duration_s: 3600,
                        policy: None,
                        external_id: None,
                        sts_endpoint: sts_endpoint(env, None, false),
                    },
                },
                "environment (ALIBABA_CLOUD_OIDC_TOKEN_FILE)".into(),
            ));
        }
        if !set.is_empty() {
            return Err(CredentialError::Incomplete(format!(
                "an OIDC role needs ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and ALIBABA_CLOUD_OIDC_TOKEN_FILE: {} set but {} not",
                set.join(", "),
                unset.join(", ")
            )));
        }
    }
    // The CLI's profiles, then the INI file.
    let wanted = profile
        .map(str::to_string)
        .or_else(|| get(env, "ALIBABA_CLOUD_PROFILE").map(str::to_string));
    let mut looked = vec![];
    if profile.is_some() || !flag(env, "ALIBABA_CLOUD_CLI_PROFILE_DISABLED") {
        let explicit = get(env, "ALIBABA_CLOUD_CONFIG_FILE").map(PathBuf::from);
        let path = explicit
            .clone()
            .or_else(|| home(env).map(|h| h.join(".aliyun/config.json")));
        if let Some(path) = path {
            let shown = path.display().to_string();
            match files::read_optional(&path)? {
                None if explicit.is_some() => {
                    return Err(CredentialError::Config {
                        path: shown,
                        message: "does not exist (ALIBABA_CLOUD_CONFIG_FILE names it)".into(),
                    })
                }
                None => looked.push(format!("{shown} does not exist")),
                Some(text) => {
                    let config = files::cli_config(&shown, &text)?;
                    let name = wanted
                        .clone()
                        .or_else(|| config.current.clone())
                        .unwrap_or_else(|| "default".into());
                    if config.has(&name) {
                        let source = config.source(&name, env, now_ms)?;
                        return Ok((source, format!("profile {name:?} in {shown}")));
                    }
                    if wanted.is_none() {
                        return Err(CredentialError::Config {
                            path: shown,
                            message: format!("current: no profile named {name:?}"),
                        });
                    }
                    looked.push(format!("{shown} has no profile {name:?}"));
                }
            }
        }
    } else {
        looked.push("the CLI profile is disabled".into());
    }
    let section = wanted.clone().unwrap_or_else(|| "default".into());
    let explicit = get(env, "ALIBABA_CLOUD_CREDENTIALS_FILE").map(PathBuf::from);
    let candidates: Vec<PathBuf> = match (&explicit, home(env)) {
        (Some(p), _) => vec![p.clone()],
        (None, Some(h)) => vec![
            h.join(".alibabacloud/credentials.ini"),
            h.join(".alibabacloud/credentials"),
        ],
        (None, None) => vec![],
    };
    for path in candidates {
        let shown = path.display().to_string();
        match files::read_optional(&path)? {
            None if explicit.is_some() => {
                return Err(CredentialError::Config {
                    path: shown,
                    message: "does not exist (ALIBABA_CLOUD_CREDENTIALS_FILE names it)".into(),
                })
            }
            None => continue,
            Some(text) => {
                let sections = files::ini(&shown, &text)?;
                match sections.get(&section) {
                    Some(s) => {
                        let source = files::ini_source(&shown, &section, s, env)?;
                        return Ok((source, format!("[{section}] in {shown}")));
                    }
                    None => {
                        looked.push(format!("{shown} has no [{section}]"));
                        break;
                    }
                }
            }
        }
    }
    if let Some(p) = profile {
        return Err(CredentialError::Config {
            path: looked.join("; "),
            message: format!("no profile named {p:?}"),
        });
    }
    if home(env).is_none() {
        looked.push("no HOME to find ~/.aliyun/config.json".into());
    }
    if looked.is_empty() {
        looked.push("nothing configured".into());
    }
    Err(CredentialError::Missing(looked.join("; ")))
}

/// The credential chain: the first configured source ([`configured`]); else the ECS instance's
/// role when the metadata service answers; else `ALIBABA_CLOUD_CREDENTIALS_URI`. The provider
/// has fetched its first credentials (so a wrong setting fails here, naming its source), and
/// the source it uses is logged (never a secret).
pub async fn resolve(
    env: &Env,
    profile: Option<&str>,
    clock: Clock,
) -> Result<CredentialProvider, CredentialError> {
    let chosen = match configured(env, profile, clock()) {
        Ok(c) => c,
        Err(CredentialError::Missing(looked)) => match probe(env, &clock).await? {
            Some(provider) => return Ok(provider),
            None => match get(env, "ALIBABA_CLOUD_CREDENTIALS_URI") {
                Some(url) => (
                    Source::Uri {
                        url: url.to_string(),
                    },
                    "environment (ALIBABA_CLOUD_CREDENTIALS_URI)".to_string(),
                ),
                None => {
                    return Err(CredentialError::Missing(format!(
                        "{looked}; {}",
                        if flag(env, "ALIBABA_CLOUD_ECS_METADATA_DISABLED") {
                            "the ECS metadata service is disabled"
                        } else {
                            "no ECS metadata service answered"
                        }
                    )))
                }
            },
        },
        Err(e) => return Err(e),
    };
    let (source, origin) = chosen;
    let provider = CredentialProvider::new(source, origin, clock);
    provider.current().await?;
    tracing::info!(
        source = %provider.source.kind(),
        origin = %provider.origin,
        "Alibaba Cloud credentials"
    );
    Ok(provider)
}

/// The ECS instance's role, when the metadata service is not disabled: named by
/// `ALIBABA_CLOUD_ECS_METADATA` it must answer; unnamed, a service that cannot be reached
/// (not on ECS) passes on to the next source.
async fn probe(env: &Env, clock: &Clock) -> Result<Option<CredentialProvider>, CredentialError> {
    if flag(env, "ALIBABA_CLOUD_ECS_METADATA_DISABLED") {
        return Ok(None);
    }
    let role_name = get(env, "ALIBABA_CLOUD_ECS_METADATA").map(str::to_string);
    let source = Source::EcsRole {
        role_name: role_name.clone(),
        metadata: metadata_endpoint(env),
        disable_v1: flag(env, "ALIBABA_CLOUD_IMDSV1_DISABLED"),
    };
    let origin = if role_name.is_some() {
        "environment (ALIBABA_CLOUD_ECS_METADATA)"
    } else {
        "the ECS metadata service"
    };
    let provider = CredentialProvider::new(source, origin, clock.clone());
    match provider.current().await {
        Ok(_) => {
            tracing::info!(source = %provider.source.kind(), origin = %provider.origin, "Alibaba Cloud credentials");
            Ok(Some(provider))
        }
        // Unnamed, the role is looked for: a service that does not answer, or answers
        // without a role (not an ECS instance, or one without a role), passes on.
        Err(e @ (CredentialError::Unreachable { .. } | CredentialError::Refused { .. }))
            if role_name.is_none() =>
        {
            tracing::debug!(error = %e, "no ECS instance role");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests;
