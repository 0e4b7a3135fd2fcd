//! `planform output`: the manifests' outputs, resolved from the state.

use anyhow::{bail, Result};

use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, Workspace};

pub async fn run(inv: &Invocation, name: Option<&str>) -> Result<u8> {
    let sink = super::sink(inv, inv.format);
    let Some(ws) = Workspace::load(inv, &*sink)? else {
        return Ok(exit::ERROR);
    };
    let state = ws.stored().await?.unwrap_or_default();
    let outputs = ops::outputs(&ws.desired, &state);
    let Some(name) = name else {
        sink.outputs(&outputs);
        return Ok(exit::OK);
    };
    let Some(o) = outputs.iter().find(|o| o.name == name) else {
        bail!(
            "no output named {name:?}; outputs: {}",
            outputs
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    sink.output_value(&o.value);
    Ok(exit::OK)
}
