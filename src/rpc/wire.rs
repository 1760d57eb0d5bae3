//! The frames of Python aiozmq's RPC messages (see the crate's RPC wire notes):
//!
//! | pattern | frames |
//! |---|---|
//! | request (DEALER → ROUTER) | envelope..., header (16 B `=HHLd`), name, args, kwargs |
//! | reply (ROUTER → DEALER) | envelope..., header (17 B `=HHLd?`), body |
//! | notification (PUSH → PULL) | name, args, kwargs |
//! | publication (PUB → SUB) | topic, name, args, kwargs |
//!
//! Headers are little-endian. `args` is a msgpack array, `kwargs` a map with text keys; the
//! reply body is the result, or `[exc_type, exc_args, exc_repr]` when `is_error` is set.
//! Each message type has a `load` (from received frames, checking everything) and an
//! encoder.

use std::cell::RefCell;

use bytes::{BufMut, Bytes, BytesMut};

use super::codec::{Codec, CodecError};
use super::value::Value;
use crate::Message;

/// Length of a request header.
pub const REQUEST_HEADER_LEN: usize = 16;
/// Length of a reply header.
pub const REPLY_HEADER_LEN: usize = 17;

fn bad(msg: impl Into<String>) -> CodecError {
    CodecError::new(msg)
}

/// The size of the buffers [`with_arena`] cuts frames from.
const ARENA_CHUNK: usize = 16 * 1024;

thread_local! {
    /// This thread's buffer for encoding frames (see [`with_arena`]).
    static ARENA: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// Runs `f` with an empty buffer to encode frames into, to be cut off with `split_to` /
/// `split` before `f` returns. The buffer is the unused rest of a per-thread chunk, so the
/// small frames of one message after another share a few allocations instead of needing
/// one or two each (a frame keeps its chunk alive only until the frame is dropped, and a
/// chunk whose frames are all gone is used again).
pub(crate) fn with_arena<R>(f: impl FnOnce(&mut BytesMut) -> R) -> R {
    ARENA.with(|arena| match arena.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            if buf.capacity() < ARENA_CHUNK / 16 {
                // Reuses the chunk in place when none of its frames is alive any more.
                buf.reserve(ARENA_CHUNK);
            }
            let r = f(&mut buf);
            buf.clear();
            if buf.capacity() > 2 * ARENA_CHUNK {
                // The rest of a large frame's buffer: not worth keeping alive.
                *buf = BytesMut::new();
            }
            r
        }
        // Encoding from within an encoding (a translator that packs a call): no sharing.
        Err(_) => f(&mut BytesMut::new()),
    })
}

/// A request header: `struct.pack("=HHLd", pid % 65536, random, request_id, time)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestHeader {
    /// The client's process id modulo 65536.
    pub pid: u16,
    /// A random number fixed per client.
    pub random: u16,
    /// The request id the reply echoes.
    pub req_id: u32,
    /// Unix time of the call.
    pub time: f64,
}

impl RequestHeader {
    /// Parses the 16 bytes.
    pub fn load(b: &[u8]) -> Result<RequestHeader, CodecError> {
        if b.len() != REQUEST_HEADER_LEN {
            return Err(bad(format!(
                "request header of {} bytes, not {REQUEST_HEADER_LEN}",
                b.len()
            )));
        }
        Ok(RequestHeader {
            pid: u16::from_le_bytes([b[0], b[1]]),
            random: u16::from_le_bytes([b[2], b[3]]),
            req_id: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            time: f64::from_le_bytes(b[8..16].try_into().unwrap()),
        })
    }

    /// The 16 bytes.
    pub fn encode(&self) -> [u8; REQUEST_HEADER_LEN] {
        let mut h = [0u8; REQUEST_HEADER_LEN];
        h[0..2].copy_from_slice(&self.pid.to_le_bytes());
        h[2..4].copy_from_slice(&self.random.to_le_bytes());
        h[4..8].copy_from_slice(&self.req_id.to_le_bytes());
        h[8..16].copy_from_slice(&self.time.to_le_bytes());
        h
    }
}

/// A reply header: `struct.pack("=HHLd?", pid % 65536, random, request_id, time, is_error)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplyHeader {
    /// The server's process id modulo 65536.
    pub pid: u16,
    /// A random number fixed per server.
    pub random: u16,
    /// The request id being answered.
    pub req_id: u32,
    /// Unix time of the reply.
    pub time: f64,
    /// True when the body is an exception.
    pub is_error: bool,
}

impl ReplyHeader {
    /// Parses the 17 bytes (any non-zero last byte is true, as Python's `?`).
    pub fn load(b: &[u8]) -> Result<ReplyHeader, CodecError> {
        if b.len() != REPLY_HEADER_LEN {
            return Err(bad(format!(
                "reply header of {} bytes, not {REPLY_HEADER_LEN}",
                b.len()
            )));
        }
        let r = RequestHeader::load(&b[..16])?;
        Ok(ReplyHeader {
            pid: r.pid,
            random: r.random,
            req_id: r.req_id,
            time: r.time,
            is_error: b[16] != 0,
        })
    }

    /// The 17 bytes.
    pub fn encode(&self) -> [u8; REPLY_HEADER_LEN] {
        let mut h = [0u8; REPLY_HEADER_LEN];
        h[..16].copy_from_slice(
            &RequestHeader {
                pid: self.pid,
                random: self.random,
                req_id: self.req_id,
                time: self.time,
            }
            .encode(),
        );
        h[16] = self.is_error as u8;
        h
    }
}

/// A call's name and arguments, as the three frames `name`, `args`, `kwargs` carry them.
#[derive(Clone, Debug, PartialEq)]
pub struct CallBody {
    /// The dotted method name.
    pub name: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments, in wire order.
    pub kwargs: Vec<(String, Value)>,
}

impl CallBody {
    /// Parses the `name`, `args` and `kwargs` frames.
    pub fn load(
        name: &Bytes,
        args: &Bytes,
        kwargs: &Bytes,
        codec: &Codec,
    ) -> Result<CallBody, CodecError> {
        let (name, args, kwargs) = load_call(name, args, kwargs, codec)?;
        Ok(CallBody {
            name: name.to_owned(),
            args,
            kwargs,
        })
    }

    /// The `name`, `args`, `kwargs` frames.
    pub fn encode(&self, codec: &Codec) -> Result<[Bytes; 3], CodecError> {
        encode_call(codec, &self.name, &self.args, &self.kwargs)
    }
}

/// [`CallBody::load`] with the name left in its frame.
#[allow(clippy::type_complexity)]
pub(crate) fn load_call<'a>(
    name: &'a Bytes,
    args: &Bytes,
    kwargs: &Bytes,
    codec: &Codec,
) -> Result<(&'a str, Vec<Value>, Vec<(String, Value)>), CodecError> {
    let name = std::str::from_utf8(name).map_err(|_| bad("method name is not UTF-8"))?;
    let args = match codec.unpack_array(args)? {
        Ok(a) => a,
        Err(other) => {
            return Err(bad(format!(
                "args is a {}, not an array",
                super::value::python_type_name(&other)
            )))
        }
    };
    // No keyword arguments (the usual case): nothing to unpack.
    if kwargs[..] == [0x80] {
        return Ok((name, args, Vec::new()));
    }
    let kwargs = match codec.unpack(kwargs)? {
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => Ok((k, v)),
                other => Err(bad(format!(
                    "keyword argument name is a {}, not a str",
                    super::value::python_type_name(&other)
                ))),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(bad(format!(
                "kwargs is a {}, not a map",
                super::value::python_type_name(&other)
            )))
        }
    };
    Ok((name, args, kwargs))
}

/// Every byte value, for one-byte frames that need no buffer of their own.
static BYTE_VALUES: [u8; 256] = {
    let mut all = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        all[i] = i as u8;
        i += 1;
    }
    all
};

/// The frame of `buf`'s content (taken out of it): a static one when it is a single byte
/// (an empty map, a small integer, `None`, a boolean...), so that it costs no reference
/// counting.
pub(crate) fn take_frame(buf: &mut BytesMut) -> Bytes {
    if let [b] = buf[..] {
        buf.clear();
        let b = b as usize;
        Bytes::from_static(&BYTE_VALUES[b..b + 1])
    } else {
        buf.split().freeze()
    }
}

/// The `kwargs` frame, packed in `buf`.
fn pack_kwargs_frame(
    codec: &Codec,
    kwargs: &[(String, Value)],
    buf: &mut BytesMut,
) -> Result<Bytes, CodecError> {
    codec.pack_kwargs(kwargs, buf)?;
    Ok(take_frame(buf))
}

/// Encodes the `name`, `args`, `kwargs` frames of a call.
pub fn encode_call(
    codec: &Codec,
    name: &str,
    args: &[Value],
    kwargs: &[(String, Value)],
) -> Result<[Bytes; 3], CodecError> {
    with_arena(|buf| {
        buf.put_slice(name.as_bytes());
        let name = buf.split().freeze();
        codec.pack_array(args, buf)?;
        let args = buf.split().freeze();
        let kwargs = pack_kwargs_frame(codec, kwargs, buf)?;
        Ok([name, args, kwargs])
    })
}

/// The first steps of [`Request::load`]: the envelope, the parsed header, and the `name`,
/// `args` and `kwargs` frames.
pub(crate) fn split_request(
    mut msg: Message,
) -> Result<(Message, RequestHeader, [Bytes; 3]), CodecError> {
    let n = msg.len();
    if n < 5 {
        return Err(bad(format!(
            "request of {n} frames (routing id and 4 frames expected)"
        )));
    }
    let kwargs = msg.pop_back().expect("length checked");
    let args = msg.pop_back().expect("length checked");
    let name = msg.pop_back().expect("length checked");
    let header = msg.pop_back().expect("length checked");
    let header = RequestHeader::load(&header)?;
    Ok((msg, header, [name, args, kwargs]))
}

/// A request as the server's ROUTER receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Every frame before the header (the routing id and any further envelope), returned
    /// as is in front of the reply.
    pub envelope: Message,
    /// The header.
    pub header: RequestHeader,
    /// The call.
    pub body: CallBody,
}

impl Request {
    /// Parses a received request: the last four frames are header, name, args, kwargs; at
    /// least one envelope frame must come before them.
    pub fn load(msg: Message, codec: &Codec) -> Result<Request, CodecError> {
        let (envelope, header, [name, args, kwargs]) = split_request(msg)?;
        let body = CallBody::load(&name, &args, &kwargs, codec)?;
        Ok(Request {
            envelope,
            header,
            body,
        })
    }

    /// A client's request frames (without envelope), packed into one buffer.
    pub fn encode_call(
        header: &RequestHeader,
        codec: &Codec,
        name: &str,
        args: &[Value],
        kwargs: &[(String, Value)],
    ) -> Result<Message, CodecError> {
        let [header, name, args, kwargs] = with_arena(|buf| {
            buf.put_slice(&header.encode());
            let header = buf.split().freeze();
            buf.put_slice(name.as_bytes());
            let name = buf.split().freeze();
            codec.pack_array(args, buf)?;
            let args = buf.split().freeze();
            let kwargs = pack_kwargs_frame(codec, kwargs, buf)?;
            Ok::<_, CodecError>([header, name, args, kwargs])
        })?;
        let mut m = Message::with_capacity(4);
        m.push_back(header);
        m.push_back(name);
        m.push_back(args);
        m.push_back(kwargs);
        Ok(m)
    }

    /// The frames a client sends (without envelope).
    pub fn encode(header: &RequestHeader, call: [Bytes; 3]) -> Message {
        let [name, args, kwargs] = call;
        let mut m = Message::with_capacity(4);
        m.push_back(Bytes::copy_from_slice(&header.encode()));
        m.push_back(name);
        m.push_back(args);
        m.push_back(kwargs);
        m
    }
}

/// A reply as the client's DEALER receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The header.
    pub header: ReplyHeader,
    /// The packed result or exception.
    pub body: Bytes,
}

impl Reply {
    /// Parses a received reply: exactly header and body.
    pub fn load(mut msg: Message) -> Result<Reply, CodecError> {
        if msg.len() != 2 {
            return Err(bad(format!("reply of {} frames, not 2", msg.len())));
        }
        let body = msg.pop_back().expect("two frames");
        let header = ReplyHeader::load(&msg[0])?;
        Ok(Reply { header, body })
    }

    /// The frames a server sends: envelope, header, body.
    pub fn encode(mut envelope: Message, header: &ReplyHeader, body: Bytes) -> Message {
        envelope.push_back(Bytes::copy_from_slice(&header.encode()));
        envelope.push_back(body);
        envelope
    }
}

/// Parses a pipeline notification: exactly `name`, `args`, `kwargs`.
pub fn load_notification(msg: &Message, codec: &Codec) -> Result<CallBody, CodecError> {
    if msg.len() != 3 {
        return Err(bad(format!("notification of {} frames, not 3", msg.len())));
    }
    CallBody::load(&msg[0], &msg[1], &msg[2], codec)
}

/// Parses a publication: exactly `topic`, `name`, `args`, `kwargs`.
pub fn load_publication(msg: &Message, codec: &Codec) -> Result<(Bytes, CallBody), CodecError> {
    if msg.len() != 4 {
        return Err(bad(format!("publication of {} frames, not 4", msg.len())));
    }
    Ok((
        msg[0].clone(),
        CallBody::load(&msg[1], &msg[2], &msg[3], codec)?,
    ))
}
