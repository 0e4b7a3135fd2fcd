//! Evaluation helpers every phase shares: evaluating an expression into a diagnostic on failure,
//! converting values to the Rust types attributes want, and durations.

use std::collections::BTreeMap;
use std::time::Duration;

use hcl::eval::{Context, Evaluate};
use hcl::{Expression, Value};
use planform_model::SourceLocation;

use crate::diagnostic::Diagnostics;
use crate::functions::{self, primitive_to_string, type_name};
use crate::syntax::{error, hint, AttrNode, Places};

/// The context every evaluation starts from: the built-in functions and no variables.
pub(super) fn base_context() -> Context<'static> {
    let mut ctx = Context::new();
    functions::declare(&mut ctx);
    ctx
}

/// What a diagnostic is about; formatted only when there is a diagnostic to report.
pub(super) trait Subject {
    fn text(&self) -> String;
}

impl Subject for &str {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl Subject for &String {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl<F: Fn() -> String> Subject for F {
    fn text(&self) -> String {
        self()
    }
}

/// What the current lowering has evaluated so far.
#[derive(Default)]
struct Evaluated {
    /// The values whose evaluation failed, as `(root, name)`: locals (`("local", "tags")`),
    /// variables (`("var", "env")`) and plans whose instances could not be made
    /// (`("plan", "app")`). Their error was reported, so an expression that reads one fails
    /// without a follow-on diagnostic.
    failed: std::collections::BTreeSet<(String, String)>,
    /// The parts of every value evaluated (see [`super::bounds::MAX_EVALUATED_PARTS`]).
    parts: usize,
}

thread_local! {
    /// One lowering runs on one thread, from start to end; hcl's evaluation calls back into
    /// nothing of ours that could carry this instead.
    static EVALUATED: std::cell::RefCell<Evaluated> = Default::default();
}

/// Records that `root.name` (`local.tags`, `var.env`, `plan.app`) has no value: its error was
/// reported.
pub(super) fn value_failed(root: &str, name: &str) {
    EVALUATED.with(|e| {
        e.borrow_mut()
            .failed
            .insert((root.to_string(), name.to_string()))
    });
}

/// Forgets what an earlier lowering on this thread evaluated.
pub(super) fn start_lowering() {
    EVALUATED.with(|e| *e.borrow_mut() = Evaluated::default());
}

/// Whether `expr` reads a value whose evaluation failed (see [`value_failed`]).
pub(super) fn reads_failed_value(expr: &Expression) -> bool {
    EVALUATED.with(|e| {
        let f = &e.borrow().failed;
        !f.is_empty()
            && crate::references::references(expr).iter().any(|r| {
                r.first_attr()
                    .is_some_and(|n| f.contains(&(r.root.clone(), n.to_string())))
            })
    })
}

/// Checks `v` against the limits on one value and counts its parts towards those of the whole
/// lowering.
fn within_bounds(v: &Value) -> Result<(), String> {
    use super::bounds::MAX_EVALUATED_PARTS;
    let parts = super::bounds::check_value(v)?;
    EVALUATED.with(|e| {
        let total = &mut e.borrow_mut().parts;
        *total = total.saturating_add(parts);
        if *total > MAX_EVALUATED_PARTS {
            Err(format!(
                "the manifests' values have more than {MAX_EVALUATED_PARTS} parts (lists, objects and the values in them) together"
            ))
        } else {
            Ok(())
        }
    })
}

/// Evaluates the value of attribute `a`, turning evaluation errors into a diagnostic at the part
/// of the value that fails (anchored at the value's start: one error per attribute).
pub(super) fn eval(
    a: &AttrNode,
    ctx: &Context,
    subject: impl Subject,
    diags: &mut Diagnostics,
) -> Option<Value> {
    let (expr, loc) = (&a.expr, &a.value_loc);
    match expr.evaluate(ctx) {
        Ok(v) => match within_bounds(&v) {
            Ok(()) => Some(v),
            Err(why) => {
                diags.push(error(loc, Some(subject.text()), why));
                None
            }
        },
        Err(e) => {
            // One error per expression: a reference problem already reported here says more,
            // and so does the error of a value it reads.
            if !diags.errors().any(|d| d.anchor == *loc) && !reads_failed_value(expr) {
                let (part, e) = failing_part(expr, &a.places, ctx, e);
                let mut d = error(&part.at, Some(subject.text()), error_message(&e));
                d.anchor = loc.clone();
                diags.push(d);
            }
            None
        }
    }
}

/// The innermost part of `expr` (an object's value, a list's item, a call's argument) whose
/// evaluation fails, where it is, and its error; `expr` itself (with `error`) when no part
/// fails alone.
fn failing_part<'p>(
    expr: &Expression,
    places: &'p Places,
    ctx: &Context,
    error: hcl::eval::Error,
) -> (&'p Places, hcl::eval::Error) {
    let parts: Vec<&Expression> = match expr {
        Expression::Array(items) => items.iter().collect(),
        Expression::Object(o) => o.values().collect(),
        Expression::FuncCall(f) => f.args.iter().collect(),
        Expression::Parenthesis(inner) => vec![inner.as_ref()],
        _ => Vec::new(),
    };
    // A template is a call of planform's own after parsing: its parts are not the source's.
    if parts.len() != places.parts.len() {
        return (places, error);
    }
    for (part, place) in parts.into_iter().zip(&places.parts) {
        if let Err(e) = part.evaluate(ctx) {
            return failing_part(part, place, ctx, e);
        }
    }
    (places, error)
}

/// What an evaluation error says, on one line: values in compact form (or by type when long),
/// without the expression hcl-rs appends.
pub(super) fn error_message(e: &hcl::eval::Error) -> String {
    use hcl::eval::ErrorKind;
    match e.kind() {
        ErrorKind::Unexpected(v, want) => format!("expected {want}, got {}", shown(v)),
        ErrorKind::UnaryOp(op, v) => {
            format!("unary operator `{op}` is not applicable to {}", shown(v))
        }
        ErrorKind::BinaryOp(l, op, r) => format!(
            "binary operator `{op}` is not applicable to {} and {}",
            shown(l),
            shown(r)
        ),
        ErrorKind::FuncCall(name, msg) => eval_message(&format!(
            "error calling function `{name}`: {}",
            one_line(msg)
        )),
        kind => eval_message(&kind.to_string()),
    }
}

/// A value as an error message shows it: compact source form in backquotes when short, by type
/// otherwise.
fn shown(v: &Value) -> String {
    let text = compact(v);
    if text.chars().count() <= 60 {
        format!("`{text}`")
    } else {
        format!("a {}", type_name(v))
    }
}

/// `v` in HCL source form on one line: `["a", 1]`, `{ a = 1 }`.
pub(super) fn compact(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(compact).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) if o.is_empty() => "{}".into(),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, v)| format!("{} = {}", object_key(k), compact(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn object_key(k: &str) -> String {
    if super::valid_identifier(k) {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// A message that spans lines (a value hcl-rs printed over several) on one line.
fn one_line(msg: &str) -> String {
    let joined = msg.lines().map(str::trim).collect::<Vec<_>>().join(" ");
    joined.replace("[ ", "[").replace(" ]", "]")
}

/// hcl-rs messages end with the whole expression; keep the first line, which says what is wrong.
pub(super) fn eval_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let cleaned = match first.find(" in expression `") {
        Some(i) => &first[..i],
        None => first,
    };
    let mut out = cleaned.to_string();
    if let Some(name) = cleaned
        .strip_prefix("undefined function `")
        .and_then(|r| r.strip_suffix('`'))
    {
        out.push_str(&hint(name, functions::NAMES));
    }
    out
}

/// Converts an evaluated value with `f`, reporting "must be {want}" when it does not fit.
pub(super) fn typed<T>(
    v: Option<Value>,
    loc: &SourceLocation,
    subject: impl Subject,
    want: &str,
    f: impl Fn(&Value) -> Option<T>,
    diags: &mut Diagnostics,
) -> Option<T> {
    let v = v?;
    match f(&v) {
        Some(t) => Some(t),
        None => {
            diags.push(error(loc, Some(subject.text()), mismatch(&v, want)));
            None
        }
    }
}

/// Converts the value of attribute `a` with `f` like [`typed`]; when a map or list of strings
/// holds something else, the diagnostic is at that key's value or item.
pub(super) fn typed_value<T>(
    v: Option<Value>,
    a: &AttrNode,
    subject: impl Subject,
    want: &str,
    f: impl Fn(&Value) -> Option<T>,
    diags: &mut Diagnostics,
) -> Option<T> {
    let v = v?;
    if let Some(t) = f(&v) {
        return Some(t);
    }
    // The place of the offending element when the value is written as a literal object or list.
    let literal_len = match &a.expr {
        Expression::Object(o) => Some(o.len()),
        Expression::Array(items) => Some(items.len()),
        _ => None,
    };
    let at = match (non_string_element(&v), literal_len) {
        (Some((i, ..)), Some(n)) if n == a.places.parts.len() && want.ends_with("of strings") => {
            &a.places.parts[i].at
        }
        _ => &a.value_loc,
    };
    let mut d = error(at, Some(subject.text()), mismatch(&v, want));
    d.anchor = a.value_loc.clone();
    diags.push(d);
    None
}

/// "must be {want}, got …", naming the first key or item that is not a string when a map or
/// list of strings is wanted.
fn mismatch(v: &Value, want: &str) -> String {
    match non_string_element(v) {
        Some((_, which, x)) if want.ends_with("of strings") => {
            format!("must be {want}; {which} is {}", describe(x))
        }
        _ => format!("must be {want}, got {}", describe(v)),
    }
}

/// The first value of a map or item of a list that is not a string (or a number or bool, which
/// convert): its position, `key "name"` or `item 2` (from 1), and itself.
fn non_string_element(v: &Value) -> Option<(usize, String, &Value)> {
    match v {
        Value::Object(o) => o
            .iter()
            .enumerate()
            .find(|(_, (_, x))| as_string(x).is_none())
            .map(|(i, (k, x))| (i, format!("key {k:?}"), x)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find(|(_, x)| as_string(x).is_none())
            .map(|(i, x)| (i, format!("item {}", i + 1), x)),
        _ => None,
    }
}

/// A value as a diagnostic names it: short strings and numbers in full, others by type.
pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() < 40 => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Null => "null".into(),
        other => format!("a {}", type_name(other)),
    }
}

pub(super) fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::Array(_) | Value::Object(_) | Value::Null => None,
        v => primitive_to_string(v),
    }
}

pub(super) fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
        _ => None,
    }
}

pub(super) fn as_string_map(v: &Value) -> Option<BTreeMap<String, String>> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), as_string(v)?)))
        .collect()
}

pub(super) fn as_string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(as_string).collect()
}

/// Parses `10m`, `1h30m`, `45s`, `0s`: whole numbers each followed by `h`, `m` or `s`.
///
/// This grammar is deliberately narrower than humantime's, which also accepts `10 minutes`,
/// `1d`, `500ms` and `1M` (a month): manifests that use those are rejected with a diagnostic.
pub fn parse_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
    }
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
        any = true;
    }
    (num.is_empty() && any).then(|| Duration::from_secs(total))
}

#[cfg(test)]
mod tests;
