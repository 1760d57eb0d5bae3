//! Fault tests against misbehaving peers: a peer whose TCP connection is reset, a
//! half-open peer (handshake done, then silence without closing) with heartbeats on and
//! off, and close against a connected peer that stopped reading (bounded by LINGER).
//!
//! The misbehaving peer is the byte-exact mock of `support::mock`; a well-behaved aiozmq
//! peer on the same socket shows that the socket keeps serving the others.

mod support;

use std::time::{Duration, Instant};

use aiozmq::{ErrorKind, EventKind, Monitor, Socket, SocketType};
use support::mock::MockPeer;
use support::{
    assert_no_library_panics, bind_any, close, connect, frames, msg, record_library_panics, recv,
    send, wait_event, within,
};
use tokio::net::TcpListener;

/// Asserts that no event of `kind` arrives within `quiet`.
async fn expect_no_event(mon: &mut Monitor, kind: EventKind, quiet: Duration, what: &str) {
    let r = tokio::time::timeout(quiet, async {
        loop {
            match mon.recv().await {
                Some(ev) if ev.kind == kind => return ev,
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    if let Ok(ev) = r {
        panic!("{what}: unexpected {ev:?}");
    }
}

/// A ROUTER bound to loopback TCP with a DEALER ("good") connected and proven to work.
async fn router_with_good_dealer(router: &Socket) -> (String, Socket) {
    router.set_linger(Duration::ZERO).unwrap();
    let ep = bind_any(router).await;
    let good = Socket::new(SocketType::Dealer);
    good.set_linger(Duration::ZERO).unwrap();
    good.set_routing_id("good").unwrap();
    connect(&good, &ep).await;
    round_trip(router, &good, "before").await;
    (ep, good)
}

/// A message from the good DEALER and the ROUTER's answer to it.
async fn round_trip(router: &Socket, good: &Socket, tag: &str) {
    send(good, msg(&[tag.as_bytes()]), "good DEALER").await;
    let m = recv(router, "good DEALER's message").await;
    assert_eq!(frames(&m), vec![b"good".to_vec(), tag.as_bytes().to_vec()]);
    send(router, msg(&[b"good", tag.as_bytes()]), "answer").await;
    assert_eq!(
        frames(&recv(good, "answer").await),
        vec![tag.as_bytes().to_vec()]
    );
}

/// A mock DEALER with routing id `id` connected to the ROUTER at `ep`, handshake done.
async fn mock_dealer(ep: &str, id: &[u8]) -> MockPeer {
    let mut m = MockPeer::connect(ep).await;
    m.handshake_as(SocketType::Dealer, id, SocketType::Router, b"")
        .await;
    m
}

/// A peer that sends a RST (SO_LINGER 0 then close) is dropped: once while idle after a
/// message, once while the ROUTER is writing megabytes to it, and once in the middle of
/// its handshake. The ROUTER keeps serving its other peer each time and knows the reset
/// peer no more (ROUTER_MANDATORY: `EHOSTUNREACH`).
#[tokio::test]
async fn reset_peer_is_dropped_and_others_are_served() {
    record_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_router_mandatory(true).unwrap();
    let mut mon = router.monitor(4096);
    let (ep, good) = router_with_good_dealer(&router).await;

    // Idle after a message.
    let mut bad = mock_dealer(&ep, b"bad").await;
    bad.send_message(&msg(&[b"hello"])).await;
    let m = recv(&router, "the mock's message").await;
    assert_eq!(frames(&m), vec![b"bad".to_vec(), b"hello".to_vec()]);
    bad.abort();
    let ev = wait_event(&mut mon, EventKind::Disconnected, "idle reset").await;
    eprintln!("idle reset: {:?}", ev.reason);
    let e = router
        .try_send(msg(&[b"bad", b"after reset"]))
        .expect_err("the reset peer is still routable");
    assert_eq!(e.error.kind(), ErrorKind::HostUnreachable, "{e}");
    round_trip(&router, &good, "after idle reset").await;

    // While the ROUTER writes to it: 64 messages of 256 KiB that the mock never reads
    // (16 MiB: more than the kernel buffers hold, so a write is pending).
    let mut bad = mock_dealer(&ep, b"bad").await;
    // The ROUTER knows the peer once its message arrived.
    bad.send_message(&msg(&[b"hello again"])).await;
    recv(&router, "the mock's second message").await;
    let big = vec![7u8; 256 << 10];
    for _ in 0..64 {
        send(&router, msg(&[b"bad", &big]), "to the mock").await;
    }
    bad.abort();
    let ev = wait_event(&mut mon, EventKind::Disconnected, "reset while writing").await;
    eprintln!("reset while writing: {:?}", ev.reason);
    round_trip(&router, &good, "after reset while writing").await;
    let e = router
        .try_send(msg(&[b"bad", b"after reset"]))
        .expect_err("the reset peer is still routable");
    assert_eq!(e.error.kind(), ErrorKind::HostUnreachable, "{e}");

    // In the middle of the handshake: the signature only.
    let mut bad = MockPeer::connect(&ep).await;
    bad.send_signature().await;
    bad.abort();
    wait_event(
        &mut mon,
        EventKind::HandshakeFailedNoDetail,
        "reset during the handshake",
    )
    .await;
    round_trip(&router, &good, "after reset during the handshake").await;
    assert_eq!(router.counters().peers, 1, "only the good peer is left");

    close(&good).await;
    close(&router).await;
    assert_no_library_panics();
}

/// A half-open peer (handshake done, then silent without closing, not even reading) is
/// dropped HEARTBEAT_IVL + HEARTBEAT_TIMEOUT after its handshake: the first PING goes out
/// after IVL, and nothing answers it within TIMEOUT. A well-behaved peer on the same
/// socket (which answers PINGs) stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_peer_is_dropped_at_heartbeat_ivl_plus_timeout() {
    record_library_panics();
    const IVL: Duration = Duration::from_millis(100);
    const TIMEOUT: Duration = Duration::from_millis(100);
    const GRACE: Duration = Duration::from_millis(700);
    let router = Socket::new(SocketType::Router);
    router.set_heartbeat_ivl(IVL).unwrap();
    router.set_heartbeat_timeout(TIMEOUT).unwrap();
    let mut mon = router.monitor(4096);
    let (ep, good) = router_with_good_dealer(&router).await;

    let mut half_open = mock_dealer(&ep, b"half-open").await;
    // The handshake is complete on the mock's side, hence not earlier on ours: the
    // ROUTER's heartbeat clock starts after this instant.
    let handshaken = Instant::now();
    let ev = wait_event(&mut mon, EventKind::Disconnected, "half-open peer").await;
    let after = handshaken.elapsed();
    eprintln!("half-open peer dropped {after:?} after its handshake");
    assert!(
        ev.reason.as_deref().unwrap_or("").contains("heartbeat"),
        "dropped for another reason: {ev:?}"
    );
    assert!(
        after >= IVL + TIMEOUT,
        "dropped after {after:?}, before HEARTBEAT_IVL + HEARTBEAT_TIMEOUT"
    );
    assert!(
        after <= IVL + TIMEOUT + GRACE,
        "dropped only after {after:?} (HEARTBEAT_IVL + HEARTBEAT_TIMEOUT = {:?})",
        IVL + TIMEOUT
    );
    // What it was sent before being dropped: a PING (and nothing it had to answer for).
    let got = half_open.read_until_closed().await;
    assert!(
        got.windows(5).any(|w| w == b"\x04PING"),
        "no PING was sent to the half-open peer: {:02x?}",
        &got[..got.len().min(64)]
    );

    // The good peer answered every PING: still connected, and served.
    round_trip(&router, &good, "after the half-open peer went").await;
    expect_no_event(
        &mut mon,
        EventKind::Disconnected,
        (IVL + TIMEOUT) * 2,
        "the PING-answering peer",
    )
    .await;
    round_trip(&router, &good, "two heartbeat periods later").await;
    assert_eq!(router.counters().peers, 1);

    close(&good).await;
    close(&router).await;
    assert_no_library_panics();
}

/// Without heartbeats (the default), a half-open peer is kept: no DISCONNECTED for a
/// second of silence, and the connection still carries a message to it afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_peer_is_kept_without_heartbeats() {
    record_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_router_mandatory(true).unwrap();
    let mut mon = router.monitor(4096);
    let (ep, good) = router_with_good_dealer(&router).await;

    let mut half_open = mock_dealer(&ep, b"half-open").await;
    half_open.send_message(&msg(&[b"hi"])).await;
    recv(&router, "the half-open peer's only message").await;
    expect_no_event(
        &mut mon,
        EventKind::Disconnected,
        Duration::from_secs(1),
        "a silent peer without heartbeats",
    )
    .await;
    send(
        &router,
        msg(&[b"half-open", b"still there?"]),
        "to the silent peer",
    )
    .await;
    let m = half_open.expect_message().await;
    assert_eq!(frames(&m), vec![b"still there?".to_vec()]);
    round_trip(&router, &good, "with the silent peer connected").await;
    assert_eq!(router.counters().peers, 2);

    drop(half_open);
    wait_event(&mut mon, EventKind::Disconnected, "the mock closed").await;
    close(&good).await;
    close(&router).await;
    assert_no_library_panics();
}

/// A mock ROUTER listening on loopback, and our DEALER (LINGER `linger`) connected to it
/// with the handshake done.
async fn dealer_to_mock(linger: Duration) -> (Socket, MockPeer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_linger(linger).unwrap();
    let mut mon = dealer.monitor(64);
    connect(&dealer, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Router, SocketType::Dealer, b"")
        .await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "DEALER to mock").await;
    (dealer, m)
}

/// Times `close`, failing after [`OP_TIMEOUT`].
async fn timed_close(s: &Socket, _what: &str) -> Duration {
    let started = Instant::now();
    close(s).await;
    started.elapsed()
}

const LINGER: Duration = Duration::from_millis(300);
/// How far past LINGER close may return (close itself allows a 1 s grace after LINGER
/// for tasks to end; this is what a loaded 2-core machine needs).
const CLOSE_GRACE: Duration = Duration::from_millis(700);
/// How much earlier than LINGER a close may return (timer granularity).
const EARLY: Duration = Duration::from_millis(20);

fn assert_at_linger(took: Duration, what: &str) {
    eprintln!("{what}: close took {took:?} (LINGER {LINGER:?})");
    assert!(
        took + EARLY >= LINGER,
        "{what}: close returned after {took:?}, before LINGER ({LINGER:?}) with our data unread"
    );
    assert!(
        took <= LINGER + CLOSE_GRACE,
        "{what}: close took {took:?} (LINGER {LINGER:?})"
    );
}

/// Close against a connected peer that stopped reading, with one small message of ours
/// unread in its kernel buffer: close keeps the connection for the peer's EOF (so the
/// message is not discarded by an early close) and returns at LINGER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_a_small_unread_message_returns_at_linger() {
    record_library_panics();
    let (dealer, mut mock) = dealer_to_mock(LINGER).await;
    send(&dealer, msg(&[b"unread"]), "one message").await;
    let took = timed_close(&dealer, "small unread message").await;
    assert_at_linger(took, "small unread message");
    // The message was written whole before the connection went (one short frame).
    let got = mock.read_until_closed().await;
    assert_eq!(got, b"\x00\x06unread", "what the peer had unread");
    assert_no_library_panics();
}

/// The same with 32 MiB unread (more than the kernel buffers: a write is pending when
/// close begins): close gives up at LINGER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_megabytes_unread_returns_at_linger() {
    record_library_panics();
    let (dealer, mock) = dealer_to_mock(LINGER).await;
    let big = vec![1u8; 1 << 20];
    for _ in 0..32 {
        send(&dealer, msg(&[&big]), "1 MiB").await;
    }
    let took = timed_close(&dealer, "32 MiB unread").await;
    assert_at_linger(took, "32 MiB unread");
    drop(mock);
    assert_no_library_panics();
}

/// A peer that reads everything and then closes: close returns at its EOF, long before a
/// 10 s LINGER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_returns_at_the_peers_eof_before_linger() {
    record_library_panics();
    let (dealer, mut mock) = dealer_to_mock(Duration::from_secs(10)).await;
    for i in 0..100u32 {
        send(&dealer, msg(&[&i.to_be_bytes()]), "message").await;
    }
    let reader = tokio::spawn(async move {
        for i in 0..100u32 {
            let m = mock.expect_message().await;
            assert_eq!(frames(&m), vec![i.to_be_bytes().to_vec()]);
        }
        // Our write side was shut down: EOF; then the mock closes too.
        mock.expect_closed().await;
    });
    let took = timed_close(&dealer, "peer reads to the end").await;
    within("the mock reader", reader).await.unwrap();
    eprintln!("close with a peer reading to its end took {took:?} (LINGER 10 s)");
    assert!(
        took < Duration::from_secs(2),
        "close took {took:?} though the peer read everything and closed"
    );
    assert_no_library_panics();
}

/// An aiozmq PULL that stopped reading (RCVHWM reached, `recv` never called) over TCP
/// and IPC: PUSH's close returns at LINGER with its data unread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_against_a_pull_that_stopped_reading_returns_at_linger() {
    record_library_panics();
    for ep in [
        "tcp://127.0.0.1:*".to_string(),
        format!(
            "ipc://{}",
            std::env::temp_dir()
                .join(format!("aiozmq-faults-peers-{}.sock", std::process::id()))
                .display()
        ),
    ] {
        let pull = Socket::new(SocketType::Pull);
        pull.set_rcvhwm(1).unwrap();
        pull.set_rcvbuf(64 << 10).unwrap();
        pull.set_linger(Duration::ZERO).unwrap();
        let ep = within("bind", pull.bind(&ep)).await.unwrap();
        let push = Socket::new(SocketType::Push);
        push.set_linger(LINGER).unwrap();
        push.set_sndbuf(64 << 10).unwrap();
        push.set_sndhwm(4).unwrap();
        let mut mon = push.monitor(64);
        connect(&push, &ep).await;
        wait_event(&mut mon, EventKind::HandshakeSucceeded, &ep).await;
        // Until SNDHWM is reached (at most 4096 x 64 KiB): the PULL reads into its queue
        // of one message and no further; whatever it took is unread by its application.
        let chunk = vec![2u8; 64 << 10];
        let mut sent = 0usize;
        while sent < 4096 {
            match push.try_send(msg(&[&chunk])) {
                Ok(()) => sent += 1,
                Err(e) if e.error.kind() == ErrorKind::Again => break,
                Err(e) => panic!("{ep}: try_send: {e}"),
            }
        }
        assert!(sent >= 4, "{ep}: only {sent} messages went out");
        let took = timed_close(&push, &ep).await;
        assert_at_linger(took, &format!("PUSH to a stalled PULL over {ep}"));
        close(&pull).await;
    }
    assert_no_library_panics();
}
