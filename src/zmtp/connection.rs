//! The per-connection ZMTP state machine, without I/O.
//!
//! # Lifecycle
//! 1. [`Connection::new`] queues the 10-byte signature (with libzmq's padding).
//! 2. Once the peer's signature arrived, the major version byte is queued; once the peer's
//!    major version arrived, the other 53 greeting bytes (libzmq's staging, so a peer that
//!    waits for each stage and a peer that sends all 64 bytes at once both work).
//! 3. With the whole peer greeting in, the mechanism runs (NULL: both sides send READY).
//!    READY's `Socket-Type` is checked against ours; an incompatible pair gets an ERROR
//!    command and [`handle_input`](Connection::handle_input) fails.
//! 4. [`Event::Ready`] is emitted; from then on messages and commands flow. PING is answered
//!    with PONG inside; unknown commands are ignored.
//!
//! # Driving it
//! Feed every received byte to [`handle_input`](Connection::handle_input), then drain
//! [`poll_event`](Connection::poll_event), then write out [`transmit`](Connection::transmit)
//! (and [`WriteBuf::advance`] by what was written). An error means: flush what
//! `transmit` holds if you can (it may carry an ERROR command), then close.

use super::command::{Command, Metadata};
use super::frame::{FrameDecoder, WriteBuf, FLAG_MORE};
use super::greeting::{self, Greeting, Mechanism, GREETING_LEN, SIGNATURE_LEN};
use super::{ProtocolError, SocketType};
use crate::Message;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Most frames one message may have; more is treated as a protocol error so that a peer
/// cannot grow memory with endless empty frames.
pub const MAX_FRAMES_PER_MESSAGE: usize = 65_536;

/// What this side of the connection is.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our socket type, sent in READY and checked against the peer's.
    pub socket_type: SocketType,
    /// Our routing id (ROUTING_ID), sent as `Identity` for REQ, DEALER and ROUTER as libzmq does.
    pub routing_id: Bytes,
    /// Security mechanism (only NULL is handled by this module).
    pub mechanism: Mechanism,
    /// The greeting's as-server flag.
    pub as_server: bool,
    /// MAXMSGSIZE: the largest message frame accepted (`None`: no limit).
    pub max_msg_size: Option<u64>,
    /// Extra READY properties (application metadata, e.g. `X-Name`).
    pub metadata: Metadata,
}

impl Config {
    /// A NULL-mechanism configuration for `socket_type` with default settings.
    pub fn new(socket_type: SocketType) -> Self {
        Config {
            socket_type,
            routing_id: Bytes::new(),
            mechanism: Mechanism::Null,
            as_server: false,
            max_msg_size: None,
            metadata: Metadata::new(),
        }
    }
}

/// What the peer told us in its greeting and READY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's socket type.
    pub socket_type: SocketType,
    /// The peer's `Identity` property (empty when absent).
    pub identity: Bytes,
    /// Every READY property.
    pub metadata: Metadata,
    /// The peer's greeting minor version (0 for ZMTP 3.0).
    pub minor: u8,
}

/// Output of the connection for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Handshake complete.
    Ready(PeerInfo),
    /// A whole multipart message.
    Message(Message),
    /// SUBSCRIBE command (ZMTP 3.1 form).
    Subscribe(Bytes),
    /// CANCEL command (ZMTP 3.1 form).
    Cancel(Bytes),
    /// The peer pinged (a PONG is already queued); `ttl` in deciseconds.
    Ping {
        /// The peer's advertised time-to-live.
        ttl: u16,
    },
    /// The peer answered a PING.
    Pong,
    /// An unknown command, ignored; its name is reported for diagnostics.
    UnknownCommand(Bytes),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Signature,
    Major,
    Rest,
    Handshake,
    Ready,
    Failed,
}

/// One ZMTP connection, sans I/O.
#[derive(Debug)]
pub struct Connection {
    cfg: Config,
    state: State,
    greeting: [u8; GREETING_LEN],
    greeting_len: usize,
    peer_greeting: Option<Greeting>,
    decoder: FrameDecoder,
    out: WriteBuf,
    events: VecDeque<Event>,
    partial: Message,
    peer: Option<PeerInfo>,
    message_budget: usize,
}

impl Connection {
    /// A new connection; the signature is queued for transmission at once.
    pub fn new(cfg: Config) -> Self {
        let mut out = WriteBuf::new();
        out.put_slice(&greeting::signature(cfg.routing_id.len()));
        Connection {
            decoder: FrameDecoder::new(cfg.max_msg_size),
            cfg,
            state: State::Signature,
            greeting: [0; GREETING_LEN],
            greeting_len: 0,
            peer_greeting: None,
            out,
            events: VecDeque::new(),
            partial: Message::new(),
            peer: None,
            message_budget: usize::MAX,
        }
    }

    /// Our configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// True once the handshake has completed.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// The peer, once the handshake has completed.
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// The peer's greeting, once received.
    pub fn peer_greeting(&self) -> Option<&Greeting> {
        self.peer_greeting.as_ref()
    }

    /// True when the peer speaks ZMTP 3.0 (subscriptions travel as messages).
    pub fn is_zmtp30(&self) -> bool {
        self.peer_greeting.is_some_and(|g| g.is_zmtp30())
    }

    /// Bytes waiting to be written.
    pub fn transmit(&mut self) -> &mut WriteBuf {
        &mut self.out
    }

    /// Bytes waiting to be written, read-only.
    pub fn transmit_ref(&self) -> &WriteBuf {
        &self.out
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// How many bytes the read buffer should hold before the next step can complete.
    pub fn bytes_needed(&self, buffered: usize) -> usize {
        match self.state {
            State::Signature => SIGNATURE_LEN - self.greeting_len,
            State::Major => 1,
            State::Rest => GREETING_LEN - self.greeting_len,
            _ => self.decoder.bytes_needed(buffered),
        }
    }

    /// Consumes bytes from the front of `buf` (a complete frame at a time; a partial frame
    /// stays in `buf` for the next call). On error the connection is dead.
    pub fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        self.handle_input_limited(buf, usize::MAX)
    }

    /// Like [`handle_input`](Self::handle_input), but stops once `max_messages` message
    /// events were produced by this call, leaving the rest of `buf` for a later call. This
    /// is how a receiver with a full queue (RCVHWM) stops decoding without buffering beyond
    /// its limit. With `max_messages == 0` the handshake still completes (so a driver can
    /// attach the peer before taking messages).
    pub fn handle_input_limited(
        &mut self,
        buf: &mut BytesMut,
        max_messages: usize,
    ) -> Result<(), ProtocolError> {
        self.message_budget = max_messages;
        let r = self.handle_input_inner(buf);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn take_greeting_bytes(&mut self, buf: &mut BytesMut, upto: usize) -> bool {
        let n = (upto - self.greeting_len).min(buf.len());
        let chunk = buf.split_to(n);
        self.greeting[self.greeting_len..self.greeting_len + n].copy_from_slice(&chunk);
        self.greeting_len += n;
        self.greeting_len == upto
    }

    fn handle_input_inner(&mut self, buf: &mut BytesMut) -> Result<(), ProtocolError> {
        loop {
            match self.state {
                State::Signature => {
                    if !self.take_greeting_bytes(buf, SIGNATURE_LEN) {
                        return Ok(());
                    }
                    Greeting::check_signature(&self.greeting)?;
                    self.out.put_slice(&[3]);
                    self.state = State::Major;
                }
                State::Major => {
                    if !self.take_greeting_bytes(buf, SIGNATURE_LEN + 1) {
                        return Ok(());
                    }
                    let major = self.greeting[SIGNATURE_LEN];
                    if major < 3 {
                        return Err(ProtocolError::UnsupportedVersion(major));
                    }
                    let ours = Greeting::new(self.cfg.mechanism, self.cfg.as_server).encode();
                    self.out.put_slice(&ours[SIGNATURE_LEN + 1..]);
                    self.state = State::Rest;
                }
                State::Rest => {
                    if !self.take_greeting_bytes(buf, GREETING_LEN) {
                        return Ok(());
                    }
                    let g = Greeting::decode(&self.greeting).map_err(|e| match e {
                        ProtocolError::MechanismMismatch { theirs, .. } => {
                            ProtocolError::MechanismMismatch {
                                ours: self.cfg.mechanism.to_string(),
                                theirs,
                            }
                        }
                        e => e,
                    })?;
                    if g.mechanism != self.cfg.mechanism {
                        return Err(ProtocolError::MechanismMismatch {
                            ours: self.cfg.mechanism.to_string(),
                            theirs: g.mechanism.to_string(),
                        });
                    }
                    if self.cfg.mechanism != Mechanism::Null {
                        return Err(ProtocolError::Auth(format!(
                            "mechanism {} is not available on this connection",
                            self.cfg.mechanism
                        )));
                    }
                    self.peer_greeting = Some(g);
                    self.send_ready();
                    self.state = State::Handshake;
                }
                State::Handshake | State::Ready => {
                    if self.state == State::Ready && self.message_budget == 0 {
                        return Ok(());
                    }
                    let Some(frame) = self.decoder.decode(buf)? else {
                        return Ok(());
                    };
                    if frame.is_command() {
                        let cmd = Command::decode(frame.body)?;
                        self.handle_command(cmd)?;
                    } else if self.state != State::Ready {
                        return Err(ProtocolError::MessageBeforeReady);
                    } else {
                        let more = frame.more();
                        if self.partial.len() >= MAX_FRAMES_PER_MESSAGE {
                            return Err(ProtocolError::TooLarge {
                                size: self.partial.len() as u64 + 1,
                                max: MAX_FRAMES_PER_MESSAGE as u64,
                            });
                        }
                        self.partial.push_back(frame.body);
                        if !more {
                            let msg = std::mem::take(&mut self.partial);
                            self.events.push_back(Event::Message(msg));
                            self.message_budget -= 1;
                        }
                    }
                }
                State::Failed => return Ok(()),
            }
        }
    }

    fn send_ready(&mut self) {
        let mut md = Metadata::new();
        md.push(
            "Socket-Type",
            Bytes::from_static(self.cfg.socket_type.as_str().as_bytes()),
        );
        if matches!(
            self.cfg.socket_type,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        ) {
            md.push("Identity", self.cfg.routing_id.clone());
        }
        for (n, v) in self.cfg.metadata.iter() {
            md.push(n, v.clone());
        }
        self.send_command(&Command::Ready(md));
    }

    fn handle_command(&mut self, cmd: Command) -> Result<(), ProtocolError> {
        match (self.state, cmd) {
            (_, Command::Error(reason)) => Err(ProtocolError::PeerError(
                String::from_utf8_lossy(&reason).into_owned(),
            )),
            (State::Handshake, Command::Ready(md)) => {
                let st = md
                    .get("Socket-Type")
                    .and_then(|v| SocketType::from_name(v))
                    .ok_or(ProtocolError::BadSocketType)?;
                if !self.cfg.socket_type.is_compatible(st) {
                    self.send_command(&Command::Error(Bytes::from_static(b"Invalid socket type")));
                    return Err(ProtocolError::IncompatibleSocketType {
                        ours: self.cfg.socket_type,
                        theirs: st,
                    });
                }
                let identity = md.get("Identity").cloned().unwrap_or_default();
                if identity.len() > 255 {
                    return Err(ProtocolError::MalformedMetadata("Identity longer than 255"));
                }
                let info = PeerInfo {
                    socket_type: st,
                    identity,
                    metadata: md,
                    minor: self.peer_greeting.map_or(1, |g| g.minor),
                };
                self.peer = Some(info.clone());
                self.state = State::Ready;
                self.events.push_back(Event::Ready(info));
                Ok(())
            }
            (State::Handshake, other) => Err(ProtocolError::UnexpectedCommand(
                String::from_utf8_lossy(other.name()).into_owned(),
            )),
            (_, Command::Ready(_)) => Err(ProtocolError::UnexpectedCommand("READY".into())),
            (_, Command::Ping { ttl, context }) => {
                self.send_command(&Command::Pong(context));
                self.events.push_back(Event::Ping { ttl });
                Ok(())
            }
            (_, Command::Pong(_)) => {
                self.events.push_back(Event::Pong);
                Ok(())
            }
            (_, Command::Subscribe(t)) => {
                self.events.push_back(Event::Subscribe(t));
                Ok(())
            }
            (_, Command::Cancel(t)) => {
                self.events.push_back(Event::Cancel(t));
                Ok(())
            }
            (_, Command::Unknown { name, .. }) => {
                self.events.push_back(Event::UnknownCommand(name));
                Ok(())
            }
        }
    }

    /// Queues a command frame.
    pub fn send_command(&mut self, cmd: &Command) {
        let mut b = BytesMut::new();
        cmd.encode(&mut b);
        self.out.put_slice(&b);
    }

    /// Queues a multipart message (call only once [`is_ready`](Self::is_ready)).
    #[inline]
    pub fn send_message(&mut self, msg: &Message) {
        encode_message(msg, &mut self.out);
    }

    /// Queues bytes that are already encoded frames (a fan-out message encoded once).
    #[inline]
    pub fn send_encoded(&mut self, wire: &Bytes) {
        self.out.put_bytes(wire);
    }

    /// Queues a subscription change in the form the peer understands: a SUBSCRIBE/CANCEL
    /// command for ZMTP 3.1, a message prefixed with `01`/`00` for ZMTP 3.0.
    pub fn send_subscription(&mut self, subscribe: bool, topic: &Bytes) {
        if self.is_zmtp30() {
            let mut body = BytesMut::with_capacity(topic.len() + 1);
            body.extend_from_slice(&[subscribe as u8]);
            body.extend_from_slice(topic);
            self.out.put_frame(0, &body.freeze());
        } else if subscribe {
            self.send_command(&Command::Subscribe(topic.clone()));
        } else {
            self.send_command(&Command::Cancel(topic.clone()));
        }
    }

    /// Queues a PING with our TTL (deciseconds) and a context.
    pub fn send_ping(&mut self, ttl: u16, context: Bytes) {
        self.send_command(&Command::Ping { ttl, context });
    }
}

/// Encodes a multipart message into `out` (MORE on every frame but the last).
#[inline]
pub fn encode_message(msg: &Message, out: &mut WriteBuf) {
    let last = msg.len().saturating_sub(1);
    for (i, f) in msg.iter().enumerate() {
        out.put_frame(if i < last { FLAG_MORE } else { 0 }, f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pump(a: &mut Connection, b: &mut Connection) {
        for _ in 0..10 {
            let ab = a.transmit().to_vec();
            let n = a.transmit().len();
            a.transmit().advance(n);
            let ba = b.transmit().to_vec();
            let n = b.transmit().len();
            b.transmit().advance(n);
            if ab.is_empty() && ba.is_empty() {
                return;
            }
            b.handle_input(&mut BytesMut::from(&ab[..])).unwrap();
            a.handle_input(&mut BytesMut::from(&ba[..])).unwrap();
        }
    }

    #[test]
    fn pair_handshake_and_message() {
        let mut cfg = Config::new(SocketType::Dealer);
        cfg.routing_id = Bytes::from_static(b"me");
        let mut a = Connection::new(cfg);
        let mut b = Connection::new(Config::new(SocketType::Router));
        pump(&mut a, &mut b);
        assert!(a.is_ready() && b.is_ready());
        match b.poll_event() {
            Some(Event::Ready(p)) => {
                assert_eq!(p.socket_type, SocketType::Dealer);
                assert_eq!(&p.identity[..], b"me");
            }
            e => panic!("{e:?}"),
        }
        a.send_message(&Message::from(["a", "b"]));
        a.send_ping(10, Bytes::from_static(b"xy"));
        pump(&mut a, &mut b);
        assert_eq!(
            b.poll_event(),
            Some(Event::Message(Message::from(["a", "b"])))
        );
        assert_eq!(b.poll_event(), Some(Event::Ping { ttl: 10 }));
        assert!(matches!(a.poll_event(), Some(Event::Ready(_))));
        assert_eq!(a.poll_event(), Some(Event::Pong));
    }

    #[test]
    fn incompatible_sends_error() {
        let mut a = Connection::new(Config::new(SocketType::Req));
        let mut b = Connection::new(Config::new(SocketType::Pub));
        for _ in 0..3 {
            let ab = a.transmit().to_vec();
            let n = a.transmit().len();
            a.transmit().advance(n);
            let _ = b.handle_input(&mut BytesMut::from(&ab[..]));
            let ba = b.transmit().to_vec();
            let n = b.transmit().len();
            b.transmit().advance(n);
            let r = a.handle_input(&mut BytesMut::from(&ba[..]));
            if let Err(e) = r {
                assert!(matches!(e, ProtocolError::IncompatibleSocketType { .. }));
                let out = a.transmit().to_vec();
                assert!(out.windows(5).any(|w| w == b"ERROR"));
                return;
            }
        }
        panic!("no error");
    }
}
