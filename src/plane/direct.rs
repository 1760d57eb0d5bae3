//! The REQ/REP direct paths: `send` writes to an idle connection itself, and a waiting
//! `recv` takes what it read from a connection it borrowed (see `lease`).

use super::lease::ReadLease;
use super::state::*;
use crate::transport::ConnHandle;
use crate::zmtp::SocketType;
use crate::Message;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;

impl State {
    /// REQ/REP: writes `msg` straight to `id`'s connection when its engine offered it
    /// (nothing queued, nothing being written), else queues it for the engine. A partial
    /// write leaves the rest for the engine to write first; a full socket or an error
    /// queues the whole message (the engine meets the error itself).
    #[inline]
    pub(super) fn send_direct_or_queue(&mut self, id: PeerId, msg: Message, wakes: &mut Wakes) {
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
    #[inline]
    pub(crate) fn offer_direct(
        &mut self,
        id: PeerId,
        writer: &std::sync::Weak<ConnHandle>,
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
    #[inline]
    pub(crate) fn revoke_direct(&mut self, id: PeerId) -> Option<Bytes> {
        let p = self.peers.get_mut(&id)?;
        p.direct = None;
        p.direct_rest.take()
    }

    /// Registers the read side of `id`'s connection for borrowing (REQ/REP).
    #[inline]
    pub(crate) fn set_lease(&mut self, id: PeerId, lease: Arc<ReadLease>) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.lease = Some(lease);
        }
    }

    /// The connection whose next message a waiting REQ/REP `recv` wants, when its read
    /// side may be borrowed: REQ's, the peer it asked; REP's, its only peer (with more,
    /// it must fair-queue among them). Call after `try_recv` found nothing.
    #[inline]
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
    #[inline]
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
    #[inline]
    pub(crate) fn wrote_directly(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.direct_wrote)
    }

    /// Whether the unwritten end of a directly written message waits for `id`'s engine.
    #[inline]
    pub(crate) fn has_direct_rest(&self, id: PeerId) -> bool {
        self.peers.get(&id).is_some_and(|p| p.direct_rest.is_some())
    }
}
