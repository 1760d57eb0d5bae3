//! Heap allocations per message on the hot paths: PUSH→PULL (and DEALER→ROUTER,
//! CLIENT→SERVER) over loopback TCP, payloads
//! built once (`Bytes`), each side on its own thread with its own current-thread runtime,
//! so a per-thread counting allocator separates the send path (send calls plus the
//! sending connection's engine) from the receive path (the receiving engine plus recv
//! calls). Counted over a steady-state window after a warm-up.
//!
//! `cargo bench --bench alloc` (messages per window: `ALLOC_BENCH_MESSAGES`, default 200000;
//! the REQ→REP round trips, a tenth of that).
//! The target is zero amortised allocations per message.

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::mpsc;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
    let _ = BYTES.try_with(|c| c.set(c.get() + size as u64));
}

// SAFETY: forwards to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> (u64, u64) {
    (ALLOCS.with(Cell::get), BYTES.with(Cell::get))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Counts (allocations, bytes) of this thread over `window` calls of `step`, after
/// `warmup` calls.
async fn counted(
    s: &Socket,
    warmup: u64,
    window: u64,
    mut step: impl AsyncFnMut(&Socket),
) -> (u64, u64) {
    let mut start = (0, 0);
    for i in 0..warmup + window {
        if i == warmup {
            start = snapshot();
        }
        step(s).await;
    }
    let end = snapshot();
    (end.0 - start.0, end.1 - start.1)
}

/// A socket of `bound` type and one of `connected` type over loopback TCP, each on its
/// own thread and current-thread runtime, each running its step `warmup + window` times;
/// (allocations, bytes) per step over the window, for the connected and the bound side.
fn measure_pair(
    bound: SocketType,
    connected: SocketType,
    warmup: u64,
    window: u64,
    on_bound: impl AsyncFnMut(&Socket) + Send + 'static,
    on_connected: impl AsyncFnMut(&Socket) + Send + 'static,
) -> ((f64, f64), (f64, f64)) {
    let (ep_tx, ep_rx) = mpsc::channel();
    let bound = std::thread::spawn(move || {
        runtime().block_on(async move {
            let s = Socket::new(bound);
            let ep = s.bind("tcp://127.0.0.1:*").await.expect("bind");
            ep_tx.send(ep).unwrap();
            let counts = counted(&s, warmup, window, on_bound).await;
            s.close().await;
            counts
        })
    });
    let ep = ep_rx.recv().unwrap();
    let connected = std::thread::spawn(move || {
        runtime().block_on(async move {
            let s = Socket::new(connected);
            s.connect(&ep).await.expect("connect");
            let counts = counted(&s, warmup, window, on_connected).await;
            s.close().await;
            counts
        })
    });
    let c = connected.join().expect("connected side");
    let b = bound.join().expect("bound side");
    let per = |(a, b): (u64, u64)| (a as f64 / window as f64, b as f64 / window as f64);
    (per(c), per(b))
}

/// (allocations, bytes) per message over the window, for the sender and the receiver.
fn measure(size: usize, warmup: u64, window: u64) -> ((f64, f64), (f64, f64)) {
    measure_one_way(SocketType::Pull, SocketType::Push, size, warmup, window)
}

/// As [`measure`], from a connected `sender` to a bound `receiver` (the payload is the
/// last frame received: ROUTER prepends the routing id).
fn measure_one_way(
    receiver: SocketType,
    sender: SocketType,
    size: usize,
    warmup: u64,
    window: u64,
) -> ((f64, f64), (f64, f64)) {
    let payload = Bytes::from(vec![0u8; size]);
    measure_pair(
        receiver,
        sender,
        warmup,
        window,
        async move |rx: &Socket| {
            let msg = rx.recv().await.expect("recv");
            assert_eq!(msg.last().map(|f| f.len()), Some(size));
        },
        async move |tx: &Socket| {
            tx.send(Message::from(payload.clone())).await.expect("send");
        },
    )
}

/// (allocations, bytes) per round trip over the window, for the REQ and the REP side
/// (1-byte requests echoed back).
fn measure_round_trip(warmup: u64, window: u64) -> ((f64, f64), (f64, f64)) {
    measure_pair(
        SocketType::Rep,
        SocketType::Req,
        warmup,
        window,
        async |rep: &Socket| {
            let msg = rep.recv().await.expect("recv");
            rep.send(msg).await.expect("send");
        },
        async |req: &Socket| {
            req.send(Message::from(Bytes::from_static(b"x")))
                .await
                .expect("send");
            let reply = req.recv().await.expect("recv");
            assert_eq!(reply[0].len(), 1);
        },
    )
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let window: u64 = std::env::var("ALLOC_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    println!("heap allocations per message, PUSH→PULL over tcp, {window} messages after a warm-up");
    println!("| size | send: allocs/msg | send: bytes/msg | recv: allocs/msg | recv: bytes/msg |");
    println!("|---|---:|---:|---:|---:|");
    let mut worst: f64 = 0.0;
    for size in [16usize, 256, 1024, 65536] {
        let window = if size >= 65536 { window / 10 } else { window }.max(1000);
        let ((sa, sb), (ra, rb)) = measure(size, window / 4, window);
        worst = worst.max(sa).max(ra);
        println!("| {size} B | {sa:.4} | {sb:.1} | {ra:.4} | {rb:.1} |");
    }
    for (receiver, sender) in [
        (SocketType::Router, SocketType::Dealer),
        (SocketType::Server, SocketType::Client),
    ] {
        println!();
        println!("heap allocations per message, {sender}→{receiver} over tcp, {window} messages after a warm-up");
        println!(
            "| size | send: allocs/msg | send: bytes/msg | recv: allocs/msg | recv: bytes/msg |"
        );
        println!("|---|---:|---:|---:|---:|");
        for size in [16usize, 1024] {
            let ((sa, sb), (ra, rb)) = measure_one_way(receiver, sender, size, window / 4, window);
            worst = worst.max(sa).max(ra);
            println!("| {size} B | {sa:.4} | {sb:.1} | {ra:.4} | {rb:.1} |");
        }
    }
    let rt_window = (window / 10).max(1000);
    let ((ca, cb), (sa, sb)) = measure_round_trip(rt_window / 4, rt_window);
    worst = worst.max(ca).max(sa);
    println!();
    println!("heap allocations per round trip, REQ→REP over tcp (1 B), {rt_window} round trips after a warm-up");
    println!("| REQ: allocs/rt | REQ: bytes/rt | REP: allocs/rt | REP: bytes/rt |");
    println!("|---:|---:|---:|---:|");
    println!("| {ca:.4} | {cb:.1} | {sa:.4} | {sb:.1} |");
    println!(
        "worst: {worst:.4} allocations per message or round trip ({})",
        if worst < 0.01 {
            "zero amortised: target met"
        } else {
            "target: zero amortised"
        }
    );
}
