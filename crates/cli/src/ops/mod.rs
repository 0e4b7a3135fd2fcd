//! The operations the commands are thin layers over (cargo's `ops`): opening the workspace
//! (manifests, state, lock, providers, refresh), carrying out change sets, reading drift,
//! importing, resolving outputs. Every use of the engine's API outside the renderers is here;
//! results come back as reports the renderers show and the commands turn into exit codes.

mod apply;
mod backend;
mod drift;
mod import;
mod outputs;
mod providers;
mod workspace;

pub use apply::{
    cloud_preview, execute, open_planfile, plan_file, ApplySummary, Executed, PreviewResult,
    Previewed,
};
pub use backend::{encryption, Guard};
pub use drift::{drift, refresh_drift, RefreshDrift};
pub use import::{import, import_from_tags};
pub use outputs::{outputs, ShownOutput};
pub use providers::sandbox_settings;
pub use workspace::{quiet_manifests, read_backend, take_lock, ProviderMoves, Workspace};
