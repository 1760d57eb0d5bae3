//! PUB/XPUB fan-out to matching subscribers, and subscriptions in both directions
//! (SUB/XSUB sending theirs, PUB/XPUB receiving their peers').

use super::state::*;
use crate::zmtp::SocketType;
use crate::Message;
use bytes::Bytes;

impl State {
    /// PUB/XPUB: queue `msg` once per matching subscriber; a subscriber at SNDHWM loses it.
    #[inline]
    pub(super) fn fan_out(&mut self, msg: Message, wakes: &mut Wakes) {
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
    #[inline]
    pub(crate) fn subscribe(&mut self, topic: Bytes, wakes: &mut Wakes) {
        self.local_subs.add(&topic);
        // libzmq sends every subscribe upstream (XPUB filters duplicates).
        self.broadcast_sub(true, topic, wakes);
    }

    /// SUB/XSUB: drops a subscription reference; the peers hear of it when the last goes.
    #[inline]
    pub(crate) fn unsubscribe(&mut self, topic: Bytes, wakes: &mut Wakes) {
        if self.local_subs.remove(&topic) {
            self.broadcast_sub(false, topic, wakes);
        }
    }

    #[inline]
    pub(super) fn broadcast_sub(&mut self, subscribe: bool, topic: Bytes, wakes: &mut Wakes) {
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

    /// A subscription change from peer `id` (3.1 command or 3.0 message form).
    #[inline]
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
}
