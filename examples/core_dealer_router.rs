//! aiozmq's "Simple DEALER-ROUTER pair implemented on Core level": two protocols over
//! `create_zmq_connection`. The ROUTER's protocol echoes every message back; the DEALER's
//! puts what it receives in a queue. Prints each answer, then `DONE`.
//!
//! Run with `cargo run --example core_dealer_router`.

use aiozmq::api::{create_zmq_connection, ConnectionOptions, ZmqProtocol, ZmqTransport};
use aiozmq::{Error, Message, SocketType};
use std::sync::{Mutex, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Resolves a future once, like `asyncio.Future.set_result`.
type OnClose = Mutex<Option<oneshot::Sender<Option<Error>>>>;

fn set_result(on_close: &OnClose, exc: Option<Error>) {
    if let Some(tx) = on_close.lock().unwrap().take() {
        let _ = tx.send(exc);
    }
}

struct ZmqDealerProtocol {
    queue: mpsc::UnboundedSender<Message>,
    on_close: OnClose,
}

impl ZmqProtocol for ZmqDealerProtocol {
    fn msg_received(&self, msg: Message) {
        let _ = self.queue.send(msg);
    }

    fn connection_lost(&self, exc: Option<Error>) {
        set_result(&self.on_close, exc);
    }
}

struct ZmqRouterProtocol {
    transport: OnceLock<ZmqTransport>,
    on_close: OnClose,
}

impl ZmqProtocol for ZmqRouterProtocol {
    fn connection_made(&self, transport: &ZmqTransport) {
        let _ = self.transport.set(transport.clone());
    }

    fn msg_received(&self, msg: Message) {
        // The first frame is the DEALER's routing id: writing the message back routes it.
        if let Some(t) = self.transport.get() {
            let _ = t.write(msg);
        }
    }

    fn connection_lost(&self, exc: Option<Error>) {
        set_result(&self.on_close, exc);
    }
}

async fn go() -> aiozmq::Result<()> {
    let (router_closed_tx, router_closed) = oneshot::channel();
    let (dealer_closed_tx, dealer_closed) = oneshot::channel();
    let (router, _) = create_zmq_connection(
        move || ZmqRouterProtocol {
            transport: OnceLock::new(),
            on_close: Mutex::new(Some(router_closed_tx)),
        },
        SocketType::Router,
        ConnectionOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await?;

    let addr = router.bindings()[0].clone();
    println!("ROUTER bound to {addr}");
    let (queue_tx, mut queue) = mpsc::unbounded_channel();
    let (dealer, _) = create_zmq_connection(
        move || ZmqDealerProtocol {
            queue: queue_tx,
            on_close: Mutex::new(Some(dealer_closed_tx)),
        },
        SocketType::Dealer,
        ConnectionOptions::new().connect(&addr),
    )
    .await?;

    for i in 0..10 {
        let msg = Message::from_iter(["data".to_string(), "ask".into(), i.to_string()]);
        dealer.write(msg)?;
        let answer = queue.recv().await.expect("the DEALER protocol is alive");
        println!("{answer:?}");
    }
    dealer.close();
    let exc = dealer_closed.await.expect("connection_lost is called");
    println!("DEALER connection_lost({exc:?})");
    router.close();
    let exc = router_closed.await.expect("connection_lost is called");
    println!("ROUTER connection_lost({exc:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> aiozmq::Result<()> {
    go().await?;
    println!("DONE");
    Ok(())
}
