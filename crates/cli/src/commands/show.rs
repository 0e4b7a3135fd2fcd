//! `planform show`: a plan file's change set, or the state.

use std::path::Path;

use anyhow::Result;

use crate::exit;
use crate::invocation::Invocation;
use crate::ops;

pub async fn run(inv: &Invocation, planfile: Option<&Path>) -> Result<u8> {
    let sink = super::sink(inv, inv.format);
    if let Some(f) = planfile {
        let pf = crate::planfile::read(f)?;
        sink.changes(&pf.changes);
        return Ok(exit::OK);
    }
    let (backend, _) = ops::read_backend(inv)?;
    let state = backend.load().await?.unwrap_or_default();
    sink.state(&state);
    Ok(exit::OK)
}
