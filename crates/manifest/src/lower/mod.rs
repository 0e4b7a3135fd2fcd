//! Lowering: parsed manifests + variable values → `DesiredState`, with every problem reported
//! as a diagnostic. No network, no cloud: only `file()` reads the disk.
//!
//! [`lower`] runs the phases in order over one [`Lowering`] context: the `planform {}` block,
//! variables, providers, plan declarations, locals, instances (`for_each`/`count`), plans and
//! their dependencies, outputs, `moved`. Each phase lives in its own module; the order matters,
//! because each phase evaluates in the context the earlier ones built.

mod bounds;
mod dependencies;
mod environment;
mod eval;
mod instances;
mod locals;
mod moved;
mod outputs;
mod planform_block;
mod plans;
mod products;
mod providers;
mod scope;
mod sensitivity;
mod variables;

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::Context;
use planform_model::DesiredState;

use crate::diagnostic::{Diagnostics, SourceFile};
use crate::functions;
use crate::syntax::{error, hint, parse_file, BlockNode};

pub use bounds::{
    MAX_DEPTH, MAX_EVALUATED_PARTS, MAX_FILE_BYTES, MAX_INSTANCES, MAX_INSTANCES_PER_BLOCK,
    MAX_STRING_BYTES, MAX_TOTAL_BYTES, MAX_VALUE_PARTS,
};
pub(crate) use environment::is_credential;
pub use eval::parse_duration;
pub use plans::PLAN_REF_ATTRS;

use variables::VarDecl;

const TOP_BLOCKS: &[&str] = &[
    "planform", "provider", "variable", "locals", "plan", "output", "moved",
];

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
    /// The digest of the manifests lowered (see [`crate::manifests_digest`]).
    pub manifests_digest: String,
}

/// What the phases share: the diagnostics so far, the desired state being filled in, the
/// evaluation context being built, and the declared variables with their sensitivity.
struct Lowering {
    diags: Diagnostics,
    desired: DesiredState,
    /// The functions, then `var` once variables are assigned, then `local` once locals are.
    ctx: Context<'static>,
    variables: Vec<VarDecl>,
    /// Names of the variables declared `sensitive = true`.
    sensitive_vars: BTreeSet<String>,
    /// The plans declared with `for_each` or `count` (by name, with which), whose references
    /// must name an instance.
    repeated_plans: BTreeMap<String, &'static str>,
}

/// Lowers parsed `files` and `inputs` into a desired state, or every problem found.
pub fn lower(files: &[SourceFile], inputs: &Inputs) -> Result<Loaded, Diagnostics> {
    eval::start_lowering();
    let mut diags = Diagnostics::default();
    let roots: Vec<BlockNode> = files
        .iter()
        .filter_map(|f| parse_file(f, &mut diags))
        .collect();
    let all = top_blocks(&roots, &mut diags);
    let of_kind = |k: &str| {
        all.iter()
            .copied()
            .filter(move |b| b.kind == k)
            .collect::<Vec<_>>()
    };
    // Before anything is evaluated: what env() may read.
    let (allowed, vars) = environment::readable(&of_kind("planform"), &inputs.env, &mut diags);
    let _env = functions::install(functions::Environment {
        vars,
        allowed,
        base_dir: inputs.base_dir.clone(),
    });
    let mut cx = Lowering {
        diags,
        desired: DesiredState::default(),
        ctx: eval::base_context(),
        variables: Vec::new(),
        sensitive_vars: BTreeSet::new(),
        repeated_plans: BTreeMap::new(),
    };

    if let Some(unmet) = planform_block::unmet_version(&cx, &of_kind("planform")) {
        return Err(Diagnostics(vec![unmet]));
    }
    planform_block::lower(&mut cx, &of_kind("planform"));
    variables::lower(&mut cx, &of_kind("variable"), inputs);
    providers::lower(&mut cx, &of_kind("provider"));
    // Plans: declared names first, so references can be checked.
    let plans = plans::declare(&mut cx, &of_kind("plan"));
    let plan_names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    let mut locals = locals::lower_early(&mut cx, &of_kind("locals"), &plan_names);
    let instances = instances::expand_all(&mut cx, &plans, &locals, &plan_names);
    let output_blocks = of_kind("output");
    let output_refs = outputs::references_of(&output_blocks);
    let plan_object = instances::plan_object(
        &mut cx,
        &plans,
        &instances,
        &locals,
        &output_blocks,
        &output_refs,
    );
    locals::lower_late(&mut cx, &mut locals, &plan_object.all);
    let sensitive_locals = sensitivity::sensitive_locals(&locals, &cx.sensitive_vars);
    plans::lower_all(
        &mut cx,
        &plans,
        &instances,
        &plan_object,
        &locals,
        &sensitive_locals,
    );
    dependencies::check_cycles(&cx.desired, &mut cx.diags);
    products::check_one_address_per_product(&cx.desired, &mut cx.diags);
    outputs::lower_all(
        &mut cx,
        &output_blocks,
        &output_refs,
        &plan_object.all,
        &locals,
        &plan_names,
        &sensitive_locals,
    );
    moved::lower(&mut cx, &of_kind("moved"));

    let Lowering {
        mut diags, desired, ..
    } = cx;
    diags.sort();
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(Loaded {
            desired,
            warnings: diags,
            manifests_digest: crate::manifests_digest(files),
        })
    }
}

/// The top-level blocks planform knows, reporting top-level attributes and unknown blocks.
fn top_blocks<'a>(roots: &'a [BlockNode], diags: &mut Diagnostics) -> Vec<&'a BlockNode> {
    let mut all: Vec<&BlockNode> = Vec::new();
    for root in roots {
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
    all
}

/// A plan, provider alias or other name: a letter or `_`, then letters, digits, `_` and `-`.
fn valid_identifier(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The one label of a `what "NAME" { … }` block, or a diagnostic.
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

#[cfg(test)]
mod tests;
