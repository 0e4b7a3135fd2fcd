//! The bodies of the fuzz targets: each takes arbitrary bytes and feeds them to one decoder of
//! hostile input, asserting what must hold for any input (no panic; invariants such as "fmt is
//! idempotent"). `fuzz/fuzz_targets/*.rs` run them under libFuzzer (`cargo +nightly fuzz run
//! manifest`, see `fuzz/README.md`); the tests beside this file run the same bodies on stable
//! for a bounded number of generated inputs, plus every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` (the crashes found, kept as regression tests).

use std::path::Path;

mod answers;
mod faces;
mod journal;

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

/// A plan file (`apply PLANFILE`, `show PLANFILE`), read as the CLI reads it (an envelope is
/// opened with `FUZZ_KEY`, plaintext is taken as it is): decoding says what is wrong with it (or
/// reads it) and never panics; a plan file read re-encodes to one that reads back equal, and
/// sealed with `FUZZ_KEY` it opens to that same plan file.
pub fn plan_file(data: &[u8]) {
    use planform_engine::plan_file::{decode, encode, sensitive_values};
    let key = planform_encryption::Encryption::with_key(FUZZ_KEY);
    let stored = String::from_utf8_lossy(data);
    let text = if planform_encryption::is_sealed(&stored) {
        match key.decode("plan", &stored, "fuzz") {
            Ok(opened) => opened.text,
            Err(_) => return,
        }
    } else {
        stored.into_owned()
    };
    let read = match decode(&text) {
        Ok(read) => read,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "an error without a message");
            return;
        }
    };
    let _ = sensitive_values(&read.changes);
    let encoded = encode(&read);
    let again = decode(&encoded)
        .unwrap_or_else(|e| panic!("a re-encoded plan file does not read ({e}):\n{encoded}"));
    assert!(
        again == read,
        "a re-encoded plan file reads back different: {}",
        first_difference(&encoded, &encode(&again))
    );
    let sealed = key.encode("plan", &encoded).expect("sealing never fails");
    let opened = key
        .decode("plan", &sealed, "fuzz")
        .expect("a sealed plan file opens");
    let reopened = decode(&opened.text).expect("an opened plan file reads");
    assert_eq!(reopened, read, "a sealed plan file opens to itself");
}

/// The first line where two texts differ, as `line N: "…" != "…"`.
fn first_difference(a: &str, b: &str) -> String {
    let mut lines = a.lines().zip(b.lines()).enumerate();
    match lines.find(|(_, (x, y))| x != y) {
        Some((i, (x, y))) => format!("line {}: {x:?} != {y:?}", i + 1),
        None => format!("{} lines != {} lines", a.lines().count(), b.lines().count()),
    }
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

/// A request to `sandbox serve`, answered in process (`planform_sandbox::server::answer`): the
/// first byte picks the shape — raw method, target, headers and body; a signed Alibaba RPC
/// request with arbitrary parameters in the query or a form body; a signed AWS JSON 1.1 request
/// with an arbitrary body. The server answers every one with a status below 500 (no fault is
/// injected, so a 5xx is the server failing on its own) and, when it says JSON, parseable JSON.
pub fn sandbox_request(data: &[u8]) {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let request = match shape % 4 {
        0 => faces::raw(rest),
        1 => faces::alibaba_rpc(rest, false),
        2 => faces::alibaba_rpc(rest, true),
        _ => faces::aws_json(rest),
    };
    let Some(request) = request else {
        return;
    };
    let (status, content_type, body) = faces::answer(request);
    let text = String::from_utf8_lossy(&body);
    assert!(
        (200..500).contains(&status),
        "the sandbox answered {status} with no fault injected: {text}"
    );
    if content_type.contains("json") {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
            panic!("a {content_type} answer does not parse ({e}): {text}");
        }
    }
}

/// An answer of an Alibaba endpoint (status, headers, body from the input) to every call of the
/// Alibaba client: no panic, one request per call (two for `update_plan` and
/// `provisioned_product`, which read back), and an error answer (status 300 and up) is an
/// error that was sent and names a code.
pub fn alibaba_response(data: &[u8]) {
    let canned = answers::Canned::from_bytes(data);
    let (outcomes, requests) = answers::alibaba(&canned);
    check_outcomes(&canned, &outcomes);
    assert!(
        requests <= outcomes.len() as u64 + 2,
        "{requests} requests for {} calls",
        outcomes.len()
    );
}

/// An answer of the AWS endpoint (status, headers, body from the input) to every call of the AWS
/// client: no panic, no call that keeps asking (a client that pages on the same answer forever
/// would exhaust the connector's limit), and an error answer is an error that was sent.
pub fn aws_response(data: &[u8]) {
    const LIMIT: u64 = 200;
    let canned = answers::Canned::from_bytes(data);
    let (outcomes, requests) = answers::aws(&canned, LIMIT);
    assert!(
        requests < LIMIT,
        "the client kept sending requests ({requests}) on the same answer: {outcomes:?}"
    );
    check_outcomes(&canned, &outcomes);
}

/// What every client call that sent a request must give for `canned`: an error answer fails
/// the call (except a lookup, which may take it for "not found") as an error that was sent and
/// names its code. (A call the cloud does not offer sends nothing and is not judged.)
fn check_outcomes(canned: &answers::Canned, outcomes: &answers::Outcomes) {
    if canned.status < 300 {
        return;
    }
    for (call, outcome, requests) in outcomes {
        match outcome {
            _ if *requests == 0 => {}
            None if *call == "find_provisioned_product" => {}
            None => panic!("{call} took a {} answer for a success", canned.status),
            Some(e) => {
                assert_eq!(e.sent, planform_model::Sent::Yes, "{call}: {e:?}");
                assert!(!e.code.is_empty(), "{call}: an error without a code: {e:?}");
            }
        }
    }
}

/// The local state's journal: a snapshot (serial 1) and a journal of `data[0] % 5` valid
/// records followed by the rest of the input. Loading never fails on the journal and never
/// panics; it applies at least the valid records, and exactly those when the rest holds no line
/// that could be a record.
pub fn journal(data: &[u8]) {
    let (valid, tail) = match data.split_first() {
        Some((&n, tail)) => (u64::from(n % 5), tail),
        None => (0, data),
    };
    let path = journal::fresh_snapshot_path();
    std::fs::write(&path, journal::SNAPSHOT).expect("temporary file");
    let backend = planform_state::LocalBackend::new(&path);
    let mut bytes: Vec<u8> = (0..valid)
        .flat_map(|i| journal::line(&journal::record(i)))
        .collect();
    bytes.extend_from_slice(tail);
    std::fs::write(backend.journal_path(), &bytes).expect("temporary file");
    let loaded = backend.load_now();
    let _ = std::fs::remove_dir_all(path.parent().expect("a directory"));
    let state = match loaded {
        Ok(Some(s)) => s,
        other => panic!("the snapshot with a journal did not load: {other:?}"),
    };
    assert!(
        // Serial 1 and every valid record applied.
        state.serial > valid,
        "serial {} after {valid} valid records on serial 1",
        state.serial
    );
    if valid > 0 {
        let last: planform_model::Address = format!("plan.fuzz[{}]", valid - 1)
            .parse()
            .expect("an address");
        assert!(
            state.serial > 1 + valid || state.plans.contains_key(&last),
            "the last valid record's plan is missing"
        );
    }
    let could_be_a_record = tail.windows(9).any(|w| w == b"\"lineage\"");
    if !could_be_a_record {
        assert_eq!(state.serial, 1 + valid, "only the valid records apply");
    }
}

#[cfg(test)]
mod tests;
