"""Application services against a fake service (an HTTP server in this process that records what the
homeserver sends and can be told to fail): registration files, the as_token and masquerading,
/register with m.login.application_service, M_EXCLUSIVE namespaces, transactions (interest rules,
order, exactly once, retries with the same txnId, a restart in the middle), ephemeral events for the
services that ask, alias and user queries, /appservice/{id}/ping and the reload on SIGHUP."""
import http.server
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.parse
import uuid

import harness
from harness import ServerTestCase, main, reply_json
from room_helpers import RoomClient

V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"


def q(s):
    return urllib.parse.quote(s, safe="")


class FakeAppService:
    """Records transactions; answers queries and pings; fails on demand."""

    def __init__(self, hs_token):
        self.hs_token = hs_token
        self.lock = threading.Condition()
        self.transactions = []       # (txn_id, body) of every PUT that was answered 200
        self.attempts = []           # txn_id of every PUT, failed ones included
        self.fail_next = 0           # answer this many PUTs with 500
        self.pings = []
        self.ping_mode = "ok"        # ok | status | slow
        self.queried = []
        self.on_alias_query = None   # alias -> bool (True: created, answer 200)
        self.on_user_query = None
        self.bad_auth = 0
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                reply_json(self, status, body)  # the homeserver may have given up waiting (the slow ping)

            def authorized(self):
                if self.headers.get("Authorization") != "Bearer " + fake.hs_token:
                    with fake.lock:
                        fake.bad_auth += 1
                    self.reply(403, {"errcode": "M_FORBIDDEN"})
                    return False
                return True

            def body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n) or b"{}")

            def do_PUT(self):
                prefix = "/_matrix/app/v1/transactions/"
                if not self.path.startswith(prefix) or not self.authorized():
                    return self.reply(404, {}) if not self.path.startswith(prefix) else None
                txn_id, body = self.path[len(prefix):], self.body()
                with fake.lock:
                    fake.attempts.append(txn_id)
                    if fake.fail_next > 0:
                        fake.fail_next -= 1
                        fake.lock.notify_all()
                        return self.reply(500, {"errcode": "M_UNKNOWN"})
                    fake.transactions.append((txn_id, body))
                    fake.lock.notify_all()
                self.reply(200, {})

            def do_POST(self):
                if self.path != "/_matrix/app/v1/ping" or not self.authorized():
                    return
                body = self.body()
                with fake.lock:
                    fake.pings.append(body)
                    mode = fake.ping_mode
                if mode == "slow":
                    time.sleep(3)
                if mode == "status":
                    return self.reply(418, {"errcode": "M_TEAPOT"})
                self.reply(200, {})

            def do_GET(self):
                if not self.authorized():
                    return
                path = urllib.parse.unquote(self.path)
                for prefix, hook in (("/_matrix/app/v1/rooms/", "on_alias_query"),
                                     ("/_matrix/app/v1/users/", "on_user_query")):
                    if path.startswith(prefix):
                        what = path[len(prefix):]
                        with fake.lock:
                            fake.queried.append(what)
                        fn = getattr(fake, hook)
                        return self.reply(200, {}) if fn and fn(what) else self.reply(404, {"errcode": "M_NOT_FOUND"})
                self.reply(404, {})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def events(self):
        """Every delivered event, in delivery order, one per transaction id (a repeated txnId
        counts once: the spec asks services to deduplicate by it)."""
        seen, out = set(), []
        with self.lock:
            for txn_id, body in self.transactions:
                if txn_id in seen:
                    continue
                seen.add(txn_id)
                out.extend(body.get("events", []))
        return out

    def wait_for(self, predicate, timeout=15, what="condition"):
        deadline = time.time() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError(f"fake appservice: timed out waiting for {what}")
                self.lock.wait(min(left, 0.2))

    def wait_for_event(self, event_id, timeout=15):
        self.wait_for(lambda: any(e.get("event_id") == event_id for _, b in self.transactions for e in b["events"]),
                      timeout, f"event {event_id}")


def registration(as_id, url, as_token, hs_token, sender, users=(), aliases=(), rooms=(), extra=""):
    def ns(items):
        return "".join(f"    - exclusive: {'true' if excl else 'false'}\n      regex: '{rx}'\n" for rx, excl in items) \
            or "    []\n"
    return (f"id: {as_id}\nurl: {url if url else 'null'}\nas_token: {as_token}\nhs_token: {hs_token}\n"
            f"sender_localpart: {sender}\n" + extra +
            "namespaces:\n  users:\n" + ns(users) + "  aliases:\n" + ns(aliases) + "  rooms:\n" + ns(rooms))


class AppServiceCase(RoomClient, ServerTestCase):
    """Starts its own server with the registrations `registrations()` returns."""
    timeout = "2s"

    @classmethod
    def registrations(cls):
        raise NotImplementedError

    @classmethod
    def write_registrations(cls):
        files = []
        for name, text in cls.registrations().items():
            path = os.path.join(cls.reg_dir, name + ".yaml")
            with open(path, "w") as f:
                f.write(text)
            files.append(path)
        return files

    @classmethod
    def setUpClass(cls):
        cls.reg_dir = tempfile.mkdtemp(prefix="myelin-as-")
        cls.fakes = cls.make_fakes()
        files = cls.write_registrations()
        config = (RoomClient.extra_config +
                  f"appservice:\n  timeout: {cls.timeout}\n  retry_delay: 200ms\n  max_retry_delay: 1s\n" +
                  "app_service_config_files:\n" + "".join(f"  - {p}\n" for p in files))
        cls.extra_config = config
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            for f in cls.fakes.values():
                f.close()
            shutil.rmtree(cls.reg_dir, ignore_errors=True)

    def bridged_room(self, creator, virtual, as_token):
        """A room of `creator` that the service's user `virtual` has joined (as the service): a
        joined member makes the room interesting to the service (Synapse's rule; an invite alone
        does not)."""
        room = self.create(creator, invite=[virtual])
        r = self.server.post(f"{V3}/join/{q(room)}?user_id={q(virtual)}", {}, token=as_token)
        self.assertEqual(r.status, 200, r)
        return room

    def as_register(self, token, username, **extra):
        body = {"type": "m.login.application_service", "username": username}
        body.update(extra)
        return self.server.post(f"{V3}/register", body, token=token)


class Bridge(AppServiceCase):
    """One bridge with an exclusive user and alias namespace, one service without a URL, and one
    whose URL refuses connections."""

    @classmethod
    def make_fakes(cls):
        return {"bridge": FakeAppService("hs-bridge")}

    @classmethod
    def registrations(cls):
        url = cls.fakes["bridge"].url
        dead = f"http://127.0.0.1:{harness.free_port()}"
        return {
            "bridge": registration("bridge", url, "as-bridge", "hs-bridge", "bridgebot",
                                   users=[("@_bridge_.*:test\\.local", True)],
                                   aliases=[("#_bridge_.*:test\\.local", True)]),
            "nourl": registration("nourl", None, "as-nourl", "hs-nourl", "nourlbot",
                                  users=[("@nourl-.*", True)]),
            "dead": registration("dead", dead, "as-dead", "hs-dead", "deadbot"),
        }

    @property
    def fake(self):
        return self.fakes["bridge"]

    def test_register_virtual_users(self):
        r = self.as_register("as-bridge", "_bridge_alice")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user_id"], "@_bridge_alice:test.local")
        self.assertIn("access_token", r.json)
        self.assertError(self.as_register("as-bridge", "_bridge_alice"), 400, "M_USER_IN_USE")
        # Outside its namespace, or in another service's.
        self.assertError(self.as_register("as-bridge", "carol"), 400, "M_EXCLUSIVE")
        self.assertError(self.as_register("as-bridge", "nourl-x"), 400, "M_EXCLUSIVE")
        # SDKs send ?user_id= with the new user: it is not checked against existing users here.
        r = self.server.post(f"{V3}/register?user_id={q('@_bridge_zed:test.local')}",
                             {"type": "m.login.application_service", "username": "_bridge_zed"}, token="as-bridge")
        self.assertEqual(r.status, 200, r)
        # inhibit_login: no session.
        r = self.as_register("as-bridge", "_bridge_quiet", inhibit_login=True)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("access_token", r.json)
        # Its own user exists already (created at start; bridges take M_USER_IN_USE as "done").
        self.assertError(self.as_register("as-bridge", "bridgebot"), 400, "M_USER_IN_USE")
        # No token, a user's token, an unknown token.
        self.assertError(self.as_register(None, "_bridge_x"), 401, "M_MISSING_TOKEN")
        self.assertError(self.as_register(self.tok("dave"), "_bridge_x"), 401, "M_UNKNOWN_TOKEN")
        # An unknown token counts as none here (ordinary registration ignores tokens).
        self.assertError(self.as_register("nonsense", "_bridge_x"), 401, "M_MISSING_TOKEN")

    def test_login_as_virtual_user(self):
        self.as_register("as-bridge", "_bridge_lou", inhibit_login=True)

        def login(token, user):
            return self.server.post(f"{V3}/login", {"type": "m.login.application_service",
                                                    "identifier": {"type": "m.id.user", "user": user}}, token=token)
        r = login("as-bridge", "_bridge_lou")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user_id"], "@_bridge_lou:test.local")
        who = self.server.get(f"{V3}/account/whoami", token=r.json["access_token"])
        self.assertEqual(who.json["user_id"], "@_bridge_lou:test.local")
        self.tok("olaf")
        self.assertError(login("as-bridge", "olaf"), 403, "M_EXCLUSIVE")
        self.assertError(login("as-bridge", "_bridge_nobody"), 403, "M_FORBIDDEN")
        self.assertError(login(None, "_bridge_lou"), 401, "M_MISSING_TOKEN")
        self.assertError(login(self.tok("olaf"), "_bridge_lou"), 401, "M_UNKNOWN_TOKEN")
        flows = self.server.get(f"{V3}/login").json["flows"]
        self.assertIn({"type": "m.login.application_service"}, flows)
        # A stale token does not get in the way of ordinary login and registration.
        r = self.server.post(f"{V3}/login", {"type": "m.login.password", "password": "correct horse battery",
                                             "identifier": {"type": "m.id.user", "user": "olaf"}}, token="stale")
        self.assertEqual(r.status, 200, r)
        r = self.server.post(f"{V3}/register", {"username": "pia", "password": "correct horse battery",
                                                "auth": {"type": "m.login.dummy"}}, token="stale")
        self.assertEqual(r.status, 200, r)

    def test_exclusive_namespaces_for_everyone_else(self):
        r = self.server.post(f"{V3}/register", {"username": "nourl-mallory", "password": "correct horse battery",
                                                "auth": {"type": "m.login.dummy"}})
        self.assertError(r, 400, "M_EXCLUSIVE")
        r = self.server.get(f"{V3}/register/available?username=nourl-y")
        self.assertError(r, 400, "M_EXCLUSIVE")
        room = self.create("erin")
        r = self.server.put(f"{V3}/directory/room/{q('#_bridge_room:test.local')}", {"room_id": room},
                            token=self.tok("erin"))
        self.assertError(r, 400, "M_EXCLUSIVE")
        r = self.server.post(f"{V3}/createRoom", {"room_alias_name": "_bridge_new"}, token=self.tok("erin"))
        self.assertError(r, 400, "M_EXCLUSIVE")
        # The bridge itself may, even without being in the room.
        r = self.server.put(f"{V3}/directory/room/{q('#_bridge_room:test.local')}", {"room_id": room},
                            token="as-bridge")
        self.assertEqual(r.status, 200, r)
        r = self.server.put(f"{V3}/directory/room/{q('#elsewhere:test.local')}", {"room_id": room},
                            token="as-bridge")
        self.assertError(r, 403, "M_EXCLUSIVE")

    def test_as_token_and_masquerading(self):
        r = self.server.get(f"{V3}/account/whoami", token="as-bridge")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user_id"], "@bridgebot:test.local")
        self.as_register("as-bridge", "_bridge_bob")
        r = self.server.get(f"{V3}/account/whoami?user_id={q('@_bridge_bob:test.local')}", token="as-bridge")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user_id"], "@_bridge_bob:test.local")
        # In its namespace but never registered; outside its namespace; on another server.
        r = self.server.get(f"{V3}/account/whoami?user_id={q('@_bridge_ghost:test.local')}", token="as-bridge")
        self.assertError(r, 403, "M_FORBIDDEN")
        self.tok("frank")
        r = self.server.get(f"{V3}/account/whoami?user_id={q('@frank:test.local')}", token="as-bridge")
        self.assertError(r, 403, "M_FORBIDDEN")
        r = self.server.get(f"{V3}/account/whoami?user_id={q('@_bridge_bob:elsewhere.org')}", token="as-bridge")
        self.assertError(r, 403, "M_FORBIDDEN")
        # ?user_id= means nothing with a user's token.
        r = self.server.get(f"{V3}/account/whoami?user_id={q('@_bridge_bob:test.local')}", token=self.tok("frank"))
        self.assertEqual(r.json["user_id"], "@frank:test.local")

    def test_sender_acts_without_registering(self):
        # The service's own user needs no /register: it exists from the start, with a profile.
        r = self.server.post(f"{V3}/createRoom", {"name": "bot room"}, token="as-dead")
        self.assertEqual(r.status, 200, r)
        room = r.json["room_id"]
        r = self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/{uuid.uuid4().hex}",
                            {"msgtype": "m.text", "body": "hello"}, token="as-dead")
        self.assertEqual(r.status, 200, r)
        r = self.server.get(f"{V3}/profile/{q('@deadbot:test.local')}", token=self.tok("rita"))
        self.assertEqual(r.status, 200, r)

    def test_transactions_in_order_exactly_once(self):
        self.as_register("as-bridge", "_bridge_gina")
        gina = "@_bridge_gina:test.local"
        room = self.create("hank")
        r = self.server.post(f"{V3}/rooms/{q(room)}/invite", {"user_id": gina}, token=self.tok("hank"))
        self.assertEqual(r.status, 200, r)
        r = self.server.post(f"{V3}/join/{q(room)}?user_id={q(gina)}", {}, token="as-bridge")
        self.assertEqual(r.status, 200, r)
        sent = [self.send("hank", room, f"m{i}") for i in range(5)]
        r = self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/{uuid.uuid4().hex}?user_id={q(gina)}",
                            {"msgtype": "m.text", "body": "from the bridge"}, token="as-bridge")
        self.assertEqual(r.status, 200, r)
        sent.append(r.json["event_id"])
        self.fake.wait_for_event(sent[-1])
        events = [e for e in self.fake.events() if e["room_id"] == room]
        ids = [e["event_id"] for e in events]
        self.assertEqual(len(ids), len(set(ids)), "an event was delivered twice")
        # Everything from the invite on, in order, in the client format.
        self.assertEqual([i for i in ids if i in sent], sent)
        invite = next(e for e in events if e["type"] == "m.room.member" and e["state_key"] == gina)
        self.assertEqual(invite["content"]["membership"], "invite")
        msg = next(e for e in events if e["event_id"] == sent[0])
        self.assertEqual(msg["content"]["body"], "m0")
        self.assertEqual(msg["sender"], self.uid("hank"))
        self.assertIn("origin_server_ts", msg)
        self.assertEqual(self.fake.bad_auth, 0)

    def test_uninteresting_rooms_are_not_sent(self):
        room = self.create("ivan")
        quiet = self.send("ivan", room, "nobody bridged here")
        # A later event the bridge does see: once it has arrived, the earlier one would have too.
        self.as_register("as-bridge", "_bridge_judy")
        other = self.bridged_room("ivan", "@_bridge_judy:test.local", "as-bridge")
        marker = self.send("ivan", other, "marker")
        self.fake.wait_for_event(marker)
        self.assertNotIn(quiet, [e["event_id"] for e in self.fake.events()])

    def test_failing_service_gets_the_same_transaction_again(self):
        self.as_register("as-bridge", "_bridge_kim")
        room = self.bridged_room("karl", "@_bridge_kim:test.local", "as-bridge")
        self.fake.wait_for(lambda: any(e.get("room_id") == room and e["type"] == "m.room.member" and
                                       e["state_key"] == "@_bridge_kim:test.local" and
                                       e["content"]["membership"] == "join"
                                       for _, b in self.fake.transactions for e in b["events"]),
                           what="the virtual user's join")
        with self.fake.lock:
            self.fake.fail_next = 3
            before = len(self.fake.attempts)
        first = self.send("karl", room, "retried")
        self.fake.wait_for_event(first)
        with self.fake.lock:
            tries = self.fake.attempts[before:]
            delivered = next(t for t, b in self.fake.transactions if any(e["event_id"] == first for e in b["events"]))
        self.assertGreaterEqual(len(tries), 4, tries)
        self.assertEqual(set(tries[:4]), {delivered}, tries)  # the same txnId every time
        later = self.send("karl", room, "after")
        self.fake.wait_for_event(later)
        with self.fake.lock:
            txn_ids = [t for t, _ in self.fake.transactions]
        self.assertGreater(int(txn_ids[-1]), int(delivered))
        self.assertEqual(txn_ids, sorted(txn_ids, key=int))

    def test_alias_and_user_queries(self):
        room = self.create("lena")

        def create_alias(alias):
            # The service creates the alias on demand, with its own token, then says yes.
            r = self.server.put(f"{V3}/directory/room/{q(alias)}", {"room_id": room}, token="as-bridge")
            return r.status == 200
        self.fake.on_alias_query = create_alias
        r = self.server.get(f"{V3}/directory/room/{q('#_bridge_ondemand:test.local')}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["room_id"], room)
        self.assertIn("#_bridge_ondemand:test.local", self.fake.queried)
        # A known alias is not asked for; an unknown one outside the namespace neither.
        self.fake.queried.clear()
        self.assertEqual(self.server.get(f"{V3}/directory/room/{q('#_bridge_ondemand:test.local')}").status, 200)
        self.assertError(self.server.get(f"{V3}/directory/room/{q('#unknown:test.local')}"), 404, "M_NOT_FOUND")
        self.assertEqual(self.fake.queried, [])
        # The service says no: still 404.
        self.fake.on_alias_query = lambda alias: False
        self.assertError(self.server.get(f"{V3}/directory/room/{q('#_bridge_nothing:test.local')}"), 404,
                         "M_NOT_FOUND")
        # Users: a profile lookup of an unknown user of the namespace.
        self.fake.on_user_query = lambda uid: self.as_register("as-bridge", uid[1:].split(":")[0]).status == 200
        r = self.server.get(f"{V3}/profile/{q('@_bridge_lazy:test.local')}", token=self.tok("lena"))
        self.assertEqual(r.status, 200, r)
        self.assertIn("@_bridge_lazy:test.local", self.fake.queried)

    def test_ping(self):
        path = f"{V1}/appservice/bridge/ping"
        r = self.server.post(path, {"transaction_id": "t1"}, token="as-bridge")
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json["duration_ms"], int)
        self.assertEqual(self.fake.pings[-1], {"transaction_id": "t1"})
        self.fake.ping_mode = "status"
        try:
            r = self.server.post(path, {}, token="as-bridge")
            self.assertError(r, 502, "M_BAD_STATUS")
            self.assertEqual(r.json["status"], 418)
            self.assertIn("M_TEAPOT", r.json["body"])
            self.fake.ping_mode = "slow"
            self.assertError(self.server.post(path, {}, token="as-bridge"), 504, "M_CONNECTION_TIMEOUT")
        finally:
            self.fake.ping_mode = "ok"
        self.assertError(self.server.post(f"{V1}/appservice/dead/ping", {}, token="as-dead"), 502,
                         "M_CONNECTION_FAILED")
        self.assertError(self.server.post(f"{V1}/appservice/nourl/ping", {}, token="as-nourl"), 400, "M_URL_NOT_SET")
        # Someone else's id, or not a service at all.
        self.assertError(self.server.post(path, {}, token="as-dead"), 403, "M_FORBIDDEN")
        self.assertError(self.server.post(path, {}, token=self.tok("mona")), 403, "M_FORBIDDEN")


class Ephemeral(AppServiceCase):
    """Two services interested in the same users: only the one that asks gets typing and receipts."""

    @classmethod
    def make_fakes(cls):
        return {"eph": FakeAppService("hs-eph"), "plain": FakeAppService("hs-plain")}

    @classmethod
    def registrations(cls):
        return {
            "eph": registration("eph", cls.fakes["eph"].url, "as-eph", "hs-eph", "ephbot",
                                users=[("@_eph_.*", True)], extra="receive_ephemeral: true\n"),
            "plain": registration("plain", cls.fakes["plain"].url, "as-plain", "hs-plain", "plainbot",
                                  users=[("@_eph_.*", False)]),
        }

    def test_typing_and_receipts_only_when_asked(self):
        r = self.as_register("as-eph", "_eph_nina")
        self.assertEqual(r.status, 200, r)
        room = self.bridged_room("olga", "@_eph_nina:test.local", "as-eph")
        ev = self.send("olga", room, "read me")
        r = self.server.put(f"{V3}/rooms/{q(room)}/typing/{q(self.uid('olga'))}", {"typing": True, "timeout": 10000},
                            token=self.tok("olga"))
        self.assertEqual(r.status, 200, r)
        r = self.server.post(f"{V3}/rooms/{q(room)}/receipt/m.read/{q(ev)}", {}, token=self.tok("olga"))
        self.assertEqual(r.status, 200, r)
        eph = self.fakes["eph"]

        def ephemeral_of(fake):
            return [e for _, b in fake.transactions for e in b.get("ephemeral", [])]
        eph.wait_for(lambda: {"m.typing", "m.receipt"} <= {e["type"] for e in ephemeral_of(eph)}, what="ephemeral")
        typing = next(e for e in ephemeral_of(eph) if e["type"] == "m.typing")
        self.assertEqual(typing["room_id"], room)
        self.assertIn(self.uid("olga"), typing["content"]["user_ids"])
        receipt = next(e for e in ephemeral_of(eph) if e["type"] == "m.receipt")
        self.assertIn(self.uid("olga"), receipt["content"][ev]["m.read"])
        with eph.lock:
            body = next(b for _, b in eph.transactions if b.get("ephemeral"))
        self.assertEqual(body["ephemeral"], body["de.sorunome.msc2409.ephemeral"])
        # The other service saw the message but no ephemeral events.
        self.fakes["plain"].wait_for_event(ev)
        marker = self.send("olga", room, "marker")
        self.fakes["plain"].wait_for_event(marker)
        self.assertEqual(ephemeral_of(self.fakes["plain"]), [])


class Restart(AppServiceCase):
    """A transaction in flight survives a restart: sent again with the same id and body, and
    nothing before or after it is lost or repeated. Then a reload (SIGHUP) of the registrations."""

    @classmethod
    def make_fakes(cls):
        return {"r": FakeAppService("hs-r")}

    @classmethod
    def registrations(cls):
        return {"r": registration("r", cls.fakes["r"].url, "as-r", "hs-r", "rbot", users=[("@_r_.*", True)])}

    def test_restart_and_reload(self):
        fake = self.fakes["r"]
        self.as_register("as-r", "_r_pat")
        room = self.bridged_room("quinn", "@_r_pat:test.local", "as-r")
        before = self.send("quinn", room, "before")
        fake.wait_for_event(before)
        with fake.lock:
            fake.fail_next = 1000
            tries_before = len(fake.attempts)
        stuck = self.send("quinn", room, "in flight")
        fake.wait_for(lambda: len(fake.attempts) > tries_before, what="a failed attempt")
        with fake.lock:
            stuck_txn = fake.attempts[-1]
        code = self.server.stop()
        self.assertEqual(code, 0)
        with fake.lock:
            fake.fail_next = 0
        self.server.start()
        fake.wait_for_event(stuck)
        after = self.send("quinn", room, "after")
        fake.wait_for_event(after)
        with fake.lock:
            delivered = {t: b for t, b in fake.transactions}
        self.assertIn(stuck_txn, delivered)
        self.assertIn(stuck, [e["event_id"] for e in delivered[stuck_txn]["events"]])
        ids = [e["event_id"] for e in fake.events() if e["room_id"] == room]
        self.assertEqual(len(ids), len(set(ids)), ids)
        self.assertEqual([i for i in ids if i in (before, stuck, after)], [before, stuck, after])

        # SIGHUP: a broken file keeps the old set...
        path = os.path.join(self.reg_dir, "r.yaml")
        good = open(path).read()
        with open(path, "w") as f:
            f.write("id: r\nurl: [broken\n")
        self.server.proc.send_signal(signal.SIGHUP)
        self.wait_log("reload failed")
        self.assertEqual(self.server.get(f"{V3}/account/whoami", token="as-r").status, 200)
        # ...a good one replaces it: a new as_token works, the old one no longer does.
        with open(path, "w") as f:
            f.write(good.replace("as_token: as-r", "as_token: as-r2"))
        self.server.proc.send_signal(signal.SIGHUP)
        self.wait_log("reloaded log levels")
        self.assertEqual(self.server.get(f"{V3}/account/whoami", token="as-r2").status, 200)
        self.assertError(self.server.get(f"{V3}/account/whoami", token="as-r"), 401, "M_UNKNOWN_TOKEN")

    def wait_log(self, text, timeout=10):
        deadline = time.time() + timeout
        while text not in self.server.read_log():
            if time.time() > deadline:
                raise AssertionError(f"no '{text}' in the log")
            time.sleep(0.05)


if __name__ == "__main__":
    main()
