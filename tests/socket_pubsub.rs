//! PUB/SUB/XPUB/XSUB, PUSH/PULL and PAIR semantics between our own sockets.

mod support;

use aiozmq::{ErrorKind, Message, Socket, SocketType};
use std::future::Future;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

/// Publishes `probe` until the subscriber sees it (the slow-joiner problem), bounded.
async fn sync_pubsub(publ: &Socket, sub: &Socket, probe: &'static str) {
    within(async {
        loop {
            publ.send(probe).await.unwrap();
            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(20), sub.recv()).await {
                if &m[0][..] == probe.as_bytes() {
                    return;
                }
            }
        }
    })
    .await;
    // Drain duplicates of the probe.
    while let Ok(m) = sub.try_recv() {
        assert_eq!(&m[0][..], probe.as_bytes());
    }
}

#[cfg_attr(
    windows,
    ignore = "late duplicates of the sync probe arrive after the drain under Wine"
)]
#[tokio::test]
async fn prefix_matching_and_duplicates() {
    let _panics = support::check_library_panics();
    let publ = Socket::new(SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:*").await.unwrap();
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("sync").unwrap();
    sub.subscribe("a.").unwrap();
    sub.subscribe("a.").unwrap();
    sub.connect(&ep).await.unwrap();
    sync_pubsub(&publ, &sub, "sync").await;
    for t in ["a.1", "b.1", "a", "a.2"] {
        publ.send([t, "body"]).await.unwrap();
    }
    publ.send("end-marker-not-subscribed").await.unwrap();
    assert_eq!(
        within(sub.recv()).await.unwrap(),
        Message::from(["a.1", "body"])
    );
    assert_eq!(
        within(sub.recv()).await.unwrap(),
        Message::from(["a.2", "body"])
    );
    // One unsubscribe of two: still subscribed.
    sub.unsubscribe("a.").unwrap();
    sub.subscribe("sync2").unwrap();
    sync_pubsub(&publ, &sub, "sync2").await;
    publ.send("a.3").await.unwrap();
    assert_eq!(within(sub.recv()).await.unwrap(), Message::from("a.3"));
    // The second unsubscribe ends it.
    sub.unsubscribe("a.").unwrap();
    sub.subscribe("sync3").unwrap();
    sync_pubsub(&publ, &sub, "sync3").await;
    publ.send("a.4").await.unwrap();
    publ.send("sync3").await.unwrap();
    assert_eq!(within(sub.recv()).await.unwrap(), Message::from("sync3"));
    // Empty subscription matches everything.
    sub.subscribe("").unwrap();
    sync_pubsub(&publ, &sub, "zzz").await;
    publ.send("anything").await.unwrap();
    assert_eq!(within(sub.recv()).await.unwrap(), Message::from("anything"));
    assert_eq!(
        sub.send("x").await.unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(
        publ.recv().await.unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(
        publ.subscribe("x").unwrap_err().kind(),
        ErrorKind::NotSupported
    );
}

#[tokio::test]
async fn slow_subscriber_does_not_stall_others() {
    let _panics = support::check_library_panics();
    let publ = Socket::new(SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:*").await.unwrap();
    let fast = Socket::new(SocketType::Sub);
    fast.subscribe("").unwrap();
    fast.connect(&ep).await.unwrap();
    let slow = Socket::new(SocketType::Sub);
    slow.set_rcvhwm(1).unwrap();
    slow.subscribe("").unwrap();
    slow.connect(&ep).await.unwrap();
    sync_pubsub(&publ, &fast, "sync").await;
    sync_pubsub(&publ, &slow, "sync").await;
    // The slow one never reads again: its queues and the kernel's buffers fill up, then
    // PUB drops its messages. PUB never blocks, and the fast one gets everything.
    let n = 20_000u32;
    let reader = tokio::spawn(async move {
        let mut i = 0u32;
        while i < n {
            let m = within(fast.recv()).await.unwrap();
            if m[0] == "sync" {
                continue;
            }
            assert_eq!(&m[0][..4], &i.to_be_bytes());
            i += 1;
        }
        fast
    });
    for i in 0..n {
        let mut body = vec![0u8; 1024];
        body[..4].copy_from_slice(&i.to_be_bytes());
        within(publ.send(Message::from(body))).await.unwrap();
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let _fast = within(reader).await.unwrap();
    assert!(
        publ.counters().dropped_hwm > 0,
        "the slow subscriber lost messages"
    );
    drop(slow);
}

/// A PUB send never waits (a subscriber at SNDHWM loses the message), so a loop of them
/// must step aside now and then by itself: on a one-thread runtime the connection tasks
/// that carry its messages run only when it does. Without that, nothing reached the
/// subscriber until the loop ended, and all but a queue's worth were dropped.
#[tokio::test]
async fn a_publishing_loop_lets_its_connections_run() {
    let _panics = support::check_library_panics();
    let publ = Socket::new(SocketType::Pub);
    let ep = publ.bind("tcp://127.0.0.1:*").await.unwrap();
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("").unwrap();
    sub.connect(&ep).await.unwrap();
    sync_pubsub(&publ, &sub, "sync").await;
    let got = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = got.clone();
    let reader = tokio::spawn(async move {
        // In order, with gaps only where the PUB dropped at SNDHWM.
        let mut next = 0u32;
        loop {
            let m = sub.recv().await.unwrap();
            if m[0] == "sync" {
                continue;
            }
            let i = u32::from_be_bytes(m[0][..4].try_into().unwrap());
            assert!(i >= next, "message {i} after {next}");
            next = i + 1;
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // Nothing but sends: the loop awaits no other future.
    let n = 20_000u32;
    for i in 0..n {
        within(publ.send(Message::from(i.to_be_bytes().to_vec())))
            .await
            .unwrap();
    }
    let during = got.load(std::sync::atomic::Ordering::Relaxed);
    reader.abort();
    assert!(
        during > 0,
        "no message reached the subscriber while {n} were published"
    );
}

#[tokio::test]
async fn xpub_sees_subscriptions_and_xsub_sends_them() {
    let _panics = support::check_library_panics();
    let xpub = Socket::new(SocketType::XPub);
    let ep = xpub.bind("tcp://127.0.0.1:*").await.unwrap();
    let xsub = Socket::new(SocketType::XSub);
    xsub.connect(&ep).await.unwrap();
    xsub.send(&b"\x01topic"[..]).await.unwrap();
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        Message::from(&b"\x01topic"[..])
    );
    // A second subscriber to the same topic is not reported (not verbose)...
    let sub2 = Socket::new(SocketType::Sub);
    sub2.subscribe("topic").unwrap();
    sub2.subscribe("other").unwrap();
    sub2.connect(&ep).await.unwrap();
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        Message::from(&b"\x01other"[..])
    );
    xpub.send(["topic", "x"]).await.unwrap();
    assert_eq!(
        within(xsub.recv()).await.unwrap(),
        Message::from(["topic", "x"])
    );
    assert_eq!(
        within(sub2.recv()).await.unwrap(),
        Message::from(["topic", "x"])
    );
    // Unsubscribe from the XSUB: the topic still has sub2, nothing reported; when sub2
    // goes, its topics are reported as unsubscribed.
    xsub.send(&b"\x00topic"[..]).await.unwrap();
    drop(sub2);
    let mut got = vec![
        within(xpub.recv()).await.unwrap(),
        within(xpub.recv()).await.unwrap(),
    ];
    got.sort_by(|a, b| a[0].cmp(&b[0]));
    assert_eq!(
        got,
        vec![
            Message::from(&b"\x00other"[..]),
            Message::from(&b"\x00topic"[..])
        ]
    );
}

#[tokio::test]
async fn xpub_verbose_reports_duplicates() {
    let _panics = support::check_library_panics();
    let xpub = Socket::new(SocketType::XPub);
    xpub.set_xpub_verbose(true).unwrap();
    let ep = xpub.bind("tcp://127.0.0.1:*").await.unwrap();
    let a = Socket::new(SocketType::Sub);
    a.subscribe("t").unwrap();
    a.connect(&ep).await.unwrap();
    let b = Socket::new(SocketType::Sub);
    b.subscribe("t").unwrap();
    b.connect(&ep).await.unwrap();
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        Message::from(&b"\x01t"[..])
    );
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        Message::from(&b"\x01t"[..])
    );
}

#[tokio::test]
async fn sub_resubscribes_after_reconnect() {
    let _panics = support::check_library_panics();
    let publ = Socket::new(SocketType::XPub);
    let ep = publ.bind("tcp://127.0.0.1:*").await.unwrap();
    let sub = Socket::new(SocketType::Sub);
    sub.set_reconnect_ivl(Duration::from_millis(10)).unwrap();
    sub.subscribe("news").unwrap();
    sub.connect(&ep).await.unwrap();
    assert_eq!(
        within(publ.recv()).await.unwrap(),
        Message::from(&b"\x01news"[..])
    );
    publ.set_linger(Duration::ZERO).unwrap();
    support::close(&publ).await;
    drop(publ);
    let publ = Socket::new(SocketType::XPub);
    within(async {
        while publ.bind(&ep).await.is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    // The subscription arrives again on the new connection, and messages flow.
    assert_eq!(
        within(publ.recv()).await.unwrap(),
        Message::from(&b"\x01news"[..])
    );
    publ.send("news!").await.unwrap();
    assert_eq!(within(sub.recv()).await.unwrap(), Message::from("news!"));
}

#[tokio::test]
async fn push_round_robin_and_pull_fair_queue() {
    let _panics = support::check_library_panics();
    let push = Socket::new(SocketType::Push);
    let mut pulls = Vec::new();
    for _ in 0..3 {
        let p = Socket::new(SocketType::Pull);
        let ep = p.bind("tcp://127.0.0.1:*").await.unwrap();
        push.connect(&ep).await.unwrap();
        pulls.push(p);
    }
    for i in 0..30 {
        push.send(Message::from(format!("{i}"))).await.unwrap();
    }
    for (k, p) in pulls.iter().enumerate() {
        for j in 0..10 {
            let m = within(p.recv()).await.unwrap();
            assert_eq!(m[0], format!("{}", k + 3 * j).as_bytes());
        }
    }
    assert_eq!(
        push.recv().await.unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(
        pulls[0].send("x").await.unwrap_err().kind(),
        ErrorKind::NotSupported
    );
}

#[tokio::test]
async fn push_blocks_at_hwm() {
    let _panics = support::check_library_panics();
    let (_reserved, ep) = support::refused_tcp_endpoint();
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(5).unwrap();
    push.connect(&ep).await.unwrap();
    for _ in 0..5 {
        push.try_send("x").unwrap();
    }
    assert_eq!(
        push.try_send("x").unwrap_err().error.kind(),
        ErrorKind::Again
    );
    assert_eq!(push.counters().peer_queues.len(), 0, "no live peer yet");
}

#[tokio::test]
async fn pair_is_exclusive() {
    let _panics = support::check_library_panics();
    let a = Socket::new(SocketType::Pair);
    let ep = a.bind("tcp://127.0.0.1:*").await.unwrap();
    let b = Socket::new(SocketType::Pair);
    b.connect(&ep).await.unwrap();
    b.send("from-b").await.unwrap();
    assert_eq!(within(a.recv()).await.unwrap(), Message::from("from-b"));
    let mut mon = a.monitor(64);
    let c = Socket::new(SocketType::Pair);
    c.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    c.connect(&ep).await.unwrap();
    c.send("from-c").await.unwrap();
    // The second connection is accepted by TCP and then closed without a handshake
    // taking effect.
    within(async {
        while let Some(ev) = mon.recv().await {
            if ev.kind == aiozmq::EventKind::Closed {
                break;
            }
        }
    })
    .await;
    a.send("to-b").await.unwrap();
    assert_eq!(within(b.recv()).await.unwrap(), Message::from("to-b"));
    assert!(a.try_recv().is_err());
    assert_eq!(a.counters().peers, 1);
}

#[tokio::test]
async fn conflate_keeps_newest() {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    pull.set_conflate(true).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    push.send("first").await.unwrap();
    assert_eq!(within(pull.recv()).await.unwrap(), Message::from("first"));
    for i in 0..100 {
        push.send(Message::from(format!("{i}"))).await.unwrap();
    }
    push.send("last").await.unwrap();
    // Everything before "last" may be conflated away; "last" always arrives and is final.
    let mut m = within(pull.recv()).await.unwrap();
    while m != Message::from("last") {
        m = within(pull.recv()).await.unwrap();
    }
    assert!(pull.try_recv().is_err());
}

#[tokio::test]
async fn req_relaxed_and_correlate() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.set_req_relaxed(true).unwrap();
    req.set_req_correlate(true).unwrap();
    req.connect(&ep).await.unwrap();
    req.send("q1").await.unwrap();
    let m1 = within(router.recv()).await.unwrap();
    assert_eq!(
        m1.len(),
        4,
        "routing id, request id, delimiter, body: {m1:?}"
    );
    assert_eq!(m1[1].len(), 4);
    assert!(m1[2].is_empty());
    // Relaxed: a second request without waiting.
    req.send("q2").await.unwrap();
    let m2 = within(router.recv()).await.unwrap();
    assert_ne!(m1[1], m2[1]);
    // The stale reply to q1 is dropped; the reply to q2 is accepted.
    router
        .send(
            vec![m1[0].clone(), m1[1].clone(), m1[2].clone(), "r1".into()]
                .into_iter()
                .collect::<Message>(),
        )
        .await
        .unwrap();
    router
        .send(
            vec![m2[0].clone(), m2[1].clone(), m2[2].clone(), "r2".into()]
                .into_iter()
                .collect::<Message>(),
        )
        .await
        .unwrap();
    assert_eq!(within(req.recv()).await.unwrap(), Message::from("r2"));
}

#[tokio::test]
async fn immediate_does_not_queue_to_pending_connections() {
    let _panics = support::check_library_panics();
    let (_reserved, ep) = support::refused_tcp_endpoint();
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_immediate(true).unwrap();
    dealer.connect(&ep).await.unwrap();
    assert_eq!(
        dealer.try_send("x").unwrap_err().error.kind(),
        ErrorKind::Again
    );
}

#[tokio::test]
async fn counters_count() {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    for _ in 0..10 {
        push.send("12345").await.unwrap();
    }
    for _ in 0..10 {
        within(pull.recv()).await.unwrap();
    }
    let c = push.counters();
    assert_eq!((c.messages_out, c.bytes_out), (10, 50));
    let c = pull.counters();
    assert_eq!((c.messages_in, c.bytes_in, c.peers), (10, 50, 1));
}
