//! `planform`: the command line. The only crate that knows terminals, exit codes, the JSON
//! event schema and `anyhow`; each command is a thin layer over the operations in `ops`.

mod args;
mod commands;
mod exit;
mod invocation;
mod logs;
mod ops;
mod planfile;
mod render;

use std::collections::BTreeMap;
use std::process::ExitCode;

use invocation::Invocation;

fn main() -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let inv = Invocation::from_args(std::env::args_os(), env);
    if let Err(e) = logs::init(&inv.env) {
        eprintln!("error: {e}");
        return ExitCode::from(exit::ERROR);
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        dir = %inv.dir.display(),
        "planform started"
    );
    let streams_json = inv.streams_json();
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
        Ok(code) => {
            tracing::info!(code, "planform finished");
            ExitCode::from(code)
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "planform failed");
            if streams_json {
                render::json::fatal(&format!("{e:#}"));
            }
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}
