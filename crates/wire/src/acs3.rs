//! Alibaba Cloud signature V3, `ACS3-HMAC-SHA256` (wire/alibaba.md §2.3).

use crate::encoding::pct;
use crate::{hex, hmac_sha256, sha256_hex};

pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

/// The canonical request. `query` holds decoded pairs; `headers` lower-case names with values;
/// `signed` the lower-case names to sign, in any order.
pub fn canonical_request(
    method: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    signed: &[String],
    payload_sha256: &str,
) -> String {
    let mut q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    q.sort();
    let mut names: Vec<&String> = signed.iter().collect();
    names.sort();
    names.dedup();
    let mut canonical_headers = String::new();
    for n in &names {
        let mut values: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.trim())
            .collect();
        values.sort();
        canonical_headers.push_str(&format!("{n}:{}\n", values.join(",")));
    }
    let signed_line = names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(";");
    format!(
        "{method}\n/\n{}\n{canonical_headers}\n{signed_line}\n{payload_sha256}",
        q.join("&")
    )
}

pub fn string_to_sign(canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
}

pub fn signature(secret: &str, canonical_request: &str) -> String {
    hex(&hmac_sha256(
        secret.as_bytes(),
        string_to_sign(canonical_request).as_bytes(),
    ))
}

pub fn authorization(access_key_id: &str, signed: &[String], signature: &str) -> String {
    let mut names: Vec<&String> = signed.iter().collect();
    names.sort();
    format!(
        "{ALGORITHM} Credential={access_key_id},SignedHeaders={},Signature={signature}",
        names
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(";")
    )
}

/// The parts of an `Authorization: ACS3-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(header: &str) -> Option<Authorization> {
    let rest = header.strip_prefix(ALGORITHM)?.trim();
    let mut akid = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => akid = Some(v.to_string()),
            "SignedHeaders" => {
                signed = Some(v.split(';').map(|s| s.to_ascii_lowercase()).collect())
            }
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    Some(Authorization {
        access_key_id: akid?,
        signed_headers: signed?,
        signature: sig?,
    })
}
