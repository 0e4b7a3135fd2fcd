//! The parsed tree planform lowers: blocks and attributes with their source locations, read
//! from hcl-edit (which keeps spans) with expressions converted to hcl-rs for evaluation.

use hcl::edit::structure::{Body, Structure};
use hcl::edit::Span;
use hcl::Expression;
use planform_model::SourceLocation;

use crate::diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};

#[derive(Debug, Clone)]
pub struct AttrNode {
    pub name: String,
    pub expr: Expression,
    /// Where the attribute's name is.
    pub loc: SourceLocation,
    /// Where its value starts.
    pub value_loc: SourceLocation,
    /// The value's source text.
    pub value_text: String,
    /// Where the value's parts are: a diagnostic points at the part that fails.
    pub places: Places,
}

/// Where an expression starts, and where its parts do: the values of an object, the items of a
/// list, the arguments of a function call (in source order), the inside of parentheses. Other
/// expressions have no parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Places {
    pub at: SourceLocation,
    pub parts: Vec<Places>,
}

impl Places {
    fn of(expr: &hcl::edit::expr::Expression, file: &SourceFile) -> Places {
        use hcl::edit::expr::Expression as E;
        let parts = match expr {
            E::Array(items) => items.iter().map(|e| Places::of(e, file)).collect(),
            E::Object(o) => o.iter().map(|(_, v)| Places::of(v.expr(), file)).collect(),
            E::FuncCall(f) => f.args.iter().map(|e| Places::of(e, file)).collect(),
            E::Parenthesis(p) => vec![Places::of(p.inner(), file)],
            _ => Vec::new(),
        };
        Places {
            at: file.location_of(expr.span()),
            parts,
        }
    }
}

impl AttrNode {
    /// Where `needle` first appears in the value's source text (the value's start when it does
    /// not): points a diagnostic at the offending expression inside an object or list.
    pub fn location_of(&self, needle: &str) -> SourceLocation {
        let Some(offset) = self.value_text.find(needle).filter(|_| !needle.is_empty()) else {
            return self.value_loc.clone();
        };
        let before = &self.value_text[..offset];
        let mut loc = self.value_loc.clone();
        match before.rfind('\n') {
            Some(nl) => {
                loc.line += before.matches('\n').count();
                loc.col = before[nl + 1..].chars().count() + 1;
            }
            None => loc.col += before.chars().count(),
        }
        loc
    }
}

#[derive(Debug, Clone)]
pub struct BlockNode {
    pub kind: String,
    pub labels: Vec<String>,
    pub loc: SourceLocation,
    pub attrs: Vec<AttrNode>,
    pub blocks: Vec<BlockNode>,
}

impl BlockNode {
    pub fn attr(&self, name: &str) -> Option<&AttrNode> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn blocks_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a BlockNode> + 'a {
        self.blocks.iter().filter(move |b| b.kind == kind)
    }
}

pub fn error(
    loc: &SourceLocation,
    subject: Option<String>,
    message: impl Into<String>,
) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        location: loc.clone(),
        subject,
        message: message.into(),
        anchor: loc.clone(),
    }
}

/// Parses one file into a synthetic root block, or records the syntax error.
pub fn parse_file(file: &SourceFile, diags: &mut Diagnostics) -> Option<BlockNode> {
    match hcl::edit::parser::parse_body(&file.text) {
        Ok(body) => {
            let (attrs, blocks) = lower_body(&body, file, diags);
            Some(BlockNode {
                kind: String::new(),
                labels: vec![],
                loc: file.location(0),
                attrs,
                blocks,
            })
        }
        Err(e) => {
            let d = match unterminated_string(&file.text) {
                Some(quote) => error(
                    &file.location(quote),
                    None,
                    "syntax error: unterminated string: a quoted string ends with `\"` on its line \
                     (for text over several lines use a heredoc, <<EOT … EOT)",
                ),
                None => error(
                    &file.location(error_offset(&file.text, &e)),
                    None,
                    format!("syntax error: {}", e.message()),
                ),
            };
            diags.push(d);
            None
        }
    }
}

/// The byte offset of a parse error. hcl-edit clamps the offset of an error at the end of the
/// input to the last byte and counts the rest in the column; such an error is placed just after
/// the last token (where the missing `}` or value belongs), not past the end of a line.
fn error_offset(text: &str, e: &hcl::edit::parser::Error) -> usize {
    let loc = e.location();
    let mut offset = loc.offset().min(text.len());
    // The clamped offset may fall inside the last character.
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let col = text[line_start..offset].chars().count() + 1;
    let past = loc.column().saturating_sub(col);
    if past == 0 {
        return offset;
    }
    let end = (offset + past).min(text.len());
    if end == text.len() {
        text.trim_end().len()
    } else {
        end
    }
}

/// Where the first quoted string that does not end on its line opens (its `"`), if any: the
/// usual cause of a syntax error the parser reports later, where it gave up. Comments, heredocs
/// and the strings inside `${ … }` / `%{ … }` are followed.
pub(crate) fn unterminated_string(text: &str) -> Option<usize> {
    enum Frame {
        /// A quoted string, opened at this offset.
        Str(usize),
        /// An interpolation or directive, with the braces opened inside it.
        Interp(usize),
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        match stack.last_mut() {
            Some(Frame::Str(open)) => {
                let open = *open;
                match rest {
                    [b'\\', ..] => i += 1,
                    [b'"', ..] => {
                        stack.pop();
                    }
                    [b'\n', ..] => return Some(open),
                    [b'$', b'$', b'{', ..] | [b'%', b'%', b'{', ..] => i += 2,
                    [b'$' | b'%', b'{', ..] => {
                        stack.push(Frame::Interp(0));
                        i += 1;
                    }
                    _ => {}
                }
                i += 1;
            }
            code => {
                match rest {
                    [b'#', ..] | [b'/', b'/', ..] => {
                        i += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
                        continue;
                    }
                    [b'/', b'*', ..] => {
                        i += text[i + 2..].find("*/").map_or(rest.len(), |e| e + 4);
                        continue;
                    }
                    [b'<', b'<', ..]
                        if code.is_none() || matches!(code, Some(Frame::Interp(_))) =>
                    {
                        if let Some(end) = heredoc_end(&text[i..]) {
                            i += end;
                            continue;
                        }
                    }
                    [b'"', ..] => stack.push(Frame::Str(i)),
                    [b'{', ..] => {
                        if let Some(Frame::Interp(depth)) = code {
                            *depth += 1;
                        }
                    }
                    [b'}', ..] => match code {
                        Some(Frame::Interp(0)) => {
                            stack.pop();
                        }
                        Some(Frame::Interp(depth)) => *depth -= 1,
                        _ => {}
                    },
                    _ => {}
                }
                i += 1;
            }
        }
    }
    stack.iter().rev().find_map(|f| match f {
        Frame::Str(open) => Some(*open),
        Frame::Interp(_) => None,
    })
}

/// The length of the heredoc `text` starts with (`<<EOT` or `<<-EOT`, through its closing
/// marker line), or `None` when `text` does not start a heredoc.
fn heredoc_end(text: &str) -> Option<usize> {
    let header_end = text.find('\n')?;
    let marker = text[2..header_end].trim_end_matches('\r');
    let marker = marker.strip_prefix('-').unwrap_or(marker);
    if marker.is_empty() || !marker.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let mut at = header_end + 1;
    for line in text[at..].split_inclusive('\n') {
        at += line.len();
        if line.trim() == marker {
            return Some(at);
        }
    }
    Some(text.len())
}

fn lower_body(
    body: &Body,
    file: &SourceFile,
    diags: &mut Diagnostics,
) -> (Vec<AttrNode>, Vec<BlockNode>) {
    let mut attrs: Vec<AttrNode> = Vec::new();
    let mut blocks = Vec::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(a) => {
                let node = AttrNode {
                    name: a.key.as_str().to_string(),
                    expr: crate::functions::pre_parse_templates(a.value.clone().into()),
                    loc: file.location_of(a.key.span()),
                    value_loc: file.location_of(a.value.span()),
                    value_text: a
                        .value
                        .span()
                        .and_then(|r| file.text.get(r))
                        .unwrap_or_default()
                        .to_string(),
                    places: Places::of(&a.value, file),
                };
                if let Some(first) = attrs.iter().find(|x| x.name == node.name) {
                    diags.push(error(
                        &node.loc,
                        None,
                        format!(
                            "attribute {:?} is set twice (first at {})",
                            node.name, first.loc
                        ),
                    ));
                    continue;
                }
                attrs.push(node);
            }
            Structure::Block(b) => {
                let (a, bl) = lower_body(&b.body, file, diags);
                blocks.push(BlockNode {
                    kind: b.ident.as_str().to_string(),
                    labels: b.labels.iter().map(|l| l.as_str().to_string()).collect(),
                    loc: file.location_of(b.ident.span()),
                    attrs: a,
                    blocks: bl,
                });
            }
        }
    }
    (attrs, blocks)
}

/// The closest of `candidates` to `name`, if close enough to suggest.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// When a declaration repeats one made in another file: every `*.hcl` file of the directory is
/// one manifest, so a copy of a file (a backup) declares everything twice.
pub fn other_file_hint(first: &SourceLocation, again: &SourceLocation) -> String {
    if first.file == again.file {
        String::new()
    } else {
        format!(
            "; every *.hcl file of the directory is part of one manifest, so {} and {} both count (a copy kept as a backup declares everything twice)",
            first.file, again.file
        )
    }
}

pub fn hint(name: &str, candidates: &[&str]) -> String {
    match did_you_mean(name, candidates.iter().copied()) {
        Some(c) => format!("; did you mean {c:?}?"),
        None => String::new(),
    }
}

/// Reports attributes and blocks that `node` may not hold, with "did you mean" hints.
pub fn check_schema(
    node: &BlockNode,
    what: &str,
    attrs: &[&str],
    blocks: &[&str],
    diags: &mut Diagnostics,
) {
    for a in &node.attrs {
        if !attrs.contains(&a.name.as_str()) {
            let extra = if blocks.contains(&a.name.as_str()) {
                format!("; {} is a block: write `{} {{ … }}`", a.name, a.name)
            } else {
                hint(&a.name, attrs)
            };
            diags.push(error(
                &a.loc,
                None,
                format!("unknown attribute {:?} in {what}{extra}", a.name),
            ));
        }
    }
    for b in &node.blocks {
        if !blocks.contains(&b.kind.as_str()) {
            let extra = if attrs.contains(&b.kind.as_str()) {
                format!("; {} is an attribute: write `{} = …`", b.kind, b.kind)
            } else {
                hint(&b.kind, blocks)
            };
            diags.push(error(
                &b.loc,
                None,
                format!("unknown block {:?} in {what}{extra}", b.kind),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syntax_error(text: &str) -> String {
        let mut diags = Diagnostics::default();
        assert!(parse_file(&SourceFile::new("main.hcl", text), &mut diags).is_none());
        diags.to_string().trim_end().to_string()
    }

    #[test]
    fn an_unterminated_string_is_reported_at_its_opening_quote() {
        assert_eq!(
            syntax_error("plan \"a\" {\n  name = \"x\n}\n"),
            "main.hcl:2:10: syntax error: unterminated string: a quoted string ends with `\"` on \
             its line (for text over several lines use a heredoc, <<EOT … EOT)"
        );
        // Inside an object over several lines, inside an interpolation, at the end of the file.
        assert!(syntax_error("tags = {\n  a = \"b\"\n  c = \"d\n}\n").starts_with("main.hcl:3:7: "));
        assert!(syntax_error("a = \"${upper(\"x)}\"\n").starts_with("main.hcl:1:5: "));
        assert!(syntax_error("a = \"x").starts_with("main.hcl:1:5: syntax error: unterminated"));
    }

    #[test]
    fn quotes_in_comments_heredocs_escapes_and_interpolations_are_not_unterminated() {
        for text in [
            "# a \"comment\nx = 1\n",
            "// it's \" here\nx = 1\n",
            "/* \"\n */ x = 1\n",
            "x = <<EOT\nsay \"hi\nEOT\n",
            "x = <<-EOT\n  \"\n  EOT\n",
            "x = \"a \\\" b\"\n",
            "x = \"${join(\",\", [\"a\"])} and %{if true}\"y\"%{endif} $${literal\"\n",
            "x = \"${\n  upper(\"multi-line interpolation\")\n}\"\n",
            "x = { a = \"}\" }\n",
        ] {
            assert_eq!(unterminated_string(text), None, "{text}");
        }
        assert_eq!(unterminated_string("x = \"${\"\n"), Some(7));
    }

    #[test]
    fn an_error_at_the_end_of_the_input_is_placed_after_the_last_token() {
        assert_eq!(
            syntax_error("plan \"z\" {\n"),
            "main.hcl:1:11: syntax error: invalid block body; expected `}`, newline or identifier"
        );
        assert!(syntax_error("plan \"z\" {").starts_with("main.hcl:1:11: "));
        assert!(syntax_error("x = 1\ny = \n").starts_with("main.hcl:2:5: "));
        assert!(syntax_error("x = [\"é\", é").starts_with("main.hcl:1:"));
    }
}
