//! Shared pieces of the peer binaries: argument parsing, libzmq's output lines, the stdin
//! control channel the runner uses, and RSS read-out; with the `libzmq` feature, also
//! `libzmq`, the declarations of the libzmq functions `peer_libzmq` calls (libzmq built from
//! source by build.rs).
//!
//! Every peer binary takes a role and that role's arguments:
//!
//! ```text
//! peer_<impl> local_thr  <bind-to>    <message-size> <message-count>
//! peer_<impl> remote_thr <connect-to> <message-size> <message-count>
//! peer_<impl> local_lat  <bind-to>    <message-size> <roundtrip-count>
//! peer_<impl> remote_lat <connect-to> <message-size> <roundtrip-count>
//! peer_<impl> inproc_thr <message-size> <message-count>
//! peer_<impl> inproc_lat <message-size> <roundtrip-count>
//! peer_<impl> pub_fanout <bind-to>    <message-size> <message-count>
//! peer_<impl> sub_fanout <connect-to> <message-size> <message-count> <subscribers>
//! peer_<impl> router_mem <bind-to>    <dealers>
//! peer_<impl> dealer_mem <connect-to> <dealers>
//! peer_<impl> pub_lossless <bind-to>  <message-size> <message-count> <subscribers>
//! peer_<impl> proxy_fwd  <connect-to> <bind-to> <subscribers>
//! peer_<impl> router_thr <bind-to>    <message-size> <message-count> <dealers>
//! peer_<impl> dealer_thr <connect-to> <message-size> <message-count> <dealers>
//! ```
//!
//! `pub_lossless` is `pub_fanout` on an XPUB socket with XPUB_NODROP (a send waits while a
//! subscriber's queue is full instead of dropping); it reads the subscriptions the XPUB
//! receives while it says hello (zeromq's XPUB applies a subscription only when the
//! application reads it), and raw TCP writes every message to each of `<subscribers>`
//! accepted streams. `proxy_fwd` connects an XSUB to a publisher, binds an XPUB with
//! XPUB_NODROP for the subscribers and runs the implementation's own proxy between them
//! until stdin is closed (raw TCP: a relay that copies the bytes of its one upstream
//! stream into each of `<subscribers>` accepted streams; the ZeroMQ proxies do not use
//! the count). `router_thr` binds a ROUTER, waits for a hello from each of `<dealers>`
//! DEALERs, prints `ready`, then times `<message-count>` messages from all of them, first
//! to last, and prints what `local_thr` prints; `dealer_thr` opens `<dealers>` DEALERs in
//! one process, sends a hello on each, and on `go` sends `<message-count>` ÷ `<dealers>`
//! messages on each, one DEALER after the other in turn.
//!
//! `--curve` after the four perf roles' arguments (aiozmq and libzmq only) secures the
//! connection with CURVE: the binding side (`local_*`) is the CURVE server with secret key
//! [`CURVE_SERVER_SECRET`], the connecting side the client with [`CURVE_CLIENT_SECRET`]; each
//! peer derives the public keys with its own library. `peer_libzmq curve_info` prints what its
//! libzmq's CURVE is built with.
//!
//! The four perf roles print exactly what libzmq's perf tools print. Every `remote_thr`
//! keeps its connection open after the last message until stdin is closed (the runner closes
//! it when the receiver is done; on a terminal it does not wait): a libzmq 4.3 receiver
//! loses up to an HWM of messages over ipc when the sender disconnects right after sending.
//! The fan-out and memory roles are driven through stdin by the runner as well.

#[cfg(feature = "libzmq")]
pub mod libzmq;

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The role and its positional arguments.
pub struct Args {
    pub role: String,
    pub rest: Vec<String>,
    /// `--curve` was given (see [`Args::parse_curve`]).
    pub curve: bool,
}

/// The CURVE server's long-term secret key (the binding side of a `--curve` run).
pub const CURVE_SERVER_SECRET: [u8; 32] = [1; 32];
/// The CURVE client's long-term secret key (the connecting side).
pub const CURVE_CLIENT_SECRET: [u8; 32] = [2; 32];

impl Args {
    /// For peers without CURVE: `--curve` is an error.
    pub fn parse(name: &str) -> Args {
        let a = Args::parse_curve(name);
        if a.curve {
            die(&format!("{name}: no CURVE in this implementation"));
        }
        a
    }

    /// For peers with CURVE: takes `--curve` anywhere after the role (only the perf roles
    /// honour it).
    pub fn parse_curve(name: &str) -> Args {
        let mut argv = std::env::args().skip(1);
        let Some(role) = argv.next() else {
            usage(name);
        };
        let (flags, rest): (Vec<String>, Vec<String>) = argv.partition(|s| s == "--curve");
        Args {
            role,
            rest,
            curve: !flags.is_empty(),
        }
    }

    /// The `i`-th positional argument after the role.
    pub fn str(&self, i: usize) -> &str {
        match self.rest.get(i) {
            Some(s) => s,
            None => die(&format!("{}: missing argument {}", self.role, i + 1)),
        }
    }

    pub fn num(&self, i: usize) -> u64 {
        self.str(i).parse().unwrap_or_else(|_| {
            die(&format!(
                "{}: argument {} is not a number",
                self.role,
                i + 1
            ))
        })
    }

    pub fn size(&self, i: usize) -> usize {
        self.num(i) as usize
    }
}

pub fn usage(name: &str) -> ! {
    eprintln!(
        "usage: {name} <role> <args...>\n  roles: local_thr|local_lat|pub_fanout <bind-to> <size> <count>\n         remote_thr|remote_lat <connect-to> <size> <count>\n         (local_*/remote_* of aiozmq and libzmq: add --curve for CURVE)\n         sub_fanout <connect-to> <size> <count> <subscribers>\n         inproc_thr|inproc_lat <size> <count>\n         router_mem <bind-to> <dealers>   dealer_mem <connect-to> <dealers>\n         pub_lossless <bind-to> <size> <count> <subscribers>\n         proxy_fwd <connect-to> <bind-to> <subscribers>\n         router_thr|dealer_thr <endpoint> <size> <count> <dealers>"
    );
    std::process::exit(2);
}

pub fn die(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1);
}

pub fn wrong_size() -> ! {
    die("message of incorrect size received")
}

/// libzmq's `local_thr` output.
pub fn print_thr(size: usize, count: u64, elapsed: Duration) {
    let elapsed = elapsed.as_secs_f64().max(1e-9);
    let throughput = count as f64 / elapsed;
    let megabits = throughput * size as f64 * 8.0 / 1_000_000.0;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "message size: {size} [B]");
    let _ = writeln!(out, "message count: {count}");
    let _ = writeln!(out, "mean throughput: {} [msg/s]", throughput as u64);
    let _ = writeln!(out, "mean throughput: {megabits:.3} [Mb/s]");
    let _ = out.flush();
}

/// libzmq's `remote_lat` output (one-way latency: round trip / 2).
pub fn print_lat(size: usize, count: u64, elapsed: Duration) {
    let latency = elapsed.as_secs_f64() * 1_000_000.0 / count as f64 / 2.0;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "message size: {size} [B]");
    let _ = writeln!(out, "roundtrip count: {count}");
    let _ = writeln!(out, "average latency: {latency:.3} [us]");
    let _ = out.flush();
}

/// What the fan-out receiver prints: deliveries summed over all subscribers, timed from the
/// first data message any subscriber got to the last one.
pub fn print_fanout(
    size: usize,
    count: u64,
    subscribers: usize,
    delivered: u64,
    elapsed: Duration,
) {
    let elapsed = elapsed.as_secs_f64().max(1e-9);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "message size: {size} [B]");
    let _ = writeln!(out, "message count: {count}");
    let _ = writeln!(out, "subscribers: {subscribers}");
    let _ = writeln!(out, "delivered: {delivered}");
    let _ = writeln!(
        out,
        "mean throughput: {} [msg/s]",
        (delivered as f64 / elapsed) as u64
    );
    let _ = out.flush();
}

/// Prints one line to stdout and flushes it (the runner waits for such lines).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The runner's commands on stdin: a `go` line, then end of file.
#[derive(Clone)]
pub struct Control {
    go: Arc<AtomicBool>,
    eof: Arc<(Mutex<bool>, Condvar)>,
    eof_async: Arc<tokio::sync::Notify>,
    tty: bool,
}

impl Control {
    /// Starts a thread reading stdin.
    pub fn start() -> Control {
        let c = Control {
            go: Arc::new(AtomicBool::new(false)),
            eof: Arc::new((Mutex::new(false), Condvar::new())),
            eof_async: Arc::new(tokio::sync::Notify::new()),
            // SAFETY: isatty on a constant descriptor.
            tty: unsafe { libc::isatty(0) } == 1,
        };
        let t = c.clone();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                match line {
                    Ok(l) if l.trim() == "go" => t.go.store(true, Ordering::Release),
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            t.go.store(true, Ordering::Release);
            *t.eof.0.lock().unwrap() = true;
            t.eof.1.notify_all();
            t.eof_async.notify_one();
        });
        c
    }

    pub fn go(&self) -> bool {
        self.go.load(Ordering::Acquire)
    }

    pub fn eof(&self) -> bool {
        *self.eof.0.lock().unwrap()
    }

    /// Blocks until stdin is closed or `limit` has passed (at once on a terminal).
    pub fn wait_eof(&self, limit: Duration) {
        if self.tty {
            return;
        }
        let (lock, cv) = &*self.eof;
        let guard = lock.lock().unwrap();
        let _ = cv.wait_timeout_while(guard, limit, |eof| !*eof);
    }

    /// Async: until stdin is closed or `limit` has passed (at once on a terminal).
    pub async fn wait_eof_async(&self, limit: Duration) {
        if self.tty {
            return;
        }
        let end = tokio::time::Instant::now() + limit;
        while !self.eof() {
            if tokio::time::timeout_at(end, self.eof_async.notified())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Blocks until the runner says go (or closes stdin), looking every millisecond.
    pub fn wait_go(&self) {
        while !self.go() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Async: until the runner says go (or closes stdin), looking every millisecond.
    pub async fn wait_go_async(&self) {
        while !self.go() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Ends the process with status 0 once stdin is closed (the proxies run until then);
    /// on a terminal, never.
    pub fn exit_on_eof(&self) {
        if self.tty {
            return;
        }
        let c = self.clone();
        std::thread::spawn(move || {
            c.wait_eof(Duration::MAX);
            std::process::exit(0);
        });
    }

    /// What every sender does after its last message: keep the connection open until the
    /// runner says the receiver is done (libzmq 4.3's receiver drops up to an HWM of
    /// messages over ipc when the sender disconnects right after sending).
    pub const LINGER_LIMIT: Duration = Duration::from_secs(30);
}

/// `router_mem` stops waiting for hellos after this long without one (the runner then checks
/// how many connections are established).
pub const MEM_IDLE: Duration = Duration::from_secs(30);

/// The resident set size of this process in KiB (`VmRSS` of /proc/self/status).
pub fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Raises this process's open-file limit to at least `needed` descriptors (up to the hard
/// limit) and exits with a clear message when it cannot: a peer with a thousand
/// connections must not fail half-way with EMFILE.
pub fn ensure_nofile(needed: u64) {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    let (cur, max) = unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            die("getrlimit(RLIMIT_NOFILE) failed");
        }
        if (r.rlim_cur as u64) < needed {
            let raised = libc::rlimit {
                rlim_cur: (needed as libc::rlim_t).min(r.rlim_max),
                rlim_max: r.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                r.rlim_cur = raised.rlim_cur;
            }
        }
        (r.rlim_cur as u64, r.rlim_max as u64)
    };
    if cur < needed {
        die(&format!(
            "open-file limit {cur} (hard {max}) is below the {needed} descriptors this role needs: raise it (ulimit -n)"
        ));
    }
}

/// Descriptors a process with `connections` connections asks for: the connections plus
/// room for the runtime's own (epoll, eventfds, libzmq's mailboxes, stdio).
pub fn nofile_for(connections: u64) -> u64 {
    2 * connections + 256
}

/// Messages each of `dealers` DEALERs sends in `dealer_thr` (the runner passes a multiple).
pub fn dealer_share(count: u64, dealers: u64) -> u64 {
    if dealers == 0 || count == 0 || !count.is_multiple_of(dealers) {
        die(&format!(
            "message count {count} is not a positive multiple of the {dealers} dealers"
        ));
    }
    count / dealers
}

/// Fan-out message kinds, by first byte: hellos until the runner says go, `count` data
/// messages of the full size, then end markers until the runner closes stdin.
pub const HELLO: u8 = b'H';
pub const DATA: u8 = b'D';
pub const END: u8 = b'E';

/// A fan-out data payload: `size` bytes starting with [`DATA`].
pub fn data_payload(size: usize) -> Vec<u8> {
    let mut v = vec![0u8; size.max(1)];
    v[0] = DATA;
    v
}

/// Per-subscriber fan-out bookkeeping.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubStats {
    pub hello: bool,
    pub done: bool,
    pub delivered: u64,
    pub first: Option<Instant>,
    pub last: Option<Instant>,
}

impl SubStats {
    /// Accounts one received frame; returns false when its size is wrong.
    pub fn on_frame(&mut self, frame: &[u8], size: usize) -> bool {
        match frame.first() {
            Some(&HELLO) => self.hello = true,
            Some(&END) => self.done = true,
            Some(&DATA) if frame.len() == size.max(1) => {
                // The clock is read at the first delivery and then every 32nd: a read per
                // message was 12% of the subscribers' time (clock_gettime is slow on a
                // VM), the same for every implementation. The at most 31 deliveries after
                // the last read are left out of the time but counted: under 0.02% at
                // these counts.
                if self.delivered.is_multiple_of(32) {
                    let now = Instant::now();
                    self.first.get_or_insert(now);
                    self.last = Some(now);
                }
                self.delivered += 1;
            }
            _ => return false,
        }
        true
    }
}

/// Sums the subscribers' stats and prints the fan-out result.
pub fn report_fanout(size: usize, count: u64, stats: &[SubStats]) {
    let delivered = stats.iter().map(|s| s.delivered).sum();
    let first = stats.iter().filter_map(|s| s.first).min();
    let last = stats.iter().filter_map(|s| s.last).max();
    let elapsed = match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Duration::ZERO,
    };
    print_fanout(size, count, stats.len(), delivered, elapsed);
}

/// A current-thread tokio runtime (what our perf tools use; the same for every tokio peer).
/// Whether `role` is one of the four perf roles (`local_thr`, `remote_thr`, `local_lat`,
/// `remote_lat`), which every peer runs with [`run_task`] through [`perf_role!`].
pub fn is_perf_role(role: &str) -> bool {
    matches!(
        role,
        "local_thr" | "remote_thr" | "local_lat" | "remote_lat"
    )
}

/// Inside an async block: runs the perf role named in `$a` (the parsed [`Args`]) with the
/// calling peer's own `local_thr`, `remote_thr`, `local_lat` and `remote_lat`; another
/// role prints the usage of `$name` and exits.
#[macro_export]
macro_rules! perf_role {
    ($a:expr, $name:expr) => {
        match $a.role.as_str() {
            "local_thr" => local_thr(&$a).await,
            "remote_thr" => remote_thr(&$a).await,
            "local_lat" => local_lat(&$a).await,
            "remote_lat" => remote_lat(&$a).await,
            _ => $crate::usage($name),
        }
    };
}

/// Runs `f` as a task spawned on a fresh current-thread runtime ([`runtime`]) and
/// returns its output. Every Rust peer runs its four perf roles this way, so that the
/// application code is a task like the library's own: a task woken by another task runs
/// in the same scheduler turn, whereas a woken `block_on` future is polled only after an
/// extra non-blocking poll of the I/O driver (one more `epoll_wait` per wake-up).
pub fn run_task<F>(f: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().block_on(async move { tokio::spawn(f).await.expect("benchmark task panicked") })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
