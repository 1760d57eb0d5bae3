//! Hostile input to the PLAIN and CURVE mechanisms: after a CURVE handshake, a plaintext
//! frame, a replayed or reordered MESSAGE nonce, a tampered box; during the handshake,
//! truncated and oversize commands (HELLO of 199 and 201 bytes, a HELLO without its
//! 72-byte padding, a bad CURVE version, WELCOME not 168 bytes, INITIATE under 257 bytes),
//! commands out of order, and malformed PLAIN commands; CURVE public keys of low order
//! (refused, as libsodium refuses their all-zero shared secret); a real client's HELLO
//! and INITIATE recorded and replayed on a new connection.
//!
//! Each is checked on the sans-I/O [`Connection`] (the input is refused with an error, no
//! panic), and the CURVE ones also over TCP against a bound socket: the hostile connection
//! is closed while a good client on the same socket keeps working.

mod support;

use std::time::{Duration, Instant};

use aiozmq::zmtp::{Config, Connection, Event, ProtocolError, Security, SocketType};
use aiozmq::{EventKind, Message, Socket};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const T: Duration = Duration::from_secs(5);

struct Keys {
    server_public: [u8; 32],
    server_secret: [u8; 32],
    client_public: [u8; 32],
    client_secret: [u8; 32],
}

fn raw(z85: &str) -> [u8; 32] {
    aiozmq::zmtp::z85::decode(z85).unwrap().try_into().unwrap()
}

fn keys() -> Keys {
    let (sp, ss) = aiozmq::curve_keypair();
    let (cp, cs) = aiozmq::curve_keypair();
    Keys {
        server_public: raw(&sp),
        server_secret: raw(&ss),
        client_public: raw(&cp),
        client_secret: raw(&cs),
    }
}

fn curve_client(k: &Keys, st: SocketType) -> Config {
    let mut c = Config::new(st);
    c.security = Security::CurveClient {
        server_key: k.server_public,
        public_key: k.client_public,
        secret_key: k.client_secret,
    };
    c
}

fn curve_server(k: &Keys, st: SocketType) -> Config {
    let mut c = Config::new(st);
    c.security = Security::CurveServer {
        public_key: k.server_public,
        secret_key: k.server_secret,
    };
    c
}

fn take(c: &mut Connection) -> Vec<u8> {
    let v = c.transmit().to_vec();
    let n = c.transmit().len();
    c.transmit().advance(n);
    v
}

/// A frame: short form up to 255 bytes, else LONG.
fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    if body.len() <= 255 {
        f.extend_from_slice(&[flags, body.len() as u8]);
    } else {
        f.push(flags | 0x02);
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
    }
    f.extend_from_slice(body);
    f
}

/// Splits one frame off the front of `bytes`: (flags, body, rest).
fn split_frame(bytes: &[u8]) -> (u8, &[u8], &[u8]) {
    let flags = bytes[0];
    let (len, hdr) = if flags & 0x02 != 0 {
        (
            u64::from_be_bytes(bytes[1..9].try_into().unwrap()) as usize,
            9,
        )
    } else {
        (bytes[1] as usize, 2)
    };
    (flags, &bytes[hdr..hdr + len], &bytes[hdr + len..])
}

/// Feeds `bytes` to `c`; returns its verdict and the events it produced.
fn feed(c: &mut Connection, bytes: &[u8]) -> (Result<(), ProtocolError>, Vec<Event>) {
    let mut buf = BytesMut::from(bytes);
    let r = c.handle_input(&mut buf);
    (r, std::iter::from_fn(|| c.poll_event()).collect())
}

#[track_caller]
fn assert_refused(what: &str, r: Result<(), ProtocolError>) -> ProtocolError {
    match r {
        Err(e) => e,
        Ok(()) => panic!("{what}: accepted"),
    }
}

/// Runs a handshake step by step. `tamper` may rewrite any command frame one side sends
/// (it gets the sender, "client" or "server", and the frame body); the first error is
/// returned with the side that reported it.
fn handshake_with(
    client: Config,
    server: Config,
    mut tamper: impl FnMut(&str, Vec<u8>) -> Vec<u8>,
) -> Result<(Connection, Connection), (&'static str, ProtocolError)> {
    let mut c = Connection::new(client, Instant::now());
    let mut s = Connection::new(server, Instant::now());
    // Greetings in clear, as they are.
    let mut c_in = BytesMut::new();
    let mut s_in = BytesMut::new();
    let mut c_greeted = 0usize;
    let mut s_greeted = 0usize;
    for _ in 0..32 {
        let mut a = take(&mut c);
        let mut b = take(&mut s);
        if a.is_empty() && b.is_empty() {
            return Ok((c, s));
        }
        a = rewrite(&mut c_greeted, a, |body| tamper("client", body));
        b = rewrite(&mut s_greeted, b, |body| tamper("server", body));
        s_in.extend_from_slice(&a);
        c_in.extend_from_slice(&b);
        s.handle_input(&mut s_in).map_err(|e| ("server", e))?;
        c.handle_input(&mut c_in).map_err(|e| ("client", e))?;
        while s.poll_event().is_some() {}
        while c.poll_event().is_some() {}
    }
    panic!("handshake never went quiet");
}

/// Passes the first 64 greeting bytes unchanged and every later (whole) frame through `f`.
fn rewrite(greeted: &mut usize, bytes: Vec<u8>, mut f: impl FnMut(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let g = (64 - *greeted).min(bytes.len());
    *greeted += g;
    let mut out = bytes[..g].to_vec();
    let mut rest = &bytes[g..];
    while !rest.is_empty() {
        let (flags, body, more) = split_frame(rest);
        let body = if flags & 0x04 != 0 {
            f(body.to_vec())
        } else {
            body.to_vec()
        };
        out.extend_from_slice(&frame(flags & !0x02, &body));
        rest = more;
    }
    out
}

fn curve_pair() -> (Connection, Connection) {
    let k = keys();
    handshake_with(
        curve_client(&k, SocketType::Dealer),
        curve_server(&k, SocketType::Router),
        |_, b| b,
    )
    .unwrap_or_else(|(who, e)| panic!("{who}: {e}"))
}

/// A CURVE handshake in which the `name` command sent by `side` is replaced by `f(body)`:
/// the error must come from the other side and be a refusal.
#[track_caller]
fn curve_tampered(side: &str, name: &[u8], f: impl Fn(Vec<u8>) -> Vec<u8>) -> ProtocolError {
    let k = keys();
    let mut hit = false;
    let r = handshake_with(
        curve_client(&k, SocketType::Dealer),
        curve_server(&k, SocketType::Router),
        |who, body| {
            if who == side && body.get(1..1 + name.len()) == Some(name) {
                hit = true;
                f(body)
            } else {
                body
            }
        },
    );
    assert!(hit, "no {} from the {side}", String::from_utf8_lossy(name));
    match r {
        Ok(_) => panic!("tampered {} accepted", String::from_utf8_lossy(name)),
        Err((who, e)) => {
            assert_ne!(who, side, "the {side} failed on its own command: {e}");
            e
        }
    }
}

// ---- sans-I/O: during the CURVE handshake --------------------------------------------

#[test]
fn hello_of_199_and_201_bytes() {
    let _panics = support::check_library_panics();
    let e = curve_tampered("client", b"HELLO", |mut b| {
        assert_eq!(b.len(), 200);
        b.pop();
        b
    });
    assert!(matches!(e, ProtocolError::MalformedCommand("HELLO")), "{e}");
    let e = curve_tampered("client", b"HELLO", |mut b| {
        b.push(0);
        b
    });
    assert!(matches!(e, ProtocolError::MalformedCommand("HELLO")), "{e}");
}

#[test]
fn hello_without_padding() {
    let _panics = support::check_library_panics();
    let e = curve_tampered("client", b"HELLO", |b| {
        // name + version, then straight to C', nonce and box: 128 bytes.
        [&b[..8], &b[80..]].concat()
    });
    assert!(matches!(e, ProtocolError::MalformedCommand("HELLO")), "{e}");
}

#[test]
fn hello_bad_version() {
    let _panics = support::check_library_panics();
    for (major, minor) in [(2, 0), (1, 1), (0, 0)] {
        let e = curve_tampered("client", b"HELLO", |mut b| {
            b[6] = major;
            b[7] = minor;
            b
        });
        assert!(
            matches!(e, ProtocolError::MalformedCommand("HELLO")),
            "{major}.{minor}: {e}"
        );
    }
}

#[test]
fn hello_tampered_box_or_key() {
    let _panics = support::check_library_panics();
    // A flipped bit in the box.
    let e = curve_tampered("client", b"HELLO", |mut b| {
        b[150] ^= 1;
        b
    });
    assert!(matches!(e, ProtocolError::Auth(_)), "{e}");
    // A different C' than the one the box was made with.
    let e = curve_tampered("client", b"HELLO", |mut b| {
        b[80] ^= 1;
        b
    });
    assert!(matches!(e, ProtocolError::Auth(_)), "{e}");
}

#[test]
fn welcome_not_168_bytes() {
    let _panics = support::check_library_panics();
    for delta in [-1i32, 1, -100] {
        let e = curve_tampered("server", b"WELCOME", |mut b| {
            assert_eq!(b.len(), 168);
            if delta > 0 {
                b.push(0);
            } else {
                b.truncate((168 + delta) as usize);
            }
            b
        });
        assert!(
            matches!(e, ProtocolError::MalformedCommand("WELCOME")),
            "{delta}: {e}"
        );
    }
    let e = curve_tampered("server", b"WELCOME", |mut b| {
        b[100] ^= 0x80;
        b
    });
    assert!(matches!(e, ProtocolError::Auth(_)), "{e}");
}

#[test]
fn initiate_under_257_bytes() {
    let _panics = support::check_library_panics();
    for len in [256, 200, 113, 9] {
        let e = curve_tampered("client", b"INITIATE", |mut b| {
            assert!(b.len() >= 257);
            b.truncate(len);
            b
        });
        assert!(
            matches!(e, ProtocolError::MalformedCommand("INITIATE")),
            "{len}: {e}"
        );
    }
}

#[test]
fn initiate_tampered_cookie_nonce_or_box() {
    let _panics = support::check_library_panics();
    // Cookie (9..105), short nonce (105..113), box (113..).
    for at in [20, 100, 110, 200] {
        let e = curve_tampered("client", b"INITIATE", |mut b| {
            b[at] ^= 0x01;
            b
        });
        assert!(matches!(e, ProtocolError::Auth(_)), "byte {at}: {e}");
    }
    // The nonce must be above HELLO's (1): an INITIATE reusing nonce 1 is refused even
    // before its box is tried.
    let e = curve_tampered("client", b"INITIATE", |mut b| {
        b[105..113].copy_from_slice(&1u64.to_be_bytes());
        b
    });
    assert!(matches!(e, ProtocolError::Auth(_)), "{e}");
}

#[test]
fn ready_tampered_or_short() {
    let _panics = support::check_library_panics();
    let e = curve_tampered("server", b"READY", |mut b| {
        let n = b.len();
        b[n - 1] ^= 1;
        b
    });
    assert!(matches!(e, ProtocolError::Auth(_)), "{e}");
    let e = curve_tampered("server", b"READY", |mut b| {
        b.truncate(20);
        b
    });
    assert!(matches!(e, ProtocolError::MalformedCommand(_)), "{e}");
}

#[test]
fn curve_commands_out_of_order() {
    let _panics = support::check_library_panics();
    let k = keys();
    // A server that gets INITIATE (or WELCOME, READY, MESSAGE) instead of HELLO.
    for name in ["INITIATE", "WELCOME", "READY", "MESSAGE", "PING"] {
        let mut s = Connection::new(curve_server(&k, SocketType::Router), Instant::now());
        let mut body = vec![name.len() as u8];
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(&[0u8; 300]);
        let mut input = greeting_of(&curve_client(&k, SocketType::Dealer));
        input.extend_from_slice(&frame(0x04, &body));
        let (r, _) = feed(&mut s, &input);
        assert_refused(name, r);
    }
    // A second HELLO after WELCOME went out.
    let mut first = None;
    let r = handshake_with(
        curve_client(&k, SocketType::Dealer),
        curve_server(&k, SocketType::Router),
        |who, body| {
            if who == "client" && body.starts_with(b"\x05HELLO") {
                first = Some(body.clone());
            }
            if who == "client" && body.starts_with(b"\x08INITIATE") {
                return first.clone().unwrap();
            }
            body
        },
    );
    assert!(matches!(
        r,
        Err(("server", ProtocolError::UnexpectedCommand(_)))
    ));
    // A message frame before the handshake is done.
    let mut s = Connection::new(curve_server(&k, SocketType::Router), Instant::now());
    let mut input = greeting_of(&curve_client(&k, SocketType::Dealer));
    input.extend_from_slice(&frame(0x00, b"hello"));
    let (r, _) = feed(&mut s, &input);
    assert!(matches!(r, Err(ProtocolError::MessageBeforeReady)), "{r:?}");
}

/// The 64-byte greeting a connection with `cfg` sends.
fn greeting_of(cfg: &Config) -> Vec<u8> {
    let mut c = Connection::new(cfg.clone(), Instant::now());
    let mut peer = Connection::new(cfg.clone(), Instant::now());
    // Let it stage through: signature, major, rest.
    let mut out = take(&mut c);
    let sig = take(&mut peer);
    c.handle_input(&mut BytesMut::from(&sig[..])).unwrap();
    out.extend(take(&mut c));
    c.handle_input(&mut BytesMut::from(&[3u8][..])).unwrap();
    out.extend(take(&mut c));
    assert_eq!(out.len(), 64);
    out
}

/// Public keys of low order on Curve25519 (u = 0, 1, the two points of order 8, and p - 1,
/// p, p + 1 in non-canonical form): X25519 with any of them gives an all-zero secret.
fn low_order_keys() -> Vec<[u8; 32]> {
    let hex = |s: &str| -> [u8; 32] {
        (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .try_into()
            .unwrap()
    };
    [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]
    .iter()
    .map(|s| hex(s))
    .collect()
}

#[track_caller]
fn assert_low_order_refusal(what: &str, e: &ProtocolError) {
    assert!(
        matches!(e, ProtocolError::Auth(m) if m.contains("low order")),
        "{what}: {e}"
    );
}

#[test]
fn hello_with_a_low_order_short_term_key() {
    let _panics = support::check_library_panics();
    for key in low_order_keys() {
        let e = curve_tampered("client", b"HELLO", |mut b| {
            b[80..112].copy_from_slice(&key);
            b
        });
        assert_low_order_refusal(&format!("C' = {key:02x?}"), &e);
    }
}

#[test]
fn initiate_with_a_low_order_long_term_key() {
    let _panics = support::check_library_panics();
    let k = keys();
    for key in low_order_keys() {
        // The client vouches with its own secret key but names a low-order public key:
        // the server refuses the key itself, before anything is boxed under it.
        let mut client = curve_client(&k, SocketType::Dealer);
        if let Security::CurveClient { public_key, .. } = &mut client.security {
            *public_key = key;
        }
        match handshake_with(client, curve_server(&k, SocketType::Router), |_, b| b) {
            Ok(_) => panic!("C = {key:02x?} accepted"),
            Err((who, e)) => {
                assert_eq!(who, "server", "{e}");
                assert_low_order_refusal(&format!("C = {key:02x?}"), &e);
            }
        }
    }
}

#[test]
fn client_with_a_low_order_server_key() {
    let _panics = support::check_library_panics();
    let k = keys();
    for key in low_order_keys() {
        let mut client = curve_client(&k, SocketType::Dealer);
        if let Security::CurveClient { server_key, .. } = &mut client.security {
            *server_key = key;
        }
        match handshake_with(client, curve_server(&k, SocketType::Router), |_, b| b) {
            Ok(_) => panic!("S = {key:02x?} accepted"),
            Err((who, e)) => {
                assert_eq!(who, "client", "{e}");
                assert_low_order_refusal(&format!("S = {key:02x?}"), &e);
            }
        }
    }
}

// ---- sans-I/O: after the CURVE handshake ---------------------------------------------

#[test]
fn plaintext_frame_after_handshake() {
    let _panics = support::check_library_panics();
    for bytes in [
        frame(0x00, b"hello"),
        frame(0x01, b"more"),
        frame(0x04, b"\x04PING\x00\x00"),
        frame(0x00, b"\x07MESSAGE"),
        frame(0x00, b""),
    ] {
        let (_, mut s) = curve_pair();
        let (r, ev) = feed(&mut s, &bytes);
        assert_refused(&format!("{bytes:02x?}"), r);
        assert!(ev.is_empty(), "{ev:?}");
    }
}

#[test]
fn replayed_message_nonce() {
    let _panics = support::check_library_panics();
    let (mut c, mut s) = curve_pair();
    c.send_message(&Message::from("once"));
    let m = take(&mut c);
    let (r, ev) = feed(&mut s, &m);
    r.unwrap();
    assert_eq!(ev, [Event::Message(Message::from("once"))]);
    let (r, ev) = feed(&mut s, &m);
    let e = assert_refused("replay", r);
    assert!(matches!(e, ProtocolError::Auth(_)), "{e}");
    assert!(ev.is_empty());
    // Dead: nothing more is taken, even a good frame.
    c.send_message(&Message::from("later"));
    let (r, ev) = feed(&mut s, &take(&mut c));
    assert!(r.is_ok() && ev.is_empty(), "{r:?} {ev:?}");
}

#[test]
fn reordered_message_nonce() {
    let _panics = support::check_library_panics();
    let (mut c, mut s) = curve_pair();
    c.send_message(&Message::from("first"));
    let m1 = take(&mut c);
    c.send_message(&Message::from("second"));
    let m2 = take(&mut c);
    let (r, ev) = feed(&mut s, &m2);
    r.unwrap();
    assert_eq!(ev, [Event::Message(Message::from("second"))]);
    let (r, _) = feed(&mut s, &m1);
    assert!(matches!(r, Err(ProtocolError::Auth(_))), "{r:?}");
}

#[test]
fn skipped_nonce_is_accepted() {
    let _panics = support::check_library_panics();
    // Strictly increasing, not consecutive: a gap is fine (libzmq checks the same).
    let (mut c, mut s) = curve_pair();
    c.send_message(&Message::from("lost"));
    let _dropped = take(&mut c);
    c.send_message(&Message::from("kept"));
    let (r, ev) = feed(&mut s, &take(&mut c));
    r.unwrap();
    assert_eq!(ev, [Event::Message(Message::from("kept"))]);
}

/// A CURVE pair with fixed keys and a fixed random source: every call makes the same
/// two connections, so a frame one pair's client made opens at another pair's server.
fn fixed_pair() -> (Connection, Connection) {
    let k = Keys {
        server_public: aiozmq::zmtp::mechanism::curve::public_from_secret(&[7; 32]),
        server_secret: [7; 32],
        client_public: aiozmq::zmtp::mechanism::curve::public_from_secret(&[9; 32]),
        client_secret: [9; 32],
    };
    let rng = |seed: u8| -> aiozmq::zmtp::mechanism::RandomSource {
        let n = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(seed));
        std::sync::Arc::new(move |buf: &mut [u8]| {
            for b in buf {
                *b = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let mut c = curve_client(&k, SocketType::Dealer);
    c.rng = Some(rng(1));
    let mut s = curve_server(&k, SocketType::Router);
    s.rng = Some(rng(100));
    handshake_with(c, s, |_, b| b).unwrap_or_else(|(who, e)| panic!("{who}: {e}"))
}

#[test]
fn tampered_message_box() {
    let _panics = support::check_library_panics();
    let (mut c, _) = fixed_pair();
    c.send_message(&Message::from("payload!"));
    let good = take(&mut c);
    let (_, mut s) = fixed_pair();
    let (r, ev) = feed(&mut s, &good);
    r.unwrap();
    assert_eq!(
        ev,
        [Event::Message(Message::from("payload!"))],
        "the control"
    );
    // Frame: header (2), "\x07MESSAGE" (8), nonce (8), tag (16), flags (1), body. A
    // flipped bit in the nonce, the tag, the flags or the body must be refused (each try
    // needs a fresh handshake, so a sample of positions).
    assert_eq!(good.len(), 2 + 8 + 8 + 16 + 1 + 8);
    for at in [10, 17, 18, 25, 33, 34, 35, 42] {
        let (_, mut s) = fixed_pair();
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let (r, ev) = feed(&mut s, &bad);
        assert!(
            matches!(r, Err(ProtocolError::Auth(_))),
            "byte {at}: {r:?} {ev:?}"
        );
    }
    // Truncated: too short to hold nonce, tag and flags, or cut inside the box.
    let (_, body, _) = split_frame(&good);
    for keep in [0, 8, 16, 32, body.len() - 1] {
        let (_, mut s) = fixed_pair();
        let (r, _) = feed(&mut s, &frame(0x00, &body[..keep]));
        assert_refused(&format!("MESSAGE cut to {keep}"), r);
    }
}

#[test]
fn message_from_another_connection_does_not_open() {
    let _panics = support::check_library_panics();
    let (mut c1, _) = curve_pair();
    let (_, mut s2) = curve_pair();
    c1.send_message(&Message::from("x"));
    let (r, _) = feed(&mut s2, &take(&mut c1));
    assert!(matches!(r, Err(ProtocolError::Auth(_))), "{r:?}");
}

// ---- sans-I/O: PLAIN -----------------------------------------------------------------

fn plain_server_input(hello_body: &[u8]) -> Result<(), ProtocolError> {
    let mut s = Config::new(SocketType::Router);
    s.security = Security::PlainServer;
    let mut c = Config::new(SocketType::Dealer);
    c.security = Security::PlainClient {
        username: Bytes::from_static(b"u"),
        password: Bytes::from_static(b"p"),
    };
    let mut conn = Connection::new(s, Instant::now());
    let mut input = greeting_of(&c);
    input.extend_from_slice(&frame(0x04, hello_body));
    feed(&mut conn, &input).0
}

#[test]
fn plain_malformed_hello() {
    let _panics = support::check_library_panics();
    assert!(plain_server_input(b"\x05HELLO\x01u\x01p").is_ok());
    for (what, body) in [
        ("no lengths", &b"\x05HELLO"[..]),
        ("user name past the end", b"\x05HELLO\x05ab"),
        ("no password length", b"\x05HELLO\x01u"),
        ("password past the end", b"\x05HELLO\x01u\x05p"),
        ("trailing bytes", b"\x05HELLO\x01u\x01pX"),
        ("a WELCOME instead", b"\x07WELCOME"),
        ("INITIATE first", b"\x08INITIATE"),
    ] {
        let r = plain_server_input(body);
        assert!(r.is_err(), "{what}: accepted");
    }
}

#[test]
fn plain_welcome_with_data_and_bad_ready() {
    let _panics = support::check_library_panics();
    let mut cfg = Config::new(SocketType::Dealer);
    cfg.security = Security::PlainClient {
        username: Bytes::from_static(b"u"),
        password: Bytes::from_static(b"p"),
    };
    let mut server = Config::new(SocketType::Router);
    server.security = Security::PlainServer;
    for (what, body) in [
        ("WELCOME with data", &b"\x07WELCOMEx"[..]),
        ("READY before WELCOME", b"\x05READY"),
        ("HELLO to a client", b"\x05HELLO\x00\x00"),
    ] {
        let mut c = Connection::new(cfg.clone(), Instant::now());
        let mut input = greeting_of(&server);
        input.extend_from_slice(&frame(0x04, body));
        assert!(feed(&mut c, &input).0.is_err(), "{what}: accepted");
    }
}

// ---- over TCP ------------------------------------------------------------------------

/// A CURVE client driven through a sans-I/O [`Connection`] over a raw TCP stream, so that
/// the test can send any bytes once (or before) the handshake is done.
struct RawClient {
    stream: TcpStream,
    conn: Connection,
    rbuf: BytesMut,
}

impl RawClient {
    async fn connect(endpoint: &str, cfg: Config) -> RawClient {
        let addr = support::mock::tcp_addr(endpoint);
        let stream = tokio::time::timeout(T, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            conn: Connection::new(cfg, Instant::now()),
            rbuf: BytesMut::new(),
        }
    }

    async fn flush(&mut self) {
        let out = take(&mut self.conn);
        self.write(&out).await;
    }

    async fn write(&mut self, bytes: &[u8]) {
        tokio::time::timeout(T, self.stream.write_all(bytes))
            .await
            .expect("write timed out")
            .expect("write");
    }

    /// Runs the handshake until `until(conn)` holds, writing everything the connection
    /// produces.
    async fn drive(&mut self, until: impl Fn(&Connection) -> bool) {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            if until(&self.conn) {
                return;
            }
            self.flush().await;
            let n = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf))
                .await
                .expect("handshake step timed out")
                .expect("read");
            assert!(n > 0, "the server closed during the handshake");
            self.conn
                .handle_input(&mut self.rbuf)
                .unwrap_or_else(|e| panic!("raw client: {e}"));
            while self.conn.poll_event().is_some() {}
        }
    }

    /// Expects the server to close the connection (EOF or reset) within [`T`].
    async fn expect_closed(&mut self) {
        let deadline = tokio::time::Instant::now() + T;
        let mut sink = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut sink)).await {
                Err(_) => panic!("the server kept the hostile connection open"),
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {}
            }
        }
    }
}

/// A bound CURVE ROUTER with a good CURVE DEALER that checks the server still works.
struct Server {
    router: Socket,
    good: Socket,
    endpoint: String,
    keys: Keys,
    mon: aiozmq::Monitor,
    round: usize,
    raws: usize,
}

impl Server {
    async fn start() -> Server {
        support::record_library_panics();
        let keys = keys();
        let router = Socket::new(SocketType::Router);
        router.set_curve_server(true).unwrap();
        router.set_curve_secretkey(keys.server_secret).unwrap();
        let mon = router.monitor(1024);
        let endpoint = support::bind_any(&router).await;
        let good = Socket::new(SocketType::Dealer);
        good.set_routing_id("good").unwrap();
        good.set_curve_serverkey(keys.server_public).unwrap();
        good.set_curve_publickey(keys.client_public).unwrap();
        good.set_curve_secretkey(keys.client_secret).unwrap();
        support::connect(&good, &endpoint).await;
        let mut s = Server {
            router,
            good,
            endpoint,
            keys,
            mon,
            round: 0,
            raws: 0,
        };
        s.check_good().await;
        s
    }

    /// A round trip with the good client.
    async fn check_good(&mut self) {
        self.round += 1;
        let body = format!("ping {}", self.round);
        support::send(&self.good, body.clone(), "good client").await;
        let m = support::recv(&self.router, "router").await;
        assert_eq!(
            support::frames(&m),
            [b"good".to_vec(), body.clone().into_bytes()]
        );
        support::send(&self.router, m, "router reply").await;
        let r = support::recv(&self.good, "good client").await;
        assert_eq!(support::frames(&r), [body.into_bytes()]);
    }

    /// A raw client with its own routing id (`raw1`, `raw2`, ...), so that it never
    /// collides with a connection the ROUTER is still letting go of.
    async fn raw(&mut self) -> RawClient {
        self.raws += 1;
        let k = &self.keys;
        let mut cfg = curve_client(k, SocketType::Dealer);
        cfg.routing_id = Bytes::from(format!("raw{}", self.raws));
        RawClient::connect(&self.endpoint, cfg).await
    }

    /// Waits for the monitor to report the end of a connection.
    async fn expect_failure_event(&mut self) -> aiozmq::MonitorEvent {
        let kinds = [
            EventKind::HandshakeFailedAuth,
            EventKind::HandshakeFailedProtocol,
            EventKind::HandshakeFailedNoDetail,
            EventKind::Disconnected,
        ];
        tokio::time::timeout(T, async {
            loop {
                let ev = self.mon.recv().await.expect("monitor ended");
                if kinds.contains(&ev.kind) {
                    return ev;
                }
            }
        })
        .await
        .expect("no failure event")
    }

    async fn finish(self) {
        assert!(
            self.router.try_recv().is_err(),
            "a message from a hostile connection was delivered"
        );
        support::close(&self.good).await;
        support::close(&self.router).await;
        support::assert_no_library_panics();
    }
}

#[tokio::test]
async fn tcp_hostile_after_handshake() {
    let _panics = support::check_library_panics();
    let mut srv = Server::start().await;

    // Plaintext frame after the handshake.
    let mut raw = srv.raw().await;
    raw.drive(|c| c.is_ready()).await;
    raw.write(&frame(0x00, b"plaintext")).await;
    raw.expect_closed().await;
    let ev = srv.expect_failure_event().await;
    assert_eq!(ev.kind, EventKind::Disconnected, "{ev:?}");
    srv.check_good().await;

    // Replay: the first copy is delivered, the second ends the connection.
    let mut raw = srv.raw().await;
    raw.drive(|c| c.is_ready()).await;
    raw.conn.send_message(&Message::from("m1"));
    let m1 = take(&mut raw.conn);
    raw.write(&m1).await;
    let got = support::recv(&srv.router, "router").await;
    assert_eq!(support::frames(&got), [b"raw2".to_vec(), b"m1".to_vec()]);
    raw.write(&m1).await;
    raw.expect_closed().await;
    srv.expect_failure_event().await;
    srv.check_good().await;

    // Reordered nonces: the later message first, then the earlier one.
    let mut raw = srv.raw().await;
    raw.drive(|c| c.is_ready()).await;
    raw.conn.send_message(&Message::from("a"));
    let a = take(&mut raw.conn);
    raw.conn.send_message(&Message::from("b"));
    let b = take(&mut raw.conn);
    raw.write(&b).await;
    let got = support::recv(&srv.router, "router").await;
    assert_eq!(support::frames(&got), [b"raw3".to_vec(), b"b".to_vec()]);
    raw.write(&a).await;
    raw.expect_closed().await;
    srv.expect_failure_event().await;
    srv.check_good().await;

    // A tampered box.
    let mut raw = srv.raw().await;
    raw.drive(|c| c.is_ready()).await;
    raw.conn.send_message(&Message::from("tampered"));
    let mut m = take(&mut raw.conn);
    let last = m.len() - 1;
    m[last] ^= 0x01;
    raw.write(&m).await;
    raw.expect_closed().await;
    srv.expect_failure_event().await;
    srv.check_good().await;

    srv.finish().await;
}

/// Sends a handshake whose client command `name` is rewritten by `f`; the server must
/// close the connection.
async fn tcp_bad_client_command(srv: &mut Server, name: &[u8], f: impl Fn(Vec<u8>) -> Vec<u8>) {
    let mut raw = srv.raw().await;
    let wanted = name.to_vec();
    // Run until the command is produced (HELLO right after the greeting; INITIATE after
    // WELCOME), then send everything before it as is and the command rewritten.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let out = take(&mut raw.conn);
        if let Some(pos) = find_command(&out, &wanted) {
            raw.write(&out[..pos]).await;
            let (flags, body, rest) = split_frame(&out[pos..]);
            assert!(rest.is_empty());
            raw.write(&frame(flags & !0x02, &f(body.to_vec()))).await;
            break;
        }
        raw.write(&out).await;
        let n = tokio::time::timeout_at(deadline, raw.stream.read_buf(&mut raw.rbuf))
            .await
            .expect("handshake step timed out")
            .expect("read");
        assert!(n > 0, "closed before {}", String::from_utf8_lossy(name));
        raw.conn.handle_input(&mut raw.rbuf).unwrap();
    }
    raw.expect_closed().await;
    let ev = srv.expect_failure_event().await;
    assert!(
        matches!(
            ev.kind,
            EventKind::HandshakeFailedProtocol | EventKind::HandshakeFailedAuth
        ),
        "{ev:?}"
    );
    srv.check_good().await;
}

/// Where the command frame named `name` starts in `out` (which holds whole frames after
/// at most the 64 greeting bytes, which never contain a command name).
fn find_command(out: &[u8], name: &[u8]) -> Option<usize> {
    let mut needle = vec![name.len() as u8];
    needle.extend_from_slice(name);
    let at = out.windows(needle.len()).position(|w| w == &needle[..])?;
    // The frame header: 2 bytes short, 9 long.
    if at >= 9 && out[at - 9] & 0x06 == 0x06 {
        Some(at - 9)
    } else {
        Some(at - 2)
    }
}

#[tokio::test]
async fn tcp_hostile_handshake_commands() {
    let _panics = support::check_library_panics();
    let mut srv = Server::start().await;
    tcp_bad_client_command(&mut srv, b"HELLO", |mut b| {
        b.pop();
        b
    })
    .await;
    tcp_bad_client_command(&mut srv, b"HELLO", |mut b| {
        b.push(0);
        b
    })
    .await;
    tcp_bad_client_command(&mut srv, b"HELLO", |b| [&b[..8], &b[80..]].concat()).await;
    tcp_bad_client_command(&mut srv, b"HELLO", |mut b| {
        b[6] = 2;
        b
    })
    .await;
    // A short-term key of low order (u = 0).
    tcp_bad_client_command(&mut srv, b"HELLO", |mut b| {
        b[80..112].fill(0);
        b
    })
    .await;
    tcp_bad_client_command(&mut srv, b"INITIATE", |mut b| {
        b.truncate(256);
        b
    })
    .await;
    tcp_bad_client_command(&mut srv, b"INITIATE", |mut b| {
        b[50] ^= 1;
        b
    })
    .await;
    srv.finish().await;
}

/// Our CURVE client against a server that sends a WELCOME of the wrong size: the client
/// drops the connection and reports a failed handshake.
#[tokio::test]
async fn tcp_client_refuses_bad_welcome() {
    let _panics = support::check_library_panics();
    support::record_library_panics();
    let k = keys();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Socket::new(SocketType::Dealer);
    client.set_curve_serverkey(k.server_public).unwrap();
    client.set_curve_publickey(k.client_public).unwrap();
    client.set_curve_secretkey(k.client_secret).unwrap();
    client.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    client.set_linger(Duration::ZERO).unwrap();
    let mut mon = client.monitor(64);
    support::connect(&client, &format!("tcp://{addr}")).await;
    let (mut stream, _) = tokio::time::timeout(T, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut conn = Connection::new(curve_server(&k, SocketType::Router), Instant::now());
    let mut rbuf = BytesMut::new();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let out = take(&mut conn);
        if let Some(pos) = find_command(&out, b"WELCOME") {
            stream.write_all(&out[..pos]).await.unwrap();
            let (_, body, _) = split_frame(&out[pos..]);
            let mut bad = body.to_vec();
            bad.push(0);
            stream.write_all(&frame(0x04, &bad)).await.unwrap();
            break;
        }
        stream.write_all(&out).await.unwrap();
        let n = tokio::time::timeout_at(deadline, stream.read_buf(&mut rbuf))
            .await
            .expect("no HELLO")
            .unwrap();
        assert!(n > 0);
        conn.handle_input(&mut rbuf).unwrap();
    }
    let ev = tokio::time::timeout(T, async {
        loop {
            let ev = mon.recv().await.expect("monitor ended");
            if ev.kind == EventKind::HandshakeFailedProtocol {
                return ev;
            }
        }
    })
    .await
    .expect("no HANDSHAKE_FAILED_PROTOCOL");
    assert!(ev.reason.unwrap_or_default().contains("WELCOME"));
    // And the socket closed it.
    let mut sink = Vec::new();
    loop {
        match tokio::time::timeout(T, stream.read_buf(&mut sink)).await {
            Err(_) => panic!("our client kept the connection open"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
        }
    }
    support::close(&client).await;
    support::assert_no_library_panics();
}

/// A TCP proxy for one connection to `upstream`: forwards both ways and records every
/// byte the client sent. Returns its endpoint and the recording.
async fn recording_proxy(upstream: &str) -> (String, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("tcp://{}", listener.local_addr().unwrap());
    let upstream = support::mock::tcp_addr(upstream);
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = sent.clone();
    tokio::spawn(async move {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let Ok(server) = TcpStream::connect(upstream).await else {
            return;
        };
        let (mut client_rd, mut client_wr) = client.into_split();
        let (mut server_rd, mut server_wr) = server.into_split();
        let up = async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match client_rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        record.lock().unwrap().extend_from_slice(&buf[..n]);
                        if server_wr.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = server_wr.shutdown().await;
        };
        let down = async move {
            let _ = tokio::io::copy(&mut server_rd, &mut client_wr).await;
            let _ = client_wr.shutdown().await;
        };
        tokio::join!(up, down);
    });
    (endpoint, sent)
}

/// The greeting and the whole frames of a recorded client stream: (greeting, [(flags,
/// body)]).
fn recorded_frames(bytes: &[u8]) -> (Vec<u8>, Vec<(u8, Vec<u8>)>) {
    let mut frames = Vec::new();
    let mut rest = &bytes[64..];
    while !rest.is_empty() {
        let (flags, body, more) = split_frame(rest);
        frames.push((flags, body.to_vec()));
        rest = more;
    }
    (bytes[..64].to_vec(), frames)
}

/// The first frame of `bytes` when it is whole: (flags, body).
fn whole_frame(bytes: &[u8]) -> Option<(u8, Vec<u8>)> {
    let flags = *bytes.first()?;
    let (len, hdr) = if flags & 0x02 != 0 {
        (
            u64::from_be_bytes(bytes.get(1..9)?.try_into().unwrap()) as usize,
            9,
        )
    } else {
        (*bytes.get(1)? as usize, 2)
    };
    Some((flags, bytes.get(hdr..hdr + len)?.to_vec()))
}

/// The HANDSHAKE_FAILED_AUTH event of a replayed INITIATE: its cookie does not open under
/// the new connection's cookie key.
async fn expect_cookie_refusal(srv: &mut Server, what: &str) {
    let ev = srv.expect_failure_event().await;
    assert_eq!(ev.kind, EventKind::HandshakeFailedAuth, "{what}: {ev:?}");
    let reason = ev.reason.unwrap_or_default();
    assert!(reason.contains("cookie"), "{what}: {reason}");
}

/// A real CURVE client's HELLO, INITIATE and first MESSAGE, recorded by a proxy and
/// replayed verbatim on new connections to the same server (same long-term keys): all at
/// once, and the HELLO alone then the INITIATE after the new WELCOME. The server answers
/// the HELLO (a HELLO proves nothing and costs it one WELCOME) but refuses the INITIATE,
/// whose cookie was sealed under the first connection's cookie key; the recorded message is
/// never delivered again, each replaying connection is closed with a failed handshake, and
/// a legitimate client is served after each.
#[tokio::test]
async fn tcp_replayed_hello_and_initiate() {
    let _panics = support::check_library_panics();
    let mut srv = Server::start().await;
    let (proxy, recorded) = recording_proxy(&srv.endpoint).await;

    // The victim: a real CURVE client through the proxy, one message.
    let victim = Socket::new(SocketType::Dealer);
    victim.set_routing_id("victim").unwrap();
    victim.set_curve_serverkey(srv.keys.server_public).unwrap();
    victim.set_curve_publickey(srv.keys.client_public).unwrap();
    victim.set_curve_secretkey(srv.keys.client_secret).unwrap();
    support::connect(&victim, &proxy).await;
    support::send(&victim, "secret", "victim").await;
    let got = support::recv(&srv.router, "router").await;
    assert_eq!(
        support::frames(&got),
        [b"victim".to_vec(), b"secret".to_vec()]
    );
    support::close(&victim).await;
    support::wait_event(&mut srv.mon, EventKind::Disconnected, "the victim's end").await;
    let recorded = recorded.lock().unwrap().clone();
    let (greeting, frames) = recorded_frames(&recorded);
    let names: Vec<&[u8]> = frames
        .iter()
        .map(|(flags, body)| {
            if flags & 0x04 != 0 {
                &body[1..1 + body[0] as usize]
            } else {
                &body[..8]
            }
        })
        .collect();
    assert_eq!(
        names,
        [&b"HELLO"[..], b"INITIATE", b"\x07MESSAGE"],
        "the recorded client stream"
    );
    let frame_bytes = |i: usize| frame(frames[i].0 & !0x02, &frames[i].1);

    // Everything at once, verbatim.
    let mut raw =
        RawClient::connect(&srv.endpoint, curve_client(&srv.keys, SocketType::Dealer)).await;
    raw.write(&recorded).await;
    raw.expect_closed().await;
    expect_cookie_refusal(&mut srv, "the whole recording").await;
    srv.check_good().await;

    // The HELLO alone; then, after the new WELCOME, the recorded INITIATE and MESSAGE.
    let mut raw =
        RawClient::connect(&srv.endpoint, curve_client(&srv.keys, SocketType::Dealer)).await;
    raw.write(&[&greeting[..], &frame_bytes(0)].concat()).await;
    let deadline = tokio::time::Instant::now() + T;
    let welcome = loop {
        if let Some(f) = raw.rbuf.get(64..).and_then(whole_frame) {
            break f;
        }
        let n = tokio::time::timeout_at(deadline, raw.stream.read_buf(&mut raw.rbuf))
            .await
            .expect("no WELCOME to the replayed HELLO")
            .expect("read");
        assert!(n > 0, "the server closed after the replayed HELLO");
    };
    assert!(
        welcome.0 & 0x04 != 0 && welcome.1.starts_with(b"\x07WELCOME"),
        "the answer to the replayed HELLO: {welcome:02x?}"
    );
    raw.write(&[frame_bytes(1), frame_bytes(2)].concat()).await;
    raw.expect_closed().await;
    expect_cookie_refusal(&mut srv, "HELLO, then INITIATE after WELCOME").await;
    srv.check_good().await;

    // Nothing from the replays reached the application (`finish` checks it again).
    assert!(
        srv.router.try_recv().is_err(),
        "a replayed message was delivered"
    );
    srv.finish().await;
}
