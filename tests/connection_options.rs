//! The connection options of libzmq 4.3.5: IPV6 (both ways with libzmq on `::1`),
//! RECONNECT_STOP, CONNECT_TIMEOUT, BACKLOG, TOS, PRIORITY, BINDTODEVICE, TCP_MAXRT and the
//! `tcp://source;destination` form, through the typed setters and libzmq's numbers.
//!
//! What a socket option does to the kernel socket itself (TOS, SO_PRIORITY,
//! TCP_USER_TIMEOUT, the source address, dual-stack binding) is checked on the sockets in
//! `src/transport`'s unit tests; here are the socket-level behaviours.

mod support;

use std::time::{Duration, Instant};

use aiozmq::socket::{opt, OptValue};
use aiozmq::{ErrorKind, EventKind, Socket, SocketType};
use support::python::PyPeer;
use support::{close, msg, recv, send, wait_event, within};

/// Whether the IPv6 loopback can be used here; a machine without it fails these tests
/// unless `AIOZMQ_TEST_NO_IPV6=1` says so (then the IPv6 cases are left out loudly).
fn ipv6_loopback() -> bool {
    match std::net::TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) if std::env::var_os("AIOZMQ_TEST_NO_IPV6").is_some() => {
            eprintln!("IPv6 cases left out (AIOZMQ_TEST_NO_IPV6): {e}");
            false
        }
        Err(e) => panic!("cannot bind [::1] ({e}); set AIOZMQ_TEST_NO_IPV6=1 to leave IPv6 out"),
    }
}

/// Our REP with ZMQ_IPV6 binds `tcp://*` on both stacks: libzmq REQs reach it over IPv6
/// and over IPv4 on the same port.
#[tokio::test]
async fn ipv6_our_wildcard_bind_serves_libzmq_over_both_stacks() {
    let _panics = support::check_library_panics();
    if !ipv6_loopback() {
        return;
    }
    let rep = Socket::new(SocketType::Rep);
    rep.set_ipv6(true).unwrap();
    let bound = within("bind", rep.bind("tcp://*:*")).await.unwrap();
    let port = bound.rsplit(':').next().unwrap().to_string();
    assert!(bound.starts_with("tcp://[::]:"), "{bound}");
    for host in ["[::1]", "127.0.0.1"] {
        let ep = format!("tcp://{host}:{port}");
        let (mut peer, _) = PyPeer::start([
            "REQ",
            "--sockopt",
            "IPV6=1",
            "--connect",
            &ep,
            "req",
            "1",
            &format!("text:over {host}"),
        ])
        .await;
        let got = recv(&rep, "request").await;
        assert_eq!(got, msg(&[format!("over {host}").as_bytes()]));
        send(&rep, msg(&[b"answer"]), "reply").await;
        let reply = peer.message().await;
        assert_eq!(reply.frames, vec![b"answer".to_vec()], "{host}");
        peer.finish().await;
    }
    close(&rep).await;
}

/// A libzmq REP with ZMQ_IPV6 bound to `tcp://*`; our REQ reaches it on `[::1]`.
#[tokio::test]
async fn ipv6_we_connect_to_libzmq_on_the_ipv6_loopback() {
    let _panics = support::check_library_panics();
    if !ipv6_loopback() {
        return;
    }
    let (mut peer, eps) = PyPeer::start([
        "REP",
        "--sockopt",
        "IPV6=1",
        "--bind",
        "tcp://*:0",
        "echo",
        "1",
    ])
    .await;
    let port = eps[0].rsplit(':').next().unwrap().to_string();
    let req = Socket::new(SocketType::Req);
    req.setsockopt(opt::IPV6, 1).unwrap();
    within("connect", req.connect(&format!("tcp://[::1]:{port}")))
        .await
        .unwrap();
    send(&req, msg(&[b"via ::1"]), "request").await;
    assert_eq!(recv(&req, "reply").await, msg(&[b"via ::1"]));
    assert_eq!(peer.message().await.frames, vec![b"via ::1".to_vec()]);
    peer.finish().await;
    close(&req).await;
}

/// Counts `kind` events until `window` has passed.
async fn count_events(mon: &mut aiozmq::Monitor, kind: EventKind, window: Duration) -> usize {
    let end = tokio::time::Instant::now() + window;
    let mut n = 0;
    while let Ok(Some(ev)) = tokio::time::timeout_at(end, mon.recv()).await {
        if ev.kind == kind {
            n += 1;
        }
    }
    n
}

/// RECONNECT_STOP_CONN_REFUSED: a refused connect is not retried; without the flag it is
/// retried every RECONNECT_IVL (the control case, over the same window).
#[tokio::test]
async fn reconnect_stop_conn_refused_ends_the_connect() {
    let _panics = support::check_library_panics();
    let (_hold, refused) = support::refused_tcp_endpoint();
    let mut counts = Vec::new();
    for stop in [true, false] {
        let s = Socket::new(SocketType::Dealer);
        s.set_reconnect_ivl(Duration::from_millis(10)).unwrap();
        if stop {
            s.setsockopt(opt::RECONNECT_STOP, opt::RECONNECT_STOP_CONN_REFUSED)
                .unwrap();
        }
        let mut mon = s.monitor(1024);
        within("connect", s.connect(&refused)).await.unwrap();
        let first = wait_event(&mut mon, EventKind::ConnectDelayed, "refused").await;
        assert_eq!(first.value, 111, "ECONNREFUSED: {first:?}");
        counts.push(
            count_events(
                &mut mon,
                EventKind::ConnectRetried,
                Duration::from_millis(300),
            )
            .await,
        );
        close(&s).await;
    }
    assert_eq!(counts[0], 0, "with RECONNECT_STOP_CONN_REFUSED: no retry");
    assert!(
        counts[1] >= 3,
        "without it: retried every 10 ms, saw {}",
        counts[1]
    );
}

/// RECONNECT_STOP_HANDSHAKE_FAILED: a peer that is not ZeroMQ (it answers the greeting
/// with HTTP) is connected to once; without the flag the socket keeps coming back.
#[tokio::test]
async fn reconnect_stop_handshake_failed_connects_once() {
    let _panics = support::check_library_panics();
    for stop in [true, false] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ep = format!("tcp://{}", listener.local_addr().unwrap());
        let s = Socket::new(SocketType::Dealer);
        s.set_reconnect_ivl(Duration::from_millis(10)).unwrap();
        if stop {
            s.set_reconnect_stop(opt::RECONNECT_STOP_HANDSHAKE_FAILED)
                .unwrap();
        }
        within("connect", s.connect(&ep)).await.unwrap();
        let accepts = async {
            let mut n = 0usize;
            let end = tokio::time::Instant::now() + Duration::from_millis(400);
            while let Ok(Ok((mut c, _))) = tokio::time::timeout_at(end, listener.accept()).await {
                use tokio::io::AsyncWriteExt;
                n += 1;
                let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
            n
        };
        let n = accepts.await;
        if stop {
            assert_eq!(n, 1, "with RECONNECT_STOP_HANDSHAKE_FAILED: one connection");
        } else {
            assert!(n >= 3, "without it: reconnected every 10 ms, saw {n}");
        }
        close(&s).await;
    }
}

/// CONNECT_TIMEOUT: a connect to a listener whose accept queue is full (the kernel drops
/// the SYN, so the connect would wait for the system's retransmissions) fails after the
/// timeout with ETIMEDOUT and is retried.
#[tokio::test]
async fn connect_timeout_bounds_a_hanging_connect() {
    let _panics = support::check_library_panics();
    // A listener with a backlog of 0 that never accepts: a few connects fill its queue.
    let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    full.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    full.listen(0).unwrap();
    let addr = full.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    let s = Socket::new(SocketType::Dealer);
    s.set_connect_timeout(Duration::from_millis(200)).unwrap();
    assert_eq!(
        s.getsockopt(opt::CONNECT_TIMEOUT).unwrap(),
        OptValue::Int(200)
    );
    let mut mon = s.monitor(64);
    let start = Instant::now();
    within("connect", s.connect(&format!("tcp://{addr}")))
        .await
        .unwrap();
    let ev = wait_event(&mut mon, EventKind::ConnectDelayed, "timed-out connect").await;
    let took = start.elapsed();
    assert_eq!(ev.value, 110, "ETIMEDOUT: {ev:?}");
    assert!(
        ev.reason
            .as_deref()
            .unwrap_or("")
            .contains("ZMQ_CONNECT_TIMEOUT"),
        "{ev:?}"
    );
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(3),
        "the attempt gave up after {took:?}"
    );
    wait_event(
        &mut mon,
        EventKind::ConnectRetried,
        "retried after the timeout",
    )
    .await;
    close(&s).await;
}

/// The `tcp://source;destination` form: the ROUTER sees the connection come from the
/// source address (the Peer-Address property, which PLAIN attaches to messages); a bind
/// refuses the form.
#[tokio::test]
async fn source_address_seen_by_the_router() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_plain_server(true).unwrap();
    let ep = within("bind", router.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap();
    let dest = ep.strip_prefix("tcp://").unwrap();
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_plain_username("user").unwrap();
    dealer.set_plain_password("pass").unwrap();
    within(
        "connect",
        dealer.connect(&format!("tcp://127.0.0.5:*;{dest}")),
    )
    .await
    .unwrap();
    send(&dealer, msg(&[b"from .5"]), "send").await;
    let got = recv(&router, "recv").await;
    assert_eq!(got.get(1).map(|f| &f[..]), Some(&b"from .5"[..]));
    assert_eq!(
        got.property("Peer-Address").as_deref(),
        Some(&b"127.0.0.5"[..])
    );
    let e = within(
        "bind with a source",
        router.bind(&format!("tcp://127.0.0.5:*;{dest}")),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    close(&dealer).await;
    close(&router).await;
}

/// BINDTODEVICE "lo": connections over the loopback device work, and a device that does
/// not exist fails the bind with ENODEV.
#[tokio::test]
async fn bindtodevice_loopback() {
    let _panics = support::check_library_panics();
    let rep = Socket::new(SocketType::Rep);
    rep.setsockopt(opt::BINDTODEVICE, "lo").unwrap();
    assert_eq!(
        rep.getsockopt(opt::BINDTODEVICE).unwrap(),
        OptValue::from("lo")
    );
    let ep = within("bind", rep.bind("tcp://127.0.0.1:*")).await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.set_bindtodevice("lo".to_string()).unwrap();
    within("connect", req.connect(&ep)).await.unwrap();
    send(&req, msg(&[b"on lo"]), "request").await;
    assert_eq!(recv(&rep, "request").await, msg(&[b"on lo"]));
    let none = Socket::new(SocketType::Rep);
    none.set_bindtodevice("nosuchdev0".to_string()).unwrap();
    let e = within("bind", none.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("No such device"), "{e}");
    for s in [&req, &rep, &none] {
        close(s).await;
    }
}

/// The numbers, values and refusals of these options, as libzmq's.
#[tokio::test]
async fn connection_options_by_number() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    let int = |o| s.getsockopt(o).unwrap().as_int().unwrap();
    assert_eq!(
        [
            opt::BACKLOG,
            opt::IPV6,
            opt::TOS,
            opt::CONNECT_TIMEOUT,
            opt::TCP_MAXRT,
            opt::BINDTODEVICE
        ],
        [19, 42, 57, 79, 80, 92]
    );
    assert_eq!((opt::RECONNECT_STOP, opt::PRIORITY), (109, 112));
    // libzmq's defaults.
    assert_eq!(
        [
            opt::BACKLOG,
            opt::IPV6,
            opt::TOS,
            opt::PRIORITY,
            opt::TCP_MAXRT,
            opt::CONNECT_TIMEOUT,
            opt::RECONNECT_STOP
        ]
        .map(int),
        [100, 0, 0, 0, 0, 0, 0]
    );
    for (o, v) in [
        (opt::BACKLOG, 7),
        (opt::IPV6, 1),
        (opt::TOS, 0x10),
        (opt::PRIORITY, 2),
        (opt::TCP_MAXRT, 5000),
        (opt::CONNECT_TIMEOUT, 250),
        (opt::RECONNECT_STOP, 0x3),
    ] {
        s.setsockopt(o, v).unwrap();
        assert_eq!(int(o), v, "option {o}");
    }
    assert_eq!(s.backlog(), 7);
    assert!(s.ipv6());
    assert_eq!(s.tcp_maxrt(), Duration::from_secs(5));
    let einval = |r: aiozmq::Result<()>| assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    einval(s.setsockopt(opt::BACKLOG, -1));
    einval(s.setsockopt(opt::IPV6, 2));
    einval(s.setsockopt(opt::TOS, -1));
    einval(s.setsockopt(opt::RECONNECT_STOP, 8));
    einval(s.setsockopt(opt::CONNECT_TIMEOUT, -5));
    einval(s.setsockopt(opt::BINDTODEVICE, "a-name-longer-than-15"));
    close(&s).await;
}
