//! Outputs: `output` blocks, their values (which may hold unknown markers), descriptions and
//! the rule that a value built from a sensitive variable must be declared sensitive.

use std::collections::BTreeSet;

use hcl::eval::Context;
use hcl::Value;
use planform_model::{DesiredOutput, DesiredState, OutputValue};

use super::eval::{as_bool, as_string, eval, typed};
use super::locals::Locals;
use super::scope::{check_references, Scope};
use super::sensitivity::sensitive_source;
use super::single_label;
use super::Lowering;
use crate::diagnostic::Diagnostics;
use crate::references::{references, Reference};
use crate::syntax::{check_schema, error, BlockNode};

/// What each output's `value` references, in block order.
pub(super) fn references_of(blocks: &[&BlockNode]) -> Vec<Vec<Reference>> {
    blocks
        .iter()
        .map(|b| {
            b.attr("value")
                .map(|a| references(&a.expr))
                .unwrap_or_default()
        })
        .collect()
}

/// Lowers every output, evaluated with `plan` bound to the object of unknown markers.
pub(super) fn lower_all(
    cx: &mut Lowering,
    blocks: &[&BlockNode],
    refs: &[Vec<Reference>],
    plan: &Value,
    locals: &Locals,
    plan_names: &[&str],
    sensitive_locals: &BTreeSet<String>,
) {
    let Lowering {
        diags,
        desired,
        ctx,
        variables,
        sensitive_vars,
        repeated_plans,
    } = cx;
    let mut octx = ctx.clone();
    octx.declare_var("plan", plan.clone());
    let local_names = locals.names();
    let scope = Scope {
        vars: variables,
        locals: &local_names,
        plans: plan_names,
        repeated: repeated_plans,
        each: false,
        count: false,
    };
    let is_sensitive = |e: &hcl::Expression| sensitive_source(e, sensitive_vars, sensitive_locals);
    for (b, refs) in blocks.iter().zip(refs) {
        lower_output(b, refs, &octx, &scope, &is_sensitive, desired, diags);
    }
}

/// Lowers one output block, checking its references in `scope` and its sensitivity.
fn lower_output(
    b: &BlockNode,
    refs: &[Reference],
    ctx: &Context,
    scope: &Scope,
    is_sensitive: &dyn Fn(&hcl::Expression) -> Option<String>,
    desired: &mut DesiredState,
    diags: &mut Diagnostics,
) {
    let Some(name) = single_label(b, "output", diags) else {
        return;
    };
    check_schema(
        b,
        &format!("output {name:?}"),
        &["value", "sensitive", "description"],
        &[],
        diags,
    );
    let subject = format!("output.{name}");
    if desired.outputs.contains_key(&name) {
        diags.push(error(&b.loc, Some(subject), "duplicate output"));
        return;
    }
    let Some(a) = b.attr("value") else {
        diags.push(error(
            &b.loc,
            Some(subject),
            "missing required attribute \"value\"",
        ));
        return;
    };
    check_references(refs, a, &subject, scope, diags);
    let sensitive = b
        .attr("sensitive")
        .and_then(|s| {
            typed(
                eval(s, ctx, &subject, diags),
                &s.value_loc,
                &subject,
                "true or false",
                as_bool,
                diags,
            )
        })
        .unwrap_or(false);
    if let Some(source) = is_sensitive(&a.expr).filter(|_| !sensitive) {
        diags.push(error(
            &a.value_loc,
            Some(subject.clone()),
            format!(
                "the value reads {source}, which is sensitive; set sensitive = true on this output"
            ),
        ));
    }
    let description = b.attr("description").and_then(|d| {
        typed(
            eval(d, ctx, &subject, diags),
            &d.value_loc,
            &subject,
            "a string",
            as_string,
            diags,
        )
    });
    if let Some(v) = eval(a, ctx, &subject, diags) {
        desired.outputs.insert(
            name.clone(),
            DesiredOutput {
                name,
                value: output_value(&v),
                sensitive,
                description,
            },
        );
    }
}

/// The domain form of an evaluated value.
fn output_value(v: &Value) -> OutputValue {
    match v {
        Value::Null => OutputValue::Null,
        Value::Bool(b) => OutputValue::Bool(*b),
        Value::Number(n) => OutputValue::Number(n.as_f64().unwrap_or_default()),
        Value::String(s) => OutputValue::String(s.clone()),
        Value::Array(a) => OutputValue::List(a.iter().map(output_value).collect()),
        Value::Object(o) => OutputValue::Map(
            o.iter()
                .map(|(k, v)| (k.clone(), output_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests;
