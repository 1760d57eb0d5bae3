//! The send path end to end: messages of every size and shape, sent in bursts against a
//! small SNDHWM, arrive intact and in order. `send` encodes messages for a TCP or IPC
//! connection into a write buffer the connection task swaps with its own, copying small
//! bodies and chaining large ones; this drives that buffer through many swaps, with
//! frames on both sides of the copy/chain threshold (8 KiB) and of the short/long header
//! (255 bytes) in one stream.

mod support;

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use std::future::Future;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const COUNT: usize = 3000;
const SIZES: [usize; 7] = [0, 1, 255, 256, 8191, 8192, 70_000];

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

/// Message `i`: one to three frames, sizes cycling through `SIZES`, bytes derived from
/// `i` and the frame index.
fn message(i: usize) -> Message {
    let mut m = Message::new();
    for f in 0..1 + i % 3 {
        let size = SIZES[(i + f) % SIZES.len()];
        let fill = (i as u8) ^ (f as u8).wrapping_mul(0x5b);
        m.push_back(Bytes::from(vec![fill; size]));
    }
    m
}

fn check(i: usize, got: &Message) {
    let want = message(i);
    assert_eq!(got.len(), want.len(), "message {i}: frame count");
    for (f, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            a == b,
            "message {i}, frame {f}: {} bytes, want {}",
            a.len(),
            b.len()
        );
    }
}

async fn push_pull(endpoint: &str) {
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind(endpoint).await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(7).unwrap();
    push.connect(&ep).await.unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..COUNT {
            push.send(message(i)).await.unwrap();
        }
        push
    });
    for i in 0..COUNT {
        check(i, &within(pull.recv()).await.unwrap());
    }
    support::close(&within(sender).await.unwrap()).await;
    support::close(&pull).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_pull_over_tcp_keeps_every_message_whole_and_in_order() {
    let _panics = support::check_library_panics();
    push_pull("tcp://127.0.0.1:*").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_pull_over_ipc_keeps_every_message_whole_and_in_order() {
    let _panics = support::check_library_panics();
    let path = std::env::temp_dir().join(format!("aiozmq-send-path-{}.ipc", std::process::id()));
    push_pull(&format!("ipc://{}", path.display())).await;
}

#[tokio::test]
async fn dealer_and_router_keep_every_message_whole_and_in_order() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_routing_id(Bytes::from_static(b"d")).unwrap();
    dealer.set_sndhwm(5).unwrap();
    router.set_sndhwm(5).unwrap();
    router.set_router_mandatory(true).unwrap();
    dealer.connect(&ep).await.unwrap();
    // DEALER → ROUTER (round-robin path), then ROUTER → DEALER (routed path), both while
    // the other side reads: the ROUTER echoes each message back as it arrives.
    let echo = async {
        for i in 0..COUNT {
            let mut m = within(router.recv()).await.unwrap();
            let rid = m.pop_front().unwrap();
            assert_eq!(&rid[..], b"d");
            check(i, &m);
            m.push_front(rid);
            within(router.send(m)).await.unwrap();
        }
    };
    let client = async {
        let sends = async {
            for i in 0..COUNT {
                within(dealer.send(message(i))).await.unwrap();
            }
        };
        let recvs = async {
            for i in 0..COUNT {
                check(i, &within(dealer.recv()).await.unwrap());
            }
        };
        tokio::join!(sends, recvs);
    };
    tokio::join!(echo, client);
    support::close(&dealer).await;
    support::close(&router).await;
}
