//! Running the `aiozmq` command-line tool in tests: [`Cli`] spawns it with piped standard
//! streams and reads its stdout and stderr line by line, every wait bounded; a failure
//! shows everything the tool wrote to stderr.
#![allow(dead_code)]

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The tool under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_aiozmq");

/// How long the tool may take to print its next line or to exit.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `aiozmq ARGS...`. Killed when dropped.
pub struct Cli {
    label: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
    /// Every stderr line read so far (for failure messages).
    stderr_seen: Vec<String>,
}

fn lines<R>(r: R) -> mpsc::UnboundedReceiver<String>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Cli {
    /// Starts `aiozmq ARGS...` with stdin, stdout and stderr piped.
    pub fn spawn<S: AsRef<str>>(args: &[S]) -> Cli {
        let args: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        let label = format!("aiozmq {}", args.join(" "));
        let mut child = Command::new(BIN)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdin = child.stdin.take();
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        Cli {
            label,
            child,
            stdin,
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        }
    }

    /// Starts `aiozmq ARGS...` as a socket-activated service is started: `listener` at
    /// descriptor 3, `LISTEN_FDS=1` and `LISTEN_PID` its own id (`sh` moves the listener
    /// from stdin to 3, sets the id and execs the tool under it). Stdin is `/dev/null`;
    /// stdout and stderr are piped.
    #[cfg(unix)]
    pub fn spawn_activated<S: AsRef<str>>(args: &[S], listener: std::os::fd::OwnedFd) -> Cli {
        let args: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
        let label = format!("aiozmq {} (activated)", args.join(" "));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("export LISTEN_FDS=1 LISTEN_PID=$$; exec \"$0\" \"$@\" 3<&0 0</dev/null")
            .arg(BIN)
            .args(&args)
            .env_remove("LISTEN_FDS_FIRST_FD")
            .stdin(Stdio::from(listener))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        Cli {
            label,
            child,
            stdin: None,
            stdout,
            stderr,
            stderr_seen: Vec::new(),
        }
    }

    /// Starts the tool and waits for its `ready` status line; returns it with the
    /// endpoints of its `bound EP` lines.
    pub async fn start<S: AsRef<str>>(args: &[S]) -> (Cli, Vec<String>) {
        let mut cli = Cli::spawn(args);
        let bound = cli.ready().await;
        (cli, bound)
    }

    /// Reads stderr up to the `ready` line; returns the endpoints of the `bound` lines.
    pub async fn ready(&mut self) -> Vec<String> {
        let mut bound = Vec::new();
        loop {
            let line = self.stderr_line().await;
            if line == "ready" {
                return bound;
            }
            if let Some(ep) = line.strip_prefix("bound ") {
                bound.push(ep.to_string());
            } else if !line.starts_with("connecting ") {
                self.fail(&format!("unexpected status line {line:?}")).await;
            }
        }
    }

    /// The next stdout line.
    pub async fn line(&mut self) -> String {
        match tokio::time::timeout(WAIT, self.stdout.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => self.fail("stdout ended before the expected line").await,
            Err(_) => {
                self.fail(&format!("printed nothing on stdout for {WAIT:?}"))
                    .await
            }
        }
    }

    /// The next `n` stdout lines.
    pub async fn lines(&mut self, n: usize) -> Vec<String> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.line().await);
        }
        v
    }

    /// The next stderr line.
    pub async fn stderr_line(&mut self) -> String {
        match tokio::time::timeout(WAIT, self.stderr.recv()).await {
            Ok(Some(line)) => {
                self.stderr_seen.push(line.clone());
                line
            }
            Ok(None) => self.fail("stderr ended before the expected line").await,
            Err(_) => {
                self.fail(&format!("printed nothing on stderr for {WAIT:?}"))
                    .await
            }
        }
    }

    /// Reads stderr until a line containing `text`; returns that line.
    pub async fn stderr_until(&mut self, text: &str) -> String {
        loop {
            let line = self.stderr_line().await;
            if line.contains(text) {
                return line;
            }
        }
    }

    /// Writes `text` to the tool's stdin.
    pub async fn write(&mut self, text: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        if let Err(e) = stdin.write_all(text).await {
            self.fail(&format!("cannot write to its stdin: {e}")).await;
        }
        let _ = self.stdin.as_mut().unwrap().flush().await;
    }

    /// Closes the tool's stdin (the end of its input).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the tool to exit (closing its stdin first); returns the status.
    pub async fn wait(&mut self) -> ExitStatus {
        self.close_stdin();
        match tokio::time::timeout(WAIT, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => self.fail(&format!("waiting for it failed: {e}")).await,
            Err(_) => self.fail(&format!("did not exit within {WAIT:?}")).await,
        }
    }

    /// Waits for the exit and checks its code; returns the rest of stderr.
    pub async fn expect_exit(&mut self, code: i32) -> String {
        let status = self.wait().await;
        let rest = self.stderr_rest().await;
        if status.code() != Some(code) {
            self.fail(&format!("exited with {status}, expected code {code}"))
                .await;
        }
        rest
    }

    /// The stdout lines not read yet, up to the end (after the exit).
    pub async fn stdout_rest(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        while let Ok(Some(line)) = tokio::time::timeout(WAIT, self.stdout.recv()).await {
            v.push(line);
        }
        v
    }

    /// The stderr lines not read yet, up to the end (after the exit), joined.
    pub async fn stderr_rest(&mut self) -> String {
        while let Ok(Some(line)) = tokio::time::timeout(WAIT, self.stderr.recv()).await {
            self.stderr_seen.push(line);
        }
        self.stderr_seen.join("\n")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    pub async fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(2), self.stderr.recv()).await
        {
            self.stderr_seen.push(line);
        }
        panic!(
            "{}: {what}\n  stderr:\n{}",
            self.label,
            self.stderr_seen.join("\n")
        );
    }
}

/// Runs `aiozmq ARGS...` with `input` on stdin to its end; returns (exit code, stdout,
/// stderr).
pub async fn run(args: &[&str], input: &[u8]) -> (Option<i32>, String, String) {
    let mut cli = Cli::spawn(args);
    if !input.is_empty() {
        cli.write(input).await;
    }
    let status = cli.wait().await;
    let out = cli.stdout_rest().await.join("\n");
    let err = cli.stderr_rest().await;
    (status.code(), out, err)
}
