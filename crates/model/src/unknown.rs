//! Values known only after apply.
//!
//! A reference to another plan's attribute (`plan.network.outputs.vpc_id`) is lowered to a marker
//! embedded in the string value, so templates like `"vpc:${plan.network.outputs.vpc_id}"` stay
//! plain strings. The executor resolves markers once the referenced plan has run.

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// The marker standing for `reference` (e.g. `plan.network.outputs.vpc_id`).
pub fn unknown_marker(reference: &str) -> String {
    format!("{OPEN}{reference}{CLOSE}")
}

/// True when `value` holds no marker.
pub fn is_known(value: &str) -> bool {
    !value.contains(OPEN)
}

/// The references whose markers `value` holds, in order.
pub fn references_in(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len_utf8()..];
        match after.find(CLOSE) {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + CLOSE.len_utf8()..];
            }
            None => break,
        }
    }
    out
}

/// Replaces every marker with what `lookup` returns for its reference; a marker `lookup` cannot
/// resolve is kept.
pub fn resolve_unknowns(value: &str, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len_utf8()..];
        match after.find(CLOSE) {
            Some(end) => {
                let reference = &after[..end];
                match lookup(reference) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&unknown_marker(reference)),
                }
                rest = &after[end + CLOSE.len_utf8()..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_resolve_inside_templates() {
        let v = format!(
            "vpc:{}/{}",
            unknown_marker("plan.a.id"),
            unknown_marker("plan.b.id")
        );
        assert!(!is_known(&v));
        assert_eq!(references_in(&v), vec!["plan.a.id", "plan.b.id"]);
        let partly = resolve_unknowns(&v, |r| (r == "plan.a.id").then(|| "x".to_string()));
        assert_eq!(references_in(&partly), vec!["plan.b.id"]);
        let all = resolve_unknowns(&v, |r| Some(r.len().to_string()));
        assert_eq!(all, "vpc:9/9");
        assert!(is_known(&all));
    }
}
