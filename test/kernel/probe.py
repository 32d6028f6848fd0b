"""Drives the mmulab kernel with jupyter_client (Debian's), step by step, for the protocol tests.

usage: /usr/bin/python3 probe.py STEPS_JSON
Prints one JSON document: the result of each step. The kernelspec is found through JUPYTER_PATH.
"""
import json
import os
import sys
import time
from collections import defaultdict
from queue import Empty

import zmq
import jupyter_client.session as jc_session
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session

TIMEOUT = 120

# Keep header dates as the strings on the wire (jupyter_client turns them into datetimes), so the
# recorded messages are what the kernel sent, for the jupyter-protocol type check.
jc_session.extract_dates = lambda obj: obj


class Probe:
    def __init__(self):
        self.km = KernelManager(kernel_name="mmulab")
        self.km.start_kernel()
        self.kc = None
        self.connect()

    def connect(self):
        if self.kc is not None:
            self.kc.stop_channels()
        self.stash = defaultdict(list)
        if not hasattr(self, "wire"):
            self.wire = []
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    def record(self, channel, m):
        self.wire.append({"channel": channel, "header": m["header"], "parent_header": m["parent_header"],
                          "metadata": m["metadata"], "content": m["content"]})
        return m

    def iopub_until_idle(self, msg_id):
        msgs = self.stash.pop(msg_id, [])
        if any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in msgs):
            return [m for m in msgs]
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = self.record("iopub", self.kc.get_iopub_msg(timeout=TIMEOUT))
            entry = {"msg_type": m["msg_type"], "content": m["content"], "parent": m["parent_header"].get("msg_id")}
            if entry["parent"] != msg_id:
                self.stash[entry["parent"]].append(entry)
                continue
            msgs.append(entry)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                return msgs
        raise TimeoutError("no idle status for " + msg_id)

    def shell_reply(self, msg_id):
        while True:
            m = self.record("shell", self.kc.get_shell_msg(timeout=TIMEOUT))
            if m["parent_header"].get("msg_id") == msg_id:
                return m["content"]

    def control_socket(self):
        # jupyter_client 7.4's blocking client gives an asyncio control channel: use a plain DEALER,
        # with its own identity (the client's control channel holds the session's identity).
        if getattr(self, "_control", None) is None:
            sock = zmq.Context.instance().socket(zmq.DEALER)
            sock.linger = 0
            sock.setsockopt(zmq.IDENTITY, self.kc.session.bsession + b"-probe-control")
            sock.connect(f"{self.km.transport}://{self.km.ip}:{self.km.control_port}")
            self._control = sock
        return self._control

    def control_request(self, msg_type, content):
        msg = self.kc.session.msg(msg_type, content)
        self.kc.session.send(self.control_socket(), msg)
        return msg["header"]["msg_id"]

    def control_reply(self, msg_id):
        sock = self.control_socket()
        while True:
            if not sock.poll(TIMEOUT * 1000):
                raise TimeoutError("no control reply to " + msg_id)
            _, m = self.kc.session.recv(sock, mode=0)
            m = self.record("control", m)
            if m["parent_header"].get("msg_id") == msg_id:
                return m["content"]

    def send_raw(self, parts, extra=()):
        """Frames as given (bytes), signed with the session's key, on the shell socket."""
        sig = self.kc.session.sign(parts)
        self.kc.shell_channel.socket.send_multipart([b"<IDS|MSG>", sig, *parts, *extra])

    def step(self, s):
        op = s["op"]
        if op == "kernel_info":
            msg_id = self.kc.kernel_info()
            return self.shell_reply(msg_id)
        if op == "execute":
            msg_id = self.kc.execute(s["code"], stop_on_error=s.get("stop_on_error", True))
            reply = self.shell_reply(msg_id)
            return {"reply": reply, "iopub": self.iopub_until_idle(msg_id), "msg_id": msg_id}
        if op == "execute_many":
            ids = [self.kc.execute(c["code"], stop_on_error=c.get("stop_on_error", True)) for c in s["cells"]]
            out = []
            for msg_id in ids:
                reply = self.shell_reply(msg_id)
                out.append({"reply": reply, "iopub": self.iopub_until_idle(msg_id), "msg_id": msg_id})
            return out
        if op == "complete":
            return self.shell_reply(self.kc.complete(s["code"], s.get("cursor_pos")))
        if op == "inspect":
            return self.shell_reply(self.kc.inspect(s["code"], s.get("cursor_pos")))
        if op == "is_complete":
            return self.shell_reply(self.kc.is_complete(s["code"]))
        if op == "bad_signature":
            # The same execute_request, signed with another key (or not at all), on the shell socket.
            bad = Session(key=s["key"].encode(), username="intruder")
            msg = bad.msg("execute_request", {"code": s["code"], "silent": False, "store_history": True,
                                               "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
            bad.send(self.kc.shell_channel.socket, msg)
            return {"sent": msg["header"]["msg_id"]}
        if op == "replay":
            # A correctly signed message sent twice: the copy must be refused.
            msg = self.kc.session.msg("execute_request", {"code": s["code"], "silent": False, "store_history": True,
                                                           "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
            stream = self.kc.shell_channel.socket
            frames = self.kc.session.serialize(msg)
            stream.send_multipart(frames)
            reply = self.shell_reply(msg["header"]["msg_id"])
            self.iopub_until_idle(msg["header"]["msg_id"])
            stream.send_multipart(frames)
            return {"reply": reply}
        if op == "interrupt_after":
            # The cell creates `marker` when it is running; interrupt then.
            msg_id = self.kc.execute(s["code"])
            deadline = time.monotonic() + TIMEOUT
            while not os.path.exists(s["marker"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(s.get("delay", 0.3))
            self.km.interrupt_kernel()
            reply = self.shell_reply(msg_id)
            return {"reply": reply, "iopub": self.iopub_until_idle(msg_id)}
        if op == "execute_stdin":
            # allow_stdin as given; each input_request is answered with the next of `answers`.
            msg_id = self.kc.execute(s["code"], allow_stdin=s.get("allow_stdin", True))
            requests = []
            answers = list(s.get("answers", []))
            deadline = time.monotonic() + TIMEOUT
            reply = None
            while reply is None and time.monotonic() < deadline:
                try:
                    m = self.record("stdin", self.kc.get_stdin_msg(timeout=0.05))
                    requests.append({"content": m["content"], "parent": m["parent_header"].get("msg_id")})
                    self.kc.input(answers.pop(0) if answers else "")
                    continue
                except Empty:
                    pass
                try:
                    m = self.record("shell", self.kc.get_shell_msg(timeout=0.05))
                    if m["parent_header"].get("msg_id") == msg_id:
                        reply = m["content"]
                except Empty:
                    pass
            return {"reply": reply, "input_requests": requests, "iopub": self.iopub_until_idle(msg_id), "msg_id": msg_id}
        if op == "history":
            args = {k: v for k, v in s.items() if k != "op"}
            return self.shell_reply(self.kc.history(**args))
        if op == "comm_info":
            return self.shell_reply(self.kc.comm_info())
        if op == "comm_lifecycle":
            # A front end opens a comm to a target the kernel does not have, messages it and closes it.
            ids = []
            for msg_type, content in [("comm_open", {"comm_id": "c-1", "target_name": "jupyter.widget", "data": {}}),
                                      ("comm_msg", {"comm_id": "c-1", "data": {"x": 1}}),
                                      ("comm_close", {"comm_id": "c-1", "data": {}})]:
                msg = self.kc.session.msg(msg_type, content)
                self.kc.shell_channel.send(msg)
                ids.append(msg["header"]["msg_id"])
            return [self.iopub_until_idle(i) for i in ids]
        if op == "heartbeat":
            ctx = zmq.Context.instance()
            sock = ctx.socket(zmq.REQ)
            sock.linger = 0
            sock.connect(f"{self.km.transport}://{self.km.ip}:{self.km.hb_port}")
            sock.send(b"ping-" + s.get("payload", "x").encode())
            ready = sock.poll(10000)
            echo = sock.recv() if ready else None
            sock.close()
            return {"echo": echo.decode() if echo is not None else None}
        if op == "iopub_welcome":
            # A fresh subscriber: the kernel's XPUB socket sees the subscription and says welcome (JEP 65).
            ctx = zmq.Context.instance()
            sock = ctx.socket(zmq.SUB)
            sock.linger = 0
            sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(f"{self.km.transport}://{self.km.ip}:{self.km.iopub_port}")
            found = None
            deadline = time.monotonic() + 10
            while found is None and time.monotonic() < deadline:
                if not sock.poll(1000):
                    continue
                frames = sock.recv_multipart()
                idents, msg_frames = self.kc.session.feed_identities(frames)
                m = self.kc.session.deserialize(msg_frames)
                if m["msg_type"] == "iopub_welcome":
                    found = self.record("iopub", m)
            sock.close()
            return None if found is None else {"content": found["content"], "parent_header": found["parent_header"]}
        if op == "control_kernel_info":
            return self.control_reply(self.control_request("kernel_info_request", {}))
        if op == "raw":
            # Malformed messages, each signed correctly so only the malformation is refused.
            kind = s["kind"]
            good_header = self.kc.session.msg_header("execute_request")
            if kind == "bad_json":
                self.send_raw([json.dumps(good_header, default=str).encode(), b"{}", b"{}", b"{not json"])
            elif kind == "missing_header_fields":
                self.send_raw([json.dumps({"msg_type": "execute_request"}).encode(), b"{}", b"{}",
                               json.dumps({"code": "globalThis.reached = 1"}).encode()])
            elif kind == "oversized":
                self.send_raw([json.dumps(good_header, default=str).encode(), b"{}", b"{}",
                               json.dumps({"code": "'" + "x" * (40 * 1024 * 1024) + "'"}).encode()])
            elif kind == "too_few_frames":
                self.kc.shell_channel.socket.send_multipart([b"<IDS|MSG>", b"sig", b"{}"])
            elif kind == "unknown_type":
                msg = self.kc.session.msg("frobnicate_request", {})
                self.kc.shell_channel.send(msg)
                return {"reply": self.shell_reply(msg["header"]["msg_id"]), "iopub": self.iopub_until_idle(msg["header"]["msg_id"])}
            elif kind == "unknown_type_control":
                return {"reply": self.control_reply(self.control_request("frobnicate_request", {}))}
            else:
                raise ValueError(kind)
            return {"sent": kind}
        if op == "shutdown_request":
            # The request itself on control, to see shutdown_reply; then the process must exit.
            process = self.km.provisioner.process
            reply = self.control_reply(self.control_request("shutdown_request", {"restart": False}))
            return {"reply": reply, "returncode": process.wait(timeout=30)}
        if op == "drain_iopub":
            # Whatever iopub still has (e.g. messages with no parent), recorded for the type check.
            got = []
            while True:
                try:
                    m = self.record("iopub", self.kc.get_iopub_msg(timeout=s.get("timeout", 1)))
                except Exception:
                    return got
                got.append({"msg_type": m["msg_type"], "content": m["content"], "parent": m["parent_header"].get("msg_id")})
        if op == "wire":
            return self.wire
        if op == "sleep":
            time.sleep(s["seconds"])
            return None
        if op == "alive":
            return self.km.is_alive()
        if op == "restart":
            pid = self.km.provisioner.process.pid
            self.km.restart_kernel(now=False)
            self.connect()
            return {"old_pid": pid, "new_pid": self.km.provisioner.process.pid}
        if op == "shutdown":
            process = self.km.provisioner.process
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=False)
            return {"returncode": process.wait(timeout=30), "alive": self.km.is_alive()}
        raise ValueError("unknown op " + op)


def main():
    steps = json.loads(sys.argv[1])
    probe = Probe()
    results = []
    try:
        for s in steps:
            results.append(probe.step(s))
    finally:
        if probe.km.has_kernel and probe.km.is_alive():
            probe.kc.stop_channels()
            probe.km.shutdown_kernel(now=True)
        else:
            # The kernel exited on its own (a shutdown_request step): shutdown_kernel was never
            # called, so the connection file KernelManager wrote to the temp directory is still
            # there (one left in /tmp per CI run until this).
            probe.km.cleanup_resources()
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
