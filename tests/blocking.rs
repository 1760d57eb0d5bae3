//! The blocking API (`aiozmq::blocking`), from plain `#[test]` functions with no runtime
//! of their own. Every wait is bounded: RCVTIMEO/SNDTIMEO on the sockets, deadlines on
//! polls and loops, and closes bounded by LINGER.

mod support;

use aiozmq::blocking::{poll, Socket, POLLIN, POLLOUT};
use aiozmq::{ErrorKind, Message, SocketType};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// RCVTIMEO for receives that must succeed: a lost message fails the test instead of
/// hanging it.
const OP_TIMEOUT_MS: i32 = 10_000;

/// What a timing assertion allows beyond the timeout (a loaded machine is slow).
const SLACK: Duration = Duration::from_secs(5);

/// LINGER plus what a close may take beyond it.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A socket whose receives and sends fail after [`OP_TIMEOUT_MS`] instead of hanging.
fn socket(t: SocketType) -> Socket {
    let s = Socket::new(t);
    s.set_rcvtimeo(OP_TIMEOUT_MS).unwrap();
    s.set_sndtimeo(OP_TIMEOUT_MS).unwrap();
    s
}

/// Closes `s`, failing when it takes longer than LINGER plus [`CLOSE_GRACE`].
fn close(s: &Socket) {
    let limit = s.linger() + CLOSE_GRACE;
    let t0 = Instant::now();
    s.close().unwrap();
    assert!(
        t0.elapsed() <= limit,
        "close of a {:?} socket took {:?} (limit {limit:?})",
        s.socket_type(),
        t0.elapsed()
    );
}

fn frames(m: &Message) -> Vec<Vec<u8>> {
    m.iter().map(|f| f.to_vec()).collect()
}

/// A unique inproc endpoint for this test.
fn inproc(tag: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://blocking-{tag}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn req_rep_round_trip(endpoint: &str) {
    let rep = socket(SocketType::Rep);
    let bound = rep.bind(endpoint).unwrap();
    let req = socket(SocketType::Req);
    req.connect(&bound).unwrap();
    for i in 0..20u32 {
        req.send_multipart([format!("hello {i}"), "two".to_string()])
            .unwrap();
        let request = rep.recv().unwrap();
        assert_eq!(
            frames(&request),
            [format!("hello {i}").into_bytes(), b"two".to_vec()]
        );
        rep.send(format!("world {i}")).unwrap();
        let reply = req.recv_multipart().unwrap();
        assert_eq!(reply, [format!("world {i}")]);
    }
    close(&req);
    close(&rep);
}

#[test]
fn req_rep_round_trip_over_tcp() {
    let _panics = support::check_library_panics();
    req_rep_round_trip("tcp://127.0.0.1:*");
}

#[test]
fn req_rep_round_trip_over_inproc() {
    let _panics = support::check_library_panics();
    req_rep_round_trip(&inproc("reqrep"));
}

#[test]
fn pub_sub_delivers_only_the_subscribed_topic() {
    let _panics = support::check_library_panics();
    let publisher = socket(SocketType::Pub);
    let endpoint = publisher.bind("tcp://127.0.0.1:*").unwrap();
    let subscriber = socket(SocketType::Sub);
    subscriber.subscribe("weather").unwrap();
    subscriber.connect(&endpoint).unwrap();
    // The subscription reaches the publisher some time after the connection: publish
    // until one message comes through.
    subscriber.set_rcvtimeo(20).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        publisher.send("weather sync").unwrap();
        match subscriber.recv() {
            Ok(m) => {
                assert_eq!(frames(&m), [b"weather sync".to_vec()]);
                break;
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}"),
        }
        assert!(
            Instant::now() < deadline,
            "no subscribed message within 10 s"
        );
    }
    subscriber.set_rcvtimeo(OP_TIMEOUT_MS).unwrap();
    publisher.send("traffic jam").unwrap();
    publisher.send(["weather", "sunny"]).unwrap();
    // One connection keeps the order: a "traffic" message that passed the filter would
    // come before the last one.
    loop {
        let m = subscriber.recv().unwrap();
        match frames(&m).as_slice() {
            [sync] if sync == b"weather sync" => continue,
            [topic, body] => {
                assert_eq!((&topic[..], &body[..]), (&b"weather"[..], &b"sunny"[..]));
                break;
            }
            other => panic!("unexpected message {other:?}"),
        }
    }
    close(&subscriber);
    close(&publisher);
}

#[test]
fn rcvtimeo_expires_after_about_its_value() {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&inproc("rcvtimeo")).unwrap();
    pull.set_rcvtimeo(200).unwrap();
    assert_eq!(pull.rcvtimeo(), 200);
    let t0 = Instant::now();
    let e = pull.recv().unwrap_err();
    let took = t0.elapsed();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(
        took >= Duration::from_millis(200),
        "returned after {took:?}"
    );
    assert!(
        took < Duration::from_millis(200) + SLACK,
        "returned after {took:?}"
    );
    close(&pull);
}

#[test]
fn zero_rcvtimeo_returns_eagain_at_once() {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&inproc("eagain")).unwrap();
    pull.set_rcvtimeo(0).unwrap();
    let t0 = Instant::now();
    let e = pull.recv().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Again, "{e}");
    assert_eq!(pull.try_recv().unwrap_err().kind(), ErrorKind::Again);
    assert!(t0.elapsed() < SLACK, "took {:?}", t0.elapsed());
    assert_eq!(
        pull.set_rcvtimeo(-2).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    close(&pull);
}

#[test]
fn sndtimeo_expires_on_a_full_hwm() {
    let _panics = support::check_library_panics();
    // A peer that never connects: its queue holds SNDHWM messages, then sends wait.
    let nobody = support::UnboundIpc::new("sndtimeo");
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(1).unwrap();
    push.set_linger(Duration::ZERO).unwrap();
    push.connect(&nobody.endpoint).unwrap();
    push.send("fills the queue").unwrap();
    assert_eq!(push.events().unwrap(), aiozmq::PollEvents::empty());

    push.set_sndtimeo(0).unwrap();
    let e = push.send("no room").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Again, "{e}");
    let back = push.try_send("no room either").unwrap_err();
    assert_eq!(back.error.kind(), ErrorKind::Again);
    assert_eq!(frames(&back.message), [b"no room either".to_vec()]);

    push.set_sndtimeo(200).unwrap();
    let t0 = Instant::now();
    let e = push.send("no room").unwrap_err();
    let took = t0.elapsed();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(
        took >= Duration::from_millis(200),
        "returned after {took:?}"
    );
    assert!(
        took < Duration::from_millis(200) + SLACK,
        "returned after {took:?}"
    );
    close(&push);
}

#[test]
fn poll_reports_exactly_the_ready_sockets() {
    let _panics = support::check_library_panics();
    let pulls: Vec<Socket> = (0..3).map(|_| socket(SocketType::Pull)).collect();
    let pushes: Vec<Socket> = (0..3).map(|_| socket(SocketType::Push)).collect();
    for (pull, push) in pulls.iter().zip(&pushes) {
        let ep = pull.bind(&inproc("poll")).unwrap();
        push.connect(&ep).unwrap();
    }

    // Nothing to receive: the poll times out after about its timeout.
    let mut items: Vec<_> = pulls.iter().map(|p| p.as_poll_item(POLLIN)).collect();
    let t0 = Instant::now();
    assert_eq!(poll(&mut items, 150).unwrap(), 0);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(150),
        "returned after {took:?}"
    );
    assert!(
        took < Duration::from_millis(150) + SLACK,
        "returned after {took:?}"
    );
    assert!(items.iter().all(|i| i.revents().is_empty()));

    pushes[0].send("to 0").unwrap();
    pushes[2].send("to 2").unwrap();
    // Wait for each delivery with a one-item poll, then look at all three.
    for i in [0, 2] {
        let mut one = [pulls[i].as_poll_item(POLLIN)];
        assert_eq!(
            poll(&mut one, 10_000).unwrap(),
            1,
            "socket {i} not readable"
        );
    }
    let mut items: Vec<_> = pulls.iter().map(|p| p.as_poll_item(POLLIN)).collect();
    assert_eq!(poll(&mut items, 0).unwrap(), 2);
    let readable: Vec<bool> = items.iter().map(|i| i.is_readable()).collect();
    assert_eq!(readable, [true, false, true]);
    assert_eq!(frames(&pulls[0].try_recv().unwrap()), [b"to 0".to_vec()]);
    assert_eq!(frames(&pulls[2].try_recv().unwrap()), [b"to 2".to_vec()]);

    // A poll that is already waiting wakes for the one socket that becomes readable.
    std::thread::scope(|s| {
        s.spawn(|| pushes[1].send("to 1").unwrap());
        let mut items: Vec<_> = pulls.iter().map(|p| p.as_poll_item(POLLIN)).collect();
        assert_eq!(poll(&mut items, 10_000).unwrap(), 1);
        let readable: Vec<bool> = items.iter().map(|i| i.is_readable()).collect();
        assert_eq!(readable, [false, true, false]);
    });
    assert_eq!(frames(&pulls[1].recv().unwrap()), [b"to 1".to_vec()]);

    for s in pulls.iter().chain(&pushes) {
        close(s);
    }
}

#[test]
fn poll_reports_pollout_as_libzmq() {
    let _panics = support::check_library_panics();
    let rep = socket(SocketType::Rep);
    let ep = rep.bind(&inproc("pollout")).unwrap();
    let req = socket(SocketType::Req);
    req.connect(&ep).unwrap();
    // A REQ owing nothing can send; a REP owing nothing cannot.
    let mut items = [
        req.as_poll_item(POLLIN | POLLOUT),
        rep.as_poll_item(POLLIN | POLLOUT),
    ];
    assert_eq!(poll(&mut items, 0).unwrap(), 1);
    assert_eq!(items[0].revents(), POLLOUT);
    assert!(items[1].revents().is_empty());
    req.send("ask").unwrap();
    // The REP becomes readable; the REQ, owing a reply, is neither.
    let mut items = [rep.as_poll_item(POLLIN)];
    assert_eq!(poll(&mut items, 10_000).unwrap(), 1);
    assert_eq!(req.events().unwrap(), aiozmq::PollEvents::empty());
    rep.recv().unwrap();
    assert_eq!(rep.events().unwrap(), POLLOUT);
    rep.send("answer").unwrap();
    let mut items = [req.as_poll_item(POLLIN)];
    assert_eq!(poll(&mut items, 10_000).unwrap(), 1);
    assert_eq!(req.events().unwrap(), POLLIN);
    req.recv().unwrap();
    assert_eq!(req.events().unwrap(), POLLOUT);
    close(&req);
    close(&rep);
}

#[test]
fn poll_without_events_or_timeout_is_refused_and_closed_sockets_fail() {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    let mut items = [pull.as_poll_item(aiozmq::PollEvents::empty())];
    assert_eq!(
        poll(&mut items, -1).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    close(&pull);
    let mut items = [pull.as_poll_item(POLLIN)];
    assert_eq!(poll(&mut items, 0).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(pull.recv().unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn close_with_linger_returns_after_linger() {
    let _panics = support::check_library_panics();
    // A queued message for a peer that never comes: close waits LINGER for it, no more.
    let nobody = support::UnboundIpc::new("linger");
    let push = Socket::new(SocketType::Push);
    push.set_linger(Duration::from_millis(300)).unwrap();
    push.connect(&nobody.endpoint).unwrap();
    push.send("never delivered").unwrap();
    let t0 = Instant::now();
    close(&push);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "close returned after {took:?}"
    );
    assert!(push.is_closed());
    assert_eq!(push.send("late").unwrap_err().kind(), ErrorKind::Closed);
    // A second close returns at once.
    let t0 = Instant::now();
    push.close().unwrap();
    assert!(t0.elapsed() < SLACK, "second close took {:?}", t0.elapsed());
}

#[test]
fn drop_does_not_wait_for_linger() {
    let _panics = support::check_library_panics();
    let nobody = support::UnboundIpc::new("drop");
    let push = Socket::new(SocketType::Push);
    push.set_linger(Duration::from_secs(60)).unwrap();
    push.connect(&nobody.endpoint).unwrap();
    push.send("never delivered").unwrap();
    let t0 = Instant::now();
    drop(push);
    assert!(t0.elapsed() < SLACK, "drop took {:?}", t0.elapsed());
}

#[test]
fn one_socket_used_from_several_threads() {
    let _panics = support::check_library_panics();
    const SENDERS: usize = 4;
    const EACH: usize = 250;
    let pull = socket(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = socket(SocketType::Push);
    push.connect(&ep).unwrap();
    let received = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let got: Vec<Vec<String>> = std::thread::scope(|s| {
        for t in 0..SENDERS {
            let push = &push;
            s.spawn(move || {
                for i in 0..EACH {
                    push.send(format!("{t}/{i}")).unwrap();
                }
            });
        }
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while received.load(Ordering::SeqCst) < SENDERS * EACH {
                        assert!(Instant::now() < deadline, "messages missing after 30 s");
                        let m = match pull.try_recv() {
                            Ok(m) => m,
                            Err(_) => {
                                let mut items = [pull.as_poll_item(POLLIN)];
                                poll(&mut items, 50).unwrap();
                                continue;
                            }
                        };
                        received.fetch_add(1, Ordering::SeqCst);
                        mine.push(String::from_utf8(m[0].to_vec()).unwrap());
                    }
                    mine
                })
            })
            .collect();
        receivers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let all: Vec<String> = got.into_iter().flatten().collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), SENDERS * EACH);
    assert_eq!(unique.len(), SENDERS * EACH, "a message arrived twice");
    close(&push);
    close(&pull);
}

/// Inside a runtime the calls block the calling thread and never panic (see the module
/// documentation): on a current-thread runtime and on a multi-thread one.
#[test]
fn calls_from_inside_a_tokio_runtime_work() {
    let _panics = support::check_library_panics();
    fn round_trip() {
        req_rep_round_trip(&inproc("in-runtime"));
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { round_trip() });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        round_trip();
        tokio::spawn(async { round_trip() }).await.unwrap();
    });
}

/// Options by libzmq's number reach the same typed options.
#[test]
fn options_by_number() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    s.setsockopt(aiozmq::socket::opt::SNDHWM, 7).unwrap();
    assert_eq!(s.sndhwm(), 7);
    assert_eq!(
        s.getsockopt(aiozmq::socket::opt::SNDHWM).unwrap(),
        aiozmq::socket::OptValue::Int(7)
    );
    s.close().unwrap();
}
