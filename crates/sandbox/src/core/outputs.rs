//! A provisioned product's outputs, rendered from its version's output templates:
//! `{param:KEY}` is the parameter's value (or its default), `{id:PREFIX}` a stable resource id.

use super::ids::stable_id;
use crate::catalog::Version;

/// `(key, value, description)` for every output of `version`.
pub(super) fn render_outputs(
    pp_id: &str,
    version: &Version,
    params: &[(String, String)],
) -> Vec<(String, String, String)> {
    let param = |k: &str| -> String {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                version
                    .parameters
                    .iter()
                    .find(|p| p.key == k)
                    .and_then(|p| p.default.clone())
            })
            .unwrap_or_default()
    };
    version
        .outputs
        .iter()
        .map(|o| {
            let mut out = String::new();
            let mut rest = o.value.as_str();
            while let Some(start) = rest.find('{') {
                out.push_str(&rest[..start]);
                let Some(end) = rest[start..].find('}') else {
                    break;
                };
                let token = &rest[start + 1..start + end];
                match token.split_once(':') {
                    Some(("param", k)) => out.push_str(&param(k)),
                    Some(("id", prefix)) => out.push_str(&stable_id(pp_id, prefix)),
                    _ => out.push_str(&rest[start..start + end + 1]),
                }
                rest = &rest[start + end + 1..];
            }
            out.push_str(rest);
            (o.key.clone(), out, o.description.clone())
        })
        .collect()
}
