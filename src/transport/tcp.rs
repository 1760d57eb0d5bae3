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

/// Connects to `host:port` with TCP_NODELAY.
pub(crate) async fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect((host, port)).await?;
    s.set_nodelay(true)?;
    Ok(s)
}
