//! `planform fmt`: canonical layout of `*.hcl` and `*.pfvars` that keeps every comment.
//!
//! The formatter works on lines: it re-indents by bracket depth (two spaces), writes `key = value`
//! with one space around `=` and aligns the `=` of consecutive one-line attributes, writes block
//! headers with one space between their parts (`plan "a" {`) and one-line objects as
//! `{ a = "b", c = "d" }`, trims trailing space and collapses runs of blank lines. Heredoc bodies and block comments are kept verbatim.
//! The result is checked to parse to the same structure as the input; if it would not, nothing is
//! changed and an error says so, so formatting can never change a manifest's meaning.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The file does not parse: where (1-based line and column) and why.
    #[error("{line}:{col}: {message}")]
    Syntax {
        line: usize,
        col: usize,
        message: String,
    },
    #[error("formatting would change the meaning of the file; it was left as it is")]
    WouldChangeMeaning,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Code,
    Str,
    BlockComment,
}

struct LineInfo {
    /// The line begins inside a heredoc or block comment: keep it as it is.
    verbatim: bool,
    depth: usize,
    /// Closing brackets at the start of the line (dedent it).
    leading_closers: usize,
    /// Depth once the line ends; equal to `depth` for a one-line construct.
    depth_after: usize,
}

fn scan(src: &str) -> Vec<LineInfo> {
    let mut infos = Vec::new();
    let mut depth: usize = 0;
    let mut mode = Mode::Code;
    let mut interp: Vec<usize> = Vec::new(); // brace depth inside each open interpolation
    let mut heredoc: Option<String> = None;
    for line in src.split('\n') {
        if let Some(marker) = &heredoc {
            let end = line.trim() == marker;
            infos.push(LineInfo {
                verbatim: true,
                depth,
                leading_closers: 0,
                depth_after: depth,
            });
            if end {
                heredoc = None;
            }
            continue;
        }
        let verbatim = mode == Mode::BlockComment || mode == Mode::Str;
        let start_depth = depth;
        let mut leading_closers = 0;
        let mut seen_code = false;
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match mode {
                Mode::BlockComment => {
                    if c == '*' && next == Some('/') {
                        mode = Mode::Code;
                        i += 1;
                    }
                }
                Mode::Str => match c {
                    '\\' => i += 1,
                    '"' => mode = Mode::Code,
                    '$' | '%' if next == Some('{') => {
                        interp.push(0);
                        mode = Mode::Code;
                        i += 1;
                    }
                    _ => {}
                },
                Mode::Code => {
                    if !c.is_whitespace() && !matches!(c, '}' | ']' | ')') {
                        seen_code = true;
                    }
                    match c {
                        '#' => break,
                        '/' if next == Some('/') => break,
                        '/' if next == Some('*') => {
                            mode = Mode::BlockComment;
                            i += 1;
                        }
                        '"' => mode = Mode::Str,
                        '<' if next == Some('<') && interp.is_empty() => {
                            let rest: String = chars[i + 2..].iter().collect();
                            let marker = rest.trim_start_matches('-').trim().to_string();
                            if !marker.is_empty()
                                && marker.chars().all(|c| c.is_alphanumeric() || c == '_')
                            {
                                heredoc = Some(marker);
                                break;
                            }
                        }
                        '{' | '[' | '(' => match interp.last_mut() {
                            Some(d) => *d += 1,
                            None => depth += 1,
                        },
                        '}' | ']' | ')' => match interp.last_mut() {
                            Some(0) if c == '}' => {
                                interp.pop();
                                mode = Mode::Str;
                            }
                            Some(d) => *d = d.saturating_sub(1),
                            None => {
                                depth = depth.saturating_sub(1);
                                if !seen_code {
                                    leading_closers += 1;
                                }
                            }
                        },
                        _ => {}
                    }
                }
            }
            i += 1;
        }
        infos.push(LineInfo {
            verbatim,
            depth: start_depth,
            leading_closers,
            depth_after: depth,
        });
    }
    infos
}

/// `key = rest` of a one-line attribute or object entry, if `line` is one.
fn split_attribute(line: &str) -> Option<(&str, &str)> {
    let key_end = if let Some(rest) = line.strip_prefix('"') {
        let close = rest.find('"')?;
        close + 2
    } else {
        line.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))?
    };
    if key_end == 0 {
        return None;
    }
    let (key, rest) = line.split_at(key_end);
    let rest = rest.trim_start();
    let value = rest.strip_prefix('=')?;
    if value.starts_with('=') {
        return None;
    }
    Some((key, value.trim_start()))
}

/// The syntax error of `src`, located and worded as `validate` reports it (hcl-edit's parser
/// knows where; the pest parser's message spans lines).
fn syntax_error(src: &str, e: &hcl::Error) -> FormatError {
    let mut diags = crate::diagnostic::Diagnostics::default();
    let file = crate::diagnostic::SourceFile::new("", src);
    let _ = crate::syntax::parse_file(&file, &mut diags);
    match diags.0.into_iter().next() {
        Some(d) => FormatError::Syntax {
            line: d.location.line,
            col: d.location.col,
            message: d.message.clone(),
        },
        None => FormatError::Syntax {
            line: 1,
            col: 1,
            message: format!(
                "syntax error: {}",
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches([' ', '='])
            ),
        },
    }
}

/// A block header (`plan    "a"   {`) with one space between its parts: `plan "a" {`; `None`
/// when `text` is not one.
fn block_header(text: &str) -> Option<String> {
    let ident = |s: &str| {
        s.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(s.len())
    };
    let first = ident(text);
    if first == 0 || !text.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        return None;
    }
    let mut parts = vec![&text[..first]];
    let mut rest = text[first..].trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('{') {
            let after = after.trim_start();
            let body = if after.is_empty() || after.starts_with('}') {
                after.to_string()
            } else {
                format!(" {after}")
            };
            return Some(format!("{} {{{body}", parts.join(" ")));
        }
        let len = if let Some(s) = rest.strip_prefix('"') {
            let mut escaped = false;
            let close = s.char_indices().find(|&(_, c)| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end
            })?;
            close.0 + 2
        } else {
            ident(rest)
        };
        if len == 0 {
            return None;
        }
        parts.push(&rest[..len]);
        rest = rest[len..].trim_start();
    }
}

/// `text` with every object written on one line as `{ a = "b", c = "d" }` (`{}` when empty);
/// `for` expressions, strings and objects left open on the line are kept as written.
fn one_line_objects(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().unwrap_or_default();
        match c {
            '"' => {
                let len = string_len(rest).unwrap_or(rest.len());
                out.push_str(&rest[..len]);
                i += len;
            }
            '#' => {
                out.push_str(rest);
                break;
            }
            '/' if rest.starts_with("//") || rest.starts_with("/*") => {
                out.push_str(rest);
                break;
            }
            '{' => match closing(rest) {
                Some(close) => {
                    out.push_str(&object(&rest[1..close]));
                    i += close + 1;
                }
                None => {
                    out.push('{');
                    i += 1;
                }
            },
            _ => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// An object's inside (between its braces) written canonically, braces included.
fn object(inside: &str) -> String {
    let inner = inside.trim();
    if inner.starts_with("for ") || inner.starts_with("for\t") {
        return format!("{{{inside}}}");
    }
    let items: Vec<String> = top_level_split(inner, ',')
        .into_iter()
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match key_value(item) {
            Some((k, v)) => format!("{} = {}", k.trim(), one_line_objects(v.trim())),
            None => one_line_objects(item),
        })
        .collect();
    if items.is_empty() {
        "{}".into()
    } else {
        format!("{{ {} }}", items.join(", "))
    }
}

/// The length of the quoted string `s` starts with (quotes included), following `${ … }`.
fn string_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let mut interp = 0usize;
    while i < bytes.len() {
        match (bytes[i], interp) {
            (b'\\', 0) => i += 1,
            (b'"', 0) => return Some(i + 1),
            (b'$' | b'%', 0) if bytes.get(i + 1) == Some(&b'{') => {
                interp = 1;
                i += 1;
            }
            (b'{', n) if n > 0 => interp += 1,
            (b'}', n) if n > 0 => interp -= 1,
            (b'"', _) => i += string_len(&s[i..])? - 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offset of the bracket closing the one `s` starts with, on this line.
fn closing(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        let c = s[i..].chars().next()?;
        match c {
            '"' => {
                i += string_len(&s[i..])?;
                continue;
            }
            '#' => return None,
            '/' if s[i..].starts_with("//") || s[i..].starts_with("/*") => return None,
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += c.len_utf8();
    }
    None
}

/// `s` cut at each `sep` outside strings and brackets.
fn top_level_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, 0, 0);
    while i < s.len() {
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        match c {
            '"' => {
                i += string_len(&s[i..]).unwrap_or(s.len() - i);
                continue;
            }
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
        i += c.len_utf8();
    }
    parts.push(&s[start..]);
    parts
}

/// An object item's key and value, split at its first `=` or `:` outside strings and brackets
/// (not one of `==`, `=>`, `<=`, `>=`, `!=`).
fn key_value(item: &str) -> Option<(&str, &str)> {
    let bytes = item.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += string_len(&item[i..])?;
                continue;
            }
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'=' | b':' if depth == 0 => {
                let prev = i.checked_sub(1).map(|p| bytes[p]);
                let next = bytes.get(i + 1).copied();
                let operator = matches!(next, Some(b'=' | b'>'))
                    || matches!(prev, Some(b'=' | b'<' | b'>' | b'!'));
                if !operator {
                    return Some((&item[..i], &item[i + 1..]));
                }
            }
            b'?' if depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Formats one file's text; `Ok` holds the canonical text.
pub fn format_source(src: &str) -> Result<String, FormatError> {
    let original: hcl::Body = hcl::parse(src).map_err(|e| syntax_error(src, &e))?;
    let infos = scan(src);
    let lines: Vec<&str> = src.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut run: Vec<(usize, String, String)> = Vec::new(); // (out index, key, value)
    let flush = |run: &mut Vec<(usize, String, String)>, out: &mut Vec<String>| {
        let width = run
            .iter()
            .map(|(_, k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (idx, key, value) in run.drain(..) {
            let indent: String = out[idx].chars().take_while(|c| *c == ' ').collect();
            let pad = " ".repeat(width - key.chars().count());
            out[idx] = format!("{indent}{key}{pad} = {value}");
        }
    };
    for (line, info) in lines.iter().zip(&infos) {
        if info.verbatim {
            flush(&mut run, &mut out);
            out.push(line.to_string());
            continue;
        }
        let text = line.trim();
        if text.is_empty() {
            flush(&mut run, &mut out);
            if out.last().is_some_and(|l| !l.trim().is_empty()) {
                out.push(String::new());
            }
            continue;
        }
        let level = info.depth.saturating_sub(info.leading_closers);
        let indent = "  ".repeat(level);
        let text = &one_line_objects(text);
        match split_attribute(text) {
            Some((key, value)) if info.depth_after == info.depth && !value.starts_with("<<") => {
                if run.first().is_some_and(|(i, _, _)| {
                    !out[*i].starts_with(&indent)
                        || out[*i].chars().take_while(|c| *c == ' ').count() != indent.len()
                }) {
                    flush(&mut run, &mut out);
                }
                out.push(format!("{indent}{key} = {value}"));
                run.push((out.len() - 1, key.to_string(), value.to_string()));
            }
            Some((key, value)) => {
                flush(&mut run, &mut out);
                out.push(format!("{indent}{key} = {value}"));
            }
            None => {
                flush(&mut run, &mut out);
                let text = block_header(text).unwrap_or_else(|| text.to_string());
                out.push(format!("{indent}{text}"));
            }
        }
    }
    flush(&mut run, &mut out);
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    let mut text = out.join("\n");
    text.push('\n');
    let formatted: hcl::Body = hcl::parse(&text).map_err(|_| FormatError::WouldChangeMeaning)?;
    if formatted != original {
        return Err(FormatError::WouldChangeMeaning);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::format_source;

    #[test]
    fn aligns_indents_and_keeps_comments() {
        let src = "# header\nplan \"a\" {\n      name=\"x\" # trailing\n  product_id   =  \"p\"\n\n\n\n  parameters = {\n  k = \"v\"\n    long_key = \"w\"\n  }\n/* block\n   comment */\n  tags = <<EOT\n   keep   this\nEOT\n}\n\n\n";
        let out = format_source(src).unwrap();
        insta::assert_snapshot!(out);
        assert_eq!(format_source(&out).unwrap(), out, "idempotent");
    }

    #[test]
    fn strings_with_braces_do_not_move_indentation() {
        let src = "locals {\nx = \"{[(\"\ny = \"${upper(\"a\")}\"\n}\n";
        let out = format_source(src).unwrap();
        assert_eq!(
            out,
            "locals {\n  x = \"{[(\"\n  y = \"${upper(\"a\")}\"\n}\n"
        );
    }

    #[test]
    fn syntax_errors_are_reported_not_formatted() {
        assert!(format_source("plan \"a\" {").is_err());
    }

    /// Issue 24: a syntax error is located and worded as `validate` says it, on one line.
    #[test]
    fn syntax_errors_say_line_and_column_on_one_line() {
        let e = format_source("name = \nother = 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:8: syntax error: invalid expression; expected `\"`, `[`, `{`, `-`, `!`, `(`, `_`, `<`, letter or digit"
        );
        let e = format_source("a = 1\nb = \"x\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("2:5: syntax error: unterminated string"),
            "{e}"
        );
    }

    /// Issue 24: block headers get one space between their parts and one-line objects are
    /// written `{ key = value, … }`, nested ones too; `for` expressions, strings, comments and
    /// objects over several lines are kept.
    #[test]
    fn writes_block_headers_and_one_line_objects_canonically() {
        let src = r#"plan    "a"   {
  tags = {a="b", c = "d",   "e f":1}
  parameters = {x={y=1},z=[{ w = 2 }], empty={   }}
  m = {for k, v in var.m : k => v}
  s = "{a=b}" # {a=b}
  cond = {a = var.x == 1 ? "y" : "z"}
}
locals{
  l = {
    k="v"
  }
}
provider   "sandbox"   {}
plan "b" { name = "b" }
"#;
        let out = format_source(src).unwrap();
        assert_eq!(
            out,
            r#"plan "a" {
  tags       = { a = "b", c = "d", "e f" = 1 }
  parameters = { x = { y = 1 }, z = [{ w = 2 }], empty = {} }
  m          = {for k, v in var.m : k => v}
  s          = "{a=b}" # {a=b}
  cond       = { a = var.x == 1 ? "y" : "z" }
}
locals {
  l = {
    k = "v"
  }
}
provider "sandbox" {}
plan "b" { name = "b" }
"#
        );
        assert_eq!(format_source(&out).unwrap(), out, "idempotent");
    }
}
