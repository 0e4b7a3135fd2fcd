//! Everything a command shows goes through one [`Sink`], fed typed reports: change sets, apply
//! events, cloud previews, drift items, outputs and diagnostics. `text`, `json` and `markdown`
//! implement it (ripgrep's printers, Terraform's views); `progress` is the live apply display.
//! The JSON schema is documented in docs/json-output.md.

pub mod console;
pub mod document;
pub mod escape;
pub mod graph;
pub mod json;
pub mod markdown;
pub mod progress;
#[cfg(test)]
mod schema;
#[cfg(test)]
mod tests;
pub mod text;

use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style as Ansi};
use planform_engine::{Action, ChangeSet, DriftItem, Event, Observer};
use planform_manifest::{Diagnostics, Severity};
use planform_model::is_known;
use planform_state::State;

use crate::args::Format;
use crate::ops::{ApplySummary, Previewed, RefreshDrift, ShownOutput};

/// Whether text is coloured.
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, style: Ansi, s: &str) -> String {
        if self.color {
            format!("{}{s}{}", style.render(), style.render_reset())
        } else {
            s.to_string()
        }
    }

    pub fn green(&self, s: &str) -> String {
        self.paint(AnsiColor::Green.on_default(), s)
    }

    pub fn red(&self, s: &str) -> String {
        self.paint(AnsiColor::Red.on_default(), s)
    }

    pub fn yellow(&self, s: &str) -> String {
        self.paint(AnsiColor::Yellow.on_default(), s)
    }

    pub fn marker(&self, action: &Action) -> String {
        let m = action.marker();
        let style = match m {
            "+" => AnsiColor::Green.on_default(),
            "-" => AnsiColor::Red.on_default(),
            "~" => AnsiColor::Yellow.on_default(),
            "-/+" => AnsiColor::Magenta.on_default(),
            ">" => AnsiColor::Cyan.on_default(),
            _ => Ansi::new().bold(),
        };
        self.paint(style, m)
    }

    pub fn bold(&self, s: &str) -> String {
        self.paint(Ansi::new().bold(), s)
    }
}

/// How a value shows: masked, unknown, or quoted.
pub fn show_value(v: &str, sensitive: bool) -> String {
    if sensitive {
        "(sensitive value)".into()
    } else if !is_known(v) {
        "(known after apply)".into()
    } else {
        escape::quoted(v)
    }
}

/// Where a sink writes: standard output, or a buffer the command saves (`drift --out`).
#[derive(Clone)]
pub enum Out {
    Stdout,
    Buffer(Arc<Mutex<String>>),
}

impl Out {
    pub fn buffer() -> Out {
        Out::Buffer(Arc::default())
    }

    /// What was written to a buffer so far.
    pub fn contents(&self) -> String {
        match self {
            Out::Stdout => String::new(),
            Out::Buffer(b) => b.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    pub fn put(&self, s: &str) {
        match self {
            Out::Stdout => out!("{s}"),
            Out::Buffer(b) => b.lock().unwrap_or_else(|e| e.into_inner()).push_str(s),
        }
    }

    pub fn line(&self, s: &str) {
        self.put(&format!("{s}\n"));
    }
}

/// The typed reports a command shows, one method per kind. Reports without a rendering of
/// their own in a format fall back to the text one.
pub trait Sink: Send + Sync {
    /// A streaming command started: a JSON stream writes its `version` line now, so a run that
    /// then waits (for the state lock, a slow refresh) shows at once that it is alive.
    fn started(&self) {}
    /// A change set, from plan, apply, destroy or show.
    fn changes(&self, changes: &ChangeSet);
    /// The cloud plans `plan --cloud-preview` made, before the first entry.
    fn cloud_preview_begin(&self);
    fn cloud_preview(&self, entry: &Previewed);
    /// Apply starts carrying out `total` changes.
    fn apply_begin(&self, total: usize);
    /// An event of the running apply.
    fn apply_event(&self, event: &Event);
    fn apply_summary(&self, summary: &ApplySummary);
    fn drift(&self, items: &[DriftItem], workspace: &str);
    /// `show` without a plan file: the state's plans.
    fn state(&self, state: &State);
    /// `output`: every output.
    fn outputs(&self, outputs: &[ShownOutput]);
    /// `output NAME`: one value (masked when sensitive).
    fn output_value(&self, output: &ShownOutput);

    /// `plan --refresh-only`: what changed in the cloud (text in every format).
    fn refresh_drift(&self, drift: &[RefreshDrift]);
    /// Apply had nothing to do; the outputs are shown as text in every format.
    fn nothing_to_apply(&self, outputs: Option<&[ShownOutput]>);

    /// The manifests' diagnostics, on standard error in every format.
    fn diagnostics(&self, diagnostics: &Diagnostics) {
        for x in &diagnostics.0 {
            let prefix = if x.severity == Severity::Error {
                "error: "
            } else {
                ""
            };
            errln!("{prefix}{}", escape::text(&x.to_string()));
        }
    }

    /// A warning about the run itself (e.g. `--target` is in effect), on standard error in text.
    fn warning(&self, summary: &str, detail: &str) {
        errln!("Warning: {summary}\n\n{detail}\n");
    }

    /// An error that stops the command, such as one the diff finds; on standard error in text.
    fn error(&self, message: &str) {
        errln!("error: {}", escape::text(message));
    }

    /// The manifests are invalid: their diagnostics and the count of errors.
    fn invalid(&self, diagnostics: &Diagnostics) {
        self.diagnostics(diagnostics);
        let n = diagnostics.errors().count();
        errln!(
            "{n} error{} found; nothing was sent to any cloud.",
            if n == 1 { "" } else { "s" }
        );
    }
}

/// The sink for `format`, writing to `out`; `terminal` chooses the live apply display; `dir` is
/// the manifest directory (JSON diagnostics quote their source lines); `budget` sizes markdown.
pub fn sink(
    format: Format,
    style: Style,
    terminal: bool,
    out: Out,
    dir: &std::path::Path,
    budget: markdown::Budget,
) -> Arc<dyn Sink> {
    let text = text::Text::new(style, terminal, out.clone());
    match format {
        Format::Text => Arc::new(text),
        Format::Json => Arc::new(json::Json::new(text, out, dir.to_path_buf())),
        Format::Markdown => Arc::new(markdown::Markdown::new(text, out, budget)),
    }
}

/// The engine's apply events, fed to a sink.
pub struct Feed(pub Arc<dyn Sink>);

impl Observer for Feed {
    fn event(&self, event: &Event) {
        self.0.apply_event(event)
    }
}

/// Saving the state failed during apply: said on standard error in every format.
fn state_errors(summary: &ApplySummary) {
    for e in &summary.state_errors {
        errln!("error: saving the state failed: {e}");
    }
}
