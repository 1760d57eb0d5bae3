//! Monitor events: their numbers (libzmq's `ZMQ_EVENT_*`, checked against zmq.h and
//! pyzmq), the sequences of a normal connect/disconnect on both sides, refused connects
//! with their retry intervals, failed handshakes with libzmq's protocol error codes,
//! BIND_FAILED, MONITOR_STOPPED, and the bounded backlog.
//!
//! Where libzmq 4.3.5 reports the same scenario differently, the tests say so in a comment
//! (they check what both agree on and what this crate documents).

mod support;

use std::time::Duration;

use aiozmq::socket::monitor::protocol_error;
use aiozmq::{EventKind, Monitor, MonitorEvent, Socket, SocketType};
use support::mock::{command_frame, greeting, MockPeer};
use support::{bind_any, connect, msg, recv, send, OP_TIMEOUT};
use tokio::net::TcpListener;

/// The next event; fails after [`OP_TIMEOUT`] or when the monitor ended.
async fn next(mon: &mut Monitor) -> MonitorEvent {
    match tokio::time::timeout(OP_TIMEOUT, mon.recv()).await {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("the monitor ended"),
        Err(_) => panic!("no monitor event within {OP_TIMEOUT:?}"),
    }
}

/// The next events, which must be of these kinds in this order.
async fn expect(mon: &mut Monitor, kinds: &[EventKind]) -> Vec<MonitorEvent> {
    let mut got = Vec::new();
    for (i, want) in kinds.iter().enumerate() {
        let ev = next(mon).await;
        assert_eq!(
            ev.kind, *want,
            "event #{i}: expected {kinds:?}, got {got:?} then {ev:?}"
        );
        got.push(ev);
    }
    got
}

/// After close: MONITOR_STOPPED is the last event, then `recv` returns `None`.
async fn expect_stopped(mon: &mut Monitor) {
    let ev = next(mon).await;
    assert_eq!(ev.kind, EventKind::MonitorStopped, "{ev:?}");
    assert_eq!(ev.value, 0);
    match tokio::time::timeout(OP_TIMEOUT, mon.recv()).await {
        Ok(None) => {}
        Ok(Some(ev)) => panic!("an event after MONITOR_STOPPED: {ev:?}"),
        Err(_) => panic!("recv after MONITOR_STOPPED did not return None"),
    }
}

/// A TCP endpoint on which nothing listens: the port stays bound (so no other test can
/// take it) by the returned socket, which never listens, so connects to it are refused.
fn closed_port() -> (tokio::net::TcpSocket, String) {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let ep = format!("tcp://{}", s.local_addr().unwrap());
    (s, ep)
}

// ----- Numbers ---------------------------------------------------------------------------

/// zmq.h's `ZMQ_EVENT_*` values and `ZMQ_PROTOCOL_ERROR_*` codes.
#[test]
fn event_numbers_are_libzmqs() {
    let _panics = support::check_library_panics();
    let zmq_h: [(EventKind, u16, &str); 15] = [
        (EventKind::Connected, 0x0001, "CONNECTED"),
        (EventKind::ConnectDelayed, 0x0002, "CONNECT_DELAYED"),
        (EventKind::ConnectRetried, 0x0004, "CONNECT_RETRIED"),
        (EventKind::Listening, 0x0008, "LISTENING"),
        (EventKind::BindFailed, 0x0010, "BIND_FAILED"),
        (EventKind::Accepted, 0x0020, "ACCEPTED"),
        (EventKind::AcceptFailed, 0x0040, "ACCEPT_FAILED"),
        (EventKind::Closed, 0x0080, "CLOSED"),
        (EventKind::CloseFailed, 0x0100, "CLOSE_FAILED"),
        (EventKind::Disconnected, 0x0200, "DISCONNECTED"),
        (EventKind::MonitorStopped, 0x0400, "MONITOR_STOPPED"),
        (
            EventKind::HandshakeFailedNoDetail,
            0x0800,
            "HANDSHAKE_FAILED_NO_DETAIL",
        ),
        (EventKind::HandshakeSucceeded, 0x1000, "HANDSHAKE_SUCCEEDED"),
        (
            EventKind::HandshakeFailedProtocol,
            0x2000,
            "HANDSHAKE_FAILED_PROTOCOL",
        ),
        (
            EventKind::HandshakeFailedAuth,
            0x4000,
            "HANDSHAKE_FAILED_AUTH",
        ),
    ];
    for (kind, raw, name) in zmq_h {
        assert_eq!(kind.to_raw(), raw, "{kind:?}");
        assert_eq!(EventKind::from_raw(raw), Some(kind), "{raw:#x}");
        assert_eq!(kind.name(), name);
    }
    assert_eq!(EventKind::from_raw(0x8000), None);
    assert_eq!(EventKind::from_raw(0), None);
    assert_eq!(protocol_error::ZMTP_UNSPECIFIED, 0x1000_0000);
    assert_eq!(protocol_error::ZMTP_UNEXPECTED_COMMAND, 0x1000_0001);
    assert_eq!(
        protocol_error::ZMTP_MALFORMED_COMMAND_UNSPECIFIED,
        0x1000_0011
    );
    assert_eq!(protocol_error::ZMTP_MALFORMED_COMMAND_ERROR, 0x1000_0015);
    assert_eq!(protocol_error::ZMTP_MALFORMED_COMMAND_READY, 0x1000_0016);
    assert_eq!(protocol_error::ZMTP_INVALID_METADATA, 0x1000_0018);
    assert_eq!(protocol_error::ZMTP_MECHANISM_MISMATCH, 0x1100_0002);
}

/// The same numbers as the libzmq that pyzmq ships (`zmq.EVENT_*`).
#[cfg_attr(
    windows,
    ignore = "needs the Python (pyzmq) peers, which run on Linux only"
)]
#[test]
fn event_numbers_match_pyzmq() {
    let _panics = support::check_library_panics();
    let python = support::python::venv_python();
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import zmq\n\
             for n in dir(zmq):\n\
             \x20   if n.startswith('EVENT_') and n not in ('EVENT_ALL', 'EVENT_ALL_V1', 'EVENT_ALL_V2'):\n\
             \x20       print(n[6:], int(getattr(zmq, n)))\n\
             print('PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH', int(zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH))\n\
             print('PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND', int(zmq.PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND))",
        ])
        .output()
        .expect("running pyzmq");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let (name, value) = line.split_once(' ').unwrap();
        let value: u32 = value.parse().unwrap();
        match name {
            "PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH" => {
                assert_eq!(protocol_error::ZMTP_MECHANISM_MISMATCH, value)
            }
            "PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND" => {
                assert_eq!(protocol_error::ZMTP_UNEXPECTED_COMMAND, value)
            }
            _ => {
                // pyzmq also has draft events (PIPES_STATS) that we do not emit.
                if let Some(kind) = EventKind::ALL.into_iter().find(|k| k.name() == name) {
                    assert_eq!(kind.to_raw() as u32, value, "{name}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, EventKind::ALL.len(), "pyzmq printed:\n{text}");
}

// ----- Normal connect and disconnect -----------------------------------------------------

/// Connecting side: CONNECTED (fd), HANDSHAKE_SUCCEEDED (0); when the peer closes,
/// DISCONNECTED (same fd), then CONNECT_RETRIED (the interval) and refused attempts;
/// MONITOR_STOPPED last after close. (libzmq 4.3.5 also reports CONNECT_DELAYED with
/// EINPROGRESS before CONNECTED and a CLOSED after each refused attempt.)
#[tokio::test]
async fn connecting_side_sequence() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let ep = bind_any(&router).await;
    let dealer = Socket::new(SocketType::Dealer);
    dealer
        .set_reconnect_ivl(Duration::from_millis(100))
        .unwrap();
    let mut mon = dealer.monitor(1000);
    connect(&dealer, &ep).await;
    send(&dealer, "hello", "DEALER send").await;
    recv(&router, "ROUTER recv").await;
    let up = expect(
        &mut mon,
        &[EventKind::Connected, EventKind::HandshakeSucceeded],
    )
    .await;
    let fd = up[0].value;
    assert!(fd > 2, "CONNECTED carries the fd: {:?}", up[0]);
    assert_eq!(up[1].value, 0);
    for ev in &up {
        assert_eq!(ev.endpoint, ep, "{ev:?}");
    }

    support::close(&router).await;
    let down = expect(
        &mut mon,
        &[EventKind::Disconnected, EventKind::ConnectRetried],
    )
    .await;
    assert_eq!(down[0].value, fd, "DISCONNECTED carries the fd: {down:?}");
    assert_eq!(
        down[1].value, 100,
        "CONNECT_RETRIED carries the interval in ms"
    );
    // The next attempt is refused, and retried after the interval.
    let mut retried = Vec::new();
    while retried.len() < 2 {
        let ev = next(&mut mon).await;
        match ev.kind {
            EventKind::ConnectDelayed | EventKind::Closed => {}
            EventKind::ConnectRetried => retried.push(ev.value),
            _ => panic!("unexpected event while reconnecting: {ev:?}"),
        }
    }
    assert_eq!(retried, [100, 100]);
    support::close(&dealer).await;
    loop {
        let ev = next(&mut mon).await;
        if ev.kind == EventKind::MonitorStopped {
            break;
        }
        assert!(
            matches!(
                ev.kind,
                EventKind::ConnectDelayed | EventKind::ConnectRetried | EventKind::Closed
            ),
            "unexpected event while closing: {ev:?}"
        );
    }
    assert!(mon.recv().await.is_none(), "an event after MONITOR_STOPPED");
}

/// Binding side: LISTENING (listener fd), ACCEPTED (connection fd), HANDSHAKE_SUCCEEDED;
/// when the peer closes, DISCONNECTED and CLOSED (connection fd); on close, CLOSED
/// (listener fd) and MONITOR_STOPPED. (libzmq 4.3.5 reports no per-connection CLOSED.)
#[tokio::test]
async fn binding_side_sequence() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let mut mon = router.monitor(1000);
    let ep = bind_any(&router).await;
    let dealer = Socket::new(SocketType::Dealer);
    connect(&dealer, &ep).await;
    send(&dealer, "hello", "DEALER send").await;
    recv(&router, "ROUTER recv").await;
    let up = expect(
        &mut mon,
        &[
            EventKind::Listening,
            EventKind::Accepted,
            EventKind::HandshakeSucceeded,
        ],
    )
    .await;
    let (listener_fd, conn_fd) = (up[0].value, up[1].value);
    assert!(
        listener_fd > 2 && conn_fd > 2 && listener_fd != conn_fd,
        "{up:?}"
    );
    for ev in &up {
        assert_eq!(ev.endpoint, ep, "{ev:?}");
    }

    support::close(&dealer).await;
    let down = expect(&mut mon, &[EventKind::Disconnected, EventKind::Closed]).await;
    assert_eq!(down[0].value, conn_fd, "{down:?}");
    assert_eq!(down[1].value, conn_fd, "{down:?}");

    support::close(&router).await;
    let closed = next(&mut mon).await;
    assert_eq!(
        (closed.kind, closed.value, closed.endpoint.as_str()),
        (EventKind::Closed, listener_fd, ep.as_str()),
        "the listener's CLOSED"
    );
    expect_stopped(&mut mon).await;
}

// ----- Refused connects ------------------------------------------------------------------

/// Nothing listens: each attempt is CONNECT_DELAYED (an errno) then CONNECT_RETRIED with
/// the interval, doubling from RECONNECT_IVL up to RECONNECT_IVL_MAX (libzmq reports
/// 50, 100, 200, 200 for the same settings). No CONNECTED ever.
#[tokio::test]
async fn refused_connect_is_retried_with_backoff() {
    let _panics = support::check_library_panics();
    let (_reserved, ep) = closed_port();
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_reconnect_ivl(Duration::from_millis(50)).unwrap();
    dealer
        .set_reconnect_ivl_max(Duration::from_millis(200))
        .unwrap();
    let mut mon = dealer.monitor(1000);
    connect(&dealer, &ep).await;
    let mut retried = Vec::new();
    let mut delayed = 0;
    while retried.len() < 5 {
        let ev = next(&mut mon).await;
        assert_eq!(ev.endpoint, ep, "{ev:?}");
        match ev.kind {
            EventKind::ConnectDelayed => {
                assert_ne!(ev.value, 0, "CONNECT_DELAYED carries an errno: {ev:?}");
                assert_eq!(delayed, retried.len(), "one CONNECT_DELAYED per attempt");
                delayed += 1;
            }
            EventKind::ConnectRetried => {
                assert_eq!(
                    delayed,
                    retried.len() + 1,
                    "CONNECT_RETRIED after the attempt"
                );
                retried.push(ev.value);
            }
            // libzmq closes the attempt's socket (CLOSED) before scheduling the retry.
            EventKind::Closed => {}
            _ => panic!("unexpected event for a refused connect: {ev:?}"),
        }
    }
    assert_eq!(retried, [50, 100, 200, 200, 200]);
    support::close(&dealer).await;
}

/// Without RECONNECT_IVL_MAX the interval stays RECONNECT_IVL.
#[tokio::test]
async fn refused_connect_without_backoff_keeps_the_interval() {
    let _panics = support::check_library_panics();
    let (_reserved, ep) = closed_port();
    let dealer = Socket::new(SocketType::Dealer);
    dealer.set_reconnect_ivl(Duration::from_millis(30)).unwrap();
    let mut mon = dealer.monitor(1000);
    connect(&dealer, &ep).await;
    let mut retried = Vec::new();
    while retried.len() < 4 {
        let ev = next(&mut mon).await;
        if ev.kind == EventKind::ConnectRetried {
            retried.push(ev.value);
        }
    }
    assert_eq!(retried, [30, 30, 30, 30]);
    support::close(&dealer).await;
}

// ----- Failed handshakes -----------------------------------------------------------------

/// Our DEALER connects to a mock that answers with `greeting`: returns the events from
/// CONNECTED on (at most `n`).
async fn connect_to_bad_peer(greeting_bytes: &[u8], then: &[u8], n: usize) -> Vec<MonitorEvent> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let dealer = Socket::new(SocketType::Dealer);
    dealer
        .set_reconnect_ivl(Duration::from_millis(200))
        .unwrap();
    let mut mon = dealer.monitor(1000);
    connect(&dealer, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.send_bytes(greeting_bytes).await;
    m.send_bytes(then).await;
    let mut events = Vec::new();
    while events.len() < n {
        events.push(next(&mut mon).await);
    }
    support::close(&dealer).await;
    events
}

/// A peer with another security mechanism: HANDSHAKE_FAILED_PROTOCOL with
/// ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, as libzmq reports it.
#[tokio::test]
async fn mechanism_mismatch_is_handshake_failed_protocol() {
    let _panics = support::check_library_panics();
    let events = connect_to_bad_peer(&greeting(3, 1, "PLAIN", false), b"", 2).await;
    assert_eq!(events[0].kind, EventKind::Connected, "{events:?}");
    assert_eq!(
        (events[1].kind, events[1].value),
        (
            EventKind::HandshakeFailedProtocol,
            protocol_error::ZMTP_MECHANISM_MISMATCH
        ),
        "{events:?}"
    );
    assert!(events[1].reason.is_some(), "a readable reason: {events:?}");
}

/// A command other than READY first: ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND (libzmq's
/// value for the same bytes).
#[tokio::test]
async fn command_before_ready_is_unexpected_command() {
    let _panics = support::check_library_panics();
    let ping = command_frame(b"PING", &[0, 0]);
    let events = connect_to_bad_peer(&greeting(3, 1, "NULL", false), &ping, 2).await;
    assert_eq!(
        (events[1].kind, events[1].value),
        (
            EventKind::HandshakeFailedProtocol,
            protocol_error::ZMTP_UNEXPECTED_COMMAND
        ),
        "{events:?}"
    );
}

/// The bind side reports a bad peer the same way: a message frame before READY.
#[tokio::test]
async fn bind_side_message_before_ready_is_unexpected_command() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let mut mon = router.monitor(1000);
    let ep = bind_any(&router).await;
    let mut m = MockPeer::connect(&ep).await;
    m.send_bytes(&greeting(3, 1, "NULL", false)).await;
    m.send_bytes(&[0x00, 0x03, b'a', b'b', b'c']).await;
    let events = expect(
        &mut mon,
        &[
            EventKind::Listening,
            EventKind::Accepted,
            EventKind::HandshakeFailedProtocol,
        ],
    )
    .await;
    assert_eq!(
        events[2].value,
        protocol_error::ZMTP_UNEXPECTED_COMMAND,
        "{events:?}"
    );
    assert_eq!(events[2].endpoint, ep);
    // The connection is closed and no peer was added.
    m.read_until_closed().await;
    assert_eq!(router.counters().peers, 0);
    support::close(&router).await;
}

/// The peer goes away in the middle of the greeting: HANDSHAKE_FAILED_NO_DETAIL with an
/// errno (libzmq reports EPIPE or ECONNRESET here), then a retry.
#[cfg_attr(
    windows,
    ignore = "reads the value as an OS error number; Windows numbers errors otherwise (WSAE*)"
)]
#[tokio::test]
async fn peer_closing_during_greeting_is_no_detail() {
    let _panics = support::check_library_panics();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let dealer = Socket::new(SocketType::Dealer);
    dealer
        .set_reconnect_ivl(Duration::from_millis(200))
        .unwrap();
    let mut mon = dealer.monitor(1000);
    connect(&dealer, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.read_bytes(10).await;
    drop(m);
    let events = expect(
        &mut mon,
        &[EventKind::Connected, EventKind::HandshakeFailedNoDetail],
    )
    .await;
    let errno = events[1].value;
    let kind = std::io::Error::from_raw_os_error(errno as i32).kind();
    assert!(
        matches!(
            kind,
            std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
        ),
        "HANDSHAKE_FAILED_NO_DETAIL should carry EPIPE or ECONNRESET, got {errno} \
         ({kind:?}): {events:?}"
    );
    // A failed handshake is retried after the interval.
    let mut kinds = Vec::new();
    loop {
        let ev = next(&mut mon).await;
        kinds.push(ev.kind);
        if ev.kind == EventKind::ConnectRetried {
            assert_eq!(ev.value, 200, "{ev:?}");
            break;
        }
        assert!(
            matches!(ev.kind, EventKind::Disconnected | EventKind::Closed),
            "unexpected event after the failed handshake: {kinds:?}"
        );
    }
    support::close(&dealer).await;
}

// ----- Bind failures ---------------------------------------------------------------------

/// Binding an address in use: the error, and BIND_FAILED with the errno (EADDRINUSE as
/// the OS numbers it) on the endpoint.
#[cfg_attr(
    windows,
    ignore = "reads the value as an OS error number; Windows numbers errors otherwise (WSAE*)"
)]
#[tokio::test]
async fn bind_failed_for_address_in_use() {
    let _panics = support::check_library_panics();
    let first = Socket::new(SocketType::Router);
    let ep = bind_any(&first).await;
    let addr = ep.strip_prefix("tcp://").unwrap();
    let addr_in_use = std::net::TcpListener::bind(addr)
        .err()
        .and_then(|e| e.raw_os_error())
        .expect("binding a bound address fails with an OS error");

    let second = Socket::new(SocketType::Router);
    let mut mon = second.monitor(1000);
    match tokio::time::timeout(OP_TIMEOUT, second.bind(&ep)).await {
        Ok(Err(e)) => assert_eq!(e.kind(), aiozmq::ErrorKind::AddrInUse, "{e}"),
        Ok(Ok(got)) => panic!("second bind to {ep} succeeded ({got})"),
        Err(_) => panic!("bind did not return"),
    }
    let ev = next(&mut mon).await;
    assert_eq!(
        (ev.kind, ev.value as i32),
        (EventKind::BindFailed, addr_in_use),
        "{ev:?}"
    );
    assert!(ev.endpoint.contains(addr), "{ev:?}");
    assert!(mon.try_recv().is_none(), "nothing else: no LISTENING");
    support::close(&second).await;
    expect_stopped(&mut mon).await;
    support::close(&first).await;
}

// ----- Stopping and the backlog ----------------------------------------------------------

/// `disable_monitor` ends every monitor with MONITOR_STOPPED; later events go nowhere.
#[tokio::test]
async fn disable_monitor_stops_with_monitor_stopped() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Dealer);
    let mut a = s.monitor(10);
    let mut b = s.monitor(10);
    s.disable_monitor();
    bind_any(&s).await;
    expect_stopped(&mut a).await;
    expect_stopped(&mut b).await;
    support::close(&s).await;
}

/// monitor(2): a burst of 20 events keeps only the newest two, counting the rest as
/// dropped; on close MONITOR_STOPPED still arrives, as the last event.
#[tokio::test]
async fn bounded_backlog_keeps_the_newest() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Router);
    let mut mon = s.monitor(2);
    let mut last = String::new();
    for _ in 0..10 {
        last = bind_any(&s).await;
        // `unbind` returns once the listener is closed (its CLOSED event emitted).
        s.unbind(&last).await.unwrap();
    }
    assert_eq!(
        mon.dropped(),
        18,
        "20 events (LISTENING and CLOSED x 10), 2 kept"
    );
    let a = mon.try_recv().expect("newest but one");
    let b = mon.try_recv().expect("newest");
    assert_eq!(
        (a.kind, a.endpoint.as_str(), b.kind, b.endpoint.as_str()),
        (
            EventKind::Listening,
            last.as_str(),
            EventKind::Closed,
            last.as_str()
        ),
        "the two newest events are those of the last bind"
    );
    assert!(mon.try_recv().is_none());
    // Refill past the backlog, then close: MONITOR_STOPPED pushes out the oldest.
    let ep = bind_any(&s).await;
    s.unbind(&ep).await.unwrap();
    let ep = bind_any(&s).await;
    support::close(&s).await;
    let kept = [next(&mut mon).await, next(&mut mon).await];
    assert_eq!(
        (kept[0].kind, kept[0].endpoint.as_str(), kept[1].kind),
        (EventKind::Closed, ep.as_str(), EventKind::MonitorStopped),
        "{kept:?}"
    );
    assert!(mon.recv().await.is_none());
    // Dropped meanwhile: LISTENING and CLOSED of the first refill bind, LISTENING of the
    // second.
    assert_eq!(mon.dropped(), 18 + 3, "{kept:?}");
}

/// An unread monitor never slows the socket down: messages flow while its backlog is
/// full.
#[tokio::test]
async fn full_backlog_does_not_block_the_socket() {
    let _panics = support::check_library_panics();
    let router = Socket::new(SocketType::Router);
    let _mon = router.monitor(1);
    let ep = bind_any(&router).await;
    for _ in 0..20 {
        let d = Socket::new(SocketType::Dealer);
        connect(&d, &ep).await;
        send(&d, msg(&[b"x"]), "DEALER send").await;
        recv(&router, "ROUTER recv").await;
        support::close(&d).await;
    }
    support::close(&router).await;
}

#[tokio::test]
async fn dropped_monitor_is_forgotten_and_others_keep_working() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Rep);
    let kept = s.monitor(16);
    let dropped = s.monitor(16);
    drop(dropped);
    let mut kept = kept;
    let ep = s.bind("tcp://127.0.0.1:*").await.unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(5), kept.recv())
        .await
        .expect("event")
        .expect("open");
    assert_eq!(ev.kind, EventKind::Listening);
    assert_eq!(ev.endpoint, ep);
    assert!(!s.is_closed());
    support::close(&s).await;
    assert!(s.is_closed());
}

/// HANDSHAKE_IVL zero means no limit: a peer that never sends its greeting is kept, while
/// in the same test a short limit on another socket drops the same kind of peer. The
/// zero-limit connection is checked after ten times the short limit.
#[tokio::test]
async fn handshake_ivl_zero_means_no_limit() {
    let _panics = support::check_library_panics();
    use tokio::io::AsyncReadExt;
    const SHORT: Duration = Duration::from_millis(300);
    const WAIT: Duration = Duration::from_secs(3);

    let limited = Socket::new(SocketType::Dealer);
    limited.set_handshake_ivl(SHORT).unwrap();
    let mut limited_mon = limited.monitor(64);
    let limited_ep = bind_any(&limited).await;
    let unlimited = Socket::new(SocketType::Dealer);
    unlimited.set_handshake_ivl(Duration::ZERO).unwrap();
    let mut unlimited_mon = unlimited.monitor(64);
    let unlimited_ep = bind_any(&unlimited).await;

    // A raw TCP peer on each that never sends a byte: its handshake never completes.
    let start = tokio::time::Instant::now();
    let tcp = |ep: &str| ep.strip_prefix("tcp://").unwrap().to_string();
    let mut stalled_limited = tokio::net::TcpStream::connect(tcp(&limited_ep))
        .await
        .unwrap();
    let mut stalled_unlimited = tokio::net::TcpStream::connect(tcp(&unlimited_ep))
        .await
        .unwrap();

    // The short limit fires, not before its time...
    let ev = support::wait_event(
        &mut limited_mon,
        EventKind::HandshakeFailedNoDetail,
        "the short HANDSHAKE_IVL",
    )
    .await;
    assert!(
        start.elapsed() >= SHORT - Duration::from_millis(50),
        "fired early: {ev:?}"
    );
    assert_eq!(ev.value, 110, "ETIMEDOUT: {ev:?}");
    // ...and closes the connection: the peer reads the greeting, then EOF.
    let mut buf = [0u8; 256];
    tokio::time::timeout(OP_TIMEOUT, async {
        while stalled_limited.read(&mut buf).await.unwrap_or(0) > 0 {}
    })
    .await
    .expect("the timed-out connection was not closed");

    // The zero limit: still open well beyond the short limit.
    tokio::time::sleep_until(start + WAIT).await;
    while let Some(ev) = unlimited_mon.try_recv() {
        assert!(
            !matches!(
                ev.kind,
                EventKind::HandshakeFailedNoDetail
                    | EventKind::HandshakeFailedProtocol
                    | EventKind::Disconnected
                    | EventKind::Closed
            ),
            "HANDSHAKE_IVL zero dropped the stalled peer: {ev:?}"
        );
    }
    loop {
        match tokio::time::timeout(Duration::from_millis(200), stalled_unlimited.read(&mut buf))
            .await
        {
            Err(_) => break, // nothing more to read, and no EOF: the connection is open
            Ok(Ok(0)) | Ok(Err(_)) => {
                panic!("HANDSHAKE_IVL zero closed the stalled connection within {WAIT:?}")
            }
            Ok(Ok(_greeting)) => {}
        }
    }

    // And a real peer still completes its handshake and is served.
    let peer = Socket::new(SocketType::Dealer);
    connect(&peer, &unlimited_ep).await;
    send(&peer, msg(&[b"ok"]), "peer send").await;
    let m = recv(&unlimited, "message through the zero-limit socket").await;
    assert_eq!(&m[0][..], b"ok");
    drop(stalled_unlimited);
    support::close(&peer).await;
    support::close(&unlimited).await;
    support::close(&limited).await;
}

// Socket files are a Unix notion: a named pipe leaves none to remove.
#[cfg(unix)]
#[tokio::test]
async fn close_failed_when_the_ipc_file_cannot_be_removed() {
    let _panics = support::check_library_panics();
    let dir = std::env::temp_dir().join(format!("aiozmq-closefail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let ep = format!("ipc://{}", path.display());
    let s = Socket::new(SocketType::Pull);
    let mut mon = s.monitor(64);
    s.bind(&ep).await.unwrap();
    // Replace the socket file with a non-empty directory: removing it must fail.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("keep"), b"x").unwrap();
    s.unbind(&ep).await.unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let ev = mon.recv().await.expect("monitor open");
            if ev.kind == EventKind::CloseFailed {
                return ev;
            }
        }
    })
    .await
    .expect("CLOSE_FAILED");
    assert_eq!(ev.endpoint, ep);
    assert!(ev.value > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

// Stale socket files are a Unix notion (a named pipe vanishes with its last handle).
#[cfg(unix)]
#[tokio::test]
async fn ipc_stale_file_is_replaced_and_live_one_refused() {
    let _panics = support::check_library_panics();
    let dir = std::env::temp_dir().join(format!("aiozmq-stale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stale.sock");
    // A stale socket file: bound once by a std listener that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let ep = format!("ipc://{}", path.display());
    let a = Socket::new(SocketType::Pull);
    a.bind(&ep).await.unwrap();
    let b = Socket::new(SocketType::Pull);
    let err = b.bind(&ep).await.unwrap_err();
    assert_eq!(err.kind(), aiozmq::ErrorKind::AddrInUse);
    support::close(&a).await;
    assert!(!path.exists(), "close removes the socket file");
    std::fs::remove_dir_all(&dir).unwrap();
}
