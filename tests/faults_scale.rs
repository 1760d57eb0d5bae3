//! Fault tests at scale, each with its measured side in a child process (this test binary
//! run again with `AIOZMQ_SCALE_CHILD` naming the test), so that the figures are that
//! process's alone:
//!
//! - a bound ROUTER runs out of file descriptors while accepting (the child runs under a
//!   low `ulimit -n`): ACCEPT_FAILED carries EMFILE, the accept loop backs off instead of
//!   spinning (the child's CPU time and its rate of failed accepts over the EMFILE window
//!   stay small), the connections already accepted are still served, and once clients
//!   disconnect the queued client and a new one are accepted and served;
//! - 5,000 DEALERs (in this process) connected at once to one ROUTER (in the child), each
//!   served; the ROUTER process's memory per connection is printed and bounded, and every
//!   connection closes cleanly (fds back to where they were on both sides);
//! - 16 client tasks doing connect, request, reply, close cycles against one ROUTER for a
//!   few seconds, over TCP, IPC and CURVE: fds and tokio tasks exactly back to their idle
//!   level and RSS flat (within a stated slack) after the run.
//!
//! The children run one at a time: their figures (CPU time, RSS) should not depend on
//! what else this binary runs meanwhile.

mod support;

use std::future::Future;
use std::io::{BufRead, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aiozmq::{EventKind, Socket, SocketType};
use support::{bind_any, close, connect, frames, msg, recv, send, within, UnboundIpc, OP_TIMEOUT};

/// The environment variable naming the test a child process runs.
const CHILD_VAR: &str = "AIOZMQ_SCALE_CHILD";

/// Marks the lines a child writes for its parent (libtest writes to stdout too).
const SAY: &str = "SCALE ";

/// One child (and its test) at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------------------
// /proc readings.

/// Open fds of process `pid` (`/proc/PID/fd`; for this process the listing's own fd is not
/// counted).
fn fd_count(pid: u32) -> usize {
    let n = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count();
    if pid == std::process::id() {
        n - 1
    } else {
        n
    }
}

/// `VmRSS` of process `pid`, in KiB.
fn rss_kib_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// User plus system CPU time of process `pid` (all its threads), from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may contain spaces), from field 3 (state) on:
    // utime is field 14, stime field 15, in clock ticks.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().expect("a tick count"))
        .collect();
    let ticks = f[0] + f[1];
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64)
}

/// `CLK_TCK` (`getconf CLK_TCK`; 100, Linux's USER_HZ, when getconf is missing).
fn clock_ticks_per_second() -> u64 {
    static HZ: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Wall time and the CPU time of some processes, phase by phase.
struct Lap {
    pids: Vec<u32>,
    start: Instant,
    cpu: Vec<Duration>,
}

impl Lap {
    fn new(pids: &[u32]) -> Lap {
        Lap {
            pids: pids.to_vec(),
            start: Instant::now(),
            cpu: pids.iter().map(|p| cpu_time(*p)).collect(),
        }
    }

    /// "wall (cpu / cpu ...)" since the last lap.
    fn lap(&mut self) -> String {
        let now = Lap::new(&self.pids);
        let cpu: Vec<String> = now
            .cpu
            .iter()
            .zip(&self.cpu)
            .map(|(b, a)| format!("{:.2?}", *b - *a))
            .collect();
        let line = format!("{:.2?} ({})", self.start.elapsed(), cpu.join(" / "));
        *self = now;
        line
    }
}

/// Alive tokio tasks of the current runtime.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Polls `sample` every 10 ms until it equals `want`; fails after `limit` with the last
/// value seen.
async fn settle<T: PartialEq + std::fmt::Debug>(
    what: impl std::fmt::Display,
    want: T,
    limit: Duration,
    mut sample: impl FnMut() -> T,
) {
    let start = Instant::now();
    loop {
        let now = sample();
        if now == want {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: {now:?} after {limit:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Children.

/// A child process running `NAME::child` of this binary, talking over stdin/stdout.
struct Child {
    name: String,
    proc: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    /// The child's `SAY` lines, without the prefix.
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Everything the child wrote to stderr.
    stderr: Arc<Mutex<String>>,
}

impl Child {
    /// Starts `name::child`; with `nofile`, under `ulimit -n NOFILE` (set by `sh`, which then
    /// execs the test binary: the pid is the test binary's).
    fn spawn(name: &str, nofile: Option<u32>) -> Child {
        let exe = std::env::current_exe().expect("the test binary");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = std::process::Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(&exe);
                c
            }
            None => std::process::Command::new(&exe),
        };
        cmd.args([
            &format!("{name}::child"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, name)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut proc = cmd.spawn().expect("starting the child");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let out = proc.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                // Anywhere in the line: libtest's "test NAME ... " may precede it.
                if let Some(i) = line.find(SAY) {
                    let _ = tx.send(line[i + SAY.len()..].to_owned());
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut err, sink) = (proc.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Child {
            name: name.to_owned(),
            stdin: proc.stdin.take(),
            proc,
            lines,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.proc.id()
    }

    /// The last lines of the child's stderr.
    fn stderr_tail(&self) -> String {
        let all = self.stderr.lock().unwrap();
        let mut tail: Vec<&str> = all
            .lines()
            .filter(|l| !l.is_empty())
            .rev()
            .take(15)
            .collect();
        tail.reverse();
        tail.join("\n")
    }

    /// The next line of the child starting with `key` (the rest of it), failing after
    /// [`OP_TIMEOUT`] or when the child ends first.
    async fn expect(&mut self, key: &str) -> String {
        self.expect_within(key, OP_TIMEOUT).await
    }

    /// [`Child::expect`] with a time limit of `limit`.
    async fn expect_within(&mut self, key: &str, limit: Duration) -> String {
        let got = tokio::time::timeout(limit, async {
            while let Some(line) = self.lines.recv().await {
                if let Some(rest) = line.strip_prefix(key) {
                    return Some(rest.trim().to_owned());
                }
            }
            None
        })
        .await;
        match got {
            Ok(Some(rest)) => rest,
            Ok(None) => panic!(
                "{}: the child ended before saying {key}:\n{}",
                self.name,
                self.stderr_tail()
            ),
            Err(_) => panic!(
                "{}: the child did not say {key} within {limit:?}:\n{}",
                self.name,
                self.stderr_tail()
            ),
        }
    }

    /// The count of the child's latest `ACCEPT_FAILED` line received so far (0 if none);
    /// other lines received meanwhile are dropped.
    fn accept_failures(&mut self) -> u64 {
        let mut last = 0;
        while let Ok(line) = self.lines.try_recv() {
            if let Some(rest) = line.strip_prefix("ACCEPT_FAILED") {
                last = rest.split_whitespace().next().unwrap().parse().unwrap();
            }
        }
        last
    }

    /// Fails when the child has exited.
    fn assert_alive(&mut self) {
        if let Some(status) = self.proc.try_wait().unwrap() {
            panic!(
                "{}: the child exited ({status}):\n{}",
                self.name,
                self.stderr_tail()
            );
        }
    }

    /// Closes the child's stdin (its signal to finish), waits for its exit and fails unless
    /// it succeeded. Returns the child's last `SAY` lines.
    async fn finish(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let limit = Duration::from_secs(30);
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.proc.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.proc.kill();
                panic!(
                    "{}: the child did not exit within {limit:?}:\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // The stdout reader ends with the child's stdout.
        let mut rest = Vec::new();
        while let Some(l) = within("the child's last lines", self.lines.recv()).await {
            rest.push(l);
        }
        assert!(
            status.success(),
            "{}: the child failed ({status}):\n{}",
            self.name,
            self.stderr_tail()
        );
        rest
    }
}

impl Drop for Child {
    /// A child still running when its test failed is killed, not left behind.
    fn drop(&mut self) {
        if matches!(self.proc.try_wait(), Ok(None)) {
            let _ = self.proc.kill();
            let _ = self.proc.wait();
        }
    }
}

/// Writes one `SAY` line for the parent.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{SAY}{line}").unwrap();
    out.flush().unwrap();
}

/// Completes when this process's stdin ends (the parent closing it, or dying).
fn stdin_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().lock().read_to_end(&mut sink);
        let _ = tx.send(());
    });
    rx
}

/// Runs `body` on a fresh single-threaded runtime when this process is the child for
/// `name` (one thread: the process's memory figures are not spread over per-thread
/// allocator arenas).
fn as_child<F: Future<Output = ()>>(name: &str, body: impl FnOnce() -> F) {
    if std::env::var(CHILD_VAR).as_deref() != Ok(name) {
        return;
    }
    let _panics = support::check_library_panics();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(body());
}

/// The parent's runtime (two workers: the parent of the 5,000 connections drives them all).
fn parent_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `name`: a test whose parent side runs `parent(name)` while its child (`name::child`,
/// which does nothing in the parent's own run) runs `child`.
macro_rules! with_child {
    ($(#[$doc:meta])* $name:ident, parent: $parent:expr, child: $child:expr) => {
        $(#[$doc])*
        #[test]
        fn $name() {
            let _panics = support::check_library_panics();
            let _one = one_at_a_time();
            let t = Instant::now();
            parent_runtime().block_on($parent(stringify!($name)));
            eprintln!("{}: {:.1?}", stringify!($name), t.elapsed());
        }
        mod $name {
            use super::*;
            #[test]
            fn child() {
                as_child(stringify!($name), || $child);
            }
        }
    };
}

/// Counts of a child's monitor events.
#[derive(Default)]
struct EventCounts {
    accepted: AtomicU64,
    accept_failed: AtomicU64,
    handshake_succeeded: AtomicU64,
    handshake_failed: AtomicU64,
    disconnected: AtomicU64,
}

impl EventCounts {
    fn line(&self, dropped: u64) -> String {
        format!(
            "accepted={} accept_failed={} handshake_succeeded={} handshake_failed={} \
             disconnected={} dropped={dropped}",
            self.accepted.load(Ordering::Relaxed),
            self.accept_failed.load(Ordering::Relaxed),
            self.handshake_succeeded.load(Ordering::Relaxed),
            self.handshake_failed.load(Ordering::Relaxed),
            self.disconnected.load(Ordering::Relaxed),
        )
    }
}

/// Parses `key=value` pairs of an `EVENTS` line.
fn event_field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
        .parse()
        .unwrap()
}

/// The listen queue (ZMQ_BACKLOG) of the echo ROUTER.
const ECHO_BACKLOG: i32 = 1024;

/// The child of the EMFILE and the 5,000-connection tests: a ROUTER on loopback TCP that
/// echoes every message to its sender. Says `ENDPOINT ep`, then `ACCEPT_FAILED count value
/// reason` at each failed accept; when stdin ends, closes the ROUTER and says
/// `EVENTS` with its monitor's counts.
async fn echo_router_child() {
    let router = Arc::new(Socket::new(SocketType::Router));
    router.set_linger(Duration::ZERO).unwrap();
    router.set_backlog(ECHO_BACKLOG).unwrap();
    let mut mon = router.monitor(1 << 16);
    let ep = bind_any(&router).await;
    let quit = stdin_closed();
    let echo = {
        let router = router.clone();
        tokio::spawn(async move {
            while let Ok(m) = router.recv().await {
                if router.send(m).await.is_err() {
                    return;
                }
            }
        })
    };
    let counts = Arc::new(EventCounts::default());
    let events = {
        let counts = counts.clone();
        tokio::spawn(async move {
            while let Some(ev) = mon.recv().await {
                let c = match ev.kind {
                    EventKind::Accepted => &counts.accepted,
                    EventKind::AcceptFailed => {
                        let n = counts.accept_failed.fetch_add(1, Ordering::Relaxed) + 1;
                        say(&format!(
                            "ACCEPT_FAILED {n} {} {}",
                            ev.value,
                            ev.reason.unwrap_or_default()
                        ));
                        continue;
                    }
                    EventKind::HandshakeSucceeded => &counts.handshake_succeeded,
                    EventKind::HandshakeFailedNoDetail
                    | EventKind::HandshakeFailedProtocol
                    | EventKind::HandshakeFailedAuth => &counts.handshake_failed,
                    EventKind::Disconnected => &counts.disconnected,
                    _ => continue,
                };
                c.fetch_add(1, Ordering::Relaxed);
            }
            mon.dropped()
        })
    };
    say(&format!("ENDPOINT {ep}"));
    let _ = quit.await;
    close(&router).await;
    within("the echo task", echo).await.unwrap();
    let dropped = within("the monitor's end", events).await.unwrap();
    say(&format!("EVENTS {}", counts.line(dropped)));
}

/// A DEALER (LINGER 0, reconnecting quickly) connected to `ep`.
async fn dealer(ep: &str) -> Socket {
    let d = Socket::new(SocketType::Dealer);
    d.set_linger(Duration::ZERO).unwrap();
    d.set_reconnect_ivl(Duration::from_millis(20)).unwrap();
    connect(&d, ep).await;
    d
}

/// Sends `body` from `d` and expects it echoed.
async fn round_trip(d: &Socket, body: &str) {
    send(d, msg(&[body.as_bytes()]), body).await;
    assert_eq!(
        frames(&recv(d, body).await),
        vec![body.as_bytes().to_vec()],
        "the echo of {body}"
    );
}

// ---------------------------------------------------------------------------------------
// EMFILE in accept.

/// The ROUTER child's descriptor limit.
const EMFILE_NOFILE: u32 = 48;
/// Connections opened to it: more than it has descriptors for.
const EMFILE_HOGS: usize = 64;
/// How long the child's CPU time is measured while it cannot accept.
const EMFILE_WINDOW: Duration = Duration::from_millis(1500);
/// The largest share of the window the child may spend on the CPU meanwhile (a spinning
/// accept loop takes a whole core, or all of it the machine gives it).
const EMFILE_CPU_SHARE: f64 = 0.10;
/// The most failed accepts a second (a retry at most every millisecond): a spinning loop
/// makes many more even when a loaded machine gives it little CPU, where the CPU share
/// alone could miss it.
const EMFILE_MAX_RATE: f64 = 1000.0;

with_child!(
    /// A ROUTER under `ulimit -n 48` gets 64 connections and a 65th that sends a request:
    /// ACCEPT_FAILED reports EMFILE (24); over 1.5 s of EMFILE the child's CPU time stays
    /// under 10 % of it and it fails at most 1000 accepts a second (no busy loop); it lives
    /// on and still serves the connections it accepted; once the 64 disconnect, the queued
    /// request is answered, a new client is served, and the child's fds return to their
    /// level before the flood.
    emfile_in_accept_backs_off_reports_and_recovers,
    parent: emfile_parent,
    child: echo_router_child()
);

async fn emfile_parent(name: &str) {
    let mut child = Child::spawn(name, Some(EMFILE_NOFILE));
    let ep = child.expect("ENDPOINT").await;
    let pid = child.pid();
    let fds_before = fd_count(pid);

    let mut hogs = Vec::new();
    for _ in 0..EMFILE_HOGS {
        hogs.push(Arc::new(dealer(&ep).await));
    }
    let failed = child.expect("ACCEPT_FAILED").await;
    eprintln!("first ACCEPT_FAILED (count, value, reason): {failed}");
    let errno: u32 = failed.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(errno, 24, "ACCEPT_FAILED carries EMFILE: {failed}");
    let fds_full = fd_count(pid);

    // A client whose connection waits in the listen backlog, its request with it.
    let late = dealer(&ep).await;
    send(&late, msg(&[b"late"]), "the late client's request").await;

    let (cpu0, t0, failures0) = (cpu_time(pid), Instant::now(), child.accept_failures());
    // The measurement window itself (no state is awaited here).
    tokio::time::sleep(EMFILE_WINDOW).await;
    let (cpu, elapsed) = (cpu_time(pid) - cpu0, t0.elapsed());
    // The lines of the last failures may still be on their way: a few more count too.
    let failures = child.accept_failures() - failures0;
    let share = cpu.as_secs_f64() / elapsed.as_secs_f64();
    let rate = failures as f64 / elapsed.as_secs_f64();
    eprintln!(
        "EMFILE: child fds {fds_before} before, {fds_full} at the limit (RLIMIT_NOFILE \
         {EMFILE_NOFILE}); over {elapsed:.2?} of EMFILE: CPU {cpu:?} ({:.1} %), {failures} \
         failed accepts ({rate:.0} a second)",
        share * 100.0
    );
    assert!(
        share <= EMFILE_CPU_SHARE,
        "the accept loop busy-loops on EMFILE: {cpu:?} of CPU over {elapsed:?}"
    );
    assert!(
        rate <= EMFILE_MAX_RATE,
        "the accept loop busy-loops on EMFILE: {failures} failed accepts in {elapsed:?}"
    );
    child.assert_alive();

    // Still serving what it accepted: the first hog whose request comes back.
    let mut served = tokio::task::JoinSet::new();
    for (i, h) in hogs.iter().enumerate() {
        let h = h.clone();
        served.spawn(async move {
            send(&h, msg(&[format!("hog{i}").as_bytes()]), "hog").await;
            let m = h.recv().await.expect("hog recv");
            assert_eq!(frames(&m), vec![format!("hog{i}").into_bytes()]);
        });
    }
    within(
        "a reply to an accepted connection during EMFILE",
        served.join_next(),
    )
    .await
    .unwrap()
    .unwrap();
    served.abort_all();
    while served.join_next().await.is_some() {}

    // Descriptors free up: the queued request is answered, a new client is served.
    let t_free = Instant::now();
    for h in &hogs {
        close(h).await;
    }
    drop(hogs);
    assert_eq!(
        frames(&recv(&late, "the late client's reply").await),
        vec![b"late".to_vec()]
    );
    let recovered = t_free.elapsed();
    let fresh = dealer(&ep).await;
    round_trip(&fresh, "fresh").await;
    eprintln!("EMFILE: the queued request answered {recovered:?} after the clients left");
    close(&late).await;
    close(&fresh).await;
    settle(
        "the child's fds after every client left",
        fds_before,
        OP_TIMEOUT,
        || fd_count(pid),
    )
    .await;
    child.assert_alive();
    let last = child.finish().await;
    let events = last
        .iter()
        .find_map(|l| l.strip_prefix("EVENTS"))
        .expect("EVENTS");
    eprintln!("EMFILE child events:{events}");
    assert!(event_field(events, "accept_failed") >= 1);
}

// ---------------------------------------------------------------------------------------
// 5,000 connections.

/// Concurrent connections to the one ROUTER.
const MANY: usize = 5000;
/// Connections opened before waiting until the ROUTER has accepted them: more at once than
/// its listen queue holds (`ECHO_BACKLOG`, which the kernel may cap) and the dropped SYNs
/// are retried only after a second.
const MANY_BATCH: usize = 200;
/// Bound on the ROUTER process's memory per connection, KiB.
const MANY_KIB_PER_CONN: u64 = 12;

with_child!(
    /// 5,000 DEALERs connected at once to one ROUTER in a child process, each sending a
    /// request and getting its echo. The ROUTER process's memory per connection (RSS
    /// growth / 5,000) is printed and must be at most 12 KiB; every close returns in time,
    /// the ROUTER sees 5,000 disconnects and no failure, and fds return to where they were
    /// in both processes, tasks too in this one.
    five_thousand_concurrent_connections_to_one_router,
    parent: many_parent,
    child: echo_router_child()
);

async fn many_parent(name: &str) {
    let mut child = Child::spawn(name, None);
    let ep = child.expect("ENDPOINT").await;
    let (pid, me) = (child.pid(), std::process::id());
    let (fds_idle, own_fds, own_tasks) = (fd_count(pid), fd_count(me), alive_tasks());
    // Warm-up: one connection, served and gone, so the baseline has every code path in.
    let warm = dealer(&ep).await;
    round_trip(&warm, "warm-up").await;
    close(&warm).await;
    drop(warm);
    settle(
        "the child's fds after the warm-up",
        fds_idle,
        OP_TIMEOUT,
        || fd_count(pid),
    )
    .await;
    settle(
        "this process's fds and tasks after the warm-up",
        (own_fds, own_tasks),
        OP_TIMEOUT,
        || (fd_count(me), alive_tasks()),
    )
    .await;
    let rss_before = rss_kib_of(pid);

    let mut lap = Lap::new(&[pid, me]);
    let mut dealers = Vec::with_capacity(MANY);
    while dealers.len() < MANY {
        for _ in 0..MANY_BATCH.min(MANY - dealers.len()) {
            dealers.push(Arc::new(dealer(&ep).await));
        }
        settle(
            "the child's fds as the DEALERs connect",
            fds_idle + dealers.len(),
            OP_TIMEOUT,
            || fd_count(pid),
        )
        .await;
    }
    let connected = lap.lap();
    let mut all = tokio::task::JoinSet::new();
    for (i, d) in dealers.iter().enumerate() {
        let d = d.clone();
        all.spawn(async move { round_trip(&d, &format!("request {i}")).await });
    }
    while let Some(r) = all.join_next().await {
        r.unwrap();
    }
    let served = lap.lap();
    let rss_peak = rss_kib_of(pid);
    let per_conn = rss_peak.saturating_sub(rss_before) as f64 / MANY as f64;
    eprintln!(
        "{MANY} connections (wall, CPU of ROUTER process / DEALERs' process): connected in \
         {connected}, served in {served}; ROUTER process RSS {rss_before} KiB -> {rss_peak} \
         KiB: {per_conn:.1} KiB per connection"
    );
    assert!(
        per_conn <= MANY_KIB_PER_CONN as f64,
        "{per_conn:.1} KiB per connection (bound {MANY_KIB_PER_CONN} KiB)"
    );

    let mut closing = tokio::task::JoinSet::new();
    for d in dealers.drain(..) {
        closing.spawn(async move { close(&d).await });
    }
    while let Some(r) = closing.join_next().await {
        r.unwrap();
    }
    settle(
        "the child's fds after every DEALER closed",
        fds_idle,
        Duration::from_secs(30),
        || fd_count(pid),
    )
    .await;
    settle(
        "this process's fds and tasks after closing",
        (own_fds, own_tasks),
        OP_TIMEOUT,
        || (fd_count(me), alive_tasks()),
    )
    .await;
    let closed = lap.lap();
    let rss_after = rss_kib_of(pid);
    eprintln!(
        "{MANY} connections closed in {closed}: ROUTER process fds back to {fds_idle}, this \
         process's fds/tasks back to {own_fds}/{own_tasks}; ROUTER process RSS {rss_after} KiB \
         after"
    );
    let last = child.finish().await;
    let events = last
        .iter()
        .find_map(|l| l.strip_prefix("EVENTS"))
        .expect("EVENTS");
    eprintln!("{MANY} connections, child events:{events}");
    let n = MANY as u64 + 1;
    assert_eq!(event_field(events, "accepted"), n, "{events}");
    assert_eq!(event_field(events, "handshake_succeeded"), n, "{events}");
    assert_eq!(event_field(events, "disconnected"), n, "{events}");
    assert_eq!(event_field(events, "accept_failed"), 0, "{events}");
    assert_eq!(event_field(events, "handshake_failed"), 0, "{events}");
    assert_eq!(event_field(events, "dropped"), 0, "{events}");
}

// ---------------------------------------------------------------------------------------
// Connect/disconnect churn.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
    /// TCP with CURVE (the ROUTER is the CURVE server).
    Curve,
}

/// Concurrent client tasks.
const CHURN_CLIENTS: usize = 16;
/// The warm-up round, after which the baseline is taken.
const CHURN_WARMUP: Duration = Duration::from_secs(1);
/// The measured rounds, each followed by a settled sample.
const CHURN_ROUNDS: usize = 3;
const CHURN_ROUND: Duration = Duration::from_secs(1);
/// RSS growth allowed from the end of the warm-up to the end of the last round, KiB.
const CHURN_RSS_SLACK_KIB: u64 = 2048;

/// The CURVE keys of a churn test: the server's pair (public, secret), Z85.
type Keys = Option<(String, String)>;

/// One round: `CHURN_CLIENTS` tasks each doing connect, request, reply, close until
/// `length` has passed. Returns the cycles done.
async fn churn_round(ep: &str, keys: &Keys, length: Duration) -> u64 {
    let end = Instant::now() + length;
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..CHURN_CLIENTS {
        let (ep, keys) = (ep.to_owned(), keys.clone());
        tasks.spawn(async move {
            let client_keys = keys.as_ref().map(|_| aiozmq::curve_keypair());
            let mut cycles = 0u64;
            while Instant::now() < end {
                let c = Socket::new(SocketType::Dealer);
                c.set_linger(Duration::ZERO).unwrap();
                if let (Some((spub, _)), Some((cpub, csec))) = (&keys, &client_keys) {
                    c.set_curve_serverkey(spub).unwrap();
                    c.set_curve_publickey(cpub).unwrap();
                    c.set_curve_secretkey(csec).unwrap();
                }
                connect(&c, &ep).await;
                round_trip(&c, &format!("client {t} cycle {cycles}")).await;
                close(&c).await;
                cycles += 1;
            }
            cycles
        });
    }
    let mut total = 0;
    while let Some(r) = tasks.join_next().await {
        total += r.unwrap();
    }
    total
}

/// The churn test's child: a ROUTER echo server and `CHURN_CLIENTS` churning clients in one
/// process. After the warm-up round and after each measured round, fds and tasks must be
/// back to their idle level (before any client) exactly; RSS after the last round must be
/// within `CHURN_RSS_SLACK_KIB` of its level after the warm-up.
async fn churn(transport: Transport) {
    let me = std::process::id();
    let keys: Keys = (transport == Transport::Curve).then(aiozmq::curve_keypair);
    let server = Arc::new(Socket::new(SocketType::Router));
    server.set_linger(Duration::ZERO).unwrap();
    if let Some((_, ssec)) = &keys {
        server.set_curve_server(true).unwrap();
        server.set_curve_secretkey(ssec).unwrap();
    }
    let ipc = UnboundIpc::new("churn");
    let ep = match transport {
        Transport::Tcp | Transport::Curve => bind_any(&server).await,
        Transport::Ipc => within("bind ipc", server.bind(&ipc.endpoint))
            .await
            .unwrap(),
    };
    let echo = {
        let server = server.clone();
        tokio::spawn(async move {
            while let Ok(m) = server.recv().await {
                if server.send(m).await.is_err() {
                    return;
                }
            }
        })
    };
    let idle = (fd_count(me), alive_tasks());
    let limit = Duration::from_secs(10);
    let settled = |what: String| settle(what, idle, limit, || (fd_count(me), alive_tasks()));

    let warm = churn_round(&ep, &keys, CHURN_WARMUP).await;
    settled("fds and tasks after the warm-up".into()).await;
    let rss_warm = rss_kib_of(me);
    let mut rss = Vec::new();
    let (mut cycles, t0, cpu0) = (0, Instant::now(), cpu_time(me));
    for round in 1..=CHURN_ROUNDS {
        cycles += churn_round(&ep, &keys, CHURN_ROUND).await;
        settled(format!("fds and tasks after round {round}")).await;
        rss.push(rss_kib_of(me));
    }
    let (elapsed, cpu) = (t0.elapsed(), cpu_time(me) - cpu0);
    let rss_end = *rss.last().unwrap();
    say(&format!(
        "RESULT {transport:?}: {CHURN_CLIENTS} clients, {warm} warm-up cycles, then {cycles} \
         cycles in {elapsed:.2?} ({:.0} cycles/s, {:.2?} of CPU per cycle); fds/tasks {}/{} idle, after the warm-up \
         and after each of {CHURN_ROUNDS} rounds; RSS KiB after the warm-up {rss_warm}, after \
         each round {rss:?} ({:+} KiB)",
        cycles as f64 / elapsed.as_secs_f64(),
        cpu / cycles.max(1) as u32,
        idle.0,
        idle.1,
        rss_end as i64 - rss_warm as i64
    ));
    assert!(cycles > 0, "no cycle completed");
    assert!(
        rss_end <= rss_warm + CHURN_RSS_SLACK_KIB,
        "{transport:?}: RSS grew from {rss_warm} KiB to {rss_end} KiB over {cycles} cycles \
         (slack {CHURN_RSS_SLACK_KIB} KiB)"
    );
    close(&server).await;
    within("the echo task", echo).await.unwrap();
}

/// Runs the churn test for `transport` in its child and prints the child's result.
async fn churn_parent(name: &str) {
    let mut child = Child::spawn(name, None);
    let result = child.expect_within("RESULT", Duration::from_secs(40)).await;
    eprintln!("churn {result}");
    child.finish().await;
}

with_child!(
    /// TCP: 16 clients churning against one ROUTER for 3 s; fds and tasks exactly back to
    /// their idle level, RSS within 2 MiB of its level after a warm-up round.
    churn_tcp_keeps_fds_tasks_and_memory_flat,
    parent: churn_parent,
    child: churn(Transport::Tcp)
);

with_child!(
    /// IPC: as over TCP.
    churn_ipc_keeps_fds_tasks_and_memory_flat,
    parent: churn_parent,
    child: churn(Transport::Ipc)
);

with_child!(
    /// CURVE over TCP: as over TCP, each cycle a full CURVE handshake.
    churn_curve_keeps_fds_tasks_and_memory_flat,
    parent: churn_parent,
    child: churn(Transport::Curve)
);
