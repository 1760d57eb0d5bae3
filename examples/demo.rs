//! The main demo: a DEALER/ROUTER echo and a REQ/REP exchange over loopback TCP, in one
//! process, printing each step.
//!
//! Run with `cargo run --release --example demo`.

use aiozmq::{Message, Socket, SocketType};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> aiozmq::Result<()> {
    // --- DEALER/ROUTER echo -----------------------------------------------------------
    let router = Socket::new(SocketType::Router);
    let endpoint = router.bind("tcp://127.0.0.1:*").await?;
    println!("ROUTER bound to {endpoint}");

    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_routing_id("dealer-1")?;
    dealer.connect(&endpoint).await?;
    println!("DEALER (routing id \"dealer-1\") connecting to {endpoint}");

    let echo = tokio::spawn(async move {
        for _ in 0..3 {
            let msg = router.recv().await?;
            println!(
                "ROUTER got {} frames from {:?}: {:?}",
                msg.len(),
                String::from_utf8_lossy(&msg[0]),
                String::from_utf8_lossy(&msg[1])
            );
            router.send(msg).await?; // the routing id frame routes the echo back
        }
        router.close().await;
        Ok::<(), aiozmq::Error>(())
    });

    for i in 0..3 {
        let text = format!("hello #{i}");
        dealer.send(Message::from(text.clone())).await?;
        let reply = dealer.recv().await?;
        println!("DEALER got echo: {:?}", String::from_utf8_lossy(&reply[0]));
        assert_eq!(&reply[0][..], text.as_bytes());
    }
    echo.await.expect("echo task")?;
    dealer.close().await;

    // --- REQ/REP ------------------------------------------------------------------------
    let rep = Socket::new(SocketType::Rep);
    let endpoint = rep.bind("tcp://127.0.0.1:*").await?;
    println!("REP bound to {endpoint}");
    let req = Socket::new(SocketType::Req);
    req.connect(&endpoint).await?;

    let server = tokio::spawn(async move {
        let request = rep.recv().await?;
        let n: u64 = String::from_utf8_lossy(&request[0]).parse().unwrap_or(0);
        println!("REP got request {n}, replying {}", n * n);
        rep.send(Message::from((n * n).to_string())).await?;
        rep.close().await;
        Ok::<(), aiozmq::Error>(())
    });
    let start = Instant::now();
    req.send("12").await?;
    let reply = tokio::time::timeout(Duration::from_secs(5), req.recv())
        .await
        .expect("reply within 5 s")?;
    println!(
        "REQ got reply {:?} after {:?}",
        String::from_utf8_lossy(&reply[0]),
        start.elapsed()
    );
    server.await.expect("server task")?;
    req.close().await;
    println!("demo finished");
    Ok(())
}
