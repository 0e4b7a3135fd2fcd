//! Variables: declaring them (type, default, sensitive, nullable, validation), assigning them
//! with Terraform's precedence (environment < `planform.pfvars` < `*.auto.pfvars` <
//! `--var-file` / `--var` in command-line order) and checking their validations.

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::{Context, Evaluate};
use hcl::{Expression, Map, Value};
use planform_model::SourceLocation;

use super::eval::{
    as_bool, as_string, base_context, error_message, eval, eval_message, typed, value_failed,
};
use super::{single_label, Inputs, Lowering, VarArg};
use crate::diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
use crate::syntax::{check_schema, error, hint, parse_file, AttrNode, BlockNode};
use crate::types::{convert, parse_type, Type};

const VARIABLE_ATTRS: &[&str] = &["type", "default", "description", "sensitive", "nullable"];

/// A `variable` block after evaluation of everything but its value.
pub(super) struct VarDecl {
    pub(super) name: String,
    ty: Type,
    default: Option<Value>,
    pub(super) sensitive: bool,
    nullable: bool,
    loc: SourceLocation,
    validations: Vec<(AttrNode, Option<AttrNode>)>,
    /// A default was written (even if it was invalid and reported).
    has_default: bool,
}

/// A value before conversion to the variable's type: already evaluated (files) or raw text
/// (environment and `--var`), which is parsed as an expression only for complex types.
#[derive(Clone)]
enum RawValue {
    Value(Value),
    Text(String),
}

/// Declares, assigns and validates the variables, then makes `var` available to evaluation.
pub(super) fn lower(cx: &mut Lowering, blocks: &[&BlockNode], inputs: &Inputs) {
    let decls = declare(blocks, &cx.ctx, &mut cx.diags);
    let values = assign(&decls, inputs, &mut cx.diags);
    cx.sensitive_vars = decls
        .iter()
        .filter(|d| d.sensitive)
        .map(|d| d.name.clone())
        .collect();
    let mut var_obj = Map::new();
    for (name, v) in &values {
        var_obj.insert(name.clone(), v.clone());
    }
    cx.ctx.declare_var("var", Value::Object(var_obj));
    validate(&decls, &values, &cx.ctx, &mut cx.diags);
    cx.variables = decls;
}

/// Reads every `variable` block: type, default (converted to the type), flags, validations.
fn declare(blocks: &[&BlockNode], ctx: &Context, diags: &mut Diagnostics) -> Vec<VarDecl> {
    let mut out: Vec<VarDecl> = Vec::new();
    for b in blocks {
        let Some(name) = single_label(b, "variable", diags) else {
            continue;
        };
        check_schema(
            b,
            &format!("variable {name:?}"),
            VARIABLE_ATTRS,
            &["validation"],
            diags,
        );
        if let Some(first) = out.iter().find(|d| d.name == name) {
            diags.push(error(
                &b.loc,
                None,
                format!(
                    "duplicate variable {name:?} (first declared at {})",
                    first.loc
                ),
            ));
            continue;
        }
        let subject = format!("var.{name}");
        let ty = match b.attr("type") {
            Some(a) => match parse_type(&a.expr) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(error(&a.value_loc, Some(subject.clone()), e));
                    Type::Any
                }
            },
            None => Type::Any,
        };
        let flag = |n: &str, default: bool, diags: &mut Diagnostics| match b.attr(n) {
            Some(a) => typed(
                eval(a, ctx, &subject, diags),
                &a.value_loc,
                &format!("{subject}.{n}"),
                "true or false",
                as_bool,
                diags,
            )
            .unwrap_or(default),
            None => default,
        };
        let sensitive = flag("sensitive", false, diags);
        let nullable = flag("nullable", true, diags);
        let default = b.attr("default").and_then(|a| {
            let v = eval(a, ctx, &subject, diags)?;
            match convert(&v, &ty) {
                Ok(v) => Some(v),
                Err(e) => {
                    diags.push(error(
                        &a.value_loc,
                        Some(subject.clone()),
                        format!("default does not match type {ty}: {e}"),
                    ));
                    None
                }
            }
        });
        let mut validations = Vec::new();
        for v in b.blocks_of("validation") {
            check_schema(v, "validation", &["condition", "error_message"], &[], diags);
            match v.attr("condition") {
                Some(c) => validations.push((c.clone(), v.attr("error_message").cloned())),
                None => diags.push(error(
                    &v.loc,
                    Some(subject.clone()),
                    "validation needs a condition",
                )),
            }
        }
        out.push(VarDecl {
            name,
            ty,
            default,
            sensitive,
            nullable,
            loc: b.loc.clone(),
            validations,
            has_default: b.attr("default").is_some(),
        });
    }
    out
}

/// The value of every variable, from the last source that sets it, converted to its type;
/// the default otherwise.
///
/// A variable whose value fails (its error reported once: a value that does not convert, a
/// default that does not match, a variable file that does not parse) is recorded as failed,
/// so an expression that reads it makes no follow-on error.
fn assign(decls: &[VarDecl], inputs: &Inputs, diags: &mut Diagnostics) -> BTreeMap<String, Value> {
    let mut raw: BTreeMap<String, (RawValue, SourceLocation)> = BTreeMap::new();
    let cli = SourceLocation {
        file: "<command line>".into(),
        line: 1,
        col: 1,
    };
    for (k, v) in &inputs.env {
        if let Some(name) = k.strip_prefix("PLANFORM_VAR_") {
            if decls.iter().any(|d| d.name == name) {
                raw.insert(
                    name.to_string(),
                    (
                        RawValue::Text(v.clone()),
                        SourceLocation {
                            file: format!("${k}"),
                            line: 1,
                            col: 1,
                        },
                    ),
                );
            }
        }
    }
    let ctx = base_context();
    // Variables given a value that failed to evaluate, and whether a variable file did not
    // parse (then any variable may have been given there: its syntax error says what failed).
    let mut given_but_failed: BTreeSet<String> = BTreeSet::new();
    let mut unparsed_file = false;
    let mut from_file =
        |file: &SourceFile,
         diags: &mut Diagnostics,
         raw: &mut BTreeMap<String, (RawValue, SourceLocation)>| {
            let Some(root) = parse_file(file, diags) else {
                unparsed_file = true;
                return;
            };
            for b in &root.blocks {
                diags.push(error(
                    &b.loc,
                    None,
                    format!(
                        "variable files hold only NAME = VALUE lines, not blocks ({:?})",
                        b.kind
                    ),
                ));
            }
            for a in &root.attrs {
                if !decls.iter().any(|d| d.name == a.name) {
                    diags.push(Diagnostic {
                        severity: Severity::Warning,
                        anchor: a.loc.clone(),
                        location: a.loc.clone(),
                        subject: None,
                        message: format!(
                            "value for undeclared variable {:?}{}",
                            a.name,
                            hint(
                                &a.name,
                                &decls.iter().map(|d| d.name.as_str()).collect::<Vec<_>>()
                            )
                        ),
                    });
                    continue;
                }
                if let Some(v) = eval(a, &ctx, &format!("var.{}", a.name), diags) {
                    raw.insert(a.name.clone(), (RawValue::Value(v), a.value_loc.clone()));
                } else {
                    given_but_failed.insert(a.name.clone());
                }
            }
        };
    for f in &inputs.pfvars {
        from_file(f, diags, &mut raw);
    }
    for arg in &inputs.args {
        match arg {
            VarArg::File(f) => from_file(f, diags, &mut raw),
            VarArg::Assign { name, value } => {
                if decls.iter().any(|d| d.name == *name) {
                    raw.insert(name.clone(), (RawValue::Text(value.clone()), cli.clone()));
                } else {
                    let names: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
                    diags.push(error(
                        &cli,
                        Some(format!("--var {name}")),
                        format!(
                            "no variable named {name:?} is declared{}",
                            hint(name, &names)
                        ),
                    ));
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for d in decls {
        let subject = format!("var.{}", d.name);
        let value = match raw.remove(&d.name) {
            Some((RawValue::Value(v), loc)) => match convert(&v, &d.ty) {
                Ok(v) => Some(v),
                Err(e) => {
                    diags.push(error(
                        &loc,
                        Some(subject.clone()),
                        format!("value does not match type {}: {e}", d.ty),
                    ));
                    None
                }
            },
            Some((RawValue::Text(t), loc)) => {
                let v = match d.ty {
                    Type::String | Type::Number | Type::Bool | Type::Any => {
                        Ok(Value::String(t.clone()))
                    }
                    _ => {
                        parse_text(&t).and_then(|e| e.evaluate(&ctx).map_err(|e| error_message(&e)))
                    }
                };
                match v.and_then(|v| convert(&v, &d.ty)) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        diags.push(error(
                            &loc,
                            Some(subject.clone()),
                            format!("value does not match type {}: {}", d.ty, eval_message(&e)),
                        ));
                        None
                    }
                }
            }
            None => match &d.default {
                Some(v) => Some(v.clone()),
                // The default's error, the value's or the file's syntax error was reported.
                None if d.has_default || given_but_failed.contains(&d.name) || unparsed_file => {
                    None
                }
                None => {
                    diags.push(error(&d.loc, Some(subject.clone()), format!("no value given for required variable {:?}: set a default, --var {}=…, a .pfvars file or PLANFORM_VAR_{}", d.name, d.name, d.name)));
                    None
                }
            },
        };
        if let Some(v) = value {
            if v.is_null() && !d.nullable {
                diags.push(error(
                    &d.loc,
                    Some(subject),
                    "must not be null (nullable = false)",
                ));
                value_failed("var", &d.name);
                continue;
            }
            out.insert(d.name.clone(), v);
        } else {
            value_failed("var", &d.name);
        }
    }
    out
}

/// A value given as text for a collection type, parsed as an HCL expression; a syntax error
/// says where in the text (on one line).
fn parse_text(text: &str) -> Result<Expression, String> {
    match hcl::edit::parser::parse_expr(text) {
        Ok(e) => Ok(crate::functions::pre_parse_templates(e.into())),
        Err(e) => Err(format!(
            "not an HCL value: column {}: {}",
            e.location().column(),
            e.message()
        )),
    }
}

/// Reports every validation whose condition is false, with its error message.
fn validate(
    decls: &[VarDecl],
    values: &BTreeMap<String, Value>,
    ctx: &Context,
    diags: &mut Diagnostics,
) {
    for d in decls {
        if !values.contains_key(&d.name) {
            continue;
        }
        for (cond, msg) in &d.validations {
            let subject = format!("var.{}", d.name);
            let Some(ok) = typed(
                eval(cond, ctx, &subject, diags),
                &cond.value_loc,
                &subject,
                "a condition that is true or false",
                as_bool,
                diags,
            ) else {
                continue;
            };
            if !ok {
                let text = msg
                    .as_ref()
                    .and_then(|m| eval(m, ctx, &subject, diags))
                    .and_then(|v| as_string(&v))
                    .unwrap_or_else(|| "validation failed".into());
                diags.push(error(
                    &cond.value_loc,
                    Some(subject),
                    format!("invalid value: {text}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
