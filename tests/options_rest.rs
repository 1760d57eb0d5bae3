//! The last libzmq 4.3.5 options a user may set: RCVTIMEO/SNDTIMEO on the async socket,
//! serving a listener made elsewhere (`bind_listener`, ZMQ_USE_FD's safe form; USE_FD by
//! number for socket activation is in `use_fd.rs`),
//! ZAP_ENFORCE_DOMAIN, and the accepted-without-effect LOOPBACK_FASTPATH and
//! IN/OUT_BATCH_SIZE, against libzmq (pyzmq running `interop/peer.py`) where libzmq can be
//! the other end. (BACKLOG for IPC and BUSY_POLL are checked on the kernel sockets in
//! `src/transport`'s unit tests.)

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiozmq::security::zap::{ZapReply, ZapRequest};
use aiozmq::socket::{opt, OptValue};
use aiozmq::{ErrorKind, EventKind, Socket, SocketType};
use support::python::PyPeer;
use support::{close, msg, recv, send, wait_event, within};

/// How long a positive RCVTIMEO/SNDTIMEO is in these tests.
const TIMEO: i32 = 150;

/// Asserts that `took` is at least the timeout and not far beyond it.
fn assert_took_the_timeout(took: Duration, what: &str) {
    assert!(
        took >= Duration::from_millis(TIMEO as u64) && took < Duration::from_secs(3),
        "{what} gave up after {took:?}, not after {TIMEO} ms"
    );
}

/// RCVTIMEO on the async socket, as libzmq: 0 fails at once with EAGAIN, 150 ms fails
/// with EAGAIN after 150 ms, and -1 waits until a message (from a libzmq PUSH) comes.
#[tokio::test]
async fn rcvtimeo_zero_positive_and_forever_on_the_async_socket() {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    assert_eq!(pull.rcvtimeo(), -1);
    let ep = within("bind", pull.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap();

    pull.setsockopt(opt::RCVTIMEO, 0).unwrap();
    let start = Instant::now();
    let e = within("recv", pull.recv()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Again, "{e}");
    assert!(start.elapsed() < Duration::from_millis(TIMEO as u64));

    pull.set_rcvtimeo(TIMEO).unwrap();
    assert_eq!(pull.getsockopt(opt::RCVTIMEO).unwrap(), OptValue::Int(150));
    let start = Instant::now();
    let e = within("recv", pull.recv()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Again, "{e}");
    assert_took_the_timeout(start.elapsed(), "recv");

    pull.setsockopt(opt::RCVTIMEO, -1).unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(3 * TIMEO as u64), pull.recv())
            .await
            .is_err(),
        "with RCVTIMEO -1, recv still waits after three times the old timeout"
    );
    let (peer, _) = PyPeer::start(["PUSH", "--connect", &ep, "send", "1", "text:late"]).await;
    assert_eq!(recv(&pull, "recv").await, msg(&[b"late"]));
    peer.finish().await;
    close(&pull).await;
}

/// SNDTIMEO on the async socket: a PUSH without a peer fails at once with 0 and after
/// 150 ms with a positive timeout (EAGAIN both); with -1 it waits for a libzmq PULL, which
/// gets the message.
#[tokio::test]
async fn sndtimeo_zero_positive_and_forever_on_the_async_socket() {
    let _panics = support::check_library_panics();
    let push = Socket::new(SocketType::Push);
    assert_eq!(push.sndtimeo(), -1);
    push.setsockopt(opt::SNDTIMEO, 0).unwrap();
    let start = Instant::now();
    let e = within("send", push.send(msg(&[b"x"]))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Again, "{e}");
    assert!(start.elapsed() < Duration::from_millis(TIMEO as u64));

    push.set_sndtimeo(TIMEO).unwrap();
    assert_eq!(push.getsockopt(opt::SNDTIMEO).unwrap(), OptValue::Int(150));
    let start = Instant::now();
    let e = within("send", push.send(msg(&[b"x"]))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Again, "{e}");
    assert_took_the_timeout(start.elapsed(), "send");

    push.set_sndtimeo(-1).unwrap();
    let (mut peer, eps) = PyPeer::start(["PULL", "--bind", "tcp://127.0.0.1:*", "recv", "1"]).await;
    let (sent, ()) = tokio::join!(within("send", push.send(msg(&[b"waited"]))), async {
        within("connect", push.connect(&eps[0])).await.unwrap();
    });
    sent.unwrap();
    assert_eq!(peer.message().await.frames, vec![b"waited".to_vec()]);
    peer.finish().await;
    close(&push).await;
}

/// A REQ's `recv` cut short by RCVTIMEO leaves the socket waiting for the same reply:
/// the reply sent afterwards is received (the timeout is cancel-safe).
#[tokio::test]
async fn rcvtimeo_on_a_req_keeps_the_pending_reply() {
    let _panics = support::check_library_panics();
    let rep = Socket::new(SocketType::Rep);
    let ep = within("bind", rep.bind("tcp://127.0.0.1:*")).await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.set_rcvtimeo(TIMEO).unwrap();
    within("connect", req.connect(&ep)).await.unwrap();
    send(&req, msg(&[b"question"]), "request").await;
    assert_eq!(recv(&rep, "request").await, msg(&[b"question"]));
    let start = Instant::now();
    let e = within("recv", req.recv()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Again, "{e}");
    assert_took_the_timeout(start.elapsed(), "recv");
    send(&rep, msg(&[b"answer"]), "reply").await;
    assert_eq!(recv(&req, "reply").await, msg(&[b"answer"]));
    close(&req).await;
    close(&rep).await;
}

/// `bind_listener` serves a TCP listener made by the application, as a bind would: the
/// endpoint is its address (also LAST_ENDPOINT), a libzmq REQ gets its reply, the monitor
/// reports LISTENING and CLOSED, and after unbind the port is free.
#[tokio::test]
async fn bind_listener_serves_an_owned_tcp_listener_to_libzmq() {
    let _panics = support::check_library_panics();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let rep = Socket::new(SocketType::Rep);
    let mut mon = rep.monitor(64);
    let ep = within("bind_listener", rep.bind_listener(listener))
        .await
        .unwrap();
    assert_eq!(ep, format!("tcp://127.0.0.1:{port}"));
    assert_eq!(rep.last_endpoint(), ep);
    assert_eq!(rep.bindings(), vec![ep.clone()]);
    wait_event(&mut mon, EventKind::Listening, "listening").await;
    let (mut peer, _) = PyPeer::start(["REQ", "--connect", &ep, "req", "1", "text:hello"]).await;
    assert_eq!(recv(&rep, "request").await, msg(&[b"hello"]));
    send(&rep, msg(&[b"world"]), "reply").await;
    assert_eq!(peer.message().await.frames, vec![b"world".to_vec()]);
    peer.finish().await;
    within("unbind", rep.unbind(&ep)).await.unwrap();
    wait_event(&mut mon, EventKind::Closed, "closed").await;
    assert!(rep.bindings().is_empty());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free after unbind");
    close(&rep).await;
}

/// `bind_listener` serves a Unix listener made by the application: a libzmq REQ reaches
/// it over `ipc://`; unbind leaves the socket file to its creator, as libzmq does with
/// ZMQ_USE_FD.
#[cfg(unix)]
#[tokio::test]
async fn bind_listener_serves_an_owned_unix_listener_to_libzmq() {
    let _panics = support::check_library_panics();
    let ipc = support::UnboundIpc::new("use-fd");
    let path = ipc.endpoint.strip_prefix("ipc://").unwrap().to_string();
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let rep = Socket::new(SocketType::Rep);
    let ep = within("bind_listener", rep.bind_listener(listener))
        .await
        .unwrap();
    assert_eq!(ep, ipc.endpoint);
    let (mut peer, _) = PyPeer::start(["REQ", "--connect", &ep, "req", "1", "text:over ipc"]).await;
    assert_eq!(recv(&rep, "request").await, msg(&[b"over ipc"]));
    send(&rep, msg(&[b"ok"]), "reply").await;
    assert_eq!(peer.message().await.frames, vec![b"ok".to_vec()]);
    peer.finish().await;
    within("unbind", rep.unbind(&ep)).await.unwrap();
    assert!(
        std::path::Path::new(&path).exists(),
        "the creator's file stays"
    );
    close(&rep).await;
}

/// ZMQ_USE_FD by number: -1 (libzmq's default, "no descriptor") is accepted and read
/// back; in a process that was not socket-activated (see `tests/use_fd.rs` for one that
/// is), a descriptor number is refused with EINVAL pointing to `bind_listener`, since safe
/// Rust cannot adopt an arbitrary descriptor.
#[tokio::test]
async fn use_fd_by_number_is_refused_with_the_safe_alternative() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Rep);
    assert_eq!(s.getsockopt(opt::USE_FD).unwrap(), OptValue::Int(-1));
    s.setsockopt(opt::USE_FD, -1).unwrap();
    let e = s.setsockopt(opt::USE_FD, 3).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("bind_listener"), "{e}");
    close(&s).await;
}

/// A DEALER server with the NULL mechanism and ZAP domain "TEST" but no ZAP handler; a
/// libzmq DEALER sends it one message. Returns whether the message arrived, or the
/// HANDSHAKE_FAILED_NO_DETAIL event's errno.
async fn null_domain_without_handler(enforce: bool) -> Result<(), u32> {
    let server = Socket::new(SocketType::Dealer);
    server.set_zap_domain("TEST".to_string()).unwrap();
    server
        .setsockopt(opt::ZAP_ENFORCE_DOMAIN, i32::from(enforce))
        .unwrap();
    let mut mon = server.monitor(64);
    let ep = within("bind", server.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap();
    let (mut peer, _) = PyPeer::start([
        "DEALER",
        "--connect",
        &ep,
        "--timeout",
        "3",
        "send",
        "1",
        "text:hi",
    ])
    .await;
    let r = if enforce {
        let ev = wait_event(&mut mon, EventKind::HandshakeFailedNoDetail, "refused").await;
        peer.kill().await;
        Err(ev.value)
    } else {
        assert_eq!(recv(&server, "message").await, msg(&[b"hi"]));
        peer.finish().await;
        Ok(())
    };
    close(&server).await;
    r
}

/// libzmq 4.3.5 (null_mechanism.cpp, test_security_no_zap_handler): NULL with a ZAP
/// domain and no handler accepts the libzmq peer unchecked when ZAP_ENFORCE_DOMAIN is
/// off, and refuses it (HANDSHAKE_FAILED_NO_DETAIL, EFAULT) when it is on.
#[tokio::test]
async fn zap_enforce_domain_null_with_a_domain_and_no_handler_refuses_only_when_on() {
    let _panics = support::check_library_panics();
    assert_eq!(null_domain_without_handler(false).await, Ok(()));
    assert_eq!(null_domain_without_handler(true).await, Err(14));
}

/// libzmq 4.3.5 (zap_required: a non-empty domain): NULL without a ZAP domain never
/// asks ZAP, so ZAP_ENFORCE_DOMAIN changes nothing, handler or not.
#[tokio::test]
async fn zap_enforce_domain_null_without_a_domain_skips_zap() {
    let _panics = support::check_library_panics();
    let asked = Arc::new(AtomicUsize::new(0));
    let server = Socket::new(SocketType::Pull);
    server.set_zap_enforce_domain(true).unwrap();
    let seen = asked.clone();
    server.set_zap_handler(move |_: &ZapRequest| {
        seen.fetch_add(1, Ordering::SeqCst);
        ZapReply::deny("no")
    });
    let ep = within("bind", server.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap();
    let (peer, _) = PyPeer::start(["PUSH", "--connect", &ep, "send", "1", "text:free"]).await;
    assert_eq!(recv(&server, "message").await, msg(&[b"free"]));
    peer.finish().await;
    assert_eq!(asked.load(Ordering::SeqCst), 0, "the handler was asked");
    close(&server).await;
}

/// A CURVE PULL server (ZAP domain `domain`, a refusing handler when `handler`) and a
/// CURVE PUSH client of ours sending one message: whether it arrived, how often the
/// handler was asked, and the server's handshake failure event, if any.
async fn curve_case(
    enforce: bool,
    domain: &str,
    handler: bool,
) -> (bool, usize, Option<(EventKind, u32)>) {
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let (client_public, client_secret) = aiozmq::curve_keypair();
    let server = Socket::new(SocketType::Pull);
    server.set_curve_server(true).unwrap();
    server.set_curve_secretkey(&server_secret).unwrap();
    server.set_curve_publickey(&server_public).unwrap();
    server.set_zap_domain(domain.to_string()).unwrap();
    server.set_zap_enforce_domain(enforce).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    if handler {
        let seen = asked.clone();
        server.set_zap_handler(move |_: &ZapRequest| {
            seen.fetch_add(1, Ordering::SeqCst);
            ZapReply::deny("refused by the handler")
        });
    }
    let mut mon = server.monitor(64);
    let ep = within("bind", server.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap();
    let client = Socket::new(SocketType::Push);
    // A refused client keeps its message queued: close drops it at once.
    client.set_linger(Duration::ZERO).unwrap();
    client.set_curve_serverkey(&server_public).unwrap();
    client.set_curve_publickey(&client_public).unwrap();
    client.set_curve_secretkey(&client_secret).unwrap();
    within("connect", client.connect(&ep)).await.unwrap();
    client.try_send(msg(&[b"secret"])).unwrap();
    let outcome = async {
        loop {
            match mon.recv().await {
                Some(ev) if ev.kind == EventKind::HandshakeSucceeded => return None,
                Some(ev)
                    if matches!(
                        ev.kind,
                        EventKind::HandshakeFailedNoDetail | EventKind::HandshakeFailedAuth
                    ) =>
                {
                    return Some((ev.kind, ev.value))
                }
                Some(_) => {}
                None => panic!("the monitor ended"),
            }
        }
    };
    let failed = within("handshake outcome", outcome).await;
    let arrived = if failed.is_none() {
        assert_eq!(recv(&server, "message").await, msg(&[b"secret"]));
        true
    } else {
        false
    };
    close(&client).await;
    close(&server).await;
    (arrived, asked.load(Ordering::SeqCst), failed)
}

/// libzmq 4.3.5 (curve_server.cpp: ZAP is asked when a domain is set or the option is
/// off): a CURVE server without a domain asks its handler unless ZAP_ENFORCE_DOMAIN is
/// on, which skips ZAP altogether (encryption without authentication).
#[tokio::test]
async fn zap_enforce_domain_curve_without_a_domain_skips_the_handler() {
    let _panics = support::check_library_panics();
    let (arrived, asked, failed) = curve_case(false, "", true).await;
    assert!(!arrived);
    // Asked at least once (the client retries until it is closed).
    assert!(asked >= 1, "the handler was asked {asked} times");
    assert_eq!(failed, Some((EventKind::HandshakeFailedAuth, 400)));
    assert_eq!(curve_case(true, "", true).await, (true, 0, None));
}

/// libzmq 4.3.5 (curve_server.cpp): a CURVE server with a domain and no handler accepts
/// the client unchecked when ZAP_ENFORCE_DOMAIN is off, and refuses it
/// (HANDSHAKE_FAILED_NO_DETAIL, EFAULT) when it is on.
#[tokio::test]
async fn zap_enforce_domain_curve_with_a_domain_and_no_handler_refuses_only_when_on() {
    let _panics = support::check_library_panics();
    assert_eq!(curve_case(false, "global", false).await, (true, 0, None));
    let (arrived, _, failed) = curve_case(true, "global", false).await;
    assert!(!arrived);
    assert_eq!(failed, Some((EventKind::HandshakeFailedNoDetail, 14)));
}

/// The numbers, defaults, values and refusals of these options, as libzmq 4.3.5's
/// options.cpp: ZAP_ENFORCE_DOMAIN and LOOPBACK_FASTPATH are relaxed flags (non-zero is
/// on), the batch sizes positive (default 8192), BUSY_POLL any integer, the timeouts -1 or
/// more.
#[tokio::test]
async fn the_options_by_number() {
    let _panics = support::check_library_panics();
    assert_eq!(
        [
            opt::RCVTIMEO,
            opt::SNDTIMEO,
            opt::USE_FD,
            opt::ZAP_ENFORCE_DOMAIN,
            opt::LOOPBACK_FASTPATH,
            opt::IN_BATCH_SIZE,
            opt::OUT_BATCH_SIZE,
            opt::BUSY_POLL
        ],
        [27, 28, 89, 93, 94, 101, 102, 113]
    );
    let s = Socket::new(SocketType::Dealer);
    let int = |o| s.getsockopt(o).unwrap().as_int().unwrap();
    assert_eq!(
        [
            opt::RCVTIMEO,
            opt::SNDTIMEO,
            opt::ZAP_ENFORCE_DOMAIN,
            opt::LOOPBACK_FASTPATH,
            opt::IN_BATCH_SIZE,
            opt::OUT_BATCH_SIZE,
            opt::BUSY_POLL
        ]
        .map(int),
        [-1, -1, 0, 0, 8192, 8192, 0]
    );
    s.setsockopt(opt::ZAP_ENFORCE_DOMAIN, 5).unwrap();
    assert!(s.zap_enforce_domain());
    assert_eq!(int(opt::ZAP_ENFORCE_DOMAIN), 1);
    s.setsockopt(opt::LOOPBACK_FASTPATH, 2).unwrap();
    assert!(s.loopback_fastpath());
    for (o, v) in [
        (opt::IN_BATCH_SIZE, 65536),
        (opt::OUT_BATCH_SIZE, 1024),
        (opt::BUSY_POLL, 50),
        (opt::RCVTIMEO, 0),
        (opt::SNDTIMEO, 2500),
    ] {
        s.setsockopt(o, v).unwrap();
        assert_eq!(int(o), v, "option {o}");
    }
    assert_eq!((s.in_batch_size(), s.out_batch_size()), (65536, 1024));
    assert_eq!((s.busy_poll(), s.rcvtimeo(), s.sndtimeo()), (50, 0, 2500));
    let einval = |r: aiozmq::Result<()>| assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    einval(s.setsockopt(opt::IN_BATCH_SIZE, 0));
    einval(s.setsockopt(opt::OUT_BATCH_SIZE, -1));
    einval(s.setsockopt(opt::RCVTIMEO, -2));
    einval(s.setsockopt(opt::SNDTIMEO, -2));
    close(&s).await;
}

/// A blocking socket's RCVTIMEO/SNDTIMEO are the same options as the async socket's:
/// set by number, read by the typed getter and back.
#[test]
fn blocking_timeouts_are_the_same_options() {
    let _panics = support::check_library_panics();
    let b = aiozmq::blocking::Socket::new(SocketType::Pull);
    b.setsockopt(opt::RCVTIMEO, 0).unwrap();
    assert_eq!(b.rcvtimeo(), 0);
    assert_eq!(b.recv().unwrap_err().kind(), ErrorKind::Again);
    b.set_sndtimeo(40).unwrap();
    assert_eq!(b.getsockopt(opt::SNDTIMEO).unwrap(), OptValue::Int(40));
    b.close().unwrap();
}
