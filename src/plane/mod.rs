//! The data plane: what a socket and its connection tasks share. Per-peer queues in both
//! directions, each socket type's send and receive rule, fan-out with the subscription trie,
//! fair-queued receive, the REQ/REP direct paths, counters and options. No tasks and no I/O of
//! its own, beyond the non-blocking direct write and read that REQ/REP lend to `send`/`recv`.
//!
//! # The contract with the engine
//! [`Shared`] is the one type an engine (a connection task, `crate::engine`) and the socket
//! handle (`crate::socket`) both hold. A connection's engine goes through the methods in
//! `Shared`'s "engine contract" section only: each takes the `state` lock once, for a short
//! non-blocking section, never across an `.await`, and signals the wake-ups it causes after
//! releasing it. In a connection's life:
//! 1. [`Shared::connection_config`] before the handshake;
//! 2. [`Shared::attach`] once the handshake is done (refused: the connection ends);
//! 3. any number of [`Shared::deliver`] (decoded messages and subscriptions in),
//!    [`Shared::in_room`], [`Shared::pull_out`] (what waits to be sent, out), and for
//!    REQ/REP [`Shared::offer_direct`] / [`Shared::revoke_direct`] / [`Shared::set_lease`];
//! 4. [`Shared::detach`] at the end.
//!
//! The socket handle sends and receives through the same state under the same lock;
//! `recv_batch` is locked before `state` when both are held. Wake-ups go through the
//! `Notify`s (`recv_ready`, `send_ready`, and each peer's `out_wake` / `in_space`).
//!
//! # Organization
//! - [`state`]: the types (peers, queues, `State`) and the routing rule of each socket type
//!   (table there); `State`'s methods are grouped by job:
//!   - `peers`: attach and detach;
//!   - `send`: each type's send rule, and the engine taking what waits to be sent;
//!   - `fanout`: PUB/XPUB fan-out and subscriptions in both directions;
//!   - `groups`: RADIO/DISH groups (joins in both directions, the RADIO's send);
//!   - `recv`: delivery under RCVHWM and fair-queued receive;
//!   - `direct`: the REQ/REP direct write and the message a borrowing `recv` read.
//! - `inqueue`: a peer's inbound queue, the delivered batches kept whole.
//! - [`options`]: libzmq's options with their defaults.
//! - `trie`: subscription matching for PUB/XPUB (fan-out) and SUB/XSUB (local filter).
//! - [`lease`]: the REQ/REP read side a waiting `recv` may borrow.

mod direct;
mod fanout;
#[doc(hidden)]
pub mod fuzz_ops;
mod groups;
mod inqueue;
pub(crate) mod lease;
pub mod options;
mod peers;
mod recv;
mod send;
pub(crate) use send::coalesces_writes;
pub(crate) mod state;
mod trie;

use crate::monitor::{EventKind, MonitorEvent};
use crate::transport::{self, ConnHandle};
use crate::zmtp::{self, WriteBuf};
use crate::Message;
use bytes::Bytes;
use state::{Attached, Outbound, PeerId, State, Via};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::sync::{Arc, Weak};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// State shared by the socket handle and its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Messages taken from the peers' queues in one go, in receive order, handed out one
    /// per `recv` without touching `state` (see [`State::take_inbound`]). Locked before
    /// `state` when both are held.
    pub recv_batch: Mutex<VecDeque<Message>>,
    /// Woken when messages were delivered (receivers re-check).
    pub recv_ready: Notify,
    /// Woken when a queue got room or a peer appeared (senders re-check).
    pub send_ready: Notify,
    /// Close was requested: engines flush and stop, listeners stop accepting.
    pub closing: CancellationToken,
    /// Linger is over: everything stops now.
    pub terminate: CancellationToken,
    pub tracker: TaskTracker,
    /// A peer's share of the inbound memory (`State::in_bytes_cap`) as last seen under
    /// `state`'s lock: the most one read should bring in. Refreshed whenever a connection
    /// takes the lock to deliver or to ask for room, so a read takes no lock of its own.
    pub read_max: AtomicUsize,
}

impl Shared {
    /// The options of new connections and listeners.
    #[inline]
    pub(crate) fn conn_options(&self) -> transport::tcp::ConnOptions {
        let st = self.state.lock().unwrap();
        let o = &st.opts;
        transport::tcp::ConnOptions {
            keepalive: o.tcp_keepalive,
            keepalive_idle: o.tcp_keepalive_idle,
            keepalive_count: o.tcp_keepalive_cnt,
            keepalive_interval: o.tcp_keepalive_intvl,
            sndbuf: o.sndbuf,
            rcvbuf: o.rcvbuf,
            backlog: o.backlog,
            ipv6: o.ipv6,
            tos: o.tos,
            priority: o.priority,
            bind_to_device: o.bindtodevice.clone(),
            max_retransmit: o.tcp_maxrt,
            connect_timeout: o.connect_timeout,
            busy_poll: o.busy_poll,
            notsent_lowat: send::send_waits_for_room(st.socket_type),
        }
    }

    /// Whether a connect-side peer still has messages to deliver (close lingers for them).
    #[inline]
    pub(crate) fn has_queued(&self, peer: Option<PeerId>) -> bool {
        peer.is_some_and(|id| {
            self.state
                .lock()
                .unwrap()
                .peers
                .get(&id)
                .is_some_and(|p| p.queued() > 0)
        })
    }

    #[inline]
    pub(crate) fn emit(&self, ev: MonitorEvent) {
        let mut st = self.state.lock().unwrap();
        if !st.monitors.is_empty() {
            st.emit(ev);
        }
    }

    #[inline]
    pub(crate) fn emit_kind(
        &self,
        kind: EventKind,
        value: u32,
        endpoint: &str,
        reason: Option<String>,
    ) {
        self.emit(MonitorEvent {
            kind,
            value,
            endpoint: endpoint.to_string(),
            reason,
        })
    }
}

/// Why a connection cannot start: the errno of its HANDSHAKE_FAILED_NO_DETAIL event and
/// the reason.
pub(crate) type Refusal = (u32, String);

/// The engine contract (see the module documentation): what a connection task does to the
/// data plane, one lock each.
impl Shared {
    /// The protocol settings of a new connection from the socket's options: the socket
    /// type, routing id, limits, timers and security, and the ZAP handler when ZAP applies
    /// (always for a PLAIN/CURVE server, for NULL only with a ZAP domain, as libzmq; see
    /// ZAP_ENFORCE_DOMAIN). `Err`: the errno of the HANDSHAKE_FAILED_NO_DETAIL event and
    /// why: incomplete security options (EINVAL), or a ZAP domain without a handler under
    /// ZAP_ENFORCE_DOMAIN (EFAULT).
    #[inline]
    pub(crate) fn connection_config(
        &self,
        peer_address: &str,
    ) -> Result<
        (
            zmtp::Config,
            Option<Arc<dyn crate::security::zap::ZapHandler>>,
        ),
        Refusal,
    > {
        let st = self.state.lock().unwrap();
        let mut cfg = zmtp::Config::new(st.socket_type);
        cfg.routing_id = st.opts.routing_id.clone();
        cfg.max_msg_size = st.opts.maxmsgsize;
        cfg.peer_address = peer_address.to_string();
        cfg.handshake_ivl = st.opts.handshake_ivl;
        cfg.heartbeat_ivl = st.opts.heartbeat_ivl;
        cfg.heartbeat_timeout = st.opts.heartbeat_timeout;
        cfg.heartbeat_ttl = st.opts.heartbeat_ttl;
        cfg.security = st.opts.security().map_err(|why| (22, why))?;
        for (name, value) in &st.opts.metadata {
            cfg.metadata.push(name.clone(), value.clone());
        }
        // libzmq 4.3.5: NULL asks ZAP only under a domain; a CURVE server always, but
        // under ZAP_ENFORCE_DOMAIN only with a domain. With no handler to ask, the
        // connection is accepted unchecked unless ZAP_ENFORCE_DOMAIN (NULL, CURVE).
        let enforce = st.opts.zap_enforce_domain;
        let has_domain = !st.opts.zap_domain.is_empty();
        let zap_wanted = match cfg.security {
            zmtp::Security::Null => has_domain,
            zmtp::Security::CurveServer { .. } if enforce => has_domain,
            ref s => s.as_server(),
        };
        // PLAIN servers keep their own rule (ZAP_ENFORCE_DOMAIN does not apply to them).
        if zap_wanted
            && enforce
            && st.zap_handler.is_none()
            && !matches!(cfg.security, zmtp::Security::PlainServer)
        {
            // EFAULT, the errno libzmq's event carries for this refusal.
            return Err((
                14,
                format!(
                    "ZAP_ENFORCE_DOMAIN: ZAP domain {:?} has no ZAP handler to authenticate \
                 the peer",
                    st.opts.zap_domain
                ),
            ));
        }
        let zap_applies = zap_wanted && st.zap_handler.is_some();
        if zap_applies {
            cfg.zap_domain = Some(st.opts.zap_domain.clone());
        }
        Ok((cfg, st.zap_handler.clone()))
    }

    /// A connection finished its handshake: attaches it (see [`State::attach`]) and wakes
    /// senders waiting for a peer. `None`: refused.
    #[inline]
    pub(crate) fn attach(
        &self,
        existing: Option<PeerId>,
        identity: Bytes,
        parent: &CancellationToken,
        endpoint: &str,
        raw: bool,
        via: Via,
    ) -> Option<Attached> {
        let a = self
            .state
            .lock()
            .unwrap()
            .attach(existing, identity, parent, endpoint, raw, via);
        if a.is_some() {
            self.send_ready.notify_waiters();
            // ROUTER_NOTIFY may have queued a message.
            self.recv_ready.notify_waiters();
        }
        a
    }

    /// The connection ended (see [`State::detach`]); `lost`: the peer or the network ended
    /// it, which queues the messages some options deliver then (see [`State::lost`]).
    /// Wakes every waiter.
    #[inline]
    pub(crate) fn detach(&self, id: PeerId, gone: bool, lost: bool) {
        let mut st = self.state.lock().unwrap();
        if lost {
            st.lost(id);
        }
        st.detach(id, gone);
        drop(st);
        self.send_ready.notify_waiters();
        self.recv_ready.notify_waiters();
    }

    /// STREAM: whether a raw connection's start and end are delivered (STREAM_NOTIFY).
    #[inline]
    pub(crate) fn raw_notify(&self) -> bool {
        self.state.lock().unwrap().opts.stream_notify
    }

    /// Room left in `id`'s inbound queue under RCVHWM.
    #[inline]
    pub(crate) fn in_room(&self, id: PeerId) -> usize {
        let st = self.state.lock().unwrap();
        self.read_max.store(st.in_bytes_cap(), Ordering::Relaxed);
        st.in_room(id)
    }

    /// The most one read of a connection should bring in (see `read_max`).
    #[inline]
    pub(crate) fn read_max(&self) -> usize {
        self.read_max.load(Ordering::Relaxed)
    }

    /// Subscriptions (`(subscribe, topic)`) and decoded messages from `id`, both drained;
    /// wakes receivers. Returns the room left (0: stop reading), or `room` unchanged when
    /// no message came.
    #[inline]
    pub(crate) fn deliver(
        &self,
        id: PeerId,
        subs: &mut Vec<(bool, Bytes)>,
        msgs: &mut VecDeque<Message>,
        room: usize,
    ) -> usize {
        let room = {
            let mut st = self.state.lock().unwrap();
            for (subscribe, topic) in subs.drain(..) {
                st.on_subscription(id, subscribe, &topic);
            }
            if msgs.is_empty() {
                room
            } else {
                self.read_max.store(st.in_bytes_cap(), Ordering::Relaxed);
                st.deliver(id, msgs)
            }
        };
        self.recv_ready.notify_waiters();
        room
    }

    /// Takes what waits to be sent to `id` (see [`State::pull_out_to`]); wakes senders when
    /// a full queue got room. When the engine had lent the connection for direct writes
    /// (`direct_on`) and has anything to write now, it takes the connection back: the
    /// unwritten end of a directly written message is then put in front of `transmit`.
    /// Returns whether anything was taken, and whether the connection is still lent.
    #[inline]
    pub(crate) fn pull_out(
        &self,
        id: PeerId,
        dst: &mut VecDeque<Outbound>,
        max: usize,
        transmit: &mut WriteBuf,
        direct_on: bool,
    ) -> (bool, bool) {
        let (was_full, took, rest, direct_on) = {
            let mut st = self.state.lock().unwrap();
            let before = transmit.len();
            let was_full = st.pull_out_to(id, dst, max, transmit);
            let took = !dst.is_empty() || transmit.len() != before;
            if direct_on && (!dst.is_empty() || !transmit.is_empty() || st.has_direct_rest(id)) {
                (was_full, took, st.revoke_direct(id), false)
            } else {
                (was_full, took, None, direct_on)
            }
        };
        if let Some(rest) = rest {
            transmit.put_front(rest);
        }
        if was_full {
            self.send_ready.notify_waiters();
        }
        (took, direct_on)
    }

    /// REQ/REP: lends the idle connection to `send` (see [`State::offer_direct`]).
    #[inline]
    pub(crate) fn offer_direct(&self, id: PeerId, writer: &Weak<ConnHandle>) -> bool {
        self.state.lock().unwrap().offer_direct(id, writer)
    }

    /// REQ/REP: takes the connection back; the unwritten end of a directly written message
    /// is put in front of `transmit`. Returns whether there was one.
    #[inline]
    pub(crate) fn revoke_direct(&self, id: PeerId, transmit: &mut WriteBuf) -> bool {
        let rest = self.state.lock().unwrap().revoke_direct(id);
        match rest {
            Some(rest) => {
                transmit.put_front(rest);
                true
            }
            None => false,
        }
    }

    /// Whether `send` ever wrote to `id`'s connection directly.
    #[inline]
    pub(crate) fn wrote_directly(&self, id: PeerId) -> bool {
        self.state.lock().unwrap().wrote_directly(id)
    }

    /// REQ/REP: registers the read side a waiting `recv` may borrow.
    #[inline]
    pub(crate) fn set_lease(&self, id: PeerId, lease: Arc<lease::ReadLease>) {
        self.state.lock().unwrap().set_lease(id, lease);
    }

    // ---- the inproc pump, which moves queued items between two sockets' planes --------

    /// The socket type and routing id (what a handshake would announce).
    #[inline]
    pub(crate) fn identity(&self) -> (zmtp::SocketType, Bytes) {
        let st = self.state.lock().unwrap();
        (st.socket_type, st.opts.routing_id.clone())
    }

    /// Takes up to `max` queued items for `id`, as they are (see [`State::pull_out`]);
    /// wakes senders when a full queue got room.
    #[inline]
    pub(crate) fn pull_items(&self, id: PeerId, dst: &mut VecDeque<Outbound>, max: usize) {
        let was_full = self.state.lock().unwrap().pull_out(id, dst, max);
        if was_full {
            self.send_ready.notify_waiters();
        }
    }

    /// Delivers items another socket queued for `id`, in order: subscriptions applied,
    /// messages queued (`msgs` is scratch space, left empty); wakes receivers.
    #[inline]
    pub(crate) fn deliver_items(
        &self,
        id: PeerId,
        items: &mut VecDeque<Outbound>,
        msgs: &mut VecDeque<Message>,
    ) {
        {
            let mut st = self.state.lock().unwrap();
            for item in items.drain(..) {
                match item {
                    Outbound::Msg(m) => msgs.push_back(m),
                    Outbound::Sub { subscribe, topic } => {
                        st.on_subscription(id, subscribe, &topic);
                    }
                    // Fan-out never encodes for in-process peers.
                    Outbound::Wire(_) | Outbound::Small(_) => {
                        debug_assert!(false, "encoded frames queued to an inproc peer")
                    }
                }
            }
            if !msgs.is_empty() {
                st.deliver(id, msgs);
            }
        }
        self.recv_ready.notify_waiters();
    }

    /// Closing, with nothing left queued for `id`.
    #[inline]
    pub(crate) fn flushed(&self, id: PeerId) -> bool {
        self.closing.is_cancelled()
            && self
                .state
                .lock()
                .unwrap()
                .peers
                .get(&id)
                .is_none_or(|p| p.queued() == 0)
    }
}
