//! libzmq's `remote_thr`: connects a PUSH socket and sends `message-count` messages of
//! `message-size` bytes, then closes with linger so that nothing is lost.
//!
//! Usage: `remote_thr <connect-endpoint> <message-size> <message-count>`

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: remote_thr <connect-to> <message-size> <message-count>");
        std::process::exit(1);
    }
    let size: usize = args[2].parse().expect("message-size");
    let count: u64 = args[3].parse().expect("message-count");
    let socket = Socket::new(SocketType::Push);
    socket.connect(&args[1]).await?;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..count {
        socket.send(Message::from(payload.clone())).await?;
    }
    socket.close().await;
    Ok(())
}
