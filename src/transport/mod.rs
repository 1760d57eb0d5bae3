//! Transports: endpoint parsing and the byte streams the engine runs over. Byte streams
//! only: no ZMTP, no sockets, no tasks.
//!
//! # Organization
//! - [`Endpoint`]: a parsed `tcp://`, `ipc://`, `inproc://` or `udp://` address.
//! - `Listener`, `dial`: bind and accept, connect (with keepalive and buffer options).
//! - `ConnReader`, `ConnHandle`, `ConnWriter`: a connection's read half, its shared handle
//!   (writes, shutdown, the non-blocking reads of the REQ/REP direct path), and the handle
//!   as an `AsyncWrite`.
//! - `tcp`: TCP listeners and connectors (TCP_NODELAY on every connection).
//! - `ipc`: Unix-domain sockets (`ipc:///path`, and Linux abstract names `ipc://@name`).
//! - `pipe`: `ipc://` on Windows, over named pipes (see that module for why).
//! - `udp`: RADIO/DISH datagrams (`udp://host:port`, multicast groups), and their format.
//! - `iface`: network interface names in place of an address (`tcp://eth0:*`), as libzmq.
//! - `activation`: listeners handed by socket activation (ZMQ_USE_FD by number; Unix).
//!
//! `inproc://` has no byte stream: its pipes carry messages, pumped by the engine's
//! `inproc` module, whose registry maps names to bound sockets.

#[cfg(unix)]
pub(crate) mod activation;
pub(crate) mod iface;
#[cfg(unix)]
pub(crate) mod ipc;
#[cfg(windows)]
pub(crate) mod pipe;
pub(crate) mod tcp;
pub(crate) mod udp;

pub use udp::parse_dgram_address;

use crate::{Error, ErrorKind, Result};
use std::fmt;

/// A parsed endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `tcp://host:port`; `host` may be `*` (all interfaces) and `port` `None` for `*`
    /// (an ephemeral port chosen at bind). IPv6 hosts are written in brackets. A bind
    /// (and a connection's source) also takes a network interface's name for the host, as
    /// libzmq (`tcp://eth0:*`: that interface's address).
    Tcp {
        /// Host name, address or (bind, source) interface name, without brackets.
        host: String,
        /// Port, or `None` for the wildcard `*`.
        port: Option<u16>,
        /// The local address and port a connection is made from, as libzmq's
        /// `tcp://source;destination` form gives it (`None` port: any; connect only).
        source: Option<(String, Option<u16>)>,
    },
    /// `ipc://path`; a path starting with `@` is a Linux abstract socket name.
    Ipc(String),
    /// `inproc://name`.
    Inproc(String),
    /// `udp://host:port`, `udp://iface;group:port` (RADIO and DISH only).
    Udp(udp::UdpEndpoint),
}

impl Endpoint {
    /// Parses `transport://address`.
    ///
    /// ```
    /// use aiozmq::Endpoint;
    /// let ep: Endpoint = "tcp://127.0.0.1:*".parse().unwrap();
    /// assert_eq!(ep, Endpoint::Tcp { host: "127.0.0.1".into(), port: None, source: None });
    /// let ep: Endpoint = "tcp://127.0.0.1:*;localhost:5555".parse().unwrap();
    /// assert_eq!(ep.to_string(), "tcp://127.0.0.1:*;localhost:5555");
    /// let ep: Endpoint = "udp://*;239.1.1.1:5555".parse().unwrap();
    /// assert_eq!(ep.to_string(), "udp://*;239.1.1.1:5555");
    /// assert!("pgm://x:1".parse::<Endpoint>().is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Endpoint> {
        let (scheme, addr) = s.split_once("://").ok_or_else(|| {
            Error::inval(format!(
                "malformed endpoint {s:?}: expected transport://address"
            ))
        })?;
        match scheme {
            "tcp" => {
                let (source, addr) = match addr.split_once(';') {
                    Some((src, dst)) => {
                        let (host, port) = Self::tcp_host_port(s, src)?;
                        (Some((host, port)), dst)
                    }
                    None => (None, addr),
                };
                let (host, port) = Self::tcp_host_port(s, addr)?;
                Ok(Endpoint::Tcp { host, port, source })
            }
            "ipc" => {
                if addr.is_empty() {
                    return Err(Error::inval(format!(
                        "malformed endpoint {s:?}: empty path"
                    )));
                }
                Ok(Endpoint::Ipc(addr.to_string()))
            }
            "inproc" => {
                if addr.is_empty() {
                    return Err(Error::inval(format!(
                        "malformed endpoint {s:?}: empty name"
                    )));
                }
                Ok(Endpoint::Inproc(addr.to_string()))
            }
            "udp" => udp::UdpEndpoint::parse(s, addr)
                .map(Endpoint::Udp)
                .map_err(Error::inval),
            other => Err(Error::new(
                ErrorKind::ProtocolNotSupported,
                format!("unknown transport {other:?} in endpoint {s:?}"),
            )),
        }
    }

    /// `host:port` of a TCP endpoint (`s` is the whole endpoint, for messages).
    fn tcp_host_port(s: &str, addr: &str) -> Result<(String, Option<u16>)> {
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
            Error::inval(format!("malformed endpoint {s:?}: tcp needs host:port"))
        })?;
        let host = if let Some(h) = host.strip_prefix('[') {
            h.strip_suffix(']')
                .ok_or_else(|| Error::inval(format!("malformed endpoint {s:?}: unclosed '['")))?
        } else {
            host
        };
        if host.is_empty() {
            return Err(Error::inval(format!(
                "malformed endpoint {s:?}: empty host"
            )));
        }
        // Brackets only enclose an IPv6 host; inside a host they are no address. A
        // second `;` would make the printed form parse differently.
        if host.contains(['[', ']', ';']) {
            return Err(Error::inval(format!(
                "malformed endpoint {s:?}: stray bracket or ';' in the host"
            )));
        }
        // `*` and port 0 (however written: `0`, `000`) both ask for an ephemeral port.
        let port = if port == "*" {
            None
        } else {
            let n = port.parse::<u16>().map_err(|_| {
                Error::inval(format!("malformed endpoint {s:?}: bad port {port:?}"))
            })?;
            (n != 0).then_some(n)
        };
        Ok((host.to_string(), port))
    }
}

impl std::str::FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp { host, port, source } => {
                fn host_port(host: &str, port: &Option<u16>) -> String {
                    let h = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host.to_string()
                    };
                    match port {
                        Some(p) => format!("{h}:{p}"),
                        None => format!("{h}:*"),
                    }
                }
                match source {
                    Some((sh, sp)) => {
                        write!(f, "tcp://{};{}", host_port(sh, sp), host_port(host, port))
                    }
                    None => write!(f, "tcp://{}", host_port(host, port)),
                }
            }
            Endpoint::Ipc(p) => write!(f, "ipc://{p}"),
            Endpoint::Inproc(n) => write!(f, "inproc://{n}"),
            Endpoint::Udp(u) => write!(f, "udp://{}", u.address()),
        }
    }
}

/// Fuzz entry point (see `crate::fuzzing`): any text either fails to parse with an error or
/// parses to an endpoint whose printed form parses back to the same endpoint.
pub(crate) fn fuzz_endpoint(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(ep) = Endpoint::parse(&text) {
        let printed = ep.to_string();
        match Endpoint::parse(&printed) {
            Ok(again) => assert_eq!(again, ep, "{text:?} printed as {printed:?}"),
            Err(e) => panic!("{text:?} parsed, but its printed form {printed:?} does not: {e}"),
        }
    }
}

/// The raw file descriptor, for monitor event values.
#[cfg(unix)]
pub(crate) fn raw_fd(x: &impl std::os::fd::AsRawFd) -> u32 {
    x.as_raw_fd() as u32
}

/// The raw socket handle (truncated to 32 bits), for monitor event values.
#[cfg(windows)]
pub(crate) fn raw_fd(x: &impl std::os::windows::io::AsRawSocket) -> u32 {
    x.as_raw_socket() as u32
}

/// A new connection: its halves, its fd, and the peer's address (IP for TCP).
pub(crate) type Accepted = (ConnReader, ConnHandle, u32, String);

/// A bound listener of any stream transport.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(tokio::net::TcpListener),
    #[cfg(unix)]
    Ipc(tokio::net::UnixListener),
    #[cfg(windows)]
    Pipe(pipe::PipeListener),
}

impl Listener {
    /// The listening socket's fd.
    pub(crate) fn raw_fd(&self) -> u32 {
        match self {
            Listener::Tcp(l) => raw_fd(l),
            #[cfg(unix)]
            Listener::Ipc(l) => raw_fd(l),
            #[cfg(windows)]
            Listener::Pipe(l) => l.raw_fd(),
        }
    }

    /// Accepts one connection (TCP_NODELAY set), split into halves, with its fd.
    pub(crate) async fn accept(&self, ka: &tcp::ConnOptions) -> std::io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                ka.tune(&s)?;
                let fd = raw_fd(&s);
                let (r, w) = s.into_split();
                Ok((
                    ConnReader::Tcp(r),
                    ConnHandle::Tcp(w),
                    fd,
                    addr.ip().to_string(),
                ))
            }
            #[cfg(unix)]
            Listener::Ipc(l) => {
                let (s, _) = l.accept().await?;
                ka.apply_ipc_buffers(socket2::SockRef::from(&s))?;
                let fd = raw_fd(&s);
                let (r, w) = s.into_split();
                Ok((ConnReader::Ipc(r), ConnHandle::Ipc(w), fd, String::new()))
            }
            #[cfg(windows)]
            Listener::Pipe(l) => {
                let end = l.accept().await?;
                let fd = end.raw_fd();
                let (r, w) = pipe::split(end);
                Ok((ConnReader::Pipe(r), ConnHandle::Pipe(w), fd, String::new()))
            }
        }
    }
}

/// Connects to a stream endpoint.
pub(crate) async fn dial(ep: &Endpoint, ka: &tcp::ConnOptions) -> std::io::Result<Accepted> {
    match ep {
        Endpoint::Tcp {
            host,
            port: Some(port),
            source,
        } => {
            let source = source.as_ref().map(|(h, p)| (h.as_str(), *p));
            let s = tcp::connect(host, *port, source, ka).await?;
            let fd = raw_fd(&s);
            let peer = s
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            let (r, w) = s.into_split();
            Ok((ConnReader::Tcp(r), ConnHandle::Tcp(w), fd, peer))
        }
        #[cfg(unix)]
        Endpoint::Ipc(path) => {
            let s = ipc::connect(path).await?;
            ka.apply_ipc_buffers(socket2::SockRef::from(&s))?;
            let fd = raw_fd(&s);
            let (r, w) = s.into_split();
            Ok((ConnReader::Ipc(r), ConnHandle::Ipc(w), fd, String::new()))
        }
        #[cfg(windows)]
        Endpoint::Ipc(path) => {
            let end = pipe::connect(path).await?;
            let fd = end.raw_fd();
            let (r, w) = pipe::split(end);
            Ok((ConnReader::Pipe(r), ConnHandle::Pipe(w), fd, String::new()))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "transport not dialable",
        )),
    }
}

/// The read half of a connection, owned by its engine (static dispatch per transport).
#[derive(Debug)]
pub(crate) enum ConnReader {
    Tcp(tokio::net::tcp::OwnedReadHalf),
    #[cfg(unix)]
    Ipc(tokio::net::unix::OwnedReadHalf),
    #[cfg(windows)]
    Pipe(std::sync::Arc<pipe::PipeEnd>),
}

/// The shared handle of a connection: it writes (the engine, and a REQ/REP `send` while
/// the engine lends it), shuts down the write direction, and tries non-blocking reads for
/// a REQ/REP `recv` that borrowed the read side (tokio's halves share one socket, so either
/// can read when the other is idle).
#[derive(Debug)]
pub(crate) enum ConnHandle {
    Tcp(tokio::net::tcp::OwnedWriteHalf),
    #[cfg(unix)]
    Ipc(tokio::net::unix::OwnedWriteHalf),
    #[cfg(windows)]
    Pipe(std::sync::Arc<pipe::PipeEnd>),
}

impl tokio::io::AsyncRead for ConnReader {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ConnReader::Tcp(r) => std::pin::Pin::new(r).poll_read(cx, buf),
            #[cfg(unix)]
            ConnReader::Ipc(r) => std::pin::Pin::new(r).poll_read(cx, buf),
            #[cfg(windows)]
            ConnReader::Pipe(p) => p.poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for ConnHandle {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ConnHandle::Tcp(w) => std::pin::Pin::new(w).poll_write(cx, buf),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => std::pin::Pin::new(w).poll_write(cx, buf),
            #[cfg(windows)]
            ConnHandle::Pipe(p) => loop {
                std::task::ready!(p.poll_write_ready(cx))?;
                match p.try_write(buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    r => return std::task::Poll::Ready(r),
                }
            },
        }
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ConnHandle::Tcp(w) => std::pin::Pin::new(w).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => std::pin::Pin::new(w).poll_write_vectored(cx, bufs),
            #[cfg(windows)]
            ConnHandle::Pipe(p) => loop {
                std::task::ready!(p.poll_write_ready(cx))?;
                match p.try_write_vectored(bufs) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    r => return std::task::Poll::Ready(r),
                }
            },
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ConnHandle::Tcp(w) => std::pin::Pin::new(w).poll_flush(cx),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => std::pin::Pin::new(w).poll_flush(cx),
            // Written bytes are handed to the pipe at once: nothing to flush here.
            #[cfg(windows)]
            ConnHandle::Pipe(_) => std::task::Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            ConnHandle::Tcp(w) => std::pin::Pin::new(w).poll_shutdown(cx),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => std::pin::Pin::new(w).poll_shutdown(cx),
            // A pipe has no half-close; see `shutdown_write`.
            #[cfg(windows)]
            ConnHandle::Pipe(_) => std::task::Poll::Ready(Ok(())),
        }
    }
}

impl ConnHandle {
    /// Shuts down the write direction: the peer reads to the end of what was written,
    /// then sees EOF, while the descriptor stays open for reading.
    ///
    /// A Windows named pipe has no half-close: this fails with `Unsupported`, so the
    /// caller closes the connection instead. Nothing is lost by that: bytes written stay
    /// in the pipe for the peer to read before it sees the end (closing the handle, unlike
    /// `DisconnectNamedPipe`, does not discard them, and writes still in flight complete).
    pub(crate) fn shutdown_write(&self) -> std::io::Result<()> {
        let sock = match self {
            ConnHandle::Tcp(w) => socket2::SockRef::from(w.as_ref()),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => socket2::SockRef::from(w.as_ref()),
            #[cfg(windows)]
            ConnHandle::Pipe(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "a named pipe has no half-close",
                ))
            }
        };
        sock.shutdown(std::net::Shutdown::Write)
    }

    /// Writes what the socket takes now, without waiting (`WouldBlock` when nothing).
    pub(crate) fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ConnHandle::Tcp(w) => w.try_write(buf),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => w.try_write(buf),
            #[cfg(windows)]
            ConnHandle::Pipe(p) => p.try_write(buf),
        }
    }

    fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        match self {
            ConnHandle::Tcp(w) => w.try_write_vectored(bufs),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => w.try_write_vectored(bufs),
            #[cfg(windows)]
            ConnHandle::Pipe(p) => p.try_write_vectored(bufs),
        }
    }

    /// Reads what the socket holds into `buf` without waiting (`WouldBlock` when
    /// nothing). A read that leaves room in `buf` drained the socket, so its readiness is
    /// cleared (as tokio's own reads do): the next wait registers at once instead of
    /// trying another read first.
    pub(crate) fn try_read_drained(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        fn read_once(
            sock: socket2::SockRef<'_>,
            buf: &mut [u8],
            got: &mut Option<usize>,
        ) -> std::io::Result<usize> {
            use std::io::Read;
            let n = (&*sock).read(buf)?;
            if n > 0 && n < buf.len() {
                *got = Some(n);
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        }
        let mut got = None;
        let interest = tokio::io::Interest::READABLE;
        let r = match self {
            ConnHandle::Tcp(w) => {
                let s = w.as_ref();
                s.try_io(interest, || {
                    read_once(socket2::SockRef::from(s), buf, &mut got)
                })
            }
            #[cfg(unix)]
            ConnHandle::Ipc(w) => {
                let s = w.as_ref();
                s.try_io(interest, || {
                    read_once(socket2::SockRef::from(s), buf, &mut got)
                })
            }
            #[cfg(windows)]
            ConnHandle::Pipe(p) => p.try_io_read(|| {
                let n = p.try_read(buf)?;
                if n > 0 && n < buf.len() {
                    got = Some(n);
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }),
        };
        match got {
            Some(n) => Ok(n),
            None => r,
        }
    }

    /// Registers `cx` for the socket's read readiness (tokio keeps the last waker given).
    pub(crate) fn poll_read_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self {
            ConnHandle::Tcp(w) => w.as_ref().poll_read_ready(cx),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => w.as_ref().poll_read_ready(cx),
            #[cfg(windows)]
            ConnHandle::Pipe(p) => p.poll_read_ready(cx),
        }
    }

    fn poll_write_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self {
            ConnHandle::Tcp(w) => w.as_ref().poll_write_ready(cx),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => w.as_ref().poll_write_ready(cx),
            #[cfg(windows)]
            ConnHandle::Pipe(p) => p.poll_write_ready(cx),
        }
    }
}

/// A connection's write half, shared: its engine writes through `AsyncWrite`, and a REQ or
/// REP socket may write a message directly with [`ConnHandle::try_write`] while the engine
/// has nothing to write (see `State::offer_direct`). Every write goes through `&self`
/// (readiness plus a non-blocking write), so neither side needs the other's `&mut`. The
/// write direction is shut down when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct ConnWriter(pub std::sync::Arc<ConnHandle>);

impl tokio::io::AsyncWrite for ConnWriter {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        loop {
            std::task::ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => return std::task::Poll::Ready(r),
            }
        }
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        loop {
            std::task::ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => return std::task::Poll::Ready(r),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // Writes go straight to the socket: nothing is buffered here.
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // The write direction is shut down when the last handle drops.
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn with_buffers(sndbuf: i32, rcvbuf: i32) -> tcp::ConnOptions {
        tcp::ConnOptions {
            keepalive: -1,
            keepalive_idle: -1,
            keepalive_count: -1,
            keepalive_interval: -1,
            sndbuf,
            rcvbuf,
            ..Default::default()
        }
    }

    /// SO_SNDBUF and SO_RCVBUF of the connection behind a write half.
    fn buffers(w: &ConnHandle) -> (usize, usize) {
        let sock = match w {
            ConnHandle::Tcp(w) => socket2::SockRef::from(w.as_ref()),
            #[cfg(unix)]
            ConnHandle::Ipc(w) => socket2::SockRef::from(w.as_ref()),
        };
        (
            sock.send_buffer_size().unwrap(),
            sock.recv_buffer_size().unwrap(),
        )
    }

    #[tokio::test]
    async fn sndbuf_and_rcvbuf_apply_to_both_sides_of_tcp_and_ipc() {
        let dir = std::env::temp_dir().join(format!("aiozmq-buf-{}.ipc", std::process::id()));
        let path = dir.to_str().unwrap().to_string();
        let _ = std::fs::remove_file(&path);
        for ep in ["tcp://127.0.0.1:0".to_string(), format!("ipc://{path}")] {
            let ep = Endpoint::parse(&ep).unwrap();
            let (listener, bound) = match &ep {
                Endpoint::Tcp { host, .. } => {
                    let l = tokio::net::TcpListener::bind((host.as_str(), 0))
                        .await
                        .unwrap();
                    let port = l.local_addr().unwrap().port();
                    (
                        Listener::Tcp(l),
                        Endpoint::Tcp {
                            host: host.clone(),
                            port: Some(port),
                            source: None,
                        },
                    )
                }
                Endpoint::Ipc(p) => (
                    Listener::Ipc(tokio::net::UnixListener::bind(p).unwrap()),
                    ep.clone(),
                ),
                _ => unreachable!(),
            };
            let defaults = {
                let ka = with_buffers(-1, -1);
                let (accepted, dialed) = tokio::join!(listener.accept(&ka), dial(&bound, &ka));
                (buffers(&accepted.unwrap().1), buffers(&dialed.unwrap().1))
            };
            // Linux doubles the value asked for; the defaults are well above 16 KiB.
            let ka = with_buffers(8 * 1024, 12 * 1024);
            let (accepted, dialed) = tokio::join!(listener.accept(&ka), dial(&bound, &ka));
            for w in [accepted.unwrap().1, dialed.unwrap().1] {
                assert_eq!(buffers(&w), (16 * 1024, 24 * 1024), "{bound}");
            }
            assert_ne!(
                defaults.0,
                (16 * 1024, 24 * 1024),
                "{bound}: -1 left the default"
            );
            assert_ne!(
                defaults.1,
                (16 * 1024, 24 * 1024),
                "{bound}: -1 left the default"
            );
            if matches!(bound, Endpoint::Ipc(_)) {
                // An IPC connection left at -1 gets IPC_SNDBUF, as far as the system lets
                // it (a socket pair asking the same shows how far), and never less than
                // the system default.
                let (probe, _) = std::os::unix::net::UnixStream::pair().unwrap();
                let probe = socket2::SockRef::from(&probe);
                let system = probe.send_buffer_size().unwrap();
                probe.set_send_buffer_size(tcp::IPC_SNDBUF).unwrap();
                let want = system.max(probe.send_buffer_size().unwrap());
                assert_eq!(defaults.0 .0, want, "accepted side's send buffer");
                assert_eq!(defaults.1 .0, want, "dialed side's send buffer");
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    /// TOS, SO_PRIORITY, TCP_USER_TIMEOUT and SO_BUSY_POLL reach both ends' sockets
    /// (libzmq sets the first two on the listener, which accepted connections inherit,
    /// and all on each connection).
    #[tokio::test]
    async fn tos_priority_and_maxrt_reach_the_sockets() {
        let opts = tcp::ConnOptions {
            keepalive: -1,
            sndbuf: -1,
            rcvbuf: -1,
            backlog: 100,
            tos: 0x28,
            priority: 3,
            max_retransmit: std::time::Duration::from_millis(1500),
            busy_poll: 50,
            ..Default::default()
        };
        let (l, ep) = tcp::bind("127.0.0.1", None, &opts).await.unwrap();
        let listener = Listener::Tcp(l);
        let dest = Endpoint::parse(&ep).unwrap();
        let (accepted, dialed) = tokio::join!(listener.accept(&opts), dial(&dest, &opts));
        for w in [accepted.unwrap().1, dialed.unwrap().1] {
            let ConnHandle::Tcp(w) = w else {
                unreachable!()
            };
            let sock = socket2::SockRef::from(w.as_ref());
            assert_eq!(sock.tos_v4().unwrap(), 0x28);
            #[cfg(target_os = "linux")]
            {
                assert_eq!(sock.priority().unwrap(), 3);
                assert_eq!(
                    sock.tcp_user_timeout().unwrap(),
                    Some(std::time::Duration::from_millis(1500))
                );
                assert_eq!(sock.busy_poll().unwrap(), 50);
            }
        }
    }

    /// The `source;destination` form connects from the given local address and port.
    #[tokio::test]
    async fn a_source_address_is_where_the_connection_comes_from() {
        let opts = tcp::ConnOptions::default();
        let (l, ep) = tcp::bind("127.0.0.1", None, &opts).await.unwrap();
        // A free source port: bound once, released, then asked for (a race with another
        // process taking it is possible but makes the test fail loudly, not pass).
        let src_port = std::net::TcpListener::bind("127.0.0.2:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dest = ep.strip_prefix("tcp://").unwrap();
        let with_source = Endpoint::parse(&format!("tcp://127.0.0.2:{src_port};{dest}")).unwrap();
        let (accepted, dialed) = tokio::join!(l.accept(), dial(&with_source, &opts));
        let (_, from) = accepted.unwrap();
        dialed.unwrap();
        assert_eq!(
            from,
            "127.0.0.2:".to_string().parse().unwrap_or(from),
            "{from}"
        );
        assert_eq!(from.ip().to_string(), "127.0.0.2");
        assert_eq!(from.port(), src_port);
        // Any port from a given address.
        let any_port = Endpoint::parse(&format!("tcp://127.0.0.3:*;{dest}")).unwrap();
        let (accepted, dialed) = tokio::join!(l.accept(), dial(&any_port, &opts));
        dialed.unwrap();
        assert_eq!(accepted.unwrap().1.ip().to_string(), "127.0.0.3");
    }

    /// With ZMQ_IPV6, `*` takes IPv4 and IPv6 connections on one port; without, IPv4 only.
    #[tokio::test]
    async fn ipv6_wildcard_binds_both_stacks() {
        let v6 = tcp::ConnOptions {
            ipv6: true,
            ..Default::default()
        };
        let (l, ep) = tcp::bind("*", None, &v6).await.unwrap();
        assert!(ep.starts_with("tcp://[::]:"), "{ep}");
        let port = l.local_addr().unwrap().port();
        for host in ["127.0.0.1", "[::1]"] {
            let dest = Endpoint::parse(&format!("tcp://{host}:{port}")).unwrap();
            let (accepted, dialed) = tokio::join!(l.accept(), dial(&dest, &v6));
            dialed.unwrap_or_else(|e| panic!("{host}: {e}"));
            accepted.unwrap();
        }
        let (l4, ep4) = tcp::bind("*", None, &tcp::ConnOptions::default())
            .await
            .unwrap();
        assert!(ep4.starts_with("tcp://0.0.0.0:"), "{ep4}");
        let port4 = l4.local_addr().unwrap().port();
        let v6_dest = Endpoint::parse(&format!("tcp://[::1]:{port4}")).unwrap();
        let err = dial(&v6_dest, &v6).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    }

    #[test]
    fn parses() {
        assert_eq!(
            Endpoint::parse("tcp://[::1]:5555").unwrap(),
            Endpoint::Tcp {
                host: "::1".into(),
                port: Some(5555),
                source: None,
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:*;host:5").unwrap(),
            Endpoint::Tcp {
                host: "host".into(),
                port: Some(5),
                source: Some(("::1".into(), None)),
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://10.0.0.1:0;[::1]:5")
                .unwrap()
                .to_string(),
            "tcp://10.0.0.1:*;[::1]:5"
        );
        assert_eq!(
            Endpoint::parse("tcp://*:5555").unwrap().to_string(),
            "tcp://*:5555"
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:*").unwrap().to_string(),
            "tcp://[::1]:*"
        );
        for bad in [
            "tcp://",
            "tcp://host",
            "tcp://:5",
            "tcp://h:99999",
            "tcp://[::1:5",
            "tcp://a;b:5",
            "tcp://a:1;b:5;c:6",
            "tcp://;b:5",
            "nothing",
            "ipc://",
        ] {
            assert_eq!(
                Endpoint::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "{bad}"
            );
        }
        assert_eq!(
            Endpoint::parse("pgm://x").unwrap_err().kind(),
            ErrorKind::ProtocolNotSupported
        );
    }
}
