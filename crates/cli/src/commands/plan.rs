//! `planform plan`: show what apply would do; save it with `--out`, make the cloud plans with
//! `--cloud-preview`, or only report what changed in the cloud with `--refresh-only`. `--destroy`
//! plans what `destroy` does, `--replace` forces replacements, and `--refresh=false` diffs
//! against the stored state without reading any cloud.

use std::path::Path;

use anyhow::{bail, Result};
use planform_engine::{Action, ChangeSet};

use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, Workspace};

/// `plan`'s own arguments.
pub struct Options<'a> {
    pub detailed_exitcode: bool,
    pub targets: &'a [String],
    pub out: Option<&'a Path>,
    pub cloud_preview: bool,
    pub refresh_only: bool,
    pub destroy: bool,
    pub replace: &'a [String],
    /// `false` with `--refresh=false`.
    pub refresh: bool,
}

pub async fn run(inv: &Invocation, o: &Options<'_>) -> Result<u8> {
    let sink = super::sink(inv, inv.format);
    sink.started();
    let Some(ws) = Workspace::load(inv, &*sink)? else {
        return Ok(exit::ERROR);
    };
    if o.refresh_only && !o.refresh {
        bail!("--refresh-only and --refresh=false contradict each other: the first only refreshes, the second never does");
    }
    if o.cloud_preview && !o.refresh {
        bail!("--cloud-preview needs the cloud's current plans, so it cannot run with --refresh=false");
    }
    let session = if o.refresh {
        ws.open("plan", inv.lock_timeout()?, inv.lock, o.destroy)
            .await?
    } else {
        ws.open_stored("plan", inv.lock_timeout()?, inv.lock, o.destroy)
            .await?
    };
    if !o.refresh {
        let unverified = planform_engine::unverified_sensitive(&ws.desired, &session.stored);
        if !unverified.is_empty() {
            sink.warning(
                "Sensitive values taken as unchanged",
                &format!(
                    "Without a refresh, {} cannot be compared: the state keeps no sensitive value unless it is encrypted (docs/security.md), so they are taken as unchanged. Run `planform plan` with a refresh to compare them with the cloud.",
                    unverified.join(", ")
                ),
            );
        }
    }
    let changes = match ws.diff_replacing(&session, o.targets, o.destroy, o.replace)? {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                sink.error(&e.to_string());
            }
            return Ok(exit::ERROR);
        }
    };
    if let Some(out) = o.out {
        // Save what is shown: a refresh-only plan proposes no change to the cloud.
        let saved = if o.refresh_only {
            ChangeSet::default()
        } else {
            changes.clone()
        };
        let mut file = ops::plan_file(&ws, &session, &saved);
        file.refresh_only = o.refresh_only;
        crate::planfile::write(out, &file, &*ops::encryption(&ws.env)?)?;
        errln!(
            "Saved the plan to {}; `planform {}apply {}` runs exactly these changes.",
            out.display(),
            chdir(&inv.dir),
            out.display()
        );
    }
    if o.refresh_only {
        let drift = ops::refresh_drift(&session);
        sink.refresh_drift(&drift);
        return Ok(if o.detailed_exitcode && !drift.is_empty() {
            exit::CHANGES
        } else {
            exit::OK
        });
    }
    sink.changes(&changes);
    if o.cloud_preview
        && !changes.is_empty()
        && ops::cloud_preview(&ws, session, &changes, &*sink).await? > 0
    {
        return Ok(exit::ERROR);
    }
    let blocked = changes
        .changes
        .iter()
        .any(|c| matches!(c.action, Action::Blocked { .. }));
    if blocked {
        return Ok(exit::ERROR);
    }
    Ok(if o.detailed_exitcode && !changes.is_empty() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

/// The `-C DIR ` a hint's command needs to run from where this one ran: none for the current
/// directory.
fn chdir(dir: &std::path::Path) -> String {
    if dir == std::path::Path::new(".") || dir.as_os_str().is_empty() {
        String::new()
    } else {
        format!("-C {} ", dir.display())
    }
}
