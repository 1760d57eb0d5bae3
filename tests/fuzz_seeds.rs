//! The fuzz seed corpus in `fuzz/corpus/<target>/` and the regression inputs in
//! `fuzz/regressions/<target>/`: `seeds_are_current` checks that the committed files are what
//! this file generates; the generator writes them, on demand only (into the source tree):
//!
//! ```text
//! cargo test --test fuzz_seeds -- --ignored
//! ```
//!
//! Two [`Connection`]s are pumped against each other for a number of real exchanges
//! (DEALER/ROUTER, REQ/REP, PUB/SUB with subscriptions, a ZMTP 3.0 peer, PING/PONG, ERROR, long
//! and multipart frames); the bytes each side received become seeds for every target. Hand-made
//! malformed inputs are added next to them. Files are named after what they contain; existing
//! files with other names (for example inputs found by the fuzzer) are left alone. Output is
//! deterministic, so rerunning it on an unchanged protocol core changes nothing.

use aiozmq::zmtp::{
    Command, Config, Connection, Event, FrameDecoder, Greeting, Mechanism, Metadata, SocketType,
};
use aiozmq::Message;
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Largest seed file we commit.
const MAX_SEED_LEN: usize = 4096;

/// Index of `st` in [`SocketType::ALL`], the selector the `connection` target decodes from
/// the low nibble of its first byte.
fn selector(st: SocketType, step: u8) -> u8 {
    let idx = SocketType::ALL.iter().position(|&t| t == st).unwrap() as u8;
    assert!((1..=16).contains(&step));
    ((step - 1) << 4) | idx
}

/// Takes everything a connection wants to send.
fn flush(c: &mut Connection) -> Vec<u8> {
    let v = c.transmit().to_vec();
    let n = c.transmit().len();
    c.transmit().advance(n);
    v
}

/// One side of an exchange: its connection, what it received and the events it produced.
struct Side {
    conn: Connection,
    received: Vec<u8>,
    sent: usize,
    events: Vec<Event>,
    error: Option<String>,
}

impl Side {
    fn new(cfg: Config) -> Self {
        Side {
            conn: Connection::new(cfg, Instant::now()),
            received: Vec::new(),
            sent: 0,
            events: Vec::new(),
            error: None,
        }
    }

    fn socket_type(&self) -> SocketType {
        self.conn.config().socket_type
    }

    fn receive(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.received.extend_from_slice(bytes);
        let mut buf = BytesMut::from(bytes);
        match self.conn.handle_input(&mut buf) {
            // Every flush holds whole frames, so nothing may be left over.
            Ok(()) => assert!(buf.is_empty() || self.error.is_some()),
            Err(e) => {
                self.error.get_or_insert(e.to_string());
            }
        }
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    fn ready(&self) -> bool {
        self.conn.is_ready()
    }

    fn messages(&self) -> Vec<Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A rewrite of the bytes one side sends: `(absolute offset in its stream, chunk)`.
type Patch = fn(usize, &mut [u8]);

/// Exchanges bytes until neither side has anything to send. `patch_a`/`patch_b` may rewrite
/// what A or B sends (to impersonate an older peer) before the other side sees it.
fn pump(a: &mut Side, b: &mut Side, patch_a: Option<Patch>, patch_b: Option<Patch>) {
    for _ in 0..32 {
        let mut ab = flush(&mut a.conn);
        let mut ba = flush(&mut b.conn);
        if ab.is_empty() && ba.is_empty() {
            return;
        }
        if let Some(p) = patch_a {
            p(a.sent, &mut ab);
        }
        if let Some(p) = patch_b {
            p(b.sent, &mut ba);
        }
        a.sent += ab.len();
        b.sent += ba.len();
        b.receive(&ab);
        a.receive(&ba);
    }
    panic!("the exchange did not settle");
}

/// Rewrites the greeting's minor version (offset 11) to 0: a ZMTP 3.0 peer.
fn as_zmtp30(offset: usize, chunk: &mut [u8]) {
    if offset <= 11 && 11 < offset + chunk.len() {
        chunk[11 - offset] = 0;
    }
}

fn pair(a: Config, b: Config) -> (Side, Side) {
    (Side::new(a), Side::new(b))
}

fn cfg(st: SocketType) -> Config {
    Config::new(st)
}

/// A recorded exchange: its name and both sides.
struct Transcript {
    name: &'static str,
    a: Side,
    b: Side,
    /// Read sizes (1..=16) used for each side's `connection` seed.
    steps: (u8, u8),
}

fn transcripts() -> Vec<Transcript> {
    let mut out = Vec::new();

    // DEALER <-> ROUTER with a routing id, multipart messages and long frames both ways.
    let mut dealer = cfg(SocketType::Dealer);
    dealer.routing_id = Bytes::from_static(b"client-1");
    let (mut a, mut b) = pair(dealer, cfg(SocketType::Router));
    pump(&mut a, &mut b, None, None);
    assert!(a.ready() && b.ready());
    a.conn.send_message(&Message::from(["", "hello"]));
    a.conn.send_message(&Message::from(["a", "b", "c"]));
    a.conn.send_message(&Message::from(vec![b'L'; 300]));
    pump(&mut a, &mut b, None, None);
    b.conn.send_message(&Message::from(["", "world"]));
    b.conn.send_message(&Message::from([
        Bytes::from_static(b"big"),
        Bytes::from(vec![0xA5; 1000]),
    ]));
    pump(&mut a, &mut b, None, None);
    assert_eq!(b.messages().len(), 3);
    assert_eq!(b.messages()[2][0].len(), 300);
    assert_eq!(a.messages().len(), 2);
    match &b.events[0] {
        Event::Ready(p) => assert_eq!(&p.identity[..], b"client-1"),
        e => panic!("{e:?}"),
    }
    out.push(Transcript {
        name: "dealer_router",
        a,
        b,
        steps: (1, 7),
    });

    // REQ <-> REP with application metadata.
    let mut req = cfg(SocketType::Req);
    req.metadata
        .push("X-App", Bytes::from_static(b"seed-generator"));
    let (mut a, mut b) = pair(req, cfg(SocketType::Rep));
    pump(&mut a, &mut b, None, None);
    a.conn.send_message(&Message::from(["", "ping?"]));
    pump(&mut a, &mut b, None, None);
    b.conn.send_message(&Message::from(["", "pong!"]));
    pump(&mut a, &mut b, None, None);
    assert_eq!(b.messages(), vec![Message::from(["", "ping?"])]);
    assert_eq!(a.messages(), vec![Message::from(["", "pong!"])]);
    out.push(Transcript {
        name: "req_rep",
        a,
        b,
        steps: (16, 1),
    });

    // SUB <-> PUB, ZMTP 3.1: SUBSCRIBE and CANCEL commands, then publications.
    let (mut a, mut b) = pair(cfg(SocketType::Sub), cfg(SocketType::Pub));
    pump(&mut a, &mut b, None, None);
    a.conn
        .send_subscription(true, &Bytes::from_static(b"weather"));
    a.conn.send_subscription(true, &Bytes::new());
    a.conn
        .send_subscription(false, &Bytes::from_static(b"weather"));
    pump(&mut a, &mut b, None, None);
    b.conn
        .send_message(&Message::from(["weather.paris", "sunny"]));
    b.conn.send_message(&Message::from("news"));
    pump(&mut a, &mut b, None, None);
    assert!(b
        .events
        .contains(&Event::Subscribe(Bytes::from_static(b"weather"))));
    assert!(b
        .events
        .contains(&Event::Cancel(Bytes::from_static(b"weather"))));
    assert_eq!(a.messages().len(), 2);
    out.push(Transcript {
        name: "sub_pub",
        a,
        b,
        steps: (3, 1),
    });

    // SUB <-> PUB where the PUB speaks ZMTP 3.0: subscriptions travel as messages.
    let (mut a, mut b) = pair(cfg(SocketType::Sub), cfg(SocketType::Pub));
    pump(&mut a, &mut b, None, Some(as_zmtp30));
    assert!(a.conn.is_zmtp30());
    a.conn
        .send_subscription(true, &Bytes::from_static(b"topic"));
    a.conn
        .send_subscription(false, &Bytes::from_static(b"topic"));
    pump(&mut a, &mut b, None, Some(as_zmtp30));
    b.conn.send_message(&Message::from(["topic", "v1"]));
    pump(&mut a, &mut b, None, Some(as_zmtp30));
    assert_eq!(
        b.messages(),
        vec![Message::from("\x01topic"), Message::from("\x00topic")]
    );
    out.push(Transcript {
        name: "sub_pub_zmtp30",
        a,
        b,
        steps: (1, 2),
    });

    // XSUB (ZMTP 3.0) <-> XPUB: the peer's greeting says minor 0.
    let (mut a, mut b) = pair(cfg(SocketType::XSub), cfg(SocketType::XPub));
    pump(&mut a, &mut b, Some(as_zmtp30), None);
    match &b.events[0] {
        Event::Ready(p) => assert_eq!(p.minor, 0),
        e => panic!("{e:?}"),
    }
    a.conn.send_message(&Message::from("\x01"));
    b.conn.send_message(&Message::from(["x", "y"]));
    pump(&mut a, &mut b, Some(as_zmtp30), None);
    out.push(Transcript {
        name: "xsub30_xpub",
        a,
        b,
        steps: (5, 1),
    });

    // DEALER <-> DEALER heartbeats: PING with and without context, PONG, unknown command.
    let (mut a, mut b) = pair(cfg(SocketType::Dealer), cfg(SocketType::Dealer));
    pump(&mut a, &mut b, None, None);
    a.conn.send_ping(300, Bytes::from_static(b"ctx-0123"));
    b.conn.send_ping(0, Bytes::new());
    a.conn.send_command(&Command::Unknown {
        name: Bytes::from_static(b"X-HINT"),
        data: Bytes::from_static(b"\x00\x01\x02"),
    });
    pump(&mut a, &mut b, None, None);
    assert!(a.events.contains(&Event::Pong) && b.events.contains(&Event::Pong));
    assert!(b.events.contains(&Event::Ping { ttl: 300 }));
    out.push(Transcript {
        name: "dealer_ping_pong",
        a,
        b,
        steps: (1, 4),
    });

    // REQ <-> PUB: incompatible, both sides send ERROR.
    let (mut a, mut b) = pair(cfg(SocketType::Req), cfg(SocketType::Pub));
    pump(&mut a, &mut b, None, None);
    assert!(a.error.is_some() && b.error.is_some());
    out.push(Transcript {
        name: "req_pub_incompatible",
        a,
        b,
        steps: (1, 9),
    });

    // PAIR <-> PAIR, then one side gives up with an ERROR command.
    let (mut a, mut b) = pair(cfg(SocketType::Pair), cfg(SocketType::Pair));
    pump(&mut a, &mut b, None, None);
    a.conn.send_message(&Message::from("last words"));
    a.conn
        .send_command(&Command::Error(Bytes::from_static(b"shutting down")));
    pump(&mut a, &mut b, None, None);
    assert!(b.error.as_deref().unwrap().contains("shutting down"));
    out.push(Transcript {
        name: "pair_error",
        a,
        b,
        steps: (1, 13),
    });

    // PUSH <-> PULL: empty frames, an empty-frame message and many parts.
    let (mut a, mut b) = pair(cfg(SocketType::Push), cfg(SocketType::Pull));
    pump(&mut a, &mut b, None, None);
    a.conn.send_message(&Message::from(""));
    a.conn.send_message(&Message::from(["", "", ""]));
    a.conn
        .send_message(&(0..40u8).map(|i| vec![i; i as usize]).collect::<Message>());
    pump(&mut a, &mut b, None, None);
    assert_eq!(b.messages().len(), 3);
    assert_eq!(b.messages()[2].len(), 40);
    out.push(Transcript {
        name: "push_pull",
        a,
        b,
        steps: (2, 1),
    });

    out
}

/// Seeds for one target, deduplicated by content.
#[derive(Default)]
struct Seeds {
    by_content: BTreeMap<Vec<u8>, String>,
}

impl Seeds {
    fn add(&mut self, name: impl Into<String>, data: impl AsRef<[u8]>) {
        let data = data.as_ref().to_vec();
        let name = name.into();
        assert!(
            data.len() < MAX_SEED_LEN,
            "seed {name} is {} bytes, the limit is {MAX_SEED_LEN}",
            data.len()
        );
        assert!(
            !self.by_content.values().any(|n| *n == name),
            "two seeds named {name}"
        );
        self.by_content.entry(data).or_insert(name);
    }

    fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (data, name) in &self.by_content {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

fn greeting(mechanism: Mechanism, as_server: bool, minor: u8) -> Vec<u8> {
    let mut g = Greeting::new(mechanism, as_server);
    g.minor = minor;
    g.encode().to_vec()
}

fn ready(props: &[(&str, &[u8])]) -> Vec<u8> {
    let mut md = Metadata::new();
    for (n, v) in props {
        md.push(*n, Bytes::copy_from_slice(v));
    }
    Command::Ready(md).to_bytes().to_vec()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// The header of a long message frame declaring `size` bytes.
fn long_header(flags: u8, size: u64) -> Vec<u8> {
    let mut h = vec![flags | 0x02];
    h.extend_from_slice(&size.to_be_bytes());
    h
}

fn malformed_greetings(s: &mut Seeds) {
    let good = greeting(Mechanism::Null, false, 1);
    let with = |i: usize, b: u8| {
        let mut g = good.clone();
        g[i] = b;
        g
    };
    s.add("bad_signature_first_byte", with(0, 0x00));
    s.add("bad_signature_last_bit", with(9, 0x7E));
    s.add("zmtp1_length_prefix", b"\x01\x00hello".as_slice());
    s.add("version_2", with(10, 2));
    s.add("version_4_minor_0", {
        let mut g = with(10, 4);
        g[11] = 0;
        g
    });
    s.add("minor_255", with(11, 255));
    s.add("plain_as_server", greeting(Mechanism::Plain, true, 1));
    s.add("curve_client", greeting(Mechanism::Curve, false, 1));
    let mut gssapi = good.clone();
    gssapi[12..18].copy_from_slice(b"GSSAPI");
    s.add("unknown_mechanism", gssapi);
    let mut unpadded = good.clone();
    unpadded[12..32].copy_from_slice(b"NULLNULLNULLNULLNULL");
    s.add("mechanism_not_nul_padded", unpadded);
    s.add("as_server_7", with(32, 7));
    s.add("filler_garbage", {
        let mut g = good.clone();
        g[33..].fill(0xEE);
        g
    });
    s.add("truncated_40", &good[..40]);
    s.add("signature_only", &good[..10]);
}

fn malformed_frames(s: &mut Seeds) {
    s.add("reserved_flags", b"\x08\x00".as_slice());
    s.add("reserved_flags_high", b"\x80\x01x".as_slice());
    s.add("command_with_more", b"\x05\x04\x04PING".as_slice());
    s.add("oversize_long_header", long_header(0, u64::MAX));
    s.add("just_over_limit", long_header(1, (1 << 16) + 1));
    s.add("command_over_1mib", long_header(0x04, (1 << 20) + 1));
    s.add("long_header_small_size", cat(&[&long_header(0, 2), b"hi"]));
    s.add("truncated_long_header", &long_header(0, 300)[..5]);
    s.add("truncated_body", cat(&[&long_header(0, 300), &[7u8; 100]]));
    s.add("short_truncated_body", b"\x00\x10abc".as_slice());
    s.add("empty_more_frames", [1u8, 0].repeat(64));
    // What a waiting REQ/REP `recv` keeps (one whole message) and what it hands back.
    s.add("one_whole_request", b"\x01\x00\x00\x05hello".as_slice());
    s.add(
        "one_whole_long_frame",
        cat(&[b"\x01\x00", &long_header(0, 3), b"abc"]),
    );
    s.add(
        "two_whole_requests",
        b"\x01\x00\x00\x01a\x01\x00\x00\x01b".as_slice(),
    );
    s.add(
        "request_then_ping",
        cat(&[b"\x00\x01a", b"\x04\x05\x04PING"]),
    );
    s.add(
        "command_frames",
        cat(&[
            &Command::Subscribe(Bytes::from_static(b"t")).to_bytes(),
            &Command::Ping {
                ttl: 1,
                context: Bytes::new(),
            }
            .to_bytes(),
            b"\x04\x00",
            b"\x04\x03\x05REA",
        ]),
    );
}

fn malformed_commands(s: &mut Seeds) {
    s.add("empty", b"".as_slice());
    s.add("zero_name_length", b"\x00".as_slice());
    s.add("truncated_name", b"\x05REA".as_slice());
    s.add("ready_empty", b"\x05READY".as_slice());
    s.add(
        "ready_truncated_value_length",
        b"\x05READY\x0bSocket-Type\x00\x00".as_slice(),
    );
    s.add(
        "ready_truncated_value",
        b"\x05READY\x0bSocket-Type\x00\x00\x00\x06DEAL".as_slice(),
    );
    s.add(
        "ready_value_length_u32_max",
        b"\x05READY\x01A\xff\xff\xff\xff".as_slice(),
    );
    s.add(
        "ready_bad_name_char",
        b"\x05READY\x02a!\x00\x00\x00\x00".as_slice(),
    );
    s.add(
        "ready_name_with_space",
        b"\x05READY\x03a b\x00\x00\x00\x00".as_slice(),
    );
    s.add(
        "ready_name_high_bit",
        b"\x05READY\x02a\xe9\x00\x00\x00\x00".as_slice(),
    );
    s.add(
        "ready_empty_name",
        b"\x05READY\x00\x00\x00\x00\x00".as_slice(),
    );
    s.add(
        "ready_name_length_past_end",
        b"\x05READY\xffSocket-Type".as_slice(),
    );
    s.add("ready_long_name", {
        let mut b = b"\x05READY\xff".to_vec();
        b.extend_from_slice(&[b'n'; 255]);
        b.extend_from_slice(&[0, 0, 0, 1, b'v']);
        b
    });
    s.add("error_short_reason", b"\x05ERROR\x09short".as_slice());
    s.add("error_no_reason_length", b"\x05ERROR".as_slice());
    s.add("error_trailing_bytes", b"\x05ERROR\x02okextra".as_slice());
    s.add("ping_short", b"\x04PING\x00".as_slice());
    s.add("ping_long_context", cat(&[b"\x04PING\x00\x01", &[9u8; 40]]));
    s.add("pong_long_context", cat(&[b"\x04PONG", &[3u8; 40]]));
    s.add("subscribe_empty", b"\x09SUBSCRIBE".as_slice());
    s.add("cancel_binary", b"\x06CANCEL\x00\xff\x00".as_slice());
    s.add("lowercase_ready", b"\x05ready\x00".as_slice());
    s.add("hello_plain", b"\x05HELLO\x04user\x04pass".as_slice());
}

fn malformed_connections(s: &mut Seeds) {
    let g = greeting(Mechanism::Null, false, 1);
    let dealer = selector(SocketType::Dealer, 1);
    let router = selector(SocketType::Router, 4);
    let ready_dealer = ready(&[("Socket-Type", b"DEALER"), ("Identity", b"")]);
    s.add("bad_signature", cat(&[&[dealer], &[0u8; 64]]));
    s.add("version_2", {
        let mut v = cat(&[&[dealer], &g]);
        v[11] = 2;
        v
    });
    s.add(
        "plain_mechanism",
        cat(&[&[dealer], &greeting(Mechanism::Plain, true, 1)]),
    );
    s.add(
        "message_before_ready",
        cat(&[&[dealer], &g, b"\x00\x05early"]),
    );
    s.add(
        "ping_before_ready",
        cat(&[
            &[dealer],
            &g,
            &Command::Ping {
                ttl: 1,
                context: Bytes::new(),
            }
            .to_bytes(),
        ]),
    );
    s.add(
        "ready_without_socket_type",
        cat(&[&[dealer], &g, &ready(&[("Identity", b"x")])]),
    );
    s.add(
        "ready_unknown_socket_type",
        cat(&[&[dealer], &g, &ready(&[("Socket-Type", b"STREAM")])]),
    );
    s.add(
        "ready_incompatible",
        cat(&[&[dealer], &g, &ready(&[("Socket-Type", b"PUB")])]),
    );
    s.add(
        "ready_lowercase_socket_type",
        cat(&[
            &[router],
            &g,
            &ready(&[("socket-type", b"dealer")]),
            b"\x00\x01m",
        ]),
    );
    s.add(
        "ready_identity_300",
        cat(&[
            &[router],
            &g,
            &ready(&[("Socket-Type", b"DEALER"), ("Identity", &[b'i'; 300])]),
        ]),
    );
    s.add(
        "ready_twice",
        cat(&[&[router], &g, &ready_dealer, &ready_dealer]),
    );
    s.add(
        "oversize_after_ready",
        cat(&[&[router], &g, &ready_dealer, &long_header(0, 1 << 40)]),
    );
    s.add(
        "reserved_flags_after_ready",
        cat(&[&[router], &g, &ready_dealer, b"\x01\x01a\x10\x00"]),
    );
    s.add(
        "unterminated_multipart",
        cat(&[&[router], &g, &ready_dealer, &[1u8, 0].repeat(100)]),
    );
}

/// The regression inputs: `fuzz/regressions/<target>/<name>`.
fn regressions() -> BTreeMap<&'static str, Seeds> {
    let mut r: BTreeMap<&'static str, Seeds> = BTreeMap::new();
    // A long frame declaring 2^63 bytes: must fail on the header, allocating nothing.
    let huge = long_header(0, 1 << 63);
    r.entry("frame")
        .or_default()
        .add("declared_size_2pow63", cat(&[&huge, b"body"]));
    let g = greeting(Mechanism::Null, false, 1);
    r.entry("connection").or_default().add(
        "declared_size_2pow63_after_ready",
        cat(&[
            &[selector(SocketType::Router, 1)],
            &g,
            &ready(&[("Socket-Type", b"DEALER"), ("Identity", b"")]),
            &huge,
        ]),
    );
    r
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The seeds of the greeting, frame, command and connection targets, by target.
fn corpus_seeds() -> Vec<(&'static str, Seeds)> {
    let mut greetings = Seeds::default();
    let mut frames = Seeds::default();
    let mut commands = Seeds::default();
    let mut connections = Seeds::default();

    for t in transcripts() {
        for (side, st_name, step) in [(&t.a, "a", t.steps.0), (&t.b, "b", t.steps.1)] {
            let st = side.socket_type();
            let who = format!("{}-{}_{}", t.name, st_name, st.as_str().to_lowercase());
            let rx = &side.received;
            assert!(rx.len() >= 64, "{who}: no whole greeting received");
            greetings.add(who.as_str(), &rx[..64]);
            frames.add(who.as_str(), &rx[64..]);
            connections.add(who.as_str(), cat(&[&[selector(st, step)], rx]));

            let mut dec = FrameDecoder::new(None);
            let mut buf = BytesMut::from(&rx[64..]);
            let mut i = 0;
            while let Ok(Some(f)) = dec.decode(&mut buf) {
                if f.is_command() {
                    let name = Command::split_name(&f.body)
                        .map(|(n, _)| String::from_utf8_lossy(&n).to_lowercase())
                        .unwrap_or_default();
                    commands.add(format!("{who}-{i}_{name}"), &f.body);
                    i += 1;
                }
            }
        }
    }
    malformed_greetings(&mut greetings);
    malformed_frames(&mut frames);
    malformed_commands(&mut commands);
    malformed_connections(&mut connections);

    let all = vec![
        ("greeting", greetings),
        ("frame", frames),
        ("command", commands),
        ("connection", connections),
    ];
    for (target, seeds) in &all {
        assert!(seeds.by_content.len() >= 10, "{target}: too few seeds");
    }
    all
}

#[test]
#[ignore = "writes into fuzz/corpus; run with --ignored to regenerate the seeds"]
fn generate_seed_corpus() {
    let corpus = fuzz_dir().join("corpus");
    for (target, seeds) in corpus_seeds() {
        seeds.write(&corpus.join(target));
    }
    for (target, seeds) in regressions() {
        seeds.write(&fuzz_dir().join("regressions").join(target));
    }
}

/// Every seed this file generates is committed, byte for byte, in `fuzz/corpus/<target>/`
/// (and every regression input in `fuzz/regressions/<target>/`): a change to the wire code
/// that changes a transcript fails here until the seeds are regenerated with
/// `cargo test --test fuzz_seeds -- --ignored generate_seed_corpus`.
#[test]
fn seeds_are_current() {
    let corpus = fuzz_dir().join("corpus");
    let regressions_dir = fuzz_dir().join("regressions");
    let mut checked = 0;
    let sets = corpus_seeds()
        .into_iter()
        .map(|(t, s)| (corpus.join(t), s))
        .chain(
            regressions()
                .into_iter()
                .map(|(t, s)| (regressions_dir.join(t), s)),
        );
    for (dir, seeds) in sets {
        for (data, name) in &seeds.by_content {
            let path = dir.join(name);
            let committed = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (regenerate the seeds: cargo test --test fuzz_seeds -- \
                     --ignored generate_seed_corpus)",
                    path.display()
                )
            });
            assert!(
                committed == *data,
                "{} is stale: committed {} bytes, generated {} bytes (regenerate the seeds)",
                path.display(),
                committed.len(),
                data.len()
            );
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} seeds checked");
}
