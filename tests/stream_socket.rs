//! The STREAM socket (libzmq's ZMQ_STREAM): raw TCP peers without ZMTP, received as
//! `[routing id, data]`, written raw by `[routing id, data]`, closed by
//! `[routing id, empty frame]`; a connection's start and end are `[routing id, empty
//! frame]` (STREAM_NOTIFY). Against raw tokio sockets both ways, and against libzmq's STREAM
//! (pyzmq running `interop/peer.py`) both ways.

mod support;

use aiozmq::api::{opt, OptValue};
use aiozmq::{ErrorKind, EventKind, Socket, SocketType};
use bytes::Bytes;
use support::python::PyPeer;
use support::{
    bind_any, check_library_panics, close, connect, frames, msg, pattern, recv, send, wait_event,
    within, UnboundIpc,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The port of a `tcp://127.0.0.1:PORT` endpoint.
fn addr(endpoint: &str) -> String {
    endpoint
        .strip_prefix("tcp://")
        .unwrap_or_else(|| panic!("not a tcp endpoint: {endpoint}"))
        .to_string()
}

/// Receives the connect (or disconnect) notification and returns its routing id, which
/// must be libzmq's generated form: a zero byte, then four bytes.
async fn notification(s: &Socket, what: &str) -> Bytes {
    let m = recv(s, what).await;
    let f = frames(&m);
    assert_eq!(f.len(), 2, "{what}: {f:?}");
    assert!(f[1].is_empty(), "{what}: not a notification: {f:?}");
    assert_eq!(f[0].len(), 5, "{what}: routing id {:?}", f[0]);
    assert_eq!(f[0][0], 0, "{what}: routing id {:?}", f[0]);
    Bytes::from(f[0].clone())
}

/// Receives data from `id` until `want.len()` bytes came (one read of the peer's bytes
/// may arrive as several messages).
async fn recv_data(s: &Socket, id: &Bytes, want: &[u8], what: &str) {
    let mut got = Vec::new();
    while got.len() < want.len() {
        let m = recv(s, what).await;
        let f = frames(&m);
        assert_eq!(f.len(), 2, "{what}: {f:?}");
        assert_eq!(&f[0][..], &id[..], "{what}: from another peer");
        assert!(
            !f[1].is_empty(),
            "{what}: the connection ended after {got:?}"
        );
        got.extend_from_slice(&f[1]);
    }
    assert_eq!(got, want, "{what}");
}

#[tokio::test]
async fn raw_client_exchanges_data_and_sees_eof_after_the_empty_frame() {
    let _panics = check_library_panics();
    let server = Socket::new(SocketType::Stream);
    let ep = bind_any(&server).await;
    let mut client = within("connect", TcpStream::connect(addr(&ep)))
        .await
        .expect("connect");
    let id = notification(&server, "connect notification").await;

    within("client write", client.write_all(b"GET / HTTP/1.0\r\n\r\n"))
        .await
        .unwrap();
    recv_data(&server, &id, b"GET / HTTP/1.0\r\n\r\n", "request").await;

    send(&server, msg(&[&id, b"HTTP/1.0 200 OK\r\n\r\n"]), "response").await;
    send(&server, msg(&[&id, b"body"]), "body").await;
    send(&server, msg(&[&id, b""]), "close").await;
    let mut got = Vec::new();
    within("client reads to EOF", client.read_to_end(&mut got))
        .await
        .expect("read");
    assert_eq!(
        got, b"HTTP/1.0 200 OK\r\n\r\nbody",
        "everything before the close"
    );

    // The routing id is gone at once: libzmq's STREAM refuses it.
    let e = server
        .try_send(msg(&[&id, b"late"]))
        .expect_err("a closed peer took a message");
    assert_eq!(e.error.kind(), ErrorKind::HostUnreachable);
    close(&server).await;
}

#[tokio::test]
async fn raw_client_disconnect_is_received_as_an_empty_frame() {
    let _panics = check_library_panics();
    let server = Socket::new(SocketType::Stream);
    let ep = bind_any(&server).await;
    let mut first = TcpStream::connect(addr(&ep)).await.expect("connect");
    let id1 = notification(&server, "first connects").await;
    let second = TcpStream::connect(addr(&ep)).await.expect("connect");
    let id2 = notification(&server, "second connects").await;
    assert_ne!(id1, id2, "two connections, one routing id");

    first.write_all(b"bye").await.unwrap();
    drop(first);
    recv_data(&server, &id1, b"bye", "data before the disconnect").await;
    assert_eq!(
        notification(&server, "first disconnects").await,
        id1,
        "the disconnect names the connection that ended"
    );
    let e = server
        .try_send(msg(&[&id1, b"x"]))
        .expect_err("a disconnected peer took a message");
    assert_eq!(e.error.kind(), ErrorKind::HostUnreachable);
    // The other connection is untouched.
    send(&server, msg(&[&id2, b"still here"]), "to the second").await;
    let mut second = second;
    let mut buf = [0u8; 10];
    within("second reads", second.read_exact(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf, b"still here");
    close(&server).await;
}

#[tokio::test]
async fn stream_connects_out_to_a_raw_tcp_listener() {
    let _panics = check_library_panics();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let port = listener.local_addr().unwrap().port();
    let client = Socket::new(SocketType::Stream);
    connect(&client, &format!("tcp://127.0.0.1:{port}")).await;
    let (mut peer, _) = within("accept", listener.accept()).await.expect("accept");
    let id = notification(&client, "connected").await;

    send(&client, msg(&[&id, b"hello"]), "hello").await;
    let mut buf = [0u8; 5];
    within("peer reads", peer.read_exact(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf, b"hello");

    peer.write_all(b"world").await.unwrap();
    recv_data(&client, &id, b"world", "world").await;

    drop(peer);
    assert_eq!(notification(&client, "peer closed").await, id);
    close(&client).await;
}

#[tokio::test]
async fn send_rules_follow_libzmq() {
    let _panics = check_library_panics();
    let s = Socket::new(SocketType::Stream);
    let unknown = s
        .try_send(msg(&[b"\0abcd", b"data"]))
        .expect_err("an unknown routing id was accepted");
    assert_eq!(unknown.error.kind(), ErrorKind::HostUnreachable);
    let three = s
        .try_send(msg(&[b"\0abcd", b"a", b"b"]))
        .expect_err("three frames were accepted");
    assert_eq!(three.error.kind(), ErrorKind::InvalidInput);
    // A lone routing id is ignored, as libzmq does.
    s.try_send(msg(&[b"\0abcd"])).expect("a lone routing id");
    assert_eq!(s.counters().messages_out, 0);
    close(&s).await;
}

#[tokio::test]
async fn stream_notify_off_delivers_only_data() {
    let _panics = check_library_panics();
    let server = Socket::new(SocketType::Stream);
    server
        .setsockopt(opt::STREAM_NOTIFY, 0)
        .expect("STREAM_NOTIFY");
    assert_eq!(
        server.getsockopt(opt::STREAM_NOTIFY).unwrap(),
        OptValue::Int(0)
    );
    let mut mon = server.monitor(64);
    let ep = bind_any(&server).await;
    let mut client = TcpStream::connect(addr(&ep)).await.expect("connect");
    client.write_all(b"x").await.unwrap();
    let m = recv(&server, "first message").await;
    let f = frames(&m);
    assert_eq!(f.len(), 2);
    assert_eq!(
        f[1], b"x",
        "the first message is the data, not a notification"
    );
    let id = Bytes::from(f[0].clone());
    drop(client);
    // No disconnect notification: the peer's id just becomes unknown.
    wait_event(&mut mon, EventKind::Disconnected, "client gone").await;
    let e = server
        .try_send(msg(&[&id, b"y"]))
        .expect_err("a disconnected peer took a message");
    assert_eq!(e.error.kind(), ErrorKind::HostUnreachable);
    assert!(server.try_recv().is_err(), "a message after the disconnect");
    close(&server).await;
}

#[tokio::test]
async fn stream_refuses_inproc() {
    let _panics = check_library_panics();
    let s = Socket::new(SocketType::Stream);
    let e = s.bind("inproc://stream-refused").await.expect_err("bound");
    assert_eq!(e.kind(), ErrorKind::ProtocolNotSupported);
    let e = s
        .connect("inproc://stream-refused")
        .await
        .expect_err("connected");
    assert_eq!(e.kind(), ErrorKind::ProtocolNotSupported);
    assert_eq!("stream".parse::<SocketType>().unwrap(), SocketType::Stream);
    assert_eq!(SocketType::Stream.to_raw(), 11);
    assert_eq!(SocketType::from_raw(11), Some(SocketType::Stream));
    close(&s).await;
}

#[cfg_attr(
    windows,
    ignore = "needs the Python (pyzmq) peers, which run on Linux only"
)]
#[tokio::test]
async fn libzmq_stream_echoes_what_our_stream_sends() {
    let _panics = check_library_panics();
    let (mut peer, eps) = PyPeer::start([
        "STREAM",
        "--bind",
        "tcp://127.0.0.1:*",
        "--sockopt",
        "STREAM_NOTIFY=0",
        "echo",
        "1",
    ])
    .await;
    let ours = Socket::new(SocketType::Stream);
    connect(&ours, &eps[0]).await;
    let id = notification(&ours, "connected to libzmq").await;
    send(&ours, msg(&[&id, b"raw bytes"]), "to libzmq").await;
    let echoed = peer.message().await;
    assert_eq!(echoed.frames.len(), 2, "{echoed:?}");
    assert_eq!(echoed.frames[1], b"raw bytes", "libzmq read our bytes raw");
    recv_data(&ours, &id, b"raw bytes", "libzmq's echo").await;
    peer.finish().await;
    close(&ours).await;
}

#[cfg_attr(
    windows,
    ignore = "needs the Python (pyzmq) peers, which run on Linux only"
)]
#[tokio::test]
async fn libzmq_stream_connecting_to_ours_gets_data_and_our_close() {
    let _panics = check_library_panics();
    let ours = Socket::new(SocketType::Stream);
    let ep = bind_any(&ours).await;
    let (mut peer, _) = PyPeer::start(["STREAM", "--connect", &ep, "recv", "3"]).await;
    let id = notification(&ours, "libzmq connects").await;
    send(&ours, msg(&[&id, b"hello libzmq"]), "data").await;
    send(&ours, msg(&[&id, b""]), "close").await;
    let got = peer.messages(3).await;
    let their_id = got[0].frames[0].clone();
    let f: Vec<Vec<Vec<u8>>> = got.into_iter().map(|m| m.frames).collect();
    assert_eq!(
        f,
        vec![
            vec![their_id.clone(), Vec::new()],
            vec![their_id.clone(), b"hello libzmq".to_vec()],
            vec![their_id, Vec::new()],
        ],
        "libzmq sees connect, the data, then our close"
    );
    peer.finish().await;
    close(&ours).await;
}

#[tokio::test]
async fn a_megabyte_each_way_arrives_whole_and_in_order() {
    let _panics = check_library_panics();
    let server = Socket::new(SocketType::Stream);
    let ep = bind_any(&server).await;
    let client = TcpStream::connect(addr(&ep)).await.expect("connect");
    let id = notification(&server, "connected").await;
    let up = pattern(1 << 20);
    let down: Vec<u8> = up.iter().rev().copied().collect();
    let (mut rd, mut wr) = client.into_split();
    let writer = {
        let up = up.clone();
        tokio::spawn(async move { wr.write_all(&up).await.map(|()| wr) })
    };
    recv_data(&server, &id, &up, "the client's megabyte").await;
    // In pieces of 64 KiB, queued faster than they are written.
    for chunk in down.chunks(64 << 10) {
        send(&server, msg(&[&id, chunk]), "a piece").await;
    }
    let mut got = vec![0u8; down.len()];
    within("the client reads the megabyte", rd.read_exact(&mut got))
        .await
        .expect("read");
    assert!(got == down, "the bytes differ");
    let _wr = within("the client's write", writer).await.unwrap().unwrap();
    close(&server).await;
}

#[tokio::test]
async fn stream_over_ipc_exchanges_data() {
    let _panics = check_library_panics();
    let ipc = UnboundIpc::new("stream");
    let server = Socket::new(SocketType::Stream);
    let ep = within("bind", server.bind(&ipc.endpoint))
        .await
        .expect("bind");
    let path = ep.strip_prefix("ipc://").expect("an ipc endpoint");
    let mut client = within("connect", support::raw_ipc_connect(path))
        .await
        .expect("connect");
    let id = notification(&server, "connected").await;
    client.write_all(b"over ipc").await.unwrap();
    recv_data(&server, &id, b"over ipc", "data").await;
    send(&server, msg(&[&id, b"back"]), "reply").await;
    send(&server, msg(&[&id, b""]), "close").await;
    let mut got = Vec::new();
    within("EOF", client.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, b"back");
    close(&server).await;
}

#[tokio::test]
async fn connect_routing_id_names_the_first_connection_and_queues_before_it() {
    let _panics = check_library_panics();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let port = listener.local_addr().unwrap().port();
    let client = Socket::new(SocketType::Stream);
    client
        .set_connect_routing_id("web")
        .expect("CONNECT_ROUTING_ID");
    connect(&client, &format!("tcp://127.0.0.1:{port}")).await;
    // Known at once: the message waits for the connection.
    send(&client, msg(&[b"web", b"early"]), "before the connection").await;
    let (mut peer, _) = within("accept", listener.accept()).await.expect("accept");
    let m = recv(&client, "connected").await;
    assert_eq!(frames(&m), vec![b"web".to_vec(), Vec::new()]);
    let mut buf = [0u8; 5];
    within("peer reads", peer.read_exact(&mut buf))
        .await
        .unwrap();
    assert_eq!(&buf, b"early");
    peer.write_all(b"late").await.unwrap();
    recv_data(
        &client,
        &Bytes::from_static(b"web"),
        b"late",
        "from the peer",
    )
    .await;
    close(&client).await;
}
