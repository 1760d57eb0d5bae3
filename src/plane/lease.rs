//! Direct reads: a REQ or REP `recv` that has to wait reads its peer's connection itself,
//! instead of waiting for the connection task to read, decode, queue and wake it.
//!
//! REQ and REP strictly alternate, so the message a waiting `recv` wants is the next one
//! on the wire, and nothing is gained by a second task in between: on a round trip the
//! connection task's turn (its wake-up, decode, delivery under the socket lock, the
//! notification) was about half the user-space work of each side. The connection task
//! *offers* its read side when it is idle between messages (nothing buffered, no
//! heartbeats to watch); a `recv` *borrows* it while it waits and gives it back when it
//! returns or is dropped. While it is lent, only the borrower reads.
//!
//! The borrower keeps what it read only when it is exactly one whole message of data
//! frames (a reply, a request). Anything else (part of a message, more than one, a
//! command, the end of the stream, an error) it *hands back* with the bytes it read, and
//! the connection task takes it from there as if it had read it itself, with the full
//! decoder and its error handling. The lease is offered again once the connection is idle
//! between messages again.
//!
//! Handing readiness over: tokio keeps one read waker per socket, the last one given. The
//! borrower registers its own; giving the lease back registers the connection task's again
//! (and wakes it when bytes are already there), so the task is never woken for the
//! borrower's bytes and never misses its own.

use crate::transport::ConnHandle;
use bytes::{Bytes, BytesMut};
use std::sync::{Mutex, Weak};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The borrower reads into zero-filled memory it keeps (safe Rust: no uninitialised
/// reads): 8 KiB, refilled (and zeroed again) when less than `BORROW_MIN` is left. A reply larger than what
/// is left is handed back, and the connection task reads the rest.
const BORROW_BUF: usize = 8 * 1024;
const BORROW_MIN: usize = 2 * 1024;

/// What a borrower read and could not keep, for the connection task to take as its own read.
#[derive(Debug)]
enum Handback {
    Bytes(Bytes),
    Eof,
    Err(std::io::Error),
}

#[derive(Debug, Default)]
struct Inner {
    /// The connection task is idle between messages: a `recv` may borrow.
    offered: bool,
    /// A `recv` holds the read side.
    lent: bool,
    /// The connection ended: no more borrowing.
    closed: bool,
    /// The connection task's waker, given back to the socket with the read side.
    engine: Option<Waker>,
    /// Bytes (or an end) read by a borrower, not yet taken by the connection task.
    handback: Option<Handback>,
    /// The borrower's read buffer (its length is free, initialised space).
    buf: BytesMut,
}

/// One connection's read side as REQ/REP `recv` may borrow it (see the module docs).
#[derive(Debug)]
pub(crate) struct ReadLease {
    stream: Weak<ConnHandle>,
    max_frame: Option<u64>,
    inner: Mutex<Inner>,
}

/// What a borrower's poll came to.
#[derive(Debug)]
pub(crate) enum Borrowed {
    /// One whole message read from the connection.
    Message(crate::Message),
    /// The lease is gone (handed back, or the connection ended): wait on the socket.
    Lost,
}

impl ReadLease {
    /// A lease over the connection behind `stream` (its write half, which shares the
    /// socket), for messages whose frames are at most `max_frame` bytes.
    pub(crate) fn new(stream: Weak<ConnHandle>, max_frame: Option<u64>) -> Self {
        ReadLease {
            stream,
            max_frame,
            inner: Mutex::new(Inner::default()),
        }
    }

    // ---- the connection task ------------------------------------------------------

    /// The connection task is idle between messages: a `recv` may borrow the read side
    /// until the task reads again. False while a hand-back waits for the task.
    pub(crate) fn offer(&self) -> bool {
        let mut g = self.inner.lock().unwrap();
        if g.handback.is_some() || g.closed {
            return false;
        }
        g.offered = true;
        true
    }

    /// The connection ended: a borrower lets go at its next poll.
    pub(crate) fn close(&self) {
        let mut g = self.inner.lock().unwrap();
        g.closed = true;
        g.offered = false;
    }

    /// The connection task's read: a hand-back first (as if read now), nothing while the
    /// read side is lent (the waker is kept for when it comes back), else a read from `rd`
    /// into `rbuf`. Reading takes the offer back. Returns the bytes added (0: end of stream).
    pub(crate) fn poll_engine_read<R: AsyncRead + Unpin>(
        &self,
        cx: &mut Context<'_>,
        rd: &mut R,
        rbuf: &mut BytesMut,
    ) -> Poll<std::io::Result<usize>> {
        let mut g = self.inner.lock().unwrap();
        if let Some(h) = g.handback.take() {
            return Poll::Ready(match h {
                Handback::Bytes(b) => {
                    rbuf.extend_from_slice(&b);
                    Ok(b.len())
                }
                Handback::Eof => Ok(0),
                Handback::Err(e) => Err(e),
            });
        }
        if !g.engine.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            g.engine = Some(cx.waker().clone());
        }
        if g.lent {
            return Poll::Pending;
        }
        // Read with the lock held: a `recv` borrowing now would register its waker and
        // have this read take its bytes, or have its waker replaced by this read's.
        let r = {
            let fut = rd.read_buf(rbuf);
            tokio::pin!(fut);
            std::future::Future::poll(fut, cx)
        };
        if r.is_ready() {
            g.offered = false;
        }
        r
    }

    // ---- the borrower (`recv`) ------------------------------------------------------

    /// Borrows the read side if it is offered and free.
    pub(crate) fn try_borrow(&self) -> bool {
        let mut g = self.inner.lock().unwrap();
        if !g.offered || g.lent || g.closed || g.handback.is_some() {
            return false;
        }
        g.lent = true;
        true
    }

    /// Reads as the borrower: a whole message, or `Lost` when the lease went back to the
    /// connection task (with whatever was read), or `Pending` with this task's waker
    /// registered for the socket's readiness.
    pub(crate) fn poll_borrowed(&self, cx: &mut Context<'_>) -> Poll<Borrowed> {
        let mut g = self.inner.lock().unwrap();
        if !g.lent {
            return Poll::Ready(Borrowed::Lost);
        }
        let Some(stream) = self.stream.upgrade().filter(|_| !g.closed) else {
            // The connection is going: not offered again.
            g.lent = false;
            g.offered = false;
            return Poll::Ready(Borrowed::Lost);
        };
        loop {
            if let Err(e) = std::task::ready!(stream.poll_read_ready(cx)) {
                self.hand_back(&mut g, &stream, Handback::Err(e));
                return Poll::Ready(Borrowed::Lost);
            }
            if g.buf.len() < BORROW_MIN {
                // Its own memory again once the messages read into it are gone (the
                // usual case in request-reply), else a new allocation.
                g.buf.clear();
                g.buf.reserve(BORROW_BUF);
                g.buf.resize(BORROW_BUF, 0);
            }
            match stream.try_read_drained(&mut g.buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    self.hand_back(&mut g, &stream, Handback::Err(e));
                    return Poll::Ready(Borrowed::Lost);
                }
                Ok(0) => {
                    self.hand_back(&mut g, &stream, Handback::Eof);
                    return Poll::Ready(Borrowed::Lost);
                }
                Ok(n) => {
                    let chunk = g.buf.split_to(n).freeze();
                    let max_frames = crate::zmtp::connection::MAX_FRAMES_PER_MESSAGE;
                    match crate::zmtp::frame::whole_message(&chunk, self.max_frame, max_frames) {
                        Some(m) => return Poll::Ready(Borrowed::Message(m)),
                        None => {
                            self.hand_back(&mut g, &stream, Handback::Bytes(chunk));
                            return Poll::Ready(Borrowed::Lost);
                        }
                    }
                }
            }
        }
    }

    /// Gives the read side back to the connection task with what it must take first,
    /// and wakes the task.
    fn hand_back(&self, g: &mut Inner, stream: &ConnHandle, h: Handback) {
        g.handback = Some(h);
        g.offered = false;
        self.give_back(g, stream, true);
    }

    /// Ends a borrow (the `recv` returned or was dropped): the socket's readiness goes
    /// back to the connection task, which is woken if bytes are already there.
    pub(crate) fn release(&self) {
        let mut g = self.inner.lock().unwrap();
        if !g.lent {
            return;
        }
        match self.stream.upgrade() {
            Some(stream) => self.give_back(&mut g, &stream, false),
            None => g.lent = false,
        }
    }

    fn give_back(&self, g: &mut Inner, stream: &ConnHandle, wake: bool) {
        g.lent = false;
        let Some(w) = g.engine.as_ref() else {
            // The task has not polled its read since the offer: it registers itself then.
            return;
        };
        let ready = stream
            .poll_read_ready(&mut Context::from_waker(w))
            .is_ready();
        if wake || ready {
            w.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::zmtp::frame::whole_message;
    use bytes::Bytes;

    fn parse(b: &[u8]) -> Option<Vec<Vec<u8>>> {
        whole_message(&Bytes::copy_from_slice(b), Some(100), 4)
            .map(|m| m.iter().map(|f| f.to_vec()).collect())
    }

    #[test]
    fn whole_messages_are_kept_anything_else_is_not() {
        assert_eq!(parse(b"\x00\x03abc"), Some(vec![b"abc".to_vec()]));
        assert_eq!(
            parse(b"\x01\x00\x00\x02hi"),
            Some(vec![vec![], b"hi".to_vec()])
        );
        assert_eq!(
            parse(b"\x02\x00\x00\x00\x00\x00\x00\x00\x01x"),
            Some(vec![b"x".to_vec()])
        );
        // Part of a message: a header, a body, a last frame missing.
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\x00"), None);
        assert_eq!(parse(b"\x00\x03ab"), None);
        assert_eq!(parse(b"\x01\x00"), None);
        assert_eq!(parse(b"\x02\x00\x00"), None);
        // More than one message, a command, reserved flags, too large, too many frames.
        assert_eq!(parse(b"\x00\x00\x00\x00"), None);
        assert_eq!(parse(b"\x04\x05\x04PING"), None);
        assert_eq!(parse(b"\x08\x00"), None);
        assert_eq!(parse(b"\x02\xff\xff\xff\xff\xff\xff\xff\xff"), None);
        assert_eq!(parse(&[&[0u8, 101][..], &[0; 101]].concat()), None);
        assert_eq!(parse(b"\x01\x00\x01\x00\x01\x00\x01\x00\x00\x00"), None);
        assert_eq!(
            parse(b"\x01\x00\x01\x00\x01\x00\x00\x00").map(|m| m.len()),
            Some(4)
        );
    }
}
