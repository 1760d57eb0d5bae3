//! A mock ZMTP peer over a real TCP connection, in the style of h2's mock peer: the test
//! writes exact bytes and states exactly which bytes it expects back.
//!
//! Every expectation waits at most [`MOCK_TIMEOUT`] and fails the test with a readable
//! hex diff. The encodings the mock *expects* are written out here by hand (not produced by
//! the crate's encoder), so that a bug in the encoder cannot hide itself.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use aiozmq::zmtp::{Command, FrameDecoder};
use aiozmq::{Message, SocketType};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};

/// How long any single expectation waits.
pub const MOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The signature libzmq (and so we) send when the routing id is empty:
/// `FF`, a 64-bit length of 1 (the routing id length + 1), `7F`.
pub const SIGNATURE: [u8; 10] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x7F];

/// libzmq's signature for a socket whose routing id is `routing_id_len` bytes long: its
/// padding is the 64-bit big-endian length `routing_id_len + 1` (a ZMTP 1.0 identity
/// frame header, for downgrading).
pub fn libzmq_signature(routing_id_len: usize) -> [u8; 10] {
    let mut s = [0u8; 10];
    s[0] = 0xFF;
    s[1..9].copy_from_slice(&(routing_id_len as u64 + 1).to_be_bytes());
    s[9] = 0x7F;
    s
}

/// Greeting bytes 11..64 (after signature and major): minor, mechanism padded to 20 bytes,
/// as-server, 31 bytes of filler.
pub fn greeting_rest(minor: u8, mechanism: &str, as_server: bool) -> [u8; 53] {
    let mut r = [0u8; 53];
    r[0] = minor;
    r[1..1 + mechanism.len()].copy_from_slice(mechanism.as_bytes());
    r[21] = as_server as u8;
    r
}

/// A whole 64-byte greeting.
pub fn greeting(major: u8, minor: u8, mechanism: &str, as_server: bool) -> Vec<u8> {
    let mut g = SIGNATURE.to_vec();
    g.push(major);
    g.extend_from_slice(&greeting_rest(minor, mechanism, as_server));
    g
}

/// A command frame (short or long form as its size requires) from a name and data.
pub fn command_frame(name: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name);
    body.extend_from_slice(data);
    frame(0x04, &body)
}

/// One frame: `flags` (LONG added when the body exceeds 255 bytes), size, body.
pub fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(body.len() + 9);
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

/// The frames of a multipart message (MORE on all but the last).
pub fn message_frames(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let more = if i + 1 < frames.len() { 0x01 } else { 0x00 };
        out.extend_from_slice(&frame(more, f));
    }
    out
}

/// READY metadata: `Socket-Type`, then `Identity` when given, in that order (libzmq's).
pub fn ready_frame(socket_type: &str, identity: Option<&[u8]>) -> Vec<u8> {
    let mut data = Vec::new();
    let mut prop = |name: &str, value: &[u8]| {
        data.push(name.len() as u8);
        data.extend_from_slice(name.as_bytes());
        data.extend_from_slice(&(value.len() as u32).to_be_bytes());
        data.extend_from_slice(value);
    };
    prop("Socket-Type", socket_type.as_bytes());
    if let Some(id) = identity {
        prop("Identity", id);
    }
    command_frame(b"READY", &data)
}

/// Whether libzmq puts an `Identity` property into READY for this socket type.
pub fn sends_identity(t: SocketType) -> bool {
    matches!(t, SocketType::Req | SocketType::Dealer | SocketType::Router)
}

/// Parses `tcp://host:port` (or a bare `host:port`).
pub fn tcp_addr(endpoint: &str) -> SocketAddr {
    let a = endpoint.strip_prefix("tcp://").unwrap_or(endpoint);
    a.parse()
        .unwrap_or_else(|e| panic!("not a tcp endpoint with a numeric address: {endpoint:?}: {e}"))
}

/// A hex dump of `want` against `got`, marking the first difference.
pub fn hex_diff(want: &[u8], got: &[u8]) -> String {
    let first = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let mut s = format!(
        "first difference at offset {first} (want {} bytes, got {} bytes)\n",
        want.len(),
        got.len()
    );
    let start = first / 16 * 16;
    let from = start.saturating_sub(32);
    let to = (start + 48).max(from + 16);
    for (label, data) in [("want", want), ("got ", got)] {
        for off in (from..to).step_by(16) {
            if off >= data.len() && off > 0 {
                break;
            }
            let row = &data[off.min(data.len())..(off + 16).min(data.len())];
            let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = row
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            let mark = if (off..off + 16).contains(&first) {
                '>'
            } else {
                ' '
            };
            s.push_str(&format!(
                "{mark}{label} {off:06x}: {:<47}  |{ascii}|\n",
                hex.join(" ")
            ));
        }
    }
    s
}

/// One end of a TCP connection driven byte by byte by the test.
#[derive(Debug)]
pub struct MockPeer {
    stream: TcpStream,
    rbuf: BytesMut,
    decoder: FrameDecoder,
}

impl MockPeer {
    /// Connects to `endpoint` (`tcp://127.0.0.1:PORT`).
    pub async fn connect(endpoint: &str) -> MockPeer {
        let addr = tcp_addr(endpoint);
        let stream = timeout(MOCK_TIMEOUT, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("mock: connecting to {addr} timed out"))
            .unwrap_or_else(|e| panic!("mock: connecting to {addr} failed: {e}"));
        MockPeer::from_stream(stream)
    }

    /// Accepts one connection on `listener`.
    pub async fn accept(listener: &TcpListener) -> MockPeer {
        let (stream, _) = timeout(MOCK_TIMEOUT, listener.accept())
            .await
            .unwrap_or_else(|_| panic!("mock: no connection to accept within {MOCK_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("mock: accept failed: {e}"));
        MockPeer::from_stream(stream)
    }

    fn from_stream(stream: TcpStream) -> MockPeer {
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut decoder = FrameDecoder::new(None);
        decoder.set_max_command(u64::MAX);
        MockPeer {
            stream,
            rbuf: BytesMut::new(),
            decoder,
        }
    }

    /// Writes `bytes`.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        timeout(MOCK_TIMEOUT, self.stream.write_all(bytes))
            .await
            .unwrap_or_else(|_| panic!("mock: writing {} bytes timed out", bytes.len()))
            .unwrap_or_else(|e| panic!("mock: writing {} bytes failed: {e}", bytes.len()));
    }

    /// Writes `bytes`, giving up (returning false) when the peer does not take them
    /// within `limit` (it stopped reading) or the write fails.
    pub async fn try_send_bytes(&mut self, bytes: &[u8], limit: Duration) -> bool {
        matches!(
            timeout(limit, self.stream.write_all(bytes)).await,
            Ok(Ok(()))
        )
    }

    /// Reads until at least `n` bytes are buffered.
    async fn fill(&mut self, n: usize, what: &str) {
        let deadline = Instant::now() + MOCK_TIMEOUT;
        while self.rbuf.len() < n {
            self.rbuf.reserve(n - self.rbuf.len());
            let r = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf)).await;
            match r {
                Err(_) => panic!(
                    "mock: waiting for {what}: got only {} of {n} bytes within {MOCK_TIMEOUT:?}: {:02x?}",
                    self.rbuf.len(),
                    &self.rbuf[..self.rbuf.len().min(64)]
                ),
                Ok(Ok(0)) => panic!(
                    "mock: waiting for {what}: connection closed after {} of {n} bytes: {:02x?}",
                    self.rbuf.len(),
                    &self.rbuf[..self.rbuf.len().min(64)]
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!(
                    "mock: waiting for {what}: read failed after {} of {n} bytes: {e}",
                    self.rbuf.len()
                ),
            }
        }
    }

    /// Reads exactly `n` bytes.
    pub async fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        self.fill(n, &format!("{n} bytes")).await;
        self.rbuf.split_to(n).to_vec()
    }

    /// Reads exactly `want.len()` bytes and asserts they equal `want`.
    #[track_caller]
    pub fn expect_bytes<'a>(
        &'a mut self,
        want: &'a [u8],
    ) -> impl std::future::Future<Output = ()> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            self.fill(
                want.len(),
                &format!("{} expected bytes ({caller})", want.len()),
            )
            .await;
            let got = self.rbuf.split_to(want.len());
            if &got[..] != want {
                panic!(
                    "mock: unexpected bytes from the peer ({caller}):\n{}",
                    hex_diff(want, &got)
                );
            }
        }
    }

    /// Asserts that nothing arrives (and the connection stays open) for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        assert!(
            self.rbuf.is_empty(),
            "mock: expected silence but {} bytes are buffered: {:02x?}",
            self.rbuf.len(),
            &self.rbuf[..]
        );
        match timeout(quiet, self.stream.read_buf(&mut self.rbuf)).await {
            Err(_) => {}
            Ok(Ok(0)) => panic!("mock: expected silence but the connection was closed"),
            Ok(Ok(_)) => panic!(
                "mock: expected silence for {quiet:?} but got {:02x?}",
                &self.rbuf[..]
            ),
            Ok(Err(e)) => panic!("mock: expected silence but the read failed: {e}"),
        }
    }

    /// Aborts the connection: SO_LINGER 0, then close, so the kernel sends a RST instead
    /// of a FIN (whatever the peer had not read is discarded).
    pub fn abort(self) {
        socket2::SockRef::from(&self.stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER 0");
        drop(self);
    }

    /// Sends the 10-byte signature.
    pub async fn send_signature(&mut self) {
        self.send_bytes(&SIGNATURE).await;
    }

    /// Sends the whole 64-byte greeting at once (major 3).
    pub async fn send_greeting(&mut self, minor: u8, mechanism: &str, as_server: bool) {
        self.send_bytes(&greeting(3, minor, mechanism, as_server))
            .await;
    }

    /// Expects our whole 64-byte greeting (ZMTP 3.1, NULL, not as-server), however it is
    /// split into writes.
    pub async fn expect_greeting(&mut self) {
        self.expect_bytes(&greeting(3, 1, "NULL", false)).await;
    }

    /// The staged greeting exchange, libzmq style, with our side having an empty routing
    /// id: see [`expect_greeting_staged_for`](Self::expect_greeting_staged_for).
    pub async fn expect_greeting_staged(&mut self, minor: u8) {
        self.expect_greeting_staged_for(b"", minor).await;
    }

    /// The staged greeting exchange, libzmq style: expects our signature (padding = length
    /// of our `routing_id` + 1), sends the mock's; expects our major version (3), sends the
    /// mock's; expects the remaining 53 bytes of ours (minor 1, NULL, not as-server, zero
    /// filler), then sends the rest of the mock's with the given `minor`.
    pub async fn expect_greeting_staged_for(&mut self, routing_id: &[u8], minor: u8) {
        self.expect_bytes(&libzmq_signature(routing_id.len())).await;
        self.send_signature().await;
        self.expect_bytes(&[3]).await;
        self.send_bytes(&[3]).await;
        self.expect_bytes(&greeting_rest(1, "NULL", false)).await;
        self.send_bytes(&greeting_rest(minor, "NULL", false)).await;
    }

    /// Sends a command.
    pub async fn send_command(&mut self, cmd: &Command) {
        self.send_bytes(&cmd.to_bytes()).await;
    }

    /// Sends READY as a peer of `socket_type` (with `Identity` when given).
    pub async fn send_ready(&mut self, socket_type: SocketType, identity: Option<&[u8]>) {
        self.send_bytes(&ready_frame(socket_type.as_str(), identity))
            .await;
    }

    /// Expects our READY byte for byte: `Socket-Type` = `socket_type`, then `Identity` =
    /// `identity` (pass `Some(b"")` for an empty one, `None` for none).
    pub async fn expect_ready(&mut self, socket_type: SocketType, identity: Option<&[u8]>) {
        self.expect_bytes(&ready_frame(socket_type.as_str(), identity))
            .await;
    }

    /// The whole handshake as a well-behaved ZMTP 3.1 peer of type `mock_type` (with an
    /// empty identity): staged greeting, READY both ways. Our READY must be exactly that of
    /// `our_type` with `our_identity`, our routing id (libzmq's rule: an `Identity` property
    /// only for REQ, DEALER and ROUTER; the signature's padding carries its length for all).
    pub async fn handshake(
        &mut self,
        mock_type: SocketType,
        our_type: SocketType,
        our_identity: &[u8],
    ) {
        self.handshake_as(mock_type, b"", our_type, our_identity)
            .await;
    }

    /// [`handshake`](Self::handshake) with the mock announcing `mock_identity` (when its
    /// type carries one).
    pub async fn handshake_as(
        &mut self,
        mock_type: SocketType,
        mock_identity: &[u8],
        our_type: SocketType,
        our_identity: &[u8],
    ) {
        self.expect_greeting_staged(1).await;
        self.send_ready(
            mock_type,
            sends_identity(mock_type).then_some(mock_identity),
        )
        .await;
        self.expect_ready(our_type, sends_identity(our_type).then_some(our_identity))
            .await;
    }

    async fn read_frame(&mut self, what: &str) -> aiozmq::zmtp::Frame {
        loop {
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(f)) => return f,
                Ok(None) => {
                    let need = self.decoder.bytes_needed(self.rbuf.len());
                    let have = self.rbuf.len();
                    // Before the header is seen `need` is only an upper bound (a long
                    // header): a short frame at the end of the stream has fewer bytes,
                    // so read what comes and decode again.
                    let want = if need > 9 { have + need } else { have + 1 };
                    self.fill(want, what).await;
                }
                Err(e) => panic!("mock: the peer sent a malformed frame ({what}): {e}"),
            }
        }
    }

    /// Reads one command frame and decodes it.
    pub async fn expect_command(&mut self) -> Command {
        let f = self.read_frame("a command").await;
        assert!(
            f.is_command(),
            "mock: expected a command, got a message frame {:02x?}",
            &f.body[..f.body.len().min(64)]
        );
        Command::decode(f.body.clone())
            .unwrap_or_else(|e| panic!("mock: malformed command {:02x?}: {e}", &f.body[..]))
    }

    /// Sends a multipart message.
    pub async fn send_message(&mut self, msg: &Message) {
        let frames: Vec<&[u8]> = msg.iter().map(|f| &f[..]).collect();
        self.send_bytes(&message_frames(&frames)).await;
    }

    /// Reads one whole multipart message (failing on a command frame).
    pub async fn expect_message(&mut self) -> Message {
        let mut msg = Message::new();
        loop {
            let f = self.read_frame("a message").await;
            assert!(
                !f.is_command(),
                "mock: expected a message frame, got a command: {:?}",
                Command::decode(f.body.clone())
            );
            let more = f.more();
            msg.push_back(f.body);
            if !more {
                return msg;
            }
        }
    }

    /// Expects the peer to close the connection (EOF or reset) within [`MOCK_TIMEOUT`],
    /// sending nothing more first.
    pub async fn expect_closed(&mut self) {
        let extra = self.read_until_closed().await;
        assert!(
            extra.is_empty(),
            "mock: expected the connection to close, but first got {} bytes: {:02x?}",
            extra.len(),
            &extra[..extra.len().min(128)]
        );
    }

    /// Reads until the peer closes the connection (EOF or reset) and returns what came
    /// before; fails when it is still open after [`MOCK_TIMEOUT`].
    pub async fn read_until_closed(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + MOCK_TIMEOUT;
        loop {
            self.rbuf.reserve(4096);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.rbuf)).await {
                Err(_) => panic!(
                    "mock: the peer did not close the connection within {MOCK_TIMEOUT:?} \
                     (received meanwhile: {:02x?})",
                    &self.rbuf[..self.rbuf.len().min(128)]
                ),
                Ok(Ok(0)) => return self.rbuf.split().to_vec(),
                Ok(Ok(_)) => {}
                Ok(Err(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    return self.rbuf.split().to_vec()
                }
                Ok(Err(e)) => panic!("mock: unexpected read error while expecting close: {e}"),
            }
        }
    }
}
