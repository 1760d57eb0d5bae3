//! The ZMTP 3.x greeting (RFC 23 and 37): 64 bytes exchanged before anything else.
//!
//! ```text
//! signature  FF 00 00 00 00 00 00 00 01 7F   (10 bytes; libzmq puts routing-id length + 1
//!                                             in the padding, as a 64-bit BE number)
//! version    03 01                           (major, minor)
//! mechanism  "NULL" padded with zeros to 20 bytes
//! as-server  00 or 01
//! filler     31 zero bytes
//! ```
//!
//! libzmq sends the greeting in three stages (signature; major version once the peer's
//! signature arrived; the rest once the peer's major arrived), so that it can downgrade for
//! older peers. [`Connection`](super::Connection) sends it in the same stages; this module
//! only knows the layout.

use super::ProtocolError;

/// Length of the signature, the first greeting stage.
pub const SIGNATURE_LEN: usize = 10;
/// Length of the whole greeting.
pub const GREETING_LEN: usize = 64;
/// The signature libzmq sends with an empty routing id (its padding carries a ZMTP 1.0
/// length: routing-id length + 1, as a 64-bit big-endian number).
pub const SIGNATURE: [u8; SIGNATURE_LEN] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F];

/// The signature as libzmq sends it for a socket whose routing id is `routing_id_len`
/// bytes long: bytes 1..9 hold `routing_id_len + 1` big-endian (ZMTP 1.0's identity
/// length, kept for backward compatibility and ignored by ZMTP 3 peers).
pub fn signature(routing_id_len: usize) -> [u8; SIGNATURE_LEN] {
    let mut s = [0u8; SIGNATURE_LEN];
    s[0] = 0xFF;
    s[1..9].copy_from_slice(&(routing_id_len as u64 + 1).to_be_bytes());
    s[9] = 0x7F;
    s
}
/// Offset of the mechanism name in the greeting.
pub const MECHANISM_OFFSET: usize = 12;
/// Length of the mechanism field.
pub const MECHANISM_LEN: usize = 20;

pub use crate::message::Mechanism;

/// The greeting's mechanism field.
impl Mechanism {
    /// The 20-byte NUL-padded field.
    pub fn to_field(self) -> [u8; MECHANISM_LEN] {
        let mut f = [0u8; MECHANISM_LEN];
        let name = self.as_str().as_bytes();
        f[..name.len()].copy_from_slice(name);
        f
    }

    /// Parses a 20-byte mechanism field; `Err` carries the printable name for error reports.
    pub fn from_field(field: &[u8]) -> Result<Mechanism, String> {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        let name = &field[..end];
        match name {
            b"NULL" => Ok(Mechanism::Null),
            b"PLAIN" => Ok(Mechanism::Plain),
            b"CURVE" => Ok(Mechanism::Curve),
            other => Err(String::from_utf8_lossy(other).into_owned()),
        }
    }
}

/// A decoded (or to-be-encoded) greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3).
    pub major: u8,
    /// Minor version (1 for ZMTP 3.1, 0 for 3.0).
    pub minor: u8,
    /// Security mechanism.
    pub mechanism: Mechanism,
    /// The as-server flag (meaningful for PLAIN and CURVE).
    pub as_server: bool,
}

impl Greeting {
    /// Our greeting: ZMTP 3.1 with the given mechanism and role.
    pub fn new(mechanism: Mechanism, as_server: bool) -> Self {
        Greeting {
            major: 3,
            minor: 1,
            mechanism,
            as_server,
        }
    }

    /// The 64 bytes on the wire.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut g = [0u8; GREETING_LEN];
        g[..SIGNATURE_LEN].copy_from_slice(&SIGNATURE);
        g[10] = self.major;
        g[11] = self.minor;
        g[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN]
            .copy_from_slice(&self.mechanism.to_field());
        g[32] = self.as_server as u8;
        g
    }

    /// Checks the 10-byte signature: `FF`, 8 padding bytes, and a last byte with bit 0 set
    /// (libzmq's test: anything else is a ZMTP 1.0 peer, which we do not speak).
    pub fn check_signature(sig: &[u8]) -> Result<(), ProtocolError> {
        if sig.len() < SIGNATURE_LEN || sig[0] != 0xFF || sig[9] & 1 == 0 {
            return Err(ProtocolError::BadSignature);
        }
        Ok(())
    }

    /// Decodes a whole 64-byte greeting. Major versions below 3 are rejected; the mechanism
    /// must be one we know. Filler bytes are ignored.
    pub fn decode(bytes: &[u8]) -> Result<Greeting, ProtocolError> {
        Greeting::check_signature(bytes)?;
        if bytes.len() < GREETING_LEN {
            return Err(ProtocolError::BadSignature);
        }
        let major = bytes[10];
        if major < 3 {
            return Err(ProtocolError::UnsupportedVersion(major));
        }
        let mechanism =
            Mechanism::from_field(&bytes[MECHANISM_OFFSET..MECHANISM_OFFSET + MECHANISM_LEN])
                .map_err(|theirs| ProtocolError::MechanismMismatch {
                    ours: String::from("(known)"),
                    theirs,
                })?;
        Ok(Greeting {
            major,
            minor: bytes[11],
            mechanism,
            as_server: bytes[32] != 0,
        })
    }

    /// True when the peer speaks ZMTP 3.0 rules (subscriptions as messages).
    pub fn is_zmtp30(&self) -> bool {
        self.major == 3 && self.minor == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_libzmq_bytes() {
        let g = Greeting::new(Mechanism::Null, false).encode();
        let mut want = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1];
        want.extend_from_slice(b"NULL");
        want.resize(64, 0);
        assert_eq!(&g[..], &want[..]);
        assert_eq!(
            Greeting::decode(&g).unwrap(),
            Greeting::new(Mechanism::Null, false)
        );
    }

    #[test]
    fn rejects_bad_input() {
        let mut g = Greeting::new(Mechanism::Null, true).encode();
        g[9] = 0x7E;
        assert_eq!(Greeting::decode(&g), Err(ProtocolError::BadSignature));
        let mut g = Greeting::new(Mechanism::Null, true).encode();
        g[10] = 2;
        assert_eq!(
            Greeting::decode(&g),
            Err(ProtocolError::UnsupportedVersion(2))
        );
        let mut g = Greeting::new(Mechanism::Null, true).encode();
        g[12..16].copy_from_slice(b"XXXX");
        assert!(matches!(
            Greeting::decode(&g),
            Err(ProtocolError::MechanismMismatch { .. })
        ));
        assert!(Greeting::decode(&g[..20]).is_err());
    }
}
