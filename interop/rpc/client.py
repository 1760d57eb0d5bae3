"""A Python aiozmq RPC client for the interop tests (tests/rpc_interop.rs).

    client.py rpc --connect EP
    client.py basic --connect EP [--curve-serverkey Z85] [--expect-refusal]
    client.py pipeline --connect EP
    client.py pubsub --connect EP

`rpc` runs checks against the Rust server and prints `OK <check>` or `FAIL <check>: why`
for each; before the restart check it prints `PHASE restart` and waits for the server's
generation to change. `pipeline` and `pubsub` send the calls of `ONEWAY_CALLS`, then
`sync(-1)`; `pubsub` first publishes `sync(n)` until it reads `GO` on stdin. All end with
`DONE` and exit 1 if a check failed. `basic` runs a few calls; with --curve-serverkey
the client is a CURVE client of that server key (its own key pair is new; the options
are set through `ZmqTransport.setsockopt` before the connect); with --expect-refusal its
one check is that a call times out (the server refuses the handshake).
"""

import argparse
import asyncio
import sys

import aiozmq.rpc
import zmq

import rpc_common
from rpc_common import CustomError, Point, make

failures = []


def check(name, ok, detail=""):
    if ok:
        print("OK", name, flush=True)
    else:
        failures.append(name)
        print("FAIL", name + ":", detail, flush=True)


async def raises(name, exc_class, coro, args=None):
    try:
        ret = await coro
    except exc_class as exc:
        if args is not None and exc.args != args:
            check(name, False, "args {!r} != {!r}".format(exc.args, args))
        else:
            check(name, True)
        return exc
    except BaseException as exc:  # noqa: B902
        check(name, False, "raised {!r} instead of {}".format(exc, exc_class.__name__))
    else:
        check(name, False, "returned {!r}".format(ret))


async def equal(name, coro, expected):
    try:
        ret = await coro
    except BaseException as exc:  # noqa: B902
        check(name, False, "raised {!r}".format(exc))
        return
    check(name, ret == expected and type(ret) is type(expected),
          "{!r} != {!r}".format(ret, expected))


async def rpc_checks(client):
    c = client.call
    await equal("add positional", c.add(1, 2), 3)
    await equal("add default", c.add(1), 3)
    await equal("add kwargs", c.add(a=10, b=-4), 6)
    await equal("nested namespace", c.ns.sub.concat("x", c="?"), "x-?")
    await equal("nested echo", c.ns.echo([1, [2, "three"]]), (1, (2, "three")))
    await equal(
        "value kinds",
        c.ns.sub.kinds(b"\x00", "s", [1], {"k": 1}, None, True, 1.5, 7),
        ("bytes", "str", "tuple", "dict", "NoneType", "bool", "float", "int"),
    )
    await equal("echo bytes", c.echo(b"\x00\xff"), b"\x00\xff")
    await equal("echo big int", c.echo(2**64 - 1), 2**64 - 1)
    await equal("echo negative", c.echo(-2**63), -2**63)

    NotFound = aiozmq.rpc.NotFoundError
    Params = aiozmq.rpc.ParametersError
    await raises("not found", NotFound, c.nope(), ("nope",))
    await raises("not found nested", NotFound, c.ns.nope(), ("ns.nope",))
    await raises("not found namespace", NotFound, c.ns.sub(), ("ns.sub",))
    await raises("not found through method", NotFound, c.add.x(), ("add.x",))
    await raises("too many args", Params, c.add(1, 2, 3),
                 ("TypeError('too many positional arguments')",))
    await raises("missing arg", Params, c.add(b=1),
                 ("TypeError(\"missing a required argument: 'a'\")",))
    await raises("unexpected kwarg", Params, c.add(1, z=1),
                 ("TypeError(\"got an unexpected keyword argument 'z'\")",))
    await raises("multiple values", Params, c.add(1, a=1),
                 ("TypeError(\"multiple values for argument 'a'\")",))
    await raises("typed parameter", Params, c.add("x", 1),
                 ("Invalid value for argument 'a': TypeError('expected int, got str')",))
    await raises("ValueError", ValueError, c.fail("ValueError", "bad"), ("bad",))
    await raises("KeyError", KeyError, c.fail("KeyError", "x"), ("x",))
    await raises("TypeError", TypeError, c.fail("TypeError", "t"), ("t",))
    await raises("ZeroDivisionError", ZeroDivisionError,
                 c.fail("ZeroDivisionError", "z"), ("z",))
    exc = await raises("custom error table", CustomError, c.fail("custom", "mine"), ("mine",))
    exc = await raises("generic error", aiozmq.rpc.GenericError, c.fail("generic", "g"))
    if exc is not None:
        check("generic error fields",
              exc.exc_type == "interop.Unknown" and exc.arguments == ("g",)
              and exc.exc_repr == "Unknown('g')",
              repr((exc.exc_type, exc.arguments, exc.exc_repr)))

    for kind in rpc_common.KINDS:
        v = make(kind)
        await equal("datetime make " + kind, c.dt.make(kind), v)
        await equal("datetime repr " + kind, c.dt.repr(v), repr(v))
        await equal("datetime echo " + kind, c.echo(v), v)
    made = await c.dt.make("datetime_fold")
    check("datetime fold", made.fold == 1, repr(made))
    await equal("custom translator", c.point.swap(Point(1, 2)), Point(2, 1))

    await raises("client timeout", asyncio.TimeoutError,
                 client.with_timeout(0.2).call.sleep(1.0))
    await equal("after a timeout", c.add(2, 2), 4)
    await raises("server timeout", asyncio.TimeoutError, c.sleep(5.0))

    n = 100
    delays = [((i * 37) % 10) / 200 for i in range(n)]
    results = await asyncio.gather(*(c.echo_after(i, d) for i, d in enumerate(delays)))
    check("100 concurrent calls", list(results) == list(range(n)), repr(results))

    first = await c.generation()
    print("PHASE restart", flush=True)
    for _ in range(200):
        try:
            gen = await client.with_timeout(0.5).call.generation()
        except asyncio.TimeoutError:
            continue
        if gen != first:
            break
        await asyncio.sleep(0.05)
    else:
        gen = first
    check("server restart", gen == first + 1, "generation {} after {}".format(gen, first))
    await equal("after restart", c.add(5), 7)


async def basic_checks(client):
    c = client.call
    await equal("add", c.add(1, 2), 3)
    await equal("kwargs", c.add(a=40, b=2), 42)
    await equal("nested namespace", c.ns.sub.concat("x", c="?"), "x-?")
    await equal("echo bytes", c.echo(b"\x00\xff"), b"\x00\xff")
    await raises("ValueError", ValueError, c.fail("ValueError", "bad"), ("bad",))
    await raises("not found", aiozmq.rpc.NotFoundError, c.nope(), ("nope",))


ONEWAY_CALLS = [
    ("record", (1, "a", b"\x00", None, True, 1.5, [1, 2], {"k": "v"}), {}),
    ("record", (), {"key": "value", "n": -7}),
    ("ns.record", (1,), {"c": 5}),
    ("record", (make("datetime_tz"), make("timedelta"), make("date"),
                make("time_tz"), make("timezone")), {}),
    ("record", (Point(1, 2),), {}),
    ("fail", ("ValueError", "boom"), {}),
    ("nope", (), {}),
]


def method_call(proxy, name):
    for part in name.split("."):
        proxy = getattr(proxy, part)
    return proxy


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["rpc", "basic", "pipeline", "pubsub"])
    p.add_argument("--connect", required=True)
    p.add_argument("--topic", default="topic")
    p.add_argument("--curve-serverkey")
    p.add_argument("--expect-refusal", action="store_true")
    a = p.parse_args()
    table = rpc_common.TRANSLATION_TABLE
    if a.mode == "basic":
        client = await aiozmq.rpc.connect_rpc(
            translation_table=table, error_table=rpc_common.ERROR_TABLE, timeout=10,
        )
        if a.curve_serverkey is not None:
            public, secret = zmq.curve_keypair()
            t = client.transport
            t.setsockopt(zmq.CURVE_SERVERKEY, a.curve_serverkey.encode())
            t.setsockopt(zmq.CURVE_PUBLICKEY, public)
            t.setsockopt(zmq.CURVE_SECRETKEY, secret)
        if a.expect_refusal:
            # The refused call stays queued: closing must not wait for it.
            client.transport.setsockopt(zmq.LINGER, 0)
        await client.transport.connect(a.connect)
        if a.expect_refusal:
            await raises("refused", asyncio.TimeoutError,
                         client.with_timeout(1.0).call.add(1, 2))
        else:
            await basic_checks(client)
    elif a.mode == "rpc":
        client = await aiozmq.rpc.connect_rpc(
            connect=a.connect, translation_table=table,
            error_table=rpc_common.ERROR_TABLE, timeout=10,
        )
        await rpc_checks(client)
    elif a.mode == "pipeline":
        client = await aiozmq.rpc.connect_pipeline(connect=a.connect, translation_table=table)
        for name, args, kwargs in ONEWAY_CALLS:
            await method_call(client.notify, name)(*args, **kwargs)
        await client.notify.sync(-1)
    else:
        client = await aiozmq.rpc.connect_pubsub(connect=a.connect, translation_table=table)
        loop = asyncio.get_running_loop()
        go = loop.run_in_executor(None, sys.stdin.readline)
        n = 0
        while not go.done():
            await client.publish(a.topic).sync(n)
            n += 1
            await asyncio.sleep(0.05)
        await client.publish("other").record("not subscribed")
        for name, args, kwargs in ONEWAY_CALLS:
            await method_call(client.publish(a.topic), name)(*args, **kwargs)
        await client.publish(a.topic + "X").record("prefix match")
        await client.publish(a.topic).sync(-1)
    # Give queued messages time to leave before closing.
    await asyncio.sleep(0.2)
    client.close()
    await client.wait_closed()
    print("DONE", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    asyncio.run(main())
