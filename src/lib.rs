//! # aiozmq: ZeroMQ in pure Rust
//!
//! A from-scratch implementation of ZeroMQ (ZMTP 3.1 with 3.0 downgrade) over tokio, with
//! no C dependency, interoperable byte for byte with libzmq.
//!
//! # Layers
//! Each module names only the modules below it (`tests/layering.rs` checks this):
//!
//! | layer | modules | what lives there |
//! |---|---|---|
//! | leaves | `error`, [`message`](Message), `version`, [`monitor`] | errors, messages and their properties, monitor events |
//! | protocol | [`zmtp`] | the sans-I/O ZMTP core: greeting, frames, commands, the connection state machine and its timers, mechanisms, Z85 |
//! | security | [`security`] | [`SecurityConfig`](security::SecurityConfig), CURVE keys, ZAP |
//! | bytes | [`transport`] | endpoints, TCP and IPC byte streams |
//! | data plane | (private) | per-peer queues, each socket type's send and receive rule, fan-out, the REQ/REP direct paths, counters, options |
//! | tasks | (private) | one task per connection; the inproc pump and its registry |
//! | sockets | [`socket`] | the public [`Socket`]: send/recv/close, bind/connect/reconnect, options, readiness, `Stream`/`Sink` adapters |
//! | aiozmq API, blocking API | [`api`], [`blocking`] | `create_zmq_connection`, `ZmqTransport`/`ZmqProtocol`, `ZmqStream`; blocking sockets and `poll` for programs without a runtime |
//! | on sockets | [`proxy`](mod@proxy), [`rpc`] | `zmq_proxy`, aiozmq.rpc |
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod api;
pub mod blocking;
mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod message;
pub mod monitor;
mod plane;
pub mod proxy;
pub mod rpc;
pub mod security;
pub mod socket;
pub mod transport;
mod version;
pub mod zmtp;

pub use api::stream::{create_zmq_stream, StreamOptions, ZmqStream, ZmqStreamClosed};
pub use api::{create_zmq_connection, ConnectionOptions, SocketEvent, ZmqProtocol, ZmqTransport};
pub use error::{Error, ErrorKind, Result};
pub use message::{
    IntoIter as MessageIntoIter, Iter as MessageIter, Message, Properties, GROUP_MAX_LENGTH,
};
pub use monitor::{EventKind, Monitor, MonitorEvent};
pub use proxy::{proxy, proxy_steerable, ProxyStatistics};
pub use security::curve::{curve_keypair, curve_public};
pub use socket::{Counters, PeerQueue, PollEvents, Socket, SocketSink, SocketStream, TrySendError};
pub use transport::udp::UdpEndpoint;
pub use transport::Endpoint;
pub use version::{version_info, ReleaseLevel, VersionInfo, VERSION};
pub use zmtp::SocketType;

// Former paths, kept so that code written against them still builds. Nothing in the crate
// uses them.
/// The core API under its former name (see [`api`]).
#[doc(hidden)]
pub mod core {
    pub use crate::api::*;
}
/// The streams API under its former path (see [`api::stream`]).
#[doc(hidden)]
pub use api::stream;
/// CURVE keys under their former path (see [`security::curve`]).
#[doc(hidden)]
pub use security::curve;
/// ZAP under its former path (see [`security::zap`]).
#[doc(hidden)]
pub use security::zap;
