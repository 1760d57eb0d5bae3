//! ZMQ_USE_FD by number, for socket activation: a child process is started as systemd
//! starts an activated service (listeners at descriptors 3 and 4, `LISTEN_FDS=2`,
//! `LISTEN_PID` its own id) and adopts them by number; libzmq peers (pyzmq running
//! `interop/peer.py`) reach it through both. Numbers outside the handed range, and
//! listeners handed to another process, are refused with `EINVAL`.
//!
//! The child is this test binary itself, running its ignored `activated_child` test. It
//! is started through `sh`, which moves the listeners from the standard input and output
//! (where the standard library can place a descriptor) to 3 and 4, sets `LISTEN_PID` to
//! its own id and execs the test binary under that same id, as a launcher would.
#![cfg(unix)]

mod support;

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use aiozmq::socket::{opt, OptValue};
use aiozmq::{ErrorKind, Socket, SocketType};
use support::python::PyPeer;
use support::{close, msg, recv, send, within};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::ChildStderr;

/// The child's part, by the environment variable of the same name.
const MODE: &str = "AIOZMQ_USE_FD_CHILD";
/// The path of the Unix listener, for the child's `ipc://` bind.
const IPC_PATH: &str = "AIOZMQ_USE_FD_IPC";
/// How long the child may run.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// A child process with `tcp` at descriptor 3 and `unix` at 4 (`LISTEN_FDS=2`),
/// `LISTEN_PID` its own id unless `foreign_pid` gives another. Its output (standard
/// output and error both) is piped.
fn spawn_activated(
    mode: &str,
    tcp: std::net::TcpListener,
    unix: std::os::unix::net::UnixListener,
    foreign_pid: Option<u32>,
    ipc_path: &str,
) -> tokio::process::Child {
    let pid = match foreign_pid {
        Some(p) => p.to_string(),
        None => "$$".to_string(),
    };
    let script = format!(
        "export LISTEN_FDS=2 LISTEN_PID={pid}; exec \"$0\" \"$@\" 3<&0 4<&1 0</dev/null 1>&2"
    );
    let exe = std::env::current_exe().expect("current_exe");
    tokio::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(exe)
        .args([
            "activated_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE, mode)
        .env(IPC_PATH, ipc_path)
        .env_remove("LISTEN_FDS_FIRST_FD")
        .stdin(Stdio::from(OwnedFd::from(tcp)))
        .stdout(Stdio::from(OwnedFd::from(unix)))
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sh")
}

/// A running child and what it printed so far.
struct Activated {
    child: tokio::process::Child,
    lines: Lines<BufReader<ChildStderr>>,
    seen: Vec<String>,
}

impl Activated {
    fn new(mut child: tokio::process::Child) -> Activated {
        let out = child.stderr.take().expect("piped");
        Activated {
            child,
            lines: BufReader::new(out).lines(),
            seen: Vec::new(),
        }
    }

    /// The child's output until it prints a line holding `prefix` (the rest of the line
    /// is returned); fails with all it printed when it ends first or takes too long.
    async fn line(&mut self, prefix: &str) -> String {
        let found = tokio::time::timeout(CHILD_LIMIT, async {
            while let Some(line) = self.lines.next_line().await.expect("child output") {
                // The test harness may have started the line ("test activated_child ... ").
                if let Some(at) = line.find(prefix) {
                    return Some(line[at + prefix.len()..].to_string());
                }
                self.seen.push(line);
            }
            None
        })
        .await;
        match found {
            Ok(Some(rest)) => rest,
            Ok(None) => panic!(
                "the child ended without {prefix:?}:\n{}",
                self.seen.join("\n")
            ),
            Err(_) => panic!(
                "no {prefix:?} from the child within {CHILD_LIMIT:?}:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// Waits for the child's exit (draining its output), failing unless it succeeded.
    async fn expect_success(mut self) {
        let status = tokio::time::timeout(CHILD_LIMIT, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                self.seen.push(line);
            }
            self.child.wait().await.expect("wait")
        })
        .await
        .unwrap_or_else(|_| panic!("the child did not exit within {CHILD_LIMIT:?}"));
        assert!(
            status.success(),
            "the child failed ({status}):\n{}",
            self.seen.join("\n")
        );
    }
}

/// A systemd-style launch: the child adopts the TCP listener at 3 for a `tcp://` bind
/// (named by the listener's own address, the endpoint's address ignored, as libzmq) and
/// the Unix listener at 4 for an `ipc://` bind (named by the path given); a libzmq REQ
/// gets a reply through each. The child itself checks the refusals (see
/// `activated_child`). The socket file stays after the child closes: it is the
/// launcher's.
#[tokio::test]
async fn handed_listeners_serve_libzmq_peers_by_number() {
    let _panics = support::check_library_panics();
    // The Python environment first (made on first use, which can take longer than the
    // child waits for its requests).
    support::python::venv_python();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_ep = format!("tcp://127.0.0.1:{}", tcp.local_addr().unwrap().port());
    let ipc = support::UnboundIpc::new("use-fd-activated");
    let path = ipc.endpoint.strip_prefix("ipc://").unwrap().to_string();
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut child = Activated::new(spawn_activated("serve", tcp, unix, None, &path));
    let endpoints = child.line("ENDPOINTS ").await;
    let endpoints: Vec<&str> = endpoints.split(' ').collect();
    assert_eq!(endpoints, [tcp_ep.as_str(), ipc.endpoint.as_str()]);
    for ep in endpoints {
        let (mut peer, _) = PyPeer::start([
            "REQ",
            "--connect",
            ep,
            "req",
            "1",
            &format!("text:via {ep}"),
        ])
        .await;
        assert_eq!(
            peer.message().await.frames,
            vec![format!("echo via {ep}").into_bytes()]
        );
        peer.finish().await;
    }
    child.expect_success().await;
    assert!(
        std::path::Path::new(&path).exists(),
        "the launcher's socket file stays"
    );
}

/// Listeners handed with a `LISTEN_PID` of another process are not this process's:
/// USE_FD 3 is refused, and the variables are left alone.
#[tokio::test]
async fn listeners_handed_to_another_process_are_refused() {
    let _panics = support::check_library_panics();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ipc = support::UnboundIpc::new("use-fd-foreign");
    let path = ipc.endpoint.strip_prefix("ipc://").unwrap().to_string();
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut child = Activated::new(spawn_activated(
        "foreign",
        tcp,
        unix,
        Some(std::process::id()),
        &path,
    ));
    let refusal = child.line("REFUSED ").await;
    assert!(refusal.starts_with("EINVAL"), "{refusal}");
    assert!(refusal.contains("not handed to this process"), "{refusal}");
    child.expect_success().await;
}

/// Without socket activation (this test process has no LISTEN_FDS), a descriptor number
/// is refused with `EINVAL` naming the safe alternative, by number and typed; -1 is the
/// default and is accepted; a value below -1 is no descriptor.
#[tokio::test]
async fn without_activation_a_number_is_refused() {
    let _panics = support::check_library_panics();
    assert!(
        std::env::var_os("LISTEN_FDS").is_none(),
        "not run activated"
    );
    let s = Socket::new(SocketType::Rep);
    assert_eq!(s.getsockopt(opt::USE_FD).unwrap(), OptValue::Int(-1));
    assert_eq!(s.use_fd(), -1);
    for fd in [0, 3, 4, 1000] {
        let e = s.setsockopt(opt::USE_FD, fd).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{fd}: {e}");
        assert!(e.to_string().contains("bind_listener"), "{e}");
        assert!(e.to_string().contains("LISTEN_FDS"), "{e}");
        assert_eq!(
            s.set_use_fd(fd).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
    let e = s.setsockopt(opt::USE_FD, -2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    s.setsockopt(opt::USE_FD, -1).unwrap();
    assert_eq!(s.getsockopt(opt::USE_FD).unwrap(), OptValue::Int(-1));
    close(&s).await;
}

/// The child's part (run by the tests above in a child process, never on its own).
#[tokio::test]
#[ignore = "the socket-activated child process of the other tests in this file"]
async fn activated_child() {
    let mode = std::env::var(MODE).expect("run as the child of a use_fd test");
    let s = Socket::new(SocketType::Rep);
    if mode == "foreign" {
        let e = s.setsockopt(opt::USE_FD, 3).unwrap_err();
        println!("REFUSED {e}");
        assert_eq!(
            std::env::var("LISTEN_FDS").as_deref(),
            Ok("2"),
            "left alone"
        );
        close(&s).await;
        return;
    }
    // Outside the handed range (3 and 4): refused, by number and typed.
    for fd in [0, 2, 5, 64] {
        let e = s.setsockopt(opt::USE_FD, fd).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{fd}: {e}");
        assert!(e.to_string().contains("3 to 4"), "{e}");
        assert!(e.to_string().contains("bind_listener"), "{e}");
    }
    // The variables were read and removed, as sd_listen_fds(1) does.
    assert!(std::env::var_os("LISTEN_FDS").is_none());
    assert!(std::env::var_os("LISTEN_PID").is_none());

    // TCP at 3: the endpoint's address is ignored; the bind is named by the listener.
    s.setsockopt(opt::USE_FD, 3).unwrap();
    assert_eq!(s.getsockopt(opt::USE_FD).unwrap(), OptValue::Int(3));
    let tcp = within("bind tcp", s.bind("tcp://192.0.2.1:1"))
        .await
        .unwrap();
    assert_eq!(s.last_endpoint(), tcp);
    // Adopted once: a second bind with it is refused.
    let e = within("bind again", s.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("adopted already"), "{e}");

    // The Unix listener at 4 serves no tcp:// bind (and stays in place), but an ipc://
    // one, named by the path as written.
    s.set_use_fd(4).unwrap();
    assert_eq!(s.use_fd(), 4);
    let e = within("bind tcp to a unix listener", s.bind("tcp://127.0.0.1:*"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let path = std::env::var(IPC_PATH).unwrap();
    let ipc = within("bind ipc", s.bind(&format!("ipc://{path}")))
        .await
        .unwrap();
    assert_eq!(ipc, format!("ipc://{path}"));
    s.set_use_fd(-1).unwrap();
    assert_eq!(s.bindings(), vec![tcp.clone(), ipc.clone()]);
    println!("ENDPOINTS {tcp} {ipc}");

    for _ in 0..2 {
        let req = recv(&s, "request").await;
        let text = String::from_utf8(support::frames(&req).remove(0)).unwrap();
        let reply = text.replacen("via", "echo via", 1);
        send(&s, msg(&[reply.as_bytes()]), "reply").await;
    }
    // The peers have their replies when they finish; close with the default linger.
    close(&s).await;
}
