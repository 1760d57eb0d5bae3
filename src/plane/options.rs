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
    /// ZMQ_STREAM_NOTIFY (STREAM): a connection's start and end are received as
    /// `[routing id, empty frame]`. Default on.
    pub stream_notify: bool,
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
    /// ZMQ_XPUB_VERBOSER: with `xpub_verbose`, every unsubscribe message too (libzmq's
    /// two XPUB_VERBOSE* options set these two flags together).
    pub xpub_verboser: bool,
    /// ZMQ_XPUB_MANUAL (PUB/XPUB): peers' subscriptions are passed up but not applied; the
    /// application subscribes the peer of the last one received.
    pub xpub_manual: bool,
    /// ZMQ_XPUB_MANUAL_LAST_VALUE (PUB/XPUB): set with `xpub_manual`; the first message
    /// sent after a subscription was received goes only to that subscription's peer.
    pub xpub_manual_last_value: bool,
    /// ZMQ_XPUB_NODROP (PUB/XPUB): a send waits (`EAGAIN` for `try_send`) while a matching
    /// subscriber is at SNDHWM, instead of dropping the message for it.
    pub xpub_nodrop: bool,
    /// ZMQ_XPUB_WELCOME_MSG (PUB/XPUB): sent to each new subscriber first (empty = none).
    pub xpub_welcome_msg: Bytes,
    /// ZMQ_INVERT_MATCHING: PUB/XPUB send to the peers no subscription matches; SUB/XSUB
    /// receive the messages no subscription matches.
    pub invert_matching: bool,
    /// ZMQ_ONLY_FIRST_SUBSCRIBE (PUB/XPUB receiving, XSUB sending): a multipart message
    /// whose first frame is not a subscription is data as a whole; otherwise every frame
    /// starting with 1 or 0 is a subscribe or unsubscribe, as libzmq reads them.
    pub only_first_subscribe: bool,
    /// ZMQ_XSUB_VERBOSE_UNSUBSCRIBE (XSUB): every unsubscribe goes upstream, not only the
    /// one dropping a topic's last reference.
    pub xsub_verbose_unsubscribe: bool,
    /// ZMQ_TCP_KEEPALIVE: -1 system default, 0 off, 1 on.
    pub tcp_keepalive: i32,
    /// ZMQ_TCP_KEEPALIVE_IDLE in seconds (-1: system default).
    pub tcp_keepalive_idle: i32,
    /// ZMQ_TCP_KEEPALIVE_CNT (-1: system default).
    pub tcp_keepalive_cnt: i32,
    /// ZMQ_TCP_KEEPALIVE_INTVL in seconds (-1: system default).
    pub tcp_keepalive_intvl: i32,
    /// ZMQ_SNDBUF: the kernel send buffer (SO_SNDBUF) of new TCP and IPC connections, in
    /// bytes (-1: the system default, which for IPC is raised to at least 1 MiB, as far as
    /// the system allows; Linux doubles the value asked for).
    pub sndbuf: i32,
    /// ZMQ_RCVBUF: the kernel receive buffer (SO_RCVBUF) of new TCP and IPC connections,
    /// in bytes (-1: the system default).
    pub rcvbuf: i32,
    /// ZMQ_BACKLOG: the listen queue of new TCP listeners. Default 100.
    pub backlog: i32,
    /// ZMQ_IPV6: `tcp://*` binds both IPv4 and IPv6, and host names resolve to IPv6
    /// addresses too (IPv6 literals work either way). Default off.
    pub ipv6: bool,
    /// ZMQ_TOS: the IP type of service of new TCP connections and listeners (0: leave).
    pub tos: i32,
    /// ZMQ_MULTICAST_HOPS: the TTL of a RADIO's multicast UDP datagrams. Default 1.
    pub multicast_hops: i32,
    /// ZMQ_MULTICAST_LOOP: a RADIO's multicast UDP datagrams loop back to this host.
    /// Default on.
    pub multicast_loop: bool,
    /// ZMQ_PRIORITY: SO_PRIORITY of new TCP connections and listeners (Linux; 0: leave).
    pub priority: i32,
    /// ZMQ_BINDTODEVICE: the network device new TCP connections and listeners are bound
    /// to (Linux; empty: none).
    pub bindtodevice: String,
    /// ZMQ_TCP_MAXRT: how long sent data may stay unacknowledged before the connection is
    /// dropped (TCP_USER_TIMEOUT on Linux; zero: the system's default).
    pub tcp_maxrt: Duration,
    /// ZMQ_CONNECT_TIMEOUT: how long one TCP connect attempt may take before it counts as
    /// failed and is retried (zero: the system's own limit).
    pub connect_timeout: Duration,
    /// ZMQ_RECONNECT_STOP: when a connect stops retrying (a mask of
    /// `opt::RECONNECT_STOP_*`). Default 0: never.
    pub reconnect_stop: i32,
    /// ZMQ_MECHANISM: set by the security options below, as libzmq does (the last one
    /// set decides).
    pub mechanism: crate::zmtp::Mechanism,
    /// The server role for PLAIN or CURVE (ZMQ_PLAIN_SERVER / ZMQ_CURVE_SERVER).
    pub as_server: bool,
    /// ZMQ_PLAIN_USERNAME.
    pub plain_username: bytes::Bytes,
    /// ZMQ_PLAIN_PASSWORD.
    pub plain_password: bytes::Bytes,
    /// ZMQ_CURVE_PUBLICKEY (ours).
    pub curve_publickey: Option<[u8; 32]>,
    /// ZMQ_CURVE_SECRETKEY (ours).
    pub curve_secretkey: Option<[u8; 32]>,
    /// ZMQ_CURVE_SERVERKEY (the server's public key, for a client).
    pub curve_serverkey: Option<[u8; 32]>,
    /// ZMQ_ZAP_DOMAIN.
    pub zap_domain: String,
    // ---- messages and properties on connect and disconnect ----
    /// ZMQ_ROUTER_NOTIFY (ROUTER): `NOTIFY_CONNECT` (1) and/or `NOTIFY_DISCONNECT` (2).
    pub router_notify: u8,
    /// ZMQ_PROBE_ROUTER (ROUTER, DEALER, REQ): an empty message to each new peer first.
    pub probe_router: bool,
    /// ZMQ_CONNECT_ROUTING_ID (ROUTER): the routing id the next `connect` gives its peer
    /// (empty: none).
    pub connect_routing_id: Bytes,
    /// ZMQ_HELLO_MSG (ROUTER, DEALER): sent to each peer first (empty: none).
    pub hello_msg: Bytes,
    /// ZMQ_DISCONNECT_MSG (ROUTER): received from an accepted peer whose connection
    /// broke (empty: none).
    pub disconnect_msg: Bytes,
    /// ZMQ_HICCUP_MSG (DEALER): received when a connection we made broke (empty: none).
    pub hiccup_msg: Bytes,
    /// ZMQ_METADATA: `X-` properties added to our READY, in name order.
    pub metadata: std::collections::BTreeMap<String, Bytes>,
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
            stream_notify: true,
            handshake_ivl: Duration::from_secs(30),
            heartbeat_ivl: Duration::ZERO,
            heartbeat_ttl: Duration::ZERO,
            heartbeat_timeout: Duration::ZERO,
            immediate: false,
            conflate: false,
            req_relaxed: false,
            req_correlate: false,
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_manual: false,
            xpub_manual_last_value: false,
            xpub_nodrop: false,
            xpub_welcome_msg: Bytes::new(),
            invert_matching: false,
            xsub_verbose_unsubscribe: false,
            only_first_subscribe: false,
            tcp_keepalive: -1,
            tcp_keepalive_idle: -1,
            tcp_keepalive_cnt: -1,
            tcp_keepalive_intvl: -1,
            sndbuf: -1,
            rcvbuf: -1,
            backlog: 100,
            ipv6: false,
            tos: 0,
            multicast_hops: 1,
            multicast_loop: true,
            priority: 0,
            bindtodevice: String::new(),
            tcp_maxrt: Duration::ZERO,
            connect_timeout: Duration::ZERO,
            reconnect_stop: 0,
            mechanism: crate::zmtp::Mechanism::Null,
            as_server: false,
            plain_username: bytes::Bytes::new(),
            plain_password: bytes::Bytes::new(),
            curve_publickey: None,
            curve_secretkey: None,
            curve_serverkey: None,
            zap_domain: String::new(),
            router_notify: 0,
            probe_router: false,
            connect_routing_id: Bytes::new(),
            hello_msg: Bytes::new(),
            disconnect_msg: Bytes::new(),
            hiccup_msg: Bytes::new(),
            metadata: std::collections::BTreeMap::new(),
        }
    }
}

impl Options {
    /// The security role these options describe, or why they are incomplete.
    pub(crate) fn security(&self) -> Result<crate::zmtp::Security, String> {
        use crate::zmtp::{Mechanism, Security};
        Ok(match (self.mechanism, self.as_server) {
            (Mechanism::Null, _) => Security::Null,
            (Mechanism::Plain, true) => Security::PlainServer,
            (Mechanism::Plain, false) => Security::PlainClient {
                username: self.plain_username.clone(),
                password: self.plain_password.clone(),
            },
            (Mechanism::Curve, true) => {
                let secret_key = self
                    .curve_secretkey
                    .ok_or("CURVE server needs CURVE_SECRETKEY")?;
                Security::CurveServer {
                    public_key: self.curve_publickey.unwrap_or_else(|| {
                        crate::zmtp::mechanism::curve::public_from_secret(&secret_key)
                    }),
                    secret_key,
                }
            }
            (Mechanism::Curve, false) => Security::CurveClient {
                server_key: self
                    .curve_serverkey
                    .ok_or("CURVE client needs CURVE_SERVERKEY")?,
                public_key: self
                    .curve_publickey
                    .ok_or("CURVE client needs CURVE_PUBLICKEY")?,
                secret_key: self
                    .curve_secretkey
                    .ok_or("CURVE client needs CURVE_SECRETKEY")?,
            },
        })
    }

    /// PUB/XPUB: whether a send needs more than matching subscribers and dropping at
    /// SNDHWM (one test on the fan-out path).
    #[inline]
    pub(crate) fn fan_out_special(&self) -> bool {
        self.invert_matching || self.xpub_nodrop || self.xpub_manual_last_value
    }

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
