"""Rooms and events over HTTP: a scripted conversation of three users (alice, bob, carol) through
createRoom, membership, sending, state, redaction, profile propagation and the read API, with the
forbidden and malformed cases. The same tests run again on the split placement (2 event creators,
2 persisters), where one more test shows rooms spread over both persisters."""
import os
import time
import urllib.parse
import uuid

from harness import ServerTestCase, main

V3 = "/_matrix/client/v3"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

with open(os.path.join(ROOT, "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


def q(s):
    return urllib.parse.quote(s, safe="")


class Rooms(ServerTestCase):
    # Message rate limits are tested elsewhere; these tests send faster than a person would.
    extra_config = "rc_message:\n  per_second: 10000\n  burst_count: 10000\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.users = {}
        for name in ("alice", "bob", "carol", "dave"):
            r = cls.server.register(name)
            cls.users[name] = (r["access_token"], r["user_id"])

    # ---- helpers ----
    @property
    def hs(self):
        return self.uid("alice").split(":", 1)[1]

    def tok(self, name):
        return self.users[name][0]

    def uid(self, name):
        return self.users[name][1]

    def create(self, who="alice", **body):
        r = self.server.post(f"{V3}/createRoom", body, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json["room_id"]

    def send(self, who, room, body="hi", txn=None, etype="m.room.message"):
        txn = txn or uuid.uuid4().hex
        return self.server.put(f"{V3}/rooms/{q(room)}/send/{etype}/{txn}", {"msgtype": "m.text", "body": body},
                               token=self.tok(who))

    def join(self, who, room):
        return self.server.post(f"{V3}/join/{q(room)}", {}, token=self.tok(who))

    def messages(self, who, room, **params):
        qs = urllib.parse.urlencode(params)
        return self.server.get(f"{V3}/rooms/{q(room)}/messages?{qs}", token=self.tok(who))

    def bodies(self, r):
        return [e["content"].get("body") for e in r.json["chunk"] if e["type"] == "m.room.message"]

    def state(self, who, room, etype, key=""):
        return self.server.get(f"{V3}/rooms/{q(room)}/state/{etype}/{q(key)}", token=self.tok(who))

    # ---- createRoom ----
    def test_create_room_initial_state(self):
        alias_name = "conv" + uuid.uuid4().hex[:8]
        room = self.create(name="Conversation", topic="Talk", preset="public_chat", room_alias_name=alias_name,
                           initial_state=[{"type": "m.room.encryption", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}],
                           power_level_content_override={"events_default": 10})
        r = self.server.get(f"{V3}/rooms/{q(room)}/state", token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        by_type = {(e["type"], e["state_key"]): e for e in r.json}
        create = by_type[("m.room.create", "")]
        self.assertEqual(create["content"]["room_version"], "10")
        self.assertEqual(create["content"]["creator"], self.uid("alice"))
        self.assertEqual(by_type[("m.room.name", "")]["content"], {"name": "Conversation"})
        self.assertEqual(by_type[("m.room.topic", "")]["content"], {"topic": "Talk"})
        self.assertEqual(by_type[("m.room.join_rules", "")]["content"], {"join_rule": "public"})
        self.assertEqual(by_type[("m.room.history_visibility", "")]["content"], {"history_visibility": "shared"})
        self.assertEqual(by_type[("m.room.canonical_alias", "")]["content"]["alias"], f"#{alias_name}:{self.hs}")
        self.assertIn(("m.room.encryption", ""), by_type)
        pl = by_type[("m.room.power_levels", "")]["content"]
        self.assertEqual(pl["users"], {self.uid("alice"): 100})
        self.assertEqual(pl["events_default"], 10)
        self.assertEqual(by_type[("m.room.member", self.uid("alice"))]["content"]["membership"], "join")
        # The alias resolves (directory) and joins work through it.
        r = self.server.post(f"{V3}/join/{q('#' + alias_name + ':' + self.hs)}", {}, token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["room_id"], room)

    def test_create_room_versions_and_errors(self):
        room = self.create(room_version="11")
        r = self.state("alice", room, "m.room.create")
        self.assertEqual(r.json["room_version"], "11")
        self.assertNotIn("creator", r.json)  # v11: the sender is the creator
        self.assertError(self.server.post(f"{V3}/createRoom", {"room_version": "99"}, token=self.tok("alice")),
                         400, "M_UNSUPPORTED_ROOM_VERSION")
        self.assertError(self.server.post(f"{V3}/createRoom", {"room_alias_name": "bad:alias"}, token=self.tok("alice")),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.post(f"{V3}/createRoom", {"invite": ["not-a-user"]}, token=self.tok("alice")),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.post(f"{V3}/createRoom", {"preset": "party"}, token=self.tok("alice")),
                         400, "M_INVALID_PARAM")
        alias = "taken" + uuid.uuid4().hex[:6]
        self.create(room_alias_name=alias)
        self.assertError(self.server.post(f"{V3}/createRoom", {"room_alias_name": alias}, token=self.tok("bob")),
                         400, "M_ROOM_IN_USE")
        self.assertError(self.server.post(f"{V3}/createRoom", raw=b"{not json", token=self.tok("alice"),
                                          headers={"Content-Type": "application/json"}), 400, "M_NOT_JSON")
        self.assertEqual(self.server.post(f"{V3}/createRoom", {}).status, 401)

    def test_private_room_invite_flow_and_direct(self):
        room = self.create(preset="private_chat", invite=[self.uid("bob")], is_direct=True)
        # carol is not invited: an invite-only room refuses her.
        self.assertError(self.join("carol", room), 403, "M_FORBIDDEN")
        r = self.state("bob", room, "m.room.member", self.uid("bob"))
        self.assertError(r, 403, "M_FORBIDDEN")  # invited, not joined: no state reads
        self.assertEqual(self.join("bob", room).status, 200)
        r = self.state("bob", room, "m.room.member", self.uid("bob"))
        self.assertEqual(r.json["membership"], "join")
        r = self.state("alice", room, "m.room.guest_access")
        self.assertEqual(r.json, {"guest_access": "can_join"})
        # bob (power 0) cannot invite? invite level is 0, so he can.
        r = self.server.post(f"{V3}/rooms/{q(room)}/invite", {"user_id": self.uid("carol")}, token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.join("carol", room).status, 200)

    # ---- the scripted conversation ----
    def test_conversation(self):
        room = self.create(name="Chat", preset="public_chat")
        self.assertEqual(self.join("bob", room).status, 200)
        self.assertEqual(self.join("carol", room).status, 200)
        sent = []
        for i, who in enumerate(["alice", "bob", "carol"] * 4):
            r = self.send(who, room, f"message {i} from {who}")
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.json["event_id"].startswith("$"))
            sent.append(r.json["event_id"])
        # Read-after-write: the newest page holds the last messages, newest first.
        r = self.messages("bob", room, dir="b", limit=5)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.bodies(r), [f"message {i} from {w}" for i, w in
                                          reversed(list(enumerate(["alice", "bob", "carol"] * 4)))][:5])
        # Page back to the very beginning: every event exactly once, ending with m.room.create.
        seen, token = [], None
        for _ in range(20):
            params = {"dir": "b", "limit": 4}
            if token:
                params["from"] = token
            r = self.messages("carol", room, **params)
            self.assertEqual(r.status, 200, r)
            seen += [e["event_id"] for e in r.json["chunk"]]
            token = r.json.get("end")
            if not token:
                break
        self.assertEqual(len(seen), len(set(seen)))
        self.assertTrue(set(sent) <= set(seen))
        r = self.server.get(f"{V3}/rooms/{q(room)}/event/{q(seen[-1])}", token=self.tok("alice"))
        self.assertEqual(r.json["type"], "m.room.create")
        # Forwards from the start, bounded by `to`.
        r = self.messages("alice", room, dir="f", limit=3)
        self.assertEqual([e["type"] for e in r.json["chunk"]][:2], ["m.room.create", "m.room.member"])
        end = r.json["end"]
        r2 = self.messages("alice", room, dir="f", limit=50, **{"from": end})
        self.assertEqual(r2.json["chunk"][-1]["event_id"], sent[-1])
        self.assertNotIn(r.json["chunk"][-1]["event_id"], [e["event_id"] for e in r2.json["chunk"]])
        # Filter: only alice's messages.
        import json as _json
        r = self.messages("bob", room, dir="b", limit=10,
                          filter=_json.dumps({"senders": [self.uid("alice")], "types": ["m.room.message"],
                                              "lazy_load_members": True}))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["chunk"])
        self.assertTrue(all(e["sender"] == self.uid("alice") for e in r.json["chunk"]))
        self.assertEqual([e["state_key"] for e in r.json["state"]], [self.uid("alice")])
        # Context around a middle message.
        mid = sent[5]
        r = self.server.get(f"{V3}/rooms/{q(room)}/context/{q(mid)}?limit=4", token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["event"]["event_id"], mid)
        self.assertEqual([e["event_id"] for e in r.json["events_before"]], [sent[4], sent[3]])
        self.assertEqual([e["event_id"] for e in r.json["events_after"]], [sent[6], sent[7]])
        self.assertTrue(any(e["type"] == "m.room.create" for e in r.json["state"]))
        # Members and joined members.
        r = self.server.get(f"{V3}/rooms/{q(room)}/joined_members", token=self.tok("carol"))
        self.assertEqual(set(r.json["joined"]), {self.uid(n) for n in ("alice", "bob", "carol")})
        self.assertEqual(r.json["joined"][self.uid("bob")]["display_name"], "bob")
        r = self.server.get(f"{V3}/rooms/{q(room)}/members?membership=join", token=self.tok("carol"))
        self.assertEqual(len(r.json["chunk"]), 3)
        r = self.server.get(f"{V3}/joined_rooms", token=self.tok("carol"))
        self.assertIn(room, r.json["joined_rooms"])

    def test_members_at_a_sync_token(self):
        # matrix-js-sdk asks for the members of an encrypted room "at" its last /sync next_batch; the
        # spec's prev_batch (a /messages token) must keep working too.
        room = self.create(preset="public_chat")
        self.join("bob", room)
        # Timeline limit 1: prev_batch is just before bob's join.
        last_event_only = q('{"room":{"timeline":{"limit":1}}}')
        r = self.server.get(f"{V3}/sync?timeout=0&filter={last_event_only}", token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        next_batch, prev_batch = r.json["next_batch"], r.json["rooms"]["join"][room]["timeline"]["prev_batch"]
        self.join("carol", room)

        def joined_at(at):
            r = self.server.get(f"{V3}/rooms/{q(room)}/members?membership=join&at={q(at)}", token=self.tok("alice"))
            self.assertEqual(r.status, 200, r)
            return {e["state_key"] for e in r.json["chunk"]}

        self.assertEqual(joined_at(next_batch), {self.uid("alice"), self.uid("bob")})
        self.assertEqual(joined_at(""), {self.uid(n) for n in ("alice", "bob", "carol")})
        self.assertEqual(joined_at(prev_batch), {self.uid("alice")})
        for bad in ("t1", "garbage", "me0.x", "me0.1_"):
            r = self.server.get(f"{V3}/rooms/{q(room)}/members?at={q(bad)}", token=self.tok("alice"))
            self.assertError(r, 400, "M_INVALID_PARAM")

    def test_messages_from_a_sync_token(self):
        # The spec lets /messages start at a /sync next_batch (clients page back from there).
        room = self.create()
        for body in ("one", "two"):
            self.send("alice", room, body)
        r = self.server.get(f"{V3}/sync?timeout=0", token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        next_batch = r.json["next_batch"]
        self.send("alice", room, "after the token")
        r = self.messages("alice", room, dir="b", limit=2, **{"from": next_batch})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.bodies(r), ["two", "one"])
        r = self.messages("alice", room, dir="f", **{"from": next_batch})
        self.assertEqual(self.bodies(r), ["after the token"])
        self.assertError(self.messages("alice", room, **{"from": "me0.x"}), 400, "M_INVALID_PARAM")

    def test_txn_idempotency(self):
        room = self.create()
        a = self.send("alice", room, "once", txn="same-txn")
        b = self.send("alice", room, "once", txn="same-txn")
        self.assertEqual(a.json["event_id"], b.json["event_id"])
        self.assertEqual(self.bodies(self.messages("alice", room, limit=10)).count("once"), 1)
        # Another device of the same user gets its own transaction namespace.
        other = self.server.login("alice", device_id="OTHERDEV").json["access_token"]
        c = self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/same-txn", {"msgtype": "m.text", "body": "once"},
                            token=other)
        self.assertNotEqual(c.json["event_id"], a.json["event_id"])
        # transaction_id is shown to the sending device only.
        r = self.server.get(f"{V3}/rooms/{q(room)}/event/{q(a.json['event_id'])}", token=self.tok("alice"))
        self.assertEqual(r.json["unsigned"]["transaction_id"], "same-txn")
        r = self.server.get(f"{V3}/rooms/{q(room)}/event/{q(a.json['event_id'])}", token=other)
        self.assertNotIn("transaction_id", r.json["unsigned"])

    def test_forbidden_and_unknown(self):
        room = self.create(preset="public_chat")
        # A non-member sending.
        self.assertError(self.send("dave", room, "let me in"), 403, "M_FORBIDDEN")
        # Power: bob (0) cannot set the name (50) or ban.
        self.join("bob", room)
        self.assertError(self.server.put(f"{V3}/rooms/{q(room)}/state/m.room.name", {"name": "mine"},
                                         token=self.tok("bob")), 403, "M_FORBIDDEN")
        self.assertError(self.server.post(f"{V3}/rooms/{q(room)}/ban", {"user_id": self.uid("alice")},
                                          token=self.tok("bob")), 403, "M_FORBIDDEN")
        # A banned user cannot join again, an unbanned one can.
        self.join("carol", room)
        r = self.server.post(f"{V3}/rooms/{q(room)}/ban", {"user_id": self.uid("carol"), "reason": "spam"},
                             token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertError(self.join("carol", room), 403, "M_FORBIDDEN")
        self.assertError(self.send("carol", room), 403, "M_FORBIDDEN")
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(room)}/unban", {"user_id": self.uid("carol")},
                                          token=self.tok("alice")).status, 200)
        self.assertEqual(self.join("carol", room).status, 200)
        # Kick.
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(room)}/kick", {"user_id": self.uid("carol")},
                                          token=self.tok("alice")).status, 200)
        self.assertEqual(self.state("alice", room, "m.room.member", self.uid("carol")).json["membership"], "leave")
        # Unknown rooms and events.
        self.assertError(self.send("alice", "!nope:" + self.hs), 404, "M_NOT_FOUND")
        self.assertError(self.join("alice", "!nope:" + self.hs), 404, "M_NOT_FOUND")
        self.assertError(self.join("alice", "#nope:" + self.hs), 404, "M_NOT_FOUND")
        self.assertError(self.messages("alice", "!nope:" + self.hs), 404, "M_NOT_FOUND")
        self.assertError(self.server.get(f"{V3}/rooms/{q(room)}/event/{q('$missing')}", token=self.tok("alice")),
                         404, "M_NOT_FOUND")
        self.assertError(self.state("alice", room, "m.room.nothing"), 404, "M_NOT_FOUND")
        # Bad content.
        self.assertError(self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/t1", [1, 2],
                                         token=self.tok("alice")), 400, "M_BAD_JSON")
        self.assertError(self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/t2", {"x": 1.5},
                                         token=self.tok("alice")), 400, "M_BAD_JSON")
        self.assertError(self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/t3", {"body": "x" * 70000},
                                         token=self.tok("alice")), 413, "M_TOO_LARGE")
        self.assertError(self.server.put(f"{V3}/rooms/{q(room)}/state/m.room.power_levels",
                                         {"users": {self.uid("alice"): "lots"}}, token=self.tok("alice")),
                         400, "M_BAD_JSON")
        self.assertError(self.messages("alice", room, dir="sideways"), 400, "M_INVALID_PARAM")
        self.assertError(self.messages("alice", room, **{"from": "garbage"}), 400, "M_INVALID_PARAM")
        # The room still works after all that.
        self.assertEqual(self.send("alice", room, "still here").status, 200)

    def test_leave_forget_and_history_visibility(self):
        room = self.create(preset="public_chat")
        self.join("bob", room)
        self.send("alice", room, "before bob left")
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(room)}/leave", {}, token=self.tok("bob")).status, 200)
        self.send("alice", room, "after bob left")
        r = self.messages("bob", room, limit=20)
        self.assertEqual(r.status, 200, r)
        self.assertIn("before bob left", self.bodies(r))
        self.assertNotIn("after bob left", self.bodies(r))
        # bob still reads the state as of his leave, not later changes.
        self.server.put(f"{V3}/rooms/{q(room)}/state/m.room.topic", {"topic": "secret"}, token=self.tok("alice"))
        r = self.server.get(f"{V3}/rooms/{q(room)}/state", token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("m.room.topic", [e["type"] for e in r.json])
        # dave was never in the room: nothing.
        self.assertError(self.messages("dave", room), 403, "M_FORBIDDEN")
        self.assertError(self.server.get(f"{V3}/rooms/{q(room)}/state", token=self.tok("dave")), 403, "M_FORBIDDEN")
        # Forget only after leaving.
        self.assertError(self.server.post(f"{V3}/rooms/{q(room)}/forget", {}, token=self.tok("alice")), 400, "M_UNKNOWN")
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(room)}/forget", {}, token=self.tok("bob")).status, 200)

    def test_joined_history_visibility(self):
        room = self.create(preset="public_chat")
        self.server.put(f"{V3}/rooms/{q(room)}/state/m.room.history_visibility", {"history_visibility": "joined"},
                        token=self.tok("alice"))
        self.send("alice", room, "before carol")
        self.join("carol", room)
        self.send("alice", room, "after carol")
        bodies = self.bodies(self.messages("carol", room, limit=50))
        self.assertIn("after carol", bodies)
        self.assertNotIn("before carol", bodies)
        # With "shared", a new member sees history from before their join.
        room2 = self.create(preset="public_chat")
        self.send("alice", room2, "old news")
        self.join("carol", room2)
        self.assertIn("old news", self.bodies(self.messages("carol", room2, limit=50)))

    def test_redaction(self):
        room = self.create(preset="public_chat")
        self.join("bob", room)
        mine = self.send("bob", room, "oops").json["event_id"]
        theirs = self.send("alice", room, "alice's").json["event_id"]
        # bob may redact his own event, not alice's.
        self.assertError(self.server.put(f"{V3}/rooms/{q(room)}/redact/{q(theirs)}/r1", {}, token=self.tok("bob")),
                         403, "M_FORBIDDEN")
        r = self.server.put(f"{V3}/rooms/{q(room)}/redact/{q(mine)}/r2", {"reason": "typo"}, token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        again = self.server.put(f"{V3}/rooms/{q(room)}/redact/{q(mine)}/r2", {"reason": "typo"}, token=self.tok("bob"))
        self.assertEqual(again.json["event_id"], r.json["event_id"])
        ev = self.server.get(f"{V3}/rooms/{q(room)}/event/{q(mine)}", token=self.tok("alice")).json
        self.assertEqual(ev["content"], {})
        self.assertEqual(ev["unsigned"]["redacted_because"]["event_id"], r.json["event_id"])
        self.assertEqual(ev["unsigned"]["redacted_because"]["content"], {"reason": "typo"})
        # The admin can redact anyone's event.
        self.assertEqual(self.server.put(f"{V3}/rooms/{q(room)}/redact/{q(theirs)}/r3", {}, token=self.tok("alice")).status,
                         200)
        self.assertError(self.server.put(f"{V3}/rooms/{q(room)}/redact/{q('$unknown')}/r4", {}, token=self.tok("alice")),
                         404, "M_NOT_FOUND")

    def test_redacted_power_levels_lose_their_unprotected_keys(self):
        # Room v10's redaction keeps ban/kick/redact/users/events… but not `invite`: once the power
        # levels event is redacted, the invite level falls back to its default, 0 (Synapse agrees).
        room = self.create(preset="public_chat", room_version="10")
        self.join("bob", room)
        pl = self.state("alice", room, "m.room.power_levels").json
        pl["invite"] = 100
        pl_event = self.server.put(f"{V3}/rooms/{q(room)}/state/m.room.power_levels", pl, token=self.tok("alice"))
        self.assertEqual(pl_event.status, 200, pl_event)
        invite = {"user_id": self.uid("carol")}
        self.assertError(self.server.post(f"{V3}/rooms/{q(room)}/invite", invite, token=self.tok("bob")),
                         403, "M_FORBIDDEN")
        r = self.server.put(f"{V3}/rooms/{q(room)}/redact/{q(pl_event.json['event_id'])}/pl1", {},
                            token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(room)}/invite", invite, token=self.tok("bob")).status, 200)

    def test_profile_propagates_into_rooms(self):
        reg = self.server.register("erin")
        token, uid = reg["access_token"], reg["user_id"]
        room = self.create(preset="public_chat")
        self.assertEqual(self.server.post(f"{V3}/join/{q(room)}", {}, token=token).status, 200)
        r = self.server.put(f"{V3}/profile/{q(uid)}/displayname", {"displayname": "Erin E."}, token=token)
        self.assertEqual(r.status, 200, r)
        r = self.server.put(f"{V3}/profile/{q(uid)}/avatar_url", {"avatar_url": "mxc://example.org/abc"}, token=token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.get(f"{V3}/profile/{q(uid)}").json,
                         {"displayname": "Erin E.", "avatar_url": "mxc://example.org/abc"})
        member = self.state("alice", room, "m.room.member", uid).json
        self.assertEqual(member["displayname"], "Erin E.")
        self.assertEqual(member["avatar_url"], "mxc://example.org/abc")
        self.assertError(self.server.put(f"{V3}/profile/{q(self.uid('alice'))}/displayname", {"displayname": "x"},
                                         token=token), 403, "M_FORBIDDEN")
        self.assertError(self.server.get(f"{V3}/profile/{q('@ghost:' + self.hs)}"), 404, "M_NOT_FOUND")
        self.assertError(self.server.put(f"{V3}/profile/{q(uid)}/avatar_url", {"avatar_url": "http://x"}, token=token),
                         400, "M_INVALID_PARAM")

    def test_knock(self):
        room = self.create(preset="private_chat")
        self.server.put(f"{V3}/rooms/{q(room)}/state/m.room.join_rules", {"join_rule": "knock"}, token=self.tok("alice"))
        r = self.server.post(f"{V3}/knock/{q(room)}", {"reason": "hello?"}, token=self.tok("dave"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.state("alice", room, "m.room.member", self.uid("dave")).json["membership"], "knock")
        # In a public room a knock is refused (join instead).
        public = self.create(preset="public_chat")
        self.assertError(self.server.post(f"{V3}/knock/{q(public)}", {}, token=self.tok("dave")), 403, "M_FORBIDDEN")

    def test_room_upgrade(self):
        alias_name = "up" + uuid.uuid4().hex[:8]
        old = self.create(preset="public_chat", name="Old", room_alias_name=alias_name)
        self.join("bob", old)
        self.assertError(self.server.post(f"{V3}/rooms/{q(old)}/upgrade", {"new_version": "11"}, token=self.tok("bob")),
                         403, "M_FORBIDDEN")
        self.assertError(self.server.post(f"{V3}/rooms/{q(old)}/upgrade", {"new_version": "42"},
                                          token=self.tok("alice")), 400, "M_UNSUPPORTED_ROOM_VERSION")
        r = self.server.post(f"{V3}/rooms/{q(old)}/upgrade", {"new_version": "11"}, token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        new = r.json["replacement_room"]
        tomb = self.state("bob", old, "m.room.tombstone").json
        self.assertEqual(tomb["replacement_room"], new)
        create = self.state("alice", new, "m.room.create").json
        self.assertEqual(create["predecessor"]["room_id"], old)
        self.assertEqual(create["room_version"], "11")
        self.assertEqual(self.state("alice", new, "m.room.name").json, {"name": "Old"})
        self.assertEqual(self.state("alice", new, "m.room.join_rules").json, {"join_rule": "public"})
        # The alias now points at the new room; bob follows it there.
        r = self.server.post(f"{V3}/join/{q('#' + alias_name + ':' + self.hs)}", {}, token=self.tok("bob"))
        self.assertEqual(r.json["room_id"], new)
        # Only moderators may still talk in the old room.
        self.assertError(self.send("bob", old, "still here?"), 403, "M_FORBIDDEN")

    def test_concurrent_senders_keep_one_linear_history(self):
        import threading
        room = self.create(preset="public_chat")
        for n in ("bob", "carol"):
            self.join(n, room)
        errors = []

        def worker(who):
            conn = self.server.connect()
            for i in range(15):
                r = self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/{who}-{i}",
                                    {"msgtype": "m.text", "body": f"{who} {i}"}, token=self.tok(who), conn=conn)
                if r.status != 200:
                    errors.append(r)
            conn.close()
        threads = [threading.Thread(target=worker, args=(w,)) for w in ("alice", "bob", "carol")]
        [t.start() for t in threads]
        [t.join() for t in threads]
        self.assertEqual(errors, [])
        r = self.messages("alice", room, dir="f", limit=100)
        depths = [e for e in r.json["chunk"]]
        self.assertEqual(len([e for e in depths if e["type"] == "m.room.message"]), 45)
        info = self.server.get(f"/_myelin/debug/room/{q(room)}", token=self.tok("alice")).json
        # One persister sequenced everything: depth == number of events, no forks.
        self.assertEqual(info["depth"], len(r.json["chunk"]))


class GuestAccess(ServerTestCase):
    extra_config = "allow_guest_access: true\n"

    def test_guests_join_only_where_guest_access_allows(self):
        alice = self.server.register("alice")["access_token"]
        guest = self.server.post(f"{V3}/register?kind=guest", {})
        self.assertEqual(guest.status, 200, guest)
        gtok = guest.json["access_token"]
        private = self.server.post(f"{V3}/createRoom", {"preset": "private_chat"}, token=alice).json["room_id"]
        self.server.put(f"{V3}/rooms/{q(private)}/state/m.room.join_rules", {"join_rule": "public"}, token=alice)
        public = self.server.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=alice).json["room_id"]
        # public_chat sets no guest_access: guests stay out.
        self.assertError(self.server.post(f"{V3}/join/{q(public)}", {}, token=gtok), 403, "M_GUEST_ACCESS_FORBIDDEN")
        self.assertEqual(self.server.post(f"{V3}/join/{q(private)}", {}, token=gtok).status, 200)
        # Turning guest access off again closes the door (the old value in prev_content must not count).
        self.server.post(f"{V3}/rooms/{q(private)}/leave", {}, token=gtok)
        self.server.put(f"{V3}/rooms/{q(private)}/state/m.room.guest_access", {"guest_access": "forbidden"},
                        token=alice)
        self.assertError(self.server.post(f"{V3}/join/{q(private)}", {}, token=gtok), 403, "M_GUEST_ACCESS_FORBIDDEN")


class RoomsSplit(Rooms):
    placement = SPLIT

    def test_rooms_spread_over_persisters(self):
        owners = set()
        for _ in range(12):
            room = self.create()
            owners.add(self.server.get(f"/_myelin/debug/room/{q(room)}", token=self.tok("alice")).json["persister"])
        self.assertEqual(owners, {"writer.events/0", "writer.events/1"})


if __name__ == "__main__":
    main()
