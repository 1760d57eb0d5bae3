//! aiozmq docs, "Logging exceptions from remote calls at server side": `log_exceptions`
//! logs every exception a call raises (with `tracing`), except the types in
//! `exclude_log_exceptions`. This example prints the log events with a tiny subscriber.
//!
//! ```sh
//! cargo run --example rpc_log_exceptions
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aiozmq::rpc::{self, AttrHandler, Exception, Value};

struct Handler;

impl Handler {
    fn fail(&self, name: String) -> Result<(), Exception> {
        Err(Exception::new(name, vec![Value::from("oops")]))
    }
}

/// Prints every event to stderr and counts them.
struct PrintLogs(Arc<AtomicUsize>);

impl tracing::Subscriber for PrintLogs {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.fetch_add(1, Ordering::SeqCst);
        eprintln!("[{}] {}", event.metadata().level(), m.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

pub fn main() {
    let count = Arc::new(AtomicUsize::new(0));
    tracing::subscriber::with_default(PrintLogs(count.clone()), || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run())
            .unwrap();
    });
    // MyError is excluded: only the RuntimeError was logged.
    assert_eq!(count.load(Ordering::SeqCst), 1);
    println!("DONE");
}

async fn run() -> Result<(), rpc::Error> {
    let handler = AttrHandler::new(Handler).method("fail", ["name"], Handler::fail);
    let server = rpc::serve_rpc(handler)
        .bind("tcp://127.0.0.1:*")
        .log_exceptions(true)
        .exclude_log_exceptions(["myapp.MyError", "myapp.OtherError"])
        .await?;
    let client = rpc::connect_rpc()
        .connect(server.bindings()[0].clone())
        .await?;

    let e = client
        .call("fail", ("myapp.MyError",), ())
        .await
        .unwrap_err();
    println!("not logged: {e}");
    let e = client
        .call("fail", ("builtins.RuntimeError",), ())
        .await
        .unwrap_err();
    println!("logged: {e}");

    client.close();
    server.close();
    server.wait_closed().await;
    Ok(())
}
