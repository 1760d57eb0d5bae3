//! The zguide's hello-world client, ported from the `zmq` crate to aiozmq's blocking API
//! one call at a time (each step names the `zmq` call it replaces): a REQ socket sends
//! "Hello" and waits for the answer, ten times.
//!
//! ```text
//! cargo run --example blocking_hwclient [ENDPOINT] [REQUESTS]
//! ```
//! ENDPOINT defaults to `tcp://localhost:5555`, REQUESTS to 10. Its server is
//! `blocking_hwserver`.

use aiozmq::blocking::Socket;
use aiozmq::SocketType;

fn main() -> aiozmq::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args
        .next()
        .unwrap_or_else(|| "tcp://localhost:5555".to_string());
    let requests: u32 = args
        .next()
        .map_or(10, |a| a.parse().expect("REQUESTS is a number"));

    println!("Connecting to the hello world server at {endpoint}");
    // zmq: Context::new() and ctx.socket(zmq::REQ); no context is needed here.
    let requester = Socket::new(SocketType::Req);
    // zmq: requester.connect(..).
    requester.connect(&endpoint)?;

    for n in 0..requests {
        println!("Sending Hello {n}");
        // zmq: requester.send("Hello", 0).
        requester.send("Hello")?;
        // zmq: requester.recv(&mut msg, 0).
        let reply = requester.recv()?;
        println!("Received {} {n}", String::from_utf8_lossy(&reply[0]));
    }
    Ok(())
}
