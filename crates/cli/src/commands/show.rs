//! `planform show`: a plan file's change set, or the state; `--format json` prints one document
//! (like `terraform show -json`). Asking for a state that does not exist is an error.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::args::Format;
use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, ShownOutput};
use crate::render::document;

pub fn run(inv: &Invocation, planfile: Option<&Path>) -> Result<u8> {
    let json = inv.format == Format::Json;
    let loaded = planform_manifest::load(&inv.dir, &[], &inv.env).ok();
    if let Some(f) = planfile {
        let pf = crate::planfile::read(f)?;
        if !json {
            super::sink(inv, Format::Text).changes(&pf.changes);
            return Ok(exit::OK);
        }
        // The prior state is the one the plan file was made from, while it is still current.
        let prior = planform_state::load(&inv.dir.join(&pf.state_path))?
            .filter(|s| s.lineage == pf.lineage && s.serial == pf.serial);
        let outputs: Vec<ShownOutput> = match (&loaded, &prior) {
            (Some(l), Some(s)) => ops::outputs(&l.desired, s),
            _ => vec![],
        };
        let doc = document::show_plan(&pf.workspace, &pf.changes, prior.as_ref(), &outputs);
        print!("{}", document::to_json(&doc));
        return Ok(exit::OK);
    }
    // The state the manifests name; without loadable manifests there is no telling which.
    let Some(loaded) = loaded else {
        bail!(
            "cannot tell which state to show: the manifests in {} do not load (run `planform validate`)",
            inv.dir.display()
        );
    };
    let path = ops::read_state_path(inv)?;
    let state = planform_state::load(&path)?.ok_or_else(|| {
        anyhow!(
            "there is no state at {}: nothing was applied in this workspace yet",
            path.display()
        )
    })?;
    if json {
        let outputs = ops::outputs(&loaded.desired, &state);
        print!(
            "{}",
            document::to_json(&document::show_state(&state, &outputs))
        );
    } else {
        super::sink(inv, Format::Text).state(&state);
    }
    Ok(exit::OK)
}
