//! The manifest language's functions (`merge`, `lookup`, `jsonencode`, …), as hcl-rs `FuncDef`s.
//!
//! hcl-rs takes plain `fn` pointers, so the two functions that need the outside world (`env`,
//! `file`) read it from a per-thread [`Environment`] that `load` installs for the duration of a
//! load: the environment stays injected, never read from the process directly.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use hcl::{Expression, Map, Number, Value};

/// What `env()` and `file()` see.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The variables env() may read (already narrowed to what is allowed).
    pub vars: BTreeMap<String, String>,
    /// The names `planform { allowed_env }` lists, set or not.
    pub allowed: BTreeSet<String>,
    pub base_dir: PathBuf,
}

thread_local! {
    static ENVIRONMENT: RefCell<Environment> = RefCell::new(Environment::default());
}

/// Installs `env` for the current thread until the guard is dropped.
pub(crate) fn install(env: Environment) -> impl Drop {
    struct Guard(Environment);
    impl Drop for Guard {
        fn drop(&mut self) {
            ENVIRONMENT.with(|e| *e.borrow_mut() = std::mem::take(&mut self.0));
        }
    }
    let previous = ENVIRONMENT.with(|e| std::mem::replace(&mut *e.borrow_mut(), env));
    Guard(previous)
}

/// The names of every function, for "did you mean" hints.
pub const NAMES: &[&str] = &[
    "merge",
    "concat",
    "lookup",
    "contains",
    "length",
    "keys",
    "values",
    "toset",
    "tomap",
    "tostring",
    "tonumber",
    "tolist",
    "lower",
    "upper",
    "format",
    "join",
    "split",
    "replace",
    "trimspace",
    "coalesce",
    "env",
    "file",
    "jsonencode",
    "jsondecode",
    "min",
    "max",
    "abs",
];

/// The internal function simple templates are rewritten to (see [`pre_parse_templates`]).
pub(crate) const TEMPLATE_FN: &str = "__template";

/// hcl-rs parses a template's text each time it is evaluated. A template of only literals and
/// interpolations (no `%{…}` directives, no strip markers) is rewritten once into
/// `__template(part, …)`, which joins the parts' string forms: the same result, parsed once.
pub(crate) fn pre_parse_templates(expr: Expression) -> Expression {
    use hcl::template::{Element, Template};
    match expr {
        Expression::TemplateExpr(t) => {
            let Ok(tpl) = Template::from_expr(&t) else {
                return Expression::TemplateExpr(t);
            };
            let mut args = Vec::new();
            for el in tpl.elements() {
                match el {
                    Element::Literal(l) => args.push(Expression::String(l.clone())),
                    Element::Interpolation(i) if i.strip == hcl::template::Strip::None => {
                        args.push(pre_parse_templates(i.expr.clone()))
                    }
                    _ => return Expression::TemplateExpr(t),
                }
            }
            if matches!(t.as_ref(), hcl::TemplateExpr::Heredoc(_)) {
                return Expression::TemplateExpr(t);
            }
            let mut call = hcl::expr::FuncCall::new(TEMPLATE_FN);
            call.args = args;
            Expression::FuncCall(Box::new(call))
        }
        Expression::Array(items) => {
            Expression::Array(items.into_iter().map(pre_parse_templates).collect())
        }
        Expression::Object(o) => Expression::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        hcl::ObjectKey::Expression(e) => {
                            hcl::ObjectKey::Expression(pre_parse_templates(e))
                        }
                        k => k,
                    };
                    (k, pre_parse_templates(v))
                })
                .collect(),
        ),
        Expression::FuncCall(mut f) => {
            f.args = std::mem::take(&mut f.args)
                .into_iter()
                .map(pre_parse_templates)
                .collect();
            Expression::FuncCall(f)
        }
        Expression::Parenthesis(e) => Expression::Parenthesis(Box::new(pre_parse_templates(*e))),
        Expression::Conditional(mut c) => {
            c.cond_expr =
                pre_parse_templates(std::mem::replace(&mut c.cond_expr, Expression::Null));
            c.true_expr =
                pre_parse_templates(std::mem::replace(&mut c.true_expr, Expression::Null));
            c.false_expr =
                pre_parse_templates(std::mem::replace(&mut c.false_expr, Expression::Null));
            Expression::Conditional(c)
        }
        other => other,
    }
}

fn template(args: FuncArgs) -> Result<Value, String> {
    let mut out = String::new();
    for v in args.iter() {
        match v {
            Value::Null => return Err("cannot interpolate null into a string".into()),
            v => {
                out.push_str(&primitive_to_string(v).ok_or_else(|| {
                    format!("cannot interpolate a {} into a string", type_name(v))
                })?)
            }
        }
    }
    Ok(Value::String(out))
}

pub(crate) fn declare(ctx: &mut Context) {
    ctx.declare_func(
        TEMPLATE_FN,
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(template),
    );
    let any = || ParamType::Any;
    let s = || ParamType::String;
    ctx.declare_func(
        "merge",
        FuncDef::builder()
            .variadic_param(ParamType::nullable(ParamType::object_of(any())))
            .build(merge),
    );
    ctx.declare_func(
        "concat",
        FuncDef::builder()
            .variadic_param(ParamType::array_of(any()))
            .build(concat),
    );
    ctx.declare_func(
        "lookup",
        FuncDef::builder()
            .param(ParamType::object_of(any()))
            .param(s())
            .variadic_param(any())
            .build(lookup),
    );
    ctx.declare_func(
        "contains",
        FuncDef::builder()
            .param(ParamType::array_of(any()))
            .param(any())
            .build(contains),
    );
    ctx.declare_func("length", FuncDef::builder().param(any()).build(length));
    ctx.declare_func(
        "keys",
        FuncDef::builder()
            .param(ParamType::object_of(any()))
            .build(keys),
    );
    ctx.declare_func(
        "values",
        FuncDef::builder()
            .param(ParamType::object_of(any()))
            .build(values),
    );
    ctx.declare_func(
        "toset",
        FuncDef::builder()
            .param(ParamType::array_of(any()))
            .build(toset),
    );
    ctx.declare_func(
        "tolist",
        FuncDef::builder()
            .param(ParamType::array_of(any()))
            .build(identity),
    );
    ctx.declare_func(
        "tomap",
        FuncDef::builder()
            .param(ParamType::object_of(any()))
            .build(identity),
    );
    ctx.declare_func("tostring", FuncDef::builder().param(any()).build(tostring));
    ctx.declare_func("tonumber", FuncDef::builder().param(any()).build(tonumber));
    ctx.declare_func("lower", FuncDef::builder().param(s()).build(lower));
    ctx.declare_func("upper", FuncDef::builder().param(s()).build(upper));
    ctx.declare_func(
        "format",
        FuncDef::builder()
            .param(s())
            .variadic_param(any())
            .build(format),
    );
    ctx.declare_func(
        "join",
        FuncDef::builder()
            .param(s())
            .variadic_param(ParamType::array_of(any()))
            .build(join),
    );
    ctx.declare_func(
        "split",
        FuncDef::builder().param(s()).param(s()).build(split),
    );
    ctx.declare_func(
        "replace",
        FuncDef::builder()
            .param(s())
            .param(s())
            .param(s())
            .build(replace),
    );
    ctx.declare_func("trimspace", FuncDef::builder().param(s()).build(trimspace));
    ctx.declare_func(
        "coalesce",
        FuncDef::builder().variadic_param(any()).build(coalesce),
    );
    ctx.declare_func(
        "env",
        FuncDef::builder().param(s()).variadic_param(s()).build(env),
    );
    ctx.declare_func("file", FuncDef::builder().param(s()).build(file));
    ctx.declare_func(
        "jsonencode",
        FuncDef::builder().param(any()).build(jsonencode),
    );
    ctx.declare_func(
        "jsondecode",
        FuncDef::builder().param(s()).build(jsondecode),
    );
    ctx.declare_func(
        "min",
        FuncDef::builder()
            .variadic_param(ParamType::Number)
            .build(min),
    );
    ctx.declare_func(
        "max",
        FuncDef::builder()
            .variadic_param(ParamType::Number)
            .build(max),
    );
    ctx.declare_func(
        "abs",
        FuncDef::builder().param(ParamType::Number).build(abs),
    );
}

fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = Map::new();
    for v in args.iter() {
        if let Value::Object(o) = v {
            for (k, v) in o {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn concat(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(
        args.iter()
            .flat_map(|a| a.as_array().cloned().unwrap_or_default())
            .collect(),
    ))
}

fn lookup(args: FuncArgs) -> Result<Value, String> {
    let map = args[0].as_object().expect("checked by ParamType");
    let key = args[1].as_str().expect("checked by ParamType");
    match (map.get(key), args.get(2)) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!(
            "the map has no key {key:?} and no default was given"
        )),
    }
}

fn contains(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Bool(
        args[0].as_array().expect("checked").contains(&args[1]),
    ))
}

fn length(args: FuncArgs) -> Result<Value, String> {
    let n = match &args[0] {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        Value::String(s) => s.chars().count(),
        other => {
            return Err(format!(
                "length() wants a list, map or string, not {}",
                type_name(other)
            ))
        }
    };
    Ok(Value::Number(Number::from(n as u64)))
}

fn keys(args: FuncArgs) -> Result<Value, String> {
    let mut k: Vec<String> = args[0]
        .as_object()
        .expect("checked")
        .keys()
        .cloned()
        .collect();
    k.sort();
    Ok(Value::Array(k.into_iter().map(Value::String).collect()))
}

fn values(args: FuncArgs) -> Result<Value, String> {
    let o = args[0].as_object().expect("checked");
    let mut k: Vec<&String> = o.keys().collect();
    k.sort();
    Ok(Value::Array(k.into_iter().map(|k| o[k].clone()).collect()))
}

/// Sets are lists without duplicates, sorted (Terraform orders sets of strings lexically).
fn toset(args: FuncArgs) -> Result<Value, String> {
    let mut items: Vec<Value> = Vec::new();
    for v in args[0].as_array().expect("checked") {
        if !items.contains(v) {
            items.push(v.clone());
        }
    }
    if items.iter().all(Value::is_string) {
        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    Ok(Value::Array(items))
}

fn identity(args: FuncArgs) -> Result<Value, String> {
    Ok(args[0].clone())
}

/// The string form of a primitive: what `map(string)` conversion and `tostring` produce.
pub(crate) fn primitive_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn tostring(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Null => Ok(Value::Null),
        v => primitive_to_string(v)
            .map(Value::String)
            .ok_or_else(|| format!("tostring() cannot convert a {} to a string", type_name(v))),
    }
}

pub(crate) fn parse_number(s: &str) -> Option<Number> {
    if let Ok(i) = s.trim().parse::<i64>() {
        return Some(Number::from(i));
    }
    s.trim().parse::<f64>().ok().and_then(Number::from_f64)
}

fn tonumber(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => Ok(Value::Number(*n)),
        Value::String(s) => parse_number(s)
            .map(Value::Number)
            .ok_or_else(|| format!("cannot convert {s:?} to a number")),
        v => Err(format!("tonumber() cannot convert a {}", type_name(v))),
    }
}

fn lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(
        args[0].as_str().expect("checked").to_lowercase(),
    ))
}

fn upper(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(
        args[0].as_str().expect("checked").to_uppercase(),
    ))
}

/// `format` with the verbs `%s`, `%d`, `%v`, `%q` and `%%`.
fn format(args: FuncArgs) -> Result<Value, String> {
    let spec = args[0].as_str().expect("checked");
    let mut rest = args.iter().skip(1);
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'd' | 'v' | 'q')) => {
                let v = rest
                    .next()
                    .ok_or("format() has more verbs than arguments")?;
                match verb {
                    'd' => match v {
                        Value::Number(n) => out.push_str(&n.to_string()),
                        _ => return Err(format!("%d wants a number, got a {}", type_name(v))),
                    },
                    'q' => {
                        out.push_str(&format!("{:?}", primitive_to_string(v).unwrap_or_default()))
                    }
                    _ => out.push_str(
                        &primitive_to_string(v).unwrap_or_else(|| hcl_json(v).to_string()),
                    ),
                }
            }
            Some(other) => return Err(format!("format() does not support the verb %{other}")),
            None => return Err("format() spec ends with a lone %".into()),
        }
    }
    if rest.next().is_some() {
        return Err("format() has more arguments than verbs".into());
    }
    Ok(Value::String(out))
}

fn join(args: FuncArgs) -> Result<Value, String> {
    let sep = args[0].as_str().expect("checked");
    let mut parts = Vec::new();
    for list in args.iter().skip(1) {
        for v in list.as_array().expect("checked") {
            parts.push(
                primitive_to_string(v)
                    .ok_or_else(|| format!("join() cannot join a {}", type_name(v)))?,
            );
        }
    }
    Ok(Value::String(parts.join(sep)))
}

fn split(args: FuncArgs) -> Result<Value, String> {
    let sep = args[0].as_str().expect("checked");
    let s = args[1].as_str().expect("checked");
    if s.is_empty() {
        return Ok(Value::Array(vec![]));
    }
    Ok(Value::Array(
        s.split(sep).map(|p| Value::String(p.to_string())).collect(),
    ))
}

fn replace(args: FuncArgs) -> Result<Value, String> {
    let (s, from, to) = (
        args[0].as_str().unwrap(),
        args[1].as_str().unwrap(),
        args[2].as_str().unwrap(),
    );
    Ok(Value::String(s.replace(from, to)))
}

fn trimspace(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(args[0].as_str().unwrap().trim().to_string()))
}

fn coalesce(args: FuncArgs) -> Result<Value, String> {
    args.iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
        .ok_or_else(|| "coalesce() found no non-null, non-empty argument".to_string())
}

/// `env(NAME[, DEFAULT])`: only the variables the environment was narrowed to (see
/// `lower/environment.rs`); another name is an error, not its default.
fn env(args: FuncArgs) -> Result<Value, String> {
    let name = args[0].as_str().unwrap();
    if crate::lower::is_credential(name) {
        return Err(format!(
            "environment variable {name} holds credentials or tokens and is never readable by env()"
        ));
    }
    if !name.starts_with("PLANFORM_VAR_")
        && !ENVIRONMENT.with(|e| e.borrow().allowed.contains(name))
    {
        return Err(format!(
            "environment variable {name} is not readable: list it in planform {{ allowed_env = [\"{name}\"] }} (or use a variable)"
        ));
    }
    let found = ENVIRONMENT.with(|e| e.borrow().vars.get(name).cloned());
    match (found, args.get(1)) {
        (Some(v), _) => Ok(Value::String(v)),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!("environment variable {name} is not set")),
    }
}

/// The largest file `file()` reads.
pub const FILE_MAX_BYTES: u64 = 1024 * 1024;

/// `file(PATH)`: a regular file inside the manifest directory (after resolving `..` and
/// symbolic links), at most [`FILE_MAX_BYTES`], as UTF-8 text.
fn file(args: FuncArgs) -> Result<Value, String> {
    use std::io::Read;
    let path = PathBuf::from(args[0].as_str().unwrap());
    let base = ENVIRONMENT.with(|e| e.borrow().base_dir.clone());
    let shown = path.display();
    let cannot = |e: std::io::Error| format!("cannot read {shown}: {e}");
    let outside = || {
        format!(
            "{shown} is outside the manifest directory; file() reads only files of the workspace"
        )
    };
    // Decided before touching the filesystem, so that whether a file outside exists is never
    // told: an absolute path or one whose `..` leave the directory is outside.
    let Some(inside) = lexically_inside(&path) else {
        return Err(outside());
    };
    let root = base.canonicalize().map_err(cannot)?;
    let full = match root.join(&inside).canonicalize() {
        Ok(full) => full,
        // A missing file of the workspace is said to be missing; a link on the way (which may
        // lead out, to a file that does not exist) is not followed to say so.
        Err(_) if through_a_link(&root, &inside) => return Err(outside()),
        Err(e) => return Err(cannot(e)),
    };
    if !full.starts_with(&root) {
        return Err(outside());
    }
    // Before opening: opening a FIFO blocks until a writer comes.
    if !std::fs::metadata(&full).map_err(cannot)?.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let f = std::fs::File::open(&full).map_err(cannot)?;
    let meta = f.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let mut bytes = Vec::new();
    f.take(FILE_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > FILE_MAX_BYTES {
        return Err(format!(
            "{shown} is larger than {} KiB, the most file() reads",
            FILE_MAX_BYTES / 1024
        ));
    }
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| format!("{shown} is not UTF-8 text"))
}

/// `path` with `.` and `..` resolved without the filesystem, when it stays inside the directory
/// it is relative to; `None` when it is absolute or leaves it.
fn lexically_inside(path: &std::path::Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether a prefix of `root/inside` that exists is a symbolic link.
fn through_a_link(root: &std::path::Path, inside: &std::path::Path) -> bool {
    let mut at = root.to_path_buf();
    for part in inside.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Converts an HCL value to JSON (for `jsonencode` and output rendering).
pub(crate) fn hcl_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(serde_json::Value::from)
            .or_else(|| {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
            })
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(a) => serde_json::Value::Array(a.iter().map(hcl_json).collect()),
        Value::Object(o) => {
            serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), hcl_json(v))).collect())
        }
    }
}

fn json_hcl(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Number::from)
            .or_else(|| n.as_f64().and_then(Number::from_f64))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::Array(a.into_iter().map(json_hcl).collect()),
        serde_json::Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, json_hcl(v))).collect())
        }
    }
}

fn jsonencode(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::String(hcl_json(&args[0]).to_string()))
}

fn jsondecode(args: FuncArgs) -> Result<Value, String> {
    serde_json::from_str(args[0].as_str().unwrap())
        .map(json_hcl)
        .map_err(|e| format!("invalid JSON: {e}"))
}

fn numbers(args: &FuncArgs) -> Result<Vec<f64>, String> {
    if args.is_empty() {
        return Err("needs at least one number".into());
    }
    Ok(args.iter().filter_map(Value::as_f64).collect())
}

fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::Number(Number::from(f as i64))
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn min(args: FuncArgs) -> Result<Value, String> {
    Ok(number_value(
        numbers(&args)?.into_iter().fold(f64::INFINITY, f64::min),
    ))
}

fn max(args: FuncArgs) -> Result<Value, String> {
    Ok(number_value(
        numbers(&args)?
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max),
    ))
}

fn abs(args: FuncArgs) -> Result<Value, String> {
    Ok(number_value(args[0].as_f64().unwrap_or_default().abs()))
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(src: &str) -> Result<Value, String> {
        let mut ctx = Context::new();
        declare(&mut ctx);
        let _g = install(Environment {
            vars: [("HOME_X".to_string(), "/h".to_string())].into(),
            allowed: ["HOME_X".to_string(), "NOPE_NOT_SET".to_string()].into(),
            base_dir: ".".into(),
        });
        let expr: hcl::Expression = src.parse().map_err(|e: hcl::Error| e.to_string())?;
        expr.evaluate(&ctx).map_err(|e| e.to_string())
    }

    fn check(src: &str, expect: &str) {
        let got = eval(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(hcl_json(&got).to_string(), expect, "{src}");
    }

    #[test]
    fn every_function() {
        check(r#"merge({a = 1}, {b = 2}, {a = 3})"#, r#"{"a":3,"b":2}"#);
        check(r#"concat(["a"], ["b", "c"])"#, r#"["a","b","c"]"#);
        check(r#"lookup({a = "x"}, "b", "d")"#, r#""d""#);
        check(r#"lookup({a = "x"}, "a")"#, r#""x""#);
        check(r#"contains(["dev", "prod"], "prod")"#, "true");
        check(r#"length({a = 1, b = 2})"#, "2");
        check(r#"length("héllo")"#, "5");
        check(r#"keys({b = 1, a = 2})"#, r#"["a","b"]"#);
        check(r#"values({b = 1, a = 2})"#, "[2,1]");
        check(r#"toset(["b", "a", "b"])"#, r#"["a","b"]"#);
        check(r#"tomap({a = "b"})"#, r#"{"a":"b"}"#);
        check(r#"tostring(12)"#, r#""12""#);
        check(r#"tonumber("12")"#, "12");
        check(r#"lower("AbC")"#, r#""abc""#);
        check(r#"upper("AbC")"#, r#""ABC""#);
        check(r#"format("%s-%d-%q%%", "a", 3, "b")"#, r#""a-3-\"b\"%""#);
        check(r#"join(",", ["a", "b"])"#, r#""a,b""#);
        check(r#"split(",", "a,b")"#, r#"["a","b"]"#);
        check(r#"replace("a-b-c", "-", "_")"#, r#""a_b_c""#);
        check(r#"trimspace("  a ")"#, r#""a""#);
        check(r#"coalesce("", null, "x")"#, r#""x""#);
        check(r#"env("HOME_X")"#, r#""/h""#);
        check(r#"env("NOPE_NOT_SET", "fallback")"#, r#""fallback""#);
        check(r#"jsonencode({a = [1, true]})"#, r#""{\"a\":[1,true]}""#);
        check(r#"jsondecode("{\"a\": 1}")"#, r#"{"a":1}"#);
        check(r#"max(1, 5, 3)"#, "5");
    }

    #[test]
    fn errors_say_why() {
        assert!(eval(r#"lookup({}, "k")"#)
            .unwrap_err()
            .contains("no key \"k\""));
        assert!(eval(r#"env("NOPE_NOT_SET")"#)
            .unwrap_err()
            .contains("not set"));
        assert!(eval(r#"format("%s %s", "a")"#)
            .unwrap_err()
            .contains("more verbs"));
        assert!(eval(r#"tonumber("x")"#)
            .unwrap_err()
            .contains("cannot convert"));
    }

    /// Issue 16 (1): env() reads only allowed names, never credentials; file() reads only
    /// regular files of the workspace, up to a size cap.
    #[test]
    fn env_and_file_are_confined() {
        let e = eval(r#"env("ALIBABA_CLOUD_ACCESS_KEY_SECRET")"#).unwrap_err();
        assert!(e.contains("never readable"), "{e}");
        let e = eval(r#"env("OTHER", "d")"#).unwrap_err();
        assert!(e.contains("allowed_env"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        std::fs::write(ws.join("ok.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cret").unwrap();
        std::fs::write(ws.join("big.txt"), vec![b'a'; FILE_MAX_BYTES as usize + 1]).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), ws.join("link.txt")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("none.txt"), ws.join("dangling.txt")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path(), ws.join("up")).unwrap();
        // A FIFO with no writer: opening it would block for ever.
        #[cfg(unix)]
        assert!(std::process::Command::new("mkfifo")
            .arg(ws.join("fifo"))
            .status()
            .unwrap()
            .success());
        let mut ctx = Context::new();
        declare(&mut ctx);
        let _g = install(Environment {
            base_dir: ws.clone(),
            ..Environment::default()
        });
        let run = |src: &str| {
            let expr: hcl::Expression = src.parse().unwrap();
            expr.evaluate(&ctx).map_err(|e| e.to_string())
        };
        assert_eq!(run(r#"file("ok.txt")"#).unwrap(), Value::from("hello"));
        for (src, why) in [
            (r#"file("../secret.txt")"#, "outside the manifest directory"),
            (r#"file("/etc/hostname")"#, "outside the manifest directory"),
            (r#"file("big.txt")"#, "larger than 1024 KiB"),
            #[cfg(unix)]
            (r#"file("link.txt")"#, "outside the manifest directory"),
            (r#"file(".")"#, "not a regular file"),
            #[cfg(unix)]
            (r#"file("fifo")"#, "fifo is not a regular file"),
            (
                r#"file("sub/../missing.txt")"#,
                "cannot read sub/../missing.txt: ",
            ),
        ] {
            let e = run(src).unwrap_err();
            assert!(e.contains(why), "{src}: {e}");
        }
        // Issue 15: the same answer for a file outside that exists and one that does not, so
        // file() tells nothing of the runner's files.
        let outside = |p: &str| {
            format!(
                "{p} is outside the manifest directory; file() reads only files of the workspace"
            )
        };
        let mut pairs = vec![
            ("../secret.txt", "../nothing.txt"),
            (
                "../../../../../../etc/passwd",
                "../../../../../../etc/nonexistent",
            ),
            ("/etc/passwd", "/etc/nonexistent"),
            ("ok.txt/../../secret.txt", "ok.txt/../../nothing.txt"),
        ];
        if cfg!(unix) {
            pairs.push(("link.txt", "dangling.txt"));
            pairs.push(("up/secret.txt", "up/nothing.txt"));
        }
        for (exists, missing) in pairs {
            for p in [exists, missing] {
                let e = run(&format!("file({p:?})")).unwrap_err();
                assert!(e.contains(&outside(p)), "{p}: {e}");
            }
        }
    }
}
