"""A Python aiozmq RPC server for the interop tests (tests/rpc_interop.rs).

    server.py rpc|pipeline|pubsub (--bind EP | --connect EP) [--subscribe TOPIC]...
              [--generation N] [--curve-secret Z85]

With --curve-secret the server is a CURVE server with that secret key (set through
`ZmqTransport.setsockopt` before the bind or connect).

Prints `READY <endpoint>` (the resolved bind endpoint, or the connect endpoint), then
serves until its standard input closes. Pipeline and pub-sub servers print every call
they get as `CALL <name> <repr(args)> <repr(kwargs)>`.
"""

import argparse
import asyncio
import logging
import sys

import aiozmq.rpc
import zmq

import rpc_common


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["rpc", "pipeline", "pubsub"])
    p.add_argument("--bind")
    p.add_argument("--connect")
    p.add_argument("--subscribe", action="append", default=[])
    p.add_argument("--generation", type=int, default=1)
    p.add_argument("--curve-secret")
    a = p.parse_args()
    # CURVE options must be set before the socket binds or connects.
    later = a.curve_secret is not None
    kw = dict(
        bind=None if later else a.bind,
        connect=None if later else a.connect,
        translation_table=rpc_common.TRANSLATION_TABLE,
        log_exceptions=True,
    )
    if a.mode == "rpc":
        server = await aiozmq.rpc.serve_rpc(
            rpc_common.InteropHandler(a.generation), **kw
        )
    elif a.mode == "pipeline":
        server = await aiozmq.rpc.serve_pipeline(rpc_common.Recorder(), **kw)
    else:
        server = await aiozmq.rpc.serve_pubsub(
            rpc_common.Recorder(), subscribe=a.subscribe, **kw
        )
    if later:
        t = server.transport
        t.setsockopt(zmq.CURVE_SERVER, 1)
        t.setsockopt(zmq.CURVE_SECRETKEY, a.curve_secret.encode())
        if a.bind:
            await t.bind(a.bind)
        else:
            await t.connect(a.connect)
    endpoint = a.connect if a.connect else list(server.transport.bindings())[0]
    print("READY", endpoint, flush=True)
    loop = asyncio.get_running_loop()
    # Serve until the test closes our stdin (or kills us).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()
    print("DONE", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main())
