//! `planform`: the command line. The only crate that knows terminals, exit codes, the JSON
//! event schema and `anyhow`; each command is a thin layer over the operations in `ops`.

/// `print!` that never panics ([`render::console`]).
macro_rules! out {
    ($($arg:tt)*) => { $crate::render::console::stdout(format_args!($($arg)*)) };
}

/// `println!` that never panics ([`render::console`]).
macro_rules! outln {
    () => { $crate::render::console::stdout(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::render::console::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics ([`render::console`]).
macro_rules! errln {
    () => { $crate::render::console::stderr(format_args!("\n")) };
    ($($arg:tt)*) => {
        $crate::render::console::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

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
        _ => format!("error: {}", render::escape::text(&chain(e))),
    }
}

/// An error and its causes joined by `: ` (as anyhow's `{:#}`), leaving out a cause that only
/// repeats the message before it (an error whose message is its source's).
fn chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let message = cause.to_string();
        if parts.last().is_some_and(|last| last.ends_with(&message)) {
            continue;
        }
        parts.push(message);
    }
    parts.join(": ")
}

fn main() -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let inv = Invocation::from_args(std::env::args_os(), env);
    if let Err(e) = logs::init(&inv.env) {
        errln!("error: {e}");
        return ExitCode::from(exit::ERROR);
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        dir = %inv.dir.display(),
        "planform started"
    );
    let streams_json = inv.streams_json();
    let markdown_report = inv.markdown_report();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            errln!("error: cannot start the runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    let code = match runtime.block_on(commands::run(inv)) {
        Ok(code) => {
            tracing::info!(code, "planform finished");
            ExitCode::from(code)
        }
        Err(e) => {
            tracing::error!(error = %chain(&e), "planform failed");
            if streams_json {
                render::json::fatal(&chain(&e));
            }
            if let Some((command, file)) = &markdown_report {
                let report = render::markdown::failure(command, &chain(&e));
                match file {
                    Some(f) => {
                        let written =
                            planform_state::write_atomically_with_mode(f, report.as_bytes(), 0o644);
                        if let Err(w) = written {
                            errln!("error: cannot write {}: {w}", f.display());
                        }
                    }
                    None => out!("{report}"),
                }
            }
            errln!("{}", error_lines(&e));
            ExitCode::from(exit::ERROR)
        }
    };
    // A reader that closed standard output early is no error; any other failure to write is.
    match render::console::finish() {
        Some(failure) => {
            tracing::error!(error = %failure, "planform failed");
            errln!("error: {failure}");
            ExitCode::from(exit::ERROR)
        }
        None => code,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    /// A lock error, and the state error that says only its message and names it as its source.
    #[derive(Debug)]
    struct Held;

    impl fmt::Display for Held {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the state is locked by pid 7")
        }
    }

    impl std::error::Error for Held {}

    #[derive(Debug)]
    struct Locked(Held);

    impl fmt::Display for Locked {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.fmt(f)
        }
    }

    impl std::error::Error for Locked {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_repeating_its_source_is_said_once() {
        let e = anyhow::Error::from(Locked(Held)).context("apply");
        assert_eq!(
            super::error_lines(&e),
            "error: apply: the state is locked by pid 7"
        );
        let e = anyhow::anyhow!("line one\n  # forged").context("refresh");
        assert_eq!(
            super::error_lines(&e),
            "error: refresh: line one\\n  # forged"
        );
    }
}
