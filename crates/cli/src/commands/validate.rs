//! `planform validate`: parse and check the manifests; no network. `--format json` prints one
//! document with every diagnostic and its source range.

use anyhow::Result;

use crate::args::Format;
use crate::exit;
use crate::invocation::Invocation;
use crate::ops::Workspace;
use crate::render::document;

pub fn run(inv: &Invocation) -> Result<u8> {
    if inv.format == Format::Json {
        let loaded = planform_manifest::load(&inv.dir, &inv.vars, &inv.env);
        let diagnostics = match &loaded {
            Ok(l) => &l.warnings,
            Err(d) => d,
        };
        let doc = document::validate(diagnostics, &inv.dir);
        out!("{}", document::to_json(&doc));
        return Ok(if doc.valid { exit::OK } else { exit::ERROR });
    }
    // The manifests only: validation needs no state, so no backend configuration.
    let Some(d) = Workspace::manifests(inv, &*super::sink(inv, inv.format)) else {
        return Ok(exit::ERROR);
    };
    let d = &d;
    outln!(
        "The manifests are valid: {} plan{}, {} output{}.",
        d.plans.len(),
        if d.plans.len() == 1 { "" } else { "s" },
        d.outputs.len(),
        if d.outputs.len() == 1 { "" } else { "s" }
    );
    Ok(exit::OK)
}
