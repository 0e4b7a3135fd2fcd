//! `planform completions SHELL`: a completion script for the shell, from clap's command tree.

use anyhow::Result;
use clap::CommandFactory;

use crate::args::Cli;
use crate::exit;

pub fn run(shell: clap_complete::Shell) -> Result<u8> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "planform",
        &mut std::io::stdout(),
    );
    Ok(exit::OK)
}
