#!/usr/bin/env python3
"""A generic libzmq (pyzmq) peer for aiozmq's interop tests.

Usage:
    peer.py TYPE [options] ACTION...

TYPE is a socket type name (REQ, REP, DEALER, ROUTER, PUB, SUB, XPUB, XSUB, PUSH, PULL,
PAIR, ...).

Options:
    --bind EP / --connect EP   (repeatable) e.g. --bind tcp://127.0.0.1:* or :0
    --sockets K                open K sockets of TYPE (default 1), each bound/connected
    --identity ID              routing id; "{k}" in it is replaced by the socket index
    --sndhwm N --rcvhwm N --maxmsgsize N --linger MS (default 10000) --router-mandatory
    --sndbuf N --rcvbuf N      ZMQ_SNDBUF / ZMQ_RCVBUF (kernel buffers in bytes)
    --timeout S                every send/receive gives up after S seconds (default 10)
    --subscribe PREFIX         (repeatable) SUB: ZMQ_SUBSCRIBE; XSUB: sends the message
                               \x01PREFIX once bound/connected. PREFIX is text, or hex:HEX
    --xpub-verbose             XPUB: ZMQ_XPUB_VERBOSE (every subscribe is passed up)
    --heartbeat-ivl MS --heartbeat-timeout MS --heartbeat-ttl MS   ZMQ_HEARTBEAT_*
    --interval MS              pause MS between the messages of a send action (paced
                               publishing: a PUB keeps sending while subscribers join)
    --monitor                  count the sockets' monitor events (see the events action)
    --sockopt NAME=INT         (repeatable) any integer option by pyzmq's name, e.g.
                               IPV6=1, set before binding and connecting
    --metadata X-NAME:VALUE    (repeatable) ZMQ_METADATA: a property of the handshake

Actions, run in order:
    send N SPEC...   send N messages whose frames are SPECs, from every socket
    recv N           receive N messages on every socket, printing each as a JSON line
    props N NAMES    as recv, and each JSON line also has "props": {NAME: VALUE or null},
                     the message's metadata properties (zmq_msg_gets) for NAMES, a
                     comma-separated list (e.g. X-Name,Socket-Type)
    echo N           receive N messages on every socket, print each, send it back unchanged
    req N SPEC...    N times on every socket: send SPECs, receive the reply, print it
    count N EVERY MS receive up to N messages on socket 0 without printing them, pausing
                     MS after every EVERY messages (a slow reader); stops at N or when no
                     message comes within --timeout; prints COUNT GOT (never a timeout)
    subs N           XPUB: receive N subscription messages on every socket; print each as
                     SUBSCRIBED HEX (a single frame \x01TOPIC; HEX is TOPIC) or
                     UNSUBSCRIBED HEX (\x00TOPIC); any other message as a JSON line
    sync TEXT        receive until a message whose first frame is TEXT arrives (others are
                     an error), print SYNCED; later recv actions skip such messages (the
                     other side repeats TEXT until it sees SYNCED: no slow-joiner race)
    subscribe PREFIX / unsubscribe PREFIX   SUB: set/unset the option; XSUB: send
                     \x01PREFIX / \x00PREFIX on every socket
    wait MS          pause (e.g. let heartbeats run), printing nothing
    pid              print PID N (this process, e.g. for SIGSTOP)
    events           print EVENTS NAME=COUNT... (sorted; needs --monitor): the monitor
                     events of all sockets so far
    await-event NAME wait (up to --timeout) for socket 0's next monitor event NAME (e.g.
                     DISCONNECTED; needs --monitor), print EVENT NAME; the events passed
                     on the way count for the events action too
    fill MS SPEC...  send messages of SPECs on socket 0 until one send does not complete
                     within MS (every peer at its HWM); print FILLED N (N sent, the one
                     that timed out not counted)
    hold             wait for a line on stdin (the reader stays idle until the test says)
    seq N            receive N messages on socket 0 whose first frame is the message's
                     index (0, 1, ...); print SEQ N (anything else is an error). With N
                     given as "stdin", N is read from a line on stdin first: the reader
                     stays idle until the test writes it

A frame SPEC is text:STRING ("{i}" = message index, "{k}" = socket index), hex:HEX,
size:N (N bytes with byte j = j % 251) or empty:.

Output on stdout, one line each:
    READY ENDPOINT...                       once every socket is bound/connected
    {"socket": K, "frames": ["hex", ...]}   each received message
    SUBSCRIBED HEX / UNSUBSCRIBED HEX       (subs) each subscription message
    SYNCED / PID N / EVENTS ...             (sync, pid, events)
    DONE                                    after the last action
Exit status 0 on success; 2 with a message on stderr on timeout; 1 on any other error.
"""

import json
import os
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message


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


def prefix_from_arg(arg):
    if arg.startswith("hex:"):
        return bytes.fromhex(arg[4:])
    return arg.encode()


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
        "sndbuf": None,
        "rcvbuf": None,
        "linger": 10000,
        "router_mandatory": False,
        "timeout": 10.0,
        "subscribe": [],
        "xpub_verbose": False,
        "heartbeat_ivl": None,
        "heartbeat_timeout": None,
        "heartbeat_ttl": None,
        "interval": 0,
        "monitor": False,
        "sockopt": [],
        "metadata": [],
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
        elif a in (
            "--sockets",
            "--sndhwm",
            "--rcvhwm",
            "--maxmsgsize",
            "--linger",
            "--heartbeat-ivl",
            "--heartbeat-timeout",
            "--heartbeat-ttl",
            "--interval",
            "--sndbuf",
            "--rcvbuf",
        ):
            opts[a[2:].replace("-", "_")] = int(take())
        elif a == "--subscribe":
            opts["subscribe"].append(prefix_from_arg(take()))
        elif a == "--xpub-verbose":
            opts["xpub_verbose"] = True
        elif a == "--monitor":
            opts["monitor"] = True
        elif a == "--sockopt":
            name, _, value = take().partition("=")
            opts["sockopt"].append((getattr(zmq, name.upper()), int(value)))
        elif a == "--metadata":
            opts["metadata"].append(take())
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
        elif a in ("subs", "wait"):
            actions.append((a, int(take()), []))
        elif a == "seq":
            n = take()
            actions.append((a, None if n == "stdin" else int(n), []))
        elif a == "fill":
            ms = int(take())
            specs = []
            while pos < len(args) and ":" in args[pos]:
                specs.append(take())
            if not specs:
                raise SystemExit("peer.py: fill needs at least one frame spec")
            actions.append((a, ms, specs))
        elif a == "await-event":
            actions.append((a, 0, [take().upper()]))
        elif a == "count":
            actions.append((a, int(take()), [int(take()), int(take())]))
        elif a == "props":
            actions.append((a, int(take()), take().split(",")))
        elif a in ("sync", "subscribe", "unsubscribe"):
            actions.append((a, 0, [take()]))
        elif a in ("pid", "events", "hold"):
            actions.append((a, 0, []))
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


def receive_all(socks, n, timeout, on_message, what, skip=None, copy=True):
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
            frames = s.recv_multipart(zmq.NOBLOCK, copy=copy)
            if skip is not None and frames and bytes(frames[0]) == skip:
                continue
            if remaining[k] == 0:
                raise SystemExit(f"peer.py: {what}: socket {k} got an extra message {frames!r}")
            remaining[k] -= 1
            on_message(k, s, frames)


def change_subscription(sock, stype, prefix, on):
    if stype == zmq.SUB:
        sock.setsockopt(zmq.SUBSCRIBE if on else zmq.UNSUBSCRIBE, prefix)
    elif stype == zmq.XSUB:
        sock.send((b"\x01" if on else b"\x00") + prefix)
    else:
        raise SystemExit("peer.py: subscriptions are for SUB and XSUB sockets")


def print_subscription(k, s, frames):
    if len(frames) == 1 and frames[0][:1] == b"\x01":
        emit(("SUBSCRIBED " + frames[0][1:].hex()).rstrip())
    elif len(frames) == 1 and frames[0][:1] == b"\x00":
        emit(("UNSUBSCRIBED " + frames[0][1:].hex()).rstrip())
    else:
        print_message(k, frames)


EVENT_NAMES = {
    getattr(zmq, n): n[len("EVENT_") :]
    for n in dir(zmq)
    if n.startswith("EVENT_") and n not in ("EVENT_ALL", "EVENT_ALL_V1", "EVENT_ALL_V2")
}


def main(argv):
    opts, actions = parse_args(argv)
    if opts["type"] == "REQ" and any(a == "echo" for a, _, _ in actions):
        raise SystemExit("peer.py: a REQ socket cannot echo (it must send first); use req")
    ctx = zmq.Context()
    socks = []
    monitors = []
    event_counts = {}
    skip = None
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
        for name in ("sndhwm", "rcvhwm", "maxmsgsize", "sndbuf", "rcvbuf"):
            if opts[name] is not None:
                s.setsockopt(getattr(zmq, name.upper()), opts[name])
        if opts["router_mandatory"]:
            s.setsockopt(zmq.ROUTER_MANDATORY, 1)
        for option, value in opts["sockopt"]:
            s.setsockopt(option, value)
        if opts["xpub_verbose"]:
            s.setsockopt(zmq.XPUB_VERBOSE, 1)
        for entry in opts["metadata"]:
            s.setsockopt(zmq.METADATA, entry.encode())
        for name in ("heartbeat_ivl", "heartbeat_timeout", "heartbeat_ttl"):
            if opts[name] is not None:
                s.setsockopt(getattr(zmq, name.upper()), opts[name])
        if stype == zmq.SUB:
            for prefix in opts["subscribe"]:
                s.setsockopt(zmq.SUBSCRIBE, prefix)
        elif opts["subscribe"] and stype != zmq.XSUB:
            raise SystemExit("peer.py: --subscribe is for SUB and XSUB sockets")
        if opts["monitor"]:
            monitors.append(s.get_monitor_socket())
        for ep in opts["bind"]:
            s.bind(ep)
            endpoints.append(s.getsockopt_string(zmq.LAST_ENDPOINT))
        for ep in opts["connect"]:
            s.connect(ep)
            if k == 0:
                endpoints.append(ep)
        if stype == zmq.XSUB:
            for prefix in opts["subscribe"]:
                s.send(b"\x01" + prefix)
        socks.append(s)
    emit("READY " + " ".join(endpoints))

    try:
        for action, n, specs in actions:
            what = f"{opts['type']} {action} {n}"
            if action == "send":
                for k, s in enumerate(socks):
                    for i in range(n):
                        if i > 0 and opts["interval"]:
                            time.sleep(opts["interval"] / 1000)
                        frames = [frame_from_spec(sp, i, k) for sp in specs]
                        send(s, frames, time.monotonic() + timeout, what)
            elif action == "recv":
                receive_all(
                    socks, n, timeout, lambda k, s, f: print_message(k, f), what, skip
                )
            elif action == "props":

                def print_props(k, s, frames):
                    props = {}
                    for name in specs:
                        try:
                            props[name] = frames[0].get(name)
                        except zmq.ZMQError:
                            props[name] = None
                    line = {"socket": k, "frames": [f.bytes.hex() for f in frames]}
                    line["props"] = props
                    emit(json.dumps(line))

                receive_all(socks, n, timeout, print_props, what, skip, copy=False)
            elif action == "subs":
                receive_all(socks, n, timeout, print_subscription, what)
            elif action == "count":
                every, pause_ms = specs
                got = 0
                while got < n:
                    if not socks[0].poll(timeout * 1000):
                        break
                    socks[0].recv_multipart(zmq.NOBLOCK)
                    got += 1
                    if every and got % every == 0:
                        time.sleep(pause_ms / 1000)
                emit(f"COUNT {got}")
            elif action == "sync":
                marker = specs[0].encode()

                def synced(k, s, frames):
                    if not frames or frames[0] != marker:
                        raise SystemExit(f"peer.py: {what}: unexpected message {frames!r}")

                receive_all(socks, 1, timeout, synced, what)
                skip = marker
                emit("SYNCED")
            elif action in ("subscribe", "unsubscribe"):
                prefix = prefix_from_arg(specs[0])
                for s in socks:
                    change_subscription(s, stype, prefix, action == "subscribe")
            elif action == "wait":
                time.sleep(n / 1000)
            elif action == "pid":
                emit(f"PID {os.getpid()}")
            elif action == "events":
                if not opts["monitor"]:
                    raise SystemExit("peer.py: the events action needs --monitor")
                for m in monitors:
                    while m.poll(0):
                        ev = recv_monitor_message(m)
                        name = EVENT_NAMES.get(ev["event"], str(ev["event"]))
                        event_counts[name] = event_counts.get(name, 0) + 1
                counts = " ".join(f"{n}={c}" for n, c in sorted(event_counts.items()))
                emit(("EVENTS " + counts).rstrip())
            elif action == "await-event":
                if not opts["monitor"]:
                    raise SystemExit("peer.py: the await-event action needs --monitor")
                want = specs[0]
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or not monitors[0].poll(left * 1000):
                        raise Timeout(f"{what}: no {want} event within {timeout}s")
                    ev = recv_monitor_message(monitors[0])
                    name = EVENT_NAMES.get(ev["event"], str(ev["event"]))
                    event_counts[name] = event_counts.get(name, 0) + 1
                    if name == want:
                        break
                emit("EVENT " + want)
            elif action == "fill":
                sent = 0
                socks[0].setsockopt(zmq.SNDTIMEO, n)
                while True:
                    frames = [frame_from_spec(sp, sent, 0) for sp in specs]
                    try:
                        socks[0].send_multipart(frames)
                    except zmq.Again:
                        break
                    sent += 1
                socks[0].setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
                emit(f"FILLED {sent}")
            elif action == "hold":
                if not sys.stdin.readline():
                    raise SystemExit("peer.py: hold: stdin closed")
            elif action == "seq":
                if n is None:
                    line = sys.stdin.readline()
                    if not line.strip():
                        raise SystemExit("peer.py: seq stdin: no count on stdin")
                    n = int(line)
                    what = f"{opts['type']} seq {n}"
                for i in range(n):
                    if not socks[0].poll(timeout * 1000):
                        raise Timeout(f"{what}: message {i} of {n} not within {timeout}s")
                    frames = socks[0].recv_multipart(zmq.NOBLOCK)
                    if not frames or frames[0] != str(i).encode():
                        head = frames[0][:40] if frames else None
                        raise SystemExit(
                            f"peer.py: seq: message {i} has first frame {head!r}"
                        )
                emit(f"SEQ {n}")
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
        if opts["monitor"]:
            s.disable_monitor()
        s.close()
    for m in monitors:
        m.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
