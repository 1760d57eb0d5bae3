//! The zguide's hello-world server, ported from the `zmq` crate to aiozmq's blocking API
//! one call at a time (each step names the `zmq` call it replaces): a REP socket answers
//! every request with "World", after a pretend piece of work.
//!
//! ```text
//! cargo run --example blocking_hwserver [ENDPOINT] [WORK_MS]
//! ```
//! ENDPOINT defaults to `tcp://*:5555`, WORK_MS (the pretend work per request) to 1000.
//! It prints the endpoint it bound first, then each request; it serves until killed.
//! Its client is `blocking_hwclient`.

use aiozmq::blocking::Socket;
use aiozmq::SocketType;
use std::thread;
use std::time::Duration;

fn main() -> aiozmq::Result<()> {
    let mut args = std::env::args().skip(1);
    let endpoint = args.next().unwrap_or_else(|| "tcp://*:5555".to_string());
    let work = Duration::from_millis(
        args.next()
            .map_or(1000, |a| a.parse().expect("WORK_MS is a number")),
    );

    // zmq: Context::new() and ctx.socket(zmq::REP); no context is needed here.
    let responder = Socket::new(SocketType::Rep);
    // zmq: responder.bind(..); this one also returns the endpoint bound (the port of `*`).
    let bound = responder.bind(&endpoint)?;
    println!("Bound to {bound}");

    loop {
        // zmq: responder.recv(&mut msg, 0); every frame of the request comes at once.
        let request = responder.recv()?;
        println!("Received {}", String::from_utf8_lossy(&request[0]));

        // The work a real server would do.
        thread::sleep(work);

        // zmq: responder.send("World", 0).
        responder.send("World")?;
    }
}
