//! aiozmq's "Translation RPC exceptions back to client" example: the server raises a
//! custom exception, the client's error table turns it back into a Rust error type.
//!
//! ```sh
//! cargo run --example rpc_custom_exception
//! ```

use std::fmt;

use aiozmq::rpc::{self, call, AttrHandler, Error, ErrorTable, Exception, Value};

/// The exception, known to both sides by its full name.
#[derive(Debug)]
struct CustomError {
    val: String,
}

const EXC_NAME: &str = "rpc_custom_exception.CustomError";

impl fmt::Display for CustomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomError({:?})", self.val)
    }
}

impl std::error::Error for CustomError {}

/// Server side: raising it sends `[EXC_NAME, [val], repr]`.
impl From<CustomError> for Exception {
    fn from(e: CustomError) -> Exception {
        Exception::new(EXC_NAME, vec![Value::Str(e.val)])
    }
}

struct ServerHandler;

impl ServerHandler {
    fn remote(&self, val: String) -> Result<(), CustomError> {
        Err(CustomError { val })
    }
}

#[tokio::main]
pub async fn main() -> Result<(), Error> {
    let handler = AttrHandler::new(ServerHandler).method("remote", ["val"], ServerHandler::remote);
    let server = rpc::serve_rpc(handler).bind("tcp://127.0.0.1:*").await?;
    let server_addr = server.bindings()[0].clone();

    // Client side: the error table maps the name back to the type.
    let error_table = ErrorTable::new().with(EXC_NAME, |exc| {
        Error::custom(CustomError {
            val: exc.message().unwrap_or_default().to_owned(),
        })
    });
    let client = rpc::connect_rpc()
        .connect(server_addr)
        .error_table(error_table)
        .await?;

    match call!(client, remote("value")).await {
        Err(e) => match e.downcast_ref::<CustomError>() {
            Some(exc) => {
                assert_eq!(exc.val, "value");
                println!("caught {exc}");
            }
            None => panic!("expected CustomError, got {e}"),
        },
        Ok(v) => {
            let v: Value = v;
            panic!("expected an error, got {v:?}");
        }
    }

    server.close();
    client.close();
    println!("DONE");
    Ok(())
}
