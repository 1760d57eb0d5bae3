//! ZMTP commands: a name (1-byte length + ASCII) followed by command data.
//!
//! Each command decodes from a command frame's body and encodes into a whole frame
//! (header included). Mechanism-specific commands (HELLO, WELCOME, ...) are handled by
//! their mechanism and come through here as [`Command::Unknown`].

use super::frame::{encode_header, FLAG_COMMAND};
use super::ProtocolError;
use bytes::{BufMut, Bytes, BytesMut};

/// Longest PING context libzmq keeps.
pub const MAX_PING_CONTEXT: usize = 16;

pub use crate::message::Metadata;

/// The wire form of READY metadata.
impl Metadata {
    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        self.iter().map(|(n, v)| 1 + n.len() + 4 + v.len()).sum()
    }

    /// Appends the wire form: per property, name length (1), name, value length (4 BE), value.
    pub fn encode(&self, dst: &mut impl BufMut) {
        for (n, v) in self.iter() {
            dst.put_u8(n.len() as u8);
            dst.put_slice(n.as_bytes());
            dst.put_u32(v.len() as u32);
            dst.put_slice(v);
        }
    }

    /// Parses the wire form, zero-copy for values.
    pub fn decode(mut data: Bytes) -> Result<Metadata, ProtocolError> {
        let mut props = Vec::new();
        while !data.is_empty() {
            let nlen = data[0] as usize;
            if nlen == 0 {
                return Err(ProtocolError::MalformedMetadata("empty property name"));
            }
            if data.len() < 1 + nlen + 4 {
                return Err(ProtocolError::MalformedMetadata("truncated property"));
            }
            let name = &data[1..1 + nlen];
            if !valid_name(name) {
                return Err(ProtocolError::MalformedMetadata("invalid property name"));
            }
            let name = String::from_utf8_lossy(name).into_owned();
            let mut l = [0u8; 4];
            l.copy_from_slice(&data[1 + nlen..5 + nlen]);
            let vlen = u32::from_be_bytes(l) as usize;
            let start = 5 + nlen;
            if data.len() - start < vlen {
                return Err(ProtocolError::MalformedMetadata("truncated property value"));
            }
            let value = data.slice(start..start + vlen);
            props.push((name, value));
            data = data.slice(start + vlen..);
        }
        Ok(Metadata::from_pairs(props))
    }
}

/// RFC 37 property names: 1–255 characters of letters, digits and `-_.+`.
pub fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+'))
}

/// A ZMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// READY with its metadata.
    Ready(Metadata),
    /// ERROR with a reason (at most 255 bytes).
    Error(Bytes),
    /// PING: time-to-live in deciseconds and a context of up to 16 bytes.
    Ping {
        /// TTL in tenths of a second (0 = none).
        ttl: u16,
        /// Context the PONG must echo.
        context: Bytes,
    },
    /// PONG echoing a PING's context.
    Pong(Bytes),
    /// SUBSCRIBE (ZMTP 3.1) to a topic prefix.
    Subscribe(Bytes),
    /// CANCEL (ZMTP 3.1) of a topic prefix.
    Cancel(Bytes),
    /// JOIN (libzmq's draft RADIO/DISH, RFC 48): a DISH joins a group; the data is the
    /// group, exactly.
    Join(Bytes),
    /// LEAVE (libzmq's draft RADIO/DISH): a DISH leaves a group.
    Leave(Bytes),
    /// Any other command: its name and data. Unknown commands are ignored by the
    /// connection, and mechanisms parse their own.
    Unknown {
        /// Command name.
        name: Bytes,
        /// Command data.
        data: Bytes,
    },
}

impl Command {
    /// The command's name.
    pub fn name(&self) -> &[u8] {
        match self {
            Command::Ready(_) => b"READY",
            Command::Error(_) => b"ERROR",
            Command::Ping { .. } => b"PING",
            Command::Pong(_) => b"PONG",
            Command::Subscribe(_) => b"SUBSCRIBE",
            Command::Cancel(_) => b"CANCEL",
            Command::Join(_) => b"JOIN",
            Command::Leave(_) => b"LEAVE",
            Command::Unknown { name, .. } => name,
        }
    }

    /// Splits a command body into name and data.
    pub fn split_name(body: &Bytes) -> Result<(Bytes, Bytes), ProtocolError> {
        let nlen = *body
            .first()
            .ok_or(ProtocolError::MalformedCommand("empty"))? as usize;
        if nlen == 0 || body.len() < 1 + nlen {
            return Err(ProtocolError::MalformedCommand("truncated name"));
        }
        Ok((body.slice(1..1 + nlen), body.slice(1 + nlen..)))
    }

    /// Decodes a command frame's body.
    pub fn decode(body: Bytes) -> Result<Command, ProtocolError> {
        let (name, data) = Command::split_name(&body)?;
        Ok(match &name[..] {
            b"READY" => Command::Ready(Metadata::decode(data)?),
            b"ERROR" => {
                let rlen = *data
                    .first()
                    .ok_or(ProtocolError::MalformedCommand("ERROR"))?
                    as usize;
                if data.len() < 1 + rlen {
                    return Err(ProtocolError::MalformedCommand("ERROR"));
                }
                Command::Error(data.slice(1..1 + rlen))
            }
            b"PING" => {
                if data.len() < 2 {
                    return Err(ProtocolError::MalformedCommand("PING"));
                }
                let ttl = u16::from_be_bytes([data[0], data[1]]);
                // libzmq keeps at most 16 bytes of context.
                let end = data.len().min(2 + MAX_PING_CONTEXT);
                Command::Ping {
                    ttl,
                    context: data.slice(2..end),
                }
            }
            b"PONG" => Command::Pong(data.slice(..data.len().min(MAX_PING_CONTEXT))),
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            b"JOIN" => Command::Join(data),
            b"LEAVE" => Command::Leave(data),
            _ => Command::Unknown { name, data },
        })
    }

    fn data_len(&self) -> usize {
        match self {
            Command::Ready(m) => m.encoded_len(),
            Command::Error(r) => 1 + r.len().min(255),
            Command::Ping { context, .. } => 2 + context.len().min(MAX_PING_CONTEXT),
            Command::Pong(c) => c.len().min(MAX_PING_CONTEXT),
            Command::Subscribe(t) | Command::Cancel(t) => t.len(),
            Command::Join(g) | Command::Leave(g) => g.len(),
            Command::Unknown { data, .. } => data.len(),
        }
    }

    /// Encodes the whole command frame (header, name, data) into `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let name = self.name();
        let name = &name[..name.len().min(255)];
        let body_len = 1 + name.len() + self.data_len();
        encode_header(FLAG_COMMAND, body_len, dst);
        dst.put_u8(name.len() as u8);
        dst.put_slice(name);
        match self {
            Command::Ready(m) => m.encode(dst),
            Command::Error(r) => {
                let r = &r[..r.len().min(255)];
                dst.put_u8(r.len() as u8);
                dst.put_slice(r);
            }
            Command::Ping { ttl, context } => {
                dst.put_u16(*ttl);
                dst.put_slice(&context[..context.len().min(MAX_PING_CONTEXT)]);
            }
            Command::Pong(c) => dst.put_slice(&c[..c.len().min(MAX_PING_CONTEXT)]),
            Command::Subscribe(t) | Command::Cancel(t) => dst.put_slice(t),
            Command::Join(g) | Command::Leave(g) => dst.put_slice(g),
            Command::Unknown { data, .. } => dst.put_slice(data),
        }
    }

    /// The encoded frame as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        self.encode(&mut b);
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zmtp::frame::FrameDecoder;

    fn roundtrip(c: Command) {
        let mut b = BytesMut::new();
        c.encode(&mut b);
        let f = FrameDecoder::new(None).decode(&mut b).unwrap().unwrap();
        assert!(f.is_command());
        assert_eq!(Command::decode(f.body).unwrap(), c);
    }

    #[test]
    fn ready_bytes() {
        let mut m = Metadata::new();
        m.push("Socket-Type", &b"DEALER"[..]);
        m.push("Identity", Bytes::new());
        let bytes = Command::Ready(m.clone()).to_bytes();
        let mut want = vec![0x04, 0x29, 5];
        want.extend_from_slice(b"READY");
        want.push(11);
        want.extend_from_slice(b"Socket-Type");
        want.extend_from_slice(&[0, 0, 0, 6]);
        want.extend_from_slice(b"DEALER");
        want.push(8);
        want.extend_from_slice(b"Identity");
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(&bytes[..], &want[..]);
        roundtrip(Command::Ready(m));
    }

    #[test]
    fn all_roundtrip() {
        roundtrip(Command::Error(Bytes::from_static(b"nope")));
        roundtrip(Command::Ping {
            ttl: 30,
            context: Bytes::from_static(b"ctx"),
        });
        roundtrip(Command::Pong(Bytes::from_static(b"ctx")));
        roundtrip(Command::Subscribe(Bytes::from_static(b"topic")));
        roundtrip(Command::Cancel(Bytes::new()));
        roundtrip(Command::Join(Bytes::from_static(b"group")));
        roundtrip(Command::Leave(Bytes::new()));
        roundtrip(Command::Unknown {
            name: Bytes::from_static(b"HELLO"),
            data: Bytes::from_static(b"\x01\x02"),
        });
    }

    #[test]
    fn join_and_leave_are_the_bytes_libzmq_sends() {
        // libzmq's dish session: a command frame "\x04JOIN" + group, "\x05LEAVE" + group.
        assert_eq!(
            &Command::Join(Bytes::from_static(b"tv")).to_bytes().to_vec(),
            b"\x04\x07\x04JOINtv"
        );
        assert_eq!(
            &Command::Leave(Bytes::from_static(b"tv"))
                .to_bytes()
                .to_vec(),
            b"\x04\x08\x05LEAVEtv"
        );
    }

    #[test]
    fn malformed() {
        assert!(Command::decode(Bytes::new()).is_err());
        assert!(Command::decode(Bytes::from_static(b"\x05REA")).is_err());
        assert!(Command::decode(Bytes::from_static(b"\x05READY\x0bSocket-Type\x00\x00")).is_err());
        assert!(Command::decode(Bytes::from_static(b"\x05READY\x02a!\x00\x00\x00\x00")).is_err());
        assert!(Command::decode(Bytes::from_static(b"\x04PING\x00")).is_err());
        assert!(Command::decode(Bytes::from_static(b"\x05ERROR\x09short")).is_err());
        let long = Command::decode(Bytes::from(
            [&b"\x04PING\x00\x01"[..], &[9u8; 40][..]].concat(),
        ))
        .unwrap();
        assert!(matches!(long, Command::Ping { context, .. } if context.len() == 16));
    }
}
