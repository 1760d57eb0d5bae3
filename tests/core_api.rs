//! The aiozmq core API: `create_zmq_connection`, `ZmqTransport`, `ZmqProtocol`.

mod core_support;
mod support;

use aiozmq::api::{
    create_zmq_connection, opt, ConnectionOptions, ExtraInfo, OptValue, ZmqTransport,
};
use aiozmq::{ErrorKind, EventKind, Message, Socket, SocketType};
use core_support::{eventually, inproc, msg, within, Ev, Events, Recorder};
use std::sync::Arc;
use std::time::Duration;

async fn open(
    socket_type: SocketType,
    options: ConnectionOptions,
    echo: bool,
) -> (ZmqTransport, Arc<Recorder>, Events) {
    let (rec, mut events) = Recorder::new(echo);
    let (t, p) = within(
        "create_zmq_connection",
        create_zmq_connection(move || rec, socket_type, options),
    )
    .await
    .expect("create_zmq_connection");
    assert!(
        matches!(events.try_next(), Some(Ev::Made)),
        "connection_made is called before create_zmq_connection returns"
    );
    (t, p, events)
}

async fn close(t: &ZmqTransport, events: &mut Events) {
    t.close();
    assert!(
        events.lost().await.is_none(),
        "connection_lost(None) after close"
    );
    within("wait_closed", t.wait_closed()).await;
}

#[tokio::test]
async fn dealer_router_roundtrip_with_protocols() {
    let _panics = support::check_library_panics();
    let (router, _rp, mut router_events) = open(
        SocketType::Router,
        ConnectionOptions::new().bind("tcp://127.0.0.1:*"),
        true,
    )
    .await;
    let addr = router.bindings()[0].clone();
    assert!(addr.starts_with("tcp://127.0.0.1:") && !addr.ends_with(":*"));
    let (dealer, _dp, mut dealer_events) = open(
        SocketType::Dealer,
        ConnectionOptions::new().connect(&addr),
        false,
    )
    .await;
    assert_eq!(dealer.connections(), [addr]);
    for i in 0..10 {
        let m = msg(&["data", "ask", &i.to_string()]);
        dealer.write(m.clone()).unwrap();
        assert_eq!(dealer_events.msg().await, m);
        let at_router = router_events.msg().await;
        assert_eq!(at_router.len(), 4, "routing id + 3 frames");
    }
    close(&dealer, &mut dealer_events).await;
    close(&router, &mut router_events).await;
    assert!(
        dealer_events.try_next().is_none(),
        "nothing after connection_lost"
    );
}

#[tokio::test]
async fn many_endpoints_and_last_endpoint() {
    let _panics = support::check_library_panics();
    let ep = inproc("core-many");
    let (router, _p, mut ev) = open(
        SocketType::Router,
        ConnectionOptions::new().bind(vec!["tcp://127.0.0.1:*", ep.as_str()]),
        false,
    )
    .await;
    let b = router.bindings();
    assert_eq!(b.len(), 2);
    assert!(b[0].starts_with("tcp://127.0.0.1:"));
    assert_eq!(b[1], ep);
    assert_eq!(
        router.getsockopt(opt::LAST_ENDPOINT).unwrap(),
        OptValue::from(ep.as_str())
    );
    let (dealer, _dp, mut dev) = open(
        SocketType::Dealer,
        ConnectionOptions::new().connect([b[0].as_str(), ep.as_str()]),
        false,
    )
    .await;
    assert_eq!(dealer.connections(), b);
    close(&dealer, &mut dev).await;
    close(&router, &mut ev).await;
}

#[tokio::test]
async fn bindings_and_connections_after_unbind_and_disconnect() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    let a = within("bind", t.bind("tcp://127.0.0.1:*")).await.unwrap();
    let b = inproc("core-unbind");
    assert_eq!(within("bind", t.bind(&b)).await.unwrap(), b);
    assert_eq!(t.bindings(), [a.clone(), b.clone()]);
    within("unbind", t.unbind(&a)).await.unwrap();
    assert_eq!(t.bindings(), std::slice::from_ref(&b));
    let e = within("unbind", t.unbind(&a)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(t.socket().bindings(), [b]);

    let c1 = inproc("core-disc");
    let c2 = "tcp://127.0.0.1:1".to_string();
    assert_eq!(within("connect", t.connect(&c1)).await.unwrap(), c1);
    within("connect", t.connect(&c2)).await.unwrap();
    within("connect", t.connect(&c2)).await.unwrap();
    assert_eq!(t.connections(), [c1.clone(), c2.clone()], "a set, in order");
    within("disconnect", t.disconnect(&c1)).await.unwrap();
    assert_eq!(t.connections(), std::slice::from_ref(&c2));
    let e = within("disconnect", t.disconnect(&c1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    close(&t, &mut ev).await;
    let e = within("bind", t.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed);
}

#[tokio::test]
async fn existing_socket_and_extra_info() {
    let _panics = support::check_library_panics();
    let sock = Arc::new(Socket::new(SocketType::Router));
    let pre = within("bind", sock.bind(&inproc("core-pre")))
        .await
        .unwrap();
    let (t, _p, mut ev) = open(
        SocketType::Router,
        ConnectionOptions::new().zmq_sock(sock.clone()),
        false,
    )
    .await;
    assert!(
        t.bindings().is_empty(),
        "bindings made before are not listed"
    );
    assert_eq!(sock.bindings(), [pre]);
    match t.get_extra_info("zmq_socket") {
        Some(ExtraInfo::ZmqSocket(s)) => assert!(Arc::ptr_eq(&s, &sock)),
        other => panic!("zmq_socket: {other:?}"),
    }
    assert!(matches!(
        t.get_extra_info("zmq_type"),
        Some(ExtraInfo::ZmqType(SocketType::Router))
    ));
    assert!(t.get_extra_info("peername").is_none());
    assert!(Arc::ptr_eq(t.socket(), &sock));
    close(&t, &mut ev).await;

    let (rec, _events) = Recorder::new(false);
    let err = create_zmq_connection(
        move || rec,
        SocketType::Dealer,
        ConnectionOptions::new().zmq_sock(Socket::new(SocketType::Pub)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn failed_bind_aborts_the_connection() {
    let _panics = support::check_library_panics();
    let (rec, mut events) = Recorder::new(false);
    let err = within(
        "create_zmq_connection",
        create_zmq_connection(
            move || rec,
            SocketType::Rep,
            ConnectionOptions::new().bind("tcp://no-port"),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(matches!(events.next().await, Ev::Made));
    assert!(events.lost().await.is_none());
}

#[tokio::test]
async fn write_buffers_without_a_peer_then_flushes_in_order() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    // high = 0: pause as soon as anything is buffered, resume once it is empty.
    t.set_write_buffer_limits(Some(0), None).unwrap();
    assert_eq!(t.get_write_buffer_limits(), (0, 0));
    t.write(msg(&["one"])).unwrap();
    t.write(msg(&["two", "2"])).unwrap();
    t.write(Message::new()).unwrap(); // empty: ignored, as in aiozmq
    t.write(msg(&["three"])).unwrap();
    assert_eq!(t.get_write_buffer_size(), 3 + 4 + 5);
    assert!(
        matches!(ev.try_next(), Some(Ev::Pause)),
        "paused synchronously"
    );
    assert!(ev.try_next().is_none());

    let router = Socket::new(SocketType::Router);
    let ep = within("bind", router.bind(&inproc("core-flush")))
        .await
        .unwrap();
    within("connect", t.connect(&ep)).await.unwrap();
    for want in [msg(&["one"]), msg(&["two", "2"]), msg(&["three"])] {
        let mut got = within("recv", router.recv()).await.unwrap();
        got.pop_front();
        assert_eq!(got, want);
    }
    assert!(matches!(ev.next().await, Ev::Resume));
    assert_eq!(t.get_write_buffer_size(), 0);
    close(&t, &mut ev).await;
    support::close(&router).await;
}

#[tokio::test]
async fn write_buffer_limits_follow_aiozmq_rules() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    assert_eq!(t.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
    t.set_write_buffer_limits(None, Some(8)).unwrap();
    assert_eq!(t.get_write_buffer_limits(), (8, 32));
    t.set_write_buffer_limits(Some(100), None).unwrap();
    assert_eq!(t.get_write_buffer_limits(), (25, 100));
    let e = t.set_write_buffer_limits(Some(1), Some(2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(t.get_write_buffer_limits(), (25, 100), "unchanged on error");
    t.set_write_buffer_limits(None, None).unwrap();
    assert_eq!(t.get_write_buffer_limits(), (16 * 1024, 64 * 1024));

    // No peer: everything stays buffered.
    for _ in 0..4 {
        t.write(msg(&["12345"])).unwrap();
    }
    assert!(ev.try_next().is_none());
    // Lowering the marks under the buffered size pauses at once; raising them resumes.
    t.set_write_buffer_limits(Some(19), Some(5)).unwrap();
    assert!(matches!(ev.try_next(), Some(Ev::Pause)));
    t.set_write_buffer_limits(Some(19), Some(10)).unwrap();
    assert!(ev.try_next().is_none(), "20 > low 10: still paused");
    t.set_write_buffer_limits(Some(40), Some(20)).unwrap();
    assert!(matches!(ev.try_next(), Some(Ev::Resume)), "20 <= low 20");
    t.abort();
    assert!(ev.lost().await.is_none());
}

#[tokio::test]
async fn pause_strictly_over_high_resume_at_low() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    t.set_write_buffer_limits(Some(10), Some(4)).unwrap();
    t.write(msg(&["aaaaa"])).unwrap();
    t.write(msg(&["bbbbb"])).unwrap();
    assert_eq!(t.get_write_buffer_size(), 10);
    assert!(ev.try_next().is_none(), "at the high mark: no pause");
    t.write(msg(&["ccccc"])).unwrap();
    assert!(
        matches!(ev.try_next(), Some(Ev::Pause)),
        "strictly over: pause"
    );
    t.write(msg(&["ddddd"])).unwrap();
    assert!(ev.try_next().is_none(), "one pause only");

    let router = Socket::new(SocketType::Router);
    let ep = within("bind", router.bind(&inproc("core-pause")))
        .await
        .unwrap();
    within("connect", t.connect(&ep)).await.unwrap();
    for _ in 0..4 {
        within("recv", router.recv()).await.unwrap();
    }
    assert!(matches!(ev.next().await, Ev::Resume));
    close(&t, &mut ev).await;
    support::close(&router).await;
}

#[tokio::test]
async fn pause_and_resume_are_always_paired() {
    let _panics = support::check_library_panics();
    // DEALER (SNDHWM 1) -> inproc -> ROUTER (RCVHWM 1): the socket takes a message or two;
    // the rest stays in the transport's buffer until the router reads.
    let router = Socket::new(SocketType::Router);
    router.set_rcvhwm(1).unwrap();
    let ep = within("bind", router.bind(&inproc("core-pairs")))
        .await
        .unwrap();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    t.setsockopt(opt::SNDHWM, 1).unwrap();
    t.set_write_buffer_limits(Some(20), Some(5)).unwrap();
    within("connect", t.connect(&ep)).await.unwrap();

    let mut seen = Vec::new();
    for round in 0..3 {
        for i in 0..20 {
            t.write(msg(&[&format!("r{round}-{i:05}")])).unwrap(); // 8 bytes each
        }
        for i in 0..20 {
            let m = within("recv", router.recv()).await.unwrap();
            assert_eq!(&m[1][..], format!("r{round}-{i:05}").as_bytes(), "in order");
        }
        while let Some(e) = ev.try_next() {
            seen.push(e);
        }
        if !matches!(seen.last(), Some(Ev::Resume)) {
            seen.push(ev.next().await);
        }
    }
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| match e {
            Ev::Pause => "pause",
            Ev::Resume => "resume",
            other => panic!("unexpected callback {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        ["pause", "resume", "pause", "resume", "pause", "resume"]
    );
    close(&t, &mut ev).await;
    support::close(&router).await;
}

#[tokio::test]
async fn pause_reading_keeps_messages_in_the_socket() {
    let _panics = support::check_library_panics();
    let ep = inproc("core-read");
    let (t, _p, mut ev) = open(SocketType::Pull, ConnectionOptions::new().bind(&ep), false).await;
    assert!(t.is_reading());
    t.pause_reading().unwrap();
    assert!(!t.is_reading());
    assert_eq!(t.pause_reading().unwrap_err().kind(), ErrorKind::Fsm);

    let push = Socket::new(SocketType::Push);
    within("connect", push.connect(&ep)).await.unwrap();
    within("send", push.send("one")).await.unwrap();
    within("send", push.send("two")).await.unwrap();
    eventually("both messages reach the PULL socket", || {
        t.socket().counters().messages_in == 2
    })
    .await;
    assert!(ev.try_next().is_none(), "nothing handed over while paused");

    t.resume_reading().unwrap();
    assert_eq!(t.resume_reading().unwrap_err().kind(), ErrorKind::Fsm);
    assert_eq!(ev.msg().await, Message::from("one"));
    assert_eq!(ev.msg().await, Message::from("two"));
    t.close();
    assert_eq!(t.pause_reading().unwrap_err().kind(), ErrorKind::Closed);
    assert!(ev.lost().await.is_none());
    support::close(&push).await;
}

#[tokio::test]
async fn socket_options_by_number() {
    let _panics = support::check_library_panics();
    // libzmq's numbers (zmq.h), as pyzmq 27 / libzmq 4.3.5 report them.
    let numbers = [
        (opt::AFFINITY, 4),
        (opt::ROUTING_ID, 5),
        (opt::IDENTITY, 5),
        (opt::SUBSCRIBE, 6),
        (opt::UNSUBSCRIBE, 7),
        (opt::SNDBUF, 11),
        (opt::RCVBUF, 12),
        (opt::RCVMORE, 13),
        (opt::TYPE, 16),
        (opt::LINGER, 17),
        (opt::RECONNECT_IVL, 18),
        (opt::RECONNECT_IVL_MAX, 21),
        (opt::MAXMSGSIZE, 22),
        (opt::SNDHWM, 23),
        (opt::RCVHWM, 24),
        (opt::LAST_ENDPOINT, 32),
        (opt::ROUTER_MANDATORY, 33),
        (opt::TCP_KEEPALIVE, 34),
        (opt::TCP_KEEPALIVE_CNT, 35),
        (opt::TCP_KEEPALIVE_IDLE, 36),
        (opt::TCP_KEEPALIVE_INTVL, 37),
        (opt::IMMEDIATE, 39),
        (opt::XPUB_VERBOSE, 40),
        (opt::REQ_CORRELATE, 52),
        (opt::REQ_RELAXED, 53),
        (opt::CONFLATE, 54),
        (opt::ROUTER_HANDOVER, 56),
        (opt::HANDSHAKE_IVL, 66),
        (opt::HEARTBEAT_IVL, 75),
        (opt::HEARTBEAT_TTL, 76),
        (opt::HEARTBEAT_TIMEOUT, 77),
        (opt::MECHANISM, 43),
        (opt::PLAIN_SERVER, 44),
        (opt::PLAIN_USERNAME, 45),
        (opt::PLAIN_PASSWORD, 46),
        (opt::CURVE_SERVER, 47),
        (opt::CURVE_PUBLICKEY, 48),
        (opt::CURVE_SECRETKEY, 49),
        (opt::CURVE_SERVERKEY, 50),
        (opt::ZAP_DOMAIN, 55),
    ];
    for (got, want) in numbers {
        assert_eq!(got, want);
    }

    let (t, _p, mut ev) = open(SocketType::Router, ConnectionOptions::new(), false).await;
    let s = t.socket().clone();
    let int = |o| t.getsockopt(o).unwrap().as_int().unwrap();
    assert_eq!(int(opt::TYPE), 6);
    assert_eq!(int(opt::RCVMORE), 0);
    assert_eq!(int(opt::SNDHWM), 1000);
    assert_eq!(int(opt::LINGER), 30_000);
    assert_eq!(int(opt::MAXMSGSIZE), -1);
    assert_eq!(int(opt::HANDSHAKE_IVL), 30_000);
    assert_eq!(int(opt::TCP_KEEPALIVE), -1);
    assert_eq!(int(opt::SNDBUF), -1);
    assert_eq!(int(opt::RCVBUF), -1);

    for (o, v) in [
        (opt::SNDHWM, 5),
        (opt::RCVHWM, 7),
        (opt::LINGER, 0),
        (opt::LINGER, -1),
        (opt::RECONNECT_IVL, 250),
        (opt::RECONNECT_IVL_MAX, 4000),
        (opt::MAXMSGSIZE, 1024),
        (opt::MAXMSGSIZE, -1),
        (opt::ROUTER_MANDATORY, 1),
        (opt::ROUTER_HANDOVER, 1),
        (opt::IMMEDIATE, 1),
        (opt::CONFLATE, 1),
        (opt::REQ_RELAXED, 1),
        (opt::REQ_CORRELATE, 1),
        (opt::XPUB_VERBOSE, 1),
        (opt::HANDSHAKE_IVL, 0),
        (opt::HANDSHAKE_IVL, 5000),
        (opt::HEARTBEAT_IVL, 100),
        (opt::HEARTBEAT_TTL, 2000),
        (opt::HEARTBEAT_TIMEOUT, 300),
        (opt::TCP_KEEPALIVE, 1),
        (opt::TCP_KEEPALIVE_CNT, 3),
        (opt::TCP_KEEPALIVE_IDLE, 30),
        (opt::TCP_KEEPALIVE_INTVL, 5),
        (opt::SNDBUF, 65536),
        (opt::RCVBUF, 131072),
        (opt::SNDBUF, 0),
        (opt::RCVBUF, -1),
    ] {
        t.setsockopt(o, v).unwrap();
        assert_eq!(int(o), i64::from(v), "option {o}");
    }
    // Mapped onto the typed options.
    assert_eq!(s.sndhwm(), 5);
    assert_eq!(s.rcvhwm(), 7);
    assert_eq!(s.maxmsgsize(), None);
    assert_eq!(s.reconnect_ivl(), Duration::from_millis(250));
    assert!(s.router_mandatory() && s.immediate() && s.conflate());
    assert_eq!(s.heartbeat_ivl(), Duration::from_millis(100));
    assert_eq!(s.tcp_keepalive_idle(), 30);
    assert_eq!((s.sndbuf(), s.rcvbuf()), (0, -1));

    t.setsockopt(opt::ROUTING_ID, "router-1").unwrap();
    assert_eq!(
        t.getsockopt(opt::IDENTITY).unwrap(),
        OptValue::from("router-1")
    );
    assert_eq!(&s.routing_id()[..], b"router-1");

    let einval = |r: aiozmq::Result<()>| assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    einval(t.setsockopt(9999, 1));
    einval(t.setsockopt(opt::SNDBUF, -2));
    einval(t.setsockopt(opt::RCVBUF, i64::from(i32::MAX) + 1));
    einval(t.setsockopt(opt::AFFINITY, 1));
    einval(t.setsockopt(opt::TYPE, 1));
    einval(t.setsockopt(opt::LAST_ENDPOINT, "x"));
    einval(t.setsockopt(opt::SNDHWM, -1));
    einval(t.setsockopt(opt::SNDHWM, "1000"));
    einval(t.setsockopt(opt::ROUTING_ID, 5));
    einval(t.setsockopt(opt::ROUTER_MANDATORY, 2));
    einval(t.setsockopt(opt::TCP_KEEPALIVE, 2));
    einval(t.setsockopt(opt::LINGER, -2));
    einval(t.setsockopt(opt::HEARTBEAT_TTL, 6_553_600));
    einval(t.setsockopt(opt::SUBSCRIBE, "topic"));
    // USE_FD by number through the transport, as on the socket (tests/use_fd.rs): this
    // process was not socket-activated, so no number was handed to it.
    assert_eq!(int(opt::USE_FD), -1);
    einval(t.setsockopt(opt::USE_FD, 3));
    t.setsockopt(opt::USE_FD, -1).unwrap();
    assert_eq!(
        t.getsockopt(9999).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        t.getsockopt(opt::FD).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        t.getsockopt(opt::SUBSCRIBE).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    close(&t, &mut ev).await;
}

#[tokio::test]
async fn subscribe_twice_is_a_no_op() {
    let _panics = support::check_library_panics();
    let publisher = Socket::new(SocketType::Pub);
    let ep = within("bind", publisher.bind(&inproc("core-sub")))
        .await
        .unwrap();
    let (t, _p, mut ev) = open(
        SocketType::Sub,
        ConnectionOptions::new().connect(&ep),
        false,
    )
    .await;
    t.subscribe("a").unwrap();
    t.subscribe("a").unwrap();
    assert_eq!(t.subscriptions().unwrap(), [bytes::Bytes::from("a")]);
    // The socket counts subscriptions like libzmq; the transport subscribed once, so one
    // unsubscribe removes the filter.
    t.unsubscribe("a").unwrap();
    assert!(t.subscriptions().unwrap().is_empty());
    t.subscribe("b").unwrap();
    t.setsockopt(opt::SUBSCRIBE, "c").unwrap();
    assert_eq!(
        t.subscriptions().unwrap(),
        [bytes::Bytes::from("b"), bytes::Bytes::from("c")]
    );

    // Wait until the publisher knows "b" (subscriptions travel in order, so it also knows
    // that "a" was cancelled), then check that "a" is filtered out.
    loop {
        within("send", publisher.send("b-sync")).await.unwrap();
        tokio::select! {
            e = ev.next() => match e {
                Ev::Msg(m) => { assert_eq!(m, Message::from("b-sync")); break; }
                other => panic!("unexpected {other:?}"),
            },
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
        }
    }
    while let Some(e) = ev.try_next() {
        assert!(matches!(e, Ev::Msg(m) if m == Message::from("b-sync")));
    }
    within("send", publisher.send("a-1")).await.unwrap();
    within("send", publisher.send("b-1")).await.unwrap();
    loop {
        let m = ev.msg().await;
        if m == Message::from("b-sync") {
            continue;
        }
        assert_eq!(m, Message::from("b-1"), "a-1 is filtered out");
        break;
    }
    close(&t, &mut ev).await;
    support::close(&publisher).await;

    let (d, _p, mut dev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    assert_eq!(
        d.subscribe("a").unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(
        d.unsubscribe("a").unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(
        d.subscriptions().unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    close(&d, &mut dev).await;
}

#[tokio::test]
async fn monitor_events_reach_the_protocol() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = within("bind", router.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    t.enable_monitor(None).unwrap();
    within("connect", t.connect(&ep)).await.unwrap();
    let mut kinds = Vec::new();
    loop {
        let e = ev.event().await;
        assert_eq!(e.endpoint, ep);
        kinds.push(e.kind);
        if e.kind == EventKind::HandshakeSucceeded {
            break;
        }
    }
    assert!(kinds.contains(&EventKind::Connected), "{kinds:?}");
    close(&t, &mut ev).await;
    support::close(&router).await;
}

#[tokio::test]
async fn monitor_mask_and_disable() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    let listening = u32::from(EventKind::Listening.to_raw());
    t.enable_monitor(Some(listening)).unwrap();
    let a = within("bind", t.bind(&inproc("core-mon-a"))).await.unwrap();
    let e = ev.event().await;
    assert_eq!((e.kind, e.endpoint), (EventKind::Listening, a));

    t.disable_monitor();
    t.disable_monitor(); // twice: no-op
    let _b = within("bind", t.bind(&inproc("core-mon-b"))).await.unwrap();
    t.enable_monitor(Some(listening)).unwrap();
    let c = within("bind", t.bind(&inproc("core-mon-c"))).await.unwrap();
    let e = ev.event().await;
    assert_eq!(
        (e.kind, e.endpoint),
        (EventKind::Listening, c),
        "nothing reported while disabled"
    );
    close(&t, &mut ev).await;
    assert_eq!(
        t.enable_monitor(None).unwrap_err().kind(),
        ErrorKind::Closed
    );
}

#[tokio::test]
async fn abort_drops_the_buffer() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    for _ in 0..3 {
        t.write(msg(&["lost"])).unwrap();
    }
    assert_eq!(t.get_write_buffer_size(), 12);
    t.abort();
    assert!(t.is_closing());
    assert_eq!(t.get_write_buffer_size(), 0);
    assert_eq!(t.write(msg(&["x"])).unwrap_err().kind(), ErrorKind::Closed);
    assert!(ev.lost().await.is_none());
    within("wait_closed", t.wait_closed()).await;
    t.abort();
    t.close();
    assert!(ev.try_next().is_none(), "connection_lost only once");
}

#[tokio::test]
async fn close_flushes_the_buffer_before_connection_lost() {
    let _panics = support::check_library_panics();
    let ep = inproc("core-close-flush");
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    t.setsockopt(opt::SNDHWM, 1).unwrap();
    within("connect", t.connect(&ep)).await.unwrap(); // nobody bound yet
    for i in 0..5 {
        t.write(msg(&[&format!("m{i}")])).unwrap();
    }
    assert!(t.get_write_buffer_size() > 0);
    t.close();
    assert!(t.is_closing());
    // aiozmq accepts writes until connection_lost; they are flushed too.
    t.write(msg(&["m5"])).unwrap();
    let mut wait = std::pin::pin!(t.wait_closed());
    assert!(futures_util::poll!(&mut wait).is_pending());
    assert!(
        ev.try_next().is_none(),
        "not lost while the buffer is not flushed"
    );

    let router = Socket::new(SocketType::Router);
    within("bind", router.bind(&ep)).await.unwrap();
    for i in 0..6 {
        let m = within("recv", router.recv()).await.unwrap();
        assert_eq!(&m[1][..], format!("m{i}").as_bytes());
    }
    assert!(ev.lost().await.is_none());
    within("wait_closed", wait).await;
    assert_eq!(
        t.write(msg(&["late"])).unwrap_err().kind(),
        ErrorKind::Closed
    );
    support::close(&router).await;
}

#[tokio::test]
async fn a_socket_error_ends_the_transport() {
    let _panics = support::check_library_panics();
    let rep = Socket::new(SocketType::Rep);
    let ep = within("bind", rep.bind(&inproc("core-fatal")))
        .await
        .unwrap();
    let (t, _p, mut ev) = open(
        SocketType::Req,
        ConnectionOptions::new().connect(&ep),
        false,
    )
    .await;
    t.write(msg(&["request"])).unwrap();
    let e = t.write(msg(&["again"])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fsm);
    assert_eq!(ev.lost().await.map(|e| e.kind()), Some(ErrorKind::Fsm));
    assert!(t.is_closing());
    assert_eq!(t.write(msg(&["x"])).unwrap_err().kind(), ErrorKind::Closed);
    within("wait_closed", t.wait_closed()).await;
    support::close(&rep).await;
}

#[tokio::test]
async fn a_panicking_callback_does_not_stop_the_transport() {
    let _panics = support::check_library_panics();
    let ep = inproc("core-panic");
    let (rec, mut ev) = Recorder::panicking(false, 1);
    let (t, _p) = within(
        "create",
        create_zmq_connection(
            move || rec,
            SocketType::Pull,
            ConnectionOptions::new().bind(&ep),
        ),
    )
    .await
    .unwrap();
    assert!(matches!(ev.next().await, Ev::Made));
    let push = Socket::new(SocketType::Push);
    within("connect", push.connect(&ep)).await.unwrap();
    within("send", push.send("boom")).await.unwrap();
    within("send", push.send("fine")).await.unwrap();
    assert_eq!(ev.msg().await, Message::from("fine"));
    close(&t, &mut ev).await;
    support::close(&push).await;
}

#[tokio::test]
async fn cancelled_create_aborts_the_transport() {
    let _panics = support::check_library_panics();
    let ep = inproc("core-cancel-create");
    let (rec, mut ev) = Recorder::new(false);
    {
        let mut fut = std::pin::pin!(create_zmq_connection(
            move || rec,
            SocketType::Router,
            // The inproc bind completes at once; resolving "localhost" does not.
            ConnectionOptions::new().bind([ep.as_str(), "tcp://localhost:*"]),
        ));
        assert!(futures_util::poll!(&mut fut).is_pending());
    } // dropped mid-way
    assert!(matches!(ev.next().await, Ev::Made));
    assert!(ev.lost().await.is_none(), "aborted when dropped mid-way");
    // The endpoint is free again once the socket is closed.
    let s = Socket::new(SocketType::Router);
    eventually("the inproc name is released", || {
        futures_util::FutureExt::now_or_never(s.bind(&ep)).is_some_and(|r| r.is_ok())
    })
    .await;
    support::close(&s).await;
}

#[tokio::test]
async fn cancelled_bind_and_unbind_keep_bindings_consistent() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Router, ConnectionOptions::new(), false).await;
    {
        let mut bind = std::pin::pin!(t.bind("tcp://localhost:*"));
        assert!(futures_util::poll!(&mut bind).is_pending());
    }
    assert!(t.bindings().is_empty());
    assert!(t.socket().bindings().is_empty(), "nothing bound");

    let a = within("bind", t.bind("tcp://127.0.0.1:*")).await.unwrap();
    {
        let mut unbind = std::pin::pin!(t.unbind(&a));
        let _ = futures_util::poll!(&mut unbind);
    }
    assert!(t.bindings().is_empty());
    assert!(t.socket().bindings().is_empty(), "unbound all the same");

    // connect/disconnect do not wait: a future dropped unpolled did nothing.
    drop(t.connect("tcp://127.0.0.1:1"));
    assert!(t.connections().is_empty());
    let c = within("connect", t.connect("tcp://127.0.0.1:1"))
        .await
        .unwrap();
    drop(t.disconnect(&c));
    assert_eq!(t.connections(), std::slice::from_ref(&c));
    assert_eq!(t.socket().connections(), [c]);
    close(&t, &mut ev).await;
}

#[tokio::test]
async fn cancelled_wait_closed_can_be_awaited_again() {
    let _panics = support::check_library_panics();
    let ep = inproc("core-wait");
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    t.setsockopt(opt::SNDHWM, 1).unwrap();
    within("connect", t.connect(&ep)).await.unwrap();
    for _ in 0..3 {
        t.write(msg(&["x"])).unwrap();
    }
    t.close();
    {
        let mut wait = std::pin::pin!(t.wait_closed());
        assert!(futures_util::poll!(&mut wait).is_pending());
    }
    let router = Socket::new(SocketType::Router);
    within("bind", router.bind(&ep)).await.unwrap();
    within("wait_closed", t.wait_closed()).await;
    assert!(ev.lost().await.is_none());
    support::close(&router).await;
}

/// Records flow-control callbacks and checks that no two callbacks ever overlap.
#[derive(Default)]
struct OverlapChecker {
    busy: std::sync::atomic::AtomicBool,
    overlaps: std::sync::atomic::AtomicUsize,
    flow: std::sync::Mutex<Vec<&'static str>>,
    received: std::sync::atomic::AtomicUsize,
    all_received: tokio::sync::Notify,
}

impl OverlapChecker {
    fn enter(&self, what: Option<&'static str>) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.busy.swap(true, SeqCst) {
            self.overlaps.fetch_add(1, SeqCst);
        }
        if let Some(w) = what {
            self.flow.lock().unwrap().push(w);
        }
        std::hint::spin_loop();
        self.busy.store(false, SeqCst);
    }
}

impl aiozmq::ZmqProtocol for OverlapChecker {
    fn pause_writing(&self) {
        self.enter(Some("pause"));
    }
    fn resume_writing(&self) {
        self.enter(Some("resume"));
    }
    fn msg_received(&self, _msg: Message) {
        self.enter(None);
        if self
            .received
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
            == 2000
        {
            self.all_received.notify_one();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_never_overlap_on_a_multi_thread_runtime() {
    let _panics = support::check_library_panics();
    let (router, _rp, mut rev) = open(
        SocketType::Router,
        ConnectionOptions::new().bind(inproc("core-mt")),
        true,
    )
    .await;
    router.setsockopt(opt::RCVHWM, 2).unwrap();
    let ep = router.bindings()[0].clone();
    let (dealer, checker) = within(
        "create",
        create_zmq_connection(
            OverlapChecker::default,
            SocketType::Dealer,
            ConnectionOptions::new().connect(&ep),
        ),
    )
    .await
    .unwrap();
    dealer.setsockopt(opt::SNDHWM, 2).unwrap();
    dealer.set_write_buffer_limits(Some(64), Some(16)).unwrap();
    let done = checker.all_received.notified();
    tokio::pin!(done);
    done.as_mut().enable();
    for i in 0..2000 {
        dealer.write(msg(&[&format!("{i:08}")])).unwrap();
        if i % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    within("every echo", done).await;
    assert_eq!(
        checker.overlaps.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let flow = checker.flow.lock().unwrap().clone();
    assert!(!flow.is_empty(), "the buffer went over 64 bytes");
    for pair in flow.chunks(2) {
        assert_eq!(pair, ["pause", "resume"], "paired, in order: {flow:?}");
    }
    dealer.close();
    within("wait_closed", dealer.wait_closed()).await;
    router.close();
    loop {
        if let Ev::Lost(e) = rev.next().await {
            assert!(e.is_none());
            break;
        }
    }
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    let _panics = support::check_library_panics();
    let (rec, _ev) = Recorder::new(false);
    let r = futures_util::FutureExt::now_or_never(create_zmq_connection(
        move || rec,
        SocketType::Dealer,
        ConnectionOptions::new(),
    ))
    .expect("fails at the first poll");
    assert_eq!(r.unwrap_err().kind(), ErrorKind::NotSupported);
}

#[tokio::test]
async fn monitor_stopped_from_the_socket_can_be_enabled_again() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    t.enable_monitor(None).unwrap();
    t.socket().disable_monitor(); // libzmq's zmq_socket_monitor(s, NULL, 0), from outside
    let e = ev.event().await;
    assert_eq!(e.kind, EventKind::MonitorStopped);
    // Enabling again starts a new monitor (retried until the transport saw the stop).
    let listening = u32::from(EventKind::Listening.to_raw());
    let mut n = 0;
    let e = loop {
        t.enable_monitor(Some(listening)).unwrap();
        within("bind", t.bind(&inproc("core-mon-again")))
            .await
            .unwrap();
        n += 1;
        tokio::select! {
            e = ev.event() => break e,
            _ = tokio::time::sleep(Duration::from_millis(5)) => assert!(n < 1000),
        }
    };
    assert_eq!(e.kind, EventKind::Listening);
    close(&t, &mut ev).await;
}

/// Security set only through libzmq's option numbers, as aiozmq code sets it on a
/// transport (`tr.setsockopt(zmq.CURVE_SERVER, 1)`): the options read back as pyzmq reads
/// them, and a CURVE pair so configured talks.
#[tokio::test]
async fn security_options_by_number() {
    let _panics = support::check_library_panics();
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let (client_public, client_secret) = aiozmq::curve_keypair();
    let (router, _rp, mut router_events) =
        open(SocketType::Router, ConnectionOptions::new(), true).await;
    let bytes = |t: &ZmqTransport, o| t.getsockopt(o).unwrap().as_bytes().unwrap().clone();
    let int = |t: &ZmqTransport, o| t.getsockopt(o).unwrap().as_int().unwrap();

    assert_eq!(int(&router, opt::MECHANISM), 0);
    assert_eq!(int(&router, opt::CURVE_SERVER), 0);
    // An unset key reads as 32 zero bytes in Z85, as libzmq's does.
    assert_eq!(&bytes(&router, opt::CURVE_PUBLICKEY)[..], &[b'0'; 40][..]);
    router.setsockopt(opt::CURVE_SERVER, 1).unwrap();
    router
        .setsockopt(opt::CURVE_SECRETKEY, server_secret.as_str())
        .unwrap();
    router
        .setsockopt(opt::CURVE_PUBLICKEY, server_public.as_str())
        .unwrap();
    router.setsockopt(opt::ZAP_DOMAIN, "global").unwrap();
    assert_eq!(int(&router, opt::MECHANISM), 2);
    assert_eq!(int(&router, opt::CURVE_SERVER), 1);
    assert_eq!(int(&router, opt::PLAIN_SERVER), 0);
    assert_eq!(
        bytes(&router, opt::CURVE_SECRETKEY),
        server_secret.as_bytes()
    );
    assert_eq!(
        bytes(&router, opt::CURVE_PUBLICKEY),
        server_public.as_bytes()
    );
    assert_eq!(&bytes(&router, opt::ZAP_DOMAIN)[..], b"global");
    assert_eq!(router.socket().zap_domain(), "global");
    let addr = within("bind", router.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap();

    let (dealer, _dp, mut dealer_events) =
        open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    // Raw 32-byte keys are taken as well as Z85 text (and Z85 with C's terminating zero).
    let raw_server = z85_decode(&server_public);
    dealer
        .setsockopt(opt::CURVE_SERVERKEY, raw_server.clone())
        .unwrap();
    let mut public_c = client_public.clone().into_bytes();
    public_c.push(0);
    dealer.setsockopt(opt::CURVE_PUBLICKEY, public_c).unwrap();
    dealer
        .setsockopt(opt::CURVE_SECRETKEY, client_secret.as_str())
        .unwrap();
    assert_eq!(int(&dealer, opt::MECHANISM), 2);
    assert_eq!(int(&dealer, opt::CURVE_SERVER), 0);
    assert_eq!(
        bytes(&dealer, opt::CURVE_SERVERKEY),
        server_public.as_bytes()
    );
    assert_eq!(
        bytes(&dealer, opt::CURVE_PUBLICKEY),
        client_public.as_bytes()
    );
    within("connect", dealer.connect(&addr)).await.unwrap();
    let m = msg(&["over", "curve"]);
    dealer.write(m.clone()).unwrap();
    assert_eq!(
        dealer_events.msg().await,
        m,
        "the echo came back through CURVE"
    );
    let at_router = router_events.msg().await;
    assert_eq!(at_router.len(), 3, "routing id + 2 frames");

    let einval = |r: aiozmq::Result<()>| assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidInput);
    einval(dealer.setsockopt(opt::MECHANISM, 1));
    einval(dealer.setsockopt(opt::CURVE_SERVERKEY, vec![1u8; 31]));
    einval(dealer.setsockopt(
        opt::CURVE_SERVERKEY,
        "not a z85 key of 40 characters!!!!!!!!",
    ));
    einval(dealer.setsockopt(opt::CURVE_SERVER, 2));
    einval(dealer.setsockopt(opt::PLAIN_USERNAME, 1));
    einval(dealer.setsockopt(opt::ZAP_DOMAIN, vec![0xffu8, 0xfe]));
    close(&dealer, &mut dealer_events).await;
    close(&router, &mut router_events).await;
}

/// PLAIN through option numbers: the roles switch as libzmq's do, and the values read back.
#[tokio::test]
async fn plain_options_by_number() {
    let _panics = support::check_library_panics();
    let (t, _p, mut ev) = open(SocketType::Dealer, ConnectionOptions::new(), false).await;
    let int = |o| t.getsockopt(o).unwrap().as_int().unwrap();
    t.setsockopt(opt::PLAIN_USERNAME, "admin").unwrap();
    t.setsockopt(opt::PLAIN_PASSWORD, "s3cret").unwrap();
    assert_eq!((int(opt::MECHANISM), int(opt::PLAIN_SERVER)), (1, 0));
    assert_eq!(
        t.getsockopt(opt::PLAIN_USERNAME).unwrap(),
        OptValue::from("admin")
    );
    assert_eq!(
        t.getsockopt(opt::PLAIN_PASSWORD).unwrap(),
        OptValue::from("s3cret")
    );
    t.setsockopt(opt::PLAIN_SERVER, 1).unwrap();
    assert_eq!((int(opt::MECHANISM), int(opt::PLAIN_SERVER)), (1, 1));
    t.setsockopt(opt::PLAIN_SERVER, 0).unwrap();
    assert_eq!((int(opt::MECHANISM), int(opt::PLAIN_SERVER)), (0, 0));
    close(&t, &mut ev).await;
}

fn z85_decode(text: &str) -> Vec<u8> {
    aiozmq::zmtp::z85::decode(text).expect("a Z85 key")
}

/// The same numbers on a plain `Socket`, with LAST_ENDPOINT following its binds and
/// connects.
#[tokio::test]
async fn socket_getsockopt_and_last_endpoint() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    assert_eq!(
        s.getsockopt(opt::LAST_ENDPOINT).unwrap(),
        OptValue::from("")
    );
    s.setsockopt(opt::SNDHWM, 3).unwrap();
    assert_eq!(s.sndhwm(), 3);
    assert_eq!(s.getsockopt(opt::SNDHWM).unwrap(), OptValue::Int(3));
    let bound = within("bind", s.bind("tcp://127.0.0.1:*")).await.unwrap();
    assert_eq!(s.last_endpoint(), bound);
    let ep = inproc("last-endpoint");
    within("connect", s.connect(&ep)).await.unwrap();
    assert_eq!(
        s.getsockopt(opt::LAST_ENDPOINT).unwrap(),
        OptValue::from(ep.as_str())
    );
    assert_eq!(
        s.setsockopt(opt::LAST_ENDPOINT, "x").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    support::close(&s).await;
}
