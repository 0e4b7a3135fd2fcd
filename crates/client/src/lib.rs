//! Cloud clients behind the engine's `PlanService`. `alibaba` speaks Alibaba Cloud Service
//! Catalog's RPC API 2021-09-01 over HTTPS; `aws` is the official AWS SDK. Every client retries throttling, 5xx and network
//! errors with exponential backoff and full jitter (honouring `x-acs-retry-after` /
//! `Retry-After`), holds a per-provider request-rate limit, and never prints a secret.

pub mod alibaba;
pub mod aws;
pub mod credentials;
mod retry;

pub use alibaba::{AlibabaClient, AlibabaOptions};
pub use aws::{AwsClient, AwsOptions};
pub use credentials::{AlibabaCredentials, CredentialError};
pub use retry::{RateLimit, RetryPolicy};
