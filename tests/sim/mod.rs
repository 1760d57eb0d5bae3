//! A deterministic network simulator for the sans-I/O ZMTP core, after quinn-proto's
//! `Pair` (`quinn-proto/src/tests/util.rs`).
//!
//! A [`Net`] holds any number of connected pairs of [`Connection`]s on one virtual clock
//! (a base [`Instant`] plus an offset). Each direction of a pair is a byte stream with its
//! own [`Link`]: writes are cut at random bytes, each piece is delayed, and now and then
//! one stalls everything behind it; the order of the bytes is kept, as TCP keeps it.
//! Every random choice comes from one seed, so a seed replays a run exactly.
//!
//! [`Net::step`] lets each live connection take the bytes due by now, fire its expired
//! timer and put its output on the link; when none of that happened, the clock jumps to
//! the earliest thing that will (a piece due, a `poll_timeout`). [`Net::drive`] steps until
//! nothing is left to do; [`Net::drive_bounded`] and [`Net::run_until`] fail loudly after a
//! number of steps, so a livelock fails the test instead of hanging it.
#![allow(dead_code)]

use aiozmq::zmtp::{Config, Connection, Event, ProtocolError};
use aiozmq::Message;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// SplitMix64: small, fast, and enough to spread faults over a run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A duration in `lo..=hi`, to the microsecond.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        let (lo, hi) = (lo.as_micros() as u64, hi.as_micros() as u64);
        Duration::from_micros(self.range(lo, hi))
    }
}

/// How one direction of a pair carries bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Each piece arrives between `delay.0` and `delay.1` after it was written (but never
    /// before the piece written before it).
    pub delay: (Duration, Duration),
    /// Cut each write into two or more pieces at random bytes (otherwise one piece per
    /// write).
    pub split: bool,
    /// One piece in `stall_one_in` is held back up to `stall` more, and every later piece
    /// of the direction waits behind it (0: never).
    pub stall_one_in: u64,
    /// The longest stall.
    pub stall: Duration,
}

impl Link {
    /// Bytes arrive at once, in one piece per write.
    pub fn ideal() -> Self {
        Link {
            delay: (Duration::ZERO, Duration::ZERO),
            split: false,
            stall_one_in: 0,
            stall: Duration::ZERO,
        }
    }

    /// Random cuts, delays up to 20 ms and stalls up to 300 ms, drawn from `rng`.
    pub fn random(rng: &mut Rng) -> Self {
        let max = rng.duration(Duration::ZERO, Duration::from_millis(20));
        Link {
            delay: (rng.duration(Duration::ZERO, max), max),
            split: rng.chance(7, 8),
            stall_one_in: [0, 4, 16, 64][rng.below(4) as usize],
            stall: rng.duration(Duration::from_millis(1), Duration::from_millis(300)),
        }
    }
}

/// A connection's index in its [`Net`].
pub type Id = usize;

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Its own `handle_*` call failed (protocol error or timeout); it closed.
    Error(ProtocolError),
    /// The peer closed (we read its EOF after everything it sent).
    PeerClosed,
    /// The link was reset: what was in flight is lost, both ends are gone.
    Reset,
}

/// A piece of a byte stream on its way.
#[derive(Debug)]
struct Piece {
    /// Offset from the base instant at which it arrives.
    due: Duration,
    data: Bytes,
    /// The sender closed after this piece (EOF).
    fin: bool,
}

/// One end of a pair.
#[derive(Debug)]
pub struct Node {
    /// The protocol core under test.
    pub conn: Connection,
    peer: Id,
    /// The direction from this node to its peer.
    link: Link,
    /// When the last piece this node sent arrives (later pieces never overtake it).
    last_due: Duration,
    /// Pieces on their way to this node, in arrival order.
    inbound: VecDeque<Piece>,
    rbuf: BytesMut,
    /// Every event, with the offset at which it came out.
    pub events: Vec<(Duration, Event)>,
    /// How and when it ended.
    pub ended: Option<(Duration, End)>,
    /// Bytes it may still send (`None`: no limit); what it writes beyond is lost, as if
    /// the peer process hung with the connection open.
    budget: Option<usize>,
    /// Bytes put on the link, in total.
    pub sent: usize,
    /// Bytes taken off the link, in total.
    pub received: usize,
    /// Messages received so far.
    pub message_count: usize,
}

impl Node {
    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// The offsets at which events matching `f` came out.
    pub fn times_of(&self, f: impl Fn(&Event) -> bool) -> Vec<Duration> {
        self.events
            .iter()
            .filter(|(_, e)| f(e))
            .map(|(t, _)| *t)
            .collect()
    }

    /// When the handshake completed.
    pub fn ready_at(&self) -> Option<Duration> {
        self.times_of(|e| matches!(e, Event::Ready(_)))
            .first()
            .copied()
    }

    /// Bytes received but not yet decoded (part of a frame).
    pub fn buffered(&self) -> usize {
        self.rbuf.len()
    }

    /// Pieces on their way to this node.
    pub fn in_flight(&self) -> usize {
        self.inbound.len()
    }
}

/// Connections on a virtual clock.
#[derive(Debug)]
pub struct Net {
    base: Instant,
    offset: Duration,
    rng: Rng,
    nodes: Vec<Node>,
    /// Steps taken so far.
    pub steps: usize,
}

/// Steps [`Net::drive`] and [`Net::run_until`] allow before they call it a livelock.
pub const MAX_STEPS: usize = 200_000;

impl Net {
    /// An empty network whose random choices all come from `seed`.
    pub fn new(seed: u64) -> Self {
        Net {
            base: Instant::now(),
            offset: Duration::ZERO,
            rng: Rng::new(seed),
            nodes: Vec::new(),
            steps: 0,
        }
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Virtual time since the network was made.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// The network's random generator (for choices a test makes from the same seed).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Connects a new pair over ideal links; both handshakes start now.
    pub fn pair(&mut self, a: Config, b: Config) -> (Id, Id) {
        self.pair_over(a, b, Link::ideal(), Link::ideal())
    }

    /// Connects a new pair whose directions carry bytes as `ab` and `ba` say.
    pub fn pair_over(&mut self, a: Config, b: Config, ab: Link, ba: Link) -> (Id, Id) {
        let (ia, ib) = (self.nodes.len(), self.nodes.len() + 1);
        let now = self.now();
        for (cfg, peer, link) in [(a, ib, ab), (b, ia, ba)] {
            self.nodes.push(Node {
                conn: Connection::new(cfg, now),
                peer,
                link,
                last_due: self.offset,
                inbound: VecDeque::new(),
                rbuf: BytesMut::new(),
                events: Vec::new(),
                ended: None,
                budget: None,
                sent: 0,
                received: 0,
                message_count: 0,
            });
        }
        (ia, ib)
    }

    /// Connects a new pair over links drawn from the seed.
    pub fn random_pair(&mut self, a: Config, b: Config) -> (Id, Id) {
        let ab = Link::random(&mut self.rng);
        let ba = Link::random(&mut self.rng);
        self.pair_over(a, b, ab, ba)
    }

    /// One end.
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    /// One end's connection, to queue messages and commands.
    pub fn conn(&mut self, id: Id) -> &mut Connection {
        &mut self.nodes[id].conn
    }

    /// From now on `id` sends at most `bytes` more bytes, then nothing (it keeps reading).
    pub fn limit_sending(&mut self, id: Id, bytes: usize) {
        self.nodes[id].budget = Some(bytes);
    }

    /// From now on `id` sends nothing (it keeps reading).
    pub fn silence(&mut self, id: Id) {
        self.limit_sending(id, 0);
    }

    /// Resets the link between `id` and its peer: the bytes in flight either way are lost
    /// and both ends are gone (no EOF, no ERROR).
    pub fn reset(&mut self, id: Id) {
        let peer = self.nodes[id].peer;
        for n in [id, peer] {
            let node = &mut self.nodes[n];
            node.inbound.clear();
            if node.ended.is_none() {
                node.ended = Some((self.offset, End::Reset));
            }
        }
    }

    /// One round: each live connection takes what is due, fires an expired timer and
    /// sends; if none of that happened, the clock jumps to the next thing due. False when
    /// nothing is left to do at all.
    pub fn step(&mut self) -> bool {
        self.step_within(None)
    }

    /// Like [`step`](Self::step), but the clock never jumps past `limit` (false instead).
    fn step_within(&mut self, limit: Option<Duration>) -> bool {
        self.steps += 1;
        let mut progress = false;
        for id in 0..self.nodes.len() {
            progress |= self.deliver(id);
            progress |= self.fire_timer(id);
            progress |= self.transmit(id);
        }
        if progress {
            return true;
        }
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        assert!(
            next > self.offset,
            "a wake-up at {next:?} was due at {:?} but nothing happened",
            self.offset
        );
        if limit.is_some_and(|limit| next > limit) {
            return false;
        }
        self.offset = next;
        true
    }

    /// The earliest piece due or connection timeout, as an offset.
    fn next_wakeup(&self) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        for n in &self.nodes {
            if n.ended.is_some() {
                continue;
            }
            let due = n.inbound.front().map(|p| p.due);
            let timer = n
                .conn
                .poll_timeout()
                .map(|t| t.saturating_duration_since(self.base));
            for t in [due, timer].into_iter().flatten() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    /// Steps until nothing is left to do; fails after [`MAX_STEPS`].
    pub fn drive(&mut self) {
        self.drive_bounded(MAX_STEPS);
    }

    /// Steps until nothing is left to do; fails after `max_steps` (a livelock).
    pub fn drive_bounded(&mut self, max_steps: usize) {
        for _ in 0..max_steps {
            if !self.step() {
                return;
            }
        }
        panic!(
            "still busy after {max_steps} steps, at {:?} of virtual time",
            self.offset
        );
    }

    /// Steps until the virtual time reaches `until` (or nothing is left to do before it);
    /// fails after [`MAX_STEPS`].
    pub fn run_until(&mut self, until: Duration) {
        for _ in 0..MAX_STEPS {
            if !self.step_within(Some(until)) {
                self.offset = self.offset.max(until);
                return;
            }
        }
        panic!(
            "still busy after {MAX_STEPS} steps, at {:?} of virtual time",
            self.offset
        );
    }

    /// Steps until `done` holds, calling it before each step (it may act, as an
    /// application would: send, subscribe). While nothing is left to do, the clock ticks
    /// by a millisecond at a time. Fails past `deadline` of virtual time or after
    /// [`MAX_STEPS`].
    pub fn run_while_not(&mut self, deadline: Duration, mut done: impl FnMut(&mut Net) -> bool) {
        for _ in 0..MAX_STEPS {
            if done(self) {
                return;
            }
            assert!(
                self.offset < deadline,
                "the condition does not hold at the deadline, {deadline:?} of virtual time"
            );
            if !self.step_within(Some(deadline)) {
                self.offset = (self.offset + Duration::from_millis(1)).min(deadline);
            }
        }
        panic!(
            "condition not reached after {MAX_STEPS} steps, at {:?} of virtual time",
            self.offset
        );
    }

    /// Gives `id` the pieces due by now, one read each.
    fn deliver(&mut self, id: Id) -> bool {
        let now = self.now();
        let offset = self.offset;
        let node = &mut self.nodes[id];
        let mut progress = false;
        while node.ended.is_none() && node.inbound.front().is_some_and(|p| p.due <= offset) {
            let piece = node.inbound.pop_front().expect("a piece is due");
            progress = true;
            if !piece.data.is_empty() {
                node.received += piece.data.len();
                node.conn.handle_received(|| now);
                node.rbuf.extend_from_slice(&piece.data);
                let r = node.conn.handle_input(&mut node.rbuf);
                drain_events(node, offset);
                if let Err(e) = r {
                    self.close(id, End::Error(e));
                    return true;
                }
            }
            if piece.fin {
                node.ended = Some((offset, End::PeerClosed));
            }
        }
        progress
    }

    /// Calls `handle_timeout` when `id`'s deadline has come.
    fn fire_timer(&mut self, id: Id) -> bool {
        let now = self.now();
        let node = &mut self.nodes[id];
        if node.ended.is_some() || node.conn.poll_timeout().is_none_or(|t| t > now) {
            return false;
        }
        let r = node.conn.handle_timeout(now);
        drain_events(node, self.offset);
        if let Err(e) = r {
            self.close(id, End::Error(e));
        }
        true
    }

    /// Puts what `id` has to send on the link to its peer.
    fn transmit(&mut self, id: Id) -> bool {
        if self.nodes[id].ended.is_some() || self.nodes[id].conn.transmit().is_empty() {
            return false;
        }
        self.send(id, false);
        true
    }

    /// `id` ended with `why`: it flushes what it holds (an ERROR, say) and closes.
    fn close(&mut self, id: Id, why: End) {
        self.send(id, true);
        self.nodes[id].ended = Some((self.offset, why));
    }

    /// Moves `id`'s pending output onto the link (within its budget), cut and delayed as
    /// its link says; with `fin`, an EOF follows it.
    fn send(&mut self, id: Id, fin: bool) {
        let offset = self.offset;
        let peer = self.nodes[id].peer;
        let node = &mut self.nodes[id];
        let mut data = node.conn.transmit().to_vec();
        let n = data.len();
        node.conn.transmit().advance(n);
        if let Some(budget) = node.budget.as_mut() {
            data.truncate(*budget);
            *budget -= data.len();
        }
        node.sent += data.len();
        let link = node.link.clone();
        let mut last_due = node.last_due;
        let mut pieces = Vec::new();
        for (i, piece) in cut(&mut self.rng, data, link.split).into_iter().enumerate() {
            let mut due = offset + self.rng.duration(link.delay.0, link.delay.1);
            if link.stall_one_in > 0 && self.rng.chance(1, link.stall_one_in) {
                due += self.rng.duration(Duration::ZERO, link.stall);
            }
            // The pieces of one write arrive one after the other (a microsecond apart at
            // least), so a write that was cut is always seen in part first.
            let after = if i == 0 {
                last_due
            } else {
                last_due + Duration::from_micros(1)
            };
            last_due = after.max(due);
            pieces.push(Piece {
                due: last_due,
                data: piece,
                fin: false,
            });
        }
        if fin {
            last_due = last_due.max(offset + link.delay.1);
            pieces.push(Piece {
                due: last_due,
                data: Bytes::new(),
                fin: true,
            });
        }
        self.nodes[id].last_due = last_due;
        let peer = &mut self.nodes[peer];
        if peer.ended.is_none() {
            peer.inbound.extend(pieces);
        }
    }
}

fn drain_events(node: &mut Node, at: Duration) {
    while let Some(ev) = node.conn.poll_event() {
        node.message_count += matches!(ev, Event::Message(_)) as usize;
        node.events.push((at, ev));
    }
}

/// `data` cut at random bytes (or whole); the pieces concatenate back to `data`.
fn cut(rng: &mut Rng, data: Vec<u8>, split: bool) -> Vec<Bytes> {
    let data = Bytes::from(data);
    if data.is_empty() {
        return Vec::new();
    }
    if !split || data.len() == 1 {
        return vec![data];
    }
    // Now and then one byte at a time (short writes only, to keep runs fast).
    if data.len() <= 80 && rng.chance(1, 8) {
        return (0..data.len()).map(|i| data.slice(i..i + 1)).collect();
    }
    let mut cuts: Vec<usize> = (0..rng.range(1, 4))
        .map(|_| rng.range(1, data.len() as u64 - 1) as usize)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        out.push(data.slice(from..c));
        from = c;
    }
    out
}
