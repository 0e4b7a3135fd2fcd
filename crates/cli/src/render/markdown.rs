//! Markdown for a pull-request comment: change sets (with a Mermaid graph of the changes, which
//! GitHub renders, up to a size limit) and drift reports; the rest as text.

use std::fmt::Write;

use planform_engine::{ChangeSet, DriftItem, Event};
use planform_state::State;

use super::text::{self, Text};
use super::{Out, Sink, Style};
use crate::ops::{ApplySummary, Previewed, RefreshDrift, ShownOutput};

pub fn changes(cs: &ChangeSet) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### planform plan\n");
    if cs.is_empty() {
        out.push_str("**No changes.** The cloud matches the manifests.\n");
        return out;
    }
    let _ = writeln!(out, "**{}**\n", text::summary(cs));
    out.push_str("| | address | action | reason |\n|---|---|---|---|\n");
    for c in &cs.changes {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} | {} |",
            c.action.marker(),
            c.address,
            c.action.label(),
            c.reason.clone().unwrap_or_default().replace('|', "\\|")
        );
    }
    out.push('\n');
    out.push_str(&super::graph::markdown_mermaid(cs));
    out.push_str("<details><summary>Details</summary>\n\n```diff\n");
    out.push_str(&text::changes(cs, &Style { color: false }));
    out.push_str("```\n\n</details>\n");
    out
}

pub fn drift(items: &[DriftItem], workspace: &str) -> String {
    let mut out = format!("### planform drift: `{workspace}`\n\n");
    if items.is_empty() {
        out.push_str("**In sync.** The cloud matches what planform applied.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "**{} drift item{} found.**\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    );
    out.push_str("| address | kind | what |\n|---|---|---|\n");
    for i in items {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            i.address,
            i.kind.as_str(),
            i.message.replace('|', "\\|")
        );
    }
    let detailed: Vec<_> = items.iter().filter(|i| !i.diffs.is_empty()).collect();
    if !detailed.is_empty() {
        out.push_str("\n<details><summary>Changed inputs</summary>\n\n```diff\n");
        for i in detailed {
            let _ = writeln!(out, "# {}", i.address);
            for d in text::drift_diffs(i) {
                let _ = writeln!(out, "~ {d}");
            }
        }
        out.push_str("```\n\n</details>\n");
    }
    out.push_str("\nRun `planform apply` to restore the manifests' intent.\n");
    out
}

/// The markdown sink.
pub struct Markdown {
    text: Text,
    out: Out,
}

impl Markdown {
    pub fn new(text: Text, out: Out) -> Markdown {
        Markdown { text, out }
    }
}

impl Sink for Markdown {
    fn changes(&self, cs: &ChangeSet) {
        self.out.put(&changes(cs));
    }

    fn cloud_preview_begin(&self) {
        self.text.cloud_preview_begin();
    }

    fn cloud_preview(&self, entry: &Previewed) {
        self.text.cloud_preview(entry);
    }

    fn apply_begin(&self, total: usize) {
        self.text.apply_begin(total);
    }

    fn apply_event(&self, event: &Event) {
        self.text.apply_event(event);
    }

    fn apply_summary(&self, summary: &ApplySummary) {
        self.text.apply_summary(summary);
    }

    fn drift(&self, items: &[DriftItem], workspace: &str) {
        self.out.put(&drift(items, workspace));
    }

    fn state(&self, state: &State) {
        self.text.state(state);
    }

    fn outputs(&self, outputs: &[ShownOutput]) {
        self.text.outputs(outputs);
    }

    fn output_value(&self, output: &ShownOutput) {
        self.text.output_value(output);
    }

    fn refresh_drift(&self, drift: &[RefreshDrift]) {
        self.text.refresh_drift(drift);
    }

    fn nothing_to_apply(&self, outputs: Option<&[ShownOutput]>) {
        self.text.nothing_to_apply(outputs);
    }
}
