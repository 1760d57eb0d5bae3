//! Shared test support: `mock` (a byte-exact mock ZMTP peer), `python` (pyzmq peers in a
//! virtual environment) and small helpers around [`Socket`] that never wait forever.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod mock;
pub mod python;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aiozmq::{Message, Socket};

/// How long one socket operation in a test may take before the test fails.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives one message, failing the test after [`OP_TIMEOUT`] or on error.
pub async fn recv(s: &Socket, what: &str) -> Message {
    match tokio::time::timeout(OP_TIMEOUT, s.recv()).await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => panic!("{what}: recv failed: {e}"),
        Err(_) => panic!("{what}: no message within {OP_TIMEOUT:?}"),
    }
}

/// Sends one message, failing the test after [`OP_TIMEOUT`] or on error.
pub async fn send(s: &Socket, msg: impl Into<Message>, what: &str) {
    match tokio::time::timeout(OP_TIMEOUT, s.send(msg.into())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{what}: send failed: {e}"),
        Err(_) => panic!("{what}: send did not complete within {OP_TIMEOUT:?}"),
    }
}

/// Binds to an ephemeral loopback TCP port and returns the resolved endpoint.
pub async fn bind_any(s: &Socket) -> String {
    match tokio::time::timeout(OP_TIMEOUT, s.bind("tcp://127.0.0.1:*")).await {
        Ok(Ok(ep)) => ep,
        Ok(Err(e)) => panic!("bind tcp://127.0.0.1:* failed: {e}"),
        Err(_) => panic!("bind did not complete within {OP_TIMEOUT:?}"),
    }
}

/// Connects (returns at once; the connection is made in the background).
pub async fn connect(s: &Socket, endpoint: &str) {
    match tokio::time::timeout(OP_TIMEOUT, s.connect(endpoint)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("connect {endpoint} failed: {e}"),
        Err(_) => panic!("connect {endpoint} did not return within {OP_TIMEOUT:?}"),
    }
}

/// A message from byte-slice frames.
pub fn msg(frames: &[&[u8]]) -> Message {
    frames
        .iter()
        .map(|f| bytes::Bytes::copy_from_slice(f))
        .collect()
}

/// The frames of `m` as vectors (for comparisons with readable failures).
pub fn frames(m: &Message) -> Vec<Vec<u8>> {
    m.iter().map(|f| f.to_vec()).collect()
}

/// `n` bytes with byte `j` = `j % 251`: what peer.py's `size:N` frame spec sends.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|j| (j % 251) as u8).collect()
}

/// Panics seen anywhere in this test process whose source is not test code (`tests/`):
/// a panic inside the library's background tasks may be swallowed by the runtime, so the
/// tests that feed it hostile input look for them here.
static LIBRARY_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs (once) a panic hook that records library panics, then runs the default hook.
pub fn record_library_panics() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let from_tests = info.location().is_some_and(|l| {
                let f = l.file().replace('\\', "/");
                f.starts_with("tests/") || f.contains("/tests/")
            });
            if !from_tests {
                let thread = std::thread::current();
                LIBRARY_PANICS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("thread {:?}: {info}", thread.name()));
            }
            default(info);
        }));
    });
}

/// Fails when any library panic was recorded (see [`record_library_panics`]).
pub fn assert_no_library_panics() {
    let panics = LIBRARY_PANICS.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        panics.is_empty(),
        "the library panicked (in a background task?):\n{}",
        panics.join("\n")
    );
}
