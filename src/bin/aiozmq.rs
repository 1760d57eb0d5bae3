//! `aiozmq`: the crate's command-line tool.
//!
//! One subcommand per tool (`aiozmq proxy ...`); `aiozmq --help` lists them and
//! `aiozmq COMMAND --help` describes each. Arguments are parsed by hand (no dependency):
//! long options take their value as the next argument or after `=`.
//!
//! Exit status: 0 on success, 1 on a runtime error (a bind that fails, a socket error),
//! 2 on a usage error (the message says what is wrong and where to find help).

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::Duration;

use aiozmq::{Endpoint, ErrorKind, Socket, SocketType};

const HELP: &str = "\
aiozmq: ZeroMQ tools (pure Rust, interoperable with libzmq)

Usage: aiozmq COMMAND [OPTIONS]

Commands:
  proxy     forward messages between two sockets (libzmq's zmq_proxy_steerable)
  help      show this help, or a command's: aiozmq help proxy

Options:
  -h, --help       show this help
  -V, --version    show the version

Sockets are written TYPE@ENDPOINT to bind and TYPE>ENDPOINT to connect, for example
router@tcp://*:5555 or 'dealer>tcp://broker:5556' (see aiozmq proxy --help).

Exit status: 0 on success, 1 on a runtime error, 2 on a usage error.
";

const PROXY_HELP: &str = "\
Usage: aiozmq proxy --frontend SOCKET --backend SOCKET [--capture SOCKET]
                    [--control SOCKET] [--linger MS]

Forwards every message received on the frontend to the backend, and every message
received on the backend to the frontend (each way where the types allow it), multipart
messages intact: libzmq's zmq_proxy_steerable. For example a request broker (ROUTER
frontend for REQ clients, DEALER backend for REP workers) or a pub/sub forwarder (XSUB
frontend for publishers, XPUB backend for subscribers).

SOCKET is a socket type and one or more endpoints, each marked '@' (bind) or '>'
(connect), separated by commas (CZMQ's convention):
  router@tcp://*:5555                 bind
  'dealer>tcp://broker:5556'          connect (quote it: '>' is a shell redirection)
  'xsub@tcp://*:6000,>ipc:///run/up'  bind one endpoint and connect another
TYPE is one of pair pub sub req rep dealer router pull push xpub xsub (any case); a sub
socket subscribes to everything.
ENDPOINT is tcp://HOST:PORT (PORT * picks a free port when binding), tcp://[IPV6]:PORT,
ipc:///PATH or ipc://@NAME (Linux abstract), inproc://NAME (useless across processes).

Options:
  --frontend SOCKET   the frontend socket (required)
  --backend SOCKET    the backend socket (required)
  --capture SOCKET    also send a copy of every forwarded message here, e.g.
                      pub@tcp://127.0.0.1:5557; copies are dropped when it is full
  --control SOCKET    take commands here, e.g. rep@tcp://127.0.0.1:5558:
                        PAUSE       stop forwarding
                        RESUME      forward again
                        TERMINATE   stop the proxy and exit (status 0)
                        STATISTICS  reply with 8 frames, each a native-endian u64:
                                    frontend parts in, bytes in, parts out, bytes
                                    out, then the same for the backend (a 'part' is
                                    a frame, as libzmq 4.3.5 counts)
                      A REP control socket replies to every command (an empty frame
                      when there is nothing to report); other types reply to
                      STATISTICS only. Unknown commands are ignored.
  --linger MS         after TERMINATE, how long to keep flushing queued messages
                      before exiting (default 1000)
  -h, --help          show this help

Output, on stdout, one line per endpoint as soon as it is set up, then a last line:
  frontend bound tcp://127.0.0.1:40123      (the actual port when binding port *)
  backend connecting tcp://broker:5556      (connections are made in the background)
  proxy running
The proxy runs until TERMINATE arrives on the control socket (exit status 0), until a
socket fails (status 1), or until it is interrupted (Ctrl-C / SIGINT ends the process at
once, as it does a libzmq proxy; messages queued in it are lost).

Examples:
  aiozmq proxy --frontend router@tcp://*:5555 --backend dealer@tcp://*:5556
  aiozmq proxy --frontend xsub@tcp://*:6000 --backend xpub@tcp://*:6001 \\
               --control rep@tcp://127.0.0.1:6002
";

fn main() -> ExitCode {
    let args: VecDeque<String> = std::env::args().skip(1).collect();
    match run(Args::new(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage { command, message }) => {
            let (prefix, help) = match command {
                Some(c) => (format!("aiozmq {c}"), format!("aiozmq {c} --help")),
                None => ("aiozmq".to_string(), "aiozmq --help".to_string()),
            };
            eprintln!("{prefix}: {message}\nTry '{help}' for more information.");
            ExitCode::from(2)
        }
        Err(Failure::Runtime { command, message }) => {
            eprintln!("aiozmq {command}: error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Why the tool stops with a non-zero status.
#[derive(Debug)]
enum Failure {
    /// Bad arguments (exit status 2).
    Usage {
        command: Option<&'static str>,
        message: String,
    },
    /// Something failed while running (exit status 1).
    Runtime {
        command: &'static str,
        message: String,
    },
}

fn usage(command: Option<&'static str>, message: impl Into<String>) -> Failure {
    Failure::Usage {
        command,
        message: message.into(),
    }
}

/// The top level: global options, then the subcommand dispatch.
fn run(mut args: Args) -> Result<(), Failure> {
    let Some(first) = args.next_raw() else {
        return Err(usage(None, "no command given"));
    };
    match first.as_str() {
        "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        "-V" | "--version" => {
            println!("aiozmq {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        "help" => match args.next_raw().as_deref() {
            None => {
                print!("{HELP}");
                Ok(())
            }
            Some("proxy") => {
                print!("{PROXY_HELP}");
                Ok(())
            }
            Some(other) => Err(usage(
                None,
                format!("no help for unknown command '{other}'"),
            )),
        },
        "proxy" => proxy_command(args),
        other if other.starts_with('-') => Err(usage(None, format!("unknown option '{other}'"))),
        other => Err(usage(None, format!("unknown command '{other}'"))),
    }
}

// ---- argument parsing -------------------------------------------------------------------

/// One parsed command-line item.
#[derive(Debug, PartialEq, Eq)]
enum Arg {
    /// `--name` or `-x`, with the value given inline after `=` if any.
    Option {
        name: String,
        inline: Option<String>,
    },
    /// Anything else (or anything after `--`).
    Positional(String),
}

/// A hand-written parser over the remaining arguments, shared by the subcommands.
#[derive(Debug)]
struct Args {
    rest: VecDeque<String>,
    only_positional: bool,
}

impl Args {
    fn new(rest: VecDeque<String>) -> Args {
        Args {
            rest,
            only_positional: false,
        }
    }

    /// The next argument as written.
    fn next_raw(&mut self) -> Option<String> {
        self.rest.pop_front()
    }

    /// The next option or positional argument.
    fn next(&mut self) -> Option<Arg> {
        let a = self.rest.pop_front()?;
        if self.only_positional || a == "-" || !a.starts_with('-') {
            return Some(Arg::Positional(a));
        }
        if a == "--" {
            self.only_positional = true;
            return self.next();
        }
        if a.starts_with("--") {
            if let Some((name, value)) = a.split_once('=') {
                return Some(Arg::Option {
                    name: name.to_string(),
                    inline: Some(value.to_string()),
                });
            }
        }
        Some(Arg::Option {
            name: a,
            inline: None,
        })
    }

    /// The value of option `name`: the inline one, else the next argument.
    fn value(
        &mut self,
        command: &'static str,
        name: &str,
        inline: Option<String>,
    ) -> Result<String, Failure> {
        match inline {
            Some(v) => Ok(v),
            None => self
                .rest
                .pop_front()
                .ok_or_else(|| usage(Some(command), format!("option '{name}' needs a value"))),
        }
    }
}

/// Where a socket attaches: bind or connect to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attach {
    Bind(String),
    Connect(String),
}

/// A socket given on the command line: `TYPE@EP` / `TYPE>EP`, comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SocketSpec {
    socket_type: SocketType,
    attach: Vec<Attach>,
}

impl SocketSpec {
    fn parse(spec: &str) -> Result<SocketSpec, String> {
        let Some(at) = spec.find(['@', '>']) else {
            return Err(format!(
                "'{spec}' is not TYPE@ENDPOINT (bind) or TYPE>ENDPOINT (connect)"
            ));
        };
        let type_name = &spec[..at];
        let socket_type = SocketType::from_name(type_name.as_bytes()).ok_or_else(|| {
            format!(
                "unknown socket type '{type_name}' in '{spec}' (expected pair, pub, sub, req, \
                 rep, dealer, router, pull, push, xpub or xsub)"
            )
        })?;
        let mut attach = Vec::new();
        for item in spec[at..].split(',') {
            let (bind, endpoint) = match item.split_at_checked(1) {
                Some(("@", ep)) => (true, ep),
                Some((">", ep)) => (false, ep),
                _ => {
                    return Err(format!(
                        "in '{spec}': '{item}' must start with '@' (bind) or '>' (connect)"
                    ))
                }
            };
            let parsed = Endpoint::parse(endpoint).map_err(|e| format!("in '{spec}': {e}"))?;
            if let (false, Endpoint::Tcp { host, port }) = (bind, &parsed) {
                if host == "*" || port.is_none() {
                    return Err(format!(
                        "in '{spec}': cannot connect to a wildcard address '{endpoint}'"
                    ));
                }
            }
            attach.push(if bind {
                Attach::Bind(endpoint.to_string())
            } else {
                Attach::Connect(endpoint.to_string())
            });
        }
        Ok(SocketSpec {
            socket_type,
            attach,
        })
    }
}

// ---- proxy ------------------------------------------------------------------------------

/// `aiozmq proxy`'s parsed arguments.
#[derive(Debug)]
struct ProxyArgs {
    frontend: SocketSpec,
    backend: SocketSpec,
    capture: Option<SocketSpec>,
    control: Option<SocketSpec>,
    linger: Duration,
}

fn parse_proxy_args(mut args: Args) -> Result<Option<ProxyArgs>, Failure> {
    const CMD: &str = "proxy";
    let mut specs: [Option<SocketSpec>; 4] = [None, None, None, None];
    let mut linger = None;
    while let Some(arg) = args.next() {
        let (name, inline) = match arg {
            Arg::Positional(p) => {
                return Err(usage(Some(CMD), format!("unexpected argument '{p}'")))
            }
            Arg::Option { name, inline } => (name, inline),
        };
        let slot = match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--frontend" => 0,
            "--backend" => 1,
            "--capture" => 2,
            "--control" => 3,
            "--linger" => {
                let v = args.value(CMD, &name, inline)?;
                let ms: u64 = v.parse().map_err(|_| {
                    usage(
                        Some(CMD),
                        format!("--linger takes milliseconds (a whole number), not '{v}'"),
                    )
                })?;
                if linger.replace(Duration::from_millis(ms)).is_some() {
                    return Err(usage(Some(CMD), "--linger given twice"));
                }
                continue;
            }
            other => return Err(usage(Some(CMD), format!("unknown option '{other}'"))),
        };
        let v = args.value(CMD, &name, inline)?;
        let spec = SocketSpec::parse(&v).map_err(|m| usage(Some(CMD), format!("{name}: {m}")))?;
        if specs[slot].replace(spec).is_some() {
            return Err(usage(
                Some(CMD),
                format!("{name} given twice (list several endpoints in one, comma-separated)"),
            ));
        }
    }
    let [frontend, backend, capture, control] = specs;
    let frontend = frontend.ok_or_else(|| usage(Some(CMD), "--frontend is required"))?;
    let backend = backend.ok_or_else(|| usage(Some(CMD), "--backend is required"))?;
    Ok(Some(ProxyArgs {
        frontend,
        backend,
        capture,
        control,
        linger: linger.unwrap_or(Duration::from_millis(1000)),
    }))
}

fn proxy_command(args: Args) -> Result<(), Failure> {
    let Some(args) = parse_proxy_args(args)? else {
        print!("{PROXY_HELP}");
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime {
            command: "proxy",
            message: format!("cannot start the runtime: {e}"),
        })?;
    runtime.block_on(run_proxy(args))
}

/// Makes a socket and binds/connects it, printing one line per endpoint.
async fn open(role: &str, spec: &SocketSpec, linger: Duration) -> Result<Socket, String> {
    let socket = Socket::new(spec.socket_type);
    socket
        .set_linger(linger)
        .map_err(|e| format!("{role}: {e}"))?;
    if spec.socket_type == SocketType::Sub {
        // A SUB without subscriptions receives nothing: forward everything.
        socket.subscribe("").map_err(|e| format!("{role}: {e}"))?;
    }
    for a in &spec.attach {
        match a {
            Attach::Bind(ep) => {
                let resolved = socket
                    .bind(ep)
                    .await
                    .map_err(|e| format!("{role}: cannot bind {ep}: {e}"))?;
                println!("{role} bound {resolved}");
            }
            Attach::Connect(ep) => {
                socket
                    .connect(ep)
                    .await
                    .map_err(|e| format!("{role}: cannot connect to {ep}: {e}"))?;
                println!("{role} connecting {ep}");
            }
        }
    }
    Ok(socket)
}

async fn run_proxy(args: ProxyArgs) -> Result<(), Failure> {
    let runtime_error = |message| Failure::Runtime {
        command: "proxy",
        message,
    };
    let frontend = open("frontend", &args.frontend, args.linger)
        .await
        .map_err(runtime_error)?;
    let backend = open("backend", &args.backend, args.linger)
        .await
        .map_err(runtime_error)?;
    let capture = match &args.capture {
        Some(s) => Some(
            open("capture", s, args.linger)
                .await
                .map_err(runtime_error)?,
        ),
        None => None,
    };
    let control = match &args.control {
        Some(s) => Some(
            open("control", s, args.linger)
                .await
                .map_err(runtime_error)?,
        ),
        None => None,
    };
    println!("proxy running");
    let result =
        aiozmq::proxy_steerable(&frontend, &backend, capture.as_ref(), control.as_ref()).await;
    match result {
        Ok(()) => {
            // TERMINATE: flush what is queued (the control reply among it) for up to LINGER.
            let close_opt = |s: Option<Socket>| async move {
                if let Some(s) = s {
                    s.close().await
                }
            };
            tokio::join!(
                frontend.close(),
                backend.close(),
                close_opt(capture),
                close_opt(control)
            );
            Ok(())
        }
        // The proxy fails with EINVAL only in its up-front checks of the socket types
        // (a combination that cannot work): a usage error.
        Err(e) if e.kind() == ErrorKind::InvalidInput => Err(usage(
            Some("proxy"),
            e.message().trim_start_matches("proxy: "),
        )),
        Err(e) => Err(runtime_error(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Args {
        Args::new(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn socket_specs() {
        let s = SocketSpec::parse("ROUTER@tcp://*:5555").unwrap();
        assert_eq!(s.socket_type, SocketType::Router);
        assert_eq!(s.attach, vec![Attach::Bind("tcp://*:5555".into())]);
        let s = SocketSpec::parse("xsub@tcp://*:*,>ipc:///tmp/x,@ipc://@y").unwrap();
        assert_eq!(s.socket_type, SocketType::XSub);
        assert_eq!(
            s.attach,
            vec![
                Attach::Bind("tcp://*:*".into()),
                Attach::Connect("ipc:///tmp/x".into()),
                Attach::Bind("ipc://@y".into()),
            ]
        );
        for bad in [
            "router",
            "rooter@tcp://*:1",
            "@tcp://*:1",
            "dealer@tcp://*:1,tcp://*:2",
            "dealer@udp://x:1",
            "dealer>tcp://*:1",
            "dealer>tcp://h:*",
            "dealer@",
        ] {
            assert!(SocketSpec::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn proxy_arguments() {
        let a = parse_proxy_args(args(&[
            "--frontend=router@tcp://*:1",
            "--backend",
            "dealer>tcp://h:2",
            "--linger",
            "5",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.frontend.socket_type, SocketType::Router);
        assert_eq!(a.backend.attach, vec![Attach::Connect("tcp://h:2".into())]);
        assert_eq!(a.linger, Duration::from_millis(5));
        assert!(a.capture.is_none() && a.control.is_none());
        assert!(parse_proxy_args(args(&["--help"])).unwrap().is_none());
        for bad in [
            &["--frontend", "router@tcp://*:1"][..],
            &["--backend", "router@tcp://*:1"],
            &["--frontend", "router@tcp://*:1", "--backend"],
            &["--frontend", "x@tcp://*:1", "--backend", "dealer@tcp://*:2"],
            &[
                "--frontend",
                "router@tcp://*:1",
                "--frontend",
                "router@tcp://*:3",
                "--backend",
                "dealer@tcp://*:2",
            ],
            &[
                "--frontend",
                "router@tcp://*:1",
                "--backend",
                "dealer@tcp://*:2",
                "extra",
            ],
            &[
                "--frontend",
                "router@tcp://*:1",
                "--backend",
                "dealer@tcp://*:2",
                "--bogus",
            ],
            &[
                "--frontend",
                "router@tcp://*:1",
                "--backend",
                "dealer@tcp://*:2",
                "--linger=x",
            ],
        ] {
            assert!(
                matches!(parse_proxy_args(args(bad)), Err(Failure::Usage { .. })),
                "{bad:?} should be a usage error"
            );
        }
    }
}
