//! The `planform {}` block: the workspace name and the state backend.

use planform_model::{is_pg_schema_name, StateBackend, DEFAULT_PG_SCHEMA};

use super::eval::{as_string, eval, typed};
use super::Lowering;
use crate::syntax::{check_schema, error, BlockNode};

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
                "only one planform block is allowed (first at {})",
                blocks[0].loc
            ),
        ));
    }
    let Some(b) = blocks.first() else { return };
    check_schema(b, "planform", &["workspace"], &["state"], diags);
    if let Some(a) = b.attr("workspace") {
        if let Some(w) = typed(
            eval(&a.expr, ctx, &a.value_loc, "planform.workspace", diags),
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
                    eval(&a.expr, ctx, &a.value_loc, "planform.state.path", diags),
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
                    eval(&a.expr, ctx, &a.value_loc, subject, diags),
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
