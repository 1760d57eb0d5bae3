//! Peers coming and going: a connect-side entry made by `connect`, a connection
//! attached after its handshake (ROUTER routing ids and handover, the one PAIR peer), and
//! detached when it ends.

use super::state::*;
use crate::zmtp::SocketType;
use crate::Message;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

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
                peer.endpoint = endpoint.to_string();
                let id = self.add_peer(peer);
                if routes {
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
}
