//! DGRAM (libzmq's draft type 18): raw UDP datagrams on one `udp://` bind, each message
//! `[ip:port, body]`. Between two of our sockets, against a plain `std::net::UdpSocket`
//! (which sees the body alone, no ZMTP framing, no group byte), and the errors libzmq
//! 4.3.5 gives: a message of other than two frames, and any endpoint but a `udp://` bind.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use aiozmq::socket::opt;
use aiozmq::{ErrorKind, Message, Socket, SocketType};
use support::{close, frames, msg, recv, send, within, OP_TIMEOUT};

/// Binds a DGRAM to an ephemeral loopback port; returns it and its address.
async fn dgram() -> (Socket, SocketAddr) {
    let s = Socket::new(SocketType::Dgram);
    let ep = within("bind", s.bind("udp://127.0.0.1:*"))
        .await
        .expect("DGRAM bind udp://127.0.0.1:*");
    let addr = ep
        .strip_prefix("udp://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("bound endpoint {ep:?} is not udp://ip:port"));
    (s, addr)
}

/// The address frame a DGRAM receives for `from`: libzmq's `ip:port` and a NUL.
fn addr_frame(from: SocketAddr) -> Vec<u8> {
    format!("{from}\0").into_bytes()
}

/// A plain UDP socket on the loopback, with every receive bounded by [`OP_TIMEOUT`].
fn plain() -> (UdpSocket, SocketAddr) {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(OP_TIMEOUT)).unwrap();
    let a = u.local_addr().unwrap();
    (u, a)
}

/// One datagram on `u` (from a blocking-pool thread, so our sockets' tasks keep running).
async fn plain_recv(u: &UdpSocket, what: &str) -> (Vec<u8>, SocketAddr) {
    let u = u.try_clone().unwrap();
    let got = tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; 65536];
        u.recv_from(&mut buf)
            .map(|(n, from)| (buf[..n].to_vec(), from))
    });
    match within(what, got).await.unwrap() {
        Ok(d) => d,
        Err(e) => panic!("{what}: the plain UDP socket received nothing: {e}"),
    }
}

#[tokio::test]
async fn two_dgrams_exchange_datagrams_and_reply_with_the_address_received() {
    let _panics = support::check_library_panics();
    let (a, a_addr) = dgram().await;
    let (b, b_addr) = dgram().await;
    let to_b = b_addr.to_string();
    send(&a, msg(&[to_b.as_bytes(), b"hello"]), "a to b").await;
    let got = recv(&b, "b").await;
    assert_eq!(
        frames(&got),
        vec![addr_frame(a_addr), b"hello".to_vec()],
        "b gets a's address (with libzmq's NUL) and the body"
    );
    // The address frame received goes back as it is, NUL included.
    let reply: Message = [got[0].clone(), bytes::Bytes::from_static(b"world")]
        .into_iter()
        .collect();
    send(&b, reply, "b replies").await;
    assert_eq!(
        frames(&recv(&a, "a").await),
        vec![addr_frame(b_addr), b"world".to_vec()]
    );
    // An empty body is an empty datagram, delivered as such.
    send(&a, msg(&[to_b.as_bytes(), b""]), "empty").await;
    assert_eq!(
        frames(&recv(&b, "b, empty").await),
        vec![addr_frame(a_addr), Vec::new()]
    );
    close(&a).await;
    close(&b).await;
}

#[tokio::test]
async fn a_plain_udp_socket_gets_the_raw_body_and_is_named_by_its_address() {
    let _panics = support::check_library_panics();
    let (d, d_addr) = dgram().await;
    let (u, u_addr) = plain();
    // Bytes that would read as a group length or ZMTP flags: they must travel as they are.
    let body = b"\x01\x00\xffbody";
    send(&d, msg(&[u_addr.to_string().as_bytes(), body]), "to plain").await;
    let (datagram, from) = plain_recv(&u, "plain").await;
    assert_eq!(datagram, body, "the datagram is the body alone");
    assert_eq!(from, d_addr, "sent from the bound address");
    // A NUL-terminated destination (as received) works too.
    send(&d, msg(&[&addr_frame(u_addr), b"second"]), "to plain, NUL").await;
    assert_eq!(plain_recv(&u, "plain, NUL").await.0, b"second");

    u.send_to(b"ping", d_addr).unwrap();
    assert_eq!(
        frames(&recv(&d, "from plain").await),
        vec![addr_frame(u_addr), b"ping".to_vec()]
    );
    // A datagram longer than libzmq's 8192-byte buffer arrives whole.
    let big = vec![7u8; 20_000];
    u.send_to(&big, d_addr).unwrap();
    assert_eq!(
        frames(&recv(&d, "big").await),
        vec![addr_frame(u_addr), big]
    );
    close(&d).await;
}

#[tokio::test]
async fn datagrams_from_senders_taking_turns_each_name_their_own_sender() {
    let _panics = support::check_library_panics();
    let (d, d_addr) = dgram().await;
    let (u, u_addr) = plain();
    let (v, v_addr) = plain();
    // Runs from one sender and alternation: each message's address frame is its sender's.
    let order = [
        (&u, u_addr),
        (&u, u_addr),
        (&v, v_addr),
        (&u, u_addr),
        (&v, v_addr),
        (&v, v_addr),
    ];
    for (i, (sock, _)) in order.iter().enumerate() {
        sock.send_to(format!("d{i}").as_bytes(), d_addr).unwrap();
    }
    for (i, (_, from)) in order.iter().enumerate() {
        assert_eq!(
            frames(&recv(&d, &format!("datagram {i}")).await),
            vec![addr_frame(*from), format!("d{i}").into_bytes()],
            "datagram {i}"
        );
    }
    close(&d).await;
}

#[tokio::test]
async fn a_message_is_exactly_address_and_body_else_einval() {
    let _panics = support::check_library_panics();
    let (d, _) = dgram().await;
    let (u, u_addr) = plain();
    let to = u_addr.to_string();
    let bad: Vec<(Message, &str)> = vec![
        (
            msg(&[to.as_bytes()]),
            "one frame (libzmq: a first frame without MORE)",
        ),
        (
            msg(&[to.as_bytes(), b"x", b"y"]),
            "three frames (libzmq: a third frame)",
        ),
        (msg(&[b"127.0.0.1", b"x"]), "no port"),
        (msg(&[b"127.0.0.1:0", b"x"]), "port 0"),
        (msg(&[b"localhost:5", b"x"]), "a name, not an address"),
        (msg(&[b"", b"x"]), "an empty address"),
    ];
    for (m, what) in bad {
        let e = within(what, d.send(m)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{what}: {e}");
    }
    // The socket is unharmed: the next good message goes.
    send(&d, msg(&[to.as_bytes(), b"after"]), "good").await;
    assert_eq!(plain_recv(&u, "after the errors").await.0, b"after");
    close(&d).await;
}

#[tokio::test]
async fn one_udp_bind_at_a_time_other_endpoints_are_enocompatproto() {
    let _panics = support::check_library_panics();
    let d = Socket::new(SocketType::Dgram);
    for ep in ["tcp://127.0.0.1:*", "inproc://dgram-test"] {
        let e = within("bind", d.bind(ep)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IncompatibleProtocol, "bind {ep}: {e}");
    }
    #[cfg(unix)]
    {
        let ipc = support::UnboundIpc::new("dgram");
        let e = within("bind", d.bind(&ipc.endpoint)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IncompatibleProtocol, "bind ipc: {e}");
    }
    for ep in ["udp://127.0.0.1:5555", "tcp://127.0.0.1:5555"] {
        let e = within("connect", d.connect(ep)).await.unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::IncompatibleProtocol,
            "connect {ep}: {e}"
        );
    }
    let first = within("bind", d.bind("udp://127.0.0.1:*")).await.unwrap();
    let e = within("bind", d.bind("udp://127.0.0.1:*"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "second bind: {e}");
    // Unbound, it binds again, and the new endpoint carries its datagrams.
    within("unbind", d.unbind(&first)).await.unwrap();
    let again = within("rebind", d.bind("udp://127.0.0.1:*")).await.unwrap();
    let (u, u_addr) = plain();
    send(
        &d,
        msg(&[u_addr.to_string().as_bytes(), b"rebound"]),
        "rebound",
    )
    .await;
    let (got, from) = plain_recv(&u, "after the rebind").await;
    assert_eq!(got, b"rebound");
    assert_eq!(format!("udp://{from}"), again, "sent from the new endpoint");
    close(&d).await;
}

#[tokio::test]
async fn before_its_bind_a_send_waits_and_the_type_is_named_as_libzmq() {
    let _panics = support::check_library_panics();
    assert_eq!(SocketType::from_raw(18), Some(SocketType::Dgram));
    assert_eq!("dgram".parse::<SocketType>().unwrap(), SocketType::Dgram);
    assert_eq!(SocketType::Dgram.as_str(), "DGRAM");
    assert!(
        !SocketType::ALL.contains(&SocketType::Dgram),
        "no ZMTP peer announces it"
    );
    let d = Socket::new(SocketType::Dgram);
    assert_eq!(d.getsockopt(opt::TYPE).unwrap().as_int(), Some(18));
    let (u, u_addr) = plain();
    let m = msg(&[u_addr.to_string().as_bytes(), b"queued"]);
    let e = d.try_send(m.clone()).unwrap_err();
    assert_eq!(e.error.kind(), ErrorKind::Again, "nowhere to send yet");
    assert!(
        tokio::time::timeout(Duration::from_millis(50), d.send(m.clone()))
            .await
            .is_err(),
        "send waits for the bind"
    );
    within("bind", d.bind("udp://127.0.0.1:*")).await.unwrap();
    send(&d, m, "after the bind").await;
    assert_eq!(plain_recv(&u, "after the bind").await.0, b"queued");
    close(&d).await;
}
