//! In-process pipes: no codec, messages move between two sockets' per-peer queues as they
//! are (`Bytes` shared, never copied).
//!
//! One task per connection pumps both directions: it takes a batch of outbound items from
//! one side's peer queue (as much as the other side's RCVHWM leaves room for) and delivers
//! them into the other side's peer queue, so the socket semantics, HWM and counters are
//! exactly those of the network transports; the effective queue between the two sockets
//! is SNDHWM + RCVHWM, as with libzmq's inproc.

use super::registry;
use crate::monitor::{protocol_error, EventKind, MonitorEvent};
use crate::plane::state::{Attached, Outbound, Via};
use crate::plane::Shared;
use crate::Message;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use super::Target;

const BATCH: usize = 512;

struct Side {
    shared: Arc<Shared>,
    att: Attached,
}

fn emit(shared: &Shared, kind: EventKind, value: u32, endpoint: &str, reason: Option<String>) {
    shared.emit(MonitorEvent {
        kind,
        value,
        endpoint: endpoint.to_string(),
        reason,
    });
}

/// The connect side of an inproc endpoint: waits for the bind, pipes until either side
/// goes, and waits for the next bind, until disconnected or closed.
pub(crate) async fn connect_loop(
    shared: Arc<Shared>,
    name: String,
    endpoint: String,
    token: CancellationToken,
    target: Target,
) {
    let stop = {
        let t = token.child_token();
        let s = shared.clone();
        let t2 = t.clone();
        // Closing (or termination) of the connecting socket also stops the wait.
        shared.tracker.spawn(async move {
            tokio::select! {
                _ = s.closing.cancelled() => {}
                _ = s.terminate.cancelled() => {}
                _ = t2.cancelled() => {}
            }
            t2.cancel();
        });
        t
    };
    while let Some((binder, bind_token)) = registry::wait_bound(&name, &stop).await {
        if Arc::ptr_eq(&binder, &shared) {
            // A socket connected to itself: not a valid pair; wait for a rebind.
            tokio::select! {
                _ = bind_token.cancelled() => continue,
                _ = stop.cancelled() => break,
            }
        }
        run_pipe(&shared, target, &token, &binder, &bind_token, &endpoint).await;
        if stop.is_cancelled() {
            break;
        }
        // Wait until this binding is gone before looking for the next one.
        tokio::select! {
            _ = bind_token.cancelled() => {}
            _ = binder.closing.cancelled() => {}
            _ = stop.cancelled() => break,
        }
    }
    stop.cancel();
    if let Target::Existing(id) = target {
        shared.detach(id, true, false);
    } else {
        shared.send_ready.notify_waiters();
        shared.recv_ready.notify_waiters();
    }
}

async fn run_pipe(
    conn: &Arc<Shared>,
    target: Target,
    conn_token: &CancellationToken,
    binder: &Arc<Shared>,
    bind_token: &CancellationToken,
    endpoint: &str,
) {
    let (ct, cid) = conn.identity();
    let (bt, bid) = binder.identity();
    if !ct.is_compatible(bt) {
        let reason = format!("incompatible socket types: {ct} connecting to {bt}");
        emit(
            conn,
            EventKind::HandshakeFailedProtocol,
            protocol_error::ZMTP_INVALID_METADATA,
            endpoint,
            Some(reason.clone()),
        );
        emit(
            binder,
            EventKind::HandshakeFailedProtocol,
            protocol_error::ZMTP_INVALID_METADATA,
            endpoint,
            Some(reason),
        );
        return;
    }
    emit(conn, EventKind::Connected, 0, endpoint, None);
    emit(binder, EventKind::Accepted, 0, endpoint, None);
    let existing = match target {
        Target::Existing(id) => Some(id),
        Target::New => None,
    };
    let connected = Via {
        accepted: false,
        inproc: true,
        reconnect: false,
    };
    let accepted = Via {
        accepted: true,
        inproc: true,
        reconnect: false,
    };
    let a = conn.attach(existing, bid, conn_token, endpoint, true, connected);
    let Some(a) = a else {
        return;
    };
    let b = binder.attach(None, cid, bind_token, endpoint, true, accepted);
    let Some(b) = b else {
        conn.detach(a.id, existing.is_none(), false);
        emit(binder, EventKind::Closed, 0, endpoint, None);
        return;
    };
    emit(conn, EventKind::HandshakeSucceeded, 0, endpoint, None);
    emit(binder, EventKind::HandshakeSucceeded, 0, endpoint, None);

    let a = Side {
        shared: conn.clone(),
        att: a,
    };
    let b = Side {
        shared: binder.clone(),
        att: b,
    };
    let peer_gone = pump(&a, &b).await;

    // Whichever side ended the pipe, the other lost its peer (libzmq's DISCONNECT_MSG
    // reaches a binding socket when the connecting one closes or disconnects).
    conn.detach(a.att.id, existing.is_none(), peer_gone);
    binder.detach(b.att.id, true, !peer_gone);
    if peer_gone {
        emit(
            conn,
            EventKind::Disconnected,
            0,
            endpoint,
            Some("inproc peer closed".into()),
        );
    }
    emit(binder, EventKind::Closed, 0, endpoint, None);
}

/// Moves up to one batch from `from` to `to`. Returns whether anything moved.
fn transfer(
    from: &Side,
    to: &Side,
    items: &mut VecDeque<Outbound>,
    msgs: &mut VecDeque<Message>,
) -> bool {
    let room = to.shared.in_room(to.att.id);
    if room == 0 {
        return false;
    }
    from.shared.pull_items(from.att.id, items, room.min(BATCH));
    if items.is_empty() {
        return false;
    }
    to.shared.deliver_items(to.att.id, items, msgs);
    true
}

fn flushed(side: &Side) -> bool {
    side.shared.flushed(side.att.id)
}

/// Pumps both directions until one side goes. Returns true when the binding side ended it.
async fn pump(a: &Side, b: &Side) -> bool {
    let mut items = VecDeque::with_capacity(BATCH);
    let mut msgs = VecDeque::with_capacity(BATCH);
    loop {
        let mut progress = transfer(a, b, &mut items, &mut msgs);
        progress |= transfer(b, a, &mut items, &mut msgs);
        if flushed(a) {
            return false;
        }
        if flushed(b) {
            return true;
        }
        if progress {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = a.att.out_wake.notified() => {}
            _ = b.att.out_wake.notified() => {}
            _ = a.att.in_space.notified() => {}
            _ = b.att.in_space.notified() => {}
            _ = a.att.kill.cancelled() => return false,
            _ = b.att.kill.cancelled() => return true,
            _ = a.shared.terminate.cancelled() => return false,
            _ = b.shared.terminate.cancelled() => return true,
            _ = a.shared.closing.cancelled(), if !a.shared.closing.is_cancelled() => {}
            _ = b.shared.closing.cancelled(), if !b.shared.closing.is_cancelled() => {}
        }
    }
}
