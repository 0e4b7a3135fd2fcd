//! The one place that makes a string from a manifest or a cloud safe to print: whatever it
//! holds, it cannot start a new line, move the cursor, colour the terminal or reorder the text
//! around it (bidirectional overrides), so a manifest cannot forge a line of the plan a
//! reviewer reads. Every renderer (text, markdown, graph labels, progress, errors) prints such
//! strings through [`text`], [`quoted`] or [`key`].

use std::fmt::Write;

/// Whether `c` must be escaped in free text: control characters (C0, DEL, C1) and whatever
/// Rust's `Debug` does not print as itself (line and paragraph separators, bidirectional
/// controls, zero-width and other format characters, unassigned code points, combining marks).
fn unsafe_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    if c.is_control() {
        return true;
    }
    format!("{:?}", String::from_iter(['a', c])).contains('\\')
}

/// Free text from a manifest or a cloud (a reason, a status message, an error, an id), printed
/// on one line: control and invisible format characters become Rust escapes (`\n`, `\u{1b}`,
/// `\u{202e}`); everything else, quotes and backslashes included, is left as it is.
pub fn text(s: &str) -> String {
    if !s.chars().any(unsafe_char) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A value in double quotes with quotes, backslashes and [`text`]'s characters escaped.
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if unsafe_char(c) => out.push_str(&text(c.encode_utf8(&mut [0; 4]))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A map key as HCL writes it: bare when it is an identifier (`cidr_block`), else [`quoted`]
/// (`"app.kubernetes.io/name"`, `"ok\n  # forged"`).
pub fn key(s: &str) -> String {
    let mut chars = s.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if identifier {
        s.to_string()
    } else {
        quoted(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_escapes_line_breaks_terminal_escapes_and_bidi_controls() {
        assert_eq!(text("plain \"quoted\" C:\\dir"), "plain \"quoted\" C:\\dir");
        assert_eq!(
            text("ok\n  # plan.fake will be destroyed\r"),
            "ok\\n  # plan.fake will be destroyed\\r"
        );
        assert_eq!(text("\u{1b}[31mEVIL\u{1b}[0m"), "\\u{1b}[31mEVIL\\u{1b}[0m");
        assert_eq!(
            text("a\u{202e}b\u{2028}c\u{85}d"),
            "a\\u{202e}b\\u{2028}c\\u{85}d"
        );
        assert_eq!(text("tab\there"), "tab\\there");
        // Other scripts print as themselves; combining marks are escaped (as Rust's `Debug`
        // does), so none can stack onto the quote or marker before it.
        assert_eq!(text("café 東京"), "café 東京");
        assert_eq!(text("cafe\u{301}"), "cafe\\u{301}");
    }

    #[test]
    fn keys_are_bare_identifiers_or_quoted() {
        assert_eq!(key("cidr_block"), "cidr_block");
        assert_eq!(key("my-key_2"), "my-key_2");
        assert_eq!(key("app.kubernetes.io/name"), "\"app.kubernetes.io/name\"");
        assert_eq!(key("2x"), "\"2x\"");
        assert_eq!(key(""), "\"\"");
        assert_eq!(key("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }

    proptest! {
        #[test]
        fn nothing_printed_carries_a_control_or_format_character(s in "\\PC*|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}\\u{2028}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069}a\"\\\\]*") {
            for shown in [text(&s), quoted(&s), key(&s)] {
                prop_assert!(!shown.chars().any(unsafe_char), "{shown:?}");
            }
        }

        #[test]
        fn quoted_reads_back_as_rust_reads_its_own_escapes(s in "[\\x01-\\x7f\\u{80}-\\u{a0}\\u{202e}é]*") {
            // Rust's `Debug` and `quoted` agree on every character they both escape.
            prop_assert_eq!(quoted(&s), format!("{s:?}"));
        }
    }
}
