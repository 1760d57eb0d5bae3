//! The crate's error type, with kinds that mirror the errno values libzmq reports.

use std::fmt;
use std::io;

/// What went wrong, mirroring the errno values libzmq uses for the same situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `EAGAIN`: the operation would block (a full pipe, no message yet, no peer).
    Again,
    /// `EHOSTUNREACH`: a ROUTER with `ROUTER_MANDATORY` was asked to route to an unknown peer.
    HostUnreachable,
    /// `EFSM`: the operation is not allowed in the socket's current state (REQ/REP alternation).
    Fsm,
    /// `EINVAL`: an invalid argument (a malformed endpoint, an option value out of range).
    InvalidInput,
    /// `ENOTSUP`: the socket type does not support the operation.
    NotSupported,
    /// `EPROTONOSUPPORT`: the endpoint names a transport this build does not offer.
    ProtocolNotSupported,
    /// `EADDRINUSE`: the address is already bound.
    AddrInUse,
    /// `EADDRNOTAVAIL`: the address cannot be bound, or was never bound/connected (unbind/disconnect).
    AddrNotAvailable,
    /// `ENOENT`: nothing is bound or connected under that endpoint.
    NotFound,
    /// `ECONNREFUSED`: the peer refused the connection.
    ConnectionRefused,
    /// `EPROTO`: the peer broke the ZMTP protocol.
    Protocol,
    /// `EMSGSIZE`: a message exceeded `MAXMSGSIZE`.
    MessageTooLarge,
    /// `ETERM`/`ENOTSOCK`: the socket is closed.
    Closed,
    /// `ETIMEDOUT`: an operation ran out of time.
    TimedOut,
    /// `EACCES`: authentication failed.
    AccessDenied,
    /// `ENOCOMPATPROTO`: the transport does not go with the socket type (`udp://` takes
    /// only a RADIO's connect and a DISH's bind).
    IncompatibleProtocol,
    /// `EFAULT`: libzmq's answer to PEER's `connect_peer` under IMMEDIATE.
    Fault,
    /// `ENODEV`: a bind names no interface (nor address or host) that exists, as libzmq
    /// answers for `tcp://nosuch0:5555`.
    NoDevice,
    /// Any other I/O error from the operating system.
    Io,
}

impl ErrorKind {
    /// The Linux errno value libzmq would report for this kind (libzmq's own codes for
    /// `EFSM` and `ETERM`).
    pub fn errno(self) -> i32 {
        match self {
            ErrorKind::Again => 11,
            ErrorKind::HostUnreachable => 113,
            ErrorKind::Fsm => 156_384_763,
            ErrorKind::InvalidInput => 22,
            ErrorKind::NotSupported => 95,
            ErrorKind::ProtocolNotSupported => 93,
            ErrorKind::AddrInUse => 98,
            ErrorKind::AddrNotAvailable => 99,
            ErrorKind::NotFound => 2,
            ErrorKind::ConnectionRefused => 111,
            ErrorKind::Protocol => 71,
            ErrorKind::MessageTooLarge => 90,
            ErrorKind::Closed => 156_384_765,
            ErrorKind::TimedOut => 110,
            ErrorKind::AccessDenied => 13,
            ErrorKind::IncompatibleProtocol => 156_384_764,
            ErrorKind::Fault => 14,
            ErrorKind::NoDevice => 19,
            ErrorKind::Io => 5,
        }
    }

    /// The symbolic errno name, e.g. `"EAGAIN"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Again => "EAGAIN",
            ErrorKind::HostUnreachable => "EHOSTUNREACH",
            ErrorKind::Fsm => "EFSM",
            ErrorKind::InvalidInput => "EINVAL",
            ErrorKind::NotSupported => "ENOTSUP",
            ErrorKind::ProtocolNotSupported => "EPROTONOSUPPORT",
            ErrorKind::AddrInUse => "EADDRINUSE",
            ErrorKind::AddrNotAvailable => "EADDRNOTAVAIL",
            ErrorKind::NotFound => "ENOENT",
            ErrorKind::ConnectionRefused => "ECONNREFUSED",
            ErrorKind::Protocol => "EPROTO",
            ErrorKind::MessageTooLarge => "EMSGSIZE",
            ErrorKind::Closed => "ETERM",
            ErrorKind::TimedOut => "ETIMEDOUT",
            ErrorKind::AccessDenied => "EACCES",
            ErrorKind::IncompatibleProtocol => "ENOCOMPATPROTO",
            ErrorKind::Fault => "EFAULT",
            ErrorKind::NoDevice => "ENODEV",
            ErrorKind::Io => "EIO",
        }
    }

    fn io_kind(self) -> io::ErrorKind {
        match self {
            ErrorKind::Again => io::ErrorKind::WouldBlock,
            ErrorKind::HostUnreachable => io::ErrorKind::HostUnreachable,
            ErrorKind::InvalidInput => io::ErrorKind::InvalidInput,
            ErrorKind::NotSupported
            | ErrorKind::ProtocolNotSupported
            | ErrorKind::IncompatibleProtocol => io::ErrorKind::Unsupported,
            ErrorKind::AddrInUse => io::ErrorKind::AddrInUse,
            ErrorKind::AddrNotAvailable => io::ErrorKind::AddrNotAvailable,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            ErrorKind::Protocol => io::ErrorKind::InvalidData,
            ErrorKind::MessageTooLarge => io::ErrorKind::InvalidData,
            ErrorKind::Closed => io::ErrorKind::NotConnected,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::AccessDenied => io::ErrorKind::PermissionDenied,
            ErrorKind::Fsm | ErrorKind::Fault | ErrorKind::NoDevice | ErrorKind::Io => {
                io::ErrorKind::Other
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error from a socket operation: an errno-like [`ErrorKind`] and a message saying what
/// happened. Converts into [`std::io::Error`] with the matching raw OS error where one exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The errno-like kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the errno name.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn again(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::Again, msg)
    }

    pub(crate) fn closed() -> Self {
        Error::new(ErrorKind::Closed, "socket is closed")
    }

    pub(crate) fn inval(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, msg)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        // An error of this crate carried through an io::Error (transport code returns
        // io::Result) comes back as it was, its kind kept.
        if let Some(inner) = e.get_ref().and_then(|r| r.downcast_ref::<Error>()) {
            return inner.clone();
        }
        let kind = match e.kind() {
            io::ErrorKind::WouldBlock => ErrorKind::Again,
            io::ErrorKind::AddrInUse => ErrorKind::AddrInUse,
            io::ErrorKind::AddrNotAvailable => ErrorKind::AddrNotAvailable,
            io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
            io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::AccessDenied,
            io::ErrorKind::TimedOut => ErrorKind::TimedOut,
            _ => ErrorKind::Io,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        io::Error::new(e.kind.io_kind(), e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
