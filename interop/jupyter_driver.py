"""Drives examples/jupyter_kernel.rs as a notebook does, with jupyter_client.

Usage: jupyter_driver.py SCENARIO --kernel-name NAME --log FILE

The kernel is found through its kernelspec (JUPYTER_PATH, set by the caller, holds
kernels/NAME/kernel.json) and started by jupyter_client's KernelManager with its stderr
written to FILE. Each check prints `PASS <name>` when it holds; the first failure raises
(a traceback and a non-zero exit status). `DONE` ends a run in which every check passed.
Every wait has a time limit.

Scenarios:
  notebook   kernel_info, execute (outputs, busy/idle order, execution counter, silent,
             store_history, user_expressions), is_complete, comm_info, comm_open, an
             unknown message type, heartbeat, interrupt, restart, shutdown
  signature  messages with bad signatures or no delimiter, sent raw to the shell port,
             are dropped and logged; the kernel keeps serving
  nokey      an empty key: nothing is signed either way
  orphan     starts the kernel with this process's stderr, prints `KERNEL_PID <pid>` and
             waits on stdin to be killed (the kernel must then exit by itself)
"""

import argparse
import datetime
import hashlib
import hmac
import json
import queue
import subprocess
import sys
import time
import uuid

import zmq
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session

# Each wait for one message or event.
WAIT = 20.0
# How long the kernel may take to exit after a shutdown request.
EXIT_WAIT = 10.0


def check(name, ok, detail=""):
    if not ok:
        raise AssertionError(f"check {name} failed: {detail}")
    print(f"PASS {name}", flush=True)


def parent_id(msg):
    return msg["parent_header"].get("msg_id")


def shell_reply(client, msg_id, what):
    """The shell reply to msg_id (every shell message in between is a failure)."""
    try:
        reply = client.get_shell_msg(timeout=WAIT)
    except queue.Empty:
        raise AssertionError(f"no shell reply to {what} within {WAIT} s") from None
    if parent_id(reply) != msg_id:
        raise AssertionError(f"expected the reply to {what}, got {reply['msg_type']} "
                             f"for {parent_id(reply)}")
    return reply


def control_reply(client, msg_id, what):
    try:
        reply = client.get_control_msg(timeout=WAIT)
    except queue.Empty:
        raise AssertionError(f"no control reply to {what} within {WAIT} s") from None
    if parent_id(reply) != msg_id:
        raise AssertionError(f"expected the reply to {what}, got {reply['msg_type']} "
                             f"for {parent_id(reply)}")
    return reply


class IOPub:
    """Reads iopub and keeps every message seen, to look for strays afterwards."""

    def __init__(self, client):
        self.client = client
        self.seen = []

    def until_idle(self, match, what):
        """The messages whose parent matches, up to and including its idle status."""
        deadline = time.monotonic() + WAIT
        mine = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no idle status for {what} within {WAIT} s; "
                                     f"saw {[m['msg_type'] for m in mine]}")
            try:
                msg = self.client.get_iopub_msg(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(msg)
            if not match(msg["parent_header"]):
                continue
            mine.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return mine

    def for_request(self, msg_id, what):
        return self.until_idle(lambda p: p.get("msg_id") == msg_id, what)


def kinds(msgs):
    """msg_type of each, with the state of status messages: ["busy", "stream", "idle"]."""
    return [m["content"]["execution_state"] if m["msg_type"] == "status" else m["msg_type"]
            for m in msgs]


def ready(client):
    """wait_for_ready, then one more kernel_info whose reply comes after those of the
    kernel_info requests wait_for_ready may have left unanswered (same peer, in order)."""
    try:
        client.wait_for_ready(timeout=60)
    except RuntimeError as e:
        raise AssertionError(f"the kernel did not become ready: {e}") from None
    msg_id = client.kernel_info()
    deadline = time.monotonic() + WAIT
    while True:
        left = deadline - time.monotonic()
        try:
            reply = client.get_shell_msg(timeout=max(left, 0))
        except queue.Empty:
            raise AssertionError(f"no kernel_info_reply within {WAIT} s") from None
        if reply["msg_type"] != "kernel_info_reply":
            raise AssertionError(f"unexpected {reply['msg_type']} after wait_for_ready")
        if parent_id(reply) == msg_id:
            return


def start(kernel_name, log, key=None):
    km = KernelManager(kernel_name=kernel_name)
    if key is not None:
        km.session.key = key
    km.start_kernel(stderr=log)
    client = km.client()
    client.start_channels()
    ready(client)
    return km, client


def wait_exit(km, what):
    proc = km.provisioner.process
    try:
        return proc.wait(timeout=EXIT_WAIT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the kernel did not exit within {EXIT_WAIT} s after {what}") \
            from None


def stop(km, client):
    client.stop_channels()
    if km.is_alive():
        km.shutdown_kernel(now=True)
    km.cleanup_resources()


def execute(client, iopub, code, **kw):
    msg_id = client.execute(code, **kw)
    reply = shell_reply(client, msg_id, f"execute {code!r}")
    return reply, iopub.for_request(msg_id, f"execute {code!r}")


def raw_socket(km, kind, port):
    s = km.context.socket(kind)
    s.linger = 0
    s.connect(f"tcp://{km.ip}:{port}")
    return s


def recv_raw(sock, what):
    if not sock.poll(int(WAIT * 1000)):
        raise AssertionError(f"nothing received for {what} within {WAIT} s")
    return sock.recv_multipart()


def notebook(args, log):
    km, client = start(args.kernel_name, log)
    try:
        iopub = IOPub(client)

        # kernel_info, as a frontend asks first.
        msg_id = client.kernel_info()
        reply = shell_reply(client, msg_id, "kernel_info")
        c = reply["content"]
        check("kernel_info_reply", reply["msg_type"] == "kernel_info_reply"
              and c["status"] == "ok" and c["protocol_version"] == "5.3"
              and c["implementation"] == "aiozmq-echo"
              and c["language_info"]["name"] == "text"
              and c["language_info"]["mimetype"] == "text/plain"
              and c["language_info"]["file_extension"] == ".txt"
              and "aiozmq" in c["banner"], c)
        h = reply["header"]
        session = h["session"]
        check("reply_header", h["version"] == "5.3" and h["msg_type"] == "kernel_info_reply"
              and isinstance(h["date"], datetime.datetime) and h["msg_id"]
              and reply["parent_header"]["msg_type"] == "kernel_info_request", h)
        msgs = iopub.for_request(msg_id, "kernel_info")
        check("kernel_info_busy_idle", kinds(msgs) == ["busy", "idle"], kinds(msgs))

        # execute: the code comes back as a stream and as the result.
        code = "print('hello')\nx = (1 +\n     2)"
        reply, msgs = execute(client, iopub, code)
        check("execute_reply", reply["msg_type"] == "execute_reply"
              and reply["content"]["status"] == "ok"
              and reply["content"]["execution_count"] == 1
              and reply["content"]["user_expressions"] == {}, reply["content"])
        check("execute_iopub_order", kinds(msgs) ==
              ["busy", "execute_input", "stream", "execute_result", "idle"], kinds(msgs))
        _, inp, stream, result, _ = msgs
        check("execute_input", inp["content"] == {"code": code, "execution_count": 1},
              inp["content"])
        check("execute_stream", stream["content"] == {"name": "stdout", "text": code},
              stream["content"])
        check("execute_result", result["content"]["execution_count"] == 1
              and result["content"]["data"] == {"text/plain": code}, result["content"])
        check("iopub_headers", all(m["header"]["session"] == session
                                   and m["header"]["version"] == "5.3"
                                   and m["parent_header"]["msg_type"] == "execute_request"
                                   for m in msgs), [m["header"] for m in msgs])
        check("iopub_unique_ids", len({m["header"]["msg_id"] for m in msgs}) == len(msgs))

        reply, msgs = execute(client, iopub, "second cell")
        check("execution_count_increments", reply["content"]["execution_count"] == 2
              and msgs[1]["content"]["execution_count"] == 2
              and msgs[3]["content"]["execution_count"] == 2, reply["content"])

        reply, msgs = execute(client, iopub, "quiet", silent=True)
        check("silent_no_output", kinds(msgs) == ["busy", "idle"], kinds(msgs))
        check("silent_keeps_count", reply["content"]["execution_count"] == 2, reply["content"])

        reply, msgs = execute(client, iopub, "unrecorded", store_history=False)
        check("no_history_output", kinds(msgs) ==
              ["busy", "execute_input", "stream", "execute_result", "idle"], kinds(msgs))
        check("no_history_keeps_count", reply["content"]["execution_count"] == 2
              and msgs[1]["content"]["execution_count"] == 2
              and msgs[3]["content"]["execution_count"] == 2, reply["content"])

        reply, msgs = execute(client, iopub, "  \n", user_expressions={"a": "1 + 1"})
        check("blank_cell_no_output", kinds(msgs) == ["busy", "execute_input", "idle"],
              kinds(msgs))
        check("user_expressions", reply["content"]["execution_count"] == 3
              and reply["content"]["user_expressions"] == {
                  "a": {"status": "ok", "data": {"text/plain": "1 + 1"}, "metadata": {}}},
              reply["content"])

        # is_complete: brackets and a trailing backslash.
        cases = [
            ("x = 1", {"status": "complete"}),
            ("", {"status": "complete"}),
            ("f(1,", {"status": "incomplete", "indent": "    "}),
            ("a = [{(", {"status": "incomplete", "indent": " " * 12}),
            ("a = 1 + \\", {"status": "incomplete", "indent": ""}),
            ("a = 1 + \\\n", {"status": "incomplete", "indent": ""}),
            ("f(1))", {"status": "invalid"}),
            ("(]", {"status": "invalid"}),
        ]
        for code, want in cases:
            msg_id = client.is_complete(code)
            reply = shell_reply(client, msg_id, f"is_complete {code!r}")
            got = reply["content"]
            if reply["msg_type"] != "is_complete_reply" or got != want:
                raise AssertionError(f"is_complete {code!r}: want {want}, got "
                                     f"{reply['msg_type']} {got}")
            msgs = iopub.for_request(msg_id, "is_complete")
            if kinds(msgs) != ["busy", "idle"]:
                raise AssertionError(f"is_complete iopub: {kinds(msgs)}")
        check("is_complete", True)

        msg_id = client.comm_info()
        reply = shell_reply(client, msg_id, "comm_info")
        check("comm_info", reply["msg_type"] == "comm_info_reply"
              and reply["content"] == {"status": "ok", "comms": {}}, reply["content"])
        msg_id = client.comm_info(target_name="jupyter.widget")
        reply = shell_reply(client, msg_id, "comm_info target")
        check("comm_info_target", reply["content"]["comms"] == {}, reply["content"])
        iopub.for_request(msg_id, "comm_info")

        comm_id = uuid.uuid4().hex
        msg = client.session.msg("comm_open", {"comm_id": comm_id, "target_name": "nowhere",
                                               "data": {}})
        client.shell_channel.send(msg)
        msgs = iopub.for_request(msg["header"]["msg_id"], "comm_open")
        check("comm_open_closed", kinds(msgs) == ["busy", "comm_close", "idle"]
              and msgs[1]["content"] == {"comm_id": comm_id, "data": {}}, kinds(msgs))

        # An unknown type gets no reply: the next shell message answers the next request.
        unknown = client.session.msg("no_such_request", {"x": 1})
        client.shell_channel.send(unknown)
        msg_id = client.kernel_info()
        reply = shell_reply(client, msg_id, "kernel_info after an unknown type")
        check("unknown_type_ignored", reply["msg_type"] == "kernel_info_reply")
        msgs = iopub.for_request(unknown["header"]["msg_id"], "the unknown type")
        check("unknown_type_busy_idle", kinds(msgs) == ["busy", "idle"], kinds(msgs))
        iopub.for_request(msg_id, "kernel_info")

        # The heartbeat echoes what it is sent.
        hb = raw_socket(km, zmq.REQ, km.hb_port)
        ping = [b"ping", uuid.uuid4().bytes]
        hb.send_multipart(ping)
        check("heartbeat_echo", recv_raw(hb, "the heartbeat") == ping)
        hb.close()

        # Interrupt as a notebook does: the manager sends interrupt_request on control
        # (the kernelspec's interrupt_mode is "message").
        check("kernelspec_interrupt_mode", km.kernel_spec.interrupt_mode == "message")
        km.interrupt_kernel()
        msgs = iopub.until_idle(lambda p: p.get("msg_type") == "interrupt_request"
                                and p.get("session") == km.session.session, "interrupt")
        check("interrupt_busy_idle", kinds(msgs) == ["busy", "idle"], kinds(msgs))
        msg = client.session.msg("interrupt_request", {})
        client.control_channel.send(msg)
        reply = control_reply(client, msg["header"]["msg_id"], "interrupt")
        check("interrupt_reply", reply["msg_type"] == "interrupt_reply"
              and reply["content"]["status"] == "ok", reply)
        iopub.for_request(msg["header"]["msg_id"], "interrupt")
        reply, msgs = execute(client, iopub, "after interrupt")
        check("serves_after_interrupt", reply["content"]["execution_count"] == 4)

        # Restart as a notebook does: shutdown_request(restart=True) on control, the
        # process exits by itself (status 0: not killed), a new one starts afresh.
        old = km.provisioner.process
        km.restart_kernel(now=False)
        check("restart_old_exited_cleanly", old.poll() == 0, old.poll())
        ready(client)
        reply, msgs = execute(client, iopub, "fresh")
        check("restart_resets_count", reply["content"]["execution_count"] == 1
              and reply["header"]["session"] != session, reply["content"])

        # Shutdown on control: the reply, busy/idle, then the process exits with status 0.
        msg_id = client.shutdown()
        reply = control_reply(client, msg_id, "shutdown")
        check("shutdown_reply", reply["msg_type"] == "shutdown_reply"
              and reply["content"] == {"status": "ok", "restart": False}, reply["content"])
        msgs = iopub.for_request(msg_id, "shutdown")
        check("shutdown_busy_idle", kinds(msgs) == ["busy", "idle"], kinds(msgs))
        code = wait_exit(km, "shutdown")
        check("shutdown_exit_status", code == 0, code)

        check("no_stray_iopub", all(m["parent_header"].get("msg_id") for m in iopub.seen
                                    if m["msg_type"] != "status"
                                    or m["content"]["execution_state"] != "starting"))
    finally:
        stop(km, client)


def signature(args, log):
    km, client = start(args.kernel_name, log)
    try:
        iopub = IOPub(client)
        session = Session(key=km.session.key, username="raw")
        shell = raw_socket(km, zmq.DEALER, km.shell_port)

        def frames(msg_type, content):
            msg = session.msg(msg_type, content)
            return msg, session.serialize(msg)

        bad_ids = []
        # 1: signed with another key.
        msg, f = frames("kernel_info_request", {})
        h = hmac.new(b"not the key", digestmod=hashlib.sha256)
        for part in f[2:6]:
            h.update(part)
        f[1] = h.hexdigest().encode()
        shell.send_multipart(f)
        bad_ids.append(msg["header"]["msg_id"])
        # 2: the right signature with one hex digit changed.
        msg, f = frames("execute_request", {"code": "tampered", "silent": False})
        f[1] = (b"0" if f[1][:1] != b"0" else b"1") + f[1][1:]
        shell.send_multipart(f)
        bad_ids.append(msg["header"]["msg_id"])
        # 3: content changed after signing.
        msg, f = frames("execute_request", {"code": "original", "silent": False})
        f[5] = f[5].replace(b"original", b"modified")
        shell.send_multipart(f)
        bad_ids.append(msg["header"]["msg_id"])
        # 4: no signature at all.
        msg, f = frames("kernel_info_request", {})
        f[1] = b""
        shell.send_multipart(f)
        bad_ids.append(msg["header"]["msg_id"])
        # 5: no delimiter.
        msg, f = frames("kernel_info_request", {})
        shell.send_multipart(f[1:])
        bad_ids.append(msg["header"]["msg_id"])

        # A good message from the same peer comes after them all: its reply proves the
        # bad ones were handled (and logged) first.
        msg, f = frames("kernel_info_request", {})
        shell.send_multipart(f)
        raw = recv_raw(shell, "the signed kernel_info_request")
        _, reply = session.feed_identities(raw)
        reply = session.deserialize(reply)  # checks the kernel's signature
        check("good_after_bad_answered", reply["msg_type"] == "kernel_info_reply"
              and parent_id(reply) == msg["header"]["msg_id"], reply["msg_type"])
        check("reply_signed", raw[1] == session.sign(raw[2:6]) and len(raw[1]) == 64, raw[1])
        iopub.for_request(msg["header"]["msg_id"], "the signed kernel_info")
        check("bad_not_answered", not shell.poll(0))
        check("bad_no_iopub", not any(parent_id(m) in bad_ids for m in iopub.seen))
        with open(args.log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        check("bad_signatures_logged", text.count("Shell: dropped a message: bad signature") == 4,
              text)
        check("no_delimiter_logged",
              text.count("Shell: dropped a message: no <IDS|MSG> delimiter") == 1, text)

        # The frontend's own channels still work.
        reply, msgs = execute(client, iopub, "still here")
        check("serves_after_bad", reply["content"]["execution_count"] == 1
              and kinds(msgs) == ["busy", "execute_input", "stream", "execute_result", "idle"])

        msg_id = client.shutdown()
        control_reply(client, msg_id, "shutdown")
        check("shutdown_exit_status", wait_exit(km, "shutdown") == 0)
        shell.close()
    finally:
        stop(km, client)


def nokey(args, log):
    km, client = start(args.kernel_name, log, key=b"")
    try:
        with open(km.connection_file, encoding="utf-8") as f:
            check("connection_file_empty_key", json.load(f)["key"] == "")
        iopub = IOPub(client)
        reply, msgs = execute(client, iopub, "unsigned")
        check("execute_unsigned", reply["content"]["execution_count"] == 1
              and kinds(msgs) == ["busy", "execute_input", "stream", "execute_result", "idle"])

        session = Session(key=b"", username="raw")
        shell = raw_socket(km, zmq.DEALER, km.shell_port)
        msg = session.msg("kernel_info_request", {})
        f = session.serialize(msg)
        f[1] = b"anything"  # without a key, signatures are not checked
        shell.send_multipart(f)
        raw = recv_raw(shell, "kernel_info")
        check("reply_unsigned", raw[0] == b"<IDS|MSG>" and raw[1] == b"", raw[:2])
        _, rest = session.feed_identities(raw)
        reply = session.deserialize(rest)
        check("any_signature_accepted", parent_id(reply) == msg["header"]["msg_id"])
        shell.close()

        msg_id = client.shutdown()
        control_reply(client, msg_id, "shutdown")
        check("shutdown_exit_status", wait_exit(km, "shutdown") == 0)
    finally:
        stop(km, client)


def orphan(args, _log):
    km, client = start(args.kernel_name, None)
    print(f"KERNEL_PID {km.provisioner.process.pid}", flush=True)
    sys.stdin.read()
    stop(km, client)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario", choices=["notebook", "signature", "nokey", "orphan"])
    p.add_argument("--kernel-name", required=True)
    p.add_argument("--log", required=True, help="the kernel's stderr goes here")
    args = p.parse_args()
    with open(args.log, "w", encoding="utf-8") as log:
        scenarios = {"notebook": notebook, "signature": signature, "nokey": nokey,
                     "orphan": orphan}
        scenarios[args.scenario](args, log)
    print("DONE", flush=True)


if __name__ == "__main__":
    sys.exit(main())
