//! The [`ZmqProtocol`] trait: the callbacks a [`ZmqTransport`] makes.

use super::ZmqTransport;
use crate::{Error, Message, MonitorEvent};

/// A socket monitor event as passed to [`ZmqProtocol::event_received`] and returned by
/// [`ZmqStream::read_event`](crate::ZmqStream::read_event): aiozmq's `SocketEvent(event,
/// value, endpoint)`. `event.kind.to_raw()` is libzmq's `ZMQ_EVENT_*` number.
pub type SocketEvent = MonitorEvent;

/// The protocol side of a ZeroMQ connection, aiozmq's `ZmqProtocol`: callbacks that the
/// [`ZmqTransport`] makes. Every method has a default that does nothing.
///
/// The transport makes the calls in order and **never two at once**, as an asyncio event loop
/// would: `connection_made` first, then `msg_received`, `event_received`, `pause_writing`
/// and `resume_writing` in the order the transport decided them, and `connection_lost`
/// last, once. Callbacks take `&self` (the protocol is shared between the transport and the
/// caller of [`create_zmq_connection`](super::create_zmq_connection) in an `Arc`), so keep
/// mutable state in a `Mutex`, atomics or channels.
///
/// A callback may call any method of the transport (for example write a reply from
/// `msg_received`); callbacks that this triggers run right after the current one returns.
/// Callbacks must not block for long: they run on the transport's task or on the thread
/// that called [`ZmqTransport::write`]. A panic in a callback is caught and logged; the
/// transport carries on.
pub trait ZmqProtocol: Send + Sync + 'static {
    /// Called once, before [`create_zmq_connection`](super::create_zmq_connection) binds or
    /// connects. Keep a clone of `transport` to write from other callbacks.
    fn connection_made(&self, transport: &ZmqTransport) {
        let _ = transport;
    }

    /// Called once when the transport is closed: `None` after [`ZmqTransport::close`]
    /// (once the write buffer is flushed) or [`ZmqTransport::abort`], `Some(error)` when a
    /// socket operation failed (the transport then closed itself).
    fn connection_lost(&self, exc: Option<Error>) {
        let _ = exc;
    }

    /// The write buffer went strictly over the high-water mark (see
    /// [`ZmqTransport::set_write_buffer_limits`]). Paired with
    /// [`resume_writing`](Self::resume_writing): never called twice in a row.
    fn pause_writing(&self) {}

    /// The write buffer drained to the low-water mark or below after a
    /// [`pause_writing`](Self::pause_writing).
    fn resume_writing(&self) {}

    /// A message arrived: every frame of one multipart message (at least one frame).
    fn msg_received(&self, msg: Message) {
        let _ = msg;
    }

    /// A socket monitor event, after [`ZmqTransport::enable_monitor`].
    fn event_received(&self, event: SocketEvent) {
        let _ = event;
    }
}
