//! Heartbeats: we PING a peer every HEARTBEAT_IVL and drop it when it stays silent for
//! HEARTBEAT_TIMEOUT; a peer's PING TTL is honoured.

mod support;

use aiozmq::zmtp::{Config, Connection, Event};
use aiozmq::{EventKind, Socket, SocketType};
use bytes::{Bytes, BytesMut};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(5);

/// A raw peer that completes the handshake and then only reads (never answers PINGs).
async fn handshake(stream: &mut TcpStream, conn: &mut Connection) {
    let mut buf = BytesMut::new();
    while !conn.is_ready() {
        let out = conn.transmit().to_vec();
        let n = out.len();
        stream.write_all(&out).await.unwrap();
        conn.transmit().advance(n);
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed during handshake");
        buf.extend_from_slice(&chunk[..n]);
        conn.handle_input(&mut buf).unwrap();
    }
    let out = conn.transmit().to_vec();
    let n = out.len();
    stream.write_all(&out).await.unwrap();
    conn.transmit().advance(n);
}

async fn wait_for(mon: &mut aiozmq::Monitor, kind: EventKind) -> aiozmq::MonitorEvent {
    tokio::time::timeout(T, async {
        loop {
            let ev = mon.recv().await.expect("monitor ended");
            if ev.kind == kind {
                return ev;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind:?} event"))
}

#[tokio::test]
async fn silent_peer_is_pinged_then_dropped() {
    let _panics = support::check_library_panics();
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_heartbeat_ivl(Duration::from_millis(50)).unwrap();
    dealer
        .set_heartbeat_ttl(Duration::from_millis(1000))
        .unwrap();
    dealer
        .set_heartbeat_timeout(Duration::from_millis(200))
        .unwrap();
    let mut mon = dealer.monitor(64);
    let ep = dealer.bind("tcp://127.0.0.1:*").await.unwrap();
    let addr = ep.trim_start_matches("tcp://").to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut conn = Connection::new(Config::new(SocketType::Router), Instant::now());
    handshake(&mut stream, &mut conn).await;
    wait_for(&mut mon, EventKind::HandshakeSucceeded).await;

    // The first PING arrives with our TTL (10 deciseconds); we do not answer.
    let mut buf = BytesMut::new();
    let ping = tokio::time::timeout(T, async {
        loop {
            let mut chunk = [0u8; 256];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
            conn.handle_input(&mut buf).unwrap();
            while let Some(ev) = conn.poll_event() {
                if let Event::Ping { ttl } = ev {
                    return ttl;
                }
            }
        }
    })
    .await
    .expect("no PING");
    assert_eq!(ping, 10);
    // Silent past HEARTBEAT_TIMEOUT: the connection is dropped.
    let ev = wait_for(&mut mon, EventKind::Disconnected).await;
    assert!(ev.reason.unwrap().contains("heartbeat"));
}

#[tokio::test]
async fn peer_ttl_is_honoured_and_pings_answered() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let mut mon = router.monitor(64);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let addr = ep.trim_start_matches("tcp://").to_string();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut conn = Connection::new(Config::new(SocketType::Dealer), Instant::now());
    handshake(&mut stream, &mut conn).await;
    wait_for(&mut mon, EventKind::HandshakeSucceeded).await;
    // PING with a 0.3 s TTL and a context: answered with PONG echoing it.
    conn.send_ping(3, Bytes::from_static(b"ctx"));
    let out = conn.transmit().to_vec();
    let n = out.len();
    stream.write_all(&out).await.unwrap();
    conn.transmit().advance(n);
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 256];
    let got = tokio::time::timeout(T, async {
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() >= 7 {
                return buf.clone();
            }
        }
    })
    .await
    .expect("no PONG");
    assert_eq!(&got[..], b"\x04\x08\x04PONGctx");
    // Then silence beyond the TTL: the router drops us.
    let ev = wait_for(&mut mon, EventKind::Disconnected).await;
    assert!(ev.reason.unwrap().contains("TTL"));
}
