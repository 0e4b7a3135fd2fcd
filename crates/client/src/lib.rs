//! Cloud clients behind the engine's `PlanService`. `alibaba` speaks Alibaba Cloud Service
//! Catalog's RPC API 2021-09-01 over HTTPS; `aws` is the official AWS SDK. The clients are the
//! only layer that retries (docs/retries.md): throttling, 5xx and network errors, up to
//! `max_retries + 1` attempts with full-jitter exponential backoff (honouring
//! `x-acs-retry-after` / `Retry-After` / `x-amz-retry-after`). Each holds a per-provider
//! request-rate limit and never prints a secret.

pub mod alibaba;
pub mod aws;
pub mod credentials;
mod request_log;
mod retry;

pub use alibaba::{AlibabaClient, AlibabaOptions};
pub use aws::{AwsClient, AwsOptions};
pub use credentials::{AlibabaCredentials, CredentialError, CredentialProvider};
pub use retry::{RateLimit, RetryPolicy};

/// The lower-case host of an endpoint URL (`https://Host:443/path` → `host`): what tells a
/// cloud's own endpoint from another (a sandbox server).
fn host_of(endpoint: &str) -> String {
    endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}
