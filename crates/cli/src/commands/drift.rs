//! `planform drift`: report what changed in the cloud outside planform. Read-only.

use std::path::Path;

use anyhow::{Context, Result};

use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, Workspace};
use crate::render::Out;

pub async fn run(inv: &Invocation, out: Option<&Path>, ignore: &[String]) -> Result<u8> {
    let target = if out.is_some() {
        Out::buffer()
    } else {
        Out::Stdout
    };
    let sink = super::sink_to(inv, inv.format, target.clone());
    sink.started();
    let Some(ws) = Workspace::load(inv, &*sink)? else {
        return Ok(exit::ERROR);
    };
    let report = ops::drift(&ws, ignore).await?;
    if !report.ignores_matching_nothing.is_empty() {
        sink.warning(
            "Ignore matches nothing",
            &format!(
                "--ignore {} names no address of the state, the manifests or the unmanaged plans found, so it silences nothing; check the spelling (ADDR or ADDR.ATTR, e.g. plan.net[\"a\"] or plan.net[\"a\"].parameters).",
                report.ignores_matching_nothing.join(", --ignore ")
            ),
        );
    }
    let items = report.items;
    let unmanaged = items
        .iter()
        .filter(|i| i.kind == planform_engine::DriftKind::Unmanaged)
        .count();
    if unmanaged > 0 && ws.desired.workspace == "default" {
        sink.warning(
            "Workspace left at \"default\"",
            &format!(
                "{unmanaged} unmanaged {} the ownership tag of workspace `default`, which every directory without `planform {{ workspace = \"…\" }}` shares: if another directory manages plans in this account and region, they are likely its plans. Give each directory its own workspace (docs/manifest.md).",
                if unmanaged == 1 { "plan carries" } else { "plans carry" }
            ),
        );
    }
    if let Some(state) = ws.stored().await? {
        let unverifiable = planform_engine::drift_unverifiable(&ws.desired, &state);
        if !unverifiable.is_empty() {
            sink.warning(
                "Sensitive values not compared",
                &format!(
                    "{} cannot be compared with the cloud: the state keeps no sensitive value unless it is encrypted (docs/security.md), and the manifests do not give a known value for them.",
                    unverifiable.join(", ")
                ),
            );
        }
    }
    sink.drift(&items, &ws.desired.workspace);
    if let Some(f) = out {
        // A report a later step reads: whole or not at all, and not through a link planted
        // at its path.
        planform_state::write_atomically_with_mode(f, target.contents().as_bytes(), 0o644)
            .with_context(|| format!("cannot write {}", f.display()))?;
        errln!(
            "{} drift item{} written to {}",
            items.len(),
            if items.len() == 1 { "" } else { "s" },
            f.display()
        );
    }
    Ok(if items.is_empty() {
        exit::OK
    } else {
        exit::CHANGES
    })
}
