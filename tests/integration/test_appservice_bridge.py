"""A real application service: tests/e2e/appservice-bridge/bridge.mjs, built on the npm package
matrix-appservice-bridge (pinned in its package-lock.json), registers its virtual user with the
as_token, joins a room as it (masquerading), receives a real user's message in a transaction and
answers as the virtual user with intent.sendText. This test checks both directions from the real
user's side.

Needs node and the npm dependencies: `scripts/run-tests.sh` runs `npm ci` in
tests/e2e/appservice-bridge when they are missing; without node/npm or the package the suite skips
with a message saying so."""
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

import harness
from harness import Server, main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JS_DIR = os.path.join(ROOT, "tests", "e2e", "appservice-bridge")
V3 = "/_matrix/client/v3"


def q(s):
    return urllib.parse.quote(s, safe="")


class AppServiceBridge(unittest.TestCase):
    def setUp(self):
        self.node = shutil.which("node")
        if not self.node:
            self.skipTest("node is not installed (scripts/install-deps.sh test installs it)")
        if not os.path.exists(os.path.join(JS_DIR, "node_modules", "matrix-appservice-bridge", "package.json")):
            self.skipTest(f"matrix-appservice-bridge is not installed: run `npm ci` in {JS_DIR} "
                          "(scripts/run-tests.sh does it for `make test`)")
        self.port = harness.free_port()
        self.dir = tempfile.mkdtemp(prefix="myelin-bridge-")
        self.reg = os.path.join(self.dir, "bridge.yaml")
        with open(self.reg, "w") as f:
            f.write("id: jsbridge\n"
                    f"url: http://127.0.0.1:{self.port}\n"
                    f"as_token: {uuid.uuid4().hex}\n"
                    f"hs_token: {uuid.uuid4().hex}\n"
                    "sender_localpart: _js_bot\n"
                    "rate_limited: false\n"
                    "namespaces:\n"
                    "  users:\n    - exclusive: true\n      regex: '@_js_.*:test\\.local'\n"
                    "  aliases: []\n  rooms: []\n")
        self.server = Server(f"app_service_config_files:\n  - {self.reg}\n")
        self.server.start()

    def tearDown(self):
        try:
            code = self.server.stop()
            self.assertEqual(code, 0)
        finally:
            self.server.cleanup()
            shutil.rmtree(self.dir, ignore_errors=True)

    def test_bridge_receives_and_sends_as_its_virtual_user(self):
        alice = self.server.register("alice")
        tok = alice["access_token"]
        r = self.server.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=tok)
        self.assertEqual(r.status, 200, r)
        room = r.json["room_id"]
        url = f"http://127.0.0.1:{self.server.port}"
        proc = subprocess.Popen([self.node, os.path.join(JS_DIR, "bridge.mjs"), url, self.reg, str(self.port), room],
                                cwd=JS_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        try:
            self.wait_until(lambda: any(l.strip() == "READY" for l in lines) or proc.poll() is not None, 60)
            self.assertIsNone(proc.poll(), self.failure(proc, lines))
            r = self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/{uuid.uuid4().hex}",
                                {"msgtype": "m.text", "body": "hello bridge"}, token=tok)
            self.assertEqual(r.status, 200, r)
            sent = r.json["event_id"]
            try:
                code = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            reader.join(5)
            self.assertEqual(code, 0, self.failure(proc, lines))
            # The bridge got the real user's message...
            self.assertTrue(any(l.startswith(f"RECEIVED {sent} from {alice['user_id']}") for l in lines), lines)
            # ...and its virtual user's answer is in the room.
            echo_id = next(l.split()[1] for l in lines if l.startswith("SENT "))
            r = self.server.get(f"{V3}/rooms/{q(room)}/messages?dir=b&limit=20", token=tok)
            self.assertEqual(r.status, 200, r)
            echo = next(e for e in r.json["chunk"] if e["event_id"] == echo_id)
            self.assertEqual(echo["sender"], "@_js_echo:test.local")
            self.assertEqual(echo["content"]["body"], "echo: hello bridge")
            members = self.server.get(f"{V3}/rooms/{q(room)}/joined_members", token=tok).json["joined"]
            self.assertIn("@_js_echo:test.local", members)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def wait_until(self, predicate, timeout):
        deadline = time.time() + timeout
        while not predicate():
            if time.time() > deadline:
                break
            time.sleep(0.1)

    def failure(self, proc, lines):
        err = proc.stderr.read() if proc.poll() is not None else ""
        return (f"bridge output:\n{''.join(lines)}\n--- stderr ---\n{err}\n"
                f"--- server log (tail) ---\n{self.server.read_log()[-3000:]}")


if __name__ == "__main__":
    main()
