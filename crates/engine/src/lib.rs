//! The reconciler: [`refresh`] reads the live plans, [`diff`] turns desired + state + live
//! into a [`ChangeSet`] (plain data, no I/O), [`order`] sorts it into a dependency graph and
//! [`apply`] runs it, writing state after every cloud operation.
//!
//! **Invariant**: `diff` and `order` are synchronous and pure; every choice (action, operation
//! type, idempotency token) is made there, and `apply` only carries it out.

mod apply;
mod diff;
mod drift;
mod events;
mod fingerprint;
mod graph;
pub mod plan_file;
mod refresh;
mod resolve;

pub use apply::{apply, ApplyError, ApplyOptions, ApplyReport, Interrupt, Outcome, Phase};
pub use diff::{
    absorb, account_changes, diff, provider_moves, Action, AttrDiff, Change, ChangeSet, DiffError,
    DiffOptions, LiveEntry, LiveSnapshot, Termination,
};
pub use diff::{stored_snapshot, unverified_sensitive};
pub use drift::{
    drift, drift_unverifiable, ignores_matching_nothing, DriftItem, DriftKind, Products,
};
pub use events::{Event, Observer};
pub use fingerprint::{fingerprint, fingerprints, staleness, Fingerprint};
pub use graph::{dot, order, OrderError};
pub use refresh::{capabilities, locations, refresh, refresh_to, Depth, Providers, RefreshStats};
pub use resolve::{resolve_inputs, resolve_value, unresolved};

#[cfg(test)]
mod tests;
