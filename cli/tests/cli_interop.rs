//! The `aiozmq` command-line tool against libzmq (pyzmq running `interop/peer.py` and
//! `interop/security/sec_peer.py`): `cat` in every direction of PUSH/PULL, REQ/REP and
//! PUB/SUB, binary frames in hex, `monitor`'s event lines, and CURVE and PLAIN.
//!
//! Every wait is on a line printed by one side (no sleeps): the tool prints `ready` on
//! stderr once set up, the peers `READY`; PUB/SUB synchronises through an XPUB peer that
//! waits for the subscription before publishing. The `_over_ipc` twins run PUSH, PULL and
//! REQ over `ipc://`. Needs Python 3 on PATH and access to
//! PyPI the first time (see tests/support/python.rs); without them these tests fail.

mod cli_support;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use cli_support::{run, Cli};
use support::python::{venv_python, PeerMessage, PyPeer, LINE_TIMEOUT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

fn frames(m: &PeerMessage) -> Vec<&[u8]> {
    m.frames.iter().map(|f| f.as_slice()).collect()
}

#[tokio::test]
async fn cat_push_to_pyzmq_pull() {
    cat_push_to_pyzmq_pull_on("tcp://127.0.0.1:0").await;
}

#[tokio::test]
async fn cat_push_to_pyzmq_pull_over_ipc() {
    let ipc = support::UnboundIpc::new("cli-push");
    cat_push_to_pyzmq_pull_on(&ipc.endpoint).await;
}

/// The tool's PUSH connects to a libzmq PULL bound at `bind`.
async fn cat_push_to_pyzmq_pull_on(bind: &str) {
    let (mut peer, eps) = PyPeer::start(["PULL", "--bind", bind, "recv", "3"]).await;
    let (code, out, err) = run(
        &["cat", "--type", "push", "--connect", &eps[0]],
        b"hello\tworld\n\nlast line\n",
    )
    .await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(out.is_empty(), "PUSH prints nothing: {out:?}");
    let got = peer.messages(3).await;
    assert_eq!(frames(&got[0]), vec![&b"hello"[..], b"world"]);
    assert_eq!(frames(&got[1]), vec![&b""[..]]);
    assert_eq!(frames(&got[2]), vec![&b"last line"[..]]);
    peer.finish().await;
}

#[tokio::test]
async fn cat_pull_from_pyzmq_push() {
    cat_pull_from_pyzmq_push_on("tcp://127.0.0.1:*").await;
}

#[tokio::test]
async fn cat_pull_from_pyzmq_push_over_ipc() {
    let ipc = support::UnboundIpc::new("cli-pull");
    cat_pull_from_pyzmq_push_on(&ipc.endpoint).await;
}

/// The tool's PULL, bound at `bind`, prints what a libzmq PUSH sends.
async fn cat_pull_from_pyzmq_push_on(bind: &str) {
    let (mut cli, bound) =
        Cli::start(&["cat", "--type", "pull", "--bind", bind, "--count", "3"]).await;
    assert_eq!(bound.len(), 1, "one bound line: {bound:?}");
    if !bind.ends_with('*') {
        assert_eq!(bound[0], bind, "the bound endpoint is the one asked for");
    }
    let (peer, _) = PyPeer::start([
        "PUSH",
        "--connect",
        &bound[0],
        "send",
        "3",
        "text:m{i}",
        "empty:",
        "text:end",
    ])
    .await;
    assert_eq!(
        cli.lines(3).await,
        vec!["m0\t\tend", "m1\t\tend", "m2\t\tend"]
    );
    cli.expect_exit(0).await;
    peer.finish().await;
}

#[tokio::test]
async fn cat_req_to_pyzmq_rep() {
    cat_req_to_pyzmq_rep_on("tcp://127.0.0.1:0").await;
}

#[tokio::test]
async fn cat_req_to_pyzmq_rep_over_ipc() {
    let ipc = support::UnboundIpc::new("cli-req");
    cat_req_to_pyzmq_rep_on(&ipc.endpoint).await;
}

/// The tool's REQ asks a libzmq REP bound at `bind`.
async fn cat_req_to_pyzmq_rep_on(bind: &str) {
    let (mut peer, eps) = PyPeer::start(["REP", "--bind", bind, "echo", "2"]).await;
    let (code, out, err) = run(
        &["cat", "--type", "req", "--connect", &eps[0]],
        b"ping\nmulti\tpart\n",
    )
    .await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out, "ping\nmulti\tpart");
    let got = peer.messages(2).await;
    assert_eq!(frames(&got[1]), vec![&b"multi"[..], b"part"]);
    peer.finish().await;
}

#[tokio::test]
async fn cat_rep_answers_pyzmq_req() {
    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "rep",
        "--bind",
        "tcp://127.0.0.1:*",
        "--count",
        "2",
    ])
    .await;
    // The replies, read one per request.
    cli.write(b"reply one\nreply\ttwo\n").await;
    let (mut peer, _) = PyPeer::start([
        "REQ",
        "--connect",
        &bound[0],
        "req",
        "2",
        "text:question {i}",
    ])
    .await;
    assert_eq!(cli.lines(2).await, vec!["question 0", "question 1"]);
    let got = peer.messages(2).await;
    assert_eq!(frames(&got[0]), vec![&b"reply one"[..]]);
    assert_eq!(frames(&got[1]), vec![&b"reply"[..], b"two"]);
    peer.finish().await;
    cli.expect_exit(0).await;
}

#[tokio::test]
async fn cat_sub_with_a_prefix_from_pyzmq_xpub() {
    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "sub",
        "--bind",
        "tcp://127.0.0.1:*",
        "--subscribe",
        "weather",
        "--count",
        "2",
    ])
    .await;
    // The XPUB publishes only once the subscription arrived: no slow-joiner loss. Messages
    // without the prefix go first: were they not filtered out, they would be printed first.
    let (mut peer, _) = PyPeer::start([
        "XPUB",
        "--connect",
        &bound[0],
        "subs",
        "1",
        "send",
        "2",
        "text:news{i}",
        "text:x",
        "send",
        "2",
        "text:weather{i}",
        "text:sunny",
    ])
    .await;
    assert_eq!(peer.line().await, format!("SUBSCRIBED {}", hex(b"weather")));
    assert_eq!(
        cli.lines(2).await,
        vec!["weather0\tsunny", "weather1\tsunny"]
    );
    cli.expect_exit(0).await;
    peer.finish().await;
}

#[tokio::test]
async fn cat_xpub_publishes_stdin_once_pyzmq_sub_subscribed() {
    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "xpub",
        "--bind",
        "tcp://127.0.0.1:*",
        "--hex",
    ])
    .await;
    let (mut peer, _) = PyPeer::start([
        "SUB",
        "--connect",
        &bound[0],
        "--subscribe",
        "topic",
        "recv",
        "1",
    ])
    .await;
    // The XPUB prints the subscription (a frame \x01topic), then publishes what it reads.
    assert_eq!(cli.line().await, format!("01{}", hex(b"topic")));
    cli.write(format!("{}\t00ff\n{}\n", hex(b"other"), hex(b"topic!")).as_bytes())
        .await;
    let got = peer.message().await;
    assert_eq!(frames(&got), vec![&b"topic!"[..]]);
    peer.finish().await;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn cat_hex_round_trip_of_binary_frames() {
    let (mut peer, eps) =
        PyPeer::start(["ROUTER", "--bind", "tcp://127.0.0.1:0", "echo", "1"]).await;
    let (code, out, err) = run(
        &[
            "cat",
            "--type",
            "dealer",
            "--connect",
            &eps[0],
            "--hex",
            "--identity",
            "c1ff",
            "--count",
            "1",
        ],
        b"00ff\t\t41FF0a00\t0d0a09\n",
    )
    .await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out, "00ff\t\t41ff0a00\t0d0a09");
    let got = peer.message().await;
    assert_eq!(
        frames(&got),
        vec![
            &[0xc1, 0xff][..],
            &[0, 0xff],
            &[],
            &[0x41, 0xff, 0x0a, 0],
            &[0x0d, 0x0a, 0x09]
        ]
    );
    peer.finish().await;
}

#[tokio::test]
async fn monitor_prints_connect_and_disconnect() {
    // The PUSH waits for a peer, sends one message and exits: the tool sees the
    // connection made, the handshake, and the connection closed.
    let (peer, eps) =
        PyPeer::start(["PUSH", "--bind", "tcp://127.0.0.1:0", "send", "1", "text:x"]).await;
    let ep = &eps[0];
    let (mut cli, _) =
        Cli::start(&["monitor", "--type", "pull", "--connect", ep, "--count", "3"]).await;
    let lines = cli.lines(3).await;
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.splitn(4, ' ').collect()).collect();
    assert_eq!(fields[0][0], "CONNECTED", "{lines:?}");
    assert_eq!(
        fields[1][..],
        ["HANDSHAKE_SUCCEEDED", "0", ep.as_str()],
        "{lines:?}"
    );
    assert_eq!(fields[2][0], "DISCONNECTED", "{lines:?}");
    for f in [&fields[0], &fields[2]] {
        assert_eq!(f[2], ep, "{lines:?}");
    }
    assert!(fields[0][1].parse::<u32>().is_ok(), "{lines:?}");
    assert_eq!(fields[0][1], fields[2][1], "the same fd: {lines:?}");
    cli.expect_exit(0).await;
    peer.finish().await;
}

/// A running `sec_peer.py`, driven over stdin.
struct SecPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

const SEC_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../interop/security/sec_peer.py"
);

impl SecPeer {
    async fn start(args: &[&str]) -> (SecPeer, String) {
        let mut child = Command::new(venv_python())
            .arg("-u")
            .arg(SEC_SCRIPT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("cannot start sec_peer.py");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut peer = SecPeer {
            child,
            stdin,
            stdout,
        };
        let ready = peer.line().await;
        let ep = ready
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("sec_peer.py: expected READY, got {ready:?}"))
            .to_string();
        (peer, ep)
    }

    async fn line(&mut self) -> String {
        match tokio::time::timeout(LINE_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(l))) => l,
            other => panic!("sec_peer.py printed no line: {other:?}"),
        }
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        self.line().await
    }

    async fn quit(mut self) {
        assert_eq!(self.cmd("quit").await, "BYE");
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("sec_peer.py did not exit")
            .unwrap();
        assert!(status.success(), "sec_peer.py exited with {status}");
    }
}

#[tokio::test]
async fn cat_curve_client_against_pyzmq_server() {
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let (client_public, client_secret) = aiozmq::curve_keypair();
    let (mut server, ep) = SecPeer::start(&[
        "PULL",
        "--bind",
        "tcp://127.0.0.1:0",
        "--curve-server",
        &server_secret,
        "--allow-curve",
        &client_public,
    ])
    .await;
    let client = |serverkey: &str, secret: &str| {
        vec![
            "cat".to_string(),
            "--type".into(),
            "push".into(),
            "--connect".into(),
            ep.clone(),
            "--curve-serverkey".into(),
            serverkey.into(),
            "--curve-secretkey".into(),
            secret.into(),
            "--linger".into(),
            "5000".into(),
        ]
    };
    let args = client(&server_public, &client_secret);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&args, b"over curve\n").await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(
        server.cmd("recv").await,
        format!("{{\"frames\": [\"{}\"]}}", hex(b"over curve"))
    );

    // A wrong server key: libzmq's server closes the connection; the tool stops (1).
    let (wrong_public, _) = aiozmq::curve_keypair();
    let args = client(&wrong_public, &client_secret);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&args, b"never\n").await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.contains(&format!("aiozmq cat: error: handshake with {ep} failed")),
        "{err}"
    );

    // A client key the server's ZAP handler does not allow: refused (ERROR 400).
    let (_, stranger_secret) = aiozmq::curve_keypair();
    let args = client(&server_public, &stranger_secret);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&args, b"never\n").await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(err.contains("HANDSHAKE_FAILED_AUTH 400"), "{err}");
    assert_eq!(server.cmd("none").await, "NONE");
    server.quit().await;
}

#[tokio::test]
async fn cat_plain_server_against_pyzmq_clients() {
    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:*",
        "--plain-server",
        "--zap-password",
        "admin:s3cret",
        "--count",
        "1",
    ])
    .await;
    // A wrong password: the client is refused, the tool reports it and goes on.
    let (mut wrong, _) = SecPeer::start(&[
        "PUSH",
        "--connect",
        &bound[0],
        "--plain-client",
        "admin",
        "guess",
    ])
    .await;
    // libzmq 4.3.5's PLAIN client does not recognize an RFC 24 ERROR command (it expects
    // its own malformed form, see tests/interop_security.rs): it may report the refusal
    // as a protocol error (ZMTP_UNEXPECTED_COMMAND) instead of AUTH 400.
    let event = wrong
        .cmd("event HANDSHAKE_FAILED_AUTH,HANDSHAKE_FAILED_PROTOCOL")
        .await;
    assert!(
        event == "EVENT HANDSHAKE_FAILED_AUTH 400"
            || event == format!("EVENT HANDSHAKE_FAILED_PROTOCOL {}", 0x1000_0001),
        "{event}"
    );
    let warning = cli.stderr_line().await;
    assert!(
        warning.starts_with(&format!(
            "aiozmq cat: warning: handshake failed on {}: HANDSHAKE_FAILED_AUTH 400",
            bound[0]
        )),
        "{warning}"
    );
    wrong.quit().await;

    let (mut right, _) = SecPeer::start(&[
        "PUSH",
        "--connect",
        &bound[0],
        "--plain-client",
        "admin",
        "s3cret",
    ])
    .await;
    right.stdin.write_all(b"send text:welcome\n").await.unwrap();
    assert_eq!(cli.line().await, "welcome");
    cli.expect_exit(0).await;
    right.quit().await;
}

#[tokio::test]
async fn cat_plain_client_against_pyzmq_server() {
    let (mut server, ep) = SecPeer::start(&[
        "PULL",
        "--bind",
        "tcp://127.0.0.1:0",
        "--plain-server",
        "--password",
        "admin:s3cret",
    ])
    .await;
    let (code, _, err) = run(
        &[
            "cat",
            "--type",
            "push",
            "--connect",
            &ep,
            "--plain-username",
            "admin",
            "--plain-password",
            "s3cret",
        ],
        b"plain text\n",
    )
    .await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(
        server.cmd("recv").await,
        format!("{{\"frames\": [\"{}\"]}}", hex(b"plain text"))
    );
    let (code, _, err) = run(
        &[
            "cat",
            "--type",
            "push",
            "--connect",
            &ep,
            "--plain-username",
            "admin",
            "--plain-password",
            "nope",
        ],
        b"never\n",
    )
    .await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.contains(&format!(
            "aiozmq cat: error: handshake with {ep} failed: HANDSHAKE_FAILED_AUTH 400"
        )),
        "{err}"
    );
    server.quit().await;
}

/// `--sockopt` sets options by libzmq's names (any case, with or without `ZMQ_`) or
/// numbers; bytes options take text or `0x` hex. A libzmq ROUTER sees the routing ids so
/// set.
#[tokio::test]
async fn cat_sockopt_routing_id_seen_by_pyzmq_router() {
    let (mut peer, eps) =
        PyPeer::start(["ROUTER", "--bind", "tcp://127.0.0.1:0", "recv", "3"]).await;
    for (sockopt, id) in [
        ("routing_id=cli-7", &b"cli-7"[..]),
        ("ZMQ_IDENTITY=0x01ff00", &[0x01, 0xff, 0x00][..]),
        ("5=by-number", &b"by-number"[..]),
    ] {
        let (code, _, err) = run(
            &[
                "cat",
                "--type",
                "dealer",
                "--send",
                "--connect",
                &eps[0],
                "--sockopt",
                sockopt,
                "--sockopt",
                "sndhwm=5",
                "--sockopt",
                "LINGER=5000",
            ],
            b"hello\n",
        )
        .await;
        assert_eq!(code, Some(0), "{sockopt}: stderr: {err}");
        let got = peer.messages(1).await;
        assert_eq!(frames(&got[0]), vec![id, &b"hello"[..]], "{sockopt}");
    }
    peer.finish().await;
}

/// CURVE set up with `--sockopt` alone (libzmq's option names, Z85 keys as text) talks
/// to a libzmq CURVE server.
#[tokio::test]
async fn cat_curve_client_by_sockopt_against_pyzmq_server() {
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let (client_public, client_secret) = aiozmq::curve_keypair();
    let (mut server, ep) = SecPeer::start(&[
        "PULL",
        "--bind",
        "tcp://127.0.0.1:0",
        "--curve-server",
        &server_secret,
        "--allow-curve",
        &client_public,
    ])
    .await;
    let serverkey = format!("curve_serverkey={server_public}");
    let publickey = format!("curve_publickey={client_public}");
    let secretkey = format!("curve_secretkey={client_secret}");
    let (code, _, err) = run(
        &[
            "cat",
            "--type",
            "push",
            "--connect",
            &ep,
            "--sockopt",
            &serverkey,
            "--sockopt",
            &publickey,
            "--sockopt",
            &secretkey,
            "--linger",
            "5000",
        ],
        b"keys by name\n",
    )
    .await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(
        server.cmd("recv").await,
        format!("{{\"frames\": [\"{}\"]}}", hex(b"keys by name"))
    );
    server.quit().await;
}

/// `--sockopt USE_FD=3` in a socket-activated `cat`: the PULL serves the listener handed
/// at descriptor 3 (the bind's address is ignored: the bound endpoint is the listener's
/// own) and a libzmq PUSH reaches it there.
#[cfg(unix)]
#[tokio::test]
async fn cat_sockopt_use_fd_serves_a_socket_activated_listener() {
    venv_python();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut cli = Cli::spawn_activated(
        &[
            "cat",
            "--type",
            "pull",
            "--sockopt",
            "USE_FD=3",
            "--bind",
            "tcp://192.0.2.1:1",
            "--count",
            "1",
        ],
        std::os::fd::OwnedFd::from(listener),
    );
    let bound = cli.ready().await;
    assert_eq!(bound, vec![ep.clone()]);
    let (peer, _) = PyPeer::start(["PUSH", "--connect", &ep, "send", "1", "text:activated"]).await;
    assert_eq!(cli.lines(1).await, vec!["activated"]);
    cli.expect_exit(0).await;
    peer.finish().await;
}

/// What `--sockopt` refuses: usage errors (2) for what cannot be parsed, a runtime error
/// (1) naming the option for what libzmq has and this socket cannot take.
#[tokio::test]
async fn cat_sockopt_errors() {
    let base = ["cat", "--type", "push", "--connect", "tcp://127.0.0.1:1"];
    for (sockopt, code, needle) in [
        (
            "no_such_option=1",
            2,
            "unknown socket option 'no_such_option'",
        ),
        ("sndhwm", 2, "is not NAME=VALUE"),
        ("sndhwm=ten", 2, "sndhwm takes an integer, not 'ten'"),
        ("routing_id=0xzz", 2, "is not hex"),
        ("999=1", 2, "libzmq has no socket option 999"),
        ("rate=10", 1, "--sockopt RATE (8)"),
        ("sndhwm=-1", 1, "--sockopt SNDHWM (23)"),
        ("type=1", 1, "read-only"),
        // Not run socket-activated: no descriptor was handed.
        ("use_fd=3", 1, "--sockopt USE_FD (89)"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--sockopt", sockopt]);
        let (got, _, err) = run(&args, b"").await;
        assert_eq!(got, Some(code), "{sockopt}: stderr: {err}");
        assert!(err.contains(needle), "{sockopt}: {err}");
    }
}
