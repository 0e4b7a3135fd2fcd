//! Why a change failed to apply, typed: a provider error keeps its kind and whether the request
//! may have been sent; the others name the plan and the phase that went wrong.

use std::time::Duration;

use planform_model::{PlanStatus, ProviderError, ProviderRef};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The cloud refused or failed a request (already retried by the client where retryable).
    #[error("{0}")]
    Provider(#[from] ProviderError),
    #[error("provider {0} is not configured")]
    NotConfigured(ProviderRef),
    /// The change set does not hold what this step needs (a plan file edited by hand).
    #[error("no live plan to {0}")]
    NoLivePlan(&'static str),
    #[error("nothing to send")]
    NothingToSend,
    #[error("{reference} is still unknown after its plan ran (is the output name right?)")]
    Unresolved { reference: String },
    /// A wait ran out; `phase` is what was waited for.
    #[error("{}", timed_out(phase, plan_id, *status, *after))]
    TimedOut {
        phase: Phase,
        plan_id: String,
        status: PlanStatus,
        after: Duration,
    },
    #[error("preview failed: {message}")]
    PreviewFailed { message: String },
    #[error("the approval of {plan_id} was rejected")]
    Rejected { plan_id: String },
    #[error("{plan_id} left review as {status}")]
    LeftReview { plan_id: String, status: PlanStatus },
    #[error("execution ended {status}: {message}")]
    ExecutionFailed { status: PlanStatus, message: String },
    #[error("{product} was not terminated within {}s", after.as_secs())]
    NotTerminated { product: String, after: Duration },
    /// Apply was interrupted: `what` says where the change stopped (waiting for a plan, which
    /// goes on in the cloud: the state holds it and the next run picks it up; or before a request
    /// it therefore did not make). Reported as [`crate::Outcome::Interrupted`].
    #[error("{what}: {why} (the next apply picks it up)")]
    Interrupted { what: String, why: &'static str },
    /// The diff found nothing that can be done until the manifests change.
    #[error("{0}")]
    Blocked(String),
}

/// What a wait was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A running operation of a plan found busy at plan time.
    Running,
    Preview,
    Execution,
}

fn timed_out(phase: &Phase, plan_id: &str, status: PlanStatus, after: Duration) -> String {
    let secs = after.as_secs();
    match phase {
        Phase::Running => format!("{plan_id} still {status} after {secs}s"),
        Phase::Preview => format!("preview of {plan_id} did not finish within {secs}s"),
        Phase::Execution => format!("execution of {plan_id} did not finish within {secs}s"),
    }
}
