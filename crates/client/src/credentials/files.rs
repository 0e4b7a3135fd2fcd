//! The two credential files, read into a [`Source`]: the aliyun CLI's `~/.aliyun/config.json`
//! (a profile per mode the CLI writes) and the credentials SDKs' INI file
//! (`~/.alibabacloud/credentials.ini`, a section per profile). Every error names the file, the
//! profile and the field, never a secret's value.

use std::collections::BTreeMap;
use std::path::Path;

use planform_model::Sensitive;
use serde_json::Value;

use super::{AlibabaCredentials, CredentialError, Env, RoleRequest, Source};

/// The profiles of a `config.json`, by name, and its `current` profile.
#[derive(Debug)]
pub struct CliConfig {
    pub path: String,
    pub current: Option<String>,
    profiles: Vec<Value>,
}

fn config_error(path: &str, message: impl Into<String>) -> CredentialError {
    CredentialError::Config {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Parses a `config.json` (`text` read from `path`).
pub fn cli_config(path: &str, text: &str) -> Result<CliConfig, CredentialError> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json's message names the line and column, never the text.
        config_error(path, format!("not valid JSON: {e}"))
    })?;
    let profiles = match v.get("profiles") {
        Some(Value::Array(a)) => a.clone(),
        None => vec![],
        Some(_) => return Err(config_error(path, "profiles: must be a list of profiles")),
    };
    let current = match v.get("current") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(config_error(path, "current: must be a profile name")),
    };
    Ok(CliConfig {
        path: path.to_string(),
        current,
        profiles,
    })
}

impl CliConfig {
    pub fn has(&self, name: &str) -> bool {
        self.profile(name).is_some()
    }

    fn profile(&self, name: &str) -> Option<&Value> {
        self.profiles
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
    }

    /// The profile `name` as a source. `env` gives the defaults the SDKs take from the
    /// environment (STS endpoint, session name); `now_ms` checks a stored token's expiry.
    pub fn source(&self, name: &str, env: &Env, now_ms: u64) -> Result<Source, CredentialError> {
        self.source_within(name, env, now_ms, &mut vec![])
    }

    fn source_within(
        &self,
        name: &str,
        env: &Env,
        now_ms: u64,
        seen: &mut Vec<String>,
    ) -> Result<Source, CredentialError> {
        let path = &self.path;
        if seen.iter().any(|s| s == name) {
            seen.push(name.to_string());
            return Err(config_error(
                path,
                format!(
                    "source_profile: the profiles form a cycle: {}",
                    seen.join(" -> ")
                ),
            ));
        }
        seen.push(name.to_string());
        let p = self
            .profile(name)
            .ok_or_else(|| config_error(path, format!("no profile named {name:?}")))?;
        let field = |k: &str| -> Result<Option<String>, CredentialError> {
            match p.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(config_error(
                    path,
                    format!("profile {name:?}: {k}: must be a string"),
                )),
            }
        };
        let need = |k: &str| -> Result<String, CredentialError> {
            field(k)?.ok_or_else(|| {
                config_error(
                    path,
                    format!("profile {name:?}: {k}: missing (the profile's mode needs it)"),
                )
            })
        };
        let number = |k: &str| -> Result<Option<u64>, CredentialError> {
            match p.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
                    config_error(
                        path,
                        format!("profile {name:?}: {k}: must be a whole number"),
                    )
                }),
                Some(_) => Err(config_error(
                    path,
                    format!("profile {name:?}: {k}: must be a whole number"),
                )),
            }
        };
        let role = |env: &Env| -> Result<RoleRequest, CredentialError> {
            let duration_s = match number("expired_seconds")? {
                None | Some(0) => 3600,
                Some(s) if s < 900 => {
                    return Err(config_error(
                        path,
                        format!(
                            "profile {name:?}: expired_seconds: {s} is below the 900 seconds STS allows"
                        ),
                    ))
                }
                Some(s) => s,
            };
            let vpc = p
                .get("enable_vpc")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Ok(RoleRequest {
                role_arn: need("ram_role_arn")?,
                session_name: field("ram_session_name")?
                    .unwrap_or_else(|| super::session_name(env)),
                duration_s,
                policy: field("policy")?,
                external_id: field("external_id")?,
                sts_endpoint: super::sts_endpoint(env, field("sts_region")?.as_deref(), vpc),
            })
        };
        let mode = field("mode")?.unwrap_or_else(|| "AK".into());
        let keys =
            |token: Option<Sensitive<String>>| -> Result<AlibabaCredentials, CredentialError> {
                Ok(AlibabaCredentials {
                    access_key_id: need("access_key_id")?,
                    access_key_secret: Sensitive::new(need("access_key_secret")?),
                    security_token: token,
                })
            };
        match mode.as_str() {
            "AK" => Ok(Source::Static {
                credentials: keys(None)?,
                expires_ms: None,
            }),
            "StsToken" => {
                let expires_ms = number("sts_expiration")?
                    .filter(|s| *s > 0)
                    .map(|s| s.saturating_mul(1000));
                if let Some(until) = expires_ms.filter(|until| *until <= now_ms) {
                    return Err(config_error(
                        path,
                        format!(
                            "profile {name:?}: sts_expiration: the STS token expired at {}; get a new one (aliyun configure) or use a mode that refreshes (RamRoleArn, OIDC, EcsRamRole)",
                            planform_wire::iso8601(until)
                        ),
                    ));
                }
                Ok(Source::Static {
                    credentials: keys(Some(Sensitive::new(need("sts_token")?)))?,
                    expires_ms,
                })
            }
            "RamRoleArn" => Ok(Source::AssumeRole {
                base: Box::new(Source::Static {
                    credentials: keys(field("sts_token")?.map(Sensitive::new))?,
                    expires_ms: None,
                }),
                role: role(env)?,
            }),
            "ChainableRamRoleArn" => {
                let source = need("source_profile")?;
                let base = self.source_within(&source, env, now_ms, seen)?;
                Ok(Source::AssumeRole {
                    base: Box::new(base),
                    role: role(env)?,
                })
            }
            "EcsRamRole" => Ok(Source::EcsRole {
                role_name: field("ram_role_name")?,
                metadata: super::metadata_endpoint(env),
                disable_v1: super::flag(env, "ALIBABA_CLOUD_IMDSV1_DISABLED"),
            }),
            "OIDC" => Ok(Source::Oidc {
                token_file: need("oidc_token_file")?.into(),
                provider_arn: need("oidc_provider_arn")?,
                role: role(env)?,
            }),
            "CredentialsURI" => Ok(Source::Uri {
                url: need("credentials_uri")?,
            }),
            other => Err(CredentialError::UnsupportedMode {
                profile: name.to_string(),
                path: path.clone(),
                mode: other.to_string(),
            }),
        }
    }
}

/// An INI file: sections of `key = value` lines; `#` and `;` start comments.
pub fn ini(
    path: &str,
    text: &str,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, CredentialError> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| {
                config_error(
                    path,
                    format!("line {}: a section header must end with ]", n + 1),
                )
            })?;
            let name = name.trim().to_string();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| config_error(path, format!("line {}: expected key = value", n + 1)))?;
        let section = current.as_ref().ok_or_else(|| {
            config_error(
                path,
                format!("line {}: {} is outside any [section]", n + 1, k.trim()),
            )
        })?;
        let v = v.trim().trim_matches('"').to_string();
        sections
            .entry(section.clone())
            .or_default()
            .insert(k.trim().to_string(), v);
    }
    Ok(sections)
}

/// The section `name` of an INI credentials file as a source (`type` = `access_key`, `sts`,
/// `ecs_ram_role`, `ram_role_arn`, `oidc_role_arn` or `credentials_uri`).
pub fn ini_source(
    path: &str,
    name: &str,
    section: &BTreeMap<String, String>,
    env: &Env,
) -> Result<Source, CredentialError> {
    let field = |k: &str| section.get(k).filter(|v| !v.is_empty()).cloned();
    let need = |k: &str| {
        field(k).ok_or_else(|| {
            config_error(
                path,
                format!(
                    "[{name}]: {k}: missing (type {} needs it)",
                    field("type").unwrap_or_default()
                ),
            )
        })
    };
    let kind =
        field("type").ok_or_else(|| config_error(path, format!("[{name}]: type: missing")))?;
    let keys = |token: Option<Sensitive<String>>| -> Result<AlibabaCredentials, CredentialError> {
        Ok(AlibabaCredentials {
            access_key_id: need("access_key_id")?,
            access_key_secret: Sensitive::new(need("access_key_secret")?),
            security_token: token,
        })
    };
    let role = |env: &Env| -> Result<RoleRequest, CredentialError> {
        let duration_s = match field("duration_seconds") {
            None => 3600,
            Some(s) => s.parse().ok().filter(|d| *d >= 900).ok_or_else(|| {
                config_error(
                    path,
                    format!("[{name}]: duration_seconds: must be a whole number of seconds, 900 or more"),
                )
            })?,
        };
        Ok(RoleRequest {
            role_arn: need("role_arn")?,
            session_name: field("role_session_name").unwrap_or_else(|| super::session_name(env)),
            duration_s,
            policy: field("policy"),
            external_id: field("external_id"),
            sts_endpoint: super::sts_endpoint(env, field("sts_region").as_deref(), false),
        })
    };
    match kind.as_str() {
        "access_key" => Ok(Source::Static {
            credentials: keys(None)?,
            expires_ms: None,
        }),
        "sts" => Ok(Source::Static {
            credentials: keys(Some(Sensitive::new(need("security_token")?)))?,
            expires_ms: None,
        }),
        "ram_role_arn" => Ok(Source::AssumeRole {
            base: Box::new(Source::Static {
                credentials: keys(None)?,
                expires_ms: None,
            }),
            role: role(env)?,
        }),
        "ecs_ram_role" => Ok(Source::EcsRole {
            role_name: field("role_name"),
            metadata: super::metadata_endpoint(env),
            disable_v1: super::flag(env, "ALIBABA_CLOUD_IMDSV1_DISABLED"),
        }),
        "oidc_role_arn" => Ok(Source::Oidc {
            token_file: need("oidc_token_file_path")?.into(),
            provider_arn: need("oidc_provider_arn")?,
            role: role(env)?,
        }),
        "credentials_uri" => Ok(Source::Uri {
            url: need("credentials_uri")?,
        }),
        other => Err(config_error(
            path,
            format!("[{name}]: type: {other:?} is not one of access_key, sts, ecs_ram_role, ram_role_arn, oidc_role_arn, credentials_uri"),
        )),
    }
}

/// Reads a file that may be absent: `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, CredentialError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(config_error(
            &path.display().to_string(),
            format!("cannot read it: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests;
