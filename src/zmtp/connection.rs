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
//! Throughout, the connection keeps its own deadlines (HANDSHAKE_IVL until step 4, then
//! the heartbeats), from instants the driver passes in: see [`Connection`] for the calls
//! and their order.

use super::command::{Command, Metadata};
use super::frame::{encode_header, header_len, FrameDecoder, WriteBuf, FLAG_COMMAND, FLAG_MORE};
use super::greeting::{self, Greeting, Mechanism, GREETING_LEN, SIGNATURE_LEN};
use super::mechanism::curve::{Cipher, Curve};
use super::mechanism::plain::{error_body, Plain};
use super::mechanism::{os_random, RandomSource, Security, Step, ZapReply, ZapRequest};
use super::timers::{Action, Timers};
use super::{ProtocolError, SocketType};
use crate::Message;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Most frames one message may have; more is treated as a protocol error so that a peer
/// cannot grow memory with endless empty frames.
pub const MAX_FRAMES_PER_MESSAGE: usize = 65_536;

/// What this side of the connection is.
#[derive(Clone)]
pub struct Config {
    /// Our socket type, sent in READY and checked against the peer's.
    pub socket_type: SocketType,
    /// Our routing id (ROUTING_ID), sent as `Identity` for REQ, DEALER and ROUTER as libzmq does.
    pub routing_id: Bytes,
    /// Security mechanism and role (NULL, PLAIN or CURVE; client or server).
    pub security: Security,
    /// ZAP: when set, the handshake asks for authentication ([`Event::Zap`]) with this
    /// domain before it completes (the server side of PLAIN and CURVE; either side of
    /// NULL). `None`: every peer is accepted, as libzmq does without a ZAP handler.
    pub zap_domain: Option<String>,
    /// The peer's address, for ZAP requests.
    pub peer_address: String,
    /// Randomness for CURVE keys and nonces (`None`: the operating system's generator).
    pub rng: Option<RandomSource>,
    /// MAXMSGSIZE: the largest message frame accepted (`None`: no limit).
    pub max_msg_size: Option<u64>,
    /// Extra READY properties (application metadata, e.g. `X-Name`).
    pub metadata: Metadata,
    /// HANDSHAKE_IVL: the handshake fails ([`ProtocolError::HandshakeTimeout`]) unless it
    /// completes this long after [`Connection::new`]. Zero: no limit.
    pub handshake_ivl: Duration,
    /// HEARTBEAT_IVL: once the handshake completed, a PING goes out this often. Zero: no
    /// PINGs.
    pub heartbeat_ivl: Duration,
    /// HEARTBEAT_TIMEOUT: after a PING, the connection fails
    /// ([`ProtocolError::HeartbeatTimeout`]) when no byte at all arrives within this long.
    /// Zero: the heartbeat interval.
    pub heartbeat_timeout: Duration,
    /// HEARTBEAT_TTL: the time to live our PINGs announce, after which the peer may drop
    /// a silent connection (sent in deciseconds, capped at `u16::MAX`). Zero: none.
    pub heartbeat_ttl: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("socket_type", &self.socket_type)
            .field("routing_id", &self.routing_id)
            .field("security", &self.security)
            .field("zap_domain", &self.zap_domain)
            .field("max_msg_size", &self.max_msg_size)
            .field("handshake_ivl", &self.handshake_ivl)
            .field("heartbeat_ivl", &self.heartbeat_ivl)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("heartbeat_ttl", &self.heartbeat_ttl)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A NULL-mechanism configuration for `socket_type` with default settings (libzmq's:
    /// a 30 s HANDSHAKE_IVL, no heartbeats).
    pub fn new(socket_type: SocketType) -> Self {
        Config {
            socket_type,
            routing_id: Bytes::new(),
            security: Security::Null,
            zap_domain: None,
            peer_address: String::new(),
            rng: None,
            max_msg_size: None,
            metadata: Metadata::new(),
            handshake_ivl: Duration::from_secs(30),
            heartbeat_ivl: Duration::ZERO,
            heartbeat_timeout: Duration::ZERO,
            heartbeat_ttl: Duration::ZERO,
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
    /// The security mechanism of the connection.
    pub mechanism: Mechanism,
    /// The user id the ZAP handler gave the peer (libzmq's `User-Id` property).
    pub user_id: Option<String>,
    /// The CURVE client's long-term public key, when we are the CURVE server.
    pub curve_public_key: Option<[u8; 32]>,
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
    /// JOIN command (to a RADIO): the peer joined this group.
    Join(Bytes),
    /// LEAVE command (to a RADIO): the peer left this group.
    Leave(Bytes),
    /// The peer pinged (a PONG is already queued); `ttl` in deciseconds.
    Ping {
        /// The peer's advertised time-to-live.
        ttl: u16,
    },
    /// The peer answered a PING.
    Pong,
    /// An unknown command, ignored; its name is reported for diagnostics.
    UnknownCommand(Bytes),
    /// The handshake needs the ZAP handler's verdict: answer with
    /// [`Connection::handle_zap_reply`].
    Zap(ZapRequest),
}

/// The running mechanism handshake.
#[derive(Debug)]
enum Mech {
    Null {
        /// Our READY went out (it waits for ZAP when ZAP is on).
        ready_sent: bool,
        /// The peer's READY, when it came first.
        peer: Option<Metadata>,
    },
    Plain(Plain),
    Curve(Box<Curve>),
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

/// One ZMTP connection, sans I/O: bytes and instants in, events and bytes out.
///
/// It never reads a clock; every method that depends on time takes `now`, so a test can
/// run it on a virtual clock. Its methods are of four kinds:
///
/// - **Getters** ([`config`](Self::config), [`is_ready`](Self::is_ready),
///   [`peer`](Self::peer), [`bytes_needed`](Self::bytes_needed), ...): no side effect.
/// - **`handle_*`: input from the network or the clock.**
///   [`handle_received`](Self::handle_received) once per read that brought bytes, then
///   [`handle_input`](Self::handle_input) (or [`handle_input_limited`](Self::handle_input_limited))
///   with the read buffer; [`handle_timeout`](Self::handle_timeout) when the clock reaches
///   [`poll_timeout`](Self::poll_timeout); [`handle_zap_reply`](Self::handle_zap_reply)
///   to answer an [`Event::Zap`].
/// - **Mutators: the application's commands.** [`send_message`](Self::send_message),
///   [`send_subscription`](Self::send_subscription), [`send_command`](Self::send_command), ...
///   queue bytes for the peer.
/// - **`poll_*`: output.** After every input or command, in this order:
///   1. [`poll_event`](Self::poll_event) until `None` (or
///      [`poll_leading_event`](Self::poll_leading_event) then
///      [`take_messages`](Self::take_messages));
///   2. write out [`transmit`](Self::transmit), [`WriteBuf::advance`] by what was
///      written (a timeout may have queued a PING, an event a PONG);
///   3. [`poll_timeout`](Self::poll_timeout): the instant at which to call
///      `handle_timeout` next (`None`: no deadline). It can be an instant already past,
///      when a timer waits for a time to start from (the heartbeats after the handshake,
///      a TTL after the peer's PING): call `handle_timeout` at once then.
///
/// An error from a `handle_*` method is the connection's end: flush what `transmit`
/// holds if you can (it may carry an ERROR command), then close. Later input is ignored
/// and `poll_timeout` is `None`.
///
/// # Time
/// [`new`](Self::new) starts the HANDSHAKE_IVL deadline ([`ProtocolError::HandshakeTimeout`];
/// none when zero). Once ready, a PING with our HEARTBEAT_TTL goes out every
/// HEARTBEAT_IVL; when no byte at all arrives within HEARTBEAT_TIMEOUT of a PING, the
/// connection fails with [`ProtocolError::HeartbeatTimeout`]. A PING from the peer that
/// announces a TTL makes the connection fail with [`ProtocolError::PeerTtlExpired`] when no
/// byte arrives within that TTL. Only that last rule needs the time of each read:
/// `handle_received` reads the caller's clock only while a peer TTL runs.
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
    /// Messages decoded after every entry of `events` (kept apart so a driver can take
    /// them as a whole queue, without moving each one).
    messages: VecDeque<Message>,
    partial: Message,
    peer: Option<PeerInfo>,
    message_budget: usize,
    mech: Option<Mech>,
    cipher: Option<Box<Cipher>>,
    zap_user: Option<Box<ZapReply>>,
    curve_client_key: Option<[u8; 32]>,
    timers: Timers,
}

impl Connection {
    /// A new connection whose handshake starts at `now` (the HANDSHAKE_IVL deadline counts
    /// from it); the signature is queued for transmission at once.
    pub fn new(cfg: Config, now: Instant) -> Self {
        let mut out = WriteBuf::new();
        out.put_slice(&greeting::signature(cfg.routing_id.len()));
        Connection {
            timers: Timers::new(
                cfg.handshake_ivl,
                cfg.heartbeat_ivl,
                cfg.heartbeat_timeout,
                cfg.heartbeat_ttl,
                now,
            ),
            decoder: FrameDecoder::new(cfg.max_msg_size),
            cfg,
            state: State::Signature,
            greeting: [0; GREETING_LEN],
            greeting_len: 0,
            peer_greeting: None,
            out,
            events: VecDeque::new(),
            messages: VecDeque::new(),
            partial: Message::new(),
            peer: None,
            message_budget: usize::MAX,
            mech: None,
            cipher: None,
            zap_user: None,
            curve_client_key: None,
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

    /// Gives back the event queue's allocation when the handshake left it empty: its
    /// commands needed a few entries; a ready connection rarely queues an event (messages
    /// have their own queue), and an idle one should hold no such buffer.
    pub fn release_handshake_memory(&mut self) {
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
    }

    /// True when the connection is ready and holds nothing received: no event, no
    /// message, no part of a multipart message (the next byte read starts a new frame of
    /// a new message, given an empty read buffer).
    pub fn at_message_boundary(&self) -> bool {
        self.state == State::Ready
            && self.partial.is_empty()
            && self.events.is_empty()
            && self.messages.is_empty()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next: the handshake
    /// deadline, the next PING, a PING's timeout or the peer's TTL, whichever comes first;
    /// an instant already past when a timer waits for a time to start from. `None`: no
    /// deadline (and none until the next input).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Failed => None,
            state => self.timers.deadline(state == State::Ready),
        }
    }

    /// The clock reads `now` (at or after [`poll_timeout`](Self::poll_timeout), or early:
    /// then only what waited for a time starts). Fails with
    /// [`ProtocolError::HandshakeTimeout`], [`ProtocolError::HeartbeatTimeout`] or
    /// [`ProtocolError::PeerTtlExpired`] when that deadline passed; queues a PING when one
    /// is due.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ProtocolError> {
        if self.state == State::Failed {
            return Ok(());
        }
        match self.timers.on_timeout(now, self.state == State::Ready) {
            Ok(Action::None) => Ok(()),
            Ok(Action::Ping(ttl)) => {
                self.send_ping(ttl, Bytes::new());
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    /// Bytes arrived from the peer (call once per read that brought any, before decoding
    /// them with [`handle_input`](Self::handle_input)): they answer our PING, whatever they
    /// are, and restart the peer's TTL. `now` is called, once, only while a peer TTL runs,
    /// so the usual read costs no clock read.
    #[inline]
    pub fn handle_received(&mut self, now: impl FnOnce() -> Instant) {
        self.timers.on_received(now);
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
        self.events
            .pop_front()
            .or_else(|| self.messages.pop_front().map(Event::Message))
    }

    /// The next event that precedes every message still held for
    /// [`take_messages`](Self::take_messages) (it may itself be a message). A driver
    /// calls this until `None`, then `take_messages`: together they yield what
    /// [`poll_event`](Self::poll_event) would, in the same order.
    pub fn poll_leading_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Moves the decoded messages that follow every pending event to the back of `dst`:
    /// when `dst` is empty the two queues are swapped, so no message is moved.
    pub fn take_messages(&mut self, dst: &mut VecDeque<Message>) {
        if dst.is_empty() {
            std::mem::swap(dst, &mut self.messages);
        } else {
            dst.append(&mut self.messages);
        }
    }

    /// Queues an event after every message decoded so far.
    fn push_event(&mut self, ev: Event) {
        self.events
            .extend(self.messages.drain(..).map(Event::Message));
        self.events.push_back(ev);
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
                    let ours =
                        Greeting::new(self.cfg.security.mechanism(), self.cfg.security.as_server())
                            .encode();
                    self.out.put_slice(&ours[SIGNATURE_LEN + 1..]);
                    self.state = State::Rest;
                }
                State::Rest => {
                    if !self.take_greeting_bytes(buf, GREETING_LEN) {
                        return Ok(());
                    }
                    let ours = self.cfg.security.mechanism();
                    let g = Greeting::decode(&self.greeting).map_err(|e| match e {
                        ProtocolError::MechanismMismatch { theirs, .. } => {
                            ProtocolError::MechanismMismatch {
                                ours: ours.to_string(),
                                theirs,
                            }
                        }
                        e => e,
                    })?;
                    if g.mechanism != ours {
                        return Err(ProtocolError::MechanismMismatch {
                            ours: ours.to_string(),
                            theirs: g.mechanism.to_string(),
                        });
                    }
                    // The peer's as-server flag is not checked: libzmq always sends 0
                    // there. Two clients or two servers fail in the mechanism instead.
                    self.peer_greeting = Some(g);
                    self.state = State::Handshake;
                    self.start_mechanism()?;
                }
                State::Handshake | State::Ready => {
                    if self.state == State::Ready && self.message_budget == 0 {
                        return Ok(());
                    }
                    if self.state == State::Ready
                        && self.cipher.is_none()
                        && self.partial.is_empty()
                        && self.cfg.socket_type != SocketType::Dish
                    {
                        // One-frame messages in a row, cut off together; whatever ends
                        // the run is the next frame below.
                        let n = self.decoder.decode_singles(
                            buf,
                            self.message_budget,
                            &mut self.messages,
                        );
                        self.message_budget -= n;
                        if self.message_budget == 0 {
                            return Ok(());
                        }
                    }
                    let Some(mut frame) = self.decoder.decode(buf)? else {
                        return Ok(());
                    };
                    if let (Some(c), State::Ready) = (self.cipher.as_mut(), self.state) {
                        // Every frame after a CURVE handshake is a MESSAGE box.
                        let (more, command, body) = c.decrypt_frame(&frame.body)?;
                        frame.flags = if command { FLAG_COMMAND } else { 0 }
                            | if more && !command { FLAG_MORE } else { 0 };
                        frame.body = body;
                    }
                    if frame.is_command() && self.state == State::Handshake {
                        self.handle_handshake_command(frame.body)?;
                    } else if frame.is_command() {
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
                        if self.cfg.socket_type == SocketType::Dish {
                            self.dish_frame(frame.body, more)?;
                        } else if !more && self.partial.is_empty() {
                            // A one-frame message is built where it is queued: going
                            // through `partial` stored it frame by frame and then
                            // reloaded it whole (a store-forwarding stall per message).
                            self.messages.push_back(Message::from(frame.body));
                            self.message_budget -= 1;
                        } else {
                            self.partial.push_back(frame.body);
                            if !more {
                                let msg = std::mem::take(&mut self.partial);
                                self.messages.push_back(msg);
                                self.message_budget -= 1;
                            }
                        }
                    }
                }
                State::Failed => return Ok(()),
            }
        }
    }

    /// DISH: a RADIO's message is two frames, the group (MORE, at most 255 bytes) and the
    /// body (no MORE); it is queued as the body with its group, as libzmq's dish session
    /// makes it. Anything else is the peer's error: libzmq drops the connection too.
    #[cold]
    fn dish_frame(&mut self, body: Bytes, more: bool) -> Result<(), ProtocolError> {
        if self.partial.is_empty() {
            if !more {
                return Err(ProtocolError::BadGroupMessage("a group frame without MORE"));
            }
            if body.len() > crate::message::GROUP_MAX_LENGTH {
                return Err(ProtocolError::BadGroupMessage(
                    "a group longer than 255 bytes",
                ));
            }
            self.partial.push_back(body);
            return Ok(());
        }
        if more {
            return Err(ProtocolError::BadGroupMessage("a body frame with MORE"));
        }
        let group = self.partial.pop_front().unwrap_or_default();
        let mut msg = Message::from(body);
        msg.set_group_lossy(&group);
        self.messages.push_back(msg);
        self.message_budget -= 1;
        Ok(())
    }

    /// Our READY properties (also carried by PLAIN's INITIATE/READY and CURVE's boxes).
    fn our_metadata(&self) -> Metadata {
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
        md
    }

    fn zap_request(&self) -> Option<ZapRequest> {
        self.cfg.zap_domain.as_ref().map(|domain| ZapRequest {
            domain: domain.clone(),
            address: self.cfg.peer_address.clone(),
            routing_id: self.cfg.routing_id.clone(),
            mechanism: self.cfg.security.mechanism(),
            credentials: Vec::new(),
        })
    }

    fn rng(&self) -> RandomSource {
        self.cfg
            .rng
            .clone()
            .unwrap_or_else(|| std::sync::Arc::new(os_random))
    }

    /// Starts the mechanism once the greetings are exchanged.
    fn start_mechanism(&mut self) -> Result<(), ProtocolError> {
        let md = self.our_metadata();
        let mut out = Vec::new();
        let mech = match self.cfg.security.clone() {
            Security::Null => {
                if let Some(req) = self.zap_request() {
                    self.push_event(Event::Zap(req));
                    Mech::Null {
                        ready_sent: false,
                        peer: None,
                    }
                } else {
                    self.send_command(&Command::Ready(md));
                    Mech::Null {
                        ready_sent: true,
                        peer: None,
                    }
                }
            }
            Security::PlainClient { username, password } => {
                let mut p = Plain::client(username, password, md);
                p.start(&mut out);
                Mech::Plain(p)
            }
            Security::PlainServer => Mech::Plain(Plain::server(md)),
            Security::CurveClient {
                server_key,
                public_key,
                secret_key,
            } => {
                let mut c = Curve::client(server_key, public_key, secret_key, md, self.rng());
                c.start(&mut out)?;
                Mech::Curve(Box::new(c))
            }
            Security::CurveServer {
                public_key,
                secret_key,
            } => Mech::Curve(Box::new(Curve::server(
                public_key,
                secret_key,
                md,
                self.rng(),
            ))),
        };
        self.mech = Some(mech);
        self.write_commands(out);
        Ok(())
    }

    fn write_commands(&mut self, cmds: Vec<Bytes>) {
        for body in cmds {
            let mut h = BytesMut::with_capacity(9);
            encode_header(FLAG_COMMAND, body.len(), &mut h);
            self.out.put_slice(&h);
            self.out.put_bytes(&body);
        }
    }

    fn handle_handshake_command(&mut self, body: Bytes) -> Result<(), ProtocolError> {
        let zap = self.zap_request();
        let mut out = Vec::new();
        let step = match self.mech.as_mut() {
            Some(Mech::Plain(p)) => p.on_command(body, zap, &mut out),
            Some(Mech::Curve(c)) => {
                let r = c.on_command(body, zap, &mut out);
                self.curve_client_key = c.client_key();
                match r {
                    Ok(Step::Done(md)) => c.cipher().map(|cipher| {
                        self.cipher = Some(Box::new(cipher));
                        Step::Done(md)
                    }),
                    other => other,
                }
            }
            Some(Mech::Null { ready_sent, peer }) => match Command::decode(body)? {
                Command::Ready(md) => {
                    if *ready_sent {
                        Ok(Step::Done(md))
                    } else {
                        *peer = Some(md);
                        Ok(Step::Continue)
                    }
                }
                Command::Error(reason) => Err(ProtocolError::PeerError(
                    String::from_utf8_lossy(&reason).into_owned(),
                )),
                other => Err(ProtocolError::UnexpectedCommand(
                    String::from_utf8_lossy(other.name()).into_owned(),
                )),
            },
            None => Err(ProtocolError::UnexpectedCommand(
                "command before greeting".into(),
            )),
        };
        self.write_commands(out);
        self.apply_step(step?)
    }

    fn apply_step(&mut self, step: Step) -> Result<(), ProtocolError> {
        match step {
            Step::Continue => Ok(()),
            Step::Zap(req) => {
                self.push_event(Event::Zap(req));
                Ok(())
            }
            Step::Done(md) => self.finish_handshake(md),
        }
    }

    /// The ZAP handler's verdict for the pending [`Event::Zap`]. A status other than 200
    /// queues an ERROR command carrying it and fails the connection.
    pub fn handle_zap_reply(&mut self, reply: ZapReply) -> Result<(), ProtocolError> {
        let r = self.handle_zap_reply_inner(reply);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn handle_zap_reply_inner(&mut self, reply: ZapReply) -> Result<(), ProtocolError> {
        let mut out = Vec::new();
        let ok = reply.status_code == 200;
        if ok {
            self.zap_user = Some(Box::new(reply.clone()));
        }
        let step = match self.mech.as_mut() {
            Some(Mech::Plain(p)) => p.zap_reply(&reply, &mut out),
            Some(Mech::Curve(c)) => {
                let r = c.zap_reply(&reply, &mut out);
                match r {
                    Ok(Step::Done(md)) => c.cipher().map(|cipher| {
                        self.cipher = Some(Box::new(cipher));
                        Step::Done(md)
                    }),
                    other => other,
                }
            }
            Some(Mech::Null { ready_sent, peer }) => {
                if *ready_sent {
                    Err(ProtocolError::UnexpectedCommand("ZAP reply".into()))
                } else if !ok {
                    out.push(error_body(reply.status_code));
                    Err(ProtocolError::Auth(format!(
                        "{} {}",
                        reply.status_code, reply.status_text
                    )))
                } else {
                    *ready_sent = true;
                    let waiting = peer.take();
                    let md = self.our_metadata();
                    self.send_command(&Command::Ready(md));
                    Ok(match waiting {
                        Some(md) => Step::Done(md),
                        None => Step::Continue,
                    })
                }
            }
            None => Err(ProtocolError::UnexpectedCommand("ZAP reply".into())),
        };
        self.write_commands(out);
        self.apply_step(step?)
    }

    /// Checks the peer's socket type and completes the handshake.
    fn finish_handshake(&mut self, md: Metadata) -> Result<(), ProtocolError> {
        let st = md
            .get("Socket-Type")
            .and_then(|v| SocketType::from_name(v))
            .ok_or(ProtocolError::BadSocketType)?;
        if !self.cfg.socket_type.is_compatible(st) {
            // A CURVE peer could not read a clear-text ERROR at this point; libzmq sends
            // none there either, it just closes.
            if self.cipher.is_none() {
                self.send_command(&Command::Error(Bytes::from_static(b"Invalid socket type")));
            }
            return Err(ProtocolError::IncompatibleSocketType {
                ours: self.cfg.socket_type,
                theirs: st,
            });
        }
        let identity = md.get("Identity").cloned().unwrap_or_default();
        if identity.len() > 255 {
            return Err(ProtocolError::MalformedMetadata("Identity longer than 255"));
        }
        let mut metadata = md;
        let user_id = self.zap_user.take().map(|z| {
            for (n, v) in z.metadata.iter() {
                metadata.push(n, v.clone());
            }
            z.user_id
        });
        let info = PeerInfo {
            socket_type: st,
            identity,
            metadata,
            minor: self.peer_greeting.map_or(1, |g| g.minor),
            mechanism: self.cfg.security.mechanism(),
            user_id,
            curve_public_key: self.curve_client_key,
        };
        self.peer = Some(info.clone());
        self.mech = None;
        self.state = State::Ready;
        self.push_event(Event::Ready(info));
        Ok(())
    }

    /// True when frames are encrypted (CURVE): fan-out cannot share pre-encoded bytes.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    fn handle_command(&mut self, cmd: Command) -> Result<(), ProtocolError> {
        match (self.state, cmd) {
            (_, Command::Error(reason)) => Err(ProtocolError::PeerError(
                String::from_utf8_lossy(&reason).into_owned(),
            )),
            (State::Handshake, other) => Err(ProtocolError::UnexpectedCommand(
                String::from_utf8_lossy(other.name()).into_owned(),
            )),
            (_, Command::Ready(_)) => Err(ProtocolError::UnexpectedCommand("READY".into())),
            (_, Command::Ping { ttl, context }) => {
                self.timers.on_peer_ping(ttl);
                self.send_command(&Command::Pong(context));
                self.push_event(Event::Ping { ttl });
                Ok(())
            }
            (_, Command::Pong(_)) => {
                self.push_event(Event::Pong);
                Ok(())
            }
            (_, Command::Subscribe(t)) => {
                self.push_event(Event::Subscribe(t));
                Ok(())
            }
            (_, Command::Cancel(t)) => {
                self.push_event(Event::Cancel(t));
                Ok(())
            }
            (_, cmd @ (Command::Join(_) | Command::Leave(_)))
                if self.cfg.socket_type != SocketType::Radio =>
            {
                // Only a RADIO takes groups; others ignore the command, as libzmq does.
                self.push_event(Event::UnknownCommand(Bytes::copy_from_slice(cmd.name())));
                Ok(())
            }
            (_, Command::Join(g)) => {
                // libzmq asserts on a longer group; here the peer is dropped.
                if g.len() > crate::message::GROUP_MAX_LENGTH {
                    return Err(ProtocolError::MalformedCommand("JOIN"));
                }
                self.push_event(Event::Join(g));
                Ok(())
            }
            (_, Command::Leave(g)) => {
                if g.len() > crate::message::GROUP_MAX_LENGTH {
                    return Err(ProtocolError::MalformedCommand("LEAVE"));
                }
                self.push_event(Event::Leave(g));
                Ok(())
            }
            (_, Command::Unknown { name, .. }) => {
                self.push_event(Event::UnknownCommand(name));
                Ok(())
            }
        }
    }

    /// Queues a command frame (encrypted after a CURVE handshake).
    pub fn send_command(&mut self, cmd: &Command) {
        let mut b = BytesMut::new();
        cmd.encode(&mut b);
        if let (Some(c), State::Ready) = (self.cipher.as_mut(), self.state) {
            // Re-frame: the cipher wraps the command body with the COMMAND flag inside.
            let mut dec = FrameDecoder::new(None);
            if let Ok(Some(f)) = dec.decode(&mut b) {
                c.encrypt_frame(false, true, &f.body, &mut self.out);
            }
            return;
        }
        self.out.put_slice(&b);
    }

    /// Queues a multipart message (call only once [`is_ready`](Self::is_ready)).
    #[inline]
    pub fn send_message(&mut self, msg: &Message) {
        if self.cfg.socket_type == SocketType::Radio && msg.len() == 1 {
            return self.send_radio(msg);
        }
        match self.cipher.as_mut() {
            None => encode_message(msg, &mut self.out),
            Some(c) => {
                let last = msg.len().saturating_sub(1);
                for (i, f) in msg.iter().enumerate() {
                    c.encrypt_frame(i < last, false, f, &mut self.out);
                }
            }
        }
    }

    /// RADIO: a message goes out as two frames, its group (empty when it has none) and its
    /// body, as libzmq's radio session writes it.
    #[cold]
    fn send_radio(&mut self, msg: &Message) {
        let wire = Message::from([Bytes::copy_from_slice(msg.group()), msg[0].clone()]);
        self.send_message(&wire);
    }

    /// Queues bytes that are already encoded frames (a fan-out message encoded once).
    /// Only for unencrypted connections ([`is_encrypted`](Self::is_encrypted) false).
    #[inline]
    pub fn send_encoded(&mut self, wire: &Bytes) {
        debug_assert!(
            self.cipher.is_none(),
            "pre-encoded frames on a CURVE connection"
        );
        self.out.put_bytes(wire);
    }

    /// Queues frames already encoded, copied (small fan-out messages).
    pub fn send_encoded_slice(&mut self, wire: &[u8]) {
        debug_assert!(
            self.cipher.is_none(),
            "pre-encoded frames on a CURVE connection"
        );
        self.out.put_slice(wire);
    }

    /// Queues a subscription change in the form the peer understands: a SUBSCRIBE/CANCEL
    /// command for ZMTP 3.1, a message prefixed with `01`/`00` for ZMTP 3.0; a DISH's join
    /// or leave of a group as a JOIN/LEAVE command.
    pub fn send_subscription(&mut self, subscribe: bool, topic: &Bytes) {
        if self.cfg.socket_type == SocketType::Dish {
            // A DISH's joins: JOIN/LEAVE commands, to ZMTP 3.0 peers too (as libzmq).
            let group = topic.clone();
            return self.send_command(&if subscribe {
                Command::Join(group)
            } else {
                Command::Leave(group)
            });
        }
        if self.is_zmtp30() {
            let mut body = BytesMut::with_capacity(topic.len() + 1);
            body.extend_from_slice(&[subscribe as u8]);
            body.extend_from_slice(topic);
            self.send_message(&Message::from(body.freeze()));
        } else if subscribe {
            self.send_command(&Command::Subscribe(topic.clone()));
        } else {
            self.send_command(&Command::Cancel(topic.clone()));
        }
    }

    /// Queues a PING with a TTL (deciseconds) and a context. The connection sends its own
    /// PINGs every HEARTBEAT_IVL (see [`handle_timeout`](Self::handle_timeout)); this one
    /// starts no timeout.
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

/// The frames [`encode_message`] writes, in one contiguous buffer (`dst` is extended).
pub fn encode_message_into(msg: &Message, dst: &mut BytesMut) {
    let len: usize = msg.iter().map(|f| header_len(f.len()) + f.len()).sum();
    dst.reserve(len);
    let last = msg.len().saturating_sub(1);
    for (i, f) in msg.iter().enumerate() {
        encode_header(if i < last { FLAG_MORE } else { 0 }, f.len(), dst);
        dst.extend_from_slice(f);
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
        let mut a = Connection::new(cfg, Instant::now());
        let mut b = Connection::new(Config::new(SocketType::Router), Instant::now());
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
        let mut a = Connection::new(Config::new(SocketType::Req), Instant::now());
        let mut b = Connection::new(Config::new(SocketType::Pub), Instant::now());
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
