//! RPC calls per second over loopback TCP, two processes (the server is this binary re-run
//! with `--serve`), compared in one run with a raw DEALER→ROUTER echo of the same bytes and
//! with Python aiozmq (client and server processes from `interop/rpc/bench.py`):
//!
//! ```sh
//! cargo bench --bench rpc
//! RPC_BENCH_CALLS=100000 RPC_BENCH_RUNS=5 cargo bench --bench rpc
//! ```
//!
//! The client calls `add(1, 2)` (the raw echo sends those request bytes and gets the same
//! reply bytes back), sequentially and with 100 calls in flight (one task keeping 100 call
//! futures going, as Python's `gather` does; `RPC_BENCH_TASKS=1`: one task per call slot).
//! The table shows the median of `RPC_BENCH_RUNS` runs (default 3) of `RPC_BENCH_CALLS`
//! calls (default 50000; Python gets a tenth, it is that much slower), the scenarios
//! interleaved within each run. The Python scenario needs the interop virtual environment
//! (made as for `cargo test`); `RPC_BENCH_PYTHON=0` skips it.
//!
//! Every Rust process runs one thread (a current-thread runtime), as each Python process
//! does; `RPC_BENCH_RT=multi` runs clients and servers on tokio's multi-thread runtime.
//! The echo server and client give way to their connections every 32 messages, as the RPC
//! server and client do (see `GIVE_WAY_EVERY` in `src/rpc/service.rs`), so the two differ
//! only by the RPC work.
//!
//! For profiling: `RPC_BENCH_ONLY=rust|rust-conc|raw|raw-conc|raw-to-rpc` runs one
//! scenario and prints CPU time and context switches per call of both processes, and
//! `RPC_BENCH_SERVER=<endpoint>` uses an RPC server started by hand (`<bench binary> --serve
//! rpc`).

#[allow(dead_code)]
#[path = "../tests/support/python.rs"]
mod python;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiozmq::rpc::{self, call, DictHandler};
use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;

const IN_FLIGHT: usize = 100;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A server process: prints `READY <endpoint>`, runs until its stdin closes.
struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("server said {line:?}"))
            .trim()
            .to_owned();
        Server { child, endpoint }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bytes of one `add(1, 2)` request and its reply, as the RPC layers send them.
fn request_frames() -> Message {
    let header = rpc::wire::RequestHeader {
        pid: 1,
        random: 2,
        req_id: 1,
        time: 0.0,
    };
    let codec = rpc::Codec::plain();
    let args = [rpc::Value::Int(1), rpc::Value::Int(2)];
    rpc::wire::Request::encode_call(&header, &codec, "add", &args, &[]).unwrap()
}

fn reply_frames() -> [Bytes; 2] {
    let header = rpc::wire::ReplyHeader {
        pid: 1,
        random: 2,
        req_id: 1,
        time: 0.0,
        is_error: false,
    };
    [
        Bytes::copy_from_slice(&header.encode()),
        Bytes::from_static(b"\x03"),
    ]
}

async fn serve(kind: &str) {
    let endpoint;
    let mut service = None;
    let mut router = None;
    match kind {
        "rpc" => {
            let handler =
                DictHandler::new().method("add", rpc::method(["a", "b"], |a: i64, b: i64| a + b));
            let s = rpc::serve_rpc(handler)
                .bind("tcp://127.0.0.1:*")
                .await
                .unwrap();
            endpoint = s.bindings()[0].clone();
            service = Some(s);
        }
        "echo" => {
            let r = Arc::new(Socket::new(SocketType::Router));
            endpoint = r.bind("tcp://127.0.0.1:*").await.unwrap();
            let r2 = r.clone();
            tokio::spawn(async move {
                let [h, body] = reply_frames();
                let mut run_length = 0;
                loop {
                    let msg = match r2.try_recv() {
                        Ok(m) => m,
                        Err(e) if e.kind() == aiozmq::ErrorKind::Again => {
                            run_length = 0;
                            match r2.recv().await {
                                Ok(m) => m,
                                Err(_) => break,
                            }
                        }
                        Err(_) => break,
                    };
                    // Answer to the envelope, as an RPC server does, with fixed bytes.
                    let mut reply = Message::with_capacity(3);
                    reply.push_back(msg[0].clone());
                    reply.push_back(h.clone());
                    reply.push_back(body.clone());
                    if r2.send(reply).await.is_err() {
                        break;
                    }
                    run_length += 1;
                    if run_length == 32 {
                        run_length = 0;
                        tokio::task::yield_now().await;
                    }
                }
            });
            router = Some(r);
        }
        other => panic!("unknown server kind {other}"),
    }
    println!("READY {endpoint}");
    std::io::stdout().flush().unwrap();
    // Until the parent closes our stdin.
    tokio::task::spawn_blocking(|| {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
    })
    .await
    .unwrap();
    if let Some(s) = service {
        s.close();
        s.wait_closed().await;
    }
    if let Some(r) = router {
        r.close().await;
    }
}

/// Calls per second of `calls` RPC calls with `in_flight` at a time.
async fn rust_rpc(endpoint: String, calls: usize, in_flight: usize) -> f64 {
    let client = rpc::connect_rpc().connect(endpoint).await.unwrap();
    for _ in 0..200 {
        let n: i64 = call!(client, add(1, 2)).await.unwrap();
        assert_eq!(n, 3);
    }
    // One task keeps `in_flight` calls going (as `asyncio.gather` of workers does), or with
    // RPC_BENCH_TASKS=1, one task per call slot.
    let per_task = calls / in_flight;
    let start = Instant::now();
    if std::env::var("RPC_BENCH_TASKS").is_ok_and(|v| v == "1") {
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        let n: i64 = call!(client, add(1, 2)).await.unwrap();
                        debug_assert_eq!(n, 3);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    } else {
        use futures_util::StreamExt;
        let mut running = futures_util::stream::FuturesUnordered::new();
        let mut started = 0;
        while started < in_flight.min(per_task * in_flight) {
            running.push(call!(client, add(1, 2)));
            started += 1;
        }
        while let Some(r) = running.next().await {
            let n: i64 = r.unwrap();
            debug_assert_eq!(n, 3);
            if started < per_task * in_flight {
                running.push(call!(client, add(1, 2)));
                started += 1;
            }
        }
    }
    let rate = (per_task * in_flight) as f64 / start.elapsed().as_secs_f64();
    client.close();
    client.wait_closed().await;
    rate
}

/// Round trips per second of the same bytes through a plain DEALER and ROUTER, with at most
/// `in_flight` requests unanswered.
async fn raw_echo(endpoint: String, calls: usize, in_flight: usize) -> f64 {
    let dealer = Arc::new(Socket::new(SocketType::Dealer));
    dealer.connect(&endpoint).await.unwrap();
    let req = request_frames();
    for _ in 0..200 {
        dealer.send(req.clone()).await.unwrap();
        dealer.recv().await.unwrap();
    }
    let start = Instant::now();
    if in_flight == 1 {
        for _ in 0..calls {
            dealer.send(req.clone()).await.unwrap();
            dealer.recv().await.unwrap();
        }
    } else {
        let window = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let sender = {
            let (dealer, window, req) = (dealer.clone(), window.clone(), req.clone());
            tokio::spawn(async move {
                for _ in 0..calls {
                    window.acquire().await.unwrap().forget();
                    dealer.send(req.clone()).await.unwrap();
                }
            })
        };
        for i in 1..=calls {
            dealer.recv().await.unwrap();
            window.add_permits(1);
            if i % 32 == 0 {
                // As the RPC client's receiver gives way (the sender then sends).
                tokio::task::yield_now().await;
            }
        }
        sender.await.unwrap();
    }
    let rate = calls as f64 / start.elapsed().as_secs_f64();
    dealer.close().await;
    rate
}

/// CPU seconds (user + system) used so far by process `pid` (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    (ticks(11) + ticks(12)) / 100.0
}

/// Context switches so far of the live threads of process `pid` (Linux; the sum of each
/// thread's `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches`). On a multi-thread
/// runtime they count the hand-overs between threads that parking workers cost.
fn context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn python_client(endpoint: &str, calls: usize, in_flight: usize) -> f64 {
    let out = Command::new(python::venv_python())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/rpc/bench.py"))
        .args(["client", "--connect", endpoint])
        .args(["--calls", &calls.to_string()])
        .args(["--concurrency", &in_flight.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .expect("run bench.py client");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("bench.py client said {text:?}"))
        .trim()
        .parse()
        .unwrap()
}

/// Runs a scenario as a spawned task (as a real client would; a `block_on` future costs an extra
/// poll of the I/O driver per wake-up).
fn spawned<F>(rt: &tokio::runtime::Runtime, f: F) -> f64
where
    F: std::future::Future<Output = f64> + Send + 'static,
{
    rt.block_on(async { tokio::spawn(f).await.unwrap() })
}

/// One thread per process unless `RPC_BENCH_RT=multi` (the variable is inherited by the
/// server processes).
fn runtime() -> tokio::runtime::Runtime {
    if std::env::var("RPC_BENCH_RT").is_ok_and(|v| v == "multi") {
        tokio::runtime::Runtime::new().unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let kind = args[i + 1].clone();
        runtime().block_on(serve(&kind));
        return;
    }
    let calls = env_usize("RPC_BENCH_CALLS", 50_000);
    let runs = env_usize("RPC_BENCH_RUNS", 3).max(1);
    let with_python = std::env::var("RPC_BENCH_PYTHON").map_or(true, |v| v != "0");
    // For profiling: RPC_BENCH_ONLY=rust runs only the Rust RPC scenarios.
    let only = std::env::var("RPC_BENCH_ONLY").unwrap_or_default();
    let only_rust = only == "rust" || only == "rust-conc";
    let only_raw = only == "raw" || only == "raw-conc";
    let with_python = with_python && only.is_empty();
    let exe = std::env::current_exe().unwrap();
    let server = |kind: &str| {
        let mut c = Command::new(&exe);
        c.args(["--serve", kind]);
        Server::start(c)
    };
    let rt = runtime();
    if only == "raw-to-rpc" {
        // Profiling: the raw DEALER client against the RPC server.
        let rpc_server = server("rpc");
        let ep = &rpc_server.endpoint;
        let seq = spawned(&rt, raw_echo(ep.clone(), calls, 1));
        let conc = spawned(&rt, raw_echo(ep.clone(), calls, IN_FLIGHT));
        println!(
            "raw client, RPC server: {} sequential, {} in flight",
            fmt_rate(seq),
            fmt_rate(conc)
        );
        return;
    }

    let rpc_server = server("rpc");
    let rpc_endpoint = std::env::var("RPC_BENCH_SERVER").unwrap_or(rpc_server.endpoint.clone());
    let echo_server = server("echo");
    let py_server = with_python.then(|| {
        let mut c = Command::new(python::venv_python());
        c.env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/interop/rpc/bench.py"))
            .arg("serve");
        Server::start(c)
    });

    let mut rows: Vec<(&str, f64, f64)> = Vec::new();
    let mut rust = (Vec::new(), Vec::new());
    let mut raw = (Vec::new(), Vec::new());
    let mut py = (Vec::new(), Vec::new());
    // Interleave the implementations within each run.
    for run in 0..runs {
        eprintln!("run {}/{runs}", run + 1);
        if !only_raw {
            let ep = &rpc_endpoint;
            if only != "rust-conc" {
                rust.0.push(spawned(&rt, rust_rpc(ep.clone(), calls, 1)));
            } else {
                rust.0.push(0.0);
            }
            rust.1
                .push(spawned(&rt, rust_rpc(ep.clone(), calls, IN_FLIGHT)));
        }
        if !only_rust {
            let ep = &echo_server.endpoint;
            if only != "raw-conc" {
                raw.0.push(spawned(&rt, raw_echo(ep.clone(), calls, 1)));
            } else {
                raw.0.push(0.0);
            }
            raw.1
                .push(spawned(&rt, raw_echo(ep.clone(), calls, IN_FLIGHT)));
        }
        if let Some(p) = &py_server {
            let n = (calls / 10).max(IN_FLIGHT);
            py.0.push(python_client(&p.endpoint, n, 1));
            py.1.push(python_client(&p.endpoint, n, IN_FLIGHT));
        }
    }
    if only_raw {
        let calls_total = (calls / IN_FLIGHT) * IN_FLIGHT * runs;
        println!(
            "CPU per call: client {:.2} us, server {:.2} us (whole process lifetimes)",
            cpu_seconds(std::process::id()) * 1e6 / calls_total as f64,
            cpu_seconds(echo_server.child.id()) * 1e6 / calls_total as f64
        );
        println!(
            "context switches per 100 calls: client {:.1}, server {:.1}",
            context_switches(std::process::id()) as f64 * 100.0 / calls_total as f64,
            context_switches(echo_server.child.id()) as f64 * 100.0 / calls_total as f64
        );
        let raw = (median(raw.0), median(raw.1));
        println!(
            "raw echo: {} sequential, {} with {IN_FLIGHT} in flight",
            fmt_rate(raw.0),
            fmt_rate(raw.1)
        );
        return;
    }
    let rust = (median(rust.0), median(rust.1));
    if only_rust {
        let calls_total = (calls / IN_FLIGHT) * IN_FLIGHT * runs;
        let (client_cpu, server_cpu) = (
            cpu_seconds(std::process::id()),
            cpu_seconds(rpc_server.child.id()),
        );
        println!(
            "CPU per call: client {:.2} us, server {:.2} us (whole process lifetimes)",
            client_cpu * 1e6 / calls_total as f64,
            server_cpu * 1e6 / calls_total as f64
        );
        println!(
            "context switches per 100 calls: client {:.1}, server {:.1}",
            context_switches(std::process::id()) as f64 * 100.0 / calls_total as f64,
            context_switches(rpc_server.child.id()) as f64 * 100.0 / calls_total as f64
        );
        println!(
            "Rust RPC: {} sequential, {} with {IN_FLIGHT} in flight",
            fmt_rate(rust.0),
            fmt_rate(rust.1)
        );
        return;
    }
    let raw = (median(raw.0), median(raw.1));
    rows.push(("Rust client -> Rust server (RPC)", rust.0, rust.1));
    rows.push(("raw DEALER -> ROUTER echo, same bytes", raw.0, raw.1));
    let py = (!py.0.is_empty()).then(|| (median(py.0), median(py.1)));
    if let Some(p) = py {
        rows.push(("Python aiozmq client -> Python server", p.0, p.1));
    }

    println!();
    println!(
        "RPC calls per second, loopback TCP, two processes; median of {runs} runs of {calls} calls"
    );
    println!();
    println!("| scenario | sequential | {IN_FLIGHT} in flight |");
    println!("|---|---:|---:|");
    for (name, seq, conc) in &rows {
        println!("| {name} | {} | {} |", fmt_rate(*seq), fmt_rate(*conc));
    }
    println!(
        "| Rust RPC / raw echo (target >= 60%) | {:.0}% | {:.0}% |",
        100.0 * rust.0 / raw.0,
        100.0 * rust.1 / raw.1
    );
    if let Some(p) = py {
        println!(
            "| Rust RPC / Python aiozmq (target >= 50x) | {:.1}x | {:.1}x |",
            rust.0 / p.0,
            rust.1 / p.1
        );
    }
}
