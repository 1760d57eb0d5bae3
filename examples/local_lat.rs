//! libzmq's `local_lat`: binds a REP socket and echoes `roundtrip-count` messages.
//!
//! Usage: `local_lat <bind-endpoint> <message-size> <roundtrip-count>`

use aiozmq::{Socket, SocketType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: local_lat <bind-to> <message-size> <roundtrip-count>");
        std::process::exit(1);
    }
    let size: usize = args[2].parse().expect("message-size");
    let count: u64 = args[3].parse().expect("roundtrip-count");
    let socket = Socket::new(SocketType::Rep);
    socket.bind(&args[1]).await?;
    for _ in 0..count {
        let msg = socket.recv().await?;
        if msg.len() != 1 || msg[0].len() != size {
            eprintln!("message of incorrect size received");
            std::process::exit(1);
        }
        socket.send(msg).await?;
    }
    socket.close().await;
    Ok(())
}
