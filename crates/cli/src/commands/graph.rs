//! `planform graph`: the dependency graph in DOT.

use anyhow::Result;

use crate::exit;
use crate::invocation::Invocation;
use crate::ops::Workspace;

pub fn run(inv: &Invocation) -> Result<u8> {
    let Some(ws) = Workspace::load(inv, &*super::sink(inv, inv.format))? else {
        return Ok(exit::ERROR);
    };
    print!("{}", planform_engine::dot(&ws.desired));
    Ok(exit::OK)
}
