//! PLAIN and CURVE against libzmq (pyzmq, `interop/security/sec_peer.py`).
//!
//! The matrix: mechanism (CURVE, PLAIN) × socket pair (REQ/REP, DEALER/ROUTER, PUB/SUB) ×
//! transport (tcp, ipc) × which side is the security server (ours or libzmq's; the server
//! binds, the client connects). Every case moves multipart messages both ways where the
//! pair allows it, checks what the server's ZAP handler was given, and the CURVE REQ/REP
//! cases also move a message larger than 1 MB each way.
//!
//! Then the refusals — a wrong server key, a CURVE client key not on the allow list, a
//! wrong PLAIN password — each in both directions: the monitor events on both sides, and
//! no message delivered.
//!
//! The Python environment comes from `tests/support/python.rs`: when it cannot be built,
//! these tests fail (they are never skipped).

mod support;

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiozmq::security::zap::{Authenticator, ZapHandler, ZapReply, ZapRequest};
use aiozmq::zmtp::Mechanism;
use aiozmq::{EventKind, Message, Monitor, MonitorEvent, Socket, SocketType};
use support::python::{from_hex, venv_python};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/security/sec_peer.py");

/// How long the peer may take to print an expected line (its own waits give up after
/// 10 s, so a healthy peer always prints or exits well before this).
const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one of our socket operations or monitor waits may take.
const T: Duration = Duration::from_secs(10);
/// The large message: over 1 MB.
const LARGE: usize = 1_100_000;
/// PLAIN credentials.
const USER: &str = "admin";
const PASSWORD: &str = "s3cret";

/// A running `sec_peer.py`, driven line by line over stdin. Killed when dropped.
struct SecPeer {
    label: String,
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Option<JoinHandle<String>>,
}

impl SecPeer {
    /// Starts the peer and waits for `READY ENDPOINT...`; returns the endpoints.
    async fn start(args: &[String]) -> (SecPeer, Vec<String>) {
        let label = format!("sec_peer.py {}", args.join(" "));
        let mut child = Command::new(venv_python())
            .arg("-u")
            .arg(SCRIPT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        });
        let mut peer = SecPeer {
            label,
            child,
            stdin,
            stdout,
            stderr: Some(stderr),
        };
        let line = peer.line().await;
        let Some(rest) = line.strip_prefix("READY") else {
            peer.fail(format!("expected READY, got {line:.200}")).await
        };
        let eps = rest.split_whitespace().map(str::to_owned).collect();
        (peer, eps)
    }

    async fn cmd(&mut self, line: &str) {
        let r = tokio::time::timeout(T, async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.write_all(b"\n").await?;
            self.stdin.flush().await
        })
        .await;
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(format!("writing {line:?} failed: {e}")).await,
            Err(_) => self.fail(format!("writing {line:?} timed out")).await,
        }
    }

    async fn line(&mut self) -> String {
        match self.line_within(LINE_TIMEOUT).await {
            Some(l) => l,
            None => {
                self.fail(format!("printed nothing for {LINE_TIMEOUT:?}"))
                    .await
            }
        }
    }

    /// The next line, or `None` when none came within `limit` (cancel-safe: a line that
    /// arrives later is not lost).
    async fn line_within(&mut self, limit: Duration) -> Option<String> {
        match tokio::time::timeout(limit, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Some(line),
            Ok(Ok(None)) => {
                self.fail("exited before printing the expected line".into())
                    .await
            }
            Ok(Err(e)) => self.fail(format!("reading its stdout failed: {e}")).await,
            Err(_) => None,
        }
    }

    async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        if got != want {
            self.fail(format!("expected {want:?}, got {got:.300}"))
                .await;
        }
    }

    /// The next message the peer printed, each frame as [`repr`] shows it.
    async fn message(&mut self) -> Vec<String> {
        let line = self.line().await;
        let list = line
            .strip_prefix("{\"frames\": [")
            .and_then(|r| r.strip_suffix("]}"));
        let Some(list) = list else {
            self.fail(format!("expected a message, got {line:.300}"))
                .await
        };
        if list.is_empty() {
            return Vec::new();
        }
        list.split(", ")
            .map(|f| f.trim_matches('"').to_owned())
            .collect()
    }

    /// Waits for a libzmq monitor event named in `names` (comma-separated); returns its
    /// name and value.
    async fn event(&mut self, names: &str) -> (String, u32) {
        self.cmd(&format!("event {names}")).await;
        let line = self.line().await;
        let parsed = line.strip_prefix("EVENT ").and_then(|r| {
            let (n, v) = r.split_once(' ')?;
            Some((n.to_owned(), v.parse().ok()?))
        });
        match parsed {
            Some((n, v)) if names.split(',').any(|x| x == n) => (n, v),
            _ => {
                self.fail(format!("expected EVENT {names} N, got {line:.300}"))
                    .await
            }
        }
    }

    /// The ZAP requests the peer's handler saw: mechanism and credentials.
    async fn zap_log(&mut self) -> Vec<(String, Vec<Vec<u8>>)> {
        self.cmd("zap").await;
        let mut v = Vec::new();
        loop {
            let line = self.line().await;
            if line == "ZAPEND" {
                return v;
            }
            let mut words = line.split(' ');
            if words.next() != Some("ZAP") {
                self.fail(format!("expected a ZAP line, got {line:.300}"))
                    .await;
            }
            let mech = words.next().unwrap_or_default().to_owned();
            let creds = words.map(|w| from_hex(w).expect("hex")).collect();
            v.push((mech, creds));
        }
    }

    /// Asserts that no message is waiting on the peer's socket.
    async fn expect_no_message(&mut self) {
        self.cmd("none").await;
        self.expect("NONE").await;
    }

    /// Ends the peer: `BYE` and exit status 0.
    async fn quit(mut self) {
        self.cmd("quit").await;
        self.expect("BYE").await;
        match tokio::time::timeout(LINE_TIMEOUT, self.child.wait()).await {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => self.fail(format!("exited with {s}")).await,
            Ok(Err(e)) => self.fail(format!("waiting for it failed: {e}")).await,
            Err(_) => self.fail("did not exit".into()).await,
        }
    }

    async fn fail(&mut self, what: String) -> ! {
        if matches!(self.child.try_wait(), Ok(None))
            && tokio::time::timeout(Duration::from_secs(2), self.child.wait())
                .await
                .is_err()
        {
            let _ = self.child.kill().await;
        }
        let stderr = match self.stderr.take() {
            Some(t) => match tokio::time::timeout(Duration::from_secs(5), t).await {
                Ok(Ok(s)) => s,
                _ => "(stderr unavailable)".into(),
            },
            None => "(stderr already taken)".into(),
        };
        panic!("{}: {what}\n  stderr:\n{stderr}", self.label);
    }
}

/// A frame as the peer prints it: `size:N` for a long frame of the size pattern, else hex.
fn repr(f: &[u8]) -> String {
    if f.len() > 4096 && f == &support::pattern(f.len())[..] {
        format!("size:{}", f.len())
    } else {
        f.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn reprs(m: &Message) -> Vec<String> {
    m.iter().map(|f| repr(f)).collect()
}

fn hex(s: &str) -> String {
    repr(s.as_bytes())
}

async fn recv(s: &Socket, what: &str) -> Message {
    support::recv(s, what).await
}

async fn send(s: &Socket, m: impl Into<Message>, what: &str) {
    support::send(s, m, what).await
}

async fn wait_event(mon: &mut Monitor, kind: EventKind, what: &str) -> MonitorEvent {
    wait_any_event(mon, &[kind], what).await
}

/// The first event of one of `kinds`.
async fn wait_any_event(mon: &mut Monitor, kinds: &[EventKind], what: &str) -> MonitorEvent {
    let mut seen = Vec::new();
    let r = tokio::time::timeout(T, async {
        loop {
            match mon.recv().await {
                Some(ev) if kinds.contains(&ev.kind) => return Some(ev),
                Some(ev) => seen.push(format!("{:?} {} {:?}", ev.kind, ev.value, ev.reason)),
                None => return None,
            }
        }
    })
    .await;
    match r {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("{what}: monitor ended before {kinds:?}; saw {seen:?}"),
        Err(_) => panic!("{what}: no {kinds:?} event within {T:?}; saw {seen:?}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mech {
    Curve,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pair {
    ReqRep,
    DealerRouter,
    PubSub,
}

impl Pair {
    /// (server type, client type)
    fn types(self) -> (SocketType, SocketType) {
        match self {
            Pair::ReqRep => (SocketType::Rep, SocketType::Req),
            Pair::DealerRouter => (SocketType::Router, SocketType::Dealer),
            Pair::PubSub => (SocketType::Pub, SocketType::Sub),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
}

/// Which side is the security server (and binds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Ours,
    Libzmq,
}

/// A fresh ipc endpoint in the temporary directory.
fn ipc_endpoint() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "aiozmq-sec-{}-{}.ipc",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    format!("ipc://{}", path.display())
}

fn bind_endpoint(t: Transport, ours: bool) -> String {
    match (t, ours) {
        (Transport::Tcp, true) => "tcp://127.0.0.1:*".into(),
        (Transport::Tcp, false) => "tcp://127.0.0.1:0".into(),
        (Transport::Ipc, _) => ipc_endpoint(),
    }
}

/// Long-term keys of one test, as Z85.
struct Keys {
    server_public: String,
    server_secret: String,
    client_public: String,
    client_secret: String,
}

impl Keys {
    fn new() -> Keys {
        let (server_public, server_secret) = aiozmq::curve_keypair();
        let (client_public, client_secret) = aiozmq::curve_keypair();
        Keys {
            server_public,
            server_secret,
            client_public,
            client_secret,
        }
    }
}

fn raw_key(z85: &str) -> Vec<u8> {
    aiozmq::zmtp::z85::decode(z85).expect("Z85 key")
}

/// How a client authenticates in a test.
#[derive(Clone)]
enum ClientCreds {
    Curve { server_key: String },
    Plain { password: String },
}

/// What our server's ZAP handler allows.
enum Allow {
    CurveKey(String),
    Password,
}

/// Our server socket with its ZAP handler; the requests the handler saw are recorded.
fn our_server(
    ty: SocketType,
    mech: Mech,
    keys: &Keys,
    allow: Allow,
) -> (Socket, Arc<Mutex<Vec<ZapRequest>>>) {
    let s = Socket::new(ty);
    let auth = match allow {
        Allow::CurveKey(k) => Authenticator::new().allow_curve_key(&k).unwrap(),
        Allow::Password => Authenticator::new().password(USER, PASSWORD),
    };
    match mech {
        Mech::Curve => {
            s.set_curve_server(true).unwrap();
            s.set_curve_secretkey(&keys.server_secret).unwrap();
        }
        Mech::Plain => s.set_plain_server(true).unwrap(),
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    s.set_zap_handler(move |req: &ZapRequest| -> ZapReply {
        seen.lock().unwrap().push(req.clone());
        auth.authenticate(req)
    });
    (s, log)
}

fn our_client(ty: SocketType, keys: &Keys, creds: &ClientCreds) -> Socket {
    let s = Socket::new(ty);
    s.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    match creds {
        ClientCreds::Curve { server_key } => {
            s.set_curve_serverkey(server_key).unwrap();
            s.set_curve_publickey(&keys.client_public).unwrap();
            s.set_curve_secretkey(&keys.client_secret).unwrap();
        }
        ClientCreds::Plain { password } => {
            s.set_plain_username(USER).unwrap();
            s.set_plain_password(password.clone()).unwrap();
        }
    }
    s
}

fn peer_client_args(
    ty: SocketType,
    endpoint: &str,
    keys: &Keys,
    creds: &ClientCreds,
) -> Vec<String> {
    let mut a = vec![ty.as_str().to_owned(), "--connect".into(), endpoint.into()];
    match creds {
        ClientCreds::Curve { server_key } => a.extend([
            "--curve-client".into(),
            server_key.clone(),
            keys.client_public.clone(),
            keys.client_secret.clone(),
        ]),
        ClientCreds::Plain { password } => {
            a.extend(["--plain-client".into(), USER.into(), password.clone()])
        }
    }
    if ty == SocketType::Sub {
        a.extend(["--subscribe".into(), "t".into()]);
    }
    a
}

fn peer_server_args(
    ty: SocketType,
    endpoint: &str,
    mech: Mech,
    keys: &Keys,
    allow: Allow,
) -> Vec<String> {
    let mut a = vec![ty.as_str().to_owned(), "--bind".into(), endpoint.into()];
    match mech {
        Mech::Curve => a.extend(["--curve-server".into(), keys.server_secret.clone()]),
        Mech::Plain => a.push("--plain-server".into()),
    }
    match allow {
        Allow::CurveKey(k) => a.extend(["--allow-curve".into(), k]),
        Allow::Password => a.extend(["--password".into(), format!("{USER}:{PASSWORD}")]),
    }
    a
}

fn creds_for(mech: Mech, keys: &Keys) -> ClientCreds {
    match mech {
        Mech::Curve => ClientCreds::Curve {
            server_key: keys.server_public.clone(),
        },
        Mech::Plain => ClientCreds::Plain {
            password: PASSWORD.into(),
        },
    }
}

fn allow_for(mech: Mech, keys: &Keys) -> Allow {
    match mech {
        Mech::Curve => Allow::CurveKey(keys.client_public.clone()),
        Mech::Plain => Allow::Password,
    }
}

/// The credentials a server's ZAP handler must have been given for our/their client.
fn expected_creds(mech: Mech, keys: &Keys) -> Vec<Vec<u8>> {
    match mech {
        Mech::Curve => vec![raw_key(&keys.client_public)],
        Mech::Plain => vec![USER.as_bytes().to_vec(), PASSWORD.as_bytes().to_vec()],
    }
}

/// One cell of the matrix.
async fn run_case(mech: Mech, pair: Pair, transport: Transport, server: Server) {
    support::record_library_panics();
    let keys = Keys::new();
    let (sty, cty) = pair.types();
    let creds = creds_for(mech, &keys);
    let large = mech == Mech::Curve && pair == Pair::ReqRep;
    match server {
        Server::Ours => {
            let (ours, zap) = our_server(sty, mech, &keys, allow_for(mech, &keys));
            let mut mon = ours.monitor(256);
            let ep = ours
                .bind(&bind_endpoint(transport, true))
                .await
                .expect("bind");
            let (mut py, _) = SecPeer::start(&peer_client_args(cty, &ep, &keys, &creds)).await;
            exchange_ours_server(&ours, &mut py, pair, large).await;
            let ev = wait_event(&mut mon, EventKind::HandshakeSucceeded, "our server").await;
            assert_eq!(ev.value, 0);
            let reqs = zap.lock().unwrap().clone();
            assert_eq!(reqs.len(), 1, "one ZAP request: {reqs:?}");
            let r = &reqs[0];
            let want_mech = match mech {
                Mech::Curve => Mechanism::Curve,
                Mech::Plain => Mechanism::Plain,
            };
            assert_eq!(r.mechanism, want_mech);
            let creds: Vec<Vec<u8>> = r.credentials.iter().map(|c| c.to_vec()).collect();
            assert_eq!(creds, expected_creds(mech, &keys));
            match transport {
                Transport::Tcp => assert_eq!(r.address, "127.0.0.1"),
                Transport::Ipc => assert_eq!(r.address, ""),
            }
            py.quit().await;
            support::close(&ours).await;
        }
        Server::Libzmq => {
            let args = peer_server_args(
                sty,
                &bind_endpoint(transport, false),
                mech,
                &keys,
                allow_for(mech, &keys),
            );
            let (mut py, eps) = SecPeer::start(&args).await;
            let ours = our_client(cty, &keys, &creds);
            if cty == SocketType::Sub {
                ours.subscribe("t").unwrap();
            }
            let mut mon = ours.monitor(256);
            ours.connect(&eps[0]).await.expect("connect");
            exchange_libzmq_server(&ours, &mut py, pair, large).await;
            wait_event(&mut mon, EventKind::HandshakeSucceeded, "our client").await;
            let zap = py.zap_log().await;
            let name = match mech {
                Mech::Curve => "CURVE",
                Mech::Plain => "PLAIN",
            };
            assert_eq!(zap, vec![(name.to_owned(), expected_creds(mech, &keys))]);
            py.quit().await;
            support::close(&ours).await;
        }
    }
    support::assert_no_library_panics();
}

/// Our socket is the server (REP, ROUTER, PUB), libzmq's the client.
async fn exchange_ours_server(ours: &Socket, py: &mut SecPeer, pair: Pair, large: bool) {
    match pair {
        Pair::ReqRep => {
            let rounds: Vec<Vec<String>> = if large {
                vec![
                    vec!["text:req".into(), format!("size:{LARGE}")],
                    vec!["text:a".into(), "empty:".into(), "hex:00ff".into()],
                ]
            } else {
                vec![vec!["text:a".into(), "empty:".into(), "hex:00ff".into()]]
            };
            for specs in rounds {
                py.cmd(&format!("send {}", specs.join(" "))).await;
                let m = recv(ours, "REP request").await;
                let want: Vec<String> = specs.iter().map(|s| spec_repr(s)).collect();
                assert_eq!(reprs(&m), want);
                // The reply: the request back, with a frame added.
                let mut reply = m.clone();
                reply.push_back(bytes::Bytes::from_static(b"reply"));
                send(ours, reply.clone(), "REP reply").await;
                py.cmd("recv").await;
                assert_eq!(py.message().await, reprs(&reply));
            }
        }
        Pair::DealerRouter => {
            py.cmd("send text:x empty: text:y").await;
            let m = recv(ours, "ROUTER").await;
            assert_eq!(m.len(), 4, "routing id + 3 frames: {m:?}");
            assert_eq!(reprs(&m)[1..], [hex("x"), hex(""), hex("y")]);
            let mut back = Message::new();
            back.push_back(m[0].clone());
            back.push_back(bytes::Bytes::from_static(b"r1"));
            back.push_back(bytes::Bytes::from_static(b"r2"));
            send(ours, back, "ROUTER reply").await;
            py.cmd("recv").await;
            assert_eq!(py.message().await, [hex("r1"), hex("r2")]);
        }
        Pair::PubSub => {
            // Publish the marker until the subscriber has seen it (its subscription to
            // "t" has reached us then), so nothing below is lost to the slow joiner.
            py.cmd("sync tsync").await;
            let deadline = tokio::time::Instant::now() + T;
            loop {
                send(ours, "tsync", "PUB sync").await;
                match py.line_within(Duration::from_millis(20)).await {
                    Some(l) if l == "SYNCED" => break,
                    Some(l) => panic!("expected SYNCED, got {l:.300}"),
                    None => assert!(
                        tokio::time::Instant::now() < deadline,
                        "the libzmq SUB never received the sync marker"
                    ),
                }
            }
            // Not subscribed: filtered out by our PUB.
            send(ours, "u-skip", "PUB").await;
            send(ours, ["t1", "a", "b"], "PUB").await;
            send(ours, "t2", "PUB").await;
            py.cmd("recv").await;
            assert_eq!(py.message().await, [hex("t1"), hex("a"), hex("b")]);
            py.cmd("recv").await;
            assert_eq!(py.message().await, [hex("t2")]);
            py.expect_no_message().await;
        }
    }
}

/// libzmq's socket is the server, ours the client (REQ, DEALER, SUB).
async fn exchange_libzmq_server(ours: &Socket, py: &mut SecPeer, pair: Pair, large: bool) {
    match pair {
        Pair::ReqRep => {
            let mut rounds = vec![support::msg(&[b"a", b"", b"\x00\xff"])];
            if large {
                rounds.insert(
                    0,
                    Message::from(vec![
                        bytes::Bytes::from_static(b"req"),
                        support::pattern(LARGE).into(),
                    ]),
                );
            }
            for m in rounds {
                send(ours, m.clone(), "REQ").await;
                py.cmd("echo").await;
                assert_eq!(py.message().await, reprs(&m));
                let r = recv(ours, "REQ reply").await;
                assert_eq!(r, m);
            }
        }
        Pair::DealerRouter => {
            send(ours, support::msg(&[b"x", b"", b"y"]), "DEALER").await;
            py.cmd("echo").await;
            let got = py.message().await;
            assert_eq!(got.len(), 4, "routing id + 3 frames: {got:?}");
            assert_eq!(got[1..], [hex("x"), hex(""), hex("y")]);
            let r = recv(ours, "DEALER reply").await;
            assert_eq!(r, support::msg(&[b"x", b"", b"y"]));
        }
        Pair::PubSub => {
            py.cmd("publish tsync").await;
            // Our subscription has reached the publisher once its marker arrives.
            let m = recv(ours, "SUB sync").await;
            assert_eq!(m, Message::from("tsync"));
            py.cmd("stop").await;
            py.expect("STOPPED").await;
            py.cmd("send text:u-skip").await;
            py.cmd("send text:t1 text:a text:b").await;
            py.cmd("send text:t2").await;
            let mut got = Vec::new();
            while got.len() < 2 {
                let m = recv(ours, "SUB").await;
                if m != Message::from("tsync") {
                    got.push(m);
                }
            }
            assert_eq!(got[0], Message::from(["t1", "a", "b"]));
            assert_eq!(got[1], Message::from("t2"));
        }
    }
}

fn spec_repr(spec: &str) -> String {
    let (kind, value) = spec.split_once(':').unwrap();
    match kind {
        "text" => hex(value),
        "hex" => value.to_owned(),
        "empty" => String::new(),
        "size" => repr(&support::pattern(value.parse().unwrap())),
        _ => panic!("bad spec {spec}"),
    }
}

macro_rules! matrix {
    ($($name:ident: $mech:ident $pair:ident $transport:ident $server:ident;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                let _panics = support::check_library_panics();
                run_case(Mech::$mech, Pair::$pair, Transport::$transport, Server::$server).await;
            }
        )*
    };
}

matrix! {
    curve_req_rep_tcp_ours_server: Curve ReqRep Tcp Ours;
    curve_req_rep_tcp_libzmq_server: Curve ReqRep Tcp Libzmq;
    curve_req_rep_ipc_ours_server: Curve ReqRep Ipc Ours;
    curve_req_rep_ipc_libzmq_server: Curve ReqRep Ipc Libzmq;
    curve_dealer_router_tcp_ours_server: Curve DealerRouter Tcp Ours;
    curve_dealer_router_tcp_libzmq_server: Curve DealerRouter Tcp Libzmq;
    curve_dealer_router_ipc_ours_server: Curve DealerRouter Ipc Ours;
    curve_dealer_router_ipc_libzmq_server: Curve DealerRouter Ipc Libzmq;
    curve_pub_sub_tcp_ours_server: Curve PubSub Tcp Ours;
    curve_pub_sub_tcp_libzmq_server: Curve PubSub Tcp Libzmq;
    curve_pub_sub_ipc_ours_server: Curve PubSub Ipc Ours;
    curve_pub_sub_ipc_libzmq_server: Curve PubSub Ipc Libzmq;
    plain_req_rep_tcp_ours_server: Plain ReqRep Tcp Ours;
    plain_req_rep_tcp_libzmq_server: Plain ReqRep Tcp Libzmq;
    plain_req_rep_ipc_ours_server: Plain ReqRep Ipc Ours;
    plain_req_rep_ipc_libzmq_server: Plain ReqRep Ipc Libzmq;
    plain_dealer_router_tcp_ours_server: Plain DealerRouter Tcp Ours;
    plain_dealer_router_tcp_libzmq_server: Plain DealerRouter Tcp Libzmq;
    plain_dealer_router_ipc_ours_server: Plain DealerRouter Ipc Ours;
    plain_dealer_router_ipc_libzmq_server: Plain DealerRouter Ipc Libzmq;
    plain_pub_sub_tcp_ours_server: Plain PubSub Tcp Ours;
    plain_pub_sub_tcp_libzmq_server: Plain PubSub Tcp Libzmq;
    plain_pub_sub_ipc_ours_server: Plain PubSub Ipc Ours;
    plain_pub_sub_ipc_libzmq_server: Plain PubSub Ipc Libzmq;
}

// ---- refusals ---------------------------------------------------------------------

/// What goes wrong in a refusal test.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    WrongServerKey,
    KeyNotAllowed,
    WrongPassword,
}

/// libzmq's ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC.
const ZMTP_CRYPTOGRAPHIC: u32 = 0x1100_0001;
/// libzmq's ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND.
const ZMTP_UNEXPECTED_COMMAND: u32 = 0x1000_0001;

// libzmq 4.3.5 (the one pyzmq ships) writes PLAIN's ERROR command prefix as the C string
// "\x05ERROR", in which "\x05E" is one hex escape (0x5E): its PLAIN server sends the body
// `5E 'RROR' 03 '400'`, and its PLAIN client recognizes only that form. So a refused PLAIN
// handshake between libzmq and an RFC 24 peer is reported as a protocol error instead of
// an authentication failure on the side that receives the ERROR (the refusal itself
// works). Our PLAIN client recognizes that form and reports AUTH 400; a libzmq client
// refused by our (RFC 24) server reports a protocol error, which the tests accept.

fn refusal_setup(r: Refusal, keys: &Keys) -> (Mech, ClientCreds, Allow) {
    let (other, _) = aiozmq::curve_keypair();
    match r {
        Refusal::WrongServerKey => (
            Mech::Curve,
            ClientCreds::Curve { server_key: other },
            Allow::CurveKey(keys.client_public.clone()),
        ),
        Refusal::KeyNotAllowed => (
            Mech::Curve,
            creds_for(Mech::Curve, keys),
            Allow::CurveKey(other),
        ),
        Refusal::WrongPassword => (
            Mech::Plain,
            ClientCreds::Plain {
                password: "wrong".into(),
            },
            Allow::Password,
        ),
    }
}

/// libzmq client, our server: our server reports HANDSHAKE_FAILED_AUTH; the client is
/// refused (with ERROR 400 when ZAP said no) and nothing is delivered.
async fn refused_by_ours(r: Refusal) {
    support::record_library_panics();
    let keys = Keys::new();
    let (mech, creds, allow) = refusal_setup(r, &keys);
    let (ours, zap) = our_server(SocketType::Router, mech, &keys, allow);
    let mut mon = ours.monitor(256);
    let ep = ours.bind("tcp://127.0.0.1:*").await.expect("bind");
    let mut args = peer_client_args(SocketType::Dealer, &ep, &keys, &creds);
    args.extend(["--timeout".into(), "5".into()]);
    let (mut py, _) = SecPeer::start(&args).await;
    // Queued if the connection still exists by then (a refused connection may already
    // be gone): either way it must never be delivered.
    py.cmd("trysend text:secret").await;
    let l = py.line().await;
    assert!(l == "SENT" || l == "AGAIN", "{l}");
    let ev = wait_event(&mut mon, EventKind::HandshakeFailedAuth, "our server").await;
    assert_eq!(ev.value, 400, "{ev:?}");
    match r {
        // The HELLO box does not open: no ZAP request, the connection is just closed
        // (libzmq's CURVE server does the same, without an ERROR command).
        Refusal::WrongServerKey => {
            assert!(zap.lock().unwrap().is_empty());
            let (_, fd) = py.event("DISCONNECTED").await;
            assert!(fd > 0, "DISCONNECTED carries the fd");
        }
        // ZAP said 400: our ERROR 400 reaches libzmq, which reports the status.
        Refusal::KeyNotAllowed => {
            assert_eq!(zap.lock().unwrap().len(), 1);
            assert_eq!(py.event("HANDSHAKE_FAILED_AUTH").await.1, 400);
        }
        Refusal::WrongPassword => {
            assert_eq!(zap.lock().unwrap().len(), 1);
            match py
                .event("HANDSHAKE_FAILED_AUTH,HANDSHAKE_FAILED_PROTOCOL")
                .await
            {
                (n, v) if n == "HANDSHAKE_FAILED_AUTH" => assert_eq!(v, 400),
                // libzmq 4.3.5 does not recognize a well-formed PLAIN ERROR (see above).
                (_, v) => assert_eq!(v, ZMTP_UNEXPECTED_COMMAND),
            }
        }
    }
    assert!(ours.try_recv().is_err(), "no message delivered");
    assert_eq!(ours.counters().messages_in, 0);
    py.quit().await;
    support::close(&ours).await;
    support::assert_no_library_panics();
}

/// Our client, libzmq server.
async fn refused_by_libzmq(r: Refusal) {
    support::record_library_panics();
    let keys = Keys::new();
    let (mech, creds, allow) = refusal_setup(r, &keys);
    let args = peer_server_args(SocketType::Router, "tcp://127.0.0.1:0", mech, &keys, allow);
    let (mut py, eps) = SecPeer::start(&args).await;
    let ours = our_client(SocketType::Dealer, &keys, &creds);
    // The queued message can never go: do not linger for it on close.
    ours.set_linger(Duration::ZERO).unwrap();
    let mut mon = ours.monitor(256);
    ours.connect(&eps[0]).await.expect("connect");
    send(&ours, "secret", "DEALER").await;
    match r {
        // libzmq cannot open our HELLO: it reports a cryptographic protocol error and
        // closes without an ERROR command, so all our client sees is the connection end
        // during the handshake (it cannot tell a wrong key from a crash).
        Refusal::WrongServerKey => {
            assert_eq!(
                py.event("HANDSHAKE_FAILED_PROTOCOL").await.1,
                ZMTP_CRYPTOGRAPHIC
            );
            wait_event(&mut mon, EventKind::HandshakeFailedNoDetail, "our client").await;
            assert!(py.zap_log().await.is_empty());
        }
        Refusal::KeyNotAllowed => {
            assert_eq!(py.event("HANDSHAKE_FAILED_AUTH").await.1, 400);
            let ev = wait_event(&mut mon, EventKind::HandshakeFailedAuth, "our client").await;
            assert_eq!(ev.value, 400, "{ev:?}");
            assert_eq!(py.zap_log().await.len(), 1);
        }
        Refusal::WrongPassword => {
            assert_eq!(py.event("HANDSHAKE_FAILED_AUTH").await.1, 400);
            // libzmq's ERROR comes in its malformed 0x5E form (see above); our PLAIN client
            // recognizes it and reports the ZAP status.
            let ev = wait_event(&mut mon, EventKind::HandshakeFailedAuth, "our client").await;
            assert_eq!(ev.value, 400, "{ev:?}");
            assert_eq!(py.zap_log().await.len(), 1);
        }
    }
    py.expect_no_message().await;
    py.quit().await;
    support::close(&ours).await;
    support::assert_no_library_panics();
}

#[tokio::test]
async fn refused_wrong_server_key_by_ours() {
    let _panics = support::check_library_panics();
    refused_by_ours(Refusal::WrongServerKey).await;
}

#[tokio::test]
async fn refused_wrong_server_key_by_libzmq() {
    let _panics = support::check_library_panics();
    refused_by_libzmq(Refusal::WrongServerKey).await;
}

#[tokio::test]
async fn refused_curve_key_not_allowed_by_ours() {
    let _panics = support::check_library_panics();
    refused_by_ours(Refusal::KeyNotAllowed).await;
}

#[tokio::test]
async fn refused_curve_key_not_allowed_by_libzmq() {
    let _panics = support::check_library_panics();
    refused_by_libzmq(Refusal::KeyNotAllowed).await;
}

#[tokio::test]
async fn refused_wrong_password_by_ours() {
    let _panics = support::check_library_panics();
    refused_by_ours(Refusal::WrongPassword).await;
}

#[tokio::test]
async fn refused_wrong_password_by_libzmq() {
    let _panics = support::check_library_panics();
    refused_by_libzmq(Refusal::WrongPassword).await;
}
