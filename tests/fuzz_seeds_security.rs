//! Seeds for the `plain` and `curve` fuzz targets (`fuzz/corpus/{plain,curve}/`), made
//! from real handshake transcripts, and a check that the committed seeds reach deep
//! states (ZAP, a completed handshake, decrypted messages).
//!
//! Regenerate on demand (it writes into the source tree):
//!
//! ```text
//! cargo test --test fuzz_seeds_security -- --ignored
//! ```
//!
//! A seed is the selector byte (see `aiozmq::fuzzing::SecuritySelector`) followed by the
//! bytes an honest peer sent after its greeting (the target puts the greeting in front).
//! The targets' connections use fixed keys and a deterministic random source, so a
//! recorded transcript — CURVE boxes, cookie and all — is valid input on every run.
//! Output is deterministic; files with other names (inputs the fuzzer found) are left
//! alone.

use aiozmq::fuzzing::{
    security_config, security_peer_config, security_run, SecuritySelector, FUZZ_ZAP_USER,
};
use aiozmq::zmtp::{Connection, Event, Mechanism, ZapReply};
use aiozmq::Message;
use bytes::{Bytes, BytesMut};
use std::path::{Path, PathBuf};
use std::time::Instant;

const MAX_SEED_LEN: usize = 4096;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target)
}

fn take(c: &mut Connection) -> Vec<u8> {
    let v = c.transmit().to_vec();
    let n = c.transmit().len();
    c.transmit().advance(n);
    v
}

/// The bytes the peer sends to the target's connection (after its greeting) in a whole
/// exchange: handshake, then — once both are ready — messages, a PING, and (from a
/// client) a subscription.
fn transcript(mechanism: Mechanism, sel: SecuritySelector) -> Vec<u8> {
    let mut ours = Connection::new(
        security_config(mechanism, sel.client, sel.zap),
        Instant::now(),
    );
    let mut peer = Connection::new(security_peer_config(mechanism, sel.client), Instant::now());
    let mut sent = Vec::new();
    let (mut in_ours, mut in_peer) = (BytesMut::new(), BytesMut::new());
    let mut ours_failed = false;
    let mut after_ready = false;
    for _ in 0..64 {
        if ours.is_ready() && peer.is_ready() && !after_ready {
            after_ready = true;
            peer.send_message(&Message::from("hello"));
            peer.send_message(&Message::from(vec![
                Bytes::from_static(b"a"),
                Bytes::from_static(b""),
                Bytes::from(vec![0x5Au8; 300]),
            ]));
            peer.send_ping(30, Bytes::from_static(b"ping"));
            if !sel.client {
                peer.send_subscription(true, &Bytes::from_static(b"topic"));
            }
            peer.send_message(&Message::from("bye"));
        }
        let p = take(&mut peer);
        let o = take(&mut ours);
        if p.is_empty() && o.is_empty() {
            break;
        }
        sent.extend_from_slice(&p);
        if !ours_failed {
            in_ours.extend_from_slice(&p);
            if ours.handle_input(&mut in_ours).is_err() {
                ours_failed = true;
            }
            while let Some(e) = ours.poll_event() {
                if matches!(e, Event::Zap(_)) && !ours_failed {
                    let reply = if sel.deny {
                        ZapReply::deny("no")
                    } else {
                        ZapReply::allow(FUZZ_ZAP_USER)
                    };
                    if ours.handle_zap_reply(reply).is_err() {
                        ours_failed = true;
                    }
                }
            }
        }
        in_peer.extend_from_slice(&o);
        if peer.handle_input(&mut in_peer).is_err() {
            break;
        }
        while peer.poll_event().is_some() {}
    }
    assert!(sent.len() >= 64);
    sent.split_off(64)
}

/// The frames of `bytes`: (start, header length, body length).
fn frames(bytes: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (hdr, len) = if bytes[at] & 0x02 != 0 {
            (
                9,
                u64::from_be_bytes(bytes[at + 1..at + 9].try_into().unwrap()) as usize,
            )
        } else {
            (2, bytes[at + 1] as usize)
        };
        v.push((at, hdr, len));
        at += hdr + len;
    }
    v
}

/// Re-encodes the `i`th frame of `t` with its body changed by `f`.
fn edit_frame(t: &[u8], i: usize, f: impl Fn(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let fr = frames(t);
    let (start, hdr, len) = fr[i];
    let flags = t[start] & !0x02;
    let body = f(t[start + hdr..start + hdr + len].to_vec());
    let mut out = t[..start].to_vec();
    if body.len() <= 255 {
        out.extend_from_slice(&[flags, body.len() as u8]);
    } else {
        out.push(flags | 0x02);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes());
    }
    out.extend_from_slice(&body);
    out.extend_from_slice(&t[start + hdr + len..]);
    out
}

fn sel(client: bool, zap: bool, deny: bool, step: usize) -> SecuritySelector {
    SecuritySelector {
        client,
        zap,
        deny,
        step,
    }
}

fn seed(s: SecuritySelector, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![s.to_byte()];
    v.extend_from_slice(rest);
    assert!(v.len() < MAX_SEED_LEN, "seed of {} bytes", v.len());
    v
}

/// Every seed of one target, by file name.
fn seeds(mechanism: Mechanism) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let server = sel(false, false, false, 1);
    let client = sel(true, false, false, 1);
    let full_server = transcript(mechanism, server);
    let full_client = transcript(mechanism, client);
    out.push(("server-messages-step1".into(), seed(server, &full_server)));
    out.push((
        "server-messages-step7".into(),
        seed(sel(false, false, false, 7), &full_server),
    ));
    let zap = sel(false, true, false, 16);
    out.push((
        "server-zap-allow-messages".into(),
        seed(zap, &transcript(mechanism, zap)),
    ));
    let deny = sel(false, true, true, 3);
    out.push((
        "server-zap-deny".into(),
        seed(deny, &transcript(mechanism, deny)),
    ));
    out.push(("client-messages-step1".into(), seed(client, &full_client)));
    out.push((
        "client-messages-step5".into(),
        seed(sel(true, false, false, 5), &full_client),
    ));
    // The handshake alone, and one frame of it at a time, for the fuzzer to splice.
    let hs = frames(&full_server);
    let (s, h, l) = hs[1];
    out.push((
        "server-handshake-only".into(),
        seed(server, &full_server[..s + h + l]),
    ));
    let fc = frames(&full_client);
    let (s, h, l) = fc[1];
    out.push((
        "client-handshake-only".into(),
        seed(client, &full_client[..s + h + l]),
    ));
    // Hostile variants of the real transcripts.
    match mechanism {
        Mechanism::Curve => {
            let v = [
                (
                    "hello-199",
                    edit_frame(&full_server, 0, |mut b| {
                        b.pop();
                        b
                    }),
                ),
                (
                    "hello-201",
                    edit_frame(&full_server, 0, |mut b| {
                        b.push(0);
                        b
                    }),
                ),
                (
                    "hello-no-padding",
                    edit_frame(&full_server, 0, |b| [&b[..8], &b[80..]].concat()),
                ),
                (
                    "hello-version-2",
                    edit_frame(&full_server, 0, |mut b| {
                        b[6] = 2;
                        b
                    }),
                ),
                (
                    "initiate-256",
                    edit_frame(&full_server, 1, |mut b| {
                        b.truncate(256);
                        b
                    }),
                ),
                (
                    "message-tampered",
                    edit_frame(&full_server, 2, |mut b| {
                        let n = b.len();
                        b[n - 1] ^= 1;
                        b
                    }),
                ),
            ];
            for (name, rest) in v {
                out.push((format!("server-{name}"), seed(server, &rest)));
            }
            // A MESSAGE replayed right after itself.
            let (s, h, l) = hs[2];
            let mut replay = full_server[..s + h + l].to_vec();
            replay.extend_from_slice(&full_server[s..s + h + l]);
            out.push(("server-message-replayed".into(), seed(server, &replay)));
            // Plaintext after the handshake.
            let (s, h, l) = hs[1];
            let mut clear = full_server[..s + h + l].to_vec();
            clear.extend_from_slice(b"\x00\x05clear");
            out.push(("server-plaintext-after".into(), seed(server, &clear)));
            let v = [
                (
                    "welcome-169",
                    edit_frame(&full_client, 0, |mut b| {
                        b.push(0);
                        b
                    }),
                ),
                (
                    "ready-tampered",
                    edit_frame(&full_client, 1, |mut b| {
                        b[20] ^= 1;
                        b
                    }),
                ),
            ];
            for (name, rest) in v {
                out.push((format!("client-{name}"), seed(client, &rest)));
            }
        }
        _ => {
            let v = [
                (
                    "hello-user-overrun",
                    edit_frame(&full_server, 0, |mut b| {
                        b[6] = 200;
                        b
                    }),
                ),
                (
                    "hello-trailing",
                    edit_frame(&full_server, 0, |mut b| {
                        b.push(b'x');
                        b
                    }),
                ),
                (
                    "initiate-bad-metadata",
                    edit_frame(&full_server, 1, |mut b| {
                        b.truncate(b.len() - 2);
                        b
                    }),
                ),
                (
                    "error-instead",
                    edit_frame(&full_server, 0, |_| b"\x05ERROR\x03400".to_vec()),
                ),
            ];
            for (name, rest) in v {
                out.push((format!("server-{name}"), seed(server, &rest)));
            }
            let v = [
                (
                    "welcome-with-data",
                    edit_frame(&full_client, 0, |mut b| {
                        b.push(1);
                        b
                    }),
                ),
                (
                    "error-400",
                    edit_frame(&full_client, 0, |_| b"\x05ERROR\x03400".to_vec()),
                ),
                // libzmq 4.3's PLAIN ERROR, whose "\x05E" became one byte 0x5E.
                (
                    "libzmq-error-5e",
                    edit_frame(&full_client, 0, |_| b"\x5eRROR\x03400".to_vec()),
                ),
            ];
            for (name, rest) in v {
                out.push((format!("client-{name}"), seed(client, &rest)));
            }
        }
    }
    out
}

fn target_name(m: Mechanism) -> &'static str {
    match m {
        Mechanism::Curve => "curve",
        _ => "plain",
    }
}

#[test]
#[ignore = "writes fuzz/corpus/{plain,curve}/; run on demand"]
fn generate_security_seeds() {
    for m in [Mechanism::Plain, Mechanism::Curve] {
        let dir = corpus_dir(target_name(m));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, data) in seeds(m) {
            std::fs::write(dir.join(name), data).unwrap();
        }
    }
}

/// The committed seeds reach past the first checks: handshakes complete for both roles,
/// ZAP runs and allows and denies, and messages are decrypted (a change to the handshake
/// bytes that makes the recorded transcripts stale fails here: regenerate them).
#[test]
fn security_seeds_reach_deep_states() {
    for m in [Mechanism::Plain, Mechanism::Curve] {
        let (mut ready_server, mut ready_client, mut with_messages) = (0, 0, 0);
        let (mut zap_allowed, mut zap_denied, mut refused) = (0, 0, 0);
        let dir = corpus_dir(target_name(m));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let generated: Vec<String> = seeds(m).into_iter().map(|(n, _)| n).collect();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let data = std::fs::read(&path).unwrap();
            let Some(&b) = data.first() else { continue };
            let s = SecuritySelector::from_byte(b);
            let o = security_run(m, s, &data[1..], usize::MAX);
            let messages = o
                .events
                .iter()
                .filter(|e| matches!(e, Event::Message(_)))
                .count();
            let zap = o.events.iter().any(|e| matches!(e, Event::Zap(_)));
            let ready = o.events.iter().any(|e| matches!(e, Event::Ready(_)));
            match (ready, s.client) {
                (true, false) => ready_server += 1,
                (true, true) => ready_client += 1,
                _ => {}
            }
            if messages >= 3 {
                with_messages += 1;
            }
            if zap && ready {
                zap_allowed += 1;
            }
            if zap && s.deny && !ready {
                zap_denied += 1;
            }
            if o.result.is_err() && !zap {
                refused += 1;
            }
            // The generator's hostile variants must be refused.
            let hostile = generated.contains(&name)
                && !name.contains("messages")
                && !name.contains("only")
                && !name.contains("zap");
            if hostile {
                assert!(o.result.is_err(), "{name}: accepted: {o:?}");
            }
        }
        let t = target_name(m);
        assert!(ready_server >= 3, "{t}: {ready_server} server seeds ready");
        assert!(ready_client >= 2, "{t}: {ready_client} client seeds ready");
        assert!(
            with_messages >= 4,
            "{t}: {with_messages} seeds with messages"
        );
        assert!(
            zap_allowed >= 1 && zap_denied >= 1,
            "{t}: ZAP seeds: {zap_allowed} allowed, {zap_denied} denied"
        );
        assert!(refused >= 5, "{t}: only {refused} refused seeds");
    }
}
