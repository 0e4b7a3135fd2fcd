//! `planform apply` and `planform destroy`: plan, confirm, carry out; or carry out a saved plan
//! file exactly.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{bail, Result};

use crate::args::Format;
use crate::exit;
use crate::invocation::Invocation;
use crate::ops::{self, ApplySummary, Executed, Workspace};
use crate::render::Sink;

/// Apply and destroy show text or JSON (the same events); markdown is for plans and drift
/// reports only.
fn apply_format(inv: &Invocation) -> Format {
    if inv.format == Format::Json {
        Format::Json
    } else {
        Format::Text
    }
}

pub async fn run(
    inv: &Invocation,
    auto_approve: bool,
    parallelism: usize,
    targets: &[String],
    replace: &[String],
    destroy: bool,
) -> Result<u8> {
    let command = if destroy { "destroy" } else { "apply" };
    let sink = super::sink(inv, apply_format(inv));
    sink.started();
    let Some(ws) = Workspace::load(inv, &*sink)? else {
        return Ok(exit::ERROR);
    };
    if !inv.lock {
        bail!("{command} writes the state, so it needs the state lock: drop --lock=false");
    }
    let session = ws.open(command, inv.lock_timeout()?, true, destroy).await?;
    let changes = match ws.diff_replacing(&session, targets, destroy, replace)? {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                sink.error(&e.to_string());
            }
            return Ok(exit::ERROR);
        }
    };
    sink.changes(&changes);
    if !changes.is_empty() && !auto_approve && !confirm(command)? {
        outln!("{command} cancelled.");
        return Ok(exit::ERROR);
    }
    let executed = ops::execute(
        &changes,
        session,
        Some(&ws.desired),
        parallelism,
        destroy,
        sink.clone(),
    )
    .await?;
    report(&*sink, &executed)
}

pub async fn run_planfile(inv: &Invocation, file: &Path, parallelism: usize) -> Result<u8> {
    let sink = super::sink(inv, apply_format(inv));
    sink.started();
    let pf = crate::planfile::read(file, &*ops::encryption(&inv.env)?)?;
    // The manifests beside the plan file, read once: they name the state (backend and
    // workspace) and the outputs to show at the end.
    let manifests = ops::quiet_manifests(inv);
    let session = match ops::open_planfile(inv, file, &pf, manifests.as_ref()).await? {
        Ok(s) => s,
        Err(moved) => {
            errln!(
                "error: {} is stale: the cloud changed since it was made:",
                file.display()
            );
            for m in moved {
                errln!("  {}", crate::render::escape::text(&m.to_string()));
            }
            errln!("Run `planform plan` again.");
            return Ok(exit::ERROR);
        }
    };
    if pf.refresh_only {
        // What the apply records: what its refresh read, against the state.
        sink.refresh_drift(&ops::refresh_drift(&session));
    } else {
        sink.changes(&pf.changes);
    }
    // The outputs at the end, as after `apply`: those the manifests beside the plan file declare
    // (read quietly: they may have changed since, and a plan file needs none), resolved from
    // the state the apply leaves.
    let desired = manifests.filter(|d| d.workspace == pf.workspace);
    let executed = ops::execute(
        &pf.changes,
        session,
        desired.as_ref(),
        parallelism,
        false,
        sink.clone(),
    )
    .await?;
    report(&*sink, &executed)
}

/// Shows the result and decides the exit code. A run that failed ends with its error (the last
/// line of a JSON stream, and standard error), as every failed command does.
fn report(sink: &dyn Sink, executed: &Executed) -> Result<u8> {
    match executed {
        Executed::Nothing { outputs } => {
            sink.nothing_to_apply(outputs.as_deref());
            Ok(exit::OK)
        }
        Executed::Ran(summary) => {
            sink.apply_summary(summary);
            match exit_code(summary) {
                exit::ERROR => Err(anyhow::anyhow!(failure(summary))),
                code => Ok(code),
            }
        }
    }
}

/// Why a run that ran ended in failure, in one line.
fn failure(s: &ApplySummary) -> String {
    let what = if s.destroy { "destroy" } else { "apply" };
    let mut why = Vec::new();
    if let Some((address, message)) = s.failed.first() {
        let more = match s.failed.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        why.push(format!(
            "{address}: {}{more}",
            crate::render::escape::text(message)
        ));
    }
    if s.interrupted {
        why.push("interrupted: the plans left running go on in the cloud, and the next run picks them up".into());
    }
    if let Some(e) = s.state_errors.first() {
        why.push(format!(
            "the state could not be saved: {}",
            crate::render::escape::text(e)
        ));
    }
    format!("{what} failed: {}", why.join("; "))
}

fn exit_code(s: &ApplySummary) -> u8 {
    if !s.failed.is_empty() || s.interrupted || !s.state_errors.is_empty() {
        exit::ERROR
    } else if !s.awaiting.is_empty() {
        exit::PENDING
    } else {
        exit::OK
    }
}

fn confirm(what: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{what} needs confirmation: there is no terminal to ask on, so pass --auto-approve");
    }
    out!("Do you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ");
    crate::render::console::flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
