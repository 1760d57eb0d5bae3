//! The built-in proxy: libzmq's `zmq_proxy` and `zmq_proxy_steerable` as async functions.
//!
//! [`proxy`] forwards every message received on the frontend to the backend and every
//! message received on the backend to the frontend (each direction only where the source
//! can receive and the destination can send), multipart messages intact. A classic broker
//! is a ROUTER frontend for REQ clients and a DEALER backend for REP workers; a classic
//! forwarder is an XSUB frontend for publishers and an XPUB backend for subscribers (the
//! subscriptions flow backend → frontend).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aiozmq::Result<()> {
//! use aiozmq::{proxy, Socket, SocketType};
//! let frontend = Socket::new(SocketType::Router);
//! frontend.bind("tcp://*:5555").await?;
//! let backend = Socket::new(SocketType::Dealer);
//! backend.bind("tcp://*:5556").await?;
//! proxy(&frontend, &backend, None).await // runs until a socket fails or is closed
//! # }
//! ```
//!
//! [`proxy_steerable`] adds a control socket that takes libzmq's commands (see there).
//!
//! # How it runs
//! Each direction is a loop `recv → copy to capture → send` and the control socket has a
//! loop of its own; the three run concurrently inside the returned future (one task, no
//! spawning, so the sockets are only borrowed). After a message it waited for, a direction
//! goes on with the messages already queued (`try_recv`, then `try_send`, one at a time and
//! in order) until one would have to wait or 256 went in a row, then lets the rest of the
//! task run: the connection tasks then write a whole run of messages in one system call. A
//! direction waits in `send` while its destination is full (SNDHWM), and meanwhile does not
//! receive: the proxy holds at most one message per direction, and backpressure reaches the
//! senders through the source socket's RCVHWM. The other direction and the control socket
//! are served meanwhile, so a slow backend does not keep replies from reaching the
//! frontend.
//!
//! With a REQ or REP socket on either side, the two directions take turns (one message
//! each), as those sockets' send/receive alternation requires; the first turn is the
//! direction the alternation allows (a REP frontend receives first, a REQ backend sends
//! first, ...).
//!
//! # Differences from libzmq
//! - The capture socket never slows the proxy down: copies are sent with `try_send` and
//!   dropped when the capture socket has no room (libzmq blocks on it). Control commands
//!   are never copied to it.
//! - A send that fails with `EHOSTUNREACH` (a ROUTER_MANDATORY destination that does not
//!   know the routing id) drops that message and goes on; libzmq's proxy returns the error.
//! - An unknown control command is logged (`tracing` warning) and ignored, as libzmq 4.3.5
//!   does (4.3.4 and older abort the process).

use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::watch;

use crate::{Error, ErrorKind, Message, Result, Socket, SocketType};

/// A direction forwards at most this many messages in a row without waiting (see `pump`),
/// then yields to the runtime, so that a busy direction cannot starve the other one, the
/// control socket, or other tasks.
const BURST: u32 = 256;

/// Runs libzmq's built-in proxy (`zmq_proxy`) between `frontend` and `backend`, sending a
/// copy of every forwarded message to `capture` if given.
///
/// Forwards frontend → backend when the frontend can receive and the backend can send,
/// and backend → frontend when the backend can receive and the frontend can send (PUB and
/// PUSH cannot receive; SUB and PULL cannot send). `frontend` and `backend` may be the same
/// socket (then only frontend → backend runs, as in libzmq).
///
/// Runs until a socket fails: it returns `Err` with kind `Closed` (libzmq's `ETERM`) when
/// one of the sockets is closed. It never returns `Ok` — use [`proxy_steerable`] for a
/// proxy that can be stopped by a command — and fails at once with `EINVAL` when no
/// direction is possible, when the capture socket cannot send without a request/reply
/// alternation (SUB, PULL, REQ, REP), or when a REQ/REP alternation cannot be satisfied.
///
/// # Cancel safety
/// Dropping the future stops the proxy at once. Messages still queued in the sockets are
/// not lost (they stay there), but a message the proxy already received and had not yet
/// handed to its destination — at most one per direction, typically one waiting for room
/// at SNDHWM — is lost with the future.
pub async fn proxy(frontend: &Socket, backend: &Socket, capture: Option<&Socket>) -> Result<()> {
    proxy_steerable(frontend, backend, capture, None).await
}

/// Runs libzmq's steerable proxy (`zmq_proxy_steerable`): [`proxy`], plus commands read
/// from `control` (each a one-frame message).
///
/// | command | effect | reply on a REP control socket | reply otherwise |
/// |---|---|---|---|
/// | `PAUSE` | stop forwarding (the control socket is still served; messages wait in the sockets' queues) | empty frame | none |
/// | `RESUME` | forward again | empty frame | none |
/// | `TERMINATE` | return `Ok(())` | empty frame (sent before returning) | none |
/// | `STATISTICS` | none | 8 frames (below) | 8 frames |
/// | anything else | logged (`tracing` warning) and ignored | empty frame | none |
///
/// The STATISTICS reply has libzmq's layout: eight frames, each a `u64` copied raw in the
/// machine's native byte order (little-endian on x86-64 and AArch64) as libzmq copies its
/// `uint64_t` counters: frontend messages received, frontend bytes received, frontend
/// messages sent, frontend bytes sent, then the same four for the backend. The counts are
/// the proxy's own (what it received and sent since it started: a message waiting for room
/// at its destination counts as received, not yet as sent, as in libzmq) and, as in libzmq
/// 4.3.5, a "message" is a message *part*: a 3-frame message counts 3, and its bytes are
/// the sum of its frame sizes (a ROUTER's routing-id frame included). (libzmq 4.3.4 and
/// older counted a multipart message once.) [`ProxyStatistics::from_message`] decodes the
/// reply.
///
/// Replies on a REP control socket: libzmq 4.3.4 and older reply to STATISTICS only, which
/// leaves a REP socket unable to receive the next command; libzmq 4.3.5 (as bundled with
/// pyzmq, checked by this crate's interop tests) replies with an empty message to every
/// other command, unknown ones included, when the control socket is REP. This proxy does
/// the same, so a REQ client driving a REP control socket never stalls.
///
/// The command is the message's last frame; the frames before it, if any, are an envelope
/// sent back in front of the reply. So a ROUTER or DEALER control socket works too: a
/// DEALER client sends `[command]` to a ROUTER control socket and gets `[stats...]` back
/// for STATISTICS (nothing for the other commands, as only REP answers them). A control
/// socket that cannot send (SUB, PULL) takes commands but cannot answer STATISTICS (a
/// warning is logged).
///
/// `control: None` makes this exactly [`proxy`]. The control socket must be able to
/// receive (not PUB or PUSH), else `EINVAL`.
///
/// # Pausing
/// PAUSE takes effect for the next message: a message the proxy already received when
/// PAUSE arrives (for example one waiting for room in its destination) is still delivered.
/// While paused, nothing is received from the frontend and backend, so their queues fill
/// up to RCVHWM and their peers then wait, as with any slow receiver.
///
/// # Cancel safety
/// As [`proxy`]: dropping the future stops the proxy; a message received but not yet
/// forwarded (at most one per direction) is lost. The same holds on TERMINATE, which ends
/// the proxy without waiting for a message blocked at the destination's SNDHWM.
pub async fn proxy_steerable(
    frontend: &Socket,
    backend: &Socket,
    capture: Option<&Socket>,
    control: Option<&Socket>,
) -> Result<()> {
    let plan = Plan::new(frontend, backend, capture, control)?;
    let (flow, _) = watch::channel(Flow {
        paused: false,
        turn: plan.first_turn,
    });
    let stats = Mutex::new(ProxyStatistics::default());
    let ctx = Ctx {
        flow: &flow,
        stats: &stats,
        capture,
        alternate: plan.first_turn.is_some(),
    };
    let front_to_back = async {
        if plan.front_to_back {
            pump(frontend, backend, Dir::FrontToBack, &ctx).await
        } else {
            std::future::pending().await
        }
    };
    let back_to_front = async {
        if plan.back_to_front {
            pump(backend, frontend, Dir::BackToFront, &ctx).await
        } else {
            std::future::pending().await
        }
    };
    let steering = async {
        match control {
            Some(c) => steer(c, &ctx).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = front_to_back => r,
        r = back_to_front => r,
        r = steering => r,
    }
}

/// The proxy's own counts, as its STATISTICS command reports them: for the frontend, then
/// for the backend, messages and bytes received and sent.
///
/// As in libzmq 4.3.5 (whose STATISTICS replies this matches value for value), "messages"
/// are message parts: a multipart message of `n` frames counts `n`. Bytes are frame
/// payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ProxyStatistics {
    /// Message parts (frames) received from the frontend.
    pub frontend_messages_in: u64,
    /// Bytes received from the frontend.
    pub frontend_bytes_in: u64,
    /// Message parts (frames) sent to the frontend.
    pub frontend_messages_out: u64,
    /// Bytes sent to the frontend.
    pub frontend_bytes_out: u64,
    /// Message parts (frames) received from the backend.
    pub backend_messages_in: u64,
    /// Bytes received from the backend.
    pub backend_bytes_in: u64,
    /// Message parts (frames) sent to the backend.
    pub backend_messages_out: u64,
    /// Bytes sent to the backend.
    pub backend_bytes_out: u64,
}

impl ProxyStatistics {
    /// The eight values in libzmq's order.
    pub fn to_array(&self) -> [u64; 8] {
        [
            self.frontend_messages_in,
            self.frontend_bytes_in,
            self.frontend_messages_out,
            self.frontend_bytes_out,
            self.backend_messages_in,
            self.backend_bytes_in,
            self.backend_messages_out,
            self.backend_bytes_out,
        ]
    }

    /// From the eight values in libzmq's order.
    pub fn from_array(v: [u64; 8]) -> ProxyStatistics {
        ProxyStatistics {
            frontend_messages_in: v[0],
            frontend_bytes_in: v[1],
            frontend_messages_out: v[2],
            frontend_bytes_out: v[3],
            backend_messages_in: v[4],
            backend_bytes_in: v[5],
            backend_messages_out: v[6],
            backend_bytes_out: v[7],
        }
    }

    /// The STATISTICS reply: eight 8-byte frames in native byte order, as libzmq sends them.
    ///
    /// ```
    /// use aiozmq::ProxyStatistics;
    /// let s = ProxyStatistics { frontend_messages_in: 3, backend_bytes_out: 12, ..Default::default() };
    /// let m = s.to_message();
    /// assert_eq!(m.len(), 8);
    /// assert_eq!(&m[0][..], &3u64.to_ne_bytes());
    /// assert_eq!(ProxyStatistics::from_message(&m).unwrap(), s);
    /// ```
    pub fn to_message(&self) -> Message {
        self.to_array()
            .iter()
            .map(|v| Bytes::copy_from_slice(&v.to_ne_bytes()))
            .collect()
    }

    /// Decodes a STATISTICS reply (from this proxy or from libzmq's on the same kind of
    /// machine): `EINVAL` unless it is exactly eight 8-byte frames.
    pub fn from_message(msg: &Message) -> Result<ProxyStatistics> {
        if msg.len() != 8 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a STATISTICS reply has 8 frames, this message has {}",
                    msg.len()
                ),
            ));
        }
        let mut v = [0u64; 8];
        for (slot, frame) in v.iter_mut().zip(msg.iter()) {
            let raw: [u8; 8] = frame[..].try_into().map_err(|_| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("a STATISTICS frame is 8 bytes, this one is {}", frame.len()),
                )
            })?;
            *slot = u64::from_ne_bytes(raw);
        }
        Ok(ProxyStatistics::from_array(v))
    }

    fn record(&mut self, dir: Dir, t: &Tally) {
        let (ins, outs) = match dir {
            Dir::FrontToBack => (
                (&mut self.frontend_messages_in, &mut self.frontend_bytes_in),
                (&mut self.backend_messages_out, &mut self.backend_bytes_out),
            ),
            Dir::BackToFront => (
                (&mut self.backend_messages_in, &mut self.backend_bytes_in),
                (
                    &mut self.frontend_messages_out,
                    &mut self.frontend_bytes_out,
                ),
            ),
        };
        *ins.0 += t.parts_in;
        *ins.1 += t.bytes_in;
        *outs.0 += t.parts_out;
        *outs.1 += t.bytes_out;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    FrontToBack,
    BackToFront,
}

impl Dir {
    fn reverse(self) -> Dir {
        match self {
            Dir::FrontToBack => Dir::BackToFront,
            Dir::BackToFront => Dir::FrontToBack,
        }
    }
}

/// What the directions may do now; changed by the control loop (pause) and, with REQ/REP
/// sockets, by the directions themselves (turns).
#[derive(Debug, Clone, Copy)]
struct Flow {
    paused: bool,
    /// `Some(d)`: only `d` may forward its next message (REQ/REP alternation).
    turn: Option<Dir>,
}

impl Flow {
    fn may_run(&self, dir: Dir) -> bool {
        !self.paused && self.turn.is_none_or(|t| t == dir)
    }
}

struct Ctx<'a> {
    flow: &'a watch::Sender<Flow>,
    stats: &'a Mutex<ProxyStatistics>,
    capture: Option<&'a Socket>,
    alternate: bool,
}

/// The directions that run, checked up front.
struct Plan {
    front_to_back: bool,
    back_to_front: bool,
    first_turn: Option<Dir>,
}

fn can_recv(t: SocketType) -> bool {
    !matches!(t, SocketType::Pub | SocketType::Push | SocketType::Scatter)
}

fn can_send(t: SocketType) -> bool {
    !matches!(t, SocketType::Sub | SocketType::Pull | SocketType::Gather)
}

impl Plan {
    fn new(
        frontend: &Socket,
        backend: &Socket,
        capture: Option<&Socket>,
        control: Option<&Socket>,
    ) -> Result<Plan> {
        let (ft, bt) = (frontend.socket_type(), backend.socket_type());
        let same = std::ptr::eq(frontend, backend);
        let front_to_back = can_recv(ft) && can_send(bt);
        let back_to_front = !same && can_recv(bt) && can_send(ft);
        if !front_to_back && !back_to_front {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("proxy: nothing can flow between a {ft} frontend and a {bt} backend"),
            ));
        }
        if let Some(c) = capture {
            let ct = c.socket_type();
            if matches!(
                ct,
                SocketType::Sub
                    | SocketType::Pull
                    | SocketType::Gather
                    | SocketType::Req
                    | SocketType::Rep
            ) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("proxy: a {ct} socket cannot be the capture socket"),
                ));
            }
        }
        if let Some(c) = control {
            let ct = c.socket_type();
            if !can_recv(ct) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("proxy: a {ct} socket cannot receive control commands"),
                ));
            }
        }
        let reqrep = |t| matches!(t, SocketType::Req | SocketType::Rep);
        let mut first_turn = None;
        if !same && (reqrep(ft) || reqrep(bt)) {
            // REQ must send first and REP must receive first; a direction receives from
            // its source and sends to its destination.
            let may_start =
                |from: SocketType, to: SocketType| from != SocketType::Req && to != SocketType::Rep;
            first_turn = if !(front_to_back && back_to_front) {
                None
            } else if may_start(ft, bt) {
                Some(Dir::FrontToBack)
            } else if may_start(bt, ft) {
                Some(Dir::BackToFront)
            } else {
                None
            };
            if first_turn.is_none() {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "proxy: a {ft} frontend and a {bt} backend cannot keep the REQ/REP \
                         send/receive alternation"
                    ),
                ));
            }
        }
        Ok(Plan {
            front_to_back,
            back_to_front,
            first_turn,
        })
    }
}

/// Waits until `cond` holds for the current flow state.
async fn until(rx: &mut watch::Receiver<Flow>, cond: impl FnMut(&Flow) -> bool) {
    // The sender lives as long as the proxy future, so this never fails.
    let _ = rx.wait_for(cond).await;
}

/// One direction: receive from `from`, copy to the capture socket, send to `to`.
///
/// A run starts with a message `recv` waited for; the messages that are ready after it
/// are taken with `try_recv` and sent with `try_send`, one at a time and in order, for
/// up to [`BURST`] messages. The run ends where a wait would begin (nothing ready, or no
/// room at the destination); nothing else in this task runs during a run, so PAUSE and
/// the other direction's turn cannot change between its messages. Waiting for room, the
/// run ends after that message: the control loop may have run meanwhile.
async fn pump(from: &Socket, to: &Socket, dir: Dir, ctx: &Ctx<'_>) -> Result<()> {
    let mut rx = ctx.flow.subscribe();
    // REQ/REP take turns one message each: no runs.
    let burst = if ctx.alternate { 1 } else { BURST };
    loop {
        until(&mut rx, |f| f.may_run(dir)).await;
        // `recv` is cancel-safe: when PAUSE (or the other direction's turn) comes first,
        // nothing is taken from the socket.
        let mut msg = tokio::select! {
            biased;
            _ = until(&mut rx, |f| !f.may_run(dir)) => continue,
            r = from.recv() => r?,
        };
        let mut tally = Tally::default();
        let mut n = 1;
        let full_run = loop {
            let (parts, bytes) = (msg.len() as u64, msg.byte_len() as u64);
            tally.received(parts, bytes);
            if let Some(capture) = ctx.capture {
                copy_to_capture(capture, &msg)?;
            }
            let waited = match to.try_send(msg) {
                Ok(()) => {
                    tally.sent(parts, bytes);
                    false
                }
                Err(e) if e.error.kind() == ErrorKind::Again => {
                    // Counted before the wait, so that STATISTICS meanwhile sees them.
                    tally.flush(dir, ctx.stats);
                    if deliver(to, e.message).await? {
                        tally.sent(parts, bytes);
                    }
                    true
                }
                Err(e) => {
                    if e.error.kind() != ErrorKind::HostUnreachable {
                        return Err(e.error);
                    }
                    tracing::debug!("proxy: dropped an unroutable message: {}", e.error);
                    false
                }
            };
            if waited || n == burst {
                break !waited && n == BURST;
            }
            msg = match from.try_recv() {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::Again => break false,
                Err(e) => {
                    tally.flush(dir, ctx.stats);
                    return Err(e);
                }
            };
            n += 1;
        };
        tally.flush(dir, ctx.stats);
        if ctx.alternate {
            ctx.flow.send_modify(|f| f.turn = Some(dir.reverse()));
        }
        if full_run {
            // A direction that always has a message ready still lets the other one, the
            // control socket, other tasks and the connection tasks (which then write the
            // whole run at once) take their turn.
            tokio::task::yield_now().await;
        }
    }
}

/// Sends `msg` to `to`, waiting for room: `Ok(false)` when it was dropped as unroutable
/// (`EHOSTUNREACH`, see the module documentation).
async fn deliver(to: &Socket, msg: Message) -> Result<bool> {
    match to.send(msg).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::HostUnreachable => {
            tracing::debug!("proxy: dropped an unroutable message: {e}");
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// A direction's counts not yet added to the shared statistics (one lock per run, not per
/// message).
#[derive(Default)]
struct Tally {
    parts_in: u64,
    bytes_in: u64,
    parts_out: u64,
    bytes_out: u64,
}

impl Tally {
    fn received(&mut self, parts: u64, bytes: u64) {
        self.parts_in += parts;
        self.bytes_in += bytes;
    }

    fn sent(&mut self, parts: u64, bytes: u64) {
        self.parts_out += parts;
        self.bytes_out += bytes;
    }

    /// Adds the counts to `stats` and starts again from zero.
    fn flush(&mut self, dir: Dir, stats: &Mutex<ProxyStatistics>) {
        if self.parts_in == 0 && self.parts_out == 0 {
            return;
        }
        stats.lock().unwrap().record(dir, self);
        *self = Tally::default();
    }
}

/// Sends a copy to the capture socket without waiting: dropped when it has no room.
fn copy_to_capture(capture: &Socket, msg: &Message) -> Result<()> {
    match capture.try_send(msg.clone()) {
        Ok(()) => Ok(()),
        Err(e) if e.error.kind() == ErrorKind::Closed => Err(e.error),
        Err(e) => {
            tracing::trace!("proxy: capture copy dropped: {}", e.error);
            Ok(())
        }
    }
}

/// A control command (libzmq's names; anything else is ignored with a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    Pause,
    Resume,
    Terminate,
    Statistics,
    Unknown,
}

impl Control {
    /// The command of a control message: its last frame (earlier frames are the envelope a
    /// ROUTER or REP control socket puts in front).
    pub(crate) fn parse(frame: &[u8]) -> Control {
        match frame {
            b"PAUSE" => Control::Pause,
            b"RESUME" => Control::Resume,
            b"TERMINATE" => Control::Terminate,
            b"STATISTICS" => Control::Statistics,
            _ => Control::Unknown,
        }
    }
}

/// What a control socket of type `ct` answers to `command`, before the envelope: the
/// STATISTICS frames, an empty frame where REP must answer anything, else nothing. `None`
/// too when the socket cannot send at all.
pub(crate) fn control_reply(
    ct: SocketType,
    command: Control,
    stats: &ProxyStatistics,
) -> Option<Message> {
    let reply = match command {
        Control::Statistics => Some(stats.to_message()),
        _ if ct == SocketType::Rep => Some(Message::from(Bytes::new())),
        _ => None,
    };
    reply.filter(|_| can_send(ct))
}

/// The control loop: returns `Ok` on TERMINATE.
async fn steer(control: &Socket, ctx: &Ctx<'_>) -> Result<()> {
    let ct = control.socket_type();
    loop {
        let mut envelope = control.recv().await?;
        let frame = envelope.pop_back().unwrap_or_default();
        let command = Control::parse(&frame);
        match command {
            Control::Pause => ctx.flow.send_modify(|f| f.paused = true),
            Control::Resume => ctx.flow.send_modify(|f| f.paused = false),
            Control::Terminate | Control::Statistics => {}
            Control::Unknown => tracing::warn!(
                "proxy: unknown control command {:?} ignored",
                String::from_utf8_lossy(&frame)
            ),
        }
        let stats = *ctx.stats.lock().unwrap();
        match control_reply(ct, command, &stats) {
            Some(mut reply) => {
                envelope.append(&mut reply);
                control.send(envelope).await?;
            }
            None if command == Control::Statistics => {
                tracing::warn!("proxy: a {ct} control socket cannot send the STATISTICS reply")
            }
            None => {}
        }
        if command == Control::Terminate {
            return Ok(());
        }
    }
}

/// Fuzz entry point: a control message's frames (see [`crate::fuzzing`]). Parsing never
/// panics; REP answers everything; a STATISTICS reply decodes to the counts it was made
/// from; and any eight-frame message decodes as statistics only when every frame is 8
/// bytes, re-encoding to the same bytes.
pub(crate) fn fuzz_control(frames: &Message) {
    let last = frames.len().checked_sub(1).map(|i| &frames[i][..]);
    let command = Control::parse(last.unwrap_or_default());
    let stats = ProxyStatistics::from_message(frames).ok();
    if let Some(s) = &stats {
        assert_eq!(
            &s.to_message(),
            frames,
            "statistics do not re-encode to their bytes"
        );
    } else {
        assert!(frames.len() != 8 || frames.iter().any(|f| f.len() != 8));
    }
    let counts = stats.unwrap_or_default();
    for ct in [
        SocketType::Rep,
        SocketType::Pair,
        SocketType::Router,
        SocketType::Dealer,
        SocketType::Sub,
        SocketType::Pull,
    ] {
        let reply = control_reply(ct, command, &counts);
        if ct == SocketType::Rep {
            assert!(reply.is_some(), "REP left a command unanswered");
        }
        if command == Control::Statistics {
            if let Some(r) = &reply {
                assert_eq!(ProxyStatistics::from_message(r).ok(), Some(counts));
            }
        }
    }
}
