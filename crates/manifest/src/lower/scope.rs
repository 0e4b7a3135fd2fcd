//! What an expression may reference where it is written (variables, locals, plans, `each`,
//! `count`), and the check that reports everything else with "did you mean" hints.

use super::plans::PLAN_REF_ATTRS;
use super::variables::VarDecl;
use crate::diagnostic::Diagnostics;
use crate::references::{Reference, Step};
use crate::syntax::{error, hint, AttrNode};
use hcl::Value;

/// The names in scope of one expression.
pub(super) struct Scope<'a> {
    pub(super) vars: &'a [VarDecl],
    pub(super) locals: &'a [&'a str],
    pub(super) plans: &'a [&'a str],
    /// The plans with `for_each` or `count` (which one): references must name an instance.
    pub(super) repeated: &'a std::collections::BTreeMap<String, &'static str>,
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
                    let repeated = scope.repeated.get(n.as_str()).copied();
                    let rest = if matches!(r.steps.get(1), Some(Step::Index(_))) {
                        &r.steps[2..]
                    } else {
                        &r.steps[1..]
                    };
                    match (rest.first(), r.steps.get(1), repeated) {
                        (_, Some(Step::Index(Some(Value::String(_)))), Some("count")) => Some(format!("plan.{n} has count: its instances are numbered, e.g. plan.{n}[0]")),
                        (_, Some(Step::Index(Some(Value::Number(_)))), Some("for_each")) => Some(format!("plan.{n} has for_each: its instances are named by key, e.g. plan.{n}[\"KEY\"]")),
                        (_, Some(Step::Index(_)), None) => Some(format!("plan.{n} has no instances (it has no for_each or count): write plan.{n}.ATTRIBUTE without an index")),
                        (Some(Step::Attr(a)), Some(Step::Attr(_)), Some(meta)) if PLAN_REF_ATTRS.contains(&a.as_str()) => {
                            let example = if meta == "count" { "[0]".to_string() } else { "[\"KEY\"]".to_string() };
                            let path: String = r.steps[1..]
                                .iter()
                                .map(|s| match s {
                                    Step::Attr(a) => format!(".{a}"),
                                    Step::Index(Some(k)) => format!("[{}]", crate::functions::hcl_json(k)),
                                    Step::Index(None) => "[…]".into(),
                                    Step::Splat => "[*]".into(),
                                })
                                .collect();
                            Some(format!("plan.{n} has instances (it has {meta}): name one, e.g. plan.{n}{example}{path}"))
                        }
                        (Some(Step::Attr(a)), ..) if PLAN_REF_ATTRS.contains(&a.as_str()) => None,
                        (Some(Step::Attr(a)), ..) => Some(format!("plan.{n} has no attribute {a:?}; it exposes {}{}", PLAN_REF_ATTRS.join(", "), hint(a, PLAN_REF_ATTRS))),
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
            // The reference with its literal index (`plan.net["k"]`) when it is written so: the
            // same name may be read correctly elsewhere in the value.
            let indexed = match r.steps.get(1) {
                Some(Step::Index(Some(k))) => {
                    Some(format!("{needle}[{}]", crate::functions::hcl_json(k)))
                }
                _ => None,
            };
            let place = indexed
                .filter(|n| attr.value_text.contains(n.as_str()))
                .unwrap_or(needle);
            let mut e = error(&attr.location_of(&place), Some(subject.to_string()), m);
            e.anchor = attr.value_loc.clone();
            diags.push(e);
            reported = true;
        }
    }
    reported
}
