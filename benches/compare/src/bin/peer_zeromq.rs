//! `zeromq` 0.7 (zmq.rs) in the four perf roles.
//!
//! zmq.rs has no linger: dropping a socket drops what is still queued. Like every sender
//! here, `remote_thr` stays up after its last send until stdin is closed (the runner closes
//! it once the receiver is done; at once on a terminal) or 30 s have passed.

use aiozmq_compare::*;
use bytes::Bytes;
use std::time::Instant;
use zeromq::prelude::*;
use zeromq::{PullSocket, PushSocket, RepSocket, ReqSocket, ZmqMessage};

fn main() {
    let a = Args::parse("peer_zeromq");
    let r: zeromq::ZmqResult<()> = run_task(async move { perf_role!(a, "peer_zeromq") });
    if let Err(e) = r {
        die(&format!("error: {e}"));
    }
}

fn check(msg: &ZmqMessage, size: usize) {
    if msg.len() != 1 || msg.get(0).map(|f| f.len()) != Some(size) {
        wrong_size();
    }
}

async fn local_thr(a: &Args) -> zeromq::ZmqResult<()> {
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

async fn remote_thr(a: &Args) -> zeromq::ZmqResult<()> {
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

async fn local_lat(a: &Args) -> zeromq::ZmqResult<()> {
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

async fn remote_lat(a: &Args) -> zeromq::ZmqResult<()> {
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
