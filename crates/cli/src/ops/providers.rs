//! A service per provider configuration: the embedded sandbox, the Alibaba client, the AWS
//! client, configured from the manifests and the environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use planform_engine::Providers;
use planform_model::{DesiredState, PlanService, ProviderKind};
use planform_sandbox::{Embedded, Settings};
use planform_state::State;

/// The embedded sandbox's timings; `PLANFORM_SANDBOX_PREVIEW_MS` / `_EXECUTE_MS` override them.
pub fn sandbox_settings(env: &BTreeMap<String, String>) -> Settings {
    let mut s = Settings::default();
    if let Some(v) = env
        .get("PLANFORM_SANDBOX_PREVIEW_MS")
        .and_then(|v| v.parse().ok())
    {
        s.preview_ms = v;
    }
    if let Some(v) = env
        .get("PLANFORM_SANDBOX_EXECUTE_MS")
        .and_then(|v| v.parse().ok())
    {
        s.execute_ms = v;
    }
    s
}

/// Builds a service per provider configuration the manifests and state use.
pub async fn providers(
    dir: &Path,
    desired: &DesiredState,
    state: &State,
    env: &BTreeMap<String, String>,
) -> Result<Providers> {
    let mut refs: BTreeSet<planform_model::ProviderRef> =
        desired.plans.values().map(|p| p.provider.clone()).collect();
    refs.extend(state.plans.values().map(|m| m.provider.clone()));
    let mut out: Providers = BTreeMap::new();
    let mut sandbox: Option<Arc<dyn PlanService>> = None;
    for r in refs {
        match r.kind {
            ProviderKind::Sandbox => {
                if sandbox.is_none() {
                    let data = dir.join(".planform/sandbox");
                    let e = Embedded::open(&data, sandbox_settings(env)).map_err(|e| {
                        anyhow!("cannot open the sandbox in {}: {e}", data.display())
                    })?;
                    sandbox = Some(Arc::new(e));
                }
                out.insert(r, sandbox.clone().expect("opened above"));
            }
            ProviderKind::Alibaba => {
                let cfg = desired.providers.get(&r).ok_or_else(|| {
                    anyhow!("provider {r} is used by the state but not configured in the manifests")
                })?;
                let region = cfg
                    .region
                    .clone()
                    .or_else(|| env.get("ALIBABA_CLOUD_REGION").cloned())
                    .unwrap_or_default();
                if region.is_empty()
                    && cfg.endpoint.is_none()
                    && !env.contains_key("ALIBABA_CLOUD_ENDPOINT_SERVICECATALOG")
                {
                    bail!("provider {r}: set region (or endpoint)");
                }
                let mut options =
                    planform_client::AlibabaOptions::resolve(&region, cfg.endpoint.as_deref(), env);
                if let Some(n) = cfg.max_retries {
                    options.retry.max_attempts = n + 1;
                }
                options.requests_per_second = cfg.requests_per_second;
                if let Some(t) = cfg.timeout {
                    options.timeout = t;
                }
                // The credential chain of Alibaba's SDKs; temporary credentials are refreshed
                // by the provider the client asks before every request.
                let credentials = planform_client::credentials::resolve(
                    env,
                    cfg.profile.as_deref(),
                    planform_client::credentials::system_clock(),
                )
                .await
                .map_err(|e| anyhow!("provider {r}: {e}"))?;
                let client =
                    planform_client::AlibabaClient::with_provider(options, Arc::new(credentials))
                        .map_err(|e| anyhow!("provider {r}: {e}"))?;
                out.insert(r, Arc::new(client));
            }
            ProviderKind::Aws => {
                let cfg = desired.providers.get(&r).ok_or_else(|| {
                    anyhow!("provider {r} is used by the state but not configured in the manifests")
                })?;
                let options = planform_client::AwsOptions {
                    region: cfg.region.clone(),
                    profile: cfg.profile.clone(),
                    endpoint: cfg.endpoint.clone(),
                    max_attempts: cfg.max_retries.map(|n| n + 1),
                    requests_per_second: cfg.requests_per_second,
                    timeout: cfg.timeout,
                };
                let client = planform_client::AwsClient::new(options)
                    .await
                    .map_err(|e| anyhow!("provider {r}: {e}"))?;
                out.insert(r, Arc::new(client));
            }
        }
    }
    Ok(out)
}
