//! The interop matrix with libzmq (pyzmq running `interop/peer.py`): every valid socket
//! pair, over TCP and IPC, with our socket binding and with libzmq binding, and with our
//! socket in each role of an asymmetric pair. Then the PUB/SUB details that a matrix cell
//! does not cover: the subscription bytes libzmq sees from us, prefix filtering,
//! heartbeats in both directions (including a SIGSTOPped peer), and a restarted publisher.
//!
//! Slow joiners are never raced: when libzmq publishes to us, it publishes a paced stream
//! (`--interval`) and we check that, from the first message we get, none is missing; when
//! we publish to libzmq, we repeat a `sync` message until the peer prints `SYNCED` (its
//! `sync` action), or, as XPUB, we wait for the subscription message itself.
//!
//! Needs Python 3 on PATH and access to PyPI the first time (see tests/support/python.rs);
//! without them these tests fail rather than skip.

mod support;

use std::path::PathBuf;
use std::process::Command as StdCommand;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aiozmq::{EventKind, Monitor, MonitorEvent, Socket, SocketType};
use bytes::Bytes;
use support::mock::MockPeer;
use support::python::{from_hex, PeerMessage, PyPeer};
use support::{connect, frames, msg, recv, send, OP_TIMEOUT};

// ----- Transports and linking ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
}

/// An IPC socket file in the temp dir, unique to this process and call; removed on drop
/// (whichever side bound it normally removes it first).
#[derive(Debug)]
struct IpcFile(PathBuf);

impl IpcFile {
    fn new() -> IpcFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("aiozmq-matrix-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        IpcFile(path)
    }

    fn endpoint(&self) -> String {
        format!("ipc://{}", self.0.display())
    }
}

impl Drop for IpcFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A libzmq peer linked with one of our sockets (and the IPC file, if any, kept until the
/// end of the test).
struct Linked {
    peer: PyPeer,
    _ipc: Option<IpcFile>,
}

/// Links `ours` with `peer.py THEIR_TYPE ... ARGS`: we bind and the peer connects, or the
/// peer binds and we connect to the endpoint it reports. Returns once the peer printed
/// READY (its sockets are bound/connected).
async fn link(
    ours: &Socket,
    tr: Transport,
    we_bind: bool,
    their_type: &str,
    args: &[&str],
) -> Linked {
    let ipc = (tr == Transport::Ipc).then(IpcFile::new);
    let local = match &ipc {
        Some(f) => f.endpoint(),
        None => "tcp://127.0.0.1:*".to_string(),
    };
    if we_bind {
        let ep = match tokio::time::timeout(OP_TIMEOUT, ours.bind(&local)).await {
            Ok(Ok(ep)) => ep,
            Ok(Err(e)) => panic!("bind {local} failed: {e}"),
            Err(_) => panic!("bind {local} did not complete within {OP_TIMEOUT:?}"),
        };
        let mut a = vec![their_type, "--connect", &ep];
        a.extend_from_slice(args);
        let (peer, _) = PyPeer::start(a).await;
        Linked { peer, _ipc: ipc }
    } else {
        let mut a = vec![their_type, "--bind", &local];
        a.extend_from_slice(args);
        let (peer, eps) = PyPeer::start(a).await;
        connect(ours, &eps[0]).await;
        Linked { peer, _ipc: ipc }
    }
}

fn v(frames: &[&[u8]]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.to_vec()).collect()
}

/// Expects the peer's next printed message to have these frames (on its socket 0).
async fn peer_got(peer: &mut PyPeer, want: &[&[u8]]) {
    let m = peer.message().await;
    assert_eq!(
        m,
        PeerMessage {
            socket: 0,
            frames: v(want)
        },
        "message as the libzmq peer received it"
    );
}

/// Expects the peer's next line to be exactly `want`.
async fn peer_line(peer: &mut PyPeer, want: &str) {
    let line = peer.line().await;
    assert_eq!(line, want, "line printed by the libzmq peer");
}

/// The next event of `kind`, skipping others; fails after [`OP_TIMEOUT`].
async fn wait_event(mon: &mut Monitor, kind: EventKind) -> MonitorEvent {
    let deadline = tokio::time::Instant::now() + OP_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, mon.recv()).await {
            Ok(Some(ev)) if ev.kind == kind => return ev,
            Ok(Some(ev)) => seen.push(ev.kind),
            Ok(None) => panic!("monitor stopped before {kind:?} (saw {seen:?})"),
            Err(_) => panic!("no {kind:?} event within {OP_TIMEOUT:?} (saw {seen:?})"),
        }
    }
}

/// We publish: repeats a `sync` message until the peer (running the `sync sync` action)
/// prints `SYNCED`, so its subscription is known to be in place. Bounded by the peer's
/// line timeout.
async fn publish_until_synced(s: &Socket, peer: &mut PyPeer) {
    let line = {
        let line = peer.line();
        tokio::pin!(line);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                l = &mut line => break l,
                _ = tick.tick() => send(s, msg(&[b"sync"]), "publishing sync").await,
            }
        }
    };
    assert_eq!(line, "SYNCED", "libzmq subscriber did not sync");
}

/// libzmq publishes a paced stream `PREFIX{i}` (i = 0, 1, ...): receives `n` messages and
/// checks that they are consecutive from the first one received (none lost once joined).
/// Returns the index of the first.
async fn recv_consecutive(s: &Socket, prefix: &str, n: usize) -> usize {
    let parse = |m: &aiozmq::Message| -> usize {
        assert_eq!(m.len(), 1, "one frame expected: {:?}", frames(m));
        std::str::from_utf8(&m[0])
            .ok()
            .and_then(|t| t.strip_prefix(prefix))
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("expected {prefix}N, got {:?}", frames(m)))
    };
    let first = parse(&recv(s, "first published message").await);
    for k in 1..n {
        let got = parse(&recv(s, "next published message").await);
        assert_eq!(got, first + k, "a published message was lost or reordered");
    }
    first
}

/// Parses a `SUBSCRIBED HEX` / `UNSUBSCRIBED HEX` line into (subscribe, topic).
fn subscription_line(line: &str) -> (bool, Vec<u8>) {
    let (on, hex) = if let Some(h) = line.strip_prefix("SUBSCRIBED") {
        (true, h)
    } else if let Some(h) = line.strip_prefix("UNSUBSCRIBED") {
        (false, h)
    } else {
        panic!("expected a (UN)SUBSCRIBED line from the libzmq XPUB, got {line:.200}")
    };
    let topic = from_hex(hex.trim()).unwrap_or_else(|| panic!("bad hex in {line:?}"));
    (on, topic)
}

/// Generates one test per transport and direction, in a module named after the scenario
/// `async fn $scenario(tr: Transport, we_bind: bool)`.
macro_rules! matrix {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                use super::Transport;
                #[tokio::test]
                async fn tcp_we_bind() {
                    let _panics = super::support::check_library_panics();
                    super::$scenario(Transport::Tcp, true).await
                }
                #[tokio::test]
                async fn tcp_they_bind() {
                    let _panics = super::support::check_library_panics();
                    super::$scenario(Transport::Tcp, false).await
                }
                #[tokio::test]
                async fn ipc_we_bind() {
                    let _panics = super::support::check_library_panics();
                    super::$scenario(Transport::Ipc, true).await
                }
                #[tokio::test]
                async fn ipc_they_bind() {
                    let _panics = super::support::check_library_panics();
                    super::$scenario(Transport::Ipc, false).await
                }
            }
        )*
    };
}

matrix!(
    req_rep,
    rep_req,
    req_router,
    router_req,
    dealer_rep,
    rep_dealer,
    dealer_router,
    router_dealer,
    dealer_dealer,
    router_router,
    pub_sub,
    sub_pub,
    pub_xsub,
    xsub_pub,
    xpub_sub,
    sub_xpub,
    xpub_xsub,
    xsub_xpub,
    push_pull,
    pull_push,
    pair_pair,
);

// ----- Request-reply ---------------------------------------------------------------------
// Scenario names: our type first, libzmq's second.

async fn req_rep(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Req);
    let mut l = link(&s, tr, we_bind, "REP", &["echo", "2"]).await;
    for m in [v(&[b"hello"]), v(&[b"a", b"", b"b"])] {
        let parts: Vec<&[u8]> = m.iter().map(|f| &f[..]).collect();
        send(&s, msg(&parts), "REQ send").await;
        peer_got(&mut l.peer, &parts).await;
        assert_eq!(frames(&recv(&s, "REQ recv").await), m, "reply");
    }
    l.peer.finish().await;
    support::close(&s).await;
}

async fn rep_req(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Rep);
    let args = ["req", "2", "text:q-{i}", "empty:"];
    let mut l = link(&s, tr, we_bind, "REQ", &args).await;
    for i in 0..2 {
        let q = format!("q-{i}");
        assert_eq!(frames(&recv(&s, "REP recv").await), v(&[q.as_bytes(), b""]));
        let r = format!("r-{i}");
        send(&s, msg(&[r.as_bytes()]), "REP send").await;
        peer_got(&mut l.peer, &[r.as_bytes()]).await;
    }
    l.peer.finish().await;
    support::close(&s).await;
}

async fn req_router(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Req);
    s.set_routing_id(Bytes::from_static(b"our-req")).unwrap();
    let mut l = link(&s, tr, we_bind, "ROUTER", &["echo", "1"]).await;
    send(&s, msg(&[b"hello"]), "REQ send").await;
    peer_got(&mut l.peer, &[b"our-req", b"", b"hello"]).await;
    assert_eq!(frames(&recv(&s, "REQ recv").await), v(&[b"hello"]));
    l.peer.finish().await;
    support::close(&s).await;
}

async fn router_req(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Router);
    let args = ["--identity", "peer-1", "req", "1", "text:hello"];
    let mut l = link(&s, tr, we_bind, "REQ", &args).await;
    assert_eq!(
        frames(&recv(&s, "ROUTER recv").await),
        v(&[b"peer-1", b"", b"hello"])
    );
    send(&s, msg(&[b"peer-1", b"", b"world"]), "ROUTER send").await;
    peer_got(&mut l.peer, &[b"world"]).await;
    l.peer.finish().await;
    support::close(&s).await;
}

async fn dealer_rep(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    let mut l = link(&s, tr, we_bind, "REP", &["echo", "1"]).await;
    send(&s, msg(&[b"", b"hello", b""]), "DEALER send").await;
    peer_got(&mut l.peer, &[b"hello", b""]).await;
    assert_eq!(
        frames(&recv(&s, "DEALER recv").await),
        v(&[b"", b"hello", b""])
    );
    l.peer.finish().await;
    support::close(&s).await;
}

async fn rep_dealer(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Rep);
    let args = ["send", "1", "empty:", "text:hello", "recv", "1"];
    let mut l = link(&s, tr, we_bind, "DEALER", &args).await;
    assert_eq!(frames(&recv(&s, "REP recv").await), v(&[b"hello"]));
    send(&s, msg(&[b"world"]), "REP send").await;
    peer_got(&mut l.peer, &[b"", b"world"]).await;
    l.peer.finish().await;
    support::close(&s).await;
}

async fn dealer_router(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    s.set_routing_id(Bytes::from_static(b"our-dealer")).unwrap();
    let mut l = link(&s, tr, we_bind, "ROUTER", &["echo", "1"]).await;
    send(&s, msg(&[b"hello", b""]), "DEALER send").await;
    peer_got(&mut l.peer, &[b"our-dealer", b"hello", b""]).await;
    assert_eq!(frames(&recv(&s, "DEALER recv").await), v(&[b"hello", b""]));
    l.peer.finish().await;
    support::close(&s).await;
}

async fn router_dealer(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Router);
    s.set_router_mandatory(true).unwrap();
    let args = [
        "--identity",
        "peer-1",
        "send",
        "1",
        "text:hello",
        "recv",
        "1",
    ];
    let mut l = link(&s, tr, we_bind, "DEALER", &args).await;
    assert_eq!(
        frames(&recv(&s, "ROUTER recv").await),
        v(&[b"peer-1", b"hello"])
    );
    send(&s, msg(&[b"peer-1", b"world"]), "ROUTER send").await;
    peer_got(&mut l.peer, &[b"world"]).await;
    l.peer.finish().await;
    support::close(&s).await;
}

async fn dealer_dealer(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    let args = ["send", "1", "text:first", "echo", "2"];
    let mut l = link(&s, tr, we_bind, "DEALER", &args).await;
    assert_eq!(frames(&recv(&s, "DEALER recv").await), v(&[b"first"]));
    for m in [v(&[b"hello"]), v(&[b"", b"x", b""])] {
        let parts: Vec<&[u8]> = m.iter().map(|f| &f[..]).collect();
        send(&s, msg(&parts), "DEALER send").await;
        peer_got(&mut l.peer, &parts).await;
        assert_eq!(frames(&recv(&s, "DEALER recv").await), m, "echo");
    }
    l.peer.finish().await;
    support::close(&s).await;
}

/// ROUTER to ROUTER: each side addresses the other by the identity it announced. We send
/// first (once our handshake completed, the peer's identity is routable), so that the
/// peer learns ours from our READY.
async fn router_router(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Router);
    s.set_routing_id(Bytes::from_static(b"ours")).unwrap();
    s.set_router_mandatory(true).unwrap();
    let mut mon = s.monitor(64);
    let args = [
        "--identity",
        "theirs",
        "--router-mandatory",
        "recv",
        "1",
        "send",
        "1",
        "text:ours",
        "text:from-theirs",
    ];
    let mut l = link(&s, tr, we_bind, "ROUTER", &args).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded).await;
    send(&s, msg(&[b"theirs", b"from-ours"]), "ROUTER send").await;
    peer_got(&mut l.peer, &[b"ours", b"from-ours"]).await;
    assert_eq!(
        frames(&recv(&s, "ROUTER recv").await),
        v(&[b"theirs", b"from-theirs"])
    );
    l.peer.finish().await;
    support::close(&s).await;
}

// ----- Publish-subscribe -----------------------------------------------------------------

/// Our PUB publishes to a libzmq SUB/XSUB subscribed to `sync` and `data`: after
/// the sync, only the `data` messages reach it (`other` is filtered, on one side or the
/// other), in order.
async fn publish_to_libzmq(s: &Socket, mut l: Linked) {
    publish_until_synced(s, &mut l.peer).await;
    for i in 0..3 {
        let other = format!("other-{i}");
        send(s, msg(&[other.as_bytes()]), "publish other").await;
        let data = format!("data-{i}");
        send(s, msg(&[data.as_bytes(), b"part-2"]), "publish data").await;
    }
    for i in 0..3 {
        let data = format!("data-{i}");
        peer_got(&mut l.peer, &[data.as_bytes(), b"part-2"]).await;
    }
    l.peer.finish().await;
}

/// A libzmq subscriber for [`publish_to_libzmq`].
const SUBSCRIBER: [&str; 8] = [
    "--subscribe",
    "sync",
    "--subscribe",
    "data",
    "sync",
    "sync",
    "recv",
    "3",
];

async fn pub_sub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Pub);
    let l = link(&s, tr, we_bind, "SUB", &SUBSCRIBER).await;
    publish_to_libzmq(&s, l).await;
    support::close(&s).await;
}

async fn pub_xsub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Pub);
    let l = link(&s, tr, we_bind, "XSUB", &SUBSCRIBER).await;
    publish_to_libzmq(&s, l).await;
    support::close(&s).await;
}

/// libzmq's PUB publishes `data-{i}` every 5 ms (10 s at most): our subscriber gets a run
/// of consecutive ones.
const PACED_PUBLISHER: [&str; 5] = ["--interval", "5", "send", "2000", "text:data-{i}"];

async fn sub_pub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Sub);
    s.subscribe(Bytes::from_static(b"data")).unwrap();
    let mut l = link(&s, tr, we_bind, "PUB", &PACED_PUBLISHER).await;
    recv_consecutive(&s, "data-", 5).await;
    l.peer.kill().await;
    support::close(&s).await;
}

async fn xsub_pub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::XSub);
    send(&s, msg(&[b"\x01data"]), "XSUB subscribe").await;
    let mut l = link(&s, tr, we_bind, "PUB", &PACED_PUBLISHER).await;
    recv_consecutive(&s, "data-", 5).await;
    l.peer.kill().await;
    support::close(&s).await;
}

/// Our XPUB: the libzmq subscriber's subscription arrives as exactly `\x01data`; then
/// what we publish reaches it.
async fn xpub_publishes(s: &Socket, mut l: Linked) {
    let sub = recv(s, "XPUB subscription").await;
    assert_eq!(
        frames(&sub),
        v(&[b"\x01data"]),
        "subscription message on our XPUB"
    );
    for i in 0..3 {
        let other = format!("other-{i}");
        send(s, msg(&[other.as_bytes()]), "publish other").await;
        let data = format!("data-{i}");
        send(s, msg(&[data.as_bytes()]), "publish data").await;
    }
    for i in 0..3 {
        let data = format!("data-{i}");
        peer_got(&mut l.peer, &[data.as_bytes()]).await;
    }
    l.peer.finish().await;
}

async fn xpub_sub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::XPub);
    let l = link(
        &s,
        tr,
        we_bind,
        "SUB",
        &["--subscribe", "data", "recv", "3"],
    )
    .await;
    xpub_publishes(&s, l).await;
    support::close(&s).await;
}

async fn xpub_xsub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::XPub);
    let l = link(
        &s,
        tr,
        we_bind,
        "XSUB",
        &["--subscribe", "data", "recv", "3"],
    )
    .await;
    xpub_publishes(&s, l).await;
    support::close(&s).await;
}

/// libzmq's XPUB waits for our subscription (printing it), then publishes three messages.
const XPUB_PUBLISHER: [&str; 5] = ["subs", "1", "send", "3", "text:data-{i}"];

async fn sub_xpub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Sub);
    s.subscribe(Bytes::from_static(b"data")).unwrap();
    let mut l = link(&s, tr, we_bind, "XPUB", &XPUB_PUBLISHER).await;
    peer_line(&mut l.peer, "SUBSCRIBED 64617461").await;
    for i in 0..3 {
        let data = format!("data-{i}");
        assert_eq!(frames(&recv(&s, "SUB recv").await), v(&[data.as_bytes()]));
    }
    l.peer.finish().await;
    support::close(&s).await;
}

async fn xsub_xpub(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::XSub);
    send(&s, msg(&[b"\x01data"]), "XSUB subscribe").await;
    let mut l = link(&s, tr, we_bind, "XPUB", &XPUB_PUBLISHER).await;
    peer_line(&mut l.peer, "SUBSCRIBED 64617461").await;
    for i in 0..3 {
        let data = format!("data-{i}");
        assert_eq!(frames(&recv(&s, "XSUB recv").await), v(&[data.as_bytes()]));
    }
    l.peer.finish().await;
    support::close(&s).await;
}

// ----- Pipeline and exclusive pair -------------------------------------------------------

async fn push_pull(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Push);
    let mut l = link(&s, tr, we_bind, "PULL", &["recv", "3"]).await;
    for i in 0..3 {
        let m = format!("job-{i}");
        send(&s, msg(&[m.as_bytes(), b""]), "PUSH send").await;
    }
    for i in 0..3 {
        let m = format!("job-{i}");
        peer_got(&mut l.peer, &[m.as_bytes(), b""]).await;
    }
    l.peer.finish().await;
    support::close(&s).await;
}

async fn pull_push(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Pull);
    let args = ["send", "3", "text:job-{i}", "empty:"];
    let l = link(&s, tr, we_bind, "PUSH", &args).await;
    for i in 0..3 {
        let m = format!("job-{i}");
        assert_eq!(
            frames(&recv(&s, "PULL recv").await),
            v(&[m.as_bytes(), b""])
        );
    }
    l.peer.finish().await;
    support::close(&s).await;
}

async fn pair_pair(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Pair);
    let args = ["send", "1", "text:first", "echo", "2"];
    let mut l = link(&s, tr, we_bind, "PAIR", &args).await;
    assert_eq!(frames(&recv(&s, "PAIR recv").await), v(&[b"first"]));
    for m in [v(&[b"hello"]), v(&[b"a", b"", b"b"])] {
        let parts: Vec<&[u8]> = m.iter().map(|f| &f[..]).collect();
        send(&s, msg(&parts), "PAIR send").await;
        peer_got(&mut l.peer, &parts).await;
        assert_eq!(frames(&recv(&s, "PAIR recv").await), m, "echo");
    }
    l.peer.finish().await;
    support::close(&s).await;
}

// ----- Subscription details --------------------------------------------------------------

/// A libzmq XPUB sees our SUB's subscriptions as exactly `\x01topic` (also a binary topic
/// and the empty one) and, when the last reference goes, our unsubscription as exactly
/// `\x00topic`.
async fn sub_subscription_bytes(tr: Transport, we_bind: bool) {
    let s = Socket::new(SocketType::Sub);
    let mut l = link(&s, tr, we_bind, "XPUB", &["subs", "3", "subs", "2"]).await;
    s.subscribe(Bytes::from_static(b"topic")).unwrap();
    s.subscribe(Bytes::from_static(b"\x00\xffbin")).unwrap();
    s.subscribe(Bytes::new()).unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(subscription_line(&l.peer.line().await));
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            (true, b"".to_vec()),
            (true, b"\x00\xffbin".to_vec()),
            (true, b"topic".to_vec()),
        ],
        "subscriptions as libzmq's XPUB received them"
    );
    // Two references: the first unsubscribe sends nothing (the next line libzmq prints
    // is the new subscription `z`), the second cancels.
    s.subscribe(Bytes::from_static(b"topic")).unwrap();
    s.unsubscribe(Bytes::from_static(b"topic")).unwrap();
    s.subscribe(Bytes::from_static(b"z")).unwrap();
    assert_eq!(
        subscription_line(&l.peer.line().await),
        (true, b"z".to_vec()),
        "libzmq's XPUB after subscribe/unsubscribe of a topic held twice, then subscribe z"
    );
    s.unsubscribe(Bytes::from_static(b"topic")).unwrap();
    assert_eq!(
        subscription_line(&l.peer.line().await),
        (false, b"topic".to_vec()),
        "unsubscription as libzmq's XPUB received it"
    );
    l.peer.finish().await;
    support::close(&s).await;
}

#[tokio::test]
async fn sub_subscription_bytes_seen_by_libzmq_xpub_tcp() {
    let _panics = support::check_library_panics();
    sub_subscription_bytes(Transport::Tcp, false).await
}

#[tokio::test]
async fn sub_subscription_bytes_seen_by_libzmq_xpub_ipc_we_bind() {
    let _panics = support::check_library_panics();
    sub_subscription_bytes(Transport::Ipc, true).await
}

/// Our XPUB with XPUB_VERBOSE passes up every subscribe of libzmq's XSUB, duplicates too,
/// and the last unsubscribe as `\x00topic`; then it publishes to the remaining
/// subscription only.
#[tokio::test]
async fn our_verbose_xpub_sees_libzmq_xsub_messages() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::XPub);
    s.set_xpub_verbose(true).unwrap();
    let args = [
        "--subscribe",
        "a",
        "subscribe",
        "a",
        "unsubscribe",
        "a",
        "unsubscribe",
        "a",
        "subscribe",
        "b",
        "recv",
        "1",
    ];
    let mut l = link(&s, Transport::Tcp, true, "XSUB", &args).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(frames(&recv(&s, "XPUB recv").await));
    }
    assert_eq!(
        got,
        vec![
            v(&[b"\x01a"]),
            v(&[b"\x01a"]),
            v(&[b"\x00a"]),
            v(&[b"\x01b"])
        ],
        "verbose XPUB: both subscribes, the last unsubscribe, the new subscribe"
    );
    send(&s, msg(&[b"a-gone"]), "publish").await;
    send(&s, msg(&[b"b-here"]), "publish").await;
    peer_got(&mut l.peer, &[b"b-here"]).await;
    l.peer.finish().await;
    support::close(&s).await;
}

/// Our SUB subscribed to `1` gets exactly libzmq PUB's messages whose text starts with `1`
/// (`1`, `10`-`19`, `100`-`199`, `1000`-`1999`), none missing once joined.
#[tokio::test]
async fn sub_prefix_filter_with_libzmq_pub() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Sub);
    s.subscribe(Bytes::from_static(b"1")).unwrap();
    let args = ["--interval", "2", "send", "2000", "text:{i}"];
    let mut l = link(&s, Transport::Tcp, false, "PUB", &args).await;
    let expected: Vec<usize> = (0..2000)
        .filter(|i| i.to_string().starts_with('1'))
        .collect();
    let number = |m: &aiozmq::Message| -> usize {
        std::str::from_utf8(&m[0])
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("unexpected message {:?}", frames(m)))
    };
    let first = number(&recv(&s, "first filtered message").await);
    let pos = expected
        .iter()
        .position(|&e| e == first)
        .unwrap_or_else(|| panic!("message {first} does not match the prefix 1"));
    let rest = &expected[pos + 1..];
    assert!(
        rest.len() >= 20,
        "joined too late to check anything (first message {first})"
    );
    for &want in &rest[..20] {
        let got = number(&recv(&s, "next filtered message").await);
        assert_eq!(got, want, "filtered stream (prefix 1) from libzmq's PUB");
    }
    l.peer.kill().await;
    support::close(&s).await;
}

/// Our SUB filters by itself too: a publisher that sends everything (a mock PUB that
/// ignores subscriptions) gets only the matching messages through.
#[tokio::test]
async fn sub_filters_messages_from_unfiltering_publisher() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Sub);
    s.subscribe(Bytes::from_static(b"ab")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    connect(&s, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Pub, SocketType::Sub, b"").await;
    for body in [&b"a"[..], b"abc", b"xab", b"", b"ab", b"b"] {
        m.send_message(&msg(&[body, b"tail"])).await;
    }
    m.send_message(&msg(&[b"ab-last"])).await;
    for want in [
        v(&[b"abc", b"tail"]),
        v(&[b"ab", b"tail"]),
        v(&[b"ab-last"]),
    ] {
        assert_eq!(frames(&recv(&s, "filtered").await), want);
    }
    assert!(
        s.try_recv().is_err(),
        "a message that does not match the subscription was delivered"
    );
    support::close(&s).await;
}

// ----- Heartbeats ------------------------------------------------------------------------

/// libzmq pings us every 50 ms and drops the connection after 150 ms without an answer:
/// we answer, so over 600 ms (a dozen intervals) the connection stays up on both sides,
/// and traffic flows afterwards.
async fn libzmq_heartbeats_us(we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    let mut mon = s.monitor(1000);
    let args = [
        "--heartbeat-ivl",
        "50",
        "--heartbeat-timeout",
        "150",
        "--monitor",
        "wait",
        "600",
        "send",
        "1",
        "text:after",
        "recv",
        "1",
        "events",
        "recv",
        "1",
    ];
    let mut l = link(&s, Transport::Tcp, we_bind, "DEALER", &args).await;
    assert_eq!(
        frames(&recv(&s, "message after the heartbeats").await),
        v(&[b"after"])
    );
    send(&s, msg(&[b"reply"]), "reply").await;
    peer_got(&mut l.peer, &[b"reply"]).await;
    let events = l.peer.line().await;
    let counts: Vec<&str> = events
        .strip_prefix("EVENTS")
        .unwrap_or_else(|| panic!("expected EVENTS, got {events:?}"))
        .split_whitespace()
        .collect();
    assert!(
        counts.contains(&"HANDSHAKE_SUCCEEDED=1"),
        "libzmq's connection was not made exactly once: {events}"
    );
    assert!(
        !counts.iter().any(|c| c.starts_with("DISCONNECTED")),
        "libzmq dropped the connection (unanswered heartbeats?): {events}"
    );
    // Our events while the peer still holds the connection open (it waits for `bye`).
    let mut ours = Vec::new();
    while let Some(ev) = mon.try_recv() {
        ours.push(ev.kind);
    }
    assert_eq!(
        ours.iter()
            .filter(|k| **k == EventKind::HandshakeSucceeded)
            .count(),
        1,
        "our side: {ours:?}"
    );
    assert!(
        !ours.contains(&EventKind::Disconnected),
        "our side saw a disconnect: {ours:?}"
    );
    send(&s, msg(&[b"bye"]), "bye").await;
    peer_got(&mut l.peer, &[b"bye"]).await;
    l.peer.finish().await;
    support::close(&s).await;
}

#[tokio::test]
async fn libzmq_heartbeats_us_we_bind() {
    let _panics = support::check_library_panics();
    libzmq_heartbeats_us(true).await
}

#[tokio::test]
async fn libzmq_heartbeats_us_they_bind() {
    let _panics = support::check_library_panics();
    libzmq_heartbeats_us(false).await
}

/// Sends SIGCONT to a stopped process when dropped (also when the test fails).
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = StdCommand::new("kill")
            .args(["-CONT", &self.0.to_string()])
            .status();
    }
}

fn signal(pid: u32, sig: &str) {
    let status = StdCommand::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill {sig} {pid}: {e}"));
    assert!(status.success(), "kill {sig} {pid} failed: {status}");
}

/// We ping a libzmq peer every 50 ms; once it is SIGSTOPped it cannot answer, and we drop
/// the connection (DISCONNECTED) after HEARTBEAT_TIMEOUT.
async fn we_heartbeat_stopped_peer(we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    s.set_heartbeat_ivl(Duration::from_millis(50)).unwrap();
    s.set_heartbeat_timeout(Duration::from_millis(300)).unwrap();
    s.set_heartbeat_ttl(Duration::from_secs(2)).unwrap();
    let mut mon = s.monitor(1000);
    let args = ["pid", "echo", "1", "wait", "30000"];
    let mut l = link(&s, Transport::Tcp, we_bind, "DEALER", &args).await;
    let pid_line = l.peer.line().await;
    let pid: u32 = pid_line
        .strip_prefix("PID ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("expected PID N, got {pid_line:?}"));
    send(&s, msg(&[b"ping"]), "DEALER send").await;
    peer_got(&mut l.peer, &[b"ping"]).await;
    assert_eq!(frames(&recv(&s, "echo").await), v(&[b"ping"]));
    // Heartbeats are answered while the peer runs: a few intervals without a disconnect.
    assert!(
        tokio::time::timeout(
            Duration::from_millis(400),
            wait_event(&mut mon, EventKind::Disconnected)
        )
        .await
        .is_err(),
        "disconnected although the peer answers heartbeats"
    );

    signal(pid, "-STOP");
    let _resume = Resume(pid);
    let started = tokio::time::Instant::now();
    let ev = wait_event(&mut mon, EventKind::Disconnected).await;
    let reason = ev.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("heartbeat"),
        "disconnected for another reason: {ev:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the stopped peer was dropped only after {:?}",
        started.elapsed()
    );
    drop(_resume);
    l.peer.kill().await;
    support::close(&s).await;
}

#[tokio::test]
async fn we_heartbeat_stopped_libzmq_peer_we_bind() {
    let _panics = support::check_library_panics();
    we_heartbeat_stopped_peer(true).await
}

#[tokio::test]
async fn we_heartbeat_stopped_libzmq_peer_they_bind() {
    let _panics = support::check_library_panics();
    we_heartbeat_stopped_peer(false).await
}

// ----- Restart ---------------------------------------------------------------------------

/// A libzmq PUB goes away and another binds the same port: our SUB reconnects, sends its
/// subscription again, and the new publisher's messages flow. The same TCP port is what
/// this tests (a reconnect to a restarted libzmq listener): the port is held by a
/// placeholder for the whole test (see `support::ReservedTcpPort`), so no other process
/// takes it between the two publishers.
#[tokio::test]
async fn sub_resubscribes_to_restarted_libzmq_pub() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Sub);
    s.set_reconnect_ivl(Duration::from_millis(50)).unwrap();
    s.subscribe(Bytes::from_static(b"first-")).unwrap();
    s.subscribe(Bytes::from_static(b"second-")).unwrap();
    let mut mon = s.monitor(1000);
    let port = support::ReservedTcpPort::new();
    let ep = port.endpoint.clone();
    let (mut first, eps) = support::start_python_on_reserved(
        [
            "PUB",
            "--bind",
            &ep,
            "--interval",
            "5",
            "send",
            "2000",
            "text:first-{i}",
        ],
        &port,
    )
    .await;
    assert_eq!(
        eps,
        std::slice::from_ref(&ep),
        "the first publisher's endpoint"
    );
    connect(&s, &ep).await;
    recv_consecutive(&s, "first-", 3).await;
    first.kill().await;
    wait_event(&mut mon, EventKind::Disconnected).await;

    let (mut second, _) = support::start_python_on_reserved(
        [
            "PUB",
            "--bind",
            &ep,
            "--interval",
            "5",
            "send",
            "2000",
            "text:second-{i}",
        ],
        &port,
    )
    .await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded).await;
    // Messages of the first publisher may still be queued: skip them.
    let deadline = tokio::time::Instant::now() + OP_TIMEOUT;
    let first_second = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message from the restarted publisher within {OP_TIMEOUT:?}"
        );
        let m = recv(&s, "message after the restart").await;
        if m[0].starts_with(b"second-") {
            break m;
        }
        assert!(m[0].starts_with(b"first-"), "unexpected {:?}", frames(&m));
    };
    let n: usize = std::str::from_utf8(&first_second[0][7..])
        .unwrap()
        .parse()
        .unwrap();
    for k in 1..4 {
        let want = format!("second-{}", n + k);
        assert_eq!(
            frames(&recv(&s, "after the restart").await),
            v(&[want.as_bytes()])
        );
    }
    assert_eq!(s.counters().reconnects, 1, "{:?}", s.counters());
    second.kill().await;
    support::close(&s).await;
}
