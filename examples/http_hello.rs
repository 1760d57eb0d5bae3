//! A tiny HTTP/1.1 server on a STREAM socket: every request gets "Hello, World!".
//!
//! ```text
//! cargo run --example http_hello [ENDPOINT]
//! ```
//! ENDPOINT defaults to `tcp://127.0.0.1:8080`. It prints the endpoint it bound first, then
//! serves until killed; try `curl http://127.0.0.1:8080/`.
//!
//! A STREAM socket receives each client's bytes as `[routing id, data]`, in pieces as they
//! arrive, so the server keeps a buffer per routing id until a request head (ending in an
//! empty line) and its body are complete. Connections stay open for more requests unless
//! the request asks to close (`Connection: close`, or HTTP/1.0 without keep-alive); the
//! server closes one by sending `[routing id, empty frame]`. Every client is served from
//! the one receive loop, so any number of them are served at once.

use aiozmq::{ErrorKind, Message, Socket, SocketType};
use bytes::Bytes;
use std::collections::HashMap;

/// The most bytes a request head may take; a client past it is disconnected.
const MAX_HEAD: usize = 16 * 1024;

const BODY: &str = "Hello, World!";

/// What a complete request head says.
struct Head {
    /// Bytes the head takes, with its empty line.
    len: usize,
    /// The body's length (Content-Length).
    body: usize,
    /// The client wants the connection kept open.
    keep_alive: bool,
}

/// Parses the request head at the start of `buf`, once the empty line ending it arrived.
/// `Err` for a head that is not HTTP.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ()> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| ())?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().ok_or(())?;
    let version = request_line.rsplit(' ').next().ok_or(())?;
    // HTTP/1.1 keeps connections open unless told otherwise; HTTP/1.0 closes them.
    let mut keep_alive = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(()),
    };
    let mut body = 0;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(())?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            if value.eq_ignore_ascii_case("close") {
                keep_alive = false;
            } else if value.eq_ignore_ascii_case("keep-alive") {
                keep_alive = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            body = value.parse().map_err(|_| ())?;
        }
    }
    Ok(Some(Head {
        len: end + 4,
        body,
        keep_alive,
    }))
}

fn response(keep_alive: bool) -> Bytes {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    Bytes::from(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: {connection}\r\n\r\n{BODY}",
        BODY.len()
    ))
}

/// Sends `data` to the client `id` (empty: closes its connection). A client gone
/// meanwhile (`EHOSTUNREACH`) is no error: its disconnect is on its way.
async fn reply(server: &Socket, id: &Bytes, data: Bytes) -> aiozmq::Result<()> {
    match server.send(Message::from([id.clone(), data])).await {
        Err(e) if e.kind() == ErrorKind::HostUnreachable => Ok(()),
        r => r,
    }
}

#[tokio::main]
async fn main() -> aiozmq::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://127.0.0.1:8080".to_string());
    let server = Socket::new(SocketType::Stream);
    let bound = server.bind(&endpoint).await?;
    println!("{bound}");

    // What each client sent that is not answered yet, by routing id.
    let mut pending: HashMap<Bytes, Vec<u8>> = HashMap::new();
    loop {
        let msg = server.recv().await?;
        let (Some(id), Some(data)) = (msg.get(0).cloned(), msg.get(1).cloned()) else {
            continue;
        };
        if data.is_empty() {
            // A connection starts, or its client went away.
            if pending.remove(&id).is_none() {
                pending.insert(id, Vec::new());
            }
            continue;
        }
        let buf = pending.entry(id.clone()).or_default();
        buf.extend_from_slice(&data);
        let mut close = false;
        loop {
            match parse_head(buf) {
                Ok(Some(head)) if buf.len() >= head.len + head.body => {
                    buf.drain(..head.len + head.body);
                    reply(&server, &id, response(head.keep_alive)).await?;
                    if !head.keep_alive {
                        close = true;
                        break;
                    }
                }
                // The body is still on its way.
                Ok(Some(_)) => break,
                Ok(None) if buf.len() <= MAX_HEAD => break,
                Ok(None) | Err(()) => {
                    close = true;
                    break;
                }
            }
        }
        if close {
            pending.remove(&id);
            reply(&server, &id, Bytes::new()).await?;
        }
    }
}
