//! Entry points for the RPC fuzz targets (`fuzz/fuzz_targets/rpc_request.rs`,
//! `pickle.rs`) and the corpus replay in `cargo test`. They panic only on a bug: a panic
//! inside the decoders, or an accepted input that does not re-encode consistently.

use std::sync::OnceLock;

use bytes::Bytes;

use super::codec::{Codec, TranslationTable, Translator};
use super::handler::{lookup, method, DictHandler, Invocation, Sig};
use super::value::{ConvertError, Value};
use super::wire::{encode_call, Reply, Request};
use super::{pickle as pk, Object};
use crate::Message;

/// Splits fuzz input into frames: each frame is a little-endian `u16` length and that many
/// bytes (a short last frame takes what is left); at most 16 frames.
pub fn split_frames(data: &[u8]) -> Message {
    let mut m = Message::new();
    let mut rest = data;
    while rest.len() >= 2 && m.len() < 16 {
        let n = u16::from_le_bytes([rest[0], rest[1]]) as usize;
        rest = &rest[2..];
        let n = n.min(rest.len());
        m.push_back(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
    }
    m
}

/// Joins frames into the form [`split_frames`] reads (for writing seeds).
pub fn join_frames(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(&(f.len() as u16).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
struct Pair(i64, i64);

fn codec() -> &'static Codec {
    static CODEC: OnceLock<Codec> = OnceLock::new();
    CODEC.get_or_init(|| {
        Codec::new(&TranslationTable::new().with(
            0,
            Translator::for_type(
                |p: &Pair| [p.0.to_be_bytes(), p.1.to_be_bytes()].concat(),
                |b: &[u8]| {
                    if b.len() != 16 {
                        return Err(ConvertError::value_error("a pair is 16 bytes"));
                    }
                    let n = |i: usize| i64::from_be_bytes(b[i..i + 8].try_into().unwrap());
                    Ok(Pair(n(0), n(8)))
                },
            ),
        ))
    })
}

fn handler() -> &'static DictHandler {
    static H: OnceLock<DictHandler> = OnceLock::new();
    H.get_or_init(|| {
        let add = method(
            Sig::new(["a", "b"]).default_value("b", 2),
            |a: i64, b: i64| a.wrapping_add(b),
        );
        let echo = method(["value"], |v: Value| v);
        DictHandler::new()
            .method("add", add)
            .handler("ns", DictHandler::new().method("echo", echo))
    })
}

fn reencode(codec: &Codec, v: &Value) -> Option<Bytes> {
    codec.pack_to_bytes(v).ok()
}

/// The request decoder as a server runs it: frames (see [`split_frames`]) parsed as a
/// request, looked up and bound against a small handler; also parsed as a reply. Accepted
/// arguments must re-encode to bytes that decode and re-encode to the same bytes.
pub fn rpc_request(data: &[u8]) {
    let msg = split_frames(data);
    let codec = codec();
    if let Ok(reply) = Reply::load(msg.clone()) {
        if let Ok(v) = codec.unpack(&reply.body) {
            check_value(codec, &v);
        }
    }
    let Ok(req) = Request::load(msg, codec) else {
        return;
    };
    let body = req.body;
    let [name, args, kwargs] = encode_call(codec, &body.name, &body.args, &body.kwargs)
        .expect("a decoded request re-encodes");
    let again = super::wire::CallBody::load(&name, &args, &kwargs, codec)
        .expect("a re-encoded request decodes");
    let frames2 = encode_call(codec, &again.name, &again.args, &again.kwargs)
        .expect("a decoded request re-encodes");
    assert_eq!([name, args, kwargs], frames2, "re-encoding is stable");
    if let Ok(m) = lookup(handler(), &body.name) {
        if let Invocation::Ready(Ok(v)) = m.invoke(body.args, body.kwargs) {
            let _ = reencode(codec, &v);
        }
    }
}

fn check_value(codec: &Codec, v: &Value) {
    if let Some(b) = reencode(codec, v) {
        let again = codec.unpack(&b).expect("a re-encoded value decodes");
        let b2 = reencode(codec, &again).expect("a decoded value re-encodes");
        assert_eq!(b, b2, "re-encoding is stable");
    }
    if let Value::Object(o) = v {
        let _ = o.downcast_ref::<Pair>();
        let _ = Object::type_name(o);
    }
}

/// The pickle decoder: accepted input must encode, and the encoding must decode to the
/// same value and encode to the same bytes again.
pub fn pickle(data: &[u8]) {
    let Ok(v) = pk::decode(data) else {
        return;
    };
    let _ = v.python_repr();
    let Ok(bytes) = pk::encode(&v) else {
        // Only sub-microsecond or out-of-range values can fail, and the decoder makes none.
        panic!("a decoded datetime value does not encode: {v:?}");
    };
    let again = pk::decode(&bytes).expect("our own pickle decodes");
    assert_eq!(again, v, "pickle round trip");
    assert_eq!(
        pk::encode(&again).expect("encodes"),
        bytes,
        "stable encoding"
    );
}
