//! Who may call the server: the configured long-lived keys, and the temporary credentials the
//! credential services issue (STS, instance metadata, a credentials URI). An issued key signs
//! requests like any other, must come with its security token, expires on the sandbox's clock,
//! and maps to the assumed role's principal. Issued keys live in memory: a restarted server has
//! forgotten them, as a real token outlives no server.

use std::collections::HashMap;
use std::sync::Mutex;

use super::AccessKey;

/// A caller's key as the faces check it: the key, the principal it acts as, and when it expires.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub key: AccessKey,
    pub principal: String,
    /// The account it acts in; `None`: the sandbox's own.
    pub account: Option<String>,
    /// An issued key's role session name (`None`: a configured key, a RAM user's).
    pub session: Option<String>,
    pub expires_ms: Option<u64>,
}

impl Caller {
    /// The account it acts in, as a partition names it: `None` for the sandbox's own (`own`,
    /// the face's default account), whether the key names it or not.
    pub fn foreign_account(&self, own: &str) -> Option<&str> {
        self.account.as_deref().filter(|a| *a != own)
    }
}

/// Temporary credentials as the services hand them out.
#[derive(Clone)]
pub(crate) struct Issued {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    pub expires_ms: u64,
}

/// Which cloud's spelling an issued key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cloud {
    Alibaba,
    Aws,
}

#[derive(Default)]
pub(crate) struct Principals {
    issued: Mutex<HashMap<String, Caller>>,
    /// Instance metadata session tokens and when they expire.
    metadata_tokens: Mutex<HashMap<String, u64>>,
}

/// Secrets and tokens come from the operating system's random source. A failing source is a
/// broken machine: the request that needed one fails with a 500 (the server catches the panic).
fn random(alphabet: &[u8], n: usize) -> String {
    super::keys::random_string(alphabet, n).expect("the operating system's random source works")
}

use super::keys::ALNUM;
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl Principals {
    /// Issues a key for `principal` of `account` (`None`: the sandbox's own) in role session
    /// `session`, valid until `expires_ms`, spelled as `cloud` spells them (`STS.…` and a
    /// `CAIS…` token for Alibaba, `ASIA…` and a session token for AWS).
    pub fn issue(
        &self,
        cloud: Cloud,
        principal: &str,
        account: Option<&str>,
        session: &str,
        expires_ms: u64,
    ) -> Issued {
        let (id, secret, token) = match cloud {
            Cloud::Alibaba => (
                format!("STS.{}", random(ALNUM, 25)),
                random(ALNUM, 44),
                format!("CAIS{}", random(ALNUM, 300)),
            ),
            Cloud::Aws => (
                format!("ASIA{}", random(UPPER, 16)),
                random(ALNUM, 40),
                format!("IQoJb3JpZ2luX2Vj{}", random(ALNUM, 300)),
            ),
        };
        let caller = Caller {
            key: AccessKey {
                id: id.clone(),
                secret: secret.clone(),
                token: Some(token.clone()),
                user: None,
                account: account.map(str::to_string),
            },
            principal: principal.to_string(),
            account: account.map(str::to_string),
            session: Some(session.to_string()),
            expires_ms: Some(expires_ms),
        };
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.insert(id.clone(), caller);
        Issued {
            access_key_id: id,
            access_key_secret: secret,
            security_token: token,
            expires_ms,
        }
    }

    /// An issued key by id (expired ones included: the faces say "expired", not "unknown").
    pub fn issued(&self, id: &str) -> Option<Caller> {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.get(id).cloned()
    }

    /// A new instance metadata session token, valid until `expires_ms`.
    pub fn metadata_token(&self, expires_ms: u64) -> String {
        let token = random(ALNUM, 56);
        let mut tokens = self
            .metadata_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        tokens.insert(token.clone(), expires_ms);
        token
    }

    /// Whether `token` is a metadata session token still valid at `now_ms`.
    pub fn metadata_token_valid(&self, token: &str, now_ms: u64) -> bool {
        let tokens = self
            .metadata_tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        tokens.get(token).is_some_and(|until| now_ms < *until)
    }
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"(sensitive value)")
            .field("security_token", &"(sensitive value)")
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_are_spelled_as_each_cloud_and_found_again() {
        let p = Principals::default();
        let a = p.issue(Cloud::Alibaba, "RamRole:planform-ci", None, "ci", 1_000);
        assert!(a.access_key_id.starts_with("STS.") && a.security_token.starts_with("CAIS"));
        let w = p.issue(
            Cloud::Aws,
            "RamRole:planform-ci",
            Some("210987654321"),
            "ci",
            2_000,
        );
        assert!(w.access_key_id.starts_with("ASIA") && w.access_key_id.len() == 20);
        let found = p.issued(&a.access_key_id).unwrap();
        assert_eq!(found.principal, "RamRole:planform-ci");
        assert_eq!(found.expires_ms, Some(1_000));
        assert_eq!(found.account, None);
        assert_eq!(
            p.issued(&w.access_key_id).unwrap().account.as_deref(),
            Some("210987654321")
        );
        assert_eq!(found.key.token.as_deref(), Some(a.security_token.as_str()));
        assert!(p.issued("STS.unknown").is_none());
        assert!(!format!("{a:?}").contains(&a.access_key_secret));
    }

    #[test]
    fn metadata_tokens_expire() {
        let p = Principals::default();
        let t = p.metadata_token(500);
        assert!(p.metadata_token_valid(&t, 499));
        assert!(!p.metadata_token_valid(&t, 500));
        assert!(!p.metadata_token_valid("other", 0));
    }
}
