"""Simplified sliding sync (MSC4186) over HTTP: lists ordered by recency with ranges, filters and
required_state ($LAZY, $ME, wildcards), room subscriptions, incremental answers after messages,
state changes and invites, the extensions (to_device with since, e2ee, account_data, receipts,
typing), pos handling (unknown or superseded pos → M_UNKNOWN_POS), bad bodies, a long-poll woken by
a message, another user's rooms never showing, left and kicked rooms' final entries, timelines
back-filled when timeline_limit grows, and `$LAZY` members sent once per connection."""
import json
import threading
import time
import urllib.parse
import uuid

from harness import ServerTestCase, main
from room_helpers import RoomClient, V3, q

SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
NAME_STATE = [["m.room.name", ""], ["m.room.create", ""]]


class SlidingSync(RoomClient, ServerTestCase):
    extra_config = RoomClient.extra_config + "presence:\n  enabled: false\n"

    def ss(self, who, body, pos=None, timeout=None, status=200):
        params = {}
        if pos:
            params["pos"] = pos
        if timeout is not None:
            params["timeout"] = str(timeout)
        path = SS + ("?" + urllib.parse.urlencode(params) if params else "")
        r = self.server.post(path, body, token=self.tok(who))
        self.assertEqual(r.status, status, r)
        return r.json

    def fresh_user(self, prefix):
        return f"{prefix}{uuid.uuid4().hex[:8]}"

    def list_body(self, ranges=((0, 9),), limit=3, required_state=NAME_STATE, conn_id=None, **extra):
        body = {"lists": {"all": {"ranges": [list(r) for r in ranges], "timeline_limit": limit,
                                  "required_state": required_state}}}
        if conn_id:
            body["conn_id"] = conn_id
        body.update(extra)
        return body

    def bodies(self, room_body):
        return [e["content"].get("body") for e in room_body.get("timeline", []) if e["type"] == "m.room.message"]

    def test_versions_advertises(self):
        r = self.server.get("/_matrix/client/versions")
        self.assertTrue(r.json["unstable_features"].get("org.matrix.simplified_msc3575"))

    def test_lists_ordering_and_initial_rooms(self):
        me, other = self.fresh_user("a"), self.fresh_user("b")
        rooms = [self.create(me, name=f"room {i}") for i in range(3)]
        for i, room in enumerate(rooms):
            self.send(me, room, f"hello {i}")
        foreign = self.create(other, name="not mine")
        self.send(me, rooms[0], "bump room 0")  # rooms[0] is now the newest
        body = self.ss(me, self.list_body(ranges=[[0, 1]], limit=2))
        self.assertIn("pos", body)
        self.assertEqual(body["lists"]["all"]["count"], 3)
        self.assertEqual(set(body["rooms"]), {rooms[0], rooms[2]})
        self.assertNotIn(foreign, body["rooms"])
        r0 = body["rooms"][rooms[0]]
        self.assertTrue(r0["initial"])
        self.assertEqual(r0["name"], "room 0")
        self.assertEqual(self.bodies(r0), ["hello 0", "bump room 0"])
        self.assertTrue(r0["limited"])
        self.assertIn("prev_batch", r0)
        self.assertEqual(r0["num_live"], 0)
        self.assertEqual(r0["joined_count"], 1)
        self.assertEqual(r0["notification_count"], 0)
        self.assertEqual(sorted(e["type"] for e in r0["required_state"]), ["m.room.create", "m.room.name"])
        self.assertGreater(r0["bump_stamp"], body["rooms"][rooms[2]]["bump_stamp"])
        # prev_batch pages back through /messages.
        r = self.server.get(f"{V3}/rooms/{q(rooms[0])}/messages?dir=b&limit=50&from={q(r0['prev_batch'])}",
                            token=self.tok(me))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(any(e["type"] == "m.room.create" for e in r.json["chunk"]))

    def test_incremental_updates(self):
        me = self.fresh_user("a")
        rooms = [self.create(me, name=f"r{i}") for i in range(3)]
        first = self.ss(me, self.list_body(ranges=[[0, 1]], limit=2))
        self.assertEqual(set(first["rooms"]), {rooms[2], rooms[1]})
        # Nothing new: no rooms, same list count.
        same = self.ss(me, self.list_body(ranges=[[0, 1]], limit=2), pos=first["pos"])
        self.assertEqual(same["rooms"], {})
        # A message in the room outside the range moves it to the top: it is new to the client.
        self.send(me, rooms[0], "wake up")
        upd = self.ss(me, self.list_body(ranges=[[0, 1]], limit=2), pos=same["pos"])
        self.assertEqual(list(upd["rooms"]), [rooms[0]])
        self.assertTrue(upd["rooms"][rooms[0]]["initial"])
        # A message in a room the client has: only the new event, num_live counts it.
        self.send(me, rooms[0], "second")
        upd = self.ss(me, self.list_body(ranges=[[0, 1]], limit=2), pos=upd["pos"])
        r = upd["rooms"][rooms[0]]
        self.assertNotIn("initial", r)
        self.assertEqual(self.bodies(r), ["second"])
        self.assertEqual(r["num_live"], 1)
        self.assertFalse(r["limited"])
        # More than timeline_limit: the newest ones, limited.
        for i in range(4):
            self.send(me, rooms[0], f"burst {i}")
        upd = self.ss(me, self.list_body(ranges=[[0, 1]], limit=2), pos=upd["pos"])
        r = upd["rooms"][rooms[0]]
        self.assertEqual(self.bodies(r), ["burst 2", "burst 3"])
        self.assertTrue(r["limited"])
        self.assertEqual(r["num_live"], 2)
        # A state change: the new name in required_state and `name`.
        self.put_state(me, rooms[0], "m.room.name", {"name": "renamed"})
        upd = self.ss(me, self.list_body(ranges=[[0, 1]], limit=2), pos=upd["pos"])
        r = upd["rooms"][rooms[0]]
        self.assertEqual(r["name"], "renamed")
        self.assertEqual([e["content"] for e in r["required_state"] if e["type"] == "m.room.name"],
                         [{"name": "renamed"}])

    def test_invites_and_filters(self):
        me, friend = self.fresh_user("a"), self.fresh_user("f")
        plain = self.create(me, name="plain")
        enc = self.create(me, name="secret")
        self.put_state(me, enc, "m.room.encryption", {"algorithm": "m.megolm.v1.aes-sha2"})
        space = self.create(me, name="space", creation_content={"type": "m.space"})
        dm = self.create(friend, is_direct=True, invite=[self.uid(me)])
        body = {"lists": {
            "invites": {"ranges": [[0, 9]], "filters": {"is_invite": True}},
            "encrypted": {"ranges": [[0, 9]], "filters": {"is_encrypted": True}},
            "dms": {"ranges": [[0, 9]], "filters": {"is_dm": True}},
            "no_spaces": {"ranges": [[0, 9]], "filters": {"not_room_types": ["m.space"]}},
            "spaces": {"ranges": [[0, 9]], "filters": {"room_types": ["m.space"]}},
        }}
        r = self.ss(me, body)
        counts = {k: v["count"] for k, v in r["lists"].items()}
        self.assertEqual(counts, {"invites": 1, "encrypted": 1, "dms": 1, "no_spaces": 3, "spaces": 1})
        inv = r["rooms"][dm]
        self.assertTrue(inv["is_dm"])
        self.assertIn("invite_state", inv)
        self.assertEqual(inv["invite_state"][-1]["type"], "m.room.member")
        self.assertEqual(inv["invite_state"][-1]["content"]["membership"], "invite")
        self.assertIn(plain, r["rooms"])
        self.assertIn(space, r["rooms"])
        # An invite after the first answer arrives incrementally.
        room = self.create(friend, name="later")
        self.invite(friend, room, me)
        upd = self.ss(me, body, pos=r["pos"])
        self.assertEqual(upd["lists"]["invites"]["count"], 2)
        self.assertIn("invite_state", upd["rooms"][room])
        self.assertEqual(upd["rooms"][room].get("name"), "later")
        # Joining turns it into a joined room, sent from the start.
        self.join(me, room)
        upd = self.ss(me, body, pos=upd["pos"])
        self.assertEqual(upd["lists"]["invites"]["count"], 1)
        self.assertTrue(upd["rooms"][room]["initial"])
        self.assertNotIn("invite_state", upd["rooms"][room])

    def test_required_state_and_subscriptions(self):
        me, bob, stranger = self.fresh_user("a"), self.fresh_user("b"), self.fresh_user("s")
        room = self.create(me, name="members", preset="public_chat")
        self.join(bob, room)
        self.send(bob, room, "from bob")
        old = self.create(me, name="old")
        other = self.create(stranger, name="stranger's", preset="public_chat")
        self.send(me, room, "newest")  # `room` first, `old` second
        body = self.list_body(ranges=[[0, 0]], limit=1,
                              required_state=[["m.room.member", "$LAZY"], ["m.room.member", "$ME"]])
        body["room_subscriptions"] = {old: {"timeline_limit": 0, "required_state": [["*", "*"]]},
                                      other: {"timeline_limit": 1, "required_state": [["*", "*"]]}}
        r = self.ss(me, body)
        self.assertEqual(set(r["rooms"]), {room, old})  # never a room the user is not in
        members = {e["state_key"] for e in r["rooms"][room]["required_state"]}
        self.assertEqual(members, {self.uid(me)})  # $ME, and $LAZY: the timeline's sender (me)
        self.assertEqual(self.bodies(r["rooms"][room]), ["newest"])
        every = {e["type"] for e in r["rooms"][old]["required_state"]}
        self.assertTrue({"m.room.create", "m.room.name", "m.room.power_levels", "m.room.member"} <= every)
        self.assertEqual(r["rooms"][old]["timeline"], [])
        # $LAZY brings the sender of a new event.
        self.send(bob, room, "bob again")
        upd = self.ss(me, body, pos=r["pos"])
        self.assertIn(self.uid(bob), {e["state_key"] for e in upd["rooms"][room]["required_state"]})
        # A changed config sends the room's required_state again.
        body["room_subscriptions"][old]["required_state"] = [["m.room.name", ""]]
        upd = self.ss(me, body, pos=upd["pos"])
        self.assertEqual([e["type"] for e in upd["rooms"][old]["required_state"]], ["m.room.name"])

    def test_positions(self):
        me = self.fresh_user("a")
        self.create(me, name="x")
        first = self.ss(me, self.list_body(conn_id="c1"))
        self.assertError(self.server.post(SS + "?pos=garbage", {}, token=self.tok(me)), 400, "M_UNKNOWN_POS")
        self.assertError(self.server.post(SS + "?pos=99999_me0.1", {}, token=self.tok(me)), 400, "M_UNKNOWN_POS")
        # Another conn_id does not own the position.
        self.assertError(self.server.post(SS + "?pos=" + q(first["pos"]), {"conn_id": "c2"}, token=self.tok(me)),
                         400, "M_UNKNOWN_POS")
        # Another user neither.
        other = self.fresh_user("o")
        self.assertError(self.server.post(SS + "?pos=" + q(first["pos"]), {"conn_id": "c1"}, token=self.tok(other)),
                         400, "M_UNKNOWN_POS")
        # A retried request still works; once a newer position is used, the older ones expire.
        self.send(me, self.create(me, name="y"), "new")
        second = self.ss(me, self.list_body(conn_id="c1"), pos=first["pos"])
        again = self.ss(me, self.list_body(conn_id="c1"), pos=first["pos"])
        self.assertEqual(set(second["rooms"]), set(again["rooms"]))
        self.send(me, self.create(me, name="z"), "newer")
        third = self.ss(me, self.list_body(conn_id="c1"), pos=again["pos"])
        self.assertIn("rooms", third)
        self.assertError(self.server.post(SS + "?pos=" + q(first["pos"]), self.list_body(conn_id="c1"),
                                          token=self.tok(me)), 400, "M_UNKNOWN_POS")
        # Starting over without pos always works.
        self.assertEqual(self.ss(me, self.list_body(conn_id="c1"))["lists"]["all"]["count"], 3)

    def test_bad_bodies(self):
        me = self.fresh_user("a")
        bad = [([1], "M_BAD_JSON"), ({"lists": []}, "M_BAD_JSON"), ({"lists": {"a": {"ranges": [[3, 1]]}}}, "M_INVALID_PARAM"),
               ({"lists": {"a": {"timeline_limit": -5}}}, "M_INVALID_PARAM"),
               ({"lists": {"a": {"required_state": "all"}}}, "M_BAD_JSON"),
               ({"extensions": {"to_device": {"enabled": True, "since": "x"}}}, "M_INVALID_PARAM")]
        for body, errcode in bad:
            self.assertError(self.server.post(SS, body, token=self.tok(me)), 400, errcode)
        self.assertError(self.server.request("POST", SS, raw=b"{not json", token=self.tok(me)), 400, "M_NOT_JSON")
        self.assertError(self.server.post(SS + "?timeout=abc", {}, token=self.tok(me)), 400, "M_INVALID_PARAM")
        self.assertEqual(self.server.post(SS, {}).status, 401)

    def test_long_poll_woken_by_message(self):
        me = self.fresh_user("a")
        room = self.create(me, name="poll")
        first = self.ss(me, self.list_body(limit=1))
        result = {}

        def poll():
            t0 = time.monotonic()
            result["body"] = self.ss(me, self.list_body(limit=1), pos=first["pos"], timeout=20000)
            result["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.7)
        self.assertTrue(t.is_alive(), "the long-poll returned with nothing new")
        self.send(me, room, "wake")
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertEqual(self.bodies(result["body"]["rooms"][room]), ["wake"])
        self.assertLess(result["elapsed"], 10)
        # A timeout with nothing new answers empty, with a pos that still works.
        t0 = time.monotonic()
        empty = self.ss(me, self.list_body(limit=1), pos=result["body"]["pos"], timeout=500)
        self.assertGreaterEqual(time.monotonic() - t0, 0.4)
        self.assertEqual(empty["rooms"], {})
        self.send(me, room, "after")
        nxt = self.ss(me, self.list_body(limit=1), pos=empty["pos"])
        self.assertEqual(self.bodies(nxt["rooms"][room]), ["after"])

    def test_extensions(self):
        me, bob = self.fresh_user("a"), self.fresh_user("b")
        room = self.create(me, name="ext", preset="public_chat")
        self.join(bob, room)
        ev = self.send(bob, room, "read me")
        self.server.put(f"{V3}/user/{q(self.uid(me))}/account_data/org.example.g", {"g": 1}, token=self.tok(me))
        self.server.put(f"{V3}/user/{q(self.uid(me))}/rooms/{q(room)}/account_data/org.example.r", {"r": 1},
                        token=self.tok(me))
        ext = {"to_device": {"enabled": True}, "e2ee": {"enabled": True}, "account_data": {"enabled": True},
               "receipts": {"enabled": True}, "typing": {"enabled": True}}
        body = self.list_body(extensions=ext)
        r = self.ss(me, body)
        e = r["extensions"]
        self.assertIn({"type": "org.example.g", "content": {"g": 1}}, e["account_data"]["global"])
        self.assertEqual(e["account_data"]["rooms"][room], [{"type": "org.example.r", "content": {"r": 1}}])
        self.assertIn("signed_curve25519", e["e2ee"]["device_one_time_keys_count"])
        self.assertEqual(e["e2ee"]["device_unused_fallback_key_types"], [])
        self.assertEqual(e["to_device"]["events"], [])
        since = e["to_device"]["next_batch"]
        # Receipts, typing, to-device, account data and a device list change arrive incrementally.
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(room)}/receipt/m.read/{q(ev)}", {},
                                          token=self.tok(bob)).status, 200)
        self.assertEqual(self.server.put(f"{V3}/rooms/{q(room)}/typing/{q(self.uid(bob))}",
                                         {"typing": True, "timeout": 30000}, token=self.tok(bob)).status, 200)
        my_device = self.server.get(f"{V3}/account/whoami", token=self.tok(me)).json["device_id"]
        self.assertEqual(self.server.put(f"{V3}/sendToDevice/org.example.ping/{uuid.uuid4().hex}",
                                         {"messages": {self.uid(me): {my_device: {"n": 1}}}},
                                         token=self.tok(bob)).status, 200)
        self.server.put(f"{V3}/user/{q(self.uid(me))}/rooms/{q(room)}/account_data/org.example.r", {"r": 2},
                        token=self.tok(me))
        self.server.login(bob)  # a new device of bob's: his device list changed
        time.sleep(0.3)
        ext["to_device"]["since"] = since
        upd = self.ss(me, body, pos=r["pos"])["extensions"]
        receipt = upd["receipts"]["rooms"][room]
        self.assertEqual(receipt["type"], "m.receipt")
        self.assertIn(self.uid(bob), receipt["content"][ev]["m.read"])
        self.assertEqual(upd["typing"]["rooms"][room]["content"]["user_ids"], [self.uid(bob)])
        self.assertEqual([m["content"] for m in upd["to_device"]["events"]], [{"n": 1}])
        self.assertEqual(upd["to_device"]["events"][0]["sender"], self.uid(bob))
        self.assertEqual(upd["account_data"]["rooms"][room], [{"type": "org.example.r", "content": {"r": 2}}])
        self.assertEqual(upd["account_data"]["global"], [])
        self.assertIn(self.uid(bob), upd["e2ee"]["device_lists"]["changed"])
        # The next to_device since acknowledges the message: it is not sent again.
        ext["to_device"]["since"] = upd["to_device"]["next_batch"]
        again = self.ss(me, body, pos=r["pos"])["extensions"]
        self.assertEqual(again["to_device"]["events"], [])
        # Scoping: receipts for a list the room is not in are left out.
        ext["receipts"] = {"enabled": True, "lists": ["nope"]}
        scoped = self.ss(me, body)["extensions"]
        self.assertEqual(scoped["receipts"]["rooms"], {})

    def memberships_in(self, room_body):
        return [(e["state_key"], e["content"]["membership"]) for e in room_body.get("timeline", [])
                if e["type"] == "m.room.member"]

    def test_left_and_kicked_rooms(self):
        me, bob = self.fresh_user("a"), self.fresh_user("b")
        mine = self.create(me, name="mine")
        left = self.create(me, name="to leave")
        kicked = self.create(bob, name="bob's", preset="public_chat")
        self.join(me, kicked)
        body = self.list_body(limit=5)
        first = self.ss(me, body)
        self.assertEqual(first["lists"]["all"]["count"], 3)
        # Leaving: the room's final entry ends with the leave, then it drops out of the list.
        self.send(me, left, "last words")
        self.leave(me, left)
        upd = self.ss(me, body, pos=first["pos"])
        self.assertEqual(upd["lists"]["all"]["count"], 3)
        final = upd["rooms"][left]
        self.assertNotIn("initial", final)
        self.assertEqual(self.bodies(final), ["last words"])
        self.assertEqual(self.memberships_in(final)[-1], (self.uid(me), "leave"))
        upd = self.ss(me, body, pos=upd["pos"])
        self.assertEqual(upd["lists"]["all"]["count"], 2)
        self.assertNotIn(left, upd["rooms"])
        # A kick: the final entry ends with it and nothing later shows; the room stays listed.
        r = self.server.post(f"{V3}/rooms/{q(kicked)}/kick", {"user_id": self.uid(me), "reason": "bye"},
                             token=self.tok(bob))
        self.assertEqual(r.status, 200, r)
        self.send(bob, kicked, "said behind your back")
        self.put_state(bob, kicked, "m.room.name", {"name": "renamed after"})
        upd = self.ss(me, body, pos=upd["pos"])
        final = upd["rooms"][kicked]
        self.assertEqual(self.memberships_in(final), [(self.uid(me), "leave")])
        self.assertEqual(self.bodies(final), [])
        self.assertEqual(upd["lists"]["all"]["count"], 2)
        self.send(bob, kicked, "more gossip")
        quiet = self.ss(me, body, pos=upd["pos"])
        self.assertNotIn(kicked, quiet["rooms"])
        self.assertEqual(quiet["lists"]["all"]["count"], 2)
        # A new connection lists the kicked room (as of the kick), not the one left by choice.
        fresh = self.ss(me, body)
        self.assertEqual(set(fresh["rooms"]), {mine, kicked})
        k = fresh["rooms"][kicked]
        self.assertEqual(k["name"], "bob's")
        self.assertEqual(self.memberships_in(k)[-1], (self.uid(me), "leave"))
        self.assertNotIn("said behind your back", self.bodies(k))
        # Forgetting it removes it.
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(kicked)}/forget", {}, token=self.tok(me)).status, 200)
        self.assertEqual(set(self.ss(me, body)["rooms"]), {mine})

    def test_timeline_limit_growth_backfills(self):
        me = self.fresh_user("a")
        room = self.create(me, name="history")
        for i in range(5):
            self.send(me, room, f"m{i}")
        first = self.ss(me, self.list_body(limit=1))
        self.assertEqual(self.bodies(first["rooms"][room]), ["m4"])
        # A larger limit later: the newest events again, as many as asked, flagged, none live.
        grown = self.ss(me, self.list_body(limit=3), pos=first["pos"])
        r = grown["rooms"][room]
        self.assertTrue(r["unstable_expanded_timeline"])
        self.assertNotIn("initial", r)
        self.assertEqual(self.bodies(r), ["m2", "m3", "m4"])
        self.assertEqual(r["num_live"], 0)
        # Same limit afterwards: only new events.
        self.send(me, room, "m5")
        nxt = self.ss(me, self.list_body(limit=3), pos=grown["pos"])
        r = nxt["rooms"][room]
        self.assertNotIn("unstable_expanded_timeline", r)
        self.assertEqual(self.bodies(r), ["m5"])
        self.assertEqual(r["num_live"], 1)
        # Growing while new events came: the new ones count as live.
        self.send(me, room, "m6")
        more = self.ss(me, self.list_body(limit=5), pos=nxt["pos"])
        r = more["rooms"][room]
        self.assertTrue(r["unstable_expanded_timeline"])
        self.assertEqual(self.bodies(r), ["m2", "m3", "m4", "m5", "m6"])
        self.assertEqual(r["num_live"], 1)

    def test_lazy_members_sent_once_per_connection(self):
        me, bob, carol = self.fresh_user("a"), self.fresh_user("b"), self.fresh_user("c")
        room = self.create(me, name="lazy", preset="public_chat")
        self.join(bob, room)
        self.join(carol, room)
        self.send(bob, room, "one")
        body = self.list_body(limit=1, required_state=[["m.room.member", "$LAZY"]])

        def members(r):
            return {e["state_key"] for e in r["rooms"][room].get("required_state", [])
                    if e["type"] == "m.room.member"}

        first = self.ss(me, body)
        self.assertEqual(members(first), {self.uid(bob)})
        self.send(bob, room, "two")
        upd = self.ss(me, body, pos=first["pos"])
        self.assertEqual(self.bodies(upd["rooms"][room]), ["two"])
        self.assertEqual(members(upd), set())  # bob's member event is known to the connection
        self.send(carol, room, "three")
        before_carol = upd["pos"]
        upd = self.ss(me, body, pos=before_carol)
        self.assertEqual(members(upd), {self.uid(carol)})
        # A retry of the position the client came from: it lacked carol, so she is sent again.
        upd = self.ss(me, body, pos=before_carol)
        self.assertEqual(members(upd), {self.uid(carol)})
        # A member already sent changes (new display name): sent again though carol sends the message.
        r = self.server.put(f"{V3}/rooms/{q(room)}/state/m.room.member/{q(self.uid(bob))}",
                            {"membership": "join", "displayname": "Bobby"}, token=self.tok(bob))
        self.assertEqual(r.status, 200, r)
        self.send(carol, room, "four")
        upd = self.ss(me, body, pos=upd["pos"])
        changed = [e for e in upd["rooms"][room]["required_state"] if e["type"] == "m.room.member"]
        self.assertEqual([(e["state_key"], e["content"].get("displayname")) for e in changed],
                         [(self.uid(bob), "Bobby")])
        # A new connection starts from nothing.
        self.assertEqual(members(self.ss(me, body)), {self.uid(carol)})

    def test_no_receipts_or_typing_for_rooms_not_joined(self):
        me, bob = self.fresh_user("a"), self.fresh_user("b")
        room = self.create(bob, name="invite only")
        ev = self.send(bob, room, "read by bob")
        self.invite(bob, room, me)
        self.assertEqual(self.server.post(f"{V3}/rooms/{q(room)}/receipt/m.read/{q(ev)}", {},
                                          token=self.tok(bob)).status, 200)
        self.assertEqual(self.server.put(f"{V3}/rooms/{q(room)}/typing/{q(self.uid(bob))}",
                                         {"typing": True, "timeout": 30000}, token=self.tok(bob)).status, 200)
        body = self.list_body(extensions={"receipts": {"enabled": True}, "typing": {"enabled": True}})
        r = self.ss(me, body)
        self.assertIn("invite_state", r["rooms"][room])
        self.assertEqual(r["extensions"]["receipts"]["rooms"], {})
        self.assertEqual(r["extensions"]["typing"]["rooms"], {})
        # Once joined, they show.
        self.join(me, room)
        upd = self.ss(me, body, pos=r["pos"])
        self.assertIn(room, upd["extensions"]["receipts"]["rooms"])
        self.assertIn(room, upd["extensions"]["typing"]["rooms"])


if __name__ == "__main__":
    main()
