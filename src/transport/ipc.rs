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

/// Binds `path`. A stale socket file (nothing listening) is removed first, as libzmq does;
/// a live one gives `EADDRINUSE`.
pub(crate) async fn bind(path: &str) -> Result<UnixListener> {
    if let Some(name) = path.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            let addr = abstract_addr(name)?;
            let std_l = std::os::unix::net::UnixListener::bind_addr(&addr)?;
            std_l.set_nonblocking(true)?;
            return Ok(UnixListener::from_std(std_l)?);
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
    UnixListener::bind(p).map_err(|e| {
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
