//! What an expression may reference where it is written (variables, locals, plans, `each`,
//! `count`), and the check that reports everything else with "did you mean" hints.

use super::plans::PLAN_REF_ATTRS;
use super::variables::VarDecl;
use crate::diagnostic::Diagnostics;
use crate::references::{Reference, Step};
use crate::syntax::{error, hint, AttrNode};

/// The names in scope of one expression.
pub(super) struct Scope<'a> {
    pub(super) vars: &'a [VarDecl],
    pub(super) locals: &'a [&'a str],
    pub(super) plans: &'a [&'a str],
    pub(super) each: bool,
    pub(super) count: bool,
}

/// Reports references to things that do not exist, with "did you mean" hints.
pub(super) fn check_references(
    refs: &[Reference],
    attr: &AttrNode,
    subject: &str,
    scope: &Scope,
    diags: &mut Diagnostics,
) -> bool {
    let mut reported = false;
    for r in refs {
        let first = r.first_attr();
        let msg = match r.root.as_str() {
            "var" => match first {
                Some(n) if scope.vars.iter().any(|v| v.name == n) => None,
                Some(n) => Some(format!(
                    "reference to undeclared variable {n:?}{}",
                    hint(
                        n,
                        &scope
                            .vars
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                    )
                )),
                None => Some("`var` must be followed by a variable name, e.g. var.env".into()),
            },
            "local" => match first {
                Some(n) if scope.locals.contains(&n) => None,
                Some(n) => Some(format!(
                    "reference to undeclared local {n:?}{}",
                    hint(n, scope.locals)
                )),
                None => Some("`local` must be followed by a name, e.g. local.tags".into()),
            },
            "plan" => match r.steps.first() {
                Some(Step::Attr(n)) if scope.plans.contains(&n.as_str()) => {
                    let rest = if matches!(r.steps.get(1), Some(Step::Index(_))) {
                        &r.steps[2..]
                    } else {
                        &r.steps[1..]
                    };
                    match rest.first() {
                        Some(Step::Attr(a)) if PLAN_REF_ATTRS.contains(&a.as_str()) => None,
                        Some(Step::Attr(a)) => Some(format!("plan.{n} has no attribute {a:?}; it exposes {}{}", PLAN_REF_ATTRS.join(", "), hint(a, PLAN_REF_ATTRS))),
                        _ => Some(format!("a reference to plan.{n} must name an attribute ({}); to order plans use depends_on", PLAN_REF_ATTRS.join(", "))),
                    }
                }
                Some(Step::Attr(n)) => Some(format!(
                    "reference to undeclared plan {n:?}{}",
                    hint(n, scope.plans)
                )),
                _ => Some("`plan` must be followed by a plan name, e.g. plan.network.id".into()),
            },
            "each" if !scope.each => {
                Some("each.key and each.value exist only in a plan with for_each".into())
            }
            "each" => match first {
                Some("key" | "value") => None,
                _ => Some("each has only key and value".into()),
            },
            "count" if !scope.count => Some("count.index exists only in a plan with count".into()),
            "count" => match first {
                Some("index") => None,
                _ => Some("count has only index".into()),
            },
            "path" | "terraform" | "data" | "module" | "resource" => Some(format!(
                "{:?} references are not part of the planform language",
                r.root
            )),
            _ => None,
        };
        if let Some(m) = msg {
            let needle = match r.steps.first() {
                Some(Step::Attr(a)) => format!("{}.{a}", r.root),
                _ => r.root.clone(),
            };
            let mut e = error(&attr.location_of(&needle), Some(subject.to_string()), m);
            e.anchor = attr.value_loc.clone();
            diags.push(e);
            reported = true;
        }
    }
    reported
}
