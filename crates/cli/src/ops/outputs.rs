//! The manifests' outputs, resolved from the state.

use std::collections::BTreeSet;

use planform_model::{is_known, resolve_unknowns, DesiredState, OutputValue};
use planform_state::State;

/// An output as shown: its value as JSON, masked by the renderers when sensitive.
pub struct ShownOutput {
    pub name: String,
    pub value: serde_json::Value,
    pub sensitive: bool,
    /// Whether it has a value: every plan output it reads is in the state. When not, the parts
    /// it cannot read show as `(known after apply)` (after a plan, an apply that stopped, or a
    /// destroy).
    pub known: bool,
}

/// Every output of the manifests, by name.
pub fn outputs(desired: &DesiredState, state: &State) -> Vec<ShownOutput> {
    desired
        .outputs
        .iter()
        .map(|(name, o)| {
            let mut known = true;
            ShownOutput {
                name: name.clone(),
                value: resolve(&o.value, state, &mut known),
                sensitive: o.sensitive,
                known,
            }
        })
        .collect()
}

fn resolve(v: &OutputValue, state: &State, known: &mut bool) -> serde_json::Value {
    let empty = BTreeSet::new();
    match v {
        OutputValue::Null => serde_json::Value::Null,
        OutputValue::Bool(b) => (*b).into(),
        OutputValue::Number(n) => (*n).into(),
        OutputValue::String(s) => {
            let r = planform_engine::resolve_value(s, state, &empty);
            if is_known(&r) {
                r.into()
            } else {
                *known = false;
                resolve_unknowns(&r, |_| Some("(known after apply)".into())).into()
            }
        }
        OutputValue::List(l) => l
            .iter()
            .map(|x| resolve(x, state, known))
            .collect::<Vec<_>>()
            .into(),
        OutputValue::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), resolve(x, state, known)))
                .collect(),
        ),
    }
}
