//! Command-line arguments, as close to the flags as possible (clap). Every flag has help text
//! (a test walks the command tree), and a command takes only the flags that apply to it: a
//! `--format` a command cannot print is refused by the parser, not ignored.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgAction, Parser, Subcommand, ValueEnum};

use crate::render::markdown::MIN_LIMIT;

#[derive(Debug, Parser)]
#[command(
    name = "planform",
    version,
    about = "Service Catalog provisioned product plans as code",
    after_help = "Environment: PLANFORM_VAR_<name> sets a variable (lowest precedence); \
                  PLANFORM_LOG (error, warn, info, debug, trace, or per-target filters such as \
                  planform_client=debug) turns on logs, written to standard error or to \
                  PLANFORM_LOG_PATH; NO_COLOR turns colour off."
)]
pub struct Cli {
    /// Run as if started in DIR (the manifest directory).
    #[arg(
        short = 'C',
        long = "chdir",
        global = true,
        value_name = "DIR",
        default_value = "."
    )]
    pub dir: PathBuf,
    /// Never colour the output (as NO_COLOR does).
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text like Terraform's.
    Text,
    /// The machine-readable UI: JSON lines, or one JSON document (docs/json-output.md).
    Json,
    /// A report for a pull-request comment or a drift alert.
    Markdown,
}

/// `--format` for commands that print text or JSON only.
fn text_or_json() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(["text", "json"]).map(|s| match s.as_str() {
        "json" => Format::Json,
        _ => Format::Text,
    })
}

#[derive(Debug, Clone, clap::Args)]
pub struct VarArgs {
    /// Set a variable: NAME=VALUE (repeatable; later wins; over PLANFORM_VAR_NAME and .pfvars files).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a file (repeatable; in command-line order with --var).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

impl VarArgs {
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.var_files.is_empty()
    }
}

/// Flags of the commands that take the state lock.
#[derive(Debug, Clone, clap::Args)]
pub struct LockArgs {
    /// How long to wait for the state lock, e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
    /// Take the state lock (`--lock=false`: a read-only plan; commands that write refuse it).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub lock: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check the manifests; no network. Exit 0 valid, 1 invalid.
    Validate {
        #[command(flatten)]
        vars: VarArgs,
        /// text, or json: one document with the diagnostics and their source ranges.
        #[arg(long, value_parser = text_or_json(), default_value = "text")]
        format: Format,
    },
    /// Rewrite *.hcl and *.pfvars in canonical form. With --check, exit 3 if a file would change.
    Fmt {
        /// Change nothing; list the files that are not in canonical form and exit 3 if any.
        #[arg(long)]
        check: bool,
        /// The files or directories to format (default: the manifest directory).
        paths: Vec<PathBuf>,
    },
    /// Show what apply would do. Exit 0 success, 1 error, 2 changes (with --detailed-exitcode).
    Plan {
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        lock: LockArgs,
        /// Exit 2 when there are changes (0 when there are none, 1 on error).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan only ADDR and what it depends on (repeatable); for exceptional cases, not routine use.
        #[arg(long = "target", value_name = "ADDR")]
        targets: Vec<String>,
        /// Save the change set to FILE for `planform apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also create or update the cloud plans (without executing them), wait for their
        /// previews and show the cloud's own ResourceChanges; the next apply executes them.
        #[arg(long, conflicts_with = "destroy")]
        cloud_preview: bool,
        /// Only report what changed in the cloud; propose nothing.
        #[arg(long, conflicts_with_all = ["destroy", "replace"])]
        refresh_only: bool,
        /// Plan to destroy everything this workspace manages: the change set `planform destroy` makes.
        #[arg(long)]
        destroy: bool,
        /// Replace ADDR even if nothing changed: delete its plan and create it again, updating the
        /// launched product (repeatable).
        #[arg(long = "replace", value_name = "ADDR", conflicts_with = "destroy")]
        replace: Vec<String>,
        /// With --refresh=false, read nothing from any cloud: diff against the stored state.
        #[arg(
            long,
            value_name = "BOOL",
            action = ArgAction::Set,
            num_args = 0..=1,
            require_equals = true,
            default_value = "true",
            default_missing_value = "true",
            value_parser = clap::value_parser!(bool),
        )]
        refresh: bool,
        /// text, json (one event per line) or markdown (a pull-request comment).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// With --format markdown: the most characters the report may have (default 65000, a
        /// GitHub comment's room); past it the most important changes are kept, the rest counted.
        #[arg(long, value_name = "CHARS", value_parser = clap::value_parser!(u64).range(MIN_LIMIT as u64..))]
        markdown_limit: Option<u64>,
    },
    /// Make the cloud match the manifests. Exit 0 converged, 1 error, 3 plans await approval.
    Apply {
        /// A plan file from `plan --out`: run exactly that change set (refused when stale).
        planfile: Option<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        lock: LockArgs,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// How many changes may run at once.
        #[arg(long, value_name = "N", default_value_t = 10)]
        parallelism: usize,
        /// Apply only ADDR and what it depends on (repeatable); not with a plan file.
        #[arg(long = "target", value_name = "ADDR", conflicts_with = "planfile")]
        targets: Vec<String>,
        /// Replace ADDR even if nothing changed: delete its plan and create it again, updating the
        /// launched product (repeatable); not with a plan file.
        #[arg(long = "replace", value_name = "ADDR", conflicts_with = "planfile")]
        replace: Vec<String>,
        /// text, or json: one event per line.
        #[arg(long, value_parser = text_or_json(), default_value = "text")]
        format: Format,
    },
    /// Terminate or delete everything this workspace manages.
    Destroy {
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        lock: LockArgs,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        auto_approve: bool,
        /// How many changes may run at once.
        #[arg(long, value_name = "N", default_value_t = 10)]
        parallelism: usize,
        /// Destroy only ADDR and what depends on it (repeatable).
        #[arg(long = "target", value_name = "ADDR")]
        targets: Vec<String>,
        /// text, or json: one event per line (as apply's).
        #[arg(long, value_parser = text_or_json(), default_value = "text")]
        format: Format,
    },
    /// Report what changed in the cloud outside planform. Read-only. Exit 0 in sync, 1 error, 2 drift.
    Drift {
        #[command(flatten)]
        vars: VarArgs,
        /// text, json (one event per line) or markdown (an alert).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// With --format markdown: the most characters the report may have (default 65000, a
        /// GitHub issue's room); past it the most important items are kept, the rest counted.
        #[arg(long, value_name = "CHARS", value_parser = clap::value_parser!(u64).range(MIN_LIMIT as u64..))]
        markdown_limit: Option<u64>,
        /// Write the report to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Leave ADDR (or ADDR.ATTR) out of the report (repeatable).
        #[arg(long = "ignore", value_name = "ADDR[.ATTR]")]
        ignore: Vec<String>,
    },
    /// Show a plan file's change set, or the state (an error when there is none).
    Show {
        /// A plan file from `plan --out` (default: show the state).
        planfile: Option<PathBuf>,
        /// text, or json: one document (the part `terraform show -json` plays, in planform's own shape).
        #[arg(long, value_parser = text_or_json(), default_value = "text")]
        format: Format,
    },
    /// Show the manifests' outputs, resolved from the state.
    Output {
        /// Show only this output's value.
        name: Option<String>,
        #[command(flatten)]
        vars: VarArgs,
        /// text, or json: one document (or the value alone with NAME).
        #[arg(long, value_parser = text_or_json(), default_value = "text")]
        format: Format,
    },
    /// The dependency graph of the manifests, or with --plan of the change set.
    Graph {
        #[command(flatten)]
        vars: VarArgs,
        /// dot (Graphviz) or mermaid (GitHub renders it in markdown).
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
        /// Draw the change set a plan makes, coloured by action (reads the cloud, as plan does).
        #[arg(long)]
        plan: bool,
    },
    /// Bring an existing plan under management: import ADDR PLAN_ID.
    Import {
        /// The address to import into (with PLAN_ID).
        #[arg(required_unless_present = "from_tags")]
        address: Option<String>,
        /// The id of the cloud plan to adopt.
        #[arg(required_unless_present = "from_tags")]
        plan_id: Option<String>,
        /// Rebuild the state from the cloud: adopt every plan that carries this workspace's
        /// ownership tags for an address in the manifests.
        #[arg(long, conflicts_with_all = ["address", "plan_id"])]
        from_tags: bool,
        /// Adopt the plan although its ownership tags name another workspace (which then no
        /// longer manages it: `planform state rm` it there).
        #[arg(long, conflicts_with = "from_tags")]
        force: bool,
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Read and edit the state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// The embedded sandbox.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Print planform's version, commit, target and UI format version.
    Version {
        /// text, or json: one document.
        #[arg(long, value_parser = text_or_json(), default_value = "text")]
        format: Format,
    },
    /// Print a shell completion script (e.g. `planform completions bash > /etc/bash_completion.d/planform`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write man pages (planform.1 and one per command) into DIR.
    Man {
        /// The directory to write the pages to (created if missing).
        dir: PathBuf,
    },
}

/// How `planform graph` draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the managed addresses.
    List,
    /// Show what the state holds for one address.
    Show {
        /// The address to show, e.g. plan.app["web"].
        address: String,
    },
    /// Forget addresses (their plans stay in the cloud).
    Rm {
        /// The addresses to forget.
        addresses: Vec<String>,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Rename an address in the state.
    Mv {
        /// The address now.
        from: String,
        /// The new address.
        to: String,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Print the stored state (the snapshot JSON, journal replayed) on standard output.
    Pull,
    /// Replace the stored state with FILE (a `state pull` of this or another backend): refused
    /// for another lineage or a serial not newer than the stored one.
    Push {
        /// The state file to store (e.g. from `state pull`, or `errored-state.json`): the same
        /// lineage and a newer serial than the stored state, or a workspace without state.
        file: std::path::PathBuf,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Release the state lock.
    Unlock {
        /// Release it even when its holder seems alive.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the emulator over HTTP: the Alibaba RPC and AWS JSON 1.1 protocols on one port.
    Serve(ServeArgs),
    /// Approve a plan under review.
    Approve {
        /// The plan to approve.
        plan_id: String,
        /// The approver's comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Reject a plan under review.
    Reject {
        /// The plan to reject.
        plan_id: String,
        /// The rejecter's comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// `sandbox serve` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0: any free port; the line `listening on …` says which).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: String,
    /// Where the data lives (default: .planform/sandbox in the manifest directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A catalog file (JSON, see docs/sandbox.md) instead of the built-in demo catalog.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// ID:SECRET or ID:SECRET:STS_TOKEN (repeatable), optionally after its RAM user and that
    /// user's account: USER=ID:SECRET, USER@ACCOUNT=ID:SECRET (a key of another account than
    /// the sandbox's own sees only that account's plans). Visible to other users in `ps`: prefer
    /// --access-key-file or PLANFORM_SANDBOX_ACCESS_KEY. Keys from every source are accepted;
    /// with none, a key pair is generated from the OS random source and printed.
    #[arg(long = "access-key", value_name = "ID:SECRET")]
    pub access_keys: Vec<String>,
    /// A file of keys, one ID:SECRET[:TOKEN] a line (# comments). Refused, as ssh refuses a
    /// private key, unless it is a regular file of yours that group and others cannot read
    /// (chmod 600). The environment variable PLANFORM_SANDBOX_ACCESS_KEY=ID:SECRET[:TOKEN] adds
    /// one more key.
    #[arg(long = "access-key-file", value_name = "PATH")]
    pub access_key_files: Vec<PathBuf>,
    /// Added latency of every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How long a plan's preview takes, in milliseconds.
    #[arg(long)]
    pub preview_ms: Option<u64>,
    /// How long a plan's execution takes, in milliseconds.
    #[arg(long)]
    pub execute_ms: Option<u64>,
    /// Share of requests answered 500 / 503, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Requests per second above which requests are throttled.
    #[arg(long)]
    pub throttle_rps: Option<f64>,
    /// A request must arrive whole within this time of its first byte (a new connection: of
    /// connecting), or the connection is closed, e.g. 10s.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub header_read_timeout: String,
    /// A keep-alive connection with no request under way is closed after this time, e.g. 60s.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub idle_timeout: String,
    /// Connections served at once; past it, a connection is refused (answered 503 with
    /// Retry-After: 1, which both clouds' SDKs retry) rather than queued.
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_connections: usize,
    /// The largest request body accepted, in bytes (413 above it).
    #[arg(long, value_name = "BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Cli;

    /// Every argument of every command has help text.
    #[test]
    fn every_flag_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "planform", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }

    /// A flag that does not apply to a command is refused, naming the flag and what is allowed.
    #[test]
    fn flags_that_do_not_apply_are_refused() {
        let refused = |args: &[&str]| {
            let argv = std::iter::once("planform").chain(args.iter().copied());
            Cli::try_parse_from(argv)
                .map(|_| ())
                .expect_err("refused")
                .to_string()
        };
        let e = refused(&["apply", "--format", "markdown"]);
        assert!(
            e.contains("invalid value 'markdown' for '--format <FORMAT>'")
                && e.contains("[possible values: text, json]"),
            "{e}"
        );
        for args in [
            &["show", "--format", "markdown"][..],
            &["output", "--format", "markdown"],
            &["validate", "--format", "markdown"],
            &["version", "--format", "markdown"],
        ] {
            assert!(
                refused(args).contains("[possible values: text, json]"),
                "{args:?}"
            );
        }
        assert!(refused(&["validate", "--lock-timeout", "5s"]).contains("--lock-timeout"));
        assert!(refused(&["drift", "--lock-timeout", "5s"]).contains("--lock-timeout"));
        assert!(
            refused(&["apply", "plan.out", "--target", "plan.a"]).contains("cannot be used with")
        );
        assert!(
            refused(&["plan", "--destroy", "--replace", "plan.a"]).contains("cannot be used with")
        );
        assert!(refused(&["plan", "--refresh", "false"]).contains("unexpected argument 'false'"));
        assert!(refused(&["plan", "--refresh=maybe"]).contains("invalid value 'maybe'"));
    }

    #[test]
    fn chdir_is_the_long_form_of_c() {
        let dir = |args: &[&str]| {
            let argv = std::iter::once("planform").chain(args.iter().copied());
            Cli::try_parse_from(argv).expect("parses").dir
        };
        assert_eq!(
            dir(&["-C", "x", "validate"]),
            dir(&["--chdir", "x", "validate"])
        );
        assert_eq!(
            dir(&["validate", "--chdir=y"]),
            std::path::PathBuf::from("y")
        );
    }

    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The help of every command, as users read it.
    #[test]
    fn help_output() {
        let mut root = Cli::command().term_width(100);
        root.build();
        insta::assert_snapshot!("help_planform", root.render_help().to_string());
        let names: Vec<String> = root
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for name in names {
            let sub = root.find_subcommand_mut(&name).expect("listed");
            insta::assert_snapshot!(format!("help_{name}"), sub.render_help().to_string());
        }
    }
}
