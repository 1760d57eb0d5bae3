//! The options that add messages or properties to a connection's start and end, with
//! libzmq 4.3.5's rules: ROUTER_NOTIFY, PROBE_ROUTER, CONNECT_ROUTING_ID, HELLO_MSG,
//! DISCONNECT_MSG, HICCUP_MSG and METADATA. Our sockets with each other, then against
//! libzmq (pyzmq running `interop/peer.py`) in every role libzmq can play: a release
//! pyzmq refuses to set the draft options (ROUTER_NOTIFY, HELLO_MSG, DISCONNECT_MSG,
//! HICCUP_MSG), so libzmq is the other end of ours there; it sets PROBE_ROUTER,
//! CONNECT_ROUTING_ID and METADATA itself.
//!
//! Needs Python 3 on PATH and access to PyPI the first time (see tests/support/python.rs);
//! without them the libzmq tests fail rather than skip.

mod support;

use aiozmq::socket::opt;
use aiozmq::{ErrorKind, EventKind, Message, Socket, SocketType};
use support::python::PyPeer;
use support::{bind_any, close, connect, frames, msg, recv, send, UnboundIpc};

fn socket(t: SocketType, rid: &str) -> Socket {
    let s = Socket::new(t);
    if !rid.is_empty() {
        s.set_routing_id(rid.to_owned()).unwrap();
    }
    s
}

fn frames_of(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

async fn expect(s: &Socket, want: &[&[u8]], what: &str) {
    let got = recv(s, what).await;
    assert_eq!(frames(&got), frames_of(want), "{what}");
}

// ----- Our sockets with each other -------------------------------------------------------

#[tokio::test]
async fn router_notify_reports_a_peer_connecting_and_disconnecting() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router
        .set_router_notify(opt::NOTIFY_CONNECT | opt::NOTIFY_DISCONNECT)
        .unwrap();
    let ep = bind_any(&router).await;
    let dealer = socket(SocketType::Dealer, "d1");
    connect(&dealer, &ep).await;
    expect(&router, &[b"d1", b""], "connect notification").await;
    send(&dealer, "hi", "dealer").await;
    expect(&router, &[b"d1", b"hi"], "the message").await;
    close(&dealer).await;
    expect(&router, &[b"d1", b""], "disconnect notification").await;
    assert!(router.try_recv().is_err(), "one notification each way");
    close(&router).await;
}

#[tokio::test]
async fn router_notify_connect_only_and_not_for_inproc() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_router_notify(opt::NOTIFY_CONNECT).unwrap();
    let ep = bind_any(&router).await;
    router.bind("inproc://router-notify-inproc").await.unwrap();
    let inproc = socket(SocketType::Dealer, "in");
    connect(&inproc, "inproc://router-notify-inproc").await;
    send(&inproc, "first", "inproc dealer").await;
    // libzmq notifies for TCP and IPC connections only: the inproc peer's message comes
    // without a notification before it.
    expect(&router, &[b"in", b"first"], "inproc message").await;
    let mut mon = router.monitor(64);
    let dealer = socket(SocketType::Dealer, "tcp");
    connect(&dealer, &ep).await;
    expect(&router, &[b"tcp", b""], "connect notification").await;
    close(&dealer).await;
    // The connection's task has ended (after detaching the peer).
    support::wait_event(&mut mon, EventKind::Closed, "tcp peer gone").await;
    assert!(
        router.try_recv().is_err(),
        "no disconnect notification without NOTIFY_DISCONNECT"
    );
    close(&router).await;
}

#[tokio::test]
async fn probe_router_sends_an_empty_message_first_from_each_type() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = bind_any(&router).await;
    for (t, rid) in [
        (SocketType::Dealer, "dealer"),
        (SocketType::Req, "req"),
        (SocketType::Router, "router"),
    ] {
        let s = socket(t, rid);
        s.set_probe_router(true).unwrap();
        assert!(s.probe_router());
        connect(&s, &ep).await;
        expect(&router, &[rid.as_bytes(), b""], "probe").await;
        if t != SocketType::Router {
            send(&s, "m", rid).await;
            let want: &[&[u8]] = if t == SocketType::Req {
                &[rid.as_bytes(), b"", b"m"]
            } else {
                &[rid.as_bytes(), b"m"]
            };
            expect(&router, want, "message after the probe").await;
        }
        close(&s).await;
    }
    // The bound side probes each peer that connects.
    let probing = Socket::new(SocketType::Router);
    probing.set_probe_router(true).unwrap();
    let ep = bind_any(&probing).await;
    let dealer = Socket::new(SocketType::Dealer);
    connect(&dealer, &ep).await;
    expect(&dealer, &[b""], "probe from the bound ROUTER").await;
    close(&dealer).await;
    close(&probing).await;
    close(&router).await;
}

#[tokio::test]
async fn probe_router_is_sent_once_per_connect_not_again_after_a_reconnect() {
    let _panics = support::check_library_panics();
    let ipc = UnboundIpc::new("probe-once");
    let hub = Socket::new(SocketType::Router);
    hub.set_router_notify(opt::NOTIFY_CONNECT).unwrap();
    hub.bind(&ipc.endpoint).await.unwrap();
    let rc = socket(SocketType::Router, "rc");
    rc.set_probe_router(true).unwrap();
    rc.set_reconnect_ivl(std::time::Duration::from_millis(20))
        .unwrap();
    connect(&rc, &ipc.endpoint).await;
    expect(&hub, &[b"rc", b""], "connect notification").await;
    expect(&hub, &[b"rc", b""], "probe").await;
    close(&hub).await;
    // libzmq writes the probe once into the pipe `connect` made, which outlives the
    // reconnect: the new hub sees the notification, then only what rc sends.
    let hub = socket(SocketType::Router, "hub");
    hub.set_router_notify(opt::NOTIFY_CONNECT).unwrap();
    hub.bind(&ipc.endpoint).await.unwrap();
    expect(
        &hub,
        &[b"rc", b""],
        "connect notification after the reconnect",
    )
    .await;
    send(&hub, msg(&[b"rc", b"ping"]), "hub").await;
    expect(&rc, &[b"hub", b"ping"], "rc").await;
    send(&rc, msg(&[b"hub", b"pong"]), "rc").await;
    expect(&hub, &[b"rc", b"pong"], "no second probe").await;
    close(&rc).await;
    close(&hub).await;
}

#[tokio::test]
async fn connect_routing_id_names_the_peer_at_once_and_refuses_one_in_use() {
    let _panics = support::check_library_panics();
    let server = socket(SocketType::Router, "server-side");
    let ep = bind_any(&server).await;
    let client = socket(SocketType::Router, "client");
    client.set_connect_routing_id("srv").unwrap();
    assert_eq!(&client.connect_routing_id()[..], b"srv");
    connect(&client, &ep).await;
    assert!(
        client.connect_routing_id().is_empty(),
        "taken by the connect"
    );
    // Known at once: ROUTER_MANDATORY does not refuse it before the connection is up.
    client.set_router_mandatory(true).unwrap();
    send(&client, msg(&[b"srv", b"hello"]), "client").await;
    expect(&server, &[b"client", b"hello"], "server").await;
    send(&server, msg(&[b"client", b"back"]), "server").await;
    expect(&client, &[b"srv", b"back"], "the reply names the peer srv").await;

    // A routing id in use: refused (libzmq asserts), and the option is consumed.
    client.set_connect_routing_id("srv").unwrap();
    let other = Socket::new(SocketType::Router);
    let ep2 = bind_any(&other).await;
    let err = client.connect(&ep2).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(client.connect_routing_id().is_empty());
    assert!(client.connections().iter().all(|e| *e != ep2));
    close(&other).await;
    close(&client).await;
    close(&server).await;
}

#[tokio::test]
async fn hello_msg_goes_first_both_ways_and_again_after_a_reconnect() {
    let _panics = support::check_library_panics();
    let ipc = UnboundIpc::new("hello");
    let router = socket(SocketType::Router, "");
    router.set_hello_msg("welcome").unwrap();
    router.bind(&ipc.endpoint).await.unwrap();
    let dealer = socket(SocketType::Dealer, "d");
    dealer.set_hello_msg("hi-from-dealer").unwrap();
    dealer
        .set_reconnect_ivl(std::time::Duration::from_millis(20))
        .unwrap();
    connect(&dealer, &ipc.endpoint).await;
    // Queued while the connection is being made: the hello still goes first.
    send(&dealer, "queued", "dealer").await;
    expect(&router, &[b"d", b"hi-from-dealer"], "dealer's hello").await;
    expect(&router, &[b"d", b"queued"], "then the queued message").await;
    expect(&dealer, &[b"welcome"], "router's hello").await;
    close(&router).await;
    // A new ROUTER on the same path: the reconnected DEALER says hello again.
    let router = Socket::new(SocketType::Router);
    router.bind(&ipc.endpoint).await.unwrap();
    expect(
        &router,
        &[b"d", b"hi-from-dealer"],
        "hello after the reconnect",
    )
    .await;
    close(&dealer).await;
    close(&router).await;
}

#[tokio::test]
async fn disconnect_msg_comes_from_a_peer_that_leaves_after_router_notify() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_disconnect_msg("gone").unwrap();
    router.set_router_notify(opt::NOTIFY_DISCONNECT).unwrap();
    let ep = bind_any(&router).await;
    let dealer = socket(SocketType::Dealer, "d");
    connect(&dealer, &ep).await;
    send(&dealer, "x", "dealer").await;
    expect(&router, &[b"d", b"x"], "message").await;
    close(&dealer).await;
    // libzmq's order: the engine's notification, then the session's message.
    expect(&router, &[b"d", b""], "notification").await;
    expect(&router, &[b"d", b"gone"], "disconnect message").await;
    close(&router).await;
}

#[tokio::test]
async fn inproc_pipes_carry_hello_msg_and_the_binder_gets_disconnect_msg() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_disconnect_msg("left").unwrap();
    router.set_hello_msg("hello-binder").unwrap();
    router.bind("inproc://disconnect-msg").await.unwrap();
    let dealer = socket(SocketType::Dealer, "p");
    dealer.set_hello_msg("hello-connector").unwrap();
    connect(&dealer, "inproc://disconnect-msg").await;
    // In-process pipes carry each side's HELLO_MSG too.
    expect(&router, &[b"p", b"hello-connector"], "connector's hello").await;
    expect(&dealer, &[b"hello-binder"], "binder's hello").await;
    send(&dealer, "x", "dealer").await;
    expect(&router, &[b"p", b"x"], "message").await;
    close(&dealer).await;
    expect(&router, &[b"p", b"left"], "disconnect message").await;
    close(&router).await;
}

#[tokio::test]
async fn hiccup_msg_arrives_when_a_connection_we_made_breaks() {
    let _panics = support::check_library_panics();
    let ipc = UnboundIpc::new("hiccup");
    let router = Socket::new(SocketType::Router);
    router.bind(&ipc.endpoint).await.unwrap();
    let dealer = socket(SocketType::Dealer, "d");
    dealer.set_hiccup_msg("hiccup").unwrap();
    dealer
        .set_reconnect_ivl(std::time::Duration::from_millis(20))
        .unwrap();
    connect(&dealer, &ipc.endpoint).await;
    send(&dealer, "x", "dealer").await;
    expect(&router, &[b"d", b"x"], "message").await;
    close(&router).await;
    expect(&dealer, &[b"hiccup"], "hiccup").await;
    // It reconnects and works on.
    let router = Socket::new(SocketType::Router);
    router.bind(&ipc.endpoint).await.unwrap();
    send(&dealer, "y", "dealer").await;
    expect(&router, &[b"d", b"y"], "after the reconnect").await;
    close(&dealer).await;
    close(&router).await;
}

#[tokio::test]
async fn metadata_reaches_our_peer_as_message_properties() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = bind_any(&router).await;
    let dealer = socket(SocketType::Dealer, "d");
    dealer.set_metadata("X-Name:alice").unwrap();
    dealer.set_metadata("X-Path:a:b").unwrap();
    connect(&dealer, &ep).await;
    send(&dealer, "m", "dealer").await;
    let m = recv(&router, "router").await;
    assert_eq!(frames(&m), frames_of(&[b"d", b"m"]));
    assert_eq!(m.property("X-Name").as_deref(), Some(&b"alice"[..]));
    assert_eq!(m.property("X-Path").as_deref(), Some(&b"a:b"[..]));
    assert_eq!(m.property("Socket-Type").as_deref(), Some(&b"DEALER"[..]));
    close(&dealer).await;
    close(&router).await;
}

#[tokio::test]
async fn options_are_checked_as_libzmq_checks_them() {
    let _panics = support::check_library_panics();
    let dealer = Socket::new(SocketType::Dealer);
    let inval = |r: aiozmq::Result<()>| {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    };
    // METADATA: "X-Name:value"; the first value of a name stays.
    for bad in [
        &b"Name:v"[..],
        b"X-a:",
        b":value",
        b"X-:v",
        b"X-novalue",
        b"X-a b:v",
        b"x-lower:v",
    ] {
        inval(dealer.set_metadata(bad));
    }
    dealer.set_metadata("X-B:2").unwrap();
    dealer.set_metadata("X-A:1").unwrap();
    dealer.setsockopt(opt::METADATA, "X-A:other").unwrap();
    dealer.set_metadata(b"X-C:c\0ignored").unwrap();
    let md: Vec<(String, Vec<u8>)> = dealer
        .metadata()
        .into_iter()
        .map(|(n, v)| (n, v.to_vec()))
        .collect();
    assert_eq!(
        md,
        [
            ("X-A".to_owned(), b"1".to_vec()),
            ("X-B".to_owned(), b"2".to_vec()),
            ("X-C".to_owned(), b"c".to_vec())
        ]
    );
    // ROUTER_NOTIFY: ROUTER only, 0 to 3; read on any type.
    inval(dealer.setsockopt(opt::ROUTER_NOTIFY, 1));
    assert_eq!(
        dealer.getsockopt(opt::ROUTER_NOTIFY).unwrap().as_int(),
        Some(0)
    );
    let router = Socket::new(SocketType::Router);
    inval(router.setsockopt(opt::ROUTER_NOTIFY, 4));
    inval(router.setsockopt(opt::ROUTER_NOTIFY, -1));
    router.setsockopt(opt::ROUTER_NOTIFY, 3).unwrap();
    assert_eq!(
        router.getsockopt(opt::ROUTER_NOTIFY).unwrap().as_int(),
        Some(3)
    );
    // PROBE_ROUTER: ROUTER, DEALER, REQ; any positive value is on.
    inval(Socket::new(SocketType::Pair).setsockopt(opt::PROBE_ROUTER, 1));
    inval(dealer.setsockopt(opt::PROBE_ROUTER, -1));
    Socket::new(SocketType::Req)
        .setsockopt(opt::PROBE_ROUTER, 5)
        .unwrap();
    // CONNECT_ROUTING_ID: ROUTER only, not empty.
    inval(dealer.setsockopt(opt::CONNECT_ROUTING_ID, "x"));
    inval(router.setsockopt(opt::CONNECT_ROUTING_ID, ""));
    router.setsockopt(opt::CONNECT_ROUTING_ID, "x").unwrap();
    assert_eq!(&router.connect_routing_id()[..], b"x");
    // The message options: every type takes them; empty clears.
    let pull = Socket::new(SocketType::Pull);
    for o in [opt::HELLO_MSG, opt::DISCONNECT_MSG, opt::HICCUP_MSG] {
        pull.setsockopt(o, "m").unwrap();
        inval(pull.setsockopt(o, 1));
    }
    assert_eq!(
        (&pull.hello_msg()[..], &pull.hiccup_msg()[..]),
        (&b"m"[..], &b"m"[..])
    );
    pull.setsockopt(opt::DISCONNECT_MSG, "").unwrap();
    assert!(pull.disconnect_msg().is_empty());
    // libzmq reads none of them back.
    for o in [
        opt::PROBE_ROUTER,
        opt::CONNECT_ROUTING_ID,
        opt::METADATA,
        opt::HELLO_MSG,
        opt::DISCONNECT_MSG,
        opt::HICCUP_MSG,
    ] {
        assert_eq!(
            router.getsockopt(o).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}

// ----- Against libzmq ----------------------------------------------------------------------

#[tokio::test]
async fn router_notify_sees_a_libzmq_dealer_connect_and_disconnect() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_router_notify(3).unwrap();
    let ep = bind_any(&router).await;
    let peer = PyPeer::spawn([
        "DEALER",
        "--connect",
        &ep,
        "--identity",
        "pyd",
        "send",
        "1",
        "text:m",
    ]);
    expect(&router, &[b"pyd", b""], "connect notification").await;
    expect(&router, &[b"pyd", b"m"], "message").await;
    expect(&router, &[b"pyd", b""], "disconnect notification").await;
    let mut peer = peer;
    peer.ready().await;
    peer.finish().await;
    close(&router).await;
}

#[tokio::test]
async fn our_hello_msg_and_probe_arrive_at_a_libzmq_router() {
    let _panics = support::check_library_panics();
    let (mut peer, eps) =
        PyPeer::start(["ROUTER", "--bind", "tcp://127.0.0.1:*", "recv", "3"]).await;
    let dealer = socket(SocketType::Dealer, "d");
    dealer.set_hello_msg("hello-from-rust").unwrap();
    dealer.set_probe_router(true).unwrap();
    connect(&dealer, &eps[0]).await;
    send(&dealer, "m", "dealer").await;
    let got: Vec<Vec<Vec<u8>>> = peer
        .messages(3)
        .await
        .into_iter()
        .map(|m| m.frames)
        .collect();
    assert_eq!(
        got,
        [
            frames_of(&[b"d", b"hello-from-rust"]),
            frames_of(&[b"d", b""]),
            frames_of(&[b"d", b"m"])
        ],
        "hello, then the probe, then the message"
    );
    peer.finish().await;
    close(&dealer).await;
}

#[tokio::test]
async fn a_libzmq_dealer_probe_reaches_our_router() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = bind_any(&router).await;
    let mut peer = PyPeer::spawn([
        "DEALER",
        "--connect",
        &ep,
        "--identity",
        "pyd",
        "--sockopt",
        "PROBE_ROUTER=1",
        "send",
        "1",
        "text:m",
    ]);
    expect(&router, &[b"pyd", b""], "libzmq's probe").await;
    expect(&router, &[b"pyd", b"m"], "message").await;
    peer.ready().await;
    peer.finish().await;
    close(&router).await;
}

#[tokio::test]
async fn connect_routing_id_names_a_libzmq_router() {
    let _panics = support::check_library_panics();
    let (mut peer, eps) =
        PyPeer::start(["ROUTER", "--bind", "tcp://127.0.0.1:*", "echo", "1"]).await;
    let router = socket(SocketType::Router, "ours");
    router.set_connect_routing_id("theirs").unwrap();
    connect(&router, &eps[0]).await;
    send(&router, msg(&[b"theirs", b"ping"]), "router").await;
    let m = peer.message().await;
    assert_eq!(m.frames, frames_of(&[b"ours", b"ping"]), "libzmq's view");
    expect(&router, &[b"theirs", b"ping"], "the echo, named by our id").await;
    peer.finish().await;
    close(&router).await;
}

#[tokio::test]
async fn our_metadata_is_read_by_libzmq() {
    let _panics = support::check_library_panics();
    let (mut peer, eps) = PyPeer::start([
        "ROUTER",
        "--bind",
        "tcp://127.0.0.1:*",
        "props",
        "1",
        "X-Name,X-Path,X-Absent",
    ])
    .await;
    let dealer = socket(SocketType::Dealer, "d");
    dealer.set_metadata("X-Name:rust-peer").unwrap();
    dealer.setsockopt(opt::METADATA, "X-Path:a:b").unwrap();
    connect(&dealer, &eps[0]).await;
    send(&dealer, "m", "dealer").await;
    let line = peer.line().await;
    let (head, props) = line
        .split_once(", \"props\": ")
        .unwrap_or_else(|| panic!("no props in {line}"));
    assert_eq!(
        head,
        format!(
            "{{\"socket\": 0, \"frames\": [\"{}\", \"{}\"]",
            hex(b"d"),
            hex(b"m")
        )
    );
    assert_eq!(
        props,
        r#"{"X-Name": "rust-peer", "X-Path": "a:b", "X-Absent": null}}"#
    );
    peer.finish().await;
    close(&dealer).await;
}

#[tokio::test]
async fn libzmq_metadata_is_read_by_us() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = bind_any(&router).await;
    let mut peer = PyPeer::spawn([
        "DEALER",
        "--connect",
        &ep,
        "--identity",
        "pyd",
        "--metadata",
        "X-Name:from-libzmq",
        "send",
        "1",
        "text:m",
    ]);
    let m: Message = recv(&router, "router").await;
    assert_eq!(frames(&m), frames_of(&[b"pyd", b"m"]));
    assert_eq!(m.property("X-Name").as_deref(), Some(&b"from-libzmq"[..]));
    peer.ready().await;
    peer.finish().await;
    close(&router).await;
}

#[tokio::test]
async fn our_router_disconnect_msg_when_a_libzmq_dealer_leaves() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_disconnect_msg("bye").unwrap();
    let ep = bind_any(&router).await;
    let mut peer = PyPeer::spawn([
        "DEALER",
        "--connect",
        &ep,
        "--identity",
        "pyd",
        "send",
        "1",
        "text:m",
    ]);
    expect(&router, &[b"pyd", b"m"], "message").await;
    expect(&router, &[b"pyd", b"bye"], "disconnect message").await;
    peer.ready().await;
    peer.finish().await;
    close(&router).await;
}

#[tokio::test]
async fn our_dealer_hiccup_msg_when_a_libzmq_router_goes() {
    let _panics = support::check_library_panics();
    let (mut peer, eps) =
        PyPeer::start(["ROUTER", "--bind", "tcp://127.0.0.1:*", "recv", "1"]).await;
    let dealer = socket(SocketType::Dealer, "d");
    dealer.set_hiccup_msg("hiccup").unwrap();
    connect(&dealer, &eps[0]).await;
    send(&dealer, "m", "dealer").await;
    let m = peer.message().await;
    assert_eq!(m.frames, frames_of(&[b"d", b"m"]));
    peer.finish().await;
    expect(&dealer, &[b"hiccup"], "hiccup after libzmq closed").await;
    close(&dealer).await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
