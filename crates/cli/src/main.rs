//! `planform`: the command line. The only crate that knows terminals, exit codes, the JSON
//! event schema and `anyhow`; each command is a thin layer over the libraries.

mod args;
mod commands;
mod planfile;
mod render;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// Exit codes of spec §3.
pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const CHANGES: u8 = 2;
    /// `apply`: plans await approval; `fmt --check`: files would change.
    pub const PENDING: u8 = 3;
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    let _ = commands::VAR_ORDER.set(commands::var_order(&raw));
    let cli = args::Cli::parse();
    let color =
        !cli.no_color && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(commands::run(cli, env, color)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}
