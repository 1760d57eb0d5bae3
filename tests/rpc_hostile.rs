//! Hostile RPC input: a request whose msgpack expands (a byte on the wire, a value in
//! memory) is refused at `MAX_VALUES` (dropped, as any request the server cannot unpack),
//! memory stays bounded, and the server goes on serving the same connection.

mod support;

use std::time::Duration;

use aiozmq::rpc::wire::{ReplyHeader, RequestHeader, REPLY_HEADER_LEN};
use aiozmq::rpc::{self, call, AttrHandler, MAX_VALUES};
use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use support::{recv, rss_kib, send};

struct Handler;

impl Handler {
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    fn count(&self, items: Vec<rpc::Value>) -> i64 {
        items.len() as i64
    }
}

/// msgpack: an array (array32) holding one array of `n` nils.
fn args_of_nils(n: usize) -> Bytes {
    let mut v = vec![0x91, 0xdd];
    v.extend_from_slice(&(n as u32).to_be_bytes());
    v.resize(v.len() + n, 0xc0);
    Bytes::from(v)
}

/// `count([nil; n])` as a raw request with id `req_id`.
fn raw_count(req_id: u32, n: usize) -> Message {
    let header = RequestHeader {
        pid: 1,
        random: 2,
        req_id,
        time: 0.0,
    };
    Message::from(vec![
        Bytes::copy_from_slice(&header.encode()),
        Bytes::from_static(b"count"),
        args_of_nils(n),
        Bytes::from_static(&[0x80]),
    ])
}

/// The next reply on `dealer`: its header and body.
async fn reply(dealer: &Socket, what: &str) -> (ReplyHeader, Bytes) {
    let reply = recv(dealer, what).await;
    assert_eq!(reply.len(), 2, "{what}: reply frames: {reply:?}");
    let h = ReplyHeader::load(&reply[0][..REPLY_HEADER_LEN]).expect("reply header");
    (h, reply[1].clone())
}

#[tokio::test]
async fn an_expanding_request_is_refused_alone_and_memory_stays_bounded() {
    support::record_library_panics();
    let handler = AttrHandler::new(Handler)
        .method("add", ["a", "b"], Handler::add)
        .method("count", ["items"], Handler::count);
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .await
        .expect("serve");
    let endpoint = server.bindings()[0].clone();
    let client = rpc::connect_rpc()
        .connect(endpoint.clone())
        .await
        .expect("client");
    let dealer = Socket::new(SocketType::Dealer);
    support::connect(&dealer, &endpoint).await;

    // At the limit (the outer array, the inner one and its nils): served.
    send(
        &dealer,
        raw_count(1, MAX_VALUES - 2),
        "request at the limit",
    )
    .await;
    let (h, body) = reply(&dealer, "reply at the limit").await;
    assert!(!h.is_error, "a request at the limit was refused: {body:?}");
    let mut count = vec![0xce]; // uint32
    count.extend_from_slice(&((MAX_VALUES - 2) as u32).to_be_bytes());
    assert_eq!((h.req_id, &body[..]), (1, &count[..]));

    // A MiB of nils, four times the limit, ten times over: each is dropped, and the next
    // request on the same connection is the next one answered.
    let before = rss_kib();
    for id in 2..12u32 {
        send(&dealer, raw_count(id, 1 << 20), "expanding request").await;
    }
    send(&dealer, raw_count(12, 3), "small request").await;
    let (h, body) = reply(&dealer, "reply after the expanding requests").await;
    assert_eq!(
        (h.req_id, h.is_error, &body[..]),
        (12, false, &[3u8][..]),
        "an expanding request was answered"
    );
    let grown = rss_kib().saturating_sub(before);
    // Ten refused requests of 1 MiB: about the input itself, not tens of bytes per byte.
    assert!(grown < 48 * 1024, "RSS grew by {grown} KiB");

    // The server goes on serving others.
    let sum: i64 = tokio::time::timeout(Duration::from_secs(10), call!(client, add(2, 3)))
        .await
        .expect("call timed out")
        .expect("call failed");
    assert_eq!(sum, 5);

    {
        let s = &client;
        s.close();
        tokio::time::timeout(Duration::from_secs(10), s.wait_closed())
            .await
            .expect("client close");
    }
    server.close();
    tokio::time::timeout(Duration::from_secs(10), server.wait_closed())
        .await
        .expect("server close");
    tokio::time::timeout(Duration::from_secs(40), dealer.close())
        .await
        .expect("dealer close");
    support::assert_no_library_panics();
}
