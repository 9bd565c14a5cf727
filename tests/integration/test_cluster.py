"""Two nodes of one placement file on loopback (PostgreSQL: the nodes share the database). Each
node runs a gateway; requests for a group on the other node cross the authenticated node link and
come back; stream updates written on one node wake long-polls on the other; a node killed with
SIGKILL makes its groups answer 503 with Retry-After (never a hang), and the cluster heals when it
returns. A node with the wrong shared secret is refused. Skipped on SQLite, which a multi-node
placement refuses."""
import socket
import threading
import time
import unittest

from harness import ARGS, Server, ServerTestCase, main  # noqa: F401

V3 = "/_matrix/client/v3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def placement(port_a, port_b, secret="cluster test secret"):
    # a: the account and room writers, client_reader, one persister. b: sync, event_creator, the other
    # persister, typing. Every cross-group path of a message crosses the link at least once.
    return f"""shared_secret: "{secret}"
nodes:
  a: {{host: 127.0.0.1, port: {port_a}}}
  b: {{host: 127.0.0.1, port: {port_b}}}
groups:
  main: {{node: a}}
  client_reader: {{node: a, instances: 2}}
  keys: {{node: a}}
  media: {{node: a}}
  sync: {{node: b, instances: 2}}
  event_creator: {{node: b}}
  writer.events:
    - {{node: a, instances: 1}}
    - {{node: b, instances: 1}}
  writer.typing: {{node: b}}
"""


class Cluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        cls.ports = (free_port(), free_port())
        layout = placement(*cls.ports)
        cls.a = Server(placement=layout, node="a")
        cls.b = Server(placement=layout, node="b", shared_pg_db=cls.a.pg_db)
        try:
            cls.b.start()  # any order: b waits for a
            cls.a.start()
            cls.wait_linked(cls.a)
            cls.wait_linked(cls.b)
        except Exception:
            cls.b.cleanup()
            cls.a.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.b.cleanup()
        cls.a.cleanup()

    @staticmethod
    def wait_linked(server, since=0, timeout=20):
        """Until this node's own connector has linked (and so filled the peer's slots) — the
        inbound direction ("node linked (inbound)") says nothing about this node's registry."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "node linked peer=" in server.read_log()[since:]:
                return
            time.sleep(0.1)
        raise AssertionError("node did not link:\n" + server.read_log()[-3000:])

    def poll_status(self, request, status, timeout):
        """Repeats `request()` until it answers `status` (or time runs out); returns the last answer."""
        deadline = time.time() + timeout
        while True:
            r = request()
            if r.status == status or time.time() >= deadline:
                return r
            time.sleep(0.2)

    def test_a_request_crosses_to_the_other_node_and_back(self):
        alice = self.a.register("alice")  # client_reader and writer.accounts on a
        # /sync lives on b; asked through a's gateway it crosses the link.
        r = self.a.get(f"{V3}/sync?timeout=0", token=alice["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["x-myelin-instance"].startswith("sync/"), r.headers)
        # The token written on a authenticates on b's gateway too (one database).
        self.assertEqual(self.b.get(f"{V3}/account/whoami", token=alice["access_token"]).json["user_id"],
                         alice["user_id"])

    def test_messages_and_typing_reach_long_polls_on_the_other_node(self):
        bob = self.a.register("bob")
        carol = self.b.register("carol")
        room = self.a.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=bob["access_token"]).json["room_id"]
        self.assertEqual(self.b.post(f"{V3}/join/{room}", {}, token=carol["access_token"]).status, 200)
        since = self.b.get(f"{V3}/sync?timeout=0", token=carol["access_token"]).json["next_batch"]
        seen, failures = [], []

        def poll():
            # Long-polls on b until the message shows up (other updates, e.g. presence, may wake it first).
            nonlocal since
            deadline = time.time() + 20
            conn = self.b.connect(timeout=30)
            while time.time() < deadline and "across" not in seen:
                r = self.b.get(f"{V3}/sync?timeout=15000&since={since}", token=carol["access_token"], conn=conn)
                if r.status != 200:
                    failures.append(r)
                    break
                since = r.json["next_batch"]
                events = r.json["rooms"]["join"].get(room, {}).get("timeline", {}).get("events", [])
                seen.extend(e["content"].get("body") for e in events)
            conn.close()
        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        r = self.a.put(f"{V3}/rooms/{room}/send/m.room.message/t1", {"msgtype": "m.text", "body": "across"},
                       token=bob["access_token"])
        self.assertEqual(r.status, 200, r)
        t.join(25)
        self.assertEqual(failures, [])
        self.assertIn("across", seen, self.a.read_log()[-2000:] + self.b.read_log()[-2000:])
        # Typing: written by writer.typing on b, asked for through a.
        self.assertEqual(self.a.put(f"{V3}/rooms/{room}/typing/{bob['user_id']}", {"typing": True, "timeout": 10000},
                                    token=bob["access_token"]).status, 200)
        deadline = time.time() + 10
        typing = []
        while time.time() < deadline and bob["user_id"] not in typing:
            s = self.a.get(f"{V3}/sync?timeout=0", token=carol["access_token"]).json
            for e in s.get("rooms", {}).get("join", {}).get(room, {}).get("ephemeral", {}).get("events", []):
                if e["type"] == "m.typing":
                    typing = e["content"]["user_ids"]
            time.sleep(0.2)
        self.assertIn(bob["user_id"], typing)

    def test_zz_a_killed_node_gives_503_then_heals(self):
        dave = self.a.register("dave")
        self.b.proc.kill()  # SIGKILL: no goodbye on the link
        self.b.proc.wait()
        self.b.log.close()
        self.b.proc = None
        start = time.time()
        sync = lambda: self.a.get(f"{V3}/sync?timeout=0", token=dave["access_token"])  # noqa: E731
        r = self.poll_status(sync, 503, 15)
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.errcode, "M_UNKNOWN")  # Synapse's errcode for a worker that is away
        self.assertIn("retry-after", r.headers)
        self.assertLess(time.time() - start, 15)
        # What lives on a goes on working.
        self.assertEqual(self.a.get(f"{V3}/account/whoami", token=dave["access_token"]).status, 200)
        offset = len(self.b.read_log())
        self.b.start()
        self.wait_linked(self.b, since=offset)
        self.assertEqual(self.poll_status(sync, 200, 20).status, 200)


class ClusterWrongSecret(unittest.TestCase):
    def test_a_node_without_the_secret_is_refused(self):
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        ports = (free_port(), free_port())
        a = Server(placement=placement(*ports), node="a")
        b = Server(placement=placement(*ports, secret="not the secret"), node="b", shared_pg_db=a.pg_db)
        try:
            a.start()
            b.start()
            deadline = time.time() + 10
            while time.time() < deadline and "wrong shared secret" not in a.read_log() + b.read_log() \
                    and "does not hold the shared secret" not in a.read_log() + b.read_log():
                time.sleep(0.1)
            logs = a.read_log() + b.read_log()
            self.assertTrue("wrong shared secret" in logs or "does not hold the shared secret" in logs, logs[-3000:])
            self.assertNotIn("node linked", logs)
            user = a.register("erin")
            self.assertEqual(a.get(f"{V3}/sync?timeout=0", token=user["access_token"]).status, 503)
        finally:
            b.cleanup()
            a.cleanup()


if __name__ == "__main__":
    main()
