//! The second stage of the command line: the parsed flags (`args.rs`) resolved into the values
//! every command needs (ripgrep's low and high arguments).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use planform_manifest::VarOption;

use crate::args::{Cli, Command, Format, LockArgs, StateCommand, VarArgs};
use crate::render::markdown::Budget;

/// One run of `planform`, resolved from the command line and the process environment.
pub struct Invocation {
    /// The manifest directory (`-C`, `--chdir`).
    pub dir: PathBuf,
    /// Whether text output is coloured.
    pub color: bool,
    /// Whether standard output is a terminal (live progress, confirmation prompts).
    pub terminal: bool,
    /// The process environment, read once here and injected everywhere else.
    pub env: BTreeMap<String, String>,
    /// `--var` and `--var-file`, in command-line order (later wins, as in Terraform).
    pub vars: Vec<VarOption>,
    /// `--lock-timeout` as given; parsed when a command takes the lock, so commands that never
    /// lock do not reject it.
    lock_timeout: String,
    /// `--lock` (true unless `--lock=false`).
    pub lock: bool,
    /// The command's `--format`, or text for commands without one.
    pub format: Format,
    /// The size budget of a markdown report (`--markdown-limit`, the plan file `--out` saves).
    pub markdown: Budget,
    /// The command and its own arguments.
    pub command: Command,
}

impl Invocation {
    /// Parses the command line and resolves it. A usage error exits with clap's message and
    /// code 1 (2 means "changes present" to scripts); `--help` and `--version` exit 0.
    pub fn from_args<I, T>(args: I, env: BTreeMap<String, String>) -> Invocation
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let parsed = Cli::command()
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
        let (cli, matches) = match parsed {
            Ok(p) => p,
            Err(e) => {
                let code = if e.use_stderr() { 1 } else { 0 };
                let _ = e.print();
                std::process::exit(code);
            }
        };
        let terminal = std::io::stdout().is_terminal();
        resolve(cli, &matches, env, terminal)
    }

    /// Whether standard output is a stream of JSON events (`--format json` of plan, apply,
    /// destroy and drift), so an error that ends the run is reported as a `diagnostic` event there too.
    pub fn streams_json(&self) -> bool {
        self.format == Format::Json
            && matches!(
                self.command,
                Command::Plan { .. }
                    | Command::Apply { .. }
                    | Command::Destroy { .. }
                    | Command::Drift { out: None, .. }
            )
    }

    /// A markdown report (`plan` or `drift --format markdown`, to standard output or the file of
    /// `drift --out`): a run that fails writes its error there, so a pull request's comment or a
    /// job's summary says why rather than staying blank.
    pub fn markdown_report(&self) -> Option<(&'static str, Option<PathBuf>)> {
        if self.format != Format::Markdown {
            return None;
        }
        match &self.command {
            Command::Plan { .. } => Some(("plan", None)),
            Command::Drift { out, .. } => Some(("drift", out.clone())),
            _ => None,
        }
    }

    /// How long to wait for the state lock.
    pub fn lock_timeout(&self) -> Result<Duration> {
        parse_duration(&self.lock_timeout)
    }
}

/// Resolves parsed flags; `matches` supplies what the derived `Cli` forgets (argument order).
fn resolve(
    cli: Cli,
    matches: &ArgMatches,
    env: BTreeMap<String, String>,
    terminal: bool,
) -> Invocation {
    // Colour only on a terminal (the spec), and not with --no-color, a NO_COLOR that is set and
    // not empty (no-color.org), or TERM=dumb (a terminal that shows escapes as text). A crate
    // such as anstream would also honour CLICOLOR_FORCE, which would colour logs the spec keeps
    // plain.
    let no_color_env = env.get("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = env.get("TERM").is_some_and(|t| t == "dumb");
    let color = !cli.no_color && terminal && !no_color_env && !dumb;
    let sub = matches.subcommand().map(|(_, m)| m);
    let vars = match var_args(&cli.command) {
        Some(v) => sub.map(|m| var_options(v, m)).unwrap_or_default(),
        None => Vec::new(),
    };
    let (lock_timeout, lock) = lock_args(&cli.command)
        .map(|l| (l.lock_timeout.clone(), l.lock))
        .unwrap_or_else(|| ("0s".to_string(), true));
    Invocation {
        dir: cli.dir,
        color,
        terminal,
        env,
        vars,
        lock_timeout,
        lock,
        format: format(&cli.command),
        markdown: markdown_budget(&cli.command),
        command: cli.command,
    }
}

fn var_args(command: &Command) -> Option<&VarArgs> {
    match command {
        Command::Validate { vars, .. }
        | Command::Plan { vars, .. }
        | Command::Apply { vars, .. }
        | Command::Destroy { vars, .. }
        | Command::Drift { vars, .. }
        | Command::Output { vars, .. }
        | Command::Graph { vars, .. }
        | Command::Import { vars, .. } => Some(vars),
        Command::Fmt { .. }
        | Command::Show { .. }
        | Command::State { .. }
        | Command::Sandbox { .. }
        | Command::Version { .. }
        | Command::Completions { .. }
        | Command::Man { .. } => None,
    }
}

fn lock_args(command: &Command) -> Option<&LockArgs> {
    match command {
        Command::Plan { lock, .. }
        | Command::Apply { lock, .. }
        | Command::Destroy { lock, .. }
        | Command::Import { lock, .. }
        | Command::State {
            command:
                StateCommand::Rm { lock, .. }
                | StateCommand::Mv { lock, .. }
                | StateCommand::Push { lock, .. },
        } => Some(lock),
        _ => None,
    }
}

fn markdown_budget(command: &Command) -> Budget {
    let limit = |l: &Option<u64>| l.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
    match command {
        Command::Plan {
            markdown_limit,
            out,
            ..
        } => Budget::new(limit(markdown_limit), out.as_deref()),
        Command::Drift { markdown_limit, .. } => Budget::new(limit(markdown_limit), None),
        _ => Budget::default(),
    }
}

fn format(command: &Command) -> Format {
    match command {
        Command::Validate { format, .. }
        | Command::Plan { format, .. }
        | Command::Apply { format, .. }
        | Command::Destroy { format, .. }
        | Command::Drift { format, .. }
        | Command::Show { format, .. }
        | Command::Output { format, .. }
        | Command::Version { format } => *format,
        _ => Format::Text,
    }
}

/// `--var` and `--var-file` merged by their positions on the command line, which clap keeps.
fn var_options(vars: &VarArgs, matches: &ArgMatches) -> Vec<VarOption> {
    let indices = |id: &str| -> Vec<usize> {
        matches
            .indices_of(id)
            .map(|i| i.collect())
            .unwrap_or_default()
    };
    let files = indices("var_files")
        .into_iter()
        .zip(vars.var_files.iter().cloned().map(VarOption::File));
    let assigns = indices("vars")
        .into_iter()
        .zip(vars.vars.iter().cloned().map(VarOption::Assign));
    let mut all: Vec<(usize, VarOption)> = files.chain(assigns).collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, o)| o).collect()
}

/// A duration such as `30s`, `2m` or `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    humantime::parse_duration(s).map_err(|_| anyhow!("{s:?} is not a duration such as 30s or 2m"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &[&str], expect: &[VarOption]) {
        let argv = std::iter::once("planform").chain(args.iter().copied());
        let matches = Cli::command().get_matches_from(argv);
        let cli = Cli::from_arg_matches(&matches).expect("parses");
        let inv = resolve(cli, &matches, BTreeMap::new(), false);
        assert_eq!(inv.vars, expect);
    }

    #[test]
    fn vars_keep_command_line_order() {
        let file = |s: &str| VarOption::File(s.into());
        let assign = |s: &str| VarOption::Assign(s.into());
        check(
            &[
                "plan",
                "--var",
                "a=1",
                "--var-file",
                "x.pfvars",
                "--var=b=2",
            ],
            &[assign("a=1"), file("x.pfvars"), assign("b=2")],
        );
        check(
            &["output", "--var-file=x.pfvars", "--var", "a=1"],
            &[file("x.pfvars"), assign("a=1")],
        );
        check(&["fmt"], &[]);
    }

    /// Colour only on a terminal, and not with --no-color, a non-empty NO_COLOR (an empty one is
    /// unset, as no-color.org says) or TERM=dumb (trial 3 F11).
    #[test]
    fn colour_follows_the_terminal_and_the_conventions() {
        let colour = |args: &[&str], env: &[(&str, &str)], terminal: bool| {
            let argv = std::iter::once("planform").chain(args.iter().copied());
            let matches = Cli::command().get_matches_from(argv);
            let cli = Cli::from_arg_matches(&matches).expect("parses");
            let env = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            resolve(cli, &matches, env, terminal).color
        };
        assert!(colour(&["plan"], &[], true));
        assert!(!colour(&["plan"], &[], false));
        assert!(!colour(&["--no-color", "plan"], &[], true));
        assert!(!colour(&["plan"], &[("NO_COLOR", "1")], true));
        assert!(colour(&["plan"], &[("NO_COLOR", "")], true));
        assert!(!colour(&["plan"], &[("TERM", "dumb")], true));
        assert!(colour(&["plan"], &[("TERM", "xterm-256color")], true));
    }

    #[test]
    fn durations_read_as_before() {
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("soon").unwrap_err().to_string(),
            "\"soon\" is not a duration such as 30s or 2m"
        );
    }
}
