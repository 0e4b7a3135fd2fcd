//! `planform output`: the manifests' outputs, resolved from the state; `--format json` prints
//! one document (every output by name), sensitive values masked.

use anyhow::{bail, Result};

use crate::args::Format;
use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, Workspace};
use crate::render::{document, json};

pub async fn run(inv: &Invocation, name: Option<&str>) -> Result<u8> {
    // Diagnostics go to standard error as text: standard output holds only the document.
    let sink = super::sink(inv, Format::Text);
    let Some(ws) = Workspace::load(inv, &*sink)? else {
        return Ok(exit::ERROR);
    };
    let state = ws.stored().await?.unwrap_or_default();
    let outputs = ops::outputs(&ws.desired, &state);
    let Some(name) = name else {
        if inv.format == Format::Json {
            let doc = document::OutputDocument(json::outputs_json(&outputs));
            out!("{}", document::to_json(&doc));
        } else {
            sink.outputs(&outputs);
        }
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
    if inv.format == Format::Json {
        out!("{}", document::to_json(&json::output_value(o)));
    } else {
        sink.output_value(o);
    }
    Ok(exit::OK)
}
