//! The `aiozmq proxy` command-line tool as a subprocess with this crate's sockets in the
//! test process: usage errors and help, a broker run steered and ended by TERMINATE, a
//! connecting SUB frontend.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Stdio;

use aiozmq::{Socket, SocketType};
use support::broker::{client_id, expect_empty_reply, request_body, spawn_workers, statistics};
use support::{bind_any, connect, frames, msg, recv, send, OP_TIMEOUT};
use tokio::io::{AsyncBufReadExt, BufReader};

// ---- the command-line tool --------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_aiozmq");

/// Runs the tool to completion (bounded) and returns (status code, stdout, stderr).
async fn run_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        OP_TIMEOUT,
        tokio::process::Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("aiozmq {args:?} did not exit within {OP_TIMEOUT:?}"))
    .expect("run aiozmq");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn cli_help_and_usage_errors() {
    let _panics = support::check_library_panics();
    let (code, out, _) = run_cli(&["--help"]).await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains("proxy") && out.contains("TYPE@ENDPOINT"),
        "{out}"
    );
    let (code, out, _) = run_cli(&["proxy", "--help"]).await;
    assert_eq!(code, Some(0));
    assert!(
        out.contains("--frontend") && out.contains("STATISTICS"),
        "{out}"
    );
    let (code, out2, _) = run_cli(&["help", "proxy"]).await;
    assert_eq!((code, out2), (Some(0), out));

    for (args, says) in [
        (&[][..], "Usage: aiozmq"),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["proxy"], "--frontend <SOCKET>"),
        (
            &["proxy", "--frontend", "router@tcp://127.0.0.1:*"],
            "--backend <SOCKET>",
        ),
        (
            &[
                "proxy",
                "--frontend",
                "router",
                "--backend",
                "dealer@tcp://127.0.0.1:*",
            ],
            "not TYPE@ENDPOINT",
        ),
        (
            &[
                "proxy",
                "--frontend",
                "rooter@tcp://127.0.0.1:*",
                "--backend",
                "dealer@tcp://127.0.0.1:*",
            ],
            "unknown socket type 'rooter'",
        ),
        (
            &[
                "proxy",
                "--frontend",
                "router@pgm://x:1",
                "--backend",
                "dealer@tcp://127.0.0.1:*",
            ],
            "pgm://x:1",
        ),
        (
            &[
                "proxy",
                "--frontend",
                "router@tcp://127.0.0.1:*",
                "--backend",
                "dealer@tcp://127.0.0.1:*",
                "--turbo",
            ],
            "unexpected argument '--turbo'",
        ),
        (
            &[
                "proxy",
                "--frontend",
                "push@tcp://127.0.0.1:*",
                "--backend",
                "push@tcp://127.0.0.1:*",
            ],
            "nothing can flow",
        ),
    ] {
        let (code, _, err) = run_cli(args).await;
        assert_eq!(
            code,
            Some(2),
            "aiozmq {args:?}: exit status (stderr: {err})"
        );
        assert!(
            err.contains(says),
            "aiozmq {args:?}: stderr should say {says:?}: {err}"
        );
        assert!(
            err.contains("--help"),
            "aiozmq {args:?}: stderr should point to help: {err}"
        );
    }

    // A runtime error (the port is taken): exit status 1.
    let taken = Socket::new(SocketType::Router);
    let ep = bind_any(&taken).await;
    let (code, _, err) = run_cli(&[
        "proxy",
        "--frontend",
        &format!("router@{ep}"),
        "--backend",
        "dealer@tcp://127.0.0.1:*",
    ])
    .await;
    assert_eq!(code, Some(1), "stderr: {err}");
    assert!(err.contains("cannot bind"), "{err}");
}

/// The tool's stdout: `ROLE bound ENDPOINT` lines up to `proxy running`.
async fn cli_endpoints(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> BTreeMap<String, String> {
    let mut eps = BTreeMap::new();
    loop {
        let line = tokio::time::timeout(OP_TIMEOUT, lines.next_line())
            .await
            .expect("the proxy prints its endpoints")
            .expect("read stdout")
            .expect("the proxy exited early");
        if line == "proxy running" {
            return eps;
        }
        match line.split(' ').collect::<Vec<_>>()[..] {
            [role, "bound", ep] => {
                eps.insert(role.to_string(), ep.to_string());
            }
            [_, "connecting", _] => {}
            _ => panic!("unexpected line {line:?}"),
        }
    }
}

/// `aiozmq proxy` as a broker between our REQ clients and REP workers, steered and ended
/// over its REP control socket (exit status 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_broker_with_our_sockets() {
    let _panics = support::check_library_panics();
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "proxy",
            "--frontend",
            "router@tcp://127.0.0.1:*",
            "--backend=dealer@tcp://127.0.0.1:*",
            "--control",
            "rep@tcp://127.0.0.1:*",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start aiozmq proxy");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let eps = cli_endpoints(&mut lines).await;
    let workers = spawn_workers(&eps["backend"], 2);
    let mut clients = Vec::new();
    for i in 0..3 {
        let req = Socket::new(SocketType::Req);
        req.set_routing_id(client_id(i)).unwrap();
        connect(&req, &eps["frontend"]).await;
        clients.push(req);
    }
    for j in 0..5 {
        for (i, req) in clients.iter().enumerate() {
            send(req, request_body(i, j), "request").await;
        }
        for (i, req) in clients.iter().enumerate() {
            let reply = recv(req, "reply").await;
            assert_eq!(
                &reply[0][..],
                format!("ok:{}", request_body(i, j)).as_bytes()
            );
        }
    }
    let ctl = Socket::new(SocketType::Req);
    connect(&ctl, &eps["control"]).await;
    let stats = statistics(&ctl).await;
    assert_eq!(
        (
            stats.frontend_messages_in,
            stats.frontend_messages_out,
            stats.backend_messages_in,
            stats.backend_messages_out
        ),
        (45, 45, 45, 45), // 3 frames each: routing id, delimiter, body
    );
    expect_empty_reply(&ctl, "TERMINATE").await;
    let status = tokio::time::timeout(OP_TIMEOUT, child.wait())
        .await
        .expect("the proxy exits after TERMINATE")
        .expect("wait");
    assert!(status.success(), "exit status {status}");
    for w in workers {
        w.abort();
    }
}

/// `aiozmq proxy` connecting (`TYPE>ENDPOINT`) a SUB frontend to our publisher: the SUB
/// subscribes to everything (the publisher, an XPUB, sees the empty subscription), and
/// what is published reaches our PULL through the proxy's PUSH backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_connects_a_sub_frontend_subscribed_to_everything() {
    let _panics = support::check_library_panics();
    let publisher = Socket::new(SocketType::XPub);
    let pub_ep = bind_any(&publisher).await;
    let mut child = tokio::process::Command::new(BIN)
        .args([
            "proxy",
            &format!("--frontend=sub>{pub_ep}"),
            "--backend",
            "push@tcp://127.0.0.1:*",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start aiozmq proxy");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let eps = cli_endpoints(&mut lines).await;
    let consumer = Socket::new(SocketType::Pull);
    connect(&consumer, &eps["backend"]).await;
    let sub = recv(&publisher, "the proxy's subscription").await;
    assert_eq!(
        frames(&sub),
        vec![b"\x01".to_vec()],
        "subscribed to everything"
    );
    send(&publisher, msg(&[b"topic", b"data"]), "publish").await;
    let got = recv(&consumer, "through the proxy").await;
    assert_eq!(frames(&got), vec![b"topic".to_vec(), b"data".to_vec()]);
}
