//! Pictures: the manifests' dependency graph and a plan's change set, in Graphviz DOT or as a
//! Mermaid flowchart (GitHub renders Mermaid in markdown, so the markdown plan embeds one).
//! Change-set nodes are coloured by action.

use std::collections::BTreeMap;
use std::fmt::Write;

use planform_engine::{Action, ChangeSet};
use planform_model::{Address, DesiredState};

/// The markdown plan embeds the change-set graph only up to this many changes: beyond it a
/// picture no longer helps, and GitHub refuses large diagrams.
pub const MERMAID_MAX_CHANGES: usize = 40;

/// The manifests' dependency graph in DOT (each plan points at what it depends on).
pub fn dependencies_dot(desired: &DesiredState) -> String {
    planform_engine::dot(desired)
}

/// The manifests' dependency graph as a Mermaid flowchart.
pub fn dependencies_mermaid(desired: &DesiredState) -> String {
    let ids = node_ids(desired.plans.keys());
    let mut out = String::from("flowchart RL\n");
    for (a, id) in &ids {
        let _ = writeln!(out, "  {id}[\"{}\"]", mermaid_label(&a.to_string()));
    }
    for (a, p) in &desired.plans {
        for d in &p.depends_on {
            if let Some(to) = ids.get(d) {
                let _ = writeln!(out, "  {} --> {to}", ids[a]);
            }
        }
    }
    out
}

/// The colour class of an action: what a reviewer should look at first.
fn class(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create",
        Action::UpdateInPlace { .. } | Action::UpdateProduct { .. } | Action::Retry => "update",
        Action::Replace { .. } => "replace",
        Action::Terminate { .. } | Action::Delete { .. } | Action::Forget => "destroy",
        Action::Execute => "execute",
        Action::AwaitApproval | Action::Wait { .. } => "wait",
        Action::Blocked { .. } => "blocked",
    }
}

/// Fill colours of the classes (the text display's colours: green, yellow, magenta, red, cyan).
const CLASSES: [(&str, &str); 7] = [
    ("create", "#b7e4c7"),
    ("update", "#ffe8a3"),
    ("replace", "#e0b0ff"),
    ("destroy", "#ffb3b3"),
    ("execute", "#a8dadc"),
    ("wait", "#dddddd"),
    ("blocked", "#ff6b6b"),
];

fn fill(class: &str) -> &'static str {
    CLASSES
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, f)| *f)
        .unwrap_or("#ffffff")
}

/// A change set in DOT: one node per change, labelled and coloured by action; edges from each
/// change to the changes it waits for.
pub fn changes_dot(cs: &ChangeSet) -> String {
    let mut out = String::from(
        "digraph changes {\n  rankdir = \"RL\";\n  node [shape = box, style = filled];\n",
    );
    for c in &cs.changes {
        let _ = writeln!(
            out,
            "  {:?} [label = {:?}, fillcolor = {:?}];",
            c.address.to_string(),
            format!("{} {}\n{}", c.action.marker(), c.address, c.action.label()),
            fill(class(&c.action))
        );
    }
    for (from, to) in edges(cs) {
        let _ = writeln!(out, "  {:?} -> {:?};", from.to_string(), to.to_string());
    }
    out.push_str("}\n");
    out
}

/// A change set as a Mermaid flowchart, coloured by action.
pub fn changes_mermaid(cs: &ChangeSet) -> String {
    let ids = node_ids(cs.changes.iter().map(|c| &c.address));
    let mut out = String::from("flowchart RL\n");
    for c in &cs.changes {
        let _ = writeln!(
            out,
            "  {}[\"{} {}<br/>{}\"]:::{}",
            ids[&c.address],
            mermaid_label(c.action.marker()),
            mermaid_label(&c.address.to_string()),
            c.action.label(),
            class(&c.action)
        );
    }
    for (from, to) in edges(cs) {
        let _ = writeln!(out, "  {} --> {}", ids[from], ids[to]);
    }
    for (class, colour) in CLASSES {
        if cs.changes.iter().any(|c| self::class(&c.action) == class) {
            let _ = writeln!(
                out,
                "  classDef {class} fill:{colour},stroke:#333,color:#000"
            );
        }
    }
    out
}

/// The edges between changes: each change to the changes it is ordered after.
fn edges(cs: &ChangeSet) -> Vec<(&Address, &Address)> {
    let present: BTreeMap<&Address, ()> = cs.changes.iter().map(|c| (&c.address, ())).collect();
    let mut out = Vec::new();
    for c in &cs.changes {
        for d in c.depends_on.iter().chain(c.after_addresses.iter()) {
            if let Some((to, _)) = present.get_key_value(d) {
                if *to != &c.address && !out.contains(&(&c.address, *to)) {
                    out.push((&c.address, *to));
                }
            }
        }
    }
    out
}

/// Short node ids (`n0`, `n1`, …): Mermaid ids cannot hold an address's brackets and quotes.
fn node_ids<'a>(addresses: impl Iterator<Item = &'a Address>) -> BTreeMap<&'a Address, String> {
    addresses
        .enumerate()
        .map(|(i, a)| (a, format!("n{i}")))
        .collect()
}

/// Text inside a quoted Mermaid label: quotes and markup characters as entities.
fn mermaid_label(s: &str) -> String {
    super::escape::text(s)
        .replace('&', "#amp;")
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// The markdown plan's embedded graph: a fenced Mermaid block, or a note when the change set
/// is empty or larger than [`MERMAID_MAX_CHANGES`].
pub fn markdown_mermaid(cs: &ChangeSet) -> String {
    if cs.changes.is_empty() {
        return String::new();
    }
    if cs.changes.len() > MERMAID_MAX_CHANGES {
        return format!(
            "_The change graph is left out: {} changes are more than the {MERMAID_MAX_CHANGES} it draws (`planform graph --plan --format mermaid` prints it)._\n\n",
            cs.changes.len()
        );
    }
    format!("```mermaid\n{}```\n\n", changes_mermaid(cs))
}
