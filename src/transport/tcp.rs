//! TCP: listeners and outgoing connections.

use crate::{Error, Result};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The options of new TCP and IPC connections and listeners, with libzmq's meaning (-1 or
/// zero: leave the system default).
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnOptions {
    /// ZMQ_TCP_KEEPALIVE: -1 system default, 0 off, 1 on.
    pub keepalive: i32,
    /// ZMQ_TCP_KEEPALIVE_IDLE in seconds.
    pub keepalive_idle: i32,
    /// ZMQ_TCP_KEEPALIVE_CNT.
    pub keepalive_count: i32,
    /// ZMQ_TCP_KEEPALIVE_INTVL in seconds.
    pub keepalive_interval: i32,
    /// SO_SNDBUF (ZMQ_SNDBUF), TCP and IPC.
    pub sndbuf: i32,
    /// SO_RCVBUF (ZMQ_RCVBUF), TCP and IPC.
    pub rcvbuf: i32,
    /// ZMQ_BACKLOG: the listen queue of new listeners (TCP and IPC).
    pub backlog: i32,
    /// ZMQ_IPV6: `*` binds both stacks and host names resolve to IPv6 addresses too.
    pub ipv6: bool,
    /// ZMQ_TOS: IP_TOS (IPV6_TCLASS over IPv6); 0 leaves the default.
    pub tos: i32,
    /// ZMQ_PRIORITY: SO_PRIORITY (Linux); 0 leaves the default.
    pub priority: i32,
    /// ZMQ_BINDTODEVICE: SO_BINDTODEVICE (Linux); empty for none.
    pub bind_to_device: String,
    /// ZMQ_TCP_MAXRT: how long unacknowledged data may wait before the connection is
    /// dropped (TCP_USER_TIMEOUT on Linux); zero leaves the default.
    pub max_retransmit: Duration,
    /// ZMQ_CONNECT_TIMEOUT: how long one TCP connect may take; zero leaves it to the
    /// system.
    pub connect_timeout: Duration,
    /// ZMQ_BUSY_POLL: SO_BUSY_POLL in microseconds (Linux); 0 or less leaves the default.
    pub busy_poll: i32,
    /// TCP connections get [`NOTSENT_LOWAT`] (Linux): for the socket types whose `send`
    /// waits while a peer's queue is full, never for those that drop.
    pub notsent_lowat: bool,
}

/// SO_SNDBUF asked for on an IPC connection when ZMQ_SNDBUF is -1 (Linux doubles it, and
/// caps it at twice `net.core.wmem_max`).
///
/// A TCP connection's send buffer grows by itself (the kernel's autotuning, up to
/// `net.ipv4.tcp_wmem`'s maximum, 4 MiB by default). A Unix socket's does not: it stays at
/// `net.core.wmem_default`, which a fast sender of small messages fills in moments.
/// The sender then waits for the reader to wake up, and the reader, having
/// drained it, for the sender: both sleep in turn. A larger buffer keeps both running.
/// It is a bound, not an allocation: memory is taken only by bytes actually in flight.
#[cfg(unix)]
pub(crate) const IPC_SNDBUF: usize = 1 << 20;

/// TCP_NOTSENT_LOWAT (Linux) of the connections of socket types whose `send` waits for
/// room ([`ConnOptions::notsent_lowat`]): the most bytes a write leaves in the kernel
/// unsent; the rest of a batch waits in the engine's write buffer until the peer takes
/// these. Without it a sender's whole backlog (up to the send buffer, 4 MiB) sits in the
/// kernel, and the receiver's reads, opening the window, transmit it: on one host the
/// receiver then spends its own time sending the sender's data. A ROUTER read by a
/// thousand such DEALERs did so for every one of them. 32 KiB still carries many small
/// messages per write. A socket type that drops at HWM (PUB, ROUTER, ...) keeps the
/// kernel's whole buffer in front of its queues, as libzmq's does: what the kernel holds
/// is not dropped.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const NOTSENT_LOWAT: u32 = 32 * 1024;

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_notsent_lowat(sock: &SockRef<'_>) -> std::io::Result<()> {
    sock.set_tcp_notsent_lowat(NOTSENT_LOWAT)
}

/// Other systems have no such option (macOS's TCP_NOTSENT_LOWAT is not in socket2).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_notsent_lowat(_: &SockRef<'_>) -> std::io::Result<()> {
    Ok(())
}

impl ConnOptions {
    /// Applies SNDBUF and RCVBUF (those not -1) to a new TCP connection, as libzmq does.
    pub(crate) fn apply_buffers(&self, sock: &SockRef<'_>) -> std::io::Result<()> {
        if let Ok(n) = usize::try_from(self.sndbuf) {
            sock.set_send_buffer_size(n)?;
        }
        if let Ok(n) = usize::try_from(self.rcvbuf) {
            sock.set_recv_buffer_size(n)?;
        }
        Ok(())
    }

    /// Applies SNDBUF and RCVBUF to a new IPC connection: as [`apply_buffers`]
    /// (Self::apply_buffers), except that a send buffer left at -1 is raised to
    /// [`IPC_SNDBUF`] (best effort, and never lowered), since a Unix socket's does not
    /// grow as TCP's does.
    #[cfg(unix)]
    pub(crate) fn apply_ipc_buffers(&self, sock: SockRef<'_>) -> std::io::Result<()> {
        self.apply_buffers(&sock)?;
        if self.sndbuf < 0 && sock.send_buffer_size().is_ok_and(|n| n < 2 * IPC_SNDBUF) {
            // Refused or capped by the system: the default buffer still works.
            let _ = sock.set_send_buffer_size(IPC_SNDBUF);
        }
        Ok(())
    }

    /// The options a socket takes before it binds or connects: the device, the type of
    /// service and the priority (libzmq sets them on listeners too, so that accepted
    /// connections inherit them).
    fn apply_ip(&self, sock: &SockRef<'_>, v6: bool) -> std::io::Result<()> {
        if !self.bind_to_device.is_empty() {
            bind_device(sock, &self.bind_to_device)?;
        }
        if self.tos > 0 {
            set_tos(sock, self.tos as u32, v6)?;
        }
        if self.priority > 0 {
            set_priority(sock, self.priority as u32)?;
        }
        Ok(())
    }

    /// TCP_NODELAY, keepalive, buffers, the retransmit limit, and (for accepted
    /// connections, which do not inherit SO_PRIORITY) type of service and priority.
    pub(crate) fn tune(&self, s: &TcpStream) -> std::io::Result<()> {
        s.set_nodelay(true)?;
        let sock = SockRef::from(s);
        if self.notsent_lowat {
            set_notsent_lowat(&sock)?;
        }
        self.apply_buffers(&sock)?;
        if self.tos > 0 || self.priority > 0 {
            let v6 = s.local_addr()?.is_ipv6();
            if self.tos > 0 {
                set_tos(&sock, self.tos as u32, v6)?;
            }
            if self.priority > 0 {
                set_priority(&sock, self.priority as u32)?;
            }
        }
        if !self.max_retransmit.is_zero() {
            set_user_timeout(&sock, self.max_retransmit)?;
        }
        if self.busy_poll > 0 {
            set_busy_poll(&sock, self.busy_poll as u32)?;
        }
        match self.keepalive {
            0 => sock.set_keepalive(false)?,
            1 => {
                let mut k = socket2::TcpKeepalive::new();
                if self.keepalive_idle > 0 {
                    k = k.with_time(Duration::from_secs(self.keepalive_idle as u64));
                }
                if self.keepalive_interval > 0 {
                    k = k.with_interval(Duration::from_secs(self.keepalive_interval as u64));
                }
                if self.keepalive_count > 0 {
                    k = k.with_retries(self.keepalive_count as u32);
                }
                sock.set_tcp_keepalive(&k)?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn bind_device(sock: &SockRef<'_>, device: &str) -> std::io::Result<()> {
    sock.bind_device(Some(device.as_bytes()))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn bind_device(_: &SockRef<'_>, _: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "ZMQ_BINDTODEVICE is supported on Linux only",
    ))
}

fn set_tos(sock: &SockRef<'_>, tos: u32, v6: bool) -> std::io::Result<()> {
    if v6 {
        #[cfg(unix)]
        return sock.set_tclass_v6(tos);
    }
    sock.set_tos_v4(tos)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_priority(sock: &SockRef<'_>, priority: u32) -> std::io::Result<()> {
    sock.set_priority(priority)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_priority(_: &SockRef<'_>, _: u32) -> std::io::Result<()> {
    // libzmq ignores ZMQ_PRIORITY where the system has no SO_PRIORITY.
    Ok(())
}

#[cfg(target_os = "linux")]
fn set_busy_poll(sock: &SockRef<'_>, micros: u32) -> std::io::Result<()> {
    sock.set_busy_poll(micros)
}

#[cfg(not(target_os = "linux"))]
fn set_busy_poll(_: &SockRef<'_>, _: u32) -> std::io::Result<()> {
    // libzmq sets SO_BUSY_POLL only where the system has it.
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_user_timeout(sock: &SockRef<'_>, limit: Duration) -> std::io::Result<()> {
    sock.set_tcp_user_timeout(Some(limit))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_user_timeout(_: &SockRef<'_>, _: Duration) -> std::io::Result<()> {
    // libzmq ignores ZMQ_TCP_MAXRT where the system has no such option.
    Ok(())
}

/// The addresses `host:port` stands for: an IP literal as it is, a name resolved, keeping
/// only IPv4 addresses unless `ipv6` (libzmq resolves names so without ZMQ_IPV6).
async fn resolve(host: &str, port: u16, ipv6: bool) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await?
        .filter(|a| ipv6 || a.is_ipv4())
        .collect();
    if addrs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no IPv4 address (set ZMQ_IPV6 for IPv6 ones)"),
        ));
    }
    Ok(addrs)
}

/// The address a bind of `host` takes: an IP literal as it is; else the name of a network
/// interface, its first address of the family in use (IPv6 with ZMQ_IPV6, else IPv4), as
/// libzmq; else a host name, resolved (libzmq binds no host names; this crate did before
/// interface names, and keeps doing so). None of these: `ENODEV`, libzmq's error.
async fn bind_address(host: &str, port: u16, ipv6: bool) -> std::io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    if let Some(ip) = super::iface::address(host, ipv6) {
        return Ok(SocketAddr::new(ip, port));
    }
    match resolve(host, port, ipv6).await {
        Ok(addrs) => Ok(addrs[0]),
        Err(e) => Err(super::iface::no_device(
            host,
            &format!(
                " with an {} address, nor a host ({e})",
                if ipv6 { "IPv6" } else { "IPv4" }
            ),
        )),
    }
}

/// The local addresses a connection from `host` may use: an IP literal, the addresses of
/// the network interface of that name (libzmq takes interface names for the source of
/// `tcp://source;destination`), or a host name resolved.
async fn source_addresses(host: &str, port: u16, ipv6: bool) -> std::io::Result<Vec<SocketAddr>> {
    if host.parse::<IpAddr>().is_err() {
        let nic = super::iface::addresses(host);
        if !nic.is_empty() {
            return Ok(nic
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect());
        }
    }
    resolve(host, port, ipv6).await
}

/// Binds `host:port` (`*` = all interfaces, `None` port = ephemeral). Returns the listener
/// and the resolved endpoint string (`tcp://127.0.0.1:40123`).
pub(crate) async fn bind(
    host: &str,
    port: Option<u16>,
    opts: &ConnOptions,
) -> Result<(TcpListener, String)> {
    let port = port.unwrap_or(0);
    let listen = async {
        let addr = if host == "*" {
            // libzmq's `*` binds all IPv4 interfaces, and with ZMQ_IPV6 both stacks.
            if opts.ipv6 {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
            } else {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
            }
        } else {
            bind_address(host, port, opts.ipv6).await?
        };
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            // Dual stack only for the wildcard: an explicit IPv6 address is that address.
            sock.set_only_v6(!(host == "*" && opts.ipv6))?;
        }
        // As tokio and libzmq do on Unix: a restarted server can bind its port at once.
        #[cfg(unix)]
        sock.set_reuse_address(true)?;
        opts.apply_ip(&SockRef::from(&sock), addr.is_ipv6())?;
        sock.bind(&addr.into())?;
        sock.listen(opts.backlog.max(1))?;
        sock.set_nonblocking(true)?;
        TcpListener::from_std(sock.into())
    };
    let listener = listen.await.map_err(|e| {
        let err = Error::from(e);
        Error::new(
            err.kind(),
            format!("bind tcp://{host}:{port}: {}", err.message()),
        )
    })?;
    let local = listener.local_addr()?;
    let ep = match local {
        SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
    };
    Ok((listener, ep))
}

/// Connects to `host:port` (from `source` when given: a local address and port, `*` host
/// or `None` port for any) with the connection options, trying each address in turn.
pub(crate) async fn connect(
    host: &str,
    port: u16,
    source: Option<(&str, Option<u16>)>,
    opts: &ConnOptions,
) -> std::io::Result<TcpStream> {
    let attempt = async {
        let mut last = None;
        for addr in resolve(host, port, opts.ipv6).await? {
            match connect_one(addr, source, opts).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no address to connect to")))
    };
    let s = if opts.connect_timeout.is_zero() {
        attempt.await?
    } else {
        tokio::time::timeout(opts.connect_timeout, attempt)
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "connect timed out after {} ms (ZMQ_CONNECT_TIMEOUT)",
                        opts.connect_timeout.as_millis()
                    ),
                )
            })??
    };
    opts.tune(&s)?;
    Ok(s)
}

async fn connect_one(
    addr: SocketAddr,
    source: Option<(&str, Option<u16>)>,
    opts: &ConnOptions,
) -> std::io::Result<TcpStream> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    opts.apply_ip(&SockRef::from(&sock), addr.is_ipv6())?;
    if let Some((src_host, src_port)) = source {
        let port = src_port.unwrap_or(0);
        let local = if src_host == "*" {
            if addr.is_ipv4() {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
            } else {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)
            }
        } else {
            *source_addresses(src_host, port, opts.ipv6)
                .await?
                .iter()
                .find(|a| a.is_ipv4() == addr.is_ipv4())
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("source {src_host} has no address of the destination's family"),
                    )
                })?
        };
        if port != 0 {
            // A fixed source port is reused at once by the next reconnect, as in libzmq.
            sock.set_reuseaddr(true)?;
        }
        sock.bind(local)?;
    }
    sock.connect(addr).await
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tcp_connection_asked_for_it_leaves_at_most_notsent_lowat_unsent() {
        let deadline = Duration::from_secs(10);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (ours, theirs) = tokio::time::timeout(deadline, async {
            tokio::join!(TcpStream::connect(addr), listener.accept())
        })
        .await
        .expect("connect within the deadline");
        let (ours, (theirs, _)) = (ours.unwrap(), theirs.unwrap());
        let default = SockRef::from(&ours).tcp_notsent_lowat().unwrap();
        assert_ne!(
            default, NOTSENT_LOWAT,
            "the system default is not ours already"
        );
        ConnOptions::default().tune(&ours).unwrap();
        assert_eq!(
            SockRef::from(&ours).tcp_notsent_lowat().unwrap(),
            default,
            "left as it is when not asked for"
        );
        let opts = ConnOptions {
            notsent_lowat: true,
            ..ConnOptions::default()
        };
        for s in [&ours, &theirs] {
            opts.tune(s).unwrap();
            assert_eq!(SockRef::from(s).tcp_notsent_lowat().unwrap(), NOTSENT_LOWAT);
        }
    }
}
