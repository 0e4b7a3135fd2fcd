//! Instances: expanding each plan by `for_each` or `count`, and the `plan` object references
//! read, whose attributes are unknown markers until apply.

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::Context;
use hcl::{Map, Value};
use planform_model::{unknown_marker, Address, InstanceKey, SourceLocation};

use super::bounds::{MAX_INSTANCES, MAX_INSTANCES_PER_BLOCK};
use super::eval::{as_string, describe, eval};
use super::locals::Locals;
use super::plans::PlanBlock;
use super::scope::{check_references, Scope};
use super::Lowering;
use crate::diagnostic::Diagnostics;
use crate::references::{references, Reference, Step};
use crate::syntax::{error, BlockNode};
use crate::types::as_count;

/// An instance's key, its `each.key`/`each.value`, and its `count.index`.
pub(super) type Instance = (InstanceKey, Option<(Value, Value)>, Option<u64>);

/// How many instances a plan has, and their keys.
#[derive(Clone, PartialEq)]
pub(super) enum Instances {
    Single,
    /// `for_each`: the keys, sorted and without duplicates, with their values.
    ForEach(Vec<(String, Value)>),
    Count(u64),
}

impl Instances {
    /// How many instances there are.
    fn len(&self) -> u64 {
        match self {
            Instances::Single => 1,
            Instances::ForEach(items) => items.len() as u64,
            Instances::Count(n) => *n,
        }
    }

    /// Every instance with what it binds to `each` or `count`.
    pub(super) fn list(&self) -> Vec<Instance> {
        match self {
            Instances::Single => vec![(InstanceKey::None, None, None)],
            Instances::ForEach(items) => items
                .iter()
                .map(|(k, v)| {
                    (
                        InstanceKey::Str(k.clone()),
                        Some((Value::String(k.clone()), v.clone())),
                        None,
                    )
                })
                .collect(),
            Instances::Count(n) => (0..*n)
                .map(|i| (InstanceKey::Int(i), None, Some(i)))
                .collect(),
        }
    }

    /// The address of every instance of plan `name`.
    pub(super) fn addresses(&self, name: &str) -> Vec<Address> {
        match self {
            Instances::Single => vec![Address::new(name.to_string())],
            Instances::ForEach(items) => items
                .iter()
                .map(|(k, _)| Address::with_key(name.to_string(), InstanceKey::Str(k.clone())))
                .collect(),
            Instances::Count(n) => (0..*n)
                .map(|i| Address::with_key(name.to_string(), InstanceKey::Int(i)))
                .collect(),
        }
    }
}

/// The instances of every plan, by plan name.
pub(super) fn expand_all(
    cx: &mut Lowering,
    plans: &[PlanBlock],
    locals: &Locals,
    plan_names: &[&str],
) -> BTreeMap<String, Instances> {
    let local_names = locals.names();
    let mut instances: BTreeMap<String, Instances> = BTreeMap::new();
    let mut total = 0u64;
    for p in plans {
        // What for_each and count may read: no `each`, no `count`.
        let scope = Scope {
            vars: &cx.variables,
            locals: &local_names,
            plans: plan_names,
            repeated: &cx.repeated_plans,
            each: false,
            count: false,
        };
        let mut inst = match expand(p, &cx.ctx, &scope, &locals.late, &mut cx.diags) {
            Some(inst) => inst,
            // Its for_each or count failed (and was reported): the plan has no instances to
            // evaluate, and what reads it makes no follow-on error.
            None => {
                super::eval::value_failed("plan", &p.name);
                Instances::Count(0)
            }
        };
        let n = inst.len();
        if total <= MAX_INSTANCES && total + n > MAX_INSTANCES {
            cx.diags.push(error(
                &p.node.loc,
                Some(format!("plan.{}", p.name)),
                format!("the manifests make more than {MAX_INSTANCES} plan instances (a limit of planform); split them into several workspaces"),
            ));
        }
        total += n;
        if total > MAX_INSTANCES {
            inst = Instances::Count(0);
        }
        instances.insert(p.name.clone(), inst);
    }
    instances
}

/// The value of `plan`: per plan name, and all plans together.
pub(super) struct PlanObject {
    pub(super) per_plan: BTreeMap<String, Value>,
    pub(super) all: Value,
}

/// Builds the `plan` object: markers for each attribute a reference may read, with the output
/// keys that plans, locals and outputs name.
pub(super) fn plan_object(
    cx: &mut Lowering,
    plans: &[PlanBlock],
    instances: &BTreeMap<String, Instances>,
    locals: &Locals,
    output_blocks: &[&BlockNode],
    output_refs: &[Vec<Reference>],
) -> PlanObject {
    let diags = &mut cx.diags;
    let plan_names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    // The `plan` object: markers for each attribute a reference may read.
    let mut output_keys: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut note_outputs = |refs: &[Reference], loc: &SourceLocation, diags: &mut Diagnostics| {
        for r in refs.iter().filter(|r| r.root == "plan") {
            if let Some(Step::Attr(name)) = r.steps.first() {
                let Some(&plan) = plan_names.iter().find(|n| **n == name.as_str()) else {
                    continue;
                };
                let rest: &[Step] = if matches!(r.steps.get(1), Some(Step::Index(_))) {
                    &r.steps[2..]
                } else {
                    &r.steps[1..]
                };
                if let [Step::Attr(o), key, ..] = rest {
                    if o == "outputs" {
                        match key {
                            Step::Attr(k) | Step::Index(Some(Value::String(k))) => {
                                output_keys.entry(plan).or_default().insert(k.clone());
                            }
                            _ => diags.push(error(loc, None, format!("plan.{name}.outputs must be indexed with a literal key, e.g. plan.{name}.outputs.vpc_id"))),
                        }
                    }
                }
            }
        }
    };
    for p in plans {
        for (a, refs) in &p.refs {
            note_outputs(refs, &a.value_loc, diags);
        }
    }
    for a in &locals.attrs {
        note_outputs(&locals.refs[a.name.as_str()], &a.value_loc, diags);
    }
    for (b, refs) in output_blocks.iter().zip(output_refs) {
        note_outputs(refs, &b.loc, diags);
    }
    let per_plan: BTreeMap<String, Value> = plans
        .iter()
        .map(|p| {
            let keys = output_keys
                .get(p.name.as_str())
                .cloned()
                .unwrap_or_default();
            (
                p.name.clone(),
                plan_value(&p.name, &instances[&p.name], &keys),
            )
        })
        .collect();
    let all = Value::Object(
        per_plan
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    PlanObject { per_plan, all }
}

/// The instances of one plan, from its `for_each` or `count`; `None` when they fail (reported,
/// or echoing an error already reported).
fn expand(
    p: &PlanBlock,
    ctx: &Context,
    scope: &Scope,
    late_locals: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Option<Instances> {
    let subject = format!("plan.{}", p.name);
    let fe = p.node.attr("for_each");
    let ct = p.node.attr("count");
    if let (Some(_), Some(c)) = (fe, ct) {
        diags.push(error(
            &c.loc,
            Some(subject),
            "for_each and count cannot both be set",
        ));
        return None;
    }
    let Some(a) = fe.or(ct) else {
        return Some(Instances::Single);
    };
    let refs = references(&a.expr);
    let wrong_refs = check_references(&refs, a, &format!("{subject}.{}", a.name), scope, diags);
    if wrong_refs {
        return None;
    }
    if refs.iter().any(|r| {
        r.root == "plan"
            || (r.root == "local" && r.first_attr().is_some_and(|l| late_locals.contains(l)))
    }) {
        diags.push(error(
            &a.value_loc,
            Some(format!("{subject}.{}", a.name)),
            format!(
                "{} must be known before apply; it cannot depend on another plan's attributes",
                a.name
            ),
        ));
        return None;
    }
    let v = eval(a, ctx, &format!("{subject}.{}", a.name), diags)?;
    let too_many = |n: u64, diags: &mut Diagnostics| {
        diags.push(error(
            &a.value_loc,
            Some(format!("{subject}.{}", a.name)),
            format!("makes {n} instances; at most {MAX_INSTANCES_PER_BLOCK} per plan block (a limit of planform)"),
        ));
        None
    };
    if a.name == "count" {
        return match as_count(&v) {
            Some(n) if n > MAX_INSTANCES_PER_BLOCK => too_many(n, diags),
            Some(n) => Some(Instances::Count(n)),
            None => {
                diags.push(error(
                    &a.value_loc,
                    Some(format!("{subject}.count")),
                    format!("must be a whole number of 0 or more, got {}", describe(&v)),
                ));
                None
            }
        };
    }
    let items: Option<Vec<(String, Value)>> = match &v {
        Value::Object(o) => Some(o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| as_string(i).map(|s| (s.clone(), Value::String(s))))
            .collect(),
        _ => None,
    };
    match items {
        Some(items) if items.len() as u64 > MAX_INSTANCES_PER_BLOCK => {
            too_many(items.len() as u64, diags)
        }
        Some(mut items) => {
            items.sort_by(|a, b| a.0.cmp(&b.0));
            // Sets drop duplicates, as toset() does.
            items.dedup_by(|a, b| a.0 == b.0);
            Some(Instances::ForEach(items))
        }
        None => {
            diags.push(error(
                &a.value_loc,
                Some(format!("{subject}.for_each")),
                format!(
                    "must be a map, or a set of strings (use toset([…])), got {}",
                    describe(&v)
                ),
            ));
            None
        }
    }
}

/// The markers of one instance's attributes and of the outputs references read.
fn instance_value(addr: &str, output_keys: &BTreeSet<String>) -> Value {
    let mut o = Map::new();
    for a in ["id", "provisioned_product_id", "stack_id", "status"] {
        o.insert(
            a.to_string(),
            Value::String(unknown_marker(&format!("{addr}.{a}"))),
        );
    }
    let outputs: Map<String, Value> = output_keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                Value::String(unknown_marker(&format!("{addr}.outputs.{k}"))),
            )
        })
        .collect();
    o.insert("outputs".to_string(), Value::Object(outputs));
    Value::Object(o)
}

/// The value `plan.NAME` evaluates to: one instance, a map by key, or a list by index.
fn plan_value(name: &str, inst: &Instances, output_keys: &BTreeSet<String>) -> Value {
    match inst {
        Instances::Single => instance_value(&Address::new(name).to_string(), output_keys),
        Instances::ForEach(items) => Value::Object(
            items
                .iter()
                .map(|(k, _)| {
                    (
                        k.clone(),
                        instance_value(
                            &Address::with_key(name, InstanceKey::Str(k.clone())).to_string(),
                            output_keys,
                        ),
                    )
                })
                .collect(),
        ),
        Instances::Count(n) => Value::Array(
            (0..*n)
                .map(|i| {
                    instance_value(
                        &Address::with_key(name, InstanceKey::Int(i)).to_string(),
                        output_keys,
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
