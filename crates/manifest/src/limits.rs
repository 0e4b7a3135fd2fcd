//! The limits of the clouds' APIs (seed documents and wire notes), checked before any request.

use planform_model::{
    ownership, DesiredPlan, ProviderKind, SourceLocation, TAG_ADDRESS, TAG_WORKSPACE,
};
use regex::Regex;
use std::sync::OnceLock;

use crate::diagnostic::Diagnostics;
use crate::syntax::error;

/// The ownership tags planform adds count against each cloud's tag limit.
const OWNERSHIP_TAGS: usize = 2;

fn aws_id() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^[a-zA-Z0-9_\-]*$").unwrap())
}

fn aws_pp_name() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$").unwrap())
}

fn aws_tag() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$").unwrap())
}

fn aws_arn() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^arn:[a-z0-9\-.]{1,63}:[a-z0-9\-.]{0,63}:[a-z0-9\-.]{0,63}:[a-z0-9\-.]{0,63}:[^/].{0,1023}$").unwrap())
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Checks `plan` against the limits of its provider's API.
pub fn check_plan(
    plan: &DesiredPlan,
    loc_of: &dyn Fn(&str) -> SourceLocation,
    diags: &mut Diagnostics,
) {
    let a = &plan.address;
    let mut fail = |attr: &str, msg: String| {
        diags.push(error(
            &loc_of(attr.split(['.', '[']).next().unwrap_or(attr)),
            Some(format!("{a}.{attr}")),
            msg,
        ))
    };
    let i = &plan.inputs;
    for (k, _) in i.tags.iter().filter(|(k, _)| k.starts_with("planform:")) {
        fail(
            "tags",
            format!(
                "key {k:?} is reserved: planform sets {TAG_WORKSPACE} and {TAG_ADDRESS} itself"
            ),
        );
    }
    let kind = plan.provider.kind;
    // The address tag planform adds must fit the cloud's tag value length too (its alphabet
    // always fits: see planform_model::ownership).
    let address_tag = ownership::encode_address(a);
    let max_value = if kind == ProviderKind::Aws { 256 } else { 128 };
    if chars(&address_tag) > max_value {
        let attr = if plan.address.key == planform_model::InstanceKey::None {
            "name"
        } else if loc_of("for_each") != loc_of("") {
            "for_each"
        } else {
            "count"
        };
        fail(
            attr,
            format!(
                "the ownership tag {TAG_ADDRESS} = {address_tag:?} would be {} characters long; the {} provider allows at most {max_value} in a tag value: use a shorter name or key",
                chars(&address_tag),
                kind.as_str()
            ),
        );
    }
    if kind != ProviderKind::Aws {
        // Alibaba CreateProvisionedProductPlan (seed 000) and wire/alibaba.md §4; the sandbox follows Alibaba.
        let len = |attr: &str, v: &str, fail: &mut dyn FnMut(&str, String)| {
            let n = chars(v);
            if !(1..=128).contains(&n) {
                fail(attr, format!("must be 1 to 128 characters long, got {n}"));
            }
        };
        len("name", &i.name, &mut fail);
        len(
            "provisioned_product_name",
            &i.provisioned_product_name,
            &mut fail,
        );
        if let Some(d) = &i.description {
            len("description", d, &mut fail);
        }
        if i.stack_region_id.is_none() {
            fail(
                "stack_region_id",
                "is required: set it or the provider's region".into(),
            );
        }
        if i.parameters.len() > 200 {
            fail(
                "parameters",
                format!(
                    "at most 200 parameters are allowed, got {}",
                    i.parameters.len()
                ),
            );
        }
        if !i.notification_arns.is_empty() {
            fail(
                "notification_arns",
                format!(
                    "is an AWS attribute; the {} provider has no notification ARNs",
                    kind.as_str()
                ),
            );
        }
        let max = 20 - OWNERSHIP_TAGS;
        if i.tags.len() > max {
            fail("tags", format!("at most {max} tags are allowed (20, less the 2 ownership tags planform adds), got {}", i.tags.len()));
        }
        for (k, v) in &i.tags {
            let path = format!("tags[{k:?}]");
            if chars(k) > 128 || k.is_empty() {
                fail(&path, format!("key {k:?} must be 1 to 128 characters long"));
            }
            if k.starts_with("acs:") || k.starts_with("aliyun") {
                fail(
                    "tags",
                    format!("key {k:?} must not start with \"acs:\" or \"aliyun\""),
                );
            }
            if k.contains("http://") || k.contains("https://") {
                fail(
                    "tags",
                    format!("key {k:?} must not contain http:// or https://"),
                );
            }
            // A line break or an escape in a key is never a name, and would show in every plan
            // that lists the tag (AWS's key pattern refuses them too).
            if k.chars().any(char::is_control) {
                fail(
                    "tags",
                    format!("key {k:?} must not contain control characters (line breaks, tabs, escapes)"),
                );
            }
            if chars(v) > 128 {
                fail(
                    &path,
                    format!(
                        "value must be at most 128 characters long, got {}",
                        chars(v)
                    ),
                );
            }
            if v.starts_with("acs:") {
                fail(&path, format!("value {v:?} must not start with \"acs:\""));
            }
            if v.contains("http://") || v.contains("https://") {
                fail(
                    &path,
                    format!("value {v:?} must not contain http:// or https://"),
                );
            }
        }
        return;
    }
    // AWS (wire/aws.md §3).
    if plan.inputs.description.is_some() {
        fail("description", "AWS plans have no description".into());
    }
    if plan.inputs.stack_region_id.is_some() {
        fail(
            "stack_region_id",
            "AWS plans run in the provider's region; remove stack_region_id".into(),
        );
    }
    for (attr, v) in [
        ("product_id", Some(&i.product_id)),
        ("product_version_id", Some(&i.product_version_id)),
        ("portfolio_id", i.portfolio_id.as_ref()),
    ] {
        if let Some(v) = v {
            if !(1..=100).contains(&chars(v)) || !aws_id().is_match(v) {
                fail(
                    attr,
                    format!("{v:?} must be 1 to 100 characters of letters, digits, _ and -"),
                );
            }
        }
    }
    let n = chars(&i.provisioned_product_name);
    if !(1..=128).contains(&n) || !aws_pp_name().is_match(&i.provisioned_product_name) {
        fail(
            "provisioned_product_name",
            format!(
                "{:?} must be 1 to 128 characters matching [a-zA-Z0-9][a-zA-Z0-9._-]*",
                i.provisioned_product_name
            ),
        );
    }
    if i.notification_arns.len() > 5 {
        fail(
            "notification_arns",
            format!(
                "at most 5 ARNs are allowed, got {}",
                i.notification_arns.len()
            ),
        );
    }
    for arn in &i.notification_arns {
        if !aws_arn().is_match(arn) || chars(arn) > 1224 {
            fail(
                "notification_arns",
                format!("{arn:?} is not an SNS topic ARN (arn:PARTITION:sns:REGION:ACCOUNT:NAME)"),
            );
        }
    }
    for (k, v) in &i.parameters {
        if !(1..=1000).contains(&chars(k)) {
            fail(
                "parameters",
                format!("key {k:?} must be 1 to 1000 characters long"),
            );
        }
        if chars(v) > 4096 {
            fail(
                &format!("parameters[{k:?}]"),
                format!(
                    "value must be at most 4096 characters long, got {}",
                    chars(v)
                ),
            );
        }
    }
    let max = 50 - OWNERSHIP_TAGS;
    if i.tags.len() > max {
        fail("tags", format!("at most {max} tags are allowed (50, less the 2 ownership tags planform adds), got {}", i.tags.len()));
    }
    for (k, v) in &i.tags {
        if !(1..=128).contains(&chars(k)) || !aws_tag().is_match(k) {
            fail(
                "tags",
                format!(
                    "key {k:?} must be 1 to 128 characters of letters, digits, spaces and _.:/=+-@"
                ),
            );
        }
        if !(1..=256).contains(&chars(v)) || (planform_model::is_known(v) && !aws_tag().is_match(v))
        {
            fail(&format!("tags[{k:?}]"), format!("value {v:?} must be 1 to 256 characters of letters, digits, spaces and _.:/=+-@"));
        }
    }
}
