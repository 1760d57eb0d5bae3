//! The physical reference: raw tokio streams (TCP or Unix) carrying length-prefixed frames
//! (4-byte big-endian length, then the payload). Throughput streams frames through 64 KiB
//! buffers (frames of 32 KiB and more go out as one vectored write, uncopied); latency is a
//! ping-pong. Same command lines and output as the ZeroMQ peers
//! (`tcp://host:port` and `ipc:///path` endpoints).
//!
//! The lossless fan-out (`pub_lossless`, `sub_fanout`) is one stream per subscriber: the
//! publisher writes every frame into each of its streams' 64 KiB buffers, so the slowest
//! reader paces it (TCP never drops). The ROUTER row (`router_thr`, `dealer_thr`) is one
//! stream per DEALER with 8 KiB buffers on both sides (libzmq's batch size), the reader a
//! task per stream. The proxy row's `proxy_fwd` is a relay: it copies the bytes of its one
//! upstream stream into each of its subscribers' streams as they come (no framing).

use aiozmq_compare::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

const BUF: usize = 64 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

fn main() {
    let a = Args::parse("peer_tcp");
    if is_perf_role(&a.role) {
        let r: std::io::Result<()> = run_task(async move { perf_role!(a, "peer_tcp") });
        if let Err(e) = r {
            die(&format!("error: {e}"));
        }
        return;
    }
    let rt = runtime();
    let local = tokio::task::LocalSet::new();
    let r: std::io::Result<()> = local.block_on(&rt, async move {
        match a.role.as_str() {
            "pub_lossless" => pub_lossless(&a).await,
            "sub_fanout" => sub_fanout(&a).await,
            "proxy_fwd" => relay(&a).await,
            "router_thr" => router_thr(&a).await,
            "dealer_thr" => dealer_thr(&a).await,
            _ => usage("peer_tcp"),
        }
    });
    if let Err(e) = r {
        die(&format!("error: {e}"));
    }
}

async fn accept(endpoint: &str) -> std::io::Result<Box<dyn Stream>> {
    if let Some(addr) = endpoint.strip_prefix("tcp://") {
        let listener = TcpListener::bind(addr).await?;
        let (s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    } else if let Some(path) = endpoint.strip_prefix("ipc://") {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let (s, _) = listener.accept().await?;
        let _ = std::fs::remove_file(path);
        Ok(Box::new(s))
    } else {
        die(&format!("unsupported endpoint {endpoint}"))
    }
}

async fn connect(endpoint: &str) -> std::io::Result<Box<dyn Stream>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r: std::io::Result<Box<dyn Stream>> =
            if let Some(addr) = endpoint.strip_prefix("tcp://") {
                TcpStream::connect(addr).await.and_then(|s| {
                    s.set_nodelay(true)?;
                    Ok(Box::new(s) as Box<dyn Stream>)
                })
            } else if let Some(path) = endpoint.strip_prefix("ipc://") {
                UnixStream::connect(path)
                    .await
                    .map(|s| Box::new(s) as Box<dyn Stream>)
            } else {
                die(&format!("unsupported endpoint {endpoint}"))
            };
        match r {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn read_frame(r: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let len = r.read_u32().await? as usize;
    buf.resize(len, 0);
    r.read_exact(buf).await?;
    Ok(len)
}

async fn local_thr(a: &Args) -> std::io::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let mut r = BufReader::with_capacity(BUF, accept(a.str(0)).await?);
    let mut buf = Vec::with_capacity(size);
    if read_frame(&mut r, &mut buf).await? != size {
        wrong_size();
    }
    let start = Instant::now();
    for _ in 1..count {
        if read_frame(&mut r, &mut buf).await? != size {
            wrong_size();
        }
    }
    print_thr(size, count, start.elapsed());
    Ok(())
}

async fn remote_thr(a: &Args) -> std::io::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let control = Control::start();
    let mut w = BufWriter::with_capacity(BUF, connect(a.str(0)).await?);
    let payload = vec![0u8; size];
    let header = (size as u32).to_be_bytes();
    for _ in 0..count {
        if size + 4 <= BUF / 2 {
            w.write_all(&header).await?;
            w.write_all(&payload).await?;
        } else {
            // Large frames: header and body in one vectored write, no copy.
            w.flush().await?;
            write_all_vectored(w.get_mut(), &header, &payload).await?;
        }
    }
    w.flush().await?;
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    w.shutdown().await?;
    Ok(())
}

async fn write_all_vectored(
    s: &mut (impl AsyncWrite + Unpin),
    mut a: &[u8],
    mut b: &[u8],
) -> std::io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let n = s
            .write_vectored(&[std::io::IoSlice::new(a), std::io::IoSlice::new(b)])
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    Ok(())
}

async fn local_lat(a: &Args) -> std::io::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let mut s = accept(a.str(0)).await?;
    let mut frame = vec![0u8; 4 + size];
    for _ in 0..count {
        s.read_exact(&mut frame).await?;
        if frame[..4] != (size as u32).to_be_bytes() {
            wrong_size();
        }
        s.write_all(&frame).await?;
    }
    Ok(())
}

async fn remote_lat(a: &Args) -> std::io::Result<()> {
    let (size, count) = (a.size(1), a.num(2));
    let mut s = connect(a.str(0)).await?;
    let mut frame = vec![0u8; 4 + size];
    frame[..4].copy_from_slice(&(size as u32).to_be_bytes());
    let mut back = vec![0u8; 4 + size];
    let start = Instant::now();
    for _ in 0..count {
        s.write_all(&frame).await?;
        s.read_exact(&mut back).await?;
        if back[..4] != frame[..4] {
            wrong_size();
        }
    }
    print_lat(size, count, start.elapsed());
    Ok(())
}

/// Writes one length-prefixed frame into a buffered writer.
async fn write_frame(w: &mut (impl AsyncWrite + Unpin), frame: &[u8]) -> std::io::Result<()> {
    w.write_all(&(frame.len() as u32).to_be_bytes()).await?;
    w.write_all(frame).await
}

/// Listens on a `tcp://` endpoint.
async fn listen(endpoint: &str) -> std::io::Result<TcpListener> {
    match endpoint.strip_prefix("tcp://") {
        Some(addr) => TcpListener::bind(addr).await,
        None => die(&format!("this role takes tcp:// endpoints, not {endpoint}")),
    }
}

async fn pub_lossless(a: &Args) -> std::io::Result<()> {
    let (size, count, subs) = (a.size(1), a.num(2), a.num(3));
    let control = Control::start();
    let listener = listen(a.str(0)).await?;
    let mut streams = Vec::new();
    for _ in 0..subs {
        let (s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        let mut w = BufWriter::with_capacity(BUF, s);
        write_frame(&mut w, &[HELLO]).await?;
        w.flush().await?;
        streams.push(w);
    }
    control.wait_go_async().await;
    let payload = data_payload(size);
    for _ in 0..count {
        for w in &mut streams {
            write_frame(w, &payload).await?;
        }
    }
    for w in &mut streams {
        write_frame(w, &[END]).await?;
        w.flush().await?;
    }
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    Ok(())
}

async fn sub_fanout(a: &Args) -> std::io::Result<()> {
    let (size, count, subs) = (a.size(1), a.num(2), a.size(3));
    let stats = Rc::new(RefCell::new(vec![SubStats::default(); subs]));
    let hellos = Rc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for i in 0..subs {
        let mut r = BufReader::with_capacity(BUF, connect(a.str(0)).await?);
        let (stats, hellos) = (stats.clone(), hellos.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let mut buf = Vec::with_capacity(size.max(1));
            loop {
                read_frame(&mut r, &mut buf).await?;
                let mut st = stats.borrow_mut();
                let st = &mut st[i];
                let had_hello = st.hello;
                if !st.on_frame(&buf, size) {
                    wrong_size();
                }
                if st.hello && !had_hello {
                    hellos.notify_one();
                }
                if st.done {
                    break;
                }
            }
            Ok::<(), std::io::Error>(())
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

/// The ROUTER row's buffers, per stream on both sides: libzmq's 8 KiB batch size.
const ROUTER_BUF: usize = 8 * 1024;

/// What the reader tasks of `router_thr` share.
#[derive(Default)]
struct RouterCount {
    hellos: Cell<u64>,
    data: Cell<u64>,
    first: Cell<Option<Instant>>,
    last: Cell<Option<Instant>>,
    changed: tokio::sync::Notify,
}

async fn router_thr(a: &Args) -> std::io::Result<()> {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    ensure_nofile(nofile_for(dealers));
    let listener = listen(a.str(0)).await?;
    let shared = Rc::new(RouterCount::default());
    let acceptor = {
        let shared = shared.clone();
        tokio::task::spawn_local(async move {
            for _ in 0..dealers {
                let (s, _) = listener.accept().await?;
                s.set_nodelay(true)?;
                let shared = shared.clone();
                tokio::task::spawn_local(async move {
                    let mut r = BufReader::with_capacity(ROUTER_BUF, s);
                    let mut buf = Vec::with_capacity(size);
                    if read_frame(&mut r, &mut buf).await? != 1 {
                        wrong_size();
                    }
                    shared.hellos.set(shared.hellos.get() + 1);
                    shared.changed.notify_one();
                    loop {
                        match read_frame(&mut r, &mut buf).await {
                            Ok(n) if n == size => {}
                            Ok(_) => wrong_size(),
                            // The dealer process exits once the runner has the result.
                            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                                return Ok::<(), std::io::Error>(())
                            }
                            Err(e) => return Err(e),
                        }
                        let n = shared.data.get() + 1;
                        shared.data.set(n);
                        if n == 1 {
                            shared.first.set(Some(Instant::now()));
                        }
                        if n == count {
                            shared.last.set(Some(Instant::now()));
                            shared.changed.notify_one();
                        }
                    }
                });
            }
            Ok::<(), std::io::Error>(())
        })
    };
    while shared.hellos.get() < dealers {
        shared.changed.notified().await;
    }
    acceptor.await.expect("acceptor task")?;
    say("ready");
    while shared.data.get() < count {
        shared.changed.notified().await;
    }
    match (shared.first.get(), shared.last.get()) {
        (Some(f), Some(l)) => print_thr(size, count, l - f),
        _ => die("no first or last message time"),
    }
    std::process::exit(0);
}

async fn dealer_thr(a: &Args) -> std::io::Result<()> {
    let (size, count, dealers) = (a.size(1), a.num(2), a.num(3));
    let per = dealer_share(count, dealers);
    ensure_nofile(nofile_for(dealers));
    let control = Control::start();
    let mut streams = Vec::new();
    for _ in 0..dealers {
        let mut w = BufWriter::with_capacity(ROUTER_BUF, connect(a.str(0)).await?);
        write_frame(&mut w, &[HELLO]).await?;
        w.flush().await?;
        streams.push(w);
    }
    control.wait_go_async().await;
    let payload = vec![0u8; size];
    for _ in 0..per {
        for w in &mut streams {
            write_frame(w, &payload).await?;
        }
    }
    for w in &mut streams {
        w.flush().await?;
    }
    // The runner closes stdin once the router has every message.
    control.wait_eof_async(Control::LINGER_LIMIT).await;
    std::process::exit(0);
}

async fn relay(a: &Args) -> std::io::Result<()> {
    let subs = a.num(2);
    let control = Control::start();
    let listener = listen(a.str(1)).await?;
    let mut upstream = connect(a.str(0)).await?;
    let mut streams = Vec::new();
    for _ in 0..subs {
        let (s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        streams.push(s);
    }
    control.exit_on_eof();
    let mut buf = vec![0u8; BUF];
    loop {
        let n = upstream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        for s in &mut streams {
            s.write_all(&buf[..n]).await?;
        }
    }
}
