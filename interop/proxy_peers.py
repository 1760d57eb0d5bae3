#!/usr/bin/env python3
"""libzmq (pyzmq) peers for aiozmq's proxy interop tests (cli/tests/interop_proxy.rs).

Usage:
    proxy_peers.py clients EP SOCKETS ROUNDS PREFIX
        SOCKETS REQ sockets with routing ids PREFIX-0, PREFIX-1, ... connect to EP. In each
        of ROUNDS rounds every socket sends "request I from PREFIX-K" and then every reply
        is awaited; a reply must be exactly [b"ok:" + request].
    proxy_peers.py workers EP SOCKETS TOTAL
        SOCKETS REP sockets connect to EP and answer [b"ok:" + first frame] until TOTAL
        requests were served in all; then prints "SERVED N0 N1 ..." (per socket).
    proxy_peers.py xpub-publisher EP COUNT
        An XPUB connects to EP and waits for the subscription b"\\x01A" ("SUBSCRIBED"),
        sends COUNT times [A, A-i] and [B, B-i], then waits for b"\\x00A" ("UNSUBSCRIBED").
    proxy_peers.py publisher EP
        A PUB connects to EP and sends [A, A-i] and [B, B-i] every 10 ms until killed
        (at most 60 s): a publisher that cannot know when its subscribers are there.
    proxy_peers.py subscriber EP COUNT [--consecutive]
        A SUB connects to EP, subscribes to "A" and receives COUNT messages, each [A, A-i]
        with i increasing (0, 1, 2, ... with --consecutive); then unsubscribes.
    proxy_peers.py control EP COMMAND...
        A REQ connects to EP, sends each COMMAND and prints each reply as a message line.
    proxy_peers.py libzmq-proxy FRONTEND BACKEND CONTROL
        libzmq's own zmq_proxy_steerable, each socket given as TYPE@ENDPOINT (bound);
        prints "ROLE bound ENDPOINT" lines and "proxy running" like `aiozmq proxy`.

Output on stdout, one line each: "READY" once the sockets are connected (not for
libzmq-proxy), message lines {"socket": K, "frames": ["hex", ...]} where stated, "DONE"
at the end. Every wait gives up after 10 s. Exit status 0 on success; 2 with a message on
stderr on timeout; 1 on any other error (a wrong reply, ...).
"""

import json
import sys
import time

import zmq

TIMEOUT = 10.0


class Timeout(Exception):
    pass


class Mismatch(Exception):
    pass


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def print_message(k, frames):
    emit(json.dumps({"socket": k, "frames": [f.hex() for f in frames]}))


def new_socket(ctx, kind):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 5000)
    s.setsockopt(zmq.SNDTIMEO, int(TIMEOUT * 1000))
    s.setsockopt(zmq.RCVTIMEO, int(TIMEOUT * 1000))
    return s


def poll(poller, what):
    ready = dict(poller.poll(TIMEOUT * 1000))
    if not ready:
        raise Timeout(f"{what}: nothing within {TIMEOUT}s")
    return ready


def recv(s, what):
    try:
        return s.recv_multipart()
    except zmq.Again:
        raise Timeout(f"{what}: nothing within {TIMEOUT}s")


def clients(ctx, ep, n, rounds, prefix):
    socks = []
    for k in range(n):
        s = new_socket(ctx, zmq.REQ)
        s.setsockopt(zmq.IDENTITY, f"{prefix}-{k}".encode())
        s.connect(ep)
        socks.append(s)
    emit("READY")
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    index = {s: k for k, s in enumerate(socks)}
    for i in range(rounds):
        requests = {}
        for k, s in enumerate(socks):
            requests[k] = f"request {i} from {prefix}-{k}".encode()
            s.send(requests[k])
        while requests:
            for s in poll(poller, f"replies of round {i}, still {sorted(requests)}"):
                k = index[s]
                reply = s.recv_multipart(zmq.NOBLOCK)
                want = [b"ok:" + requests.pop(k)]
                if reply != want:
                    raise Mismatch(f"{prefix}-{k} round {i}: reply {reply!r}, want {want!r}")


def workers(ctx, ep, n, total):
    socks = []
    for _ in range(n):
        s = new_socket(ctx, zmq.REP)
        s.connect(ep)
        socks.append(s)
    emit("READY")
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    index = {s: k for k, s in enumerate(socks)}
    served = [0] * n
    while sum(served) < total:
        for s in poll(poller, f"requests ({sum(served)} of {total} served)"):
            request = s.recv_multipart(zmq.NOBLOCK)
            s.send(b"ok:" + request[0])
            served[index[s]] += 1
    emit("SERVED " + " ".join(str(x) for x in served))


def xpub_publisher(ctx, ep, count):
    s = new_socket(ctx, zmq.XPUB)
    s.connect(ep)
    emit("READY")
    got = recv(s, "the subscription")
    if got != [b"\x01A"]:
        raise Mismatch(f"expected the subscription [b'\\x01A'], got {got!r}")
    emit("SUBSCRIBED")
    for i in range(count):
        s.send_multipart([b"A", f"A-{i}".encode()])
        s.send_multipart([b"B", f"B-{i}".encode()])
    got = recv(s, "the unsubscription")
    if got != [b"\x00A"]:
        raise Mismatch(f"expected the unsubscription [b'\\x00A'], got {got!r}")
    emit("UNSUBSCRIBED")


def publisher(ctx, ep):
    s = new_socket(ctx, zmq.PUB)
    s.connect(ep)
    emit("READY")
    deadline = time.monotonic() + 60
    i = 0
    while time.monotonic() < deadline:
        s.send_multipart([b"A", f"A-{i}".encode()])
        s.send_multipart([b"B", f"B-{i}".encode()])
        i += 1
        time.sleep(0.01)  # the publishing rate; nothing waits on state here


def subscriber(ctx, ep, count, consecutive):
    s = new_socket(ctx, zmq.SUB)
    s.connect(ep)
    s.setsockopt(zmq.SUBSCRIBE, b"A")
    emit("READY")
    last = -1
    for n in range(count):
        frames = recv(s, f"message {n} of {count}")
        ok = len(frames) == 2 and frames[0] == b"A" and frames[1].startswith(b"A-")
        i = int(frames[1][2:]) if ok else None
        if not ok or i <= last or (consecutive and i != last + 1):
            raise Mismatch(f"message {n}: {frames!r} after A-{last}")
        last = i
    s.setsockopt(zmq.UNSUBSCRIBE, b"A")


def control(ctx, ep, commands):
    s = new_socket(ctx, zmq.REQ)
    s.connect(ep)
    emit("READY")
    for c in commands:
        s.send(c.encode())
        print_message(0, recv(s, f"the reply to {c}"))


def libzmq_proxy(ctx, specs):
    socks = []
    for role, spec in zip(("frontend", "backend", "control"), specs):
        kind, sep, ep = spec.partition("@")
        if not sep:
            raise SystemExit(f"proxy_peers.py: {role} must be TYPE@ENDPOINT, not {spec!r}")
        s = ctx.socket(getattr(zmq, kind.upper()))
        s.setsockopt(zmq.LINGER, 1000)
        s.bind(ep)
        emit(f"{role} bound {s.getsockopt_string(zmq.LAST_ENDPOINT)}")
        socks.append(s)
    emit("proxy running")
    zmq.proxy_steerable(socks[0], socks[1], None, socks[2])


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd, ep, rest = argv[0], argv[1], argv[2:]
    ctx = zmq.Context()
    try:
        if cmd == "clients" and len(rest) == 3:
            clients(ctx, ep, int(rest[0]), int(rest[1]), rest[2])
        elif cmd == "workers" and len(rest) == 2:
            workers(ctx, ep, int(rest[0]), int(rest[1]))
        elif cmd == "xpub-publisher" and len(rest) == 1:
            xpub_publisher(ctx, ep, int(rest[0]))
        elif cmd == "publisher" and not rest:
            publisher(ctx, ep)
        elif cmd == "subscriber" and len(rest) in (1, 2):
            consecutive = rest[1:] == ["--consecutive"]
            if len(rest) == 2 and not consecutive:
                raise SystemExit(f"proxy_peers.py: unknown option {rest[1]!r}")
            subscriber(ctx, ep, int(rest[0]), consecutive)
        elif cmd == "control" and rest:
            control(ctx, ep, rest)
        elif cmd == "libzmq-proxy" and len(rest) == 2:
            libzmq_proxy(ctx, [ep] + rest)
        else:
            raise SystemExit(f"proxy_peers.py: bad arguments {argv!r}\n{__doc__}")
    except Timeout as e:
        sys.stderr.write(f"proxy_peers.py {cmd}: TIMEOUT: {e}\n")
        ctx.destroy(linger=0)
        return 2
    except Mismatch as e:
        sys.stderr.write(f"proxy_peers.py {cmd}: {e}\n")
        ctx.destroy(linger=0)
        return 1
    emit("DONE")
    ctx.destroy(linger=5000)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
