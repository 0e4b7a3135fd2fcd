//! Client-side encryption of what planform keeps at rest (the state snapshot, each journal line,
//! PostgreSQL row payloads, plan files), as OpenTofu does: AES-256-GCM from RustCrypto with a
//! key that comes only from the environment, never from a manifest.
//!
//! The key is a raw 32-byte key (`PLANFORM_ENCRYPTION_KEY`, base64) or a passphrase
//! (`PLANFORM_ENCRYPTION_PASSPHRASE`, stretched with PBKDF2-HMAC-SHA256, 600,000 iterations, a
//! random salt stored in each envelope). A `…_FALLBACK` key reads what an older key wrote
//! (rotation: the primary key writes, both read). `PLANFORM_ENCRYPTION_MIGRATE=encrypt` lets a
//! run read plaintext so that what it writes is encrypted; `=decrypt` writes plaintext again.
//!
//! What is stored is an [`Envelope`]: a one-line JSON object whose header (format version, key
//! id, key derivation, salt) is authenticated with the ciphertext, together with a *context*
//! the caller names and does not store (`state`, `journal`, `plan`, a row's address), so an
//! envelope cannot be moved to another place and still open. A fresh random 96-bit nonce is
//! drawn for every envelope. The key id identifies a key without revealing it: the first 8 bytes
//! of a SHA-256 of the (derived) key.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use planform_model::Sensitive;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The raw key, 32 bytes in base64.
pub const KEY_VAR: &str = "PLANFORM_ENCRYPTION_KEY";
/// The passphrase, at least [`MIN_PASSPHRASE_CHARS`] characters.
pub const PASSPHRASE_VAR: &str = "PLANFORM_ENCRYPTION_PASSPHRASE";
/// The key an older run wrote with, read only (rotation).
pub const KEY_FALLBACK_VAR: &str = "PLANFORM_ENCRYPTION_KEY_FALLBACK";
/// The passphrase an older run wrote with, read only (rotation).
pub const PASSPHRASE_FALLBACK_VAR: &str = "PLANFORM_ENCRYPTION_PASSPHRASE_FALLBACK";
/// `encrypt` (read plaintext, write encrypted) or `decrypt` (read encrypted, write plaintext).
pub const MIGRATE_VAR: &str = "PLANFORM_ENCRYPTION_MIGRATE";

/// The envelope format this planform writes.
pub const FORMAT: u32 = 1;
/// PBKDF2 iterations for a passphrase (OWASP's figure for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// What a reader accepts: fewer is too weak to have been written by planform, more is a way to
/// make a reader spin.
const ITERATIONS_ACCEPTED: std::ops::RangeInclusive<u32> = 100_000..=10_000_000;
pub const MIN_PASSPHRASE_CHARS: usize = 16;
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const KDF_RAW: &str = "raw";
const KDF_PBKDF2: &str = "pbkdf2-sha256";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptionError {
    /// An environment variable of the key provider is set wrong; the value is never repeated.
    #[error("{variable} is not usable: {rule}")]
    Config {
        variable: &'static str,
        rule: String,
    },
    #[error("{origin} is encrypted, but no encryption key is set: set {KEY_VAR} or {PASSPHRASE_VAR} (the key it was written with) to read it")]
    NoKey { origin: String },
    #[error("{origin} was encrypted with a key (key id {key_id}) that is none of the keys set ({tried}): set the key it was written with, as {KEY_FALLBACK_VAR} or {PASSPHRASE_FALLBACK_VAR} when rotating; it was left untouched")]
    WrongKey {
        origin: String,
        key_id: String,
        tried: String,
    },
    #[error("{origin} does not authenticate with the key that wrote it: it was changed or damaged after it was written (or moved from another place); it was left untouched")]
    Tampered { origin: String },
    #[error("{origin} is not encrypted, but encryption is on ({variable} is set): to read it and write it back encrypted, run once with {MIGRATE_VAR}=encrypt; it was left untouched")]
    Plaintext {
        origin: String,
        variable: &'static str,
    },
    #[error("{origin} is not a valid encrypted file: {message}")]
    Malformed { origin: String, message: String },
    #[error("{origin} uses encryption format {version}, newer than this planform understands ({FORMAT}); upgrade planform")]
    TooNew { origin: String, version: u32 },
    #[error("cannot encrypt: {message}")]
    Seal { message: String },
}

/// A stored encrypted value: one line of JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The envelope format; always the first field, so a reader tells an envelope from plaintext
    /// by its first bytes ([`is_sealed`]).
    pub planform_encryption: u32,
    pub key_id: String,
    /// `raw` or `pbkdf2-sha256`.
    pub kdf: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub iterations: u32,
    /// Base64; empty for a raw key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub salt: String,
    pub nonce: String,
    pub ciphertext: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

const SEALED_PREFIX: &str = "{\"planform_encryption\"";

/// Whether `text` is an envelope (as [`Encryption::encode`] writes one) rather than plaintext.
pub fn is_sealed(text: &str) -> bool {
    text.trim_start().starts_with(SEALED_PREFIX)
}

/// Whether a JSON value (a database row) is an envelope.
pub fn is_sealed_value(v: &serde_json::Value) -> bool {
    v.get("planform_encryption").is_some()
}

/// What a key is made from.
enum Secret {
    Raw(Sensitive<[u8; 32]>),
    Passphrase(Sensitive<String>),
}

/// One key, and the variable it came from (for messages).
struct Key {
    secret: Secret,
    variable: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No key: plaintext written and read; an envelope is an error.
    Off,
    /// Written encrypted with the primary key; plaintext is an error.
    On,
    /// Written encrypted; plaintext read too.
    Encrypt,
    /// Written in plaintext; envelopes read with the keys set.
    Decrypt,
}

/// The key provider of one run: which keys read, whether writes are encrypted.
pub struct Encryption {
    mode: Mode,
    /// The primary key first (it writes), then the fallback.
    keys: Vec<Key>,
    /// The salt this run's passphrase writes with (random per run).
    salt: [u8; SALT_BYTES],
    /// Keys derived from a passphrase, by (key index, salt): one PBKDF2 per salt met.
    derived: Mutex<Vec<Derived>>,
}

/// A key derived from a passphrase: (key index, salt, key).
type Derived = (usize, Vec<u8>, Sensitive<[u8; 32]>);

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryption")
            .field("mode", &self.mode)
            .field(
                "keys",
                &self.keys.iter().map(|k| k.variable).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What [`Encryption::decode`] read.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// Whether it was stored encrypted.
    pub sealed: bool,
}

fn random<const N: usize>() -> Result<[u8; N], EncryptionError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| EncryptionError::Seal {
        message: format!("the operating system's randomness failed: {e}"),
    })?;
    Ok(b)
}

fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"planform-encryption key id\0");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

fn aad(context: &str, e: &Envelope) -> Vec<u8> {
    format!(
        "planform-encryption/{}\0{context}\0{}\0{}\0{}\0{}",
        e.planform_encryption, e.key_id, e.kdf, e.iterations, e.salt
    )
    .into_bytes()
}

fn env_value<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn read_key(
    env: &BTreeMap<String, String>,
    key_var: &'static str,
    passphrase_var: &'static str,
) -> Result<Option<Key>, EncryptionError> {
    match (env_value(env, key_var), env_value(env, passphrase_var)) {
        (Some(_), Some(_)) => Err(EncryptionError::Config {
            variable: key_var,
            rule: format!("set only one of {key_var} and {passphrase_var}"),
        }),
        (Some(k), None) => {
            let bytes = BASE64
                .decode(k.trim())
                .map_err(|_| EncryptionError::Config {
                    variable: key_var,
                    rule: "must be base64 (make one with `openssl rand -base64 32`)".into(),
                })?;
            let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| EncryptionError::Config {
                variable: key_var,
                rule: format!(
                    "must be 32 bytes in base64 (make one with `openssl rand -base64 32`); it decodes to {} bytes",
                    b.len()
                ),
            })?;
            Ok(Some(Key {
                secret: Secret::Raw(Sensitive::new(key)),
                variable: key_var,
            }))
        }
        (None, Some(p)) => {
            if p.chars().count() < MIN_PASSPHRASE_CHARS {
                return Err(EncryptionError::Config {
                    variable: passphrase_var,
                    rule: format!("must be at least {MIN_PASSPHRASE_CHARS} characters"),
                });
            }
            Ok(Some(Key {
                secret: Secret::Passphrase(Sensitive::new(p.to_string())),
                variable: passphrase_var,
            }))
        }
        (None, None) => Ok(None),
    }
}

impl Encryption {
    /// No encryption: plaintext is written and read; an encrypted file is an error that says
    /// which variable to set.
    pub fn off() -> Encryption {
        Encryption::new(Mode::Off, vec![])
    }

    /// Encryption with a raw key (tests, benchmarks).
    pub fn with_key(key: [u8; 32]) -> Encryption {
        Encryption::new(
            Mode::On,
            vec![Key {
                secret: Secret::Raw(Sensitive::new(key)),
                variable: KEY_VAR,
            }],
        )
    }

    fn new(mode: Mode, keys: Vec<Key>) -> Encryption {
        Encryption {
            mode,
            keys,
            // A failure of the OS randomness surfaces at the first seal, which draws a nonce.
            salt: random().unwrap_or([0; SALT_BYTES]),
            derived: Mutex::new(vec![]),
        }
    }

    /// The key provider the environment describes (see the crate documentation).
    pub fn from_env(env: &BTreeMap<String, String>) -> Result<Encryption, EncryptionError> {
        let primary = read_key(env, KEY_VAR, PASSPHRASE_VAR)?;
        let fallback = read_key(env, KEY_FALLBACK_VAR, PASSPHRASE_FALLBACK_VAR)?;
        let migrate = env_value(env, MIGRATE_VAR);
        let mode = match (migrate, &primary, &fallback) {
            (Some("encrypt"), Some(_), _) => Mode::Encrypt,
            (Some("encrypt"), None, _) => {
                return Err(EncryptionError::Config {
                    variable: MIGRATE_VAR,
                    rule: format!("=encrypt needs the key to encrypt with in {KEY_VAR} or {PASSPHRASE_VAR}"),
                })
            }
            (Some("decrypt"), None, None) => {
                return Err(EncryptionError::Config {
                    variable: MIGRATE_VAR,
                    rule: format!("=decrypt needs the key the state was encrypted with in {KEY_VAR} or {PASSPHRASE_VAR}"),
                })
            }
            (Some("decrypt"), _, _) => Mode::Decrypt,
            (Some(_), _, _) => {
                return Err(EncryptionError::Config {
                    variable: MIGRATE_VAR,
                    rule: "must be `encrypt` (read plaintext, write encrypted) or `decrypt` (read encrypted, write plaintext)".into(),
                })
            }
            (None, Some(_), _) => Mode::On,
            (None, None, Some(f)) => {
                return Err(EncryptionError::Config {
                    variable: f.variable,
                    rule: format!("a fallback key only reads: set the new key in {KEY_VAR} or {PASSPHRASE_VAR} (rotation), or {MIGRATE_VAR}=decrypt to decrypt"),
                })
            }
            (None, None, None) => Mode::Off,
        };
        Ok(Encryption::new(
            mode,
            primary.into_iter().chain(fallback).collect(),
        ))
    }

    /// Whether what is written is encrypted (and so may hold sensitive values).
    pub fn writes_encrypted(&self) -> bool {
        matches!(self.mode, Mode::On | Mode::Encrypt)
    }

    /// The variable that turned encryption on, for messages; `None` when off.
    pub fn variable(&self) -> Option<&'static str> {
        self.keys.first().map(|k| k.variable)
    }

    /// The 32-byte key of `keys[index]` for an envelope with this derivation and salt.
    fn key_for(
        &self,
        index: usize,
        kdf: &str,
        iterations: u32,
        salt: &[u8],
    ) -> Option<Sensitive<[u8; 32]>> {
        match (&self.keys[index].secret, kdf) {
            (Secret::Raw(k), KDF_RAW) => Some(k.clone()),
            (Secret::Passphrase(p), KDF_PBKDF2) => {
                let mut cache = self.derived.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((_, _, k)) = cache.iter().find(|(i, s, _)| *i == index && s == salt) {
                    return Some(k.clone());
                }
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(p.expose().as_bytes(), salt, iterations, &mut out);
                let k = Sensitive::new(out);
                cache.push((index, salt.to_vec(), k.clone()));
                Some(k)
            }
            _ => None,
        }
    }

    /// `plaintext` sealed with the primary key for `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Envelope, EncryptionError> {
        let Some(primary) = self.keys.first() else {
            return Err(EncryptionError::Seal {
                message: format!("no key is set ({KEY_VAR} or {PASSPHRASE_VAR})"),
            });
        };
        let (kdf, iterations, salt) = match primary.secret {
            Secret::Raw(_) => (KDF_RAW, 0, String::new()),
            Secret::Passphrase(_) => (KDF_PBKDF2, PBKDF2_ITERATIONS, BASE64.encode(self.salt)),
        };
        let key = self
            .key_for(0, kdf, iterations, &self.salt)
            .expect("the primary key matches its own derivation");
        let nonce: [u8; NONCE_BYTES] = random()?;
        let mut envelope = Envelope {
            planform_encryption: FORMAT,
            key_id: key_id(key.expose()),
            kdf: kdf.to_string(),
            iterations,
            salt,
            nonce: BASE64.encode(nonce),
            ciphertext: String::new(),
        };
        let cipher = Aes256Gcm::new(key.expose().into());
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad(context, &envelope),
                },
            )
            .map_err(|_| EncryptionError::Seal {
                message: "the value is too large for AES-GCM".into(),
            })?;
        envelope.ciphertext = BASE64.encode(sealed);
        Ok(envelope)
    }

    /// The plaintext of `envelope`, sealed for `context`; `origin` names it in errors.
    pub fn open(
        &self,
        context: &str,
        envelope: &Envelope,
        origin: &str,
    ) -> Result<Vec<u8>, EncryptionError> {
        let malformed = |message: &str| EncryptionError::Malformed {
            origin: origin.to_string(),
            message: message.to_string(),
        };
        if envelope.planform_encryption > FORMAT {
            return Err(EncryptionError::TooNew {
                origin: origin.to_string(),
                version: envelope.planform_encryption,
            });
        }
        if envelope.planform_encryption == 0 {
            return Err(malformed("format version 0"));
        }
        if self.keys.is_empty() {
            return Err(EncryptionError::NoKey {
                origin: origin.to_string(),
            });
        }
        let salt = match envelope.kdf.as_str() {
            KDF_RAW if envelope.salt.is_empty() && envelope.iterations == 0 => vec![],
            KDF_PBKDF2 if ITERATIONS_ACCEPTED.contains(&envelope.iterations) => {
                let s = BASE64
                    .decode(&envelope.salt)
                    .map_err(|_| malformed("the salt is not base64"))?;
                if s.len() < SALT_BYTES {
                    return Err(malformed("the salt is too short"));
                }
                s
            }
            KDF_PBKDF2 => return Err(malformed("the PBKDF2 iteration count is out of range")),
            _ => return Err(malformed("unknown key derivation")),
        };
        let nonce = BASE64
            .decode(&envelope.nonce)
            .ok()
            .filter(|n| n.len() == NONCE_BYTES)
            .ok_or_else(|| malformed("the nonce is not 12 bytes of base64"))?;
        let ciphertext = BASE64
            .decode(&envelope.ciphertext)
            .map_err(|_| malformed("the ciphertext is not base64"))?;
        let key = (0..self.keys.len())
            .filter_map(|i| self.key_for(i, &envelope.kdf, envelope.iterations, &salt))
            .find(|k| key_id(k.expose()) == envelope.key_id)
            .ok_or_else(|| EncryptionError::WrongKey {
                origin: origin.to_string(),
                key_id: envelope.key_id.chars().take(16).collect(),
                tried: self
                    .keys
                    .iter()
                    .map(|k| k.variable)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Aes256Gcm::new(key.expose().into())
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad(context, envelope),
                },
            )
            .map_err(|_| EncryptionError::Tampered {
                origin: origin.to_string(),
            })
    }

    /// Whether `stored` (a snapshot or journal line as read back) is in another form than this
    /// run writes, so that a run holding the lock rewrites it: plaintext while writes are
    /// encrypted (`MIGRATE=encrypt`), an envelope while they are not (`MIGRATE=decrypt`), or an
    /// envelope of another key than the primary (rotation: written with the fallback).
    pub fn is_stale(&self, stored: &str) -> bool {
        if !is_sealed(stored) {
            return self.writes_encrypted();
        }
        match serde_json::from_str::<Envelope>(stored) {
            Ok(e) => self.is_stale_header(&e.kdf, e.iterations, &e.salt, &e.key_id),
            Err(_) => true,
        }
    }

    /// [`Encryption::is_stale`] of a JSON value (a database row).
    pub fn is_stale_value(&self, stored: &serde_json::Value) -> bool {
        if !is_sealed_value(stored) {
            return self.writes_encrypted();
        }
        let text = |field: &str| stored.get(field).and_then(|v| v.as_str());
        let iterations = match stored.get("iterations") {
            None => Some(0),
            Some(v) => v.as_u64().and_then(|n| u32::try_from(n).ok()),
        };
        match (text("kdf"), iterations, text("key_id")) {
            (Some(kdf), Some(iterations), Some(key_id)) => {
                self.is_stale_header(kdf, iterations, text("salt").unwrap_or(""), key_id)
            }
            _ => true,
        }
    }

    /// Whether an envelope with this header was sealed otherwise than this run seals: by
    /// another key than the primary, or at all when writes are plaintext. The primary key's
    /// derivation for a passphrase is cached per salt, so the check after opening costs no
    /// second PBKDF2.
    fn is_stale_header(&self, kdf: &str, iterations: u32, salt: &str, envelope_key: &str) -> bool {
        if !self.writes_encrypted() {
            return true;
        }
        let salt = match kdf {
            KDF_RAW => vec![],
            // An iteration count `open` refuses is never spent on.
            KDF_PBKDF2 if ITERATIONS_ACCEPTED.contains(&iterations) => match BASE64.decode(salt) {
                Ok(s) => s,
                Err(_) => return true,
            },
            _ => return true,
        };
        match self.key_for(0, kdf, iterations, &salt) {
            Some(k) => key_id(k.expose()) != envelope_key,
            None => true,
        }
    }

    /// Refuses plaintext where encryption is on (outside a migration).
    pub fn accept_plaintext(&self, origin: &str) -> Result<(), EncryptionError> {
        match self.mode {
            Mode::On => Err(EncryptionError::Plaintext {
                origin: origin.to_string(),
                variable: self.variable().unwrap_or(KEY_VAR),
            }),
            Mode::Off | Mode::Encrypt | Mode::Decrypt => Ok(()),
        }
    }

    /// `text` as it is stored: sealed for `context` (a one-line envelope) when writes are
    /// encrypted, else itself.
    pub fn encode(&self, context: &str, text: &str) -> Result<String, EncryptionError> {
        if !self.writes_encrypted() {
            return Ok(text.to_string());
        }
        let e = self.seal(context, text.as_bytes())?;
        Ok(serde_json::to_string(&e).expect("an envelope serialises"))
    }

    /// What `stored` holds: opened when it is an envelope, itself when plaintext is acceptable.
    pub fn decode(
        &self,
        context: &str,
        stored: &str,
        origin: &str,
    ) -> Result<Decoded, EncryptionError> {
        if !is_sealed(stored) {
            self.accept_plaintext(origin)?;
            return Ok(Decoded {
                text: stored.to_string(),
                sealed: false,
            });
        }
        let envelope: Envelope =
            serde_json::from_str(stored).map_err(|e| EncryptionError::Malformed {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        self.open_text(context, &envelope, origin)
    }

    /// [`Encryption::decode`] of a JSON value (a database row): an envelope object or plaintext.
    pub fn decode_value(
        &self,
        context: &str,
        stored: serde_json::Value,
        origin: &str,
    ) -> Result<serde_json::Value, EncryptionError> {
        if !is_sealed_value(&stored) {
            self.accept_plaintext(origin)?;
            return Ok(stored);
        }
        let malformed = |e: serde_json::Error| EncryptionError::Malformed {
            origin: origin.to_string(),
            message: e.to_string(),
        };
        let envelope: Envelope = serde_json::from_value(stored).map_err(malformed)?;
        let text = self.open_text(context, &envelope, origin)?.text;
        serde_json::from_str(&text).map_err(malformed)
    }

    /// [`Encryption::encode`] of a JSON value: an envelope object when writes are encrypted.
    pub fn encode_value(
        &self,
        context: &str,
        value: serde_json::Value,
    ) -> Result<serde_json::Value, EncryptionError> {
        if !self.writes_encrypted() {
            return Ok(value);
        }
        let e = self.seal(context, value.to_string().as_bytes())?;
        Ok(serde_json::to_value(e).expect("an envelope serialises"))
    }

    fn open_text(
        &self,
        context: &str,
        envelope: &Envelope,
        origin: &str,
    ) -> Result<Decoded, EncryptionError> {
        let bytes = self.open(context, envelope, origin)?;
        let text = String::from_utf8(bytes).map_err(|_| EncryptionError::Malformed {
            origin: origin.to_string(),
            message: "the plaintext is not UTF-8".into(),
        })?;
        Ok(Decoded { text, sealed: true })
    }
}

#[cfg(test)]
mod tests;
