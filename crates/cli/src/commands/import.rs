//! `planform import`: bring an existing plan under management, by id or by ownership tags.

use anyhow::Result;
use planform_model::Address;

use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, Workspace};

pub async fn run(inv: &Invocation, address: &str, plan_id: &str, force: bool) -> Result<u8> {
    let Some(ws) = Workspace::load(inv, &*super::sink(inv, inv.format))? else {
        return Ok(exit::ERROR);
    };
    let address: Address = address.parse()?;
    ops::import(&ws, inv, &address, plan_id, force).await?;
    outln!("Imported {plan_id} as {address}. Run `planform plan` to see how it differs from the manifests.");
    Ok(exit::OK)
}

pub async fn run_from_tags(inv: &Invocation) -> Result<u8> {
    let Some(ws) = Workspace::load(inv, &*super::sink(inv, inv.format))? else {
        return Ok(exit::ERROR);
    };
    let adopted = ops::import_from_tags(&ws, inv).await?;
    for (a, id) in &adopted {
        outln!("Imported {a} ({})", crate::render::escape::text(id));
    }
    if adopted.is_empty() {
        outln!("Nothing to import: no plan carries this workspace's ownership tags for an unmanaged address.");
        return Ok(exit::OK);
    }
    let n = adopted.len();
    outln!(
        "{n} plan{} imported. Run `planform plan` to see how they differ from the manifests.",
        if n == 1 { "" } else { "s" }
    );
    Ok(exit::OK)
}
