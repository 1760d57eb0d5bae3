//! `omq-tokio` in every benchmark role, with `Options::default()` and the socket driver
//! on the caller's current-thread runtime (as omq-tokio's own bench peer runs by default).
//!
//! Sends use omq's own fast path, as its bench peer does: messages of at most
//! `MAX_INLINE_MESSAGE` bytes are built inline with `Message::from_slice`, larger ones share
//! one `Bytes` payload. omq's linger defaults to zero (libzmq's to forever), so
//! `remote_thr` closes with `close_with_linger(None)` to deliver everything it sent.

use aiozmq_compare::*;
use bytes::Bytes;
use omq_tokio::{Message, Options, Socket, SocketType};
use std::rc::Rc;
use std::time::{Duration, Instant};

type R = omq_tokio::Result<()>;

fn main() {
    let a = Args::parse("peer_omq");
    if a.role == "pub_fanout" || a.role == "pub_lossless" {
        // As for aiozmq: the publisher's loop never waits, so it gets a second worker.
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
        let r: R = run_task(async move { perf_role!(a, "peer_omq") });
        if let Err(e) = r {
            die(&format!("error: {e}"));
        }
        return;
    }
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let r: R = local.block_on(&rt, async move {
        match a.role.as_str() {
            "inproc_thr" => inproc_thr(&a).await,
            "inproc_lat" => inproc_lat(&a).await,
            "sub_fanout" => sub_fanout(&a).await,
            "router_mem" => router_mem(&a).await,
            "dealer_mem" => dealer_mem(&a).await,
            "proxy_fwd" => proxy_fwd(&a).await,
            "router_thr" => router_thr(&a).await,
            "dealer_thr" => dealer_thr(&a).await,
            _ => usage("peer_omq"),
        }
    });
    if let Err(e) = r {
        die(&format!("error: {e}"));
    }
}

fn socket(t: SocketType) -> Socket {
    Socket::new(t, Options::default())
}

fn check(msg: &Message, size: usize) {
    if msg.len() != 1 || msg.get(0).map(<[u8]>::len) != Some(size) {
        wrong_size();
    }
}

/// omq's idiomatic message for a payload (see the module doc).
fn message(payload: &Bytes) -> Message {
    if payload.len() <= omq_tokio::message::MAX_INLINE_MESSAGE {
        Message::from_slice(payload)
    } else {
        Message::single(payload.clone())
    }
}

async fn local_thr(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let s = socket(SocketType::Pull);
    s.bind(a.str(0)).await?;
    check(&s.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check(&s.recv().await?, size);
    }
    print_thr(size, count, start.elapsed());
    s.close().await
}

async fn remote_thr(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let s = socket(SocketType::Push);
    s.connect(a.str(0)).await?;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..count {
        s.send(message(&payload)).await?;
    }
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    s.close_with_linger(None).await
}

async fn local_lat(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let s = socket(SocketType::Rep);
    s.bind(a.str(0)).await?;
    for _ in 0..count {
        let msg = s.recv().await?;
        check(&msg, size);
        s.send(msg).await?;
    }
    s.close_with_linger(None).await
}

async fn remote_lat(a: &Args) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let s = socket(SocketType::Req);
    s.connect(a.str(0)).await?;
    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        s.send(message(&payload)).await?;
        check(&s.recv().await?, size);
    }
    print_lat(size, count, start.elapsed());
    s.close().await
}

async fn inproc_thr(a: &Args) -> R {
    let (size, count) = (a.size(0), a.num(1));
    let endpoint = format!("inproc://thr-{}", std::process::id());
    let pull = socket(SocketType::Pull);
    pull.bind(endpoint.as_str()).await?;
    let push = socket(SocketType::Push);
    push.connect(endpoint.as_str()).await?;
    let sender = tokio::task::spawn_local(async move {
        let payload = Bytes::from(vec![0u8; size]);
        for _ in 0..count {
            push.send(message(&payload)).await?;
        }
        push.close_with_linger(None).await
    });
    check(&pull.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check(&pull.recv().await?, size);
    }
    print_thr(size, count, start.elapsed());
    sender.await.expect("sender task")?;
    pull.close().await
}

async fn inproc_lat(a: &Args) -> R {
    let (size, count) = (a.size(0), a.num(1));
    let endpoint = format!("inproc://lat-{}", std::process::id());
    let rep = socket(SocketType::Rep);
    rep.bind(endpoint.as_str()).await?;
    let req = socket(SocketType::Req);
    req.connect(endpoint.as_str()).await?;
    let echo = tokio::task::spawn_local(async move {
        for _ in 0..count {
            let msg = rep.recv().await?;
            check(&msg, size);
            rep.send(msg).await?;
        }
        rep.close_with_linger(None).await
    });
    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        req.send(message(&payload)).await?;
        check(&req.recv().await?, size);
    }
    print_lat(size, count, start.elapsed());
    echo.await.expect("echo task")?;
    req.close().await
}

/// `pub_fanout` (PUB), or with `lossless` `pub_lossless` (XPUB with `xpub_nodrop`, reading
/// the subscriptions it receives until go).
async fn pub_fanout(a: Args, lossless: bool) -> R {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let s = if lossless {
        let options = Options {
            xpub_nodrop: true,
            ..Options::default()
        };
        Socket::new(SocketType::XPub, options)
    } else {
        socket(SocketType::Pub)
    };
    s.bind(a.str(0)).await?;
    let hello = Bytes::from_static(&[HELLO]);
    while !control.go() {
        while lossless && s.try_recv().is_ok() {}
        s.send(message(&hello)).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let payload = Bytes::from(data_payload(size));
    for _ in 0..count {
        s.send(message(&payload)).await?;
    }
    let end = Bytes::from_static(&[END]);
    while !control.eof() {
        s.send(message(&end)).await?;
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
        let s = socket(SocketType::Sub);
        s.subscribe(Bytes::new()).await?;
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
            s.close().await
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

async fn router_mem(a: &Args) -> R {
    let dealers = a.num(1);
    let control = Control::start();
    let s = socket(SocketType::Router);
    s.bind(a.str(0)).await?;
    say(&format!("rss idle: {} [kB]", rss_kb()));
    let mut hellos = 0;
    while hellos < dealers {
        match tokio::time::timeout(MEM_IDLE, s.recv()).await {
            Ok(r) => r.map(|_| hellos += 1)?,
            Err(_) => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    say(&format!("rss: {} [kB]", rss_kb()));
    say(&format!("hellos: {hellos}"));
    control.wait_eof_async(Duration::from_secs(600)).await;
    std::process::exit(0);
}

async fn dealer_mem(a: &Args) -> R {
    let dealers = a.num(1);
    let control = Control::start();
    let mut sockets = Vec::new();
    for _ in 0..dealers {
        let s = socket(SocketType::Dealer);
        s.connect(a.str(0)).await?;
        s.send(Message::from_slice(b"hi")).await?;
        sockets.push(s);
    }
    control.wait_eof_async(Duration::from_secs(600)).await;
    std::process::exit(0);
}

async fn proxy_fwd(a: &Args) -> R {
    let control = Control::start();
    let frontend = socket(SocketType::XSub);
    frontend.connect(a.str(0)).await?;
    let options = Options {
        xpub_nodrop: true,
        ..Options::default()
    };
    let backend = Socket::new(SocketType::XPub, options);
    backend.bind(a.str(1)).await?;
    control.exit_on_eof();
    omq_tokio::proxy::proxy(frontend, backend, None).await?;
    Ok(())
}

/// A ROUTER's message from `dealer_thr`: its last frame is the body, `len` bytes.
fn check_routed(msg: &Message, len: usize) {
    match msg.len().checked_sub(1).and_then(|i| msg.get(i)) {
        Some(body) if body.len() == len => {}
        _ => wrong_size(),
    }
}

async fn router_thr(a: &Args) -> R {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    ensure_nofile(nofile_for(dealers));
    let s = socket(SocketType::Router);
    s.bind(a.str(0)).await?;
    for _ in 0..dealers {
        check_routed(&s.recv().await?, 1);
    }
    say("ready");
    check_routed(&s.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check_routed(&s.recv().await?, size);
    }
    print_thr(size, count, start.elapsed());
    s.close().await
}

async fn dealer_thr(a: &Args) -> R {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    let per = dealer_share(count, dealers);
    ensure_nofile(nofile_for(dealers));
    let control = Control::start();
    let mut sockets = Vec::new();
    for _ in 0..dealers {
        let s = socket(SocketType::Dealer);
        s.connect(a.str(0)).await?;
        s.send(Message::from_slice(&[HELLO])).await?;
        sockets.push(s);
    }
    control.wait_go_async().await;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..per {
        for s in &sockets {
            s.send(message(&payload)).await?;
        }
    }
    // The runner closes stdin once the router has every message.
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    std::process::exit(0);
}
