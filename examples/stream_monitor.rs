//! aiozmq's "Stream socket event monitor": a task prints the DEALER stream's socket events
//! (`read_event` until `ZmqStreamClosed`) while the DEALER and ROUTER streams exchange ten
//! messages. Prints the events and the answers, then `DONE`.
//!
//! Run with `cargo run --example stream_monitor`.

use aiozmq::{create_zmq_stream, Message, SocketType, StreamOptions, ZmqStream, ZmqStreamClosed};
use std::sync::Arc;

async fn monitor_stream(stream: Arc<ZmqStream>) {
    loop {
        match stream.read_event().await {
            Ok(event) => println!(
                "SocketEvent(event={}, value={}, endpoint='{}')  # {}",
                event.kind.to_raw(),
                event.value,
                event.endpoint,
                event.kind.name()
            ),
            Err(e) if e == ZmqStreamClosed => break,
            Err(e) => {
                println!("monitor failed: {e}");
                break;
            }
        }
    }
}

async fn go() -> aiozmq::Result<()> {
    let router = create_zmq_stream(
        SocketType::Router,
        StreamOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await?;
    let addr = router.transport().bindings()[0].clone();

    let dealer = Arc::new(create_zmq_stream(SocketType::Dealer, StreamOptions::new()).await?);

    dealer.transport().enable_monitor(None)?;

    let monitor = tokio::spawn(monitor_stream(dealer.clone()));

    dealer.transport().connect(&addr).await?;

    for i in 0..10 {
        let msg = Message::from_iter(["data".to_string(), "ask".into(), i.to_string()]);
        dealer.write(msg)?;
        let data = router.read().await?;
        router.write(data)?;
        let answer = dealer.read().await?;
        println!("{answer:?}");
    }

    router.close();
    dealer.close();
    // Not in the Python original: let the monitor task see ZmqStreamClosed and finish.
    monitor.await.expect("the monitor task");
    Ok(())
}

#[tokio::main]
async fn main() -> aiozmq::Result<()> {
    go().await?;
    println!("DONE");
    Ok(())
}
