//! Alibaba Cloud legacy RPC signature, `HMAC-SHA1` / `SignatureVersion=1.0` (wire/alibaba.md §5).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::encoding::pct;

/// `METHOD&%2F&pct(sorted k=v joined by &)` over every parameter except `Signature`.
pub fn string_to_sign(method: &str, params: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect();
    pairs.sort();
    format!("{method}&{}&{}", pct("/"), pct(&pairs.join("&")))
}

/// `base64(HMAC-SHA1(secret + "&", string_to_sign))`.
pub fn signature(secret: &str, method: &str, params: &[(String, String)]) -> String {
    let mut m =
        Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key length");
    m.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
}
