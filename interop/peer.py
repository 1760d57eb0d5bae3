#!/usr/bin/env python3
"""A generic libzmq (pyzmq) peer for aiozmq's interop tests.

Usage:
    peer.py TYPE [options] ACTION...

TYPE is a socket type name (REQ, REP, DEALER, ROUTER, PUB, SUB, PUSH, PULL, PAIR, ...).

Options:
    --bind EP / --connect EP   (repeatable) e.g. --bind tcp://127.0.0.1:* or :0
    --sockets K                open K sockets of TYPE (default 1), each bound/connected
    --identity ID              routing id; "{k}" in it is replaced by the socket index
    --sndhwm N --rcvhwm N --maxmsgsize N --linger MS (default 10000) --router-mandatory
    --timeout S                every send/receive gives up after S seconds (default 10)

Actions, run in order:
    send N SPEC...   send N messages whose frames are SPECs, from every socket
    recv N           receive N messages on every socket, printing each as a JSON line
    echo N           receive N messages on every socket, print each, send it back unchanged
    req N SPEC...    N times on every socket: send SPECs, receive the reply, print it

A frame SPEC is text:STRING ("{i}" = message index, "{k}" = socket index), hex:HEX,
size:N (N bytes with byte j = j % 251) or empty:.

Output on stdout, one line each:
    READY ENDPOINT...                       once every socket is bound/connected
    {"socket": K, "frames": ["hex", ...]}   each received message
    DONE                                    after the last action
Exit status 0 on success; 2 with a message on stderr on timeout; 1 on any other error.
"""

import json
import sys
import time

import zmq


class Timeout(Exception):
    pass


def frame_from_spec(spec, i, k):
    kind, _, value = spec.partition(":")
    if kind == "text":
        return value.replace("{i}", str(i)).replace("{k}", str(k)).encode()
    if kind == "hex":
        return bytes.fromhex(value)
    if kind == "size":
        n = int(value)
        pattern = bytes(range(251))
        return (pattern * (n // 251 + 1))[:n]
    if kind == "empty":
        return b""
    raise SystemExit(f"peer.py: bad frame spec {spec!r}")


def parse_args(argv):
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    opts = {
        "type": argv[0].upper(),
        "bind": [],
        "connect": [],
        "sockets": 1,
        "identity": None,
        "sndhwm": None,
        "rcvhwm": None,
        "maxmsgsize": None,
        "linger": 10000,
        "router_mandatory": False,
        "timeout": 10.0,
    }
    actions = []
    args = argv[1:]
    pos = 0

    def take():
        nonlocal pos
        if pos >= len(args):
            raise SystemExit(f"peer.py: missing value after {args[pos - 1]}")
        pos += 1
        return args[pos - 1]

    while pos < len(args):
        a = take()
        if a in ("--bind", "--connect"):
            opts[a[2:]].append(take())
        elif a == "--identity":
            opts["identity"] = take()
        elif a in ("--sockets", "--sndhwm", "--rcvhwm", "--maxmsgsize", "--linger"):
            opts[a[2:]] = int(take())
        elif a == "--timeout":
            opts["timeout"] = float(take())
        elif a == "--router-mandatory":
            opts["router_mandatory"] = True
        elif a in ("send", "recv", "echo", "req"):
            n = int(take())
            specs = []
            while a in ("send", "req") and pos < len(args) and ":" in args[pos]:
                specs.append(take())
            if a in ("send", "req") and not specs:
                raise SystemExit(f"peer.py: {a} needs at least one frame spec")
            actions.append((a, n, specs))
        else:
            raise SystemExit(f"peer.py: unknown argument {a!r}\n{__doc__}")
    if not actions:
        raise SystemExit("peer.py: no action given")
    return opts, actions


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def print_message(k, frames):
    emit(json.dumps({"socket": k, "frames": [f.hex() for f in frames]}))


def send(sock, frames, deadline, what):
    while True:
        try:
            sock.send_multipart(frames)
            return
        except zmq.Again:
            raise Timeout(f"{what}: send timed out")
        except zmq.ZMQError as e:
            # A ROUTER_MANDATORY ROUTER does not know the peer yet: retry until the deadline.
            if e.errno != zmq.EHOSTUNREACH or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def receive_all(socks, n, timeout, on_message, what):
    remaining = {k: n for k in range(len(socks))}
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    index = {s: k for k, s in enumerate(socks)}
    while any(remaining.values()):
        ready = dict(poller.poll(timeout * 1000))
        if not ready:
            left = {k: r for k, r in remaining.items() if r}
            raise Timeout(f"{what}: no message within {timeout}s; still expected {left}")
        for s in ready:
            k = index[s]
            frames = s.recv_multipart(zmq.NOBLOCK)
            if remaining[k] == 0:
                raise SystemExit(f"peer.py: {what}: socket {k} got an extra message {frames!r}")
            remaining[k] -= 1
            on_message(k, s, frames)


def main(argv):
    opts, actions = parse_args(argv)
    if opts["type"] == "REQ" and any(a == "echo" for a, _, _ in actions):
        raise SystemExit("peer.py: a REQ socket cannot echo (it must send first); use req")
    ctx = zmq.Context()
    socks = []
    endpoints = []
    timeout = opts["timeout"]
    stype = getattr(zmq, opts["type"])
    for k in range(opts["sockets"]):
        s = ctx.socket(stype)
        s.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
        s.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
        s.setsockopt(zmq.LINGER, opts["linger"])
        if opts["identity"] is not None:
            s.setsockopt(zmq.IDENTITY, opts["identity"].replace("{k}", str(k)).encode())
        for name in ("sndhwm", "rcvhwm", "maxmsgsize"):
            if opts[name] is not None:
                s.setsockopt(getattr(zmq, name.upper()), opts[name])
        if opts["router_mandatory"]:
            s.setsockopt(zmq.ROUTER_MANDATORY, 1)
        for ep in opts["bind"]:
            s.bind(ep)
            endpoints.append(s.getsockopt_string(zmq.LAST_ENDPOINT))
        for ep in opts["connect"]:
            s.connect(ep)
            if k == 0:
                endpoints.append(ep)
        socks.append(s)
    emit("READY " + " ".join(endpoints))

    try:
        for action, n, specs in actions:
            what = f"{opts['type']} {action} {n}"
            if action == "send":
                for k, s in enumerate(socks):
                    for i in range(n):
                        frames = [frame_from_spec(sp, i, k) for sp in specs]
                        send(s, frames, time.monotonic() + timeout, what)
            elif action == "recv":
                receive_all(socks, n, timeout, lambda k, s, f: print_message(k, f), what)
            elif action == "echo":

                def echo(k, s, frames):
                    print_message(k, frames)
                    send(s, frames, time.monotonic() + timeout, what)

                receive_all(socks, n, timeout, echo, what)
            elif action == "req":
                for i in range(n):
                    for k, s in enumerate(socks):
                        frames = [frame_from_spec(sp, i, k) for sp in specs]
                        send(s, frames, time.monotonic() + timeout, what)
                        try:
                            print_message(k, s.recv_multipart())
                        except zmq.Again:
                            raise Timeout(f"{what}: no reply within {timeout}s")
    except Timeout as e:
        sys.stderr.write(f"peer.py: TIMEOUT: {e}\n")
        ctx.destroy(linger=0)
        return 2
    except BaseException:
        ctx.destroy(linger=0)
        raise
    emit("DONE")
    for s in socks:
        s.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
