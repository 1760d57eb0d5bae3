//! aiozmq's "Pipeline aka Notifier" example: notify until the handler has been reached.
//!
//! ```sh
//! cargo run --example rpc_pipeline
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aiozmq::rpc::{self, notify, AttrHandler};

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
    let listener = rpc::serve_pipeline(handler)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let listener_addr = listener.transport()?.bindings()[0].clone();

    let notifier = rpc::connect_pipeline().connect(listener_addr).await?;

    for step in 0.. {
        assert!(step < 1000, "the server never got a call");
        notify!(notifier, remote_func(step, 1, 2)).await?;
        if state.connected.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    listener.close();
    listener.wait_closed().await;
    notifier.close();
    notifier.wait_closed().await;
    println!("DONE");
    Ok(())
}
