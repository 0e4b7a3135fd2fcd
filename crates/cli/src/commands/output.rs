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
    let all = ops::outputs(&ws.desired, &state);
    let Some(name) = name else {
        // As Terraform: outputs without a value (their plans are not applied, or destroyed) are
        // left out with a warning; none at all is a warning too, not an error.
        let (outputs, unknown): (Vec<_>, Vec<_>) = all.into_iter().partition(|o| o.known);
        if outputs.is_empty() {
            errln!(
                "Warning: No outputs found\n\n{}\n",
                if unknown.is_empty() {
                    "The manifests declare no outputs.".to_string()
                } else {
                    format!(
                        "The plans that {} read{} are not applied (or were destroyed); run `planform apply` first.",
                        names(&unknown),
                        if unknown.len() == 1 { "s" } else { "" }
                    )
                }
            );
        } else if !unknown.is_empty() {
            errln!(
                "Warning: No value for {}\n\nThe plans {} read are not applied (or were destroyed), so {} left out.\n",
                names(&unknown),
                if unknown.len() == 1 { "it" } else { "they" },
                if unknown.len() == 1 { "it is" } else { "they are" }
            );
        }
        if inv.format == Format::Json {
            let doc = document::OutputDocument(json::outputs_json(&outputs));
            out!("{}", document::to_json(&doc));
        } else {
            sink.outputs(&outputs);
        }
        return Ok(exit::OK);
    };
    let Some(o) = all.iter().find(|o| o.name == name) else {
        bail!("no output named {name:?}; outputs: {}", names(&all));
    };
    if !o.known {
        bail!(
            "output {name:?} has no value: the plans it reads are not applied (or were destroyed); run `planform apply` first"
        );
    }
    if inv.format == Format::Json {
        out!("{}", document::to_json(&json::output_value(o)));
    } else {
        sink.output_value(o);
    }
    Ok(exit::OK)
}

/// Output names, comma-separated.
fn names(outputs: &[ops::ShownOutput]) -> String {
    outputs
        .iter()
        .map(|o| o.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
