//! RADIO and DISH against libzmq 4.3.5's: our RADIO to a libzmq DISH and a libzmq RADIO to
//! our DISH, over tcp and ipc (each side binding in turn) and udp (unicast; the DISH binds):
//! every message arrives with its group, only for the groups the DISH joined, in order, and
//! a group left gets nothing more.
//!
//! A DISH's JOIN reaches a RADIO some time after `join` (over udp there is no JOIN at all:
//! the DISH filters), so each case first sends a probe to the joined group until the DISH
//! receives one; the probes are then skipped, and an `end` message closes the sequence.

use std::time::Duration;

use aiozmq::{Message, Socket, SocketType};
use aiozmq_draft_interop::libzmq::{self, Context};
use aiozmq_draft_interop::{bind, close, connect, within, Lz, Transport, TRANSPORTS};

/// How often a probe goes out until the DISH has one.
const PROBE_EVERY: Duration = Duration::from_millis(20);

fn grouped(group: &str, body: &[u8]) -> Message {
    Message::from(bytes::Bytes::copy_from_slice(body))
        .with_group(group)
        .unwrap()
}

/// Where a case runs: tcp or ipc with either side binding, or udp with the DISH binding.
#[derive(Clone, Copy, Debug)]
enum Link {
    Stream(Transport, bool),
    Udp,
}

const LINKS: [Link; 5] = [
    Link::Stream(TRANSPORTS[0], true),
    Link::Stream(TRANSPORTS[0], false),
    Link::Stream(TRANSPORTS[1], true),
    Link::Stream(TRANSPORTS[1], false),
    Link::Udp,
];

/// A free local UDP port (for libzmq's DISH, which binds udp:// only to a given port).
fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// What the DISH side saw, `(group, body)`, probes left out, up to and including `end`.
type Seen = Vec<(String, Vec<u8>)>;

fn want(items: &[(&str, &[u8])]) -> Seen {
    items
        .iter()
        .map(|(g, b)| (g.to_string(), b.to_vec()))
        .collect()
}

/// Our RADIO to a libzmq DISH joined to `g1` and `g3`: messages to `g2` and to the empty
/// group never arrive; after the DISH leaves `g3`, only `g1` does.
#[tokio::test]
async fn our_radio_to_a_libzmq_dish() {
    for link in LINKS {
        let ctx = Context::new();
        let dish = Lz::new(&ctx, libzmq::DISH);
        let radio = Socket::new(SocketType::Radio);
        match link {
            Link::Stream(t, libzmq_binds) => {
                if libzmq_binds {
                    let ep = dish.bind(&t.endpoint());
                    connect(&radio, &ep).await;
                } else {
                    let ep = bind(&radio, &t.endpoint()).await;
                    dish.connect(&ep);
                }
            }
            Link::Udp => {
                // libzmq's LAST_ENDPOINT for udp:// lacks the scheme: use the one bound.
                let ep = format!("udp://127.0.0.1:{}", free_udp_port());
                dish.bind(&ep);
                connect(&radio, &ep).await;
            }
        }
        dish.join("g1");
        dish.join("g3");
        let mut seen = Seen::new();
        for phase in 0..2 {
            // Probe g1 (and, before the leave, g3) until the DISH has one of each.
            let probe_groups: &[&str] = if phase == 0 { &["g1", "g3"] } else { &["g1"] };
            for g in probe_groups {
                within(&format!("{link:?}: probe {g}"), async {
                    loop {
                        radio.send(grouped(g, b"probe")).await.unwrap();
                        match dish.recv_group_within(PROBE_EVERY).await {
                            Ok((rg, b)) if b == b"probe" => {
                                if rg == *g {
                                    break;
                                }
                            }
                            Ok(other) => panic!("{link:?}: before the sequence: {other:?}"),
                            Err(libzmq::EAGAIN) => {}
                            Err(e) => panic!("{link:?}: libzmq recv: {e}"),
                        }
                    }
                })
                .await;
            }
            for (g, b) in [
                ("g1", &b"one"[..]),
                ("g2", b"two"),
                ("g3", b"three"),
                ("", b"none"),
                ("g1", b"four"),
                ("g1", b"end"),
            ] {
                let m = if g.is_empty() {
                    Message::from(bytes::Bytes::copy_from_slice(b))
                } else {
                    grouped(g, b)
                };
                radio.send(m).await.unwrap();
            }
            loop {
                let (g, b) = dish.recv_group(&format!("{link:?}: sequence")).await;
                if b == b"probe" {
                    continue;
                }
                let end = b == b"end";
                seen.push((g, b));
                if end {
                    break;
                }
            }
            if phase == 0 {
                dish.leave("g3");
            }
        }
        assert_eq!(
            seen,
            want(&[
                ("g1", b"one"),
                ("g3", b"three"),
                ("g1", b"four"),
                ("g1", b"end"),
                ("g1", b"one"),
                ("g1", b"four"),
                ("g1", b"end"),
            ]),
            "{link:?}"
        );
        close(&radio).await;
    }
}

/// A libzmq RADIO to our DISH joined to `g1` and `g3`: the same sequence, the same result.
#[tokio::test]
async fn a_libzmq_radio_to_our_dish() {
    for link in LINKS {
        let ctx = Context::new();
        let radio = Lz::new(&ctx, libzmq::RADIO);
        let dish = Socket::new(SocketType::Dish);
        match link {
            Link::Stream(t, libzmq_binds) => {
                if libzmq_binds {
                    let ep = radio.bind(&t.endpoint());
                    connect(&dish, &ep).await;
                } else {
                    let ep = bind(&dish, &t.endpoint()).await;
                    radio.connect(&ep);
                }
            }
            Link::Udp => {
                let ep = bind(&dish, "udp://127.0.0.1:0").await;
                radio.connect(&ep);
            }
        }
        dish.join("g1").unwrap();
        dish.join("g3").unwrap();
        let mut seen = Seen::new();
        for phase in 0..2 {
            let probe_groups: &[&str] = if phase == 0 { &["g1", "g3"] } else { &["g1"] };
            for g in probe_groups {
                within(&format!("{link:?}: probe {g}"), async {
                    loop {
                        radio.send_group(g, b"probe", "radio probe").await;
                        match tokio::time::timeout(PROBE_EVERY, dish.recv()).await {
                            Ok(Ok(m)) if m.iter().next().map(|f| &f[..]) == Some(b"probe") => {
                                if m.group() == g.as_bytes() {
                                    break;
                                }
                            }
                            Ok(other) => panic!("{link:?}: before the sequence: {other:?}"),
                            Err(_) => {}
                        }
                    }
                })
                .await;
            }
            for (g, b) in [
                ("g1", &b"one"[..]),
                ("g2", b"two"),
                ("g3", b"three"),
                ("g1", b"four"),
                ("g1", b"end"),
            ] {
                radio.send_group(g, b, "radio").await;
            }
            loop {
                let m = within(&format!("{link:?}: sequence"), dish.recv())
                    .await
                    .unwrap();
                let frames: Vec<Vec<u8>> = m.iter().map(|f| f.to_vec()).collect();
                assert_eq!(frames.len(), 1, "{link:?}: one frame: {frames:?}");
                let b = frames[0].clone();
                if b == b"probe" {
                    continue;
                }
                let end = b == b"end";
                seen.push((String::from_utf8_lossy(m.group()).into_owned(), b));
                if end {
                    break;
                }
            }
            if phase == 0 {
                dish.leave("g3").unwrap();
            }
        }
        assert_eq!(
            seen,
            want(&[
                ("g1", b"one"),
                ("g3", b"three"),
                ("g1", b"four"),
                ("g1", b"end"),
                ("g1", b"one"),
                ("g1", b"four"),
                ("g1", b"end"),
            ]),
            "{link:?}"
        );
        close(&dish).await;
    }
}
