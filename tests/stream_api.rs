//! aiozmq's Streams API: `create_zmq_stream` and `ZmqStream`.

mod core_support;
mod support;

use aiozmq::api::{opt, ExtraInfo};
use aiozmq::{
    create_zmq_stream, ErrorKind, EventKind, Message, Socket, SocketType, StreamOptions, ZmqStream,
    ZmqStreamClosed,
};
use core_support::{eventually, inproc, msg, within};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;

async fn stream(socket_type: SocketType, options: StreamOptions) -> ZmqStream {
    within("create_zmq_stream", create_zmq_stream(socket_type, options))
        .await
        .expect("create_zmq_stream")
}

async fn read(s: &ZmqStream) -> Message {
    within("read", s.read()).await.expect("read")
}

#[tokio::test]
async fn dealer_router_roundtrip() {
    let _panics = support::check_library_panics();
    let router = stream(
        SocketType::Router,
        StreamOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await;
    let addr = router.transport().bindings()[0].clone();
    let dealer = stream(SocketType::Dealer, StreamOptions::new().connect(&addr)).await;
    for i in 0..10 {
        let m = msg(&["data", "ask", &i.to_string()]);
        dealer.write(m.clone()).unwrap();
        let data = read(&router).await;
        assert_eq!(data.len(), 4);
        router.write(data).unwrap();
        assert_eq!(read(&dealer).await, m);
    }
    dealer.close();
    router.close();
    within("wait_closed", dealer.wait_closed()).await;
    within("wait_closed", router.wait_closed()).await;
}

#[tokio::test]
async fn read_after_close_fails_with_stream_closed() {
    let _panics = support::check_library_panics();
    let s = stream(SocketType::Dealer, StreamOptions::new()).await;
    s.close();
    let e = s.read().await.unwrap_err();
    assert!(e == ZmqStreamClosed, "{e}");
    assert_eq!(e.kind(), ErrorKind::Closed);
    assert!(s.read_event().await.unwrap_err() == ZmqStreamClosed);
    assert!(s.write(msg(&["x"])).unwrap_err() == ZmqStreamClosed);
    assert!(s.at_closing());
    assert!(s.exception().is_none());
    within("wait_closed", s.wait_closed()).await;
    assert!(s.drain().await.unwrap_err() == ZmqStreamClosed);
}

#[tokio::test]
async fn a_waiting_read_ends_when_the_stream_closes() {
    let _panics = support::check_library_panics();
    let s = Arc::new(stream(SocketType::Dealer, StreamOptions::new()).await);
    let reader = tokio::spawn({
        let s = s.clone();
        async move { s.read().await }
    });
    let event_reader = tokio::spawn({
        let s = s.clone();
        async move { s.read_event().await }
    });
    tokio::task::yield_now().await;
    // Closing the transport (not the stream) ends the stream when connection_lost comes.
    s.transport().close();
    let r = within("read", reader).await.unwrap();
    assert!(r.unwrap_err() == ZmqStreamClosed);
    let r = within("read_event", event_reader).await.unwrap();
    assert!(r.unwrap_err() == ZmqStreamClosed);
}

#[tokio::test]
async fn at_closing_is_false_while_unread_messages_remain() {
    let _panics = support::check_library_panics();
    let ep = inproc("stream-unread");
    let s = stream(SocketType::Pull, StreamOptions::new().bind(&ep)).await;
    let push = Socket::new(SocketType::Push);
    within("connect", push.connect(&ep)).await.unwrap();
    within("send", push.send("left behind")).await.unwrap();
    eventually("the message reaches the stream", || {
        s.read_buffer_size() > 0
    })
    .await;
    s.close();
    assert!(!s.at_closing());
    assert!(s.read().await.unwrap_err() == ZmqStreamClosed, "as aiozmq");
    support::close(&push).await;
}

#[tokio::test]
async fn read_watermarks_pause_and_resume_reading() {
    let _panics = support::check_library_panics();
    let ep = inproc("stream-watermarks");
    let s = stream(
        SocketType::Pull,
        StreamOptions::new().bind(&ep).high_read(10).low_read(4),
    )
    .await;
    assert_eq!(s.read_buffer_limits(), (4, 10));
    let push = Socket::new(SocketType::Push);
    within("connect", push.connect(&ep)).await.unwrap();
    for i in 0..6 {
        within("send", push.send(format!("msg-{i}"))).await.unwrap(); // 5 bytes each
    }
    eventually("reading pauses strictly over 10 bytes", || {
        !s.transport().is_reading()
    })
    .await;
    assert_eq!(s.read_buffer_size(), 15);
    eventually("the other messages wait in the socket", || {
        s.transport().socket().counters().messages_in == 6
    })
    .await;
    assert_eq!(
        s.read_buffer_size(),
        15,
        "nothing read from the socket while paused"
    );

    assert_eq!(read(&s).await, Message::from("msg-0"));
    assert!(!s.transport().is_reading(), "10 > low 4");
    assert_eq!(read(&s).await, Message::from("msg-1"));
    assert!(!s.transport().is_reading(), "5 > low 4");
    assert_eq!(read(&s).await, Message::from("msg-2"));
    assert!(s.transport().is_reading(), "0 <= low 4: resumed");
    for i in 3..6 {
        assert_eq!(read(&s).await, Message::from(format!("msg-{i}")));
    }
    s.close();
    support::close(&push).await;
}

#[tokio::test]
async fn raising_read_limits_resumes_reading() {
    let _panics = support::check_library_panics();
    let ep = inproc("stream-limits");
    let s = stream(
        SocketType::Pull,
        StreamOptions::new().bind(&ep).high_read(1),
    )
    .await;
    assert_eq!(s.read_buffer_limits(), (0, 1));
    let push = Socket::new(SocketType::Push);
    within("connect", push.connect(&ep)).await.unwrap();
    within("send", push.send("abc")).await.unwrap();
    within("send", push.send("def")).await.unwrap();
    eventually("paused", || !s.transport().is_reading()).await;
    assert_eq!(
        s.set_read_buffer_limits(Some(1), Some(2))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    s.set_read_buffer_limits(Some(100), None).unwrap();
    assert!(s.transport().is_reading(), "3 <= low 25");
    eventually("the second message arrives", || s.read_buffer_size() == 6).await;
    assert_eq!(read(&s).await, Message::from("abc"));
    assert_eq!(read(&s).await, Message::from("def"));
    s.close();
    support::close(&push).await;
}

#[tokio::test]
async fn write_watermarks_and_option_validation() {
    let _panics = support::check_library_panics();
    let s = stream(
        SocketType::Dealer,
        StreamOptions::new().high_write(100).low_write(10),
    )
    .await;
    assert_eq!(s.transport().get_write_buffer_limits(), (10, 100));
    let d = stream(SocketType::Dealer, StreamOptions::new()).await;
    assert_eq!(d.transport().get_write_buffer_limits(), (16384, 65536));
    assert_eq!(d.read_buffer_limits(), (16384, 65536));
    for bad in [
        StreamOptions::new().high_write(1).low_write(2),
        StreamOptions::new().high_read(1).low_read(2),
    ] {
        let e = create_zmq_stream(SocketType::Dealer, bad)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
    assert!(matches!(
        s.get_extra_info("zmq_type"),
        Some(ExtraInfo::ZmqType(SocketType::Dealer))
    ));
    assert!(s.get_extra_info("nothing").is_none());
}

#[tokio::test]
async fn drain_waits_under_backpressure_with_a_slow_reader() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_rcvhwm(1).unwrap();
    let ep = within("bind", router.bind(&inproc("stream-drain")))
        .await
        .unwrap();
    let s = stream(
        SocketType::Dealer,
        StreamOptions::new().high_write(20).low_write(5),
    )
    .await;
    s.transport().setsockopt(opt::SNDHWM, 1).unwrap();
    within("connect", s.transport().connect(&ep)).await.unwrap();

    for i in 0..50 {
        s.write(msg(&[&format!("m-{i:05}")])).unwrap(); // 7 bytes
    }
    assert!(s.transport().get_write_buffer_size() > 20);
    {
        // Dropped mid-way: nothing is lost.
        let mut drain = std::pin::pin!(s.drain());
        assert!(futures_util::poll!(&mut drain).is_pending());
    }
    let mut drain = std::pin::pin!(s.drain());
    assert!(
        futures_util::poll!(&mut drain).is_pending(),
        "paused: drain waits"
    );

    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..50 {
            let m = within("recv", router.recv()).await.unwrap();
            got.push(m[1].clone());
            tokio::task::yield_now().await; // a slow reader
        }
        support::close(&router).await;
        got
    });
    within("drain", drain).await.unwrap();
    assert!(
        s.transport().get_write_buffer_size() <= 5,
        "back at the low mark"
    );
    let got = within("reader", reader).await.unwrap();
    let want: Vec<_> = (0..50)
        .map(|i| bytes::Bytes::from(format!("m-{i:05}")))
        .collect();
    assert_eq!(got, want);
    s.drain().await.unwrap();
    s.close();
}

#[tokio::test]
async fn events_backlog_keeps_the_newest() {
    let _panics = support::check_library_panics();
    let s = stream(SocketType::Dealer, StreamOptions::new().events_backlog(2)).await;
    s.transport()
        .enable_monitor(Some(u32::from(EventKind::Listening.to_raw())))
        .unwrap();
    let mut eps = Vec::new();
    for _ in 0..4 {
        eps.push(
            within("bind", s.transport().bind(&inproc("stream-backlog")))
                .await
                .unwrap(),
        );
    }
    eventually("two events discarded", || s.events_dropped() == 2).await;
    assert_eq!(s.pending_events(), 2);
    for ep in &eps[2..] {
        let e = within("read_event", s.read_event()).await.unwrap();
        assert_eq!((e.kind, &e.endpoint), (EventKind::Listening, ep));
    }
    s.close();
}

#[tokio::test]
async fn events_backlog_can_be_unlimited() {
    let _panics = support::check_library_panics();
    let s = stream(
        SocketType::Dealer,
        StreamOptions::new().events_backlog(None),
    )
    .await;
    s.transport()
        .enable_monitor(Some(u32::from(EventKind::Listening.to_raw())))
        .unwrap();
    let mut eps = Vec::new();
    for _ in 0..150 {
        eps.push(
            within("bind", s.transport().bind(&inproc("stream-unlimited")))
                .await
                .unwrap(),
        );
    }
    eventually("every event kept", || s.pending_events() == 150).await;
    assert_eq!(s.events_dropped(), 0);
    for ep in &eps {
        assert_eq!(
            &within("read_event", s.read_event()).await.unwrap().endpoint,
            ep
        );
    }
    s.close();
}

#[tokio::test]
async fn monitor_events_until_closed() {
    let _panics = support::check_library_panics();
    let router = stream(
        SocketType::Router,
        StreamOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await;
    let addr = router.transport().bindings()[0].clone();
    let dealer = Arc::new(stream(SocketType::Dealer, StreamOptions::new()).await);
    dealer.transport().enable_monitor(None).unwrap();
    let monitor = tokio::spawn({
        let dealer = dealer.clone();
        async move {
            let mut kinds = Vec::new();
            loop {
                match dealer.read_event().await {
                    Ok(e) => kinds.push(e.kind),
                    Err(e) => {
                        assert!(e == ZmqStreamClosed, "{e}");
                        return kinds;
                    }
                }
            }
        }
    });
    within("connect", dealer.transport().connect(&addr))
        .await
        .unwrap();
    for i in 0..3 {
        let m = msg(&["data", "ask", &i.to_string()]);
        dealer.write(m.clone()).unwrap();
        let data = read(&router).await;
        router.write(data).unwrap();
        assert_eq!(read(&dealer).await, m);
    }
    router.close();
    dealer.close();
    let kinds = within("monitor task", monitor).await.unwrap();
    assert!(kinds.contains(&EventKind::Connected), "{kinds:?}");
    assert!(kinds.contains(&EventKind::HandshakeSucceeded), "{kinds:?}");
}

#[tokio::test]
async fn exception_after_a_socket_error() {
    let _panics = support::check_library_panics();
    let rep = Socket::new(SocketType::Rep);
    let ep = within("bind", rep.bind(&inproc("stream-fatal")))
        .await
        .unwrap();
    let s = stream(SocketType::Req, StreamOptions::new().connect(&ep)).await;
    s.write(msg(&["request"])).unwrap();
    assert_eq!(s.write(msg(&["again"])).unwrap_err().kind(), ErrorKind::Fsm);
    let e = within("read", s.read()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fsm);
    assert_eq!(s.exception().map(|e| e.kind()), Some(ErrorKind::Fsm));
    assert_eq!(s.drain().await.unwrap_err().kind(), ErrorKind::Fsm);
    assert_eq!(
        s.read_event().await.unwrap_err().kind(),
        ErrorKind::Fsm,
        "aiozmq would wait for ever here"
    );
    assert!(!s.at_closing(), "ended by an error, not closed");
    support::close(&rep).await;
}

#[tokio::test]
async fn stream_and_sink() {
    let _panics = support::check_library_panics();
    let mut router = stream(
        SocketType::Router,
        StreamOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await;
    let addr = router.transport().bindings()[0].clone();
    let mut dealer = stream(SocketType::Dealer, StreamOptions::new().connect(&addr)).await;

    dealer.send(msg(&["hello"])).await.unwrap();
    dealer.feed(Message::from(["a", "b"])).await.unwrap();
    dealer.feed("c".into()).await.unwrap();
    dealer.flush().await.unwrap();
    assert_eq!(dealer.transport().get_write_buffer_size(), 0);
    for want in [msg(&["hello"]), msg(&["a", "b"]), msg(&["c"])] {
        let mut m = within("next", router.next()).await.unwrap().unwrap();
        let id = m.pop_front().unwrap();
        assert_eq!(m, want);
        m.push_front(id);
        router.send(m).await.unwrap();
        assert_eq!(within("next", dealer.next()).await.unwrap().unwrap(), want);
    }

    // The stream of messages ends when the transport closes.
    let t = router.transport().clone();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while let Some(m) = router.next().await {
            got_tx.send(m.unwrap()).unwrap();
            n += 1;
        }
        assert!(futures_util::stream::FusedStream::is_terminated(&router));
        n
    });
    dealer.send("last".into()).await.unwrap();
    let last = within("the router reads it", got_rx.recv()).await.unwrap();
    assert_eq!(last[1], "last");
    t.close();
    assert_eq!(within("router stream ends", reader).await.unwrap(), 1);

    SinkExt::close(&mut dealer).await.unwrap(); // the Sink's close: closes and waits
    assert!(dealer.next().await.is_none());
    assert!(dealer.transport().is_closing());
}

#[tokio::test]
async fn dropping_the_stream_closes_it() {
    let _panics = support::check_library_panics();
    let s = stream(SocketType::Dealer, StreamOptions::new()).await;
    let t = s.transport().clone();
    drop(s);
    assert!(t.is_closing());
    within("wait_closed", t.wait_closed()).await;
}

#[tokio::test]
async fn cancelled_read_and_read_event_lose_nothing() {
    let _panics = support::check_library_panics();
    let ep = inproc("stream-cancel");
    let s = stream(SocketType::Pull, StreamOptions::new().bind(&ep)).await;
    s.transport().enable_monitor(None).unwrap();
    {
        let mut r = std::pin::pin!(s.read());
        assert!(futures_util::poll!(&mut r).is_pending());
        let mut e = std::pin::pin!(s.read_event());
        assert!(futures_util::poll!(&mut e).is_pending());
    }
    let push = Socket::new(SocketType::Push);
    within("connect", push.connect(&ep)).await.unwrap();
    within("send", push.send("kept")).await.unwrap();
    assert_eq!(read(&s).await, Message::from("kept"));
    let e = within("read_event", s.read_event()).await.unwrap();
    assert_eq!(e.endpoint, ep);
    s.close();
    support::close(&push).await;
}

#[tokio::test]
async fn cancelled_create_zmq_stream_closes_the_socket() {
    let _panics = support::check_library_panics();
    let sock = Arc::new(Socket::new(SocketType::Router));
    {
        let mut create = std::pin::pin!(create_zmq_stream(
            SocketType::Router,
            StreamOptions::new()
                .zmq_sock(sock.clone())
                .bind("tcp://localhost:*"),
        ));
        assert!(futures_util::poll!(&mut create).is_pending());
    }
    eventually("the socket is closed", || {
        sock.try_recv()
            .is_err_and(|e| e.kind() == ErrorKind::Closed)
    })
    .await;
}

#[tokio::test]
async fn cancelled_wait_closed_can_be_awaited_again() {
    let _panics = support::check_library_panics();
    let ep = inproc("stream-wait");
    let s = stream(SocketType::Dealer, StreamOptions::new().connect(&ep)).await;
    s.transport().setsockopt(opt::SNDHWM, 1).unwrap();
    for _ in 0..3 {
        s.write(msg(&["x"])).unwrap();
    }
    s.close();
    {
        let mut wait = std::pin::pin!(s.wait_closed());
        assert!(futures_util::poll!(&mut wait).is_pending());
    }
    let router = Socket::new(SocketType::Router);
    within("bind", router.bind(&ep)).await.unwrap();
    within("wait_closed", s.wait_closed()).await;
    support::close(&router).await;
}

#[tokio::test]
async fn req_rep_streams() {
    let _panics = support::check_library_panics();
    // REQ cannot receive before a request and REP not before its reply (libzmq reports no
    // POLLIN then); the transports wait instead of failing.
    let rep = stream(
        SocketType::Rep,
        StreamOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await;
    let addr = rep.transport().bindings()[0].clone();
    let req = stream(SocketType::Req, StreamOptions::new().connect(&addr)).await;
    for i in 0..5 {
        req.write(msg(&["request", &i.to_string()])).unwrap();
        let request = read(&rep).await;
        assert_eq!(request, msg(&["request", &i.to_string()]));
        rep.write(msg(&["reply", &i.to_string()])).unwrap();
        assert_eq!(read(&req).await, msg(&["reply", &i.to_string()]));
    }
    assert!(req.exception().is_none() && rep.exception().is_none());
    req.close();
    rep.close();
    within("wait_closed", req.wait_closed()).await;
    within("wait_closed", rep.wait_closed()).await;
}

#[tokio::test]
async fn pub_sub_and_push_pull_streams() {
    let _panics = support::check_library_panics();
    let ep = inproc("stream-pubsub");
    let publisher = stream(SocketType::Pub, StreamOptions::new().bind(&ep)).await;
    let subscriber = stream(SocketType::Sub, StreamOptions::new().connect(&ep)).await;
    subscriber.transport().subscribe("topic").unwrap();
    // The subscription reaches the publisher in the background: publish until it counts.
    let got = loop {
        publisher.write(msg(&["topic", "payload"])).unwrap();
        publisher.write(msg(&["other", "payload"])).unwrap();
        if let Ok(m) =
            tokio::time::timeout(std::time::Duration::from_millis(10), subscriber.read()).await
        {
            break m.unwrap();
        }
    };
    assert_eq!(got, msg(&["topic", "payload"]));
    assert!(
        !publisher.transport().is_closing(),
        "a PUB transport does not read"
    );
    assert!(publisher.exception().is_none());

    let ep = inproc("stream-pushpull");
    let pull = stream(SocketType::Pull, StreamOptions::new().bind(&ep)).await;
    let push = stream(SocketType::Push, StreamOptions::new().connect(&ep)).await;
    for i in 0..3 {
        push.write(msg(&[&i.to_string()])).unwrap();
    }
    for i in 0..3 {
        assert_eq!(read(&pull).await, msg(&[&i.to_string()]));
    }
    assert!(push.exception().is_none() && !push.transport().is_closing());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_and_a_draining_writer() {
    let _panics = support::check_library_panics();
    use std::sync::atomic::{AtomicUsize, Ordering};
    let ep = inproc("stream-mt");
    let pull = Arc::new(
        stream(
            SocketType::Pull,
            StreamOptions::new().bind(&ep).high_read(64).low_read(16),
        )
        .await,
    );
    let push = stream(
        SocketType::Push,
        StreamOptions::new()
            .connect(&ep)
            .high_write(64)
            .low_write(16),
    )
    .await;
    push.transport().setsockopt(opt::SNDHWM, 2).unwrap();
    const N: usize = 3000;
    let count = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let pull = pull.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    match pull.read().await {
                        Ok(m) => {
                            got.push(String::from_utf8(m[0].to_vec()).unwrap());
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) if e == ZmqStreamClosed => return got,
                        Err(e) => panic!("read: {e}"),
                    }
                }
            })
        })
        .collect();
    for i in 0..N {
        push.write(msg(&[&format!("{i:06}")])).unwrap();
        within("drain", push.drain()).await.unwrap();
    }
    eventually("every message read", || count.load(Ordering::SeqCst) == N).await;
    pull.close(); // wakes the readers, which return what they got
    let mut all = Vec::new();
    for r in readers {
        all.extend(within("reader", r).await.unwrap());
    }
    all.sort();
    let want: Vec<String> = (0..N).map(|i| format!("{i:06}")).collect();
    assert_eq!(all, want, "each message read exactly once");
    push.close();
}
