//! Plan addresses: `plan.network`, `plan.app["web"]`, `plan.worker[2]`.

use std::fmt;
use std::str::FromStr;

/// The instance key of a plan made by `for_each` (a string) or `count` (an index).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceKey {
    None,
    Str(String),
    Int(u64),
}

/// The address of one plan instance in the manifests and the state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub name: String,
    pub key: InstanceKey,
}

impl Address {
    pub fn new(name: impl Into<String>) -> Address {
        Address {
            name: name.into(),
            key: InstanceKey::None,
        }
    }

    pub fn with_key(name: impl Into<String>, key: InstanceKey) -> Address {
        Address {
            name: name.into(),
            key,
        }
    }

    /// The address without its instance key: `plan.app`.
    pub fn resource(&self) -> Address {
        Address::new(self.name.clone())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plan.{}", self.name)?;
        match &self.key {
            InstanceKey::None => Ok(()),
            InstanceKey::Str(s) => write!(f, "[{s:?}]"),
            InstanceKey::Int(i) => write!(f, "[{i}]"),
        }
    }
}

/// Splits a reference such as `plan.app["web"].outputs.vpc_id` into the address and the
/// attribute path (`outputs.vpc_id`).
pub fn split_reference(reference: &str) -> Option<(Address, String)> {
    let (addr, attr) = match reference.find(".outputs.") {
        Some(i) => (&reference[..i], &reference[i + 1..]),
        None => {
            let i = reference.rfind('.')?;
            (&reference[..i], &reference[i + 1..])
        }
    };
    Some((addr.parse().ok()?, attr.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address {input:?}: expected plan.NAME, plan.NAME[\"KEY\"] or plan.NAME[INDEX]")]
pub struct AddressParseError {
    pub input: String,
}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> Result<Address, AddressParseError> {
        let err = || AddressParseError {
            input: s.to_string(),
        };
        let rest = s.strip_prefix("plan.").ok_or_else(err)?;
        let (name, key) = match rest.find('[') {
            None => (rest, InstanceKey::None),
            Some(i) => {
                let inner = rest[i..]
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .ok_or_else(err)?;
                let key = if let Some(q) = inner.strip_prefix('"').and_then(|r| r.strip_suffix('"'))
                {
                    InstanceKey::Str(unescape(q).ok_or_else(err)?)
                } else {
                    InstanceKey::Int(inner.parse().map_err(|_| err())?)
                };
                (&rest[..i], key)
            }
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(err());
        }
        Ok(Address {
            name: name.to_string(),
            key,
        })
    }
}

/// The key `Display` wrote with Rust's string escapes (`{s:?}`): `\\`, `\"`, `\'`, `\n`,
/// `\r`, `\t`, `\0` and `\u{…}`; `None` for any other backslash, so that every key reads
/// back as it was written.
fn unescape(quoted: &str) -> Option<String> {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            '"' => '"',
            '\'' => '\'',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '0' => '\0',
            'u' => {
                let rest = chars.as_str().strip_prefix('{')?;
                let (hex, after) = rest.split_once('}')?;
                if hex.is_empty() || hex.len() > 6 {
                    return None;
                }
                let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
                chars = after.chars();
                c
            }
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in ["plan.network", "plan.app[\"web\"]", "plan.worker[3]"] {
            let a: Address = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn splits_references() {
        let (a, attr) = split_reference("plan.app[\"web\"].outputs.vpc_id").unwrap();
        assert_eq!(
            (a.to_string().as_str(), attr.as_str()),
            ("plan.app[\"web\"]", "outputs.vpc_id")
        );
        let (a, attr) = split_reference("plan.net.id").unwrap();
        assert_eq!((a.to_string().as_str(), attr.as_str()), ("plan.net", "id"));
    }

    /// Issue 16: a key with a backslash, a quote, a control character or a combining mark
    /// reads back as it was (a state or plan file stores addresses as `Display` writes them).
    #[test]
    fn keys_with_escapes_round_trip() {
        for key in [
            "a\\b",
            "\\",
            "a\"b",
            "\"]",
            "line\nbreak",
            "\t\r\0",
            "\u{1}\u{7f}",
            "\u{301}e",
            "it's",
            "\\u{41}",
            "ünïcode",
        ] {
            let a = Address::with_key("app", InstanceKey::Str(key.to_string()));
            let shown = a.to_string();
            assert_eq!(shown.parse::<Address>(), Ok(a), "{shown}");
        }
        assert_eq!(
            "plan.net[\"a\\\\b\"]".parse::<Address>().unwrap().key,
            InstanceKey::Str("a\\b".to_string())
        );
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "network",
            "plan.",
            "plan.a[",
            "plan.a[x]",
            "plan.1a",
            "plan.a[\"\\\"]",
            "plan.a[\"\\q\"]",
            "plan.a[\"\\u{}\"]",
            "plan.a[\"\\u{110000}\"]",
            "plan.a[\"\\u{d800}\"]",
            "plan.a[\"\\u{41\"]",
        ] {
            assert!(s.parse::<Address>().is_err(), "{s}");
        }
    }
}
