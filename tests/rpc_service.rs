//! RPC semantics between Rust clients and servers: handlers (attribute, dict, dynamic),
//! binding and validation, errors and the error table, many calls in flight, timeouts,
//! closing, server robustness against malformed requests, bounded concurrency, the three
//! patterns, run-time transport changes, logging.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiozmq::rpc::{
    self, call, notify, publish, AttrHandler, DictHandler, Error, ErrorTable, Exception, Handler,
    Item, Method, Serde, Sig, Value,
};
use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("finished in time")
}

struct Calc {
    calls: AtomicUsize,
}

impl Calc {
    fn add(&self, a: i64, b: i64) -> i64 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        a + b
    }
    fn div(&self, a: f64, b: f64) -> Result<f64, Exception> {
        if b == 0.0 {
            return Err(Exception::builtin(
                "ZeroDivisionError",
                "float division by zero",
            ));
        }
        Ok(a / b)
    }
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Config {
    name: String,
    size: u32,
    tags: Vec<String>,
}
rpc::serde_value!(Config);

fn int_or_none(v: Value) -> Result<Value, Exception> {
    match v {
        Value::Int(_) | Value::Nil => Ok(v),
        _ => Err(Exception::value_error("bad value")),
    }
}

/// Python's `DynamicHandler` example: any unknown name is a deeper namespace.
struct DynamicHandler {
    namespace: Vec<String>,
}

impl Handler for DynamicHandler {
    fn get(&self, key: &str) -> Option<Item> {
        if key == "func" {
            let ns = self.namespace.clone();
            return Some(Item::method(rpc::method(Sig::none(), move || {
                (ns.clone(), "val")
            })));
        }
        let mut namespace = self.namespace.clone();
        namespace.push(key.to_owned());
        Some(Item::handler(DynamicHandler { namespace }))
    }
}

fn calc_handler() -> AttrHandler<Calc> {
    AttrHandler::new(Calc {
        calls: AtomicUsize::new(0),
    })
    .method("add", rpc::sig!(a, b = 10), Calc::add)
    .method("div", ["a", "b"], Calc::div)
    .method(
        "validated",
        Sig::new(["arg"]).validate("arg", int_or_none),
        |_: &Calc, arg: Option<i64>| arg,
    )
    .method(
        "as_float",
        Sig::new(["a", "b"]).returns(|v| match v {
            Value::Int(i) => Ok(Value::Float(i as f64)),
            other => Ok(other),
        }),
        |_: &Calc, a: i64, b: i64| a + b,
    )
    .method("grow", ["config"], |_: &Calc, mut c: Config| {
        c.size *= 2;
        c.tags.push("grown".into());
        c
    })
    .method(
        "serde",
        ["v"],
        |_: &Calc, v: Serde<BTreeMap<String, i64>>| Serde(v.0.values().sum::<i64>()),
    )
    .method(
        "raise",
        ["exc_type", "message"],
        |_: &Calc, t: String, m: String| -> Result<(), Exception> {
            Err(Exception::new(t, vec![Value::Str(m)]))
        },
    )
    .method(
        "parse",
        ["s"],
        |_: &Calc, s: String| -> Result<i64, Exception> { Ok(s.parse::<i64>()?) },
    )
    .async_method(
        "slow",
        ["secs", "value"],
        |_, secs: f64, value: Value| async move {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            value
        },
    )
    .add_method(
        "raw",
        Method::raw(|args, kwargs| {
            Ok(Value::Array(vec![
                Value::Int(args.len() as i128),
                Value::Array(kwargs.into_iter().map(|(k, _)| Value::Str(k)).collect()),
            ]))
        }),
    )
    .handler(
        "dict",
        DictHandler::new()
            .method("a", rpc::method(Sig::none(), || "a"))
            .handler(
                "subnamespace",
                DictHandler::new().method("b", rpc::method(Sig::none(), || "b")),
            ),
    )
    .handler(
        "dynamic",
        DynamicHandler {
            namespace: Vec::new(),
        },
    )
}

async fn serve_calc() -> (rpc::Service, rpc::RpcClient) {
    let server = rpc::serve_rpc(calc_handler())
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .timeout(T)
        .await
        .unwrap();
    (server, client)
}

async fn shutdown(server: rpc::Service, client: rpc::RpcClient) {
    client.close();
    within(client.wait_closed()).await;
    server.close();
    within(server.wait_closed()).await;
}

fn params_message(e: &Error) -> String {
    match e {
        Error::Parameters(exc) => exc.message().unwrap().to_owned(),
        other => panic!("expected ParametersError, got {other:?}"),
    }
}

#[tokio::test]
async fn handlers_binding_and_values() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let n: i64 = call!(client, add(1, 2)).await.unwrap();
    assert_eq!(n, 3);
    let n: i64 = call!(client, add(1)).await.unwrap();
    assert_eq!(n, 11, "default");
    let n: i64 = call!(client, add(b = 1, a = 5)).await.unwrap();
    assert_eq!(n, 6, "keywords in any order");
    let n: i64 = client
        .call_as("add", (), [("a", 2), ("b", 3)])
        .await
        .unwrap();
    assert_eq!(n, 5);
    let f: f64 = call!(client, div(1, 4)).await.unwrap();
    assert_eq!(f, 0.25, "ints accepted for floats");

    // Binding errors, worded as Python's inspect.
    let e = call!(client, add(1, 2, 3))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert_eq!(
        params_message(&e),
        "TypeError('too many positional arguments')"
    );
    let e = call!(client, add()).await.map(|_: Value| ()).unwrap_err();
    assert_eq!(
        params_message(&e),
        "TypeError(\"missing a required argument: 'a'\")"
    );
    let e = call!(client, add(1, c = 3))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert_eq!(
        params_message(&e),
        "TypeError(\"got an unexpected keyword argument 'c'\")"
    );
    let e = call!(client, add(1, a = 3))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert_eq!(
        params_message(&e),
        "TypeError(\"multiple values for argument 'a'\")"
    );
    // Typed parameters and validators.
    let e = call!(client, add("x", 1))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert_eq!(
        params_message(&e),
        "Invalid value for argument 'a': TypeError('expected int, got str')"
    );
    let e = call!(client, add(1, 2.5))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert_eq!(
        params_message(&e),
        "Invalid value for argument 'b': TypeError('expected int, got float')"
    );
    let v: Option<i64> = call!(client, validated(5)).await.unwrap();
    assert_eq!(v, Some(5));
    let v: Option<i64> = call!(client, validated(Value::Nil)).await.unwrap();
    assert_eq!(v, None);
    let e = call!(client, validated("a"))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert_eq!(
        params_message(&e),
        "Invalid value for argument 'arg': ValueError('bad value')"
    );
    let v: Value = call!(client, as_float(1, 2)).await.unwrap();
    assert_eq!(v, Value::Float(3.0), "return validator");

    // serde types: structs travel as maps.
    let c = Config {
        name: "n".into(),
        size: 2,
        tags: vec!["t".into()],
    };
    assert!(matches!(rpc::to_value(&c).unwrap(), Value::Map(_)));
    let grown: Config = call!(client, grow(c)).await.unwrap();
    assert_eq!(
        grown,
        Config {
            name: "n".into(),
            size: 4,
            tags: vec!["t".into(), "grown".into()]
        }
    );
    let s: Serde<i64> = call!(
        client,
        serde(BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]))
    )
    .await
    .unwrap();
    assert_eq!(s.0, 3);
    let e = call!(client, grow(1)).await.map(|_: Value| ()).unwrap_err();
    assert!(params_message(&e).starts_with("Invalid value for argument 'config': TypeError("));

    // Raw access to every argument.
    let v: (i64, Vec<String>) = call!(client, raw(1, 2, 3, x = 1, y = 2)).await.unwrap();
    assert_eq!(v, (3, vec!["x".to_owned(), "y".to_owned()]));

    // Namespaces: dict handler, dynamic handler.
    let a: String = call!(client, dict.a()).await.unwrap();
    let b: String = call!(client, dict.subnamespace.b()).await.unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("a", "b"));
    let v: (Vec<String>, String) = call!(client, dynamic.func()).await.unwrap();
    assert_eq!(v, (vec![], "val".to_owned()));
    let v: (Vec<String>, String) = call!(client, dynamic.a.b.func()).await.unwrap();
    assert_eq!(v, (vec!["a".to_owned(), "b".to_owned()], "val".to_owned()));

    // Lookup failures.
    for name in [
        "",
        "nope",
        "dict",
        "dict.nope",
        "add.x",
        "dict.subnamespace",
        ".add",
        "add.",
    ] {
        let e = client.call(name, (), ()).await.unwrap_err();
        let Error::NotFound(exc) = &e else {
            panic!("{name:?}: {e:?}")
        };
        assert_eq!(exc.args(), [Value::from(name)]);
    }
    shutdown(server, client).await;
}

#[derive(Debug)]
struct Conflict(String);
impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conflict: {}", self.0)
    }
}
impl std::error::Error for Conflict {}

#[tokio::test]
async fn errors_and_error_table() {
    let _panics = support::check_library_panics();
    let server = rpc::serve_rpc(calc_handler())
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .error_table(ErrorTable::new().with("myapp.Conflict", |exc| {
            Error::custom(Conflict(exc.message().unwrap_or_default().into()))
        }))
        .await
        .unwrap();
    let raise = |t: &'static str| client.call("raise", (t, "m"), ());
    let e = raise("myapp.Conflict").await.unwrap_err();
    assert_eq!(e.downcast_ref::<Conflict>().unwrap().0, "m");
    for t in [
        "builtins.ValueError",
        "builtins.KeyError",
        "asyncio.QueueFull",
        "builtins.OSError",
    ] {
        let e = raise(t).await.unwrap_err();
        let Error::Builtin(exc) = &e else {
            panic!("{t}: {e:?}")
        };
        assert_eq!(exc.exc_type(), t);
        assert_eq!(exc.repr(), format!("{}('m')", exc.name()));
    }
    let e = raise("other.Thing").await.unwrap_err();
    assert!(
        matches!(&e, Error::Generic(exc) if exc.exc_type() == "other.Thing"),
        "{e:?}"
    );
    // aiozmq.rpc.base names keep their meaning when raised by a method.
    let e = raise("aiozmq.rpc.base.NotFoundError").await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)));
    let e = raise("aiozmq.rpc.base.ParametersError").await.unwrap_err();
    assert!(matches!(e, Error::Parameters(_)));
    // `?` on a Rust error becomes the matching Python exception.
    let e = call!(client, parse("x"))
        .await
        .map(|_: i64| ())
        .unwrap_err();
    let Error::Builtin(exc) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(exc.exc_type(), "builtins.ValueError");
    assert_eq!(exc.message(), Some("invalid digit found in string"));
    let e = call!(client, div(1, 0)).await.map(|_: f64| ()).unwrap_err();
    assert!(matches!(&e, Error::Builtin(x) if x.name() == "ZeroDivisionError"));
    // A result of the wrong type is a decode error, not a remote one.
    let e = call!(client, add(1, 2))
        .await
        .map(|_: String| ())
        .unwrap_err();
    assert!(matches!(e, Error::Decode(_)), "{e:?}");
    server.close();
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_in_flight_answered_out_of_order() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..100i64 {
        let delay = ((99 - i) % 10) as f64 / 100.0;
        let fut = client.call_as::<i64>("slow", (delay, i), ());
        let order = order.clone();
        tasks.push(tokio::spawn(async move {
            let r = fut.await.unwrap();
            order.lock().unwrap().push(r);
            r
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(within(t).await.unwrap(), i as i64);
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 100);
    assert_ne!(
        order,
        (0..100).collect::<Vec<_>>(),
        "replies came back out of order"
    );
    assert_eq!(client.pending_calls(), 0);
    shutdown(server, client).await;
}

/// Many calls in flight from one task (joined futures): they leave in one poll, replies
/// come back in any order.
#[tokio::test]
async fn many_calls_in_flight_from_one_task() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let calls = (0..100i64).map(|i| {
        let delay = ((i * 7) % 10) as f64 / 200.0;
        client.call_as::<i64>("slow", (delay, i), ())
    });
    let results = within(futures_util::future::join_all(calls)).await;
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r.unwrap(), i as i64);
    }
    assert_eq!(client.pending_calls(), 0);
    shutdown(server, client).await;
}

#[tokio::test]
async fn timeouts_and_late_replies() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let short = client.with_timeout(Duration::from_millis(100));
    let e = call!(short, slow(0.5, 1))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert!(matches!(e, Error::Timeout) && e.is_timeout());
    assert_eq!(client.pending_calls(), 0, "the timed-out call is forgotten");
    // The late reply (1) arrives while a later call is in flight on the same client and is
    // dropped, not taken as that call's answer: the later call sleeps longer on the server,
    // which started the first call earlier on the same connection, so its reply (2) is sent
    // after the late one.
    let n: i64 = call!(client, slow(0.8, 2)).await.unwrap();
    assert_eq!(n, 2, "the late reply was taken as the later call's answer");
    assert_eq!(client.pending_calls(), 0);
    let n: i64 = call!(short, add(1, 1)).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(short.timeout(), Some(Duration::from_millis(100)));
    assert_eq!(client.timeout(), Some(T));
    let none = client.with_timeout(None);
    let n: i64 = call!(none, slow(0.2, 5)).await.unwrap();
    assert_eq!(n, 5);

    // A client-wide timeout.
    let c2 = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .timeout(Duration::from_millis(100))
        .await
        .unwrap();
    let e = call!(c2, slow(1.0, 1))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert!(matches!(e, Error::Timeout));
    // No server at all: a call times out too (the request waits for a peer).
    let c3 = rpc::connect_rpc()
        .connect("tcp://127.0.0.1:1")
        .timeout(Duration::from_millis(100))
        .await
        .unwrap();
    let e = call!(c3, add(1)).await.map(|_: Value| ()).unwrap_err();
    assert!(matches!(e, Error::Timeout));
    c3.close();
    within(c3.wait_closed()).await;
    c2.close();
    shutdown(server, client).await;
}

#[tokio::test]
async fn server_timeout_answers_timeout_error() {
    let _panics = support::check_library_panics();
    let server = rpc::serve_rpc(calc_handler())
        .bind("tcp://127.0.0.1:*")
        .timeout(Duration::from_millis(100))
        .await
        .unwrap();
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .timeout(T)
        .await
        .unwrap();
    let e = call!(client, slow(5.0, 1))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    let Error::Builtin(exc) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(exc.exc_type(), "asyncio.TimeoutError");
    assert!(e.is_timeout());
    shutdown(server, client).await;
}

#[tokio::test]
async fn closing_the_client_fails_pending_calls() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let call = client.call("slow", (5.0, 1), ());
    assert_eq!(client.pending_calls(), 1);
    let pending = tokio::spawn(call);
    client.close();
    let e = within(pending).await.unwrap().unwrap_err();
    assert!(matches!(e, Error::ServiceClosed), "{e:?}");
    let e = client.call("add", (1,), ()).await.unwrap_err();
    assert!(matches!(e, Error::ServiceClosed), "{e:?}");
    assert!(matches!(client.transport(), Err(Error::ServiceClosed)));
    within(client.wait_closed()).await;
    within(client.wait_closed()).await; // idempotent
    server.close();
    within(server.wait_closed()).await;
}

#[tokio::test]
async fn a_dropped_call_is_forgotten() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let fut = client.call("slow", (0.3, 1), ());
    assert_eq!(client.pending_calls(), 1);
    let _ = tokio::time::timeout(Duration::from_millis(50), fut).await;
    assert_eq!(client.pending_calls(), 0, "cancelled call removed");
    // Its reply (1) comes while a later, longer call is in flight (see
    // timeouts_and_late_replies) and is not taken as that call's answer.
    let n: i64 = call!(client, slow(0.5, 2)).await.unwrap();
    assert_eq!(
        n, 2,
        "the dropped call's reply was taken as the later call's answer"
    );
    let n: i64 = call!(client, add(1, 2)).await.unwrap();
    assert_eq!(n, 3);
    shutdown(server, client).await;
}

#[tokio::test]
async fn closing_the_server_cancels_running_handlers() {
    let _panics = support::check_library_panics();
    let started = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let (s, d) = (started.clone(), dropped.clone());
    let handler = DictHandler::new().method(
        "hang",
        rpc::async_method(Sig::none(), move || {
            let (s, d) = (s.clone(), d.clone());
            async move {
                let _flag = Flag(d);
                s.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(60)).await;
                1
            }
        }),
    );
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .timeout(Duration::from_millis(800))
        .await
        .unwrap();
    let call = tokio::spawn(client.call("hang", (), ()));
    within(async {
        while !started.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    server.close();
    within(server.wait_closed()).await;
    assert!(dropped.load(Ordering::SeqCst), "the handler was cancelled");
    let e = within(call).await.unwrap().unwrap_err();
    assert!(
        matches!(e, Error::Timeout),
        "no reply for a cancelled call: {e:?}"
    );
    assert!(matches!(server.transport(), Err(Error::ServiceClosed)));
    client.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded() {
    let _panics = support::check_library_panics();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let handler = DictHandler::new().method(
        "work",
        rpc::async_method(["i"], move |i: i64| {
            let (r, p) = (r.clone(), p.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                i
            }
        }),
    );
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .max_concurrency(3)
        .await
        .unwrap();
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .timeout(T)
        .await
        .unwrap();
    let tasks: Vec<_> = (0..12i64)
        .map(|i| tokio::spawn(client.call_as::<i64>("work", (i,), ())))
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(within(t).await.unwrap().unwrap(), i as i64);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    shutdown(server, client).await;
}

fn frames(parts: &[&[u8]]) -> Message {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_dropped_without_disturbing_others() {
    let _panics = support::check_library_panics();
    support::record_library_panics();
    let (server, client) = serve_calc().await;
    let ep = server.bindings()[0].clone();
    let raw = Socket::new(SocketType::Dealer);
    support::connect(&raw, &ep).await;
    let header = [0u8; 16];
    let mut deep = vec![0x91u8; 1100];
    deep.push(0x00);
    let mut ok_deep = vec![0x91u8; 500];
    ok_deep.push(0x00);
    let ok_deep_args = [&[0x91u8][..], &ok_deep[..]].concat();
    let bad: Vec<Message> = vec![
        frames(&[b"add"]),
        frames(&[&header, b"add"]),
        frames(&[&header, b"add", b"\x91\x01"]),
        frames(&[&header[..15], b"add", b"\x91\x01", b"\x80"]),
        frames(&[&header, b"\xff\xfe", b"\x91\x01", b"\x80"]),
        frames(&[&header, b"add", b"\xc1", b"\x80"]),
        frames(&[&header, b"add", b"\x01", b"\x80"]),
        frames(&[&header, b"add", b"\x91\x01", b"\x91\x01"]),
        frames(&[&header, b"add", b"\x91\x01", b"\x81\x01\x02"]),
        frames(&[&header, b"add", b"\x91\x01\x00", b"\x80"]),
        frames(&[&header, b"add", b"\x92\x01", b"\x80"]),
        frames(&[&header, b"add", b"\xdd\xff\xff\xff\xff\x01", b"\x80"]),
        frames(&[&header, b"add", b"\xdf\xff\xff\xff\xff", b"\x80"]),
        frames(&[&header, b"add", b"\xc6\xff\xff\xff\xff", b"\x80"]),
        frames(&[&header, b"add", b"\x91\xa2\xff\xfe", b"\x80"]),
        frames(&[&header, b"add", &deep, b"\x80"]),
        frames(&[&header, b"add", b"\x91\xc7\x03\x7e\x80\x05.", b"\x80"]),
    ];
    // A well-behaved client keeps being served while the garbage arrives.
    let good = tokio::spawn({
        let client = client.clone();
        async move {
            for i in 0..50i64 {
                let n: i64 = call!(client, add(i, 1)).await.unwrap();
                assert_eq!(n, i + 1);
            }
        }
    });
    for m in bad {
        support::send(&raw, m, "malformed").await;
    }
    within(good).await.unwrap();
    // Deep nesting within the limit is fine; the raw peer gets a reply only for that.
    let mut id = header;
    id[4] = 9;
    support::send(
        &raw,
        frames(&[&id, b"slow", &ok_deep_args, b"\x80"]),
        "deep ok",
    )
    .await;
    let e = support::recv(&raw, "reply").await;
    assert_eq!(e[0][4], 9, "the only reply is to the good request");
    assert_eq!(e[0][16], 1, "slow() takes 2 arguments: a ParametersError");
    assert!(tokio::time::timeout(Duration::from_millis(200), raw.recv())
        .await
        .is_err());
    let n: i64 = call!(client, add(1, 1)).await.unwrap();
    assert_eq!(n, 2);
    support::assert_no_library_panics();
    shutdown(server, client).await;
}

#[tokio::test]
async fn transport_changes_at_run_time() {
    let _panics = support::check_library_panics();
    // A server with no endpoint yet; bind later, then unbind.
    let server = rpc::serve_rpc(calc_handler()).await.unwrap();
    assert!(server.bindings().is_empty());
    let ep = server
        .transport()
        .unwrap()
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let client = rpc::connect_rpc()
        .connect(ep.clone())
        .timeout(T)
        .await
        .unwrap();
    let n: i64 = call!(client, add(1, 1)).await.unwrap();
    assert_eq!(n, 2);
    server.transport().unwrap().unbind(&ep).await.unwrap();
    assert!(server.bindings().is_empty());
    // Reversed roles: the client binds, the server connects.
    let c2 = rpc::connect_rpc()
        .bind("tcp://127.0.0.1:*")
        .timeout(T)
        .await
        .unwrap();
    let cep = c2.bindings()[0].clone();
    server.transport().unwrap().connect(&cep).await.unwrap();
    let n: i64 = call!(c2, add(2, 2)).await.unwrap();
    assert_eq!(n, 4);
    c2.close();
    shutdown(server, client).await;
}

fn recording_handler(
    tx: mpsc::UnboundedSender<(String, Value)>,
) -> AttrHandler<mpsc::UnboundedSender<(String, Value)>> {
    AttrHandler::new(tx)
        .method(
            "record",
            rpc::sig!(what, value = Value::Nil),
            |tx: &mpsc::UnboundedSender<(String, Value)>, what: String, value: Value| {
                let _ = tx.send((what, value));
            },
        )
        .method(
            "fail",
            Sig::none(),
            |_: &mpsc::UnboundedSender<(String, Value)>| -> Result<(), Exception> {
                Err(Exception::value_error("ignored"))
            },
        )
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(String, Value)>) -> (String, Value) {
    within(rx.recv()).await.unwrap()
}

#[tokio::test]
async fn pipeline_notifications() {
    let _panics = support::check_library_panics();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = rpc::serve_pipeline(recording_handler(tx))
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let client = rpc::connect_pipeline()
        .connect(server.bindings()[0].clone())
        .await
        .unwrap();
    notify!(client, fail()).await.unwrap();
    notify!(client, nope()).await.unwrap();
    notify!(client, record("one", value = 1)).await.unwrap();
    client.notify("record", ("two",), ()).await.unwrap();
    assert_eq!(next(&mut rx).await, ("one".to_owned(), Value::Int(1)));
    assert_eq!(next(&mut rx).await, ("two".to_owned(), Value::Nil));
    client.close();
    within(client.wait_closed()).await;
    assert!(matches!(
        client.notify("record", ("x",), ()).await,
        Err(Error::ServiceClosed)
    ));
    server.close();
    within(server.wait_closed()).await;
}

#[tokio::test]
async fn pubsub_topics_and_subscriptions() {
    let _panics = support::check_library_panics();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = rpc::serve_pubsub(recording_handler(tx))
        .bind("tcp://127.0.0.1:*")
        .subscribe("topic")
        .subscribe(b"bin\x00")
        .await
        .unwrap();
    let client = rpc::connect_pubsub()
        .connect(server.bindings()[0].clone())
        .await
        .unwrap();
    // Wait for the subscription to reach the publisher.
    for attempt in 0.. {
        assert!(attempt < 200, "the subscription never arrived");
        publish!(client, "topic", record("sync")).await.unwrap();
        if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            break;
        }
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {}
    publish!(client, "other", record("no")).await.unwrap();
    publish!(client, "topic.sub", record("prefix"))
        .await
        .unwrap();
    publish!(client, &b"bin\x00\x01"[..], record("binary"))
        .await
        .unwrap();
    assert_eq!(next(&mut rx).await.0, "prefix");
    assert_eq!(next(&mut rx).await.0, "binary");
    // Everything, then unsubscribe from "topic".
    server.subscribe("").unwrap();
    server.unsubscribe("topic").unwrap();
    for attempt in 0.. {
        assert!(attempt < 200, "the new subscription never arrived");
        publish!(client, "zzz", record("sync2")).await.unwrap();
        if let Ok(Some((w, _))) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            if w == "sync2" {
                break;
            }
        }
    }
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {}
    server.unsubscribe("").unwrap();
    for attempt in 0.. {
        assert!(attempt < 200, "the unsubscription never arrived");
        // Until the unsubscription is through, "other" still arrives.
        publish!(client, "other", record("gone?")).await.unwrap();
        if tokio::time::timeout(Duration::from_millis(100), rx.recv())
            .await
            .is_err()
        {
            break;
        }
    }
    publish!(client, "topic", record("unsubscribed"))
        .await
        .unwrap();
    publish!(client, b"bin\x00", record("still")).await.unwrap();
    assert_eq!(next(&mut rx).await.0, "still");
    client.close();
    server.close();
    within(server.wait_closed()).await;
    assert!(matches!(server.subscribe("x"), Err(Error::ServiceClosed)));
}

// ---- logging ----

#[derive(Default, Clone)]
struct Captured(Arc<Mutex<Vec<String>>>);

impl tracing::Subscriber for Captured {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct V(String);
        impl tracing::field::Visit for V {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut v = V(String::new());
        event.record(&mut v);
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", event.metadata().level(), v.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn log_exceptions_and_exclusions() {
    let _panics = support::check_library_panics();
    let captured = Captured::default();
    let logs = captured.0.clone();
    tracing::subscriber::with_default(captured, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = rpc::serve_rpc(calc_handler())
                .bind("tcp://127.0.0.1:*")
                .log_exceptions(true)
                .exclude_log_exceptions(["builtins.KeyError"])
                .await
                .unwrap();
            let client = rpc::connect_rpc()
                .connect(server.bindings()[0].clone())
                .timeout(T)
                .await
                .unwrap();
            let _ = client
                .call("raise", ("builtins.ValueError", "logged"), ())
                .await;
            let _ = client
                .call("raise", ("builtins.KeyError", "excluded"), ())
                .await;
            let _ = client.call("add", (), ()).await;
            // A server without log_exceptions logs nothing for the same calls.
            let quiet = rpc::serve_rpc(calc_handler())
                .bind("tcp://127.0.0.1:*")
                .await
                .unwrap();
            let c2 = rpc::connect_rpc()
                .connect(quiet.bindings()[0].clone())
                .timeout(T)
                .await
                .unwrap();
            let _ = c2.call("raise", ("builtins.ValueError", "quiet"), ()).await;
            c2.close();
            quiet.close();
            client.close();
            server.close();
            server.wait_closed().await;
        });
    });
    let logs = logs.lock().unwrap().join("\n");
    assert!(logs.contains("ValueError('logged')"), "{logs}");
    assert!(logs.contains("ParametersError"), "{logs}");
    assert!(!logs.contains("excluded"), "{logs}");
    assert!(!logs.contains("quiet"), "{logs}");
}

#[tokio::test]
async fn service_closes_when_dropped() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let ep = server.bindings()[0].clone();
    drop(server);
    // The endpoint is free again once the dropped server's task has closed its socket.
    let mut rebound = None;
    for _ in 0..100 {
        match rpc::serve_rpc(calc_handler()).bind(ep.clone()).await {
            Ok(s) => {
                rebound = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let server = rebound.expect("the endpoint is released");
    let n: i64 = call!(client, add(1, 1)).await.unwrap();
    assert_eq!(n, 2);
    shutdown(server, client).await;
}

/// A server flooded with requests gives way every 32 of them (its connections write the
/// replies so far and other tasks on its thread run) instead of handling the whole flood
/// in one go.
#[tokio::test(flavor = "current_thread")]
async fn a_flooded_server_gives_way_every_32_requests() {
    let _panics = support::check_library_panics();
    let handled = Arc::new(AtomicUsize::new(0));
    let handler = DictHandler::new().method(
        "tick",
        rpc::method([] as [&str; 0], {
            let handled = handled.clone();
            move || handled.fetch_add(1, Ordering::Relaxed) as i64
        }),
    );
    let server = rpc::serve_rpc(handler)
        .bind("inproc://rpc-gives-way")
        .await
        .unwrap();
    let raw = Socket::new(SocketType::Dealer);
    raw.connect("inproc://rpc-gives-way").await.unwrap();
    const N: usize = 200;
    for id in 0..N {
        let header = rpc::wire::RequestHeader {
            pid: 1,
            random: 2,
            req_id: id as u32,
            time: 0.0,
        };
        let msg = rpc::wire::Request::encode_call(&header, &rpc::Codec::plain(), "tick", &[], &[])
            .unwrap();
        raw.try_send(msg).unwrap();
    }
    // This task runs whenever the server gives way: record how far it got each time.
    let mut seen = vec![0];
    within(async {
        while *seen.last().unwrap() < N {
            tokio::task::yield_now().await;
            seen.push(handled.load(Ordering::Relaxed));
        }
    })
    .await;
    assert!(
        seen.windows(2).all(|w| w[1] - w[0] <= 32),
        "the server ran more than 32 requests in one go: {seen:?}"
    );
    assert!(seen.iter().any(|&n| n > 0 && n < N), "{seen:?}");
    for _ in 0..N {
        within(raw.recv()).await.unwrap();
    }
    support::close(&raw).await;
    server.close();
    within(server.wait_closed()).await;
}

/// A client flooded with replies gives way every 32 of them: the callers answered so far
/// run (and make their next calls) while the rest are taken in.
#[tokio::test(flavor = "current_thread")]
async fn a_flooded_client_gives_way_every_32_replies() {
    let _panics = support::check_library_panics();
    const N: usize = 200;
    let router = Socket::new(SocketType::Router);
    router.bind("inproc://rpc-client-gives-way").await.unwrap();
    let client = rpc::connect_rpc()
        .connect("inproc://rpc-client-gives-way")
        .timeout(T)
        .await
        .unwrap();
    let calls: Vec<_> = (0..N)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let r: Result<Value, Error> = call!(client, anything()).await;
                r
            })
        })
        .collect();
    // Take every request first, then answer them all at once.
    let mut requests = Vec::new();
    while requests.len() < N {
        requests.push(within(router.recv()).await.unwrap());
    }
    for mut req in requests {
        let envelope = req.pop_front().unwrap();
        let header = rpc::wire::RequestHeader::load(&req[0]).unwrap();
        let reply = rpc::wire::ReplyHeader {
            pid: 1,
            random: 2,
            req_id: header.req_id,
            time: 0.0,
            is_error: false,
        };
        let mut msg = Message::from(envelope);
        msg.push_back(Bytes::copy_from_slice(&reply.encode()));
        msg.push_back(Bytes::from_static(b"\xc0"));
        router.try_send(msg).unwrap();
    }
    // This task runs whenever the client's receiver gives way.
    let mut waiting = vec![client.pending_calls()];
    within(async {
        while *waiting.last().unwrap() > 0 {
            tokio::task::yield_now().await;
            waiting.push(client.pending_calls());
        }
    })
    .await;
    assert!(
        waiting.windows(2).all(|w| w[0] - w[1] <= 32),
        "the client took in more than 32 replies in one go: {waiting:?}"
    );
    for c in calls {
        within(c).await.unwrap().unwrap();
    }
    support::close(&router).await;
    client.close();
    within(client.wait_closed()).await;
}

/// A reply waits in its call's entry until the caller takes it: the call stops counting as
/// pending as soon as the reply is in, before its future is polled again, and the reply is
/// then there for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_is_not_pending_before_its_caller_takes_the_reply() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let endpoint = router.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = rpc::connect_rpc()
        .connect(endpoint)
        .timeout(T)
        .await
        .unwrap();
    let mut fut = std::pin::pin!(client.call_as::<i64>("add", (1, 2), ()));
    // One poll sends the request and leaves the call waiting.
    assert!(futures_util::poll!(fut.as_mut()).is_pending());
    assert_eq!(client.pending_calls(), 1);
    let mut req = within(router.recv()).await.unwrap();
    let envelope = req.pop_front().unwrap();
    let header = rpc::wire::RequestHeader::load(&req[0]).unwrap();
    let reply = rpc::wire::ReplyHeader {
        pid: 1,
        random: 2,
        req_id: header.req_id,
        time: 0.0,
        is_error: false,
    };
    let mut msg = Message::from(envelope);
    msg.push_back(Bytes::copy_from_slice(&reply.encode()));
    msg.push_back(Bytes::from_static(b"\x03"));
    router.try_send(msg).unwrap();
    // The receive loop runs on the runtime's threads; the call's future is not polled.
    within(async {
        while client.pending_calls() != 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(within(fut).await.unwrap(), 3);
    assert_eq!(client.pending_calls(), 0);
    assert_eq!(client.dropped_replies(), 0);
    support::close(&router).await;
    client.close();
    within(client.wait_closed()).await;
}

/// Closing a client while calls from many tasks on a multi-thread runtime are in flight
/// ends every one of them: answered, or failed with `ServiceClosed`, none left hanging
/// (the waiting callers are woken from the closing thread).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_mid_flight_on_many_threads_ends_every_call() {
    let _panics = support::check_library_panics();
    let (server, client) = serve_calc().await;
    let answered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let answered = answered.clone();
            tokio::spawn(async move {
                use futures_util::StreamExt;
                let mut running: futures_util::stream::FuturesUnordered<_> = (0..50)
                    .map(|_| client.call_as::<i64>("add", (1, 2), ()))
                    .collect();
                let mut closed = 0;
                while let Some(r) = running.next().await {
                    match r {
                        Ok(n) => {
                            assert_eq!(n, 3);
                            answered.fetch_add(1, Ordering::Relaxed);
                            // Keep 50 in flight until the client closes.
                            running.push(client.call_as::<i64>("add", (1, 2), ()));
                        }
                        Err(Error::ServiceClosed) => closed += 1,
                        Err(e) => panic!("unexpected error {e:?}"),
                    }
                }
                closed
            })
        })
        .collect();
    within(async {
        while answered.load(Ordering::Relaxed) < 2000 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    client.close();
    let mut closed = 0;
    for t in tasks {
        closed += within(t).await.unwrap();
    }
    // Every task had 50 calls in flight when it stopped; each ended with ServiceClosed.
    assert_eq!(closed, 8 * 50);
    assert_eq!(client.pending_calls(), 0);
    within(client.wait_closed()).await;
    server.close();
    within(server.wait_closed()).await;
}
