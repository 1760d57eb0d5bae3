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
    let mut conn = Connection::new(Config::new(SocketType::Dealer), std::time::Instant::now());
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
    direct_read_agrees(data, whole_res.is_ok() && buf.is_empty(), &whole);

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

    // Runs of one-frame messages cut off together (at most 1, 2, 3, ... at a time), the
    // rest frame by frame, as a connection reads: the same frames, the same error.
    let mut dec = FrameDecoder::new(Some(FUZZ_MAX_MSG_SIZE));
    let mut buf = BytesMut::from(data);
    let mut mixed = Vec::new();
    let mut singles = std::collections::VecDeque::new();
    let mut max = 1;
    let mixed_res = loop {
        dec.decode_singles(&mut buf, max, &mut singles);
        max += 1;
        for m in singles.drain(..) {
            assert_eq!(m.len(), 1, "a run's message is one frame");
            mixed.push(Frame::message(m[0].clone(), false));
        }
        match dec.decode(&mut buf) {
            Ok(Some(f)) => mixed.push(f),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert_eq!(
        whole, mixed,
        "runs of one-frame messages decode differently"
    );
    assert_eq!(
        whole_res, mixed_res,
        "runs of one-frame messages fail differently"
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

/// A REQ/REP `recv` reading for itself keeps exactly what the full decoder reads as one
/// whole message of data frames, the same frames, and nothing else.
fn direct_read_agrees(data: &[u8], all_decoded: bool, frames: &[crate::zmtp::Frame]) {
    use crate::zmtp::connection::MAX_FRAMES_PER_MESSAGE;
    use crate::zmtp::frame::whole_message;
    let one_message = all_decoded
        && !frames.is_empty()
        && frames.len() <= MAX_FRAMES_PER_MESSAGE
        && frames.iter().all(|f| !f.is_command())
        && frames.iter().rev().skip(1).all(|f| f.more())
        && frames.last().is_some_and(|f| !f.more());
    let direct = whole_message(
        &Bytes::copy_from_slice(data),
        Some(FUZZ_MAX_MSG_SIZE),
        MAX_FRAMES_PER_MESSAGE,
    );
    let want: Option<Vec<&[u8]>> =
        one_message.then(|| frames.iter().map(|f| &f.body[..]).collect());
    let got: Option<Vec<&[u8]>> = direct.as_ref().map(|m| m.iter().map(|f| &f[..]).collect());
    assert_eq!(want, got, "the direct read disagrees with the decoder");
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
    let mut conn = Connection::new(cfg, std::time::Instant::now());
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

// ---- PLAIN and CURVE handshakes ------------------------------------------------------

use crate::zmtp::{Mechanism, Security};

/// The user id the security targets' ZAP handler gives an accepted peer.
pub const FUZZ_ZAP_USER: &str = "fuzz-user";

/// What the first byte of a `plain`/`curve` target input selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecuritySelector {
    /// Bit 0: our side is the client (the input is the server's bytes); else the server.
    pub client: bool,
    /// Bit 1: the server asks a ZAP handler (ignored for a client, as the engine does).
    pub zap: bool,
    /// Bit 2: that handler refuses (status 400) instead of accepting.
    pub deny: bool,
    /// Bits 4..8, plus one: the read size of the split-invariance run (1..=16).
    pub step: usize,
}

impl SecuritySelector {
    /// Decodes the selector byte.
    pub fn from_byte(b: u8) -> Self {
        let client = b & 1 != 0;
        SecuritySelector {
            client,
            zap: !client && b & 2 != 0,
            deny: !client && b & 2 != 0 && b & 4 != 0,
            step: (b >> 4) as usize + 1,
        }
    }

    /// Encodes it (the inverse of [`from_byte`](Self::from_byte) for valid selectors).
    pub fn to_byte(self) -> u8 {
        assert!((1..=16).contains(&self.step));
        (self.client as u8)
            | (self.zap as u8) << 1
            | (self.deny as u8) << 2
            | ((self.step - 1) as u8) << 4
    }
}

/// A deterministic random source (a fixed stream per `seed`; each call continues it), so
/// that a recorded handshake transcript stays valid for every run of a target.
pub fn fuzz_random(seed: u64) -> crate::zmtp::mechanism::RandomSource {
    use std::sync::atomic::{AtomicU64, Ordering};
    let state = AtomicU64::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    std::sync::Arc::new(move |buf: &mut [u8]| {
        for b in buf {
            let x = state.fetch_add(1, Ordering::Relaxed);
            *b = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
    })
}

/// The targets' fixed long-term CURVE keys: `(server secret, client secret)`.
const FUZZ_CURVE_SECRETS: ([u8; 32], [u8; 32]) = ([0x5A; 32], [0xC3; 32]);

fn fuzz_security(mechanism: Mechanism, client: bool) -> Security {
    use crate::zmtp::mechanism::curve::public_from_secret;
    let (server_secret, client_secret) = FUZZ_CURVE_SECRETS;
    match (mechanism, client) {
        (Mechanism::Null, _) => Security::Null,
        (Mechanism::Plain, true) => Security::PlainClient {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        },
        (Mechanism::Plain, false) => Security::PlainServer,
        (Mechanism::Curve, true) => Security::CurveClient {
            server_key: public_from_secret(&server_secret),
            public_key: public_from_secret(&client_secret),
            secret_key: client_secret,
        },
        (Mechanism::Curve, false) => Security::CurveServer {
            public_key: public_from_secret(&server_secret),
            secret_key: server_secret,
        },
    }
}

/// The configuration of the connection a `plain`/`curve` target drives: a DEALER client
/// or a ROUTER server, fixed keys and credentials, a fresh deterministic random source,
/// and ZAP on the server when `zap`.
pub fn security_config(mechanism: Mechanism, client: bool, zap: bool) -> Config {
    let mut cfg = Config::new(if client {
        SocketType::Dealer
    } else {
        SocketType::Router
    });
    cfg.security = fuzz_security(mechanism, client);
    cfg.max_msg_size = Some(FUZZ_MAX_MSG_SIZE);
    cfg.rng = Some(fuzz_random(if client { 1 } else { 2 }));
    if zap && !client {
        cfg.zap_domain = Some("fuzz".into());
        cfg.peer_address = "192.0.2.1".into();
    }
    cfg
}

/// The configuration of an honest peer for [`security_config`] (the other role, same keys,
/// its own deterministic random source): used to record seed transcripts.
pub fn security_peer_config(mechanism: Mechanism, our_side_client: bool) -> Config {
    let mut cfg = security_config(mechanism, !our_side_client, false);
    cfg.rng = Some(fuzz_random(if our_side_client { 3 } else { 4 }));
    cfg
}

/// The greeting the targets put in front of the input: the peer's, with the mechanism and
/// the as-server flag of the role opposite ours.
pub fn security_peer_greeting(mechanism: Mechanism, our_side_client: bool) -> [u8; 64] {
    Greeting::new(mechanism, our_side_client).encode()
}

/// What a security target run produced.
#[derive(Debug, PartialEq)]
pub struct SecurityOutcome {
    /// Every event, ZAP requests included.
    pub events: Vec<Event>,
    /// Every byte our side sent.
    pub sent: Vec<u8>,
    /// How the input ended.
    pub result: Result<(), ProtocolError>,
    /// Whether the handshake completed.
    pub ready: bool,
}

/// Drives our side over `greeting + rest` in reads of `step` bytes (a byte at a time
/// during a handshake with ZAP), answering ZAP requests as `sel` says as soon as they
/// are seen; once all input is in and the connection is ready, sends a message and a
/// PING (encrypted under CURVE).
pub fn security_run(
    mechanism: Mechanism,
    sel: SecuritySelector,
    rest: &[u8],
    step: usize,
) -> SecurityOutcome {
    let mut conn = Connection::new(
        security_config(mechanism, sel.client, sel.zap),
        std::time::Instant::now(),
    );
    let mut input = security_peer_greeting(mechanism, sel.client).to_vec();
    input.extend_from_slice(rest);
    let mut out = SecurityOutcome {
        events: Vec::new(),
        sent: Vec::new(),
        result: Ok(()),
        ready: false,
    };
    let mut buf = BytesMut::new();
    let mut pos = 0;
    while pos < input.len() {
        // With ZAP, the handshake is fed a byte at a time, so that the verdict is given as
        // soon as the command that asked for it is complete, before any later byte: an
        // honest peer sends nothing more until it has our answer.
        let n = if sel.zap && !conn.is_ready() {
            1
        } else {
            step.max(1)
        };
        let end = pos.saturating_add(n).min(input.len());
        buf.extend_from_slice(&input[pos..end]);
        pos = end;
        out.result = conn.handle_input(&mut buf);
        while let Some(e) = conn.poll_event() {
            let zap = matches!(e, Event::Zap(_));
            out.events.push(e);
            if zap && out.result.is_ok() {
                let reply = if sel.deny {
                    crate::zmtp::ZapReply::deny("fuzz")
                } else {
                    crate::zmtp::ZapReply::allow(FUZZ_ZAP_USER)
                };
                out.result = conn.handle_zap_reply(reply);
            }
        }
        out.sent.extend_from_slice(&conn.transmit().to_vec());
        let n = conn.transmit().len();
        conn.transmit().advance(n);
        if out.result.is_err() {
            break;
        }
    }
    out.ready = conn.is_ready();
    if out.result.is_ok() && out.ready {
        conn.send_message(&crate::Message::from(["fuzz", "reply"]));
        conn.send_ping(1, Bytes::from_static(b"ctx"));
        out.sent.extend_from_slice(&conn.transmit().to_vec());
    }
    out
}

/// Properties every security run must have, whatever the input.
fn check_security_outcome(mechanism: Mechanism, sel: SecuritySelector, o: &SecurityOutcome) {
    let zap_at = o.events.iter().position(|e| matches!(e, Event::Zap(_)));
    let ready_at = o.events.iter().position(|e| matches!(e, Event::Ready(_)));
    let first_msg = o.events.iter().position(|e| matches!(e, Event::Message(_)));
    let readies = o
        .events
        .iter()
        .filter(|e| matches!(e, Event::Ready(_)))
        .count();
    assert!(readies <= 1, "{readies} Ready events");
    // A connection that failed after its handshake is no longer ready.
    assert!(
        !o.ready || ready_at.is_some(),
        "ready without a Ready event"
    );
    if let Some(m) = first_msg {
        assert!(ready_at.is_some_and(|r| r < m), "a message before Ready");
    }
    if sel.zap {
        if let Some(r) = ready_at {
            // PLAIN and CURVE servers always ask; the verdict comes before Ready.
            assert!(zap_at.is_some_and(|z| z < r), "Ready without asking ZAP");
        }
    } else {
        assert!(zap_at.is_none(), "a ZAP request without ZAP");
    }
    if sel.deny {
        assert!(ready_at.is_none(), "a refused peer got through");
        assert!(
            first_msg.is_none(),
            "a refused peer's message was delivered"
        );
    }
    if let Some(Event::Ready(info)) = ready_at.map(|r| &o.events[r]) {
        assert_eq!(info.mechanism, mechanism);
        if sel.zap {
            assert_eq!(info.user_id.as_deref(), Some(FUZZ_ZAP_USER));
        }
    }
    if let Some(Event::Zap(req)) = zap_at.map(|z| &o.events[z]) {
        assert_eq!(req.mechanism, mechanism);
        let n = if mechanism == Mechanism::Plain { 2 } else { 1 };
        assert_eq!(req.credentials.len(), n, "{req:?}");
        if mechanism == Mechanism::Curve {
            assert_eq!(req.credentials[0].len(), 32);
        }
    }
}

fn security_target(mechanism: Mechanism, data: &[u8]) {
    let Some((&b, rest)) = data.split_first() else {
        return;
    };
    let sel = SecuritySelector::from_byte(b);
    let whole = security_run(mechanism, sel, rest, usize::MAX);
    check_security_outcome(mechanism, sel, &whole);
    // How the input is split into reads must not matter.
    let chunked = security_run(mechanism, sel, rest, sel.step);
    assert_eq!(
        chunked, whole,
        "security handshake depends on how the input was split"
    );
}

/// Drives a PLAIN connection (client or server, with or without ZAP, chosen by the first
/// byte) over arbitrary peer bytes after a valid PLAIN greeting.
pub fn plain_handshake(data: &[u8]) {
    security_target(Mechanism::Plain, data);
}

/// Drives a CURVE connection (client or server, with or without ZAP, chosen by the first
/// byte) with fixed keys and a deterministic random source over arbitrary peer bytes
/// after a valid CURVE greeting.
pub fn curve_handshake(data: &[u8]) {
    security_target(Mechanism::Curve, data);
}

/// CURVE MESSAGE boxes: the first byte picks the mode.
///
/// - even: `nonce(8) body`: our box equals `crypto_box`'s byte for byte, opens to the body,
///   and refuses a flipped bit;
/// - odd: the rest is a script of frames for a connected pair of ciphers: a length byte, a
///   selector, then that many bytes, sent either as a real frame (which must decrypt to
///   itself, flags included) or as a raw MESSAGE body (which must be refused without
///   disturbing the next real frame).
pub fn curve_message(data: &[u8]) {
    use crate::zmtp::mechanism::curve::Cipher;
    use crate::zmtp::mechanism::msgbox::MessageKey;
    use crypto_box::aead::{generic_array::GenericArray, AeadInPlace};
    use std::sync::OnceLock;

    /// Keys between two fixed key pairs, made once (X25519 is slow next to a box).
    struct Keys {
        /// `[client prefix, server prefix]`: A's key, B's key, and crypto_box's A→B box.
        boxes: [(MessageKey, MessageKey); 2],
        reference: crypto_box::SalsaBox,
    }
    static KEYS: OnceLock<Keys> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let (sa, sb) = (
            crypto_box::SecretKey::from([0x11u8; 32]),
            crypto_box::SecretKey::from([0x22u8; 32]),
        );
        let pair = |prefix: &[u8; 16]| {
            (
                MessageKey::new(&sb.public_key(), &sa, prefix).expect("a key of prime order"),
                MessageKey::new(&sa.public_key(), &sb, prefix).expect("a key of prime order"),
            )
        };
        Keys {
            boxes: [pair(b"CurveZMQMESSAGEC"), pair(b"CurveZMQMESSAGES")],
            reference: crypto_box::SalsaBox::new(&sb.public_key(), &sa),
        }
    });

    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if rest.len() < 8 {
            return;
        }
        let nonce = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
        let body = &rest[8..];
        let server = mode & 2 != 0;
        let prefix: &[u8; 16] = if server {
            b"CurveZMQMESSAGES"
        } else {
            b"CurveZMQMESSAGEC"
        };
        let (ours, theirs) = &keys.boxes[server as usize];
        let mut sealed = body.to_vec();
        let tag = ours.seal_in_place(nonce, &mut sealed);
        let mut n = [0u8; 24];
        n[..16].copy_from_slice(prefix);
        n[16..].copy_from_slice(&nonce.to_be_bytes());
        let mut expected = body.to_vec();
        let expected_tag = keys
            .reference
            .encrypt_in_place_detached(GenericArray::from_slice(&n), b"", &mut expected)
            .expect("in-memory encryption");
        assert_eq!(sealed, expected, "ciphertext differs from crypto_box");
        assert_eq!(&tag[..], &expected_tag[..], "tag differs from crypto_box");
        let mut opened = sealed.clone();
        assert!(theirs.open_in_place(nonce, &tag, &mut opened));
        assert_eq!(opened, body);
        if !sealed.is_empty() {
            let i = nonce as usize % sealed.len();
            sealed[i] ^= 1 << (mode >> 5);
            let before = sealed.clone();
            assert!(!theirs.open_in_place(nonce, &tag, &mut sealed));
            assert_eq!(sealed, before, "a refused box was modified");
        }
        return;
    }
    // A (client) sends with the client prefix, B (server) receives with it.
    let (a_send, b_recv) = keys.boxes[0].clone();
    let (a_recv, b_send) = keys.boxes[1].clone();
    let mut tx = Cipher::with_message_keys(a_send, a_recv);
    let mut rx = Cipher::with_message_keys(b_send, b_recv);
    let mut s = rest;
    while let [len, sel, tail @ ..] = s {
        let n = (*len as usize).min(tail.len());
        let (chunk, next) = tail.split_at(n);
        s = next;
        if sel % 3 == 0 {
            let raw = Bytes::copy_from_slice(chunk);
            assert!(
                rx.decrypt_frame(&raw).is_err(),
                "a forged MESSAGE was accepted"
            );
            continue;
        }
        let (more, command) = (sel & 4 != 0, sel & 8 != 0);
        let mut out = crate::zmtp::frame::WriteBuf::new();
        tx.encrypt_frame(more, command, chunk, &mut out);
        let mut wire = BytesMut::from(&out.to_vec()[..]);
        let frame = FrameDecoder::new(None)
            .decode(&mut wire)
            .expect("our own frame decodes")
            .expect("a whole frame");
        assert!(wire.is_empty());
        let (m, c, body) = rx.decrypt_frame(&frame.body).expect("our own box opens");
        assert_eq!((m, c, &body[..]), (more, command, chunk));
        if sel % 3 == 1 {
            // The same box again is a replay.
            assert!(
                rx.decrypt_frame(&frame.body).is_err(),
                "a replay was accepted"
            );
        }
    }
}

/// Differential check of the CURVE MESSAGE box against RustCrypto's `crypto_box`: two
/// secret keys (32 bytes each), a direction byte and a short nonce (8 bytes) from the
/// input's start, the rest the message. Panics where the two disagree.
pub fn curve_box(data: &[u8]) {
    if data.len() < 73 {
        return;
    }
    let a: [u8; 32] = data[..32].try_into().expect("32 bytes");
    let b: [u8; 32] = data[32..64].try_into().expect("32 bytes");
    let nonce = u64::from_be_bytes(data[65..73].try_into().expect("8 bytes"));
    crate::zmtp::mechanism::msgbox::differential(a, b, data[64] & 1 == 1, nonce, &data[73..]);
}
