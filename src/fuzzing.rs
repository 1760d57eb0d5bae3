//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay test.
//!
//! Not part of the public API: every function takes arbitrary bytes and must never panic,
//! hang or allocate in proportion to a size the input merely declares. Each one also checks
//! properties that must hold for any input (round trips, and that the result does not depend
//! on how the input is split into reads); a failed check panics, which the fuzzer reports.

use crate::zmtp::{
    Command, Config, Connection, Event, Frame, FrameDecoder, Greeting, ProtocolError, SocketType,
};
use bytes::{Bytes, BytesMut};
use std::mem::discriminant;

/// MAXMSGSIZE used by the targets: small, so that the size checks are exercised.
const FUZZ_MAX_MSG_SIZE: u64 = 1 << 16;

/// Decodes a greeting; a decoded greeting must re-encode to itself, and a [`Connection`] fed
/// the same 64 bytes must come to the same verdict.
pub fn greeting(data: &[u8]) {
    let decoded = Greeting::decode(data);
    if let Ok(g) = decoded {
        let enc = g.encode();
        let again = Greeting::decode(&enc).expect("re-decoding our own greeting");
        assert_eq!(g, again);
    }
    if data.len() < 64 {
        return;
    }
    let mut conn = Connection::new(Config::new(SocketType::Dealer));
    let mut buf = BytesMut::from(&data[..64]);
    let r = conn.handle_input(&mut buf);
    match (decoded, r) {
        (Ok(g), Ok(())) => assert_eq!(conn.peer_greeting(), Some(&g)),
        (Ok(g), Err(e)) => {
            // Only a mechanism other than ours (NULL) may fail a well-formed greeting.
            assert!(
                matches!(e, ProtocolError::MechanismMismatch { .. }),
                "connection rejected a valid greeting {g:?}: {e:?}"
            );
            assert_ne!(g.mechanism, conn.config().security.mechanism());
        }
        (Err(e), Ok(())) => panic!("connection accepted a greeting that fails to decode: {e:?}"),
        (Err(a), Err(b)) => assert_eq!(discriminant(&a), discriminant(&b), "{a:?} vs {b:?}"),
    }
}

/// Every frame `decoder` can split off `buf`, then how decoding stopped (`Ok` when it simply
/// needs more bytes).
fn drain_frames(
    dec: &mut FrameDecoder,
    buf: &mut BytesMut,
    out: &mut Vec<Frame>,
) -> Result<(), ProtocolError> {
    while let Some(f) = dec.decode(buf)? {
        out.push(f);
    }
    Ok(())
}

/// Splits frames out of `data` with a small MAXMSGSIZE, as a read loop would: once with the
/// whole input in the buffer and once a byte at a time, which must give the same frames and
/// the same error. Every frame must re-encode to an equal frame, and command frames are
/// parsed.
pub fn frames(data: &[u8]) {
    let mut dec = FrameDecoder::new(Some(FUZZ_MAX_MSG_SIZE));
    let mut buf = BytesMut::from(data);
    let mut whole = Vec::new();
    let whole_res = drain_frames(&mut dec, &mut buf, &mut whole);

    let mut dec = FrameDecoder::new(Some(FUZZ_MAX_MSG_SIZE));
    let mut buf = BytesMut::new();
    let mut bytewise = Vec::new();
    let mut bytewise_res = Ok(());
    for &b in data {
        buf.extend_from_slice(&[b]);
        bytewise_res = drain_frames(&mut dec, &mut buf, &mut bytewise);
        if bytewise_res.is_err() {
            break;
        }
    }
    assert_eq!(whole, bytewise, "frames depend on how the input was split");
    assert_eq!(
        whole_res, bytewise_res,
        "error depends on how the input was split"
    );

    for f in whole {
        let mut enc = BytesMut::new();
        f.encode(&mut enc);
        let again = FrameDecoder::new(None)
            .decode(&mut enc)
            .expect("our own frame decodes")
            .expect("our own frame is complete");
        assert_eq!(f, again);
        assert!(enc.is_empty());
        if f.is_command() {
            let _ = Command::decode(f.body);
        }
    }
}

/// Parses a command body; a successful parse must re-encode and parse to the same command.
pub fn command(data: &[u8]) {
    if let Ok(cmd) = Command::decode(Bytes::copy_from_slice(data)) {
        let mut b = BytesMut::new();
        cmd.encode(&mut b);
        let mut dec = FrameDecoder::new(None);
        // The encoder does not apply the decoder's command limit; inputs here may exceed it.
        dec.set_max_command(b.len() as u64);
        let f = dec
            .decode(&mut b)
            .expect("our own frame decodes")
            .expect("our own frame is complete");
        assert!(f.is_command() && !f.more());
        assert!(b.is_empty(), "trailing bytes after our own command");
        let again = Command::decode(f.body).expect("our own command decodes");
        assert_eq!(cmd, again);
    }
}

/// What a connection produced for one input.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    sent: Vec<u8>,
    result: Result<(), ProtocolError>,
}

/// Feeds `input` to a fresh connection of type `st` in reads of `step` bytes. With
/// `budget`, each read is decoded by repeated `handle_input_limited` calls taking at most
/// that many messages each, as a receiver with a full queue does, until a call makes no
/// progress.
fn run_connection(st: SocketType, input: &[u8], step: usize, budget: Option<usize>) -> Outcome {
    let mut cfg = Config::new(st);
    cfg.max_msg_size = Some(FUZZ_MAX_MSG_SIZE);
    let mut conn = Connection::new(cfg);
    let mut buf = BytesMut::new();
    let mut out = Outcome {
        events: Vec::new(),
        sent: Vec::new(),
        result: Ok(()),
    };
    for chunk in input.chunks(step.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            let (len_before, events_before) = (buf.len(), out.events.len());
            out.result = match budget {
                None => conn.handle_input(&mut buf),
                Some(n) => conn.handle_input_limited(&mut buf, n),
            };
            let mut taken = 0;
            while let Some(e) = conn.poll_event() {
                if matches!(e, Event::Message(_)) {
                    taken += 1;
                }
                out.events.push(e);
            }
            if let Some(n) = budget {
                assert!(taken <= n, "{taken} messages from a call limited to {n}");
            }
            out.sent.extend_from_slice(&conn.transmit().to_vec());
            let n = conn.transmit().len();
            conn.transmit().advance(n);
            let progress = buf.len() != len_before || out.events.len() != events_before;
            if budget.is_none() || out.result.is_err() || !progress {
                break;
            }
        }
        if out.result.is_err() {
            break;
        }
    }
    out
}

/// Drives a whole connection with peer bytes: the first byte picks our socket type and how
/// the rest is split into reads. Feeding the same bytes all at once, or decoding them a
/// message at a time with `handle_input_limited`, must produce the same events, the same
/// output and the same error.
pub fn connection(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let st = SocketType::ALL[(sel & 0x0F) as usize % SocketType::ALL.len()];
    let step = ((sel >> 4) as usize) + 1;
    let chunked = run_connection(st, rest, step, None);
    let whole = run_connection(st, rest, rest.len(), None);
    assert_eq!(
        chunked, whole,
        "connection depends on how the input was split"
    );
    // Everything in one read: the budget, not the read size, decides what each call takes.
    let limited = run_connection(st, rest, rest.len(), Some(1));
    assert_eq!(limited, whole, "connection depends on the message budget");
}
