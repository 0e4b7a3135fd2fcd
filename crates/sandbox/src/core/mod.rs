//! The emulator core: plans, provisioned products and tasks, and the plan status machine
//! (wire/alibaba.md §7), driven by an injected clock. Transitions that take time (preview,
//! execution) are due at a moment and applied lazily by [`Sandbox::advance`] before every
//! operation, so no background thread is needed and tests control time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, Portfolio, Version};
use crate::clock::Clock;
use crate::store::{encode, Store, StoreError, Write};

/// How long the status machine's timed steps take, and who the caller is.
#[derive(Debug, Clone)]
pub struct Settings {
    pub preview_ms: u64,
    pub execute_ms: u64,
    /// The account id reported as `Uid` / owner.
    pub account_id: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            preview_ms: 200,
            execute_ms: 400,
            account_id: "1234567890123456".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    PreviewDone,
    ExecuteDone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Due {
    pub at_ms: u64,
    pub event: Event,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub action: String,
    pub comment: String,
    pub principal: String,
    pub time_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceChangeRecord {
    pub action: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
    pub resource_type: String,
    pub replacement: Option<String>,
}

/// A plan as the sandbox stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRecord {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub description: Option<String>,
    pub operation_type: String,
    pub status: String,
    pub status_message: Option<String>,
    pub portfolio_id: Option<String>,
    pub product_id: String,
    pub product_version_id: String,
    pub provisioned_product_id: String,
    pub provisioned_product_name: String,
    pub stack_region_id: Option<String>,
    pub stack_id: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub notification_arns: Vec<String>,
    pub create_ms: u64,
    pub update_ms: u64,
    pub due: Option<Due>,
    pub approvers: Vec<String>,
    pub records: Vec<OperationRecord>,
    pub resource_changes: Vec<ResourceChangeRecord>,
    pub idempotency_token: Option<String>,
    pub owner: String,
    /// Created through the AWS face: AWS tag rules, no approval step.
    #[serde(default)]
    pub aws: bool,
}

/// A provisioned product (Alibaba: product instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRecord {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub status: String,
    pub status_message: Option<String>,
    pub product_id: String,
    pub product_version_id: String,
    pub portfolio_id: Option<String>,
    pub stack_id: String,
    pub stack_region_id: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub outputs: Vec<(String, String, String)>,
    pub last_task_id: Option<String>,
    pub last_provisioning_task_id: Option<String>,
    pub last_successful_task_id: Option<String>,
    pub create_ms: u64,
    pub terminated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub task_type: String,
    pub status: String,
    pub status_message: Option<String>,
    pub outputs: Vec<(String, String, String)>,
    pub parameters: Vec<(String, String)>,
    pub provisioned_product_id: String,
    pub provisioned_product_name: String,
    pub product_id: String,
    pub product_version_id: String,
    pub portfolio_id: Option<String>,
    pub plan_id: String,
    pub create_ms: u64,
    pub update_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    salt: String,
    counter: u64,
}

/// An API error with the code and HTTP status the cloud would answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SandboxError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl SandboxError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> SandboxError {
        SandboxError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    fn missing(param: &str) -> SandboxError {
        SandboxError::new(
            400,
            format!("Missing{param}"),
            format!("{param} is mandatory for this action."),
        )
    }

    fn invalid(param: &str, why: impl std::fmt::Display) -> SandboxError {
        SandboxError::new(
            400,
            format!("Invalid{param}"),
            format!("Specified parameter {param} is not valid: {why}"),
        )
    }

    fn plan_not_found(id: &str) -> SandboxError {
        SandboxError::new(
            404,
            "InvalidProvisionedProductPlan.NotFound",
            format!("The specified plan {id} does not exist."),
        )
    }

    fn invalid_status(id: &str, status: &str, action: &str) -> SandboxError {
        SandboxError::new(
            400,
            "InvalidStatus.ProvisionedProductPlan",
            format!("The plan {id} is in status {status}; {action} is not allowed."),
        )
    }
}

impl From<StoreError> for SandboxError {
    fn from(e: StoreError) -> Self {
        SandboxError::new(500, "InternalError", e.to_string())
    }
}

/// The inputs of `CreateProvisionedProductPlan`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreatePlan {
    pub name: String,
    pub description: Option<String>,
    pub operation_type: Option<String>,
    pub portfolio_id: Option<String>,
    pub product_id: String,
    pub product_version_id: String,
    pub provisioned_product_name: String,
    pub stack_region_id: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub notification_arns: Vec<String>,
    pub idempotency_token: Option<String>,
    /// The AWS face: its own validation (done there), no approval step.
    pub aws: bool,
}

/// The inputs of `UpdateProvisionedProductPlan`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdatePlan {
    pub plan_id: String,
    pub product_id: String,
    pub product_version_id: String,
    pub portfolio_id: Option<String>,
    pub description: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
}

/// `ListProvisionedProductPlans` filters (seed 003).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListPlans {
    pub names: Vec<String>,
    pub statuses: Vec<String>,
    pub approvers: Vec<String>,
    pub approver_names: Vec<String>,
    pub owner_uid: Option<String>,
    pub full_text: Option<String>,
    pub provisioned_product_id: Option<String>,
    pub ascending: bool,
    pub page_number: usize,
    pub page_size: usize,
}

pub const STATUSES: [&str; 10] = [
    "PreviewInProgress",
    "PreviewSuccess",
    "PreviewFailed",
    "ApplicationInProgress",
    "ApplicationApproved",
    "ApplicationRejected",
    "ExecuteInProgress",
    "ExecuteSuccess",
    "ExecuteFailed",
    "Canceled",
];

/// The emulator's whole state.
pub struct Sandbox {
    pub catalog: Catalog,
    pub settings: Settings,
    clock: Arc<dyn Clock>,
    store: Store,
    meta: Meta,
    plans: BTreeMap<String, PlanRecord>,
    products: BTreeMap<String, ProductRecord>,
    tasks: BTreeMap<String, TaskRecord>,
    tokens: BTreeMap<String, String>,
    due: BTreeSet<(u64, String)>,
}

#[derive(Serialize, Deserialize)]
struct TokenRecord {
    token: String,
    plan_id: String,
}

impl Sandbox {
    pub fn new(
        catalog: Catalog,
        settings: Settings,
        clock: Arc<dyn Clock>,
        store: Store,
    ) -> Result<Sandbox, SandboxError> {
        let meta: Meta = store
            .load::<Meta>("meta")
            .map_err(SandboxError::from)?
            .into_iter()
            .next()
            .unwrap_or_else(|| Meta {
                salt: format!("{}-{}", clock.now_ms(), std::process::id()),
                counter: 0,
            });
        let plans: BTreeMap<_, _> = store
            .load::<PlanRecord>("plan/")?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let products = store
            .load::<ProductRecord>("pp/")?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let tasks = store
            .load::<TaskRecord>("task/")?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let tokens = store
            .load::<TokenRecord>("token/")?
            .into_iter()
            .map(|t| (t.token, t.plan_id))
            .collect();
        let due = plans
            .values()
            .filter_map(|p| p.due.as_ref().map(|d| (d.at_ms, p.id.clone())))
            .collect();
        Ok(Sandbox {
            catalog,
            settings,
            clock,
            store,
            meta,
            plans,
            products,
            tasks,
            tokens,
            due,
        })
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.meta.counter += 1;
        let digest = Sha256::digest(format!("{}:{}:{prefix}", self.meta.salt, self.meta.counter));
        let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let tail: String = digest
            .iter()
            .take(14)
            .map(|b| alphabet[(*b as usize) % 36] as char)
            .collect();
        format!("{prefix}-{tail}")
    }

    fn stable_id(seed: &str, prefix: &str) -> String {
        let digest = Sha256::digest(format!("{seed}:{prefix}"));
        let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let tail: String = digest
            .iter()
            .take(14)
            .map(|b| alphabet[(*b as usize) % 36] as char)
            .collect();
        format!("{prefix}-{tail}")
    }

    fn stack_id(seed: &str) -> String {
        let h = hex(&Sha256::digest(format!("stack:{seed}")));
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    fn meta_write(&self) -> Write {
        encode("meta".into(), &self.meta)
    }

    fn plan_write(p: &PlanRecord) -> Write {
        encode(format!("plan/{}", p.id), p)
    }

    fn product_write(p: &ProductRecord) -> Write {
        encode(format!("pp/{}", p.id), p)
    }

    fn task_write(t: &TaskRecord) -> Write {
        encode(format!("task/{}", t.id), t)
    }

    /// Applies every timed transition that is due.
    pub fn advance(&mut self) -> Result<(), SandboxError> {
        let now = self.now_ms();
        while let Some((at, id)) = self.due.first().cloned() {
            if at > now {
                break;
            }
            self.due.pop_first();
            let Some(plan) = self.plans.get(&id).cloned() else {
                continue;
            };
            let Some(due) = plan.due.clone() else {
                continue;
            };
            let writes = match due.event {
                Event::PreviewDone => self.finish_preview(plan, due.at_ms),
                Event::ExecuteDone => self.finish_execute(plan, due.at_ms),
            };
            self.store.commit(writes)?;
        }
        Ok(())
    }

    fn default_portfolio<'a>(&'a self, product_id: &'a str) -> Option<&'a Portfolio> {
        let mut ps = self.catalog.portfolios_of(product_id);
        let first = ps.next();
        if ps.next().is_some() {
            None
        } else {
            first
        }
    }

    fn portfolio_for<'a>(&'a self, plan: &'a PlanRecord) -> Option<&'a Portfolio> {
        match &plan.portfolio_id {
            Some(id) => self.catalog.portfolio(id),
            None => self.default_portfolio(&plan.product_id),
        }
    }

    fn preview_problems(&self, plan: &PlanRecord, version: &Version) -> Option<String> {
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
        if plan.operation_type != "TerminateProvisionedProduct" {
            for p in &version.parameters {
                match params.get(p.key.as_str()) {
                    None if p.required && p.default.is_none() => {
                        return Some(format!("Preview stack failed: Parameter '{}' is required but no value was given.", p.key))
                    }
                    Some(v) if !p.allowed_values.is_empty() && !p.allowed_values.iter().any(|a| a == v) => {
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
        if let (Some(port), Some(region)) = (self.portfolio_for(plan), &plan.stack_region_id) {
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

    fn finish_preview(&mut self, mut plan: PlanRecord, at: u64) -> Vec<Write> {
        plan.due = None;
        plan.update_ms = at;
        let version = self
            .catalog
            .version(&plan.product_id, &plan.product_version_id)
            .cloned();
        match version
            .as_ref()
            .and_then(|v| self.preview_problems(&plan, v))
        {
            Some(msg) => {
                plan.status = "PreviewFailed".into();
                plan.status_message = Some(msg);
                plan.resource_changes.clear();
            }
            None => {
                plan.status = "PreviewSuccess".into();
                plan.status_message = None;
                let existing = self
                    .products
                    .get(&plan.provisioned_product_id)
                    .filter(|p| !p.terminated);
                plan.resource_changes = version
                    .map(|v| {
                        v.resources
                            .iter()
                            .map(|r| {
                                let physical = existing.map(|pp| {
                                    Self::stable_id(&pp.id, &r.logical_id.to_lowercase())
                                });
                                let (action, replacement) = match plan.operation_type.as_str() {
                                    "TerminateProvisionedProduct" => ("Remove", None),
                                    _ if existing.is_some() => {
                                        ("Modify", Some("False".to_string()))
                                    }
                                    _ => ("Add", None),
                                };
                                ResourceChangeRecord {
                                    action: action.into(),
                                    logical_resource_id: r.logical_id.clone(),
                                    physical_resource_id: if action == "Add" {
                                        None
                                    } else {
                                        physical
                                    },
                                    resource_type: r.resource_type.clone(),
                                    replacement,
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
            }
        }
        let w = Self::plan_write(&plan);
        self.plans.insert(plan.id.clone(), plan);
        vec![w]
    }

    fn render_outputs(
        pp_id: &str,
        version: &Version,
        params: &[(String, String)],
    ) -> Vec<(String, String, String)> {
        let param = |k: &str| -> String {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    version
                        .parameters
                        .iter()
                        .find(|p| p.key == k)
                        .and_then(|p| p.default.clone())
                })
                .unwrap_or_default()
        };
        version
            .outputs
            .iter()
            .map(|o| {
                let mut out = String::new();
                let mut rest = o.value.as_str();
                while let Some(start) = rest.find('{') {
                    out.push_str(&rest[..start]);
                    let Some(end) = rest[start..].find('}') else {
                        break;
                    };
                    let token = &rest[start + 1..start + end];
                    match token.split_once(':') {
                        Some(("param", k)) => out.push_str(&param(k)),
                        Some(("id", prefix)) => out.push_str(&Self::stable_id(pp_id, prefix)),
                        _ => out.push_str(&rest[start..start + end + 1]),
                    }
                    rest = &rest[start + end + 1..];
                }
                out.push_str(rest);
                (o.key.clone(), out, o.description.clone())
            })
            .collect()
    }

    fn finish_execute(&mut self, mut plan: PlanRecord, at: u64) -> Vec<Write> {
        plan.due = None;
        plan.update_ms = at;
        let mut writes = Vec::new();
        let version = self
            .catalog
            .version(&plan.product_id, &plan.product_version_id)
            .cloned();
        let failure = version
            .as_ref()
            .and_then(|v| v.execute_fails_when.as_ref())
            .and_then(|rule| {
                plan.parameters
                    .iter()
                    .any(|(k, v)| *k == rule.parameter && *v == rule.value)
                    .then(|| rule.message.clone())
            });
        let task_id = self
            .products
            .get(&plan.provisioned_product_id)
            .and_then(|p| p.last_task_id.clone());
        let mut pp = self.products.get(&plan.provisioned_product_id).cloned();
        match (&failure, plan.operation_type.as_str()) {
            (Some(msg), _) => {
                plan.status = "ExecuteFailed".into();
                plan.status_message = Some(msg.clone());
                if let Some(pp) = pp.as_mut() {
                    pp.status = "Error".into();
                    pp.status_message = Some(msg.clone());
                }
            }
            (None, "TerminateProvisionedProduct") => {
                plan.status = "ExecuteSuccess".into();
                if let Some(pp) = pp.as_mut() {
                    pp.terminated = true;
                    pp.status = "Terminated".into();
                }
            }
            (None, _) => {
                plan.status = "ExecuteSuccess".into();
                if let (Some(pp), Some(v)) = (pp.as_mut(), version.as_ref()) {
                    pp.status = "Available".into();
                    pp.status_message = None;
                    pp.product_id = plan.product_id.clone();
                    pp.product_version_id = plan.product_version_id.clone();
                    pp.portfolio_id = plan.portfolio_id.clone();
                    pp.parameters = plan.parameters.clone();
                    pp.outputs = Self::render_outputs(&pp.id, v, &plan.parameters);
                    pp.last_successful_task_id = task_id.clone();
                }
            }
        }
        if let Some(pp) = pp {
            plan.stack_id = Some(pp.stack_id.clone());
            if let Some(tid) = &task_id {
                if let Some(t) = self.tasks.get_mut(tid) {
                    t.status = if failure.is_some() {
                        "Failed".into()
                    } else {
                        "Succeeded".into()
                    };
                    t.status_message = failure.clone();
                    t.outputs = if failure.is_some() {
                        vec![]
                    } else {
                        pp.outputs.clone()
                    };
                    t.update_ms = at;
                    writes.push(Self::task_write(t));
                }
            }
            writes.push(Self::product_write(&pp));
            self.products.insert(pp.id.clone(), pp);
        }
        writes.push(Self::plan_write(&plan));
        self.plans.insert(plan.id.clone(), plan);
        writes
    }

    fn active_product_named(&self, name: &str) -> Option<&ProductRecord> {
        self.products
            .values()
            .find(|p| !p.terminated && p.name == name)
    }

    fn check_tags(tags: &[(String, String)]) -> Result<(), SandboxError> {
        if tags.len() > 20 {
            return Err(SandboxError::invalid(
                "Tags",
                format!("at most 20 tags are allowed, got {}", tags.len()),
            ));
        }
        for (k, v) in tags {
            if k.is_empty()
                || k.chars().count() > 128
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
            if v.chars().count() > 128
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

    #[allow(clippy::too_many_arguments)]
    fn check_common(
        product_id: &str,
        version_id: &str,
        portfolio_id: Option<&str>,
        description: Option<&str>,
        params: &[(String, String)],
        tags: &[(String, String)],
        catalog: &Catalog,
        aws: bool,
    ) -> Result<(), SandboxError> {
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
            return Err(SandboxError::new(404, "InvalidProductVersion.NotFound", format!("The specified product version {version_id} does not exist in product {product_id}.")));
        }
        if let Some(pid) = portfolio_id {
            let ok = catalog
                .portfolio(pid)
                .is_some_and(|p| p.product_ids.iter().any(|x| x == product_id));
            if !ok {
                return Err(SandboxError::new(404, "InvalidPortfolio.NotFound", format!("The specified portfolio {pid} does not exist or does not hold product {product_id}.")));
            }
        } else if catalog.portfolios_of(product_id).count() > 1 {
            return Err(SandboxError::missing("PortfolioId"));
        }
        if let Some(d) = description {
            if d.is_empty() || d.chars().count() > 128 {
                return Err(SandboxError::invalid(
                    "Description",
                    "must be 1 to 128 characters long",
                ));
            }
        }
        if params.len() > 200 {
            return Err(SandboxError::invalid(
                "Parameters",
                format!("at most 200 parameters are allowed, got {}", params.len()),
            ));
        }
        if params.iter().any(|(k, _)| k.is_empty()) {
            return Err(SandboxError::missing("Parameters.N.ParameterKey"));
        }
        if aws {
            return Ok(());
        }
        Self::check_tags(tags)
    }

    pub fn create_plan(&mut self, req: CreatePlan) -> Result<PlanRecord, SandboxError> {
        self.advance()?;
        if let Some(token) = &req.idempotency_token {
            if let Some(existing) = self.tokens.get(token).and_then(|id| self.plans.get(id)) {
                return Ok(existing.clone());
            }
        }
        if req.name.is_empty() {
            return Err(SandboxError::missing("PlanName"));
        }
        if req.name.chars().count() > 128 {
            return Err(SandboxError::invalid(
                "PlanName",
                "must be 1 to 128 characters long",
            ));
        }
        if req.provisioned_product_name.is_empty() {
            return Err(SandboxError::missing("ProvisionedProductName"));
        }
        if req.provisioned_product_name.chars().count() > 128 {
            return Err(SandboxError::invalid(
                "ProvisionedProductName",
                "must be 1 to 128 characters long",
            ));
        }
        if req.stack_region_id.as_deref().unwrap_or("").is_empty() {
            return Err(SandboxError::missing("StackRegionId"));
        }
        Self::check_common(
            &req.product_id,
            &req.product_version_id,
            req.portfolio_id.as_deref(),
            req.description.as_deref(),
            &req.parameters,
            &req.tags,
            &self.catalog,
            req.aws,
        )?;
        let op = req
            .operation_type
            .clone()
            .unwrap_or_else(|| "LaunchProduct".into());
        let now = self.now_ms();
        let mut writes = Vec::new();
        let pp_id = match op.as_str() {
            "LaunchProduct" => {
                if let Some(pp) = self.active_product_named(&req.provisioned_product_name) {
                    return Err(SandboxError::new(400, "InvalidProvisionedProductName.Duplicate", format!("A product instance named {:?} already exists ({}); use OperationType UpdateProvisionedProduct.", pp.name, pp.id)));
                }
                self.next_id("pp")
            }
            "UpdateProvisionedProduct" | "TerminateProvisionedProduct" => match self.active_product_named(&req.provisioned_product_name) {
                Some(pp) => pp.id.clone(),
                None => return Err(SandboxError::new(404, "InvalidProvisionedProduct.NotFound", format!("No product instance named {:?} exists.", req.provisioned_product_name))),
            },
            other => return Err(SandboxError::invalid("OperationType", format!("{other:?} is not one of LaunchProduct, UpdateProvisionedProduct, TerminateProvisionedProduct"))),
        };
        let id = self.next_id("plan");
        let plan = PlanRecord {
            id: id.clone(),
            seq: self.meta.counter,
            name: req.name,
            description: req.description,
            operation_type: op,
            status: "PreviewInProgress".into(),
            status_message: None,
            portfolio_id: req.portfolio_id,
            product_id: req.product_id,
            product_version_id: req.product_version_id,
            provisioned_product_id: pp_id,
            provisioned_product_name: req.provisioned_product_name,
            stack_region_id: req.stack_region_id,
            stack_id: None,
            parameters: req.parameters,
            tags: req.tags,
            notification_arns: req.notification_arns,
            create_ms: now,
            update_ms: now,
            due: Some(Due {
                at_ms: now + self.settings.preview_ms,
                event: Event::PreviewDone,
            }),
            approvers: vec![],
            records: vec![],
            resource_changes: vec![],
            idempotency_token: req.idempotency_token.clone(),
            owner: self.settings.account_id.clone(),
            aws: req.aws,
        };
        if let Some(token) = req.idempotency_token {
            writes.push(encode(
                format!("token/{token}"),
                &TokenRecord {
                    token: token.clone(),
                    plan_id: id.clone(),
                },
            ));
            self.tokens.insert(token, id.clone());
        }
        writes.push(Self::plan_write(&plan));
        writes.push(self.meta_write());
        self.store.commit(writes)?;
        self.due
            .insert((now + self.settings.preview_ms, id.clone()));
        self.plans.insert(id, plan.clone());
        self.advance()?;
        Ok(self.plans[&plan.id].clone())
    }

    pub fn get_plan(&mut self, id: &str) -> Result<PlanRecord, SandboxError> {
        self.advance()?;
        if id.is_empty() {
            return Err(SandboxError::missing("PlanId"));
        }
        self.plans
            .get(id)
            .cloned()
            .ok_or_else(|| SandboxError::plan_not_found(id))
    }

    pub fn update_plan(&mut self, req: UpdatePlan) -> Result<PlanRecord, SandboxError> {
        let mut plan = self.get_plan(&req.plan_id)?;
        if ![
            "PreviewSuccess",
            "PreviewFailed",
            "ApplicationRejected",
            "Canceled",
            "ExecuteFailed",
        ]
        .contains(&plan.status.as_str())
        {
            return Err(SandboxError::invalid_status(
                &plan.id,
                &plan.status,
                "UpdateProvisionedProductPlan",
            ));
        }
        Self::check_common(
            &req.product_id,
            &req.product_version_id,
            req.portfolio_id.as_deref(),
            req.description.as_deref(),
            &req.parameters,
            &req.tags,
            &self.catalog,
            plan.aws,
        )?;
        let now = self.now_ms();
        plan.product_id = req.product_id;
        plan.product_version_id = req.product_version_id;
        plan.portfolio_id = req.portfolio_id;
        plan.description = req.description;
        plan.parameters = req.parameters;
        plan.tags = req.tags;
        plan.status = "PreviewInProgress".into();
        plan.status_message = None;
        plan.update_ms = now;
        plan.due = Some(Due {
            at_ms: now + self.settings.preview_ms,
            event: Event::PreviewDone,
        });
        self.store.commit(vec![Self::plan_write(&plan)])?;
        self.due
            .insert((now + self.settings.preview_ms, plan.id.clone()));
        let id = plan.id.clone();
        self.plans.insert(id.clone(), plan);
        self.advance()?;
        Ok(self.plans[&id].clone())
    }

    fn needs_approval(&self, plan: &PlanRecord) -> Option<Vec<String>> {
        if plan.aws {
            return None;
        }
        let p = self.portfolio_for(plan)?;
        p.approval_operation_types
            .contains(&plan.operation_type)
            .then(|| p.approvers.clone())
    }

    pub fn execute_plan(&mut self, id: &str) -> Result<PlanRecord, SandboxError> {
        let mut plan = self.get_plan(id)?;
        let now = self.now_ms();
        let mut writes = Vec::new();
        match plan.status.as_str() {
            "PreviewSuccess" => {
                if let Some(approvers) = self.needs_approval(&plan) {
                    plan.status = "ApplicationInProgress".into();
                    plan.approvers = approvers;
                    plan.records.push(OperationRecord {
                        action: "Submit".into(),
                        comment: String::new(),
                        principal: plan.owner.clone(),
                        time_ms: now,
                    });
                    plan.update_ms = now;
                    writes.push(Self::plan_write(&plan));
                    self.store.commit(writes)?;
                    self.plans.insert(plan.id.clone(), plan.clone());
                    return Ok(plan);
                }
            }
            "ApplicationApproved" => {}
            other => {
                return Err(SandboxError::invalid_status(
                    id,
                    other,
                    "ExecuteProvisionedProductPlan",
                ))
            }
        }
        self.start_execution(&mut plan, now, &mut writes);
        self.store.commit(writes)?;
        self.due
            .insert((now + self.settings.execute_ms, plan.id.clone()));
        self.plans.insert(plan.id.clone(), plan);
        self.advance()?;
        Ok(self.plans[id].clone())
    }

    fn start_execution(&mut self, plan: &mut PlanRecord, now: u64, writes: &mut Vec<Write>) {
        plan.status = "ExecuteInProgress".into();
        plan.update_ms = now;
        plan.due = Some(Due {
            at_ms: now + self.settings.execute_ms,
            event: Event::ExecuteDone,
        });
        let task_id = self.next_id("task");
        let mut pp = self
            .products
            .get(&plan.provisioned_product_id)
            .cloned()
            .unwrap_or_else(|| ProductRecord {
                id: plan.provisioned_product_id.clone(),
                seq: self.meta.counter,
                name: plan.provisioned_product_name.clone(),
                status: "UnderChange".into(),
                status_message: None,
                product_id: plan.product_id.clone(),
                product_version_id: plan.product_version_id.clone(),
                portfolio_id: plan.portfolio_id.clone(),
                stack_id: Self::stack_id(&plan.provisioned_product_id),
                stack_region_id: plan.stack_region_id.clone(),
                parameters: plan.parameters.clone(),
                outputs: vec![],
                last_task_id: None,
                last_provisioning_task_id: None,
                last_successful_task_id: None,
                create_ms: now,
                terminated: false,
            });
        pp.status = "UnderChange".into();
        pp.last_task_id = Some(task_id.clone());
        if plan.operation_type != "TerminateProvisionedProduct" {
            pp.last_provisioning_task_id = Some(task_id.clone());
        }
        let task = TaskRecord {
            id: task_id.clone(),
            task_type: plan.operation_type.clone(),
            status: "InProgress".into(),
            status_message: None,
            outputs: vec![],
            parameters: plan.parameters.clone(),
            provisioned_product_id: pp.id.clone(),
            provisioned_product_name: pp.name.clone(),
            product_id: plan.product_id.clone(),
            product_version_id: plan.product_version_id.clone(),
            portfolio_id: plan.portfolio_id.clone(),
            plan_id: plan.id.clone(),
            create_ms: now,
            update_ms: now,
        };
        writes.push(Self::task_write(&task));
        writes.push(Self::product_write(&pp));
        writes.push(Self::plan_write(plan));
        writes.push(self.meta_write());
        self.tasks.insert(task_id, task);
        self.products.insert(pp.id.clone(), pp);
    }

    /// `ApproveProvisionedProductPlan` (also `planform sandbox approve|reject`).
    pub fn approve_plan(
        &mut self,
        id: &str,
        action: &str,
        comment: &str,
        principal: &str,
    ) -> Result<PlanRecord, SandboxError> {
        let mut plan = self.get_plan(id)?;
        let approve = match action {
            "Approve" => true,
            "Reject" => false,
            "" => return Err(SandboxError::missing("ApprovalAction")),
            other => {
                return Err(SandboxError::invalid(
                    "ApprovalAction",
                    format!("{other:?} is not Approve or Reject"),
                ))
            }
        };
        if plan.status != "ApplicationInProgress" {
            return Err(SandboxError::invalid_status(
                id,
                &plan.status,
                "ApproveProvisionedProductPlan",
            ));
        }
        let now = self.now_ms();
        plan.status = if approve {
            "ApplicationApproved".into()
        } else {
            "ApplicationRejected".into()
        };
        plan.records.push(OperationRecord {
            action: if approve {
                "Approve".into()
            } else {
                "reject".into()
            },
            comment: comment.into(),
            principal: principal.into(),
            time_ms: now,
        });
        plan.update_ms = now;
        self.store.commit(vec![Self::plan_write(&plan)])?;
        self.plans.insert(id.to_string(), plan.clone());
        Ok(plan)
    }

    pub fn cancel_plan(&mut self, id: &str) -> Result<PlanRecord, SandboxError> {
        let mut plan = self.get_plan(id)?;
        if plan.status != "ApplicationInProgress" {
            return Err(SandboxError::invalid_status(
                id,
                &plan.status,
                "CancelProvisionedProductPlan",
            ));
        }
        let now = self.now_ms();
        plan.status = "Canceled".into();
        plan.records.push(OperationRecord {
            action: "Cancel".into(),
            comment: String::new(),
            principal: plan.owner.clone(),
            time_ms: now,
        });
        plan.update_ms = now;
        self.store.commit(vec![Self::plan_write(&plan)])?;
        self.plans.insert(id.to_string(), plan.clone());
        Ok(plan)
    }

    pub fn delete_plan(&mut self, id: &str) -> Result<(), SandboxError> {
        let plan = self.get_plan(id)?;
        if plan.status.ends_with("InProgress") {
            return Err(SandboxError::invalid_status(
                id,
                &plan.status,
                "DeleteProvisionedProductPlan",
            ));
        }
        let mut writes = vec![(format!("plan/{id}"), None)];
        if let Some(t) = &plan.idempotency_token {
            writes.push((format!("token/{t}"), None));
            self.tokens.remove(t);
        }
        self.store.commit(writes)?;
        self.plans.remove(id);
        Ok(())
    }

    /// `ListProvisionedProductPlans`: filters, `CreateTime` sorting and pages, with the total.
    pub fn list_plans(&mut self, q: &ListPlans) -> Result<(Vec<PlanRecord>, usize), SandboxError> {
        self.advance()?;
        if q.page_number == 0 {
            return Err(SandboxError::invalid("PageNumber", "must be 1 or more"));
        }
        if !(1..=100).contains(&q.page_size) {
            return Err(SandboxError::invalid("PageSize", "must be from 1 to 100"));
        }
        for s in &q.statuses {
            if !STATUSES.contains(&s.as_str()) {
                return Err(SandboxError::invalid(
                    "Filters.N.Value",
                    format!("{s:?} is not a plan status"),
                ));
            }
        }
        let mut matching: Vec<&PlanRecord> = self
            .plans
            .values()
            .filter(|p| {
                q.names.is_empty() || q.names.iter().any(|n| n.eq_ignore_ascii_case(&p.name))
            })
            .filter(|p| q.statuses.is_empty() || q.statuses.contains(&p.status))
            .filter(|p| {
                q.approvers.is_empty() || q.approvers.iter().any(|a| p.approvers.contains(a))
            })
            .filter(|p| {
                q.approver_names.is_empty()
                    || q.approver_names.iter().any(|n| {
                        p.approvers
                            .iter()
                            .any(|a| a.split_once(':').is_some_and(|(_, an)| an == n))
                    })
            })
            .filter(|p| q.owner_uid.as_ref().is_none_or(|u| *u == p.owner))
            .filter(|p| {
                q.full_text
                    .as_ref()
                    .is_none_or(|t| p.name.to_lowercase().contains(&t.to_lowercase()))
            })
            .filter(|p| {
                q.provisioned_product_id
                    .as_ref()
                    .is_none_or(|id| *id == p.provisioned_product_id)
            })
            .collect();
        matching.sort_by_key(|p| (p.create_ms, p.seq));
        if !q.ascending {
            matching.reverse();
        }
        let total = matching.len();
        let page = matching
            .into_iter()
            .skip((q.page_number - 1) * q.page_size)
            .take(q.page_size)
            .cloned()
            .collect();
        Ok((page, total))
    }

    pub fn provisioned_product(&mut self, id: &str) -> Result<ProductRecord, SandboxError> {
        self.advance()?;
        self.products
            .get(id)
            .filter(|p| !p.terminated)
            .cloned()
            .ok_or_else(|| {
                SandboxError::new(
                    404,
                    "InvalidProvisionedProduct.NotFound",
                    format!("The specified product instance {id} does not exist."),
                )
            })
    }

    pub fn provisioned_product_named(
        &mut self,
        name: &str,
    ) -> Result<Option<ProductRecord>, SandboxError> {
        self.advance()?;
        Ok(self.active_product_named(name).cloned())
    }

    pub fn list_provisioned_products(&mut self) -> Result<Vec<ProductRecord>, SandboxError> {
        self.advance()?;
        let mut v: Vec<ProductRecord> = self
            .products
            .values()
            .filter(|p| !p.terminated)
            .cloned()
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse((p.create_ms, p.seq)));
        Ok(v)
    }

    /// Tasks of a provisioned product, newest first.
    pub fn tasks_of(&mut self, pp_id: &str) -> Result<Vec<TaskRecord>, SandboxError> {
        self.advance()?;
        let mut v: Vec<TaskRecord> = self
            .tasks
            .values()
            .filter(|t| t.provisioned_product_id == pp_id)
            .cloned()
            .collect();
        v.sort_by_key(|t| std::cmp::Reverse((t.create_ms, t.id.clone())));
        Ok(v)
    }

    /// `TerminateProvisionedProduct` (the direct, plan-less path): a task that removes the product.
    pub fn terminate_product(&mut self, pp_id: &str) -> Result<TaskRecord, SandboxError> {
        let mut pp = self.provisioned_product(pp_id)?;
        if pp.status == "UnderChange" {
            return Err(SandboxError::new(
                400,
                "InvalidStatus.ProvisionedProduct",
                format!("The product instance {pp_id} is under change."),
            ));
        }
        let now = self.now_ms();
        let task = TaskRecord {
            id: self.next_id("task"),
            task_type: "TerminateProvisionedProduct".into(),
            status: "Succeeded".into(),
            status_message: None,
            outputs: vec![],
            parameters: pp.parameters.clone(),
            provisioned_product_id: pp.id.clone(),
            provisioned_product_name: pp.name.clone(),
            product_id: pp.product_id.clone(),
            product_version_id: pp.product_version_id.clone(),
            portfolio_id: pp.portfolio_id.clone(),
            plan_id: String::new(),
            create_ms: now,
            update_ms: now,
        };
        pp.terminated = true;
        pp.status = "Terminated".into();
        pp.last_task_id = Some(task.id.clone());
        self.store.commit(vec![
            Self::task_write(&task),
            Self::product_write(&pp),
            self.meta_write(),
        ])?;
        self.tasks.insert(task.id.clone(), task.clone());
        self.products.insert(pp.id.clone(), pp);
        Ok(task)
    }

    pub fn task(&mut self, id: &str) -> Result<TaskRecord, SandboxError> {
        self.advance()?;
        self.tasks.get(id).cloned().ok_or_else(|| {
            SandboxError::new(
                404,
                "InvalidTask.NotFound",
                format!("The specified task {id} does not exist."),
            )
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
