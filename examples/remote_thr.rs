//! libzmq's `remote_thr`: connects a PUSH socket and sends `message-count` messages of
//! `message-size` bytes, then closes with linger so that nothing is lost.
//!
//! Usage: `remote_thr <connect-endpoint> <message-size> <message-count> [push|dealer]`
//!
//! The optional fourth argument picks the sending socket: PUSH (default, as libzmq's tool)
//! or DEALER (pair it with `local_thr ... router`).

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 && args.len() != 5 {
        eprintln!("usage: remote_thr <connect-to> <message-size> <message-count> [push|dealer]");
        std::process::exit(1);
    }
    let socket_type = match args.get(4).map(String::as_str) {
        None | Some("push") => SocketType::Push,
        Some("dealer") => SocketType::Dealer,
        Some(other) => {
            eprintln!("unknown socket {other:?}: push or dealer");
            std::process::exit(1);
        }
    };
    let size: usize = args[2].parse().expect("message-size");
    let count: u64 = args[3].parse().expect("message-count");
    let socket = Socket::new(socket_type);
    socket.connect(&args[1]).await?;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..count {
        socket.send(Message::from(payload.clone())).await?;
    }
    socket.close().await;
    Ok(())
}
