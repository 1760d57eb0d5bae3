//! Socket options, with libzmq's names and defaults.

use bytes::Bytes;
use std::time::Duration;

/// The options of one socket. Read them with the socket's getters, change them with its
/// setters; new values apply to connections made afterwards (HWMs apply at once).
#[derive(Debug, Clone)]
pub struct Options {
    /// ZMQ_SNDHWM: most messages queued per peer on the send side (0 = no limit). Default 1000.
    pub sndhwm: usize,
    /// ZMQ_RCVHWM: most messages queued per peer on the receive side (0 = no limit). Default 1000.
    pub rcvhwm: usize,
    /// ZMQ_LINGER: how long `close` keeps flushing queued messages. Default 30 s (libzmq's
    /// is infinite; here close is always bounded).
    pub linger: Duration,
    /// ZMQ_ROUTING_ID: our identity, sent in READY. Default empty.
    pub routing_id: Bytes,
    /// ZMQ_RECONNECT_IVL. Default 100 ms.
    pub reconnect_ivl: Duration,
    /// ZMQ_RECONNECT_IVL_MAX: the ceiling for exponential backoff (zero = no backoff).
    pub reconnect_ivl_max: Duration,
    /// ZMQ_MAXMSGSIZE: largest accepted frame (`None` = no limit).
    pub maxmsgsize: Option<u64>,
    /// ZMQ_ROUTER_MANDATORY: unroutable messages are an error (EHOSTUNREACH) instead of a
    /// silent drop, and a full peer blocks instead of dropping.
    pub router_mandatory: bool,
    /// ZMQ_ROUTER_HANDOVER: a new connection with a routing id in use takes it over.
    pub router_handover: bool,
    /// ZMQ_HANDSHAKE_IVL: the greeting and handshake must complete within this. Default 30 s.
    pub handshake_ivl: Duration,
    /// ZMQ_HEARTBEAT_IVL: send a PING this often (zero = off).
    pub heartbeat_ivl: Duration,
    /// ZMQ_HEARTBEAT_TTL: TTL advertised in our PINGs (rounded down to deciseconds).
    pub heartbeat_ttl: Duration,
    /// ZMQ_HEARTBEAT_TIMEOUT: drop the connection if nothing arrives for this long after a
    /// PING (zero = use the heartbeat interval).
    pub heartbeat_timeout: Duration,
    /// ZMQ_IMMEDIATE: queue messages only to completed connections (default false: a
    /// connecting peer takes messages while it connects).
    pub immediate: bool,
    /// ZMQ_CONFLATE: keep only the newest message per peer queue (PUB, SUB, PUSH, PULL,
    /// DEALER; single-frame messages as in libzmq).
    pub conflate: bool,
    /// ZMQ_REQ_RELAXED: a REQ may send a new request without waiting for the reply.
    pub req_relaxed: bool,
    /// ZMQ_REQ_CORRELATE: a REQ tags requests with an id and accepts only the matching reply.
    pub req_correlate: bool,
    /// ZMQ_XPUB_VERBOSE: an XPUB passes every subscribe message up, not only the first.
    pub xpub_verbose: bool,
    /// ZMQ_TCP_KEEPALIVE: -1 system default, 0 off, 1 on.
    pub tcp_keepalive: i32,
    /// ZMQ_TCP_KEEPALIVE_IDLE in seconds (-1: system default).
    pub tcp_keepalive_idle: i32,
    /// ZMQ_TCP_KEEPALIVE_CNT (-1: system default).
    pub tcp_keepalive_cnt: i32,
    /// ZMQ_TCP_KEEPALIVE_INTVL in seconds (-1: system default).
    pub tcp_keepalive_intvl: i32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sndhwm: 1000,
            rcvhwm: 1000,
            linger: Duration::from_secs(30),
            routing_id: Bytes::new(),
            reconnect_ivl: Duration::from_millis(100),
            reconnect_ivl_max: Duration::ZERO,
            maxmsgsize: None,
            router_mandatory: false,
            router_handover: false,
            handshake_ivl: Duration::from_secs(30),
            heartbeat_ivl: Duration::ZERO,
            heartbeat_ttl: Duration::ZERO,
            heartbeat_timeout: Duration::ZERO,
            immediate: false,
            conflate: false,
            req_relaxed: false,
            req_correlate: false,
            xpub_verbose: false,
            tcp_keepalive: -1,
            tcp_keepalive_idle: -1,
            tcp_keepalive_cnt: -1,
            tcp_keepalive_intvl: -1,
        }
    }
}

impl Options {
    pub(crate) fn sndhwm_limit(&self) -> usize {
        if self.sndhwm == 0 {
            usize::MAX
        } else {
            self.sndhwm
        }
    }

    pub(crate) fn rcvhwm_limit(&self) -> usize {
        if self.rcvhwm == 0 {
            usize::MAX
        } else {
            self.rcvhwm
        }
    }

    /// The reconnect delay after `attempt` consecutive failures (libzmq's doubling backoff,
    /// capped by RECONNECT_IVL_MAX when that is set).
    pub(crate) fn reconnect_delay(&self, attempt: u32) -> Duration {
        if self.reconnect_ivl_max.is_zero() || self.reconnect_ivl_max <= self.reconnect_ivl {
            return self.reconnect_ivl;
        }
        let d = self
            .reconnect_ivl
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
        d.min(self.reconnect_ivl_max)
    }
}
