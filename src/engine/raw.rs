//! The STREAM engine: a raw byte stream, no ZMTP (no greeting, no framing). Each read
//! becomes one message `[data]` (the socket's receive prepends the routing id), each
//! queued `[data]` is written as it is, and a queued empty `data` ends the connection once
//! everything queued before it is written. With STREAM_NOTIFY the start and the peer's end
//! of the connection are delivered as an empty message, as libzmq's raw engine does.

use super::{EngineCtx, Outcome, MAX_IOV, PULL_BATCH, READ_CHUNK, WRITE_HIGH};
use crate::monitor::EventKind;
use crate::plane::state::{Attached, Outbound, Via};
use crate::transport::{ConnHandle, ConnWriter};
use crate::Message;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

/// How a raw connection ended.
enum End {
    /// The peer closed it or the network broke it (the reason).
    Peer(String),
    /// We ended it: an empty data frame, the socket closing, or a disconnect.
    Local,
}

/// Runs one raw connection to completion. It is attached at once (there is no handshake):
/// to the peer entry a `connect` made with CONNECT_ROUTING_ID for its first connection,
/// else as a new peer with a generated routing id.
pub(crate) async fn run<R>(mut rd: R, wr: ConnHandle, ctx: EngineCtx) -> Outcome
where
    R: AsyncRead + Unpin,
{
    let shared = ctx.shared.clone();
    let via = Via {
        accepted: ctx.accepted,
        inproc: false,
        reconnect: ctx.reconnect,
    };
    let attach = |existing| {
        shared.attach(
            existing,
            Bytes::new(),
            &ctx.parent,
            &ctx.endpoint,
            true,
            via,
        )
    };
    // A connect's named entry serves one connection: it is gone once that one ended.
    let attached = match ctx.target.peer() {
        Some(id) => attach(Some(id)).or_else(|| attach(None)),
        None => attach(None),
    };
    let Some(Attached {
        id,
        out_wake,
        in_space,
        kill,
    }) = attached
    else {
        return Outcome::HandshakeFailed;
    };
    shared.emit_kind(EventKind::HandshakeSucceeded, 0, &ctx.endpoint, None);
    let notify = shared.raw_notify();
    if notify {
        deliver_notification(&shared, id);
    }
    let mut wr = ConnWriter(Arc::new(wr));
    let end = {
        let killed = kill.cancelled();
        let out_ready = out_wake.notified();
        tokio::pin!(killed, out_ready);
        let mut pending: VecDeque<Bytes> = VecDeque::new();
        let mut pending_len = 0usize;
        let mut close_after = false;
        let mut outbox: VecDeque<Outbound> = VecDeque::new();
        let mut inbox: VecDeque<Message> = VecDeque::new();
        let mut room = shared.in_room(id);
        let mut rbuf = BytesMut::new();
        loop {
            let closing = shared.closing.is_cancelled();
            let mut out_idle = false;
            while !close_after && pending_len < WRITE_HIGH {
                shared.pull_items(id, &mut outbox, PULL_BATCH);
                if outbox.is_empty() {
                    out_idle = true;
                    break;
                }
                for item in outbox.drain(..) {
                    // Only STREAM's `[data]` messages are queued to a raw peer; nothing
                    // queued after a close is written.
                    let Outbound::Msg(m) = item else { continue };
                    if close_after {
                        continue;
                    }
                    match m.first() {
                        Some(d) if !d.is_empty() => {
                            pending_len += d.len();
                            pending.push_back(d.clone());
                        }
                        _ => close_after = true,
                    }
                }
            }
            if pending.is_empty() && (close_after || (closing && out_idle)) {
                // The peer reads everything written, then EOF.
                let _ = wr.0.shutdown_write();
                break End::Local;
            }
            let want_write = !pending.is_empty();
            tokio::select! {
                _ = &mut killed => break End::Local,
                r = write_pending(&mut wr, &pending), if want_write => match r {
                    Ok(0) => break End::Peer("write returned zero".into()),
                    Ok(mut n) => {
                        pending_len -= n;
                        while n > 0 {
                            let Some(front) = pending.front_mut() else { break };
                            if n >= front.len() {
                                n -= front.len();
                                pending.pop_front();
                            } else {
                                let _ = front.split_to(n);
                                n = 0;
                            }
                        }
                    }
                    Err(e) => break End::Peer(e.to_string()),
                },
                r = async {
                    rbuf.reserve(READ_CHUNK);
                    rd.read_buf(&mut rbuf).await
                }, if room > 0 => match r {
                    Ok(0) => break End::Peer("connection closed by peer".into()),
                    Ok(_) => {
                        inbox.push_back(Message::from(rbuf.split().freeze()));
                        room = shared.deliver(id, &mut Vec::new(), &mut inbox, room);
                    }
                    Err(e) => break End::Peer(e.to_string()),
                },
                _ = &mut out_ready, if out_idle => out_ready.set(out_wake.notified()),
                _ = in_space.notified(), if room == 0 => room = shared.in_room(id),
            }
        }
    };
    match end {
        End::Peer(reason) => {
            if notify {
                deliver_notification(&shared, id);
            }
            // Detached before DISCONNECTED, as the ZMTP engine does.
            shared.detach(id, true, true);
            shared.emit_kind(EventKind::Disconnected, ctx.fd, &ctx.endpoint, Some(reason));
        }
        End::Local => shared.detach(id, true, false),
    }
    Outcome::Ended
}

/// The empty message STREAM_NOTIFY delivers when a connection starts or the peer ends it.
fn deliver_notification(shared: &crate::plane::Shared, id: crate::plane::state::PeerId) {
    let mut msgs = VecDeque::from([Message::from(Bytes::new())]);
    shared.deliver(id, &mut Vec::new(), &mut msgs, 1);
}

/// One (vectored) write of the front of `pending`.
async fn write_pending<W: AsyncWrite + Unpin>(
    wr: &mut W,
    pending: &VecDeque<Bytes>,
) -> std::io::Result<usize> {
    use tokio::io::AsyncWriteExt;
    let mut iov = [IoSlice::new(&[]); MAX_IOV];
    let mut n = 0;
    for (slot, b) in iov.iter_mut().zip(pending.iter()) {
        *slot = IoSlice::new(b);
        n += 1;
    }
    wr.write_vectored(&iov[..n]).await
}
