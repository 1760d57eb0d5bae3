//! PUB/XPUB fan-out to matching subscribers, and subscriptions in both directions
//! (SUB/XSUB sending theirs, PUB/XPUB receiving their peers').

use super::state::*;
use crate::zmtp::SocketType;
use crate::Message;
use bytes::Bytes;

/// Whether frame `f` is a subscribe (`Some(true)`) or an unsubscribe (`Some(false)`) when
/// frames are `checked` for subscriptions: its first byte is 1 or 0.
#[inline]
fn subscription_kind(f: &Bytes, checked: bool) -> Option<bool> {
    match f.first() {
        Some(&b) if checked && b <= 1 => Some(b == 1),
        _ => None,
    }
}

impl State {
    /// PUB/XPUB: queue `msg` once per matching subscriber; a subscriber at SNDHWM loses it.
    #[inline]
    pub(super) fn fan_out(&mut self, msg: Message, wakes: &mut Wakes) {
        let topic: &[u8] = msg.first().map_or(&[], |t| &t[..]);
        let mut targets = std::mem::take(&mut self.scratch);
        self.remote_subs.matching(topic, &mut targets);
        self.fan_to(msg, targets, wakes);
    }

    /// `fan_out` under INVERT_MATCHING, XPUB_MANUAL_LAST_VALUE or XPUB_NODROP (kept apart
    /// so that the plain fan-out tests one flag). Under XPUB_NODROP nothing is sent while
    /// a target is at SNDHWM: the message is given back in `back`.
    #[inline(never)]
    pub(super) fn fan_out_special(
        &mut self,
        msg: Message,
        back: &mut Option<Message>,
        wakes: &mut Wakes,
    ) -> Result<(), SendBlock> {
        let topic: &[u8] = msg.first().map_or(&[], |t| &t[..]);
        let mut targets = std::mem::take(&mut self.scratch);
        self.remote_subs.matching(topic, &mut targets);
        if self.opts.xpub_manual && self.opts.xpub_manual_last_value {
            // libzmq: the first send after a subscription was received matches only
            // that subscription's peer; later sends match everyone again (a send that
            // XPUB_NODROP refuses uses the peer up too, as in libzmq).
            if let Some(last) = self.xpub_last_peer.take() {
                targets.retain(|&id| id == last);
            }
        }
        if self.opts.invert_matching {
            // Every peer that takes messages and did not match (`targets` is sorted).
            let mut inverted = std::mem::take(&mut self.inverted);
            inverted.clear();
            let immediate = self.opts.immediate;
            inverted.extend(self.rr.iter().copied().filter(|id| {
                targets.binary_search(id).is_err()
                    && self
                        .peers
                        .get(id)
                        .is_some_and(|p| p.alive && (p.attached || !immediate))
            }));
            self.inverted = std::mem::replace(&mut targets, inverted);
        }
        if self.opts.xpub_nodrop && targets.iter().any(|&id| !self.has_room(id)) {
            self.scratch = targets;
            return Err(bounce_full(back, msg));
        }
        self.count_out(&msg);
        self.fan_to(msg, targets, wakes);
        Ok(())
    }

    /// Queues `msg` to each of `targets` with room (the others lose it); `targets` goes
    /// back to `scratch`.
    #[inline]
    fn fan_to(&mut self, msg: Message, targets: Vec<PeerId>, wakes: &mut Wakes) {
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

    /// SUB/XSUB: drops a subscription reference; the peers hear of it when the last goes
    /// (with XSUB_VERBOSE_UNSUBSCRIBE every time).
    #[inline]
    pub(crate) fn unsubscribe(&mut self, topic: Bytes, wakes: &mut Wakes) {
        if self.local_subs.remove(&topic) || self.opts.xsub_verbose_unsubscribe {
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
        if self.socket_type == SocketType::Radio {
            // A DISH's JOIN/LEAVE.
            return self.on_group(id, subscribe, topic);
        }
        if !is_pub(self.socket_type) {
            return;
        }
        let xpub = self.socket_type == SocketType::XPub;
        let notify = if self.opts.xpub_manual {
            // Recorded, not applied: every one goes up with its peer, and the application
            // applies it (`manual_subscription`).
            if subscribe {
                self.manual_subs.add(topic, id);
            } else {
                self.manual_subs.remove(topic, id);
            }
            if xpub {
                self.xpub_pending_peers.push_back(Some(id));
            }
            xpub
        } else if subscribe {
            let (_, first) = self.remote_subs.add(topic, id);
            // libzmq: the first subscriber of a topic is reported; with XPUB_VERBOSE every
            // subscribe message is, repeated ones included.
            xpub && (first || self.opts.xpub_verbose)
        } else {
            let (removed, last) = self.remote_subs.remove(topic, id);
            // libzmq reports an unsubscribe unless other subscribers keep the topic (so
            // one for a topic the peer did not hold too); with XPUB_VERBOSER always.
            xpub && (!removed || last || self.opts.xpub_verboser)
        };
        if notify {
            let mut m = Vec::with_capacity(topic.len() + 1);
            m.push(subscribe as u8);
            m.extend_from_slice(topic);
            self.xpub_pending.push_back(Message::from(m));
        }
    }

    /// PUB/XPUB: a multipart message from peer `id`, frame by frame as libzmq reads it:
    /// the first frame is a subscribe or unsubscribe when it starts with 1 or 0, and so is
    /// each later such frame unless ONLY_FIRST_SUBSCRIBE is set and the first was data.
    /// The other frames are upstream data, passed up (XPUB) as one message after the
    /// subscriptions.
    pub(super) fn on_multipart(&mut self, id: PeerId, m: Message) {
        let mut data = Message::new();
        let mut process = true;
        for (i, f) in m.into_iter().enumerate() {
            let sub = subscription_kind(&f, i == 0 || process);
            if i == 0 {
                process = !self.opts.only_first_subscribe || sub.is_some();
            }
            match sub {
                Some(on) => self.on_subscription(id, on, &f.slice(1..)),
                None => data.push_back(f),
            }
        }
        if self.socket_type == SocketType::XPub && !data.is_empty() {
            self.xpub_pending.push_back(data);
        }
    }

    /// XSUB: sends a multipart message, frame by frame as libzmq does: frames taken as
    /// subscriptions (by `on_multipart`'s rule) subscribe or unsubscribe, the others go
    /// upstream as one message after them.
    #[inline(never)]
    pub(super) fn xsub_send_multipart(&mut self, msg: Message, wakes: &mut Wakes) {
        let mut data = Message::new();
        let mut process = true;
        for (i, f) in msg.into_iter().enumerate() {
            let sub = subscription_kind(&f, i == 0 || process);
            if i == 0 {
                process = !self.opts.only_first_subscribe || sub.is_some();
            }
            match sub {
                Some(true) => self.subscribe(f.slice(1..), wakes),
                Some(false) => self.unsubscribe(f.slice(1..), wakes),
                None => data.push_back(f),
            }
        }
        if !data.is_empty() {
            self.xsub_upstream(data, wakes);
        }
    }

    /// XPUB_MANUAL: the application's SUBSCRIBE/UNSUBSCRIBE, applied for the peer of the
    /// last subscription message it received (nothing when there is none or it left).
    pub(crate) fn manual_subscription(&mut self, subscribe: bool, topic: &[u8]) {
        if let Some(id) = self.xpub_last_peer {
            if subscribe {
                self.remote_subs.add(topic, id);
            } else {
                self.remote_subs.remove(topic, id);
            }
        }
    }

    /// ZMQ_TOPICS_COUNT: distinct topics subscribed (SUB/XSUB: ours; PUB/XPUB: the
    /// peers' as applied, counted as libzmq 4.3.5 does: a disconnecting peer's topics
    /// stay counted, see `RemoteSubs::counted`).
    pub(crate) fn topics_count(&self) -> usize {
        if is_pub(self.socket_type) {
            self.remote_subs.counted()
        } else {
            self.local_subs.count()
        }
    }
}
