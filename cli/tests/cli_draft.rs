//! `aiozmq cat` with libzmq's draft socket types (CLIENT/SERVER, SCATTER/GATHER, PEER,
//! CHANNEL), against this crate's own sockets (pyzmq's release build has no draft types):
//! routing ids on SERVER and PEER lines, `--connect-peer`, single-frame lines, and the
//! directions each type allows.

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

/// A `ROUTING_ID<TAB>DATA` line split, the id parsed.
fn routed(line: &str) -> (u32, String) {
    let (id, data) = line
        .split_once('\t')
        .unwrap_or_else(|| panic!("{line:?} is not ROUTING_ID<TAB>DATA"));
    (
        id.parse()
            .unwrap_or_else(|_| panic!("{id:?} is not a decimal routing id")),
        data.to_string(),
    )
}

#[tokio::test]
async fn cat_as_server_answers_a_client_by_routing_id() {
    let _panics = support::check_library_panics();
    let (mut cli, bound) =
        Cli::start(&["cat", "--type", "server", "--bind", "tcp://127.0.0.1:*"]).await;
    let client = Socket::new(SocketType::Client);
    client.connect(&bound[0]).await.unwrap();
    client.send("hello").await.unwrap();
    let (id, data) = routed(&cli.line().await);
    assert_eq!(data, "hello");
    assert_ne!(id, 0);
    // By its routing id.
    cli.write(format!("{id}\tworld\n").as_bytes()).await;
    assert_eq!(recv(&client).await, Message::from("world"));
    // No routing id: the peer the last message came from.
    cli.write(b"\tagain\n").await;
    assert_eq!(recv(&client).await, Message::from("again"));
    // An unknown routing id: reported, dropped, and the command goes on.
    let other = id.wrapping_add(1).max(1);
    cli.write(format!("{other}\tlost\n{id}\tlast\n").as_bytes())
        .await;
    let warning = cli.stderr_until("no peer with routing id").await;
    assert!(warning.contains(&format!("'{other}'")), "{warning}");
    assert_eq!(recv(&client).await, Message::from("last"));
    // The same id for the next message from that client.
    client.send("bye").await.unwrap();
    assert_eq!(cli.line().await, format!("{id}\tbye"));
}

#[tokio::test]
async fn cat_as_server_waits_for_a_peer_before_a_line_without_routing_id() {
    let _panics = support::check_library_panics();
    let (mut cli, bound) =
        Cli::start(&["cat", "--type", "server", "--bind", "tcp://127.0.0.1:*"]).await;
    // Written before any client exists: held until a message names a peer.
    cli.write(b"\tanswer\n").await;
    let client = Socket::new(SocketType::Client);
    client.connect(&bound[0]).await.unwrap();
    client.send("question").await.unwrap();
    assert_eq!(routed(&cli.line().await).1, "question");
    assert_eq!(recv(&client).await, Message::from("answer"));
}

#[tokio::test]
async fn cat_as_server_echoes() {
    let _panics = support::check_library_panics();
    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "server",
        "--bind",
        "tcp://127.0.0.1:*",
        "--echo",
        "-n",
        "2",
    ])
    .await;
    let a = Socket::new(SocketType::Client);
    a.connect(&bound[0]).await.unwrap();
    let b = Socket::new(SocketType::Client);
    b.connect(&bound[0]).await.unwrap();
    a.send("from a").await.unwrap();
    assert_eq!(recv(&a).await, Message::from("from a"));
    b.send("from b").await.unwrap();
    assert_eq!(recv(&b).await, Message::from("from b"));
    let (ida, _) = routed(&cli.line().await);
    let (idb, _) = routed(&cli.line().await);
    assert_ne!(ida, idb, "each client its own routing id");
    cli.expect_exit(0).await;
}

#[tokio::test]
async fn cat_as_client_talks_to_a_server() {
    let _panics = support::check_library_panics();
    let server = Socket::new(SocketType::Server);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut cli = Cli::spawn(&["cat", "--type", "client", "--connect", &ep, "-n", "1"]);
    cli.ready().await;
    cli.write(b"ping\n").await;
    let request = recv(&server).await;
    assert_eq!(&request[0][..], b"ping");
    let id = request
        .routing_id()
        .expect("a SERVER's message carries a routing id");
    server
        .send(Message::from("pong").with_routing_id(id))
        .await
        .unwrap();
    assert_eq!(cli.line().await, "pong", "a CLIENT prints the data alone");
    cli.expect_exit(0).await;
}

#[tokio::test]
async fn scatter_to_gather_through_two_cats() {
    let _panics = support::check_library_panics();
    let (mut gather, bound) = Cli::start(&[
        "cat",
        "--type",
        "gather",
        "--bind",
        "tcp://127.0.0.1:*",
        "-n",
        "3",
    ])
    .await;
    let (code, out, err) = run(
        &["cat", "--type", "scatter", "--connect", &bound[0]],
        b"one\ntwo\n\n",
    )
    .await;
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_eq!(out, "", "SCATTER only sends");
    assert_eq!(gather.lines(3).await, vec!["one", "two", ""]);
    gather.expect_exit(0).await;
}

#[tokio::test]
async fn peer_connect_peer_shows_and_uses_the_routing_id() {
    let _panics = support::check_library_panics();
    let peer = Socket::new(SocketType::Peer);
    let ep = peer.bind("tcp://127.0.0.1:*").await.unwrap();
    // Only --connect-peer: an endpoint of its own.
    let mut cli = Cli::spawn(&["cat", "--type", "peer", "--connect-peer", &ep, "-n", "1"]);
    let status = cli.stderr_until("connecting ").await;
    let id: u32 = status
        .strip_prefix(&format!("connecting {ep} as peer "))
        .unwrap_or_else(|| panic!("status line {status:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("status line {status:?}: not a routing id"));
    cli.stderr_until("ready").await;
    // A line without a routing id goes to the --connect-peer's peer; one with it, too.
    cli.write(format!("\tfirst\n{id}\tsecond\n").as_bytes())
        .await;
    let first = recv(&peer).await;
    assert_eq!(&first[0][..], b"first");
    let second = recv(&peer).await;
    assert_eq!(&second[0][..], b"second");
    let back = first
        .routing_id()
        .expect("a PEER's message carries a routing id");
    assert_eq!(second.routing_id(), Some(back));
    peer.send(Message::from("reply").with_routing_id(back))
        .await
        .unwrap();
    assert_eq!(
        cli.line().await,
        format!("{id}\treply"),
        "printed with the routing id connect_peer returned"
    );
    cli.expect_exit(0).await;
}

#[tokio::test]
async fn multi_frame_lines_are_refused() {
    let _panics = support::check_library_panics();
    let gather = Socket::new(SocketType::Gather);
    let ep = gather.bind("tcp://127.0.0.1:*").await.unwrap();
    let (code, _, err) = run(
        &["cat", "--type", "scatter", "--connect", &ep],
        b"one\ntwo\tthree\nfour\n",
    )
    .await;
    assert_eq!(code, Some(1), "a malformed line's status; stderr: {err}");
    assert!(
        err.contains(
            "aiozmq cat: error: stdin line 2: SCATTER sockets send single-frame messages, \
             and this line has 2 frames"
        ),
        "{err}"
    );
    // The line before it was sent (delivered within --linger), none after it.
    assert_eq!(recv(&gather).await, Message::from("one"));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), gather.recv())
            .await
            .is_err(),
        "nothing after the refused line"
    );
    // SERVER: ROUTING_ID<TAB>DATA, and DATA single-frame.
    let (code, _, err) = run(
        &[
            "cat",
            "--type",
            "server",
            "--bind",
            "tcp://127.0.0.1:*",
            "--send",
        ],
        b"7\ta\tb\n",
    )
    .await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.contains("stdin line 1: SERVER sockets send single-frame messages"),
        "{err}"
    );
}

#[tokio::test]
async fn directions_and_usage_errors_exit_2() {
    let _panics = support::check_library_panics();
    let ep = "tcp://127.0.0.1:1";
    let cases: &[(&[&str], &str)] = &[
        (
            &["--type", "gather", "--connect", ep, "--send"],
            "GATHER sockets cannot send",
        ),
        (
            &["--type", "scatter", "--connect", ep, "--recv"],
            "SCATTER sockets cannot receive",
        ),
        (
            &["--type", "scatter", "--connect", ep, "-n", "1"],
            "this socket only sends",
        ),
        (
            &["--type", "gather", "--connect", ep, "--echo"],
            "--echo is for",
        ),
        (
            &["--type", "server", "--connect-peer", ep],
            "--connect-peer is for PEER sockets, not SERVER",
        ),
    ];
    for (args, text) in cases {
        let mut v = vec!["cat"];
        v.extend_from_slice(args);
        let (code, _, err) = run(&v, b"").await;
        assert_eq!(code, Some(2), "{v:?}: stderr: {err}");
        assert!(err.contains(text), "{v:?}: {err}");
    }
    // The proxy's socket specs name the library's whole table in their error.
    let (code, _, err) = run(
        &[
            "proxy",
            "--frontend",
            "rooter@tcp://127.0.0.1:*",
            "--backend",
            "dealer@tcp://127.0.0.1:*",
        ],
        b"",
    )
    .await;
    assert_eq!(code, Some(2), "stderr: {err}");
    for t in SocketType::ALL {
        assert!(err.contains(&t.as_str().to_ascii_lowercase()), "{t}: {err}");
    }
}

#[tokio::test]
async fn send_only_server_needs_a_routing_id_or_a_connect_peer() {
    let _panics = support::check_library_panics();
    let (code, _, err) = run(
        &[
            "cat",
            "--type",
            "server",
            "--bind",
            "tcp://127.0.0.1:*",
            "--send",
        ],
        b"\tnowhere\n",
    )
    .await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.contains("a line without a routing id, and no --connect-peer to send it to"),
        "{err}"
    );
}
