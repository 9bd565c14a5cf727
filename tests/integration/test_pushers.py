"""HTTP pushers over HTTP, against a fake push gateway (an http.server in a thread that records
every /_matrix/push/v1/notify request and answers as each test tells it).

/pushers and /pushers/set: set, replace, append, delete (kind null) and the validation errors.
Delivery: a mention of an offline user makes exactly one notify, with the right counts (the badge
/sync shows) and the right device; event_id_only sends no event fields; a non-notifying event sends
nothing; a gateway answering {"rejected": [pushkey]} gets that pusher deleted; a 500 then a 200
delivers once, after a retry; a slow, failing gateway does not hold up other users' pushes; events
persisted but not yet pushed when the server stops are pushed after the restart, once; logging a
device out removes the pushers it set. All of it again on the split placement with three pusher
instances (sharded by user: each user pushed once). Runs on SQLite and PostgreSQL."""
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import ServerTestCase, main, reply_json
from room_helpers import V3, RoomClient, q

NOTIFY = "/_matrix/push/v1/notify"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "configs", "placement-split.yaml")) as f:
    # The split placement with three pusher instances, so users land on different shards.
    SPLIT_3_PUSHERS = f.read().rstrip("\n") + "\n  pusher: 3\n"


class FakeGateway:
    """Records notify requests; answers each pushkey from its script (status, body[, seconds to wait
    before answering]), then 200 {}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []       # (path, body) in arrival order
        self.scripts = {}        # pushkey → list of (status, body) to answer next
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                keys = [d.get("pushkey") for d in body.get("notification", {}).get("devices", [])]
                with gateway.lock:
                    gateway.requests.append((self.path, body))
                    script = gateway.scripts.get(keys[0] if keys else None) or []
                    status, answer, *wait = script.pop(0) if script else (200, {})
                if wait:
                    time.sleep(wait[0])
                reply_json(self, status, answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{NOTIFY}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def for_key(self, pushkey):
        with self.lock:
            return [b["notification"] for _, b in self.requests
                    if any(d.get("pushkey") == pushkey for d in b["notification"].get("devices", []))]

    def wait_for(self, pushkey, n, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.for_key(pushkey)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return self.for_key(pushkey)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Pushers(RoomClient, ServerTestCase):
    # Short retry delays so the retry test is quick.
    extra_config = RoomClient.extra_config + "pusher:\n  retry_delay: 100ms\n  timeout: 5s\n  max_attempts: 4\n"

    @classmethod
    def setUpClass(cls):
        cls.gateway = FakeGateway()
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.gateway.close()

    def pusher_body(self, pushkey, app_id="org.example.app", **data):
        return {"kind": "http", "app_id": app_id, "pushkey": pushkey, "app_display_name": "Example",
                "device_display_name": "Phone", "lang": "en", "data": {"url": self.gateway.url, **data}}

    def set_pusher(self, who, body):
        return self.server.post(f"{V3}/pushers/set", body, token=self.tok(who))

    def pushers(self, who):
        r = self.server.get(f"{V3}/pushers", token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json["pushers"]

    def public_room(self, owner, *members):
        """A room others join without an invite, so nothing notifies them before the test's events."""
        room = self.create(owner, preset="public_chat")
        for m in members:
            self.join(m, room)
        return room

    def badge(self, who):
        """The notification counts /sync shows, summed over joined rooms."""
        r = self.server.get(f"{V3}/sync", token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        rooms = r.json.get("rooms", {}).get("join", {})
        return sum(v.get("unread_notifications", {}).get("notification_count", 0) for v in rooms.values())

    def key(self):
        return "key-" + uuid.uuid4().hex

    # ---- /pushers and /pushers/set ----

    def test_set_get_replace_delete(self):
        self.assertEqual(self.pushers("pam"), [])
        body = self.pusher_body("pam-key", format="event_id_only", custom={"x": 1})
        body["profile_tag"] = "tag1"
        self.assertEqual(self.set_pusher("pam", body).json, {})
        got = self.pushers("pam")
        self.assertEqual(len(got), 1, got)
        expected = {k: v for k, v in body.items()}
        self.assertEqual(got[0], expected)
        # Setting the same (app_id, pushkey) again replaces it.
        body["device_display_name"] = "Tablet"
        self.assertEqual(self.set_pusher("pam", body).status, 200)
        got = self.pushers("pam")
        self.assertEqual([p["device_display_name"] for p in got], ["Tablet"])
        # Another user takes the pushkey: without append it leaves pam; with append both keep it.
        self.assertEqual(self.set_pusher("quinn", self.pusher_body("pam-key")).status, 200)
        self.assertEqual(self.pushers("pam"), [])
        self.assertEqual(len(self.pushers("quinn")), 1)
        self.assertEqual(self.set_pusher("pam", dict(self.pusher_body("pam-key"), append=True)).status, 200)
        self.assertEqual(len(self.pushers("pam")), 1)
        self.assertEqual(len(self.pushers("quinn")), 1)
        # A second app for the same user.
        self.assertEqual(self.set_pusher("pam", self.pusher_body("pam-key", app_id="org.example.other")).status, 200)
        self.assertEqual(sorted(p["app_id"] for p in self.pushers("pam")), ["org.example.app", "org.example.other"])
        # kind null deletes (only the user's own); deleting an unknown one succeeds.
        r = self.set_pusher("pam", {"kind": None, "app_id": "org.example.app", "pushkey": "pam-key"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([p["app_id"] for p in self.pushers("pam")], ["org.example.other"])
        self.assertEqual(len(self.pushers("quinn")), 1)
        r = self.set_pusher("pam", {"kind": None, "app_id": "org.example.none", "pushkey": "nope"})
        self.assertEqual(r.status, 200, r)
        # Authentication is required.
        self.assertError(self.server.get(f"{V3}/pushers"), 401, "M_MISSING_TOKEN")

    def test_validation(self):
        ok = self.pusher_body("val-key")
        for missing in ("kind", "app_id", "pushkey", "app_display_name", "device_display_name", "lang", "data"):
            body = {k: v for k, v in ok.items() if k != missing}
            self.assertError(self.set_pusher("val", body), 400, "M_MISSING_PARAM")
        bad = [
            dict(ok, kind="carrier-pigeon"),
            dict(ok, kind=5),
            dict(ok, app_id=7),
            dict(ok, app_id="a" * 65),
            dict(ok, pushkey="k" * 513),
            dict(ok, data="not an object"),
            dict(ok, data={"url": "ftp://example.org/_matrix/push/v1/notify"}),
            dict(ok, data={"url": "http://127.0.0.1:1/somewhere/else"}),
            dict(ok, data={"url": "not a url"}),
            dict(ok, data={"url": self.gateway.url, "format": "full"}),
            dict(ok, append="yes"),
        ]
        for body in bad:
            self.assertError(self.set_pusher("val", body), 400, "M_INVALID_PARAM")
        self.assertError(self.set_pusher("val", dict(ok, data={"format": "event_id_only"})), 400, "M_MISSING_PARAM")
        r = self.server.post(f"{V3}/pushers/set", raw=b"{not json", token=self.tok("val"))
        self.assertError(r, 400, "M_NOT_JSON")
        self.assertEqual(self.pushers("val"), [])

    # ---- delivery ----

    def test_mention_of_offline_user_pushes_once(self):
        room = self.public_room("ann", "ben", "cat")
        key = self.key()
        self.assertEqual(self.set_pusher("ben", self.pusher_body(key, custom="kept")).status, 200)
        mention = self.send("ann", room, content={"msgtype": "m.text", "body": "ben, look",
                                                  "m.mentions": {"user_ids": [self.uid("ben")]}})
        got = self.gateway.wait_for(key, 1)
        self.assertEqual(len(got), 1, got)
        n = got[0]
        self.assertEqual(n["event_id"], mention)
        self.assertEqual(n["room_id"], room)
        self.assertEqual(n["type"], "m.room.message")
        self.assertEqual(n["sender"], self.uid("ann"))
        self.assertEqual(n["content"]["body"], "ben, look")
        self.assertEqual(n["prio"], "high")
        self.assertEqual(n["counts"], {"unread": 1, "missed_calls": 0})
        self.assertEqual(n["counts"]["unread"], self.badge("ben"))
        self.assertEqual(len(n["devices"]), 1)
        device = n["devices"][0]
        self.assertEqual(device["app_id"], "org.example.app")
        self.assertEqual(device["pushkey"], key)
        self.assertEqual(device["data"], {"custom": "kept"})  # everything but url
        self.assertIsInstance(device["pushkey_ts"], int)
        self.assertLess(abs(device["pushkey_ts"] - time.time()), 300)  # seconds
        self.assertEqual(device["tweaks"], {"sound": "default", "highlight": True})
        # A second message counts two, like /sync.
        plain = self.send("ann", room, "and another thing")
        got = self.gateway.wait_for(key, 2)
        self.assertEqual([g["event_id"] for g in got], [mention, plain])
        self.assertEqual(got[1]["counts"]["unread"], 2)
        self.assertEqual(got[1]["counts"]["unread"], self.badge("ben"))
        # A plain message in a group room: .m.rule.message, notify without tweaks, low priority.
        self.assertEqual(got[1]["devices"][0]["tweaks"], {})
        self.assertEqual(got[1]["prio"], "low")
        # The sender is never pushed for their own events; cat has no pusher.
        time.sleep(0.3)
        self.assertEqual(len(self.gateway.for_key(key)), 2)

    def test_event_id_only(self):
        room = self.public_room("dan", "eve")
        key = self.key()
        self.assertEqual(self.set_pusher("eve", self.pusher_body(key, format="event_id_only")).status, 200)
        ev = self.send("dan", room, "secret body")
        got = self.gateway.wait_for(key, 1)
        self.assertEqual(len(got), 1, got)
        n = got[0]
        self.assertEqual(n["event_id"], ev)
        self.assertEqual(n["room_id"], room)
        for absent in ("content", "sender", "type"):
            self.assertNotIn(absent, n)
        self.assertEqual(n["counts"]["unread"], 1)
        self.assertEqual(n["devices"][0]["data"], {"format": "event_id_only"})

    def test_non_notifying_event_sends_nothing(self):
        room = self.public_room("fay", "gus")
        key = self.key()
        self.assertEqual(self.set_pusher("gus", self.pusher_body(key)).status, 200)
        # Notices do not notify (.m.rule.suppress_notices), nor does an event type no rule names.
        self.send("fay", room, content={"msgtype": "m.notice", "body": "bot says"})
        self.send("fay", room, etype="org.example.custom", content={"x": 1})
        # Deliveries follow event order: once this one is in, the others would have been too.
        last = self.send("fay", room, "a real message")
        self.gateway.wait_for(key, 1)
        time.sleep(0.3)
        got = self.gateway.for_key(key)
        self.assertEqual([g["event_id"] for g in got], [last])

    def test_rejected_pushkey_deletes_pusher(self):
        room = self.public_room("hal", "ivy")
        key, kept = self.key(), self.key()
        self.assertEqual(self.set_pusher("ivy", self.pusher_body(key)).status, 200)
        self.assertEqual(self.set_pusher("ivy", self.pusher_body(kept, app_id="org.example.kept")).status, 200)
        self.gateway.scripts[key] = [(200, {"rejected": [key]})]
        self.send("hal", room, "hello ivy")
        self.assertEqual(len(self.gateway.wait_for(key, 1)), 1)
        self.assertEqual(len(self.gateway.wait_for(kept, 1)), 1)
        deadline = time.time() + 10
        while time.time() < deadline and len(self.pushers("ivy")) != 1:
            time.sleep(0.05)
        self.assertEqual([p["pushkey"] for p in self.pushers("ivy")], [kept])
        # No more pushes to the rejected key.
        self.send("hal", room, "still there?")
        self.assertEqual(len(self.gateway.wait_for(kept, 2)), 2)
        self.assertEqual(len(self.gateway.for_key(key)), 1)

    def test_retry_after_server_error(self):
        room = self.public_room("jon", "kim")
        key = self.key()
        self.assertEqual(self.set_pusher("kim", self.pusher_body(key)).status, 200)
        self.gateway.scripts[key] = [(500, {"error": "try later"}), (200, {})]
        ev = self.send("jon", room, "are you there")
        got = self.gateway.wait_for(key, 2)
        self.assertEqual([g["event_id"] for g in got], [ev, ev])  # the failed try, then the delivery
        time.sleep(0.5)
        self.assertEqual(len(self.gateway.for_key(key)), 2)  # delivered once: not sent again
        self.assertEqual(self.gateway.scripts[key], [])
        self.assertEqual(len(self.pushers("kim")), 1)

    def test_failing_slow_gateway_does_not_hold_up_others(self):
        room = self.public_room("pam", "quin", "rex")
        slow, fine = self.key(), self.key()
        self.assertEqual(self.set_pusher("quin", self.pusher_body(slow)).status, 200)
        self.assertEqual(self.set_pusher("rex", self.pusher_body(fine)).status, 200)
        # quin's gateway takes 1 s to fail, three times; then it works.
        self.gateway.scripts[slow] = [(500, {}, 1.0)] * 3
        mentions = {"user_ids": [self.uid("quin"), self.uid("rex")]}
        start = time.monotonic()
        events = [self.send("pam", room, content={"msgtype": "m.text", "body": f"all hands {i}", "m.mentions": mentions})
                  for i in range(3)]
        got = self.gateway.wait_for(fine, 3)
        # Without backing quin off, each event would wait for quin's retries (3 s and more).
        self.assertLess(time.monotonic() - start, 2.8)
        self.assertEqual([g["event_id"] for g in got], events)
        # quin gets every notification once it works, in order: the first tried until it went through.
        got = self.gateway.wait_for(slow, 6)
        self.assertEqual([g["event_id"] for g in got], [events[0]] * 4 + events[1:])

    def test_restart_pushes_what_was_not_pushed_yet(self):
        room = self.public_room("sam", "tia")
        key = self.key()
        self.assertEqual(self.set_pusher("tia", self.pusher_body(key)).status, 200)
        self.gateway.scripts[key] = [(200, {}, 2.0)]  # the gateway holds the first push for 2 s
        first = self.send("sam", room, "one")
        self.gateway.wait_for(key, 1)
        second = self.send("sam", room, "two")  # persisted while the pusher waits on the gateway
        self.server.stop()
        self.assertEqual([g["event_id"] for g in self.gateway.for_key(key)], [first])
        self.server.start()
        got = self.gateway.wait_for(key, 2)
        self.assertEqual([g["event_id"] for g in got], [first, second])
        time.sleep(0.5)
        self.assertEqual(len(self.gateway.for_key(key)), 2)  # nothing pushed twice

    def test_logout_removes_the_devices_pushers(self):
        self.user("uma")
        phone = self.server.login("uma").json
        kept, dropped = self.key(), self.key()
        self.assertEqual(self.set_pusher("uma", self.pusher_body(kept)).status, 200)
        r = self.server.post(f"{V3}/pushers/set", self.pusher_body(dropped), token=phone["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual({p["pushkey"] for p in self.pushers("uma")}, {kept, dropped})
        self.assertEqual(self.server.post(f"{V3}/logout", {}, token=phone["access_token"]).status, 200)
        self.assertEqual([p["pushkey"] for p in self.pushers("uma")], [kept])


class PushersSharded(Pushers):
    """Everything again with three pusher instances: each user's pushes come from one shard, once."""
    placement = SPLIT_3_PUSHERS

    def test_each_user_pushed_once_across_shards(self):
        names = [f"shard{i}" for i in range(8)]
        room = self.public_room("shardsender", *names)
        keys = {n: self.key() for n in names}
        for n in names:
            self.assertEqual(self.set_pusher(n, self.pusher_body(keys[n])).status, 200)
        ev = self.send("shardsender", room, "hello everyone")
        for n in names:
            got = self.gateway.wait_for(keys[n], 1)
            self.assertEqual([g["event_id"] for g in got], [ev], n)
            self.assertEqual(got[0]["counts"]["unread"], 1, n)
        time.sleep(0.5)
        for n in names:
            self.assertEqual(len(self.gateway.for_key(keys[n])), 1, n)


if __name__ == "__main__":
    main()
