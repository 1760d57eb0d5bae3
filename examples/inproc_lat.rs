//! libzmq's `inproc_lat`: a REQ task does `roundtrip-count` request/reply round trips over
//! `inproc://` with a REP task in the same process that echoes them, and prints the one-way
//! latency (round trip / 2) as libzmq does.
//!
//! Usage: `inproc_lat <message-size> <roundtrip-count>`

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: inproc_lat <message-size> <roundtrip-count>");
        std::process::exit(1);
    }
    let size: usize = args[1].parse().expect("message-size");
    let count: u64 = args[2].parse().expect("roundtrip-count");
    let endpoint = format!("inproc://inproc_lat-{}", std::process::id());

    let rep = Socket::new(SocketType::Rep);
    rep.bind(&endpoint).await?;
    let req = Socket::new(SocketType::Req);
    req.connect(&endpoint).await?;
    let echo = tokio::spawn(async move {
        for _ in 0..count {
            let msg = rep.recv().await?;
            check(&msg, size);
            rep.send(msg).await?;
        }
        rep.close().await;
        Ok::<(), aiozmq::Error>(())
    });

    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        req.send(Message::from(payload.clone())).await?;
        check(&req.recv().await?, size);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let latency = elapsed * 1_000_000.0 / count as f64 / 2.0;
    println!("message size: {size} [B]");
    println!("roundtrip count: {count}");
    println!("average latency: {latency:.3} [us]");
    echo.await.expect("echo task")?;
    req.close().await;
    Ok(())
}

fn check(msg: &Message, size: usize) {
    if msg.len() != 1 || msg[0].len() != size {
        eprintln!("message of incorrect size received");
        std::process::exit(1);
    }
}
