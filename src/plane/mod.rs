//! The data plane: what a socket and its connection tasks share. Per-peer queues in both
//! directions, each socket type's send and receive rule, fan-out with the subscription trie,
//! fair-queued receive, the REQ/REP direct paths, counters and options. No tasks and no I/O of
//! its own, beyond the non-blocking direct write and read that REQ/REP lend to `send`/`recv`.
//!
//! # The contract with the engine
//! [`Shared`] is the one type an engine (a connection task, `crate::engine`) and the socket
//! handle (`crate::socket`) both hold. Its `state` mutex is taken for short, non-blocking
//! critical sections only, never across an `.await`:
//! - the engine attaches its peer after the handshake ([`State::attach`]), delivers what it
//!   decoded ([`State::deliver`], [`State::on_subscription`]), takes what waits to be sent
//!   ([`State::pull_out_to`]), offers and revokes the direct write
//!   ([`State::offer_direct`], [`State::revoke_direct`]) and detaches ([`State::detach`]);
//! - the socket handle sends and receives through the same state under the same lock;
//! - `recv_batch` is locked before `state` when both are held;
//! - wake-ups go through the `Notify`s (`recv_ready`, `send_ready`, and each peer's
//!   `out_wake` / `in_space`), signalled after the lock is released.
//!
//! # Organization
//! - [`state`]: the types (peers, queues, `State`) and the routing rule of each socket type
//!   (table there); `State`'s methods are grouped by job:
//!   - `peers`: attach and detach;
//!   - `send`: each type's send rule, and the engine taking what waits to be sent;
//!   - `fanout`: PUB/XPUB fan-out and subscriptions in both directions;
//!   - `recv`: delivery under RCVHWM and fair-queued receive;
//!   - `direct`: the REQ/REP direct write and the message a borrowing `recv` read.
//! - [`options`]: libzmq's options with their defaults.
//! - `trie`: subscription matching for PUB/XPUB (fan-out) and SUB/XSUB (local filter).
//! - [`lease`]: the REQ/REP read side a waiting `recv` may borrow.

mod direct;
mod fanout;
#[doc(hidden)]
pub mod fuzz_ops;
pub(crate) mod lease;
pub mod options;
mod peers;
mod recv;
mod send;
pub(crate) mod state;
mod trie;

use crate::monitor::{EventKind, MonitorEvent};
use crate::transport;
use crate::Message;
use state::{PeerId, State};
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// State shared by the socket handle and its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Messages taken from the peers' queues in one go, in receive order, handed out one
    /// per `recv` without touching `state` (see [`State::take_inbound`]). Locked before
    /// `state` when both are held.
    pub recv_batch: Mutex<VecDeque<Message>>,
    /// Woken when messages were delivered (receivers re-check).
    pub recv_ready: Notify,
    /// Woken when a queue got room or a peer appeared (senders re-check).
    pub send_ready: Notify,
    /// Close was requested: engines flush and stop, listeners stop accepting.
    pub closing: CancellationToken,
    /// Linger is over: everything stops now.
    pub terminate: CancellationToken,
    pub tracker: TaskTracker,
}

impl Shared {
    /// The TCP keepalive settings for new connections.
    pub(crate) fn keepalive(&self) -> transport::tcp::Keepalive {
        let st = self.state.lock().unwrap();
        transport::tcp::Keepalive {
            mode: st.opts.tcp_keepalive,
            idle: st.opts.tcp_keepalive_idle,
            count: st.opts.tcp_keepalive_cnt,
            interval: st.opts.tcp_keepalive_intvl,
            sndbuf: st.opts.sndbuf,
            rcvbuf: st.opts.rcvbuf,
        }
    }

    /// Whether a connect-side peer still has messages to deliver (close lingers for them).
    pub(crate) fn has_queued(&self, peer: Option<PeerId>) -> bool {
        peer.is_some_and(|id| {
            self.state
                .lock()
                .unwrap()
                .peers
                .get(&id)
                .is_some_and(|p| p.queued() > 0)
        })
    }

    pub(crate) fn emit(&self, ev: MonitorEvent) {
        let mut st = self.state.lock().unwrap();
        if !st.monitors.is_empty() {
            st.emit(ev);
        }
    }

    pub(crate) fn emit_kind(
        &self,
        kind: EventKind,
        value: u32,
        endpoint: &str,
        reason: Option<String>,
    ) {
        self.emit(MonitorEvent {
            kind,
            value,
            endpoint: endpoint.to_string(),
            reason,
        })
    }
}
