//! The physical reference: raw tokio streams (TCP or Unix) carrying length-prefixed frames
//! (4-byte big-endian length, then the payload). Throughput streams frames through 64 KiB
//! buffers (frames of 32 KiB and more go out as one vectored write, uncopied); latency is a
//! ping-pong. Same command lines and output as the ZeroMQ peers
//! (`tcp://host:port` and `ipc:///path` endpoints).

use aiozmq_compare::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

const BUF: usize = 64 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

fn main() {
    let a = Args::parse("peer_tcp");
    let r: std::io::Result<()> = run_task(async move { perf_role!(a, "peer_tcp") });
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
