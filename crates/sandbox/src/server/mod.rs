//! `planform sandbox serve`: the emulator on a port, speaking the Alibaba RPC protocol and the
//! AWS JSON 1.1 protocol (told apart by `X-Amz-Target`), verifying signatures against the
//! configured keys, with fault injection (latency, failures, throttling).

mod alibaba;
mod aws;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

use crate::core::Sandbox;

/// A key pair the server accepts, with an optional STS token that must come with it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"(sensitive value)")
            .field("token", &self.token.as_ref().map(|_| "(sensitive value)"))
            .finish()
    }
}

impl AccessKey {
    /// `ID:SECRET` or `ID:SECRET:TOKEN`.
    pub fn parse(s: &str) -> Option<AccessKey> {
        let mut parts = s.splitn(3, ':');
        let id = parts.next().filter(|x| !x.is_empty())?;
        let secret = parts.next().filter(|x| !x.is_empty())?;
        Some(AccessKey {
            id: id.into(),
            secret: secret.into(),
            token: parts.next().map(str::to_string),
        })
    }
}

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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            keys: vec![],
            latency: Duration::ZERO,
            fail_rate: 0.0,
            throttle_rps: None,
            max_skew: Duration::from_secs(900),
        }
    }
}

struct Bucket {
    tokens: f64,
    last_ms: u64,
}

pub(crate) struct App {
    pub sandbox: Arc<Mutex<Sandbox>>,
    pub config: ServerConfig,
    nonces: Mutex<(HashSet<String>, VecDeque<String>)>,
    bucket: Mutex<Bucket>,
    rng: Mutex<u64>,
    counter: std::sync::atomic::AtomicU64,
}

impl App {
    pub fn key(&self, id: &str) -> Option<&AccessKey> {
        self.config.keys.iter().find(|k| k.id == id)
    }

    /// Records a nonce; false when it was seen before.
    pub fn fresh_nonce(&self, nonce: &str) -> bool {
        let mut n = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        if n.0.contains(nonce) {
            return false;
        }
        n.0.insert(nonce.to_string());
        n.1.push_back(nonce.to_string());
        if n.1.len() > 100_000 {
            if let Some(old) = n.1.pop_front() {
                n.0.remove(&old);
            }
        }
        true
    }

    pub fn now_ms(&self) -> u64 {
        self.sandbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .now_ms()
    }

    pub fn request_id(&self) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let h =
            planform_wire::sha256_hex(format!("{}:{n}", self.now_ms()).as_bytes()).to_uppercase();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn random(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Some(retry-after ms) when this request is over the rate limit.
    fn throttled(&self) -> Option<u64> {
        let rps = self.config.throttle_rps?;
        let now = self.now_ms();
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_sub(b.last_ms) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rps).min(rps.max(1.0));
        b.last_ms = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            None
        } else {
            Some((((1.0 - b.tokens) / rps) * 1000.0).ceil() as u64)
        }
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
    body: Bytes,
) -> Response {
    if !app.config.latency.is_zero() {
        tokio::time::sleep(app.config.latency).await;
    }
    let fault = if let Some(ms) = app.throttled() {
        Some(Fault::Throttled { retry_after_ms: ms })
    } else if app.config.fail_rate > 0.0 && app.random() < app.config.fail_rate {
        Some(if app.random() < 0.5 {
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
        if request.headers.contains_key("x-amz-target") {
            aws::handle(&app2, &request, fault)
        } else {
            alibaba::handle(&app2, &request, fault)
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

/// Serves until the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    sandbox: Arc<Mutex<Sandbox>>,
    config: ServerConfig,
) -> std::io::Result<()> {
    let seed = sandbox.lock().unwrap_or_else(|e| e.into_inner()).now_ms() | 1;
    let app = Arc::new(App {
        sandbox,
        config,
        nonces: Mutex::new((HashSet::new(), VecDeque::new())),
        bucket: Mutex::new(Bucket {
            tokens: 0.0,
            last_ms: 0,
        }),
        rng: Mutex::new(seed),
        counter: Default::default(),
    });
    if let Some(rps) = app.config.throttle_rps {
        let mut b = app.bucket.lock().unwrap_or_else(|e| e.into_inner());
        b.tokens = rps.max(1.0);
        b.last_ms = app.now_ms();
    }
    let router = axum::Router::new().fallback(handle).with_state(app);
    axum::serve(listener, router).await
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` to epoch milliseconds.
pub(crate) fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    days_ms(
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    )
}

/// Parses SigV4's `YYYYMMDDTHHMMSSZ` to epoch milliseconds.
pub(crate) fn parse_amz_date(s: &str) -> Option<u64> {
    if s.len() != 16 || s.as_bytes()[8] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    days_ms(
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(9..11)?,
        n(11..13)?,
        n(13..15)?,
    )
}

fn days_ms(y: i64, m: i64, d: i64, hh: i64, mm: i64, ss: i64) -> Option<u64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 86_400) + hh * 3600 + mm * 60 + ss) * 1000).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_both_ways() {
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

    #[test]
    fn keys_never_print_secrets() {
        let k = AccessKey::parse("id:secret:token").unwrap();
        assert!(!format!("{k:?}").contains("secret\"") && !format!("{k:?}").contains("token\""));
    }
}
