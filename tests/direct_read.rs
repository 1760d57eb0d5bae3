//! REQ and REP read their next message themselves while they wait (the connection task
//! lends them its read side): whatever the peer sends while a `recv` waits must arrive as
//! it would through the connection task. A whole message is kept by the `recv`; anything
//! else (a message in pieces, two at once, a command, a large message, an oversize frame,
//! the end of the stream) goes back to the connection task. A cancelled `recv` gives the
//! read side back, and the connection task reads again.
//!
//! The tests run on one thread, and yield so that a spawned `recv` is waiting before the
//! mock writes: which party reads is then decided, while the assertions hold either way.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aiozmq::{EventKind, Message, Socket, SocketType};
use support::mock::{command_frame, frame, message_frames, MockPeer};
use support::{bind_any, frames, msg, recv, send, OP_TIMEOUT};

/// Lets spawned tasks run until they wait (a current-thread runtime runs them here).
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

/// A REP socket with a mock DEALER connected (so it may send requests back to back).
async fn rep_with_dealer() -> (std::sync::Arc<Socket>, MockPeer) {
    let rep = std::sync::Arc::new(Socket::new(SocketType::Rep));
    let ep = bind_any(&rep).await;
    let mut m = MockPeer::connect(&ep).await;
    m.handshake(SocketType::Dealer, SocketType::Rep, b"").await;
    (rep, m)
}

/// Spawns a `recv` on `rep` and lets it start waiting.
async fn waiting_recv(rep: &std::sync::Arc<Socket>) -> tokio::task::JoinHandle<Message> {
    let s = rep.clone();
    let h = tokio::spawn(async move { recv(&s, "REP recv").await });
    settle().await;
    h
}

/// Waits for a DISCONNECTED event, skipping others.
async fn disconnected(mon: &mut aiozmq::Monitor) {
    let deadline = tokio::time::Instant::now() + OP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, mon.recv()).await {
            Ok(Some(ev)) if ev.kind == EventKind::Disconnected => return,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the monitor ended"),
            Err(_) => panic!("no DISCONNECTED within {OP_TIMEOUT:?}"),
        }
    }
}

async fn joined(h: tokio::task::JoinHandle<Message>) -> Vec<Vec<u8>> {
    let m = tokio::time::timeout(OP_TIMEOUT, h)
        .await
        .expect("the waiting recv did not return")
        .expect("the recv task failed");
    frames(&m)
}

/// Replies to the request just received and checks the mock gets it.
async fn reply(rep: &Socket, m: &mut MockPeer, body: &[u8]) {
    send(rep, msg(&[body]), "REP send").await;
    m.expect_bytes(&message_frames(&[b"", body])).await;
}

#[tokio::test]
async fn rep_takes_whole_requests_and_hands_everything_else_back() {
    let _panics = support::check_library_panics();
    let (rep, mut m) = rep_with_dealer().await;

    // A whole request while the recv waits, several times over.
    for i in 0..3u8 {
        let h = waiting_recv(&rep).await;
        m.send_bytes(&message_frames(&[b"", &[b'a' + i]])).await;
        assert_eq!(joined(h).await, [vec![b'a' + i]]);
        reply(&rep, &mut m, b"ok").await;
    }

    // A request in pieces: a header alone, then the rest of its first frame, then the
    // last frame.
    let h = waiting_recv(&rep).await;
    let wire = message_frames(&[b"", b"in pieces"]);
    m.send_bytes(&wire[..3]).await;
    settle().await;
    m.send_bytes(&wire[3..5]).await;
    settle().await;
    m.send_bytes(&wire[5..]).await;
    assert_eq!(joined(h).await, [b"in pieces".to_vec()]);
    reply(&rep, &mut m, b"pieces").await;

    // Two requests in one write: both arrive, in order.
    let h = waiting_recv(&rep).await;
    let mut two = message_frames(&[b"", b"first"]);
    two.extend(message_frames(&[b"", b"second"]));
    m.send_bytes(&two).await;
    assert_eq!(joined(h).await, [b"first".to_vec()]);
    reply(&rep, &mut m, b"1").await;
    assert_eq!(
        frames(&recv(&rep, "second request").await),
        [b"second".to_vec()]
    );
    reply(&rep, &mut m, b"2").await;

    // A PING while the recv waits is answered, and the request after it arrives.
    let h = waiting_recv(&rep).await;
    m.send_bytes(&command_frame(b"PING", b"\x00\x00ctx")).await;
    m.expect_bytes(&command_frame(b"PONG", b"ctx")).await;
    settle().await;
    m.send_bytes(&message_frames(&[b"", b"after ping"])).await;
    assert_eq!(joined(h).await, [b"after ping".to_vec()]);
    reply(&rep, &mut m, b"pong").await;

    // A request larger than what the recv reads at once.
    let big = support::pattern(100_000);
    let h = waiting_recv(&rep).await;
    m.send_bytes(&message_frames(&[b"", &big])).await;
    assert_eq!(joined(h).await, [big]);
    reply(&rep, &mut m, b"big").await;

    // A request without its delimiter is dropped (as libzmq does); the next one counts.
    let h = waiting_recv(&rep).await;
    m.send_bytes(&message_frames(&[b"no delimiter"])).await;
    settle().await;
    m.send_bytes(&message_frames(&[b"", b"good"])).await;
    assert_eq!(joined(h).await, [b"good".to_vec()]);
    reply(&rep, &mut m, b"good").await;

    // A closing socket keeps a connection it wrote to until the peer's EOF (bounded by
    // LINGER); the mock never reads, so it goes first.
    drop(m);
    support::close(&rep).await;
}

#[tokio::test]
async fn an_oversize_frame_read_by_a_waiting_recv_closes_the_connection() {
    let _panics = support::check_library_panics();
    support::record_library_panics();
    let rep = std::sync::Arc::new(Socket::new(SocketType::Rep));
    rep.set_maxmsgsize(Some(100)).unwrap();
    let ep = bind_any(&rep).await;
    let mut m = MockPeer::connect(&ep).await;
    m.handshake(SocketType::Dealer, SocketType::Rep, b"").await;
    let mut mon = rep.monitor(100);
    let h = waiting_recv(&rep).await;
    let mut wire = frame(1, b"");
    wire.extend(frame(0, &[7u8; 101]));
    m.send_bytes(&wire).await;
    m.expect_closed().await;
    // The recv still waits, and a new peer is served.
    let mut m2 = MockPeer::connect(&ep).await;
    m2.handshake(SocketType::Dealer, SocketType::Rep, b"").await;
    m2.send_bytes(&message_frames(&[b"", b"fits"])).await;
    assert_eq!(joined(h).await, [b"fits".to_vec()]);
    reply(&rep, &mut m2, b"fits").await;
    disconnected(&mut mon).await;
    // A closing socket keeps a connection it wrote to until the peer's EOF (bounded by
    // LINGER); the mock never reads, so it goes first.
    drop(m2);
    support::close(&rep).await;
    support::assert_no_library_panics();
}

#[tokio::test]
async fn the_end_of_the_stream_read_by_a_waiting_recv_is_a_disconnect() {
    let _panics = support::check_library_panics();
    let (rep, m) = rep_with_dealer().await;
    let mut mon = rep.monitor(100);
    let h = waiting_recv(&rep).await;
    drop(m);
    disconnected(&mut mon).await;
    // The recv goes on waiting, for the next peer.
    let mut m2 = MockPeer::connect(&bind_any(&rep).await).await;
    m2.handshake(SocketType::Dealer, SocketType::Rep, b"").await;
    m2.send_bytes(&message_frames(&[b"", b"next"])).await;
    assert_eq!(joined(h).await, [b"next".to_vec()]);
    // A closing socket keeps a connection it wrote to until the peer's EOF (bounded by
    // LINGER); the mock never reads, so it goes first.
    drop(m2);
    support::close(&rep).await;
}

/// REQ: a recv cancelled while it waits gives the connection back. The connection task
/// then reads on its own (it answers a PING while nobody receives), and the reply that
/// comes later is received.
#[tokio::test]
async fn a_cancelled_recv_gives_the_connection_back() {
    let _panics = support::check_library_panics();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let req = Socket::new(SocketType::Req);
    support::connect(&req, &format!("tcp://{}", listener.local_addr().unwrap())).await;
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Rep, SocketType::Req, b"").await;

    for round in 0..3u8 {
        send(&req, msg(&[b"request", &[round]]), "REQ send").await;
        m.expect_bytes(&message_frames(&[b"", b"request", &[round]]))
            .await;
        // Cancelled while waiting for the reply.
        let cancelled = tokio::time::timeout(Duration::from_millis(20), req.recv()).await;
        assert!(cancelled.is_err(), "a reply came before the mock sent one");
        // Nobody receives now: the connection task must be reading again.
        m.send_bytes(&command_frame(b"PING", b"\x00\x00r")).await;
        m.expect_bytes(&command_frame(b"PONG", b"r")).await;
        m.send_bytes(&message_frames(&[b"", b"reply", &[round]]))
            .await;
        assert_eq!(
            frames(&recv(&req, "REQ recv after the cancelled one").await),
            [b"reply".to_vec(), vec![round]]
        );
    }
    // And one more round trip with the recv waiting when the reply comes.
    send(&req, "last", "REQ send").await;
    m.expect_bytes(&message_frames(&[b"", b"last"])).await;
    let req = std::sync::Arc::new(req);
    let s = req.clone();
    let h = tokio::spawn(async move { recv(&s, "REQ recv").await });
    settle().await;
    m.send_bytes(&message_frames(&[b"", b"done"])).await;
    assert_eq!(joined(h).await, [b"done".to_vec()]);
    // A closing socket keeps a connection it wrote to until the peer's EOF (bounded by
    // LINGER); the mock never reads, so it goes first.
    drop(m);
    support::close(&req).await;
}

/// Round trips between our own REQ and REP on a multi-thread runtime, both sides often
/// cancelling their `recv` (after a few polls) and trying again: every
/// request and reply arrives once, in order, and nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_with_cancelled_recvs_on_two_threads() {
    let _panics = support::check_library_panics();
    for transport in ["tcp", "ipc"] {
        let rep = std::sync::Arc::new(Socket::new(SocketType::Rep));
        let ep = if transport == "tcp" {
            bind_any(&rep).await
        } else {
            let path =
                std::env::temp_dir().join(format!("aiozmq-direct-read-{}.ipc", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let ep = format!("ipc://{}", path.display());
            rep.bind(&ep).await.unwrap();
            ep
        };
        let req = Socket::new(SocketType::Req);
        support::connect(&req, &ep).await;
        const ROUNDS: u32 = 2000;
        /// Receives, giving up after a few polls now and then (the reply is rarely there
        /// at the first poll) and trying again; counts the cancelled receives.
        async fn impatient_recv(s: &Socket, i: u32, cancelled: &AtomicU32) -> Message {
            let mut tries = 0u32;
            loop {
                let patience = (i + tries) % 4;
                if patience == 0 {
                    return recv(s, "recv").await;
                }
                tokio::select! {
                    biased;
                    r = s.recv() => return r.expect("recv failed"),
                    _ = async {
                        for _ in 0..patience {
                            tokio::task::yield_now().await;
                        }
                    } => {}
                }
                cancelled.fetch_add(1, Ordering::Relaxed);
                tries += 1;
            }
        }
        let cancelled = std::sync::Arc::new(AtomicU32::new(0));
        let server = {
            let rep = rep.clone();
            let cancelled = cancelled.clone();
            tokio::spawn(async move {
                for i in 0..ROUNDS {
                    let m = impatient_recv(&rep, i, &cancelled).await;
                    assert_eq!(frames(&m), [i.to_be_bytes().to_vec()], "request {i}");
                    send(&rep, msg(&[b"re", &i.to_be_bytes()]), "REP send").await;
                }
            })
        };
        let client = async {
            for i in 0..ROUNDS {
                send(&req, msg(&[&i.to_be_bytes()]), "REQ send").await;
                let m = impatient_recv(&req, i + 3, &cancelled).await;
                assert_eq!(frames(&m), [b"re".to_vec(), i.to_be_bytes().to_vec()]);
            }
        };
        tokio::time::timeout(OP_TIMEOUT * 3, client)
            .await
            .unwrap_or_else(|_| panic!("{transport}: the round trips did not finish"));
        tokio::time::timeout(OP_TIMEOUT, server)
            .await
            .expect("the server did not finish")
            .expect("the server failed");
        assert!(
            cancelled.load(Ordering::Relaxed) > 0,
            "{transport}: no recv was cancelled"
        );
        support::close(&req).await;
        support::close(&rep).await;
    }
}

/// Closing the socket ends a `recv` that is waiting with the read side borrowed (and a
/// disconnect of the peer's endpoint does not: it waits for the next peer).
#[tokio::test]
async fn closing_the_socket_ends_a_borrowing_recv() {
    let _panics = support::check_library_panics();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let req = std::sync::Arc::new(Socket::new(SocketType::Req));
    support::connect(&req, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Rep, SocketType::Req, b"").await;
    send(&req, "q", "REQ send").await;
    m.expect_bytes(&message_frames(&[b"", b"q"])).await;
    let s = req.clone();
    let h = tokio::spawn(async move { s.recv().await });
    settle().await;
    req.disconnect(&ep).await.unwrap();
    m.expect_closed().await;
    settle().await;
    assert!(
        !h.is_finished(),
        "recv returned when its peer was disconnected"
    );
    // A closing socket keeps a connection it wrote to until the peer's EOF (bounded by
    // LINGER); the mock never reads, so it goes first.
    drop(m);
    support::close(&req).await;
    let r = tokio::time::timeout(OP_TIMEOUT, h)
        .await
        .expect("recv still waits after close")
        .expect("the recv task failed");
    assert!(r.is_err(), "recv after close gave {r:?}");
}
