//! aiozmq docs, "Signature validation": typed parameters are converted (an `int`
//! annotation), validators check values (`int_or_none`), a return validator converts the
//! result (`-> float`); a failure is a `ParametersError` for the caller.
//!
//! ```sh
//! cargo run --example rpc_signature_validation
//! ```

use aiozmq::rpc::{self, call, AttrHandler, Error, Exception, Sig, Value};

/// `def int_or_none(val)`: a validator.
fn int_or_none(val: Value) -> Result<Value, Exception> {
    match val {
        Value::Int(_) | Value::Nil => Ok(val),
        _ => Err(Exception::value_error("bad value")),
    }
}

/// `-> float`: the return validator.
fn to_float(val: Value) -> Result<Value, Exception> {
    match val {
        Value::Int(i) => Ok(Value::Float(i as f64)),
        Value::Float(_) => Ok(val),
        other => Err(Exception::type_error(format!(
            "float() argument must be a number, not {}",
            rpc::python_type_name(&other)
        ))),
    }
}

struct Handler;

impl Handler {
    /// `def func(self, arg1: int, arg2) -> float`: `arg2` is passed as is.
    fn func(&self, arg1: i64, arg2: Value) -> Result<Value, Exception> {
        match arg2 {
            Value::Int(i) => Ok(Value::Int(arg1 as i128 + i)),
            Value::Float(f) => Ok(Value::Float(arg1 as f64 + f)),
            other => Err(Exception::type_error(format!(
                "unsupported operand type(s) for +: 'int' and '{}'",
                rpc::python_type_name(&other)
            ))),
        }
    }

    /// `def func2(self, arg: int_or_none)`.
    fn func2(&self, arg: Value) -> Value {
        arg
    }
}

#[tokio::main]
pub async fn main() -> Result<(), Error> {
    let handler = AttrHandler::new(Handler)
        .method(
            "func",
            Sig::new(["arg1", "arg2"]).returns(to_float),
            Handler::func,
        )
        .method(
            "func2",
            Sig::new(["arg"]).validate("arg", int_or_none),
            Handler::func2,
        );
    let server = rpc::serve_rpc(handler).bind("tcp://127.0.0.1:*").await?;
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .await?;

    let ret: f64 = call!(client, func(1, 2)).await?;
    assert_eq!(ret, 3.0);
    println!("func(1, 2) = {ret:?}");

    let e = call!(client, func("a", 2))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert!(matches!(e, Error::Parameters(_)));
    println!("func('a', 2): {e}");

    let ret: Option<i64> = call!(client, func2(Value::Nil)).await?;
    assert_eq!(ret, None);
    let e = call!(client, func2("x"))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert!(matches!(e, Error::Parameters(_)));
    println!("func2('x'): {e}");

    server.close();
    client.close();
    println!("DONE");
    Ok(())
}
