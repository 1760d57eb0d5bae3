//! Byte-exact tests of our sockets against a mock ZMTP peer on a real TCP connection:
//! greeting staging, READY metadata, ZMTP 3.0 peers, PING/PONG, socket-type mismatch, and
//! hostile input that must close only the offending connection.

mod support;

use std::time::Duration;

use aiozmq::zmtp::Command;
use aiozmq::{Socket, SocketType};
use bytes::Bytes;
use support::mock::{
    command_frame, frame, greeting, greeting_rest, message_frames, ready_frame, MockPeer, SIGNATURE,
};
use support::{assert_no_library_panics, bind_any, connect, frames, msg, recv, send};
use tokio::net::TcpListener;

/// How long the mock listens for bytes that must *not* come (a staging check).
const QUIET: Duration = Duration::from_millis(200);

/// A DEALER exchanges one message each way with a mock DEALER whose handshake is done.
async fn dealer_roundtrip(s: &Socket, m: &mut MockPeer) {
    m.send_message(&msg(&[b"from-mock", b""])).await;
    let got = recv(s, "DEALER receiving from the mock").await;
    assert_eq!(frames(&got), [b"from-mock".to_vec(), vec![]]);
    send(s, msg(&[b"from-us"]), "DEALER sending to the mock").await;
    m.expect_bytes(&message_frames(&[b"from-us"])).await;
}

/// The staged greeting when we are the accepting side: nothing of a later stage goes out
/// before the peer's previous stage came in.
#[tokio::test]
async fn greeting_is_staged_when_we_bind() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    let ep = bind_any(&s).await;
    let mut m = MockPeer::connect(&ep).await;
    m.expect_bytes(&SIGNATURE).await;
    m.expect_silence(QUIET).await;
    m.send_bytes(&SIGNATURE).await;
    m.expect_bytes(&[3]).await;
    m.expect_silence(QUIET).await;
    m.send_bytes(&[3]).await;
    m.expect_bytes(&greeting_rest(1, "NULL", false)).await;
    m.expect_silence(QUIET).await;
    m.send_bytes(&greeting_rest(1, "NULL", false)).await;
    m.expect_ready(SocketType::Dealer, Some(b"")).await;
    m.send_ready(SocketType::Dealer, Some(b"")).await;
    dealer_roundtrip(&s, &mut m).await;
    // Our socket wrote to its mock peers, which never read: close would wait LINGER
    // for their EOF.
    drop(m);
    support::close(&s).await;
}

/// The same staging when we are the connecting side.
#[tokio::test]
async fn greeting_is_staged_when_we_connect() {
    let _panics = support::check_library_panics();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = Socket::new(SocketType::Dealer);
    connect(&s, &format!("tcp://{}", listener.local_addr().unwrap())).await;
    let mut m = MockPeer::accept(&listener).await;
    m.expect_bytes(&SIGNATURE).await;
    m.expect_silence(QUIET).await;
    m.send_bytes(&SIGNATURE).await;
    m.expect_bytes(&[3]).await;
    m.expect_silence(QUIET).await;
    m.send_bytes(&[3]).await;
    m.expect_bytes(&greeting_rest(1, "NULL", false)).await;
    m.expect_silence(QUIET).await;
    m.send_bytes(&greeting_rest(1, "NULL", false)).await;
    m.expect_ready(SocketType::Dealer, Some(b"")).await;
    m.send_ready(SocketType::Dealer, Some(b"")).await;
    dealer_roundtrip(&s, &mut m).await;
    // Our socket wrote to its mock peers, which never read: close would wait LINGER
    // for their EOF.
    drop(m);
    support::close(&s).await;
}

/// A peer that sends its whole greeting and READY in one write, without waiting for ours.
#[tokio::test]
async fn greeting_sent_all_at_once() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    let ep = bind_any(&s).await;
    let mut m = MockPeer::connect(&ep).await;
    let mut burst = greeting(3, 1, "NULL", false);
    burst.extend_from_slice(&ready_frame("DEALER", Some(b"")));
    burst.extend_from_slice(&message_frames(&[b"early"]));
    m.send_bytes(&burst).await;
    m.expect_greeting().await;
    m.expect_ready(SocketType::Dealer, Some(b"")).await;
    let got = recv(&s, "message that came with the greeting").await;
    assert_eq!(frames(&got), [b"early".to_vec()]);
    dealer_roundtrip(&s, &mut m).await;
    // Our socket wrote to its mock peers, which never read: close would wait LINGER
    // for their EOF.
    drop(m);
    support::close(&s).await;
}

/// READY's metadata, byte for byte, for each request-reply socket type: `Socket-Type`, and
/// `Identity` (our routing id) for REQ, DEALER and ROUTER only, as libzmq sends it.
#[tokio::test]
async fn ready_metadata_is_exact() {
    let _panics = support::check_library_panics();
    let cases: [(SocketType, &[u8], SocketType); 5] = [
        (SocketType::Dealer, b"dealer-7", SocketType::Router),
        (SocketType::Dealer, b"", SocketType::Dealer),
        (SocketType::Req, b"req-id", SocketType::Rep),
        (SocketType::Router, b"rtr", SocketType::Dealer),
        (SocketType::Rep, b"", SocketType::Req),
    ];
    for (ours, id, mock_type) in cases {
        let s = Socket::new(ours);
        if !id.is_empty() {
            s.set_routing_id(Bytes::from_static(id))
                .unwrap_or_else(|e| panic!("{ours}: set_routing_id: {e}"));
        }
        let ep = bind_any(&s).await;
        let mut m = MockPeer::connect(&ep).await;
        m.expect_greeting_staged_for(id, 1).await;
        let mut want = vec![0x04, 0];
        want.extend_from_slice(b"\x05READY\x0bSocket-Type");
        want.extend_from_slice(&(ours.as_str().len() as u32).to_be_bytes());
        want.extend_from_slice(ours.as_str().as_bytes());
        if matches!(
            ours,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        ) {
            want.extend_from_slice(b"\x08Identity");
            want.extend_from_slice(&(id.len() as u32).to_be_bytes());
            want.extend_from_slice(id);
        }
        want[1] = (want.len() - 2) as u8;
        m.expect_bytes(&want).await;
        m.send_ready(mock_type, Some(b"mock")).await;
        // Our socket wrote to its mock peers, which never read: close would wait LINGER
        // for their EOF.
        drop(m);
        support::close(&s).await;
    }
}

/// libzmq pads the signature with the 64-bit length routing-id-length + 1 (a ZMTP 1.0
/// identity header); for a DEALER with routing id `peer-1` that is `FF 0..0 07 7F`.
#[tokio::test]
async fn signature_padding_carries_routing_id_length_like_libzmq() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    s.set_routing_id(Bytes::from_static(b"peer-1")).unwrap();
    let ep = bind_any(&s).await;
    let mut m = MockPeer::connect(&ep).await;
    m.expect_bytes(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 0x07, 0x7F])
        .await;
    m.send_signature().await;
    m.expect_bytes(&[3]).await;
    m.send_bytes(&[3]).await;
    m.expect_bytes(&greeting_rest(1, "NULL", false)).await;
    m.send_bytes(&greeting_rest(1, "NULL", false)).await;
    m.expect_ready(SocketType::Dealer, Some(b"peer-1")).await;
    m.send_ready(SocketType::Router, Some(b"")).await;
    m.send_message(&msg(&[b"hi"])).await;
    assert_eq!(frames(&recv(&s, "DEALER recv").await), [b"hi".to_vec()]);
    // Our socket wrote to its mock peers, which never read: close would wait LINGER
    // for their EOF.
    drop(m);
    support::close(&s).await;
}

/// Closing a socket with nothing queued returns promptly even when one of its connections
/// is stuck in the handshake (libzmq's LINGER only holds back unsent messages).
#[tokio::test]
async fn close_does_not_wait_for_a_stalled_handshake() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    let ep = bind_any(&s).await;
    let mut m = MockPeer::connect(&ep).await;
    // Read our signature and never answer.
    m.expect_bytes(&SIGNATURE).await;
    let limit = Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    if tokio::time::timeout(limit, s.close()).await.is_err() {
        panic!(
            "close() with no queued messages still running after {:?} (stalled handshake)",
            started.elapsed()
        );
    }
    m.expect_closed().await;
}

/// A ZMTP 3.0 peer (minor version 0) still completes the handshake with a DEALER, and
/// messages flow both ways.
#[tokio::test]
async fn zmtp30_peer_works_with_dealer() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    let ep = bind_any(&s).await;
    let mut m = MockPeer::connect(&ep).await;
    m.expect_greeting_staged(0).await;
    m.send_ready(SocketType::Dealer, Some(b"")).await;
    m.expect_ready(SocketType::Dealer, Some(b"")).await;
    dealer_roundtrip(&s, &mut m).await;
    // Our socket wrote to its mock peers, which never read: close would wait LINGER
    // for their EOF.
    drop(m);
    support::close(&s).await;
}

/// PING is answered by PONG echoing the context (at most 16 bytes of it, as libzmq).
#[tokio::test]
async fn ping_gets_pong_with_same_context() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    let ep = bind_any(&s).await;
    let mut m = MockPeer::connect(&ep).await;
    m.handshake(SocketType::Dealer, SocketType::Dealer, b"")
        .await;

    m.send_bytes(&command_frame(b"PING", b"\x00\x0actx-123"))
        .await;
    m.expect_bytes(&command_frame(b"PONG", b"ctx-123")).await;

    m.send_bytes(&command_frame(b"PING", b"\x00\x00")).await;
    m.expect_bytes(&command_frame(b"PONG", b"")).await;

    let long: Vec<u8> = (0u8..20).collect();
    let mut ping = vec![0x01, 0x00];
    ping.extend_from_slice(&long);
    m.send_bytes(&command_frame(b"PING", &ping)).await;
    m.expect_bytes(&command_frame(b"PONG", &long[..16])).await;

    // The same through the crate's own command type.
    m.send_command(&Command::Ping {
        ttl: 5,
        context: Bytes::from_static(b"typed"),
    })
    .await;
    assert_eq!(
        m.expect_command().await,
        Command::Pong(Bytes::from_static(b"typed"))
    );

    dealer_roundtrip(&s, &mut m).await;
    // Our socket wrote to its mock peers, which never read: close would wait LINGER
    // for their EOF.
    drop(m);
    support::close(&s).await;
}

/// A peer announcing a socket type that cannot talk to ours (PUB to our REQ) gets an ERROR
/// command and the connection is closed; a compatible peer on the same socket then works.
#[tokio::test]
async fn incompatible_socket_type_gets_error_then_close() {
    let _panics = support::check_library_panics();
    support::record_library_panics();
    let s = Socket::new(SocketType::Req);
    let ep = bind_any(&s).await;

    let mut bad = MockPeer::connect(&ep).await;
    bad.expect_greeting_staged(1).await;
    bad.send_ready(SocketType::Pub, None).await;
    bad.expect_ready(SocketType::Req, Some(b"")).await;
    match bad.expect_command().await {
        Command::Error(reason) => assert!(!reason.is_empty(), "ERROR without a reason"),
        other => panic!("expected ERROR, got {other:?}"),
    }
    bad.expect_closed().await;

    let mut good = MockPeer::connect(&ep).await;
    good.handshake(SocketType::Rep, SocketType::Req, b"").await;
    send(&s, msg(&[b"request"]), "REQ send").await;
    good.expect_bytes(&message_frames(&[b"", b"request"])).await;
    good.send_message(&msg(&[b"", b"reply"])).await;
    assert_eq!(frames(&recv(&s, "REQ recv").await), [b"reply".to_vec()]);
    // Our socket wrote to its mock peers, which never read: close would wait LINGER
    // for their EOF.
    drop(bad);
    drop(good);
    support::close(&s).await;
    assert_no_library_panics();
}

// ---------------------------------------------------------------------------------------
// Hostile input. Each test binds a ROUTER, connects a well-behaved peer `good-1`, lets a
// mock misbehave, expects only the mock's connection to close, then checks that `good-1`
// still works and that a new peer `good-2` can connect and work too.

struct Hostile {
    s: Socket,
    ep: String,
    good1: MockPeer,
}

impl Hostile {
    async fn new(maxmsgsize: Option<u64>) -> Hostile {
        support::record_library_panics();
        let s = Socket::new(SocketType::Router);
        if maxmsgsize.is_some() {
            s.set_maxmsgsize(maxmsgsize).unwrap();
        }
        let ep = bind_any(&s).await;
        let mut good1 = MockPeer::connect(&ep).await;
        good1
            .handshake_as(SocketType::Dealer, b"good-1", SocketType::Router, b"")
            .await;
        router_roundtrip(&s, &mut good1, b"good-1", "before the attack").await;
        Hostile { s, ep, good1 }
    }

    /// A mock that has connected and exchanged the whole greeting.
    async fn after_greeting(&self) -> MockPeer {
        let mut m = MockPeer::connect(&self.ep).await;
        m.expect_greeting_staged(1).await;
        m
    }

    /// A mock that has completed the handshake as DEALER `bad`.
    async fn after_ready(&self) -> MockPeer {
        let mut m = MockPeer::connect(&self.ep).await;
        m.handshake_as(SocketType::Dealer, b"bad", SocketType::Router, b"")
            .await;
        m
    }

    async fn check_survived(mut self) {
        router_roundtrip(&self.s, &mut self.good1, b"good-1", "after the attack").await;
        let mut good2 = MockPeer::connect(&self.ep).await;
        good2
            .handshake_as(SocketType::Dealer, b"good-2", SocketType::Router, b"")
            .await;
        router_roundtrip(&self.s, &mut good2, b"good-2", "new peer after the attack").await;
        // The mocks never read: close would wait its LINGER for their EOF.
        drop(good2);
        let Hostile { s, good1, .. } = self;
        drop(good1);
        support::close(&s).await;
        assert_no_library_panics();
    }
}

async fn router_roundtrip(s: &Socket, m: &mut MockPeer, id: &[u8], when: &str) {
    m.send_message(&msg(&[b"ping"])).await;
    let got = recv(
        s,
        &format!("ROUTER recv from {:?} {when}", Bytes::copy_from_slice(id)),
    )
    .await;
    assert_eq!(frames(&got), [id.to_vec(), b"ping".to_vec()], "{when}");
    send(s, msg(&[id, b"pong"]), &format!("ROUTER send {when}")).await;
    m.expect_bytes(&message_frames(&[b"pong"])).await;
}

#[tokio::test]
async fn bad_signature_closes_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(None).await;
    // First byte not FF.
    let mut m = MockPeer::connect(&h.ep).await;
    m.expect_bytes(&SIGNATURE).await;
    m.send_bytes(b"GET / HTTP").await;
    m.expect_closed().await;
    // FF but bit 0 of byte 9 clear: an unversioned (ZMTP 1.0) peer, which we do not speak.
    let mut m = MockPeer::connect(&h.ep).await;
    m.expect_bytes(&SIGNATURE).await;
    m.send_bytes(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7E]).await;
    m.expect_closed().await;
    h.check_survived().await;
}

#[tokio::test]
async fn major_version_2_closes_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(None).await;
    let mut m = MockPeer::connect(&h.ep).await;
    m.expect_bytes(&SIGNATURE).await;
    m.send_bytes(&SIGNATURE).await;
    m.expect_bytes(&[3]).await;
    m.send_bytes(&[2]).await;
    // Nothing of the ZMTP 3 greeting's rest may follow.
    m.expect_closed().await;
    h.check_survived().await;
}

#[tokio::test]
async fn reserved_flag_bits_close_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(None).await;
    for flags in [0x08u8, 0x10, 0x80] {
        let mut m = h.after_ready().await;
        m.send_bytes(&[flags, 1, b'x']).await;
        m.expect_closed().await;
    }
    h.check_survived().await;
}

#[tokio::test]
async fn oversize_frame_closes_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(Some(100)).await;
    let mut m = h.after_ready().await;
    // Exactly MAXMSGSIZE is fine.
    m.send_bytes(&frame(0, &[7u8; 100])).await;
    let got = recv(&h.s, "100-byte message with MAXMSGSIZE 100").await;
    assert_eq!(frames(&got), [b"bad".to_vec(), vec![7u8; 100]]);
    // One more byte is not.
    m.send_bytes(&frame(0, &[7u8; 101])).await;
    m.expect_closed().await;
    // A declared size far beyond the limit is refused from the header alone.
    let mut m = h.after_ready().await;
    m.send_bytes(&[0x02, 0, 0, 1, 0, 0, 0, 0, 0]).await;
    m.expect_closed().await;
    h.check_survived().await;
}

#[tokio::test]
async fn a_message_before_an_oversize_frame_in_the_same_write_still_arrives() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(Some(100)).await;
    let mut m = h.after_ready().await;
    // One write, likely one read: the complete message decoded before the frame over
    // MAXMSGSIZE is delivered, as libzmq does; then the connection closes.
    let mut bytes = frame(0, &[7u8; 100]);
    bytes.extend_from_slice(&frame(0, &[7u8; 101]));
    m.send_bytes(&bytes).await;
    let got = recv(&h.s, "the message before the oversize frame").await;
    assert_eq!(frames(&got), [b"bad".to_vec(), vec![7u8; 100]]);
    m.expect_closed().await;
    h.check_survived().await;
}

#[tokio::test]
async fn truncated_command_closes_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(None).await;
    // After READY: a command whose name length runs past its body.
    let mut m = h.after_ready().await;
    m.send_bytes(&[0x04, 0x03, 0x05, b'P', b'I']).await;
    m.expect_closed().await;
    // During the handshake: READY whose property value runs past its body.
    let mut m = h.after_greeting().await;
    m.send_bytes(&command_frame(
        b"READY",
        b"\x0bSocket-Type\x00\x00\x00\x06DEA",
    ))
    .await;
    let ours = m.read_until_closed().await;
    assert!(
        ours.is_empty() || ours == ready_frame("ROUTER", Some(b"")),
        "unexpected bytes before close: {ours:02x?}"
    );
    // A PING too short to hold its TTL.
    let mut m = h.after_ready().await;
    m.send_bytes(&command_frame(b"PING", b"\x00")).await;
    m.expect_closed().await;
    h.check_survived().await;
}

#[tokio::test]
async fn garbage_after_ready_closes_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(None).await;
    let mut m = h.after_ready().await;
    m.send_bytes(b"\r\n\r\nHTTP/1.1 400 Bad Request\r\n\r\n")
        .await;
    m.expect_closed().await;
    // A second READY.
    let mut m = h.after_ready().await;
    m.send_bytes(&ready_frame("DEALER", Some(b"again"))).await;
    m.expect_closed().await;
    // A command frame with the MORE flag.
    let mut m = h.after_ready().await;
    m.send_bytes(&[0x05, 0x05, 0x04, b'P', b'I', b'N', b'G'])
        .await;
    m.expect_closed().await;
    h.check_survived().await;
}

#[tokio::test]
async fn message_before_ready_closes_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(None).await;
    let mut m = h.after_greeting().await;
    m.send_bytes(&message_frames(&[b"too early"])).await;
    let ours = m.read_until_closed().await;
    assert!(
        ours.is_empty() || ours == ready_frame("ROUTER", Some(b"")),
        "unexpected bytes before close: {ours:02x?}"
    );
    h.check_survived().await;
}

#[tokio::test]
async fn peer_error_command_closes_only_that_connection() {
    let _panics = support::check_library_panics();
    let h = Hostile::new(None).await;
    let mut m = h.after_ready().await;
    m.send_bytes(&command_frame(b"ERROR", b"\x04oops")).await;
    m.expect_closed().await;
    h.check_survived().await;
}
