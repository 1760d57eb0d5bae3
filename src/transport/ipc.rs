//! IPC over Unix-domain sockets: `ipc:///path/file.sock`, and on Linux `ipc://@name` for
//! an abstract socket name.

use crate::{Error, ErrorKind, Result};
use std::path::Path;
use tokio::net::{UnixListener, UnixStream};

#[cfg(target_os = "linux")]
fn abstract_addr(name: &str) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

/// A listening Unix socket bound to `addr` with a listen queue of `backlog` (ZMQ_BACKLOG,
/// as libzmq passes it to `listen`), made through socket2 because std's `bind` always
/// listens with its own queue length.
fn listen(addr: &socket2::SockAddr, backlog: i32) -> std::io::Result<UnixListener> {
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    sock.bind(addr)?;
    sock.listen(backlog.max(1))?;
    sock.set_nonblocking(true)?;
    UnixListener::from_std(std::os::unix::net::UnixListener::from(
        std::os::fd::OwnedFd::from(sock),
    ))
}

/// Binds `path` with a listen queue of `backlog`. A stale socket file (nothing listening)
/// is removed first, as libzmq does; a live one gives `EADDRINUSE`.
pub(crate) async fn bind(path: &str, backlog: i32) -> Result<UnixListener> {
    if let Some(name) = path.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            // A path starting with a NUL byte is an abstract name to the kernel.
            use std::os::unix::ffi::OsStrExt;
            let mut raw = vec![0u8];
            raw.extend_from_slice(name.as_bytes());
            let addr = socket2::SockAddr::unix(std::ffi::OsStr::from_bytes(&raw))?;
            return Ok(listen(&addr, backlog)?);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(Error::new(
                ErrorKind::NotSupported,
                "abstract ipc names exist only on Linux",
            ));
        }
    }
    let p = Path::new(path);
    if p.exists() {
        match UnixStream::connect(p).await {
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    format!("ipc://{path} is in use by a live listener"),
                ))
            }
            Err(_) => {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    socket2::SockAddr::unix(p)
        .and_then(|addr| listen(&addr, backlog))
        .map_err(|e| {
            let err = Error::from(e);
            Error::new(err.kind(), format!("bind ipc://{path}: {}", err.message()))
        })
}

/// Connects to `path` (or an abstract `@name`).
pub(crate) async fn connect(path: &str) -> std::io::Result<UnixStream> {
    if let Some(name) = path.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            let addr = abstract_addr(name)?;
            let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
            s.set_nonblocking(true)?;
            return UnixStream::from_std(s);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "abstract ipc names exist only on Linux",
            ));
        }
    }
    UnixStream::connect(path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Non-blocking connects to a listener that never accepts, until one is refused for a
    /// full queue (EAGAIN), at most `limit`.
    fn queued_connects(addr: &socket2::SockAddr, limit: usize) -> (usize, Vec<socket2::Socket>) {
        let mut held = Vec::new();
        for n in 0..limit {
            let s =
                socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            match s.connect(addr) {
                Ok(()) => held.push(s),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (n, held),
                Err(e) => panic!("connect {n}: {e}"),
            }
        }
        (limit, held)
    }

    /// ZMQ_BACKLOG reaches `listen` for IPC: with a backlog of 1 the kernel queues two
    /// connections (Linux refuses once more than the backlog wait) and refuses the third;
    /// with the default 100, 20 connections all queue.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_backlog_bounds_the_ipc_listen_queue() {
        let dir = std::env::temp_dir().join(format!("aiozmq-ipc-backlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (backlog, expected) in [(1, 2), (100, 20)] {
            let path = dir.join(format!("b{backlog}.sock"));
            let l = bind(path.to_str().unwrap(), backlog).await.unwrap();
            let (n, _held) = queued_connects(&socket2::SockAddr::unix(&path).unwrap(), 20);
            assert_eq!(n, expected, "backlog {backlog}");
            drop(l);
            let _ = std::fs::remove_file(&path);
        }
        // An abstract name takes the backlog too.
        let name = format!("@aiozmq-ipc-backlog-{}", std::process::id());
        let _l = bind(&name, 1).await.unwrap();
        let mut raw = vec![0u8];
        raw.extend_from_slice(&name.as_bytes()[1..]);
        use std::os::unix::ffi::OsStrExt;
        let addr = socket2::SockAddr::unix(std::ffi::OsStr::from_bytes(&raw)).unwrap();
        assert_eq!(queued_connects(&addr, 20).0, 2, "abstract name, backlog 1");
        let _ = std::fs::remove_dir(&dir);
    }
}
