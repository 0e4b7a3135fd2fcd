//! What the clients log of a request (tracing events at `debug`; header names and values at
//! `trace`), and what they never log: credentials, signatures and security tokens are redacted,
//! and neither parameter values nor answer bodies are logged at all, since the client cannot
//! tell which plan parameters are sensitive.

/// The target of the request and response events.
pub const TARGET: &str = "planform_client::request";

/// What replaces a secret.
pub const REDACTED: &str = "(redacted)";

/// Whether a header or parameter carries a secret: a signature, a credential or a token.
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "signature",
        "token",
        "secret",
        "credential",
        "accesskey",
        "access-key",
        "cookie",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Headers as `name: value` pairs for a log line, secrets redacted.
pub fn headers<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .map(|(k, v)| {
            let v = if is_secret(k) { REDACTED } else { v };
            format!("{k}: {v}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_the_rest_kept() {
        let shown = headers(
            [
                (
                    "Authorization",
                    "ACS3-HMAC-SHA256 Credential=id,Signature=abc",
                ),
                ("x-acs-security-token", "sts-token"),
                ("X-Amz-Security-Token", "aws-token"),
                ("x-acs-action", "ListProvisionedProductPlans"),
                ("x-acs-date", "2026-01-01T00:00:00Z"),
            ]
            .into_iter(),
        );
        assert_eq!(
            shown,
            "Authorization: (redacted); x-acs-security-token: (redacted); \
             X-Amz-Security-Token: (redacted); x-acs-action: ListProvisionedProductPlans; \
             x-acs-date: 2026-01-01T00:00:00Z"
        );
        assert!(is_secret("Signature") && is_secret("SecurityToken") && is_secret("AccessKeyId"));
        assert!(!is_secret("PlanName"));
    }
}
