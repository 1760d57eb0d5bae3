//! RPC interop with Python's aiozmq 1.0 (`interop/rpc/*.py` in the venv of
//! `interop/requirements.txt`), every pattern in both directions:
//!
//! | test | Rust | Python |
//! |---|---|---|
//! | `rpc_rust_client_python_server` | `connect_rpc` | `serve_rpc` (then restarted) |
//! | `rpc_python_client_rust_server` | `serve_rpc` (then restarted) | `connect_rpc` (`client.py` checks) |
//! | `pipeline_rust_client_python_server` | `connect_pipeline` | `serve_pipeline` |
//! | `pipeline_python_client_rust_server` | `serve_pipeline` | `connect_pipeline` |
//! | `pubsub_rust_client_python_server` | `connect_pubsub` | `serve_pubsub` |
//! | `pubsub_python_client_rust_server` | `serve_pubsub` | `connect_pubsub` |
//!
//! Over TCP; the `_over_ipc` twins run request-reply both ways, pipeline with our client
//! and pub-sub with our server over `ipc://`. The `_under_curve` tests run request-reply
//! under CURVE both ways (Python's side set through `ZmqTransport.setsockopt`), each with
//! a client holding the wrong server key whose call times out.
//!
//! Covered: nested namespaces, keyword arguments, defaults, every error kind (not found,
//! each parameters error, builtins, a custom error table entry, generic), date/time values
//! of all five kinds with and without timezone (values, reprs, round trips), a custom
//! translator, client and server timeouts, 100 concurrent calls, a server restart.
//!
//! Needs Python 3 and PyPI access the first time (tests/support/python.rs): without them
//! these tests fail, they never skip.

mod support;

use std::process::Stdio;
use std::time::Duration;

use aiozmq::rpc::{
    self, call, notify, publish, AttrHandler, ConvertError, Error, ErrorTable, Exception, Method,
    PyDateTime, PyTime, PyTimezone, Sig, TranslationTable, Translator, Value,
};
use aiozmq::security::SecurityConfig;
use chrono::{NaiveDate, TimeDelta};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/rpc");
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `interop/rpc/<script>`; killed when dropped.
struct Py {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<tokio::task::JoinHandle<String>>,
}

impl Py {
    fn spawn(script: &str, args: &[&str]) -> Py {
        let label = format!("{script} {}", args.join(" "));
        let mut child = Command::new(support::python::venv_python())
            .arg("-u")
            .arg(format!("{SCRIPTS}/{script}"))
            // No __pycache__ in the source tree.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s).await;
            s
        });
        Py {
            label,
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr: Some(stderr),
        }
    }

    async fn fail(&mut self, what: String) -> ! {
        if let Some(stdin) = self.stdin.take() {
            drop(stdin);
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
        let _ = self.child.kill().await;
        let stderr = match self.stderr.take() {
            Some(t) => tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => String::new(),
        };
        panic!("{}: {what}\nstderr:\n{stderr}", self.label);
    }

    async fn line(&mut self) -> String {
        match tokio::time::timeout(LINE_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => self.fail("exited early".into()).await,
            Ok(Err(e)) => self.fail(format!("stdout: {e}")).await,
            Err(_) => {
                self.fail(format!("printed nothing for {LINE_TIMEOUT:?}"))
                    .await
            }
        }
    }

    async fn ready(&mut self) -> String {
        let l = self.line().await;
        match l.strip_prefix("READY ") {
            Some(ep) => ep.trim().to_owned(),
            None => self.fail(format!("expected READY, got {l}")).await,
        }
    }

    async fn send_line(&mut self, s: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(format!("{s}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Closes stdin (a server stops), expects `DONE` and exit status 0.
    async fn finish(mut self) {
        self.stdin.take();
        loop {
            let l = self.line().await;
            if l == "DONE" {
                break;
            }
        }
        match tokio::time::timeout(LINE_TIMEOUT, self.child.wait()).await {
            Ok(Ok(s)) if s.success() => {}
            other => self.fail(format!("exit: {other:?}")).await,
        }
    }
}

// ---- the Rust twin of interop/rpc/rpc_common.py ----

#[derive(Clone, Debug, PartialEq)]
struct Point(i64, i64);
rpc::object_value!(Point);

fn translation_table() -> TranslationTable {
    TranslationTable::new().with(
        0,
        Translator::for_type(
            // Python: msgpack.packb((value.x, value.y))
            |p: &Point| {
                rpc::Codec::plain()
                    .pack_to_bytes(&Value::Array(vec![
                        Value::Int(p.0 as i128),
                        Value::Int(p.1 as i128),
                    ]))
                    .unwrap()
                    .to_vec()
            },
            |b: &[u8]| {
                let v = rpc::Codec::plain()
                    .unpack(&bytes::Bytes::copy_from_slice(b))
                    .map_err(|e| ConvertError::value_error(e.to_string()))?;
                let (x, y): (i64, i64) = v.extract()?;
                Ok(Point(x, y))
            },
        ),
    )
}

#[derive(Debug)]
struct CustomError(String);
impl std::fmt::Display for CustomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomError({:?})", self.0)
    }
}
impl std::error::Error for CustomError {}

fn error_table() -> ErrorTable {
    ErrorTable::new().with("interop.CustomError", |exc| {
        Error::custom(CustomError(exc.message().unwrap_or_default().to_owned()))
    })
}

fn raise_kind(kind: &str, message: String) -> Exception {
    match kind {
        "ValueError" | "KeyError" | "TypeError" | "ZeroDivisionError" => {
            Exception::builtin(kind, message)
        }
        "custom" => Exception::new("interop.CustomError", vec![Value::Str(message)]),
        "generic" => Exception::new("interop.Unknown", vec![Value::Str(message)]),
        other => Exception::runtime_error(format!("unknown kind {other:?}")),
    }
}

fn tz(seconds: i64, name: Option<&str>) -> PyTimezone {
    PyTimezone::new(TimeDelta::seconds(seconds), name.map(str::to_owned)).unwrap()
}

fn ymd_hms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_micro_opt(h, mi, s, us)
        .unwrap()
}

const KINDS: [&str; 11] = [
    "date",
    "datetime",
    "datetime_utc",
    "datetime_tz",
    "datetime_named",
    "datetime_fold",
    "time",
    "time_tz",
    "timedelta",
    "timezone",
    "timezone_utc",
];

/// The values of `rpc_common.make`.
fn make(kind: &str) -> Value {
    let t = |h, m, s, us| chrono::NaiveTime::from_hms_micro_opt(h, m, s, us).unwrap();
    match kind {
        "date" => Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        "datetime" => Value::DateTime(PyDateTime::naive(ymd_hms(2026, 11, 25, 19, 34, 29, 123456))),
        "datetime_utc" => Value::DateTime(PyDateTime::aware(
            ymd_hms(2026, 11, 25, 19, 34, 29, 0),
            PyTimezone::utc(),
        )),
        "datetime_tz" => Value::DateTime(PyDateTime::aware(
            ymd_hms(2026, 11, 25, 19, 34, 29, 0),
            tz(3 * 3600, None),
        )),
        "datetime_named" => Value::DateTime(PyDateTime::aware(
            ymd_hms(2000, 1, 1, 0, 0, 0, 1),
            tz(-(5 * 3600 + 30 * 60), Some("X")),
        )),
        "datetime_fold" => Value::DateTime(PyDateTime {
            naive: ymd_hms(2021, 11, 7, 1, 30, 0, 0),
            tz: None,
            fold: true,
        }),
        "time" => Value::Time(PyTime::naive(t(23, 59, 58, 1))),
        "time_tz" => Value::Time(PyTime {
            naive: t(1, 2, 3, 0),
            tz: Some(PyTimezone::utc()),
            fold: false,
        }),
        "timedelta" => Value::TimeDelta(
            TimeDelta::days(-1) + TimeDelta::seconds(3) + TimeDelta::microseconds(7),
        ),
        "timezone" => Value::Timezone(tz(5 * 3600 + 45 * 60, None)),
        "timezone_utc" => Value::Timezone(PyTimezone::utc()),
        other => panic!("unknown kind {other}"),
    }
}

struct State {
    generation: i64,
}

/// `rpc_common.InteropHandler` in Rust.
fn interop_handler(generation: i64) -> AttrHandler<State> {
    let sub = AttrHandler::new(())
        .method(
            "concat",
            rpc::sig!(a, b = "-", c = "!"),
            |_: &(), a: String, b: String, c: String| format!("{a}{b}{c}"),
        )
        .add_method(
            "kinds",
            Method::raw(|args, _kwargs| {
                Ok(Value::Array(
                    args.iter()
                        .map(|v| Value::from(rpc::python_type_name(v)))
                        .collect(),
                ))
            }),
        );
    let ns = AttrHandler::new(())
        .method("echo", ["value"], |_: &(), v: Value| v)
        .handler("sub", sub);
    let dt = AttrHandler::new(())
        .method("make", ["kind"], |_: &(), kind: String| make(&kind))
        .method("repr", ["value"], |_: &(), v: Value| v.python_repr());
    let point = AttrHandler::new(()).method("swap", ["p"], |_: &(), p: Point| Point(p.1, p.0));
    AttrHandler::new(State { generation })
        .method("add", rpc::sig!(a, b = 2), |_: &State, a: i64, b: i64| {
            a + b
        })
        .method("echo", ["value"], |_: &State, v: Value| v)
        .method(
            "fail",
            ["kind", "message"],
            |_: &State, kind: String, message: String| -> Result<(), Exception> {
                Err(raise_kind(&kind, message))
            },
        )
        .async_method("sleep", ["seconds"], |_, seconds: f64| async move {
            tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            seconds
        })
        .async_method(
            "echo_after",
            ["value", "delay"],
            |_, value: Value, delay: f64| async move {
                tokio::time::sleep(Duration::from_secs_f64(delay)).await;
                value
            },
        )
        .method("generation", Sig::none(), |s: &State| s.generation)
        .handler("ns", ns)
        .handler("dt", dt)
        .handler("point", point)
}

async fn rust_server(endpoint: &str, generation: i64) -> rpc::Service {
    rpc::serve_rpc(interop_handler(generation))
        .bind(endpoint)
        .translation_table(translation_table())
        .timeout(Duration::from_secs(2))
        .log_exceptions(true)
        .exclude_log_exceptions(["interop.CustomError"])
        .await
        .expect("serve_rpc")
}

fn exc_of(e: &Error) -> &Exception {
    e.exception()
        .unwrap_or_else(|| panic!("expected a remote exception, got {e:?}"))
}

// ---- request-reply ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_rust_client_python_server() {
    let _panics = support::check_library_panics();
    // Python binds port 0 and reports the port it got; the restart below binds that same
    // endpoint again (the only moment the port is free).
    rpc_rust_client_python_server_on("tcp://127.0.0.1:0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_rust_client_python_server_over_ipc() {
    let _panics = support::check_library_panics();
    let ipc = support::UnboundIpc::new("rpc-server");
    rpc_rust_client_python_server_on(&ipc.endpoint).await;
}

/// Our client against Python's `serve_rpc` bound at `bind`, then restarted on the
/// endpoint it reported.
async fn rpc_rust_client_python_server_on(bind: &str) {
    let mut py = Py::spawn("server.py", &["rpc", "--bind", bind, "--generation", "1"]);
    let endpoint = py.ready().await;
    if let Some(tcp) = bind.strip_suffix(":0") {
        assert!(
            endpoint.starts_with(tcp) && !endpoint.ends_with(":0"),
            "{endpoint}"
        );
    } else {
        assert_eq!(endpoint, bind);
    }

    let client = rpc::connect_rpc()
        .connect(&endpoint)
        .translation_table(translation_table())
        .error_table(error_table())
        .timeout(Duration::from_secs(10))
        .await
        .unwrap();

    // Values, kwargs, defaults, nested namespaces.
    assert_eq!(call!(client, add(1, 2)).await.map(|v: i64| v).unwrap(), 3);
    assert_eq!(call!(client, add(1)).await.map(|v: i64| v).unwrap(), 3);
    assert_eq!(
        call!(client, add(a = 10, b = -4))
            .await
            .map(|v: i64| v)
            .unwrap(),
        6
    );
    let s: String = call!(client, ns.sub.concat("x", c = "?")).await.unwrap();
    assert_eq!(s, "x-?");
    let v: Value = call!(client, ns.echo(vec![Value::Int(1), Value::from("two")]))
        .await
        .unwrap();
    assert_eq!(v, Value::Array(vec![Value::Int(1), Value::from("two")]));
    let kinds: Vec<String> = client
        .call_as(
            "ns.sub.kinds",
            rpc::Args::new()
                .arg(&b"\x00"[..])
                .arg("s")
                .arg(vec![1])
                .arg(std::collections::BTreeMap::from([("k", 1)]))
                .arg(Option::<i64>::None)
                .arg(true)
                .arg(1.5)
                .arg(7),
            (),
        )
        .await
        .unwrap();
    assert_eq!(
        kinds,
        ["bytes", "str", "tuple", "dict", "NoneType", "bool", "float", "int"]
    );
    let b: bytes::Bytes = call!(client, echo(&b"\x00\xff"[..])).await.unwrap();
    assert_eq!(&b[..], b"\x00\xff");
    let big: u64 = call!(client, echo(u64::MAX)).await.unwrap();
    assert_eq!(big, u64::MAX);

    // Errors: lookup and binding (Python's own messages).
    for (name, arg) in [
        ("nope", "nope"),
        ("ns.nope", "ns.nope"),
        ("ns.sub", "ns.sub"),
    ] {
        let e = client.call(name, (), ()).await.unwrap_err();
        assert!(matches!(e, Error::NotFound(_)), "{name}: {e:?}");
        assert_eq!(exc_of(&e).args(), [Value::from(arg)]);
        assert_eq!(exc_of(&e).repr(), format!("NotFoundError('{arg}')"));
    }
    let e = call!(client, add(1, 2, 3))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert!(matches!(e, Error::Parameters(_)), "{e:?}");
    assert_eq!(
        exc_of(&e).args(),
        [Value::from("TypeError('too many positional arguments')")]
    );
    assert_eq!(
        exc_of(&e).repr(),
        "ParametersError(\"TypeError('too many positional arguments')\")"
    );
    for (e, msg) in [
        (
            call!(client, add(b = 1))
                .await
                .map(|_: Value| ())
                .unwrap_err(),
            "TypeError(\"missing a required argument: 'a'\")",
        ),
        (
            call!(client, add(1, z = 1))
                .await
                .map(|_: Value| ())
                .unwrap_err(),
            "TypeError(\"got an unexpected keyword argument 'z'\")",
        ),
        (
            call!(client, add(1, a = 1))
                .await
                .map(|_: Value| ())
                .unwrap_err(),
            "TypeError(\"multiple values for argument 'a'\")",
        ),
    ] {
        assert!(matches!(e, Error::Parameters(_)), "{e:?}");
        assert_eq!(exc_of(&e).args(), [Value::from(msg)]);
    }
    // Exceptions raised by the method.
    for kind in ["ValueError", "KeyError", "TypeError", "ZeroDivisionError"] {
        let e = call!(client, fail(kind, "m"))
            .await
            .map(|_: Value| ())
            .unwrap_err();
        let Error::Builtin(exc) = &e else {
            panic!("{kind}: {e:?}")
        };
        assert_eq!(exc.exc_type(), format!("builtins.{kind}"));
        assert_eq!(exc.name(), kind);
        assert_eq!(exc.args(), [Value::from("m")]);
        assert_eq!(exc.repr(), format!("{kind}('m')"));
    }
    let e = call!(client, fail("custom", "mine"))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert_eq!(
        e.downcast_ref::<CustomError>().map(|c| c.0.as_str()),
        Some("mine"),
        "{e:?}"
    );
    let e = call!(client, fail("generic", "g"))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    let Error::Generic(exc) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(exc.exc_type(), "interop.Unknown");
    assert_eq!(exc.repr(), "Unknown('g')");

    // Date/time values of every kind, with and without timezone.
    for kind in KINDS {
        let made: Value = call!(client, dt.make(kind)).await.unwrap();
        assert_eq!(made, make(kind), "Python's {kind}");
        let repr: String = call!(client, dt.repr(make(kind))).await.unwrap();
        assert_eq!(
            repr,
            make(kind).python_repr(),
            "Python's repr of our {kind}"
        );
        let echoed: Value = call!(client, echo(make(kind))).await.unwrap();
        assert_eq!(echoed, make(kind), "echo of {kind}");
    }
    // Typed chrono values.
    let aware: chrono::DateTime<chrono::FixedOffset> =
        call!(client, dt.make("datetime_tz")).await.unwrap();
    assert_eq!(aware.to_rfc3339(), "2026-11-25T19:34:29+03:00");
    let delta: TimeDelta = call!(client, dt.make("timedelta")).await.unwrap();
    assert_eq!(delta.num_microseconds(), Some(-86_400_000_000 + 3_000_007));

    // A custom translator.
    let p: Point = call!(client, point.swap(Point(1, 2))).await.unwrap();
    assert_eq!(p, Point(2, 1));

    // Timeouts: a late reply is dropped and does not confuse later calls.
    let e = call!(client.with_timeout(Duration::from_millis(200)), sleep(1.0))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    // The late reply arrives while a later, longer call is in flight on the same client
    // and is dropped, not taken as that call's answer: the server started the first sleep
    // earlier on the same connection, so its reply is sent before the later one's.
    let n: f64 = call!(client, sleep(1.5)).await.unwrap();
    assert_eq!(
        n, 1.5,
        "the late reply was taken as the later call's answer"
    );
    assert_eq!(client.pending_calls(), 0);
    let n: i64 = call!(client, add(2, 2)).await.unwrap();
    assert_eq!(n, 4);
    let n: i64 = call!(client, add(3, 3)).await.unwrap();
    assert_eq!(n, 6);

    // 100 calls in flight, answered out of order.
    let calls: Vec<_> = (0..100i64)
        .map(|i| {
            let delay = ((i * 37) % 10) as f64 / 200.0;
            client.call_as::<i64>("echo_after", (i, delay), ())
        })
        .collect();
    let mut handles = Vec::new();
    for c in calls {
        handles.push(tokio::spawn(c));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap().unwrap(), i as i64);
    }

    // Server restart: kill Python, start a new one on the same endpoint.
    let gen: i64 = call!(client, generation()).await.unwrap();
    assert_eq!(gen, 1);
    drop(py);
    let mut py = Py::spawn(
        "server.py",
        &["rpc", "--bind", &endpoint, "--generation", "2"],
    );
    assert_eq!(py.ready().await, endpoint);
    let mut gen = 0;
    for _ in 0..100 {
        match call!(
            client.with_timeout(Duration::from_millis(500)),
            generation()
        )
        .await
        {
            Ok(g) => {
                gen = g;
                break;
            }
            Err(Error::Timeout) => continue,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(gen, 2, "the restarted server answers");
    let n: i64 = call!(client, add(5)).await.unwrap();
    assert_eq!(n, 7);

    client.close();
    client.wait_closed().await;
    py.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_python_client_rust_server() {
    let _panics = support::check_library_panics();
    rpc_python_client_rust_server_on("tcp://127.0.0.1:*").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_python_client_rust_server_over_ipc() {
    let _panics = support::check_library_panics();
    let ipc = support::UnboundIpc::new("rpc-client");
    rpc_python_client_rust_server_on(&ipc.endpoint).await;
}

/// Python's `client.py` checks against our server bound at `bind` (restarted there).
async fn rpc_python_client_rust_server_on(bind: &str) {
    let server = rust_server(bind, 1).await;
    let endpoint = server.bindings()[0].clone();
    let mut py = Py::spawn("client.py", &["rpc", "--connect", &endpoint]);
    let mut server = Some(server);
    let mut failures = Vec::new();
    let mut oks = 0;
    loop {
        let line = py.line().await;
        if line == "DONE" {
            break;
        } else if line == "PHASE restart" {
            let s = server.take().unwrap();
            s.close();
            s.wait_closed().await;
            server = Some(rust_server(&endpoint, 2).await);
        } else if let Some(f) = line.strip_prefix("FAIL ") {
            failures.push(f.to_owned());
        } else if line.starts_with("OK ") {
            oks += 1;
        } else {
            py.fail(format!("unexpected line {line}")).await;
        }
    }
    let status = tokio::time::timeout(LINE_TIMEOUT, py.child.wait())
        .await
        .expect("client.py exits")
        .unwrap();
    assert!(
        failures.is_empty(),
        "Python client checks failed:\n{}",
        failures.join("\n")
    );
    assert!(status.success(), "client.py exited with {status}");
    assert!(oks >= 60, "only {oks} checks ran");
    let server = server.unwrap();
    server.close();
    server.wait_closed().await;
}

// ---- pipeline and pub-sub ----

/// The `CALL` lines `rpc_common.Recorder` prints for `client.py`'s `ONEWAY_CALLS`.
const EXPECTED_CALLS: [&str; 6] = [
    r"CALL record (1, 'a', b'\x00', None, True, 1.5, (1, 2), {'k': 'v'}) {}",
    r"CALL record () {'key': 'value', 'n': -7}",
    r"CALL ns.record (1, 2) {'c': 5}",
    r"CALL record (datetime.datetime(2026, 11, 25, 19, 34, 29, tzinfo=datetime.timezone(datetime.timedelta(seconds=10800))), datetime.timedelta(days=-1, seconds=3, microseconds=7), datetime.date(2024, 2, 29), datetime.time(1, 2, 3, tzinfo=datetime.timezone.utc), datetime.timezone(datetime.timedelta(seconds=20700))) {}",
    r"CALL record (Point(1, 2),) {}",
    r"CALL fail ('ValueError', 'boom') {}",
];
const END_CALL: &str = "CALL sync (-1,) {}";

/// Sends `client.py`'s `ONEWAY_CALLS` through `send(name, args, kwargs)`.
async fn send_oneway_calls<F, Fut>(mut send: F)
where
    F: FnMut(&'static str, rpc::Args, rpc::Kwargs) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    use rpc::{Args, Kwargs};
    let calls: Vec<(&str, Args, Kwargs)> = vec![
        (
            "record",
            Args::new()
                .arg(1)
                .arg("a")
                .arg(&b"\x00"[..])
                .arg(Value::Nil)
                .arg(true)
                .arg(1.5)
                .arg(vec![1, 2])
                .arg(Value::Map(vec![(Value::from("k"), Value::from("v"))])),
            Kwargs::new(),
        ),
        (
            "record",
            Args::new(),
            Kwargs::new().arg("key", "value").arg("n", -7),
        ),
        ("ns.record", Args::new().arg(1), Kwargs::new().arg("c", 5)),
        (
            "record",
            Args::new()
                .arg(make("datetime_tz"))
                .arg(make("timedelta"))
                .arg(make("date"))
                .arg(make("time_tz"))
                .arg(make("timezone")),
            Kwargs::new(),
        ),
        ("record", Args::new().arg(Point(1, 2)), Kwargs::new()),
        (
            "fail",
            Args::new().arg("ValueError").arg("boom"),
            Kwargs::new(),
        ),
        ("nope", Args::new(), Kwargs::new()),
    ];
    for (name, args, kwargs) in calls {
        send(name, args, kwargs).await.unwrap();
    }
}

/// `rpc_common.Recorder` in Rust: sends each call's `CALL` line to `tx`.
fn recorder(tx: mpsc::UnboundedSender<String>) -> AttrHandler<mpsc::UnboundedSender<String>> {
    fn line(name: &str, args: Vec<Value>, kwargs: Vec<(String, Value)>) -> String {
        let kwargs = Value::Map(
            kwargs
                .into_iter()
                .map(|(k, v)| (Value::Str(k), v))
                .collect(),
        );
        format!(
            "CALL {name} {} {}",
            Value::Array(args).python_repr(),
            kwargs.python_repr()
        )
    }
    let tx2 = tx.clone();
    let tx3 = tx.clone();
    let ns = AttrHandler::new(tx.clone()).method(
        "record",
        rpc::sig!(a, b = 2, c = 3),
        |tx: &mpsc::UnboundedSender<String>, a: Value, b: Value, c: Value| {
            let _ = tx.send(line("ns.record", vec![a, b], vec![("c".into(), c)]));
        },
    );
    AttrHandler::new(tx)
        .add_method(
            "record",
            Method::raw(move |args, kwargs| {
                let _ = tx2.send(line("record", args, kwargs));
                Ok(Value::Nil)
            }),
        )
        .method(
            "sync",
            ["n"],
            |tx: &mpsc::UnboundedSender<String>, n: i64| {
                let _ = tx.send(line("sync", vec![Value::Int(n as i128)], vec![]));
            },
        )
        .method(
            "fail",
            ["kind", "message"],
            move |_: &mpsc::UnboundedSender<String>,
                  kind: String,
                  message: String|
                  -> Result<(), Exception> {
                let _ = tx3.send(line(
                    "fail",
                    vec![Value::from(kind.as_str()), Value::from(message.as_str())],
                    vec![],
                ));
                Err(raise_kind(&kind, message))
            },
        )
        .handler("ns", ns)
}

/// Collects `CALL` lines (skipping the warm-up `sync(n >= 0)` calls) up to `END_CALL`.
async fn collect_calls(mut next: impl AsyncNext) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let l = next.next_line().await;
        if l == END_CALL {
            return got;
        }
        if l.starts_with("CALL sync (") {
            continue;
        }
        got.push(l);
    }
}

trait AsyncNext {
    async fn next_line(&mut self) -> String;
}

impl AsyncNext for &mut Py {
    async fn next_line(&mut self) -> String {
        self.line().await
    }
}

impl AsyncNext for &mut mpsc::UnboundedReceiver<String> {
    async fn next_line(&mut self) -> String {
        tokio::time::timeout(LINE_TIMEOUT, self.recv())
            .await
            .expect("a call within the time limit")
            .expect("server alive")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_rust_client_python_server() {
    let _panics = support::check_library_panics();
    pipeline_rust_client_python_server_on("tcp://127.0.0.1:*").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_rust_client_python_server_over_ipc() {
    let _panics = support::check_library_panics();
    let ipc = support::UnboundIpc::new("pipeline");
    pipeline_rust_client_python_server_on(&ipc.endpoint).await;
}

async fn pipeline_rust_client_python_server_on(bind: &str) {
    let mut py = Py::spawn("server.py", &["pipeline", "--bind", bind]);
    let endpoint = py.ready().await;
    let client = rpc::connect_pipeline()
        .connect(&endpoint)
        .translation_table(translation_table())
        .await
        .unwrap();
    send_oneway_calls(|name, args, kwargs| client.notify(name, args, kwargs)).await;
    notify!(client, sync(-1)).await.unwrap();
    let got = collect_calls(&mut py).await;
    assert_eq!(got, EXPECTED_CALLS);
    client.close();
    client.wait_closed().await;
    py.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_python_client_rust_server() {
    let _panics = support::check_library_panics();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = rpc::serve_pipeline(recorder(tx))
        .bind("tcp://127.0.0.1:*")
        .translation_table(translation_table())
        .await
        .unwrap();
    let endpoint = server.bindings()[0].clone();
    let py = Py::spawn("client.py", &["pipeline", "--connect", &endpoint]);
    let got = collect_calls(&mut rx).await;
    assert_eq!(got, EXPECTED_CALLS);
    py.finish().await;
    server.close();
    server.wait_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_rust_client_python_server() {
    let _panics = support::check_library_panics();
    let mut py = Py::spawn(
        "server.py",
        &[
            "pubsub",
            "--bind",
            "tcp://127.0.0.1:*",
            "--subscribe",
            "topic",
        ],
    );
    let endpoint = py.ready().await;
    let client = rpc::connect_pubsub()
        .connect(&endpoint)
        .translation_table(translation_table())
        .await
        .unwrap();
    // Publish until the subscription has reached us (PUB drops before that).
    let mut n = 0;
    loop {
        publish!(client, "topic", sync(n)).await.unwrap();
        n += 1;
        match tokio::time::timeout(Duration::from_millis(50), py.stdout.next_line()).await {
            Ok(Ok(Some(l))) if l.starts_with("CALL sync") => break,
            Ok(Ok(Some(l))) => panic!("unexpected {l}"),
            Ok(_) => py.fail("exited".into()).await,
            Err(_) => assert!(n < 200, "the subscription never arrived"),
        }
    }
    publish!(client, "other", record("not subscribed"))
        .await
        .unwrap();
    send_oneway_calls(|name, args, kwargs| client.publish("topic").call(name, args, kwargs)).await;
    publish!(client, "topicX", record("prefix match"))
        .await
        .unwrap();
    publish!(client, "topic", sync(-1)).await.unwrap();
    let got = collect_calls(&mut py).await;
    let mut want: Vec<&str> = EXPECTED_CALLS.to_vec();
    want.push("CALL record ('prefix match',) {}");
    assert_eq!(got, want);
    client.close();
    client.wait_closed().await;
    py.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_python_client_rust_server() {
    let _panics = support::check_library_panics();
    pubsub_python_client_rust_server_on("tcp://127.0.0.1:*").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_python_client_rust_server_over_ipc() {
    let _panics = support::check_library_panics();
    let ipc = support::UnboundIpc::new("pubsub");
    pubsub_python_client_rust_server_on(&ipc.endpoint).await;
}

async fn pubsub_python_client_rust_server_on(bind: &str) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = rpc::serve_pubsub(recorder(tx))
        .bind(bind)
        .subscribe("topic")
        .translation_table(translation_table())
        .await
        .unwrap();
    let endpoint = server.bindings()[0].clone();
    let mut py = Py::spawn(
        "client.py",
        &["pubsub", "--connect", &endpoint, "--topic", "topic"],
    );
    let first = (&mut rx).next_line().await;
    assert!(first.starts_with("CALL sync ("), "{first}");
    py.send_line("GO").await;
    let got = collect_calls(&mut rx).await;
    let mut want: Vec<&str> = EXPECTED_CALLS.to_vec();
    want.push("CALL record ('prefix match',) {}");
    assert_eq!(got, want);
    py.finish().await;
    server.close();
    server.wait_closed().await;
}

// ---- request-reply under CURVE ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_rust_client_python_server_under_curve() {
    let _panics = support::check_library_panics();
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let mut py = Py::spawn(
        "server.py",
        &[
            "rpc",
            "--bind",
            "tcp://127.0.0.1:0",
            // One argument: a Z85 key may start with '-', which argparse would take for
            // an option.
            &format!("--curve-secret={server_secret}"),
        ],
    );
    let endpoint = py.ready().await;
    let client = rpc::connect_rpc()
        .security(SecurityConfig::curve_client(&server_public).unwrap())
        .connect(&endpoint)
        .translation_table(translation_table())
        .timeout(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        client.transport().unwrap().mechanism(),
        aiozmq::zmtp::Mechanism::Curve
    );
    let n: i64 = call!(client, add(1, 2)).await.unwrap();
    assert_eq!(n, 3);
    let s: String = call!(client, ns.sub.concat("x", c = "?")).await.unwrap();
    assert_eq!(s, "x-?");
    let made: Value = call!(client, dt.make("datetime_tz")).await.unwrap();
    assert_eq!(made, make("datetime_tz"));
    let e = call!(client, fail("ValueError", "bad"))
        .await
        .map(|_: Value| ())
        .unwrap_err();
    assert!(matches!(e, Error::Builtin(_)), "{e:?}");
    assert_eq!(exc_of(&e).args(), [Value::from("bad")]);

    // A client holding another server key: libzmq refuses its handshake, the call times
    // out; a client without CURVE gets nothing either.
    let (wrong_public, _) = aiozmq::curve_keypair();
    let stranger = rpc::connect_rpc()
        .security(SecurityConfig::curve_client(&wrong_public).unwrap())
        .connect(&endpoint)
        .timeout(Duration::from_millis(500))
        .await
        .unwrap();
    let r: Result<i64, Error> = call!(stranger, add(1, 2)).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    let plain = rpc::connect_rpc()
        .connect(&endpoint)
        .timeout(Duration::from_millis(500))
        .await
        .unwrap();
    let r: Result<i64, Error> = call!(plain, add(1, 2)).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    // The CURVE client still works.
    let n: i64 = call!(client, add(20, 22)).await.unwrap();
    assert_eq!(n, 42);

    for c in [&client, &stranger, &plain] {
        c.close();
        support::within("close the client", c.wait_closed()).await;
    }
    py.finish().await;
}

/// Runs `client.py ARGS...` to its end; returns its `OK` count, failing on any `FAIL`
/// line or a non-zero exit.
async fn python_client_checks(args: &[&str]) -> usize {
    let mut py = Py::spawn("client.py", args);
    let mut failures = Vec::new();
    let mut oks = 0;
    loop {
        let line = py.line().await;
        if line == "DONE" {
            break;
        } else if let Some(f) = line.strip_prefix("FAIL ") {
            failures.push(f.to_owned());
        } else if line.starts_with("OK ") {
            oks += 1;
        } else {
            py.fail(format!("unexpected line {line}")).await;
        }
    }
    assert!(
        failures.is_empty(),
        "Python client checks failed:\n{}",
        failures.join("\n")
    );
    match tokio::time::timeout(LINE_TIMEOUT, py.child.wait()).await {
        Ok(Ok(s)) if s.success() => {}
        other => py.fail(format!("exit: {other:?}")).await,
    }
    oks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_python_client_rust_server_under_curve() {
    let _panics = support::check_library_panics();
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let server = rpc::serve_rpc(interop_handler(1))
        .security(SecurityConfig::curve_server(&server_secret).unwrap())
        .bind("tcp://127.0.0.1:*")
        .translation_table(translation_table())
        .await
        .expect("serve_rpc");
    let endpoint = server.bindings()[0].clone();
    assert_eq!(
        server.transport().unwrap().mechanism(),
        aiozmq::zmtp::Mechanism::Curve
    );
    let oks = python_client_checks(&[
        "basic",
        "--connect",
        &endpoint,
        // One argument: a Z85 key may start with '-', which argparse would take for
        // an option.
        &format!("--curve-serverkey={server_public}"),
    ])
    .await;
    assert_eq!(oks, 6, "every basic check ran");
    // Python's client with another server key: we refuse its handshake, its call times
    // out.
    let (wrong_public, _) = aiozmq::curve_keypair();
    let oks = python_client_checks(&[
        "basic",
        "--connect",
        &endpoint,
        &format!("--curve-serverkey={wrong_public}"),
        "--expect-refusal",
    ])
    .await;
    assert_eq!(oks, 1, "the refusal check ran");
    server.close();
    support::within("close the server", server.wait_closed()).await;
}
