//! `planform fmt`: canonical layout of `*.hcl` and `*.pfvars` that keeps every comment.
//!
//! The formatter works on lines: it re-indents by bracket depth (two spaces), writes `key = value`
//! with one space around `=` and aligns the `=` of consecutive one-line attributes, trims trailing
//! space and collapses runs of blank lines. Heredoc bodies and block comments are kept verbatim.
//! The result is checked to parse to the same structure as the input; if it would not, nothing is
//! changed and an error says so, so formatting can never change a manifest's meaning.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("{0}")]
    Syntax(String),
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

/// Formats one file's text; `Ok` holds the canonical text.
pub fn format_source(src: &str) -> Result<String, FormatError> {
    let original: hcl::Body = hcl::parse(src).map_err(|e| FormatError::Syntax(e.to_string()))?;
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
}
