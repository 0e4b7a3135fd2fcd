//! The process's standard output and error, written without panicking: `print!` panics when a
//! reader closed its pipe early (`planform state list | head -1`). A closed pipe is not an
//! error: what follows is discarded quietly and the command runs to its end (an apply is never
//! cut short because its reader went away) with its own exit code. Any other failure to write
//! (a full disk) is also remembered, and `main` reports it once at the end with exit code 1.
//! Every `print!`-like macro of the crate (`out!`, `outln!`, `err!`, `errln!`) comes here.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Standard output was closed by its reader, or writing it failed: write no more to it.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);
/// The first failure to write other than a closed pipe, for `main` to report.
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

fn write(
    stream: &mut dyn Write,
    closed: &AtomicBool,
    name: &str,
    args: fmt::Arguments<'_>,
    flush: bool,
) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let result = stream
        .write_fmt(args)
        .and_then(|()| if flush { stream.flush() } else { Ok(()) });
    if let Err(e) = result {
        closed.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            let mut failure = FAILURE.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert_with(|| format!("writing {name} failed: {e}"));
        }
    }
}

/// `print!` to standard output.
pub fn stdout(args: fmt::Arguments<'_>) {
    write(
        &mut io::stdout().lock(),
        &STDOUT_CLOSED,
        "standard output",
        args,
        false,
    );
}

/// `eprint!` to standard error (unbuffered, as `eprint!`).
pub fn stderr(args: fmt::Arguments<'_>) {
    write(
        &mut io::stderr().lock(),
        &STDERR_CLOSED,
        "standard error",
        args,
        false,
    );
}

/// Flushes standard output (before a prompt, or once a server says where it listens).
pub fn flush() {
    write(
        &mut io::stdout().lock(),
        &STDOUT_CLOSED,
        "standard output",
        format_args!(""),
        true,
    );
}

/// Flushes standard output (at the end of the command), then says whether writing either
/// stream failed other than by a closed pipe.
pub fn finish() -> Option<String> {
    flush();
    FAILURE.lock().unwrap_or_else(|e| e.into_inner()).take()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream whose reader is gone, or whose disk is full.
    struct Failing(io::ErrorKind, usize);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            self.1 += 1;
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_quiet_and_later_writes_are_dropped() {
        let closed = AtomicBool::new(false);
        let mut pipe = Failing(io::ErrorKind::BrokenPipe, 0);
        write(
            &mut pipe,
            &closed,
            "standard output",
            format_args!("a\n"),
            false,
        );
        write(
            &mut pipe,
            &closed,
            "standard output",
            format_args!("b\n"),
            false,
        );
        assert!(closed.load(Ordering::Relaxed));
        assert_eq!(pipe.1, 1, "nothing is written after the pipe closed");
        assert!(
            FAILURE.lock().unwrap().is_none(),
            "a closed pipe is no failure"
        );
        let full = AtomicBool::new(false);
        let mut disk = Failing(io::ErrorKind::StorageFull, 0);
        write(
            &mut disk,
            &full,
            "standard output",
            format_args!("a\n"),
            false,
        );
        let failure = FAILURE.lock().unwrap().take().unwrap();
        assert!(
            failure.starts_with("writing standard output failed:"),
            "{failure}"
        );
    }
}
