//! Command-line arguments, as close to the flags as possible (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "planform",
    version,
    about = "Service Catalog provisioned product plans as code"
)]
pub struct Cli {
    /// Run as if started in DIR (the manifest directory).
    #[arg(short = 'C', global = true, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Never colour the output.
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, clap::Args)]
pub struct VarArgs {
    /// Set a variable: NAME=VALUE (repeatable; later wins).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from a file (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// How long to wait for the state lock, e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub lock_timeout: String,
    /// Take the state lock (`--lock=false`: a read-only plan; commands that write refuse it).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub lock: bool,
}

/// The lock flags of the `state` commands that write.
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
    },
    /// Rewrite *.hcl and *.pfvars in canonical form. With --check, exit 3 if a file would change.
    Fmt {
        #[arg(long)]
        check: bool,
        paths: Vec<PathBuf>,
    },
    /// Show what apply would do. Exit 0 success, 1 error, 2 changes (with --detailed-exitcode).
    Plan {
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long)]
        detailed_exitcode: bool,
        #[arg(long = "target", value_name = "ADDR")]
        targets: Vec<String>,
        /// Save the change set to FILE for `planform apply FILE`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also create or update the cloud plans (without executing them), wait for their
        /// previews and show the cloud's own ResourceChanges; the next apply executes them.
        #[arg(long)]
        cloud_preview: bool,
        /// Only report what changed in the cloud; propose nothing.
        #[arg(long)]
        refresh_only: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Make the cloud match the manifests. Exit 0 converged, 1 error, 3 plans await approval.
    Apply {
        /// A plan file from `plan --out`: run exactly that change set (refused when stale).
        planfile: Option<PathBuf>,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        #[arg(long = "target", value_name = "ADDR")]
        targets: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Terminate or delete everything this workspace manages.
    Destroy {
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, default_value_t = 10)]
        parallelism: usize,
        #[arg(long = "target", value_name = "ADDR")]
        targets: Vec<String>,
    },
    /// Report what changed in the cloud outside planform. Read-only. Exit 0 in sync, 1 error, 2 drift.
    Drift {
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Write the report to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Leave ADDR (or ADDR.ATTR) out of the report (repeatable).
        #[arg(long = "ignore", value_name = "ADDR[.ATTR]")]
        ignore: Vec<String>,
    },
    /// Show a plan file's change set, or the state.
    Show {
        planfile: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Show the manifests' outputs, resolved from the state.
    Output {
        name: Option<String>,
        #[command(flatten)]
        vars: VarArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// The dependency graph in DOT.
    Graph {
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Bring an existing plan under management: import ADDR PLAN_ID.
    Import {
        /// The address to import into (with PLAN_ID).
        #[arg(required_unless_present = "from_tags")]
        address: Option<String>,
        #[arg(required_unless_present = "from_tags")]
        plan_id: Option<String>,
        /// Rebuild the state from the cloud: adopt every plan that carries this workspace's
        /// ownership tags for an address in the manifests.
        #[arg(long, conflicts_with_all = ["address", "plan_id"])]
        from_tags: bool,
        #[command(flatten)]
        vars: VarArgs,
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
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    List,
    Show {
        address: String,
    },
    Rm {
        addresses: Vec<String>,
        #[command(flatten)]
        lock: LockArgs,
    },
    Mv {
        from: String,
        to: String,
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Print the stored state (the snapshot JSON, journal replayed) on standard output.
    Pull,
    /// Replace the stored state with FILE (a `state pull` of this or another backend): refused
    /// for another lineage or a serial not newer than the stored one.
    Push {
        file: std::path::PathBuf,
        #[command(flatten)]
        lock: LockArgs,
    },
    Unlock {
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
        plan_id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Reject a plan under review.
    Reject {
        plan_id: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// `sandbox serve` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: String,
    /// Where the data lives (default: .planform/sandbox in the manifest directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A catalog file (JSON, see docs/sandbox.md) instead of the built-in demo catalog.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// ID:SECRET or ID:SECRET:STS_TOKEN (repeatable). Without it a key pair is generated and printed.
    #[arg(long = "access-key", value_name = "ID:SECRET")]
    pub access_keys: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    #[arg(long)]
    pub preview_ms: Option<u64>,
    #[arg(long)]
    pub execute_ms: Option<u64>,
    /// Share of requests answered 500 / 503, from 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Requests per second above which requests are throttled.
    #[arg(long)]
    pub throttle_rps: Option<f64>,
}
