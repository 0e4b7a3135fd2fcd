//! `planform`: the command line. The only crate that knows terminals, exit codes, the JSON
//! event schema and `anyhow`; each command is a thin layer over the operations in `ops`.

mod args;
mod commands;
mod exit;
mod invocation;
mod ops;
mod planfile;
mod render;

use std::process::ExitCode;

use invocation::Invocation;

fn main() -> ExitCode {
    let inv = Invocation::from_args(std::env::args_os(), std::env::vars().collect());
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
    match runtime.block_on(commands::run(inv)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}
