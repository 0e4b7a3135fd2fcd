//! Loads `*.hcl` manifests and `*.pfvars` variable files into a [`DesiredState`], reporting every
//! problem at once as [`Diagnostics`] with `file:line:col`; and formats manifests (`fmt`).
//!
//! **Boundary**: the lowering reads no network and no process state: the caller passes the
//! files' text and the environment in ([`Inputs`]). [`load`] is the thin I/O wrapper that reads a
//! directory.

mod diagnostic;
mod format;
mod functions;
mod limits;
mod lower;
mod references;
mod syntax;
mod types;

use std::collections::BTreeMap;
use std::path::Path;

pub use diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
pub use format::{format_source, FormatError};
pub use lower::{
    lower, parse_duration, Inputs, Loaded, VarArg, MAX_DEPTH, MAX_FILE_BYTES, MAX_INSTANCES,
    MAX_INSTANCES_PER_BLOCK, MAX_STRING_BYTES, PLAN_REF_ATTRS,
};
pub use planform_model::DesiredState;

/// Where a variable comes from on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarOption {
    File(std::path::PathBuf),
    Assign(String),
}

/// Reads every `*.hcl` of `dir` (not recursive), `planform.pfvars`, `*.auto.pfvars` and the
/// command line's variables, and lowers them.
pub fn load(
    dir: &Path,
    options: &[VarOption],
    env: &BTreeMap<String, String>,
) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let cli = planform_model::SourceLocation {
        file: "<command line>".into(),
        line: 1,
        col: 1,
    };
    let mut fail = |loc: planform_model::SourceLocation, message: String| {
        diags.push(Diagnostic {
            severity: Severity::Error,
            anchor: loc.clone(),
            location: loc,
            subject: None,
            message,
        });
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            fail(
                cli,
                format!("cannot read manifest directory {}: {e}", dir.display()),
            );
            return Err(diags);
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let read = |name: &str,
                fail: &mut dyn FnMut(planform_model::SourceLocation, String)|
     -> Option<SourceFile> {
        match read_bounded(&dir.join(name)) {
            Ok(t) => Some(SourceFile::new(name, t)),
            Err(e) => {
                fail(
                    planform_model::SourceLocation {
                        file: name.into(),
                        line: 1,
                        col: 1,
                    },
                    format!("cannot read: {e}"),
                );
                None
            }
        }
    };
    let hcl: Vec<SourceFile> = names
        .iter()
        .filter(|n| n.ends_with(".hcl"))
        .filter_map(|n| read(n, &mut fail))
        .collect();
    if hcl.is_empty() && names.iter().all(|n| !n.ends_with(".hcl")) {
        fail(
            cli.clone(),
            format!("no *.hcl manifests in {}", dir.display()),
        );
    }
    let mut pfvars = Vec::new();
    if names.iter().any(|n| n == "planform.pfvars") {
        pfvars.extend(read("planform.pfvars", &mut fail));
    }
    for n in names.iter().filter(|n| n.ends_with(".auto.pfvars")) {
        pfvars.extend(read(n, &mut fail));
    }
    let mut args = Vec::new();
    for o in options {
        match o {
            VarOption::File(p) => match read_bounded(p) {
                Ok(t) => args.push(VarArg::File(SourceFile::new(p.display().to_string(), t))),
                Err(e) => fail(cli.clone(), format!("--var-file {}: {e}", p.display())),
            },
            VarOption::Assign(s) => match s.split_once('=') {
                Some((n, v)) if !n.trim().is_empty() => args.push(VarArg::Assign {
                    name: n.trim().to_string(),
                    value: v.to_string(),
                }),
                _ => fail(cli.clone(), format!("--var {s:?}: expected NAME=VALUE")),
            },
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    let inputs = Inputs {
        pfvars,
        args,
        env: env.clone(),
        base_dir: dir.to_path_buf(),
    };
    lower(&hcl, &inputs)
}

/// Reads a manifest or variable file of at most [`MAX_FILE_BYTES`] as UTF-8 text.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB, the most planform reads of one file",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}
