//! The connection's deadlines: HANDSHAKE_IVL and the ZMTP 3.1 heartbeats (RFC 37 PING
//! and PONG with HEARTBEAT_IVL, HEARTBEAT_TIMEOUT and the TTL), as plain state.
//!
//! Nothing here reads a clock: every instant comes from the driver through
//! [`Connection`](super::Connection)'s `now` arguments. Two things become known without a
//! time (inside `handle_input`, which takes none): the handshake completing, which starts
//! the heartbeats, and a PING announcing a TTL, which starts the TTL watch. Each is
//! marked pending and [`Timers::deadline`] answers the latest instant already seen, so
//! the driver calls `handle_timeout` at once and the timer starts at that `now`.

use super::ProtocolError;
use std::time::{Duration, Instant};

/// The deadlines of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Timers {
    /// When the handshake must have completed (`None`: HANDSHAKE_IVL is zero, no limit).
    handshake: Option<Instant>,
    /// HEARTBEAT_IVL (zero: we send no PINGs).
    ivl: Duration,
    /// How long after a PING the peer may stay silent (HEARTBEAT_TIMEOUT, or the
    /// interval when that is zero).
    timeout: Duration,
    /// The TTL our PINGs announce, in deciseconds.
    ttl_ds: u16,
    /// Whether the heartbeats run (they start at the first time heard after the
    /// handshake).
    started: bool,
    /// When the next PING goes out.
    next_ping: Option<Instant>,
    /// When a PING we sent times out, unless bytes arrive first.
    ping_deadline: Option<Instant>,
    /// The TTL from the peer's latest PING that had one.
    peer_ttl: Option<Duration>,
    /// When the peer's TTL was last restarted (`None` while it waits for a time).
    last_recv: Option<Instant>,
    /// The latest instant the driver gave us.
    latest: Instant,
}

/// What a timeout asks the connection to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing to send.
    None,
    /// Send a PING announcing this TTL (deciseconds).
    Ping(u16),
}

/// Deciseconds in `d`, as a PING carries them (capped at `u16::MAX`).
pub(crate) fn deciseconds(d: Duration) -> u16 {
    (d.as_millis() / 100).min(u16::MAX as u128) as u16
}

impl Timers {
    /// The deadlines of a connection that starts its handshake at `now`.
    pub(crate) fn new(
        handshake_ivl: Duration,
        heartbeat_ivl: Duration,
        heartbeat_timeout: Duration,
        heartbeat_ttl: Duration,
        now: Instant,
    ) -> Self {
        Timers {
            // An interval too large for the clock is no limit at all.
            handshake: (!handshake_ivl.is_zero())
                .then(|| now.checked_add(handshake_ivl))
                .flatten(),
            ivl: heartbeat_ivl,
            timeout: if heartbeat_timeout.is_zero() {
                heartbeat_ivl
            } else {
                heartbeat_timeout
            },
            ttl_ds: deciseconds(heartbeat_ttl),
            started: false,
            next_ping: None,
            ping_deadline: None,
            peer_ttl: None,
            last_recv: None,
            latest: now,
        }
    }

    /// The next instant [`on_timeout`](Self::on_timeout) must run, given whether the
    /// handshake has completed; `None` when no deadline is pending.
    pub(crate) fn deadline(&self, ready: bool) -> Option<Instant> {
        if !ready {
            return self.handshake;
        }
        if self.needs_time() {
            return Some(self.latest);
        }
        let ttl = match (self.peer_ttl, self.last_recv) {
            (Some(t), Some(at)) => at.checked_add(t),
            _ => None,
        };
        [self.next_ping, self.ping_deadline, ttl]
            .into_iter()
            .flatten()
            .min()
    }

    /// True while a timer waits for a time to start from.
    fn needs_time(&self) -> bool {
        (!self.started && !self.ivl.is_zero())
            || (self.peer_ttl.is_some() && self.last_recv.is_none())
    }

    /// The driver's clock says `now`: starts what waited for a time, and fires what is
    /// due. Errors are the connection's end.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        ready: bool,
    ) -> Result<Action, ProtocolError> {
        self.latest = self.latest.max(now);
        if !ready {
            return match self.handshake {
                Some(d) if now >= d => Err(ProtocolError::HandshakeTimeout),
                _ => Ok(Action::None),
            };
        }
        if !self.started {
            self.started = true;
            self.next_ping = (!self.ivl.is_zero())
                .then(|| now.checked_add(self.ivl))
                .flatten();
        }
        if self.peer_ttl.is_some() && self.last_recv.is_none() {
            self.last_recv = Some(now);
        }
        if self.ping_deadline.is_some_and(|d| now >= d) {
            return Err(ProtocolError::HeartbeatTimeout);
        }
        if let (Some(ttl), Some(at)) = (self.peer_ttl, self.last_recv) {
            if now.saturating_duration_since(at) >= ttl {
                return Err(ProtocolError::PeerTtlExpired);
            }
        }
        match self.next_ping {
            Some(d) if now >= d => {
                self.next_ping = now.checked_add(self.ivl);
                if self.ping_deadline.is_none() {
                    self.ping_deadline = now.checked_add(self.timeout);
                }
                Ok(Action::Ping(self.ttl_ds))
            }
            _ => Ok(Action::None),
        }
    }

    /// Bytes arrived: a PING we sent has its answer (any bytes count), and a running
    /// peer TTL restarts at `now()`, the only case that reads the clock.
    #[inline]
    pub(crate) fn on_received(&mut self, now: impl FnOnce() -> Instant) {
        self.ping_deadline = None;
        if self.peer_ttl.is_some() {
            let t = now();
            self.latest = self.latest.max(t);
            self.last_recv = Some(t);
        }
    }

    /// The peer sent a PING announcing `ttl_ds` deciseconds (zero: no TTL, the one
    /// running, if any, is kept). The TTL restarts at the next time heard.
    pub(crate) fn on_peer_ping(&mut self, ttl_ds: u16) {
        if ttl_ds > 0 {
            self.peer_ttl = Some(Duration::from_millis(u64::from(ttl_ds) * 100));
            self.last_recv = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn hb(ivl: u32, timeout: u32, ttl: u32, t0: Instant) -> Timers {
        Timers::new(Duration::ZERO, ivl * S, timeout * S, ttl * S, t0)
    }

    #[test]
    fn handshake_deadline_fires_at_the_interval_and_never_when_zero() {
        let t0 = Instant::now();
        let mut t = Timers::new(5 * S, S, S, S, t0);
        assert_eq!(t.deadline(false), Some(t0 + 5 * S));
        assert_eq!(
            t.on_timeout(t0 + 5 * S - Duration::from_nanos(1), false),
            Ok(Action::None)
        );
        assert_eq!(
            t.on_timeout(t0 + 5 * S, false),
            Err(ProtocolError::HandshakeTimeout)
        );
        let mut t = Timers::new(Duration::ZERO, S, S, S, t0);
        assert_eq!(t.deadline(false), None);
        assert_eq!(t.on_timeout(t0 + 1_000_000 * S, false), Ok(Action::None));
    }

    #[test]
    fn heartbeats_start_at_the_first_time_after_the_handshake() {
        let t0 = Instant::now();
        let mut t = hb(2, 0, 0, t0);
        // Ready, but no time heard yet: the deadline is one already seen.
        assert_eq!(t.deadline(true), Some(t0));
        assert_eq!(t.on_timeout(t0 + S, true), Ok(Action::None));
        assert_eq!(t.deadline(true), Some(t0 + 3 * S));
        // Without heartbeats there is nothing to start and nothing to wait for.
        let t = hb(0, 0, 0, t0);
        assert_eq!(t.deadline(true), None);
    }

    #[test]
    fn a_silent_peer_times_out_at_interval_plus_timeout() {
        let t0 = Instant::now();
        let mut t = hb(1, 3, 10, t0);
        t.on_timeout(t0, true).unwrap();
        let mut pings = 0;
        loop {
            let d = t.deadline(true).unwrap();
            match t.on_timeout(d, true) {
                Ok(Action::Ping(ttl)) => {
                    assert_eq!(ttl, 100);
                    pings += 1;
                }
                Ok(Action::None) => panic!("woken for nothing at {:?}", d - t0),
                Err(e) => {
                    assert_eq!(e, ProtocolError::HeartbeatTimeout);
                    assert_eq!(d - t0, 4 * S);
                    break;
                }
            }
        }
        // PINGs at 1, 2 and 3 s; at 4 s the first one's timeout wins over the next PING.
        assert_eq!(pings, 3);
    }

    #[test]
    fn any_bytes_answer_a_ping() {
        let t0 = Instant::now();
        let mut t = hb(1, 1, 0, t0);
        t.on_timeout(t0, true).unwrap();
        assert_eq!(t.on_timeout(t0 + S, true), Ok(Action::Ping(0)));
        t.on_received(|| panic!("the clock was read without a peer TTL"));
        assert_eq!(t.on_timeout(t0 + 2 * S, true), Ok(Action::Ping(0)));
    }

    #[test]
    fn a_peer_ttl_starts_at_the_next_time_and_restarts_on_bytes() {
        let t0 = Instant::now();
        let mut t = hb(0, 0, 0, t0);
        t.on_timeout(t0, true).unwrap();
        t.on_peer_ping(30);
        assert_eq!(t.deadline(true), Some(t0), "the TTL waits for a time");
        t.on_timeout(t0 + S, true).unwrap();
        assert_eq!(t.deadline(true), Some(t0 + 4 * S));
        t.on_received(|| t0 + 2 * S);
        assert_eq!(t.deadline(true), Some(t0 + 5 * S));
        assert_eq!(
            t.on_timeout(t0 + 5 * S, true),
            Err(ProtocolError::PeerTtlExpired)
        );
    }

    #[test]
    fn our_ttl_is_capped_at_u16_max_deciseconds() {
        assert_eq!(deciseconds(Duration::from_millis(1_999)), 19);
        assert_eq!(deciseconds(Duration::from_secs(100_000)), u16::MAX);
    }
}
