//! aiozmq's "DEALER-ROUTER pair implemented with streams" (also its "Getting Started"
//! low-level request-reply example): the ROUTER stream echoes what the DEALER stream
//! writes. Prints each answer, then `DONE`.
//!
//! Run with `cargo run --example stream_dealer_router`.

use aiozmq::{create_zmq_stream, Message, SocketType, StreamOptions};

async fn go() -> aiozmq::Result<()> {
    let router = create_zmq_stream(
        SocketType::Router,
        StreamOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await?;

    let addr = router.transport().bindings()[0].clone();
    println!("ROUTER bound to {addr}");
    let dealer = create_zmq_stream(SocketType::Dealer, StreamOptions::new().connect(&addr)).await?;

    for i in 0..10 {
        let msg = Message::from_iter(["data".to_string(), "ask".into(), i.to_string()]);
        dealer.write(msg)?;
        let data = router.read().await?;
        router.write(data)?;
        let answer = dealer.read().await?;
        println!("{answer:?}");
    }
    dealer.close();
    router.close();
    // Not in the Python original (its event loop outlives go()): wait for the sockets.
    dealer.wait_closed().await;
    router.wait_closed().await;
    Ok(())
}

#[tokio::main]
async fn main() -> aiozmq::Result<()> {
    go().await?;
    println!("DONE");
    Ok(())
}
