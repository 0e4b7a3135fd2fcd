//! `planform validate`: parse and check the manifests; no network.

use anyhow::Result;

use crate::exit;
use crate::invocation::Invocation;
use crate::ops::Workspace;

pub fn run(inv: &Invocation) -> Result<u8> {
    let Some(ws) = Workspace::load(inv, &*super::sink(inv, inv.format))? else {
        return Ok(exit::ERROR);
    };
    let d = &ws.desired;
    println!(
        "The manifests are valid: {} plan{}, {} output{}.",
        d.plans.len(),
        if d.plans.len() == 1 { "" } else { "s" },
        d.outputs.len(),
        if d.outputs.len() == 1 { "" } else { "s" }
    );
    Ok(exit::OK)
}
