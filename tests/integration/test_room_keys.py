"""Server-side key backups over HTTP (spec: client-server "Server-side key backups"): versions are
created, read, updated and deleted with the spec's errors; keys are stored, read and deleted at all
three levels with `etag` and `count`; the replacement rule decides between two keys of a session;
keys go only to the current backup (403 M_WRONG_ROOM_KEYS_VERSION naming it); malformed bodies are
400s, never 500s; concurrent creations and uploads lose nothing. Run all-in-one and on the split
placement (keys x2, user affinity)."""
import os
import random
import threading
import urllib.parse
import uuid

from harness import ServerTestCase, main

V3 = "/_matrix/client/v3"
ALG = "m.megolm_backup.v1.curve25519-aes-sha2"
ROOM = "!room:test.local"


def q(s):
    return urllib.parse.quote(s, safe="")


def key(index=0, forwarded=0, verified=False, tag="x"):
    return {"first_message_index": index, "forwarded_count": forwarded, "is_verified": verified,
            "session_data": {"ephemeral": "eph", "ciphertext": tag, "mac": "mac"}}


class RoomKeys(ServerTestCase):
    # ---- helpers ----
    def new_user(self):
        """A fresh user per test: backups are per user."""
        r = self.server.register("rk" + uuid.uuid4().hex[:10])
        return r["access_token"]

    def create(self, tok, auth_data=None, algorithm=ALG):
        r = self.server.post(f"{V3}/room_keys/version",
                             {"algorithm": algorithm, "auth_data": auth_data or {"public_key": "pk"}}, token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json["version"], str)
        return r.json["version"]

    @staticmethod
    def keys_path(version, room=None, session=None, prefix=V3):
        p = f"{prefix}/room_keys/keys"
        if room is not None:
            p += "/" + q(room)
        if session is not None:
            p += "/" + q(session)
        return p if version is None else p + "?version=" + q(version)

    def put_session(self, tok, version, room, session, body):
        return self.server.put(self.keys_path(version, room, session), body, token=tok)

    def version_info(self, tok, version=None):
        r = self.server.get(f"{V3}/room_keys/version" + ("" if version is None else "/" + q(version)), token=tok)
        self.assertEqual(r.status, 200, r)
        return r.json

    def assertUpdate(self, r, count):
        """A RoomKeysUpdateResponse; returns its etag."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"etag", "count"}, r)
        self.assertIsInstance(r.json["etag"], str)
        self.assertEqual(r.json["count"], count, r)
        return r.json["etag"]

    # ---- versions ----
    def test_versions_create_read_and_count_up(self):
        tok = self.new_user()
        self.assertError(self.server.get(f"{V3}/room_keys/version", token=tok), 404, "M_NOT_FOUND")
        self.assertEqual(self.create(tok, {"public_key": "one"}), "1")
        info = self.version_info(tok)
        self.assertEqual(info, {"algorithm": ALG, "auth_data": {"public_key": "one"}, "count": 0,
                                "etag": info["etag"], "version": "1"})
        self.assertIsInstance(info["etag"], str)
        self.assertEqual(self.version_info(tok, "1"), info)
        # The newest backup is the current one; older ones stay readable.
        self.assertEqual(self.create(tok, {"public_key": "two"}), "2")
        self.assertEqual(self.version_info(tok)["version"], "2")
        self.assertEqual(self.version_info(tok, "1")["auth_data"], {"public_key": "one"})
        # Versions that were never handed out, in any spelling.
        for v in ("3", "0", "01", "abc", "-1"):
            self.assertError(self.server.get(f"{V3}/room_keys/version/{q(v)}", token=tok), 404, "M_NOT_FOUND")
        # Backups are per user.
        other = self.new_user()
        self.assertError(self.server.get(f"{V3}/room_keys/version", token=other), 404, "M_NOT_FOUND")
        self.assertError(self.server.get(f"{V3}/room_keys/version/1", token=other), 404, "M_NOT_FOUND")
        self.assertEqual(self.create(other), "1")
        # The legacy and unstable prefixes reach the same endpoints.
        for prefix in ("/_matrix/client/r0", "/_matrix/client/unstable"):
            r = self.server.get(f"{prefix}/room_keys/version", token=tok)
            self.assertEqual(r.json["version"], "2", r)
        self.assertEqual(self.server.get(f"{V3}/room_keys/version").status, 401)

    def test_update_version(self):
        tok = self.new_user()
        v = self.create(tok)
        etag = self.version_info(tok, v)["etag"]
        r = self.server.put(f"{V3}/room_keys/version/{v}", {"algorithm": ALG, "auth_data": {"public_key": "new"}},
                            token=tok)
        self.assertEqual((r.status, r.json), (200, {}), r)
        r = self.server.put(f"{V3}/room_keys/version/{v}",
                            {"algorithm": ALG, "auth_data": {"public_key": "newer"}, "version": v}, token=tok)
        self.assertEqual(r.status, 200, r)
        info = self.version_info(tok, v)
        self.assertEqual(info["auth_data"], {"public_key": "newer"})
        self.assertEqual(info["etag"], etag)  # the etag is about keys, not auth_data
        # Only auth_data may change.
        self.assertError(self.server.put(f"{V3}/room_keys/version/{v}",
                                         {"algorithm": "org.example.other", "auth_data": {}}, token=tok),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.put(f"{V3}/room_keys/version/{v}",
                                         {"algorithm": ALG, "auth_data": {}, "version": "2"}, token=tok),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.put(f"{V3}/room_keys/version/{v}", {"algorithm": ALG}, token=tok),
                         400, "M_MISSING_PARAM")
        self.assertError(self.server.put(f"{V3}/room_keys/version/{v}", {"algorithm": ALG, "auth_data": []},
                                         token=tok), 400, "M_BAD_JSON")
        self.assertError(self.server.put(f"{V3}/room_keys/version/{v}",
                                         {"algorithm": ALG, "auth_data": {}, "version": 1}, token=tok),
                         400, "M_BAD_JSON")
        self.assertError(self.server.put(f"{V3}/room_keys/version/9", {"algorithm": ALG, "auth_data": {}}, token=tok),
                         404, "M_NOT_FOUND")
        self.assertEqual(self.version_info(tok, v)["auth_data"], {"public_key": "newer"})  # refusals changed nothing

    def test_delete_version(self):
        tok = self.new_user()
        self.create(tok)
        v2 = self.create(tok)
        self.assertUpdate(self.put_session(tok, v2, ROOM, "s1", key()), 1)
        r = self.server.delete(f"{V3}/room_keys/version/{v2}", token=tok)
        self.assertEqual((r.status, r.json), (200, {}), r)
        self.assertError(self.server.get(f"{V3}/room_keys/version/{v2}", token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.get(self.keys_path(v2), token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.put(f"{V3}/room_keys/version/{v2}", {"algorithm": ALG, "auth_data": {}},
                                         token=tok), 404, "M_NOT_FOUND")
        # Its keys are gone with it, not merely hidden.
        uid = self.server.get(f"{V3}/account/whoami", token=tok).json["user_id"]
        self.assertEqual(self.server.sql(f"SELECT COUNT(*) FROM room_keys WHERE user_id = '{uid}'"), [("0",)])
        # Deleting it again succeeds (the spec: "previously deleted"); one never created is 404.
        self.assertEqual(self.server.delete(f"{V3}/room_keys/version/{v2}", token=tok).status, 200)
        self.assertError(self.server.delete(f"{V3}/room_keys/version/7", token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.delete(f"{V3}/room_keys/version/abc", token=tok), 404, "M_NOT_FOUND")
        # The newest backup left is current again; a new one never takes a deleted number.
        self.assertEqual(self.version_info(tok)["version"], "1")
        self.assertEqual(self.create(tok), "3")
        # Once all are deleted there is no current backup.
        for v in ("1", "3"):
            self.assertEqual(self.server.delete(f"{V3}/room_keys/version/{v}", token=tok).status, 200)
        self.assertError(self.server.get(f"{V3}/room_keys/version", token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.put_session(tok, "3", ROOM, "s1", key()), 404, "M_NOT_FOUND")

    def test_no_backup_at_all(self):
        tok = self.new_user()
        self.assertError(self.put_session(tok, "1", ROOM, "s", key()), 404, "M_NOT_FOUND")
        self.assertError(self.server.put(self.keys_path("1"), {"rooms": {}}, token=tok), 404, "M_NOT_FOUND")
        for path in (self.keys_path("1"), self.keys_path("1", ROOM), self.keys_path("1", ROOM, "s")):
            self.assertError(self.server.get(path, token=tok), 404, "M_NOT_FOUND")
            self.assertError(self.server.delete(path, token=tok), 404, "M_NOT_FOUND")

    # ---- keys ----
    def test_keys_at_three_levels(self):
        tok = self.new_user()
        v = self.create(tok)
        # An empty backup, room or missing session.
        self.assertEqual(self.server.get(self.keys_path(v), token=tok).json, {"rooms": {}})
        self.assertEqual(self.server.get(self.keys_path(v, ROOM), token=tok).json, {"sessions": {}})
        self.assertError(self.server.get(self.keys_path(v, ROOM, "s1"), token=tok), 404, "M_NOT_FOUND")

        self.assertUpdate(self.put_session(tok, v, ROOM, "s1", key(tag="a")), 1)
        self.assertUpdate(self.server.put(self.keys_path(v, ROOM), {"sessions": {"s2": key(tag="b")}}, token=tok), 2)
        other_room = "!other:test.local"
        self.assertUpdate(self.server.put(self.keys_path(v), {"rooms": {
            other_room: {"sessions": {"s1": key(3, 1, True, "c"), "s3": key(tag="d")}},
            ROOM: {"sessions": {}}}}, token=tok), 4)

        self.assertEqual(self.server.get(self.keys_path(v, ROOM, "s1"), token=tok).json, key(tag="a"))
        self.assertEqual(self.server.get(self.keys_path(v, other_room, "s1"), token=tok).json, key(3, 1, True, "c"))
        self.assertEqual(self.server.get(self.keys_path(v, ROOM), token=tok).json,
                         {"sessions": {"s1": key(tag="a"), "s2": key(tag="b")}})
        self.assertEqual(self.server.get(self.keys_path(v), token=tok).json, {"rooms": {
            ROOM: {"sessions": {"s1": key(tag="a"), "s2": key(tag="b")}},
            other_room: {"sessions": {"s1": key(3, 1, True, "c"), "s3": key(tag="d")}}}})
        self.assertEqual(self.server.get(self.keys_path(v, "!nothing:test.local"), token=tok).json, {"sessions": {}})
        self.assertError(self.server.get(self.keys_path(v, ROOM, "s3"), token=tok), 404, "M_NOT_FOUND")
        self.assertEqual(self.version_info(tok)["count"], 4)
        # Ids that need encoding (a '/' in a session id) stay whole.
        self.assertUpdate(self.put_session(tok, v, ROOM, "a/b+c=", key(tag="slash")), 5)
        r = self.server.get(self.keys_path(v, ROOM, "a/b+c="), token=tok)
        self.assertEqual(r.json["session_data"]["ciphertext"], "slash", r)
        # A room version 12 room id has no server part.
        self.assertUpdate(self.put_session(tok, v, "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM", "s", key()), 6)

        # Deleting, narrowest first; each answers etag and the count left.
        self.assertUpdate(self.server.delete(self.keys_path(v, ROOM, "s1"), token=tok), 5)
        self.assertError(self.server.get(self.keys_path(v, ROOM, "s1"), token=tok), 404, "M_NOT_FOUND")
        self.assertUpdate(self.server.delete(self.keys_path(v, other_room), token=tok), 3)
        self.assertEqual(self.server.get(self.keys_path(v, other_room), token=tok).json, {"sessions": {}})
        self.assertUpdate(self.server.delete(self.keys_path(v), token=tok), 0)
        self.assertEqual(self.server.get(self.keys_path(v), token=tok).json, {"rooms": {}})

    def test_etag_follows_the_keys(self):
        tok = self.new_user()
        v = self.create(tok)
        e0 = self.version_info(tok)["etag"]
        e1 = self.assertUpdate(self.put_session(tok, v, ROOM, "s", key(5, 0, False, "first")), 1)
        self.assertNotEqual(e1, e0)
        self.assertEqual(self.version_info(tok)["etag"], e1)
        # A key the rule refuses changes nothing, so neither does the etag.
        self.assertEqual(self.assertUpdate(self.put_session(tok, v, ROOM, "s", key(6, 0, False, "worse")), 1), e1)
        self.assertEqual(self.assertUpdate(self.server.put(self.keys_path(v), {"rooms": {}}, token=tok), 1), e1)
        e2 = self.assertUpdate(self.put_session(tok, v, ROOM, "s", key(4, 0, False, "better")), 1)
        self.assertNotIn(e2, (e0, e1))
        # Deleting keys moves it; deleting nothing does not.
        self.assertEqual(self.assertUpdate(self.server.delete(self.keys_path(v, ROOM, "nope"), token=tok), 1), e2)
        e3 = self.assertUpdate(self.server.delete(self.keys_path(v, ROOM, "s"), token=tok), 0)
        self.assertNotIn(e3, (e0, e1, e2))
        info = self.version_info(tok)
        self.assertEqual((info["etag"], info["count"]), (e3, 0))

    def test_replacement_rule(self):
        tok = self.new_user()
        v = self.create(tok)

        def stored():
            return self.server.get(self.keys_path(v, ROOM, "s"), token=tok).json["session_data"]["ciphertext"]

        self.put_session(tok, v, ROOM, "s", key(5, 2, False, "start"))
        steps = [  # (uploaded key, what is stored afterwards)
            (key(6, 0, False, "higher index"), "start"),
            (key(5, 3, False, "more forwards"), "start"),
            (key(5, 2, False, "tie"), "start"),
            (key(5, 1, False, "fewer forwards"), "fewer forwards"),
            (key(4, 9, False, "lower index"), "lower index"),
            (key(9, 9, True, "verified"), "verified"),
            (key(0, 0, False, "unverified, index 0"), "verified"),
            (key(8, 0, True, "verified, lower index"), "verified, lower index"),
        ]
        for body, expected in steps:
            with self.subTest(upload=body["session_data"]["ciphertext"]):
                self.assertUpdate(self.put_session(tok, v, ROOM, "s", body), 1)
                self.assertEqual(stored(), expected)
        # The same rule applies within a batch upload.
        self.server.put(self.keys_path(v), {"rooms": {ROOM: {"sessions": {"s": key(8, 5, True, "batch worse")}}}},
                        token=tok)
        self.assertEqual(stored(), "verified, lower index")

    def test_keys_only_to_the_current_backup(self):
        tok = self.new_user()
        old = self.create(tok)
        self.assertUpdate(self.put_session(tok, old, ROOM, "s", key(tag="old")), 1)
        current = self.create(tok)
        for version in (old, "99", "abc"):
            for r in (self.put_session(tok, version, ROOM, "s", key()),
                      self.server.put(self.keys_path(version, ROOM), {"sessions": {"s": key()}}, token=tok),
                      self.server.put(self.keys_path(version), {"rooms": {ROOM: {"sessions": {"s": key()}}}},
                                      token=tok)):
                self.assertError(r, 403, "M_WRONG_ROOM_KEYS_VERSION")
                self.assertEqual(r.json["current_version"], current, r)
        # The old backup can still be read and pruned.
        self.assertEqual(self.server.get(self.keys_path(old, ROOM, "s"), token=tok).json["session_data"]["ciphertext"],
                         "old")
        self.assertUpdate(self.server.delete(self.keys_path(old), token=tok), 0)
        self.assertEqual(self.version_info(tok, current)["count"], 0)  # nothing leaked into the current one
        # `version` is required everywhere.
        for method in ("GET", "PUT", "DELETE"):
            body = key() if method == "PUT" else None
            self.assertError(self.server.request(method, self.keys_path(None, ROOM, "s"), body=body, token=tok),
                             400, "M_MISSING_PARAM")

    def test_bad_bodies(self):
        tok = self.new_user()
        v = self.create(tok)
        session = self.keys_path(v, ROOM, "s")

        def without(field):
            b = key()
            del b[field]
            return b

        def with_(field, value):
            b = key()
            b[field] = value
            return b

        cases = [
            (session, None, b"not json", 400, "M_NOT_JSON"),
            (session, [1], None, 400, "M_BAD_JSON"),
            (session, without("first_message_index"), None, 400, "M_MISSING_PARAM"),
            (session, without("forwarded_count"), None, 400, "M_MISSING_PARAM"),
            (session, without("is_verified"), None, 400, "M_MISSING_PARAM"),
            (session, without("session_data"), None, 400, "M_MISSING_PARAM"),
            (session, with_("first_message_index", "1"), None, 400, "M_BAD_JSON"),
            (session, with_("forwarded_count", 0.5), None, 400, "M_BAD_JSON"),
            (session, with_("is_verified", "yes"), None, 400, "M_BAD_JSON"),
            (session, with_("session_data", "opaque"), None, 400, "M_BAD_JSON"),
            (session, with_("first_message_index", -1), None, 400, "M_INVALID_PARAM"),
            (self.keys_path(v, "not-a-room", "s"), key(), None, 400, "M_INVALID_PARAM"),
            (self.keys_path(v, ROOM, ""), key(), None, 400, "M_INVALID_PARAM"),
            (self.keys_path(v, ROOM), {}, None, 400, "M_MISSING_PARAM"),
            (self.keys_path(v, ROOM), {"sessions": []}, None, 400, "M_BAD_JSON"),
            (self.keys_path(v, ROOM), {"sessions": {"s": 1}}, None, 400, "M_BAD_JSON"),
            (self.keys_path(v), {}, None, 400, "M_MISSING_PARAM"),
            (self.keys_path(v), {"rooms": []}, None, 400, "M_BAD_JSON"),
            (self.keys_path(v), {"rooms": {ROOM: []}}, None, 400, "M_BAD_JSON"),
            (self.keys_path(v), {"rooms": {"bad": {"sessions": {}}}}, None, 400, "M_INVALID_PARAM"),
            # One bad key refuses the whole batch, the good ones with it.
            (self.keys_path(v), {"rooms": {ROOM: {"sessions": {"good": key(), "bad": without("is_verified")}}}},
             None, 400, "M_MISSING_PARAM"),
        ]
        for path, body, raw, status, errcode in cases:
            with self.subTest(path=path, body=body, raw=raw):
                self.assertError(self.server.request("PUT", path, body=body, raw=raw, token=tok), status, errcode)
        self.assertEqual(self.server.get(self.keys_path(v), token=tok).json, {"rooms": {}})
        self.assertEqual(self.version_info(tok)["count"], 0)

        version_cases = [
            ({"auth_data": {}}, 400, "M_MISSING_PARAM"),
            ({"algorithm": ALG}, 400, "M_MISSING_PARAM"),
            ({"algorithm": 5, "auth_data": {}}, 400, "M_BAD_JSON"),
            ({"algorithm": ALG, "auth_data": "pk"}, 400, "M_BAD_JSON"),
            ({"algorithm": "", "auth_data": {}}, 400, "M_INVALID_PARAM"),
            ([ALG], 400, "M_BAD_JSON"),
        ]
        for body, status, errcode in version_cases:
            with self.subTest(body=body):
                self.assertError(self.server.post(f"{V3}/room_keys/version", body, token=tok), status, errcode)
        self.assertError(self.server.post(f"{V3}/room_keys/version", raw=b"{", token=tok), 400, "M_NOT_JSON")
        self.assertEqual(self.version_info(tok)["version"], v)  # no backup was made by any of them

    def test_concurrent_creations_and_uploads(self):
        tok = self.new_user()
        out, threads = [], []

        def create():
            out.append(self.server.post(f"{V3}/room_keys/version", {"algorithm": ALG, "auth_data": {}}, token=tok))

        for _ in range(4):
            threads.append(threading.Thread(target=create))
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual([r.status for r in out], [200] * 4, out)
        self.assertEqual(sorted(r.json["version"] for r in out), ["1", "2", "3", "4"])

        # Uploads of distinct sessions at once: every key and every etag step lands.
        v = self.version_info(tok)["version"]
        e0 = int(self.version_info(tok)["etag"])
        results, threads = [], []

        def upload(i):
            body = {"rooms": {ROOM: {"sessions": {f"s{i}_{j}": key(tag=str(i)) for j in range(5)}}}}
            results.append(self.server.put(self.keys_path(v), body, token=tok))

        for i in range(6):
            threads.append(threading.Thread(target=upload, args=(i,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual([r.status for r in results], [200] * 6, results)
        info = self.version_info(tok)
        self.assertEqual(info["count"], 30)
        self.assertEqual(int(info["etag"]), e0 + 6)  # Myelin's etag counts changes; no increment lost
        self.assertEqual(sorted(r.json["count"] for r in results), [5, 10, 15, 20, 25, 30])

    def test_concurrent_uploads_of_the_same_sessions(self):
        """The rule holds under concurrency: each upload reads and writes a session under the
        backup's lock, so the best key wins whatever order the uploads run in."""
        tok = self.new_user()
        v = self.create(tok)
        rng = random.Random(7)
        sessions = [f"s{j}" for j in range(40)]
        uploads = [{s: rng.randrange(1000) for s in sessions} for _ in range(6)]
        results, threads = [], []

        def upload(indexes):
            body = {"rooms": {ROOM: {"sessions": {s: key(i, tag=str(i)) for s, i in indexes.items()}}}}
            results.append(self.server.put(self.keys_path(v), body, token=tok))

        for indexes in uploads:
            threads.append(threading.Thread(target=upload, args=(indexes,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual([r.status for r in results], [200] * 6, results)
        stored = self.server.get(self.keys_path(v, ROOM), token=tok).json["sessions"]
        self.assertEqual({s: k["first_message_index"] for s, k in stored.items()},
                         {s: min(u[s] for u in uploads) for s in sessions})

    def test_survives_restart(self):
        tok = self.new_user()
        v = self.create(tok, {"public_key": "kept"})
        etag = self.assertUpdate(self.put_session(tok, v, ROOM, "s", key(tag="kept")), 1)
        self.assertEqual(self.server.stop(), 0)
        self.server.start()
        info = self.version_info(tok)
        self.assertEqual((info["version"], info["auth_data"], info["etag"], info["count"]),
                         (v, {"public_key": "kept"}, etag, 1))
        self.assertEqual(self.server.get(self.keys_path(v, ROOM, "s"), token=tok).json, key(tag="kept"))


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class RoomKeysSplit(RoomKeys):
    """The same on configs/placement-split.yaml: keys x2 (user affinity), every endpoint answered by
    a keys instance."""
    placement = SPLIT

    def test_answered_by_the_keys_group(self):
        tok = self.new_user()
        r = self.server.get(f"{V3}/room_keys/version", token=tok)
        self.assertTrue(r.headers["x-myelin-instance"].startswith("keys/"), r.headers)
        r = self.server.put(self.keys_path("1", ROOM, "s"), key(), token=tok)
        self.assertTrue(r.headers["x-myelin-instance"].startswith("keys/"), r.headers)


if __name__ == "__main__":
    main()
