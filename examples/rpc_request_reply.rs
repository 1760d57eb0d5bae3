//! The request-reply pattern (aiozmq docs, "Remote Procedure Calls" → "Request-Reply"):
//! a DEALER client calls a method of a ROUTER server and waits for its result.
//!
//! ```sh
//! cargo run --example rpc_request_reply
//! ```

use aiozmq::rpc::{self, call, AttrHandler};

struct Handler;

impl Handler {
    fn remote(&self, arg1: i64, arg2: i64) -> i64 {
        arg1 + arg2
    }
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let handler = AttrHandler::new(Handler).method("remote", ["arg1", "arg2"], Handler::remote);
    let server = rpc::serve_rpc(handler).bind("tcp://127.0.0.1:*").await?;
    let endpoint = server.bindings()[0].clone();

    let client = rpc::connect_rpc().connect(endpoint).await?;

    let ret: i64 = call!(client, remote(1, 2)).await?;
    assert_eq!(ret, 3);
    println!("remote(1, 2) = {ret}");

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
