//! Entry points for the fuzz targets in `fuzz/` and for the corpus replay test.
//!
//! Not part of the public API: every function takes arbitrary bytes and must never panic,
//! hang or allocate in proportion to a size the input merely declares.

use crate::zmtp::{Command, Config, Connection, FrameDecoder, Greeting, SocketType};
use bytes::{Bytes, BytesMut};

/// Decodes a greeting.
pub fn greeting(data: &[u8]) {
    if let Ok(g) = Greeting::decode(data) {
        let enc = g.encode();
        let again = Greeting::decode(&enc).expect("re-decoding our own greeting");
        assert_eq!(g, again);
    }
}

/// Splits frames out of `data` with a small MAXMSGSIZE, as a read loop would.
pub fn frames(data: &[u8]) {
    let mut dec = FrameDecoder::new(Some(1 << 16));
    let mut buf = BytesMut::from(data);
    while let Ok(Some(f)) = dec.decode(&mut buf) {
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
        let f = dec
            .decode(&mut b)
            .expect("our own frame decodes")
            .expect("our own frame is complete");
        let again = Command::decode(f.body).expect("our own command decodes");
        if !matches!(cmd, Command::Error(_)) || data.len() < 300 {
            assert_eq!(cmd.name(), again.name());
        }
    }
}

/// Drives a whole connection with peer bytes: the first byte picks our socket type and how
/// the rest is split into reads.
pub fn connection(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let st = SocketType::ALL[(sel & 0x0F) as usize % SocketType::ALL.len()];
    let step = ((sel >> 4) as usize) + 1;
    let mut cfg = Config::new(st);
    cfg.max_msg_size = Some(1 << 16);
    let mut conn = Connection::new(cfg);
    let mut buf = BytesMut::new();
    for chunk in rest.chunks(step) {
        buf.extend_from_slice(chunk);
        if conn.handle_input(&mut buf).is_err() {
            return;
        }
        while conn.poll_event().is_some() {}
        let n = conn.transmit().len();
        conn.transmit().advance(n);
    }
}
