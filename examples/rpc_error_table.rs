//! aiozmq docs, "Exception translation at client side": builtin exceptions come back as
//! `Error::Builtin` (`except ValueError`), user exceptions through the client's error table
//! (`error_table = {'mod1.Error1': Error1, 'pack.mod2.Error2': Error2}`), anything else as
//! `Error::Generic`.
//!
//! ```sh
//! cargo run --example rpc_error_table
//! ```

use std::fmt;

use aiozmq::rpc::{self, call, AttrHandler, Error, ErrorTable, Exception, Value};

#[derive(Debug)]
struct Error1(Vec<Value>);
#[derive(Debug)]
struct Error2(Vec<Value>);

impl fmt::Display for Error1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error1{:?}", self.0)
    }
}
impl fmt::Display for Error2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error2{:?}", self.0)
    }
}
impl std::error::Error for Error1 {}
impl std::error::Error for Error2 {}

struct Handler;

impl Handler {
    fn func_raises_value_error(&self) -> Result<(), Exception> {
        Err(Exception::value_error("bad value"))
    }
    fn func_raises(&self, which: i64) -> Result<(), Exception> {
        Err(match which {
            1 => Exception::new("mod1.Error1", vec![Value::from("one")]),
            2 => Exception::new("pack.mod2.Error2", vec![Value::from("two"), Value::Int(2)]),
            _ => Exception::new("mod3.Unknown", vec![]),
        })
    }
}

#[tokio::main]
pub async fn main() -> Result<(), Error> {
    let handler = AttrHandler::new(Handler)
        .method(
            "func_raises_value_error",
            rpc::Sig::none(),
            Handler::func_raises_value_error,
        )
        .method("func_raises", ["which"], Handler::func_raises);
    let server = rpc::serve_rpc(handler).bind("tcp://127.0.0.1:*").await?;

    let error_table = ErrorTable::new()
        .with("mod1.Error1", |exc| {
            Error::custom(Error1(exc.args().to_vec()))
        })
        .with("pack.mod2.Error2", |exc| {
            Error::custom(Error2(exc.args().to_vec()))
        });
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .error_table(error_table)
        .await?;

    // try: ... except ValueError as exc:
    let r: Result<(), Error> = call!(client, func_raises_value_error()).await;
    match r {
        Err(Error::Builtin(exc)) if exc.name() == "ValueError" => {
            println!("ValueError: {}", exc.repr())
        }
        other => panic!("expected ValueError, got {other:?}"),
    }
    let r: Result<(), Error> = call!(client, func_raises(1)).await;
    let e = r.unwrap_err();
    println!(
        "translated: {}",
        e.downcast_ref::<Error1>().expect("Error1")
    );
    let r: Result<(), Error> = call!(client, func_raises(2)).await;
    let e = r.unwrap_err();
    println!(
        "translated: {}",
        e.downcast_ref::<Error2>().expect("Error2")
    );
    let r: Result<(), Error> = call!(client, func_raises(3)).await;
    match r {
        Err(Error::Generic(exc)) => println!("GenericError({}, {:?})", exc.exc_type(), exc.args()),
        other => panic!("expected GenericError, got {other:?}"),
    }

    server.close();
    client.close();
    println!("DONE");
    Ok(())
}
