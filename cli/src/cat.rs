//! `aiozmq cat`: lines of stdin out as messages, received messages out as lines.

use std::time::Duration;

use aiozmq::socket::{opt, OptValue};
use aiozmq::{ErrorKind, Message, Socket, SocketType};
use bytes::Bytes;
use std::io::BufRead;
use tokio::sync::mpsc;

use clap::ArgMatches;

use crate::args::{parse_count, parse_ms, SocketArgs, SocketOpts};
use crate::format::{unescape, Format};
use crate::runtime::{
    attach, block_on, first_failure, new_socket, print_line, watch_handshakes, within, Status,
    Watch, MONITOR_BACKLOG,
};
use crate::security::SecurityOpts;
use crate::{runtime_error, usage, Failure};

const CMD: &str = "cat";

const USAGE: &str = "aiozmq cat --type TYPE (--bind EP | --connect EP)... [OPTIONS]";

const ABOUT: &str = "\
Sends the lines of standard input as messages and prints the messages it receives on
standard output, one per line: a netcat for ZeroMQ, for use with any libzmq program.

Line format: one line is one message; its frames are separated by a TAB (see
--separator). Frames are written as they are (bytes, not necessarily UTF-8), or in hex
with --hex (lower case out, either case in): use --hex for binary data and for frames
that hold the separator or a newline. An empty line is a message of one empty frame.
Only the line's final newline is removed (a '\\r' before it stays).

What it does, by socket type:
  PUSH, PUB             send each line; exit at the end of the input
  PULL, SUB             print each message received
  DEALER, ROUTER, PAIR, both at once: send each line and print each message received;
  XPUB, XSUB, STREAM    the end of the input stops the sending, not the receiving
  REQ                   for each line: send it, wait for the reply, print the reply;
                        exit at the end of the input
  REP                   for each request: print it, then send the next line as the
                        reply; exit at the end of the input (a request read then is
                        printed but not answered)
A ROUTER's messages start with the peer's routing id frame, both the ones it prints and
the ones it sends; a message for an unknown routing id is reported on stderr and
dropped. libzmq generates binary routing ids: use --hex, or give the peers an identity.
A STREAM talks to plain TCP peers (no ZeroMQ): it prints ROUTING_ID<TAB>DATA for each
piece of data a peer sent, and ROUTING_ID<TAB> (an empty frame) when a peer connects or
disconnects; a line ROUTING_ID<TAB>DATA writes DATA to that peer, and ROUTING_ID<TAB>
closes its connection. Its routing ids are binary: use --hex.
An XPUB prints the subscriptions it receives (a frame \\x01TOPIC, or \\x00TOPIC to
unsubscribe); an XSUB sends lines as they are (\\x01TOPIC subscribes).";

const AFTER_HELP: &str = "\
Output: stdout has the received messages and nothing else. stderr has status lines:
'bound EP' for each bind (the actual port for tcp://HOST:*), 'connecting EP' for each
connect, then 'ready' once the socket is set up (and subscribed); then errors and
warnings, prefixed 'aiozmq cat:'.

A connection made with --connect whose handshake fails (a wrong CURVE key, a refused
PLAIN password, another security mechanism, not a ZeroMQ peer) stops the command with
status 1 and the reason on stderr, where libzmq would retry forever. A failed handshake
of an accepted connection (--bind) is reported on stderr and the command goes on.

Exit status: 0 done (end of the input, or --count reached), 1 runtime error, 2 usage
error, 3 --timeout expired, 130 interrupted by Ctrl-C (143 by SIGTERM). At the end of
the input, after --count and after a malformed input line, messages still queued are
delivered for up to --linger; after a timeout or a signal they are dropped.

Examples:
  aiozmq cat --type pull --bind 'tcp://*:5555'
  printf 'hello\\tworld\\n' | aiozmq cat --type push --connect tcp://127.0.0.1:5555
  aiozmq cat --type rep --bind 'tcp://*:5556' --echo
  echo ping | aiozmq cat --type req --connect tcp://127.0.0.1:5556
  aiozmq cat --type sub --connect tcp://127.0.0.1:5557 --subscribe weather --count 10
  aiozmq cat --type router --bind 'tcp://*:5558' --hex --recv";

/// `aiozmq cat`'s options, as clap parses them.
#[derive(clap::Args, Debug)]
#[command(
    about = "Send lines from stdin as messages, print received messages",
    long_about = ABOUT,
    override_usage = USAGE,
    after_long_help = AFTER_HELP,
    help_template = crate::HELP_TEMPLATE
)]
pub struct CatOpts {
    #[command(flatten)]
    socket: SocketOpts,
    /// Only send (the lines of stdin)
    #[arg(long)]
    send: bool,
    /// Only receive (stdin is not read). --send and --recv together: both at once;
    /// neither: the type's default above. Not for REQ and REP
    #[arg(long)]
    recv: bool,
    /// Send every received message back unchanged, instead of reading stdin (REP, ROUTER,
    /// DEALER, PAIR): an echo server
    #[arg(long)]
    echo: bool,
    /// Exit after N received messages (REQ: replies; REP: requests, once the Nth is
    /// answered)
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_count)]
    count: Option<u64>,
    /// Exit with status 3 when a receive waits MS milliseconds for a message (counted from
    /// the start, and from the last message), or a send waits MS for a peer to take its
    /// message
    #[arg(long, value_name = "MS", value_parser = parse_ms::<1>)]
    timeout: Option<Duration>,
    /// SUB, XSUB: receive the messages whose first frame starts with PREFIX (repeatable;
    /// default: every message)
    #[arg(long, value_name = "PREFIX")]
    subscribe: Vec<String>,
    /// The socket's routing id (ZMQ_ROUTING_ID)
    #[arg(long, value_name = "ID")]
    identity: Option<String>,
    /// Frames, PREFIX and ID are hex
    #[arg(long)]
    hex: bool,
    /// The frame separator (default TAB); in SEP, \t is a TAB, \\ a backslash and \xHH
    /// the byte HH
    #[arg(long, value_name = "SEP")]
    separator: Option<String>,
    /// At exit, how long to go on delivering queued messages
    #[arg(long, value_name = "MS", value_parser = parse_ms::<0>, default_value = "30000")]
    linger: Duration,
    /// Set a socket option as libzmq's zmq_setsockopt would (repeatable, applied in order
    /// after the options above): NAME is libzmq's name without ZMQ_ (any case, e.g. sndhwm,
    /// CURVE_SERVERKEY) or its number; VALUE is an integer for integer options, and for
    /// bytes options the UTF-8 text, or hex after a 0x prefix
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_sockopt)]
    sockopt: Vec<(i32, OptValue)>,
    /// No status lines on stderr
    #[arg(short, long)]
    quiet: bool,
    /// Also print the socket's monitor events on stderr, as 'event NAME VALUE ENDPOINT',
    /// then the reason when there is one (see aiozmq monitor)
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    security: SecurityOpts,
}

/// What the command does with its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Send,
    Recv,
    Both,
    Req,
    Rep,
    Echo,
}

fn can_send(t: SocketType) -> bool {
    !matches!(t, SocketType::Pull | SocketType::Sub)
}

fn can_recv(t: SocketType) -> bool {
    !matches!(t, SocketType::Push | SocketType::Pub)
}

/// `aiozmq cat`'s parsed arguments.
#[derive(Debug)]
struct CatArgs {
    socket: SocketArgs,
    socket_type: SocketType,
    mode: Mode,
    subscribe: Vec<Bytes>,
    identity: Option<Bytes>,
    sockopts: Vec<(i32, OptValue)>,
    count: Option<u64>,
    timeout: Option<Duration>,
    linger: Duration,
    format: Format,
    quiet: bool,
    verbose: bool,
}

fn parse(o: CatOpts, m: &ArgMatches) -> Result<CatArgs, Failure> {
    let socket = SocketArgs::new(CMD, o.socket, m)?;
    let CatOpts {
        send,
        recv,
        echo,
        hex,
        quiet,
        verbose,
        subscribe,
        identity,
        sockopt: sockopts,
        count,
        timeout,
        linger,
        ..
    } = o;
    let separator = match o.separator {
        None => None,
        Some(v) => Some(unescape(&v).map_err(|e| usage(Some(CMD), format!("--separator: {e}")))?),
    };
    let socket_type = socket.socket_type;
    let format = Format {
        hex,
        separator: separator.unwrap_or_else(|| b"\t".to_vec()),
    };
    format
        .check()
        .map_err(|e| usage(Some(CMD), format!("--separator: {e}")))?;

    let t = socket_type;
    let mode = if echo {
        if send || recv {
            return Err(usage(Some(CMD), "--echo excludes --send and --recv"));
        }
        if !matches!(
            t,
            SocketType::Rep | SocketType::Router | SocketType::Dealer | SocketType::Pair
        ) {
            return Err(usage(
                Some(CMD),
                format!("--echo is for REP, ROUTER, DEALER and PAIR sockets, not {t}"),
            ));
        }
        Mode::Echo
    } else if matches!(t, SocketType::Req | SocketType::Rep) {
        if send || recv {
            return Err(usage(
                Some(CMD),
                format!(
                    "{t} sockets alternate sending and receiving: --send and --recv do not apply"
                ),
            ));
        }
        if t == SocketType::Req {
            Mode::Req
        } else {
            Mode::Rep
        }
    } else if send || recv {
        if send && !can_send(t) {
            return Err(usage(Some(CMD), format!("{t} sockets cannot send")));
        }
        if recv && !can_recv(t) {
            return Err(usage(Some(CMD), format!("{t} sockets cannot receive")));
        }
        match (send, recv) {
            (true, true) => Mode::Both,
            (true, false) => Mode::Send,
            _ => Mode::Recv,
        }
    } else if !can_recv(t) {
        Mode::Send
    } else if !can_send(t) {
        Mode::Recv
    } else {
        Mode::Both
    };
    if mode == Mode::Send && count.is_some() {
        return Err(usage(
            Some(CMD),
            "--count counts received messages, and this socket only sends",
        ));
    }
    if !subscribe.is_empty() && !matches!(t, SocketType::Sub | SocketType::XSub) {
        return Err(usage(
            Some(CMD),
            format!("--subscribe is for SUB and XSUB sockets, not {t}"),
        ));
    }
    let subscribe = subscribe
        .iter()
        .map(|p| format.frame(p.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| usage(Some(CMD), format!("--subscribe: {e}")))?;
    let identity = match identity {
        None => None,
        Some(id) => {
            let id = format
                .frame(id.as_bytes())
                .map_err(|e| usage(Some(CMD), format!("--identity: {e}")))?;
            if id.is_empty() || id.len() > 255 || id[0] == 0 {
                return Err(usage(
                    Some(CMD),
                    "--identity takes 1 to 255 bytes, not starting with a zero byte",
                ));
            }
            Some(id)
        }
    };
    Ok(CatArgs {
        socket,
        socket_type,
        mode,
        subscribe,
        identity,
        sockopts,
        count,
        timeout,
        linger,
        format,
        quiet,
        verbose,
    })
}

/// `NAME=VALUE` of `--sockopt`: the option's number and its value, of the kind the option
/// takes (an integer, or bytes: UTF-8 text or `0x` hex).
fn parse_sockopt(arg: &str) -> Result<(i32, OptValue), String> {
    let (name, value) = arg
        .split_once('=')
        .ok_or_else(|| format!("'{arg}' is not NAME=VALUE"))?;
    let option = opt::by_name(name).ok_or_else(|| format!("unknown socket option '{name}'"))?;
    let value = match opt::kind_of(option) {
        Some(opt::Kind::Bytes) => match value.strip_prefix("0x") {
            Some(hex) => {
                let as_hex = Format {
                    hex: true,
                    ..Format::default()
                };
                OptValue::Bytes(
                    as_hex
                        .frame(hex.as_bytes())
                        .map_err(|e| format!("{name}: {e}"))?,
                )
            }
            None => OptValue::from(value),
        },
        Some(opt::Kind::Int) => OptValue::Int(
            value
                .parse()
                .map_err(|_| format!("{name} takes an integer, not '{value}'"))?,
        ),
        None => return Err(format!("libzmq has no socket option {option}")),
    };
    Ok((option, value))
}

pub fn run(o: CatOpts, m: &ArgMatches) -> Result<(), Failure> {
    block_on(CMD, cat(parse(o, m)?))
}

/// The lines of stdin, decoded. A thread reads them (blocking reads, which the process
/// does not wait for at exit) a few lines ahead of the sending.
struct Input {
    lines: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    line: u64,
}

impl Input {
    fn new() -> Input {
        let (tx, lines) = mpsc::channel(16);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut buf = Vec::new();
                match stdin.read_until(b'\n', &mut buf) {
                    Ok(0) => return,
                    Ok(_) => {
                        if buf.last() == Some(&b'\n') {
                            buf.pop();
                        }
                        if tx.blocking_send(Ok(buf)).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        Input { lines, line: 0 }
    }

    /// The next message; `None` at the end of the input.
    async fn next(&mut self, format: &Format) -> Result<Option<Message>, Failure> {
        let line = match self.lines.recv().await {
            None => return Ok(None),
            Some(Ok(line)) => line,
            Some(Err(e)) => return Err(runtime_error(CMD, format!("cannot read stdin: {e}"))),
        };
        self.line += 1;
        format
            .decode(&line)
            .map(Some)
            .map_err(|e| runtime_error(CMD, format!("stdin line {}: {e}", self.line)))
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Sends `msg`, waiting at most `timeout` for a peer to take it.
async fn send(
    socket: &Socket,
    msg: Message,
    timeout: Option<Duration>,
    format: &Format,
) -> Result<(), Failure> {
    let id = matches!(
        socket.socket_type(),
        SocketType::Router | SocketType::Stream
    )
    .then(|| msg.first().cloned())
    .flatten();
    match within(timeout, socket.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.kind() == ErrorKind::HostUnreachable => {
            let id = id
                .map(|i| format.encode(&Message::from(i)))
                .unwrap_or_default();
            eprintln!(
                "aiozmq {CMD}: warning: no peer with routing id '{}': message dropped",
                String::from_utf8_lossy(&id)
            );
            Ok(())
        }
        Ok(Err(e)) => Err(runtime_error(CMD, format!("send failed: {e}"))),
        Err(()) => Err(Failure::Timeout {
            command: CMD,
            message: format!(
                "no peer took the message within {} ms",
                ms(timeout.unwrap_or_default())
            ),
        }),
    }
}

/// Receives one message, waiting at most `timeout`.
async fn recv(socket: &Socket, timeout: Option<Duration>) -> Result<Message, Failure> {
    match within(timeout, socket.recv()).await {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(runtime_error(CMD, format!("receive failed: {e}"))),
        Err(()) => Err(Failure::Timeout {
            command: CMD,
            message: format!("no message within {} ms", ms(timeout.unwrap_or_default())),
        }),
    }
}

fn print(format: &Format, msg: &Message) -> Result<(), Failure> {
    print_line(CMD, &format.encode(msg))
}

async fn cat(a: CatArgs) -> Result<(), Failure> {
    let status = Status { quiet: a.quiet };
    let t = a.socket_type;
    let socket = new_socket(CMD, t, &a.socket.security)?;
    let setup = || -> aiozmq::Result<()> {
        socket.set_linger(a.linger)?;
        if let Some(id) = &a.identity {
            socket.set_routing_id(id.clone())?;
        }
        if t == SocketType::Router {
            // Report unroutable messages instead of dropping them silently.
            socket.set_router_mandatory(true)?;
        }
        for (option, value) in &a.sockopts {
            socket.setsockopt(*option, value.clone()).map_err(|e| {
                let name = opt::name_of(*option).unwrap_or("?");
                aiozmq::Error::new(e.kind(), format!("--sockopt {name} ({option}): {e}"))
            })?;
        }
        if t == SocketType::Sub {
            if a.subscribe.is_empty() {
                socket.subscribe("")?;
            }
            for p in &a.subscribe {
                socket.subscribe(p.clone())?;
            }
        }
        Ok(())
    };
    setup().map_err(|e| runtime_error(CMD, e.to_string()))?;
    let fatal_endpoints = a
        .socket
        .attach
        .iter()
        .filter_map(|at| match at {
            crate::args::Attach::Connect(ep) => Some(ep.clone()),
            crate::args::Attach::Bind(_) => None,
        })
        .collect();
    let mut failures = watch_handshakes(
        socket.monitor(MONITOR_BACKLOG),
        Watch {
            command: CMD,
            label: String::new(),
            verbose: a.verbose,
            fatal_endpoints,
        },
    );
    attach(CMD, &socket, &a.socket.attach, status).await?;
    if t == SocketType::XSub {
        let mut subs = a.subscribe.clone();
        if subs.is_empty() {
            subs.push(Bytes::new());
        }
        for p in subs {
            let mut frame = vec![1u8];
            frame.extend_from_slice(&p);
            socket
                .send(frame)
                .await
                .map_err(|e| runtime_error(CMD, format!("cannot subscribe: {e}")))?;
        }
    }
    status.line("ready");

    let result = tokio::select! {
        r = run_mode(&socket, &a) => r,
        f = first_failure(&mut failures) => return Err(f),
    };
    if matches!(&result, Err(f) if !matches!(f, Failure::Runtime { .. })) {
        // A timeout, or stdout closed: stop now.
        return result;
    }
    // Deliver what is still queued (also after a bad input line), for up to --linger.
    tokio::select! {
        () = socket.close() => result,
        f = first_failure(&mut failures) => Err(f),
    }
}

async fn run_mode(socket: &Socket, a: &CatArgs) -> Result<(), Failure> {
    let f = &a.format;
    let timeout = a.timeout;
    let done = |n: u64| a.count.is_some_and(|c| n >= c);
    let mut received = 0u64;
    match a.mode {
        Mode::Send => {
            let mut input = Input::new();
            while let Some(m) = input.next(f).await? {
                send(socket, m, timeout, f).await?;
            }
            Ok(())
        }
        Mode::Recv => loop {
            let m = recv(socket, timeout).await?;
            print(f, &m)?;
            received += 1;
            if done(received) {
                return Ok(());
            }
        },
        Mode::Both => {
            let sender = async {
                let mut input = Input::new();
                while let Some(m) = input.next(f).await? {
                    send(socket, m, timeout, f).await?;
                }
                // The end of the input stops the sending only.
                std::future::pending::<Result<(), Failure>>().await
            };
            let receiver = async {
                loop {
                    let m = recv(socket, timeout).await?;
                    print(f, &m)?;
                    received += 1;
                    if done(received) {
                        return Ok(());
                    }
                }
            };
            tokio::select! {
                r = sender => r,
                r = receiver => r,
            }
        }
        Mode::Req => {
            let mut input = Input::new();
            while let Some(m) = input.next(f).await? {
                send(socket, m, timeout, f).await?;
                let reply = recv(socket, timeout).await?;
                print(f, &reply)?;
                received += 1;
                if done(received) {
                    break;
                }
            }
            Ok(())
        }
        Mode::Rep => {
            let mut input = Input::new();
            loop {
                let request = recv(socket, timeout).await?;
                print(f, &request)?;
                received += 1;
                let Some(reply) = input.next(f).await? else {
                    return Ok(());
                };
                send(socket, reply, timeout, f).await?;
                if done(received) {
                    return Ok(());
                }
            }
        }
        Mode::Echo => loop {
            let m = recv(socket, timeout).await?;
            print(f, &m)?;
            received += 1;
            send(socket, m, timeout, f).await?;
            if done(received) {
                return Ok(());
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Attach;

    fn parse_args(v: &[&str]) -> Result<CatArgs, Failure> {
        let (o, m) = crate::test_parse::<CatOpts>(CMD, v)?;
        parse(o, &m)
    }

    fn mode(v: &[&str]) -> Mode {
        parse_args(v).unwrap().mode
    }

    #[test]
    fn modes() {
        let ep = ["--connect", "tcp://127.0.0.1:5555"];
        let with = |extra: &[&'static str]| -> Vec<&str> {
            let mut v = ep.to_vec();
            v.extend_from_slice(extra);
            v
        };
        assert_eq!(mode(&with(&["--type", "push"])), Mode::Send);
        assert_eq!(mode(&with(&["--type", "PUB"])), Mode::Send);
        assert_eq!(mode(&with(&["-t", "pull"])), Mode::Recv);
        assert_eq!(mode(&with(&["--type=sub"])), Mode::Recv);
        assert_eq!(mode(&with(&["--type", "dealer"])), Mode::Both);
        assert_eq!(mode(&with(&["--type", "xpub"])), Mode::Both);
        assert_eq!(mode(&with(&["--type", "stream"])), Mode::Both);
        assert_eq!(mode(&with(&["--type", "req"])), Mode::Req);
        assert_eq!(mode(&with(&["--type", "rep"])), Mode::Rep);
        assert_eq!(mode(&with(&["--type", "rep", "--echo"])), Mode::Echo);
        assert_eq!(mode(&with(&["--type", "dealer", "--send"])), Mode::Send);
        assert_eq!(mode(&with(&["--type", "dealer", "--recv"])), Mode::Recv);
        assert_eq!(
            mode(&with(&["--type", "pair", "--recv", "--send"])),
            Mode::Both
        );
    }

    #[test]
    fn values() {
        let a = parse_args(&[
            "--type",
            "sub",
            "-c",
            "tcp://h:1",
            "--bind",
            "ipc:///tmp/x",
            "--hex",
            "--subscribe",
            "00ff",
            "--subscribe=41",
            "--identity",
            "6964",
            "--count",
            "4",
            "--timeout=250",
            "--separator",
            "|",
            "-q",
            "--sockopt",
            "sndhwm=5",
            "--sockopt=ROUTING_ID=0x00ff",
        ])
        .unwrap();
        assert_eq!(a.socket_type, SocketType::Sub);
        assert_eq!(
            a.socket.attach,
            vec![
                Attach::Connect("tcp://h:1".into()),
                Attach::Bind("ipc:///tmp/x".into())
            ],
            "in command-line order"
        );
        assert_eq!(
            a.sockopts,
            vec![
                (opt::SNDHWM, OptValue::Int(5)),
                (
                    opt::ROUTING_ID,
                    OptValue::Bytes(Bytes::from_static(&[0, 255]))
                )
            ],
            "repeatable, in order"
        );
        assert_eq!(
            a.subscribe,
            vec![Bytes::from_static(&[0, 255]), Bytes::from_static(b"A")]
        );
        assert_eq!(a.identity, Some(Bytes::from_static(b"id")));
        assert_eq!(a.count, Some(4));
        assert_eq!(a.timeout, Some(Duration::from_millis(250)));
        assert_eq!(a.format.separator, b"|");
        assert!(a.format.hex && a.quiet && !a.verbose);
        assert_eq!(a.linger, Duration::from_secs(30));
    }

    #[test]
    fn usage_errors() {
        let bad: &[&[&str]] = &[
            &[],
            &["--type", "push"],
            &["--connect", "tcp://h:1"],
            &["--type", "bogus", "--connect", "tcp://h:1"],
            &["--type", "push", "--connect", "tcp://*:1"],
            &["--type", "push", "--connect", "tcp://h:1", "--type", "pull"],
            &["--type", "push", "--connect", "tcp://h:1", "--recv"],
            &["--type", "pull", "--connect", "tcp://h:1", "--send"],
            &["--type", "req", "--connect", "tcp://h:1", "--send"],
            &["--type", "rep", "--connect", "tcp://h:1", "--recv"],
            &["--type", "push", "--connect", "tcp://h:1", "--echo"],
            &[
                "--type",
                "rep",
                "--connect",
                "tcp://h:1",
                "--echo",
                "--send",
            ],
            &["--type", "push", "--connect", "tcp://h:1", "--count", "1"],
            &["--type", "pull", "--connect", "tcp://h:1", "--count", "0"],
            &["--type", "pull", "--connect", "tcp://h:1", "--timeout", "x"],
            &[
                "--type",
                "pull",
                "--connect",
                "tcp://h:1",
                "--subscribe",
                "a",
            ],
            &[
                "--type",
                "sub",
                "--connect",
                "tcp://h:1",
                "--hex",
                "--subscribe",
                "xyz",
            ],
            &["--type", "sub", "--connect", "tcp://h:1", "--identity", ""],
            &[
                "--type",
                "sub",
                "--connect",
                "tcp://h:1",
                "--hex",
                "--identity",
                "00",
            ],
            &["--type", "sub", "--connect", "tcp://h:1", "--separator", ""],
            &[
                "--type",
                "sub",
                "--connect",
                "tcp://h:1",
                "--hex",
                "--separator",
                "a",
            ],
            &["--type", "sub", "--connect", "tcp://h:1", "--hex=1"],
            &["--type", "sub", "--connect", "tcp://h:1", "extra"],
            &["--type", "sub", "--connect", "tcp://h:1", "--bogus"],
            &["--type", "sub", "--connect", "tcp://h:1", "--curve-server"],
            &["--type", "sub", "--connect", "tcp://h:1", "--count"],
            &[
                "--type",
                "sub",
                "--connect",
                "tcp://h:1",
                "--sockopt",
                "sndhwm",
            ],
            &[
                "--type",
                "sub",
                "--connect",
                "tcp://h:1",
                "--sockopt",
                "nope=1",
            ],
            &[
                "--type",
                "sub",
                "--connect",
                "tcp://h:1",
                "--sockopt",
                "sndhwm=x",
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
