//! The sandbox's API error: the code, message and HTTP status the cloud would answer, with the
//! constructors for the errors many operations share.

use crate::store::StoreError;

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

    /// `Missing{param}`: a mandatory parameter is absent or empty.
    pub(super) fn missing(param: &str) -> SandboxError {
        SandboxError::new(
            400,
            format!("Missing{param}"),
            format!("{param} is mandatory for this action."),
        )
    }

    /// `Invalid{param}`: a parameter breaks a rule.
    pub(super) fn invalid(param: &str, why: impl std::fmt::Display) -> SandboxError {
        SandboxError::new(
            400,
            format!("Invalid{param}"),
            format!("Specified parameter {param} is not valid: {why}"),
        )
    }

    pub(super) fn plan_not_found(id: &str) -> SandboxError {
        SandboxError::new(
            404,
            "InvalidProvisionedProductPlan.NotFound",
            format!("The specified plan {id} does not exist."),
        )
    }

    pub(super) fn invalid_status(id: &str, status: &str, action: &str) -> SandboxError {
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
