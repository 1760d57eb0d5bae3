//! Python interop support: a virtual environment holding `interop/requirements.txt`
//! (pyzmq, i.e. libzmq), and [`PyPeer`], a running `interop/peer.py` process.
//!
//! The environment lives under the cargo target dir (`CARGO_TARGET_TMPDIR/interop-venv`).
//! It is built once and rebuilt whenever the requirements file or the interpreter changes;
//! a lock directory keeps test binaries that run in parallel from building it twice. When
//! it cannot be built (no `python3` on `PATH`, no network for pip, ...) every test that
//! needs it **fails** with a message saying why: interop tests are never skipped silently.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

/// Where the virtual environment is made.
pub const VENV_DIR: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/interop-venv");
/// A file of the repository, by its path from the repository's root. This module serves the
/// root package's tests and (included by path) the CLI package's in `cli/`, so the root is
/// the nearest ancestor of the including package's directory that holds `interop/peer.py`.
pub fn repo_file(relative: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|d| d.join("interop/peer.py").is_file())
        .unwrap_or(manifest);
    root.join(relative)
}

/// How long a peer may take to print its next line (its own operations time out after 10 s
/// by default, so a healthy peer always prints or exits well before this).
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);

const MARKER: &str = ".aiozmq-requirements";
const LOCK_WAIT: Duration = Duration::from_secs(15 * 60);
const LOCK_STALE: Duration = Duration::from_secs(20 * 60);

/// The virtual environment's interpreter, building the environment first if needed.
/// Panics (the test fails) when the environment cannot be made.
pub fn venv_python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(ensure_venv) {
        Ok(p) => p,
        Err(e) => panic!(
            "the Python interop environment ({VENV_DIR}) could not be set up, so this \
             interop test cannot run: {e}"
        ),
    }
}

fn venv_interpreter(venv: &Path) -> PathBuf {
    if cfg!(windows) {
        venv.join("Scripts").join("python.exe")
    } else {
        venv.join("bin").join("python")
    }
}

/// `python3` (or `python3.exe`) from `PATH`.
fn find_python3() -> Result<PathBuf, String> {
    let name = if cfg!(windows) {
        "python3.exe"
    } else {
        "python3"
    };
    let path = std::env::var_os("PATH").ok_or("PATH is not set")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("no {name} on PATH; install Python 3 (with the venv module)"))
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn run(cmd: &mut StdCommand, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: could not run {cmd:?}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{what} failed ({}): {cmd:?}\n{text}", out.status))
    }
}

fn ensure_venv() -> Result<PathBuf, String> {
    let venv = PathBuf::from(VENV_DIR);
    let python = venv_interpreter(&venv);
    let requirements_file = repo_file("interop/requirements.txt");
    let requirements = fs::read(&requirements_file)
        .map_err(|e| format!("cannot read {}: {e}", requirements_file.display()))?;
    let python3 = find_python3()?;
    let version = run(
        StdCommand::new(&python3).arg("--version"),
        "python3 --version",
    )?;
    let mut key = requirements.clone();
    key.extend_from_slice(version.trim().as_bytes());
    let stamp = format!("{:016x}", fnv1a(&key));
    let marker = venv.join(MARKER);
    let up_to_date =
        || python.is_file() && fs::read_to_string(&marker).ok().as_deref() == Some(&stamp);
    if up_to_date() {
        return Ok(python);
    }

    let _lock = DirLock::acquire(PathBuf::from(format!("{VENV_DIR}.lock")))?;
    // Another test binary may have built it while we waited for the lock.
    if up_to_date() {
        return Ok(python);
    }
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("cannot remove old {VENV_DIR}: {e}"))?;
    }
    run(
        StdCommand::new(&python3).arg("-m").arg("venv").arg(&venv),
        "creating the virtual environment",
    )?;
    run(
        StdCommand::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(&requirements_file),
        "pip install -r interop/requirements.txt",
    )?;
    run(
        StdCommand::new(&python).args(["-c", "import zmq; print(zmq.zmq_version())"]),
        "importing pyzmq from the new environment",
    )?;
    let tmp = venv.join(format!("{MARKER}.tmp{}", std::process::id()));
    fs::write(&tmp, &stamp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, &marker).map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(python)
}

/// A lock held as a directory (created atomically); removed on drop. A lock left by a
/// process that died (its pid is gone, or the lock is very old) is broken.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: PathBuf) -> Result<DirLock, String> {
        let deadline = Instant::now() + LOCK_WAIT;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        loop {
            match fs::create_dir(&path) {
                Ok(()) => {
                    // Best effort: only used to detect a stale lock.
                    let _ = fs::write(path.join("pid"), std::process::id().to_string());
                    return Ok(DirLock(path));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if DirLock::is_stale(&path) {
                        let _ = fs::remove_dir_all(&path);
                        continue;
                    }
                    if Instant::now() > deadline {
                        return Err(format!(
                            "timed out after {LOCK_WAIT:?} waiting for the lock {} (remove it \
                             if no test is running)",
                            path.display()
                        ));
                    }
                    // Another test binary is installing; poll the lock (a file lock retry).
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("cannot create lock {}: {e}", path.display())),
            }
        }
    }

    fn is_stale(path: &Path) -> bool {
        let old = fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > LOCK_STALE);
        let owner_gone = Path::new("/proc/self").exists()
            && fs::read_to_string(path.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        old || owner_gone
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One message printed by peer.py: the index of the socket that received it and its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMessage {
    /// Which of the peer's sockets (`--sockets K`) received it.
    pub socket: usize,
    /// The frames.
    pub frames: Vec<Vec<u8>>,
}

impl PeerMessage {
    /// Parses peer.py's `{"socket": K, "frames": ["hex", ...]}` line.
    pub fn parse(line: &str) -> Result<PeerMessage, String> {
        let bad = |why: &str| format!("bad message line from peer.py ({why}): {line:.200}");
        let rest = line
            .trim()
            .strip_prefix("{\"socket\": ")
            .ok_or_else(|| bad("no socket"))?;
        let comma = rest.find(',').ok_or_else(|| bad("no comma"))?;
        let socket = rest[..comma].parse().map_err(|_| bad("socket index"))?;
        let list = rest[comma..]
            .strip_prefix(", \"frames\": [")
            .and_then(|r| r.strip_suffix("]}"))
            .ok_or_else(|| bad("no frames"))?;
        let mut frames = Vec::new();
        if !list.is_empty() {
            for item in list.split(", ") {
                let hex = item
                    .strip_prefix('"')
                    .and_then(|i| i.strip_suffix('"'))
                    .ok_or_else(|| bad("frame not quoted"))?;
                frames.push(from_hex(hex).ok_or_else(|| bad("frame not hex"))?);
            }
        }
        Ok(PeerMessage { socket, frames })
    }
}

/// Decodes lower- or upper-case hex.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let hex = hex.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// A running `interop/peer.py`. Killed when dropped.
#[derive(Debug)]
pub struct PyPeer {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<JoinHandle<String>>,
}

impl PyPeer {
    /// Starts `peer.py ARGS...` (see the script's help for the arguments). Must be called
    /// inside a tokio runtime.
    pub fn spawn<I, S>(args: I) -> PyPeer
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let args: Vec<String> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let label = format!("peer.py {}", args.join(" "));
        let mut child = Command::new(venv_python())
            .arg("-u")
            .arg(repo_file("interop/peer.py"))
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        PyPeer {
            label,
            child,
            stdin,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// Starts a peer and waits for its `READY` line; returns the peer and the endpoints it
    /// printed (the resolved endpoint of each `--bind`, then the `--connect` endpoints).
    pub async fn start<I, S>(args: I) -> (PyPeer, Vec<String>)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut peer = PyPeer::spawn(args);
        let endpoints = peer.ready().await;
        (peer, endpoints)
    }

    /// Waits for the `READY ENDPOINT...` line.
    pub async fn ready(&mut self) -> Vec<String> {
        let line = self.line().await;
        match line.strip_prefix("READY") {
            Some(rest) => rest.split_whitespace().map(str::to_owned).collect(),
            None => self.fail(format!("expected READY, got {line:.200}")).await,
        }
    }

    /// The next stdout line, waiting at most [`LINE_TIMEOUT`]; fails the test (with the
    /// peer's stderr) on timeout or when the peer exits first.
    pub async fn line(&mut self) -> String {
        self.line_within(LINE_TIMEOUT).await
    }

    /// Like [`line`](Self::line) with another time limit.
    pub async fn line_within(&mut self, limit: Duration) -> String {
        match tokio::time::timeout(limit, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                self.fail("exited before printing the expected line".into())
                    .await
            }
            Ok(Err(e)) => self.fail(format!("reading its stdout failed: {e}")).await,
            Err(_) => {
                self.fail(format!("printed nothing for {limit:?} (expected a line)"))
                    .await
            }
        }
    }

    /// Writes `line` and a newline to the peer's stdin (what its `seq stdin` action reads).
    pub async fn send_line(&mut self, line: &str) {
        let Some(stdin) = self.stdin.as_mut() else {
            self.fail("its stdin is already closed".into()).await
        };
        let write = async {
            stdin.write_all(format!("{line}\n").as_bytes()).await?;
            stdin.flush().await
        };
        match tokio::time::timeout(LINE_TIMEOUT, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(format!("writing to its stdin failed: {e}")).await,
            Err(_) => self.fail("writing to its stdin hung".into()).await,
        }
    }

    /// The next received message the peer printed.
    pub async fn message(&mut self) -> PeerMessage {
        let line = self.line().await;
        match PeerMessage::parse(&line) {
            Ok(m) => m,
            Err(e) => self.fail(e).await,
        }
    }

    /// The next `n` messages.
    pub async fn messages(&mut self, n: usize) -> Vec<PeerMessage> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.message().await);
        }
        v
    }

    /// Expects the `DONE` line and a zero exit status.
    pub async fn finish(mut self) {
        let line = self.line().await;
        if line != "DONE" {
            self.fail(format!("expected DONE, got {line:.200}")).await;
        }
        let status = self.wait().await;
        if !status.success() {
            self.fail(format!("exited with {status}")).await;
        }
    }

    /// Waits (at most [`LINE_TIMEOUT`]) for the process to exit.
    pub async fn wait(&mut self) -> ExitStatus {
        match tokio::time::timeout(LINE_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => self.fail(format!("waiting for it failed: {e}")).await,
            Err(_) => {
                self.fail(format!("did not exit within {LINE_TIMEOUT:?}"))
                    .await
            }
        }
    }

    /// Kills the process and waits for it to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Everything the peer wrote to stderr; kills it first if it still runs.
    pub async fn stderr(&mut self) -> String {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Give a peer that is exiting by itself a moment to say why, then stop it.
            if tokio::time::timeout(Duration::from_secs(2), self.child.wait())
                .await
                .is_err()
            {
                let _ = self.child.kill().await;
            }
        }
        match self.stderr.take() {
            Some(task) => match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(Ok(s)) => s,
                _ => "(stderr unavailable)".into(),
            },
            None => "(stderr already taken)".into(),
        }
    }

    async fn fail(&mut self, what: String) -> ! {
        let stderr = self.stderr().await;
        let status = self.child.try_wait().ok().flatten();
        panic!(
            "{}: {what}\n  exit status: {status:?}\n  stderr:\n{stderr}",
            self.label
        );
    }
}
