//! The retry layer of the hand-written (Alibaba) client and the request-rate limit of both clients.
//!
//! A request is sent up to `max_attempts` times. Only retryable kinds (`Throttled`, `Transient`)
//! are sent again; before each resend the loop waits a full-jitter backoff (at least the cloud's
//! retry-after) and, if the failed attempt may have landed, looks whether it did (see
//! `docs/retries.md`). The loop is a small function rather than `backon`: backon's jitter adds a
//! random part on top of the delay instead of drawing the whole delay (full jitter), and its hooks
//! between attempts are synchronous, so the asynchronous look before a resend would have to hide
//! inside the attempt closure.

use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use planform_model::{ErrorKind, ProviderError, Sent};
use tracing::Instrument;

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (a provider's `max_retries` + 1).
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry; it doubles with every retry.
    pub base: Duration,
    /// The largest backoff ceiling.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Full jitter before retry number `retry + 1`: `random` × min(cap, base·2^retry), at least
    /// `retry_after`. `random` is drawn from [0, 1].
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << retry.min(16))
            .min(self.cap);
        let jittered = ceiling.mul_f64(random.clamp(0.0, 1.0));
        match retry_after {
            Some(r) => r.max(jittered),
            None => jittered,
        }
    }
}

/// Whether a failed attempt may have taken effect in the cloud, so that a resend could act twice:
/// the request may have reached the cloud and the cloud did not say it refused it. A throttling
/// answer is a refusal; a 5xx answer or a lost answer is not.
pub(crate) fn may_have_landed(error: &ProviderError) -> bool {
    error.sent != Sent::No && !matches!(error.kind, ErrorKind::Throttled { .. })
}

/// Sends with retries. `send` makes one attempt. `look` runs before a resend when the failed
/// attempt may have landed; if it finds what that attempt made, that is the answer and nothing is
/// resent. Errors of the look itself end the loop.
pub(crate) async fn retry<T, Send, Sending, Look, Looking>(
    policy: &RetryPolicy,
    mut send: Send,
    mut look: Look,
) -> Result<T, ProviderError>
where
    Send: FnMut() -> Sending,
    Sending: Future<Output = Result<T, ProviderError>>,
    Look: FnMut() -> Looking,
    Looking: Future<Output = Result<Option<T>, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        // The request and response events of the attempt carry its number.
        let span = tracing::debug_span!("attempt", attempt, of = policy.max_attempts.max(1));
        let error = match send().instrument(span).await {
            Ok(answer) => return Ok(answer),
            Err(e) => e,
        };
        if !error.kind.retryable() || attempt >= policy.max_attempts.max(1) {
            return Err(error);
        }
        let retry_after = match error.kind {
            ErrorKind::Throttled { retry_after } => retry_after,
            _ => None,
        };
        let delay = policy.delay(attempt - 1, retry_after, fastrand::f64());
        tracing::debug!(
            attempt,
            code = %error.code,
            request_id = error.request_id.as_deref().unwrap_or("-"),
            delay_ms = delay.as_millis() as u64,
            "retrying"
        );
        tokio::time::sleep(delay).await;
        if may_have_landed(&error) {
            if let Some(found) = look().await? {
                return Ok(found);
            }
        }
        attempt += 1;
    }
}

/// The `look` of a request that cannot land twice (reads, and writes that are safe to repeat).
pub(crate) async fn nothing_to_look_for<T>() -> Result<Option<T>, ProviderError> {
    Ok(None)
}

/// A provider's request-rate limit (GCRA, as a token bucket): at most `rate` requests per second
/// on average, in bursts of up to `rate` (at least one).
pub struct RateLimit(DefaultDirectRateLimiter);

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

impl RateLimit {
    /// A limit of `rate` requests per second; `None` (no limit) unless `rate` is positive and finite.
    pub fn new(rate: f64) -> Option<RateLimit> {
        if !(rate.is_finite() && rate > 0.0) {
            return None;
        }
        let burst = NonZeroU32::new(rate.clamp(1.0, u32::MAX as f64) as u32)?;
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rate))?.allow_burst(burst);
        Some(RateLimit(DefaultDirectRateLimiter::direct(quota)))
    }

    /// Waits until a request may be sent.
    pub async fn until_ready(&self) {
        self.0.until_ready().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            base: Duration::ZERO,
            cap: Duration::ZERO,
        }
    }

    fn failure(kind: ErrorKind, sent: Sent) -> ProviderError {
        ProviderError::new(kind, sent, "Code", "message")
    }

    /// Runs `retry` against attempts that fail with `error` until `succeed_on` (1-based), and
    /// returns the outcome, the attempts made and the looks made.
    async fn check(
        max_attempts: u32,
        error: ProviderError,
        succeed_on: Option<u32>,
        found: Option<&'static str>,
    ) -> (Result<&'static str, ProviderError>, u32, u32) {
        let attempts = AtomicU32::new(0);
        let looks = AtomicU32::new(0);
        let outcome = retry(
            &policy(max_attempts),
            || {
                let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                let error = error.clone();
                async move {
                    match succeed_on {
                        Some(k) if n >= k => Ok("answer"),
                        _ => Err(error),
                    }
                }
            },
            || {
                looks.fetch_add(1, Ordering::SeqCst);
                async move { Ok(found) }
            },
        )
        .await;
        (
            outcome,
            attempts.load(Ordering::SeqCst),
            looks.load(Ordering::SeqCst),
        )
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        assert_eq!(p.delay(0, None, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(3, None, 1.0), Duration::from_millis(800));
        assert_eq!(p.delay(10, None, 1.0), Duration::from_secs(1));
        assert_eq!(p.delay(3, None, 0.5), Duration::from_millis(400));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2)), 1.0),
            Duration::from_secs(2)
        );
    }

    #[tokio::test]
    async fn retryable_errors_are_sent_max_attempts_times() {
        let throttled = failure(ErrorKind::Throttled { retry_after: None }, Sent::Yes);
        let (outcome, attempts, looks) = check(4, throttled.clone(), None, None).await;
        assert_eq!((outcome, attempts, looks), (Err(throttled), 4, 0));
        let transient = failure(ErrorKind::Transient, Sent::No);
        let (outcome, attempts, _) = check(3, transient.clone(), None, None).await;
        assert_eq!((outcome, attempts), (Err(transient), 3));
        let (outcome, attempts, _) =
            check(5, failure(ErrorKind::Transient, Sent::No), Some(3), None).await;
        assert_eq!((outcome, attempts), (Ok("answer"), 3));
    }

    #[tokio::test]
    async fn other_errors_are_sent_once() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::Invalid,
            ErrorKind::Conflict,
            ErrorKind::Auth,
        ] {
            let error = failure(kind, Sent::Yes);
            let (outcome, attempts, looks) = check(5, error.clone(), None, None).await;
            assert_eq!((outcome, attempts, looks), (Err(error), 1, 0));
        }
    }

    #[tokio::test]
    async fn a_request_that_may_have_landed_is_resent_only_after_looking() {
        let maybe = failure(ErrorKind::Transient, Sent::Maybe);
        let (outcome, attempts, looks) = check(3, maybe.clone(), None, None).await;
        assert_eq!((outcome, attempts, looks), (Err(maybe.clone()), 3, 2));
        let (outcome, attempts, looks) = check(3, maybe, None, Some("landed")).await;
        assert_eq!((outcome, attempts, looks), (Ok("landed"), 1, 1));
        let answered_5xx = failure(ErrorKind::Transient, Sent::Yes);
        let (_, attempts, looks) = check(3, answered_5xx, None, None).await;
        assert_eq!((attempts, looks), (3, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_before_each_resend() {
        let start = tokio::time::Instant::now();
        let after = Duration::from_secs(3);
        let (_, attempts, _) = check(
            3,
            failure(
                ErrorKind::Throttled {
                    retry_after: Some(after),
                },
                Sent::Yes,
            ),
            None,
            None,
        )
        .await;
        assert_eq!(attempts, 3);
        assert_eq!(start.elapsed(), after * 2);
    }

    #[test]
    fn bucket_allows_a_burst_then_spaces_requests() {
        use governor::clock::Clock;
        let r = RateLimit::new(10.0).unwrap();
        for _ in 0..10 {
            assert!(r.0.check().is_ok());
        }
        let wait = r.0.check().unwrap_err().wait_time_from(r.0.clock().now());
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(101),
            "{wait:?}"
        );
    }

    #[test]
    fn a_rate_that_is_not_positive_is_no_limit() {
        assert!(RateLimit::new(0.0).is_none());
        assert!(RateLimit::new(f64::NAN).is_none());
        assert!(RateLimit::new(0.5).is_some());
    }
}
