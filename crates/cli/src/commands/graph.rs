//! `planform graph`: the manifests' dependency graph, or with `--plan` the change set a plan
//! makes (coloured by action), in DOT or Mermaid.

use anyhow::Result;

use crate::args::{Format, GraphFormat};
use crate::exit;
use crate::invocation::Invocation;
use crate::ops::Workspace;
use crate::render::graph;

pub async fn run(inv: &Invocation, format: GraphFormat, plan: bool) -> Result<u8> {
    if !plan {
        // The dependencies are the manifests' alone: no state, so no backend configuration.
        let Some(desired) = Workspace::manifests(inv, &*super::sink(inv, Format::Text)) else {
            return Ok(exit::ERROR);
        };
        out!(
            "{}",
            match format {
                GraphFormat::Dot => graph::dependencies_dot(&desired),
                GraphFormat::Mermaid => graph::dependencies_mermaid(&desired),
            }
        );
        return Ok(exit::OK);
    }
    let sink = super::sink(inv, Format::Text);
    let Some(ws) = Workspace::load(inv, &*sink)? else {
        return Ok(exit::ERROR);
    };
    let session = ws
        .open("graph", inv.lock_timeout()?, inv.lock, false)
        .await?;
    let Some(changes) = ws.diff(&session, &[], false, &*sink)? else {
        return Ok(exit::ERROR);
    };
    out!(
        "{}",
        match format {
            GraphFormat::Dot => graph::changes_dot(&changes),
            GraphFormat::Mermaid => graph::changes_mermaid(&changes),
        }
    );
    Ok(exit::OK)
}
