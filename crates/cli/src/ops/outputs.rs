//! The manifests' outputs, resolved from the state.

use std::collections::BTreeSet;

use planform_model::{is_known, resolve_unknowns, DesiredState, OutputValue};
use planform_state::State;

/// An output as shown: its value as JSON, masked by the renderers when sensitive.
pub struct ShownOutput {
    pub name: String,
    pub value: serde_json::Value,
    pub sensitive: bool,
}

/// Every output of the manifests, by name.
pub fn outputs(desired: &DesiredState, state: &State) -> Vec<ShownOutput> {
    desired
        .outputs
        .iter()
        .map(|(name, o)| ShownOutput {
            name: name.clone(),
            value: resolve(&o.value, state),
            sensitive: o.sensitive,
        })
        .collect()
}

fn resolve(v: &OutputValue, state: &State) -> serde_json::Value {
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
                resolve_unknowns(&r, |_| Some("(known after apply)".into())).into()
            }
        }
        OutputValue::List(l) => l
            .iter()
            .map(|x| resolve(x, state))
            .collect::<Vec<_>>()
            .into(),
        OutputValue::Map(m) => serde_json::Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), resolve(x, state)))
                .collect(),
        ),
    }
}
