//! Reliability of our own sockets over TCP: many short-lived connections leak no file
//! descriptors, tasks or memory; close with linger delivers everything queued.
//!
//! These tests measure the whole process (`/proc/self`), so they run one at a time
//! (a lock), each on its own runtime.

mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use aiozmq::{EventKind, Socket, SocketType};
use support::{bind_any, connect, frames, msg, recv, send, OP_TIMEOUT};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// One cycle: a new DEALER connects, sends, gets the echo, and closes.
async fn cycle(router: &Socket, ep: &str, i: usize) {
    let dealer = Socket::new(SocketType::Dealer);
    connect(&dealer, ep).await;
    let body = i.to_string();
    send(&dealer, msg(&[body.as_bytes()]), "DEALER send").await;
    let m = recv(router, "ROUTER recv").await;
    assert_eq!(m.len(), 2, "{:?}", frames(&m));
    assert_eq!(&m[1][..], body.as_bytes());
    send(router, m, "ROUTER echo").await;
    let echo = recv(&dealer, "DEALER recv").await;
    assert_eq!(frames(&echo), vec![body.into_bytes()]);
    support::close(&dealer).await;
}

/// Counts the ROUTER's per-connection CLOSED events (a connection is fully gone, its fd
/// closed, when its CLOSED is emitted) and reports when `target` were seen.
fn count_closed(
    mut mon: aiozmq::Monitor,
    listener_fd: u32,
    progress: tokio::sync::watch::Sender<usize>,
) -> tokio::task::JoinHandle<aiozmq::Monitor> {
    tokio::spawn(async move {
        let mut closed = 0;
        while let Some(ev) = mon.recv().await {
            if ev.kind == EventKind::Closed && ev.value != listener_fd {
                closed += 1;
                progress.send_replace(closed);
            }
        }
        mon
    })
}

/// Waits until `progress` reaches `n`; fails after `limit`.
async fn wait_closed(rx: &mut tokio::sync::watch::Receiver<usize>, n: usize, limit: Duration) {
    let r = tokio::time::timeout(limit, rx.wait_for(|&c| c >= n))
        .await
        .map(|r| r.map(|_| ()));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(_)) => panic!("the monitor ended before {n} connections were closed"),
        Err(_) => panic!(
            "only {} of {n} connections closed on the ROUTER side within {limit:?}",
            *rx.borrow()
        ),
    }
}

/// 10,000 DEALERs connect to one ROUTER, exchange a message and close, one after the
/// other. Afterwards the process has the same file descriptors and tokio tasks as before
/// (a few of slack: a leak would show thousands), at most 20 MB more resident memory,
/// and the ROUTER no peer left. The ROUTER's monitor must not drop any event either.
///
/// Each cycle takes well under a millisecond in release builds and about 1–2 ms in debug
/// builds, so the whole test stays under a minute in debug (10,000 cycles either way).
#[test]
fn ten_thousand_connect_disconnect_cycles_leak_nothing() {
    let _panics = support::check_library_panics();
    const CYCLES: usize = 10_000;
    const WARMUP: usize = 200;
    let _serial = serial();
    let rt = runtime();
    rt.block_on(async {
        let router = Socket::new(SocketType::Router);
        let mut mon = router.monitor(100_000);
        let ep = bind_any(&router).await;
        let listening = mon.try_recv().expect("LISTENING after bind");
        assert_eq!(listening.kind, EventKind::Listening, "{listening:?}");
        let (tx, mut rx) = tokio::sync::watch::channel(0usize);
        let counter = count_closed(mon, listening.value, tx);

        // Warm up: allocator arenas, tokio's worker state, the first connections.
        for i in 0..WARMUP {
            cycle(&router, &ep, i).await;
        }
        wait_closed(&mut rx, WARMUP, OP_TIMEOUT).await;
        let fds0 = open_fds();
        let tasks0 = alive_tasks();
        let rss0 = support::rss_kib();

        let started = Instant::now();
        for i in 0..CYCLES {
            cycle(&router, &ep, i).await;
        }
        let elapsed = started.elapsed();
        wait_closed(&mut rx, WARMUP + CYCLES, OP_TIMEOUT).await;
        let (fds1, tasks1, rss1) = (open_fds(), alive_tasks(), support::rss_kib());
        eprintln!(
            "{CYCLES} cycles in {elapsed:?}; fds {fds0} -> {fds1}, tasks {tasks0} -> \
             {tasks1}, VmRSS {rss0} -> {rss1} KiB"
        );
        assert!(
            fds1 <= fds0 + 4,
            "file descriptors leaked: {fds0} before, {fds1} after {CYCLES} cycles"
        );
        assert!(
            tasks1 <= tasks0 + 4,
            "tasks leaked: {tasks0} alive before, {tasks1} after {CYCLES} cycles"
        );
        assert!(
            rss1 <= rss0 + 20 * 1024,
            "memory grew by {} KiB over {CYCLES} cycles ({rss0} -> {rss1} KiB)",
            rss1.saturating_sub(rss0)
        );
        let c = router.counters();
        assert_eq!(c.peers, 0, "peers left on the ROUTER: {c:?}");
        support::close(&router).await;
        let mon = tokio::time::timeout(OP_TIMEOUT, counter)
            .await
            .expect("the monitor did not end after close")
            .unwrap();
        assert_eq!(mon.dropped(), 0, "the ROUTER's monitor dropped events");
    });
}

/// A DEALER queues 1000 messages for an endpoint nobody listens on yet and closes (with
/// a 10 s linger); only after close has begun does a PULL-like receiver bind that
/// endpoint. All 1000 arrive, in order, and close returns once they are delivered.
#[test]
fn close_with_linger_delivers_everything_queued() {
    let _panics = support::check_library_panics();
    const N: usize = 1000;
    let _serial = serial();
    let rt = runtime();
    rt.block_on(async {
        // An endpoint with nothing behind it yet (an IPC path unique to this test: a TCP
        // port released for later could be taken by another test meanwhile).
        let unbound = support::UnboundIpc::new("linger");
        let ep = unbound.endpoint.clone();
        let sender = Socket::new(SocketType::Dealer);
        sender.set_linger(Duration::from_secs(10)).unwrap();
        sender.set_reconnect_ivl(Duration::from_millis(20)).unwrap();
        assert!(sender.sndhwm() >= N, "SNDHWM must hold the {N} messages");
        connect(&sender, &ep).await;
        for i in 0..N {
            let body = format!("m-{i}");
            match sender.try_send(msg(&[body.as_bytes()])) {
                Ok(()) => {}
                Err(e) => panic!("queueing message {i} failed: {e}"),
            }
        }

        // Begin the close: its first poll marks the socket closed and starts the linger.
        let close = sender.close();
        tokio::pin!(close);
        tokio::select! {
            biased;
            _ = &mut close => panic!("close returned while {N} messages were undeliverable"),
            _ = std::future::ready(()) => {}
        }
        assert!(
            sender.try_send(msg(&[b"late"])).is_err(),
            "send still works after close began"
        );

        let receiver = Socket::new(SocketType::Dealer);
        let bound = tokio::time::timeout(OP_TIMEOUT, receiver.bind(&ep))
            .await
            .expect("bind did not return")
            .unwrap_or_else(|e| panic!("bind {ep} failed: {e}"));
        assert_eq!(bound, ep);
        let started = Instant::now();
        let receive_all = async {
            for i in 0..N {
                let m = recv(&receiver, "lingering message").await;
                assert_eq!(
                    frames(&m),
                    vec![format!("m-{i}").into_bytes()],
                    "message {i}"
                );
            }
        };
        let ((), ()) = tokio::join!(receive_all, async {
            match tokio::time::timeout(OP_TIMEOUT, &mut close).await {
                Ok(()) => {}
                Err(_) => panic!("close did not return within {OP_TIMEOUT:?}"),
            }
        });
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "close waited for the whole linger instead of returning once delivered"
        );
        assert!(
            receiver.try_recv().is_err(),
            "more than {N} messages arrived"
        );
        support::close(&receiver).await;
    });
}

/// Idle connections with nothing queued end as soon as their socket closes, whatever the
/// linger: close wakes each connection's task (they wait on no close signal of their
/// own). Covers the batching engine (PUSH) and the direct-write one (REQ, REP).
#[test]
fn close_of_an_idle_connected_socket_does_not_wait_for_linger() {
    let _panics = support::check_library_panics();
    let _serial = serial();
    let rt = runtime();
    rt.block_on(async {
        for (a, b) in [
            (SocketType::Push, SocketType::Pull),
            (SocketType::Req, SocketType::Rep),
        ] {
            let server = Socket::new(b);
            let ep = bind_any(&server).await;
            let client = Socket::new(a);
            client.set_linger(Duration::from_secs(60)).unwrap();
            server.set_linger(Duration::from_secs(60)).unwrap();
            connect(&client, &ep).await;
            // One message each way that can: both connections are up and idle after.
            send(&client, msg(&[b"ping"]), "ping").await;
            assert_eq!(frames(&recv(&server, "ping").await), vec![b"ping".to_vec()]);
            if a == SocketType::Req {
                send(&server, msg(&[b"pong"]), "pong").await;
                assert_eq!(frames(&recv(&client, "pong").await), vec![b"pong".to_vec()]);
            }
            for (name, s) in [("client", &client), ("server", &server)] {
                let started = Instant::now();
                tokio::time::timeout(OP_TIMEOUT, s.close())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("{a:?}/{b:?}: {name} close waited for its 60 s linger")
                    });
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "{a:?}/{b:?}: {name} close took {:?}",
                    started.elapsed()
                );
            }
        }
    });
}
