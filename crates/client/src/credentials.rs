//! Credentials, read the way the official tools read them (wire/alibaba.md §6):
//! `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` / `ALIBABA_CLOUD_SECURITY_TOKEN`,
//! then the aliyun CLI's `~/.aliyun/config.json` (`ALIBABA_CLOUD_CONFIG_FILE` overrides the path;
//! the profile is the manifest's, else `ALIBABA_CLOUD_PROFILE`, else `current`), modes `AK` and `StsToken`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use planform_model::Sensitive;

#[derive(Debug, Clone, PartialEq)]
pub struct AlibabaCredentials {
    pub access_key_id: String,
    pub access_key_secret: Sensitive<String>,
    pub security_token: Option<Sensitive<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("no Alibaba Cloud credentials: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, or configure a profile with `aliyun configure` ({0})")]
    Missing(String),
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("profile {profile:?} in {path} uses mode {mode:?}; planform supports AK and StsToken")]
    UnsupportedMode {
        profile: String,
        path: String,
        mode: String,
    },
}

/// Resolves credentials from `env` (the process environment, injected) and the CLI profile file.
pub fn resolve(
    env: &BTreeMap<String, String>,
    profile: Option<&str>,
) -> Result<AlibabaCredentials, CredentialError> {
    let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
    if profile.is_none() {
        if let (Some(id), Some(secret)) = (
            get("ALIBABA_CLOUD_ACCESS_KEY_ID"),
            get("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
        ) {
            return Ok(AlibabaCredentials {
                access_key_id: id,
                access_key_secret: Sensitive::new(secret),
                security_token: get("ALIBABA_CLOUD_SECURITY_TOKEN").map(Sensitive::new),
            });
        }
    }
    if get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED").as_deref() == Some("true") && profile.is_none() {
        return Err(CredentialError::Missing(
            "the CLI profile is disabled".into(),
        ));
    }
    let path = match get("ALIBABA_CLOUD_CONFIG_FILE") {
        Some(p) => PathBuf::from(p),
        None => match get("HOME") {
            Some(h) => PathBuf::from(h).join(".aliyun/config.json"),
            None => {
                return Err(CredentialError::Missing(
                    "no HOME to find ~/.aliyun/config.json".into(),
                ))
            }
        },
    };
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => return Err(CredentialError::Missing(format!("{shown} does not exist"))),
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| CredentialError::Config {
            path: shown.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
    let wanted = profile
        .map(str::to_string)
        .or_else(|| get("ALIBABA_CLOUD_PROFILE"))
        .or_else(|| config["current"].as_str().map(str::to_string))
        .unwrap_or_else(|| "default".into());
    let entry = config["profiles"]
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .find(|p| p["name"].as_str() == Some(wanted.as_str()))
        })
        .ok_or_else(|| CredentialError::Config {
            path: shown.clone(),
            message: format!("no profile named {wanted:?}"),
        })?;
    let field = |k: &str| {
        entry[k]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let mode = field("mode").unwrap_or_else(|| "AK".into());
    let need = |k: &str| {
        field(k).ok_or_else(|| CredentialError::Config {
            path: shown.clone(),
            message: format!("profile {wanted:?} has no {k}"),
        })
    };
    match mode.as_str() {
        "AK" => Ok(AlibabaCredentials {
            access_key_id: need("access_key_id")?,
            access_key_secret: Sensitive::new(need("access_key_secret")?),
            security_token: None,
        }),
        "StsToken" => Ok(AlibabaCredentials {
            access_key_id: need("access_key_id")?,
            access_key_secret: Sensitive::new(need("access_key_secret")?),
            security_token: Some(Sensitive::new(need("sts_token")?)),
        }),
        other => Err(CredentialError::UnsupportedMode {
            profile: wanted,
            path: shown,
            mode: other.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_first_then_profiles() {
        let c = resolve(
            &env(&[
                ("ALIBABA_CLOUD_ACCESS_KEY_ID", "id"),
                ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "sec"),
                ("ALIBABA_CLOUD_SECURITY_TOKEN", "tok"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.access_key_id, "id");
        assert_eq!(c.security_token.as_ref().unwrap().expose(), "tok");
        assert!(
            !format!("{c:?}").contains("sec\"") && !format!("{c:?}").contains("tok\""),
            "{c:?}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, r#"{"current": "default", "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": "akid", "access_key_secret": "aksecret", "region_id": "cn-hangzhou"},
            {"name": "sts", "mode": "StsToken", "access_key_id": "stsid", "access_key_secret": "stssecret", "sts_token": "ststoken"},
            {"name": "role", "mode": "RamRoleArn", "access_key_id": "x", "access_key_secret": "y"}]}"#).unwrap();
        let f = file.to_str().unwrap();
        assert_eq!(
            resolve(&env(&[("ALIBABA_CLOUD_CONFIG_FILE", f)]), None)
                .unwrap()
                .access_key_id,
            "akid"
        );
        let sts = resolve(
            &env(&[
                ("ALIBABA_CLOUD_CONFIG_FILE", f),
                ("ALIBABA_CLOUD_PROFILE", "sts"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(sts.security_token.unwrap().expose(), "ststoken");
        assert_eq!(
            resolve(&env(&[("ALIBABA_CLOUD_CONFIG_FILE", f)]), Some("sts"))
                .unwrap()
                .access_key_id,
            "stsid"
        );
        assert!(matches!(
            resolve(&env(&[("ALIBABA_CLOUD_CONFIG_FILE", f)]), Some("role")),
            Err(CredentialError::UnsupportedMode { .. })
        ));
        assert!(matches!(
            resolve(&env(&[("ALIBABA_CLOUD_CONFIG_FILE", f)]), Some("nope")),
            Err(CredentialError::Config { .. })
        ));
        assert!(matches!(
            resolve(&env(&[("HOME", "/nonexistent")]), None),
            Err(CredentialError::Missing(_))
        ));
    }
}
