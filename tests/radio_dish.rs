//! RADIO and DISH (libzmq's draft types 14 and 15): groups joined and matched exactly, over
//! tcp, ipc, inproc and udp (unicast, and multicast where this machine routes it), with
//! the bytes libzmq 4.3.5 puts on the wire checked against a mock peer: JOIN/LEAVE
//! commands from a DISH, a group frame then a body frame from a RADIO, one datagram of
//! length byte, group and body over UDP.

mod support;

use std::time::Duration;

use aiozmq::zmtp::Command;
use aiozmq::{ErrorKind, EventKind, Message, Socket, SocketType};
use bytes::Bytes;
use support::mock::{command_frame, frame, message_frames, MockPeer};
use support::{close, connect, recv, wait_event, OP_TIMEOUT};
use tokio::net::TcpListener;
use tokio::time::{timeout, Instant};

/// How long a receive waits before the sender tries again (joins travel asynchronously).
const RETRY: Duration = Duration::from_millis(20);

fn grouped(group: &str, body: &str) -> Message {
    Message::from(body.to_string()).with_group(group).unwrap()
}

/// Sends `probe` from `radio` until `dish` receives a message (the dish's join may not
/// have reached the radio yet: a RADIO drops what no one joined). Returns that message.
async fn send_until_received(radio: &Socket, dish: &Socket, probe: &Message) -> Message {
    let deadline = Instant::now() + OP_TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "the DISH received nothing of group {:?} within {OP_TIMEOUT:?}",
            Bytes::copy_from_slice(probe.group())
        );
        timeout(OP_TIMEOUT, radio.send(probe.clone()))
            .await
            .expect("RADIO send waited")
            .expect("RADIO send");
        if let Ok(got) = timeout(RETRY, dish.recv()).await {
            return got.expect("DISH recv");
        }
    }
}

/// A DISH that joined `tv` gets a RADIO's `tv` messages with their group, through
/// `bind_ep` (the RADIO binds when `radio_binds`).
async fn exchange(bind_ep: &str, radio_binds: bool) {
    let radio = Socket::new(SocketType::Radio);
    let dish = Socket::new(SocketType::Dish);
    let (binder, connecter) = if radio_binds {
        (&radio, &dish)
    } else {
        (&dish, &radio)
    };
    let ep = binder.bind(bind_ep).await.expect("bind");
    connect(connecter, &ep).await;
    dish.join("tv").unwrap();
    let got = send_until_received(&radio, &dish, &grouped("tv", "hello")).await;
    assert_eq!(got, grouped("tv", "hello"), "over {ep}");
    assert_eq!(got.group(), b"tv");
    assert_eq!(&got[0][..], b"hello");
    close(&radio).await;
    close(&dish).await;
}

#[tokio::test]
async fn radio_to_dish_over_tcp_both_ways_round() {
    let _panics = support::check_library_panics();
    exchange("tcp://127.0.0.1:*", false).await;
    exchange("tcp://127.0.0.1:*", true).await;
}

#[cfg(unix)]
#[tokio::test]
async fn radio_to_dish_over_ipc() {
    let _panics = support::check_library_panics();
    let ipc = support::UnboundIpc::new("radio-dish");
    exchange(&ipc.endpoint, true).await;
}

#[tokio::test]
async fn radio_to_dish_over_inproc_both_ways_round() {
    let _panics = support::check_library_panics();
    exchange("inproc://radio-dish-a", false).await;
    exchange("inproc://radio-dish-b", true).await;
}

#[tokio::test]
async fn radio_to_dish_over_udp_unicast() {
    let _panics = support::check_library_panics();
    exchange("udp://127.0.0.1:0", false).await;
}

/// Receives from `dish` until a message of group `marker` arrives; every message before
/// it must belong to `allowed`.
async fn recv_until(dish: &Socket, marker: &str, allowed: &[&str]) {
    loop {
        let m = recv(dish, "DISH waiting for a marker").await;
        if m.group() == marker.as_bytes() {
            return;
        }
        assert!(
            allowed.iter().any(|g| g.as_bytes() == m.group()),
            "got {m:?}, of a group the DISH did not join"
        );
    }
}

/// Groups match exactly (no prefix matching, case counts), and a leave stops a group.
async fn filtering(bind_ep: &str) {
    let radio = Socket::new(SocketType::Radio);
    let dish = Socket::new(SocketType::Dish);
    let ep = dish.bind(bind_ep).await.expect("bind");
    connect(&radio, &ep).await;
    dish.join("tv").unwrap();
    dish.join("sync").unwrap();
    send_until_received(&radio, &dish, &grouped("sync", "s")).await;
    for g in ["t", "tvx", "TV", "", "tv "] {
        support::send(&radio, grouped(g, "no"), "RADIO").await;
    }
    support::send(&radio, Message::from("none"), "RADIO").await;
    support::send(&radio, grouped("tv", "yes"), "RADIO").await;
    // Messages in one group arrive in order; "sync" probes may still be in flight.
    let mut got = recv(&dish, "DISH").await;
    while got.group() == b"sync" {
        got = recv(&dish, "DISH").await;
    }
    assert_eq!(got, grouped("tv", "yes"), "only the exact group passes");
    dish.leave("tv").unwrap();
    dish.join("sync2").unwrap();
    // Once sync2 arrives, the leave reached the radio too (JOIN after LEAVE, in order).
    let deadline = Instant::now() + OP_TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "sync2 never arrived");
        support::send(&radio, grouped("sync2", "s"), "RADIO").await;
        if let Ok(m) = timeout(RETRY, dish.recv()).await {
            if m.unwrap().group() == b"sync2" {
                break;
            }
        }
    }
    support::send(&radio, grouped("tv", "after leave"), "RADIO").await;
    support::send(&radio, grouped("sync", "end"), "RADIO").await;
    recv_until(&dish, "sync", &["sync2"]).await;
    close(&radio).await;
    close(&dish).await;
}

#[tokio::test]
async fn groups_match_exactly_and_leave_stops_a_group_over_tcp() {
    let _panics = support::check_library_panics();
    filtering("tcp://127.0.0.1:*").await;
}

#[tokio::test]
async fn groups_match_exactly_and_leave_stops_a_group_over_udp() {
    // Over UDP the RADIO sends every group; the DISH filters, as libzmq's does.
    let _panics = support::check_library_panics();
    filtering("udp://127.0.0.1:0").await;
}

#[tokio::test]
async fn groups_match_exactly_over_inproc() {
    let _panics = support::check_library_panics();
    filtering("inproc://radio-dish-filter").await;
}

#[tokio::test]
async fn group_limits_and_operations_as_libzmq() {
    let _panics = support::check_library_panics();
    let dish = Socket::new(SocketType::Dish);
    let radio = Socket::new(SocketType::Radio);
    let long = "x".repeat(256);
    let max = "x".repeat(255);
    let kind = |r: aiozmq::Result<()>| r.unwrap_err().kind();
    assert_eq!(kind(dish.join(&long)), ErrorKind::InvalidInput);
    dish.join(&max).expect("255 bytes is the limit");
    assert_eq!(
        kind(dish.join(&max)),
        ErrorKind::InvalidInput,
        "joined twice"
    );
    dish.leave(&max).unwrap();
    assert_eq!(
        kind(dish.leave(&max)),
        ErrorKind::InvalidInput,
        "not joined"
    );
    assert_eq!(kind(dish.leave(&long)), ErrorKind::InvalidInput);
    assert_eq!(kind(radio.join("g")), ErrorKind::NotSupported);
    assert_eq!(
        kind(Socket::new(SocketType::Sub).join("g")),
        ErrorKind::NotSupported
    );
    let mut m = Message::from("b");
    assert_eq!(
        m.set_group(long.as_bytes()).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        m.set_group("a\0b").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    m.set_group(&max).unwrap();
    assert_eq!(m.group(), max.as_bytes());
    m.set_group("").unwrap();
    assert_eq!(m.group(), b"");
    // A RADIO sends one frame; a DISH does not send, a RADIO does not receive.
    assert_eq!(
        timeout(OP_TIMEOUT, radio.send(Message::from(["a", "b"])))
            .await
            .unwrap()
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        timeout(OP_TIMEOUT, dish.send(grouped("g", "x")))
            .await
            .unwrap()
            .unwrap_err()
            .kind(),
        ErrorKind::NotSupported
    );
    assert_eq!(
        radio.try_recv().unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    // Names and numbers as libzmq's.
    assert_eq!(SocketType::Radio.to_raw(), 14);
    assert_eq!(SocketType::Dish.to_raw(), 15);
    assert_eq!(SocketType::from_raw(14), Some(SocketType::Radio));
    assert_eq!(SocketType::from_name(b"DISH"), Some(SocketType::Dish));
    assert_eq!(SocketType::from_any_name(b"radio"), Some(SocketType::Radio));
    assert_eq!(SocketType::Dish.as_str(), "DISH");
    use aiozmq::socket::opt;
    assert_eq!(
        radio.getsockopt(opt::TYPE).unwrap(),
        aiozmq::socket::OptValue::Int(14)
    );
    assert_eq!(dish.linger(), Duration::ZERO, "libzmq's DISH lingers 0");
    close(&dish).await;
    close(&radio).await;
}

#[tokio::test]
async fn multicast_options_as_libzmq() {
    use aiozmq::socket::{opt, OptValue};
    let radio = Socket::new(SocketType::Radio);
    assert_eq!(
        radio.getsockopt(opt::MULTICAST_HOPS).unwrap(),
        OptValue::Int(1)
    );
    assert_eq!(
        radio.getsockopt(opt::MULTICAST_LOOP).unwrap(),
        OptValue::Int(1)
    );
    for bad in [0, -1] {
        assert_eq!(
            radio
                .setsockopt(opt::MULTICAST_HOPS, OptValue::Int(bad))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
    }
    radio
        .setsockopt(opt::MULTICAST_HOPS, OptValue::Int(7))
        .unwrap();
    assert_eq!(radio.multicast_hops(), 7);
    radio
        .setsockopt(opt::MULTICAST_LOOP, OptValue::Int(0))
        .unwrap();
    assert!(!radio.multicast_loop());
    radio
        .setsockopt(opt::MULTICAST_LOOP, OptValue::Int(2))
        .unwrap();
    assert!(radio.multicast_loop(), "any non-zero value is on");
}

#[tokio::test]
async fn udp_is_for_a_radio_connect_and_a_dish_bind_only() {
    let _panics = support::check_library_panics();
    let refused = |r: aiozmq::Result<()>| r.unwrap_err().kind();
    let radio = Socket::new(SocketType::Radio);
    let dish = Socket::new(SocketType::Dish);
    let pubs = Socket::new(SocketType::Pub);
    assert_eq!(
        radio.bind("udp://127.0.0.1:0").await.unwrap_err().kind(),
        ErrorKind::IncompatibleProtocol
    );
    assert_eq!(
        refused(dish.connect("udp://127.0.0.1:5555").await),
        ErrorKind::IncompatibleProtocol
    );
    assert_eq!(
        refused(pubs.connect("udp://127.0.0.1:5555").await),
        ErrorKind::IncompatibleProtocol
    );
    assert_eq!(
        pubs.bind("udp://127.0.0.1:0").await.unwrap_err().kind(),
        ErrorKind::IncompatibleProtocol
    );
    // An interface goes with a multicast group only.
    assert_eq!(
        dish.bind("udp://127.0.0.1;127.0.0.1:0")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(ErrorKind::IncompatibleProtocol.name(), "ENOCOMPATPROTO");
    assert_eq!(ErrorKind::IncompatibleProtocol.errno(), 156_384_764);
}

/// Datagrams that do not parse are dropped; the next good one arrives.
#[tokio::test]
async fn bad_datagrams_are_dropped_and_good_ones_carry_their_group() {
    let _panics = support::check_library_panics();
    let dish = Socket::new(SocketType::Dish);
    let ep = dish.bind("udp://127.0.0.1:0").await.unwrap();
    assert!(ep.starts_with("udp://127.0.0.1:"), "{ep}");
    dish.join("tv").unwrap();
    let addr = ep.strip_prefix("udp://").unwrap();
    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for d in [
        &b""[..],
        b"\x05ab",
        b"\xffshort",
        b"\x02zzwrong group",
        b"\x02tvfirst",
        b"\x00no group",
        b"\x02tv",
    ] {
        raw.send_to(d, addr).await.unwrap();
    }
    let first = recv(&dish, "DISH").await;
    assert_eq!(first, grouped("tv", "first"));
    let second = recv(&dish, "DISH").await;
    assert_eq!(second, grouped("tv", ""), "an empty body is a message");
    // A group with a NUL byte is read up to it, as libzmq reads its C string.
    raw.send_to(b"\x04tv\0xnul", addr).await.unwrap();
    assert_eq!(recv(&dish, "DISH").await, grouped("tv", "nul"));
    close(&dish).await;
}

/// A RADIO's datagram is exactly length byte, group, body.
#[tokio::test]
async fn radio_datagrams_are_length_group_body() {
    let _panics = support::check_library_panics();
    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = raw.local_addr().unwrap().port();
    let radio = Socket::new(SocketType::Radio);
    connect(&radio, &format!("udp://127.0.0.1:{port}")).await;
    support::send(&radio, grouped("tv", "hello"), "RADIO").await;
    support::send(&radio, Message::from("bare"), "RADIO").await;
    let mut buf = [0u8; 9000];
    let n = timeout(OP_TIMEOUT, raw.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"\x02tvhello");
    let n = timeout(OP_TIMEOUT, raw.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"\x00bare");
    close(&radio).await;
}

/// Whether plain sockets get a multicast datagram of their own back on this machine, sent
/// through `iface` (`None`: the default route) with IP_MULTICAST_LOOP `looped`
/// (containers often route no multicast at all).
async fn multicast_comes_back(
    group: std::net::Ipv4Addr,
    iface: Option<std::net::Ipv4Addr>,
    looped: bool,
) -> bool {
    use std::net::Ipv4Addr;
    let probe = || -> std::io::Result<(std::net::UdpSocket, std::net::UdpSocket)> {
        let rx = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        rx.join_multicast_v4(&group, &iface.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
        let tx = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        let s2 = socket2::SockRef::from(&tx);
        if let Some(i) = iface {
            s2.set_multicast_if_v4(&i)?;
        }
        s2.set_multicast_loop_v4(looped)?;
        tx.send_to(b"probe", (group, rx.local_addr()?.port()))?;
        Ok((rx, tx))
    };
    let Ok((rx, _tx)) = probe() else {
        return false;
    };
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut b = [0u8; 16];
    tokio::task::spawn_blocking(move || rx.recv(&mut b).is_ok())
        .await
        .unwrap()
}

#[tokio::test]
async fn radio_to_dish_over_udp_multicast_on_the_loopback() {
    let _panics = support::check_library_panics();
    let group = std::net::Ipv4Addr::new(239, 255, 77, 14);
    if !multicast_comes_back(group, Some(std::net::Ipv4Addr::LOCALHOST), true).await {
        eprintln!(
            "\n*** MULTICAST UNAVAILABLE: this machine does not loop a multicast datagram \
             back through 127.0.0.1; the udp:// multicast test is SKIPPED (unicast is \
             tested by the other udp tests) ***\n"
        );
        return;
    }
    let dish = Socket::new(SocketType::Dish);
    let ep = dish
        .bind(&format!("udp://127.0.0.1;{group}:0"))
        .await
        .expect("multicast bind");
    assert!(ep.starts_with(&format!("udp://127.0.0.1;{group}:")), "{ep}");
    dish.join("mc").unwrap();
    let radio = Socket::new(SocketType::Radio);
    connect(&radio, &ep).await;
    let got = send_until_received(&radio, &dish, &grouped("mc", "to the group")).await;
    assert_eq!(got, grouped("mc", "to the group"));
    close(&radio).await;
    close(&dish).await;
}

/// `udp://lo;GROUP:port`, the interface by name as libzmq takes it: the DISH joins the
/// group on the loopback interface and the RADIO sends through it; the endpoint keeps
/// the name.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn radio_to_dish_over_udp_multicast_by_interface_name() {
    let _panics = support::check_library_panics();
    let group = std::net::Ipv4Addr::new(239, 255, 77, 15);
    if !multicast_comes_back(group, Some(std::net::Ipv4Addr::LOCALHOST), true).await {
        eprintln!(
            "\n*** MULTICAST UNAVAILABLE: this machine does not loop a multicast datagram \
             back through 127.0.0.1; the udp://lo;group multicast test is SKIPPED ***\n"
        );
        return;
    }
    let dish = Socket::new(SocketType::Dish);
    let ep = dish
        .bind(&format!("udp://lo;{group}:0"))
        .await
        .expect("multicast bind by interface name");
    assert!(ep.starts_with(&format!("udp://lo;{group}:")), "{ep}");
    dish.join("nic").unwrap();
    let radio = Socket::new(SocketType::Radio);
    connect(&radio, &ep).await;
    let got = send_until_received(&radio, &dish, &grouped("nic", "through lo")).await;
    assert_eq!(got, grouped("nic", "through lo"));
    close(&radio).await;
    close(&dish).await;
}

/// A multicast interface name that is no interface: the DISH's bind fails with
/// `ENODEV`, as libzmq's; the RADIO's connect (which opens its socket in the background)
/// reports CONNECT_DELAYED with errno 19.
#[tokio::test]
async fn an_unknown_multicast_interface_is_enodev() {
    let _panics = support::check_library_panics();
    let dish = Socket::new(SocketType::Dish);
    let e = dish
        .bind("udp://nosuch-if0;239.255.77.16:0")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoDevice, "{e}");
    let radio = Socket::new(SocketType::Radio);
    let mut mon = radio.monitor(16);
    connect(&radio, "udp://nosuch-if0;239.255.77.16:5555").await;
    let ev = wait_event(&mut mon, EventKind::ConnectDelayed, "connect delayed").await;
    assert_eq!(ev.value, 19);
    close(&radio).await;
    close(&dish).await;
}

/// MULTICAST_LOOP off: this host's receivers hear nothing of the RADIO. Only where the
/// default route carries multicast and plain sockets show the option's effect (through
/// the loopback interface a datagram comes back in anyway, loop or not).
#[tokio::test]
async fn multicast_loop_off_keeps_datagrams_off_this_host() {
    let _panics = support::check_library_panics();
    let group = std::net::Ipv4Addr::new(239, 255, 77, 15);
    if !multicast_comes_back(group, None, true).await
        || multicast_comes_back(group, None, false).await
    {
        eprintln!(
            "\n*** MULTICAST LOOP UNTESTABLE: the default route here does not carry \
             multicast, or IP_MULTICAST_LOOP shows no effect on plain sockets; \
             MULTICAST_LOOP's effect is SKIPPED ***\n"
        );
        return;
    }
    let dish = Socket::new(SocketType::Dish);
    let ep = dish.bind(&format!("udp://{group}:0")).await.unwrap();
    dish.join("mc").unwrap();
    let looped = Socket::new(SocketType::Radio);
    connect(&looped, &ep).await;
    send_until_received(&looped, &dish, &grouped("mc", "looped")).await;
    close(&looped).await;
    while timeout(Duration::from_millis(200), dish.recv())
        .await
        .is_ok()
    {}
    let quiet = Socket::new(SocketType::Radio);
    quiet.set_multicast_loop(false).unwrap();
    connect(&quiet, &ep).await;
    for _ in 0..5 {
        support::send(&quiet, grouped("mc", "quiet"), "RADIO").await;
    }
    assert!(
        timeout(Duration::from_millis(300), dish.recv())
            .await
            .is_err(),
        "MULTICAST_LOOP=0 still looped back"
    );
    close(&quiet).await;
    close(&dish).await;
}

#[tokio::test]
async fn wrong_peer_types_are_refused() {
    let _panics = support::check_library_panics();
    for (ours, theirs) in [
        (SocketType::Radio, SocketType::Sub),
        (SocketType::Dish, SocketType::Pub),
        (SocketType::Radio, SocketType::Radio),
    ] {
        for ep in ["tcp://127.0.0.1:*", "inproc://radio-dish-wrong"] {
            let a = Socket::new(ours);
            let mut mon = a.monitor(64);
            let ep = a.bind(ep).await.unwrap();
            let b = Socket::new(theirs);
            connect(&b, &ep).await;
            let ev = wait_event(
                &mut mon,
                EventKind::HandshakeFailedProtocol,
                &format!("{ours} bound, {theirs} connecting over {ep}"),
            )
            .await;
            assert!(
                ev.reason.unwrap_or_default().contains("incompatible"),
                "{ours}/{theirs}"
            );
            close(&b).await;
            close(&a).await;
        }
    }
}

// ---- byte-exact, against a mock peer ----------------------------------------------------

/// A DISH's joins are `JOIN` commands (`04 len 04 "JOIN" group`), leaves `LEAVE`
/// commands; a RADIO's message is a group frame (MORE) and a body frame; after the
/// connection breaks, the DISH joins again on the next one.
#[tokio::test]
async fn dish_speaks_join_leave_and_takes_group_frames_and_rejoins() {
    let _panics = support::check_library_panics();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let dish = Socket::new(SocketType::Dish);
    dish.join("tv").unwrap();
    dish.join("news").unwrap();
    connect(&dish, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Radio, SocketType::Dish, b"").await;
    // Joins made before the connection, in order (libzmq's set is ordered).
    m.expect_bytes(&[&b"\x04\x09\x04JOINnews"[..], b"\x04\x07\x04JOINtv"].concat())
        .await;
    assert_eq!(
        command_frame(b"JOIN", b"tv"),
        b"\x04\x07\x04JOINtv",
        "the mock's encoder agrees"
    );
    dish.join("x").unwrap();
    m.expect_bytes(b"\x04\x06\x04JOINx").await;
    dish.leave("news").unwrap();
    m.expect_bytes(b"\x04\x0a\x05LEAVEnews").await;
    // Messages of a left or unknown group are dropped by the DISH too.
    m.send_bytes(&message_frames(&[b"news", b"old"])).await;
    m.send_bytes(&message_frames(&[b"zz", b"never"])).await;
    m.send_bytes(&message_frames(&[b"tv", b"hello"])).await;
    m.send_bytes(&message_frames(&[b"", b"no group"])).await;
    m.send_bytes(&message_frames(&[b"x", b""])).await;
    assert_eq!(recv(&dish, "DISH").await, grouped("tv", "hello"));
    assert_eq!(recv(&dish, "DISH").await, grouped("x", ""));
    // The connection breaks: the next one hears every join again.
    drop(m);
    let mut m = MockPeer::accept(&listener).await;
    m.handshake(SocketType::Radio, SocketType::Dish, b"").await;
    m.expect_bytes(&[&b"\x04\x07\x04JOINtv"[..], b"\x04\x06\x04JOINx"].concat())
        .await;
    m.send_bytes(&message_frames(&[b"tv", b"again"])).await;
    assert_eq!(recv(&dish, "DISH").await, grouped("tv", "again"));
    drop(m);
    close(&dish).await;
}

/// A ZMTP 3.0 RADIO gets the joins as commands too (libzmq's dish session does not look
/// at the peer's version).
#[tokio::test]
async fn dish_sends_join_commands_to_a_zmtp30_peer() {
    let _panics = support::check_library_panics();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let dish = Socket::new(SocketType::Dish);
    dish.join("g").unwrap();
    connect(&dish, &ep).await;
    let mut m = MockPeer::accept(&listener).await;
    m.expect_greeting_staged(0).await;
    m.send_ready(SocketType::Radio, None).await;
    m.expect_ready(SocketType::Dish, None).await;
    assert_eq!(
        m.expect_command().await,
        Command::Join(Bytes::from_static(b"g"))
    );
    drop(m);
    close(&dish).await;
}

/// What a DISH cannot take from a RADIO closes that connection, as libzmq's dish session
/// fails it: a lone frame, a body with MORE, a group over 255 bytes.
#[tokio::test]
async fn dish_drops_a_peer_that_breaks_the_group_framing() {
    let _panics = support::check_library_panics();
    let long = vec![b'g'; 256];
    let cases: Vec<Vec<u8>> = vec![
        frame(0, b"no group frame"),
        message_frames(&[b"tv", b"body", b"third"]),
        message_frames(&[&long, b"body"]),
    ];
    for bad in cases {
        let dish = Socket::new(SocketType::Dish);
        dish.join("tv").unwrap();
        let ep = support::bind_any(&dish).await;
        let mut m = MockPeer::connect(&ep).await;
        m.handshake(SocketType::Radio, SocketType::Dish, b"").await;
        m.expect_bytes(b"\x04\x07\x04JOINtv").await;
        m.send_bytes(&bad).await;
        m.expect_closed().await;
        // Another RADIO is still served.
        let mut ok = MockPeer::connect(&ep).await;
        ok.handshake(SocketType::Radio, SocketType::Dish, b"").await;
        ok.expect_bytes(b"\x04\x07\x04JOINtv").await;
        ok.send_bytes(&message_frames(&[b"tv", b"fine"])).await;
        assert_eq!(recv(&dish, "DISH").await, grouped("tv", "fine"));
        drop(ok);
        close(&dish).await;
    }
}

/// A RADIO sends `[group, body]` only after the peer's JOIN for exactly that group, and
/// stops after its LEAVE; a JOIN with a group over 255 bytes closes the connection.
#[tokio::test]
async fn radio_follows_join_and_leave_commands_byte_exact() {
    let _panics = support::check_library_panics();
    let radio = std::sync::Arc::new(Socket::new(SocketType::Radio));
    let ep = support::bind_any(&radio).await;
    let mut m = MockPeer::connect(&ep).await;
    m.handshake(SocketType::Dish, SocketType::Radio, b"").await;
    m.send_bytes(&command_frame(b"JOIN", b"tv")).await;
    // Keep sending until the join has been applied: the first message the mock gets is
    // exactly group frame + body frame.
    let sender = {
        let radio = radio.clone();
        tokio::spawn(async move {
            loop {
                for g in ["t", "tvx", "tv"] {
                    let _ = radio.send(grouped(g, g)).await;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let first = m.read_bytes(8).await;
    assert_eq!(first, b"\x01\x02tv\x00\x02tv", "group (MORE) then body");
    // Leave tv, join tvx: once tvx comes, no tv follows.
    m.send_bytes(&command_frame(b"LEAVE", b"tv")).await;
    m.send_bytes(&command_frame(b"JOIN", b"tvx")).await;
    loop {
        let msg = m.expect_message().await;
        assert_eq!(msg.len(), 2);
        assert_eq!(msg[0], msg[1]);
        if &msg[0][..] == b"tvx" {
            break;
        }
        assert_eq!(&msg[0][..], b"tv", "a group never joined came");
    }
    for _ in 0..20 {
        let msg = m.expect_message().await;
        assert_eq!(&msg[0][..], b"tvx", "{msg:?} after the LEAVE was applied");
    }
    sender.abort();
    // A JOIN no libzmq DISH can send (a group over 255 bytes) closes this connection.
    let mut bad = MockPeer::connect(&ep).await;
    bad.handshake(SocketType::Dish, SocketType::Radio, b"")
        .await;
    bad.send_bytes(&command_frame(b"JOIN", &[b'g'; 256])).await;
    bad.expect_closed().await;
    drop(m);
    close(&radio).await;
}

/// The blocking API reaches the same: a DISH joins, a RADIO's `udp://` datagrams arrive.
#[test]
fn blocking_dish_joins_and_receives_over_udp() {
    use aiozmq::blocking;
    let dish = blocking::Socket::new(SocketType::Dish);
    let ep = dish.bind("udp://127.0.0.1:0").unwrap();
    dish.join("b").unwrap();
    dish.set_rcvtimeo(20).unwrap();
    let radio = blocking::Socket::new(SocketType::Radio);
    radio.connect(&ep).unwrap();
    let deadline = std::time::Instant::now() + OP_TIMEOUT;
    let got = loop {
        assert!(std::time::Instant::now() < deadline, "nothing arrived");
        radio.send(grouped("b", "blocking")).unwrap();
        match dish.recv() {
            Ok(m) => break m,
            Err(e) => assert_eq!(e.kind(), ErrorKind::Again),
        }
    };
    assert_eq!(got, grouped("b", "blocking"));
    dish.leave("b").unwrap();
    radio.close().unwrap();
    dish.close().unwrap();
}
