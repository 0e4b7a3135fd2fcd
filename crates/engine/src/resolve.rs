//! The one place that resolves unknown markers: a reference to another plan
//! (`plan.network.outputs.vpc_id`) takes its value from the state once that plan is applied and
//! not changing in this run. The diff, the executor and `planform output` all resolve here.

use std::collections::BTreeSet;

use planform_model::{is_known, resolve_unknowns, split_reference, Address, PlanInputs};
use planform_state::State;

/// The value a reference (`plan.a.id`, `plan.a.outputs.x`) has in `state`, unless its plan is
/// `changing` (then it is only known after apply).
fn state_value(reference: &str, state: &State, changing: &BTreeSet<Address>) -> Option<String> {
    let (addr, attr) = split_reference(reference)?;
    if changing.contains(&addr) {
        return None;
    }
    let m = state.plans.get(&addr)?;
    match attr.as_str() {
        "id" => Some(m.plan_id.clone()),
        "provisioned_product_id" => m.provisioned_product_id.clone(),
        "stack_id" => m.stack_id.clone(),
        "status" => Some(m.status.clone()),
        a => a
            .strip_prefix("outputs.")
            .and_then(|k| m.outputs.get(k).cloned()),
    }
}

/// `value` with every marker resolved that `state` can resolve; the others stay markers.
pub fn resolve_value(value: &str, state: &State, changing: &BTreeSet<Address>) -> String {
    if is_known(value) {
        return value.to_string();
    }
    resolve_unknowns(value, |r| state_value(r, state, changing))
}

/// Desired inputs with every marker resolved that the state can resolve: the ids and outputs of
/// plans that are already applied and not `changing` in this run.
pub fn resolve_inputs(
    inputs: &PlanInputs,
    state: &State,
    changing: &BTreeSet<Address>,
) -> PlanInputs {
    let mut out = inputs.clone();
    for v in out
        .parameters
        .values_mut()
        .chain(out.tags.values_mut())
        .chain(out.description.iter_mut())
    {
        if !is_known(v) {
            *v = resolve_value(v, state, changing);
        }
    }
    out
}

/// The references in `inputs` that are still unknown.
pub fn unresolved(inputs: &PlanInputs) -> Vec<&str> {
    inputs
        .parameters
        .values()
        .chain(inputs.tags.values())
        .chain(inputs.description.iter())
        .filter(|v| !is_known(v))
        .flat_map(|v| planform_model::references_in(v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use planform_model::{unknown_marker, ProviderKind, ProviderRef};
    use planform_state::ManagedPlan;

    fn state() -> State {
        let mut s = State::new("w", "l".into());
        let mut m = ManagedPlan::new(ProviderRef::default_for(ProviderKind::Sandbox), "plan-1");
        m.outputs.insert("vpc_id".into(), "vpc-9".into());
        s.plans.insert(Address::new("net"), m);
        s
    }

    #[test]
    fn resolves_ids_and_outputs_of_unchanging_plans_only() {
        let s = state();
        let v = format!(
            "{}/{}",
            unknown_marker("plan.net.outputs.vpc_id"),
            unknown_marker("plan.net.id")
        );
        assert_eq!(resolve_value(&v, &s, &BTreeSet::new()), "vpc-9/plan-1");
        let changing = BTreeSet::from([Address::new("net")]);
        assert_eq!(resolve_value(&v, &s, &changing), v);
        let missing = unknown_marker("plan.net.outputs.nope");
        assert_eq!(resolve_value(&missing, &s, &BTreeSet::new()), missing);
    }

    #[test]
    fn unresolved_lists_what_is_still_unknown() {
        let mut i = PlanInputs::default();
        i.parameters
            .insert("a".into(), unknown_marker("plan.x.outputs.y"));
        i.tags.insert("t".into(), "known".into());
        assert_eq!(unresolved(&i), vec!["plan.x.outputs.y"]);
        let r = resolve_inputs(&i, &state(), &BTreeSet::new());
        assert_eq!(unresolved(&r), vec!["plan.x.outputs.y"]);
    }
}
