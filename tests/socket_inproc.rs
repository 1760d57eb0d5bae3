//! The inproc transport: bind and connect in either order, no copies, the same socket
//! semantics, HWM and monitor events as the network transports.

mod support;

use aiozmq::{ErrorKind, EventKind, Message, Socket, SocketType};
use bytes::Bytes;
use std::future::Future;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

fn name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "inproc://{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[tokio::test]
async fn bind_then_connect_and_zero_copy() {
    let _panics = support::check_library_panics();
    let ep = name("zc");
    let pull = Socket::new(SocketType::Pull);
    assert_eq!(pull.bind(&ep).await.unwrap(), ep);
    let push = Socket::new(SocketType::Push);
    push.connect(&ep).await.unwrap();
    let payload = Bytes::from(vec![7u8; 1 << 20]);
    push.send(Message::from(payload.clone())).await.unwrap();
    let got = within(pull.recv()).await.unwrap();
    assert_eq!(
        got[0].as_ptr(),
        payload.as_ptr(),
        "the frame's memory is shared, not copied"
    );
}

#[tokio::test]
async fn connect_before_bind_queues() {
    let _panics = support::check_library_panics();
    let ep = name("late");
    let dealer = Socket::new(SocketType::Dealer);
    dealer.connect(&ep).await.unwrap();
    dealer.send("early").await.unwrap();
    let router = Socket::new(SocketType::Router);
    router.bind(&ep).await.unwrap();
    let m = within(router.recv()).await.unwrap();
    assert_eq!(m[1], "early");
    router.send(m).await.unwrap();
    assert_eq!(within(dealer.recv()).await.unwrap(), Message::from("early"));
}

#[tokio::test]
async fn duplicate_bind_is_an_error_and_unbind_frees_the_name() {
    let _panics = support::check_library_panics();
    let ep = name("dup");
    let a = Socket::new(SocketType::Rep);
    a.bind(&ep).await.unwrap();
    let b = Socket::new(SocketType::Rep);
    assert_eq!(b.bind(&ep).await.unwrap_err().kind(), ErrorKind::AddrInUse);
    a.unbind(&ep).await.unwrap();
    b.bind(&ep).await.unwrap();
    // A closed socket's name is free too.
    support::close(&b).await;
    let c = Socket::new(SocketType::Rep);
    c.bind(&ep).await.unwrap();
}

#[tokio::test]
async fn req_rep_and_router_identities() {
    let _panics = support::check_library_panics();
    let ep = name("rr");
    let router = Socket::new(SocketType::Router);
    router.bind(&ep).await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.set_routing_id("client-a").unwrap();
    req.connect(&ep).await.unwrap();
    req.send("hi").await.unwrap();
    let m = within(router.recv()).await.unwrap();
    assert_eq!(m, Message::from(["client-a", "", "hi"]));
    router.send(["client-a", "", "hello"]).await.unwrap();
    assert_eq!(within(req.recv()).await.unwrap(), Message::from("hello"));
}

#[tokio::test]
async fn pub_sub_over_inproc() {
    let _panics = support::check_library_panics();
    let ep = name("ps");
    let xpub = Socket::new(SocketType::XPub);
    xpub.bind(&ep).await.unwrap();
    let sub = Socket::new(SocketType::Sub);
    sub.subscribe("a").unwrap();
    sub.connect(&ep).await.unwrap();
    // XPUB sees the subscription: no slow-joiner race to work around.
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        Message::from(&b"\x01a"[..])
    );
    xpub.send("b-no").await.unwrap();
    xpub.send("a-yes").await.unwrap();
    assert_eq!(within(sub.recv()).await.unwrap(), Message::from("a-yes"));
    sub.unsubscribe("a").unwrap();
    assert_eq!(
        within(xpub.recv()).await.unwrap(),
        Message::from(&b"\x00a"[..])
    );
}

/// A PUSH with `sndhwm` connected to a bound PULL with `rcvhwm`.
async fn push_pull(tag: &str, sndhwm: usize, rcvhwm: usize) -> (Socket, Socket) {
    let ep = name(tag);
    let pull = Socket::new(SocketType::Pull);
    pull.set_rcvhwm(rcvhwm).unwrap();
    pull.bind(&ep).await.unwrap();
    let push = Socket::new(SocketType::Push);
    push.set_sndhwm(sndhwm).unwrap();
    push.connect(&ep).await.unwrap();
    (push, pull)
}

#[tokio::test]
async fn hwm_blocks_sender_without_loss() {
    let _panics = support::check_library_panics();
    let (push, pull) = push_pull("hwm", 5, 5).await;
    // Nobody receives: at most SNDHWM + RCVHWM (+ one batch in flight) get queued.
    let mut sent = 0u32;
    while push
        .try_send(Message::from(sent.to_be_bytes().to_vec()))
        .is_ok()
    {
        sent += 1;
        if sent > 1000 {
            panic!("HWM not enforced");
        }
        tokio::task::yield_now().await;
    }
    assert!(sent >= 5, "at least SNDHWM messages fit: {sent}");
    for i in 0..sent {
        let m = within(pull.recv()).await.unwrap();
        assert_eq!(&m[0][..], &i.to_be_bytes());
    }
    // And it flows again.
    within(push.send("more")).await.unwrap();
    assert_eq!(within(pull.recv()).await.unwrap(), Message::from("more"));
}

/// An in-process pipe holds SNDHWM + RCVHWM messages whatever their size, as libzmq's
/// does: the share of inbound memory that stops a network connection's reads does not
/// apply (the messages are in memory already, and the pipe copies nothing).
#[tokio::test]
async fn large_messages_fill_the_pipe_to_its_hwm_not_to_a_byte_share() {
    let _panics = support::check_library_panics();
    let (push, pull) = push_pull("big", 1, 40).await;
    // 40 MiB in all, far over one peer's 16 MiB share; one payload shared by all.
    let payload = Bytes::from(vec![9u8; 1 << 20]);
    for _ in 0..40 {
        within(push.send(Message::from(payload.clone())))
            .await
            .unwrap();
    }
    for _ in 0..40 {
        assert_eq!(within(pull.recv()).await.unwrap()[0].len(), 1 << 20);
    }
}

#[tokio::test]
async fn monitor_events_and_rebind() {
    let _panics = support::check_library_panics();
    let ep = name("mon");
    let rep = Socket::new(SocketType::Rep);
    let mut rmon = rep.monitor(64);
    rep.bind(&ep).await.unwrap();
    let req = Socket::new(SocketType::Req);
    let mut qmon = req.monitor(64);
    req.connect(&ep).await.unwrap();
    let mut kinds = Vec::new();
    within(async {
        while let Some(ev) = qmon.recv().await {
            kinds.push(ev.kind);
            if ev.kind == EventKind::HandshakeSucceeded {
                break;
            }
        }
    })
    .await;
    assert_eq!(
        kinds,
        vec![EventKind::Connected, EventKind::HandshakeSucceeded]
    );
    let mut kinds = Vec::new();
    within(async {
        while let Some(ev) = rmon.recv().await {
            kinds.push(ev.kind);
            if ev.kind == EventKind::HandshakeSucceeded {
                break;
            }
        }
    })
    .await;
    assert_eq!(
        kinds,
        vec![
            EventKind::Listening,
            EventKind::Accepted,
            EventKind::HandshakeSucceeded
        ]
    );
    // The binder goes away; a new one binds the name; the REQ reconnects.
    support::close(&rep).await;
    within(async {
        while let Some(ev) = qmon.recv().await {
            if ev.kind == EventKind::Disconnected {
                break;
            }
        }
    })
    .await;
    let rep2 = Socket::new(SocketType::Rep);
    rep2.bind(&ep).await.unwrap();
    req.send("again").await.unwrap();
    assert_eq!(within(rep2.recv()).await.unwrap(), Message::from("again"));
}

#[tokio::test]
async fn incompatible_types_do_not_connect() {
    let _panics = support::check_library_panics();
    let ep = name("bad");
    let publ = Socket::new(SocketType::Pub);
    let mut mon = publ.monitor(16);
    publ.bind(&ep).await.unwrap();
    let req = Socket::new(SocketType::Req);
    req.connect(&ep).await.unwrap();
    within(async {
        while let Some(ev) = mon.recv().await {
            if ev.kind == EventKind::HandshakeFailedProtocol {
                break;
            }
        }
    })
    .await;
    assert_eq!(publ.counters().peers, 0);
}
