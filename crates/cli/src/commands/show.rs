//! `planform show`: a plan file's change set, or the state; `--format json` prints one document
//! (the part `terraform show -json` plays, in planform's own shape). Asking for a state that does not exist is an error.

use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::args::Format;
use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, ShownOutput};
use crate::render::document;

pub async fn run(inv: &Invocation, planfile: Option<&Path>) -> Result<u8> {
    let json = inv.format == Format::Json;
    let loaded = planform_manifest::load(&inv.dir, &[], &inv.env).ok();
    if let Some(f) = planfile {
        let pf = crate::planfile::read(f, &*ops::encryption(&inv.env)?)?;
        if !json && pf.refresh_only {
            // What its refresh read is not in the file: the apply reads it again.
            out!(
                "{} is a refresh-only plan: it changes nothing in the cloud. `planform apply {}` records in the state what a refresh reads then.\n",
                f.display(),
                f.display()
            );
            return Ok(exit::OK);
        }
        if !json {
            super::sink(inv, Format::Text).changes(&pf.changes);
            return Ok(exit::OK);
        }
        // The prior state is the one the plan file was made from, while it is still current.
        let (backend, _) = ops::read_backend(inv)?;
        let prior = backend
            .load()
            .await?
            .filter(|s| s.lineage == pf.lineage && s.serial == pf.serial);
        let outputs: Vec<ShownOutput> = match (&loaded, &prior) {
            (Some(l), Some(s)) => ops::outputs(&l.desired, s),
            _ => vec![],
        };
        let doc = document::show_plan(&pf.workspace, &pf.changes, prior.as_ref(), &outputs);
        out!("{}", document::to_json(&doc));
        return Ok(exit::OK);
    }
    // The state the manifests name; without loadable manifests there is no telling which.
    let Some(loaded) = loaded else {
        bail!(
            "cannot tell which state to show: the manifests in {} do not load (run `planform validate`)",
            inv.dir.display()
        );
    };
    let (backend, _) = ops::read_backend(inv)?;
    let state = backend.load().await?.ok_or_else(|| {
        anyhow!(
            "there is no state in {}: nothing was applied in this workspace yet",
            backend.describe()
        )
    })?;
    if json {
        let outputs = ops::outputs(&loaded.desired, &state);
        out!(
            "{}",
            document::to_json(&document::show_state(&state, &outputs))
        );
    } else {
        super::sink(inv, Format::Text).state(&state);
    }
    Ok(exit::OK)
}
