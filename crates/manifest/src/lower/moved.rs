//! `moved` blocks: renaming a plan's address without destroying it.

use planform_model::Moved;

use super::dependencies::address_of;
use super::Lowering;
use crate::syntax::{check_schema, error, BlockNode};

/// Lowers every `moved` block; the `from` address must no longer exist in the manifests.
pub(super) fn lower(cx: &mut Lowering, blocks: &[&BlockNode]) {
    let Lowering { diags, desired, .. } = cx;
    for b in blocks {
        check_schema(b, "moved", &["from", "to"], &[], diags);
        let from = b
            .attr("from")
            .and_then(|a| address_of(&a.expr, &a.value_loc, diags));
        let to = b
            .attr("to")
            .and_then(|a| address_of(&a.expr, &a.value_loc, diags));
        match (from, to) {
            (Some(from), Some(to)) => {
                if from == to {
                    diags.push(error(
                        &b.loc,
                        None,
                        format!("moved: from and to are the same address {from}"),
                    ));
                } else if desired.plans.contains_key(&from)
                    || (from.key == planform_model::InstanceKey::None
                        && desired.plans.keys().any(|a| a.name == from.name))
                {
                    diags.push(error(&b.loc, None, format!("moved: {from} still exists in the manifests; remove it or move it elsewhere")));
                } else {
                    desired.moved.push(Moved { from, to });
                }
            }
            _ => {
                for (n, v) in [("from", b.attr("from")), ("to", b.attr("to"))] {
                    if v.is_none() {
                        diags.push(error(
                            &b.loc,
                            None,
                            format!("moved: missing required attribute {n:?}"),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
