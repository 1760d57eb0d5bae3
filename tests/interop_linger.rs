//! Close with LINGER against a libzmq (pyzmq) receiver that reads slowly: everything sent
//! before `close` arrives, over TCP and IPC. A closing connection shuts down its write side
//! and keeps the descriptor until the peer has read to the end (its EOF), so a receiver
//! sitting at RCVHWM is never handed a fully closed socket with data still unread in the
//! kernel (libzmq drops such a connection, and what the kernel held with it).
//!
//! Needs Python 3 on PATH and access to PyPI the first time (see tests/support/python.rs).

mod support;

use std::time::Duration;

use aiozmq::{Message, Socket, SocketType};
use support::python::PyPeer;
use support::send;

const MESSAGES: usize = 20_000;

/// Our PUSH connects to a libzmq PULL bound at `bind`, sends `MESSAGES` 100-byte messages
/// and closes; the PULL reads slowly (5 ms pause every 500 messages) and reports its count.
async fn slow_reader_gets_everything(bind: &str) {
    support::record_library_panics();
    let every = "500";
    let (mut peer, eps) = PyPeer::start([
        "PULL",
        "--bind",
        bind,
        "--timeout",
        "5",
        "count",
        &MESSAGES.to_string(),
        every,
        "5",
    ])
    .await;
    let push = Socket::new(SocketType::Push);
    push.connect(&eps[0]).await.expect("connect");
    let body = bytes::Bytes::from(vec![7u8; 100]);
    for i in 0..MESSAGES {
        send(&push, Message::from(body.clone()), &format!("message {i}")).await;
    }
    // LINGER's default (30 s) bounds the close; the peer needs well under that.
    tokio::time::timeout(Duration::from_secs(40), push.close())
        .await
        .expect("close did not return within LINGER plus a grace");
    let line = peer.line().await;
    assert_eq!(
        line,
        format!("COUNT {MESSAGES}"),
        "the slow libzmq receiver lost messages sent before close"
    );
    peer.finish().await;
    support::assert_no_library_panics();
}

#[tokio::test]
async fn close_delivers_everything_to_a_slow_libzmq_reader_over_tcp() {
    let _panics = support::check_library_panics();
    slow_reader_gets_everything("tcp://127.0.0.1:*").await;
}

#[tokio::test]
async fn close_delivers_everything_to_a_slow_libzmq_reader_over_ipc() {
    let _panics = support::check_library_panics();
    let path = std::env::temp_dir().join(format!("aiozmq-linger-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    slow_reader_gets_everything(&format!("ipc://{}", path.display())).await;
    let _ = std::fs::remove_file(&path);
}
