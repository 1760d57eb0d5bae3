//! The one front for fuzzing: every entry point the fuzz targets in `fuzz/` and the corpus
//! replay in `cargo test` call, re-exported from where it lives, next to the parser it drives.
//!
//! Not part of the public API. Every function takes arbitrary bytes and must never panic,
//! hang or allocate in proportion to a size the input merely declares; each also checks
//! properties that must hold for any input, and a failed check panics for the fuzzer.
//!
//! | entry points | parser | lives in |
//! |---|---|---|
//! | `greeting`, `frames`, `command`, `connection`, `plain_handshake`, `curve_handshake`, `curve_message`, `security_*` | ZMTP greeting, frames, commands, the connection state machine, PLAIN and CURVE | `zmtp::fuzzing` |
//! | `subscriptions`, `socket_paths` | the subscription trie; each socket type's send and receive rules | `plane::fuzz_ops` |
//! | `rpc_request`, `pickle`, `split_frames`, `join_frames` | aiozmq.rpc requests (msgpack) and pickled values | `rpc::fuzzing` |
//! | `endpoint` | endpoint strings | `transport` |
//! | `udp_datagram` | RADIO/DISH datagrams (group length, group, body) | `transport::udp` |
//! | `proxy_control` | proxy control commands and STATISTICS replies | `proxy` |
//!
//! The command-line tool's JSON arguments are fuzzed by `fuzz/fuzz_targets/cli_json.rs`,
//! which includes the tool's parser (it lives in the binary, not in the library).

pub use crate::plane::fuzz_ops::{socket_paths, subscriptions, SimSocket};
pub use crate::rpc::fuzzing::{join_frames, pickle, rpc_request, split_frames};
pub use crate::zmtp::fuzzing::*;

/// Endpoint parsing (`transport`): see [`crate::transport`].
pub fn endpoint(data: &[u8]) {
    crate::transport::fuzz_endpoint(data)
}

/// RADIO/DISH datagrams (`transport::udp`).
pub fn udp_datagram(data: &[u8]) {
    crate::transport::udp::fuzz_datagram(data)
}

/// Proxy control commands and STATISTICS replies, the input split into frames as
/// [`split_frames`] does.
pub fn proxy_control(data: &[u8]) {
    crate::proxy::fuzz_control(&split_frames(data))
}
