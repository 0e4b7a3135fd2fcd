//! Sensitivity: which locals and plan parameters carry a value from a sensitive variable, so
//! they are masked in renderings and hashed in the state.

use std::collections::BTreeSet;

use hcl::Expression;

use super::locals::Locals;
use crate::references::{references, Reference};
use crate::syntax::BlockNode;

/// The locals whose value comes from a sensitive variable, directly or through other locals.
pub(super) fn sensitive_locals(
    locals: &Locals,
    sensitive_vars: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for n in &locals.order {
        if locals.refs[n]
            .iter()
            .any(|r| refers_to_sensitive(r, sensitive_vars, &out))
        {
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

/// Parameter keys whose value comes from a sensitive variable (or a local built from one).
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

/// Which parameters are sensitive: all of them, or those keys.
#[derive(Default)]
pub(super) struct Sensitivity {
    pub(super) all: bool,
    pub(super) keys: BTreeSet<String>,
}
