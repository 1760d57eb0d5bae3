//! Peers coming and going: a connect-side entry made by `connect`, a connection
//! attached after its handshake (ROUTER routing ids and handover, the one PAIR peer), and
//! detached when it ends.

use super::state::*;
use crate::zmtp::SocketType;
use crate::Message;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// ZMQ_NOTIFY_CONNECT: ROUTER_NOTIFY's flag for connections.
pub(crate) const NOTIFY_CONNECT: u8 = 1;
/// ZMQ_NOTIFY_DISCONNECT: ROUTER_NOTIFY's flag for disconnections.
pub(crate) const NOTIFY_DISCONNECT: u8 = 2;

impl State {
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
        via: Via,
    ) -> Option<Attached> {
        if matches!(self.socket_type, SocketType::Pair | SocketType::Channel)
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
                p.via = via;
                if raw {
                    p.requeue_encoded();
                }
                id
            }
            None => {
                let routes = matches!(self.socket_type, SocketType::Router | SocketType::Stream);
                let rid = if routes {
                    // A STREAM peer has no identity of its own: always a generated id.
                    self.router_identify(identity)?
                } else {
                    Bytes::new()
                };
                let mut peer = Peer::new(rid.clone(), parent.child_token());
                peer.attached = true;
                peer.raw = raw;
                peer.via = via;
                peer.endpoint = endpoint.to_string();
                let id = self.add_peer(peer);
                if routes {
                    self.by_rid.insert(rid, id);
                }
                self.assign_srv_id(id);
                id
            }
        };
        if is_sub(self.socket_type) || self.socket_type == SocketType::Dish {
            // Send every subscription (DISH: every join) to the (re)connected peer, first.
            let topics: Vec<Vec<u8>> = if self.socket_type == SocketType::Dish {
                self.dish_joined().into_iter().map(Vec::from).collect()
            } else {
                self.local_subs.topics()
            };
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
        self.greet(id, existing.is_none());
        if is_pub(self.socket_type) && !self.opts.xpub_welcome_msg.is_empty() {
            // XPUB_WELCOME_MSG: first to every new connection, subscribed or not.
            let welcome = Message::from(self.opts.xpub_welcome_msg.clone());
            self.peers
                .get_mut(&id)?
                .out
                .push_front(Outbound::Msg(welcome));
        }
        let p = self.peers.get(&id)?;
        Some(Attached {
            id,
            out_wake: p.out_wake.clone(),
            in_space: p.in_space.clone(),
            kill: p.kill.clone(),
        })
    }

    /// A peer entry for a new `connect` (its connection attaches later, and reconnects to
    /// it). `routing_id`: ROUTER's CONNECT_ROUTING_ID. With PROBE_ROUTER its queue starts
    /// with the probe: libzmq writes it once into the pipe `connect` makes, which outlives
    /// reconnects.
    pub(crate) fn connect_peer(
        &mut self,
        endpoint: &str,
        kill: CancellationToken,
        routing_id: Bytes,
    ) -> PeerId {
        let mut peer = Peer::new(routing_id.clone(), kill);
        peer.endpoint = endpoint.to_string();
        if self.probes() {
            peer.out
                .push_back(Outbound::Msg(Message::from(Bytes::new())));
        }
        let id = self.add_peer(peer);
        if !routing_id.is_empty() {
            self.by_rid.insert(routing_id, id);
        }
        // SERVER and PEER: libzmq attaches the pipe of a connect at once (IMMEDIATE off),
        // so the peer has its routing id from now on, through reconnects.
        self.assign_srv_id(id);
        id
    }

    /// SERVER and PEER: gives peer `id` the next `u32` routing id, as libzmq does: a
    /// counter started at a random value, skipping 0 (and, beyond libzmq, any id still
    /// in use after the counter wrapped).
    fn assign_srv_id(&mut self, id: PeerId) {
        if !routes_by_u32(self.socket_type) {
            return;
        }
        let rid = loop {
            let rid = self.next_rid;
            self.next_rid = self.next_rid.wrapping_add(1);
            if rid != 0 && !self.by_srv.contains_key(&u64::from(rid)) {
                break rid;
            }
        };
        if let Some(p) = self.peers.get_mut(&id) {
            p.srv_id = rid;
            self.by_srv.insert(u64::from(rid), id);
        }
    }

    /// PROBE_ROUTER is set and applies to this socket type.
    fn probes(&self) -> bool {
        self.opts.probe_router
            && matches!(
                self.socket_type,
                SocketType::Router | SocketType::Dealer | SocketType::Req
            )
    }

    /// What a connection starts with (libzmq's rules): HELLO_MSG (ROUTER, DEALER) first
    /// to the peer on every connection, then PROBE_ROUTER's empty message for a peer entry
    /// made now (`new_entry`; a `connect` entry got it when it was made, and a ROUTER's
    /// reconnection without one had it on its first connection); ROUTER_NOTIFY's
    /// empty message from the peer (network connections only).
    fn greet(&mut self, id: PeerId, new_entry: bool) {
        let st = self.socket_type;
        let probe =
            new_entry && !self.peers.get(&id).is_some_and(|p| p.via.reconnect) && self.probes();
        let hello = sends_hello(st) && !self.opts.hello_msg.is_empty();
        let notify = st == SocketType::Router && self.opts.router_notify & NOTIFY_CONNECT != 0;
        if !(probe || hello || notify) {
            return;
        }
        let hello_msg = self.opts.hello_msg.clone();
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if probe || hello {
            // Ahead of messages encoded for the previous connection too.
            p.requeue_encoded();
        }
        if probe {
            p.out.push_front(Outbound::Msg(Message::from(Bytes::new())));
        }
        if hello {
            p.out.push_front(Outbound::Msg(Message::from(hello_msg)));
        }
        if notify && !p.via.inproc {
            p.inbound.push_back(Message::from(Bytes::new()));
            if !p.in_fq {
                p.in_fq = true;
                self.fq.push_back(id);
            }
        }
    }

    /// The connection of `id` was ended by the peer or the network (not by us) after its
    /// handshake: queues what the options make the application receive from that peer,
    /// as libzmq does, in its order: ROUTER_NOTIFY's empty message (network connections),
    /// DISCONNECT_MSG (ROUTER, accepted connections), HICCUP_MSG (DEALER, network
    /// connections we made). They are queued even at RCVHWM: never lost.
    pub(crate) fn lost(&mut self, id: PeerId) {
        let st = self.socket_type;
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if !p.attached {
            return;
        }
        let opts = &self.opts;
        let before = p.inbound.len();
        // SERVER and PEER: the messages carry the peer's routing id, as delivered ones.
        let srv_id = p.srv_id;
        let stamp = |m: Message| m.with_routing_id(srv_id);
        if st == SocketType::Router && !p.via.inproc && opts.router_notify & NOTIFY_DISCONNECT != 0
        {
            p.inbound.push_back(Message::from(Bytes::new()));
        }
        if gets_disconnect_msg(st) && p.via.accepted && !opts.disconnect_msg.is_empty() {
            let m = stamp(Message::from(opts.disconnect_msg.clone()));
            p.inbound.push_back(m);
        }
        if gets_hiccup_msg(st) && !p.via.accepted && !p.via.inproc && !opts.hiccup_msg.is_empty() {
            let m = stamp(Message::from(opts.hiccup_msg.clone()));
            p.inbound.push_back(m);
        }
        if p.inbound.len() != before && !p.in_fq {
            p.in_fq = true;
            self.fq.push_back(id);
        }
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
        if self.socket_type == SocketType::Radio {
            // Its joins go with the connection; a reconnecting DISH joins again.
            self.radio_forget(id);
        }
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
            let unsubscribed = |topic: &[u8]| {
                let mut m = Vec::with_capacity(topic.len() + 1);
                m.push(0);
                m.extend_from_slice(topic);
                Message::from(m)
            };
            if self.opts.xpub_manual {
                // libzmq reports each topic the peer sent, and forgets the last peer.
                let peers = &mut self.xpub_pending_peers;
                let mut any = false;
                self.manual_subs.remove_peer(id, true, |topic| {
                    if xpub {
                        pending.push_back(unsubscribed(topic));
                        peers.push_back(None);
                        any = true;
                    }
                });
                self.remote_subs.remove_peer(id, true, |_| {});
                if any || self.xpub_last_peer == Some(id) {
                    self.xpub_last_peer = None;
                }
            } else {
                // Topics left without subscriber; with XPUB_VERBOSER each of the peer's.
                let every = self.opts.xpub_verboser;
                self.remote_subs.remove_peer(id, every, |topic| {
                    if xpub {
                        pending.push_back(unsubscribed(topic));
                    }
                });
            }
            p.clear_out();
        }
        if self.socket_type == SocketType::Radio {
            // Nothing waits for a connection that may not come back (its joins went
            // above).
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
        if p.srv_id != 0 && self.by_srv.get(&u64::from(p.srv_id)) == Some(&id) {
            self.by_srv.remove(&u64::from(p.srv_id));
        }
        self.rr.retain(|&x| x != id);
        if p.inbound.is_empty() {
            self.peers.remove(&id);
        }
    }
}
