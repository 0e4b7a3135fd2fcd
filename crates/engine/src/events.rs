//! Progress events from `apply`, rendered by the CLI (text or JSON) through an [`Observer`].

use planform_model::Address;

#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Work on an address began.
    Started {
        address: Address,
        action: String,
    },
    /// A step of it: a request sent, a status reached.
    Progress {
        address: Address,
        message: String,
    },
    Finished {
        address: Address,
        message: String,
    },
    Failed {
        address: Address,
        message: String,
    },
    AwaitingApproval {
        address: Address,
        plan_id: String,
    },
    /// Not started because a dependency failed or waits.
    Deferred {
        address: Address,
        because: Address,
    },
}

pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}
