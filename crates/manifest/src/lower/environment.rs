//! Which environment variables `env()` may read. A pull request can change manifests, and CI
//! runs `plan` on them with cloud credentials in its environment, so `env()` reads only what the
//! manifests list in `planform { allowed_env = [...] }` (a literal list, read before anything is
//! evaluated) and `PLANFORM_VAR_*` variables; credential variables are never readable.

use std::collections::{BTreeMap, BTreeSet};

use hcl::Expression;

use crate::diagnostic::Diagnostics;
use crate::syntax::{error, BlockNode};

/// Names that hold credentials or tokens: never readable by `env()`, even when listed.
pub(crate) fn is_credential(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "ALIBABA_CLOUD_",
        "ALICLOUD_",
        "AWS_",
        "PG",
        "ACTIONS_",
        "CI_JOB_",
    ];
    const PARTS: &[&str] = &[
        "SECRET",
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "CREDENTIAL",
        "KEY",
        "AUTH",
        "SESSION",
        "COOKIE",
        "CONN_STR",
        "DSN",
    ];
    let upper = name.to_ascii_uppercase();
    PREFIXES.iter().any(|p| upper.starts_with(p)) || PARTS.iter().any(|p| upper.contains(p))
}

/// The names the `planform` blocks allow, and the variables of `env` that `env()` may read.
pub(super) fn readable(
    planform_blocks: &[&BlockNode],
    env: &BTreeMap<String, String>,
    diags: &mut Diagnostics,
) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let mut allowed = BTreeSet::new();
    for a in planform_blocks
        .iter()
        .flat_map(|b| b.attrs.iter())
        .filter(|a| a.name == "allowed_env")
    {
        let Expression::Array(items) = &a.expr else {
            diags.push(error(
                &a.value_loc,
                Some("planform.allowed_env".into()),
                "must be a literal list of environment variable names, e.g. [\"DEPLOY_ENV\"]",
            ));
            continue;
        };
        for item in items {
            match item {
                Expression::String(name) if is_credential(name) => diags.push(error(
                    &a.location_of(name),
                    Some("planform.allowed_env".into()),
                    format!("{name:?} holds credentials or tokens and is never readable by env(); pass what the manifests need as a variable"),
                )),
                Expression::String(name) if !name.is_empty() => {
                    allowed.insert(name.clone());
                }
                _ => diags.push(error(
                    &a.value_loc,
                    Some("planform.allowed_env".into()),
                    "must be a literal list of environment variable names, e.g. [\"DEPLOY_ENV\"]",
                )),
            }
        }
    }
    let vars = env
        .iter()
        .filter(|(k, _)| {
            !is_credential(k) && (allowed.contains(*k) || k.starts_with("PLANFORM_VAR_"))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (allowed, vars)
}

#[cfg(test)]
mod tests {
    use super::is_credential;

    #[test]
    fn credential_variables_are_recognised() {
        for name in [
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            "ALIBABA_CLOUD_SECURITY_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "PG_CONN_STR",
            "PGPASSWORD",
            "GITHUB_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "CI_JOB_JWT",
            "PLANFORM_STATE_PASSPHRASE",
            "deploy_key",
        ] {
            assert!(is_credential(name), "{name}");
        }
        for name in ["DEPLOY_ENV", "PLANFORM_VAR_region", "HOME", "TEAM"] {
            assert!(!is_credential(name), "{name}");
        }
    }
}
