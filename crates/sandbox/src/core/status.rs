//! The status machine of wire/alibaba.md §7: the statuses of plans, provisioned products and
//! tasks, which transition each operation makes, and the timed steps (preview, execution) that
//! are due at a moment and applied lazily, by [`Sandbox::advance`], with the injected clock.

use std::fmt;

use planform_model::OperationType;
use serde::{Deserialize, Serialize};

use super::error::SandboxError;
use super::outputs::render_outputs;
use super::records::{
    plan_write, task_write, ApprovalAction, Due, Event, OperationRecord, PlanRecord, ProductRecord,
    ResourceChangeRecord, TaskRecord,
};
use super::{ids, validation, Sandbox};
use crate::store::Write;

/// A plan's status: the model's, stored and answered in Alibaba's spelling.
pub use planform_model::PlanStatus;

/// Alibaba's spelling only (the model also reads AWS's; the AWS face translates its own).
pub fn parse_alibaba(s: &str) -> Option<PlanStatus> {
    PlanStatus::ALL.into_iter().find(|p| p.as_str() == s)
}

/// `UpdateProvisionedProductPlan` may start a new preview from here.
pub fn allows_update(status: PlanStatus) -> bool {
    matches!(
        status,
        PlanStatus::PreviewSuccess
            | PlanStatus::PreviewFailed
            | PlanStatus::ApplicationRejected
            | PlanStatus::Canceled
            | PlanStatus::ExecuteFailed
    )
}

/// A provisioned product's status, in Alibaba's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProductStatus {
    UnderChange,
    Available,
    Error,
    Terminated,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::UnderChange => "UnderChange",
            ProductStatus::Available => "Available",
            ProductStatus::Error => "Error",
            ProductStatus::Terminated => "Terminated",
        }
    }
}

impl fmt::Display for ProductStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ProductStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A task's status, in Alibaba's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskStatus {
    InProgress,
    Succeeded,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::InProgress => "InProgress",
            TaskStatus::Succeeded => "Succeeded",
            TaskStatus::Failed => "Failed",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for TaskStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Refuses `action` on a plan whose status does not allow it.
pub(super) fn refuse(plan: &PlanRecord, action: &str) -> SandboxError {
    SandboxError::invalid_status(&plan.id, plan.status.as_str(), action)
}

impl Sandbox {
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

    /// Enters `PreviewInProgress`; the preview is due `preview_ms` later. The caller commits the
    /// plan and then calls [`Sandbox::schedule`].
    pub(super) fn start_preview(&self, plan: &mut PlanRecord, now: u64) {
        plan.status = PlanStatus::PreviewInProgress;
        plan.status_message = None;
        plan.update_ms = now;
        plan.due = Some(Due {
            at_ms: now + self.settings.preview_ms,
            event: Event::PreviewDone,
        });
    }

    /// Remembers the plan's timed step, once the plan is stored.
    pub(super) fn schedule(&mut self, plan: &PlanRecord) {
        if let Some(due) = &plan.due {
            self.due.insert((due.at_ms, plan.id.clone()));
        }
    }

    /// The preview's outcome: `PreviewFailed` with the first problem, or `PreviewSuccess` with
    /// the resource changes the execution would make.
    fn finish_preview(&mut self, mut plan: PlanRecord, at: u64) -> Vec<Write> {
        plan.due = None;
        plan.update_ms = at;
        let version = self
            .catalog
            .version(&plan.product_id, &plan.product_version_id)
            .cloned();
        let problem = version
            .as_ref()
            .and_then(|v| validation::preview_problem(&plan, v, self.portfolio_for(&plan)));
        match problem {
            Some(msg) => {
                plan.status = PlanStatus::PreviewFailed;
                plan.status_message = Some(msg);
                plan.resource_changes.clear();
            }
            None => {
                plan.status = PlanStatus::PreviewSuccess;
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
                                let physical = existing
                                    .map(|pp| ids::stable_id(&pp.id, &r.logical_id.to_lowercase()));
                                let (action, replacement) = match plan.operation_type {
                                    OperationType::TerminateProvisionedProduct => ("Remove", None),
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
        let w = plan_write(&plan);
        self.plans.insert(plan.id.clone(), plan);
        vec![w]
    }

    /// The approvers a plan must wait for before it executes, if its portfolio asks for approval.
    pub(super) fn needs_approval(&self, plan: &PlanRecord) -> Option<Vec<String>> {
        if plan.aws {
            return None;
        }
        let p = self.portfolio_for(plan)?;
        p.approval_operation_types
            .iter()
            .any(|t| t == plan.operation_type.as_str())
            .then(|| p.approvers.clone())
    }

    /// `PreviewSuccess` → `ApplicationInProgress`: the owner submits the plan to `approvers`.
    pub(super) fn submit(plan: &mut PlanRecord, approvers: Vec<String>, now: u64) {
        plan.status = PlanStatus::ApplicationInProgress;
        plan.approvers = approvers;
        plan.records.push(OperationRecord {
            action: ApprovalAction::Submit,
            comment: String::new(),
            principal: plan.owner.clone(),
            time_ms: now,
        });
        plan.update_ms = now;
    }

    /// `ApplicationInProgress` → `ApplicationApproved` or `ApplicationRejected`.
    pub(super) fn review(
        plan: &mut PlanRecord,
        approve: bool,
        comment: &str,
        principal: &str,
        now: u64,
    ) {
        let (status, action) = if approve {
            (PlanStatus::ApplicationApproved, ApprovalAction::Approve)
        } else {
            (PlanStatus::ApplicationRejected, ApprovalAction::Reject)
        };
        plan.status = status;
        plan.records.push(OperationRecord {
            action,
            comment: comment.into(),
            principal: principal.into(),
            time_ms: now,
        });
        plan.update_ms = now;
    }

    /// `ApplicationInProgress` → `Canceled`: the owner withdraws the plan.
    pub(super) fn withdraw(plan: &mut PlanRecord, now: u64) {
        plan.status = PlanStatus::Canceled;
        plan.records.push(OperationRecord {
            action: ApprovalAction::Cancel,
            comment: String::new(),
            principal: plan.owner.clone(),
            time_ms: now,
        });
        plan.update_ms = now;
    }

    /// Enters `ExecuteInProgress`: starts a task and marks the provisioned product (created
    /// here for a launch) `UnderChange`. The execution is due `execute_ms` later.
    pub(super) fn start_execution(
        &mut self,
        plan: &mut PlanRecord,
        now: u64,
        writes: &mut Vec<Write>,
    ) {
        plan.status = PlanStatus::ExecuteInProgress;
        plan.update_ms = now;
        plan.due = Some(Due {
            at_ms: now + self.settings.execute_ms,
            event: Event::ExecuteDone,
        });
        let partition = plan.partition.clone();
        let task_id = self.next_id("task", partition.as_ref());
        let mut pp = self
            .products
            .get(&plan.provisioned_product_id)
            .cloned()
            .unwrap_or_else(|| ProductRecord {
                id: plan.provisioned_product_id.clone(),
                seq: self.meta.counter,
                name: plan.provisioned_product_name.clone(),
                status: ProductStatus::UnderChange,
                status_message: None,
                product_id: plan.product_id.clone(),
                product_version_id: plan.product_version_id.clone(),
                portfolio_id: plan.portfolio_id.clone(),
                stack_id: ids::stack_id(&plan.provisioned_product_id),
                stack_region_id: plan.stack_region_id.clone(),
                parameters: plan.parameters.clone(),
                outputs: vec![],
                last_task_id: None,
                last_provisioning_task_id: None,
                last_successful_task_id: None,
                create_ms: now,
                terminated: false,
                partition: partition.clone(),
                owner: plan.owner.clone(),
            });
        pp.status = ProductStatus::UnderChange;
        pp.last_task_id = Some(task_id.clone());
        if plan.operation_type != OperationType::TerminateProvisionedProduct {
            pp.last_provisioning_task_id = Some(task_id.clone());
        }
        let task = TaskRecord {
            id: task_id.clone(),
            task_type: plan.operation_type,
            status: TaskStatus::InProgress,
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
            partition,
        };
        writes.push(task_write(&task));
        writes.push(super::records::product_write(&pp));
        writes.push(plan_write(plan));
        writes.push(super::records::meta_write(&self.meta));
        self.tasks.insert(task_id, task);
        self.products.insert(pp.id.clone(), pp);
    }

    /// The execution's outcome: `ExecuteFailed` when the version's failure rule matches the
    /// parameters, else `ExecuteSuccess`, with the product and its task following along.
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
        match (&failure, plan.operation_type) {
            (Some(msg), _) => {
                plan.status = PlanStatus::ExecuteFailed;
                plan.status_message = Some(msg.clone());
                if let Some(pp) = pp.as_mut() {
                    pp.status = ProductStatus::Error;
                    pp.status_message = Some(msg.clone());
                }
            }
            (None, OperationType::TerminateProvisionedProduct) => {
                plan.status = PlanStatus::ExecuteSuccess;
                if let Some(pp) = pp.as_mut() {
                    pp.terminated = true;
                    pp.status = ProductStatus::Terminated;
                }
            }
            (None, _) => {
                plan.status = PlanStatus::ExecuteSuccess;
                if let (Some(pp), Some(v)) = (pp.as_mut(), version.as_ref()) {
                    pp.status = ProductStatus::Available;
                    pp.status_message = None;
                    pp.product_id = plan.product_id.clone();
                    pp.product_version_id = plan.product_version_id.clone();
                    pp.portfolio_id = plan.portfolio_id.clone();
                    pp.parameters = plan.parameters.clone();
                    pp.outputs = render_outputs(&pp.id, v, &plan.parameters);
                    pp.last_successful_task_id = task_id.clone();
                }
            }
        }
        if let Some(pp) = pp {
            plan.stack_id = Some(pp.stack_id.clone());
            if let Some(tid) = &task_id {
                if let Some(t) = self.tasks.get_mut(tid) {
                    t.status = if failure.is_some() {
                        TaskStatus::Failed
                    } else {
                        TaskStatus::Succeeded
                    };
                    t.status_message = failure.clone();
                    t.outputs = if failure.is_some() {
                        vec![]
                    } else {
                        pp.outputs.clone()
                    };
                    t.update_ms = at;
                    writes.push(task_write(t));
                }
            }
            writes.push(super::records::product_write(&pp));
            self.products.insert(pp.id.clone(), pp);
        }
        writes.push(plan_write(&plan));
        self.plans.insert(plan.id.clone(), plan);
        writes
    }
}
