//! The send rule of each socket type (table in `state`): round-robin, routing by
//! routing id, REQ/REP envelopes, and the engine taking what waits to be sent.

use super::state::*;
use crate::zmtp::SocketType;
use crate::zmtp::WriteBuf;
use crate::{Error, ErrorKind, Message, Result};
use bytes::Bytes;
use std::collections::VecDeque;

impl State {
    // ---- send side ------------------------------------------------------------------

    #[inline]
    pub(super) fn has_room(&self, id: PeerId) -> bool {
        self.peers
            .get(&id)
            .is_some_and(|p| peer_has_room(p, &self.opts))
    }

    /// Whether [`try_send`](Self::try_send) would take a message now without `EAGAIN`
    /// (libzmq's POLLOUT): a round-robin peer with room (DEALER, PUSH, PAIR, and REQ when
    /// no reply is owed or REQ_RELAXED), a request to answer (REP), always for the types
    /// that drop what they cannot queue (PUB, XPUB, XSUB, and ROUTER unless
    /// ROUTER_MANDATORY, where some peer must have room), always for STREAM, SERVER and
    /// PEER (whether a message goes depends on its peer, as libzmq says), a round-robin
    /// peer with room for CLIENT, SCATTER and CHANNEL, never for SUB, PULL and GATHER.
    pub(crate) fn writable(&self) -> bool {
        let rr_room = || {
            self.rr.iter().any(|id| {
                self.peers
                    .get(id)
                    .is_some_and(|p| peer_has_room(p, &self.opts))
            })
        };
        match self.socket_type {
            SocketType::Dealer | SocketType::Push | SocketType::Pair | SocketType::Dgram => {
                rr_room()
            }
            SocketType::Req => (self.req.awaiting.is_none() || self.opts.req_relaxed) && rr_room(),
            SocketType::Rep => self.rep.pending.is_some(),
            SocketType::Router => {
                !self.opts.router_mandatory || self.by_rid.values().any(|id| self.has_room(*id))
            }
            SocketType::Pub | SocketType::XPub | SocketType::XSub | SocketType::Stream => true,
            // libzmq: a RADIO drops what a peer cannot take; a DISH says it can always
            // "send" (its joins), though `send` is ENOTSUP.
            SocketType::Radio | SocketType::Dish => true,
            SocketType::Sub | SocketType::Pull => false,
            SocketType::Client | SocketType::Scatter | SocketType::Channel => rr_room(),
            // libzmq: whether a send succeeds depends on the peer it names.
            SocketType::Server | SocketType::Peer => true,
            SocketType::Gather => false,
        }
    }

    /// Queues `item` to `id`; adds the engine's wake-up to `wakes` when the queue was empty.
    #[inline]
    pub(super) fn push_out(&mut self, id: PeerId, item: Outbound, wakes: &mut Wakes) {
        let conflate = self.opts.conflate;
        if let Some(p) = self.peers.get_mut(&id) {
            push_to(p, item, conflate, wakes);
        }
    }

    /// Picks the next round-robin peer with room.
    #[inline]
    pub(super) fn next_rr(&mut self) -> Option<PeerId> {
        let opts = &self.opts;
        pick_rr(&self.rr, &mut self.rr_next, &self.peers, |p| {
            peer_has_room(p, opts)
        })
    }

    /// DEALER, PUSH, PAIR: queues `msg` on the next round-robin peer with room.
    /// One map lookup per peer tried: the room check and the push share it. The message
    /// is encoded from `slot` (or moved once from there into the queue); without a peer
    /// it stays in `slot`.
    // Always inlined: DEALER, PUSH and PAIR send through it, and as a call it costs about
    // a fifth of a small message's send.
    #[inline(always)]
    pub(super) fn send_rr(
        &mut self,
        slot: &mut Option<Message>,
        wakes: &mut Wakes,
    ) -> Result<(), SendBlock> {
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

    #[inline]
    pub(super) fn count_out(&mut self, msg: &Message) {
        self.counters.messages_out += 1;
        self.counters.bytes_out += msg.byte_len() as u64;
    }

    /// Tries to queue the message in `slot` according to the socket type; engine
    /// wake-ups to signal (outside the lock) are added to `wakes`. The message is taken
    /// from `slot` when it is queued (or dropped by the socket's rules) and stays there
    /// when the result is an error. Taking it by reference keeps the round-robin path to
    /// one move of the message, from the caller's slot into the queue: every move of a
    /// message just built stalled on store forwarding.
    #[inline]
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
    #[inline]
    pub(super) fn send_other(
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
            SocketType::Stream => self.send_stream(msg, back, wakes),
            SocketType::Radio => self.send_radio(msg, back, wakes),
            SocketType::Dgram => {
                if let Err(e) = check_dgram(&msg) {
                    return Err(bounce_err(back, e, msg));
                }
                *back = Some(msg);
                self.send_rr(back, wakes)
            }
            SocketType::Server
            | SocketType::Peer
            | SocketType::Client
            | SocketType::Scatter
            | SocketType::Channel => self.send_single_frame(msg, back, wakes),
            SocketType::Pub | SocketType::XPub => {
                if self.opts.fan_out_special() {
                    return self.fan_out_special(msg, back, wakes);
                }
                self.count_out(&msg);
                self.fan_out(msg, wakes);
                Ok(())
            }
            SocketType::XSub => {
                if msg.len() > 1 {
                    self.xsub_send_multipart(msg, wakes);
                    return Ok(());
                }
                let first = msg.first().cloned().unwrap_or_default();
                match first.first() {
                    Some(&1) => self.subscribe(first.slice(1..), wakes),
                    Some(&0) => self.unsubscribe(first.slice(1..), wakes),
                    _ => self.xsub_upstream(msg, wakes),
                }
                Ok(())
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

    /// XSUB: a message that is not a subscription goes upstream to every publisher with
    /// room.
    #[inline(never)]
    pub(super) fn xsub_upstream(&mut self, msg: Message, wakes: &mut Wakes) {
        self.count_out(&msg);
        let ids: Vec<PeerId> = self.rr.clone();
        for id in ids {
            if self.has_room(id) {
                self.push_out(id, Outbound::Msg(msg.clone()), wakes);
            } else {
                self.counters.dropped_hwm += 1;
            }
        }
    }

    /// The single-frame types (libzmq's draft types): more than one frame is `EINVAL`
    /// (libzmq refuses a frame sent with SNDMORE). CLIENT, SCATTER and CHANNEL then send
    /// round-robin (CHANNEL has one peer); SERVER and PEER send to the peer the message's
    /// routing id names: none or an unknown one is `EHOSTUNREACH`, a peer at SNDHWM
    /// blocks (libzmq's `EAGAIN`). The routing id is cleared on the way, as libzmq
    /// does, so an in-process receiver never sees ours.
    // Kept out of `send`, so that the classic types' paths stay as small as before.
    #[inline(never)]
    pub(super) fn send_single_frame(
        &mut self,
        mut msg: Message,
        back: &mut Option<Message>,
        wakes: &mut Wakes,
    ) -> Result<(), SendBlock> {
        if msg.len() != 1 {
            let e = Error::inval(format!(
                "{} sockets send single-frame messages only, not {} frames",
                self.socket_type,
                msg.len()
            ));
            return Err(bounce_err(back, e, msg));
        }
        if !routes_by_u32(self.socket_type) {
            *back = Some(msg);
            return self.send_rr(back, wakes);
        }
        let Some(id) = msg
            .routing_id()
            .and_then(|rid| self.by_srv.get(&u64::from(rid)).copied())
        else {
            let e = Error::new(
                ErrorKind::HostUnreachable,
                match msg.routing_id() {
                    Some(rid) => format!("no peer with routing id {rid}"),
                    None => format!("a {} message needs a routing id", self.socket_type),
                },
            );
            return Err(bounce_err(back, e, msg));
        };
        if !self.has_room(id) {
            return Err(bounce_full(back, msg));
        }
        msg.set_routing_id(0);
        self.count_out(&msg);
        self.push_out(id, Outbound::Msg(msg), wakes);
        Ok(())
    }

    /// STREAM: `[routing id, data]` writes `data` raw to that peer's connection; an empty
    /// `data` closes the connection once what was queued before is written (the id is
    /// then unknown at once). An unknown id is `EHOSTUNREACH` and a full peer blocks, as
    /// with libzmq, which has no ROUTER_MANDATORY on STREAM. A lone routing id is
    /// silently dropped (libzmq ignores a prefix with nothing after it); more than two
    /// frames are `EINVAL`, since each data frame needs its own routing id.
    // Kept out of `send`, so that the other types' paths stay as small as before.
    #[inline(never)]
    pub(super) fn send_stream(
        &mut self,
        mut msg: Message,
        back: &mut Option<Message>,
        wakes: &mut Wakes,
    ) -> Result<(), SendBlock> {
        if msg.len() == 1 {
            self.counters.dropped_unroutable += 1;
            return Ok(());
        }
        if msg.len() != 2 {
            return Err(bounce_err(
                back,
                Error::inval(format!(
                    "a STREAM message is [routing id, data], not {} frames",
                    msg.len()
                )),
                msg,
            ));
        }
        let rid = msg.first().cloned().unwrap_or_default();
        let Some(id) = self.by_rid.get(&rid).copied() else {
            return Err(bounce_err(
                back,
                Error::new(
                    ErrorKind::HostUnreachable,
                    format!("no peer with routing id {:?}", rid),
                ),
                msg,
            ));
        };
        if !self.has_room(id) {
            return Err(bounce_full(back, msg));
        }
        msg.pop_front();
        if msg.first().is_some_and(|d| d.is_empty()) {
            // The connection closes: nothing more can be routed to it.
            self.by_rid.remove(&rid);
        } else {
            self.count_out(&msg);
        }
        self.push_out(id, Outbound::Msg(msg), wakes);
        Ok(())
    }

    /// For a network engine: the messages `send` encoded for `id` (swapped with
    /// `transmit`, which must then be empty), then up to `max` outbound items into `dst`
    /// (which must be empty), as [`pull_out`](Self::pull_out) does. While encoded messages
    /// wait and `transmit` is not empty, nothing is taken: the items are younger. Returns
    /// whether the queue was full before (senders waiting must be woken).
    #[inline]
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
    #[inline]
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
}

/// DGRAM: a message is exactly the destination (`ip:port`) and the body, as libzmq 4.3.5
/// takes it (a first frame without MORE, or a third frame, is `EINVAL`). An address that
/// does not parse is `EINVAL` too; libzmq would take the message and drop it unsent.
fn check_dgram(msg: &Message) -> Result<()> {
    if msg.len() != 2 {
        return Err(Error::inval(format!(
            "a DGRAM message is two frames, the address and the body, not {}",
            msg.len()
        )));
    }
    let addr = &msg[0];
    if crate::transport::udp::parse_dgram_address(addr).is_none() {
        return Err(Error::inval(format!(
            "a DGRAM destination is ip:port with a port above 0, not {:?}",
            String::from_utf8_lossy(addr)
        )));
    }
    Ok(())
}

/// Whether `send` waits (or says `EAGAIN`) while the peer a message would go to has no
/// room, rather than dropping the message: only such a socket's TCP connections keep their
/// backlog out of the kernel ([`NOTSENT_LOWAT`](crate::transport::tcp::NOTSENT_LOWAT)), for
/// nothing is lost by it.
pub(super) fn send_waits_for_room(t: SocketType) -> bool {
    use SocketType::*;
    matches!(t, Dealer | Push | Pair | Req | Client | Scatter | Channel)
}

/// Whether a connection, woken with output after being idle, steps aside once (one turn
/// of the runtime) before taking it: PUB and XPUB, whose one send queues a message to
/// every subscriber's connection at once. Taking each message as it came made the
/// subscribers, once they kept up, read and wake every few messages, and the publisher's
/// worker threads wake each other at every write; stepping aside lets a publishing burst
/// go out in fewer, larger writes, at the cost of one turn before the first message after
/// a pause.
pub(crate) fn coalesces_writes(t: SocketType) -> bool {
    is_pub(t)
}

#[cfg(test)]
mod tests {
    use super::{coalesces_writes, send_waits_for_room};
    use crate::zmtp::SocketType::{self, *};

    #[test]
    fn only_types_whose_send_waits_for_room_keep_their_backlog_out_of_the_kernel() {
        // By each type's send rule (see `State::writable` and `try_send`): a full peer
        // makes these wait...
        for t in [Dealer, Push, Pair, Req, Client, Scatter, Channel] {
            assert!(send_waits_for_room(t), "{t:?}");
        }
        // ...these drop the message or fail for that peer alone, or send nothing
        // (subscriptions and joins aside), or are not TCP (DGRAM).
        let others: [SocketType; 14] = [
            Pub, XPub, XSub, Router, Rep, Stream, Radio, Server, Peer, Sub, Pull, Gather, Dish,
            Dgram,
        ];
        for t in others {
            assert!(!send_waits_for_room(t), "{t:?}");
        }
    }

    #[test]
    fn only_pub_and_xpub_connections_coalesce_their_writes() {
        for t in [Pub, XPub] {
            assert!(coalesces_writes(t), "{t:?}");
        }
        let others: [SocketType; 19] = [
            Dealer, Push, Pair, Req, Client, Scatter, Channel, XSub, Router, Rep, Stream, Radio,
            Server, Peer, Sub, Pull, Gather, Dish, Dgram,
        ];
        for t in others {
            assert!(!coalesces_writes(t), "{t:?}");
        }
    }
}
