//! A Jupyter kernel on this crate's sockets, with no C compiler involved: the Jupyter
//! messaging protocol 5.3 over ZMTP, the way a notebook, JupyterLab or `jupyter console`
//! talk to a kernel. It is an *echo* kernel: the code of a cell comes back as its output.
//!
//! ```text
//! jupyter_kernel -f CONNECTION_FILE    serve the kernel described by a connection file
//! jupyter_kernel --kernelspec DIR      write DIR/kernel.json, a kernelspec naming this binary
//! ```
//!
//! Install it for Jupyter with
//! `cargo build --release --example jupyter_kernel`,
//! `target/release/examples/jupyter_kernel --kernelspec aiozmq_echo`,
//! `jupyter kernelspec install --user aiozmq_echo`.
//!
//! The sockets: shell and control are ROUTERs (control has its own task, so an interrupt or
//! a shutdown never waits behind queued executions), iopub is a PUB, stdin a ROUTER and the
//! heartbeat a REP that echoes every ping. Every message received is checked against the
//! HMAC-SHA256 signature made with the connection file's `key` (an empty key turns signing
//! off, both ways); a message with a bad signature, a missing `<IDS|MSG>` delimiter or
//! unparsable JSON is logged on stderr and dropped.
//!
//! Requests on shell or control: `kernel_info`, `execute`, `is_complete`, `comm_info`,
//! `complete`, `inspect`, `history`, `interrupt` and `shutdown`; each is framed by a
//! `status: busy` and a `status: idle` on iopub, whose messages carry the request's header
//! as their parent. A `comm_open` is answered with a `comm_close` (this kernel has no comm
//! targets); every other message type is logged and ignored, as real kernels do.
//!
//! - `execute`: unless `silent`, iopub gets `execute_input`, then the code as a `stdout`
//!   `stream` and as the `text/plain` of an `execute_result` (code that is only whitespace
//!   has no output). The execution counter counts the requests that store history
//!   (`store_history`, default true, forced false by `silent`); the others report its
//!   current value. Each `user_expressions` entry comes back as its own text.
//! - `is_complete`, a rule that knows no language: `invalid` when a closing bracket
//!   (`)`, `]`, `}`) does not close the innermost open one; `incomplete` while a bracket is
//!   open (indent: four spaces per open bracket) or when the last line ends with a
//!   backslash (indent: none); `complete` otherwise. Brackets count wherever they are,
//!   quotes included.
//! - `shutdown`: replies with the request's `restart` flag, then closes the sockets (each
//!   flushing what it holds for at most a second) and exits with status 0. A restart is the
//!   client's business: it starts a new process.
//! - `interrupt` (protocol 5.3, control channel; the kernelspec asks for it with
//!   `interrupt_mode: message`): nothing ever runs long here, so it only replies. SIGINT is
//!   taken as an interrupt too, rather than ending the process.
//!
//! Started by `jupyter_client` (which sets `JPY_PARENT_PID`), the kernel shuts down by
//! itself when the process that started it is gone (Unix), as IPython's kernel does, so
//! that a crashed frontend leaves no kernel behind.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aiozmq::{Message, Socket, SocketType};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

/// The messaging protocol version in every header and in `kernel_info_reply`.
const PROTOCOL_VERSION: &str = "5.3";
/// Separates the routing identities from the message proper.
const DELIMITER: &[u8] = b"<IDS|MSG>";
/// How long closing a socket at shutdown may spend flushing what it holds.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

macro_rules! log {
    ($($arg:tt)*) => { eprintln!("jupyter_kernel: {}", format_args!($($arg)*)) };
}

/// The fields of a connection file this kernel uses (the file may hold more).
#[derive(Debug, Deserialize)]
struct ConnectionInfo {
    #[serde(default = "default_transport")]
    transport: String,
    #[serde(default = "default_ip")]
    ip: String,
    shell_port: u16,
    iopub_port: u16,
    stdin_port: u16,
    control_port: u16,
    hb_port: u16,
    #[serde(default)]
    key: String,
    #[serde(default = "default_scheme")]
    signature_scheme: String,
}

fn default_transport() -> String {
    "tcp".into()
}

fn default_ip() -> String {
    "127.0.0.1".into()
}

fn default_scheme() -> String {
    "hmac-sha256".into()
}

impl ConnectionInfo {
    /// The endpoint of one channel: `tcp://IP:PORT`, or Jupyter's `ipc://IP-PORT`, where `ip`
    /// is a path prefix.
    fn endpoint(&self, port: u16) -> Result<String, String> {
        match self.transport.as_str() {
            "tcp" if self.ip.contains(':') => Ok(format!("tcp://[{}]:{port}", self.ip)),
            "tcp" => Ok(format!("tcp://{}:{port}", self.ip)),
            "ipc" => Ok(format!("ipc://{}-{port}", self.ip)),
            other => Err(format!("unsupported transport {other:?} (tcp or ipc)")),
        }
    }
}

/// Signs and checks messages: HMAC-SHA256 over the four serialized dicts, in hex.
struct Signer(Option<Hmac<Sha256>>);

impl Signer {
    /// No signing for an empty key (the protocol's way to turn authentication off).
    fn new(key: &str, scheme: &str) -> Result<Signer, String> {
        if key.is_empty() {
            return Ok(Signer(None));
        }
        if scheme != "hmac-sha256" {
            return Err(format!(
                "unsupported signature_scheme {scheme:?} (this kernel knows hmac-sha256)"
            ));
        }
        Hmac::<Sha256>::new_from_slice(key.as_bytes())
            .map(|mac| Signer(Some(mac)))
            .map_err(|e| format!("bad key: {e}"))
    }

    fn mac(&self, parts: &[&[u8]; 4]) -> Option<Hmac<Sha256>> {
        let mut mac = self.0.clone()?;
        for part in parts {
            mac.update(part);
        }
        Some(mac)
    }

    /// The signature frame: lower-case hex, or empty without a key.
    fn sign(&self, parts: &[&[u8]; 4]) -> String {
        match self.mac(parts) {
            Some(mac) => hex(&mac.finalize().into_bytes()),
            None => String::new(),
        }
    }

    /// Whether `signature` is the one `parts` must carry; always true without a key. The
    /// comparison takes the same time wherever the first difference is (`verify_slice`), so
    /// timing tells a forger nothing about the right signature.
    fn verify(&self, signature: &[u8], parts: &[&[u8]; 4]) -> bool {
        match self.mac(parts) {
            None => true,
            Some(mac) => match unhex(signature) {
                Some(bytes) => mac.verify_slice(&bytes).is_ok(),
                None => false,
            },
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks_exact(2)
        .map(|p| Some((nibble(p[0])? << 4) | nibble(p[1])?))
        .collect()
}

/// A random version-4 UUID in its usual text form.
fn uuid4() -> String {
    let mut b = [0u8; 16];
    if let Err(e) = getrandom::getrandom(&mut b) {
        // Ids need only be unique, not secret: fall back on the clock and a counter.
        static FALLBACK: AtomicU64 = AtomicU64::new(0);
        log!("no system randomness ({e}); ids from the clock");
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b.copy_from_slice(
            &(nanos ^ (FALLBACK.fetch_add(1, Ordering::Relaxed) as u128)).to_le_bytes(),
        );
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The current time as ISO 8601 with microseconds, in UTC.
fn now_iso8601() -> String {
    chrono::DateTime::<chrono::Utc>::from(SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A message received and authenticated.
struct Request {
    /// The routing identities before the delimiter, to address the reply.
    ids: Vec<Bytes>,
    header: Value,
    content: Value,
}

impl Request {
    fn msg_type(&self) -> &str {
        self.header["msg_type"].as_str().unwrap_or("")
    }
}

/// Splits a received message into its parts, checks the signature over the exact bytes
/// received, then parses the JSON. Any failure is the reason to drop it.
fn parse(msg: Message, signer: &Signer) -> Result<Request, String> {
    let frames = msg.into_vec();
    let at = frames
        .iter()
        .position(|f| f.as_ref() == DELIMITER)
        .ok_or("no <IDS|MSG> delimiter")?;
    let (ids, rest) = frames.split_at(at);
    // rest: delimiter, signature, header, parent_header, metadata, content, buffers...
    if rest.len() < 6 {
        return Err(format!(
            "{} frames after the delimiter, at least 5 expected",
            rest.len() - 1
        ));
    }
    let parts: [&[u8]; 4] = [&rest[2], &rest[3], &rest[4], &rest[5]];
    if !signer.verify(&rest[1], &parts) {
        return Err("bad signature".into());
    }
    let dict = |i: usize, what: &str| -> Result<Value, String> {
        match serde_json::from_slice::<Value>(parts[i]) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(_) => Err(format!("the {what} is not a JSON object")),
            Err(e) => Err(format!("the {what} is not JSON: {e}")),
        }
    };
    let header = dict(0, "header")?;
    let content = dict(3, "content")?;
    if !header["msg_type"].is_string() {
        return Err("the header has no msg_type".into());
    }
    Ok(Request {
        ids: ids.to_vec(),
        header,
        content,
    })
}

/// Which ROUTER a request came in on (for the log).
#[derive(Clone, Copy, Debug)]
enum Channel {
    Shell,
    Control,
}

/// The kernel's state shared by the channel tasks.
struct Kernel {
    signer: Signer,
    session: String,
    iopub: Socket,
    /// The counter of executions that store history (`In [n]`).
    execution_count: AtomicU64,
    /// Cancelled by a shutdown request.
    stop: CancellationToken,
}

impl Kernel {
    /// A complete message: `ids`, the delimiter, the signature and the four dicts.
    fn frames(&self, ids: &[Bytes], msg_type: &str, parent: &Value, content: Value) -> Message {
        let header = json!({
            "msg_id": uuid4(),
            "session": self.session,
            "username": "kernel",
            "date": now_iso8601(),
            "msg_type": msg_type,
            "version": PROTOCOL_VERSION,
        });
        let header = header.to_string().into_bytes();
        let parent = parent.to_string().into_bytes();
        let metadata = b"{}".to_vec();
        let content = content.to_string().into_bytes();
        let signature = self.signer.sign(&[&header, &parent, &metadata, &content]);
        let mut msg = Message::with_capacity(ids.len() + 6);
        for id in ids {
            msg.push_back(id.clone());
        }
        msg.push_back(Bytes::from_static(DELIMITER));
        msg.push_back(signature.into_bytes());
        msg.push_back(header);
        msg.push_back(parent);
        msg.push_back(metadata);
        msg.push_back(content);
        msg
    }

    /// Publishes on iopub; the topic is `kernel.SESSION.MSG_TYPE`, as IPython's kernel does.
    async fn publish(&self, msg_type: &str, parent: &Value, content: Value) {
        let topic = Bytes::from(format!("kernel.{}.{msg_type}", self.session));
        let msg = self.frames(&[topic], msg_type, parent, content);
        if let Err(e) = self.iopub.send(msg).await {
            log!("iopub: cannot publish {msg_type}: {e}");
        }
    }

    async fn status(&self, parent: &Value, state: &str) {
        self.publish("status", parent, json!({ "execution_state": state }))
            .await;
    }

    async fn reply(&self, socket: &Socket, req: &Request, msg_type: &str, content: Value) {
        let msg = self.frames(&req.ids, msg_type, &req.header, content);
        if let Err(e) = socket.send(msg).await {
            log!("cannot send {msg_type}: {e}");
        }
    }

    /// Serves one ROUTER channel until the kernel stops.
    async fn serve(self: Arc<Self>, socket: Arc<Socket>, channel: Channel) {
        loop {
            let received = tokio::select! {
                _ = self.stop.cancelled() => return,
                r = socket.recv() => r,
            };
            let msg = match received {
                Ok(msg) => msg,
                Err(e) => {
                    log!("{channel:?}: receive failed, channel closed: {e}");
                    return;
                }
            };
            match parse(msg, &self.signer) {
                Ok(req) => self.handle(&socket, channel, req).await,
                Err(why) => log!("{channel:?}: dropped a message: {why}"),
            }
        }
    }

    /// One request, framed by busy and idle on iopub.
    async fn handle(&self, socket: &Socket, channel: Channel, req: Request) {
        let parent = &req.header;
        self.status(parent, "busy").await;
        let mut shutdown = false;
        match req.msg_type() {
            "kernel_info_request" => {
                self.reply(socket, &req, "kernel_info_reply", kernel_info())
                    .await
            }
            "execute_request" => self.execute(socket, &req).await,
            "is_complete_request" => {
                let code = req.content["code"].as_str().unwrap_or("");
                let content = match is_complete(code) {
                    (status, Some(indent)) => json!({ "status": status, "indent": indent }),
                    (status, None) => json!({ "status": status }),
                };
                self.reply(socket, &req, "is_complete_reply", content).await
            }
            "comm_info_request" => {
                let content = json!({ "status": "ok", "comms": {} });
                self.reply(socket, &req, "comm_info_reply", content).await
            }
            "complete_request" => {
                let cursor = req.content["cursor_pos"].as_u64().unwrap_or(0);
                let content = json!({
                    "status": "ok", "matches": [], "cursor_start": cursor,
                    "cursor_end": cursor, "metadata": {},
                });
                self.reply(socket, &req, "complete_reply", content).await
            }
            "inspect_request" => {
                let content = json!({ "status": "ok", "found": false, "data": {}, "metadata": {} });
                self.reply(socket, &req, "inspect_reply", content).await
            }
            "history_request" => {
                let content = json!({ "status": "ok", "history": [] });
                self.reply(socket, &req, "history_reply", content).await
            }
            "interrupt_request" => {
                log!("{channel:?}: interrupt (nothing is running)");
                self.reply(socket, &req, "interrupt_reply", json!({ "status": "ok" }))
                    .await
            }
            "shutdown_request" => {
                let restart = req.content["restart"].as_bool().unwrap_or(false);
                log!("{channel:?}: shutdown (restart: {restart})");
                let content = json!({ "status": "ok", "restart": restart });
                self.reply(socket, &req, "shutdown_reply", content).await;
                shutdown = true;
            }
            "comm_open" => {
                // No comm targets here: the spec's answer to an unknown target is a close.
                let comm_id = req.content["comm_id"].clone();
                self.publish(
                    "comm_close",
                    parent,
                    json!({ "comm_id": comm_id, "data": {} }),
                )
                .await
            }
            "comm_msg" | "comm_close" => {}
            other => log!("{channel:?}: ignored a message of unknown type {other:?}"),
        }
        self.status(parent, "idle").await;
        if shutdown {
            self.stop.cancel();
        }
    }

    async fn execute(&self, socket: &Socket, req: &Request) {
        let content = &req.content;
        let code = content["code"].as_str().unwrap_or("");
        let silent = content["silent"].as_bool().unwrap_or(false);
        let store_history = !silent && content["store_history"].as_bool().unwrap_or(true);
        let count = if store_history {
            self.execution_count.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.execution_count.load(Ordering::SeqCst)
        };
        let parent = &req.header;
        if !silent {
            let input = json!({ "code": code, "execution_count": count });
            self.publish("execute_input", parent, input).await;
            if !code.trim().is_empty() {
                let stream = json!({ "name": "stdout", "text": code });
                self.publish("stream", parent, stream).await;
                let result = json!({
                    "execution_count": count,
                    "data": { "text/plain": code },
                    "metadata": {},
                });
                self.publish("execute_result", parent, result).await;
            }
        }
        let mut expressions = Map::new();
        if let Some(asked) = content["user_expressions"].as_object() {
            for (name, expr) in asked {
                let value = match expr.as_str() {
                    Some(text) => json!({
                        "status": "ok", "data": { "text/plain": text }, "metadata": {},
                    }),
                    None => json!({
                        "status": "error", "ename": "TypeError",
                        "evalue": "an expression must be a string", "traceback": [],
                    }),
                };
                expressions.insert(name.clone(), value);
            }
        }
        let reply = json!({
            "status": "ok",
            "execution_count": count,
            "payload": [],
            "user_expressions": expressions,
        });
        self.reply(socket, req, "execute_reply", reply).await;
    }
}

/// The `kernel_info_reply` content.
fn kernel_info() -> Value {
    json!({
        "status": "ok",
        "protocol_version": PROTOCOL_VERSION,
        "implementation": "aiozmq-echo",
        "implementation_version": aiozmq::VERSION,
        "language_info": {
            "name": "text",
            "version": "1.0",
            "mimetype": "text/plain",
            "file_extension": ".txt",
        },
        "banner": format!(
            "Echo kernel on aiozmq {} (pure-Rust ZeroMQ): every cell's code is its output.",
            aiozmq::VERSION
        ),
        "help_links": [],
    })
}

/// The `is_complete` rule (see the module documentation): the status, and the indent hint
/// for `incomplete`.
fn is_complete(code: &str) -> (&'static str, Option<String>) {
    let mut open = Vec::new();
    for c in code.chars() {
        let opener = match c {
            '(' | '[' | '{' => {
                open.push(c);
                continue;
            }
            ')' => '(',
            ']' => '[',
            '}' => '{',
            _ => continue,
        };
        if open.pop() != Some(opener) {
            return ("invalid", None);
        }
    }
    if !open.is_empty() {
        return ("incomplete", Some("    ".repeat(open.len())));
    }
    if code.trim_end_matches(['\n', '\r']).ends_with('\\') {
        return ("incomplete", Some(String::new()));
    }
    ("complete", None)
}

/// Echoes heartbeat pings until the kernel stops.
async fn heartbeat(socket: Arc<Socket>, stop: CancellationToken) {
    loop {
        let ping = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv() => r,
        };
        let sent = match ping {
            Ok(ping) => socket.send(ping).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            log!("heartbeat: channel closed: {e}");
            return;
        }
    }
}

/// Reads the stdin channel: this kernel never asks for input, so whatever comes is checked
/// like any message, logged and dropped.
async fn stdin_channel(socket: Arc<Socket>, kernel: Arc<Kernel>) {
    loop {
        let received = tokio::select! {
            _ = kernel.stop.cancelled() => return,
            r = socket.recv() => r,
        };
        match received {
            Ok(msg) => match parse(msg, &kernel.signer) {
                Ok(req) => log!("stdin: ignored an unrequested {:?}", req.msg_type()),
                Err(why) => log!("stdin: dropped a message: {why}"),
            },
            Err(e) => {
                log!("stdin: channel closed: {e}");
                return;
            }
        }
    }
}

/// When started by `jupyter_client` (`JPY_PARENT_PID` set), stops the kernel once its
/// parent process is gone: the kernel is then re-parented, so its parent id changes.
#[cfg(unix)]
fn watch_parent(stop: CancellationToken) {
    if std::env::var_os("JPY_PARENT_PID").is_none() {
        return;
    }
    let parent = std::os::unix::process::parent_id();
    tokio::spawn(async move {
        // There is no event for a parent's exit short of platform calls: look once a second.
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if std::os::unix::process::parent_id() != parent {
                log!("the parent process {parent} is gone: shutting down");
                stop.cancel();
                return;
            }
        }
    });
}

async fn bind(kind: SocketType, info: &ConnectionInfo, port: u16) -> Result<Arc<Socket>, String> {
    let socket = Socket::new(kind);
    socket
        .set_linger(CLOSE_LINGER)
        .map_err(|e| format!("LINGER: {e}"))?;
    let endpoint = info.endpoint(port)?;
    socket
        .bind(&endpoint)
        .await
        .map_err(|e| format!("cannot bind {kind:?} to {endpoint}: {e}"))?;
    Ok(Arc::new(socket))
}

/// Runs the kernel of a connection file until a shutdown request.
async fn run(connection_file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(connection_file)
        .map_err(|e| format!("cannot read {}: {e}", connection_file.display()))?;
    let info: ConnectionInfo = serde_json::from_str(&text)
        .map_err(|e| format!("bad connection file {}: {e}", connection_file.display()))?;
    let signer = Signer::new(&info.key, &info.signature_scheme)?;

    let shell = bind(SocketType::Router, &info, info.shell_port).await?;
    let control = bind(SocketType::Router, &info, info.control_port).await?;
    let stdin = bind(SocketType::Router, &info, info.stdin_port).await?;
    let hb = bind(SocketType::Rep, &info, info.hb_port).await?;
    let iopub = Socket::new(SocketType::Pub);
    iopub
        .set_linger(CLOSE_LINGER)
        .map_err(|e| format!("LINGER: {e}"))?;
    let endpoint = info.endpoint(info.iopub_port)?;
    iopub
        .bind(&endpoint)
        .await
        .map_err(|e| format!("cannot bind PUB to {endpoint}: {e}"))?;

    let kernel = Arc::new(Kernel {
        signer,
        session: uuid4(),
        iopub,
        execution_count: AtomicU64::new(0),
        stop: CancellationToken::new(),
    });
    log!(
        "serving {} (shell {}, signing {})",
        connection_file.display(),
        info.endpoint(info.shell_port)?,
        if info.key.is_empty() { "off" } else { "on" }
    );
    // Once at start-up, as the spec asks (a frontend not yet subscribed misses it).
    kernel.status(&json!({}), "starting").await;

    let tasks = [
        tokio::spawn(kernel.clone().serve(shell.clone(), Channel::Shell)),
        tokio::spawn(kernel.clone().serve(control.clone(), Channel::Control)),
        tokio::spawn(stdin_channel(stdin.clone(), kernel.clone())),
        tokio::spawn(heartbeat(hb.clone(), kernel.stop.clone())),
    ];
    let stop = kernel.stop.clone();
    tokio::spawn(async move {
        // SIGINT is how Jupyter interrupts kernels whose spec asks for signals: take it as
        // an interrupt (nothing to stop here) instead of dying.
        while tokio::signal::ctrl_c().await.is_ok() && !stop.is_cancelled() {
            log!("SIGINT: interrupt (nothing is running)");
        }
    });

    #[cfg(unix)]
    watch_parent(kernel.stop.clone());

    kernel.stop.cancelled().await;
    for task in tasks {
        let _ = task.await;
    }
    // The shutdown reply and the last idle status are queued: close flushes them.
    tokio::join!(
        shell.close(),
        control.close(),
        stdin.close(),
        hb.close(),
        kernel.iopub.close()
    );
    log!("shut down");
    Ok(())
}

/// Writes `dir/kernel.json`: a kernelspec that starts this binary.
fn write_kernelspec(dir: &Path) -> Result<PathBuf, String> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| format!("cannot find this program's path: {e}"))?;
    let exe = exe
        .to_str()
        .ok_or_else(|| format!("this program's path is not UTF-8: {}", exe.display()))?;
    let spec = json!({
        "argv": [exe, "-f", "{connection_file}"],
        "display_name": "Echo (aiozmq)",
        "language": "text",
        "interrupt_mode": "message",
        "metadata": {},
    });
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("kernel.json");
    let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n")
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

const USAGE: &str = "usage: jupyter_kernel -f CONNECTION_FILE | --kernelspec DIR";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = match args.as_slice() {
        ["-f", file] => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    log!("cannot start the runtime: {e}");
                    std::process::exit(1);
                }
            };
            runtime.block_on(run(Path::new(file)))
        }
        ["--kernelspec", dir] => write_kernelspec(Path::new(dir)).map(|path| {
            println!("wrote {}", path.display());
        }),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = outcome {
        log!("{e}");
        std::process::exit(1);
    }
}
