//! # aiozmq: ZeroMQ in pure Rust
//!
//! A from-scratch implementation of ZeroMQ (ZMTP 3.1 with 3.0 downgrade) over tokio, with
//! no C dependency, interoperable byte for byte with libzmq.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod core;
pub mod curve;
mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod message;
pub mod proxy;
pub mod rpc;
pub mod security;
pub mod socket;
pub mod stream;
pub mod transport;
mod version;
pub mod zap;
pub mod zmtp;

pub use crate::core::{
    create_zmq_connection, ConnectionOptions, SocketEvent, ZmqProtocol, ZmqTransport,
};
pub use curve::{curve_keypair, curve_public};
pub use error::{Error, ErrorKind, Result};
pub use message::{IntoIter as MessageIntoIter, Iter as MessageIter, Message, Properties};
pub use proxy::{proxy, proxy_steerable, ProxyStatistics};
pub use socket::monitor::{EventKind, Monitor, MonitorEvent};
pub use socket::{Counters, PeerQueue, Socket, TrySendError};
pub use stream::{create_zmq_stream, StreamOptions, ZmqStream, ZmqStreamClosed};
pub use transport::Endpoint;
pub use version::{version_info, ReleaseLevel, VersionInfo, VERSION};
pub use zmtp::SocketType;
