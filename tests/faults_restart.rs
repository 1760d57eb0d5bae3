//! Fault tests: the peer restarts, for every socket type, over TCP and IPC, and under
//! CURVE (TCP).
//!
//! In every case the *bound* side is the one that restarts: it is closed (LINGER 0) and
//! dropped, the connected side sees the connection go (its DISCONNECTED event), and a new
//! socket of the same type binds the same endpoint (TCP: the first socket bound port 0 and
//! the new one rebinds the resolved port, which is ours to reuse since we just released it;
//! IPC: a fresh path per test). The connected side reconnects by itself and traffic
//! resumes. Each case restarts twice.
//!
//! | bound side (restarts) | connected side | what shows traffic resumed |
//! |---|---|---|
//! | REP | REQ | the next request is answered |
//! | REQ | REP | the new REQ's request is answered |
//! | ROUTER | DEALER | DEALER's message arrives under its routing id and is echoed |
//! | DEALER | ROUTER | ROUTER (connecting) sees the same routing id again and replies to it |
//! | PUB | SUB | SUB re-subscribes: messages published after the restart arrive, in order |
//! | SUB | PUB | the new SUB's subscription reaches the connected PUB |
//! | XPUB | XSUB | XSUB's subscription is replayed to the new XPUB (no new send) |
//! | XSUB | XPUB | the new XSUB's subscription reaches XPUB, then messages flow |
//! | PULL | PUSH | messages sent after the restart arrive |
//! | PUSH | PULL | the new PUSH's messages arrive |
//! | PAIR | PAIR | a round trip both ways |
//!
//! And REQ with a request in flight when REP restarts:
//! - strict REQ (the default): as in libzmq, the request is lost with the connection
//!   and REQ stays waiting for its reply: `recv` never completes and `send` fails with
//!   `EFSM`. In libzmq (4.3) nothing resets `req_t::_receiving_reply` when the
//!   connection breaks: with IMMEDIATE=0 the connect side's pipe outlives the connection
//!   (`session_base_t::reconnect` keeps it), so `_reply_pipe` stays set and REQ waits on
//!   it for a reply the restarted REP, never having seen the request, does not send. The
//!   application's way out is libzmq's "lazy pirate": close that REQ and open a new one
//!   (tested too).
//! - REQ_RELAXED + REQ_CORRELATE: the application resends, and the reply to the new
//!   request arrives.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aiozmq::{ErrorKind, EventKind, Monitor, Socket, SocketType};
use support::{
    assert_no_library_panics, close, connect, frames, msg, record_library_panics, recv, send,
    wait_event, within, OP_TIMEOUT,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
    /// TCP with CURVE (the bound side is the CURVE server).
    Curve,
}

#[derive(Clone, Copy, Debug)]
enum Case {
    /// The bound socket (first type) restarts under the connected one (second type).
    Restart(SocketType, SocketType),
    /// REP restarts while a strict REQ waits for its reply.
    ReqInFlightStrict,
    /// REP restarts while a REQ_RELAXED + REQ_CORRELATE REQ waits for its reply.
    ReqInFlightRelaxed,
}

/// A fresh IPC path for each test (this process and a counter).
fn ipc_endpoint() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "aiozmq-faults-restart-{}-{n}.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    format!("ipc://{}", path.display())
}

/// The two sides of one case: how to make the bound (restarting) socket, and the
/// connected socket with a monitor.
struct Rig {
    transport: Transport,
    bound_type: SocketType,
    /// CURVE server key pair (public, secret), Z85.
    server_keys: (String, String),
    endpoint: String,
}

impl Rig {
    fn new(transport: Transport, bound_type: SocketType) -> Rig {
        Rig {
            transport,
            bound_type,
            server_keys: aiozmq::curve_keypair(),
            endpoint: match transport {
                Transport::Tcp | Transport::Curve => "tcp://127.0.0.1:*".into(),
                Transport::Ipc => ipc_endpoint(),
            },
        }
    }

    /// A new bound socket on the rig's endpoint (the first call resolves a TCP port; later
    /// calls rebind exactly that endpoint).
    async fn bind(&mut self) -> Socket {
        let s = Socket::new(self.bound_type);
        s.set_linger(Duration::ZERO).unwrap();
        if self.bound_type == SocketType::Dealer {
            // Before binding: a connection takes the routing id when it is accepted.
            s.set_routing_id("dealer-a").unwrap();
        }
        if self.transport == Transport::Curve {
            s.set_curve_server(true).unwrap();
            s.set_curve_secretkey(&self.server_keys.1).unwrap();
        }
        let resolved = match tokio::time::timeout(OP_TIMEOUT, s.bind(&self.endpoint)).await {
            Ok(Ok(ep)) => ep,
            Ok(Err(e)) => panic!("bind {} failed: {e}", self.endpoint),
            Err(_) => panic!("bind {} did not return", self.endpoint),
        };
        if !self.endpoint.ends_with(":*") {
            assert_eq!(resolved, self.endpoint, "rebound a different endpoint");
        }
        self.endpoint = resolved;
        s
    }

    /// The connected side, configured for the rig (CURVE client, fast reconnect).
    fn client(&self, t: SocketType) -> Socket {
        let s = Socket::new(t);
        s.set_linger(Duration::ZERO).unwrap();
        s.set_reconnect_ivl(Duration::from_millis(20)).unwrap();
        if self.transport == Transport::Curve {
            let (cpub, csec) = aiozmq::curve_keypair();
            s.set_curve_serverkey(&self.server_keys.0).unwrap();
            s.set_curve_publickey(&cpub).unwrap();
            s.set_curve_secretkey(&csec).unwrap();
        }
        s
    }

    /// Closes `old` (LINGER 0), waits until the connected side saw the connection go,
    /// binds a new socket on the same endpoint and waits for the connected side's new
    /// handshake.
    async fn restart(&mut self, old: Socket, mon: &mut Monitor, what: &str) -> Socket {
        close(&old).await;
        drop(old);
        let ev = wait_event(mon, EventKind::Disconnected, what).await;
        assert_eq!(
            ev.endpoint, self.endpoint,
            "{what}: DISCONNECTED of another endpoint"
        );
        let new = self.bind().await;
        wait_event(mon, EventKind::HandshakeSucceeded, what).await;
        new
    }
}

/// SUB side: PUB publishes probes until one of this generation arrives (the subscription
/// has reached it), then ten messages that must all arrive, in order.
async fn pub_until_received(publ: &Socket, sub: &Socket, g: usize) {
    let prefix = format!("t{g}-");
    within(
        &format!("gen {g}: first message after (re)subscribing"),
        async {
            for i in 0.. {
                let probe = format!("{prefix}probe{i}");
                send(publ, msg(&[probe.as_bytes()]), "probe").await;
                if let Ok(m) = tokio::time::timeout(Duration::from_millis(20), sub.recv()).await {
                    let m = m.expect("SUB recv");
                    if m[0].starts_with(prefix.as_bytes()) {
                        return;
                    }
                }
            }
        },
    )
    .await;
    for k in 0..10 {
        send(
            publ,
            msg(&[format!("{prefix}seq{k}").as_bytes()]),
            "publish",
        )
        .await;
    }
    let mut k = 0;
    while k < 10 {
        let m = recv(sub, "published message").await;
        let body = String::from_utf8_lossy(&m[0]).into_owned();
        if body.contains("probe") {
            continue;
        }
        assert_eq!(
            body,
            format!("{prefix}seq{k}"),
            "gen {g}: lost or reordered"
        );
        k += 1;
    }
}

/// XPUB side: reads messages until the subscription message `\x01t` arrives (skipping
/// the `\x00t` sent when the previous subscriber went).
async fn expect_subscription(xpub: &Socket, what: &str) {
    loop {
        let m = recv(xpub, what).await;
        match &frames(&m)[..] {
            [s] if s == b"\x01t" => return,
            [s] if s == b"\x00t" => {}
            other => panic!("{what}: unexpected {other:?}"),
        }
    }
}

/// Shows that traffic flows between the bound socket `a` and the connected one `b`
/// (generation `g`; `a` is a new socket in each generation).
async fn prove(a: &Socket, b: &Socket, g: usize) {
    use SocketType::*;
    let q = format!("q{g}");
    let r = format!("r{g}");
    let (q, r) = (q.as_bytes(), r.as_bytes());
    match (a.socket_type(), b.socket_type()) {
        (Rep, Req) | (Pair, Pair) => {
            send(b, msg(&[q]), "request").await;
            assert_eq!(frames(&recv(a, "request").await), vec![q.to_vec()]);
            send(a, msg(&[r]), "reply").await;
            assert_eq!(frames(&recv(b, "reply").await), vec![r.to_vec()]);
        }
        (Req, Rep) => {
            send(a, msg(&[q]), "request").await;
            assert_eq!(frames(&recv(b, "request").await), vec![q.to_vec()]);
            send(b, msg(&[r]), "reply").await;
            assert_eq!(frames(&recv(a, "reply").await), vec![r.to_vec()]);
        }
        (Router, Dealer) => {
            send(b, msg(&[q]), "DEALER message").await;
            let m = recv(a, "DEALER message").await;
            assert_eq!(frames(&m), vec![b"dealer-b".to_vec(), q.to_vec()]);
            send(a, msg(&[b"dealer-b", r]), "ROUTER reply").await;
            assert_eq!(frames(&recv(b, "ROUTER reply").await), vec![r.to_vec()]);
        }
        (Dealer, Router) => {
            send(a, msg(&[q]), "DEALER message").await;
            let m = recv(b, "DEALER message at the connecting ROUTER").await;
            assert_eq!(frames(&m), vec![b"dealer-a".to_vec(), q.to_vec()]);
            send(b, msg(&[b"dealer-a", r]), "ROUTER reply").await;
            assert_eq!(frames(&recv(a, "ROUTER reply").await), vec![r.to_vec()]);
        }
        (Pub, Sub) => pub_until_received(a, b, g).await,
        (Sub, Pub) => {
            // A new SUB each generation.
            a.subscribe("t").unwrap();
            pub_until_received(b, a, g).await;
        }
        (XPub, XSub) => {
            // XSUB sent its subscription once, before the first connection; every new
            // XPUB gets it replayed.
            expect_subscription(a, "subscription at XPUB").await;
            send(a, msg(&[format!("t{g}").as_bytes()]), "XPUB publish").await;
            let m = recv(b, "XSUB message").await;
            assert_eq!(frames(&m), vec![format!("t{g}").into_bytes()]);
        }
        (XSub, XPub) => {
            // A new XSUB each generation.
            send(a, msg(&[b"\x01t"]), "XSUB subscribe").await;
            expect_subscription(b, "subscription at the connected XPUB").await;
            send(b, msg(&[format!("t{g}").as_bytes()]), "XPUB publish").await;
            let m = recv(a, "XSUB message").await;
            assert_eq!(frames(&m), vec![format!("t{g}").into_bytes()]);
        }
        (Pull, Push) => {
            for k in 0..10 {
                send(b, msg(&[format!("{g}-{k}").as_bytes()]), "PUSH").await;
            }
            for k in 0..10 {
                let m = recv(a, "PULL").await;
                assert_eq!(frames(&m), vec![format!("{g}-{k}").into_bytes()]);
            }
        }
        (Push, Pull) => {
            for k in 0..10 {
                send(a, msg(&[format!("{g}-{k}").as_bytes()]), "PUSH").await;
            }
            for k in 0..10 {
                let m = recv(b, "PULL").await;
                assert_eq!(frames(&m), vec![format!("{g}-{k}").into_bytes()]);
            }
        }
        other => panic!("no traffic check for {other:?}"),
    }
}

async fn run(case: Case, transport: Transport) {
    record_library_panics();
    match case {
        Case::Restart(bound, connected) => restart_pair(bound, connected, transport).await,
        Case::ReqInFlightStrict => req_in_flight(transport, false).await,
        Case::ReqInFlightRelaxed => req_in_flight(transport, true).await,
    }
    assert_no_library_panics();
}

async fn restart_pair(bound: SocketType, connected: SocketType, transport: Transport) {
    let what = format!("{bound:?} restarting under {connected:?} over {transport:?}");
    let mut rig = Rig::new(transport, bound);
    let mut a = rig.bind().await;
    let b = rig.client(connected);
    if connected == SocketType::Dealer {
        b.set_routing_id("dealer-b").unwrap();
    }
    let mut mon = b.monitor(4096);
    if connected == SocketType::Sub {
        b.subscribe("t").unwrap();
    }
    if connected == SocketType::XSub {
        send(&b, msg(&[b"\x01t"]), "XSUB subscribe").await;
    }
    connect(&b, &rig.endpoint).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, &what).await;
    prove(&a, &b, 0).await;
    for g in 1..=2 {
        a = rig
            .restart(a, &mut mon, &format!("{what}, restart {g}"))
            .await;
        prove(&a, &b, g).await;
    }
    assert_eq!(
        b.counters().reconnects,
        2,
        "{what}: the connected side reconnected once per restart"
    );
    close(&a).await;
    close(&b).await;
}

async fn req_in_flight(transport: Transport, relaxed: bool) {
    let what = format!("REQ (relaxed: {relaxed}) with a request in flight over {transport:?}");
    let mut rig = Rig::new(transport, SocketType::Rep);
    let rep = rig.bind().await;
    let req = rig.client(SocketType::Req);
    if relaxed {
        req.set_req_relaxed(true).unwrap();
        req.set_req_correlate(true).unwrap();
    }
    let mut mon = req.monitor(4096);
    connect(&req, &rig.endpoint).await;
    prove(&rep, &req, 0).await;

    // A request REP takes but never answers: REP restarts.
    send(&req, msg(&[b"lost"]), "request").await;
    assert_eq!(frames(&recv(&rep, "request").await), vec![b"lost".to_vec()]);
    let rep = rig.restart(rep, &mut mon, &what).await;

    if relaxed {
        // Resend: the new REP gets the new request (the lost one is not replayed).
        send(&req, msg(&[b"again"]), "resent request").await;
        assert_eq!(
            frames(&recv(&rep, "resent request").await),
            vec![b"again".to_vec()]
        );
        send(&rep, msg(&[b"answer"]), "reply").await;
        assert_eq!(frames(&recv(&req, "reply").await), vec![b"answer".to_vec()]);
        prove(&rep, &req, 1).await;
        close(&req).await;
    } else {
        // libzmq's REQ: still waiting for the reply to the lost request.
        let e = req
            .try_send(msg(&[b"again"]))
            .expect_err("strict REQ sent a second request before the reply");
        assert_eq!(e.error.kind(), ErrorKind::Fsm, "{e}");
        let quiet = Duration::from_millis(300);
        assert!(
            tokio::time::timeout(quiet, req.recv()).await.is_err(),
            "a reply arrived for a request the restarted REP never saw"
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(1), rep.recv())
                .await
                .is_err(),
            "the new REP got a request (the lost one is not replayed)"
        );
        // The way out (libzmq's lazy pirate): a new REQ.
        close(&req).await;
        let req = rig.client(SocketType::Req);
        connect(&req, &rig.endpoint).await;
        prove(&rep, &req, 1).await;
        close(&req).await;
    }
    close(&rep).await;
}

/// One test per case and transport: `tcp::`, `ipc::` and `curve::` (CURVE over TCP).
macro_rules! matrix {
    ($($name:ident => $case:expr;)*) => {
        mod tcp {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    run($case, Transport::Tcp).await;
                }
            )*
        }
        mod ipc {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    run($case, Transport::Ipc).await;
                }
            )*
        }
        mod curve {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    run($case, Transport::Curve).await;
                }
            )*
        }
    };
}

use SocketType::*;

matrix! {
    rep_restarts_under_req => Case::Restart(Rep, Req);
    req_restarts_under_rep => Case::Restart(Req, Rep);
    rep_restarts_while_req_waits_strict => Case::ReqInFlightStrict;
    rep_restarts_while_req_waits_relaxed_correlate => Case::ReqInFlightRelaxed;
    router_restarts_under_dealer => Case::Restart(Router, Dealer);
    dealer_restarts_under_connecting_router => Case::Restart(Dealer, Router);
    pub_restarts_under_sub => Case::Restart(Pub, Sub);
    sub_restarts_under_pub => Case::Restart(Sub, Pub);
    xpub_restarts_under_xsub => Case::Restart(XPub, XSub);
    xsub_restarts_under_xpub => Case::Restart(XSub, XPub);
    pull_restarts_under_push => Case::Restart(Pull, Push);
    push_restarts_under_pull => Case::Restart(Push, Pull);
    pair_restarts_under_pair => Case::Restart(Pair, Pair);
}
