//! The records the sandbox stores in redb, one JSON document per key. Their serialized form is
//! the database format: an existing `sandbox.redb` must load unchanged, so every field keeps the
//! spelling it was first written with (the typed statuses serialize as the cloud's words).

use planform_model::OperationType;
use serde::{Deserialize, Serialize};

use super::partition::Partition;
use super::status::{PlanStatus, ProductStatus, TaskStatus};
use crate::store::{encode, Write};

/// A timed step of the status machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    PreviewDone,
    ExecuteDone,
}

/// The timed step a plan waits for, and when it is due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Due {
    pub at_ms: u64,
    pub event: Event,
}

/// What a reviewer or the owner did to a plan in the approval flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApprovalAction {
    Submit,
    Approve,
    /// Alibaba writes a rejection in lower case.
    #[serde(rename = "reject")]
    Reject,
    Cancel,
}

impl ApprovalAction {
    /// The spelling the Alibaba API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalAction::Submit => "Submit",
            ApprovalAction::Approve => "Approve",
            ApprovalAction::Reject => "reject",
            ApprovalAction::Cancel => "Cancel",
        }
    }
}

/// One step of a plan's approval history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRecord {
    pub action: ApprovalAction,
    pub comment: String,
    pub principal: String,
    pub time_ms: u64,
}

/// One row of a plan's preview.
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
    #[serde(with = "operation_type")]
    pub operation_type: OperationType,
    #[serde(with = "plan_status")]
    pub status: PlanStatus,
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
    /// The token of the (AWS) execute request that started its execution: a repeat with the
    /// same token gets the first answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_token: Option<String>,
    pub owner: String,
    /// Created through the AWS face: AWS tag rules, no approval step.
    #[serde(default)]
    pub aws: bool,
    /// The face and region it was made through; `None` in a record written before the sandbox
    /// kept partitions (see `Sandbox::new` for where those go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
}

/// A provisioned product (Alibaba: product instance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductRecord {
    pub id: String,
    pub seq: u64,
    pub name: String,
    pub status: ProductStatus,
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
    /// The face and region it was made through; `None` in a record written before the sandbox
    /// kept partitions (see `Sandbox::new` for where those go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// The principal whose plan launched it (as [`PlanRecord::owner`]); empty in a record
    /// written before the sandbox kept it: then the account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

/// A task (AWS: record): one execution against a provisioned product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    #[serde(with = "operation_type")]
    pub task_type: OperationType,
    pub status: TaskStatus,
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
    /// The face and region it was made through; `None` in a record written before the sandbox
    /// kept partitions (see `Sandbox::new` for where those go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
}

/// The sandbox's own bookkeeping: the salt and counter its identifiers are drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Meta {
    pub salt: String,
    pub counter: u64,
}

/// Which plan an idempotency token created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TokenRecord {
    pub token: String,
    pub plan_id: String,
    /// The face and region it was made through; `None` in a record written before the sandbox
    /// kept partitions (see `Sandbox::new` for where those go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
}

/// The key prefixes of the record kinds.
pub(super) const META_KEY: &str = "meta";
pub(super) const PLAN_PREFIX: &str = "plan/";
pub(super) const PRODUCT_PREFIX: &str = "pp/";
pub(super) const TASK_PREFIX: &str = "task/";
pub(super) const TOKEN_PREFIX: &str = "token/";

pub(super) fn meta_write(meta: &Meta) -> Write {
    encode(META_KEY.into(), meta)
}

pub(super) fn plan_write(p: &PlanRecord) -> Write {
    encode(format!("{PLAN_PREFIX}{}", p.id), p)
}

pub(super) fn plan_delete(id: &str) -> Write {
    (format!("{PLAN_PREFIX}{id}"), None)
}

pub(super) fn product_write(p: &ProductRecord) -> Write {
    encode(format!("{PRODUCT_PREFIX}{}", p.id), p)
}

pub(super) fn task_write(t: &TaskRecord) -> Write {
    encode(format!("{TASK_PREFIX}{}", t.id), t)
}

/// A token's key: tokens are per partition (`token/<partition>/<token>`); one written before
/// partitions has the key `token/<token>`.
fn token_key(partition: Option<&Partition>, token: &str) -> String {
    match partition {
        Some(p) => format!("{TOKEN_PREFIX}{p}/{token}"),
        None => format!("{TOKEN_PREFIX}{token}"),
    }
}

pub(super) fn token_write(t: &TokenRecord) -> Write {
    encode(token_key(t.partition.as_ref(), &t.token), t)
}

/// Deletes the token under both spellings of its key (today's and the one before partitions).
pub(super) fn token_delete(partition: Option<&Partition>, token: &str) -> [Write; 2] {
    [
        (token_key(partition, token), None),
        (token_key(None, token), None),
    ]
}

/// Stores `planform_model::OperationType` as its wire spelling (`LaunchProduct`, …); the model
/// type does not derive serde, as domain types never do.
/// A plan's status as stored: Alibaba's spelling.
pub(super) mod plan_status {
    use planform_model::PlanStatus;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(status: &PlanStatus, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(status.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PlanStatus, D::Error> {
        let s = String::deserialize(d)?;
        super::super::status::parse_alibaba(&s)
            .ok_or_else(|| D::Error::custom(format!("unknown plan status {s:?}")))
    }
}

mod operation_type {
    use planform_model::OperationType;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(op: &OperationType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(op.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OperationType, D::Error> {
        let s = String::deserialize(d)?;
        OperationType::parse(&s)
            .ok_or_else(|| D::Error::custom(format!("unknown operation type {s:?}")))
    }
}

#[cfg(test)]
mod tests;
