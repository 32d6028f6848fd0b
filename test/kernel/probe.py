"""Drives the mmulab kernel with jupyter_client (Debian's), step by step, for the protocol tests.

usage: /usr/bin/python3 probe.py STEPS_JSON
Prints one JSON document: the result of each step. The kernelspec is found through JUPYTER_PATH.
"""
import json
import os
import sys
import time
from collections import defaultdict

from jupyter_client.manager import KernelManager
from jupyter_client.session import Session

TIMEOUT = 120


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
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=TIMEOUT)

    def iopub_until_idle(self, msg_id):
        msgs = self.stash.pop(msg_id, [])
        if any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in msgs):
            return [m for m in msgs]
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            m = self.kc.get_iopub_msg(timeout=TIMEOUT)
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
            m = self.kc.get_shell_msg(timeout=TIMEOUT)
            if m["parent_header"].get("msg_id") == msg_id:
                return m["content"]

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
    json.dump(results, sys.stdout, default=str)


if __name__ == "__main__":
    main()
