//! `aiozmq rpc`: call, notify and publish to aiozmq RPC services, and serve a demo one,
//! with JSON arguments and results (see [`crate::json`]).

use std::sync::Arc;
use std::time::Duration;

use aiozmq::rpc::{
    self, async_method, method, DictHandler, Error, Exception, Handler, Item, Method, Value,
};
use aiozmq::security::SecurityConfig;

use crate::args::{no_value, once, parse_ms, Arg, Args, Attach};
use crate::runtime::{
    block_on, first_failure, print_line, watch_handshakes, within, Status, Watch, MONITOR_BACKLOG,
};
use crate::security::{Security, OPTIONS_HELP};
use crate::{json, runtime_error, usage, Failure};

const CMD: &str = "rpc";

const HELP_HEAD: &str = "\
Usage: aiozmq rpc call EP METHOD [ARGS_JSON] [--kwargs JSON] [--timeout MS] [OPTIONS]
       aiozmq rpc notify EP METHOD [ARGS_JSON] [--kwargs JSON] [OPTIONS]
       aiozmq rpc publish EP TOPIC METHOD [ARGS_JSON] [--kwargs JSON] [--wait-ms MS] [OPTIONS]
       aiozmq rpc serve (--bind EP | --connect EP)... [--pattern rpc|pipeline|pubsub]
                        [--topic T]... [OPTIONS]

Talks to aiozmq RPC services (Python's aiozmq.rpc, or this crate's), with arguments and
results in JSON.

  call     request-reply (DEALER, as connect_rpc): calls METHOD (dotted: ns.method) and
           prints its result as one line of JSON on stdout. A remote exception prints
           'error: TYPE: REPR' on stderr (exit status 1).
  notify   pipeline (PUSH, as connect_pipeline): sends the call, gets nothing back.
  publish  publish-subscribe (PUB, as connect_pubsub): publishes the call under TOPIC.
           PUB drops messages until a subscriber's subscription has arrived (the
           'slow joiner'): publish waits --wait-ms after connecting (default 300), and a
           message published before a subscriber is ready is lost.
  serve    a demo service (ROUTER, PULL or SUB, as serve_rpc/serve_pipeline/serve_pubsub)
           with the methods add(a, b), echo(x), upper(s), sleep(seconds) (async, returns
           null), fail(message) (raises ValueError(message)) and math.mul(a, b). Prints
           each call it receives on stdout, one JSON line each:
             {\"method\": \"echo\", \"args\": [\"hi\"], \"kwargs\": {}}
           and runs until interrupted.

ARGS_JSON is a JSON array of positional arguments, --kwargs a JSON object of keyword
arguments. JSON maps to Python values: null, booleans, integers (numbers without '.' or
exponent), floats, strings, arrays (tuples), objects (dicts with str keys); bytes are
written {\"$bytes\": \"HEX\"}; dates and times as ISO 8601 text under a tag, as Python's
isoformat() writes them: {\"$date\": \"2026-11-25\"}, {\"$datetime\":
\"2026-11-25T19:34:29.500000+00:00\"} (no offset: naive), {\"$time\": \"19:34:29\"},
{\"$timedelta\": \"-P1DT2H3M4.5S\"} (an ISO 8601 duration), {\"$timezone\": \"+03:00\"};
a named timezone adds \"tzname\" (\"name\" for $timezone), PEP 495's fold \"fold\": 1.
Results print the same way; other values JSON has no form for (ext types, objects)
print as {\"$repr\": \"PYTHON REPR\"}.

Options:
  --kwargs JSON        keyword arguments (a JSON object) (call, notify, publish)
  --timeout MS         call: exit with status 3 when no reply came within MS
                       milliseconds (default: wait forever); notify, publish: when the
                       message could not be handed over within MS milliseconds
  --wait-ms MS         publish: wait MS milliseconds after connecting (default 300)
  --bind               call, notify, publish: bind to EP instead of connecting to it
  -b, --bind EP        serve: bind to EP (repeatable)
  -c, --connect EP     serve: connect to EP (repeatable)
  --pattern P          serve: rpc (default), pipeline or pubsub
  --topic T            serve --pattern pubsub: subscribe to T (repeatable; default: all)
  -q, --quiet          serve: no status lines on stderr ('bound EP', 'ready')
  -h, --help           show this help

";

const HELP_TAIL: &str = "
Exit status: 0 on success, 1 on a runtime error (a remote exception, a failed
handshake), 2 on a usage error (bad JSON too), 3 when --timeout expired, 130 when
interrupted by Ctrl-C.

Examples:
  aiozmq rpc serve --bind tcp://127.0.0.1:5555
  aiozmq rpc call tcp://127.0.0.1:5555 add '[1, 2]'                 # prints 3
  aiozmq rpc call tcp://127.0.0.1:5555 math.mul --kwargs '{\"a\": 6, \"b\": 7}'
  aiozmq rpc serve --pattern pipeline --bind tcp://127.0.0.1:5556
  aiozmq rpc notify tcp://127.0.0.1:5556 echo '[\"hi\"]'
";

pub fn help() -> String {
    format!("{HELP_HEAD}{OPTIONS_HELP}{HELP_TAIL}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Call,
    Notify,
    Publish,
    Serve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Rpc,
    Pipeline,
    PubSub,
}

#[derive(Debug)]
struct RpcArgs {
    sub: Sub,
    endpoint: String,
    topic: String,
    method: String,
    args: Vec<Value>,
    kwargs: Vec<(String, Value)>,
    timeout: Option<Duration>,
    wait: Duration,
    bind: bool,
    attach: Vec<Attach>,
    pattern: Pattern,
    topics: Vec<String>,
    security: SecurityConfig,
    quiet: bool,
}

fn parse_json_args(v: &str) -> Result<Vec<Value>, Failure> {
    match json::parse(v).map_err(|e| usage(Some(CMD), format!("ARGS_JSON: {e}")))? {
        Value::Array(items) => Ok(items),
        _ => Err(usage(
            Some(CMD),
            format!("ARGS_JSON must be a JSON array, not '{v}'"),
        )),
    }
}

fn parse_json_kwargs(v: &str) -> Result<Vec<(String, Value)>, Failure> {
    match json::parse(v).map_err(|e| usage(Some(CMD), format!("--kwargs: {e}")))? {
        Value::Map(items) => Ok(items
            .into_iter()
            .map(|(k, v)| match k {
                Value::Str(k) => (k, v),
                _ => unreachable!("JSON keys are text"),
            })
            .collect()),
        _ => Err(usage(
            Some(CMD),
            format!("--kwargs must be a JSON object, not '{v}'"),
        )),
    }
}

fn parse(mut args: Args) -> Result<Option<RpcArgs>, Failure> {
    let sub = match args.next() {
        None => {
            return Err(usage(
                Some(CMD),
                "no subcommand given (call, notify, publish or serve)",
            ))
        }
        Some(Arg::Option { name, .. }) if name == "-h" || name == "--help" => return Ok(None),
        Some(Arg::Positional(s)) => match s.as_str() {
            "call" => Sub::Call,
            "notify" => Sub::Notify,
            "publish" => Sub::Publish,
            "serve" => Sub::Serve,
            "help" => return Ok(None),
            _ => return Err(usage(Some(CMD), format!("unknown subcommand '{s}'"))),
        },
        Some(Arg::Option { name, .. }) => {
            return Err(usage(
                Some(CMD),
                format!("expected a subcommand before '{name}'"),
            ))
        }
    };
    let mut positional = Vec::new();
    let mut kwargs = None;
    let mut timeout = None;
    let mut wait = None;
    let mut bind = false;
    let mut attach = Vec::new();
    let mut pattern = None;
    let mut topics = Vec::new();
    let mut quiet = false;
    let mut security = Security::default();
    while let Some(a) = args.next() {
        let (name, inline) = match a {
            Arg::Positional(p) => {
                positional.push(p);
                continue;
            }
            Arg::Option { name, inline } => (name, inline),
        };
        let serve = sub == Sub::Serve;
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "-q" | "--quiet" => {
                no_value(CMD, &name, inline)?;
                quiet = true;
            }
            "--kwargs" if !serve => {
                let v = args.value(CMD, &name, inline)?;
                once(CMD, &name, &mut kwargs, parse_json_kwargs(&v)?)?;
            }
            "--timeout" if !serve => {
                let v = args.value(CMD, &name, inline)?;
                once(CMD, &name, &mut timeout, parse_ms(CMD, &name, &v, 1)?)?;
            }
            "--wait-ms" if sub == Sub::Publish => {
                let v = args.value(CMD, &name, inline)?;
                once(CMD, &name, &mut wait, parse_ms(CMD, &name, &v, 0)?)?;
            }
            "--bind" if !serve => {
                no_value(CMD, &name, inline)?;
                bind = true;
            }
            "-b" | "--bind" | "-c" | "--connect" if serve => {
                let v = args.value(CMD, &name, inline)?;
                let is_bind = name == "-b" || name == "--bind";
                attach.push(Attach::parse(is_bind, &v).map_err(|e| usage(Some(CMD), e))?);
            }
            "--pattern" if serve => {
                let v = args.value(CMD, &name, inline)?;
                let p = match v.as_str() {
                    "rpc" => Pattern::Rpc,
                    "pipeline" => Pattern::Pipeline,
                    "pubsub" => Pattern::PubSub,
                    _ => {
                        return Err(usage(
                            Some(CMD),
                            format!("--pattern takes rpc, pipeline or pubsub, not '{v}'"),
                        ))
                    }
                };
                once(CMD, &name, &mut pattern, p)?;
            }
            "--topic" if serve => topics.push(args.value(CMD, &name, inline)?),
            _ => {
                if !security.option(CMD, &name, inline, &mut args)? {
                    return Err(usage(
                        Some(CMD),
                        format!("unknown option '{name}' for rpc {}", sub_name(sub)),
                    ));
                }
            }
        }
    }
    security.validate(CMD, None)?;
    let security = security.to_config().map_err(|e| usage(Some(CMD), e))?;
    let pattern = pattern.unwrap_or(Pattern::Rpc);
    let expected = match sub {
        Sub::Call | Sub::Notify => "EP METHOD [ARGS_JSON]",
        Sub::Publish => "EP TOPIC METHOD [ARGS_JSON]",
        Sub::Serve => "",
    };
    let mut pos = positional.into_iter();
    let mut need = |what: &str| {
        pos.next().ok_or_else(|| {
            usage(
                Some(CMD),
                format!("rpc {} needs {what} ({expected})", sub_name(sub)),
            )
        })
    };
    let (mut endpoint, mut topic, mut method, mut call_args) = Default::default();
    if sub != Sub::Serve {
        endpoint = need("an endpoint")?;
        Attach::parse(bind, &endpoint).map_err(|e| usage(Some(CMD), e))?;
        if sub == Sub::Publish {
            topic = need("a topic")?;
        }
        method = need("a method name")?;
        call_args = match pos.next() {
            Some(a) => parse_json_args(&a)?,
            None => Vec::new(),
        };
    } else {
        if attach.is_empty() {
            return Err(usage(Some(CMD), "rpc serve needs --bind or --connect"));
        }
        if !topics.is_empty() && pattern != Pattern::PubSub {
            return Err(usage(Some(CMD), "--topic needs --pattern pubsub"));
        }
    }
    if let Some(extra) = pos.next() {
        return Err(usage(Some(CMD), format!("unexpected argument '{extra}'")));
    }
    Ok(Some(RpcArgs {
        sub,
        endpoint,
        topic,
        method,
        args: call_args,
        kwargs: kwargs.unwrap_or_default(),
        timeout,
        wait: wait.unwrap_or(Duration::from_millis(300)),
        bind,
        attach,
        pattern,
        topics,
        security,
        quiet,
    }))
}

fn sub_name(sub: Sub) -> &'static str {
    match sub {
        Sub::Call => "call",
        Sub::Notify => "notify",
        Sub::Publish => "publish",
        Sub::Serve => "serve",
    }
}

pub fn run(args: Args) -> Result<(), Failure> {
    let Some(a) = parse(args)? else {
        print!("{}", help());
        return Ok(());
    };
    block_on(CMD, async move {
        match a.sub {
            Sub::Serve => serve(a).await,
            _ => client(a).await,
        }
    })
}

fn rpc_failure(e: Error) -> Failure {
    match e {
        Error::Timeout => Failure::Timeout {
            command: CMD,
            message: "no reply within --timeout".into(),
        },
        e => match e.exception() {
            Some(exc) => {
                // The format the brief promises: `error: TYPE: REPR`.
                runtime_error(CMD, format!("{}: {}", exc.exc_type(), exc.repr()))
            }
            None => runtime_error(CMD, e.to_string()),
        },
    }
}

fn timed_out(what: &str) -> Failure {
    Failure::Timeout {
        command: CMD,
        message: format!("{what} within --timeout"),
    }
}

/// call, notify, publish.
async fn client(a: RpcArgs) -> Result<(), Failure> {
    let ep = a.endpoint.clone();
    macro_rules! open {
        ($builder:expr) => {{
            let b = $builder.security(a.security.clone());
            let b = if a.bind {
                b.bind(ep.clone())
            } else {
                b.connect(ep.clone())
            };
            b.await
                .map_err(|e| runtime_error(CMD, format!("cannot open {ep}: {e}")))?
        }};
    }
    let watch = |socket: &aiozmq::Socket| {
        watch_handshakes(
            socket.monitor(MONITOR_BACKLOG),
            Watch {
                command: CMD,
                label: String::new(),
                verbose: false,
                fatal_endpoints: if a.bind { Vec::new() } else { vec![ep.clone()] },
            },
        )
    };
    match a.sub {
        Sub::Call => {
            let client = open!(rpc::connect_rpc().timeout(a.timeout));
            let mut failures = watch(client.transport().map_err(rpc_failure)?);
            let result = tokio::select! {
                r = client.call(&a.method, a.args, a.kwargs) => r,
                f = first_failure(&mut failures) => return Err(f),
            };
            let v = result.map_err(rpc_failure)?;
            print_line(CMD, json::to_json(&v).as_bytes())?;
            client.close();
            client.wait_closed().await;
        }
        Sub::Notify => {
            let client = open!(rpc::connect_pipeline());
            let mut failures = watch(client.transport().map_err(rpc_failure)?);
            let send = async {
                client
                    .notify(&a.method, a.args, a.kwargs)
                    .await
                    .map_err(rpc_failure)?;
                client.close();
                client.wait_closed().await;
                Ok(())
            };
            tokio::select! {
                r = within(a.timeout, send) => r.map_err(|()| timed_out("not sent"))??,
                f = first_failure(&mut failures) => return Err(f),
            }
        }
        Sub::Publish => {
            let client = open!(rpc::connect_pubsub());
            let mut failures = watch(client.transport().map_err(rpc_failure)?);
            let send = async {
                tokio::time::sleep(a.wait).await;
                client
                    .publish(a.topic.as_bytes())
                    .call(&a.method, a.args, a.kwargs)
                    .await
                    .map_err(rpc_failure)?;
                client.close();
                client.wait_closed().await;
                Ok(())
            };
            tokio::select! {
                r = within(a.timeout, send) => r.map_err(|()| timed_out("not sent"))??,
                f = first_failure(&mut failures) => return Err(f),
            }
        }
        Sub::Serve => unreachable!(),
    }
    Ok(())
}

/// Prints every call as one JSON line on stdout, then runs it.
struct Printing {
    inner: Arc<dyn Handler>,
    prefix: String,
}

impl Handler for Printing {
    fn get(&self, key: &str) -> Option<Item> {
        let name = format!("{}{key}", self.prefix);
        Some(match self.inner.get(key)? {
            Item::Handler(h) => Item::handler(Printing {
                inner: h,
                prefix: format!("{name}."),
            }),
            Item::Method(m) => Item::method(Method::raw_async(move |args, kwargs| {
                let line = json::to_json(&Value::Map(vec![
                    (Value::Str("method".into()), Value::Str(name.clone())),
                    (Value::Str("args".into()), Value::Array(args.clone())),
                    (
                        Value::Str("kwargs".into()),
                        Value::Map(
                            kwargs
                                .iter()
                                .map(|(k, v)| (Value::Str(k.clone()), v.clone()))
                                .collect(),
                        ),
                    ),
                ]));
                let _ = print_line(CMD, line.as_bytes());
                let m = m.clone();
                async move {
                    match m.invoke(args, kwargs) {
                        rpc::Invocation::Ready(r) => r,
                        rpc::Invocation::Pending(f) => f.await,
                    }
                }
            })),
        })
    }
}

fn add(a: Value, b: Value) -> Result<Value, Exception> {
    arith(a, b, |x, y| x.checked_add(y), |x, y| x + y, "+")
}

fn mul(a: Value, b: Value) -> Result<Value, Exception> {
    arith(a, b, |x, y| x.checked_mul(y), |x, y| x * y, "*")
}

fn arith(
    a: Value,
    b: Value,
    int: fn(i128, i128) -> Option<i128>,
    float: fn(f64, f64) -> f64,
    op: &str,
) -> Result<Value, Exception> {
    let f = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    match (&a, &b) {
        (Value::Int(x), Value::Int(y)) => int(*x, *y)
            .map(Value::Int)
            .ok_or_else(|| Exception::builtin("OverflowError", "integer overflow")),
        _ => match (f(&a), f(&b)) {
            (Some(x), Some(y)) => Ok(Value::Float(float(x, y))),
            _ => Err(Exception::type_error(format!(
                "unsupported operand type(s) for {op}: '{}' and '{}'",
                rpc::python_type_name(&a),
                rpc::python_type_name(&b)
            ))),
        },
    }
}

/// The demo service's methods.
fn demo_handler() -> DictHandler {
    DictHandler::new()
        .method("add", method(["a", "b"], add))
        .method("echo", method(["x"], |x: Value| x))
        .method("upper", method(["s"], |s: String| s.to_uppercase()))
        .method(
            "fail",
            method(["message"], |m: String| -> Result<(), Exception> {
                Err(Exception::value_error(m))
            }),
        )
        .method(
            "sleep",
            async_method(["seconds"], |s: f64| async move {
                if !(0.0..=86_400.0).contains(&s) {
                    return Err(Exception::value_error("sleep length must be 0 to 86400"));
                }
                tokio::time::sleep(Duration::from_secs_f64(s)).await;
                Ok(())
            }),
        )
        .handler(
            "math",
            DictHandler::new().method("mul", method(["a", "b"], mul)),
        )
}

async fn serve(a: RpcArgs) -> Result<(), Failure> {
    let status = Status { quiet: a.quiet };
    let handler = Printing {
        inner: Arc::new(demo_handler()),
        prefix: String::new(),
    };
    macro_rules! setup {
        ($builder:expr) => {{
            let mut b = $builder.security(a.security.clone());
            for at in &a.attach {
                b = match at {
                    Attach::Bind(ep) => b.bind(ep.clone()),
                    Attach::Connect(ep) => b.connect(ep.clone()),
                };
            }
            b
        }};
    }
    let open_err = |e: Error| runtime_error(CMD, format!("cannot start the service: {e}"));
    let service: Box<dyn std::ops::Deref<Target = rpc::Service> + Send> = match a.pattern {
        Pattern::Rpc => Box::new(ServiceBox(
            setup!(rpc::serve_rpc(handler)).await.map_err(open_err)?,
        )),
        Pattern::Pipeline => Box::new(ServiceBox(
            setup!(rpc::serve_pipeline(handler))
                .await
                .map_err(open_err)?,
        )),
        Pattern::PubSub => {
            let mut b = setup!(rpc::serve_pubsub(handler));
            if a.topics.is_empty() {
                b = b.subscribe("");
            }
            for t in &a.topics {
                b = b.subscribe(t.as_bytes());
            }
            Box::new(b.await.map_err(open_err)?)
        }
    };
    for ep in service.bindings() {
        status.line(&format!("bound {ep}"));
    }
    for at in &a.attach {
        if let Attach::Connect(ep) = at {
            status.line(&format!("connecting {ep}"));
        }
    }
    let socket = service.transport().map_err(rpc_failure)?;
    let _failures = watch_handshakes(
        socket.monitor(MONITOR_BACKLOG),
        Watch {
            command: CMD,
            label: String::new(),
            verbose: false,
            fatal_endpoints: Vec::new(),
        },
    );
    status.line("ready");
    service.wait_closed().await;
    Err(runtime_error(CMD, "the service stopped"))
}

/// A [`rpc::Service`] behind a `Deref`, like [`rpc::PubSubService`].
struct ServiceBox(rpc::Service);

impl std::ops::Deref for ServiceBox {
    type Target = rpc::Service;
    fn deref(&self) -> &rpc::Service {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Option<RpcArgs>, Failure> {
        parse(Args::new(v.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn parsing() {
        let a = p(&[
            "call",
            "tcp://h:1",
            "ns.f",
            "[1, \"x\"]",
            "--kwargs",
            "{\"k\": null}",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.sub, Sub::Call);
        assert_eq!(a.method, "ns.f");
        assert_eq!(a.args, vec![Value::Int(1), Value::Str("x".into())]);
        assert_eq!(a.kwargs, vec![("k".to_string(), Value::Nil)]);
        let a = p(&["publish", "tcp://h:1", "t", "f", "--wait-ms", "0"])
            .unwrap()
            .unwrap();
        assert_eq!((a.topic.as_str(), a.wait), ("t", Duration::ZERO));
        let a = p(&[
            "serve",
            "-b",
            "tcp://*:1",
            "--pattern",
            "pubsub",
            "--topic",
            "x",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.pattern, Pattern::PubSub);
        assert!(p(&["--help"]).unwrap().is_none());
        for bad in [
            &[][..],
            &["bogus"],
            &["call"],
            &["call", "tcp://h:1"],
            &["call", "tcp://h:1", "f", "{\"a\": 1}"],
            &["call", "tcp://h:1", "f", "[1"],
            &["call", "tcp://h:1", "f", "[]", "extra"],
            &["call", "tcp://h:1", "f", "--kwargs", "[]"],
            &["call", "tcp://h:1", "f", "--topic", "x"],
            &["notify", "tcp://h:1", "f", "--wait-ms", "1"],
            &["serve"],
            &["serve", "-b", "tcp://*:1", "--pattern", "x"],
            &["serve", "-b", "tcp://*:1", "--topic", "x"],
            &["serve", "-b", "tcp://*:1", "--kwargs", "{}"],
            &["serve", "-b", "tcp://*:1", "--curve-server"],
        ] {
            assert!(matches!(p(bad), Err(Failure::Usage { .. })), "{bad:?}");
        }
    }
}
