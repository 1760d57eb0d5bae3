//! One value that secures a socket, for every layer (sockets, the aiozmq core and stream
//! APIs, RPC services): CURVE or PLAIN, client or server, with an optional ZAP handler.
//!
//! ```
//! use aiozmq::security::SecurityConfig;
//! use aiozmq::{Socket, SocketType};
//! let (server_public, server_secret) = aiozmq::curve_keypair();
//! let server = SecurityConfig::curve_server(&server_secret).unwrap();
//! let client = SecurityConfig::curve_client(&server_public).unwrap(); // fresh client keys
//! let s = Socket::new(SocketType::Rep);
//! server.apply(&s).unwrap();
//! assert_eq!(s.mechanism(), aiozmq::zmtp::Mechanism::Curve);
//! # let _ = client;
//! ```

pub mod curve;
pub mod zap;

use crate::Result;
use bytes::Bytes;
use curve::parse_key;
use std::sync::Arc;
use zap::{Authenticator, ZapHandler};

/// How to secure a socket. Apply it with [`apply`](Self::apply), or pass it to the layers
/// that take one (`ConnectionOptions::security`, `StreamOptions::security`, RPC builders).
#[derive(Clone, Default)]
pub enum SecurityConfig {
    /// No security (NULL).
    #[default]
    None,
    /// CURVE server with its secret key, and optionally a ZAP handler.
    CurveServer {
        /// The server's secret key.
        secret_key: [u8; 32],
        /// Who may connect (`None`: any client that knows the server key).
        zap: Option<Arc<dyn ZapHandler>>,
    },
    /// CURVE client of the server with `server_key`, with its own key pair.
    CurveClient {
        /// The server's public key.
        server_key: [u8; 32],
        /// Our public key.
        public_key: [u8; 32],
        /// Our secret key.
        secret_key: [u8; 32],
    },
    /// PLAIN server, checking credentials with a ZAP handler (`None`: accept any).
    PlainServer {
        /// The credential check.
        zap: Option<Arc<dyn ZapHandler>>,
    },
    /// PLAIN client.
    PlainClient {
        /// User name.
        username: Bytes,
        /// Password.
        password: Bytes,
    },
}

impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys or passwords.
        f.write_str(match self {
            SecurityConfig::None => "None",
            SecurityConfig::CurveServer { .. } => "CurveServer",
            SecurityConfig::CurveClient { .. } => "CurveClient",
            SecurityConfig::PlainServer { .. } => "PlainServer",
            SecurityConfig::PlainClient { .. } => "PlainClient",
        })
    }
}

impl SecurityConfig {
    /// A CURVE server with `secret_key` (32 bytes or 40 Z85 characters).
    pub fn curve_server(secret_key: impl AsRef<[u8]>) -> Result<Self> {
        Ok(SecurityConfig::CurveServer {
            secret_key: parse_key(secret_key.as_ref())?,
            zap: None,
        })
    }

    /// A CURVE client of the server with `server_key`, with a fresh key pair.
    pub fn curve_client(server_key: impl AsRef<[u8]>) -> Result<Self> {
        let (public, secret) = crate::curve_keypair();
        Self::curve_client_with_keys(server_key, public, secret)
    }

    /// A CURVE client with its own long-term key pair (so a server can allow-list it).
    pub fn curve_client_with_keys(
        server_key: impl AsRef<[u8]>,
        public_key: impl AsRef<[u8]>,
        secret_key: impl AsRef<[u8]>,
    ) -> Result<Self> {
        Ok(SecurityConfig::CurveClient {
            server_key: parse_key(server_key.as_ref())?,
            public_key: parse_key(public_key.as_ref())?,
            secret_key: parse_key(secret_key.as_ref())?,
        })
    }

    /// A PLAIN client.
    pub fn plain_client(username: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        SecurityConfig::PlainClient {
            username: username.into(),
            password: password.into(),
        }
    }

    /// A PLAIN server accepting the users of `auth`.
    pub fn plain_server(auth: Authenticator) -> Self {
        SecurityConfig::PlainServer {
            zap: Some(Arc::new(auth)),
        }
    }

    /// Adds (or replaces) the ZAP handler of a server configuration.
    pub fn with_zap(mut self, handler: impl ZapHandler) -> Self {
        match &mut self {
            SecurityConfig::CurveServer { zap, .. } | SecurityConfig::PlainServer { zap } => {
                *zap = Some(Arc::new(handler));
            }
            _ => {}
        }
        self
    }
}

/// A shared ZAP handler, installable where one is taken by value.
pub(crate) struct ArcHandler(pub(crate) Arc<dyn ZapHandler>);

impl ZapHandler for ArcHandler {
    fn authenticate(&self, request: &zap::ZapRequest) -> zap::ZapReply {
        self.0.authenticate(request)
    }
}
