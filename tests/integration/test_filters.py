"""Stored filters (POST/GET /user/{userId}/filter): ids count up per user, a filter comes back as
stored, only its owner can use it, malformed filters are 400 M_BAD_JSON, and ids survive a
restart (they are what /sync's `filter` parameter names)."""
import urllib.parse

from harness import ServerTestCase, main

V3 = "/_matrix/client/v3"


def q(s):
    return urllib.parse.quote(s, safe="")


class Filters(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        a = cls.server.register("alice")
        b = cls.server.register("bob")
        cls.alice, cls.alice_id = a["access_token"], a["user_id"]
        cls.bob, cls.bob_id = b["access_token"], b["user_id"]

    def create(self, body, token=None, user=None):
        return self.server.post(f"{V3}/user/{q(user or self.alice_id)}/filter", body, token=token or self.alice)

    def test_round_trip_and_ids(self):
        f = {"room": {"timeline": {"limit": 10, "types": ["m.room.message"]}, "include_leave": True,
                      "state": {"lazy_load_members": True}},
             "presence": {"not_types": ["*"]}, "event_format": "client", "event_fields": ["content.body"]}
        r1 = self.create(f)
        self.assertEqual(r1.status, 200, r1)
        self.assertIsInstance(r1.json["filter_id"], str)
        r2 = self.create({})
        self.assertNotEqual(r1.json["filter_id"], r2.json["filter_id"])
        got = self.server.get(f"{V3}/user/{q(self.alice_id)}/filter/{r1.json['filter_id']}", token=self.alice)
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json, f)
        # bob's ids are his own: his first filter does not collide with alice's.
        rb = self.create({"room": {"rooms": ["!x:y"]}}, token=self.bob, user=self.bob_id)
        self.assertEqual(rb.status, 200, rb)
        got = self.server.get(f"{V3}/user/{q(self.bob_id)}/filter/{rb.json['filter_id']}", token=self.bob)
        self.assertEqual(got.json, {"room": {"rooms": ["!x:y"]}})

    def test_owner_only_and_unknown(self):
        r = self.create({})
        fid = r.json["filter_id"]
        self.assertError(self.server.get(f"{V3}/user/{q(self.alice_id)}/filter/{fid}", token=self.bob),
                         403, "M_FORBIDDEN")
        self.assertError(self.create({}, token=self.bob), 403, "M_FORBIDDEN")
        for bad in ("999999", "abc", "-1", "1e3"):
            self.assertError(self.server.get(f"{V3}/user/{q(self.alice_id)}/filter/{bad}", token=self.alice),
                             404, "M_NOT_FOUND")
        self.assertEqual(self.server.post(f"{V3}/user/{q(self.alice_id)}/filter", {}).status, 401)

    def test_malformed_filters(self):
        for bad in ({"event_format": "xml"}, {"room": []}, {"room": {"timeline": {"types": "m.room.message"}}},
                    {"room": {"timeline": {"limit": -5}}}, {"event_fields": [1]}, {"presence": {"senders": [None]}},
                    {"room": {"include_leave": "yes"}}):
            self.assertError(self.create(bad), 400, "M_BAD_JSON")
        r = self.server.post(f"{V3}/user/{q(self.alice_id)}/filter", raw=b"{nope", token=self.alice,
                             headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "M_NOT_JSON")

    def test_filters_survive_a_restart(self):
        fid = self.create({"room": {"timeline": {"limit": 3}}}).json["filter_id"]
        self.assertEqual(self.server.stop(), 0)
        self.server.start()
        got = self.server.get(f"{V3}/user/{q(self.alice_id)}/filter/{fid}", token=self.alice)
        self.assertEqual(got.json, {"room": {"timeline": {"limit": 3}}})


if __name__ == "__main__":
    main()
