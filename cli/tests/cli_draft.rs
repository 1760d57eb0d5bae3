//! `aiozmq cat` with libzmq's draft socket types (CLIENT/SERVER, SCATTER/GATHER, PEER,
//! CHANNEL, RADIO/DISH, DGRAM), against this crate's own sockets (pyzmq's release build has
//! no draft types) and a plain UDP socket: routing ids on SERVER and PEER lines,
//! `--connect-peer`, groups on RADIO and DISH lines (over tcp and udp), DGRAM's ADDR<TAB>DATA
//! lines, single-frame lines, and the directions each type allows.

#[path = "../../tests/support/mod.rs"]
mod support;

mod cli_support;

use std::time::Duration;

use aiozmq::{Message, Socket, SocketType};
use cli_support::{run, Cli};
use tokio::time::{timeout, Instant};

/// How long a receive waits before the sender tries again: a DISH's joins reach a RADIO
/// asynchronously, and a RADIO drops what no one joined.
const RETRY: Duration = Duration::from_millis(50);

/// How long the retries go on.
const JOIN_WAIT: Duration = Duration::from_secs(10);

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

fn grouped(group: &str, body: &str) -> Message {
    Message::from(body.to_string()).with_group(group).unwrap()
}

/// The next message on `dish` whose body is not `probe` (the retries of the join wait).
async fn recv_skipping_probes(dish: &Socket) -> Message {
    loop {
        let m = recv(dish).await;
        if &m[0][..] != b"probe" {
            return m;
        }
    }
}

#[tokio::test]
async fn cat_as_radio_sends_each_line_to_its_group_only() {
    let _panics = support::check_library_panics();
    let tv = Socket::new(SocketType::Dish);
    let tv_ep = tv.bind("tcp://127.0.0.1:*").await.unwrap();
    tv.join("tv").unwrap();
    let news = Socket::new(SocketType::Dish);
    let news_ep = news.bind("tcp://127.0.0.1:*").await.unwrap();
    news.join("news").unwrap();
    let mut cli = Cli::spawn(&[
        "cat",
        "--type",
        "radio",
        "--connect",
        &tv_ep,
        "--connect",
        &news_ep,
        "--group",
        "tv",
    ]);
    cli.ready().await;
    // Probe both groups until each dish's join has reached the RADIO.
    let deadline = Instant::now() + JOIN_WAIT;
    let (mut tv_ok, mut news_ok) = (false, false);
    while !(tv_ok && news_ok) {
        assert!(
            Instant::now() < deadline,
            "joins not seen within {JOIN_WAIT:?} (tv {tv_ok}, news {news_ok})"
        );
        cli.write(b"probe\nnews\tprobe\n").await;
        if let Ok(m) = timeout(RETRY, tv.recv()).await {
            assert_eq!(m.unwrap(), grouped("tv", "probe"));
            tv_ok = true;
        }
        if let Ok(m) = timeout(RETRY, news.recv()).await {
            assert_eq!(m.unwrap(), grouped("news", "probe"));
            news_ok = true;
        }
    }
    // The lines of each group, interleaved: each dish gets its own group's, in order.
    cli.write(b"news\tfor news\ntv\tfor tv\nno group field\n\tempty group field\nnews\tlast\n")
        .await;
    let mut got_tv = Vec::new();
    for _ in 0..3 {
        got_tv.push(recv_skipping_probes(&tv).await);
    }
    assert_eq!(
        got_tv,
        vec![
            grouped("tv", "for tv"),
            grouped("tv", "no group field"),
            grouped("tv", "empty group field"),
        ],
        "the tv dish: --group's lines and tv's, not news's"
    );
    assert_eq!(
        vec![
            recv_skipping_probes(&news).await,
            recv_skipping_probes(&news).await
        ],
        vec![grouped("news", "for news"), grouped("news", "last")],
        "the news dish: news's lines only (the tv lines came between them)"
    );
    cli.close_stdin();
    let out = cli.stdout_rest().await;
    assert!(out.is_empty(), "RADIO only sends: {out:?}");
    cli.expect_exit(0).await;
}

/// Sends `probe` from `radio` every [`RETRY`] until `cli` prints a line; returns the line.
async fn probe_until_printed(cli: &mut Cli, radio: &Socket, probe: &[Message]) -> String {
    let deadline = Instant::now() + JOIN_WAIT;
    loop {
        assert!(
            Instant::now() < deadline,
            "the cat DISH printed nothing within {JOIN_WAIT:?}"
        );
        for m in probe {
            timeout(JOIN_WAIT, radio.send(m.clone()))
                .await
                .expect("RADIO send waited")
                .expect("RADIO send");
        }
        if let Ok(line) = timeout(RETRY, cli.line()).await {
            return line;
        }
    }
}

#[tokio::test]
async fn cat_as_dish_prints_group_and_data_from_a_radio_over_tcp() {
    let _panics = support::check_library_panics();
    let radio = Socket::new(SocketType::Radio);
    let ep = radio.bind("tcp://127.0.0.1:*").await.unwrap();
    let mut cli = Cli::spawn(&[
        "cat",
        "--type",
        "dish",
        "--connect",
        &ep,
        "--join",
        "tv",
        "--join",
        "news",
    ]);
    cli.ready().await;
    // The joins travel in order: once the last one is in, both are.
    let first = probe_until_printed(&mut cli, &radio, &[grouped("news", "probe")]).await;
    assert_eq!(first, "news\tprobe");
    for m in [
        grouped("weather", "not joined"),
        grouped("tv", "hello tv"),
        grouped("t", "a prefix of tv"),
        grouped("news", "last"),
    ] {
        radio.send(m).await.unwrap();
    }
    let mut lines = Vec::new();
    loop {
        let line = cli.line().await;
        if line == "news\tprobe" {
            continue;
        }
        let done = line == "news\tlast";
        lines.push(line);
        if done {
            break;
        }
    }
    assert_eq!(
        lines,
        vec!["tv\thello tv", "news\tlast"],
        "GROUP<TAB>DATA, the joined groups only (exact match)"
    );
}

#[tokio::test]
async fn cat_as_dish_binds_udp_and_filters_groups() {
    let _panics = support::check_library_panics();
    let (mut cli, bound) = Cli::start(&[
        "cat",
        "--type",
        "dish",
        "--bind",
        "udp://127.0.0.1:0",
        "--hex",
        "--join",
        "ff01",
        "-n",
        "1",
    ])
    .await;
    assert!(
        bound[0].starts_with("udp://127.0.0.1:") && !bound[0].ends_with(":0"),
        "the resolved endpoint: {bound:?}"
    );
    let radio = Socket::new(SocketType::Radio);
    radio.connect(&bound[0]).await.unwrap();
    // Each round, a datagram of a group not joined goes first: the DISH drops it.
    let other = Message::from("other").with_group("tv").unwrap();
    let binary = Message::from(vec![0u8, 0xff])
        .with_group([0xff, 0x01])
        .unwrap();
    let line = probe_until_printed(&mut cli, &radio, &[other, binary]).await;
    assert_eq!(line, "ff01\t00ff", "a binary group, in hex with --hex");
    cli.expect_exit(0).await;
}

#[tokio::test]
async fn radio_and_dish_usage_errors_exit_2() {
    let _panics = support::check_library_panics();
    let ep = "tcp://127.0.0.1:1";
    let cases: &[(&[&str], &str)] = &[
        (
            &["--type", "radio", "--connect", ep],
            "a RADIO socket needs --group GROUP",
        ),
        (
            &["--type", "dish", "--connect", ep],
            "a DISH socket needs --join GROUP",
        ),
        (
            &["--type", "pub", "--connect", ep, "--group", "g"],
            "--group is for RADIO sockets, not PUB",
        ),
        (
            &[
                "--type",
                "dish",
                "--connect",
                ep,
                "--join",
                "g",
                "--group",
                "g",
            ],
            "--group is for RADIO sockets, not DISH",
        ),
        (
            &[
                "--type",
                "radio",
                "--connect",
                ep,
                "--group",
                "g",
                "--join",
                "g",
            ],
            "--join is for DISH sockets, not RADIO",
        ),
        (
            &["--type", "radio", "--connect", ep, "--group", ""],
            "--group: a group is 1 to 255 bytes",
        ),
        (
            &["--type", "dish", "--connect", ep, "--hex", "--join", "6700"],
            "with a zero byte",
        ),
        (
            &["--type", "radio", "--connect", ep, "--group", "g", "--recv"],
            "RADIO sockets cannot receive",
        ),
        (
            &["--type", "dish", "--connect", ep, "--join", "g", "--send"],
            "DISH sockets cannot send",
        ),
    ];
    for (args, text) in cases {
        let mut v = vec!["cat"];
        v.extend_from_slice(args);
        let (code, _, err) = run(&v, b"").await;
        assert_eq!(code, Some(2), "{v:?}: stderr: {err}");
        assert!(err.contains(text), "{v:?}: {err}");
    }
}

#[tokio::test]
async fn radio_line_with_a_bad_group_stops_with_status_1() {
    let _panics = support::check_library_panics();
    let dish = Socket::new(SocketType::Dish);
    let ep = dish.bind("tcp://127.0.0.1:*").await.unwrap();
    let long = "g".repeat(256);
    let (code, _, err) = run(
        &["cat", "--type", "radio", "--connect", &ep, "--group", "tv"],
        format!("fine\n{long}\tdata\n").as_bytes(),
    )
    .await;
    assert_eq!(code, Some(1), "a malformed line's status; stderr: {err}");
    assert!(
        err.contains("stdin line 2: a group is 1 to 255 bytes without a zero byte"),
        "{err}"
    );
}

/// One datagram on `u`, read on a blocking-pool thread (`u` has a read timeout).
async fn udp_recv(u: &std::net::UdpSocket) -> Vec<u8> {
    let u = u.try_clone().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 65536];
        let (n, _) = u
            .recv_from(&mut buf)
            .expect("no datagram within its timeout");
        buf[..n].to_vec()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn cat_as_dgram_prints_addr_and_data_and_sends_lines_as_datagrams() {
    let _panics = support::check_library_panics();
    let (mut cli, bound) =
        Cli::start(&["cat", "--type", "dgram", "--bind", "udp://127.0.0.1:0"]).await;
    let cat_addr = bound[0]
        .strip_prefix("udp://")
        .unwrap_or_else(|| panic!("the resolved endpoint: {bound:?}"))
        .to_string();
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let u_addr = u.local_addr().unwrap().to_string();

    u.send_to(b"hello", &cat_addr).unwrap();
    assert_eq!(
        cli.line().await,
        format!("{u_addr}\thello"),
        "ADDR<TAB>DATA, the address without libzmq's NUL"
    );
    cli.write(format!("{u_addr}\treply\n").as_bytes()).await;
    assert_eq!(
        udp_recv(&u).await,
        b"reply",
        "the DATA alone, as one datagram"
    );
    // A line without an address is malformed: status 1, the reason on stderr.
    cli.write(b"no address\n").await;
    let err = cli.expect_exit(1).await;
    assert!(
        err.contains("a DGRAM socket's line is ADDR<separator>DATA"),
        "stderr: {err}"
    );
}

#[tokio::test]
async fn cat_as_dgram_refuses_a_bad_address_and_a_tcp_endpoint() {
    let _panics = support::check_library_panics();
    let (code, _, err) = run(
        &["cat", "--type", "dgram", "--bind", "udp://127.0.0.1:0"],
        b"localhost:5\tdata\n",
    )
    .await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.contains("'localhost:5' is no DGRAM address"),
        "stderr: {err}"
    );
    let (code, _, err) = run(
        &["cat", "--type", "dgram", "--bind", "tcp://127.0.0.1:*"],
        b"",
    )
    .await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(
        err.contains("a DGRAM socket binds to udp:// only"),
        "stderr: {err}"
    );
}
