//! The request validation rules and the error codes they answer (`Missing…`, `Invalid…`,
//! `…NotFound`), and the rules a preview checks against the version's parameter schema.

use std::collections::BTreeMap;

use planform_model::OperationType;

use super::error::SandboxError;
use super::records::PlanRecord;
use super::status::PlanStatus;
use super::{CreatePlan, ListPlans};
use crate::catalog::{Catalog, Portfolio, Version};

/// The longest name, plan name or description, in characters.
const MAX_NAME: usize = 128;
/// The most tags a plan carries.
const MAX_TAGS: usize = 20;
/// The most parameters a plan carries.
const MAX_PARAMETERS: usize = 200;

/// The names a `CreateProvisionedProductPlan` needs: plan, product instance and stack region.
pub(super) fn check_create(req: &CreatePlan) -> Result<(), SandboxError> {
    if req.name.is_empty() {
        return Err(SandboxError::missing("PlanName"));
    }
    // AWS's PlanName has no length constraint; Alibaba's is 1 to 128.
    if !req.aws && req.name.chars().count() > MAX_NAME {
        return Err(SandboxError::invalid(
            "PlanName",
            "must be 1 to 128 characters long",
        ));
    }
    if req.provisioned_product_name.is_empty() {
        return Err(SandboxError::missing("ProvisionedProductName"));
    }
    if req.provisioned_product_name.chars().count() > MAX_NAME {
        return Err(SandboxError::invalid(
            "ProvisionedProductName",
            "must be 1 to 128 characters long",
        ));
    }
    if req.stack_region_id.as_deref().unwrap_or("").is_empty() {
        return Err(SandboxError::missing("StackRegionId"));
    }
    Ok(())
}

/// `OperationType`, `LaunchProduct` when absent.
pub(super) fn operation_type(given: Option<&str>) -> Result<OperationType, SandboxError> {
    let Some(given) = given else {
        return Ok(OperationType::LaunchProduct);
    };
    OperationType::parse(given).ok_or_else(|| {
        SandboxError::invalid(
            "OperationType",
            format!(
                "{given:?} is not one of LaunchProduct, UpdateProvisionedProduct, TerminateProvisionedProduct"
            ),
        )
    })
}

/// The inputs a create and an update share: product, version, portfolio, description,
/// parameters and (on the Alibaba face) tags.
pub(super) struct PlanInputs<'a> {
    pub product_id: &'a str,
    pub version_id: &'a str,
    pub portfolio_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub parameters: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    /// The AWS face checks its own tag rules.
    pub aws: bool,
}

pub(super) fn check_inputs(inputs: &PlanInputs, catalog: &Catalog) -> Result<(), SandboxError> {
    let product_id = inputs.product_id;
    let version_id = inputs.version_id;
    if product_id.is_empty() {
        return Err(SandboxError::missing("ProductId"));
    }
    if version_id.is_empty() {
        return Err(SandboxError::missing("ProductVersionId"));
    }
    let product = catalog.product(product_id).ok_or_else(|| {
        SandboxError::new(
            404,
            "InvalidProduct.NotFound",
            format!("The specified product {product_id} does not exist."),
        )
    })?;
    if !product.versions.iter().any(|v| v.id == version_id) {
        return Err(SandboxError::new(
            404,
            "InvalidProductVersion.NotFound",
            format!(
                "The specified product version {version_id} does not exist in product {product_id}."
            ),
        ));
    }
    if let Some(pid) = inputs.portfolio_id {
        let ok = catalog
            .portfolio(pid)
            .is_some_and(|p| p.product_ids.iter().any(|x| x == product_id));
        if !ok {
            return Err(SandboxError::new(
                404,
                "InvalidPortfolio.NotFound",
                format!(
                    "The specified portfolio {pid} does not exist or does not hold product {product_id}."
                ),
            ));
        }
    } else if catalog.portfolios_of(product_id).count() > 1 {
        return Err(SandboxError::missing("PortfolioId"));
    }
    if let Some(d) = inputs.description {
        if d.is_empty() || d.chars().count() > MAX_NAME {
            return Err(SandboxError::invalid(
                "Description",
                "must be 1 to 128 characters long",
            ));
        }
    }
    let params = inputs.parameters;
    if params.len() > MAX_PARAMETERS {
        return Err(SandboxError::invalid(
            "Parameters",
            format!("at most 200 parameters are allowed, got {}", params.len()),
        ));
    }
    if params.iter().any(|(k, _)| k.is_empty()) {
        return Err(SandboxError::missing("Parameters.N.ParameterKey"));
    }
    if inputs.aws {
        return Ok(());
    }
    check_tags(inputs.tags)
}

/// Alibaba's tag rules: at most 20; keys 1 to 128 characters, values at most 128, neither
/// starting with `acs:` (keys: nor `aliyun`) nor holding a URL.
fn check_tags(tags: &[(String, String)]) -> Result<(), SandboxError> {
    if tags.len() > MAX_TAGS {
        return Err(SandboxError::invalid(
            "Tags",
            format!("at most 20 tags are allowed, got {}", tags.len()),
        ));
    }
    for (k, v) in tags {
        if k.is_empty()
            || k.chars().count() > MAX_NAME
            || k.starts_with("acs:")
            || k.starts_with("aliyun")
            || k.contains("http://")
            || k.contains("https://")
        {
            return Err(SandboxError::new(
                400,
                "InvalidTagKey",
                format!("The tag key {k:?} is not valid."),
            ));
        }
        if v.chars().count() > MAX_NAME
            || v.starts_with("acs:")
            || v.contains("http://")
            || v.contains("https://")
        {
            return Err(SandboxError::new(
                400,
                "InvalidTagValue",
                format!("The tag value {v:?} is not valid."),
            ));
        }
    }
    Ok(())
}

/// `ApprovalAction`: true to approve, false to reject.
pub(super) fn approval_action(action: &str) -> Result<bool, SandboxError> {
    match action {
        "Approve" => Ok(true),
        "Reject" => Ok(false),
        "" => Err(SandboxError::missing("ApprovalAction")),
        other => Err(SandboxError::invalid(
            "ApprovalAction",
            format!("{other:?} is not Approve or Reject"),
        )),
    }
}

/// `ListProvisionedProductPlans`: pages from 1, 1 to 100 a page, and known statuses only.
pub(super) fn check_list(q: &ListPlans) -> Result<Vec<PlanStatus>, SandboxError> {
    if q.page_number == 0 {
        return Err(SandboxError::invalid("PageNumber", "must be 1 or more"));
    }
    if !(1..=100).contains(&q.page_size) {
        return Err(SandboxError::invalid("PageSize", "must be from 1 to 100"));
    }
    q.statuses
        .iter()
        .map(|s| {
            super::status::parse_alibaba(s).ok_or_else(|| {
                SandboxError::invalid("Filters.N.Value", format!("{s:?} is not a plan status"))
            })
        })
        .collect()
}

/// The first reason the preview fails, if any: a parameter the template does not define, a
/// required one missing, a value outside `AllowedValues`, or a stack region the portfolio's
/// constraint does not allow.
pub(super) fn preview_problem(
    plan: &PlanRecord,
    version: &Version,
    portfolio: Option<&Portfolio>,
) -> Option<String> {
    let params: BTreeMap<&str, &str> = plan
        .parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for k in params.keys() {
        if !version.parameters.iter().any(|p| p.key == *k) {
            return Some(format!(
                "Preview stack failed: Parameter '{k}' is not defined in the template."
            ));
        }
    }
    if plan.operation_type != OperationType::TerminateProvisionedProduct {
        for p in &version.parameters {
            match params.get(p.key.as_str()) {
                None if p.required && p.default.is_none() => {
                    return Some(format!(
                        "Preview stack failed: Parameter '{}' is required but no value was given.",
                        p.key
                    ))
                }
                Some(v)
                    if !p.allowed_values.is_empty()
                        && !p.allowed_values.iter().any(|a| a == v) =>
                {
                    return Some(format!(
                        "Preview stack failed: Parameter '{}' value '{v}' is not one of the AllowedValues [{}].",
                        p.key,
                        p.allowed_values.join(", ")
                    ))
                }
                _ => {}
            }
        }
    }
    if let (Some(port), Some(region)) = (portfolio, &plan.stack_region_id) {
        if !port.stack_regions.is_empty() && !port.stack_regions.contains(region) {
            return Some(format!(
                "Preview stack failed: StackRegion constraint of portfolio {} allows only {}.",
                port.id,
                port.stack_regions.join(", ")
            ));
        }
    }
    None
}
