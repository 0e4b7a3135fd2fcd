//! Markdown for a pull-request comment: change sets (with a Mermaid graph of the changes, which
//! GitHub renders, up to a size limit) and drift reports; the rest as text.
//!
//! A report fits a size [`Budget`] (a GitHub comment holds 65,536 characters): the summary always,
//! then as many entries as fit, the most important first (replacements and destroys before
//! updates, creates and executions), each with its details while they fit too, and a last line
//! that says what was left out and where the whole of it is. Inside ```` ```diff ```` blocks the
//! `+`/`-`/`~` markers stand at column 0, where GitHub colours them.

use std::fmt::Write;
use std::path::Path;

use planform_engine::{Action, Change, ChangeSet, DriftItem, DriftKind, Event};
use planform_state::State;

use super::text::{self, Text};
use super::{Out, Sink, Style};
use crate::ops::{ApplySummary, Previewed, RefreshDrift, ShownOutput};

/// The most a GitHub pull-request comment, issue body or review may hold.
pub const COMMENT_LIMIT: usize = 65_536;

/// The default budget, 65,000: a comment's limit less room for a recipe's hidden marker line.
pub const DEFAULT_LIMIT: usize = COMMENT_LIMIT - 536;

/// The smallest budget: the header, the summary and the line about what was left out.
pub const MIN_LIMIT: usize = 2_000;

/// How large a markdown report may be, and where the whole of it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// At most this many bytes of UTF-8 (so never more characters).
    pub limit: usize,
    /// The plan file `plan --out` wrote, named by the line about what was left out.
    pub full_plan: Option<String>,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            limit: DEFAULT_LIMIT,
            full_plan: None,
        }
    }
}

impl Budget {
    /// The budget of a command: `--markdown-limit` (default [`DEFAULT_LIMIT`]) and the plan file
    /// it saves, if any.
    pub fn new(limit: Option<usize>, full_plan: Option<&Path>) -> Budget {
        Budget {
            limit: limit.unwrap_or(DEFAULT_LIMIT),
            full_plan: full_plan.map(|p| p.display().to_string()),
        }
    }
}

/// How much a reviewer must look at an action: replacements and destroys first, then what
/// blocks the plan, updates, creates, executions, waits, and what only leaves the state.
fn importance(action: &Action) -> u8 {
    match action {
        Action::Replace {
            update_existing: true,
            ..
        } => 2,
        Action::Replace { .. } | Action::Terminate { .. } | Action::Delete { .. } => 0,
        Action::Blocked { .. } => 1,
        Action::UpdateInPlace { .. } | Action::UpdateProduct { .. } | Action::Retry => 2,
        Action::Create { .. } => 3,
        Action::Execute => 4,
        Action::AwaitApproval | Action::Wait { .. } => 5,
        Action::Forget => 6,
    }
}

/// How much a reviewer must look at a drift item: what is gone or failed before what changed.
fn drift_importance(kind: DriftKind) -> u8 {
    match kind {
        DriftKind::Deleted => 0,
        DriftKind::Product => 1,
        DriftKind::Status => 2,
        DriftKind::Changed => 3,
        DriftKind::Unmanaged => 4,
    }
}

/// `n` with thousands separators: `4,950`.
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A line of a ```` ```diff ```` block with its marker moved to column 0 (`    + name = …` →
/// `+     name = …`), so GitHub colours it. Markers stand at columns 2, 4 and 8 of the text
/// rendering, followed by a space; anything else (a header, an id, an unchanged line of a long
/// value, which starts at column 10) is left as it is.
fn marker_first(line: &str) -> String {
    const MARKERS: [&str; 7] = ["-/+", "+", "-", "~", "!", ">", "…"];
    let indent = line.len() - line.trim_start_matches(' ').len();
    if matches!(indent, 2 | 4 | 8) {
        let rest = &line[indent..];
        for m in MARKERS {
            if let Some(after) = rest.strip_prefix(m) {
                if after.is_empty() || after.starts_with(' ') {
                    return format!("{m}{}{after}", &line[..indent]);
                }
            }
        }
    }
    line.to_string()
}

/// Text for a ```` ```diff ```` block: every line's marker at column 0.
fn diff_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        out.push_str(&marker_first(line));
        out.push('\n');
    }
    out
}

/// A table cell's text: one line (control characters escaped), `|` escaped.
fn cell(s: &str) -> String {
    super::escape::text(s).replace('|', "\\|")
}

/// A table cell's text outside a code span: [`cell`], and HTML's `&`, `<`, `>` as entities, so
/// a message cannot open a tag (GitHub renders HTML in a comment).
fn prose(s: &str) -> String {
    cell(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A table cell's code span: one line, `|` escaped, fenced by more backticks than it holds.
fn code(s: &str) -> String {
    let s = cell(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("{fence}{s}{fence}")
    } else {
        format!("{fence} {s} {fence}")
    }
}

/// Which entries of a report fit a budget: the first `listed` (in the order given) have a table
/// row, and those of them marked in `detailed` their details too.
struct Fit {
    listed: usize,
    detailed: Vec<bool>,
    /// How many of the listed entries have details (shown or not).
    detailable: usize,
}

/// Greedy, in order: an entry's row and details when both fit, its row alone when only that
/// does, and nothing from the first entry whose row does not fit.
fn fit(entries: &[(String, Option<String>)], room: usize) -> Fit {
    let mut used = 0;
    let mut detailed = Vec::new();
    let mut detailable = 0;
    for (row, details) in entries {
        let both = row.len() + details.as_ref().map_or(0, String::len);
        if used + both <= room {
            used += both;
            detailed.push(details.is_some());
        } else if used + row.len() <= room {
            used += row.len();
            detailed.push(false);
        } else {
            break;
        }
        detailable += usize::from(details.is_some());
    }
    Fit {
        listed: detailed.len(),
        detailed,
        detailable,
    }
}

/// What a report cut to its budget shows and leaves out.
struct Cut<'a> {
    /// What an entry is: `change`, `drift item`.
    what: &'a str,
    total: usize,
    listed: usize,
    /// Listed entries shown with their details, of the `detailable` listed ones that have any.
    detailed: usize,
    detailable: usize,
    /// The entries left out, counted by kind.
    left_out: Vec<(&'a str, usize)>,
    limit: usize,
    /// Where the whole report is.
    whole: &'a str,
}

impl Cut<'_> {
    /// The report's last line: what is shown, what was left out, by kind, and where the whole
    /// report is.
    fn line(&self) -> String {
        let what = self.what;
        let mut line = format!(
            "_Cut to fit {} characters: {} of {} {what}s listed, the most important first",
            count(self.limit),
            count(self.listed),
            count(self.total)
        );
        if self.detailed < self.detailable {
            let _ = write!(line, ", {} of them with details", count(self.detailed));
        }
        let missing: usize = self.left_out.iter().map(|(_, n)| n).sum();
        if missing > 0 {
            let kinds: Vec<String> = self
                .left_out
                .iter()
                .map(|(label, n)| format!("{label}: {}", count(*n)))
                .collect();
            let _ = write!(
                line,
                ". Left out: {} {what}{} ({})",
                count(missing),
                if missing == 1 { "" } else { "s" },
                kinds.join(", ")
            );
        }
        let _ = writeln!(line, ". {}_", self.whole);
        line
    }

    /// The longest line a cut of these entries can have: an upper bound to reserve room for.
    fn longest(&self) -> usize {
        Cut {
            listed: self.total,
            // Fewer than every entry detailed, with as many digits as that can take.
            detailed: self.total.saturating_sub(1),
            detailable: self.total,
            left_out: self.left_out.clone(),
            ..*self
        }
        .line()
        .len()
    }
}

/// Counts of `labels` in order of first appearance.
fn tally<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    for l in labels {
        match out.iter_mut().find(|(x, _)| *x == l) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    out
}

/// Where the whole plan is, for the line about what was left out.
fn whole_plan(budget: &Budget) -> String {
    match &budget.full_plan {
        Some(f) => format!(
            "The full plan is the saved plan file `{f}` (the CI recipes keep it in the run's artifact): `planform show {f}` prints it."
        ),
        None => "`planform plan` prints the full plan.".to_string(),
    }
}

/// The change set's `moved` lines, as many as fit `room`, then how many more there are.
fn moves(cs: &ChangeSet, room: usize) -> String {
    let mut out = String::new();
    for (i, (from, to)) in cs.moved.iter().enumerate() {
        let line = format!("  # {from} has moved to {to}\n\n");
        if out.len() + line.len() > room.saturating_sub(100) {
            let _ = writeln!(out, "  # … and {} more moves\n", count(cs.moved.len() - i));
            break;
        }
        out.push_str(&line);
    }
    out
}

/// A run that failed, as markdown: its error in a code block no text can close, cut to fit the
/// smallest budget.
pub fn failure(command: &str, error: &str) -> String {
    let mut error = super::escape::text(error);
    let room = MIN_LIMIT - 200;
    if error.len() > room {
        let mut cut = room;
        while !error.is_char_boundary(cut) {
            cut -= 1;
        }
        error.truncate(cut);
        error.push_str(" … (cut: the whole error is in the job's log)");
    }
    let longest = error.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("### planform {command}: failed\n\n{fence}text\n{error}\n{fence}\n")
}

/// A change set as markdown within `budget`.
pub fn changes(cs: &ChangeSet, budget: &Budget) -> String {
    let mut head = String::from("### planform plan\n\n");
    if cs.is_empty() {
        head.push_str("**No changes.** The cloud matches the manifests.\n");
        return head;
    }
    let _ = writeln!(head, "**{}**\n", text::summary(cs));
    let mut ordered: Vec<&Change> = cs.changes.iter().collect();
    ordered.sort_by_key(|c| importance(&c.action));
    let style = Style { color: false };
    let entries: Vec<(String, Option<String>)> = ordered
        .iter()
        .map(|c| {
            let row = format!(
                "| `{}` | {} | {} | {} |\n",
                c.action.marker(),
                code(&c.address.to_string()),
                c.action.label(),
                prose(c.reason.as_deref().unwrap_or_default())
            );
            (
                row,
                Some(diff_block(&format!("{}\n", text::change(c, &style)))),
            )
        })
        .collect();
    const TABLE: &str = "| | address | action | reason |\n|---|---|---|---|\n";
    let moved = moves(cs, budget.limit / 4);
    const ACTIONS: &str = "planform will perform the following actions:\n\n";
    let details_open = format!("<details><summary>Details</summary>\n\n```diff\n{moved}");
    let details_close = format!("{}\n```\n\n</details>\n", text::summary(cs));
    let whole = whole_plan(budget);
    // The last line at its longest: every change left out.
    let all = tally(ordered.iter().map(|c| c.action.label()));
    let mut cut = Cut {
        what: "change",
        total: cs.changes.len(),
        listed: 0,
        detailed: 0,
        detailable: 0,
        left_out: all,
        limit: budget.limit,
        whole: &whole,
    };
    let reserve = cut.longest() + 1;
    let fixed = head.len()
        + TABLE.len()
        + 1
        + details_open.len()
        + ACTIONS.len()
        + details_close.len()
        + reserve;
    let rows: usize = entries.iter().map(|(r, _)| r.len()).sum();
    let graph = super::graph::markdown_mermaid(cs);
    let graph = if fixed + rows + graph.len() <= budget.limit {
        graph
    } else {
        "_The change graph is left out to fit the size limit (`planform graph --plan --format mermaid` prints it)._\n\n".to_string()
    };
    let room = budget.limit.saturating_sub(fixed + graph.len());
    let fit = fit(&entries, room);

    let mut out = head;
    out.push_str(TABLE);
    for (row, _) in &entries[..fit.listed] {
        out.push_str(row);
    }
    out.push('\n');
    out.push_str(&graph);
    let detailed = fit.detailed.iter().filter(|d| **d).count();
    if detailed > 0 || !moved.is_empty() {
        out.push_str(&details_open);
        if detailed > 0 {
            out.push_str(ACTIONS);
        }
        for ((_, details), shown) in entries.iter().zip(&fit.detailed) {
            if *shown {
                out.push_str(details.as_deref().unwrap_or_default());
            }
        }
        out.push_str(&details_close);
    }
    if fit.listed < entries.len() || detailed < fit.detailable {
        cut.listed = fit.listed;
        cut.detailed = detailed;
        cut.detailable = fit.detailable;
        cut.left_out = tally(ordered[fit.listed..].iter().map(|c| c.action.label()));
        out.push('\n');
        out.push_str(&cut.line());
    }
    out
}

/// What to do about the drift found: `apply` restores what planform applied, but leaves
/// unmanaged plans alone (no address of the manifests claims them), so those get their own
/// advice, and only that when they are all there is.
fn drift_advice(items: &[DriftItem]) -> String {
    let unmanaged = items.iter().any(|i| i.kind == DriftKind::Unmanaged);
    let restorable = items.iter().any(|i| i.kind != DriftKind::Unmanaged);
    let mut advice = String::from("\n");
    if restorable {
        advice.push_str("Run `planform apply` to restore the manifests' intent.");
    }
    if unmanaged {
        if restorable {
            advice.push(' ');
        }
        advice.push_str(
            "`planform apply` leaves unmanaged plans alone: adopt one with `planform import ADDR PLAN_ID`, delete it in the cloud, or pass `--ignore ADDR` to `planform drift`.",
        );
    }
    advice.push('\n');
    advice
}

/// A drift report as markdown within `budget`.
pub fn drift(items: &[DriftItem], workspace: &str, budget: &Budget) -> String {
    let mut head = format!("### planform drift: `{workspace}`\n\n");
    if items.is_empty() {
        head.push_str("**In sync.** The cloud matches what planform applied.\n");
        return head;
    }
    let _ = writeln!(
        head,
        "**{} drift item{} found.**\n",
        count(items.len()),
        if items.len() == 1 { "" } else { "s" }
    );
    let mut ordered: Vec<&DriftItem> = items.iter().collect();
    ordered.sort_by_key(|i| drift_importance(i.kind));
    let entries: Vec<(String, Option<String>)> = ordered
        .iter()
        .map(|i| {
            let row = format!(
                "| {} | {} | {} |\n",
                code(&i.address.to_string()),
                i.kind.as_str(),
                prose(&i.message)
            );
            let details = (!i.diffs.is_empty()).then(|| {
                let mut d = format!("# {}\n", i.address);
                for line in text::drift_diffs(i) {
                    let _ = writeln!(d, "~ {line}");
                }
                d
            });
            (row, details)
        })
        .collect();
    const TABLE: &str = "| address | kind | what |\n|---|---|---|\n";
    const DETAILS_OPEN: &str = "\n<details><summary>Changed inputs</summary>\n\n```diff\n";
    const DETAILS_CLOSE: &str = "```\n\n</details>\n";
    let advice = drift_advice(items);
    let whole = "`planform drift` prints the full report.";
    let all = tally(ordered.iter().map(|i| i.kind.as_str()));
    let mut cut = Cut {
        what: "drift item",
        total: items.len(),
        listed: 0,
        detailed: 0,
        detailable: 0,
        left_out: all,
        limit: budget.limit,
        whole,
    };
    let reserve = cut.longest() + 1;
    let fixed = head.len()
        + TABLE.len()
        + DETAILS_OPEN.len()
        + DETAILS_CLOSE.len()
        + advice.len()
        + reserve;
    let fit = fit(&entries, budget.limit.saturating_sub(fixed));

    let mut out = head;
    out.push_str(TABLE);
    for (row, _) in &entries[..fit.listed] {
        out.push_str(row);
    }
    let detailed = fit.detailed.iter().filter(|d| **d).count();
    if detailed > 0 {
        out.push_str(DETAILS_OPEN);
        for ((_, details), shown) in entries.iter().zip(&fit.detailed) {
            if *shown {
                out.push_str(details.as_deref().unwrap_or_default());
            }
        }
        out.push_str(DETAILS_CLOSE);
    }
    out.push_str(&advice);
    if fit.listed < entries.len() || detailed < fit.detailable {
        cut.listed = fit.listed;
        cut.detailed = detailed;
        cut.detailable = fit.detailable;
        cut.left_out = tally(ordered[fit.listed..].iter().map(|i| i.kind.as_str()));
        out.push('\n');
        out.push_str(&cut.line());
    }
    out
}

/// The markdown sink.
pub struct Markdown {
    text: Text,
    out: Out,
    budget: Budget,
}

impl Markdown {
    pub fn new(text: Text, out: Out, budget: Budget) -> Markdown {
        Markdown { text, out, budget }
    }
}

impl Sink for Markdown {
    fn changes(&self, cs: &ChangeSet) {
        self.out.put(&changes(cs, &self.budget));
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
        self.out.put(&drift(items, workspace, &self.budget));
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
