//! Records the git commit and the target triple for `planform version`; "unknown" when the
//! source is not a git checkout (e.g. a published crate).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    if let Ok(target) = std::env::var("TARGET") {
        println!("cargo:rustc-env=PLANFORM_TARGET={target}");
    }
    if let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) {
        println!("cargo:rustc-env=PLANFORM_COMMIT={commit}");
    }
    // Build again when HEAD moves: the worktree's HEAD and its reflog (written on each commit).
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
