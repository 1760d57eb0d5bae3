//! `ipc://` with the same behaviour on every platform: Unix-domain sockets on Unix, named
//! pipes on Windows (where these tests run under Wine in CI).

mod support;

use aiozmq::{ErrorKind, EventKind, Socket, SocketType};
use support::{
    check_library_panics, close, connect, frames, msg, recv, send, wait_event, within, UnboundIpc,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Bind gives back the endpoint as LAST_ENDPOINT; a connected REQ and REP exchange
/// requests both ways over it.
#[tokio::test]
async fn bind_connect_and_last_endpoint() {
    let _panics = check_library_panics();
    let ipc = UnboundIpc::new("basic");
    let rep = Socket::new(SocketType::Rep);
    let ep = within("bind", rep.bind(&ipc.endpoint)).await.expect("bind");
    assert_eq!(ep, ipc.endpoint);
    assert_eq!(rep.last_endpoint(), ipc.endpoint);
    let req = Socket::new(SocketType::Req);
    connect(&req, &ep).await;
    for i in 0..3u8 {
        send(&req, msg(&[b"ping", &[i]]), "request").await;
        assert_eq!(
            frames(&recv(&rep, "request").await),
            vec![b"ping".to_vec(), vec![i]]
        );
        send(&rep, msg(&[b"pong", &[i]]), "reply").await;
        assert_eq!(
            frames(&recv(&req, "reply").await),
            vec![b"pong".to_vec(), vec![i]]
        );
    }
    close(&req).await;
    close(&rep).await;
}

/// Many clients connect to one bound endpoint at once, and each is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_each_get_through() {
    const CLIENTS: usize = 16;
    let _panics = check_library_panics();
    let ipc = UnboundIpc::new("many");
    let pull = Socket::new(SocketType::Pull);
    let ep = within("bind", pull.bind(&ipc.endpoint))
        .await
        .expect("bind");
    let mut pushes = Vec::new();
    for i in 0..CLIENTS {
        let push = Socket::new(SocketType::Push);
        connect(&push, &ep).await;
        send(&push, msg(&[format!("client {i}").as_bytes()]), "push").await;
        pushes.push(push);
    }
    let mut got: Vec<String> = Vec::new();
    for _ in 0..CLIENTS {
        let m = recv(&pull, "pull").await;
        got.push(String::from_utf8(frames(&m)[0].clone()).unwrap());
    }
    got.sort();
    let mut want: Vec<String> = (0..CLIENTS).map(|i| format!("client {i}")).collect();
    want.sort();
    assert_eq!(got, want);
    for p in &pushes {
        close(p).await;
    }
    close(&pull).await;
}

/// A second bind of a live endpoint fails with EADDRINUSE; once the first socket is
/// closed, the endpoint can be bound again.
#[tokio::test]
async fn a_live_endpoint_is_refused_and_free_again_after_close() {
    let _panics = check_library_panics();
    let ipc = UnboundIpc::new("inuse");
    let a = Socket::new(SocketType::Pull);
    within("bind a", a.bind(&ipc.endpoint))
        .await
        .expect("bind a");
    let b = Socket::new(SocketType::Pull);
    let err = within("bind b", b.bind(&ipc.endpoint))
        .await
        .expect_err("a second bind of a live endpoint");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    close(&a).await;
    within("bind b again", b.bind(&ipc.endpoint))
        .await
        .expect("bind after the first socket closed");
    close(&b).await;
}

/// A client connected before anyone binds keeps trying and gets through once the endpoint
/// is bound; after the listener is closed and bound again, it reconnects on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_before_bind_and_reconnect_after_rebind() {
    let _panics = check_library_panics();
    let ipc = UnboundIpc::new("reconnect");
    let push = Socket::new(SocketType::Push);
    push.set_reconnect_ivl(std::time::Duration::from_millis(20))
        .unwrap();
    let mut mon = push.monitor(64);
    connect(&push, &ipc.endpoint).await;
    wait_event(&mut mon, EventKind::ConnectDelayed, "nobody bound yet").await;

    let pull = Socket::new(SocketType::Pull);
    within("bind", pull.bind(&ipc.endpoint))
        .await
        .expect("bind");
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "first connection").await;
    send(&push, msg(&[b"one"]), "first").await;
    assert_eq!(frames(&recv(&pull, "first").await), vec![b"one".to_vec()]);
    close(&pull).await;
    wait_event(&mut mon, EventKind::Disconnected, "listener closed").await;

    let pull = Socket::new(SocketType::Pull);
    within("bind again", pull.bind(&ipc.endpoint))
        .await
        .expect("bind again");
    wait_event(&mut mon, EventKind::HandshakeSucceeded, "reconnected").await;
    send(&push, msg(&[b"two"]), "second").await;
    assert_eq!(frames(&recv(&pull, "second").await), vec![b"two".to_vec()]);
    close(&push).await;
    close(&pull).await;
}

/// Unbind stops new connections: a client connecting afterwards gets no handshake until
/// the endpoint is bound again.
#[tokio::test]
async fn unbind_frees_the_endpoint() {
    let _panics = check_library_panics();
    let ipc = UnboundIpc::new("unbind");
    let a = Socket::new(SocketType::Pull);
    within("bind", a.bind(&ipc.endpoint)).await.expect("bind");
    within("unbind", a.unbind(&ipc.endpoint))
        .await
        .expect("unbind");
    let b = Socket::new(SocketType::Pull);
    within("bind after unbind", b.bind(&ipc.endpoint))
        .await
        .expect("the endpoint is free after unbind");
    close(&a).await;
    close(&b).await;
}

/// Bytes a socket writes before closing reach a raw client that reads to the end: the
/// STREAM socket's close of a connection ends the stream after the data (on Windows the
/// pipe keeps what was written when its handle closes).
#[tokio::test]
async fn bytes_written_before_close_reach_the_peer() {
    let _panics = check_library_panics();
    let ipc = UnboundIpc::new("tail");
    let server = Socket::new(SocketType::Stream);
    let ep = within("bind", server.bind(&ipc.endpoint))
        .await
        .expect("bind");
    let address = ep.strip_prefix("ipc://").unwrap();
    let mut client = within("raw connect", support::raw_ipc_connect(address))
        .await
        .expect("raw connect");
    let hello = recv(&server, "connect notification").await;
    let id = frames(&hello)[0].clone();
    client.write_all(b"hi").await.unwrap();
    let got = recv(&server, "data").await;
    assert_eq!(frames(&got), vec![id.clone(), b"hi".to_vec()]);
    let big = vec![0x5au8; 256 * 1024];
    send(&server, msg(&[&id, &big]), "data").await;
    send(&server, msg(&[&id, b""]), "close the connection").await;
    let mut all = Vec::new();
    within("read to EOF", client.read_to_end(&mut all))
        .await
        .expect("read to EOF");
    assert_eq!(all.len(), big.len());
    assert!(all == big, "the bytes differ");
    close(&server).await;
}
