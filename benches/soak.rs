//! Soak benchmark: minutes of mixed load between processes, watching for lost messages and
//! for leaks (open fds, tokio tasks, RSS).
//!
//! ```sh
//! cargo bench --bench soak                                # 10 minutes, a row a minute
//! cargo bench --bench soak -- --seconds 60 --report 10    # what .ci/soak runs
//! ```
//!
//! The bench re-executes itself as four child processes (`<bench binary> --role NAME ...`),
//! each on one current-thread tokio runtime:
//!
//! | role | what it runs |
//! |---|---|
//! | `broker` | `aiozmq::proxy` between a ROUTER frontend and a DEALER backend (TCP and IPC) |
//! | `server` | two REP workers on the broker's backend (one TCP, one IPC), a PUB publishing numbered messages, a PULL sink checking numbered streams, an RPC server (`add`) |
//! | `client` | REQ clients that connect, make 5 requests, close and come back; SUB subscribers that join, listen for a while and leave; two PUSH producers (TCP, IPC) numbering every message; an RPC client calling `add` in a loop (replaced every 500 calls) |
//! | `hostile` | raw TCP connections to every TCP endpoint: garbage, greetings cut off and held open, connections that never speak, a valid greeting followed by garbage |
//!
//! Protocol: the parent writes one command a line on a child's stdin (`STAT`, `PAUSE`,
//! `RESUME`; end of input = quit) and the child answers one line on its stdout
//! (`READY k=v ...` once at start, `STAT fds=N tasks=N rss_kb=N counter=N ...`, `PAUSED`).
//!
//! Every `--report` seconds the parent pauses the churning roles (client, hostile): each of
//! their tasks finishes its cycle, closes its transient sockets and parks. It then polls every
//! process until the PUSH/PULL sink has every message the producers sent and the fd and task
//! counts are stable, prints a table row from that settled sample and resumes. Sampling at a
//! settled point is what makes the leak rules exact: with nothing transient open, every process
//! must be back at the same fd and task counts whatever the churn did in the interval.
//!
//! The run fails (exit status 1, with the reasons) when:
//! - a message was lost where the pattern promises delivery: a REQ/REP reply or an RPC
//!   answer missing after `REPLY_TIMEOUT` (or wrong), a PUSH/PULL message missing, duplicated
//!   or out of order at the sink (PUB/SUB may drop: its gaps are reported, not counted);
//! - a child died (exited, was killed, panicked: children abort on any panic) or stopped
//!   answering;
//! - a process's open fds or alive tasks at a settled sample exceed their level at the
//!   first sample after warm-up (`--warmup`, default one report interval) by more than
//!   `FD_SLACK` / `TASK_SLACK`;
//! - a process's RSS keeps growing: the median of the last third of the samples after
//!   warm-up exceeds the warm-up sample by more than `max(RSS_SLACK_MIB, RSS_SLACK_PCT %)`
//!   (applied when there are at least 3 samples after warm-up).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiozmq::rpc::{self, call, DictHandler};
use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc as tmpsc, watch};

/// How long a REQ/REP reply or an RPC answer may take before it counts as lost. Generous:
/// on a loaded shared machine a process can be descheduled for seconds, and a late answer
/// is not a lost one; an answer that never comes is.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the parent waits for a child's answer to STAT (a live child answers at once).
const STAT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the churning roles may take to park: longer than REPLY_TIMEOUT, since a task
/// finishes its cycle (possibly a request timing out) before it parks.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a paused system may take to settle (the sink catching up, closed connections
/// torn down on the server side) before the sample is taken as it is.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The polling period while settling; a sample is settled when the sink has caught up and
/// two consecutive polls show the same fd and task counts.
const SETTLE_POLL: Duration = Duration::from_millis(300);
/// Tolerated excess over the warm-up level at a settled sample. Small, not zero: a kernel or
/// runtime object may be created lazily once (e.g. a blocking-pool thread's fd).
const FD_SLACK: u64 = 2;
const TASK_SLACK: u64 = 2;
/// Tolerated RSS growth: allocator pools and socket buffers grow to their working size
/// during the first minutes; a leak keeps going past this.
const RSS_SLACK_MIB: f64 = 8.0;
const RSS_SLACK_PCT: f64 = 20.0;

/// The processes, in start order (each is given the endpoints of those before it).
const ROLES: [&str; 4] = ["broker", "server", "client", "hostile"];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--role") {
        let role = args.get(i + 1).cloned().unwrap_or_default();
        let kv: BTreeMap<String, String> = args[i + 2..]
            .iter()
            .filter_map(|a| a.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        child_main(&role, kv);
        return;
    }
    std::process::exit(parent(&args));
}

// ---------------------------------------------------------------------------------------
// Children
// ---------------------------------------------------------------------------------------

/// Named counters a child reports in its STAT line.
struct Counters(BTreeMap<&'static str, AtomicU64>);

impl Counters {
    fn new(names: &[&'static str]) -> Arc<Counters> {
        Arc::new(Counters(
            names.iter().map(|n| (*n, AtomicU64::new(0))).collect(),
        ))
    }
    fn add(&self, name: &str, n: u64) {
        self.0[name].fetch_add(n, Ordering::Relaxed);
    }
    fn set(&self, name: &str, n: u64) {
        self.0[name].store(n, Ordering::Relaxed);
    }
    fn line(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!(" {k}={}", v.load(Ordering::Relaxed)))
            .collect()
    }
}

/// Parks a role's worker tasks at the end of a cycle on PAUSE. A worker calls `checkpoint`
/// only when it holds no transient socket or connection.
struct Pauser {
    paused: watch::Sender<bool>,
    parked: AtomicUsize,
    workers: AtomicUsize,
}

impl Pauser {
    fn new() -> Arc<Pauser> {
        Arc::new(Pauser {
            paused: watch::Sender::new(false),
            parked: AtomicUsize::new(0),
            workers: AtomicUsize::new(0),
        })
    }
    /// Registers one worker (before it is spawned, so a PAUSE waits for it).
    fn worker(self: &Arc<Self>) -> Arc<Self> {
        self.workers.fetch_add(1, Ordering::SeqCst);
        self.clone()
    }
    async fn checkpoint(&self) {
        let mut rx = self.paused.subscribe();
        if !*rx.borrow_and_update() {
            return;
        }
        self.parked.fetch_add(1, Ordering::SeqCst);
        let _ = rx.wait_for(|p| !*p).await;
        self.parked.fetch_sub(1, Ordering::SeqCst);
    }
    async fn pause(&self) {
        self.paused.send_replace(true);
        while self.parked.load(Ordering::SeqCst) < self.workers.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    fn resume(&self) {
        self.paused.send_replace(false);
    }
}

fn open_fds() -> u64 {
    // read_dir holds one fd of its own while listing: not counted.
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
        .saturating_sub(1)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn child_main(role: &str, kv: BTreeMap<String, String>) {
    // Any panic is a dead child: a panicking task would otherwise vanish quietly inside
    // tokio and show only as a stalled pattern.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::abort();
    }));
    // Commands from the parent; the end of stdin (the parent closing it, or dying) quits.
    let (tx, ctl) = tmpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = tx.send("QUIT".to_owned());
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let role = role.to_owned();
    rt.block_on(async move {
        let ep = |k: &str| kv.get(k).cloned().unwrap_or_else(|| panic!("missing {k}="));
        let id = ep("id");
        match role.as_str() {
            "broker" => broker(ctl, &id).await,
            "server" => server(ctl, &id, &ep("backend"), &ep("backend_ipc")).await,
            "client" => {
                let eps = [
                    ep("frontend"),
                    ep("frontend_ipc"),
                    ep("pub"),
                    ep("pull"),
                    ep("pull_ipc"),
                    ep("rpc"),
                ];
                client(ctl, eps).await
            }
            "hostile" => {
                let targets = ["frontend", "backend", "pub", "pull", "rpc"].map(ep);
                hostile(ctl, targets.to_vec()).await
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// Answers the parent's commands until the end of stdin.
async fn control(
    mut ctl: tmpsc::UnboundedReceiver<String>,
    counters: Arc<Counters>,
    pauser: Option<Arc<Pauser>>,
) {
    while let Some(cmd) = ctl.recv().await {
        match cmd.trim() {
            "STAT" => {
                let tasks = tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks();
                say(&format!(
                    "STAT fds={} tasks={tasks} rss_kb={}{}",
                    open_fds(),
                    rss_kb(),
                    counters.line()
                ));
            }
            "PAUSE" => {
                if let Some(p) = &pauser {
                    p.pause().await;
                }
                say("PAUSED");
            }
            "RESUME" => {
                if let Some(p) = &pauser {
                    p.resume();
                }
            }
            "QUIT" => return,
            other => eprintln!("soak: unknown command {other:?}"),
        }
    }
}

fn ipc(id: &str, name: &str) -> String {
    // Linux abstract names: nothing to clean up on the file system.
    format!("ipc://@aiozmq-soak-{id}-{name}")
}

/// A failure of a long-lived part of a role: the process exits, so that the parent reports
/// a dead child rather than a pattern that silently stopped.
fn fatal(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("soak: {what}: {e}");
    std::process::exit(3);
}

async fn broker(ctl: tmpsc::UnboundedReceiver<String>, id: &str) {
    let frontend = Arc::new(Socket::new(SocketType::Router));
    let backend = Arc::new(Socket::new(SocketType::Dealer));
    let f_tcp = frontend.bind("tcp://127.0.0.1:*").await.unwrap();
    let f_ipc = frontend.bind(&ipc(id, "frontend")).await.unwrap();
    let b_tcp = backend.bind("tcp://127.0.0.1:*").await.unwrap();
    let b_ipc = backend.bind(&ipc(id, "backend")).await.unwrap();
    let (f, b) = (frontend.clone(), backend.clone());
    tokio::spawn(async move {
        match aiozmq::proxy(&f, &b, None).await {
            Ok(()) => fatal("proxy", "returned"),
            Err(e) => fatal("proxy", e),
        }
    });
    say(&format!(
        "READY frontend={f_tcp} frontend_ipc={f_ipc} backend={b_tcp} backend_ipc={b_ipc}"
    ));
    control(ctl, Counters::new(&[]), None).await;
}

async fn server(ctl: tmpsc::UnboundedReceiver<String>, id: &str, backend: &str, backend_ipc: &str) {
    let c = Counters::new(&[
        "rep",
        "pub_sent",
        "pull_recv_0",
        "pull_recv_1",
        "pull_next_0",
        "pull_next_1",
        "pull_missing",
        "pull_dup",
    ]);
    // REP workers behind the broker, one over TCP and one over IPC.
    for ep in [backend, backend_ipc] {
        let rep = Socket::new(SocketType::Rep);
        rep.connect(ep).await.unwrap();
        let c = c.clone();
        tokio::spawn(async move {
            loop {
                let m = rep.recv().await.unwrap_or_else(|e| fatal("rep recv", e));
                rep.send(m).await.unwrap_or_else(|e| fatal("rep send", e));
                c.add("rep", 1);
            }
        });
    }
    // PUB: 20 numbered messages every 10 ms, subscribers or not.
    let publisher = Socket::new(SocketType::Pub);
    let pub_ep = publisher.bind("tcp://127.0.0.1:*").await.unwrap();
    let cp = c.clone();
    tokio::spawn(async move {
        let mut seq = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for _ in 0..20 {
                let m = Message::from([
                    Bytes::from_static(b"p"),
                    Bytes::from(seq.to_be_bytes().to_vec()),
                ]);
                publisher
                    .send(m)
                    .await
                    .unwrap_or_else(|e| fatal("pub send", e));
                seq += 1;
            }
            cp.add("pub_sent", 20);
        }
    });
    // PULL sink: frames [stream, seq]; each stream must arrive complete and in order (one
    // PUSH to one PULL is one FIFO pipe). A jump forward counts the skipped numbers as
    // missing, a number at or below one already seen counts as duplicated (or reordered);
    // pull_next_S, the highest number seen + 1, tells the parent whether the tail arrived.
    let sink = Socket::new(SocketType::Pull);
    let pull_ep = sink.bind("tcp://127.0.0.1:*").await.unwrap();
    let pull_ipc = sink.bind(&ipc(id, "pull")).await.unwrap();
    let cs = c.clone();
    tokio::spawn(async move {
        let mut expected = [0u64; 2];
        loop {
            let m = sink.recv().await.unwrap_or_else(|e| fatal("pull recv", e));
            let (stream, seq) = parse_numbered(&m);
            let s = stream.min(1);
            match seq.cmp(&expected[s]) {
                std::cmp::Ordering::Equal => {}
                std::cmp::Ordering::Greater => cs.add("pull_missing", seq - expected[s]),
                std::cmp::Ordering::Less => cs.add("pull_dup", 1),
            }
            expected[s] = expected[s].max(seq + 1);
            cs.add(if s == 0 { "pull_recv_0" } else { "pull_recv_1" }, 1);
            cs.set(
                if s == 0 { "pull_next_0" } else { "pull_next_1" },
                expected[s],
            );
        }
    });
    // RPC server.
    let handler = DictHandler::new().method("add", rpc::method(["a", "b"], |a: i64, b: i64| a + b));
    let service = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let rpc_ep = service.bindings()[0].clone();
    say(&format!(
        "READY pub={pub_ep} pull={pull_ep} pull_ipc={pull_ipc} rpc={rpc_ep}"
    ));
    control(ctl, c, None).await;
    service.close();
}

/// `[stream or topic, u64 big-endian]`.
fn parse_numbered(m: &Message) -> (usize, u64) {
    let stream = m.get(0).and_then(|f| f.first()).copied().unwrap_or(0) as usize;
    let seq = m
        .get(1)
        .and_then(|f| <[u8; 8]>::try_from(&f[..]).ok())
        .map(u64::from_be_bytes)
        .unwrap_or_else(|| fatal("numbered message", format!("malformed: {m:?}")));
    (stream, seq)
}

async fn client(ctl: tmpsc::UnboundedReceiver<String>, eps: [String; 6]) {
    let [frontend, frontend_ipc, pub_ep, pull, pull_ipc, rpc_ep] = eps;
    let c = Counters::new(&[
        "req_ok",
        "req_lost",
        "sub_recv",
        "sub_gaps",
        "sub_sessions",
        "push_sent_0",
        "push_sent_1",
        "rpc_ok",
        "rpc_lost",
    ]);
    let pauser = Pauser::new();

    // REQ clients that come and go: connect, 5 requests, close, a short pause, again.
    for i in 0..4u32 {
        let ep = if i % 2 == 0 {
            frontend.clone()
        } else {
            frontend_ipc.clone()
        };
        let (c, p) = (c.clone(), pauser.worker());
        tokio::spawn(async move {
            for cycle in 0u64.. {
                p.checkpoint().await;
                let req = Socket::new(SocketType::Req);
                req.connect(&ep)
                    .await
                    .unwrap_or_else(|e| fatal("req connect", e));
                for k in 0..5 {
                    let body = Bytes::from(format!("{i}:{cycle}:{k}"));
                    let exchange = async {
                        req.send(body.clone()).await?;
                        req.recv().await
                    };
                    match tokio::time::timeout(REPLY_TIMEOUT, exchange).await {
                        Ok(Ok(reply)) if reply == Message::from(body.clone()) => c.add("req_ok", 1),
                        other => {
                            eprintln!("soak: REQ {i} request {cycle}:{k} lost: {other:?}");
                            // The REQ socket is stuck waiting for that reply: the rest of
                            // the cycle's requests are not sent, the socket is replaced.
                            c.add("req_lost", 1);
                            break;
                        }
                    }
                }
                req.close().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    // Subscribers that join, listen for 0.5 to 1 s and leave; only gaps seen between two
    // messages of one session count (what was published before the join is not a gap).
    for j in 0..3u64 {
        let (c, p, ep) = (c.clone(), pauser.worker(), pub_ep.clone());
        tokio::spawn(async move {
            loop {
                p.checkpoint().await;
                let sub = Socket::new(SocketType::Sub);
                sub.subscribe(Bytes::from_static(b"p")).unwrap();
                sub.connect(&ep)
                    .await
                    .unwrap_or_else(|e| fatal("sub connect", e));
                let until = tokio::time::Instant::now() + Duration::from_millis(500 + 250 * j);
                let mut last: Option<u64> = None;
                while let Ok(Ok(m)) = tokio::time::timeout_at(until, sub.recv()).await {
                    let (_, seq) = parse_numbered(&m);
                    if let Some(l) = last {
                        c.add("sub_gaps", seq.saturating_sub(l + 1));
                    }
                    last = Some(seq);
                    c.add("sub_recv", 1);
                }
                c.add("sub_sessions", 1);
                sub.close().await;
            }
        });
    }

    // PUSH producers, long-lived, 20 numbered messages every 10 ms each: stream 0 over
    // TCP, stream 1 over IPC.
    for (s, ep) in [(0u8, pull), (1u8, pull_ipc)] {
        let (c, p) = (c.clone(), pauser.worker());
        let push = Socket::new(SocketType::Push);
        push.connect(&ep).await.unwrap();
        tokio::spawn(async move {
            let name = if s == 0 { "push_sent_0" } else { "push_sent_1" };
            let mut seq = 0u64;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                p.checkpoint().await;
                tick.tick().await;
                for _ in 0..20 {
                    let m = Message::from([
                        Bytes::from(vec![s]),
                        Bytes::from(seq.to_be_bytes().to_vec()),
                    ]);
                    push.send(m).await.unwrap_or_else(|e| fatal("push send", e));
                    seq += 1;
                    c.add(name, 1);
                }
            }
        });
    }

    // RPC: 10 sequential calls every 10 ms; the client is replaced every 500 calls (the
    // new one connected before the old one closes, so a sample always sees one client).
    {
        let (c, p) = (c.clone(), pauser.worker());
        tokio::spawn(async move {
            let connect = || async {
                rpc::connect_rpc()
                    .timeout(REPLY_TIMEOUT)
                    .connect(rpc_ep.clone())
                    .await
                    .unwrap_or_else(|e| fatal("rpc connect", e))
            };
            let mut client = connect().await;
            let mut n: i64 = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                p.checkpoint().await;
                tick.tick().await;
                for _ in 0..10 {
                    let r: Result<i64, rpc::Error> = call!(client, add(n, 1)).await;
                    match r {
                        Ok(v) if v == n + 1 => c.add("rpc_ok", 1),
                        other => {
                            eprintln!("soak: RPC add({n}, 1) lost: {other:?}");
                            c.add("rpc_lost", 1);
                        }
                    }
                    n += 1;
                }
                if n % 500 == 0 {
                    let next = connect().await;
                    let old = std::mem::replace(&mut client, next);
                    old.close();
                    old.wait_closed().await;
                }
            }
        });
    }

    say("READY");
    control(ctl, c, Some(pauser)).await;
}

/// xorshift64: deterministic garbage.
fn garbage(state: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            *state as u8
        })
        .collect()
}

/// A ZMTP 3.1 greeting for the NULL mechanism, as a client.
fn greeting() -> Vec<u8> {
    let mut g = vec![0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1];
    let mut mech = b"NULL".to_vec();
    mech.resize(20, 0);
    g.extend_from_slice(&mech);
    g.push(0);
    g.resize(64, 0);
    g
}

/// Hostile connections against every TCP endpoint, four at a time, each closed by this
/// side after at most ~2 s. Each must cost the server nothing once closed.
async fn hostile(ctl: tmpsc::UnboundedReceiver<String>, targets: Vec<String>) {
    const KINDS: [&str; 4] = ["garbage", "cut_greeting", "silent", "greeting_garbage"];
    let c = Counters::new(&KINDS);
    let pauser = Pauser::new();
    let targets: Vec<std::net::SocketAddr> = targets
        .iter()
        .map(|t| {
            t.strip_prefix("tcp://")
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| fatal("hostile target", t))
        })
        .collect();
    for w in 0..4usize {
        let (c, p, targets) = (c.clone(), pauser.worker(), targets.clone());
        tokio::spawn(async move {
            let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (w as u64 + 1);
            for iter in 0usize.. {
                p.checkpoint().await;
                let target = targets[(iter + w) % targets.len()];
                let kind = (iter / targets.len() + w) % KINDS.len();
                if let Ok(mut s) = tokio::net::TcpStream::connect(target).await {
                    // Write errors are expected (the server may close first): ignored.
                    match kind {
                        0 => {
                            let _ = s.write_all(&garbage(&mut rng, 512)).await;
                            drain(&mut s, Duration::from_secs(1)).await;
                        }
                        1 => {
                            let _ = s.write_all(&greeting()[..11]).await;
                            drain(&mut s, Duration::from_secs(2)).await;
                        }
                        2 => tokio::time::sleep(Duration::from_secs(2)).await,
                        _ => {
                            let mut bytes = greeting();
                            bytes.extend(garbage(&mut rng, 300));
                            let _ = s.write_all(&bytes).await;
                            drain(&mut s, Duration::from_secs(1)).await;
                        }
                    }
                }
                c.add(KINDS[kind], 1);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    say("READY");
    control(ctl, c, Some(pauser)).await;
}

/// Reads and discards until EOF, an error or `limit`.
async fn drain(s: &mut tokio::net::TcpStream, limit: Duration) {
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(limit, async {
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Parent
// ---------------------------------------------------------------------------------------

/// A child process and the lines of its stdout (None: EOF).
struct Proc {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Option<String>>,
}

impl Proc {
    fn spawn(name: &'static str, args: &[String]) -> Result<Proc, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .arg("--role")
            .arg(name)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(None);
        });
        let stdin = child.stdin.take();
        Ok(Proc {
            name,
            child,
            stdin,
            lines,
        })
    }

    fn send(&mut self, cmd: &str) -> Result<(), String> {
        let name = self.name;
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        let written = writeln!(stdin, "{cmd}").and_then(|_| stdin.flush());
        written.map_err(|e| format!("{name}: cannot write to it ({e}): {}", self.died()))
    }

    /// The next line starting with `prefix` (others are echoed to stderr).
    fn expect(&mut self, prefix: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Some(l)) if l.starts_with(prefix) => return Ok(l),
                Ok(Some(l)) => eprintln!("{}: {l}", self.name),
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let why = self.died();
                    return Err(format!("{}: {why}", self.name));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "{}: no {prefix:?} answer within {timeout:?} (hung?)",
                        self.name
                    ))
                }
            }
        }
    }

    fn ask(&mut self, cmd: &str, prefix: &str, timeout: Duration) -> Result<String, String> {
        self.send(cmd)?;
        self.expect(prefix, timeout)
    }

    fn stat(&mut self) -> Result<BTreeMap<String, u64>, String> {
        let line = self.ask("STAT", "STAT ", STAT_TIMEOUT)?;
        Ok(line
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect())
    }

    /// Why the child is gone (waits a little for its exit status).
    fn died(&mut self) -> String {
        for _ in 0..20 {
            if let Ok(Some(st)) = self.child.try_wait() {
                return format!("child died ({})", describe(st));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        "child stopped answering".to_owned()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

fn describe(st: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => st.to_string(),
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // End of stdin = quit; then a bounded wait, then kill (only our own child).
        drop(self.stdin.take());
        for _ in 0..100 {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One settled sample: every process's STAT, in ROLES order.
type Sample = Vec<BTreeMap<String, u64>>;

fn get(s: &BTreeMap<String, u64>, k: &str) -> u64 {
    s.get(k).copied().unwrap_or(0)
}

struct Opts {
    seconds: u64,
    report: u64,
    warmup: u64,
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        seconds: 600,
        report: 60,
        warmup: 0,
    };
    let mut warmup = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|v| *v > 0)
                .ok_or(format!("{name} takes a positive number of seconds"))
        };
        match a.as_str() {
            "--seconds" => o.seconds = num("--seconds")?,
            "--report" => o.report = num("--report")?,
            "--warmup" => warmup = Some(num("--warmup")?),
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            "-h" | "--help" => {
                return Err(
                    "usage: soak [--seconds S (600)] [--report S (60)] [--warmup S (= report)]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    o.warmup = warmup.unwrap_or(o.report);
    Ok(o)
}

fn parent(args: &[String]) -> i32 {
    let opts = match parse_opts(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let mut failures = Vec::new();
    let mut samples: Vec<(u64, Sample)> = Vec::new();
    let mut procs = Vec::new();
    if let Err(e) = run(&opts, &mut procs, &mut samples) {
        failures.push(e);
    }
    if let Some((_, last)) = samples.last() {
        let lost = losses(last);
        if lost.iter().sum::<u64>() > 0 {
            failures.push(format!(
                "messages lost where delivery is promised: req/rep {}, push/pull {}, rpc {}",
                lost[0], lost[1], lost[2]
            ));
        }
    }
    // Quit: close every stdin, then each child must exit by itself with status 0.
    for p in procs.iter_mut() {
        drop(p.stdin.take());
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for p in procs.iter_mut() {
        loop {
            if let Some(st) = p.exited() {
                if !st.success() {
                    failures.push(format!("{}: child died ({})", p.name, describe(st)));
                }
                break;
            }
            if Instant::now() > deadline {
                failures.push(format!("{}: did not exit within 15 s of quitting", p.name));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(procs);
    failures.extend(leak_rules(&opts, &samples));
    // A child that died is seen by the run and again when quitting: say it once.
    let mut seen = std::collections::BTreeSet::new();
    failures.retain(|f| seen.insert(f.clone()));
    if failures.is_empty() {
        println!("\nSOAK PASSED: no loss, no child died, fds/tasks/RSS flat after warm-up");
        0
    } else {
        println!("\nSOAK FAILED:");
        for f in &failures {
            println!("- {f}");
        }
        1
    }
}

fn run(opts: &Opts, procs: &mut Vec<Proc>, samples: &mut Vec<(u64, Sample)>) -> Result<(), String> {
    // Start the roles in order, each given the endpoints announced by those before it.
    let mut eps = vec![format!("id={}", std::process::id())];
    for role in ROLES {
        let mut p = Proc::spawn(role, &eps)?;
        let ready = p.expect("READY", Duration::from_secs(30))?;
        eps.extend(ready.split_whitespace().skip(1).map(str::to_owned));
        procs.push(p);
    }
    println!(
        "soak: {} s, a row every {} s, warm-up {} s; processes {}",
        opts.seconds,
        opts.report,
        opts.warmup,
        ROLES.join(", ")
    );
    println!("Messages are per interval; lost (req/rep, push/pull, rpc) is cumulative; per process: open fds / alive tasks / RSS MiB.\n");
    println!("| elapsed | req/rep | pub/sub (gaps) | push/pull | rpc | hostile conns | lost (req/push/rpc) | broker | server | client | hostile |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let start = Instant::now();
    let mut prev: Option<Sample> = None;
    let mut at = 0;
    while at < opts.seconds {
        at = (at + opts.report).min(opts.seconds);
        // Wait for the tick, watching for children that die meanwhile.
        while start.elapsed() < Duration::from_secs(at) {
            for p in procs.iter_mut() {
                if let Some(st) = p.exited() {
                    return Err(format!("{}: child died ({})", p.name, describe(st)));
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let sample = settled_sample(procs)?;
        println!("{}", row(start.elapsed().as_secs(), &sample, prev.as_ref()));
        // Kept with the time it was taken (a pause lasts a second or two).
        samples.push((start.elapsed().as_secs(), sample.clone()));
        prev = Some(sample);
        if at < opts.seconds {
            for p in procs.iter_mut() {
                if p.name == "client" || p.name == "hostile" {
                    p.send("RESUME")?;
                }
            }
        }
    }
    Ok(())
}

/// Pauses the churning roles and polls until the sample is settled (see the module doc).
fn settled_sample(procs: &mut [Proc]) -> Result<Sample, String> {
    for p in procs.iter_mut() {
        if p.name == "client" || p.name == "hostile" {
            p.ask("PAUSE", "PAUSED", PAUSE_TIMEOUT)?;
        }
    }
    let t0 = Instant::now();
    let mut last_counts: Option<Vec<(u64, u64)>> = None;
    loop {
        let sample: Sample = procs
            .iter_mut()
            .map(|p| p.stat())
            .collect::<Result<_, _>>()?;
        let counts: Vec<(u64, u64)> = sample
            .iter()
            .map(|s| (get(s, "fds"), get(s, "tasks")))
            .collect();
        let (server, client) = (&sample[1], &sample[2]);
        let caught_up = (0..2).all(|s| {
            get(server, &format!("pull_next_{s}")) >= get(client, &format!("push_sent_{s}"))
        });
        let stable = last_counts.as_ref() == Some(&counts);
        if (caught_up && stable) || t0.elapsed() > SETTLE_TIMEOUT {
            return Ok(sample);
        }
        last_counts = Some(counts);
        std::thread::sleep(SETTLE_POLL);
    }
}

/// Cumulative losses [req/rep, push/pull, rpc]. PUSH/PULL: the gaps and duplicates the
/// sink saw, plus the tail it never got (sent beyond the highest number received). Not
/// `sent - received`: a duplicate would hide a loss there, and a gap would count twice.
fn losses(sample: &Sample) -> [u64; 3] {
    let (server, client) = (&sample[1], &sample[2]);
    let push: u64 = (0..2)
        .map(|s| {
            get(client, &format!("push_sent_{s}"))
                .saturating_sub(get(server, &format!("pull_next_{s}")))
        })
        .sum::<u64>()
        + get(server, "pull_missing")
        + get(server, "pull_dup");
    [get(client, "req_lost"), push, get(client, "rpc_lost")]
}

fn row(elapsed: u64, s: &Sample, prev: Option<&Sample>) -> String {
    let lost = losses(s);
    let d = |i: usize, k: &str| get(&s[i], k).saturating_sub(prev.map_or(0, |p| get(&p[i], k)));
    let hostile: u64 = ["garbage", "cut_greeting", "silent", "greeting_garbage"]
        .iter()
        .map(|k| d(3, k))
        .sum();
    let procs: Vec<String> = s
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{:.1}",
                get(p, "fds"),
                get(p, "tasks"),
                get(p, "rss_kb") as f64 / 1024.0
            )
        })
        .collect();
    format!(
        "| {}:{:02} | {} | {} ({}) | {} | {} | {} | {} | {} |",
        elapsed / 60,
        elapsed % 60,
        d(2, "req_ok"),
        d(2, "sub_recv"),
        d(2, "sub_gaps"),
        d(1, "pull_recv_0") + d(1, "pull_recv_1"),
        d(2, "rpc_ok"),
        hostile,
        lost.map(|l| l.to_string()).join("/"),
        procs.join(" | ")
    )
}

/// The leak rules (see the module doc) over the samples after warm-up.
fn leak_rules(opts: &Opts, samples: &[(u64, Sample)]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(b) = samples.iter().position(|(at, _)| *at >= opts.warmup) else {
        if !samples.is_empty() {
            println!("note: no sample after the warm-up: leak rules not applied");
        }
        return out;
    };
    let (base_at, base) = &samples[b];
    let after = &samples[b + 1..];
    let mmss = |t: u64| format!("{}:{:02}", t / 60, t % 60);
    for (i, role) in ROLES.iter().enumerate() {
        for (key, slack, what) in [
            ("fds", FD_SLACK, "open fds"),
            ("tasks", TASK_SLACK, "alive tasks"),
        ] {
            let level = get(&base[i], key);
            let over: Vec<String> = after
                .iter()
                .filter(|(_, s)| get(&s[i], key) > level + slack)
                .map(|(at, s)| format!("{} at {}", get(&s[i], key), mmss(*at)))
                .collect();
            if !over.is_empty() {
                out.push(format!(
                    "{role}: {what} did not return to the warm-up level ({level} at {}): {}",
                    mmss(*base_at),
                    over.join(", ")
                ));
            }
        }
        if after.len() >= 3 {
            let mut tail: Vec<u64> = after[after.len() - after.len().div_ceil(3)..]
                .iter()
                .map(|(_, s)| get(&s[i], "rss_kb"))
                .collect();
            tail.sort_unstable();
            let median = tail[tail.len() / 2] as f64 / 1024.0;
            let level = get(&base[i], "rss_kb") as f64 / 1024.0;
            let limit = level + RSS_SLACK_MIB.max(level * RSS_SLACK_PCT / 100.0);
            if median > limit {
                out.push(format!(
                    "{role}: RSS keeps growing: median of the last third {median:.1} MiB > {limit:.1} MiB (warm-up {level:.1} MiB at {})",
                    mmss(*base_at)
                ));
            }
        }
    }
    if after.len() < 3 {
        println!(
            "note: {} sample(s) after warm-up: the RSS rule needs 3 (use a longer --seconds or a shorter --report)",
            after.len()
        );
    }
    out
}
