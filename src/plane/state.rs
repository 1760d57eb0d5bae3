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
//! | STREAM | `[routing id, data]`: data raw to that peer; empty data closes it | fair-queue, `[routing id, data]` |
//! | PUB    | fan-out to matching subscribers, encoded once; a full peer drops (XPUB_NODROP: waits) | not allowed (`ENOTSUP`) |
//! | XPUB   | as PUB                                            | subscription messages (`01`/`00` + topic), upstream data |
//! | SUB    | not allowed (`ENOTSUP`); `subscribe`/`unsubscribe`| fair-queue, filtered by subscriptions |
//! | XSUB   | `01`/`00` + topic subscribes (each such frame, see ONLY_FIRST_SUBSCRIBE); other messages to all peers | as SUB |
//! | PUSH   | round-robin over peers with room                  | not allowed                           |
//! | PULL   | not allowed                                       | fair-queue                            |
//! | PAIR   | to the one peer                                   | from the one peer                     |
//! | SERVER, PEER | single frame, to the peer named by the message's `u32` routing id (unknown: `EHOSTUNREACH`) | fair-queue, routing id set on the message; multipart dropped |
//! | CLIENT | single frame, round-robin                         | fair-queue; multipart dropped         |
//! | SCATTER | single frame, round-robin                        | not allowed                           |
//! | GATHER | not allowed                                       | fair-queue; multipart dropped         |
//! | CHANNEL | single frame, to the one peer                    | from the one peer; multipart dropped  |
//! | RADIO  | one frame, to the peers that joined exactly its group, and to UDP destinations | not allowed |
//! | DISH   | not allowed; `join`/`leave`                       | fair-queue, only joined groups        |
//! | DGRAM  | `[ip:port, body]` to its one `udp://` bind, which sends the body there | `[sender's ip:port, body]` |

pub(crate) use super::inqueue::InQueue;
use super::lease::ReadLease;
use super::options::Options;
use super::trie::{LocalSubs, RemoteSubs};
use crate::monitor::{EventQueue, MonitorEvent};
use crate::transport::ConnHandle;
use crate::zmtp::connection::{encode_message, encode_message_into};
use crate::zmtp::frame::FLAG_MORE;
use crate::zmtp::SocketType;
use crate::zmtp::{FrameDecoder, WriteBuf};
use crate::{Error, Message};
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
pub(super) const ENCODE_ONCE_LIMIT: usize = 16 * 1024;

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

impl Outbound {
    /// Hands the item to its connection's protocol core, as the engine writes it.
    #[inline]
    pub(crate) fn encode_into(&self, conn: &mut crate::zmtp::Connection) {
        match self {
            Outbound::Msg(m) => conn.send_message(m),
            Outbound::Wire(b) => conn.send_encoded(b),
            Outbound::Small(s) => conn.send_encoded_slice(s.as_bytes()),
            Outbound::Sub { subscribe, topic } => conn.send_subscription(*subscribe, topic),
        }
    }
}

/// One peer: its queues in both directions and the wake-ups of its engine.
#[derive(Debug)]
pub(crate) struct Peer {
    pub routing_id: Bytes,
    /// SERVER and PEER: the peer's `u32` routing id (never 0 there; 0 for other types).
    pub srv_id: u32,
    pub out: VecDeque<Outbound>,
    pub inbound: InQueue,
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
    pub direct: Option<std::sync::Weak<ConnHandle>>,
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
    /// the sender, read and dropped by the engine).
    pub enc: WriteBuf,
    /// How many messages `enc` holds (they count against SNDHWM).
    pub enc_msgs: usize,
    /// How the attached connection was made (the messages of its start and end depend on it).
    pub via: Via,
}

/// How a connection was made: ROUTER_NOTIFY, DISCONNECT_MSG and HICCUP_MSG depend on it,
/// as in libzmq (notifications come from network connections only, the disconnect
/// message from accepted ones, the hiccup from ones we made).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Via {
    /// The peer connected to us (a bound endpoint).
    pub accepted: bool,
    /// An in-process pipe rather than a TCP or IPC connection.
    pub inproc: bool,
    /// A connection we made again after an earlier one of the same `connect` ran (libzmq
    /// keeps that `connect`'s pipe, and what was written into it once, such as the probe).
    pub reconnect: bool,
}

impl Peer {
    pub(crate) fn new(routing_id: Bytes, kill: CancellationToken) -> Self {
        Peer {
            routing_id,
            srv_id: 0,
            out: VecDeque::new(),
            inbound: InQueue::default(),
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
            via: Via::default(),
        }
    }

    /// Outbound messages (and subscription changes) waiting for the engine.
    pub(crate) fn queued(&self) -> usize {
        self.out.len() + self.enc_msgs
    }

    /// Drops every queued outbound item and encoded message.
    #[inline]
    pub(super) fn clear_out(&mut self) {
        self.out.clear();
        self.enc.clear();
        self.enc_msgs = 0;
    }

    /// Whether the next message goes into `enc` (see there).
    #[inline]
    pub(super) fn encodes(&self, conflate: bool) -> bool {
        self.attached && !self.raw && !conflate && self.out.is_empty()
    }

    /// CONFLATE: drops every queued message (subscription changes stay).
    #[inline]
    pub(super) fn conflate_out(&mut self) {
        self.out.retain(|o| matches!(o, Outbound::Sub { .. }));
        self.enc.clear();
        self.enc_msgs = 0;
    }

    /// Queues `msg` encoded in `enc`. Encoded from the caller's slot, which is emptied:
    /// the message is not moved on the way.
    #[inline]
    pub(super) fn push_encoded(&mut self, slot: &mut Option<Message>, wakes: &mut Wakes) {
        if let Some(msg) = slot.as_ref() {
            encode_message(msg, &mut self.enc);
            *slot = None;
            self.count_encoded(wakes);
        }
    }

    /// Queues a message already encoded (`wire`, copied) in `enc`.
    #[inline]
    pub(super) fn push_wire(&mut self, wire: &[u8], wakes: &mut Wakes) {
        self.enc.put_slice(wire);
        self.count_encoded(wakes);
    }

    /// One more message in `enc`; the first wakes the engine.
    #[inline]
    pub(super) fn count_encoded(&mut self, wakes: &mut Wakes) {
        self.enc_msgs += 1;
        if self.enc_msgs == 1 {
            wakes.push(self.out_wake.clone());
        }
    }

    /// The connection now attached cannot take pre-encoded frames (CURVE was configured
    /// after these messages were queued): decode them back into messages, ahead of `out`.
    #[inline]
    pub(super) fn requeue_encoded(&mut self) {
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
/// the message would make every send copy a message-sized value.
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
    pub(super) next_peer: PeerId,
    /// Peers that take outbound messages, in round-robin order.
    pub rr: Vec<PeerId>,
    pub(super) rr_next: usize,
    /// Peers with queued inbound messages, in fair-queue order.
    pub(super) fq: VecDeque<PeerId>,
    pub by_rid: HashMap<Bytes, PeerId>,
    /// SERVER and PEER: the peers by their `u32` routing id (ours, never peer-chosen, so
    /// the cheap hasher is fine).
    pub by_srv: IdMap<PeerId>,
    /// ROUTER's generated routing ids, and SERVER's and PEER's (libzmq: a counter
    /// starting at a random value).
    pub(super) next_rid: u32,
    pub req: ReqState,
    pub rep: RepState,
    /// SUB/XSUB: our own subscriptions.
    pub(super) local_subs: LocalSubs,
    /// PUB/XPUB: the peers' subscriptions.
    pub(super) remote_subs: RemoteSubs,
    pub(super) scratch: Vec<PeerId>,
    /// INVERT_MATCHING: the fan-out's second list of peers (swapped with `scratch`).
    pub(super) inverted: Vec<PeerId>,
    /// PUB/XPUB: encoded fan-out messages are cut from this buffer.
    pub(super) wire_arena: BytesMut,
    pub counters: Counters,
    pub closed: bool,
    pub monitors: Vec<Arc<EventQueue>>,
    /// XPUB: subscription messages and upstream data waiting for `recv`.
    pub(super) xpub_pending: VecDeque<Message>,
    /// XPUB: a connection stopped reading because `xpub_pending` reached RCVHWM.
    pub(super) xpub_paused: bool,
    /// XPUB_MANUAL: the peers' subscriptions as they sent them (not applied), kept to
    /// report a leaving peer's topics as unsubscribed.
    pub(super) manual_subs: RemoteSubs,
    /// XPUB_MANUAL: the peer of each subscription message queued for `recv` (`None`: a
    /// peer that left); each `recv` takes the oldest, as libzmq does.
    pub(super) xpub_pending_peers: VecDeque<Option<PeerId>>,
    /// XPUB_MANUAL: the peer the application's SUBSCRIBE/UNSUBSCRIBE apply to.
    pub(super) xpub_last_peer: Option<PeerId>,
    /// ZAP: authenticates incoming handshakes when set.
    pub zap_handler: Option<Arc<dyn crate::security::zap::ZapHandler>>,
    /// DISH: the groups joined (ordered: a new connection hears them in this order).
    pub(super) dish_groups: std::collections::BTreeSet<Bytes>,
    /// RADIO: each group's peers, once per JOIN.
    pub(super) radio_groups: HashMap<Bytes, Vec<PeerId>>,
    /// RADIO: UDP destinations, which take every group.
    pub(super) udp_peers: Vec<PeerId>,
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

#[inline]
pub(super) fn is_sub(t: SocketType) -> bool {
    matches!(t, SocketType::Sub | SocketType::XSub)
}

#[inline]
pub(super) fn is_pub(t: SocketType) -> bool {
    matches!(t, SocketType::Pub | SocketType::XPub)
}

/// SERVER and PEER: peers named by a `u32` routing id.
#[inline]
pub(crate) fn routes_by_u32(t: SocketType) -> bool {
    matches!(t, SocketType::Server | SocketType::Peer)
}

/// The types that send HELLO_MSG (libzmq's `can_send_hello_msg`).
#[inline]
pub(super) fn sends_hello(t: SocketType) -> bool {
    use SocketType::*;
    matches!(t, Router | Dealer | Server | Client | Peer)
}

/// The types that receive DISCONNECT_MSG (libzmq's `can_recv_disconnect_msg`).
#[inline]
pub(super) fn gets_disconnect_msg(t: SocketType) -> bool {
    matches!(
        t,
        SocketType::Router | SocketType::Server | SocketType::Peer
    )
}

/// The types that receive HICCUP_MSG (libzmq's `can_recv_hiccup_msg`).
#[inline]
pub(super) fn gets_hiccup_msg(t: SocketType) -> bool {
    matches!(
        t,
        SocketType::Dealer | SocketType::Client | SocketType::Peer
    )
}

/// Whether `p` takes another outbound message (alive, attached unless IMMEDIATE is off,
/// below SNDHWM unless CONFLATE).
#[inline]
pub(super) fn peer_has_room(p: &Peer, opts: &Options) -> bool {
    p.alive
        && (p.attached || !opts.immediate)
        && (opts.conflate || p.queued() < opts.sndhwm_limit())
}

/// Queues `item` on `p`; adds its engine's wake-up to `wakes` when the queue was empty.
#[inline]
pub(super) fn push_to(p: &mut Peer, item: Outbound, conflate: bool, wakes: &mut Wakes) {
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
#[inline]
pub(super) fn push_msg(
    p: &mut Peer,
    slot: &mut Option<Message>,
    conflate: bool,
    wakes: &mut Wakes,
) {
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
#[inline]
pub(super) fn push_item(p: &mut Peer, item: Outbound, wakes: &mut Wakes) {
    let was_empty = p.queued() == 0;
    p.out.push_back(item);
    if was_empty {
        wakes.push(p.out_wake.clone());
    }
}

/// Gives `msg` back to the sender: no peer can take it now.
#[cold]
#[inline]
pub(super) fn bounce_full(back: &mut Option<Message>, msg: Message) -> SendBlock {
    *back = Some(msg);
    SendBlock::Full
}

/// Gives `msg` back to the sender with a final error.
#[cold]
#[inline]
pub(super) fn bounce_err(back: &mut Option<Message>, e: Error, msg: Message) -> SendBlock {
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
    #[inline]
    pub(super) fn encode(msg: &Message) -> Option<SmallWire> {
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
pub(super) const WIRE_ARENA: usize = 64 * 1024;

/// `msg` as ZMTP frames (what `encode_message` writes), cut from `arena`.
#[inline]
pub(super) fn encode_wire(msg: &Message, arena: &mut BytesMut) -> Bytes {
    if arena.capacity() < WIRE_ARENA / 4 {
        // Takes the old chunk back when no message cut from it is alive any more.
        arena.reserve(WIRE_ARENA);
    }
    encode_message_into(msg, arena);
    arena.split().freeze()
}

/// The first peer of the round-robin ring, from `*next` on, that `ok` accepts; `*next`
/// moves past it (no division on this per-message path).
#[inline]
pub(super) fn pick_rr(
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
        let mut opts = Options::default();
        if socket_type == SocketType::Dish {
            // libzmq: a DISH's close does not wait for joins still queued.
            opts.linger = std::time::Duration::ZERO;
        }
        State {
            socket_type,
            opts,
            peers: IdMap::default(),
            next_peer: 1,
            rr: Vec::new(),
            rr_next: 0,
            fq: VecDeque::new(),
            by_rid: HashMap::new(),
            by_srv: IdMap::default(),
            next_rid: initial_rid(),
            req: ReqState {
                awaiting: None,
                request_id: initial_rid(),
            },
            rep: RepState::default(),
            local_subs: LocalSubs::default(),
            remote_subs: RemoteSubs::default(),
            scratch: Vec::new(),
            inverted: Vec::new(),
            wire_arena: BytesMut::new(),
            counters: Counters::default(),
            closed: false,
            monitors: Vec::new(),
            xpub_pending: VecDeque::new(),
            xpub_paused: false,
            manual_subs: RemoteSubs::default(),
            xpub_pending_peers: VecDeque::new(),
            xpub_last_peer: None,
            zap_handler: None,
            dish_groups: Default::default(),
            radio_groups: HashMap::new(),
            udp_peers: Vec::new(),
        }
    }

    pub(crate) fn emit(&mut self, ev: MonitorEvent) {
        // Monitors dropped by their owner are forgotten here.
        self.monitors.retain(|m| !m.is_detached());
        for m in &self.monitors {
            m.push(ev.clone());
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

#[inline]
pub(super) fn initial_rid() -> u32 {
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
        st.attach(
            Some(id),
            Bytes::new(),
            &parent,
            "tcp://x:1",
            true,
            Via::default(),
        )
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
    fn inbound_bytes_pause_the_engine_until_half_are_taken() {
        let mut st = State::new(SocketType::Dealer);
        let a = st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
        // One peer: the whole budget is its cap, far below RCVHWM's 1000 messages here.
        let cap = st.in_bytes_cap();
        assert_eq!(cap, 16 << 20);
        let body = Bytes::from(vec![7u8; 1 << 20]);
        let mut msgs: VecDeque<Message> = (0..15).map(|_| Message::from(body.clone())).collect();
        assert_eq!(
            st.deliver(a, &mut msgs),
            1000 - 15,
            "under the cap: RCVHWM's room"
        );
        let mut msgs = VecDeque::from([Message::from(body.clone())]);
        assert_eq!(st.deliver(a, &mut msgs), 0, "16 MiB queued: stop reading");
        assert!(st.peers[&a].in_paused);
        assert_eq!(st.in_room(a), 0);
        let mut wakes = Wakes::default();
        for left in (8..16).rev() {
            st.try_recv(&mut wakes).unwrap().unwrap();
            assert_eq!(wakes.len(), 0, "{left} MiB left: still paused");
        }
        st.try_recv(&mut wakes).unwrap().unwrap();
        assert_eq!(wakes.len(), 1, "7 MiB left, under half the cap: woken");
        assert!(!st.peers[&a].in_paused);
        assert_eq!(st.in_room(a), 1000 - 7);
    }

    #[test]
    fn the_inbound_budget_is_shared_by_the_peers_down_to_a_floor() {
        let mut st = State::new(SocketType::Router);
        let a = peer(&mut st, "a");
        assert_eq!(st.in_bytes_cap(), 16 << 20);
        let more = |st: &mut State, n: usize| {
            for _ in 0..n {
                st.add_peer(Peer::new(Bytes::new(), CancellationToken::new()));
            }
        };
        more(&mut st, 3);
        assert_eq!(st.in_bytes_cap(), 4 << 20);
        more(&mut st, 996);
        assert_eq!(st.in_bytes_cap(), 32 << 10, "1,000 peers: the floor");
        // 32 one-KiB messages fill a peer's share; the ROUTER's fair queue takes one
        // message per peer in turn, so the others' shares stay where they are.
        let body = Bytes::from(vec![1u8; 1024]);
        let mut msgs: VecDeque<Message> = (0..31).map(|_| Message::from(body.clone())).collect();
        assert_eq!(st.deliver(a, &mut msgs), 1000 - 31);
        let mut msgs = VecDeque::from([Message::from(body.clone())]);
        assert_eq!(st.deliver(a, &mut msgs), 0);
        let mut wakes = Wakes::default();
        for _ in 0..16 {
            st.try_recv(&mut wakes).unwrap().unwrap();
        }
        assert_eq!(wakes.len(), 0, "16 KiB left: half the cap, still paused");
        st.try_recv(&mut wakes).unwrap().unwrap();
        assert_eq!(wakes.len(), 1);
    }

    #[test]
    fn server_routing_ids_count_up_skip_zero_and_label_single_frame_messages() {
        let mut st = State::new(SocketType::Server);
        st.next_rid = u32::MAX;
        let parent = CancellationToken::new();
        let attach = |st: &mut State| {
            st.attach(
                None,
                Bytes::new(),
                &parent,
                "tcp://x:1",
                false,
                Via::default(),
            )
            .expect("attached")
            .id
        };
        let a = attach(&mut st);
        let b = attach(&mut st);
        assert_eq!((st.peers[&a].srv_id, st.peers[&b].srv_id), (u32::MAX, 1));
        let mut msgs = VecDeque::from([Message::from(["x", "y"]), Message::from("z")]);
        st.deliver(b, &mut msgs);
        let mut wakes = Wakes::default();
        let got = st.try_recv(&mut wakes).unwrap().expect("one message");
        assert_eq!(
            (got.clone(), got.routing_id()),
            (Message::from("z"), Some(1))
        );
        assert!(
            st.try_recv(&mut wakes).unwrap().is_none(),
            "the multipart one dropped"
        );
        // Replies go by id; the id is cleared on the way.
        send(&mut st, &Message::from("r").with_routing_id(1)).unwrap();
        let (mut out, mut tx) = (VecDeque::new(), WriteBuf::new());
        st.pull_out_to(b, &mut out, 16, &mut tx);
        assert_eq!(tx.to_vec(), wire(&[Message::from("r")]));
        st.detach(a, true);
        assert!(matches!(
            send(&mut st, &Message::from("r").with_routing_id(u32::MAX)),
            Err(SendBlock::Err(e)) if e.kind() == crate::ErrorKind::HostUnreachable
        ));
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
