//! CURVE keys: generation, derivation and the Z85 text form libzmq uses.

use crate::zmtp::mechanism::curve::{keypair_with, public_from_secret};
use crate::zmtp::{mechanism::os_random, z85};
use crate::{Error, Result};
use std::sync::Arc;

/// A new CURVE key pair as 40-character Z85 strings `(public, secret)`, like libzmq's
/// `zmq_curve_keypair`.
///
/// ```
/// let (public, secret) = aiozmq::curve_keypair();
/// assert_eq!(public.len(), 40);
/// assert_eq!(aiozmq::curve_public(&secret).unwrap(), public);
/// ```
pub fn curve_keypair() -> (String, String) {
    let (p, s) = keypair_with(&(Arc::new(os_random) as _));
    (
        z85::encode(&p).expect("32 bytes"),
        z85::encode(&s).expect("32 bytes"),
    )
}

/// The public key of a secret key (Z85 in, Z85 out), like libzmq's `zmq_curve_public`.
pub fn curve_public(secret_z85: &str) -> Result<String> {
    let secret = parse_key(secret_z85.as_bytes())?;
    Ok(z85::encode(&public_from_secret(&secret)).expect("32 bytes"))
}

/// The 32-byte public key of a 32-byte secret key.
pub fn public_key_of(secret: &[u8; 32]) -> [u8; 32] {
    public_from_secret(secret)
}

/// Accepts a key as libzmq does: 32 raw bytes, or 40 characters of Z85.
pub fn parse_key(key: &[u8]) -> Result<[u8; 32]> {
    match key.len() {
        32 => Ok(key.try_into().expect("32 bytes")),
        40 => {
            let text =
                std::str::from_utf8(key).map_err(|_| Error::inval("CURVE key is not Z85 text"))?;
            let raw =
                z85::decode(text).ok_or_else(|| Error::inval("CURVE key is not valid Z85"))?;
            Ok(raw.try_into().expect("40 Z85 characters are 32 bytes"))
        }
        n => Err(Error::inval(format!(
            "a CURVE key is 32 bytes or 40 Z85 characters, not {n} bytes"
        ))),
    }
}
