//! # aiozmq: ZeroMQ in pure Rust
//!
//! A from-scratch implementation of ZeroMQ (ZMTP 3.1 with 3.0 downgrade) over tokio, with
//! no C dependency, interoperable byte for byte with libzmq.
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod curve;
mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod message;
pub mod socket;
pub mod transport;
pub mod zap;
pub mod zmtp;

pub use curve::{curve_keypair, curve_public};
pub use error::{Error, ErrorKind, Result};
pub use message::{IntoIter as MessageIntoIter, Iter as MessageIter, Message, Properties};
pub use socket::monitor::{EventKind, Monitor, MonitorEvent};
pub use socket::{Counters, PeerQueue, Socket, TrySendError};
pub use transport::Endpoint;
pub use zmtp::SocketType;
