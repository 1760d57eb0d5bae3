//! aiozmq's "Use dynamic RPC lookup" example: a handler whose lookup (`__getitem__`) makes
//! a deeper namespace for any unknown name.
//!
//! ```sh
//! cargo run --example rpc_dynamic_handler
//! ```

use aiozmq::rpc::{self, call, Handler, Item, Sig};

struct DynamicHandler {
    namespace: Vec<String>,
}

impl Handler for DynamicHandler {
    fn get(&self, key: &str) -> Option<Item> {
        if key == "func" {
            // The method `func`, bound to this namespace.
            let namespace = self.namespace.clone();
            return Some(Item::method(rpc::method(Sig::none(), move || {
                (namespace.clone(), "val")
            })));
        }
        let mut namespace = self.namespace.clone();
        namespace.push(key.to_owned());
        Some(Item::handler(DynamicHandler { namespace }))
    }
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let server = rpc::serve_rpc(DynamicHandler { namespace: vec![] })
        .bind("tcp://127.0.0.1:*")
        .await?;
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .await?;

    let ret: (Vec<String>, String) = call!(client, func()).await?;
    assert_eq!(ret, (vec![], "val".to_owned()));

    let ret: (Vec<String>, String) = call!(client, a.func()).await?;
    assert_eq!(ret, (vec!["a".to_owned()], "val".to_owned()));

    let ret: (Vec<String>, String) = call!(client, a.b.func()).await?;
    assert_eq!(
        ret,
        (vec!["a".to_owned(), "b".to_owned()], "val".to_owned())
    );

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
