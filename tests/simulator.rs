//! The ZMTP core on a simulated network (`sim`): the handshake deadline, the heartbeats
//! and resets on a virtual clock, and message exchanges of each socket pattern under
//! random cuts, delays and stalls, all reproducible from a seed.

mod sim;

use aiozmq::zmtp::{Config, Event, ProtocolError, SocketType};
use aiozmq::Message;
use bytes::Bytes;
use proptest::prelude::*;
use sim::{End, Id, Link, Net};
use std::collections::HashMap;
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);

fn config(st: SocketType) -> Config {
    Config::new(st)
}

/// Steps until both ends completed their handshake (within a minute of virtual time).
fn until_ready(net: &mut Net, a: Id, b: Id) {
    net.run_while_not(net.elapsed() + 60 * SEC, |n| {
        n.node(a).conn.is_ready() && n.node(b).conn.is_ready()
    });
}

fn pings(net: &Net, id: Id) -> Vec<(Duration, u16)> {
    net.node(id)
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Ping { ttl } => Some((*t, *ttl)),
            _ => None,
        })
        .collect()
}

// ----- Handshake deadline -----------------------------------------------------------------

#[test]
fn handshake_times_out_exactly_at_handshake_ivl_when_the_peer_stops_mid_greeting() {
    for seed in 0..300 {
        let mut net = Net::new(seed);
        let ivl = Duration::from_millis(net.rng().range(1, 120_000));
        // Never the whole 64-byte greeting.
        let stop = net.rng().range(0, 63) as usize;
        let mut a = config(SocketType::Dealer);
        a.handshake_ivl = ivl;
        let mut b = config(SocketType::Router);
        b.handshake_ivl = Duration::ZERO;
        let (a, b) = net.random_pair(a, b);
        net.limit_sending(b, stop);
        net.drive();
        assert_eq!(
            net.node(a).ended,
            Some((ivl, End::Error(ProtocolError::HandshakeTimeout))),
            "seed {seed}: peer stopped after {stop} bytes"
        );
        assert!(!net.node(a).conn.is_ready(), "seed {seed}");
        assert_eq!(net.node(a).conn.poll_timeout(), None, "seed {seed}");
        // The other end reads our EOF (it has no deadline of its own).
        assert!(
            matches!(net.node(b).ended, Some((t, End::PeerClosed)) if t >= ivl),
            "seed {seed}: {:?}",
            net.node(b).ended
        );
    }
}

#[test]
fn handshake_ivl_zero_never_times_out() {
    for seed in 0..100 {
        let mut net = Net::new(seed);
        let stop = net.rng().range(0, 63) as usize;
        let mut a = config(SocketType::Dealer);
        a.handshake_ivl = Duration::ZERO;
        // The stalled peer gives up after ten hours; until then only it has a deadline.
        let mut b = config(SocketType::Router);
        b.handshake_ivl = 10 * HOUR;
        let (a, b) = net.random_pair(a, b);
        net.limit_sending(b, stop);
        net.run_until(10 * HOUR - SEC);
        assert_eq!(net.node(a).ended, None, "seed {seed}");
        assert_eq!(net.node(a).conn.poll_timeout(), None, "seed {seed}");
        net.drive();
        assert_eq!(
            net.node(b).ended,
            Some((10 * HOUR, End::Error(ProtocolError::HandshakeTimeout))),
            "seed {seed}"
        );
        assert!(
            matches!(net.node(a).ended, Some((_, End::PeerClosed))),
            "seed {seed}: {:?}",
            net.node(a).ended
        );
    }
}

// ----- Heartbeats -------------------------------------------------------------------------

/// A peer that goes silent once the handshake is done (it still reads): the PINGs stay
/// unanswered and the connection ends at HEARTBEAT_IVL + HEARTBEAT_TIMEOUT after the
/// handshake, with HEARTBEAT_TIMEOUT zero meaning the interval.
#[test]
fn heartbeat_timeout_drops_a_silent_peer_at_ivl_plus_timeout() {
    // (interval, timeout, PINGs sent before the timeout wins)
    let cases = [
        (SEC, Duration::ZERO, 1),
        (SEC, 3 * SEC, 3),
        (SEC, Duration::from_millis(2_500), 3),
        (Duration::from_millis(250), Duration::from_millis(100), 1),
        (10 * SEC, 5 * SEC, 1),
    ];
    for seed in 0..40 {
        for &(ivl, timeout, n_pings) in &cases {
            let mut net = Net::new(seed);
            let mut a = config(SocketType::Dealer);
            a.heartbeat_ivl = ivl;
            a.heartbeat_timeout = timeout;
            // Longer than the timeout: only our own deadline may end it.
            a.heartbeat_ttl = Duration::from_millis(60_100);
            let (a, b) = net.random_pair(a, config(SocketType::Router));
            net.run_while_not(60 * SEC, |n| {
                n.node(a).conn.is_ready() && n.node(a).in_flight() == 0
            });
            let ready = net.node(a).ready_at().expect("ready");
            net.silence(b);
            net.drive();
            let effective = if timeout.is_zero() { ivl } else { timeout };
            assert_eq!(
                net.node(a).ended,
                Some((
                    ready + ivl + effective,
                    End::Error(ProtocolError::HeartbeatTimeout)
                )),
                "seed {seed}, ivl {ivl:?}, timeout {timeout:?}"
            );
            // The silent peer read each PING, with our TTL in deciseconds.
            let got = pings(&net, b);
            assert_eq!(got.len(), n_pings, "seed {seed}: {got:?}");
            assert!(got.iter().all(|&(_, ttl)| ttl == 601), "{got:?}");
        }
    }
}

#[test]
fn a_peer_that_answers_pings_is_kept_for_an_hour() {
    for seed in 0..3 {
        let mut net = Net::new(seed);
        let mut a = config(SocketType::Dealer);
        a.heartbeat_ivl = SEC;
        a.heartbeat_timeout = SEC;
        // Cut, delayed and stalled both ways, every answer still within the timeout.
        let (a, b) = net.random_pair(a, config(SocketType::Router));
        until_ready(&mut net, a, b);
        let start = net.elapsed();
        net.run_until(start + HOUR);
        assert_eq!(net.node(a).ended, None, "seed {seed}");
        assert_eq!(net.node(b).ended, None, "seed {seed}");
        let pongs = net.node(a).times_of(|e| *e == Event::Pong).len();
        let pinged = pings(&net, b).len();
        assert!(
            (3598..=3602).contains(&pinged),
            "seed {seed}: {pinged} PINGs in an hour at one a second"
        );
        assert!(
            pongs + 2 >= pinged,
            "seed {seed}: {pongs} PONGs for {pinged} PINGs"
        );
    }
}

/// The TTL a peer announces in its PING is what counts (not our own HEARTBEAT_TTL, and
/// although we send no PINGs ourselves): silent for that long after its last bytes, the
/// peer is dropped.
#[test]
fn the_ttl_a_peer_announces_in_its_ping_is_honoured() {
    for seed in 0..100 {
        let mut net = Net::new(seed);
        let ttl_ds = net.rng().range(20, 50) as u16;
        let ttl = Duration::from_millis(u64::from(ttl_ds) * 100);
        let mut a = config(SocketType::Dealer);
        a.heartbeat_ivl = SEC;
        a.heartbeat_timeout = 60 * SEC;
        a.heartbeat_ttl = ttl;
        let mut b = config(SocketType::Router);
        b.heartbeat_ttl = 600 * SEC;
        let (a, b) = net.random_pair(a, b);
        until_ready(&mut net, a, b);
        assert_eq!(
            net.node(b).conn.poll_timeout(),
            None,
            "no TTL before a PING"
        );
        // PINGs every second keep it alive well past the TTL.
        let silent_from = net.elapsed() + 20 * SEC;
        net.run_until(silent_from);
        assert_eq!(net.node(b).ended, None, "seed {seed}");
        assert!(pings(&net, b).iter().all(|&(_, t)| t == ttl_ds));
        net.silence(a);
        net.drive();
        let (last, _) = *pings(&net, b).last().expect("PINGs");
        assert_eq!(
            net.node(b).ended,
            Some((last + ttl, End::Error(ProtocolError::PeerTtlExpired))),
            "seed {seed}, TTL {ttl:?}"
        );
        assert!(
            matches!(net.node(a).ended, Some((_, End::PeerClosed))),
            "seed {seed}: {:?}",
            net.node(a).ended
        );
    }
}

/// The core asks for the time of a read only while the peer's TTL runs.
#[test]
fn the_read_time_is_asked_for_only_while_a_peer_ttl_runs() {
    let mut net = Net::new(1);
    let (a, b) = net.pair(config(SocketType::Dealer), config(SocketType::Router));
    until_ready(&mut net, a, b);
    net.conn(b)
        .handle_received(|| panic!("the clock was read without a peer TTL"));
    net.conn(a).send_ping(0, Bytes::new());
    net.drive();
    net.conn(b)
        .handle_received(|| panic!("a PING without a TTL started one"));
    net.conn(a).send_ping(10, Bytes::new());
    net.run_while_not(net.elapsed() + SEC, |n| pings(n, b).len() == 2);
    assert_eq!(net.node(b).ended, None);
    let now = net.now();
    let mut asked = 0;
    net.conn(b).handle_received(|| {
        asked += 1;
        now
    });
    assert_eq!(asked, 1);
}

// ----- Resets -----------------------------------------------------------------------------

/// A reset while a large message is half-way across loses that connection only (its half
/// message is never delivered); another pair on the same network keeps exchanging.
#[test]
fn a_reset_mid_frame_loses_only_that_connection() {
    for seed in 0..50 {
        let mut net = Net::new(seed);
        let slow = Link {
            delay: (Duration::from_millis(1), Duration::from_millis(5)),
            split: true,
            stall_one_in: 0,
            stall: Duration::ZERO,
        };
        let (push, pull) = net.pair_over(
            config(SocketType::Push),
            config(SocketType::Pull),
            slow.clone(),
            slow,
        );
        let (dealer, router) =
            net.random_pair(config(SocketType::Dealer), config(SocketType::Router));
        until_ready(&mut net, push, pull);
        until_ready(&mut net, dealer, router);

        let big = Message::from(vec![7u8; 200_000]);
        net.conn(push).send_message(&big);
        let mut sent = Vec::new();
        let mut i = 0u32;
        // Exchange on the other pair while the large frame crosses, then reset mid-frame.
        net.run_while_not(net.elapsed() + 60 * SEC, |n| {
            if n.rng().chance(1, 2) {
                let m = Message::from(format!("m{i}"));
                n.conn(dealer).send_message(&m);
                sent.push(m);
                i += 1;
            }
            n.node(pull).buffered() > 0
        });
        assert_eq!(net.node(pull).message_count, 0);
        net.reset(pull);
        assert_eq!(
            net.node(push).ended.as_ref().map(|e| &e.1),
            Some(&End::Reset)
        );
        assert_eq!(
            net.node(pull).ended.as_ref().map(|e| &e.1),
            Some(&End::Reset)
        );
        // The other pair goes on.
        for j in 0..20 {
            let m = Message::from(format!("after{j}"));
            net.conn(dealer).send_message(&m);
            sent.push(m.clone());
            net.conn(router).send_message(&m);
        }
        net.drive();
        assert_eq!(
            net.node(pull).message_count,
            0,
            "seed {seed}: half a message"
        );
        assert_eq!(net.node(router).messages(), sent, "seed {seed}");
        assert_eq!(net.node(dealer).message_count, 20, "seed {seed}");
        assert_eq!(net.node(dealer).ended, None);
        assert_eq!(net.node(router).ended, None);
    }
}

// ----- Exchanges under random links -------------------------------------------------------

/// How long an exchange may take in virtual time before it counts as stuck.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(600);

/// A pair over random links; about half the runs have heartbeats on, their PINGs and
/// PONGs mixed with the messages.
fn exchange_pair(seed: u64, a: SocketType, b: SocketType) -> (Net, Id, Id) {
    let mut net = Net::new(seed);
    let mut ca = config(a);
    let mut cb = config(b);
    for c in [&mut ca, &mut cb] {
        if net.rng().chance(1, 2) {
            c.heartbeat_ivl = Duration::from_millis(net.rng().range(50, 500));
            c.heartbeat_timeout = 10 * SEC;
            c.heartbeat_ttl = 10 * SEC;
        }
    }
    let (a, b) = net.random_pair(ca, cb);
    (net, a, b)
}

/// Nothing ended, and a while more (virtual) brings no extra message.
fn settle(net: &mut Net, ids: &[Id]) {
    let until = net.elapsed() + 2 * SEC;
    net.run_until(until);
    for &id in ids {
        assert_eq!(net.node(id).ended, None, "node {id} ended");
    }
}

/// A frame of `len` bytes whose content follows from `tag`.
fn frame_body(len: usize, tag: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag))
        .collect()
}

fn frame_strategy() -> impl Strategy<Value = Bytes> {
    (
        prop_oneof![8 => 0usize..40, 2 => 250usize..300, 1 => 1_000usize..6_000],
        any::<u8>(),
    )
        .prop_map(|(len, tag)| frame_body(len, tag))
}

fn message_strategy() -> impl Strategy<Value = Message> {
    prop::collection::vec(frame_strategy(), 1..4).prop_map(Message::from)
}

fn messages_strategy() -> impl Strategy<Value = Vec<Message>> {
    prop::collection::vec(message_strategy(), 1..12)
}

fn push_pull(seed: u64, msgs: &[Message]) {
    let (mut net, push, pull) = exchange_pair(seed, SocketType::Push, SocketType::Pull);
    let mut next = 0;
    net.run_while_not(EXCHANGE_LIMIT, |n| {
        if n.node(push).conn.is_ready() && next < msgs.len() && n.rng().chance(1, 3) {
            let k = n.rng().range(1, 3) as usize;
            for m in &msgs[next..(next + k).min(msgs.len())] {
                n.conn(push).send_message(m);
            }
            next = (next + k).min(msgs.len());
        }
        n.node(pull).message_count == msgs.len()
    });
    settle(&mut net, &[push, pull]);
    assert_eq!(net.node(pull).messages(), msgs);
}

/// REQ sends a request (empty delimiter, body) and waits for its reply before the next;
/// REP answers each with the same frames reversed.
fn req_rep(seed: u64, msgs: &[Message]) {
    let (mut net, req, rep) = exchange_pair(seed, SocketType::Req, SocketType::Rep);
    let request = |m: &Message| {
        let mut r = m.clone();
        r.push_front(Bytes::new());
        r
    };
    let reply = |m: &Message| {
        let mut frames = m.clone().into_vec();
        frames.reverse();
        let mut r = Message::from(frames);
        r.push_front(Bytes::new());
        r
    };
    let (mut asked, mut answered) = (0, 0);
    net.run_while_not(EXCHANGE_LIMIT, |n| {
        let got = n.node(req).message_count;
        // Strict alternation: the next request only once the last one has its reply.
        if n.node(req).conn.is_ready() && asked < msgs.len() && got == asked {
            n.conn(req).send_message(&request(&msgs[asked]));
            asked += 1;
        }
        let requests = n.node(rep).message_count;
        assert!(
            requests <= asked && requests <= answered + 1,
            "REP got a request early"
        );
        if requests > answered {
            n.conn(rep).send_message(&reply(&msgs[answered]));
            answered += 1;
        }
        got == msgs.len()
    });
    settle(&mut net, &[req, rep]);
    let want_requests: Vec<Message> = msgs.iter().map(request).collect();
    let want_replies: Vec<Message> = msgs.iter().map(reply).collect();
    assert_eq!(net.node(rep).messages(), want_requests);
    assert_eq!(net.node(req).messages(), want_replies);
}

/// DEALER streams its messages; ROUTER echoes each back as it arrives (both directions
/// busy at once).
fn dealer_router(seed: u64, msgs: &[Message]) {
    let (mut net, dealer, router) = exchange_pair(seed, SocketType::Dealer, SocketType::Router);
    let mut next = 0;
    let mut echoed = 0;
    net.run_while_not(EXCHANGE_LIMIT, |n| {
        if n.node(dealer).conn.is_ready() && next < msgs.len() && n.rng().chance(1, 2) {
            n.conn(dealer).send_message(&msgs[next]);
            next += 1;
        }
        while echoed < n.node(router).message_count {
            n.conn(router).send_message(&msgs[echoed]);
            echoed += 1;
        }
        n.node(dealer).message_count == msgs.len()
    });
    settle(&mut net, &[dealer, router]);
    assert_eq!(net.node(router).messages(), msgs);
    assert_eq!(net.node(dealer).messages(), msgs);
}

/// SUB sends subscriptions and cancellations at random moments; PUB applies those it has
/// received (counted, as libzmq counts them) and sends each message only when its first
/// frame matches one. PUB must see exactly the SUB's commands in order, and SUB exactly
/// the messages PUB sent.
fn pub_sub(seed: u64, msgs: &[Message], ops: &[(bool, Bytes)]) {
    let (mut net, publ, sub) = exchange_pair(seed, SocketType::Pub, SocketType::Sub);
    let (mut op_next, mut seen, mut msg_next) = (0, 0, 0);
    let mut subs: HashMap<Bytes, usize> = HashMap::new();
    let mut published = Vec::new();
    net.run_while_not(EXCHANGE_LIMIT, |n| {
        if n.node(sub).conn.is_ready() && op_next < ops.len() && n.rng().chance(1, 3) {
            let (on, topic) = &ops[op_next];
            n.conn(sub).send_subscription(*on, topic);
            op_next += 1;
        }
        // Apply what arrived, in order.
        let evs: Vec<(bool, Bytes)> = n.node(publ).events[seen..]
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Subscribe(t) => Some((true, t.clone())),
                Event::Cancel(t) => Some((false, t.clone())),
                _ => None,
            })
            .collect();
        seen = n.node(publ).events.len();
        for (on, t) in evs {
            let c = subs.entry(t).or_default();
            if on {
                *c += 1;
            } else {
                *c = c.saturating_sub(1);
            }
        }
        if n.node(publ).conn.is_ready() && msg_next < msgs.len() && n.rng().chance(1, 2) {
            let m = &msgs[msg_next];
            msg_next += 1;
            let topic = m.first().expect("one frame at least");
            if subs.iter().any(|(t, &c)| c > 0 && topic.starts_with(t)) {
                n.conn(publ).send_message(m);
                published.push(m.clone());
            }
        }
        let subs_seen = n
            .node(publ)
            .times_of(|e| matches!(e, Event::Subscribe(_) | Event::Cancel(_)))
            .len();
        op_next == ops.len()
            && subs_seen == ops.len()
            && msg_next == msgs.len()
            && n.node(sub).message_count == published.len()
    });
    settle(&mut net, &[publ, sub]);
    let commands: Vec<(bool, Bytes)> = net
        .node(publ)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Subscribe(t) => Some((true, t.clone())),
            Event::Cancel(t) => Some((false, t.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(commands, ops);
    assert_eq!(net.node(sub).messages(), published);
}

/// Topics from a small set, so that subscriptions and messages meet.
fn topic_strategy() -> impl Strategy<Value = Bytes> {
    prop::sample::select(vec!["", "a", "ab", "abc", "b", "ba", "zz"]).prop_map(Bytes::from)
}

fn pub_messages_strategy() -> impl Strategy<Value = Vec<Message>> {
    prop::collection::vec(
        (
            topic_strategy(),
            prop::collection::vec(frame_strategy(), 0..3),
        ),
        1..16,
    )
    .prop_map(|ms| {
        ms.into_iter()
            .map(|(topic, rest)| {
                // The topic starts the first frame (its body may follow it).
                let mut m = Message::from(rest);
                let first = m.pop_front().unwrap_or_default();
                let mut head = topic.to_vec();
                head.extend_from_slice(&first);
                m.push_front(Bytes::from(head));
                m
            })
            .collect()
    })
}

fn ops_strategy() -> impl Strategy<Value = Vec<(bool, Bytes)>> {
    (
        topic_strategy(),
        prop::collection::vec((prop::bool::weighted(0.7), topic_strategy()), 0..8),
    )
        .prop_map(|(first, rest)| {
            let mut ops = vec![(true, first)];
            ops.extend(rest);
            ops
        })
}

/// Seeds per pattern: four patterns, thousands of seeds in all.
const CASES: u32 = 1_500;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn push_pull_delivers_exactly_what_was_sent(seed in any::<u64>(), msgs in messages_strategy()) {
        push_pull(seed, &msgs);
    }

    #[test]
    fn req_rep_delivers_exactly_what_was_sent(seed in any::<u64>(), msgs in messages_strategy()) {
        req_rep(seed, &msgs);
    }

    #[test]
    fn dealer_router_delivers_exactly_what_was_sent(seed in any::<u64>(), msgs in messages_strategy()) {
        dealer_router(seed, &msgs);
    }

    #[test]
    fn pub_sub_delivers_exactly_what_was_sent(
        seed in any::<u64>(),
        msgs in pub_messages_strategy(),
        ops in ops_strategy(),
    ) {
        pub_sub(seed, &msgs, &ops);
    }
}

// ----- Through the socket data plane ------------------------------------------------------
//
// The same links, with each end's data plane above its connection (`SimSocket`: the
// socket's routing state with the engine's side of the contract driven here): the
// application sends and receives through the socket types' rules, connections attach after
// their handshakes, and what one plane queues reaches the other plane's receive.

/// One end: its connection's node, its plane, its peer id once attached, and how many of
/// the node's events the plane has taken.
struct End2 {
    node: Id,
    plane: aiozmq::fuzzing::SimSocket,
    peer: Option<u64>,
    seen: usize,
}

impl End2 {
    fn new(node: Id, t: SocketType, rid: &[u8]) -> End2 {
        End2 {
            node,
            plane: aiozmq::fuzzing::SimSocket::new(t, rid),
            peer: None,
            seen: 0,
        }
    }

    /// Attaches after the handshake, hands the plane what the connection decoded (while
    /// RCVHWM leaves room), and moves what the plane queued into the connection.
    fn pump(&mut self, n: &mut Net) {
        if self.peer.is_none() {
            let Some(info) = n.node(self.node).conn.peer().cloned() else {
                return;
            };
            self.peer = Some(
                self.plane
                    .attach(info.identity.clone())
                    .expect("the plane refused the connection"),
            );
        }
        let id = self.peer.expect("attached");
        while self.seen < n.node(self.node).events.len() && self.plane.in_room(id) > 0 {
            match n.node(self.node).events[self.seen].1.clone() {
                Event::Message(m) => {
                    self.plane.deliver(id, m);
                }
                Event::Subscribe(t) => self.plane.on_subscription(id, true, &t),
                Event::Cancel(t) => self.plane.on_subscription(id, false, &t),
                _ => {}
            }
            self.seen += 1;
        }
        self.plane.pull_into(id, n.conn(self.node));
    }
}

/// DEALER ↔ ROUTER through both planes: the DEALER sends `msgs` as the application would
/// (retrying when no peer can take one yet), the ROUTER's application echoes each back by
/// the routing id its plane gave the connection, and the DEALER receives exactly `msgs`,
/// in order.
fn dealer_router_planes(seed: u64, msgs: &[Message]) {
    let (mut net, d, r) = exchange_pair(seed, SocketType::Dealer, SocketType::Router);
    // The connection announces no routing id (its config has none): the ROUTER's plane
    // makes one up, the same for every message of that connection.
    let mut dealer = End2::new(d, SocketType::Dealer, b"");
    let mut router = End2::new(r, SocketType::Router, b"");
    let (mut sent, mut echoed, mut got) = (0, 0, Vec::new());
    let mut rid: Option<Bytes> = None;
    net.run_while_not(EXCHANGE_LIMIT, |n| {
        if sent < msgs.len()
            && n.rng().chance(1, 2)
            && dealer.plane.send(msgs[sent].clone()).is_ok()
        {
            sent += 1;
        }
        dealer.pump(n);
        router.pump(n);
        while let Some(m) = router.plane.recv() {
            let first = rid.get_or_insert_with(|| m[0].clone());
            assert_eq!(&m[0], first, "seed {seed}: the routing id changed");
            assert_eq!(
                m[0].first(),
                Some(&0),
                "seed {seed}: a generated id starts with 0"
            );
            router.plane.send(m).expect("routed back");
            echoed += 1;
        }
        router.pump(n);
        while let Some(m) = dealer.plane.recv() {
            got.push(m);
        }
        got.len() == msgs.len()
    });
    settle(&mut net, &[d, r]);
    assert_eq!(echoed, msgs.len(), "seed {seed}");
    assert_eq!(got, msgs, "seed {seed}");
}

/// PUB → SUB through both planes: the SUB's plane subscribes to `a` (its connection sends
/// the SUBSCRIBE), the PUB's plane then publishes topics `a` and `b` alternately, and the
/// SUB's application receives exactly the `a` messages published after the PUB's plane saw
/// the subscription, in order.
fn pub_sub_planes(seed: u64, count: usize) {
    let (mut net, p, s) = exchange_pair(seed, SocketType::Pub, SocketType::Sub);
    let mut publ = End2::new(p, SocketType::Pub, b"");
    let mut sub = End2::new(s, SocketType::Sub, b"");
    sub.plane.subscribe(b"a");
    let mut published = Vec::new();
    let mut got = Vec::new();
    let mut i = 0;
    net.run_while_not(EXCHANGE_LIMIT, |n| {
        publ.pump(n);
        sub.pump(n);
        // Publish once the PUB's plane knows the subscription (a PUB drops what no one
        // subscribed to), one message in two of topic `a`.
        let subscribed = n
            .node(p)
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::Subscribe(_)))
            && publ.seen == n.node(p).events.len();
        if subscribed && i < 2 * count && n.rng().chance(1, 2) {
            let topic: &[u8] = if i % 2 == 0 { b"a" } else { b"b" };
            let m = Message::from(vec![
                Bytes::copy_from_slice(topic),
                frame_body(i % 50, i as u8),
            ]);
            publ.plane.send(m.clone()).expect("PUB never blocks");
            if i % 2 == 0 {
                published.push(m);
            }
            i += 1;
        }
        publ.pump(n);
        while let Some(m) = sub.plane.recv() {
            got.push(m);
        }
        got.len() == count
    });
    settle(&mut net, &[p, s]);
    while let Some(m) = sub.plane.recv() {
        got.push(m);
    }
    assert_eq!(got, published, "seed {seed}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn dealer_router_through_the_data_plane_delivers_exactly_what_was_sent(
        seed in any::<u64>(),
        msgs in messages_strategy(),
    ) {
        dealer_router_planes(seed, &msgs);
    }

    #[test]
    fn pub_sub_through_the_data_plane_delivers_exactly_the_subscribed_messages(
        seed in any::<u64>(),
        count in 1usize..20,
    ) {
        pub_sub_planes(seed, count);
    }
}
