//! The long-lived keys `sandbox serve` accepts: generated from the operating system's random
//! source, or read from a key file that only its owner may read (checked as ssh checks a
//! private key), from the environment, or from the command line.

use std::io::Read;
use std::path::{Path, PathBuf};

/// A key pair the server accepts, with an optional STS token that must come with it, the RAM
/// user it belongs to, and that user's account.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub token: Option<String>,
    /// The user's name (`dba=ID:SECRET`); without one, [`AccessKey::user_name`] makes one up.
    pub user: Option<String>,
    /// The user's account (`dba@2000000000000001=ID:SECRET`, as RAM spells a user's principal
    /// name `dba@<account>`); `None`: the sandbox's own (`Settings::account_id` on the Alibaba
    /// face, `aws_account_id` on the AWS face). A request sees only its account's records.
    pub account: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"(sensitive value)")
            .field("token", &self.token.as_ref().map(|_| "(sensitive value)"))
            .field("user", &self.user)
            .field("account", &self.account)
            .finish()
    }
}

/// Why keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
    #[error("access key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("access key file {path}: not a regular file")]
    NotAFile { path: PathBuf },
    #[error(
        "access key file {path}: permissions {mode:04o} are too open; it must not be readable or \
         writable by group or others (chmod 600 {path})"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("access key file {path}: owned by uid {owner}, not by you (uid {user}) or root")]
    NotOwned {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error("access key file {path}: larger than {max} bytes")]
    TooLarge { path: PathBuf, max: u64 },
    #[error("access key file {path}:{line}: expected [USER[@ACCOUNT]=]ID:SECRET[:TOKEN] (USER: 1 to 64 letters, digits, '.', '_', '-'; ACCOUNT: 1 to 32 digits)")]
    Malformed { path: PathBuf, line: usize },
    #[error("access key file {path}: no key in it")]
    Empty { path: PathBuf },
}

/// Key files are a few lines; anything bigger is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Letters and digits, as both clouds spell key ids and secrets.
pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `n` characters of `alphabet`, each drawn uniformly from the operating system's random source
/// (rejection sampling, so no character is likelier than another).
pub(crate) fn random_string(alphabet: &[u8], n: usize) -> Result<String, KeyError> {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    // The largest multiple of the alphabet's size that fits in a byte: bytes at or above it are
    // drawn again.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(KeyError::Random)?;
        for b in buf {
            if out.len() == n {
                break;
            }
            if usize::from(b) < limit {
                out.push(alphabet[usize::from(b) % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

impl AccessKey {
    /// `ID:SECRET` or `ID:SECRET:TOKEN`, optionally after the RAM user's name: `USER=ID:SECRET`
    /// (a name is 1 to 64 letters, digits, `.`, `_` and `-`, as RAM user names), and the user's
    /// account after the name: `USER@ACCOUNT=ID:SECRET` (1 to 32 digits).
    pub fn parse(s: &str) -> Option<AccessKey> {
        let (principal, rest) = match s.split_once(':')?.0.split_once('=') {
            Some((principal, _)) => (Some(principal), &s[principal.len() + 1..]),
            None => (None, s),
        };
        let (user, account) = match principal.map(|p| p.split_once('@').ok_or(p)) {
            None => (None, None),
            Some(Ok((user, account))) => (Some(user), Some(account)),
            Some(Err(user)) => (Some(user), None),
        };
        if user.is_some_and(|u| !is_user_name(u))
            || account.is_some_and(|a| !crate::core::partition::is_account(a))
        {
            return None;
        }
        let mut parts = rest.splitn(3, ':');
        let id = parts.next().filter(|x| !x.is_empty())?;
        let secret = parts.next().filter(|x| !x.is_empty())?;
        Some(AccessKey {
            id: id.into(),
            secret: secret.into(),
            token: parts.next().map(str::to_string),
            user: user.map(str::to_string),
            account: account.map(str::to_string),
        })
    }

    /// The RAM user the key belongs to, as `OwnerPrincipalName` and approvals name it: the
    /// name it was given, else `user-` and 8 characters derived from the key id (stable, and
    /// revealing nothing of the id, which is half a credential).
    pub fn user_name(&self) -> String {
        match &self.user {
            Some(u) => u.clone(),
            None => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(format!("sandbox-user:{}", self.id));
                let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
                format!("user-{hex}")
            }
        }
    }

    /// A new key pair from the operating system's random source: an Alibaba-style id
    /// (`LTAIsbx` and 17 random characters) and a 30-character secret (about 178 bits), drawn
    /// independently, so the printed id says nothing about the secret.
    pub fn generate() -> Result<AccessKey, KeyError> {
        Ok(AccessKey {
            id: format!("LTAIsbx{}", random_string(ALNUM, 17)?),
            secret: random_string(ALNUM, 30)?,
            token: None,
            user: None,
            account: None,
        })
    }

    /// The keys in a key file: one `ID:SECRET` or `ID:SECRET:TOKEN` a line; blank lines and
    /// lines starting with `#` are skipped. Like ssh with a private key, the file must be a
    /// regular file owned by the caller (or root) that neither group nor others may read or
    /// write, or it is refused before it is read.
    pub fn from_file(path: &Path) -> Result<Vec<AccessKey>, KeyError> {
        let read = |source| KeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        let meta = file.metadata().map_err(read)?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        check_private(path, &meta)?;
        if meta.len() > MAX_KEY_FILE {
            return Err(KeyError::TooLarge {
                path: path.to_path_buf(),
                max: MAX_KEY_FILE,
            });
        }
        let mut text = String::new();
        file.take(MAX_KEY_FILE + 1)
            .read_to_string(&mut text)
            .map_err(read)?;
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.push(AccessKey::parse(line).ok_or_else(|| KeyError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
            })?);
        }
        if keys.is_empty() {
            return Err(KeyError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(keys)
    }
}

/// A RAM user name: 1 to 64 letters, digits, `.`, `_` and `-`.
fn is_user_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), KeyError> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user && meta.uid() != 0 {
        return Err(KeyError::NotOwned {
            path: path.to_path_buf(),
            owner: meta.uid(),
            user,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), KeyError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_may_name_its_user_and_otherwise_gets_a_name_not_its_id() {
        let named = AccessKey::parse("dba=dbaid:dbasecret:tok").unwrap();
        assert_eq!(
            (
                named.id.as_str(),
                named.secret.as_str(),
                named.token.as_deref()
            ),
            ("dbaid", "dbasecret", Some("tok"))
        );
        assert_eq!(named.user_name(), "dba");
        let plain = AccessKey::parse("LTAIsbxabc:s").unwrap();
        assert_eq!(plain.user, None);
        let name = plain.user_name();
        assert!(name.starts_with("user-") && name.len() == 13, "{name}");
        assert!(!name.contains("LTAI"));
        assert_eq!(
            name,
            AccessKey::parse("LTAIsbxabc:other").unwrap().user_name()
        );
        assert_eq!(named.account, None, "the sandbox's own account");
        // A secret or token may hold '='; only the part before the id names a user.
        assert_eq!(AccessKey::parse("id:se=cret").unwrap().secret, "se=cret");
        let elsewhere = AccessKey::parse("ci@2000000000000001=ciid:cisecret").unwrap();
        assert_eq!(
            (
                elsewhere.user_name().as_str(),
                elsewhere.account.as_deref(),
                elsewhere.id.as_str()
            ),
            ("ci", Some("2000000000000001"), "ciid")
        );
        for bad in [
            "=id:s",
            "bad name=id:s",
            "a/b=id:s",
            &format!("{}=id:s", "u".repeat(65)),
            "ci@=id:s",
            "@2000=id:s",
            "ci@12ab=id:s",
            "ci@1@2=id:s",
            &format!("ci@{}=id:s", "1".repeat(33)),
        ] {
            assert_eq!(AccessKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_never_print_secrets() {
        let k = AccessKey::parse("id:secret:token").unwrap();
        assert!(!format!("{k:?}").contains("secret\"") && !format!("{k:?}").contains("token\""));
    }

    #[test]
    fn generated_keys_are_long_independent_and_unique() {
        let a = AccessKey::generate().unwrap();
        let b = AccessKey::generate().unwrap();
        assert!(a.id.starts_with("LTAIsbx") && a.id.len() == 24, "{}", a.id);
        assert_eq!(a.secret.len(), 30);
        assert!(a.secret.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.id, b.id);
        // Nothing of the secret is in the id (the old key split one hash in two halves).
        assert!(!a.id.contains(&a.secret[..8]));
        assert_eq!(a.token, None);
    }

    #[test]
    fn random_strings_use_the_whole_alphabet_evenly() {
        // 62 × 10,000 draws: each character's count is within 5 standard deviations (±500) of
        // its share. A modulo-biased draw (256 % 62 = 8 characters drawn 5/256 of the time
        // instead of 1/62: about 12,100 each) or a stuck source would break this.
        let s = random_string(ALNUM, 620_000).unwrap();
        let mut counts = [0u32; 256];
        for b in s.bytes() {
            counts[usize::from(b)] += 1;
        }
        for &c in ALNUM {
            let n = counts[usize::from(c)];
            assert!(
                (9_500..=10_500).contains(&n),
                "{} drawn {n} times",
                c as char
            );
        }
    }

    fn key_file(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn key_files_hold_one_key_a_line() {
        let (_d, path) = key_file("# ci keys\nid1:secret1\n\n  id2:secret2:token2  \n", 0o600);
        let keys = AccessKey::from_file(&path).unwrap();
        assert_eq!(
            keys,
            vec![
                AccessKey::parse("id1:secret1").unwrap(),
                AccessKey::parse("id2:secret2:token2").unwrap()
            ]
        );
        let (_d, path) = key_file("id1:secret1\n", 0o400);
        assert_eq!(AccessKey::from_file(&path).unwrap().len(), 1);
    }

    #[test]
    fn key_files_readable_by_others_are_refused() {
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602, 0o620] {
            let (_d, path) = key_file("id1:secret1\n", mode);
            let e = AccessKey::from_file(&path).unwrap_err();
            assert!(
                matches!(e, KeyError::TooOpen { mode: m, .. } if m == mode),
                "{mode:o}: {e}"
            );
            let text = e.to_string();
            assert!(
                text.contains(&format!("{mode:04o}")) && text.contains("chmod 600"),
                "{text}"
            );
            // The secret is never echoed back.
            assert!(!text.contains("secret1"));
        }
    }

    #[test]
    fn bad_key_files_name_the_file_and_line() {
        let (_d, path) = key_file("id1:secret1\njustanid\n", 0o600);
        let e = AccessKey::from_file(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "access key file {}:2: expected [USER[@ACCOUNT]=]ID:SECRET[:TOKEN] (USER: 1 to 64 letters, digits, '.', '_', '-'; ACCOUNT: 1 to 32 digits)",
                path.display()
            )
        );
        let (_d, path) = key_file("# nothing\n", 0o600);
        assert!(matches!(
            AccessKey::from_file(&path),
            Err(KeyError::Empty { .. })
        ));
        let e = AccessKey::from_file(Path::new("/nonexistent/keys")).unwrap_err();
        assert!(matches!(e, KeyError::Read { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            AccessKey::from_file(dir.path()),
            Err(KeyError::NotAFile { .. }) | Err(KeyError::TooOpen { .. })
        ));
        let (_d, path) = key_file(&"x".repeat(70_000), 0o600);
        assert!(matches!(
            AccessKey::from_file(&path),
            Err(KeyError::TooLarge { .. })
        ));
    }
}
