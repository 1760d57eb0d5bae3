//! TCP: listeners and outgoing connections.

use crate::{Error, Result};
use tokio::net::{TcpListener, TcpStream};

/// Binds `host:port` (`*` = all interfaces, `None` port = ephemeral). Returns the listener
/// and the resolved endpoint string (`tcp://127.0.0.1:40123`).
pub(crate) async fn bind(host: &str, port: Option<u16>) -> Result<(TcpListener, String)> {
    let port = port.unwrap_or(0);
    let listener = if host == "*" {
        // libzmq's `*` binds all IPv4 interfaces (IPv6 only with ZMQ_IPV6).
        TcpListener::bind(("0.0.0.0", port)).await
    } else {
        TcpListener::bind((host, port)).await
    }
    .map_err(|e| {
        let mut err = Error::from(e);
        err = Error::new(
            err.kind(),
            format!("bind tcp://{host}:{port}: {}", err.message()),
        );
        err
    })?;
    let local = listener.local_addr()?;
    let ep = match local {
        std::net::SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!("tcp://[{}]:{}", a.ip(), a.port()),
    };
    Ok((listener, ep))
}

/// TCP keepalive and kernel buffer options of new connections, with libzmq's meaning
/// (-1: leave the system default).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keepalive {
    pub mode: i32,
    pub idle: i32,
    pub count: i32,
    pub interval: i32,
    /// SO_SNDBUF (ZMQ_SNDBUF), TCP and IPC.
    pub sndbuf: i32,
    /// SO_RCVBUF (ZMQ_RCVBUF), TCP and IPC.
    pub rcvbuf: i32,
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
pub(crate) const IPC_SNDBUF: usize = 1 << 20;

impl Keepalive {
    /// Applies SNDBUF and RCVBUF (those not -1) to a new TCP connection, as libzmq does.
    pub(crate) fn apply_buffers(&self, sock: &socket2::SockRef<'_>) -> std::io::Result<()> {
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
    pub(crate) fn apply_ipc_buffers(&self, sock: socket2::SockRef<'_>) -> std::io::Result<()> {
        self.apply_buffers(&sock)?;
        if self.sndbuf < 0 && sock.send_buffer_size().is_ok_and(|n| n < 2 * IPC_SNDBUF) {
            // Refused or capped by the system: the default buffer still works.
            let _ = sock.set_send_buffer_size(IPC_SNDBUF);
        }
        Ok(())
    }
}

/// Sets TCP_NODELAY and the keepalive options on a new connection.
pub(crate) fn tune(s: &TcpStream, ka: &Keepalive) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let sock = socket2::SockRef::from(s);
    ka.apply_buffers(&sock)?;
    match ka.mode {
        0 => sock.set_keepalive(false)?,
        1 => {
            let mut k = socket2::TcpKeepalive::new();
            if ka.idle > 0 {
                k = k.with_time(std::time::Duration::from_secs(ka.idle as u64));
            }
            if ka.interval > 0 {
                k = k.with_interval(std::time::Duration::from_secs(ka.interval as u64));
            }
            if ka.count > 0 {
                k = k.with_retries(ka.count as u32);
            }
            sock.set_tcp_keepalive(&k)?;
        }
        _ => {}
    }
    Ok(())
}

/// Connects to `host:port` with TCP_NODELAY and the keepalive options.
pub(crate) async fn connect(host: &str, port: u16, ka: &Keepalive) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect((host, port)).await?;
    tune(&s, ka)?;
    Ok(s)
}
