//! Logs, like Terraform's `TF_LOG`: `PLANFORM_LOG` sets the level (`error`, `warn`, `info`,
//! `debug`, `trace`) or per-target filters (`planform_client=trace,info`, tracing's EnvFilter
//! syntax); `PLANFORM_LOG_PATH` appends them to a file instead of standard error. Without
//! `PLANFORM_LOG` nothing is logged. The libraries emit `tracing` events (at `debug`, every
//! cloud request and response, secrets redacted); only this binary installs the subscriber.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber the environment asks for; an error names the variable.
pub fn init(env: &BTreeMap<String, String>) -> Result<(), String> {
    let Some(spec) = env.get("PLANFORM_LOG").filter(|s| !s.trim().is_empty()) else {
        return Ok(());
    };
    let filter = filter(spec)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(true);
    let installed = match env.get("PLANFORM_LOG_PATH").filter(|p| !p.is_empty()) {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("PLANFORM_LOG_PATH {path}: cannot open for appending: {e}"))?;
            builder.with_writer(Mutex::new(file)).try_init()
        }
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))
}

/// planform's own crates: a bare level applies to them.
const OWN: [&str; 9] = [
    "planform",
    "planform_model",
    "planform_manifest",
    "planform_state",
    "planform_wire",
    "planform_client",
    "planform_sandbox",
    "planform_engine",
    "planform_bench",
];

/// The filter of `PLANFORM_LOG`: a bare level is planform's own crates' level (other crates
/// log warnings and errors only, so their request dumps stay out); anything else is taken as
/// EnvFilter directives, for whoever wants another crate's logs.
fn filter(spec: &str) -> Result<EnvFilter, String> {
    let spec = spec.trim().to_ascii_lowercase();
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let directives = if LEVELS.contains(&spec.as_str()) {
        let others = if spec == "off" || spec == "error" {
            spec.as_str()
        } else {
            "warn"
        };
        std::iter::once(others.to_string())
            .chain(OWN.iter().map(|c| format!("{c}={spec}")))
            .collect::<Vec<_>>()
            .join(",")
    } else if spec.contains('=') || spec.contains(',') {
        spec.clone()
    } else {
        return Err(format!(
            "PLANFORM_LOG={spec:?}: expected a level (error, warn, info, debug, trace, off) or \
             per-target filters such as planform_client=debug,info"
        ));
    };
    EnvFilter::try_new(&directives).map_err(|e| format!("PLANFORM_LOG={spec:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn levels_and_per_target_filters_are_accepted() {
        for ok in [
            "trace",
            "DEBUG",
            "info",
            "warn",
            "error",
            "off",
            "planform_client=debug,info",
        ] {
            assert!(filter(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            filter("loud").unwrap_err(),
            "PLANFORM_LOG=\"loud\": expected a level (error, warn, info, debug, trace, off) or per-target filters such as planform_client=debug,info"
        );
        assert!(filter("planform_client=nope").is_err());
        // A bare level is planform's; other crates (HTTP, TLS, the AWS SDK) stay at warn.
        let debug = filter("debug").unwrap().to_string();
        let mut directives: Vec<&str> = debug.split(',').collect();
        directives.sort();
        assert_eq!(
            directives.join(","),
            "planform=debug,planform_bench=debug,planform_client=debug,planform_engine=debug,\
             planform_manifest=debug,planform_model=debug,planform_sandbox=debug,\
             planform_state=debug,planform_wire=debug,warn"
        );
        assert_eq!(
            filter("error")
                .unwrap()
                .to_string()
                .split(',')
                .filter(|d| *d == "error")
                .count(),
            1
        );
    }
}
