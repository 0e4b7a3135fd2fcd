//! The clouds' wire details that both sides of a request need: percent and form encoding, the
//! three signature algorithms (Alibaba ACS3-HMAC-SHA256, Alibaba RPC HMAC-SHA1, AWS SigV4) and
//! the date formats they sign.
//! Signing and verifying are the same computation, so the HTTP clients and the sandbox server
//! share this crate; it is pure (no I/O) and tested against the vectors of `shared/wire`.

pub mod acs3;
pub mod encoding;
pub mod rpc;
pub mod sigv4;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// Compares two signatures without an early exit (strings of different lengths differ at once;
/// a signature's length is no secret).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The Alibaba API's times: `2022-05-23T09:46:27Z`.
const ISO8601: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// SigV4's `X-Amz-Date`: `20220523T094627Z`.
const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// `2022-05-23T09:46:27Z` (UTC, second precision), as the Alibaba API writes and signs times.
/// Times past the year 9999 read as its last second.
pub fn iso8601(ms: u64) -> String {
    let at = i64::try_from(ms / 1000)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .unwrap_or(PrimitiveDateTime::MAX.assume_utc());
    at.format(ISO8601)
        .expect("a UTC time always has every component")
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (as [`iso8601`] writes it) to epoch milliseconds.
pub fn parse_iso8601(s: &str) -> Option<u64> {
    epoch_ms(PrimitiveDateTime::parse(s, ISO8601).ok()?)
}

/// Parses SigV4's `YYYYMMDDTHHMMSSZ` to epoch milliseconds.
pub fn parse_amz_date(s: &str) -> Option<u64> {
    epoch_ms(PrimitiveDateTime::parse(s, AMZ_DATE).ok()?)
}

fn epoch_ms(at: PrimitiveDateTime) -> Option<u64> {
    u64::try_from(at.assume_utc().unix_timestamp())
        .ok()?
        .checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc_times() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_653_299_187_999), "2022-05-23T09:46:27Z");
        assert_eq!(iso8601(u64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(
            parse_iso8601("2022-05-23T09:46:27Z"),
            Some(1_653_299_187_000)
        );
        assert_eq!(parse_amz_date("20220523T094627Z"), Some(1_653_299_187_000));
        assert_eq!(parse_iso8601("2022-05-23 09:46:27"), None);
        assert_eq!(parse_iso8601("2022-05-23T09:46:27"), None);
        assert_eq!(parse_amz_date("2022-05-23T09:46:27Z"), None);
        assert_eq!(parse_iso8601("1969-12-31T23:59:59Z"), None);
        assert_eq!(
            iso8601(parse_iso8601("2024-02-29T23:59:59Z").unwrap()),
            "2024-02-29T23:59:59Z"
        );
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f, 0xff]), "00ab7fff");
        assert_eq!(sha256_hex(b"").len(), 64);
    }

    #[test]
    fn compares_signatures() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(constant_time_eq("", ""));
    }
}
