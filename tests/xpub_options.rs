//! The XPUB/XSUB options of libzmq 4.3.5: XPUB_VERBOSER, XPUB_MANUAL,
//! XPUB_MANUAL_LAST_VALUE, XPUB_WELCOME_MSG, XPUB_NODROP, INVERT_MATCHING,
//! XSUB_VERBOSE_UNSUBSCRIBE and TOPICS_COUNT, between our own sockets (a mock peer where
//! only raw bytes show what was sent) and against libzmq (pyzmq running `interop/peer.py`;
//! its release build refuses to set the draft options, so libzmq plays the other side).
//!
//! Slow joiners are never raced: a publisher waits for the subscription message itself on
//! an XPUB, or for the peer's `SYNCED`, before it publishes what is checked.

mod support;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aiozmq::socket::opt;
use aiozmq::zmtp::Command;
use aiozmq::{ErrorKind, EventKind, Message, Socket, SocketType};
use bytes::Bytes;
use support::mock::MockPeer;
use support::python::{PeerMessage, PyPeer};
use support::{bind_any, connect, frames, msg, recv, send, OP_TIMEOUT};

fn v(frames: &[&[u8]]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.to_vec()).collect()
}

/// Expects `s` (an XPUB) to receive exactly the one-frame message `want` next.
async fn expect_sub(s: &Socket, want: &[u8]) {
    let m = recv(s, "XPUB subscription message").await;
    assert_eq!(frames(&m), v(&[want]), "next message on the XPUB");
}

/// A SUB subscribed to `topics`, connected to `ep`.
async fn sub(ep: &str, topics: &[&str]) -> Socket {
    let s = Socket::new(SocketType::Sub);
    for t in topics {
        s.subscribe(Bytes::copy_from_slice(t.as_bytes())).unwrap();
    }
    connect(&s, ep).await;
    s
}

async fn expect_msg(s: &Socket, want: &[u8], what: &str) {
    assert_eq!(frames(&recv(s, what).await), v(&[want]), "{what}");
}

// ----- XPUB_VERBOSE / XPUB_VERBOSER ----------------------------------------------------

#[tokio::test]
async fn xpub_verboser_reports_every_unsubscribe_and_xpub_verbose_turns_it_off() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_verboser(true).unwrap();
    assert!(x.xpub_verbose() && x.xpub_verboser());
    let ep = bind_any(&x).await;
    let s1 = sub(&ep, &["a"]).await;
    expect_sub(&x, b"\x01a").await;
    let s2 = sub(&ep, &["a"]).await;
    expect_sub(&x, b"\x01a").await;
    // s2 still holds `a`: reported all the same.
    s1.unsubscribe("a").unwrap();
    expect_sub(&x, b"\x00a").await;
    s1.subscribe("a").unwrap();
    expect_sub(&x, b"\x01a").await;
    // A leaving subscriber's topics are reported although s2 holds `a`.
    support::close(&s1).await;
    expect_sub(&x, b"\x00a").await;

    // XPUB_VERBOSE turns the verbose unsubscribes off again (libzmq's two flags).
    x.set_xpub_verbose(true).unwrap();
    assert!(x.xpub_verbose() && !x.xpub_verboser());
    let s3 = sub(&ep, &["a"]).await;
    expect_sub(&x, b"\x01a").await;
    s3.unsubscribe("a").unwrap();
    s3.subscribe("end").unwrap();
    expect_sub(&x, b"\x01end").await;
    support::close(&s3).await;
    support::close(&s2).await;
    support::close(&x).await;
}

// ----- XSUB_VERBOSE_UNSUBSCRIBE ----------------------------------------------------------

#[tokio::test]
async fn xsub_verbose_unsubscribe_sends_every_unsubscribe_upstream() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    // Passes up whatever arrives (an unsubscribe of an unknown topic too, as libzmq).
    x.set_xpub_verboser(true).unwrap();
    let ep = bind_any(&x).await;
    let xs = Socket::new(SocketType::XSub);
    connect(&xs, &ep).await;
    send(&xs, msg(&[b"\x01a"]), "XSUB subscribe").await;
    expect_sub(&x, b"\x01a").await;
    send(&xs, msg(&[b"\x01a"]), "XSUB subscribe again").await;
    expect_sub(&x, b"\x01a").await;
    // Off: one of two references, and an unknown topic, stay local.
    send(&xs, msg(&[b"\x00a"]), "XSUB unsubscribe").await;
    send(&xs, msg(&[b"\x00zz"]), "XSUB unsubscribe unknown").await;
    send(&xs, msg(&[b"\x01sync"]), "XSUB subscribe sync").await;
    expect_sub(&x, b"\x01sync").await;
    // On: both go upstream.
    xs.set_xsub_verbose_unsubscribe(true).unwrap();
    assert!(xs.xsub_verbose_unsubscribe());
    send(&xs, msg(&[b"\x01b"]), "XSUB subscribe b").await;
    send(&xs, msg(&[b"\x01b"]), "XSUB subscribe b again").await;
    send(&xs, msg(&[b"\x00b"]), "XSUB unsubscribe b").await;
    send(&xs, msg(&[b"\x00zz"]), "XSUB unsubscribe unknown").await;
    for want in [&b"\x01b"[..], b"\x01b", b"\x00b", b"\x00zz"] {
        expect_sub(&x, want).await;
    }
    support::close(&xs).await;
    support::close(&x).await;
}

// ----- XPUB_MANUAL / XPUB_MANUAL_LAST_VALUE ----------------------------------------------

#[tokio::test]
async fn xpub_manual_applies_only_what_the_application_subscribes() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_manual(true).unwrap();
    let ep = bind_any(&x).await;
    let s1 = sub(&ep, &[""]).await;
    expect_sub(&x, b"\x01").await;
    // The application subscribes s1 (the peer of the last subscription received) to `b`.
    x.subscribe("b").unwrap();
    let s2 = sub(&ep, &[""]).await;
    // A repeated subscription is passed up too.
    expect_sub(&x, b"\x01").await;
    x.setsockopt(opt::SUBSCRIBE, "a").unwrap();
    assert_eq!(x.topics_count().unwrap(), 2);
    for t in ["a1", "b1", "a2", "b2"] {
        send(&x, t, "publish").await;
    }
    expect_msg(&s1, b"b1", "s1 gets only what it was subscribed to").await;
    expect_msg(&s1, b"b2", "s1's next").await;
    expect_msg(&s2, b"a1", "s2 gets only what it was subscribed to").await;
    expect_msg(&s2, b"a2", "s2's next").await;
    // A leaving peer is reported unsubscribed from each topic it sent.
    support::close(&s2).await;
    expect_sub(&x, b"\x00").await;
    assert_eq!(
        x.topics_count().unwrap(),
        2,
        "libzmq 4.3.5 keeps counting a topic whose holder left"
    );
    support::close(&s1).await;
    support::close(&x).await;
}

#[tokio::test]
async fn xpub_manual_last_value_sends_the_next_message_only_to_the_new_subscriber() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_manual_last_value(true).unwrap();
    assert!(x.xpub_manual() && x.xpub_manual_last_value());
    let ep = bind_any(&x).await;
    let s1 = sub(&ep, &[""]).await;
    expect_sub(&x, b"\x01").await;
    x.subscribe("").unwrap();
    send(&x, "v1", "publish v1").await;
    expect_msg(&s1, b"v1", "the only subscriber").await;
    let s2 = sub(&ep, &[""]).await;
    expect_sub(&x, b"\x01").await;
    x.subscribe("").unwrap();
    send(&x, "cached", "publish the last value").await;
    send(&x, "v2", "publish v2").await;
    expect_msg(&s2, b"cached", "the new subscriber gets the last value").await;
    expect_msg(&s2, b"v2", "then everything").await;
    expect_msg(
        &s1,
        b"v2",
        "the older subscriber does not get the last value",
    )
    .await;
    support::close(&s1).await;
    support::close(&s2).await;
    support::close(&x).await;
}

// ----- XPUB_WELCOME_MSG ------------------------------------------------------------------

#[tokio::test]
async fn xpub_welcome_msg_is_the_first_message_of_every_new_subscriber() {
    let _panics = support::check_library_panics();
    for t in [SocketType::XPub, SocketType::Pub] {
        let x = Socket::new(t);
        x.set_xpub_welcome_msg(Bytes::from_static(b"WELCOME"))
            .unwrap();
        assert_eq!(&x.xpub_welcome_msg()[..], b"WELCOME");
        let ep = bind_any(&x).await;
        let s1 = sub(&ep, &["WELCOME", "data"]).await;
        expect_msg(&s1, b"WELCOME", "first subscriber").await;
        let s2 = sub(&ep, &["WELCOME"]).await;
        expect_msg(&s2, b"WELCOME", "second subscriber").await;
        if t == SocketType::XPub {
            expect_sub(&x, b"\x01WELCOME").await;
            expect_sub(&x, b"\x01data").await;
            send(&x, "data-1", "publish").await;
            expect_msg(&s1, b"data-1", "one welcome only").await;
        }
        support::close(&s1).await;
        support::close(&s2).await;
        support::close(&x).await;
    }
}

// ----- XPUB_NODROP -----------------------------------------------------------------------

/// A 64 KiB message numbered `i`.
fn numbered(i: u32) -> Message {
    let mut body = vec![0u8; 64 * 1024];
    body[..4].copy_from_slice(&i.to_be_bytes());
    Message::from(body)
}

fn number_of(m: &Message) -> u32 {
    assert_eq!(m.len(), 1);
    u32::from_be_bytes(m[0][..4].try_into().unwrap())
}

type PendingSend<'a> = Pin<Box<dyn std::future::Future<Output = aiozmq::Result<()>> + 'a>>;

/// Sends numbered messages on `x` (XPUB_NODROP, SNDHWM 2) toward a subscriber that does
/// not read until a `send` waits (1 s without progress counts as waiting: the
/// subscriber's engine and kernel buffers have taken what they hold); then `try_send`
/// fails with `EAGAIN` and gives the message back. Returns how many were sent and the
/// waiting send of the next one.
async fn fill_until_send_waits(x: &Socket) -> (u32, PendingSend<'_>) {
    for i in 0..10_000u32 {
        let mut send: PendingSend<'_> = Box::pin(x.send(numbered(i)));
        match tokio::time::timeout(Duration::from_secs(1), &mut send).await {
            Ok(r) => r.unwrap(),
            Err(_) => {
                let e = x.try_send(numbered(u32::MAX)).unwrap_err();
                assert_eq!(e.error.kind(), ErrorKind::Again, "{e}");
                assert_eq!(number_of(&e.message), u32::MAX, "the message is given back");
                return (i, send);
            }
        }
    }
    panic!("XPUB_NODROP never made a send wait toward a subscriber that does not read");
}

#[tokio::test]
async fn xpub_nodrop_waits_at_sndhwm_and_loses_nothing() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_nodrop(true).unwrap();
    x.set_sndhwm(2).unwrap();
    x.set_sndbuf(8192).unwrap();
    let ep = bind_any(&x).await;
    let s = Socket::new(SocketType::Sub);
    s.set_rcvhwm(2).unwrap();
    s.set_rcvbuf(8192).unwrap();
    s.subscribe("").unwrap();
    connect(&s, &ep).await;
    expect_sub(&x, b"\x01").await;
    let (n, pending) = fill_until_send_waits(&x).await;
    let (sent, ()) = tokio::join!(pending, async {
        for i in 0..=n {
            assert_eq!(
                number_of(&recv(&s, "subscriber").await),
                i,
                "in order, none lost"
            );
        }
    });
    sent.unwrap();
    assert_eq!(x.counters().dropped_hwm, 0);
    support::close(&s).await;
    support::close(&x).await;
}

// ----- INVERT_MATCHING -------------------------------------------------------------------

#[tokio::test]
async fn invert_matching_xpub_sends_only_to_peers_no_subscription_of_which_matches() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    x.set_invert_matching(true).unwrap();
    let mut mon = x.monitor(64);
    let ep = bind_any(&x).await;
    // A subscriber to `a`, and one without any subscription.
    let mut ma = MockPeer::connect(&ep).await;
    ma.handshake(SocketType::Sub, SocketType::XPub, b"").await;
    ma.send_message(&Message::from(&b"\x01a"[..])).await;
    expect_sub(&x, b"\x01a").await;
    let mut none = MockPeer::connect(&ep).await;
    none.handshake(SocketType::Sub, SocketType::XPub, b"").await;
    for _ in 0..2 {
        support::wait_event(&mut mon, EventKind::HandshakeSucceeded, "XPUB").await;
    }
    for t in ["a1", "b1", "ab"] {
        send(&x, t, "publish").await;
    }
    // Raw bytes: what the XPUB sent, with no filter at the receiving end.
    assert_eq!(ma.expect_message().await, Message::from("b1"));
    for t in ["a1", "b1", "ab"] {
        assert_eq!(none.expect_message().await, Message::from(t));
    }
    ma.expect_silence(Duration::from_millis(100)).await;
    // The mocks go first: close would wait (up to LINGER) for them to read to the end.
    ma.abort();
    none.abort();
    support::close(&x).await;
}

#[tokio::test]
async fn invert_matching_sub_and_xsub_keep_only_messages_no_subscription_matches() {
    let _panics = support::check_library_panics();
    for t in [SocketType::Sub, SocketType::XSub] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ep = format!("tcp://{}", listener.local_addr().unwrap());
        let s = Socket::new(t);
        s.set_invert_matching(true).unwrap();
        if t == SocketType::Sub {
            s.subscribe("a").unwrap();
        } else {
            send(&s, msg(&[b"\x01a"]), "XSUB subscribe").await;
        }
        connect(&s, &ep).await;
        let mut m = MockPeer::accept(&listener).await;
        m.handshake(SocketType::Pub, t, b"").await;
        let cmd = m.expect_command().await;
        assert!(
            matches!(cmd, Command::Subscribe(ref t) if &t[..] == b"a"),
            "{cmd:?}"
        );
        // A publisher that does not filter: the subscriber's own filter decides.
        for body in ["a1", "b1", "", "ab", "c1"] {
            m.send_message(&Message::from(body)).await;
        }
        for want in [&b"b1"[..], b"", b"c1"] {
            expect_msg(&s, want, &format!("{t} inverted")).await;
        }
        // The mock goes first: close would wait (up to LINGER) for it to read to the end.
        m.abort();
        support::close(&s).await;
    }
}

// ----- ONLY_FIRST_SUBSCRIBE -------------------------------------------------------------

#[tokio::test]
async fn only_first_subscribe_on_xpub_takes_a_message_with_a_data_first_frame_as_data() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    let ep = bind_any(&x).await;
    let mut m = MockPeer::connect(&ep).await;
    m.handshake(SocketType::XSub, SocketType::XPub, b"").await;
    // Off (libzmq's default): every frame starting with 1 or 0 is a subscription.
    m.send_message(&msg(&[b"data", b"\x01a"])).await;
    expect_sub(&x, b"\x01a").await;
    assert_eq!(frames(&recv(&x, "data").await), v(&[b"data"]));
    x.set_only_first_subscribe(true).unwrap();
    assert!(x.only_first_subscribe());
    m.send_message(&msg(&[b"data2", b"\x01b"])).await;
    assert_eq!(
        frames(&recv(&x, "data").await),
        v(&[b"data2", b"\x01b"]),
        "a data first frame: all data"
    );
    // A subscription first: the later frames are still looked at.
    m.send_message(&msg(&[b"\x01c", b"\x01d", b"x"])).await;
    expect_sub(&x, b"\x01c").await;
    expect_sub(&x, b"\x01d").await;
    assert_eq!(frames(&recv(&x, "data").await), v(&[b"x"]));
    assert_eq!(x.topics_count().unwrap(), 3, "a, c and d; not b");
    m.abort();
    support::close(&x).await;
}

#[tokio::test]
async fn only_first_subscribe_on_xsub_sends_a_message_with_a_data_first_frame_as_data() {
    let _panics = support::check_library_panics();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let xs = Socket::new(SocketType::XSub);
    connect(&xs, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::XPub, SocketType::XSub, b"").await;
    let subscribe = |t: &'static [u8]| Command::Subscribe(Bytes::from_static(t));
    // Off: the subscription frame subscribes; the data goes up after it.
    send(&xs, msg(&[b"y", b"\x01a"]), "XSUB send").await;
    assert_eq!(m.expect_command().await, subscribe(b"a"));
    assert_eq!(m.expect_message().await, msg(&[b"y"]));
    xs.set_only_first_subscribe(true).unwrap();
    send(&xs, msg(&[b"y2", b"\x01b"]), "XSUB send").await;
    assert_eq!(m.expect_message().await, msg(&[b"y2", b"\x01b"]));
    send(&xs, msg(&[b"\x00a", b"\x01c", b"z"]), "XSUB send").await;
    assert_eq!(
        m.expect_command().await,
        Command::Cancel(Bytes::from_static(b"a"))
    );
    assert_eq!(m.expect_command().await, subscribe(b"c"));
    assert_eq!(m.expect_message().await, msg(&[b"z"]));
    assert_eq!(xs.topics_count().unwrap(), 1, "c only");
    // The mock goes first: close would wait (up to LINGER) for it to read to the end.
    m.abort();
    support::close(&xs).await;
}

// ----- TOPICS_COUNT ----------------------------------------------------------------------

#[tokio::test]
async fn topics_count_counts_distinct_topics_as_libzmq() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Sub);
    for t in ["a", "a", "b"] {
        s.subscribe(t).unwrap();
    }
    assert_eq!(s.topics_count().unwrap(), 2);
    s.unsubscribe("a").unwrap();
    assert_eq!(s.getsockopt(opt::TOPICS_COUNT).unwrap().as_int(), Some(2));
    s.unsubscribe("a").unwrap();
    assert_eq!(s.topics_count().unwrap(), 1);
    let e = s.setsockopt(opt::TOPICS_COUNT, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "read-only");

    let xs = Socket::new(SocketType::XSub);
    for t in [&b"\x01a"[..], b"\x01a", b"\x01c"] {
        send(&xs, msg(&[t]), "XSUB subscribe").await;
    }
    assert_eq!(xs.topics_count().unwrap(), 2);

    let x = Socket::new(SocketType::XPub);
    assert_eq!(x.topics_count().unwrap(), 0);
    let ep = bind_any(&x).await;
    let s1 = sub(&ep, &["a", "b"]).await;
    let s2 = sub(&ep, &["a"]).await;
    expect_sub(&x, b"\x01a").await;
    expect_sub(&x, b"\x01b").await;
    s2.subscribe("end").unwrap();
    expect_sub(&x, b"\x01end").await;
    assert_eq!(x.topics_count().unwrap(), 3, "a (twice), b, end");
    // s2's unsubscribes arrive in order: `a` (s1 still holds it) before `end`.
    s2.unsubscribe("a").unwrap();
    s2.unsubscribe("end").unwrap();
    expect_sub(&x, b"\x00end").await;
    assert_eq!(
        x.getsockopt(opt::TOPICS_COUNT).unwrap().as_int(),
        Some(2),
        "a (still s1's) and b: only the unsubscribe of a topic's last holder lowers it"
    );
    s2.subscribe("end").unwrap();
    expect_sub(&x, b"\x01end").await;
    support::close(&s2).await;
    expect_sub(&x, b"\x00end").await;
    assert_eq!(
        x.topics_count().unwrap(),
        3,
        "as libzmq 4.3.5: end stays counted when its only subscriber disconnects"
    );

    let d = Socket::new(SocketType::Dealer);
    assert_eq!(
        d.getsockopt(opt::TOPICS_COUNT).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    support::close(&s1).await;
    support::close(&x).await;
    support::close(&xs).await;
    support::close(&s).await;
}

// ----- The options by number -------------------------------------------------------------

#[tokio::test]
async fn xpub_options_by_number_take_values_as_libzmq() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    let int = |o| x.getsockopt(o).unwrap().as_int().unwrap();
    x.setsockopt(opt::XPUB_VERBOSER, 1).unwrap();
    assert_eq!((int(opt::XPUB_VERBOSE), int(opt::XPUB_VERBOSER)), (1, 1));
    x.setsockopt(opt::XPUB_VERBOSE, 1).unwrap();
    assert_eq!((int(opt::XPUB_VERBOSE), int(opt::XPUB_VERBOSER)), (1, 0));
    // Any non-negative value; non-zero is on.
    x.setsockopt(opt::XPUB_MANUAL_LAST_VALUE, 2).unwrap();
    assert_eq!(
        (int(opt::XPUB_MANUAL), int(opt::XPUB_MANUAL_LAST_VALUE)),
        (1, 1)
    );
    x.setsockopt(opt::XPUB_MANUAL, 0).unwrap();
    assert_eq!(int(opt::XPUB_MANUAL), 0);
    x.setsockopt(opt::XPUB_NODROP, 1).unwrap();
    assert!(x.xpub_nodrop());
    x.setsockopt(opt::ONLY_FIRST_SUBSCRIBE, 3).unwrap();
    assert_eq!(int(opt::ONLY_FIRST_SUBSCRIBE), 1);
    for o in [
        opt::XPUB_VERBOSE,
        opt::XPUB_VERBOSER,
        opt::XPUB_MANUAL,
        opt::XPUB_MANUAL_LAST_VALUE,
        opt::XPUB_NODROP,
        opt::ONLY_FIRST_SUBSCRIBE,
    ] {
        let e = x.setsockopt(o, -1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "option {o} = -1");
    }
    x.setsockopt(opt::XPUB_WELCOME_MSG, "hi").unwrap();
    assert_eq!(
        x.getsockopt(opt::XPUB_WELCOME_MSG)
            .unwrap()
            .as_bytes()
            .map(|b| &b[..]),
        Some(&b"hi"[..])
    );
    assert_eq!(
        x.setsockopt(opt::XPUB_WELCOME_MSG, 1).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // libzmq takes any integer for these two.
    x.setsockopt(opt::INVERT_MATCHING, 5).unwrap();
    assert_eq!(int(opt::INVERT_MATCHING), 1);
    x.setsockopt(opt::XSUB_VERBOSE_UNSUBSCRIBE, -3).unwrap();
    assert_eq!(int(opt::XSUB_VERBOSE_UNSUBSCRIBE), 1);
    // SUBSCRIBE on an XPUB only in manual mode.
    assert_eq!(
        x.setsockopt(opt::SUBSCRIBE, "t").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    x.setsockopt(opt::XPUB_MANUAL, 1).unwrap();
    x.setsockopt(opt::SUBSCRIBE, "t").unwrap();
    x.setsockopt(opt::UNSUBSCRIBE, "t").unwrap();
    support::close(&x).await;
}

// ----- Against libzmq --------------------------------------------------------------------

/// Our XPUB bound on TCP, a libzmq peer connected to it.
async fn libzmq_peer_of(x: &Socket, their_type: &str, args: &[&str]) -> PyPeer {
    let ep = bind_any(x).await;
    let mut a = vec![their_type, "--connect", &ep];
    a.extend_from_slice(args);
    PyPeer::start(a).await.0
}

async fn peer_got(peer: &mut PyPeer, socket: usize, want: &[&[u8]]) {
    assert_eq!(
        peer.message().await,
        PeerMessage {
            socket,
            frames: v(want)
        },
        "message as the libzmq peer received it"
    );
}

#[tokio::test]
async fn libzmq_subs_receive_our_welcome_msg() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_welcome_msg(Bytes::from_static(b"WELCOME"))
        .unwrap();
    let args = ["--sockets", "2", "--subscribe", "WELCOME", "recv", "1"];
    let mut peer = libzmq_peer_of(&x, "SUB", &args).await;
    let mut got = peer.messages(2).await;
    got.sort_by_key(|m| m.socket);
    for (k, m) in got.into_iter().enumerate() {
        assert_eq!(
            m,
            PeerMessage {
                socket: k,
                frames: v(&[b"WELCOME"])
            }
        );
    }
    peer.finish().await;
    support::close(&x).await;
}

#[tokio::test]
async fn our_manual_xpub_chooses_what_a_libzmq_sub_gets() {
    let _panics = support::check_library_panics();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_manual(true).unwrap();
    let mut peer = libzmq_peer_of(&x, "SUB", &["--subscribe", "", "recv", "2"]).await;
    expect_sub(&x, b"\x01").await;
    x.subscribe("b").unwrap();
    for t in ["a1", "b1", "a2", "b2"] {
        send(&x, t, "publish").await;
    }
    peer_got(&mut peer, 0, &[b"b1"]).await;
    peer_got(&mut peer, 0, &[b"b2"]).await;
    peer.finish().await;
    support::close(&x).await;
}

/// Receives `n` one-frame messages on `x`, sorted (the order between two connections is
/// not fixed).
async fn recv_sorted(x: &Socket, n: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(OP_TIMEOUT, x.recv()).await {
            Ok(Ok(m)) => got.push(m[0].to_vec()),
            other => panic!("XPUB recv: {other:?} after {got:?}"),
        }
    }
    got.sort();
    got
}

#[tokio::test]
async fn our_verboser_xpub_sees_every_subscribe_and_unsubscribe_of_libzmq_subs() {
    let _panics = support::check_library_panics();
    let gate = Gate::new();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_verboser(true).unwrap();
    // Each of two libzmq SUBs: `a` (at connect), `a` again, two unsubscribes of `a` (libzmq
    // sends the second only), `z`; they stay connected until the gate opens.
    let args = [
        "--sockets",
        "2",
        "--subscribe",
        "a",
        "subscribe",
        "a",
        "unsubscribe",
        "a",
        "unsubscribe",
        "a",
        "subscribe",
        "z",
        "gate",
        gate.arg(),
    ];
    let peer = libzmq_peer_of(&x, "SUB", &args).await;
    let want: Vec<Vec<u8>> = [b"\x00a", b"\x00a", b"\x01a", b"\x01a", b"\x01a", b"\x01a"]
        .iter()
        .map(|w| w.to_vec())
        .chain([b"\x01z".to_vec(), b"\x01z".to_vec()])
        .collect();
    assert_eq!(
        recv_sorted(&x, 8).await,
        want,
        "every subscribe, and both last unsubscribes although the other SUB holds `a`"
    );
    gate.open();
    peer.finish().await;
    assert_eq!(
        recv_sorted(&x, 2).await,
        v(&[b"\x00z", b"\x00z"]),
        "both leaving subscribers' topic"
    );
    support::close(&x).await;
}

#[tokio::test]
async fn our_xsub_verbose_unsubscribe_reaches_a_libzmq_xpub() {
    let _panics = support::check_library_panics();
    let xs = Socket::new(SocketType::XSub);
    xs.set_xsub_verbose_unsubscribe(true).unwrap();
    let (mut peer, eps) = PyPeer::start(["XPUB", "--bind", "tcp://127.0.0.1:*", "subs", "3"]).await;
    connect(&xs, &eps[0]).await;
    send(&xs, msg(&[b"\x01a"]), "XSUB subscribe").await;
    assert_eq!(peer.line().await, "SUBSCRIBED 61");
    // Connected now: the rest goes out as sent. libzmq's XPUB passes up a duplicate
    // subscribe only when verbose, and every unsubscribe that arrives (the second one
    // of a topic it no longer holds too).
    send(&xs, msg(&[b"\x01a"]), "XSUB subscribe again").await;
    send(&xs, msg(&[b"\x00a"]), "XSUB unsubscribe").await;
    send(&xs, msg(&[b"\x00a"]), "XSUB unsubscribe again").await;
    assert_eq!(peer.line().await, "UNSUBSCRIBED 61");
    assert_eq!(peer.line().await, "UNSUBSCRIBED 61");
    peer.finish().await;
    support::close(&xs).await;
}

/// The file whose creation lets peer.py's `gate` action go on: unique to this process,
/// removed on drop.
struct Gate(std::path::PathBuf);

impl Gate {
    fn new() -> Gate {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("aiozmq-xpub-gate-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        Gate(path)
    }

    /// The path, for peer.py's `gate` action.
    fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp dir")
    }

    /// Lets the peer go on.
    fn open(&self) {
        std::fs::write(&self.0, b"").expect("creating the gate file");
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn our_nodrop_xpub_waits_for_a_libzmq_sub_that_does_not_read_and_loses_nothing() {
    let _panics = support::check_library_panics();
    let gate = Gate::new();
    let x = Socket::new(SocketType::XPub);
    x.set_xpub_nodrop(true).unwrap();
    x.set_sndhwm(2).unwrap();
    x.set_sndbuf(8192).unwrap();
    // The subscriber reads nothing until the gate opens, then counts what arrives until
    // nothing more comes for 5 s.
    let args = [
        "--subscribe",
        "",
        "--rcvhwm",
        "2",
        "--timeout",
        "5",
        "gate",
        gate.arg(),
        "count",
        "1000000",
        "0",
        "0",
    ];
    let mut peer = libzmq_peer_of(&x, "SUB", &args).await;
    expect_sub(&x, b"\x01").await;
    let (n, pending) = fill_until_send_waits(&x).await;
    gate.open();
    support::within("the waiting send", pending).await.unwrap();
    assert_eq!(
        peer.line_within(OP_TIMEOUT + Duration::from_secs(5)).await,
        format!("COUNT {}", n + 1),
        "every message reached the libzmq subscriber"
    );
    assert_eq!(x.counters().dropped_hwm, 0);
    peer.finish().await;
    support::close(&x).await;
}

/// A libzmq XSUB sends `data` + `\x01a` as one message: our XPUB with
/// ONLY_FIRST_SUBSCRIBE takes it as data; without, `\x01b` in that place subscribes.
#[tokio::test]
async fn our_only_first_subscribe_xpub_reads_libzmq_xsub_multipart_messages() {
    let _panics = support::check_library_panics();
    let (gate, stay) = (Gate::new(), Gate::new());
    let x = Socket::new(SocketType::XPub);
    x.set_only_first_subscribe(true).unwrap();
    let args = [
        "send",
        "1",
        "text:data",
        "hex:0161",
        "gate",
        gate.arg(),
        "send",
        "1",
        "text:more",
        "hex:0162",
        "gate",
        stay.arg(),
    ];
    let peer = libzmq_peer_of(&x, "XSUB", &args).await;
    assert_eq!(frames(&recv(&x, "data").await), v(&[b"data", b"\x01a"]));
    assert_eq!(x.topics_count().unwrap(), 0);
    x.set_only_first_subscribe(false).unwrap();
    gate.open();
    expect_sub(&x, b"\x01b").await;
    assert_eq!(frames(&recv(&x, "data").await), v(&[b"more"]));
    assert_eq!(x.topics_count().unwrap(), 1);
    stay.open();
    peer.finish().await;
    support::close(&x).await;
}

/// Our PUB with INVERT_MATCHING toward a libzmq SUB with it, subscribed to `other`: only
/// the messages not starting with `other` reach it (a PUB that did not invert would send
/// it nothing it keeps).
#[tokio::test]
async fn our_inverted_pub_publishes_to_an_inverted_libzmq_sub() {
    let _panics = support::check_library_panics();
    let p = Socket::new(SocketType::Pub);
    p.set_invert_matching(true).unwrap();
    let args = [
        "--invert-matching",
        "--subscribe",
        "other",
        "sync",
        "sync",
        "recv",
        "3",
    ];
    let mut peer = libzmq_peer_of(&p, "SUB", &args).await;
    let line = {
        let line = peer.line();
        tokio::pin!(line);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tokio::select! {
                l = &mut line => break l,
                _ = tick.tick() => send(&p, "sync", "publishing sync").await,
            }
        }
    };
    assert_eq!(line, "SYNCED");
    for i in 0..3 {
        send(&p, format!("other-{i}"), "publish other").await;
        send(&p, format!("data-{i}"), "publish data").await;
    }
    for i in 0..3 {
        peer_got(&mut peer, 0, &[format!("data-{i}").as_bytes()]).await;
    }
    peer.finish().await;
    support::close(&p).await;
}

/// A libzmq PUB with INVERT_MATCHING publishes `data-N` to our inverted SUB subscribed to
/// `other`: it arrives (a SUB that did not invert would drop it), none missing once joined.
#[tokio::test]
async fn our_inverted_sub_receives_from_an_inverted_libzmq_pub() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Sub);
    s.set_invert_matching(true).unwrap();
    s.subscribe("other").unwrap();
    let args = [
        "PUB",
        "--bind",
        "tcp://127.0.0.1:*",
        "--invert-matching",
        "--interval",
        "5",
        "send",
        "2000",
        "text:data-{i}",
    ];
    let (mut peer, eps) = PyPeer::start(args).await;
    connect(&s, &eps[0]).await;
    let parse = |m: &Message| -> usize {
        std::str::from_utf8(&m[0])
            .ok()
            .and_then(|t| t.strip_prefix("data-"))
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("expected data-N, got {:?}", frames(m)))
    };
    let first = parse(&recv(&s, "first message").await);
    for k in 1..5 {
        assert_eq!(parse(&recv(&s, "next message").await), first + k);
    }
    peer.kill().await;
    support::close(&s).await;
}
