//! An emulator of the Alibaba Cloud and AWS Service Catalog plan APIs: catalog, plans,
//! provisioned products, tasks and the plan status machine, persistent in an embedded
//! database (redb). [`Embedded`] puts it behind the engine's `PlanService` in process.
//!
//! **Boundary**: the sandbox never depends on planform's clients; it is checked against the
//! documented APIs on its own.

pub mod catalog;
pub mod clock;
pub mod core;
pub mod data_dir;
mod embedded;
pub mod server;
pub mod store;

pub use catalog::Catalog;
pub use clock::{Clock, ManualClock, SystemClock};
pub use core::{
    CreatePlan, ListPlans, Partition, PlanRecord, PlanStatus, ProductStatus, Sandbox, SandboxError,
    Settings, TaskStatus, UpdatePlan,
};
pub use embedded::{live_plan, provider_error, Embedded};

#[cfg(test)]
mod tests;
