"""The room directory over HTTP: aliases (create, resolve, list, delete and who may), a room's
published visibility, and /publicRooms with its order, pagination and search filter. Each class
has its own server, so listings can be checked exactly; the alias and visibility tests run again on
the split placement. Runs on SQLite and PostgreSQL."""
import os
import uuid

from harness import ServerTestCase, main
from room_helpers import V3, RoomClient, q

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


def alias(name=None):
    return "#" + (name or "a" + uuid.uuid4().hex[:10]) + ":test.local"


class Aliases(RoomClient, ServerTestCase):
    def put_alias(self, who, a, room):
        return self.server.put(f"{V3}/directory/room/{q(a)}", {"room_id": room}, token=self.tok(who))

    def test_create_resolve_list_delete(self):
        room = self.create("alice", preset="public_chat")
        a = alias()
        r = self.put_alias("alice", a, room)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {})
        # Resolving needs no token.
        r = self.server.get(f"{V3}/directory/room/{q(a)}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"room_id": room, "servers": ["test.local"]})
        self.assertEqual(self.server.get(f"/_matrix/client/r0/directory/room/{q(a)}").json["room_id"], room)
        # Joining through the alias works, too.
        self.join("bob", a)
        r = self.server.get(f"{V3}/rooms/{q(room)}/aliases", token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"aliases": [a]})
        self.assertEqual(self.put_alias("alice", a, room).status, 409)
        r = self.server.delete(f"{V3}/directory/room/{q(a)}", token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertError(self.server.get(f"{V3}/directory/room/{q(a)}"), 404, "M_NOT_FOUND")
        self.assertError(self.server.delete(f"{V3}/directory/room/{q(a)}", token=self.tok("alice")), 404,
                         "M_NOT_FOUND")
        self.assertEqual(self.server.get(f"{V3}/rooms/{q(room)}/aliases", token=self.tok("alice")).json,
                         {"aliases": []})

    def test_invalid_remote_and_unknown(self):
        room = self.create("alice")
        self.assertError(self.put_alias("alice", "#nocolon", room), 400, "M_INVALID_PARAM")
        self.assertError(self.put_alias("alice", "notanalias:test.local", room), 400, "M_INVALID_PARAM")
        self.assertError(self.put_alias("alice", "#x:elsewhere.example", room), 400, "M_INVALID_PARAM")
        self.assertError(self.put_alias("alice", alias(), "not-a-room"), 400, "M_INVALID_PARAM")
        self.assertError(self.put_alias("alice", alias(), "!unknown:test.local"), 404, "M_NOT_FOUND")
        r = self.server.put(f"{V3}/directory/room/{q(alias())}", {}, token=self.tok("alice"))
        self.assertError(r, 400, "M_MISSING_PARAM")
        self.assertError(self.server.get(f"{V3}/directory/room/{q(alias())}"), 404, "M_NOT_FOUND")
        # Another server's alias is asked of that server; one that cannot be reached is a 502.
        self.assertError(self.server.get(f"{V3}/directory/room/{q('#x:elsewhere.invalid')}"), 502, "M_UNKNOWN")
        self.assertError(self.server.get(f"{V3}/directory/room/{q('nosigil')}"), 400, "M_INVALID_PARAM")
        self.assertError(self.server.put(f"{V3}/directory/room/{q(alias())}", {"room_id": room}), 401,
                         "M_MISSING_TOKEN")

    def test_creating_needs_membership(self):
        room = self.create("alice")
        a = alias()
        self.assertError(self.put_alias("mallory", a, room), 403, "M_FORBIDDEN")
        self.assertError(self.server.get(f"{V3}/directory/room/{q(a)}"), 404, "M_NOT_FOUND")
        self.invite("alice", room, "mallory")
        self.assertError(self.put_alias("mallory", a, room), 403, "M_FORBIDDEN")  # invited is not joined
        self.join("mallory", room)
        self.assertEqual(self.put_alias("mallory", a, room).status, 200)

    def test_who_may_delete(self):
        room = self.create("alice", preset="public_chat")
        self.join("bob", room)
        by_bob, by_alice = alias(), alias()
        self.assertEqual(self.put_alias("bob", by_bob, room).status, 200)
        self.assertEqual(self.put_alias("alice", by_alice, room).status, 200)
        # Not the creator, not in the room.
        self.assertError(self.server.delete(f"{V3}/directory/room/{q(by_bob)}", token=self.tok("carol")), 403,
                         "M_FORBIDDEN")
        # In the room but without the power to send m.room.canonical_alias (50 by default).
        self.join("carol", room)
        self.assertError(self.server.delete(f"{V3}/directory/room/{q(by_bob)}", token=self.tok("carol")), 403,
                         "M_FORBIDDEN")
        self.assertError(self.server.delete(f"{V3}/directory/room/{q(by_alice)}", token=self.tok("bob")), 403,
                         "M_FORBIDDEN")
        self.assertEqual(self.server.get(f"{V3}/directory/room/{q(by_alice)}").status, 200)
        # The creator of an alias may delete it; so may a room moderator.
        self.assertEqual(self.server.delete(f"{V3}/directory/room/{q(by_bob)}", token=self.tok("bob")).status, 200)
        again = alias()
        self.assertEqual(self.put_alias("bob", again, room).status, 200)
        self.assertEqual(self.server.delete(f"{V3}/directory/room/{q(again)}", token=self.tok("alice")).status, 200)
        self.assertError(self.server.get(f"{V3}/directory/room/{q(again)}"), 404, "M_NOT_FOUND")

    def test_delete_updates_canonical_alias(self):
        name = "canon" + uuid.uuid4().hex[:8]
        room = self.create("alice", room_alias_name=name)
        main_alias = f"#{name}:test.local"
        alt = alias()
        self.assertEqual(self.put_alias("alice", alt, room).status, 200)
        self.put_state("alice", room, "m.room.canonical_alias", {"alias": main_alias, "alt_aliases": [alt]})
        self.assertEqual(self.server.delete(f"{V3}/directory/room/{q(alt)}", token=self.tok("alice")).status, 200)
        content = self.get_state("alice", room, "m.room.canonical_alias").json
        self.assertEqual(content, {"alias": main_alias})
        self.assertEqual(self.server.delete(f"{V3}/directory/room/{q(main_alias)}", token=self.tok("alice")).status,
                         200)
        self.assertEqual(self.get_state("alice", room, "m.room.canonical_alias").json, {})

    def test_room_alias_list_needs_membership_or_world_readable(self):
        room = self.create("alice")
        a = alias()
        self.assertEqual(self.put_alias("alice", a, room).status, 200)
        path = f"{V3}/rooms/{q(room)}/aliases"
        self.assertError(self.server.get(path, token=self.tok("dave")), 403, "M_FORBIDDEN")
        self.assertError(self.server.get(f"{V3}/rooms/{q('!nope:test.local')}/aliases", token=self.tok("dave")),
                         403, "M_FORBIDDEN")
        self.assertError(self.server.get(f"{V3}/rooms/{q('nope')}/aliases", token=self.tok("dave")), 400,
                         "M_INVALID_PARAM")
        self.assertError(self.server.get(path), 401, "M_MISSING_TOKEN")
        self.put_state("alice", room, "m.room.history_visibility", {"history_visibility": "world_readable"})
        r = self.server.get(path, token=self.tok("dave"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["aliases"], [a])


class DirectoryVisibility(RoomClient, ServerTestCase):
    def path(self, room):
        return f"{V3}/directory/list/room/{q(room)}"

    def test_get_and_set(self):
        private = self.create("alice")
        public = self.create("alice", visibility="public", preset="public_chat")
        self.assertEqual(self.server.get(self.path(private)).json, {"visibility": "private"})
        self.assertEqual(self.server.get(self.path(public)).json, {"visibility": "public"})
        self.assertError(self.server.get(self.path("!unknown:test.local")), 404, "M_NOT_FOUND")
        self.assertError(self.server.get(self.path("bad")), 400, "M_INVALID_PARAM")

        r = self.server.put(self.path(private), {"visibility": "public"}, token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.get(self.path(private)).json, {"visibility": "public"})
        r = self.server.put(self.path(private), {"visibility": "private"}, token=self.tok("alice"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.get(self.path(private)).json, {"visibility": "private"})
        self.assertError(self.server.put(self.path(private), {"visibility": "secret"}, token=self.tok("alice")),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.put(self.path("!unknown:test.local"), {"visibility": "public"},
                                         token=self.tok("alice")), 404, "M_NOT_FOUND")
        self.assertError(self.server.put(self.path(private), {"visibility": "public"}), 401, "M_MISSING_TOKEN")

    def test_only_moderators_publish(self):
        room = self.create("alice", preset="public_chat")
        self.assertError(self.server.put(self.path(room), {"visibility": "public"}, token=self.tok("bob")), 403,
                         "M_FORBIDDEN")  # not in the room
        self.join("bob", room)
        self.assertError(self.server.put(self.path(room), {"visibility": "public"}, token=self.tok("bob")), 403,
                         "M_FORBIDDEN")  # in the room, power level 0
        self.assertEqual(self.server.get(self.path(room)).json, {"visibility": "private"})
        self.put_state("alice", room, "m.room.power_levels",
                       {"users": {self.uid("alice"): 100, self.uid("bob"): 50}, "state_default": 50,
                        "events": {"m.room.canonical_alias": 50}})
        self.assertEqual(self.server.put(self.path(room), {"visibility": "public"}, token=self.tok("bob")).status,
                         200)
        self.assertEqual(self.server.get(self.path(room)).json, {"visibility": "public"})


class PublicRooms(RoomClient, ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        self = cls("test_needs_auth")  # an instance, for the helpers
        # Joined members: gamma 4, beta 3, alpha 2, delta 1 (a space), epsilon 1.
        cls.rooms = {}
        specs = [("alpha", 2, {"topic": "Apples and pears"}), ("beta", 3, {"topic": "Bananas"}),
                 ("gamma", 4, {"room_alias_name": "gamma-" + uuid.uuid4().hex[:6]}),
                 ("delta", 1, {"creation_content": {"type": "m.space"}}), ("epsilon", 1, {})]
        members = ["m1", "m2", "m3"]
        for name, count, extra in specs:
            room = self.create("owner", visibility="public", preset="public_chat", name=f"Room {name.title()}",
                               **extra)
            for m in members[:count - 1]:
                self.join(m, room)
            cls.rooms[name] = room
        # Not listed: private rooms, and a published room nobody can join or read.
        self.create("owner", name="Room Private")
        hidden = self.create("owner", visibility="public", preset="private_chat", name="Room Hidden")
        cls.rooms["hidden"] = hidden

    def listing(self, method="GET", body=None, **params):
        if method == "GET":
            qs = "&".join(f"{k}={q(str(v))}" for k, v in params.items())
            return self.server.get(f"{V3}/publicRooms?{qs}", token=self.tok("viewer"))
        return self.server.post(f"{V3}/publicRooms", body or {}, token=self.tok("viewer"))

    def test_needs_auth(self):
        self.assertError(self.server.get(f"{V3}/publicRooms"), 401, "M_MISSING_TOKEN")
        self.assertError(self.server.post(f"{V3}/publicRooms", {}), 401, "M_MISSING_TOKEN")

    def test_order_and_fields(self):
        r = self.listing()
        self.assertEqual(r.status, 200, r)
        ids = [c["room_id"] for c in r.json["chunk"]]
        self.assertEqual(ids[:3], [self.rooms["gamma"], self.rooms["beta"], self.rooms["alpha"]])
        self.assertEqual(sorted(ids[3:]), sorted([self.rooms["delta"], self.rooms["epsilon"]]))
        self.assertEqual(r.json["total_room_count_estimate"], 5)
        self.assertNotIn("next_batch", r.json)
        self.assertNotIn("prev_batch", r.json)
        by_id = {c["room_id"]: c for c in r.json["chunk"]}
        alpha = by_id[self.rooms["alpha"]]
        self.assertEqual(alpha["name"], "Room Alpha")
        self.assertEqual(alpha["topic"], "Apples and pears")
        self.assertEqual(alpha["num_joined_members"], 2)
        self.assertIs(alpha["world_readable"], False)
        self.assertIs(alpha["guest_can_join"], False)
        self.assertEqual(alpha["join_rule"], "public")
        self.assertNotIn("room_type", alpha)
        self.assertTrue(by_id[self.rooms["gamma"]]["canonical_alias"].startswith("#gamma-"))
        self.assertEqual(by_id[self.rooms["delta"]]["room_type"], "m.space")
        self.assertNotIn(self.rooms["hidden"], by_id)

    def test_pagination_both_ways(self):
        seen = []
        r = self.listing(limit=2)
        self.assertEqual(len(r.json["chunk"]), 2)
        self.assertNotIn("prev_batch", r.json)
        pages = [r.json]
        while "next_batch" in pages[-1]:
            r = self.listing(limit=2, since=pages[-1]["next_batch"])
            self.assertEqual(r.status, 200, r)
            self.assertIn("prev_batch", r.json)
            pages.append(r.json)
        for p in pages:
            seen += [c["room_id"] for c in p["chunk"]]
        self.assertEqual(len(pages), 3)
        self.assertEqual(seen, [c["room_id"] for c in self.listing().json["chunk"]])
        # Back from the last page gives the middle page again.
        r = self.listing(limit=2, since=pages[-1]["prev_batch"])
        self.assertEqual([c["room_id"] for c in r.json["chunk"]], [c["room_id"] for c in pages[1]["chunk"]])
        # POST paginates the same way.
        r = self.listing("POST", {"limit": 2, "since": pages[0]["next_batch"]})
        self.assertEqual([c["room_id"] for c in r.json["chunk"]], [c["room_id"] for c in pages[1]["chunk"]])
        for bad in ("garbage", "f12", "x3_!a:b", "fabc_!a:test.local"):
            self.assertError(self.listing(limit=2, since=bad), 400, "M_INVALID_PARAM")
        self.assertError(self.listing(limit="many"), 400, "M_INVALID_PARAM")

    def test_search_term_and_room_types(self):
        def search(term, **extra):
            r = self.listing("POST", {"filter": {"generic_search_term": term, **extra}})
            self.assertEqual(r.status, 200, r)
            return [c["room_id"] for c in r.json["chunk"]]

        self.assertEqual(search("ALPHA"), [self.rooms["alpha"]])          # name, any case
        self.assertEqual(search("banana"), [self.rooms["beta"]])          # topic
        self.assertEqual(search("#gamma-"), [self.rooms["gamma"]])        # canonical alias
        self.assertEqual(search("no such room"), [])
        self.assertEqual(len(search("room ")), 5)
        self.assertEqual(search("%"), [])                                 # no wildcards
        self.assertEqual(search("", room_types=["m.space"]), [self.rooms["delta"]])
        self.assertEqual(len(search("", room_types=[None])), 4)
        r = self.listing("POST", {"filter": {"room_types": "m.space"}})
        self.assertError(r, 400, "M_BAD_JSON")

    def test_unpublishing_removes_a_room(self):
        room = self.create("owner", visibility="public", preset="public_chat", name="Room Fleeting")
        self.assertIn(room, [c["room_id"] for c in self.listing().json["chunk"]])
        r = self.server.put(f"{V3}/directory/list/room/{q(room)}", {"visibility": "private"}, token=self.tok("owner"))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(room, [c["room_id"] for c in self.listing().json["chunk"]])


class AliasesSplit(Aliases):
    """The alias tests again with 3 client readers and 2 event persisters: each write goes to the
    persister of its room, and every read right after it already sees it."""
    placement = SPLIT


class DirectoryVisibilitySplit(DirectoryVisibility):
    placement = SPLIT


if __name__ == "__main__":
    main()
