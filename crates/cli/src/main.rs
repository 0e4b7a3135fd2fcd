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

/// A failed command's error as `error: …` lines: one line per error, each escaped
/// ([`render::escape::text`]), so a message from a manifest or a cloud cannot forge a line.
fn error_lines(e: &anyhow::Error) -> String {
    match e.downcast_ref::<ops::ProviderMoves>() {
        Some(moves) if e.chain().count() == 1 => moves
            .0
            .iter()
            .map(|m| format!("error: {}", render::escape::text(m)))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => format!("error: {}", render::escape::text(&format!("{e:#}"))),
    }
}

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
            eprintln!("{}", error_lines(&e));
            ExitCode::from(exit::ERROR)
        }
    }
}
