//! AWS Signature Version 4 (wire/aws.md §6), for the JSON 1.1 protocol's `POST /`.

use crate::{hex, hmac_sha256, sha256_hex};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

fn collapse(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request for path `/` and an empty query.
pub fn canonical_request(
    method: &str,
    headers: &[(String, String)],
    signed: &[String],
    payload_sha256: &str,
) -> String {
    let mut names: Vec<String> = signed.iter().map(|s| s.to_ascii_lowercase()).collect();
    names.sort();
    names.dedup();
    let mut lines = String::new();
    for n in &names {
        let values: Vec<String> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| collapse(v))
            .collect();
        lines.push_str(&format!("{n}:{}\n", values.join(",")));
    }
    format!(
        "{method}\n/\n\n{lines}\n{}\n{payload_sha256}",
        names.join(";")
    )
}

pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

pub fn signature(signing_key: &[u8], string_to_sign: &str) -> String {
    hex(&hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(header: &str) -> Option<Authorization> {
    let rest = header.strip_prefix(ALGORITHM)?.trim();
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => cred = Some(v.to_string()),
            "SignedHeaders" => {
                signed = Some(v.split(';').map(|s| s.to_ascii_lowercase()).collect())
            }
            "Signature" => sig = Some(v.to_string()),
            _ => {}
        }
    }
    let cred = cred?;
    let mut parts = cred.split('/');
    let (akid, date, region, service, terminator) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if terminator != "aws4_request" {
        return None;
    }
    Some(Authorization {
        access_key_id: akid.into(),
        date: date.into(),
        region: region.into(),
        service: service.into(),
        signed_headers: signed?,
        signature: sig?,
    })
}
