//! Sensitivity: one mark that follows values through evaluation. A value is sensitive when its
//! expression reads a sensitive variable, a local built from one, or `env()` (whose values come
//! from outside the repository); the mark follows references through locals, functions,
//! templates, `for` expressions and conditionals alike (statically: an expression that reads a
//! marked value is marked). Parameters carry the mark per key (masked in renderings, hashed in
//! the state); other plan attributes, `count` and `for_each` refuse it — names, descriptions and
//! tags are shown to every principal who can list plans, and instance keys become addresses — and
//! an output that carries it must say `sensitive = true`.

use std::collections::BTreeSet;

use hcl::Expression;

use super::locals::Locals;
use crate::diagnostic::Diagnostics;
use crate::references::{function_calls, references, Reference};
use crate::syntax::{error, BlockNode};

/// Functions whose result is sensitive.
const SENSITIVE_FUNCTIONS: &[&str] = &["env"];

/// The locals whose value is sensitive, directly or through other locals.
pub(super) fn sensitive_locals(
    locals: &Locals,
    sensitive_vars: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in &locals.order {
        if sensitive_source(&locals.attr(n).expr, sensitive_vars, &out).is_some() {
            out.insert(n.to_string());
        }
    }
    out
}

/// True when `r` reads a sensitive variable or local.
pub(super) fn refers_to_sensitive(
    r: &Reference,
    vars: &BTreeSet<String>,
    locals: &BTreeSet<String>,
) -> bool {
    match (r.root.as_str(), r.first_attr()) {
        ("var", Some(n)) => vars.contains(n),
        ("local", Some(n)) => locals.contains(n),
        _ => false,
    }
}

/// What makes `expr` sensitive, as written (`var.password`, `local.dsn`, `env()`), if anything.
pub(super) fn sensitive_source(
    expr: &Expression,
    vars: &BTreeSet<String>,
    locals: &BTreeSet<String>,
) -> Option<String> {
    references(expr)
        .iter()
        .find(|r| refers_to_sensitive(r, vars, locals))
        .map(|r| format!("{}.{}", r.root, r.first_attr().unwrap_or_default()))
        .or_else(|| {
            function_calls(expr)
                .into_iter()
                .find(|f| SENSITIVE_FUNCTIONS.contains(&f.as_str()))
                .map(|f| format!("{f}()"))
        })
}

/// Reports every attribute of a plan block other than `parameters` that reads a sensitive value.
pub(super) fn refuse_outside_parameters(
    node: &BlockNode,
    plan: &str,
    vars: &BTreeSet<String>,
    locals: &BTreeSet<String>,
    diags: &mut Diagnostics,
) {
    for a in node.attrs.iter().filter(|a| a.name != "parameters") {
        let Some(source) = sensitive_source(&a.expr, vars, locals) else {
            continue;
        };
        let why = match a.name.as_str() {
            "count" | "for_each" => "instance keys become addresses, shown everywhere".to_string(),
            _ => "only parameters can hold sensitive values: names, descriptions and tags are shown to every principal who can list plans".to_string(),
        };
        let needle = source.trim_end_matches("()");
        diags.push(error(
            &a.location_of(needle),
            Some(format!("plan.{plan}.{}", a.name)),
            format!(
                "{} cannot be sensitive, and it reads {source}: {why}",
                a.name
            ),
        ));
    }
}

/// Parameter keys whose value is sensitive.
pub(super) fn sensitive_parameter_keys(
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
                if sensitive_source(v, vars, locals).is_some() {
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
            all: sensitive_source(other, vars, locals).is_some(),
            keys: BTreeSet::new(),
        },
    }
}

/// Which parameters are sensitive: all of them, or those keys.
#[derive(Default)]
pub(super) struct Sensitivity {
    pub(super) all: bool,
    pub(super) keys: BTreeSet<String>,
}

#[cfg(test)]
mod tests {
    use super::super::tests::lower_main;
    use super::super::Inputs;

    const VARS: &str = r#"
planform {
  allowed_env = ["DEPLOY_REGION"]
}
variable "pw" {
  default   = "hunter2"
  sensitive = true
}
locals {
  dsn = "postgres://app:${upper(var.pw)}@db"
}
"#;

    fn plan(body: &str) -> String {
        format!("{VARS}plan \"db\" {{\n  name                     = \"db\"\n  product_id               = \"prod-sbxvpc0000001\"\n  product_version_id       = \"pv-sbxvpc0000001\"\n  provisioned_product_name = \"db\"\n{body}\n}}\n")
    }

    /// Issue 16 (2): the mark follows values through locals, functions and env() into every
    /// parameter it reaches; every other attribute refuses it, at the reference.
    #[test]
    fn the_mark_follows_values_into_parameters_and_is_refused_elsewhere() {
        let inputs = Inputs {
            env: [("DEPLOY_REGION".to_string(), "abc".to_string())].into(),
            ..Inputs::default()
        };
        let ok = plan("  parameters = {\n    dsn   = local.dsn\n    id    = env(\"DEPLOY_REGION\")\n    plain = \"x\"\n  }");
        let loaded = lower_main(&ok, &inputs).unwrap();
        let p = loaded.desired.plans.values().next().unwrap();
        assert_eq!(
            p.sensitive_parameters
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["dsn", "id"]
        );

        let bad = plan("  description = \"for ${local.dsn}\"\n  tags = { owner = var.pw }\n  count = length(var.pw)");
        let e = lower_main(&bad, &inputs).unwrap_err().to_string();
        assert!(e.contains("main.hcl:17:24: plan.db.description: description cannot be sensitive, and it reads local.dsn"), "{e}");
        assert!(
            e.contains(
                "main.hcl:18:20: plan.db.tags: tags cannot be sensitive, and it reads var.pw"
            ),
            "{e}"
        );
        assert!(e.contains("plan.db.count: count cannot be sensitive, and it reads var.pw: instance keys become addresses"), "{e}");
    }
}
