"""Finding things in rooms over HTTP: full-text /search (terms that are hostile to the database's
query syntax, unicode, visibility, filters, ordering, pagination, context), /relations and
/threads, /timestamp_to_event, the space /hierarchy and the user directory. Each class has its
own server; the search tests run again on the split placement. Runs on SQLite (FTS5) and
PostgreSQL (tsvector)."""
import os
import time
import urllib.parse

from harness import ServerTestCase, main
from room_helpers import V1, V3, RoomClient, q

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class Search(RoomClient, ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        self = cls("test_basic_match")  # an instance, for the helpers
        cls.room = self.create("alice", preset="public_chat", name="Zoology corner", topic="Armadillos only")
        self.join("bob", cls.room)
        cls.fox = self.send("alice", cls.room, "The quick brown fox")
        cls.dogs = self.send("bob", cls.room, "lazy dogs sleep all day")
        cls.unicode = self.send("alice", cls.room, "Grüße aus München, 日本語 テキスト")
        cls.other_room = self.create("bob", name="Elsewhere")
        cls.elsewhere = self.send("bob", cls.other_room, "quick thinking elsewhere")

    def search(self, who, term, next_batch=None, **criteria):
        body = {"search_categories": {"room_events": {"search_term": term, **criteria}}}
        path = f"{V3}/search" + (f"?next_batch={q(next_batch)}" if next_batch else "")
        return self.server.post(path, body, token=self.tok(who))

    def ids(self, r):
        self.assertEqual(r.status, 200, r)
        return [x["result"]["event_id"] for x in r.json["search_categories"]["room_events"]["results"]]

    def test_basic_match(self):
        r = self.search("alice", "quick")
        self.assertEqual(self.ids(r), [self.fox])  # alice is not in bob's other room
        cat = r.json["search_categories"]["room_events"]
        self.assertEqual(cat["count"], 1)
        self.assertIn("quick", cat["highlights"])
        result = cat["results"][0]
        self.assertIsInstance(result["rank"], (int, float))
        self.assertEqual(result["result"]["content"]["body"], "The quick brown fox")
        self.assertEqual(result["result"]["room_id"], self.room)
        self.assertEqual(sorted(self.ids(self.search("bob", "quick"))), sorted([self.fox, self.elsewhere]))

    def test_prefixes_case_and_all_words(self):
        self.assertEqual(self.ids(self.search("alice", "QUI")), [self.fox])
        self.assertEqual(self.ids(self.search("alice", "quick fox")), [self.fox])
        self.assertEqual(self.ids(self.search("alice", "quick dogs")), [])
        self.assertEqual(self.ids(self.search("alice", "sleep")), [self.dogs])

    def test_hostile_terms_never_fail(self):
        for term in ['"', '""', "*", "AND (", "OR", "NOT", "NEAR(", "'", "\\", ":*", "!(&|)<->", "-", "^",
                     "quick\"", "fox*", "a:b", "'; DROP TABLE events; --", "   ", "", "\u0000x", "(((", "))"]:
            r = self.search("alice", term)
            self.assertEqual(r.status, 200, f"{term!r}: {r}")
            self.assertIsInstance(r.json["search_categories"]["room_events"]["results"], list)
        # Punctuation around a word does not hide it.
        self.assertEqual(self.ids(self.search("alice", '"quick" (fox*)')), [self.fox])

    def test_unicode(self):
        self.assertEqual(self.ids(self.search("alice", "München")), [self.unicode])
        self.assertEqual(self.ids(self.search("alice", "Grüße")), [self.unicode])
        self.assertEqual(self.ids(self.search("alice", "日本語")), [self.unicode])

    def test_room_name_and_topic_keys(self):
        r = self.search("alice", "zoology", keys=["content.name"])
        self.assertEqual([x["result"]["type"] for x in r.json["search_categories"]["room_events"]["results"]],
                         ["m.room.name"])
        self.assertEqual(self.ids(self.search("alice", "zoology", keys=["content.body"])), [])
        r = self.search("alice", "armadillos", keys=["content.topic"])
        self.assertEqual(len(self.ids(r)), 1)
        self.assertError(self.search("alice", "x", keys=["content.secret"]), 400, "M_INVALID_PARAM")

    def test_filters(self):
        bob_rooms = {"rooms": [self.other_room]}
        self.assertEqual(self.ids(self.search("bob", "quick", filter=bob_rooms)), [self.elsewhere])
        self.assertEqual(self.ids(self.search("bob", "quick", filter={"not_rooms": [self.other_room]})), [self.fox])
        self.assertEqual(self.ids(self.search("bob", "quick", filter={"senders": [self.uid("alice")]})), [self.fox])
        self.assertEqual(self.ids(self.search("bob", "quick", filter={"not_senders": [self.uid("alice")]})),
                         [self.elsewhere])
        # A room the user is not in stays out even when asked for.
        self.assertEqual(self.ids(self.search("alice", "quick", filter=bob_rooms)), [])
        self.assertEqual(self.ids(self.search("mallory", "quick")), [])

    def test_errors(self):
        self.assertError(self.server.post(f"{V3}/search", {}, token=self.tok("alice")), 400, "M_MISSING_PARAM")
        r = self.server.post(f"{V3}/search", {"search_categories": {"room_events": {}}}, token=self.tok("alice"))
        self.assertError(r, 400, "M_MISSING_PARAM")
        self.assertError(self.search("alice", "x", order_by="best"), 400, "M_INVALID_PARAM")
        self.assertError(self.search("alice", "x", next_batch="bogus"), 400, "M_INVALID_PARAM")
        self.assertError(self.search("alice", "x", order_by="recent", next_batch="r1_x"), 400, "M_INVALID_PARAM")
        self.assertError(self.server.post(f"{V3}/search", {"search_categories": {}}), 401, "M_MISSING_TOKEN")
        r = self.server.post(f"{V3}/search", {"search_categories": {}}, token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"search_categories": {}})

    def test_pagination_recent_and_rank(self):
        room = self.create("carol")
        sent = [self.send("carol", room, f"pagetest number {i}") for i in range(7)]
        for order in ("recent", "rank"):
            seen, token, pages = [], None, 0
            while True:
                r = self.search("carol", "pagetest", next_batch=token, order_by=order, filter={"limit": 3})
                page = self.ids(r)
                self.assertLessEqual(len(page), 3)
                seen += page
                pages += 1
                token = r.json["search_categories"]["room_events"].get("next_batch")
                if not token:
                    break
                self.assertLess(pages, 10)
            self.assertEqual(sorted(seen), sorted(sent), order)
            self.assertEqual(len(seen), len(set(seen)))
            if order == "recent":
                self.assertEqual(seen, list(reversed(sent)))

    def test_former_member_sees_only_their_time(self):
        room = self.create("alice", preset="public_chat")
        self.join("dave", room)
        during = self.send("alice", room, "visitorword while dave was here")
        self.leave("dave", room)
        after = self.send("alice", room, "visitorword after dave left")
        self.assertEqual(sorted(self.ids(self.search("alice", "visitorword"))), sorted([during, after]))
        self.assertEqual(self.ids(self.search("dave", "visitorword")), [during])
        r = self.server.post(f"{V3}/rooms/{q(room)}/forget", {}, token=self.tok("dave"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ids(self.search("dave", "visitorword")), [])

    def test_redacted_events_are_not_found(self):
        room = self.create("alice")
        ev = self.send("alice", room, "regrettable phrasing")
        self.assertEqual(self.ids(self.search("alice", "regrettable")), [ev])
        self.redact("alice", room, ev)
        self.assertEqual(self.ids(self.search("alice", "regrettable")), [])

    def test_context_profiles_and_groups(self):
        room = self.create("alice")
        r = self.server.put(f"{V3}/profile/{q(self.uid('alice'))}/displayname", {"displayname": "Alice A."},
                            token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        before = [self.send("alice", room, f"context before {i}") for i in range(3)]
        hit = self.send("alice", room, "contextual needle")
        after = [self.send("alice", room, f"context after {i}") for i in range(3)]
        r = self.search("alice", "needle", event_context={"before_limit": 2, "after_limit": 2,
                                                          "include_profile": True},
                        groupings={"group_by": [{"key": "room_id"}, {"key": "sender"}]})
        cat = r.json["search_categories"]["room_events"]
        self.assertEqual(self.ids(r), [hit])
        ctx = cat["results"][0]["context"]
        self.assertEqual([e["event_id"] for e in ctx["events_before"]], [before[2], before[1]])
        self.assertEqual([e["event_id"] for e in ctx["events_after"]], [after[0], after[1]])
        self.assertTrue(ctx["start"] and ctx["end"])
        self.assertEqual(ctx["profile_info"][self.uid("alice")]["displayname"], "Alice A.")
        # The context tokens page /messages onwards from there.
        r = self.server.get(f"{V3}/rooms/{q(room)}/messages?dir=f&limit=5&from={q(ctx['end'])}",
                            token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]][:1], [after[2]])
        self.assertEqual(cat["groups"]["room_id"][room]["results"], [hit])
        self.assertEqual(cat["groups"]["sender"][self.uid("alice")]["results"], [hit])


class Relations(RoomClient, ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        self = cls("test_all_children")
        cls.room = self.create("alice", preset="public_chat")
        self.join("bob", cls.room)
        cls.parent = self.send("alice", cls.room, "parent")
        cls.thread1 = self.send("bob", cls.room, content={
            "msgtype": "m.text", "body": "in thread", "m.relates_to": {"rel_type": "m.thread", "event_id": cls.parent}})
        cls.reaction = self.send("bob", cls.room, etype="m.reaction", content={
            "m.relates_to": {"rel_type": "m.annotation", "event_id": cls.parent, "key": "👍"}})
        cls.edit = self.send("alice", cls.room, content={
            "msgtype": "m.text", "body": "* parent!", "m.new_content": {"msgtype": "m.text", "body": "parent!"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": cls.parent}})
        cls.thread2 = self.send("alice", cls.room, content={
            "msgtype": "m.text", "body": "again", "m.relates_to": {"rel_type": "m.thread", "event_id": cls.parent}})
        cls.children = [cls.thread1, cls.reaction, cls.edit, cls.thread2]

    def relations(self, who, *path, **params):
        tail = "/".join(q(p) for p in path)
        qs = urllib.parse.urlencode(params)
        return self.server.get(f"{V1}/rooms/{q(self.room)}/relations/{tail}?{qs}", token=self.tok(who))

    def chunk(self, r):
        self.assertEqual(r.status, 200, r)
        return [e["event_id"] for e in r.json["chunk"]]

    def test_all_children(self):
        r = self.relations("alice", self.parent, limit=10)
        self.assertEqual(self.chunk(r), list(reversed(self.children)))
        self.assertNotIn("next_batch", r.json)
        self.assertNotIn("recursion_depth", r.json)
        self.assertEqual(self.chunk(self.relations("alice", self.parent, dir="f", limit=10)), self.children)
        self.assertEqual(self.relations("alice", self.parent, recurse="true").json["recursion_depth"], 1)

    def test_by_type(self):
        self.assertEqual(self.chunk(self.relations("alice", self.parent, "m.thread")), [self.thread2, self.thread1])
        self.assertEqual(self.chunk(self.relations("alice", self.parent, "m.annotation", "m.reaction")),
                         [self.reaction])
        self.assertEqual(self.chunk(self.relations("alice", self.parent, "m.annotation", "m.room.message")), [])
        self.assertEqual(self.chunk(self.relations("alice", self.parent, "m.reference")), [])

    def test_pagination(self):
        seen, token = [], None
        for _ in range(6):
            params = {"limit": 1, "dir": "f"}
            if token:
                params["from"] = token
            r = self.relations("alice", self.parent, **params)
            seen += self.chunk(r)
            token = r.json.get("next_batch")
            if token:
                self.assertIn("next_batch", r.json)
            else:
                break
        self.assertEqual(seen, self.children)
        first = self.relations("alice", self.parent, limit=2)
        self.assertEqual(self.chunk(first), [self.thread2, self.edit])
        second = self.relations("alice", self.parent, limit=2, **{"from": first.json["next_batch"]})
        self.assertEqual(self.chunk(second), [self.reaction, self.thread1])
        self.assertEqual(second.json["prev_batch"], first.json["next_batch"])
        # `to` stops at a token: back from the end, up to the first page's end.
        r = self.relations("alice", self.parent, dir="f", limit=10, to=first.json["next_batch"])
        self.assertEqual(self.chunk(r), [self.thread1, self.reaction])
        self.assertError(self.relations("alice", self.parent, **{"from": "nonsense"}), 400, "M_INVALID_PARAM")
        self.assertError(self.relations("alice", self.parent, dir="sideways"), 400, "M_INVALID_PARAM")
        self.assertError(self.relations("alice", self.parent, limit="x"), 400, "M_INVALID_PARAM")

    def test_unknown_and_invisible_parents(self):
        self.assertError(self.relations("alice", "$unknown"), 404, "M_NOT_FOUND")
        self.assertError(self.relations("mallory", self.parent), 404, "M_NOT_FOUND")
        other = self.create("mallory")
        r = self.server.get(f"{V1}/rooms/{q(other)}/relations/{q(self.parent)}", token=self.tok("mallory"))
        self.assertError(r, 404, "M_NOT_FOUND")  # the event is in another room

    def test_redacted_child_disappears(self):
        parent = self.send("alice", self.room, "short-lived parent")
        child = self.send("bob", self.room, etype="m.reaction", content={
            "m.relates_to": {"rel_type": "m.annotation", "event_id": parent, "key": "x"}})
        self.assertEqual(self.chunk(self.relations("alice", parent)), [child])
        self.redact("bob", self.room, child)
        self.assertEqual(self.chunk(self.relations("alice", parent)), [])

    def test_children_hidden_by_history_visibility(self):
        room = self.create("alice", preset="private_chat")
        self.put_state("alice", room, "m.room.history_visibility", {"history_visibility": "joined"})
        parent = self.send("alice", room, "before carol")
        early = self.send("alice", room, etype="m.reaction", content={
            "m.relates_to": {"rel_type": "m.annotation", "event_id": parent, "key": "a"}})
        self.invite("alice", room, "carol")
        self.join("carol", room)
        late = self.send("alice", room, etype="m.reaction", content={
            "m.relates_to": {"rel_type": "m.annotation", "event_id": parent, "key": "b"}})
        r = self.server.get(f"{V1}/rooms/{q(room)}/relations/{q(parent)}", token=self.tok("alice"))
        self.assertEqual(self.chunk(r), [late, early])
        # Carol cannot see the parent, so it is unknown to her.
        r = self.server.get(f"{V1}/rooms/{q(room)}/relations/{q(parent)}", token=self.tok("carol"))
        self.assertError(r, 404, "M_NOT_FOUND")
        visible_parent = self.send("alice", room, "after carol")
        self.send("alice", room, etype="m.reaction", content={
            "m.relates_to": {"rel_type": "m.annotation", "event_id": visible_parent, "key": "c"}})
        r = self.server.get(f"{V1}/rooms/{q(room)}/relations/{q(visible_parent)}", token=self.tok("carol"))
        self.assertEqual(len(self.chunk(r)), 1)

    def test_threads(self):
        room = self.create("alice", preset="public_chat")
        self.join("bob", room)
        root_a = self.send("alice", room, "thread A")
        root_b = self.send("bob", room, "thread B")

        def reply(who, root, body):
            return self.send(who, room, content={"msgtype": "m.text", "body": body,
                                                 "m.relates_to": {"rel_type": "m.thread", "event_id": root}})

        reply("alice", root_a, "a1")
        reply("alice", root_b, "b1")
        latest_a = reply("alice", root_a, "a2")  # thread A is now the most recent
        path = f"{V1}/rooms/{q(room)}/threads"
        r = self.server.get(path, token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [root_a, root_b])
        self.assertNotIn("next_batch", r.json)
        summary = r.json["chunk"][0]["unsigned"]["m.relations"]["m.thread"]
        self.assertEqual(summary["count"], 2)
        self.assertEqual(summary["latest_event"]["event_id"], latest_a)
        self.assertIs(summary["current_user_participated"], False)  # bob neither started nor replied
        self.assertIs(r.json["chunk"][1]["unsigned"]["m.relations"]["m.thread"]["current_user_participated"], True)
        r = self.server.get(path + "?include=participated", token=self.tok("bob"))
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [root_b])
        # One at a time.
        r = self.server.get(path + "?limit=1", token=self.tok("bob"))
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [root_a])
        r = self.server.get(path + "?limit=1&from=" + q(r.json["next_batch"]), token=self.tok("bob"))
        self.assertEqual([e["event_id"] for e in r.json["chunk"]], [root_b])
        self.assertNotIn("next_batch", r.json)
        self.assertError(self.server.get(path + "?from=garbage", token=self.tok("bob")), 400, "M_INVALID_PARAM")
        self.assertError(self.server.get(path + "?include=some", token=self.tok("bob")), 400, "M_INVALID_PARAM")
        self.assertError(self.server.get(path, token=self.tok("mallory")), 403, "M_FORBIDDEN")
        self.assertError(self.server.get(f"{V1}/rooms/{q('!nope:test.local')}/threads", token=self.tok("bob")),
                         403, "M_FORBIDDEN")


class TimestampToEvent(RoomClient, ServerTestCase):
    def lookup(self, who, room, **params):
        qs = urllib.parse.urlencode(params)
        return self.server.get(f"{V1}/rooms/{q(room)}/timestamp_to_event?{qs}", token=self.tok(who))

    def test_both_directions(self):
        room = self.create("alice")
        first = self.send("alice", room, "first")
        time.sleep(0.05)
        middle_ts = int(time.time() * 1000)
        time.sleep(0.05)
        second = self.send("alice", room, "second")
        r = self.lookup("alice", room, ts=middle_ts, dir="f")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["event_id"], second)
        self.assertGreaterEqual(r.json["origin_server_ts"], middle_ts)
        r = self.lookup("alice", room, ts=middle_ts, dir="b")
        self.assertEqual(r.json["event_id"], first)
        self.assertLessEqual(r.json["origin_server_ts"], middle_ts)
        self.assertError(self.lookup("alice", room, ts=middle_ts + 10**9, dir="f"), 404, "M_NOT_FOUND")
        self.assertError(self.lookup("alice", room, ts=1, dir="b"), 404, "M_NOT_FOUND")

    def test_bad_parameters_and_strangers(self):
        room = self.create("alice")
        self.assertError(self.lookup("alice", room, dir="f"), 400, "M_MISSING_PARAM")
        self.assertError(self.lookup("alice", room, ts=1), 400, "M_MISSING_PARAM")
        self.assertError(self.lookup("alice", room, ts="yesterday", dir="f"), 400, "M_INVALID_PARAM")
        self.assertError(self.lookup("alice", room, ts=1, dir="up"), 400, "M_INVALID_PARAM")
        self.assertError(self.lookup("mallory", room, ts=1, dir="f"), 403, "M_FORBIDDEN")
        self.assertError(self.lookup("alice", "!nope:test.local", ts=1, dir="f"), 404, "M_NOT_FOUND")

    def test_history_before_joining_is_skipped(self):
        room = self.create("alice", preset="public_chat")
        self.put_state("alice", room, "m.room.history_visibility", {"history_visibility": "joined"})
        time.sleep(0.01)
        since = int(time.time() * 1000)
        time.sleep(0.01)
        private = self.send("alice", room, "private past")
        self.join("bob", room)
        self.assertEqual(self.lookup("alice", room, ts=since, dir="f").json["event_id"], private)
        r = self.lookup("bob", room, ts=since, dir="f")
        self.assertEqual(r.status, 200, r)
        event = self.server.get(f"{V3}/rooms/{q(room)}/event/{q(r.json['event_id'])}", token=self.tok("alice"))
        self.assertEqual(event.status, 200, event)
        self.assertEqual((event.json["type"], event.json.get("state_key")), ("m.room.member", self.uid("bob")))
        # Backwards from before bob joined, he finds only what predates the switch to "joined".
        r = self.lookup("bob", room, ts=since, dir="b")
        self.assertEqual(r.status, 200, r)
        event = self.server.get(f"{V3}/rooms/{q(room)}/event/{q(r.json['event_id'])}", token=self.tok("alice"))
        self.assertEqual((event.json["type"], event.json["content"]), ("m.room.history_visibility",
                                                                        {"history_visibility": "shared"}))


class Hierarchy(RoomClient, ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        self = cls("test_full_tree")
        space = dict(preset="public_chat", creation_content={"type": "m.space"})
        cls.space = self.create("alice", name="Top space", **space)
        cls.public_a = self.create("alice", preset="public_chat", name="A")
        cls.private_b = self.create("alice", preset="private_chat", name="B")
        cls.sub = self.create("alice", name="Sub space", **space)
        cls.public_c = self.create("alice", preset="public_chat", name="C")
        cls.removed = self.create("alice", preset="public_chat", name="Removed")
        via = {"via": ["test.local"]}
        self.put_state("alice", cls.space, "m.space.child", {**via, "order": "1", "suggested": True}, cls.public_a)
        self.put_state("alice", cls.space, "m.space.child", {**via, "order": "2"}, cls.private_b)
        self.put_state("alice", cls.space, "m.space.child", {**via, "order": "3"}, cls.sub)
        self.put_state("alice", cls.space, "m.space.child", {"via": []}, cls.removed)
        self.put_state("alice", cls.sub, "m.space.child", via, cls.public_c)
        self.put_state("alice", cls.sub, "m.space.child", via, "!remote:elsewhere.example")

    def hierarchy(self, who, room=None, **params):
        qs = urllib.parse.urlencode(params)
        return self.server.get(f"{V1}/rooms/{q(room or self.space)}/hierarchy?{qs}", token=self.tok(who))

    def ids(self, r):
        self.assertEqual(r.status, 200, r)
        return [x["room_id"] for x in r.json["rooms"]]

    def test_full_tree(self):
        r = self.hierarchy("alice")
        self.assertEqual(self.ids(r), [self.space, self.public_a, self.private_b, self.sub, self.public_c])
        top = r.json["rooms"][0]
        self.assertEqual(top["room_type"], "m.space")
        self.assertEqual(top["name"], "Top space")
        self.assertEqual(top["num_joined_members"], 1)
        self.assertIs(top["world_readable"], False)
        self.assertEqual(top["join_rule"], "public")
        children = {c["state_key"]: c for c in top["children_state"]}
        self.assertEqual(set(children), {self.public_a, self.private_b, self.sub})  # not the removed child
        child = children[self.public_a]
        self.assertEqual(child["type"], "m.space.child")
        self.assertEqual(child["sender"], self.uid("alice"))
        self.assertIsInstance(child["origin_server_ts"], int)
        self.assertEqual(child["content"]["via"], ["test.local"])
        self.assertEqual(r.json["rooms"][1]["children_state"], [])  # not a space
        self.assertNotIn("next_batch", r.json)

    def test_inaccessible_rooms_are_left_out(self):
        self.assertEqual(self.ids(self.hierarchy("bob")), [self.space, self.public_a, self.sub, self.public_c])
        private_space = self.create("alice", preset="private_chat", creation_content={"type": "m.space"})
        self.assertError(self.hierarchy("bob", private_space), 403, "M_FORBIDDEN")
        self.assertError(self.hierarchy("bob", "!nope:test.local"), 403, "M_FORBIDDEN")
        self.invite("alice", private_space, "bob")
        self.assertEqual(self.ids(self.hierarchy("bob", private_space)), [private_space])

    def test_depth_and_suggested(self):
        self.assertEqual(self.ids(self.hierarchy("alice", max_depth=0)), [self.space])
        self.assertEqual(self.ids(self.hierarchy("alice", max_depth=1)),
                         [self.space, self.public_a, self.private_b, self.sub])
        self.assertEqual(self.ids(self.hierarchy("alice", suggested_only="true")), [self.space, self.public_a])
        self.assertError(self.hierarchy("alice", max_depth=-1), 400, "M_INVALID_PARAM")
        self.assertError(self.hierarchy("alice", limit=0), 400, "M_INVALID_PARAM")
        self.assertError(self.hierarchy("alice", suggested_only="yes"), 400, "M_INVALID_PARAM")

    def test_pagination(self):
        seen, token = [], None
        for _ in range(10):
            params = {"limit": 2}
            if token:
                params["from"] = token
            r = self.hierarchy("alice", **params)
            page = self.ids(r)
            self.assertLessEqual(len(page), 2)
            seen += page
            token = r.json.get("next_batch")
            if not token:
                break
        self.assertEqual(seen, [self.space, self.public_a, self.private_b, self.sub, self.public_c])
        first = self.hierarchy("alice", limit=2)
        self.assertError(self.hierarchy("alice", limit=2, max_depth=1, **{"from": first.json["next_batch"]}), 400,
                         "M_INVALID_PARAM")
        self.assertError(self.hierarchy("alice", **{"from": "h1"}), 400, "M_INVALID_PARAM")


class UserDirectory(RoomClient, ServerTestCase):
    def search(self, who, term, limit=None):
        body = {"search_term": term}
        if limit is not None:
            body["limit"] = limit
        r = self.server.post(f"{V3}/user_directory/search", body, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json

    def found(self, who, term, **kw):
        return [u["user_id"] for u in self.search(who, term, **kw)["results"]]

    def set_name(self, who, name):
        r = self.server.put(f"{V3}/profile/{q(self.uid(who))}/displayname", {"displayname": name},
                            token=self.tok(who))
        self.assertEqual(r.status, 200, r)

    def test_shared_and_public_rooms(self):
        private = self.create("seeker", preset="private_chat")
        self.invite("seeker", private, "friendzy")
        self.join("friendzy", private)
        self.user("strangerzy")
        public = self.create("publiczy", preset="public_chat")
        self.assertEqual(self.found("seeker", "friendzy"), [self.uid("friendzy")])
        self.assertEqual(self.found("seeker", "strangerzy"), [])   # shares nothing with seeker
        self.assertEqual(self.found("seeker", "publiczy"), [self.uid("publiczy")])  # in a public room
        self.assertEqual(self.found("strangerzy", "friendzy"), [])  # friendzy is only in a private room
        self.join("strangerzy", public)
        self.assertEqual(self.found("seeker", "strangerzy"), [self.uid("strangerzy")])
        self.leave("strangerzy", public)
        self.assertEqual(self.found("seeker", "strangerzy"), [])

    def test_display_names_case_and_wildcards(self):
        room = self.create("namer", preset="public_chat")
        self.join("dn_user", room)
        self.set_name("dn_user", "Zebediah Quill")
        result = self.search("namer", "zebediah")
        self.assertEqual(result["results"], [{"user_id": self.uid("dn_user"), "display_name": "Zebediah Quill"}])
        self.assertEqual(self.found("namer", "QUILL"), [self.uid("dn_user")])
        self.assertEqual(self.found("namer", "DN_US"), [self.uid("dn_user")])
        self.assertEqual(self.found("namer", "%"), [])
        self.assertEqual(self.found("namer", "d_"), [])   # '_' is a character, not a wildcard
        self.assertEqual(self.search("namer", "   ")["results"], [])

    def test_limit_and_order(self):
        room = self.create("lim_owner", preset="public_chat")
        for i in range(4):
            self.join(f"limtest{i}", room)
        self.join("xx_limtest", room)
        r = self.search("lim_owner", "limtest", limit=2)
        self.assertEqual(len(r["results"]), 2)
        self.assertIs(r["limited"], True)
        r = self.search("lim_owner", "limtest")
        self.assertIs(r["limited"], False)
        ids = [u["user_id"] for u in r["results"]]
        self.assertEqual(len(ids), 5)
        self.assertEqual(ids[-1], self.uid("xx_limtest"))  # prefix matches first
        r = self.server.post(f"{V3}/user_directory/search", {}, token=self.tok("lim_owner"))
        self.assertError(r, 400, "M_MISSING_PARAM")
        self.assertError(self.server.post(f"{V3}/user_directory/search", {"search_term": "x"}), 401, "M_MISSING_TOKEN")

    def test_deactivated_users_are_hidden(self):
        room = self.create("deact_owner", preset="public_chat")
        reg = self.server.register("goner_zz", "goner password")
        r = self.server.post(f"{V3}/join/{q(room)}", {}, token=reg["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.found("deact_owner", "goner_zz"), [reg["user_id"]])
        r = self.server.post(f"{V3}/account/deactivate", {}, token=reg["access_token"])
        auth = {"type": "m.login.password", "session": r.json["session"], "password": "goner password",
                "identifier": {"type": "m.id.user", "user": reg["user_id"]}}
        r = self.server.post(f"{V3}/account/deactivate", {"auth": auth}, token=reg["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.found("deact_owner", "goner_zz"), [])


class SearchSplit(Search):
    """Search again with rooms spread over 2 persisters and requests over 3 client readers."""
    placement = SPLIT


if __name__ == "__main__":
    main()
