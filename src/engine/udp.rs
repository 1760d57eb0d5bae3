//! `udp://` for RADIO, DISH and DGRAM (libzmq 4.3.5's UDP engine): no handshake, no ZMTP,
//! one task per endpoint. A RADIO's `connect` sends each message queued for its UDP peer as one
//! datagram (the peer takes every group: a UDP destination cannot say what it joined); a
//! DISH's `bind` delivers each datagram as a message with its group (the DISH keeps only
//! the groups it joined) and drops the joins and leaves queued for it, as libzmq does.
//! A datagram that does not parse (empty, or a group length past its end) is dropped.

use crate::monitor::EventKind;
use crate::plane::state::{Attached, Outbound, PeerId, Via};
use crate::plane::Shared;
use crate::transport::raw_fd;
use crate::transport::udp::{self, decode_datagram, encode_datagram, UdpEndpoint};
use crate::Message;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Items taken from the queue per lock, datagrams read per lock.
const BATCH: usize = 256;
/// Receive buffer: any UDP datagram fits (libzmq reads at most `MAX_DATAGRAM` bytes and
/// cuts the rest; here a longer datagram from another sender arrives whole).
const RECV_BUF: usize = 64 * 1024;

/// RADIO `connect` to `udp://`: opens the sending socket, then sends what is queued for
/// peer `id` until the endpoint is disconnected or the socket closes (after sending what
/// was queued, when closing).
pub(crate) async fn sender(
    shared: Arc<Shared>,
    ep: UdpEndpoint,
    endpoint: String,
    token: CancellationToken,
    id: PeerId,
) {
    let (hops, multicast_loop) = {
        let st = shared.state.lock().unwrap();
        (st.opts.multicast_hops, st.opts.multicast_loop)
    };
    let opened = tokio::select! {
        r = udp::connect(&ep, hops, multicast_loop) => Some(r),
        _ = token.cancelled() => None,
        _ = shared.terminate.cancelled() => None,
    };
    let (sock, target) = match opened {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            let err = crate::Error::from(e);
            tracing::warn!("{endpoint}: cannot open the UDP socket: {err}");
            shared.emit_kind(
                EventKind::ConnectDelayed,
                err.kind().errno() as u32,
                &endpoint,
                Some(err.to_string()),
            );
            shared.detach(id, true, false);
            return;
        }
        None => {
            shared.detach(id, true, false);
            return;
        }
    };
    shared.emit_kind(EventKind::Connected, raw_fd(&sock), &endpoint, None);
    let Some(att) = shared.attach(
        Some(id),
        Bytes::new(),
        &token,
        &endpoint,
        true,
        Via::default(),
    ) else {
        return;
    };
    let mut items = VecDeque::new();
    let mut datagram = Vec::with_capacity(udp::MAX_DATAGRAM);
    'run: loop {
        shared.pull_items(id, &mut items, BATCH);
        if items.is_empty() {
            if shared.closing.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = att.out_wake.notified() => {}
                _ = att.kill.cancelled() => break,
                _ = token.cancelled() => break,
                _ = shared.closing.cancelled() => {}
                _ = shared.terminate.cancelled() => break,
            }
            continue;
        }
        for item in items.drain(..) {
            // Joins and leaves never reach a RADIO's queue; only messages do.
            let Outbound::Msg(m) = item else { continue };
            if m.len() != 1 || !encode_datagram(m.group(), &m[0], &mut datagram) {
                tracing::debug!("{endpoint}: a message too long for a datagram is dropped");
                continue;
            }
            let sent = tokio::select! {
                r = sock.send_to(&datagram, target) => r,
                _ = shared.terminate.cancelled() => break 'run,
                _ = token.cancelled() => break 'run,
            };
            if let Err(e) = sent {
                // As libzmq: the datagram is lost, the endpoint stays.
                tracing::debug!("{endpoint}: datagram not sent: {e}");
            }
        }
    }
    shared.emit_kind(EventKind::Disconnected, raw_fd(&sock), &endpoint, None);
    shared.detach(id, true, false);
}

/// The peer a bound `udp://` socket (a DISH's or a DGRAM's) stands for: one raw, accepted
/// peer per bind, with no identity. `None` when the socket is closing.
fn attach_bound(shared: &Shared, token: &CancellationToken, endpoint: &str) -> Option<Attached> {
    let via = Via {
        accepted: true,
        ..Via::default()
    };
    shared.attach(None, Bytes::new(), token, endpoint, true, via)
}

/// DISH `bind` to `udp://`: delivers each datagram of `sock` as a message until unbound or
/// closed. Under RCVHWM it stops reading (the kernel's buffer holds, then drops, what
/// comes meanwhile).
pub(crate) async fn receiver(
    shared: Arc<Shared>,
    sock: UdpSocket,
    endpoint: String,
    token: CancellationToken,
) {
    let fd = raw_fd(&sock);
    let Some(att) = attach_bound(&shared, &token, &endpoint) else {
        return;
    };
    let id = att.id;
    let mut buf = vec![0u8; RECV_BUF];
    let mut msgs = VecDeque::new();
    let mut subs = Vec::new();
    let mut items = VecDeque::new();
    loop {
        // The DISH's joins and leaves: a UDP sender cannot hear them.
        shared.pull_items(id, &mut items, BATCH);
        items.clear();
        let room = shared.in_room(id);
        if room == 0 {
            tokio::select! {
                _ = att.in_space.notified() => continue,
                _ = att.out_wake.notified() => continue,
                _ = token.cancelled() => break,
                _ = shared.closing.cancelled() => break,
                _ = shared.terminate.cancelled() => break,
            }
        }
        let got = tokio::select! {
            r = sock.recv_from(&mut buf) => r,
            _ = att.out_wake.notified() => continue,
            _ = token.cancelled() => break,
            _ = shared.closing.cancelled() => break,
            _ = shared.terminate.cancelled() => break,
        };
        let mut got = got.map(|(n, _)| n);
        loop {
            match got {
                Ok(n) => {
                    if let Some(m) = datagram_message(&buf[..n]) {
                        msgs.push_back(m);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP errors reported on the socket concern a datagram, not it.
                    tracing::debug!("{endpoint}: {e}");
                    break;
                }
            }
            if msgs.len() >= room.min(BATCH) {
                break;
            }
            got = sock.try_recv_from(&mut buf).map(|(n, _)| n);
        }
        if !msgs.is_empty() {
            shared.deliver(id, &mut subs, &mut msgs, room);
        }
    }
    shared.emit_kind(EventKind::Closed, fd, &endpoint, None);
    shared.detach(id, true, false);
}

/// DGRAM `bind` to `udp://`: sends each queued `[ip:port, body]` message's body to that
/// address, and delivers each datagram received as `[sender's ip:port, body]` (see
/// [`udp::dgram_address_frame`]), until unbound or closed (after sending what was queued,
/// when closing). Under RCVHWM it stops reading, as the DISH's receiver does. A datagram
/// arrives whole (libzmq cuts one at `MAX_DATAGRAM` bytes); a body the kernel refuses to
/// send (too long for a datagram) is dropped, as libzmq drops what `sendto` refuses.
pub(crate) async fn dgram(
    shared: Arc<Shared>,
    sock: UdpSocket,
    endpoint: String,
    token: CancellationToken,
) {
    let fd = raw_fd(&sock);
    let Some(att) = attach_bound(&shared, &token, &endpoint) else {
        return;
    };
    let id = att.id;
    let mut buf = vec![0u8; RECV_BUF];
    let mut msgs = VecDeque::new();
    let mut subs = Vec::new();
    let mut items = VecDeque::new();
    // The last sender's address frame: a peer usually sends more than one datagram, and
    // the frame is text to format (shared, not copied, by every message it names).
    let mut last_from: Option<(std::net::SocketAddr, Bytes)> = None;
    'run: loop {
        shared.pull_items(id, &mut items, BATCH);
        let sent_any = !items.is_empty();
        for item in items.drain(..) {
            // Only messages reach a DGRAM's queue, each checked at `send`.
            let Outbound::Msg(m) = item else { continue };
            let to = (m.len() == 2)
                .then(|| udp::parse_dgram_address(&m[0]))
                .flatten();
            let Some(to) = to else { continue };
            let sent = tokio::select! {
                r = sock.send_to(&m[1], to) => r,
                _ = att.kill.cancelled() => break 'run,
                _ = token.cancelled() => break 'run,
                _ = shared.terminate.cancelled() => break 'run,
            };
            if let Err(e) = sent {
                // As libzmq: the datagram is lost, the endpoint stays.
                tracing::debug!("{endpoint}: datagram to {to} not sent: {e}");
            }
        }
        let closing = shared.closing.is_cancelled();
        if closing {
            // Closing: send what is still queued, receive nothing more.
            if sent_any {
                continue;
            }
            break;
        }
        let room = shared.in_room(id);
        let mut got_any = false;
        while room > 0 && msgs.len() < room.min(BATCH) {
            match sock.try_recv_from(&mut buf) {
                Ok((n, from)) => {
                    let frame = match &last_from {
                        Some((addr, frame)) if *addr == from => frame.clone(),
                        _ => {
                            let frame = udp::dgram_address_frame(from);
                            last_from = Some((from, frame.clone()));
                            frame
                        }
                    };
                    let mut m = Message::from(frame);
                    m.push_back(Bytes::copy_from_slice(&buf[..n]));
                    msgs.push_back(m);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP errors reported on the socket concern a datagram, not it.
                    tracing::debug!("{endpoint}: {e}");
                    break;
                }
            }
        }
        if !msgs.is_empty() {
            got_any = true;
            shared.deliver(id, &mut subs, &mut msgs, room);
        }
        if sent_any || got_any {
            continue;
        }
        tokio::select! {
            r = sock.readable(), if room > 0 => {
                if let Err(e) = r {
                    tracing::debug!("{endpoint}: {e}");
                }
            }
            _ = att.in_space.notified(), if room == 0 => {}
            _ = att.out_wake.notified() => {}
            _ = shared.closing.cancelled() => {}
            _ = att.kill.cancelled() => break,
            _ = token.cancelled() => break,
            _ = shared.terminate.cancelled() => break,
        }
    }
    shared.emit_kind(EventKind::Closed, fd, &endpoint, None);
    shared.detach(id, true, false);
}

/// A datagram as a DISH's message (`None`: malformed, dropped).
fn datagram_message(d: &[u8]) -> Option<Message> {
    let (group, body) = decode_datagram(d)?;
    let mut m = Message::from(Bytes::copy_from_slice(body));
    m.set_group_lossy(group);
    Some(m)
}
