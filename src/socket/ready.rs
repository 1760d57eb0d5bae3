//! Readiness without taking anything: libzmq's `ZMQ_EVENTS` ([`Socket::events`]) and a
//! wait for it ([`Socket::ready`]), on which `zmq_poll`-style polling is built.

use super::Socket;
use crate::plane::state::State;
use crate::Result;
use std::fmt;
use std::future::Future;
use std::ops::{BitAnd, BitOr, BitOrAssign};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

/// What a socket is ready for: libzmq's `ZMQ_POLLIN` and `ZMQ_POLLOUT` bits (with their
/// values, 1 and 2).
///
/// ```
/// use aiozmq::socket::PollEvents;
/// let both = PollEvents::POLLIN | PollEvents::POLLOUT;
/// assert!(both.contains(PollEvents::POLLOUT));
/// assert_eq!(both.bits(), 3);
/// assert!((both & PollEvents::POLLIN).is_readable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PollEvents(i16);

impl PollEvents {
    /// `ZMQ_POLLIN`: a receive would return a message now.
    pub const POLLIN: PollEvents = PollEvents(1);
    /// `ZMQ_POLLOUT`: a send would queue a message now.
    pub const POLLOUT: PollEvents = PollEvents(2);

    /// No event.
    pub const fn empty() -> PollEvents {
        PollEvents(0)
    }

    /// The libzmq bits (`ZMQ_POLLIN` = 1, `ZMQ_POLLOUT` = 2).
    pub const fn bits(self) -> i16 {
        self.0
    }

    /// The events of libzmq's bits; other bits (`ZMQ_POLLERR`, `ZMQ_POLLPRI`) are dropped.
    pub const fn from_bits_truncate(bits: i16) -> PollEvents {
        PollEvents(bits & 3)
    }

    /// No event set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every event of `other` is set in `self`.
    pub const fn contains(self, other: PollEvents) -> bool {
        self.0 & other.0 == other.0
    }

    /// `POLLIN` is set.
    pub const fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// `POLLOUT` is set.
    pub const fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl BitOr for PollEvents {
    type Output = PollEvents;
    fn bitor(self, rhs: PollEvents) -> PollEvents {
        PollEvents(self.0 | rhs.0)
    }
}

impl BitOrAssign for PollEvents {
    fn bitor_assign(&mut self, rhs: PollEvents) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for PollEvents {
    type Output = PollEvents;
    fn bitand(self, rhs: PollEvents) -> PollEvents {
        PollEvents(self.0 & rhs.0)
    }
}

impl fmt::Debug for PollEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (false, false) => f.write_str("(empty)"),
            (true, false) => f.write_str("POLLIN"),
            (false, true) => f.write_str("POLLOUT"),
            (true, true) => f.write_str("POLLIN | POLLOUT"),
        }
    }
}

/// Counts a waiting [`Socket::ready`] for as long as it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Socket {
    /// libzmq's `ZMQ_EVENTS`: what the socket is ready for now, taking nothing. `POLLIN`:
    /// [`try_recv`](Self::try_recv) would return a message; `POLLOUT`:
    /// [`try_send`](Self::try_send) would not fail with `EAGAIN`. As in libzmq, a REQ
    /// that owes no reply and a REP that owes one are not readable, a REQ awaiting its
    /// reply is not writable (unless REQ_RELAXED), PUB and PUSH are never readable, SUB
    /// and PULL never writable; PUB, XPUB, XSUB and ROUTER (without ROUTER_MANDATORY)
    /// are always writable, as they drop what they cannot queue.
    ///
    /// Errors: `ETERM` once the socket is closed.
    pub fn events(&self) -> Result<PollEvents> {
        // Both locks at once (the batch first, the documented order): a receive moving
        // messages from the state into the batch is then seen on one side or the other.
        let batch = self.shared.recv_batch.lock().unwrap();
        let batched = State::batches_recv(self.socket_type) && !batch.is_empty();
        let st = self.shared.state.lock().unwrap();
        drop(batch);
        if st.closed {
            return Err(crate::Error::closed());
        }
        let mut ev = PollEvents::empty();
        if batched || st.readable() {
            ev |= PollEvents::POLLIN;
        }
        if st.writable() {
            ev |= PollEvents::POLLOUT;
        }
        Ok(ev)
    }

    /// Waits until the socket is ready for any event of `interest` (see
    /// [`events`](Self::events)) and returns the events of `interest` it is ready for.
    /// It takes nothing: another receiver or sender may act before the caller does, so
    /// the following `try_recv`/`try_send` can still meet `EAGAIN`. With an empty
    /// `interest` it waits until the socket is closed.
    ///
    /// Errors: `ETERM` once the socket is closed (also while waiting).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits, and takes no message.
    pub async fn ready(&self, interest: PollEvents) -> Result<PollEvents> {
        let _waiting = Waiting::new(&self.ready_waiters);
        loop {
            let recv = self.shared.recv_ready.notified();
            let send = self.shared.send_ready.notified();
            tokio::pin!(recv, send);
            recv.as_mut().enable();
            send.as_mut().enable();
            let now = self.events()? & interest;
            if !now.is_empty() {
                return Ok(now);
            }
            // Deliveries and closing wake `recv_ready`, room and new peers `send_ready`,
            // and this socket's own REQ/REP turns both (`turned`).
            std::future::poll_fn(|cx| {
                let r = recv.as_mut().poll(cx).is_ready();
                let s = send.as_mut().poll(cx).is_ready();
                if r || s {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
    }

    /// A REQ or REP send or receive succeeded: its readiness changed with no delivery or
    /// room to signal it (a REP owing a reply became writable, a REQ with its reply
    /// writable again), so waiting `ready` calls are woken to look again.
    #[inline]
    pub(super) fn turned(&self) {
        if matches!(
            self.socket_type,
            crate::SocketType::Req | crate::SocketType::Rep
        ) && self.ready_waiters.load(Ordering::SeqCst) != 0
        {
            self.shared.recv_ready.notify_waiters();
            self.shared.send_ready.notify_waiters();
        }
    }
}
