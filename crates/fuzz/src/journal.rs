//! A local state as the fuzz target of the journal reader sees it: a snapshot (serial 1) and,
//! beside it, a journal of valid records (written in the journal's documented line format,
//! `docs/state.md`: the first 16 hex digits of the SHA-256 of the JSON, a space, the JSON, a
//! newline) followed by arbitrary bytes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// The snapshot: workspace `w`, lineage `x`, serial 1, one plan.
pub(crate) const SNAPSHOT: &str = r#"{"version":1,"serial":1,"lineage":"x","workspace":"w","plans":{"plan.a[\"k\"]":{"provider":"sandbox","plan_id":"p","status":"s","depends_on":["plan.b"]}}}"#;

/// The journal line of `json`.
pub(crate) fn line(json: &str) -> Vec<u8> {
    let sum = hex::encode(&Sha256::digest(json.as_bytes())[..8]);
    format!("{sum} {json}\n").into_bytes()
}

/// Record `i` of the valid prefix (serial `2 + i`, lineage `x`): puts `plan.fuzz[i]`, and from
/// the second on removes the one before.
pub(crate) fn record(i: u64) -> String {
    let put = format!(
        r#"{{"op":"put","address":"plan.fuzz[{i}]","plan":{{"provider":"sandbox","plan_id":"p{i}","status":"s"}}}}"#
    );
    let changes = match i {
        0 => put,
        _ => format!(
            r#"{put},{{"op":"remove","address":"plan.fuzz[{}]"}}"#,
            i - 1
        ),
    };
    format!(
        r#"{{"lineage":"x","serial":{},"changes":[{changes}]}}"#,
        2 + i
    )
}

/// A snapshot path of its own for this call (the state and its journal beside it).
pub(crate) fn fresh_snapshot_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir =
        crate::tempfile_dir().join(format!("journal-{}", NEXT.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir.join("state.json")
}
