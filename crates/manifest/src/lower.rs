//! Lowering: parsed manifests + variable values → `DesiredState`, with every problem reported
//! as a diagnostic. No network, no cloud: only `file()` reads the disk.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use hcl::eval::{Context, Evaluate};
use hcl::{Expression, Map, Value};
use planform_model::{
    is_known, references_in, unknown_marker, Address, AttrPath, DesiredOutput, DesiredPlan,
    DesiredState, InstanceKey, Moved, OutputValue, PlanInputs, ProviderConfig, ProviderKind,
    ProviderRef, SourceLocation, StateBackend, Timeouts,
};

use crate::diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
use crate::functions::{self, primitive_to_string, type_name};
use crate::limits;
use crate::references::{references, Reference, Step};
use crate::syntax::{check_schema, error, hint, parse_file, AttrNode, BlockNode};
use crate::types::{as_count, convert, parse_type, Type};

const TOP_BLOCKS: &[&str] = &[
    "planform", "provider", "variable", "locals", "plan", "output", "moved",
];
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
const PROVIDER_ATTRS: &[&str] = &[
    "alias",
    "region",
    "endpoint",
    "profile",
    "max_retries",
    "requests_per_second",
    "timeout",
];
const VARIABLE_ATTRS: &[&str] = &["type", "default", "description", "sensitive", "nullable"];

/// A value for a variable from outside the manifests.
#[derive(Debug, Clone)]
pub enum VarArg {
    /// `--var-file F` (already read).
    File(SourceFile),
    /// `--var NAME=VALUE`.
    Assign { name: String, value: String },
}

/// Everything a load needs besides the `*.hcl` files.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `planform.pfvars` then `*.auto.pfvars`, in that order.
    pub pfvars: Vec<SourceFile>,
    /// `--var-file` / `--var` in command-line order.
    pub args: Vec<VarArg>,
    /// The process environment (for `PLANFORM_VAR_*` and `env()`).
    pub env: BTreeMap<String, String>,
    /// The manifest directory, for `file()`.
    pub base_dir: std::path::PathBuf,
}

/// The result of a successful load: the desired state and any warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub desired: DesiredState,
    pub warnings: Diagnostics,
}

struct VarDecl {
    name: String,
    ty: Type,
    default: Option<Value>,
    sensitive: bool,
    nullable: bool,
    loc: SourceLocation,
    validations: Vec<(AttrNode, Option<AttrNode>)>,
    /// A default was written (even if it was invalid and reported).
    has_default: bool,
}

#[derive(Clone)]
enum RawValue {
    Value(Value),
    Text(String),
}

struct PlanBlock<'a> {
    name: String,
    node: &'a BlockNode,
    refs: Vec<(&'a AttrNode, Vec<Reference>)>,
}

/// An instance's key, its `each.key`/`each.value`, and its `count.index`.
type Instance = (InstanceKey, Option<(Value, Value)>, Option<u64>);

#[derive(Clone, PartialEq)]
enum Instances {
    Single,
    ForEach(Vec<(String, Value)>),
    Count(u64),
}

/// Lowers parsed `files` and `inputs` into a desired state, or every problem found.
pub fn lower(files: &[SourceFile], inputs: &Inputs) -> Result<Loaded, Diagnostics> {
    let _env = functions::install(functions::Environment {
        vars: inputs.env.clone(),
        base_dir: inputs.base_dir.clone(),
    });
    let mut diags = Diagnostics::default();
    let roots: Vec<BlockNode> = files
        .iter()
        .filter_map(|f| parse_file(f, &mut diags))
        .collect();
    let mut desired = DesiredState::default();

    let mut all: Vec<&BlockNode> = Vec::new();
    for root in &roots {
        for a in &root.attrs {
            diags.push(error(
                &a.loc,
                None,
                format!(
                    "unexpected top-level attribute {:?}: manifests hold only blocks ({})",
                    a.name,
                    TOP_BLOCKS.join(", ")
                ),
            ));
        }
        for b in &root.blocks {
            if TOP_BLOCKS.contains(&b.kind.as_str()) {
                all.push(b);
            } else {
                let extra = if b.kind == "resource" || b.kind == "data" {
                    "; planform manages plans: write `plan \"NAME\" { … }`".to_string()
                } else {
                    hint(&b.kind, TOP_BLOCKS)
                };
                diags.push(error(
                    &b.loc,
                    None,
                    format!("unknown block type {:?}{extra}", b.kind),
                ));
            }
        }
    }
    let of_kind = |k: &str| {
        all.iter()
            .copied()
            .filter(move |b| b.kind == k)
            .collect::<Vec<_>>()
    };

    let base = base_context();
    lower_planform(&of_kind("planform"), &base, &mut desired, &mut diags);

    // Variables.
    let decls = declare_variables(&of_kind("variable"), &base, &mut diags);
    let values = assign_variables(&decls, inputs, &mut diags);
    let sensitive_vars: BTreeSet<String> = decls
        .iter()
        .filter(|d| d.sensitive)
        .map(|d| d.name.clone())
        .collect();
    let mut var_obj = Map::new();
    for (name, v) in &values {
        var_obj.insert(name.clone(), v.clone());
    }
    let mut ctx = base.clone();
    ctx.declare_var("var", Value::Object(var_obj));
    validate_variables(&decls, &values, &ctx, &mut diags);

    // Providers.
    lower_providers(&of_kind("provider"), &ctx, &mut desired, &mut diags);

    // Plans: declared names first, so references can be checked.
    let mut plan_blocks: Vec<PlanBlock> = Vec::new();
    for b in of_kind("plan") {
        let Some(name) = single_label(b, "plan", &mut diags) else {
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
                    "duplicate plan {name:?} (first declared at {})",
                    first.node.loc
                ),
            ));
            continue;
        }
        check_schema(
            b,
            &format!("plan {name:?}"),
            PLAN_ATTRS,
            PLAN_BLOCKS,
            &mut diags,
        );
        let refs = b
            .attrs
            .iter()
            .filter(|a| a.name != "depends_on" && a.name != "provider")
            .map(|a| (a, references(&a.expr)))
            .collect();
        plan_blocks.push(PlanBlock {
            name,
            node: b,
            refs,
        });
    }
    let plan_names: Vec<&str> = plan_blocks.iter().map(|p| p.name.as_str()).collect();

    // Locals, in dependency order; those that reference plans are evaluated once plans are known.
    let local_attrs = collect_locals(&of_kind("locals"), &mut diags);
    let local_refs: BTreeMap<&str, Vec<Reference>> = local_attrs
        .iter()
        .map(|a| (a.name.as_str(), references(&a.expr)))
        .collect();
    let local_names: Vec<&str> = local_attrs.iter().map(|a| a.name.as_str()).collect();
    for a in &local_attrs {
        check_references(
            &local_refs[a.name.as_str()],
            &a.value_loc,
            &format!("local.{}", a.name),
            &Scope {
                vars: &decls,
                locals: &local_names,
                plans: &plan_names,
                each: false,
                count: false,
            },
            &mut diags,
        );
    }
    let order = order_locals(&local_attrs, &local_refs, &mut diags);
    let uses_plans: BTreeSet<&str> = {
        let mut set = BTreeSet::new();
        for name in &order {
            let refs = &local_refs[name];
            if refs.iter().any(|r| {
                r.root == "plan"
                    || (r.root == "local" && r.first_attr().is_some_and(|l| set.contains(l)))
            }) {
                set.insert(*name);
            }
        }
        set
    };
    let mut locals = Map::new();
    ctx.declare_var("local", Value::Object(locals.clone()));
    for name in order.iter().filter(|n| !uses_plans.contains(*n)) {
        let a = local_attrs
            .iter()
            .find(|a| a.name == *name)
            .expect("ordered from attrs");
        if let Some(v) = eval(
            &a.expr,
            &ctx,
            &a.value_loc,
            &format!("local.{name}"),
            &mut diags,
        ) {
            locals.insert(name.to_string(), v);
            ctx.declare_var("local", Value::Object(locals.clone()));
        }
    }

    // Instances of each plan.
    let mut instances: BTreeMap<String, Instances> = BTreeMap::new();
    for p in &plan_blocks {
        let inst = expand(
            p,
            &ctx,
            &decls,
            &local_names,
            &plan_names,
            &uses_plans,
            &mut diags,
        );
        instances.insert(p.name.clone(), inst);
    }

    // The `plan` object: markers for each attribute a reference may read.
    let mut output_keys: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut note_outputs = |refs: &[Reference], loc: &SourceLocation, diags: &mut Diagnostics| {
        for r in refs.iter().filter(|r| r.root == "plan") {
            if let Some(Step::Attr(name)) = r.steps.first() {
                let Some(&plan) = plan_names.iter().find(|n| **n == name.as_str()) else {
                    continue;
                };
                let rest: &[Step] = if matches!(r.steps.get(1), Some(Step::Index(_))) {
                    &r.steps[2..]
                } else {
                    &r.steps[1..]
                };
                if let [Step::Attr(o), key, ..] = rest {
                    if o == "outputs" {
                        match key {
                            Step::Attr(k) | Step::Index(Some(Value::String(k))) => {
                                output_keys.entry(plan).or_default().insert(k.clone());
                            }
                            _ => diags.push(error(loc, None, format!("plan.{name}.outputs must be indexed with a literal key, e.g. plan.{name}.outputs.vpc_id"))),
                        }
                    }
                }
            }
        }
    };
    for p in &plan_blocks {
        for (a, refs) in &p.refs {
            note_outputs(refs, &a.value_loc, &mut diags);
        }
    }
    for a in &local_attrs {
        note_outputs(&local_refs[a.name.as_str()], &a.value_loc, &mut diags);
    }
    let output_blocks = of_kind("output");
    let output_refs: Vec<Vec<Reference>> = output_blocks
        .iter()
        .map(|b| {
            b.attr("value")
                .map(|a| references(&a.expr))
                .unwrap_or_default()
        })
        .collect();
    for (b, refs) in output_blocks.iter().zip(&output_refs) {
        note_outputs(refs, &b.loc, &mut diags);
    }
    let plan_values: BTreeMap<String, Value> = plan_blocks
        .iter()
        .map(|p| {
            let keys = output_keys
                .get(p.name.as_str())
                .cloned()
                .unwrap_or_default();
            (
                p.name.clone(),
                plan_value(&p.name, &instances[&p.name], &keys),
            )
        })
        .collect();
    let full_plan_obj = Value::Object(
        plan_values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );

    // Locals that read plans.
    if !uses_plans.is_empty() {
        let mut lctx = ctx.clone();
        lctx.declare_var("plan", full_plan_obj.clone());
        for name in order.iter().filter(|n| uses_plans.contains(*n)) {
            let a = local_attrs
                .iter()
                .find(|a| a.name == *name)
                .expect("ordered from attrs");
            if let Some(v) = eval(
                &a.expr,
                &lctx,
                &a.value_loc,
                &format!("local.{name}"),
                &mut diags,
            ) {
                locals.insert(name.to_string(), v);
                lctx.declare_var("local", Value::Object(locals.clone()));
            }
        }
        ctx.declare_var("local", Value::Object(locals.clone()));
    }
    let sensitive_locals = sensitive_locals(&local_attrs, &local_refs, &order, &sensitive_vars);

    // Plan instances.
    let default_provider = default_provider(&desired);
    let mut edges_from_refs: BTreeMap<Address, BTreeSet<String>> = BTreeMap::new();
    for p in &plan_blocks {
        let scope = Scope {
            vars: &decls,
            locals: &local_names,
            plans: &plan_names,
            each: matches!(instances[&p.name], Instances::ForEach(_)),
            count: matches!(instances[&p.name], Instances::Count(_)),
        };
        for (a, refs) in &p.refs {
            if a.name != "for_each" && a.name != "count" {
                check_references(
                    refs,
                    &a.value_loc,
                    &format!("plan.{}.{}", p.name, a.name),
                    &scope,
                    &mut diags,
                );
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
        let provider = resolve_provider(p, &desired, default_provider.as_ref(), &mut diags);
        let depends_on = explicit_dependencies(p, &plan_blocks, &instances, &mut diags);
        let ignore_changes = lifecycle_ignore(p.node, &p.name, &mut diags);
        let sensitive_keys = sensitive_parameter_keys(p.node, &sensitive_vars, &sensitive_locals);
        let inst_list: Vec<Instance> = match &instances[&p.name] {
            Instances::Single => vec![(InstanceKey::None, None, None)],
            Instances::ForEach(items) => items
                .iter()
                .map(|(k, v)| {
                    (
                        InstanceKey::Str(k.clone()),
                        Some((Value::String(k.clone()), v.clone())),
                        None,
                    )
                })
                .collect(),
            Instances::Count(n) => (0..*n)
                .map(|i| (InstanceKey::Int(i), None, Some(i)))
                .collect(),
        };
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
            let Some(plan) = lower_plan_instance(
                p,
                &address,
                &ictx,
                provider.clone(),
                &depends_on,
                &ignore_changes,
                &sensitive_keys,
                &desired,
                &mut diags,
            ) else {
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
    // Implied dependencies from the markers left in the values.
    for (address, refs) in edges_from_refs {
        for r in refs {
            if let Some((dep, _)) = planform_model::split_reference(&r) {
                if desired.plans.contains_key(&dep) {
                    if let Some(p) = desired.plans.get_mut(&address) {
                        p.depends_on.insert(dep);
                    }
                }
            }
        }
    }
    check_cycles(&desired, &mut diags);

    // Outputs.
    let mut octx = ctx.clone();
    octx.declare_var("plan", full_plan_obj);
    for (b, refs) in output_blocks.iter().zip(&output_refs) {
        lower_output(
            b,
            refs,
            &octx,
            &decls,
            &local_names,
            &plan_names,
            &sensitive_vars,
            &sensitive_locals,
            &mut desired,
            &mut diags,
        );
    }

    // Moved.
    for b in of_kind("moved") {
        check_schema(b, "moved", &["from", "to"], &[], &mut diags);
        let from = b
            .attr("from")
            .and_then(|a| address_of(&a.expr, &a.value_loc, &mut diags));
        let to = b
            .attr("to")
            .and_then(|a| address_of(&a.expr, &a.value_loc, &mut diags));
        match (from, to) {
            (Some(from), Some(to)) => {
                if from == to {
                    diags.push(error(
                        &b.loc,
                        None,
                        format!("moved: from and to are the same address {from}"),
                    ));
                } else if desired.plans.contains_key(&from) {
                    diags.push(error(&b.loc, None, format!("moved: {from} still exists in the manifests; remove it or move it elsewhere")));
                } else {
                    desired.moved.push(Moved { from, to });
                }
            }
            _ => {
                for (n, v) in [("from", b.attr("from")), ("to", b.attr("to"))] {
                    if v.is_none() {
                        diags.push(error(
                            &b.loc,
                            None,
                            format!("moved: missing required attribute {n:?}"),
                        ));
                    }
                }
            }
        }
    }

    diags.sort();
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(Loaded {
            desired,
            warnings: diags,
        })
    }
}

fn base_context() -> Context<'static> {
    let mut ctx = Context::new();
    functions::declare(&mut ctx);
    ctx
}

fn valid_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn single_label(b: &BlockNode, what: &str, diags: &mut Diagnostics) -> Option<String> {
    match b.labels.as_slice() {
        [l] => Some(l.clone()),
        [] => {
            diags.push(error(
                &b.loc,
                None,
                format!("{what} block needs one label: {what} \"NAME\" {{ … }}"),
            ));
            None
        }
        _ => {
            diags.push(error(
                &b.loc,
                None,
                format!("{what} block takes one label, got {}", b.labels.len()),
            ));
            None
        }
    }
}

/// What a diagnostic is about; formatted only when there is a diagnostic to report.
trait Subject {
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

/// Evaluates `expr`, turning evaluation errors into a diagnostic at `loc`.
fn eval(
    expr: &Expression,
    ctx: &Context,
    loc: &SourceLocation,
    subject: impl Subject,
    diags: &mut Diagnostics,
) -> Option<Value> {
    match expr.evaluate(ctx) {
        Ok(v) => Some(v),
        Err(e) => {
            // One error per expression: a reference problem already reported here says more.
            if !diags.errors().any(|d| d.location == *loc) {
                diags.push(error(
                    loc,
                    Some(subject.text()),
                    eval_message(&e.to_string()),
                ));
            }
            None
        }
    }
}

/// hcl-rs messages end with the whole expression; keep the first line, which says what is wrong.
fn eval_message(msg: &str) -> String {
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

fn typed<T>(
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
            diags.push(error(
                loc,
                Some(subject.text()),
                format!("must be {want}, got {}", describe(&v)),
            ));
            None
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) if s.len() < 40 => format!("the string {s:?}"),
        Value::Number(n) => format!("the number {n}"),
        other => format!("a {}", type_name(other)),
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::Array(_) | Value::Object(_) | Value::Null => None,
        v => primitive_to_string(v),
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
        _ => None,
    }
}

fn as_string_map(v: &Value) -> Option<BTreeMap<String, String>> {
    v.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), as_string(v)?)))
        .collect()
}

fn as_string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(as_string).collect()
}

/// Parses `10m`, `1h30m`, `45s`, `0s`.
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

fn lower_planform(
    blocks: &[&BlockNode],
    ctx: &Context,
    desired: &mut DesiredState,
    diags: &mut Diagnostics,
) {
    if let [_, second, ..] = blocks {
        diags.push(error(
            &second.loc,
            None,
            format!(
                "only one planform block is allowed (first at {})",
                blocks[0].loc
            ),
        ));
    }
    let Some(b) = blocks.first() else { return };
    check_schema(b, "planform", &["workspace"], &["state"], diags);
    if let Some(a) = b.attr("workspace") {
        if let Some(w) = typed(
            eval(&a.expr, ctx, &a.value_loc, "planform.workspace", diags),
            &a.value_loc,
            "planform.workspace",
            "a string",
            as_string,
            diags,
        ) {
            if w.is_empty()
                || w.len() > 64
                || !w
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                diags.push(error(
                    &a.value_loc,
                    Some("planform.workspace".into()),
                    format!("{w:?} must be 1 to 64 letters, digits, '-', '_' or '.'"),
                ));
            } else {
                desired.workspace = w;
            }
        }
    }
    for s in b.blocks_of("state") {
        match s.labels.as_slice() {
            [l] if l == "local" => {
                check_schema(s, "state \"local\"", &["path"], &[], diags);
                if let Some(a) = s.attr("path") {
                    if let Some(p) = typed(eval(&a.expr, ctx, &a.value_loc, "planform.state.path", diags), &a.value_loc, "planform.state.path", "a string", as_string, diags) {
                        desired.backend = StateBackend::Local { path: p };
                    }
                }
            }
            [l] => diags.push(error(&s.loc, None, format!("unknown state backend {l:?}; supported: \"local\" (a PostgreSQL backend is planned)"))),
            _ => diags.push(error(&s.loc, None, "state block needs one label: state \"local\" { path = … }")),
        }
    }
}

fn declare_variables(
    blocks: &[&BlockNode],
    ctx: &Context,
    diags: &mut Diagnostics,
) -> Vec<VarDecl> {
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
                eval(&a.expr, ctx, &a.value_loc, &subject, diags),
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
            let v = eval(&a.expr, ctx, &a.value_loc, &subject, diags)?;
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

fn assign_variables(
    decls: &[VarDecl],
    inputs: &Inputs,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Value> {
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
    let from_file = |file: &SourceFile,
                     diags: &mut Diagnostics,
                     raw: &mut BTreeMap<String, (RawValue, SourceLocation)>| {
        let Some(root) = parse_file(file, diags) else {
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
            if let Some(v) = eval(
                &a.expr,
                &ctx,
                &a.value_loc,
                &format!("var.{}", a.name),
                diags,
            ) {
                raw.insert(a.name.clone(), (RawValue::Value(v), a.value_loc.clone()));
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
                    _ => t
                        .parse::<Expression>()
                        .map_err(|e| e.to_string())
                        .and_then(|e| e.evaluate(&ctx).map_err(|e| e.to_string())),
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
                None if d.has_default => None,
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
                continue;
            }
            out.insert(d.name.clone(), v);
        }
    }
    out
}

fn validate_variables(
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
                eval(&cond.expr, ctx, &cond.value_loc, &subject, diags),
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
                    .and_then(|m| eval(&m.expr, ctx, &m.value_loc, &subject, diags))
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

fn lower_providers(
    blocks: &[&BlockNode],
    ctx: &Context,
    desired: &mut DesiredState,
    diags: &mut Diagnostics,
) {
    let mut seen: BTreeMap<ProviderRef, SourceLocation> = BTreeMap::new();
    for b in blocks {
        let Some(label) = single_label(b, "provider", diags) else {
            continue;
        };
        let Some(kind) = ProviderKind::parse(&label) else {
            diags.push(error(
                &b.loc,
                None,
                format!(
                    "unknown provider type {label:?}; supported: alibaba, aws, sandbox{}",
                    hint(&label, &["alibaba", "aws", "sandbox"])
                ),
            ));
            continue;
        };
        check_schema(
            b,
            &format!("provider {label:?}"),
            PROVIDER_ATTRS,
            &[],
            diags,
        );
        let subject = |n: &str| format!("provider.{label}.{n}");
        let string = |n: &str, diags: &mut Diagnostics| {
            b.attr(n).and_then(|a| {
                typed(
                    eval(&a.expr, ctx, &a.value_loc, &subject(n), diags),
                    &a.value_loc,
                    &subject(n),
                    "a string",
                    as_string,
                    diags,
                )
            })
        };
        let alias = string("alias", diags);
        if let Some(a) = &alias {
            if !valid_identifier(a) {
                diags.push(error(
                    &b.attr("alias").unwrap().value_loc,
                    Some(subject("alias")),
                    format!(
                        "{a:?} must start with a letter and hold only letters, digits, _ and -"
                    ),
                ));
            }
        }
        let reference = ProviderRef { kind, alias };
        if let Some(first) = seen.get(&reference) {
            diags.push(error(&b.loc, None, format!("duplicate provider configuration {reference} (first at {first}); give one an alias")));
            continue;
        }
        seen.insert(reference.clone(), b.loc.clone());
        let mut cfg = ProviderConfig::new(reference);
        cfg.region = string("region", diags);
        cfg.profile = string("profile", diags);
        cfg.endpoint = string("endpoint", diags);
        if let (Some(e), Some(a)) = (&cfg.endpoint, b.attr("endpoint")) {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                diags.push(error(
                    &a.value_loc,
                    Some(subject("endpoint")),
                    format!("{e:?} must be a URL starting with http:// or https://"),
                ));
            }
        }
        if let Some(a) = b.attr("max_retries") {
            let v = eval(&a.expr, ctx, &a.value_loc, &subject("max_retries"), diags);
            cfg.max_retries = typed(
                v,
                &a.value_loc,
                &subject("max_retries"),
                "a whole number from 0 to 20",
                |v| as_count(v).filter(|n| *n <= 20).map(|n| n as u32),
                diags,
            );
        }
        if let Some(a) = b.attr("requests_per_second") {
            let v = eval(
                &a.expr,
                ctx,
                &a.value_loc,
                &subject("requests_per_second"),
                diags,
            );
            cfg.requests_per_second = typed(
                v,
                &a.value_loc,
                &subject("requests_per_second"),
                "a number above 0",
                |v| v.as_f64().filter(|f| *f > 0.0),
                diags,
            );
        }
        if let Some(a) = b.attr("timeout") {
            let v = eval(&a.expr, ctx, &a.value_loc, &subject("timeout"), diags);
            cfg.timeout = typed(
                v,
                &a.value_loc,
                &subject("timeout"),
                "a duration such as \"30s\" or \"2m\"",
                |v| v.as_str().and_then(parse_duration),
                diags,
            );
        }
        if kind == ProviderKind::Sandbox {
            for n in ["profile"] {
                if let Some(a) = b.attr(n) {
                    diags.push(error(
                        &a.loc,
                        Some(subject(n)),
                        "the sandbox provider takes no credentials",
                    ));
                }
            }
        }
        desired.providers.insert(cfg.reference.clone(), cfg);
    }
}

fn collect_locals(blocks: &[&BlockNode], diags: &mut Diagnostics) -> Vec<AttrNode> {
    let mut out: Vec<AttrNode> = Vec::new();
    for b in blocks {
        if !b.labels.is_empty() {
            diags.push(error(&b.loc, None, "locals blocks take no label"));
        }
        for blk in &b.blocks {
            diags.push(error(
                &blk.loc,
                None,
                format!(
                    "locals hold only NAME = VALUE attributes, not blocks ({:?})",
                    blk.kind
                ),
            ));
        }
        for a in &b.attrs {
            if let Some(first) = out.iter().find(|x| x.name == a.name) {
                diags.push(error(
                    &a.loc,
                    None,
                    format!("duplicate local {:?} (first at {})", a.name, first.loc),
                ));
                continue;
            }
            out.push(a.clone());
        }
    }
    out
}

fn order_locals<'a>(
    attrs: &'a [AttrNode],
    refs: &BTreeMap<&str, Vec<Reference>>,
    diags: &mut Diagnostics,
) -> Vec<&'a str> {
    let before = diags.0.len();
    let mut order = Vec::new();
    let mut state: HashMap<&str, u8> = HashMap::new();
    fn visit<'a>(
        n: &'a str,
        attrs: &'a [AttrNode],
        refs: &BTreeMap<&str, Vec<Reference>>,
        state: &mut HashMap<&'a str, u8>,
        order: &mut Vec<&'a str>,
        stack: &mut Vec<&'a str>,
        diags: &mut Diagnostics,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let cycle: Vec<String> = stack[start..]
                    .iter()
                    .chain(std::iter::once(&n))
                    .map(|s| format!("local.{s}"))
                    .collect();
                let a = attrs.iter().find(|a| a.name == n).expect("local exists");
                diags.push(error(
                    &a.loc,
                    None,
                    format!(
                        "locals refer to each other in a cycle: {}",
                        cycle.join(" -> ")
                    ),
                ));
                return;
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for r in &refs[n] {
            if r.root == "local" {
                if let Some(dep) = r
                    .first_attr()
                    .and_then(|d| attrs.iter().find(|a| a.name == d))
                {
                    visit(dep.name.as_str(), attrs, refs, state, order, stack, diags);
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        order.push(n);
    }
    for a in attrs {
        visit(
            a.name.as_str(),
            attrs,
            refs,
            &mut state,
            &mut order,
            &mut Vec::new(),
            diags,
        );
    }
    // Locals in a cycle are not evaluated: the cycle is the error to fix.
    let cyclic: BTreeSet<String> = diags.0[before..]
        .iter()
        .filter_map(|d| {
            d.message
                .strip_prefix("locals refer to each other in a cycle: ")
        })
        .flat_map(|m| {
            m.split(" -> ")
                .map(|l| l.trim_start_matches("local.").to_string())
        })
        .collect();
    order.retain(|n| !cyclic.contains(*n));
    order
}

struct Scope<'a> {
    vars: &'a [VarDecl],
    locals: &'a [&'a str],
    plans: &'a [&'a str],
    each: bool,
    count: bool,
}

/// Reports references to things that do not exist, with "did you mean" hints.
fn check_references(
    refs: &[Reference],
    loc: &SourceLocation,
    subject: &str,
    scope: &Scope,
    diags: &mut Diagnostics,
) {
    for r in refs {
        let first = r.first_attr();
        let msg = match r.root.as_str() {
            "var" => match first {
                Some(n) if scope.vars.iter().any(|v| v.name == n) => None,
                Some(n) => Some(format!(
                    "reference to undeclared variable {n:?}{}",
                    hint(
                        n,
                        &scope
                            .vars
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                    )
                )),
                None => Some("`var` must be followed by a variable name, e.g. var.env".into()),
            },
            "local" => match first {
                Some(n) if scope.locals.contains(&n) => None,
                Some(n) => Some(format!(
                    "reference to undeclared local {n:?}{}",
                    hint(n, scope.locals)
                )),
                None => Some("`local` must be followed by a name, e.g. local.tags".into()),
            },
            "plan" => match r.steps.first() {
                Some(Step::Attr(n)) if scope.plans.contains(&n.as_str()) => {
                    let rest = if matches!(r.steps.get(1), Some(Step::Index(_))) {
                        &r.steps[2..]
                    } else {
                        &r.steps[1..]
                    };
                    match rest.first() {
                        Some(Step::Attr(a)) if PLAN_REF_ATTRS.contains(&a.as_str()) => None,
                        Some(Step::Attr(a)) => Some(format!("plan.{n} has no attribute {a:?}; it exposes {}{}", PLAN_REF_ATTRS.join(", "), hint(a, PLAN_REF_ATTRS))),
                        _ => Some(format!("a reference to plan.{n} must name an attribute ({}); to order plans use depends_on", PLAN_REF_ATTRS.join(", "))),
                    }
                }
                Some(Step::Attr(n)) => Some(format!(
                    "reference to undeclared plan {n:?}{}",
                    hint(n, scope.plans)
                )),
                _ => Some("`plan` must be followed by a plan name, e.g. plan.network.id".into()),
            },
            "each" if !scope.each => {
                Some("each.key and each.value exist only in a plan with for_each".into())
            }
            "each" => match first {
                Some("key" | "value") => None,
                _ => Some("each has only key and value".into()),
            },
            "count" if !scope.count => Some("count.index exists only in a plan with count".into()),
            "count" => match first {
                Some("index") => None,
                _ => Some("count has only index".into()),
            },
            "path" | "terraform" | "data" | "module" | "resource" => Some(format!(
                "{:?} references are not part of the planform language",
                r.root
            )),
            _ => None,
        };
        if let Some(m) = msg {
            diags.push(error(loc, Some(subject.to_string()), m));
        }
    }
}

fn expand(
    p: &PlanBlock,
    ctx: &Context,
    decls: &[VarDecl],
    locals: &[&str],
    plans: &[&str],
    late_locals: &BTreeSet<&str>,
    diags: &mut Diagnostics,
) -> Instances {
    let subject = format!("plan.{}", p.name);
    let fe = p.node.attr("for_each");
    let ct = p.node.attr("count");
    if let (Some(_), Some(c)) = (fe, ct) {
        diags.push(error(
            &c.loc,
            Some(subject),
            "for_each and count cannot both be set",
        ));
        return Instances::Single;
    }
    let Some(a) = fe.or(ct) else {
        return Instances::Single;
    };
    let refs = references(&a.expr);
    check_references(
        &refs,
        &a.value_loc,
        &format!("{subject}.{}", a.name),
        &Scope {
            vars: decls,
            locals,
            plans,
            each: false,
            count: false,
        },
        diags,
    );
    if refs.iter().any(|r| {
        r.root == "plan"
            || (r.root == "local" && r.first_attr().is_some_and(|l| late_locals.contains(l)))
    }) {
        diags.push(error(
            &a.value_loc,
            Some(format!("{subject}.{}", a.name)),
            format!(
                "{} must be known before apply; it cannot depend on another plan's attributes",
                a.name
            ),
        ));
        return Instances::Single;
    }
    let Some(v) = eval(
        &a.expr,
        ctx,
        &a.value_loc,
        &format!("{subject}.{}", a.name),
        diags,
    ) else {
        return Instances::Single;
    };
    if a.name == "count" {
        return match as_count(&v) {
            Some(n) => Instances::Count(n),
            None => {
                diags.push(error(
                    &a.value_loc,
                    Some(format!("{subject}.count")),
                    format!("must be a whole number of 0 or more, got {}", describe(&v)),
                ));
                Instances::Single
            }
        };
    }
    let items: Option<Vec<(String, Value)>> = match &v {
        Value::Object(o) => Some(o.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Value::Array(items) => items
            .iter()
            .map(|i| as_string(i).map(|s| (s.clone(), Value::String(s))))
            .collect(),
        _ => None,
    };
    match items {
        Some(mut items) => {
            items.sort_by(|a, b| a.0.cmp(&b.0));
            // Sets drop duplicates, as toset() does.
            items.dedup_by(|a, b| a.0 == b.0);
            Instances::ForEach(items)
        }
        None => {
            diags.push(error(
                &a.value_loc,
                Some(format!("{subject}.for_each")),
                format!(
                    "must be a map, or a set of strings (use toset([…])), got {}",
                    describe(&v)
                ),
            ));
            Instances::Single
        }
    }
}

fn instance_value(addr: &str, output_keys: &BTreeSet<String>) -> Value {
    let mut o = Map::new();
    for a in ["id", "provisioned_product_id", "stack_id", "status"] {
        o.insert(
            a.to_string(),
            Value::String(unknown_marker(&format!("{addr}.{a}"))),
        );
    }
    let outputs: Map<String, Value> = output_keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                Value::String(unknown_marker(&format!("{addr}.outputs.{k}"))),
            )
        })
        .collect();
    o.insert("outputs".to_string(), Value::Object(outputs));
    Value::Object(o)
}

fn plan_value(name: &str, inst: &Instances, output_keys: &BTreeSet<String>) -> Value {
    match inst {
        Instances::Single => instance_value(&Address::new(name).to_string(), output_keys),
        Instances::ForEach(items) => Value::Object(
            items
                .iter()
                .map(|(k, _)| {
                    (
                        k.clone(),
                        instance_value(
                            &Address::with_key(name, InstanceKey::Str(k.clone())).to_string(),
                            output_keys,
                        ),
                    )
                })
                .collect(),
        ),
        Instances::Count(n) => Value::Array(
            (0..*n)
                .map(|i| {
                    instance_value(
                        &Address::with_key(name, InstanceKey::Int(i)).to_string(),
                        output_keys,
                    )
                })
                .collect(),
        ),
    }
}

fn default_provider(desired: &DesiredState) -> Option<ProviderRef> {
    let unaliased: Vec<&ProviderRef> = desired
        .providers
        .keys()
        .filter(|r| r.alias.is_none())
        .collect();
    match unaliased.as_slice() {
        [] if desired.providers.is_empty() => Some(ProviderRef::default_for(ProviderKind::Sandbox)),
        [one] => Some((*one).clone()),
        _ => None,
    }
}

fn resolve_provider(
    p: &PlanBlock,
    desired: &DesiredState,
    default: Option<&ProviderRef>,
    diags: &mut Diagnostics,
) -> Option<ProviderRef> {
    let subject = format!("plan.{}.provider", p.name);
    match p.node.attr("provider") {
        Some(a) => {
            let text = match &a.expr {
                Expression::Variable(v) => Some(v.as_str().to_string()),
                Expression::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
                    (Expression::Variable(v), [hcl::expr::TraversalOperator::GetAttr(alias)]) => {
                        Some(format!("{}.{alias}", v.as_str()))
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some(text) = text else {
                diags.push(error(
                    &a.value_loc,
                    Some(subject),
                    "must be a provider reference such as sandbox or aws.us (not a string)",
                ));
                return None;
            };
            let Some(r) = ProviderRef::parse(&text) else {
                diags.push(error(
                    &a.value_loc,
                    Some(subject),
                    format!(
                        "unknown provider type in {text:?}; supported: alibaba, aws, sandbox{}",
                        hint(
                            text.split('.').next().unwrap_or(""),
                            &["alibaba", "aws", "sandbox"]
                        )
                    ),
                ));
                return None;
            };
            if desired.providers.contains_key(&r)
                || (r == ProviderRef::default_for(ProviderKind::Sandbox))
            {
                Some(r)
            } else {
                let known: Vec<String> = desired.providers.keys().map(|r| r.to_string()).collect();
                diags.push(error(
                    &a.value_loc,
                    Some(subject),
                    format!(
                        "no provider configuration {r} is declared{}",
                        hint(
                            &r.to_string(),
                            &known.iter().map(String::as_str).collect::<Vec<_>>()
                        )
                    ),
                ));
                None
            }
        }
        None => match default {
            Some(d) => Some(d.clone()),
            None => {
                let known: Vec<String> = desired.providers.keys().map(|r| r.to_string()).collect();
                diags.push(error(
                    &p.node.loc,
                    Some(format!("plan.{}", p.name)),
                    format!(
                        "set provider = one of {}: no single default provider configuration",
                        known.join(", ")
                    ),
                ));
                None
            }
        },
    }
}

/// Reads `plan.x` / `plan.x["k"]` / `plan.x[0]` as an address, without evaluation.
fn address_of(expr: &Expression, loc: &SourceLocation, diags: &mut Diagnostics) -> Option<Address> {
    let refs = references(expr);
    let ok = match (expr, refs.as_slice()) {
        (Expression::Traversal(_), [r]) if r.root == "plan" => match r.steps.as_slice() {
            [Step::Attr(n)] => Some(Address::new(n.clone())),
            [Step::Attr(n), Step::Index(Some(Value::String(k)))] => {
                Some(Address::with_key(n.clone(), InstanceKey::Str(k.clone())))
            }
            [Step::Attr(n), Step::Index(Some(Value::Number(i)))] => i
                .as_u64()
                .map(|i| Address::with_key(n.clone(), InstanceKey::Int(i))),
            _ => None,
        },
        _ => None,
    };
    if ok.is_none() {
        diags.push(error(
            loc,
            None,
            "expected a plan address such as plan.network or plan.app[\"web\"]",
        ));
    }
    ok
}

fn explicit_dependencies(
    p: &PlanBlock,
    plans: &[PlanBlock],
    instances: &BTreeMap<String, Instances>,
    diags: &mut Diagnostics,
) -> BTreeSet<Address> {
    let mut out = BTreeSet::new();
    let Some(a) = p.node.attr("depends_on") else {
        return out;
    };
    let subject = format!("plan.{}.depends_on", p.name);
    let Expression::Array(items) = &a.expr else {
        diags.push(error(
            &a.value_loc,
            Some(subject),
            "must be a list of plan references, e.g. [plan.network]",
        ));
        return out;
    };
    for item in items {
        let Some(addr) = address_of(item, &a.value_loc, diags) else {
            continue;
        };
        let Some(target) = plans.iter().find(|q| q.name == addr.name) else {
            let names: Vec<&str> = plans.iter().map(|q| q.name.as_str()).collect();
            diags.push(error(
                &a.value_loc,
                Some(subject.clone()),
                format!(
                    "reference to undeclared plan {:?}{}",
                    addr.name,
                    hint(&addr.name, &names)
                ),
            ));
            continue;
        };
        let inst = &instances[&target.name];
        let all: Vec<Address> = match inst {
            Instances::Single => vec![Address::new(target.name.clone())],
            Instances::ForEach(items) => items
                .iter()
                .map(|(k, _)| Address::with_key(target.name.clone(), InstanceKey::Str(k.clone())))
                .collect(),
            Instances::Count(n) => (0..*n)
                .map(|i| Address::with_key(target.name.clone(), InstanceKey::Int(i)))
                .collect(),
        };
        if addr.key == InstanceKey::None {
            out.extend(all);
        } else if all.contains(&addr) {
            out.insert(addr);
        } else {
            diags.push(error(
                &a.value_loc,
                Some(subject.clone()),
                format!(
                    "{addr} does not exist (instances: {})",
                    all.iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    out
}

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

fn sensitive_locals(
    attrs: &[AttrNode],
    refs: &BTreeMap<&str, Vec<Reference>>,
    order: &[&str],
    sensitive_vars: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in order {
        if refs[n]
            .iter()
            .any(|r| refers_to_sensitive(r, sensitive_vars, &out))
        {
            out.insert(n.to_string());
        }
    }
    let _ = attrs;
    out
}

fn refers_to_sensitive(r: &Reference, vars: &BTreeSet<String>, locals: &BTreeSet<String>) -> bool {
    match (r.root.as_str(), r.first_attr()) {
        ("var", Some(n)) => vars.contains(n),
        ("local", Some(n)) => locals.contains(n),
        _ => false,
    }
}

/// Parameter keys whose value comes from a sensitive variable (or a local built from one).
fn sensitive_parameter_keys(
    node: &BlockNode,
    vars: &BTreeSet<String>,
    locals: &BTreeSet<String>,
) -> Sensitivity {
    let Some(a) = node.attr("parameters") else {
        return Sensitivity::default();
    };
    match &a.expr {
        Expression::Object(o) => {
            let mut keys = BTreeSet::new();
            for (k, v) in o {
                if references(v)
                    .iter()
                    .any(|r| refers_to_sensitive(r, vars, locals))
                {
                    let key = match k {
                        hcl::ObjectKey::Identifier(i) => Some(i.to_string()),
                        hcl::ObjectKey::Expression(Expression::String(s)) => Some(s.clone()),
                        _ => None,
                    };
                    match key {
                        Some(k) => {
                            keys.insert(k);
                        }
                        None => return Sensitivity { all: true, keys },
                    }
                }
            }
            Sensitivity { all: false, keys }
        }
        other => Sensitivity {
            all: references(other)
                .iter()
                .any(|r| refers_to_sensitive(r, vars, locals)),
            keys: BTreeSet::new(),
        },
    }
}

#[derive(Default)]
struct Sensitivity {
    all: bool,
    keys: BTreeSet<String>,
}

#[allow(clippy::too_many_arguments)]
fn lower_plan_instance(
    p: &PlanBlock,
    address: &Address,
    ctx: &Context,
    provider: Option<ProviderRef>,
    depends_on: &BTreeSet<Address>,
    ignore_changes: &[AttrPath],
    sensitivity: &Sensitivity,
    desired: &DesiredState,
    diags: &mut Diagnostics,
) -> Option<DesiredPlan> {
    let node = p.node;
    let errors_before = diags.errors().count();
    let subject = |n: &str| format!("{address}.{n}");
    let get = |n: &str, diags: &mut Diagnostics| {
        node.attr(n)
            .and_then(|a| eval(&a.expr, ctx, &a.value_loc, || subject(n), diags).map(|v| (v, a)))
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
    let parameters = typed_attr(
        node,
        ctx,
        address,
        "parameters",
        "a map of strings",
        as_string_map,
        diags,
    )
    .unwrap_or_default();
    let tags = typed_attr(
        node,
        ctx,
        address,
        "tags",
        "a map of strings",
        as_string_map,
        diags,
    )
    .unwrap_or_default();
    let notification_arns = typed_attr(
        node,
        ctx,
        address,
        "notification_arns",
        "a list of strings",
        as_string_list,
        diags,
    )
    .unwrap_or_default();
    let execute = typed_attr(
        node,
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
            let v = eval(
                &a.expr,
                ctx,
                &a.value_loc,
                &subject("lifecycle.prevent_destroy"),
                diags,
            );
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
            let v = eval(&a.expr, ctx, &a.value_loc, &sub, diags);
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

    let provider = provider?;
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
    let mut sensitive_parameters: BTreeSet<String> = if sensitivity.all {
        parameters.keys().cloned().collect()
    } else {
        sensitivity.keys.clone()
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
        depends_on: depends_on.clone(),
        prevent_destroy,
        ignore_changes: ignore_changes.to_vec(),
        timeouts,
        location: node.loc.clone(),
    };
    // Check the limits too, so every error shows in one run; a limit broken only because the
    // attribute was already reported (missing, wrong type) is not reported again.
    let reported: BTreeSet<SourceLocation> = diags
        .errors()
        .skip(errors_before)
        .map(|d| d.location.clone())
        .collect();
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

/// Evaluates attribute `name` of a plan instance and converts it, reporting what is wrong.
fn typed_attr<T>(
    node: &BlockNode,
    ctx: &Context,
    address: &Address,
    name: &str,
    want: &str,
    f: impl Fn(&Value) -> Option<T>,
    diags: &mut Diagnostics,
) -> Option<T> {
    let a = node.attr(name)?;
    let v = eval(
        &a.expr,
        ctx,
        &a.value_loc,
        || format!("{address}.{name}"),
        diags,
    )?;
    typed(
        Some(v),
        &a.value_loc,
        || format!("{address}.{name}"),
        want,
        f,
        diags,
    )
}

fn check_cycles(desired: &DesiredState, diags: &mut Diagnostics) {
    use petgraph::graph::DiGraph;
    let mut g = DiGraph::<&Address, ()>::new();
    let idx: BTreeMap<&Address, _> = desired.plans.keys().map(|a| (a, g.add_node(a))).collect();
    for (a, p) in &desired.plans {
        for d in &p.depends_on {
            if let Some(&to) = idx.get(d) {
                g.add_edge(idx[a], to, ());
            }
        }
    }
    for scc in petgraph::algo::tarjan_scc(&g) {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        // Walk the cycle in edge order from its smallest address.
        let members: BTreeSet<_> = scc.iter().copied().collect();
        let start = *scc.iter().min_by_key(|n| g[**n]).expect("non-empty");
        let mut path = vec![start];
        let mut cur = start;
        loop {
            let next = g
                .neighbors(cur)
                .filter(|n| members.contains(n))
                .min_by_key(|n| g[*n])
                .expect("in a cycle");
            if next == start || path.contains(&next) {
                path.push(next);
                break;
            }
            path.push(next);
            cur = next;
        }
        let text: Vec<String> = path.iter().map(|n| g[*n].to_string()).collect();
        let loc = &desired.plans[g[start]].location;
        diags.push(error(
            loc,
            None,
            format!("dependency cycle: {}", text.join(" -> ")),
        ));
    }
}

#[allow(clippy::too_many_arguments)]
fn lower_output(
    b: &BlockNode,
    refs: &[Reference],
    ctx: &Context,
    decls: &[VarDecl],
    locals: &[&str],
    plans: &[&str],
    sensitive_vars: &BTreeSet<String>,
    sensitive_locals: &BTreeSet<String>,
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
    check_references(
        refs,
        &a.value_loc,
        &subject,
        &Scope {
            vars: decls,
            locals,
            plans,
            each: false,
            count: false,
        },
        diags,
    );
    let sensitive = b
        .attr("sensitive")
        .and_then(|s| {
            typed(
                eval(&s.expr, ctx, &s.value_loc, &subject, diags),
                &s.value_loc,
                &subject,
                "true or false",
                as_bool,
                diags,
            )
        })
        .unwrap_or(false);
    if !sensitive
        && refs
            .iter()
            .any(|r| refers_to_sensitive(r, sensitive_vars, sensitive_locals))
    {
        diags.push(error(
            &a.value_loc,
            Some(subject.clone()),
            "the value uses a sensitive variable; set sensitive = true on this output",
        ));
    }
    let description = b.attr("description").and_then(|d| {
        typed(
            eval(&d.expr, ctx, &d.value_loc, &subject, diags),
            &d.value_loc,
            &subject,
            "a string",
            as_string,
            diags,
        )
    });
    if let Some(v) = eval(&a.expr, ctx, &a.value_loc, &subject, diags) {
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
