//! RPC over secured sockets: every RPC builder takes a [`SecurityConfig`].

mod support;

use std::time::Duration;

use aiozmq::rpc::{self, call, notify, AttrHandler, Error};
use aiozmq::security::zap::Authenticator;
use aiozmq::security::SecurityConfig;

struct Calc;

impl Calc {
    fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn handler() -> AttrHandler<Calc> {
    AttrHandler::new(Calc).method("add", ["a", "b"], Calc::add)
}

#[tokio::test]
async fn curve_request_reply_with_allow_list() {
    let _panics = support::check_library_panics();
    let (server_public, server_secret) = aiozmq::curve_keypair();
    let (client_public, client_secret) = aiozmq::curve_keypair();
    let auth = Authenticator::new()
        .allow_curve_key(&client_public)
        .unwrap();
    let server = rpc::serve_rpc(handler())
        .security(
            SecurityConfig::curve_server(&server_secret)
                .unwrap()
                .with_zap(auth),
        )
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let endpoint = server.bindings()[0].clone();
    assert_eq!(
        server.transport().unwrap().mechanism(),
        aiozmq::zmtp::Mechanism::Curve
    );

    // An allowed client.
    let client = rpc::connect_rpc()
        .security(
            SecurityConfig::curve_client_with_keys(&server_public, &client_public, &client_secret)
                .unwrap(),
        )
        .timeout(Duration::from_secs(10))
        .connect(endpoint.clone())
        .await
        .unwrap();
    let sum: i64 = call!(client, add(1, 2)).await.unwrap();
    assert_eq!(sum, 3);
    let sum: i64 = call!(client, add(a = 40, b = 2)).await.unwrap();
    assert_eq!(sum, 42);

    // A client whose key is not on the list: its handshake is refused, no reply comes.
    let stranger = rpc::connect_rpc()
        .security(SecurityConfig::curve_client(&server_public).unwrap())
        .timeout(Duration::from_millis(500))
        .connect(endpoint.clone())
        .await
        .unwrap();
    let r: Result<i64, Error> = call!(stranger, add(1, 2)).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");

    // A client without security gets nothing either.
    let plain = rpc::connect_rpc()
        .timeout(Duration::from_millis(300))
        .connect(endpoint.clone())
        .await
        .unwrap();
    let r: Result<i64, Error> = call!(plain, add(1, 2)).await;
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");

    // The allowed client still works.
    let sum: i64 = call!(client, add(2, 3)).await.unwrap();
    assert_eq!(sum, 5);

    for s in [&client, &stranger, &plain] {
        s.close();
        s.wait_closed().await;
    }
    server.close();
    server.wait_closed().await;
}

#[tokio::test]
async fn curve_pipeline_and_pubsub() {
    let _panics = support::check_library_panics();
    use std::sync::Arc;
    use tokio::sync::mpsc;

    struct Sink(mpsc::UnboundedSender<i64>);
    impl Sink {
        fn put(&self, x: i64) {
            let _ = self.0.send(x);
        }
    }
    let (server_public, server_secret) = aiozmq::curve_keypair();

    let (tx, mut rx) = mpsc::unbounded_channel();
    let pipeline = rpc::serve_pipeline(AttrHandler::new(Sink(tx)).method("put", ["x"], Sink::put))
        .security(SecurityConfig::curve_server(&server_secret).unwrap())
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let pusher = rpc::connect_pipeline()
        .security(SecurityConfig::curve_client(&server_public).unwrap())
        .connect(pipeline.bindings()[0].clone())
        .await
        .unwrap();
    notify!(pusher, put(7)).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert_eq!(got.unwrap(), Some(7));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = rpc::serve_pubsub(AttrHandler::new(Sink(tx)).method("put", ["x"], Sink::put))
        .security(SecurityConfig::curve_server(&server_secret).unwrap())
        .subscribe("t")
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap();
    let publisher = Arc::new(
        rpc::connect_pubsub()
            .security(SecurityConfig::curve_client(&server_public).unwrap())
            .connect(sub.bindings()[0].clone())
            .await
            .unwrap(),
    );
    // Slow joiner: publish until the subscription has arrived.
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            rpc::publish!(publisher, "t", put(9)).await.unwrap();
            if let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                return v;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got, 9);
    pusher.close();
    publisher.close();
    pipeline.close();
    sub.close();
}
