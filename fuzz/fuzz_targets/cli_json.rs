//! The command-line tool's JSON arguments (`aiozmq rpc ... ARGS`): the parser lives in the
//! binary, so it is included here by path.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../../cli/src/json.rs"]
#[allow(dead_code)]
mod json;

fuzz_target!(|data: &[u8]| json::fuzz_round_trip(data));
