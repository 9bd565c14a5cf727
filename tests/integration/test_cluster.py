"""Two nodes of one placement file on loopback (PostgreSQL: the nodes share the database). Each
node runs a gateway; requests for a group on the other node cross the authenticated node link and
come back; stream updates written on one node wake long-polls on the other; a node killed with
SIGKILL makes its groups answer 503 with Retry-After (never a hang), and the cluster heals when it
returns. A node with the wrong shared secret is refused. The admin status endpoint shows all of
it. The multi-node cases are skipped on SQLite, which a multi-node placement refuses."""
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ARGS, Server, ServerTestCase, free_port, main  # noqa: F401

V3 = "/_matrix/client/v3"


def placement(port_a, port_b, secret="cluster test secret", sync_instances=2, event_creators=1):
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
  sync: {{node: b, instances: {sync_instances}}}
  event_creator: {{node: b, instances: {event_creators}}}
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
        """Until every instance of the cluster is reachable from this node ("cluster complete": its
        own connectors linked and each peer's instances reported their handles)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if "cluster complete" in server.read_log()[since:]:
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

    def status(self, server, token):
        r = server.get("/_myelin/admin/v1/cluster", token=token)
        self.assertEqual(r.status, 200, r)
        return r.json

    def admin(self, name):
        user = self.a.register(name)
        self.a.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{user['user_id']}'")
        return user

    def test_status_lists_nodes_groups_streams_and_links(self):
        admin = self.admin("status_admin")
        # main lives on a; asked through b's gateway, the request crosses the link.
        s = self.status(self.b, admin["access_token"])
        self.assertEqual(s["node"], "a")
        self.assertTrue(s["multi_node"])
        nodes = {n["name"]: n for n in s["nodes"]}
        self.assertTrue(nodes["a"]["self"])
        self.assertNotIn("link", nodes["a"])
        link = nodes["b"]["link"]
        self.assertEqual(link["state"], "linked", link)
        self.assertTrue(link["inbound"], link)
        self.assertGreaterEqual(link["links"], 1)
        self.assertEqual(nodes["b"]["address"], f"127.0.0.1:{self.ports[1]}")
        groups = {g["name"]: g for g in s["groups"]}
        self.assertEqual([(i["instance"], i["node"], i["available"]) for i in groups["sync"]["instances"]],
                         [("sync/0", "b", True), ("sync/1", "b", True)])
        self.assertEqual([i["node"] for i in groups["writer.events"]["instances"]], ["a", "b"])
        self.assertEqual(groups["writer.events"]["kind"], "stream_writer")
        self.assertEqual(groups["client_reader"]["available"], 2)
        # Every stream writer's position: committed in the database, published to this node.
        self.assertIn("writer.accounts/0", s["streams"]["accounts"])
        pos = s["streams"]["accounts"]["writer.accounts/0"]
        self.assertGreaterEqual(pos["committed"], 1)
        self.assertLessEqual(pos.get("published_here", 0), pos["committed"])
        # Admins only.
        other = self.b.register("not_admin")
        r = self.b.get("/_myelin/admin/v1/cluster", token=other["access_token"])
        self.assertEqual((r.status, r.errcode), (403, "M_FORBIDDEN"))
        r = self.a.get("/_myelin/admin/v1/cluster")
        self.assertEqual((r.status, r.errcode), (401, "M_MISSING_TOKEN"))

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
        # The status endpoint (main, on a) shows the outage.
        admin = self.admin("outage_admin")
        s = self.status(self.a, admin["access_token"])
        link = {n["name"]: n for n in s["nodes"]}["b"]["link"]
        self.assertEqual((link["state"], link["inbound"]), ("down", False), link)
        sync_group = {g["name"]: g for g in s["groups"]}["sync"]
        self.assertEqual(sync_group["available"], 0)
        links_before = link["links"]
        offset, offset_a = len(self.b.read_log()), len(self.a.read_log())
        self.b.start()
        self.wait_linked(self.b, since=offset)
        self.wait_linked(self.a, since=offset_a)  # a says so again once b's instances are back
        self.assertEqual(self.poll_status(sync, 200, 20).status, 200)
        link = {n["name"]: n for n in self.status(self.a, admin["access_token"])["nodes"]}["b"]["link"]
        self.assertEqual(link["state"], "linked", link)
        self.assertEqual(link["links"], links_before + 1)


class ClusterKilledUnderLoad(unittest.TestCase):
    """kill -9 of the node holding the event creators, one persister and the sync tier while
    messages flow through the other node's gateway. Clients retry failed sends with the same
    transaction id, as real clients do; a long-poller keeps syncing through the outage. Afterwards
    every acknowledged message is stored exactly once, every retried transaction kept its first
    event id, and the long-poller saw each acknowledged message exactly once."""

    def test_no_acknowledged_event_lost_or_duplicated(self):
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        ports = (free_port(), free_port())
        layout = placement(*ports)
        lifted = "rc_message: {per_second: 1000, burst_count: 1000}\n"
        a = Server(lifted, placement=layout, node="a")
        b = Server(lifted, placement=layout, node="b", shared_pg_db=a.pg_db)
        try:
            a.start()
            b.start()
            Cluster.wait_linked(a)
            Cluster.wait_linked(b)
            self.run_load(a, b)
        finally:
            b.cleanup()
            a.cleanup()

    def run_load(self, a, b):
        sender = a.register("loader")
        reader = a.register("reader")
        r = a.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=sender["access_token"])
        self.assertEqual(r.status, 200, r)
        room = r.json["room_id"]
        self.assertEqual(a.post(f"{V3}/join/{room}", {}, token=reader["access_token"]).status, 200)
        since = a.get(f"{V3}/sync?timeout=0", token=reader["access_token"]).json["next_batch"]

        acked = {}          # txn → event_id of its first 200
        retried = {}        # txn → [event ids of later 200s for the same txn]
        failures = []
        stop = threading.Event()
        sends_done = threading.Event()
        seen = []           # bodies the long-poller saw, in order
        gaps = []           # limited timelines (would hide messages)

        failure_times = []
        t0 = time.time()

        def send_loop():
            k = 0
            while not stop.is_set():
                txn, body = f"t{k}", f"msg-{k}"
                deadline = time.time() + 30
                while time.time() < deadline:
                    r = a.put(f"{V3}/rooms/{room}/send/m.room.message/{txn}", {"msgtype": "m.text", "body": body},
                              token=sender["access_token"])
                    if r.status == 200:
                        if txn in acked:
                            retried.setdefault(txn, []).append(r.json["event_id"])
                        else:
                            acked[txn] = r.json["event_id"]
                        # Half the transactions are sent twice even after a 200 (a lost answer).
                        if k % 2 == 0 and len(retried.get(txn, [])) == 0:
                            continue
                        break
                    failures.append(r.status)
                    failure_times.append((round(time.time() - t0, 2), r.status, r.errcode))
                    time.sleep(0.1)
                k += 1
                time.sleep(0.03)
            sends_done.set()

        def sync_loop():
            nonlocal since
            filt = '{"room":{"timeline":{"limit":1000}}}'
            quiet_since = None
            while True:
                r = a.get(f"{V3}/sync?timeout=2000&since={since}&filter={filt}", token=reader["access_token"])
                if r.status != 200:
                    time.sleep(0.2)
                    continue
                since = r.json["next_batch"]
                timeline = r.json.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {})
                if timeline.get("limited", False):
                    gaps.append(since)
                events = [e for e in timeline.get("events", []) if e["type"] == "m.room.message"]
                seen.extend(e["content"]["body"] for e in events)
                if sends_done.is_set():
                    quiet_since = quiet_since or time.time()
                    if set(f"msg-{t[1:]}" for t in acked) <= set(seen) or time.time() - quiet_since > 20:
                        return

        sender_thread = threading.Thread(target=send_loop)
        sync_thread = threading.Thread(target=sync_loop)
        sender_thread.start()
        sync_thread.start()
        time.sleep(3)
        b.proc.kill()  # SIGKILL mid-load: event creators, one persister and the sync tier go
        b.proc.wait()
        b.log.close()
        b.proc = None
        time.sleep(2)
        offset = len(b.read_log())
        b.start()
        Cluster.wait_linked(b, since=offset)
        time.sleep(3)
        stop.set()
        sender_thread.join(60)
        sync_thread.join(60)
        self.assertFalse(sender_thread.is_alive() or sync_thread.is_alive(), "load threads did not finish")

        self.assertGreater(len(acked), 20, (len(failures), sorted(set(failures)), sorted(acked)[:5]))
        self.assertTrue(failures, "the kill was not felt: no send failed during the outage")
        # Clean errors only: the group is unavailable (503 with Retry-After), never a 500.
        self.assertEqual(set(failures), {503}, failures)
        self.assertEqual(gaps, [], "the long-poll's timeline had a gap")
        # A retried transaction always gets its first event id back.
        for txn, ids in retried.items():
            self.assertEqual(set(ids), {acked[txn]}, txn)
        # Stored exactly once: one event per acknowledged transaction, none for anything else.
        rows = a.sql(f"SELECT txn_id, event_id FROM events WHERE room_id = '{room}' AND type = 'm.room.message'")
        by_txn = {}
        for txn, event_id in rows:
            by_txn.setdefault(txn, []).append(event_id)
        for txn, event_id in acked.items():
            self.assertEqual(by_txn.get(txn), [event_id], txn)
        self.assertEqual([t for t, ids in by_txn.items() if len(ids) > 1], [])
        # The long-poller saw every acknowledged message, each once.
        wanted = {f"msg-{t[1:]}" for t in acked}
        self.assertEqual(wanted - set(seen), set(), "acknowledged messages the long-poller never saw")
        dupes = [body for body in set(seen) if seen.count(body) > 1]
        self.assertEqual(dupes, [], "messages the long-poller saw twice")


class ClusterRetriesReads(unittest.TestCase):
    """A GET in flight to a round-robin group's instance on a node that dies is sent again to an
    instance on a live node: clients reading through the surviving gateway see no error at all."""

    def test_reads_in_flight_to_a_killed_node_are_retried(self):
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        ports = (free_port(), free_port())
        layout = f"""shared_secret: "retry test"
nodes:
  a: {{host: 127.0.0.1, port: {ports[0]}}}
  b: {{host: 127.0.0.1, port: {ports[1]}}}
groups:
  client_reader:
    - {{node: a, instances: 1}}
    - {{node: b, instances: 2}}
"""
        a = Server(placement=layout, node="a")
        b = Server(placement=layout, node="b", shared_pg_db=a.pg_db)
        try:
            a.start()
            b.start()
            Cluster.wait_linked(a)
            Cluster.wait_linked(b)
            statuses, served_by = [], set()
            stop = threading.Event()

            def reader():
                conn = a.connect()
                while not stop.is_set():
                    r = a.get("/_myelin/debug/whereami/client_reader", conn=conn)
                    statuses.append(r.status)
                    if r.status == 200:
                        served_by.add(r.json["instance"])
                conn.close()
            threads = [threading.Thread(target=reader) for _ in range(8)]
            for t in threads:
                t.start()
            time.sleep(1.5)
            b.proc.kill()  # two of the three instances die with their requests in flight
            b.proc.wait()
            b.log.close()
            b.proc = None
            time.sleep(1.5)
            stop.set()
            for t in threads:
                t.join(10)
        finally:
            b.cleanup()
            a.cleanup()
        self.assertEqual(served_by, {"client_reader/0", "client_reader/1", "client_reader/2"})
        self.assertGreater(len(statuses), 200)
        self.assertEqual([s for s in statuses if s != 200], [], "reads failed while their instance's node died")


class RedisServer:
    """A redis-server of the test's own on a unix socket in a temp dir, so the test can kill it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="myelin-redis-")
        self.socket = os.path.join(self.dir, "redis.sock")
        self.proc = None

    def start(self):
        if os.path.exists(self.socket):
            os.unlink(self.socket)  # left by a SIGKILL
        self.proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", self.socket, "--unixsocketperm",
                                      "700", "--save", "", "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(self.socket):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self):
        if self.proc is not None:
            self.proc.kill()  # SIGKILL: no goodbye to its clients
            self.proc.wait()
            self.proc = None

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterRedis(unittest.TestCase):
    """Redis pub/sub as the fan-out bus. a runs the event creator and persister; b runs main (so the
    status endpoint shows b's view of the bus) and the sync tier: a message sent through a reaches
    b's long-polls through Redis. Then Redis is SIGKILLed under a steady trickle of messages: both
    nodes log it, the status says so, and messages keep waking b's long-polls over the node link
    within seconds; Redis restarts on the same socket and carries updates again. Every acknowledged
    message is stored once, and b's long-poller saw each once."""

    WAKE_LIMIT = 5.0  # seconds from a send's 200 to the long-poller on b seeing it (polls wait 25 s)

    def test_redis_fan_out_survives_an_outage(self):
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        if shutil.which("redis-server") is None:
            raise unittest.SkipTest("redis-server is not installed")
        self.redis = RedisServer()
        self.redis.start()
        ports = (free_port(), free_port())
        layout = f"""shared_secret: "redis test"
nodes:
  a: {{host: 127.0.0.1, port: {ports[0]}}}
  b: {{host: 127.0.0.1, port: {ports[1]}}}
redis: {{path: {self.redis.socket}}}
groups:
  main: {{node: b}}
  client_reader: {{node: a}}
  event_creator: {{node: a}}
  writer.events: {{node: a}}
  sync: {{node: b}}
"""
        lifted = "rc_message: {per_second: 1000, burst_count: 1000}\n"
        self.a = Server(lifted, placement=layout, node="a")
        self.b = Server(lifted, placement=layout, node="b", shared_pg_db=self.a.pg_db)
        try:
            self.a.start()
            self.b.start()
            Cluster.wait_linked(self.a)
            Cluster.wait_linked(self.b)
            self.run_scenario()
        finally:
            self.b.cleanup()
            self.a.cleanup()
            self.redis.cleanup()

    def redis_status(self):
        r = self.b.get("/_myelin/admin/v1/cluster", token=self.admin["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["node"], "b")
        return r.json["redis"]

    def wait_status(self, ok, what, timeout=20):
        deadline = time.time() + timeout
        while True:
            s = self.redis_status()
            if ok(s):
                return s
            if time.time() > deadline:
                raise AssertionError(f"{what}: {s}\n{self.a.read_log()[-2000:]}\n{self.b.read_log()[-2000:]}")
            time.sleep(0.2)

    def wait_log(self, server, text, since, timeout=20):
        deadline = time.time() + timeout
        while text not in server.read_log()[since:]:
            if time.time() > deadline:
                raise AssertionError(f"no '{text}' in the log:\n" + server.read_log()[since:][-3000:])
            time.sleep(0.1)

    @staticmethod
    def all_up(s):
        return s["publisher"] == "up" and s["subscriber"] == "subscribed" and s["peers"].get("a", {}).get("subscribed")

    def run_scenario(self):
        a, b = self.a, self.b
        self.admin = a.register("redis_admin")
        a.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{self.admin['user_id']}'")
        sender = a.register("sender")
        reader = b.register("reader")
        room = a.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=sender["access_token"]).json["room_id"]
        self.assertEqual(b.post(f"{V3}/join/{room}", {}, token=reader["access_token"]).status, 200)
        s = self.wait_status(self.all_up, "the bus did not come up")
        self.assertTrue(s["configured"])
        self.assertEqual(s["channel"], "myelin.streams")
        self.assertEqual(s["address"], "unix:" + self.redis.socket)
        received_before = s["received"]

        since = b.get(f"{V3}/sync?timeout=0", token=reader["access_token"]).json["next_batch"]
        seen = {}            # body → [times the long-poller on b saw it]
        acked = {}           # txn → (event_id, time of its 200)
        failures = []
        stop_sending = threading.Event()
        stop_syncing = threading.Event()

        def sync_loop():
            nonlocal since
            filt = '{"room":{"timeline":{"limit":1000}}}'
            conn = b.connect(timeout=40)
            while not stop_syncing.is_set():
                r = b.get(f"{V3}/sync?timeout=25000&since={since}&filter={filt}", token=reader["access_token"],
                          conn=conn)
                if r.status != 200:
                    failures.append(("sync", r.status))
                    time.sleep(0.2)
                    continue
                since = r.json["next_batch"]
                timeline = r.json.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {})
                if timeline.get("limited"):
                    failures.append(("limited timeline", since))
                for e in timeline.get("events", []):
                    if e["type"] == "m.room.message":
                        seen.setdefault(e["content"]["body"], []).append(time.time())
            conn.close()

        def send(k):
            txn, body = f"t{k}", f"msg-{k}"
            for _ in range(50):
                r = a.put(f"{V3}/rooms/{room}/send/m.room.message/{txn}", {"msgtype": "m.text", "body": body},
                          token=sender["access_token"])
                if r.status == 200:
                    acked[txn] = (r.json["event_id"], time.time())
                    return
                failures.append(("send", r.status))
                time.sleep(0.1)

        def trickle():
            k = 1
            while not stop_sending.is_set():
                send(k)
                k += 1
                time.sleep(0.2)

        syncer = threading.Thread(target=sync_loop)
        syncer.start()
        time.sleep(0.5)
        try:
            # (a) One message through a's gateway wakes the long-poll on b, through Redis.
            send(0)
            deadline = time.time() + self.WAKE_LIMIT
            while "msg-0" not in seen and time.time() < deadline:
                time.sleep(0.05)
            self.assertIn("msg-0", seen, b.read_log()[-2000:])
            s = self.wait_status(lambda s: s["received"] > received_before, "b received nothing through Redis")
            self.assertEqual(s["publisher"], "up")
            catch_ups_before = s["catch_ups"]

            # (b) Redis dies under a steady trickle.
            sender_thread = threading.Thread(target=trickle)
            sender_thread.start()
            time.sleep(2)
            offsets = (len(a.read_log()), len(b.read_log()))
            killed_at = time.time()
            self.redis.kill()
            self.wait_log(a, "redis fan-out lost", offsets[0])
            self.wait_log(b, "redis fan-out lost", offsets[1])
            s = self.wait_status(lambda s: s["publisher"] == "down" and s["subscriber"] == "down"
                                 and not s["peers"].get("a", {}).get("subscribed"), "the status missed the outage")
            self.assertTrue(s["last_error"], s)
            self.assertGreater(s["failures"], 0, s)
            # b asked a what it had published (what Redis may have dropped) and caught up to it.
            self.wait_status(lambda s: s["catch_ups"] > catch_ups_before, "b did not catch up after the loss")
            time.sleep(3)  # messages keep flowing, over the node link

            # (c) Redis returns on the same socket.
            offsets = (len(a.read_log()), len(b.read_log()))
            restarted_at = time.time()
            self.redis.start()
            self.wait_log(a, "redis fan-out restored", offsets[0])
            self.wait_log(b, "redis fan-out restored", offsets[1])
            s = self.wait_status(self.all_up, "the bus did not come back")
            received_back = s["received"]
            self.wait_status(lambda s: s["received"] > received_back, "Redis carries nothing after the restart")
            time.sleep(1)
        finally:
            stop_sending.set()
            if "sender_thread" in locals():
                sender_thread.join(30)
            # Let the long-poller see the last messages, then stop it.
            deadline = time.time() + 10
            while time.time() < deadline and not {f"msg-{t[1:]}" for t in acked} <= set(seen):
                time.sleep(0.1)
            stop_syncing.set()
            a.post(f"{V3}/rooms/{room}/send/m.room.message/last", {"msgtype": "m.text", "body": "last"},
                   token=sender["access_token"])  # wakes the last long-poll
            syncer.join(30)

        # (d) Nothing wedged, lost or duplicated.
        self.assertEqual(failures, [])
        outage = [t for t, (_, at) in acked.items() if killed_at <= at <= restarted_at]
        self.assertGreater(len(outage), 5, "too few messages were sent during the outage")
        slow = {t: round(min(seen[f"msg-{t[1:]}"]) - at, 2) for t, (_, at) in acked.items()
                if f"msg-{t[1:]}" in seen and min(seen[f"msg-{t[1:]}"]) - at > self.WAKE_LIMIT}
        self.assertEqual(slow, {}, "messages that took too long to wake the long-poll on b")
        wanted = {f"msg-{t[1:]}" for t in acked}
        self.assertEqual(wanted - set(seen), set(), "acknowledged messages the long-poller on b never saw")
        self.assertEqual({body: len(times) for body, times in seen.items() if len(times) > 1}, {},
                         "messages the long-poller on b saw more than once")
        r = a.get(f"{V3}/rooms/{room}/messages?dir=b&limit=1000", token=sender["access_token"])
        self.assertEqual(r.status, 200, r)
        stored = [e for e in r.json["chunk"] if e["type"] == "m.room.message" and e["content"]["body"] != "last"]
        self.assertEqual(sorted(e["event_id"] for e in stored), sorted(event_id for event_id, _ in acked.values()))
        self.assertEqual(len({e["content"]["body"] for e in stored}), len(stored), "a message stored twice")


def make_ca(directory, name):
    """A CA and one certificate it signed (openssl CLI), for node links over TLS."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name} CA",
        "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name} node", "-keyout", f"{name}-node.key",
        "-out", f"{name}-node.csr")
    run("x509", "-req", "-in", f"{name}-node.csr", "-CA", f"{name}-ca.pem", "-CAkey", f"{name}-ca.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}-node.pem")
    return {k: os.path.join(directory, f"{name}-{k}") for k in ("ca.pem", "node.pem", "node.key")}


class ClusterTLS(unittest.TestCase):
    """Node links over mutual TLS (CAF's OpenSSL module): with certificates from the placement's CA
    the nodes link and a request crosses; a node whose certificate another CA signed is refused."""

    def layout(self, ports, files):
        return placement(*ports) + (f"tls: {{certificate: {files['node.pem']}, key: {files['node.key']}, "
                                    f"ca: {files['ca.pem']}}}\n")

    def test_links_over_tls_and_a_stranger_is_refused(self):
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        certs = tempfile.mkdtemp(prefix="myelin-it-tls-")
        try:
            good = make_ca(certs, "good")
            ports = (free_port(), free_port())
            a = Server(placement=self.layout(ports, good), node="a")
            b = Server(placement=self.layout(ports, good), node="b", shared_pg_db=a.pg_db)
            try:
                a.start()
                b.start()
                Cluster.wait_linked(a)
                Cluster.wait_linked(b)
                self.assertIn("transport=tls", a.read_log())
                alice = a.register("tls_alice")
                r = a.get(f"{V3}/sync?timeout=0", token=alice["access_token"])  # sync lives on b
                self.assertEqual(r.status, 200, r)
            finally:
                b.cleanup()
                a.cleanup()

            # Same placement but b's certificate comes from another CA: neither side accepts the other.
            other = make_ca(certs, "other")
            ports = (free_port(), free_port())
            mixed = dict(good, **{"node.pem": other["node.pem"], "node.key": other["node.key"]})
            a = Server(placement=self.layout(ports, good), node="a")
            b = Server(placement=self.layout(ports, mixed), node="b", shared_pg_db=a.pg_db)
            try:
                a.start()
                b.start()
                time.sleep(3)
                self.assertNotIn("node linked", a.read_log() + b.read_log())
                self.assertIn("cannot link to node yet", a.read_log() + b.read_log())
                user = a.register("tls_bob")
                self.assertEqual(a.get(f"{V3}/sync?timeout=0", token=user["access_token"]).status, 503)
            finally:
                b.cleanup()
                a.cleanup()
        finally:
            shutil.rmtree(certs, ignore_errors=True)


class ClusterStatusSingleNode(ServerTestCase):
    """The status endpoint on a one-process deployment (both databases): one node, no links, every
    group available."""

    def test_single_node_status(self):
        admin = self.server.register("solo_admin")
        self.server.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{admin['user_id']}'")
        r = self.server.get("/_myelin/admin/v1/cluster", token=admin["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["multi_node"])
        self.assertEqual([(n["name"], n["self"]) for n in r.json["nodes"]], [("main", True)])
        for g in r.json["groups"]:
            # Background groups start no instances, but for those with work (pushers, appservices,
            # the federation sender).
            idle = g["kind"] == "background" and g["name"] not in ("pusher", "appservice", "federation_sender")
            self.assertEqual(g["available"], 0 if idle else g["total"], g)
        self.assertIn("sync", [g["name"] for g in r.json["groups"] if g["kind"] == "api"])
        self.assertIn("events", r.json["streams"])
        self.assertEqual(r.headers["x-myelin-instance"], "main/0")  # the route table sends it to main
        other = self.server.register("solo_user")
        self.assertError(self.server.get("/_myelin/admin/v1/cluster", token=other["access_token"]), 403,
                         "M_FORBIDDEN")
        self.assertError(self.server.get("/_myelin/admin/v1/cluster"), 401, "M_MISSING_TOKEN")


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
            # The status endpoint tells the operator why: b (listed later) dials, finds that a's proof
            # does not match its secret and gives up; a sees that on b's next attempt (back-off: up
            # to 5 s).
            a.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{user['user_id']}'")
            deadline = time.time() + 20
            while True:
                r = a.get("/_myelin/admin/v1/cluster", token=user["access_token"])
                self.assertEqual(r.status, 200, r)
                link = {n["name"]: n for n in r.json["nodes"]}["b"]["link"]
                if "secret" in link["last_error"] or time.time() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(link["state"], "down", link)
            self.assertIn("secret", link["last_error"], link)
            self.assertGreaterEqual(link["refused"] + link["failed_attempts"], 1, link)
        finally:
            b.cleanup()
            a.cleanup()


class ClusterDifferentPlacement(unittest.TestCase):
    def test_nodes_of_incompatible_placement_files_do_not_link(self):
        """Instance numbers and affinity hashes come from the file: a node started with a version of
        it that does more than add (here: two event creators, which shard rooms, instead of one) is
        refused, and says why."""
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        ports = (free_port(), free_port())
        a = Server(placement=placement(*ports), node="a")
        b = Server(placement=placement(*ports, event_creators=2), node="b", shared_pg_db=a.pg_db)
        try:
            a.start()
            b.start()
            # b dials (it is listed later): a's directory refuses it, and b's connector says why.
            refused = "refused a node link: it runs a different placement file"
            deadline = time.time() + 20
            while time.time() < deadline and not (refused in a.read_log() and
                                                  "different placement file" in b.read_log()):
                time.sleep(0.1)
            self.assertIn(refused, a.read_log())
            self.assertIn("group 'event_creator' changed", a.read_log())
            self.assertIn("cannot link to node yet; retrying peer=a", b.read_log())
            self.assertIn("different placement file", b.read_log())
            self.assertNotIn("node linked", a.read_log() + b.read_log())
            self.assertNotIn("adopted", a.read_log() + b.read_log())
        finally:
            b.cleanup()
            a.cleanup()


def growable_placement(ports, grown):
    """Two nodes; grown: node c appended, with a client_reader and a sync instance, and one more
    client_reader on a — every new instance after the existing ones, so running nodes adopt it."""
    extra_node = f"  c: {{host: 127.0.0.1, port: {ports[2]}}}\n" if grown else ""
    readers = "[{node: a, instances: 2}, {node: c}, {node: a}]" if grown else "{node: a, instances: 2}"
    syncs = "[{node: b}, {node: c}]" if grown else "{node: b}"
    return f"""shared_secret: "grow secret"
nodes:
  a: {{host: 127.0.0.1, port: {ports[0]}}}
  b: {{host: 127.0.0.1, port: {ports[1]}}}
{extra_node}groups:
  main: {{node: a}}
  client_reader: {readers}
  sync: {syncs}
  event_creator: {{node: b}}
  writer.typing: {{node: b}}
"""


class ClusterGrowsLive(unittest.TestCase):
    def test_a_node_started_with_a_grown_file_joins_without_restarting_the_others(self):
        """a and b run the old file; c starts with the new one (c appended, more client_reader and
        sync instances). a and b adopt it without a restart — a even starts its own new
        client_reader — and requests and stream updates reach c's instances from every gateway."""
        from harness import ARGS as args
        if args.db != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        ports = (free_port(), free_port(), free_port())
        a = Server(placement=growable_placement(ports, False), node="a")
        b = Server(placement=growable_placement(ports, False), node="b", shared_pg_db=a.pg_db)
        c = Server(placement=growable_placement(ports, True), node="c", shared_pg_db=a.pg_db)
        try:
            a.start()
            b.start()
            Cluster.wait_linked(a)
            Cluster.wait_linked(b)
            pids = (a.proc.pid, b.proc.pid)
            alice = a.register("grow_alice")
            a.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{alice['user_id']}'")
            room = a.post(f"{V3}/createRoom", {"preset": "public_chat"},
                          token=alice["access_token"]).json["room_id"]
            marks = {s: len(s.read_log()) for s in (a, b)}

            c.start()
            Cluster.wait_linked(c)
            for s in (a, b):
                Cluster.wait_linked(s, since=marks[s])  # complete again, with the new slots filled
                self.assertIn("adopted a newer placement from a linked node", s.read_log()[marks[s]:])
            self.assertEqual((a.proc.pid, b.proc.pid), pids)
            self.assertIsNone(a.proc.poll())
            self.assertIsNone(b.proc.poll())

            # Every node reports the same layout, every new instance reachable.
            digests = set()
            for s in (a, b, c):
                r = s.get("/_myelin/admin/v1/cluster", token=alice["access_token"])
                self.assertEqual(r.status, 200, r)
                digests.add(r.json["layout_digest"])
                self.assertEqual([n["name"] for n in r.json["nodes"]], ["a", "b", "c"])
                groups = {g["name"]: g for g in r.json["groups"]}
                self.assertEqual((groups["client_reader"]["available"], groups["client_reader"]["total"]), (4, 4))
                self.assertEqual((groups["sync"]["available"], groups["sync"]["total"]), (2, 2))
                self.assertEqual([i["node"] for i in groups["client_reader"]["instances"]], ["a", "a", "c", "a"])
            self.assertEqual(len(digests), 1, digests)

            # a's and b's gateways spread client_reader requests over the new instances too: c's,
            # and the one a started when it adopted the file.
            for s in (a, b):
                seen = set()
                for _ in range(24):
                    r = s.get(f"{V3}/rooms/{room}/state", token=alice["access_token"])
                    self.assertEqual(r.status, 200, r)
                    seen.add(r.headers["x-myelin-instance"])
                self.assertEqual(seen, {f"client_reader/{i}" for i in range(4)})

            # A user whose sync lands on c's instance, asked through b's gateway, is woken by a
            # message sent through a's gateway.
            user, since = None, None
            for i in range(16):
                u = a.register(f"grow_user{i}")
                r = b.get(f"{V3}/sync?timeout=0", token=u["access_token"])
                self.assertEqual(r.status, 200, r)
                if r.headers["x-myelin-instance"] == "sync/1":
                    user = u
                    break
            self.assertIsNotNone(user, "no user hashed to sync/1")
            self.assertEqual(a.post(f"{V3}/join/{room}", {}, token=user["access_token"]).status, 200)
            # The since token once c's sync instance has the join (the nodes' streams reach it a
            # moment after a's writer): otherwise the next sync is the room's first, whole timeline.
            deadline = time.time() + 10
            while True:
                body = b.get(f"{V3}/sync?timeout=0", token=user["access_token"]).json
                if room in body.get("rooms", {}).get("join", {}) or time.time() > deadline:
                    break
                time.sleep(0.1)
            self.assertIn(room, body.get("rooms", {}).get("join", {}))
            since = body["next_batch"]
            got = {}

            def long_poll():
                got["r"] = b.get(f"{V3}/sync?timeout=20000&since={since}", token=user["access_token"])

            t = threading.Thread(target=long_poll)
            t.start()
            time.sleep(0.5)
            sent = a.put(f"{V3}/rooms/{room}/send/m.room.message/grow1", {"msgtype": "m.text", "body": "hi c"},
                         token=alice["access_token"])
            self.assertEqual(sent.status, 200, sent)
            started = time.time()
            t.join(25)
            self.assertFalse(t.is_alive())
            self.assertLess(time.time() - started, 10)
            r = got["r"]
            self.assertEqual(r.headers["x-myelin-instance"], "sync/1")
            events = r.json["rooms"]["join"][room]["timeline"]["events"]
            self.assertIn(sent.json["event_id"], [e["event_id"] for e in events])
        finally:
            c.cleanup()
            b.cleanup()
            a.cleanup()


if __name__ == "__main__":
    main()
