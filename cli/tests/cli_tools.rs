//! The `aiozmq` command-line tool on its own (no Python needed): `keypair`, usage errors,
//! exit statuses, signals, and `cat`/`proxy` with security against this crate's sockets.

#[path = "../../tests/support/mod.rs"]
mod support;

mod cli_support;

use std::time::Duration;

use aiozmq::{Message, Socket, SocketType};
use cli_support::{run, Cli};

async fn recv(s: &Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(10), s.recv())
        .await
        .expect("no message within 10 s")
        .expect("recv failed")
}

fn z85_key(text: &str) -> [u8; 32] {
    assert_eq!(text.len(), 40, "{text:?} is not 40 characters");
    let raw = aiozmq::zmtp::z85::decode(text).unwrap_or_else(|| panic!("{text:?} is not Z85"));
    raw.try_into().expect("32 bytes")
}

fn parse_keypair(out: &str) -> (String, String) {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "two lines expected: {out:?}");
    let public = lines[0].strip_prefix("public: ").expect("public: line");
    let secret = lines[1].strip_prefix("secret: ").expect("secret: line");
    (public.to_string(), secret.to_string())
}

#[tokio::test]
async fn keypair_prints_a_valid_pair() {
    let _panics = support::check_library_panics();
    let (code, out, err) = run(&["keypair"], b"").await;
    assert_eq!(code, Some(0), "stderr: {err}");
    let (public, secret) = parse_keypair(&out);
    z85_key(&public);
    z85_key(&secret);
    assert_eq!(aiozmq::curve_public(&secret).unwrap(), public);
    // Two runs, two pairs.
    let (_, again, _) = run(&["keypair"], b"").await;
    assert_ne!(parse_keypair(&again).1, secret);
    // --secret derives the public key of a given secret key.
    let (code, out, _) = run(&["keypair", "--secret", &secret], b"").await;
    assert_eq!(code, Some(0));
    assert_eq!(parse_keypair(&out), (public, secret));
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let _panics = support::check_library_panics();
    let (public, _) = aiozmq::curve_keypair();
    let cases: &[&[&str]] = &[
        &[],
        &["bogus"],
        &["--bogus"],
        &["cat"],
        &["cat", "--type", "pull"],
        &["cat", "--type", "nope", "--bind", "tcp://127.0.0.1:*"],
        &[
            "cat",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--send",
        ],
        &[
            "cat",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--count",
            "x",
        ],
        &[
            "cat",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--curve-serverkey",
            "short",
        ],
        &[
            "cat",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--zap-allow-key",
            &public,
        ],
        &["cat", "--type", "push", "--connect", "tcp://*:1"],
        &["monitor", "--type", "pull"],
        &[
            "monitor",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--timeout",
            "0",
        ],
        &["keypair", "--secret", "short"],
        &["keypair", "extra"],
        &[
            "proxy",
            "--curve-server",
            "--frontend",
            "pull@tcp://127.0.0.1:*",
        ],
        &["proxy", "--frontend", "pull@tcp://127.0.0.1:*"],
    ];
    for args in cases {
        let (code, out, err) = run(args, b"").await;
        assert_eq!(code, Some(2), "{args:?}: stdout {out:?} stderr {err:?}");
        assert!(
            // clap's errors: "For more information, try '--help'."; the tool's own checks:
            // "Try 'aiozmq COMMAND --help' for more information."
            err.contains("--help"),
            "{args:?}: no pointer to the help in {err:?}"
        );
        assert!(out.is_empty(), "{args:?}: printed {out:?}");
    }
}

/// The subcommands `aiozmq --help` lists (and completions and the man page must know).
const COMMANDS: [&str; 7] = [
    "cat",
    "monitor",
    "proxy",
    "keypair",
    "rpc",
    "completions",
    "man",
];

/// `aiozmq completions SHELL` prints a script for each shell clap_complete knows, naming
/// the tool and every subcommand (and an option of each kind); an unknown shell is a usage
/// error.
#[tokio::test]
async fn completions_for_every_shell() {
    let _panics = support::check_library_panics();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let (code, out, err) = run(&["completions", shell], b"").await;
        assert_eq!(code, Some(0), "{shell}: {err}");
        assert!(out.contains("aiozmq"), "{shell}: {out}");
        // Options as the shell's syntax writes them (fish: `-l curve-serverkey`).
        for word in COMMANDS
            .iter()
            .chain(&["curve-serverkey", "frontend", "sockopt"])
        {
            assert!(out.contains(word), "{shell} completion lacks {word}");
        }
    }
    let (code, out, bash) = run(&["completions", "bash"], b"").await;
    assert_eq!((code, out.is_empty()), (Some(0), false), "{bash}");
    assert!(
        out.contains("complete -F"),
        "a bash completion function: {out}"
    );
    let (code, out, err) = run(&["completions", "tcsh"], b"").await;
    assert_eq!(code, Some(2), "{out}");
    assert!(err.contains("'tcsh'"), "{err}");
}

/// `aiozmq man` prints roff: a page for the tool naming every subcommand, then one page per
/// subcommand with its options and its help's extra text.
#[tokio::test]
async fn man_page_has_every_command() {
    let _panics = support::check_library_panics();
    let (code, out, err) = run(&["man"], b"").await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.starts_with(".ie") || out.starts_with(".TH"),
        "{}",
        &out[..80]
    );
    assert!(out.contains(".TH aiozmq 1"), "the tool's page");
    assert!(out.contains(".SH SUBCOMMANDS"), "its list of subcommands");
    for c in COMMANDS {
        assert!(
            out.contains(&format!(".TH aiozmq\\-{c} 1"))
                || out.contains(&format!(".TH aiozmq-{c} 1")),
            "no page for {c}"
        );
    }
    assert!(out.contains("STATISTICS"), "proxy's control commands");
    assert!(out.contains("curve\\-serverkey"), "the security options");
    assert!(out.contains("aiozmq 0.1.0") || out.contains(env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn every_help_exits_0() {
    let _panics = support::check_library_panics();
    for args in [
        &["--help"][..],
        &["help"],
        &["help", "cat"],
        &["cat", "--help"],
        &["monitor", "-h"],
        &["proxy", "--help"],
        &["keypair", "--help"],
        &["rpc", "--help"],
        &["rpc", "call", "--help"],
        &["help", "rpc", "serve"],
        &["completions", "--help"],
        &["man", "--help"],
    ] {
        let (code, out, err) = run(args, b"").await;
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(out.contains("Usage: aiozmq"), "{args:?}: {out}");
    }
}

#[tokio::test]
async fn timeout_exits_3() {
    let _panics = support::check_library_panics();
    let (code, out, err) = run(
        &[
            "cat",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "--timeout",
            "200",
        ],
        b"",
    )
    .await;
    assert_eq!(code, Some(3), "stderr: {err}");
    assert!(out.is_empty());
    assert!(
        err.contains("aiozmq cat: timeout: no message within 200 ms"),
        "{err}"
    );
    let (code, _, err) = run(
        &[
            "monitor",
            "--type",
            "pull",
            "--bind",
            "tcp://127.0.0.1:*",
            "-n",
            "5",
            "--timeout",
            "200",
        ],
        b"",
    )
    .await;
    assert_eq!(code, Some(3), "stderr: {err}");
    // A send that no peer takes.
    let (code, _, err) = run(
        &[
            "cat",
            "--type",
            "push",
            "--bind",
            "tcp://127.0.0.1:*",
            "--timeout",
            "200",
        ],
        b"unsent\n",
    )
    .await;
    assert_eq!(code, Some(3), "stderr: {err}");
    assert!(
        err.contains("no peer took the message within 200 ms"),
        "{err}"
    );
}

#[tokio::test]
async fn runtime_errors_exit_1() {
    let _panics = support::check_library_panics();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", taken.local_addr().unwrap());
    let (code, _, err) = run(&["cat", "--type", "pull", "--bind", &ep], b"").await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.contains(&format!("aiozmq cat: error: cannot bind {ep}")),
        "{err}"
    );
    let (code, _, err) = run(&["monitor", "--type", "pull", "--bind", &ep], b"").await;
    assert_eq!(code, Some(1), "stderr: {err}");
    // A malformed input line.
    let pull = Socket::new(SocketType::Pull);
    let pep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let (code, _, err) = run(
        &["cat", "--type", "push", "--connect", &pep, "--hex"],
        b"00ff\nxyz\n",
    )
    .await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(err.contains("stdin line 2"), "{err}");
    assert_eq!(&recv(&pull).await[0][..], &[0, 255]);
}

#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_exits_130_and_removes_the_ipc_file() {
    let _panics = support::check_library_panics();
    let dir = std::env::temp_dir().join(format!("aiozmq-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cat.sock");
    let ep = format!("ipc://{}", path.display());
    let (mut cli, bound) = Cli::start(&["cat", "--type", "pull", "--bind", &ep]).await;
    assert_eq!(bound, vec![ep.clone()]);
    assert!(path.exists());
    let status = std::process::Command::new("kill")
        .args(["-INT", &cli.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    cli.expect_exit(130).await;
    assert!(!path.exists(), "the IPC socket file was left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn cat_against_our_sockets() {
    let _panics = support::check_library_panics();
    // PUSH from stdin to one of our PULL sockets, then our PUSH to the tool's PULL.
    let pull = Socket::new(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
    let (code, _, err) = run(
        &[
            "cat",
            "--type",
            "push",
            "--connect",
            &ep,
            "--separator",
            "|",
        ],
        b"a|b\n\nc||d\n",
    )
    .await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(recv(&pull).await, Message::from(["a", "b"]));
    assert_eq!(recv(&pull).await, Message::from([""]));
    assert_eq!(recv(&pull).await, Message::from(["c", "", "d"]));

    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "pull",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "2",
    ])
    .await;
    let push = Socket::new(SocketType::Push);
    push.connect(&bound[0]).await.unwrap();
    push.send(Message::from(["x", "y"])).await.unwrap();
    push.send(Message::from(["z"])).await.unwrap();
    assert_eq!(cli.lines(2).await, vec!["x\ty", "z"]);
    cli.expect_exit(0).await;
}

#[tokio::test]
async fn proxy_with_a_curve_frontend() {
    let _panics = support::check_library_panics();
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let (client_public, client_secret) = aiozmq::curve_keypair();
    let mut proxy = Cli::spawn(&[
        "proxy",
        "--frontend",
        "pull@tcp://127.0.0.1:*",
        "--curve-server",
        "--curve-secretkey",
        &server_secret,
        "--zap-allow-key",
        &client_public,
        "--backend",
        "push@tcp://127.0.0.1:*",
    ]);
    let mut eps = Vec::new();
    loop {
        let line = proxy.line().await;
        if line == "proxy running" {
            break;
        }
        eps.push(line.rsplit(' ').next().unwrap().to_string());
    }
    let (front, back) = (&eps[0], &eps[1]);

    // A client whose key is not allowed is refused; the proxy says so on stderr.
    let (_, stranger_secret) = aiozmq::curve_keypair();
    let stranger = Socket::new(SocketType::Push);
    stranger.set_curve_serverkey(&server_public).unwrap();
    stranger.set_curve_secretkey(&stranger_secret).unwrap();
    stranger
        .set_curve_publickey(aiozmq::curve_public(&stranger_secret).unwrap())
        .unwrap();
    stranger.connect(front).await.unwrap();
    let line = proxy.stderr_until("handshake failed").await;
    assert!(
        line.starts_with("aiozmq proxy: warning: frontend: handshake failed on")
            && line.contains("HANDSHAKE_FAILED_AUTH 400"),
        "{line}"
    );
    drop(stranger);

    let client = Socket::new(SocketType::Push);
    client.set_curve_serverkey(&server_public).unwrap();
    client.set_curve_publickey(&client_public).unwrap();
    client.set_curve_secretkey(&client_secret).unwrap();
    client.connect(front).await.unwrap();
    let sink = Socket::new(SocketType::Pull);
    sink.connect(back).await.unwrap();
    client
        .send(Message::from(["through", "curve"]))
        .await
        .unwrap();
    assert_eq!(recv(&sink).await, Message::from(["through", "curve"]));
}

#[tokio::test]
async fn cat_stream_talks_to_a_plain_tcp_client() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _panics = support::check_library_panics();
    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "stream",
        "--bind",
        "tcp://127.0.0.1:*",
        "--hex",
        "-n",
        "3",
    ])
    .await;
    let addr = bound[0].strip_prefix("tcp://").expect("a tcp endpoint");
    let mut client = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .expect("connect within 10 s")
    .expect("connect");
    // The connect notification: the routing id (a zero byte, then four) and an empty frame.
    let line = cli.line().await;
    let (id, data) = line.split_once('\t').expect("two frames");
    assert_eq!((id.len(), &id[..2], data), (10, "00", ""), "{line}");
    client.write_all(b"hi").await.unwrap();
    assert_eq!(cli.line().await, format!("{id}\t6869"));
    // A line to that routing id is written to the client raw, an empty frame closes it.
    cli.write(format!("{id}\t6f6b\n{id}\t\n").as_bytes()).await;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut got))
        .await
        .expect("EOF within 10 s")
        .expect("read");
    assert_eq!(got, b"ok");
    drop(client);
    cli.close_stdin();
    // The third message: the client's connection is gone. Nothing more is reported, as
    // the server closed it; so the count is reached by a second client's connect.
    let _second = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let line = cli.line().await;
    assert!(line.ends_with('\t') && !line.starts_with(id), "{line}");
    cli.expect_exit(0).await;
}
