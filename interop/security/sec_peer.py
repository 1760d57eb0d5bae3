#!/usr/bin/env python3
"""A libzmq (pyzmq) peer with PLAIN/CURVE security for aiozmq's security interop tests.

Usage:
    sec_peer.py TYPE [options]

TYPE is a socket type name (REQ, REP, DEALER, ROUTER, PUB, SUB, ...).

Options:
    --bind EP / --connect EP        (repeatable) e.g. --bind tcp://127.0.0.1:0
    --curve-server SECRET           CURVE server with this secret key (Z85)
    --curve-client SERVER PUB SEC   CURVE client: server public key, our key pair (Z85)
    --plain-server                  PLAIN server
    --plain-client USER PASS        PLAIN client
    --allow-curve KEY               (repeatable) ZAP: CURVE client keys allowed (Z85);
                                    without any, every CURVE client is allowed
    --password USER:PASS            (repeatable) ZAP: PLAIN users
    --zap-no-user-id                ZAP: accept with an empty user id (by default the
                                    user id is the CURVE key as Z85 or the PLAIN user)
    --subscribe PREFIX              SUB: ZMQ_SUBSCRIBE (text); XSUB: sends the message
                                    \\x01PREFIX once bound/connected
    --identity ID                   ZMQ_ROUTING_ID
    --timeout S                     every wait gives up after S seconds (default 10)

A server role (--curve-server, --plain-server) runs a ZAP handler on
inproc://zeromq.zap.01 that checks --allow-curve / --password and records every request.
The socket is always monitored.

Commands, one per line on stdin:
    send SPEC...          send one message; SPEC: text:STRING, hex:HEX, size:N (N bytes,
                          byte j = j % 251) or empty:
    trysend SPEC...       send one message without waiting; print SENT, or AGAIN when
                          it cannot be queued now
    recv                  receive one message and print it
    echo                  receive one message, print it, send it back unchanged
    none                  print NONE when no message is waiting right now (else fail)
    sync TEXT             receive until a message whose first frame is TEXT (anything
                          else fails), print SYNCED; later receives skip such messages
    publish TEXT          send TEXT every 10 ms until the line "stop" arrives, then print
                          STOPPED (a subscriber has joined once it saw TEXT)
    event NAME[,NAME...]  wait for a monitor event with one of these names (e.g.
                          HANDSHAKE_FAILED_AUTH); print EVENT NAME VALUE
    zap                   print ZAP MECHANISM CRED_HEX... for every ZAP request so far,
                          then ZAPEND
    quit                  close everything, print BYE and exit 0

Output, one line each: READY ENDPOINT... once bound/connected; {"frames": [...]} for a
received message, each frame as "hex" or, when longer than 4096 bytes and equal to the
size: pattern, "size:N". Exit status 2 with a message on stderr on timeout, 1 on any
other error.
"""

import json
import os
import select
import struct
import sys
import threading
import time

import zmq
import zmq.utils.z85

PATTERN = bytes(range(251))


def pattern(n):
    return (PATTERN * (n // 251 + 1))[:n]


def frame_from_spec(spec):
    kind, _, value = spec.partition(":")
    if kind == "text":
        return value.encode()
    if kind == "hex":
        return bytes.fromhex(value)
    if kind == "size":
        return pattern(int(value))
    if kind == "empty":
        return b""
    raise SystemExit(f"sec_peer.py: bad frame spec {spec!r}")


def show_frame(f):
    if len(f) > 4096 and f == pattern(len(f)):
        return f"size:{len(f)}"
    return f.hex()


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Timeout(Exception):
    pass


class Lines:
    """Unbuffered line reader on stdin, so that select() sees every pending byte.

    While it waits, it runs the socket's pending libzmq commands whenever the socket's
    ZMQ_FD signals some: libzmq runs them only inside a call on the socket, and a bound
    socket attaches a new connection's pipe in one of them (a bound SUB, for example,
    sends its subscriptions only then)."""

    def __init__(self, sock):
        self.buf = b""
        self.sock = sock
        self.sock_fd = sock.getsockopt(zmq.FD)

    def read(self, timeout=None):
        """The next line, or None when none arrived within `timeout` (None: wait)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            r, _, _ = select.select([0, self.sock_fd], [], [], left)
            if not r:
                return None
            if self.sock_fd in r:
                # Runs the pending commands and re-arms the edge-triggered ZMQ_FD.
                self.sock.getsockopt(zmq.EVENTS)
            if 0 in r:
                chunk = os.read(0, 65536)
                if not chunk:
                    return "quit"
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode().strip()


EVENT_NAMES = {
    getattr(zmq, n): n[len("EVENT_") :]
    for n in dir(zmq)
    if n.startswith("EVENT_") and n not in ("EVENT_ALL", "EVENT_ALL_V1", "EVENT_ALL_V2")
}


def zap_handler(ctx, allowed_keys, passwords, user_ids, log, started):
    zap = ctx.socket(zmq.REP)
    zap.linger = 0
    zap.bind("inproc://zeromq.zap.01")
    started.set()
    try:
        while True:
            msg = zap.recv_multipart()
            version, request_id, _domain, _address, _identity, mechanism = msg[:6]
            creds = msg[6:]
            log.append((mechanism.decode(), [c.hex() for c in creds]))
            ok, user = False, b""
            if mechanism == b"CURVE" and len(creds) == 1:
                key = zmq.utils.z85.encode(creds[0])
                ok = not allowed_keys or key in allowed_keys
                user = key
            elif mechanism == b"PLAIN" and len(creds) == 2:
                ok = passwords.get(creds[0]) == creds[1]
                user = creds[0]
            elif mechanism == b"NULL":
                ok = True
            if ok:
                if not user_ids:
                    user = b""
                reply = [version, request_id, b"200", b"OK", user, b""]
            else:
                reply = [version, request_id, b"400", b"denied", b"", b""]
            zap.send_multipart(reply)
    except zmq.ContextTerminated:
        pass
    finally:
        zap.close()


def parse_args(argv):
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    o = {
        "type": argv[0].upper(),
        "bind": [],
        "connect": [],
        "curve_server": None,
        "curve_client": None,
        "plain_server": False,
        "plain_client": None,
        "allow_curve": [],
        "passwords": {},
        "user_ids": True,
        "subscribe": [],
        "identity": None,
        "timeout": 10.0,
    }
    args = argv[1:]
    i = 0

    def take(n=1):
        nonlocal i
        if i + n > len(args):
            raise SystemExit(f"sec_peer.py: missing value after {args[i - 1]}")
        v = args[i : i + n]
        i += n
        return v if n > 1 else v[0]

    while i < len(args):
        a = take()
        if a in ("--bind", "--connect"):
            o[a[2:]].append(take())
        elif a == "--curve-server":
            o["curve_server"] = take()
        elif a == "--curve-client":
            o["curve_client"] = take(3)
        elif a == "--plain-server":
            o["plain_server"] = True
        elif a == "--plain-client":
            o["plain_client"] = take(2)
        elif a == "--allow-curve":
            o["allow_curve"].append(take().encode())
        elif a == "--password":
            user, _, pw = take().partition(":")
            o["passwords"][user.encode()] = pw.encode()
        elif a == "--zap-no-user-id":
            o["user_ids"] = False
        elif a == "--subscribe":
            o["subscribe"].append(take().encode())
        elif a == "--identity":
            o["identity"] = take().encode()
        elif a == "--timeout":
            o["timeout"] = float(take())
        else:
            raise SystemExit(f"sec_peer.py: unknown argument {a!r}\n{__doc__}")
    return o


def main(argv):
    o = parse_args(argv)
    timeout = o["timeout"]
    ctx = zmq.Context()
    zap_log = []
    if o["curve_server"] or o["plain_server"]:
        started = threading.Event()
        t = threading.Thread(
            target=zap_handler,
            args=(ctx, o["allow_curve"], o["passwords"], o["user_ids"], zap_log, started),
            daemon=True,
        )
        t.start()
        if not started.wait(timeout):
            raise SystemExit("sec_peer.py: the ZAP handler did not start")

    s = ctx.socket(getattr(zmq, o["type"]))
    s.rcvtimeo = int(timeout * 1000)
    s.sndtimeo = int(timeout * 1000)
    s.linger = 1000
    # A refused client must not retry during the test.
    s.reconnect_ivl = 60000
    if o["identity"] is not None:
        s.setsockopt(zmq.ROUTING_ID, o["identity"])
    if o["curve_server"]:
        s.curve_server = True
        s.curve_secretkey = o["curve_server"].encode()
    if o["curve_client"]:
        server, public, secret = o["curve_client"]
        s.curve_serverkey = server.encode()
        s.curve_publickey = public.encode()
        s.curve_secretkey = secret.encode()
    if o["plain_server"]:
        s.plain_server = True
    if o["plain_client"]:
        s.plain_username = o["plain_client"][0].encode()
        s.plain_password = o["plain_client"][1].encode()
    if o["subscribe"] and o["type"] not in ("SUB", "XSUB"):
        raise SystemExit("sec_peer.py: --subscribe is for SUB and XSUB sockets")
    if o["type"] == "SUB":
        for p in o["subscribe"]:
            s.setsockopt(zmq.SUBSCRIBE, p)
    mon = s.get_monitor_socket()
    endpoints = []
    for ep in o["bind"]:
        s.bind(ep)
        endpoints.append(s.getsockopt_string(zmq.LAST_ENDPOINT))
    for ep in o["connect"]:
        s.connect(ep)
        endpoints.append(ep)
    if o["type"] == "XSUB":
        # Sent to every publisher, and to each one that connects later.
        for p in o["subscribe"]:
            s.send(b"\x01" + p)
    emit("READY " + " ".join(endpoints))

    lines = Lines(s)
    skip = None
    seen_events = []

    def recv():
        while True:
            try:
                frames = s.recv_multipart()
            except zmq.Again:
                raise Timeout(f"no message within {timeout}s")
            if skip is not None and frames and frames[0] == skip:
                continue
            return frames

    def show(frames):
        emit(json.dumps({"frames": [show_frame(f) for f in frames]}))

    try:
        while True:
            line = lines.read()
            words = line.split()
            if not words:
                continue
            cmd, rest = words[0], words[1:]
            if cmd == "send":
                s.send_multipart([frame_from_spec(sp) for sp in rest])
            elif cmd == "trysend":
                try:
                    s.send_multipart([frame_from_spec(sp) for sp in rest], zmq.NOBLOCK)
                    emit("SENT")
                except zmq.Again:
                    emit("AGAIN")
            elif cmd == "recv":
                show(recv())
            elif cmd == "echo":
                frames = recv()
                show(frames)
                s.send_multipart(frames)
            elif cmd == "none":
                if s.poll(0, zmq.POLLIN):
                    raise SystemExit(f"sec_peer.py: a message is waiting: {s.recv_multipart()!r}")
                emit("NONE")
            elif cmd == "sync":
                marker = rest[0].encode()
                frames = recv()
                if not frames or frames[0] != marker:
                    raise SystemExit(f"sec_peer.py: sync: unexpected message {frames!r}")
                skip = marker
                emit("SYNCED")
            elif cmd == "publish":
                marker = rest[0].encode()
                deadline = time.monotonic() + timeout
                while True:
                    s.send(marker)
                    stop = lines.read(0.01)
                    if stop == "stop":
                        break
                    if stop is not None:
                        raise SystemExit(f"sec_peer.py: expected stop, got {stop!r}")
                    if time.monotonic() > deadline:
                        raise Timeout(f"publish {rest[0]}: no stop within {timeout}s")
                emit("STOPPED")
            elif cmd == "event":
                names = rest[0].split(",")
                deadline = time.monotonic() + timeout
                while True:
                    hit = [(n, v) for n, v in seen_events if n in names]
                    if hit:
                        seen_events.remove(hit[0])
                        emit(f"EVENT {hit[0][0]} {hit[0][1]}")
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Timeout(f"no {rest[0]} event within {timeout}s; saw {seen_events}")
                    if mon.poll(int(left * 1000) + 1):
                        # libzmq's monitor message: u16 event and u32 value (native
                        # byte order), then the endpoint.
                        frames = mon.recv_multipart()
                        event, value = struct.unpack("=HI", frames[0])
                        seen_events.append((EVENT_NAMES.get(event, str(event)), value))
            elif cmd == "zap":
                for mech, creds in zap_log:
                    emit(" ".join(["ZAP", mech] + creds))
                emit("ZAPEND")
            elif cmd == "quit":
                break
            else:
                raise SystemExit(f"sec_peer.py: unknown command {line!r}")
    except Timeout as e:
        sys.stderr.write(f"sec_peer.py: TIMEOUT: {e}\n")
        ctx.destroy(linger=0)
        return 2
    except BaseException:
        ctx.destroy(linger=0)
        raise
    s.disable_monitor()
    mon.close()
    s.close()
    # The ZAP thread's receive fails with ContextTerminated and closes its socket.
    ctx.term()
    emit("BYE")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
