//! The emulator core: the [`Sandbox`] type and its operations on plans, provisioned products
//! and tasks. The status machine (wire/alibaba.md §7) is in [`status`], request validation in
//! `validation`, the stored records in [`records`]. Transitions that take time (preview,
//! execution) are due at a moment and applied lazily by [`Sandbox::advance`] before every
//! operation, so no background thread is needed and tests control time.

mod error;
pub mod ids;
mod outputs;
pub mod partition;
pub mod records;
pub mod status;
mod validation;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use planform_model::OperationType;

use crate::catalog::{Catalog, Portfolio};
use crate::clock::Clock;
use crate::store::{Store, Write};

pub use error::SandboxError;
pub use partition::Partition;
use records::{
    meta_write, plan_delete, plan_write, product_write, task_write, token_delete, token_write,
    Meta, TokenRecord, META_KEY, PLAN_PREFIX, PRODUCT_PREFIX, TASK_PREFIX, TOKEN_PREFIX,
};
pub use records::{
    ApprovalAction, Due, Event, OperationRecord, PlanRecord, ProductRecord, ResourceChangeRecord,
    TaskRecord,
};
pub use status::{PlanStatus, ProductStatus, TaskStatus};
use validation::PlanInputs;

/// How long the status machine's timed steps take, and who the caller is.
#[derive(Debug, Clone)]
pub struct Settings {
    pub preview_ms: u64,
    pub execute_ms: u64,
    /// The account id reported as `Uid` / owner (Alibaba's are 16 digits).
    pub account_id: String,
    /// The account id in the AWS face's ARNs (AWS's are 12 digits).
    pub aws_account_id: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            preview_ms: 200,
            execute_ms: 400,
            account_id: "1234567890123456".into(),
            aws_account_id: "123456789012".into(),
        }
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
    /// The principal that creates the plan (its owner); the account when not given.
    pub owner: Option<String>,
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
    /// Statuses as the request spells them; an unknown one is `InvalidFilters.N.Value`.
    pub statuses: Vec<String>,
    pub approvers: Vec<String>,
    pub approver_names: Vec<String>,
    pub owner_uid: Option<String>,
    /// `AccessLevelFilter=User`: only the plans this principal owns; `None` lists the account's.
    pub owner: Option<String>,
    pub full_text: Option<String>,
    pub provisioned_product_id: Option<String>,
    pub ascending: bool,
    pub page_number: usize,
    pub page_size: usize,
}

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
    /// Idempotency tokens (per partition) and the plan each created.
    tokens: BTreeMap<(Option<Partition>, String), String>,
    /// The plans waiting for a timed step, by the moment it is due.
    due: BTreeSet<(u64, String)>,
    /// The partition the request being answered sees ([`Sandbox::within`]); `None`: every one
    /// (the sandbox's owner calling it directly: tests, benchmarks), and what it makes is
    /// unplaced, seen from every partition as every record was before partitions.
    scope: Option<Partition>,
}

/// The answer to a launch whose provisioned product name a live product already has.
fn duplicate_name(pp: &ProductRecord) -> SandboxError {
    SandboxError::new(
        400,
        "InvalidProvisionedProductName.Duplicate",
        format!(
            "A product instance named {:?} already exists ({}); use OperationType UpdateProvisionedProduct.",
            pp.name, pp.id
        ),
    )
}

impl Sandbox {
    pub fn new(
        catalog: Catalog,
        settings: Settings,
        clock: Arc<dyn Clock>,
        store: Store,
    ) -> Result<Sandbox, SandboxError> {
        let meta: Meta = store
            .load::<Meta>(META_KEY)?
            .into_iter()
            .next()
            .unwrap_or_else(|| Meta {
                salt: format!("{}-{}", clock.now_ms(), std::process::id()),
                counter: 0,
            });
        let mut plans: BTreeMap<_, _> = store
            .load::<PlanRecord>(PLAN_PREFIX)?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let mut products = store
            .load::<ProductRecord>(PRODUCT_PREFIX)?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        let mut tasks = store
            .load::<TaskRecord>(TASK_PREFIX)?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let mut token_records = store.load::<TokenRecord>(TOKEN_PREFIX)?;
        let migrated = partition::place_unpartitioned(
            &settings.account_id,
            &mut plans,
            &mut products,
            &mut tasks,
            &mut token_records,
        );
        store.commit(migrated)?;
        let tokens = token_records
            .into_iter()
            .map(|t| ((t.partition, t.token), t.plan_id))
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
            scope: None,
        })
    }

    /// Runs `f` as a request of `partition`: it sees that partition's plans, products, tasks
    /// and tokens only, and what it makes goes there (`sandbox serve` answers each request
    /// within the partition of its face and region, the embedded provider within its own).
    pub fn within<T>(&mut self, partition: Partition, f: impl FnOnce(&mut Sandbox) -> T) -> T {
        let outer = self.scope.replace(partition);
        let answer = f(self);
        self.scope = outer;
        answer
    }

    /// The account the request being answered acts in, as ARNs and owners spell it: its
    /// partition's, else the sandbox's own (`aws_account_id` on the AWS face, `account_id`
    /// elsewhere).
    pub fn caller_account(&self) -> &str {
        match &self.scope {
            Some(p) => p.account().unwrap_or(if p.is_aws() {
                &self.settings.aws_account_id
            } else {
                &self.settings.account_id
            }),
            None => &self.settings.account_id,
        }
    }

    /// The partition what is made now goes to (`None`: unplaced, made by the owner directly).
    fn partition(&self) -> Option<Partition> {
        self.scope.clone()
    }

    /// Whether the request being answered sees a record of `partition` (one no plan could place,
    /// written before partitions, is seen from every partition, so nothing is lost).
    fn sees(&self, partition: &Option<Partition>) -> bool {
        match (&self.scope, partition) {
            (Some(s), Some(p)) => s == p,
            _ => true,
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// What answers settle with before they go out, outside the sandbox's mutex: every
    /// mutation is queued in the store and durable once settled (`None`: a memory store).
    pub fn durability(&self) -> Option<crate::store::Durability> {
        self.store.durability()
    }

    /// The injected clock, for the server's rate limit.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The only portfolio holding `product_id`, if exactly one does.
    fn default_portfolio<'a>(&'a self, product_id: &'a str) -> Option<&'a Portfolio> {
        let mut ps = self.catalog.portfolios_of(product_id);
        let first = ps.next();
        if ps.next().is_some() {
            None
        } else {
            first
        }
    }

    /// The portfolio a plan reports: the one the request named, or on Alibaba the product's
    /// default launch option (the AWS face reports only a PathId it was given).
    fn portfolio_answered(
        &self,
        given: Option<String>,
        product_id: &str,
        aws: bool,
    ) -> Option<String> {
        match given {
            None if !aws => self.default_portfolio(product_id).map(|p| p.id.clone()),
            given => given,
        }
    }

    /// The plan's portfolio: the one it names, or the product's only one.
    fn portfolio_for<'a>(&'a self, plan: &'a PlanRecord) -> Option<&'a Portfolio> {
        match &plan.portfolio_id {
            Some(id) => self.catalog.portfolio(id),
            None => self.default_portfolio(&plan.product_id),
        }
    }

    fn active_product_named(&self, name: &str) -> Option<&ProductRecord> {
        self.products
            .values()
            .find(|p| !p.terminated && p.name == name && self.sees(&p.partition))
    }

    /// Stores `plan` and keeps it, with its timed step.
    fn put_plan(&mut self, plan: PlanRecord, mut writes: Vec<Write>) -> Result<(), SandboxError> {
        writes.push(plan_write(&plan));
        self.store.commit(writes)?;
        self.schedule(&plan);
        self.plans.insert(plan.id.clone(), plan);
        Ok(())
    }

    /// `CreateProvisionedProductPlan`: a new plan in `PreviewInProgress`, or the plan an earlier
    /// request with the same idempotency token created.
    pub fn create_plan(&mut self, req: CreatePlan) -> Result<PlanRecord, SandboxError> {
        self.advance()?;
        let partition = self.partition();
        if let Some(token) = &req.idempotency_token {
            if let Some(existing) = self
                .tokens
                .get(&(partition.clone(), token.clone()))
                .and_then(|id| self.plans.get(id))
            {
                return Ok(existing.clone());
            }
        }
        validation::check_create(&req)?;
        validation::check_inputs(
            &PlanInputs {
                product_id: &req.product_id,
                version_id: &req.product_version_id,
                portfolio_id: req.portfolio_id.as_deref(),
                description: req.description.as_deref(),
                parameters: &req.parameters,
                tags: &req.tags,
                aws: req.aws,
            },
            &self.catalog,
        )?;
        let op = validation::operation_type(req.operation_type.as_deref())?;
        // A plan for an existing product names its stack from the start (the seed's example
        // shows StackId on a plan that is only previewed); a launch gets one when it executes.
        let stack_id = match op {
            OperationType::LaunchProduct => None,
            _ => self
                .active_product_named(&req.provisioned_product_name)
                .map(|pp| pp.stack_id.clone()),
        };
        // Alibaba answers with the portfolio the plan launches through, also when the request
        // left it to the product's default launch option.
        let portfolio_id = self.portfolio_answered(req.portfolio_id, &req.product_id, req.aws);
        let pp_id = match (op, self.active_product_named(&req.provisioned_product_name)) {
            (OperationType::LaunchProduct, Some(pp)) => return Err(duplicate_name(pp)),
            (OperationType::LaunchProduct, None) => self.next_id("pp", partition.as_ref()),
            (_, Some(pp)) => pp.id.clone(),
            (_, None) => {
                return Err(SandboxError::new(
                    404,
                    "InvalidProvisionedProduct.NotFound",
                    format!(
                        "No product instance named {:?} exists.",
                        req.provisioned_product_name
                    ),
                ))
            }
        };
        let now = self.now_ms();
        let id = self.next_id("plan", partition.as_ref());
        let mut plan = PlanRecord {
            id: id.clone(),
            seq: self.meta.counter,
            name: req.name,
            description: req.description,
            operation_type: op,
            status: PlanStatus::PreviewInProgress,
            status_message: None,
            portfolio_id,
            product_id: req.product_id,
            product_version_id: req.product_version_id,
            provisioned_product_id: pp_id,
            provisioned_product_name: req.provisioned_product_name,
            stack_region_id: req.stack_region_id,
            stack_id,
            parameters: req.parameters,
            tags: req.tags,
            notification_arns: req.notification_arns,
            create_ms: now,
            update_ms: now,
            due: None,
            approvers: vec![],
            records: vec![],
            resource_changes: vec![],
            idempotency_token: req.idempotency_token.clone(),
            execute_token: None,
            owner: req
                .owner
                .clone()
                .unwrap_or_else(|| self.settings.account_id.clone()),
            aws: req.aws,
            partition: partition.clone(),
        };
        self.start_preview(&mut plan, now);
        let mut writes = Vec::new();
        if let Some(token) = req.idempotency_token {
            writes.push(token_write(&TokenRecord {
                token: token.clone(),
                plan_id: id.clone(),
                partition: partition.clone(),
            }));
            self.tokens.insert((partition, token), id.clone());
        }
        writes.push(meta_write(&self.meta));
        self.put_plan(plan, writes)?;
        self.advance()?;
        Ok(self.plans[&id].clone())
    }

    pub fn get_plan(&mut self, id: &str) -> Result<PlanRecord, SandboxError> {
        self.advance()?;
        if id.is_empty() {
            return Err(SandboxError::missing("PlanId"));
        }
        self.plans
            .get(id)
            .filter(|p| self.sees(&p.partition))
            .cloned()
            .ok_or_else(|| SandboxError::plan_not_found(id))
    }

    /// `UpdateProvisionedProductPlan`: new inputs and a new preview.
    pub fn update_plan(&mut self, req: UpdatePlan) -> Result<PlanRecord, SandboxError> {
        let mut plan = self.get_plan(&req.plan_id)?;
        if !status::allows_update(plan.status) {
            return Err(status::refuse(&plan, "UpdateProvisionedProductPlan"));
        }
        validation::check_inputs(
            &PlanInputs {
                product_id: &req.product_id,
                version_id: &req.product_version_id,
                portfolio_id: req.portfolio_id.as_deref(),
                description: req.description.as_deref(),
                parameters: &req.parameters,
                tags: &req.tags,
                aws: plan.aws,
            },
            &self.catalog,
        )?;
        let now = self.now_ms();
        plan.product_id = req.product_id;
        plan.product_version_id = req.product_version_id;
        plan.portfolio_id = self.portfolio_answered(req.portfolio_id, &plan.product_id, plan.aws);
        plan.description = req.description;
        plan.parameters = req.parameters;
        plan.tags = req.tags;
        self.start_preview(&mut plan, now);
        let id = plan.id.clone();
        self.put_plan(plan, vec![])?;
        self.advance()?;
        Ok(self.plans[&id].clone())
    }

    /// `ExecuteProvisionedProductPlan`: a previewed plan either waits for approval or starts
    /// executing; an approved one starts executing.
    pub fn execute_plan(&mut self, id: &str) -> Result<PlanRecord, SandboxError> {
        self.execute_plan_with_token(id, None)
    }

    /// `ExecuteProvisionedProductPlan` with AWS's idempotency token, remembered on the plan.
    pub fn execute_plan_with_token(
        &mut self,
        id: &str,
        token: Option<&str>,
    ) -> Result<PlanRecord, SandboxError> {
        let mut plan = self.get_plan(id)?;
        plan.execute_token = token.map(str::to_string);
        let now = self.now_ms();
        match plan.status {
            PlanStatus::PreviewSuccess => {
                if let Some(approvers) = self.needs_approval(&plan) {
                    Self::submit(&mut plan, approvers, now);
                    self.put_plan(plan.clone(), vec![])?;
                    return Ok(plan);
                }
            }
            PlanStatus::ApplicationApproved => {}
            _ => return Err(status::refuse(&plan, "ExecuteProvisionedProductPlan")),
        }
        // Names are unique: a launch whose name another plan has taken since this one was
        // made is refused as its creation would be now.
        if plan.operation_type == OperationType::LaunchProduct {
            if let Some(pp) = self.active_product_named(&plan.provisioned_product_name) {
                if pp.id != plan.provisioned_product_id {
                    return Err(duplicate_name(pp));
                }
            }
        }
        let mut writes = Vec::new();
        self.start_execution(&mut plan, now, &mut writes);
        self.store.commit(writes)?;
        self.schedule(&plan);
        self.plans.insert(plan.id.clone(), plan);
        self.advance()?;
        Ok(self.plans[id].clone())
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
        let approve = validation::approval_action(action)?;
        if plan.status != PlanStatus::ApplicationInProgress {
            return Err(status::refuse(&plan, "ApproveProvisionedProductPlan"));
        }
        if !plan.approvers.iter().any(|a| a == principal) {
            return Err(SandboxError::new(
                403,
                "Forbidden",
                format!(
                    "User not authorized to operate on the specified resource: {principal} is not an assigned approver of plan {id} ({}).",
                    plan.approvers.join(", ")
                ),
            ));
        }
        Self::review(&mut plan, approve, comment, principal, self.now_ms());
        self.put_plan(plan.clone(), vec![])?;
        Ok(plan)
    }

    /// `planform sandbox approve|reject`: the sandbox's owner acts as the plan's (first)
    /// assigned approver, whichever partition the plan is in.
    pub fn approve_as_assigned_approver(
        &mut self,
        id: &str,
        action: &str,
        comment: &str,
    ) -> Result<PlanRecord, SandboxError> {
        let plan = self.get_plan(id)?;
        let approver = plan.approvers.first().cloned().unwrap_or_default();
        match plan.partition.clone() {
            Some(p) => self.within(p, |sb| sb.approve_plan(id, action, comment, &approver)),
            None => self.approve_plan(id, action, comment, &approver),
        }
    }

    /// `CancelProvisionedProductPlan`: the owner withdraws a plan waiting for approval.
    pub fn cancel_plan(&mut self, id: &str) -> Result<PlanRecord, SandboxError> {
        let mut plan = self.get_plan(id)?;
        if plan.status != PlanStatus::ApplicationInProgress {
            return Err(status::refuse(&plan, "CancelProvisionedProductPlan"));
        }
        Self::withdraw(&mut plan, self.now_ms());
        self.put_plan(plan.clone(), vec![])?;
        Ok(plan)
    }

    /// `DeleteProvisionedProductPlan`, refused while a step is under way.
    pub fn delete_plan(&mut self, id: &str) -> Result<(), SandboxError> {
        let plan = self.get_plan(id)?;
        if plan.status.in_progress() {
            return Err(status::refuse(&plan, "DeleteProvisionedProductPlan"));
        }
        self.remove_plan(plan)
    }

    /// AWS `DeleteProvisionedProductPlan`, which models no state error: the plan goes whatever
    /// its status (in the sandbox, its pending preview or execution step goes with it).
    pub fn delete_plan_in_any_status(&mut self, id: &str) -> Result<(), SandboxError> {
        self.advance()?;
        let plan = self.get_plan(id)?;
        self.remove_plan(plan)
    }

    fn remove_plan(&mut self, plan: PlanRecord) -> Result<(), SandboxError> {
        let id = plan.id.as_str();
        let mut writes = vec![plan_delete(id)];
        if let Some(t) = &plan.idempotency_token {
            let partition = plan.partition.clone();
            writes.extend(token_delete(partition.as_ref(), t));
            self.tokens.remove(&(partition, t.clone()));
        }
        self.store.commit(writes)?;
        self.plans.remove(id);
        Ok(())
    }

    /// `ListProvisionedProductPlans`: filters, `CreateTime` sorting and pages, with the total.
    pub fn list_plans(&mut self, q: &ListPlans) -> Result<(Vec<PlanRecord>, usize), SandboxError> {
        self.advance()?;
        let statuses = validation::check_list(q)?;
        let account = self.caller_account().to_string();
        let mut matching: Vec<&PlanRecord> = self
            .plans
            .values()
            .filter(|p| self.sees(&p.partition))
            .filter(|p| {
                q.names.is_empty() || q.names.iter().any(|n| n.eq_ignore_ascii_case(&p.name))
            })
            .filter(|p| statuses.is_empty() || statuses.contains(&p.status))
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
            .filter(|p| {
                q.owner_uid
                    .as_ref()
                    .is_none_or(|u| *u == ids::principal_id_in(&p.owner, &account))
            })
            .filter(|p| q.owner.as_ref().is_none_or(|o| *o == p.owner))
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
            .skip(q.page_number.saturating_sub(1).saturating_mul(q.page_size))
            .take(q.page_size)
            .cloned()
            .collect();
        Ok((page, total))
    }

    pub fn provisioned_product(&mut self, id: &str) -> Result<ProductRecord, SandboxError> {
        self.advance()?;
        self.products
            .get(id)
            .filter(|p| !p.terminated && self.sees(&p.partition))
            .cloned()
            .ok_or_else(|| {
                SandboxError::new(
                    404,
                    "InvalidProvisionedProduct.NotFound",
                    format!("The specified product instance {id} does not exist."),
                )
            })
    }

    /// The plan made through the AWS face for the provisioned product `name`, if one exists
    /// (AWS allows one plan per provisioned product, whatever its status).
    pub fn aws_plan_for_product(&mut self, name: &str) -> Result<Option<PlanRecord>, SandboxError> {
        self.advance()?;
        Ok(self
            .plans
            .values()
            .find(|p| p.aws && p.provisioned_product_name == name && self.sees(&p.partition))
            .cloned())
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
            .filter(|p| !p.terminated && self.sees(&p.partition))
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
            .filter(|t| t.provisioned_product_id == pp_id && self.sees(&t.partition))
            .cloned()
            .collect();
        v.sort_by_key(|t| std::cmp::Reverse((t.create_ms, t.id.clone())));
        Ok(v)
    }

    /// `TerminateProvisionedProduct` (the direct, plan-less path): a task that removes the product.
    pub fn terminate_product(&mut self, pp_id: &str) -> Result<TaskRecord, SandboxError> {
        let mut pp = self.provisioned_product(pp_id)?;
        if pp.status == ProductStatus::UnderChange {
            return Err(SandboxError::new(
                400,
                "InvalidStatus.ProvisionedProduct",
                format!("The product instance {pp_id} is under change."),
            ));
        }
        let now = self.now_ms();
        let partition = pp.partition.clone();
        let task = TaskRecord {
            id: self.next_id("task", partition.as_ref()),
            task_type: OperationType::TerminateProvisionedProduct,
            status: TaskStatus::Succeeded,
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
            partition,
        };
        pp.terminated = true;
        pp.status = ProductStatus::Terminated;
        pp.last_task_id = Some(task.id.clone());
        self.store.commit(vec![
            task_write(&task),
            product_write(&pp),
            meta_write(&self.meta),
        ])?;
        self.tasks.insert(task.id.clone(), task.clone());
        self.products.insert(pp.id.clone(), pp);
        Ok(task)
    }

    pub fn task(&mut self, id: &str) -> Result<TaskRecord, SandboxError> {
        self.advance()?;
        self.tasks
            .get(id)
            .filter(|t| self.sees(&t.partition))
            .cloned()
            .ok_or_else(|| {
                SandboxError::new(
                    404,
                    "InvalidTask.NotFound",
                    format!("The specified task {id} does not exist."),
                )
            })
    }
}
