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
//! Unix only: the peer is a blocking Unix-domain socket with a raised send buffer.
#![cfg(unix)]

mod support;

use aiozmq::{Socket, SocketType};
use std::io::Write;
use std::time::Duration;
use support::mock;

const SIZE: usize = 64 * 1024;
const COUNT: u64 = 2000;
/// Messages the connection may read beyond what the application has taken: the read
/// before it steps aside (4 MiB) and the read that crossed that (up to 4 MiB), with slack.
const BOUND: u64 = 200;

#[test]
fn a_streaming_connection_steps_aside_for_the_application() {
    let _panics = support::check_library_panics();
    let path = std::env::temp_dir().join(format!("aiozmq-readahead-{}.ipc", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let endpoint = format!("ipc://{}", path.display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pull = Socket::new(SocketType::Pull);
    // Far above what may be read ahead: only the connection's own rule limits it.
    pull.set_rcvhwm(100_000).unwrap();
    rt.block_on(pull.bind(&endpoint)).unwrap();

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
