//! Shared test support: `mock` (a byte-exact mock ZMTP peer), `python` (pyzmq peers in a
//! virtual environment), `broker` (a ROUTER/DEALER broker's workers and control socket) and
//! small helpers around [`Socket`] that never wait forever.
//!
//! Each test binary uses only part of this module.
#![allow(dead_code)]

pub mod broker;
pub mod mock;
pub mod python;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aiozmq::{Message, Socket};

/// How long one socket operation in a test may take before the test fails.
pub const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives one message, failing the test after [`OP_TIMEOUT`] or on error.
pub async fn recv(s: &Socket, what: &str) -> Message {
    match tokio::time::timeout(OP_TIMEOUT, s.recv()).await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => panic!("{what}: recv failed: {e}"),
        Err(_) => panic!("{what}: no message within {OP_TIMEOUT:?}"),
    }
}

/// Sends one message, failing the test after [`OP_TIMEOUT`] or on error.
pub async fn send(s: &Socket, msg: impl Into<Message>, what: &str) {
    match tokio::time::timeout(OP_TIMEOUT, s.send(msg.into())).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{what}: send failed: {e}"),
        Err(_) => panic!("{what}: send did not complete within {OP_TIMEOUT:?}"),
    }
}

/// Binds to an ephemeral loopback TCP port and returns the resolved endpoint.
pub async fn bind_any(s: &Socket) -> String {
    match tokio::time::timeout(OP_TIMEOUT, s.bind("tcp://127.0.0.1:*")).await {
        Ok(Ok(ep)) => ep,
        Ok(Err(e)) => panic!("bind tcp://127.0.0.1:* failed: {e}"),
        Err(_) => panic!("bind did not complete within {OP_TIMEOUT:?}"),
    }
}

/// Connects (returns at once; the connection is made in the background).
pub async fn connect(s: &Socket, endpoint: &str) {
    match tokio::time::timeout(OP_TIMEOUT, s.connect(endpoint)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("connect {endpoint} failed: {e}"),
        Err(_) => panic!("connect {endpoint} did not return within {OP_TIMEOUT:?}"),
    }
}

/// A message from byte-slice frames.
pub fn msg(frames: &[&[u8]]) -> Message {
    frames
        .iter()
        .map(|f| bytes::Bytes::copy_from_slice(f))
        .collect()
}

/// The frames of `m` as vectors (for comparisons with readable failures).
pub fn frames(m: &Message) -> Vec<Vec<u8>> {
    m.iter().map(|f| f.to_vec()).collect()
}

/// `n` bytes with byte `j` = `j % 251`: what peer.py's `size:N` frame spec sends.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|j| (j % 251) as u8).collect()
}

/// Panics seen anywhere in this test process whose source is not test code (`tests/`):
/// a panic inside the library's background tasks may be swallowed by the runtime, so the
/// tests that feed it hostile input look for them here.
static LIBRARY_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs (once) a panic hook that records library panics, then runs the default hook.
pub fn record_library_panics() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let from_tests = info.location().is_some_and(|l| {
                let f = l.file().replace('\\', "/");
                f.starts_with("tests/") || f.contains("/tests/")
            });
            if !from_tests {
                let thread = std::thread::current();
                LIBRARY_PANICS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("thread {:?}: {info}", thread.name()));
            }
            default(info);
        }));
    });
}

/// Installs the library-panic hook and, when dropped at the end of the test (declare it
/// first, so it is dropped last), fails the test if the library panicked meanwhile
/// (unless the test is already failing). Every test that runs sockets starts with
/// `let _panics = support::check_library_panics();`.
#[must_use = "bind it: the check runs when it is dropped"]
pub fn check_library_panics() -> LibraryPanicCheck {
    record_library_panics();
    LibraryPanicCheck(())
}

/// See [`check_library_panics`].
pub struct LibraryPanicCheck(());

impl Drop for LibraryPanicCheck {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_no_library_panics();
        }
    }
}

/// Fails when any library panic was recorded (see [`record_library_panics`]).
pub fn assert_no_library_panics() {
    let panics = LIBRARY_PANICS.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        panics.is_empty(),
        "the library panicked (in a background task?):\n{}",
        panics.join("\n")
    );
}

/// Grace beyond LINGER that [`close`] allows: `Socket::close` promises to return no later
/// than LINGER plus a short grace.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Closes `s`, failing the test when close takes longer than its LINGER plus [`CLOSE_GRACE`]
/// (a hung close fails here instead of hanging `cargo test`).
pub async fn close(s: &Socket) {
    let limit = s.linger() + CLOSE_GRACE;
    if tokio::time::timeout(limit, s.close()).await.is_err() {
        panic!(
            "close() of a {:?} socket did not return within LINGER + {CLOSE_GRACE:?} = {limit:?}",
            s.socket_type()
        );
    }
}

/// Waits for the next monitor event of `kind`, skipping other kinds; fails the test after
/// [`OP_TIMEOUT`] or when the monitor ends first.
pub async fn wait_event(
    mon: &mut aiozmq::Monitor,
    kind: aiozmq::EventKind,
    what: &str,
) -> aiozmq::MonitorEvent {
    wait_event_of(mon, &[kind], what).await
}

/// Waits for the first event of any of `kinds` (for outcomes that depend on timing the
/// platform decides), failing the test after [`OP_TIMEOUT`] with the events seen meanwhile.
pub async fn wait_event_of(
    mon: &mut aiozmq::Monitor,
    kinds: &[aiozmq::EventKind],
    what: &str,
) -> aiozmq::MonitorEvent {
    let seen = std::sync::Mutex::new(Vec::new());
    let wait = async {
        loop {
            match mon.recv().await {
                Some(ev) if kinds.contains(&ev.kind) => return ev,
                Some(ev) => seen.lock().unwrap().push(ev),
                None => panic!("{what}: the monitor ended before {kinds:?}"),
            }
        }
    };
    match tokio::time::timeout(OP_TIMEOUT, wait).await {
        Ok(ev) => ev,
        Err(_) => panic!(
            "{what}: no {kinds:?} event within {OP_TIMEOUT:?}; saw {:?}",
            seen.lock().unwrap()
        ),
    }
}

/// An `ipc://` endpoint on which nothing listens yet, unique to this process and call (for
/// tests that connect before their peer binds: a TCP port released for later use could be
/// taken by another test meanwhile). The directory is removed on drop.
pub struct UnboundIpc {
    pub endpoint: String,
    dir: std::path::PathBuf,
}

impl UnboundIpc {
    pub fn new(tag: &str) -> UnboundIpc {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("aiozmq-test-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let endpoint = format!("ipc://{}", dir.join("sock").display());
        UnboundIpc { endpoint, dir }
    }
}

impl Drop for UnboundIpc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A raw byte-stream client of an `ipc://` endpoint: a Unix-domain socket, or on Windows
/// the named pipe aiozmq binds for it.
#[cfg(unix)]
pub type RawIpc = tokio::net::UnixStream;
/// A raw byte-stream client of an `ipc://` endpoint: a Unix-domain socket, or on Windows
/// the named pipe aiozmq binds for it.
#[cfg(windows)]
pub type RawIpc = tokio::net::windows::named_pipe::NamedPipeClient;

/// Connects a [`RawIpc`] to the address of `ipc://address`.
pub async fn raw_ipc_connect(address: &str) -> std::io::Result<RawIpc> {
    #[cfg(unix)]
    return tokio::net::UnixStream::connect(address).await;
    // The pipe name aiozmq uses: `\\.\pipe\` and the address, backslashes as slashes.
    #[cfg(windows)]
    return tokio::net::windows::named_pipe::ClientOptions::new()
        .open(format!(r"\\.\pipe\{}", address.replace('\\', "/")));
}

/// A TCP endpoint where connects are refused: its port stays bound (so no other test can
/// take it) by the returned socket, which never listens. Keep the socket while the
/// endpoint is in use.
pub fn refused_tcp_endpoint() -> (tokio::net::TcpSocket, String) {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let ep = format!("tcp://{}", s.local_addr().unwrap());
    (s, ep)
}

/// Fails loudly when `f` does not complete within [`OP_TIMEOUT`].
pub async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(OP_TIMEOUT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not done within {OP_TIMEOUT:?}"),
    }
}

/// This process's resident set size, in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// A loopback TCP port held for the whole test, for tests that restart a listener on the
/// same port. A placeholder socket with SO_REUSEADDR stays bound to it without listening:
/// the kernel never hands a port bound this way to another socket's ephemeral bind or
/// outgoing connect, while a listener with SO_REUSEADDR (ours, tokio's and libzmq's all set
/// it) may still bind it. Between a listener's close and the next bind nothing else can
/// take the port, short of binding that exact port number with SO_REUSEADDR.
pub struct ReservedTcpPort {
    /// `tcp://127.0.0.1:PORT`.
    pub endpoint: String,
    _holder: tokio::net::TcpSocket,
}

impl ReservedTcpPort {
    pub fn new() -> ReservedTcpPort {
        let s = tokio::net::TcpSocket::new_v4().expect("placeholder socket");
        s.set_reuseaddr(true)
            .expect("SO_REUSEADDR on the placeholder");
        s.bind("127.0.0.1:0".parse().unwrap())
            .expect("bind the placeholder");
        let endpoint = format!("tcp://{}", s.local_addr().unwrap());
        ReservedTcpPort {
            endpoint,
            _holder: s,
        }
    }

    /// Why binding the reserved endpoint failed, for the test's failure message.
    pub fn bind_failure(&self, error: &dyn std::fmt::Display) -> String {
        format!(
            "binding the reserved {} again failed: {error}. A placeholder socket of this \
             test keeps the port from ephemeral use, so another process must have bound \
             this exact port (with SO_REUSEADDR) meanwhile",
            self.endpoint
        )
    }
}

/// Binds `s` to the reserved endpoint, failing with [`ReservedTcpPort::bind_failure`]'s
/// message (or after [`OP_TIMEOUT`]).
pub async fn bind_reserved(s: &Socket, port: &ReservedTcpPort) -> String {
    match tokio::time::timeout(OP_TIMEOUT, s.bind(&port.endpoint)).await {
        Ok(Ok(ep)) => {
            assert_eq!(
                ep, port.endpoint,
                "bound another endpoint than the reserved one"
            );
            ep
        }
        Ok(Err(e)) => panic!("{}", port.bind_failure(&e)),
        Err(_) => panic!(
            "bind {} did not complete within {OP_TIMEOUT:?}",
            port.endpoint
        ),
    }
}

/// [`python::PyPeer::start`] for a peer that binds `port`'s endpoint (a listener restarted
/// on the same port): when its bind fails because the port is in use, the test fails
/// saying that another process took the port, instead of with the peer's traceback alone.
pub async fn start_python_on_reserved<I, S>(
    args: I,
    port: &ReservedTcpPort,
) -> (python::PyPeer, Vec<String>)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(python::PyPeer::start(args))
        .catch_unwind()
        .await
    {
        Ok(started) => started,
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            if text.contains("Address already in use") {
                panic!("{}\n{text}", port.bind_failure(&"EADDRINUSE"));
            }
            std::panic::resume_unwind(payload)
        }
    }
}
