//! aiozmq's "Use dict as RPC lookup table" example: free functions in a map of names,
//! with a nested map as a namespace.
//!
//! ```sh
//! cargo run --example rpc_dict_handler
//! ```

use aiozmq::rpc::{self, call, DictHandler, Sig};

fn a() -> &'static str {
    "a"
}

fn b() -> &'static str {
    "b"
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let handlers_dict = DictHandler::new()
        .method("a", rpc::method(Sig::none(), a))
        .handler(
            "subnamespace",
            DictHandler::new().method("b", rpc::method(Sig::none(), b)),
        );
    let server = rpc::serve_rpc(handlers_dict)
        .bind("tcp://127.0.0.1:*")
        .await?;
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .await?;

    let ret: String = call!(client, a()).await?;
    assert_eq!("a", ret);

    let ret: String = call!(client, subnamespace.b()).await?;
    assert_eq!("b", ret);

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
