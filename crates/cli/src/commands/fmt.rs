//! `planform fmt`: rewrite *.hcl and *.pfvars in canonical form, or check that they are.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::exit;
use crate::invocation::Invocation;

pub fn run(inv: &Invocation, check: bool, paths: &[PathBuf]) -> Result<u8> {
    let roots = if paths.is_empty() {
        vec![inv.dir.clone()]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for p in roots {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "hcl" || x == "pfvars"))
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p);
        }
    }
    let mut changed = Vec::new();
    let mut failed = false;
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        match planform_manifest::format_source(&text) {
            Ok(out) if out != text => {
                if !check {
                    write_atomic(&f, &out)?;
                }
                outln!("{}", f.display());
                changed.push(f);
            }
            Ok(_) => {}
            Err(e @ planform_manifest::FormatError::Syntax { .. }) => {
                // `file:line:col: syntax error: …`, as validate writes it.
                errln!("error: {}:{e}", f.display());
                failed = true;
            }
            Err(e) => {
                errln!("error: {}: {e}", f.display());
                failed = true;
            }
        }
    }
    if failed {
        return Ok(exit::ERROR);
    }
    if check && !changed.is_empty() {
        errln!(
            "{} file{} would be reformatted; run `planform fmt`.",
            changed.len(),
            if changed.len() == 1 { "" } else { "s" }
        );
        return Ok(exit::PENDING);
    }
    Ok(exit::OK)
}

/// Replaces the manifest atomically, keeping its mode.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode()
        & 0o7777;
    planform_state::write_atomically_with_mode(path, text.as_bytes(), mode)
        .with_context(|| format!("cannot write {}", path.display()))
}
