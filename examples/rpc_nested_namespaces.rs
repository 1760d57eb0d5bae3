//! aiozmq's "RPC lookup in nested namespaces" example: a handler with a sub-handler;
//! `client.call.subhandler.b()` is `call!(client, subhandler.b())`.
//!
//! ```sh
//! cargo run --example rpc_nested_namespaces
//! ```

use aiozmq::rpc::{self, call, AttrHandler, Sig};

struct Handler {
    ident: String,
}

impl Handler {
    fn a(&self) -> (String, &'static str) {
        (self.ident.clone(), "a")
    }
}

struct SubHandler {
    ident: String,
    subident: String,
}

impl SubHandler {
    fn b(&self) -> (String, String, &'static str) {
        (self.ident.clone(), self.subident.clone(), "b")
    }
}

fn handler(ident: &str) -> AttrHandler<Handler> {
    let sub = AttrHandler::new(SubHandler {
        ident: ident.into(),
        subident: "subident".into(),
    })
    .method("b", Sig::none(), SubHandler::b);
    AttrHandler::new(Handler {
        ident: ident.into(),
    })
    .method("a", Sig::none(), Handler::a)
    .handler("subhandler", sub)
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let server = rpc::serve_rpc(handler("ident"))
        .bind("tcp://127.0.0.1:*")
        .await?;
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .await?;

    let ret: (String, String) = call!(client, a()).await?;
    assert_eq!(ret, ("ident".to_owned(), "a".to_owned()));

    let ret: (String, String, String) = call!(client, subhandler.b()).await?;
    assert_eq!(
        ret,
        ("ident".to_owned(), "subident".to_owned(), "b".to_owned())
    );
    println!("{ret:?}");

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
