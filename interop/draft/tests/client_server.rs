//! CLIENT/SERVER, SCATTER/GATHER, PEER and CHANNEL against libzmq 4.3.5's, over tcp and
//! ipc, each side binding in turn: messages arrive exactly, a SERVER answers each CLIENT by
//! the routing id its message came with, SCATTER deals round-robin over its GATHERs, PEER's
//! `connect_peer` id reaches the peer, CHANNEL carries both ways.

use std::time::Duration;

use aiozmq::{EventKind, Message, Socket, SocketType};
use aiozmq_draft_interop::libzmq::{self, Context};
use aiozmq_draft_interop::{
    bind, close, connect, expect, frames, recv, send, within, Lz, LzMonitor, Transport, TRANSPORTS,
};

/// libzmq's monitor event for a completed ZMTP handshake.
const EVENT_HANDSHAKE_SUCCEEDED: u16 = 0x1000;

/// Every stream link: each transport, with the libzmq side binding and then connecting.
fn links() -> Vec<(Transport, bool)> {
    TRANSPORTS
        .iter()
        .flat_map(|t| [(*t, true), (*t, false)])
        .collect()
}

fn body(m: &Message) -> Vec<u8> {
    let f = frames(m);
    assert_eq!(f.len(), 1, "one frame: {f:?}");
    f[0].clone()
}

/// Connects `a` (libzmq) and `b` (ours): the side that binds is libzmq's when
/// `libzmq_binds`.
async fn link(lz: &Lz, ours: &Socket, t: Transport, libzmq_binds: bool) {
    if libzmq_binds {
        let ep = lz.bind(&t.endpoint());
        connect(ours, &ep).await;
    } else {
        let ep = bind(ours, &t.endpoint()).await;
        lz.connect(&ep);
    }
}

/// Waits until our socket has completed `n` handshakes.
async fn our_handshakes(mon: &mut aiozmq::Monitor, n: usize, what: &str) {
    let mut seen = 0;
    while seen < n {
        let ev = within(what, mon.recv()).await.expect("monitor open");
        if ev.kind == EventKind::HandshakeSucceeded {
            seen += 1;
        }
    }
}

// ----- CLIENT/SERVER ---------------------------------------------------------------------

/// A libzmq SERVER answers two of our CLIENTs by the routing id each message came with;
/// each CLIENT gets exactly its own replies.
#[tokio::test]
async fn libzmq_server_answers_our_clients_by_routing_id() {
    for (t, libzmq_binds) in links() {
        let what = format!("{t:?}, libzmq binds: {libzmq_binds}");
        let ctx = Context::new();
        let server = Lz::new(&ctx, libzmq::SERVER);
        let clients = [
            Socket::new(SocketType::Client),
            Socket::new(SocketType::Client),
        ];
        if libzmq_binds {
            let ep = server.bind(&t.endpoint());
            for c in &clients {
                connect(c, &ep).await;
            }
        } else {
            for c in &clients {
                let ep = bind(c, &t.endpoint()).await;
                server.connect(&ep);
            }
        }
        let mut ids = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            send(c, &[format!("hi-{i}").as_bytes()], "client").await;
            let (id, data) = server.recv_routed(&what).await;
            assert_eq!(data, format!("hi-{i}").into_bytes(), "{what}");
            assert_ne!(id, 0, "{what}: a routing id");
            ids.push(id);
        }
        assert_ne!(ids[0], ids[1], "{what}: one routing id per client");
        // Replies in the other order, two each.
        for round in 0..2 {
            for i in [1, 0] {
                let reply = format!("re-{i}-{round}");
                server.send_routed(ids[i], reply.as_bytes(), &what).await;
            }
        }
        for (i, c) in clients.iter().enumerate() {
            for round in 0..2 {
                let reply = format!("re-{i}-{round}");
                expect(c, &[reply.as_bytes()], &what).await;
            }
            assert!(c.try_recv().is_err(), "{what}: only its own replies");
            close(c).await;
        }
    }
}

/// Our SERVER answers two libzmq CLIENTs by the routing id each message came with.
#[tokio::test]
async fn our_server_answers_libzmq_clients_by_routing_id() {
    for (t, libzmq_binds) in links() {
        let what = format!("{t:?}, libzmq binds: {libzmq_binds}");
        let ctx = Context::new();
        let server = Socket::new(SocketType::Server);
        let clients = [Lz::new(&ctx, libzmq::CLIENT), Lz::new(&ctx, libzmq::CLIENT)];
        if libzmq_binds {
            for c in &clients {
                let ep = c.bind(&t.endpoint());
                connect(&server, &ep).await;
            }
        } else {
            let ep = bind(&server, &t.endpoint()).await;
            for c in &clients {
                c.connect(&ep);
            }
        }
        let mut ids = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            c.send(&[format!("hi-{i}").as_bytes()], "client").await;
            let m = recv(&server, &what).await;
            assert_eq!(body(&m), format!("hi-{i}").into_bytes(), "{what}");
            ids.push(m.routing_id().expect("a routing id"));
        }
        assert_ne!(ids[0], ids[1], "{what}: one routing id per client");
        for round in 0..2 {
            for i in [1, 0] {
                let reply = Message::from(format!("re-{i}-{round}")).with_routing_id(ids[i]);
                within(&what, server.send(reply)).await.unwrap();
            }
        }
        for (i, c) in clients.iter().enumerate() {
            for round in 0..2 {
                c.expect(&[format!("re-{i}-{round}").as_bytes()], &what)
                    .await;
            }
            c.expect_nothing(Duration::from_millis(100), &what).await;
        }
        close(&server).await;
    }
}

// ----- SCATTER/GATHER --------------------------------------------------------------------

/// Our SCATTER deals round-robin over two libzmq GATHERs: each gets every other message,
/// in order.
#[tokio::test]
async fn our_scatter_deals_round_robin_to_libzmq_gathers() {
    for (t, libzmq_binds) in links() {
        let what = format!("{t:?}, libzmq binds: {libzmq_binds}");
        let ctx = Context::new();
        let scatter = Socket::new(SocketType::Scatter);
        let mut mon = scatter.monitor(64);
        let gathers = [Lz::new(&ctx, libzmq::GATHER), Lz::new(&ctx, libzmq::GATHER)];
        if libzmq_binds {
            for g in &gathers {
                let ep = g.bind(&t.endpoint());
                connect(&scatter, &ep).await;
            }
        } else {
            let ep = bind(&scatter, &t.endpoint()).await;
            for g in &gathers {
                g.connect(&ep);
            }
        }
        our_handshakes(&mut mon, 2, &what).await;
        for i in 0..6 {
            send(&scatter, &[format!("m{i}").as_bytes()], "scatter").await;
        }
        let mut got = Vec::new();
        for g in &gathers {
            let mut mine = Vec::new();
            for _ in 0..3 {
                let m = g.recv(&what).await;
                assert_eq!(m.len(), 1, "{what}: one frame");
                mine.push(String::from_utf8(m[0].clone()).unwrap());
            }
            g.expect_nothing(Duration::from_millis(100), &what).await;
            got.push(mine);
        }
        got.sort();
        assert_eq!(
            got,
            [["m0", "m2", "m4"], ["m1", "m3", "m5"]],
            "{what}: alternate messages each"
        );
        close(&scatter).await;
    }
}

/// A libzmq SCATTER deals round-robin over two of our GATHERs.
#[tokio::test]
async fn libzmq_scatter_deals_round_robin_to_our_gathers() {
    for (t, libzmq_binds) in links() {
        let what = format!("{t:?}, libzmq binds: {libzmq_binds}");
        let ctx = Context::new();
        let scatter = Lz::new(&ctx, libzmq::SCATTER);
        let mon = LzMonitor::new(
            &ctx,
            &scatter,
            "scatter",
            i32::from(EVENT_HANDSHAKE_SUCCEEDED),
        );
        let gathers = [
            Socket::new(SocketType::Gather),
            Socket::new(SocketType::Gather),
        ];
        if libzmq_binds {
            let ep = scatter.bind(&t.endpoint());
            for g in &gathers {
                connect(g, &ep).await;
            }
        } else {
            for g in &gathers {
                let ep = bind(g, &t.endpoint()).await;
                scatter.connect(&ep);
            }
        }
        for _ in 0..2 {
            mon.wait_for(EVENT_HANDSHAKE_SUCCEEDED, &what).await;
        }
        for i in 0..6 {
            scatter.send(&[format!("m{i}").as_bytes()], "scatter").await;
        }
        let mut got = Vec::new();
        for g in &gathers {
            let mut mine = Vec::new();
            for _ in 0..3 {
                mine.push(String::from_utf8(body(&recv(g, &what).await)).unwrap());
            }
            got.push(mine);
        }
        got.sort();
        assert_eq!(
            got,
            [["m0", "m2", "m4"], ["m1", "m3", "m5"]],
            "{what}: alternate messages each"
        );
        for g in &gathers {
            assert!(g.try_recv().is_err(), "{what}: nothing more");
            close(g).await;
        }
    }
}

// ----- PEER ------------------------------------------------------------------------------

/// Our PEER's `connect_peer` to a libzmq PEER: the id it returns names the libzmq PEER at
/// once, and the libzmq PEER answers by the id our messages came with; then the reverse.
#[tokio::test]
async fn peer_connect_peer_both_ways() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        // Ours connects.
        let theirs = Lz::new(&ctx, libzmq::PEER);
        let ep = theirs.bind(&t.endpoint());
        let peer = Socket::new(SocketType::Peer);
        let id = within("connect_peer", peer.connect_peer(&ep))
            .await
            .unwrap();
        assert_ne!(id, 0);
        within(
            "send",
            peer.send(Message::from("hello").with_routing_id(id)),
        )
        .await
        .unwrap();
        let (their_id_for_us, data) = theirs.recv_routed("libzmq peer").await;
        assert_eq!(data, b"hello", "{t:?}");
        theirs
            .send_routed(their_id_for_us, b"answer", "libzmq peer")
            .await;
        let m = recv(&peer, "our peer").await;
        assert_eq!(body(&m), b"answer", "{t:?}");
        assert_eq!(
            m.routing_id(),
            Some(id),
            "{t:?}: from the id connect_peer gave"
        );
        close(&peer).await;

        // libzmq connects.
        let peer = Socket::new(SocketType::Peer);
        let ep = bind(&peer, &t.endpoint()).await;
        let theirs = Lz::new(&ctx, libzmq::PEER);
        let id = theirs.connect_peer(&ep);
        theirs.send_routed(id, b"hello", "libzmq peer").await;
        let m = recv(&peer, "our peer").await;
        assert_eq!(body(&m), b"hello", "{t:?}");
        let ours_for_them = m.routing_id().expect("a routing id");
        within(
            "send",
            peer.send(Message::from("answer").with_routing_id(ours_for_them)),
        )
        .await
        .unwrap();
        let (from, data) = theirs.recv_routed("libzmq peer").await;
        assert_eq!((from, data), (id, b"answer".to_vec()), "{t:?}");
        close(&peer).await;
    }
}

// ----- CHANNEL ---------------------------------------------------------------------------

/// CHANNEL with a libzmq CHANNEL: messages both ways, in order, each side binding in turn.
#[tokio::test]
async fn channel_both_ways() {
    for (t, libzmq_binds) in links() {
        let what = format!("{t:?}, libzmq binds: {libzmq_binds}");
        let ctx = Context::new();
        let theirs = Lz::new(&ctx, libzmq::CHANNEL);
        let ours = Socket::new(SocketType::Channel);
        link(&theirs, &ours, t, libzmq_binds).await;
        for i in 0..3 {
            send(&ours, &[format!("to-{i}").as_bytes()], "ours").await;
            theirs
                .send(&[format!("from-{i}").as_bytes()], "theirs")
                .await;
        }
        for i in 0..3 {
            theirs.expect(&[format!("to-{i}").as_bytes()], &what).await;
            expect(&ours, &[format!("from-{i}").as_bytes()], &what).await;
        }
        close(&ours).await;
    }
}

// ----- HELLO_MSG, DISCONNECT_MSG, HICCUP_MSG on CLIENT/SERVER ---------------------------

/// libzmq's CLIENT says HELLO_MSG and gets HICCUP_MSG, its SERVER gets DISCONNECT_MSG
/// (under the leaving peer's routing id); libzmq's on one side, ours on the other, then
/// the reverse.
#[tokio::test]
async fn client_server_hello_disconnect_and_hiccup_msgs_both_ways() {
    for t in TRANSPORTS {
        let ctx = Context::new();
        // libzmq's CLIENT and SERVER set them.
        let server = Socket::new(SocketType::Server);
        let ep = bind(&server, &t.endpoint()).await;
        let client = Lz::new(&ctx, libzmq::CLIENT);
        client.set_bytes(libzmq::HELLO_MSG, b"hello");
        client.set_bytes(libzmq::HICCUP_MSG, b"hiccup");
        client.set(libzmq::RECONNECT_IVL, 20);
        client.connect(&ep);
        let m = recv(&server, "hello").await;
        assert_eq!(body(&m), b"hello", "{t:?}: libzmq CLIENT's hello");
        assert!(m.routing_id().is_some());
        close(&server).await;
        client
            .expect(&[b"hiccup"], &format!("{t:?}: libzmq CLIENT's hiccup"))
            .await;

        let lserver = Lz::new(&ctx, libzmq::SERVER);
        lserver.set_bytes(libzmq::DISCONNECT_MSG, b"gone");
        let ep = lserver.bind(&t.endpoint());
        let oclient = Socket::new(SocketType::Client);
        connect(&oclient, &ep).await;
        send(&oclient, &[b"x"], "client").await;
        let (id, data) = lserver.recv_routed("data").await;
        assert_eq!(data, b"x");
        close(&oclient).await;
        let (gone_id, data) = lserver.recv_routed("disconnect message").await;
        assert_eq!(
            (gone_id, data),
            (id, b"gone".to_vec()),
            "{t:?}: libzmq SERVER's"
        );

        // Ours set them.
        let lserver = Lz::new(&ctx, libzmq::SERVER);
        let ep = lserver.bind(&t.endpoint());
        let oclient = Socket::new(SocketType::Client);
        oclient.set_hello_msg("hello").unwrap();
        oclient.set_hiccup_msg("hiccup").unwrap();
        connect(&oclient, &ep).await;
        let (_, data) = lserver.recv_routed("hello").await;
        assert_eq!(data, b"hello", "{t:?}: our CLIENT's hello");
        drop(lserver);
        expect(
            &oclient,
            &[b"hiccup"],
            &format!("{t:?}: our CLIENT's hiccup"),
        )
        .await;
        close(&oclient).await;

        let server = Socket::new(SocketType::Server);
        server.set_disconnect_msg("gone").unwrap();
        let ep = bind(&server, &t.endpoint()).await;
        let lclient = Lz::new(&ctx, libzmq::CLIENT);
        lclient.connect(&ep);
        lclient.send(&[b"x"], "client").await;
        let m = recv(&server, "data").await;
        assert_eq!(body(&m), b"x");
        drop(lclient);
        let gone = recv(&server, "disconnect message").await;
        assert_eq!(body(&gone), b"gone", "{t:?}: our SERVER's");
        assert_eq!(
            gone.routing_id(),
            m.routing_id(),
            "{t:?}: the leaving client's id"
        );
        close(&server).await;
    }
}
