//! One task per connection: drives the sans-I/O [`Connection`](crate::zmtp::Connection)
//! over a byte stream, moves messages between the wire and the socket's per-peer queues,
//! and batches writes.
//!
//! # Loop
//! Each turn: take what waits to be sent (one lock): the messages `send` already encoded
//! for this connection (their buffer swapped with the engine's emptied write buffer), then
//! queued items, encoded into the write buffer (small frames copied together, large bodies
//! chained); then wait for whichever comes first of: the stream taking bytes (one vectored
//! write of everything pending), bytes arriving (decoded up to the room left under RCVHWM,
//! delivered in one lock), new outbound messages, room in the inbound queue, a heartbeat
//! deadline, or the socket closing. Every branch is cancel-safe: a read or write that did
//! not complete moved no bytes. After every `READ_AHEAD` bytes read without pausing at
//! RCVHWM, the task yields once, so the application takes messages while they are fresh.
//!
//! REQ/REP connections skip this task when they can: `send` writes directly while the task
//! has nothing to write (`State::offer_direct`), and a waiting `recv` reads directly while
//! the task is idle between messages ([`lease`](crate::plane::lease)).

use crate::monitor::{protocol_error, EventKind, MonitorEvent};
use crate::plane::lease;
use crate::plane::state::{Attached, Outbound, PeerId, Via};
use crate::plane::Shared;

pub(crate) mod inproc;
mod raw;
pub(crate) mod registry;
pub(crate) mod udp;
use crate::message::Properties;
use crate::transport::{ConnHandle, ConnWriter};
use crate::zmtp::frame::renew;
use crate::zmtp::{self, Connection, Event, PeerInfo, ProtocolError, SocketType};
use crate::Message;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// First read size of a connection (libzmq reads 8 KiB at a time); grows while reads
/// fill the buffer, up to `READ_MAX`, and shrinks back when traffic thins out, so idle
/// connections stay small and busy ones make few system calls.
const READ_CHUNK: usize = 8 * 1024;
/// Read size of a connection with nothing buffered whose reads are at the floor (idle, or
/// trickling request-reply): an idle connection holds this much, not `READ_CHUNK`, so ten
/// thousand idle peers cost a tenth of the memory. A read that fills it doubles the size
/// at once (`adapt`), so a stream starting on an idle connection pays one short read.
const IDLE_CHUNK: usize = 1024;
/// Largest read size. Large enough that read buffers for 64 KiB messages stay above
/// malloc's trim threshold: smaller caps had the allocator trimming and re-faulting the
/// freed buffers, which made large-message throughput erratic.
const READ_MAX: usize = 4 * 1024 * 1024;
/// Bytes a connection reads before it steps aside for other tasks (the application), even
/// while more bytes are there. RCVHWM counts messages, so at 64 KiB its thousand
/// messages are 64 MiB: reading that far ahead of the application, on one thread, left the
/// buffers to go cold (and the allocator to fault fresh pages in) before anyone read them.
/// Stepping aside every few MiB keeps them in cache and reusable. (tokio's own budget
/// counts operations, not bytes: 128 reads of up to `READ_MAX`.)
const READ_AHEAD: usize = READ_MAX;
/// Stop pulling outbound messages once this many bytes wait to be written: a small batch
/// is still warm in cache when it is written, and large enough for one system call to
/// carry many small messages.
const WRITE_HIGH: usize = 64 * 1024;
/// Most messages pulled from the queue per lock: above the default SNDHWM (1000), so a
/// queue is swapped out whole, never partly copied out.
const PULL_BATCH: usize = 1024;
/// Most slices per vectored write.
const MAX_IOV: usize = 64;

/// Which peer entry the connection serves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// A connect-side peer created by `connect`, whose queue outlives reconnects.
    Existing(PeerId),
    /// A new peer entry made at handshake (bind side; ROUTER on both sides).
    New,
}

impl Target {
    /// The peer entry, when it exists before the connection.
    pub(crate) fn peer(self) -> Option<PeerId> {
        match self {
            Target::Existing(id) => Some(id),
            Target::New => None,
        }
    }
}

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The handshake never completed (the peer is not counted as connected).
    HandshakeFailed,
    /// The connection ran and then ended; `reconnect` is false when the socket is closing
    /// or the peer was killed on purpose.
    Ended,
}

pub(crate) struct EngineCtx {
    pub shared: Arc<Shared>,
    pub endpoint: String,
    pub target: Target,
    /// Cancelled to end this connection (disconnect/unbind of its endpoint).
    pub parent: CancellationToken,
    pub fd: u32,
    /// The peer's address (IP for TCP), for ZAP.
    pub peer_address: String,
    /// The peer connected to a bound endpoint of ours (else we connected).
    pub accepted: bool,
    /// A connection we made again after an earlier one of the same `connect` ran.
    pub reconnect: bool,
}

fn protocol_code(e: &ProtocolError) -> u32 {
    match e {
        ProtocolError::UnexpectedCommand(_) | ProtocolError::MessageBeforeReady => {
            protocol_error::ZMTP_UNEXPECTED_COMMAND
        }
        ProtocolError::MalformedCommand("ERROR") => protocol_error::ZMTP_MALFORMED_COMMAND_ERROR,
        ProtocolError::MalformedCommand(_) => protocol_error::ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        ProtocolError::MalformedMetadata(_)
        | ProtocolError::BadSocketType
        | ProtocolError::IncompatibleSocketType { .. } => protocol_error::ZMTP_INVALID_METADATA,
        ProtocolError::MechanismMismatch { .. } => protocol_error::ZMTP_MECHANISM_MISMATCH,
        _ => protocol_error::ZMTP_UNSPECIFIED,
    }
}

/// Writes what the connection has to send (one vectored write). The slice list is built
/// on the stack at each poll rather than held across an await: kept in the future, its
/// `MAX_IOV` entries were a quarter of every connection task's memory.
async fn write_some<W: AsyncWrite + Unpin>(
    wr: &mut W,
    conn: &Connection,
) -> std::io::Result<usize> {
    let t = conn_transmit(conn);
    std::future::poll_fn(|cx| {
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let n = t.io_slices(&mut iov);
        if n == 1 {
            std::pin::Pin::new(&mut *wr).poll_write(cx, &iov[0])
        } else {
            std::pin::Pin::new(&mut *wr).poll_write_vectored(cx, &iov[..n])
        }
    })
    .await
}

fn conn_transmit(conn: &Connection) -> &zmtp::WriteBuf {
    conn.transmit_ref()
}

/// The time for the connection's timers, from tokio's clock (so a paused clock in tests
/// drives them too).
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Sleeps until the connection's next deadline (`None`: forever).
async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// Writes everything pending (used for the tiny handshake and for a final ERROR).
async fn flush<W: AsyncWrite + Unpin>(wr: &mut W, conn: &mut Connection) -> std::io::Result<()> {
    while !conn.transmit().is_empty() {
        let n = write_some(wr, conn).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        conn.transmit().advance(n);
    }
    wr.flush().await
}

/// Makes room for the next read: `hint` bytes, or more for a large frame in progress —
/// but never more than what already arrived (doubling), so a declared size alone never
/// makes us allocate.
///
/// The buffer is usually shared with messages already delivered (their frames are views
/// of it), so reserving allocates a new one and copies the partial frame over. For a
/// large frame in progress, while the room left still takes the rest of it and a quarter
/// of the wanted read, the read goes there instead, and a new buffer takes about 16 such
/// frames: with 64 KiB messages, a few allocations per hundred messages instead of one
/// per read (about one per message). Small frames read into what is left only while
/// the traffic trickles (request-reply); a stream of them gets a fresh, full-size buffer
/// (1 KiB over IPC was slower reading into leftovers).
///
/// A new buffer is the previous one (`spare`) again when every message read into it is
/// gone; else a fresh allocation, and the one left behind becomes the spare.
fn reserve(rbuf: &mut BytesMut, spare_buf: &mut Option<BytesMut>, needed: usize, hint: usize) {
    let want = hint.max(needed.min(rbuf.len().max(hint)));
    let spare = rbuf.capacity() - rbuf.len();
    if spare >= want {
        return;
    }
    let large_frame = rbuf.len().saturating_add(needed) >= READ_CHUNK;
    if !large_frame {
        // Trickling traffic (the read size at its floor, as in request-reply): read into
        // what is left while that is half a read, rather than allocating a new buffer
        // each time a delivered message still holds the old one. Streams (larger reads)
        // get a fresh full buffer: reading into leftovers cost them throughput.
        if spare < want / 2 || hint > READ_CHUNK {
            renew(rbuf, spare_buf, want);
        }
        return;
    }
    if spare >= needed.min(want) && spare >= (want / 4).max(READ_CHUNK) {
        return;
    }
    // Room for about 16 such frames at once (counting only what the peer already sent
    // of this one, as `want` does), so the allocation is shared by many of them.
    let frame = rbuf.len() + needed.min(rbuf.len().max(hint));
    renew(
        rbuf,
        spare_buf,
        want.max(frame.saturating_mul(16).min(READ_MAX)),
    );
}

/// Adapts the read size to the last read: a full buffer doubles it, a small read halves it.
fn adapt(hint: &mut usize, spare: usize, got: usize) {
    if got >= spare {
        *hint = (*hint * 2).min(READ_MAX);
    } else if got < *hint / 4 {
        *hint = (*hint / 2).max(READ_CHUNK);
    }
}

/// Runs one connection to completion.
pub(crate) async fn run<R>(mut rd: R, wr: ConnHandle, ctx: EngineCtx) -> Outcome
where
    R: AsyncRead + Unpin,
{
    // STREAM peers speak no ZMTP: bytes in and out as they are.
    if ctx.shared.identity().0 == SocketType::Stream {
        // Boxed: held inline, its state machine sized every ZMTP connection's task too.
        return Box::pin(raw::run(rd, wr, ctx)).await;
    }
    // Shared so that a REQ/REP `send` can write while this engine is idle (`direct`).
    let wr = Arc::new(wr);
    let direct_writer = Arc::downgrade(&wr);
    let mut wr = ConnWriter(wr);
    let shared = ctx.shared.clone();
    let (cfg, zap_handler) = match shared.connection_config(&ctx.peer_address) {
        Ok(c) => c,
        Err((errno, why)) => {
            tracing::warn!(endpoint = %ctx.endpoint, "{why}");
            shared.emit(MonitorEvent {
                kind: EventKind::HandshakeFailedNoDetail,
                value: errno,
                endpoint: ctx.endpoint.clone(),
                reason: Some(why),
            });
            return Outcome::HandshakeFailed;
        }
    };
    let mut conn = Connection::new(cfg, now());
    // The handshake's commands are small; a larger one (CURVE's INITIATE with metadata)
    // grows the buffer as it arrives (`reserve`).
    let mut rbuf = BytesMut::with_capacity(IDLE_CHUNK);
    let emit = |kind: EventKind, value: u32, reason: Option<String>| {
        shared.emit(MonitorEvent {
            kind,
            value,
            endpoint: ctx.endpoint.clone(),
            reason,
        });
    };

    // ---- handshake ----------------------------------------------------------------
    // The connection keeps the HANDSHAKE_IVL deadline; this loop sleeps until it.
    let mut closing_seen = false;
    let mut ready: Option<PeerInfo> = None;
    let info: PeerInfo = loop {
        while ready.is_none() {
            match conn.poll_event() {
                Some(Event::Ready(info)) => ready = Some(info),
                Some(Event::Zap(req)) => {
                    let reply = match &zap_handler {
                        Some(h) => h.authenticate(&req),
                        None => zmtp::ZapReply::allow(""),
                    };
                    let status = reply.status_code;
                    if let Err(e) = conn.handle_zap_reply(reply) {
                        let _ = tokio::time::timeout(
                            Duration::from_millis(100),
                            flush(&mut wr, &mut conn),
                        )
                        .await;
                        emit(
                            EventKind::HandshakeFailedAuth,
                            status as u32,
                            Some(e.to_string()),
                        );
                        return Outcome::HandshakeFailed;
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        if let Some(info) = ready.take() {
            break info;
        }
        if flush(&mut wr, &mut conn).await.is_err() {
            emit(
                EventKind::HandshakeFailedNoDetail,
                0,
                Some("write failed".into()),
            );
            return Outcome::HandshakeFailed;
        }
        let needed = conn.bytes_needed(rbuf.len());
        reserve(&mut rbuf, &mut None, needed, IDLE_CHUNK);
        let deadline = conn.poll_timeout();
        tokio::select! {
            r = rd.read_buf(&mut rbuf) => {
                match r {
                    Ok(0) | Err(_) => {
                        emit(EventKind::HandshakeFailedNoDetail, 104, Some("connection closed during handshake".into()));
                        return Outcome::HandshakeFailed;
                    }
                    Ok(_) => {
                        conn.handle_received(now);
                        if let Err(e) = conn.handle_input_limited(&mut rbuf, 0) {
                            tracing::debug!(endpoint = %ctx.endpoint, error = %e, "handshake failed");
                            // Best effort: an ERROR command may be queued.
                            let _ = tokio::time::timeout(Duration::from_millis(100), flush(&mut wr, &mut conn)).await;
                            if let ProtocolError::Auth(reason) = &e {
                                // A refused or failed authentication: the ZAP status when
                                // the peer sent one, else 400.
                                let status = reason.get(..3).and_then(|c| c.parse::<u32>().ok()).unwrap_or(400);
                                emit(EventKind::HandshakeFailedAuth, status, Some(e.to_string()));
                            } else {
                                emit(EventKind::HandshakeFailedProtocol, protocol_code(&e), Some(e.to_string()));
                            }
                            return Outcome::HandshakeFailed;
                        }
                    }
                }
            }
            _ = sleep_until(deadline) => {
                if let Err(e) = conn.handle_timeout(now()) {
                    emit(EventKind::HandshakeFailedNoDetail, 110, Some(e.to_string()));
                    return Outcome::HandshakeFailed;
                }
            }
            _ = ctx.parent.cancelled() => return Outcome::HandshakeFailed,
            _ = shared.terminate.cancelled() => return Outcome::HandshakeFailed,
            // Closing: a connection still in its handshake lingers only if it has
            // messages to deliver.
            _ = shared.closing.cancelled(), if !closing_seen => {
                closing_seen = true;
                if !shared.has_queued(ctx.target.peer()) {
                    return Outcome::HandshakeFailed;
                }
            }
        }
    };
    conn.release_handshake_memory();

    // ---- attach -------------------------------------------------------------------
    let existing = match ctx.target {
        Target::Existing(id) => Some(id),
        Target::New => None,
    };
    let attached = shared.attach(
        existing,
        info.identity.clone(),
        &ctx.parent,
        &ctx.endpoint,
        conn.is_encrypted(),
        Via {
            accepted: ctx.accepted,
            inproc: false,
            reconnect: ctx.reconnect,
        },
    );
    let Some(Attached {
        id,
        out_wake,
        in_space,
        kill,
    }) = attached
    else {
        tracing::debug!(endpoint = %ctx.endpoint, "connection refused at attach (routing id in use, second PAIR peer, or peer gone)");
        return Outcome::HandshakeFailed;
    };
    emit(EventKind::HandshakeSucceeded, 0, None);

    let gone = !matches!(ctx.target, Target::Existing(_));
    // Secured or ZAP-checked connections, and peers that announced application metadata
    // (ZMQ_METADATA's `X-` properties), label their messages (libzmq's zmq_msg_gets).
    let app_metadata = info.metadata.iter().any(|(n, _)| n.starts_with("X-"));
    let props = (info.mechanism != zmtp::Mechanism::Null || info.user_id.is_some() || app_metadata)
        .then(|| {
            Arc::new(Properties {
                user_id: info.user_id.clone(),
                peer_address: ctx.peer_address.clone(),
                mechanism: info.mechanism,
                curve_public_key: info.curve_public_key,
                metadata: info.metadata.clone(),
            })
        });
    // REQ and REP strictly alternate, so a send never has a burst behind it to batch:
    // writing it from the sending task saves a hop through this task.
    let direct = (matches!(conn.config().socket_type, SocketType::Req | SocketType::Rep)
        && !conn.is_encrypted())
    .then_some(&direct_writer);
    // And a REQ/REP `recv` may read its message itself while this task is idle (not for
    // messages that carry properties: those are labelled here).
    let lease = (direct.is_some() && props.is_none()).then(|| {
        let l = Arc::new(lease::ReadLease::new(
            direct_writer.clone(),
            conn.config().max_msg_size,
        ));
        shared.set_lease(id, l.clone());
        l
    });
    let end_reason = main_loop(
        &mut rd,
        &mut wr,
        &mut conn,
        &mut rbuf,
        &shared,
        id,
        &out_wake,
        &in_space,
        &kill,
        props,
        direct,
        lease.as_deref(),
    )
    .await;
    if let Some(l) = &lease {
        l.close();
    }
    // Detached before DISCONNECTED is emitted (as the inproc engine does): whoever sees
    // the event finds the peer gone from the socket (not routable, not counted).
    shared.detach(id, gone, end_reason.is_some());
    if let Some(reason) = end_reason {
        emit(EventKind::Disconnected, ctx.fd, Some(reason));
    }
    Outcome::Ended
}

/// Returns `Some(reason)` when the peer or the network ended the connection, `None` when
/// we ended it (close, disconnect, handover).
#[allow(clippy::too_many_arguments)]
async fn main_loop<R>(
    rd: &mut R,
    wr: &mut ConnWriter,
    conn: &mut Connection,
    rbuf: &mut BytesMut,
    shared: &Arc<Shared>,
    id: PeerId,
    out_wake: &tokio::sync::Notify,
    in_space: &tokio::sync::Notify,
    kill: &CancellationToken,
    props: Option<Arc<Properties>>,
    direct: Option<&std::sync::Weak<ConnHandle>>,
    lease: Option<&lease::ReadLease>,
) -> Option<String>
where
    R: AsyncRead + Unpin,
{
    let mut inbox: VecDeque<Message> = VecDeque::new();
    let mut read_hint = READ_CHUNK;
    // Bytes read since this task last stepped aside (see `READ_AHEAD`).
    let mut read_ahead: usize = 0;
    // The read buffer before the current one (see `renew`).
    let mut rspare: Option<BytesMut> = None;
    // Grows to what the traffic needs (at most `PULL_BATCH`) and stays: an idle connection
    // holds no batch.
    let mut outbox: VecDeque<Outbound> = VecDeque::new();
    let mut room = shared.in_room(id);
    let mut closing = shared.closing.is_cancelled();
    // The socket may write to the connection directly (see `State::offer_direct`).
    let mut direct_on = false;
    // A REQ/REP `recv` may borrow the read side (see `lease`); taken back by reading.
    let mut read_offered = false;
    // Whether the socket gave this connection anything to send: only then can the peer
    // have something of ours unread when we close (see `linger_until_peer_eof`).
    let mut sent = false;

    // The heartbeats start now (the connection learnt of its handshake's end without a
    // time); then the messages that arrived with the handshake.
    if let Err(e) = conn.handle_timeout(now()) {
        return Some(e.to_string());
    }
    if let Err(e) = conn.handle_input_limited(rbuf, room) {
        deliver_decoded(conn, &props, shared, id, &mut inbox);
        return Some(e.to_string());
    }

    // Woken with output after being idle: PUB and XPUB step aside once first.
    let coalesce_out = crate::plane::coalesces_writes(conn.config().socket_type);
    // The wake-up futures live across turns: registered once, not on every turn (each
    // registration and drop takes the notifier's lock).
    // `kill` descends from the socket's `terminate` token, so one future covers both.
    // Closing is read from its token at each turn: `begin_close` wakes idle engines.
    let killed = kill.cancelled();
    let out_ready = out_wake.notified();
    tokio::pin!(killed, out_ready);

    loop {
        if !closing && shared.closing.is_cancelled() {
            closing = true;
        }
        // Deliver decoded messages.
        let mut subs: Vec<(bool, Bytes)> = Vec::new();
        while let Some(ev) = conn.poll_leading_event() {
            match ev {
                Event::Message(m) => inbox.push_back(m),
                Event::Subscribe(t) | Event::Join(t) => subs.push((true, t)),
                Event::Cancel(t) | Event::Leave(t) => subs.push((false, t)),
                // The connection itself keeps the heartbeat state (a peer's TTL included).
                Event::Ping { .. }
                | Event::Pong
                | Event::Ready(_)
                | Event::UnknownCommand(_)
                | Event::Zap(_) => {}
            }
        }
        conn.take_messages(&mut inbox);
        if let Some(p) = &props {
            for m in inbox.iter_mut() {
                m.set_properties(p.clone());
            }
        }
        if !inbox.is_empty() || !subs.is_empty() {
            room = shared.deliver(id, &mut subs, &mut inbox, room);
            if room == 0 {
                // The connection stops reading until the application makes room: it
                // steps aside anyway.
                read_ahead = 0;
            } else if read_ahead >= READ_AHEAD {
                read_ahead = 0;
                tokio::task::yield_now().await;
            }
        }

        // Complete frames may still sit in the read buffer (decoding stops at the room
        // RCVHWM left, and the application may have made room since): decode them before
        // waiting for more bytes, or a finished sender would leave them stranded.
        if room > 0 && !rbuf.is_empty() {
            let before = rbuf.len();
            if let Err(e) = conn.handle_input_limited(rbuf, room) {
                deliver_decoded(conn, &props, shared, id, &mut inbox);
                return Some(e.to_string());
            }
            if rbuf.len() != before {
                continue;
            }
        }

        // Pull outbound messages while the write buffer has room.
        let mut out_idle = false;
        while conn.transmit().len() < WRITE_HIGH {
            // Anything to write: the connection is ours again, and the end of a directly
            // written message goes first.
            let (took, still_lent) =
                shared.pull_out(id, &mut outbox, PULL_BATCH, conn.transmit(), direct_on);
            sent |= took;
            direct_on = still_lent;
            if outbox.is_empty() {
                out_idle = true;
                break;
            }
            // Encoded where they lie, then dropped together (popping each one moved it).
            for item in outbox.iter() {
                item.encode_into(conn);
            }
            outbox.clear();
        }
        let want_write = !conn.transmit().is_empty();
        if want_write && direct_on {
            // Our own bytes (a PONG, a command): take the connection back before writing.
            direct_on = false;
            shared.revoke_direct(id, conn.transmit());
        }
        if closing && out_idle && !want_write {
            if direct_on {
                // The socket may have left the end of a directly written message.
                direct_on = false;
                if shared.revoke_direct(id, conn.transmit()) {
                    continue;
                }
            }
            if sent || (direct.is_some() && shared.wrote_directly(id)) {
                linger_until_peer_eof(rd, wr, rbuf, lease, killed.as_mut()).await;
            }
            return None;
        }
        if let Some(w) = direct {
            if out_idle && !want_write && !direct_on && !closing {
                direct_on = shared.offer_direct(id, w);
            }
        }
        let deadline = conn.poll_timeout();
        if let Some(l) = lease {
            // Idle between messages, with nothing a borrower could not hand back whole:
            // no bytes buffered, no message in part, no deadline (heartbeat) that must see
            // the traffic.
            if !read_offered
                && out_idle
                && !want_write
                && !closing
                && room > 0
                && rbuf.is_empty()
                && conn.at_message_boundary()
                && deadline.is_none()
            {
                read_offered = l.offer();
            }
        }

        tokio::select! {
            _ = &mut killed => return None,
            r = write_some(wr, conn), if want_write => {
                match r {
                    Ok(0) => return Some("write returned zero".into()),
                    Ok(n) => conn.transmit().advance(n),
                    Err(e) => return Some(e.to_string()),
                }
            }
            r = async {
                let needed = conn.bytes_needed(rbuf.len());
                let idle = rbuf.is_empty() && read_hint == READ_CHUNK;
                if idle && rbuf.capacity() > READ_CHUNK {
                    // A large buffer left from a stream that thinned out is given back.
                    *rbuf = BytesMut::new();
                    rspare = None;
                }
                // No read brings in more than this peer's share of the inbound memory: with
                // many peers, the rest waits in the kernel until the application gets to it.
                let max = shared.read_max();
                let hint = if idle { IDLE_CHUNK } else { read_hint.min(max) };
                reserve(rbuf, &mut rspare, needed, hint);
                // A small read says nothing about the stream (`adapt` leaves the size).
                let spare = if idle { usize::MAX } else { (rbuf.capacity() - rbuf.len()).min(max) };
                match lease {
                    Some(l) => std::future::poll_fn(|cx| l.poll_engine_read(cx, rd, rbuf)).await,
                    None => rd.read_buf(&mut bytes::BufMut::limit(&mut *rbuf, max)).await,
                }
                .map(|n| (n, spare))
            }, if room > 0 => {
                read_offered = false;
                match r {
                    Ok((0, _)) => {
                        // Deliver what is complete, then end.
                        let _ = conn.handle_input(rbuf);
                        deliver_decoded(conn, &props, shared, id, &mut inbox);
                        return Some("connection closed by peer".into());
                    }
                    Ok((n, spare)) => {
                        read_ahead += n;
                        let before = read_hint;
                        adapt(&mut read_hint, spare, n);
                        if read_hint < before && read_hint == READ_CHUNK {
                            // The stream thinned out: an idle connection keeps one read
                            // buffer, not two (request-reply, always at the floor, keeps
                            // its small spare).
                            rspare = None;
                        }
                        // The clock is read only when the connection needs the time of
                        // the read (a peer's TTL runs): a clock read per read is
                        // measurable on small round trips.
                        conn.handle_received(now);
                        if let Err(e) = conn.handle_input_limited(rbuf, room) {
                            tracing::debug!(error = %e, "protocol error, closing connection");
                            deliver_decoded(conn, &props, shared, id, &mut inbox);
                            return Some(e.to_string());
                        }
                    }
                    Err(e) => return Some(e.to_string()),
                }
            }
            _ = &mut out_ready, if out_idle => {
                out_ready.set(out_wake.notified());
                if coalesce_out {
                    tokio::task::yield_now().await;
                }
            }
            _ = in_space.notified(), if room == 0 => {
                room = shared.in_room(id);
                if room > 0 {
                    if let Err(e) = conn.handle_input_limited(rbuf, room) {
                        deliver_decoded(conn, &props, shared, id, &mut inbox);
                        return Some(e.to_string());
                    }
                }
            }
            // The connection decides what is due (a PING, or the end of the connection).
            _ = sleep_until(deadline) => {
                if let Err(e) = conn.handle_timeout(now()) {
                    return Some(e.to_string());
                }
            }
        }
    }
}

/// The connection ends (the peer's EOF or a protocol error such as a frame over
/// MAXMSGSIZE): the complete messages decoded before the end still go to the socket, as
/// libzmq keeps the messages its decoder passed on before an error.
fn deliver_decoded(
    conn: &mut Connection,
    props: &Option<Arc<Properties>>,
    shared: &Shared,
    id: PeerId,
    inbox: &mut VecDeque<Message>,
) {
    while let Some(ev) = conn.poll_event() {
        if let Event::Message(mut m) = ev {
            if let Some(p) = props {
                m.set_properties(p.clone());
            }
            inbox.push_back(m);
        }
    }
    if !inbox.is_empty() {
        shared.deliver(id, &mut Vec::new(), inbox, 0);
    }
}

/// Everything is written: shuts down our write side and keeps the connection until the
/// peer reads to its end (we see its EOF) or the socket's LINGER runs out (`killed`).
///
/// Letting go of the descriptor at once would hand a peer that is not reading (at
/// RCVHWM, say) a fully closed socket, and libzmq drops such a connection together with
/// whatever the kernel still holds unread for it (an IPC peer sees a hang-up). What the
/// peer sends meanwhile is read and discarded: the socket is closed.
async fn linger_until_peer_eof<R: AsyncRead + Unpin>(
    rd: &mut R,
    wr: &mut ConnWriter,
    rbuf: &mut BytesMut,
    lease: Option<&lease::ReadLease>,
    mut killed: std::pin::Pin<&mut tokio_util::sync::WaitForCancellationFuture<'_>>,
) {
    if wr.0.shutdown_write().is_err() {
        return;
    }
    loop {
        rbuf.clear();
        rbuf.reserve(READ_CHUNK);
        let read = async {
            match lease {
                Some(l) => std::future::poll_fn(|cx| l.poll_engine_read(cx, rd, rbuf)).await,
                None => rd.read_buf(rbuf).await,
            }
        };
        tokio::select! {
            _ = &mut killed => return,
            r = read => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read buffer shared with a delivered message, as after a decode.
    fn shared_buffer(capacity: usize, delivered: usize, partial: usize) -> (BytesMut, Bytes) {
        let mut b = BytesMut::with_capacity(capacity);
        b.resize(delivered + partial, 0);
        let msg = b.split_to(delivered).freeze();
        (b, msg)
    }

    #[test]
    fn a_large_frame_in_progress_is_read_into_the_room_left() {
        // 64 KiB frames, 32 KiB of the next one here, 1 MiB of room left: no new buffer.
        let (mut b, _msg) = shared_buffer(2 << 20, 1 << 20, 32 << 10);
        let before = b.as_ptr();
        reserve(&mut b, &mut None, 32 << 10, 256 << 10);
        assert_eq!(b.as_ptr(), before, "reallocated with room to spare");
    }

    #[test]
    fn a_new_buffer_for_large_frames_holds_many_of_them() {
        // Too little room for the rest of a 64 KiB frame: the new buffer takes about 16.
        let (mut b, _msg) = shared_buffer(128 << 10, 100 << 10, 16 << 10);
        reserve(&mut b, &mut None, 48 << 10, 64 << 10);
        assert!(
            b.capacity() - b.len() >= 16 * (16 << 10),
            "{}",
            b.capacity()
        );
        assert_eq!(b.len(), 16 << 10, "the partial frame moved along");
    }

    #[test]
    fn small_frames_get_a_full_read_buffer() {
        let (mut b, _msg) = shared_buffer(64 << 10, (64 << 10) - 100, 3);
        reserve(&mut b, &mut None, 6, READ_CHUNK);
        assert!(b.capacity() - b.len() >= READ_CHUNK);
    }

    #[test]
    fn trickling_small_frames_reuse_the_buffer_streams_get_a_fresh_one() {
        // Request-reply: 5 bytes delivered from an 8 KiB buffer, the read size at its floor.
        let (mut b, _msg) = shared_buffer(READ_CHUNK, 5, 0);
        let before = b.as_ptr();
        reserve(&mut b, &mut None, 1, READ_CHUNK);
        assert_eq!(b.as_ptr(), before, "a new buffer per round trip");
        // A stream of small messages (larger reads): a fresh buffer of the full read size.
        let (mut b, _msg) = shared_buffer(64 << 10, 5, 0);
        reserve(&mut b, &mut None, 1, 64 << 10);
        assert!(b.capacity() - b.len() >= 64 << 10);
    }

    /// Fills what is left of `b` and hands it out, as delivered messages do.
    fn use_up(b: &mut BytesMut) -> Bytes {
        b.resize(b.capacity(), 0);
        b.split().freeze()
    }

    #[test]
    fn a_read_buffer_is_taken_back_once_its_messages_are_gone() {
        let mut spare = None;
        let (mut b, msg) = shared_buffer(64 << 10, 60 << 10, 100);
        renew(&mut b, &mut spare, 64 << 10);
        assert_eq!(&b[..], &[0u8; 100][..], "the partial frame moved along");
        assert_ne!(b.as_ptr(), msg.as_ptr());
        let second = b.as_ptr();
        // Messages still use both buffers: a third one; the second is now the spare.
        let held = use_up(&mut b);
        renew(&mut b, &mut spare, 64 << 10);
        assert_ne!(
            b.as_ptr(),
            second,
            "a buffer a message still uses was reused"
        );
        assert_ne!(b.as_ptr(), msg.as_ptr());
        // The second one's messages are gone: it comes back, from its start.
        drop(held);
        let _third = use_up(&mut b);
        renew(&mut b, &mut spare, 64 << 10);
        assert_eq!(b.as_ptr(), second, "allocated though the spare was free");
        assert!(b.capacity() >= 64 << 10);
    }

    #[test]
    fn a_declared_size_alone_does_not_allocate_it() {
        // A peer announces a 1 GiB frame and sends 20 bytes of it.
        let (mut b, _msg) = shared_buffer(64, 0, 20);
        reserve(&mut b, &mut None, 1 << 30, READ_CHUNK);
        assert!(b.capacity() <= READ_MAX, "{}", b.capacity());
    }
}
