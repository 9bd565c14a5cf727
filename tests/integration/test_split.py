"""The split placement (configs/placement-split.yaml): requests spread over a group's instances,
user affinity keeps one user's sync requests on one instance, and the account flows still work
when every request may land on a different instance."""
import os
from collections import Counter

from harness import ServerTestCase, main

V3 = "/_matrix/client/v3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with open(os.path.join(ROOT, "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class SplitPlacement(ServerTestCase):
    placement = SPLIT

    def test_round_robin_spreads_client_reader_requests(self):
        seen = Counter()
        conn = self.server.connect()
        for _ in range(30):
            r = self.server.get("/_matrix/client/versions", conn=conn)
            self.assertEqual(r.status, 200)
            seen[r.headers["x-myelin-instance"]] += 1
        conn.close()
        self.assertEqual(set(seen), {"client_reader/0", "client_reader/1", "client_reader/2"}, seen)

    def test_user_affinity_pins_sync_requests(self):
        users = [self.server.register(f"affinity{i}")["access_token"] for i in range(8)]
        homes = []
        for tok in users:
            seen = {self.server.get("/_myelin/debug/whereami/sync", token=tok).json["instance"] for _ in range(10)}
            self.assertEqual(len(seen), 1, seen)
            homes.append(seen.pop())
        self.assertTrue(all(h.startswith("sync/") for h in homes))
        self.assertGreater(len(set(homes)), 1, homes)  # different users spread over instances

    def test_account_flows_across_instances(self):
        # The UIA steps of one registration go to different client_reader instances.
        body = {"username": "splituser", "password": "split password"}
        r = self.server.post(V3 + "/register", body)
        self.assertEqual(r.status, 401)
        first = r.headers["x-myelin-instance"]
        body["auth"] = {"type": "m.login.dummy", "session": r.json["session"]}
        r = self.server.post(V3 + "/register", body)
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(first, r.headers["x-myelin-instance"])
        tok = r.json["access_token"]
        # Device endpoints live on the keys group, logout on main.
        r = self.server.get(V3 + "/devices", token=tok)
        self.assertTrue(r.headers["x-myelin-instance"].startswith("keys/"), r.headers)
        r = self.server.post(V3 + "/logout", {}, token=tok)
        self.assertEqual(r.headers["x-myelin-instance"], "main/0")
        self.assertError(self.server.get(V3 + "/account/whoami", token=tok), 401, "M_UNKNOWN_TOKEN")

    def test_placement_check_tool(self):
        import subprocess
        from harness import ARGS
        out = subprocess.run([ARGS.binary, "placement", "check", os.path.join(ROOT, "configs", "placement-split.yaml")],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("syncx4", out.stdout)
        bad = os.path.join(self.server.dir, "bad.yaml")
        with open(bad, "w") as f:
            f.write("nodes:\n  main: {}\ngroups:\n  main: 2\n  synk: 1\n")
        out = subprocess.run([ARGS.binary, "placement", "check", bad], capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        self.assertIn("bad.yaml:4:", out.stderr)
        self.assertIn("unknown group 'synk'", out.stderr)


class BadStartup(ServerTestCase):
    """Clear startup errors: the server refuses a bad config and says where."""

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def test_bad_config_names_file_and_key(self):
        import subprocess
        import tempfile
        from harness import ARGS
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "homeserver.yaml")
            with open(path, "w") as f:
                f.write("server_name: test.local\nlisteners:\n  - port: notaport\n")
            out = subprocess.run([ARGS.binary, "--config", path], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 2, out)
            self.assertIn(path + ":3", out.stderr)
            self.assertIn("port", out.stderr)


if __name__ == "__main__":
    main()
