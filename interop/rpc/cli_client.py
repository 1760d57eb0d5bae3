"""A Python aiozmq RPC client for the `aiozmq rpc serve` tests (cli/tests/cli_rpc.rs).

    cli_client.py EP

Calls the demo service's methods and prints one line per check, `OK <check>` or
`FAIL <check>: why`, then `DONE`; exits 1 if a check failed.
"""

import asyncio
import sys

import aiozmq.rpc

failures = []


def check(name, ok, detail=""):
    if ok:
        print("OK", name, flush=True)
    else:
        failures.append(name)
        print("FAIL", name + ":", detail, flush=True)


async def main():
    client = await aiozmq.rpc.connect_rpc(connect=sys.argv[1], timeout=10)
    r = await client.call.add(1, 2)
    check("add", r == 3, repr(r))
    r = await client.call.add(1.5, b=2)
    check("add_float", r == 3.5, repr(r))
    r = await client.call.math.mul(a=6, b=7)
    check("math.mul", r == 42, repr(r))
    r = await client.call.upper("héllo")
    check("upper", r == "HÉLLO", repr(r))
    r = await client.call.echo({"k": [1, None, b"\x00\xff"]})
    check("echo", r == {"k": (1, None, b"\x00\xff")}, repr(r))
    r = await client.call.sleep(0.01)
    check("sleep", r is None, repr(r))
    try:
        await client.call.nope()
        check("not_found", False, "no error")
    except aiozmq.rpc.NotFoundError as e:
        check("not_found", e.args == ("nope",), repr(e))
    try:
        await client.call.fail("boom")
        check("fail", False, "no error")
    except ValueError as e:
        check("fail", e.args == ("boom",), repr(e))
    client.close()
    await client.wait_closed()
    print("DONE", flush=True)
    sys.exit(1 if failures else 0)


asyncio.run(main())
