//! Request-reply interop with libzmq (pyzmq running `interop/peer.py`) over TCP, with our
//! socket binding and with the peer binding: REQ/REP, REQ/ROUTER, DEALER/REP, DEALER/ROUTER
//! and DEALER/DEALER; empty frames, 0-byte and 10 MB messages, 50 concurrent peers, a peer
//! restart, and our handshake bytes compared with libzmq's.
//!
//! Needs Python 3 on PATH and access to PyPI the first time (see tests/support/python.rs);
//! without them these tests fail rather than skip.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use aiozmq::{ErrorKind, EventKind, Socket, SocketType};
use bytes::Bytes;
use support::mock::{greeting_rest, MockPeer};
use support::python::{PeerMessage, PyPeer};
use support::{bind_any, connect, frames, msg, pattern, recv, send, OP_TIMEOUT};
use tokio::net::TcpListener;

/// Links `ours` with a pyzmq peer `peer.py THEIR_TYPE ... ARGS`: we bind and the peer
/// connects, or the peer binds (`tcp://127.0.0.1:*`) and we connect to the endpoint it
/// reports. Returns once the peer printed READY.
async fn link(ours: &Socket, we_bind: bool, their_type: &str, args: &[&str]) -> PyPeer {
    if we_bind {
        let ep = bind_any(ours).await;
        let mut a = vec![their_type, "--connect", &ep];
        a.extend_from_slice(args);
        PyPeer::start(a).await.0
    } else {
        let mut a = vec![their_type, "--bind", "tcp://127.0.0.1:*"];
        a.extend_from_slice(args);
        let (peer, eps) = PyPeer::start(a).await;
        connect(ours, &eps[0]).await;
        peer
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

/// Generates `$name_we_bind` and `$name_they_bind` tests from `async fn $name(we_bind)`;
/// with `multi_thread`, on a two-worker runtime (so that CPU-heavy checks in the test task
/// do not keep our socket's connection tasks from running).
macro_rules! both_ways {
    ($scenario:ident => $we_bind:ident, $they_bind:ident) => {
        #[tokio::test]
        async fn $we_bind() {
            let _panics = support::check_library_panics();
            $scenario(true).await
        }
        #[tokio::test]
        async fn $they_bind() {
            let _panics = support::check_library_panics();
            $scenario(false).await
        }
    };
    ($scenario:ident => $we_bind:ident, $they_bind:ident, multi_thread) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $we_bind() {
            let _panics = support::check_library_panics();
            $scenario(true).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $they_bind() {
            let _panics = support::check_library_panics();
            $scenario(false).await
        }
    };
}

// ----- REQ / REP -------------------------------------------------------------------------

async fn our_req_their_rep(we_bind: bool) {
    let s = Socket::new(SocketType::Req);
    let mut peer = link(&s, we_bind, "REP", &["echo", "3"]).await;
    for m in [v(&[b"hello"]), v(&[b"a", b"", b"b", b""]), v(&[b""])] {
        let parts: Vec<&[u8]> = m.iter().map(|f| &f[..]).collect();
        send(&s, msg(&parts), "REQ send").await;
        peer_got(&mut peer, &parts).await;
        assert_eq!(frames(&recv(&s, "REQ recv").await), m, "reply");
    }
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_req_their_rep => req_rep_we_req_we_bind, req_rep_we_req_they_bind);

async fn our_rep_their_req(we_bind: bool) {
    let s = Socket::new(SocketType::Rep);
    let mut peer = link(
        &s,
        we_bind,
        "REQ",
        &["req", "2", "text:q-{i}", "empty:", "text:tail"],
    )
    .await;
    for i in 0..2 {
        let q = format!("q-{i}");
        let got = recv(&s, "REP recv").await;
        assert_eq!(frames(&got), v(&[q.as_bytes(), b"", b"tail"]), "request");
        let r = format!("r-{i}");
        send(&s, msg(&[r.as_bytes(), b""]), "REP send").await;
        peer_got(&mut peer, &[r.as_bytes(), b""]).await;
    }
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_rep_their_req => req_rep_we_rep_we_bind, req_rep_we_rep_they_bind);

// ----- REQ / ROUTER ----------------------------------------------------------------------

async fn our_req_their_router(we_bind: bool) {
    let s = Socket::new(SocketType::Req);
    s.set_routing_id(Bytes::from_static(b"our-req")).unwrap();
    let mut peer = link(&s, we_bind, "ROUTER", &["echo", "2"]).await;
    send(&s, msg(&[b"hello"]), "REQ send").await;
    // The ROUTER sees our routing id and REQ's empty delimiter.
    peer_got(&mut peer, &[b"our-req", b"", b"hello"]).await;
    assert_eq!(frames(&recv(&s, "REQ recv").await), v(&[b"hello"]));
    send(&s, msg(&[b"x", b"", b""]), "REQ send").await;
    peer_got(&mut peer, &[b"our-req", b"", b"x", b"", b""]).await;
    assert_eq!(frames(&recv(&s, "REQ recv").await), v(&[b"x", b"", b""]));
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_req_their_router => req_router_we_req_we_bind, req_router_we_req_they_bind);

async fn our_router_their_req(we_bind: bool) {
    let s = Socket::new(SocketType::Router);
    let mut peer = link(
        &s,
        we_bind,
        "REQ",
        &["--identity", "peer-1", "req", "2", "text:hello-{i}"],
    )
    .await;
    for i in 0..2 {
        let got = recv(&s, "ROUTER recv").await;
        let hello = format!("hello-{i}");
        assert_eq!(frames(&got), v(&[b"peer-1", b"", hello.as_bytes()]));
        let world = format!("world-{i}");
        send(&s, msg(&[b"peer-1", b"", world.as_bytes()]), "ROUTER send").await;
        peer_got(&mut peer, &[world.as_bytes()]).await;
    }
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_router_their_req => req_router_we_router_we_bind, req_router_we_router_they_bind);

// ----- DEALER / REP ----------------------------------------------------------------------

async fn our_dealer_their_rep(we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    let mut peer = link(&s, we_bind, "REP", &["echo", "2"]).await;
    send(&s, msg(&[b"", b"hello"]), "DEALER send").await;
    peer_got(&mut peer, &[b"hello"]).await;
    assert_eq!(frames(&recv(&s, "DEALER recv").await), v(&[b"", b"hello"]));
    // Empty frames in the body survive the REP envelope handling.
    send(&s, msg(&[b"", b"a", b"", b"", b"b"]), "DEALER send").await;
    peer_got(&mut peer, &[b"a", b"", b"", b"b"]).await;
    assert_eq!(
        frames(&recv(&s, "DEALER recv").await),
        v(&[b"", b"a", b"", b"", b"b"])
    );
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_dealer_their_rep => dealer_rep_we_dealer_we_bind, dealer_rep_we_dealer_they_bind);

async fn our_rep_their_dealer(we_bind: bool) {
    let s = Socket::new(SocketType::Rep);
    let mut peer = link(
        &s,
        we_bind,
        "DEALER",
        &["send", "1", "empty:", "text:hello", "empty:", "recv", "1"],
    )
    .await;
    assert_eq!(frames(&recv(&s, "REP recv").await), v(&[b"hello", b""]));
    send(&s, msg(&[b"world", b""]), "REP send").await;
    peer_got(&mut peer, &[b"", b"world", b""]).await;
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_rep_their_dealer => dealer_rep_we_rep_we_bind, dealer_rep_we_rep_they_bind);

// ----- DEALER / ROUTER -------------------------------------------------------------------

async fn our_dealer_their_router(we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    s.set_routing_id(Bytes::from_static(b"our-dealer")).unwrap();
    let mut peer = link(&s, we_bind, "ROUTER", &["echo", "2"]).await;
    send(&s, msg(&[b"hello"]), "DEALER send").await;
    // pyzmq's ROUTER sees our set_routing_id.
    peer_got(&mut peer, &[b"our-dealer", b"hello"]).await;
    assert_eq!(frames(&recv(&s, "DEALER recv").await), v(&[b"hello"]));
    send(&s, msg(&[b"", b"x", b""]), "DEALER send").await;
    peer_got(&mut peer, &[b"our-dealer", b"", b"x", b""]).await;
    assert_eq!(frames(&recv(&s, "DEALER recv").await), v(&[b"", b"x", b""]));
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_dealer_their_router => dealer_router_we_dealer_we_bind, dealer_router_we_dealer_they_bind);

async fn our_router_their_dealer(we_bind: bool) {
    let s = Socket::new(SocketType::Router);
    s.set_router_mandatory(true).unwrap();
    let mut peer = link(
        &s,
        we_bind,
        "DEALER",
        &[
            "--identity",
            "peer-1",
            "send",
            "1",
            "text:hello",
            "recv",
            "2",
        ],
    )
    .await;
    assert_eq!(
        frames(&recv(&s, "ROUTER recv").await),
        v(&[b"peer-1", b"hello"])
    );
    // Addressed by the identity pyzmq set; an unknown id is refused (ROUTER_MANDATORY).
    match tokio::time::timeout(OP_TIMEOUT, s.send(msg(&[b"nobody", b"x"]))).await {
        Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::HostUnreachable, "{e}"),
        Ok(Ok(_)) => panic!("ROUTER_MANDATORY send to an unknown peer succeeded"),
        Err(_) => panic!("ROUTER_MANDATORY send to an unknown peer blocked"),
    }
    send(&s, msg(&[b"peer-1", b"to-peer-1"]), "ROUTER send").await;
    peer_got(&mut peer, &[b"to-peer-1"]).await;
    send(&s, msg(&[b"peer-1", b"", b"a", b""]), "ROUTER send").await;
    peer_got(&mut peer, &[b"", b"a", b""]).await;
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(our_router_their_dealer => dealer_router_we_router_we_bind, dealer_router_we_router_they_bind);

// ----- DEALER / DEALER -------------------------------------------------------------------

async fn dealer_dealer(we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    let mut peer = link(
        &s,
        we_bind,
        "DEALER",
        &["send", "1", "text:first", "empty:", "echo", "4"],
    )
    .await;
    assert_eq!(frames(&recv(&s, "DEALER recv").await), v(&[b"first", b""]));
    let cases = [
        v(&[b"hello"]),
        v(&[b""]),
        v(&[b"", b""]),
        v(&[b"a", b"", b"b", b""]),
    ];
    for m in &cases {
        let parts: Vec<&[u8]> = m.iter().map(|f| &f[..]).collect();
        send(&s, msg(&parts), "DEALER send").await;
        peer_got(&mut peer, &parts).await;
        assert_eq!(&frames(&recv(&s, "DEALER recv").await), m, "echo");
    }
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(dealer_dealer => dealer_dealer_we_bind, dealer_dealer_they_bind);

// ----- Sizes -----------------------------------------------------------------------------

const TEN_MB: usize = 10 * 1024 * 1024;

async fn large_message(we_bind: bool) {
    let s = Socket::new(SocketType::Dealer);
    let size = TEN_MB.to_string();
    let spec = format!("size:{size}");
    let mut peer = link(&s, we_bind, "DEALER", &["send", "1", &spec, "echo", "1"]).await;
    let got = recv(&s, "10 MB from libzmq").await;
    assert_eq!(got.len(), 1);
    assert!(
        got[0][..] == pattern(TEN_MB)[..],
        "10 MB frame from libzmq differs"
    );
    // Ours: a different pattern, so that an echo cannot be confused with theirs.
    let ours: Vec<u8> = (0..TEN_MB).map(|j| (j % 253) as u8 ^ 0x5A).collect();
    let ours = Bytes::from(ours);
    send(&s, aiozmq::Message::from(ours.clone()), "10 MB to libzmq").await;
    let seen = peer.message().await;
    assert_eq!(seen.frames.len(), 1);
    assert!(
        seen.frames[0][..] == ours[..],
        "libzmq received a different 10 MB frame"
    );
    let echo = recv(&s, "10 MB echo").await;
    assert_eq!(echo.len(), 1);
    assert!(echo[0] == ours, "echoed 10 MB frame differs");
    peer.finish().await;
    support::close(&s).await;
}
both_ways!(large_message => large_10mb_message_we_bind, large_10mb_message_they_bind, multi_thread);

// ----- Many peers ------------------------------------------------------------------------

/// 50 pyzmq DEALERs (one process, 50 sockets `peer-0`..`peer-49`) on one of our ROUTERs:
/// every request arrives under its peer's routing id, and every reply reaches that peer.
#[tokio::test]
async fn fifty_pyzmq_dealers_on_our_router() {
    let _panics = support::check_library_panics();
    const N: usize = 50;
    let s = Socket::new(SocketType::Router);
    s.set_router_mandatory(true).unwrap();
    let sockets = N.to_string();
    let mut peer = link(
        &s,
        true,
        "DEALER",
        &[
            "--sockets",
            &sockets,
            "--identity",
            "peer-{k}",
            "send",
            "1",
            "text:req-{k}",
            "recv",
            "1",
        ],
    )
    .await;
    let mut seen = BTreeMap::new();
    for _ in 0..N {
        let m = frames(&recv(&s, "ROUTER recv from 50 peers").await);
        assert_eq!(m.len(), 2, "{m:?}");
        let id = String::from_utf8(m[0].clone()).expect("utf-8 id");
        let k: usize = id
            .strip_prefix("peer-")
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("unexpected routing id {id:?}"));
        assert_eq!(m[1], format!("req-{k}").into_bytes(), "payload from {id}");
        assert!(seen.insert(k, ()).is_none(), "two messages from {id}");
    }
    assert_eq!(seen.len(), N);
    // Reply in reverse order of the ids.
    for k in (0..N).rev() {
        let id = format!("peer-{k}");
        let rep = format!("rep-{k}");
        send(&s, msg(&[id.as_bytes(), rep.as_bytes()]), "ROUTER reply").await;
    }
    let mut replies = BTreeMap::new();
    for m in peer.messages(N).await {
        assert_eq!(m.frames.len(), 1, "{m:?}");
        assert_eq!(
            m.frames[0],
            format!("rep-{}", m.socket).into_bytes(),
            "{m:?}"
        );
        assert!(
            replies.insert(m.socket, ()).is_none(),
            "two replies to {}",
            m.socket
        );
    }
    assert_eq!(replies.len(), N);
    peer.finish().await;
    support::close(&s).await;
}

// ----- Restart ---------------------------------------------------------------------------

/// Our DEALER is connected to a pyzmq ROUTER that exits; messages sent while it is gone are
/// queued and, with later ones, reach a new ROUTER started on the same port. The same TCP
/// port is what this tests (a reconnect to a restarted libzmq listener): the port is held
/// by a placeholder for the whole test (see `support::ReservedTcpPort`), so no other
/// process takes it between the two ROUTERs.
#[tokio::test]
async fn dealer_reconnects_to_restarted_router() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    s.set_routing_id(Bytes::from_static(b"our-dealer")).unwrap();
    s.set_reconnect_ivl(Duration::from_millis(50)).unwrap();
    let mut monitor = s.monitor(1000);
    let port = support::ReservedTcpPort::new();
    let ep = port.endpoint.clone();
    let (mut first, eps) =
        support::start_python_on_reserved(["ROUTER", "--bind", &ep, "echo", "1"], &port).await;
    assert_eq!(
        eps,
        std::slice::from_ref(&ep),
        "the first ROUTER's endpoint"
    );
    connect(&s, &ep).await;
    send(&s, msg(&[b"before"]), "DEALER send before the restart").await;
    peer_got(&mut first, &[b"our-dealer", b"before"]).await;
    assert_eq!(
        frames(&recv(&s, "echo before the restart").await),
        v(&[b"before"])
    );
    // The first ROUTER closes its socket and exits; wait until our side saw the connection
    // go (a message handed to a connection that is already dead may be lost, in libzmq too).
    first.finish().await;
    let deadline = tokio::time::Instant::now() + OP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, monitor.recv()).await {
            Ok(Some(ev)) if ev.kind == EventKind::Disconnected => break,
            Ok(Some(_)) => {}
            Ok(None) => panic!("monitor stopped before DISCONNECTED"),
            Err(_) => panic!("no DISCONNECTED event within {OP_TIMEOUT:?} after the peer exited"),
        }
    }

    for i in 0..3 {
        let q = format!("queued-{i}");
        send(
            &s,
            msg(&[q.as_bytes()]),
            "DEALER send while the peer is down",
        )
        .await;
    }
    let (mut second, _) =
        support::start_python_on_reserved(["ROUTER", "--bind", &ep, "recv", "4"], &port).await;
    send(
        &s,
        msg(&[b"after-restart"]),
        "DEALER send after the restart",
    )
    .await;
    for i in 0..3 {
        let q = format!("queued-{i}");
        peer_got(&mut second, &[b"our-dealer", q.as_bytes()]).await;
    }
    peer_got(&mut second, &[b"our-dealer", b"after-restart"]).await;
    second.finish().await;
    support::close(&s).await;
}

// ----- Handshake bytes -------------------------------------------------------------------

/// What one side sent during a staged handshake with the mock.
#[derive(Debug, PartialEq)]
struct Transcript {
    signature: Vec<u8>,
    major: Vec<u8>,
    rest: Vec<u8>,
    ready: Vec<u8>,
}

async fn transcript(m: &mut MockPeer, mock_type: SocketType) -> Transcript {
    let signature = m.read_bytes(10).await;
    m.send_signature().await;
    let major = m.read_bytes(1).await;
    m.send_bytes(&[3]).await;
    let rest = m.read_bytes(53).await;
    m.send_bytes(&greeting_rest(1, "NULL", false)).await;
    m.send_ready(mock_type, Some(b"mock")).await;
    let mut ready = m.read_bytes(2).await;
    assert_eq!(
        ready[0], 0x04,
        "READY should be a short command frame: {ready:02x?}"
    );
    let body = m.read_bytes(ready[1] as usize).await;
    ready.extend_from_slice(&body);
    Transcript {
        signature,
        major,
        rest,
        ready,
    }
}

const HANDSHAKE_CASES: [(SocketType, &str, SocketType); 5] = [
    (SocketType::Dealer, "peer-1", SocketType::Router),
    (SocketType::Dealer, "", SocketType::Dealer),
    (SocketType::Req, "", SocketType::Rep),
    (SocketType::Router, "rtr", SocketType::Dealer),
    (SocketType::Rep, "", SocketType::Req),
];

/// Our greeting and READY next to libzmq's for the same socket type and routing id.
async fn both_transcripts(
    ty: SocketType,
    id: &str,
    mock_type: SocketType,
) -> (Transcript, Transcript) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());

    let mut args = vec![ty.as_str(), "--connect", &ep, "--timeout", "30"];
    if !id.is_empty() {
        args.extend_from_slice(&["--identity", id]);
    }
    // Any action that keeps the socket open; the peer is killed when dropped.
    if ty == SocketType::Req {
        args.extend_from_slice(&["req", "1", "text:x"]);
    } else {
        args.extend_from_slice(&["recv", "1"]);
    }
    let (_libzmq, _) = PyPeer::start(args).await;
    let mut m = MockPeer::accept(&listener).await;
    let theirs = transcript(&mut m, mock_type).await;

    let s = Socket::new(ty);
    if !id.is_empty() {
        s.set_routing_id(Bytes::copy_from_slice(id.as_bytes()))
            .unwrap();
    }
    connect(&s, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    let ours = transcript(&mut m, mock_type).await;
    // The mock never reads: close would wait LINGER for its EOF.
    drop(m);
    support::close(&s).await;
    (ours, theirs)
}

/// Version, mechanism, filler and READY metadata are byte for byte libzmq's.
#[tokio::test]
async fn greeting_and_ready_bytes_match_libzmq() {
    let _panics = support::check_library_panics();
    for (ty, id, mock_type) in HANDSHAKE_CASES {
        let (ours, theirs) = both_transcripts(ty, id, mock_type).await;
        let case = format!("{ty} with routing id {id:?}");
        assert_eq!(ours.major, theirs.major, "{case}: major version byte");
        assert_eq!(
            ours.rest, theirs.rest,
            "{case}: greeting after the major version"
        );
        assert_eq!(
            ours.ready,
            theirs.ready,
            "{case}: READY\n  ours:   {:?}\n  libzmq: {:?}",
            String::from_utf8_lossy(&ours.ready),
            String::from_utf8_lossy(&theirs.ready)
        );
    }
}

/// The 10-byte signature is libzmq's too: its padding carries routing-id length + 1.
#[tokio::test]
async fn signature_bytes_match_libzmq() {
    let _panics = support::check_library_panics();
    let mut mismatches = Vec::new();
    for (ty, id, mock_type) in HANDSHAKE_CASES {
        let (ours, theirs) = both_transcripts(ty, id, mock_type).await;
        if ours.signature != theirs.signature {
            mismatches.push(format!(
                "{ty} with routing id {id:?}: ours {:02x?}, libzmq {:02x?}",
                ours.signature, theirs.signature
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "signature differs from libzmq's:\n{}",
        mismatches.join("\n")
    );
}
