//! libzmq's numeric socket options for [`Socket::getsockopt`] and [`Socket::setsockopt`]
//! (and through them the core API's `ZmqTransport`), mapped onto the typed options of
//! [`Socket`].

use crate::zmtp::z85;
use crate::zmtp::Mechanism;
use crate::{Error, Result, Socket};
use bytes::Bytes;
use std::time::Duration;

/// libzmq's option numbers (`ZMQ_*` in `zmq.h`, the same values as pyzmq's `zmq.*`).
///
/// The options that have a counterpart in [`Socket`]'s typed options are supported (see
/// [`Socket::getsockopt`]); the others are listed so that code written against libzmq reads
/// the same, and fail with `EINVAL`.
pub mod opt {
    /// The kind of value an option takes and gives.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// An integer ([`OptValue::Int`](super::OptValue::Int)).
        Int,
        /// Bytes ([`OptValue::Bytes`](super::OptValue::Bytes)).
        Bytes,
    }

    macro_rules! options {
        ($( $(#[$doc:meta])* $name:ident = $num:literal, $kind:ident; )*) => {
            $( $(#[$doc])* pub const $name: i32 = $num; )*

            /// Every socket option name of libzmq 4.3.5 (without the `ZMQ_` prefix, stable
            /// and draft), with its number and value kind, in number order.
            pub const ALL: &[(&str, i32, Kind)] = &[$((stringify!($name), $num, Kind::$kind),)*];
        };
    }

    options! {
        /// ZMQ_AFFINITY (unsupported: there are no I/O threads to pin).
        AFFINITY = 4, Int;
        /// ZMQ_ROUTING_ID: bytes.
        ROUTING_ID = 5, Bytes;
        /// ZMQ_IDENTITY: the old name of [`ROUTING_ID`].
        IDENTITY = 5, Bytes;
        /// ZMQ_SUBSCRIBE (SUB, and PUB/XPUB under XPUB_MANUAL; set only): bytes.
        SUBSCRIBE = 6, Bytes;
        /// ZMQ_UNSUBSCRIBE (SUB, and PUB/XPUB under XPUB_MANUAL; set only): bytes.
        UNSUBSCRIBE = 7, Bytes;
        /// ZMQ_RATE (unsupported: no PGM).
        RATE = 8, Int;
        /// ZMQ_RECOVERY_IVL (unsupported: no PGM).
        RECOVERY_IVL = 9, Int;
        /// ZMQ_SNDBUF: bytes, -1 = the system default.
        SNDBUF = 11, Int;
        /// ZMQ_RCVBUF: bytes, -1 = the system default.
        RCVBUF = 12, Int;
        /// ZMQ_RCVMORE (get only): always 0, messages are received whole.
        RCVMORE = 13, Int;
        /// ZMQ_FD (unsupported: no file descriptor to poll).
        FD = 14, Int;
        /// ZMQ_EVENTS (get only): `ZMQ_POLLIN` (1) and `ZMQ_POLLOUT` (2), as [`Socket::events`](crate::Socket::events).
        EVENTS = 15, Int;
        /// ZMQ_TYPE (get only): the socket type's number.
        TYPE = 16, Int;
        /// ZMQ_LINGER: milliseconds, -1 = wait for ever.
        LINGER = 17, Int;
        /// ZMQ_RECONNECT_IVL: milliseconds.
        RECONNECT_IVL = 18, Int;
        /// ZMQ_BACKLOG: the listen queue of TCP and IPC listeners.
        BACKLOG = 19, Int;
        /// ZMQ_RECONNECT_IVL_MAX: milliseconds, 0 = no backoff.
        RECONNECT_IVL_MAX = 21, Int;
        /// ZMQ_MAXMSGSIZE: bytes, -1 = no limit.
        MAXMSGSIZE = 22, Int;
        /// ZMQ_SNDHWM: messages, 0 = no limit.
        SNDHWM = 23, Int;
        /// ZMQ_RCVHWM: messages, 0 = no limit.
        RCVHWM = 24, Int;
        /// ZMQ_MULTICAST_HOPS (RADIO over multicast `udp://`): above 0.
        MULTICAST_HOPS = 25, Int;
        /// ZMQ_RCVTIMEO: milliseconds `recv` waits before `EAGAIN`, -1 = for ever.
        RCVTIMEO = 27, Int;
        /// ZMQ_SNDTIMEO: milliseconds `send` waits before `EAGAIN`, -1 = for ever.
        SNDTIMEO = 28, Int;
        /// ZMQ_IPV4ONLY: the deprecated inverse of [`IPV6`].
        IPV4ONLY = 31, Int;
        /// ZMQ_LAST_ENDPOINT (get only): the endpoint of the transport's last bind or connect.
        LAST_ENDPOINT = 32, Bytes;
        /// ZMQ_ROUTER_MANDATORY: 0 or 1.
        ROUTER_MANDATORY = 33, Int;
        /// ZMQ_TCP_KEEPALIVE: -1, 0 or 1.
        TCP_KEEPALIVE = 34, Int;
        /// ZMQ_TCP_KEEPALIVE_CNT: -1 or a count.
        TCP_KEEPALIVE_CNT = 35, Int;
        /// ZMQ_TCP_KEEPALIVE_IDLE: -1 or seconds.
        TCP_KEEPALIVE_IDLE = 36, Int;
        /// ZMQ_TCP_KEEPALIVE_INTVL: -1 or seconds.
        TCP_KEEPALIVE_INTVL = 37, Int;
        /// ZMQ_TCP_ACCEPT_FILTER (unsupported).
        TCP_ACCEPT_FILTER = 38, Bytes;
        /// ZMQ_IMMEDIATE: 0 or 1.
        IMMEDIATE = 39, Int;
        /// ZMQ_XPUB_VERBOSE (XPUB): 0 or more (non-zero = on).
        XPUB_VERBOSE = 40, Int;
        /// ZMQ_ROUTER_RAW (unsupported).
        ROUTER_RAW = 41, Int;
        /// ZMQ_IPV6 (unsupported: IPv6 endpoints always work).
        IPV6 = 42, Int;
        /// ZMQ_MECHANISM (get only): 0 NULL, 1 PLAIN, 2 CURVE.
        MECHANISM = 43, Int;
        /// ZMQ_PLAIN_SERVER: 0 or 1.
        PLAIN_SERVER = 44, Int;
        /// ZMQ_PLAIN_USERNAME: bytes (sets the PLAIN client role).
        PLAIN_USERNAME = 45, Bytes;
        /// ZMQ_PLAIN_PASSWORD: bytes.
        PLAIN_PASSWORD = 46, Bytes;
        /// ZMQ_CURVE_SERVER: 0 or 1.
        CURVE_SERVER = 47, Int;
        /// ZMQ_CURVE_PUBLICKEY: 32 bytes or 40 Z85 characters; read as 40 Z85 characters.
        CURVE_PUBLICKEY = 48, Bytes;
        /// ZMQ_CURVE_SECRETKEY: 32 bytes or 40 Z85 characters; read as 40 Z85 characters.
        CURVE_SECRETKEY = 49, Bytes;
        /// ZMQ_CURVE_SERVERKEY: 32 bytes or 40 Z85 characters (sets the CURVE client role);
        /// read as 40 Z85 characters.
        CURVE_SERVERKEY = 50, Bytes;
        /// ZMQ_PROBE_ROUTER (ROUTER, DEALER, REQ; set only): 0 or 1 (any positive value is 1).
        PROBE_ROUTER = 51, Int;
        /// ZMQ_REQ_CORRELATE: 0 or 1.
        REQ_CORRELATE = 52, Int;
        /// ZMQ_REQ_RELAXED: 0 or 1.
        REQ_RELAXED = 53, Int;
        /// ZMQ_CONFLATE: 0 or 1.
        CONFLATE = 54, Int;
        /// ZMQ_ZAP_DOMAIN: bytes (UTF-8).
        ZAP_DOMAIN = 55, Bytes;
        /// ZMQ_ROUTER_HANDOVER: 0 or 1.
        ROUTER_HANDOVER = 56, Int;
        /// ZMQ_TOS (unsupported).
        TOS = 57, Int;
        /// ZMQ_IPC_FILTER_PID (unsupported).
        IPC_FILTER_PID = 58, Int;
        /// ZMQ_IPC_FILTER_UID (unsupported).
        IPC_FILTER_UID = 59, Int;
        /// ZMQ_IPC_FILTER_GID (unsupported).
        IPC_FILTER_GID = 60, Int;
        /// ZMQ_CONNECT_ROUTING_ID (ROUTER; set only): bytes, not empty.
        CONNECT_ROUTING_ID = 61, Bytes;
        /// ZMQ_GSSAPI_SERVER (unsupported).
        GSSAPI_SERVER = 62, Int;
        /// ZMQ_GSSAPI_PRINCIPAL (unsupported).
        GSSAPI_PRINCIPAL = 63, Bytes;
        /// ZMQ_GSSAPI_SERVICE_PRINCIPAL (unsupported).
        GSSAPI_SERVICE_PRINCIPAL = 64, Bytes;
        /// ZMQ_GSSAPI_PLAINTEXT (unsupported).
        GSSAPI_PLAINTEXT = 65, Int;
        /// ZMQ_HANDSHAKE_IVL: milliseconds, 0 = no limit.
        HANDSHAKE_IVL = 66, Int;
        /// ZMQ_SOCKS_PROXY (unsupported).
        SOCKS_PROXY = 68, Bytes;
        /// ZMQ_XPUB_NODROP (PUB/XPUB): 0 or more (non-zero = on).
        XPUB_NODROP = 69, Int;
        /// ZMQ_BLOCKY (unsupported).
        BLOCKY = 70, Int;
        /// ZMQ_XPUB_MANUAL (PUB/XPUB): 0 or more (non-zero = on).
        XPUB_MANUAL = 71, Int;
        /// ZMQ_XPUB_WELCOME_MSG (PUB/XPUB): bytes (empty = none).
        XPUB_WELCOME_MSG = 72, Bytes;
        /// ZMQ_STREAM_NOTIFY: 0 or 1 (STREAM).
        STREAM_NOTIFY = 73, Int;
        /// ZMQ_INVERT_MATCHING (PUB/XPUB/SUB/XSUB): an integer (non-zero = on).
        INVERT_MATCHING = 74, Int;
        /// ZMQ_HEARTBEAT_IVL: milliseconds, 0 = off.
        HEARTBEAT_IVL = 75, Int;
        /// ZMQ_HEARTBEAT_TTL: milliseconds (deciseconds on the wire).
        HEARTBEAT_TTL = 76, Int;
        /// ZMQ_HEARTBEAT_TIMEOUT: milliseconds, 0 = the heartbeat interval.
        HEARTBEAT_TIMEOUT = 77, Int;
        /// ZMQ_XPUB_VERBOSER (XPUB): 0 or more (non-zero = on).
        XPUB_VERBOSER = 78, Int;
        /// ZMQ_CONNECT_TIMEOUT (unsupported).
        CONNECT_TIMEOUT = 79, Int;
        /// ZMQ_TCP_MAXRT (unsupported).
        TCP_MAXRT = 80, Int;
        /// ZMQ_THREAD_SAFE (get only): always 1, every socket here may be shared.
        THREAD_SAFE = 81, Int;
        /// ZMQ_MULTICAST_MAXTPDU (unsupported).
        MULTICAST_MAXTPDU = 84, Int;
        /// ZMQ_VMCI_BUFFER_SIZE (unsupported).
        VMCI_BUFFER_SIZE = 85, Int;
        /// ZMQ_VMCI_BUFFER_MIN_SIZE (unsupported).
        VMCI_BUFFER_MIN_SIZE = 86, Int;
        /// ZMQ_VMCI_BUFFER_MAX_SIZE (unsupported).
        VMCI_BUFFER_MAX_SIZE = 87, Int;
        /// ZMQ_VMCI_CONNECT_TIMEOUT (unsupported).
        VMCI_CONNECT_TIMEOUT = 88, Int;
        /// ZMQ_USE_FD: a listener handed by socket activation, by number (see
        /// `Socket::set_use_fd`); -1 for none.
        USE_FD = 89, Int;
        /// ZMQ_GSSAPI_PRINCIPAL_NAMETYPE (unsupported).
        GSSAPI_PRINCIPAL_NAMETYPE = 90, Int;
        /// ZMQ_GSSAPI_SERVICE_PRINCIPAL_NAMETYPE (unsupported).
        GSSAPI_SERVICE_PRINCIPAL_NAMETYPE = 91, Int;
        /// ZMQ_BINDTODEVICE (unsupported).
        BINDTODEVICE = 92, Bytes;
        /// ZMQ_ZAP_ENFORCE_DOMAIN: an integer, non-zero is on.
        ZAP_ENFORCE_DOMAIN = 93, Int;
        /// ZMQ_LOOPBACK_FASTPATH: an integer, non-zero is on (Windows-only in libzmq; no effect).
        LOOPBACK_FASTPATH = 94, Int;
        /// ZMQ_METADATA (set only): `X-Name:value`, each set adds a property.
        METADATA = 95, Bytes;
        /// ZMQ_MULTICAST_LOOP (RADIO over multicast `udp://`): non-zero is on.
        MULTICAST_LOOP = 96, Int;
        /// ZMQ_ROUTER_NOTIFY (set on ROUTER): [`NOTIFY_CONNECT`] | [`NOTIFY_DISCONNECT`].
        ROUTER_NOTIFY = 97, Int;
        /// ZMQ_XPUB_MANUAL_LAST_VALUE (PUB/XPUB): 0 or more (non-zero = on).
        XPUB_MANUAL_LAST_VALUE = 98, Int;
        /// ZMQ_SOCKS_USERNAME (unsupported).
        SOCKS_USERNAME = 99, Bytes;
        /// ZMQ_SOCKS_PASSWORD (unsupported).
        SOCKS_PASSWORD = 100, Bytes;
        /// ZMQ_IN_BATCH_SIZE: positive bytes (kept; no effect).
        IN_BATCH_SIZE = 101, Int;
        /// ZMQ_OUT_BATCH_SIZE: positive bytes (kept; no effect).
        OUT_BATCH_SIZE = 102, Int;
        /// ZMQ_WSS_KEY_PEM (unsupported).
        WSS_KEY_PEM = 103, Bytes;
        /// ZMQ_WSS_CERT_PEM (unsupported).
        WSS_CERT_PEM = 104, Bytes;
        /// ZMQ_WSS_TRUST_PEM (unsupported).
        WSS_TRUST_PEM = 105, Bytes;
        /// ZMQ_WSS_HOSTNAME (unsupported).
        WSS_HOSTNAME = 106, Bytes;
        /// ZMQ_WSS_TRUST_SYSTEM (unsupported).
        WSS_TRUST_SYSTEM = 107, Int;
        /// ZMQ_ONLY_FIRST_SUBSCRIBE (PUB/XPUB/XSUB): 0 or more (non-zero = on).
        ONLY_FIRST_SUBSCRIBE = 108, Int;
        /// ZMQ_RECONNECT_STOP (unsupported).
        RECONNECT_STOP = 109, Int;
        /// ZMQ_HELLO_MSG (set only): bytes, empty = none.
        HELLO_MSG = 110, Bytes;
        /// ZMQ_DISCONNECT_MSG (set only): bytes, empty = none.
        DISCONNECT_MSG = 111, Bytes;
        /// ZMQ_PRIORITY (unsupported).
        PRIORITY = 112, Int;
        /// ZMQ_BUSY_POLL: SO_BUSY_POLL microseconds on TCP connections (Linux).
        BUSY_POLL = 113, Int;
        /// ZMQ_HICCUP_MSG (set only): bytes, empty = none.
        HICCUP_MSG = 114, Bytes;
        /// ZMQ_XSUB_VERBOSE_UNSUBSCRIBE (XSUB): an integer (non-zero = on).
        XSUB_VERBOSE_UNSUBSCRIBE = 115, Int;
        /// ZMQ_TOPICS_COUNT (get only; PUB/XPUB/SUB/XSUB): distinct topics subscribed.
        TOPICS_COUNT = 116, Int;
        /// ZMQ_NORM_MODE (unsupported).
        NORM_MODE = 117, Int;
        /// ZMQ_NORM_UNICAST_NACK (unsupported).
        NORM_UNICAST_NACK = 118, Int;
        /// ZMQ_NORM_BUFFER_SIZE (unsupported).
        NORM_BUFFER_SIZE = 119, Int;
        /// ZMQ_NORM_SEGMENT_SIZE (unsupported).
        NORM_SEGMENT_SIZE = 120, Int;
        /// ZMQ_NORM_BLOCK_SIZE (unsupported).
        NORM_BLOCK_SIZE = 121, Int;
        /// ZMQ_NORM_NUM_PARITY (unsupported).
        NORM_NUM_PARITY = 122, Int;
        /// ZMQ_NORM_NUM_AUTOPARITY (unsupported).
        NORM_NUM_AUTOPARITY = 123, Int;
        /// ZMQ_NORM_PUSH (unsupported).
        NORM_PUSH = 124, Int;
    }

    /// ZMQ_RECONNECT_STOP_CONN_REFUSED: stop retrying when the peer refuses the connection.
    pub const RECONNECT_STOP_CONN_REFUSED: i32 = 0x1;
    /// ZMQ_RECONNECT_STOP_HANDSHAKE_FAILED: stop retrying when the ZMTP handshake fails.
    pub const RECONNECT_STOP_HANDSHAKE_FAILED: i32 = 0x2;
    /// ZMQ_RECONNECT_STOP_AFTER_DISCONNECT: stop retrying after `disconnect` (which here
    /// always ends the connect).
    pub const RECONNECT_STOP_AFTER_DISCONNECT: i32 = 0x4;

    /// The number of the option called `name`: libzmq's name with or without the `ZMQ_`
    /// prefix, in any case (`"linger"`, `"ZMQ_SNDHWM"`), or a decimal number.
    pub fn by_name(name: &str) -> Option<i32> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("ZMQ_").unwrap_or(&upper);
        if let Ok(n) = bare.parse::<i32>() {
            return Some(n);
        }
        ALL.iter().find(|(n, _, _)| *n == bare).map(|&(_, v, _)| v)
    }

    /// libzmq's name of option `number` (the first, for numbers with two names).
    pub fn name_of(number: i32) -> Option<&'static str> {
        ALL.iter()
            .find(|&&(_, v, _)| v == number)
            .map(|&(n, _, _)| n)
    }

    /// The kind of value option `number` takes (`None` for numbers libzmq does not have).
    pub fn kind_of(number: i32) -> Option<Kind> {
        ALL.iter()
            .find(|&&(_, v, _)| v == number)
            .map(|&(_, _, k)| k)
    }

    /// ZMQ_EVENT_ALL: every monitor event (for the core API's `enable_monitor`).
    pub const EVENT_ALL: u32 = 0xFFFF;

    /// ZMQ_NOTIFY_CONNECT: [`ROUTER_NOTIFY`]'s flag for connections.
    pub const NOTIFY_CONNECT: i32 = 1;
    /// ZMQ_NOTIFY_DISCONNECT: [`ROUTER_NOTIFY`]'s flag for disconnections.
    pub const NOTIFY_DISCONNECT: i32 = 2;
}

/// An option value for [`Socket::getsockopt`] and [`Socket::setsockopt`]: an integer or
/// bytes, as pyzmq passes them.
///
/// ```
/// use aiozmq::socket::OptValue;
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

/// libzmq's XPUB flags: any non-negative integer, non-zero is on.
fn xpub_flag(option: i32, value: &OptValue) -> Result<bool> {
    non_negative(option, value).map(|v| v != 0)
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

fn non_negative_i32(option: i32, value: &OptValue) -> Result<i32> {
    let v = int(option, value)?;
    i32::try_from(v)
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| inval(option, format!("{v} is out of range")))
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

/// A ZMQ_METADATA entry, `X-Name:value`, by libzmq's rules (see [`Socket::set_metadata`]).
pub(crate) fn parse_metadata(entry: &[u8]) -> Result<(String, Bytes)> {
    let bad = |why: &str| inval(opt::METADATA, format!("{why} (expected \"X-Name:value\")"));
    if entry.len() == 4 {
        return Err(bad("a 4-byte value is taken for an integer"));
    }
    let colon = entry
        .iter()
        .position(|&b| b == b':')
        .filter(|&i| i != 0 && i + 1 != entry.len())
        .ok_or_else(|| bad("no name and value around a colon"))?;
    let (name, value) = (&entry[..colon], &entry[colon + 1..]);
    if !name.starts_with(b"X-") || !crate::zmtp::command::valid_name(name) {
        return Err(bad(
            "the name must start with X- and be a ZMTP property name",
        ));
    }
    let value = value.split(|&b| b == 0).next().unwrap_or_default();
    let name = String::from_utf8(name.to_vec()).expect("checked ASCII");
    Ok((name, Bytes::copy_from_slice(value)))
}

/// RCVTIMEO/SNDTIMEO: -1 or more milliseconds.
fn timeout_ms(option: i32, value: &OptValue) -> Result<i32> {
    let v = int(option, value)?;
    i32::try_from(v)
        .ok()
        .filter(|&v| v >= -1)
        .ok_or_else(|| inval(option, format!("{v} is out of range")))
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
        // The XPUB/XSUB options (libzmq reads none of them but TOPICS_COUNT).
        opt::XPUB_VERBOSE => socket.xpub_verbose().into(),
        opt::XPUB_VERBOSER => socket.xpub_verboser().into(),
        opt::XPUB_MANUAL => socket.xpub_manual().into(),
        opt::XPUB_MANUAL_LAST_VALUE => socket.xpub_manual_last_value().into(),
        opt::XPUB_NODROP => socket.xpub_nodrop().into(),
        opt::XPUB_WELCOME_MSG => OptValue::Bytes(socket.xpub_welcome_msg()),
        opt::INVERT_MATCHING => socket.invert_matching().into(),
        opt::XSUB_VERBOSE_UNSUBSCRIBE => socket.xsub_verbose_unsubscribe().into(),
        opt::ONLY_FIRST_SUBSCRIBE => socket.only_first_subscribe().into(),
        opt::TOPICS_COUNT => OptValue::Int(socket.topics_count()? as i64),
        opt::REQ_CORRELATE => socket.req_correlate().into(),
        opt::REQ_RELAXED => socket.req_relaxed().into(),
        opt::CONFLATE => socket.conflate().into(),
        opt::ROUTER_HANDOVER => socket.router_handover().into(),
        opt::STREAM_NOTIFY => socket.stream_notify().into(),
        opt::HANDSHAKE_IVL => {
            let h = socket.handshake_ivl();
            OptValue::Int(if h >= FOREVER { 0 } else { ms(h) })
        }
        opt::HEARTBEAT_IVL => OptValue::Int(ms(socket.heartbeat_ivl())),
        opt::HEARTBEAT_TTL => OptValue::Int(ms(socket.heartbeat_ttl())),
        opt::HEARTBEAT_TIMEOUT => OptValue::Int(ms(socket.heartbeat_timeout())),
        opt::EVENTS => OptValue::Int(socket.events()?.bits().into()),
        // Every socket here may be shared between tasks and threads.
        opt::THREAD_SAFE => OptValue::Int(1),
        opt::IPV4ONLY => (!socket.ipv6()).into(),
        opt::BACKLOG => socket.backlog().into(),
        opt::RCVTIMEO => socket.rcvtimeo().into(),
        opt::SNDTIMEO => socket.sndtimeo().into(),
        opt::USE_FD => socket.use_fd().into(),
        opt::ZAP_ENFORCE_DOMAIN => socket.zap_enforce_domain().into(),
        opt::LOOPBACK_FASTPATH => socket.loopback_fastpath().into(),
        opt::IN_BATCH_SIZE => socket.in_batch_size().into(),
        opt::OUT_BATCH_SIZE => socket.out_batch_size().into(),
        opt::BUSY_POLL => socket.busy_poll().into(),
        opt::IPV6 => socket.ipv6().into(),
        opt::TOS => socket.tos().into(),
        opt::MULTICAST_HOPS => socket.multicast_hops().into(),
        opt::MULTICAST_LOOP => socket.multicast_loop().into(),
        opt::PRIORITY => socket.priority().into(),
        opt::BINDTODEVICE => OptValue::from(socket.bindtodevice()),
        opt::TCP_MAXRT => OptValue::Int(ms(socket.tcp_maxrt())),
        opt::CONNECT_TIMEOUT => OptValue::Int(ms(socket.connect_timeout())),
        opt::RECONNECT_STOP => socket.reconnect_stop().into(),
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
        // libzmq reads ROUTER_NOTIFY on every socket type; the options below it only sets.
        opt::ROUTER_NOTIFY => socket.router_notify().into(),
        opt::SUBSCRIBE
        | opt::UNSUBSCRIBE
        | opt::PROBE_ROUTER
        | opt::CONNECT_ROUTING_ID
        | opt::METADATA
        | opt::HELLO_MSG
        | opt::DISCONNECT_MSG
        | opt::HICCUP_MSG => {
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
            let manual = matches!(
                socket.socket_type(),
                crate::SocketType::Pub | crate::SocketType::XPub
            ) && socket.xpub_manual();
            if socket.socket_type() != crate::SocketType::Sub && !manual {
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
        // The XPUB/XSUB options.
        opt::XPUB_VERBOSE => socket.set_xpub_verbose(xpub_flag(option, value)?),
        opt::XPUB_VERBOSER => socket.set_xpub_verboser(xpub_flag(option, value)?),
        opt::XPUB_MANUAL => socket.set_xpub_manual(xpub_flag(option, value)?),
        opt::XPUB_MANUAL_LAST_VALUE => socket.set_xpub_manual_last_value(xpub_flag(option, value)?),
        opt::XPUB_NODROP => socket.set_xpub_nodrop(xpub_flag(option, value)?),
        opt::XPUB_WELCOME_MSG => socket.set_xpub_welcome_msg(bytes_of(option, value)?),
        opt::INVERT_MATCHING => socket.set_invert_matching(int(option, value)? != 0),
        opt::XSUB_VERBOSE_UNSUBSCRIBE => {
            socket.set_xsub_verbose_unsubscribe(int(option, value)? != 0)
        }
        opt::ONLY_FIRST_SUBSCRIBE => socket.set_only_first_subscribe(xpub_flag(option, value)?),
        opt::REQ_CORRELATE => socket.set_req_correlate(flag(option, value)?),
        opt::REQ_RELAXED => socket.set_req_relaxed(flag(option, value)?),
        opt::CONFLATE => socket.set_conflate(flag(option, value)?),
        opt::ROUTER_HANDOVER => socket.set_router_handover(flag(option, value)?),
        opt::STREAM_NOTIFY => socket.set_stream_notify(flag(option, value)?),
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
        opt::BACKLOG => socket.set_backlog(non_negative_i32(option, value)?),
        opt::RCVTIMEO => socket.set_rcvtimeo(timeout_ms(option, value)?),
        opt::SNDTIMEO => socket.set_sndtimeo(timeout_ms(option, value)?),
        opt::USE_FD => {
            let fd = int(option, value)?;
            match i32::try_from(fd) {
                Ok(fd) if fd >= -1 => socket.set_use_fd(fd),
                _ => Err(inval(option, format!("{fd} is no descriptor"))),
            }
        }
        // libzmq reads these two as relaxed flags: any non-zero integer is on.
        opt::ZAP_ENFORCE_DOMAIN => socket.set_zap_enforce_domain(int(option, value)? != 0),
        opt::LOOPBACK_FASTPATH => socket.set_loopback_fastpath(int(option, value)? != 0),
        opt::IN_BATCH_SIZE => socket.set_in_batch_size(non_negative_i32(option, value)?),
        opt::OUT_BATCH_SIZE => socket.set_out_batch_size(non_negative_i32(option, value)?),
        // libzmq takes any integer and applies only a positive one.
        opt::BUSY_POLL => socket.set_busy_poll(
            i32::try_from(int(option, value)?).map_err(|_| inval(option, "is out of range"))?,
        ),
        opt::IPV6 => socket.set_ipv6(flag(option, value)?),
        opt::IPV4ONLY => socket.set_ipv6(!flag(option, value)?),
        opt::TOS => socket.set_tos(non_negative_i32(option, value)?),
        opt::MULTICAST_HOPS => {
            let v = int(option, value)?;
            match i32::try_from(v) {
                Ok(v) if v > 0 => socket.set_multicast_hops(v),
                _ => Err(inval(option, format!("{v} is not above 0"))),
            }
        }
        // libzmq: any integer, non-zero is on.
        opt::MULTICAST_LOOP => socket.set_multicast_loop(int(option, value)? != 0),
        opt::PRIORITY => socket.set_priority(non_negative_i32(option, value)?),
        opt::BINDTODEVICE => {
            let dev = std::str::from_utf8(&bytes_of(option, value)?)
                .map_err(|_| inval(option, "takes UTF-8 text"))?
                .to_owned();
            // IFNAMSIZ: a device name is at most 15 bytes.
            if dev.len() > 15 {
                return Err(inval(option, "a device name is at most 15 bytes"));
            }
            socket.set_bindtodevice(dev)
        }
        opt::TCP_MAXRT => socket.set_tcp_maxrt(millis(option, value)?),
        opt::CONNECT_TIMEOUT => socket.set_connect_timeout(millis(option, value)?),
        opt::RECONNECT_STOP => {
            let mask = non_negative_i32(option, value)?;
            if mask & !0x7 != 0 {
                return Err(inval(option, format!("{mask:#x} has unknown bits")));
            }
            socket.set_reconnect_stop(mask)
        }
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
        opt::ROUTER_NOTIFY => socket.set_router_notify(at_least_minus_one(option, value)?),
        opt::PROBE_ROUTER => socket.set_probe_router(non_negative(option, value)? != 0),
        opt::CONNECT_ROUTING_ID => socket.set_connect_routing_id(bytes_of(option, value)?),
        opt::METADATA => socket.set_metadata(bytes_of(option, value)?),
        opt::HELLO_MSG => socket.set_hello_msg(bytes_of(option, value)?),
        opt::DISCONNECT_MSG => socket.set_disconnect_msg(bytes_of(option, value)?),
        opt::HICCUP_MSG => socket.set_hiccup_msg(bytes_of(option, value)?),
        opt::TYPE
        | opt::RCVMORE
        | opt::LAST_ENDPOINT
        | opt::MECHANISM
        | opt::EVENTS
        | opt::THREAD_SAFE
        | opt::TOPICS_COUNT => Err(inval(option, "is read-only")),
        _ => Err(unsupported(option)),
    }
}

#[cfg(test)]
mod tests {
    use super::opt::{self, Kind};

    #[test]
    fn names_resolve_as_libzmq_spells_them() {
        assert_eq!(opt::by_name("linger"), Some(opt::LINGER));
        assert_eq!(opt::by_name("ZMQ_SNDHWM"), Some(23));
        assert_eq!(opt::by_name("zmq_curve_serverkey"), Some(50));
        assert_eq!(opt::by_name("17"), Some(17));
        assert_eq!(
            opt::by_name("hwm"),
            None,
            "pyzmq's HWM is not a libzmq option"
        );
        assert_eq!(opt::name_of(5), Some("ROUTING_ID"));
        assert_eq!(opt::name_of(67), None);
        assert_eq!(opt::kind_of(opt::HELLO_MSG), Some(Kind::Bytes));
        assert_eq!(opt::kind_of(opt::TOPICS_COUNT), Some(Kind::Int));
    }

    #[test]
    fn the_table_is_in_number_order_with_unique_names() {
        let mut names = std::collections::HashSet::new();
        for pair in opt::ALL.windows(2) {
            assert!(pair[0].1 <= pair[1].1, "{pair:?}");
        }
        for (name, _, _) in opt::ALL {
            assert!(names.insert(name), "{name} twice");
        }
        // libzmq 4.3.5 (as pyzmq 27 lists it) has 113 option names, plus IDENTITY, the old
        // name of ROUTING_ID.
        assert_eq!(opt::ALL.len(), 114);
        assert_eq!(opt::ALL.last().map(|o| o.0), Some("NORM_PUSH"));
    }
}
