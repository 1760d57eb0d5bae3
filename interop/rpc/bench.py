"""Python aiozmq RPC throughput, for benches/rpc.rs.

    bench.py serve                       # prints READY <endpoint>, serves until stdin closes
    bench.py client --connect EP --calls N --concurrency C
                                         # prints RESULT <calls per second>

The server's method is `add(a, b)`; the client calls `add(1, 2)`.
"""

import argparse
import asyncio
import sys
import time

import aiozmq.rpc


class Handler(aiozmq.rpc.AttrHandler):
    @aiozmq.rpc.method
    def add(self, a, b):
        return a + b


async def serve():
    server = await aiozmq.rpc.serve_rpc(Handler(), bind="tcp://127.0.0.1:*")
    print("READY", list(server.transport.bindings())[0], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await server.wait_closed()


async def client(endpoint, calls, concurrency):
    c = await aiozmq.rpc.connect_rpc(connect=endpoint)
    for _ in range(100):  # warm-up
        assert await c.call.add(1, 2) == 3

    per_worker = calls // concurrency

    async def worker():
        for _ in range(per_worker):
            await c.call.add(1, 2)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    print("RESULT", per_worker * concurrency / elapsed, flush=True)
    c.close()
    await c.wait_closed()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["serve", "client"])
    p.add_argument("--connect")
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=1)
    a = p.parse_args()
    if a.mode == "serve":
        asyncio.run(serve())
    else:
        asyncio.run(client(a.connect, a.calls, a.concurrency))


if __name__ == "__main__":
    main()
