"""Inbound federation transactions (PUT /_matrix/federation/v1/send/{txnId}) and remote
end-to-end keys, against a fake remote server (fedremote.RemoteServer) that signs its requests
with signedjson and answers Myelin's over HTTPS.

/send/: unsigned → 401; a body naming another origin → 403; more than 50 PDUs or 100 EDUs → 400;
a replayed txnId gets the stored answer and has no second effect. EDUs: a to-device message from
the remote reaches a local device's /sync (once, even when the message_id comes again in another
transaction); a device list update whose prev_id we have not seen makes Myelin fetch the whole
list from the remote (GET /user/devices), and the change shows in local /sync device_lists and
/keys/changes; typing, receipts and presence of a remote user who is not in the room are not shown.

The cases that need a remote member (`RemoteMember`) have the fake remote join its user to the
local room through make_join / send_join first; there, the member's typing, receipt and presence
reach local /sync, and a message PDU in a transaction reaches the local timeline.

Remote keys: POST /keys/query for a remote user we do not track asks the remote (POST
/user/keys/query), an unreachable server is in `failures`; POST /keys/claim asks the remote
(POST /user/keys/claim)."""
import time
import urllib.parse
import uuid

from harness import main, reply_json
from fedremote import FederationTestCase, seal_event_v10

V3 = "/_matrix/client/v3"


def q(s):
    return urllib.parse.quote(s, safe="")


class FederationSendBase(FederationTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        alice = cls.server.register("alice", device_id="ALICEDEV")
        cls.alice, cls.alice_token = alice["user_id"], alice["access_token"]
        r = cls.server.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=cls.alice_token)
        assert r.status == 200, r
        cls.room = r.json["room_id"]
        # The remote's device lists: what GET /user/devices answers (set by tests), and who was asked.
        cls.device_requests = []
        cls.device_list = {}

        def user_devices(handler, match, body):
            if not cls.remote.verify(handler, "GET"):
                return reply_json(handler, 401, {"errcode": "M_UNAUTHORIZED", "error": "bad signature"})
            cls.device_requests.append(urllib.parse.unquote(match.group(1)))
            reply_json(handler, 200, cls.device_list)
        cls.remote.routes.append(("GET", r"^/_matrix/federation/v1/user/devices/(.+)$", user_devices))

    def remote_user(self, name):
        return f"@{name}:{self.remote.name}"

    def send_txn(self, body, txn_id=None, origin=None, sign=True):
        txn_id = txn_id or uuid.uuid4().hex
        uri = f"/_matrix/federation/v1/send/{txn_id}"
        body = dict(body)
        body.setdefault("origin", origin or self.remote.name)
        body.setdefault("origin_server_ts", int(time.time() * 1000))
        body.setdefault("pdus", [])
        headers = {"Authorization": self.remote.authorization("PUT", uri, "test.local", content=body)} if sign else {}
        return self.server.request("PUT", uri, body=body, headers=headers)

    def send_edus(self, *edus, txn_id=None):
        r = self.send_txn({"edus": list(edus)}, txn_id=txn_id)
        self.assertEqual(r.status, 200, r)
        return r

    def sync(self, since=None, timeout=0):
        path = f"{V3}/sync?timeout={timeout}" + (f"&since={q(since)}" if since else "")
        r = self.server.get(path, token=self.alice_token)
        self.assertEqual(r.status, 200, r)
        return r.json

    def sync_until(self, since, found, timeout=10):
        """Syncs from `since` until found(response) is true (or the time is up); the last response."""
        deadline = time.time() + timeout
        while True:
            r = self.sync(since, timeout=1000)
            if found(r) or time.time() > deadline:
                return r
            since = r["next_batch"]

    def ephemeral(self, r, etype):
        room = r.get("rooms", {}).get("join", {}).get(self.room, {})
        return [e for e in room.get("ephemeral", {}).get("events", []) if e["type"] == etype]


class FederationSend(FederationSendBase):
    def test_unsigned_is_refused(self):
        self.assertError(self.send_txn({"edus": []}, sign=False), 401, "M_UNAUTHORIZED")

    def test_origin_must_be_the_signer(self):
        self.assertError(self.send_txn({"edus": []}, origin="elsewhere.example"), 403, "M_FORBIDDEN")

    def test_oversized_transactions(self):
        self.assertError(self.send_txn({"pdus": [{}] * 51}), 400, "M_BAD_JSON")
        edu = {"edu_type": "m.typing", "content": {}}
        self.assertError(self.send_txn({"edus": [edu] * 101}), 400, "M_BAD_JSON")
        self.assertError(self.send_txn({"edus": "no"}), 400, "M_BAD_JSON")
        # At the limits: answered.
        r = self.send_txn({"edus": [edu] * 100})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"pdus": {}})

    def test_malformed_edus_do_not_fail_the_transaction(self):
        r = self.send_edus(7, {"edu_type": "m.typing"}, {"edu_type": "m.unknown", "content": {}},
                           {"edu_type": "m.typing", "content": {"room_id": self.room}},
                           {"edu_type": "m.presence", "content": {"push": "x"}},
                           {"edu_type": "m.receipt", "content": {self.room: {"m.read": {"x": 1}}}},
                           {"edu_type": "m.direct_to_device", "content": {"sender": 1}})
        self.assertEqual(r.json, {"pdus": {}})

    def to_device_edu(self, message_id, sender=None, text="secret"):
        return {"edu_type": "m.direct_to_device",
                "content": {"sender": sender or self.remote_user("bob"), "type": "m.test.fed",
                            "message_id": message_id,
                            "messages": {self.alice: {"ALICEDEV": {"text": text}},
                                         "@someone:elsewhere.example": {"*": {"text": "not ours"}}}}}

    def to_device_events(self, r):
        return [e for e in r.get("to_device", {}).get("events", []) if e["type"] == "m.test.fed"]

    def test_to_device_reaches_local_sync_once(self):
        since = self.sync()["next_batch"]
        txn = uuid.uuid4().hex
        first = self.send_edus(self.to_device_edu("m1"), txn_id=txn)
        r = self.sync_until(since, lambda r: self.to_device_events(r))
        self.assertEqual(self.to_device_events(r), [{"sender": self.remote_user("bob"), "type": "m.test.fed",
                                                     "content": {"text": "secret"}}])
        since = r["next_batch"]
        # The same transaction id again (even with another body): the stored answer, nothing
        # processed; the same message in another transaction: not delivered again either. A sender
        # of another server: ignored.
        again = self.send_edus(self.to_device_edu("m1-retry", text="changed"), txn_id=txn)
        self.assertEqual(again.json, first.json)
        self.send_edus(self.to_device_edu("m1"))
        self.send_edus(self.to_device_edu("m2", sender="@mallory:elsewhere.example"))
        r = self.sync(since, timeout=1500)
        self.assertEqual(self.to_device_events(r), [])
        self.assertEqual(self.server.sql("SELECT count(*) FROM federation_txns WHERE txn_id = '" + txn + "'"),
                         [("1",)])

    def test_remote_user_not_in_room_is_not_shown(self):
        carol = self.remote_user("carol")
        event_id = self.server.put(f"{V3}/rooms/{q(self.room)}/send/m.room.message/{uuid.uuid4().hex}",
                                   {"msgtype": "m.text", "body": "hi"}, token=self.alice_token).json["event_id"]
        since = self.sync()["next_batch"]
        self.send_edus({"edu_type": "m.typing", "content": {"room_id": self.room, "user_id": carol, "typing": True}},
                       {"edu_type": "m.receipt", "content": {self.room: {"m.read": {carol: {
                           "event_ids": [event_id], "data": {"ts": 1}}}}}},
                       {"edu_type": "m.presence", "content": {"push": [{"user_id": carol, "presence": "online"}]}})
        r = self.sync(since, timeout=1500)
        for etype in ("m.typing", "m.receipt"):
            for e in self.ephemeral(r, etype):
                self.assertNotIn(carol, str(e), e)
        self.assertNotIn(carol, str(r.get("presence", {})))
        self.assertEqual(self.server.sql(f"SELECT count(*) FROM presence WHERE user_id = '{carol}'"), [("0",)])
        # Device lists and keys of a user nobody here shares a room with: not kept, no resync.
        self.device_requests.clear()
        self.send_edus({"edu_type": "m.device_list_update", "content": {
            "user_id": carol, "device_id": "C", "stream_id": 2, "prev_id": [1]}},
            {"edu_type": "m.signing_key_update", "content": {"user_id": carol, "master_key": {
                "user_id": carol, "usage": ["master"], "keys": {"ed25519:cm": "cm"}}}})
        self.assertEqual(self.device_requests, [])
        for table in ("remote_device_lists", "remote_cross_signing_keys"):
            self.assertEqual(self.server.sql(f"SELECT count(*) FROM {table} WHERE user_id = '{carol}'"), [("0",)])

    def test_remote_keys_query_and_claim(self):
        """Keys of a remote user we do not track: asked of their server; an unreachable one fails."""
        dave = self.remote_user("dave")
        asked = []

        def keys_query(handler, match, body):
            if not self.remote.verify(handler, "POST", body):
                return reply_json(handler, 401, {"errcode": "M_UNAUTHORIZED", "error": "bad signature"})
            asked.append(("query", body))
            reply_json(handler, 200, {
                "device_keys": {dave: {"DAVEDEV": {"user_id": dave, "device_id": "DAVEDEV", "algorithms": [],
                                                   "keys": {"ed25519:DAVEDEV": "ZGF2ZQ"}}},
                                "@intruder:test.local": {"X": {}}},
                "master_keys": {dave: {"user_id": dave, "usage": ["master"], "keys": {"ed25519:dm": "dm"}}}})

        def keys_claim(handler, match, body):
            if not self.remote.verify(handler, "POST", body):
                return reply_json(handler, 401, {"errcode": "M_UNAUTHORIZED", "error": "bad signature"})
            asked.append(("claim", body))
            reply_json(handler, 200, {"one_time_keys": {dave: {"DAVEDEV": {"signed_curve25519:AAAB": {"key": "k"}}}}})
        self.remote.routes.append(("POST", r"^/_matrix/federation/v1/user/keys/query$", keys_query))
        self.remote.routes.append(("POST", r"^/_matrix/federation/v1/user/keys/claim$", keys_claim))

        r = self.server.post(f"{V3}/keys/query", {"device_keys": {dave: [], "@x:127.0.0.1:9": [], self.alice: []}},
                             token=self.alice_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(asked, [("query", {"device_keys": {dave: []}})])
        self.assertEqual(r.json["device_keys"][dave]["DAVEDEV"]["keys"], {"ed25519:DAVEDEV": "ZGF2ZQ"})
        self.assertNotIn("@intruder:test.local", r.json["device_keys"])  # not the remote's to answer
        self.assertEqual(r.json["master_keys"][dave]["keys"], {"ed25519:dm": "dm"})
        self.assertEqual(list(r.json["failures"]), ["127.0.0.1:9"])
        self.assertIn(self.alice, r.json["device_keys"])

        asked.clear()
        r = self.server.post(f"{V3}/keys/claim", {"one_time_keys": {dave: {"DAVEDEV": "signed_curve25519"},
                                                                    "@x:127.0.0.1:9": {"D": "signed_curve25519"}},
                                                  "timeout": 5000}, token=self.alice_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(asked, [("claim", {"one_time_keys": {dave: {"DAVEDEV": "signed_curve25519"}}})])
        self.assertEqual(r.json["one_time_keys"], {dave: {"DAVEDEV": {"signed_curve25519:AAAB": {"key": "k"}}}})
        self.assertEqual(list(r.json["failures"]), ["127.0.0.1:9"])
        self.assertError(self.server.post(f"{V3}/keys/claim", {"one_time_keys": {dave: ["DAVEDEV"]}},
                                          token=self.alice_token), 400, "M_BAD_JSON")


class RemoteMember(FederationSendBase):
    """The remote's user bob joined to alice's room through make_join / send_join, signed by the
    fake remote (room version 10 events built with fedremote.seal_event_v10)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bob = f"@bob:{cls.remote.name}"
        cls.remote_join(cls.bob)
        cls.device_list = {"user_id": cls.bob, "stream_id": 5, "devices": [
            {"device_id": "BOBDEV", "device_display_name": "Bob's phone",
             "keys": {"user_id": cls.bob, "device_id": "BOBDEV", "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
                      "keys": {"ed25519:BOBDEV": "Ym9iIGVkMjU1MTkga2V5"}, "signatures": {}}}],
            "master_key": {"user_id": cls.bob, "usage": ["master"], "keys": {"ed25519:bobmaster": "bobmaster"}}}

    @classmethod
    def remote_join(cls, user_id):
        event_id, _ = cls.join_remote_user(cls.room, user_id)
        cls.join_event = dict(cls.joined_events[event_id], event_id=event_id)

    def test_pdu_in_a_transaction_reaches_local_sync(self):
        """A message of the remote's user in /send/ goes through receive_pdus onto the timeline."""
        state = self.server.get(f"{V3}/rooms/{q(self.room)}/state", token=self.alice_token).json
        by_key = {(e["type"], e["state_key"]): e["event_id"] for e in state}
        since = self.sync()["next_batch"]
        head = self.server.get(f"{V3}/rooms/{q(self.room)}/messages?dir=b&limit=1",
                               token=self.alice_token).json["chunk"][0]["event_id"]
        template = {"type": "m.room.message", "room_id": self.room, "sender": self.bob,
                    "content": {"msgtype": "m.text", "body": "over federation"},
                    "prev_events": [head], "depth": self.join_event["depth"] + 100,
                    "auth_events": [by_key[("m.room.create", "")], by_key[("m.room.power_levels", "")],
                                    by_key[("m.room.member", self.bob)]],
                    "origin_server_ts": int(time.time() * 1000)}
        event_id, event = seal_event_v10(template, self.remote.name, self.remote.signing_key)
        r = self.send_txn({"pdus": [event]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["pdus"], {event_id: {}})

        def timeline(r):
            room = r.get("rooms", {}).get("join", {}).get(self.room, {})
            return [e for e in room.get("timeline", {}).get("events", []) if e["event_id"] == event_id]
        got = timeline(self.sync_until(since, timeline))
        self.assertEqual([(e["sender"], e["content"]["body"]) for e in got], [(self.bob, "over federation")])

    def test_remote_member_is_joined(self):
        r = self.server.get(f"{V3}/rooms/{q(self.room)}/joined_members", token=self.alice_token)
        self.assertEqual(set(r.json["joined"]), {self.alice, self.bob})

    def test_typing_receipt_presence(self):
        event_id = self.server.put(f"{V3}/rooms/{q(self.room)}/send/m.room.message/{uuid.uuid4().hex}",
                                   {"msgtype": "m.text", "body": "hi"}, token=self.alice_token).json["event_id"]
        since = self.sync()["next_batch"]
        self.send_edus({"edu_type": "m.typing", "content": {"room_id": self.room, "user_id": self.bob, "typing": True}})
        r = self.sync_until(since, lambda r: self.ephemeral(r, "m.typing"))
        self.assertEqual([e["content"]["user_ids"] for e in self.ephemeral(r, "m.typing")], [[self.bob]])
        since = r["next_batch"]
        self.send_edus({"edu_type": "m.receipt", "content": {self.room: {"m.read": {self.bob: {
            "event_ids": [event_id], "data": {"ts": 1234}}}}}})
        r = self.sync_until(since, lambda r: self.ephemeral(r, "m.receipt"))
        (receipt,) = self.ephemeral(r, "m.receipt")
        self.assertEqual(receipt["content"][event_id]["m.read"][self.bob]["ts"], 1234)
        since = r["next_batch"]
        self.send_edus({"edu_type": "m.presence", "content": {"push": [
            {"user_id": self.bob, "presence": "online", "status_msg": "remote", "last_active_ago": 10,
             "currently_active": True}]}})
        r = self.sync_until(since, lambda r: r.get("presence", {}).get("events"))
        (p,) = [e for e in r["presence"]["events"] if e["sender"] == self.bob]
        self.assertEqual((p["content"]["presence"], p["content"].get("status_msg")), ("online", "remote"))

    def test_device_list_update_with_unknown_prev_id_resyncs(self):
        since = self.sync()["next_batch"]
        self.device_requests.clear()
        self.send_edus({"edu_type": "m.device_list_update", "content": {
            "user_id": self.bob, "device_id": "BOBDEV", "stream_id": 4, "prev_id": [3], "deleted": False}})
        self.assertEqual(self.device_requests, [self.bob])
        r = self.sync_until(since, lambda r: r.get("device_lists", {}).get("changed"))
        self.assertIn(self.bob, r["device_lists"]["changed"])
        changes = self.server.get(f"{V3}/keys/changes?from={q(since)}&to={q(r['next_batch'])}", token=self.alice_token)
        self.assertEqual(changes.status, 200, changes)
        self.assertIn(self.bob, changes.json["changed"])
        # Now tracked: the keys come from the cache, without asking the remote.
        keys = self.server.post(f"{V3}/keys/query", {"device_keys": {self.bob: []}}, token=self.alice_token)
        self.assertEqual(keys.status, 200, keys)
        dev = keys.json["device_keys"][self.bob]["BOBDEV"]
        self.assertEqual(dev["keys"], {"ed25519:BOBDEV": "Ym9iIGVkMjU1MTkga2V5"})
        self.assertEqual(dev["unsigned"], {"device_display_name": "Bob's phone"})
        self.assertEqual(keys.json["master_keys"][self.bob]["keys"], {"ed25519:bobmaster": "bobmaster"})
        self.assertEqual(keys.json["failures"], {})

        # An update that follows the list we hold (prev_id 5): applied as it is, no resync.
        since = r["next_batch"]
        self.device_requests.clear()
        new_keys = {"user_id": self.bob, "device_id": "BOBNEW", "algorithms": [], "keys": {"ed25519:BOBNEW": "bmV3"}}
        self.send_edus({"edu_type": "m.device_list_update", "content": {
            "user_id": self.bob, "device_id": "BOBNEW", "stream_id": 6, "prev_id": [5], "keys": new_keys,
            "device_display_name": "Bob's laptop"}},
            # Another server's user in this origin's EDU: ignored.
            {"edu_type": "m.device_list_update", "content": {
                "user_id": "@eve:elsewhere.example", "device_id": "X", "stream_id": 1, "prev_id": []}})
        self.assertEqual(self.device_requests, [])
        r = self.sync_until(since, lambda r: r.get("device_lists", {}).get("changed"))
        self.assertIn(self.bob, r["device_lists"]["changed"])
        keys = self.server.post(f"{V3}/keys/query", {"device_keys": {self.bob: ["BOBNEW"]}}, token=self.alice_token)
        self.assertEqual(list(keys.json["device_keys"][self.bob]), ["BOBNEW"])
        # The device deleted; a cross-signing key update replaces the master key.
        self.send_edus({"edu_type": "m.device_list_update", "content": {
            "user_id": self.bob, "device_id": "BOBNEW", "stream_id": 7, "prev_id": [6], "deleted": True}},
            {"edu_type": "m.signing_key_update", "content": {"user_id": self.bob, "master_key": {
                "user_id": self.bob, "usage": ["master"], "keys": {"ed25519:bobmaster2": "bobmaster2"}}}})
        keys = self.server.post(f"{V3}/keys/query", {"device_keys": {self.bob: []}}, token=self.alice_token)
        self.assertEqual(list(keys.json["device_keys"][self.bob]), ["BOBDEV"])
        self.assertEqual(keys.json["master_keys"][self.bob]["keys"], {"ed25519:bobmaster2": "bobmaster2"})
        self.assertEqual(self.server.sql("SELECT count(*) FROM remote_device_lists WHERE user_id = '"
                                         + self.bob + "'"), [("1",)])


if __name__ == "__main__":
    main()
