//! Retries with exponential backoff and full jitter, and a token-bucket request-rate limit.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
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
    /// Full jitter: a random wait between 0 and min(cap, base·2^attempt); at least `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, random: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jittered = ceiling.mul_f64(random.clamp(0.0, 1.0));
        match retry_after {
            Some(r) => r.max(jittered),
            None => jittered,
        }
    }
}

/// A token bucket: at most `rate` requests per second on average, bursts of up to `rate`.
pub struct RateLimit {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub fn new(rate: f64) -> RateLimit {
        RateLimit {
            rate,
            state: Mutex::new((rate.max(1.0), Instant::now())),
        }
    }

    /// Takes a token; returns how long to wait before sending.
    pub fn reserve(&self) -> Duration {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(s.1).as_secs_f64() * self.rate;
        s.0 = (s.0 + refill).min(self.rate.max(1.0));
        s.1 = now;
        s.0 -= 1.0;
        if s.0 >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-s.0 / self.rate)
        }
    }
}

/// A small xorshift generator for jitter (no cryptographic use).
pub(crate) struct Jitter(Mutex<u64>);

impl Jitter {
    pub fn new(seed: u64) -> Jitter {
        Jitter(Mutex::new(seed | 1))
    }

    pub fn next(&self) -> f64 {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn bucket_allows_a_burst_then_spaces_requests() {
        let r = RateLimit::new(10.0);
        for _ in 0..10 {
            assert_eq!(r.reserve(), Duration::ZERO);
        }
        let wait = r.reserve();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(101),
            "{wait:?}"
        );
    }
}
