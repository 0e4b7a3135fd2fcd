//! `planform man DIR`: man pages from clap's command tree: `planform.1` and one page per
//! command (`planform-plan.1`, `planform-state-list.1`, …).

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::Cli;
use crate::exit;

pub fn run(dir: &Path) -> Result<u8> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = Cli::command();
    cmd.build();
    let written = write_pages(&cmd, dir)?;
    errln!("{written} man pages written to {}", dir.display());
    Ok(exit::OK)
}

/// Writes the page of `cmd` (named by its display name, `planform-state-list` for
/// `planform state list`; clap sets it when the command is built) and of its subcommands; how
/// many were written.
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<usize> {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .with_context(|| format!("cannot render {name}.1"))?;
    std::fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    let mut n = 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        n += write_pages(sub, dir)?;
    }
    Ok(n)
}
