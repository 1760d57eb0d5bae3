//! Fault tests against misbehaving peers: a peer whose connection is reset (TCP: a RST;
//! IPC: an abrupt close), a half-open peer (handshake done, then silence without closing,
//! not even reading) with heartbeats on and off, over TCP and IPC, the half-open peer
//! also under CURVE; and close against a connected peer that stopped reading (bounded by
//! LINGER).
//!
//! The misbehaving peer of the reset and half-open tests is a [`RawPeer`]: a DEALER driven
//! by the crate's sans-I/O `Connection` over a raw stream, so it can complete a NULL or
//! CURVE handshake and then do only what the test says. The close tests use the byte-exact
//! mock of `support::mock`. A well-behaved aiozmq peer on the same socket shows that the
//! socket keeps serving the others.

mod support;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aiozmq::zmtp::{Config, Connection, Event, Security};
use aiozmq::{ErrorKind, EventKind, Message, Monitor, Socket, SocketType};
use bytes::BytesMut;
use support::mock::MockPeer;
use support::{
    check_library_panics, close, connect, frames, msg, raw_ipc_connect, recv, send, wait_event,
    within, RawIpc, UnboundIpc,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mech {
    Null,
    /// The ROUTER under test is the CURVE server, its peers CURVE clients.
    Curve,
}

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

/// CURVE keys (public, secret) of the ROUTER under test and of its clients, raw.
fn curve_keys() -> ([u8; 32], [u8; 32], [u8; 32], [u8; 32]) {
    let raw = |z85: &str| aiozmq::curve::parse_key(z85.as_bytes()).unwrap();
    let (sp, ss) = aiozmq::curve_keypair();
    let (cp, cs) = aiozmq::curve_keypair();
    (raw(&sp), raw(&ss), raw(&cp), raw(&cs))
}

/// The ROUTER under test and what its peers need to reach it.
struct Rig {
    ep: String,
    mech: Mech,
    /// (server public, server secret, client public, client secret).
    keys: ([u8; 32], [u8; 32], [u8; 32], [u8; 32]),
    /// IPC: the endpoint's directory, removed at the end of the test.
    _ipc: Option<UnboundIpc>,
}

impl Rig {
    /// Binds `router` (LINGER 0) over `transport`, as CURVE server under CURVE.
    async fn bind(router: &Socket, transport: Transport, mech: Mech) -> Rig {
        let keys = curve_keys();
        router.set_linger(Duration::ZERO).unwrap();
        if mech == Mech::Curve {
            router.set_curve_server(true).unwrap();
            router.set_curve_secretkey(keys.1).unwrap();
        }
        let ipc = (transport == Transport::Ipc).then(|| UnboundIpc::new("peers"));
        let want = match &ipc {
            Some(ipc) => ipc.endpoint.clone(),
            None => "tcp://127.0.0.1:*".to_string(),
        };
        let ep = match within("bind", router.bind(&want)).await {
            Ok(ep) => ep,
            Err(e) => panic!("bind {want} failed: {e}"),
        };
        Rig {
            ep,
            mech,
            keys,
            _ipc: ipc,
        }
    }

    /// A well-behaved aiozmq DEALER ("good") connected and proven to work; with
    /// `heartbeat` (HEARTBEAT_IVL, HEARTBEAT_TIMEOUT) it pings the ROUTER too.
    async fn good_dealer(
        &self,
        router: &Socket,
        heartbeat: Option<(Duration, Duration)>,
    ) -> Socket {
        let good = Socket::new(SocketType::Dealer);
        good.set_linger(Duration::ZERO).unwrap();
        good.set_routing_id("good").unwrap();
        if let Some((ivl, timeout)) = heartbeat {
            good.set_heartbeat_ivl(ivl).unwrap();
            good.set_heartbeat_timeout(timeout).unwrap();
        }
        if self.mech == Mech::Curve {
            good.set_curve_serverkey(self.keys.0).unwrap();
            good.set_curve_publickey(self.keys.2).unwrap();
            good.set_curve_secretkey(self.keys.3).unwrap();
        }
        connect(&good, &self.ep).await;
        round_trip(router, &good, "before").await;
        good
    }

    /// A raw DEALER with routing id `id`, its handshake done.
    async fn raw_dealer(&self, id: &[u8]) -> RawPeer {
        let mut cfg = Config::new(SocketType::Dealer);
        cfg.routing_id = bytes::Bytes::copy_from_slice(id);
        cfg.handshake_ivl = Duration::ZERO;
        if self.mech == Mech::Curve {
            cfg.security = Security::CurveClient {
                server_key: self.keys.0,
                public_key: self.keys.2,
                secret_key: self.keys.3,
            };
        }
        RawPeer::handshake(RawStream::connect(&self.ep).await, cfg).await
    }
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

/// One end of a TCP or Unix stream connection.
enum RawStream {
    Tcp(TcpStream),
    Ipc(RawIpc),
}

impl RawStream {
    /// Connects to `tcp://ADDR` or `ipc://PATH`.
    async fn connect(ep: &str) -> RawStream {
        let r = if let Some(path) = ep.strip_prefix("ipc://") {
            within("raw connect", raw_ipc_connect(path))
                .await
                .map(RawStream::Ipc)
        } else {
            let addr = ep
                .strip_prefix("tcp://")
                .expect("a tcp:// or ipc:// endpoint");
            within("raw connect", TcpStream::connect(addr))
                .await
                .map(RawStream::Tcp)
        };
        r.unwrap_or_else(|e| panic!("raw connect to {ep}: {e}"))
    }

    /// Closes the connection abruptly. TCP: SO_LINGER 0, then close, so the kernel sends
    /// a RST. IPC: close; a Unix socket has no RST, but closing one with unread data in
    /// its receive queue makes the peer's next read fail with ECONNRESET.
    fn abort(self) {
        if let RawStream::Tcp(s) = &self {
            socket2::SockRef::from(s)
                .set_linger(Some(Duration::ZERO))
                .expect("SO_LINGER 0");
        }
        drop(self);
    }
}

impl AsyncRead for RawStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            RawStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            RawStream::Ipc(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for RawStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            RawStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            RawStream::Ipc(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            RawStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            RawStream::Ipc(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            RawStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            RawStream::Ipc(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A peer driven by the crate's sans-I/O [`Connection`] over a raw stream: it reads and
/// writes only when the test calls it, so between calls it is a peer that neither reads
/// nor answers (nor closes).
struct RawPeer {
    stream: RawStream,
    conn: Connection,
    rbuf: BytesMut,
    /// When the peer began writing the last bytes of its handshake: the socket under
    /// test cannot complete the handshake earlier.
    handshake_sent: Instant,
}

impl RawPeer {
    /// Runs the handshake of `cfg` over `stream` to its end.
    async fn handshake(stream: RawStream, cfg: Config) -> RawPeer {
        let mut peer = RawPeer {
            stream,
            conn: Connection::new(cfg, Instant::now()),
            rbuf: BytesMut::new(),
            handshake_sent: Instant::now(),
        };
        within("the raw peer's handshake", async {
            loop {
                if !peer.conn.transmit_ref().is_empty() {
                    peer.handshake_sent = Instant::now();
                    peer.flush().await;
                }
                if peer.conn.is_ready() {
                    break;
                }
                peer.read_some().await;
                while let Some(ev) = peer.conn.poll_event() {
                    assert!(
                        matches!(ev, Event::Ready(_)),
                        "raw peer: unexpected {ev:?} during the handshake"
                    );
                }
            }
        })
        .await;
        peer
    }

    /// Writes everything the connection has queued.
    async fn flush(&mut self) {
        let bytes = self.conn.transmit_ref().to_vec();
        within("raw peer write", self.stream.write_all(&bytes))
            .await
            .expect("raw peer write");
        self.conn.transmit().advance(bytes.len());
    }

    /// Reads once (at least a byte) and decodes what came.
    async fn read_some(&mut self) {
        self.rbuf.reserve(4096);
        let n = self
            .stream
            .read_buf(&mut self.rbuf)
            .await
            .expect("raw peer read");
        assert!(n > 0, "raw peer: the connection closed");
        self.conn.handle_received(Instant::now);
        self.conn
            .handle_input(&mut self.rbuf)
            .expect("raw peer: protocol error");
    }

    async fn send_message(&mut self, m: &Message) {
        self.conn.send_message(m);
        self.flush().await;
    }

    /// Reads until a whole message arrives (no other event may come first).
    async fn expect_message(&mut self) -> Message {
        within("raw peer: a message", async {
            loop {
                match self.conn.poll_event() {
                    Some(Event::Message(m)) => return m,
                    Some(ev) => panic!("raw peer: {ev:?} before the message"),
                    None => self.read_some().await,
                }
            }
        })
        .await
    }

    /// Reads until the other side closes the connection (EOF or reset); returns the
    /// bytes received meanwhile and the events they decode to.
    async fn read_until_closed(mut self) -> (Vec<u8>, Vec<Event>) {
        let mut raw = Vec::new();
        within("raw peer: the connection to close", async {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionReset
                                | std::io::ErrorKind::ConnectionAborted
                        ) =>
                    {
                        break
                    }
                    Err(e) => panic!("raw peer: read error while expecting close: {e}"),
                }
            }
        })
        .await;
        self.rbuf.extend_from_slice(&raw);
        self.conn
            .handle_input(&mut self.rbuf)
            .expect("raw peer: what came before the close does not decode");
        let events = std::iter::from_fn(|| self.conn.poll_event()).collect();
        (raw, events)
    }

    fn abort(self) {
        self.stream.abort();
    }
}

/// A peer that vanishes abruptly (TCP: a RST; IPC: a close, which the ROUTER reads as EOF,
/// or as ECONNRESET when the peer left bytes of it unread) is dropped: once while idle
/// after a message, once while the ROUTER is writing megabytes to it, and once in the
/// middle of its handshake. The ROUTER keeps serving its other peer each time and
/// knows the vanished peer no more (ROUTER_MANDATORY: `EHOSTUNREACH`).
async fn reset_peer_is_dropped_and_others_are_served(transport: Transport) {
    let _panics = check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_router_mandatory(true).unwrap();
    let mut mon = router.monitor(4096);
    let rig = Rig::bind(&router, transport, Mech::Null).await;
    let good = rig.good_dealer(&router, None).await;

    // Idle after a message.
    let mut bad = rig.raw_dealer(b"bad").await;
    bad.send_message(&msg(&[b"hello"])).await;
    let m = recv(&router, "the raw peer's message").await;
    assert_eq!(frames(&m), vec![b"bad".to_vec(), b"hello".to_vec()]);
    bad.abort();
    let ev = wait_event(&mut mon, EventKind::Disconnected, "idle reset").await;
    eprintln!("{transport:?} idle reset: {:?}", ev.reason);
    let e = router
        .try_send(msg(&[b"bad", b"after reset"]))
        .expect_err("the reset peer is still routable");
    assert_eq!(e.error.kind(), ErrorKind::HostUnreachable, "{e}");
    round_trip(&router, &good, "after idle reset").await;

    // While the ROUTER writes to it: 64 messages of 256 KiB that the peer never reads
    // (16 MiB: more than the kernel buffers hold, so a write is pending).
    let mut bad = rig.raw_dealer(b"bad").await;
    // The ROUTER knows the peer once its message arrived.
    bad.send_message(&msg(&[b"hello again"])).await;
    recv(&router, "the raw peer's second message").await;
    let big = vec![7u8; 256 << 10];
    for _ in 0..64 {
        send(&router, msg(&[b"bad", &big]), "to the raw peer").await;
    }
    bad.abort();
    let ev = wait_event(&mut mon, EventKind::Disconnected, "reset while writing").await;
    eprintln!("{transport:?} reset while writing: {:?}", ev.reason);
    round_trip(&router, &good, "after reset while writing").await;
    let e = router
        .try_send(msg(&[b"bad", b"after reset"]))
        .expect_err("the reset peer is still routable");
    assert_eq!(e.error.kind(), ErrorKind::HostUnreachable, "{e}");

    // In the middle of the handshake: the signature only.
    let mut bad = RawStream::connect(&rig.ep).await;
    within(
        "signature",
        bad.write_all(&support::mock::libzmq_signature(0)),
    )
    .await
    .unwrap();
    bad.abort();
    // On Windows the reset can reach the connection before the listener has accepted and
    // set it up, and the accept then fails (WSAENOTCONN): that is ACCEPT_FAILED, as libzmq
    // reports a failed accept, not a failed handshake.
    let outcomes: &[EventKind] = if cfg!(windows) {
        &[EventKind::HandshakeFailedNoDetail, EventKind::AcceptFailed]
    } else {
        &[EventKind::HandshakeFailedNoDetail]
    };
    support::wait_event_of(&mut mon, outcomes, "reset during the handshake").await;
    round_trip(&router, &good, "after reset during the handshake").await;
    assert_eq!(router.counters().peers, 1, "only the good peer is left");

    close(&good).await;
    close(&router).await;
}

/// A half-open peer (handshake done, then silent without closing, not even reading) is
/// dropped HEARTBEAT_IVL + HEARTBEAT_TIMEOUT after its handshake: the first PING goes out
/// after IVL, and nothing answers it within TIMEOUT. Under CURVE the PING travels inside
/// the session (a MESSAGE command, no plaintext PING on the wire). A well-behaved peer on
/// the same socket, pinging the ROUTER as well, stays connected: PINGs are answered both
/// ways.
async fn half_open_peer_is_dropped_at_heartbeat_ivl_plus_timeout(transport: Transport, mech: Mech) {
    let _panics = check_library_panics();
    const IVL: Duration = Duration::from_millis(100);
    const TIMEOUT: Duration = Duration::from_millis(100);
    const GRACE: Duration = Duration::from_millis(700);
    let what = format!("{transport:?}, {mech:?}");
    let router = Socket::new(SocketType::Router);
    router.set_heartbeat_ivl(IVL).unwrap();
    router.set_heartbeat_timeout(TIMEOUT).unwrap();
    let mut mon = router.monitor(4096);
    let rig = Rig::bind(&router, transport, mech).await;
    let good = rig.good_dealer(&router, Some((IVL, TIMEOUT))).await;
    let mut good_mon = good.monitor(64);

    let half_open = rig.raw_dealer(b"half-open").await;
    // The ROUTER's heartbeat clock starts at its end of the handshake, which needs the
    // peer's last handshake bytes: not before they were sent.
    let handshaken = half_open.handshake_sent;
    let ev = wait_event(&mut mon, EventKind::Disconnected, "half-open peer").await;
    let after = handshaken.elapsed();
    eprintln!("{what}: half-open peer dropped {after:?} after its handshake");
    assert!(
        ev.reason.as_deref().unwrap_or("").contains("heartbeat"),
        "{what}: dropped for another reason: {ev:?}"
    );
    assert!(
        after >= IVL + TIMEOUT,
        "{what}: dropped after {after:?}, before HEARTBEAT_IVL + HEARTBEAT_TIMEOUT"
    );
    assert!(
        after <= IVL + TIMEOUT + GRACE,
        "{what}: dropped only after {after:?} (HEARTBEAT_IVL + HEARTBEAT_TIMEOUT = {:?})",
        IVL + TIMEOUT
    );
    // What it was sent before being dropped: PINGs only (the ROUTER has nothing else for
    // it), in plaintext with NULL, inside CURVE MESSAGE boxes with CURVE.
    let (raw, events) = half_open.read_until_closed().await;
    assert!(
        !events.is_empty() && events.iter().all(|e| matches!(e, Event::Ping { .. })),
        "{what}: the half-open peer was sent {events:?}, not PINGs"
    );
    let plain_ping = raw.windows(5).any(|w| w == b"\x04PING");
    let boxed = raw.windows(8).any(|w| w == b"\x07MESSAGE");
    match mech {
        Mech::Null => assert!(plain_ping, "{what}: no PING command on the wire"),
        Mech::Curve => assert!(
            boxed && !plain_ping,
            "{what}: the PING is not inside a CURVE MESSAGE: {:02x?}",
            &raw[..raw.len().min(64)]
        ),
    }

    // The good peer and the ROUTER answered each other's PINGs: still connected (as
    // both sides see it), and served.
    round_trip(&router, &good, "after the half-open peer went").await;
    let quiet = (IVL + TIMEOUT) * 2;
    let (_, _) = tokio::join!(
        expect_no_event(
            &mut mon,
            EventKind::Disconnected,
            quiet,
            "the PING-answering peer"
        ),
        expect_no_event(
            &mut good_mon,
            EventKind::Disconnected,
            quiet,
            "the PING-answering ROUTER"
        ),
    );
    round_trip(&router, &good, "two heartbeat periods later").await;
    assert_eq!(router.counters().peers, 1, "{what}");

    close(&good).await;
    close(&router).await;
}

/// Without heartbeats (the default), a half-open peer is kept: no DISCONNECTED for a
/// second of silence, and the connection still carries a message to it afterwards.
async fn half_open_peer_is_kept_without_heartbeats(transport: Transport, mech: Mech) {
    let _panics = check_library_panics();
    let what = format!("{transport:?}, {mech:?}");
    let router = Socket::new(SocketType::Router);
    router.set_router_mandatory(true).unwrap();
    let mut mon = router.monitor(4096);
    let rig = Rig::bind(&router, transport, mech).await;
    let good = rig.good_dealer(&router, None).await;

    let mut half_open = rig.raw_dealer(b"half-open").await;
    half_open.send_message(&msg(&[b"hi"])).await;
    let m = recv(&router, "the half-open peer's only message").await;
    assert_eq!(frames(&m), vec![b"half-open".to_vec(), b"hi".to_vec()]);
    expect_no_event(
        &mut mon,
        EventKind::Disconnected,
        Duration::from_secs(1),
        &format!("{what}: a silent peer without heartbeats"),
    )
    .await;
    send(
        &router,
        msg(&[b"half-open", b"still there?"]),
        "to the silent peer",
    )
    .await;
    let m = half_open.expect_message().await;
    assert_eq!(frames(&m), vec![b"still there?".to_vec()], "{what}");
    round_trip(&router, &good, "with the silent peer connected").await;
    assert_eq!(router.counters().peers, 2, "{what}");

    drop(half_open);
    wait_event(&mut mon, EventKind::Disconnected, "the raw peer closed").await;
    close(&good).await;
    close(&router).await;
}

/// The reset and half-open tests, one module per transport and mechanism.
macro_rules! peer_tests {
    ($($module:ident: $transport:expr, $mech:expr, reset: $reset:tt;)*) => {
        $(
            mod $module {
                use super::*;

                peer_tests!(@reset $reset, $transport);

                #[cfg_attr(windows, ignore = "timing bounds tighter than Wine's timers keep")]
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn half_open_peer_is_dropped_at_heartbeat_ivl_plus_timeout() {
                    super::half_open_peer_is_dropped_at_heartbeat_ivl_plus_timeout(
                        $transport, $mech,
                    )
                    .await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn half_open_peer_is_kept_without_heartbeats() {
                    super::half_open_peer_is_kept_without_heartbeats($transport, $mech).await;
                }
            }
        )*
    };
    (@reset yes, $transport:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn reset_peer_is_dropped_and_others_are_served() {
            super::reset_peer_is_dropped_and_others_are_served($transport).await;
        }
    };
    (@reset no, $transport:expr) => {};
}

peer_tests! {
    tcp: Transport::Tcp, Mech::Null, reset: yes;
    ipc: Transport::Ipc, Mech::Null, reset: yes;
    curve_tcp: Transport::Tcp, Mech::Curve, reset: no;
    curve_ipc: Transport::Ipc, Mech::Curve, reset: no;
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
    let _panics = check_library_panics();
    let (dealer, mut mock) = dealer_to_mock(LINGER).await;
    send(&dealer, msg(&[b"unread"]), "one message").await;
    let took = timed_close(&dealer, "small unread message").await;
    assert_at_linger(took, "small unread message");
    // The message was written whole before the connection went (one short frame).
    let got = mock.read_until_closed().await;
    assert_eq!(got, b"\x00\x06unread", "what the peer had unread");
}

/// The same with 32 MiB unread (more than the kernel buffers: a write is pending when
/// close begins): close gives up at LINGER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_megabytes_unread_returns_at_linger() {
    let _panics = check_library_panics();
    let (dealer, mock) = dealer_to_mock(LINGER).await;
    let big = vec![1u8; 1 << 20];
    for _ in 0..32 {
        send(&dealer, msg(&[&big]), "1 MiB").await;
    }
    let took = timed_close(&dealer, "32 MiB unread").await;
    assert_at_linger(took, "32 MiB unread");
    drop(mock);
}

/// A peer that reads everything and then closes: close returns at its EOF, long before a
/// 10 s LINGER.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_returns_at_the_peers_eof_before_linger() {
    let _panics = check_library_panics();
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
}

/// An aiozmq PULL that stopped reading (RCVHWM reached, `recv` never called) over TCP
/// and IPC: PUSH's close returns at LINGER with its data unread.
#[cfg_attr(
    windows,
    ignore = "a named pipe has no half-close: close returns at once, the bytes stay in the pipe"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_against_a_pull_that_stopped_reading_returns_at_linger() {
    let _panics = check_library_panics();
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
}
