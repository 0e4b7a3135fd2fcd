//! The provider interface: what the engine needs from a cloud (or the sandbox), in one
//! provider-agnostic shape, and the typed errors every backend returns.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::PlanInputs;

/// A plan's status, normalised over Alibaba's ten and AWS's six values. The cloud's own
/// spelling is kept beside it in [`LivePlan::raw_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PlanStatus {
    PreviewInProgress,
    PreviewSuccess,
    PreviewFailed,
    ApplicationInProgress,
    ApplicationApproved,
    ApplicationRejected,
    ExecuteInProgress,
    ExecuteSuccess,
    ExecuteFailed,
    Canceled,
}

impl PlanStatus {
    pub const ALL: [PlanStatus; 10] = [
        PlanStatus::PreviewInProgress,
        PlanStatus::PreviewSuccess,
        PlanStatus::PreviewFailed,
        PlanStatus::ApplicationInProgress,
        PlanStatus::ApplicationApproved,
        PlanStatus::ApplicationRejected,
        PlanStatus::ExecuteInProgress,
        PlanStatus::ExecuteSuccess,
        PlanStatus::ExecuteFailed,
        PlanStatus::Canceled,
    ];

    /// Alibaba's spelling, which is also planform's.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::PreviewInProgress => "PreviewInProgress",
            PlanStatus::PreviewSuccess => "PreviewSuccess",
            PlanStatus::PreviewFailed => "PreviewFailed",
            PlanStatus::ApplicationInProgress => "ApplicationInProgress",
            PlanStatus::ApplicationApproved => "ApplicationApproved",
            PlanStatus::ApplicationRejected => "ApplicationRejected",
            PlanStatus::ExecuteInProgress => "ExecuteInProgress",
            PlanStatus::ExecuteSuccess => "ExecuteSuccess",
            PlanStatus::ExecuteFailed => "ExecuteFailed",
            PlanStatus::Canceled => "Canceled",
        }
    }

    /// Parses Alibaba's spelling or AWS's (`CREATE_SUCCESS` …).
    pub fn parse(s: &str) -> Option<PlanStatus> {
        if let Some(p) = Self::ALL.into_iter().find(|p| p.as_str() == s) {
            return Some(p);
        }
        Some(match s {
            "CREATE_IN_PROGRESS" => PlanStatus::PreviewInProgress,
            "CREATE_SUCCESS" => PlanStatus::PreviewSuccess,
            "CREATE_FAILED" => PlanStatus::PreviewFailed,
            "EXECUTE_IN_PROGRESS" => PlanStatus::ExecuteInProgress,
            "EXECUTE_SUCCESS" => PlanStatus::ExecuteSuccess,
            "EXECUTE_FAILED" => PlanStatus::ExecuteFailed,
            _ => return None,
        })
    }

    /// AWS's spelling, where AWS has one.
    pub fn as_aws(self) -> Option<&'static str> {
        Some(match self {
            PlanStatus::PreviewInProgress => "CREATE_IN_PROGRESS",
            PlanStatus::PreviewSuccess => "CREATE_SUCCESS",
            PlanStatus::PreviewFailed => "CREATE_FAILED",
            PlanStatus::ExecuteInProgress => "EXECUTE_IN_PROGRESS",
            PlanStatus::ExecuteSuccess => "EXECUTE_SUCCESS",
            PlanStatus::ExecuteFailed => "EXECUTE_FAILED",
            _ => return None,
        })
    }

    /// Ended without doing what it was for: its preview failed, its review rejected it, or its
    /// execution failed.
    pub fn failed(self) -> bool {
        matches!(
            self,
            PlanStatus::PreviewFailed | PlanStatus::ApplicationRejected | PlanStatus::ExecuteFailed
        )
    }

    pub fn in_progress(self) -> bool {
        matches!(
            self,
            PlanStatus::PreviewInProgress
                | PlanStatus::ApplicationInProgress
                | PlanStatus::ExecuteInProgress
        )
    }
}

impl fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plan does when executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OperationType {
    LaunchProduct,
    UpdateProvisionedProduct,
    TerminateProvisionedProduct,
}

impl OperationType {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationType::LaunchProduct => "LaunchProduct",
            OperationType::UpdateProvisionedProduct => "UpdateProvisionedProduct",
            OperationType::TerminateProvisionedProduct => "TerminateProvisionedProduct",
        }
    }

    pub fn parse(s: &str) -> Option<OperationType> {
        [
            Self::LaunchProduct,
            Self::UpdateProvisionedProduct,
            Self::TerminateProvisionedProduct,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// A plan as the cloud reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlan {
    pub id: String,
    pub inputs: PlanInputs,
    pub operation_type: OperationType,
    pub status: PlanStatus,
    pub raw_status: String,
    pub status_message: Option<String>,
    pub provisioned_product_id: Option<String>,
    pub stack_id: Option<String>,
    pub create_time: String,
    pub update_time: String,
}

/// One row of a plan's preview (`ResourceChanges`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceChange {
    pub action: String,
    pub logical_resource_id: String,
    pub physical_resource_id: Option<String>,
    pub resource_type: String,
    pub replacement: Option<String>,
}

/// A provisioned product (Alibaba "product instance").
#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionedProduct {
    pub id: String,
    pub name: String,
    pub status: String,
    pub status_message: Option<String>,
    pub stack_id: Option<String>,
    pub product_id: String,
    pub product_version_id: String,
    pub outputs: BTreeMap<String, String>,
}

/// The request to create a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPlan {
    pub inputs: PlanInputs,
    pub operation_type: OperationType,
    /// Makes a repeated create return the first answer (AWS `IdempotencyToken`; the sandbox
    /// honours it on both faces).
    pub idempotency_token: String,
}

/// The request to update a plan in place (Alibaba only).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanUpdate {
    pub plan_id: String,
    pub inputs: PlanInputs,
}

/// Narrows a plan listing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanFilter {
    pub name: Option<String>,
    pub statuses: Vec<PlanStatus>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_count: usize,
}

/// Whether a failed request may have reached the cloud: decides between retrying and looking first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    No,
    Maybe,
    Yes,
}

/// What kind of failure a provider error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Throttled { retry_after: Option<Duration> },
    Transient,
    NotFound,
    Invalid,
    Conflict,
    Auth,
}

impl ErrorKind {
    pub fn retryable(&self) -> bool {
        matches!(self, ErrorKind::Throttled { .. } | ErrorKind::Transient)
    }
}

/// A typed provider error that keeps the cloud's code, message and request id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}{}", request_id.as_deref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub sent: Sent,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

impl ProviderError {
    pub fn new(
        kind: ErrorKind,
        sent: Sent,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ProviderError {
        ProviderError {
            kind,
            sent,
            code: code.into(),
            message: message.into(),
            request_id: None,
        }
    }

    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorKind::NotFound, Sent::Yes, code, message)
    }

    pub fn invalid(code: impl Into<String>, message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorKind::Invalid, Sent::Yes, code, message)
    }

    pub fn conflict(code: impl Into<String>, message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorKind::Conflict, Sent::Yes, code, message)
    }
}

/// How a provider terminates a launched product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TerminateVia {
    /// A `TerminateProvisionedProduct` plan, previewed and executed (Alibaba, the sandbox).
    Plan,
    /// A direct `TerminateProvisionedProduct` call (AWS has no terminate plan).
    Direct,
}

/// What a provider can do: the facts the diff needs to decide each change completely, so the
/// executor never asks the provider how to carry a change out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capabilities {
    /// A plan's inputs can be updated in place (Alibaba `UpdateProvisionedProductPlan`).
    pub update_in_place: bool,
    pub terminate_via: TerminateVia,
    /// One list page carries full plan details, so a list call can answer many waiting plans.
    pub lists_with_details: bool,
    /// Plans have a stack region (Alibaba `StackRegionId`; AWS has none).
    pub stack_regions: bool,
    /// A provisioned product has at most one plan (AWS: "you can create one plan per
    /// provisioned product", executed plans included), so a product's earlier plan is deleted
    /// before a new one is made for it.
    pub one_plan_per_product: bool,
}

impl Capabilities {
    /// Alibaba Cloud Service Catalog (and the sandbox, which emulates it by default).
    pub const ALIBABA: Capabilities = Capabilities {
        update_in_place: true,
        terminate_via: TerminateVia::Plan,
        lists_with_details: true,
        stack_regions: true,
        one_plan_per_product: false,
    };
    /// AWS Service Catalog.
    pub const AWS: Capabilities = Capabilities {
        update_in_place: false,
        terminate_via: TerminateVia::Direct,
        lists_with_details: false,
        stack_regions: false,
        one_plan_per_product: true,
    };

    /// What the API a provider kind speaks can do; used where the live service is not at hand
    /// (a diff made without providers, as the engine's pure tests do).
    pub fn of(kind: crate::ProviderKind) -> Capabilities {
        match kind {
            crate::ProviderKind::Aws => Capabilities::AWS,
            crate::ProviderKind::Alibaba | crate::ProviderKind::Sandbox => Capabilities::ALIBABA,
        }
    }
}

/// What the engine needs from a cloud. Implemented by the sandbox (embedded) and the HTTP clients.
#[async_trait::async_trait]
pub trait PlanService: Send + Sync {
    /// One page (1-based) of plans, at most `page_size` long, newest first.
    async fn list_plans(
        &self,
        filter: &PlanFilter,
        page: usize,
        page_size: usize,
    ) -> Result<Page<LivePlan>, ProviderError>;
    async fn get_plan(&self, plan_id: &str) -> Result<LivePlan, ProviderError>;
    async fn create_plan(&self, request: &NewPlan) -> Result<LivePlan, ProviderError>;
    async fn update_plan(&self, request: &PlanUpdate) -> Result<LivePlan, ProviderError>;
    async fn execute_plan(&self, plan_id: &str) -> Result<(), ProviderError>;
    async fn cancel_plan(&self, plan_id: &str) -> Result<(), ProviderError>;
    async fn delete_plan(&self, plan_id: &str) -> Result<(), ProviderError>;
    async fn resource_changes(&self, plan_id: &str) -> Result<Vec<ResourceChange>, ProviderError>;
    /// The provisioned product named `name`, if one exists.
    async fn find_provisioned_product(
        &self,
        name: &str,
    ) -> Result<Option<ProvisionedProduct>, ProviderError>;
    /// A provisioned product with its outputs.
    async fn provisioned_product(&self, id: &str) -> Result<ProvisionedProduct, ProviderError>;
    /// The provisioned products among `names` that exist, by name. One lookup per name unless
    /// the provider can answer many names with fewer requests (a listing).
    async fn find_provisioned_products(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, ProvisionedProduct>, ProviderError> {
        let mut found = BTreeMap::new();
        for name in names {
            if let Some(p) = self.find_provisioned_product(name).await? {
                found.insert(name.clone(), p);
            }
        }
        Ok(found)
    }
    /// The outputs of a provisioned product's last successful provisioning, in as few requests
    /// as the provider allows (what [`PlanService::provisioned_product`] reads, outputs only).
    async fn product_outputs(&self, id: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        Ok(self.provisioned_product(id).await?.outputs)
    }
    /// What this provider can do; the diff decides each change from it.
    fn capabilities(&self) -> Capabilities;
    /// Where this service keeps its plans (`alibaba cn-hangzhou`, `aws us-east-1 at
    /// http://127.0.0.1:9000`): a plan made here is found nowhere else, so the state remembers it
    /// and the provider pointed elsewhere is refused rather than taken for an empty cloud. Two
    /// endpoints of one region (public and VPC) are one location.
    fn location(&self) -> String;
    /// The account this service's credentials act in (Alibaba STS `GetCallerIdentity`'s
    /// `AccountId`, AWS STS `GetCallerIdentity`'s `Account`, the embedded sandbox's configured
    /// account). A plan made in one account is found in no other, so the state remembers it
    /// beside the location, and credentials of another account are refused rather than taken
    /// for an empty cloud. Asked only by commands that read the cloud; a client asks its STS
    /// once and keeps the answer for the run.
    async fn account(&self) -> Result<String, ProviderError>;
    /// Terminates the product named `name` directly; `token` makes a repeat harmless.
    async fn terminate_product(&self, name: &str, token: &str) -> Result<(), ProviderError> {
        let _ = token;
        Err(ProviderError::new(
            ErrorKind::Invalid,
            Sent::No,
            "UnsupportedOperation",
            format!("{name}: this provider terminates products through plans"),
        ))
    }
}
