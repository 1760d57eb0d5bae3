//! Security mechanisms: NULL (RFC 23), PLAIN (RFC 24), CURVE (RFC 26), and the ZAP
//! (RFC 27) request/reply they hand to an authentication handler.
//!
//! Each mechanism is a command-in/command-out state machine run by the
//! [`Connection`](super::Connection) between the greeting and the first message; CURVE
//! then also encrypts every frame (see [`curve::Cipher`]).

pub mod curve;
pub(crate) mod msgbox;
pub mod plain;

use super::command::Metadata;
use super::greeting::Mechanism;
use bytes::Bytes;
use std::fmt;
use std::sync::Arc;

/// A 32-byte CURVE key.
pub type CurveKey = [u8; 32];

/// The security role of one side of a connection.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Security {
    /// No security.
    #[default]
    Null,
    /// PLAIN client with credentials.
    PlainClient {
        /// User name (at most 255 bytes).
        username: Bytes,
        /// Password (at most 255 bytes).
        password: Bytes,
    },
    /// PLAIN server: credentials are checked through ZAP.
    PlainServer,
    /// CURVE client.
    CurveClient {
        /// The server's long-term public key (S).
        server_key: CurveKey,
        /// Our long-term public key (C).
        public_key: CurveKey,
        /// Our long-term secret key (c).
        secret_key: CurveKey,
    },
    /// CURVE server.
    CurveServer {
        /// Our long-term public key (S).
        public_key: CurveKey,
        /// Our long-term secret key (s).
        secret_key: CurveKey,
    },
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        match self {
            Security::Null => f.write_str("Null"),
            Security::PlainClient { username, .. } => {
                write!(f, "PlainClient {{ username: {username:?}, .. }}")
            }
            Security::PlainServer => f.write_str("PlainServer"),
            Security::CurveClient { .. } => f.write_str("CurveClient { .. }"),
            Security::CurveServer { .. } => f.write_str("CurveServer { .. }"),
        }
    }
}

impl Security {
    /// The mechanism named in the greeting.
    pub fn mechanism(&self) -> Mechanism {
        match self {
            Security::Null => Mechanism::Null,
            Security::PlainClient { .. } | Security::PlainServer => Mechanism::Plain,
            Security::CurveClient { .. } | Security::CurveServer { .. } => Mechanism::Curve,
        }
    }

    /// The greeting's as-server flag.
    pub fn as_server(&self) -> bool {
        matches!(self, Security::PlainServer | Security::CurveServer { .. })
    }
}

/// A ZAP request (RFC 27): what the server side of a handshake asks its authentication
/// handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// The socket's ZAP domain.
    pub domain: String,
    /// The peer's address (IP for TCP, empty for IPC).
    pub address: String,
    /// The authenticating (server) socket's own routing id — libzmq's ZAP "identity"
    /// frame carries the server's ROUTING_ID, not the peer's.
    pub routing_id: Bytes,
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Mechanism credentials: none for NULL, `[username, password]` for PLAIN, the client's
    /// 32-byte long-term public key for CURVE.
    pub credentials: Vec<Bytes>,
}

/// A ZAP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapReply {
    /// "200" success, "300" temporary error, "400" authentication failure, "500" internal
    /// error — as a number.
    pub status_code: u16,
    /// Human-readable status.
    pub status_text: String,
    /// The authenticated user id (visible as the `User-Id` peer property).
    pub user_id: String,
    /// Extra properties attached to the peer.
    pub metadata: Metadata,
}

impl ZapReply {
    /// A "200 OK" reply for `user_id`.
    pub fn allow(user_id: impl Into<String>) -> Self {
        ZapReply {
            status_code: 200,
            status_text: "OK".into(),
            user_id: user_id.into(),
            metadata: Metadata::new(),
        }
    }

    /// A "400" authentication failure.
    pub fn deny(text: impl Into<String>) -> Self {
        ZapReply {
            status_code: 400,
            status_text: text.into(),
            user_id: String::new(),
            metadata: Metadata::new(),
        }
    }
}

/// Fills a buffer with random bytes (CURVE keys, nonces, cookie keys). Tests inject a
/// deterministic one; the default is the operating system's generator.
pub type RandomSource = Arc<dyn Fn(&mut [u8]) + Send + Sync>;

/// The operating system's random generator.
pub fn os_random(buf: &mut [u8]) {
    use crypto_box::aead::rand_core::RngCore;
    crypto_box::aead::OsRng.fill_bytes(buf);
}

/// What a mechanism step produced.
#[derive(Debug)]
pub(crate) enum Step {
    /// Keep going (commands may have been queued).
    Continue,
    /// Ask the ZAP handler, then call the mechanism's `zap_reply`.
    Zap(ZapRequest),
    /// Handshake complete: the peer's metadata (its socket type, identity, ...).
    Done(Metadata),
}

/// An ERROR command received during a PLAIN or CURVE handshake: the peer refused us
/// (its reason is usually a ZAP status code such as "400").
pub(crate) fn peer_error(body: Bytes) -> crate::zmtp::ProtocolError {
    use crate::zmtp::command::Command;
    match Command::decode(body) {
        Ok(Command::Error(r)) => {
            crate::zmtp::ProtocolError::Auth(String::from_utf8_lossy(&r).into_owned())
        }
        Ok(_) => crate::zmtp::ProtocolError::Auth(String::new()),
        Err(e) => e,
    }
}
