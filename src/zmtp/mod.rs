//! The sans-I/O ZMTP 3.x protocol core: no sockets, no runtime, no clock reads.
//!
//! Bytes go in, events and bytes come out, so every part of the protocol can be tested
//! byte for byte and fuzzed.
//!
//! # Organization
//! - [`greeting`]: the 64-byte greeting (RFC 23/37), encoded and decoded.
//! - [`frame`]: frame headers, the incremental [`FrameDecoder`] that splits
//!   frames out of a read buffer without copying, and the [`WriteBuf`] that
//!   batches outgoing frames for one (vectored) write.
//! - [`command`]: READY, ERROR, PING, PONG, SUBSCRIBE, CANCEL and the wire form of READY's
//!   metadata (the [`Metadata`] and [`Mechanism`] types themselves are plain data in the
//!   message module, since messages carry them as properties).
//! - [`connection`]: the per-connection state machine: staged greeting (with the ZMTP 3.0
//!   downgrade), mechanism handshake, ZAP requests and replies, socket-type check, then
//!   messages and commands.
//! - [`mechanism`]: NULL, PLAIN and CURVE (with the crypto box in `msgbox`), each a state
//!   machine the connection drives; [`Security`] says which one and with which keys.
//! - `timers` (private): the handshake deadline and the heartbeats, as state driven by the
//!   instants the connection is given.
//! - [`z85`]: the Z85 encoding of keys.
//! - `fuzzing`: the entry points of the fuzz targets for everything above (re-exported by
//!   the crate's one fuzzing front).
//!
//! # Method kinds of [`Connection`]
//! Like quinn's protocol core, the connection has getters; `handle_*` methods for input from
//! the network or the clock (`handle_input`, `handle_received`, `handle_timeout`, ...);
//! mutators for application commands (`send_message`, `send_subscription`, ...); and
//! `poll_*`/transmit accessors for output. After every input, drain
//! [`poll_event`](connection::Connection::poll_event), write out
//! [`transmit`](connection::Connection::transmit), then wait until
//! [`poll_timeout`](connection::Connection::poll_timeout). Time is always an argument
//! (`now`), never read here.

pub mod command;
pub mod connection;
pub mod frame;
#[doc(hidden)]
pub(crate) mod fuzzing;
pub mod greeting;
pub mod mechanism;
mod timers;
pub mod z85;

use std::fmt;

pub use command::{Command, Metadata};
pub use connection::{Config, Connection, Event, PeerInfo};
pub use frame::{Frame, FrameDecoder, WriteBuf};
pub use greeting::{Greeting, Mechanism};
pub use mechanism::{Security, ZapReply, ZapRequest};

/// The ZeroMQ socket types, with the names used in the READY command's `Socket-Type`
/// property and libzmq's numeric constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// ZMQ_PAIR (0)
    Pair,
    /// ZMQ_PUB (1)
    Pub,
    /// ZMQ_SUB (2)
    Sub,
    /// ZMQ_REQ (3)
    Req,
    /// ZMQ_REP (4)
    Rep,
    /// ZMQ_DEALER (5)
    Dealer,
    /// ZMQ_ROUTER (6)
    Router,
    /// ZMQ_PULL (7)
    Pull,
    /// ZMQ_PUSH (8)
    Push,
    /// ZMQ_XPUB (9)
    XPub,
    /// ZMQ_XSUB (10)
    XSub,
    /// ZMQ_STREAM (11): raw TCP peers, no ZMTP. Not in [`SocketType::ALL`]: no ZMTP
    /// peer may announce it, and no ZMTP socket type is compatible with it.
    Stream,
    /// ZMQ_SERVER (12, draft): single-frame messages; each peer gets a `u32` routing id,
    /// which received messages carry ([`Message::routing_id`](crate::Message::routing_id))
    /// and sent messages name. Talks to CLIENT.
    Server,
    /// ZMQ_CLIENT (13, draft): single-frame messages, round-robin send and fair-queued
    /// receive, as DEALER. Talks to SERVER.
    Client,
    /// ZMQ_RADIO (14, libzmq draft): sends each message to the dishes that joined its
    /// group.
    Radio,
    /// ZMQ_DISH (15, libzmq draft): receives the messages of the groups it joined.
    Dish,
    /// ZMQ_GATHER (16, draft): single-frame PULL. Talks to SCATTER.
    Gather,
    /// ZMQ_SCATTER (17, draft): single-frame PUSH. Talks to GATHER.
    Scatter,
    /// ZMQ_DGRAM (18, libzmq draft): raw UDP datagrams on a `udp://` bind, no ZMTP. Each
    /// message is two frames, the remote address as `ip:port` text and the datagram's
    /// body: a received one names its sender, a sent one its destination. Not in
    /// [`SocketType::ALL`]: no ZMTP peer may announce it.
    Dgram,
    /// ZMQ_PEER (19, draft): SERVER's routing by `u32` routing id between equals, with
    /// [`Socket::connect_peer`](crate::Socket::connect_peer) telling the id of the peer a
    /// connect reaches. Talks to PEER.
    Peer,
    /// ZMQ_CHANNEL (20, draft): single-frame PAIR. Talks to CHANNEL.
    Channel,
}

impl SocketType {
    /// Every socket type a ZMTP peer may announce (all but [`SocketType::Stream`]), in
    /// libzmq's numeric order.
    pub const ALL: [SocketType; 19] = [
        SocketType::Pair,
        SocketType::Pub,
        SocketType::Sub,
        SocketType::Req,
        SocketType::Rep,
        SocketType::Dealer,
        SocketType::Router,
        SocketType::Pull,
        SocketType::Push,
        SocketType::XPub,
        SocketType::XSub,
        SocketType::Server,
        SocketType::Client,
        SocketType::Radio,
        SocketType::Dish,
        SocketType::Gather,
        SocketType::Scatter,
        SocketType::Peer,
        SocketType::Channel,
    ];

    /// Whether this type moves single-frame messages only (libzmq's draft types SERVER,
    /// CLIENT, GATHER, SCATTER, PEER, CHANNEL, RADIO and DISH): a send of more than one frame
    /// is `EINVAL`, and a multipart message from a peer is dropped. A RADIO's group is not a
    /// frame of the message: over ZMTP it travels as a frame of its own, which the DISH's
    /// connection folds back into the message's group.
    pub fn is_single_frame(self) -> bool {
        use SocketType::*;
        matches!(
            self,
            Server | Client | Gather | Scatter | Peer | Channel | Radio | Dish
        )
    }

    /// Whether this type can send at all (every type but PULL, SUB, GATHER and DISH, the
    /// receive-only ones): a send on the others is `ENOTSUP`.
    pub fn can_send(self) -> bool {
        use SocketType::*;
        !matches!(self, Pull | Sub | Gather | Dish)
    }

    /// Whether this type can receive at all (every type but PUSH, PUB, SCATTER and RADIO,
    /// the send-only ones): a receive on the others is `ENOTSUP`.
    pub fn can_recv(self) -> bool {
        use SocketType::*;
        !matches!(self, Push | Pub | Scatter | Radio)
    }

    /// The name sent in READY's `Socket-Type` property (`"DEALER"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
            SocketType::Server => "SERVER",
            SocketType::Client => "CLIENT",
            SocketType::Radio => "RADIO",
            SocketType::Dish => "DISH",
            SocketType::Gather => "GATHER",
            SocketType::Scatter => "SCATTER",
            SocketType::Dgram => "DGRAM",
            SocketType::Peer => "PEER",
            SocketType::Channel => "CHANNEL",
        }
    }

    /// Parses a READY `Socket-Type` value (exact, upper case as the RFC spells it; lower case
    /// is accepted too).
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    /// libzmq's numeric constant (`ZMQ_DEALER` = 5, ...).
    pub fn to_raw(self) -> i32 {
        match self {
            SocketType::Pair => 0,
            SocketType::Pub => 1,
            SocketType::Sub => 2,
            SocketType::Req => 3,
            SocketType::Rep => 4,
            SocketType::Dealer => 5,
            SocketType::Router => 6,
            SocketType::Pull => 7,
            SocketType::Push => 8,
            SocketType::XPub => 9,
            SocketType::XSub => 10,
            SocketType::Stream => 11,
            SocketType::Server => 12,
            SocketType::Client => 13,
            SocketType::Radio => 14,
            SocketType::Dish => 15,
            SocketType::Gather => 16,
            SocketType::Scatter => 17,
            SocketType::Dgram => 18,
            SocketType::Peer => 19,
            SocketType::Channel => 20,
        }
    }

    /// The socket type for libzmq's numeric constant.
    pub fn from_raw(raw: i32) -> Option<SocketType> {
        SocketType::ALL
            .into_iter()
            .chain([SocketType::Stream, SocketType::Dgram])
            .find(|t| t.to_raw() == raw)
    }

    /// Parses a socket type's name, case-insensitively: every type of
    /// [`from_name`](Self::from_name), `STREAM` and `DGRAM`.
    pub fn from_any_name(name: &[u8]) -> Option<SocketType> {
        [SocketType::Stream, SocketType::Dgram]
            .into_iter()
            .find(|t| name.eq_ignore_ascii_case(t.as_str().as_bytes()))
            .or_else(|| SocketType::from_name(name))
    }

    /// Whether a peer of type `peer` may connect to a socket of this type (RFC 23's table,
    /// and libzmq's for the draft types: CLIENT-SERVER, SCATTER-GATHER, PEER-PEER,
    /// CHANNEL-CHANNEL; never for STREAM and DGRAM, which speak no ZMTP).
    pub fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
                | (Server, Client)
                | (Client, Server)
                | (Radio, Dish)
                | (Dish, Radio)
                | (Gather, Scatter)
                | (Scatter, Gather)
                | (Peer, Peer)
                | (Channel, Channel)
        )
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SocketType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SocketType::from_any_name(s.as_bytes())
            .ok_or_else(|| crate::Error::inval(format!("unknown socket type {s:?}")))
    }
}

/// A violation of the ZMTP protocol by the peer (or a local limit it exceeded). The
/// connection that produced it must be closed; nothing else is affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first 10 bytes are not a ZMTP 2.0+ signature (`FF .. 7F`).
    #[error("bad greeting signature (not a ZMTP 3.x peer)")]
    BadSignature,
    /// The peer speaks a ZMTP major version below 3.
    #[error("peer speaks ZMTP major version {0}; version 3 or later is required")]
    UnsupportedVersion(u8),
    /// The peer's mechanism differs from ours.
    #[error("security mechanism mismatch: we use {ours}, peer uses {theirs}")]
    MechanismMismatch {
        /// Our mechanism name.
        ours: String,
        /// The peer's mechanism name.
        theirs: String,
    },
    /// A frame's flags byte had reserved bits set.
    #[error("reserved frame flag bits set: {0:#04x}")]
    ReservedFlags(u8),
    /// A command frame had the MORE flag.
    #[error("command frame with MORE flag")]
    CommandWithMore,
    /// A frame larger than the configured maximum.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Declared size.
        size: u64,
        /// Limit in force.
        max: u64,
    },
    /// A command body that does not parse.
    #[error("malformed {0} command")]
    MalformedCommand(&'static str),
    /// READY (or another command) carried malformed metadata.
    #[error("malformed metadata: {0}")]
    MalformedMetadata(&'static str),
    /// READY lacked the mandatory Socket-Type property, or named an unknown type.
    #[error("missing or unknown Socket-Type in READY")]
    BadSocketType,
    /// The peer's socket type cannot talk to ours.
    #[error("incompatible socket types: we are {ours}, peer is {theirs}")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's socket type.
        theirs: SocketType,
    },
    /// A command that is not valid at this point of the exchange.
    #[error("unexpected {0} command")]
    UnexpectedCommand(String),
    /// A message frame arrived before the handshake completed.
    #[error("message frame before the handshake completed")]
    MessageBeforeReady,
    /// A DISH got a message that is not a group frame then one body frame.
    #[error("bad RADIO message: {0}")]
    BadGroupMessage(&'static str),
    /// The peer sent an ERROR command.
    #[error("peer sent ERROR: {0}")]
    PeerError(String),
    /// The handshake did not complete within HANDSHAKE_IVL.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// No bytes at all came from the peer within HEARTBEAT_TIMEOUT of our PING.
    #[error("heartbeat timed out")]
    HeartbeatTimeout,
    /// No bytes came from the peer within the TTL its PING announced.
    #[error("peer's heartbeat TTL expired")]
    PeerTtlExpired,
    /// The peer's security handshake failed (wrong keys or credentials).
    #[error("authentication failed: {0}")]
    Auth(String),
}

impl From<ProtocolError> for crate::Error {
    fn from(e: ProtocolError) -> Self {
        let kind = match e {
            ProtocolError::TooLarge { .. } => crate::ErrorKind::MessageTooLarge,
            ProtocolError::HandshakeTimeout
            | ProtocolError::HeartbeatTimeout
            | ProtocolError::PeerTtlExpired => crate::ErrorKind::TimedOut,
            ProtocolError::Auth(_) => crate::ErrorKind::AccessDenied,
            _ => crate::ErrorKind::Protocol,
        };
        crate::Error::new(kind, e.to_string())
    }
}
