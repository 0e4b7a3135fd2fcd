//! `planform completions SHELL`: a completion script for the shell, from clap's command tree.

use anyhow::Result;
use clap::CommandFactory;

use crate::args::Cli;
use crate::exit;

pub fn run(shell: clap_complete::Shell) -> Result<u8> {
    // Generated in memory: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "planform", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(exit::OK)
}
