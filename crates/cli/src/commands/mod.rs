//! The commands, one module each: each reads its part of the invocation, calls `ops`, hands
//! the result to a render sink and decides the exit code.

mod apply;
mod completions;
mod drift;
mod fmt;
mod graph;
mod import;
mod man;
mod output;
mod plan;
mod sandbox;
mod show;
mod state;
mod validate;
mod version;

use std::sync::Arc;

use anyhow::{bail, Result};

use crate::args::{Command, Format};
use crate::invocation::Invocation;
use crate::render::{self, Out, Sink, Style};

/// Runs the invocation's command; the exit code of spec §3.
pub async fn run(inv: Invocation) -> Result<u8> {
    match &inv.command {
        Command::Plan {
            markdown_limit: Some(_),
            format,
            ..
        }
        | Command::Drift {
            markdown_limit: Some(_),
            format,
            ..
        } if *format != Format::Markdown => {
            bail!("--markdown-limit sizes a markdown report: it needs --format markdown")
        }
        Command::Validate { .. } => validate::run(&inv),
        Command::Fmt { check, paths } => fmt::run(&inv, *check, paths),
        Command::Graph { format, plan, .. } => graph::run(&inv, *format, *plan).await,
        Command::Plan {
            detailed_exitcode,
            targets,
            out,
            cloud_preview,
            refresh_only,
            destroy,
            replace,
            refresh,
            ..
        } => {
            let options = plan::Options {
                detailed_exitcode: *detailed_exitcode,
                targets,
                out: out.as_deref(),
                cloud_preview: *cloud_preview,
                refresh_only: *refresh_only,
                destroy: *destroy,
                replace,
                refresh: *refresh,
            };
            warn_targets(&inv, targets);
            plan::run(&inv, &options).await
        }
        Command::Apply {
            planfile: Some(file),
            vars,
            ..
        } if !vars.is_empty() => bail!(
            "--var and --var-file do not apply to `apply {}`: a plan file runs with the values it was made with",
            file.display()
        ),
        Command::Apply {
            planfile: Some(file),
            parallelism,
            ..
        } => apply::run_planfile(&inv, file, *parallelism).await,
        Command::Apply {
            planfile: None,
            auto_approve: false,
            format: Format::Json,
            ..
        } => bail!(
            "apply --format json needs --auto-approve (or a plan file): the confirmation prompt would break the JSON stream"
        ),
        Command::Apply {
            planfile: None,
            auto_approve,
            parallelism,
            targets,
            replace,
            ..
        } => {
            warn_targets(&inv, targets);
            apply::run(&inv, *auto_approve, *parallelism, targets, replace, false).await
        }
        Command::Destroy {
            auto_approve: false,
            format: Format::Json,
            ..
        } => bail!(
            "destroy --format json needs --auto-approve: the confirmation prompt would break the JSON stream"
        ),
        Command::Destroy {
            auto_approve,
            parallelism,
            targets,
            ..
        } => {
            warn_targets(&inv, targets);
            apply::run(&inv, *auto_approve, *parallelism, targets, &[], true).await
        }
        Command::Drift { out, ignore, .. } => drift::run(&inv, out.as_deref(), ignore).await,
        Command::Show { planfile, .. } => show::run(&inv, planfile.as_deref()).await,
        Command::Output { name, .. } => output::run(&inv, name.as_deref()).await,
        Command::Import {
            from_tags: true, ..
        } => import::run_from_tags(&inv).await,
        Command::Import {
            address,
            plan_id,
            force,
            ..
        } => {
            import::run(
                &inv,
                address.as_deref().unwrap_or_default(),
                plan_id.as_deref().unwrap_or_default(),
                *force,
            )
            .await
        }
        Command::State { command } => state::run(&inv, command).await,
        Command::Sandbox { command } => sandbox::run(&inv, command).await,
        Command::Version { .. } => version::run(&inv),
        Command::Completions { shell } => completions::run(*shell),
        Command::Man { dir } => man::run(dir),
    }
}

/// Terraform's warning on every targeted run: a partial plan is for exceptional cases.
fn warn_targets(inv: &Invocation, targets: &[String]) {
    if targets.is_empty() {
        return;
    }
    let format = if inv.format == Format::Json {
        Format::Json
    } else {
        Format::Text
    };
    sink(inv, format).warning(
        "Resource targeting is in effect",
        &format!(
            "Only {} (with the addresses the order needs) {} planned, so the result may be \
             incomplete: other changes the manifests call for are left out. Targeting is for \
             exceptional cases, such as recovering from mistakes or working around a limitation; \
             it is not for routine use.",
            targets.join(", "),
            if targets.len() == 1 { "is" } else { "are" },
        ),
    );
}

/// The sink for `format`, writing to standard output.
fn sink(inv: &Invocation, format: Format) -> Arc<dyn Sink> {
    sink_to(inv, format, Out::Stdout)
}

fn sink_to(inv: &Invocation, format: Format, out: Out) -> Arc<dyn Sink> {
    render::sink(
        format,
        Style { color: inv.color },
        inv.terminal,
        out,
        &inv.dir,
        inv.markdown.clone(),
    )
}
