//! Runs every example of aiozmq's core and streams chapters, and the blocking API's
//! hello-world client and server, and checks what they print; the STREAM socket's HTTP
//! server is fetched from with Python's `urllib`.
//!
//! The examples are built with `cargo build --example ...` (a no-op when `cargo test`
//! already built them) in the test's own profile and target directory, then run with a
//! time limit.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const EXAMPLES: [&str; 7] = [
    "core_dealer_router",
    "stream_dealer_router",
    "stream_monitor",
    "socket_event_monitor",
    "blocking_hwserver",
    "blocking_hwclient",
    "http_hello",
];

/// How long an example may run.
const LIMIT: Duration = Duration::from_secs(60);

/// `target/<profile>/examples`, derived from this test binary's own path
/// (`target/<profile>/deps/examples_run-<hash>`).
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join("examples")
}

fn build_examples() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = examples_dir();
        let profile_dir = dir.parent().expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(other) => {
                cmd.args(["--profile", other]);
            }
            None => panic!("no profile directory in {}", dir.display()),
        }
        for e in EXAMPLES {
            cmd.args(["--example", e]);
        }
        let status = cmd.status().expect("run cargo build --example");
        assert!(status.success(), "cargo build of the examples failed");
    });
}

fn example_path(name: &str) -> PathBuf {
    examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs an example and returns its standard output; fails on a non-zero exit or after
/// [`LIMIT`].
fn run(name: &str) -> String {
    run_with(name, &[])
}

/// Runs an example with arguments, as [`run`].
fn run_with(name: &str, args: &[&str]) -> String {
    build_examples();
    let path = example_path(name);
    let mut child = Command::new(&path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait_with_output");
            panic!(
                "{name} did not finish within {LIMIT:?}; stdout:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait_with_output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed ({}); stdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn answers(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("[b\"data\""))
        .collect()
}

fn expected_answers() -> Vec<String> {
    (0..10)
        .map(|i| format!("[b\"data\", b\"ask\", b\"{i}\"]"))
        .collect()
}

#[test]
fn core_dealer_router() {
    let out = run("core_dealer_router");
    assert_eq!(answers(&out), expected_answers(), "{out}");
    assert!(out.contains("DEALER connection_lost(None)"), "{out}");
    assert!(out.contains("ROUTER connection_lost(None)"), "{out}");
    assert_eq!(out.lines().last(), Some("DONE"), "{out}");
}

#[test]
fn stream_dealer_router() {
    let out = run("stream_dealer_router");
    assert!(out.starts_with("ROUTER bound to tcp://127.0.0.1:"), "{out}");
    assert_eq!(answers(&out), expected_answers(), "{out}");
    assert_eq!(out.lines().last(), Some("DONE"), "{out}");
}

#[test]
fn stream_monitor() {
    let out = run("stream_monitor");
    assert_eq!(answers(&out), expected_answers(), "{out}");
    let events: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("SocketEvent("))
        .collect();
    assert!(
        events
            .iter()
            .any(|l| l.starts_with("SocketEvent(event=1,") && l.ends_with("# CONNECTED")),
        "{out}"
    );
    assert!(
        events
            .iter()
            .any(|l| l.starts_with("SocketEvent(event=4096,")
                && l.ends_with("# HANDSHAKE_SUCCEEDED")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("DONE"), "{out}");
}

#[test]
fn socket_event_monitor() {
    let out = run("socket_event_monitor");
    let events: Vec<&str> = out.lines().filter(|l| l.starts_with("event:")).collect();
    // Four reconnections after the disconnects, each reported by the monitor.
    let connected = events
        .iter()
        .filter(|l| l.starts_with("event:1,") && l.ends_with("description:connected"))
        .count();
    assert!(connected >= 4, "{out}");
    let handshakes = events
        .iter()
        .filter(|l| l.ends_with("description:handshake succeeded"))
        .count();
    assert!(handshakes >= 4, "{out}");
    assert!(
        events
            .iter()
            .all(|l| l.contains("endpoint:tcp://127.0.0.1:")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("DONE"), "{out}");
}

/// Kills the example it holds when dropped (a server that serves until killed).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn blocking_hello_world_client_and_server() {
    build_examples();
    let mut server = Server(
        Command::new(example_path("blocking_hwserver"))
            .args(["tcp://127.0.0.1:*", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start blocking_hwserver"),
    );
    // The server's lines, read on a thread so that waiting for them has a deadline.
    let stdout = server.0.stdout.take().expect("piped stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.expect("server output")).is_err() {
                break;
            }
        }
    });
    let first = lines
        .recv_timeout(LIMIT)
        .expect("the server printed no endpoint");
    let endpoint = first
        .strip_prefix("Bound to ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));
    assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");

    let out = run_with("blocking_hwclient", &[endpoint, "5"]);
    let mut expected = vec![format!(
        "Connecting to the hello world server at {endpoint}"
    )];
    for n in 0..5 {
        expected.push(format!("Sending Hello {n}"));
        expected.push(format!("Received World {n}"));
    }
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
    for _ in 0..5 {
        let line = lines
            .recv_timeout(LIMIT)
            .expect("the server printed fewer requests");
        assert_eq!(line, "Received Hello");
    }
    drop(server);
}

/// Fetches from the `http_hello` server: 8 concurrent `urllib` requests (each its own
/// connection, which `urllib` closes), 3 requests on one kept-alive `http.client`
/// connection (one
/// connection for all three), and one with `Connection: close`, which the server must end (EOF).
const HTTP_CLIENT: &str = r#"
import http.client, socket, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
host, port = sys.argv[1], int(sys.argv[2])
def fetch(i):
    with urllib.request.urlopen(f"http://{host}:{port}/page/{i}", timeout=10) as r:
        return r.status, r.read().decode()
with ThreadPoolExecutor(8) as pool:
    for status, body in pool.map(fetch, range(8)):
        print("URLLIB", status, body)
c = http.client.HTTPConnection(host, port, timeout=10)
names = set()
for i in range(3):
    c.request("GET", f"/keep/{i}")
    r = c.getresponse()
    print("KEEPALIVE", r.status, r.getheader("Connection"), r.read().decode())
    names.add(c.sock.getsockname())
print("CONNECTIONS", len(names))
c.close()
s = socket.create_connection((host, port), timeout=10)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("CLOSED", data.split(b"\r\n")[0].decode(), data.endswith(b"Hello, World!"))
"#;

#[test]
fn http_hello_answers_concurrent_urllib_requests() {
    build_examples();
    let mut server = Server(
        Command::new(example_path("http_hello"))
            .arg("tcp://127.0.0.1:*")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start http_hello"),
    );
    let stdout = server.0.stdout.take().expect("piped stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.expect("server output")).is_err() {
                break;
            }
        }
    });
    let endpoint = lines
        .recv_timeout(LIMIT)
        .expect("the server printed no endpoint");
    let port = endpoint
        .strip_prefix("tcp://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line: {endpoint}"));

    let mut client = Command::new(support::python::venv_python())
        .args(["-c", HTTP_CLIENT, "127.0.0.1", port])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python client");
    let start = Instant::now();
    while client.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > LIMIT {
            let _ = client.kill();
            panic!("the Python HTTP client did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = client.wait_with_output().expect("client output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut expected = vec!["URLLIB 200 Hello, World!"; 8];
    expected.extend(["KEEPALIVE 200 keep-alive Hello, World!"; 3]);
    expected.push("CONNECTIONS 1");
    expected.push("CLOSED HTTP/1.1 200 OK True");
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected, "{stdout}");
    drop(server);
}
