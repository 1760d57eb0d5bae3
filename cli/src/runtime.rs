//! What the socket commands share at run time: the tokio runtime with signal handling,
//! line output, opening a socket, and watching its handshakes.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use aiozmq::{Monitor, Socket, SocketType};
use tokio::sync::mpsc;

use crate::args::Attach;
use crate::security::{event_line, is_handshake_failure, Security};
use crate::{runtime_error, Failure};

/// Runs `fut` on a new multi-threaded runtime until it ends or a signal (Ctrl-C, SIGTERM)
/// arrives; a signal drops the future (closing its sockets at once: queued messages are
/// lost, IPC socket files are removed) and ends with 128 + the signal's number.
pub fn block_on<F>(command: &'static str, fut: F) -> Result<(), Failure>
where
    F: Future<Output = Result<(), Failure>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| runtime_error(command, format!("cannot start the runtime: {e}")))?;
    let result = runtime.block_on(async {
        tokio::select! {
            // The handlers are installed when this branch is first polled: before the
            // command runs (and prints that it is ready).
            biased;
            n = signalled() => Err(Failure::Signal(n)),
            r = fut => r,
        }
    });
    // Tasks still running (monitors, lingering sockets after a failure) end with the process.
    runtime.shutdown_background();
    result
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM; returns the signal's number.
async fn signalled() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => 2,
                _ = term.recv() => 15,
            },
            // No signal handling: the default action (the process ends) stays.
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => 2,
            Err(_) => std::future::pending().await,
        }
    }
}

/// Writes one line to stdout and flushes it. A closed stdout (`| head -1`) ends the
/// command quietly.
pub fn print_line(command: &'static str, line: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let r = out
        .write_all(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::StdoutClosed),
        Err(e) => Err(runtime_error(
            command,
            format!("cannot write to stdout: {e}"),
        )),
    }
}

/// Status lines on stderr (`bound EP`, `connecting EP`, `ready`), unless `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    pub quiet: bool,
}

impl Status {
    pub fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

/// Binds and connects `socket`, printing `bound RESOLVED` / `connecting EP` per endpoint.
pub async fn attach(
    command: &'static str,
    socket: &Socket,
    attach: &[Attach],
    status: Status,
) -> Result<(), Failure> {
    for a in attach {
        match a {
            Attach::Bind(ep) => {
                let resolved = socket
                    .bind(ep)
                    .await
                    .map_err(|e| runtime_error(command, format!("cannot bind {ep}: {e}")))?;
                status.line(&format!("bound {resolved}"));
            }
            Attach::Connect(ep) => {
                socket
                    .connect(ep)
                    .await
                    .map_err(|e| runtime_error(command, format!("cannot connect to {ep}: {e}")))?;
                status.line(&format!("connecting {ep}"));
            }
        }
    }
    Ok(())
}

/// A new socket of `socket_type` with the security settings applied.
pub fn new_socket(
    command: &'static str,
    socket_type: SocketType,
    security: &Security,
) -> Result<Socket, Failure> {
    let socket = Socket::new(socket_type);
    security
        .apply(&socket)
        .map_err(|e| runtime_error(command, format!("security options: {e}")))?;
    Ok(socket)
}

/// How [`watch_handshakes`] treats events.
#[derive(Debug, Clone)]
pub struct Watch {
    pub command: &'static str,
    /// Printed before each stderr line (`frontend: ` for the proxy).
    pub label: String,
    /// Print every event on stderr (`--verbose`).
    pub verbose: bool,
    /// Endpoints this socket connects to: a failed handshake there is fatal.
    pub fatal_endpoints: Vec<String>,
}

/// Reads `monitor` in the background: failed handshakes are reported on stderr (every
/// event with `verbose`); a failed handshake on one of `fatal_endpoints` is sent on the
/// returned channel as a runtime error.
pub fn watch_handshakes(mut monitor: Monitor, watch: Watch) -> mpsc::Receiver<Failure> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while let Some(ev) = monitor.recv().await {
            let failed = is_handshake_failure(ev.kind);
            if watch.verbose {
                eprintln!("{}event {}", watch.label, event_line(&ev));
            }
            if !failed {
                continue;
            }
            if watch.fatal_endpoints.contains(&ev.endpoint) {
                let _ = tx
                    .send(runtime_error(
                        watch.command,
                        format!(
                            "{}handshake with {} failed: {}",
                            watch.label,
                            ev.endpoint,
                            describe_failure(&ev)
                        ),
                    ))
                    .await;
                return;
            }
            if !watch.verbose {
                eprintln!(
                    "aiozmq {}: warning: {}handshake failed on {}: {}",
                    watch.command,
                    watch.label,
                    ev.endpoint,
                    describe_failure(&ev)
                );
            }
        }
    });
    rx
}

fn describe_failure(ev: &aiozmq::MonitorEvent) -> String {
    let mut text = match ev.kind {
        aiozmq::EventKind::HandshakeFailedProtocol => format!("{} {:#x}", ev.kind.name(), ev.value),
        _ => format!("{} {}", ev.kind.name(), ev.value),
    };
    if let Some(r) = ev.reason.as_deref().filter(|r| !r.is_empty()) {
        text.push_str(": ");
        text.push_str(r);
    }
    if ev.kind == aiozmq::EventKind::HandshakeFailedNoDetail && ev.value == 104 {
        // A CURVE server that cannot open our HELLO (a wrong server key) just closes.
        text.push_str(" (a wrong server key, or a peer with another security mechanism?)");
    }
    text
}

/// The number of monitor events kept when the reader falls behind.
pub const MONITOR_BACKLOG: usize = 10_000;

/// Waits for the first failure sent on `rx`; never returns when there is none.
pub async fn first_failure(rx: &mut mpsc::Receiver<Failure>) -> Failure {
    match rx.recv().await {
        Some(f) => f,
        None => std::future::pending().await,
    }
}

/// `fut` bounded by `limit` (when given): `Err(())` on timeout.
pub async fn within<F: Future>(limit: Option<Duration>, fut: F) -> Result<F::Output, ()> {
    match limit {
        Some(d) => tokio::time::timeout(d, fut).await.map_err(|_| ()),
        None => Ok(fut.await),
    }
}
