//! libzmq 4.3 (through the `zmq` crate, built from source) in every benchmark role: the
//! four perf roles do what libzmq's own perf tools do, call for call.

use aiozmq_compare::*;
use std::ffi::{c_char, c_int, CStr, CString};
use std::time::{Duration, Instant};

fn main() {
    let a = Args::parse_curve("peer_libzmq");
    if a.curve && !a.role.starts_with("local_") && !a.role.starts_with("remote_") {
        die(&format!("{}: no --curve for this role", a.role));
    }
    if a.curve && zmq::has("curve") != Some(true) {
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
        "pub_fanout" => pub_fanout(&a),
        "sub_fanout" => sub_fanout(&a),
        "router_mem" => router_mem(&a),
        "dealer_mem" => dealer_mem(&a),
        _ => usage("peer_libzmq"),
    };
    if let Err(e) = r {
        die(&format!("error: {e}"));
    }
}

extern "C" {
    // libzmq's own key derivation (zmq-sys has it, but does not re-export it).
    fn zmq_curve_public(z85_public_key: *mut c_char, z85_secret_key: *const c_char) -> c_int;
    // From the static libsodium that libzmq's CURVE is linked with (zmq-sys/, `curve`).
    fn sodium_version_string() -> *const c_char;
}

/// One line: the libzmq version and what its CURVE is built with.
fn curve_info() {
    let (major, minor, patch) = zmq::version();
    let curve = if zmq::has("curve") == Some(true) {
        // SAFETY: a NUL-terminated static string from libsodium.
        let v = unsafe { CStr::from_ptr(sodium_version_string()) };
        format!("CURVE over libsodium {} (static)", v.to_string_lossy())
    } else {
        "no CURVE".to_string()
    };
    say(&format!("libzmq {major}.{minor}.{patch}, {curve}"));
}

/// The public key of `secret`, derived by libzmq (`zmq_curve_public`; Z85 in and out).
fn curve_public(secret: &[u8; 32]) -> String {
    let secret = CString::new(zmq::z85_encode(secret).expect("32 bytes")).expect("Z85");
    let mut public = [0 as c_char; 41];
    // SAFETY: a 41-byte output buffer and a NUL-terminated 40-character Z85 key, as documented.
    let rc = unsafe { zmq_curve_public(public.as_mut_ptr(), secret.as_ptr()) };
    if rc != 0 {
        die("zmq_curve_public failed");
    }
    // SAFETY: libzmq wrote a NUL-terminated 40-character string.
    unsafe { CStr::from_ptr(public.as_ptr()) }
        .to_string_lossy()
        .into_owned()
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
        socket.send(&payload[..], 0)?;
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
        socket.send(&payload[..], 0)?;
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

fn pub_fanout(a: &Args) -> zmq::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let ctx = zmq::Context::new();
    let socket = ctx.socket(zmq::PUB)?;
    socket.bind(a.str(0))?;
    while !control.go() {
        socket.send(&[HELLO][..], 0)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    let payload = data_payload(size);
    for _ in 0..count {
        socket.send(&payload[..], 0)?;
    }
    while !control.eof() {
        socket.send(&[END][..], 0)?;
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
        let mut items: Vec<_> = sockets
            .iter()
            .map(|s| s.as_poll_item(zmq::POLLIN))
            .collect();
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
                    Err(zmq::Error::EAGAIN) => break,
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
            Err(zmq::Error::EAGAIN) => break,
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
        s.send("hi", 0)?;
        sockets.push(s);
    }
    control.wait_eof(Duration::from_secs(600));
    std::process::exit(0);
}
