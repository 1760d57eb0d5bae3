//! Sockets: the public [`Socket`] handle, its options, monitor events, and the routing
//! state its connections share.
//!
//! # Organization
//! - `state`: per-peer queues and the routing strategy of each socket type (table there).
//! - [`options`]: libzmq's options with their defaults.
//! - [`monitor`]: monitor events with libzmq's names and numbers.
//! - `ready`: readiness without taking anything ([`PollEvents`], [`Socket::events`],
//!   [`Socket::ready`]).
//! - `streams`: the socket as a `futures` `Stream` ([`SocketStream`]) and `Sink`
//!   ([`SocketSink`]).
//!
//! A socket owns no task of its own: each bound endpoint has an accept task, each connected
//! endpoint a connect/reconnect task, and each live connection an engine task. Sending
//! puts a message straight into the chosen peer's queue and wakes that peer's engine —
//! for a TCP or IPC connection without CURVE, already encoded as ZMTP frames into a
//! write buffer the engine swaps with its own — and engines put received messages
//! straight into the socket's fair queue.

/// Monitor events (the module moved to the crate root; this path stays for compatibility).
#[doc(hidden)]
pub use crate::monitor;
/// Socket options (the module lives in the data plane; this path stays).
pub use crate::plane::options;
mod ready;
mod secure;
pub mod sockopt;
pub use sockopt::{opt, OptValue};
mod streams;

pub use ready::PollEvents;
pub use streams::{SocketSink, SocketStream};

use crate::engine::{self, EngineCtx, Outcome, Target};
use crate::plane::lease::{Borrowed, ReadLease};
pub use crate::plane::state::{Counters, PeerQueue};
use crate::plane::{state, Shared};
use crate::transport::{self, Endpoint, Listener};
use crate::zmtp::{Mechanism, SocketType};
use crate::{Error, ErrorKind, Message, Result};
use bytes::Bytes;
use monitor::{EventKind, EventQueue, Monitor};
use options::Options;
use state::{SendBlock, State, Wakes};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug)]
struct EndpointRecord {
    endpoint: String,
    token: CancellationToken,
    ipc_path: Option<String>,
    /// The name of a bound inproc endpoint.
    inproc_name: Option<String>,
    /// The accept task (binds): awaited by `unbind` so the address is free on return.
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The failure of [`Socket::try_send`]: the error and the message, given back.
#[derive(Debug)]
pub struct TrySendError {
    /// Why it was not sent (`EAGAIN` when every eligible peer is at SNDHWM).
    pub error: Error,
    /// The message, unsent.
    pub message: Message,
}

impl std::fmt::Display for TrySendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for TrySendError {}

/// A ZeroMQ socket.
///
/// Methods take `&self`, so a socket can be shared between tasks with an `Arc` (for
/// example one task receiving while another sends on a DEALER). Must be used inside a
/// tokio runtime (`bind` and `connect` spawn tasks).
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aiozmq::Result<()> {
/// use aiozmq::{Socket, SocketType};
/// let rep = Socket::new(SocketType::Rep);
/// let endpoint = rep.bind("tcp://127.0.0.1:*").await?;
/// let req = Socket::new(SocketType::Req);
/// req.connect(&endpoint).await?;
/// req.send("hello").await?;
/// let request = rep.recv().await?;
/// rep.send(request).await?;
/// assert_eq!(&req.recv().await?[0][..], b"hello");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Socket {
    shared: Arc<Shared>,
    socket_type: SocketType,
    binds: Mutex<Vec<EndpointRecord>>,
    connects: Mutex<Vec<EndpointRecord>>,
    /// ZMQ_LAST_ENDPOINT: the endpoint of the last successful bind (resolved) or connect.
    last_endpoint: Mutex<String>,
    /// [`ready`](Self::ready) calls waiting now (see `turned`).
    ready_waiters: std::sync::atomic::AtomicUsize,
    /// ZMQ_RCVTIMEO and ZMQ_SNDTIMEO in milliseconds (-1: none). Atomics outside the
    /// state lock: `recv` and `send` read them on every call.
    rcvtimeo: AtomicI32,
    sndtimeo: AtomicI32,
    /// ZMQ_USE_FD: the handed descriptor the next tcp/ipc bind adopts (-1: none).
    use_fd: AtomicI32,
    /// Sends of a fan-out socket, for its turns to step aside (`fan_out_turn`).
    fan_out_sends: AtomicU32,
}

/// A fan-out socket's send steps aside (yields to the runtime) once in this many, as
/// tokio's own channels do once their task's budget of 128 operations is spent.
const FAN_OUT_TURN: u32 = 128;

/// A listening socket made outside this library, for [`Socket::bind_listener`].
#[derive(Debug)]
pub enum OwnedListener {
    /// A TCP listener.
    Tcp(std::net::TcpListener),
    /// A Unix-domain listener (the ipc transport).
    #[cfg(unix)]
    Ipc(std::os::unix::net::UnixListener),
}

impl From<std::net::TcpListener> for OwnedListener {
    fn from(l: std::net::TcpListener) -> Self {
        OwnedListener::Tcp(l)
    }
}

#[cfg(unix)]
impl From<std::os::unix::net::UnixListener> for OwnedListener {
    fn from(l: std::os::unix::net::UnixListener) -> Self {
        OwnedListener::Ipc(l)
    }
}

/// `tcp://host:port` of a listener's own address (brackets around an IPv6 host).
fn tcp_listener_endpoint(l: &std::net::TcpListener) -> Result<String> {
    Ok(match l.local_addr()? {
        std::net::SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
    })
}

/// `EINVAL` for a handed socket that does not listen (accepting on it would fail for
/// ever). Checked where the system says (SO_ACCEPTCONN); elsewhere the accept fails.
/// An adopted TCP listener (`bind_listener`, USE_FD) on tokio's reactor.
fn tokio_tcp_listener(l: std::net::TcpListener) -> Result<Listener> {
    l.set_nonblocking(true)?;
    Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
}

/// An adopted Unix listener (`bind_listener`, USE_FD) on tokio's reactor.
#[cfg(unix)]
fn tokio_unix_listener(l: std::os::unix::net::UnixListener) -> Result<Listener> {
    l.set_nonblocking(true)?;
    Ok(Listener::Ipc(tokio::net::UnixListener::from_std(l)?))
}

#[cfg(unix)]
fn check_listening(sock: &socket2::SockRef<'_>, fd: i32) -> Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    if !sock.is_listener()? {
        return Err(Error::inval(format!(
            "descriptor {fd} is a socket that does not listen (it was closed)"
        )));
    }
    let _ = (sock, fd);
    Ok(())
}

/// `ipc://@name` for a Linux abstract socket address.
#[cfg(unix)]
fn abstract_endpoint(addr: &std::os::unix::net::SocketAddr) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        addr.as_abstract_name()
            .map(|n| format!("ipc://@{}", String::from_utf8_lossy(n)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = addr;
        None
    }
}

/// A timeout option's value: -1 waits for ever, 0 not at all, N for N milliseconds.
pub(crate) fn check_timeout(ms: i32, name: &str) -> Result<()> {
    if ms < -1 {
        return Err(Error::inval(format!(
            "{name} must be -1 (for ever), 0 (no wait) or a number of milliseconds, not {ms}"
        )));
    }
    Ok(())
}

/// Awaits `fut` for at most `ms` (> 0) milliseconds; `EAGAIN` when they run out, as
/// libzmq reports an expired RCVTIMEO/SNDTIMEO.
async fn timed<T>(
    ms: i32,
    what: &str,
    option: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(Duration::from_millis(ms as u64), fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::again(format!(
            "{what} did not complete within {option} ({ms} ms)"
        ))),
    }
}

/// Returns `Ok` with the receive batch's next message from the calling function, for the
/// types that batch their receives, when one is there: the first thing `recv`,
/// `recv_untimed` and `try_recv` do. The message is matched where it is popped: through
/// `try_recv_inner`'s `Result<Option<_>>`, or even an inlined function returning the
/// `Option`, it was copied again on its way out of every receive.
macro_rules! return_if_batched {
    ($socket:expr) => {
        if State::batches_recv($socket.socket_type) {
            if let Some(m) = $socket.shared.recv_batch.lock().unwrap().pop_front() {
                return Ok(m);
            }
        }
    };
}

macro_rules! option_accessors {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty, $setter:ident; )*) => {
        $(
            $(#[$doc])*
            pub fn $field(&self) -> $ty {
                self.shared.state.lock().unwrap().opts.$field.clone()
            }

            #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
            pub fn $setter(&self, value: $ty) -> Result<()> {
                self.shared.state.lock().unwrap().opts.$field = value;
                self.shared.send_ready.notify_waiters();
                Ok(())
            }
        )*
    };
}

impl Socket {
    /// A new, unconnected socket of `socket_type`.
    pub fn new(socket_type: SocketType) -> Socket {
        Socket {
            shared: Arc::new(Shared {
                state: Mutex::new(State::new(socket_type)),
                recv_batch: Mutex::new(VecDeque::new()),
                recv_ready: Notify::new(),
                send_ready: Notify::new(),
                closing: CancellationToken::new(),
                terminate: CancellationToken::new(),
                tracker: TaskTracker::new(),
                // Set by each connection's first `in_room`, before its first read.
                read_max: std::sync::atomic::AtomicUsize::new(usize::MAX),
            }),
            socket_type,
            binds: Mutex::new(Vec::new()),
            connects: Mutex::new(Vec::new()),
            last_endpoint: Mutex::new(String::new()),
            ready_waiters: std::sync::atomic::AtomicUsize::new(0),
            rcvtimeo: AtomicI32::new(-1),
            sndtimeo: AtomicI32::new(-1),
            use_fd: AtomicI32::new(-1),
            fan_out_sends: AtomicU32::new(0),
        }
    }

    /// ZMQ_RCVTIMEO in milliseconds, as libzmq: how long [`recv`](Self::recv) waits for a
    /// message before failing with `EAGAIN` (-1, the default: for ever; 0: not at all,
    /// as [`try_recv`](Self::try_recv)).
    pub fn rcvtimeo(&self) -> i32 {
        self.rcvtimeo.load(Ordering::Relaxed)
    }

    /// Sets [`rcvtimeo`](Self::rcvtimeo); `EINVAL` below -1.
    pub fn set_rcvtimeo(&self, ms: i32) -> Result<()> {
        check_timeout(ms, "RCVTIMEO")?;
        self.rcvtimeo.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// ZMQ_SNDTIMEO in milliseconds, as libzmq: how long [`send`](Self::send) waits for
    /// room before failing with `EAGAIN`, the message not sent (-1, the default: for ever;
    /// 0: not at all, as [`try_send`](Self::try_send)).
    pub fn sndtimeo(&self) -> i32 {
        self.sndtimeo.load(Ordering::Relaxed)
    }

    /// Sets [`sndtimeo`](Self::sndtimeo); `EINVAL` below -1.
    pub fn set_sndtimeo(&self, ms: i32) -> Result<()> {
        check_timeout(ms, "SNDTIMEO")?;
        self.sndtimeo.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// ZMQ_USE_FD: the listening descriptor a following `tcp://` or `ipc://`
    /// [`bind`](Self::bind) serves instead of making a listener (-1, the default: none).
    pub fn use_fd(&self) -> i32 {
        self.use_fd.load(Ordering::Relaxed)
    }

    /// Sets [`use_fd`](Self::use_fd), libzmq's ZMQ_USE_FD by number, for socket
    /// activation: `fd` must be one of the listeners handed to this process by its
    /// launcher (systemd, `systemfd`, s6, ...), that is `3 <= fd < 3 + LISTEN_FDS` with
    /// `LISTEN_PID` this process's id (the first call that finds them reads and removes
    /// both variables from the environment, as systemd's `sd_listen_fds(1)` does; the
    /// record is kept for the process). Any other number is `EINVAL`: safe Rust cannot
    /// adopt an arbitrary descriptor, [`bind_listener`](Self::bind_listener) serves a
    /// listener the application owns. -1 clears it. Unix only (`EINVAL` elsewhere).
    ///
    /// As libzmq, the bind that follows takes its transport from the endpoint and its
    /// listener from the descriptor: a `tcp://` bind ignores the endpoint's address and
    /// is named by the listener's own (`tcp://127.0.0.1:8080`); an `ipc://path` bind is
    /// named by the path as written, and leaves the socket file to its creator on unbind
    /// and close. BACKLOG and the listener options are not applied (the launcher made
    /// the listener). Each descriptor serves one bind: a second bind while it is still
    /// set is `EINVAL` (libzmq would serve the same descriptor twice). Binds to inproc://
    /// and udp:// are not affected.
    pub fn set_use_fd(&self, fd: i32) -> Result<()> {
        if fd != -1 {
            #[cfg(unix)]
            transport::activation::check(fd)?;
            #[cfg(not(unix))]
            return Err(Error::inval(format!(
                "ZMQ_USE_FD {fd}: socket activation hands descriptors on Unix only; pass an \
                 owned listener to Socket::bind_listener instead"
            )));
        }
        self.use_fd.store(fd, Ordering::Relaxed);
        Ok(())
    }

    /// The socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// True once [`close`](Self::close) was called (or the socket was dropped).
    pub fn is_closed(&self) -> bool {
        self.shared.state.lock().unwrap().closed
    }

    /// A copy of every option.
    pub fn options(&self) -> Options {
        self.shared.state.lock().unwrap().opts.clone()
    }

    option_accessors! {
        /// ZMQ_SNDHWM: most messages queued per peer for sending (0 = unlimited; default 1000).
        sndhwm: usize, set_sndhwm;
        /// ZMQ_RCVHWM: most messages queued per peer after receiving (0 = unlimited; default 1000).
        /// A network peer's connection also stops reading while its queue holds its share of
        /// 16 MiB (at least 32 KiB), whatever RCVHWM allows.
        rcvhwm: usize, set_rcvhwm;
        /// ZMQ_LINGER: how long `close` keeps flushing queued messages (default 30 s).
        linger: Duration, set_linger;
        /// ZMQ_RECONNECT_IVL (default 100 ms).
        reconnect_ivl: Duration, set_reconnect_ivl;
        /// ZMQ_RECONNECT_IVL_MAX: backoff ceiling (zero = no backoff, the default).
        reconnect_ivl_max: Duration, set_reconnect_ivl_max;
        /// ZMQ_MAXMSGSIZE: largest frame accepted from a peer (`None` = no limit).
        maxmsgsize: Option<u64>, set_maxmsgsize;
        /// ZMQ_ROUTER_MANDATORY (ROUTER): unroutable messages fail with `EHOSTUNREACH`.
        router_mandatory: bool, set_router_mandatory;
        /// ZMQ_ROUTER_HANDOVER (ROUTER): a new connection with a known routing id takes it over.
        router_handover: bool, set_router_handover;
        /// ZMQ_STREAM_NOTIFY (STREAM): a connection's start and end are received as
        /// `[routing id, empty frame]` (default on).
        stream_notify: bool, set_stream_notify;
        /// ZMQ_HANDSHAKE_IVL: time allowed for the handshake (default 30 s).
        handshake_ivl: Duration, set_handshake_ivl;
        /// ZMQ_HEARTBEAT_IVL: PING interval (zero = off).
        heartbeat_ivl: Duration, set_heartbeat_ivl;
        /// ZMQ_HEARTBEAT_TTL: TTL advertised in our PINGs.
        heartbeat_ttl: Duration, set_heartbeat_ttl;
        /// ZMQ_HEARTBEAT_TIMEOUT: silence after a PING that drops the connection (zero = IVL).
        heartbeat_timeout: Duration, set_heartbeat_timeout;
        /// ZMQ_IMMEDIATE: queue messages only to completed connections.
        immediate: bool, set_immediate;
        /// ZMQ_CONFLATE: keep only the newest message per peer queue.
        conflate: bool, set_conflate;
        /// ZMQ_REQ_RELAXED (REQ): allow a new request before the reply arrived.
        req_relaxed: bool, set_req_relaxed;
        /// ZMQ_REQ_CORRELATE (REQ): tag requests and accept only the matching reply.
        req_correlate: bool, set_req_correlate;
        /// ZMQ_XPUB_MANUAL (PUB/XPUB): the peers' subscribe and unsubscribe messages are
        /// all passed up to `recv` and not applied: after receiving one, the application
        /// calls [`subscribe`](Self::subscribe) / [`unsubscribe`](Self::unsubscribe)
        /// (libzmq's SUBSCRIBE/UNSUBSCRIBE on the XPUB), which apply to the peer that
        /// sent it. A peer that leaves is reported unsubscribed from every topic it sent.
        xpub_manual: bool, set_xpub_manual;
        /// ZMQ_XPUB_NODROP (PUB/XPUB): while a matching subscriber is at SNDHWM, `send`
        /// waits (and `try_send` fails with `EAGAIN`) instead of dropping the message for
        /// that subscriber.
        xpub_nodrop: bool, set_xpub_nodrop;
        /// ZMQ_XPUB_WELCOME_MSG (PUB/XPUB): a one-frame message sent to every new
        /// connection before anything else (empty: none). A SUB receives it only when
        /// subscribed to it, as from libzmq.
        xpub_welcome_msg: Bytes, set_xpub_welcome_msg;
        /// ZMQ_INVERT_MATCHING: a PUB/XPUB sends each message to the peers no
        /// subscription of which matches it (peers without any subscription included);
        /// a SUB/XSUB receives the messages none of its subscriptions matches. Both ends
        /// of a PUB/SUB pair set it (a SUB's subscriptions still reach its publishers).
        invert_matching: bool, set_invert_matching;
        /// ZMQ_ONLY_FIRST_SUBSCRIBE (PUB/XPUB receiving, XSUB sending): a multipart
        /// message whose first frame is not a subscription is data as a whole. Without
        /// it, as libzmq, every frame of a multipart message that starts with 1 or 0 is
        /// a subscribe or unsubscribe, and the other frames are data (passed on as one
        /// message).
        only_first_subscribe: bool, set_only_first_subscribe;
        /// ZMQ_XSUB_VERBOSE_UNSUBSCRIBE (XSUB): every unsubscribe message goes upstream,
        /// not only the one dropping a topic's last reference (nor only known topics).
        xsub_verbose_unsubscribe: bool, set_xsub_verbose_unsubscribe;
        /// ZMQ_TCP_KEEPALIVE: -1 system default, 0 off, 1 on (new connections).
        tcp_keepalive: i32, set_tcp_keepalive;
        /// ZMQ_TCP_KEEPALIVE_IDLE in seconds (-1 system default).
        tcp_keepalive_idle: i32, set_tcp_keepalive_idle;
        /// ZMQ_TCP_KEEPALIVE_CNT (-1 system default).
        tcp_keepalive_cnt: i32, set_tcp_keepalive_cnt;
        /// ZMQ_TCP_KEEPALIVE_INTVL in seconds (-1 system default).
        tcp_keepalive_intvl: i32, set_tcp_keepalive_intvl;
        /// ZMQ_SNDBUF: SO_SNDBUF of new TCP and IPC connections in bytes (-1 system
        /// default, as libzmq; Linux doubles what is asked for). At -1 an IPC connection
        /// asks for 1 MiB (never less than the system default, and capped by
        /// `net.core.wmem_max`): TCP's send buffer grows by itself, a Unix socket's does
        /// not, and at 208 KiB a fast sender and its reader take turns sleeping.
        sndbuf: i32, set_sndbuf;
        /// ZMQ_RCVBUF: SO_RCVBUF of new TCP and IPC connections in bytes (-1 system default).
        rcvbuf: i32, set_rcvbuf;
        /// ZMQ_BACKLOG: the listen queue of TCP and IPC listeners bound afterwards (default 100).
        backlog: i32, set_backlog;
        /// ZMQ_IPV6: `tcp://*` binds both IPv4 and IPv6, and host names resolve to IPv6
        /// addresses too; IPv6 literals (`tcp://[::1]:5555`) work either way (default off).
        ipv6: bool, set_ipv6;
        /// ZMQ_TOS: the IP type of service (IPv6 traffic class) of new TCP connections and
        /// listeners (0, the default: leave the system's).
        tos: i32, set_tos;
        /// ZMQ_MULTICAST_HOPS: the TTL (hop limit) of a RADIO's multicast datagrams on
        /// `udp://` endpoints connected afterwards (default 1: the local network). libzmq
        /// takes values above 0 only; [`setsockopt`](Self::setsockopt) checks that.
        multicast_hops: i32, set_multicast_hops;
        /// ZMQ_MULTICAST_LOOP: a RADIO's multicast datagrams on `udp://` endpoints
        /// connected afterwards loop back to receivers on this host (default on).
        multicast_loop: bool, set_multicast_loop;
        /// ZMQ_PRIORITY: SO_PRIORITY of new TCP connections and listeners, on Linux (0,
        /// the default: leave the system's; above 6 needs CAP_NET_ADMIN).
        priority: i32, set_priority;
        /// ZMQ_BINDTODEVICE: the network device (or VRF) new TCP connections and listeners
        /// are bound to, on Linux (needs CAP_NET_RAW; empty, the default: none).
        bindtodevice: String, set_bindtodevice;
        /// ZMQ_TCP_MAXRT: how long sent data may stay unacknowledged before a TCP
        /// connection is dropped (TCP_USER_TIMEOUT on Linux; zero, the default: the system's).
        tcp_maxrt: Duration, set_tcp_maxrt;
        /// ZMQ_CONNECT_TIMEOUT: how long one TCP connect attempt may take before it fails
        /// and is retried (zero, the default: the system's own limit).
        connect_timeout: Duration, set_connect_timeout;
        /// ZMQ_RECONNECT_STOP: the conditions under which a connect stops retrying, a mask
        /// of [`opt::RECONNECT_STOP_CONN_REFUSED`] (the peer refused the connection),
        /// [`opt::RECONNECT_STOP_HANDSHAKE_FAILED`] (the ZMTP handshake failed) and
        /// [`opt::RECONNECT_STOP_AFTER_DISCONNECT`] (after `disconnect`, which here always
        /// stops it). The connect's queued messages are dropped with it. Default 0.
        reconnect_stop: i32, set_reconnect_stop;
        /// ZMQ_ZAP_ENFORCE_DOMAIN, as libzmq 4.3.5 (default off): a NULL socket or a
        /// CURVE server with a [`zap_domain`](Self::zap_domain) but no
        /// [`ZAP handler`](Self::set_zap_handler) refuses every connection (the
        /// HANDSHAKE_FAILED_NO_DETAIL event, EFAULT) instead of accepting it unchecked;
        /// and a CURVE server without a domain does not ask its handler (encryption
        /// without authentication). PLAIN servers are not affected.
        zap_enforce_domain: bool, set_zap_enforce_domain;
        /// ZMQ_LOOPBACK_FASTPATH: libzmq's Windows-only SIO_LOOPBACK_FAST_PATH for TCP
        /// over the loopback; accepted and read back, with no effect (as libzmq on every
        /// other system).
        loopback_fastpath: bool, set_loopback_fastpath;
        /// ZMQ_BUSY_POLL: SO_BUSY_POLL, microseconds a read on an empty TCP connection
        /// busy-polls the device queue, set on new TCP connections (Linux; above
        /// `net.core.busy_poll` needs CAP_NET_ADMIN; 0, the default: leave the system's).
        busy_poll: i32, set_busy_poll;
    }

    /// ZMQ_IN_BATCH_SIZE: libzmq's read buffer size in bytes (default 8192). Accepted
    /// (`EINVAL` unless positive) and read back with no effect: a connection here reads
    /// 8 KiB first and grows its reads up to 4 MiB while they come back full, which a
    /// fixed size would only slow down.
    pub fn in_batch_size(&self) -> i32 {
        self.shared.state.lock().unwrap().opts.in_batch_size
    }

    /// Sets [`in_batch_size`](Self::in_batch_size).
    pub fn set_in_batch_size(&self, bytes: i32) -> Result<()> {
        if bytes <= 0 {
            return Err(Error::inval(format!(
                "IN_BATCH_SIZE must be positive, not {bytes}"
            )));
        }
        self.shared.state.lock().unwrap().opts.in_batch_size = bytes;
        Ok(())
    }

    /// ZMQ_OUT_BATCH_SIZE: libzmq's write batch size in bytes (default 8192). Accepted
    /// (`EINVAL` unless positive) and read back with no effect: a connection here gathers
    /// queued messages into one write of up to 64 KiB (several buffers at once), and a
    /// message larger than that goes out without a copy whatever the batch size.
    pub fn out_batch_size(&self) -> i32 {
        self.shared.state.lock().unwrap().opts.out_batch_size
    }

    /// Sets [`out_batch_size`](Self::out_batch_size).
    pub fn set_out_batch_size(&self, bytes: i32) -> Result<()> {
        if bytes <= 0 {
            return Err(Error::inval(format!(
                "OUT_BATCH_SIZE must be positive, not {bytes}"
            )));
        }
        self.shared.state.lock().unwrap().opts.out_batch_size = bytes;
        Ok(())
    }

    /// ZMQ_XPUB_VERBOSE (XPUB): pass every subscribe message up, not only the first of a
    /// topic. Setting it turns [`xpub_verboser`](Self::xpub_verboser) off, as in libzmq.
    pub fn xpub_verbose(&self) -> bool {
        self.shared.state.lock().unwrap().opts.xpub_verbose
    }

    /// Sets [`xpub_verbose`](Self::xpub_verbose).
    pub fn set_xpub_verbose(&self, on: bool) -> Result<()> {
        let mut st = self.shared.state.lock().unwrap();
        st.opts.xpub_verbose = on;
        st.opts.xpub_verboser = false;
        Ok(())
    }

    /// ZMQ_XPUB_VERBOSER (XPUB): pass every subscribe and every unsubscribe message up
    /// (the unsubscribes of a leaving peer included), not only a topic's first subscribe
    /// and last unsubscribe. Setting it sets [`xpub_verbose`](Self::xpub_verbose) alike.
    pub fn xpub_verboser(&self) -> bool {
        self.shared.state.lock().unwrap().opts.xpub_verboser
    }

    /// Sets [`xpub_verboser`](Self::xpub_verboser).
    pub fn set_xpub_verboser(&self, on: bool) -> Result<()> {
        let mut st = self.shared.state.lock().unwrap();
        st.opts.xpub_verbose = on;
        st.opts.xpub_verboser = on;
        Ok(())
    }

    /// ZMQ_XPUB_MANUAL_LAST_VALUE (PUB/XPUB): [`xpub_manual`](Self::xpub_manual), and the
    /// first message sent after receiving a subscription goes only to the peer that sent
    /// it, if it matches (for a last-value cache); later ones go to every subscriber.
    /// Setting it sets `xpub_manual` alike.
    pub fn xpub_manual_last_value(&self) -> bool {
        self.shared
            .state
            .lock()
            .unwrap()
            .opts
            .xpub_manual_last_value
    }

    /// Sets [`xpub_manual_last_value`](Self::xpub_manual_last_value).
    pub fn set_xpub_manual_last_value(&self, on: bool) -> Result<()> {
        let mut st = self.shared.state.lock().unwrap();
        st.opts.xpub_manual = on;
        st.opts.xpub_manual_last_value = on;
        Ok(())
    }

    /// ZMQ_TOPICS_COUNT (read-only): how many distinct topics are subscribed: a SUB's or
    /// XSUB's own, a PUB's or XPUB's peers' (as applied; under XPUB_MANUAL, those the
    /// application subscribed). Other socket types: `EINVAL`, as libzmq. A PUB's or XPUB's
    /// is counted as libzmq 4.3.5 counts it: up when a topic gets its first subscriber,
    /// down when an unsubscribe takes its last, unchanged when a subscriber disconnects
    /// (its topics stay counted).
    pub fn topics_count(&self) -> Result<usize> {
        match self.socket_type {
            SocketType::Sub | SocketType::XSub | SocketType::Pub | SocketType::XPub => {
                Ok(self.shared.state.lock().unwrap().topics_count())
            }
            other => Err(Error::inval(format!(
                "{other} sockets have no topics to count"
            ))),
        }
    }

    /// ZMQ_ROUTING_ID: the identity sent to peers (at most 255 bytes, and not starting with
    /// a zero byte, which libzmq reserves for generated ids).
    pub fn routing_id(&self) -> Bytes {
        self.shared.state.lock().unwrap().opts.routing_id.clone()
    }

    /// Sets [`routing_id`](Self::routing_id); applies to connections made afterwards.
    pub fn set_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
        let id = id.into();
        if id.len() > 255 {
            return Err(Error::inval("routing id longer than 255 bytes"));
        }
        if id.first() == Some(&0) {
            return Err(Error::inval(
                "routing ids starting with a zero byte are reserved",
            ));
        }
        self.shared.state.lock().unwrap().opts.routing_id = id;
        Ok(())
    }

    /// ZMQ_PLAIN_SERVER: act as the PLAIN server (credentials checked by the ZAP handler;
    /// without one every client is accepted). `false` returns to NULL.
    pub fn set_plain_server(&self, on: bool) -> Result<()> {
        let mut st = self.shared.state.lock().unwrap();
        st.opts.mechanism = if on {
            Mechanism::Plain
        } else {
            Mechanism::Null
        };
        st.opts.as_server = on;
        Ok(())
    }

    /// ZMQ_PLAIN_USERNAME: act as a PLAIN client with this user name (empty: back to NULL).
    pub fn set_plain_username(&self, user: impl Into<Bytes>) -> Result<()> {
        let user = user.into();
        if user.len() > 255 {
            return Err(Error::inval("PLAIN user name longer than 255 bytes"));
        }
        let mut st = self.shared.state.lock().unwrap();
        st.opts.mechanism = if user.is_empty() {
            Mechanism::Null
        } else {
            Mechanism::Plain
        };
        st.opts.as_server = false;
        st.opts.plain_username = user;
        Ok(())
    }

    /// ZMQ_PLAIN_PASSWORD: the PLAIN client's password.
    pub fn set_plain_password(&self, password: impl Into<Bytes>) -> Result<()> {
        let password = password.into();
        if password.len() > 255 {
            return Err(Error::inval("PLAIN password longer than 255 bytes"));
        }
        let mut st = self.shared.state.lock().unwrap();
        st.opts.mechanism = Mechanism::Plain;
        st.opts.as_server = false;
        st.opts.plain_password = password;
        Ok(())
    }

    /// ZMQ_CURVE_SERVER: act as the CURVE server (needs [`set_curve_secretkey`](Self::set_curve_secretkey)).
    pub fn set_curve_server(&self, on: bool) -> Result<()> {
        let mut st = self.shared.state.lock().unwrap();
        st.opts.mechanism = if on {
            Mechanism::Curve
        } else {
            Mechanism::Null
        };
        st.opts.as_server = on;
        Ok(())
    }

    /// ZMQ_CURVE_SERVERKEY: act as a CURVE client of the server with this public key
    /// (32 bytes or 40 Z85 characters; also set our own key pair).
    pub fn set_curve_serverkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = crate::security::curve::parse_key(key.as_ref())?;
        let mut st = self.shared.state.lock().unwrap();
        st.opts.mechanism = Mechanism::Curve;
        st.opts.as_server = false;
        st.opts.curve_serverkey = Some(key);
        Ok(())
    }

    /// ZMQ_CURVE_PUBLICKEY: our long-term public key (32 bytes or 40 Z85 characters).
    pub fn set_curve_publickey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = crate::security::curve::parse_key(key.as_ref())?;
        let mut st = self.shared.state.lock().unwrap();
        st.opts.mechanism = Mechanism::Curve;
        st.opts.curve_publickey = Some(key);
        Ok(())
    }

    /// ZMQ_CURVE_SECRETKEY: our long-term secret key (32 bytes or 40 Z85 characters).
    pub fn set_curve_secretkey(&self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = crate::security::curve::parse_key(key.as_ref())?;
        let mut st = self.shared.state.lock().unwrap();
        st.opts.mechanism = Mechanism::Curve;
        st.opts.curve_secretkey = Some(key);
        Ok(())
    }

    /// The endpoint of the last successful [`bind`](Self::bind) (resolved, as it returned)
    /// or [`connect`](Self::connect), as libzmq's ZMQ_LAST_ENDPOINT; empty before either.
    pub fn last_endpoint(&self) -> String {
        self.last_endpoint.lock().unwrap().clone()
    }

    /// libzmq's `zmq_getsockopt` by option number ([`opt`]): integers (times in
    /// milliseconds, flags as 0/1) or bytes, as pyzmq returns them. Each supported number
    /// reads the typed option of the same name (see [`opt`] for the list); LAST_ENDPOINT
    /// reads [`last_endpoint`](Self::last_endpoint). Anything else: `EINVAL`, as libzmq
    /// answers for unknown options.
    pub fn getsockopt(&self, option: i32) -> Result<OptValue> {
        if option == opt::LAST_ENDPOINT {
            return Ok(OptValue::from(self.last_endpoint()));
        }
        sockopt::get(self, option)
    }

    /// libzmq's `zmq_setsockopt` by option number ([`opt`]): sets the typed option of the
    /// same name. A value of the wrong kind or out of range, a read-only option (TYPE,
    /// RCVMORE, MECHANISM, LAST_ENDPOINT) or an unsupported one: `EINVAL`.
    pub fn setsockopt(&self, option: i32, value: impl Into<OptValue>) -> Result<()> {
        sockopt::set(self, option, &value.into())
    }

    /// ZMQ_PLAIN_SERVER: whether this socket is the PLAIN server.
    pub fn plain_server(&self) -> bool {
        let st = self.shared.state.lock().unwrap();
        st.opts.mechanism == Mechanism::Plain && st.opts.as_server
    }

    /// ZMQ_PLAIN_USERNAME: the PLAIN client's user name (empty when unset).
    pub fn plain_username(&self) -> Bytes {
        self.shared
            .state
            .lock()
            .unwrap()
            .opts
            .plain_username
            .clone()
    }

    /// ZMQ_PLAIN_PASSWORD: the PLAIN client's password (empty when unset).
    pub fn plain_password(&self) -> Bytes {
        self.shared
            .state
            .lock()
            .unwrap()
            .opts
            .plain_password
            .clone()
    }

    /// ZMQ_CURVE_SERVER: whether this socket is the CURVE server.
    pub fn curve_server(&self) -> bool {
        let st = self.shared.state.lock().unwrap();
        st.opts.mechanism == Mechanism::Curve && st.opts.as_server
    }

    /// ZMQ_CURVE_PUBLICKEY: our long-term public key, when set.
    pub fn curve_publickey(&self) -> Option<[u8; 32]> {
        self.shared.state.lock().unwrap().opts.curve_publickey
    }

    /// ZMQ_CURVE_SECRETKEY: our long-term secret key, when set.
    pub fn curve_secretkey(&self) -> Option<[u8; 32]> {
        self.shared.state.lock().unwrap().opts.curve_secretkey
    }

    /// ZMQ_CURVE_SERVERKEY: the server's public key a CURVE client expects, when set.
    pub fn curve_serverkey(&self) -> Option<[u8; 32]> {
        self.shared.state.lock().unwrap().opts.curve_serverkey
    }

    /// ZMQ_MECHANISM: the security mechanism the options set so far select.
    pub fn mechanism(&self) -> Mechanism {
        self.shared.state.lock().unwrap().opts.mechanism
    }

    /// ZMQ_ZAP_DOMAIN: the domain passed to the ZAP handler (with NULL, ZAP runs only when
    /// a domain is set, as in libzmq).
    pub fn set_zap_domain(&self, domain: impl Into<String>) -> Result<()> {
        self.shared.state.lock().unwrap().opts.zap_domain = domain.into();
        Ok(())
    }

    /// The ZAP domain.
    pub fn zap_domain(&self) -> String {
        self.shared.state.lock().unwrap().opts.zap_domain.clone()
    }

    // ---- messages and properties on connect and disconnect (libzmq's rules) ----------

    /// ZMQ_ROUTER_NOTIFY (ROUTER): with `NOTIFY_CONNECT` (1) the application receives
    /// `[routing id, ""]` when a peer's handshake completes, with `NOTIFY_DISCONNECT` (2)
    /// when the peer or the network ends its connection (not when this socket ends it),
    /// after that peer's last message. TCP and IPC connections only, as libzmq. Default 0.
    pub fn router_notify(&self) -> i32 {
        self.shared.state.lock().unwrap().opts.router_notify.into()
    }

    /// Sets [`router_notify`](Self::router_notify): 0 to 3; `EINVAL` on other values and
    /// other socket types.
    pub fn set_router_notify(&self, flags: i32) -> Result<()> {
        self.only_for(&[SocketType::Router], "ROUTER_NOTIFY")?;
        let flags = u8::try_from(flags)
            .ok()
            .filter(|f| *f <= 3)
            .ok_or_else(|| Error::inval(format!("ROUTER_NOTIFY {flags} is not 0 to 3")))?;
        self.shared.state.lock().unwrap().opts.router_notify = flags;
        Ok(())
    }

    /// ZMQ_PROBE_ROUTER (ROUTER, DEALER, REQ): each new peer first gets an empty message
    /// (after HELLO_MSG): once per [`connect`](Self::connect), however often it
    /// reconnects (libzmq queues it in the pipe `connect` makes, which outlives
    /// reconnects), and once per accepted connection. Default false.
    pub fn probe_router(&self) -> bool {
        self.shared.state.lock().unwrap().opts.probe_router
    }

    /// Sets [`probe_router`](Self::probe_router) for connections made afterwards;
    /// `EINVAL` on socket types other than ROUTER, DEALER and REQ.
    pub fn set_probe_router(&self, on: bool) -> Result<()> {
        self.only_for(
            &[SocketType::Router, SocketType::Dealer, SocketType::Req],
            "PROBE_ROUTER",
        )?;
        self.shared.state.lock().unwrap().opts.probe_router = on;
        Ok(())
    }

    /// ZMQ_CONNECT_ROUTING_ID (ROUTER, STREAM): the routing id the next
    /// [`connect`](Self::connect) gives its peer instead of the one the peer announces
    /// (STREAM: instead of a generated one); messages to it queue from that moment, and
    /// it stays through reconnects (STREAM: it names the first connection only, and
    /// reconnections get generated ids). Taken by
    /// that `connect` (then empty again), which fails with `EINVAL` when a peer already
    /// has this routing id (libzmq asserts). Under IMMEDIATE a TCP or IPC `connect`
    /// leaves it for a later one, as libzmq does. Empty when unset.
    pub fn connect_routing_id(&self) -> Bytes {
        self.shared
            .state
            .lock()
            .unwrap()
            .opts
            .connect_routing_id
            .clone()
    }

    /// Sets [`connect_routing_id`](Self::connect_routing_id); `EINVAL` for an empty id and
    /// on socket types other than ROUTER and STREAM.
    pub fn set_connect_routing_id(&self, id: impl Into<Bytes>) -> Result<()> {
        self.only_for(
            &[SocketType::Router, SocketType::Stream],
            "CONNECT_ROUTING_ID",
        )?;
        let id = id.into();
        if id.is_empty() {
            return Err(Error::inval("CONNECT_ROUTING_ID cannot be empty"));
        }
        self.shared.state.lock().unwrap().opts.connect_routing_id = id;
        Ok(())
    }

    /// ZMQ_HELLO_MSG: a one-frame message sent to the peer first on every connection
    /// (reconnects included; before anything queued). ROUTER, DEALER, SERVER, CLIENT and
    /// PEER send it; other types accept and ignore it, as libzmq. Empty (the default):
    /// none.
    pub fn hello_msg(&self) -> Bytes {
        self.shared.state.lock().unwrap().opts.hello_msg.clone()
    }

    /// Sets [`hello_msg`](Self::hello_msg) for connections made afterwards (empty: none).
    pub fn set_hello_msg(&self, msg: impl Into<Bytes>) -> Result<()> {
        self.shared.state.lock().unwrap().opts.hello_msg = msg.into();
        Ok(())
    }

    /// ZMQ_DISCONNECT_MSG (ROUTER, SERVER, PEER): a one-frame message the application
    /// receives, as if from the peer (ROUTER: `[routing id, msg]`; SERVER and PEER: `msg`
    /// carrying the peer's [`Message::routing_id`]), when a peer that connected to us loses its
    /// connection after the handshake (it closed, or the network or a heartbeat ended
    /// it), or an in-process peer closes or disconnects. Other types accept and ignore
    /// it, as libzmq. Empty (the default): none.
    pub fn disconnect_msg(&self) -> Bytes {
        self.shared
            .state
            .lock()
            .unwrap()
            .opts
            .disconnect_msg
            .clone()
    }

    /// Sets [`disconnect_msg`](Self::disconnect_msg) (empty: none).
    pub fn set_disconnect_msg(&self, msg: impl Into<Bytes>) -> Result<()> {
        self.shared.state.lock().unwrap().opts.disconnect_msg = msg.into();
        Ok(())
    }

    /// ZMQ_HICCUP_MSG (DEALER, CLIENT, PEER): a one-frame message the application
    /// receives (PEER: carrying the peer's [`Message::routing_id`]) when a TCP
    /// or IPC connection this socket made breaks after its handshake (the peer closed it,
    /// or the network or a heartbeat ended it); the socket reconnects as usual. Other
    /// types accept and ignore it, as libzmq. Empty (the default): none.
    pub fn hiccup_msg(&self) -> Bytes {
        self.shared.state.lock().unwrap().opts.hiccup_msg.clone()
    }

    /// Sets [`hiccup_msg`](Self::hiccup_msg) (empty: none).
    pub fn set_hiccup_msg(&self, msg: impl Into<Bytes>) -> Result<()> {
        self.shared.state.lock().unwrap().opts.hiccup_msg = msg.into();
        Ok(())
    }

    /// ZMQ_METADATA: the application properties added to our handshake (READY, or the
    /// security mechanism's equivalent), in name order; the peer reads them on every
    /// message (libzmq's `zmq_msg_gets`, [`Message::property`] here).
    pub fn metadata(&self) -> Vec<(String, Bytes)> {
        let st = self.shared.state.lock().unwrap();
        st.opts
            .metadata
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// Adds a property to [`metadata`](Self::metadata), written as libzmq takes it:
    /// `"X-Name:value"`. As libzmq: the name starts with `X-` and is at most 255 bytes,
    /// the value is what follows the first colon (not empty; it ends at a zero byte, as a
    /// C string), a name already set keeps its first value, and an entry of exactly 4
    /// bytes is refused (libzmq reads it as an integer). Beyond libzmq, the name must be a
    /// valid ZMTP property name (letters, digits, `-_.+`), which every peer accepts.
    /// `EINVAL` otherwise.
    pub fn set_metadata(&self, entry: impl AsRef<[u8]>) -> Result<()> {
        let (name, value) = sockopt::parse_metadata(entry.as_ref())?;
        self.shared
            .state
            .lock()
            .unwrap()
            .opts
            .metadata
            .entry(name)
            .or_insert(value);
        Ok(())
    }

    /// `EINVAL` unless this socket is one of `types` (libzmq's answer for an option of
    /// other socket types).
    fn only_for(&self, types: &[SocketType], option: &str) -> Result<()> {
        if types.contains(&self.socket_type) {
            Ok(())
        } else {
            Err(Error::inval(format!(
                "{option} is not an option of {} sockets",
                self.socket_type
            )))
        }
    }

    /// Installs the handler that authenticates incoming connections (see [`crate::security::zap`]);
    /// applies to connections made afterwards.
    pub fn set_zap_handler(&self, handler: impl crate::security::zap::ZapHandler) {
        self.shared.state.lock().unwrap().zap_handler = Some(Arc::new(handler));
    }

    /// Removes the ZAP handler: every peer is accepted again.
    pub fn clear_zap_handler(&self) {
        self.shared.state.lock().unwrap().zap_handler = None;
    }

    /// A stream of this socket's monitor events (all kinds), keeping at most `backlog`
    /// unread events (the oldest are dropped beyond it).
    pub fn monitor(&self, backlog: usize) -> Monitor {
        let q = EventQueue::new(backlog);
        self.shared.state.lock().unwrap().monitors.push(q.clone());
        Monitor { queue: q }
    }

    /// Stops every monitor of this socket (each gets a final MONITOR_STOPPED).
    pub fn disable_monitor(&self) {
        let mons = std::mem::take(&mut self.shared.state.lock().unwrap().monitors);
        for m in mons {
            m.close(String::new());
        }
    }

    /// STREAM speaks raw bytes over a byte stream: tcp and ipc only. `udp://` is for a
    /// RADIO's connect, a DISH's bind and a DGRAM's bind only (libzmq 4.3.5:
    /// `ENOCOMPATPROTO` otherwise). A DGRAM takes nothing else: libzmq lets it bind or
    /// connect tcp, ipc and inproc, as a raw byte stream without the address frame that
    /// makes its messages, so here those are `ENOCOMPATPROTO` too.
    fn check_transport(&self, ep: &Endpoint, bind: bool) -> Result<()> {
        if self.socket_type == SocketType::Dgram && !(bind && matches!(ep, Endpoint::Udp(_))) {
            return Err(Error::new(
                ErrorKind::IncompatibleProtocol,
                format!(
                    "a DGRAM socket binds to udp:// only, not {} {}",
                    if bind { "bind to" } else { "connect to" },
                    ep
                ),
            ));
        }
        if self.socket_type == SocketType::Stream && matches!(ep, Endpoint::Inproc(_)) {
            return Err(Error::new(
                ErrorKind::ProtocolNotSupported,
                "STREAM sockets work over tcp and ipc, not inproc",
            ));
        }
        let udp_side = if bind {
            SocketType::Dish
        } else {
            SocketType::Radio
        };
        if matches!(ep, Endpoint::Udp(_))
            && self.socket_type != udp_side
            && self.socket_type != SocketType::Dgram
        {
            return Err(Error::new(
                ErrorKind::IncompatibleProtocol,
                format!(
                    "udp:// is for a RADIO's connect and a DISH's or DGRAM's bind, not a {}'s {}",
                    self.socket_type,
                    if bind { "bind" } else { "connect" }
                ),
            ));
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.shared.state.lock().unwrap().closed {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    /// Binds to `endpoint` and starts accepting connections. Returns the resolved
    /// endpoint (the actual port for `tcp://host:*`).
    ///
    /// # Cancel safety
    /// Cancel-safe: if cancelled, nothing was bound (a listener created in the last step
    /// is closed with the future).
    pub async fn bind(&self, endpoint: &str) -> Result<String> {
        self.check_open()?;
        let ep = Endpoint::parse(endpoint)?;
        self.check_transport(&ep, true)?;
        let shared = self.shared.clone();
        if let Endpoint::Udp(udp) = &ep {
            return self.bind_udp(endpoint, udp).await;
        }
        if let Endpoint::Inproc(name) = &ep {
            let token = shared.terminate.child_token();
            let binding = engine::registry::Binding {
                shared: Arc::downgrade(&shared),
                token: token.clone(),
            };
            if !engine::registry::bind(name, binding) {
                let e = Error::new(ErrorKind::AddrInUse, format!("{endpoint} is already bound"));
                shared.emit_kind(
                    EventKind::BindFailed,
                    e.kind().errno() as u32,
                    endpoint,
                    Some(e.to_string()),
                );
                return Err(e);
            }
            let resolved = format!("inproc://{name}");
            shared.emit_kind(EventKind::Listening, 0, &resolved, None);
            resolved.clone_into(&mut self.last_endpoint.lock().unwrap());
            self.binds.lock().unwrap().push(EndpointRecord {
                endpoint: resolved.clone(),
                token,
                ipc_path: None,
                inproc_name: Some(name.clone()),
                task: None,
            });
            return Ok(resolved);
        }
        #[cfg(unix)]
        if self.use_fd() != -1 {
            return self.bind_handed(endpoint, &ep, self.use_fd());
        }
        let bound = match ep {
            Endpoint::Tcp {
                source: Some(_), ..
            } => Err(Error::inval(format!(
                "a source address is for connect only: {endpoint}"
            ))),
            Endpoint::Tcp { host, port, .. } => {
                transport::tcp::bind(&host, port, &shared.conn_options())
                    .await
                    .map(|(l, resolved)| (Listener::Tcp(l), resolved, None))
            }
            // A named pipe leaves no file behind: nothing to unlink at unbind.
            #[cfg(windows)]
            Endpoint::Ipc(path) => transport::pipe::bind(&path)
                .map(|l| (Listener::Pipe(l), format!("ipc://{path}"), None)),
            #[cfg(unix)]
            Endpoint::Ipc(path) => transport::ipc::bind(&path, shared.conn_options().backlog)
                .await
                .map(|l| {
                    let file = (!path.starts_with('@')).then(|| path.clone());
                    (Listener::Ipc(l), format!("ipc://{path}"), file)
                }),
            Endpoint::Inproc(_) | Endpoint::Udp(_) => unreachable!("handled above"),
        };
        let (listener, resolved, ipc_path) = match bound {
            Ok(b) => b,
            Err(e) => {
                let errno = e.kind().errno() as u32;
                shared.emit_kind(EventKind::BindFailed, errno, endpoint, Some(e.to_string()));
                return Err(e);
            }
        };
        Ok(self.serve_listener(listener, resolved, ipc_path))
    }

    /// A tcp/ipc bind with ZMQ_USE_FD: the handed listener `fd`, adopted now, served
    /// under the name libzmq gives it (see [`set_use_fd`](Self::set_use_fd)).
    #[cfg(unix)]
    fn bind_handed(&self, endpoint: &str, ep: &Endpoint, fd: i32) -> Result<String> {
        let adopted = match ep {
            Endpoint::Tcp {
                source: Some(_), ..
            } => Err(Error::inval(format!(
                "a source address is for connect only: {endpoint}"
            ))),
            Endpoint::Tcp { .. } => transport::activation::take_tcp(fd).and_then(|l| {
                check_listening(&socket2::SockRef::from(&l), fd)?;
                let name = tcp_listener_endpoint(&l)?;
                Ok((tokio_tcp_listener(l)?, name))
            }),
            Endpoint::Ipc(path) => transport::activation::take_unix(fd).and_then(|l| {
                check_listening(&socket2::SockRef::from(&l), fd)?;
                Ok((tokio_unix_listener(l)?, format!("ipc://{path}")))
            }),
            Endpoint::Inproc(_) | Endpoint::Udp(_) => unreachable!("bound before"),
        };
        match adopted {
            // The file (if any) is the launcher's: nothing to unlink at unbind.
            Ok((listener, name)) => Ok(self.serve_listener(listener, name, None)),
            Err(e) => {
                let errno = e.kind().errno() as u32;
                let shared = &self.shared;
                shared.emit_kind(EventKind::BindFailed, errno, endpoint, Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Serves a listener made elsewhere, as [`bind`](Self::bind) serves its own: libzmq's
    /// ZMQ_USE_FD without a descriptor number: the listener is handed over owned (any
    /// listener the application made or adopted; a socket-activation launcher's listeners
    /// are taken by number with [`set_use_fd`](Self::set_use_fd)). Returns the endpoint
    /// it listens on (also [`last_endpoint`](Self::last_endpoint)), `tcp://host:port` or
    /// `ipc://path` (an abstract name as `ipc://@name`), for [`unbind`](Self::unbind) and
    /// the monitor events, as a bind's.
    ///
    /// The listener is taken as it is: BACKLOG and the other listener options are not
    /// applied (its owner set them), the accepted connections get the connection
    /// options as usual. As libzmq with ZMQ_USE_FD, an IPC socket file is left in place
    /// on unbind and close (its creator owns it). `EINVAL` for an unnamed Unix socket;
    /// `EPROTONOSUPPORT` when the socket type does not take that transport.
    ///
    /// # Cancel safety
    /// Cancel-safe: if cancelled before completion, the listener is closed with the future.
    pub async fn bind_listener(&self, listener: impl Into<OwnedListener>) -> Result<String> {
        self.check_open()?;
        let (listener, resolved) = match listener.into() {
            OwnedListener::Tcp(l) => {
                let ep = tcp_listener_endpoint(&l)?;
                (tokio_tcp_listener(l)?, ep)
            }
            #[cfg(unix)]
            OwnedListener::Ipc(l) => {
                let addr = l.local_addr()?;
                let ep = match addr.as_pathname() {
                    Some(p) => format!("ipc://{}", p.display()),
                    None => abstract_endpoint(&addr).ok_or_else(|| {
                        Error::inval("an unnamed Unix socket has no endpoint to serve")
                    })?,
                };
                (tokio_unix_listener(l)?, ep)
            }
        };
        self.check_transport(&Endpoint::parse(&resolved)?, true)?;
        Ok(self.serve_listener(listener, resolved, None))
    }

    /// Starts the accept loop of a bound listener and records the binding.
    fn serve_listener(
        &self,
        listener: Listener,
        resolved: String,
        ipc_path: Option<String>,
    ) -> String {
        let shared = self.shared.clone();
        let fd = listener.raw_fd();
        shared.emit_kind(EventKind::Listening, fd, &resolved, None);
        let token = shared.terminate.child_token();
        let task = shared.tracker.clone().spawn(accept_loop(
            shared.clone(),
            resolved.clone(),
            token.clone(),
            fd,
            listener,
        ));
        resolved.clone_into(&mut self.last_endpoint.lock().unwrap());
        self.binds.lock().unwrap().push(EndpointRecord {
            endpoint: resolved.clone(),
            token,
            ipc_path,
            inproc_name: None,
            task: Some(task),
        });
        resolved
    }

    /// DISH or DGRAM `bind` to `udp://`: the socket is bound now; a task delivers its
    /// datagrams (and a DGRAM's sends). The resolved endpoint names the bound port (and
    /// for a unicast address the bound IP). A DGRAM has one endpoint: a second bind is
    /// `EINVAL` (libzmq 4.3.5 accepts it and never uses it).
    async fn bind_udp(&self, endpoint: &str, udp: &transport::udp::UdpEndpoint) -> Result<String> {
        let shared = self.shared.clone();
        let dgram = self.socket_type == SocketType::Dgram;
        if dgram && !self.binds.lock().unwrap().is_empty() {
            return Err(Error::inval(format!(
                "a DGRAM socket has one endpoint, already bound: {endpoint}"
            )));
        }
        let (sock, bound) = match transport::udp::bind(udp).await {
            Ok(b) => b,
            Err(e) => {
                let e = Error::from(e);
                let errno = e.kind().errno() as u32;
                shared.emit_kind(EventKind::BindFailed, errno, endpoint, Some(e.to_string()));
                return Err(e);
            }
        };
        let mut named = udp.clone();
        named.port = bound.port();
        // A multicast group keeps its name; a unicast bind is named by its address.
        if !named
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_multicast())
        {
            named.host = bound.ip().to_string();
        }
        let resolved = Endpoint::Udp(named).to_string();
        shared.emit_kind(
            EventKind::Listening,
            transport::raw_fd(&sock),
            &resolved,
            None,
        );
        let token = shared.terminate.child_token();
        let task = if dgram {
            shared.tracker.clone().spawn(engine::udp::dgram(
                shared.clone(),
                sock,
                resolved.clone(),
                token.clone(),
            ))
        } else {
            shared.tracker.clone().spawn(engine::udp::receiver(
                shared.clone(),
                sock,
                resolved.clone(),
                token.clone(),
            ))
        };
        resolved.clone_into(&mut self.last_endpoint.lock().unwrap());
        self.binds.lock().unwrap().push(EndpointRecord {
            endpoint: resolved.clone(),
            token,
            ipc_path: None,
            inproc_name: None,
            task: Some(task),
        });
        Ok(resolved)
    }

    /// Connects to `endpoint` in the background and returns at once, like libzmq: the
    /// connection is retried every RECONNECT_IVL (with backoff up to RECONNECT_IVL_MAX)
    /// until it succeeds, and re-established whenever it breaks. Messages sent meanwhile
    /// queue for this peer (up to SNDHWM), except on ROUTER, which can route only to peers
    /// whose routing id it knows: one named by
    /// [`set_connect_routing_id`](Self::set_connect_routing_id) is known at once (`EINVAL`
    /// when that routing id is in use).
    ///
    /// # Cancel safety
    /// Cancel-safe (it does not wait on the network).
    pub async fn connect(&self, endpoint: &str) -> Result<()> {
        self.connect_to(endpoint).map(|_| ())
    }

    /// PEER (libzmq's `zmq_connect_peer`): connects to `endpoint` as
    /// [`connect`](Self::connect) does and returns the routing id of the peer this
    /// connection reaches, which sends can name at once (they queue until it is
    /// connected) and which stays through reconnects. `ENOTSUP` on other socket types,
    /// `EFAULT` under IMMEDIATE (as libzmq: the id exists only once a connection does).
    ///
    /// # Cancel safety
    /// Cancel-safe (it does not wait on the network).
    pub async fn connect_peer(&self, endpoint: &str) -> Result<u32> {
        if self.socket_type != SocketType::Peer {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("connect_peer is for PEER sockets, not {}", self.socket_type),
            ));
        }
        if self.shared.state.lock().unwrap().opts.immediate {
            return Err(Error::new(
                ErrorKind::Fault,
                "connect_peer cannot work with IMMEDIATE set",
            ));
        }
        self.connect_to(endpoint)
    }

    /// `connect`; returns the SERVER or PEER routing id of the new peer (0 for the other
    /// socket types).
    fn connect_to(&self, endpoint: &str) -> Result<u32> {
        self.check_open()?;
        let ep = Endpoint::parse(endpoint)?;
        self.check_transport(&ep, false)?;
        match &ep {
            Endpoint::Tcp { port: None, .. } => {
                return Err(Error::inval(format!(
                    "cannot connect to a wildcard port: {endpoint}"
                )))
            }
            Endpoint::Tcp { host, .. } if host == "*" => {
                return Err(Error::inval(format!(
                    "cannot connect to host '*': {endpoint}"
                )))
            }
            _ => {}
        }
        let shared = self.shared.clone();
        let token = shared.terminate.child_token();
        let target = {
            let mut st = shared.state.lock().unwrap();
            if matches!(self.socket_type, SocketType::Router | SocketType::Stream) {
                // CONNECT_ROUTING_ID names this peer now, so messages to it queue at
                // once. libzmq takes it at the first attach of a connection we made:
                // at `connect`, except under IMMEDIATE (not inproc), where it waits.
                let inproc = matches!(ep, Endpoint::Inproc(_));
                if st.opts.connect_routing_id.is_empty() || (st.opts.immediate && !inproc) {
                    Target::New
                } else {
                    let rid = std::mem::take(&mut st.opts.connect_routing_id);
                    if st.by_rid.contains_key(&rid) {
                        return Err(Error::inval(format!(
                            "connect routing id {rid:?} is already in use"
                        )));
                    }
                    Target::Existing(st.connect_peer(endpoint, token.child_token(), rid))
                }
            } else {
                Target::Existing(st.connect_peer(endpoint, token.child_token(), Bytes::new()))
            }
        };
        if let (Endpoint::Udp(_), Some(id)) = (&ep, target.peer()) {
            shared.state.lock().unwrap().add_udp_peer(id);
        }
        let srv_id = target.peer().map_or(0, |id| {
            shared
                .state
                .lock()
                .unwrap()
                .peers
                .get(&id)
                .map_or(0, |p| p.srv_id)
        });
        if target.peer().is_some() {
            shared.send_ready.notify_waiters();
        }
        endpoint.clone_into(&mut self.last_endpoint.lock().unwrap());
        self.connects.lock().unwrap().push(EndpointRecord {
            endpoint: endpoint.to_string(),
            token: token.clone(),
            ipc_path: None,
            inproc_name: None,
            task: None,
        });
        if let Endpoint::Udp(udp) = ep {
            let id = target.peer().expect("a RADIO's connect makes its peer");
            shared.tracker.clone().spawn(engine::udp::sender(
                shared.clone(),
                udp,
                endpoint.to_string(),
                token,
                id,
            ));
            return Ok(srv_id);
        }
        if let Endpoint::Inproc(name) = ep {
            shared.tracker.clone().spawn(engine::inproc::connect_loop(
                shared.clone(),
                name,
                endpoint.to_string(),
                token,
                target,
            ));
            return Ok(srv_id);
        }
        shared.tracker.clone().spawn(connect_loop(
            shared.clone(),
            ep,
            endpoint.to_string(),
            token,
            target,
        ));
        Ok(srv_id)
    }

    /// Stops listening on `endpoint` (as returned by [`bind`](Self::bind)) and closes the
    /// connections accepted through it. When it returns, the address is free to bind again.
    ///
    /// # Cancel safety
    /// If cancelled, the endpoint is unbound all the same; only the wait for the listener
    /// to be released is cut short.
    pub async fn unbind(&self, endpoint: &str) -> Result<()> {
        let rec = {
            let mut b = self.binds.lock().unwrap();
            let pos = b
                .iter()
                .position(|r| r.endpoint == endpoint)
                .ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, format!("not bound to {endpoint}"))
                })?;
            b.remove(pos)
        };
        rec.token.cancel();
        if let Some(name) = &rec.inproc_name {
            engine::registry::unbind(name, &rec.token);
        }
        if let Some(task) = rec.task {
            let _ = task.await;
        }
        if let Some(p) = rec.ipc_path {
            remove_ipc_file(&self.shared, &p, &rec.endpoint);
        }
        Ok(())
    }

    /// Stops connecting to `endpoint` and closes that connection; messages still queued
    /// for it are dropped.
    pub async fn disconnect(&self, endpoint: &str) -> Result<()> {
        let rec = {
            let mut c = self.connects.lock().unwrap();
            let pos = c
                .iter()
                .position(|r| r.endpoint == endpoint)
                .ok_or_else(|| {
                    Error::new(ErrorKind::NotFound, format!("not connected to {endpoint}"))
                })?;
            c.remove(pos)
        };
        rec.token.cancel();
        Ok(())
    }

    /// The endpoints this socket is bound to (resolved form).
    pub fn bindings(&self) -> Vec<String> {
        self.binds
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.endpoint.clone())
            .collect()
    }

    /// The endpoints this socket connects to.
    pub fn connections(&self) -> Vec<String> {
        self.connects
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.endpoint.clone())
            .collect()
    }

    /// Sends a message, waiting while no eligible peer has room (every peer at SNDHWM, or
    /// no peer yet). A ROUTER drops unroutable messages (or fails with `EHOSTUNREACH` under
    /// ROUTER_MANDATORY); REQ and REP enforce their send/receive alternation (`EFSM`).
    /// SERVER, CLIENT, SCATTER, PEER and CHANNEL send single-frame messages only (more
    /// frames: `EINVAL`); SERVER and PEER send to the peer the message's
    /// [`routing_id`](Message::routing_id) names (none, or no such peer: `EHOSTUNREACH`).
    ///
    /// REQ and REP write a message under 16 KiB to the connection themselves when its
    /// engine has nothing to write (their sends never come in bursts worth batching);
    /// other messages are queued for the connection's engine, already encoded for a TCP or
    /// IPC connection without CURVE (bodies under 8 KiB copied, larger ones shared).
    ///
    /// # Cancel safety
    /// If the future is dropped before it completes, the message was not queued and is
    /// lost with the future; the socket's state (REQ/REP alternation) is unchanged. Use
    /// [`try_send`](Self::try_send) to keep the message on `EAGAIN`.
    ///
    /// With [`sndtimeo`](Self::sndtimeo) set, waits at most that long: `EAGAIN` when it
    /// runs out (0: at once when no peer has room), and the message is dropped.
    pub async fn send(&self, msg: impl Into<Message>) -> Result<()> {
        let mut slot = Some(msg.into());
        // Fast path first, SNDTIMEO only when the message has to wait: building and moving
        // the waiting futures on every call cost a fifth of the send path's instructions.
        // A fan-out socket's turn to step aside (`fan_out_turn`) takes the waiting path,
        // which yields first: no await point more in this function.
        let r = if self.fan_out_turn() {
            Err(SendBlock::Full)
        } else {
            self.try_send_inner(&mut slot)
        };
        match r {
            Ok(()) => return Ok(()),
            Err(SendBlock::Full) => {}
            Err(SendBlock::Err(e)) => return Err(*e),
        }
        match self.sndtimeo.load(Ordering::Relaxed) {
            t if t < 0 => self.send_wait(slot).await,
            // Tried again: on a fan-out socket's turn nothing was tried yet.
            0 => match self.try_send_inner(&mut slot) {
                Ok(()) => Ok(()),
                Err(SendBlock::Full) => Err(Error::again("no peer can take the message now")),
                Err(SendBlock::Err(e)) => Err(*e),
            },
            // Boxed: the timer is in the future only for a timed wait, not in every send.
            t => Box::pin(timed(t, "send", "SNDTIMEO", self.send_wait(slot))).await,
        }
    }

    /// `send` without SNDTIMEO (for the layers above, which keep their own timing).
    pub(crate) async fn send_untimed(&self, msg: impl Into<Message>) -> Result<()> {
        if self.fan_out_turn() {
            // See `fan_out_turn`.
            tokio::task::yield_now().await;
        }
        // Fast path: no waiter registration when a peer has room. The message stays in
        // `slot` until it is queued.
        let mut slot = Some(msg.into());
        match self.try_send_inner(&mut slot) {
            Ok(()) => return Ok(()),
            Err(SendBlock::Full) => {}
            Err(SendBlock::Err(e)) => return Err(*e),
        }
        self.send_wait(slot).await
    }

    /// PUB, XPUB and RADIO, whose sends never wait for room (a subscriber at SNDHWM loses
    /// the message).
    #[inline]
    fn fans_out(&self) -> bool {
        matches!(
            self.socket_type,
            SocketType::Pub | SocketType::XPub | SocketType::Radio
        )
    }

    /// Whether this send of a fan-out socket is its turn to step aside: one in
    /// `FAN_OUT_TURN`. Their sends never wait for room, so without it a loop of them never
    /// let its worker thread run anything else, the connection tasks that write its
    /// messages included, and most messages were dropped at SNDHWM for want of a turn to
    /// write them. (A plain counter: a lost update between threads only moves a turn.)
    #[inline]
    fn fan_out_turn(&self) -> bool {
        if !self.fans_out() {
            return false;
        }
        let n = self.fan_out_sends.load(Ordering::Relaxed).wrapping_add(1);
        self.fan_out_sends.store(n, Ordering::Relaxed);
        n % FAN_OUT_TURN == 0
    }

    /// Waits until a peer takes the message in `slot`.
    async fn send_wait(&self, mut slot: Option<Message>) -> Result<()> {
        if self.fans_out() {
            // Its turn to step aside (`fan_out_turn`), or XPUB_NODROP at SNDHWM.
            tokio::task::yield_now().await;
        }
        loop {
            let notified = self.shared.send_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_send_inner(&mut slot) {
                Ok(()) => return Ok(()),
                Err(SendBlock::Full) => {}
                Err(SendBlock::Err(e)) => return Err(*e),
            }
            // Closing wakes every waiter (`begin_close`), and the retry reports it.
            notified.await;
            // Retried before registering again: a wake-up usually means room.
            match self.try_send_inner(&mut slot) {
                Ok(()) => return Ok(()),
                Err(SendBlock::Full) => {}
                Err(SendBlock::Err(e)) => return Err(*e),
            }
        }
    }

    /// Queues the message in `slot`, taking it; when it cannot, the message stays in
    /// `slot`. (Passing the message by reference and answering in two words keeps the
    /// fast path to one move of the message.)
    fn try_send_inner(&self, slot: &mut Option<Message>) -> std::result::Result<(), SendBlock> {
        let mut wakes = Wakes::default();
        let r = self.shared.state.lock().unwrap().try_send(slot, &mut wakes);
        wakes.notify();
        if r.is_ok() {
            self.turned();
        }
        r
    }

    /// SUB: subscribes to messages whose first frame starts with `topic` (the empty topic
    /// matches everything). Subscriptions are counted as libzmq counts them: subscribing
    /// twice needs two [`unsubscribe`](Self::unsubscribe) calls. Every connected publisher
    /// is told at once, and every publisher connected later (or reconnected) too.
    ///
    /// PUB/XPUB with [`xpub_manual`](Self::xpub_manual): subscribes the peer whose
    /// subscription message `recv` returned last (nothing if it left meanwhile).
    /// Other socket types: `ENOTSUP` (XSUB subscribes by sending `\x01topic`).
    pub fn subscribe(&self, topic: impl Into<Bytes>) -> Result<()> {
        self.change_subscription(true, topic.into())
    }

    /// SUB: drops one reference to a subscription made with [`subscribe`](Self::subscribe);
    /// publishers are told when the last reference goes. Unknown topics are ignored.
    /// PUB/XPUB with [`xpub_manual`](Self::xpub_manual): unsubscribes the peer whose
    /// subscription message `recv` returned last.
    pub fn unsubscribe(&self, topic: impl Into<Bytes>) -> Result<()> {
        self.change_subscription(false, topic.into())
    }

    fn change_subscription(&self, subscribe: bool, topic: Bytes) -> Result<()> {
        if matches!(self.socket_type, SocketType::Pub | SocketType::XPub) {
            let mut st = self.shared.state.lock().unwrap();
            if st.opts.xpub_manual {
                st.manual_subscription(subscribe, &topic);
                return Ok(());
            }
        }
        if self.socket_type != SocketType::Sub {
            return Err(Error::new(
                ErrorKind::NotSupported,
                format!("{} sockets do not take subscriptions", self.socket_type),
            ));
        }
        let mut wakes = Wakes::default();
        {
            let mut st = self.shared.state.lock().unwrap();
            if st.closed {
                return Err(Error::closed());
            }
            if subscribe {
                st.subscribe(topic, &mut wakes);
            } else {
                st.unsubscribe(topic, &mut wakes);
            }
        }
        wakes.notify();
        Ok(())
    }

    /// DISH: joins `group` (at most [`GROUP_MAX_LENGTH`](crate::GROUP_MAX_LENGTH) bytes),
    /// like `zmq_join`: every connected RADIO is told at once (a JOIN command), and every
    /// RADIO connected later (or reconnected) too. `EINVAL` for a longer group or one
    /// already joined, as libzmq; `ENOTSUP` on other socket types.
    pub fn join(&self, group: impl AsRef<[u8]>) -> Result<()> {
        let mut wakes = Wakes::default();
        self.shared
            .state
            .lock()
            .unwrap()
            .join(group.as_ref(), &mut wakes)?;
        wakes.notify();
        Ok(())
    }

    /// DISH: leaves `group`, like `zmq_leave` (a LEAVE command to every RADIO). `EINVAL`
    /// for a group not joined.
    pub fn leave(&self, group: impl AsRef<[u8]>) -> Result<()> {
        let mut wakes = Wakes::default();
        self.shared
            .state
            .lock()
            .unwrap()
            .leave(group.as_ref(), &mut wakes)?;
        wakes.notify();
        Ok(())
    }

    /// The socket's counters: messages and bytes in and out, drops, reconnects, live peers
    /// and each peer's queue depths.
    pub fn counters(&self) -> Counters {
        self.shared.state.lock().unwrap().counters()
    }

    /// Sends without waiting: `EAGAIN` (with the message given back) when no eligible peer
    /// has room.
    #[allow(clippy::result_large_err)] // the error hands the message back
    pub fn try_send(&self, msg: impl Into<Message>) -> std::result::Result<(), TrySendError> {
        let mut slot = Some(msg.into());
        match self.try_send_inner(&mut slot) {
            Ok(()) => Ok(()),
            Err(SendBlock::Full) => Err(TrySendError {
                error: Error::again("no peer can take the message now"),
                message: slot.unwrap_or_default(),
            }),
            Err(SendBlock::Err(error)) => Err(TrySendError {
                error: *error,
                message: slot.unwrap_or_default(),
            }),
        }
    }

    fn try_recv_inner(&self) -> Result<Option<Message>> {
        if State::batches_recv(self.socket_type) {
            // One lock of `state` per batch of messages, not per message.
            let mut batch = self.shared.recv_batch.lock().unwrap();
            if let Some(m) = batch.pop_front() {
                return Ok(Some(m));
            }
            // Made past the fast path: dropping even an empty one costs a call per message.
            let mut wakes = Wakes::default();
            {
                let mut st = self.shared.state.lock().unwrap();
                if st.closed {
                    return Err(Error::closed());
                }
                st.take_inbound(&mut batch, &mut wakes);
            }
            wakes.notify();
            return Ok(batch.pop_front());
        }
        let mut wakes = Wakes::default();
        let r = {
            let mut st = self.shared.state.lock().unwrap();
            if st.closed {
                return Err(Error::closed());
            }
            st.try_recv(&mut wakes)
        };
        wakes.notify();
        r
    }

    /// Receives the next message (fair-queued over peers), waiting until one arrives.
    /// SERVER and PEER messages carry the sending peer's
    /// [`routing_id`](Message::routing_id); the single-frame types (SERVER, CLIENT,
    /// GATHER, PEER, CHANNEL) drop a multipart message from a peer whole, as libzmq does.
    ///
    /// DEALER, ROUTER, PULL, PAIR, SUB, XSUB and the single-frame types take what their peers have queued in one
    /// go (at most RCVHWM messages, and 1024) into a receive batch and hand it out one
    /// message per call, in the order single receives would give; [`close`](Self::close)
    /// drops what is left of the batch.
    ///
    /// REQ and REP, while they wait, read the next message from the connection themselves
    /// when its connection task is idle between messages (it lends them its read side):
    /// one task hop less per round trip. Anything but
    /// one whole message goes back to the connection task as read.
    ///
    /// # Cancel safety
    /// Cancel-safe: a message is taken from the queue (or the connection) only in the poll
    /// that returns it, so dropping the future (in `select!` or `timeout`) loses nothing; a
    /// REQ/REP `recv` dropped while it waits gives the read side back to the connection
    /// task. A waiting `recv` future should be polled when woken, or dropped: while a
    /// REQ/REP one holds the read side, only it reads that connection.
    ///
    /// With [`rcvtimeo`](Self::rcvtimeo) set, waits at most that long: `EAGAIN` when it
    /// runs out (0: at once when nothing is queued).
    pub async fn recv(&self) -> Result<Message> {
        return_if_batched!(self);
        self.recv_past_batch().await
    }

    /// `recv` once the receive batch is empty (or the type has none).
    async fn recv_past_batch(&self) -> Result<Message> {
        // As `send`: the fast path first, and the timer only for a timed wait.
        let timeo = self.rcvtimeo.load(Ordering::Relaxed);
        if matches!(self.socket_type, SocketType::Req | SocketType::Rep) {
            return match timeo {
                t if t < 0 => self.recv_req_rep().await,
                0 => self.try_recv(),
                t => Box::pin(timed(t, "recv", "RCVTIMEO", self.recv_req_rep())).await,
            };
        }
        if let Some(m) = self.try_recv_inner()? {
            return Ok(m);
        }
        match timeo {
            t if t < 0 => self.recv_wait().await,
            0 => Err(Error::again("no message available")),
            t => Box::pin(timed(t, "recv", "RCVTIMEO", self.recv_wait())).await,
        }
    }

    /// `recv` without RCVTIMEO (for the layers above, which keep their own timing).
    pub(crate) async fn recv_untimed(&self) -> Result<Message> {
        return_if_batched!(self);
        if matches!(self.socket_type, SocketType::Req | SocketType::Rep) {
            return self.recv_req_rep().await;
        }
        // Fast path: no waiter registration when a message is queued.
        if let Some(m) = self.try_recv_inner()? {
            return Ok(m);
        }
        self.recv_wait().await
    }

    /// REQ/REP: their message is rarely queued already: straight to the waiting receive,
    /// which looks at the queue first.
    async fn recv_req_rep(&self) -> Result<Message> {
        let r = self.recv_borrowing().await;
        if r.is_ok() {
            self.turned();
        }
        r
    }

    /// Waits for a message (the types other than REQ/REP).
    async fn recv_wait(&self) -> Result<Message> {
        loop {
            let notified = self.shared.recv_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(m) = self.try_recv_inner()? {
                return Ok(m);
            }
            // Closing wakes every waiter (`begin_close`), and the retry reports it: one
            // future to poll instead of a `select!` over two.
            notified.await;
            // Retried before registering again: a wake-up usually means a message.
            if let Some(m) = self.try_recv_inner()? {
                return Ok(m);
            }
        }
    }

    /// REQ/REP: waits as `recv` does, and meanwhile reads the wanted connection itself
    /// while its engine lends it (see `engine::lease`): the message then comes straight
    /// from the socket, without a hop through the engine. Cancel-safe as `recv`: a
    /// message read here is returned by the same poll, and dropping the future gives the
    /// connection back to its engine.
    async fn recv_borrowing(&self) -> Result<Message> {
        let mut held = Borrow(None);
        loop {
            let notified = self.shared.recv_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let mut wakes = Wakes::default();
            let (r, candidate) = {
                let mut st = self.shared.state.lock().unwrap();
                if st.closed {
                    return Err(Error::closed());
                }
                match st.try_recv(&mut wakes) {
                    Ok(None) if held.0.is_none() => (Ok(None), st.borrowable()),
                    r => (r, None),
                }
            };
            wakes.notify();
            if let Some(m) = r? {
                return Ok(m);
            }
            if let Some((id, lease)) = candidate {
                if lease.try_borrow() {
                    held.0 = Some((id, lease));
                }
            }
            let got = std::future::poll_fn(|cx| {
                if std::future::Future::poll(notified.as_mut(), cx).is_ready() {
                    return std::task::Poll::Ready(None);
                }
                let Some((id, lease)) = &held.0 else {
                    return std::task::Poll::Pending;
                };
                match lease.poll_borrowed(cx) {
                    std::task::Poll::Ready(Borrowed::Message(m)) => {
                        std::task::Poll::Ready(Some((*id, m)))
                    }
                    std::task::Poll::Ready(Borrowed::Lost) => {
                        held.0 = None;
                        std::task::Poll::Ready(None)
                    }
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            })
            .await;
            if let Some((id, m)) = got {
                let mut st = self.shared.state.lock().unwrap();
                if st.closed {
                    return Err(Error::closed());
                }
                if let Some(m) = st.recv_borrowed(id, m) {
                    return Ok(m);
                }
            }
        }
    }

    /// Receives a message if one is queued, else `EAGAIN`.
    pub fn try_recv(&self) -> Result<Message> {
        return_if_batched!(self);
        let m = self
            .try_recv_inner()?
            .ok_or_else(|| Error::again("no message available"))?;
        self.turned();
        Ok(m)
    }

    /// Closes the socket: no more sends or receives; queued outbound messages are flushed
    /// for up to LINGER, then every connection is closed and every task ended. Returns when
    /// all of that is done, never later than LINGER plus a short grace.
    ///
    /// # Cancel safety
    /// Dropping the future leaves the socket closed; the flush goes on in the background
    /// and still ends at the linger deadline.
    pub async fn close(&self) {
        let linger = self.begin_close();
        let tracker = &self.shared.tracker;
        tracker.close();
        let _ = tokio::time::timeout(linger, tracker.wait()).await;
        self.shared.terminate.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
        self.finish_close();
    }

    /// Marks the socket closed, wakes every waiter; returns the linger time.
    fn begin_close(&self) -> Duration {
        let linger = {
            let mut st = self.shared.state.lock().unwrap();
            st.closed = true;
            self.shared.closing.cancel();
            // Engines notice closing when they next turn; an idle one turns on this.
            for p in st.peers.values() {
                p.out_wake.notify_one();
            }
            st.opts.linger
        };
        // Received messages not yet handed out go with the socket.
        self.shared.recv_batch.lock().unwrap().clear();
        self.shared.recv_ready.notify_waiters();
        self.shared.send_ready.notify_waiters();
        for b in self.binds.lock().unwrap().iter() {
            if let Some(p) = &b.ipc_path {
                remove_ipc_file(&self.shared, p, &b.endpoint);
            }
            if let Some(name) = &b.inproc_name {
                engine::registry::unbind(name, &b.token);
            }
        }
        linger
    }

    fn finish_close(&self) {
        let mons = std::mem::take(&mut self.shared.state.lock().unwrap().monitors);
        for m in mons {
            m.close(String::new());
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        if self.shared.terminate.is_cancelled() {
            return;
        }
        let linger = self.begin_close();
        self.shared.tracker.close();
        let shared = self.shared.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                // Linger in the background; never block in drop.
                h.spawn(async move {
                    let _ = tokio::time::timeout(linger, shared.tracker.wait()).await;
                    shared.terminate.cancel();
                });
            }
            Err(_) => shared.terminate.cancel(),
        }
        self.finish_close();
    }
}

/// Removes a bound IPC socket file; a failure (other than the file being gone already) is
/// reported as CLOSE_FAILED, as libzmq reports a failed close.
fn remove_ipc_file(shared: &Shared, path: &str, endpoint: &str) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            let errno = e.raw_os_error().unwrap_or(5) as u32;
            shared.emit_kind(EventKind::CloseFailed, errno, endpoint, Some(e.to_string()));
        }
    }
}

/// How long the accept loop waits after a failed accept before it accepts again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Accepts connections until the binding is cancelled or the socket closes.
async fn accept_loop(
    shared: Arc<Shared>,
    endpoint: String,
    token: CancellationToken,
    listener_fd: u32,
    listener: Listener,
) {
    loop {
        let ka = shared.conn_options();
        let r = tokio::select! {
            r = listener.accept(&ka) => r,
            _ = token.cancelled() => break,
            _ = shared.closing.cancelled() => break,
        };
        match r {
            Ok((rd, wr, fd, peer_address)) => {
                shared.emit_kind(EventKind::Accepted, fd, &endpoint, None);
                let ctx = EngineCtx {
                    shared: shared.clone(),
                    endpoint: endpoint.clone(),
                    target: Target::New,
                    parent: token.child_token(),
                    fd,
                    peer_address,
                    accepted: true,
                    reconnect: false,
                };
                let sh = shared.clone();
                let ep = endpoint.clone();
                shared.tracker.spawn(async move {
                    engine::run(rd, wr, ctx).await;
                    sh.emit_kind(EventKind::Closed, fd, &ep, None);
                });
            }
            Err(e) => {
                // The value is the OS errno (EMFILE, ENFILE, ...), as libzmq reports it.
                let reason = e.to_string();
                let errno = match e.raw_os_error() {
                    Some(n) => n,
                    None => Error::from(e).kind().errno(),
                };
                shared.emit_kind(
                    EventKind::AcceptFailed,
                    errno as u32,
                    &endpoint,
                    Some(reason),
                );
                // Every failure backs off before the next accept: those that persist
                // (EMFILE, ENFILE, ENOBUFS) leave the connection queued and the listener
                // ready, so retrying at once would spin at full CPU and flood the monitor
                // until a descriptor frees up; a failure of one connection (ECONNABORTED)
                // costs only the delay.
                tokio::select! {
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    _ = token.cancelled() => break,
                    _ = shared.closing.cancelled() => break,
                }
            }
        }
    }
    shared.emit_kind(EventKind::Closed, listener_fd, &endpoint, None);
}

/// Connects, runs the engine, and reconnects until cancelled.
async fn connect_loop(
    shared: Arc<Shared>,
    ep: Endpoint,
    endpoint: String,
    token: CancellationToken,
    target: Target,
) {
    let mut attempt: u32 = 0;
    let mut ever_connected = false;
    loop {
        if shared.closing.is_cancelled() && !shared.has_queued(target.peer()) {
            break;
        }
        let ka = shared.conn_options();
        let connected = tokio::select! {
            r = transport::dial(&ep, &ka) => r,
            _ = token.cancelled() => break,
            _ = shared.terminate.cancelled() => break,
        };
        match connected {
            Ok((rd, wr, fd, peer_address)) => {
                if ever_connected {
                    shared.state.lock().unwrap().counters.reconnects += 1;
                }
                shared.emit_kind(EventKind::Connected, fd, &endpoint, None);
                let ctx = EngineCtx {
                    shared: shared.clone(),
                    endpoint: endpoint.clone(),
                    target,
                    parent: token.clone(),
                    fd,
                    peer_address,
                    accepted: false,
                    reconnect: ever_connected,
                };
                match engine::run(rd, wr, ctx).await {
                    Outcome::Ended => {
                        attempt = 0;
                        ever_connected = true;
                    }
                    Outcome::HandshakeFailed => {
                        if reconnect_stops(&shared, opt::RECONNECT_STOP_HANDSHAKE_FAILED) {
                            break;
                        }
                        attempt = attempt.saturating_add(1);
                    }
                }
            }
            Err(e) => {
                let refused = e.kind() == std::io::ErrorKind::ConnectionRefused;
                let err = Error::from(e);
                shared.emit_kind(
                    EventKind::ConnectDelayed,
                    err.kind().errno() as u32,
                    &endpoint,
                    Some(err.to_string()),
                );
                if refused && reconnect_stops(&shared, opt::RECONNECT_STOP_CONN_REFUSED) {
                    break;
                }
                attempt = attempt.saturating_add(1);
            }
        }
        if token.is_cancelled() || shared.terminate.is_cancelled() {
            break;
        }
        if shared.closing.is_cancelled() && !shared.has_queued(target.peer()) {
            break;
        }
        let delay = shared
            .state
            .lock()
            .unwrap()
            .opts
            .reconnect_delay(attempt.saturating_sub(1));
        shared.emit_kind(
            EventKind::ConnectRetried,
            delay.as_millis() as u32,
            &endpoint,
            None,
        );
        let closing = shared.closing.is_cancelled();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = token.cancelled() => break,
            _ = shared.terminate.cancelled() => break,
            // Closing with nothing to deliver: stop waiting to reconnect.
            _ = shared.closing.cancelled(), if !closing => {
                if !shared.has_queued(target.peer()) {
                    break;
                }
            }
        }
    }
    if let Target::Existing(id) = target {
        let mut st = shared.state.lock().unwrap();
        st.detach(id, true);
    }
    shared.send_ready.notify_waiters();
    shared.recv_ready.notify_waiters();
}

/// Whether ZMQ_RECONNECT_STOP has `condition` set: the connect then ends instead of
/// retrying, as libzmq's does.
fn reconnect_stops(shared: &Shared, condition: i32) -> bool {
    shared.state.lock().unwrap().opts.reconnect_stop & condition != 0
}

/// A connection's read side borrowed by a REQ/REP `recv`; given back when dropped.
struct Borrow(Option<(state::PeerId, Arc<ReadLease>)>);

impl Drop for Borrow {
    fn drop(&mut self) {
        if let Some((_, lease)) = self.0.take() {
            lease.release();
        }
    }
}
