//! A connection streaming large messages does not read far ahead of the application.
//!
//! RCVHWM counts messages, so at 64 KiB a thousand of them are 64 MiB: a connection task
//! that kept reading while bytes were there would fill that before the application ran
//! (on one thread), and the buffers would leave the caches before they were read. The
//! task steps aside after every few MiB read, so the application takes messages while
//! they are fresh and their buffers are reused.
//!
//! The peer asks for a large send buffer so that bytes are always waiting; where the
//! system caps it low (`net.core.wmem_max`), the connection catches up with the peer
//! anyway and the test shows less.
//!
//! Nor do many peers together: each peer's queue may hold its share of 16 MiB (RCVHWM
//! aside), and its connection reads no more until the application takes some.
//!
//! Unix only: the peers are blocking Unix-domain sockets.
#![cfg(unix)]

mod support;

use aiozmq::{Socket, SocketType};
use std::io::Write;
use std::time::Duration;
use support::mock;

const SIZE: usize = 64 * 1024;

/// A PULL bound to a fresh IPC path (returned), on a current-thread runtime, with RCVHWM
/// far above what may be read ahead (only the connection's own rules limit it) and the
/// given RCVBUF.
fn pull_far_above_rcvhwm(
    name: &str,
    rcvbuf: Option<i32>,
) -> (std::path::PathBuf, tokio::runtime::Runtime, Socket) {
    let path = std::env::temp_dir().join(format!("aiozmq-{name}-{}.ipc", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pull = Socket::new(SocketType::Pull);
    pull.set_rcvhwm(100_000).unwrap();
    if let Some(b) = rcvbuf {
        pull.set_rcvbuf(b).unwrap();
    }
    rt.block_on(pull.bind(&format!("ipc://{}", path.display())))
        .unwrap();
    (path, rt, pull)
}
const COUNT: u64 = 2000;
/// Messages the connection may read beyond what the application has taken: the read
/// before it steps aside (4 MiB) and the read that crossed that (up to 4 MiB), with slack.
const BOUND: u64 = 200;

#[test]
fn a_streaming_connection_steps_aside_for_the_application() {
    let _panics = support::check_library_panics();
    let (path, rt, pull) = pull_far_above_rcvhwm("readahead", None);

    // A PUSH peer on its own thread, writing as fast as the socket takes it.
    let peer_path = path.clone();
    let peer = std::thread::spawn(move || {
        let mut s = std::os::unix::net::UnixStream::connect(&peer_path).unwrap();
        // As much in flight as the system allows, so that bytes are there whenever the
        // connection reads.
        let _ = socket2::SockRef::from(&s).set_send_buffer_size(64 << 20);
        s.write_all(&mock::greeting(3, 1, "NULL", false)).unwrap();
        s.write_all(&mock::ready_frame("PUSH", None)).unwrap();
        let msg = mock::frame(0, &vec![7u8; SIZE]);
        let mut batch = Vec::with_capacity(16 * msg.len());
        for _ in 0..16 {
            batch.extend_from_slice(&msg);
        }
        for _ in 0..COUNT / 16 {
            s.write_all(&batch).unwrap();
        }
        s
    });

    let mut most = 0;
    rt.block_on(async {
        for taken in 1..=COUNT {
            let m = tokio::time::timeout(Duration::from_secs(20), pull.recv())
                .await
                .expect("no message within 20 s")
                .unwrap();
            assert_eq!(m[0].len(), SIZE);
            let ahead = pull.counters().messages_in - taken;
            most = most.max(ahead);
        }
    });
    drop(peer.join().unwrap());
    rt.block_on(support::close(&pull));
    let _ = std::fs::remove_file(&path);
    assert!(
        most <= BOUND,
        "the connection read {most} messages ({} MiB) ahead of the application",
        (most * SIZE as u64) >> 20
    );
}

/// Peers of `a_peers_share_of_inbound_memory_bounds_what_its_connection_reads`.
const PEERS: usize = 4;
/// What each of them writes: 384 messages of 64 KiB, 24 MiB.
const PER_PEER: usize = 384;
/// A peer's share of the inbound memory with four peers (16 MiB shared).
const CAP: u64 = 4 << 20;
/// Most one read brings in (the read size's ceiling).
const READ_MAX: u64 = 4 << 20;

/// With RCVHWM far out of the way, what the connections have read into the socket while
/// the application takes nothing stays within each peer's share of 16 MiB (4 MiB each
/// here, plus the read that crossed it): the rest waits in the kernel, and the peers'
/// writes wait for room, as at RCVHWM. Taking the messages lets every peer finish.
#[test]
fn a_peers_share_of_inbound_memory_bounds_what_its_connection_reads() {
    let _panics = support::check_library_panics();
    // Small kernel buffers on our side: what the peers get written is what we read.
    let (path, rt, pull) = pull_far_above_rcvhwm("inbytes", Some(64 * 1024));

    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let peers: Vec<_> = (0..PEERS)
        .map(|_| {
            let (path, done) = (path.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
                let _ = socket2::SockRef::from(&s).set_send_buffer_size(64 * 1024);
                s.write_all(&mock::greeting(3, 1, "NULL", false)).unwrap();
                s.write_all(&mock::ready_frame("PUSH", None)).unwrap();
                let msg = mock::frame(0, &vec![3u8; SIZE]);
                for _ in 0..PER_PEER {
                    s.write_all(&msg).unwrap();
                }
                done.send(()).unwrap();
                s
            })
        })
        .collect();
    drop(done_tx);

    // Every connection reads until its queue holds its share: four shares in all.
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while pull.counters().bytes_in < PEERS as u64 * CAP {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} bytes read within 20 s",
                pull.counters().bytes_in
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Then nothing more: no peer gets its 24 MiB written while nobody takes any.
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    assert!(done_rx.try_recv().is_err(), "a peer wrote all it had");
    let read = pull.counters().bytes_in;
    assert!(
        read <= PEERS as u64 * (CAP + READ_MAX + SIZE as u64),
        "{} MiB read ahead of the application",
        read >> 20
    );

    rt.block_on(async {
        for _ in 0..PEERS * PER_PEER {
            let m = tokio::time::timeout(Duration::from_secs(20), pull.recv())
                .await
                .expect("no message within 20 s")
                .unwrap();
            assert_eq!(m[0].len(), SIZE);
        }
    });
    for _ in 0..PEERS {
        done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("every peer finishes once its messages are taken");
    }
    for p in peers {
        drop(p.join().unwrap());
    }
    rt.block_on(support::close(&pull));
    let _ = std::fs::remove_file(&path);
}
