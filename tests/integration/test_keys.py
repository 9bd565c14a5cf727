"""End-to-end encryption keys over HTTP: /keys/upload (signature-checked device keys, one-time and
fallback keys, counts), /keys/query (cross-signing keys and who sees which signatures, failures
for remote servers), /keys/claim (one-time keys first, then the fallback key; never the same key
twice, also under concurrent claims), /keys/changes and device_lists in /sync (long-polls woken),
cross-signing uploads with UIA, /keys/signatures/upload with verification, and device deletion
taking keys, to-device messages and tokens with it. Every suite also runs on the split placement."""
import json
import os
import threading
import time
import urllib.parse

from e2e_helpers import CrossSigningKey, Device, add_signature
from harness import ServerTestCase, main
from room_helpers import RoomClient, V3, q

PASSWORD = "correct horse battery"


class KeysClient(RoomClient):
    # Presence would wake long-polls with the syncing user's own presence; it is not tested here.
    extra_config = RoomClient.extra_config + "presence:\n  enabled: false\n"

    def new_device(self, name):
        """Logs `name` in on a new device; returns a Device with real keys."""
        self.user(name)
        r = self.server.login(name)
        self.assertEqual(r.status, 200, r)
        return Device(r.json["user_id"], r.json["device_id"], r.json["access_token"])

    def upload(self, dev, body, expect=200):
        r = self.server.post(f"{V3}/keys/upload", body, token=dev.token)
        self.assertEqual(r.status, expect, r)
        return r

    def upload_device(self, dev, one_time=0):
        body = {"device_keys": dev.device_keys()}
        if one_time:
            body["one_time_keys"] = dev.one_time_keys(one_time)
        return self.upload(dev, body).json

    def query(self, token, users):
        r = self.server.post(f"{V3}/keys/query", {"device_keys": users}, token=token)
        self.assertEqual(r.status, 200, r)
        return r.json

    def claim(self, token, wanted):
        r = self.server.post(f"{V3}/keys/claim", {"one_time_keys": wanted}, token=token)
        self.assertEqual(r.status, 200, r)
        return r.json

    def sync(self, token, since=None, timeout=None):
        params = {}
        if since:
            params["since"] = since
        if timeout is not None:
            params["timeout"] = str(timeout)
        r = self.server.get(f"{V3}/sync?" + urllib.parse.urlencode(params), token=token)
        self.assertEqual(r.status, 200, r)
        return r.json

    def shared_room(self, *names):
        room = self.create(names[0])
        for n in names[1:]:
            self.invite(names[0], room, n)
            self.join(n, room)
        return room

    def uia_body(self, name, session=None, **fields):
        auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": name}, "password": PASSWORD}
        if session:
            auth["session"] = session
        return dict(fields, auth=auth)


class Keys(KeysClient, ServerTestCase):
    # ---- upload and query ----
    def test_upload_and_query_device_keys(self):
        dev = self.new_device("ann")
        counts = self.upload_device(dev, one_time=5)
        self.assertEqual(counts["one_time_key_counts"], {"signed_curve25519": 5})
        # Uploading nothing returns the counts too (clients poll this way).
        self.assertEqual(self.upload(dev, {}).json["one_time_key_counts"], {"signed_curve25519": 5})

        r = self.server.put(f"{V3}/devices/{q(dev.device_id)}", {"display_name": "Ann's laptop"}, token=dev.token)
        self.assertEqual(r.status, 200, r)
        other = self.tok("ben")
        got = self.query(other, {dev.user_id: [], "@nobody:test.local": [], "@x:remote.example": []})
        keys = got["device_keys"][dev.user_id][dev.device_id]
        self.assertEqual(keys["keys"][f"ed25519:{dev.device_id}"], dev.ed25519)
        self.assertEqual(keys["unsigned"], {"device_display_name": "Ann's laptop"})
        self.assertIn(f"ed25519:{dev.device_id}", keys["signatures"][dev.user_id])
        self.assertEqual(got["device_keys"]["@nobody:test.local"], {})
        self.assertIn("remote.example", got["failures"])
        # Asking for named devices only.
        got = self.query(other, {dev.user_id: ["NOSUCHDEVICE"]})
        self.assertEqual(got["device_keys"][dev.user_id], {})
        got = self.query(other, {dev.user_id: [dev.device_id]})
        self.assertEqual(list(got["device_keys"][dev.user_id]), [dev.device_id])

    def test_bad_device_keys_are_refused_and_nothing_is_stored(self):
        dev = self.new_device("cat")
        keys = dev.device_keys()
        sig_id = f"ed25519:{dev.device_id}"
        tampered = json.loads(json.dumps(keys))
        tampered["algorithms"] = ["m.megolm.v1.aes-sha2"]  # signature no longer covers this
        self.assertError(self.upload(dev, {"device_keys": tampered}, 400), 400, "M_INVALID_SIGNATURE")
        forged = json.loads(json.dumps(keys))
        forged["signatures"][dev.user_id][sig_id] = "A" * 86
        self.assertError(self.upload(dev, {"device_keys": forged}, 400), 400, "M_INVALID_SIGNATURE")
        unsigned = {k: v for k, v in keys.items() if k != "signatures"}
        self.assertError(self.upload(dev, {"device_keys": unsigned}, 400), 400, "M_INVALID_SIGNATURE")
        other_user = dict(keys, user_id="@someone:test.local")
        self.assertError(self.upload(dev, {"device_keys": other_user}, 400), 400, "M_INVALID_PARAM")
        other_device = dict(keys, device_id="OTHER")
        self.assertError(self.upload(dev, {"device_keys": other_device}, 400), 400, "M_INVALID_PARAM")
        self.assertError(self.upload(dev, {"device_keys": "nope"}, 400), 400, "M_BAD_JSON")
        self.assertError(self.upload(dev, {"device_keys": dict(keys, keys=[])}, 400), 400, "M_BAD_JSON")
        self.assertError(self.upload(dev, {"one_time_keys": {"no-colon": "x"}}, 400), 400, "M_BAD_JSON")
        self.assertError(self.upload(dev, {"one_time_keys": {"signed_curve25519:A": 5}}, 400), 400, "M_BAD_JSON")
        self.assertError(self.upload(dev, {"one_time_keys": {"signed_curve25519:A": {"key": 1.5}}}, 400),
                         400, "M_BAD_JSON")
        # A bad part refuses the whole upload: good one-time keys sent with bad device keys are not kept.
        r = self.upload(dev, {"device_keys": forged, "one_time_keys": dev.one_time_keys(2)}, 400)
        self.assertError(r, 400, "M_INVALID_SIGNATURE")
        self.assertEqual(self.query(self.tok("ben"), {dev.user_id: []})["device_keys"][dev.user_id], {})
        self.assertEqual(self.upload(dev, {}).json["one_time_key_counts"], {"signed_curve25519": 0})
        r = self.server.post(f"{V3}/keys/upload", raw=b"{not json", token=dev.token)
        self.assertError(r, 400, "M_NOT_JSON")
        r = self.server.post(f"{V3}/keys/upload", {})
        self.assertError(r, 401, "M_MISSING_TOKEN")

    def test_one_time_key_ids_are_not_reused_with_other_content(self):
        dev = self.new_device("dan")
        otks = dev.one_time_keys(1)
        self.assertEqual(self.upload(dev, {"one_time_keys": otks}).json["one_time_key_counts"]["signed_curve25519"], 1)
        # The same key again is harmless (a retried request) ...
        self.assertEqual(self.upload(dev, {"one_time_keys": otks}).json["one_time_key_counts"]["signed_curve25519"], 1)
        # ... another key under the same id is refused.
        key_id = next(iter(otks))
        changed = {key_id: dev.sign({"key": "AAAA" + otks[key_id]["key"][4:]})}
        self.assertError(self.upload(dev, {"one_time_keys": changed}, 400), 400, "M_INVALID_PARAM")

    def test_query_and_claim_input_errors(self):
        t = self.tok("ben")
        self.assertError(self.server.post(f"{V3}/keys/query", {}, token=t), 400, "M_MISSING_PARAM")
        self.assertError(self.server.post(f"{V3}/keys/query", {"device_keys": []}, token=t), 400, "M_BAD_JSON")
        self.assertError(self.server.post(f"{V3}/keys/query", {"device_keys": {"not-a-user": []}}, token=t),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.post(f"{V3}/keys/query", {"device_keys": {self.uid("ben"): "x"}}, token=t),
                         400, "M_BAD_JSON")
        self.assertError(self.server.post(f"{V3}/keys/claim", {}, token=t), 400, "M_MISSING_PARAM")
        self.assertError(self.server.post(f"{V3}/keys/claim", {"one_time_keys": {self.uid("ben"): ["x"]}}, token=t),
                         400, "M_BAD_JSON")
        self.assertError(self.server.post(f"{V3}/keys/claim", {"one_time_keys": {self.uid("ben"): {"D": 1}}},
                                          token=t), 400, "M_BAD_JSON")
        self.assertError(self.server.get(f"{V3}/keys/changes?to=m1", token=t), 400, "M_MISSING_PARAM")
        self.assertError(self.server.get(f"{V3}/keys/changes?from=garbage&to=garbage", token=t), 400, "M_INVALID_PARAM")

    # ---- claim ----
    def test_claim_one_time_keys_then_fallback(self):
        dev = self.new_device("eve")
        otks = dev.one_time_keys(2)
        fallback = dev.fallback_key()
        self.upload(dev, {"device_keys": dev.device_keys(), "one_time_keys": otks, "fallback_keys": fallback})
        body = self.sync(dev.token)
        self.assertEqual(body["device_one_time_keys_count"], {"signed_curve25519": 2})
        self.assertEqual(body["device_unused_fallback_key_types"], ["signed_curve25519"])

        t = self.tok("ben")
        wanted = {dev.user_id: {dev.device_id: "signed_curve25519", "NOSUCHDEVICE": "signed_curve25519"},
                  "@z:remote.example": {"D": "signed_curve25519"}}
        got = []
        for _ in range(3):
            r = self.claim(t, wanted)
            self.assertIn("remote.example", r["failures"])
            self.assertEqual(list(r["one_time_keys"][dev.user_id]), [dev.device_id])
            got.append(r["one_time_keys"][dev.user_id][dev.device_id])
        self.assertEqual(sorted(next(iter(k)) for k in got[:2]), sorted(otks))
        self.assertEqual(got[2], fallback)  # same key id and signed content
        # The fallback key stays (marked used) and is handed out again.
        self.assertEqual(self.claim(t, wanted)["one_time_keys"][dev.user_id][dev.device_id], got[2])
        body = self.sync(dev.token)
        self.assertEqual(body["device_one_time_keys_count"], {"signed_curve25519": 0})
        self.assertEqual(body["device_unused_fallback_key_types"], [])
        # A new fallback key is unused again.
        self.upload(dev, {"fallback_keys": dev.fallback_key("FALLBACK2")})
        self.assertEqual(self.sync(dev.token)["device_unused_fallback_key_types"], ["signed_curve25519"])

    def test_concurrent_claims_never_hand_out_a_key_twice(self):
        dev = self.new_device("fay")
        self.upload(dev, {"device_keys": dev.device_keys(), "one_time_keys": dev.one_time_keys(40)})
        t = self.tok("ben")
        claimed, errors = [], []
        lock = threading.Lock()

        def worker():
            try:
                for _ in range(5):
                    r = self.server.post(f"{V3}/keys/claim",
                                         {"one_time_keys": {dev.user_id: {dev.device_id: "signed_curve25519"}}},
                                         token=t)
                    with lock:
                        if r.status != 200:
                            errors.append(r)
                        for key_id in r.json["one_time_keys"].get(dev.user_id, {}).get(dev.device_id, {}):
                            claimed.append(key_id)
            except Exception as e:  # noqa: BLE001 — reported below
                with lock:
                    errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(12)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(claimed), 40)  # 60 claims for 40 keys, no fallback key
        self.assertEqual(len(set(claimed)), 40)

    # ---- device lists ----
    def test_device_list_changes_reach_room_members_only(self):
        ann, ben = self.new_device("gus"), self.new_device("hal")
        self.shared_room("gus", "hal")
        outsider = self.new_device("ian")
        since_ben = self.sync(ben.token)["next_batch"]
        since_out = self.sync(outsider.token)["next_batch"]
        self.upload_device(ann)
        body = self.sync(ben.token, since_ben)
        self.assertIn(ann.user_id, body["device_lists"]["changed"])
        self.assertNotIn(ann.user_id, self.sync(outsider.token, since_out)["device_lists"]["changed"])
        r = self.server.get(f"{V3}/keys/changes?from={q(since_ben)}&to={q(body['next_batch'])}", token=ben.token)
        self.assertEqual(r.status, 200, r)
        self.assertIn(ann.user_id, r.json["changed"])
        # Nothing new: no change reported again.
        self.assertNotIn(ann.user_id, self.sync(ben.token, body["next_batch"])["device_lists"]["changed"])

        # A new device (login) and a renamed one are changes too.
        since_ben = body["next_batch"]
        self.new_device("gus")
        body = self.sync(ben.token, since_ben)
        self.assertIn(ann.user_id, body["device_lists"]["changed"])

    def test_joining_and_leaving_change_device_lists(self):
        a, b = self.new_device("jay"), self.new_device("kim")
        room = self.create("jay")
        since_a = self.sync(a.token)["next_batch"]
        since_b = self.sync(b.token)["next_batch"]
        self.invite("jay", room, "kim")
        self.join("kim", room)
        self.assertIn(b.user_id, self.sync(a.token, since_a)["device_lists"]["changed"])
        body = self.sync(b.token, since_b)
        self.assertIn(a.user_id, body["device_lists"]["changed"])

        since_a = self.sync(a.token)["next_batch"]
        self.leave("kim", room)
        body = self.sync(a.token, since_a)
        self.assertIn(b.user_id, body["device_lists"]["left"])
        self.assertNotIn(b.user_id, body["device_lists"]["changed"])

    def test_key_change_wakes_a_long_poll(self):
        a, b = self.new_device("lee"), self.new_device("max")
        self.shared_room("lee", "max")
        since = self.sync(b.token)["next_batch"]
        out = {}

        def poll():
            start = time.monotonic()
            out["body"] = self.sync(b.token, since, timeout=20000)
            out["took"] = time.monotonic() - start

        th = threading.Thread(target=poll)
        th.start()
        time.sleep(0.5)
        self.upload_device(a)
        th.join(30)
        self.assertIn(a.user_id, out["body"]["device_lists"]["changed"])
        self.assertLess(out["took"], 10)

    def test_deleting_a_device_removes_keys_messages_and_tokens(self):
        keep, gone = self.new_device("ned"), self.new_device("ned")
        watcher = self.new_device("oli")
        self.shared_room("ned", "oli")
        self.upload_device(gone, one_time=3)
        r = self.server.put(f"{V3}/sendToDevice/m.test/t1",
                            {"messages": {gone.user_id: {gone.device_id: {"n": 1}}}}, token=watcher.token)
        self.assertEqual(r.status, 200, r)
        since = self.sync(watcher.token)["next_batch"]

        path = f"{V3}/devices/{q(gone.device_id)}"
        r = self.server.delete(path, {}, token=keep.token)
        self.assertEqual(r.status, 401, r)
        self.assertIn({"stages": ["m.login.password"]}, r.json["flows"])
        r = self.server.delete(path, self.uia_body("ned", r.json["session"]), token=keep.token)
        self.assertEqual(r.status, 200, r)

        self.assertEqual(self.query(watcher.token, {gone.user_id: []})["device_keys"][gone.user_id], {})
        claimed = self.claim(watcher.token, {gone.user_id: {gone.device_id: "signed_curve25519"}})
        self.assertEqual(claimed["one_time_keys"], {})
        self.assertIn(gone.user_id, self.sync(watcher.token, since)["device_lists"]["changed"])
        self.assertError(self.server.get(f"{V3}/account/whoami", token=gone.token), 401, "M_UNKNOWN_TOKEN")
        for table in ("device_inbox", "e2e_one_time_keys", "e2e_device_keys"):
            rows = self.server.sql(f"SELECT COUNT(*) FROM {table} WHERE user_id = '{gone.user_id}' "
                                   f"AND device_id = '{gone.device_id}'")
            self.assertEqual(rows[0][0], "0", table)

    def test_logout_removes_the_device_keys(self):
        dev = self.new_device("pam")
        self.upload_device(dev, one_time=2)
        r = self.server.post(f"{V3}/logout", {}, token=dev.token)
        self.assertEqual(r.status, 200, r)
        got = self.query(self.tok("ben"), {dev.user_id: []})
        self.assertNotIn(dev.device_id, got["device_keys"][dev.user_id])

    # ---- cross-signing ----
    def test_cross_signing_upload_uia_and_visibility(self):
        dev = self.new_device("quinn")
        uid = dev.user_id
        master = CrossSigningKey(uid, "master")
        ssk = CrossSigningKey(uid, "self_signing")
        usk = CrossSigningKey(uid, "user_signing")
        keys = {"master_key": master.key_object(), "self_signing_key": ssk.key_object(signed_by=master),
                "user_signing_key": usk.key_object(signed_by=master)}
        path = f"{V3}/keys/device_signing/upload"
        # A self-signing key not signed by the master key.
        bad = dict(keys, self_signing_key=ssk.key_object())
        self.assertError(self.server.post(path, bad, token=dev.token), 400, "M_INVALID_SIGNATURE")
        self.assertError(self.server.post(path, dict(keys, master_key=dict(master.key_object(), user_id="@x:test.local")),
                                          token=dev.token), 400, "M_INVALID_PARAM")
        self.assertError(self.server.post(path, dict(keys, master_key=dict(master.key_object(), usage=["other"])),
                                          token=dev.token), 400, "M_INVALID_PARAM")
        # The first upload needs no UIA.
        r = self.server.post(path, keys, token=dev.token)
        self.assertEqual(r.status, 200, r)
        # Repeating the same keys needs none either.
        self.assertEqual(self.server.post(path, keys, token=dev.token).status, 200)
        # Replacing them does: 401 with the password flow, wrong password 401 again, right one 200.
        master2 = CrossSigningKey(uid, "master")
        new_keys = {"master_key": master2.key_object(), "self_signing_key": ssk.key_object(signed_by=master2)}
        r = self.server.post(path, new_keys, token=dev.token)
        self.assertEqual(r.status, 401, r)
        self.assertIn({"stages": ["m.login.password"]}, r.json["flows"])
        session = r.json["session"]
        wrong = dict(new_keys, auth={"type": "m.login.password", "session": session, "password": "wrong",
                                     "identifier": {"type": "m.id.user", "user": "quinn"}})
        r = self.server.post(path, wrong, token=dev.token)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.errcode, "M_FORBIDDEN", r)
        r = self.server.post(path, self.uia_body("quinn", session, **new_keys), token=dev.token)
        self.assertEqual(r.status, 200, r)

        mine = self.query(dev.token, {uid: []})
        self.assertEqual(mine["master_keys"][uid]["keys"], {master2.key_id: master2.public})
        self.assertEqual(mine["self_signing_keys"][uid]["keys"], {ssk.key_id: ssk.public})
        self.assertEqual(mine["user_signing_keys"][uid]["keys"], {usk.key_id: usk.public})
        theirs = self.query(self.tok("ben"), {uid: []})
        self.assertIn(uid, theirs["master_keys"])
        self.assertIn(uid, theirs["self_signing_keys"])
        self.assertEqual(theirs["user_signing_keys"], {})

    def test_signature_uploads(self):
        ann, ben = self.new_device("rae"), self.new_device("sam")
        self.shared_room("rae", "sam")
        carol = self.new_device("tom")
        self.upload_device(ann)
        self.upload_device(ben)
        cs = {}
        for d in (ann, ben):
            m = CrossSigningKey(d.user_id, "master")
            s = CrossSigningKey(d.user_id, "self_signing")
            u = CrossSigningKey(d.user_id, "user_signing")
            cs[d.user_id] = (m, s, u)
            r = self.server.post(f"{V3}/keys/device_signing/upload",
                                 {"master_key": m.key_object(), "self_signing_key": s.key_object(signed_by=m),
                                  "user_signing_key": u.key_object(signed_by=m)}, token=d.token)
            self.assertEqual(r.status, 200, r)
        a_master, a_ssk, a_usk = cs[ann.user_id]
        b_master = cs[ben.user_id][0]
        since_ben = self.sync(ben.token)["next_batch"]
        since_ann = self.sync(ann.token)["next_batch"]

        path = f"{V3}/keys/signatures/upload"
        device_signed = a_ssk.sign(self.query(ann.token, {ann.user_id: [ann.device_id]})
                                   ["device_keys"][ann.user_id][ann.device_id])
        master_signed = ann.sign(a_master.key_object())
        ben_master_signed = a_usk.sign(b_master.key_object(signed_by=None))
        tampered = ann.sign(a_master.key_object())
        tampered["signatures"][ann.user_id][f"ed25519:{ann.device_id}"] = "B" * 86
        r = self.server.post(path, {ann.user_id: {ann.device_id: device_signed, a_master.public: master_signed,
                                                  "NOSUCHKEY": master_signed},
                                    ben.user_id: {b_master.public: ben_master_signed}}, token=ann.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["failures"][ann.user_id]["NOSUCHKEY"]["errcode"], "M_NOT_FOUND", r)
        self.assertEqual(list(r.json["failures"]), [ann.user_id], r)
        r = self.server.post(path, {ann.user_id: {a_master.public: tampered}}, token=ann.token)
        self.assertEqual(r.json["failures"][ann.user_id][a_master.public]["errcode"], "M_INVALID_SIGNATURE", r)
        # A signature on content that is not the stored key.
        wrong_obj = a_ssk.sign(dict(ann.device_keys(), algorithms=["x"]))
        r = self.server.post(path, {ann.user_id: {ann.device_id: wrong_obj}}, token=ann.token)
        self.assertEqual(r.json["failures"][ann.user_id][ann.device_id]["errcode"], "M_INVALID_SIGNATURE", r)

        # Everyone sees ann's self-signatures; only ann sees her signature on ben's master key.
        for token in (ben.token, carol.token, ann.token):
            got = self.query(token, {ann.user_id: [], ben.user_id: []})
            dev_sigs = got["device_keys"][ann.user_id][ann.device_id]["signatures"][ann.user_id]
            self.assertIn(a_ssk.key_id, dev_sigs)
            self.assertIn(f"ed25519:{ann.device_id}", got["master_keys"][ann.user_id]["signatures"][ann.user_id])
            on_ben = got["master_keys"][ben.user_id].get("signatures", {}).get(ann.user_id, {})
            if token == ann.token:
                self.assertIn(a_usk.key_id, on_ben)
            else:
                self.assertEqual(on_ben, {})
        # Ben's sync hears of ann's change; ann's of the user she signed.
        self.assertIn(ann.user_id, self.sync(ben.token, since_ben)["device_lists"]["changed"])
        self.assertIn(ben.user_id, self.sync(ann.token, since_ann)["device_lists"]["changed"])

    # ---- malformed bodies: every field of a valid body replaced by each other JSON type ----
    def test_wrong_types_anywhere_are_4xx_never_5xx(self):
        dev = self.new_device("wes")
        other = self.new_device("xan")
        master = CrossSigningKey(dev.user_id, "master")
        ssk = CrossSigningKey(dev.user_id, "self_signing")
        bodies = [
            ("POST", f"{V3}/keys/upload", {"device_keys": dev.device_keys(), "one_time_keys": dev.one_time_keys(1),
                                           "fallback_keys": dev.fallback_key()}),
            ("POST", f"{V3}/keys/query", {"device_keys": {other.user_id: [other.device_id]}, "timeout": 10}),
            ("POST", f"{V3}/keys/claim", {"one_time_keys": {other.user_id: {other.device_id: "signed_curve25519"}}}),
            ("POST", f"{V3}/keys/device_signing/upload", {"master_key": master.key_object(),
                                                          "self_signing_key": ssk.key_object(signed_by=master)}),
            ("POST", f"{V3}/keys/signatures/upload", {dev.user_id: {dev.device_id: ssk.sign(dev.device_keys())}}),
            ("POST", f"{V3}/room_keys/version", {"algorithm": "m.megolm_backup.v1.curve25519-aes-sha2",
                                                 "auth_data": {"public_key": "abc"}}),
            ("PUT", lambda: f"{V3}/room_keys/keys?version=" + self.server.get(
                f"{V3}/room_keys/version", token=dev.token).json["version"],
             {"rooms": {"!r:test.local": {"sessions": {"s1": {"first_message_index": 1, "forwarded_count": 0,
                                                               "is_verified": False,
                                                               "session_data": {"ciphertext": "x"}}}}}}),
        ]
        dehydrated = Device(dev.user_id, None, None)
        dehydrated.device_id = dehydrated.account.identity_keys["curve25519"]
        bodies.append(("PUT", "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device",
                       {"device_id": dehydrated.device_id, "device_data": {"algorithm": "x"},
                        "device_keys": dehydrated.device_keys(), "one_time_keys": dehydrated.one_time_keys(1)}))
        variants = [None, 7, 1.5, "text", [], {}, True, [1, {"a": None}], {"nested": {"deeper": [None]}}]

        def mutations(value, path=()):
            yield path, None  # marks "replace here"
            if isinstance(value, dict):
                for k, v in value.items():
                    yield from mutations(v, path + (k,))
            elif isinstance(value, list) and value:
                yield from mutations(value[0], path + (0,))

        def replaced(value, path, new):
            if not path:
                return new
            copy = json.loads(json.dumps(value))
            at = copy
            for k in path[:-1]:
                at = at[k]
            at[path[-1]] = new
            return copy

        sent = 0
        for method, path, body in bodies:
            path = path() if callable(path) else path  # the backup version made just before
            for where, _ in mutations(body):
                for new in variants:
                    r = self.server.request(method, path, body=replaced(body, where, new), token=dev.token)
                    sent += 1
                    self.assertLess(r.status, 500, (path, where, new, r))
                    if r.status == 401 and "flows" in (r.json or {}):
                        continue  # a UIA challenge: replacing cross-signing keys needs the password
                    if r.status >= 400:
                        self.assertIsInstance((r.json or {}).get("errcode"), str, (path, where, new, r))
        self.assertGreater(sent, 300)
        # And the server still works.
        self.assertEqual(self.query(other.token, {dev.user_id: []})["failures"], {})

    # ---- dehydrated devices (MSC3814) ----
    def test_dehydrated_device(self):
        base = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device"
        owner = self.new_device("uma")
        sender = self.new_device("vic")
        self.assertError(self.server.get(base, token=owner.token), 404, "M_NOT_FOUND")
        self.assertError(self.server.delete(base, token=owner.token), 404, "M_NOT_FOUND")

        def dehydrate():
            dev = Device(owner.user_id, None, None)
            dev.device_id = dev.account.identity_keys["curve25519"]  # as the MSC says
            body = {"device_id": dev.device_id, "device_data": {"algorithm": "org.matrix.msc3814.v1.olm",
                                                                 "device_pickle": "opaque"},
                    "initial_device_display_name": "Dehydrated", "device_keys": dev.device_keys(),
                    "one_time_keys": dev.one_time_keys(2), "fallback_keys": dev.fallback_key()}
            return dev, body

        dev, body = dehydrate()
        bad = dict(body, device_keys=dict(body["device_keys"], algorithms=["x"]))
        self.assertError(self.server.put(base, bad, token=owner.token), 400, "M_INVALID_SIGNATURE")
        self.assertError(self.server.put(base, dict(body, device_data="x"), token=owner.token), 400, "M_BAD_JSON")
        self.assertError(self.server.put(base, {k: v for k, v in body.items() if k != "device_keys"},
                                         token=owner.token), 400, "M_MISSING_PARAM")
        self.assertError(self.server.get(base, token=owner.token), 404, "M_NOT_FOUND")  # nothing half-made
        # Another device's id is not taken over.
        self.assertError(self.server.put(base, dict(body, device_id=owner.device_id), token=owner.token),
                         400, "M_INVALID_PARAM")
        r = self.server.put(base, body, token=owner.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"device_id": dev.device_id})
        r = self.server.get(base, token=owner.token)
        self.assertEqual(r.json, {"device_id": dev.device_id, "device_data": body["device_data"]})

        # Others see it as a device with keys, and can claim its keys and send it messages.
        got = self.query(sender.token, {owner.user_id: []})["device_keys"][owner.user_id]
        self.assertEqual(got[dev.device_id]["unsigned"], {"device_display_name": "Dehydrated"})
        claimed = self.claim(sender.token, {owner.user_id: {dev.device_id: "signed_curve25519"}})
        self.assertIn(dev.device_id, claimed["one_time_keys"][owner.user_id])
        for i in range(3):
            r = self.server.put(f"{V3}/sendToDevice/m.room_key/dh{i}",
                                {"messages": {owner.user_id: {dev.device_id: {"n": i}}}}, token=sender.token)
            self.assertEqual(r.status, 200, r)

        events = f"{base}/{q(dev.device_id)}/events"
        self.assertError(self.server.post(f"{base}/{q(owner.device_id)}/events", {}, token=owner.token),
                         403, "M_FORBIDDEN")
        self.assertError(self.server.post(events, {"next_batch": "x"}, token=owner.token), 400, "M_INVALID_PARAM")
        r = self.server.post(events, {}, token=owner.token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["content"]["n"] for e in r.json["events"]], [0, 1, 2])
        self.assertEqual(r.json["events"][0]["sender"], sender.user_id)
        last = self.server.post(events, {"next_batch": r.json["next_batch"]}, token=owner.token).json
        self.assertEqual(last["events"], [])
        # Fetching does not delete: an aborted rehydration can start again.
        self.assertEqual(len(self.server.post(events, {}, token=owner.token).json["events"]), 3)

        # A new dehydrated device replaces the old one, with its keys and messages.
        dev2, body2 = dehydrate()
        self.assertEqual(self.server.put(base, body2, token=owner.token).status, 200)
        got = self.query(sender.token, {owner.user_id: []})["device_keys"][owner.user_id]
        self.assertNotIn(dev.device_id, got)
        self.assertIn(dev2.device_id, got)
        rows = self.server.sql(f"SELECT COUNT(*) FROM device_inbox WHERE device_id = '{dev.device_id}'")
        self.assertEqual(rows[0][0], "0")
        r = self.server.delete(base, token=owner.token)
        self.assertEqual(r.json, {"device_id": dev2.device_id})
        self.assertError(self.server.get(base, token=owner.token), 404, "M_NOT_FOUND")
        self.assertNotIn(dev2.device_id, self.query(sender.token, {owner.user_id: []})["device_keys"][owner.user_id])


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()


class KeysSplit(Keys):
    """The same with keys x2, sync x4 and two event persisters (configs/placement-split.yaml)."""
    placement = SPLIT


if __name__ == "__main__":
    main()
