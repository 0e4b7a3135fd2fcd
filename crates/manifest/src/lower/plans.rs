//! Plans: declaring `plan` blocks, then lowering every instance (attributes, provider,
//! dependencies, lifecycle, timeouts, sensitive parameters) and checking the plan limits.

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::Context;
use hcl::{Expression, Map, Value};
use planform_model::{
    is_known, references_in, Address, AttrPath, DesiredPlan, DesiredState, PlanInputs,
    ProviderKind, ProviderRef, SourceLocation, Timeouts,
};

use super::dependencies::{add_implied, explicit_dependencies};
use super::eval::{
    as_bool, as_string, as_string_list, as_string_map, eval, parse_duration, typed, typed_value,
};
use super::instances::{Instances, PlanObject};
use super::locals::Locals;
use super::providers::{default_provider, resolve_provider};
use super::scope::{check_references, Scope};
use super::sensitivity::{refuse_outside_parameters, sensitive_parameter_keys, Sensitivity};
use super::{single_label, valid_identifier, Lowering};
use crate::diagnostic::Diagnostics;
use crate::limits;
use crate::references::{references, Reference, Step};
use crate::syntax::{check_schema, error, hint, AttrNode, BlockNode};

const PLAN_ATTRS: &[&str] = &[
    "provider",
    "name",
    "description",
    "product_id",
    "product_version_id",
    "portfolio_id",
    "provisioned_product_name",
    "stack_region_id",
    "parameters",
    "tags",
    "notification_arns",
    "execute",
    "depends_on",
    "for_each",
    "count",
];
const PLAN_BLOCKS: &[&str] = &["lifecycle", "timeouts"];
/// Attributes a plan exposes to references.
pub const PLAN_REF_ATTRS: &[&str] = &[
    "id",
    "provisioned_product_id",
    "stack_id",
    "status",
    "outputs",
];
/// Plan attributes `ignore_changes` may name.
const COMPARED_ATTRS: &[&str] = &[
    "name",
    "description",
    "product_id",
    "product_version_id",
    "portfolio_id",
    "provisioned_product_name",
    "stack_region_id",
    "parameters",
    "tags",
    "notification_arns",
];

/// A declared `plan` block and what each of its attributes references.
pub(super) struct PlanBlock<'a> {
    pub(super) name: String,
    pub(super) node: &'a BlockNode,
    pub(super) refs: Vec<(&'a AttrNode, Vec<Reference>)>,
}

/// The `plan` blocks with valid, unique names, in source order.
pub(super) fn declare<'a>(cx: &mut Lowering, blocks: &[&'a BlockNode]) -> Vec<PlanBlock<'a>> {
    let diags = &mut cx.diags;
    let mut plan_blocks: Vec<PlanBlock> = Vec::new();
    for b in blocks {
        let Some(name) = single_label(b, "plan", diags) else {
            continue;
        };
        if !valid_identifier(&name) {
            diags.push(error(&b.loc, None, format!("plan name {name:?} must start with a letter or _ and hold only letters, digits, _ and -")));
            continue;
        }
        if let Some(first) = plan_blocks.iter().find(|p| p.name == name) {
            diags.push(error(
                &b.loc,
                Some(format!("plan.{name}")),
                format!(
                    "duplicate plan {name:?} (first declared at {}){}",
                    first.node.loc,
                    crate::syntax::other_file_hint(&first.node.loc, &b.loc)
                ),
            ));
            continue;
        }
        check_schema(b, &format!("plan {name:?}"), PLAN_ATTRS, PLAN_BLOCKS, diags);
        let refs = b
            .attrs
            .iter()
            .filter(|a| a.name != "depends_on" && a.name != "provider")
            .map(|a| (a, references(&a.expr)))
            .collect();
        if let Some(meta) = ["for_each", "count"]
            .into_iter()
            .find(|m| b.attr(m).is_some())
        {
            cx.repeated_plans.insert(name.clone(), meta);
        }
        plan_blocks.push(PlanBlock {
            name,
            node: b,
            refs,
        });
    }
    plan_blocks
}

/// Lowers every instance of every plan into the desired state, with explicit and implied
/// dependencies.
pub(super) fn lower_all(
    cx: &mut Lowering,
    plan_blocks: &[PlanBlock],
    instances: &BTreeMap<String, Instances>,
    plan_object: &PlanObject,
    locals: &Locals,
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
    let local_names = locals.names();
    let plan_names: Vec<&str> = plan_blocks.iter().map(|p| p.name.as_str()).collect();
    let plan_values = &plan_object.per_plan;
    let default_provider = default_provider(desired);
    let mut edges_from_refs: BTreeMap<Address, BTreeSet<String>> = BTreeMap::new();
    for p in plan_blocks {
        let scope = Scope {
            vars: variables,
            locals: &local_names,
            plans: &plan_names,
            repeated: repeated_plans,
            // What the block declares, even when its for_each or count failed (reported once).
            each: p.node.attr("for_each").is_some(),
            count: p.node.attr("count").is_some(),
        };
        // Attributes whose references are wrong: their values fail, and a limit they then break
        // is an echo of that error, not another one.
        let mut failed_refs = BTreeSet::new();
        for (a, refs) in &p.refs {
            if a.name != "for_each"
                && a.name != "count"
                && check_references(
                    refs,
                    a,
                    &format!("plan.{}.{}", p.name, a.name),
                    &scope,
                    diags,
                )
            {
                failed_refs.insert(a.value_loc.clone());
            }
        }
        // Only the plans this block references go into its context.
        let referenced: BTreeSet<&str> = p
            .refs
            .iter()
            .flat_map(|(_, r)| r.iter())
            .filter(|r| r.root == "plan")
            .filter_map(|r| match r.steps.first() {
                Some(Step::Attr(n)) => Some(n.as_str()),
                _ => None,
            })
            .collect();
        let mut pctx = ctx.clone();
        if !referenced.is_empty() {
            let obj: Map<String, Value> = referenced
                .iter()
                .filter_map(|n| plan_values.get(*n).map(|v| (n.to_string(), v.clone())))
                .collect();
            pctx.declare_var("plan", Value::Object(obj));
        }
        refuse_outside_parameters(p.node, &p.name, sensitive_vars, sensitive_locals, diags);
        let shared = Shared {
            provider: resolve_provider(p, desired, default_provider.as_ref(), diags),
            depends_on: explicit_dependencies(p, plan_blocks, instances, diags),
            ignore_changes: lifecycle_ignore(p.node, &p.name, diags),
            sensitivity: sensitive_parameter_keys(p.node, sensitive_vars, sensitive_locals),
            failed_refs,
        };
        let inst_list = instances[&p.name].list();
        // One context per block; each instance only re-declares `each` / `count`.
        let mut ictx = pctx;
        for (key, each, index) in inst_list {
            let address = Address::with_key(p.name.clone(), key);
            if let Some((k, v)) = each {
                let mut o = Map::new();
                o.insert("key".to_string(), k);
                o.insert("value".to_string(), v);
                ictx.declare_var("each", Value::Object(o));
            }
            if let Some(i) = index {
                let mut o = Map::new();
                o.insert("index".to_string(), Value::from(i));
                ictx.declare_var("count", Value::Object(o));
            }
            let Some(plan) = lower_plan_instance(p, &address, &ictx, &shared, desired, diags)
            else {
                continue;
            };
            let mut refs: BTreeSet<String> = BTreeSet::new();
            for v in plan
                .inputs
                .parameters
                .values()
                .chain(plan.inputs.tags.values())
                .chain(plan.inputs.description.iter())
            {
                refs.extend(references_in(v).into_iter().map(str::to_string));
            }
            edges_from_refs.insert(address.clone(), refs);
            desired.plans.insert(address, plan);
        }
    }
    add_implied(desired, edges_from_refs);
}

/// The attribute paths `lifecycle { ignore_changes = […] }` lists.
fn lifecycle_ignore(node: &BlockNode, name: &str, diags: &mut Diagnostics) -> Vec<AttrPath> {
    let mut out = Vec::new();
    for l in node.blocks_of("lifecycle") {
        check_schema(
            l,
            "lifecycle",
            &["prevent_destroy", "ignore_changes"],
            &[],
            diags,
        );
        let Some(a) = l.attr("ignore_changes") else {
            continue;
        };
        let subject = format!("plan.{name}.lifecycle.ignore_changes");
        let Expression::Array(items) = &a.expr else {
            diags.push(error(
                &a.value_loc,
                Some(subject),
                "must be a list of attributes, e.g. [tags[\"owner\"], parameters]",
            ));
            continue;
        };
        for item in items {
            let refs = references(item);
            let path = match refs.as_slice() {
                [r] if COMPARED_ATTRS.contains(&r.root.as_str()) => match r.steps.as_slice() {
                    [] => Some(AttrPath {
                        attribute: r.root.clone(),
                        key: None,
                    }),
                    [Step::Index(Some(Value::String(k)))] | [Step::Attr(k)]
                        if r.root == "tags" || r.root == "parameters" =>
                    {
                        Some(AttrPath {
                            attribute: r.root.clone(),
                            key: Some(k.clone()),
                        })
                    }
                    _ => None,
                },
                [r] => {
                    diags.push(error(
                        &a.value_loc,
                        Some(subject.clone()),
                        format!(
                            "{:?} is not an attribute planform compares{}",
                            r.root,
                            hint(&r.root, COMPARED_ATTRS)
                        ),
                    ));
                    continue;
                }
                _ => None,
            };
            match path {
                Some(p) => out.push(p),
                None => diags.push(error(
                    &a.value_loc,
                    Some(subject.clone()),
                    "each entry must be an attribute name, or tags[\"KEY\"] / parameters[\"KEY\"]",
                )),
            }
        }
    }
    out
}

/// What every instance of one plan block shares.
struct Shared {
    provider: Option<ProviderRef>,
    depends_on: BTreeSet<Address>,
    ignore_changes: Vec<AttrPath>,
    sensitivity: Sensitivity,
    /// Where the attributes with wrong references are (their values).
    failed_refs: BTreeSet<SourceLocation>,
}

/// Lowers one instance of a plan block in `ctx` (which binds its `each` or `count`), or reports
/// why it cannot be.
fn lower_plan_instance(
    p: &PlanBlock,
    address: &Address,
    ctx: &Context,
    shared: &Shared,
    desired: &DesiredState,
    diags: &mut Diagnostics,
) -> Option<DesiredPlan> {
    let node = p.node;
    let errors_before = diags.errors().count();
    let subject = |n: &str| format!("{address}.{n}");
    // An attribute whose references are wrong is not evaluated: its errors are already said.
    let get = |n: &str, diags: &mut Diagnostics| {
        node.attr(n)
            .filter(|a| !shared.failed_refs.contains(&a.value_loc))
            .and_then(|a| eval(a, ctx, || subject(n), diags).map(|v| (v, a)))
    };
    let string = |n: &str, required: bool, diags: &mut Diagnostics| -> Option<String> {
        match get(n, diags) {
            Some((Value::Null, _)) if !required => None,
            Some((Value::String(s), _)) => Some(s),
            Some((v, a)) => typed(
                Some(v),
                &a.value_loc,
                || subject(n),
                "a string",
                as_string,
                diags,
            ),
            None => {
                if required && node.attr(n).is_none() {
                    diags.push(error(
                        &node.loc,
                        Some(address.to_string()),
                        format!("missing required attribute {n:?}"),
                    ));
                }
                None
            }
        }
    };
    let name = string("name", true, diags);
    let description = string("description", false, diags);
    let product_id = string("product_id", true, diags);
    let product_version_id = string("product_version_id", true, diags);
    let portfolio_id = string("portfolio_id", false, diags);
    let provisioned_product_name = string("provisioned_product_name", true, diags);
    let stack_region_id = string("stack_region_id", false, diags);
    // An attribute whose references are wrong is not evaluated: its errors are already said.
    let live = |n: &str| {
        node.attr(n)
            .filter(|a| !shared.failed_refs.contains(&a.value_loc))
    };
    let parameters = typed_attr(
        live("parameters"),
        ctx,
        address,
        "parameters",
        "a map of strings",
        as_string_map,
        diags,
    )
    .unwrap_or_default();
    let tags = typed_attr(
        live("tags"),
        ctx,
        address,
        "tags",
        "a map of strings",
        as_string_map,
        diags,
    )
    .unwrap_or_default();
    let notification_arns = typed_attr(
        live("notification_arns"),
        ctx,
        address,
        "notification_arns",
        "a list of strings",
        as_string_list,
        diags,
    )
    .unwrap_or_default();
    let execute = typed_attr(
        live("execute"),
        ctx,
        address,
        "execute",
        "true or false",
        as_bool,
        diags,
    )
    .unwrap_or(false);

    let mut prevent_destroy = false;
    for l in node.blocks_of("lifecycle") {
        if let Some(a) = l.attr("prevent_destroy") {
            let v = eval(a, ctx, &subject("lifecycle.prevent_destroy"), diags);
            prevent_destroy = typed(
                v,
                &a.value_loc,
                &subject("lifecycle.prevent_destroy"),
                "true or false",
                as_bool,
                diags,
            )
            .unwrap_or(false);
        }
    }
    let mut timeouts = Timeouts::default();
    for t in node.blocks_of("timeouts") {
        check_schema(
            t,
            "timeouts",
            &["preview", "approval", "execute"],
            &[],
            diags,
        );
        for a in &t.attrs {
            let sub = subject(&format!("timeouts.{}", a.name));
            let v = eval(a, ctx, &sub, diags);
            if let Some(d) = typed(
                v,
                &a.value_loc,
                &sub,
                "a duration such as \"10m\", \"90s\" or \"1h30m\"",
                |v| v.as_str().and_then(parse_duration),
                diags,
            ) {
                match a.name.as_str() {
                    "preview" => timeouts.preview = d,
                    "approval" => timeouts.approval = d,
                    "execute" => timeouts.execute = d,
                    _ => {}
                }
            }
        }
    }

    // Values that identify the plan must be known at plan time.
    for (n, v) in [
        ("name", &name),
        ("product_id", &product_id),
        ("product_version_id", &product_version_id),
        ("portfolio_id", &portfolio_id),
        ("provisioned_product_name", &provisioned_product_name),
        ("stack_region_id", &stack_region_id),
    ] {
        if let Some(v) = v {
            if !is_known(v) {
                let loc = node
                    .attr(n)
                    .map(|a| a.value_loc.clone())
                    .unwrap_or_else(|| node.loc.clone());
                diags.push(error(&loc, Some(subject(n)), "must be known before apply; only parameters, tags and description may use another plan's attributes"));
            }
        }
    }

    // Attributes written but without a value: their evaluation failed and was reported (for
    // another instance too, as one error for the attribute), so no limit is checked on them.
    let failed: Vec<SourceLocation> = [
        ("name", name.is_none()),
        ("description", description.is_none()),
        ("product_id", product_id.is_none()),
        ("product_version_id", product_version_id.is_none()),
        ("portfolio_id", portfolio_id.is_none()),
        (
            "provisioned_product_name",
            provisioned_product_name.is_none(),
        ),
        ("stack_region_id", stack_region_id.is_none()),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .filter_map(|(n, _)| node.attr(n).map(|a| a.value_loc.clone()))
    .collect();
    let provider = shared.provider.clone()?;
    let stack_region_id = match (stack_region_id, provider.kind) {
        (Some(s), _) => Some(s),
        (None, ProviderKind::Aws) => None,
        (None, _) => desired
            .providers
            .get(&provider)
            .and_then(|c| c.region.clone())
            .or_else(|| {
                (provider.kind == ProviderKind::Sandbox).then(|| "cn-hangzhou".to_string())
            }),
    };
    let mut sensitive_parameters: BTreeSet<String> = if shared.sensitivity.all {
        parameters.keys().cloned().collect()
    } else {
        shared.sensitivity.keys.clone()
    };
    sensitive_parameters.retain(|k| parameters.contains_key(k));
    let plan = DesiredPlan {
        address: address.clone(),
        provider,
        inputs: PlanInputs {
            name: name.unwrap_or_default(),
            description,
            product_id: product_id.unwrap_or_default(),
            product_version_id: product_version_id.unwrap_or_default(),
            portfolio_id,
            provisioned_product_name: provisioned_product_name.unwrap_or_default(),
            stack_region_id,
            parameters,
            tags,
            notification_arns,
        },
        sensitive_parameters,
        execute,
        depends_on: shared.depends_on.clone(),
        prevent_destroy,
        ignore_changes: shared.ignore_changes.clone(),
        timeouts,
        location: node.loc.clone(),
    };
    // Check the limits too, so every error shows in one run; a limit broken only because the
    // attribute was already reported (missing, wrong type) is not reported again.
    let mut reported: BTreeSet<SourceLocation> = diags
        .errors()
        .skip(errors_before)
        .map(|d| d.anchor.clone())
        .collect();
    reported.extend(shared.failed_refs.iter().cloned());
    reported.extend(failed);
    reported.extend(
        node.attrs
            .iter()
            .filter(|a| super::eval::reads_failed_value(&a.expr))
            .map(|a| a.value_loc.clone()),
    );
    let loc_of = |n: &str| {
        node.attr(n)
            .map(|a| a.value_loc.clone())
            .unwrap_or_else(|| node.loc.clone())
    };
    let mut limit_diags = Diagnostics::default();
    limits::check_plan(&plan, &loc_of, &mut limit_diags);
    for d in limit_diags.0 {
        if !reported.contains(&d.location) {
            diags.push(d);
        }
    }
    if diags.errors().count() > errors_before {
        return None;
    }
    Some(plan)
}

/// Evaluates attribute `name` (`attr`, when it is set and its references are right) of a plan
/// instance and converts it, reporting what is wrong.
fn typed_attr<T>(
    attr: Option<&AttrNode>,
    ctx: &Context,
    address: &Address,
    name: &str,
    want: &str,
    f: impl Fn(&Value) -> Option<T>,
    diags: &mut Diagnostics,
) -> Option<T> {
    let a = attr?;
    let v = eval(a, ctx, || format!("{address}.{name}"), diags)?;
    typed_value(Some(v), a, || format!("{address}.{name}"), want, f, diags)
}

#[cfg(test)]
mod tests;
