"""Typing, receipts and read markers, send-to-device and presence over HTTP: each endpoint's
success and error answers (wrong user, not joined, bad JSON, bad receipt type, unknown event), what
the writers stored (read from the database where no endpoint reads it back: receipts, the device
inbox), receipts and read markers that never move backwards, idempotent sendToDevice, presence
visibility, and presence switched off. Delivery through /sync is tested with /sync. Receipts and
to-device run again on the split placement. Runs on SQLite and PostgreSQL."""
import os
import uuid

from harness import ServerTestCase, main
from room_helpers import V3, RoomClient, q

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()

R0 = "/_matrix/client/r0"
V1 = "/_matrix/client/api/v1"


class Typing(RoomClient, ServerTestCase):
    def typing(self, who, room, body, user=None, prefix=V3):
        user = user or self.uid(who)
        return self.server.put(f"{prefix}/rooms/{q(room)}/typing/{q(user)}", body, token=self.tok(who))

    def test_start_and_stop(self):
        room = self.create("alice")
        for prefix in (V3, R0, V1):
            r = self.typing("alice", room, {"typing": True, "timeout": 10000}, prefix=prefix)
            self.assertEqual((r.status, r.json), (200, {}), r)
        self.assertEqual(self.typing("alice", room, {"typing": True}).status, 200)          # default timeout
        self.assertEqual(self.typing("alice", room, {"typing": True, "timeout": 10**9}).status, 200)  # capped
        self.assertEqual(self.typing("alice", room, {"typing": False}).status, 200)
        self.assertEqual(self.typing("alice", room, {"typing": False}).status, 200)         # already stopped

    def test_refusals(self):
        room = self.create("alice")
        self.assertError(self.typing("bob", room, {"typing": True}), 403, "M_FORBIDDEN")        # not joined
        self.assertError(self.typing("alice", room, {"typing": True}, user=self.uid("bob")), 403, "M_FORBIDDEN")
        self.assertError(self.typing("alice", room, {"timeout": 1000}), 400, "M_MISSING_PARAM")
        self.assertError(self.typing("alice", room, {"typing": "yes"}), 400, "M_BAD_JSON")
        self.assertError(self.typing("alice", room, {"typing": True, "timeout": "long"}), 400, "M_BAD_JSON")
        self.assertError(self.typing("alice", room, [True]), 400, "M_BAD_JSON")
        r = self.server.put(f"{V3}/rooms/{q(room)}/typing/{q(self.uid('alice'))}", raw=b"{not json",
                            token=self.tok("alice"))
        self.assertError(r, 400, "M_NOT_JSON")
        self.assertError(self.typing("alice", "!unknown:test.local", {"typing": True}), 404, "M_NOT_FOUND")
        self.assertError(self.typing("alice", "not-a-room", {"typing": True}), 400, "M_INVALID_PARAM")
        r = self.server.put(f"{V3}/rooms/{q(room)}/typing/{q(self.uid('alice'))}", {"typing": True})
        self.assertEqual(r.status, 401)


class Receipts(RoomClient, ServerTestCase):
    """alice owns the room and writes; bob reads; carol is a stranger."""

    def receipt(self, who, room, rtype, event_id, body=None):
        return self.server.post(f"{V3}/rooms/{q(room)}/receipt/{q(rtype)}/{q(event_id)}",
                                {} if body is None else body, token=self.tok(who))

    def markers(self, who, room, body):
        return self.server.post(f"{V3}/rooms/{q(room)}/read_markers", body, token=self.tok(who))

    def stored(self, room, who):
        rows = self.server.sql("SELECT receipt_type, thread_id, event_id FROM receipts "
                               f"WHERE room_id = '{room}' AND user_id = '{self.uid(who)}'")
        return {(t, th): e for t, th, e in rows}

    def fully_read(self, who, room):
        r = self.server.get(f"{V3}/user/{q(self.uid(who))}/rooms/{q(room)}/account_data/m.fully_read",
                            token=self.tok(who))
        return r.json.get("event_id") if r.status == 200 else None

    def room_with_events(self, n=3):
        room = self.create("alice", preset="public_chat")
        self.join("bob", room)
        return room, [self.send("alice", room, f"m{i}") for i in range(n)]

    def test_receipts_move_forward_only(self):
        room, (e1, e2, e3) = self.room_with_events()
        r = self.receipt("bob", room, "m.read", e2)
        self.assertEqual((r.status, r.json), (200, {}), r)
        self.assertEqual(self.stored(room, "bob"), {("m.read", ""): e2})
        # An older event is accepted and ignored.
        self.assertEqual(self.receipt("bob", room, "m.read", e1).status, 200)
        self.assertEqual(self.stored(room, "bob"), {("m.read", ""): e2})
        # Private, main-timeline and the r0 path are separate entries.
        self.assertEqual(self.receipt("bob", room, "m.read.private", e1).status, 200)
        self.assertEqual(self.receipt("bob", room, "m.read", e1, {"thread_id": "main"}).status, 200)
        r = self.server.post(f"{R0}/rooms/{q(room)}/receipt/m.read/{q(e3)}", {}, token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.stored(room, "bob"),
                         {("m.read", ""): e3, ("m.read.private", ""): e1, ("m.read", "main"): e1})
        data = self.server.sql(f"SELECT data FROM receipts WHERE room_id = '{room}' AND thread_id = 'main'")[0][0]
        self.assertIn('"thread_id":"main"', data)
        self.assertIn('"ts":', data)
        # An empty body is accepted (older clients send none).
        r = self.server.post(f"{V3}/rooms/{q(room)}/receipt/m.read/{q(e3)}", raw=b"", token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)

    def test_receipt_refusals(self):
        room, (e1, _, _) = self.room_with_events()
        other, (x,) = self.room_with_events(1)
        self.assertError(self.receipt("bob", room, "m.unknown", e1), 400, "M_INVALID_PARAM")
        self.assertError(self.receipt("bob", room, "m.read", e1, {"thread_id": ""}), 400, "M_INVALID_PARAM")
        self.assertError(self.receipt("bob", room, "m.read", e1, {"thread_id": 5}), 400, "M_INVALID_PARAM")
        self.assertError(self.receipt("bob", room, "m.fully_read", e1, {"thread_id": "main"}), 400, "M_INVALID_PARAM")
        self.assertError(self.receipt("bob", room, "m.read", "not-an-event"), 400, "M_INVALID_PARAM")
        self.assertError(self.receipt("bob", "not-a-room", "m.read", e1), 400, "M_INVALID_PARAM")
        self.assertError(self.receipt("bob", room, "m.read", "$unknown"), 404, "M_NOT_FOUND")
        self.assertError(self.receipt("bob", room, "m.read", x), 404, "M_NOT_FOUND")        # another room's event
        self.assertError(self.receipt("carol", room, "m.read", e1), 403, "M_FORBIDDEN")     # not joined
        self.assertError(self.receipt("bob", room, "m.read", e1, [1]), 400, "M_BAD_JSON")
        self.assertEqual(self.stored(room, "bob"), {})
        self.assertEqual(self.stored(room, "carol"), {})

    def test_threaded_receipts(self):
        room, (root,) = self.room_with_events(1)
        reply = self.send("alice", room, content={"msgtype": "m.text", "body": "in thread",
                                                  "m.relates_to": {"rel_type": "m.thread", "event_id": root}})
        self.assertEqual(self.receipt("bob", room, "m.read", reply, {"thread_id": root}).status, 200)
        self.assertEqual(self.receipt("bob", room, "m.read", root, {"thread_id": root}).status, 200)
        self.assertEqual(self.receipt("bob", room, "m.read", root, {"thread_id": "main"}).status, 200)
        self.assertError(self.receipt("bob", room, "m.read", reply, {"thread_id": "main"}), 400, "M_INVALID_PARAM")
        self.assertError(self.receipt("bob", room, "m.read", root, {"thread_id": "$elsewhere"}), 400,
                         "M_INVALID_PARAM")
        self.assertEqual(self.stored(room, "bob"), {("m.read", root): reply, ("m.read", "main"): root})

    def test_fully_read_and_read_markers(self):
        room, (e1, e2, e3) = self.room_with_events()
        self.assertEqual(self.receipt("bob", room, "m.fully_read", e2).status, 200)
        self.assertEqual(self.fully_read("bob", room), e2)
        self.assertEqual(self.stored(room, "bob"), {})  # a read marker is account data, not a receipt
        # Backwards is ignored, through either endpoint.
        self.assertEqual(self.receipt("bob", room, "m.fully_read", e1).status, 200)
        r = self.markers("bob", room, {"m.fully_read": e1})
        self.assertEqual((r.status, r.json), (200, {}), r)
        self.assertEqual(self.fully_read("bob", room), e2)
        # All three at once; unknown keys are ignored.
        r = self.markers("bob", room, {"m.fully_read": e3, "m.read": e3, "m.read.private": e2, "org.example": 1})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.fully_read("bob", room), e3)
        self.assertEqual(self.stored(room, "bob"), {("m.read", ""): e3, ("m.read.private", ""): e2})
        # Clients may still not set m.fully_read directly.
        r = self.server.put(f"{V3}/user/{q(self.uid('bob'))}/rooms/{q(room)}/account_data/m.fully_read",
                            {"event_id": e1}, token=self.tok("bob"))
        self.assertError(r, 405, "M_BAD_JSON")

    def test_read_marker_refusals(self):
        room, (e1, e2, _) = self.room_with_events()
        self.assertEqual(self.markers("bob", room, {"m.fully_read": e1}).status, 200)
        self.assertError(self.markers("bob", room, {"m.read": 5}), 400, "M_BAD_JSON")
        self.assertError(self.markers("bob", room, [e1]), 400, "M_BAD_JSON")
        self.assertError(self.markers("carol", room, {"m.fully_read": e1}), 403, "M_FORBIDDEN")
        # One unknown event refuses the whole request: nothing is written.
        self.assertError(self.markers("bob", room, {"m.fully_read": e2, "m.read": "$unknown"}), 404, "M_NOT_FOUND")
        self.assertEqual(self.fully_read("bob", room), e1)
        self.assertEqual(self.stored(room, "bob"), {})
        self.assertError(self.markers("bob", "not-a-room", {"m.read": e1}), 400, "M_INVALID_PARAM")


class ToDevice(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.alice = cls.server.register("alice", device_id="A1")
        cls.bob = cls.server.register("bob", device_id="B1")
        r = cls.server.login("bob", device_id="B2")
        assert r.status == 200, r

    def send(self, body, txn=None, etype="m.test", token=None, prefix=V3):
        txn = txn or uuid.uuid4().hex
        return self.server.put(f"{prefix}/sendToDevice/{q(etype)}/{q(txn)}", body,
                               token=token or self.alice["access_token"])

    def inbox(self, txn_marker):
        rows = self.server.sql("SELECT user_id, device_id, sender, type FROM device_inbox "
                               f"WHERE content LIKE '%{txn_marker}%' ORDER BY device_id")
        return [tuple(r) for r in rows]

    def test_delivery_and_idempotency(self):
        marker = uuid.uuid4().hex
        body = {"messages": {
            "@bob:test.local": {"*": {"m": marker}},
            "@alice:test.local": {"A1": {"m": marker}, "GONE": {"m": marker}},
            "@nobody:test.local": {"X": {"m": marker}},
            "@remote:elsewhere.example": {"R": {"m": marker}},
        }}
        txn = uuid.uuid4().hex
        r = self.send(body, txn)
        self.assertEqual((r.status, r.json), (200, {}), r)
        expected = [("@alice:test.local", "A1", "@alice:test.local", "m.test"),
                    ("@bob:test.local", "B1", "@alice:test.local", "m.test"),
                    ("@bob:test.local", "B2", "@alice:test.local", "m.test")]
        self.assertEqual(self.inbox(marker), expected)
        # The same transaction again: 200, and nothing delivered twice.
        r = self.send(body, txn)
        self.assertEqual((r.status, r.json), (200, {}), r)
        self.assertEqual(self.inbox(marker), expected)
        # Another event type or transaction id is a new send; r0 works too.
        self.assertEqual(self.send(body, txn, etype="m.other").status, 200)
        self.assertEqual(self.send({"messages": {"@bob:test.local": {"B1": {"m": marker}}}}, prefix=R0).status, 200)
        self.assertEqual(len(self.inbox(marker)), 7)
        # The remote recipient's messages wait for the federation sender (once per send, not per retry).
        rows = self.server.sql("SELECT edu_json FROM federation_outbox WHERE destination = 'elsewhere.example'")
        self.assertEqual(sum(1 for (edu,) in rows if marker in edu), 2)

    def test_refusals(self):
        self.assertError(self.send({}), 400, "M_MISSING_PARAM")
        self.assertError(self.send({"messages": []}), 400, "M_BAD_JSON")
        self.assertError(self.send({"messages": {"@bob:test.local": ["B1"]}}), 400, "M_BAD_JSON")
        self.assertError(self.send({"messages": {"@bob:test.local": {"B1": "text"}}}), 400, "M_BAD_JSON")
        self.assertError(self.send({"messages": {"bob": {"B1": {}}}}), 400, "M_INVALID_PARAM")
        self.assertError(self.send([]), 400, "M_BAD_JSON")
        r = self.server.put(f"{V3}/sendToDevice/m.test/{uuid.uuid4().hex}", {"messages": {}})
        self.assertEqual(r.status, 401)
        self.assertEqual(self.send({"messages": {}}).status, 200)  # nobody to send to is fine


class Presence(RoomClient, ServerTestCase):
    def status(self, who, user=None, prefix=V3):
        return self.server.get(f"{prefix}/presence/{q(user or self.uid(who))}/status", token=self.tok(who))

    def set(self, who, body, user=None, prefix=V3):
        return self.server.put(f"{prefix}/presence/{q(user or self.uid(who))}/status", body, token=self.tok(who))

    def test_set_and_get(self):
        room = self.create("alice", preset="public_chat")
        self.join("bob", room)
        r = self.set("alice", {"presence": "online", "status_msg": "writing tests"})
        self.assertEqual((r.status, r.json), (200, {}), r)
        for who in ("alice", "bob"):  # yourself, and someone sharing a room
            r = self.status(who, self.uid("alice"))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["presence"], "online")
            self.assertEqual(r.json["status_msg"], "writing tests")
            self.assertIs(r.json["currently_active"], True)
            self.assertGreaterEqual(r.json["last_active_ago"], 0)
            self.assertLess(r.json["last_active_ago"], 60000)
        # Unavailable without a status message clears it; currently_active is for online only.
        self.assertEqual(self.set("alice", {"presence": "unavailable"}, prefix=V1).status, 200)
        r = self.status("bob", self.uid("alice"), prefix=R0)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["presence"], "unavailable")
        self.assertNotIn("status_msg", r.json)
        self.assertNotIn("currently_active", r.json)
        # Someone never seen is offline.
        self.assertEqual(self.status("alice", self.uid("bob")).json, {"presence": "offline"})

    def test_refusals(self):
        room = self.create("alice", preset="public_chat")
        self.join("bob", room)
        self.assertError(self.status("carol", self.uid("alice")), 403, "M_FORBIDDEN")   # shares no room
        self.assertError(self.set("alice", {"presence": "online"}, user=self.uid("bob")), 403, "M_FORBIDDEN")
        self.assertError(self.set("alice", {"presence": "away"}), 400, "M_INVALID_PARAM")
        self.assertError(self.set("alice", {"status_msg": "hi"}), 400, "M_MISSING_PARAM")
        self.assertError(self.set("alice", {"presence": "online", "status_msg": 5}), 400, "M_BAD_JSON")
        self.assertError(self.set("alice", "online"), 400, "M_BAD_JSON")
        self.assertError(self.status("alice", "not-a-user"), 400, "M_INVALID_PARAM")
        self.assertEqual(self.server.get(f"{V3}/presence/{q(self.uid('alice'))}/status").status, 401)
        # A user who left shares the room no more.
        self.leave("bob", room)
        self.assertError(self.status("bob", self.uid("alice")), 403, "M_FORBIDDEN")


class PresenceDisabled(RoomClient, ServerTestCase):
    extra_config = RoomClient.extra_config + "presence:\n  enabled: false\n"

    def test_nothing_is_stored(self):
        uid = self.uid("alice")
        r = self.server.put(f"{V3}/presence/{q(uid)}/status", {"presence": "online", "status_msg": "x"},
                            token=self.tok("alice"))
        self.assertEqual((r.status, r.json), (200, {}), r)
        r = self.server.get(f"{V3}/presence/{q(uid)}/status", token=self.tok("alice"))
        self.assertEqual((r.status, r.json), (200, {"presence": "offline"}), r)
        # Activity elsewhere (typing) stores nothing either.
        room = self.create("alice")
        r = self.server.put(f"{V3}/rooms/{q(room)}/typing/{q(uid)}", {"typing": True}, token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM presence"), [("0",)])
        self.assertError(self.server.put(f"{V3}/presence/{q(uid)}/status", {"presence": "away"},
                                         token=self.tok("alice")), 400, "M_INVALID_PARAM")


class ReceiptsSplit(Receipts):
    placement = SPLIT


class ToDeviceSplit(ToDevice):
    placement = SPLIT


if __name__ == "__main__":
    main()
