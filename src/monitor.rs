//! Socket monitor events, with libzmq's names and numbers.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A monitor event kind (libzmq's `ZMQ_EVENT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// ZMQ_EVENT_CONNECTED: an outgoing connection was established (value: fd).
    Connected,
    /// ZMQ_EVENT_CONNECT_DELAYED: a connect is in progress (value: errno).
    ConnectDelayed,
    /// ZMQ_EVENT_CONNECT_RETRIED: a reconnect is scheduled (value: interval in ms).
    ConnectRetried,
    /// ZMQ_EVENT_LISTENING: a bind succeeded (value: fd).
    Listening,
    /// ZMQ_EVENT_BIND_FAILED (value: errno).
    BindFailed,
    /// ZMQ_EVENT_ACCEPTED: a connection was accepted (value: fd).
    Accepted,
    /// ZMQ_EVENT_ACCEPT_FAILED (value: errno).
    AcceptFailed,
    /// ZMQ_EVENT_CLOSED: a listener or connection was closed (value: fd).
    Closed,
    /// ZMQ_EVENT_CLOSE_FAILED (value: errno).
    CloseFailed,
    /// ZMQ_EVENT_DISCONNECTED: a session ended unexpectedly (value: fd).
    Disconnected,
    /// ZMQ_EVENT_MONITOR_STOPPED: the monitor was stopped; the last event.
    MonitorStopped,
    /// ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL (value: errno).
    HandshakeFailedNoDetail,
    /// ZMQ_EVENT_HANDSHAKE_SUCCEEDED (value: 0).
    HandshakeSucceeded,
    /// ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL (value: a `ZMQ_PROTOCOL_ERROR_*` code).
    HandshakeFailedProtocol,
    /// ZMQ_EVENT_HANDSHAKE_FAILED_AUTH (value: the ZAP status code).
    HandshakeFailedAuth,
}

impl EventKind {
    /// Every kind, in libzmq's numeric order.
    pub const ALL: [EventKind; 15] = [
        EventKind::Connected,
        EventKind::ConnectDelayed,
        EventKind::ConnectRetried,
        EventKind::Listening,
        EventKind::BindFailed,
        EventKind::Accepted,
        EventKind::AcceptFailed,
        EventKind::Closed,
        EventKind::CloseFailed,
        EventKind::Disconnected,
        EventKind::MonitorStopped,
        EventKind::HandshakeFailedNoDetail,
        EventKind::HandshakeSucceeded,
        EventKind::HandshakeFailedProtocol,
        EventKind::HandshakeFailedAuth,
    ];

    /// libzmq's numeric value (`ZMQ_EVENT_CONNECTED` = 1, ...).
    pub fn to_raw(self) -> u16 {
        1 << EventKind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The kind for libzmq's numeric value.
    pub fn from_raw(raw: u16) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.to_raw() == raw)
    }

    /// libzmq's name without the prefix (`"CONNECTED"`).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Connected => "CONNECTED",
            EventKind::ConnectDelayed => "CONNECT_DELAYED",
            EventKind::ConnectRetried => "CONNECT_RETRIED",
            EventKind::Listening => "LISTENING",
            EventKind::BindFailed => "BIND_FAILED",
            EventKind::Accepted => "ACCEPTED",
            EventKind::AcceptFailed => "ACCEPT_FAILED",
            EventKind::Closed => "CLOSED",
            EventKind::CloseFailed => "CLOSE_FAILED",
            EventKind::Disconnected => "DISCONNECTED",
            EventKind::MonitorStopped => "MONITOR_STOPPED",
            EventKind::HandshakeFailedNoDetail => "HANDSHAKE_FAILED_NO_DETAIL",
            EventKind::HandshakeSucceeded => "HANDSHAKE_SUCCEEDED",
            EventKind::HandshakeFailedProtocol => "HANDSHAKE_FAILED_PROTOCOL",
            EventKind::HandshakeFailedAuth => "HANDSHAKE_FAILED_AUTH",
        }
    }
}

/// libzmq's `ZMQ_PROTOCOL_ERROR_*` codes carried by [`EventKind::HandshakeFailedProtocol`].
pub mod protocol_error {
    /// ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED
    pub const ZMTP_UNSPECIFIED: u32 = 0x1000_0000;
    /// ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND
    pub const ZMTP_UNEXPECTED_COMMAND: u32 = 0x1000_0001;
    /// ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED
    pub const ZMTP_MALFORMED_COMMAND_UNSPECIFIED: u32 = 0x1000_0011;
    /// ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR
    pub const ZMTP_MALFORMED_COMMAND_ERROR: u32 = 0x1000_0015;
    /// ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY
    pub const ZMTP_MALFORMED_COMMAND_READY: u32 = 0x1000_0016;
    /// ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA
    pub const ZMTP_INVALID_METADATA: u32 = 0x1000_0018;
    /// ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
    pub const ZMTP_MECHANISM_MISMATCH: u32 = 0x1100_0002;
}

/// One monitor event: what happened, a number whose meaning depends on the kind, and the
/// endpoint it happened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEvent {
    /// What happened.
    pub kind: EventKind,
    /// The event's value (fd, errno, interval, or protocol error code; see [`EventKind`]).
    pub value: u32,
    /// The endpoint.
    pub endpoint: String,
    /// For handshake failures and disconnects: a readable reason.
    pub reason: Option<String>,
}

#[derive(Debug)]
struct QueueInner {
    events: VecDeque<MonitorEvent>,
    dropped: u64,
    closed: bool,
    /// The consumer waiting for the next event (one `Monitor` reads each queue).
    waker: Option<Waker>,
}

/// Shared between the socket (producer) and one [`Monitor`] (consumer).
#[derive(Debug)]
pub(crate) struct EventQueue {
    inner: Mutex<QueueInner>,
    backlog: usize,
    /// The `Monitor` was dropped: nobody reads this queue any more.
    detached: std::sync::atomic::AtomicBool,
}

impl EventQueue {
    pub(crate) fn new(backlog: usize) -> Arc<Self> {
        Arc::new(EventQueue {
            inner: Mutex::new(QueueInner {
                events: VecDeque::new(),
                dropped: 0,
                closed: false,
                waker: None,
            }),
            backlog: backlog.max(1),
            detached: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn push(&self, ev: MonitorEvent) {
        let mut q = self.inner.lock().unwrap();
        if q.closed {
            return;
        }
        if q.events.len() >= self.backlog {
            q.events.pop_front();
            q.dropped += 1;
        }
        q.events.push_back(ev);
        let waker = q.waker.take();
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(crate) fn close(&self, endpoint: String) {
        let mut q = self.inner.lock().unwrap();
        if q.closed {
            return;
        }
        if q.events.len() >= self.backlog {
            q.events.pop_front();
            q.dropped += 1;
        }
        q.events.push_back(MonitorEvent {
            kind: EventKind::MonitorStopped,
            value: 0,
            endpoint,
            reason: None,
        });
        q.closed = true;
        let waker = q.waker.take();
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A stream of a socket's monitor events, from [`Socket::monitor`](crate::Socket::monitor).
///
/// The backlog is bounded: when the consumer falls behind, the oldest events are dropped
/// and counted ([`dropped`](Monitor::dropped)). After the socket closes (or
/// [`Socket::disable_monitor`](crate::Socket::disable_monitor)), a final
/// [`EventKind::MonitorStopped`] arrives and then `recv` returns `None`.
#[derive(Debug)]
pub struct Monitor {
    pub(crate) queue: Arc<EventQueue>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        // The socket stops filling this queue at its next event.
        self.queue
            .detached
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Monitor {
    /// The next event; `None` after MONITOR_STOPPED was delivered.
    ///
    /// # Cancel safety
    /// Cancel-safe: an event is removed only when this returns it.
    pub async fn recv(&mut self) -> Option<MonitorEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event: `Ready(Some(event))`, `Ready(None)` after MONITOR_STOPPED
    /// was delivered, or `Pending` (the task is woken by the next event). An event is
    /// removed only when it is returned.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        let mut q = self.queue.inner.lock().unwrap();
        if let Some(ev) = q.events.pop_front() {
            return Poll::Ready(Some(ev));
        }
        if q.closed {
            return Poll::Ready(None);
        }
        if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            q.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// An event if one is queued.
    pub fn try_recv(&mut self) -> Option<MonitorEvent> {
        self.queue.inner.lock().unwrap().events.pop_front()
    }

    /// How many events were dropped because the backlog was full.
    pub fn dropped(&self) -> u64 {
        self.queue.inner.lock().unwrap().dropped
    }
}

/// The events, as [`Monitor::recv`] returns them: the stream ends after
/// [`EventKind::MonitorStopped`] (when the socket closes or
/// [`Socket::disable_monitor`](crate::Socket::disable_monitor) is called). Cancel-safe: an
/// event leaves the queue only in the poll that yields it, so a dropped `next()` loses
/// nothing.
impl futures_core::Stream for Monitor {
    type Item = MonitorEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        self.get_mut().poll_recv(cx)
    }
}

impl futures_core::FusedStream for Monitor {
    fn is_terminated(&self) -> bool {
        let q = self.queue.inner.lock().unwrap();
        q.closed && q.events.is_empty()
    }
}
