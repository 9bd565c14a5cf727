"""The Synapse-compatible admin API over HTTP: every endpoint refuses requests without a token (401)
and from non-admins (403 M_FORBIDDEN); users are listed, queried, created, modified, deactivated
(leaving their rooms), given new passwords and puppeted; rooms are listed, ordered, searched,
inspected, blocked, deleted (at once and in the background) and their history purged;
registration tokens are managed and used by /register without races; media is listed and deleted;
shared-secret registration checks its nonce and HMAC; and Debian's `synadm` CLI drives the server
(skipped when it is not installed)."""
import hashlib
import hmac
import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import zlib

from harness import ServerTestCase, main
from room_helpers import RoomClient

ADMIN = "/_synapse/admin"
V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"
SECRET = "admin api test secret"


def png(width=64, height=64):
    """A solid-colour RGB PNG, big enough to be thumbnailed."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xc8\x1e\x1e" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


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
        ("GET", "/v1/registration_tokens", None),
        ("POST", "/v1/registration_tokens/new", {}),
        ("GET", "/v1/registration_tokens/abcd", None),
        ("PUT", "/v1/registration_tokens/abcd", {"uses_allowed": 1}),
        ("DELETE", "/v1/registration_tokens/abcd", None),
        ("DELETE", "/v1/rooms/!nowhere:test.local", {}),
        ("DELETE", "/v2/rooms/!nowhere:test.local", {}),
        ("GET", "/v2/rooms/!nowhere:test.local/delete_status", None),
        ("GET", "/v2/rooms/delete_status/abc", None),
        ("GET", "/v1/rooms/!nowhere:test.local/block", None),
        ("PUT", "/v1/rooms/!nowhere:test.local/block", {"block": True}),
        ("POST", "/v1/purge_history/!nowhere:test.local", {"purge_up_to_ts": 1}),
        ("GET", "/v1/purge_history_status/abc", None),
        ("GET", "/v1/room/!nowhere:test.local/media", None),
        ("GET", "/v1/users/@root:test.local/media", None),
        ("DELETE", "/v1/users/@root:test.local/media", None),
        ("DELETE", "/v1/media/test.local/abcdef", None),
        ("POST", "/v1/media/delete?before_ts=1", {}),
        ("POST", "/v1/media/test.local/delete?before_ts=1", {}),
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


class DeactivationLeavesRooms(AdminCase):
    """Deactivating an account (client API, admin API, PUT with deactivated) makes it leave every
    room and reject its invites, so the other members see it go."""

    def members(self, room, who="host"):
        r = self.server.get(f"{V3}/rooms/{q(room)}/joined_members", token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return set(r.json["joined"])

    def membership(self, room, uid, who="host"):
        r = self.server.get(f"{V3}/rooms/{q(room)}/state/m.room.member/{q(uid)}", token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json["membership"]

    def check_leaves(self, name, deactivate):
        joined = self.create("host", preset="public_chat")
        invited = self.create("host")
        self.join(name, joined)
        self.invite("host", invited, name)
        uid = self.uid(name)
        self.assertIn(uid, self.members(joined))
        deactivate(name, uid)
        self.assertNotIn(uid, self.members(joined))
        self.assertEqual(self.membership(joined, uid), "leave")
        self.assertEqual(self.membership(invited, uid), "leave")  # the invite was rejected
        self.assertEqual(self.ok(self.get(f"/v1/users/{q(uid)}/joined_rooms"))["total"], 0)
        # The host's /sync shows the leave in the timeline of the shared room.
        sync = self.ok(self.server.get(f"{V3}/sync", token=self.tok("host")))
        events = sync["rooms"]["join"][joined]["timeline"]["events"]
        self.assertIn((uid, "leave"), [(e.get("state_key"), e["content"].get("membership")) for e in events
                                       if e["type"] == "m.room.member"])

    def test_client_deactivate(self):
        def deactivate(name, uid):
            tok = self.tok(name)
            r = self.server.post(f"{V3}/account/deactivate", {}, token=tok)
            auth = {"type": "m.login.password", "session": r.json["session"], "password": "correct horse battery",
                    "identifier": {"type": "m.id.user", "user": uid}}
            self.ok(self.server.post(f"{V3}/account/deactivate", {"auth": auth}, token=tok))
        self.check_leaves("quitter", deactivate)

    def test_admin_deactivate(self):
        self.check_leaves("banished", lambda name, uid: self.ok(self.server.post(
            f"{ADMIN}/v1/deactivate/{q(uid)}", {}, token=self.admin)))

    def test_put_deactivated(self):
        self.check_leaves("switched_off", lambda name, uid: self.ok(self.server.put(
            f"{ADMIN}/v2/users/{q(uid)}", {"deactivated": True}, token=self.admin)))


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


SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"


class RoomModeration(AdminCase):
    """Blocking rooms and deleting them (v1 at once, v2 in the background with a status)."""

    def sync(self, who, since=None):
        r = self.server.get(f"{V3}/sync?timeout=0" + (f"&since={since}" if since else ""), token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json

    def sliding(self, who, pos=None):
        body = {"lists": {"all": {"ranges": [[0, 20]], "timeline_limit": 5,
                                  "required_state": [["m.room.name", ""]]}}}
        r = self.server.post(SS + "?timeout=0" + (f"&pos={pos}" if pos else ""), body, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json

    def finished(self, status_path):
        """The status of a background task once it has finished (complete or failed)."""
        for _ in range(100):
            status = self.ok(self.get(status_path))
            if status["status"] in ("complete", "failed"):
                break
            time.sleep(0.1)
        self.assertEqual(status["status"], "complete", status)
        return status

    def bodies(self, who, room):
        r = self.server.get(f"{V3}/rooms/{q(room)}/messages?dir=b&limit=100", token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return [e["content"].get("body") for e in r.json["chunk"] if e["type"] == "m.room.message"]

    def test_purge_history(self):
        room = self.create("history_owner", preset="public_chat")
        self.join("history_member", room)
        for i in range(3):
            self.send("history_member", room, f"old {i}")
        cut = self.send("history_owner", room, "the cut")
        self.send("history_member", room, "newer")
        path = f"{ADMIN}/v1/purge_history/{q(room)}"
        # Local users' events stay unless delete_local_events.
        r = self.ok(self.server.post(path, {"purge_up_to_ts": int(time.time() * 1000) + 1000}, token=self.admin))
        self.finished(f"/v1/purge_history_status/{r['purge_id']}")
        self.assertEqual(self.bodies("history_member", room), ["newer", "the cut", "old 2", "old 1", "old 0"])
        r = self.ok(self.server.post(f"{path}/{q(cut)}", {"delete_local_events": True}, token=self.admin))
        self.assertEqual(self.finished(f"/v1/purge_history_status/{r['purge_id']}"), {"status": "complete"})
        self.assertEqual(self.bodies("history_member", room), ["newer", "the cut"])
        # State is kept: the room works as before.
        state = self.ok(self.get(f"/v1/rooms/{q(room)}/state"))["state"]
        self.assertIn(("m.room.member", self.uid("history_member")), [(e["type"], e["state_key"]) for e in state])
        self.send("history_member", room, "still here")
        self.assertIn(room, self.sync("history_member")["rooms"]["join"])

        other = self.create("history_owner")
        elsewhere = self.send("history_owner", other, "elsewhere")
        for body, status, code in (({}, 400, "M_BAD_JSON"), ({"purge_up_to_ts": "x"}, 400, "M_INVALID_PARAM"),
                                   ({"purge_up_to_event_id": "$nope"}, 404, "M_NOT_FOUND"),
                                   ({"purge_up_to_event_id": elsewhere}, 400, "M_INVALID_PARAM"),
                                   ({"purge_up_to_ts": 1, "delete_local_events": "yes"}, 400, "M_BAD_JSON")):
            with self.subTest(body=body):
                self.assertError(self.server.post(path, body, token=self.admin), status, code)
        self.assertError(self.server.post(f"{ADMIN}/v1/purge_history/{q('!unknown:test.local')}",
                                          {"purge_up_to_ts": 1}, token=self.admin), 404, "M_NOT_FOUND")
        self.assertError(self.get("/v1/purge_history_status/unknown"), 404, "M_NOT_FOUND")

    def test_block(self):
        room = self.create("block_owner", preset="public_chat")
        path = f"{ADMIN}/v1/rooms/{q(room)}/block"
        self.assertEqual(self.ok(self.server.get(path, token=self.admin)), {"block": False})
        self.assertEqual(self.ok(self.server.put(path, {"block": True}, token=self.admin)), {"block": True})
        self.assertEqual(self.ok(self.server.get(path, token=self.admin)), {"block": True, "user_id": self.admin_id})
        self.assertError(self.server.post(f"{V3}/join/{q(room)}", {}, token=self.tok("block_joiner")), 403,
                         "M_FORBIDDEN")
        self.assertError(self.server.post(f"{V3}/rooms/{q(room)}/invite", {"user_id": self.uid("block_joiner")},
                                          token=self.tok("block_owner")), 403, "M_FORBIDDEN")
        self.assertEqual(self.ok(self.server.put(path, {"block": False}, token=self.admin)), {"block": False})
        self.assertEqual(self.ok(self.server.get(path, token=self.admin)), {"block": False})
        self.join("block_joiner", room)
        # Rooms this server does not know can be blocked too.
        unknown = f"{ADMIN}/v1/rooms/{q('!never:test.local')}/block"
        self.ok(self.server.put(unknown, {"block": True}, token=self.admin))
        self.assertIs(self.ok(self.server.get(unknown, token=self.admin))["block"], True)
        self.assertError(self.server.put(path, {}, token=self.admin), 400, "M_MISSING_PARAM")
        self.assertError(self.server.put(path, {"block": "yes"}, token=self.admin), 400, "M_BAD_JSON")
        self.assertError(self.server.get(f"{ADMIN}/v1/rooms/not-a-room/block", token=self.admin), 400,
                         "M_INVALID_PARAM")

    def test_delete_v1_purges_and_blocks(self):
        room = self.create("doomed_owner", name="Doomed", room_alias_name="doomed", preset="public_chat")
        self.server.put(f"{V3}/directory/list/room/{q(room)}", {"visibility": "public"}, token=self.tok("doomed_owner"))
        self.join("doomed_member", room)
        self.invite("doomed_owner", room, "doomed_invitee")
        self.send("doomed_member", room, "last words")
        since = self.sync("doomed_member")["next_batch"]
        pos = self.sliding("doomed_member")["pos"]

        r = self.ok(self.server.request("DELETE", f"{ADMIN}/v1/rooms/{q(room)}", body={"block": True},
                                        token=self.admin))
        self.assertEqual(sorted(r["kicked_users"]), sorted([self.uid("doomed_owner"), self.uid("doomed_member"),
                                                           self.uid("doomed_invitee")]))
        self.assertEqual(r["failed_to_kick_users"], [])
        self.assertEqual(r["local_aliases"], ["#doomed:test.local"])
        self.assertIsNone(r["new_room_id"])

        # Gone from every table, the room list, the directory and alias resolution; blocked.
        for table in ("events", "current_state_events", "state_groups", "rooms", "room_heads", "receipts",
                      "event_push_actions", "room_aliases"):
            with self.subTest(table=table):
                self.assertEqual(self.server.sql(f"SELECT COUNT(*) FROM {table} WHERE room_id = '{room}'"), [("0",)])
        self.assertError(self.get(f"/v1/rooms/{q(room)}"), 404, "M_NOT_FOUND")
        self.assertNotIn(room, [x["room_id"] for x in self.ok(self.get("/v1/rooms?limit=1000"))["rooms"]])
        self.assertEqual(self.server.get(f"{V3}/directory/room/{q('#doomed:test.local')}").status, 404)
        public = self.ok(self.server.get(f"{V3}/publicRooms", token=self.tok("doomed_member")))
        self.assertNotIn(room, [x["room_id"] for x in public["chunk"]])
        self.assertError(self.server.post(f"{V3}/join/{q(room)}", {}, token=self.tok("doomed_member")), 403,
                         "M_FORBIDDEN")
        # Former members' syncs go on: the room is left or gone, never an error.
        incremental = self.sync("doomed_member", since)
        self.assertNotIn(room, incremental.get("rooms", {}).get("join", {}))
        self.assertNotIn(room, self.sync("doomed_member").get("rooms", {}).get("join", {}))
        self.assertNotIn(room, self.sync("doomed_invitee").get("rooms", {}).get("invite", {}))
        after = self.sliding("doomed_member", pos)
        self.assertNotIn(room, after["lists"]["all"].get("ops", [{}])[0].get("room_ids", []))
        self.assertNotIn(room, self.sliding("doomed_member")["lists"]["all"].get("ops", [{}])[0].get("room_ids", []))
        self.assertEqual(self.ok(self.get(f"/v1/users/{q(self.uid('doomed_member'))}/joined_rooms"))["total"], 0)

        self.assertError(self.server.request("DELETE", f"{ADMIN}/v1/rooms/{q(room)}", body={}, token=self.admin),
                         404, "M_NOT_FOUND")
        for body, code in (({"purge": "yes"}, "M_BAD_JSON"), ({"block": 1}, "M_BAD_JSON"),
                           ({"new_room_user_id": "@x:elsewhere.example"}, "M_INVALID_PARAM")):
            with self.subTest(body=body):
                self.assertError(self.server.request("DELETE", f"{ADMIN}/v1/rooms/{q(room)}", body=body,
                                                     token=self.admin), 400, code)
        self.assertError(self.server.request("DELETE", f"{ADMIN}/v1/rooms/not-a-room", body={}, token=self.admin),
                         400, "M_INVALID_PARAM")

    def test_delete_v2_moves_users_to_a_new_room(self):
        room = self.create("moved_owner", name="Moved", room_alias_name="moving", preset="public_chat")
        self.join("moved_member", room)
        r = self.ok(self.server.request("DELETE", f"{ADMIN}/v2/rooms/{q(room)}", token=self.admin,
                                        body={"new_room_user_id": self.admin_id, "room_name": "Notice",
                                              "message": "This room was closed"}))
        delete_id = r["delete_id"]
        status = self.finished(f"/v2/rooms/delete_status/{delete_id}")
        result = status["shutdown_room"]
        self.assertEqual(sorted(result["kicked_users"]), sorted([self.uid("moved_owner"), self.uid("moved_member")]))
        new_room = result["new_room_id"]
        self.assertTrue(new_room)
        self.assertEqual(result["local_aliases"], ["#moving:test.local"])
        by_room = self.ok(self.get(f"/v2/rooms/{q(room)}/delete_status"))["results"]
        self.assertEqual([x["delete_id"] for x in by_room], [delete_id])

        members = self.ok(self.get(f"/v1/rooms/{q(new_room)}/members"))["members"]
        self.assertEqual(sorted(members), sorted([self.admin_id, self.uid("moved_owner"), self.uid("moved_member")]))
        self.assertEqual(self.ok(self.get(f"/v1/rooms/{q(new_room)}"))["name"], "Notice")
        messages = self.server.get(f"{V3}/rooms/{q(new_room)}/messages?dir=b&limit=20", token=self.tok("moved_member"))
        self.assertIn("This room was closed", [e["content"].get("body") for e in messages.json["chunk"]])
        # The alias now leads to the new room; the old room is gone.
        self.assertEqual(self.server.get(f"{V3}/directory/room/{q('#moving:test.local')}").json["room_id"], new_room)
        self.assertError(self.get(f"/v1/rooms/{q(room)}"), 404, "M_NOT_FOUND")

        self.assertError(self.get("/v2/rooms/delete_status/unknown"), 404, "M_NOT_FOUND")
        self.assertError(self.get(f"/v2/rooms/{q(new_room)}/delete_status"), 404, "M_NOT_FOUND")
        self.assertError(self.server.request("DELETE", f"{ADMIN}/v2/rooms/{q('!unknown:test.local')}", body={},
                                             token=self.admin), 404, "M_NOT_FOUND")
        self.assertError(self.server.request("DELETE", f"{ADMIN}/v2/rooms/{q(new_room)}",
                                             body={"new_room_user_id": "@ghost:test.local"}, token=self.admin),
                         404, "M_NOT_FOUND")

    def test_delete_without_purge_keeps_history(self):
        room = self.create("kept_owner", preset="public_chat")
        self.join("kept_member", room)
        since = self.sync("kept_member")["next_batch"]
        r = self.ok(self.server.request("DELETE", f"{ADMIN}/v1/rooms/{q(room)}", body={"purge": False},
                                        token=self.admin))
        self.assertEqual(len(r["kicked_users"]), 2)
        d = self.ok(self.get(f"/v1/rooms/{q(room)}"))
        self.assertEqual(d["joined_members"], 0)
        self.assertGreater(int(self.server.sql(f"SELECT COUNT(*) FROM events WHERE room_id = '{room}'")[0][0]), 3)
        left = self.sync("kept_member", since)["rooms"]["leave"]
        self.assertIn(room, left)


class MediaAdmin(AdminCase):
    """Media listing and deletion (the media group serves these)."""

    def upload(self, who, data, content_type="image/png", name=None):
        path = "/_matrix/media/v3/upload" + (f"?filename={q(name)}" if name else "")
        r = self.server.request("POST", path, raw=data, token=self.tok(who), headers={"Content-Type": content_type})
        self.assertEqual(r.status, 200, r)
        return r.json["content_uri"]

    def media_id(self, uri):
        return uri.rsplit("/", 1)[1]

    def files(self, media_id):
        """The content file and thumbnail files of a local media id on disk."""
        root = os.path.join(self.server.dir, "media_store")
        found = []
        for sub in ("local_content", "local_thumbnails"):
            for dirpath, _, names in os.walk(os.path.join(root, sub)):
                rel = os.path.relpath(dirpath, os.path.join(root, sub)).replace(os.sep, "")
                found += [(sub, n) for n in names if (rel + n).startswith(media_id) or rel.startswith(media_id)]
        return found

    def test_room_media(self):
        room = self.create("media_poster", preset="public_chat")
        mine = self.upload("media_poster", b"picture bytes")
        self.send("media_poster", room, content={"msgtype": "m.image", "body": "pic", "url": mine,
                                                 "info": {"thumbnail_url": "mxc://elsewhere.example/thumb"}})
        self.send("media_poster", room, "no media here")
        r = self.ok(self.get(f"/v1/room/{q(room)}/media"))
        self.assertEqual(r, {"local": [mine], "remote": ["mxc://elsewhere.example/thumb"]})
        self.assertError(self.get(f"/v1/room/{q('!unknown:test.local')}/media"), 404, "M_NOT_FOUND")
        self.assertError(self.get("/v1/room/not-a-room/media"), 400, "M_INVALID_PARAM")

    def test_user_media_list_and_delete(self):
        uid = self.uid("collector")
        uris = [self.upload("collector", b"x" * n, content_type="text/plain", name=f"f{n}.txt") for n in (30, 10, 20)]
        base = f"/v1/users/{q(uid)}/media"
        listing = self.ok(self.get(base))
        self.assertEqual(listing["total"], 3)
        self.assertNotIn("next_token", listing)
        first = listing["media"][0]
        self.assertEqual(first["media_id"], self.media_id(uris[0]))
        self.assertEqual((first["media_type"], first["media_length"], first["upload_name"]), ("text/plain", 30, "f30.txt"))
        self.assertIsNone(first["quarantined_by"])
        self.assertIsInstance(first["created_ts"], int)
        by_size = self.ok(self.get(base + "?order_by=media_length&dir=b&limit=2"))
        self.assertEqual([m["media_length"] for m in by_size["media"]], [30, 20])
        self.assertEqual(by_size["next_token"], 2)
        self.assertEqual([m["media_length"] for m in self.ok(self.get(base + "?order_by=media_length&from=2"))["media"]],
                         [30])
        for bad in ("order_by=colour", "dir=x", "limit=-1", "from=z"):
            with self.subTest(query=bad):
                self.assertError(self.get(base + "?" + bad), 400, "M_INVALID_PARAM")
        self.assertError(self.get(f"/v1/users/{q('@ghost:test.local')}/media"), 404, "M_NOT_FOUND")
        self.assertError(self.get(f"/v1/users/{q('@x:elsewhere.example')}/media"), 400, "M_INVALID_PARAM")

        # DELETE takes the same paging: the two smallest first, then the rest.
        r = self.ok(self.server.delete(ADMIN + base + "?order_by=media_length&limit=2", token=self.admin))
        self.assertEqual(sorted(r["deleted_media"]), sorted([self.media_id(uris[1]), self.media_id(uris[2])]))
        self.assertEqual(r["total"], 2)
        self.assertEqual(self.server.get(f"/_matrix/client/v1/media/download/test.local/{self.media_id(uris[1])}",
                                         token=self.tok("collector")).status, 404)
        self.assertEqual(self.ok(self.get(base))["total"], 1)
        self.assertEqual(self.ok(self.server.delete(ADMIN + base, token=self.admin))["total"], 1)
        self.assertEqual(self.ok(self.get(base))["media"], [])

    def test_delete_one_with_thumbnails(self):
        uri = self.upload("thumbed", png())
        media_id = self.media_id(uri)
        t = self.server.get(f"/_matrix/client/v1/media/thumbnail/test.local/{media_id}?width=32&height=32",
                            token=self.tok("thumbed"))
        self.assertEqual(t.status, 200, t)
        self.assertTrue(self.files(media_id))
        r = self.ok(self.server.delete(f"{ADMIN}/v1/media/test.local/{media_id}", token=self.admin))
        self.assertEqual(r, {"deleted_media": [media_id], "total": 1})
        self.assertEqual(self.files(media_id), [])
        self.assertEqual(self.server.sql(f"SELECT COUNT(*) FROM local_media_thumbnails WHERE media_id = '{media_id}'"),
                         [("0",)])
        self.assertEqual(self.server.get(f"/_matrix/client/v1/media/download/test.local/{media_id}",
                                         token=self.tok("thumbed")).status, 404)
        self.assertError(self.server.delete(f"{ADMIN}/v1/media/test.local/{media_id}", token=self.admin),
                         404, "M_NOT_FOUND")
        self.assertError(self.server.delete(f"{ADMIN}/v1/media/elsewhere.example/{media_id}", token=self.admin),
                         400, "M_INVALID_PARAM")

    def test_delete_by_age_and_size_keeps_avatars(self):
        old_small = self.upload("aged", b"s", content_type="text/plain")
        old_big = self.upload("aged", b"b" * 500, content_type="text/plain")
        avatar = self.upload("aged", b"a" * 500, content_type="image/png")
        self.ok(self.server.put(f"{V3}/profile/{q(self.uid('aged'))}/avatar_url", {"avatar_url": avatar},
                                token=self.tok("aged")))
        cutoff = int(time.time() * 1000) + 1
        time.sleep(0.01)
        young = self.upload("aged", b"y" * 500, content_type="text/plain")
        r = self.ok(self.server.post(f"{ADMIN}/v1/media/delete?before_ts={cutoff}&size_gt=100", {}, token=self.admin))
        self.assertEqual(r, {"deleted_media": [self.media_id(old_big)], "total": 1})
        r = self.ok(self.server.post(f"{ADMIN}/v1/media/test.local/delete?before_ts={cutoff}&keep_profiles=false", {},
                                     token=self.admin))
        self.assertEqual(sorted(r["deleted_media"]), sorted([self.media_id(old_small), self.media_id(avatar)]))
        left = [m["media_id"] for m in self.ok(self.get(f"/v1/users/{q(self.uid('aged'))}/media"))["media"]]
        self.assertEqual(left, [self.media_id(young)])
        self.assertError(self.server.post(f"{ADMIN}/v1/media/delete", {}, token=self.admin), 400, "M_MISSING_PARAM")
        for bad in ("before_ts=x", "before_ts=-1", "before_ts=1&size_gt=-5", "before_ts=1&keep_profiles=perhaps"):
            with self.subTest(query=bad):
                self.assertError(self.server.post(f"{ADMIN}/v1/media/delete?{bad}", {}, token=self.admin),
                                 400, "M_INVALID_PARAM")
        self.assertError(self.server.post(f"{ADMIN}/v1/media/elsewhere.example/delete?before_ts=1", {},
                                          token=self.admin), 400, "M_INVALID_PARAM")


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


class RegistrationTokens(AdminCase):
    """registration_requires_token: /register's UIA stage is m.login.registration_token; tokens are
    managed by admins; a token's uses are counted without races."""
    extra_config = AdminCase.extra_config + "registration_requires_token: true\n"

    @classmethod
    def setUpClass(cls):
        super(AdminCase, cls).setUpClass()  # skips AdminCase's registration, which needs a token now
        s = cls.server
        n = s.get(ADMIN + "/v1/register").json["nonce"]
        r = s.post(ADMIN + "/v1/register", {"nonce": n, "username": "root", "password": "root password",
                                            "admin": True, "mac": mac(n, "root", "root password", True)})
        assert r.status == 200, r
        cls.admin, cls.admin_id = r.json["access_token"], r.json["user_id"]

    def new_token(self, **body):
        return self.ok(self.server.post(ADMIN + "/v1/registration_tokens/new", body, token=self.admin))

    def token(self, name):
        return self.ok(self.get("/v1/registration_tokens/" + name))

    def register(self, username, token, password="a good password"):
        """The two steps of a token registration; returns the final response."""
        r = self.server.post(V3 + "/register", {"username": username, "password": password})
        self.assertEqual(r.status, 401, r)
        return self.server.post(V3 + "/register", {"auth": {"type": "m.login.registration_token", "token": token,
                                                             "session": r.json["session"]}})

    def test_create_show_change_delete(self):
        generated = self.new_token()
        self.assertEqual(len(generated["token"]), 16)
        self.assertEqual({k: v for k, v in generated.items() if k != "token"},
                         {"uses_allowed": None, "pending": 0, "completed": 0, "expiry_time": None})
        self.assertEqual(len(self.new_token(length=5)["token"]), 5)
        later = int(time.time() * 1000) + 3600_000
        t = self.new_token(token="crud-token_1.~", uses_allowed=2, expiry_time=later)
        self.assertEqual(t, {"token": "crud-token_1.~", "uses_allowed": 2, "pending": 0, "completed": 0,
                             "expiry_time": later})
        self.assertEqual(self.token("crud-token_1.~"), t)
        self.assertError(self.server.post(ADMIN + "/v1/registration_tokens/new", {"token": "crud-token_1.~"},
                                          token=self.admin), 400, "M_INVALID_PARAM")
        for body in ({"token": "has space"}, {"token": ""}, {"token": "x" * 65}, {"token": 5}, {"length": 0},
                     {"length": 65}, {"length": "8"}, {"uses_allowed": -1}, {"uses_allowed": "2"},
                     {"uses_allowed": 1.5}, {"expiry_time": 1000}):
            with self.subTest(body=body):
                self.assertError(self.server.post(ADMIN + "/v1/registration_tokens/new", body, token=self.admin),
                                 400, "M_INVALID_PARAM")
        self.assertError(self.server.post(ADMIN + "/v1/registration_tokens/new", [1], token=self.admin),
                         400, "M_BAD_JSON")

        path = ADMIN + "/v1/registration_tokens/crud-token_1.~"
        self.assertEqual(self.ok(self.server.put(path, {"uses_allowed": None}, token=self.admin))["uses_allowed"],
                         None)
        changed = self.ok(self.server.put(path, {"expiry_time": None, "uses_allowed": 0}, token=self.admin))
        self.assertEqual((changed["uses_allowed"], changed["expiry_time"]), (0, None))
        self.assertError(self.server.put(path, {"uses_allowed": -5}, token=self.admin), 400, "M_INVALID_PARAM")
        self.assertError(self.server.put(path, {"expiry_time": 5}, token=self.admin), 400, "M_INVALID_PARAM")

        valid = [t["token"] for t in self.ok(self.get("/v1/registration_tokens?valid=true"))["registration_tokens"]]
        invalid = [t["token"] for t in self.ok(self.get("/v1/registration_tokens?valid=false"))["registration_tokens"]]
        everything = [t["token"] for t in self.ok(self.get("/v1/registration_tokens"))["registration_tokens"]]
        self.assertIn(generated["token"], valid)
        self.assertIn("crud-token_1.~", invalid)  # no uses allowed
        self.assertNotIn("crud-token_1.~", valid)
        self.assertEqual(sorted(everything), sorted(valid + invalid))
        self.assertError(self.get("/v1/registration_tokens?valid=perhaps"), 400, "M_INVALID_PARAM")

        self.assertEqual(self.ok(self.server.delete(path, token=self.admin)), {})
        for method in ("GET", "PUT", "DELETE"):
            with self.subTest(method=method):
                self.assertError(self.server.request(method, path, body={} if method == "PUT" else None,
                                                     token=self.admin), 404, "M_NOT_FOUND")

    def test_register_with_token(self):
        self.new_token(token="once", uses_allowed=1)
        validity = V1 + "/register/m.login.registration_token/validity?token="
        self.assertEqual(self.ok(self.server.get(validity + "once")), {"valid": True})
        self.assertEqual(self.ok(self.server.get(validity + "never-made")), {"valid": False})
        self.assertError(self.server.get(V1 + "/register/m.login.registration_token/validity"), 400,
                         "M_MISSING_PARAM")

        r = self.server.post(V3 + "/register", {"username": "tokened", "password": "a good password"})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json["flows"], [{"stages": ["m.login.registration_token"]}])
        # Dummy auth is no longer enough; a wrong token is refused with the challenge.
        self.assertEqual(self.server.post(V3 + "/register", {"auth": {"type": "m.login.dummy",
                                                                      "session": r.json["session"]}}).status, 400)
        wrong = self.server.post(V3 + "/register", {"auth": {"type": "m.login.registration_token", "token": "nope",
                                                             "session": r.json["session"]}})
        self.assertEqual((wrong.status, wrong.errcode), (401, "M_UNAUTHORIZED"), wrong)
        self.assertEqual(wrong.json["completed"], [])
        self.assertError(self.server.post(V3 + "/register", {"auth": {"type": "m.login.registration_token",
                                                                      "session": r.json["session"]}}),
                         400, "M_MISSING_PARAM")
        done = self.server.post(V3 + "/register", {"auth": {"type": "m.login.registration_token", "token": "once",
                                                            "session": r.json["session"]}})
        self.assertEqual(done.status, 200, done)
        self.assertEqual(done.json["user_id"], "@tokened:test.local")
        self.assertEqual(self.whoami(done.json["access_token"]).status, 200)
        self.assertEqual(self.token("once"), {"token": "once", "uses_allowed": 1, "pending": 0, "completed": 1,
                                              "expiry_time": None})
        self.assertEqual(self.ok(self.server.get(validity + "once")), {"valid": False})
        again = self.register("tokened2", "once")
        self.assertEqual((again.status, again.errcode), (401, "M_UNAUTHORIZED"), again)

    def test_failed_registration_gives_the_use_back(self):
        self.new_token(token="retry", uses_allowed=1)
        # No password anywhere: the token stage passes, the registration fails, the use returns.
        r = self.server.post(V3 + "/register", {"username": "nopass"})
        r = self.server.post(V3 + "/register", {"auth": {"type": "m.login.registration_token", "token": "retry",
                                                         "session": r.json["session"]}})
        self.assertError(r, 400, "M_MISSING_PARAM")
        self.assertEqual(self.token("retry")["pending"], 0)
        self.assertEqual(self.register("withpass", "retry").status, 200)
        self.assertEqual(self.token("retry")["completed"], 1)

    def test_last_use_goes_to_one_registration(self):
        self.new_token(token="contested", uses_allowed=1)
        # Many registrations finish at once: exactly one gets the token.
        sessions = [self.server.post(V3 + "/register", {"username": f"racer_{i}", "password": "a good password"})
                    .json["session"] for i in range(6)]
        barrier = threading.Barrier(len(sessions))
        results = []

        def attempt(session):
            barrier.wait()
            results.append(self.server.post(V3 + "/register", {"auth": {
                "type": "m.login.registration_token", "token": "contested", "session": session}}).status)
        threads = [threading.Thread(target=attempt, args=(s,)) for s in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [200] + [401] * 5, results)
        self.assertEqual(self.token("contested"), {"token": "contested", "uses_allowed": 1, "pending": 0,
                                                   "completed": 1, "expiry_time": None})


class RegistrationTokenValidityClosed(ServerTestCase):
    extra_config = "enable_registration: false\n"

    def test_closed_registration(self):
        self.assertError(self.server.get(V1 + "/register/m.login.registration_token/validity?token=x"), 403,
                         "M_FORBIDDEN")


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

    def test_regtok(self):
        made = self.synadm_json("regtok", "new", "--token", "cli-token", "--uses-allowed", "3")
        self.assertEqual((made["token"], made["uses_allowed"], made["expiry_time"]), ("cli-token", 3, None))
        self.assertEqual(len(self.synadm_json("regtok", "new", "--length", "9")["token"]), 9)
        listed = self.synadm_json("regtok", "list", "--valid")
        self.assertIn("cli-token", [t["token"] for t in listed["registration_tokens"]])
        self.assertEqual(self.synadm_json("regtok", "details", "cli-token")["uses_allowed"], 3)
        self.assertEqual(self.synadm_json("regtok", "update", "cli-token", "--uses-allowed", "5")["uses_allowed"], 5)
        self.synadm("regtok", "delete", "cli-token")
        self.assertError(self.get("/v1/registration_tokens/cli-token"), 404, "M_NOT_FOUND")

    def test_room_delete_and_media(self):
        room = self.create("cli_owner", name="CLI doomed", preset="public_chat")
        r = self.server.request("POST", "/_matrix/media/v3/upload", raw=b"cli bytes", token=self.tok("cli_owner"),
                                headers={"Content-Type": "text/plain"})
        uri = r.json["content_uri"]
        self.send("cli_owner", room, content={"msgtype": "m.file", "body": "f", "url": uri})
        self.assertEqual(self.synadm_json("media", "list", "--room-id", room)["local"], [uri])
        media = self.synadm_json("media", "list", "--user-id", self.uid("cli_owner"))
        self.assertEqual([m["media_id"] for m in media["media"]], [uri.rsplit("/", 1)[1]])
        self.assertEqual(self.synadm_json("media", "delete", "--media-id", uri.rsplit("/", 1)[1])["total"], 1)
        # `room delete` prints the room's details and members first, then the answer.
        text, docs, decoder = self.synadm("room", "delete", room), [], json.JSONDecoder()
        i = text.find("{")
        while i != -1:
            doc, end = decoder.raw_decode(text, i)
            docs.append(doc)
            i = text.find("{", end)
        deleted = docs[-1]
        self.assertEqual(deleted["kicked_users"], [self.uid("cli_owner")])
        self.assertError(self.get(f"/v1/rooms/{q(room)}"), 404, "M_NOT_FOUND")


if __name__ == "__main__":
    main()
