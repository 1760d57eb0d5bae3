"""What the Python and Rust sides of the RPC interop tests agree on.

The Rust twin of this module is in tests/rpc_interop.rs (service `interop_handler`, values
`make`): keep them in step.
"""

import asyncio
import datetime as dt

import aiozmq.rpc
import msgpack


class CustomError(Exception):
    """Known to both sides' error tables as `interop.CustomError`."""


CustomError.__module__ = "interop"
CustomError.__qualname__ = "CustomError"


class Unknown(Exception):
    """In nobody's error table: becomes GenericError."""


Unknown.__module__ = "interop"
Unknown.__qualname__ = "Unknown"

ERROR_TABLE = {"interop.CustomError": CustomError}


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        if isinstance(other, Point):
            return (self.x, self.y) == (other.x, other.y)
        return NotImplemented

    def __repr__(self):
        return "Point({}, {})".format(self.x, self.y)


TRANSLATION_TABLE = {
    0: (
        Point,
        lambda value: msgpack.packb((value.x, value.y)),
        lambda binary: Point(*msgpack.unpackb(binary)),
    ),
}

UTC = dt.timezone.utc


def make(kind):
    """The date/time values both sides build by name."""
    return {
        "date": dt.date(2024, 2, 29),
        "datetime": dt.datetime(2026, 11, 25, 19, 34, 29, 123456),
        "datetime_utc": dt.datetime(2026, 11, 25, 19, 34, 29, tzinfo=UTC),
        "datetime_tz": dt.datetime(
            2026, 11, 25, 19, 34, 29, tzinfo=dt.timezone(dt.timedelta(hours=3))
        ),
        "datetime_named": dt.datetime(
            2000, 1, 1, 0, 0, 0, 1,
            tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30), "X"),
        ),
        "datetime_fold": dt.datetime(2021, 11, 7, 1, 30, fold=1),
        "time": dt.time(23, 59, 58, 1),
        "time_tz": dt.time(1, 2, 3, tzinfo=UTC),
        "timedelta": dt.timedelta(days=-1, seconds=3, microseconds=7),
        "timezone": dt.timezone(dt.timedelta(hours=5, minutes=45)),
        "timezone_utc": UTC,
    }[kind]


KINDS = [
    "date", "datetime", "datetime_utc", "datetime_tz", "datetime_named", "datetime_fold",
    "time", "time_tz", "timedelta", "timezone", "timezone_utc",
]


def raise_kind(kind, message):
    if kind == "ValueError":
        raise ValueError(message)
    if kind == "KeyError":
        raise KeyError(message)
    if kind == "TypeError":
        raise TypeError(message)
    if kind == "ZeroDivisionError":
        raise ZeroDivisionError(message)
    if kind == "custom":
        raise CustomError(message)
    if kind == "generic":
        raise Unknown(message)
    raise RuntimeError("unknown kind " + repr(kind))


class Sub(aiozmq.rpc.AttrHandler):
    @aiozmq.rpc.method
    def concat(self, a, b="-", c="!"):
        return a + b + c

    @aiozmq.rpc.method
    def kinds(self, *values):
        return tuple(type(v).__name__ for v in values)


class Ns(aiozmq.rpc.AttrHandler):
    def __init__(self):
        self.sub = Sub()

    @aiozmq.rpc.method
    def echo(self, value):
        return value


class Dt(aiozmq.rpc.AttrHandler):
    @aiozmq.rpc.method
    def make(self, kind):
        return make(kind)

    @aiozmq.rpc.method
    def repr(self, value):
        return repr(value)


class PointNs(aiozmq.rpc.AttrHandler):
    @aiozmq.rpc.method
    def swap(self, p):
        return Point(p.y, p.x)


class InteropHandler(aiozmq.rpc.AttrHandler):
    """The request-reply service of the interop tests."""

    def __init__(self, generation=1):
        self._generation = generation
        self.ns = Ns()
        self.dt = Dt()
        self.point = PointNs()

    @aiozmq.rpc.method
    def add(self, a, b=2):
        return a + b

    @aiozmq.rpc.method
    def echo(self, value):
        return value

    @aiozmq.rpc.method
    def fail(self, kind, message):
        raise_kind(kind, message)

    @aiozmq.rpc.method
    async def sleep(self, seconds):
        await asyncio.sleep(seconds)
        return seconds

    @aiozmq.rpc.method
    async def echo_after(self, value, delay):
        await asyncio.sleep(delay)
        return value

    @aiozmq.rpc.method
    def generation(self):
        return self._generation


class Recorder(aiozmq.rpc.AttrHandler):
    """Pipeline/pub-sub service: prints every call as `CALL name args kwargs` in reprs."""

    def __init__(self):
        self.ns = RecorderNs(self)

    def show(self, name, args, kwargs):
        print(
            "CALL", name, repr(tuple(args)), repr(dict(kwargs)), flush=True,
        )

    @aiozmq.rpc.method
    def record(self, *args, **kwargs):
        self.show("record", args, kwargs)

    @aiozmq.rpc.method
    def sync(self, n):
        self.show("sync", (n,), {})

    @aiozmq.rpc.method
    def fail(self, kind, message):
        self.show("fail", (kind, message), {})
        raise_kind(kind, message)


class RecorderNs(aiozmq.rpc.AttrHandler):
    def __init__(self, parent):
        self.parent = parent

    @aiozmq.rpc.method
    def record(self, a, b=2, *, c=3):
        self.parent.show("ns.record", (a, b), {"c": c})
