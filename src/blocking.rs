//! A blocking API, for programs without an async runtime of their own: a [`Socket`] whose
//! calls block the calling thread, as the `zmq` crate's (libzmq's) do, with `RCVTIMEO`
//! and `SNDTIMEO`, and [`poll`] over several sockets as `zmq_poll`. The README's "Blocking
//! API" section maps the `zmq` crate's calls to these.
//!
//! ```no_run
//! use aiozmq::blocking::Socket;
//! use aiozmq::SocketType;
//!
//! # fn main() -> aiozmq::Result<()> {
//! let rep = Socket::new(SocketType::Rep);
//! let endpoint = rep.bind("tcp://127.0.0.1:*")?;
//! let req = Socket::new(SocketType::Req);
//! req.connect(&endpoint)?;
//! req.send("hello")?;
//! let request = rep.recv()?;
//! rep.send(request)?;
//! assert_eq!(&req.recv()?[0][..], b"hello");
//! # Ok(()) }
//! ```
//!
//! # The background runtime
//! Every blocking socket runs on one shared tokio runtime, started by the first call that
//! needs it (a bind or connect, a wait) and kept until the process exits: one worker
//! thread, `aiozmq-blocking`, which runs the connections of every blocking socket (as
//! libzmq's one I/O thread does), plus tokio's blocking-pool threads, started only for
//! host name resolution and ended after 10 s idle. A call that waits runs on the calling
//! thread, which sleeps until the operation completes; a call that need not wait
//! (`try_send`, `try_recv`, a `send` that finds room, a `recv` that finds a message, the
//! options) does not touch the runtime at all.
//!
//! # Inside an async runtime
//! A blocking call made from inside a tokio runtime still blocks the calling thread, as a
//! `zmq` crate call would; it never panics. On a multi-thread runtime it waits inside
//! `tokio::task::block_in_place`, so that runtime moves its other tasks to other workers
//! meanwhile. Elsewhere (a current-thread runtime) the operation runs as a task on the
//! background runtime while the calling thread waits for it: every other task of that
//! runtime stalls until the call returns, so there use the async [`crate::Socket`] (or
//! move the blocking calls to `spawn_blocking`).
//!
//! # Errors
//! The crate's [`Error`]: `EAGAIN` ([`ErrorKind::Again`]) when a non-blocking call
//! (`try_send`, `try_recv`, or a timeout of 0) cannot proceed, `ETIMEDOUT`
//! ([`ErrorKind::TimedOut`]) when a positive `RCVTIMEO`/`SNDTIMEO` runs out (libzmq
//! reports `EAGAIN` for both), `ETERM` ([`ErrorKind::Closed`]) once the socket is closed.

use crate::socket::TrySendError;
use crate::{Counters, Error, ErrorKind, Message, Result, SocketType};
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

pub use crate::socket::PollEvents;

/// `ZMQ_POLLIN`, for [`poll`] items: the socket has a message to receive.
pub const POLLIN: PollEvents = PollEvents::POLLIN;
/// `ZMQ_POLLOUT`, for [`poll`] items: the socket can queue a message.
pub const POLLOUT: PollEvents = PollEvents::POLLOUT;

/// The shared background runtime once started (see the module documentation), or why it
/// could not start.
static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

/// The shared background runtime, started on first use.
fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("aiozmq-blocking")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot start the blocking API's runtime: {e}"),
            )
        })
}

/// Runs `fut` on the background runtime, blocking the calling thread until it completes
/// (see "Inside an async runtime" in the module documentation).
fn run<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = runtime()?;
    let Ok(current) = Handle::try_current() else {
        return Ok(rt.block_on(fut));
    };
    if current.runtime_flavor() == RuntimeFlavor::MultiThread {
        // `block_in_place` leaves that runtime's context, where `block_on` is allowed.
        return Ok(tokio::task::block_in_place(|| rt.block_on(fut)));
    }
    // A current-thread runtime's context cannot be left (`block_in_place` is refused there)
    // and `block_on` would panic inside it: the operation runs as a task, this thread waits.
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| Error::new(ErrorKind::Io, "the operation ended without a result"))
}

/// A timeout option's value: -1 waits for ever, 0 not at all, N for N milliseconds.
fn check_timeout(ms: i32, name: &str) -> Result<()> {
    if ms < -1 {
        return Err(Error::inval(format!(
            "{name} must be -1 (for ever), 0 (no wait) or a number of milliseconds, not {ms}"
        )));
    }
    Ok(())
}

/// Awaits `fut` for at most `ms` milliseconds (-1: no limit); `ETIMEDOUT` when it runs out.
async fn within<T>(ms: i32, what: &'static str, fut: impl Future<Output = Result<T>>) -> Result<T> {
    if ms < 0 {
        return fut.await;
    }
    let limit = Duration::from_millis(ms as u64);
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            ErrorKind::TimedOut,
            format!("{what} did not complete within {ms} ms"),
        )),
    }
}

/// Generates an option's getter and setter, each delegating to the async socket's.
/// Getter and setter pairs that hand over to the async socket's typed options of the same
/// name (documented there).
macro_rules! delegate_options {
    ($( $field:ident : $ty:ty, $setter:ident; )*) => {
        $(
            #[doc = concat!("See [`crate::Socket::", stringify!($field), "`].")]
            pub fn $field(&self) -> $ty {
                self.sock().$field()
            }

            #[doc = concat!("See [`crate::Socket::", stringify!($setter), "`].")]
            pub fn $setter(&self, value: $ty) -> Result<()> {
                self.sock().$setter(value)
            }
        )*
    };
}

/// A ZeroMQ socket whose calls block (see the [module documentation](self)).
///
/// Methods take `&self` and the socket is `Send` and `Sync`: several threads may use one
/// socket at once (share it with an `Arc` or scoped threads), for example one receiving
/// on a DEALER while another sends. [`close`](Self::close) waits up to LINGER for queued
/// messages to go out; dropping the socket closes it without waiting, and the queued
/// messages are still sent in the background, for up to LINGER, while the process lives.
#[derive(Debug)]
pub struct Socket {
    /// Taken only by `drop`, which drops it inside the background runtime's context.
    inner: Option<Arc<crate::Socket>>,
    rcvtimeo: AtomicI32,
    sndtimeo: AtomicI32,
}

impl Socket {
    /// A new, unconnected socket of `socket_type` (the `zmq` crate's
    /// `ctx.socket(zmq::REQ)`; no context is needed).
    pub fn new(socket_type: SocketType) -> Socket {
        Socket {
            inner: Some(Arc::new(crate::Socket::new(socket_type))),
            rcvtimeo: AtomicI32::new(-1),
            sndtimeo: AtomicI32::new(-1),
        }
    }

    fn sock(&self) -> &Arc<crate::Socket> {
        match &self.inner {
            Some(s) => s,
            None => unreachable!("the socket is taken only when it is dropped"),
        }
    }

    /// The async socket underneath: for what this API does not wrap (a [`crate::Monitor`],
    /// ZAP handlers). Its options and its `try_*` methods work anywhere; its async methods
    /// need a tokio runtime.
    pub fn as_async(&self) -> &crate::Socket {
        self.sock()
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.sock().socket_type()
    }

    /// Binds to `endpoint` (`tcp://127.0.0.1:*` picks a free port) and returns the resolved
    /// endpoint, as [`crate::Socket::bind`].
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        let s = self.sock().clone();
        let endpoint = endpoint.to_string();
        run(async move { s.bind(&endpoint).await })?
    }

    /// Connects to `endpoint` in the background and returns at once, as
    /// [`crate::Socket::connect`]: the connection is retried until it succeeds.
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        let s = self.sock().clone();
        let endpoint = endpoint.to_string();
        run(async move { s.connect(&endpoint).await })?
    }

    /// PEER: connects to `endpoint` and returns the routing id of the peer it reaches, as
    /// [`crate::Socket::connect_peer`].
    pub fn connect_peer(&self, endpoint: &str) -> Result<u32> {
        let s = self.sock().clone();
        let endpoint = endpoint.to_string();
        run(async move { s.connect_peer(&endpoint).await })?
    }

    /// Stops listening on `endpoint` (as returned by [`bind`](Self::bind)); when it returns
    /// the address is free to bind again.
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        let s = self.sock().clone();
        let endpoint = endpoint.to_string();
        run(async move { s.unbind(&endpoint).await })?
    }

    /// Stops connecting to `endpoint` and closes that connection.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        let s = self.sock().clone();
        let endpoint = endpoint.to_string();
        run(async move { s.disconnect(&endpoint).await })?
    }

    /// The endpoints this socket is bound to (resolved form; the last one is libzmq's
    /// `ZMQ_LAST_ENDPOINT`).
    pub fn bindings(&self) -> Vec<String> {
        self.sock().bindings()
    }

    /// The endpoints this socket connects to.
    pub fn connections(&self) -> Vec<String> {
        self.sock().connections()
    }

    /// Sends a message (every frame of it), waiting while no peer can take it, for at most
    /// [`sndtimeo`](Self::sndtimeo): `EAGAIN` at once with a timeout of 0, `ETIMEDOUT`
    /// when a positive timeout runs out. On either error the message was not sent (use
    /// [`try_send`](Self::try_send) to get it back).
    pub fn send(&self, msg: impl Into<Message>) -> Result<()> {
        let timeo = self.sndtimeo.load(Ordering::Relaxed);
        let msg = match self.sock().try_send(msg) {
            Ok(()) => return Ok(()),
            Err(TrySendError { error, message }) if error.kind() == ErrorKind::Again => {
                if timeo == 0 {
                    return Err(error);
                }
                message
            }
            Err(e) => return Err(e.error),
        };
        let s = self.sock().clone();
        run(async move { within(timeo, "send (SNDTIMEO)", s.send(msg)).await })?
    }

    /// Sends the frames of `parts` as one message, as [`send`](Self::send).
    pub fn send_multipart<I, T>(&self, parts: I) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: Into<Bytes>,
    {
        self.send(parts.into_iter().collect::<Message>())
    }

    /// Receives the next message (every frame of it), waiting for at most
    /// [`rcvtimeo`](Self::rcvtimeo): `EAGAIN` at once with a timeout of 0 when nothing is
    /// queued, `ETIMEDOUT` when a positive timeout runs out.
    pub fn recv(&self) -> Result<Message> {
        let timeo = self.rcvtimeo.load(Ordering::Relaxed);
        match self.sock().try_recv() {
            Ok(m) => return Ok(m),
            Err(e) if e.kind() == ErrorKind::Again && timeo != 0 => {}
            Err(e) => return Err(e),
        }
        let s = self.sock().clone();
        run(async move { within(timeo, "recv (RCVTIMEO)", s.recv()).await })?
    }

    /// Receives the next message as its frames, as [`recv`](Self::recv).
    pub fn recv_multipart(&self) -> Result<Vec<Bytes>> {
        Ok(self.recv()?.into_iter().collect())
    }

    /// Sends without waiting (the `zmq` crate's `DONTWAIT` flag): `EAGAIN`, with the
    /// message given back, when no peer can take it now.
    #[allow(clippy::result_large_err)] // the error hands the message back
    pub fn try_send(&self, msg: impl Into<Message>) -> std::result::Result<(), TrySendError> {
        self.sock().try_send(msg)
    }

    /// Receives without waiting (the `zmq` crate's `DONTWAIT` flag): `EAGAIN` when no
    /// message is queued.
    pub fn try_recv(&self) -> Result<Message> {
        self.sock().try_recv()
    }

    /// libzmq's `ZMQ_EVENTS`: what the socket is ready for now (see
    /// [`crate::Socket::events`]).
    pub fn events(&self) -> Result<PollEvents> {
        self.sock().events()
    }

    /// A [`poll`] item for this socket, asking for `events`.
    pub fn as_poll_item(&self, events: PollEvents) -> PollItem<'_> {
        PollItem::new(self, events)
    }

    /// Closes the socket: no more sends or receives; queued messages are sent for up to
    /// LINGER, then every connection is closed. Returns when that is done, never later
    /// than LINGER plus a short grace (see [`crate::Socket::close`]). Calling it again
    /// returns at once.
    ///
    /// Errors: only when the background runtime cannot start (the socket is then closed
    /// when dropped).
    pub fn close(&self) -> Result<()> {
        let s = self.sock().clone();
        run(async move { s.close().await })
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.sock().is_closed()
    }

    /// ZMQ_RCVTIMEO in milliseconds: how long [`recv`](Self::recv) waits (-1, the default:
    /// for ever; 0: not at all).
    pub fn rcvtimeo(&self) -> i32 {
        self.rcvtimeo.load(Ordering::Relaxed)
    }

    /// Sets [`rcvtimeo`](Self::rcvtimeo); `EINVAL` below -1.
    pub fn set_rcvtimeo(&self, ms: i32) -> Result<()> {
        check_timeout(ms, "RCVTIMEO")?;
        self.rcvtimeo.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// ZMQ_SNDTIMEO in milliseconds: how long [`send`](Self::send) waits for room (-1, the
    /// default: for ever; 0: not at all).
    pub fn sndtimeo(&self) -> i32 {
        self.sndtimeo.load(Ordering::Relaxed)
    }

    /// Sets [`sndtimeo`](Self::sndtimeo); `EINVAL` below -1.
    pub fn set_sndtimeo(&self, ms: i32) -> Result<()> {
        check_timeout(ms, "SNDTIMEO")?;
        self.sndtimeo.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// SUB: subscribes to messages whose first frame starts with `topic` (see
    /// [`crate::Socket::subscribe`]).
    pub fn subscribe(&self, topic: impl Into<Bytes>) -> Result<()> {
        self.sock().subscribe(topic)
    }

    /// SUB: drops one reference to a subscription (see [`crate::Socket::unsubscribe`]).
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) -> Result<()> {
        self.sock().unsubscribe(topic)
    }

    /// DISH: joins a group (see [`crate::Socket::join`]).
    pub fn join(&self, group: impl AsRef<[u8]>) -> Result<()> {
        self.sock().join(group)
    }

    /// DISH: leaves a group (see [`crate::Socket::leave`]).
    pub fn leave(&self, group: impl AsRef<[u8]>) -> Result<()> {
        self.sock().leave(group)
    }

    /// ZMQ_ROUTING_ID (formerly ZMQ_IDENTITY): the identity sent to peers.
    pub fn routing_id(&self) -> Bytes {
        self.sock().routing_id()
    }

    /// Sets [`routing_id`](Self::routing_id) (see [`crate::Socket::set_routing_id`]).
    pub fn set_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
        self.sock().set_routing_id(id)
    }

    /// ZMQ_PLAIN_SERVER (see [`crate::Socket::set_plain_server`]).
    pub fn set_plain_server(&self, on: bool) -> Result<()> {
        self.sock().set_plain_server(on)
    }

    /// ZMQ_PLAIN_USERNAME (see [`crate::Socket::set_plain_username`]).
    pub fn set_plain_username(&self, user: impl Into<Bytes>) -> Result<()> {
        self.sock().set_plain_username(user)
    }

    /// ZMQ_PLAIN_PASSWORD (see [`crate::Socket::set_plain_password`]).
    pub fn set_plain_password(&self, password: impl Into<Bytes>) -> Result<()> {
        self.sock().set_plain_password(password)
    }

    /// ZMQ_CURVE_SERVER (see [`crate::Socket::set_curve_server`]).
    pub fn set_curve_server(&self, on: bool) -> Result<()> {
        self.sock().set_curve_server(on)
    }

    /// ZMQ_CURVE_SERVERKEY (see [`crate::Socket::set_curve_serverkey`]).
    pub fn set_curve_serverkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.sock().set_curve_serverkey(key)
    }

    /// ZMQ_CURVE_PUBLICKEY (see [`crate::Socket::set_curve_publickey`]).
    pub fn set_curve_publickey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.sock().set_curve_publickey(key)
    }

    /// ZMQ_CURVE_SECRETKEY (see [`crate::Socket::set_curve_secretkey`]).
    pub fn set_curve_secretkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        self.sock().set_curve_secretkey(key)
    }

    /// ZMQ_ZAP_DOMAIN (see [`crate::Socket::set_zap_domain`]).
    pub fn set_zap_domain(&self, domain: impl Into<String>) -> Result<()> {
        self.sock().set_zap_domain(domain)
    }

    /// Any option by libzmq's number (see [`crate::Socket::getsockopt`]).
    pub fn getsockopt(&self, option: i32) -> Result<crate::socket::OptValue> {
        self.sock().getsockopt(option)
    }

    /// Sets any option by libzmq's number (see [`crate::Socket::setsockopt`]).
    pub fn setsockopt(&self, option: i32, value: impl Into<crate::socket::OptValue>) -> Result<()> {
        self.sock().setsockopt(option, value)
    }

    /// The socket's counters (see [`crate::Socket::counters`]).
    pub fn counters(&self) -> Counters {
        self.sock().counters()
    }

    delegate_options! {
        sndhwm: usize, set_sndhwm;
        rcvhwm: usize, set_rcvhwm;
        linger: Duration, set_linger;
        reconnect_ivl: Duration, set_reconnect_ivl;
        reconnect_ivl_max: Duration, set_reconnect_ivl_max;
        maxmsgsize: Option<u64>, set_maxmsgsize;
        router_mandatory: bool, set_router_mandatory;
        router_handover: bool, set_router_handover;
        stream_notify: bool, set_stream_notify;
        handshake_ivl: Duration, set_handshake_ivl;
        heartbeat_ivl: Duration, set_heartbeat_ivl;
        heartbeat_ttl: Duration, set_heartbeat_ttl;
        heartbeat_timeout: Duration, set_heartbeat_timeout;
        immediate: bool, set_immediate;
        conflate: bool, set_conflate;
        req_relaxed: bool, set_req_relaxed;
        req_correlate: bool, set_req_correlate;
        xpub_verbose: bool, set_xpub_verbose;
        tcp_keepalive: i32, set_tcp_keepalive;
        tcp_keepalive_idle: i32, set_tcp_keepalive_idle;
        tcp_keepalive_cnt: i32, set_tcp_keepalive_cnt;
        tcp_keepalive_intvl: i32, set_tcp_keepalive_intvl;
        sndbuf: i32, set_sndbuf;
        rcvbuf: i32, set_rcvbuf;
    }
}

impl Drop for Socket {
    /// Closes the socket without waiting: queued messages are sent in the background on
    /// the background runtime, for up to LINGER.
    fn drop(&mut self) {
        // The async socket lingers on the runtime it finds when it is dropped: make that
        // the background runtime (never the caller's, whose life may be shorter).
        // A runtime never started ran no task of this socket: nothing to linger for.
        let _guard = RUNTIME
            .get()
            .and_then(|r| r.as_ref().ok())
            .map(|rt| rt.enter());
        drop(self.inner.take());
    }
}

/// One socket of a [`poll`] call: the events asked for, and after the call the events
/// found (libzmq's `zmq_pollitem_t` for a socket; file descriptors are not polled).
#[derive(Debug)]
pub struct PollItem<'a> {
    socket: &'a Socket,
    events: PollEvents,
    revents: PollEvents,
}

impl<'a> PollItem<'a> {
    /// An item asking for `events` on `socket`.
    pub fn new(socket: &'a Socket, events: PollEvents) -> PollItem<'a> {
        PollItem {
            socket,
            events,
            revents: PollEvents::empty(),
        }
    }

    /// The socket.
    pub fn socket(&self) -> &'a Socket {
        self.socket
    }

    /// The events asked for.
    pub fn events(&self) -> PollEvents {
        self.events
    }

    /// Changes the events asked for (between calls).
    pub fn set_events(&mut self, events: PollEvents) {
        self.events = events;
    }

    /// The events found by the last [`poll`] (among those asked for).
    pub fn revents(&self) -> PollEvents {
        self.revents
    }

    /// The last [`poll`] found `POLLIN`.
    pub fn is_readable(&self) -> bool {
        self.revents.is_readable()
    }

    /// The last [`poll`] found `POLLOUT`.
    pub fn is_writable(&self) -> bool {
        self.revents.is_writable()
    }
}

/// Looks at every item and fills in its `revents`; how many have any.
fn fill(items: &mut [PollItem<'_>]) -> Result<usize> {
    let mut ready = 0;
    for item in items.iter_mut() {
        item.revents = item.socket.events()? & item.events;
        if !item.revents.is_empty() {
            ready += 1;
        }
    }
    Ok(ready)
}

/// Waits until one of `waits` is ready for its events, or until `deadline`; whether one
/// became ready.
async fn wait_any(
    waits: Vec<(Arc<crate::Socket>, PollEvents)>,
    deadline: Option<Instant>,
) -> Result<bool> {
    type Ready = Pin<Box<dyn Future<Output = Result<PollEvents>> + Send>>;
    let mut readies: Vec<Ready> = waits
        .into_iter()
        .map(|(s, events)| Box::pin(async move { s.ready(events).await }) as Ready)
        .collect();
    let any = std::future::poll_fn(|cx| {
        for r in readies.iter_mut() {
            if let Poll::Ready(r) = r.as_mut().poll(cx) {
                return Poll::Ready(r.map(|_| true));
            }
        }
        Poll::Pending
    });
    match deadline {
        None => any.await,
        Some(d) => tokio::time::timeout_at(d.into(), any)
            .await
            .unwrap_or(Ok(false)),
    }
}

/// libzmq's `zmq_poll` over sockets: waits until at least one item's socket is ready for
/// one of its events, or until `timeout` milliseconds passed (negative: no limit; 0: look
/// and return). Fills in every item's [`revents`](PollItem::revents) and returns how many
/// items have any (0 when the timeout ran out).
///
/// Readiness is looked at, not taken: another thread may receive the message (or fill
/// the queue) before the caller acts, so the receive or send that follows can still meet
/// `EAGAIN`; use [`Socket::try_recv`]/[`Socket::try_send`] after a poll.
///
/// Errors: `ETERM` when an item's socket is closed; `EINVAL` when no item asks for any
/// event and the timeout is unlimited (the call would never return).
///
/// ```no_run
/// use aiozmq::blocking::{poll, Socket, POLLIN};
/// use aiozmq::SocketType;
/// # fn main() -> aiozmq::Result<()> {
/// let a = Socket::new(SocketType::Pull);
/// let b = Socket::new(SocketType::Sub);
/// // ... bind, connect, subscribe ...
/// let mut items = [a.as_poll_item(POLLIN), b.as_poll_item(POLLIN)];
/// if poll(&mut items, 1000)? > 0 {
///     if items[0].is_readable() {
///         let msg = a.try_recv()?;
///     }
/// }
/// # Ok(()) }
/// ```
pub fn poll(items: &mut [PollItem<'_>], timeout: i64) -> Result<usize> {
    let ready = fill(items)?;
    if ready > 0 || timeout == 0 {
        return Ok(ready);
    }
    let deadline = u64::try_from(timeout)
        .ok()
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let waits: Vec<(Arc<crate::Socket>, PollEvents)> = items
        .iter()
        .filter(|i| !i.events.is_empty())
        .map(|i| (i.socket.sock().clone(), i.events))
        .collect();
    if waits.is_empty() && deadline.is_none() {
        return Err(Error::inval(
            "poll without events to wait for and without a timeout would never return",
        ));
    }
    loop {
        let woke = run(wait_any(waits.clone(), deadline))??;
        let ready = fill(items)?;
        // Woken but nothing found: another thread took it first; wait on.
        if ready > 0 || !woke {
            return Ok(ready);
        }
    }
}
