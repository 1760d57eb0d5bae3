//! aiozmq (this repository) in every benchmark role. See `aiozmq_compare` for the roles.

use aiozmq::{Message, Socket, SocketType};
use aiozmq_compare::*;
use bytes::Bytes;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn main() {
    let a = Args::parse_curve("peer_aiozmq");
    if a.curve && !a.role.starts_with("local_") && !a.role.starts_with("remote_") {
        die(&format!("{}: no --curve for this role", a.role));
    }
    if a.role == "pub_fanout" || a.role == "pub_lossless" {
        // The publisher's sending loop never waits (PUB drops at SNDHWM): on one thread it
        // would starve the connection tasks, so it gets a second worker, as libzmq has an
        // I/O thread. The lossless publisher (same loop, waiting only at SNDHWM) likewise.
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
        let r = run_task(async move { perf_role!(a, "peer_aiozmq") });
        if let Err(e) = r {
            die(&format!("error: {e}"));
        }
        return;
    }
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let r: aiozmq::Result<()> = local.block_on(&rt, async move {
        match a.role.as_str() {
            "inproc_thr" => inproc_thr(&a).await,
            "inproc_lat" => inproc_lat(&a).await,
            "sub_fanout" => sub_fanout(&a).await,
            "router_mem" => router_mem(&a).await,
            "dealer_mem" => dealer_mem(&a).await,
            "proxy_fwd" => proxy_fwd(&a).await,
            "router_thr" => router_thr(&a).await,
            "dealer_thr" => dealer_thr(&a).await,
            _ => usage("peer_aiozmq"),
        }
    });
    if let Err(e) = r {
        die(&format!("error: {e}"));
    }
}

/// The binding side of a `--curve` run: the CURVE server.
fn curve_server(a: &Args, socket: &Socket) -> aiozmq::Result<()> {
    if a.curve {
        socket.set_curve_server(true)?;
        socket.set_curve_secretkey(CURVE_SERVER_SECRET)?;
    }
    Ok(())
}

/// The connecting side of a `--curve` run: a CURVE client (public keys derived by aiozmq).
fn curve_client(a: &Args, socket: &Socket) -> aiozmq::Result<()> {
    if a.curve {
        socket.set_curve_serverkey(aiozmq::curve::public_key_of(&CURVE_SERVER_SECRET))?;
        socket.set_curve_publickey(aiozmq::curve::public_key_of(&CURVE_CLIENT_SECRET))?;
        socket.set_curve_secretkey(CURVE_CLIENT_SECRET)?;
    }
    Ok(())
}

fn check(msg: &Message, size: usize) {
    if msg.len() != 1 || msg[0].len() != size {
        wrong_size();
    }
}

async fn local_thr(a: &Args) -> aiozmq::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let socket = Socket::new(SocketType::Pull);
    curve_server(a, &socket)?;
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

async fn remote_thr(a: &Args) -> aiozmq::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let socket = Socket::new(SocketType::Push);
    curve_client(a, &socket)?;
    socket.connect(a.str(0)).await?;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..count {
        socket.send(Message::from(payload.clone())).await?;
    }
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    socket.close().await;
    Ok(())
}

async fn local_lat(a: &Args) -> aiozmq::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let socket = Socket::new(SocketType::Rep);
    curve_server(a, &socket)?;
    socket.bind(a.str(0)).await?;
    for _ in 0..count {
        let msg = socket.recv().await?;
        check(&msg, size);
        socket.send(msg).await?;
    }
    socket.close().await;
    Ok(())
}

async fn remote_lat(a: &Args) -> aiozmq::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let socket = Socket::new(SocketType::Req);
    curve_client(a, &socket)?;
    socket.connect(a.str(0)).await?;
    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        socket.send(Message::from(payload.clone())).await?;
        check(&socket.recv().await?, size);
    }
    print_lat(size, count, start.elapsed());
    socket.close().await;
    Ok(())
}

async fn inproc_thr(a: &Args) -> aiozmq::Result<()> {
    let (size, count) = (a.size(0), a.num(1));
    let endpoint = format!("inproc://thr-{}", std::process::id());
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&endpoint).await?;
    let push = Socket::new(SocketType::Push);
    push.connect(&endpoint).await?;
    let sender = tokio::task::spawn_local(async move {
        let payload = Bytes::from(vec![0u8; size]);
        for _ in 0..count {
            push.send(Message::from(payload.clone())).await?;
        }
        push.close().await;
        Ok::<(), aiozmq::Error>(())
    });
    check(&pull.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check(&pull.recv().await?, size);
    }
    print_thr(size, count, start.elapsed());
    sender.await.expect("sender task")?;
    pull.close().await;
    Ok(())
}

async fn inproc_lat(a: &Args) -> aiozmq::Result<()> {
    let (size, count) = (a.size(0), a.num(1));
    let endpoint = format!("inproc://lat-{}", std::process::id());
    let rep = Socket::new(SocketType::Rep);
    rep.bind(&endpoint).await?;
    let req = Socket::new(SocketType::Req);
    req.connect(&endpoint).await?;
    let echo = tokio::task::spawn_local(async move {
        for _ in 0..count {
            let msg = rep.recv().await?;
            check(&msg, size);
            rep.send(msg).await?;
        }
        rep.close().await;
        Ok::<(), aiozmq::Error>(())
    });
    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        req.send(Message::from(payload.clone())).await?;
        check(&req.recv().await?, size);
    }
    print_lat(size, count, start.elapsed());
    echo.await.expect("echo task")?;
    req.close().await;
    Ok(())
}

/// `pub_fanout` (PUB), or with `lossless` `pub_lossless` (XPUB with XPUB_NODROP, reading
/// the subscriptions it receives until go).
async fn pub_fanout(a: Args, lossless: bool) -> aiozmq::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let socket = if lossless {
        let s = Socket::new(SocketType::XPub);
        s.set_xpub_nodrop(true)?;
        s
    } else {
        Socket::new(SocketType::Pub)
    };
    socket.bind(a.str(0)).await?;
    let hello = Bytes::from_static(&[HELLO]);
    while !control.go() {
        while lossless && socket.try_recv().is_ok() {}
        socket.send(Message::from(hello.clone())).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let payload = Bytes::from(data_payload(size));
    for _ in 0..count {
        socket.send(Message::from(payload.clone())).await?;
    }
    let end = Bytes::from_static(&[END]);
    while !control.eof() {
        socket.send(Message::from(end.clone())).await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    std::process::exit(0);
}

async fn sub_fanout(a: &Args) -> aiozmq::Result<()> {
    let (size, count, subs) = (a.size(1), a.num(2), a.size(3));
    let stats = Rc::new(std::cell::RefCell::new(vec![SubStats::default(); subs]));
    let hellos = Rc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for i in 0..subs {
        let socket = Socket::new(SocketType::Sub);
        socket.subscribe(Bytes::new())?;
        socket.connect(a.str(0)).await?;
        let (stats, hellos) = (stats.clone(), hellos.clone());
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                let msg = socket.recv().await?;
                let mut st = stats.borrow_mut();
                let s = &mut st[i];
                let had_hello = s.hello;
                if msg.len() != 1 || !s.on_frame(&msg[0], size) {
                    wrong_size();
                }
                if s.hello && !had_hello {
                    hellos.notify_one();
                }
                if s.done {
                    break;
                }
            }
            socket.close().await;
            Ok::<(), aiozmq::Error>(())
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

async fn router_mem(a: &Args) -> aiozmq::Result<()> {
    let dealers = a.num(1);
    let control = Control::start();
    let socket = Socket::new(SocketType::Router);
    socket.bind(a.str(0)).await?;
    say(&format!("rss idle: {} [kB]", rss_kb()));
    let mut hellos = 0;
    while hellos < dealers {
        match tokio::time::timeout(MEM_IDLE, socket.recv()).await {
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

async fn dealer_mem(a: &Args) -> aiozmq::Result<()> {
    let dealers = a.num(1);
    let control = Control::start();
    let mut sockets = Vec::new();
    for _ in 0..dealers {
        let socket = Socket::new(SocketType::Dealer);
        socket.connect(a.str(0)).await?;
        socket.send("hi").await?;
        sockets.push(socket);
    }
    control.wait_eof_async(Duration::from_secs(600)).await;
    std::process::exit(0);
}

async fn proxy_fwd(a: &Args) -> aiozmq::Result<()> {
    let control = Control::start();
    let frontend = Socket::new(SocketType::XSub);
    frontend.connect(a.str(0)).await?;
    let backend = Socket::new(SocketType::XPub);
    backend.set_xpub_nodrop(true)?;
    backend.bind(a.str(1)).await?;
    control.exit_on_eof();
    aiozmq::proxy(&frontend, &backend, None).await
}

async fn router_thr(a: &Args) -> aiozmq::Result<()> {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    ensure_nofile(nofile_for(dealers));
    let socket = Socket::new(SocketType::Router);
    socket.bind(a.str(0)).await?;
    let check = |msg: &Message, len: usize| {
        if msg.len() != 2 || msg[1].len() != len {
            wrong_size();
        }
    };
    for _ in 0..dealers {
        check(&socket.recv().await?, 1);
    }
    say("ready");
    check(&socket.recv().await?, size);
    let start = Instant::now();
    for _ in 1..count {
        check(&socket.recv().await?, size);
    }
    print_thr(size, count, start.elapsed());
    socket.close().await;
    Ok(())
}

async fn dealer_thr(a: &Args) -> aiozmq::Result<()> {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    let per = dealer_share(count, dealers);
    ensure_nofile(nofile_for(dealers));
    let control = Control::start();
    let mut sockets = Vec::new();
    for _ in 0..dealers {
        let socket = Socket::new(SocketType::Dealer);
        socket.connect(a.str(0)).await?;
        socket
            .send(Message::from(Bytes::from_static(&[HELLO])))
            .await?;
        sockets.push(socket);
    }
    control.wait_go_async().await;
    let payload = Bytes::from(vec![0u8; size]);
    for _ in 0..per {
        for socket in &sockets {
            socket.send(Message::from(payload.clone())).await?;
        }
    }
    // The runner closes stdin once the router has every message.
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    std::process::exit(0);
}
