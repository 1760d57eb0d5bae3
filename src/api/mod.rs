//! aiozmq's own API on top of sockets, as in Python's aiozmq: the core API
//! ([`create_zmq_connection`], [`ZmqTransport`] and [`ZmqProtocol`]: asyncio's
//! transport/protocol pattern over a ZeroMQ socket) and the streams API ([`stream`]).
//!
//! (Python aiozmq calls the first its "core" API; the module is `api` so that it does not
//! shadow Rust's `core` crate. `aiozmq::core` and `aiozmq::stream` remain as aliases.)
//!
//! ```no_run
//! use aiozmq::api::{create_zmq_connection, ConnectionOptions, ZmqProtocol, ZmqTransport};
//! use aiozmq::{Message, SocketType};
//! use std::sync::OnceLock;
//!
//! /// Echoes every message back (a ROUTER's routing id frame routes it to the sender).
//! #[derive(Default)]
//! struct Echo {
//!     transport: OnceLock<ZmqTransport>,
//! }
//!
//! impl ZmqProtocol for Echo {
//!     fn connection_made(&self, transport: &ZmqTransport) {
//!         let _ = self.transport.set(transport.clone());
//!     }
//!     fn msg_received(&self, msg: Message) {
//!         let _ = self.transport.get().unwrap().write(msg);
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> aiozmq::Result<()> {
//! let (router, _echo) = create_zmq_connection(
//!     Echo::default,
//!     SocketType::Router,
//!     ConnectionOptions::new().bind("tcp://127.0.0.1:*"),
//! )
//! .await?;
//! println!("echoing on {}", router.bindings()[0]);
//! # router.close(); router.wait_closed().await; Ok(()) }
//! ```

mod protocol;
pub mod stream;
mod zmq_transport;

pub use crate::socket::sockopt::{opt, OptValue};
pub use protocol::{SocketEvent, ZmqProtocol};
pub use zmq_transport::{ExtraInfo, ZmqTransport, DEFAULT_HIGH_WATER};

pub(crate) use zmq_transport::{resolve_limits, WeakTransport};

use crate::{Error, Result, Socket, SocketType};
use std::sync::Arc;

/// One endpoint or several, for [`ConnectionOptions::bind`] and
/// [`ConnectionOptions::connect`] (aiozmq's "str or iterable of strings").
pub trait IntoEndpoints {
    /// The endpoints, in order.
    fn into_endpoints(self) -> Vec<String>;
}

impl IntoEndpoints for &str {
    fn into_endpoints(self) -> Vec<String> {
        vec![self.to_string()]
    }
}

impl IntoEndpoints for String {
    fn into_endpoints(self) -> Vec<String> {
        vec![self]
    }
}

impl IntoEndpoints for &String {
    fn into_endpoints(self) -> Vec<String> {
        vec![self.clone()]
    }
}

impl<T: AsRef<str>> IntoEndpoints for Vec<T> {
    fn into_endpoints(self) -> Vec<String> {
        self.iter().map(|e| e.as_ref().to_string()).collect()
    }
}

impl<T: AsRef<str>> IntoEndpoints for &[T] {
    fn into_endpoints(self) -> Vec<String> {
        self.iter().map(|e| e.as_ref().to_string()).collect()
    }
}

impl<T: AsRef<str>, const N: usize> IntoEndpoints for [T; N] {
    fn into_endpoints(self) -> Vec<String> {
        self.iter().map(|e| e.as_ref().to_string()).collect()
    }
}

/// The keyword arguments of aiozmq's `create_zmq_connection`: endpoints to bind and to
/// connect, and an optional existing socket (`zmq_sock`).
///
/// ```
/// use aiozmq::api::ConnectionOptions;
/// let opts = ConnectionOptions::new()
///     .bind(["tcp://127.0.0.1:*", "inproc://doc-example"])
///     .connect("tcp://127.0.0.1:5555");
/// assert_eq!(opts.bind_endpoints().len(), 2);
/// ```
#[derive(Debug, Default)]
pub struct ConnectionOptions {
    bind: Vec<String>,
    connect: Vec<String>,
    zmq_sock: Option<Arc<Socket>>,
    security: crate::security::SecurityConfig,
}

impl ConnectionOptions {
    /// Secures the socket (CURVE or PLAIN; see [`crate::security`]) before it binds or
    /// connects.
    pub fn security(mut self, security: crate::security::SecurityConfig) -> Self {
        self.security = security;
        self
    }

    /// No endpoints, a new socket.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds endpoints to bind (each one as [`ZmqTransport::bind`]).
    pub fn bind(mut self, endpoints: impl IntoEndpoints) -> Self {
        self.bind.extend(endpoints.into_endpoints());
        self
    }

    /// Adds endpoints to connect to (each one as [`ZmqTransport::connect`]), after binding.
    pub fn connect(mut self, endpoints: impl IntoEndpoints) -> Self {
        self.connect.extend(endpoints.into_endpoints());
        self
    }

    /// Uses an existing socket (aiozmq's `zmq_sock`) instead of making one. Its type must be
    /// the requested one; the transport closes it when it closes.
    pub fn zmq_sock(mut self, socket: impl Into<Arc<Socket>>) -> Self {
        self.zmq_sock = Some(socket.into());
        self
    }

    /// The endpoints to bind.
    pub fn bind_endpoints(&self) -> &[String] {
        &self.bind
    }

    /// The endpoints to connect to.
    pub fn connect_endpoints(&self) -> &[String] {
        &self.connect
    }
}

/// Aborts a transport whose creation did not finish (error or cancellation).
struct AbortGuard(Option<ZmqTransport>);

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.abort();
        }
    }
}

/// aiozmq's `create_zmq_connection(protocol_factory, zmq_type, bind=, connect=, zmq_sock=)`:
/// makes a socket of `socket_type` (or takes [`ConnectionOptions::zmq_sock`]), a protocol
/// from `protocol_factory`, and a [`ZmqTransport`] between them; calls
/// [`ZmqProtocol::connection_made`]; then binds and connects every endpoint of `options`.
/// Returns the transport and the protocol.
///
/// Errors: `EINVAL` when `zmq_sock` is of another type; any bind or connect error (the
/// transport is then aborted: `connection_lost(None)` is called and the socket closed,
/// and the error returned); `ENOTSUP` outside a tokio runtime (the transport runs a task).
///
/// # Cancel safety
/// If the future is dropped before it completes, the transport is aborted as on an error:
/// the protocol gets `connection_lost(None)` and the socket is closed (endpoints already
/// bound are released).
pub async fn create_zmq_connection<P, F>(
    protocol_factory: F,
    socket_type: SocketType,
    options: ConnectionOptions,
) -> Result<(ZmqTransport, Arc<P>)>
where
    P: ZmqProtocol,
    F: FnOnce() -> P,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::new(
            crate::ErrorKind::NotSupported,
            "create_zmq_connection must run inside a tokio runtime",
        ));
    }
    let socket = match options.zmq_sock {
        Some(s) if s.socket_type() != socket_type => {
            return Err(Error::inval(format!(
                "invalid zmq_sock type: {} socket given for a {socket_type} connection",
                s.socket_type()
            )));
        }
        Some(s) => s,
        None => Arc::new(Socket::new(socket_type)),
    };
    options.security.apply(&socket)?;
    let protocol = Arc::new(protocol_factory());
    let transport = ZmqTransport::start(socket, protocol.clone());
    let mut guard = AbortGuard(Some(transport.clone()));
    for ep in &options.bind {
        transport.bind(ep).await?;
    }
    for ep in &options.connect {
        transport.connect(ep).await?;
    }
    guard.0 = None;
    Ok((transport, protocol))
}
