//! `planform sandbox serve`: the emulator on a port, speaking the Alibaba RPC protocol and the
//! AWS JSON 1.1 protocol (told apart by `X-Amz-Target`), verifying signatures against the
//! configured keys, with fault injection (latency, failures, throttling).

mod alibaba;
mod aws;
mod http;
mod keys;
mod metadata;
mod nonces;
mod principals;
mod sts;

pub use http::Limits;
pub use keys::{AccessKey, KeyError};
pub use nonces::{NonceError, MAX_LIVE_NONCES, MAX_NONCE_LEN};

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::Extension;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::Clock;
use crate::core::Sandbox;

/// Fault injection and checks.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub keys: Vec<AccessKey>,
    /// Added to every response.
    pub latency: Duration,
    /// Share of requests answered 500 InternalError / 503 ServiceUnavailable (0..=1).
    pub fail_rate: f64,
    /// Requests per second above which the server answers the real throttling errors.
    pub throttle_rps: Option<f64>,
    /// Allowed clock difference for signed dates (15 minutes, as the clouds).
    pub max_skew: Duration,
    /// The RAM / IAM roles that exist (by name): STS assumes them, and the instance metadata
    /// service and the credentials URI hand out their credentials.
    pub roles: Vec<String>,
    /// The role attached to the emulated ECS instance (`/latest/meta-data/ram/security-credentials/`).
    pub instance_role: String,
    /// The OIDC identity providers registered in RAM / IAM (by name).
    pub oidc_providers: Vec<String>,
    /// Caps the lifetime of issued credentials below what the request asks for, so tests see
    /// them expire (`PLANFORM_SANDBOX_CREDENTIALS_TTL_SECONDS` for `sandbox serve`).
    pub credentials_ttl: Option<Duration>,
    /// Where the Alibaba face keeps the signature nonces it has seen (a redb file), so a
    /// request replayed after a restart is still refused; `None` keeps them in memory only.
    pub nonce_db: Option<PathBuf>,
    /// A request must arrive whole within this time of its first byte (and a new connection
    /// send its first request within it), or the connection is closed.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request under way is closed after this time.
    pub idle_timeout: Duration,
    /// Connections served at once; past it, a connection is answered 503 and closed.
    pub max_connections: usize,
    /// The largest request body accepted (413 above it).
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            keys: vec![],
            latency: Duration::ZERO,
            fail_rate: 0.0,
            throttle_rps: None,
            max_skew: Duration::from_secs(900),
            roles: [
                "planform-ci",
                "planform-plan",
                "planform-apply",
                "planform-ecs",
            ]
            .map(String::from)
            .to_vec(),
            instance_role: "planform-ecs".into(),
            oidc_providers: ["planform-ci", "github", "gitlab"]
                .map(String::from)
                .to_vec(),
            credentials_ttl: None,
            nonce_db: None,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// The sandbox's injected clock as the rate limiter reads time, so tests that move a
/// [`crate::ManualClock`] move the limit's refill too.
#[derive(Clone)]
struct LimitClock(Arc<dyn Clock>);

impl governor::clock::Clock for LimitClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(self.0.now_ms())
    }
}

/// The request-rate limit: a burst of `max(rps, 1)` requests, refilled at `rps` a second.
type RateLimit = RateLimiter<NotKeyed, InMemoryState, LimitClock, NoOpMiddleware<Duration>>;

fn rate_limit(rps: f64, clock: Arc<dyn Clock>) -> Option<RateLimit> {
    let period = Duration::try_from_secs_f64(1.0 / rps).ok()?;
    // `as` saturates: a rate above u32::MAX a second bursts u32::MAX requests.
    let burst = NonZeroU32::new(rps.max(1.0) as u32)?;
    let quota = Quota::with_period(period)?.allow_burst(burst);
    Some(RateLimiter::direct_with_clock(quota, LimitClock(clock)))
}

pub(crate) struct App {
    pub sandbox: Arc<Mutex<Sandbox>>,
    pub config: ServerConfig,
    nonces: nonces::Nonces,
    limit: Option<RateLimit>,
    clock: Arc<dyn Clock>,
    pub principals: principals::Principals,
    durability: Option<crate::store::Durability>,
}

impl App {
    /// The server's state: the emulator, the configuration, the rate limit on the sandbox's
    /// clock, and the nonces seen (from the nonce database, when configured).
    fn new(sandbox: Arc<Mutex<Sandbox>>, config: ServerConfig) -> std::io::Result<App> {
        let (clock, durability) = {
            let sb = sandbox.lock().unwrap_or_else(|e| e.into_inner());
            (sb.clock(), sb.durability())
        };
        let limit = config
            .throttle_rps
            .and_then(|rps| rate_limit(rps, clock.clone()));
        let nonces = match &config.nonce_db {
            Some(path) => {
                nonces::Nonces::open(path, clock.now_ms()).map_err(std::io::Error::other)?
            }
            None => nonces::Nonces::memory(),
        };
        Ok(App {
            sandbox,
            config,
            nonces,
            limit,
            clock,
            principals: principals::Principals::default(),
            durability,
        })
    }

    /// The key with this id, configured or issued, and whom it acts for: a configured key acts
    /// as its RAM user (`RamUser:<name>`), an issued one as the role it was issued for.
    pub fn caller(&self, id: &str) -> Option<principals::Caller> {
        if let Some(k) = self.config.keys.iter().find(|k| k.id == id) {
            return Some(principals::Caller {
                key: k.clone(),
                principal: format!("RamUser:{}", k.user_name()),
                account: k.account.clone(),
                session: None,
                expires_ms: None,
            });
        }
        self.principals.issued(id)
    }

    /// When credentials issued now for `requested_s` seconds expire (the configured cap applies).
    pub fn expiry(&self, requested_s: u64) -> u64 {
        let mut ms = requested_s.saturating_mul(1000);
        if let Some(cap) = self.config.credentials_ttl {
            ms = ms.min(cap.as_millis() as u64);
        }
        self.now_ms() + ms
    }

    /// Admits a signature nonce whose request was signed at `signed_ms`: it must not have been
    /// seen within the window, and is remembered (durably, with a nonce database) until the
    /// signed time plus the allowed skew, after which the timestamp check refuses it anyway.
    pub fn admit_nonce(&self, nonce: &str, signed_ms: u64) -> Result<(), NonceError> {
        let until = signed_ms.saturating_add(self.config.max_skew.as_millis() as u64);
        self.nonces.admit(nonce, until, self.now_ms())
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// A fresh request id, an upper-case UUID as both clouds write them.
    pub fn request_id(&self) -> String {
        uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase()
    }

    /// Some(retry-after ms) when this request is over the rate limit.
    fn throttled(&self) -> Option<u64> {
        let limit = self.limit.as_ref()?;
        let not_until = limit.check().err()?;
        let wait = not_until.wait_time_from(Duration::from_millis(self.now_ms()));
        let ms = u64::try_from(wait.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        Some(ms.max(1))
    }
}

/// The fault a request meets before it reaches the emulator, if any.
pub(crate) enum Fault {
    Throttled { retry_after_ms: u64 },
    Internal,
    Unavailable,
}

/// A request as both faces see it.
pub(crate) struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every header, lower-case names.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().ok()?.to_string(),
                ))
            })
            .collect()
    }
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    connection: Option<Extension<http::Connection>>,
    body: Bytes,
) -> Response {
    // The request has arrived whole: the header-read deadline no longer applies.
    if let Some(Extension(c)) = connection {
        c.handling();
    }
    if !app.config.latency.is_zero() {
        tokio::time::sleep(app.config.latency).await;
    }
    let fault = if let Some(ms) = app.throttled() {
        Some(Fault::Throttled { retry_after_ms: ms })
    } else if app.config.fail_rate > 0.0 && fastrand::f64() < app.config.fail_rate {
        Some(if fastrand::bool() {
            Fault::Internal
        } else {
            Fault::Unavailable
        })
    } else {
        None
    };
    let request = Request {
        method,
        uri,
        headers,
        body,
    };
    let app2 = app.clone();
    // The emulator holds a mutex and writes to disk: keep it off the async workers.
    tokio::task::spawn_blocking(move || {
        let path = request.uri.path();
        let response = if path.starts_with(metadata::METADATA_PREFIX) {
            metadata::instance(&app2, &request)
        } else if path.starts_with(metadata::URI_PREFIX) {
            metadata::credentials_uri(&app2, &request)
        } else if request.headers.contains_key("x-amz-target") {
            aws::handle(&app2, &request, fault)
        } else if let Some(service) = sts::addressed(&request) {
            sts::handle(&app2, &request, service)
        } else {
            alibaba::handle(&app2, &request, fault)
        };
        // Answered only once what it changed or saw is durable (group commit, store.rs).
        match app2.durability.as_ref().map(|d| d.settle()) {
            Some(Err(_)) => alibaba::error_response(
                &app2,
                500,
                "InternalError",
                "The request processing has failed due to some unknown error.",
                None,
            ),
            _ => response,
        }
    })
    .await
    .unwrap_or_else(|_| {
        alibaba::error_response(
            &app,
            500,
            "InternalError",
            "The request processing has failed due to some unknown error.",
            None,
        )
    })
}

/// Serves `sandbox` on a free loopback port from a task of the current runtime, as `sandbox serve`
/// would, and returns its endpoint (`http://127.0.0.1:PORT`): what the clients' tests and
/// benchmarks talk to in process.
pub async fn serve_on_loopback(
    sandbox: Arc<Mutex<Sandbox>>,
    config: ServerConfig,
) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(serve(listener, sandbox, config));
    Ok(endpoint)
}

/// Serves for ever (see [`Limits`] for how connections are bounded).
pub async fn serve(
    listener: tokio::net::TcpListener,
    sandbox: Arc<Mutex<Sandbox>>,
    config: ServerConfig,
) -> std::io::Result<()> {
    let app = Arc::new(App::new(sandbox, config)?);
    let limits = Limits {
        header_read_timeout: app.config.header_read_timeout,
        idle_timeout: app.config.idle_timeout,
        max_connections: app.config.max_connections.max(1),
    };
    let router = axum::Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(app.config.max_body_bytes))
        .with_state(app);
    http::accept(listener, router, limits).await
}

/// Groups flat, 1-based repeat-list parameters: `Tags.1.Key`, `Tags.1.Value`, … → [{Key, Value}, …].
pub(crate) fn repeat_list(
    params: &BTreeMap<String, String>,
    prefix: &str,
) -> Vec<BTreeMap<String, String>> {
    let mut by_index: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
    let p = format!("{prefix}.");
    for (k, v) in params.range(p.clone()..) {
        let Some(rest) = k.strip_prefix(&p) else {
            break;
        };
        let (idx, field) = match rest.split_once('.') {
            Some((i, f)) => (i, f.to_string()),
            None => (rest, String::new()),
        };
        if let Ok(i) = idx.parse::<u32>() {
            by_index.entry(i).or_default().insert(field, v.clone());
        }
    }
    by_index.into_values().collect()
}

/// Answers one request as [`serve`] does, without a socket: the same faces, checks and dispatch
/// (signatures, nonces, the emulator), with no latency or fault injected, for a server made for
/// this request alone (its nonce cache and issued credentials start empty). For driving the
/// request decoding with arbitrary input (the fuzz targets in `crates/fuzz`).
pub async fn answer(
    sandbox: Arc<Mutex<Sandbox>>,
    config: ServerConfig,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let config = ServerConfig {
        latency: Duration::ZERO,
        fail_rate: 0.0,
        throttle_rps: None,
        nonce_db: None,
        ..config
    };
    let app = match App::new(sandbox, config) {
        Ok(app) => Arc::new(app),
        Err(e) => {
            return axum::response::IntoResponse::into_response((
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
            ))
        }
    };
    handle(State(app), method, uri, headers, None, body).await
}

#[cfg(test)]
mod faces_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_both_ways() {
        use planform_wire::{parse_amz_date, parse_iso8601};
        assert_eq!(
            parse_iso8601("2022-05-23T09:46:27Z"),
            Some(1_653_299_187_000)
        );
        assert_eq!(parse_amz_date("20220523T094627Z"), Some(1_653_299_187_000));
        assert_eq!(parse_iso8601("2022-05-23 09:46:27"), None);
        assert_eq!(
            crate::clock::iso8601(parse_iso8601("2024-02-29T23:59:59Z").unwrap()),
            "2024-02-29T23:59:59Z"
        );
    }

    #[test]
    fn rate_limit_bursts_then_refills_with_the_clock() {
        let clock = Arc::new(crate::ManualClock::new(1_700_000_000_000));
        let limit = rate_limit(2.0, clock.clone()).unwrap();
        assert!(limit.check().is_ok());
        assert!(limit.check().is_ok());
        let wait = limit
            .check()
            .unwrap_err()
            .wait_time_from(Duration::from_millis(clock.now_ms()));
        assert_eq!(wait, Duration::from_millis(500));
        clock.advance(499);
        assert!(limit.check().is_err());
        clock.advance(1);
        assert!(limit.check().is_ok());
        assert!(limit.check().is_err());
        let slow = rate_limit(0.5, clock.clone()).unwrap();
        assert!(slow.check().is_ok());
        let wait = slow
            .check()
            .unwrap_err()
            .wait_time_from(Duration::from_millis(clock.now_ms()));
        assert_eq!(wait, Duration::from_secs(2));
    }

    #[test]
    fn groups_repeat_lists() {
        let p: BTreeMap<String, String> = [
            ("Tags.2.Key", "b"),
            ("Tags.1.Key", "a"),
            ("Tags.1.Value", "x"),
            ("Tags.10.Key", "j"),
            ("Other", "o"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let l = repeat_list(&p, "Tags");
        assert_eq!(
            l.iter().map(|m| m["Key"].as_str()).collect::<Vec<_>>(),
            ["a", "b", "j"]
        );
    }
}
