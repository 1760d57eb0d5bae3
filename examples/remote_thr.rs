//! libzmq's `remote_thr`: connects a PUSH socket and sends `message-count` messages of
//! `message-size` bytes, then closes with linger so that nothing is lost.
//!
//! Usage: `remote_thr <connect-endpoint> <message-size> <message-count> [push|dealer] [curve]`
//!
//! The optional fourth argument picks the sending socket: PUSH (default, as libzmq's tool)
//! or DEALER (pair it with `local_thr ... router`). A fifth argument `curve` secures the
//! connection with CURVE (fixed demo keys; pair it with `local_thr ... curve`).

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=6).contains(&args.len()) {
        eprintln!(
            "usage: remote_thr <connect-to> <message-size> <message-count> [push|dealer] [curve]"
        );
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
    if args.get(5).map(String::as_str) == Some("curve") {
        // Demo keys: the server's secret key is 32 bytes of 1, ours 32 bytes of 2.
        socket.set_curve_serverkey(aiozmq::security::curve::public_key_of(&[1u8; 32]))?;
        socket.set_curve_publickey(aiozmq::security::curve::public_key_of(&[2u8; 32]))?;
        socket.set_curve_secretkey([2u8; 32])?;
    }
    socket.connect(&args[1]).await?;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..count {
        socket.send(Message::from(payload.clone())).await?;
    }
    socket.close().await;
    Ok(())
}
