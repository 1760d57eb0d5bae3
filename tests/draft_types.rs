//! libzmq's draft socket types SERVER/CLIENT, SCATTER/GATHER, PEER and CHANNEL between our
//! own sockets over tcp, ipc and inproc: every pair exchanges messages, SERVER and PEER
//! route by `u32` routing id (`EHOSTUNREACH` without a known one), more than one frame is
//! `EINVAL`, PEER's `connect_peer` returns the id that reaches the peer, and reconnects
//! keep working (the connect side keeps its routing id). Byte-exact checks against a mock
//! peer are in `draft_types_wire.rs`.

mod support;

use aiozmq::{ErrorKind, Message, Socket, SocketType};
use support::{close, frames, msg, recv, send, within, UnboundIpc};

/// The transports every pair is tried over.
const TRANSPORTS: [&str; 3] = ["tcp", "ipc", "inproc"];

/// A fresh endpoint to bind for `transport` (the ipc directory lives as long as the guard).
fn endpoint(transport: &str, tag: &str) -> (String, Option<UnboundIpc>) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match transport {
        "tcp" => ("tcp://127.0.0.1:*".to_string(), None),
        "ipc" => {
            let ipc = UnboundIpc::new(tag);
            (ipc.endpoint.clone(), Some(ipc))
        }
        "inproc" => (format!("inproc://draft-{tag}-{n}"), None),
        other => panic!("unknown transport {other}"),
    }
}

/// Binds `s` to `ep`, returning the resolved endpoint.
async fn bind(s: &Socket, ep: &str) -> String {
    within(&format!("bind {ep}"), s.bind(ep))
        .await
        .unwrap_or_else(|e| panic!("bind {ep}: {e}"))
}

/// A one-frame message.
fn one(body: &str) -> Message {
    Message::from(body.to_string())
}

/// SERVER bound, CLIENT connected (and the reverse), over every transport: the request
/// reaches the SERVER with a non-zero routing id, the reply sent to that id reaches the
/// CLIENT as one frame without a routing id.
#[tokio::test]
async fn client_and_server_exchange_over_tcp_ipc_and_inproc_in_both_roles() {
    for transport in TRANSPORTS {
        for server_binds in [true, false] {
            let what = format!("{transport}, server binds: {server_binds}");
            let server = Socket::new(SocketType::Server);
            let client = Socket::new(SocketType::Client);
            let (ep, _guard) = endpoint(transport, "cs");
            let (binder, connecter) = if server_binds {
                (&server, &client)
            } else {
                (&client, &server)
            };
            let ep = bind(binder, &ep).await;
            connecter.connect(&ep).await.unwrap();
            send(&client, one("request"), &what).await;
            let got = recv(&server, &what).await;
            assert_eq!(frames(&got), [b"request".to_vec()], "{what}");
            let rid = got.routing_id().expect("a SERVER message names its peer");
            assert_ne!(rid, 0, "{what}");
            send(&server, one("reply").with_routing_id(rid), &what).await;
            let reply = recv(&client, &what).await;
            assert_eq!(frames(&reply), [b"reply".to_vec()], "{what}");
            assert_eq!(
                reply.routing_id(),
                None,
                "{what}: CLIENT messages carry no id"
            );
            close(&client).await;
            close(&server).await;
        }
    }
}

/// SCATTER to GATHER over every transport, with SCATTER binding and connecting: every
/// message arrives, in order, one frame each.
#[tokio::test]
async fn scatter_reaches_gather_over_tcp_ipc_and_inproc() {
    for transport in TRANSPORTS {
        for scatter_binds in [true, false] {
            let what = format!("{transport}, scatter binds: {scatter_binds}");
            let scatter = Socket::new(SocketType::Scatter);
            let gather = Socket::new(SocketType::Gather);
            let (ep, _guard) = endpoint(transport, "sg");
            let (binder, connecter) = if scatter_binds {
                (&scatter, &gather)
            } else {
                (&gather, &scatter)
            };
            let ep = bind(binder, &ep).await;
            connecter.connect(&ep).await.unwrap();
            for i in 0..5 {
                send(&scatter, one(&format!("m{i}")), &what).await;
            }
            for i in 0..5 {
                let got = recv(&gather, &what).await;
                assert_eq!(frames(&got), [format!("m{i}").into_bytes()], "{what}");
            }
            close(&scatter).await;
            close(&gather).await;
        }
    }
}

/// Three SCATTERs into one GATHER: each one's message arrives; one SCATTER to two
/// GATHERs: round-robin gives each two of four.
#[tokio::test]
async fn gather_takes_from_every_scatter_and_scatter_round_robins() {
    let gather = Socket::new(SocketType::Gather);
    let ep = support::bind_any(&gather).await;
    let scatters: Vec<Socket> = (0..3).map(|_| Socket::new(SocketType::Scatter)).collect();
    for (i, s) in scatters.iter().enumerate() {
        s.connect(&ep).await.unwrap();
        send(s, one(&format!("from {i}")), "scatter").await;
    }
    let mut got: Vec<Vec<u8>> = Vec::new();
    for _ in 0..3 {
        got.push(recv(&gather, "gather").await[0].to_vec());
    }
    got.sort();
    assert_eq!(
        got,
        [b"from 0".to_vec(), b"from 1".to_vec(), b"from 2".to_vec()]
    );

    let scatter = Socket::new(SocketType::Scatter);
    let ep2 = support::bind_any(&scatter).await;
    let gathers = [
        Socket::new(SocketType::Gather),
        Socket::new(SocketType::Gather),
    ];
    for g in &gathers {
        g.connect(&ep2).await.unwrap();
    }
    // Both connections up before sending, so that round-robin has both to choose from.
    within("both gathers attached", async {
        while scatter.counters().peers < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    for i in 0..4 {
        send(&scatter, one(&format!("r{i}")), "scatter").await;
    }
    // Round-robin: two each (a gather given fewer would wait here and fail).
    for g in &gathers {
        for _ in 0..2 {
            assert_eq!(recv(g, "gather").await.len(), 1);
        }
    }
    for s in scatters.iter().chain([&scatter, &gather]).chain(&gathers) {
        close(s).await;
    }
}

/// PEER to PEER over every transport: `connect_peer` returns the id under which the other
/// PEER is reached; the other side sees the sender's id on what it receives and answers
/// to it; the answer arrives with the id `connect_peer` gave.
#[tokio::test]
async fn peers_exchange_over_tcp_ipc_and_inproc_by_the_id_connect_peer_returns() {
    for transport in TRANSPORTS {
        let what = transport.to_string();
        let a = Socket::new(SocketType::Peer);
        let b = Socket::new(SocketType::Peer);
        let (ep, _guard) = endpoint(transport, "peer");
        let ep = bind(&a, &ep).await;
        let a_at_b = within("connect_peer", b.connect_peer(&ep)).await.unwrap();
        assert_ne!(a_at_b, 0, "{what}");
        send(&b, one("hello a").with_routing_id(a_at_b), &what).await;
        let got = recv(&a, &what).await;
        assert_eq!(frames(&got), [b"hello a".to_vec()], "{what}");
        let b_at_a = got.routing_id().expect("a PEER message names its peer");
        send(&a, one("hello b").with_routing_id(b_at_a), &what).await;
        let back = recv(&b, &what).await;
        assert_eq!(frames(&back), [b"hello b".to_vec()], "{what}");
        assert_eq!(back.routing_id(), Some(a_at_b), "{what}");
        close(&a).await;
        close(&b).await;
    }
}

/// CHANNEL to CHANNEL over every transport, both directions.
#[tokio::test]
async fn channels_exchange_over_tcp_ipc_and_inproc() {
    for transport in TRANSPORTS {
        let what = transport.to_string();
        let a = Socket::new(SocketType::Channel);
        let b = Socket::new(SocketType::Channel);
        let (ep, _guard) = endpoint(transport, "channel");
        let ep = bind(&a, &ep).await;
        b.connect(&ep).await.unwrap();
        send(&b, one("ping"), &what).await;
        assert_eq!(frames(&recv(&a, &what).await), [b"ping".to_vec()], "{what}");
        send(&a, one("pong"), &what).await;
        assert_eq!(frames(&recv(&b, &what).await), [b"pong".to_vec()], "{what}");
        close(&a).await;
        close(&b).await;
    }
}

/// A SERVER with three CLIENTs: distinct non-zero ids, and each reply goes to the client
/// its id names, none to another.
#[tokio::test]
async fn server_routes_each_reply_to_the_client_its_routing_id_names() {
    let server = Socket::new(SocketType::Server);
    let ep = support::bind_any(&server).await;
    let clients: Vec<Socket> = (0..3).map(|_| Socket::new(SocketType::Client)).collect();
    for (i, c) in clients.iter().enumerate() {
        c.connect(&ep).await.unwrap();
        send(c, one(&format!("{i}")), "client").await;
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        let m = recv(&server, "server").await;
        let i: usize = std::str::from_utf8(&m[0]).unwrap().parse().unwrap();
        ids.push((i, m.routing_id().expect("routed")));
    }
    let mut distinct: Vec<u32> = ids.iter().map(|&(_, r)| r).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{ids:?}");
    assert!(!distinct.contains(&0));
    for &(i, rid) in &ids {
        send(
            &server,
            one(&format!("to {i}")).with_routing_id(rid),
            "reply",
        )
        .await;
    }
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(
            frames(&recv(c, "client").await),
            [format!("to {i}").into_bytes()]
        );
        assert!(
            c.try_recv().is_err_and(|e| e.kind() == ErrorKind::Again),
            "client {i} got a second reply"
        );
    }
    for c in &clients {
        close(c).await;
    }
    close(&server).await;
}

/// SERVER and PEER: a message without a routing id, or naming no peer, is `EHOSTUNREACH`
/// and given back; a peer that left makes its id unknown too.
#[tokio::test]
async fn send_without_a_known_routing_id_is_ehostunreach() {
    for (ours, theirs) in [
        (SocketType::Server, SocketType::Client),
        (SocketType::Peer, SocketType::Peer),
    ] {
        let s = Socket::new(ours);
        let ep = support::bind_any(&s).await;
        let e = s.try_send(one("nobody")).unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::HostUnreachable, "{ours}: no id");
        assert_eq!(frames(&e.message), [b"nobody".to_vec()], "given back");
        let e = within("send", s.send(one("x").with_routing_id(12345)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::HostUnreachable, "{ours}: unknown id");

        let other = Socket::new(theirs);
        // A PEER names the peer its connect reaches; a CLIENT needs no id (0: none).
        let to_s = if theirs == SocketType::Peer {
            other.connect_peer(&ep).await.unwrap()
        } else {
            other.connect(&ep).await.unwrap();
            0
        };
        send(&other, one("hi").with_routing_id(to_s), "the peer").await;
        let rid = recv(&s, "first message").await.routing_id().unwrap();
        send(&s, one("ok").with_routing_id(rid), "reply").await;
        assert_eq!(frames(&recv(&other, "reply").await), [b"ok".to_vec()]);
        close(&other).await;
        within("the id is forgotten once the peer left", async {
            loop {
                match s.try_send(one("late").with_routing_id(rid)) {
                    Err(e) if e.error.kind() == ErrorKind::HostUnreachable => break,
                    Ok(()) | Err(_) => tokio::task::yield_now().await,
                }
            }
        })
        .await;
        close(&s).await;
    }
}

/// Every single-frame type that sends refuses a message of more than one frame with
/// `EINVAL`, gives it back, and sends nothing; GATHER cannot send and SCATTER cannot
/// receive (`ENOTSUP`).
#[tokio::test]
async fn more_than_one_frame_is_einval_and_one_way_types_refuse_the_other_way() {
    for t in [
        SocketType::Server,
        SocketType::Client,
        SocketType::Scatter,
        SocketType::Peer,
        SocketType::Channel,
        SocketType::Radio,
    ] {
        assert!(t.is_single_frame());
        let s = Socket::new(t);
        let two = msg(&[b"a", b"b"]).with_routing_id(1);
        let e = s.try_send(two.clone()).unwrap_err();
        assert_eq!(e.error.kind(), ErrorKind::InvalidInput, "{t}");
        assert_eq!(e.message, two, "{t}: given back");
        let e = within("send", s.send(two)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{t}");
        assert_eq!(s.counters().messages_out, 0, "{t}");
        close(&s).await;
    }
    let gather = Socket::new(SocketType::Gather);
    assert_eq!(
        gather.try_send(one("x")).unwrap_err().error.kind(),
        ErrorKind::NotSupported
    );
    let scatter = Socket::new(SocketType::Scatter);
    assert_eq!(
        scatter.try_recv().unwrap_err().kind(),
        ErrorKind::NotSupported
    );
    assert!(SocketType::Dish.is_single_frame());
    assert!(!SocketType::Dealer.is_single_frame());
}

/// The multipart refusal also holds between two of our sockets over inproc, where no
/// encoding happens: the CLIENT's two-frame send fails and the SERVER gets only the next
/// one-frame message.
#[tokio::test]
async fn a_refused_multipart_send_leaves_the_next_message_intact() {
    let server = Socket::new(SocketType::Server);
    let ep = bind(&server, "inproc://draft-multipart-refused").await;
    let client = Socket::new(SocketType::Client);
    client.connect(&ep).await.unwrap();
    assert!(client.try_send(msg(&[b"a", b"b"])).is_err());
    send(&client, one("single"), "client").await;
    assert_eq!(frames(&recv(&server, "server").await), [b"single".to_vec()]);
    close(&client).await;
    close(&server).await;
}

/// `connect_peer` before the peer is there: the id is known at once, a message sent to it
/// waits and arrives once the peer binds. Two `connect_peer`s give two ids, each reaching
/// its own peer. `ENOTSUP` on other types, `EFAULT` under IMMEDIATE.
#[tokio::test]
async fn connect_peer_names_each_peer_before_it_is_connected() {
    let b = Socket::new(SocketType::Peer);
    let ipc1 = UnboundIpc::new("cp1");
    let ipc2 = UnboundIpc::new("cp2");
    let id1 = b.connect_peer(&ipc1.endpoint).await.unwrap();
    let id2 = b.connect_peer(&ipc2.endpoint).await.unwrap();
    assert!(id1 != 0 && id2 != 0 && id1 != id2, "{id1} {id2}");
    send(&b, one("to 1").with_routing_id(id1), "queued before bind").await;
    send(&b, one("to 2").with_routing_id(id2), "queued before bind").await;
    let a1 = Socket::new(SocketType::Peer);
    let a2 = Socket::new(SocketType::Peer);
    bind(&a1, &ipc1.endpoint).await;
    bind(&a2, &ipc2.endpoint).await;
    assert_eq!(frames(&recv(&a1, "a1").await), [b"to 1".to_vec()]);
    assert_eq!(frames(&recv(&a2, "a2").await), [b"to 2".to_vec()]);

    let server = Socket::new(SocketType::Server);
    let e = server.connect_peer(&ipc1.endpoint).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSupported);
    let immediate = Socket::new(SocketType::Peer);
    immediate.set_immediate(true).unwrap();
    let e = immediate.connect_peer(&ipc1.endpoint).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fault);
    assert_eq!(e.kind().errno(), 14);
    assert!(immediate.connections().is_empty(), "nothing connected");
    for s in [&a1, &a2, &b, &server, &immediate] {
        close(s).await;
    }
}

/// The connecting side reconnects when its peer comes back on the same endpoint: CLIENT
/// to a new SERVER, and a PEER keeps the id `connect_peer` gave (libzmq keeps the pipe).
#[tokio::test]
async fn reconnect_keeps_working_and_keeps_the_peer_id() {
    let ipc = UnboundIpc::new("reconnect-cs");
    let client = Socket::new(SocketType::Client);
    client
        .set_reconnect_ivl(std::time::Duration::from_millis(20))
        .unwrap();
    client.connect(&ipc.endpoint).await.unwrap();
    for round in 0..2 {
        let server = Socket::new(SocketType::Server);
        bind(&server, &ipc.endpoint).await;
        send(&client, one(&format!("round {round}")), "client").await;
        let got = recv(&server, "server").await;
        assert_eq!(frames(&got), [format!("round {round}").into_bytes()]);
        send(
            &server,
            one("ack").with_routing_id(got.routing_id().unwrap()),
            "server",
        )
        .await;
        assert_eq!(frames(&recv(&client, "client").await), [b"ack".to_vec()]);
        close(&server).await;
    }
    close(&client).await;

    let ipc = UnboundIpc::new("reconnect-peer");
    let b = Socket::new(SocketType::Peer);
    b.set_reconnect_ivl(std::time::Duration::from_millis(20))
        .unwrap();
    let id = b.connect_peer(&ipc.endpoint).await.unwrap();
    for round in 0..2 {
        let a = Socket::new(SocketType::Peer);
        bind(&a, &ipc.endpoint).await;
        send(&b, one(&format!("round {round}")).with_routing_id(id), "b").await;
        let got = recv(&a, "a").await;
        assert_eq!(frames(&got), [format!("round {round}").into_bytes()]);
        send(
            &a,
            one("ack").with_routing_id(got.routing_id().unwrap()),
            "a",
        )
        .await;
        let back = recv(&b, "b").await;
        assert_eq!(back.routing_id(), Some(id), "round {round}: the same id");
        close(&a).await;
    }
    close(&b).await;
}

/// SNDHWM holds for SERVER: a peer that does not read fills up, then `try_send` to it is
/// `EAGAIN` (libzmq's answer) while the id stays known.
#[tokio::test]
async fn server_send_to_a_full_peer_is_eagain() {
    let server = Socket::new(SocketType::Server);
    server.set_sndhwm(4).unwrap();
    let ep = bind(&server, "inproc://draft-full-peer").await;
    let client = Socket::new(SocketType::Client);
    client.set_rcvhwm(4).unwrap();
    client.connect(&ep).await.unwrap();
    send(&client, one("hi"), "client").await;
    let rid = recv(&server, "server").await.routing_id().unwrap();
    let blocked = within("fill the peer", async {
        for n in 0..100_000u32 {
            match server.try_send(one("fill").with_routing_id(rid)) {
                Ok(()) => tokio::task::yield_now().await,
                Err(e) => return (n, e.error.kind()),
            }
        }
        panic!("never full");
    })
    .await;
    assert_eq!(blocked.1, ErrorKind::Again, "after {} messages", blocked.0);
    assert!(blocked.0 >= 4, "at least SNDHWM queued: {}", blocked.0);
    close(&client).await;
    close(&server).await;
}

/// The names and numbers the options and the CLI use.
#[test]
fn names_and_numbers_are_libzmqs() {
    for (t, name, n) in [
        (SocketType::Server, "SERVER", 12),
        (SocketType::Client, "CLIENT", 13),
        (SocketType::Gather, "GATHER", 16),
        (SocketType::Scatter, "SCATTER", 17),
        (SocketType::Peer, "PEER", 19),
        (SocketType::Channel, "CHANNEL", 20),
    ] {
        assert_eq!(t.as_str(), name);
        assert_eq!(t.to_raw(), n);
        assert_eq!(SocketType::from_raw(n), Some(t));
        assert_eq!(SocketType::from_name(name.as_bytes()), Some(t));
        assert_eq!(
            SocketType::from_any_name(name.to_lowercase().as_bytes()),
            Some(t)
        );
        let s = Socket::new(t);
        assert_eq!(
            s.getsockopt(aiozmq::socket::opt::TYPE).unwrap(),
            aiozmq::socket::OptValue::Int(n.into())
        );
    }
    use SocketType::*;
    let ok = [
        (Server, Client),
        (Client, Server),
        (Gather, Scatter),
        (Scatter, Gather),
        (Peer, Peer),
        (Channel, Channel),
        (Radio, Dish),
        (Dish, Radio),
    ];
    for a in SocketType::ALL {
        for b in SocketType::ALL {
            if a.is_single_frame() || b.is_single_frame() {
                assert_eq!(a.is_compatible(b), ok.contains(&(a, b)), "{a} with {b}");
            }
        }
    }
}

/// The blocking API's `connect_peer`, as the async one: the id it returns reaches the
/// bound PEER, and the answer comes back labelled with it.
#[test]
fn blocking_connect_peer_returns_the_id_that_reaches_the_peer() {
    use aiozmq::blocking::Socket as BlockingSocket;
    let a = BlockingSocket::new(SocketType::Peer);
    let b = BlockingSocket::new(SocketType::Peer);
    for s in [&a, &b] {
        let ms = support::OP_TIMEOUT.as_millis() as i32;
        s.set_rcvtimeo(ms).unwrap();
        s.set_sndtimeo(ms).unwrap();
    }
    let ep = a.bind("tcp://127.0.0.1:*").unwrap();
    let id = b.connect_peer(&ep).unwrap();
    b.send(one("hi").with_routing_id(id)).unwrap();
    let got = a.recv().unwrap();
    assert_eq!(frames(&got), [b"hi".to_vec()]);
    a.send(one("back").with_routing_id(got.routing_id().unwrap()))
        .unwrap();
    assert_eq!(b.recv().unwrap().routing_id(), Some(id));
}

/// `SocketType::can_send`/`can_recv` (which the CLI's direction checks use) say exactly
/// which types refuse a send or a receive with `ENOTSUP`, for every type.
#[tokio::test]
async fn can_send_and_can_recv_match_what_each_type_refuses() {
    let _panics = support::check_library_panics();
    for t in SocketType::ALL.into_iter().chain([SocketType::Stream]) {
        let s = Socket::new(t);
        let sent = s.try_send(one("x")).err().map(|e| e.error.kind());
        assert_eq!(
            sent == Some(ErrorKind::NotSupported),
            !t.can_send(),
            "{t}: try_send gave {sent:?}"
        );
        let received = s.try_recv().err().map(|e| e.kind());
        assert_eq!(
            received == Some(ErrorKind::NotSupported),
            !t.can_recv(),
            "{t}: try_recv gave {received:?}"
        );
    }
}
