//! Diagnostics: every problem found in the manifests, each with `file:line:col`.

use std::fmt;
use std::ops::Range;

use planform_model::SourceLocation;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem: where, about what (an address and attribute path), and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: SourceLocation,
    /// What the problem is about, e.g. `plan.app["web"].tags`.
    pub subject: Option<String>,
    pub message: String,
    /// Where the expression the problem is in starts (an attribute's value); `location` may
    /// point inside it. One problem is reported per expression: a later error anchored at the
    /// same place is an echo of the first.
    pub anchor: SourceLocation,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        write!(f, "{}: ", self.location)?;
        if let Some(s) = &self.subject {
            write!(f, "{s}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// All the diagnostics of one load, in source order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            (
                &a.location.file,
                a.location.line,
                a.location.col,
                &a.message,
            )
                .cmp(&(
                    &b.location.file,
                    b.location.line,
                    b.location.col,
                    &b.message,
                ))
        });
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A loaded source file and its line starts, to turn byte offsets into line:col.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// The 1-based line and column (in characters) of byte `offset`.
    pub fn location(&self, offset: usize) -> SourceLocation {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map(|s| s.chars().count())
            .unwrap_or(offset - start)
            + 1;
        SourceLocation {
            file: self.name.clone(),
            line: line + 1,
            col,
        }
    }

    pub fn location_of(&self, span: Option<Range<usize>>) -> SourceLocation {
        self.location(span.map(|s| s.start).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let f = SourceFile::new("a.hcl", "ab\ncdé\nx");
        assert_eq!(f.location(0).to_string(), "a.hcl:1:1");
        assert_eq!(f.location(3).to_string(), "a.hcl:2:1");
        assert_eq!(f.location(7).to_string(), "a.hcl:2:4");
        assert_eq!(f.location(8).to_string(), "a.hcl:3:1");
    }
}
