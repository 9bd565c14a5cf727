"""The Synapse-compatible admin API over HTTP: every endpoint refuses requests without a token (401)
and from non-admins (403 M_FORBIDDEN); users are listed, queried, created, modified, deactivated,
given new passwords and puppeted; rooms are listed, ordered, searched and inspected; shared-secret
registration checks its nonce and HMAC; and Debian's `synadm` CLI drives the server (skipped when
it is not installed)."""
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from harness import ServerTestCase, main
from room_helpers import RoomClient

ADMIN = "/_synapse/admin"
V3 = "/_matrix/client/v3"
SECRET = "admin api test secret"


def q(s):
    return urllib.parse.quote(s, safe="")


class AdminCase(RoomClient, ServerTestCase):
    extra_config = RoomClient.extra_config + f"registration_shared_secret: '{SECRET}'\nallow_guest_access: true\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        a = cls.server.register("root")
        cls.admin, cls.admin_id = a["access_token"], a["user_id"]
        cls.server.sql_write(f"UPDATE users SET is_admin = 1 WHERE user_id = '{cls.admin_id}'")

    def get(self, path, token=None):
        return self.server.get(ADMIN + path, token=token or self.admin)

    def ok(self, r, status=200):
        self.assertEqual(r.status, status, r)
        return r.json

    def whoami(self, token):
        return self.server.get(f"{V3}/account/whoami", token=token)


class AccessControl(AdminCase):
    ENDPOINTS = [
        ("GET", "/v1/server_version", None),
        ("GET", "/v2/users", None),
        ("GET", "/v2/users/@root:test.local", None),
        ("PUT", "/v2/users/@newbie:test.local", {"password": "secret pw 1"}),
        ("POST", "/v1/deactivate/@root:test.local", {}),
        ("POST", "/v1/reset_password/@root:test.local", {"new_password": "another pw"}),
        ("GET", "/v1/whois/@root:test.local", None),
        ("POST", "/v1/users/@root:test.local/login", {}),
        ("GET", "/v1/users/@root:test.local/joined_rooms", None),
        ("GET", "/v1/users/@root:test.local/admin", None),
        ("PUT", "/v1/users/@mallory:test.local/admin", {"admin": True}),
        ("GET", "/v1/rooms", None),
        ("GET", "/v1/rooms/!nowhere:test.local", None),
        ("GET", "/v1/rooms/!nowhere:test.local/members", None),
        ("GET", "/v1/rooms/!nowhere:test.local/state", None),
        ("GET", "/v2/users/@root:test.local/devices", None),
        ("GET", "/v2/users/@root:test.local/devices/X", None),
        ("PUT", "/v2/users/@root:test.local/devices/X", {"display_name": "x"}),
        ("DELETE", "/v2/users/@root:test.local/devices/X", None),
        ("POST", "/v2/users/@root:test.local/delete_devices", {"devices": ["X"]}),
        ("GET", "/_matrix/client/v3/admin/whois/@root:test.local", None),
        ("GET", "/v1/event_reports", None),
        ("GET", "/v1/event_reports/1", None),
        ("DELETE", "/v1/event_reports/1", None),
    ]

    def test_token_required_and_admins_only(self):
        for method, path, body in self.ENDPOINTS:
            with self.subTest(method=method, path=path):
                full = path if path.startswith("/_matrix") else ADMIN + path
                r = self.server.request(method, full, body=body)
                self.assertError(r, 401, "M_MISSING_TOKEN")
                r = self.server.request(method, full, body=body, token=self.tok("mallory"))
                self.assertError(r, 403, "M_FORBIDDEN")
        # Nothing the refused requests asked for happened.
        self.assertEqual(self.server.sql("SELECT user_id FROM users WHERE user_id = '@newbie:test.local'"), [])
        self.assertEqual(self.whoami(self.admin).status, 200)

    def test_server_version(self):
        v = self.ok(self.get("/v1/server_version"))
        self.assertIsInstance(v["server_version"], str)
        self.assertTrue(v["server_version"])


class Users(AdminCase):
    def test_list_filters_and_pages(self):
        for name in ("lister_a", "lister_b", "lister_c"):
            self.user(name)
        self.server.post(f"{V3}/register?kind=guest", {})
        everyone = self.ok(self.get("/v2/users?limit=1000"))
        names = [u["name"] for u in everyone["users"]]
        self.assertEqual(everyone["total"], len(names))
        self.assertNotIn("next_token", everyone)
        self.assertEqual(names, sorted(names))
        self.assertTrue(any(u["is_guest"] for u in everyone["users"]))
        no_guests = self.ok(self.get("/v2/users?guests=false&limit=1000"))
        self.assertFalse(any(u["is_guest"] for u in no_guests["users"]))
        root = next(u for u in everyone["users"] if u["name"] == self.admin_id)
        self.assertIs(root["admin"], True)
        self.assertIs(root["deactivated"], False)
        self.assertEqual(root["displayname"], "root")
        self.assertIsInstance(root["creation_ts"], int)

        found = self.ok(self.get("/v2/users?name=LISTER_&limit=2"))
        self.assertEqual(found["total"], 3)
        self.assertEqual([u["name"] for u in found["users"]], ["@lister_a:test.local", "@lister_b:test.local"])
        self.assertEqual(found["next_token"], "2")
        rest = self.ok(self.get("/v2/users?name=lister_&limit=2&from=2"))
        self.assertEqual([u["name"] for u in rest["users"]], ["@lister_c:test.local"])
        self.assertNotIn("next_token", rest)
        back = self.ok(self.get("/v2/users?user_id=lister_&dir=b"))
        self.assertEqual(back["users"][0]["name"], "@lister_c:test.local")
        # LIKE wildcards in the filter are literal.
        self.assertEqual(self.ok(self.get("/v2/users?name=%25"))["total"], 0)
        admins = self.ok(self.get("/v2/users?admins=true"))["users"]
        self.assertIn(self.admin_id, [u["name"] for u in admins])
        self.assertTrue(all(u["admin"] for u in admins))
        self.assertNotIn("@lister_a:test.local", [u["name"] for u in admins])

        for bad in ("from=-1", "from=x", "limit=1.5", "limit=100000", "guests=maybe", "dir=sideways",
                    "order_by=shoe_size", "deactivated=1"):
            with self.subTest(query=bad):
                self.assertError(self.get("/v2/users?" + bad), 400, "M_INVALID_PARAM")

    def test_details(self):
        uid = self.uid("detailed")
        d = self.ok(self.get(f"/v2/users/{q(uid)}"))
        self.assertEqual(d["name"], uid)
        self.assertEqual(d["displayname"], "detailed")
        self.assertEqual(d["threepids"], [])
        self.assertIs(d["admin"], False)
        self.assertIs(d["is_guest"], False)
        self.assertError(self.get(f"/v2/users/{q('@ghost:test.local')}"), 404, "M_NOT_FOUND")
        self.assertError(self.get(f"/v2/users/{q('@remote:elsewhere.example')}"), 400, "M_INVALID_PARAM")
        self.assertError(self.get("/v2/users/not-a-user-id"), 400, "M_INVALID_PARAM")

    def test_create_and_modify(self):
        path = ADMIN + "/v2/users/" + q("@created:test.local")
        r = self.server.put(path, {"password": "first password", "displayname": "Created One", "admin": False},
                            token=self.admin)
        d = self.ok(r, 201)
        self.assertEqual(d["displayname"], "Created One")
        self.assertEqual(self.server.login("created", "first password").status, 200)
        session = self.server.login("created", "first password").json["access_token"]

        # Modify: display name, admin flag, then the password (which logs the user out).
        d = self.ok(self.server.put(path, {"displayname": "Renamed", "admin": True}, token=self.admin))
        self.assertEqual(d["displayname"], "Renamed")
        self.assertIs(d["admin"], True)
        self.assertEqual(self.server.get(f"{V3}/profile/{q('@created:test.local')}/displayname").json,
                         {"displayname": "Renamed"})
        self.ok(self.server.get(ADMIN + "/v2/users", token=session))  # now an admin
        self.ok(self.server.put(path, {"password": "second password"}, token=self.admin))
        self.assertEqual(self.whoami(session).status, 401)
        self.assertError(self.server.login("created", "first password"), 403, "M_FORBIDDEN")
        self.assertEqual(self.server.login("created", "second password").status, 200)

        # Deactivate through PUT, reactivate (which needs a password).
        d = self.ok(self.server.put(path, {"deactivated": True}, token=self.admin))
        self.assertIs(d["deactivated"], True)
        self.assertNotEqual(self.server.login("created", "second password").status, 200)
        self.assertError(self.server.put(path, {"deactivated": False}, token=self.admin), 400, "M_MISSING_PARAM")
        d = self.ok(self.server.put(path, {"deactivated": False, "password": "third password"}, token=self.admin))
        self.assertIs(d["deactivated"], False)
        self.assertEqual(self.server.login("created", "third password").status, 200)

        for body, code in (({"admin": "yes"}, "M_INVALID_PARAM"), ({"displayname": 5}, "M_INVALID_PARAM"),
                           ({"password": ""}, "M_INVALID_PARAM"), ({"password": "x" * 600}, "M_INVALID_PARAM"),
                           ({"avatar_url": "http://x/y"}, "M_INVALID_PARAM")):
            with self.subTest(body=body):
                self.assertError(self.server.put(path, body, token=self.admin), 400, code)
        self.assertError(self.server.put(path, [1], token=self.admin), 400, "M_BAD_JSON")
        self.assertError(self.server.request("PUT", path, raw=b"{nope", token=self.admin), 400, "M_NOT_JSON")
        self.assertError(self.server.put(ADMIN + "/v2/users/" + q("@Bad:test.local"), {}, token=self.admin),
                         400, "M_INVALID_USERNAME")
        self.assertError(self.server.put(ADMIN + "/v2/users/" + q("@x:elsewhere.example"), {}, token=self.admin),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.put(ADMIN + "/v2/users/" + q(self.admin_id), {"admin": False},
                                         token=self.admin), 400, "M_INVALID_PARAM")

    def test_admin_flag(self):
        uid = self.uid("promoted")
        path = f"{ADMIN}/v1/users/{q(uid)}/admin"
        self.assertEqual(self.ok(self.server.get(path, token=self.admin)), {"admin": False})
        self.assertEqual(self.ok(self.server.put(path, {"admin": True}, token=self.admin)), {})
        self.assertEqual(self.ok(self.server.get(path, token=self.admin)), {"admin": True})
        self.ok(self.server.get(ADMIN + "/v2/users", token=self.tok("promoted")))
        self.ok(self.server.put(path, {"admin": False}, token=self.admin))
        self.assertError(self.server.get(ADMIN + "/v2/users", token=self.tok("promoted")), 403, "M_FORBIDDEN")
        self.assertError(self.server.put(path, {}, token=self.admin), 400, "M_MISSING_PARAM")
        self.assertError(self.server.put(path, {"admin": 1}, token=self.admin), 400, "M_INVALID_PARAM")
        self.assertError(self.server.put(f"{ADMIN}/v1/users/{q(self.admin_id)}/admin", {"admin": False},
                                         token=self.admin), 400, "M_INVALID_PARAM")
        self.assertError(self.server.get(f"{ADMIN}/v1/users/{q('@ghost:test.local')}/admin", token=self.admin),
                         404, "M_NOT_FOUND")

    def test_deactivate(self):
        tok, uid = self.user("leaving")
        r = self.ok(self.server.post(f"{ADMIN}/v1/deactivate/{q(uid)}", {"erase": False}, token=self.admin))
        self.assertEqual(r, {"id_server_unbind_result": "success"})
        self.assertEqual(self.whoami(tok).status, 401)
        self.assertNotEqual(self.server.login("leaving").status, 200)
        self.assertIs(self.ok(self.get(f"/v2/users/{q(uid)}"))["deactivated"], True)
        listed = [u["name"] for u in self.ok(self.get("/v2/users?limit=1000"))["users"]]
        self.assertNotIn(uid, listed)
        listed = [u["name"] for u in self.ok(self.get("/v2/users?limit=1000&deactivated=true"))["users"]]
        self.assertIn(uid, listed)
        self.assertError(self.server.post(f"{ADMIN}/v1/deactivate/{q('@ghost:test.local')}", {}, token=self.admin),
                         404, "M_NOT_FOUND")
        self.assertError(self.server.post(f"{ADMIN}/v1/deactivate/{q(uid)}", {"erase": "yes"}, token=self.admin),
                         400, "M_INVALID_PARAM")

    def test_reset_password(self):
        tok, uid = self.user("forgetful")
        path = f"{ADMIN}/v1/reset_password/{q(uid)}"
        self.assertEqual(self.ok(self.server.post(path, {"new_password": "brand new pw", "logout_devices": False},
                                                  token=self.admin)), {})
        self.assertEqual(self.whoami(tok).status, 200)
        self.assertEqual(self.server.login("forgetful", "brand new pw").status, 200)
        self.ok(self.server.post(path, {"new_password": "newer still"}, token=self.admin))
        self.assertEqual(self.whoami(tok).status, 401)
        self.assertError(self.server.post(path, {}, token=self.admin), 400, "M_MISSING_PARAM")
        self.assertError(self.server.post(path, {"new_password": 7}, token=self.admin), 400, "M_BAD_JSON")
        self.assertError(self.server.post(f"{ADMIN}/v1/reset_password/{q('@ghost:test.local')}",
                                          {"new_password": "whatever1"}, token=self.admin), 404, "M_NOT_FOUND")

    def test_whois_login_as_and_joined_rooms(self):
        tok, uid = self.user("puppet")
        self.whoami(tok)
        w = self.ok(self.get(f"/v1/whois/{q(uid)}"))
        self.assertEqual(w["user_id"], uid)
        self.assertEqual(len(w["devices"]), 1)
        session = next(iter(w["devices"].values()))["sessions"][0]
        self.assertEqual(session["connections"][0]["ip"], "127.0.0.1")

        r = self.ok(self.server.post(f"{ADMIN}/v1/users/{q(uid)}/login", {}, token=self.admin))
        self.assertEqual(self.whoami(r["access_token"]).json["user_id"], uid)
        self.assertEqual(len(self.ok(self.get(f"/v1/whois/{q(uid)}"))["devices"]), 2)
        self.assertError(self.server.post(f"{ADMIN}/v1/users/{q(self.admin_id)}/login", {}, token=self.admin),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.post(f"{ADMIN}/v1/users/{q(uid)}/login", {"valid_until_ms": "soon"},
                                          token=self.admin), 400, "M_BAD_JSON")
        self.assertError(self.server.post(f"{ADMIN}/v1/users/{q('@ghost:test.local')}/login", {},
                                          token=self.admin), 404, "M_NOT_FOUND")

        room = self.create("puppet", name="Puppet theatre")
        j = self.ok(self.get(f"/v1/users/{q(uid)}/joined_rooms"))
        self.assertEqual(j, {"joined_rooms": [room], "total": 1})


class Rooms(AdminCase):
    def setUp(self):
        if not hasattr(type(self), "rooms"):
            r = type(self).rooms = {}
            r["alpha"] = self.create("owner", name="Alpha lounge", room_alias_name="alpha", preset="public_chat")
            r["beta"] = self.create("owner", name="Beta den", topic="Betas only", preset="public_chat")
            r["none"] = self.create("guest2")
            self.join("member", r["beta"])
            self.join("member2", r["beta"])

    def test_list_order_search_page(self):
        r = self.rooms
        listing = self.ok(self.get("/v1/rooms"))
        self.assertEqual(listing["total_rooms"], 3)
        self.assertEqual(listing["offset"], 0)
        # By name: named rooms first, alphabetically; the unnamed one last.
        self.assertEqual([x["room_id"] for x in listing["rooms"]], [r["alpha"], r["beta"], r["none"]])
        alpha = listing["rooms"][0]
        self.assertEqual(alpha["name"], "Alpha lounge")
        self.assertEqual(alpha["canonical_alias"], "#alpha:test.local")
        self.assertEqual(alpha["joined_members"], 1)
        self.assertEqual(alpha["joined_local_members"], 1)
        self.assertEqual(alpha["creator"], self.uid("owner"))
        self.assertEqual(alpha["join_rules"], "public")
        self.assertIs(alpha["federatable"], True)
        self.assertGreater(alpha["state_events"], 3)
        self.assertIsInstance(alpha["version"], str)

        by_size = self.ok(self.get("/v1/rooms?order_by=joined_members&dir=b"))
        self.assertEqual(by_size["rooms"][0]["room_id"], r["beta"])
        self.assertEqual(by_size["rooms"][0]["joined_members"], 3)
        backwards = self.ok(self.get("/v1/rooms?dir=b"))
        self.assertEqual([x["room_id"] for x in backwards["rooms"]], [r["none"], r["beta"], r["alpha"]])

        page = self.ok(self.get("/v1/rooms?limit=2"))
        self.assertEqual(len(page["rooms"]), 2)
        self.assertEqual(page["next_batch"], 2)
        page2 = self.ok(self.get("/v1/rooms?limit=2&from=2"))
        self.assertEqual([x["room_id"] for x in page2["rooms"]], [r["none"]])
        self.assertNotIn("next_batch", page2)
        self.assertEqual(page2["prev_batch"], 0)

        self.assertEqual([x["room_id"] for x in self.ok(self.get("/v1/rooms?search_term=BETA"))["rooms"]], [r["beta"]])
        self.assertEqual([x["room_id"] for x in self.ok(self.get("/v1/rooms?search_term=%23alpha"))["rooms"]],
                         [r["alpha"]])
        self.assertEqual(self.ok(self.get("/v1/rooms?search_term=" + q(r["none"])))["total_rooms"], 1)

        for bad in ("order_by=colour", "dir=up", "from=-3", "limit=lots", "search_term="):
            with self.subTest(query=bad):
                self.assertError(self.get("/v1/rooms?" + bad), 400, "M_INVALID_PARAM")

    def test_details_members_state(self):
        beta = self.rooms["beta"]
        d = self.ok(self.get(f"/v1/rooms/{q(beta)}"))
        self.assertEqual(d["room_id"], beta)
        self.assertEqual(d["topic"], "Betas only")
        self.assertEqual(d["joined_members"], 3)
        m = self.ok(self.get(f"/v1/rooms/{q(beta)}/members"))
        self.assertEqual(m, {"members": sorted([self.uid("owner"), self.uid("member"), self.uid("member2")]),
                             "total": 3})
        state = self.ok(self.get(f"/v1/rooms/{q(beta)}/state"))["state"]
        types = {(e["type"], e["state_key"]) for e in state}
        self.assertIn(("m.room.create", ""), types)
        self.assertIn(("m.room.member", self.uid("member2")), types)
        self.assertTrue(all("event_id" in e and "content" in e for e in state))

        for suffix in ("", "/members", "/state"):
            with self.subTest(suffix=suffix):
                self.assertError(self.get(f"/v1/rooms/{q('!unknown:test.local')}{suffix}"), 404, "M_NOT_FOUND")
                self.assertError(self.get(f"/v1/rooms/not-a-room{suffix}"), 400, "M_INVALID_PARAM")


class Devices(AdminCase):
    def test_list_rename_delete(self):
        first, uid = self.user("gadgets")
        second = self.server.login("gadgets", device_id="SECOND").json["access_token"]
        third = self.server.login("gadgets", device_id="THIRD").json["access_token"]
        base = f"/v2/users/{q(uid)}/devices"
        listing = self.ok(self.get(base))
        self.assertEqual(listing["total"], 3)
        self.assertIn("SECOND", [d["device_id"] for d in listing["devices"]])
        self.assertTrue(all(d["user_id"] == uid for d in listing["devices"]))
        self.assertEqual(self.ok(self.server.put(f"{ADMIN}{base}/SECOND", {"display_name": "Phone"},
                                                 token=self.admin)), {})
        self.assertEqual(self.ok(self.get(f"{base}/SECOND"))["display_name"], "Phone")
        self.assertError(self.get(f"{base}/NOPE"), 404, "M_NOT_FOUND")
        self.assertError(self.server.put(f"{ADMIN}{base}/NOPE", {"display_name": "x"}, token=self.admin),
                         404, "M_NOT_FOUND")
        self.assertError(self.server.put(f"{ADMIN}{base}/SECOND", {"display_name": "x" * 101}, token=self.admin),
                         400, "M_INVALID_PARAM")

        self.assertEqual(self.ok(self.server.delete(f"{ADMIN}{base}/SECOND", token=self.admin)), {})
        self.assertEqual(self.whoami(second).status, 401)
        self.assertEqual(self.whoami(first).status, 200)
        self.ok(self.server.delete(f"{ADMIN}{base}/SECOND", token=self.admin))  # already gone: fine
        self.ok(self.server.post(f"{ADMIN}/v2/users/{q(uid)}/delete_devices", {"devices": ["THIRD"]},
                                 token=self.admin))
        self.assertEqual(self.whoami(third).status, 401)
        self.assertEqual(self.ok(self.get(base))["total"], 1)
        self.assertError(self.server.post(f"{ADMIN}/v2/users/{q(uid)}/delete_devices", {}, token=self.admin),
                         400, "M_MISSING_PARAM")
        self.assertError(self.server.post(f"{ADMIN}/v2/users/{q(uid)}/delete_devices", {"devices": [1]},
                                          token=self.admin), 400, "M_INVALID_PARAM")
        self.assertError(self.get(f"/v2/users/{q('@ghost:test.local')}/devices"), 404, "M_NOT_FOUND")


class EventReports(AdminCase):
    def test_report_list_show_delete(self):
        room = self.create("reported_owner", name="Reported room", preset="public_chat")
        self.join("reporter", room)
        bad = self.send("reported_owner", room, "something awful")
        path = f"{V3}/rooms/{q(room)}/report/{q(bad)}"
        self.assertEqual(self.ok(self.server.post(path, {"reason": "spam", "score": -100}, token=self.tok("reporter"))),
                         {})
        self.ok(self.server.post(path, {}, token=self.tok("reported_owner")))
        # Unknown events, events of another room and events the reporter cannot see are all 404.
        self.assertError(self.server.post(f"{V3}/rooms/{q(room)}/report/{q('$nope')}", {}, token=self.tok("reporter")),
                         404, "M_NOT_FOUND")
        private = self.create("reported_owner")
        hidden = self.send("reported_owner", private, "private")
        self.assertError(self.server.post(f"{V3}/rooms/{q(private)}/report/{q(hidden)}", {},
                                          token=self.tok("reporter")), 404, "M_NOT_FOUND")
        self.assertError(self.server.post(f"{V3}/rooms/{q(private)}/report/{q(bad)}", {},
                                          token=self.tok("reported_owner")), 404, "M_NOT_FOUND")
        self.assertError(self.server.post(path, {"score": 5}, token=self.tok("reporter")), 400, "M_INVALID_PARAM")
        self.assertError(self.server.post(path, {"reason": 5}, token=self.tok("reporter")), 400, "M_BAD_JSON")
        self.assertEqual(self.server.post(path, {}).status, 401)

        listing = self.ok(self.get("/v1/event_reports"))
        self.assertEqual(listing["total"], 2)
        newest, oldest = listing["event_reports"]
        self.assertGreater(newest["id"], oldest["id"])
        self.assertEqual(oldest["user_id"], self.uid("reporter"))
        self.assertEqual(oldest["reason"], "spam")
        self.assertEqual(oldest["score"], -100)
        self.assertEqual(oldest["sender"], self.uid("reported_owner"))
        self.assertEqual(oldest["name"], "Reported room")
        self.assertEqual(oldest["event_id"], bad)
        forwards = self.ok(self.get("/v1/event_reports?dir=f&limit=1"))
        self.assertEqual([r["id"] for r in forwards["event_reports"]], [oldest["id"]])
        self.assertEqual(forwards["next_token"], 1)
        mine = self.ok(self.get("/v1/event_reports?user_id=" + q(self.uid("reporter"))))
        self.assertEqual([r["id"] for r in mine["event_reports"]], [oldest["id"]])
        self.assertEqual(self.ok(self.get("/v1/event_reports?room_id=" + q(private)))["total"], 0)

        one = self.ok(self.get(f"/v1/event_reports/{oldest['id']}"))
        self.assertEqual(one["event_json"]["room_id"], room)  # the PDU as stored, as Synapse shows it
        self.assertEqual(one["event_json"]["content"]["body"], "something awful")
        self.assertEqual(self.ok(self.server.delete(f"{ADMIN}/v1/event_reports/{oldest['id']}", token=self.admin)), {})
        self.assertError(self.get(f"/v1/event_reports/{oldest['id']}"), 404, "M_NOT_FOUND")
        self.assertError(self.server.delete(f"{ADMIN}/v1/event_reports/{oldest['id']}", token=self.admin),
                         404, "M_NOT_FOUND")
        self.assertEqual(self.ok(self.get("/v1/event_reports"))["total"], 1)
        for bad_id in ("abc", "0", "-4"):
            self.assertError(self.get(f"/v1/event_reports/{bad_id}"), 400, "M_INVALID_PARAM")
        for bad_query in ("dir=x", "limit=-1", "from=z"):
            self.assertError(self.get("/v1/event_reports?" + bad_query), 400, "M_INVALID_PARAM")


class ClientWhois(AdminCase):
    def test_self_or_admin(self):
        tok, uid = self.user("curious")
        path = f"{V3}/admin/whois/{q(uid)}"
        self.assertEqual(self.ok(self.server.get(path, token=tok))["user_id"], uid)
        self.assertEqual(self.ok(self.server.get(path, token=self.admin))["user_id"], uid)
        self.assertError(self.server.get(f"{V3}/admin/whois/{q(self.admin_id)}", token=tok), 403, "M_FORBIDDEN")
        self.assertError(self.server.get(path), 401, "M_MISSING_TOKEN")
        self.assertError(self.server.get(f"{V3}/admin/whois/{q('@ghost:test.local')}", token=self.admin),
                         404, "M_NOT_FOUND")


def mac(nonce, user, password, admin, user_type=None, secret=SECRET):
    parts = [nonce, user, password, "admin" if admin else "notadmin"] + ([user_type] if user_type else [])
    return hmac.new(secret.encode(), "\x00".join(parts).encode(), hashlib.sha1).hexdigest()


class SharedSecretRegistration(AdminCase):
    def nonce(self):
        return self.ok(self.server.get(ADMIN + "/v1/register"))["nonce"]

    def test_register_admin_and_user(self):
        n = self.nonce()
        body = {"nonce": n, "username": "bootstrap", "password": "boot pass", "admin": True,
                "displayname": "Boot Strap", "mac": mac(n, "bootstrap", "boot pass", True)}
        r = self.ok(self.server.post(ADMIN + "/v1/register", body))
        self.assertEqual(r["user_id"], "@bootstrap:test.local")
        self.assertEqual(self.whoami(r["access_token"]).json["user_id"], "@bootstrap:test.local")
        d = self.ok(self.get("/v2/users/" + q("@bootstrap:test.local"), token=r["access_token"]))
        self.assertIs(d["admin"], True)
        self.assertEqual(d["displayname"], "Boot Strap")
        # A nonce is good once.
        self.assertError(self.server.post(ADMIN + "/v1/register", body), 400, "M_UNKNOWN")

        n = self.nonce()
        r = self.ok(self.server.post(ADMIN + "/v1/register", {
            "nonce": n, "username": "plainuser", "password": "plain pass", "user_type": "bot",
            "mac": mac(n, "plainuser", "plain pass", False, "bot")}))
        self.assertIs(self.ok(self.get("/v2/users/" + q(r["user_id"])))["admin"], False)

    def test_refusals(self):
        n = self.nonce()
        wrong = {"nonce": n, "username": "intruder", "password": "pw pw pw", "admin": True,
                 "mac": mac(n, "intruder", "pw pw pw", False)}  # signed as non-admin, asks for admin
        self.assertError(self.server.post(ADMIN + "/v1/register", wrong), 403, "M_FORBIDDEN")
        n = self.nonce()
        self.assertError(self.server.post(ADMIN + "/v1/register", {
            "nonce": n, "username": "intruder", "password": "pw pw pw",
            "mac": mac(n, "intruder", "pw pw pw", False, secret="guessed")}), 403, "M_FORBIDDEN")
        self.assertError(self.server.post(ADMIN + "/v1/register", {
            "nonce": "made-up", "username": "intruder", "password": "pw pw pw",
            "mac": mac("made-up", "intruder", "pw pw pw", False)}), 400, "M_UNKNOWN")
        n = self.nonce()
        self.assertError(self.server.post(ADMIN + "/v1/register", {
            "nonce": n, "username": "Bad Name", "password": "pw pw pw",
            "mac": mac(n, "Bad Name", "pw pw pw", False)}), 400, "M_INVALID_USERNAME")
        self.assertError(self.server.post(ADMIN + "/v1/register", {"nonce": self.nonce()}), 400, "M_MISSING_PARAM")
        self.assertError(self.server.post(ADMIN + "/v1/register", [1]), 400, "M_BAD_JSON")
        self.assertEqual(self.server.sql("SELECT user_id FROM users WHERE user_id LIKE '%intruder%'"), [])


class SharedSecretDisabled(ServerTestCase):
    def test_disabled_without_a_secret(self):
        r = self.server.get(ADMIN + "/v1/register")
        self.assertError(r, 400, "M_UNKNOWN")


@unittest.skipIf(shutil.which("synadm") is None, "synadm is not installed (apt-get install synadm)")
class Synadm(AdminCase):
    """Debian's synadm, configured non-interactively, against the running server."""

    def synadm(self, *args):
        out = subprocess.run(["synadm", "--batch", "-c", self.config, "-o", "json", *args],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr + out.stdout)
        return out.stdout

    def synadm_json(self, *args):
        text = self.synadm(*args)
        # Commands that print notes before their answer end with the JSON document.
        return json.loads(text[text.index("{"):])

    def setUp(self):
        d = tempfile.mkdtemp(prefix="synadm-")
        self.addCleanup(shutil.rmtree, d, True)
        self.config = os.path.join(d, "synadm.yaml")
        with open(self.config, "w") as f:
            json.dump({"user": self.admin_id, "token": self.admin,
                       "base_url": f"http://127.0.0.1:{self.server.port}", "admin_path": "/_synapse/admin",
                       "matrix_path": "/_matrix", "timeout": 30, "format": "json",
                       "server_discovery": "well-known", "homeserver": "test.local"}, f)

    def test_users_and_rooms(self):
        self.user("cli_user")
        room = self.create("cli_user", name="CLI room")
        version = self.synadm_json("version")
        self.assertIn("server_version", version)
        users = self.synadm_json("user", "list")
        self.assertIn("@cli_user:test.local", [u["name"] for u in users["users"]])
        details = self.synadm_json("user", "details", "@cli_user:test.local")
        self.assertEqual(details["name"], "@cli_user:test.local")
        self.synadm("user", "modify", "@cli_user:test.local", "--password", "changed by cli",
                    "--display-name", "CLI User")
        self.assertEqual(self.server.login("cli_user", "changed by cli").status, 200)
        self.assertEqual(self.ok(self.get("/v2/users/" + q("@cli_user:test.local")))["displayname"], "CLI User")
        rooms = self.synadm_json("room", "list")
        self.assertIn(room, [r["room_id"] for r in rooms["rooms"]])
        self.assertEqual(self.synadm_json("room", "details", room)["name"], "CLI room")
        self.assertEqual(self.synadm_json("room", "members", room)["members"], ["@cli_user:test.local"])
        self.assertIn("m.room.create", [e["type"] for e in self.synadm_json("room", "state", room)["state"]])
        self.assertIn("devices", self.synadm_json("user", "whois", "@cli_user:test.local"))
        self.synadm("user", "deactivate", "@cli_user:test.local")
        self.assertIs(self.ok(self.get("/v2/users/" + q("@cli_user:test.local")))["deactivated"], True)


if __name__ == "__main__":
    main()
