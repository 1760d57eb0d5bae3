//! Helpers for tests of a ROUTER/DEALER broker steered over a control socket (the library's
//! proxy tests and the command-line tool's).

use aiozmq::{Message, ProxyStatistics, Socket, SocketType};
use tokio::task::JoinHandle;

use super::{frames, recv, send};

/// Sends a control command on a REQ socket and returns the reply.
pub async fn command(ctl: &Socket, cmd: &'static str) -> Message {
    send(ctl, cmd, cmd).await;
    recv(ctl, &format!("reply to {cmd}")).await
}

pub async fn statistics(ctl: &Socket) -> ProxyStatistics {
    let reply = command(ctl, "STATISTICS").await;
    ProxyStatistics::from_message(&reply)
        .unwrap_or_else(|e| panic!("bad STATISTICS reply {reply:?}: {e}"))
}

pub async fn expect_empty_reply(ctl: &Socket, cmd: &'static str) {
    let reply = command(ctl, cmd).await;
    assert_eq!(frames(&reply), vec![Vec::<u8>::new()], "REP reply to {cmd}");
}

/// REP workers replying `ok:` + the request, until aborted.
pub fn spawn_workers(backend_ep: &str, n: usize) -> Vec<JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let ep = backend_ep.to_string();
            tokio::spawn(async move {
                let rep = Socket::new(SocketType::Rep);
                rep.connect(&ep).await.expect("worker connect");
                loop {
                    let req = rep.recv().await.expect("worker recv");
                    let mut body = b"ok:".to_vec();
                    body.extend_from_slice(&req[0]);
                    rep.send(body).await.expect("worker send");
                }
            })
        })
        .collect()
}

/// The body of client `client`'s request `j` (the broker sees routing id, empty
/// delimiter, body; the reply body is `ok:` + this).
pub fn request_body(client: usize, j: usize) -> String {
    format!("request {j} from client {client}")
}

pub fn client_id(client: usize) -> String {
    format!("client-{client}")
}
