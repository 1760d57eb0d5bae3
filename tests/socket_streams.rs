//! The async socket as a `futures` Stream and Sink (`Socket::stream`, `Socket::sink`), the
//! monitor as a Stream, and readiness (`Socket::events`, `Socket::ready`): what they
//! yield, and that dropping their futures loses nothing.

mod support;

use aiozmq::{ErrorKind, EventKind, Message, PollEvents, Socket, SocketType};
use futures_util::{SinkExt, StreamExt};
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;
use support::{close, within};

/// How long the message-flow tests may take in all.
const FLOW_DEADLINE: Duration = Duration::from_secs(60);

fn name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "inproc://streams-{tag}-{}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A PUSH connected to a bound PULL over TCP.
async fn push_pull() -> (Arc<Socket>, Arc<Socket>) {
    let pull = Arc::new(Socket::new(SocketType::Pull));
    let ep = support::bind_any(&pull).await;
    let push = Arc::new(Socket::new(SocketType::Push));
    support::connect(&push, &ep).await;
    (push, pull)
}

fn body(m: &Message) -> String {
    String::from_utf8(m[0].to_vec()).unwrap()
}

#[tokio::test]
async fn stream_next_and_take_over_a_pull() {
    let _panics = support::check_library_panics();
    let (push, pull) = push_pull().await;
    for i in 0..10 {
        support::send(&push, format!("m{i}"), "push").await;
    }
    let mut messages = pull.stream();
    let first = within("next", messages.next()).await.unwrap().unwrap();
    assert_eq!(body(&first), "m0");
    let rest: Vec<String> = within("take(9)", messages.by_ref().take(9).collect::<Vec<_>>())
        .await
        .into_iter()
        .map(|r| body(&r.unwrap()))
        .collect();
    let expected: Vec<String> = (1..10).map(|i| format!("m{i}")).collect();
    assert_eq!(rest, expected);
    // Closing the socket ends the stream.
    close(&pull).await;
    assert!(within("end", messages.next()).await.is_none());
    assert!(futures_core::FusedStream::is_terminated(&messages));
    close(&push).await;
}

#[tokio::test]
async fn stream_yields_receive_errors_and_goes_on() {
    let _panics = support::check_library_panics();
    let push = Arc::new(Socket::new(SocketType::Push));
    let mut s = push.stream();
    let e = within("next", s.next()).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported, "{e}");
    assert!(!futures_core::FusedStream::is_terminated(&s));
    close(&push).await;
    assert!(within("end", s.next()).await.is_none());
}

#[tokio::test]
async fn sink_send_and_send_all_into_a_push() {
    let _panics = support::check_library_panics();
    let (push, pull) = push_pull().await;
    let mut sink = push.sink();
    within("send", sink.send(Message::from("first")))
        .await
        .unwrap();
    let mut more = futures_util::stream::iter((0..50).map(|i| Ok(Message::from(format!("m{i}")))));
    within("send_all", sink.send_all(&mut more)).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..51 {
        got.push(body(&support::recv(&pull, "pull").await));
    }
    let mut expected = vec!["first".to_string()];
    expected.extend((0..50).map(|i| format!("m{i}")));
    assert_eq!(got, expected);
    // Closing the sink flushes it and ends it; the socket stays open.
    within("close", sink.close()).await.unwrap();
    let e = within("send after close", sink.send(Message::from("late")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    assert!(!push.is_closed());
    close(&push).await;
    close(&pull).await;
}

#[tokio::test]
async fn monitor_stream_yields_connected_and_handshake_events() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = support::bind_any(&router).await;
    let dealer = Socket::new(SocketType::Dealer);
    let mut events = dealer.monitor(100);
    support::connect(&dealer, &ep).await;
    let mut seen = Vec::new();
    within("CONNECTED and HANDSHAKE_SUCCEEDED", async {
        while !(seen.contains(&EventKind::Connected)
            && seen.contains(&EventKind::HandshakeSucceeded))
        {
            let ev = events.next().await.expect("the monitor ended early");
            assert_eq!(ev.endpoint, ep);
            seen.push(ev.kind);
        }
    })
    .await;
    let connected = seen.iter().position(|k| *k == EventKind::Connected);
    let handshake = seen
        .iter()
        .position(|k| *k == EventKind::HandshakeSucceeded);
    assert!(connected < handshake, "{seen:?}");
    // Closing the socket ends the stream after MONITOR_STOPPED.
    close(&dealer).await;
    let rest: Vec<EventKind> = within("the end", events.by_ref().collect::<Vec<_>>())
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(rest.last(), Some(&EventKind::MonitorStopped), "{rest:?}");
    assert!(futures_core::FusedStream::is_terminated(&events));
    close(&router).await;
}

/// `select!` drops the stream's `next()` future whenever the other branch wins first,
/// many times while messages flow: every message still arrives exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_next_dropped_in_select_loses_nothing() {
    let _panics = support::check_library_panics();
    const N: usize = 3000;
    let (push, pull) = push_pull().await;
    push.set_sndhwm(10).unwrap();
    pull.set_rcvhwm(10).unwrap();
    let sender = {
        let push = push.clone();
        tokio::spawn(async move {
            for i in 0..N {
                push.send(format!("{i}")).await.unwrap();
                if i % 7 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut messages = pull.stream();
    let mut got = Vec::with_capacity(N);
    let mut dropped = 0usize;
    within("every message", async {
        while got.len() < N {
            tokio::select! {
                m = messages.next() => got.push(body(&m.unwrap().unwrap())),
                _ = tokio::task::yield_now() => dropped += 1,
            }
        }
    })
    .await;
    let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(got, expected);
    assert!(dropped > 0, "the next() future was never dropped");
    within("sender", sender).await.unwrap();
    // Nothing more was delivered than was sent.
    assert_eq!(pull.try_recv().unwrap_err().kind(), ErrorKind::Again);
    close(&push).await;
    close(&pull).await;
}

/// `select!` drops the sink's `poll_ready` future whenever the other branch wins first,
/// while the sink waits for room: every message accepted by `start_send` arrives exactly
/// once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_ready_dropped_in_select_loses_nothing() {
    let _panics = support::check_library_panics();
    const N: usize = 2000;
    let (push, pull) = push_pull().await;
    push.set_sndhwm(2).unwrap();
    pull.set_rcvhwm(2).unwrap();
    let receiver = {
        let pull = pull.clone();
        tokio::spawn(async move {
            let mut got = Vec::with_capacity(N);
            for _ in 0..N {
                got.push(body(&pull.recv().await.unwrap()));
            }
            got
        })
    };
    let mut sink = push.sink();
    let mut next = 0usize;
    let mut dropped = 0usize;
    within("every message sent", async {
        while next < N {
            tokio::select! {
                r = poll_fn(|cx| sink.poll_ready_unpin(cx)) => {
                    r.unwrap();
                    sink.start_send_unpin(Message::from(next.to_string())).unwrap();
                    next += 1;
                }
                _ = tokio::task::yield_now() => dropped += 1,
            }
        }
        sink.flush().await.unwrap();
    })
    .await;
    let got = tokio::time::timeout(FLOW_DEADLINE, receiver)
        .await
        .expect("the receiver did not get every message")
        .unwrap();
    let expected: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(got, expected);
    assert!(dropped > 0, "the poll_ready future was never dropped");
    close(&push).await;
    close(&pull).await;
}

#[tokio::test]
async fn ready_waits_without_taking_and_is_cancel_safe() {
    let _panics = support::check_library_panics();
    let ep = name("ready");
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&ep).await.unwrap();
    let push = Socket::new(SocketType::Push);
    assert_eq!(push.events().unwrap(), PollEvents::empty(), "no peer yet");
    push.connect(&ep).await.unwrap();
    assert_eq!(
        within("push writable", push.ready(PollEvents::POLLOUT))
            .await
            .unwrap(),
        PollEvents::POLLOUT
    );
    // Nothing to read: a dropped wait takes nothing and leaves nothing behind.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), pull.ready(PollEvents::POLLIN))
            .await
            .is_err()
    );
    push.send("one").await.unwrap();
    assert_eq!(
        within(
            "pull readable",
            pull.ready(PollEvents::POLLIN | PollEvents::POLLOUT)
        )
        .await
        .unwrap(),
        PollEvents::POLLIN
    );
    // Looking twice takes nothing.
    assert_eq!(pull.events().unwrap(), PollEvents::POLLIN);
    assert_eq!(pull.try_recv().unwrap(), Message::from("one"));
    assert_eq!(pull.events().unwrap(), PollEvents::empty());
    close(&push).await;
    close(&pull).await;
    assert_eq!(pull.events().unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(
        within("closed", pull.ready(PollEvents::POLLIN))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Closed
    );
}

/// A REP's own receive makes it writable without any delivery: a `ready` waiting in
/// another task is woken all the same.
#[tokio::test]
async fn ready_sees_the_sockets_own_req_rep_turns() {
    let _panics = support::check_library_panics();
    let ep = name("turns");
    let rep = Arc::new(Socket::new(SocketType::Rep));
    rep.bind(&ep).await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.connect(&ep).await.unwrap();
    let waiter = {
        let rep = rep.clone();
        tokio::spawn(async move { rep.ready(PollEvents::POLLOUT).await })
    };
    req.send("ask").await.unwrap();
    assert_eq!(support::recv(&rep, "rep").await, Message::from("ask"));
    let ready = within("REP writable", waiter).await.unwrap().unwrap();
    assert_eq!(ready, PollEvents::POLLOUT);
    close(&req).await;
    close(&rep).await;
}

/// What `events` reports for each socket type before any peer, as libzmq: the types that
/// drop what they cannot queue are always writable, the others wait for a peer with room,
/// and receive-only or send-only types never report the other direction.
#[test]
fn events_follow_libzmq_per_socket_type() {
    let _panics = support::check_library_panics();
    let expect = [
        (SocketType::Pub, PollEvents::POLLOUT),
        (SocketType::XPub, PollEvents::POLLOUT),
        (SocketType::XSub, PollEvents::POLLOUT),
        (SocketType::Router, PollEvents::POLLOUT),
        (SocketType::Sub, PollEvents::empty()),
        (SocketType::Pull, PollEvents::empty()),
        (SocketType::Push, PollEvents::empty()),
        (SocketType::Dealer, PollEvents::empty()),
        (SocketType::Pair, PollEvents::empty()),
        (SocketType::Req, PollEvents::empty()),
        (SocketType::Rep, PollEvents::empty()),
    ];
    for (t, events) in expect {
        assert_eq!(Socket::new(t).events().unwrap(), events, "{t:?}");
    }
    // ROUTER_MANDATORY: writable only when some peer has room.
    let router = Socket::new(SocketType::Router);
    router.set_router_mandatory(true).unwrap();
    assert_eq!(router.events().unwrap(), PollEvents::empty());
}

/// With REQ_CORRELATE, the REQ is readable only once the reply to its request is there.
#[tokio::test]
async fn events_of_a_correlating_req() {
    let _panics = support::check_library_panics();
    let ep = name("correlate");
    let rep = Socket::new(SocketType::Rep);
    rep.bind(&ep).await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.set_req_correlate(true).unwrap();
    req.set_req_relaxed(true).unwrap();
    req.connect(&ep).await.unwrap();
    req.send("first").await.unwrap();
    assert_eq!(
        req.events().unwrap(),
        PollEvents::POLLOUT,
        "relaxed: writable"
    );
    assert_eq!(support::recv(&rep, "rep").await, Message::from("first"));
    rep.send("answer").await.unwrap();
    assert_eq!(
        within("REQ readable", req.ready(PollEvents::POLLIN))
            .await
            .unwrap(),
        PollEvents::POLLIN
    );
    assert_eq!(support::recv(&req, "req").await, Message::from("answer"));
    assert_eq!(req.events().unwrap(), PollEvents::POLLOUT);
    close(&req).await;
    close(&rep).await;
}
