//! Test support for driving aiozmq against libzmq 4.3.5 built with its draft API.
//!
//! A libzmq socket ([`Lz`]) runs its blocking calls on tokio's blocking pool (a thread of
//! its own each), so our tokio sockets and libzmq's calls never block each other. Every
//! wait has a deadline: RCVTIMEO/SNDTIMEO on the libzmq side (and a tokio timeout around
//! the blocking call), tokio timeouts on ours.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod libzmq;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiozmq::{Message, Socket};

/// The longest any single wait in these tests takes before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A libzmq socket used from async tests.
pub struct Lz {
    socket: Arc<Mutex<libzmq::Socket>>,
}

impl Lz {
    /// A libzmq socket of type `kind` with LINGER 0 (closing never waits).
    pub fn new(ctx: &libzmq::Context, kind: i32) -> Lz {
        let s = libzmq::Socket::new(ctx, kind).expect("zmq_socket");
        s.set_int(libzmq::LINGER, 0).unwrap();
        s.set_int(libzmq::SNDTIMEO, DEADLINE.as_millis() as i32)
            .unwrap();
        Lz {
            socket: Arc::new(Mutex::new(s)),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&libzmq::Socket) -> T) -> T {
        f(&self.socket.lock().unwrap())
    }

    /// Sets an int option; panics with libzmq's error if it refuses.
    pub fn set(&self, option: i32, value: i32) {
        self.with(|s| s.set_int(option, value))
            .unwrap_or_else(|e| panic!("libzmq setsockopt {option} = {value}: {e}"));
    }

    /// Sets a binary option; panics with libzmq's error if it refuses.
    pub fn set_bytes(&self, option: i32, value: &[u8]) {
        self.with(|s| s.set_bytes(option, value))
            .unwrap_or_else(|e| panic!("libzmq setsockopt {option}: {e}"));
    }

    /// Reads an int option.
    pub fn get(&self, option: i32) -> i32 {
        self.with(|s| s.get_int(option))
            .unwrap_or_else(|e| panic!("libzmq getsockopt {option}: {e}"))
    }

    /// Binds; returns the resolved endpoint.
    pub fn bind(&self, endpoint: &str) -> String {
        self.with(|s| s.bind(endpoint))
            .unwrap_or_else(|e| panic!("libzmq bind {endpoint}: {e}"))
    }

    /// Connects (in the background, as libzmq does).
    pub fn connect(&self, endpoint: &str) {
        self.with(|s| s.connect(endpoint))
            .unwrap_or_else(|e| panic!("libzmq connect {endpoint}: {e}"));
    }

    /// Publishes this socket's monitor events on the PAIR endpoint `endpoint`.
    pub fn monitor(&self, endpoint: &str, events: i32) {
        self.with(|s| s.monitor(endpoint, events))
            .unwrap_or_else(|e| panic!("libzmq monitor {endpoint}: {e}"));
    }

    /// Runs `f` on the socket in a blocking-pool thread, failing after `limit` plus a margin.
    async fn blocking<T: Send + 'static>(
        &self,
        what: &str,
        limit: Duration,
        f: impl FnOnce(&libzmq::Socket) -> T + Send + 'static,
    ) -> T {
        let socket = self.socket.clone();
        let task = tokio::task::spawn_blocking(move || f(&socket.lock().unwrap()));
        match tokio::time::timeout(limit + Duration::from_secs(5), task).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{what}: the libzmq call panicked: {e}"),
            Err(_) => panic!("{what}: the libzmq call outlived its own timeout"),
        }
    }

    /// Receives one message within `limit`, or libzmq's error (EAGAIN when nothing came).
    pub async fn recv_within(&self, limit: Duration) -> libzmq::Result<Vec<Vec<u8>>> {
        self.blocking("libzmq recv", limit, move |s| {
            s.set_int(libzmq::RCVTIMEO, limit.as_millis() as i32)?;
            s.recv()
        })
        .await
    }

    /// Receives one message, failing the test after [`DEADLINE`].
    pub async fn recv(&self, what: &str) -> Vec<Vec<u8>> {
        match self.recv_within(DEADLINE).await {
            Ok(m) => m,
            Err(e) => panic!("{what}: libzmq recv: {e}"),
        }
    }

    /// Receives one message and checks its frames.
    pub async fn expect(&self, want: &[&[u8]], what: &str) {
        assert_eq!(self.recv(what).await, frames_of(want), "{what}");
    }

    /// Checks that nothing arrives within `window`.
    pub async fn expect_nothing(&self, window: Duration, what: &str) {
        match self.recv_within(window).await {
            Err(libzmq::EAGAIN) => {}
            Ok(m) => panic!("{what}: libzmq got {m:?}, expected nothing"),
            Err(e) => panic!("{what}: libzmq recv: {e}"),
        }
    }

    /// Sends one message (blocking up to SNDTIMEO = [`DEADLINE`]).
    pub async fn send(&self, frames: &[&[u8]], what: &str) {
        let frames: Vec<Vec<u8>> = frames.iter().map(|f| f.to_vec()).collect();
        let r = self
            .blocking("libzmq send", DEADLINE, move |s| {
                let refs: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
                s.send(&refs)
            })
            .await;
        if let Err(e) = r {
            panic!("{what}: libzmq send: {e}");
        }
    }
}

/// The draft socket types' calls.
impl Lz {
    /// DISH: joins `group`.
    pub fn join(&self, group: &str) {
        self.with(|s| s.join(group))
            .unwrap_or_else(|e| panic!("libzmq join {group}: {e}"));
    }

    /// DISH: leaves `group`.
    pub fn leave(&self, group: &str) {
        self.with(|s| s.leave(group))
            .unwrap_or_else(|e| panic!("libzmq leave {group}: {e}"));
    }

    /// PEER: connects to `endpoint`; the routing id the peer there will have.
    pub fn connect_peer(&self, endpoint: &str) -> u32 {
        self.with(|s| s.connect_peer(endpoint))
            .unwrap_or_else(|e| panic!("libzmq connect_peer {endpoint}: {e}"))
    }

    /// SERVER/PEER: sends `data` to the peer with `routing_id`.
    pub async fn send_routed(&self, routing_id: u32, data: &[u8], what: &str) {
        let data = data.to_vec();
        let r = self
            .blocking("libzmq send", DEADLINE, move |s| {
                s.send_routed(routing_id, &data)
            })
            .await;
        if let Err(e) = r {
            panic!("{what}: libzmq send to {routing_id}: {e}");
        }
    }

    /// SERVER/PEER: receives one message and its sender's routing id.
    pub async fn recv_routed(&self, what: &str) -> (u32, Vec<u8>) {
        let r = self
            .blocking("libzmq recv", DEADLINE, move |s| {
                s.set_int(libzmq::RCVTIMEO, DEADLINE.as_millis() as i32)?;
                s.recv_routed()
            })
            .await;
        r.unwrap_or_else(|e| panic!("{what}: libzmq recv: {e}"))
    }

    /// RADIO: sends `data` to `group`.
    pub async fn send_group(&self, group: &str, data: &[u8], what: &str) {
        let (group, data) = (group.to_owned(), data.to_vec());
        let r = self
            .blocking("libzmq send", DEADLINE, move |s| {
                s.send_group(&group, &data)
            })
            .await;
        if let Err(e) = r {
            panic!("{what}: libzmq send: {e}");
        }
    }

    /// DISH: receives one message and its group within `limit` (EAGAIN when none came).
    pub async fn recv_group_within(&self, limit: Duration) -> libzmq::Result<(String, Vec<u8>)> {
        self.blocking("libzmq recv", limit, move |s| {
            s.set_int(libzmq::RCVTIMEO, limit.as_millis() as i32)?;
            s.recv_group()
        })
        .await
    }

    /// DISH: receives one message and its group, failing the test after [`DEADLINE`].
    pub async fn recv_group(&self, what: &str) -> (String, Vec<u8>) {
        self.recv_group_within(DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{what}: libzmq recv: {e}"))
    }
}

/// A libzmq monitor: a PAIR socket connected to the events a socket publishes.
pub struct LzMonitor {
    pair: Lz,
}

impl LzMonitor {
    /// Starts monitoring `events` of `socket` (one monitor endpoint per `name`).
    pub fn new(ctx: &libzmq::Context, socket: &Lz, name: &str, events: i32) -> LzMonitor {
        let endpoint = format!("inproc://monitor-{name}");
        socket.monitor(&endpoint, events);
        let pair = Lz::new(ctx, libzmq::PAIR);
        pair.connect(&endpoint);
        LzMonitor { pair }
    }

    /// The next event's number, failing the test after [`DEADLINE`].
    pub async fn next(&self, what: &str) -> u16 {
        let m = self.pair.recv(what).await;
        assert!(
            m.len() == 2 && m[0].len() == 6,
            "{what}: not an event: {m:?}"
        );
        u16::from_ne_bytes([m[0][0], m[0][1]])
    }

    /// Waits for event `event`, skipping others.
    pub async fn wait_for(&self, event: u16, what: &str) {
        while self.next(what).await != event {}
    }

    /// The events that arrive within `window`.
    pub async fn events_within(&self, window: Duration) -> Vec<u16> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + window;
        loop {
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return out;
            }
            match self.pair.recv_within(left).await {
                Ok(m) => out.push(u16::from_ne_bytes([m[0][0], m[0][1]])),
                Err(libzmq::EAGAIN) => return out,
                Err(e) => panic!("libzmq monitor recv: {e}"),
            }
        }
    }
}

/// Frames as owned vectors, for comparisons with readable failures.
pub fn frames_of(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// The frames of one of our messages.
pub fn frames(m: &Message) -> Vec<Vec<u8>> {
    m.iter().map(|f| f.to_vec()).collect()
}

/// One of our messages from its frames.
pub fn msg(parts: &[&[u8]]) -> Message {
    parts
        .iter()
        .map(|f| bytes::Bytes::copy_from_slice(f))
        .collect()
}

/// Awaits `fut`, failing the test after [`DEADLINE`].
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not complete within {DEADLINE:?}"),
    }
}

/// Receives one message on our socket, failing the test after [`DEADLINE`] or on error.
pub async fn recv(s: &Socket, what: &str) -> Message {
    match within(what, s.recv()).await {
        Ok(m) => m,
        Err(e) => panic!("{what}: recv failed: {e}"),
    }
}

/// Receives one message on our socket and checks its frames.
pub async fn expect(s: &Socket, want: &[&[u8]], what: &str) {
    assert_eq!(frames(&recv(s, what).await), frames_of(want), "{what}");
}

/// Checks that nothing arrives on our socket within `window`.
pub async fn expect_nothing(s: &Socket, window: Duration, what: &str) {
    if let Ok(r) = tokio::time::timeout(window, s.recv()).await {
        panic!("{what}: expected nothing, got {:?}", r.map(|m| frames(&m)));
    }
}

/// Sends one message on our socket, failing the test after [`DEADLINE`] or on error.
pub async fn send(s: &Socket, parts: &[&[u8]], what: &str) {
    if let Err(e) = within(what, s.send(msg(parts))).await {
        panic!("{what}: send failed: {e}");
    }
}

/// Binds our socket; returns the resolved endpoint.
pub async fn bind(s: &Socket, endpoint: &str) -> String {
    match within("bind", s.bind(endpoint)).await {
        Ok(ep) => ep,
        Err(e) => panic!("bind {endpoint}: {e}"),
    }
}

/// Connects our socket (the connection is made in the background).
pub async fn connect(s: &Socket, endpoint: &str) {
    if let Err(e) = within("connect", s.connect(endpoint)).await {
        panic!("connect {endpoint}: {e}");
    }
}

/// Closes our socket, failing the test if that takes longer than [`DEADLINE`].
pub async fn close(s: &Socket) {
    within("close", s.close()).await;
}

/// The transports the tests run over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Ipc,
}

/// Both stream transports, for tests that run over each.
pub const TRANSPORTS: [Transport; 2] = [Transport::Tcp, Transport::Ipc];

impl Transport {
    /// An endpoint to bind: a wildcard port on the loopback, or a fresh `ipc://` path.
    pub fn endpoint(self) -> String {
        match self {
            Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
            Transport::Ipc => {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static NEXT: AtomicUsize = AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("aiozmq-draft-{}-{n}.ipc", std::process::id()));
                let _ = std::fs::remove_file(&path);
                format!("ipc://{}", path.display())
            }
        }
    }
}
