//! aiozmq's "Validation of RPC methods" example: unknown methods and arguments that do not
//! fit the signature come back as `NotFoundError` and `ParametersError`.
//!
//! ```sh
//! cargo run --example rpc_validation
//! ```

use aiozmq::rpc::{self, call, AttrHandler, Error, Value};

struct ServerHandler;

impl ServerHandler {
    fn remote_func(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

#[tokio::main]
pub async fn main() -> Result<(), Error> {
    let handler = AttrHandler::new(ServerHandler).method(
        "remote_func",
        ["a", "b"],
        ServerHandler::remote_func,
    );
    let server = rpc::serve_rpc(handler).bind("tcp://127.0.0.1:*").await?;
    let server_addr = server.bindings()[0].clone();
    let client = rpc::connect_rpc().connect(server_addr).await?;

    match call!(client, unknown_function()).await.map(|_: Value| ()) {
        Err(exc @ Error::NotFound(_)) => println!("client.rpc.unknown_function(): {exc}"),
        other => panic!("{other:?}"),
    }
    match call!(client, remote_func(bad_arg = 1))
        .await
        .map(|_: Value| ())
    {
        Err(exc @ Error::Parameters(_)) => println!("client.rpc.remote_func(bad_arg=1): {exc}"),
        other => panic!("{other:?}"),
    }
    match call!(client, remote_func(1)).await.map(|_: Value| ()) {
        Err(exc @ Error::Parameters(_)) => println!("client.rpc.remote_func(1): {exc}"),
        other => panic!("{other:?}"),
    }
    match call!(client, remote_func("a", "b"))
        .await
        .map(|_: Value| ())
    {
        Err(exc @ Error::Parameters(_)) => println!("client.rpc.remote_func('a', 'b'): {exc}"),
        other => panic!("{other:?}"),
    }

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
