//! Hostile peers over TCP: each test shows that the offender alone is dealt with (closed,
//! refused, or held at a bounded cost) while a well-behaved peer on the same socket keeps
//! being served, and, where memory is at stake, that the process's memory (VmRSS of
//! `/proc/self/status`) stays within a stated bound.
//!
//! - a subscription flood (100,000 distinct SUBSCRIBE commands) on PUB and on XPUB;
//! - one SUBSCRIBE with a 256 KiB topic (a quarter of what a command may carry);
//! - 100 MiB of upstream data messages to an XPUB whose application does not read them;
//! - a message frame declaring 2^62 bytes (and one declaring 2^64 - 1) under the default,
//!   unlimited MAXMSGSIZE, on ROUTER and on REP (whose `recv` reads the connection
//!   itself);
//! - ROUTER peer ids that start with a zero byte, and colliding ids (with and without
//!   ROUTER_HANDOVER);
//! - garbage instead of ZMTP, garbage in a PLAIN handshake, and a frame with reserved flags.
//!
//! The tests that measure memory run each in a child process of their own (see
//! `isolated!`), one at a time: a fresh process, so that memory freed by earlier tests
//! cannot hide growth, and a crash (a stack overflow aborts the process) fails that test
//! alone.

mod support;

use std::future::Future;
use std::time::Duration;

use aiozmq::{EventKind, Monitor, Socket, SocketType};
use support::mock::{command_frame, frame, greeting, MockPeer};
use support::{
    assert_no_library_panics, bind_any, close, connect, frames, msg, record_library_panics, recv,
    rss_kib, send, wait_event, within, OP_TIMEOUT,
};

/// The children run one at a time (a flood takes most of a gigabyte while the bugs
/// described on the tests are open).
static CHILDREN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The environment variable naming the isolated test a child process runs.
const CHILD_VAR: &str = "AIOZMQ_HOSTILE_CHILD";

/// Runs `name::child` of this test binary in a new process and fails with the end of its
/// output when it fails or dies (a stack overflow aborts the process; a fresh process
/// also keeps memory freed by earlier tests out of its RSS figures).
fn in_child(name: &str) {
    record_library_panics();
    let _one_at_a_time = CHILDREN.lock().unwrap_or_else(|e| e.into_inner());
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
    assert_no_library_panics();
}

/// Runs `body` on a fresh runtime when this process is the child for `name`.
fn as_child<F: Future<Output = ()>>(name: &str, body: impl FnOnce() -> F) {
    if std::env::var(CHILD_VAR).as_deref() != Ok(name) {
        return;
    }
    record_library_panics();
    // One thread: the process's memory figures are not spread over per-thread
    // allocator arenas (memory freed on one thread is reused by the next allocation).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(body());
    assert_no_library_panics();
}

/// `name`: a test that runs `body` in a child process (`name::child`, which does
/// nothing in the parent's own run).
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

const MIB: u64 = 1024;

/// 16 pseudo-random bytes per topic (xorshift): distinct topics sharing no long prefix,
/// the costliest kind for a prefix trie.
fn random_topics(n: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let mut t = [0u8; 16];
            t[..8].copy_from_slice(&next().to_be_bytes());
            t[8..].copy_from_slice(&next().to_be_bytes());
            // Never a prefix of the probes or of the good subscriber's topic.
            t[0] |= 0x80;
            t
        })
        .collect()
}

fn subscribe_commands<'a>(topics: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for t in topics {
        out.extend_from_slice(&command_frame(b"SUBSCRIBE", t));
    }
    out
}

/// A good SUB on `ep` subscribed to "news", proven to receive (PUB: probes until one
/// arrives, the subscription having reached the publisher).
async fn good_subscriber(publ: &Socket, ep: &str) -> Socket {
    let sub = Socket::new(SocketType::Sub);
    sub.set_linger(Duration::ZERO).unwrap();
    sub.subscribe("news").unwrap();
    connect(&sub, ep).await;
    news_arrives(publ, &sub, "first").await;
    sub
}

/// Publishes "news-TAG-i" until the good subscriber gets one of them.
async fn news_arrives(publ: &Socket, sub: &Socket, tag: &str) {
    let prefix = format!("news-{tag}-");
    within(&format!("news {tag} reaching the good subscriber"), async {
        for i in 0.. {
            send(publ, msg(&[format!("{prefix}{i}").as_bytes()]), "news").await;
            if let Ok(m) = tokio::time::timeout(Duration::from_millis(20), sub.recv()).await {
                if m.expect("SUB recv")[0].starts_with(prefix.as_bytes()) {
                    return;
                }
            }
        }
    })
    .await;
}

/// One flood: a mock SUB subscribes to `n` distinct topics, then to "sentinel"; the
/// publisher has processed everything once a "sentinel" probe reaches the mock. XPUB
/// also reads the `n + 1` subscription messages.
async fn flood_once(publ: &Socket, ep: &str, n: usize, seed: u64, mon: &mut Monitor) {
    let xpub = publ.socket_type() == SocketType::XPub;
    let mut mock = MockPeer::connect(ep).await;
    mock.handshake(SocketType::Sub, publ.socket_type(), b"")
        .await;
    let topics = random_topics(n, seed);
    let mut bytes = subscribe_commands(topics.iter().map(|t| &t[..]));
    bytes.extend_from_slice(&command_frame(b"SUBSCRIBE", b"sentinel"));
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let mock_task = tokio::spawn(async move {
        mock.send_bytes(&bytes).await;
        let m = mock.expect_message().await;
        assert!(m[0].starts_with(b"sentinel"), "{:?}", frames(&m));
        let _ = tx.send(());
        mock
    });
    if xpub {
        for (i, t) in topics.iter().enumerate() {
            let m = recv(publ, "subscription at XPUB").await;
            let mut want = vec![1u8];
            want.extend_from_slice(t);
            assert_eq!(frames(&m), vec![want], "subscription {i}");
        }
        let m = recv(publ, "sentinel subscription").await;
        assert_eq!(frames(&m), vec![b"\x01sentinel".to_vec()]);
    }
    within("the flood being processed", async {
        for i in 0.. {
            send(publ, msg(&[format!("sentinel-{i}").as_bytes()]), "probe").await;
            if tokio::time::timeout(Duration::from_millis(20), &mut rx)
                .await
                .is_ok()
            {
                return;
            }
        }
    })
    .await;
    let mock = within("the mock", mock_task).await.unwrap();
    drop(mock);
    wait_event(mon, EventKind::Disconnected, "the flooding mock left").await;
    if xpub {
        // The topics left without subscriber are reported (libzmq's XPUB does too).
        for _ in 0..=n {
            let m = recv(publ, "unsubscription at XPUB").await;
            assert_eq!(m[0][0], 0, "{:?}", frames(&m));
        }
    }
}

/// 100,000 distinct subscriptions from one peer, twice (a second peer after the first
/// left). As in libzmq, subscriptions are not limited: the flood costs memory in
/// proportion, the publisher keeps serving its good subscriber, and what the flood held
/// is given back when the peer goes (the second flood does not grow the process again).
async fn subscription_flood(t: SocketType) {
    const N: usize = 100_000;
    record_library_panics();
    let publ = Socket::new(t);
    publ.set_linger(Duration::ZERO).unwrap();
    let mut mon = publ.monitor(4096);
    let ep = bind_any(&publ).await;
    let good = good_subscriber(&publ, &ep).await;
    if t == SocketType::XPub {
        let m = recv(&publ, "the good subscriber's subscription").await;
        assert_eq!(frames(&m), vec![b"\x01news".to_vec()]);
    }

    let before = rss_kib();
    flood_once(&publ, &ep, N, 0x1234_5678, &mut mon).await;
    let after_one = rss_kib();
    news_arrives(&publ, &good, "after flood 1").await;
    flood_once(&publ, &ep, N, 0x9abc_def0, &mut mon).await;
    let after_two = rss_kib();
    news_arrives(&publ, &good, "after flood 2").await;
    let input_kib = (N * (16 + 12)) as u64 / 1024;
    eprintln!(
        "{t:?}: {N} subscriptions ({input_kib} KiB of commands): RSS {before} KiB -> {after_one} KiB \
         after one flood ({} KiB), {after_two} KiB after two",
        after_one.saturating_sub(before)
    );
    // Bound: 64 bytes of memory per byte of input (64 x 2.7 MiB = 171 MiB): generous
    // for a structure that keeps each of 100,000 16-byte topics once.
    let bound = 64 * input_kib;
    assert!(
        after_one.saturating_sub(before) <= bound,
        "{t:?}: one flood of {N} subscriptions grew the process by {} KiB (bound {bound} KiB)",
        after_one.saturating_sub(before)
    );
    assert!(
        after_two.saturating_sub(after_one) <= bound / 4,
        "{t:?}: the second flood grew the process by {} KiB more: the first one's memory was \
         not given back",
        after_two.saturating_sub(after_one)
    );
    close(&good).await;
    close(&publ).await;
    assert_no_library_panics();
}

isolated!(pub_subscription_flood => subscription_flood(SocketType::Pub));
isolated!(xpub_subscription_flood => subscription_flood(SocketType::XPub));

isolated!(
    /// A subscriber that sends 100 MiB of data messages upstream (1 KiB each) to an XPUB
    /// whose application does not read them (RCVHWM 100). README ("HWM semantics"): RCVHWM
    /// bounds the messages queued per peer after receiving, and a connection whose queue is
    /// full stops reading. So the XPUB takes at most about RCVHWM of them (the offender's
    /// writes stall once the kernel buffers are full) and the process grows by at most
    /// 32 MiB, while the good subscriber is still served.
    xpub_upstream_data_flood_is_bounded_by_rcvhwm => upstream_flood());

async fn upstream_flood() {
    const CHUNKS: usize = 100;
    const PER_CHUNK: usize = 1024;
    record_library_panics();
    let xpub = Socket::new(SocketType::XPub);
    xpub.set_linger(Duration::ZERO).unwrap();
    xpub.set_rcvhwm(100).unwrap();
    let mut mon = xpub.monitor(4096);
    let ep = bind_any(&xpub).await;
    let good = good_subscriber(&xpub, &ep).await;
    let m = recv(&xpub, "the good subscriber's subscription").await;
    assert_eq!(frames(&m), vec![b"\x01news".to_vec()]);

    let before = rss_kib();
    let mut mock = MockPeer::connect(&ep).await;
    mock.handshake(SocketType::XSub, SocketType::XPub, b"")
        .await;
    let body = vec![0x55u8; 1000];
    let chunk: Vec<u8> = (0..PER_CHUNK).flat_map(|_| frame(0x00, &body)).collect();
    // Writes until everything is sent or the XPUB stops taking it for 2 s.
    let writer = tokio::spawn(async move {
        let mut sent = 0usize;
        for _ in 0..CHUNKS {
            if !mock.try_send_bytes(&chunk, Duration::from_secs(2)).await {
                break;
            }
            sent += PER_CHUNK;
        }
        (mock, sent)
    });
    let (mock, sent) = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("the flooding writer neither finished nor stalled")
        .unwrap();
    let grown = rss_kib().saturating_sub(before);
    let taken = xpub.counters().messages_in;
    eprintln!(
        "XPUB upstream flood: {sent} of {} messages written, {taken} taken in by the XPUB, \
         RSS grew {grown} KiB",
        CHUNKS * PER_CHUNK
    );
    news_arrives(&xpub, &good, "during the upstream flood").await;
    // RCVHWM, plus what one read may decode past it, plus slack: far below 102,400.
    assert!(
        taken <= 4096,
        "the XPUB took in {taken} upstream messages with RCVHWM 100 and no reader"
    );
    assert!(
        grown <= 32 * MIB,
        "an upstream flood the application does not read grew the process by {grown} KiB \
         ({taken} messages taken in with RCVHWM 100)"
    );
    // A connection stopped at RCVHWM reads nothing, its end included (as libzmq's, whose
    // engine stops polling a full pipe): the application reads, and the rest follows.
    drop(mock);
    let drained = tokio::time::timeout(OP_TIMEOUT, async {
        let mut n = 0usize;
        let gone = std::pin::pin!(wait_event(
            &mut mon,
            EventKind::Disconnected,
            "the flooding mock left"
        ));
        let mut gone = gone;
        loop {
            tokio::select! {
                _ = &mut gone => return n,
                m = xpub.recv() => {
                    m.expect("recv while draining");
                    n += 1;
                }
            }
        }
    })
    .await
    .expect("the mock's end was not seen while the application read");
    // `sent` counts whole chunks; the chunk cut short by the stall may add part of one.
    assert!(
        drained <= sent + PER_CHUNK,
        "read {drained} messages, with {sent} (and part of one chunk) written"
    );
    close(&good).await;
    close(&xpub).await;
    assert_no_library_panics();
}

/// The length of the long topic: a quarter of the largest command frame (1 MiB) a peer
/// may send, enough to show the cost without taking gigabytes of a shared machine.
const LONG_TOPIC: usize = 256 << 10;

isolated!(
    /// One SUBSCRIBE with a 256 KiB topic, then the peer leaves: the publisher keeps serving
    /// its good subscriber, survives the peer's departure, and the topic costs at most 64
    /// bytes of memory per byte (16 MiB). (A stack overflow aborts the child process: this
    /// test then fails with the child's last words.)
    one_subscription_with_a_long_topic => long_topic());

async fn long_topic() {
    {
        record_library_panics();
        let publ = Socket::new(SocketType::Pub);
        publ.set_linger(Duration::ZERO).unwrap();
        let mut mon = publ.monitor(4096);
        let ep = bind_any(&publ).await;
        let good = good_subscriber(&publ, &ep).await;
        let before = rss_kib();
        let mut mock = MockPeer::connect(&ep).await;
        mock.handshake(SocketType::Sub, SocketType::Pub, b"").await;
        let mut topic = vec![b'x'; LONG_TOPIC];
        topic[0] = 0x80;
        let mut bytes = command_frame(b"SUBSCRIBE", &topic);
        bytes.extend_from_slice(&command_frame(b"SUBSCRIBE", b"sentinel"));
        mock.send_bytes(&bytes).await;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let mock_task = tokio::spawn(async move {
            let m = mock.expect_message().await;
            assert!(m[0].starts_with(b"sentinel"));
            let _ = tx.send(());
            mock
        });
        within("the long subscription being processed", async {
            for i in 0.. {
                send(&publ, msg(&[format!("sentinel-{i}").as_bytes()]), "probe").await;
                if tokio::time::timeout(Duration::from_millis(20), &mut rx)
                    .await
                    .is_ok()
                {
                    return;
                }
            }
        })
        .await;
        let grown = rss_kib().saturating_sub(before);
        eprintln!("a {LONG_TOPIC}-byte topic: RSS grew {grown} KiB");
        drop(within("the mock", mock_task).await.unwrap());
        eprintln!("the mock left; waiting for the publisher to drop it");
        wait_event(&mut mon, EventKind::Disconnected, "the mock left").await;
        news_arrives(&publ, &good, "after the long topic").await;
        close(&good).await;
        close(&publ).await;
        assert_no_library_panics();
        let bound = 64 * LONG_TOPIC as u64 / 1024;
        assert!(
            grown <= bound,
            "one {LONG_TOPIC}-byte subscription grew the process by {grown} KiB (bound {bound} KiB)"
        );
    }
}

/// A message frame declaring `declared` bytes, then `sent` bytes of its body.
fn huge_frame_start(declared: u64, sent: usize) -> Vec<u8> {
    let mut f = vec![0x02];
    f.extend_from_slice(&declared.to_be_bytes());
    f.resize(9 + sent, 0xAB);
    f
}

isolated!(
    /// A frame declaring 2^62 bytes, followed by 8 MiB of its body, on a ROUTER and on a
    /// REP (whose waiting `recv` reads the connection itself), both with the default
    /// (unlimited) MAXMSGSIZE: nothing near the declared size is allocated (the process grows
    /// by at most 64 MiB), the socket keeps serving a good peer meanwhile, and drops the
    /// offender when it goes. A frame declaring 2^64 - 1 bytes (more than fits in memory) is
    /// refused at once.
    huge_declared_frame_is_not_allocated => huge_frame());

async fn huge_frame() {
    const SENT: usize = 8 << 20;
    const BOUND_KIB: u64 = 64 * MIB;
    record_library_panics();
    for t in [SocketType::Router, SocketType::Rep] {
        let s = Socket::new(t);
        s.set_linger(Duration::ZERO).unwrap();
        assert_eq!(s.maxmsgsize(), None, "MAXMSGSIZE is unlimited by default");
        let mut mon = s.monitor(4096);
        let ep = bind_any(&s).await;
        let (peer_type, good_type) = match t {
            SocketType::Router => (SocketType::Dealer, SocketType::Dealer),
            _ => (SocketType::Req, SocketType::Req),
        };
        let before = rss_kib();
        let mut bad = MockPeer::connect(&ep).await;
        bad.handshake(peer_type, t, b"").await;
        wait_event(&mut mon, EventKind::HandshakeSucceeded, "the mock").await;
        // Polled first: on REP, a `recv` waiting while the mock is its only peer reads
        // the mock's connection itself.
        let recv_task = async {
            let m = recv(&s, "the good peer's message").await;
            frames(&m)
        };
        let attack = async {
            if t == SocketType::Rep {
                // REQ envelope first: the empty delimiter (MORE), then the huge frame.
                bad.send_bytes(&[0x01, 0x00]).await;
            }
            bad.send_bytes(&huge_frame_start(1 << 62, SENT)).await;
            let during = rss_kib();
            // A good peer, served while the huge frame is pending.
            let good = Socket::new(good_type);
            good.set_linger(Duration::ZERO).unwrap();
            if good_type == SocketType::Dealer {
                good.set_routing_id("good").unwrap();
            }
            connect(&good, &ep).await;
            send(&good, msg(&[b"hello"]), "good peer").await;
            (during, good)
        };
        let (got, (during, good)) = tokio::join!(recv_task, attack);
        match t {
            SocketType::Router => assert_eq!(got, vec![b"good".to_vec(), b"hello".to_vec()]),
            _ => assert_eq!(got, vec![b"hello".to_vec()]),
        }
        match t {
            SocketType::Router => send(&s, msg(&[b"good", b"world"]), "reply").await,
            _ => send(&s, msg(&[b"world"]), "reply").await,
        }
        assert_eq!(frames(&recv(&good, "reply").await), vec![b"world".to_vec()]);
        let grown = during.saturating_sub(before);
        eprintln!(
            "{t:?}: 2^62-byte frame with {} MiB sent: RSS grew {grown} KiB",
            SENT >> 20
        );
        assert!(
            grown <= BOUND_KIB,
            "{t:?}: the process grew by {grown} KiB for a frame of which {} MiB arrived",
            SENT >> 20
        );
        bad.abort();
        wait_event(&mut mon, EventKind::Disconnected, "the huge frame's sender").await;

        // 2^64 - 1: refused as soon as the header arrives.
        let mut bad = MockPeer::connect(&ep).await;
        bad.handshake(peer_type, t, b"").await;
        if t == SocketType::Rep {
            bad.send_bytes(&[0x01, 0x00]).await;
        }
        bad.send_bytes(&huge_frame_start(u64::MAX, 0)).await;
        bad.expect_closed().await;
        let ev = wait_event(&mut mon, EventKind::Disconnected, "2^64 - 1").await;
        eprintln!("{t:?}: 2^64 - 1: {:?}", ev.reason);

        // Still serving.
        send(&good, msg(&[b"again"]), "good peer").await;
        let m = recv(&s, "good peer again").await;
        assert_eq!(frames(&m).last().unwrap(), b"again");
        close(&good).await;
        close(&s).await;
    }
    assert_no_library_panics();
}

/// ROUTER peer ids that start with a zero byte. libzmq reserves them for the ids it
/// generates for anonymous peers, but only in its documentation: since 4.1 (commit
/// "Problem: artificial restriction on binary identities") neither `ZMQ_ROUTING_ID` nor
/// `router_t::identify_peer` refuses them, and a peer announcing one gets it as is.
/// What libzmq does refuse is a duplicate (without ROUTER_HANDOVER) — and it has no
/// guard for a peer that announces the id it will generate next: the next anonymous
/// peer then trips `zmq_assert (ok)` in `add_out_pipe`. Here:
/// - `\0abc` is accepted as is and routable;
/// - a peer announcing an anonymous peer's generated id is refused (the anonymous peer
///   keeps it and is still served);
/// - a peer announcing the next generated id gets it, and the next anonymous peer gets a
///   different one: both are served, each with its own messages.
#[tokio::test]
async fn router_ids_starting_with_a_zero_byte() {
    record_library_panics();
    let router = Socket::new(SocketType::Router);
    router.set_linger(Duration::ZERO).unwrap();
    let mut mon = router.monitor(4096);
    let ep = bind_any(&router).await;

    let mut zero = MockPeer::connect(&ep).await;
    zero.handshake_as(SocketType::Dealer, b"\x00abc", SocketType::Router, b"")
        .await;
    zero.send_message(&msg(&[b"from zero"])).await;
    let m = recv(&router, "message from \\0abc").await;
    assert_eq!(frames(&m), vec![b"\x00abc".to_vec(), b"from zero".to_vec()]);
    send(&router, msg(&[b"\x00abc", b"to zero"]), "to \\0abc").await;
    assert_eq!(
        frames(&zero.expect_message().await),
        vec![b"to zero".to_vec()]
    );

    // An anonymous peer and its generated id.
    let anon = Socket::new(SocketType::Dealer);
    anon.set_linger(Duration::ZERO).unwrap();
    connect(&anon, &ep).await;
    send(&anon, msg(&[b"anon"]), "anonymous").await;
    let m = recv(&router, "anonymous").await;
    let generated = m[0].to_vec();
    assert_eq!(generated.len(), 5, "libzmq's form: a zero byte and 4 bytes");
    assert_eq!(generated[0], 0);

    // A peer claiming it: refused.
    let mut thief = MockPeer::connect(&ep).await;
    thief.expect_greeting_staged(1).await;
    thief.send_ready(SocketType::Dealer, Some(&generated)).await;
    // The refusal comes after the handshake (the id is looked at once READY arrived).
    let _ = thief.read_until_closed().await;
    send(
        &router,
        msg(&[&generated, b"still yours"]),
        "to the anonymous peer",
    )
    .await;
    assert_eq!(
        frames(&recv(&anon, "still routed to the anonymous peer").await),
        vec![b"still yours".to_vec()]
    );

    // A peer claiming the next generated id.
    let n = u32::from_be_bytes(generated[1..5].try_into().unwrap());
    let mut next = vec![0u8];
    next.extend_from_slice(&n.wrapping_add(1).to_be_bytes());
    let mut squatter = MockPeer::connect(&ep).await;
    squatter
        .handshake_as(SocketType::Dealer, &next, SocketType::Router, b"")
        .await;
    squatter.send_message(&msg(&[b"squat"])).await;
    let m = recv(&router, "squatter").await;
    assert_eq!(frames(&m), vec![next.clone(), b"squat".to_vec()]);
    let anon2 = Socket::new(SocketType::Dealer);
    anon2.set_linger(Duration::ZERO).unwrap();
    connect(&anon2, &ep).await;
    send(&anon2, msg(&[b"anon2"]), "second anonymous").await;
    let m = recv(&router, "second anonymous").await;
    let generated2 = m[0].to_vec();
    assert_eq!(generated2[0], 0);
    assert_ne!(generated2, next, "the generator handed out an id in use");
    assert_ne!(generated2, generated);
    send(&router, msg(&[&next, b"to squatter"]), "to the squatter").await;
    send(&router, msg(&[&generated2, b"to anon2"]), "to anon2").await;
    assert_eq!(
        frames(&squatter.expect_message().await),
        vec![b"to squatter".to_vec()]
    );
    assert_eq!(
        frames(&recv(&anon2, "anon2").await),
        vec![b"to anon2".to_vec()]
    );
    assert!(
        mon.try_recv()
            .into_iter()
            .all(|e| e.kind != EventKind::Disconnected || e.reason.is_some()),
        "unexpected events"
    );
    drop((zero, squatter));
    close(&anon).await;
    close(&anon2).await;
    close(&router).await;
    assert_no_library_panics();
}

/// Two peers announcing the same routing id: without ROUTER_HANDOVER the second is
/// refused (its connection closed) and the first keeps the id; with it, the second takes
/// the id over and the first is closed.
#[tokio::test]
async fn router_id_collision() {
    record_library_panics();
    for handover in [false, true] {
        let router = Socket::new(SocketType::Router);
        router.set_linger(Duration::ZERO).unwrap();
        router.set_router_handover(handover).unwrap();
        let ep = bind_any(&router).await;
        let mut first = MockPeer::connect(&ep).await;
        first
            .handshake_as(SocketType::Dealer, b"dup", SocketType::Router, b"")
            .await;
        first.send_message(&msg(&[b"first"])).await;
        assert_eq!(
            frames(&recv(&router, "first").await),
            vec![b"dup".to_vec(), b"first".to_vec()]
        );
        let mut second = MockPeer::connect(&ep).await;
        second.expect_greeting_staged(1).await;
        second.send_ready(SocketType::Dealer, Some(b"dup")).await;
        if handover {
            second.expect_ready(SocketType::Router, Some(b"")).await;
            first.expect_closed().await;
            second.send_message(&msg(&[b"second"])).await;
            assert_eq!(
                frames(&recv(&router, "second").await),
                vec![b"dup".to_vec(), b"second".to_vec()]
            );
            send(&router, msg(&[b"dup", b"to dup"]), "to dup").await;
            assert_eq!(
                frames(&second.expect_message().await),
                vec![b"to dup".to_vec()]
            );
        } else {
            // Our READY may go out before the refusal; nothing after it.
            let got = second.read_until_closed().await;
            assert!(
                got.is_empty() || got.starts_with(b"\x04"),
                "the refused peer got a message: {got:02x?}"
            );
            send(&router, msg(&[b"dup", b"to dup"]), "to dup").await;
            assert_eq!(
                frames(&first.expect_message().await),
                vec![b"to dup".to_vec()]
            );
        }
        close(&router).await;
    }
    assert_no_library_panics();
}

/// Writes `bytes` to a new connection to `ep` (the peer may close before all of it is
/// written: errors are ignored), then waits until the peer closes.
async fn raw_noise(ep: &str, bytes: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = support::mock::tcp_addr(ep);
    let mut s = within("connect", tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    let _ = within("write noise", s.write_all(bytes)).await;
    within("the peer closing", async {
        let mut buf = vec![0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// Garbage instead of a greeting, garbage in a PLAIN handshake, and a frame with reserved
/// flags after a NULL handshake: each offender is closed (with the monitor event for it)
/// and a good peer is served after each.
#[tokio::test]
async fn garbage_over_tcp_closes_only_the_offender() {
    record_library_panics();

    // NULL ROUTER.
    let router = Socket::new(SocketType::Router);
    router.set_linger(Duration::ZERO).unwrap();
    let mut mon = router.monitor(4096);
    let ep = bind_any(&router).await;
    let good = Socket::new(SocketType::Dealer);
    good.set_linger(Duration::ZERO).unwrap();
    good.set_routing_id("good").unwrap();
    connect(&good, &ep).await;
    let round_trip = |tag: &'static str| {
        let (router, good) = (&router, &good);
        async move {
            send(good, msg(&[tag.as_bytes()]), tag).await;
            assert_eq!(
                frames(&recv(router, tag).await),
                vec![b"good".to_vec(), tag.as_bytes().to_vec()]
            );
        }
    };
    round_trip("before").await;

    // Not ZMTP at all: an HTTP request.
    let mut bad = MockPeer::connect(&ep).await;
    bad.send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let _ = bad.read_until_closed().await;
    let ev = wait_event(&mut mon, EventKind::HandshakeFailedProtocol, "HTTP").await;
    eprintln!("HTTP request: {:?}", ev.reason);
    round_trip("after HTTP").await;

    // 64 KiB of pseudo-random bytes.
    let noise: Vec<u8> = random_topics(4096, 42).concat();
    raw_noise(&ep, &noise).await;
    let ev = wait_event(&mut mon, EventKind::HandshakeFailedProtocol, "noise").await;
    eprintln!("noise: {:?}", ev.reason);
    round_trip("after noise").await;

    // A frame with reserved flags after a good handshake.
    let mut bad = MockPeer::connect(&ep).await;
    bad.handshake_as(SocketType::Dealer, b"bad", SocketType::Router, b"")
        .await;
    bad.send_bytes(&frame(0xF0, b"reserved flags")).await;
    bad.expect_closed().await;
    let ev = wait_event(&mut mon, EventKind::Disconnected, "reserved flags").await;
    eprintln!("reserved flags: {:?}", ev.reason);
    round_trip("after reserved flags").await;
    close(&good).await;
    close(&router).await;

    // PLAIN server: a PLAIN greeting followed by garbage where HELLO belongs, then a
    // HELLO whose lengths run past its end.
    let server = Socket::new(SocketType::Router);
    server.set_linger(Duration::ZERO).unwrap();
    server.set_plain_server(true).unwrap();
    let mut mon = server.monitor(4096);
    let ep = bind_any(&server).await;
    let good = Socket::new(SocketType::Dealer);
    good.set_linger(Duration::ZERO).unwrap();
    good.set_routing_id("good").unwrap();
    good.set_plain_username("user").unwrap();
    good.set_plain_password("secret").unwrap();
    connect(&good, &ep).await;
    let round_trip = |tag: &'static str| {
        let (server, good) = (&server, &good);
        async move {
            send(good, msg(&[tag.as_bytes()]), tag).await;
            assert_eq!(
                frames(&recv(server, tag).await),
                vec![b"good".to_vec(), tag.as_bytes().to_vec()]
            );
        }
    };
    round_trip("PLAIN before").await;
    for (what, after_greeting) in [
        ("garbage instead of HELLO", b"\x00\x05hello".to_vec()),
        (
            "HELLO with a user name longer than the command",
            command_frame(b"HELLO", b"\xffuser"),
        ),
        (
            "a message frame instead of HELLO",
            frame(0x00, b"not a command"),
        ),
    ] {
        let mut bad = MockPeer::connect(&ep).await;
        bad.send_bytes(&greeting(3, 1, "PLAIN", false)).await;
        bad.send_bytes(&after_greeting).await;
        let _ = bad.read_until_closed().await;
        let ev = wait_event(&mut mon, EventKind::HandshakeFailedProtocol, what).await;
        eprintln!("PLAIN, {what}: {:?}", ev.reason);
        round_trip(what).await;
    }
    close(&good).await;
    close(&server).await;
    assert_no_library_panics();
}
