//! aiozmq's "Remote Procedure Call" example (also "Getting Started" → "Example of RPC
//! usage"): `remote_func(a: int, b: int) -> int`.
//!
//! ```sh
//! cargo run --example rpc_remote_procedure_call
//! ```

use aiozmq::rpc::{self, call, AttrHandler};

struct ServerHandler;

impl ServerHandler {
    fn remote_func(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let handler = AttrHandler::new(ServerHandler).method(
        "remote_func",
        ["a", "b"],
        ServerHandler::remote_func,
    );
    let server = rpc::serve_rpc(handler).bind("tcp://127.0.0.1:*").await?;
    let server_addr = server.transport()?.bindings()[0].clone();

    let client = rpc::connect_rpc().connect(server_addr).await?;

    let ret: i64 = call!(client, remote_func(1, 2)).await?;
    assert_eq!(3, ret);

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
