//! Hostile RPC input and peers:
//!
//! - a request whose msgpack expands (a byte on the wire, a value in memory) is refused at
//!   `MAX_VALUES` (dropped, as any request the server cannot unpack), memory stays
//!   bounded, and the server goes on serving the same connection;
//! - a "server" that answers a call with 100,000 replies carrying ids the client never
//!   issued, and garbage: the client drops and counts them, its memory stays bounded (in a
//!   child process of its own), and the genuine reply still completes the call;
//! - a server that never answers: calls time out when a timeout is set, the pending calls
//!   never exceed the client's limit, a call beyond it fails at once, and the client
//!   stays usable.

mod support;

use std::future::Future;
use std::time::Duration;

use aiozmq::rpc::wire::{ReplyHeader, RequestHeader, REPLY_HEADER_LEN, REQUEST_HEADER_LEN};
use aiozmq::rpc::{self, call, AttrHandler, DEFAULT_MAX_PENDING_CALLS, MAX_VALUES};
use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use futures_util::FutureExt;
use support::{recv, rss_kib, send, within};

/// The environment variable naming the test a child process runs.
const CHILD_VAR: &str = "AIOZMQ_RPC_HOSTILE_CHILD";

/// Runs `name::child` of this test binary in a new process (a fresh process: memory freed
/// by other tests of this binary stays out of its RSS figures) and fails with the end of
/// its output when it fails.
fn in_child(name: &str) {
    support::record_library_panics();
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            &format!("{name}::child"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, name)
        .output()
        .expect("running the child test");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.is_empty())
        .rev()
        .take(12)
        .collect();
    tail.reverse();
    eprintln!("{name} (child, {}):\n{}", out.status, tail.join("\n"));
    assert!(
        out.status.success(),
        "{name} failed in its child process ({}):\n{}",
        out.status,
        tail.join("\n")
    );
    support::assert_no_library_panics();
}

/// Runs `body` on a fresh current-thread runtime when this process is the child for
/// `name` (one thread: the memory figures are not spread over per-thread allocator
/// arenas).
fn as_child<F: Future<Output = ()>>(name: &str, body: impl FnOnce() -> F) {
    if std::env::var(CHILD_VAR).as_deref() != Ok(name) {
        return;
    }
    let _panics = support::check_library_panics();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(body());
}

/// `name`: a test that runs `body` in a child process (`name::child`, which does nothing
/// in the parent's own run).
macro_rules! isolated {
    ($(#[$doc:meta])* $name:ident => $body:expr) => {
        $(#[$doc])*
        #[test]
        fn $name() {
            in_child(stringify!($name));
        }
        mod $name {
            use super::*;
            #[test]
            fn child() {
                as_child(stringify!($name), || $body);
            }
        }
    };
}

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

/// The request id of a request as a DEALER server receives it (no envelope).
fn request_id(m: &Message) -> u32 {
    assert_eq!(m.len(), 4, "request frames: {m:?}");
    RequestHeader::load(&m[0][..REQUEST_HEADER_LEN])
        .expect("request header")
        .req_id
}

/// A reply to request `req_id` whose body is `body` (packed msgpack).
fn reply_to(req_id: u32, body: &[u8]) -> Message {
    let header = ReplyHeader {
        pid: 7,
        random: 8,
        req_id,
        time: 0.0,
        is_error: false,
    };
    Message::from(vec![
        Bytes::copy_from_slice(&header.encode()),
        Bytes::copy_from_slice(body),
    ])
}

/// Hostile message `i` of a reply flood: a well-formed reply (its body 1 KiB of bin)
/// whose id is never `genuine`, or garbage: the wrong number of frames, a short or long
/// header, empty frames.
fn flood_message(i: u32, genuine: u32) -> Message {
    let mut body = vec![0xc5, 0x03, 0xfd];
    body.extend((0..1021u32).map(|j| (i.wrapping_mul(31) ^ j) as u8));
    let id = match i % 4 {
        // Ids the client issues next (2, 3, ...: still unissued), and far-off ones.
        0 => 2 + i / 4,
        1 => u32::MAX - i,
        2 => i.wrapping_mul(0x9E37_79B9) | 0x8000_0000,
        _ => 0,
    };
    assert_ne!(id, genuine);
    match i % 10 {
        7 => Message::from(vec![Bytes::from(body)]),
        8 => {
            let mut m = reply_to(id, &body);
            m.push_back(Bytes::from_static(b"extra"));
            m
        }
        9 => Message::from(vec![Bytes::from_static(&[1; 16]), Bytes::new()]),
        _ if i % 13 == 0 => Message::from(vec![Bytes::new(), Bytes::new()]),
        _ => reply_to(id, &body),
    }
}

const FLOOD: u32 = 100_000;

isolated! {
    /// A "server" (a raw DEALER) answers a pending call with 100,000 replies carrying ids
    /// the client never issued (the ids it issues next among them) and garbage: the client
    /// drops every one (`dropped_replies` counts them), its memory stays bounded, the
    /// genuine reply completes the call, and the client's next call (whose id the flood
    /// used) gets its own reply.
    a_flood_of_replies_with_unknown_ids_is_dropped_and_memory_stays_bounded => async {
        let server = Socket::new(SocketType::Dealer);
        let endpoint = support::bind_any(&server).await;
        let client = rpc::connect_rpc()
            .connect(endpoint.clone())
            .await
            .expect("client");
        let call = tokio::spawn(client.call_as::<i64>("add", (1, 2), ()));
        let genuine = request_id(&recv(&server, "the call").await);
        assert_eq!(genuine, 1);

        // A first tenth warms the allocator and the connection's buffers up.
        let warm = FLOOD / 10;
        for i in 0..warm {
            send(&server, flood_message(i, genuine), "flood").await;
        }
        let before = rss_kib();
        let mut peak = before;
        for i in warm..FLOOD {
            if i % 10_000 == 0 {
                peak = peak.max(rss_kib());
            }
            send(&server, flood_message(i, genuine), "flood").await;
        }
        send(&server, reply_to(genuine, &[3]), "the genuine reply").await;
        let sum = within("the flooded call", call)
            .await
            .expect("call task")
            .expect("the flooded call failed");
        assert_eq!(sum, 3);
        // The connection keeps the order: the flood was taken in before the genuine reply.
        assert_eq!(client.dropped_replies(), u64::from(FLOOD));
        assert_eq!(client.pending_calls(), 0);
        let peak = peak.max(rss_kib());
        let grown = peak - before;
        eprintln!("RSS {before} KiB before 90,000 hostile replies (88 MiB), at most {peak} KiB during");
        // The replies in flight are bounded by the HWMs (and the kernel's socket buffers):
        // kept, the 90,000 replies of 1 KiB would take 88 MiB at least.
        assert!(grown < 16 * 1024, "RSS grew by {grown} KiB");

        // The next call is id 2, which the flood used many times: only its own reply counts.
        let next = tokio::spawn(client.call_as::<i64>("add", (2, 3), ()));
        let id = request_id(&recv(&server, "the next call").await);
        assert_eq!(id, 2);
        send(&server, reply_to(id, &[5]), "the next reply").await;
        let sum = within("the next call", next).await.unwrap().unwrap();
        assert_eq!(sum, 5);

        client.close();
        within("client close", client.wait_closed()).await;
        support::close(&server).await;
    }
}

isolated! {
    /// With no server to take them (nothing listens at the endpoint), 6,400 calls of 64
    /// tasks, each with a 16 KiB argument, time out one after another: beyond the socket's
    /// own queue (SNDHWM), the requests of the abandoned calls are not kept waiting for a
    /// server, so memory stays bounded however many calls time out (kept, they would take
    /// 100 MiB).
    requests_of_timed_out_calls_do_not_pile_up_while_no_server_listens => async {
        const TASKS: usize = 64;
        const ROUNDS: usize = 100;
        let nobody = support::UnboundIpc::new("rpc-nobody");
        let client = rpc::connect_rpc()
            .connect(nobody.endpoint.clone())
            .max_pending_calls(TASKS)
            .timeout(Duration::from_millis(2))
            .await
            .expect("client");
        let payload = Bytes::from(vec![7u8; 16 * 1024]);
        let run = |rounds: usize| {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let (client, payload) = (client.clone(), payload.clone());
                    tokio::spawn(async move {
                        for _ in 0..rounds {
                            match client.call_as::<i64>("f", (payload.clone(),), ()).await {
                                Err(rpc::Error::Timeout) => {}
                                other => panic!("a call nobody can answer: {other:?}"),
                            }
                        }
                    })
                })
                .collect();
            async move {
                for t in tasks {
                    within("the calling tasks", t).await.expect("a calling task");
                }
            }
        };
        // The first 1,280 fill the socket's own queue (SNDHWM, 1000 messages, waiting for a
        // server as in libzmq): that much stays, and no more.
        run(20).await;
        let before = rss_kib();
        run(ROUNDS).await;
        let grown = rss_kib().saturating_sub(before);
        eprintln!("RSS {before} KiB before {} timed-out calls of 16 KiB, grown by {grown} KiB", TASKS * ROUNDS);
        assert_eq!(client.pending_calls(), 0);
        assert!(grown < 8 * 1024, "RSS grew by {grown} KiB");
        client.close();
        within("client close", client.wait_closed()).await;
    }
}

/// A started call: its task and its future's result.
type CallTask = tokio::task::JoinHandle<Result<i64, rpc::Error>>;

/// Starts `n` calls of `add` on `client` as tasks.
fn start_calls(client: &rpc::RpcClient, n: usize) -> Vec<CallTask> {
    (0..n)
        .map(|i| tokio::spawn(client.call_as::<i64>("add", (i as i64, 1), ())))
        .collect()
}

/// Receives `n` requests on `server` and returns their ids.
async fn requests(server: &Socket, n: usize) -> Vec<u32> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(request_id(&recv(server, "a request").await));
    }
    ids
}

#[track_caller]
fn assert_refused_at_limit(r: Option<Result<i64, rpc::Error>>, limit: usize) {
    match r {
        Some(Err(rpc::Error::TooManyPendingCalls(n))) if n == limit => {}
        other => panic!("a call beyond the limit of {limit}: {other:?}"),
    }
}

/// A server that never answers: without a timeout, calls wait (until dropped) and their
/// number never exceeds the client's `max_pending_calls`; the call beyond it fails at once
/// with `TooManyPendingCalls` and sends nothing; with a timeout every call fails with
/// `Timeout` and frees its place; the client then serves a new call, and a late reply to a
/// timed-out call is dropped. The default limit is `DEFAULT_MAX_PENDING_CALLS`.
#[tokio::test]
async fn never_answered_calls_time_out_and_pending_calls_stay_within_the_limit() {
    let _panics = support::check_library_panics();
    const LIMIT: usize = 64;
    let server = Socket::new(SocketType::Dealer);
    let endpoint = support::bind_any(&server).await;
    let client = rpc::connect_rpc()
        .connect(endpoint.clone())
        .max_pending_calls(LIMIT)
        .await
        .expect("client");
    assert_eq!(client.timeout(), None);

    // No timeout: the calls wait; the one beyond the limit fails at once.
    let calls = start_calls(&client, LIMIT);
    let ids = requests(&server, LIMIT).await;
    assert_eq!(client.pending_calls(), LIMIT);
    assert_refused_at_limit(client.call_as("add", (0, 0), ()).now_or_never(), LIMIT);
    assert_eq!(client.pending_calls(), LIMIT);
    // Dropping calls frees their places.
    for c in calls {
        c.abort();
        assert!(within("an aborted call", c)
            .await
            .unwrap_err()
            .is_cancelled());
    }
    assert_eq!(client.pending_calls(), 0);

    // A timeout: every call fails with it. The calls are prepared (and counted) before any
    // is polled, and a call's timeout starts at its first poll, so the limit is checked
    // before any can expire.
    let timed = client.with_timeout(Duration::from_millis(200));
    let prepared: Vec<_> = (0..LIMIT)
        .map(|i| timed.call_as::<i64>("add", (i as i64, 1), ()))
        .collect();
    assert_eq!(client.pending_calls(), LIMIT);
    assert_refused_at_limit(timed.call_as("add", (0, 0), ()).now_or_never(), LIMIT);
    let calls: Vec<_> = prepared.into_iter().map(tokio::spawn).collect();
    for c in calls {
        match within("a call with a timeout", c).await.unwrap() {
            Err(rpc::Error::Timeout) => {}
            other => panic!("a never-answered call with a timeout: {other:?}"),
        }
    }
    assert_eq!(client.pending_calls(), 0);
    // Each was sent (the socket had room), with the ids that follow; the refused calls
    // took no id and sent nothing: the next request is the next call's.
    let late = requests(&server, LIMIT).await;
    let expected: Vec<u32> = (LIMIT as u32 + 1..=2 * LIMIT as u32).collect();
    assert_eq!(
        (&ids[..], &late[..]),
        (&(1..=LIMIT as u32).collect::<Vec<_>>()[..], &expected[..])
    );

    // Usable after: a late reply to a timed-out call is dropped, a new call is answered.
    let dropped = client.dropped_replies();
    let next = tokio::spawn(timed.with_timeout(None).call_as::<i64>("add", (20, 22), ()));
    let id = request_id(&recv(&server, "the next call").await);
    assert_eq!(
        id,
        2 * LIMIT as u32 + 1,
        "the request after the refused calls"
    );
    send(&server, reply_to(late[0], &[1]), "a late reply").await;
    send(&server, reply_to(id, &[42]), "the reply").await;
    assert_eq!(within("the next call", next).await.unwrap().unwrap(), 42);
    assert_eq!(client.dropped_replies(), dropped + 1);

    // The default limit, reached by calls prepared but not yet polled (nothing is sent).
    let unlimited = rpc::connect_rpc()
        .connect(endpoint)
        .await
        .expect("second client");
    let waiting: Vec<_> = (0..DEFAULT_MAX_PENDING_CALLS)
        .map(|_| unlimited.call_as::<i64>("add", (1, 1), ()))
        .collect();
    assert_eq!(unlimited.pending_calls(), DEFAULT_MAX_PENDING_CALLS);
    assert_refused_at_limit(
        unlimited.call_as("add", (0, 0), ()).now_or_never(),
        DEFAULT_MAX_PENDING_CALLS,
    );
    drop(waiting);
    assert_eq!(unlimited.pending_calls(), 0);

    for c in [&client, &unlimited] {
        c.close();
        within("client close", c.wait_closed()).await;
    }
    support::close(&server).await;
}
