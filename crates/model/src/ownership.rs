//! Ownership: the two tags every plan planform creates carries, and the one place that adds,
//! strips, reads and compares them.
//!
//! A plan is *owned* by a workspace when its `planform:workspace` tag names it; the
//! `planform:address` tag says which address it was made for. Refresh uses the pair to adopt a
//! plan whose create was sent but not recorded, drift to find plans nobody manages, and the diff
//! compares inputs with the tags removed, since they are planform's, not the user's.
//!
//! The address tag holds the address in a form both clouds accept as a tag value (AWS:
//! `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, at most 256 characters; Alibaba: at most 128, no
//! `http://`): `plan.app`, `plan.app:0` for `count` instances, `plan.app/web` for `for_each`
//! instances, where a key byte outside `[A-Za-z0-9_.-]` is written `=XX` (its hex value). The
//! form `plan.app["web"]` that earlier versions wrote is still read.

use crate::{Address, InstanceKey, PlanInputs};

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
    out.tags.insert(TAG_ADDRESS.into(), encode_address(address));
    out
}

/// The address tag value of `address` (see the module documentation).
pub fn encode_address(address: &Address) -> String {
    match &address.key {
        InstanceKey::None => format!("plan.{}", address.name),
        InstanceKey::Int(i) => format!("plan.{}:{i}", address.name),
        InstanceKey::Str(k) => {
            let mut out = format!("plan.{}/", address.name);
            for b in k.bytes() {
                if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("={b:02X}"));
                }
            }
            out
        }
    }
}

/// The address an address tag value names, in today's form or the one earlier versions wrote.
pub fn decode_address(value: &str) -> Option<Address> {
    if value.contains('[') {
        return value.parse().ok();
    }
    let rest = value.strip_prefix("plan.")?;
    let (name, key) = if let Some((name, k)) = rest.split_once('/') {
        let bytes = k.as_bytes();
        let mut raw = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' {
                let hex = k.get(i + 1..i + 3)?;
                raw.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                raw.push(bytes[i]);
                i += 1;
            }
        }
        (name, InstanceKey::Str(String::from_utf8(raw).ok()?))
    } else if let Some((name, i)) = rest.split_once(':') {
        (name, InstanceKey::Int(i.parse().ok()?))
    } else {
        (rest, InstanceKey::None)
    };
    // The name follows the manifest's identifier rule; `Address::from_str` checks it.
    let plain: Address = format!("plan.{name}").parse().ok()?;
    Some(Address::with_key(plain.name, key))
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
        decode_address(&self.address)
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

/// The address a plan of `workspace` was made for, when its tags say so.
pub fn claimed_address(inputs: &PlanInputs, workspace: &str) -> Option<Address> {
    claim(inputs)
        .filter(|c| c.workspace == workspace)
        .and_then(|c| c.address())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
        assert_eq!(
            claim(&tagged).map(|c| c.workspace),
            Some("prod".to_string())
        );
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

    /// AWS's tag value pattern, written out: letters, separators, numbers and `_.:/=+-@`.
    fn aws_tag_value(v: &str) -> bool {
        v.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    }

    #[test]
    fn addresses_encode_inside_both_clouds_tag_alphabets() {
        for (a, v) in [
            (Address::new("net"), "plan.net"),
            (Address::with_key("app", InstanceKey::Int(0)), "plan.app:0"),
            (
                Address::with_key("app", InstanceKey::Str("web".into())),
                "plan.app/web",
            ),
            (
                Address::with_key("app", InstanceKey::Str("http://x y\\".into())),
                "plan.app/http=3A=2F=2Fx=20y=5C",
            ),
        ] {
            let e = encode_address(&a);
            assert_eq!(e, v);
            assert!(aws_tag_value(&e) && !e.contains("http://"), "{e}");
            assert_eq!(decode_address(&e), Some(a));
        }
    }

    #[test]
    fn the_old_form_is_still_read() {
        let a = Address::with_key("app", InstanceKey::Str("web".into()));
        assert_eq!(decode_address("plan.app[\"web\"]"), Some(a));
        assert_eq!(
            decode_address("plan.app[3]"),
            Some(Address::with_key("app", InstanceKey::Int(3)))
        );
        for bad in [
            "",
            "plan.",
            "plan.a:x",
            "plan.a/=4",
            "plan.a/=ZZ",
            "app",
            "plan.1a",
        ] {
            assert_eq!(decode_address(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_address_round_trips_through_a_valid_tag_value(
            name in "[a-z_][a-z0-9_-]{0,10}",
            key in prop_oneof![
                Just(InstanceKey::None),
                any::<u64>().prop_map(InstanceKey::Int),
                ".{0,12}".prop_map(InstanceKey::Str),
            ],
        ) {
            let a = Address::with_key(name, key);
            let e = encode_address(&a);
            prop_assert!(aws_tag_value(&e), "{}", e);
            prop_assert!(!e.contains("http://") && !e.contains("https://"));
            prop_assert_eq!(decode_address(&e), Some(a));
        }
    }
}
