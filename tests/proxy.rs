//! The built-in proxy (`aiozmq::proxy`, `proxy_steerable`) with our own sockets in one
//! process: a ROUTER/DEALER broker between REQ clients and REP workers, the capture socket,
//! steering (PAUSE, RESUME, STATISTICS, TERMINATE, unknown commands) over REP and ROUTER
//! control sockets, REQ/REP alternation, the same socket on both sides, backpressure,
//! cancellation, an XSUB/XPUB forwarder, runs of queued messages and their statistics, the
//! up-front checks. The `aiozmq proxy`
//! command-line tool has its tests in the CLI package (`cli/tests/cli_proxy.rs`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use aiozmq::{proxy, proxy_steerable, ErrorKind, Message, ProxyStatistics, Socket, SocketType};
use bytes::Bytes;
use support::broker::{client_id, expect_empty_reply, request_body, spawn_workers, statistics};
use support::{bind_any, connect, frames, msg, recv, send, OP_TIMEOUT};
use tokio::task::JoinHandle;

/// How long a test waits to see that a message does NOT arrive (absence is the property).
const QUIET: Duration = Duration::from_millis(300);

fn socket(t: SocketType) -> Arc<Socket> {
    Arc::new(Socket::new(t))
}

/// Runs `proxy_steerable` in a task over shared sockets.
fn spawn_proxy(
    frontend: &Arc<Socket>,
    backend: &Arc<Socket>,
    capture: Option<&Arc<Socket>>,
    control: Option<&Arc<Socket>>,
) -> JoinHandle<aiozmq::Result<()>> {
    let (f, b) = (frontend.clone(), backend.clone());
    let (cap, ctl) = (capture.cloned(), control.cloned());
    tokio::spawn(async move { proxy_steerable(&f, &b, cap.as_deref(), ctl.as_deref()).await })
}

/// Waits (bounded) for the proxy task to end and returns its result.
async fn proxy_result(task: JoinHandle<aiozmq::Result<()>>) -> aiozmq::Result<()> {
    match tokio::time::timeout(OP_TIMEOUT, task).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => panic!("the proxy task panicked: {e}"),
        Err(_) => panic!("the proxy did not end within {OP_TIMEOUT:?}"),
    }
}

/// Fails if `s` receives anything within [`QUIET`].
async fn expect_nothing(s: &Socket, what: &str) {
    if let Ok(r) = tokio::time::timeout(QUIET, s.recv()).await {
        panic!("{what}: expected no message, got {r:?}");
    }
}

/// 10 REQ clients x 10 requests through a ROUTER/DEALER broker to 3 REP workers; every
/// reply matches its request; STATISTICS counts are exact (message parts, as libzmq 4.3.5
/// counts them: routing id, delimiter and body are 3); TERMINATE ends the proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_req_rep_ten_clients_ten_requests() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Router);
    let backend = socket(SocketType::Dealer);
    let control = socket(SocketType::Rep);
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let control_ep = bind_any(&control).await;
    let task = spawn_proxy(&frontend, &backend, None, Some(&control));
    let workers = spawn_workers(&back_ep, 3);

    let clients: Vec<_> = (0..10)
        .map(|i| {
            let ep = front_ep.clone();
            tokio::spawn(async move {
                let req = Socket::new(SocketType::Req);
                req.set_routing_id(client_id(i)).unwrap();
                connect(&req, &ep).await;
                for j in 0..10 {
                    let body = request_body(i, j);
                    send(&req, body.clone(), "client request").await;
                    let reply = recv(&req, "client reply").await;
                    assert_eq!(
                        frames(&reply),
                        vec![format!("ok:{body}").into_bytes()],
                        "reply to client {i} request {j}"
                    );
                }
                support::close(&req).await;
            })
        })
        .collect();
    for c in clients {
        tokio::time::timeout(OP_TIMEOUT * 3, c)
            .await
            .expect("clients finish")
            .expect("client task");
    }

    let ctl = Socket::new(SocketType::Req);
    connect(&ctl, &control_ep).await;
    let (mut req_bytes, mut rep_bytes) = (0u64, 0u64);
    for i in 0..10 {
        for j in 0..10 {
            let rid = client_id(i).len() as u64;
            req_bytes += rid + request_body(i, j).len() as u64;
            rep_bytes += rid + 3 + request_body(i, j).len() as u64;
        }
    }
    assert_eq!(
        statistics(&ctl).await,
        ProxyStatistics {
            frontend_messages_in: 300,
            frontend_bytes_in: req_bytes,
            frontend_messages_out: 300,
            frontend_bytes_out: rep_bytes,
            backend_messages_in: 300,
            backend_bytes_in: rep_bytes,
            backend_messages_out: 300,
            backend_bytes_out: req_bytes,
        }
    );
    expect_empty_reply(&ctl, "TERMINATE").await;
    proxy_result(task).await.expect("TERMINATE returns Ok");
    for w in workers {
        w.abort();
    }
}

/// Every message forwarded either way reaches the capture socket, frames intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_gets_every_forwarded_message() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Router);
    let backend = socket(SocketType::Dealer);
    let capture = socket(SocketType::Push);
    let tap = Socket::new(SocketType::Pull);
    // The capture socket connects: its peer exists at once, so no copy is dropped while
    // the connection is being made (copies are sent with try_send).
    let tap_ep = bind_any(&tap).await;
    connect(&capture, &tap_ep).await;
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let task = spawn_proxy(&frontend, &backend, Some(&capture), None);
    let workers = spawn_workers(&back_ep, 2);

    let mut expected = Vec::new();
    for i in 0..4 {
        let req = Socket::new(SocketType::Req);
        req.set_routing_id(client_id(i)).unwrap();
        connect(&req, &front_ep).await;
        for j in 0..5 {
            let body = request_body(i, j);
            send(&req, body.clone(), "request").await;
            let reply = recv(&req, "reply").await;
            assert_eq!(&reply[0][..], format!("ok:{body}").as_bytes());
            let rid = client_id(i).into_bytes();
            expected.push(vec![rid.clone(), vec![], body.clone().into_bytes()]);
            expected.push(vec![rid, vec![], format!("ok:{body}").into_bytes()]);
        }
        support::close(&req).await;
    }
    let mut captured = Vec::new();
    for _ in 0..expected.len() {
        captured.push(frames(&recv(&tap, "capture copy").await));
    }
    expected.sort();
    captured.sort();
    assert_eq!(captured, expected);
    expect_nothing(&tap, "capture after the last message").await;
    task.abort();
    for w in workers {
        w.abort();
    }
}

/// PUSH -> [PULL | PUSH] -> PULL with a REP control socket: PAUSE stops the flow (and
/// nothing is taken from the frontend), RESUME restarts it, STATISTICS is exact, an unknown
/// command is ignored but answered, TERMINATE ends the proxy with Ok.
#[tokio::test]
async fn steering_over_rep_control() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Pull);
    let backend = socket(SocketType::Push);
    let control = socket(SocketType::Rep);
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let control_ep = bind_any(&control).await;
    let task = spawn_proxy(&frontend, &backend, None, Some(&control));

    let producer = Socket::new(SocketType::Push);
    connect(&producer, &front_ep).await;
    let consumer = Socket::new(SocketType::Pull);
    connect(&consumer, &back_ep).await;
    let ctl = Socket::new(SocketType::Req);
    connect(&ctl, &control_ep).await;

    let m1 = msg(&[b"a", b"bb"]);
    send(&producer, m1.clone(), "m1").await;
    assert_eq!(recv(&consumer, "m1").await, m1);

    expect_empty_reply(&ctl, "PAUSE").await;
    let m2 = msg(&[b"ccc", b"", b"dddd"]);
    send(&producer, m2.clone(), "m2").await;
    expect_nothing(&consumer, "while paused").await;
    // Message parts, as libzmq 4.3.5 counts them: m1 has 2 frames, 3 bytes.
    let one = ProxyStatistics {
        frontend_messages_in: 2,
        frontend_bytes_in: 3,
        backend_messages_out: 2,
        backend_bytes_out: 3,
        ..Default::default()
    };
    assert_eq!(statistics(&ctl).await, one, "while paused, m2 is not taken");
    expect_empty_reply(&ctl, "PAUSE").await; // pausing twice is harmless

    expect_empty_reply(&ctl, "RESUME").await;
    assert_eq!(recv(&consumer, "m2 after RESUME").await, m2);
    let two = ProxyStatistics {
        frontend_messages_in: 5,
        frontend_bytes_in: 10,
        backend_messages_out: 5,
        backend_bytes_out: 10,
        ..Default::default()
    };
    assert_eq!(statistics(&ctl).await, two);

    expect_empty_reply(&ctl, "BOGUS").await;
    expect_empty_reply(&ctl, "pause").await; // commands are case-sensitive, as in libzmq
    let m3 = msg(&[b"e"]);
    send(&producer, m3.clone(), "m3").await;
    assert_eq!(recv(&consumer, "m3 after unknown commands").await, m3);

    expect_empty_reply(&ctl, "TERMINATE").await;
    proxy_result(task).await.expect("TERMINATE returns Ok");
    // The proxy is gone: nothing is forwarded any more, and the sockets are still usable.
    send(&producer, "m4", "m4").await;
    expect_nothing(&consumer, "after TERMINATE").await;
    assert_eq!(
        &recv(&frontend, "m4 left in the frontend").await[0][..],
        b"m4"
    );
}

/// A ROUTER control socket: commands from a DEALER client come with its routing id, the
/// STATISTICS reply goes back to it, and PAUSE/RESUME are not answered (only REP replies
/// to them): the first reply the client gets is the statistics.
#[tokio::test]
async fn steering_over_router_control_replies_to_statistics_only() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Pull);
    let backend = socket(SocketType::Push);
    let control = socket(SocketType::Router);
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let control_ep = bind_any(&control).await;
    let task = spawn_proxy(&frontend, &backend, None, Some(&control));
    let producer = Socket::new(SocketType::Push);
    connect(&producer, &front_ep).await;
    let consumer = Socket::new(SocketType::Pull);
    connect(&consumer, &back_ep).await;
    let ctl = Socket::new(SocketType::Dealer);
    connect(&ctl, &control_ep).await;

    send(&producer, "x", "x").await;
    assert_eq!(&recv(&consumer, "x").await[0][..], b"x");
    send(&ctl, "PAUSE", "PAUSE").await;
    send(&ctl, "RESUME", "RESUME").await;
    send(&ctl, "STATISTICS", "STATISTICS").await;
    let reply = recv(&ctl, "STATISTICS reply").await;
    let stats = ProxyStatistics::from_message(&reply).expect("8 frames of 8 bytes");
    assert_eq!(stats.frontend_messages_in, 1);
    assert_eq!(stats.backend_bytes_out, 1);
    send(&ctl, "TERMINATE", "TERMINATE").await;
    proxy_result(task).await.expect("TERMINATE returns Ok");
    expect_nothing(&ctl, "no reply to TERMINATE on a ROUTER control socket").await;
}

/// The proxy fails with ETERM (Closed) when one of its sockets is closed.
#[tokio::test]
async fn closing_a_socket_ends_the_proxy_with_closed() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Router);
    let backend = socket(SocketType::Dealer);
    let task = {
        let (f, b) = (frontend.clone(), backend.clone());
        tokio::spawn(async move { proxy(&f, &b, None).await })
    };
    support::close(&backend).await;
    let err = proxy_result(task).await.expect_err("the proxy must fail");
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}

/// Combinations that cannot work are refused at once with EINVAL.
#[tokio::test]
async fn impossible_combinations_are_einval() {
    let _panics = support::check_library_panics();
    let s = Socket::new;
    let cases: Vec<(&str, aiozmq::Result<()>)> = vec![
        (
            "PUSH/PUSH: nothing can flow",
            proxy(&s(SocketType::Push), &s(SocketType::Push), None).await,
        ),
        (
            "PUB/PUB",
            proxy(&s(SocketType::Pub), &s(SocketType::Pub), None).await,
        ),
        (
            "SUB capture",
            proxy(
                &s(SocketType::Router),
                &s(SocketType::Dealer),
                Some(&s(SocketType::Sub)),
            )
            .await,
        ),
        (
            "REP capture",
            proxy(
                &s(SocketType::Router),
                &s(SocketType::Dealer),
                Some(&s(SocketType::Rep)),
            )
            .await,
        ),
        (
            "PUB control",
            proxy_steerable(
                &s(SocketType::Router),
                &s(SocketType::Dealer),
                None,
                Some(&s(SocketType::Pub)),
            )
            .await,
        ),
        (
            "REQ/REQ: neither side may start",
            proxy(&s(SocketType::Req), &s(SocketType::Req), None).await,
        ),
        (
            "REP/PUSH: the REP could never reply",
            proxy(&s(SocketType::Rep), &s(SocketType::Push), None).await,
        ),
    ];
    for (what, r) in cases {
        match r {
            Err(e) if e.kind() == ErrorKind::InvalidInput => {}
            other => panic!("{what}: expected EINVAL, got {other:?}"),
        }
    }
}

/// A REP frontend and a REQ backend: the proxy keeps both alternations by taking turns.
#[tokio::test]
async fn rep_frontend_req_backend_take_turns() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Rep);
    let backend = socket(SocketType::Req);
    let front_ep = bind_any(&frontend).await;
    let worker = Socket::new(SocketType::Rep);
    let worker_ep = bind_any(&worker).await;
    connect(&backend, &worker_ep).await;
    let task = spawn_proxy(&frontend, &backend, None, None);
    let client = Socket::new(SocketType::Req);
    connect(&client, &front_ep).await;
    for i in 0..5 {
        let body = format!("q{i}");
        send(&client, body.clone(), "client request").await;
        let got = recv(&worker, "worker request").await;
        assert_eq!(&got[0][..], body.as_bytes());
        send(&worker, format!("a{i}"), "worker reply").await;
        let reply = recv(&client, "client reply").await;
        assert_eq!(&reply[0][..], format!("a{i}").as_bytes());
    }
    assert!(!task.is_finished(), "the proxy must still run");
    task.abort();
}

/// The same ROUTER as frontend and backend: an echo service (only frontend -> backend).
#[tokio::test]
async fn same_socket_on_both_sides_echoes() {
    let _panics = support::check_library_panics();
    let router = socket(SocketType::Router);
    let ep = bind_any(&router).await;
    let task = {
        let r = router.clone();
        tokio::spawn(async move { proxy(&r, &r, None).await })
    };
    let dealer = Socket::new(SocketType::Dealer);
    connect(&dealer, &ep).await;
    for i in 0..3 {
        let m = msg(&[format!("hello {i}").as_bytes(), b"", b"x"]);
        send(&dealer, m.clone(), "to the echo").await;
        assert_eq!(recv(&dealer, "echo").await, m);
    }
    task.abort();
}

/// The proxy holds at most one message per direction: when the consumer stops reading,
/// the producer ends up blocked after a bounded number of messages (the HWMs and the TCP
/// buffers), and every message it could send arrives once the consumer reads again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_reaches_the_producer() {
    let _panics = support::check_library_panics();
    const LIMIT: usize = 2000;
    let frontend = socket(SocketType::Pull);
    let backend = socket(SocketType::Push);
    frontend.set_rcvhwm(4).unwrap();
    backend.set_sndhwm(4).unwrap();
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let task = spawn_proxy(&frontend, &backend, None, None);
    let producer = Socket::new(SocketType::Push);
    producer.set_sndhwm(4).unwrap();
    connect(&producer, &front_ep).await;
    let consumer = Socket::new(SocketType::Pull);
    consumer.set_rcvhwm(4).unwrap();
    connect(&consumer, &back_ep).await;

    let payload = Bytes::from(vec![7u8; 256 * 1024]);
    // Blocked is a state, not a send taking long: the producer's send is pending while
    // the producer's queue, the proxy's backend queue and the consumer's queue are each at
    // their HWM, and nothing moves between several observations of it.
    let queues = |s: &Socket| -> (usize, usize) {
        let c = s.counters();
        let q = c.peer_queues.first();
        (q.map_or(0, |q| q.outbound), q.map_or(0, |q| q.inbound))
    };
    let mut sent = 0;
    let mut blocked_state = None;
    while sent < LIMIT {
        let m = Message::from(vec![Bytes::from(sent.to_string()), payload.clone()]);
        let send = producer.send(m);
        tokio::pin!(send);
        let mut ticks = tokio::time::interval(Duration::from_millis(20));
        let mut still = 0;
        let mut last = None;
        let deadline = tokio::time::sleep(OP_TIMEOUT);
        tokio::pin!(deadline);
        let done = loop {
            tokio::select! {
                r = &mut send => { r.expect("send"); break true; }
                _ = ticks.tick() => {
                    let state = (
                        queues(&producer).0,
                        queues(&backend).0,
                        queues(&consumer).1,
                        frontend.counters().messages_in,
                        backend.counters().messages_out,
                    );
                    let full = state.0 == 4 && state.1 == 4 && state.2 == 4;
                    still = if full && last == Some(state) { still + 1 } else { 0 };
                    last = Some(state);
                    if still >= 5 {
                        blocked_state = Some(state);
                        break false;
                    }
                }
                _ = &mut deadline => panic!(
                    "send {sent} neither completed nor blocked with every queue full within \
                     {OP_TIMEOUT:?}\n  producer {:?}\n  frontend {:?}\n  backend {:?}\n  \
                     consumer {:?}",
                    producer.counters(),
                    frontend.counters(),
                    backend.counters(),
                    consumer.counters()
                ),
            }
        };
        if !done {
            break;
        }
        sent += 1;
    }
    assert!(
        sent < LIMIT,
        "the producer was never blocked: the proxy buffers without bound"
    );
    let (_, _, _, forwarded_in, forwarded_out) = blocked_state.expect("blocked");
    assert!(
        forwarded_in <= sent as u64 && forwarded_out <= forwarded_in,
        "the proxy forwarded more than was sent: in {forwarded_in}, out {forwarded_out}, sent {sent}"
    );
    eprintln!("the producer was blocked after {sent} messages");
    for i in 0..sent {
        let Ok(m) = tokio::time::timeout(OP_TIMEOUT, consumer.recv()).await else {
            panic!(
                "drain stalled at message {i} of {sent}\n  producer {:?}\n  frontend {:?}\n  \
                 backend {:?}\n  consumer {:?}",
                producer.counters(),
                frontend.counters(),
                backend.counters(),
                consumer.counters()
            );
        };
        let m = m.expect("recv");
        assert_eq!(
            &m[0][..],
            i.to_string().as_bytes(),
            "order and completeness"
        );
        assert_eq!(m[1].len(), payload.len());
    }
    task.abort();
}

/// Dropping the proxy future stops forwarding and loses nothing still queued in the
/// sockets: a new proxy over the same sockets forwards it.
#[tokio::test]
async fn dropping_the_proxy_keeps_queued_messages() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Pull);
    let backend = socket(SocketType::Push);
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let producer = Socket::new(SocketType::Push);
    connect(&producer, &front_ep).await;
    let consumer = Socket::new(SocketType::Pull);
    connect(&consumer, &back_ep).await;

    let task = spawn_proxy(&frontend, &backend, None, None);
    send(&producer, "one", "one").await;
    assert_eq!(&recv(&consumer, "one").await[0][..], b"one");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    send(&producer, "two", "two").await;
    expect_nothing(&consumer, "with no proxy running").await;
    let task = spawn_proxy(&frontend, &backend, None, None);
    assert_eq!(
        &recv(&consumer, "two, by the second proxy").await[0][..],
        b"two"
    );
    task.abort();
}

/// PUB -> XSUB | proxy | XPUB -> SUB: subscriptions travel upstream (the publisher, an
/// XPUB here so that it can see them, gets `\x01A` and later `\x00A`), data downstream,
/// filtered by topic.
#[tokio::test]
async fn xsub_xpub_forwarder() {
    let _panics = support::check_library_panics();
    let publisher = Socket::new(SocketType::XPub);
    let pub_ep = bind_any(&publisher).await;
    let frontend = socket(SocketType::XSub);
    connect(&frontend, &pub_ep).await;
    let backend = socket(SocketType::XPub);
    let back_ep = bind_any(&backend).await;
    let task = spawn_proxy(&frontend, &backend, None, None);

    let subscriber = Socket::new(SocketType::Sub);
    connect(&subscriber, &back_ep).await;
    subscriber.subscribe("A").unwrap();
    let sub = recv(&publisher, "the subscription, forwarded upstream").await;
    assert_eq!(frames(&sub), vec![b"\x01A".to_vec()]);

    send(&publisher, msg(&[b"A", b"1"]), "A1").await;
    send(&publisher, msg(&[b"B", b"2"]), "B2").await;
    send(&publisher, msg(&[b"A", b"3"]), "A3").await;
    assert_eq!(
        frames(&recv(&subscriber, "A1").await),
        vec![b"A".to_vec(), b"1".to_vec()]
    );
    assert_eq!(
        frames(&recv(&subscriber, "A3 (B2 filtered out)").await),
        vec![b"A".to_vec(), b"3".to_vec()]
    );

    subscriber.unsubscribe("A").unwrap();
    let unsub = recv(&publisher, "the unsubscription, forwarded upstream").await;
    assert_eq!(frames(&unsub), vec![b"\x00A".to_vec()]);
    task.abort();
}

/// The proxy over inproc endpoints (frontend and backend bound, peers in the process).
#[tokio::test]
async fn over_inproc() {
    let _panics = support::check_library_panics();
    let frontend = socket(SocketType::Pull);
    let backend = socket(SocketType::Push);
    frontend.bind("inproc://proxy-test-front").await.unwrap();
    backend.bind("inproc://proxy-test-back").await.unwrap();
    let task = spawn_proxy(&frontend, &backend, None, None);
    let producer = Socket::new(SocketType::Push);
    connect(&producer, "inproc://proxy-test-front").await;
    let consumer = Socket::new(SocketType::Pull);
    connect(&consumer, "inproc://proxy-test-back").await;
    for i in 0..100 {
        send(&producer, msg(&[b"n", i.to_string().as_bytes()]), "send").await;
    }
    for i in 0..100 {
        let m = recv(&consumer, "recv").await;
        assert_eq!(frames(&m), vec![b"n".to_vec(), i.to_string().into_bytes()]);
    }
    task.abort();
}

/// Message `i` of the run tests: its index, then a body whose length depends on it.
fn numbered(i: usize) -> Message {
    Message::from(vec![
        Bytes::from(i.to_string()),
        Bytes::from(vec![1u8; i % 7]),
    ])
}

/// The byte count of `numbered(0..n)`.
fn numbered_bytes(n: usize) -> u64 {
    (0..n).map(|i| numbered(i).byte_len() as u64).sum()
}

/// Receives `numbered(0..n)` on `consumer`, in order.
async fn expect_numbered(consumer: &Socket, n: usize) {
    for i in 0..n {
        let m = recv(consumer, &format!("message {i} of {n}")).await;
        assert_eq!(m, numbered(i), "message {i}: order and content");
    }
}

/// More messages than one run (256) are queued at the frontend before the proxy starts:
/// it forwards them in runs taken with `try_recv`, in order, and counts every part and
/// byte of them in STATISTICS.
#[tokio::test]
async fn queued_messages_go_in_runs_in_order_and_all_counted() {
    let _panics = support::check_library_panics();
    const N: usize = 900;
    let frontend = socket(SocketType::Pull);
    let backend = socket(SocketType::Push);
    let control = socket(SocketType::Rep);
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let control_ep = bind_any(&control).await;
    let producer = Socket::new(SocketType::Push);
    connect(&producer, &front_ep).await;
    for i in 0..N {
        send(&producer, numbered(i), "numbered").await;
    }
    // All of them queued at the frontend (its RCVHWM is 1000) before the proxy runs.
    let deadline = tokio::time::Instant::now() + OP_TIMEOUT;
    loop {
        let queued: usize = frontend
            .counters()
            .peer_queues
            .iter()
            .map(|q| q.inbound)
            .sum();
        if queued == N {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {queued} of {N} messages reached the frontend within {OP_TIMEOUT:?}"
        );
        tokio::task::yield_now().await;
    }
    let consumer = Socket::new(SocketType::Pull);
    connect(&consumer, &back_ep).await;
    let ctl = Socket::new(SocketType::Req);
    connect(&ctl, &control_ep).await;
    let task = spawn_proxy(&frontend, &backend, None, Some(&control));
    expect_numbered(&consumer, N).await;
    let s = statistics(&ctl).await;
    let bytes = numbered_bytes(N);
    let parts = 2 * N as u64;
    assert_eq!(
        s,
        ProxyStatistics {
            frontend_messages_in: parts,
            frontend_bytes_in: bytes,
            backend_messages_out: parts,
            backend_bytes_out: bytes,
            ..Default::default()
        }
    );
    task.abort();
}

/// While the proxy waits for room at the destination (the consumer does not read), the
/// message it holds counts as received and not yet sent, as in libzmq: STATISTICS shows
/// one message (two parts) more in than out. Once the consumer reads, everything arrives
/// in order and the counts meet.
#[tokio::test]
async fn a_message_waiting_for_room_counts_as_received_not_sent() {
    let _panics = support::check_library_panics();
    const N: usize = 600;
    let frontend = socket(SocketType::Pull);
    let backend = socket(SocketType::Push);
    let control = socket(SocketType::Rep);
    backend.set_sndhwm(8).unwrap();
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let control_ep = bind_any(&control).await;
    let consumer = Socket::new(SocketType::Pull);
    consumer.set_rcvhwm(8).unwrap();
    connect(&consumer, &back_ep).await;
    let ctl = Socket::new(SocketType::Req);
    connect(&ctl, &control_ep).await;
    let task = spawn_proxy(&frontend, &backend, None, Some(&control));
    let producer = Arc::new(Socket::new(SocketType::Push));
    connect(&producer, &front_ep).await;
    let p = producer.clone();
    let sender = tokio::spawn(async move {
        for i in 0..N {
            p.send(numbered(i)).await.expect("producer send");
        }
    });
    // The proxy gets stuck with one message in hand once the consumer's queue, the TCP
    // buffers and the backend's queue are full (600 small messages are more than that).
    let deadline = tokio::time::Instant::now() + OP_TIMEOUT;
    let held = loop {
        let s = statistics(&ctl).await;
        if s.backend_messages_out > 0 && s.frontend_messages_in == s.backend_messages_out + 2 {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never one message in hand while waiting for room within {OP_TIMEOUT:?}: {s:?}"
        );
    };
    let forwarded = held.backend_messages_out as usize / 2;
    assert!(
        forwarded < N,
        "the proxy forwarded everything without waiting"
    );
    assert_eq!(held.frontend_bytes_in, numbered_bytes(forwarded + 1));
    assert_eq!(held.backend_bytes_out, numbered_bytes(forwarded));
    expect_numbered(&consumer, N).await;
    tokio::time::timeout(OP_TIMEOUT, sender)
        .await
        .expect("the producer finished")
        .expect("producer task");
    let s = statistics(&ctl).await;
    let parts = 2 * N as u64;
    assert_eq!(
        (s.frontend_messages_in, s.backend_messages_out),
        (parts, parts)
    );
    assert_eq!(s.frontend_bytes_in, numbered_bytes(N));
    assert_eq!(s.backend_bytes_out, numbered_bytes(N));
    task.abort();
}
