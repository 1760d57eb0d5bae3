//! The push-pull (notify, pipeline) pattern (aiozmq docs, "Remote Procedure Calls" →
//! "Push-Pull"): fire and forget; the server only logs what goes wrong.
//!
//! ```sh
//! cargo run --example rpc_push_pull
//! ```

use std::time::Duration;

use aiozmq::rpc::{self, notify, AttrHandler};
use tokio::sync::mpsc;

struct Handler {
    done: mpsc::UnboundedSender<i64>,
}

impl Handler {
    fn remote(&self, arg: i64) {
        // do_something(arg)
        println!("remote({arg}) called");
        let _ = self.done.send(arg);
    }
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = AttrHandler::new(Handler { done: tx }).method("remote", ["arg"], Handler::remote);
    let server = rpc::serve_pipeline(handler)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let endpoint = server.bindings()[0].clone();

    let client = rpc::connect_pipeline().connect(endpoint).await?;
    notify!(client, remote(1)).await?;

    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert_eq!(got.ok().flatten(), Some(1));

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
