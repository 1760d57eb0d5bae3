//! aiozmq's "Socket event monitor": one protocol serves a ROUTER and a DEALER; the DEALER's
//! socket events (passed to `event_received` after `enable_monitor`) are printed while it
//! disconnects, reconnects and sends "Hello" four times; the ROUTER answers "World".
//! Prints every event, then `DONE`.
//!
//! Run with `cargo run --example socket_event_monitor`.

use aiozmq::api::{
    create_zmq_connection, ConnectionOptions, SocketEvent, ZmqProtocol, ZmqTransport,
};
use aiozmq::{Error, Message, SocketType};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::Notify;

/// A human readable description of the event: libzmq's name, lower case, with spaces.
fn event_description(event: &SocketEvent) -> String {
    event.kind.name().to_lowercase().replace('_', " ")
}

#[derive(Default)]
struct Protocol {
    transport: OnceLock<ZmqTransport>,
    // aiozmq's asyncio futures; Notify keeps the wake-up for a later wait.
    wait_ready: Notify,
    wait_done: Notify,
    wait_closed: Notify,
    count: AtomicUsize,
}

impl ZmqProtocol for Protocol {
    fn connection_made(&self, transport: &ZmqTransport) {
        let _ = self.transport.set(transport.clone());
        self.wait_ready.notify_one();
    }

    fn connection_lost(&self, _exc: Option<Error>) {
        self.wait_closed.notify_one();
    }

    fn msg_received(&self, data: Message) {
        // This protocol is used by both the ROUTER and the DEALER. ROUTER sockets prefix
        // messages with the identity of the sender, hence two frames.
        if data.len() == 2 {
            let identity = data[0].clone();
            assert_eq!(&data[1][..], b"Hello");
            let reply = Message::from_iter([identity, "World".into()]);
            let _ = self.transport.get().expect("connection_made").write(reply);
        } else {
            assert_eq!(&data[0][..], b"World");
            if self.count.fetch_add(1, Ordering::SeqCst) + 1 >= 4 {
                self.wait_done.notify_one();
            }
        }
    }

    fn event_received(&self, event: SocketEvent) {
        println!(
            "event:{}, value:{}, endpoint:{}, description:{}",
            event.kind.to_raw(),
            event.value,
            event.endpoint,
            event_description(&event)
        );
    }
}

async fn go() -> aiozmq::Result<()> {
    let (st, sp) = create_zmq_connection(
        Protocol::default,
        SocketType::Router,
        ConnectionOptions::new().bind("tcp://127.0.0.1:*"),
    )
    .await?;
    sp.wait_ready.notified().await;
    let addr = st.bindings()[0].clone();

    let (ct, cp) = create_zmq_connection(
        Protocol::default,
        SocketType::Dealer,
        ConnectionOptions::new().connect(&addr),
    )
    .await?;
    cp.wait_ready.notified().await;

    // Enable the socket monitor on the client socket. Socket events are passed to the
    // 'event_received' method on the client protocol.
    ct.enable_monitor(None)?;

    // Trigger some socket events while also sending a message to the server. When the
    // client protocol receives 4 responses it notifies wait_done.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        ct.disconnect(&addr).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        ct.connect(&addr).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        ct.write(Message::from("Hello"))?;
    }

    cp.wait_done.notified().await;

    // The socket monitor can be explicitly disabled if necessary.
    // ct.disable_monitor();

    // If a socket monitor is left enabled on a socket being closed, the socket monitor
    // is closed automatically.
    ct.close();
    cp.wait_closed.notified().await;

    st.close();
    sp.wait_closed.notified().await;
    Ok(())
}

#[tokio::main]
async fn main() -> aiozmq::Result<()> {
    go().await?;
    println!("DONE");
    Ok(())
}
