//! The bodies of the fuzz targets: each takes arbitrary bytes and feeds them to one decoder of
//! hostile input, asserting what must hold for any input (no panic; invariants such as "fmt is
//! idempotent"). `fuzz/fuzz_targets/*.rs` run them under libFuzzer (`cargo +nightly fuzz run
//! manifest`, see `fuzz/README.md`); the tests beside this file run the same bodies on stable
//! for a bounded number of generated inputs, plus every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` (the crashes found, kept as regression tests).

use std::path::Path;

/// A manifest: lowering reports diagnostics or a desired state, and never panics; `fmt` of a
/// file that parses is idempotent and keeps it parseable.
pub fn manifest(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let file = planform_manifest::SourceFile::new("main.hcl", text.as_ref());
    let inputs = planform_manifest::Inputs {
        base_dir: std::env::temp_dir().join("planform-fuzz-no-such-dir"),
        ..planform_manifest::Inputs::default()
    };
    let _ = planform_manifest::lower(&[file], &inputs);
    if let Ok(once) = planform_manifest::format_source(&text) {
        let twice = planform_manifest::format_source(&once)
            .unwrap_or_else(|e| panic!("fmt output does not parse: {e}\n{once}"));
        assert_eq!(once, twice, "fmt is not idempotent");
    }
}

/// A state file: `load` says what is wrong with it (or reads it), and never panics.
pub fn state_file(data: &[u8]) {
    let dir = tempfile_dir();
    let path = dir.join("state.json");
    std::fs::write(&path, data).expect("temporary file");
    let _ = planform_state::load(&path);
    let _ = std::fs::remove_file(&path);
}

/// The key the `encrypted_file` target opens envelopes with (its corpus is sealed with it).
pub const FUZZ_KEY: [u8; 32] = [42; 32];

/// An encrypted state or plan file (the first stage of reading either): opening it with a key
/// says what is wrong with it (or reads it) and never panics, and any text sealed opens to itself.
pub fn encrypted_file(data: &[u8]) {
    let key = planform_encryption::Encryption::with_key(FUZZ_KEY);
    let text = String::from_utf8_lossy(data);
    for context in ["state", "journal", "plan"] {
        let _ = key.decode(context, &text, "fuzz");
    }
    let _ = planform_state::decode(&text, "fuzz", &key);
    let sealed = key.encode("plan", &text).expect("sealing never fails");
    let opened = key
        .decode("plan", &sealed, "fuzz")
        .expect("a sealed text opens");
    assert_eq!(opened.text, text, "a sealed text opens to itself");
}

/// A directory of this process for files the targets write.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("planform-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// The inputs kept for `target`: its corpus and its regressions, and for `manifest` also the
/// repository's own manifests (the examples and the bad-manifest corpus of the e2e tests).
pub fn kept_inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = vec![
        repo.join("fuzz/corpus").join(target),
        repo.join("fuzz/regressions").join(target),
    ];
    if target == "manifest" {
        dirs.push(repo.join("tests/manifests/bad"));
        for example in ["quickstart", "alibaba", "aws"] {
            dirs.push(repo.join("examples").join(example));
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten().filter(|e| e.path().is_file()) {
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push((e.path().display().to_string(), bytes));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests;
