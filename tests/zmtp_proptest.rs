//! Property tests of the sans-I/O ZMTP core: encode/decode round trips for frames, commands
//! and greetings; results that do not depend on how the byte stream is split into reads; no
//! panic on arbitrary input; and size limits enforced on the frame header alone.

use aiozmq::fuzzing;
use aiozmq::zmtp::frame::{FLAG_COMMAND, FLAG_LONG, FLAG_MORE, RESERVED_FLAGS};
use aiozmq::zmtp::greeting::{GREETING_LEN, SIGNATURE};
use aiozmq::zmtp::{
    Command, Config, Connection, Event, Frame, FrameDecoder, Greeting, Mechanism, Metadata,
    ProtocolError, SocketType, WriteBuf,
};
use aiozmq::Message;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::sample::Index;
use std::io::IoSlice;
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// Strategies

fn bytes(len: impl Into<prop::collection::SizeRange>) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), len).prop_map(Bytes::from)
}

/// Frame bodies of 0..600 bytes, with extra weight on the short/long boundary (255/256).
fn body() -> impl Strategy<Value = Bytes> {
    prop_oneof![3 => bytes(0..600), 1 => bytes(253..259)]
}

/// Valid flags for a frame we send: none, MORE, or COMMAND (COMMAND|MORE is illegal).
fn flags() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0), Just(FLAG_MORE), Just(FLAG_COMMAND)]
}

fn frame() -> impl Strategy<Value = Frame> {
    (flags(), body()).prop_map(|(flags, body)| Frame { flags, body })
}

/// RFC 37 property names.
fn prop_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.+-]{1,20}"
}

fn metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::vec((prop_name(), bytes(0..64)), 0..6).prop_map(|props| {
        let mut md = Metadata::new();
        for (n, v) in props {
            md.push(n, v);
        }
        md
    })
}

const KNOWN_COMMANDS: [&str; 6] = ["READY", "ERROR", "PING", "PONG", "SUBSCRIBE", "CANCEL"];

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        metadata().prop_map(Command::Ready),
        (any::<u16>(), bytes(0..=16)).prop_map(|(ttl, context)| Command::Ping { ttl, context }),
        bytes(0..=16).prop_map(Command::Pong),
        bytes(0..300).prop_map(Command::Subscribe),
        bytes(0..300).prop_map(Command::Cancel),
        bytes(0..=255).prop_map(Command::Error),
        (
            "[A-Z][A-Z0-9-]{0,15}".prop_filter("not a known command", |n| {
                !KNOWN_COMMANDS.contains(&n.as_str())
            }),
            bytes(0..100)
        )
            .prop_map(|(name, data)| Command::Unknown {
                name: Bytes::from(name),
                data
            }),
    ]
}

fn mechanism() -> impl Strategy<Value = Mechanism> {
    prop_oneof![
        Just(Mechanism::Null),
        Just(Mechanism::Plain),
        Just(Mechanism::Curve)
    ]
}

/// How a byte stream is cut into reads.
#[derive(Debug, Clone)]
enum Split {
    /// One byte per read.
    Bytewise,
    /// Everything in one read.
    Whole,
    /// Reads of these sizes (1..=64), cycled.
    Sizes(Vec<usize>),
    /// Cuts at these positions.
    Points(Vec<Index>),
}

fn split() -> impl Strategy<Value = Split> {
    prop_oneof![
        Just(Split::Bytewise),
        Just(Split::Whole),
        prop::collection::vec(1usize..=64, 1..8).prop_map(Split::Sizes),
        prop::collection::vec(any::<Index>(), 0..12).prop_map(Split::Points),
    ]
}

/// `data` cut into reads as `split` says; the pieces always concatenate back to `data`.
fn chunks<'a>(data: &'a [u8], split: &Split) -> Vec<&'a [u8]> {
    let out: Vec<&[u8]> = match split {
        Split::Bytewise => data.chunks(1).collect(),
        Split::Whole => vec![data],
        Split::Sizes(sizes) => {
            let mut out = Vec::new();
            let mut rest = data;
            for &n in sizes.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (a, b) = rest.split_at(n.min(rest.len()));
                out.push(a);
                rest = b;
            }
            out
        }
        Split::Points(points) => {
            let mut cuts: Vec<usize> = points.iter().map(|i| i.index(data.len() + 1)).collect();
            cuts.push(0);
            cuts.push(data.len());
            cuts.sort_unstable();
            cuts.windows(2).map(|w| &data[w[0]..w[1]]).collect()
        }
    };
    assert_eq!(out.concat(), data);
    out
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn encode_frames(frames: &[Frame]) -> BytesMut {
    let mut b = BytesMut::new();
    for f in frames {
        f.encode(&mut b);
    }
    b
}

/// The body of one encoded frame.
fn body_of(enc: &[u8]) -> Bytes {
    let mut buf = BytesMut::from(enc);
    let f = FrameDecoder::new(None).decode(&mut buf).unwrap().unwrap();
    assert!(buf.is_empty());
    f.body
}

fn flush(c: &mut Connection) -> Vec<u8> {
    let v = c.transmit().to_vec();
    let n = c.transmit().len();
    c.transmit().advance(n);
    v
}

/// What a NULL peer of type `peer` sends first: its greeting and READY.
fn peer_handshake(peer: SocketType) -> Vec<u8> {
    let mut md = Metadata::new();
    md.push("Socket-Type", Bytes::from_static(peer.as_str().as_bytes()));
    [
        &Greeting::new(Mechanism::Null, false).encode()[..],
        &Command::Ready(md).to_bytes(),
    ]
    .concat()
}

/// A connection of type `ours` that has completed the handshake with a `peer`.
fn ready_connection(ours: SocketType, peer: SocketType, max: Option<u64>) -> Connection {
    let mut cfg = Config::new(ours);
    cfg.max_msg_size = max;
    let mut c = Connection::new(cfg, Instant::now());
    let mut buf = BytesMut::from(&peer_handshake(peer)[..]);
    c.handle_input(&mut buf).unwrap();
    assert!(c.is_ready() && buf.is_empty());
    assert!(matches!(c.poll_event(), Some(Event::Ready(_))));
    flush(&mut c);
    c
}

/// Compatible (a, b) socket type pairs.
const PAIRS: [(SocketType, SocketType); 7] = [
    (SocketType::Dealer, SocketType::Router),
    (SocketType::Req, SocketType::Rep),
    (SocketType::Sub, SocketType::Pub),
    (SocketType::XSub, SocketType::XPub),
    (SocketType::Push, SocketType::Pull),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::Dealer, SocketType::Dealer),
];

/// Something one side of a connection does after the handshake.
#[derive(Debug, Clone)]
enum Op {
    Message(Vec<Bytes>),
    Ping(u16, Bytes),
    Subscribe(bool, Bytes),
    Unknown(Bytes),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(body(), 1..4).prop_map(Op::Message),
        1 => (any::<u16>(), bytes(0..=16)).prop_map(|(t, c)| Op::Ping(t, c)),
        1 => (any::<bool>(), bytes(0..40)).prop_map(|(s, t)| Op::Subscribe(s, t)),
        1 => "X-[A-Z]{1,8}".prop_map(|n| Op::Unknown(Bytes::from(n))),
    ]
}

/// One side of a recorded exchange.
#[derive(Default)]
struct Record {
    received: Vec<u8>,
    events: Vec<Event>,
    /// What this side should see, built from what the other side did.
    expected: Vec<Event>,
}

fn deliver(to: &mut Connection, rec: &mut Record, bytes: &[u8]) {
    rec.received.extend_from_slice(bytes);
    let mut buf = BytesMut::from(bytes);
    to.handle_input(&mut buf).unwrap();
    assert!(buf.is_empty());
    while let Some(e) = to.poll_event() {
        rec.events.push(e);
    }
}

/// Sets byte 11 (the greeting's minor version) of a stream at `offset` to 0.
fn patch_minor(offset: usize, chunk: &mut [u8]) {
    if offset <= 11 && 11 < offset + chunk.len() {
        chunk[11 - offset] = 0;
    }
}

/// Moves bytes both ways until nothing is left; `a30`/`b30` make that side's greeting say
/// ZMTP 3.0.
fn pump(
    a: &mut Connection,
    b: &mut Connection,
    ra: &mut Record,
    rb: &mut Record,
    sent: &mut (usize, usize),
    a30: bool,
    b30: bool,
) {
    for _ in 0..16 {
        let mut ab = flush(a);
        let mut ba = flush(b);
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        if a30 {
            patch_minor(sent.0, &mut ab);
        }
        if b30 {
            patch_minor(sent.1, &mut ba);
        }
        sent.0 += ab.len();
        sent.1 += ba.len();
        deliver(b, rb, &ab);
        deliver(a, ra, &ba);
    }
    panic!("exchange did not settle");
}

/// Feeds `input` to a fresh connection in the given reads; returns its events and output.
/// With a `budget`, each read is decoded by `handle_input_limited` calls taking at most that
/// many messages each (a receiver whose queue is nearly full), until one makes no progress.
fn replay(
    cfg: &Config,
    input: &[u8],
    split: &Split,
    budget: Option<usize>,
) -> (Vec<Event>, Vec<u8>) {
    let mut c = Connection::new(cfg.clone(), Instant::now());
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    for piece in chunks(input, split) {
        buf.extend_from_slice(piece);
        loop {
            let (len_before, events_before) = (buf.len(), events.len());
            match budget {
                None => c.handle_input(&mut buf).unwrap(),
                Some(n) => c.handle_input_limited(&mut buf, n).unwrap(),
            }
            let mut messages = 0;
            while let Some(e) = c.poll_event() {
                messages += matches!(e, Event::Message(_)) as usize;
                events.push(e);
            }
            out.extend(flush(&mut c));
            match budget {
                Some(n) => assert!(messages <= n, "{messages} messages, budget {n}"),
                None => break,
            }
            if buf.len() == len_before && events.len() == events_before {
                break;
            }
        }
    }
    assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    (events, out)
}

// ---------------------------------------------------------------------------------------------
// Frames

proptest! {
    #[test]
    fn frame_roundtrip(f in frame()) {
        let mut enc = BytesMut::new();
        f.encode(&mut enc);
        let long = f.body.len() > 255;
        let header = if long { 9 } else { 2 };
        prop_assert_eq!(enc.len(), header + f.body.len());
        prop_assert_eq!(enc[0], if long { f.flags | FLAG_LONG } else { f.flags });
        if long {
            prop_assert_eq!(&enc[1..9], &(f.body.len() as u64).to_be_bytes()[..]);
        } else {
            prop_assert_eq!(enc[1] as usize, f.body.len());
        }
        // A limit equal to the size accepts it; for message frames one less rejects it.
        let max = f.body.len() as u64;
        let got = FrameDecoder::new(Some(max)).decode(&mut enc.clone()).unwrap().unwrap();
        prop_assert_eq!(&got, &f);
        if !f.is_command() && max > 0 {
            prop_assert_eq!(
                FrameDecoder::new(Some(max - 1)).decode(&mut enc.clone()),
                Err(ProtocolError::TooLarge { size: max, max: max - 1 })
            );
        }
        let mut dec = FrameDecoder::new(None);
        prop_assert_eq!(dec.decode(&mut enc).unwrap(), Some(f));
        prop_assert!(enc.is_empty());
        prop_assert_eq!(dec.decode(&mut enc), Ok(None));
    }

    #[test]
    fn long_encoding_of_short_frame_decodes_the_same(f in (flags(), bytes(0..=255))
        .prop_map(|(flags, body)| Frame { flags, body }))
    {
        let mut enc = BytesMut::new();
        enc.extend_from_slice(&[f.flags | FLAG_LONG]);
        enc.extend_from_slice(&(f.body.len() as u64).to_be_bytes());
        enc.extend_from_slice(&f.body);
        prop_assert_eq!(FrameDecoder::new(None).decode(&mut enc).unwrap(), Some(f));
    }

    #[test]
    fn illegal_flags_are_rejected(reserved in 1u8..=0x1F, low in 0u8..8, b in body()) {
        let flags = (reserved << 3) | low;
        prop_assert!(flags & RESERVED_FLAGS != 0);
        let mut enc = BytesMut::new();
        aiozmq::zmtp::frame::encode_header(flags, b.len(), &mut enc);
        enc.extend_from_slice(&b);
        let sent_flags = enc[0];
        prop_assert_eq!(
            FrameDecoder::new(None).decode(&mut enc),
            Err(ProtocolError::ReservedFlags(sent_flags))
        );
        let mut enc = BytesMut::new();
        Frame { flags: FLAG_COMMAND | FLAG_MORE, body: b }.encode(&mut enc);
        prop_assert_eq!(
            FrameDecoder::new(None).decode(&mut enc),
            Err(ProtocolError::CommandWithMore)
        );
    }

    #[test]
    fn frame_stream_split_anywhere(frames in prop::collection::vec(frame(), 0..12), s in split()) {
        let stream = encode_frames(&frames);
        let mut dec = FrameDecoder::new(Some(600));
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in chunks(&stream, &s) {
            buf.extend_from_slice(piece);
            let before = got.len();
            while let Some(f) = dec.decode(&mut buf).unwrap() {
                got.push(f);
            }
            if got.len() == before && !piece.is_empty() {
                // Nothing completed: the decoder asks for at least one more byte.
                prop_assert!(dec.bytes_needed(buf.len()) >= 1);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn write_buf_matches_frame_encoding(
        frames in prop::collection::vec(
            prop_oneof![
                4 => frame(),
                1 => (flags(), bytes(8190..9000)).prop_map(|(flags, body)| Frame { flags, body }),
            ],
            0..8,
        ),
        steps in prop::collection::vec(1usize..5000, 1..20),
    ) {
        let mut w = WriteBuf::new();
        for f in &frames {
            w.put_frame(f.flags, &f.body);
        }
        let want = encode_frames(&frames).to_vec();
        prop_assert_eq!(w.len(), want.len());
        prop_assert_eq!(w.is_empty(), want.is_empty());
        prop_assert_eq!(&w.to_vec(), &want);
        let mut slices = [IoSlice::new(&[]); 64];
        let n = w.io_slices(&mut slices);
        let joined: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        prop_assert_eq!(&joined, &want);
        // Writing out in arbitrary pieces leaves exactly the unwritten suffix.
        let mut written = 0;
        for &step in steps.iter().cycle() {
            if w.is_empty() {
                break;
            }
            let k = step.min(w.len()).min(w.chunk().len());
            prop_assert!(k > 0);
            prop_assert_eq!(w.chunk()[..k].to_vec(), want[written..written + k].to_vec());
            w.advance(k);
            written += k;
            prop_assert_eq!(w.to_vec(), want[written..].to_vec());
        }
        prop_assert_eq!(written, want.len());
    }
}

// ---------------------------------------------------------------------------------------------
// Commands and greetings

proptest! {
    #[test]
    fn command_roundtrip(cmd in command()) {
        let enc = cmd.to_bytes();
        let mut buf = BytesMut::from(&enc[..]);
        let f = FrameDecoder::new(None).decode(&mut buf).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert!(f.is_command() && !f.more());
        prop_assert_eq!(f.body[0] as usize, cmd.name().len());
        prop_assert_eq!(&f.body[1..1 + cmd.name().len()], cmd.name());
        let again = Command::decode(f.body).unwrap();
        prop_assert_eq!(&again, &cmd);
        // The fuzz entry point holds for the body too.
        fuzzing::command(&body_of(&enc));
    }

    #[test]
    fn ready_metadata_lookup(md in metadata()) {
        let Command::Ready(got) = Command::decode(body_of(&Command::Ready(md.clone()).to_bytes()))
            .unwrap() else {
            panic!("not READY");
        };
        prop_assert_eq!(&got, &md);
        for (name, _) in md.iter() {
            let first = md
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone());
            prop_assert_eq!(got.get(&name.to_lowercase()).cloned(), first.clone());
            prop_assert_eq!(got.get(&name.to_uppercase()).cloned(), first);
        }
    }

    #[test]
    fn oversize_command_fields_are_truncated(
        ctx in bytes(17..64),
        reason in bytes(256..400),
        ttl in any::<u16>(),
    ) {
        let ping = Command::Ping { ttl, context: ctx.clone() }.to_bytes();
        prop_assert_eq!(
            Command::decode(body_of(&ping)).unwrap(),
            Command::Ping { ttl, context: ctx.slice(..16) }
        );
        let pong = Command::Pong(ctx.clone()).to_bytes();
        prop_assert_eq!(Command::decode(body_of(&pong)).unwrap(), Command::Pong(ctx.slice(..16)));
        let err = Command::Error(reason.clone()).to_bytes();
        prop_assert_eq!(
            Command::decode(body_of(&err)).unwrap(),
            Command::Error(reason.slice(..255))
        );
    }

    #[test]
    fn greeting_roundtrip(
        mech in mechanism(),
        as_server in any::<bool>(),
        minor in 0u8..=1,
        filler in prop::collection::vec(any::<u8>(), 31),
    ) {
        let g = Greeting { major: 3, minor, mechanism: mech, as_server };
        let enc = g.encode();
        prop_assert_eq!(enc.len(), GREETING_LEN);
        prop_assert_eq!(&enc[..10], &SIGNATURE[..]);
        prop_assert_eq!(enc[10], 3);
        prop_assert_eq!(enc[11], minor);
        let name = mech.as_str().as_bytes();
        prop_assert_eq!(&enc[12..12 + name.len()], name);
        prop_assert!(enc[12 + name.len()..32].iter().all(|&b| b == 0));
        prop_assert_eq!(enc[32], as_server as u8);
        prop_assert!(enc[33..].iter().all(|&b| b == 0));
        prop_assert_eq!(Greeting::decode(&enc), Ok(g));
        prop_assert_eq!(g.is_zmtp30(), minor == 0);
        // The filler is ignored.
        let mut noisy = enc;
        noisy[33..].copy_from_slice(&filler);
        prop_assert_eq!(Greeting::decode(&noisy), Ok(g));
        fuzzing::greeting(&noisy);

        // A NULL connection accepts only a NULL peer, and records its greeting.
        let mut c = Connection::new(Config::new(SocketType::Dealer), Instant::now());
        let r = c.handle_input(&mut BytesMut::from(&noisy[..]));
        if mech == Mechanism::Null {
            prop_assert_eq!(r, Ok(()));
            prop_assert_eq!(c.peer_greeting(), Some(&g));
            prop_assert_eq!(c.is_zmtp30(), minor == 0);
        } else {
            let is_mismatch = matches!(r, Err(ProtocolError::MechanismMismatch { .. }));
            prop_assert!(is_mismatch, "{:?}", r);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections: split invariance, no panics, limits

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn connection_pair_split_anywhere(
        pair in prop::sample::select(PAIRS.to_vec()),
        ops in prop::collection::vec((any::<bool>(), op()), 0..10),
        a30 in any::<bool>(),
        b30 in any::<bool>(),
        routing_id in bytes(0..8),
        split_a in split(),
        split_b in split(),
        budget in 1usize..3,
    ) {
        let mut cfg_a = Config::new(pair.0);
        cfg_a.routing_id = routing_id.clone();
        let cfg_b = Config::new(pair.1);
        let mut a = Connection::new(cfg_a.clone(), Instant::now());
        let mut b = Connection::new(cfg_b.clone(), Instant::now());
        let (mut ra, mut rb) = (Record::default(), Record::default());
        let mut sent = (0, 0);
        pump(&mut a, &mut b, &mut ra, &mut rb, &mut sent, a30, b30);
        prop_assert!(a.is_ready() && b.is_ready());
        for (rec, conn, peer, peer30) in [(&mut ra, &a, pair.1, b30), (&mut rb, &b, pair.0, a30)] {
            let Some(Event::Ready(info)) = rec.events.first() else {
                panic!("first event {:?}", rec.events.first());
            };
            prop_assert_eq!(info.socket_type, peer);
            prop_assert_eq!(info.minor, if peer30 { 0 } else { 1 });
            prop_assert_eq!(conn.peer(), Some(info));
            rec.expected.push(rec.events[0].clone());
        }
        if matches!(pair.0, SocketType::Req | SocketType::Dealer | SocketType::Router) {
            prop_assert_eq!(&b.peer().unwrap().identity, &routing_id);
        }

        for (from_b, op) in &ops {
            let (src, dst_rec, src_rec) = if *from_b {
                (&mut b, &mut ra, &mut rb)
            } else {
                (&mut a, &mut rb, &mut ra)
            };
            match op {
                Op::Message(parts) => {
                    let m: Message = parts.iter().cloned().collect();
                    src.send_message(&m);
                    dst_rec.expected.push(Event::Message(m));
                }
                Op::Ping(ttl, ctx) => {
                    src.send_ping(*ttl, ctx.clone());
                    dst_rec.expected.push(Event::Ping { ttl: *ttl });
                    src_rec.expected.push(Event::Pong);
                }
                Op::Subscribe(sub, topic) => {
                    let as_message = src.is_zmtp30();
                    src.send_subscription(*sub, topic);
                    dst_rec.expected.push(if as_message {
                        let mut body = vec![*sub as u8];
                        body.extend_from_slice(topic);
                        Event::Message(Message::from(body))
                    } else if *sub {
                        Event::Subscribe(topic.clone())
                    } else {
                        Event::Cancel(topic.clone())
                    });
                }
                Op::Unknown(name) => {
                    src.send_command(&Command::Unknown { name: name.clone(), data: Bytes::new() });
                    dst_rec.expected.push(Event::UnknownCommand(name.clone()));
                }
            }
            pump(&mut a, &mut b, &mut ra, &mut rb, &mut sent, a30, b30);
        }
        prop_assert_eq!(&ra.events, &ra.expected);
        prop_assert_eq!(&rb.events, &rb.expected);

        // A fresh connection fed what each side received, cut anywhere (and decoded a message
        // or two per call), decodes the same events and answers with the same bytes as when
        // fed everything at once.
        for (cfg, rec, s) in [(&cfg_a, &ra, &split_a), (&cfg_b, &rb, &split_b)] {
            let (events, out) = replay(cfg, &rec.received, s, None);
            let (events_whole, out_whole) = replay(cfg, &rec.received, &Split::Whole, None);
            let (events_limited, out_limited) = replay(cfg, &rec.received, s, Some(budget));
            prop_assert_eq!(&events, &rec.events);
            prop_assert_eq!(&events_whole, &rec.events);
            prop_assert_eq!(&events_limited, &rec.events);
            prop_assert_eq!(&out, &out_whole);
            prop_assert_eq!(&out_limited, &out_whole);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(
        st in prop::sample::select(SocketType::ALL.to_vec()),
        prefix in 0u8..3,
        noise in prop::collection::vec(any::<u8>(), 0..2000),
        s in split(),
    ) {
        // Reach past the greeting (prefix 1) or the handshake (prefix 2) before the noise.
        let peer = SocketType::ALL.into_iter().find(|p| st.is_compatible(*p)).unwrap();
        let mut input = match prefix {
            0 => Vec::new(),
            1 => Greeting::new(Mechanism::Null, false).encode().to_vec(),
            _ => peer_handshake(peer),
        };
        input.extend_from_slice(&noise);
        let mut cfg = Config::new(st);
        cfg.max_msg_size = Some(1024);
        let mut c = Connection::new(cfg, Instant::now());
        let mut buf = BytesMut::new();
        let mut failed = false;
        for piece in chunks(&input, &s) {
            buf.extend_from_slice(piece);
            let r = c.handle_input(&mut buf);
            let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
            if failed {
                // A dead connection stays dead: no more events, never ready again.
                prop_assert_eq!(&r, &Ok(()));
                prop_assert!(events.is_empty() && !c.is_ready());
            }
            if r.is_err() {
                failed = true;
                prop_assert!(!c.is_ready());
            }
            let _ = flush(&mut c);
        }
        // The fuzz entry points take the same input.
        fuzzing::connection(&input);
        fuzzing::frames(&noise);
        fuzzing::command(&noise);
        fuzzing::greeting(&input);
    }
}

proptest! {
    #[test]
    // Limits stay below the decoder's clamp (isize::MAX - 16), so the reported limit is
    // the one given; huge limits are covered by `huge_limit_is_clamped` in src/zmtp/frame.rs.
    fn oversize_frame_fails_on_header(
        max in prop_oneof![0u64..300, 0u64..(1 << 40)],
        excess in prop_oneof![1u64..1000, any::<u64>()],
        more in any::<bool>(),
    ) {
        let size = max.saturating_add(excess.max(1));
        prop_assert!(size > max);
        let flags = if more { FLAG_MORE } else { 0 };
        let mut header = vec![flags | FLAG_LONG];
        header.extend_from_slice(&size.to_be_bytes());
        let want = ProtocolError::TooLarge { size, max };

        // The decoder fails on the 9-byte header alone, without waiting for the body.
        let mut dec = FrameDecoder::new(Some(max));
        prop_assert_eq!(dec.decode(&mut BytesMut::from(&header[..8])), Ok(None));
        prop_assert_eq!(dec.decode(&mut BytesMut::from(&header[..])), Err(want.clone()));
        if size <= 255 {
            let short = [flags, size as u8];
            prop_assert_eq!(
                FrameDecoder::new(Some(max)).decode(&mut BytesMut::from(&short[..])),
                Err(want.clone())
            );
        }

        // So does a connection with MAXMSGSIZE after the handshake.
        let mut c = ready_connection(SocketType::Router, SocketType::Dealer, Some(max));
        let mut buf = BytesMut::from(&header[..]);
        prop_assert_eq!(c.handle_input(&mut buf), Err(want));
        prop_assert!(c.poll_event().is_none());
    }

    #[test]
    fn oversize_command_fails_on_header(excess in prop_oneof![1u64..1000, any::<u64>()]) {
        let max = aiozmq::zmtp::frame::DEFAULT_MAX_COMMAND_SIZE;
        let size = max.saturating_add(excess.max(1));
        let mut header = vec![FLAG_COMMAND | FLAG_LONG];
        header.extend_from_slice(&size.to_be_bytes());
        let want = Err(ProtocolError::TooLarge { size, max });
        // Even with no message size limit, commands are bounded.
        let mut c = ready_connection(SocketType::Pub, SocketType::Sub, None);
        prop_assert_eq!(&c.handle_input(&mut BytesMut::from(&header[..])), &want);
        let mut dec = FrameDecoder::new(None);
        dec.set_max_command(16);
        let mut small = BytesMut::from(&[FLAG_COMMAND, 17][..]);
        prop_assert_eq!(dec.decode(&mut small), Err(ProtocolError::TooLarge { size: 17, max: 16 }));
    }
}
