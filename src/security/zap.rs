//! ZAP (RFC 27): authentication of incoming connections.
//!
//! A socket with a [`ZapHandler`] (see [`Socket::set_zap_handler`](crate::Socket::set_zap_handler))
//! asks it about every peer during the handshake: the PLAIN and CURVE server roles always,
//! NULL when the socket also has a ZAP domain (as libzmq does). Without a handler every
//! peer is accepted. [`Authenticator`] is a ready-made handler with address allow/deny
//! lists, PLAIN passwords and a CURVE public-key allow list.
//!
//! ```
//! use aiozmq::zap::{Authenticator, ZapHandler};
//! use aiozmq::zmtp::{Mechanism, ZapRequest};
//! let auth = Authenticator::new().allow_address("127.0.0.1").password("admin", "secret");
//! let req = ZapRequest {
//!     domain: "global".into(),
//!     address: "127.0.0.1".into(),
//!     routing_id: Default::default(),
//!     mechanism: Mechanism::Plain,
//!     credentials: vec!["admin".into(), "secret".into()],
//! };
//! assert_eq!(auth.authenticate(&req).status_code, 200);
//! ```

use crate::zmtp::Mechanism;
pub use crate::zmtp::{ZapReply, ZapRequest};
use std::collections::{HashMap, HashSet};

/// Decides whether a peer may connect.
pub trait ZapHandler: Send + Sync + 'static {
    /// The verdict for one handshake: status 200 accepts, anything else refuses (the peer
    /// gets an ERROR command with the status code and both sides report
    /// HANDSHAKE_FAILED_AUTH).
    fn authenticate(&self, request: &ZapRequest) -> ZapReply;
}

impl<F> ZapHandler for F
where
    F: Fn(&ZapRequest) -> ZapReply + Send + Sync + 'static,
{
    fn authenticate(&self, request: &ZapRequest) -> ZapReply {
        self(request)
    }
}

/// A ready-made ZAP handler in the manner of czmq's `zauth`.
///
/// - Addresses: when an allow list is set, only those addresses pass; addresses on the
///   deny list never pass.
/// - PLAIN: the user name must be known and the password must match; the user id is the
///   user name.
/// - CURVE: the client's public key must be on the allow list, unless
///   [`allow_any_curve`](Self::allow_any_curve) was called; the user id is the key in Z85.
/// - NULL: passes (after the address checks).
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    allow: HashSet<String>,
    deny: HashSet<String>,
    passwords: HashMap<String, String>,
    curve_keys: HashSet<[u8; 32]>,
    curve_any: bool,
}

impl Authenticator {
    /// An authenticator that allows every address, knows no user and no CURVE key.
    pub fn new() -> Self {
        Authenticator::default()
    }

    /// Adds an address to the allow list.
    pub fn allow_address(mut self, addr: impl Into<String>) -> Self {
        self.allow.insert(addr.into());
        self
    }

    /// Adds an address to the deny list.
    pub fn deny_address(mut self, addr: impl Into<String>) -> Self {
        self.deny.insert(addr.into());
        self
    }

    /// Adds a PLAIN user.
    pub fn password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.passwords.insert(user.into(), password.into());
        self
    }

    /// Allows a CURVE client public key (32 bytes, or 40 characters of Z85).
    pub fn allow_curve_key(mut self, key: impl AsRef<[u8]>) -> crate::Result<Self> {
        self.curve_keys
            .insert(crate::security::curve::parse_key(key.as_ref())?);
        Ok(self)
    }

    /// Accepts any CURVE client that completes the handshake (it knows our server key).
    pub fn allow_any_curve(mut self) -> Self {
        self.curve_any = true;
        self
    }
}

impl ZapHandler for Authenticator {
    fn authenticate(&self, req: &ZapRequest) -> ZapReply {
        if self.deny.contains(&req.address)
            || (!self.allow.is_empty() && !self.allow.contains(&req.address))
        {
            return ZapReply::deny("address not allowed");
        }
        match req.mechanism {
            Mechanism::Null => ZapReply::allow(""),
            Mechanism::Plain => {
                let user = req
                    .credentials
                    .first()
                    .map(|u| String::from_utf8_lossy(u).into_owned());
                let pass = req
                    .credentials
                    .get(1)
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                match (user, pass) {
                    (Some(u), Some(p)) if self.passwords.get(&u) == Some(&p) => ZapReply::allow(u),
                    _ => ZapReply::deny("invalid user name or password"),
                }
            }
            Mechanism::Curve => {
                let key = req
                    .credentials
                    .first()
                    .and_then(|k| <[u8; 32]>::try_from(&k[..]).ok());
                match key {
                    Some(k) if self.curve_any || self.curve_keys.contains(&k) => {
                        ZapReply::allow(crate::zmtp::z85::encode(&k).unwrap_or_default())
                    }
                    _ => ZapReply::deny("client key not allowed"),
                }
            }
        }
    }
}
