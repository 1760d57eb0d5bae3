//! PLAIN and CURVE between our own sockets, with ZAP.

mod support;

use aiozmq::security::zap::Authenticator;
use aiozmq::{EventKind, Message, Socket, SocketType};
use std::future::Future;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("timed out")
}

async fn wait_event(mon: &mut aiozmq::Monitor, kind: EventKind) -> aiozmq::MonitorEvent {
    within(async {
        loop {
            let ev = mon.recv().await.expect("monitor ended");
            if ev.kind == kind {
                return ev;
            }
        }
    })
    .await
}

#[tokio::test]
async fn curve_roundtrip_with_allow_list() {
    let _panics = support::check_library_panics();
    let (spub, ssec) = aiozmq::curve_keypair();
    let (cpub, csec) = aiozmq::curve_keypair();
    let server = Socket::new(SocketType::Rep);
    server.set_curve_server(true).unwrap();
    server.set_curve_secretkey(&ssec).unwrap();
    server.set_zap_handler(Authenticator::new().allow_curve_key(&cpub).unwrap());
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::new(SocketType::Req);
    client.set_curve_serverkey(&spub).unwrap();
    client.set_curve_publickey(&cpub).unwrap();
    client.set_curve_secretkey(&csec).unwrap();
    client.connect(&ep).await.unwrap();
    for i in 0..5 {
        let big = vec![i as u8; 70_000];
        client
            .send(Message::from(vec![
                bytes::Bytes::from_static(b"part"),
                big.clone().into(),
            ]))
            .await
            .unwrap();
        let m = within(server.recv()).await.unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(&m[1][..], &big[..]);
        server.send(m).await.unwrap();
        let r = within(client.recv()).await.unwrap();
        assert_eq!(&r[1][..], &big[..]);
    }
}

#[tokio::test]
async fn curve_key_not_allowed_and_wrong_server_key() {
    let _panics = support::check_library_panics();
    let (spub, ssec) = aiozmq::curve_keypair();
    let (cpub, csec) = aiozmq::curve_keypair();
    let (other_pub, _) = aiozmq::curve_keypair();
    let server = Socket::new(SocketType::Pull);
    server.set_curve_server(true).unwrap();
    server.set_curve_secretkey(&ssec).unwrap();
    server.set_zap_handler(Authenticator::new().allow_curve_key(&other_pub).unwrap());
    let mut smon = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();

    let client = Socket::new(SocketType::Push);
    client.set_curve_serverkey(&spub).unwrap();
    client.set_curve_publickey(&cpub).unwrap();
    client.set_curve_secretkey(&csec).unwrap();
    client.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    let mut cmon = client.monitor(64);
    client.connect(&ep).await.unwrap();
    client.send("secret").await.unwrap();
    let ev = wait_event(&mut smon, EventKind::HandshakeFailedAuth).await;
    assert_eq!(ev.value, 400);
    let ev = wait_event(&mut cmon, EventKind::HandshakeFailedAuth).await;
    assert_eq!(ev.value, 400);

    // Wrong server key: the server cannot open HELLO.
    let (wrong, _) = aiozmq::curve_keypair();
    let c2 = Socket::new(SocketType::Push);
    c2.set_curve_serverkey(&wrong).unwrap();
    c2.set_curve_publickey(&other_pub).unwrap();
    c2.set_curve_secretkey(&csec).unwrap();
    c2.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    c2.connect(&ep).await.unwrap();
    c2.send("secret").await.unwrap();
    wait_event(&mut smon, EventKind::HandshakeFailedAuth).await;
    assert!(server.try_recv().is_err(), "no message delivered");
    assert_eq!(server.counters().messages_in, 0);
}

#[tokio::test]
async fn plain_with_passwords() {
    let _panics = support::check_library_panics();
    let server = Socket::new(SocketType::Router);
    server.set_plain_server(true).unwrap();
    server.set_zap_handler(Authenticator::new().password("admin", "secret"));
    let mut smon = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();

    let good = Socket::new(SocketType::Dealer);
    good.set_plain_username("admin").unwrap();
    good.set_plain_password("secret").unwrap();
    good.connect(&ep).await.unwrap();
    good.send("hello").await.unwrap();
    let m = within(server.recv()).await.unwrap();
    assert_eq!(&m[1][..], b"hello");

    let bad = Socket::new(SocketType::Dealer);
    bad.set_plain_username("admin").unwrap();
    bad.set_plain_password("wrong").unwrap();
    bad.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    let mut bmon = bad.monitor(64);
    bad.connect(&ep).await.unwrap();
    bad.send("intruder").await.unwrap();
    assert_eq!(
        wait_event(&mut smon, EventKind::HandshakeFailedAuth)
            .await
            .value,
        400
    );
    assert_eq!(
        wait_event(&mut bmon, EventKind::HandshakeFailedAuth)
            .await
            .value,
        400
    );
    assert!(server.try_recv().is_err());
}

#[tokio::test]
async fn null_with_zap_domain_checks_addresses() {
    let _panics = support::check_library_panics();
    let server = Socket::new(SocketType::Pull);
    server.set_zap_domain("global").unwrap();
    server.set_zap_handler(Authenticator::new().deny_address("127.0.0.1"));
    let mut smon = server.monitor(64);
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::new(SocketType::Push);
    client.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    client.connect(&ep).await.unwrap();
    client.send("x").await.unwrap();
    assert_eq!(
        wait_event(&mut smon, EventKind::HandshakeFailedAuth)
            .await
            .value,
        400
    );
}

#[tokio::test]
async fn curve_pub_sub_and_mechanism_mismatch() {
    let _panics = support::check_library_panics();
    let (spub, ssec) = aiozmq::curve_keypair();
    let (cpub, csec) = aiozmq::curve_keypair();
    let publ = Socket::new(SocketType::XPub);
    publ.set_curve_server(true).unwrap();
    publ.set_curve_secretkey(&ssec).unwrap();
    let ep = publ.bind("tcp://127.0.0.1:*").await.unwrap();
    let subs: Vec<Socket> = (0..3)
        .map(|_| {
            let s = Socket::new(SocketType::Sub);
            s.set_curve_serverkey(&spub).unwrap();
            s.set_curve_publickey(&cpub).unwrap();
            s.set_curve_secretkey(&csec).unwrap();
            s.subscribe("t").unwrap();
            s
        })
        .collect();
    for s in &subs {
        s.connect(&ep).await.unwrap();
    }
    assert_eq!(
        within(publ.recv()).await.unwrap(),
        Message::from(&b"\x01t"[..])
    );
    // Fan-out to encrypted peers (each encrypts on its own).
    within(async {
        while publ.counters().peers < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    publ.send(["t1", "x"]).await.unwrap();
    for s in &subs {
        assert_eq!(within(s.recv()).await.unwrap(), Message::from(["t1", "x"]));
    }
    // A NULL client against the CURVE server: mechanism mismatch, reported.
    let mut mon = publ.monitor(64);
    let plain = Socket::new(SocketType::Sub);
    plain.set_reconnect_ivl(Duration::from_secs(60)).unwrap();
    plain.connect(&ep).await.unwrap();
    let ev = wait_event(&mut mon, EventKind::HandshakeFailedProtocol).await;
    assert!(ev.reason.unwrap().contains("mechanism"));
}

#[test]
fn keys_and_z85() {
    let _panics = support::check_library_panics();
    let (p, s) = aiozmq::curve_keypair();
    assert_eq!(aiozmq::curve_public(&s).unwrap(), p);
    let sock = Socket::new(SocketType::Req);
    assert!(sock.set_curve_serverkey("too short").is_err());
    let raw = aiozmq::zmtp::z85::decode(&p).unwrap();
    sock.set_curve_serverkey(&raw).unwrap();
    assert_eq!(sock.mechanism(), aiozmq::zmtp::Mechanism::Curve);
}

#[tokio::test]
async fn zap_user_id_is_visible_on_messages() {
    let _panics = support::check_library_panics();
    let server = Socket::new(SocketType::Pull);
    server.set_plain_server(true).unwrap();
    server.set_zap_handler(|req: &aiozmq::security::zap::ZapRequest| {
        let mut reply =
            aiozmq::security::zap::ZapReply::allow(String::from_utf8_lossy(&req.credentials[0]));
        reply.metadata.push("X-Role", &b"admin"[..]);
        reply
    });
    let ep = server.bind("tcp://127.0.0.1:*").await.unwrap();
    let client = Socket::new(SocketType::Push);
    client.set_plain_username("alice").unwrap();
    client.set_plain_password("pw").unwrap();
    client.connect(&ep).await.unwrap();
    client.send("hi").await.unwrap();
    let m = within(server.recv()).await.unwrap();
    assert_eq!(m.property("User-Id").unwrap(), "alice");
    assert_eq!(m.property("Peer-Address").unwrap(), "127.0.0.1");
    assert_eq!(m.property("Socket-Type").unwrap(), "PUSH");
    assert_eq!(m.property("X-Role").unwrap(), "admin");
    assert_eq!(
        m.properties().unwrap().mechanism,
        aiozmq::zmtp::Mechanism::Plain
    );
}

#[tokio::test]
async fn secured_streams_are_one_argument_away() {
    let _panics = support::check_library_panics();
    use aiozmq::security::SecurityConfig;
    use aiozmq::{create_zmq_stream, StreamOptions};
    let (spub, ssec) = aiozmq::curve_keypair();
    let (cpub, csec) = aiozmq::curve_keypair();
    let server = create_zmq_stream(
        SocketType::Router,
        StreamOptions::new().bind("tcp://127.0.0.1:*").security(
            SecurityConfig::curve_server(&ssec)
                .unwrap()
                .with_zap(Authenticator::new().allow_curve_key(&cpub).unwrap()),
        ),
    )
    .await
    .unwrap();
    let ep = server.transport().bindings()[0].clone();
    let client = create_zmq_stream(
        SocketType::Dealer,
        StreamOptions::new()
            .connect(ep.as_str())
            .security(SecurityConfig::curve_client_with_keys(&spub, &cpub, &csec).unwrap()),
    )
    .await
    .unwrap();
    client.write(Message::from("secret hello")).unwrap();
    let m = within(server.read()).await.unwrap();
    assert_eq!(&m[1][..], b"secret hello");
    assert_eq!(
        m.properties().unwrap().mechanism,
        aiozmq::zmtp::Mechanism::Curve
    );
}
