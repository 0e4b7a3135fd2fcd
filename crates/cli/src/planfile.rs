//! The plan file on disk: the edge around `planform_engine::plan_file` (the codec of
//! [`PlanFile`], a saved change set that `apply PLANFILE` runs exactly, or refuses when the state
//! or the cloud moved since).
//!
//! The file holds the inputs to send. A plan with sensitive values is saved only with encryption
//! on (`PLANFORM_ENCRYPTION_KEY` or `_PASSPHRASE`, docs/security.md): the file is then one
//! AES-256-GCM envelope; without encryption such a plan is refused, naming what it would hold,
//! rather than written with the secret in clear. Either way it is written atomically, mode 0600.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use planform_engine::plan_file;
pub use planform_engine::plan_file::PlanFile;
use planform_state::Encryption;

/// The context a plan file is sealed for (a state snapshot does not open as a plan file).
const CONTEXT: &str = "plan";

/// Writes `p` to `path` as `encryption` stores it; a plan holding sensitive values is refused
/// without encryption, and nothing is written.
pub fn write(path: &Path, p: &PlanFile, encryption: &Encryption) -> Result<()> {
    if !encryption.writes_encrypted() {
        let held = plan_file::sensitive_values(&p.changes);
        if !held.is_empty() {
            bail!(
                "the plan was not saved to {}: it holds sensitive values ({}), which a plan file would keep in clear; turn on encryption (set PLANFORM_ENCRYPTION_KEY or PLANFORM_ENCRYPTION_PASSPHRASE, see docs/security.md) to save it, or run `planform apply` without a plan file",
                path.display(),
                held.join(", ")
            );
        }
    }
    let text = encryption.encode(CONTEXT, &plan_file::encode(p))?;
    // Mode 0600 whatever was there before: a plan file may hold values from the state.
    planform_state::write_atomically(path, text.as_bytes())
        .with_context(|| format!("cannot write plan file {}", path.display()))
}

/// Reads the plan file at `path` (opened with `encryption` when it is encrypted).
pub fn read(path: &Path, encryption: &Encryption) -> Result<PlanFile> {
    let stored = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan file {}", path.display()))?;
    let text = encryption
        .decode(CONTEXT, &stored, &format!("plan file {}", path.display()))?
        .text;
    plan_file::decode(&text).map_err(|e| {
        if e.follows_file_name() {
            anyhow!("{} {e}", path.display())
        } else {
            anyhow!(e)
        }
    })
}
