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
    lower, parse_duration, Inputs, Loaded, VarArg, MAX_DEPTH, MAX_EVALUATED_PARTS, MAX_FILE_BYTES,
    MAX_INSTANCES, MAX_INSTANCES_PER_BLOCK, MAX_STRING_BYTES, MAX_TOTAL_BYTES, MAX_VALUE_PARTS,
    PLAN_REF_ATTRS,
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
    // What the files read so far hold, all together (see [`MAX_TOTAL_BYTES`]).
    let mut total: u64 = 0;
    let mut read = |name: &str,
                    fail: &mut dyn FnMut(planform_model::SourceLocation, String)|
     -> Option<SourceFile> {
        // A file of the directory is a regular file: a FIFO named `main.hcl` would block
        // the read for ever.
        match read_bounded(&dir.join(name), Kind::RegularFile, &mut total) {
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
            // A pipe is fine here: `--var-file <(…)` is the user's own choice.
            VarOption::File(p) => match read_bounded(p, Kind::Any, &mut total) {
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

/// A digest of the manifests `load` reads from `dir`: the names and texts of its `*.hcl`. A plan
/// file records it, so that it is applied only beside the manifests it was made from, never in
/// another directory (a fresh one, with no state, would take it) or after they changed. The
/// variable files are left out: they may hold sensitive values, and a plan file keeps no digest
/// of a secret (docs/security.md); a plan file holds the values it was made with anyway.
pub fn sources_digest(dir: &Path) -> std::io::Result<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".hcl"))
        .collect();
    names.sort();
    let mut total = 0;
    let files = names
        .into_iter()
        .map(|name| {
            let text = read_bounded(&dir.join(&name), Kind::RegularFile, &mut total)?;
            Ok(SourceFile::new(name, text))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(manifests_digest(&files))
}

/// The digest of these manifests (see [`sources_digest`]): their names and texts, in name order.
/// [`lower`] gives it for what it lowered ([`Loaded::manifests_digest`]), so a plan records the
/// digest of the very texts it was made from, read once.
pub fn manifests_digest(files: &[SourceFile]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hash = Sha256::new();
    for f in sorted {
        for part in [f.name.as_bytes(), f.text.as_bytes()] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
    }
    format!("sha256:{:x}", hash.finalize())
}

/// What a file read may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    RegularFile,
    Any,
}

/// Reads a manifest or variable file of at most [`MAX_FILE_BYTES`] as UTF-8 text, counting its
/// bytes into `total`, which may not pass [`MAX_TOTAL_BYTES`].
fn read_bounded(path: &Path, kind: Kind, total: &mut u64) -> std::io::Result<String> {
    use std::io::Read;
    if kind == Kind::RegularFile && !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    let cap = MAX_FILE_BYTES.min(MAX_TOTAL_BYTES.saturating_sub(*total));
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB, the most planform reads of one file",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    if bytes.len() as u64 > cap {
        return Err(std::io::Error::other(format!(
            "the manifests and variable files hold more than {} MiB together, the most planform reads",
            MAX_TOTAL_BYTES / 1024 / 1024
        )));
    }
    *total += bytes.len() as u64;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16 (7), found by the acceptance audit: each file within its limit, 60 files of
    /// 3.8 MB were read (1.8 GB); the files of one load are bounded together, and the first
    /// file past the bound is named.
    #[test]
    fn the_files_of_one_load_are_bounded_together() {
        let dir = tempfile::tempdir().unwrap();
        // A comment line fills each file: 3 MiB each, so the sixth passes 16 MiB.
        let filler = format!("# {}\n", "x".repeat(3 * 1024 * 1024 - 3));
        for i in 0..7 {
            std::fs::write(dir.path().join(format!("f{i}.hcl")), &filler).unwrap();
        }
        let e = load(dir.path(), &[], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f5.hcl:1:1: cannot read: the manifests and variable files hold more than 16 MiB together"),
            "{e}"
        );
        assert!(!e.contains("f4.hcl"), "{e}");
    }

    /// The digest changes with any manifest of the directory, and with nothing else there:
    /// not its variable files, which may hold secrets.
    #[test]
    fn the_sources_digest_follows_the_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let digest = || sources_digest(dir.path()).unwrap();
        std::fs::write(dir.path().join("main.hcl"), "locals {}\n").unwrap();
        let first = digest();
        assert!(
            first.starts_with("sha256:") && first.len() == 7 + 64,
            "{first}"
        );
        std::fs::write(dir.path().join("README.md"), "notes").unwrap();
        std::fs::write(dir.path().join("x.auto.pfvars"), "password = \"hunter2\"\n").unwrap();
        assert_eq!(digest(), first);
        std::fs::write(dir.path().join("main.hcl"), "locals { }\n").unwrap();
        let edited = digest();
        assert_ne!(edited, first);
        // A file's text moved to another file's name is another digest.
        std::fs::remove_file(dir.path().join("main.hcl")).unwrap();
        std::fs::write(dir.path().join("other.hcl"), "locals { }\n").unwrap();
        assert_ne!(digest(), edited);
        // What a load lowered has the digest the directory has (a plan records the one, apply
        // compares it with the other).
        let loaded = load(dir.path(), &[], &BTreeMap::new()).unwrap();
        assert_eq!(loaded.manifests_digest, digest());
    }

    /// A manifest that is not a regular file (a FIFO: reading it would wait for a writer for
    /// ever) is refused before it is opened; `--var-file` may name a pipe (`<(…)`).
    #[cfg(unix)]
    #[test]
    fn a_manifest_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.hcl"), "locals {}\n").unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(dir.path().join("b.hcl"))
            .status()
            .unwrap()
            .success());
        let e = load(dir.path(), &[], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "b.hcl:1:1: cannot read: not a regular file\n");
    }
}
