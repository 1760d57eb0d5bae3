//! aiozmq's Streams API: [`create_zmq_stream`] and [`ZmqStream`], a read/write interface on
//! top of the core [`ZmqTransport`] (no protocol to write).
//!
//! ```no_run
//! use aiozmq::{create_zmq_stream, SocketType, StreamOptions};
//!
//! # #[tokio::main] async fn main() -> aiozmq::Result<()> {
//! let router =
//!     create_zmq_stream(SocketType::Router, StreamOptions::new().bind("tcp://127.0.0.1:*")).await?;
//! let addr = router.transport().bindings()[0].clone();
//! let dealer = create_zmq_stream(SocketType::Dealer, StreamOptions::new().connect(&addr)).await?;
//!
//! dealer.write(["data", "ask", "0"])?;
//! let request = router.read().await?; // [dealer's routing id, "data", "ask", "0"]
//! router.write(request)?;
//! let answer = dealer.read().await?; // ["data", "ask", "0"]
//! assert_eq!(answer, aiozmq::Message::from(["data", "ask", "0"]));
//! dealer.close();
//! router.close();
//! # dealer.wait_closed().await; router.wait_closed().await; Ok(()) }
//! ```
//!
//! `ZmqStream` also implements [`futures_core::Stream`] and [`futures_sink::Sink`] of
//! [`Message`]s, so `StreamExt` and
//! `SinkExt` from `futures-util` work: `while let Some(msg) = stream.next().await { .. }`.

use crate::api::{
    create_zmq_connection, resolve_limits, ConnectionOptions, ExtraInfo, IntoEndpoints,
    SocketEvent, WeakTransport, ZmqProtocol, ZmqTransport, DEFAULT_HIGH_WATER,
};
use crate::{Error, ErrorKind, Message, Result, Socket, SocketType};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

/// The default `events_backlog` of [`StreamOptions`] (aiozmq's: 100).
pub const DEFAULT_EVENTS_BACKLOG: usize = 100;

const CLOSED_MESSAGE: &str = "ZmqStreamClosed: the stream is closed";

/// aiozmq's `ZmqStreamClosed`: what [`ZmqStream::read`] and [`ZmqStream::read_event`]
/// fail with once the stream is closed.
///
/// Stream methods return [`crate::Error`]; this one is the error of kind
/// [`ErrorKind::Closed`] (`ETERM`) built from `ZmqStreamClosed`, and compares equal to it:
///
/// ```no_run
/// # async fn f(stream: aiozmq::ZmqStream) {
/// use aiozmq::ZmqStreamClosed;
/// match stream.read().await {
///     Ok(msg) => println!("{msg:?}"),
///     Err(e) if e == ZmqStreamClosed => println!("closed"),
///     Err(e) => println!("failed: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ZmqStreamClosed;

impl fmt::Display for ZmqStreamClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the stream is closed")
    }
}

impl std::error::Error for ZmqStreamClosed {}

impl From<ZmqStreamClosed> for Error {
    fn from(_: ZmqStreamClosed) -> Error {
        Error::new(ErrorKind::Closed, CLOSED_MESSAGE)
    }
}

impl PartialEq<ZmqStreamClosed> for Error {
    fn eq(&self, _: &ZmqStreamClosed) -> bool {
        self.kind() == ErrorKind::Closed && self.message() == CLOSED_MESSAGE
    }
}

impl PartialEq<Error> for ZmqStreamClosed {
    fn eq(&self, other: &Error) -> bool {
        other == self
    }
}

/// The keyword arguments of aiozmq's `create_zmq_stream`: those of
/// [`ConnectionOptions`] plus read and write watermarks and the events backlog.
#[derive(Debug)]
pub struct StreamOptions {
    connection: ConnectionOptions,
    high_read: Option<usize>,
    low_read: Option<usize>,
    high_write: Option<usize>,
    low_write: Option<usize>,
    events_backlog: Option<usize>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            connection: ConnectionOptions::new(),
            high_read: None,
            low_read: None,
            high_write: None,
            low_write: None,
            events_backlog: Some(DEFAULT_EVENTS_BACKLOG),
        }
    }
}

impl StreamOptions {
    /// No endpoints, a new socket, default watermarks, an events backlog of 100.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds endpoints to bind (see [`ConnectionOptions::bind`]).
    pub fn bind(mut self, endpoints: impl IntoEndpoints) -> Self {
        self.connection = self.connection.bind(endpoints);
        self
    }

    /// Adds endpoints to connect to (see [`ConnectionOptions::connect`]).
    pub fn connect(mut self, endpoints: impl IntoEndpoints) -> Self {
        self.connection = self.connection.connect(endpoints);
        self
    }

    /// Secures the stream's socket (CURVE or PLAIN; see [`crate::security`]).
    pub fn security(mut self, security: crate::security::SecurityConfig) -> Self {
        self.connection = self.connection.security(security);
        self
    }

    /// Uses an existing socket (aiozmq's `zmq_sock`; see [`ConnectionOptions::zmq_sock`]).
    pub fn zmq_sock(mut self, socket: impl Into<Arc<Socket>>) -> Self {
        self.connection = self.connection.zmq_sock(socket);
        self
    }

    /// `high_read`: when unread messages hold strictly more than this many payload bytes,
    /// the stream stops reading from the socket (which then applies RCVHWM and network
    /// backpressure); it resumes once reads bring them down to `low_read` or less. As in
    /// aiozmq's code, unset means 64 KiB (or `4 * low_read`).
    pub fn high_read(mut self, bytes: usize) -> Self {
        self.high_read = Some(bytes);
        self
    }

    /// `low_read` (unset: `high_read / 4`); see [`high_read`](Self::high_read).
    pub fn low_read(mut self, bytes: usize) -> Self {
        self.low_read = Some(bytes);
        self
    }

    /// `high_write`: the transport's write high-water mark in payload bytes, above which
    /// [`ZmqStream::drain`] waits (see [`ZmqTransport::set_write_buffer_limits`]).
    pub fn high_write(mut self, bytes: usize) -> Self {
        self.high_write = Some(bytes);
        self
    }

    /// `low_write`: the write low-water mark at which a waiting `drain` returns.
    pub fn low_write(mut self, bytes: usize) -> Self {
        self.low_write = Some(bytes);
        self
    }

    /// `events_backlog`: at most this many unread monitor events are kept; beyond it the
    /// oldest are discarded. `None` keeps every event (aiozmq's `events_backlog=None`).
    /// Default 100.
    pub fn events_backlog(mut self, backlog: impl Into<Option<usize>>) -> Self {
        self.events_backlog = backlog.into();
        self
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<(usize, Message)>,
    queue_len: usize,
    high_read: usize,
    low_read: usize,
    read_paused: bool,
    events: VecDeque<SocketEvent>,
    events_backlog: Option<usize>,
    events_dropped: u64,
    closing: bool,
    exception: Option<Error>,
    conn_lost: bool,
    read_wakers: Vec<Waker>,
    event_wakers: Vec<Waker>,
    drain_wakers: Vec<Waker>,
}

fn register(wakers: &mut Vec<Waker>, cx: &Context<'_>) {
    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
}

fn wake_all(wakers: &mut Vec<Waker>) {
    for w in wakers.drain(..) {
        w.wake();
    }
}

impl State {
    fn wake_everyone(&mut self) {
        wake_all(&mut self.read_wakers);
        wake_all(&mut self.event_wakers);
        wake_all(&mut self.drain_wakers);
    }
}

struct Shared {
    state: Mutex<State>,
    /// Set in `connection_made`; weak, so the stream's protocol does not keep the
    /// transport alive.
    transport: OnceLock<WeakTransport>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn transport(&self) -> Option<ZmqTransport> {
        self.transport.get().and_then(WeakTransport::upgrade)
    }

    /// aiozmq's `_maybe_resume_transport`. Called with the state locked, so that pausing
    /// and resuming the transport happen in the order the flag changes (the transport
    /// never calls the protocol under its own lock, so this cannot deadlock).
    fn maybe_resume(&self, st: &mut State) {
        if st.read_paused && st.queue_len <= st.low_read {
            st.read_paused = false;
            if let Some(t) = self.transport() {
                let _ = t.resume_reading();
            }
        }
    }

    /// aiozmq's `feed_closing`.
    fn feed_closing(&self) {
        let mut st = self.lock();
        st.closing = true;
        st.wake_everyone();
    }
}

/// aiozmq's `ZmqStreamProtocol`: feeds the stream from the transport's callbacks.
struct StreamProtocol {
    shared: Arc<Shared>,
}

impl ZmqProtocol for StreamProtocol {
    fn connection_made(&self, transport: &ZmqTransport) {
        let _ = self.shared.transport.set(transport.downgrade());
    }

    fn connection_lost(&self, exc: Option<Error>) {
        let mut st = self.shared.lock();
        st.conn_lost = true;
        match exc {
            None => st.closing = true,
            Some(e) => st.exception = Some(e),
        }
        st.wake_everyone();
    }

    fn pause_writing(&self) {}

    fn resume_writing(&self) {
        wake_all(&mut self.shared.lock().drain_wakers);
    }

    fn msg_received(&self, msg: Message) {
        let mut st = self.shared.lock();
        if st.closing {
            return;
        }
        let len = msg.byte_len();
        st.queue.push_back((len, msg));
        st.queue_len += len;
        wake_all(&mut st.read_wakers);
        if !st.read_paused && st.queue_len > st.high_read {
            if let Some(t) = self.shared.transport() {
                if t.pause_reading().is_ok() {
                    st.read_paused = true;
                }
            }
        }
    }

    fn event_received(&self, event: SocketEvent) {
        let mut st = self.shared.lock();
        if st.closing {
            return;
        }
        match st.events_backlog {
            Some(0) => {
                st.events_dropped += 1;
                return;
            }
            Some(n) => {
                while st.events.len() >= n {
                    st.events.pop_front();
                    st.events_dropped += 1;
                }
            }
            None => {}
        }
        st.events.push_back(event);
        wake_all(&mut st.event_wakers);
    }
}

/// aiozmq's `ZmqStream`: reads and writes whole multipart messages over a
/// [`ZmqTransport`]. Made by [`create_zmq_stream`].
///
/// Methods take `&self`: share a stream between tasks with an `Arc` (for example one task
/// reading monitor events while another reads messages). Dropping the stream closes it
/// (as [`close`](Self::close)).
///
/// Reading: [`read`](Self::read) (or the [`futures_core::Stream`] implementation) takes the
/// next message; unread messages are bounded by the read watermarks (see
/// [`StreamOptions::high_read`]). Writing: [`write`](Self::write) never blocks;
/// [`drain`](Self::drain) (or the [`futures_sink::Sink`] implementation) waits while the
/// write buffer is over its high-water mark.
pub struct ZmqStream {
    shared: Arc<Shared>,
    transport: ZmqTransport,
    /// `Stream::poll_next` returned `None` (or the final error).
    ended: bool,
}

impl fmt::Debug for ZmqStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("ZmqStream")
            .field("transport", &self.transport)
            .field("unread_messages", &st.queue.len())
            .field("unread_events", &st.events.len())
            .field("closing", &st.closing)
            .field("exception", &st.exception)
            .finish()
    }
}

/// aiozmq's `create_zmq_stream(zmq_type, bind=, connect=, zmq_sock=, high_read=, low_read=,
/// high_write=, low_write=, events_backlog=)`: a [`ZmqStream`] over a new transport (see
/// [`create_zmq_connection`]).
///
/// Errors: `EINVAL` for watermarks with `low > high` (checked before anything is made) or a
/// `zmq_sock` of another type; any bind or connect error (the transport is then closed).
///
/// # Cancel safety
/// As [`create_zmq_connection`]: if the future is dropped before it completes, the
/// transport is aborted and its socket closed.
pub async fn create_zmq_stream(
    socket_type: SocketType,
    options: StreamOptions,
) -> Result<ZmqStream> {
    let (high_read, low_read) = read_limits(options.high_read, options.low_read)?;
    let (high_write, low_write) = resolve_limits(options.high_write, options.low_write)?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            high_read,
            low_read,
            events_backlog: options.events_backlog,
            ..State::default()
        }),
        transport: OnceLock::new(),
    });
    let protocol = StreamProtocol {
        shared: shared.clone(),
    };
    let (transport, _) =
        create_zmq_connection(move || protocol, socket_type, options.connection).await?;
    transport.set_write_buffer_limits(Some(high_write), Some(low_write))?;
    Ok(ZmqStream {
        shared,
        transport,
        ended: false,
    })
}

fn read_limits(high: Option<usize>, low: Option<usize>) -> Result<(usize, usize)> {
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

impl ZmqStream {
    /// The transport under the stream (aiozmq's `stream.transport`): bind, connect,
    /// subscribe, options, monitor.
    pub fn transport(&self) -> &ZmqTransport {
        &self.transport
    }

    /// The transport's extra information (see [`ZmqTransport::get_extra_info`]).
    pub fn get_extra_info(&self, key: &str) -> Option<ExtraInfo> {
        self.transport.get_extra_info(key)
    }

    /// Writes a multipart message (see [`ZmqTransport::write`]): never blocks; follow it
    /// with [`drain`](Self::drain) to respect the write watermarks. Fails with
    /// [`ZmqStreamClosed`] once the stream is closed, or with the stream's
    /// [`exception`](Self::exception).
    pub fn write(&self, msg: impl Into<Message>) -> Result<()> {
        {
            let st = self.shared.lock();
            if let Some(e) = &st.exception {
                return Err(e.clone());
            }
            if st.closing {
                return Err(ZmqStreamClosed.into());
            }
        }
        // Not under the stream lock: writing may call pause_writing synchronously.
        self.transport.write(msg)
    }

    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut st = self.shared.lock();
        if let Some(e) = &st.exception {
            return Poll::Ready(Err(e.clone()));
        }
        if st.conn_lost {
            return Poll::Ready(Err(ZmqStreamClosed.into()));
        }
        if !self.transport.is_writing_paused() {
            return Poll::Ready(Ok(()));
        }
        register(&mut st.drain_wakers, cx);
        Poll::Pending
    }

    /// aiozmq's `drain()`: returns at once unless the transport's write buffer went over the
    /// high-water mark; then waits until it is back at the low-water mark. The intended use:
    ///
    /// ```no_run
    /// # async fn f(stream: &aiozmq::ZmqStream) -> aiozmq::Result<()> {
    /// stream.write(["data"])?;
    /// stream.drain().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// Fails with the stream's [`exception`](Self::exception), or with [`ZmqStreamClosed`]
    /// once the connection is lost (aiozmq raises `ConnectionResetError`; it also does
    /// when the connection is lost *while* draining, where aiozmq returns).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits; nothing written is lost if the future is dropped.
    pub async fn drain(&self) -> Result<()> {
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    fn poll_read(&self, cx: &mut Context<'_>) -> Poll<Result<Message>> {
        let mut st = self.shared.lock();
        if let Some(e) = &st.exception {
            return Poll::Ready(Err(e.clone()));
        }
        if st.closing {
            return Poll::Ready(Err(ZmqStreamClosed.into()));
        }
        if let Some((len, msg)) = st.queue.pop_front() {
            st.queue_len -= len;
            self.shared.maybe_resume(&mut st);
            return Poll::Ready(Ok(msg));
        }
        register(&mut st.read_wakers, cx);
        Poll::Pending
    }

    /// Reads one message (every frame of it), waiting until one arrives.
    ///
    /// Fails with [`ZmqStreamClosed`] once the stream is closed (even with unread
    /// messages left, as in aiozmq; see [`at_closing`](Self::at_closing)), or with the
    /// stream's [`exception`](Self::exception). Several tasks may read at once (aiozmq
    /// raises `RuntimeError` then); each message goes to one of them.
    ///
    /// # Cancel safety
    /// Cancel-safe: a message is taken only in the poll that returns it, so dropping the
    /// future (in `select!` or `timeout`) loses nothing.
    pub async fn read(&self) -> Result<Message> {
        poll_fn(|cx| self.poll_read(cx)).await
    }

    fn poll_read_event(&self, cx: &mut Context<'_>) -> Poll<Result<SocketEvent>> {
        let mut st = self.shared.lock();
        if let Some(e) = &st.exception {
            return Poll::Ready(Err(e.clone()));
        }
        if st.closing {
            return Poll::Ready(Err(ZmqStreamClosed.into()));
        }
        if let Some(ev) = st.events.pop_front() {
            return Poll::Ready(Ok(ev));
        }
        register(&mut st.event_wakers, cx);
        Poll::Pending
    }

    /// Reads one socket monitor event, waiting until one arrives. Enable the monitor first:
    /// `stream.transport().enable_monitor(None)?`. At most `events_backlog` unread events
    /// are kept (the oldest are discarded; see [`events_dropped`](Self::events_dropped)).
    ///
    /// Fails with [`ZmqStreamClosed`] once the stream is closed, or with the stream's
    /// [`exception`](Self::exception) (where aiozmq would wait for ever).
    ///
    /// # Cancel safety
    /// Cancel-safe: an event is taken only in the poll that returns it.
    pub async fn read_event(&self) -> Result<SocketEvent> {
        poll_fn(|cx| self.poll_read_event(cx)).await
    }

    /// Closes the stream and its transport: reads fail with [`ZmqStreamClosed`] from now
    /// on; messages already written are still sent (see [`ZmqTransport::close`]). Use
    /// [`wait_closed`](Self::wait_closed) to wait until the socket is closed.
    pub fn close(&self) {
        self.shared.feed_closing();
        self.transport.close();
    }

    /// Waits until the transport is fully closed (see [`ZmqTransport::wait_closed`]). It
    /// does not close the stream: call [`close`](Self::close) first.
    ///
    /// # Cancel safety
    /// Cancel-safe: it only waits, and can be called again.
    pub async fn wait_closed(&self) {
        self.transport.wait_closed().await
    }

    /// aiozmq's `exception()`: the error that ended the transport (passed to
    /// `connection_lost`), if any.
    pub fn exception(&self) -> Option<Error> {
        self.shared.lock().exception.clone()
    }

    /// aiozmq's `at_closing()`: the stream is closed and no unread message is left.
    pub fn at_closing(&self) -> bool {
        let st = self.shared.lock();
        st.closing && st.queue.is_empty()
    }

    /// aiozmq's `set_read_buffer_limits(high, low)`, in payload bytes (see
    /// [`StreamOptions::high_read`]): unset `high` is 64 KiB or `4 * low`, unset `low` is
    /// `high / 4`; `EINVAL` when `low > high`. Resumes reading if the unread messages are
    /// now at or under `low`.
    pub fn set_read_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (high, low) = read_limits(high, low)?;
        let mut st = self.shared.lock();
        st.high_read = high;
        st.low_read = low;
        self.shared.maybe_resume(&mut st);
        Ok(())
    }

    /// The read watermarks as `(low, high)` (the order of
    /// [`ZmqTransport::get_write_buffer_limits`]).
    pub fn read_buffer_limits(&self) -> (usize, usize) {
        let st = self.shared.lock();
        (st.low_read, st.high_read)
    }

    /// Payload bytes of the messages received and not yet read.
    pub fn read_buffer_size(&self) -> usize {
        self.shared.lock().queue_len
    }

    /// Monitor events received and not yet read.
    pub fn pending_events(&self) -> usize {
        self.shared.lock().events.len()
    }

    /// Monitor events discarded because the events backlog was full.
    pub fn events_dropped(&self) -> u64 {
        self.shared.lock().events_dropped
    }
}

impl Drop for ZmqStream {
    fn drop(&mut self) {
        self.transport.close();
    }
}

/// Messages, until the stream is closed: `Some(Ok(message))` for each message, then `None`
/// once it is closed ([`ZmqStreamClosed`]), or `Some(Err(exception))` once and then `None`
/// if an error ended the transport. Cancel-safe like [`ZmqStream::read`].
impl futures_core::Stream for ZmqStream {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match this.poll_read(cx) {
            Poll::Ready(Ok(m)) => Poll::Ready(Some(Ok(m))),
            Poll::Ready(Err(e)) => {
                this.ended = true;
                if e == ZmqStreamClosed {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Err(e)))
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl futures_core::FusedStream for ZmqStream {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

/// Writes messages: `poll_ready` waits as [`ZmqStream::drain`], `start_send` is
/// [`ZmqStream::write`], `poll_flush` waits until the transport's write buffer is empty
/// (every message handed to the socket), `poll_close` closes the stream and waits until
/// the transport is closed. (One item type, so that `flush()` and `close()` need no
/// annotation: send `Message::from(..)` or `x.into()`.)
impl futures_sink::Sink<Message> for ZmqStream {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_drain(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        self.write(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if let Some(e) = self.exception() {
            return Poll::Ready(Err(e));
        }
        match self.transport.poll_flushed(cx) {
            Poll::Ready(()) => match self.exception() {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Ready(Ok(())),
            },
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.close();
        match self.transport.poll_closed(cx) {
            Poll::Ready(()) => match self.exception() {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Ready(Ok(())),
            },
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventKind, MonitorEvent};

    fn shared(backlog: Option<usize>) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                high_read: 10,
                low_read: 4,
                events_backlog: backlog,
                ..State::default()
            }),
            transport: OnceLock::new(),
        })
    }

    fn event(value: u32) -> MonitorEvent {
        MonitorEvent {
            kind: EventKind::Listening,
            value,
            endpoint: format!("inproc://{value}"),
            reason: None,
        }
    }

    #[test]
    fn events_backlog_discards_the_oldest() {
        let sh = shared(Some(2));
        let p = StreamProtocol { shared: sh.clone() };
        for v in 0..5 {
            p.event_received(event(v));
        }
        let st = sh.lock();
        let values: Vec<u32> = st.events.iter().map(|e| e.value).collect();
        assert_eq!(values, [3, 4]);
        assert_eq!(st.events_dropped, 3);
    }

    #[test]
    fn unlimited_and_zero_backlogs() {
        let sh = shared(None);
        let p = StreamProtocol { shared: sh.clone() };
        for v in 0..500 {
            p.event_received(event(v));
        }
        assert_eq!(sh.lock().events.len(), 500);
        let sh = shared(Some(0));
        let p = StreamProtocol { shared: sh.clone() };
        p.event_received(event(1));
        assert!(sh.lock().events.is_empty());
        assert_eq!(sh.lock().events_dropped, 1);
    }

    #[test]
    fn closed_error_is_distinct() {
        let e: Error = ZmqStreamClosed.into();
        assert_eq!(e.kind(), ErrorKind::Closed);
        assert!(e == ZmqStreamClosed);
        assert!(Error::new(ErrorKind::Closed, "socket is closed") != ZmqStreamClosed);
        assert!(read_limits(Some(1), Some(2)).is_err());
        assert_eq!(read_limits(None, Some(8)).unwrap(), (32, 8));
    }
}
