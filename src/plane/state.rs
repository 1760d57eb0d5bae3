//! The routing state shared by a socket's handle and its connection engines.
//!
//! One mutex guards everything; it is never held across an `.await`, and engines take it
//! once per batch of messages, not once per message.
//!
//! | type   | send                                              | recv                                  |
//! |--------|---------------------------------------------------|---------------------------------------|
//! | REQ    | round-robin, empty delimiter prepended            | only from the peer asked, delimiter stripped |
//! | REP    | to the peer of the last request, envelope restored | fair-queue, envelope kept            |
//! | DEALER | round-robin over peers with room                  | fair-queue                            |
//! | ROUTER | by the first frame (routing id)                   | fair-queue, routing id prepended      |
//! | PUB    | fan-out to matching subscribers, encoded once; a full peer drops | not allowed (`ENOTSUP`) |
//! | XPUB   | as PUB                                            | subscription messages (`01`/`00` + topic) |
//! | SUB    | not allowed (`ENOTSUP`); `subscribe`/`unsubscribe`| fair-queue, filtered by subscriptions |
//! | XSUB   | `01`/`00` + topic subscribes; other messages to all peers | as SUB                        |
//! | PUSH   | round-robin over peers with room                  | not allowed                           |
//! | PULL   | not allowed                                       | fair-queue                            |
//! | PAIR   | to the one peer                                   | from the one peer                     |

use super::lease::ReadLease;
use super::options::Options;
use super::trie::{LocalSubs, RemoteSubs};
use crate::monitor::{EventQueue, MonitorEvent};
use crate::transport::StreamWrite;
use crate::zmtp::connection::{encode_message, encode_message_into};
use crate::zmtp::frame::FLAG_MORE;
use crate::zmtp::SocketType;
use crate::zmtp::{FrameDecoder, WriteBuf};
use crate::{Error, ErrorKind, Message, Result};
use bytes::{Bytes, BytesMut};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub(crate) type PeerId = u64;

/// Hashes our own sequential peer ids (never peer-controlled) with one multiplication
/// instead of SipHash: the id maps are on the per-message path.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by peer id.
pub(crate) type IdMap<V> = HashMap<PeerId, V, std::hash::BuildHasherDefault<IdHasher>>;

/// Fan-out messages smaller than this are encoded once into one buffer shared by every
/// subscriber's queue; larger ones are shared frame by frame (their bodies are chained
/// into each write without copying anyway).
const ENCODE_ONCE_LIMIT: usize = 16 * 1024;

/// The most messages one refill of a socket's receive batch takes (see
/// [`State::take_inbound`]).
pub(crate) const RECV_BATCH: usize = 1024;

/// An item of a peer's outbound queue.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A message, encoded by the engine.
    Msg(Message),
    /// A message already encoded as ZMTP frames (fan-out: encoded once, shared).
    Wire(Bytes),
    /// A small message already encoded as ZMTP frames, held inline (fan-out of small
    /// messages: a copy per subscriber instead of a shared buffer whose reference count
    /// every subscriber's connection task would update from its own thread).
    Small(SmallWire),
    /// A subscription change, sent in the form the peer understands (3.1 command or 3.0
    /// message). Not counted against SNDHWM.
    Sub {
        /// Subscribe (true) or cancel.
        subscribe: bool,
        /// The topic prefix.
        topic: Bytes,
    },
}

/// One peer: its queues in both directions and the wake-ups of its engine.
#[derive(Debug)]
pub(crate) struct Peer {
    pub routing_id: Bytes,
    pub out: VecDeque<Outbound>,
    pub inbound: VecDeque<Message>,
    /// The peer is listed in the fair-queue ring.
    pub in_fq: bool,
    /// An engine with a completed handshake serves this peer.
    pub attached: bool,
    /// False once the connection is gone for good; the entry lives on while `inbound` drains.
    pub alive: bool,
    /// Wakes the engine: outbound messages were queued.
    pub out_wake: Arc<Notify>,
    /// Wakes the engine: room in `inbound` again.
    pub in_space: Arc<Notify>,
    /// The engine stopped reading because `inbound` reached RCVHWM.
    pub in_paused: bool,
    /// Ends this peer's engine (disconnect, handover).
    pub kill: CancellationToken,
    /// The endpoint this peer was reached through.
    pub endpoint: String,
    /// Takes messages as they are, never pre-encoded frames (an in-process pipe, or an
    /// encrypted connection).
    pub raw: bool,
    /// REQ/REP: the connection's write half while its engine has nothing to write; `send`
    /// then writes the message itself instead of handing it to the engine (one task hop
    /// less per round trip). Set by [`State::offer_direct`], taken back by
    /// [`State::revoke_direct`] before the engine writes anything.
    pub direct: Option<std::sync::Weak<StreamWrite>>,
    /// The unwritten end of a message whose start `send` wrote directly: the engine writes
    /// it before anything else.
    pub direct_rest: Option<Bytes>,
    /// `send` wrote message bytes to the connection directly at least once.
    pub direct_wrote: bool,
    /// REQ/REP: the connection's read side, which a waiting `recv` may borrow while the
    /// engine offers it (see `engine::lease`).
    pub lease: Option<Arc<ReadLease>>,
    /// Messages `send` already encoded as ZMTP frames, after everything in `out`: the
    /// engine swaps this buffer with its own empty write buffer (`State::pull_out_to`).
    /// Only for an attached connection that takes pre-encoded frames (not `raw`), and
    /// only while `out` is empty, so these bytes are always older than `out`'s items.
    /// Encoding where the message is sent spares a queue item per message (written by
    /// the sender, read and dropped by the engine): 16 B PUSH over TCP, sender CPU −22%.
    pub enc: WriteBuf,
    /// How many messages `enc` holds (they count against SNDHWM).
    pub enc_msgs: usize,
}

impl Peer {
    pub(crate) fn new(routing_id: Bytes, kill: CancellationToken) -> Self {
        Peer {
            routing_id,
            out: VecDeque::new(),
            inbound: VecDeque::new(),
            in_fq: false,
            attached: false,
            alive: true,
            out_wake: Arc::new(Notify::new()),
            in_space: Arc::new(Notify::new()),
            in_paused: false,
            kill,
            endpoint: String::new(),
            raw: false,
            direct: None,
            direct_rest: None,
            direct_wrote: false,
            lease: None,
            enc: WriteBuf::new(),
            enc_msgs: 0,
        }
    }

    /// Outbound messages (and subscription changes) waiting for the engine.
    pub(crate) fn queued(&self) -> usize {
        self.out.len() + self.enc_msgs
    }

    /// Drops every queued outbound item and encoded message.
    fn clear_out(&mut self) {
        self.out.clear();
        self.enc.clear();
        self.enc_msgs = 0;
    }

    /// Whether the next message goes into `enc` (see there).
    fn encodes(&self, conflate: bool) -> bool {
        self.attached && !self.raw && !conflate && self.out.is_empty()
    }

    /// CONFLATE: drops every queued message (subscription changes stay).
    fn conflate_out(&mut self) {
        self.out.retain(|o| matches!(o, Outbound::Sub { .. }));
        self.enc.clear();
        self.enc_msgs = 0;
    }

    /// Queues `msg` encoded in `enc`. Encoded from the caller's slot, which is emptied:
    /// the message is not moved on the way.
    fn push_encoded(&mut self, slot: &mut Option<Message>, wakes: &mut Wakes) {
        if let Some(msg) = slot.as_ref() {
            encode_message(msg, &mut self.enc);
            *slot = None;
            self.count_encoded(wakes);
        }
    }

    /// Queues a message already encoded (`wire`, copied) in `enc`.
    fn push_wire(&mut self, wire: &[u8], wakes: &mut Wakes) {
        self.enc.put_slice(wire);
        self.count_encoded(wakes);
    }

    /// One more message in `enc`; the first wakes the engine.
    fn count_encoded(&mut self, wakes: &mut Wakes) {
        self.enc_msgs += 1;
        if self.enc_msgs == 1 {
            wakes.push(self.out_wake.clone());
        }
    }

    /// The connection now attached cannot take pre-encoded frames (CURVE was configured
    /// after these messages were queued): decode them back into messages, ahead of `out`.
    fn requeue_encoded(&mut self) {
        if self.enc_msgs == 0 {
            return;
        }
        let mut buf = BytesMut::from(&self.enc.to_vec()[..]);
        self.enc.clear();
        self.enc_msgs = 0;
        let mut dec = FrameDecoder::new(None);
        let mut msgs = Vec::new();
        let mut cur = Message::new();
        // Our own encoding: every frame decodes, and the last one ends a message.
        while let Ok(Some(f)) = dec.decode(&mut buf) {
            let more = f.more();
            cur.push_back(f.body);
            if !more {
                msgs.push(Outbound::Msg(std::mem::take(&mut cur)));
            }
        }
        for m in msgs.into_iter().rev() {
            self.out.push_front(m);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ReqState {
    /// A request was sent and its reply is awaited from this peer.
    pub awaiting: Option<PeerId>,
    /// REQ_CORRELATE: the id of the request in flight.
    pub request_id: u32,
}

#[derive(Debug, Default)]
pub(crate) struct RepState {
    /// A request was received; the reply goes to this peer with this envelope.
    pub pending: Option<(PeerId, Message)>,
}

/// What `try_send` reports when it cannot proceed (the message stays with the caller).
/// Two words, so that the send path returns its result in registers: a result holding
/// the message made every send copy a message-sized value (16 B PUSH→PULL over TCP:
/// sender CPU about −9%, +10% msg/s).
#[derive(Debug)]
pub(crate) enum SendBlock {
    /// No peer has room now: wait for `send_ready` and retry.
    Full,
    /// A final error.
    Err(Box<Error>),
}

/// Per-socket counters, from [`Socket::counters`](crate::Socket::counters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Messages received from peers (before SUB filtering drops any).
    pub messages_in: u64,
    /// Payload bytes of `messages_in`.
    pub bytes_in: u64,
    /// Messages accepted by `send` (for fan-out: once per message).
    pub messages_out: u64,
    /// Payload bytes of `messages_out`.
    pub bytes_out: u64,
    /// Messages dropped because a peer's queue was at SNDHWM (PUB/XPUB fan-out, ROUTER
    /// without ROUTER_MANDATORY, REP replies).
    pub dropped_hwm: u64,
    /// Messages dropped because no peer matched (ROUTER: unknown routing id; SUB: no
    /// subscription matched).
    pub dropped_unroutable: u64,
    /// Connections re-established after a break (connect side).
    pub reconnects: u64,
    /// Peers with a live connection now.
    pub peers: u64,
    /// Each live peer's queue depths.
    pub peer_queues: Vec<PeerQueue>,
}

/// The queue depths of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerQueue {
    /// The endpoint the peer was reached through.
    pub endpoint: String,
    /// The peer's routing id (ROUTER; empty elsewhere).
    pub routing_id: Bytes,
    /// Messages waiting to be sent to it.
    pub outbound: usize,
    /// Messages received from it, waiting in its queue for `recv` (not counting those
    /// already taken into the socket's receive batch: at most RCVHWM, and 1024).
    pub inbound: usize,
}

#[derive(Debug)]
pub(crate) struct State {
    pub socket_type: SocketType,
    pub opts: Options,
    pub peers: IdMap<Peer>,
    next_peer: PeerId,
    /// Peers that take outbound messages, in round-robin order.
    pub rr: Vec<PeerId>,
    rr_next: usize,
    /// Peers with queued inbound messages, in fair-queue order.
    fq: VecDeque<PeerId>,
    pub by_rid: HashMap<Bytes, PeerId>,
    next_rid: u32,
    pub req: ReqState,
    pub rep: RepState,
    /// SUB/XSUB: our own subscriptions.
    local_subs: LocalSubs,
    /// PUB/XPUB: the peers' subscriptions.
    remote_subs: RemoteSubs,
    scratch: Vec<PeerId>,
    /// PUB/XPUB: encoded fan-out messages are cut from this buffer.
    wire_arena: BytesMut,
    pub counters: Counters,
    pub closed: bool,
    pub monitors: Vec<Arc<EventQueue>>,
    /// XPUB: subscription messages and upstream data waiting for `recv`.
    xpub_pending: VecDeque<Message>,
    /// ZAP: authenticates incoming handshakes when set.
    pub zap_handler: Option<Arc<dyn crate::security::zap::ZapHandler>>,
}

impl std::fmt::Debug for dyn crate::security::zap::ZapHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ZapHandler")
    }
}

/// Engine wake-ups collected under the lock and signalled after it is released. Holds one
/// without allocating (the common case); fan-out may collect more.
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    first: Option<Arc<Notify>>,
    more: Vec<Arc<Notify>>,
}

impl Wakes {
    pub(crate) fn push(&mut self, n: Arc<Notify>) {
        if self.first.is_none() {
            self.first = Some(n);
        } else {
            self.more.push(n);
        }
    }

    pub(crate) fn extend(&mut self, n: Option<Arc<Notify>>) {
        if let Some(n) = n {
            self.push(n);
        }
    }

    /// Signals every collected wake-up (call after releasing the lock). Takes `&mut self`
    /// and reads the fields where they are: moving the struct into the call copied it
    /// with wide loads right after the lock holder's narrow stores, a store-forwarding
    /// stall on every send.
    #[inline]
    pub(crate) fn notify(&mut self) {
        // `more` is only filled after `first`; an empty `drain` still costs a `Drain`.
        if let Some(n) = self.first.take() {
            n.notify_one();
            if !self.more.is_empty() {
                for n in self.more.drain(..) {
                    n.notify_one();
                }
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.first.is_some() as usize + self.more.len()
    }
}

/// What an engine gets when its peer is attached.
#[derive(Debug)]
pub(crate) struct Attached {
    pub id: PeerId,
    pub out_wake: Arc<Notify>,
    pub in_space: Arc<Notify>,
    pub kill: CancellationToken,
}

fn is_sub(t: SocketType) -> bool {
    matches!(t, SocketType::Sub | SocketType::XSub)
}

fn is_pub(t: SocketType) -> bool {
    matches!(t, SocketType::Pub | SocketType::XPub)
}

/// Whether `p` takes another outbound message (alive, attached unless IMMEDIATE is off,
/// below SNDHWM unless CONFLATE).
fn peer_has_room(p: &Peer, opts: &Options) -> bool {
    p.alive
        && (p.attached || !opts.immediate)
        && (opts.conflate || p.queued() < opts.sndhwm_limit())
}

/// Queues `item` on `p`; adds its engine's wake-up to `wakes` when the queue was empty.
fn push_to(p: &mut Peer, item: Outbound, conflate: bool, wakes: &mut Wakes) {
    match item {
        Outbound::Msg(msg) => push_msg(p, &mut Some(msg), conflate, wakes),
        Outbound::Sub { .. } => push_item(p, item, wakes),
        item => {
            if conflate {
                p.conflate_out();
            }
            push_item(p, item, wakes)
        }
    }
}

/// Queues the message in `slot` (which is emptied) on `p`: encoded into its write buffer
/// when the connection takes that, else as a queue item.
fn push_msg(p: &mut Peer, slot: &mut Option<Message>, conflate: bool, wakes: &mut Wakes) {
    if conflate {
        p.conflate_out();
    }
    if p.encodes(conflate) {
        p.push_encoded(slot, wakes);
    } else if let Some(msg) = slot.take() {
        push_item(p, Outbound::Msg(msg), wakes);
    }
}

/// Queues `item` as it is on `p`.
fn push_item(p: &mut Peer, item: Outbound, wakes: &mut Wakes) {
    let was_empty = p.queued() == 0;
    p.out.push_back(item);
    if was_empty {
        wakes.push(p.out_wake.clone());
    }
}

/// Gives `msg` back to the sender: no peer can take it now.
#[cold]
fn bounce_full(back: &mut Option<Message>, msg: Message) -> SendBlock {
    *back = Some(msg);
    SendBlock::Full
}

/// Gives `msg` back to the sender with a final error.
#[cold]
fn bounce_err(back: &mut Option<Message>, e: Error, msg: Message) -> SendBlock {
    *back = Some(msg);
    SendBlock::Err(Box::new(e))
}

/// Most encoded bytes an [`Outbound::Small`] holds (the item stays no larger than one
/// holding a message).
pub(crate) const SMALL_WIRE: usize = 96;

/// Up to [`SMALL_WIRE`] encoded bytes, inline.
#[derive(Clone)]
pub(crate) struct SmallWire {
    len: u8,
    buf: [u8; SMALL_WIRE],
}

impl SmallWire {
    /// `msg` as ZMTP frames, if that fits.
    fn encode(msg: &Message) -> Option<SmallWire> {
        let mut w = SmallWire {
            len: 0,
            buf: [0; SMALL_WIRE],
        };
        let last = msg.len().checked_sub(1)?;
        let mut at = 0;
        for (i, f) in msg.iter().enumerate() {
            let more = if i < last { FLAG_MORE } else { 0 };
            if f.len() > 255 || at + 2 + f.len() > SMALL_WIRE {
                return None;
            }
            w.buf[at] = more;
            w.buf[at + 1] = f.len() as u8;
            w.buf[at + 2..at + 2 + f.len()].copy_from_slice(f);
            at += 2 + f.len();
        }
        w.len = at as u8;
        Some(w)
    }

    /// The encoded frames.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl std::fmt::Debug for SmallWire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmallWire({} bytes)", self.len)
    }
}

/// Size of the buffers fan-out messages are encoded into (one allocation per this many
/// bytes of encoded messages instead of one per message).
const WIRE_ARENA: usize = 64 * 1024;

/// `msg` as ZMTP frames (what `encode_message` writes), cut from `arena`.
fn encode_wire(msg: &Message, arena: &mut BytesMut) -> Bytes {
    if arena.capacity() < WIRE_ARENA / 4 {
        // Takes the old chunk back when no message cut from it is alive any more.
        arena.reserve(WIRE_ARENA);
    }
    encode_message_into(msg, arena);
    arena.split().freeze()
}

/// The first peer of the round-robin ring, from `*next` on, that `ok` accepts; `*next`
/// moves past it (no division on this per-message path).
fn pick_rr(
    rr: &[PeerId],
    next: &mut usize,
    peers: &IdMap<Peer>,
    ok: impl Fn(&Peer) -> bool,
) -> Option<PeerId> {
    let n = rr.len();
    let mut idx = if *next < n { *next } else { 0 };
    for _ in 0..n {
        let id = rr[idx];
        idx += 1;
        if idx == n {
            idx = 0;
        }
        if peers.get(&id).is_some_and(&ok) {
            *next = idx;
            return Some(id);
        }
    }
    None
}

impl State {
    pub(crate) fn new(socket_type: SocketType) -> Self {
        State {
            socket_type,
            opts: Options::default(),
            peers: IdMap::default(),
            next_peer: 1,
            rr: Vec::new(),
            rr_next: 0,
            fq: VecDeque::new(),
            by_rid: HashMap::new(),
            next_rid: initial_rid(),
            req: ReqState {
                awaiting: None,
                request_id: initial_rid(),
            },
            rep: RepState::default(),
            local_subs: LocalSubs::default(),
            remote_subs: RemoteSubs::default(),
            scratch: Vec::new(),
            wire_arena: BytesMut::new(),
            counters: Counters::default(),
            closed: false,
            monitors: Vec::new(),
            xpub_pending: VecDeque::new(),
            zap_handler: None,
        }
    }

    pub(crate) fn emit(&mut self, ev: MonitorEvent) {
        // Monitors dropped by their owner are forgotten here.
        self.monitors.retain(|m| !m.is_detached());
        for m in &self.monitors {
            m.push(ev.clone());
        }
    }

    /// Adds a peer that takes part in round-robin from now on (connect side: queued
    /// messages wait for the connection, as with libzmq's default IMMEDIATE=0).
    pub(crate) fn add_peer(&mut self, peer: Peer) -> PeerId {
        let id = self.next_peer;
        self.next_peer += 1;
        self.peers.insert(id, peer);
        self.rr.push(id);
        id
    }

    /// A connection finished its handshake: attach it to its peer entry (`existing`, made
    /// by `connect`) or to a new one. `None`: refused (a ROUTER routing id in use without
    /// handover, a second PAIR peer, or the peer was disconnected meanwhile).
    pub(crate) fn attach(
        &mut self,
        existing: Option<PeerId>,
        identity: Bytes,
        parent: &CancellationToken,
        endpoint: &str,
        raw: bool,
    ) -> Option<Attached> {
        if self.socket_type == SocketType::Pair
            && self
                .peers
                .iter()
                .any(|(id, p)| p.alive && p.attached && Some(*id) != existing)
        {
            return None;
        }
        let id = match existing {
            Some(id) => {
                let p = self.peers.get_mut(&id)?;
                if p.kill.is_cancelled() || !p.alive {
                    return None;
                }
                p.attached = true;
                p.raw = raw;
                if raw {
                    p.requeue_encoded();
                }
                id
            }
            None => {
                let rid = if self.socket_type == SocketType::Router {
                    self.router_identify(identity)?
                } else {
                    Bytes::new()
                };
                let mut peer = Peer::new(rid.clone(), parent.child_token());
                peer.attached = true;
                peer.raw = raw;
                peer.endpoint = endpoint.to_string();
                let id = self.add_peer(peer);
                if self.socket_type == SocketType::Router {
                    self.by_rid.insert(rid, id);
                }
                id
            }
        };
        if is_sub(self.socket_type) {
            // Send every subscription to the (re)connected peer, first.
            let topics = self.local_subs.topics();
            let p = self.peers.get_mut(&id)?;
            // Ahead of messages encoded for the previous connection too.
            p.requeue_encoded();
            p.out.retain(|o| !matches!(o, Outbound::Sub { .. }));
            for t in topics.into_iter().rev() {
                p.out.push_front(Outbound::Sub {
                    subscribe: true,
                    topic: Bytes::from(t),
                });
            }
        }
        let p = self.peers.get(&id)?;
        Some(Attached {
            id,
            out_wake: p.out_wake.clone(),
            in_space: p.in_space.clone(),
            kill: p.kill.clone(),
        })
    }

    /// A ROUTER peer finished its handshake with `identity`: give it a routing id.
    /// Returns `None` when the id is taken and handover is off (the new connection is refused).
    pub(crate) fn router_identify(&mut self, identity: Bytes) -> Option<Bytes> {
        if identity.is_empty() {
            loop {
                let mut rid = Vec::with_capacity(5);
                rid.push(0u8);
                rid.extend_from_slice(&self.next_rid.to_be_bytes());
                self.next_rid = self.next_rid.wrapping_add(1);
                let rid = Bytes::from(rid);
                if !self.by_rid.contains_key(&rid) {
                    return Some(rid);
                }
            }
        }
        if let Some(&old) = self.by_rid.get(&identity) {
            if !self.opts.router_handover {
                return None;
            }
            // The old connection loses the id and is closed.
            self.by_rid.remove(&identity);
            if let Some(p) = self.peers.get_mut(&old) {
                p.kill.cancel();
            }
            self.detach(old, true);
        }
        Some(identity)
    }

    /// The connection of `id` ended. `gone`: the peer entry is dropped (bind side, ROUTER);
    /// otherwise it stays for the reconnect with its queued messages.
    pub(crate) fn detach(&mut self, id: PeerId, gone: bool) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        p.attached = false;
        // Nothing more goes to this connection directly; an unfinished direct write is
        // lost with it, like the bytes written before it broke.
        p.direct = None;
        p.direct_rest = None;
        p.lease = None;
        if is_pub(self.socket_type) {
            // Its subscriptions go with the connection; a reconnecting subscriber sends
            // them again.
            let xpub = self.socket_type == SocketType::XPub;
            let pending = &mut self.xpub_pending;
            self.remote_subs.remove_peer(id, |topic| {
                if xpub {
                    let mut m = Vec::with_capacity(topic.len() + 1);
                    m.push(0);
                    m.extend_from_slice(topic);
                    pending.push_back(Message::from(m));
                }
            });
            p.clear_out();
        }
        if !gone {
            return;
        }
        p.alive = false;
        p.clear_out();
        if self.by_rid.get(&p.routing_id) == Some(&id) {
            self.by_rid.remove(&p.routing_id);
        }
        self.rr.retain(|&x| x != id);
        if p.inbound.is_empty() {
            self.peers.remove(&id);
        }
    }

    // ---- send side ------------------------------------------------------------------

    fn has_room(&self, id: PeerId) -> bool {
        self.peers
            .get(&id)
            .is_some_and(|p| peer_has_room(p, &self.opts))
    }

    /// Queues `item` to `id`; adds the engine's wake-up to `wakes` when the queue was empty.
    fn push_out(&mut self, id: PeerId, item: Outbound, wakes: &mut Wakes) {
        let conflate = self.opts.conflate;
        if let Some(p) = self.peers.get_mut(&id) {
            push_to(p, item, conflate, wakes);
        }
    }

    /// REQ/REP: writes `msg` straight to `id`'s connection when its engine offered it
    /// (nothing queued, nothing being written), else queues it for the engine. A partial
    /// write leaves the rest for the engine to write first; a full socket or an error
    /// queues the whole message (the engine meets the error itself).
    fn send_direct_or_queue(&mut self, id: PeerId, msg: Message, wakes: &mut Wakes) {
        let conflate = self.opts.conflate;
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        let writer = match &p.direct {
            Some(w) if p.queued() == 0 && msg.byte_len() < ENCODE_ONCE_LIMIT => w.upgrade(),
            _ => None,
        };
        let Some(writer) = writer else {
            push_to(p, Outbound::Msg(msg), conflate, wakes);
            return;
        };
        let wire = encode_wire(&msg, &mut self.wire_arena);
        match writer.try_write(&wire) {
            Ok(n) if n == wire.len() => p.direct_wrote = true,
            Ok(n) if n > 0 => {
                p.direct_wrote = true;
                // The engine finishes the message before it writes anything else.
                p.direct = None;
                p.direct_rest = Some(wire.slice(n..));
                wakes.push(p.out_wake.clone());
            }
            _ => {
                p.direct = None;
                push_to(p, Outbound::Msg(msg), conflate, wakes);
            }
        }
    }

    /// The engine of `id` has nothing to write: `send` may write to `writer` directly
    /// until [`revoke_direct`](Self::revoke_direct). Refused (false) while messages are
    /// queued or a directly written message is unfinished.
    pub(crate) fn offer_direct(
        &mut self,
        id: PeerId,
        writer: &std::sync::Weak<StreamWrite>,
    ) -> bool {
        match self.peers.get_mut(&id) {
            Some(p) if p.queued() == 0 && p.direct_rest.is_none() => {
                p.direct = Some(writer.clone());
                true
            }
            _ => false,
        }
    }

    /// The engine of `id` takes its connection back: no more direct writes. Returns the
    /// unwritten end of a directly written message, which the engine must write first.
    pub(crate) fn revoke_direct(&mut self, id: PeerId) -> Option<Bytes> {
        let p = self.peers.get_mut(&id)?;
        p.direct = None;
        p.direct_rest.take()
    }

    /// Registers the read side of `id`'s connection for borrowing (REQ/REP).
    pub(crate) fn set_lease(&mut self, id: PeerId, lease: Arc<ReadLease>) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.lease = Some(lease);
        }
    }

    /// The connection whose next message a waiting REQ/REP `recv` wants, when its read
    /// side may be borrowed: REQ's, the peer it asked; REP's, its only peer (with more,
    /// it must fair-queue among them). Call after `try_recv` found nothing.
    pub(crate) fn borrowable(&self) -> Option<(PeerId, Arc<ReadLease>)> {
        let id = match self.socket_type {
            SocketType::Req => self.req.awaiting?,
            SocketType::Rep if self.rep.pending.is_none() && self.peers.len() == 1 => {
                *self.peers.keys().next()?
            }
            _ => return None,
        };
        let p = self.peers.get(&id)?;
        Some((id, p.lease.clone()?))
    }

    /// A message a REQ/REP `recv` read itself from `id`'s connection (the queue was
    /// empty): counted as delivered and received by the socket's rules at once (`None`
    /// when they drop it, as they would have from the queue). When the socket cannot
    /// receive now (another `recv` on it took a request, or the reply, meanwhile), the
    /// message is queued as its engine would have delivered it, and `None` returned.
    pub(crate) fn recv_borrowed(&mut self, id: PeerId, msg: Message) -> Option<Message> {
        if !self.peers.contains_key(&id) {
            return None;
        }
        let receivable = match self.socket_type {
            SocketType::Req => self.req.awaiting.is_some(),
            SocketType::Rep => self.rep.pending.is_none(),
            _ => false,
        };
        if !receivable {
            self.deliver(id, &mut VecDeque::from([msg]));
            return None;
        }
        self.counters.messages_in += 1;
        self.counters.bytes_in += msg.byte_len() as u64;
        match self.req.awaiting {
            Some(want) if self.socket_type == SocketType::Req => self.req_accept(want, id, msg),
            _ => self.rep_accept(id, msg),
        }
    }

    /// Whether `send` ever wrote to `id`'s connection directly.
    pub(crate) fn wrote_directly(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.direct_wrote)
    }

    /// Whether the unwritten end of a directly written message waits for `id`'s engine.
    pub(crate) fn has_direct_rest(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.direct_rest.is_some())
    }

    /// Picks the next round-robin peer with room.
    fn next_rr(&mut self) -> Option<PeerId> {
        let opts = &self.opts;
        pick_rr(&self.rr, &mut self.rr_next, &self.peers, |p| {
            peer_has_room(p, opts)
        })
    }

    /// DEALER, PUSH, PAIR: queues `msg` on the next round-robin peer with room.
    /// One map lookup per peer tried: the room check and the push share it. The message
    /// is encoded from `slot` (or moved once from there into the queue); without a peer
    /// it stays in `slot`.
    fn send_rr(&mut self, slot: &mut Option<Message>, wakes: &mut Wakes) -> Result<(), SendBlock> {
        let n = self.rr.len();
        let mut idx = if self.rr_next < n { self.rr_next } else { 0 };
        for _ in 0..n {
            let id = self.rr[idx];
            idx += 1;
            if idx == n {
                idx = 0;
            }
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            if !peer_has_room(p, &self.opts) {
                continue;
            }
            self.rr_next = idx;
            self.counters.messages_out += 1;
            self.counters.bytes_out += slot.as_ref().map_or(0, Message::byte_len) as u64;
            push_msg(p, slot, self.opts.conflate, wakes);
            return Ok(());
        }
        Err(SendBlock::Full)
    }

    fn count_out(&mut self, msg: &Message) {
        self.counters.messages_out += 1;
        self.counters.bytes_out += msg.byte_len() as u64;
    }

    /// Tries to queue the message in `slot` according to the socket type; engine
    /// wake-ups to signal (outside the lock) are added to `wakes`. The message is taken
    /// from `slot` when it is queued (or dropped by the socket's rules) and stays there
    /// when the result is an error. Taking it by reference keeps the round-robin path to
    /// one move of the message, from the caller's slot into the queue: every move of a
    /// message just built stalled on store forwarding.
    pub(crate) fn try_send(
        &mut self,
        slot: &mut Option<Message>,
        wakes: &mut Wakes,
    ) -> Result<(), SendBlock> {
        let Some(msg) = slot.as_ref() else {
            return Err(SendBlock::Err(Box::new(Error::inval("no message to send"))));
        };
        if self.closed {
            return Err(SendBlock::Err(Box::new(Error::closed())));
        }
        if msg.is_empty() {
            return Err(SendBlock::Err(Box::new(Error::inval(
                "cannot send a message with no frames",
            ))));
        }
        if matches!(
            self.socket_type,
            SocketType::Dealer | SocketType::Push | SocketType::Pair
        ) {
            return self.send_rr(slot, wakes);
        }
        let Some(msg) = slot.take() else {
            return Err(SendBlock::Full);
        };
        self.send_other(msg, slot, wakes)
    }

    /// `try_send` for the socket types that change or fan out the message, taking it by
    /// value; after an error it is given back in `back`. (DEALER, PUSH and PAIR are sent
    /// from the caller's slot by `try_send`; their arm here keeps the match total.)
    fn send_other(
        &mut self,
        mut msg: Message,
        back: &mut Option<Message>,
        wakes: &mut Wakes,
    ) -> Result<(), SendBlock> {
        match self.socket_type {
            SocketType::Dealer | SocketType::Push | SocketType::Pair => {
                *back = Some(msg);
                self.send_rr(back, wakes)
            }
            SocketType::Req => {
                if self.req.awaiting.is_some() && !self.opts.req_relaxed {
                    return Err(bounce_err(
                        back,
                        Error::new(
                            ErrorKind::Fsm,
                            "REQ must receive the reply before sending again",
                        ),
                        msg,
                    ));
                }
                match self.next_rr() {
                    Some(id) => {
                        self.count_out(&msg);
                        msg.push_front(Bytes::new());
                        if self.opts.req_correlate {
                            self.req.request_id = self.req.request_id.wrapping_add(1);
                            msg.push_front(Bytes::copy_from_slice(
                                &self.req.request_id.to_ne_bytes(),
                            ));
                        }
                        self.req.awaiting = Some(id);
                        self.send_direct_or_queue(id, msg, wakes);
                        Ok(())
                    }
                    None => Err(bounce_full(back, msg)),
                }
            }
            SocketType::Rep => {
                let Some((id, mut env)) = self.rep.pending.take() else {
                    return Err(bounce_err(
                        back,
                        Error::new(ErrorKind::Fsm, "REP must receive a request before sending"),
                        msg,
                    ));
                };
                self.count_out(&msg);
                env.append(&mut msg);
                // A reply to a gone or full peer is dropped, as libzmq does.
                if self.has_room(id) {
                    self.send_direct_or_queue(id, env, wakes);
                } else {
                    self.counters.dropped_hwm += 1;
                }
                Ok(())
            }
            SocketType::Router => {
                let rid = msg.first().cloned().unwrap_or_default();
                let Some(id) = self.by_rid.get(&rid).copied() else {
                    if self.opts.router_mandatory {
                        return Err(bounce_err(
                            back,
                            Error::new(
                                ErrorKind::HostUnreachable,
                                format!("no peer with routing id {:?}", rid),
                            ),
                            msg,
                        ));
                    }
                    self.counters.dropped_unroutable += 1;
                    return Ok(());
                };
                if !self.has_room(id) {
                    if self.opts.router_mandatory {
                        return Err(bounce_full(back, msg));
                    }
                    self.counters.dropped_hwm += 1;
                    return Ok(());
                }
                msg.pop_front();
                if msg.is_empty() {
                    // Only a routing id: nothing to send (libzmq sends nothing).
                    return Ok(());
                }
                self.count_out(&msg);
                self.push_out(id, Outbound::Msg(msg), wakes);
                Ok(())
            }
            SocketType::Pub | SocketType::XPub => {
                self.count_out(&msg);
                self.fan_out(msg, wakes);
                Ok(())
            }
            SocketType::XSub => {
                let first = msg.first().cloned().unwrap_or_default();
                match first.first() {
                    Some(&1) if msg.len() == 1 => {
                        self.subscribe(first.slice(1..), wakes);
                        Ok(())
                    }
                    Some(&0) if msg.len() == 1 => {
                        self.unsubscribe(first.slice(1..), wakes);
                        Ok(())
                    }
                    _ => {
                        // Other messages go upstream to every publisher with room.
                        self.count_out(&msg);
                        let ids: Vec<PeerId> = self.rr.clone();
                        for id in ids {
                            if self.has_room(id) {
                                self.push_out(id, Outbound::Msg(msg.clone()), wakes);
                            } else {
                                self.counters.dropped_hwm += 1;
                            }
                        }
                        Ok(())
                    }
                }
            }
            other => Err(bounce_err(
                back,
                Error::new(
                    ErrorKind::NotSupported,
                    format!("{other} sockets cannot send"),
                ),
                msg,
            )),
        }
    }

    /// PUB/XPUB: queue `msg` once per matching subscriber; a subscriber at SNDHWM loses it.
    fn fan_out(&mut self, msg: Message, wakes: &mut Wakes) {
        let topic: &[u8] = msg.first().map_or(&[], |t| &t[..]);
        let mut targets = std::mem::take(&mut self.scratch);
        self.remote_subs.matching(topic, &mut targets);
        if targets.is_empty() {
            self.scratch = targets;
            return;
        }
        // Encoded at most once, and only when more than one network peer shares it;
        // in-process peers take the message itself.
        let encode = targets.len() > 1 && msg.byte_len() < ENCODE_ONCE_LIMIT;
        let small = if encode {
            SmallWire::encode(&msg)
        } else {
            None
        };
        let mut wire: Option<Bytes> = None;
        let conflate = self.opts.conflate;
        for &id in &targets {
            // One lookup per subscriber: room, transport kind and queue together.
            let p = match self.peers.get_mut(&id) {
                Some(p) if peer_has_room(p, &self.opts) => p,
                _ => {
                    self.counters.dropped_hwm += 1;
                    continue;
                }
            };
            let item = if let (Some(s), false) = (&small, p.raw) {
                if p.encodes(conflate) {
                    // Copied where it is sent: no queue item per subscriber.
                    p.push_wire(s.as_bytes(), wakes);
                    continue;
                }
                Outbound::Small(s.clone())
            } else if encode && !p.raw {
                let arena = &mut self.wire_arena;
                Outbound::Wire(wire.get_or_insert_with(|| encode_wire(&msg, arena)).clone())
            } else {
                Outbound::Msg(msg.clone())
            };
            push_to(p, item, conflate, wakes);
        }
        self.scratch = targets;
    }

    /// SUB/XSUB: adds a subscription and tells every peer.
    pub(crate) fn subscribe(&mut self, topic: Bytes, wakes: &mut Wakes) {
        self.local_subs.add(&topic);
        // libzmq sends every subscribe upstream (XPUB filters duplicates).
        self.broadcast_sub(true, topic, wakes);
    }

    /// SUB/XSUB: drops a subscription reference; the peers hear of it when the last goes.
    pub(crate) fn unsubscribe(&mut self, topic: Bytes, wakes: &mut Wakes) {
        if self.local_subs.remove(&topic) {
            self.broadcast_sub(false, topic, wakes);
        }
    }

    fn broadcast_sub(&mut self, subscribe: bool, topic: Bytes, wakes: &mut Wakes) {
        let ids: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.alive)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.push_out(
                id,
                Outbound::Sub {
                    subscribe,
                    topic: topic.clone(),
                },
                wakes,
            );
        }
    }

    /// For a network engine: the messages `send` encoded for `id` (swapped with
    /// `transmit`, which must then be empty), then up to `max` outbound items into `dst`
    /// (which must be empty), as [`pull_out`](Self::pull_out) does. While encoded messages
    /// wait and `transmit` is not empty, nothing is taken: the items are younger. Returns
    /// whether the queue was full before (senders waiting must be woken).
    pub(crate) fn pull_out_to(
        &mut self,
        id: PeerId,
        dst: &mut VecDeque<Outbound>,
        max: usize,
        transmit: &mut WriteBuf,
    ) -> bool {
        let hwm = self.opts.sndhwm_limit();
        let Some(p) = self.peers.get_mut(&id) else {
            return false;
        };
        if p.enc_msgs == 0 {
            return self.pull_out(id, dst, max);
        }
        if !transmit.is_empty() {
            return false;
        }
        let was_full = p.queued() >= hwm;
        // Both buffers keep their memory: no allocation per batch.
        std::mem::swap(transmit, &mut p.enc);
        p.enc_msgs = 0;
        self.pull_out(id, dst, max) || was_full
    }

    /// Takes up to `max` outbound items of `id` for its engine into `dst` (which must be
    /// empty): a queue of at most `max` items is swapped out whole, without moving its
    /// items. Returns whether the queue was full before (senders waiting must be woken).
    /// For peers without encoded messages (in-process pipes, CURVE): see `pull_out_to`.
    pub(crate) fn pull_out(
        &mut self,
        id: PeerId,
        dst: &mut VecDeque<Outbound>,
        max: usize,
    ) -> bool {
        debug_assert!(dst.is_empty());
        let hwm = self.opts.sndhwm_limit();
        let Some(p) = self.peers.get_mut(&id) else {
            return false;
        };
        debug_assert_eq!(p.enc_msgs, 0, "encoded messages left behind");
        let len = p.out.len();
        let was_full = len >= hwm;
        if len <= max {
            std::mem::swap(&mut p.out, dst);
        } else {
            dst.extend(p.out.drain(..max));
        }
        was_full && len > 0
    }

    // ---- receive side ---------------------------------------------------------------

    /// Room left in `id`'s inbound queue.
    pub(crate) fn in_room(&self, id: PeerId) -> usize {
        match self.peers.get(&id) {
            Some(_) if self.opts.conflate => usize::MAX,
            Some(p) => self.opts.rcvhwm_limit().saturating_sub(p.inbound.len()),
            None => 0,
        }
    }

    /// A subscription change from peer `id` (3.1 command or 3.0 message form).
    pub(crate) fn on_subscription(&mut self, id: PeerId, subscribe: bool, topic: &Bytes) {
        if !is_pub(self.socket_type) {
            return;
        }
        let xpub = self.socket_type == SocketType::XPub;
        let notify = if subscribe {
            let (_, first) = self.remote_subs.add(topic, id);
            // libzmq: the first subscriber of a topic is reported; with XPUB_VERBOSE every
            // subscribe message is, repeated ones included.
            xpub && (first || self.opts.xpub_verbose)
        } else {
            let (removed, last) = self.remote_subs.remove(topic, id);
            xpub && removed && last
        };
        if notify {
            let mut m = Vec::with_capacity(topic.len() + 1);
            m.push(subscribe as u8);
            m.extend_from_slice(topic);
            self.xpub_pending.push_back(Message::from(m));
        }
    }

    /// An engine delivers messages from `id` (`msgs` is left empty). Returns the room left
    /// (0: stop reading). When the peer's queue is empty the two queues are swapped, so a
    /// batch reaches the receiver without moving its messages.
    pub(crate) fn deliver(&mut self, id: PeerId, msgs: &mut VecDeque<Message>) -> usize {
        let hwm = self.opts.rcvhwm_limit();
        if !self.peers.contains_key(&id) {
            msgs.clear();
            return 0;
        }
        self.counters.messages_in += msgs.len() as u64;
        self.counters.bytes_in += msgs.iter().map(|m| m.byte_len() as u64).sum::<u64>();
        let st = self.socket_type;
        if is_pub(st) {
            // From subscribers: subscriptions (3.0 form), or upstream data for XPUB.
            for m in msgs.drain(..) {
                let first = m.first().cloned().unwrap_or_default();
                match first.first() {
                    Some(&b) if (b == 0 || b == 1) && m.len() == 1 => {
                        self.on_subscription(id, b == 1, &first.slice(1..))
                    }
                    _ if st == SocketType::XPub => self.xpub_pending.push_back(m),
                    _ => {}
                }
            }
            return usize::MAX;
        }
        // A subscription to the empty topic lets everything through: no filtering.
        let filter = is_sub(st) && !self.local_subs.matches(&[]);
        let conflate = self.opts.conflate;
        let p = self.peers.get_mut(&id).expect("checked above");
        if !filter && !conflate {
            if p.inbound.is_empty() {
                std::mem::swap(&mut p.inbound, msgs);
            } else {
                p.inbound.append(msgs);
            }
        } else {
            let mut dropped = 0;
            for m in msgs.drain(..) {
                if filter
                    && !self
                        .local_subs
                        .matches(m.first().map_or(&[][..], |f| &f[..]))
                {
                    dropped += 1;
                    continue;
                }
                if conflate {
                    p.inbound.clear();
                }
                p.inbound.push_back(m);
            }
            self.counters.dropped_unroutable += dropped;
        }
        if !p.in_fq && !p.inbound.is_empty() {
            p.in_fq = true;
            self.fq.push_back(id);
        }
        if conflate {
            return usize::MAX;
        }
        let room = hwm.saturating_sub(p.inbound.len());
        if room == 0 {
            p.in_paused = true;
        }
        room
    }

    /// Whether [`take_inbound`](Self::take_inbound) serves this socket type: the types
    /// whose receive is a plain fair-queue pop (REQ and REP keep per-message state).
    pub(crate) fn batches_recv(socket_type: SocketType) -> bool {
        matches!(
            socket_type,
            SocketType::Dealer
                | SocketType::Router
                | SocketType::Pull
                | SocketType::Pair
                | SocketType::Sub
                | SocketType::XSub
        )
    }

    /// Moves the next inbound messages to `dst` (empty), in exactly the order successive
    /// [`try_recv`](Self::try_recv) calls would return them now: at most RCVHWM (and at
    /// most [`RECV_BATCH`]; one under CONFLATE). With a single peer queued and no routing
    /// id to prepend, the peer's whole queue is swapped out without moving a message.
    /// Only for the types of [`batches_recv`](Self::batches_recv).
    pub(crate) fn take_inbound(&mut self, dst: &mut VecDeque<Message>, wakes: &mut Wakes) {
        debug_assert!(dst.is_empty() && Self::batches_recv(self.socket_type));
        let hwm = self.opts.rcvhwm_limit();
        let max = if self.opts.conflate {
            1
        } else {
            hwm.min(RECV_BATCH)
        };
        let with_rid = self.socket_type == SocketType::Router;
        if self.fq.len() == 1 {
            let id = self.fq[0];
            if let Some(p) = self.peers.get_mut(&id) {
                let n = p.inbound.len();
                if n <= max && !with_rid {
                    std::mem::swap(&mut p.inbound, dst);
                } else {
                    let rid = &p.routing_id;
                    dst.extend(p.inbound.drain(..n.min(max)).map(|mut m| {
                        if with_rid {
                            m.push_front(rid.clone());
                        }
                        m
                    }));
                }
                if p.inbound.is_empty() {
                    p.in_fq = false;
                    self.fq.clear();
                    if !p.alive {
                        self.peers.remove(&id);
                        return;
                    }
                }
                if p.in_paused && p.inbound.len() < hwm {
                    p.in_paused = false;
                    wakes.push(p.in_space.clone());
                }
                return;
            }
        }
        while dst.len() < max {
            let Some((_, rid, mut msg, wake)) = self.pop_fq(with_rid) else {
                break;
            };
            wakes.extend(wake);
            if with_rid {
                msg.push_front(rid);
            }
            dst.push_back(msg);
        }
    }

    /// Pops the next inbound message, fair-queued over peers: the peer, its routing id (when `with_rid`; else empty), the
    /// message, and the engine wake-up to signal if that peer was paused at RCVHWM.
    #[allow(clippy::type_complexity)]
    fn pop_fq(&mut self, with_rid: bool) -> Option<(PeerId, Bytes, Message, Option<Arc<Notify>>)> {
        let hwm = self.opts.rcvhwm_limit();
        while let Some(id) = self.fq.pop_front() {
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            let Some(msg) = p.inbound.pop_front() else {
                p.in_fq = false;
                continue;
            };
            // Only ROUTER needs the routing id (a clone is two atomic operations).
            let rid = if with_rid {
                p.routing_id.clone()
            } else {
                Bytes::new()
            };
            if p.inbound.is_empty() {
                p.in_fq = false;
                if !p.alive {
                    self.peers.remove(&id);
                    return Some((id, rid, msg, None));
                }
            } else {
                self.fq.push_back(id);
            }
            let wake = if p.in_paused && p.inbound.len() < hwm {
                p.in_paused = false;
                Some(p.in_space.clone())
            } else {
                None
            };
            return Some((id, rid, msg, wake));
        }
        None
    }

    /// REQ awaiting the reply from `want`: a message from `id` is that reply only when
    /// `id` is `want` and it carries the delimiter (and with REQ_CORRELATE the request id
    /// first); anything else is dropped. Returns the reply's body.
    fn req_accept(&mut self, want: PeerId, id: PeerId, mut msg: Message) -> Option<Message> {
        if id != want {
            return None;
        }
        if self.opts.req_correlate {
            if msg.first()?[..] != self.req.request_id.to_ne_bytes() {
                return None;
            }
            msg.pop_front();
        }
        if !msg.first()?.is_empty() {
            return None;
        }
        msg.pop_front();
        self.req.awaiting = None;
        Some(msg)
    }

    /// REP: a request from `id` splits at its first empty frame into the envelope (kept
    /// for the reply) and the body (returned); without one it is malformed and dropped,
    /// as libzmq does.
    fn rep_accept(&mut self, id: PeerId, mut msg: Message) -> Option<Message> {
        let pos = msg.iter().position(|f| f.is_empty())?;
        let body = msg.split_off(pos + 1);
        self.rep.pending = Some((id, msg));
        Some(body)
    }

    /// Tries to receive according to the socket type. `Ok(None)`: nothing yet.
    pub(crate) fn try_recv(&mut self, wakes: &mut Wakes) -> Result<Option<Message>> {
        match self.socket_type {
            SocketType::Req => {
                let Some(want) = self.req.awaiting else {
                    return Err(Error::new(
                        ErrorKind::Fsm,
                        "REQ must send a request before receiving",
                    ));
                };
                while let Some((id, _, msg, wake)) = self.pop_fq(false) {
                    wakes.extend(wake);
                    if let Some(reply) = self.req_accept(want, id, msg) {
                        return Ok(Some(reply));
                    }
                }
                Ok(None)
            }
            SocketType::Rep => {
                if self.rep.pending.is_some() {
                    return Err(Error::new(
                        ErrorKind::Fsm,
                        "REP must send the reply before receiving again",
                    ));
                }
                while let Some((id, _, msg, wake)) = self.pop_fq(false) {
                    wakes.extend(wake);
                    if let Some(body) = self.rep_accept(id, msg) {
                        return Ok(Some(body));
                    }
                }
                Ok(None)
            }
            SocketType::Router => match self.pop_fq(true) {
                Some((_, rid, mut msg, wake)) => {
                    wakes.extend(wake);
                    msg.push_front(rid);
                    Ok(Some(msg))
                }
                None => Ok(None),
            },
            SocketType::XPub => {
                if let Some(m) = self.xpub_pending.pop_front() {
                    return Ok(Some(m));
                }
                Ok(None)
            }
            SocketType::Dealer
            | SocketType::Pull
            | SocketType::Pair
            | SocketType::Sub
            | SocketType::XSub => match self.pop_fq(false) {
                Some((_, _, msg, wake)) => {
                    wakes.extend(wake);
                    Ok(Some(msg))
                }
                None => Ok(None),
            },
            other => Err(Error::new(
                ErrorKind::NotSupported,
                format!("{other} sockets cannot receive"),
            )),
        }
    }

    /// A snapshot of the counters with the current peers and queue depths.
    pub(crate) fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        let mut live: Vec<(&PeerId, &Peer)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.alive && p.attached)
            .collect();
        live.sort_by_key(|(id, _)| **id);
        c.peers = live.len() as u64;
        c.peer_queues = live
            .into_iter()
            .map(|(_, p)| PeerQueue {
                endpoint: p.endpoint.clone(),
                routing_id: p.routing_id.clone(),
                outbound: p.queued(),
                inbound: p.inbound.len(),
            })
            .collect();
        c
    }
}

fn initial_rid() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5a5a);
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_wire_is_the_encoded_message_and_keeps_outbound_small() {
        assert!(
            std::mem::size_of::<Outbound>() <= std::mem::size_of::<Message>() + 8,
            "Outbound grew to {} bytes",
            std::mem::size_of::<Outbound>()
        );
        let cases: Vec<Message> = vec![
            Message::from(Bytes::new()),
            Message::from(&b"hello"[..]),
            Message::from(["topic", "body"]),
            Message::from(vec![7u8; SMALL_WIRE - 2]),
            Message::from([Bytes::from(vec![1u8; 40]), Bytes::from(vec![2u8; 50])]),
        ];
        for m in &cases {
            let mut want = BytesMut::new();
            encode_message_into(m, &mut want);
            let w = SmallWire::encode(m).expect("fits");
            assert_eq!(w.as_bytes(), &want[..], "{m:?}");
        }
        for m in [
            Message::from(vec![7u8; SMALL_WIRE - 1]),
            Message::from(vec![7u8; 256]),
            Message::from([Bytes::from(vec![1u8; 50]), Bytes::from(vec![2u8; 50])]),
            Message::new(),
        ] {
            assert!(SmallWire::encode(&m).is_none(), "{} bytes", m.byte_len());
        }
    }

    fn wire(msgs: &[Message]) -> Vec<u8> {
        let mut b = BytesMut::new();
        for m in msgs {
            encode_message_into(m, &mut b);
        }
        b.to_vec()
    }

    fn send(st: &mut State, m: &Message) -> Result<(), SendBlock> {
        st.try_send(&mut Some(m.clone()), &mut Wakes::default())
    }

    #[test]
    fn messages_for_an_attached_network_peer_are_encoded_after_its_queued_items() {
        let mut st = State::new(SocketType::Push);
        let id = st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
        let m: Vec<Message> = (0..8u8)
            .map(|i| Message::from([Bytes::from_static(b"m"), Bytes::from(vec![i])]))
            .collect();
        // Not connected yet: queued as messages (the mechanism is not known).
        send(&mut st, &m[0]).unwrap();
        st.peers.get_mut(&id).unwrap().attached = true;
        // Items wait: later messages queue behind them, not in the encoded buffer.
        send(&mut st, &m[1]).unwrap();
        assert_eq!(st.peers[&id].enc_msgs, 0);
        let (mut out, mut tx) = (VecDeque::new(), WriteBuf::new());
        st.pull_out_to(id, &mut out, 16, &mut tx);
        assert_eq!(out.len(), 2);
        assert!(tx.is_empty());
        // Now encoded where they are sent, one wake-up for the engine.
        let mut wakes = Wakes::default();
        for msg in &m[2..5] {
            st.try_send(&mut Some(msg.clone()), &mut wakes).unwrap();
        }
        assert_eq!(wakes.len(), 1);
        assert_eq!((st.peers[&id].enc_msgs, st.peers[&id].queued()), (3, 3));
        // Disconnected meanwhile: what follows queues as items, after the encoded ones.
        st.peers.get_mut(&id).unwrap().attached = false;
        send(&mut st, &m[5]).unwrap();
        // The write buffer is busy: nothing is taken, not even the younger item.
        let mut busy = WriteBuf::new();
        busy.put_slice(b"x");
        let mut out = VecDeque::new();
        st.pull_out_to(id, &mut out, 16, &mut busy);
        assert!(out.is_empty());
        assert_eq!(busy.len(), 1);
        assert_eq!(st.peers[&id].queued(), 4);
        // Free: the encoded messages, byte for byte, then the item.
        st.pull_out_to(id, &mut out, 16, &mut tx);
        assert_eq!(tx.to_vec(), wire(&m[2..5]));
        assert_eq!(out.len(), 1);
        assert!(matches!(&out[0], Outbound::Msg(x) if *x == m[5]));
        assert_eq!(st.peers[&id].queued(), 0);
    }

    #[test]
    fn encoded_messages_count_against_sndhwm() {
        let mut st = State::new(SocketType::Dealer);
        st.opts.sndhwm = 2;
        let id = st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
        st.peers.get_mut(&id).unwrap().attached = true;
        let m = Message::from("x");
        send(&mut st, &m).unwrap();
        send(&mut st, &m).unwrap();
        assert!(matches!(send(&mut st, &m), Err(SendBlock::Full)));
        let (mut out, mut tx) = (VecDeque::new(), WriteBuf::new());
        assert!(
            st.pull_out_to(id, &mut out, 16, &mut tx),
            "was full: wake the senders"
        );
        assert_eq!(tx.to_vec(), wire(&[m.clone(), m.clone()]));
        send(&mut st, &m).unwrap();
        // CONFLATE keeps only the newest message, encoded ones included.
        st.opts.conflate = true;
        send(&mut st, &Message::from("y")).unwrap();
        let p = &st.peers[&id];
        assert_eq!(p.enc_msgs, 0);
        assert_eq!(p.out.len(), 1);
        assert!(matches!(&p.out[0], Outbound::Msg(x) if *x == Message::from("y")));
    }

    #[test]
    fn encoded_messages_are_decoded_again_for_a_connection_that_cannot_take_them() {
        let mut st = State::new(SocketType::Push);
        let parent = CancellationToken::new();
        let id = st.add_peer(Peer::new(Bytes::new(), parent.child_token()));
        st.peers.get_mut(&id).unwrap().attached = true;
        let m = [
            Message::from(["a", "b"]),
            Message::from(vec![9u8; 300]),
            Message::from(Bytes::from(vec![3u8; 20_000])),
        ];
        for msg in &m {
            send(&mut st, msg).unwrap();
        }
        st.peers.get_mut(&id).unwrap().attached = false;
        send(&mut st, &Message::from("later")).unwrap();
        // Reconnected with CURVE (configured meanwhile): messages again, oldest first.
        st.attach(Some(id), Bytes::new(), &parent, "tcp://x:1", true)
            .expect("attached");
        let p = &st.peers[&id];
        assert_eq!(p.enc_msgs, 0);
        let got: Vec<Message> = p
            .out
            .iter()
            .map(|o| match o {
                Outbound::Msg(x) => x.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, [&m[..], &[Message::from("later")]].concat());
    }

    #[test]
    fn small_fan_out_messages_are_copied_encoded_to_network_subscribers() {
        let mut st = State::new(SocketType::Pub);
        let ids: Vec<PeerId> = (0..3)
            .map(|i| {
                let mut p = Peer::new(Bytes::new(), CancellationToken::new());
                p.attached = true;
                p.raw = i == 2; // an in-process subscriber
                let id = st.add_peer(p);
                st.on_subscription(id, true, &Bytes::from_static(b"t"));
                id
            })
            .collect();
        let m = Message::from(["t", "body"]);
        let mut wakes = Wakes::default();
        st.try_send(&mut Some(m.clone()), &mut wakes).unwrap();
        st.try_send(&mut Some(Message::from("other")), &mut wakes)
            .unwrap();
        st.try_send(&mut Some(m.clone()), &mut wakes).unwrap();
        assert_eq!(wakes.len(), 3, "one wake-up per subscriber");
        for &id in &ids[..2] {
            let p = &st.peers[&id];
            assert!(p.out.is_empty());
            assert_eq!(p.enc_msgs, 2);
            assert_eq!(p.enc.to_vec(), wire(&[m.clone(), m.clone()]));
        }
        let inproc = &st.peers[&ids[2]];
        assert_eq!(inproc.enc_msgs, 0);
        assert_eq!(inproc.out.len(), 2);
        assert!(inproc
            .out
            .iter()
            .all(|o| matches!(o, Outbound::Msg(x) if *x == m)));
    }

    fn peer(st: &mut State, rid: &'static str) -> PeerId {
        let mut p = Peer::new(Bytes::from_static(rid.as_bytes()), CancellationToken::new());
        p.attached = true;
        let id = st.add_peer(p);
        st.by_rid.insert(Bytes::from_static(rid.as_bytes()), id);
        id
    }

    /// Three ROUTER peers with queues of different lengths, one of them gone.
    fn three_router_peers() -> State {
        let mut st = State::new(SocketType::Router);
        for (name, n) in [("a", 3), ("b", 1), ("c", 4)] {
            let id = peer(&mut st, name);
            let mut msgs: VecDeque<Message> = (0..n)
                .map(|i| Message::from(format!("{name}{i}")))
                .collect();
            st.deliver(id, &mut msgs);
            assert!(msgs.is_empty());
        }
        let b = st.by_rid[&Bytes::from_static(b"b")];
        st.peers.get_mut(&b).unwrap().alive = false;
        st
    }

    #[test]
    fn take_inbound_keeps_the_order_of_single_receives() {
        let mut one_by_one = Vec::new();
        let mut st = three_router_peers();
        let mut wakes = Wakes::default();
        while let Some(m) = st.try_recv(&mut wakes).unwrap() {
            one_by_one.push(m);
        }
        let mut batched = Vec::new();
        let mut st = three_router_peers();
        let mut batch = VecDeque::new();
        loop {
            st.take_inbound(&mut batch, &mut wakes);
            if batch.is_empty() {
                break;
            }
            batched.extend(batch.drain(..));
        }
        assert_eq!(one_by_one.len(), 8);
        assert_eq!(batched, one_by_one);
        assert_eq!(one_by_one[1], Message::from(["b", "b0"]));
        // The gone peer's entry went with its last message.
        assert_eq!(st.peers.len(), 2);
    }

    #[test]
    fn take_inbound_is_bounded_by_rcvhwm_and_wakes_a_paused_engine() {
        let mut st = State::new(SocketType::Dealer);
        st.opts.rcvhwm = 3;
        let a = st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
        let mut msgs: VecDeque<Message> = (0..5).map(|i| Message::from(format!("{i}"))).collect();
        assert_eq!(
            st.deliver(a, &mut msgs),
            0,
            "over RCVHWM: the engine pauses"
        );
        let mut batch = VecDeque::new();
        let mut wakes = Wakes::default();
        st.take_inbound(&mut batch, &mut wakes);
        assert_eq!(batch.len(), 3, "at most RCVHWM at a time");
        assert_eq!(batch[0], Message::from("0"));
        assert_eq!(wakes.len(), 1, "the paused engine is woken");
        assert_eq!(st.peers[&a].inbound.len(), 2);
        batch.clear();
        let mut wakes = Wakes::default();
        st.take_inbound(&mut batch, &mut wakes);
        assert_eq!(batch, [Message::from("3"), Message::from("4")]);
        assert_eq!(wakes.len(), 0);
        // Conflate: one at a time, so the newest is what a later receive sees.
        st.opts.conflate = true;
        let mut msgs: VecDeque<Message> = (0..2).map(|i| Message::from(format!("{i}"))).collect();
        st.deliver(a, &mut msgs);
        batch.clear();
        st.take_inbound(&mut batch, &mut wakes);
        assert_eq!(batch, [Message::from("1")]);
    }

    #[test]
    fn a_directly_read_request_waits_in_the_queue_while_rep_owes_a_reply() {
        let mut st = State::new(SocketType::Rep);
        let a = peer(&mut st, "a");
        let b = peer(&mut st, "b");
        let mut wakes = Wakes::default();
        st.deliver(b, &mut VecDeque::from([Message::from(["", "from b"])]));
        let got = st.try_recv(&mut wakes).unwrap().unwrap();
        assert_eq!(got, Message::from("from b"));
        // A `recv` that had borrowed a's connection comes back with a's request while the
        // reply to b is owed: kept, not dropped.
        assert_eq!(st.recv_borrowed(a, Message::from(["", "from a"])), None);
        assert!(
            st.try_recv(&mut wakes).is_err(),
            "the reply to b comes first"
        );
        st.try_send(&mut Some(Message::from("to b")), &mut wakes)
            .unwrap();
        let got = st.try_recv(&mut wakes).unwrap().unwrap();
        assert_eq!(got, Message::from("from a"));
        assert_eq!(st.counters.messages_in, 2);
    }

    #[test]
    fn fair_queue_alternates_between_peers() {
        let mut st = State::new(SocketType::Router);
        let a = peer(&mut st, "a");
        let b = peer(&mut st, "b");
        let mut msgs: VecDeque<Message> = (0..3).map(|i| Message::from(format!("a{i}"))).collect();
        st.deliver(a, &mut msgs);
        let mut msgs: VecDeque<Message> = (0..3).map(|i| Message::from(format!("b{i}"))).collect();
        st.deliver(b, &mut msgs);
        let mut order = Vec::new();
        let mut wakes = Wakes::default();
        while let Some(m) = st.try_recv(&mut wakes).unwrap() {
            order.push(String::from_utf8(m[1].to_vec()).unwrap());
        }
        assert_eq!(order, ["a0", "b0", "a1", "b1", "a2", "b2"]);
    }

    #[test]
    fn rcvhwm_pauses_and_resumes_engine() {
        let mut st = State::new(SocketType::Dealer);
        st.opts.rcvhwm = 2;
        let a = st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
        let mut msgs = VecDeque::from([Message::from("1"), Message::from("2")]);
        assert_eq!(st.deliver(a, &mut msgs), 0);
        assert!(st.peers[&a].in_paused);
        let mut wakes = Wakes::default();
        st.try_recv(&mut wakes).unwrap().unwrap();
        assert_eq!(wakes.len(), 1, "the paused engine is woken");
        assert_eq!(st.in_room(a), 1);
    }

    #[test]
    fn round_robin_skips_full_peers() {
        let mut st = State::new(SocketType::Dealer);
        st.opts.sndhwm = 1;
        let a = st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
        let b = st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
        st.try_send(&mut Some(Message::from("1")), &mut Wakes::default())
            .unwrap();
        st.try_send(&mut Some(Message::from("2")), &mut Wakes::default())
            .unwrap();
        let mut slot = Some(Message::from("3"));
        assert!(matches!(
            st.try_send(&mut slot, &mut Wakes::default()),
            Err(SendBlock::Full)
        ));
        assert_eq!(slot, Some(Message::from("3")), "the message is given back");
        let mut out = VecDeque::new();
        assert!(st.pull_out(b, &mut out, 10), "b was full");
        st.try_send(&mut slot, &mut Wakes::default()).unwrap();
        assert!(slot.is_none(), "the message was taken");
        assert_eq!(st.peers[&a].out.len(), 1);
        assert_eq!(st.peers[&b].out.len(), 1);
    }
}
