//! Unit tests of the evaluation helpers: durations, evaluation messages and conversions.

use std::time::Duration;

use hcl::Value;

use super::{
    as_bool, as_string, as_string_list, as_string_map, describe, eval_message, parse_duration,
};

/// Parses each duration and renders its seconds, or `-` when it is rejected.
fn check(inputs: &[&str], expect: &str) {
    let actual: Vec<String> = inputs
        .iter()
        .map(|s| match parse_duration(s) {
            Some(d) => format!("{s:?} = {}s", d.as_secs()),
            None => format!("{s:?} = -"),
        })
        .collect();
    assert_eq!(actual.join("\n"), expect.trim());
}

#[test]
fn the_documented_durations_parse() {
    check(
        &["90s", "10m", "1h30m", "0s", "30m", "45s", "2h", "1m1m"],
        r#"
"90s" = 90s
"10m" = 600s
"1h30m" = 5400s
"0s" = 0s
"30m" = 1800s
"45s" = 45s
"2h" = 7200s
"1m1m" = 120s
"#,
    );
}

#[test]
fn other_duration_forms_are_rejected() {
    // humantime accepts most of these; planform's grammar is deliberately the documented one.
    check(
        &[
            "",
            "10",
            "10 minutes",
            "1d",
            "500ms",
            "1M",
            "1.5h",
            "m",
            "-1s",
            " 1s",
        ],
        r#"
"" = -
"10" = -
"10 minutes" = -
"1d" = -
"500ms" = -
"1M" = -
"1.5h" = -
"m" = -
"-1s" = -
" 1s" = -
"#,
    );
    assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
}

#[test]
fn evaluation_messages_keep_the_first_line_without_the_expression() {
    assert_eq!(
        eval_message("undefined variable `x` in expression `var.x + 1`\nmore detail"),
        "undefined variable `x`"
    );
    assert_eq!(
        eval_message("undefined function `lenght`"),
        "undefined function `lenght`; did you mean \"length\"?"
    );
}

#[test]
fn conversions_accept_primitives_and_reject_the_rest() {
    let s = |v: &str| Value::String(v.into());
    assert_eq!(as_string(&Value::from(3)), Some("3".into()));
    assert_eq!(as_string(&Value::Bool(true)), Some("true".into()));
    assert_eq!(as_string(&Value::Null), None);
    assert_eq!(as_bool(&s("false")), Some(false));
    assert_eq!(as_bool(&s("yes")), None);
    assert_eq!(
        as_string_list(&Value::Array(vec![s("a"), Value::from(1)])),
        Some(vec!["a".into(), "1".into()])
    );
    assert_eq!(
        as_string_list(&Value::Array(vec![Value::Array(vec![])])),
        None
    );
    let map = Value::Object(
        [("k".to_string(), Value::Bool(false))]
            .into_iter()
            .collect(),
    );
    assert_eq!(
        as_string_map(&map),
        Some(
            [("k".to_string(), "false".to_string())]
                .into_iter()
                .collect()
        )
    );
    assert_eq!(as_string_map(&s("k")), None);
}

#[test]
fn values_are_described_briefly() {
    assert_eq!(describe(&Value::String("abc".into())), "the string \"abc\"");
    assert_eq!(describe(&Value::String("x".repeat(40))), "a string");
    assert_eq!(describe(&Value::from(2)), "the number 2");
    assert_eq!(describe(&Value::Array(vec![])), "a list");
}
