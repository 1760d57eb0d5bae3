//! The publish-subscribe pattern (aiozmq docs, "Remote Procedure Calls" →
//! "Publish-Subscribe"): the server subscribes to topics, the client calls under a topic.
//!
//! ```sh
//! cargo run --example rpc_pub_sub
//! ```

use std::time::Duration;

use aiozmq::rpc::{self, publish, AttrHandler};
use tokio::sync::mpsc;

struct Handler {
    calls: mpsc::UnboundedSender<i64>,
}

impl Handler {
    fn remote(&self, arg: i64) {
        let _ = self.calls.send(arg);
    }
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler =
        AttrHandler::new(Handler { calls: tx }).method("remote", ["arg"], Handler::remote);
    let server = rpc::serve_pubsub(handler)
        .subscribe("topic")
        .bind("tcp://127.0.0.1:*")
        .await?;
    let endpoint = server.bindings()[0].clone();

    let client = rpc::connect_pubsub().connect(endpoint).await?;
    // A publisher drops messages until the subscription has reached it: publish until the
    // server got one.
    for attempt in 0.. {
        assert!(attempt < 100, "the subscription never arrived");
        publish!(client, "topic", remote(1)).await?;
        if let Ok(Some(arg)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            println!("the server got remote({arg}) under 'topic'");
            break;
        }
    }

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
