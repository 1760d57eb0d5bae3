//! libzmq's `local_thr`: binds a PULL socket, receives `message-count` messages of
//! `message-size` bytes, and prints the throughput measured from the first message to the
//! last. Pair it with `remote_thr` (ours or libzmq's).
//!
//! Usage: `local_thr <bind-endpoint> <message-size> <message-count> [pull|router] [curve]`
//!
//! The optional fourth argument picks the receiving socket: PULL (default, as libzmq's
//! tool) or ROUTER (pair it with `remote_thr ... dealer`; the routing-id frame is dropped).
//! A fifth argument `curve` secures the connection with CURVE (fixed demo keys; pair it
//! with `remote_thr ... curve`).

use aiozmq::{Socket, SocketType};
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozmq::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if !(4..=6).contains(&args.len()) {
        eprintln!(
            "usage: local_thr <bind-to> <message-size> <message-count> [pull|router] [curve]"
        );
        std::process::exit(1);
    }
    let router = match args.get(4).map(String::as_str) {
        None | Some("pull") => false,
        Some("router") => true,
        Some(other) => {
            eprintln!("unknown socket {other:?}: pull or router");
            std::process::exit(1);
        }
    };
    let size: usize = args[2].parse().expect("message-size");
    let count: u64 = args[3].parse().expect("message-count");
    let socket = Socket::new(if router {
        SocketType::Router
    } else {
        SocketType::Pull
    });
    if args.get(5).map(String::as_str) == Some("curve") {
        // Demo keys: the server's secret key is 32 bytes of 1.
        socket.set_curve_server(true)?;
        socket.set_curve_secretkey([1u8; 32])?;
    }
    socket.bind(&args[1]).await?;

    let mut first = socket.recv().await?;
    if router {
        first.pop_front();
    }
    check(&first, size);
    let start = Instant::now();
    for _ in 1..count {
        let mut msg = socket.recv().await?;
        if router {
            msg.pop_front();
        }
        check(&msg, size);
    }
    let elapsed = start.elapsed().as_secs_f64().max(1e-9);
    let throughput = count as f64 / elapsed;
    let megabits = throughput * size as f64 * 8.0 / 1_000_000.0;
    println!("message size: {size} [B]");
    println!("message count: {count}");
    println!("mean throughput: {} [msg/s]", throughput as u64);
    println!("mean throughput: {megabits:.3} [Mb/s]");
    socket.close().await;
    Ok(())
}

fn check(msg: &aiozmq::Message, size: usize) {
    if msg.len() != 1 || msg[0].len() != size {
        eprintln!("message of incorrect size received");
        std::process::exit(1);
    }
}
