//! The socket as a `futures` [`Stream`](futures_core::Stream) of received messages
//! ([`SocketStream`]) and a [`Sink`](futures_sink::Sink) of messages to send
//! ([`SocketSink`]). Each holds an `Arc` of the socket, so a socket can have both (and
//! keep being used directly).

use super::Socket;
use crate::{Error, ErrorKind, Message, Result};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio_util::sync::ReusableBoxFuture;

/// The messages a socket receives, as a [`futures_core::Stream`]: `Some(Ok(message))` per
/// message, `Some(Err(e))` for a receive that failed (`EFSM` on a REQ that sent nothing,
/// `ENOTSUP` on a PUB or PUSH; the stream goes on), and `None` once the socket is closed.
///
/// # Cancel safety
/// Cancel-safe as [`Socket::recv`]: a message is taken from the socket only in the poll
/// that yields it. A receive that has to wait is kept inside the stream across polls, so
/// dropping a `next()` future (in `select!` or `timeout`) loses nothing, and dropping the
/// stream drops the waiting receive, which took nothing either. As with `recv`, a stream
/// on a REQ or REP socket that returned `Pending` should be polled when woken, or dropped.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aiozmq::Result<()> {
/// use aiozmq::{Socket, SocketType};
/// use futures_util::StreamExt;
/// use std::sync::Arc;
/// let pull = Arc::new(Socket::new(SocketType::Pull));
/// pull.bind("tcp://127.0.0.1:*").await?;
/// let mut messages = pull.stream();
/// while let Some(msg) = messages.next().await {
///     println!("{:?}", msg?);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SocketStream {
    socket: Arc<Socket>,
    /// The receive that is waiting (when `waiting`); its allocation is reused.
    recv: Option<ReusableBoxFuture<'static, Result<Message>>>,
    waiting: bool,
    ended: bool,
}

impl SocketStream {
    /// A stream of the messages `socket` receives.
    pub fn new(socket: impl Into<Arc<Socket>>) -> SocketStream {
        SocketStream {
            socket: socket.into(),
            recv: None,
            waiting: false,
            ended: false,
        }
    }

    /// The socket.
    pub fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }

    fn end_or_yield(&mut self, e: Error) -> Poll<Option<Result<Message>>> {
        if e.kind() == ErrorKind::Closed {
            self.ended = true;
            Poll::Ready(None)
        } else {
            Poll::Ready(Some(Err(e)))
        }
    }
}

impl futures_core::Stream for SocketStream {
    type Item = Result<Message>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Message>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if !this.waiting {
            // A queued message needs no future.
            match this.socket.try_recv() {
                Ok(m) => return Poll::Ready(Some(Ok(m))),
                Err(e) if e.kind() == ErrorKind::Again => {}
                Err(e) => return this.end_or_yield(e),
            }
            let socket = this.socket.clone();
            let recv = async move { socket.recv().await };
            match &mut this.recv {
                Some(f) => f.set(recv),
                None => this.recv = Some(ReusableBoxFuture::new(recv)),
            }
            this.waiting = true;
        }
        let Some(recv) = this.recv.as_mut() else {
            unreachable!("a waiting stream has its receive")
        };
        let r = ready!(recv.poll(cx));
        this.waiting = false;
        match r {
            Ok(m) => Poll::Ready(Some(Ok(m))),
            Err(e) => this.end_or_yield(e),
        }
    }
}

impl futures_core::FusedStream for SocketStream {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

/// Sends messages into a socket, as a [`futures_sink::Sink`]: `start_send` queues the
/// message at once when a peer has room ([`Socket::try_send`]), else keeps it and sends it
/// as [`Socket::send`] would, waiting for room; `poll_ready` and `poll_flush` wait until a
/// kept message is queued in the socket (and report its error, if sending it failed).
/// "Flushed" means handed to the socket, not written to the network. `poll_close`
/// flushes and ends the sink (later `start_send` calls fail with `ETERM`); the socket
/// itself stays open.
///
/// # Cancel safety
/// A message accepted by `start_send` is sent once: dropping a `SinkExt::send` or
/// `flush` future while it waits leaves the message in the sink, and the next
/// `poll_ready`/`poll_flush` goes on sending it. Dropping the sink itself drops a message
/// still kept there (flush first). A message not yet passed to `start_send` (one that
/// `SinkExt::send` holds while `poll_ready` waits) goes with the future that holds it.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aiozmq::Result<()> {
/// use aiozmq::{Message, Socket, SocketType};
/// use futures_util::SinkExt;
/// use std::sync::Arc;
/// let push = Arc::new(Socket::new(SocketType::Push));
/// push.connect("tcp://127.0.0.1:5555").await?;
/// let mut sink = push.sink();
/// sink.send(Message::from("hello")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SocketSink {
    socket: Arc<Socket>,
    /// The send of a kept message (when `sending`); its allocation is reused.
    send: Option<ReusableBoxFuture<'static, Result<()>>>,
    sending: bool,
    closed: bool,
}

impl SocketSink {
    /// A sink sending into `socket`.
    pub fn new(socket: impl Into<Arc<Socket>>) -> SocketSink {
        SocketSink {
            socket: socket.into(),
            send: None,
            sending: false,
            closed: false,
        }
    }

    /// The socket.
    pub fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }

    /// Waits until no message is kept; the result of sending the kept one.
    fn poll_sent(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        if !self.sending {
            return Poll::Ready(Ok(()));
        }
        let Some(send) = self.send.as_mut() else {
            unreachable!("a sending sink has its send")
        };
        let r = ready!(send.poll(cx));
        self.sending = false;
        Poll::Ready(r)
    }
}

impl futures_sink::Sink<Message> for SocketSink {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_sent(cx))?;
        if this.closed {
            return Poll::Ready(Err(Error::new(ErrorKind::Closed, "the sink is closed")));
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<()> {
        let this = self.get_mut();
        if this.closed {
            return Err(Error::new(ErrorKind::Closed, "the sink is closed"));
        }
        if this.sending {
            return Err(Error::inval(
                "start_send before poll_ready reported the sink ready",
            ));
        }
        let message = match this.socket.try_send(item) {
            Ok(()) => return Ok(()),
            Err(e) if e.error.kind() == ErrorKind::Again => e.message,
            Err(e) => return Err(e.error),
        };
        let socket = this.socket.clone();
        let send = async move { socket.send(message).await };
        match &mut this.send {
            Some(f) => f.set(send),
            None => this.send = Some(ReusableBoxFuture::new(send)),
        }
        this.sending = true;
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.get_mut().poll_sent(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        let r = ready!(this.poll_sent(cx));
        this.closed = true;
        Poll::Ready(r)
    }
}

impl Socket {
    /// A [`SocketStream`] of the messages this socket receives (it holds a clone of the
    /// `Arc`).
    pub fn stream(self: &Arc<Self>) -> SocketStream {
        SocketStream::new(self.clone())
    }

    /// A [`SocketSink`] sending into this socket (it holds a clone of the `Arc`).
    pub fn sink(self: &Arc<Self>) -> SocketSink {
        SocketSink::new(self.clone())
    }
}
