//! aiozmq's "Translation instances of custom classes via RPC" example (also "Value
//! translators"): a `Point` crosses the wire as ext type 0, packed as the msgpack array
//! `(x, y)` exactly as the Python example's `msgpack.packb((value.x, value.y))`.
//!
//! ```sh
//! cargo run --example rpc_custom_translator
//! ```

use aiozmq::rpc::{
    self, call, AttrHandler, Codec, ConvertError, TranslationTable, Translator, Value,
};

#[derive(Clone, Debug, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

// Point converts to and from `Value::Object`.
rpc::object_value!(Point);

fn translation_table() -> TranslationTable {
    TranslationTable::new().with(
        0,
        Translator::for_type(
            |p: &Point| {
                let v = Value::Array(vec![Value::Int(p.x as i128), Value::Int(p.y as i128)]);
                Codec::plain()
                    .pack_to_bytes(&v)
                    .expect("ints pack")
                    .to_vec()
            },
            |binary: &[u8]| {
                let v = Codec::plain()
                    .unpack(&bytes::Bytes::copy_from_slice(binary))
                    .map_err(|e| ConvertError::value_error(e.to_string()))?;
                let (x, y) = v.extract::<(i64, i64)>()?;
                Ok(Point { x, y })
            },
        ),
    )
}

struct ServerHandler;

impl ServerHandler {
    fn remote(&self, val: Value) -> Value {
        val
    }
}

#[tokio::main]
pub async fn main() -> Result<(), rpc::Error> {
    let handler = AttrHandler::new(ServerHandler).method("remote", ["val"], ServerHandler::remote);
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .translation_table(translation_table())
        .await?;
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .translation_table(translation_table())
        .await?;

    let ret: Point = call!(client, remote(Point { x: 1, y: 2 })).await?;
    assert_eq!(ret, Point { x: 1, y: 2 });
    println!("remote(Point(1, 2)) = {ret:?}");

    server.close();
    server.wait_closed().await;
    client.close();
    client.wait_closed().await;
    println!("DONE");
    Ok(())
}
