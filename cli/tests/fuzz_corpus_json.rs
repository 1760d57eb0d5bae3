//! Replays the committed inputs of the `cli_json` fuzz target (`fuzz/corpus/cli_json/`, and
//! `fuzz/regressions/cli_json/` when there is one) through the tool's JSON reader on every
//! `cargo test`; the root package's `tests/fuzz_corpus.rs` replays the other targets.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The JSON reader lives in the binary: included by path, as the fuzz target does.
#[path = "../src/json.rs"]
#[allow(dead_code)]
mod json;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn cli_json_corpus_and_regressions() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut paths = inputs(&fuzz.join("corpus/cli_json"));
    assert!(!paths.is_empty(), "empty corpus fuzz/corpus/cli_json");
    let regressions = fuzz.join("regressions/cli_json");
    if regressions.is_dir() {
        paths.extend(inputs(&regressions));
    }
    let failed: Vec<String> = paths
        .iter()
        .filter(|p| {
            let data = std::fs::read(p).unwrap();
            catch_unwind(AssertUnwindSafe(|| json::fuzz_round_trip(&data))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "inputs that panicked: {failed:#?}");
}

/// What the fuzz target checks, on inputs the seeds may not hold: the first pass's
/// replacements (`NaN`, big integers, `-0`) inside and outside strings, and malformed text.
#[test]
fn round_trip_of_forms_beyond_serde_json() {
    for text in [
        "[NaN, -Infinity, Infinity, 1e999, -0, 18446744073709551616, \"NaN null\"]",
        "{\"$bytes\": \"00\", \"x\": [null, NaN]}",
        "[\"\\\"\", NaN]",
        "\"unterminated \\\"",
        "[é, NaN]",
        "-",
        "[-0.0e, 1]",
    ] {
        json::fuzz_round_trip(text.as_bytes());
    }
}
