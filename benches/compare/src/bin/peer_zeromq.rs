//! `zeromq` 0.7 (zmq.rs) in the four perf roles and the fan-out, proxy and ROUTER roles.
//!
//! zmq.rs has no linger: dropping a socket drops what is still queued. Like every sender
//! here, `remote_thr` stays up after its last send until stdin is closed (the runner closes
//! it once the receiver is done; at once on a terminal) or 30 s have passed.
//!
//! zmq.rs has no XPUB_NODROP option: its XPUB's `send` always waits until every matching
//! subscriber's connection has taken the message (it never drops), which is what
//! `pub_lossless` asks of every implementation. Its XPUB applies a subscription only when
//! the application reads it, so `pub_lossless` reads them while it says hello (as every
//! implementation's `pub_lossless` does).

use aiozmq_compare::*;
use bytes::Bytes;
use std::rc::Rc;
use std::time::{Duration, Instant};
use zeromq::prelude::*;
use zeromq::{
    DealerSocket, PubSocket, PullSocket, PushSocket, RepSocket, ReqSocket, RouterSocket, SubSocket,
    XPubSocket, XSubSocket, ZmqMessage,
};

type R = zeromq::ZmqResult<()>;

fn main() {
    let a = Args::parse("peer_zeromq");
    if a.role == "pub_fanout" || a.role == "pub_lossless" {
        // As for aiozmq and omq-tokio: the publisher's loop never waits, so it gets a
        // second worker.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let lossless = a.role == "pub_lossless";
        let r = rt.block_on(async move { tokio::spawn(pub_fanout(a, lossless)).await });
        if let Err(e) = r.expect("publisher") {
            die(&format!("error: {e}"));
        }
        return;
    }
    if is_perf_role(&a.role) {
        let r: R = run_task(async move { perf_role!(a, "peer_zeromq") });
        if let Err(e) = r {
            die(&format!("error: {e}"));
        }
        return;
    }
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let r: R = local.block_on(&rt, async move {
        match a.role.as_str() {
            "sub_fanout" => sub_fanout(&a).await,
            "proxy_fwd" => proxy_fwd(&a).await,
            "router_thr" => router_thr(&a).await,
            "dealer_thr" => dealer_thr(&a).await,
            _ => usage("peer_zeromq"),
        }
    });
    if let Err(e) = r {
        die(&format!("error: {e}"));
    }
}

fn check(msg: &ZmqMessage, size: usize) {
    if msg.len() != 1 || msg.get(0).map(|f| f.len()) != Some(size) {
        wrong_size();
    }
}

async fn local_thr(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let mut socket = PullSocket::new();
    socket.bind(a.str(0)).await?;
    check(&socket.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check(&socket.recv().await?, size);
    }
    print_thr(size, count, start.elapsed());
    socket.close().await;
    Ok(())
}

async fn remote_thr(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let mut socket = PushSocket::new();
    socket.connect(a.str(0)).await?;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..count {
        socket.send(ZmqMessage::from(payload.clone())).await?;
    }
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    socket.close().await;
    Ok(())
}

async fn local_lat(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let mut socket = RepSocket::new();
    socket.bind(a.str(0)).await?;
    for _ in 0..count {
        let msg = socket.recv().await?;
        check(&msg, size);
        socket.send(msg).await?;
    }
    socket.close().await;
    Ok(())
}

async fn remote_lat(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let mut socket = ReqSocket::new();
    socket.connect(a.str(0)).await?;
    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        socket.send(ZmqMessage::from(payload.clone())).await?;
        check(&socket.recv().await?, size);
    }
    print_lat(size, count, start.elapsed());
    socket.close().await;
    Ok(())
}

/// A publisher: PUB for `pub_fanout`, XPUB for `pub_lossless` (see the module doc).
enum Publisher {
    Pub(PubSocket),
    XPub(XPubSocket),
}

impl Publisher {
    async fn send(&mut self, msg: ZmqMessage) -> R {
        match self {
            Publisher::Pub(s) => s.send(msg).await,
            Publisher::XPub(s) => s.send(msg).await,
        }
    }
}

async fn pub_fanout(a: Args, lossless: bool) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let mut socket = if lossless {
        let mut s = XPubSocket::new();
        s.bind(a.str(0)).await?;
        Publisher::XPub(s)
    } else {
        let mut s = PubSocket::new();
        s.bind(a.str(0)).await?;
        Publisher::Pub(s)
    };
    let hello = Bytes::from_static(&[HELLO]);
    while !control.go() {
        socket.send(ZmqMessage::from(hello.clone())).await?;
        match &mut socket {
            // Reading a subscription is what makes zmq.rs's XPUB apply it; the wait for
            // one is the pause between hellos.
            Publisher::XPub(s) => {
                let _ = tokio::time::timeout(Duration::from_millis(1), s.recv()).await;
            }
            Publisher::Pub(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    let payload = Bytes::from(data_payload(size));
    for _ in 0..count {
        socket.send(ZmqMessage::from(payload.clone())).await?;
    }
    let end = Bytes::from_static(&[END]);
    while !control.eof() {
        socket.send(ZmqMessage::from(end.clone())).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    std::process::exit(0);
}

async fn sub_fanout(a: &Args) -> R {
    let (size, count, subs) = (a.size(1), a.num(2), a.size(3));
    let stats = Rc::new(std::cell::RefCell::new(vec![SubStats::default(); subs]));
    let hellos = Rc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for i in 0..subs {
        let mut s = SubSocket::new();
        s.subscribe("").await?;
        s.connect(a.str(0)).await?;
        let (stats, hellos) = (stats.clone(), hellos.clone());
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                let msg = s.recv().await?;
                let mut st = stats.borrow_mut();
                let st = &mut st[i];
                let had_hello = st.hello;
                match msg.get(0) {
                    Some(frame) if msg.len() == 1 && st.on_frame(frame, size) => {}
                    _ => wrong_size(),
                }
                if st.hello && !had_hello {
                    hellos.notify_one();
                }
                if st.done {
                    break;
                }
            }
            s.close().await;
            Ok::<(), zeromq::ZmqError>(())
        }));
    }
    while stats.borrow().iter().any(|s| !s.hello) {
        hellos.notified().await;
    }
    say("ready");
    for t in tasks {
        t.await.expect("subscriber task")?;
    }
    report_fanout(size, count, &stats.borrow());
    Ok(())
}

async fn proxy_fwd(a: &Args) -> R {
    let control = Control::start();
    let mut frontend = XSubSocket::new();
    frontend.connect(a.str(0)).await?;
    let mut backend = XPubSocket::new();
    backend.bind(a.str(1)).await?;
    control.exit_on_eof();
    zeromq::proxy(frontend, backend, None).await
}

/// A ROUTER's message from `dealer_thr`: `[routing id, body]`, the body `len` bytes.
fn check_routed(msg: &ZmqMessage, len: usize) {
    if msg.len() != 2 || msg.get(1).map(|f| f.len()) != Some(len) {
        wrong_size();
    }
}

async fn router_thr(a: &Args) -> R {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    ensure_nofile(nofile_for(dealers));
    let mut socket = RouterSocket::new();
    socket.bind(a.str(0)).await?;
    for _ in 0..dealers {
        check_routed(&socket.recv().await?, 1);
    }
    say("ready");
    check_routed(&socket.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check_routed(&socket.recv().await?, size);
    }
    print_thr(size, count, start.elapsed());
    socket.close().await;
    Ok(())
}

async fn dealer_thr(a: &Args) -> R {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    let per = dealer_share(count, dealers);
    ensure_nofile(nofile_for(dealers));
    let control = Control::start();
    let mut sockets = Vec::new();
    for _ in 0..dealers {
        let mut s = DealerSocket::new();
        s.connect(a.str(0)).await?;
        s.send(ZmqMessage::from(Bytes::from_static(&[HELLO])))
            .await?;
        sockets.push(s);
    }
    control.wait_go_async().await;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..per {
        for s in &mut sockets {
            s.send(ZmqMessage::from(payload.clone())).await?;
        }
    }
    // The runner closes stdin once the router has every message.
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    std::process::exit(0);
}
