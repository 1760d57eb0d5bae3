//! The command-line tool's JSON arguments (`aiozmq rpc ... ARGS`): the parser lives in the
//! binary, so it is included here by path.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../src/bin/aiozmq/json.rs"]
#[allow(dead_code)]
mod json;

fuzz_target!(|data: &[u8]| cli_json(data));

/// Parsing never panics, and what parses prints to JSON that parses and prints the same.
fn cli_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = json::parse(text) {
        let printed = json::to_json(&v);
        let again = json::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which fails: {e}"));
        assert_eq!(json::to_json(&again), printed);
    }
}
