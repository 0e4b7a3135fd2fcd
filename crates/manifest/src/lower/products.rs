//! One address per provisioned product: two addresses of a workspace that name the same
//! provisioned product (on one provider) would fight over it, each updating it to its own
//! inputs, or launch two products of one name.

use std::collections::BTreeMap;

use planform_model::{is_known, Address, DesiredState, ProviderRef};

use crate::diagnostic::Diagnostics;
use crate::syntax::error;

/// Reports each provisioned product name that more than one address of `desired` claims on
/// one provider, at the second claimant, naming all of them.
pub(super) fn check_one_address_per_product(desired: &DesiredState, diags: &mut Diagnostics) {
    let mut claims: BTreeMap<(&ProviderRef, &str), Vec<&Address>> = BTreeMap::new();
    for (address, plan) in &desired.plans {
        let name = plan.inputs.provisioned_product_name.as_str();
        if name.is_empty() || !is_known(name) {
            continue;
        }
        claims
            .entry((&plan.provider, name))
            .or_default()
            .push(address);
    }
    for ((provider, name), addresses) in claims {
        if addresses.len() < 2 {
            continue;
        }
        let first = &desired.plans[addresses[0]].location;
        let second = addresses[1];
        let named: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
        diags.push(error(
            &desired.plans[second].location,
            Some(format!("{second}.provisioned_product_name")),
            format!(
                "provisioned product {name:?} on provider {provider} is claimed by {} addresses ({}; the first at {first}): a provisioned product is managed by one address; give each instance its own name (for example with each.key or count.index)",
                addresses.len(),
                named.join(", "),
            ),
        ));
    }
}
