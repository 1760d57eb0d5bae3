//! What every RPC client and server is: a socket ("transport") with a background task,
//! closed with [`Service::close`] and awaited with [`Service::wait_closed`] (Python's
//! `aiozmq.rpc.Service`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::error::Error;
use crate::security::SecurityConfig;
use crate::{Socket, SocketType};

/// The endpoints a client or server binds and connects at creation (Python's `bind=` and
/// `connect=` arguments).
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoints {
    pub bind: Vec<String>,
    pub connect: Vec<String>,
    /// Applied to the socket before it binds or connects.
    pub security: SecurityConfig,
}

impl Endpoints {
    /// A socket of `ty` with every endpoint bound and connected.
    pub async fn open(&self, ty: SocketType) -> Result<Arc<Socket>, Error> {
        let socket = Socket::new(ty);
        if let Err(e) = self.security.apply(&socket) {
            socket.close().await;
            return Err(Error::Socket(e));
        }
        for ep in &self.bind {
            if let Err(e) = socket.bind(ep).await {
                socket.close().await;
                return Err(Error::Socket(e));
            }
        }
        for ep in &self.connect {
            if let Err(e) = socket.connect(ep).await {
                socket.close().await;
                return Err(Error::Socket(e));
            }
        }
        Ok(Arc::new(socket))
    }
}

/// An RPC client or server: its socket and its life cycle.
///
/// Clients deref to their `Service`; servers are one. Closing is asynchronous, as in
/// Python: [`close`](Self::close) asks, [`wait_closed`](Self::wait_closed) waits until the
/// background task has stopped and the socket is closed. Dropping the last handle closes
/// too.
#[derive(Debug)]
pub struct Service {
    socket: Arc<Socket>,
    token: CancellationToken,
    /// Set before `token` is cancelled, and read instead of it: asking a token locks its
    /// mutex, which calls made from other threads would contend for with the service task.
    closed: Arc<AtomicBool>,
    done: watch::Receiver<bool>,
}

impl Service {
    /// Spawns the service task: `main` runs until the service is closed (or ends by
    /// itself), then `cleanup`, then the socket is closed.
    pub(crate) fn spawn<M, C, CF>(
        socket: Arc<Socket>,
        token: CancellationToken,
        main: M,
        cleanup: C,
    ) -> Service
    where
        M: Future<Output = ()> + Send + 'static,
        C: FnOnce() -> CF + Send + 'static,
        CF: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = watch::channel(false);
        let s = socket.clone();
        let t = token.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let c = closed.clone();
        tokio::spawn(async move {
            // `main` runs as a task of its own, so that its many wake-ups do not poll the
            // token (a lock of its mutex and of its waiters' each time) as a `select!`
            // around it would; this task wakes only to stop it.
            let mut main = tokio::spawn(main);
            tokio::select! {
                _ = t.cancelled() => {
                    main.abort();
                    // Resolves once `main` is dropped: cleanup never runs beside it.
                    let _ = (&mut main).await;
                }
                _ = &mut main => {}
            }
            c.store(true, Ordering::Release);
            t.cancel();
            cleanup().await;
            s.close().await;
            let _ = tx.send(true);
        });
        Service {
            socket,
            token,
            closed,
            done: rx,
        }
    }

    /// The socket, to bind, unbind, connect, disconnect or set options at run time
    /// (Python's `Service.transport`); [`Error::ServiceClosed`] once closed.
    pub fn transport(&self) -> Result<&Socket, Error> {
        if self.is_closed() {
            Err(Error::ServiceClosed)
        } else {
            Ok(&self.socket)
        }
    }

    /// The resolved endpoints the socket is bound to (empty once closed).
    pub fn bindings(&self) -> Vec<String> {
        self.transport().map(Socket::bindings).unwrap_or_default()
    }

    /// True once [`close`](Self::close) was called (or the service stopped by itself).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stops serving: a server stops receiving and cancels its running handlers (they send
    /// no reply); a client fails its pending calls with [`Error::ServiceClosed`]. Returns at
    /// once; see [`wait_closed`](Self::wait_closed).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// Waits until the service is closed: its task has stopped and its socket is closed
    /// (bounded by the socket's LINGER).
    ///
    /// # Cancel safety
    /// Cancel-safe: dropping the future changes nothing.
    pub async fn wait_closed(&self) {
        let mut rx = self.done.clone();
        let _ = rx.wait_for(|d| *d).await;
    }

    pub(crate) fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        self.token.cancel();
    }
}

/// A process-wide random `u16`, fixed per client or server (Python's `random.randrange`).
pub(crate) fn random_u16() -> u16 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u16
}

/// The 4-byte header prefix: pid % 65536 and a random number, little-endian.
pub(crate) fn header_prefix() -> (u16, u16) {
    ((std::process::id() % 65536) as u16, random_u16())
}

/// Unix time as Python's `time.time()`.
pub(crate) fn unix_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How many messages a receive loop of the RPC layer handles in a row before it gives way
/// to the other tasks of its thread: above all, to the connections that write what it
/// sent. A server's first replies then leave while it computes the rest, and a client's
/// next calls leave while it takes in the rest of the replies, so the two processes work
/// in parallel instead of taking turns on whole batches. Giving way too often costs more
/// task switches than it saves; the value was chosen with `benches/rpc.rs`.
pub(crate) const GIVE_WAY_EVERY: usize = 32;

/// The receive side of an RPC loop: takes queued messages without building a wait, and
/// gives way after every [`GIVE_WAY_EVERY`] of them in a row.
#[derive(Debug, Default)]
pub(crate) struct Intake {
    /// Messages taken since the loop last waited or gave way.
    run: usize,
}

impl Intake {
    /// The next message of `socket`: a queued one if there is one (giving way first at the
    /// end of a run), else waits for one, which ends the run.
    pub(crate) async fn next(&mut self, socket: &Socket) -> crate::Result<crate::Message> {
        if self.run == GIVE_WAY_EVERY {
            self.run = 0;
            tokio::task::yield_now().await;
        }
        let msg = match socket.try_recv() {
            Ok(m) => m,
            Err(e) if e.kind() == crate::ErrorKind::Again => {
                self.run = 0;
                socket.recv().await?
            }
            Err(e) => return Err(e),
        };
        self.run += 1;
        Ok(msg)
    }

    /// Appends to `out` the next message as [`next`](Self::next) takes it, then those
    /// queued behind it up to the end of the run: what a loop may handle in one go.
    pub(crate) async fn next_batch(
        &mut self,
        socket: &Socket,
        out: &mut Vec<crate::Message>,
    ) -> crate::Result<()> {
        out.push(self.next(socket).await?);
        while self.run < GIVE_WAY_EVERY {
            match socket.try_recv() {
                Ok(m) => {
                    out.push(m);
                    self.run += 1;
                }
                // An error other than "nothing queued" (closed) comes again at the next
                // call; what was taken is handled first.
                Err(_) => break,
            }
        }
        Ok(())
    }
}
