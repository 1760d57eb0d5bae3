//! libzmq's `inproc_thr`: a PUSH task sends `message-count` messages of `message-size` bytes
//! over `inproc://` to a PULL task in the same process, which prints the throughput measured
//! from the first message to the last.
//!
//! Usage: `inproc_thr <message-size> <message-count>`

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: inproc_thr <message-size> <message-count>");
        std::process::exit(1);
    }
    let size: usize = args[1].parse().expect("message-size");
    let count: u64 = args[2].parse().expect("message-count");
    let endpoint = format!("inproc://inproc_thr-{}", std::process::id());

    let pull = Socket::new(SocketType::Pull);
    pull.bind(&endpoint).await?;
    let push = Socket::new(SocketType::Push);
    push.connect(&endpoint).await?;
    let sender = tokio::spawn(async move {
        let payload = Bytes::from(vec![0u8; size]);
        for _ in 0..count {
            push.send(Message::from(payload.clone())).await?;
        }
        push.close().await;
        Ok::<(), aiozmq::Error>(())
    });

    check(&pull.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check(&pull.recv().await?, size);
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    let throughput = count as f64 / elapsed;
    let megabits = throughput * size as f64 * 8.0 / 1_000_000.0;
    println!("message size: {size} [B]");
    println!("message count: {count}");
    println!("mean throughput: {} [msg/s]", throughput as u64);
    println!("mean throughput: {megabits:.3} [Mb/s]");
    sender.await.expect("sender task")?;
    pull.close().await;
    Ok(())
}

fn check(msg: &Message, size: usize) {
    if msg.len() != 1 || msg[0].len() != size {
        eprintln!("message of incorrect size received");
        std::process::exit(1);
    }
}
