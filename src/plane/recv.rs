//! Receiving: engines deliver decoded messages under RCVHWM, and `recv` takes them
//! fair-queued, by each socket type's rule (REQ only from the peer it asked, REP
//! remembering the envelope).

use super::state::*;
use crate::zmtp::SocketType;
use crate::{Error, ErrorKind, Message, Result};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::Notify;

/// What all peers' inbound queues may hold together before connections stop reading
/// (see `State::in_bytes_cap`).
const IN_BYTES_BUDGET: usize = 16 << 20;
/// What each peer's inbound queue may hold whatever the number of peers.
const IN_BYTES_FLOOR: usize = 32 << 10;

/// The messages `p`'s connection may still deliver (0: it stops reading): RCVHWM's room,
/// none once its queue holds `cap` bytes (see `byte_cap`).
#[inline]
fn room_in(p: &Peer, hwm: usize, cap: usize) -> usize {
    if p.inbound.bytes() >= byte_cap(p, cap) {
        0
    } else {
        hwm.saturating_sub(p.inbound.len())
    }
}

/// Whether `p`'s connection, stopped at RCVHWM or at its byte cap (that of `peers`
/// peers), reads again: under RCVHWM, and under half the cap, so that what it reads is
/// worth the wake-up.
#[inline]
fn resumes(p: &Peer, hwm: usize, peers: usize) -> bool {
    p.inbound.len() < hwm && p.inbound.bytes() < byte_cap(p, in_bytes_cap(peers)) / 2
}

/// A peer's cap among `peers` (see `State::in_bytes_cap`).
#[inline]
fn in_bytes_cap(peers: usize) -> usize {
    (IN_BYTES_BUDGET / peers.max(1)).max(IN_BYTES_FLOOR)
}

/// `cap`, or none for an in-process peer: its messages are in memory already (a pipe
/// moves them, copying nothing), and libzmq's inproc pipe holds SNDHWM + RCVHWM messages
/// whatever their size.
#[inline]
fn byte_cap(p: &Peer, cap: usize) -> usize {
    if p.via.inproc {
        usize::MAX
    } else {
        cap
    }
}

impl State {
    // ---- receive side ---------------------------------------------------------------

    /// Room left in `id`'s inbound queue.
    #[inline]
    pub(crate) fn in_room(&self, id: PeerId) -> usize {
        match self.peers.get(&id) {
            Some(_) if self.opts.conflate => usize::MAX,
            Some(_) if self.socket_type == SocketType::XPub => self
                .opts
                .rcvhwm_limit()
                .saturating_sub(self.xpub_pending.len()),
            Some(p) => room_in(p, self.opts.rcvhwm_limit(), self.in_bytes_cap()),
            None => 0,
        }
    }

    /// Bytes a peer's inbound queue may hold before its connection stops reading (the
    /// rest waits in the kernel, and TCP's flow control holds the sender back, as RCVHWM
    /// does). RCVHWM counts messages, so with many peers sending large messages it let the
    /// connections read everything they were sent into memory long before the application
    /// reached it: `IN_BYTES_BUDGET` shared by the peers, at least `IN_BYTES_FLOOR` each.
    #[inline]
    pub(crate) fn in_bytes_cap(&self) -> usize {
        in_bytes_cap(self.peers.len())
    }

    /// An engine delivers messages from `id` (`msgs` is left empty, possibly replaced by
    /// an emptied batch with room). Returns the room left (0: stop reading). Unfiltered,
    /// a batch joins the peer's queue whole (see `InQueue`): its messages do not move.
    #[inline]
    pub(crate) fn deliver(&mut self, id: PeerId, msgs: &mut VecDeque<Message>) -> usize {
        let hwm = self.opts.rcvhwm_limit();
        if !self.peers.contains_key(&id) {
            msgs.clear();
            return 0;
        }
        self.counters.messages_in += msgs.len() as u64;
        let bytes = msgs.iter().map(Message::byte_len).sum::<usize>();
        self.counters.bytes_in += bytes as u64;
        let st = self.socket_type;
        if st == SocketType::Radio {
            // A DISH sends no messages (libzmq's RADIO reads only joins from its pipes).
            msgs.clear();
            return usize::MAX;
        }
        if is_pub(st) {
            // From subscribers: subscriptions (3.0 form), or upstream data for XPUB.
            for m in msgs.drain(..) {
                if m.len() > 1 {
                    self.on_multipart(id, m);
                    continue;
                }
                let first = m.first().cloned().unwrap_or_default();
                match first.first() {
                    Some(&b) if b == 0 || b == 1 => {
                        self.on_subscription(id, b == 1, &first.slice(1..))
                    }
                    _ if st == SocketType::XPub => self.xpub_pending.push_back(m),
                    _ => {}
                }
            }
            if st != SocketType::XPub {
                return usize::MAX;
            }
            // XPUB's upstream data waits in one socket-wide queue: RCVHWM bounds it, and
            // a connection that finds it full stops reading until `recv` makes room.
            let room = hwm.saturating_sub(self.xpub_pending.len());
            if room == 0 {
                self.xpub_paused = true;
                if let Some(p) = self.peers.get_mut(&id) {
                    p.in_paused = true;
                }
            }
            return room;
        }
        let mut bytes = bytes;
        if st.is_single_frame() {
            // Multipart messages were dropped.
            self.single_frame_in(id, msgs);
            bytes = msgs.iter().map(Message::byte_len).sum();
        }
        // A subscription to the empty topic lets everything through: no filtering (unless
        // inverted: then nothing passes).
        let invert = self.opts.invert_matching;
        // A DISH filters too (libzmq does): a UDP DISH gets every group sent its way.
        let dish = st == SocketType::Dish;
        let filter = dish || (is_sub(st) && (invert || !self.local_subs.matches(&[])));
        let conflate = self.opts.conflate;
        let cap = self.in_bytes_cap();
        let p = self.peers.get_mut(&id).expect("checked above");
        if !filter && !conflate {
            p.inbound.append(msgs, bytes);
        } else {
            let mut dropped = 0;
            for m in msgs.drain(..) {
                let reject = if dish {
                    !self.dish_groups.contains(m.group())
                } else {
                    filter
                        && self
                            .local_subs
                            .matches(m.first().map_or(&[][..], |f| &f[..]))
                            == invert
                };
                if reject {
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
        let room = room_in(p, hwm, cap);
        if room == 0 {
            p.in_paused = true;
        }
        room
    }

    /// The single-frame types (libzmq's draft types): a multipart message from the peer
    /// is dropped whole and the connection stays, as libzmq's receive does (it drops it
    /// when `recv` reaches it; here it never takes RCVHWM room). SERVER and PEER: each
    /// message kept carries the peer's routing id.
    #[inline(never)]
    fn single_frame_in(&self, id: PeerId, msgs: &mut VecDeque<Message>) {
        msgs.retain(|m| m.len() == 1);
        if routes_by_u32(self.socket_type) {
            let rid = self.peers.get(&id).map_or(0, |p| p.srv_id);
            for m in msgs.iter_mut() {
                m.set_routing_id(rid);
            }
        }
    }

    /// Whether [`take_inbound`](Self::take_inbound) serves this socket type: the types
    /// whose receive is a plain fair-queue pop (REQ and REP keep per-message state).
    #[inline]
    pub(crate) fn batches_recv(socket_type: SocketType) -> bool {
        matches!(
            socket_type,
            SocketType::Dealer
                | SocketType::Router
                | SocketType::Stream
                | SocketType::Pull
                | SocketType::Pair
                | SocketType::Dgram
                | SocketType::Sub
                | SocketType::XSub
                | SocketType::Server
                | SocketType::Client
                | SocketType::Gather
                | SocketType::Peer
                | SocketType::Channel
                | SocketType::Dish
        )
    }

    /// Moves the next inbound messages to `dst` (empty), in exactly the order successive
    /// [`try_recv`](Self::try_recv) calls would return them now: at most RCVHWM (and at
    /// most [`RECV_BATCH`]; one under CONFLATE). With a single peer queued, no routing id
    /// to prepend and the peer's queue one segment (one delivered batch), that segment is
    /// swapped out without moving a message.
    /// Only for the types of [`batches_recv`](Self::batches_recv).
    #[inline]
    pub(crate) fn take_inbound(&mut self, dst: &mut VecDeque<Message>, wakes: &mut Wakes) {
        debug_assert!(dst.is_empty() && Self::batches_recv(self.socket_type));
        let hwm = self.opts.rcvhwm_limit();
        let max = if self.opts.conflate {
            1
        } else {
            hwm.min(RECV_BATCH)
        };
        let with_rid = matches!(self.socket_type, SocketType::Router | SocketType::Stream);
        let peers = self.peers.len();
        if self.fq.len() == 1 {
            let id = self.fq[0];
            if let Some(p) = self.peers.get_mut(&id) {
                if with_rid || !p.inbound.swap_whole(dst, max) {
                    let rid = &p.routing_id;
                    while dst.len() < max {
                        let Some(mut m) = p.inbound.pop_front() else {
                            break;
                        };
                        if with_rid {
                            m.push_front(rid.clone());
                        }
                        dst.push_back(m);
                    }
                }
                if p.inbound.is_empty() {
                    p.in_fq = false;
                    self.fq.clear();
                    if !p.alive {
                        self.peers.remove(&id);
                        return;
                    }
                }
                if p.in_paused && resumes(p, hwm, peers) {
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
    #[inline]
    pub(super) fn pop_fq(
        &mut self,
        with_rid: bool,
    ) -> Option<(PeerId, Bytes, Message, Option<Arc<Notify>>)> {
        let hwm = self.opts.rcvhwm_limit();
        let peers = self.peers.len();
        while let Some(id) = self.fq.pop_front() {
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            let Some(msg) = p.inbound.pop_front() else {
                p.in_fq = false;
                continue;
            };
            // Only ROUTER and STREAM need the routing id (a clone is two atomic operations).
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
            let wake = if p.in_paused && resumes(p, hwm, peers) {
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
    #[inline]
    pub(super) fn req_accept(
        &mut self,
        want: PeerId,
        id: PeerId,
        mut msg: Message,
    ) -> Option<Message> {
        if id != want || !self.is_reply(&msg) {
            return None;
        }
        if self.opts.req_correlate {
            msg.pop_front();
        }
        msg.pop_front();
        self.req.awaiting = None;
        Some(msg)
    }

    /// REQ: whether `msg` is the reply to the request in flight (see `req_accept`).
    #[inline]
    fn is_reply(&self, msg: &Message) -> bool {
        let mut frames = msg.iter();
        if self.opts.req_correlate
            && frames
                .next()
                .is_none_or(|f| f[..] != self.req.request_id.to_ne_bytes())
        {
            return false;
        }
        frames.next().is_some_and(|f| f.is_empty())
    }

    /// Whether [`try_recv`](Self::try_recv) would return a message now (libzmq's POLLIN),
    /// looking without taking: a REQ only for the reply it awaits, a REP only for a
    /// well-formed request while it owes no reply, never for the types that cannot
    /// receive. Messages `take_inbound` moved out of the state are the caller's to count.
    pub(crate) fn readable(&self) -> bool {
        let queued = |p: &Peer| !p.inbound.is_empty();
        match self.socket_type {
            SocketType::Req => self.req.awaiting.is_some_and(|want| {
                self.peers
                    .get(&want)
                    .is_some_and(|p| p.inbound.iter().any(|m| self.is_reply(m)))
            }),
            SocketType::Rep => {
                self.rep.pending.is_none()
                    && self
                        .peers
                        .values()
                        .any(|p| p.inbound.iter().any(|m| m.iter().any(|f| f.is_empty())))
            }
            SocketType::XPub => !self.xpub_pending.is_empty(),
            t if Self::batches_recv(t) => self
                .fq
                .iter()
                .any(|id| self.peers.get(id).is_some_and(queued)),
            // PUB, PUSH and SCATTER cannot receive.
            _ => false,
        }
    }

    /// REP: a request from `id` splits at its first empty frame into the envelope (kept
    /// for the reply) and the body (returned); without one it is malformed and dropped,
    /// as libzmq does.
    #[inline]
    pub(super) fn rep_accept(&mut self, id: PeerId, mut msg: Message) -> Option<Message> {
        let pos = msg.iter().position(|f| f.is_empty())?;
        let body = msg.split_off(pos + 1);
        self.rep.pending = Some((id, msg));
        Some(body)
    }

    /// Tries to receive according to the socket type. `Ok(None)`: nothing yet.
    #[inline]
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
            SocketType::Router | SocketType::Stream => match self.pop_fq(true) {
                Some((_, rid, mut msg, wake)) => {
                    wakes.extend(wake);
                    msg.push_front(rid);
                    Ok(Some(msg))
                }
                None => Ok(None),
            },
            SocketType::XPub => {
                let m = self.xpub_pending.pop_front();
                if m.is_some() && self.opts.xpub_manual {
                    // libzmq: each receive takes the peer of the oldest subscription
                    // message still queued, the one later SUBSCRIBEs apply to.
                    if let Some(p) = self.xpub_pending_peers.pop_front() {
                        self.xpub_last_peer =
                            p.filter(|id| self.peers.get(id).is_some_and(|p| p.attached));
                    }
                }
                if self.xpub_paused && self.xpub_pending.len() < self.opts.rcvhwm_limit() {
                    // Room again: the connections that stopped at RCVHWM read on.
                    self.xpub_paused = false;
                    for p in self.peers.values_mut().filter(|p| p.in_paused) {
                        p.in_paused = false;
                        wakes.push(p.in_space.clone());
                    }
                }
                Ok(m)
            }
            SocketType::Dealer
            | SocketType::Pull
            | SocketType::Pair
            | SocketType::Dgram
            | SocketType::Sub
            | SocketType::XSub
            | SocketType::Server
            | SocketType::Client
            | SocketType::Gather
            | SocketType::Peer
            | SocketType::Channel
            | SocketType::Dish => match self.pop_fq(false) {
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
}
