//! `aiozmq monitor`: a socket's monitor events, one line each.

use std::time::Duration;

use aiozmq::SocketType;

use clap::ArgMatches;

use crate::args::{parse_count, parse_ms, SocketArgs, SocketOpts};
use crate::runtime::{attach, block_on, new_socket, print_line, within, Status, MONITOR_BACKLOG};
use crate::security::event_line;
use crate::security::SecurityOpts;
use crate::Failure;

const CMD: &str = "monitor";

const USAGE: &str = "aiozmq monitor --type TYPE (--bind EP | --connect EP)... [OPTIONS]";

const ABOUT: &str = "\
Creates a socket, binds or connects it, and prints its monitor events on stdout as they
happen, one per line:
  EVENT VALUE ENDPOINT [REASON]
EVENT is libzmq's name without ZMQ_EVENT_; VALUE is libzmq's value for it: a file
descriptor (CONNECTED, ACCEPTED, LISTENING, CLOSED, DISCONNECTED), an errno
(CONNECT_DELAYED, BIND_FAILED, ACCEPT_FAILED, HANDSHAKE_FAILED_NO_DETAIL), a reconnect
interval in ms (CONNECT_RETRIED), a ZAP status code (HANDSHAKE_FAILED_AUTH), a protocol
error code (HANDSHAKE_FAILED_PROTOCOL) or 0 (HANDSHAKE_SUCCEEDED). REASON, when there is
one, explains a failure or a disconnection in words. For example:
  LISTENING 9 tcp://127.0.0.1:5555
  ACCEPTED 10 tcp://127.0.0.1:5555
  HANDSHAKE_SUCCEEDED 0 tcp://127.0.0.1:5555
  DISCONNECTED 10 tcp://127.0.0.1:5555 connection closed by peer
  CONNECT_RETRIED 100 tcp://127.0.0.1:6000
The socket reads and discards the messages it receives (REQ and REP sockets receive
none) and sends none. With security options it shows the handshakes succeed or fail.";

const AFTER_HELP: &str = "\
Status lines go to stderr: 'bound EP' per bind, 'connecting EP' per connect, then
'ready'. Events printed before 'ready' are those of setting up (LISTENING, ...).

Exit status: 0 after --count events, 1 runtime error, 2 usage error, 3 --timeout
expired, 130 interrupted by Ctrl-C (143 by SIGTERM).

Examples:
  aiozmq monitor --type dealer --connect tcp://127.0.0.1:5555
  aiozmq monitor --type rep --bind 'tcp://*:5555' --curve-server \\
                 --curve-secretkey \"$SECRET\" --zap-allow-key \"$CLIENT_PUBLIC\"";

/// `aiozmq monitor`'s options, as clap parses them.
#[derive(clap::Args, Debug)]
#[command(
    about = "Print a socket's monitor events as they happen",
    long_about = ABOUT,
    override_usage = USAGE,
    after_long_help = AFTER_HELP,
    help_template = crate::HELP_TEMPLATE
)]
pub struct MonitorOpts {
    #[command(flatten)]
    socket: SocketOpts,
    /// Exit after N events
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_count)]
    count: Option<u64>,
    /// Exit with status 3 when MS milliseconds pass without an event
    #[arg(long, value_name = "MS", value_parser = parse_ms::<1>)]
    timeout: Option<Duration>,
    /// No status lines on stderr
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    security: SecurityOpts,
}

/// `aiozmq monitor`'s parsed arguments.
#[derive(Debug)]
struct MonitorArgs {
    socket: SocketArgs,
    socket_type: SocketType,
    count: Option<u64>,
    timeout: Option<Duration>,
    quiet: bool,
}

fn parse(o: MonitorOpts, m: &ArgMatches) -> Result<MonitorArgs, Failure> {
    let socket = SocketArgs::new(CMD, o.socket, m)?;
    Ok(MonitorArgs {
        socket_type: socket.socket_type,
        socket,
        count: o.count,
        timeout: o.timeout,
        quiet: o.quiet,
    })
}

pub fn run(o: MonitorOpts, m: &ArgMatches) -> Result<(), Failure> {
    block_on(CMD, monitor(parse(o, m)?))
}

async fn monitor(a: MonitorArgs) -> Result<(), Failure> {
    let status = Status { quiet: a.quiet };
    let socket = new_socket(CMD, a.socket_type, &a.socket.security)?;
    let _ = socket.set_linger(Duration::ZERO);
    let mut events = socket.monitor(MONITOR_BACKLOG);
    // Events are printed while the endpoints are being set up.
    let printer = async {
        let mut printed = 0u64;
        loop {
            let ev = match within(a.timeout, events.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => return Ok(()),
                Err(()) => {
                    return Err(Failure::Timeout {
                        command: CMD,
                        message: format!(
                            "no event within {} ms",
                            a.timeout.unwrap_or_default().as_millis()
                        ),
                    })
                }
            };
            print_line(CMD, event_line(&ev).as_bytes())?;
            printed += 1;
            if a.count.is_some_and(|c| printed >= c) {
                return Ok(());
            }
        }
    };
    let drains = !matches!(
        a.socket_type,
        SocketType::Req | SocketType::Rep | SocketType::Push | SocketType::Pub
    );
    let setup_and_drain = async {
        attach(CMD, &socket, &a.socket.attach, status).await?;
        status.line("ready");
        loop {
            if !drains || socket.recv().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    let result = tokio::select! {
        r = printer => r,
        r = setup_and_drain => r,
    };
    drop(socket);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(v: &[&str]) -> Result<MonitorArgs, Failure> {
        let (o, m) = crate::test_parse::<MonitorOpts>(CMD, v)?;
        parse(o, &m)
    }

    #[test]
    fn arguments() {
        let a = parse_args(&[
            "--type",
            "dealer",
            "--connect",
            "tcp://127.0.0.1:1",
            "-n",
            "3",
            "--timeout",
            "100",
        ])
        .unwrap();
        assert_eq!(a.socket_type, SocketType::Dealer);
        assert_eq!(a.count, Some(3));
        assert_eq!(a.timeout, Some(Duration::from_millis(100)));
        let bad: &[&[&str]] = &[
            &[],
            &["--type", "dealer"],
            &["--connect", "tcp://h:1"],
            &["--type", "dealer", "--connect", "tcp://h:1", "--count", "0"],
            &["--type", "dealer", "--connect", "tcp://h:1", "--hex"],
            &[
                "--type",
                "dealer",
                "--connect",
                "tcp://h:1",
                "--plain-password",
                "x",
            ],
        ];
        for b in bad {
            assert!(
                matches!(parse_args(b), Err(Failure::Usage { .. })),
                "{b:?} should be a usage error"
            );
        }
    }
}
