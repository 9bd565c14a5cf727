"""Signing keys that are no longer current, and keys fetched through a notary:

- our own retired key: `myelin export-signing-key` prints the old_signing_keys entry for a key
  file, and the server publishes it as old_verify_keys (in /key/v2/server and the notary answer);
- a remote's retired key (in its old_verify_keys) still checks the remote's events sent before the
  key expired, and no event sent after; it never checks a request;
- a remote whose own key endpoint fails is checked with its keys from a trusted key server
  (trusted_key_servers), and only when the notary has countersigned them.
"""
import subprocess
import tempfile
import time
import urllib.parse

import harness
from harness import main, reply_json
from fedremote import FederationTestCase, RemoteServer, signedjson, unpadded_b64decode


def q(s):
    return urllib.parse.quote(s, safe="")


def now_ms():
    return int(time.time() * 1000)


def verify_key_b64(signing_key):
    return signedjson.key.encode_verify_key_base64(signedjson.key.get_verify_key(signing_key))


class KeyRotation(FederationTestCase):
    @classmethod
    def prepare_remotes(cls):
        # Our retired key, exported the way an operator would after switching to a new key file.
        cls.keydir = tempfile.TemporaryDirectory()
        cls.our_old_key = signedjson.key.generate_signing_key("retired")
        path = f"{cls.keydir.name}/old.signing.key"
        with open(path, "w") as f:
            signedjson.key.write_signing_keys(f, [cls.our_old_key])
        cls.our_old_expired_ts = now_ms() - 3600 * 1000
        out = subprocess.run([harness.ARGS.binary, "export-signing-key", path, "--expired-ts",
                              str(cls.our_old_expired_ts)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        cls.exported = out.stdout

        # The remote retired its first key an hour ago, before Myelin ever asked for its keys.
        cls.retired_at = now_ms() - 3600 * 1000
        cls.retired_key = cls.remote.rotate_key(cls.retired_at)

        # A notary, and two servers whose own key endpoints fail: one the notary vouches for, one
        # whose documents it passes on without its signature.
        cert, key = cls.cert
        cls.notary = RemoteServer(cert, key)
        cls.lost = RemoteServer(cert, key)
        cls.unvouched = RemoteServer(cert, key)
        cls.notary.queries = []
        cls.notary_answers = {cls.lost.name: (cls.lost, True), cls.unvouched.name: (cls.unvouched, False)}

        def query(handler, match, body):
            cls.notary.queries.append(body)
            docs = []
            for name in body.get("server_keys", {}):
                if name in cls.notary_answers:
                    server, countersign = cls.notary_answers[name]
                    doc = server.key_document()
                    docs.append(signedjson.sign.sign_json(doc, cls.notary.name, cls.notary.signing_key)
                                if countersign else doc)
            reply_json(handler, 200, {"server_keys": docs})
        cls.notary.routes.append(("POST", r"^/_matrix/key/v2/query$", query))

        def broken(handler, match, body):
            reply_json(handler, 500, {"errcode": "M_UNKNOWN", "error": "key store down"})
        for server in (cls.lost, cls.unvouched):
            server.routes.append(("GET", r"^/_matrix/key/v2/server$", broken))

        cls.more_config = (cls.exported +
                           "trusted_key_servers:\n"
                           f"  - server_name: '{cls.notary.name}'\n"
                           f"    verify_keys: {{'{cls.notary.key_id}': '{verify_key_b64(cls.notary.signing_key)}'}}\n")

    @classmethod
    def close_remotes(cls):
        for name in ("notary", "lost", "unvouched"):
            if hasattr(cls, name):
                getattr(cls, name).close()
        if hasattr(cls, "keydir"):
            cls.keydir.cleanup()

    # ---- our own retired key ----

    def test_exported_key_is_published_as_old_verify_key(self):
        self.assertIn('"ed25519:retired"', self.exported)
        want = {"ed25519:retired": {"key": verify_key_b64(self.our_old_key), "expired_ts": self.our_old_expired_ts}}
        doc = self.server.get("/_matrix/key/v2/server").json
        self.assertEqual(doc["old_verify_keys"], want)
        (key_id, entry), = doc["verify_keys"].items()
        self.assertNotEqual(key_id, "ed25519:retired")
        signedjson.sign.verify_signed_json(
            doc, "test.local", signedjson.key.decode_verify_key_bytes(key_id, unpadded_b64decode(entry["key"])))
        notarised = self.server.get("/_matrix/key/v2/query/test.local").json["server_keys"]
        self.assertEqual(notarised[0]["old_verify_keys"], want)

    def test_export_refuses_bad_input(self):
        for args in (["export-signing-key"], ["export-signing-key", "/nonexistent/key"],
                     ["export-signing-key", f"{self.keydir.name}/old.signing.key", "--expired-ts", "soon"]):
            out = subprocess.run([harness.ARGS.binary, *args], capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 2, args)
            self.assertEqual(out.stdout, "", args)

    # ---- a remote's retired key ----

    def test_remote_events_signed_with_a_retired_key(self):
        room, alice, token = self.room_of_alice()
        join_id, _ = self.join_remote_user(room, self.rita())  # signed with the remote's new key
        auth = self.auth_ids(room, token, self.rita())
        # Sent two hours ago, while the retired key was current: still verifiable.
        before_id, before = self.build(room, self.rita(), "m.room.message", {"msgtype": "m.text", "body": "then"},
                                       [join_id], auth, 10, key=self.retired_key, ts=self.retired_at - 3600 * 1000)
        # Sent now with the retired key: refused, like a forgery.
        after_id, after = self.build(room, self.rita(), "m.room.message", {"msgtype": "m.text", "body": "now"},
                                     [join_id], auth, 10, key=self.retired_key)
        r = self.send([before, after])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["pdus"][before_id], {}, r)
        self.assertIn("error", r.json["pdus"][after_id])
        seen = self.messages(room, token)
        self.assertEqual(seen[before_id]["content"]["body"], "then")
        self.assertNotIn(after_id, seen)

    def test_retired_key_never_signs_a_request(self):
        path = "/_matrix/federation/v1/query/profile?user_id=" + q("@nobody:test.local")
        auth = self.remote.authorization("GET", path, "test.local", key=self.retired_key)
        r = self.server.request("GET", path, headers={"Authorization": auth})
        self.assertError(r, 401, "M_UNAUTHORIZED")

    # ---- keys through a notary ----

    def profile_request_from(self, server):
        path = "/_matrix/federation/v1/query/profile?user_id=" + q("@nobody:test.local")
        return self.server.request("GET", path, headers={"Authorization": server.authorization(
            "GET", path, "test.local")})

    def test_keys_of_an_unreachable_server_come_from_the_notary(self):
        r = self.profile_request_from(self.lost)
        # Authenticated (the profile does not exist: 404, not 401).
        self.assertError(r, 404, "M_NOT_FOUND")
        asked = [b["server_keys"] for b in self.notary.queries if self.lost.name in b["server_keys"]]
        self.assertEqual(len(asked), 1)
        criteria = asked[0][self.lost.name]
        self.assertIn(self.lost.key_id, criteria)
        self.assertGreater(criteria[self.lost.key_id]["minimum_valid_until_ts"], now_ms() - 60 * 1000)
        # The key is cached now: a second request asks no one.
        self.assertError(self.profile_request_from(self.lost), 404, "M_NOT_FOUND")
        self.assertEqual(len([b for b in self.notary.queries if self.lost.name in b["server_keys"]]), 1)

    def test_keys_the_notary_did_not_sign_are_refused(self):
        r = self.profile_request_from(self.unvouched)
        self.assertError(r, 401, "M_UNAUTHORIZED")
        self.assertTrue(any(self.unvouched.name in b["server_keys"] for b in self.notary.queries))


if __name__ == "__main__":
    main()
