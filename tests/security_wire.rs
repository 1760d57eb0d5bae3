//! Byte-exact PLAIN (RFC 24) and CURVE (RFC 26) handshakes of the sans-I/O
//! [`Connection`], with fixed long-term keys and a deterministic random source.
//!
//! Every byte each side sends is compared with bytes computed here, independently of the
//! crate's mechanism code: frames and commands are laid out by hand, and the boxes are
//! made with the `crypto_box` / `crypto_secretbox` crates directly, with the nonce layouts
//! of RFC 26 ("CurveZMQHELLO---", "WELCOME-", "COOKIE--", "CurveZMQINITIATE", "VOUCH---",
//! "CurveZMQREADY---", "CurveZMQMESSAGEC"/"CurveZMQMESSAGES" + big-endian short nonces).

use aiozmq::zmtp::mechanism::RandomSource;
use aiozmq::zmtp::{
    Config, Connection, Event, Mechanism, ProtocolError, Security, SocketType, ZapReply, ZapRequest,
};
use aiozmq::Message;
use bytes::{Bytes, BytesMut};
use crypto_box::aead::{generic_array::GenericArray, Aead, KeyInit};
use crypto_box::{PublicKey, SalsaBox, SecretKey};
use crypto_secretbox::XSalsa20Poly1305;
use std::sync::{Arc, Mutex};
use std::time::Instant;

// ---- fixed keys and the deterministic random source ----------------------------------

fn unhex(s: &str) -> [u8; 32] {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

/// RFC 7748 §6.1's X25519 key pairs: Alice is our CURVE client, Bob our CURVE server.
struct LongTerm {
    client_secret: [u8; 32],
    client_public: [u8; 32],
    server_secret: [u8; 32],
    server_public: [u8; 32],
}

fn long_term() -> LongTerm {
    let k = LongTerm {
        client_secret: unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"),
        client_public: unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
        server_secret: unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"),
        server_public: unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
    };
    // The test's own crypto agrees with the RFC before it is used for anything else.
    assert_eq!(public(&k.client_secret), k.client_public);
    assert_eq!(public(&k.server_secret), k.server_public);
    k
}

/// Byte `n` of the deterministic random stream `seed`.
fn stream_byte(seed: u8, n: usize) -> u8 {
    (n.wrapping_mul(13) ^ (n >> 8).wrapping_mul(7)).wrapping_add(seed as usize * 97 + 5) as u8
}

/// `len` bytes of stream `seed` from `offset`.
fn chunk<const N: usize>(seed: u8, offset: usize) -> [u8; N] {
    std::array::from_fn(|i| stream_byte(seed, offset + i))
}

/// A random source that returns stream `seed` in order, and records the size of every
/// request (so that a change in what the mechanism draws, or in which order, is reported
/// as such).
fn det_rng(seed: u8) -> (RandomSource, Arc<Mutex<Vec<usize>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let pos = Arc::new(Mutex::new(0usize));
    let rec = calls.clone();
    let rng: RandomSource = Arc::new(move |buf: &mut [u8]| {
        let mut p = pos.lock().unwrap();
        for b in buf.iter_mut() {
            *b = stream_byte(seed, *p);
            *p += 1;
        }
        rec.lock().unwrap().push(buf.len());
    });
    (rng, calls)
}

// ---- independent encoders -------------------------------------------------------------

fn public(secret: &[u8; 32]) -> [u8; 32] {
    SecretKey::from(*secret).public_key().to_bytes()
}

fn nonce(prefix: &[u8], rest: &[u8]) -> [u8; 24] {
    assert_eq!(prefix.len() + rest.len(), 24, "nonce layout");
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(rest);
    n
}

/// NaCl `crypto_box` (without its zero padding: tag, then ciphertext).
fn seal(pk: &[u8; 32], sk: &[u8; 32], nonce: &[u8; 24], plain: &[u8]) -> Vec<u8> {
    let bx = SalsaBox::new(&PublicKey::from(*pk), &SecretKey::from(*sk));
    let out = bx
        .encrypt(GenericArray::from_slice(nonce), plain)
        .expect("box");
    assert_eq!(out.len(), plain.len() + 16);
    out
}

fn open(pk: &[u8; 32], sk: &[u8; 32], nonce: &[u8; 24], boxed: &[u8]) -> Option<Vec<u8>> {
    let bx = SalsaBox::new(&PublicKey::from(*pk), &SecretKey::from(*sk));
    bx.decrypt(GenericArray::from_slice(nonce), boxed).ok()
}

/// NaCl `crypto_secretbox`.
fn secretbox(key: &[u8; 32], nonce: &[u8; 24], plain: &[u8]) -> Vec<u8> {
    XSalsa20Poly1305::new(GenericArray::from_slice(key))
        .encrypt(GenericArray::from_slice(nonce), plain)
        .expect("secretbox")
}

fn short(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Our 64-byte greeting: signature for an empty routing id, 3.1, mechanism, as-server.
fn greeting(mechanism: &str, as_server: bool) -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F, 3, 1];
    let mut m = [0u8; 20];
    m[..mechanism.len()].copy_from_slice(mechanism.as_bytes());
    g.extend_from_slice(&m);
    g.push(as_server as u8);
    g.extend_from_slice(&[0u8; 31]);
    assert_eq!(g.len(), 64);
    g
}

/// A frame: short form up to 255 bytes, else LONG (0x02) with a 64-bit size.
fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    if body.len() <= 255 {
        f.push(flags);
        f.push(body.len() as u8);
    } else {
        f.push(flags | 0x02);
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
    }
    f.extend_from_slice(body);
    f
}

/// A command frame from its name and the parts of its data.
fn command(name: &str, parts: &[&[u8]]) -> Vec<u8> {
    frame(0x04, &command_body(name, parts))
}

fn command_body(name: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut b = vec![name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    for p in parts {
        b.extend_from_slice(p);
    }
    b
}

/// READY-style metadata.
fn metadata(props: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = Vec::new();
    for (n, v) in props {
        m.push(n.len() as u8);
        m.extend_from_slice(n.as_bytes());
        m.extend_from_slice(&(v.len() as u32).to_be_bytes());
        m.extend_from_slice(v);
    }
    m
}

fn dealer_md() -> Vec<u8> {
    metadata(&[("Socket-Type", b"DEALER"), ("Identity", b"")])
}

fn router_md() -> Vec<u8> {
    metadata(&[("Socket-Type", b"ROUTER"), ("Identity", b"")])
}

/// A hex dump around the first difference.
fn diff(want: &[u8], got: &[u8]) -> String {
    let first = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let from = first.saturating_sub(16);
    let show = |d: &[u8]| {
        d[from.min(d.len())..(first + 32).min(d.len())]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "first difference at byte {first} (want {} bytes, got {}):\n  want[{from}..]: {}\n  got [{from}..]: {}",
        want.len(),
        got.len(),
        show(want),
        show(got)
    )
}

#[track_caller]
fn assert_bytes(what: &str, want: &[u8], got: &[u8]) {
    assert!(want == got, "{what}: {}", diff(want, got));
}

// ---- driving two connections ---------------------------------------------------------

/// Two connections wired back to back; every byte each one sent is recorded.
struct Wire {
    client: Connection,
    server: Connection,
    /// Everything the client sent / the server sent, since the last `take_*`.
    c2s: Vec<u8>,
    s2c: Vec<u8>,
    c_in: BytesMut,
    s_in: BytesMut,
    c_events: Vec<Event>,
    s_events: Vec<Event>,
}

fn take(c: &mut Connection) -> Vec<u8> {
    let v = c.transmit().to_vec();
    let n = c.transmit().len();
    c.transmit().advance(n);
    v
}

impl Wire {
    fn new(client: Config, server: Config) -> Wire {
        Wire {
            client: Connection::new(client, Instant::now()),
            server: Connection::new(server, Instant::now()),
            c2s: Vec::new(),
            s2c: Vec::new(),
            c_in: BytesMut::new(),
            s_in: BytesMut::new(),
            c_events: Vec::new(),
            s_events: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to send. Any error fails.
    fn pump(&mut self) {
        for _ in 0..64 {
            let a = take(&mut self.client);
            let b = take(&mut self.server);
            if a.is_empty() && b.is_empty() {
                return;
            }
            self.c2s.extend_from_slice(&a);
            self.s2c.extend_from_slice(&b);
            self.s_in.extend_from_slice(&a);
            self.c_in.extend_from_slice(&b);
            self.server
                .handle_input(&mut self.s_in)
                .unwrap_or_else(|e| panic!("server: {e}"));
            self.client
                .handle_input(&mut self.c_in)
                .unwrap_or_else(|e| panic!("client: {e}"));
            self.s_events
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            self.c_events
                .extend(std::iter::from_fn(|| self.client.poll_event()));
        }
        panic!("the connections never went quiet");
    }

    fn take_c2s(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.c2s)
    }

    fn take_s2c(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.s2c)
    }
}

fn curve_configs(k: &LongTerm) -> (Config, Config, [Arc<Mutex<Vec<usize>>>; 2]) {
    let (crng, ccalls) = det_rng(1);
    let (srng, scalls) = det_rng(2);
    let mut c = Config::new(SocketType::Dealer);
    c.security = Security::CurveClient {
        server_key: k.server_public,
        public_key: k.client_public,
        secret_key: k.client_secret,
    };
    c.rng = Some(crng);
    let mut s = Config::new(SocketType::Router);
    s.security = Security::CurveServer {
        public_key: k.server_public,
        secret_key: k.server_secret,
    };
    s.rng = Some(srng);
    (c, s, [ccalls, scalls])
}

/// Everything a CURVE handshake between the two configurations above must contain.
struct CurveExpect {
    /// Short-term keys: client (C', c'), server (S', s').
    cn_public: [u8; 32],
    cn_secret: [u8; 32],
    sn_public: [u8; 32],
    sn_secret: [u8; 32],
    hello: Vec<u8>,
    welcome: Vec<u8>,
    initiate: Vec<u8>,
    ready: Vec<u8>,
}

fn curve_expect(k: &LongTerm) -> CurveExpect {
    // Client draws: c' (32), then the vouch nonce (16) once WELCOME is in.
    let cn_secret: [u8; 32] = chunk(1, 0);
    let vouch_nonce: [u8; 16] = chunk(1, 32);
    // Server draws: s' (32), then at HELLO the cookie key K (32), the cookie nonce (16)
    // and the WELCOME nonce (16).
    let sn_secret: [u8; 32] = chunk(2, 0);
    let cookie_key: [u8; 32] = chunk(2, 32);
    let cookie_nonce: [u8; 16] = chunk(2, 64);
    let welcome_nonce: [u8; 16] = chunk(2, 80);
    let cn_public = public(&cn_secret);
    let sn_public = public(&sn_secret);

    // HELLO: version 1.0, 72 bytes of padding, C', nonce 1, Box[64 zeros](C'->S).
    let hello_box = seal(
        &k.server_public,
        &cn_secret,
        &nonce(b"CurveZMQHELLO---", &short(1)),
        &[0u8; 64],
    );
    let hello = command_body(
        "HELLO",
        &[&[1, 0], &[0u8; 72], &cn_public, &short(1), &hello_box],
    );
    assert_eq!(hello.len(), 200);

    // WELCOME: long nonce, Box[S' + cookie](S->C'); cookie = nonce + SecretBox[C' + s'](K).
    let mut cookie = cookie_nonce.to_vec();
    cookie.extend(secretbox(
        &cookie_key,
        &nonce(b"COOKIE--", &cookie_nonce),
        &[&cn_public[..], &sn_secret[..]].concat(),
    ));
    assert_eq!(cookie.len(), 96);
    let welcome_box = seal(
        &cn_public,
        &k.server_secret,
        &nonce(b"WELCOME-", &welcome_nonce),
        &[&sn_public[..], &cookie[..]].concat(),
    );
    let welcome = command_body("WELCOME", &[&welcome_nonce, &welcome_box]);
    assert_eq!(welcome.len(), 168);

    // INITIATE: cookie, nonce 2, Box[C + vouch + metadata](C'->S');
    // vouch = long nonce + Box[C' + S](C->S').
    let vouch = seal(
        &sn_public,
        &k.client_secret,
        &nonce(b"VOUCH---", &vouch_nonce),
        &[&cn_public[..], &k.server_public[..]].concat(),
    );
    assert_eq!(vouch.len(), 80);
    let init_plain = [
        &k.client_public[..],
        &vouch_nonce[..],
        &vouch[..],
        &dealer_md()[..],
    ]
    .concat();
    let init_box = seal(
        &sn_public,
        &cn_secret,
        &nonce(b"CurveZMQINITIATE", &short(2)),
        &init_plain,
    );
    let initiate = command_body("INITIATE", &[&cookie, &short(2), &init_box]);
    assert!(initiate.len() >= 257);

    // READY: nonce 1, Box[metadata](S'->C').
    let ready_box = seal(
        &cn_public,
        &sn_secret,
        &nonce(b"CurveZMQREADY---", &short(1)),
        &router_md(),
    );
    let ready = command_body("READY", &[&short(1), &ready_box]);

    CurveExpect {
        cn_public,
        cn_secret,
        sn_public,
        sn_secret,
        hello,
        welcome,
        initiate,
        ready,
    }
}

/// A MESSAGE as libzmq sends it: a plain (flags 0) frame whose body is
/// `\x07MESSAGE nonce Box[flags + body]`, flags 0x01 MORE, 0x02 COMMAND.
fn message_frame(from_client: bool, e: &CurveExpect, n: u64, flags: u8, body: &[u8]) -> Vec<u8> {
    let (prefix, pk, sk) = if from_client {
        (b"CurveZMQMESSAGEC", &e.sn_public, &e.cn_secret)
    } else {
        (b"CurveZMQMESSAGES", &e.cn_public, &e.sn_secret)
    };
    let bx = seal(
        pk,
        sk,
        &nonce(prefix, &short(n)),
        &[&[flags][..], body].concat(),
    );
    let mut m = b"\x07MESSAGE".to_vec();
    m.extend_from_slice(&short(n));
    m.extend_from_slice(&bx);
    frame(0x00, &m)
}

fn ready_info(events: &[Event]) -> &aiozmq::zmtp::PeerInfo {
    events
        .iter()
        .find_map(|e| match e {
            Event::Ready(p) => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Ready event in {events:?}"))
}

// ---- CURVE ---------------------------------------------------------------------------

#[test]
fn curve_handshake_bytes() {
    let k = long_term();
    let (c, s, [ccalls, scalls]) = curve_configs(&k);
    let mut w = Wire::new(c, s);
    w.pump();
    let e = curve_expect(&k);
    assert_eq!(*ccalls.lock().unwrap(), [32, 16], "client random draws");
    assert_eq!(
        *scalls.lock().unwrap(),
        [32, 32, 16, 16],
        "server random draws"
    );

    let c2s = w.take_c2s();
    let s2c = w.take_s2c();
    let want_c2s = [
        greeting("CURVE", false),
        frame(0x04, &e.hello),
        frame(0x06 /* command, long */, &e.initiate),
    ]
    .concat();
    let want_s2c = [
        greeting("CURVE", true),
        frame(0x04, &e.welcome),
        frame(0x04, &e.ready),
    ]
    .concat();
    // Frame by frame first, for readable failures.
    assert_bytes(
        "client greeting",
        &want_c2s[..64],
        &c2s[..64.min(c2s.len())],
    );
    assert_bytes(
        "server greeting",
        &want_s2c[..64],
        &s2c[..64.min(s2c.len())],
    );
    assert_bytes(
        "HELLO",
        &frame(0x04, &e.hello),
        &c2s[64..(64 + 202).min(c2s.len())],
    );
    assert_bytes(
        "WELCOME",
        &frame(0x04, &e.welcome),
        &s2c[64..(64 + 170).min(s2c.len())],
    );
    assert_bytes("client stream (HELLO, INITIATE)", &want_c2s, &c2s);
    assert_bytes("server stream (WELCOME, READY)", &want_s2c, &s2c);

    assert!(w.client.is_ready() && w.server.is_ready());
    assert!(w.client.is_encrypted() && w.server.is_encrypted());
    let sp = ready_info(&w.s_events);
    assert_eq!(sp.socket_type, SocketType::Dealer);
    assert_eq!(sp.mechanism, Mechanism::Curve);
    let cp = ready_info(&w.c_events);
    assert_eq!(cp.socket_type, SocketType::Router);
    assert_eq!(cp.mechanism, Mechanism::Curve);
}

#[test]
fn curve_message_bytes() {
    let k = long_term();
    let (c, s, _) = curve_configs(&k);
    let mut w = Wire::new(c, s);
    w.pump();
    let e = curve_expect(&k);
    w.take_c2s();
    w.take_s2c();
    w.c_events.clear();
    w.s_events.clear();

    // Client short nonces: HELLO 1, INITIATE 2, so messages start at 3; the server's:
    // READY 1, messages from 2. MORE travels inside the box; the frame flags stay 0.
    let long = vec![0xA5u8; 300];
    w.client.send_message(&Message::from(vec![
        Bytes::from_static(b"a"),
        Bytes::from_static(b"bc"),
        Bytes::from(long.clone()),
    ]));
    w.client.send_ping(10, Bytes::from_static(b"xy"));
    w.client
        .send_subscription(true, &Bytes::from_static(b"topic"));
    let got = take(&mut w.client);
    let want = [
        message_frame(true, &e, 3, 0x01, b"a"),
        message_frame(true, &e, 4, 0x01, b"bc"),
        message_frame(true, &e, 5, 0x00, &long),
        message_frame(true, &e, 6, 0x02, b"\x04PING\x00\x0axy"),
        message_frame(true, &e, 7, 0x02, b"\x09SUBSCRIBEtopic"),
    ];
    assert_bytes(
        "first MESSAGE",
        &want[0],
        &got[..want[0].len().min(got.len())],
    );
    // The 300-byte frame's MESSAGE is long: flags 0x02 (LONG) and a 64-bit size.
    assert_eq!(want[2][0], 0x02);
    assert_bytes("client MESSAGE frames", &want.concat(), &got);

    // The server opens them all, and answers the PING (PONG is encrypted, nonce 3 after
    // its own message with nonce 2).
    w.server.send_message(&Message::from("r"));
    let mut buf = BytesMut::from(&got[..]);
    w.server.handle_input(&mut buf).unwrap();
    assert!(buf.is_empty());
    let events: Vec<Event> = std::iter::from_fn(|| w.server.poll_event()).collect();
    assert_eq!(
        events,
        [
            Event::Message(Message::from(vec![
                Bytes::from_static(b"a"),
                Bytes::from_static(b"bc"),
                Bytes::from(long),
            ])),
            Event::Ping { ttl: 10 },
            Event::Subscribe(Bytes::from_static(b"topic")),
        ]
    );
    let got = take(&mut w.server);
    let want = [
        message_frame(false, &e, 2, 0x00, b"r"),
        message_frame(false, &e, 3, 0x02, b"\x04PONGxy"),
    ]
    .concat();
    assert_bytes("server MESSAGE frames", &want, &got);
    let mut buf = BytesMut::from(&got[..]);
    w.client.handle_input(&mut buf).unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| w.client.poll_event()).collect();
    assert_eq!(events, [Event::Message(Message::from("r")), Event::Pong]);
}

/// The client's boxes open with the test's own keys: a check of the test's layouts that
/// does not go through the comparison above.
#[test]
fn curve_boxes_open_independently() {
    let k = long_term();
    let (c, s, _) = curve_configs(&k);
    let mut w = Wire::new(c, s);
    w.pump();
    let e = curve_expect(&k);
    let c2s = w.take_c2s();
    let hello = &c2s[66..266];
    assert_eq!(&hello[..6], b"\x05HELLO");
    assert_eq!(&hello[6..8], [1, 0], "version 1.0");
    assert!(hello[8..80].iter().all(|&b| b == 0), "72 bytes of padding");
    assert_eq!(hello[80..112], e.cn_public, "C'");
    assert_eq!(hello[112..120], short(1), "nonce 1");
    let plain = open(
        &e.cn_public,
        &k.server_secret,
        &nonce(b"CurveZMQHELLO---", &short(1)),
        &hello[120..],
    )
    .expect("HELLO box opens with (C', s)");
    assert_eq!(plain, [0u8; 64]);
}

/// `PeerInfo::curve_public_key` is documented as the CURVE client's key whenever we are
/// the CURVE server, but it is only filled in when a ZAP handler runs.
#[test]
fn curve_public_key_without_zap() {
    let k = long_term();
    let (c, s, _) = curve_configs(&k);
    let mut w = Wire::new(c, s);
    w.pump();
    assert_eq!(
        ready_info(&w.s_events).curve_public_key,
        Some(k.client_public)
    );
}

fn curve_zap_wire() -> (Wire, LongTerm) {
    let k = long_term();
    let (c, mut s, _) = curve_configs(&k);
    s.zap_domain = Some("dom".into());
    s.peer_address = "192.0.2.7".into();
    s.routing_id = Bytes::from_static(b"srv");
    (Wire::new(c, s), k)
}

#[test]
fn curve_zap_request_and_allow() {
    let (mut w, k) = curve_zap_wire();
    w.pump();
    // Stopped after INITIATE: READY waits for the verdict.
    assert!(!w.server.is_ready() && !w.client.is_ready());
    let zaps: Vec<&ZapRequest> = w
        .s_events
        .iter()
        .filter_map(|e| match e {
            Event::Zap(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        zaps,
        [&ZapRequest {
            domain: "dom".into(),
            address: "192.0.2.7".into(),
            // libzmq's ZAP identity frame: the server socket's own routing id.
            routing_id: Bytes::from_static(b"srv"),
            mechanism: Mechanism::Curve,
            credentials: vec![Bytes::copy_from_slice(&k.client_public)],
        }]
    );
    let s2c = w.take_s2c();
    // The server's greeting padding carries its 3-byte routing id length + 1.
    assert_eq!(s2c[..10], [0xFF, 0, 0, 0, 0, 0, 0, 0, 4, 0x7F]);
    assert_eq!(s2c.len(), 64 + 170, "greeting and WELCOME only: {s2c:02x?}");
    w.server.handle_zap_reply(ZapReply::allow("alice")).unwrap();
    w.pump();
    assert!(w.server.is_ready() && w.client.is_ready());
    let sp = ready_info(&w.s_events);
    assert_eq!(sp.user_id.as_deref(), Some("alice"));
    assert_eq!(sp.curve_public_key, Some(k.client_public));
}

#[test]
fn curve_zap_deny_sends_error_400() {
    let (mut w, _) = curve_zap_wire();
    w.pump();
    w.take_s2c();
    let r = w.server.handle_zap_reply(ZapReply::deny("no"));
    assert!(
        matches!(r, Err(ProtocolError::Auth(ref m)) if m.starts_with("400")),
        "{r:?}"
    );
    // ERROR goes in clear: the handshake never finished.
    let err = take(&mut w.server);
    assert_bytes("ERROR 400", &command("ERROR", &[b"\x03400"]), &err);
    let r = w.client.handle_input(&mut BytesMut::from(&err[..]));
    assert!(
        matches!(r, Err(ProtocolError::Auth(ref m)) if m == "400"),
        "{r:?}"
    );
}

// ---- PLAIN ---------------------------------------------------------------------------

fn plain_wire() -> Wire {
    let mut c = Config::new(SocketType::Dealer);
    c.security = Security::PlainClient {
        username: Bytes::from_static(b"admin"),
        password: Bytes::from_static(b"secret"),
    };
    let mut s = Config::new(SocketType::Router);
    s.security = Security::PlainServer;
    s.zap_domain = Some("global".into());
    s.peer_address = "127.0.0.1".into();
    Wire::new(c, s)
}

#[test]
fn plain_handshake_bytes_and_zap() {
    let mut w = plain_wire();
    w.pump();
    // HELLO: name, then length-prefixed user name and password.
    assert_bytes(
        "client greeting + HELLO",
        &[
            greeting("PLAIN", false),
            command("HELLO", &[b"\x05admin", b"\x06secret"]),
        ]
        .concat(),
        &w.take_c2s(),
    );
    assert_bytes("server greeting", &greeting("PLAIN", true), &w.take_s2c());
    let zap: Vec<&Event> = w
        .s_events
        .iter()
        .filter(|e| matches!(e, Event::Zap(_)))
        .collect();
    assert_eq!(
        zap,
        [&Event::Zap(ZapRequest {
            domain: "global".into(),
            address: "127.0.0.1".into(),
            routing_id: Bytes::new(),
            mechanism: Mechanism::Plain,
            credentials: vec![Bytes::from_static(b"admin"), Bytes::from_static(b"secret")],
        })]
    );
    w.server.handle_zap_reply(ZapReply::allow("admin")).unwrap();
    w.pump();
    assert_bytes(
        "WELCOME, READY",
        &[command("WELCOME", &[]), command("READY", &[&router_md()])].concat(),
        &w.take_s2c(),
    );
    assert_bytes(
        "INITIATE",
        &command("INITIATE", &[&dealer_md()]),
        &w.take_c2s(),
    );
    assert!(w.client.is_ready() && w.server.is_ready());
    assert!(!w.client.is_encrypted() && !w.server.is_encrypted());
    let sp = ready_info(&w.s_events);
    assert_eq!(sp.mechanism, Mechanism::Plain);
    assert_eq!(sp.user_id.as_deref(), Some("admin"));
    // Messages are not encrypted with PLAIN.
    w.client.send_message(&Message::from(["a", "b"]));
    assert_eq!(take(&mut w.client), b"\x01\x01a\x00\x01b");
}

#[test]
fn plain_zap_deny_sends_error_400() {
    let mut w = plain_wire();
    w.pump();
    w.take_s2c();
    let r = w
        .server
        .handle_zap_reply(ZapReply::deny("invalid password"));
    assert!(
        matches!(r, Err(ProtocolError::Auth(ref m)) if m.starts_with("400")),
        "{r:?}"
    );
    let err = take(&mut w.server);
    assert_bytes("ERROR 400", &command("ERROR", &[b"\x03400"]), &err);
    let r = w.client.handle_input(&mut BytesMut::from(&err[..]));
    assert!(
        matches!(r, Err(ProtocolError::Auth(ref m)) if m == "400"),
        "{r:?}"
    );
}

#[test]
fn plain_without_zap_accepts() {
    let mut c = Config::new(SocketType::Req);
    c.security = Security::PlainClient {
        username: Bytes::new(),
        password: Bytes::new(),
    };
    let mut s = Config::new(SocketType::Rep);
    s.security = Security::PlainServer;
    let mut w = Wire::new(c, s);
    w.pump();
    // Empty credentials are two zero length bytes.
    assert_bytes(
        "HELLO",
        &command("HELLO", &[b"\x00\x00"]),
        &w.take_c2s()[64..66 + 8],
    );
    assert_bytes(
        "WELCOME, READY",
        &[
            greeting("PLAIN", true),
            command("WELCOME", &[]),
            command("READY", &[&metadata(&[("Socket-Type", b"REP")])]),
        ]
        .concat(),
        &w.take_s2c(),
    );
    assert!(w.client.is_ready() && w.server.is_ready());
    assert_eq!(ready_info(&w.s_events).user_id, None);
}
