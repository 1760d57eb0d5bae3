//! `aiozmq proxy`: libzmq's zmq_proxy_steerable between sockets given as `TYPE@EP`.

use std::time::Duration;

use aiozmq::{ErrorKind, Socket, SocketType};

use clap::ArgMatches;

use crate::args::{parse_ms, Attach, SocketSpec};
use crate::runtime::{block_on, new_socket, watch_handshakes, Watch, MONITOR_BACKLOG};
use crate::security::{security_items, Security, SecurityOpts};
use crate::{runtime_error, usage, Failure};

const CMD: &str = "proxy";

const USAGE: &str = "\
aiozmq proxy --frontend SOCKET [SECURITY...] --backend SOCKET [SECURITY...]
       [--capture SOCKET [SECURITY...]] [--control SOCKET [SECURITY...]] [--linger MS]";

const ABOUT: &str = "\
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
ipc:///PATH or ipc://@NAME (Linux abstract), inproc://NAME (useless across processes).";

const AFTER_HELP: &str = "\
SECURITY: the security options apply to the socket option they follow, e.g.
  --frontend router@tcp://*:5555 --curve-server --curve-secretkey KEY \\
  --backend dealer@tcp://*:5556
makes the frontend a CURVE server and leaves the backend without security.

Output, on stdout, one line per endpoint as soon as it is set up, then a last line:
  frontend bound tcp://127.0.0.1:40123      (the actual port when binding port *)
  backend connecting tcp://broker:5556      (connections are made in the background)
  proxy running
Failed handshakes (a client with a wrong key, a refused password) are reported on
stderr, prefixed with the socket's role; the proxy goes on.
The proxy runs until TERMINATE arrives on the control socket (exit status 0), until a
socket fails (status 1), or until it is interrupted (Ctrl-C / SIGINT, or SIGTERM, ends
it at once, as it does a libzmq proxy, with status 130 / 143; messages queued in it are
lost).

Examples:
  aiozmq proxy --frontend router@tcp://*:5555 --backend dealer@tcp://*:5556
  aiozmq proxy --frontend xsub@tcp://*:6000 --backend xpub@tcp://*:6001 \\
               --control rep@tcp://127.0.0.1:6002";

/// `aiozmq proxy`'s options, as clap parses them.
#[derive(clap::Args, Debug)]
#[command(
    about = "Forward messages between two sockets (zmq_proxy_steerable)",
    long_about = ABOUT,
    override_usage = USAGE,
    after_long_help = AFTER_HELP,
    help_template = crate::HELP_TEMPLATE
)]
pub struct ProxyOpts {
    /// The frontend socket
    #[arg(long, value_name = "SOCKET", value_parser = SocketSpec::parse)]
    frontend: SocketSpec,
    /// The backend socket
    #[arg(long, value_name = "SOCKET", value_parser = SocketSpec::parse)]
    backend: SocketSpec,
    /// Also send a copy of every forwarded message here, e.g. pub@tcp://127.0.0.1:5557;
    /// copies are dropped when it is full
    #[arg(long, value_name = "SOCKET", value_parser = SocketSpec::parse)]
    capture: Option<SocketSpec>,
    /// Take commands here, e.g. rep@tcp://127.0.0.1:5558: PAUSE (stop forwarding), RESUME
    /// (forward again), TERMINATE (stop the proxy and exit, status 0), STATISTICS (reply with
    /// 8 frames, each a native-endian u64: frontend parts in, bytes in, parts out, bytes
    /// out, then the same for the backend; a 'part' is a frame, as libzmq 4.3.5 counts). A
    /// REP control socket replies to every command (an empty frame when there is nothing
    /// to report); other types reply to STATISTICS only. Unknown commands are ignored
    #[arg(long, value_name = "SOCKET", value_parser = SocketSpec::parse)]
    control: Option<SocketSpec>,
    /// After TERMINATE, how long to keep flushing queued messages before exiting
    #[arg(long, value_name = "MS", value_parser = parse_ms::<0>, default_value = "1000")]
    linger: Duration,
    #[command(flatten)]
    security: SecurityOpts,
}

const ROLES: [&str; 4] = ["frontend", "backend", "capture", "control"];

/// `aiozmq proxy`'s parsed arguments.
#[derive(Debug)]
struct ProxyArgs {
    frontend: (SocketSpec, Security),
    backend: (SocketSpec, Security),
    capture: Option<(SocketSpec, Security)>,
    control: Option<(SocketSpec, Security)>,
    linger: Duration,
}

fn parse(o: ProxyOpts, m: &ArgMatches) -> Result<ProxyArgs, Failure> {
    // Each security option applies to the socket option (by position) it follows.
    let positions: Vec<(usize, usize)> = ROLES
        .iter()
        .enumerate()
        .filter_map(|(slot, role)| Some((m.index_of(role)?, slot)))
        .collect();
    let mut security: [Security; 4] = Default::default();
    for (at, name, value) in security_items(m) {
        let Some(&(_, slot)) = positions.iter().filter(|(p, _)| *p < at).max() else {
            return Err(usage(
                Some(CMD),
                format!(
                    "{name} must follow the socket it applies to (--frontend, --backend, \
                     --capture or --control)"
                ),
            ));
        };
        security[slot].option(CMD, name, value)?;
    }
    for (s, role) in security.iter().zip(ROLES) {
        s.validate(CMD, Some(role))?;
    }
    let [frontend, backend, capture, control] = security;
    Ok(ProxyArgs {
        frontend: (o.frontend, frontend),
        backend: (o.backend, backend),
        capture: o.capture.map(|c| (c, capture)),
        control: o.control.map(|c| (c, control)),
        linger: o.linger,
    })
}

pub fn run(o: ProxyOpts, m: &ArgMatches) -> Result<(), Failure> {
    block_on(CMD, run_proxy(parse(o, m)?))
}

/// Makes a socket and binds/connects it, printing one line per endpoint on stdout.
async fn open(
    role: &'static str,
    (spec, security): &(SocketSpec, Security),
    linger: Duration,
) -> Result<Socket, Failure> {
    let socket = new_socket(CMD, spec.socket_type, security)?;
    let err = |e: aiozmq::Error| runtime_error(CMD, format!("{role}: {e}"));
    socket.set_linger(linger).map_err(err)?;
    if spec.socket_type == SocketType::Sub {
        // A SUB without subscriptions receives nothing: forward everything.
        socket.subscribe("").map_err(err)?;
    }
    // Failed handshakes are reported on stderr; the proxy goes on.
    drop(watch_handshakes(
        socket.monitor(MONITOR_BACKLOG),
        Watch {
            command: CMD,
            label: format!("{role}: "),
            verbose: false,
            fatal_endpoints: Vec::new(),
        },
    ));
    for a in &spec.attach {
        match a {
            Attach::Bind(ep) => {
                let resolved = socket
                    .bind(ep)
                    .await
                    .map_err(|e| runtime_error(CMD, format!("{role}: cannot bind {ep}: {e}")))?;
                println!("{role} bound {resolved}");
            }
            Attach::Connect(ep) => {
                socket.connect(ep).await.map_err(|e| {
                    runtime_error(CMD, format!("{role}: cannot connect to {ep}: {e}"))
                })?;
                println!("{role} connecting {ep}");
            }
        }
    }
    Ok(socket)
}

async fn run_proxy(args: ProxyArgs) -> Result<(), Failure> {
    let frontend = open("frontend", &args.frontend, args.linger).await?;
    let backend = open("backend", &args.backend, args.linger).await?;
    let capture = match &args.capture {
        Some(s) => Some(open("capture", s, args.linger).await?),
        None => None,
    };
    let control = match &args.control {
        Some(s) => Some(open("control", s, args.linger).await?),
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
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Err(usage(Some(CMD), e.message().trim_start_matches("proxy: ")))
        }
        Err(e) => Err(runtime_error(CMD, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<ProxyArgs, Failure> {
        let (o, m) = crate::test_parse::<ProxyOpts>(CMD, v)?;
        parse(o, &m)
    }

    #[test]
    fn proxy_arguments() {
        let a = p(&[
            "--frontend=router@tcp://*:1",
            "--backend",
            "dealer>tcp://h:2",
            "--linger",
            "5",
        ])
        .unwrap();
        assert_eq!(a.frontend.0.socket_type, SocketType::Router);
        assert_eq!(
            a.backend.0.attach,
            vec![Attach::Connect("tcp://h:2".into())]
        );
        assert_eq!(a.linger, Duration::from_millis(5));
        assert!(a.capture.is_none() && a.control.is_none());
        assert!(a.frontend.1.is_empty() && a.backend.1.is_empty());
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
                matches!(p(bad), Err(Failure::Usage { .. })),
                "{bad:?} should be a usage error"
            );
        }
    }

    #[test]
    fn security_follows_its_socket() {
        let (public, secret) = aiozmq::curve_keypair();
        let a = p(&[
            "--frontend",
            "router@tcp://*:1",
            "--curve-server",
            "--curve-secretkey",
            &secret,
            "--backend",
            "dealer>tcp://h:2",
            "--plain-username",
            "u",
            "--control",
            "rep@tcp://*:3",
        ])
        .unwrap();
        assert!(a.frontend.1.curve_server);
        assert_eq!(a.backend.1.plain_username.as_deref(), Some("u"));
        assert!(a.control.unwrap().1.is_empty());
        let err = format!(
            "{:?}",
            p(&[
                "--curve-server",
                "--frontend",
                "router@tcp://*:1",
                "--backend",
                "dealer@tcp://*:2",
            ])
            .unwrap_err()
        );
        assert!(err.contains("must follow the socket"), "{err}");
        for bad in [
            &[
                "--curve-server",
                "--curve-secretkey",
                &secret,
                "--frontend",
                "router@tcp://*:1",
                "--backend",
                "dealer@tcp://*:2",
            ][..],
            &[
                "--frontend",
                "router@tcp://*:1",
                "--curve-server",
                "--backend",
                "dealer@tcp://*:2",
            ],
            &[
                "--frontend",
                "router@tcp://*:1",
                "--backend",
                "dealer@tcp://*:2",
                "--zap-allow-key",
                &public,
            ],
        ] {
            assert!(
                matches!(p(bad), Err(Failure::Usage { .. })),
                "{bad:?} should be a usage error"
            );
        }
    }
}
