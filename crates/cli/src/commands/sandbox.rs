//! `planform sandbox`: serve the embedded emulator, approve or reject plans under review.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use planform_sandbox::Embedded;

use crate::args::{SandboxCommand, ServeArgs};
use crate::exit;
use crate::invocation::Invocation;
use crate::ops;

pub async fn run(inv: &Invocation, command: &SandboxCommand) -> Result<u8> {
    match command {
        SandboxCommand::Serve(args) => serve(inv, args).await,
        _ => review(inv, command),
    }
}

/// `sandbox approve` and `sandbox reject`.
fn review(inv: &Invocation, command: &SandboxCommand) -> Result<u8> {
    let data = inv.dir.join(".planform/sandbox");
    if !data.is_dir() {
        bail!(
            "there is no embedded sandbox in {}: `planform sandbox approve|reject` reviews the plans of the embedded sandbox of a manifest directory (run it there, or pass -C DIR); plans of `planform sandbox serve` are reviewed through its API by an assigned approver",
            inv.dir.display()
        );
    }
    let e = Embedded::open(&data, ops::sandbox_settings(&inv.env))
        .map_err(|e| anyhow!("cannot open the sandbox in {}: {e}", data.display()))?;
    let mut sb = e
        .sandbox
        .lock()
        .map_err(|_| anyhow!("sandbox lock poisoned"))?;
    let (id, action, comment) = match &command {
        SandboxCommand::Approve { plan_id, comment } => (plan_id, "Approve", comment),
        SandboxCommand::Reject { plan_id, comment } => (plan_id, "Reject", comment),
        SandboxCommand::Serve(_) => unreachable!("handled in run"),
    };
    let p = sb
        .approve_as_assigned_approver(id, action, comment)
        .map_err(|e| anyhow!("{e}"))?;
    outln!("{} is now {}", p.id, p.status);
    Ok(exit::OK)
}

/// A duration flag (`10s`, `500ms`, `2m`), above zero.
fn positive_duration(flag: &str, value: &str) -> Result<Duration> {
    match humantime::parse_duration(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => bail!("{flag} must be above 0, got {value:?}"),
        Err(e) => bail!("{flag} {value:?}: {e} (e.g. 10s, 500ms, 2m)"),
    }
}

/// The variable that holds one more key for `sandbox serve`, out of sight of `ps`.
const ACCESS_KEY_VAR: &str = "PLANFORM_SANDBOX_ACCESS_KEY";

/// The keys `sandbox serve` accepts: every `--access-key`, every key of every
/// `--access-key-file`, and `PLANFORM_SANDBOX_ACCESS_KEY`; with none of them, a key pair from the
/// operating system's random source, printed once.
fn access_keys_of(
    inv: &Invocation,
    flags: &[String],
    files: &[std::path::PathBuf],
) -> Result<Vec<planform_sandbox::server::AccessKey>> {
    use planform_sandbox::server::AccessKey;
    let mut keys = Vec::new();
    for k in flags {
        keys.push(AccessKey::parse(k).ok_or_else(|| {
            anyhow!(
                "--access-key {:?}: expected [USER[@ACCOUNT]=]ID:SECRET[:TOKEN]",
                k.split(':').next().unwrap_or("")
            )
        })?);
    }
    for f in files {
        keys.extend(AccessKey::from_file(f)?);
    }
    if let Some(v) = inv.env.get(ACCESS_KEY_VAR) {
        keys.push(AccessKey::parse(v.trim()).ok_or_else(|| {
            anyhow!("{ACCESS_KEY_VAR}: expected [USER[@ACCOUNT]=]ID:SECRET[:TOKEN]")
        })?);
    }
    if keys.is_empty() {
        let key = AccessKey::generate()?;
        outln!("access key: {}:{}", key.id, key.secret);
        keys.push(key);
    }
    Ok(keys)
}

/// `sandbox serve`: the emulator over HTTP until Ctrl-C.
async fn serve(inv: &Invocation, args: &ServeArgs) -> Result<u8> {
    use planform_sandbox::server::ServerConfig;
    let ServeArgs {
        listen,
        data,
        catalog,
        access_keys,
        access_key_files,
        latency_ms,
        preview_ms,
        execute_ms,
        fail_rate,
        throttle_rps,
        header_read_timeout,
        idle_timeout,
        max_connections,
        max_body_bytes,
    } = args.clone();
    let header_read_timeout = positive_duration("--header-read-timeout", &header_read_timeout)?;
    let idle_timeout = positive_duration("--idle-timeout", &idle_timeout)?;
    if max_connections == 0 {
        bail!("--max-connections must be 1 or more");
    }
    if !(0.0..=1.0).contains(&fail_rate) {
        bail!("--fail-rate must be from 0 to 1, got {fail_rate}");
    }
    if throttle_rps.is_some_and(|r| r <= 0.0) {
        bail!("--throttle-rps must be above 0");
    }
    let keys = access_keys_of(inv, &access_keys, &access_key_files)?;
    let catalog = match catalog {
        Some(f) => planform_sandbox::Catalog::from_json(
            &std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?,
        )
        .map_err(|e| anyhow!("{}: {e}", f.display()))?,
        None => planform_sandbox::Catalog::demo(),
    };
    let mut settings = ops::sandbox_settings(&inv.env);
    if let Some(ms) = preview_ms {
        settings.preview_ms = ms;
    }
    if let Some(ms) = execute_ms {
        settings.execute_ms = ms;
    }
    let data = data.unwrap_or_else(|| inv.dir.join(".planform/sandbox"));
    planform_sandbox::data_dir::prepare(&data)
        .with_context(|| format!("cannot prepare the sandbox's data in {}", data.display()))?;
    let store =
        planform_sandbox::store::Store::open(&data.join(planform_sandbox::data_dir::SANDBOX_DB))
            .map_err(|e| anyhow!("{e}"))?;
    let sandbox = planform_sandbox::Sandbox::new(
        catalog,
        settings,
        Arc::new(planform_sandbox::SystemClock),
        store,
    )
    .map_err(|e| anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    outln!("listening on http://{}", listener.local_addr()?);
    crate::render::console::flush();
    let credentials_ttl = match inv.env.get("PLANFORM_SANDBOX_CREDENTIALS_TTL_SECONDS") {
        None => None,
        Some(v) => Some(Duration::from_secs(v.parse().ok().filter(|s| *s > 0).ok_or_else(
            || {
                anyhow!(
                    "PLANFORM_SANDBOX_CREDENTIALS_TTL_SECONDS must be a whole number of seconds above 0, got {v:?}"
                )
            },
        )?)),
    };
    let config = ServerConfig {
        keys,
        latency: Duration::from_millis(latency_ms),
        fail_rate,
        throttle_rps,
        credentials_ttl,
        nonce_db: Some(data.join(planform_sandbox::data_dir::NONCE_DB)),
        header_read_timeout,
        idle_timeout,
        max_connections,
        max_body_bytes,
        ..ServerConfig::default()
    };
    let server =
        planform_sandbox::server::serve(listener, Arc::new(std::sync::Mutex::new(sandbox)), config);
    tokio::select! {
        r = server => r.context("the server stopped")?,
        _ = tokio::signal::ctrl_c() => outln!("stopped"),
    }
    Ok(exit::OK)
}
