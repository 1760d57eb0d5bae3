//! The routing state shared by a socket's handle and its connection engines.
//!
//! One mutex guards everything; it is never held across an `.await`, and engines take it
//! once per batch of messages, not once per message.
//!
//! | type   | send                                  | recv                                 |
//! |--------|---------------------------------------|--------------------------------------|
//! | REQ    | round-robin, empty delimiter prepended | only from the peer asked, delimiter stripped |
//! | REP    | to the peer of the last request, envelope restored | fair-queue, envelope kept  |
//! | DEALER | round-robin over peers with room      | fair-queue                           |
//! | ROUTER | by the first frame (routing id)       | fair-queue, routing id prepended     |

use super::monitor::{EventQueue, MonitorEvent};
use super::options::Options;
use crate::zmtp::SocketType;
use crate::{Error, ErrorKind, Message, Result};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub(crate) type PeerId = u64;

/// One peer: its queues in both directions and the wake-ups of its engine.
#[derive(Debug)]
pub(crate) struct Peer {
    pub routing_id: Bytes,
    pub out: VecDeque<Message>,
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
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct ReqState {
    /// A request was sent and its reply is awaited from this peer.
    pub awaiting: Option<PeerId>,
}

#[derive(Debug, Default)]
pub(crate) struct RepState {
    /// A request was received; the reply goes to this peer with this envelope.
    pub pending: Option<(PeerId, Message)>,
}

/// What `try_send` reports when it cannot proceed.
#[derive(Debug)]
pub(crate) enum SendBlock {
    /// No peer has room now: wait for `send_ready` and retry.
    Full(Message),
    /// A final error.
    Err(Error, Message),
}

#[derive(Debug)]
pub(crate) struct State {
    pub socket_type: SocketType,
    pub opts: Options,
    pub peers: HashMap<PeerId, Peer>,
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
    pub closed: bool,
    pub monitors: Vec<Arc<EventQueue>>,
}

impl State {
    pub(crate) fn new(socket_type: SocketType) -> Self {
        State {
            socket_type,
            opts: Options::default(),
            peers: HashMap::new(),
            next_peer: 1,
            rr: Vec::new(),
            rr_next: 0,
            fq: VecDeque::new(),
            by_rid: HashMap::new(),
            next_rid: initial_rid(),
            req: ReqState::default(),
            rep: RepState::default(),
            closed: false,
            monitors: Vec::new(),
        }
    }

    pub(crate) fn emit(&self, ev: MonitorEvent) {
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
        if !gone {
            return;
        }
        p.alive = false;
        p.out.clear();
        if self.by_rid.get(&p.routing_id) == Some(&id) {
            self.by_rid.remove(&p.routing_id);
        }
        self.rr.retain(|&x| x != id);
        if self.req.awaiting == Some(id) && self.socket_type == SocketType::Req {
            // The reply can never come; libzmq's REQ would wait forever. Keep waiting
            // (libzmq semantics) but nothing more is routed there.
        }
        let empty = p.inbound.is_empty();
        if empty {
            self.peers.remove(&id);
        }
    }

    // ---- send side ------------------------------------------------------------------

    fn has_room(&self, id: PeerId) -> bool {
        self.peers
            .get(&id)
            .is_some_and(|p| p.alive && p.out.len() < self.opts.sndhwm_limit())
    }

    /// Queues `msg` to `id`; returns the engine's wake-up when the queue was empty.
    fn push_out(&mut self, id: PeerId, msg: Message) -> Option<Arc<Notify>> {
        let p = self.peers.get_mut(&id)?;
        let was_empty = p.out.is_empty();
        p.out.push_back(msg);
        if was_empty {
            Some(p.out_wake.clone())
        } else {
            None
        }
    }

    /// Picks the next round-robin peer with room.
    fn next_rr(&mut self) -> Option<PeerId> {
        let n = self.rr.len();
        for i in 0..n {
            let idx = (self.rr_next + i) % n;
            let id = self.rr[idx];
            if self.has_room(id) {
                self.rr_next = (idx + 1) % n;
                return Some(id);
            }
        }
        None
    }

    /// Tries to queue `msg` according to the socket type. On success returns the engine
    /// wake-up to signal (outside the lock).
    pub(crate) fn try_send(&mut self, mut msg: Message) -> Result<Option<Arc<Notify>>, SendBlock> {
        if self.closed {
            return Err(SendBlock::Err(Error::closed(), msg));
        }
        if msg.is_empty() {
            return Err(SendBlock::Err(
                Error::inval("cannot send a message with no frames"),
                msg,
            ));
        }
        match self.socket_type {
            SocketType::Dealer | SocketType::Push | SocketType::Pair => match self.next_rr() {
                Some(id) => Ok(self.push_out(id, msg)),
                None => Err(SendBlock::Full(msg)),
            },
            SocketType::Req => {
                if self.req.awaiting.is_some() {
                    return Err(SendBlock::Err(
                        Error::new(
                            ErrorKind::Fsm,
                            "REQ must receive the reply before sending again",
                        ),
                        msg,
                    ));
                }
                match self.next_rr() {
                    Some(id) => {
                        msg.push_front(Bytes::new());
                        self.req.awaiting = Some(id);
                        // Drop stale replies from an earlier exchange.
                        Ok(self.push_out(id, msg))
                    }
                    None => Err(SendBlock::Full(msg)),
                }
            }
            SocketType::Rep => {
                let Some((id, mut env)) = self.rep.pending.take() else {
                    return Err(SendBlock::Err(
                        Error::new(ErrorKind::Fsm, "REP must receive a request before sending"),
                        msg,
                    ));
                };
                env.append(&mut msg);
                // A reply to a gone or full peer is dropped, as libzmq does.
                if self.has_room(id) {
                    Ok(self.push_out(id, env))
                } else {
                    Ok(None)
                }
            }
            SocketType::Router => {
                let rid = msg.first().cloned().unwrap_or_default();
                let target = self.by_rid.get(&rid).copied();
                match target {
                    None => {
                        if self.opts.router_mandatory {
                            Err(SendBlock::Err(
                                Error::new(
                                    ErrorKind::HostUnreachable,
                                    format!("no peer with routing id {:?}", rid),
                                ),
                                msg,
                            ))
                        } else {
                            Ok(None)
                        }
                    }
                    Some(id) => {
                        if !self.has_room(id) {
                            return if self.opts.router_mandatory {
                                Err(SendBlock::Full(msg))
                            } else {
                                Ok(None)
                            };
                        }
                        msg.pop_front();
                        if msg.is_empty() {
                            // Only a routing id: nothing to send (libzmq sends nothing).
                            return Ok(None);
                        }
                        Ok(self.push_out(id, msg))
                    }
                }
            }
            other => Err(SendBlock::Err(
                Error::new(
                    ErrorKind::NotSupported,
                    format!("{other} sockets cannot send"),
                ),
                msg,
            )),
        }
    }

    /// Takes up to `max` outbound messages of `id` for its engine. Returns whether the
    /// queue was full before (senders waiting must be woken).
    pub(crate) fn pull_out(&mut self, id: PeerId, dst: &mut Vec<Message>, max: usize) -> bool {
        let hwm = self.opts.sndhwm_limit();
        let Some(p) = self.peers.get_mut(&id) else {
            return false;
        };
        let was_full = p.out.len() >= hwm;
        let n = p.out.len().min(max);
        dst.extend(p.out.drain(..n));
        was_full && n > 0
    }

    // ---- receive side ---------------------------------------------------------------

    /// Room left in `id`'s inbound queue.
    pub(crate) fn in_room(&self, id: PeerId) -> usize {
        match self.peers.get(&id) {
            Some(p) => self.opts.rcvhwm_limit().saturating_sub(p.inbound.len()),
            None => 0,
        }
    }

    /// An engine delivers messages from `id`. Returns the room left (0: stop reading).
    pub(crate) fn deliver(&mut self, id: PeerId, msgs: &mut Vec<Message>) -> usize {
        let hwm = self.opts.rcvhwm_limit();
        let Some(p) = self.peers.get_mut(&id) else {
            msgs.clear();
            return 0;
        };
        p.inbound.extend(msgs.drain(..));
        if !p.in_fq && !p.inbound.is_empty() {
            p.in_fq = true;
            self.fq.push_back(id);
        }
        let room = hwm.saturating_sub(p.inbound.len());
        if room == 0 {
            p.in_paused = true;
        }
        room
    }

    /// Pops the next inbound message, fair-queued over peers. Returns the peer and message,
    /// plus the engine wake-up to signal if that peer was paused at RCVHWM.
    #[allow(clippy::type_complexity)]
    fn pop_fq(&mut self) -> Option<(PeerId, Bytes, Message, Option<Arc<Notify>>)> {
        let hwm = self.opts.rcvhwm_limit();
        while let Some(id) = self.fq.pop_front() {
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            let Some(msg) = p.inbound.pop_front() else {
                p.in_fq = false;
                continue;
            };
            let rid = p.routing_id.clone();
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

    /// Tries to receive according to the socket type. `Ok(None)`: nothing yet.
    pub(crate) fn try_recv(&mut self, wakes: &mut Vec<Arc<Notify>>) -> Result<Option<Message>> {
        match self.socket_type {
            SocketType::Req => {
                let Some(want) = self.req.awaiting else {
                    return Err(Error::new(
                        ErrorKind::Fsm,
                        "REQ must send a request before receiving",
                    ));
                };
                while let Some((id, _, mut msg, wake)) = self.pop_fq() {
                    wakes.extend(wake);
                    // Only the reply from the peer we asked, with its delimiter, counts.
                    if id != want || msg.first().is_none_or(|f| !f.is_empty()) {
                        continue;
                    }
                    msg.pop_front();
                    self.req.awaiting = None;
                    return Ok(Some(msg));
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
                while let Some((id, _, mut msg, wake)) = self.pop_fq() {
                    wakes.extend(wake);
                    let Some(pos) = msg.iter().position(|f| f.is_empty()) else {
                        continue; // no delimiter: malformed, dropped as libzmq does
                    };
                    let body = msg.split_off(pos + 1);
                    self.rep.pending = Some((id, msg));
                    return Ok(Some(body));
                }
                Ok(None)
            }
            SocketType::Router => match self.pop_fq() {
                Some((_, rid, mut msg, wake)) => {
                    wakes.extend(wake);
                    msg.push_front(rid);
                    Ok(Some(msg))
                }
                None => Ok(None),
            },
            SocketType::Dealer
            | SocketType::Pull
            | SocketType::Pair
            | SocketType::Sub
            | SocketType::XSub
            | SocketType::XPub => match self.pop_fq() {
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

fn initial_rid() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5a5a);
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(st: &mut State, rid: &'static str) -> PeerId {
        let mut p = Peer::new(Bytes::from_static(rid.as_bytes()), CancellationToken::new());
        p.attached = true;
        let id = st.add_peer(p);
        st.by_rid.insert(Bytes::from_static(rid.as_bytes()), id);
        id
    }

    #[test]
    fn fair_queue_alternates_between_peers() {
        let mut st = State::new(SocketType::Router);
        let a = peer(&mut st, "a");
        let b = peer(&mut st, "b");
        let mut msgs: Vec<Message> = (0..3).map(|i| Message::from(format!("a{i}"))).collect();
        st.deliver(a, &mut msgs);
        let mut msgs: Vec<Message> = (0..3).map(|i| Message::from(format!("b{i}"))).collect();
        st.deliver(b, &mut msgs);
        let mut order = Vec::new();
        let mut wakes = Vec::new();
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
        let mut msgs = vec![Message::from("1"), Message::from("2")];
        assert_eq!(st.deliver(a, &mut msgs), 0);
        assert!(st.peers[&a].in_paused);
        let mut wakes = Vec::new();
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
        st.try_send(Message::from("1")).unwrap();
        st.try_send(Message::from("2")).unwrap();
        assert!(matches!(
            st.try_send(Message::from("3")),
            Err(SendBlock::Full(_))
        ));
        let mut out = Vec::new();
        assert!(st.pull_out(b, &mut out, 10), "b was full");
        st.try_send(Message::from("3")).unwrap();
        assert_eq!(st.peers[&a].out.len(), 1);
        assert_eq!(st.peers[&b].out.len(), 1);
    }
}
