//! The proxy with libzmq peers (pyzmq running `interop/proxy_peers.py`): pyzmq REQ clients
//! -> our ROUTER/DEALER broker -> pyzmq REP workers, in process and as the `aiozmq proxy`
//! tool, whose STATISTICS must equal those of libzmq's own `zmq_proxy_steerable` for the
//! same traffic; and pyzmq publishers -> our XSUB/XPUB forwarder -> pyzmq subscribers.
//! The broker cases run over TCP and, as their `_over_ipc` twins, over `ipc://`.
//!
//! Needs Python 3 on PATH and access to PyPI the first time (see tests/support/python.rs);
//! without them these tests fail rather than skip.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aiozmq::{proxy_steerable, ProxyStatistics, Socket, SocketType};
use support::python::{venv_python, PeerMessage, LINE_TIMEOUT};
use support::{bind_any, connect, recv, send, OP_TIMEOUT};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/proxy_peers.py");
const BIN: &str = env!("CARGO_BIN_EXE_aiozmq");

/// A running process that prints lines: `proxy_peers.py` or `aiozmq proxy`. Killed when
/// dropped; every wait is bounded and fails the test with the process's stderr.
struct Proc {
    label: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<JoinHandle<String>>,
}

impl Proc {
    fn spawn(mut cmd: Command, label: String) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        Proc {
            label,
            child,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// `proxy_peers.py ARGS...`, after its READY line (libzmq-proxy prints none).
    async fn peer(args: &[&str]) -> Proc {
        let mut cmd = Command::new(venv_python());
        cmd.arg("-u").arg(SCRIPT).args(args);
        let mut p = Proc::spawn(cmd, format!("proxy_peers.py {}", args.join(" ")));
        if args[0] != "libzmq-proxy" {
            p.expect_line("READY").await;
        }
        p
    }

    /// `aiozmq proxy ARGS...`.
    fn cli(args: &[&str]) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.arg("proxy").args(args);
        Proc::spawn(cmd, format!("aiozmq proxy {}", args.join(" ")))
    }

    async fn line(&mut self) -> String {
        match tokio::time::timeout(LINE_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => self.fail("exited before printing the expected line").await,
            Ok(Err(e)) => self.fail(&format!("reading its stdout failed: {e}")).await,
            Err(_) => {
                self.fail(&format!("printed nothing for {LINE_TIMEOUT:?}"))
                    .await
            }
        }
    }

    async fn expect_line(&mut self, want: &str) {
        let line = self.line().await;
        if line != want {
            self.fail(&format!("expected {want:?}, got {line:.200}"))
                .await;
        }
    }

    /// A proxy's `ROLE bound ENDPOINT` lines, up to `proxy running`.
    async fn endpoints(&mut self) -> BTreeMap<String, String> {
        let mut eps = BTreeMap::new();
        loop {
            let line = self.line().await;
            if line == "proxy running" {
                return eps;
            }
            match line.split(' ').collect::<Vec<_>>()[..] {
                [role, "bound", ep] => {
                    eps.insert(role.to_string(), ep.to_string());
                }
                _ => self.fail(&format!("unexpected line {line:?}")).await,
            }
        }
    }

    async fn wait(&mut self) -> ExitStatus {
        match tokio::time::timeout(LINE_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => self.fail(&format!("waiting failed: {e}")).await,
            Err(_) => self.fail("did not exit").await,
        }
    }

    /// Expects `DONE` and a zero exit status.
    async fn finish(mut self) {
        self.expect_line("DONE").await;
        let status = self.wait().await;
        if !status.success() {
            self.fail(&format!("exited with {status}")).await;
        }
    }

    async fn fail(&mut self, what: &str) -> ! {
        if matches!(self.child.try_wait(), Ok(None))
            && tokio::time::timeout(Duration::from_secs(2), self.child.wait())
                .await
                .is_err()
        {
            let _ = self.child.kill().await;
        }
        let stderr = match self.stderr.take() {
            Some(t) => tokio::time::timeout(Duration::from_secs(5), t)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| "(unavailable)".into()),
            None => "(already taken)".into(),
        };
        panic!("{}: {what}\n  stderr:\n{stderr}", self.label);
    }
}

/// Sums what a broker sees for `clients` processes of `sockets` REQ sockets doing `rounds`
/// requests each (see proxy_peers.py): requests are [routing id, "", body], replies
/// [routing id, "", "ok:" + body]; message parts count one each, as libzmq 4.3.5 counts.
fn expected_broker_stats(clients: usize, sockets: usize, rounds: usize) -> ProxyStatistics {
    let (mut parts, mut req_bytes, mut rep_bytes) = (0, 0, 0);
    for c in 0..clients {
        for k in 0..sockets {
            let id = format!("c{c}-{k}");
            for i in 0..rounds {
                let body = format!("request {i} from {id}");
                parts += 3;
                req_bytes += (id.len() + body.len()) as u64;
                rep_bytes += (id.len() + 3 + body.len()) as u64;
            }
        }
    }
    ProxyStatistics {
        frontend_messages_in: parts,
        frontend_bytes_in: req_bytes,
        frontend_messages_out: parts,
        frontend_bytes_out: rep_bytes,
        backend_messages_in: parts,
        backend_bytes_in: rep_bytes,
        backend_messages_out: parts,
        backend_bytes_out: req_bytes,
    }
}

/// Runs pyzmq workers and clients against a broker and waits until all are done.
async fn broker_traffic(
    frontend: &str,
    backend: &str,
    clients: usize,
    sockets: usize,
    rounds: usize,
) {
    let total = (clients * sockets * rounds).to_string();
    let workers = Proc::peer(&["workers", backend, "4", &total]).await;
    let (s, r) = (sockets.to_string(), rounds.to_string());
    let mut running = Vec::new();
    for c in 0..clients {
        running.push(Proc::peer(&["clients", frontend, &s, &r, &format!("c{c}")]).await);
    }
    for c in running {
        c.finish().await;
    }
    let mut workers = workers;
    let served = workers.line().await;
    assert!(served.starts_with("SERVED "), "{served}");
    workers.finish().await;
}

/// pyzmq REQ clients -> our in-process ROUTER/DEALER proxy -> pyzmq REP workers; our REQ
/// steers it: exact STATISTICS, then TERMINATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_req_clients_through_our_broker_to_pyzmq_rep_workers() {
    let _panics = support::check_library_panics();
    in_process_broker("tcp").await;
}

/// The same over `ipc://`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_req_clients_through_our_broker_to_pyzmq_rep_workers_over_ipc() {
    let _panics = support::check_library_panics();
    in_process_broker("ipc").await;
}

/// Binds `s` to an ephemeral TCP port or to a fresh IPC path (kept while `dirs` lives).
async fn bind_on(s: &Socket, transport: &str, dirs: &mut Vec<support::UnboundIpc>) -> String {
    if transport == "tcp" {
        return bind_any(s).await;
    }
    let ipc = support::UnboundIpc::new("proxy");
    let ep = support::within("bind", s.bind(&ipc.endpoint))
        .await
        .expect("bind ipc");
    dirs.push(ipc);
    ep
}

async fn in_process_broker(transport: &str) {
    let mut dirs = Vec::new();
    let frontend = Arc::new(Socket::new(SocketType::Router));
    let backend = Arc::new(Socket::new(SocketType::Dealer));
    let control = Arc::new(Socket::new(SocketType::Rep));
    let front_ep = bind_on(&frontend, transport, &mut dirs).await;
    let back_ep = bind_on(&backend, transport, &mut dirs).await;
    let control_ep = bind_on(&control, transport, &mut dirs).await;
    let task = {
        let (f, b, c) = (frontend.clone(), backend.clone(), control.clone());
        tokio::spawn(async move { proxy_steerable(&f, &b, None, Some(&c)).await })
    };
    broker_traffic(&front_ep, &back_ep, 3, 4, 10).await;

    let ctl = Socket::new(SocketType::Req);
    connect(&ctl, &control_ep).await;
    send(&ctl, "STATISTICS", "STATISTICS").await;
    let stats = ProxyStatistics::from_message(&recv(&ctl, "statistics").await).unwrap();
    assert_eq!(stats, expected_broker_stats(3, 4, 10));
    send(&ctl, "TERMINATE", "TERMINATE").await;
    recv(&ctl, "TERMINATE reply").await;
    let r = tokio::time::timeout(OP_TIMEOUT, task).await;
    r.expect("the proxy ends on TERMINATE")
        .expect("proxy task")
        .expect("TERMINATE returns Ok");
}

/// Runs the broker scenario through a proxy process (ours or libzmq's) steered by a pyzmq
/// REQ on its REP control socket; returns the STATISTICS it reported.
async fn broker_process_statistics(mut proxy: Proc) -> ProxyStatistics {
    let eps = proxy.endpoints().await;
    broker_traffic(&eps["frontend"], &eps["backend"], 2, 3, 5).await;
    let commands = ["PAUSE", "RESUME", "BOGUS", "STATISTICS", "TERMINATE"];
    let mut args = vec!["control", &eps["control"]];
    args.extend(commands);
    let mut ctl = Proc::peer(&args).await;
    let mut stats = None;
    for c in commands {
        let reply = PeerMessage::parse(&ctl.line().await).expect("reply line");
        if c == "STATISTICS" {
            stats = Some(reply);
        } else {
            let empty = vec![Vec::<u8>::new()];
            assert_eq!(reply.frames, empty, "{}: reply to {c}", proxy.label);
        }
    }
    let stats = stats.unwrap();
    ctl.finish().await;
    let frames: Vec<bytes::Bytes> = stats.frames.into_iter().map(Into::into).collect();
    let stats = ProxyStatistics::from_message(&frames.into()).expect("8 frames of 8 bytes");
    let status = proxy.wait().await;
    assert!(status.success(), "{}: exit status {status}", proxy.label);
    stats
}

/// `aiozmq proxy` as the broker between pyzmq clients and workers; its STATISTICS equal
/// the expected counts and libzmq's zmq_proxy_steerable's for the same traffic; both
/// answer PAUSE, RESUME, an unknown command and TERMINATE on REP with an empty frame,
/// and exit after TERMINATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_broker_statistics_match_libzmq_proxy() {
    let _panics = support::check_library_panics();
    let spec = |t: &str| format!("{t}@tcp://127.0.0.1:*");
    let (f, b, c) = (spec("router"), spec("dealer"), spec("rep"));
    cli_broker_against_libzmq_proxy([&f, &b, &c], [&f, &b, &c]).await;
}

/// The same over `ipc://` (each proxy on its own paths).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_broker_over_ipc_statistics_match_libzmq_proxy() {
    let _panics = support::check_library_panics();
    let dirs: Vec<support::UnboundIpc> =
        (0..6).map(|_| support::UnboundIpc::new("proxy")).collect();
    let spec = |t: &str, k: usize| format!("{t}@{}", dirs[k].endpoint);
    let ours = [spec("router", 0), spec("dealer", 1), spec("rep", 2)];
    let theirs = [spec("router", 3), spec("dealer", 4), spec("rep", 5)];
    cli_broker_against_libzmq_proxy(
        [&ours[0], &ours[1], &ours[2]],
        [&theirs[0], &theirs[1], &theirs[2]],
    )
    .await;
}

/// Runs the broker scenario through `aiozmq proxy` on `ours` and libzmq's proxy on
/// `theirs` (frontend, backend, control specs); both report the expected STATISTICS.
async fn cli_broker_against_libzmq_proxy(ours: [&str; 3], theirs: [&str; 3]) {
    let [f, b, c] = ours;
    let ours = broker_process_statistics(Proc::cli(&[
        "--frontend",
        f,
        "--backend",
        b,
        "--control",
        c,
    ]))
    .await;
    let [f, b, c] = theirs;
    let libzmq = broker_process_statistics(Proc::peer(&["libzmq-proxy", f, b, c]).await).await;
    assert_eq!(ours, expected_broker_stats(2, 3, 5), "aiozmq proxy");
    assert_eq!(ours, libzmq, "aiozmq proxy vs libzmq's zmq_proxy_steerable");
}

/// pyzmq XPUB publisher -> our in-process XSUB/XPUB forwarder -> pyzmq SUB: the SUB's
/// subscription reaches the publisher (which publishes only then: no slow-joiner race),
/// only topic A arrives, in order, and the unsubscription reaches the publisher too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_publisher_through_our_xsub_xpub_forwarder_to_pyzmq_subscriber() {
    let _panics = support::check_library_panics();
    let frontend = Arc::new(Socket::new(SocketType::XSub));
    let backend = Arc::new(Socket::new(SocketType::XPub));
    let front_ep = bind_any(&frontend).await;
    let back_ep = bind_any(&backend).await;
    let task = {
        let (f, b) = (frontend.clone(), backend.clone());
        tokio::spawn(async move { aiozmq::proxy(&f, &b, None).await })
    };
    let subscriber = Proc::peer(&["subscriber", &back_ep, "50", "--consecutive"]).await;
    let mut publisher = Proc::peer(&["xpub-publisher", &front_ep, "50"]).await;
    publisher.expect_line("SUBSCRIBED").await;
    subscriber.finish().await;
    publisher.expect_line("UNSUBSCRIBED").await;
    publisher.finish().await;
    assert!(!task.is_finished(), "the forwarder must still run");
    task.abort();
}

/// A plain pyzmq PUB (publishing on its own schedule) -> `aiozmq proxy` as an XSUB/XPUB
/// forwarder -> two pyzmq SUBs: each gets topic A only, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzmq_pub_through_cli_forwarder_to_pyzmq_subs() {
    let _panics = support::check_library_panics();
    let mut proxy = Proc::cli(&[
        "--frontend",
        "xsub@tcp://127.0.0.1:*",
        "--backend",
        "xpub@tcp://127.0.0.1:*",
    ]);
    let eps = proxy.endpoints().await;
    let sub1 = Proc::peer(&["subscriber", &eps["backend"], "20"]).await;
    let sub2 = Proc::peer(&["subscriber", &eps["backend"], "20"]).await;
    let mut publisher = Proc::peer(&["publisher", &eps["frontend"]]).await;
    sub1.finish().await;
    sub2.finish().await;
    let _ = publisher.child.kill().await;
    assert!(
        matches!(proxy.child.try_wait(), Ok(None)),
        "the forwarder must still run"
    );
}
