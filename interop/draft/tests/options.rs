//! libzmq 4.3.5's draft options with libzmq (built with its draft API) setting them and our
//! sockets as the other end, and ours setting them where only a draft libzmq can be the
//! other end. The root crate's tests cover the sides a release pyzmq can play; these cover
//! the rest: ROUTER_NOTIFY, HELLO_MSG, DISCONNECT_MSG, HICCUP_MSG, XPUB_MANUAL_LAST_VALUE,
//! ONLY_FIRST_SUBSCRIBE, TOPICS_COUNT, XSUB_VERBOSE_UNSUBSCRIBE and RECONNECT_STOP, over
//! tcp and ipc, each side binding in turn where the option works from both.

use std::time::Duration;

use aiozmq::{EventKind, Socket, SocketType};
use aiozmq_draft_interop::libzmq::{self, Context};
use aiozmq_draft_interop::{
    bind, close, connect, expect, expect_nothing, frames, recv, send, Lz, LzMonitor, Transport,
    TRANSPORTS,
};

/// How long a test watches for something that must not arrive.
const QUIET: Duration = Duration::from_millis(300);

fn ours(t: SocketType, routing_id: &str) -> Socket {
    let s = Socket::new(t);
    if !routing_id.is_empty() {
        s.set_routing_id(routing_id.to_owned()).unwrap();
    }
    s
}

fn lz(ctx: &Context, kind: i32, routing_id: &str) -> Lz {
    let s = Lz::new(ctx, kind);
    if !routing_id.is_empty() {
        s.set_bytes(libzmq::ROUTING_ID, routing_id.as_bytes());
    }
    s
}

#[test]
fn the_peer_is_libzmq_4_3_5_with_the_draft_api() {
    assert_eq!(libzmq::version(), (4, 3, 5));
    assert!(
        libzmq::has("draft"),
        "libzmq built without ZMQ_BUILD_DRAFT_API"
    );
}

// ----- ROUTER_NOTIFY ---------------------------------------------------------------------

/// A libzmq ROUTER with ROUTER_NOTIFY gets an empty message from our DEALER's routing id
/// when it connects and when it goes, around its data; libzmq binding, then connecting.
#[tokio::test]
async fn libzmq_router_notify_sees_our_dealer_connect_and_disconnect() {
    for t in TRANSPORTS {
        for libzmq_binds in [true, false] {
            let what = format!("{t:?}, libzmq binds: {libzmq_binds}");
            let ctx = Context::new();
            let router = lz(&ctx, libzmq::ROUTER, "");
            router.set(
                libzmq::ROUTER_NOTIFY,
                libzmq::NOTIFY_CONNECT | libzmq::NOTIFY_DISCONNECT,
            );
            let dealer = ours(SocketType::Dealer, "d");
            if libzmq_binds {
                let ep = router.bind(&t.endpoint());
                connect(&dealer, &ep).await;
            } else {
                let ep = bind(&dealer, &t.endpoint()).await;
                router.connect(&ep);
            }
            router
                .expect(&[b"d", b""], &format!("{what}: connect"))
                .await;
            send(&dealer, &[b"m"], "dealer").await;
            router.expect(&[b"d", b"m"], &format!("{what}: data")).await;
            router.send(&[b"d", b"back"], "router").await;
            expect(&dealer, &[b"back"], &format!("{what}: reply")).await;
            close(&dealer).await;
            router
                .expect(&[b"d", b""], &format!("{what}: disconnect"))
                .await;
            router
                .expect_nothing(QUIET, &format!("{what}: one each way"))
                .await;
        }
    }
}

// ----- HELLO_MSG -------------------------------------------------------------------------

/// A libzmq DEALER's HELLO_MSG is our ROUTER's first message from it, before what was
/// queued while connecting, whichever side binds; a libzmq ROUTER's reaches our DEALER.
#[tokio::test]
async fn libzmq_hello_msg_is_the_first_message_we_get() {
    for t in TRANSPORTS {
        for libzmq_binds in [true, false] {
            let what = format!("{t:?}, libzmq binds: {libzmq_binds}");
            let ctx = Context::new();
            let dealer = lz(&ctx, libzmq::DEALER, "lz");
            dealer.set_bytes(libzmq::HELLO_MSG, b"hello-lz");
            let router = ours(SocketType::Router, "");
            if libzmq_binds {
                let ep = dealer.bind(&t.endpoint());
                connect(&router, &ep).await;
            } else {
                let ep = bind(&router, &t.endpoint()).await;
                dealer.connect(&ep);
                // Queued on the pipe libzmq made at connect: the hello still goes first.
                dealer.send(&[b"queued"], "dealer").await;
            }
            expect(&router, &[b"lz", b"hello-lz"], &format!("{what}: hello")).await;
            if libzmq_binds {
                dealer.send(&[b"queued"], "dealer").await;
            }
            expect(&router, &[b"lz", b"queued"], &format!("{what}: then data")).await;
            expect_nothing(&router, QUIET, &format!("{what}: one hello")).await;
            close(&router).await;

            let lrouter = lz(&ctx, libzmq::ROUTER, "");
            lrouter.set_bytes(libzmq::HELLO_MSG, b"welcome");
            let odealer = ours(SocketType::Dealer, "od");
            if libzmq_binds {
                let ep = lrouter.bind(&t.endpoint());
                connect(&odealer, &ep).await;
            } else {
                let ep = bind(&odealer, &t.endpoint()).await;
                lrouter.connect(&ep);
            }
            expect(&odealer, &[b"welcome"], &format!("{what}: router's hello")).await;
            send(&odealer, &[b"x"], "dealer").await;
            lrouter
                .expect(&[b"od", b"x"], &format!("{what}: data"))
                .await;
            close(&odealer).await;
        }
    }
}

/// A libzmq DEALER says hello again on each new connection: our ROUTER restarted on the
/// same endpoint gets the hello first again.
#[tokio::test]
async fn libzmq_hello_msg_again_after_our_router_restarts() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        let dealer = lz(&ctx, libzmq::DEALER, "lz");
        dealer.set_bytes(libzmq::HELLO_MSG, b"hi");
        dealer.set(libzmq::RECONNECT_IVL, 20);
        let router = ours(SocketType::Router, "");
        let ep = bind(&router, &t.endpoint()).await;
        dealer.connect(&ep);
        expect(&router, &[b"lz", b"hi"], &format!("{t:?}: hello")).await;
        close(&router).await;
        let router = ours(SocketType::Router, "");
        bind(&router, &ep).await;
        expect(&router, &[b"lz", b"hi"], &format!("{t:?}: hello again")).await;
        dealer.send(&[b"after"], "dealer").await;
        expect(&router, &[b"lz", b"after"], &format!("{t:?}: data")).await;
        close(&router).await;
    }
}

// ----- DISCONNECT_MSG --------------------------------------------------------------------

/// A libzmq ROUTER that bound, with DISCONNECT_MSG, gets it under our DEALER's routing id
/// when the DEALER goes: after ROUTER_NOTIFY's empty message when that is on too.
#[tokio::test]
async fn libzmq_router_disconnect_msg_when_our_dealer_leaves() {
    for t in TRANSPORTS {
        for notify in [false, true] {
            let what = format!("{t:?}, ROUTER_NOTIFY: {notify}");
            let ctx = Context::new();
            let router = lz(&ctx, libzmq::ROUTER, "");
            router.set_bytes(libzmq::DISCONNECT_MSG, b"gone");
            if notify {
                router.set(libzmq::ROUTER_NOTIFY, libzmq::NOTIFY_DISCONNECT);
            }
            let ep = router.bind(&t.endpoint());
            let dealer = ours(SocketType::Dealer, "d");
            connect(&dealer, &ep).await;
            send(&dealer, &[b"x"], "dealer").await;
            router.expect(&[b"d", b"x"], &format!("{what}: data")).await;
            close(&dealer).await;
            if notify {
                router
                    .expect(&[b"d", b""], &format!("{what}: notification first"))
                    .await;
            }
            router
                .expect(&[b"d", b"gone"], &format!("{what}: disconnect message"))
                .await;
            router
                .expect_nothing(QUIET, &format!("{what}: nothing more"))
                .await;
        }
    }
}

/// libzmq sends DISCONNECT_MSG only for connections it accepted: a libzmq ROUTER that
/// connected to our DEALER gets nothing when the DEALER goes. Ours follows the same rule
/// toward a libzmq DEALER.
#[tokio::test]
async fn disconnect_msg_is_only_for_accepted_connections_on_both_sides() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        let router = lz(&ctx, libzmq::ROUTER, "");
        router.set_bytes(libzmq::DISCONNECT_MSG, b"gone");
        let dealer = ours(SocketType::Dealer, "d");
        let ep = bind(&dealer, &t.endpoint()).await;
        router.connect(&ep);
        send(&dealer, &[b"x"], "dealer").await;
        router.expect(&[b"d", b"x"], &format!("{t:?}: data")).await;
        close(&dealer).await;
        router
            .expect_nothing(QUIET, &format!("{t:?}: libzmq connected: no message"))
            .await;

        let our_router = ours(SocketType::Router, "");
        our_router.set_disconnect_msg("gone").unwrap();
        let ldealer = lz(&ctx, libzmq::DEALER, "ld");
        let ep = ldealer.bind(&t.endpoint());
        connect(&our_router, &ep).await;
        ldealer.send(&[b"y"], "dealer").await;
        expect(&our_router, &[b"ld", b"y"], &format!("{t:?}: data")).await;
        drop(ldealer);
        expect_nothing(
            &our_router,
            QUIET,
            &format!("{t:?}: we connected: no message"),
        )
        .await;
        close(&our_router).await;
    }
}

// ----- HICCUP_MSG ------------------------------------------------------------------------

/// A libzmq DEALER that connected, with HICCUP_MSG, gets it when our ROUTER goes, and
/// reconnects to the ROUTER that replaces it.
#[tokio::test]
async fn libzmq_dealer_hiccup_msg_when_our_router_goes() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        let dealer = lz(&ctx, libzmq::DEALER, "lz");
        dealer.set_bytes(libzmq::HICCUP_MSG, b"hiccup");
        dealer.set(libzmq::RECONNECT_IVL, 20);
        let router = ours(SocketType::Router, "");
        let ep = bind(&router, &t.endpoint()).await;
        dealer.connect(&ep);
        dealer.send(&[b"x"], "dealer").await;
        expect(&router, &[b"lz", b"x"], &format!("{t:?}: data")).await;
        close(&router).await;
        dealer.expect(&[b"hiccup"], &format!("{t:?}: hiccup")).await;
        let router = ours(SocketType::Router, "");
        bind(&router, &ep).await;
        dealer.send(&[b"y"], "dealer").await;
        expect(
            &router,
            &[b"lz", b"y"],
            &format!("{t:?}: after the reconnect"),
        )
        .await;
        send(&router, &[b"lz", b"z"], "router").await;
        dealer
            .expect(&[b"z"], &format!("{t:?}: no second hiccup"))
            .await;
        close(&router).await;
    }
}

/// A libzmq DEALER that bound gets no HICCUP_MSG when our connected ROUTER goes.
#[tokio::test]
async fn libzmq_dealer_that_bound_gets_no_hiccup_msg() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        let dealer = lz(&ctx, libzmq::DEALER, "lz");
        dealer.set_bytes(libzmq::HICCUP_MSG, b"hiccup");
        let ep = dealer.bind(&t.endpoint());
        let router = ours(SocketType::Router, "");
        connect(&router, &ep).await;
        dealer.send(&[b"x"], "dealer").await;
        expect(&router, &[b"lz", b"x"], &format!("{t:?}: data")).await;
        close(&router).await;
        dealer
            .expect_nothing(QUIET, &format!("{t:?}: no hiccup"))
            .await;
    }
}

// ----- XPUB_MANUAL_LAST_VALUE ------------------------------------------------------------

/// XPUB_MANUAL_LAST_VALUE: the message after a manual subscribe goes only to the newly
/// subscribed peer; libzmq's XPUB with our SUBs, then our XPUB with libzmq SUBs.
#[tokio::test]
async fn xpub_manual_last_value_both_ways() {
    for t in TRANSPORTS {
        // libzmq's XPUB, our SUBs.
        let ctx = Context::new();
        let x = Lz::new(&ctx, libzmq::XPUB);
        x.set(libzmq::XPUB_MANUAL_LAST_VALUE, 1);
        let ep = x.bind(&t.endpoint());
        let s1 = ours(SocketType::Sub, "");
        s1.subscribe("").unwrap();
        connect(&s1, &ep).await;
        x.expect(&[b"\x01"], &format!("{t:?}: s1 subscribes")).await;
        x.set_bytes(libzmq::SUBSCRIBE, b"");
        x.send(&[b"v1"], "xpub").await;
        expect(&s1, &[b"v1"], &format!("{t:?}: s1 v1")).await;
        let s2 = ours(SocketType::Sub, "");
        s2.subscribe("").unwrap();
        connect(&s2, &ep).await;
        x.expect(&[b"\x01"], &format!("{t:?}: s2 subscribes")).await;
        x.set_bytes(libzmq::SUBSCRIBE, b"");
        x.send(&[b"cached"], "xpub").await;
        x.send(&[b"v2"], "xpub").await;
        expect(&s2, &[b"cached"], &format!("{t:?}: s2 last value")).await;
        expect(&s2, &[b"v2"], &format!("{t:?}: s2 v2")).await;
        expect(&s1, &[b"v2"], &format!("{t:?}: s1 not the last value")).await;
        close(&s1).await;
        close(&s2).await;
        drop(x);

        // Our XPUB, libzmq's SUBs.
        let x = ours(SocketType::XPub, "");
        x.set_xpub_manual_last_value(true).unwrap();
        let ep = bind(&x, &t.endpoint()).await;
        let s1 = Lz::new(&ctx, libzmq::SUB);
        s1.set_bytes(libzmq::SUBSCRIBE, b"");
        s1.connect(&ep);
        expect(&x, &[b"\x01"], &format!("{t:?}: libzmq s1 subscribes")).await;
        x.subscribe("").unwrap();
        send(&x, &[b"v1"], "xpub").await;
        s1.expect(&[b"v1"], &format!("{t:?}: libzmq s1 v1")).await;
        let s2 = Lz::new(&ctx, libzmq::SUB);
        s2.set_bytes(libzmq::SUBSCRIBE, b"");
        s2.connect(&ep);
        expect(&x, &[b"\x01"], &format!("{t:?}: libzmq s2 subscribes")).await;
        x.subscribe("").unwrap();
        send(&x, &[b"cached"], "xpub").await;
        send(&x, &[b"v2"], "xpub").await;
        s2.expect(&[b"cached"], &format!("{t:?}: libzmq s2 last value"))
            .await;
        s2.expect(&[b"v2"], &format!("{t:?}: libzmq s2 v2")).await;
        s1.expect(&[b"v2"], &format!("{t:?}: libzmq s1 not the last value"))
            .await;
        close(&x).await;
    }
}

// ----- ONLY_FIRST_SUBSCRIBE --------------------------------------------------------------

/// A libzmq XPUB with ONLY_FIRST_SUBSCRIBE takes a message from our XSUB (which has it too,
/// so it sends the message as it is) whose first frame is data as all data; a subscription
/// first subscribes and the data after it is data.
#[tokio::test]
async fn libzmq_only_first_subscribe_xpub_reads_our_xsub() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        let x = Lz::new(&ctx, libzmq::XPUB);
        x.set(libzmq::ONLY_FIRST_SUBSCRIBE, 1);
        let ep = x.bind(&t.endpoint());
        let xs = ours(SocketType::XSub, "");
        xs.set_only_first_subscribe(true).unwrap();
        connect(&xs, &ep).await;
        send(&xs, &[b"data", b"\x01a"], "xsub").await;
        x.expect(&[b"data", b"\x01a"], &format!("{t:?}: all data"))
            .await;
        assert_eq!(x.get(libzmq::TOPICS_COUNT), 0, "{t:?}: no topic");
        send(&xs, &[b"\x01c", b"z"], "xsub").await;
        x.expect(&[b"\x01c"], &format!("{t:?}: subscription")).await;
        x.expect(&[b"z"], &format!("{t:?}: then data")).await;
        assert_eq!(x.get(libzmq::TOPICS_COUNT), 1, "{t:?}: c");
        close(&xs).await;
    }
}

/// A libzmq XSUB with ONLY_FIRST_SUBSCRIBE sends a message whose first frame is data as
/// data, which our XPUB with it takes as data; a subscription first still subscribes.
#[tokio::test]
async fn our_only_first_subscribe_xpub_reads_a_libzmq_only_first_subscribe_xsub() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        let x = ours(SocketType::XPub, "");
        x.set_only_first_subscribe(true).unwrap();
        let ep = bind(&x, &t.endpoint()).await;
        let xs = Lz::new(&ctx, libzmq::XSUB);
        xs.set(libzmq::ONLY_FIRST_SUBSCRIBE, 1);
        xs.connect(&ep);
        xs.send(&[b"y2", b"\x01b"], "xsub").await;
        expect(&x, &[b"y2", b"\x01b"], &format!("{t:?}: all data")).await;
        assert_eq!(x.topics_count().unwrap(), 0, "{t:?}: no topic");
        xs.send(&[b"\x01c", b"z"], "xsub").await;
        expect(&x, &[b"\x01c"], &format!("{t:?}: subscription")).await;
        expect(&x, &[b"z"], &format!("{t:?}: then data")).await;
        assert_eq!(x.topics_count().unwrap(), 1, "{t:?}: c");
        close(&x).await;
    }
}

// ----- TOPICS_COUNT ----------------------------------------------------------------------

/// The TOPICS_COUNT an XPUB reports at each step of one sequence of subscriber events,
/// the same for libzmq 4.3.5's XPUB (our SUBs) and ours (libzmq's SUBs). With
/// XPUB_VERBOSER every subscribe and unsubscribe, and each topic of a subscriber that
/// goes, reaches the application, so each step waits for its message before reading the
/// count. libzmq lowers the count only when an unsubscribe takes a topic's last
/// subscriber: a subscriber's topics stay counted when it disconnects, and a topic taken
/// up again afterwards counts once more.
const XPUB_STEPS: [(&str, &[&[u8]], i32); 11] = [
    ("s1 subscribes a and b", &[b"\x01a", b"\x01b"], 2),
    ("s1 subscribes a again", &[b"\x01a"], 2),
    ("s2 subscribes a and end", &[b"\x01a", b"\x01end"], 3),
    ("s2 unsubscribes end", &[b"\x00end"], 2),
    ("s2 subscribes end again", &[b"\x01end"], 3),
    ("s2 unsubscribes a, still s1's", &[b"\x00a"], 3),
    ("s1 unsubscribes b, its last holder", &[b"\x00b"], 2),
    ("s2 (end) disconnects", &[b"\x00end"], 2),
    ("s1 (a) disconnects", &[b"\x00a"], 2),
    ("s3 subscribes end, held by no one", &[b"\x01end"], 3),
    ("s3 disconnects", &[b"\x00end"], 3),
];

/// A subscriber of the XPUB tests: ours or libzmq's.
enum Subscriber {
    Ours(Socket),
    Lz(Lz),
}

impl Subscriber {
    async fn new(ctx: &Context, libzmq_side: bool, ep: &str, topics: &[&str]) -> Subscriber {
        if libzmq_side {
            let s = Lz::new(ctx, libzmq::SUB);
            for t in topics {
                s.set_bytes(libzmq::SUBSCRIBE, t.as_bytes());
            }
            s.connect(ep);
            Subscriber::Lz(s)
        } else {
            let s = ours(SocketType::Sub, "");
            for t in topics {
                s.subscribe(t.to_string()).unwrap();
            }
            connect(&s, ep).await;
            Subscriber::Ours(s)
        }
    }

    fn subscribe(&self, topic: &str, on: bool) {
        match (self, on) {
            (Subscriber::Ours(s), true) => s.subscribe(topic.to_string()).unwrap(),
            (Subscriber::Ours(s), false) => s.unsubscribe(topic.to_string()).unwrap(),
            (Subscriber::Lz(s), true) => s.set_bytes(libzmq::SUBSCRIBE, topic.as_bytes()),
            (Subscriber::Lz(s), false) => s.set_bytes(libzmq::UNSUBSCRIBE, topic.as_bytes()),
        }
    }

    async fn disconnect(self) {
        match self {
            Subscriber::Ours(s) => close(&s).await,
            Subscriber::Lz(s) => drop(s),
        }
    }
}

/// Runs [`XPUB_STEPS`] against an XPUB bound at `ep`: `next` waits for the XPUB's next
/// message, `count` reads its TOPICS_COUNT.
async fn xpub_steps<N, C>(ctx: &Context, libzmq_subs: bool, ep: &str, next: N, count: C)
where
    N: AsyncFn(&str) -> Vec<Vec<u8>>,
    C: Fn() -> i32,
{
    let check = async |step: usize| {
        let (what, want, n) = XPUB_STEPS[step];
        for w in want {
            assert_eq!(next(what).await, vec![w.to_vec()], "{what}");
        }
        assert_eq!(count(), n, "TOPICS_COUNT after: {what}");
    };
    let s1 = Subscriber::new(ctx, libzmq_subs, ep, &["a", "b"]).await;
    check(0).await;
    s1.subscribe("a", true);
    check(1).await;
    let s2 = Subscriber::new(ctx, libzmq_subs, ep, &["a", "end"]).await;
    check(2).await;
    s2.subscribe("end", false);
    check(3).await;
    s2.subscribe("end", true);
    check(4).await;
    s2.subscribe("a", false);
    check(5).await;
    s1.subscribe("b", false);
    check(6).await;
    s2.disconnect().await;
    check(7).await;
    s1.disconnect().await;
    check(8).await;
    let s3 = Subscriber::new(ctx, libzmq_subs, ep, &["end"]).await;
    check(9).await;
    s3.disconnect().await;
    check(10).await;
}

#[tokio::test]
async fn xpub_topics_count_matches_libzmq_through_subscribes_unsubscribes_and_disconnects() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        // libzmq's XPUB, our SUBs.
        let x = Lz::new(&ctx, libzmq::XPUB);
        x.set(libzmq::XPUB_VERBOSER, 1);
        assert_eq!(x.get(libzmq::TOPICS_COUNT), 0, "{t:?}: libzmq, none yet");
        let ep = x.bind(&t.endpoint());
        xpub_steps(
            &ctx,
            false,
            &ep,
            async |what: &str| x.recv(&format!("{t:?}: libzmq's XPUB: {what}")).await,
            || x.get(libzmq::TOPICS_COUNT),
        )
        .await;
        drop(x);

        // Our XPUB, libzmq's SUBs.
        let x = ours(SocketType::XPub, "");
        x.set_xpub_verboser(true).unwrap();
        assert_eq!(x.topics_count().unwrap(), 0, "{t:?}: ours, none yet");
        let ep = bind(&x, &t.endpoint()).await;
        xpub_steps(
            &ctx,
            true,
            &ep,
            async |what: &str| frames(&recv(&x, &format!("{t:?}: our XPUB: {what}")).await),
            || x.topics_count().unwrap() as i32,
        )
        .await;
        close(&x).await;
    }
}

/// A step of the XSUB test: the frame the XSUB sends, what its publisher receives, and
/// TOPICS_COUNT after.
type XsubStep = (&'static [u8], Option<&'static [u8]>, i32);

/// TOPICS_COUNT on an XSUB counts its own subscriptions as libzmq 4.3.5's does: a
/// repeated subscribe needs as many unsubscribes, an unsubscribe of a topic never
/// subscribed changes nothing, and the publisher disconnecting changes nothing either.
/// The same sends give the same counts on libzmq's XSUB (our XPUB publishing) and ours
/// (libzmq's XPUB publishing).
#[tokio::test]
async fn xsub_topics_count_matches_libzmq_through_duplicates_and_a_publisher_leaving() {
    let steps: [XsubStep; 6] = [
        (b"\x01a", Some(b"\x01a"), 1),
        (b"\x01a", None, 1),
        (b"\x01b", Some(b"\x01b"), 2),
        (b"\x00a", None, 2),
        (b"\x00a", Some(b"\x00a"), 1),
        (b"\x00z", None, 1),
    ];
    for t in TRANSPORTS {
        let ctx = Context::new();
        // libzmq's XSUB, our XPUB.
        let xs = Lz::new(&ctx, libzmq::XSUB);
        let mon = LzMonitor::new(
            &ctx,
            &xs,
            &format!("xsub-{t:?}"),
            i32::from(libzmq::EVENT_DISCONNECTED),
        );
        let ep = xs.bind(&t.endpoint());
        let x = ours(SocketType::XPub, "");
        let mut x_events = x.monitor(64);
        connect(&x, &ep).await;
        // libzmq attaches the connection at its next call after the handshake: the first
        // send then goes to it (sent before the handshake, it would reach no one).
        let shaken = async {
            while let Some(ev) = x_events.recv().await {
                if ev.kind == EventKind::HandshakeSucceeded {
                    return;
                }
            }
            panic!("{t:?}: the monitor ended before the handshake");
        };
        aiozmq_draft_interop::within("our XPUB's handshake", shaken).await;
        for (sent, passed, n) in steps {
            xs.send(&[sent], "libzmq XSUB").await;
            if let Some(p) = passed {
                expect(&x, &[p], &format!("{t:?}: our XPUB after {sent:?}")).await;
            }
            assert_eq!(
                xs.get(libzmq::TOPICS_COUNT),
                n,
                "{t:?}: libzmq after {sent:?}"
            );
        }
        close(&x).await;
        mon.wait_for(libzmq::EVENT_DISCONNECTED, "our XPUB went")
            .await;
        assert_eq!(
            xs.get(libzmq::TOPICS_COUNT),
            1,
            "{t:?}: libzmq, publisher gone"
        );

        // Our XSUB, libzmq's XPUB.
        let xs = ours(SocketType::XSub, "");
        let mut events = xs.monitor(64);
        let ep = bind(&xs, &t.endpoint()).await;
        let x = Lz::new(&ctx, libzmq::XPUB);
        x.connect(&ep);
        for (sent, passed, n) in steps {
            send(&xs, &[sent], "our XSUB").await;
            if let Some(p) = passed {
                x.expect(&[p], &format!("{t:?}: libzmq's XPUB after {sent:?}"))
                    .await;
            }
            assert_eq!(
                xs.topics_count().unwrap() as i32,
                n,
                "{t:?}: ours after {sent:?}"
            );
        }
        drop(x);
        let gone = async {
            while let Some(ev) = events.recv().await {
                if ev.kind == EventKind::Disconnected {
                    return;
                }
            }
            panic!("{t:?}: the monitor ended before the publisher's disconnect");
        };
        aiozmq_draft_interop::within("libzmq's XPUB went", gone).await;
        assert_eq!(xs.topics_count().unwrap(), 1, "{t:?}: ours, publisher gone");
        close(&xs).await;
    }
}

// ----- XSUB_VERBOSE_UNSUBSCRIBE ----------------------------------------------------------

/// A libzmq XSUB passes on every unsubscribe with XSUB_VERBOSE_UNSUBSCRIBE (even for a
/// topic it never had) and only the last one of a topic without; our XPUB_VERBOSER XPUB
/// shows exactly what came.
#[tokio::test]
async fn libzmq_xsub_verbose_unsubscribe_reaches_our_xpub() {
    for t in TRANSPORTS {
        for verbose in [true, false] {
            let what = format!("{t:?}, verbose: {verbose}");
            let ctx = Context::new();
            let x = ours(SocketType::XPub, "");
            x.set_xpub_verboser(true).unwrap();
            let ep = bind(&x, &t.endpoint()).await;
            let xs = Lz::new(&ctx, libzmq::XSUB);
            xs.set(libzmq::XSUB_VERBOSE_UNSUBSCRIBE, i32::from(verbose));
            xs.connect(&ep);
            for m in [
                &b"\x01a"[..],
                b"\x01a",
                b"\x00a",
                b"\x00a",
                b"\x00z",
                b"\x01end",
            ] {
                xs.send(&[m], "xsub").await;
            }
            let mut want: Vec<&[u8]> = vec![b"\x01a", b"\x01a"];
            if verbose {
                want.extend([&b"\x00a"[..], b"\x00a", b"\x00z"]);
            } else {
                want.push(b"\x00a");
            }
            want.push(b"\x01end");
            let mut got = Vec::new();
            for _ in 0..want.len() {
                got.push(frames(&recv(&x, &what).await));
            }
            let want: Vec<Vec<Vec<u8>>> = want.iter().map(|m| vec![m.to_vec()]).collect();
            assert_eq!(got, want, "{what}");
            expect_nothing(&x, QUIET, &format!("{what}: nothing more")).await;
            close(&x).await;
        }
    }
}

// ----- RECONNECT_STOP --------------------------------------------------------------------

/// A libzmq DEALER with RECONNECT_STOP_CONN_REFUSED stops after its first refused
/// reconnect once our ROUTER is gone, and does not come back to the ROUTER that replaces
/// it; without the flag (the control) it retries and does come back.
#[tokio::test]
async fn libzmq_reconnect_stop_conn_refused_after_our_router_goes() {
    for stop in [true, false] {
        let ctx = Context::new();
        let dealer = lz(&ctx, libzmq::DEALER, "lz");
        dealer.set(libzmq::RECONNECT_IVL, 20);
        if stop {
            dealer.set(libzmq::RECONNECT_STOP, libzmq::RECONNECT_STOP_CONN_REFUSED);
        }
        let mon = LzMonitor::new(
            &ctx,
            &dealer,
            "dealer",
            i32::from(libzmq::EVENT_CLOSED | libzmq::EVENT_CONNECT_RETRIED),
        );
        let router = ours(SocketType::Router, "");
        let ep = bind(&router, &Transport::Tcp.endpoint()).await;
        dealer.connect(&ep);
        dealer.send(&[b"x"], "dealer").await;
        expect(&router, &[b"lz", b"x"], "data").await;
        close(&router).await;
        // CLOSED: a connect attempt to the closed port was refused.
        mon.wait_for(libzmq::EVENT_CLOSED, "refused reconnect")
            .await;
        let router = ours(SocketType::Router, "");
        let mut events = router.monitor(64);
        bind(&router, &ep).await;
        if stop {
            assert_eq!(
                mon.events_within(QUIET).await,
                Vec::<u16>::new(),
                "no retry"
            );
            let accepted = async {
                while let Some(ev) = events.recv().await {
                    if ev.kind == EventKind::Accepted {
                        return;
                    }
                }
            };
            assert!(
                tokio::time::timeout(QUIET, accepted).await.is_err(),
                "libzmq came back"
            );
        } else {
            dealer.send(&[b"back"], "dealer").await;
            expect(&router, &[b"lz", b"back"], "it reconnected").await;
        }
        close(&router).await;
    }
}
