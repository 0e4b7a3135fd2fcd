//! Ownership: the two tags every plan planform creates carries, and the one place that adds,
//! strips, reads and compares them.
//!
//! A plan is *owned* by a workspace when its `planform:workspace` tag names it; the
//! `planform:address` tag says which address it was made for. Refresh uses the pair to adopt a
//! plan whose create was sent but not recorded, drift to find plans nobody manages, and the diff
//! compares inputs with the tags removed, since they are planform's, not the user's.

use crate::{Address, PlanInputs};

/// The workspace tag key.
pub const TAG_WORKSPACE: &str = "planform:workspace";
/// The address tag key.
pub const TAG_ADDRESS: &str = "planform:address";

/// Whether a tag key is one of planform's ownership tags (users may not set them).
pub fn is_ownership_tag(key: &str) -> bool {
    key == TAG_WORKSPACE || key == TAG_ADDRESS
}

/// `inputs` as sent to the cloud: the user's tags plus the ownership tags of `address`.
pub fn tag(inputs: &PlanInputs, workspace: &str, address: &Address) -> PlanInputs {
    let mut out = inputs.clone();
    out.tags.insert(TAG_WORKSPACE.into(), workspace.into());
    out.tags.insert(TAG_ADDRESS.into(), address.to_string());
    out
}

/// `inputs` as the user wrote them: the ownership tags removed.
pub fn strip(mut inputs: PlanInputs) -> PlanInputs {
    inputs.tags.retain(|k, _| !is_ownership_tag(k));
    inputs
}

/// Who claims a plan, read from its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub workspace: String,
    /// The address tag as written (it may not parse if someone else wrote it).
    pub address: String,
}

impl Claim {
    /// The claimed address, when the tag holds a valid one.
    pub fn address(&self) -> Option<Address> {
        self.address.parse().ok()
    }
}

/// The claim a plan's tags make, if it carries a workspace tag.
pub fn claim(inputs: &PlanInputs) -> Option<Claim> {
    let workspace = inputs.tags.get(TAG_WORKSPACE)?;
    Some(Claim {
        workspace: workspace.clone(),
        address: inputs.tags.get(TAG_ADDRESS).cloned().unwrap_or_default(),
    })
}

/// Whether a plan's tags say it belongs to `workspace`.
pub fn owned_by(inputs: &PlanInputs, workspace: &str) -> bool {
    inputs.tags.get(TAG_WORKSPACE).map(String::as_str) == Some(workspace)
}

/// The address a plan of `workspace` was made for, when its tags say so.
pub fn claimed_address(inputs: &PlanInputs, workspace: &str) -> Option<Address> {
    claim(inputs)
        .filter(|c| c.workspace == workspace)
        .and_then(|c| c.address())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InstanceKey;

    fn inputs(tags: &[(&str, &str)]) -> PlanInputs {
        PlanInputs {
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..PlanInputs::default()
        }
    }

    #[test]
    fn tag_then_strip_gives_back_the_users_tags() {
        let user = inputs(&[("owner", "team")]);
        let a = Address::with_key("app", InstanceKey::Str("web".into()));
        let tagged = tag(&user, "prod", &a);
        assert_eq!(tagged.tags.len(), 3);
        assert_eq!(claimed_address(&tagged, "prod"), Some(a));
        assert_eq!(claimed_address(&tagged, "dev"), None);
        assert!(owned_by(&tagged, "prod"));
        assert_eq!(strip(tagged), user);
    }

    #[test]
    fn a_claim_needs_the_workspace_tag_and_keeps_a_bad_address_as_written() {
        assert_eq!(claim(&inputs(&[(TAG_ADDRESS, "plan.a")])), None);
        let c = claim(&inputs(&[(TAG_WORKSPACE, "w"), (TAG_ADDRESS, "nope")])).unwrap();
        assert_eq!((c.workspace.as_str(), c.address.as_str()), ("w", "nope"));
        assert_eq!(c.address(), None);
    }

    #[test]
    fn only_the_two_keys_are_reserved() {
        assert!(is_ownership_tag(TAG_WORKSPACE) && is_ownership_tag(TAG_ADDRESS));
        assert!(!is_ownership_tag("planform:other") && !is_ownership_tag("owner"));
    }
}
