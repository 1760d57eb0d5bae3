//! Network interface names in place of an address, as libzmq takes them: a bind to
//! `tcp://lo:*` listens on the loopback interface's address (IPv4; IPv6 with ZMQ_IPV6),
//! `tcp://lo:PORT;host:port` connects from it, and a name that is no interface is
//! `ENODEV`. (The `udp://lo;group:port` form is tested in `radio_dish.rs`, beside the
//! other multicast tests.) Linux names its loopback interface `lo`.
#![cfg(target_os = "linux")]

mod support;

use aiozmq::socket::opt;
use aiozmq::{ErrorKind, EventKind, Socket, SocketType};
use support::python::PyPeer;
use support::{close, msg, recv, send, wait_event, within};

/// `tcp://lo:0` binds 127.0.0.1 (the resolved endpoint says so) and a libzmq REQ that
/// connects to the resolved endpoint gets its reply.
#[tokio::test]
async fn a_bind_to_the_loopback_by_name_serves_libzmq() {
    let _panics = support::check_library_panics();
    let rep = Socket::new(SocketType::Rep);
    let ep = within("bind", rep.bind("tcp://lo:0")).await.unwrap();
    assert!(ep.starts_with("tcp://127.0.0.1:"), "{ep}");
    assert_ne!(ep, "tcp://127.0.0.1:0");
    let (mut peer, _) = PyPeer::start(["REQ", "--connect", &ep, "req", "1", "text:by name"]).await;
    assert_eq!(recv(&rep, "request").await, msg(&[b"by name"]));
    send(&rep, msg(&[b"found"]), "reply").await;
    assert_eq!(peer.message().await.frames, vec![b"found".to_vec()]);
    peer.finish().await;
    close(&rep).await;
}

/// With ZMQ_IPV6 the interface's IPv6 address is taken (`::1` for the loopback), as
/// libzmq picks the family; where the loopback has no IPv6 address, that is `ENODEV`.
#[tokio::test]
async fn with_ipv6_the_interfaces_ipv6_address_is_bound() {
    let _panics = support::check_library_panics();
    let has_v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let s = Socket::new(SocketType::Pull);
    s.setsockopt(opt::IPV6, 1).unwrap();
    let r = within("bind", s.bind("tcp://lo:*")).await;
    if has_v6 {
        let ep = r.unwrap();
        assert!(ep.starts_with("tcp://[::1]:"), "{ep}");
    } else {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::NoDevice);
    }
    close(&s).await;
}

/// A name that is no interface (nor address or host) fails the bind with `ENODEV`
/// (errno 19), as libzmq's; the monitor's BIND_FAILED event carries that errno.
#[tokio::test]
async fn an_unknown_interface_is_enodev() {
    let _panics = support::check_library_panics();
    let s = Socket::new(SocketType::Rep);
    let mut mon = s.monitor(16);
    let e = within("bind", s.bind("tcp://nosuch-if0:*"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoDevice, "{e}");
    assert_eq!((e.kind().name(), e.kind().errno()), ("ENODEV", 19));
    assert!(e.to_string().contains("nosuch-if0"), "{e}");
    let ev = wait_event(&mut mon, EventKind::BindFailed, "bind failed").await;
    assert_eq!(ev.value, 19);
    assert!(s.bindings().is_empty());
    close(&s).await;
}

/// `tcp://lo:PORT;127.0.0.1:DEST`: the connection comes from the loopback interface's
/// address and the source port asked for.
#[tokio::test]
async fn a_source_by_interface_name() {
    let _panics = support::check_library_panics();
    let dest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest_port = dest.local_addr().unwrap().port();
    // A port free a moment ago, for the source (the system picks it, no fixed number).
    let src_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dealer = Socket::new(SocketType::Dealer);
    within(
        "connect",
        dealer.connect(&format!("tcp://lo:{src_port};127.0.0.1:{dest_port}")),
    )
    .await
    .unwrap();
    let (_conn, from) = within("accept", dest.accept()).await.unwrap();
    assert_eq!(
        from,
        std::net::SocketAddr::from(([127, 0, 0, 1], src_port)),
        "the connection's source"
    );
    close(&dealer).await;
}
