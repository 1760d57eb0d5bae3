//! The comparison runner: every implementation, the same tests, one run.
//!
//! ```text
//! cargo run --release --manifest-path benches/compare/Cargo.toml -- [options]
//!   --quick            1 repetition, small counts (a few seconds of measuring)
//!   --reps N           repetitions (default 5; quick: 1)
//!   --json PATH        also write every sample and median as JSON
//!   --impls LIST       comma-separated: aiozmq,libzmq,zeromq,omq-tokio,raw-tcp (default: all built)
//!   --only LIST        run only these sections: thr,lat,mixed,inproc,fanout,lossless,
//!                      router,proxy,mem,curve (default: all; e.g. `--only curve` when
//!                      tuning CURVE)
//!   --dealers LIST     connected DEALERs for the memory test (default 1000,10000; quick 100)
//!   --router-dealers N sending DEALERs of the router section (default 1000; quick 100)
//!   --timeout SECS     limit for one run (default 120; quick 60)
//!   --no-build         do not build the peer binaries first
//! ```
//!
//! Method (shared/reference/benchmarks.md): two processes on loopback, the receiver binds and
//! times first to last message, the sender connects; implementations interleaved within each
//! repetition; medians; ratios to the best peer (libzmq, zeromq, omq-tokio). CPU seconds are
//! user+sys of both processes (wait4), per million messages (or round trips).
//!
//! The curve section runs PUSH→PULL throughput (16 B, 1 KiB) and the 1 B REQ→REP round trip
//! over tcp with CURVE (the binding side is the CURVE server), for aiozmq and libzmq only,
//! plus the mixed pairs at 16 B; its ratios are aiozmq ÷ libzmq.
//!
//! The fan-out sections (PUB → 10 SUB over tcp, 16 B; deliveries summed over the
//! subscribers, first to last delivery, all subscribers in one process):
//! - `fanout`: a PUB with default options, which drops a subscriber's messages while its
//!   queue is at SNDHWM; the table says what fraction arrived.
//! - `lossless`: the highest publish rate at which every subscriber gets every message,
//!   measured the same way for every implementation: an XPUB with XPUB_NODROP publishes
//!   as fast as its `send` lets it, and `send` waits while any subscriber's queue is full
//!   instead of dropping, so the publisher runs at the pace of the slowest subscriber. A
//!   run counts only if each subscriber got every message (else it fails). zeromq's XPUB
//!   has no such option because it never drops (its `send` waits for every subscriber's
//!   connection); raw-tcp writes each message into one stream per subscriber. Why not a
//!   paced publisher searching for the highest rate without loss: every implementation
//!   has a waiting XPUB, while a search over send rates measures the pacing timer and
//!   scheduler jitter as much as the library (one late wake-up overflows a queue), and
//!   takes a dozen runs per sample.
//! - `proxy`: publisher → XSUB|proxy|XPUB → 10 SUB, lossless as `lossless` (the publisher
//!   an XPUB and the proxy's XPUB with XPUB_NODROP; a run fails if any message is lost),
//!   the proxy in a process of its own running the implementation's own proxy function
//!   (aiozmq::proxy, zmq_proxy, zeromq::proxy, omq_tokio::proxy::proxy); publisher, proxy
//!   and subscribers are all of one implementation; CPU counts all three processes;
//!   raw-tcp: a relay process copying the publisher's stream into ten. Lossless because
//!   with default options the PUB and the proxy's XPUB both drop at a full queue, and the
//!   rate then depends on when they drop: a subscriber that gets one queue's worth in a
//!   single burst shows a huge "first to last" rate.
//!
//! The router section: one ROUTER process receives from N DEALERs (default 1000) that
//! live in one other process (one runtime, one libzmq context) and all send, each in
//! turn, count ÷ N messages of 16 B or 1 KiB; aggregate msg/s at the ROUTER, first to last
//! message. Timing starts only after every DEALER's hello has reached the ROUTER and the
//! runner has seen N established connections; the runner raises the open-file limit and
//! each process checks that it has room for its connections. raw-tcp: N streams.
//!
//! Exit status: 0 when every run finished with well-formed output; 1 when a peer crashed,
//! hung past the time limit or printed malformed output (slow numbers never fail).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Implementations

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Impl {
    Aiozmq,
    Libzmq,
    Zeromq,
    Omq,
    Tcp,
}

const ALL: [Impl; 5] = [
    Impl::Aiozmq,
    Impl::Libzmq,
    Impl::Zeromq,
    Impl::Omq,
    Impl::Tcp,
];

impl Impl {
    fn name(self) -> &'static str {
        match self {
            Impl::Aiozmq => "aiozmq",
            Impl::Libzmq => "libzmq",
            Impl::Zeromq => "zeromq",
            Impl::Omq => "omq-tokio",
            Impl::Tcp => "raw-tcp",
        }
    }
    fn bin(self) -> &'static str {
        match self {
            Impl::Aiozmq => "peer_aiozmq",
            Impl::Libzmq => "peer_libzmq",
            Impl::Zeromq => "peer_zeromq",
            Impl::Omq => "peer_omq",
            Impl::Tcp => "peer_tcp",
        }
    }
    /// The other ZeroMQ implementations (ratios are to the best of these).
    fn is_peer(self) -> bool {
        matches!(self, Impl::Libzmq | Impl::Zeromq | Impl::Omq)
    }
    /// Has CURVE (the curve section).
    fn has_curve(self) -> bool {
        matches!(self, Impl::Aiozmq | Impl::Libzmq)
    }
    /// Has the inproc and memory roles.
    fn has_extra_roles(self) -> bool {
        matches!(self, Impl::Aiozmq | Impl::Libzmq | Impl::Omq)
    }
    /// Has PUB, XPUB, XSUB, SUB and a proxy function (the fanout and proxy sections).
    fn has_pubsub(self) -> bool {
        !matches!(self, Impl::Tcp)
    }
    fn parse(s: &str) -> Option<Impl> {
        ALL.into_iter().find(|i| {
            i.name() == s
                || i.bin() == s
                || (s == "omq" && *i == Impl::Omq)
                || (s == "tcp" && *i == Impl::Tcp)
        })
    }
}

/// A sender→receiver (or REQ→REP) pair; the same implementation on both sides, or a mixed pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pair {
    send: Impl,
    recv: Impl,
}

impl Pair {
    fn same(i: Impl) -> Pair {
        Pair { send: i, recv: i }
    }
    fn label(self) -> String {
        if self.send == self.recv {
            self.send.name().to_string()
        } else {
            format!("{}→{}", self.send.name(), self.recv.name())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Options

struct Opts {
    quick: bool,
    reps: usize,
    json: Option<PathBuf>,
    impls: Vec<Impl>,
    sections: Vec<String>,
    dealers: Vec<u64>,
    router_dealers: u64,
    timeout: Duration,
    build: bool,
    bin_dir: PathBuf,
}

const SECTIONS: [&str; 10] = [
    "thr", "lat", "mixed", "inproc", "fanout", "lossless", "router", "proxy", "mem", "curve",
];
const SIZES: [usize; 4] = [16, 256, 1024, 65536];
const LAT_SIZE: usize = 1;
const FANOUT_SIZE: usize = 16;
const FANOUT_SUBS: usize = 10;
/// Message sizes of the router section.
const ROUTER_SIZES: [usize; 2] = [16, 1024];
/// Throughput sizes of the curve section (its mixed pairs run the first only).
const CURVE_SIZES: [usize; 2] = [16, 1024];

impl Opts {
    fn parse() -> Opts {
        let mut o = Opts {
            quick: false,
            reps: 0,
            json: None,
            impls: Vec::new(),
            sections: SECTIONS.iter().map(|s| s.to_string()).collect(),
            dealers: Vec::new(),
            router_dealers: 0,
            timeout: Duration::ZERO,
            build: true,
            bin_dir: std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_default(),
        };
        let mut args = std::env::args().skip(1);
        let usage = || -> ! {
            eprintln!(
                "usage: compare [--quick] [--reps N] [--json PATH] [--impls LIST] [--only LIST] [--dealers LIST] [--router-dealers N] [--timeout SECS] [--no-build]\n  \
                 --quick          1 repetition, small counts\n  \
                 --reps N         repetitions (default 5; quick: 1)\n  \
                 --json PATH      also write every sample and median as JSON\n  \
                 --impls LIST     implementations: aiozmq,libzmq,zeromq,omq-tokio,raw-tcp (default: all built)\n  \
                 --only LIST      run only these sections: {} (default: all;\n                   \
                 e.g. --only curve: CURVE over tcp, aiozmq vs libzmq)\n  \
                 --dealers LIST   connected DEALERs for the memory test (default 1000,10000; quick 100)\n  \
                 --router-dealers N  sending DEALERs of the router section (default 1000; quick 100)\n  \
                 --timeout SECS   limit for one run (default 120; quick 60)\n  \
                 --no-build       do not build the peer binaries first\n\n\
                 sections (PUB → 10 SUB over tcp, 16 B, deliveries/s summed over subscribers):\n  \
                 fanout    PUB, default options: drops at SNDHWM (the fraction delivered is shown)\n  \
                 lossless  the highest publish rate at which every subscriber gets every message:\n            \
                 an XPUB with XPUB_NODROP sends as fast as it can, waiting while a subscriber's\n            \
                 queue is full, for every implementation (zeromq's XPUB never drops; raw-tcp:\n            \
                 a stream per subscriber); a run fails if any message is lost\n  \
                 proxy     publisher → XSUB|proxy|XPUB → 10 SUB, lossless as above (XPUB_NODROP on the\n            \
                 publisher and on the proxy's XPUB), the implementation's own proxy in its own\n            \
                 process (raw-tcp: a relay process)\n  \
                 router    one ROUTER receiving from --router-dealers DEALERs in one other process,\n            \
                 each sending its share in turn, 16 B and 1 KiB; aggregate msg/s at the ROUTER,\n            \
                 timed once every DEALER is connected and has said hello",
                SECTIONS.join(",")
            );
            std::process::exit(2)
        };
        while let Some(a) = args.next() {
            let mut value = || args.next().unwrap_or_else(|| usage());
            match a.as_str() {
                "--quick" => o.quick = true,
                "--reps" => o.reps = value().parse().unwrap_or_else(|_| usage()),
                "--json" => o.json = Some(PathBuf::from(value())),
                "--impls" => {
                    o.impls = value()
                        .split(',')
                        .map(|s| Impl::parse(s.trim()).unwrap_or_else(|| usage()))
                        .collect()
                }
                "--only" => {
                    o.sections = value().split(',').map(|s| s.trim().to_string()).collect();
                    if o.sections.iter().any(|s| !SECTIONS.contains(&s.as_str())) {
                        usage();
                    }
                }
                "--dealers" => {
                    o.dealers = value()
                        .split(',')
                        .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                        .collect()
                }
                "--router-dealers" => {
                    o.router_dealers = value().parse().unwrap_or_else(|_| usage());
                    if o.router_dealers == 0 {
                        usage();
                    }
                }
                "--timeout" => {
                    o.timeout = Duration::from_secs(value().parse().unwrap_or_else(|_| usage()))
                }
                "--no-build" => o.build = false,
                "-h" | "--help" => usage(),
                _ => usage(),
            }
        }
        if o.reps == 0 {
            o.reps = if o.quick { 1 } else { 5 };
        }
        if o.dealers.is_empty() {
            o.dealers = if o.quick {
                vec![100]
            } else {
                vec![1000, 10000]
            };
        }
        if o.router_dealers == 0 {
            o.router_dealers = if o.quick { 100 } else { 1000 };
        }
        if o.timeout.is_zero() {
            o.timeout = Duration::from_secs(if o.quick { 60 } else { 120 });
        }
        o
    }

    fn has(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }

    fn thr_count(&self, size: usize) -> u64 {
        match (self.quick, size) {
            (true, s) if s <= 256 => 100_000,
            (true, s) if s <= 4096 => 50_000,
            (true, _) => 2_000,
            (false, s) if s <= 16 => 2_000_000,
            (false, s) if s <= 256 => 1_000_000,
            (false, s) if s <= 4096 => 500_000,
            (false, _) => 20_000,
        }
    }

    fn lat_count(&self) -> u64 {
        if self.quick {
            1_000
        } else {
            20_000
        }
    }

    fn inproc_thr_count(&self, size: usize) -> u64 {
        if self.quick {
            self.thr_count(size)
        } else {
            2 * self.thr_count(size)
        }
    }

    fn inproc_lat_count(&self) -> u64 {
        if self.quick {
            5_000
        } else {
            100_000
        }
    }

    /// CURVE throughput: half the plain count (encryption costs per message), quick: small.
    fn curve_thr_count(&self, size: usize) -> u64 {
        match (self.quick, size) {
            (true, s) if s <= 256 => 20_000,
            (true, _) => 10_000,
            (false, s) => self.thr_count(s) / 2,
        }
    }

    fn curve_lat_count(&self) -> u64 {
        if self.quick {
            500
        } else {
            self.lat_count()
        }
    }

    fn fanout_count(&self) -> u64 {
        if self.quick {
            20_000
        } else {
            1_000_000
        }
    }

    /// Messages published in the lossless section (each reaches all 10 subscribers).
    fn lossless_count(&self) -> u64 {
        if self.quick {
            20_000
        } else {
            200_000
        }
    }

    fn proxy_count(&self) -> u64 {
        self.lossless_count()
    }

    /// Messages of the router section, all DEALERs together: a multiple of their number.
    fn router_count(&self, size: usize) -> u64 {
        let n = match (self.quick, size) {
            (true, s) if s <= 256 => 100_000,
            (true, _) => 50_000,
            (false, s) if s <= 256 => 1_000_000,
            (false, _) => 500_000,
        };
        (n / self.router_dealers).max(1) * self.router_dealers
    }
}

// ---------------------------------------------------------------------------------------
// Child processes

struct Exit {
    status: i32,
    cpu: f64,
}

impl Exit {
    fn ok(&self) -> bool {
        libc::WIFEXITED(self.status) && libc::WEXITSTATUS(self.status) == 0
    }
    fn describe(&self) -> String {
        if libc::WIFEXITED(self.status) {
            format!("exited with status {}", libc::WEXITSTATUS(self.status))
        } else if libc::WIFSIGNALED(self.status) {
            format!("killed by signal {}", libc::WTERMSIG(self.status))
        } else {
            format!("wait status {}", self.status)
        }
    }
}

struct Proc {
    name: String,
    pid: i32,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    out_thread: Option<std::thread::JoinHandle<()>>,
    err_thread: Option<std::thread::JoinHandle<String>>,
    exit_rx: mpsc::Receiver<Exit>,
    exit: Option<Exit>,
}

impl Proc {
    fn spawn(opts: &Opts, imp: Impl, args: &[String]) -> Result<Proc, String> {
        let bin = opts.bin_dir.join(imp.bin());
        let name = format!("{} {}", imp.bin(), args.join(" "));
        let mut cmd = Command::new(&bin);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe; the child dies with the runner.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot start {}: {e}", bin.display()))?;
        let pid = child.id() as i32;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        // The child is reaped by wait4 below, never through `child`.
        drop(child);
        let (tx, lines) = mpsc::channel();
        let out_thread = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        let _ = tx.send(l);
                    }
                    Err(_) => break,
                }
            }
        });
        let err_thread = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let (etx, exit_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: plain wait4 on our own child with valid out-pointers.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            let cpu = if r == pid {
                tv(ru.ru_utime) + tv(ru.ru_stime)
            } else {
                0.0
            };
            let _ = etx.send(Exit { status, cpu });
        });
        Ok(Proc {
            name,
            pid,
            stdin,
            lines,
            out_thread: Some(out_thread),
            err_thread: Some(err_thread),
            exit_rx,
            exit: None,
        })
    }

    fn kill(&self) {
        if self.exit.is_none() {
            // SAFETY: signalling our own (not yet reaped) child.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
            }
        }
    }

    fn try_exited(&mut self) -> bool {
        if self.exit.is_none() {
            if let Ok(e) = self.exit_rx.try_recv() {
                self.exit = Some(e);
            }
        }
        self.exit.is_some()
    }

    /// Waits for the exit; kills the process past `limit`. Ok(cpu seconds) on a clean exit.
    fn wait(&mut self, limit: Duration) -> Result<f64, String> {
        if self.exit.is_none() {
            match self.exit_rx.recv_timeout(limit) {
                Ok(e) => self.exit = Some(e),
                Err(_) => {
                    self.kill();
                    self.exit = self.exit_rx.recv_timeout(Duration::from_secs(10)).ok();
                    let tail = self.stderr_tail();
                    return Err(format!(
                        "{}: no exit within {:.0} s (killed){tail}",
                        self.name,
                        limit.as_secs_f64(),
                    ));
                }
            }
        }
        let e = self.exit.as_ref().expect("exit");
        if e.ok() {
            Ok(e.cpu)
        } else {
            let what = e.describe();
            let tail = self.stderr_tail();
            Err(format!("{}: {what}{tail}", self.name))
        }
    }

    fn stderr_tail(&mut self) -> String {
        let s = self.take_stderr();
        let s = s.trim();
        if s.is_empty() {
            String::new()
        } else {
            let tail: Vec<&str> = s.lines().rev().take(5).collect();
            format!(
                "; stderr: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            )
        }
    }

    fn take_stderr(&mut self) -> String {
        match self.err_thread.take() {
            Some(t) if self.exit.is_some() => t.join().unwrap_or_default(),
            Some(t) => {
                self.err_thread = Some(t);
                String::new()
            }
            None => String::new(),
        }
    }

    /// The next stdout line, waiting at most `limit`.
    fn line(&mut self, limit: Duration) -> Result<String, String> {
        match self.lines.recv_timeout(limit) {
            Ok(l) => Ok(l),
            Err(_) => {
                self.try_exited();
                let tail = self.stderr_tail();
                Err(format!(
                    "{}: expected a line on stdout within {:.0} s{tail}",
                    self.name,
                    limit.as_secs_f64(),
                ))
            }
        }
    }

    /// Every remaining stdout line (after the exit).
    fn rest(&mut self) -> Vec<String> {
        if let Some(t) = self.out_thread.take() {
            let _ = t.join();
        }
        self.lines.try_iter().collect()
    }

    fn send_line(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{line}");
            let _ = s.flush();
        }
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.try_exited() {
            self.kill();
        }
    }
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

// ---------------------------------------------------------------------------------------
// Endpoints

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Transport {
    Tcp,
    Ipc,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Ipc => "ipc",
        }
    }
}

struct Endpoint {
    uri: String,
    port: Option<u16>,
    path: Option<PathBuf>,
}

impl Endpoint {
    fn new(t: Transport) -> Endpoint {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        match t {
            Transport::Tcp => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("a free port");
                Endpoint {
                    uri: format!("tcp://127.0.0.1:{port}"),
                    port: Some(port),
                    path: None,
                }
            }
            Transport::Ipc => {
                let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("aiozmq-compare-{}-{n}.sock", std::process::id()));
                let _ = std::fs::remove_file(&path);
                Endpoint {
                    uri: format!("ipc://{}", path.display()),
                    port: None,
                    path: Some(path),
                }
            }
        }
    }

    fn listening(&self) -> bool {
        if let Some(port) = self.port {
            let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
            std::fs::read_to_string("/proc/net/tcp")
                .map(|s| s.lines().any(|l| l.contains(&needle)))
                .unwrap_or(false)
        } else {
            self.path.as_ref().is_some_and(|p| p.exists())
        }
    }

    /// Established connections to this (TCP) endpoint's port, seen from the bound side.
    fn established(&self) -> u64 {
        let Some(port) = self.port else { return 0 };
        let needle = format!("0100007F:{port:04X} ");
        std::fs::read_to_string("/proc/net/tcp")
            .map(|s| {
                s.lines()
                    .filter(|l| {
                        let mut f = l.split_whitespace().skip(1);
                        f.next().is_some_and(|local| format!("{local} ") == needle)
                            && f.nth(1) == Some("01")
                    })
                    .count() as u64
            })
            .unwrap_or(0)
    }

    /// Waits until the binding process listens (no probe connection is made).
    fn wait_bound(&self, p: &mut Proc) -> Result<(), String> {
        let end = Instant::now() + Duration::from_secs(20);
        while !self.listening() {
            if p.try_exited() || Instant::now() > end {
                p.kill();
                let _ = p.wait(Duration::from_secs(5));
                let tail = p.stderr_tail();
                return Err(format!("{}: never listened on {}{tail}", p.name, self.uri));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Output parsing

fn field<'a>(line: Option<&'a String>, prefix: &str, suffix: &str) -> Result<&'a str, String> {
    let line = line.ok_or_else(|| format!("missing line {prefix:?}"))?;
    line.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .ok_or_else(|| format!("malformed line {line:?} (expected {prefix:?}...{suffix:?})"))
}

fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("malformed {what}: {s:?}"))
}

/// libzmq's local_thr output; returns msg/s.
fn parse_thr(out: &[String], size: usize, count: u64) -> Result<f64, String> {
    if out.len() != 4 {
        return Err(format!("expected 4 lines of local_thr output, got {out:?}"));
    }
    let s: usize = num(field(out.first(), "message size: ", " [B]")?, "size")?;
    let c: u64 = num(field(out.get(1), "message count: ", "")?, "count")?;
    let rate: u64 = num(field(out.get(2), "mean throughput: ", " [msg/s]")?, "msg/s")?;
    let mbps: f64 = num(field(out.get(3), "mean throughput: ", " [Mb/s]")?, "Mb/s")?;
    if s != size || c != count {
        return Err(format!(
            "size/count echoed as {s}/{c}, expected {size}/{count}"
        ));
    }
    if rate == 0 || !mbps.is_finite() {
        return Err(format!("implausible throughput in {out:?}"));
    }
    Ok(rate as f64)
}

/// libzmq's remote_lat output; returns the round trip in µs (2 × the printed latency).
fn parse_lat(out: &[String], size: usize, count: u64) -> Result<f64, String> {
    if out.len() != 3 {
        return Err(format!(
            "expected 3 lines of remote_lat output, got {out:?}"
        ));
    }
    let s: usize = num(field(out.first(), "message size: ", " [B]")?, "size")?;
    let c: u64 = num(field(out.get(1), "roundtrip count: ", "")?, "count")?;
    let lat: f64 = num(field(out.get(2), "average latency: ", " [us]")?, "latency")?;
    if s != size || c != count {
        return Err(format!(
            "size/count echoed as {s}/{c}, expected {size}/{count}"
        ));
    }
    if !(lat > 0.0 && lat.is_finite()) {
        return Err(format!("implausible latency in {out:?}"));
    }
    Ok(2.0 * lat)
}

/// The fan-out receiver's output after its `ready` line; returns (delivered msg/s, delivered).
fn parse_fanout(
    out: &[String],
    size: usize,
    count: u64,
    subs: usize,
) -> Result<(f64, u64), String> {
    if out.len() != 5 {
        return Err(format!(
            "expected 5 lines of sub_fanout output, got {out:?}"
        ));
    }
    let s: usize = num(field(out.first(), "message size: ", " [B]")?, "size")?;
    let c: u64 = num(field(out.get(1), "message count: ", "")?, "count")?;
    let n: usize = num(field(out.get(2), "subscribers: ", "")?, "subscribers")?;
    let d: u64 = num(field(out.get(3), "delivered: ", "")?, "delivered")?;
    let rate: u64 = num(field(out.get(4), "mean throughput: ", " [msg/s]")?, "msg/s")?;
    if s != size || c != count || n != subs || d > count * subs as u64 {
        return Err(format!("inconsistent fan-out output {out:?}"));
    }
    Ok((rate as f64, d))
}

fn parse_rss(line: &str, prefix: &str) -> Result<f64, String> {
    Ok(num::<u64>(field(Some(&line.to_string()), prefix, " [kB]")?, "rss")? as f64)
}

// ---------------------------------------------------------------------------------------
// Runs

struct Sample {
    value: f64,
    cpu: f64,
    extra: f64,
}

fn args(v: &[&dyn std::fmt::Display]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A perf role's arguments; `--curve` last for a CURVE run.
fn perf_args(role: &str, uri: &str, size: usize, count: u64, curve: bool) -> Vec<String> {
    let mut a = args(&[&role, &uri, &size, &count]);
    if curve {
        a.push("--curve".into());
    }
    a
}

fn run_thr(
    o: &Opts,
    pair: Pair,
    t: Transport,
    size: usize,
    count: u64,
    curve: bool,
) -> Result<Sample, String> {
    let ep = Endpoint::new(t);
    let mut r = Proc::spawn(
        o,
        pair.recv,
        &perf_args("local_thr", &ep.uri, size, count, curve),
    )?;
    ep.wait_bound(&mut r)?;
    let mut s = Proc::spawn(
        o,
        pair.send,
        &perf_args("remote_thr", &ep.uri, size, count, curve),
    )?;
    let rc = r.wait(o.timeout);
    s.close_stdin();
    let sc = s.wait(if rc.is_ok() {
        Duration::from_secs(30)
    } else {
        Duration::ZERO
    });
    let cpu = rc? + sc?;
    let rate = parse_thr(&r.rest(), size, count).map_err(|e| format!("{}: {e}", r.name))?;
    Ok(Sample {
        value: rate,
        cpu: cpu / count as f64 * 1e6,
        extra: 0.0,
    })
}

fn run_lat(
    o: &Opts,
    pair: Pair,
    t: Transport,
    size: usize,
    count: u64,
    curve: bool,
) -> Result<Sample, String> {
    let ep = Endpoint::new(t);
    let mut r = Proc::spawn(
        o,
        pair.recv,
        &perf_args("local_lat", &ep.uri, size, count, curve),
    )?;
    ep.wait_bound(&mut r)?;
    let mut s = Proc::spawn(
        o,
        pair.send,
        &perf_args("remote_lat", &ep.uri, size, count, curve),
    )?;
    let sc = s.wait(o.timeout);
    r.close_stdin();
    let rc = r.wait(if sc.is_ok() {
        Duration::from_secs(30)
    } else {
        Duration::ZERO
    });
    let cpu = sc? + rc?;
    let rtt = parse_lat(&s.rest(), size, count).map_err(|e| format!("{}: {e}", s.name))?;
    Ok(Sample {
        value: rtt,
        cpu: cpu / count as f64 * 1e6,
        extra: 0.0,
    })
}

fn run_inproc(o: &Opts, imp: Impl, size: Option<usize>, count: u64) -> Result<Sample, String> {
    let a = match size {
        Some(s) => args(&[&"inproc_thr", &s, &count]),
        None => args(&[&"inproc_lat", &LAT_SIZE, &count]),
    };
    let mut p = Proc::spawn(o, imp, &a)?;
    let cpu = p.wait(o.timeout)?;
    let out = p.rest();
    let value = match size {
        Some(s) => parse_thr(&out, s, count),
        None => parse_lat(&out, LAT_SIZE, count),
    }
    .map_err(|e| format!("{}: {e}", p.name))?;
    Ok(Sample {
        value,
        cpu: cpu / count as f64 * 1e6,
        extra: 0.0,
    })
}

fn run_fanout(o: &Opts, imp: Impl, size: usize, count: u64, subs: usize) -> Result<Sample, String> {
    let ep = Endpoint::new(Transport::Tcp);
    let mut p = Proc::spawn(o, imp, &args(&[&"pub_fanout", &ep.uri, &size, &count]))?;
    ep.wait_bound(&mut p)?;
    let mut s = Proc::spawn(
        o,
        imp,
        &args(&[&"sub_fanout", &ep.uri, &size, &count, &subs]),
    )?;
    let ready = s.line(Duration::from_secs(30))?;
    if ready != "ready" {
        return Err(format!("{}: expected \"ready\", got {ready:?}", s.name));
    }
    p.send_line("go");
    let sc = s.wait(o.timeout);
    p.close_stdin();
    let pc = p.wait(Duration::from_secs(30));
    let cpu = sc? + pc?;
    let (rate, delivered) =
        parse_fanout(&s.rest(), size, count, subs).map_err(|e| format!("{}: {e}", s.name))?;
    Ok(Sample {
        value: rate,
        cpu: cpu / delivered.max(1) as f64 * 1e6,
        extra: delivered as f64 / (count * subs as u64) as f64,
    })
}

/// PUB → 10 SUB without loss: `pub_lossless` (XPUB with XPUB_NODROP; raw TCP: a stream per
/// subscriber) and the usual `sub_fanout`. Fails when a subscriber missed a message.
fn run_lossless(
    o: &Opts,
    imp: Impl,
    size: usize,
    count: u64,
    subs: usize,
) -> Result<Sample, String> {
    let ep = Endpoint::new(Transport::Tcp);
    let mut p = Proc::spawn(
        o,
        imp,
        &args(&[&"pub_lossless", &ep.uri, &size, &count, &subs]),
    )?;
    ep.wait_bound(&mut p)?;
    let mut s = Proc::spawn(
        o,
        imp,
        &args(&[&"sub_fanout", &ep.uri, &size, &count, &subs]),
    )?;
    let ready = s.line(Duration::from_secs(30))?;
    if ready != "ready" {
        return Err(format!("{}: expected \"ready\", got {ready:?}", s.name));
    }
    p.send_line("go");
    let sc = s.wait(o.timeout);
    p.close_stdin();
    let pc = p.wait(Duration::from_secs(30));
    let cpu = sc? + pc?;
    let (rate, delivered) =
        parse_fanout(&s.rest(), size, count, subs).map_err(|e| format!("{}: {e}", s.name))?;
    let expected = count * subs as u64;
    if delivered != expected {
        return Err(format!(
            "{}: lossless fan-out delivered {delivered} of {expected} messages",
            s.name
        ));
    }
    Ok(Sample {
        value: rate,
        cpu: cpu / delivered as f64 * 1e6,
        extra: 1.0,
    })
}

/// Publisher → XSUB|proxy|XPUB → SUB, lossless: the publisher (`pub_lossless`) binds, the
/// proxy process connects its XSUB to it and binds its XPUB (XPUB_NODROP), the subscribers
/// connect to that. Fails when a subscriber missed a message.
fn run_proxy(o: &Opts, imp: Impl, size: usize, count: u64, subs: usize) -> Result<Sample, String> {
    let up = Endpoint::new(Transport::Tcp);
    let mut down = Endpoint::new(Transport::Tcp);
    while down.port == up.port {
        down = Endpoint::new(Transport::Tcp);
    }
    // The proxy is the publisher's one subscriber.
    let mut p = Proc::spawn(
        o,
        imp,
        &args(&[&"pub_lossless", &up.uri, &size, &count, &1]),
    )?;
    up.wait_bound(&mut p)?;
    let mut x = Proc::spawn(o, imp, &args(&[&"proxy_fwd", &up.uri, &down.uri, &subs]))?;
    down.wait_bound(&mut x)?;
    let mut s = Proc::spawn(
        o,
        imp,
        &args(&[&"sub_fanout", &down.uri, &size, &count, &subs]),
    )?;
    let ready = match s.line(Duration::from_secs(30)) {
        Ok(r) => r,
        Err(e) => {
            x.try_exited();
            let tail = x.stderr_tail();
            return Err(format!("{e} (proxy{tail})"));
        }
    };
    if ready != "ready" {
        return Err(format!("{}: expected \"ready\", got {ready:?}", s.name));
    }
    p.send_line("go");
    let sc = s.wait(o.timeout);
    p.close_stdin();
    x.close_stdin();
    let pc = p.wait(Duration::from_secs(30));
    let xc = x.wait(Duration::from_secs(30));
    let cpu = sc? + pc? + xc?;
    let (rate, delivered) =
        parse_fanout(&s.rest(), size, count, subs).map_err(|e| format!("{}: {e}", s.name))?;
    let expected = count * subs as u64;
    if delivered != expected {
        return Err(format!(
            "{}: lossless proxy delivered {delivered} of {expected} messages",
            s.name
        ));
    }
    Ok(Sample {
        value: rate,
        cpu: cpu / delivered as f64 * 1e6,
        extra: 1.0,
    })
}

/// One ROUTER, `dealers` DEALERs in one other process all sending; msg/s at the ROUTER.
fn run_router(
    o: &Opts,
    imp: Impl,
    size: usize,
    count: u64,
    dealers: u64,
) -> Result<Sample, String> {
    let ep = Endpoint::new(Transport::Tcp);
    let mut r = Proc::spawn(
        o,
        imp,
        &args(&[&"router_thr", &ep.uri, &size, &count, &dealers]),
    )?;
    ep.wait_bound(&mut r)?;
    let mut d = Proc::spawn(
        o,
        imp,
        &args(&[&"dealer_thr", &ep.uri, &size, &count, &dealers]),
    )?;
    // The ROUTER says ready once every DEALER's hello has arrived; a dealer process that
    // dies first fails the run at once.
    let end = Instant::now() + Duration::from_secs(120);
    let ready = loop {
        match r.lines.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => break Ok(l),
            Err(_) if Instant::now() > end || r.try_exited() => break r.line(Duration::ZERO),
            Err(_) => {}
        }
        if d.try_exited() {
            let e = d.wait(Duration::ZERO).err();
            break Err(e.unwrap_or_else(|| format!("{}: exited early", d.name)));
        }
    }?;
    if ready != "ready" {
        return Err(format!("{}: expected \"ready\", got {ready:?}", r.name));
    }
    let connected = ep.established();
    if connected < dealers {
        return Err(format!(
            "{}: only {connected} of {dealers} DEALERs connected when all had said hello",
            r.name
        ));
    }
    d.send_line("go");
    let rc = r.wait(o.timeout);
    d.close_stdin();
    let dc = d.wait(if rc.is_ok() {
        Duration::from_secs(30)
    } else {
        Duration::ZERO
    });
    let cpu = rc? + dc?;
    let rate = parse_thr(&r.rest(), size, count).map_err(|e| format!("{}: {e}", r.name))?;
    Ok(Sample {
        value: rate,
        cpu: cpu / count as f64 * 1e6,
        extra: 0.0,
    })
}

/// Most DEALERs one libzmq dealer process opens: libzmq takes descriptors per socket on top
/// of the connection's, and the open-file limit may not be raisable. The other
/// implementations open all their DEALERs in one process (omq-tokio's hellos do not all
/// arrive when 10,000 DEALERs in several processes connect at once).
const LIBZMQ_DEALERS_PER_PROCESS: u64 = 2500;

/// (idle RSS, RSS with `dealers` connected), in KiB.
fn run_mem(o: &Opts, imp: Impl, dealers: u64, notes: &mut Vec<String>) -> Result<Sample, String> {
    let ep = Endpoint::new(Transport::Tcp);
    let mut r = Proc::spawn(o, imp, &args(&[&"router_mem", &ep.uri, &dealers]))?;
    let idle = r.line(Duration::from_secs(20))?;
    let idle = parse_rss(&idle, "rss idle: ").map_err(|e| format!("{}: {e}", r.name))?;
    ep.wait_bound(&mut r)?;
    let mut ds = Vec::new();
    let mut left = dealers;
    while left > 0 {
        let n = if imp == Impl::Libzmq {
            left.min(LIBZMQ_DEALERS_PER_PROCESS)
        } else {
            left
        };
        left -= n;
        ds.push(Proc::spawn(o, imp, &args(&[&"dealer_mem", &ep.uri, &n]))?);
    }
    // The router prints its RSS once every dealer has said hello (or hellos stopped
    // coming); a dealer process that dies first fails the run at once.
    let end = Instant::now() + o.timeout.max(Duration::from_secs(300));
    let line = loop {
        match r.lines.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => break Ok(l),
            Err(_) if Instant::now() > end || r.try_exited() => {
                break r.line(Duration::ZERO);
            }
            Err(_) => {}
        }
        if let Some(d) = ds.iter_mut().find_map(|d| d.try_exited().then_some(d)) {
            let e = d.wait(Duration::ZERO).err();
            break Err(e.unwrap_or_else(|| format!("{}: exited early", d.name)));
        }
    };
    let hellos = r.line(Duration::from_secs(10));
    let connected = ep.established();
    r.close_stdin();
    for d in &mut ds {
        d.close_stdin();
    }
    let line = line?;
    let hellos: u64 = num(field(Some(&hellos?), "hellos: ", "")?, "hellos")?;
    r.wait(Duration::from_secs(30))?;
    for d in &mut ds {
        d.wait(Duration::from_secs(60))?;
    }
    let rss = parse_rss(&line, "rss: ").map_err(|e| format!("{}: {e}", r.name))?;
    if connected < dealers {
        return Err(format!(
            "{}: only {connected} of {dealers} DEALERs connected ({hellos} hellos)",
            r.name
        ));
    }
    if hellos < dealers {
        notes.push(format!(
            "{} with {dealers} DEALERs: all connected, but only {hellos} of their {dealers} hello messages arrived",
            imp.name()
        ));
    }
    Ok(Sample {
        value: rss,
        cpu: 0.0,
        extra: idle,
    })
}

/// The curve section's pairs: aiozmq, libzmq, and the two mixed pairs (16 B throughput only).
fn curve_pairs(impls: &[Impl]) -> Vec<Pair> {
    let mut v: Vec<Pair> = impls
        .iter()
        .copied()
        .filter(|&i| i.has_curve())
        .map(Pair::same)
        .collect();
    if impls.contains(&Impl::Libzmq) {
        v.push(Pair {
            send: Impl::Aiozmq,
            recv: Impl::Libzmq,
        });
        v.push(Pair {
            send: Impl::Libzmq,
            recv: Impl::Aiozmq,
        });
    }
    v
}

/// One line from `peer_libzmq curve_info`: the libzmq version and what its CURVE uses.
fn libzmq_curve_info(o: &Opts) -> Result<String, String> {
    let mut p = Proc::spawn(o, Impl::Libzmq, &args(&[&"curve_info"]))?;
    p.close_stdin();
    p.wait(Duration::from_secs(10))?;
    let out = p.rest();
    match out.as_slice() {
        [line] if line.contains("CURVE over") => Ok(line.clone()),
        _ => Err(format!("{}: libzmq has no CURVE ({out:?})", p.name)),
    }
}

// ---------------------------------------------------------------------------------------
// Results

#[derive(Default)]
struct Cell {
    samples: Vec<Sample>,
}

impl Cell {
    fn median(&self, f: impl Fn(&Sample) -> f64) -> Option<f64> {
        let mut v: Vec<f64> = self.samples.iter().map(f).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        })
    }
}

/// Results keyed by (section, transport or test name, size, pair).
type Key = (&'static str, String, usize, Pair);

struct Results {
    cells: BTreeMap<Key, Cell>,
    errors: Vec<String>,
    notes: Vec<String>,
    runs: usize,
    /// What `peer_libzmq curve_info` said (the libzmq version and its CURVE's crypto).
    curve_info: Option<String>,
}

impl Results {
    fn record(&mut self, key: Key, r: Result<Sample, String>) {
        self.runs += 1;
        match r {
            Ok(s) => self.cells.entry(key).or_default().samples.push(s),
            Err(e) => {
                eprintln!("  FAILED: {e}");
                self.cells.entry(key).or_default();
                self.errors.push(e);
            }
        }
    }

    fn med(&self, key: &Key, f: impl Fn(&Sample) -> f64) -> Option<f64> {
        self.cells.get(key).and_then(|c| c.median(f))
    }
}

fn fmt_rate(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(x) if x >= 1e6 => format!("{:.2} M", x / 1e6),
        Some(x) if x >= 1e3 => format!("{:.1} k", x / 1e3),
        Some(x) => format!("{x:.0}"),
    }
}

fn fmt_f(x: Option<f64>, prec: usize) -> String {
    x.map_or("–".into(), |x| format!("{x:.prec$}"))
}

fn fmt_ratio(x: Option<f64>) -> String {
    x.map_or("–".into(), |x| format!("{x:.2}×"))
}

fn fmt_size(s: usize) -> String {
    if s >= 1024 && s.is_multiple_of(1024) {
        format!("{} KiB", s / 1024)
    } else {
        format!("{s} B")
    }
}

fn ratio(ours: Option<f64>, other: Option<f64>) -> Option<f64> {
    match (ours, other) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Main

fn main() {
    let o = Opts::parse();
    raise_nofile();
    if o.build {
        build_peers(&o);
    }
    let available: Vec<Impl> = ALL
        .into_iter()
        .filter(|i| o.bin_dir.join(i.bin()).exists())
        .collect();
    let impls: Vec<Impl> = if o.impls.is_empty() {
        available.clone()
    } else {
        for i in &o.impls {
            if !available.contains(i) {
                eprintln!(
                    "{} is not built ({} missing in {}); build with its feature",
                    i.name(),
                    i.bin(),
                    o.bin_dir.display()
                );
                std::process::exit(2);
            }
        }
        ALL.into_iter().filter(|i| o.impls.contains(i)).collect()
    };
    if !impls.contains(&Impl::Aiozmq) {
        eprintln!("aiozmq must be among the implementations");
        std::process::exit(2);
    }
    let started = Instant::now();
    let load_before = loadavg();
    eprintln!(
        "compare: {} | {} repetition(s) | sections {} | {}",
        impls
            .iter()
            .map(|i| i.name())
            .collect::<Vec<_>>()
            .join(", "),
        o.reps,
        o.sections.join(","),
        if o.quick { "quick" } else { "full" }
    );

    let mut res = Results {
        cells: BTreeMap::new(),
        errors: Vec::new(),
        notes: Vec::new(),
        runs: 0,
        curve_info: None,
    };
    let mixed: Vec<Pair> = if o.has("mixed") && impls.contains(&Impl::Libzmq) {
        vec![
            Pair {
                send: Impl::Aiozmq,
                recv: Impl::Libzmq,
            },
            Pair {
                send: Impl::Libzmq,
                recv: Impl::Aiozmq,
            },
        ]
    } else {
        Vec::new()
    };
    let transports = [Transport::Tcp, Transport::Ipc];
    // CURVE: aiozmq and libzmq (the others have none), and the mixed pairs.
    let curve_pairs: Vec<Pair> = if o.has("curve") {
        curve_pairs(&impls)
    } else {
        Vec::new()
    };
    if o.has("curve") && impls.contains(&Impl::Libzmq) {
        match libzmq_curve_info(&o) {
            Ok(info) => res.curve_info = Some(info),
            Err(e) => {
                eprintln!("  FAILED: {e}");
                res.runs += 1;
                res.errors.push(e);
            }
        }
    }
    let extra: Vec<Impl> = impls
        .iter()
        .copied()
        .filter(|i| i.has_extra_roles())
        .collect();
    let pubsub: Vec<Pair> = impls
        .iter()
        .copied()
        .filter(|i| i.has_pubsub())
        .map(Pair::same)
        .collect();
    let every: Vec<Pair> = impls.iter().copied().map(Pair::same).collect();

    for rep in 0..o.reps {
        eprintln!(
            "repetition {}/{} ({:.0} s so far)",
            rep + 1,
            o.reps,
            started.elapsed().as_secs_f64()
        );
        // Throughput and latency: within each cell every pair once, in an order rotated
        // from one repetition to the next.
        let mut pairs: Vec<Pair> = Vec::new();
        if o.has("thr") || o.has("lat") {
            pairs.extend(impls.iter().map(|&i| Pair::same(i)));
        }
        pairs.extend(mixed.iter().copied());
        let rotated = |v: &[Pair]| -> Vec<Pair> {
            let n = v.len().max(1);
            (0..v.len()).map(|k| v[(k + rep) % n]).collect()
        };
        if o.has("thr") || !mixed.is_empty() {
            for &t in &transports {
                for &size in &SIZES {
                    let count = o.thr_count(size);
                    for p in rotated(&pairs) {
                        if p.send == p.recv && !o.has("thr") {
                            continue;
                        }
                        eprintln!("  thr {} {} {}", t.name(), fmt_size(size), p.label());
                        let r = run_thr(&o, p, t, size, count, false);
                        res.record(("thr", t.name().into(), size, p), r);
                    }
                }
            }
        }
        if o.has("lat") || !mixed.is_empty() {
            for &t in &transports {
                for p in rotated(&pairs) {
                    if p.send == p.recv && !o.has("lat") {
                        continue;
                    }
                    eprintln!("  lat {} {}", t.name(), p.label());
                    let r = run_lat(&o, p, t, LAT_SIZE, o.lat_count(), false);
                    res.record(("lat", t.name().into(), LAT_SIZE, p), r);
                }
            }
        }
        let extra_rot: Vec<Pair> =
            rotated(&extra.iter().map(|&i| Pair::same(i)).collect::<Vec<_>>());
        if o.has("inproc") {
            for size in SIZES.iter().map(|&s| Some(s)).chain([None]) {
                for p in &extra_rot {
                    let (count, key) = match size {
                        Some(s) => (o.inproc_thr_count(s), ("inproc", "thr".to_string(), s, *p)),
                        None => (
                            o.inproc_lat_count(),
                            ("inproc", "lat".to_string(), LAT_SIZE, *p),
                        ),
                    };
                    eprintln!("  inproc {} {}", key.1, p.label());
                    let r = run_inproc(&o, p.send, size, count);
                    res.record(key, r);
                }
            }
        }
        if o.has("fanout") {
            for p in rotated(&pubsub) {
                eprintln!("  fanout {}", p.label());
                let r = run_fanout(&o, p.send, FANOUT_SIZE, o.fanout_count(), FANOUT_SUBS);
                res.record(("fanout", "tcp".into(), FANOUT_SIZE, p), r);
            }
        }
        if o.has("lossless") {
            for p in rotated(&every) {
                eprintln!("  lossless {}", p.label());
                let r = run_lossless(&o, p.send, FANOUT_SIZE, o.lossless_count(), FANOUT_SUBS);
                res.record(("lossless", "tcp".into(), FANOUT_SIZE, p), r);
            }
        }
        if o.has("proxy") {
            for p in rotated(&every) {
                eprintln!("  proxy {}", p.label());
                let r = run_proxy(&o, p.send, FANOUT_SIZE, o.proxy_count(), FANOUT_SUBS);
                res.record(("proxy", "tcp".into(), FANOUT_SIZE, p), r);
            }
        }
        if o.has("router") {
            for &size in &ROUTER_SIZES {
                for p in rotated(&every) {
                    eprintln!(
                        "  router {} dealers {} {}",
                        o.router_dealers,
                        fmt_size(size),
                        p.label()
                    );
                    let r = run_router(&o, p.send, size, o.router_count(size), o.router_dealers);
                    res.record(("router", "tcp".into(), size, p), r);
                }
            }
        }
        if o.has("curve") {
            for &size in &CURVE_SIZES {
                let count = o.curve_thr_count(size);
                for p in rotated(&curve_pairs) {
                    if p.send != p.recv && size != CURVE_SIZES[0] {
                        continue;
                    }
                    eprintln!("  curve thr tcp {} {}", fmt_size(size), p.label());
                    let r = run_thr(&o, p, Transport::Tcp, size, count, true);
                    res.record(("curve", "thr".into(), size, p), r);
                }
            }
            for p in rotated(&curve_pairs) {
                if p.send != p.recv {
                    continue;
                }
                eprintln!("  curve lat tcp {}", p.label());
                let r = run_lat(&o, p, Transport::Tcp, LAT_SIZE, o.curve_lat_count(), true);
                res.record(("curve", "lat".into(), LAT_SIZE, p), r);
            }
        }
        // Memory: deterministic enough for one repetition.
        if o.has("mem") && rep == 0 {
            for &n in &o.dealers {
                for p in &extra_rot {
                    eprintln!("  mem {} dealers {}", n, p.label());
                    let r = run_mem(&o, p.send, n, &mut res.notes);
                    res.record(("mem", "tcp".into(), n as usize, *p), r);
                }
            }
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    let load = (load_before, loadavg());
    let report = report(&o, &impls, &mixed, &res, elapsed, &load);
    println!("{report}");
    if let Some(path) = &o.json {
        let v = json_out(&o, &impls, &res, elapsed, &load);
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&v).unwrap() + "\n") {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
        eprintln!("wrote {}", path.display());
    }
    if !res.errors.is_empty() {
        eprintln!("{} of {} runs failed:", res.errors.len(), res.runs);
        for e in &res.errors {
            eprintln!("  {e}");
        }
        std::process::exit(1);
    }
    eprintln!("{} runs, all well-formed, in {elapsed:.0} s", res.runs);
}

fn report(
    o: &Opts,
    impls: &[Impl],
    mixed: &[Pair],
    res: &Results,
    elapsed: f64,
    load: &(String, String),
) -> String {
    let mut s = String::new();
    let w = |s: &mut String, line: String| {
        s.push_str(&line);
        s.push('\n');
    };
    let peers: Vec<Impl> = impls.iter().copied().filter(|i| i.is_peer()).collect();
    let has_tcp = impls.contains(&Impl::Tcp);
    let ours = Pair::same(Impl::Aiozmq);
    w(
        &mut s,
        format!(
            "## aiozmq vs peers — {} run, {} repetition(s), medians ({:.0} s; {} cores; load average {} before, {} after)\n",
            if o.quick { "quick" } else { "full" },
            o.reps,
            elapsed,
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            load.0,
            load.1
        ),
    );
    let mut cols: Vec<Pair> = impls.iter().map(|&i| Pair::same(i)).collect();
    cols.extend(mixed.iter().copied());
    let header = |first: &str, cols: &[Pair], tail: &[&str]| -> String {
        let mut h = format!("| {first} |");
        let mut sep = String::from("|---|");
        for c in cols {
            h.push_str(&format!(" {} |", c.label()));
            sep.push_str("---:|");
        }
        for t in tail {
            h.push_str(&format!(" {t} |"));
            sep.push_str("---:|");
        }
        format!("{h}\n{sep}")
    };
    let best_peer = |key: &dyn Fn(Pair) -> Key, higher: bool| -> Option<f64> {
        let v = peers
            .iter()
            .filter_map(|&p| res.med(&key(Pair::same(p)), |x| x.value));
        if higher {
            v.fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))))
        } else {
            v.fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
        }
    };

    if o.has("thr") || !mixed.is_empty() {
        let thr_cols: Vec<Pair> = cols
            .iter()
            .copied()
            .filter(|p| o.has("thr") || p.send != p.recv)
            .collect();
        w(
            &mut s,
            "### Throughput, msg/s (PUSH→PULL; raw-tcp: length-prefixed stream; a→b: sender→receiver)\n"
                .into(),
        );
        let tail: Vec<&str> = if o.has("thr") {
            let mut t = vec!["aiozmq ÷ best peer"];
            if has_tcp {
                t.push("aiozmq ÷ raw-tcp");
            }
            t
        } else {
            vec![]
        };
        w(&mut s, header("transport, size", &thr_cols, &tail));
        for t in ["tcp", "ipc"] {
            for size in SIZES {
                let key = |p: Pair| ("thr", t.to_string(), size, p);
                let mut line = format!("| {t} {} |", fmt_size(size));
                for &c in &thr_cols {
                    line.push_str(&format!(" {} |", fmt_rate(res.med(&key(c), |x| x.value))));
                }
                if o.has("thr") {
                    let our = res.med(&key(ours), |x| x.value);
                    line.push_str(&format!(
                        " {} |",
                        fmt_ratio(ratio(our, best_peer(&key, true)))
                    ));
                    if has_tcp {
                        let raw = res.med(&key(Pair::same(Impl::Tcp)), |x| x.value);
                        line.push_str(&format!(" {} |", fmt_ratio(ratio(our, raw))));
                    }
                }
                w(&mut s, line);
            }
        }
        w(&mut s, String::new());
        w(
            &mut s,
            "### Throughput CPU: user+sys seconds of both processes per million messages\n".into(),
        );
        w(&mut s, header("transport, size", &thr_cols, &[]));
        for t in ["tcp", "ipc"] {
            for size in SIZES {
                let key = |p: Pair| ("thr", t.to_string(), size, p);
                let mut line = format!("| {t} {} |", fmt_size(size));
                for &c in &thr_cols {
                    line.push_str(&format!(" {} |", fmt_f(res.med(&key(c), |x| x.cpu), 2)));
                }
                w(&mut s, line);
            }
        }
        w(&mut s, String::new());
    }

    if o.has("lat") || !mixed.is_empty() {
        let lat_cols: Vec<Pair> = cols
            .iter()
            .copied()
            .filter(|p| o.has("lat") || p.send != p.recv)
            .collect();
        w(
            &mut s,
            format!(
                "### Round trip, µs ({} B REQ→REP; raw-tcp: ping-pong; lower is better; CPU: seconds per million round trips)\n",
                LAT_SIZE
            ),
        );
        let tail: Vec<&str> = if o.has("lat") {
            let mut t = vec!["aiozmq ÷ best peer"];
            if has_tcp {
                t.push("aiozmq ÷ raw-tcp");
            }
            t
        } else {
            vec![]
        };
        w(&mut s, header("transport", &lat_cols, &tail));
        for t in ["tcp", "ipc"] {
            let key = |p: Pair| ("lat", t.to_string(), LAT_SIZE, p);
            let mut line = format!("| {t} |");
            for &c in &lat_cols {
                line.push_str(&format!(" {} |", fmt_f(res.med(&key(c), |x| x.value), 1)));
            }
            if o.has("lat") {
                let our = res.med(&key(ours), |x| x.value);
                line.push_str(&format!(
                    " {} |",
                    fmt_ratio(ratio(our, best_peer(&key, false)))
                ));
                if has_tcp {
                    let raw = res.med(&key(Pair::same(Impl::Tcp)), |x| x.value);
                    line.push_str(&format!(" {} |", fmt_ratio(ratio(our, raw))));
                }
            }
            w(&mut s, line);
            let mut line = format!("| {t} CPU |");
            for &c in &lat_cols {
                line.push_str(&format!(" {} |", fmt_f(res.med(&key(c), |x| x.cpu), 1)));
            }
            for _ in &tail {
                line.push_str(" |");
            }
            w(&mut s, line);
        }
        w(&mut s, String::new());
    }

    let extra: Vec<Pair> = impls
        .iter()
        .copied()
        .filter(|i| i.has_extra_roles())
        .map(Pair::same)
        .collect();
    let extra_peers: Vec<Pair> = extra.iter().copied().filter(|p| p.send.is_peer()).collect();
    let best_of = |key: &dyn Fn(Pair) -> Key, higher: bool| -> Option<f64> {
        let v = extra_peers
            .iter()
            .filter_map(|&p| res.med(&key(p), |x| x.value));
        if higher {
            v.fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))))
        } else {
            v.fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
        }
    };
    if o.has("inproc") {
        w(
            &mut s,
            "### inproc, one process (throughput msg/s: PUSH→PULL; round trip µs: REQ→REP)\n"
                .into(),
        );
        w(&mut s, header("test", &extra, &["aiozmq ÷ best peer"]));
        for size in SIZES.iter().map(|&s| Some(s)).chain([None]) {
            let (label, key): (String, Box<dyn Fn(Pair) -> Key>) = match size {
                Some(sz) => (
                    format!("throughput {}", fmt_size(sz)),
                    Box::new(move |p| ("inproc", "thr".to_string(), sz, p)),
                ),
                None => (
                    format!("round trip {LAT_SIZE} B"),
                    Box::new(|p| ("inproc", "lat".to_string(), LAT_SIZE, p)),
                ),
            };
            let mut line = format!("| {label} |");
            for &c in &extra {
                let v = res.med(&key(c), |x| x.value);
                line.push_str(&format!(
                    " {} |",
                    if size.is_some() {
                        fmt_rate(v)
                    } else {
                        fmt_f(v, 2)
                    }
                ));
            }
            let our = res.med(&key(ours), |x| x.value);
            line.push_str(&format!(
                " {} |",
                fmt_ratio(ratio(our, best_of(&*key, size.is_some())))
            ));
            w(&mut s, line);
        }
        w(&mut s, String::new());
    }
    // The fan-out, proxy and router sections: which implementations have the roles, and
    // the best of the peers among them.
    let pubsub: Vec<Pair> = impls
        .iter()
        .copied()
        .filter(|i| i.has_pubsub())
        .map(Pair::same)
        .collect();
    let every: Vec<Pair> = impls.iter().copied().map(Pair::same).collect();
    let best_in = |cols: &[Pair], key: &dyn Fn(Pair) -> Key| -> Option<f64> {
        cols.iter()
            .filter(|p| p.send.is_peer())
            .filter_map(|&p| res.med(&key(p), |x| x.value))
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))))
    };
    // One rate row: every column, then aiozmq ÷ best peer (and ÷ raw-tcp when it is there).
    let rate_row = |label: &str, cols: &[Pair], key: &dyn Fn(Pair) -> Key| -> String {
        let mut line = format!("| {label} |");
        for &c in cols {
            line.push_str(&format!(" {} |", fmt_rate(res.med(&key(c), |x| x.value))));
        }
        let our = res.med(&key(ours), |x| x.value);
        line.push_str(&format!(" {} |", fmt_ratio(ratio(our, best_in(cols, key)))));
        if cols.contains(&Pair::same(Impl::Tcp)) {
            let raw = res.med(&key(Pair::same(Impl::Tcp)), |x| x.value);
            line.push_str(&format!(" {} |", fmt_ratio(ratio(our, raw))));
        }
        line
    };
    let tail_of = |cols: &[Pair]| -> Vec<&'static str> {
        let mut t = vec!["aiozmq ÷ best peer"];
        if cols.contains(&Pair::same(Impl::Tcp)) {
            t.push("aiozmq ÷ raw-tcp");
        }
        t
    };
    // A row of one more figure per column (empty ratio cells).
    let plain_row = |label: &str, cols: &[Pair], cell: &dyn Fn(Pair) -> String| -> String {
        let mut line = format!("| {label} |");
        for &c in cols {
            line.push_str(&format!(" {} |", cell(c)));
        }
        for _ in tail_of(cols) {
            line.push_str(" |");
        }
        line
    };
    let delivered_pct = |key: Key| -> String {
        res.med(&key, |x| x.extra)
            .map_or("–".into(), |x| format!("{:.1} %", x * 100.0))
    };
    if o.has("fanout") {
        w(
            &mut s,
            format!(
                "### PUB → {FANOUT_SUBS} SUB fan-out over tcp, {FANOUT_SIZE} B, {} messages published (messages delivered per second, summed over subscribers, first to last delivery; default HWM: a PUB drops a subscriber's messages while its queue is full)\n",
                o.fanout_count()
            ),
        );
        let key = |p: Pair| ("fanout", "tcp".to_string(), FANOUT_SIZE, p);
        w(&mut s, header("", &pubsub, &tail_of(&pubsub)));
        w(&mut s, rate_row("delivered msg/s", &pubsub, &key));
        w(
            &mut s,
            plain_row("delivered (of published × subscribers)", &pubsub, &|c| {
                delivered_pct(key(c))
            }),
        );
        w(
            &mut s,
            plain_row("CPU s per M deliveries", &pubsub, &|c| {
                fmt_f(res.med(&key(c), |x| x.cpu), 2)
            }),
        );
        w(&mut s, String::new());
    }
    if o.has("lossless") {
        w(
            &mut s,
            format!(
                "### PUB → {FANOUT_SUBS} SUB lossless over tcp, {FANOUT_SIZE} B, {} messages published, every one to every subscriber (XPUB with XPUB_NODROP: send waits while a subscriber's queue is full; zeromq's XPUB never drops; raw-tcp: a stream per subscriber; deliveries/s summed over subscribers, first to last delivery)\n",
                o.lossless_count()
            ),
        );
        let key = |p: Pair| ("lossless", "tcp".to_string(), FANOUT_SIZE, p);
        w(&mut s, header("", &every, &tail_of(&every)));
        w(&mut s, rate_row("delivered msg/s", &every, &key));
        w(
            &mut s,
            plain_row("publish rate, msg/s (÷ subscribers)", &every, &|c| {
                fmt_rate(
                    res.med(&key(c), |x| x.value)
                        .map(|v| v / FANOUT_SUBS as f64),
                )
            }),
        );
        w(
            &mut s,
            plain_row("CPU s per M deliveries", &every, &|c| {
                fmt_f(res.med(&key(c), |x| x.cpu), 2)
            }),
        );
        w(&mut s, String::new());
    }
    if o.has("proxy") {
        w(
            &mut s,
            format!(
                "### XPUB/XSUB proxy over tcp: publisher → proxy → {FANOUT_SUBS} SUB, {FANOUT_SIZE} B, {} messages, every one to every subscriber (the implementation's own proxy in its own process; the publisher an XPUB and the proxy's XPUB with XPUB_NODROP; raw-tcp: a relay copying one stream into ten; deliveries/s summed over subscribers, first to last delivery; CPU: all three processes)\n",
                o.proxy_count()
            ),
        );
        let key = |p: Pair| ("proxy", "tcp".to_string(), FANOUT_SIZE, p);
        w(&mut s, header("", &every, &tail_of(&every)));
        w(&mut s, rate_row("delivered msg/s", &every, &key));
        w(
            &mut s,
            plain_row("CPU s per M deliveries", &every, &|c| {
                fmt_f(res.med(&key(c), |x| x.cpu), 2)
            }),
        );
        w(&mut s, String::new());
        w(
            &mut s,
            "Note: the proxies are aiozmq::proxy, libzmq's zmq_proxy, zeromq::proxy and omq_tokio::proxy::proxy, each on its runtime's defaults (the tokio ones on a current-thread runtime, libzmq with its one I/O thread).\n"
                .into(),
        );
    }
    if o.has("router") {
        w(
            &mut s,
            format!(
                "### ROUTER ← {} DEALERs over tcp, all sending (msg/s received by the one ROUTER, first to last message; the DEALERs in one other process, each sending its share in turn: {} / {} messages in all)\n",
                o.router_dealers,
                o.router_count(ROUTER_SIZES[0]),
                o.router_count(ROUTER_SIZES[1])
            ),
        );
        w(&mut s, header("size", &every, &tail_of(&every)));
        for size in ROUTER_SIZES {
            let key = |p: Pair| ("router", "tcp".to_string(), size, p);
            w(&mut s, rate_row(&fmt_size(size), &every, &key));
        }
        for size in ROUTER_SIZES {
            let key = |p: Pair| ("router", "tcp".to_string(), size, p);
            w(
                &mut s,
                plain_row(
                    &format!("{} CPU s per M messages", fmt_size(size)),
                    &every,
                    &|c| fmt_f(res.med(&key(c), |x| x.cpu), 2),
                ),
            );
        }
        w(&mut s, String::new());
    }
    if o.has("curve") {
        let curve_cols = curve_pairs(impls);
        w(
            &mut s,
            format!(
                "### CURVE over tcp (binding side = CURVE server; throughput msg/s: PUSH→PULL, {} / {} messages; round trip µs: {LAT_SIZE} B REQ→REP, {} round trips; a→b: sender/client→receiver/server)\n",
                o.curve_thr_count(CURVE_SIZES[0]),
                o.curve_thr_count(CURVE_SIZES[1]),
                o.curve_lat_count()
            ),
        );
        let libzmq = Pair::same(Impl::Libzmq);
        let has_libzmq = curve_cols.contains(&libzmq);
        let tail: &[&str] = if has_libzmq {
            &["aiozmq ÷ libzmq"]
        } else {
            &[]
        };
        w(&mut s, header("test", &curve_cols, tail));
        let tests: Vec<(String, Key, bool)> = CURVE_SIZES
            .iter()
            .map(|&sz| {
                (
                    format!("throughput {}", fmt_size(sz)),
                    ("curve", "thr".to_string(), sz, ours),
                    true,
                )
            })
            .chain([(
                format!("round trip {LAT_SIZE} B"),
                ("curve", "lat".to_string(), LAT_SIZE, ours),
                false,
            )])
            .collect();
        let with = |k: &Key, p: Pair| -> Key { (k.0, k.1.clone(), k.2, p) };
        for (label, k, thr) in &tests {
            let mut line = format!("| {label} |");
            for &c in &curve_cols {
                let v = res.med(&with(k, c), |x| x.value);
                line.push_str(&format!(
                    " {} |",
                    if *thr { fmt_rate(v) } else { fmt_f(v, 1) }
                ));
            }
            if has_libzmq {
                let our = res.med(k, |x| x.value);
                let theirs = res.med(&with(k, libzmq), |x| x.value);
                // Throughput: higher is better; round trip: lower is better (as elsewhere,
                // the ratio is ours ÷ libzmq either way).
                line.push_str(&format!(" {} |", fmt_ratio(ratio(our, theirs))));
            }
            w(&mut s, line);
        }
        for (label, k, thr) in &tests {
            let mut line = format!(
                "| {label} CPU s per M {} |",
                if *thr { "messages" } else { "round trips" }
            );
            for &c in &curve_cols {
                let v = res.med(&with(k, c), |x| x.cpu);
                line.push_str(&format!(" {} |", fmt_f(v, if *thr { 2 } else { 1 })));
            }
            if has_libzmq {
                let our = res.med(k, |x| x.cpu);
                let theirs = res.med(&with(k, libzmq), |x| x.cpu);
                line.push_str(&format!(" {} |", fmt_ratio(ratio(our, theirs))));
            }
            w(&mut s, line);
        }
        w(&mut s, String::new());
        w(
            &mut s,
            "Note: omq-tokio, zeromq and raw-tcp have no CURVE and are left out of this section; the mixed pairs run 16 B throughput only.\n".into(),
        );
        w(
            &mut s,
            format!(
                "Note: aiozmq's CURVE is pure Rust (no libsodium); {}.\n",
                match &res.curve_info {
                    Some(i) => format!("libzmq: {i}, built from source (zeromq-src with libsodium-sys-stable; not tweetnacl)"),
                    None => "libzmq not run".into(),
                }
            ),
        );
    }
    if o.has("mem") {
        w(
            &mut s,
            "### Memory: RSS of one ROUTER process (tcp; its DEALERs in another process of the same implementation; libzmq's in processes of 2500)\n"
                .into(),
        );
        let mut h = "| connected DEALERs |".to_string();
        let mut sep = "|---|".to_string();
        for c in &extra {
            h.push_str(&format!(
                " {} RSS | {} per connection |",
                c.label(),
                c.label()
            ));
            sep.push_str("---:|---:|");
        }
        w(&mut s, format!("{h}\n{sep}"));
        for &n in &o.dealers {
            let key = |p: Pair| ("mem", "tcp".to_string(), n as usize, p);
            let mut line = format!("| {n} |");
            for &c in &extra {
                let rss = res.med(&key(c), |x| x.value);
                let idle = res.med(&key(c), |x| x.extra);
                let per = match (rss, idle) {
                    (Some(r), Some(i)) => Some((r - i) * 1024.0 / n as f64),
                    _ => None,
                };
                line.push_str(&format!(
                    " {} | {} |",
                    rss.map_or("–".into(), |r| format!("{:.1} MiB", r / 1024.0)),
                    per.map_or("–".into(), |p| format!("{:.1} KiB", p / 1024.0)),
                ));
            }
            w(&mut s, line);
        }
        w(
            &mut s,
            "\n(per connection: (RSS − RSS before any connection) ÷ DEALERs)\n".into(),
        );
        for n in &res.notes {
            w(&mut s, format!("Note: {n}.\n"));
        }
    }
    s
}

fn json_out(
    o: &Opts,
    impls: &[Impl],
    res: &Results,
    elapsed: f64,
    load: &(String, String),
) -> Value {
    let mut rows = Vec::new();
    for ((section, test, size, pair), cell) in &res.cells {
        rows.push(json!({
            "section": section,
            "transport_or_test": test,
            "size": size,
            "sender": pair.send.name(),
            "receiver": pair.recv.name(),
            "label": pair.label(),
            "median": cell.median(|x| x.value),
            "median_cpu_s_per_million": cell.median(|x| x.cpu),
            "median_extra": cell.median(|x| x.extra),
            "samples": cell.samples.iter().map(|x| json!({"value": x.value, "cpu_s_per_million": x.cpu, "extra": x.extra})).collect::<Vec<_>>(),
        }));
    }
    json!({
        "units": {
            "thr": "messages per second (receiver, first to last message)",
            "lat": "round trip in microseconds",
            "inproc": "thr: messages per second; lat: round trip in microseconds",
            "fanout": "messages delivered per second summed over subscribers; extra = delivered fraction",
            "lossless": "messages delivered per second summed over subscribers, every message to every subscriber (XPUB_NODROP); extra = 1",
            "proxy": "messages delivered per second summed over subscribers through the proxy process, every message to every subscriber (XPUB_NODROP); extra = 1",
            "router": "messages per second received by the ROUTER from all DEALERs (size = message size)",
            "mem": "RSS in KiB with the DEALERs connected; extra = RSS in KiB before any connection",
            "curve": "CURVE over tcp; thr: messages per second; lat: round trip in microseconds",
            "cpu_s_per_million": "user+sys seconds of all processes per million messages (round trips, deliveries)",
        },
        "quick": o.quick,
        "repetitions": o.reps,
        "implementations": impls.iter().map(|i| i.name()).collect::<Vec<_>>(),
        "counts": {
            "thr": SIZES.iter().map(|&s| json!({"size": s, "count": o.thr_count(s)})).collect::<Vec<_>>(),
            "lat": o.lat_count(),
            "inproc_thr": SIZES.iter().map(|&s| json!({"size": s, "count": o.inproc_thr_count(s)})).collect::<Vec<_>>(),
            "inproc_lat": o.inproc_lat_count(),
            "fanout": o.fanout_count(),
            "lossless": o.lossless_count(),
            "proxy": o.proxy_count(),
            "router": ROUTER_SIZES.iter().map(|&s| json!({"size": s, "count": o.router_count(s)})).collect::<Vec<_>>(),
            "router_dealers": o.router_dealers,
            "subscribers": FANOUT_SUBS,
            "dealers": o.dealers,
            "curve_thr": CURVE_SIZES.iter().map(|&s| json!({"size": s, "count": o.curve_thr_count(s)})).collect::<Vec<_>>(),
            "curve_lat": o.curve_lat_count(),
        },
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "elapsed_s": elapsed,
        "loadavg_before": load.0,
        "loadavg_after": load.1,
        "libzmq_curve": res.curve_info,
        "errors": res.errors,
        "notes": res.notes,
        "results": rows,
    })
}

/// Builds the peer binaries (cargo run builds only this one), with this binary's features.
fn build_peers(o: &Opts) {
    let (Ok(cargo), Ok(dir)) = (std::env::var("CARGO"), std::env::var("CARGO_MANIFEST_DIR")) else {
        return; // not started by cargo: use whatever is built next to this binary
    };
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--bins", "--manifest-path"])
        .arg(Path::new(&dir).join("Cargo.toml"));
    // Next to this binary: release peers for a release runner (as it should be run).
    if o.bin_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    } else {
        eprintln!("note: a debug build measures nothing useful; use --release");
    }
    // The same feature set as this binary (`default` counts: a different set rebuilds).
    if !cfg!(feature = "default") {
        let mut features = Vec::new();
        if cfg!(feature = "libzmq") {
            features.push("libzmq");
        }
        if cfg!(feature = "omq") {
            features.push("omq");
        }
        cmd.arg("--no-default-features");
        if !features.is_empty() {
            cmd.args(["--features", &features.join(",")]);
        }
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("building the peers failed ({s})");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot run cargo: {e}");
            std::process::exit(1);
        }
    }
}

/// Raises the open-file limit (10,000 connections need more than 10,000 descriptors; libzmq
/// also takes one per socket for its mailbox). Children inherit it.
fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        let want: libc::rlim_t = 65536;
        if r.rlim_cur >= want {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: r.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// The 1-minute load average (other work on the machine skews absolute numbers).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
