//! The draft socket types byte for byte against a mock ZMTP peer on a real TCP connection:
//! our greeting and READY (`Socket-Type` = our type, no `Identity`, as libzmq), a peer of
//! the partner type accepted and a wrong one refused with ERROR and a close, a multipart
//! message from the peer dropped whole with the connection kept (libzmq's receive drops
//! it), our single-frame sends on the wire, and HELLO_MSG / DISCONNECT_MSG for SERVER.

mod support;

use aiozmq::zmtp::Command;
use aiozmq::{ErrorKind, Message, Socket, SocketType};
use support::mock::{frame, message_frames, MockPeer};
use support::{assert_no_library_panics, bind_any, close, frames, recv, send};

/// Each draft type with the type it talks to.
const PAIRS: [(SocketType, SocketType); 6] = [
    (SocketType::Server, SocketType::Client),
    (SocketType::Client, SocketType::Server),
    (SocketType::Gather, SocketType::Scatter),
    (SocketType::Scatter, SocketType::Gather),
    (SocketType::Peer, SocketType::Peer),
    (SocketType::Channel, SocketType::Channel),
];

/// Whether our socket of type `t` can receive / send.
fn receives(t: SocketType) -> bool {
    t != SocketType::Scatter
}
fn sends(t: SocketType) -> bool {
    t != SocketType::Gather
}

/// A message from our socket `s` to the mock: SERVER and PEER name it by `rid`.
fn to_mock(t: SocketType, body: &'static str, rid: u32) -> Message {
    let m = Message::from(body);
    if matches!(t, SocketType::Server | SocketType::Peer) {
        m.with_routing_id(rid)
    } else {
        m
    }
}

/// Every draft type, bound, takes a mock of its partner type: our greeting is libzmq's
/// staged one and our READY is exactly `Socket-Type` = our name; a one-frame message each
/// way has the exact ZMTP bytes (SERVER/PEER replies reach the mock by the id its message
/// carried).
#[tokio::test]
async fn each_draft_type_announces_itself_and_talks_to_its_partner() {
    let _panics = support::check_library_panics();
    for (ours, theirs) in PAIRS {
        let s = Socket::new(ours);
        let ep = bind_any(&s).await;
        let mut m = MockPeer::connect(&ep).await;
        m.handshake(theirs, ours, b"").await;
        let mut rid = 0;
        if receives(ours) {
            m.send_bytes(&frame(0x00, b"from mock")).await;
            let got = recv(&s, &format!("{ours} from the mock")).await;
            assert_eq!(frames(&got), [b"from mock".to_vec()], "{ours}");
            let routed = matches!(ours, SocketType::Server | SocketType::Peer);
            assert_eq!(got.routing_id().is_some(), routed, "{ours}");
            rid = got.routing_id().unwrap_or(0);
        }
        if sends(ours) {
            send(
                &s,
                to_mock(ours, "from us", rid),
                &format!("{ours} to the mock"),
            )
            .await;
            m.expect_bytes(&frame(0x00, b"from us")).await;
        }
        drop(m);
        close(&s).await;
    }
    assert_no_library_panics();
}

/// Our connecting side too: the mock accepts, our READY is exact, and the message we send
/// (CLIENT, SCATTER, CHANNEL: queued before the connection) arrives as one frame.
#[tokio::test]
async fn each_draft_type_connecting_sends_the_same_handshake() {
    let _panics = support::check_library_panics();
    for (ours, theirs) in PAIRS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ep = format!("tcp://{}", listener.local_addr().unwrap());
        let s = Socket::new(ours);
        let rid = if ours == SocketType::Peer {
            s.connect_peer(&ep).await.unwrap()
        } else {
            s.connect(&ep).await.unwrap();
            0
        };
        if sends(ours) && ours != SocketType::Server {
            // Queued for the connection that is not there yet (PEER: by its id).
            send(&s, to_mock(ours, "early", rid), &format!("{ours} early")).await;
        }
        let mut m = MockPeer::accept(&listener).await;
        m.handshake(theirs, ours, b"").await;
        if sends(ours) && ours != SocketType::Server {
            m.expect_bytes(&frame(0x00, b"early")).await;
        }
        if ours == SocketType::Server {
            // A SERVER that connected knows its peer's id once it hears from it.
            m.send_bytes(&frame(0x00, b"hello")).await;
            let got = recv(&s, "server").await;
            let id = got.routing_id().expect("routed");
            send(&s, to_mock(ours, "reply", id), "server").await;
            m.expect_bytes(&frame(0x00, b"reply")).await;
        }
        drop(m);
        close(&s).await;
    }
    assert_no_library_panics();
}

/// A peer of any other type is refused at the handshake, as libzmq's
/// `check_socket_type`: ERROR, then the connection closes; our socket then still takes
/// its partner. A classic socket refuses the draft types the same way.
#[tokio::test]
async fn a_wrong_socket_type_is_refused_with_error_and_close() {
    let _panics = support::check_library_panics();
    support::record_library_panics();
    let wrong = |ours: SocketType| {
        let mut w: Vec<SocketType> = SocketType::ALL
            .into_iter()
            .filter(|t| !ours.is_compatible(*t))
            .collect();
        // A few each: the type itself where that is wrong, a classic type, another draft.
        w.retain(|t| {
            matches!(
                t,
                SocketType::Dealer
                    | SocketType::Pair
                    | SocketType::Push
                    | SocketType::Pull
                    | SocketType::Server
                    | SocketType::Client
                    | SocketType::Gather
                    | SocketType::Scatter
                    | SocketType::Peer
                    | SocketType::Channel
            )
        });
        w
    };
    let mut cases: Vec<(SocketType, SocketType, SocketType)> = Vec::new();
    for (ours, partner) in PAIRS {
        for bad in wrong(ours) {
            cases.push((ours, bad, partner));
        }
    }
    cases.push((SocketType::Dealer, SocketType::Client, SocketType::Router));
    cases.push((SocketType::Pair, SocketType::Channel, SocketType::Pair));
    cases.push((SocketType::Pull, SocketType::Scatter, SocketType::Push));
    assert!(cases.len() > 40, "{} cases", cases.len());
    for (ours, bad, partner) in cases {
        let what = format!("our {ours}, mock {bad}");
        let s = Socket::new(ours);
        let ep = bind_any(&s).await;
        let mut m = MockPeer::connect(&ep).await;
        m.expect_greeting_staged(1).await;
        m.send_ready(bad, support::mock::sends_identity(bad).then_some(b""))
            .await;
        m.expect_ready(ours, support::mock::sends_identity(ours).then_some(b""))
            .await;
        match m.expect_command().await {
            Command::Error(reason) => assert!(!reason.is_empty(), "{what}: ERROR without a reason"),
            other => panic!("{what}: expected ERROR, got {other:?}"),
        }
        m.expect_closed().await;
        let mut good = MockPeer::connect(&ep).await;
        good.handshake(partner, ours, b"").await;
        drop(good);
        close(&s).await;
    }
    assert_no_library_panics();
}

/// A multipart message from the peer is dropped whole, and the one-frame messages around
/// it arrive; the connection stays up (libzmq's receive loop drops the frames of a
/// message with MORE and goes on). Our answer afterwards still reaches the mock.
#[tokio::test]
async fn a_multipart_message_from_the_peer_is_dropped_and_the_connection_stays() {
    let _panics = support::check_library_panics();
    support::record_library_panics();
    for (ours, theirs) in PAIRS.into_iter().filter(|(o, _)| receives(*o)) {
        let s = Socket::new(ours);
        let ep = bind_any(&s).await;
        let mut m = MockPeer::connect(&ep).await;
        m.handshake(theirs, ours, b"").await;
        let mut wire = frame(0x00, b"first");
        wire.extend(message_frames(&[b"part 1", b"part 2", b"part 3"]));
        wire.extend(message_frames(&[b"x", b"y"]));
        wire.extend(frame(0x00, b"second"));
        m.send_bytes(&wire).await;
        let a = recv(&s, &format!("{ours} first")).await;
        let b = recv(&s, &format!("{ours} second")).await;
        assert_eq!(frames(&a), [b"first".to_vec()], "{ours}");
        assert_eq!(frames(&b), [b"second".to_vec()], "{ours}");
        assert!(
            s.try_recv().is_err_and(|e| e.kind() == ErrorKind::Again),
            "{ours}: nothing else"
        );
        assert_eq!(s.counters().messages_in, 4, "{ours}: all four came in");
        if sends(ours) {
            send(
                &s,
                to_mock(ours, "still here", b.routing_id().unwrap_or(0)),
                "answer",
            )
            .await;
            m.expect_bytes(&frame(0x00, b"still here")).await;
        }
        // And the mock can go on sending.
        m.send_bytes(&frame(0x00, b"third")).await;
        assert_eq!(
            frames(&recv(&s, "third").await),
            [b"third".to_vec()],
            "{ours}"
        );
        drop(m);
        close(&s).await;
    }
    assert_no_library_panics();
}

/// HELLO_MSG goes first to the peer from CLIENT (and SERVER); DISCONNECT_MSG reaches a
/// SERVER's application with the id of the peer that left; HICCUP_MSG reaches a CLIENT
/// whose connection broke.
#[tokio::test]
async fn hello_disconnect_and_hiccup_messages_apply_as_libzmq_says() {
    let _panics = support::check_library_panics();
    let server = Socket::new(SocketType::Server);
    server.set_hello_msg("hello from server").unwrap();
    server.set_disconnect_msg("gone").unwrap();
    let ep = bind_any(&server).await;
    let mut m = MockPeer::connect(&ep).await;
    m.handshake(SocketType::Client, SocketType::Server, b"")
        .await;
    m.expect_bytes(&frame(0x00, b"hello from server")).await;
    m.send_bytes(&frame(0x00, b"hi")).await;
    let rid = recv(&server, "server").await.routing_id().unwrap();
    drop(m);
    let gone = recv(&server, "disconnect message").await;
    assert_eq!(frames(&gone), [b"gone".to_vec()]);
    assert_eq!(gone.routing_id(), Some(rid));
    close(&server).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let client = Socket::new(SocketType::Client);
    client.set_hello_msg("hello from client").unwrap();
    client.set_hiccup_msg("hiccup").unwrap();
    client.connect(&ep).await.unwrap();
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Server, SocketType::Client, b"")
        .await;
    m.expect_bytes(&frame(0x00, b"hello from client")).await;
    drop(m);
    assert_eq!(frames(&recv(&client, "hiccup").await), [b"hiccup".to_vec()]);
    // It reconnects and greets again.
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Server, SocketType::Client, b"")
        .await;
    m.expect_bytes(&frame(0x00, b"hello from client")).await;
    drop(m);
    close(&client).await;
}
