//! libzmq 4.3 (built from source by build.rs, called through the runner's own declarations in
//! src/libzmq.rs) in every benchmark role: the four perf roles do what libzmq's own perf tools
//! do, call for call.

use aiozmq_compare::libzmq as zmq;
use aiozmq_compare::*;
use std::time::{Duration, Instant};

fn main() {
    let a = Args::parse_curve("peer_libzmq");
    if a.curve && !a.role.starts_with("local_") && !a.role.starts_with("remote_") {
        die(&format!("{}: no --curve for this role", a.role));
    }
    if a.curve && !zmq::has("curve") {
        die("this libzmq was built without CURVE");
    }
    let r = match a.role.as_str() {
        "curve_info" => {
            curve_info();
            Ok(())
        }
        "local_thr" => local_thr(&a),
        "remote_thr" => remote_thr(&a),
        "local_lat" => local_lat(&a),
        "remote_lat" => remote_lat(&a),
        "inproc_thr" => inproc_thr(&a),
        "inproc_lat" => inproc_lat(&a),
        "pub_fanout" => pub_fanout(&a, false),
        "pub_lossless" => pub_fanout(&a, true),
        "proxy_fwd" => proxy_fwd(&a),
        "router_thr" => router_thr(&a),
        "dealer_thr" => dealer_thr(&a),
        "sub_fanout" => sub_fanout(&a),
        "router_mem" => router_mem(&a),
        "dealer_mem" => dealer_mem(&a),
        _ => usage("peer_libzmq"),
    };
    if let Err(e) = r {
        die(&format!("error: {e}"));
    }
}

/// One line: the libzmq version and what its CURVE is built with.
fn curve_info() {
    let (major, minor, patch) = zmq::version();
    let curve = if zmq::has("curve") {
        format!("CURVE over libsodium {} (static)", zmq::sodium_version())
    } else {
        "no CURVE".to_string()
    };
    say(&format!("libzmq {major}.{minor}.{patch}, {curve}"));
}

/// The public key of `secret`, derived by libzmq (`zmq_curve_public`; Z85 in and out).
fn curve_public(secret: &[u8; 32]) -> String {
    match zmq::curve_public(&zmq::z85_encode(secret)) {
        Ok(public) => public,
        Err(_) => die("zmq_curve_public failed"),
    }
}

/// The binding side of a `--curve` run: the CURVE server.
fn curve_server(a: &Args, socket: &zmq::Socket) -> zmq::Result<()> {
    if a.curve {
        socket.set_curve_server(true)?;
        socket.set_curve_secretkey(&CURVE_SERVER_SECRET)?;
    }
    Ok(())
}

/// The connecting side of a `--curve` run: a CURVE client (public keys derived by libzmq).
fn curve_client(a: &Args, socket: &zmq::Socket) -> zmq::Result<()> {
    if a.curve {
        socket.set_curve_serverkey(curve_public(&CURVE_SERVER_SECRET).as_bytes())?;
        socket.set_curve_publickey(curve_public(&CURVE_CLIENT_SECRET).as_bytes())?;
        socket.set_curve_secretkey(&CURVE_CLIENT_SECRET)?;
    }
    Ok(())
}

fn recv_checked(socket: &zmq::Socket, msg: &mut zmq::Message, size: usize) -> zmq::Result<()> {
    socket.recv(msg, 0)?;
    if msg.len() != size {
        wrong_size();
    }
    Ok(())
}

fn pull_loop(socket: &zmq::Socket, size: usize, count: u64) -> zmq::Result<()> {
    let mut msg = zmq::Message::new();
    recv_checked(socket, &mut msg, size)?;
    let start = Instant::now();
    for _ in 1..count {
        recv_checked(socket, &mut msg, size)?;
    }
    print_thr(size, count, start.elapsed());
    Ok(())
}

fn push_loop(socket: &zmq::Socket, size: usize, count: u64) -> zmq::Result<()> {
    let payload = vec![0u8; size];
    for _ in 0..count {
        // zmq_msg_init_size + copy + zmq_msg_send, as libzmq's remote_thr.
        socket.send_bytes(&payload, 0)?;
    }
    Ok(())
}

fn echo_loop(socket: &zmq::Socket, size: usize, count: u64) -> zmq::Result<()> {
    for _ in 0..count {
        let mut msg = zmq::Message::new();
        recv_checked(socket, &mut msg, size)?;
        socket.send(msg, 0)?;
    }
    Ok(())
}

fn req_loop(socket: &zmq::Socket, size: usize, count: u64) -> zmq::Result<()> {
    let payload = vec![0u8; size];
    let mut msg = zmq::Message::new();
    let start = Instant::now();
    for _ in 0..count {
        socket.send_bytes(&payload, 0)?;
        recv_checked(socket, &mut msg, size)?;
    }
    print_lat(size, count, start.elapsed());
    Ok(())
}

fn local_thr(a: &Args) -> zmq::Result<()> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PULL)?;
    curve_server(a, &socket)?;
    socket.bind(a.str(0))?;
    pull_loop(&socket, a.size(1), a.num(2))
}

fn remote_thr(a: &Args) -> zmq::Result<()> {
    let control = Control::start();
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PUSH)?;
    curve_client(a, &socket)?;
    socket.connect(a.str(0))?;
    push_loop(&socket, a.size(1), a.num(2))?;
    control.wait_eof(Control::LINGER_LIMIT);
    Ok(())
    // Dropping the socket and the context lingers until everything is sent.
}

fn local_lat(a: &Args) -> zmq::Result<()> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::REP)?;
    curve_server(a, &socket)?;
    socket.bind(a.str(0))?;
    echo_loop(&socket, a.size(1), a.num(2))
}

fn remote_lat(a: &Args) -> zmq::Result<()> {
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::REQ)?;
    curve_client(a, &socket)?;
    socket.connect(a.str(0))?;
    req_loop(&socket, a.size(1), a.num(2))
}

fn inproc_thr(a: &Args) -> zmq::Result<()> {
    let (size, count) = (a.size(0), a.num(1));
    let ctx = zmq::Context::new();
    let pull = ctx.socket(zmq::PULL)?;
    pull.bind("inproc://thr")?;
    let ctx2 = ctx.clone();
    let sender = std::thread::spawn(move || -> zmq::Result<()> {
        let push = ctx2.socket(zmq::PUSH)?;
        push.connect("inproc://thr")?;
        push_loop(&push, size, count)
    });
    pull_loop(&pull, size, count)?;
    sender.join().expect("sender thread")
}

fn inproc_lat(a: &Args) -> zmq::Result<()> {
    let (size, count) = (a.size(0), a.num(1));
    let ctx = zmq::Context::new();
    let rep = ctx.socket(zmq::REP)?;
    rep.bind("inproc://lat")?;
    let echo = std::thread::spawn(move || echo_loop(&rep, size, count));
    let req = ctx.socket(zmq::REQ)?;
    req.connect("inproc://lat")?;
    req_loop(&req, size, count)?;
    echo.join().expect("echo thread")
}

/// `pub_fanout` (PUB), or with `lossless` `pub_lossless` (XPUB with XPUB_NODROP, reading
/// the subscriptions it receives until go).
fn pub_fanout(a: &Args, lossless: bool) -> zmq::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let ctx = zmq::Context::new();
    let socket = if lossless {
        let s = ctx.socket(zmq::XPUB)?;
        s.set_xpub_nodrop(true)?;
        s
    } else {
        ctx.socket(zmq::PUB)?
    };
    socket.bind(a.str(0))?;
    let mut sub = zmq::Message::new();
    while !control.go() {
        while lossless && socket.recv(&mut sub, zmq::DONTWAIT).is_ok() {}
        socket.send_bytes(&[HELLO], 0)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    let payload = data_payload(size);
    for _ in 0..count {
        socket.send_bytes(&payload, 0)?;
    }
    while !control.eof() {
        socket.send_bytes(&[END], 0)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    std::process::exit(0);
}

fn sub_fanout(a: &Args) -> zmq::Result<()> {
    let (size, count, subs) = (a.size(1), a.num(2), a.size(3));
    let ctx = zmq::Context::new();
    let mut sockets = Vec::new();
    for _ in 0..subs {
        let s = ctx.socket(zmq::SUB)?;
        s.set_subscribe(b"")?;
        s.connect(a.str(0))?;
        sockets.push(s);
    }
    let mut stats = vec![SubStats::default(); subs];
    let mut ready = false;
    let mut msg = zmq::Message::new();
    while stats.iter().any(|s| !s.done) {
        let mut items: Vec<_> = sockets.iter().map(|s| s.poll_item(zmq::POLLIN)).collect();
        zmq::poll(&mut items, -1)?;
        let readable: Vec<bool> = items.iter().map(|i| i.is_readable()).collect();
        drop(items);
        for (i, r) in readable.into_iter().enumerate() {
            if !r {
                continue;
            }
            while !stats[i].done {
                match sockets[i].recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => {
                        if !stats[i].on_frame(&msg, size) {
                            wrong_size();
                        }
                    }
                    Err(zmq::EAGAIN) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        if !ready && stats.iter().all(|s| s.hello) {
            ready = true;
            say("ready");
        }
    }
    report_fanout(size, count, &stats);
    std::process::exit(0);
}

fn router_mem(a: &Args) -> zmq::Result<()> {
    let dealers = a.num(1);
    let control = Control::start();
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::ROUTER)?;
    socket.bind(a.str(0))?;
    say(&format!("rss idle: {} [kB]", rss_kb()));
    socket.set_rcvtimeo(MEM_IDLE.as_millis() as i32)?;
    let mut hellos = 0;
    while hellos < dealers {
        match socket.recv_multipart(0) {
            Ok(_) => hellos += 1,
            Err(zmq::EAGAIN) => break,
            Err(e) => return Err(e),
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    say(&format!("rss: {} [kB]", rss_kb()));
    say(&format!("hellos: {hellos}"));
    control.wait_eof(Duration::from_secs(600));
    std::process::exit(0);
}

fn dealer_mem(a: &Args) -> zmq::Result<()> {
    let dealers = a.num(1);
    let control = Control::start();
    // A context holds at most 1023 sockets by default: one context per thousand dealers.
    let mut contexts = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..dealers {
        if i % 1000 == 0 {
            contexts.push(zmq::Context::new());
        }
        let s = contexts.last().unwrap().socket(zmq::DEALER)?;
        s.connect(a.str(0))?;
        s.send_bytes(b"hi", 0)?;
        sockets.push(s);
    }
    control.wait_eof(Duration::from_secs(600));
    std::process::exit(0);
}

fn proxy_fwd(a: &Args) -> zmq::Result<()> {
    let control = Control::start();
    let ctx = zmq::Context::new();
    let frontend = ctx.socket(zmq::XSUB)?;
    frontend.connect(a.str(0))?;
    let backend = ctx.socket(zmq::XPUB)?;
    backend.set_xpub_nodrop(true)?;
    backend.bind(a.str(1))?;
    control.exit_on_eof();
    Err(zmq::proxy(&frontend, &backend))
}

/// Receives one `[routing id, body]` message from a ROUTER; the body must be `len` bytes.
fn recv_routed(
    socket: &zmq::Socket,
    id: &mut zmq::Message,
    body: &mut zmq::Message,
    len: usize,
) -> zmq::Result<()> {
    socket.recv(id, 0)?;
    if !id.more() {
        wrong_size();
    }
    socket.recv(body, 0)?;
    if body.more() || body.len() != len {
        wrong_size();
    }
    Ok(())
}

fn router_thr(a: &Args) -> zmq::Result<()> {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    ensure_nofile(nofile_for(dealers));
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::ROUTER)?;
    socket.bind(a.str(0))?;
    let (mut id, mut body) = (zmq::Message::new(), zmq::Message::new());
    for _ in 0..dealers {
        recv_routed(&socket, &mut id, &mut body, 1)?;
    }
    say("ready");
    recv_routed(&socket, &mut id, &mut body, size)?;
    let start = Instant::now();
    for _ in 1..count {
        recv_routed(&socket, &mut id, &mut body, size)?;
    }
    print_thr(size, count, start.elapsed());
    Ok(())
}

fn dealer_thr(a: &Args) -> zmq::Result<()> {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    let per = dealer_share(count, dealers);
    ensure_nofile(nofile_for(dealers));
    let control = Control::start();
    // One context for all the DEALERs (its default limit is 1023 sockets).
    let ctx = zmq::Context::new();
    ctx.set_max_sockets(dealers as i32 + 16)?;
    let mut sockets = Vec::new();
    for _ in 0..dealers {
        let s = ctx.socket(zmq::DEALER)?;
        s.connect(a.str(0))?;
        s.send_bytes(&[HELLO], 0)?;
        sockets.push(s);
    }
    control.wait_go();
    let payload = vec![0u8; size];
    for _ in 0..per {
        for s in &sockets {
            s.send_bytes(&payload, 0)?;
        }
    }
    // The runner closes stdin once the router has every message.
    control.wait_eof(Control::LINGER_LIMIT);
    std::process::exit(0);
}
