//! Socket-level timers on tokio's paused clock: the reconnect backoff and the handshake
//! deadline run in virtual time, so minutes of intervals take milliseconds.
//!
//! With the clock paused, tokio moves it to the next timer whenever the runtime has
//! nothing to do, even while real I/O (a connect, a write on loopback) is still on its
//! way. So these tests assert only what cannot depend on that: which timer fired, the
//! values the monitor reports and their order, and that virtual time never ran short of
//! an interval. Their own deadlines are on the wall clock (a thread), since a tokio
//! deadline would be reached as soon as the runtime idles.

use aiozmq::{EventKind, Monitor, MonitorEvent, Socket, SocketType};
use std::future::Future;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Wall time any one wait may take: far less than the virtual intervals waited for.
const WALL: Duration = Duration::from_secs(20);

/// `f`, failing the test when it takes more than [`WALL`] of wall time.
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    let (cancel, cancelled) = std::sync::mpsc::channel::<()>();
    let (expired_tx, expired) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = cancelled.recv_timeout(WALL) {
            let _ = expired_tx.send(());
        }
    });
    let out = tokio::select! {
        biased;
        v = f => v,
        _ = expired => panic!("{what}: nothing within {WALL:?} of wall time"),
    };
    drop(cancel);
    out
}

/// The next monitor event of `kind`, skipping others.
async fn next_of(mon: &mut Monitor, kind: EventKind) -> MonitorEvent {
    within(&format!("{kind:?} event"), async {
        loop {
            let ev = mon.recv().await.expect("monitor ended");
            if ev.kind == kind {
                return ev;
            }
        }
    })
    .await
}

/// A TCP endpoint nobody listens on.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", l.local_addr().unwrap());
    drop(l);
    ep
}

/// Connects to `ep`, which refuses every attempt: the CONNECT_RETRIED values double from
/// RECONNECT_IVL to RECONNECT_IVL_MAX, and each retry comes no sooner (in virtual time)
/// than the intervals announced before it add up to.
async fn backoff_doubles_up_to_the_maximum(ep: &str) {
    const S: u64 = 1000;
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_reconnect_ivl(Duration::from_secs(10)).unwrap();
    dealer
        .set_reconnect_ivl_max(Duration::from_secs(80))
        .unwrap();
    let mut mon = dealer.monitor(1000);
    let start = Instant::now();
    dealer.connect(ep).await.unwrap();
    let mut retried = Vec::new();
    let mut waited = Duration::ZERO;
    while retried.len() < 7 {
        let ev = next_of(&mut mon, EventKind::ConnectRetried).await;
        assert_eq!(ev.endpoint, ep);
        assert!(
            start.elapsed() >= waited,
            "retry {} after {:?} of virtual time, before the {waited:?} announced",
            retried.len() + 1,
            start.elapsed()
        );
        waited += Duration::from_millis(u64::from(ev.value));
        retried.push(u64::from(ev.value));
    }
    assert_eq!(
        retried,
        [10 * S, 20 * S, 40 * S, 80 * S, 80 * S, 80 * S, 80 * S]
    );
    within("close", dealer.close()).await;
}

#[tokio::test(start_paused = true)]
async fn reconnect_backoff_doubles_up_to_reconnect_ivl_max_for_a_closed_tcp_port() {
    backoff_doubles_up_to_the_maximum(&closed_port()).await;
}

#[tokio::test(start_paused = true)]
async fn reconnect_backoff_doubles_up_to_reconnect_ivl_max_for_a_missing_ipc_path() {
    let dir = std::env::temp_dir().join(format!("aiozmq-missing-{}", std::process::id()));
    assert!(!dir.exists(), "{} exists", dir.display());
    let ep = format!("ipc://{}", dir.join("sock").display());
    backoff_doubles_up_to_the_maximum(&ep).await;
}

/// The first 11 bytes of a ZMTP 3 greeting (signature and major version): a peer that
/// stops there never completes its greeting.
const PART_OF_A_GREETING: [u8; 11] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3];

const HANDSHAKE_IVL: Duration = Duration::from_secs(90);

/// HANDSHAKE_FAILED_NO_DETAIL with ETIMEDOUT (110) and the reason, no sooner than
/// HANDSHAKE_IVL after `start` and before a second interval could have passed.
async fn expect_handshake_timeout(mon: &mut Monitor, start: Instant, ep: &str) {
    let ev = next_of(mon, EventKind::HandshakeFailedNoDetail).await;
    let elapsed = start.elapsed();
    assert_eq!(
        (ev.value, ev.reason.as_deref(), ev.endpoint.as_str()),
        (110, Some("handshake timed out"), ep)
    );
    assert!(
        elapsed >= HANDSHAKE_IVL && elapsed < 2 * HANDSHAKE_IVL,
        "dropped after {elapsed:?} of virtual time, HANDSHAKE_IVL is {HANDSHAKE_IVL:?}"
    );
}

/// We connect; the peer accepts, sends part of its greeting and stops: the connection is
/// dropped at HANDSHAKE_IVL.
#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_mid_greeting_is_dropped_at_handshake_ivl_when_we_connect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_handshake_ivl(HANDSHAKE_IVL).unwrap();
    dealer.set_reconnect_ivl(Duration::from_secs(3600)).unwrap();
    let mut mon = dealer.monitor(64);
    let start = Instant::now();
    dealer.connect(&ep).await.unwrap();
    let (mut peer, _) = within("accept", listener.accept()).await.unwrap();
    within("partial greeting", peer.write_all(&PART_OF_A_GREETING))
        .await
        .unwrap();
    expect_handshake_timeout(&mut mon, start, &ep).await;
    within("close", dealer.close()).await;
}

/// The peer connects to us, sends part of its greeting and stops: dropped at
/// HANDSHAKE_IVL.
#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_mid_greeting_is_dropped_at_handshake_ivl_when_we_bind() {
    let router = Socket::new(SocketType::Router);
    router.set_handshake_ivl(HANDSHAKE_IVL).unwrap();
    let mut mon = router.monitor(64);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let start = Instant::now();
    let addr = ep.trim_start_matches("tcp://").to_string();
    let mut peer = within("connect", TcpStream::connect(addr)).await.unwrap();
    within("partial greeting", peer.write_all(&PART_OF_A_GREETING))
        .await
        .unwrap();
    expect_handshake_timeout(&mut mon, start, &ep).await;
    within("close", router.close()).await;
}
