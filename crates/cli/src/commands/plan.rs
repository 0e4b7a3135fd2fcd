//! `planform plan`: show what apply would do; save it with `--out`, make the cloud plans with
//! `--cloud-preview`, or only report what changed in the cloud with `--refresh-only`.

use std::path::Path;

use anyhow::Result;
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
}

pub async fn run(inv: &Invocation, o: &Options<'_>) -> Result<u8> {
    let sink = super::sink(inv, inv.format);
    let Some(ws) = Workspace::load(inv, &*sink)? else {
        return Ok(exit::ERROR);
    };
    let session = ws.open("plan", inv.lock_timeout()?, inv.lock).await?;
    let Some(changes) = ws.diff(&session, o.targets, false)? else {
        return Ok(exit::ERROR);
    };
    if let Some(out) = o.out {
        // Save what is shown: a refresh-only plan proposes no change to the cloud.
        let saved = if o.refresh_only {
            ChangeSet::default()
        } else {
            changes.clone()
        };
        crate::planfile::write(out, &ops::plan_file(&ws, &session, &saved))?;
        eprintln!(
            "Saved the plan to {}; `planform apply {}` runs exactly these changes.",
            out.display(),
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
