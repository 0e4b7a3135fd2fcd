//! Dependencies between plan instances: explicit `depends_on`, those implied by the unknown
//! markers left in values, plan addresses (`plan.x["k"]`) and the cycle check.

use std::collections::{BTreeMap, BTreeSet};

use hcl::{Expression, Value};
use planform_model::{split_reference, Address, DesiredState, InstanceKey, SourceLocation};

use super::instances::Instances;
use super::plans::PlanBlock;
use crate::diagnostic::Diagnostics;
use crate::references::{references, Step};
use crate::syntax::{error, hint};

/// Reads `plan.x` / `plan.x["k"]` / `plan.x[0]` as an address, without evaluation.
pub(super) fn address_of(
    expr: &Expression,
    loc: &SourceLocation,
    diags: &mut Diagnostics,
) -> Option<Address> {
    let refs = references(expr);
    let ok = match (expr, refs.as_slice()) {
        (Expression::Traversal(_), [r]) if r.root == "plan" => match r.steps.as_slice() {
            [Step::Attr(n)] => Some(Address::new(n.clone())),
            [Step::Attr(n), Step::Index(Some(Value::String(k)))] => {
                Some(Address::with_key(n.clone(), InstanceKey::Str(k.clone())))
            }
            [Step::Attr(n), Step::Index(Some(Value::Number(i)))] => i
                .as_u64()
                .map(|i| Address::with_key(n.clone(), InstanceKey::Int(i))),
            _ => None,
        },
        _ => None,
    };
    if ok.is_none() {
        diags.push(error(
            loc,
            None,
            "expected a plan address such as plan.network or plan.app[\"web\"]",
        ));
    }
    ok
}

/// The instances a plan's `depends_on` names.
pub(super) fn explicit_dependencies(
    p: &PlanBlock,
    plans: &[PlanBlock],
    instances: &BTreeMap<String, Instances>,
    diags: &mut Diagnostics,
) -> BTreeSet<Address> {
    let mut out = BTreeSet::new();
    let Some(a) = p.node.attr("depends_on") else {
        return out;
    };
    let subject = format!("plan.{}.depends_on", p.name);
    let Expression::Array(items) = &a.expr else {
        diags.push(error(
            &a.value_loc,
            Some(subject),
            "must be a list of plan references, e.g. [plan.network]",
        ));
        return out;
    };
    for item in items {
        let Some(addr) = address_of(item, &a.value_loc, diags) else {
            continue;
        };
        let Some(target) = plans.iter().find(|q| q.name == addr.name) else {
            let names: Vec<&str> = plans.iter().map(|q| q.name.as_str()).collect();
            diags.push(error(
                &a.value_loc,
                Some(subject.clone()),
                format!(
                    "reference to undeclared plan {:?}{}",
                    addr.name,
                    hint(&addr.name, &names)
                ),
            ));
            continue;
        };
        let all = instances[&target.name].addresses(&target.name);
        if addr.key == InstanceKey::None {
            out.extend(all);
        } else if all.contains(&addr) {
            out.insert(addr);
        } else {
            diags.push(error(
                &a.value_loc,
                Some(subject.clone()),
                format!(
                    "{addr} does not exist (instances: {})",
                    all.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    out
}

/// Adds the dependencies implied by the unknown markers each instance's values hold.
pub(super) fn add_implied(
    desired: &mut DesiredState,
    edges_from_refs: BTreeMap<Address, BTreeSet<String>>,
) {
    for (address, refs) in edges_from_refs {
        for r in refs {
            if let Some((dep, _)) = split_reference(&r) {
                if desired.plans.contains_key(&dep) {
                    if let Some(p) = desired.plans.get_mut(&address) {
                        p.depends_on.insert(dep);
                    }
                }
            }
        }
    }
}

/// Reports every dependency cycle, walked in edge order from its smallest address.
pub(super) fn check_cycles(desired: &DesiredState, diags: &mut Diagnostics) {
    use petgraph::graph::DiGraph;
    let mut g = DiGraph::<&Address, ()>::new();
    let idx: BTreeMap<&Address, _> = desired.plans.keys().map(|a| (a, g.add_node(a))).collect();
    for (a, p) in &desired.plans {
        for d in &p.depends_on {
            if let Some(&to) = idx.get(d) {
                g.add_edge(idx[a], to, ());
            }
        }
    }
    for scc in petgraph::algo::tarjan_scc(&g) {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        // Walk the cycle in edge order from its smallest address.
        let members: BTreeSet<_> = scc.iter().copied().collect();
        let start = *scc.iter().min_by_key(|n| g[**n]).expect("non-empty");
        let mut path = vec![start];
        let mut cur = start;
        loop {
            let next = g
                .neighbors(cur)
                .filter(|n| members.contains(n))
                .min_by_key(|n| g[*n])
                .expect("in a cycle");
            if next == start || path.contains(&next) {
                path.push(next);
                break;
            }
            path.push(next);
            cur = next;
        }
        let text: Vec<String> = path.iter().map(|n| g[*n].to_string()).collect();
        let loc = &desired.plans[g[start]].location;
        diags.push(error(
            loc,
            None,
            format!("dependency cycle: {}", text.join(" -> ")),
        ));
    }
}

#[cfg(test)]
mod tests;
