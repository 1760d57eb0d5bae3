//! libzmq's `remote_lat`: connects a REQ socket, does `roundtrip-count` request/reply
//! round trips and prints the one-way latency (round trip / 2) as libzmq does.
//!
//! Usage: `remote_lat <connect-endpoint> <message-size> <roundtrip-count>`

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: remote_lat <connect-to> <message-size> <roundtrip-count>");
        std::process::exit(1);
    }
    let size: usize = args[2].parse().expect("message-size");
    let count: u64 = args[3].parse().expect("roundtrip-count");
    let socket = Socket::new(SocketType::Req);
    socket.connect(&args[1]).await?;
    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        socket.send(Message::from(payload.clone())).await?;
        let msg = socket.recv().await?;
        if msg.len() != 1 || msg[0].len() != size {
            eprintln!("message of incorrect size received");
            std::process::exit(1);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let latency = elapsed * 1_000_000.0 / count as f64 / 2.0;
    println!("message size: {size} [B]");
    println!("roundtrip count: {count}");
    println!("average latency: {latency:.3} [us]");
    socket.close().await;
    Ok(())
}
