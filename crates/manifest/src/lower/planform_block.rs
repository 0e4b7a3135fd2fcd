//! The `planform {}` block: the version constraint, the workspace name and the state backend.

use planform_model::{is_pg_schema_name, StateBackend, DEFAULT_PG_SCHEMA};

use super::eval::{as_string, eval, typed};
use super::Lowering;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::syntax::{check_schema, error, BlockNode};

/// `required_version`, checked before anything else: the one diagnostic when this planform's
/// version does not meet a constraint (the rest of the manifests may be written for another
/// version, so nothing else is reported), or `None`. A constraint that does not parse is
/// reported with the other diagnostics by [`lower`].
pub(super) fn unmet_version(cx: &Lowering, blocks: &[&BlockNode]) -> Option<Diagnostic> {
    let running =
        semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("the crate version is semver");
    for b in blocks {
        let Some(a) = b.attr("required_version") else {
            continue;
        };
        let mut scratch = Diagnostics::default();
        let Some(Ok(req)) = eval(a, &cx.ctx, "planform.required_version", &mut scratch)
            .and_then(|v| as_string(&v))
            .map(|c| version_req(&c).map(|r| (c, r)))
        else {
            continue;
        };
        let (text, req) = req;
        if !req.matches(&running) {
            return Some(error(
                &a.value_loc,
                Some("planform.required_version".into()),
                format!("this planform is version {running}, which does not meet the manifests' constraint {text:?}; use a planform version that does, or change the constraint"),
            ));
        }
    }
    None
}

/// A version constraint: semver requirements separated by commas (`>= 0.1, < 2`), with
/// Terraform's `~> X.Y` (at least X.Y, below X+1) and `~> X.Y.Z` (at least X.Y.Z, below X.Y+1).
fn version_req(text: &str) -> Result<semver::VersionReq, String> {
    let mut parts = Vec::new();
    for part in text.split(',').map(str::trim) {
        let Some(v) = part.strip_prefix("~>") else {
            parts.push(part.to_string());
            continue;
        };
        let v = v.trim();
        let nums: Vec<u64> = v
            .split('.')
            .map(|n| n.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                format!("{part:?}: expected ~> followed by a version such as 1.2 or 1.2.3")
            })?;
        match nums.as_slice() {
            [major] => parts.push(format!(">= {major}")),
            [major, minor] => parts.push(format!(">= {major}.{minor}, < {}", major + 1)),
            [major, minor, patch] => parts.push(format!(
                ">= {major}.{minor}.{patch}, < {major}.{}",
                minor + 1
            )),
            _ => {
                return Err(format!(
                    "{part:?}: expected ~> followed by a version such as 1.2 or 1.2.3"
                ))
            }
        }
    }
    semver::VersionReq::parse(&parts.join(", ")).map_err(|e| {
        format!("{text:?} is not a version constraint such as \">= 0.1, < 2\" or \"~> 0.1\": {e}")
    })
}

/// Lowers the (at most one) `planform` block into the workspace and backend of the desired state.
pub(super) fn lower(cx: &mut Lowering, blocks: &[&BlockNode]) {
    let Lowering {
        diags,
        desired,
        ctx,
        ..
    } = cx;
    if let [_, second, ..] = blocks {
        diags.push(error(
            &second.loc,
            None,
            format!(
                "only one planform block is allowed (first at {}){}",
                blocks[0].loc,
                crate::syntax::other_file_hint(&blocks[0].loc, &second.loc)
            ),
        ));
    }
    let Some(b) = blocks.first() else { return };
    check_schema(
        b,
        "planform",
        &["required_version", "workspace", "allowed_env"],
        &["state"],
        diags,
    );
    if let Some(a) = b.attr("required_version") {
        if let Some(c) = typed(
            eval(a, ctx, "planform.required_version", diags),
            &a.value_loc,
            "planform.required_version",
            "a string",
            as_string,
            diags,
        ) {
            if let Err(e) = version_req(&c) {
                diags.push(error(
                    &a.value_loc,
                    Some("planform.required_version".into()),
                    e,
                ));
            }
        }
    }
    if let Some(a) = b.attr("workspace") {
        if let Some(w) = typed(
            eval(a, ctx, "planform.workspace", diags),
            &a.value_loc,
            "planform.workspace",
            "a string",
            as_string,
            diags,
        ) {
            if w.is_empty()
                || w.len() > 64
                || !w
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                diags.push(error(
                    &a.value_loc,
                    Some("planform.workspace".into()),
                    format!("{w:?} must be 1 to 64 letters, digits, '-', '_' or '.'"),
                ));
            } else {
                desired.workspace = w;
            }
        }
    }
    let states: Vec<_> = b.blocks_of("state").collect();
    if let [first, _, ..] = states.as_slice() {
        for extra in &states[1..] {
            diags.push(error(
                &extra.loc,
                None,
                format!("only one state block is allowed (first at {})", first.loc),
            ));
        }
    }
    let Some(s) = states.first() else { return };
    match s.labels.as_slice() {
        [l] if l == "local" => {
            check_schema(s, "state \"local\"", &["path"], &[], diags);
            if let Some(a) = s.attr("path") {
                if let Some(p) = typed(
                    eval(a, ctx, "planform.state.path", diags),
                    &a.value_loc,
                    "planform.state.path",
                    "a string",
                    as_string,
                    diags,
                ) {
                    desired.backend = StateBackend::Local { path: p };
                }
            }
        }
        [l] if l == "pg" => {
            // conn_str is known here only to be refused with the way to give it.
            check_schema(s, "state \"pg\"", &["schema_name", "conn_str"], &[], diags);
            if let Some(a) = s.attr("conn_str") {
                diags.push(error(
                    &a.loc,
                    Some("planform.state.conn_str".into()),
                    "the connection string is never read from a manifest (it would put a secret in the repository); set the environment variable PG_CONN_STR instead",
                ));
            }
            let mut schema_name = DEFAULT_PG_SCHEMA.to_string();
            if let Some(a) = s.attr("schema_name") {
                let subject = "planform.state.schema_name";
                match typed(
                    eval(a, ctx, subject, diags),
                    &a.value_loc,
                    subject,
                    "a string",
                    as_string,
                    diags,
                ) {
                    Some(n) if is_pg_schema_name(&n) => schema_name = n,
                    Some(n) => {
                        diags.push(error(
                            &a.value_loc,
                            Some(subject.into()),
                            format!("{n:?} must be 1 to 63 lower-case letters, digits or '_', not start with a digit or \"pg_\""),
                        ));
                        return;
                    }
                    None => return,
                }
            }
            desired.backend = StateBackend::Pg { schema_name };
        }
        [l] => diags.push(error(
            &s.loc,
            None,
            format!("unknown state backend {l:?}; supported: \"local\", \"pg\""),
        )),
        _ => diags.push(error(
            &s.loc,
            None,
            "state block needs one label: state \"local\" { path = … } or state \"pg\" { schema_name = … }",
        )),
    }
}

#[cfg(test)]
mod tests;
