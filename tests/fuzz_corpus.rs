//! Replays the committed fuzz inputs through the fuzz entry points on every `cargo test`, so
//! a fuzz finding stays fixed without a nightly toolchain.
//!
//! - `fuzz/corpus/<target>/`: the seed corpus; every target must have a non-empty directory.
//! - `fuzz/regressions/<target>/`: inputs that once crashed or hung a target (or stand for
//!   such a class of input). Add a minimized crash there under a descriptive name; its
//!   directory name must be one of the targets below.
//!
//! Regenerate the seeds with `cargo test --test fuzz_seeds -- --ignored`.

use aiozmq::fuzzing;
use aiozmq::zmtp::{Config, Connection, Event, FrameDecoder, Greeting, SocketType};
use bytes::BytesMut;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A fuzz entry point.
type Target = fn(&[u8]);

/// The fuzz targets: directory (and `fuzz/fuzz_targets/<name>.rs`) name, entry point.
const TARGETS: [(&str, Target); 15] = [
    ("greeting", fuzzing::greeting),
    ("frame", fuzzing::frames),
    ("command", fuzzing::command),
    ("connection", fuzzing::connection),
    ("rpc_request", aiozmq::fuzzing::rpc_request),
    ("pickle", aiozmq::fuzzing::pickle),
    ("plain", fuzzing::plain_handshake),
    ("curve", fuzzing::curve_handshake),
    ("curve_message", fuzzing::curve_message),
    ("curve_box", fuzzing::curve_box),
    ("subscriptions", aiozmq::fuzzing::subscriptions),
    ("socket_paths", aiozmq::fuzzing::socket_paths),
    ("endpoint", aiozmq::fuzzing::endpoint),
    ("proxy_control", aiozmq::fuzzing::proxy_control),
    ("udp_datagram", aiozmq::fuzzing::udp_datagram),
];

/// Fuzz targets whose entry points live in another package, which replays their corpus:
/// `cli_json`, the command-line tool's JSON reader (`cli/tests/fuzz_corpus_json.rs`).
const OTHER_PACKAGES: [&str; 1] = ["cli_json"];

/// Seed files are kept small so the corpus stays cheap to commit and replay.
const MAX_SEED_LEN: u64 = 4096;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn target_fn(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("{name} is not a fuzz target"))
        .1
}

/// The regular files of `dir`, sorted; panics when the directory is missing.
fn files(dir: &Path) -> Vec<PathBuf> {
    let rd =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// The sub-directories of `dir`, by name.
fn subdirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs every file through `f`; returns how many ran. Panics listing every input that
/// panicked, not just the first.
fn replay(f: Target, paths: &[PathBuf]) -> usize {
    let mut failed = Vec::new();
    for p in paths {
        let data = std::fs::read(p).unwrap();
        if catch_unwind(AssertUnwindSafe(|| f(&data))).is_err() {
            failed.push(p.display().to_string());
        }
    }
    assert!(failed.is_empty(), "inputs that panicked: {failed:#?}");
    paths.len()
}

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    assert!(
        dir.is_dir(),
        "missing corpus directory {} (regenerate with `cargo test --test fuzz_seeds -- --ignored`)",
        dir.display()
    );
    let v = files(&dir);
    assert!(!v.is_empty(), "empty corpus directory {}", dir.display());
    v
}

fn replay_corpus(target: &str) {
    let n = replay(target_fn(target), &corpus_files(target));
    assert!(n > 0);
}

#[test]
fn greeting_corpus() {
    replay_corpus("greeting");
}

#[test]
fn frame_corpus() {
    replay_corpus("frame");
}

#[test]
fn command_corpus() {
    replay_corpus("command");
}

#[test]
fn connection_corpus() {
    replay_corpus("connection");
}

#[test]
fn plain_corpus() {
    replay_corpus("plain");
}

#[test]
fn curve_corpus() {
    replay_corpus("curve");
}

#[test]
fn curve_message_corpus() {
    replay_corpus("curve_message");
}

#[test]
fn subscriptions_corpus() {
    replay_corpus("subscriptions");
}

#[test]
fn socket_paths_corpus() {
    replay_corpus("socket_paths");
}

/// Seeds: `cargo test --test rpc_fuzz_seeds -- --ignored`.
#[test]
fn rpc_request_corpus() {
    replay_corpus("rpc_request");
}

#[test]
fn pickle_corpus() {
    replay_corpus("pickle");
}

#[test]
fn regressions_replay() {
    let dir = fuzz_dir().join("regressions");
    assert!(dir.is_dir(), "missing {}", dir.display());
    assert!(
        files(&dir).is_empty(),
        "files in {} must go into a <target>/ sub-directory",
        dir.display()
    );
    let mut total = 0;
    for sub in subdirs(&dir) {
        if OTHER_PACKAGES.contains(&sub.as_str()) {
            continue;
        }
        // Unknown directory names (typos) would otherwise be skipped silently.
        total += replay(target_fn(&sub), &files(&dir.join(&sub)));
    }
    assert!(total > 0, "no regression inputs in {}", dir.display());
}

#[test]
fn corpus_layout_matches_targets() {
    let corpus = fuzz_dir().join("corpus");
    let names: Vec<String> = TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(OTHER_PACKAGES.map(String::from))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        subdirs(&corpus),
        sorted,
        "corpus directories vs fuzz targets"
    );
    for n in &names {
        let src = fuzz_dir().join("fuzz_targets").join(format!("{n}.rs"));
        assert!(src.is_file(), "missing fuzz target {}", src.display());
    }
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for n in &names {
        assert!(
            manifest.contains(&format!("name = \"{n}\"")),
            "fuzz/Cargo.toml has no [[bin]] {n}"
        );
    }
}

#[test]
fn corpus_files_are_small() {
    let mut count = 0;
    for t in TARGETS.map(|(n, _)| n).into_iter().chain(OTHER_PACKAGES) {
        for p in corpus_files(t) {
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(
                len < MAX_SEED_LEN,
                "{} is {len} bytes, keep seeds under {MAX_SEED_LEN}",
                p.display()
            );
            count += 1;
        }
    }
    assert!(
        count <= 400,
        "{count} seed files: minimize the corpus (cargo fuzz cmin)"
    );
}

/// The seeds are only useful if they reach past the first checks: some must be accepted.
#[test]
fn corpus_reaches_deep_states() {
    let greetings = corpus_files("greeting")
        .iter()
        .filter(|p| Greeting::decode(&std::fs::read(p).unwrap()).is_ok())
        .count();
    assert!(greetings >= 2, "only {greetings} valid greeting seeds");

    let (mut messages, mut commands) = (0, 0);
    for p in corpus_files("frame") {
        let mut buf = BytesMut::from(&std::fs::read(p).unwrap()[..]);
        let mut dec = FrameDecoder::new(None);
        while let Ok(Some(f)) = dec.decode(&mut buf) {
            if f.is_command() {
                commands += 1;
            } else {
                messages += 1;
            }
        }
    }
    assert!(
        messages >= 10 && commands >= 10,
        "{messages} messages, {commands} commands"
    );

    let mut ready = 0;
    let mut with_messages = 0;
    for p in corpus_files("connection") {
        let data = std::fs::read(p).unwrap();
        let Some((&sel, rest)) = data.split_first() else {
            continue;
        };
        // The same selection as fuzzing::connection.
        let st = SocketType::ALL[(sel & 0x0F) as usize % SocketType::ALL.len()];
        let mut conn = Connection::new(Config::new(st), Instant::now());
        let _ = conn.handle_input(&mut BytesMut::from(rest));
        let events: Vec<Event> = std::iter::from_fn(|| conn.poll_event()).collect();
        if conn.is_ready() {
            ready += 1;
        }
        if events.iter().any(|e| matches!(e, Event::Message(_))) {
            with_messages += 1;
        }
    }
    assert!(
        ready >= 8,
        "only {ready} connection seeds complete the handshake"
    );
    assert!(
        with_messages >= 5,
        "only {with_messages} connection seeds deliver messages"
    );
}
