"""Account data and room tags over HTTP: global and per-room entries round-trip, tags (with float
ordering) are added and removed and show up as the room's m.tag account data, only the owner can
touch them, server-managed types are refused, and everything survives a restart."""
import urllib.parse

from harness import ServerTestCase, main

V3 = "/_matrix/client/v3"
ROOM = "!someroom:test.local"


def q(s):
    return urllib.parse.quote(s, safe="")


class AccountData(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        a = cls.server.register("alice")
        b = cls.server.register("bob")
        cls.alice, cls.uid = a["access_token"], a["user_id"]
        cls.bob = b["access_token"]

    def path(self, *parts, user=None):
        return f"{V3}/user/{q(user or self.uid)}/" + "/".join(q(p) for p in parts)

    def test_global_and_room_round_trip(self):
        body = {"theme": "dark", "ratio": 0.25, "nested": {"list": [1, "two", None]}}
        r = self.server.put(self.path("account_data", "org.example.settings"), body, token=self.alice)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.get(self.path("account_data", "org.example.settings"), token=self.alice).json, body)
        r = self.server.put(self.path("rooms", ROOM, "account_data", "org.example.room"), {"n": 1}, token=self.alice)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.get(self.path("rooms", ROOM, "account_data", "org.example.room"),
                                         token=self.alice).json, {"n": 1})
        # Global and room entries of the same type are separate.
        self.assertError(self.server.get(self.path("account_data", "org.example.room"), token=self.alice),
                         404, "M_NOT_FOUND")
        # Overwrite replaces.
        self.server.put(self.path("account_data", "org.example.settings"), {"theme": "light"}, token=self.alice)
        self.assertEqual(self.server.get(self.path("account_data", "org.example.settings"), token=self.alice).json,
                         {"theme": "light"})

    def test_tags(self):
        room = "!tagged:test.local"
        self.assertEqual(self.server.get(self.path("rooms", room, "tags"), token=self.alice).json, {"tags": {}})
        self.assertEqual(self.server.put(self.path("rooms", room, "tags", "u.work"), {"order": 0.5},
                                         token=self.alice).status, 200)
        self.assertEqual(self.server.put(self.path("rooms", room, "tags", "m.favourite"), {},
                                         token=self.alice).status, 200)
        tags = self.server.get(self.path("rooms", room, "tags"), token=self.alice).json["tags"]
        self.assertEqual(tags, {"u.work": {"order": 0.5}, "m.favourite": {}})
        # Tags are the room's m.tag account data.
        self.assertEqual(self.server.get(self.path("rooms", room, "account_data", "m.tag"), token=self.alice).json,
                         {"tags": tags})
        self.assertEqual(self.server.delete(self.path("rooms", room, "tags", "u.work"), token=self.alice).status, 200)
        self.assertEqual(self.server.delete(self.path("rooms", room, "tags", "u.never"), token=self.alice).status, 200)
        self.assertEqual(self.server.get(self.path("rooms", room, "tags"), token=self.alice).json,
                         {"tags": {"m.favourite": {}}})
        self.assertError(self.server.put(self.path("rooms", room, "tags", "u.bad"), {"order": "first"},
                                         token=self.alice), 400, "M_BAD_JSON")

    def test_only_the_owner_and_no_server_managed_types(self):
        self.server.put(self.path("account_data", "org.example.private"), {"secret": 1}, token=self.alice)
        self.assertError(self.server.get(self.path("account_data", "org.example.private"), token=self.bob),
                         403, "M_FORBIDDEN")
        self.assertError(self.server.put(self.path("account_data", "org.example.private"), {}, token=self.bob),
                         403, "M_FORBIDDEN")
        self.assertError(self.server.get(self.path("rooms", ROOM, "tags"), token=self.bob), 403, "M_FORBIDDEN")
        self.assertError(self.server.put(self.path("rooms", ROOM, "account_data", "m.fully_read"),
                                         {"event_id": "$x"}, token=self.alice), 405, "M_BAD_JSON")
        self.assertError(self.server.put(self.path("account_data", "m.push_rules"), {}, token=self.alice),
                         405, "M_BAD_JSON")
        self.assertError(self.server.put(self.path("rooms", "not-a-room", "account_data", "x"), {}, token=self.alice),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.put(self.path("account_data", "x"), [1], token=self.alice), 400, "M_BAD_JSON")
        self.assertEqual(self.server.get(self.path("account_data", "x")).status, 401)

    def test_survives_restart(self):
        self.server.put(self.path("account_data", "org.example.keep"), {"kept": True}, token=self.alice)
        self.assertEqual(self.server.stop(), 0)
        self.server.start()
        self.assertEqual(self.server.get(self.path("account_data", "org.example.keep"), token=self.alice).json,
                         {"kept": True})


if __name__ == "__main__":
    main()
