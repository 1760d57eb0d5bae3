//! `aiozmq cat`: lines of stdin out as messages, received messages out as lines.

use std::time::Duration;

use aiozmq::socket::{opt, OptValue};
use aiozmq::{ErrorKind, Message, Socket, SocketType, GROUP_MAX_LENGTH};
use bytes::Bytes;
use std::io::BufRead;
use tokio::sync::{mpsc, watch};

use clap::ArgMatches;

use crate::args::{parse_count, parse_ms, Attach, SocketArgs, SocketOpts};
use crate::format::{unescape, Format};
use crate::runtime::{
    attach, block_on, first_failure, new_socket, print_line, watch_handshakes, within, Status,
    Watch, MONITOR_BACKLOG,
};
use crate::security::SecurityOpts;
use crate::{runtime_error, usage, Failure};

const CMD: &str = "cat";

const USAGE: &str =
    "aiozmq cat --type TYPE (--bind EP | --connect EP | --connect-peer EP)... [OPTIONS]";

const ABOUT: &str = "\
Sends the lines of standard input as messages and prints the messages it receives on
standard output, one per line: a netcat for ZeroMQ, for use with any libzmq program.

Line format: one line is one message; its frames are separated by a TAB (see
--separator). Frames are written as they are (bytes, not necessarily UTF-8), or in hex
with --hex (lower case out, either case in): use --hex for binary data and for frames
that hold the separator or a newline. An empty line is a message of one empty frame.
Only the line's final newline is removed (a '\\r' before it stays).

What it does, by socket type:
  PUSH, PUB, SCATTER,   send each line; exit at the end of the input
  RADIO
  PULL, SUB, GATHER,    print each message received
  DISH
  DEALER, ROUTER, PAIR, both at once: send each line and print each message received;
  XPUB, XSUB, STREAM,   the end of the input stops the sending, not the receiving
  CLIENT, SERVER,
  PEER, CHANNEL, DGRAM
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
unsubscribe); an XSUB sends lines as they are (\\x01TOPIC subscribes).
The draft types CLIENT, SERVER, SCATTER, GATHER, PEER, CHANNEL and RADIO move
single-frame messages: an input line of more than one frame is refused as a malformed line is
(status 1; use --hex for data that holds the separator).
A SERVER or a PEER prints ROUTING_ID<TAB>DATA, ROUTING_ID being the sender's routing
id in decimal (also with --hex); a line ROUTING_ID<TAB>DATA sends DATA to that peer,
and a line <TAB>DATA (no routing id) to the peer the last message came from, or,
before any message came, to the peer of the last --connect-peer: such a line waits
for a message when there is neither (with --send alone: an error). A message for an unknown routing id is reported
on stderr and dropped. A PEER's --connect-peer EP connects as libzmq's
zmq_connect_peer does, after the --bind and --connect endpoints, and shows the peer's
routing id in the status line 'connecting EP as peer ROUTING_ID'.
A RADIO sends each line to the group of --group (required), or a line GROUP<TAB>DATA
to GROUP (<TAB>DATA: to --group's); a DISH receives the groups of its --join options
(at least one) and prints GROUP<TAB>DATA. A group is 1 to 255 bytes without a zero
byte, written as frames are: as it is (bytes, not necessarily UTF-8), or in hex with
--hex (also in --group and --join): use --hex for groups that are binary or hold the
separator. Over udp://, a RADIO connects and a DISH binds (as in libzmq); a RADIO
drops the messages of groups no DISH joined, and its udp:// destinations get every
group (the DISH filters).
A DGRAM (libzmq's draft type) sends and receives plain UDP datagrams on the udp://
endpoint it binds (it takes no other endpoint, and one only): it prints ADDR<TAB>DATA
for each datagram, ADDR being the sender as IP:PORT, and a line ADDR<TAB>DATA sends
DATA as one datagram to ADDR (an IPv4 address, or an IPv6 one in brackets, and a port);
a line of another shape is refused as a malformed line is (status 1).";

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
  aiozmq cat --type router --bind 'tcp://*:5558' --hex --recv
  aiozmq cat --type server --bind 'tcp://*:5559' --echo
  printf '\\thello\\n' | aiozmq cat --type peer --connect-peer tcp://127.0.0.1:5560 -n 1
  aiozmq cat --type dish --bind 'udp://*:5561' --join weather --join news
  echo sunny | aiozmq cat --type radio --connect udp://127.0.0.1:5561 --group weather
  printf '127.0.0.1:5562\thello\n' | aiozmq cat --type dgram --bind 'udp://*:5563'";

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
    /// DEALER, PAIR, SERVER, CLIENT, PEER, CHANNEL): an echo server
    #[arg(long)]
    echo: bool,
    /// PEER: connect to EP and show the routing id of the peer reached there
    /// (repeatable; libzmq's zmq_connect_peer)
    #[arg(long, value_name = "EP", value_parser = crate::args::parse_connect)]
    connect_peer: Vec<Attach>,
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
    /// RADIO: the group of the lines that do not name one (required for RADIO)
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// DISH: receive the messages of GROUP (repeatable; at least one for DISH)
    #[arg(long, value_name = "GROUP")]
    join: Vec<String>,
    /// The socket's routing id (ZMQ_ROUTING_ID)
    #[arg(long, value_name = "ID")]
    identity: Option<String>,
    /// Frames, groups, PREFIX, GROUP and ID are hex
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

/// Whether `t`'s messages carry a `u32` routing id (SERVER, PEER), which `cat` writes as
/// the line's first field.
fn routes_by_id(t: SocketType) -> bool {
    matches!(t, SocketType::Server | SocketType::Peer)
}

/// `aiozmq cat`'s parsed arguments.
#[derive(Debug)]
struct CatArgs {
    socket: SocketArgs,
    socket_type: SocketType,
    mode: Mode,
    subscribe: Vec<Bytes>,
    /// RADIO: the group of the lines without one.
    group: Bytes,
    /// DISH: the groups joined, in command-line order.
    join: Vec<Bytes>,
    identity: Option<Bytes>,
    connect_peer: Vec<String>,
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
        group,
        join,
        identity,
        connect_peer,
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
    let group = match (t, group) {
        (SocketType::Radio, Some(g)) => group_arg(&format, "--group", &g)?,
        (SocketType::Radio, None) => {
            return Err(usage(
                Some(CMD),
                "a RADIO socket needs --group GROUP (the group of its messages)",
            ))
        }
        (_, Some(_)) => {
            return Err(usage(
                Some(CMD),
                format!("--group is for RADIO sockets, not {t}"),
            ))
        }
        (_, None) => Bytes::new(),
    };
    if t == SocketType::Dish && join.is_empty() {
        return Err(usage(
            Some(CMD),
            "a DISH socket needs --join GROUP (the groups it receives), at least one",
        ));
    }
    if t != SocketType::Dish && !join.is_empty() {
        return Err(usage(
            Some(CMD),
            format!("--join is for DISH sockets, not {t}"),
        ));
    }
    let join = join
        .iter()
        .map(|g| group_arg(&format, "--join", g))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, g) in join.iter().enumerate() {
        if join[..i].contains(g) {
            return Err(usage(
                Some(CMD),
                format!("--join: group '{}' given twice", String::from_utf8_lossy(g)),
            ));
        }
    }
    let mode = if echo {
        if send || recv {
            return Err(usage(Some(CMD), "--echo excludes --send and --recv"));
        }
        if !matches!(
            t,
            SocketType::Rep
                | SocketType::Router
                | SocketType::Dealer
                | SocketType::Pair
                | SocketType::Server
                | SocketType::Client
                | SocketType::Peer
                | SocketType::Channel
                | SocketType::Dgram
        ) {
            return Err(usage(
                Some(CMD),
                format!(
                    "--echo is for REP, ROUTER, DEALER, PAIR, SERVER, CLIENT, PEER, \
                     CHANNEL and DGRAM sockets, not {t}"
                ),
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
        if send && !t.can_send() {
            return Err(usage(Some(CMD), format!("{t} sockets cannot send")));
        }
        if recv && !t.can_recv() {
            return Err(usage(Some(CMD), format!("{t} sockets cannot receive")));
        }
        match (send, recv) {
            (true, true) => Mode::Both,
            (true, false) => Mode::Send,
            _ => Mode::Recv,
        }
    } else if !t.can_recv() {
        Mode::Send
    } else if !t.can_send() {
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
    if !connect_peer.is_empty() && t != SocketType::Peer {
        return Err(usage(
            Some(CMD),
            format!("--connect-peer is for PEER sockets, not {t}"),
        ));
    }
    let connect_peer = connect_peer
        .into_iter()
        .filter_map(|at| match at {
            Attach::Connect(ep) => Some(ep),
            Attach::Bind(_) => None,
        })
        .collect();
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
        group,
        join,
        identity,
        connect_peer,
        sockopts,
        count,
        timeout,
        linger,
        format,
        quiet,
        verbose,
    })
}

/// The group of `--group` or `--join`: 1 to 255 bytes without a zero byte (libzmq's
/// groups are C strings), text or hex as the frames are.
fn group_arg(format: &Format, option: &str, text: &str) -> Result<Bytes, Failure> {
    let g = format
        .frame(text.as_bytes())
        .map_err(|e| usage(Some(CMD), format!("{option}: {e}")))?;
    check_group(&g).map_err(|e| usage(Some(CMD), format!("{option}: {e}")))?;
    Ok(g)
}

/// A group given on the command line or in a line: 1 to 255 bytes, no zero byte.
fn check_group(g: &[u8]) -> Result<(), String> {
    if g.is_empty() || g.len() > GROUP_MAX_LENGTH || g.contains(&0) {
        return Err(format!(
            "a group is 1 to {GROUP_MAX_LENGTH} bytes without a zero byte, and '{}' has {} \
             bytes{}",
            String::from_utf8_lossy(g),
            g.len(),
            if g.contains(&0) {
                " with a zero byte"
            } else {
                ""
            }
        ));
    }
    Ok(())
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
        match self.next_for(SocketType::Dealer, format, &[]).await? {
            None => Ok(None),
            Some(Outgoing::Message(m) | Outgoing::ToLastPeer(m)) => Ok(Some(m)),
        }
    }

    /// The next message as a line for a socket of type `t` makes it, `group` being a
    /// RADIO's --group (see [`outgoing`]); `None` at the end of the input.
    async fn next_for(
        &mut self,
        t: SocketType,
        format: &Format,
        group: &[u8],
    ) -> Result<Option<Outgoing>, Failure> {
        let line = match self.lines.recv().await {
            None => return Ok(None),
            Some(Ok(line)) => line,
            Some(Err(e)) => return Err(runtime_error(CMD, format!("cannot read stdin: {e}"))),
        };
        self.line += 1;
        outgoing(t, format, group, &line)
            .map(Some)
            .map_err(|e| runtime_error(CMD, format!("stdin line {}: {e}", self.line)))
    }
}

/// A message made from an input line.
#[derive(Debug, PartialEq)]
enum Outgoing {
    /// To send as it is.
    Message(Message),
    /// SERVER, PEER: a line without a routing id, for the peer the last message came from.
    ToLastPeer(Message),
}

/// The message a `line` stands for on a socket of type `t`: its frames, for SERVER and
/// PEER a decimal routing id before the first separator, and for RADIO the group before
/// the first separator (none, or an empty field: `group`, the --group). The single-frame
/// types refuse a line of more than one frame here, with the reason, rather than leaving
/// the library's `EINVAL` to stop the command.
fn outgoing(t: SocketType, format: &Format, group: &[u8], line: &[u8]) -> Result<Outgoing, String> {
    let single = |msg: Message| {
        if t.is_single_frame() && msg.len() > 1 {
            Err(format!(
                "{t} sockets send single-frame messages, and this line has {} frames (use \
                 --hex for data that holds the separator)",
                msg.len()
            ))
        } else {
            Ok(msg)
        }
    };
    let sep = &format.separator;
    let at = line.windows(sep.len()).position(|w| w == &sep[..]);
    if t == SocketType::Radio {
        let (named, data) = match at {
            Some(at) => (format.frame(&line[..at])?, &line[at + sep.len()..]),
            None => (Bytes::new(), line),
        };
        let g = if named.is_empty() { group } else { &named };
        check_group(g)?;
        let msg = single(format.decode(data)?)?;
        return Ok(Outgoing::Message(
            msg.with_group(g).map_err(|e| e.to_string())?,
        ));
    }
    if t == SocketType::Dgram {
        let msg = format.decode(line)?;
        if msg.len() != 2 {
            return Err(format!(
                "a DGRAM socket's line is ADDR<separator>DATA (two frames), and this one has \
                 {} (use --hex for data that holds the separator)",
                msg.len()
            ));
        }
        if aiozmq::transport::parse_dgram_address(&msg[0]).is_none() {
            return Err(format!(
                "'{}' is no DGRAM address (IP:PORT, an IPv6 address in brackets, port 1 to \
                 65535)",
                String::from_utf8_lossy(&msg[0])
            ));
        }
        return Ok(Outgoing::Message(msg));
    }
    if !routes_by_id(t) {
        return Ok(Outgoing::Message(single(format.decode(line)?)?));
    }
    let Some(at) = at else {
        return Err(format!(
            "a {t} socket's line is ROUTING_ID<separator>DATA (or <separator>DATA for the \
             peer of the last message), and this one has no separator"
        ));
    };
    let (id, data) = (&line[..at], &line[at + sep.len()..]);
    let mut msg = single(format.decode(data)?)?;
    if id.is_empty() {
        return Ok(Outgoing::ToLastPeer(msg));
    }
    let id = std::str::from_utf8(id)
        .ok()
        .filter(|d| d.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|&id| id != 0)
        .ok_or_else(|| {
            format!(
                "'{}' is not a routing id (a decimal number from 1 to 4294967295)",
                String::from_utf8_lossy(id)
            )
        })?;
    msg.set_routing_id(id);
    Ok(Outgoing::Message(msg))
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
    let t = socket.socket_type();
    let id = if routes_by_id(t) {
        msg.routing_id()
            .map(|id| id.to_string().into_bytes())
            .unwrap_or_default()
    } else if matches!(t, SocketType::Router | SocketType::Stream) {
        msg.first()
            .map(|i| format.encode(&Message::from(i.clone())))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    match within(timeout, socket.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if e.kind() == ErrorKind::HostUnreachable => {
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
        Ok(Ok(m)) if socket.socket_type() == SocketType::Dgram => Ok(dgram_printable(m)),
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(runtime_error(CMD, format!("receive failed: {e}"))),
        Err(()) => Err(Failure::Timeout {
            command: CMD,
            message: format!("no message within {} ms", ms(timeout.unwrap_or_default())),
        }),
    }
}

/// DGRAM: the received message with its address frame's final NUL (libzmq's, which the
/// library keeps) removed, so that ADDR prints as IP:PORT.
fn dgram_printable(mut m: Message) -> Message {
    if let Some(addr) = m.pop_front() {
        m.push_front(
            addr.strip_suffix(&[0])
                .map_or(addr.clone(), |a| addr.slice(..a.len())),
        );
    }
    m
}

/// Prints `msg` (see [`line_of`]).
fn print(format: &Format, msg: &Message) -> Result<(), Failure> {
    print_line(CMD, &line_of(format, msg))
}

/// The line of `msg`: a SERVER's or PEER's with its routing id first, in decimal; a
/// DISH's with its group first, written as a frame is (bytes as they are, or hex).
fn line_of(format: &Format, msg: &Message) -> Vec<u8> {
    let mut line = match (msg.routing_id(), msg.group()) {
        (Some(id), _) => id.to_string().into_bytes(),
        // Only a DISH receives groups, and each of its messages has one (a joined group
        // is never empty).
        (None, g) if !g.is_empty() => format.encode(&Message::from(Bytes::copy_from_slice(g))),
        (None, _) => return format.encode(msg),
    };
    line.extend_from_slice(&format.separator);
    line.extend_from_slice(&format.encode(msg));
    line
}

/// SERVER, PEER: the routing id of the peer the last message came from (or, before any,
/// of the last --connect-peer), for the lines without one.
struct LastPeer(watch::Sender<Option<u32>>);

impl LastPeer {
    /// Notes the sender of a received message.
    fn saw(&self, msg: &Message) {
        if let Some(id) = msg.routing_id() {
            self.0.send_replace(Some(id));
        }
    }

    /// `msg` addressed to the last peer, waiting (up to `timeout`) for one to be known
    /// when `may_wait`, which is when messages are being received.
    async fn address(
        &self,
        mut msg: Message,
        may_wait: bool,
        timeout: Option<Duration>,
    ) -> Result<Message, Failure> {
        let mut rx = self.0.subscribe();
        let known = *rx.borrow_and_update();
        let id = match known {
            Some(id) => id,
            None if !may_wait => {
                return Err(runtime_error(
                    CMD,
                    "a line without a routing id, and no --connect-peer to send it to",
                ))
            }
            None => match within(timeout, rx.wait_for(Option::is_some)).await {
                Ok(Ok(id)) => id.unwrap_or_default(),
                // Not while `self` holds the sender.
                Ok(Err(_)) => return Err(runtime_error(CMD, "no peer to send the line to")),
                Err(()) => {
                    return Err(Failure::Timeout {
                        command: CMD,
                        message: format!(
                            "no message within {} ms to learn a peer's routing id",
                            ms(timeout.unwrap_or_default())
                        ),
                    })
                }
            },
        };
        msg.set_routing_id(id);
        Ok(msg)
    }
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
        for g in &a.join {
            socket.join(g)?;
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
        .chain(a.connect_peer.iter().cloned())
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
    let mut peer = None;
    for ep in &a.connect_peer {
        let id = socket
            .connect_peer(ep)
            .await
            .map_err(|e| runtime_error(CMD, format!("cannot connect to {ep}: {e}")))?;
        status.line(&format!("connecting {ep} as peer {id}"));
        peer = Some(id);
    }
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
        r = run_mode(&socket, &a, peer) => r,
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

/// Sends the lines of stdin; `receiving` tells whether messages arrive meanwhile (to
/// learn a peer for the lines without a routing id).
async fn send_lines(
    socket: &Socket,
    a: &CatArgs,
    last: &LastPeer,
    receiving: bool,
) -> Result<(), Failure> {
    let f = &a.format;
    let mut input = Input::new();
    while let Some(out) = input.next_for(a.socket_type, f, &a.group).await? {
        let m = match out {
            Outgoing::Message(m) => m,
            Outgoing::ToLastPeer(m) => last.address(m, receiving, a.timeout).await?,
        };
        send(socket, m, a.timeout, f).await?;
    }
    Ok(())
}

async fn run_mode(socket: &Socket, a: &CatArgs, peer: Option<u32>) -> Result<(), Failure> {
    let f = &a.format;
    let timeout = a.timeout;
    let done = |n: u64| a.count.is_some_and(|c| n >= c);
    let mut received = 0u64;
    let last = LastPeer(watch::Sender::new(peer));
    match a.mode {
        Mode::Send => send_lines(socket, a, &last, false).await,
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
                send_lines(socket, a, &last, true).await?;
                // The end of the input stops the sending only.
                std::future::pending::<Result<(), Failure>>().await
            };
            let receiver = async {
                loop {
                    let m = recv(socket, timeout).await?;
                    last.saw(&m);
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
        // The draft types' directions, from the library.
        assert_eq!(mode(&with(&["--type", "scatter"])), Mode::Send);
        assert_eq!(mode(&with(&["--type", "gather"])), Mode::Recv);
        for t in ["client", "server", "peer", "channel"] {
            assert_eq!(mode(&with(&["--type", t])), Mode::Both, "{t}");
            assert_eq!(mode(&with(&["--type", t, "--echo"])), Mode::Echo, "{t}");
        }
        let radio = parse_args(&with(&["--type", "radio", "--group", "tv"])).unwrap();
        assert_eq!((radio.mode, &radio.group[..]), (Mode::Send, &b"tv"[..]));
        let dish = parse_args(&[
            "--type",
            "dish",
            "--bind",
            "udp://*:1",
            "--hex",
            "--join",
            "ff01",
            "--join",
            "6e",
        ])
        .unwrap();
        assert_eq!(dish.mode, Mode::Recv);
        assert_eq!(
            dish.join,
            vec![Bytes::from_static(&[0xff, 1]), Bytes::from_static(b"n")],
            "hex with --hex, in order"
        );
        assert_eq!(
            parse_args(&["--type", "peer", "--connect-peer", "tcp://h:1"])
                .unwrap()
                .connect_peer,
            vec!["tcp://h:1".to_string()],
            "--connect-peer alone is an endpoint"
        );
    }

    #[test]
    fn draft_lines() {
        let f = Format::default();
        let hex = Format {
            hex: true,
            ..Format::default()
        };
        let routed = |id: u32, data: &'static [u8]| {
            let mut m = Message::from(Bytes::from_static(data));
            m.set_routing_id(id);
            Outgoing::Message(m)
        };
        assert_eq!(
            outgoing(SocketType::Server, &f, &[], b"42\thi\tthere"),
            Err(
                "SERVER sockets send single-frame messages, and this line has 2 frames (use \
                 --hex for data that holds the separator)"
                    .into()
            )
        );
        assert_eq!(
            outgoing(SocketType::Server, &f, &[], b"42\thi").unwrap(),
            routed(42, b"hi")
        );
        assert_eq!(
            outgoing(SocketType::Peer, &hex, &[], b"7\t00ff").unwrap(),
            routed(7, &[0, 255]),
            "the routing id is decimal with --hex"
        );
        assert_eq!(
            outgoing(SocketType::Peer, &f, &[], b"\thi").unwrap(),
            Outgoing::ToLastPeer(Message::from("hi"))
        );
        for bad in [
            &b"hi"[..],
            b"0\thi",
            b"x\thi",
            b"-1\thi",
            b"+1\thi",
            b"4294967296\thi",
        ] {
            assert!(
                outgoing(SocketType::Server, &f, &[], bad).is_err(),
                "{bad:?}"
            );
        }
        for t in [SocketType::Client, SocketType::Scatter, SocketType::Channel] {
            assert!(outgoing(t, &f, &[], b"a\tb").is_err(), "{t}");
            assert_eq!(
                outgoing(t, &f, &[], b"a b").unwrap(),
                Outgoing::Message(Message::from("a b"))
            );
        }
        // RADIO: GROUP<TAB>DATA, or DATA (or <TAB>DATA) for the --group.
        let grouped = |g: &[u8], data: &'static [u8]| {
            Outgoing::Message(
                Message::from(Bytes::from_static(data))
                    .with_group(g)
                    .unwrap(),
            )
        };
        let radio = |format: &Format, line: &[u8]| outgoing(SocketType::Radio, format, b"tv", line);
        assert_eq!(radio(&f, b"hi").unwrap(), grouped(b"tv", b"hi"));
        assert_eq!(radio(&f, b"\thi").unwrap(), grouped(b"tv", b"hi"));
        assert_eq!(radio(&f, b"news\thi").unwrap(), grouped(b"news", b"hi"));
        assert_eq!(radio(&f, b"news\t").unwrap(), grouped(b"news", b""));
        assert_eq!(radio(&f, b"").unwrap(), grouped(b"tv", b""));
        assert_eq!(
            radio(&hex, b"ff01\t00ff").unwrap(),
            grouped(&[0xff, 1], &[0, 0xff]),
            "the group is hex with --hex"
        );
        assert_eq!(radio(&hex, b"6869").unwrap(), grouped(b"tv", b"hi"));
        assert_eq!(
            radio(&f, b"news\ta\tb"),
            Err(
                "RADIO sockets send single-frame messages, and this line has 2 frames (use \
                 --hex for data that holds the separator)"
                    .into()
            )
        );
        let long = [b'g'; 256];
        let mut too_long = long.to_vec();
        too_long.extend_from_slice(b"\tx");
        for bad in [&b"6\t00"[..], b"00\tff", &too_long] {
            assert!(radio(&hex, bad).is_err(), "{bad:?}");
        }
        assert!(radio(&f, &too_long).is_err(), "a group over 255 bytes");
        assert_eq!(
            outgoing(SocketType::Dealer, &f, &[], b"a\tb").unwrap(),
            Outgoing::Message(Message::from(vec![Bytes::from("a"), Bytes::from("b")]))
        );
    }

    #[test]
    fn dgram_lines_are_address_and_data() {
        let f = Format::default();
        assert_eq!(
            outgoing(SocketType::Dgram, &f, &[], b"127.0.0.1:5\thi").unwrap(),
            Outgoing::Message(Message::from(vec![
                Bytes::from_static(b"127.0.0.1:5"),
                Bytes::from_static(b"hi")
            ]))
        );
        for (line, why) in [
            (&b"hi"[..], "two frames"),
            (b"127.0.0.1:5\thi\tthere", "two frames"),
            (b"host:5\thi", "no DGRAM address"),
        ] {
            let e = outgoing(SocketType::Dgram, &f, &[], line).unwrap_err();
            assert!(e.contains(why), "{line:?}: {e}");
        }
        let received = Message::from(vec![
            Bytes::from_static(b"10.0.0.1:7\0"),
            Bytes::from_static(b"x"),
        ]);
        assert_eq!(
            line_of(&f, &dgram_printable(received)),
            b"10.0.0.1:7\tx",
            "libzmq's NUL is left out"
        );
    }

    #[test]
    fn dish_lines_start_with_the_group() {
        let f = Format::default();
        let hex = Format {
            hex: true,
            ..Format::default()
        };
        let m = Message::from("hi").with_group("tv").unwrap();
        assert_eq!(line_of(&f, &m), b"tv\thi");
        assert_eq!(line_of(&hex, &m), b"7476\t6869");
        // A binary group: its bytes as they are, as a binary frame's; hex with --hex.
        let m = Message::from(Bytes::from_static(&[0xc3, 0x28]))
            .with_group([0xff, 0x01])
            .unwrap();
        assert_eq!(line_of(&f, &m), [0xff, 0x01, b'\t', 0xc3, 0x28]);
        assert_eq!(line_of(&hex, &m), b"ff01\tc328");
        assert_eq!(line_of(&f, &Message::from("plain")), b"plain");
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
            &["--type", "scatter", "--connect", "tcp://h:1", "--recv"],
            &["--type", "radio", "--connect", "tcp://h:1"],
            &["--type", "dish", "--bind", "tcp://*:1"],
            &["--type", "push", "--connect", "tcp://h:1", "--group", "g"],
            &["--type", "sub", "--connect", "tcp://h:1", "--join", "g"],
            &[
                "--type",
                "dish",
                "--bind",
                "udp://*:1",
                "--join",
                "g",
                "--group",
                "g",
            ],
            &[
                "--type",
                "radio",
                "--connect",
                "tcp://h:1",
                "--group",
                "g",
                "--join",
                "g",
            ],
            &["--type", "radio", "--connect", "tcp://h:1", "--group", ""],
            &[
                "--type",
                "radio",
                "--connect",
                "tcp://h:1",
                "--hex",
                "--group",
                "00",
            ],
            &[
                "--type",
                "radio",
                "--connect",
                "tcp://h:1",
                "--hex",
                "--group",
                "0",
            ],
            &[
                "--type",
                "dish",
                "--bind",
                "tcp://*:1",
                "--join",
                "a",
                "--join",
                "a",
            ],
            &[
                "--type",
                "dish",
                "--bind",
                "tcp://*:1",
                "--join",
                "g",
                "--send",
            ],
            &[
                "--type",
                "radio",
                "--connect",
                "tcp://h:1",
                "--group",
                "g",
                "--recv",
            ],
            &[
                "--type",
                "radio",
                "--connect",
                "tcp://h:1",
                "--group",
                "g",
                "-n",
                "1",
            ],
            &["--type", "gather", "--connect", "tcp://h:1", "--send"],
            &["--type", "scatter", "--connect", "tcp://h:1", "--echo"],
            &["--type", "server", "--connect-peer", "tcp://h:1"],
            &["--type", "peer", "--connect-peer", "tcp://*:1"],
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
        let long = "g".repeat(256);
        assert!(matches!(
            parse_args(&["--type", "dish", "--bind", "tcp://*:1", "--join", &long]),
            Err(Failure::Usage { .. })
        ));
        assert!(parse_args(&[
            "--type",
            "dish",
            "--bind",
            "tcp://*:1",
            "--join",
            &long[1..]
        ])
        .is_ok());
    }
}
