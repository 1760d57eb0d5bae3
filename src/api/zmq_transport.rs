//! [`ZmqTransport`]: aiozmq's transport over a [`Socket`], with a write buffer, flow
//! control and protocol callbacks.
//!
//! # How it works
//! One background task per transport (the *driver*) receives messages and monitor events
//! and hands them to the protocol, and drains the write buffer into the socket. Protocol
//! callbacks go through one queue: whoever queues a callback runs the queue unless someone
//! else already does (a trampoline), so callbacks run one at a time, in the order they
//! were decided, and a callback that calls back into the transport never deadlocks.

use super::protocol::{SocketEvent, ZmqProtocol};
use crate::socket::sockopt::{self, opt, OptValue};
use crate::{Error, ErrorKind, Message, Monitor, Result, Socket, SocketType};
use bytes::Bytes;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use tokio::sync::Notify;

/// The default high-water mark of the write buffer (aiozmq's: 64 KiB); the low-water mark
/// defaults to a quarter of the high one.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// Unread events the transport's own socket monitor keeps (the driver hands them to the
/// protocol as they come, so this is only reached while a callback blocks).
const MONITOR_BACKLOG: usize = 4096;

/// A value of [`ZmqTransport::get_extra_info`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ExtraInfo {
    /// `"zmq_socket"`: the socket under the transport.
    ZmqSocket(Arc<Socket>),
    /// `"zmq_type"`: the socket's type.
    ZmqType(SocketType),
}

enum Callback {
    Made,
    Msg(Message),
    Event(SocketEvent),
    Pause,
    Resume,
    Lost(Option<Error>),
}

struct Buffered {
    id: u64,
    len: usize,
    msg: Message,
}

struct State {
    protocol: Option<Arc<dyn ZmqProtocol>>,
    callbacks: VecDeque<Callback>,
    dispatching: bool,
    /// Messages and events queued for the protocol and not yet handed over.
    pending_input: usize,

    buffer: VecDeque<Buffered>,
    buffer_size: usize,
    next_id: u64,
    high_water: usize,
    low_water: usize,
    protocol_paused: bool,
    flush_wakers: Vec<Waker>,

    reading_paused: bool,
    /// A message received just as reading was paused; handed over on resume.
    held: Option<Message>,
    /// Messages taken by the socket so far (direct writes and the driver's sends).
    sends: u64,
    /// `recv` failed with EFSM (REQ before a request, REP before its reply) when `sends`
    /// had this value: do not receive again until something was sent, as libzmq does not
    /// report POLLIN in that state.
    fsm_blocked_at: Option<u64>,
    /// The socket type cannot receive (PUB, PUSH): never read.
    unreadable: bool,

    /// `close` or `abort` was called, or a fatal error happened.
    closing: bool,
    /// Writes fail from now on.
    write_closed: bool,
    /// Set by `abort` and fatal errors: the argument for `connection_lost`.
    force_exc: Option<Option<Error>>,
    /// `connection_lost` is queued: no other callback is queued after it.
    lost_queued: bool,
    lost_delivered: bool,
    socket_closed: bool,
    closed_wakers: Vec<Waker>,

    bindings: Vec<String>,
    connections: Vec<String>,
    subscriptions: Vec<Bytes>,
    last_endpoint: String,

    monitor_enabled: bool,
    monitor_epoch: u64,
    monitor_mask: u32,
    new_monitor: Option<Monitor>,
}

impl State {
    fn push(&mut self, cb: Callback) {
        if self.lost_queued {
            return;
        }
        if matches!(cb, Callback::Msg(_) | Callback::Event(_)) {
            self.pending_input += 1;
        }
        self.callbacks.push_back(cb);
    }

    fn maybe_pause(&mut self) {
        if self.buffer_size > self.high_water && !self.protocol_paused {
            self.protocol_paused = true;
            self.push(Callback::Pause);
        }
    }

    fn maybe_resume(&mut self) {
        if self.protocol_paused && self.buffer_size <= self.low_water {
            self.protocol_paused = false;
            self.push(Callback::Resume);
        }
    }

    fn wake_flush(&mut self) {
        for w in self.flush_wakers.drain(..) {
            w.wake();
        }
    }

    /// Stops the monitor. The socket's monitor is stopped under the transport's lock, so
    /// that a concurrent `enable_monitor` cannot have its new monitor stopped.
    fn stop_monitor(&mut self, socket: &Socket) {
        let was = self.monitor_enabled;
        self.monitor_enabled = false;
        self.monitor_epoch += 1;
        self.new_monitor = None;
        if was {
            socket.disable_monitor();
        }
    }

    /// aiozmq's `_force_close`: drops the buffer and ends the transport with `exc`.
    fn force_close(&mut self, exc: Option<Error>, socket: &Socket) {
        if self.lost_queued || self.force_exc.is_some() {
            return;
        }
        self.buffer.clear();
        self.buffer_size = 0;
        self.closing = true;
        self.write_closed = true;
        self.held = None;
        self.force_exc = Some(exc);
        self.wake_flush();
        self.stop_monitor(socket);
    }
}

pub(crate) struct Inner {
    socket: Arc<Socket>,
    socket_type: SocketType,
    state: Mutex<State>,
    /// Wakes the driver (notify_one: a permit is kept when it is busy).
    changed: Notify,
    /// A dispatch round ended (the driver waits for its input to be handed over).
    dispatched: Notify,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock, so poisoning cannot leave bad state; never
        // turn it into a panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs queued protocol callbacks unless another caller already does.
    fn dispatch(self: &Arc<Self>) {
        {
            let mut st = self.lock();
            if st.dispatching {
                return;
            }
            st.dispatching = true;
        }
        loop {
            let (cb, protocol) = {
                let mut st = self.lock();
                let Some(cb) = st.callbacks.pop_front() else {
                    st.dispatching = false;
                    break;
                };
                if matches!(cb, Callback::Msg(_) | Callback::Event(_)) {
                    st.pending_input -= 1;
                    if st.closing {
                        // "No more data will be received" once closing.
                        continue;
                    }
                }
                (cb, st.protocol.clone())
            };
            let lost = matches!(cb, Callback::Lost(_));
            if let Some(p) = protocol {
                let transport = ZmqTransport {
                    inner: self.clone(),
                };
                let name = match &cb {
                    Callback::Made => "connection_made",
                    Callback::Msg(_) => "msg_received",
                    Callback::Event(_) => "event_received",
                    Callback::Pause => "pause_writing",
                    Callback::Resume => "resume_writing",
                    Callback::Lost(_) => "connection_lost",
                };
                let r = catch_unwind(AssertUnwindSafe(move || match cb {
                    Callback::Made => p.connection_made(&transport),
                    Callback::Msg(m) => p.msg_received(m),
                    Callback::Event(e) => p.event_received(e),
                    Callback::Pause => p.pause_writing(),
                    Callback::Resume => p.resume_writing(),
                    Callback::Lost(e) => p.connection_lost(e),
                }));
                if r.is_err() {
                    tracing::error!("aiozmq: protocol.{name}() panicked; the transport goes on");
                }
            }
            if lost {
                let wakers = {
                    let mut st = self.lock();
                    // Break the transport -> protocol -> transport cycle, as aiozmq does.
                    st.protocol = None;
                    st.lost_delivered = true;
                    std::mem::take(&mut st.closed_wakers)
                };
                wakers.into_iter().for_each(Waker::wake);
            }
        }
        self.dispatched.notify_waiters();
    }

    /// Waits until every message and event queued for the protocol was handed over.
    async fn input_dispatched(&self) {
        loop {
            let n = self.dispatched.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.lock().pending_input == 0 {
                return;
            }
            n.await;
        }
    }

    fn fatal(&self, e: Error) {
        self.lock().force_close(Some(e), &self.socket);
        self.changed.notify_one();
    }
}

/// aiozmq's `ZmqTransport`: a [`Socket`] with a non-blocking buffered
/// [`write`](Self::write), flow control, and a [`ZmqProtocol`] that receives messages and
/// events through callbacks. Made by [`create_zmq_connection`](super::create_zmq_connection).
///
/// Cloning gives another handle to the same transport. The transport lives until
/// [`close`](Self::close) or [`abort`](Self::abort) (dropping the handles does not close
/// it); it then calls [`ZmqProtocol::connection_lost`] and closes the socket.
///
/// Errors follow aiozmq's exception policy: every failure is an [`Error`] with an
/// errno-like [`ErrorKind`] (aiozmq raises `OSError` with the errno), never a panic.
#[derive(Clone)]
pub struct ZmqTransport {
    inner: Arc<Inner>,
}

/// A handle that does not keep the transport alive (for protocols that keep one).
#[derive(Clone)]
pub(crate) struct WeakTransport(Weak<Inner>);

impl WeakTransport {
    pub(crate) fn upgrade(&self) -> Option<ZmqTransport> {
        self.0.upgrade().map(|inner| ZmqTransport { inner })
    }
}

impl fmt::Debug for ZmqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("ZmqTransport")
            .field("type", &self.inner.socket_type)
            .field("bufsize", &st.buffer_size)
            .field("reading_paused", &st.reading_paused)
            .field("closing", &st.closing)
            .finish()
    }
}

impl fmt::Debug for WeakTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakTransport")
    }
}

impl ZmqTransport {
    /// Makes the transport, calls `connection_made` and starts the driver task.
    pub(crate) fn start(socket: Arc<Socket>, protocol: Arc<dyn ZmqProtocol>) -> ZmqTransport {
        let socket_type = socket.socket_type();
        let inner = Arc::new(Inner {
            socket,
            socket_type,
            state: Mutex::new(State {
                protocol: Some(protocol),
                callbacks: VecDeque::new(),
                dispatching: false,
                pending_input: 0,
                buffer: VecDeque::new(),
                buffer_size: 0,
                next_id: 0,
                high_water: DEFAULT_HIGH_WATER,
                low_water: DEFAULT_HIGH_WATER / 4,
                protocol_paused: false,
                flush_wakers: Vec::new(),
                reading_paused: false,
                held: None,
                sends: 0,
                fsm_blocked_at: None,
                unreadable: false,
                closing: false,
                write_closed: false,
                force_exc: None,
                lost_queued: false,
                lost_delivered: false,
                socket_closed: false,
                closed_wakers: Vec::new(),
                bindings: Vec::new(),
                connections: Vec::new(),
                subscriptions: Vec::new(),
                last_endpoint: String::new(),
                monitor_enabled: false,
                monitor_epoch: 0,
                monitor_mask: opt::EVENT_ALL,
                new_monitor: None,
            }),
            changed: Notify::new(),
            dispatched: Notify::new(),
        });
        inner.lock().push(Callback::Made);
        inner.dispatch();
        tokio::spawn(drive(inner.clone()));
        ZmqTransport { inner }
    }

    pub(crate) fn downgrade(&self) -> WeakTransport {
        WeakTransport(Arc::downgrade(&self.inner))
    }

    /// The socket under the transport (also `get_extra_info("zmq_socket")`). Use it for
    /// anything the transport does not offer; do not `recv` from it while the transport
    /// reads.
    pub fn socket(&self) -> &Arc<Socket> {
        &self.inner.socket
    }

    /// The socket's type (also `get_extra_info("zmq_type")`).
    pub fn socket_type(&self) -> SocketType {
        self.inner.socket_type
    }

    /// aiozmq's `get_extra_info(key)`: `"zmq_socket"` gives the socket, `"zmq_type"` its
    /// type; other keys give `None` (use `.unwrap_or(default)` for aiozmq's `default`).
    pub fn get_extra_info(&self, key: &str) -> Option<ExtraInfo> {
        match key {
            "zmq_socket" => Some(ExtraInfo::ZmqSocket(self.inner.socket.clone())),
            "zmq_type" => Some(ExtraInfo::ZmqType(self.inner.socket_type)),
            _ => None,
        }
    }

    /// Writes a multipart message. Never blocks: when the socket cannot take the message
    /// now (every peer at SNDHWM, or no peer yet), it is buffered and a background task
    /// sends it as soon as the socket can; messages go out in the order written.
    ///
    /// An empty message (no frames) is ignored, as in aiozmq. Errors:
    /// - `ETERM` ([`ErrorKind::Closed`]) once the transport is closed (aiozmq drops such
    ///   writes silently).
    /// - A socket error (for example `EFSM` on a REQ that has not had its reply, or
    ///   `EHOSTUNREACH` on a ROUTER with ROUTER_MANDATORY) is returned **and**, as in
    ///   aiozmq, ends the transport: the buffer is dropped and
    ///   [`connection_lost`](ZmqProtocol::connection_lost) gets the error.
    ///
    /// Going strictly over the high-water mark calls
    /// [`pause_writing`](ZmqProtocol::pause_writing) before this returns (or, when another
    /// callback is running at that moment, right after it).
    pub fn write(&self, msg: impl Into<Message>) -> Result<()> {
        let msg = msg.into();
        if msg.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        let mut st = inner.lock();
        if st.write_closed {
            return Err(Error::new(ErrorKind::Closed, "transport is closed"));
        }
        let msg = if st.buffer.is_empty() {
            match inner.socket.try_send(msg) {
                Ok(()) => {
                    st.sends += 1;
                    let wake = st.fsm_blocked_at.is_some();
                    drop(st);
                    if wake {
                        inner.changed.notify_one();
                    }
                    return Ok(());
                }
                Err(e) if e.error.kind() == ErrorKind::Again => e.message,
                Err(e) => {
                    drop(st);
                    inner.fatal(e.error.clone());
                    return Err(e.error);
                }
            }
        } else {
            msg
        };
        let len = msg.byte_len();
        let id = st.next_id;
        st.next_id += 1;
        let was_empty = st.buffer.is_empty();
        st.buffer.push_back(Buffered { id, len, msg });
        st.buffer_size += len;
        st.maybe_pause();
        drop(st);
        if was_empty {
            inner.changed.notify_one();
        }
        inner.dispatch();
        Ok(())
    }

    /// Closes the transport: no more messages are received; buffered messages are still
    /// sent. Once the buffer is empty, [`connection_lost(None)`](ZmqProtocol::connection_lost)
    /// is called and the socket is closed (it flushes its own queues for up to LINGER).
    /// The monitor, if enabled, is stopped at once. Closing twice does nothing; see
    /// [`wait_closed`](Self::wait_closed) to wait for the end.
    pub fn close(&self) {
        {
            let mut st = self.inner.lock();
            if st.closing {
                return;
            }
            st.closing = true;
            st.held = None;
            if st.buffer.is_empty() {
                st.write_closed = true;
            }
            st.stop_monitor(&self.inner.socket);
        }
        self.inner.changed.notify_one();
    }

    /// Closes the transport at once: buffered messages are dropped, no more messages are
    /// received, [`connection_lost(None)`](ZmqProtocol::connection_lost) is called soon
    /// after and the socket closed.
    pub fn abort(&self) {
        self.inner.lock().force_close(None, &self.inner.socket);
        self.inner.changed.notify_one();
    }

    /// Whether [`close`](Self::close) or [`abort`](Self::abort) was called (or a fatal error
    /// closed the transport), as asyncio's `BaseTransport.is_closing`.
    pub fn is_closing(&self) -> bool {
        self.inner.lock().closing
    }

    /// Waits until the transport is fully closed: `connection_lost` was called and the
    /// socket closed (after its LINGER flush). Returns at once when that already happened.
    /// It does not close the transport: call [`close`](Self::close) or
    /// [`abort`](Self::abort) first.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits, and can be called again.
    pub async fn wait_closed(&self) {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.inner.lock();
        if st.lost_delivered && st.socket_closed {
            return Poll::Ready(());
        }
        if !st.closed_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            st.closed_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Ready when the write buffer is empty (every written message is in the socket) or the
    /// transport is closed.
    pub(crate) fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.inner.lock();
        if st.buffer.is_empty() || st.lost_queued {
            return Poll::Ready(());
        }
        if !st.flush_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            st.flush_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Whether the transport has told its protocol to pause writing (buffer over the
    /// high-water mark and not yet back to the low one).
    pub(crate) fn is_writing_paused(&self) -> bool {
        self.inner.lock().protocol_paused
    }

    /// aiozmq's `get_write_buffer_limits()`: `(low, high)`, in bytes of payload.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        let st = self.inner.lock();
        (st.low_water, st.high_water)
    }

    /// Sets the write buffer's high- and low-water marks, in bytes of payload (the sum of
    /// every frame's length), which decide when the protocol's
    /// [`pause_writing`](ZmqProtocol::pause_writing) and
    /// [`resume_writing`](ZmqProtocol::resume_writing) are called: pause when the buffer
    /// goes *strictly over* `high`, resume when it is back *at or under* `low`.
    ///
    /// As in aiozmq: with neither given, `high` is 64 KiB; `low` defaults to `high / 4`
    /// and `high` to `4 * low`; `high = 0` forces `low = 0` and pauses whenever the buffer
    /// is not empty. `EINVAL` when `low > high`. New limits apply at once (pausing or
    /// resuming as needed).
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (high, low) = resolve_limits(high, low)?;
        {
            let mut st = self.inner.lock();
            st.high_water = high;
            st.low_water = low;
            st.maybe_pause();
            st.maybe_resume();
        }
        self.inner.dispatch();
        Ok(())
    }

    /// The write buffer's size in bytes of payload (messages written but not yet taken by
    /// the socket).
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.lock().buffer_size
    }

    /// Stops handing messages to [`msg_received`](ZmqProtocol::msg_received) until
    /// [`resume_reading`](Self::resume_reading); meanwhile messages stay in the socket
    /// (bounded by RCVHWM, then TCP backpressure). `ETERM` while closing, `EFSM` when
    /// already paused (aiozmq raises `RuntimeError` for both).
    pub fn pause_reading(&self) -> Result<()> {
        let mut st = self.inner.lock();
        if st.closing {
            return Err(Error::new(
                ErrorKind::Closed,
                "cannot pause reading: the transport is closing",
            ));
        }
        if st.reading_paused {
            return Err(Error::new(ErrorKind::Fsm, "reading is already paused"));
        }
        st.reading_paused = true;
        drop(st);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// Hands messages to the protocol again after [`pause_reading`](Self::pause_reading).
    /// `EFSM` when not paused.
    pub fn resume_reading(&self) -> Result<()> {
        let mut st = self.inner.lock();
        if !st.reading_paused {
            return Err(Error::new(ErrorKind::Fsm, "reading is not paused"));
        }
        st.reading_paused = false;
        drop(st);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// Whether messages are being handed to the protocol (not paused, not closing), as
    /// asyncio's `ReadTransport.is_reading`.
    pub fn is_reading(&self) -> bool {
        let st = self.inner.lock();
        !st.reading_paused && !st.closing
    }

    /// aiozmq's `getsockopt(option)` with libzmq's option numbers ([`opt`]): integers
    /// (times in milliseconds, flags as 0/1) or bytes. Supported: ROUTING_ID (IDENTITY),
    /// RCVMORE (always 0), TYPE, LINGER (-1 = for ever), RECONNECT_IVL,
    /// RECONNECT_IVL_MAX, MAXMSGSIZE (-1 = no limit), SNDHWM, RCVHWM, SNDBUF, RCVBUF
    /// (-1 = system default), LAST_ENDPOINT (the
    /// transport's last bind or connect), ROUTER_MANDATORY, TCP_KEEPALIVE(_CNT, _IDLE,
    /// _INTVL), IMMEDIATE, the PUB/SUB options (XPUB_VERBOSE, XPUB_VERBOSER, XPUB_MANUAL,
    /// XPUB_MANUAL_LAST_VALUE, XPUB_NODROP, XPUB_WELCOME_MSG, INVERT_MATCHING,
    /// ONLY_FIRST_SUBSCRIBE, XSUB_VERBOSE_UNSUBSCRIBE, TOPICS_COUNT), REQ_CORRELATE,
    /// REQ_RELAXED, CONFLATE,
    /// ROUTER_HANDOVER, HANDSHAKE_IVL (0 = no limit), HEARTBEAT_IVL, HEARTBEAT_TTL,
    /// HEARTBEAT_TIMEOUT, and security: MECHANISM (0 NULL, 1 PLAIN, 2 CURVE), PLAIN_SERVER,
    /// PLAIN_USERNAME, PLAIN_PASSWORD, CURVE_SERVER, CURVE_PUBLICKEY, CURVE_SECRETKEY,
    /// CURVE_SERVERKEY (keys read as 40 Z85 characters, as pyzmq returns them; an unset key
    /// reads as 32 zero bytes), ZAP_DOMAIN. Anything else: `EINVAL`, as libzmq answers for
    /// unknown options.
    pub fn getsockopt(&self, option: i32) -> Result<OptValue> {
        if option == opt::LAST_ENDPOINT {
            let ep = self.inner.lock().last_endpoint.clone();
            return Ok(OptValue::Bytes(ep.into()));
        }
        sockopt::get(&self.inner.socket, option)
    }

    /// aiozmq's `setsockopt(option, value)`: the options of
    /// [`getsockopt`](Self::getsockopt) (except the read-only TYPE, RCVMORE, MECHANISM and
    /// LAST_ENDPOINT; CURVE keys as 32 bytes or 40 Z85 characters) plus SUBSCRIBE and UNSUBSCRIBE (SUB only; passed straight to the
    /// socket, so they count like libzmq's, and recorded in
    /// [`subscriptions`](Self::subscriptions) as aiozmq does; an XPUB with XPUB_MANUAL
    /// takes them too, for the peer of its last subscription message, unrecorded). A value of the wrong kind
    /// or out of range: `EINVAL`.
    pub fn setsockopt(&self, option: i32, value: impl Into<OptValue>) -> Result<()> {
        let value = value.into();
        sockopt::set(&self.inner.socket, option, &value)?;
        let sub = self.inner.socket_type == SocketType::Sub;
        if sub && (option == opt::SUBSCRIBE || option == opt::UNSUBSCRIBE) {
            if let OptValue::Bytes(topic) = value {
                let mut st = self.inner.lock();
                let pos = st.subscriptions.iter().position(|t| *t == topic);
                match (option == opt::SUBSCRIBE, pos) {
                    (true, None) => st.subscriptions.push(topic),
                    (false, Some(i)) => {
                        st.subscriptions.remove(i);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.lock().closing {
            Err(Error::new(ErrorKind::Closed, "transport is closed"))
        } else {
            Ok(())
        }
    }

    /// Binds the socket to `endpoint` and returns the bound endpoint, wildcards resolved
    /// (`tcp://127.0.0.1:*` gives the port). The endpoint joins
    /// [`bindings`](Self::bindings). `ETERM` once the transport is closing.
    ///
    /// # Cancel safety
    /// Cancel-safe: if the future is dropped before it completes, nothing was bound and
    /// `bindings` is unchanged.
    pub async fn bind(&self, endpoint: &str) -> Result<String> {
        self.check_open()?;
        let resolved = self.inner.socket.bind(endpoint).await?;
        let mut st = self.inner.lock();
        if !st.bindings.contains(&resolved) {
            st.bindings.push(resolved.clone());
        }
        st.last_endpoint = resolved.clone();
        Ok(resolved)
    }

    /// Unbinds from `endpoint` (as returned by [`bind`](Self::bind)) and removes it from
    /// [`bindings`](Self::bindings). `ENOENT` when the socket is not bound there.
    ///
    /// # Cancel safety
    /// The endpoint leaves `bindings` and is unbound even if the future is dropped before
    /// it completes (only the wait for the listener to be released is cut short).
    pub async fn unbind(&self, endpoint: &str) -> Result<()> {
        self.inner.lock().bindings.retain(|b| b != endpoint);
        self.inner.socket.unbind(endpoint).await
    }

    /// The endpoints bound through this transport ([`bind`](Self::bind) or
    /// `create_zmq_connection`), in bind order, without duplicates. As in aiozmq, endpoints
    /// bound on the socket before the transport was made are not included.
    pub fn bindings(&self) -> Vec<String> {
        self.inner.lock().bindings.clone()
    }

    /// Connects the socket to `endpoint` (in the background, with automatic reconnection,
    /// as libzmq) and returns the endpoint. The endpoint joins
    /// [`connections`](Self::connections). `ETERM` once the transport is closing.
    ///
    /// # Cancel safety
    /// Cancel-safe: it does not wait on the network; if dropped before it completes,
    /// nothing was connected.
    pub async fn connect(&self, endpoint: &str) -> Result<String> {
        self.check_open()?;
        self.inner.socket.connect(endpoint).await?;
        let mut st = self.inner.lock();
        if !st.connections.iter().any(|c| c == endpoint) {
            st.connections.push(endpoint.to_string());
        }
        st.last_endpoint = endpoint.to_string();
        Ok(endpoint.to_string())
    }

    /// Disconnects from `endpoint` and removes it from [`connections`](Self::connections).
    /// `ENOENT` when the socket is not connected there.
    ///
    /// # Cancel safety
    /// Cancel-safe: it does not wait; once polled, the endpoint is disconnected.
    pub async fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.inner.lock().connections.retain(|c| c != endpoint);
        self.inner.socket.disconnect(endpoint).await
    }

    /// The endpoints connected through this transport, in connect order, without
    /// duplicates (connections made on the socket before the transport are not included).
    pub fn connections(&self) -> Vec<String> {
        self.inner.lock().connections.clone()
    }

    fn check_sub(&self, what: &str) -> Result<()> {
        if self.inner.socket_type != SocketType::Sub {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!(
                    "{what} is only for SUB transports, not {}",
                    self.inner.socket_type
                ),
            ));
        }
        Ok(())
    }

    /// SUB: adds a message filter (the empty topic matches every message). Unlike the
    /// socket (which counts subscriptions as libzmq does), subscribing to a topic already in
    /// [`subscriptions`](Self::subscriptions) does nothing, as aiozmq documents. Other
    /// socket types: `ENOTSUP` (aiozmq raises `NotImplementedError`).
    pub fn subscribe(&self, topic: impl Into<Bytes>) -> Result<()> {
        self.check_sub("subscribe")?;
        let topic = topic.into();
        let mut st = self.inner.lock();
        if st.subscriptions.contains(&topic) {
            return Ok(());
        }
        self.inner.socket.subscribe(topic.clone())?;
        st.subscriptions.push(topic);
        Ok(())
    }

    /// SUB: removes a message filter (one instance of it at the socket level) and drops it
    /// from [`subscriptions`](Self::subscriptions). Unknown topics are ignored. Other
    /// socket types: `ENOTSUP`.
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) -> Result<()> {
        self.check_sub("unsubscribe")?;
        let topic = topic.into();
        let mut st = self.inner.lock();
        self.inner.socket.unsubscribe(topic.clone())?;
        st.subscriptions.retain(|t| *t != topic);
        Ok(())
    }

    /// SUB: the topics subscribed through this transport, in subscription order. Other
    /// socket types: `ENOTSUP`.
    pub fn subscriptions(&self) -> Result<Vec<Bytes>> {
        self.check_sub("subscriptions")?;
        Ok(self.inner.lock().subscriptions.clone())
    }

    /// Starts passing the socket's monitor events to
    /// [`event_received`](ZmqProtocol::event_received). `events` is a bitmask of
    /// [`EventKind::to_raw`](crate::EventKind::to_raw) values; `None` or 0 means every
    /// event ([`opt::EVENT_ALL`]). Events from the moment this returns are reported.
    /// Enabling it again changes the mask. `ETERM` once the transport is closing.
    ///
    /// Unlike aiozmq's, this is not a coroutine: there is nothing to wait for.
    pub fn enable_monitor(&self, events: Option<u32>) -> Result<()> {
        let mask = match events {
            None | Some(0) => opt::EVENT_ALL,
            Some(m) => m,
        };
        let mut st = self.inner.lock();
        if st.closing {
            return Err(Error::new(ErrorKind::Closed, "transport is closed"));
        }
        st.monitor_mask = mask;
        if st.monitor_enabled {
            return Ok(());
        }
        st.new_monitor = Some(self.inner.socket.monitor(MONITOR_BACKLOG));
        st.monitor_enabled = true;
        st.monitor_epoch += 1;
        drop(st);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// Stops the monitor: no event is passed to the protocol after this returns (unless
    /// a callback is running at that moment). Does nothing when it is not enabled.
    ///
    /// As libzmq's `zmq_socket_monitor(socket, NULL, 0)`, this stops every monitor of the
    /// socket, including ones made directly with [`Socket::monitor`].
    /// Unlike aiozmq's, this is not a coroutine.
    pub fn disable_monitor(&self) {
        self.inner.lock().stop_monitor(&self.inner.socket);
        self.inner.changed.notify_one();
    }
}

/// aiozmq's `_set_write_buffer_limits` rules; returns `(high, low)`.
pub(crate) fn resolve_limits(high: Option<usize>, low: Option<usize>) -> Result<(usize, usize)> {
    let (high, low) = match (high, low) {
        (None, None) => (DEFAULT_HIGH_WATER, DEFAULT_HIGH_WATER / 4),
        (None, Some(l)) => (l.saturating_mul(4), l),
        (Some(h), None) => (h, h / 4),
        (Some(h), Some(l)) => (h, l),
    };
    if low > high {
        return Err(Error::inval(format!(
            "high ({high}) must be >= low ({low}) must be >= 0"
        )));
    }
    Ok((high, low))
}

async fn next_event(monitor: &mut Option<Monitor>) -> Option<SocketEvent> {
    match monitor {
        Some(m) => m.recv().await,
        None => std::future::pending().await,
    }
}

async fn send_front(socket: &Socket, front: Option<(u64, Message)>) -> (u64, Result<()>) {
    match front {
        Some((id, msg)) => (id, socket.send_untimed(msg).await),
        None => std::future::pending().await,
    }
}

/// The driver: sends the buffer, receives messages and events, and ends the transport.
async fn drive(inner: Arc<Inner>) {
    let mut monitor: Option<Monitor> = None;
    let mut epoch = 0u64;
    let exc = loop {
        let changed = inner.changed.notified();
        let (read, held, front, sends) = {
            let mut st = inner.lock();
            if let Some(exc) = st.force_exc.take() {
                break exc;
            }
            if st.closing && st.buffer.is_empty() {
                st.write_closed = true;
                break None;
            }
            if st.monitor_epoch != epoch {
                epoch = st.monitor_epoch;
                monitor = st.new_monitor.take();
            }
            let read = !st.closing && !st.reading_paused;
            let held = if read { st.held.take() } else { None };
            let read = read && !st.unreadable && st.fsm_blocked_at != Some(st.sends);
            let front = st.buffer.front().map(|b| (b.id, b.msg.clone()));
            (read, held, front, st.sends)
        };
        if let Some(msg) = held {
            inner.lock().push(Callback::Msg(msg));
            inner.dispatch();
            inner.input_dispatched().await;
            continue;
        }
        let has_front = front.is_some();
        tokio::select! {
            biased;
            (id, r) = send_front(&inner.socket, front), if has_front => match r {
                Ok(()) => {
                    {
                        let mut st = inner.lock();
                        st.sends += 1;
                        if st.buffer.front().is_some_and(|b| b.id == id) {
                            if let Some(b) = st.buffer.pop_front() {
                                st.buffer_size -= b.len;
                            }
                            st.maybe_resume();
                            if st.buffer.is_empty() {
                                st.wake_flush();
                            }
                        }
                    }
                    inner.dispatch();
                }
                Err(e) => inner.fatal(e),
            },
            r = inner.socket.recv_untimed(), if read => match r {
                Ok(msg) => {
                    {
                        let mut st = inner.lock();
                        if st.closing {
                            // Closing: no more data; the message is dropped.
                        } else if st.reading_paused {
                            st.held = Some(msg);
                        } else {
                            st.push(Callback::Msg(msg));
                        }
                    }
                    inner.dispatch();
                    inner.input_dispatched().await;
                }
                Err(e) => {
                    let mut st = inner.lock();
                    match e.kind() {
                        // Not readable in this state (libzmq reports no POLLIN): wait
                        // until something is sent.
                        ErrorKind::Fsm => st.fsm_blocked_at = Some(sends),
                        // A send-only socket type (PUB, PUSH).
                        ErrorKind::NotSupported => st.unreadable = true,
                        _ if st.closing => {}
                        _ => {
                            drop(st);
                            inner.fatal(e);
                        }
                    }
                }
            },
            ev = next_event(&mut monitor), if monitor.is_some() => match ev {
                Some(ev) => {
                    {
                        let mut st = inner.lock();
                        let bit = u32::from(ev.kind.to_raw());
                        if st.monitor_enabled
                            && st.monitor_epoch == epoch
                            && !st.closing
                            && st.monitor_mask & bit != 0
                        {
                            st.push(Callback::Event(ev));
                        }
                    }
                    inner.dispatch();
                    inner.input_dispatched().await;
                }
                None => {
                    // Stopped from outside (Socket::disable_monitor): enable_monitor may
                    // start a new one.
                    monitor = None;
                    let mut st = inner.lock();
                    if st.monitor_epoch == epoch {
                        st.monitor_enabled = false;
                    }
                }
            },
            _ = changed => {}
        }
    };
    drop(monitor);
    {
        let mut st = inner.lock();
        st.held = None;
        st.buffer.clear();
        st.buffer_size = 0;
        st.wake_flush();
        st.callbacks.push_back(Callback::Lost(exc));
        st.lost_queued = true;
    }
    inner.dispatch();
    inner.socket.close().await;
    let wakers = {
        let mut st = inner.lock();
        st.socket_closed = true;
        std::mem::take(&mut st.closed_wakers)
    };
    wakers.into_iter().for_each(Waker::wake);
}
