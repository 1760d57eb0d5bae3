//! Helpers shared by `core_api.rs` and `stream_api.rs`: waits that fail loudly instead of
//! hanging, and a protocol that records every callback.
#![allow(dead_code)]

use aiozmq::api::{SocketEvent, ZmqProtocol, ZmqTransport};
use aiozmq::{Error, Message};
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one step of a test may take before the test fails.
pub const STEP: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test with `what` after [`STEP`].
#[track_caller]
pub fn within<F: Future>(what: &str, fut: F) -> impl Future<Output = F::Output> {
    let at = Location::caller();
    let what = what.to_string();
    async move {
        match tokio::time::timeout(STEP, fut).await {
            Ok(v) => v,
            Err(_) => panic!("{at}: {what}: not done within {STEP:?}"),
        }
    }
}

/// Waits until `cond` holds, re-checking every millisecond; fails the test with `what`
/// after [`STEP`]. For state that has no event to wait on (queue sizes, counters).
#[track_caller]
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) -> impl Future<Output = ()> {
    let at = Location::caller();
    let what = what.to_string();
    async move {
        let deadline = tokio::time::Instant::now() + STEP;
        while !cond() {
            if tokio::time::Instant::now() > deadline {
                panic!("{at}: {what}: still false after {STEP:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A unique inproc endpoint for this process.
pub fn inproc(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("inproc://{name}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// One protocol callback, as recorded by [`Recorder`].
#[derive(Debug)]
pub enum Ev {
    Made,
    Msg(Message),
    Event(SocketEvent),
    Pause,
    Resume,
    Lost(Option<Error>),
}

/// A protocol that records every callback, optionally echoes messages back, and keeps the
/// transport it was given.
pub struct Recorder {
    tx: mpsc::UnboundedSender<Ev>,
    pub transport: OnceLock<ZmqTransport>,
    echo: bool,
    /// Panic in `msg_received` for this many messages first.
    panics: AtomicUsize,
}

impl Recorder {
    /// A recorder and the receiving end of its callbacks.
    pub fn new(echo: bool) -> (Recorder, Events) {
        Self::panicking(echo, 0)
    }

    /// A recorder whose first `panics` `msg_received` calls panic.
    pub fn panicking(echo: bool, panics: usize) -> (Recorder, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Recorder {
                tx,
                transport: OnceLock::new(),
                echo,
                panics: AtomicUsize::new(panics),
            },
            Events { rx },
        )
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recorder")
    }
}

impl ZmqProtocol for Recorder {
    fn connection_made(&self, transport: &ZmqTransport) {
        let _ = self.transport.set(transport.clone());
        let _ = self.tx.send(Ev::Made);
    }
    fn connection_lost(&self, exc: Option<Error>) {
        let _ = self.tx.send(Ev::Lost(exc));
    }
    fn pause_writing(&self) {
        let _ = self.tx.send(Ev::Pause);
    }
    fn resume_writing(&self) {
        let _ = self.tx.send(Ev::Resume);
    }
    fn msg_received(&self, msg: Message) {
        if self
            .panics
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            panic!("test protocol panics on purpose");
        }
        if self.echo {
            self.transport.get().unwrap().write(msg.clone()).unwrap();
        }
        let _ = self.tx.send(Ev::Msg(msg));
    }
    fn event_received(&self, event: SocketEvent) {
        let _ = self.tx.send(Ev::Event(event));
    }
}

/// The callbacks a [`Recorder`] saw, in order.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Ev>,
}

impl Events {
    /// The next callback; fails the test after [`STEP`].
    #[track_caller]
    pub fn next(&mut self) -> impl Future<Output = Ev> + '_ {
        let at = Location::caller();
        async move {
            match tokio::time::timeout(STEP, self.rx.recv()).await {
                Ok(Some(ev)) => ev,
                Ok(None) => panic!("{at}: the protocol is gone"),
                Err(_) => panic!("{at}: no protocol callback within {STEP:?}"),
            }
        }
    }

    /// A callback already recorded, if any.
    pub fn try_next(&mut self) -> Option<Ev> {
        self.rx.try_recv().ok()
    }

    /// The next callback, which must be `msg_received`.
    #[track_caller]
    pub fn msg(&mut self) -> impl Future<Output = Message> + '_ {
        let at = Location::caller();
        async move {
            match self.next().await {
                Ev::Msg(m) => m,
                other => panic!("{at}: expected msg_received, got {other:?}"),
            }
        }
    }

    /// The next callback, which must be `connection_lost`; returns its argument.
    #[track_caller]
    pub fn lost(&mut self) -> impl Future<Output = Option<Error>> + '_ {
        let at = Location::caller();
        async move {
            match self.next().await {
                Ev::Lost(e) => e,
                other => panic!("{at}: expected connection_lost, got {other:?}"),
            }
        }
    }

    /// The next callback, which must be `event_received`.
    #[track_caller]
    pub fn event(&mut self) -> impl Future<Output = SocketEvent> + '_ {
        let at = Location::caller();
        async move {
            match self.next().await {
                Ev::Event(e) => e,
                other => panic!("{at}: expected event_received, got {other:?}"),
            }
        }
    }
}

/// A message from string frames.
pub fn msg(frames: &[&str]) -> Message {
    frames
        .iter()
        .map(|f| bytes::Bytes::copy_from_slice(f.as_bytes()))
        .collect()
}
