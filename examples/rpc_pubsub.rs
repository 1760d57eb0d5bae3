//! aiozmq's "Publish-Subscribe" example: publish under a topic until the subscriber's
//! handler has been reached; the server logs the exceptions of calls.
//!
//! ```sh
//! cargo run --example rpc_pubsub
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aiozmq::rpc::{self, publish, AttrHandler};

#[derive(Default)]
struct Handler {
    connected: AtomicBool,
}

impl Handler {
    fn remote_func(&self, step: i64, a: i64, b: i64) {
        self.connected.store(true, Ordering::SeqCst);
        println!("HANDLER {step} {a} {b}");
    }
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let handler = AttrHandler::new(Handler::default()).method(
        "remote_func",
        ["step", "a", "b"],
        Handler::remote_func,
    );
    let state = handler.state().clone();
    let subscriber = rpc::serve_pubsub(handler)
        .subscribe("topic")
        .bind("tcp://127.0.0.1:*")
        .log_exceptions(true)
        .await?;
    let subscriber_addr = subscriber.transport()?.bindings()[0].clone();
    println!("SERVE {subscriber_addr}");

    let publisher = rpc::connect_pubsub().connect(subscriber_addr).await?;

    for step in 0.. {
        assert!(step < 1000, "the server never got a call");
        publish!(publisher, "topic", remote_func(step, 1, 2)).await?;
        if state.connected.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    subscriber.close();
    subscriber.wait_closed().await;
    publisher.close();
    publisher.wait_closed().await;
    println!("DONE");
    Ok(())
}
