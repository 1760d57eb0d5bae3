//! Listeners handed over by socket activation (systemd, `systemfd`, s6 and others): the
//! parent passes listening sockets as descriptors 3, 4, ... and says so in `LISTEN_FDS`
//! (how many) and `LISTEN_PID` (the process meant to take them). ZMQ_USE_FD by number is
//! taken for those descriptors only: they are known to be open, owned by nobody else in
//! this process, and sockets. Any other number could be anything (a file, another
//! library's socket), and safe Rust has no way to adopt it.
//!
//! The `listenfd` crate does the conversion of a descriptor number into an owned socket,
//! checking its family and type first. It reads the two variables once and removes them
//! from the environment (as systemd's `sd_listen_fds(1)` does), so that a child process
//! does not take them for its own; this module keeps what it read for the process's
//! lifetime. Each descriptor is adopted once: the socket then owns it. (Changing the
//! environment races with C code reading it on other threads, as anywhere: a program that
//! runs such code on other threads should set USE_FD before it starts them.)

use crate::{Error, Result};
use std::sync::Mutex;

/// The descriptors handed to this process, once read from the environment.
struct Handed {
    /// The first descriptor (3, or `LISTEN_FDS_FIRST_FD` where a launcher sets it).
    first: i32,
    /// How many (`LISTEN_FDS`).
    count: i32,
    /// Those not yet adopted.
    fds: listenfd::ListenFd,
}

static HANDED: Mutex<Option<Handed>> = Mutex::new(None);

/// A note for refusals: what was handed, and the safe alternative.
fn refusal(fd: i32, why: &str) -> Error {
    Error::inval(format!(
        "descriptor {fd} {why}; ZMQ_USE_FD takes only a listener handed by socket \
         activation (LISTEN_FDS/LISTEN_PID): safe Rust cannot adopt any other descriptor by \
         number, so pass the owned listener to Socket::bind_listener instead"
    ))
}

/// Reads `LISTEN_FDS` and `LISTEN_PID` when nothing was read yet and they are meant for
/// this process (a `LISTEN_PID` of another process, or none, hands nothing: the
/// variables may have been inherited from a parent that was activated itself).
fn handed(slot: &mut Option<Handed>) -> Option<&mut Handed> {
    if slot.is_none() {
        let ours = std::env::var("LISTEN_PID")
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            == Some(std::process::id());
        let count = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|n| n.trim().parse::<i32>().ok())
            .filter(|&n| n > 0);
        let first = std::env::var("LISTEN_FDS_FIRST_FD")
            .ok()
            .and_then(|n| n.trim().parse::<i32>().ok())
            .unwrap_or(3);
        if let (true, Some(count)) = (ours, count) {
            let fds = listenfd::ListenFd::from_env();
            if fds.len() == count as usize {
                *slot = Some(Handed { first, count, fds });
            }
        }
    }
    slot.as_mut()
}

/// The record of what was handed, `fd` among it; `EINVAL` saying why not otherwise.
fn in_range(slot: &mut Option<Handed>, fd: i32) -> Result<&mut Handed> {
    match handed(slot) {
        None => Err(refusal(
            fd,
            "was not handed to this process (no LISTEN_FDS with a LISTEN_PID of this process)",
        )),
        Some(h) if fd < h.first || fd - h.first >= h.count => Err(refusal(
            fd,
            &format!(
                "is not among those handed to this process ({} to {})",
                h.first,
                h.first + h.count - 1
            ),
        )),
        Some(h) => Ok(h),
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<Handed>> {
    HANDED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks that `fd` is a descriptor handed by socket activation to this process
/// (`first <= fd < first + LISTEN_FDS`); `EINVAL` saying why not otherwise.
pub(crate) fn check(fd: i32) -> Result<()> {
    in_range(&mut lock(), fd).map(|_| ())
}

/// Adopts the handed descriptor `fd` with `take` (listenfd's check of its kind and the
/// conversion). `EINVAL` when it was not handed, was adopted before, or is not of the
/// kind asked for (it is then left in place).
fn adopt<T>(
    fd: i32,
    take: impl FnOnce(&mut listenfd::ListenFd, usize) -> std::io::Result<Option<T>>,
) -> Result<T> {
    let mut slot = lock();
    let h = in_range(&mut slot, fd)?;
    let idx = (fd - h.first) as usize;
    match take(&mut h.fds, idx) {
        Ok(Some(listener)) => Ok(listener),
        Ok(None) => Err(refusal(
            fd,
            "was adopted already by an earlier bind (each handed listener serves one bind)",
        )),
        Err(e) => Err(Error::inval(format!(
            "descriptor {fd} cannot serve this endpoint's transport: {e}"
        ))),
    }
}

/// Adopts the handed descriptor `fd` as a TCP listener (IPv4 or IPv6).
pub(crate) fn take_tcp(fd: i32) -> Result<std::net::TcpListener> {
    adopt(fd, |fds, idx| fds.take_tcp_listener(idx))
}

/// Adopts the handed descriptor `fd` as a Unix stream listener.
pub(crate) fn take_unix(fd: i32) -> Result<std::os::unix::net::UnixListener> {
    adopt(fd, |fds, idx| fds.take_unix_listener(idx))
}
