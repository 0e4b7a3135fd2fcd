//! Ordering: a petgraph DAG of a change set (edges from `after_addresses`) and the DOT of the
//! manifests' dependency graph. Pure.

use std::collections::BTreeMap;

use petgraph::graph::{DiGraph, NodeIndex};
use planform_model::{Address, DesiredState};

use crate::diff::ChangeSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", .0.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" -> "))]
pub struct OrderError(pub Vec<Address>);

/// For each change (by index), the indices of the changes it must wait for; and a topological
/// order of all of them. Waits on addresses outside the change set are already satisfied.
pub fn order(changes: &ChangeSet) -> Result<(Vec<usize>, Vec<Vec<usize>>), OrderError> {
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..changes.changes.len()).map(|i| g.add_node(i)).collect();
    let index: BTreeMap<&Address, usize> = changes
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.address, i))
        .collect();
    let mut waits = vec![Vec::new(); changes.changes.len()];
    for (i, c) in changes.changes.iter().enumerate() {
        for a in &c.after_addresses {
            if let Some(&j) = index.get(a) {
                g.add_edge(nodes[j], nodes[i], ());
                waits[i].push(j);
            }
        }
    }
    match petgraph::algo::toposort(&g, None) {
        Ok(sorted) => Ok((sorted.into_iter().map(|n| g[n]).collect(), waits)),
        Err(cycle) => {
            let start = g[cycle.node_id()];
            let mut path = vec![changes.changes[start].address.clone()];
            let mut cur = start;
            while let Some(&next) = waits[cur].first() {
                path.push(changes.changes[next].address.clone());
                if next == start || path.len() > changes.changes.len() {
                    break;
                }
                cur = next;
            }
            Err(OrderError(path))
        }
    }
}

/// The manifests' dependency graph in Graphviz DOT; an edge points from a plan to what it needs.
pub fn dot(desired: &DesiredState) -> String {
    let mut g: DiGraph<String, ()> = DiGraph::new();
    let idx: BTreeMap<&Address, NodeIndex> = desired
        .plans
        .keys()
        .map(|a| (a, g.add_node(a.to_string())))
        .collect();
    for (a, p) in &desired.plans {
        for d in &p.depends_on {
            if let Some(&to) = idx.get(d) {
                g.add_edge(idx[a], to, ());
            }
        }
    }
    let mut out = String::from("digraph planform {\n  rankdir = \"RL\";\n  node [shape = box];\n");
    for n in g.node_indices() {
        out.push_str(&format!("  {:?};\n", g[n]));
    }
    for e in g.edge_indices() {
        let (a, b) = g.edge_endpoints(e).expect("edge exists");
        out.push_str(&format!("  {:?} -> {:?};\n", g[a], g[b]));
    }
    out.push_str("}\n");
    out
}
