//! libzmq's numeric socket options for [`ZmqTransport::getsockopt`](super::ZmqTransport::getsockopt)
//! and [`setsockopt`](super::ZmqTransport::setsockopt), mapped onto the typed options of
//! [`Socket`].

use crate::zmtp::z85;
use crate::zmtp::Mechanism;
use crate::{Error, Result, Socket};
use bytes::Bytes;
use std::time::Duration;

/// libzmq's option numbers (`ZMQ_*` in `zmq.h`, the same values as pyzmq's `zmq.*`).
///
/// The transport supports the options that have a counterpart in [`Socket`]'s typed options
/// (see [`ZmqTransport::getsockopt`](super::ZmqTransport::getsockopt)); the others are listed
/// so that code written against libzmq reads the same, and fail with `EINVAL`.
pub mod opt {
    /// ZMQ_AFFINITY (unsupported: there are no I/O threads to pin).
    pub const AFFINITY: i32 = 4;
    /// ZMQ_ROUTING_ID: bytes.
    pub const ROUTING_ID: i32 = 5;
    /// ZMQ_IDENTITY: the old name of [`ROUTING_ID`].
    pub const IDENTITY: i32 = 5;
    /// ZMQ_SUBSCRIBE (SUB, set only): bytes.
    pub const SUBSCRIBE: i32 = 6;
    /// ZMQ_UNSUBSCRIBE (SUB, set only): bytes.
    pub const UNSUBSCRIBE: i32 = 7;
    /// ZMQ_RATE (unsupported: no PGM).
    pub const RATE: i32 = 8;
    /// ZMQ_RECOVERY_IVL (unsupported: no PGM).
    pub const RECOVERY_IVL: i32 = 9;
    /// ZMQ_SNDBUF: bytes, -1 = the system default.
    pub const SNDBUF: i32 = 11;
    /// ZMQ_RCVBUF: bytes, -1 = the system default.
    pub const RCVBUF: i32 = 12;
    /// ZMQ_RCVMORE (get only): always 0, messages are received whole.
    pub const RCVMORE: i32 = 13;
    /// ZMQ_FD (unsupported: no file descriptor to poll).
    pub const FD: i32 = 14;
    /// ZMQ_EVENTS (unsupported).
    pub const EVENTS: i32 = 15;
    /// ZMQ_TYPE (get only): the socket type's number.
    pub const TYPE: i32 = 16;
    /// ZMQ_LINGER: milliseconds, -1 = wait for ever.
    pub const LINGER: i32 = 17;
    /// ZMQ_RECONNECT_IVL: milliseconds.
    pub const RECONNECT_IVL: i32 = 18;
    /// ZMQ_BACKLOG (unsupported).
    pub const BACKLOG: i32 = 19;
    /// ZMQ_RECONNECT_IVL_MAX: milliseconds, 0 = no backoff.
    pub const RECONNECT_IVL_MAX: i32 = 21;
    /// ZMQ_MAXMSGSIZE: bytes, -1 = no limit.
    pub const MAXMSGSIZE: i32 = 22;
    /// ZMQ_SNDHWM: messages, 0 = no limit.
    pub const SNDHWM: i32 = 23;
    /// ZMQ_RCVHWM: messages, 0 = no limit.
    pub const RCVHWM: i32 = 24;
    /// ZMQ_MULTICAST_HOPS (unsupported).
    pub const MULTICAST_HOPS: i32 = 25;
    /// ZMQ_RCVTIMEO (unsupported: use `tokio::time::timeout`).
    pub const RCVTIMEO: i32 = 27;
    /// ZMQ_SNDTIMEO (unsupported: use `tokio::time::timeout`).
    pub const SNDTIMEO: i32 = 28;
    /// ZMQ_LAST_ENDPOINT (get only): the endpoint of the transport's last bind or connect.
    pub const LAST_ENDPOINT: i32 = 32;
    /// ZMQ_ROUTER_MANDATORY: 0 or 1.
    pub const ROUTER_MANDATORY: i32 = 33;
    /// ZMQ_TCP_KEEPALIVE: -1, 0 or 1.
    pub const TCP_KEEPALIVE: i32 = 34;
    /// ZMQ_TCP_KEEPALIVE_CNT: -1 or a count.
    pub const TCP_KEEPALIVE_CNT: i32 = 35;
    /// ZMQ_TCP_KEEPALIVE_IDLE: -1 or seconds.
    pub const TCP_KEEPALIVE_IDLE: i32 = 36;
    /// ZMQ_TCP_KEEPALIVE_INTVL: -1 or seconds.
    pub const TCP_KEEPALIVE_INTVL: i32 = 37;
    /// ZMQ_IMMEDIATE: 0 or 1.
    pub const IMMEDIATE: i32 = 39;
    /// ZMQ_XPUB_VERBOSE: 0 or 1.
    pub const XPUB_VERBOSE: i32 = 40;
    /// ZMQ_ROUTER_RAW (unsupported).
    pub const ROUTER_RAW: i32 = 41;
    /// ZMQ_IPV6 (unsupported: IPv6 endpoints always work).
    pub const IPV6: i32 = 42;
    /// ZMQ_MECHANISM (get only): 0 NULL, 1 PLAIN, 2 CURVE.
    pub const MECHANISM: i32 = 43;
    /// ZMQ_PLAIN_SERVER: 0 or 1.
    pub const PLAIN_SERVER: i32 = 44;
    /// ZMQ_PLAIN_USERNAME: bytes (sets the PLAIN client role).
    pub const PLAIN_USERNAME: i32 = 45;
    /// ZMQ_PLAIN_PASSWORD: bytes.
    pub const PLAIN_PASSWORD: i32 = 46;
    /// ZMQ_CURVE_SERVER: 0 or 1.
    pub const CURVE_SERVER: i32 = 47;
    /// ZMQ_CURVE_PUBLICKEY: 32 bytes or 40 Z85 characters; read as 40 Z85 characters.
    pub const CURVE_PUBLICKEY: i32 = 48;
    /// ZMQ_CURVE_SECRETKEY: 32 bytes or 40 Z85 characters; read as 40 Z85 characters.
    pub const CURVE_SECRETKEY: i32 = 49;
    /// ZMQ_CURVE_SERVERKEY: 32 bytes or 40 Z85 characters (sets the CURVE client role);
    /// read as 40 Z85 characters.
    pub const CURVE_SERVERKEY: i32 = 50;
    /// ZMQ_PROBE_ROUTER (unsupported).
    pub const PROBE_ROUTER: i32 = 51;
    /// ZMQ_REQ_CORRELATE: 0 or 1.
    pub const REQ_CORRELATE: i32 = 52;
    /// ZMQ_REQ_RELAXED: 0 or 1.
    pub const REQ_RELAXED: i32 = 53;
    /// ZMQ_CONFLATE: 0 or 1.
    pub const CONFLATE: i32 = 54;
    /// ZMQ_ZAP_DOMAIN: bytes (UTF-8).
    pub const ZAP_DOMAIN: i32 = 55;
    /// ZMQ_ROUTER_HANDOVER: 0 or 1.
    pub const ROUTER_HANDOVER: i32 = 56;
    /// ZMQ_TOS (unsupported).
    pub const TOS: i32 = 57;
    /// ZMQ_CONNECT_ROUTING_ID (unsupported).
    pub const CONNECT_ROUTING_ID: i32 = 61;
    /// ZMQ_HANDSHAKE_IVL: milliseconds, 0 = no limit.
    pub const HANDSHAKE_IVL: i32 = 66;
    /// ZMQ_XPUB_NODROP (unsupported).
    pub const XPUB_NODROP: i32 = 69;
    /// ZMQ_HEARTBEAT_IVL: milliseconds, 0 = off.
    pub const HEARTBEAT_IVL: i32 = 75;
    /// ZMQ_HEARTBEAT_TTL: milliseconds (deciseconds on the wire).
    pub const HEARTBEAT_TTL: i32 = 76;
    /// ZMQ_HEARTBEAT_TIMEOUT: milliseconds, 0 = the heartbeat interval.
    pub const HEARTBEAT_TIMEOUT: i32 = 77;
    /// ZMQ_CONNECT_TIMEOUT (unsupported).
    pub const CONNECT_TIMEOUT: i32 = 79;
    /// ZMQ_THREAD_SAFE (unsupported).
    pub const THREAD_SAFE: i32 = 81;

    /// ZMQ_EVENT_ALL: every monitor event (for [`enable_monitor`](crate::ZmqTransport::enable_monitor)).
    pub const EVENT_ALL: u32 = 0xFFFF;
}

/// An option value for [`ZmqTransport::getsockopt`](super::ZmqTransport::getsockopt) and
/// [`setsockopt`](super::ZmqTransport::setsockopt): an integer or bytes, as pyzmq passes them.
///
/// ```
/// use aiozmq::api::OptValue;
/// assert_eq!(OptValue::from(1000), OptValue::Int(1000));
/// assert_eq!(OptValue::from("topic").as_bytes().map(|b| &b[..]), Some(&b"topic"[..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OptValue {
    /// Integer options (HWMs, times in milliseconds, flags as 0/1).
    Int(i64),
    /// Binary options (ROUTING_ID, SUBSCRIBE, LAST_ENDPOINT).
    Bytes(Bytes),
}

impl OptValue {
    /// The integer, for integer options.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            OptValue::Int(v) => Some(*v),
            OptValue::Bytes(_) => None,
        }
    }

    /// The bytes, for binary options.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            OptValue::Bytes(b) => Some(b),
            OptValue::Int(_) => None,
        }
    }
}

impl From<i64> for OptValue {
    fn from(v: i64) -> Self {
        OptValue::Int(v)
    }
}

impl From<i32> for OptValue {
    fn from(v: i32) -> Self {
        OptValue::Int(v.into())
    }
}

impl From<u32> for OptValue {
    fn from(v: u32) -> Self {
        OptValue::Int(v.into())
    }
}

impl From<bool> for OptValue {
    fn from(v: bool) -> Self {
        OptValue::Int(v.into())
    }
}

impl From<Bytes> for OptValue {
    fn from(v: Bytes) -> Self {
        OptValue::Bytes(v)
    }
}

impl From<Vec<u8>> for OptValue {
    fn from(v: Vec<u8>) -> Self {
        OptValue::Bytes(v.into())
    }
}

impl From<&[u8]> for OptValue {
    fn from(v: &[u8]) -> Self {
        OptValue::Bytes(Bytes::copy_from_slice(v))
    }
}

impl From<&str> for OptValue {
    fn from(v: &str) -> Self {
        OptValue::Bytes(Bytes::copy_from_slice(v.as_bytes()))
    }
}

impl From<String> for OptValue {
    fn from(v: String) -> Self {
        OptValue::Bytes(v.into())
    }
}

/// Stands for libzmq's "no limit" (LINGER -1, HANDSHAKE_IVL 0) in [`Socket`]'s
/// `Duration` options: a century, long enough and still safe to add to an `Instant`.
pub(crate) const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn inval(option: i32, what: impl std::fmt::Display) -> Error {
    Error::inval(format!("socket option {option}: {what}"))
}

fn int(option: i32, value: &OptValue) -> Result<i64> {
    value
        .as_int()
        .ok_or_else(|| inval(option, "takes an integer value"))
}

fn non_negative(option: i32, value: &OptValue) -> Result<u64> {
    let v = int(option, value)?;
    u64::try_from(v).map_err(|_| inval(option, format!("{v} is negative")))
}

fn millis(option: i32, value: &OptValue) -> Result<Duration> {
    Ok(Duration::from_millis(non_negative(option, value)?))
}

fn flag(option: i32, value: &OptValue) -> Result<bool> {
    match int(option, value)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(inval(option, format!("{v} is not 0 or 1"))),
    }
}

fn at_least_minus_one(option: i32, value: &OptValue) -> Result<i32> {
    let v = int(option, value)?;
    match i32::try_from(v) {
        Ok(v) if v >= -1 => Ok(v),
        _ => Err(inval(option, format!("{v} is out of range"))),
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn usize_of(option: i32, value: &OptValue) -> Result<usize> {
    let v = non_negative(option, value)?;
    usize::try_from(v).map_err(|_| inval(option, format!("{v} is too large")))
}

fn bytes_of(option: i32, value: &OptValue) -> Result<Bytes> {
    value
        .as_bytes()
        .cloned()
        .ok_or_else(|| inval(option, "takes a bytes value"))
}

/// A CURVE key as libzmq takes it: 32 bytes, 40 Z85 characters, or 41 with the C string's
/// terminating zero (what a C caller passes with `strlen + 1`).
fn key_of(option: i32, value: &OptValue) -> Result<Bytes> {
    let b = bytes_of(option, value)?;
    Ok(match b.len() {
        41 if b[40] == 0 => b.slice(..40),
        32 | 40 => b,
        n => {
            return Err(inval(
                option,
                format!("a key is 32 bytes or 40 Z85 characters, not {n}"),
            ))
        }
    })
}

/// A CURVE key as pyzmq reads it: Z85 text; an unset key reads as 32 zero bytes, as in
/// libzmq.
fn z85_key(key: Option<[u8; 32]>) -> OptValue {
    let text = z85::encode(&key.unwrap_or([0; 32])).expect("32 bytes encode");
    OptValue::Bytes(Bytes::from(text))
}

fn unsupported(option: i32) -> Error {
    inval(option, "unknown or unsupported option")
}

/// `getsockopt` for every option that lives in the socket (not LAST_ENDPOINT, which the
/// transport tracks).
pub(crate) fn get(socket: &Socket, option: i32) -> Result<OptValue> {
    let v = match option {
        opt::ROUTING_ID => OptValue::Bytes(socket.routing_id()),
        opt::RCVMORE => OptValue::Int(0),
        opt::TYPE => OptValue::Int(socket.socket_type().to_raw().into()),
        opt::LINGER => {
            let l = socket.linger();
            OptValue::Int(if l >= FOREVER { -1 } else { ms(l) })
        }
        opt::RECONNECT_IVL => OptValue::Int(ms(socket.reconnect_ivl())),
        opt::RECONNECT_IVL_MAX => OptValue::Int(ms(socket.reconnect_ivl_max())),
        opt::MAXMSGSIZE => OptValue::Int(
            socket
                .maxmsgsize()
                .map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX)),
        ),
        opt::SNDHWM => OptValue::Int(i64::try_from(socket.sndhwm()).unwrap_or(i64::MAX)),
        opt::RCVHWM => OptValue::Int(i64::try_from(socket.rcvhwm()).unwrap_or(i64::MAX)),
        opt::ROUTER_MANDATORY => socket.router_mandatory().into(),
        opt::SNDBUF => socket.sndbuf().into(),
        opt::RCVBUF => socket.rcvbuf().into(),
        opt::TCP_KEEPALIVE => socket.tcp_keepalive().into(),
        opt::TCP_KEEPALIVE_CNT => socket.tcp_keepalive_cnt().into(),
        opt::TCP_KEEPALIVE_IDLE => socket.tcp_keepalive_idle().into(),
        opt::TCP_KEEPALIVE_INTVL => socket.tcp_keepalive_intvl().into(),
        opt::IMMEDIATE => socket.immediate().into(),
        opt::XPUB_VERBOSE => socket.xpub_verbose().into(),
        opt::REQ_CORRELATE => socket.req_correlate().into(),
        opt::REQ_RELAXED => socket.req_relaxed().into(),
        opt::CONFLATE => socket.conflate().into(),
        opt::ROUTER_HANDOVER => socket.router_handover().into(),
        opt::HANDSHAKE_IVL => {
            let h = socket.handshake_ivl();
            OptValue::Int(if h >= FOREVER { 0 } else { ms(h) })
        }
        opt::HEARTBEAT_IVL => OptValue::Int(ms(socket.heartbeat_ivl())),
        opt::HEARTBEAT_TTL => OptValue::Int(ms(socket.heartbeat_ttl())),
        opt::HEARTBEAT_TIMEOUT => OptValue::Int(ms(socket.heartbeat_timeout())),
        opt::MECHANISM => OptValue::Int(match socket.mechanism() {
            Mechanism::Null => 0,
            Mechanism::Plain => 1,
            Mechanism::Curve => 2,
        }),
        opt::PLAIN_SERVER => socket.plain_server().into(),
        opt::PLAIN_USERNAME => OptValue::Bytes(socket.plain_username()),
        opt::PLAIN_PASSWORD => OptValue::Bytes(socket.plain_password()),
        opt::CURVE_SERVER => socket.curve_server().into(),
        opt::CURVE_PUBLICKEY => z85_key(socket.curve_publickey()),
        opt::CURVE_SECRETKEY => z85_key(socket.curve_secretkey()),
        opt::CURVE_SERVERKEY => z85_key(socket.curve_serverkey()),
        opt::ZAP_DOMAIN => OptValue::Bytes(Bytes::from(socket.zap_domain())),
        opt::SUBSCRIBE | opt::UNSUBSCRIBE => {
            return Err(inval(option, "can be set, not read"));
        }
        _ => return Err(unsupported(option)),
    };
    Ok(v)
}

/// `setsockopt` for every option that lives in the socket. SUBSCRIBE and UNSUBSCRIBE go
/// straight to the socket here; the transport keeps its subscription set itself.
pub(crate) fn set(socket: &Socket, option: i32, value: &OptValue) -> Result<()> {
    match option {
        opt::ROUTING_ID => {
            let id = value
                .as_bytes()
                .ok_or_else(|| inval(option, "takes a bytes value"))?;
            socket.set_routing_id(id.clone())
        }
        opt::SUBSCRIBE | opt::UNSUBSCRIBE => {
            let topic = value
                .as_bytes()
                .ok_or_else(|| inval(option, "takes a bytes value"))?
                .clone();
            if socket.socket_type() != crate::SocketType::Sub {
                // libzmq answers EINVAL for (UN)SUBSCRIBE on other socket types.
                return Err(inval(
                    option,
                    format!("not an option of {} sockets", socket.socket_type()),
                ));
            }
            if option == opt::SUBSCRIBE {
                socket.subscribe(topic)
            } else {
                socket.unsubscribe(topic)
            }
        }
        opt::LINGER => {
            let v = int(option, value)?;
            let d = match v {
                -1 => FOREVER,
                v if v >= 0 => Duration::from_millis(v as u64),
                v => return Err(inval(option, format!("{v} is out of range"))),
            };
            socket.set_linger(d)
        }
        opt::RECONNECT_IVL => socket.set_reconnect_ivl(millis(option, value)?),
        opt::RECONNECT_IVL_MAX => socket.set_reconnect_ivl_max(millis(option, value)?),
        opt::MAXMSGSIZE => {
            let v = int(option, value)?;
            match v {
                -1 => socket.set_maxmsgsize(None),
                v if v >= 0 => socket.set_maxmsgsize(Some(v as u64)),
                v => Err(inval(option, format!("{v} is out of range"))),
            }
        }
        opt::SNDHWM => socket.set_sndhwm(usize_of(option, value)?),
        opt::RCVHWM => socket.set_rcvhwm(usize_of(option, value)?),
        opt::ROUTER_MANDATORY => socket.set_router_mandatory(flag(option, value)?),
        opt::TCP_KEEPALIVE => {
            let v = at_least_minus_one(option, value)?;
            if v > 1 {
                return Err(inval(option, format!("{v} is not -1, 0 or 1")));
            }
            socket.set_tcp_keepalive(v)
        }
        opt::SNDBUF => socket.set_sndbuf(at_least_minus_one(option, value)?),
        opt::RCVBUF => socket.set_rcvbuf(at_least_minus_one(option, value)?),
        opt::TCP_KEEPALIVE_CNT => socket.set_tcp_keepalive_cnt(at_least_minus_one(option, value)?),
        opt::TCP_KEEPALIVE_IDLE => {
            socket.set_tcp_keepalive_idle(at_least_minus_one(option, value)?)
        }
        opt::TCP_KEEPALIVE_INTVL => {
            socket.set_tcp_keepalive_intvl(at_least_minus_one(option, value)?)
        }
        opt::IMMEDIATE => socket.set_immediate(flag(option, value)?),
        opt::XPUB_VERBOSE => socket.set_xpub_verbose(flag(option, value)?),
        opt::REQ_CORRELATE => socket.set_req_correlate(flag(option, value)?),
        opt::REQ_RELAXED => socket.set_req_relaxed(flag(option, value)?),
        opt::CONFLATE => socket.set_conflate(flag(option, value)?),
        opt::ROUTER_HANDOVER => socket.set_router_handover(flag(option, value)?),
        opt::HANDSHAKE_IVL => {
            let d = millis(option, value)?;
            socket.set_handshake_ivl(if d.is_zero() { FOREVER } else { d })
        }
        opt::HEARTBEAT_IVL => socket.set_heartbeat_ivl(millis(option, value)?),
        opt::HEARTBEAT_TTL => {
            // libzmq: deciseconds in a 16-bit field.
            let d = millis(option, value)?;
            if d > Duration::from_millis(6_553_599) {
                return Err(inval(
                    option,
                    format!("{} ms is over 6553599", d.as_millis()),
                ));
            }
            socket.set_heartbeat_ttl(d)
        }
        opt::HEARTBEAT_TIMEOUT => socket.set_heartbeat_timeout(millis(option, value)?),
        opt::PLAIN_SERVER => socket.set_plain_server(flag(option, value)?),
        opt::PLAIN_USERNAME => socket.set_plain_username(bytes_of(option, value)?),
        opt::PLAIN_PASSWORD => socket.set_plain_password(bytes_of(option, value)?),
        opt::CURVE_SERVER => socket.set_curve_server(flag(option, value)?),
        opt::CURVE_PUBLICKEY => socket.set_curve_publickey(key_of(option, value)?),
        opt::CURVE_SECRETKEY => socket.set_curve_secretkey(key_of(option, value)?),
        opt::CURVE_SERVERKEY => socket.set_curve_serverkey(key_of(option, value)?),
        opt::ZAP_DOMAIN => {
            let domain = std::str::from_utf8(&bytes_of(option, value)?)
                .map_err(|_| inval(option, "takes UTF-8 text"))?
                .to_owned();
            socket.set_zap_domain(domain)
        }
        opt::TYPE | opt::RCVMORE | opt::LAST_ENDPOINT | opt::MECHANISM => {
            Err(inval(option, "is read-only"))
        }
        _ => Err(unsupported(option)),
    }
}
