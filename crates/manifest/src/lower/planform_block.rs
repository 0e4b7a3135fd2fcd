//! The `planform {}` block: the workspace name and the state backend.

use planform_model::StateBackend;

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
    check_schema(
        b,
        "planform",
        &["workspace", "allowed_env"],
        &["state"],
        diags,
    );
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
    for s in b.blocks_of("state") {
        match s.labels.as_slice() {
            [l] if l == "local" => {
                check_schema(s, "state \"local\"", &["path"], &[], diags);
                if let Some(a) = s.attr("path") {
                    if let Some(p) = typed(eval(&a.expr, ctx, &a.value_loc, "planform.state.path", diags), &a.value_loc, "planform.state.path", "a string", as_string, diags) {
                        desired.backend = StateBackend::Local { path: p };
                    }
                }
            }
            [l] => diags.push(error(&s.loc, None, format!("unknown state backend {l:?}; supported: \"local\" (a PostgreSQL backend is planned)"))),
            _ => diags.push(error(&s.loc, None, "state block needs one label: state \"local\" { path = … }")),
        }
    }
}

#[cfg(test)]
mod tests;
