//! Fault tests: one side restarts, for every socket type, over TCP and IPC, with NULL
//! and with CURVE, the CURVE server being either the bound or the connecting side
//! (libzmq lets either side take the server role).
//!
//! A restart closes the socket (LINGER 0) and drops it; the other side sees the connection
//! go (its DISCONNECTED event); then a new socket of the same type takes the old one's
//! place, and traffic resumes. Each case restarts twice.
//! - The *bound* side restarts: the new socket binds the same endpoint and the connected
//!   side reconnects by itself. TCP: the port is held for the whole test by a placeholder
//!   socket (see `support::ReservedTcpPort`), so no other process can take it between the
//!   close and the new bind; IPC: a fresh path per test.
//! - The *connected* side restarts: the new socket connects to the same bound socket,
//!   which accepts it as a new peer.
//!
//! | bound | connected | what shows traffic resumed |
//! |---|---|---|
//! | REP | REQ | the next request is answered |
//! | REQ | REP | REQ's next request is answered |
//! | ROUTER | DEALER | DEALER's message arrives under its routing id and is echoed |
//! | DEALER | ROUTER | ROUTER (connecting) sees the same routing id again and replies to it |
//! | PUB | SUB | SUB's subscription (re)reaches PUB: messages published after the restart arrive, in order |
//! | SUB | PUB | SUB's subscription reaches the new or reconnected PUB, then messages flow |
//! | XPUB | XSUB | XSUB's subscription reaches XPUB (replayed by a reconnecting XSUB, sent by a new one) |
//! | XSUB | XPUB | XSUB's subscription reaches XPUB (sent by a new XSUB, replayed to a new XPUB) |
//! | PULL | PUSH | messages sent after the restart arrive |
//! | PUSH | PULL | PUSH's messages arrive |
//! | PAIR | PAIR | a round trip both ways |
//!
//! And REQ with a request in flight when REP (bound) restarts:
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
use std::sync::OnceLock;
use std::time::Duration;

use aiozmq::{ErrorKind, EventKind, Monitor, Socket, SocketType};
use support::{
    check_library_panics, close, connect, frames, msg, recv, send, wait_event, within,
    ReservedTcpPort, OP_TIMEOUT,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ipc,
}

/// The security mechanism, and for CURVE which side is the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    Null,
    /// The bound side is the CURVE server, the connected side its client.
    CurveBoundServer,
    /// The connecting side is the CURVE server, the bound side its client.
    CurveConnectingServer,
}

#[derive(Clone, Copy, Debug)]
enum Case {
    /// The bound socket (first type) restarts under the connected one (second type).
    Restart(SocketType, SocketType),
    /// The connected socket (second type) restarts; the bound one (first type) stays.
    ConnectedRestarts(SocketType, SocketType),
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

/// A CURVE key pair (public, secret), Z85, made once per process: `server` for every
/// CURVE server, the other for every client (no ZAP handler: any client key is accepted).
fn curve_keys(server: bool) -> &'static (String, String) {
    static SERVER: OnceLock<(String, String)> = OnceLock::new();
    static CLIENT: OnceLock<(String, String)> = OnceLock::new();
    if server { &SERVER } else { &CLIENT }.get_or_init(aiozmq::curve_keypair)
}

/// The two sides of one case: how to make the bound socket and the connected one, each
/// configured for the case's security.
struct Rig {
    security: Security,
    bound_type: SocketType,
    endpoint: String,
    /// TCP: the port every bound socket of the test binds, held between binds.
    port: Option<ReservedTcpPort>,
}

impl Rig {
    fn new(transport: Transport, security: Security, bound_type: SocketType) -> Rig {
        let port = (transport == Transport::Tcp).then(ReservedTcpPort::new);
        Rig {
            security,
            bound_type,
            endpoint: match &port {
                Some(p) => p.endpoint.clone(),
                None => ipc_endpoint(),
            },
            port,
        }
    }

    /// Makes `s` the CURVE server or client as the case says for its side.
    fn secure(&self, s: &Socket, bound: bool) {
        let server = match self.security {
            Security::Null => return,
            Security::CurveBoundServer => bound,
            Security::CurveConnectingServer => !bound,
        };
        let (server_public, server_secret) = curve_keys(true);
        if server {
            s.set_curve_server(true).unwrap();
            s.set_curve_secretkey(server_secret).unwrap();
        } else {
            let (public, secret) = curve_keys(false);
            s.set_curve_serverkey(server_public).unwrap();
            s.set_curve_publickey(public).unwrap();
            s.set_curve_secretkey(secret).unwrap();
        }
    }

    /// A new bound socket on the rig's endpoint.
    async fn bind(&self) -> Socket {
        let s = Socket::new(self.bound_type);
        s.set_linger(Duration::ZERO).unwrap();
        if self.bound_type == SocketType::Dealer {
            // Before binding: a connection takes the routing id when it is accepted.
            s.set_routing_id("dealer-a").unwrap();
        }
        self.secure(&s, true);
        match &self.port {
            Some(port) => {
                support::bind_reserved(&s, port).await;
            }
            None => {
                let resolved = match tokio::time::timeout(OP_TIMEOUT, s.bind(&self.endpoint)).await
                {
                    Ok(Ok(ep)) => ep,
                    Ok(Err(e)) => panic!("bind {} failed: {e}", self.endpoint),
                    Err(_) => panic!("bind {} did not return", self.endpoint),
                };
                assert_eq!(resolved, self.endpoint, "bound a different endpoint");
            }
        }
        s
    }

    /// A new connected side of type `t`, configured for the rig (fast reconnect) and for
    /// its pattern (DEALER's routing id, the subscription of SUB and XSUB), not connected.
    async fn client(&self, t: SocketType) -> Socket {
        let s = Socket::new(t);
        s.set_linger(Duration::ZERO).unwrap();
        s.set_reconnect_ivl(Duration::from_millis(20)).unwrap();
        self.secure(&s, false);
        match t {
            SocketType::Dealer => s.set_routing_id("dealer-b").unwrap(),
            SocketType::Sub => s.subscribe("t").unwrap(),
            // Queued for the connection to come.
            SocketType::XSub => send(&s, msg(&[b"\x01t"]), "XSUB subscribe").await,
            _ => {}
        }
        s
    }

    /// Bound side restart: closes `old` (LINGER 0), waits until the connected side saw
    /// the connection go, binds a new socket on the same endpoint and waits for the
    /// connected side's new handshake.
    async fn restart(&self, old: Socket, mon: &mut Monitor, what: &str) -> Socket {
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

    /// Connected side restart: closes `old` (LINGER 0), waits until the bound side
    /// (monitored by `bound_mon`) saw the connection go, connects a new socket of the
    /// same type and waits for the bound side's handshake with it.
    async fn restart_connected(&self, old: Socket, bound_mon: &mut Monitor, what: &str) -> Socket {
        let t = old.socket_type();
        close(&old).await;
        drop(old);
        wait_event(bound_mon, EventKind::Disconnected, what).await;
        let new = self.client(t).await;
        connect(&new, &self.endpoint).await;
        wait_event(bound_mon, EventKind::HandshakeSucceeded, what).await;
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
/// (generation `g`; `fresh_bound`: `a` is a new socket, not yet used).
async fn prove(a: &Socket, b: &Socket, g: usize, fresh_bound: bool) {
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
            // A SUB subscribes once; a new PUB gets the subscription on connecting.
            if fresh_bound {
                a.subscribe("t").unwrap();
            }
            pub_until_received(b, a, g).await;
        }
        (XPub, XSub) => {
            // Each XSUB sent its subscription once, before its first connection; a new
            // XPUB gets it replayed.
            expect_subscription(a, "subscription at XPUB").await;
            send(a, msg(&[format!("t{g}").as_bytes()]), "XPUB publish").await;
            let m = recv(b, "XSUB message").await;
            assert_eq!(frames(&m), vec![format!("t{g}").into_bytes()]);
        }
        (XSub, XPub) => {
            // An XSUB subscribes once; a new XPUB gets the subscription replayed.
            if fresh_bound {
                send(a, msg(&[b"\x01t"]), "XSUB subscribe").await;
            }
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

async fn run(case: Case, transport: Transport, security: Security) {
    let _panics = check_library_panics();
    match case {
        Case::Restart(bound, connected) => {
            restart_bound(bound, connected, transport, security).await
        }
        Case::ConnectedRestarts(bound, connected) => {
            restart_connected(bound, connected, transport, security).await
        }
        Case::ReqInFlightStrict => req_in_flight(transport, security, false).await,
        Case::ReqInFlightRelaxed => req_in_flight(transport, security, true).await,
    }
}

async fn restart_bound(
    bound: SocketType,
    connected: SocketType,
    transport: Transport,
    security: Security,
) {
    let what = format!("{bound:?} restarting under {connected:?} over {transport:?}, {security:?}");
    let rig = Rig::new(transport, security, bound);
    let mut a = rig.bind().await;
    let b = rig.client(connected).await;
    let mut mon = b.monitor(4096);
    connect(&b, &rig.endpoint).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, &what).await;
    prove(&a, &b, 0, true).await;
    for g in 1..=2 {
        a = rig
            .restart(a, &mut mon, &format!("{what}, restart {g}"))
            .await;
        prove(&a, &b, g, true).await;
    }
    assert_eq!(
        b.counters().reconnects,
        2,
        "{what}: the connected side reconnected once per restart"
    );
    close(&a).await;
    close(&b).await;
}

async fn restart_connected(
    bound: SocketType,
    connected: SocketType,
    transport: Transport,
    security: Security,
) {
    let what = format!(
        "connected {connected:?} restarting to bound {bound:?} over {transport:?}, {security:?}"
    );
    let rig = Rig::new(transport, security, bound);
    let a = rig.bind().await;
    let mut mon = a.monitor(4096);
    let mut b = rig.client(connected).await;
    connect(&b, &rig.endpoint).await;
    wait_event(&mut mon, EventKind::HandshakeSucceeded, &what).await;
    prove(&a, &b, 0, true).await;
    for g in 1..=2 {
        b = rig
            .restart_connected(b, &mut mon, &format!("{what}, restart {g}"))
            .await;
        prove(&a, &b, g, false).await;
        assert_eq!(
            b.counters().reconnects,
            0,
            "{what}: the new connected socket connected once"
        );
    }
    assert_eq!(
        a.counters().peers,
        1,
        "{what}: the bound side still holds a connection of an earlier socket"
    );
    close(&b).await;
    close(&a).await;
}

async fn req_in_flight(transport: Transport, security: Security, relaxed: bool) {
    let what = format!(
        "REQ (relaxed: {relaxed}) with a request in flight over {transport:?}, {security:?}"
    );
    let rig = Rig::new(transport, security, SocketType::Rep);
    let rep = rig.bind().await;
    let req = rig.client(SocketType::Req).await;
    if relaxed {
        req.set_req_relaxed(true).unwrap();
        req.set_req_correlate(true).unwrap();
    }
    let mut mon = req.monitor(4096);
    connect(&req, &rig.endpoint).await;
    prove(&rep, &req, 0, true).await;

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
        prove(&rep, &req, 1, true).await;
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
        let req = rig.client(SocketType::Req).await;
        connect(&req, &rig.endpoint).await;
        prove(&rep, &req, 1, true).await;
        close(&req).await;
    }
    close(&rep).await;
}

/// One test per case, transport and security, in modules named after the last two:
/// `tcp::`, `ipc::` (NULL), `curve_bound_server_tcp::`, `curve_bound_server_ipc::`,
/// `curve_connecting_server_tcp::`, `curve_connecting_server_ipc::`; every case runs in
/// every module.
macro_rules! matrix {
    (cases { $($p:ident => $pc:expr;)* }) => {
        matrix!(@module tcp, Transport::Tcp, Security::Null; $($p => $pc;)*);
        matrix!(@module ipc, Transport::Ipc, Security::Null; $($p => $pc;)*);
        matrix!(@module curve_bound_server_tcp, Transport::Tcp, Security::CurveBoundServer;
            $($p => $pc;)*);
        matrix!(@module curve_bound_server_ipc, Transport::Ipc, Security::CurveBoundServer;
            $($p => $pc;)*);
        matrix!(@module curve_connecting_server_tcp, Transport::Tcp,
            Security::CurveConnectingServer; $($p => $pc;)*);
        matrix!(@module curve_connecting_server_ipc, Transport::Ipc,
            Security::CurveConnectingServer; $($p => $pc;)*);
    };
    (@module $module:ident, $transport:expr, $security:expr; $($name:ident => $case:expr;)*) => {
        mod $module {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    run($case, $transport, $security).await;
                }
            )*
        }
    };
}

use SocketType::*;

matrix! {
    cases {
        rep_restarts_under_req => Case::Restart(Rep, Req);
        req_restarts_under_rep => Case::Restart(Req, Rep);
        router_restarts_under_dealer => Case::Restart(Router, Dealer);
        dealer_restarts_under_connecting_router => Case::Restart(Dealer, Router);
        pub_restarts_under_sub => Case::Restart(Pub, Sub);
        sub_restarts_under_pub => Case::Restart(Sub, Pub);
        pull_restarts_under_push => Case::Restart(Pull, Push);
        push_restarts_under_pull => Case::Restart(Push, Pull);
        connected_req_restarts_to_rep => Case::ConnectedRestarts(Rep, Req);
        connected_rep_restarts_to_req => Case::ConnectedRestarts(Req, Rep);
        connected_dealer_restarts_to_router => Case::ConnectedRestarts(Router, Dealer);
        connected_router_restarts_to_dealer => Case::ConnectedRestarts(Dealer, Router);
        connected_sub_restarts_to_pub => Case::ConnectedRestarts(Pub, Sub);
        connected_pub_restarts_to_sub => Case::ConnectedRestarts(Sub, Pub);
        connected_push_restarts_to_pull => Case::ConnectedRestarts(Pull, Push);
        connected_pull_restarts_to_push => Case::ConnectedRestarts(Push, Pull);
        rep_restarts_while_req_waits_strict => Case::ReqInFlightStrict;
        rep_restarts_while_req_waits_relaxed_correlate => Case::ReqInFlightRelaxed;
        xpub_restarts_under_xsub => Case::Restart(XPub, XSub);
        xsub_restarts_under_xpub => Case::Restart(XSub, XPub);
        pair_restarts_under_pair => Case::Restart(Pair, Pair);
        connected_xsub_restarts_to_xpub => Case::ConnectedRestarts(XPub, XSub);
        connected_xpub_restarts_to_xsub => Case::ConnectedRestarts(XSub, XPub);
        connected_pair_restarts_to_pair => Case::ConnectedRestarts(Pair, Pair);
    }
}
