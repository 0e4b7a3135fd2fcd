//! Locals: collecting `locals` blocks, checking what they reference, ordering them by their
//! dependencies (reporting cycles) and evaluating them; those that read plans are evaluated
//! only once the `plan` object of unknown markers exists.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hcl::{Map, Value};

use super::eval::eval;
use super::scope::{check_references, Scope};
use super::Lowering;
use crate::diagnostic::Diagnostics;
use crate::references::{references, Reference};
use crate::syntax::{error, AttrNode, BlockNode};

/// The locals of all `locals` blocks.
pub(super) struct Locals {
    pub(super) attrs: Vec<AttrNode>,
    /// What each local's expression references, by local name.
    pub(super) refs: BTreeMap<String, Vec<Reference>>,
    /// The locals outside any cycle, each after the locals it references.
    pub(super) order: Vec<String>,
    /// Locals that read plans, directly or through other locals: known only at apply time.
    pub(super) late: BTreeSet<String>,
    values: Map<String, Value>,
}

impl Locals {
    pub(super) fn names(&self) -> Vec<&str> {
        self.attrs.iter().map(|a| a.name.as_str()).collect()
    }

    pub(super) fn attr(&self, name: &str) -> &AttrNode {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .expect("ordered from attrs")
    }

    /// Whether every local that `name` reads has a value: one that failed (or was never valid)
    /// was reported already, so `name` is not evaluated and reports nothing more.
    fn can_evaluate(&self, name: &str) -> bool {
        self.refs[name]
            .iter()
            .filter(|r| r.root == "local")
            .filter_map(|r| r.first_attr())
            .all(|l| self.values.contains_key(l))
    }

    /// The `local` object as the local `name` sees it: the values of the locals it reads.
    fn read_by(&self, name: &str) -> Value {
        let read: Map<String, Value> = self.refs[name]
            .iter()
            .filter(|r| r.root == "local")
            .filter_map(|r| r.first_attr())
            .filter_map(|l| Some((l.to_string(), self.values.get(l)?.clone())))
            .collect();
        Value::Object(read)
    }
}

/// Collects, checks and orders the locals, then evaluates those that do not read plans and
/// declares `local` in the evaluation context.
pub(super) fn lower_early(cx: &mut Lowering, blocks: &[&BlockNode], plans: &[&str]) -> Locals {
    let diags = &mut cx.diags;
    let attrs = collect(blocks, diags);
    let refs: BTreeMap<String, Vec<Reference>> = attrs
        .iter()
        .map(|a| (a.name.clone(), references(&a.expr)))
        .collect();
    let names: Vec<&str> = attrs.iter().map(|a| a.name.as_str()).collect();
    for a in &attrs {
        check_references(
            &refs[a.name.as_str()],
            a,
            &format!("local.{}", a.name),
            &Scope {
                vars: &cx.variables,
                locals: &names,
                plans,
                repeated: &cx.repeated_plans,
                each: false,
                count: false,
            },
            diags,
        );
    }
    let order: Vec<String> = order(&attrs, &refs, diags)
        .into_iter()
        .map(str::to_string)
        .collect();
    let late: BTreeSet<String> = {
        let mut set = BTreeSet::new();
        for name in &order {
            let refs = &refs[name];
            if refs.iter().any(|r| {
                r.root == "plan"
                    || (r.root == "local" && r.first_attr().is_some_and(|l| set.contains(l)))
            }) {
                set.insert(name.clone());
            }
        }
        set
    };
    let mut locals = Locals {
        attrs,
        refs,
        order,
        late,
        values: Map::new(),
    };
    let ctx = &mut cx.ctx;
    for name in locals.order.iter().filter(|n| !locals.late.contains(*n)) {
        if !locals.can_evaluate(name) {
            super::eval::value_failed("local", name);
            continue;
        }
        let a = locals.attr(name);
        // Each local sees only the locals it reads, so the cost of evaluating all of them is
        // the size of what they read, not the number of locals times everything before them.
        ctx.declare_var("local", locals.read_by(name));
        match eval(a, ctx, &format!("local.{name}"), diags) {
            Some(v) => {
                locals.values.insert(name.to_string(), v);
            }
            None => super::eval::value_failed("local", name),
        }
    }
    ctx.declare_var("local", Value::Object(locals.values.clone()));
    locals
}

/// Evaluates the locals that read plans, with `plan` bound to the object of unknown markers,
/// and declares the complete `local` in the evaluation context.
pub(super) fn lower_late(cx: &mut Lowering, locals: &mut Locals, plan: &Value) {
    if locals.late.is_empty() {
        return;
    }
    let mut lctx = cx.ctx.clone();
    lctx.declare_var("plan", plan.clone());
    for name in locals.order.iter().filter(|n| locals.late.contains(*n)) {
        if !locals.can_evaluate(name) {
            super::eval::value_failed("local", name);
            continue;
        }
        let a = locals.attr(name);
        lctx.declare_var("local", locals.read_by(name));
        match eval(a, &lctx, &format!("local.{name}"), &mut cx.diags) {
            Some(v) => {
                locals.values.insert(name.to_string(), v);
            }
            None => super::eval::value_failed("local", name),
        }
    }
    cx.ctx
        .declare_var("local", Value::Object(locals.values.clone()));
}

/// The attributes of every `locals` block, reporting labels, nested blocks and duplicates.
fn collect(blocks: &[&BlockNode], diags: &mut Diagnostics) -> Vec<AttrNode> {
    let mut out: Vec<AttrNode> = Vec::new();
    for b in blocks {
        if !b.labels.is_empty() {
            diags.push(error(&b.loc, None, "locals blocks take no label"));
        }
        for blk in &b.blocks {
            diags.push(error(
                &blk.loc,
                None,
                format!(
                    "locals hold only NAME = VALUE attributes, not blocks ({:?})",
                    blk.kind
                ),
            ));
        }
        for a in &b.attrs {
            if let Some(first) = out.iter().find(|x| x.name == a.name) {
                diags.push(error(
                    &a.loc,
                    None,
                    format!("duplicate local {:?} (first at {})", a.name, first.loc),
                ));
                continue;
            }
            out.push(a.clone());
        }
    }
    out
}

/// The locals in dependency order, reporting each cycle; locals in a cycle are left out.
fn order<'a>(
    attrs: &'a [AttrNode],
    refs: &BTreeMap<String, Vec<Reference>>,
    diags: &mut Diagnostics,
) -> Vec<&'a str> {
    let before = diags.0.len();
    let mut order = Vec::new();
    let mut state: HashMap<&str, u8> = HashMap::new();
    fn visit<'a>(
        n: &'a str,
        attrs: &'a [AttrNode],
        refs: &BTreeMap<String, Vec<Reference>>,
        state: &mut HashMap<&'a str, u8>,
        order: &mut Vec<&'a str>,
        stack: &mut Vec<&'a str>,
        diags: &mut Diagnostics,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let cycle: Vec<String> = stack[start..]
                    .iter()
                    .chain(std::iter::once(&n))
                    .map(|s| format!("local.{s}"))
                    .collect();
                let a = attrs.iter().find(|a| a.name == n).expect("local exists");
                diags.push(error(
                    &a.loc,
                    None,
                    format!(
                        "locals refer to each other in a cycle: {}",
                        cycle.join(" -> ")
                    ),
                ));
                return;
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for r in &refs[n] {
            if r.root == "local" {
                if let Some(dep) = r
                    .first_attr()
                    .and_then(|d| attrs.iter().find(|a| a.name == d))
                {
                    visit(dep.name.as_str(), attrs, refs, state, order, stack, diags);
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        order.push(n);
    }
    for a in attrs {
        visit(
            a.name.as_str(),
            attrs,
            refs,
            &mut state,
            &mut order,
            &mut Vec::new(),
            diags,
        );
    }
    // Locals in a cycle are not evaluated: the cycle is the error to fix.
    let cyclic: BTreeSet<String> = diags.0[before..]
        .iter()
        .filter_map(|d| {
            d.message
                .strip_prefix("locals refer to each other in a cycle: ")
        })
        .flat_map(|m| {
            m.split(" -> ")
                .map(|l| l.trim_start_matches("local.").to_string())
        })
        .collect();
    order.retain(|n| !cyclic.contains(*n));
    order
}

#[cfg(test)]
mod tests;
