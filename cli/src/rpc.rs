//! `aiozmq rpc`: call, notify and publish to aiozmq RPC services, and serve a demo one,
//! with JSON arguments and results (see [`crate::json`]).

use std::sync::Arc;
use std::time::Duration;

use aiozmq::rpc::{
    self, async_method, method, DictHandler, Error, Exception, Handler, Item, Method, Value,
};
use aiozmq::security::SecurityConfig;

use clap::ArgMatches;

use crate::args::{in_order, parse_bind, parse_connect, parse_ms, Attach};
use crate::runtime::{
    block_on, first_failure, print_line, watch_handshakes, within, Status, Watch, MONITOR_BACKLOG,
};
use crate::security::{Security, SecurityOpts};
use crate::{json, runtime_error, usage, Failure};

const CMD: &str = "rpc";

const USAGE: &str = "\
aiozmq rpc call EP METHOD [ARGS_JSON] [--kwargs JSON] [--timeout MS] [OPTIONS]
       aiozmq rpc notify EP METHOD [ARGS_JSON] [--kwargs JSON] [OPTIONS]
       aiozmq rpc publish EP TOPIC METHOD [ARGS_JSON] [--kwargs JSON] [--wait-ms MS] [OPTIONS]
       aiozmq rpc serve (--bind EP | --connect EP)... [--pattern rpc|pipeline|pubsub]
                        [--topic T]... [OPTIONS]";

const ABOUT: &str = "\
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
print as {\"$repr\": \"PYTHON REPR\"}.";

const AFTER_HELP: &str = "\
Exit status: 0 on success, 1 on a runtime error (a remote exception, a failed
handshake), 2 on a usage error (bad JSON too), 3 when --timeout expired, 130 when
interrupted by Ctrl-C.

Examples:
  aiozmq rpc serve --bind tcp://127.0.0.1:5555
  aiozmq rpc call tcp://127.0.0.1:5555 add '[1, 2]'                 # prints 3
  aiozmq rpc call tcp://127.0.0.1:5555 math.mul --kwargs '{\"a\": 6, \"b\": 7}'
  aiozmq rpc serve --pattern pipeline --bind tcp://127.0.0.1:5556
  aiozmq rpc notify tcp://127.0.0.1:5556 echo '[\"hi\"]'";

/// `aiozmq rpc`'s options, as clap parses them.
#[derive(clap::Args, Debug)]
#[command(
    about = "Call, notify, publish to or serve aiozmq RPC (JSON in and out)",
    long_about = ABOUT,
    override_usage = USAGE,
    after_long_help = AFTER_HELP,
    help_template = crate::HELP_TEMPLATE,
    subcommand_required = true
)]
pub struct RpcOpts {
    #[command(subcommand)]
    sub: RpcSub,
}

#[derive(clap::Subcommand, Debug)]
enum RpcSub {
    /// Request-reply (DEALER, as connect_rpc): call METHOD and print its result as one line
    /// of JSON; a remote exception prints 'error: TYPE: REPR' on stderr (exit status 1)
    #[command(help_template = crate::HELP_TEMPLATE, after_long_help = AFTER_HELP)]
    Call(ClientOpts),
    /// Pipeline (PUSH, as connect_pipeline): send the call, get nothing back
    #[command(help_template = crate::HELP_TEMPLATE, after_long_help = AFTER_HELP)]
    Notify(ClientOpts),
    /// Publish-subscribe (PUB, as connect_pubsub): publish the call under TOPIC
    #[command(help_template = crate::HELP_TEMPLATE, after_long_help = AFTER_HELP)]
    Publish(PublishOpts),
    /// A demo service (ROUTER, PULL or SUB) printing each call it receives as a JSON line
    #[command(help_template = crate::HELP_TEMPLATE, after_long_help = AFTER_HELP)]
    Serve(ServeOpts),
}

/// The options of call and notify (and, flattened, of publish).
#[derive(clap::Args, Debug)]
struct ClientOpts {
    /// The service's endpoint
    #[arg(value_name = "EP")]
    endpoint: String,
    /// The method's name (dotted: ns.method)
    #[arg(value_name = "METHOD")]
    method: String,
    /// The positional arguments, a JSON array
    #[arg(value_name = "ARGS_JSON", allow_hyphen_values = true)]
    args_json: Option<String>,
    /// Keyword arguments (a JSON object)
    #[arg(long, value_name = "JSON")]
    kwargs: Option<String>,
    /// call: exit with status 3 when no reply came within MS milliseconds (default: wait
    /// forever); notify, publish: when the message could not be handed over within MS
    /// milliseconds
    #[arg(long, value_name = "MS", value_parser = parse_ms::<1>)]
    timeout: Option<Duration>,
    /// Bind to EP instead of connecting to it
    #[arg(long)]
    bind: bool,
    /// Accepted for symmetry with serve (nothing is printed but the result)
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    security: SecurityOpts,
}

/// The options of publish.
#[derive(clap::Args, Debug)]
struct PublishOpts {
    /// The service's endpoint
    #[arg(value_name = "EP")]
    endpoint: String,
    /// The topic to publish under
    #[arg(value_name = "TOPIC")]
    topic: String,
    /// The method's name (dotted: ns.method)
    #[arg(value_name = "METHOD")]
    method: String,
    /// The positional arguments, a JSON array
    #[arg(value_name = "ARGS_JSON", allow_hyphen_values = true)]
    args_json: Option<String>,
    /// Keyword arguments (a JSON object)
    #[arg(long, value_name = "JSON")]
    kwargs: Option<String>,
    /// Exit with status 3 when the message could not be handed over within MS milliseconds
    #[arg(long, value_name = "MS", value_parser = parse_ms::<1>)]
    timeout: Option<Duration>,
    /// Wait MS milliseconds after connecting (PUB drops messages until a subscriber's
    /// subscription has arrived)
    #[arg(long, value_name = "MS", value_parser = parse_ms::<0>, default_value = "300")]
    wait_ms: Duration,
    /// Bind to EP instead of connecting to it
    #[arg(long)]
    bind: bool,
    /// Accepted for symmetry with serve (nothing is printed)
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    security: SecurityOpts,
}

/// The options of serve.
#[derive(clap::Args, Debug)]
struct ServeOpts {
    /// Bind to EP (repeatable)
    #[arg(short, long, value_name = "EP", value_parser = parse_bind)]
    bind: Vec<Attach>,
    /// Connect to EP (repeatable)
    #[arg(short, long, value_name = "EP", value_parser = parse_connect)]
    connect: Vec<Attach>,
    /// The service's pattern
    #[arg(long, value_enum, default_value = "rpc")]
    pattern: Pattern,
    /// With --pattern pubsub: subscribe to T (repeatable; default: all)
    #[arg(long, value_name = "T")]
    topic: Vec<String>,
    /// No status lines on stderr ('bound EP', 'ready')
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    security: SecurityOpts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Call,
    Notify,
    Publish,
    Serve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Pattern {
    /// Request-reply (ROUTER, as serve_rpc)
    Rpc,
    /// Pipeline (PULL, as serve_pipeline)
    Pipeline,
    /// Publish-subscribe (SUB, as serve_pubsub)
    #[value(name = "pubsub")]
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

fn parse(o: RpcOpts, m: &ArgMatches) -> Result<RpcArgs, Failure> {
    let (m_name, m) = m.subcommand().unwrap_or(("", m));
    let security = Security::from_matches(CMD, m)?;
    security.validate(CMD, None)?;
    let security = security.to_config().map_err(|e| usage(Some(CMD), e))?;
    let mut a = RpcArgs {
        sub: Sub::Serve,
        endpoint: String::new(),
        topic: String::new(),
        method: String::new(),
        args: Vec::new(),
        kwargs: Vec::new(),
        timeout: None,
        wait: Duration::from_millis(300),
        bind: false,
        attach: Vec::new(),
        pattern: Pattern::Rpc,
        topics: Vec::new(),
        security,
        quiet: false,
    };
    let (endpoint, method, args_json, kwargs) = match o.sub {
        RpcSub::Serve(s) => {
            if s.bind.is_empty() && s.connect.is_empty() {
                return Err(usage(Some(CMD), "rpc serve needs --bind or --connect"));
            }
            if !s.topic.is_empty() && s.pattern != Pattern::PubSub {
                return Err(usage(Some(CMD), "--topic needs --pattern pubsub"));
            }
            a.attach = in_order(m, &["bind", "connect"]);
            a.pattern = s.pattern;
            a.topics = s.topic;
            a.quiet = s.quiet;
            return Ok(a);
        }
        RpcSub::Call(c) | RpcSub::Notify(c) => {
            a.sub = if m_name == "call" {
                Sub::Call
            } else {
                Sub::Notify
            };
            (a.timeout, a.bind, a.quiet) = (c.timeout, c.bind, c.quiet);
            (c.endpoint, c.method, c.args_json, c.kwargs)
        }
        RpcSub::Publish(p) => {
            a.sub = Sub::Publish;
            (a.timeout, a.bind, a.quiet, a.wait) = (p.timeout, p.bind, p.quiet, p.wait_ms);
            a.topic = p.topic;
            (p.endpoint, p.method, p.args_json, p.kwargs)
        }
    };
    Attach::parse(a.bind, &endpoint).map_err(|e| usage(Some(CMD), e))?;
    a.endpoint = endpoint;
    a.method = method;
    if let Some(v) = args_json {
        a.args = parse_json_args(&v)?;
    }
    if let Some(v) = kwargs {
        a.kwargs = parse_json_kwargs(&v)?;
    }
    Ok(a)
}

pub fn run(o: RpcOpts, m: &ArgMatches) -> Result<(), Failure> {
    let a = parse(o, m)?;
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

    fn p(v: &[&str]) -> Result<RpcArgs, Failure> {
        let (o, m) = crate::test_parse::<RpcOpts>(CMD, v)?;
        parse(o, &m)
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
        .unwrap();
        assert_eq!(a.sub, Sub::Call);
        assert_eq!(a.method, "ns.f");
        assert_eq!(a.args, vec![Value::Int(1), Value::Str("x".into())]);
        assert_eq!(a.kwargs, vec![("k".to_string(), Value::Nil)]);
        let a = p(&["publish", "tcp://h:1", "t", "f", "--wait-ms", "0"]).unwrap();
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
        .unwrap();
        assert_eq!(a.pattern, Pattern::PubSub);
        let a = p(&["notify", "tcp://h:1", "f", "--bind", "--timeout", "5"]).unwrap();
        assert_eq!(a.sub, Sub::Notify);
        assert!(a.bind);
        assert_eq!(a.timeout, Some(Duration::from_millis(5)));
        let a = p(&["serve", "-c", "tcp://h:1", "-b", "tcp://*:2"]).unwrap();
        assert_eq!(
            a.attach,
            vec![
                Attach::Connect("tcp://h:1".into()),
                Attach::Bind("tcp://*:2".into())
            ]
        );
        assert_eq!(a.pattern, Pattern::Rpc);
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
