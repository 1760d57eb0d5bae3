//! A PUSH whose PULL peer restarts: what was queued while the peer was down is delivered
//! after the reconnect, in order, without loss. (Messages already written to a connection
//! that then dies are lost, as with libzmq: TCP acknowledges bytes to the kernel, not to
//! the peer application. See README, "HWM semantics".)

mod support;

use aiozmq::{EventKind, Message, Socket, SocketType};
use std::future::Future;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

/// The PULL restarts on the same TCP port: the port is held by a placeholder for the whole
/// test (see `support::ReservedTcpPort`), so no other process takes it meanwhile.
#[cfg_attr(
    windows,
    ignore = "rebinds a TCP port a placeholder socket holds, which Windows refuses"
)]
#[tokio::test]
async fn push_queue_survives_pull_restart() {
    let port = support::ReservedTcpPort::new();
    push_queue_survives_pull_restart_on(&port.endpoint, Some(&port)).await;
}

/// The same over IPC (a path of this test's own).
#[tokio::test]
async fn push_queue_survives_pull_restart_over_ipc() {
    let ipc = support::UnboundIpc::new("restart");
    push_queue_survives_pull_restart_on(&ipc.endpoint, None).await;
}

/// Binds `pull` to `ep` (`port`: the reserved TCP port `ep` names).
async fn bind(pull: &Socket, ep: &str, port: Option<&support::ReservedTcpPort>) {
    match port {
        Some(port) => {
            support::bind_reserved(pull, port).await;
        }
        None => {
            let bound = within(pull.bind(ep)).await.unwrap();
            assert_eq!(bound, ep);
        }
    }
}

async fn push_queue_survives_pull_restart_on(ep: &str, port: Option<&support::ReservedTcpPort>) {
    let _panics = support::check_library_panics();
    let pull = Socket::new(SocketType::Pull);
    bind(&pull, ep, port).await;
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(50).unwrap();
    push.set_reconnect_ivl(Duration::from_millis(10)).unwrap();
    let mut mon = push.monitor(1024);
    push.connect(ep).await.unwrap();
    // Lockstep phase: nothing is in flight when the peer goes.
    for i in 0..100u32 {
        push.send(Message::from(i.to_be_bytes().to_vec()))
            .await
            .unwrap();
        let m = within(pull.recv()).await.unwrap();
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
    pull.set_linger(Duration::ZERO).unwrap();
    support::close(&pull).await;
    drop(pull);
    within(async { while mon.recv().await.unwrap().kind != EventKind::Disconnected {} }).await;
    // Peer down: up to SNDHWM messages queue.
    for i in 100..150u32 {
        push.try_send(Message::from(i.to_be_bytes().to_vec()))
            .unwrap();
    }
    assert!(
        push.try_send("over hwm").is_err(),
        "SNDHWM bounds the queue"
    );
    // The peer comes back on the same endpoint: everything queued arrives, in order.
    let pull = Socket::new(SocketType::Pull);
    bind(&pull, ep, port).await;
    for i in 100..150u32 {
        let m = within(pull.recv()).await.unwrap();
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
    assert_eq!(push.counters().reconnects, 1);
    push.set_linger(Duration::ZERO).unwrap();
    support::close(&push).await;
    pull.set_linger(Duration::ZERO).unwrap();
    support::close(&pull).await;
}
