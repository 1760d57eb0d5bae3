//! SNDHWM/RCVHWM, MAXMSGSIZE and LINGER side by side with libzmq (pyzmq running
//! `interop/peer.py`): each case runs our socket against libzmq and, where a count depends
//! on buffering, the same case between two libzmq sockets, and holds both to one bound.
//!
//! Messages are 100 kB (larger than the 64 KiB SNDBUF/RCVBUF every socket here asks for),
//! so the kernel holds at most a few of them and a blocked sender's count is close to the
//! sum of the HWMs. A sender counts as blocked when one send does not complete within
//! [`BLOCKED`] while the reader is idle (the reader only starts when the test says so).
//!
//! Needs Python 3 on PATH and access to PyPI the first time (see tests/support/python.rs);
//! without them these tests fail rather than skip.

mod support;

use std::time::{Duration, Instant};

use aiozmq::{EventKind, Message, Socket, SocketType};
use support::python::PyPeer;
use support::{close, connect, msg, pattern, recv, send, wait_event, within};

/// The HWM on both sides of every HWM and LINGER case.
const HWM: usize = 5;
/// SNDBUF and RCVBUF on both sides (Linux doubles it).
const BUF: i32 = 65_536;
/// The body of each message: larger than one kernel buffer.
const SIZE: usize = 100_000;
/// A send that does not complete within this while the reader is idle is blocked.
const BLOCKED: Duration = Duration::from_millis(1000);
/// The fewest messages a blocked sender must have been able to send: both HWMs.
const LOW: usize = 2 * HWM;
/// The most: both HWMs, what an engine holds beyond the sender's HWM (at most SNDHWM
/// messages already encoded), one message in the reader's decoder, and what the two kernel
/// buffers (2 × 2 × BUF bytes) hold, rounded up.
const HIGH: usize = 3 * HWM + 1 + (4 * BUF as usize).div_ceil(SIZE);

fn endpoint(transport: &str, tag: &str) -> (String, Option<support::UnboundIpc>) {
    match transport {
        "tcp" => ("tcp://127.0.0.1:*".into(), None),
        _ => {
            let ipc = support::UnboundIpc::new(tag);
            (ipc.endpoint.clone(), Some(ipc))
        }
    }
}

/// Message `i`: its index as text, then `SIZE` pattern bytes (peer.py's `text:{i}
/// size:SIZE`).
fn numbered(i: usize) -> Message {
    msg(&[i.to_string().as_bytes(), &pattern(SIZE)])
}

fn assert_numbered(m: &Message, i: usize) {
    let f = support::frames(m);
    assert_eq!(f.len(), 2, "message {i}: {} frames", f.len());
    assert_eq!(f[0], i.to_string().as_bytes(), "message {i} out of order");
    assert!(f[1] == pattern(SIZE), "message {i}: body changed");
}

/// Sends numbered messages until one send blocks for [`BLOCKED`]; returns how many went.
async fn fill(s: &Socket) -> usize {
    let mut n = 0;
    loop {
        // A send cancelled by the timeout queued nothing (`Socket::send`'s cancel safety).
        match tokio::time::timeout(BLOCKED, s.send(numbered(n))).await {
            Ok(Ok(())) => n += 1,
            Ok(Err(e)) => panic!("send {n} failed: {e}"),
            Err(_) => return n,
        }
        assert!(n < 1000, "the sender never blocked");
    }
}

/// A libzmq PULL bound at `bind` with RCVHWM and RCVBUF set, idle until the test writes a
/// count to its stdin, then checking that many numbered messages (`SEQ N`).
async fn libzmq_idle_pull(bind: &str) -> (PyPeer, String) {
    let (peer, eps) = PyPeer::start([
        "PULL",
        "--bind",
        bind,
        "--rcvhwm",
        &HWM.to_string(),
        "--rcvbuf",
        &BUF.to_string(),
        "seq",
        "stdin",
    ])
    .await;
    (peer, eps[0].clone())
}

/// Starts a libzmq PUSH that connects to `ep` and fills it; returns it and its count.
async fn libzmq_fill(ep: &str, linger_ms: u32) -> (PyPeer, usize) {
    let (mut peer, _) = PyPeer::start([
        "PUSH",
        "--connect",
        ep,
        "--sndhwm",
        &HWM.to_string(),
        "--sndbuf",
        &BUF.to_string(),
        "--linger",
        &linger_ms.to_string(),
        "fill",
        &BLOCKED.as_millis().to_string(),
        "text:{i}",
        &format!("size:{SIZE}"),
    ])
    .await;
    let line = peer.line().await;
    let n = line
        .strip_prefix("FILLED ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected FILLED N, got {line}"));
    (peer, n)
}

/// The reference: a libzmq PUSH fills a libzmq PULL (the settings of our cases); the PULL
/// then gets every message in order. Returns the count.
async fn libzmq_to_libzmq_fill(transport: &str) -> usize {
    let (bind, _ipc) = endpoint(transport, "ref");
    let (mut pull, ep) = libzmq_idle_pull(&bind).await;
    let (push, n) = libzmq_fill(&ep, 10_000).await;
    pull.send_line(&n.to_string()).await;
    assert_eq!(pull.line().await, format!("SEQ {n}"));
    pull.finish().await;
    push.finish().await;
    n
}

fn assert_in_bounds(n: usize, who: &str) {
    assert!(
        (LOW..=HIGH).contains(&n),
        "{who}: the sender blocked after {n} messages, outside [{LOW}, {HIGH}]"
    );
}

async fn our_push_blocks_then_libzmq_gets_all(transport: &str) {
    let reference = libzmq_to_libzmq_fill(transport).await;
    assert_in_bounds(reference, "libzmq PUSH -> libzmq PULL");

    let (bind, _ipc) = endpoint(transport, "push");
    let (mut pull, ep) = libzmq_idle_pull(&bind).await;
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(HWM).unwrap();
    push.set_sndbuf(BUF).unwrap();
    let mut mon = push.monitor(64);
    connect(&push, &ep).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "our PUSH connects").await;
    let n = fill(&push).await;
    assert_in_bounds(n, "our PUSH -> libzmq PULL");
    eprintln!("{transport}: our PUSH blocked after {n}, libzmq's after {reference}");
    pull.send_line(&n.to_string()).await;
    assert_eq!(
        pull.line().await,
        format!("SEQ {n}"),
        "the libzmq reader got every message in order"
    );
    pull.finish().await;
    close(&push).await;
}

#[tokio::test]
async fn hwm_our_push_blocks_like_libzmq_and_a_libzmq_pull_gets_everything_over_tcp() {
    let _panics = support::check_library_panics();
    our_push_blocks_then_libzmq_gets_all("tcp").await;
}

#[tokio::test]
async fn hwm_our_push_blocks_like_libzmq_and_a_libzmq_pull_gets_everything_over_ipc() {
    let _panics = support::check_library_panics();
    our_push_blocks_then_libzmq_gets_all("ipc").await;
}

/// Our PULL with RCVHWM (and RCVBUF) set, bound at `bind`, with a monitor.
async fn our_pull(bind: &str) -> (Socket, aiozmq::Monitor, String) {
    let pull = Socket::new(SocketType::Pull);
    pull.set_rcvhwm(HWM).unwrap();
    pull.set_rcvbuf(BUF).unwrap();
    let mon = pull.monitor(64);
    let ep = within("bind", pull.bind(bind)).await.expect("bind");
    (pull, mon, ep)
}

async fn libzmq_push_blocks_then_we_get_all(transport: &str) {
    let reference = libzmq_to_libzmq_fill(transport).await;
    assert_in_bounds(reference, "libzmq PUSH -> libzmq PULL");

    let (bind, _ipc) = endpoint(transport, "pull");
    let (pull, _mon, ep) = our_pull(&bind).await;
    let (push, n) = libzmq_fill(&ep, 10_000).await;
    assert_in_bounds(n, "libzmq PUSH -> our PULL");
    eprintln!("{transport}: libzmq's PUSH blocked after {n} toward us, {reference} toward libzmq");
    for i in 0..n {
        assert_numbered(&recv(&pull, &format!("message {i}")).await, i);
    }
    push.finish().await;
    assert!(
        pull.try_recv().is_err(),
        "a message beyond the {n} libzmq sent"
    );
    close(&pull).await;
}

#[tokio::test]
async fn hwm_libzmq_push_blocks_on_our_pull_as_on_its_own_and_we_get_everything_over_tcp() {
    let _panics = support::check_library_panics();
    libzmq_push_blocks_then_we_get_all("tcp").await;
}

#[tokio::test]
async fn hwm_libzmq_push_blocks_on_our_pull_as_on_its_own_and_we_get_everything_over_ipc() {
    let _panics = support::check_library_panics();
    libzmq_push_blocks_then_we_get_all("ipc").await;
}

/// MAXMSGSIZE in the cases below.
const MAX: usize = 1000;

#[tokio::test]
async fn maxmsgsize_libzmq_pull_drops_the_connection_on_our_oversized_message() {
    let _panics = support::check_library_panics();
    let (mut peer, eps) = PyPeer::start([
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "--maxmsgsize",
        &MAX.to_string(),
        "--monitor",
        "recv",
        "1",
        "await-event",
        "DISCONNECTED",
        "recv",
        "1",
    ])
    .await;
    let push = Socket::new(SocketType::Push);
    let mut mon = push.monitor(64);
    connect(&push, &eps[0]).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "connected").await;
    send(&push, msg(&[&pattern(MAX)]), "a message of MAXMSGSIZE").await;
    send(&push, msg(&[&pattern(MAX + 1)]), "one byte more").await;
    let m = peer.message().await;
    assert_eq!(
        m.frames,
        vec![pattern(MAX)],
        "the message of MAXMSGSIZE arrived"
    );
    assert_eq!(peer.line().await, "EVENT DISCONNECTED");
    wait_event(&mut mon, EventKind::Disconnected, "libzmq dropped us").await;
    // Reconnected: a message sent now travels on the new connection.
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "reconnected").await;
    send(&push, msg(&[b"after"]), "after the reconnect").await;
    let m = peer.message().await;
    assert_eq!(
        m.frames,
        vec![b"after".to_vec()],
        "the oversized message never arrived; the next one did"
    );
    peer.finish().await;
    close(&push).await;
}

#[tokio::test]
async fn maxmsgsize_our_pull_drops_the_connection_on_a_libzmq_oversized_message() {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    pull.set_maxmsgsize(Some(MAX as u64)).unwrap();
    let mut mon = pull.monitor(64);
    let ep = support::bind_any(&pull).await;
    let (mut peer, _) = PyPeer::start([
        "PUSH",
        "--connect",
        &ep,
        "--monitor",
        "await-event",
        "HANDSHAKE_SUCCEEDED",
        "send",
        "1",
        &format!("size:{MAX}"),
        "send",
        "1",
        &format!("size:{}", MAX + 1),
        "await-event",
        "DISCONNECTED",
        "await-event",
        "HANDSHAKE_SUCCEEDED",
        "send",
        "1",
        "text:after",
    ])
    .await;
    assert_eq!(peer.line().await, "EVENT HANDSHAKE_SUCCEEDED");
    let m = recv(&pull, "the message of MAXMSGSIZE").await;
    assert_eq!(support::frames(&m), vec![pattern(MAX)]);
    let ev = wait_event(&mut mon, EventKind::Disconnected, "we drop libzmq").await;
    assert_eq!(peer.line().await, "EVENT DISCONNECTED");
    assert_eq!(peer.line().await, "EVENT HANDSHAKE_SUCCEEDED");
    let m = recv(&pull, "after the reconnect").await;
    assert_eq!(
        support::frames(&m),
        vec![b"after".to_vec()],
        "the oversized message never arrived; the next one did (disconnect: {ev:?})"
    );
    peer.finish().await;
    assert!(pull.try_recv().is_err(), "nothing more arrived");
    close(&pull).await;
}

/// Receives numbered messages until the connection's end (its DISCONNECTED event, then
/// what is still queued); returns how many came, checking they are 0, 1, ... in order.
async fn receive_until_disconnected(pull: &Socket, mon: &mut aiozmq::Monitor) -> usize {
    let mut got = 0;
    let deadline = Instant::now() + support::OP_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            m = pull.recv() => {
                assert_numbered(&m.expect("recv"), got);
                got += 1;
            }
            ev = mon.recv() => match ev {
                Some(ev) if ev.kind == EventKind::Disconnected => break,
                Some(_) => {}
                None => panic!("the monitor ended"),
            },
            _ = tokio::time::sleep(left) => panic!("no disconnect within {:?}", support::OP_TIMEOUT),
        }
    }
    while let Ok(m) = pull.try_recv() {
        assert_numbered(&m, got);
        got += 1;
    }
    got
}

#[tokio::test]
async fn linger_libzmq_push_closing_with_linger_zero_drops_what_it_queued_for_us() {
    let _panics = support::check_library_panics();
    let (pull, mut mon, ep) = our_pull("tcp://127.0.0.1:*").await;
    let (mut push, n) = libzmq_fill(&ep, 0).await;
    assert_eq!(push.line().await, "DONE");
    let status = push.wait().await;
    assert!(status.success(), "libzmq PUSH exited with {status}");
    let got = receive_until_disconnected(&pull, &mut mon).await;
    eprintln!("libzmq PUSH, linger 0: {got} of {n} arrived");
    assert!(
        got < n,
        "all {n} arrived although libzmq closed with LINGER 0 while they were queued"
    );
    assert!(got >= HWM, "fewer than our RCVHWM ({got}) arrived");
    close(&pull).await;
}

#[tokio::test]
async fn linger_libzmq_push_closing_with_linger_delivers_everything_to_us() {
    let _panics = support::check_library_panics();
    let (pull, mut mon, ep) = our_pull("tcp://127.0.0.1:*").await;
    let (mut push, n) = libzmq_fill(&ep, 10_000).await;
    // The PUSH closes now (after DONE) and lingers while we read.
    assert_eq!(push.line().await, "DONE");
    let got = receive_until_disconnected(&pull, &mut mon).await;
    assert_eq!(
        got, n,
        "libzmq delivered everything it queued within LINGER"
    );
    let status = push.wait().await;
    assert!(status.success(), "libzmq PUSH exited with {status}");
    close(&pull).await;
}

#[tokio::test]
async fn linger_our_push_closing_with_linger_zero_drops_what_it_queued_like_libzmq() {
    let _panics = support::check_library_panics();
    // libzmq: a PUSH that fills an idle PULL and closes with LINGER 0.
    let (mut pull, eps) = PyPeer::start([
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "--rcvhwm",
        &HWM.to_string(),
        "--rcvbuf",
        &BUF.to_string(),
        "--timeout",
        "1",
        "hold",
        "count",
        "100000",
        "0",
        "0",
    ])
    .await;
    let (mut push, reference) = libzmq_fill(&eps[0], 0).await;
    assert_eq!(push.line().await, "DONE");
    assert!(push.wait().await.success());
    pull.send_line("go").await;
    let line = pull.line().await;
    let lib_got: usize = line
        .strip_prefix("COUNT ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected COUNT N, got {line}"));
    pull.finish().await;
    assert!(lib_got < reference, "libzmq: {lib_got} of {reference}");

    // Ours, the same way.
    let (mut pull, eps) = PyPeer::start([
        "PULL",
        "--bind",
        "tcp://127.0.0.1:*",
        "--rcvhwm",
        &HWM.to_string(),
        "--rcvbuf",
        &BUF.to_string(),
        "--timeout",
        "1",
        "hold",
        "count",
        "100000",
        "0",
        "0",
    ])
    .await;
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(HWM).unwrap();
    push.set_sndbuf(BUF).unwrap();
    push.set_linger(Duration::ZERO).unwrap();
    let mut mon = push.monitor(64);
    connect(&push, &eps[0]).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "connected").await;
    let n = fill(&push).await;
    let started = Instant::now();
    close(&push).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "close with LINGER 0 waited {:?}",
        started.elapsed()
    );
    pull.send_line("go").await;
    let line = pull.line().await;
    let got: usize = line
        .strip_prefix("COUNT ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected COUNT N, got {line}"));
    pull.finish().await;
    eprintln!("LINGER 0: libzmq {lib_got} of {reference} arrived, ours {got} of {n}");
    assert!(got < n, "all {n} arrived although we closed with LINGER 0");
    assert!(got >= HWM, "fewer than libzmq's RCVHWM ({got}) arrived");
}

#[tokio::test]
async fn linger_our_push_closing_with_linger_delivers_everything_to_an_idle_libzmq_reader() {
    let _panics = support::check_library_panics();
    let (mut pull, ep) = libzmq_idle_pull("tcp://127.0.0.1:*").await;
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(HWM).unwrap();
    push.set_sndbuf(BUF).unwrap();
    push.set_linger(Duration::from_secs(10)).unwrap();
    let mut mon = push.monitor(64);
    connect(&push, &ep).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "connected").await;
    let n = fill(&push).await;
    // The reader starts only once the close is under way.
    let read = async {
        pull.send_line(&n.to_string()).await;
        pull.line().await
    };
    let ((), line) = tokio::join!(close(&push), read);
    assert_eq!(
        line,
        format!("SEQ {n}"),
        "everything queued at close arrived within LINGER"
    );
    pull.finish().await;
}
