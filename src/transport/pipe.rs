//! IPC on Windows over named pipes: `ipc://name` is the pipe `\\.\pipe\name`.
//!
//! libzmq on Windows carries `ipc://` over AF_UNIX sockets; tokio has no AF_UNIX on
//! Windows, and reaching one in safe Rust would take a second reactor. Named pipes are
//! what tokio offers safely and asynchronously, so `ipc://` on Windows connects aiozmq to
//! aiozmq only (libzmq peers on Windows are reached over `tcp://`).
//!
//! A listener keeps one pipe instance waiting for a client; when a client takes it, a new
//! instance is created for the next one. A client that finds every instance taken (in the
//! moment between the two) tries again a few times before reporting the error, after which
//! the socket's reconnect timer takes over as for any refused connection.

use crate::{Error, ErrorKind, Result};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::windows::named_pipe::{
    ClientOptions, NamedPipeClient, NamedPipeServer, ServerOptions,
};

/// ERROR_PIPE_BUSY: every instance of the pipe is connected to a client.
const ERROR_PIPE_BUSY: i32 = 231;
/// ERROR_ACCESS_DENIED: what creating a pipe's first instance gives when it exists.
const ERROR_ACCESS_DENIED: i32 = 5;

/// Attempts at opening a busy pipe, and the pause between them.
const BUSY_RETRIES: u32 = 20;
const BUSY_PAUSE: Duration = Duration::from_millis(5);

/// The pipe name for the address of `ipc://address`. Backslashes become slashes (a pipe
/// name may not contain one after the prefix), so a Windows path names a pipe too; a name
/// given already as `\\.\pipe\...` is kept.
pub(crate) fn pipe_name(address: &str) -> String {
    const PREFIX: &str = r"\\.\pipe\";
    match address.strip_prefix(PREFIX) {
        Some(rest) => format!("{PREFIX}{}", rest.replace('\\', "/")),
        None => format!("{PREFIX}{}", address.replace('\\', "/")),
    }
}

/// One end of a connected pipe.
#[derive(Debug)]
pub(crate) enum PipeEnd {
    Server(NamedPipeServer),
    Client(NamedPipeClient),
}

/// Dispatches a method call to whichever end it is.
macro_rules! both {
    ($end:expr, $p:ident => $e:expr) => {
        match $end {
            PipeEnd::Server($p) => $e,
            PipeEnd::Client($p) => $e,
        }
    };
}

impl PipeEnd {
    pub(crate) fn raw_fd(&self) -> u32 {
        use std::os::windows::io::AsRawHandle;
        both!(self, p => p.as_raw_handle() as usize as u32)
    }

    pub(crate) fn poll_read_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        both!(self, p => p.poll_read_ready(cx))
    }

    pub(crate) fn poll_write_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        both!(self, p => p.poll_write_ready(cx))
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        both!(self, p => p.try_read(buf))
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        both!(self, p => p.try_write(buf))
    }

    pub(crate) fn try_write_vectored(
        &self,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::io::Result<usize> {
        both!(self, p => p.try_write_vectored(bufs))
    }

    /// Runs `f` as a non-blocking read; a `WouldBlock` from it clears read readiness.
    pub(crate) fn try_io_read(
        &self,
        f: impl FnOnce() -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        both!(self, p => p.try_io(tokio::io::Interest::READABLE, f))
    }

    /// Reads into `buf` once readable (for the connection's read half).
    pub(crate) fn poll_read(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        loop {
            std::task::ready!(self.poll_read_ready(cx))?;
            match self.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return std::task::Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return std::task::Poll::Ready(Err(e)),
            }
        }
    }
}

/// A bound pipe name: the instance waiting for the next client.
#[derive(Debug)]
pub(crate) struct PipeListener {
    name: String,
    waiting: tokio::sync::Mutex<NamedPipeServer>,
    raw: u32,
}

impl PipeListener {
    /// The waiting instance's handle at bind, for monitor events.
    pub(crate) fn raw_fd(&self) -> u32 {
        self.raw
    }

    /// Waits for a client on the waiting instance, puts a new instance in its place and
    /// returns the connected one. Cancel-safe: a connect that did not complete leaves the
    /// same instance waiting for the next call.
    pub(crate) async fn accept(&self) -> std::io::Result<PipeEnd> {
        let mut waiting = self.waiting.lock().await;
        waiting.connect().await?;
        let next = ServerOptions::new()
            .first_pipe_instance(false)
            .reject_remote_clients(true)
            .create(&self.name)?;
        Ok(PipeEnd::Server(std::mem::replace(&mut *waiting, next)))
    }
}

/// Binds the pipe for `ipc://address`; a pipe of that name that exists already (another
/// listener, or connections of one not yet closed) gives `EADDRINUSE`.
pub(crate) fn bind(address: &str) -> Result<PipeListener> {
    let name = pipe_name(address);
    // A pipe that takes a client, or has every instance taken, exists: in use. Checked by
    // opening it, as a Unix bind checks a socket file, because not every implementation
    // enforces FILE_FLAG_FIRST_PIPE_INSTANCE (Wine 8 does not); the flag is still asked for.
    match ClientOptions::new().open(&name) {
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::AddrInUse,
                format!("ipc://{address} is in use by a live listener"),
            ))
        }
        Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) => {
            return Err(Error::new(
                ErrorKind::AddrInUse,
                format!("ipc://{address}: the pipe {name} exists already"),
            ))
        }
        Err(_) => {}
    }
    let first = ServerOptions::new()
        .first_pipe_instance(true)
        .reject_remote_clients(true)
        .create(&name)
        .map_err(|e| {
            if e.raw_os_error() == Some(ERROR_ACCESS_DENIED) {
                Error::new(
                    ErrorKind::AddrInUse,
                    format!("ipc://{address}: the pipe {name} exists already"),
                )
            } else {
                let err = Error::from(e);
                Error::new(
                    err.kind(),
                    format!("bind ipc://{address}: {}", err.message()),
                )
            }
        })?;
    use std::os::windows::io::AsRawHandle;
    let raw = first.as_raw_handle() as usize as u32;
    Ok(PipeListener {
        name,
        waiting: tokio::sync::Mutex::new(first),
        raw,
    })
}

/// Connects to the pipe for `ipc://address`. A pipe that does not exist gives `NotFound`,
/// as a Unix socket path that does not exist does.
pub(crate) async fn connect(address: &str) -> std::io::Result<PipeEnd> {
    let name = pipe_name(address);
    let mut attempt = 0;
    loop {
        match ClientOptions::new().open(&name) {
            Ok(c) => return Ok(PipeEnd::Client(c)),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && attempt < BUSY_RETRIES => {
                attempt += 1;
                tokio::time::sleep(BUSY_PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Both halves of a connected pipe share its one handle.
pub(crate) fn split(end: PipeEnd) -> (Arc<PipeEnd>, Arc<PipeEnd>) {
    let end = Arc::new(end);
    (end.clone(), end)
}
