"""/sync over HTTP: initial and incremental syncs return exactly what changed (timeline, state,
membership sections, account data), gaps are `limited` with a usable prev_batch, filters (stored and
inline) shape the answer, long-polls return within milliseconds of a relevant event and not at all
for an irrelevant one, tokens survive a restart, and ignored users disappear."""
import json
import os
import threading
import time
import urllib.parse

from harness import ServerTestCase, main
from room_helpers import RoomClient, V3, q


def sync_path(since=None, timeout=None, filt=None, full_state=None, **extra):
    params = {}
    if since:
        params["since"] = since
    if timeout is not None:
        params["timeout"] = str(timeout)
    if filt is not None:
        params["filter"] = filt if isinstance(filt, str) else json.dumps(filt)
    if full_state is not None:
        params["full_state"] = "true" if full_state else "false"
    params.update(extra)
    return f"{V3}/sync" + ("?" + urllib.parse.urlencode(params) if params else "")


class SyncClient(RoomClient):
    # Presence would wake every long-poll of these tests with the syncing user's own presence; the
    # Ephemeral class tests it.
    extra_config = RoomClient.extra_config + "presence:\n  enabled: false\n"

    def sync(self, who, **kw):
        r = self.server.get(sync_path(**kw), token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json

    def timeline(self, body, room):
        return body["rooms"]["join"][room]["timeline"]["events"]

    def bodies(self, body, room):
        return [e["content"].get("body") for e in self.timeline(body, room) if e["type"] == "m.room.message"]


class Sync(SyncClient, ServerTestCase):
    def test_initial_sync_shape(self):
        room = self.create("alice", name="Initial")
        self.send("alice", room, "first")
        body = self.sync("alice")
        self.assertTrue(body["next_batch"].startswith("m"))
        joined = body["rooms"]["join"][room]
        tl = joined["timeline"]
        self.assertEqual(tl["events"][-1]["content"]["body"], "first")
        self.assertIn("prev_batch", tl)
        # State is the state before the timeline starts: no event in both.
        state_ids = {e["event_id"] for e in joined["state"]["events"]}
        self.assertFalse(state_ids & {e["event_id"] for e in tl["events"]})
        # Everything of the room's current state is in one of them.
        types = {e["type"] for e in joined["state"]["events"]} | {e["type"] for e in tl["events"]}
        self.assertTrue({"m.room.create", "m.room.member", "m.room.power_levels", "m.room.name"} <= types, types)
        self.assertEqual(joined["summary"]["m.joined_member_count"], 1)
        for e in tl["events"]:
            self.assertNotIn("room_id", e)  # the room is the key
            self.assertIn("event_id", e)
            self.assertIn("origin_server_ts", e)
        for key in ("account_data", "presence", "to_device", "device_lists"):
            self.assertIn(key, body)

    def test_incremental_returns_exactly_the_change(self):
        room = self.create("alice")
        other = self.create("alice")
        since = self.sync("alice")["next_batch"]
        self.send("alice", room, "new one")
        body = self.sync("alice", since=since)
        self.assertEqual(list(body["rooms"]["join"]), [room])
        self.assertEqual(self.bodies(body, room), ["new one"])
        tl = body["rooms"]["join"][room]["timeline"]
        self.assertFalse(tl["limited"])
        self.assertEqual(body["rooms"]["join"][room]["state"]["events"], [])
        self.assertNotIn(other, body["rooms"]["join"])
        # Nothing happened since: nothing is returned, and the token does not move.
        again = self.sync("alice", since=body["next_batch"])
        self.assertEqual(again["rooms"]["join"], {})
        self.assertEqual(again["next_batch"], body["next_batch"])

    def test_own_transaction_id(self):
        room = self.create("alice")
        since = self.sync("alice")["next_batch"]
        r = self.server.put(f"{V3}/rooms/{q(room)}/send/m.room.message/txn-abc", {"msgtype": "m.text", "body": "t"},
                            token=self.tok("alice"))
        self.assertEqual(r.status, 200)
        ev = self.timeline(self.sync("alice", since=since), room)[-1]
        self.assertEqual(ev["unsigned"]["transaction_id"], "txn-abc")

    def test_limited_gap_and_prev_batch(self):
        room = self.create("alice")
        since = self.sync("alice")["next_batch"]
        for i in range(12):
            self.send("alice", room, f"m{i}")
        self.put_state("alice", room, "m.room.topic", {"topic": "changed in the gap"})
        for i in range(12, 15):
            self.send("alice", room, f"m{i}")
        body = self.sync("alice", since=since, filt={"room": {"timeline": {"limit": 3}}})
        joined = body["rooms"]["join"][room]
        self.assertTrue(joined["timeline"]["limited"])
        self.assertEqual(self.bodies(body, room), ["m12", "m13", "m14"])
        # The state change inside the gap is in `state`.
        self.assertIn("m.room.topic", [e["type"] for e in joined["state"]["events"]])
        # prev_batch continues backwards exactly before the timeline.
        r = self.server.get(f"{V3}/rooms/{q(room)}/messages?dir=b&limit=2&from={q(joined['timeline']['prev_batch'])}",
                            token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["content"].get("topic") for e in r.json["chunk"]][:1], ["changed in the gap"])

    def test_membership_sections(self):
        room = self.create("alice", name="Members")
        bob_since = self.sync("bob")["next_batch"]
        self.invite("alice", room, "bob")
        body = self.sync("bob", since=bob_since)
        inv = body["rooms"]["invite"][room]["invite_state"]["events"]
        types = {e["type"] for e in inv}
        self.assertIn("m.room.name", types)
        me = [e for e in inv if e["type"] == "m.room.member" and e["state_key"] == self.uid("bob")]
        self.assertEqual(me[0]["content"]["membership"], "invite")
        self.assertEqual(me[0]["sender"], self.uid("alice"))
        # Joining: the room moves to `join`, with the whole state (newly joined).
        self.join("bob", room)
        body = self.sync("bob", since=body["next_batch"])
        self.assertNotIn(room, body["rooms"]["invite"])
        joined = body["rooms"]["join"][room]
        types = {e["type"] for e in joined["state"]["events"]} | {e["type"] for e in joined["timeline"]["events"]}
        self.assertIn("m.room.create", types)
        self.assertEqual(joined["summary"]["m.joined_member_count"], 2)
        # Leaving: listed once under `leave`, then gone.
        self.leave("bob", room)
        body = self.sync("bob", since=body["next_batch"])
        left = body["rooms"]["leave"][room]
        self.assertEqual(left["timeline"]["events"][-1]["content"]["membership"], "leave")
        self.assertNotIn(room, body["rooms"]["join"])
        body = self.sync("bob", since=body["next_batch"])
        self.assertNotIn(room, body["rooms"]["leave"])
        # Alice's later messages are not shown to bob.
        self.send("alice", room, "after bob left")
        self.assertEqual(self.sync("bob", since=body["next_batch"])["rooms"]["leave"], {})
        # An initial sync lists left rooms only with include_leave.
        self.assertNotIn(room, self.sync("bob")["rooms"]["leave"])
        with_leave = self.sync("bob", filt={"room": {"include_leave": True}})
        self.assertIn(room, with_leave["rooms"]["leave"])

    def test_heroes_for_unnamed_rooms(self):
        room = self.create("alice")
        self.invite("alice", room, "carol")
        self.join("carol", room)
        summary = self.sync("alice")["rooms"]["join"][room]["summary"]
        self.assertEqual(summary["m.heroes"], [self.uid("carol")])
        self.assertEqual(summary["m.joined_member_count"], 2)

    def test_account_data(self):
        room = self.create("alice")
        since = self.sync("alice")["next_batch"]
        uid = q(self.uid("alice"))
        self.server.put(f"{V3}/user/{uid}/account_data/org.example.g", {"g": 1}, token=self.tok("alice"))
        self.server.put(f"{V3}/user/{uid}/rooms/{q(room)}/tags/u.work", {"order": 0.5}, token=self.tok("alice"))
        body = self.sync("alice", since=since)
        self.assertEqual(body["account_data"]["events"], [{"type": "org.example.g", "content": {"g": 1}}])
        self.assertEqual(body["rooms"]["join"][room]["account_data"]["events"],
                         [{"type": "m.tag", "content": {"tags": {"u.work": {"order": 0.5}}}}])
        self.assertEqual(body["rooms"]["join"][room]["timeline"]["events"], [])
        # Filtered out by type.
        body = self.sync("alice", since=since, filt={"account_data": {"not_types": ["org.example.*"]}})
        self.assertEqual(body["account_data"]["events"], [])

    def test_filters(self):
        room = self.create("alice")
        since = self.sync("alice")["next_batch"]
        self.send("alice", room, "text")
        self.send("alice", room, etype="org.example.custom", content={"x": 1})
        only_custom = {"room": {"timeline": {"types": ["org.example.*"]}}}
        body = self.sync("alice", since=since, filt=only_custom)
        self.assertEqual([e["type"] for e in self.timeline(body, room)], ["org.example.custom"])
        r = self.server.post(f"{V3}/user/{q(self.uid('alice'))}/filter",
                             {"room": {"timeline": {"not_types": ["org.example.custom"]}},
                              "event_fields": ["type", "content.body"]}, token=self.tok("alice"))
        fid = r.json["filter_id"]
        events = self.timeline(self.sync("alice", since=since, filt=fid), room)
        self.assertEqual(events, [{"type": "m.room.message", "content": {"body": "text"}}])
        # Rooms filter.
        body = self.sync("alice", since=since, filt={"room": {"not_rooms": [room]}})
        self.assertNotIn(room, body["rooms"]["join"])
        # Federation format: the PDU as stored.
        fed = self.timeline(self.sync("alice", since=since, filt={"event_format": "federation"}), room)
        self.assertIn("hashes", fed[0])
        self.assertIn("room_id", fed[0])

    def test_lazy_loading_members(self):
        room = self.create("alice", preset="public_chat")
        for who in ("dave", "erin"):
            self.join(who, room)
        self.send("erin", room, "from erin")
        self.send("alice", room, "from alice")
        body = self.sync("alice", filt={"room": {"timeline": {"limit": 2}, "state": {"lazy_load_members": True}}})
        joined = body["rooms"]["join"][room]
        members = {e["state_key"] for e in joined["state"]["events"] if e["type"] == "m.room.member"}
        self.assertIn(self.uid("erin"), members)
        self.assertNotIn(self.uid("dave"), members)

    def test_bad_parameters(self):
        for params in ({"since": "garbage"}, {"since": "m_"}, {"timeout": "-1"}, {"timeout": "soon"},
                       {"full_state": "yes"}, {"set_presence": "away"}, {"filter": "999999"},
                       {"filter": "{\"room\": 5}"}):
            r = self.server.get(f"{V3}/sync?" + urllib.parse.urlencode(params), token=self.tok("alice"))
            self.assertEqual(r.status, 400, (params, r))
            self.assertIn(r.errcode, ("M_INVALID_PARAM", "M_BAD_JSON", "M_NOT_JSON"), (params, r))
        self.assertError(self.server.get(f"{V3}/sync"), 401, "M_MISSING_TOKEN")

    def test_full_state(self):
        room = self.create("alice", name="Full")
        since = self.sync("alice")["next_batch"]
        body = self.sync("alice", since=since, full_state=True)
        joined = body["rooms"]["join"][room]
        types = {e["type"] for e in joined["state"]["events"]} | {e["type"] for e in joined["timeline"]["events"]}
        self.assertIn("m.room.name", types)

    def test_ignored_users(self):
        room = self.create("alice", preset="public_chat")
        self.join("mallory", room)
        since = self.sync("alice")["next_batch"]
        r = self.server.put(f"{V3}/user/{q(self.uid('alice'))}/account_data/m.ignored_user_list",
                            {"ignored_users": {self.uid("mallory"): {}}}, token=self.tok("alice"))
        self.assertEqual(r.status, 200)
        self.send("mallory", room, "spam")
        self.send("alice", room, "mine")
        body = self.sync("alice", since=since)
        self.assertEqual(self.bodies(body, room), ["mine"])
        # /messages leaves them out too.
        r = self.server.get(f"{V3}/rooms/{q(room)}/messages?dir=b&limit=5", token=self.tok("alice"))
        bodies = [e["content"].get("body") for e in r.json["chunk"] if e["type"] == "m.room.message"]
        self.assertEqual(bodies, ["mine"])
        # An invite from an ignored user is not shown.
        other = self.create("mallory")
        since = body["next_batch"]
        self.invite("mallory", other, "alice")
        self.assertNotIn(other, self.sync("alice", since=since)["rooms"]["invite"])


class LongPoll(SyncClient, ServerTestCase):
    def long_poll(self, who, since, timeout_ms, out):
        start = time.monotonic()
        out["body"] = self.sync(who, since=since, timeout=timeout_ms)
        out["elapsed"] = time.monotonic() - start

    def test_wakes_on_relevant_event(self):
        room = self.create("alice", preset="public_chat")
        self.join("bob", room)
        since = self.sync("bob")["next_batch"]
        out = {}
        t = threading.Thread(target=self.long_poll, args=("bob", since, 20000, out))
        t.start()
        time.sleep(0.5)
        sent_at = time.monotonic()
        self.send("alice", room, "wake up")
        t.join(25)
        self.assertEqual(self.bodies(out["body"], room), ["wake up"])
        # Returned right after the send, not at the timeout.
        self.assertLess(out["elapsed"], 5)
        self.assertLess(time.monotonic() - sent_at, 2)

    def test_irrelevant_event_does_not_wake(self):
        room = self.create("alice")
        since = self.sync("bob")["next_batch"]
        out = {}
        t = threading.Thread(target=self.long_poll, args=("bob", since, 1500, out))
        t.start()
        time.sleep(0.3)
        self.send("alice", room, "not for bob")
        t.join(10)
        self.assertGreaterEqual(out["elapsed"], 1.4)
        self.assertEqual(out["body"]["rooms"]["join"], {})
        self.assertEqual(out["body"]["next_batch"], since)

    def test_invite_wakes_the_invitee(self):
        room = self.create("alice")
        since = self.sync("carol")["next_batch"]
        out = {}
        t = threading.Thread(target=self.long_poll, args=("carol", since, 20000, out))
        t.start()
        time.sleep(0.3)
        self.invite("alice", room, "carol")
        t.join(25)
        self.assertIn(room, out["body"]["rooms"]["invite"])
        self.assertLess(out["elapsed"], 5)

    def test_account_data_wakes(self):
        since = self.sync("dave")["next_batch"]
        out = {}
        t = threading.Thread(target=self.long_poll, args=("dave", since, 20000, out))
        t.start()
        time.sleep(0.3)
        self.server.put(f"{V3}/user/{q(self.uid('dave'))}/account_data/org.example.x", {"x": 1}, token=self.tok("dave"))
        t.join(25)
        self.assertEqual(out["body"]["account_data"]["events"][0]["type"], "org.example.x")
        self.assertLess(out["elapsed"], 5)

    def test_many_parked_polls_one_wakes(self):
        # 30 users poll; one room's event wakes only its member.
        rooms = {}
        for i in range(30):
            rooms[i] = self.create(f"p{i}")
        sinces = {i: self.sync(f"p{i}")["next_batch"] for i in range(30)}
        outs = {i: {} for i in range(30)}
        threads = [threading.Thread(target=self.long_poll, args=(f"p{i}", sinces[i], 3000, outs[i])) for i in range(30)]
        for t in threads:
            t.start()
        time.sleep(0.7)
        self.send("p7", rooms[7], "only p7")
        for t in threads:
            t.join(15)
        self.assertLess(outs[7]["elapsed"], 2.5)
        self.assertEqual(self.bodies(outs[7]["body"], rooms[7]), ["only p7"])
        for i in range(30):
            if i != 7:
                self.assertGreaterEqual(outs[i]["elapsed"], 2.9, i)
                self.assertEqual(outs[i]["body"]["rooms"]["join"], {}, i)

    def test_token_survives_restart(self):
        room = self.create("erin")
        since = self.sync("erin")["next_batch"]
        self.send("erin", room, "before restart")
        self.assertEqual(self.server.stop(), 0)
        self.server.start()
        body = self.sync("erin", since=since)
        self.assertEqual(self.bodies(body, room), ["before restart"])
        again = self.sync("erin", since=body["next_batch"], timeout=200)
        self.assertEqual(again["rooms"]["join"], {})


class Ephemeral(SyncClient, ServerTestCase):
    """Typing, receipts, unread counts, to-device and presence as /sync delivers them."""
    extra_config = RoomClient.extra_config

    def shared_room(self, a, b):
        room = self.create(a, preset="public_chat")
        self.join(b, room)
        return room

    def ephemeral(self, body, room, etype):
        room_body = body["rooms"]["join"].get(room, {})
        return [e["content"] for e in room_body.get("ephemeral", {}).get("events", []) if e["type"] == etype]

    def typing(self, who, room, on, timeout=30000):
        body = {"typing": on, "timeout": timeout} if on else {"typing": False}
        r = self.server.put(f"{V3}/rooms/{q(room)}/typing/{q(self.uid(who))}", body, token=self.tok(who))
        self.assertEqual(r.status, 200, r)

    def test_typing_arrives_and_expires(self):
        room = self.shared_room("alice", "bob")
        since = self.sync("alice")["next_batch"]
        self.typing("bob", room, True, timeout=1500)
        body = self.sync("alice", since=since)
        self.assertEqual(self.ephemeral(body, room, "m.typing"), [{"user_ids": [self.uid("bob")]}])
        since = body["next_batch"]
        # Nothing changed: the room is not listed again.
        self.assertNotIn(room, self.sync("alice", since=since)["rooms"]["join"])
        # The timeout ends it; a long-poll wakes for it (looping like a client: presence changes
        # may end a poll first).
        start = time.monotonic()
        typing = []
        while not typing and time.monotonic() - start < 8:
            body = self.sync("alice", since=since, timeout=10000)
            since = body["next_batch"]
            typing = self.ephemeral(body, room, "m.typing")
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(typing, [{"user_ids": []}])

    def test_receipts_and_unread_counts(self):
        room = self.shared_room("carol", "dave")
        since = self.sync("dave")["next_batch"]
        self.send("carol", room, "one")
        last = self.send("carol", room, content={"msgtype": "m.text", "body": "two, for dave",
                                                  "m.mentions": {"user_ids": [self.uid("dave")]}})
        body = self.sync("dave", since=since)
        unread = body["rooms"]["join"][room]["unread_notifications"]
        self.assertEqual(unread["notification_count"], 2, body["rooms"]["join"][room])
        self.assertEqual(unread["highlight_count"], 1)  # the intentional mention
        since = body["next_batch"]
        carol_since = self.sync("carol")["next_batch"]
        r = self.server.post(f"{V3}/rooms/{q(room)}/receipt/m.read/{q(last)}", {}, token=self.tok("dave"))
        self.assertEqual(r.status, 200, r)
        body = self.sync("dave", since=since)
        self.assertEqual(body["rooms"]["join"][room]["unread_notifications"]["notification_count"], 0)
        seen = self.sync("carol", since=carol_since)
        receipts = self.ephemeral(seen, room, "m.receipt")
        self.assertIn(self.uid("dave"), receipts[0][last]["m.read"])
        # A private receipt is shown to its sender only.
        carol_since = seen["next_batch"]
        first = self.send("carol", room, "three")
        carol_since = self.sync("carol", since=carol_since)["next_batch"]
        dave_since = self.sync("dave")["next_batch"]
        r = self.server.post(f"{V3}/rooms/{q(room)}/receipt/m.read.private/{q(first)}", {}, token=self.tok("dave"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ephemeral(self.sync("carol", since=carol_since), room, "m.receipt"), [])
        mine = self.ephemeral(self.sync("dave", since=dave_since), room, "m.receipt")
        self.assertIn(self.uid("dave"), mine[0][first]["m.read.private"])

    def test_to_device_delivered_once(self):
        bob = self.server.register("tdbob", device_id="BOBDEV")
        since = self.server.get(sync_path(), token=bob["access_token"]).json["next_batch"]
        msg = {"messages": {bob["user_id"]: {"BOBDEV": {"secret": 42}}}}
        for _ in range(2):  # the same transaction twice: delivered once
            r = self.server.put(f"{V3}/sendToDevice/org.example.ping/txn1", msg, token=self.tok("alice"))
            self.assertEqual(r.status, 200, r)
        body = self.server.get(sync_path(since=since), token=bob["access_token"]).json
        self.assertEqual(body["to_device"]["events"],
                         [{"sender": self.uid("alice"), "type": "org.example.ping", "content": {"secret": 42}}])
        again = self.server.get(sync_path(since=body["next_batch"]), token=bob["access_token"]).json
        self.assertEqual(again["to_device"]["events"], [])
        # Syncing past them deleted them: even the old token gets nothing now.
        time.sleep(0.3)
        old = self.server.get(sync_path(since=since), token=bob["access_token"]).json
        self.assertEqual(old["to_device"]["events"], [])

    def test_to_device_wakes_long_poll(self):
        bob = self.server.register("tdbob2", device_id="DEV2")
        since = self.server.get(sync_path(), token=bob["access_token"]).json["next_batch"]
        out = {}

        def poll():
            # Loops like a client: the user's own presence change may end the first long-poll.
            token = since
            while True:
                body = self.server.get(sync_path(since=token, timeout=10000), token=bob["access_token"]).json
                token = body["next_batch"]
                if body["to_device"]["events"] or "sent" in out and time.monotonic() - out["sent"] > 10:
                    out["body"] = body
                    out["elapsed"] = time.monotonic() - out["sent"]
                    return

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.4)
        out["sent"] = time.monotonic()
        self.server.put(f"{V3}/sendToDevice/org.example.ping/txn2", {"messages": {bob["user_id"]: {"*": {"n": 1}}}},
                        token=self.tok("alice"))
        t.join(15)
        self.assertEqual(out["body"]["to_device"]["events"][0]["content"], {"n": 1})
        self.assertLess(out["elapsed"], 2)

    def test_presence(self):
        room = self.shared_room("erin", "frank")
        since = self.sync("erin")["next_batch"]
        r = self.server.put(f"{V3}/presence/{q(self.uid('frank'))}/status",
                            {"presence": "online", "status_msg": "at lunch"}, token=self.tok("frank"))
        self.assertEqual(r.status, 200, r)
        body = self.sync("erin", since=since)
        events = [e for e in body["presence"]["events"] if e["sender"] == self.uid("frank")]
        self.assertEqual(events[-1]["type"], "m.presence")
        self.assertEqual(events[-1]["content"]["presence"], "online")
        self.assertEqual(events[-1]["content"]["status_msg"], "at lunch")
        # Someone sharing no room sees nothing of frank.
        stranger = self.sync("stranger2")
        self.assertFalse([e for e in stranger["presence"]["events"] if e["sender"] == self.uid("frank")])
        self.assertIsNotNone(room)


class EphemeralSplit(Ephemeral):
    placement = None  # set below, once SPLIT is read


class Legacy(SyncClient, ServerTestCase):
    """GET /events, /initialSync and /rooms/{roomId}/initialSync, as Synapse still serves them."""

    def test_events_stream(self):
        room = self.create("alice")
        since = self.sync("alice")["next_batch"]
        self.send("alice", room, "via events")
        r = self.server.get(f"{V3}/events?from={q(since)}&timeout=0", token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        msgs = [e for e in r.json["chunk"] if e["type"] == "m.room.message"]
        self.assertEqual([(e["content"]["body"], e["room_id"]) for e in msgs], [("via events", room)])
        self.assertEqual(r.json["start"], since)
        again = self.server.get(f"{V3}/events?from={q(r.json['end'])}&timeout=0", token=self.tok("alice"))
        self.assertEqual(again.json["chunk"], [])
        self.assertError(self.server.get(f"{V3}/events?from=nonsense", token=self.tok("alice")), 400, "M_INVALID_PARAM")

    def test_events_long_poll_from_now(self):
        room = self.create("alice")
        out = {}

        def poll():
            start = time.monotonic()
            out["r"] = self.server.get(f"{V3}/events?timeout=10000", token=self.tok("alice"))
            out["elapsed"] = time.monotonic() - start

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        self.send("alice", room, "now")
        t.join(15)
        self.assertEqual(out["r"].status, 200, out["r"])
        self.assertEqual([e["content"]["body"] for e in out["r"].json["chunk"] if e["type"] == "m.room.message"], ["now"])
        self.assertLess(out["elapsed"], 5)

    def test_initial_sync(self):
        room = self.create("alice", name="Legacy")
        self.send("alice", room, "hello")
        r = self.server.get(f"{V3}/initialSync?limit=5", token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        entry = next(x for x in r.json["rooms"] if x["room_id"] == room)
        self.assertEqual(entry["membership"], "join")
        self.assertEqual(entry["messages"]["chunk"][-1]["content"]["body"], "hello")
        self.assertIn("m.room.create", {e["type"] for e in entry["state"]})
        self.assertIn("end", r.json)
        one = self.server.get(f"{V3}/rooms/{q(room)}/initialSync", token=self.tok("alice"))
        self.assertEqual(one.status, 200, one)
        self.assertEqual(one.json["room_id"], room)
        self.assertIn("m.room.name", {e["type"] for e in one.json["state"]})
        self.assertError(self.server.get(f"{V3}/rooms/{q(room)}/initialSync", token=self.tok("stranger")),
                         403, "M_FORBIDDEN")


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class SyncSplit(Sync):
    """The same, with sync x4 and two event persisters (configs/placement-split.yaml)."""
    placement = SPLIT


class LongPollSplit(LongPoll):
    placement = SPLIT


class ShutdownWithLongPolls(SyncClient, ServerTestCase):
    """A graceful shutdown answers parked long-polls at once instead of waiting out their timeout
    (or the gateway's 10 s drain)."""
    placement = SPLIT

    def test_shutdown_answers_parked_long_polls(self):
        since = {who: self.sync(who)["next_batch"] for who in ("alice", "bob")}
        outs = [{} for _ in range(4)]
        threads = [threading.Thread(target=lambda o=o, w=w: o.update(
                       r=self.server.get(sync_path(since=since[w], timeout=60000), token=self.tok(w))))
                   for o, w in zip(outs, ("alice", "bob", "alice", "bob"))]
        for t in threads:
            t.start()
        time.sleep(1.0)  # parked
        start = time.monotonic()
        self.assertEqual(self.server.stop(), 0)
        self.assertLess(time.monotonic() - start, 5)
        for t in threads:
            t.join(10)
        for o in outs:
            self.assertEqual(o["r"].status, 200, o)
            self.assertEqual(o["r"].json["rooms"]["join"], {})
            self.assertTrue(o["r"].json["next_batch"])


EphemeralSplit.placement = SPLIT


if __name__ == "__main__":
    main()
