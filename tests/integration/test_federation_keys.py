"""Federation groundwork over HTTP: GET /_matrix/key/v2/server is the server's key document,
signed by that key — checked with Debian's python3-signedjson (the library Synapse signs and
verifies with), so the canonical JSON and signature agree with another implementation — stable
across restarts and valid for a day; GET /_matrix/federation/v1/version names the server.

Inbound request authentication: the test plays a remote server "127.0.0.1:PORT" — its key
document served over HTTPS with a certificate from a private CA (made here with openssl, trusted
through federation_custom_ca_list) and its requests signed with signedjson — against
GET /_matrix/federation/v1/query/profile, /query/directory and POST /user/keys/query and
/user/keys/claim and GET /user/devices (device keys checked against their own signatures with signedjson; a one-time key
is handed out once). A good signature is answered; no header, a bad
signature, a changed query, another destination, an unknown key id or an unreachable origin are
401 M_UNAUTHORIZED; fetched keys are cached (the origin may go away). The notary API
(/_matrix/key/v2/query, GET and POST) returns the remote's document as it signed it,
countersigned by Myelin, and Myelin's own. Outbound: a client's GET /profile of the remote's user
(and GET /directory/room of its alias) makes Myelin send a signed query, which the remote verifies
with signedjson."""
import time
import urllib.parse

from harness import ServerTestCase, main
from fedremote import FederationTestCase, signedjson, unpadded_b64decode


class FederationKeys(ServerTestCase):
    def key_document(self):
        r = self.server.get("/_matrix/key/v2/server")
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_key_document_is_self_signed(self):
        doc = self.key_document()
        self.assertEqual(doc["server_name"], "test.local")
        self.assertEqual(doc["old_verify_keys"], {})
        now_ms = time.time() * 1000
        self.assertGreater(doc["valid_until_ts"], now_ms + 23 * 3600 * 1000)
        self.assertLess(doc["valid_until_ts"], now_ms + 25 * 3600 * 1000)
        (key_id, entry), = doc["verify_keys"].items()
        self.assertTrue(key_id.startswith("ed25519:"))
        raw = unpadded_b64decode(entry["key"])
        self.assertEqual(len(raw), 32)
        verify_key = signedjson.key.decode_verify_key_bytes(key_id, raw)
        signedjson.sign.verify_signed_json(doc, "test.local", verify_key)  # raises when it does not verify
        # Any change breaks the signature.
        doc["valid_until_ts"] += 1
        with self.assertRaises(signedjson.sign.SignatureVerifyException):
            signedjson.sign.verify_signed_json(doc, "test.local", verify_key)

    def test_same_key_after_restart(self):
        before = self.key_document()["verify_keys"]
        self.server.stop()
        self.server.start()
        self.assertEqual(self.key_document()["verify_keys"], before)

    def test_server_well_known_is_off_by_default(self):
        self.assertError(self.server.get("/.well-known/matrix/server"), 404, "M_NOT_FOUND")

    def test_version(self):
        r = self.server.get("/_matrix/federation/v1/version")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["server"]["name"], "Myelin")
        self.assertRegex(r.json["server"]["version"], r"^\d+\.\d+")


class FederationAuth(FederationTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.server.register("fedprofile")
        cls.server.put(f"/_matrix/client/v3/profile/{urllib.parse.quote(r['user_id'])}/displayname",
                       {"displayname": "Fed Profile"}, token=r["access_token"])
        cls.user_id = r["user_id"]

    def query(self, uri, authorization):
        headers = {"Authorization": authorization} if authorization else {}
        return self.server.request("GET", uri, headers=headers)

    def profile_uri(self, field=None):
        uri = "/_matrix/federation/v1/query/profile?user_id=" + urllib.parse.quote(self.user_id)
        return uri + (f"&field={field}" if field else "")

    def test_signed_request_is_answered_and_keys_are_cached(self):
        uri = self.profile_uri()
        r = self.query(uri, self.remote.authorization("GET", uri, "test.local"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"displayname": "Fed Profile"})
        uri = self.profile_uri("avatar_url")
        self.assertError(self.query(uri, self.remote.authorization("GET", uri, "test.local")), 404, "M_NOT_FOUND")
        fetched = self.remote.fetches
        uri = self.profile_uri("displayname")
        self.assertEqual(self.query(uri, self.remote.authorization("GET", uri, "test.local")).status, 200)
        self.assertEqual(self.remote.fetches, fetched)  # from the cache

    def test_refusals(self):
        uri = self.profile_uri()
        good = self.remote.authorization("GET", uri, "test.local")
        self.assertError(self.query(uri, None), 401, "M_UNAUTHORIZED")
        self.assertError(self.query(uri, "X-Matrix nonsense"), 401, "M_UNAUTHORIZED")
        self.assertError(self.query(uri, "Bearer abc"), 401, "M_UNAUTHORIZED")
        # The signature covers the target: another query string fails.
        self.assertError(self.query(uri + "&field=displayname", good), 401, "M_UNAUTHORIZED")
        # Signed for another destination.
        self.assertError(self.query(uri, self.remote.authorization("GET", uri, "elsewhere.example")), 401,
                         "M_UNAUTHORIZED")
        # Signed with a key the origin does not publish.
        other = signedjson.key.generate_signing_key("t2")
        self.assertError(self.query(uri, self.remote.authorization("GET", uri, "test.local", key=other)), 401,
                         "M_UNAUTHORIZED")
        # Same key id, wrong key.
        impostor = signedjson.key.generate_signing_key("t1")
        self.assertError(self.query(uri, self.remote.authorization("GET", uri, "test.local", key=impostor)), 401,
                         "M_UNAUTHORIZED")
        # An origin nobody answers for.
        self.assertError(self.query(uri, self.remote.authorization("GET", uri, "test.local", origin="127.0.0.1:9")),
                         401, "M_UNAUTHORIZED")
        # Claiming to be this server.
        self.assertError(self.query(uri, self.remote.authorization("GET", uri, "test.local", origin="test.local")),
                         401, "M_UNAUTHORIZED")
        # Still fine afterwards.
        self.assertEqual(self.query(uri, good).status, 200)

    def test_directory_query(self):
        r = self.server.register("fedalias")
        room = self.server.post("/_matrix/client/v3/createRoom", {"room_alias_name": "fedroom"},
                                token=r["access_token"]).json["room_id"]
        uri = "/_matrix/federation/v1/query/directory?room_alias=" + urllib.parse.quote("#fedroom:test.local")
        got = self.query(uri, self.remote.authorization("GET", uri, "test.local"))
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json, {"room_id": room, "servers": ["test.local"]})
        self.assertError(self.query(uri, None), 401, "M_UNAUTHORIZED")
        for alias, status, errcode in (("#nothere:test.local", 404, "M_NOT_FOUND"),
                                       ("#fedroom:elsewhere.example", 400, "M_INVALID_PARAM"),
                                       ("fedroom", 400, "M_INVALID_PARAM")):
            uri = "/_matrix/federation/v1/query/directory?room_alias=" + urllib.parse.quote(alias)
            self.assertError(self.query(uri, self.remote.authorization("GET", uri, "test.local")), status, errcode)

    def test_user_keys_query(self):
        r = self.server.register("fedkeys", device_id="FEDDEV")
        device_key = signedjson.key.generate_signing_key("FEDDEV")
        keys = {"user_id": r["user_id"], "device_id": "FEDDEV",
                "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
                "keys": {"ed25519:FEDDEV": signedjson.key.encode_verify_key_base64(
                             signedjson.key.get_verify_key(device_key)),
                         "curve25519:FEDDEV": "dGhpcyBpcyBhIGN1cnZlMjU1MTkga2V5IGZvciB0ZXN0cw"}}
        keys = signedjson.sign.sign_json(keys, r["user_id"], device_key)
        up = self.server.post("/_matrix/client/v3/keys/upload", {"device_keys": keys}, token=r["access_token"])
        self.assertEqual(up.status, 200, up)
        uri = "/_matrix/federation/v1/user/keys/query"
        body = {"device_keys": {r["user_id"]: [], "@someone:elsewhere.example": []}}
        auth = self.remote.authorization("POST", uri, "test.local", content=body)
        got = self.server.request("POST", uri, body=body, headers={"Authorization": auth})
        self.assertEqual(got.status, 200, got)
        self.assertEqual(list(got.json["device_keys"]), [r["user_id"]])  # only ours
        served = got.json["device_keys"][r["user_id"]]["FEDDEV"]
        self.assertEqual(served["keys"], keys["keys"])
        served.pop("unsigned", None)
        signedjson.sign.verify_signed_json(served, r["user_id"], signedjson.key.get_verify_key(device_key))
        self.assertNotIn("user_signing_keys", got.json)
        # Unsigned, or signed over another body: refused.
        self.assertError(self.server.request("POST", uri, body=body), 401, "M_UNAUTHORIZED")
        other = {"device_keys": {r["user_id"]: ["OTHER"]}}
        self.assertError(self.server.request("POST", uri, body=other, headers={"Authorization": auth}), 401,
                         "M_UNAUTHORIZED")
        empty = {}
        self.assertError(self.server.request("POST", uri, body=empty, headers={
            "Authorization": self.remote.authorization("POST", uri, "test.local", content=empty)}), 400,
            "M_MISSING_PARAM")
        # The user's device list.
        devices_uri = "/_matrix/federation/v1/user/devices/" + urllib.parse.quote(r["user_id"])
        got = self.query(devices_uri, self.remote.authorization("GET", devices_uri, "test.local"))
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json["user_id"], r["user_id"])
        self.assertGreater(got.json["stream_id"], 0)
        (device,) = got.json["devices"]
        self.assertEqual(device["device_id"], "FEDDEV")
        signedjson.sign.verify_signed_json(device["keys"], r["user_id"], signedjson.key.get_verify_key(device_key))
        self.assertError(self.query(devices_uri, None), 401, "M_UNAUTHORIZED")
        other_uri = "/_matrix/federation/v1/user/devices/" + urllib.parse.quote("@x:elsewhere.example")
        self.assertError(self.query(other_uri, self.remote.authorization("GET", other_uri, "test.local")), 400,
                         "M_INVALID_PARAM")
        # One-time keys: each claimed once, across servers and clients alike.
        otk = signedjson.sign.sign_json({"key": "b3RrIGtleSBvbmUgZm9yIHRlc3RpbmcgZmVkZXJhdGlvbg"}, r["user_id"],
                                        device_key)
        up = self.server.post("/_matrix/client/v3/keys/upload",
                              {"one_time_keys": {"signed_curve25519:AAAA": otk}}, token=r["access_token"])
        self.assertEqual(up.status, 200, up)
        claim_uri = "/_matrix/federation/v1/user/keys/claim"
        claim = {"one_time_keys": {r["user_id"]: {"FEDDEV": "signed_curve25519"}}}
        headers = {"Authorization": self.remote.authorization("POST", claim_uri, "test.local", content=claim)}
        got = self.server.request("POST", claim_uri, body=claim, headers=headers)
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json["one_time_keys"][r["user_id"]]["FEDDEV"]["signed_curve25519:AAAA"]["key"],
                         otk["key"])
        again = self.server.request("POST", claim_uri, body=claim, headers=headers)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.json["one_time_keys"], {})  # gone, and no fallback key uploaded
        self.assertError(self.server.request("POST", claim_uri, body=claim), 401, "M_UNAUTHORIZED")

    def test_remote_profile_and_alias_through_signed_requests(self):
        """A client asks for a remote user's profile: Myelin asks the user's server, signing the request
        (the remote knows our key: FederationTestCase)."""
        user = self.server.register("profileasker")
        rita = f"@rita:{self.remote.name}"
        r = self.server.get("/_matrix/client/v3/profile/" + urllib.parse.quote(rita), token=user["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"displayname": "Remote Rita", "avatar_url": "mxc://x/y"})
        self.assertIn(("test.local", "/_matrix/federation/v1/query/profile?user_id=" + urllib.parse.quote(rita, safe="")),
                      self.remote.verified_requests)
        r = self.server.get("/_matrix/client/v3/profile/" + urllib.parse.quote(rita) + "/displayname",
                            token=user["access_token"])
        self.assertEqual(r.json, {"displayname": "Remote Rita"})
        # The remote's 404 is the client's; an unreachable server is a 502, not a hang or a 500.
        nobody = f"@nobody:{self.remote.name}"
        self.assertError(self.server.get("/_matrix/client/v3/profile/" + urllib.parse.quote(nobody),
                                         token=user["access_token"]), 404, "M_NOT_FOUND")
        self.assertError(self.server.get("/_matrix/client/v3/profile/" + urllib.parse.quote("@x:127.0.0.1:9"),
                                         token=user["access_token"]), 502, "M_UNKNOWN")
        # Remote aliases likewise (a non-string server in the answer is dropped).
        lobby = urllib.parse.quote(f"#lobby:{self.remote.name}")
        r = self.server.get("/_matrix/client/v3/directory/room/" + lobby)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"room_id": f"!lobby:{self.remote.name}", "servers": [self.remote.name]})
        self.assertError(self.server.get("/_matrix/client/v3/directory/room/" +
                                         urllib.parse.quote(f"#nope:{self.remote.name}")), 404, "M_NOT_FOUND")
        # A server that refuses our signature: a 502 for the client (a 401 would look like its own
        # token being refused).
        self.remote.peer_keys.clear()
        self.assertError(self.server.get("/_matrix/client/v3/profile/" + urllib.parse.quote(rita),
                                         token=user["access_token"]), 502, "M_UNKNOWN")


    def remote_verify_key(self):
        return signedjson.key.get_verify_key(self.remote.signing_key)

    def our_verify_key(self):
        doc = self.server.get("/_matrix/key/v2/server").json
        (key_id, entry), = doc["verify_keys"].items()
        return signedjson.key.decode_verify_key_bytes(key_id, unpadded_b64decode(entry["key"]))

    def test_notary(self):
        ours = self.our_verify_key()
        r = self.server.get("/_matrix/key/v2/query/" + urllib.parse.quote(self.remote.name))
        self.assertEqual(r.status, 200, r)
        (doc,) = r.json["server_keys"]
        self.assertEqual(doc["server_name"], self.remote.name)
        signedjson.sign.verify_signed_json(doc, self.remote.name, self.remote_verify_key())  # the remote's own
        signedjson.sign.verify_signed_json(doc, "test.local", ours)  # and ours
        # POST: several servers at once, ours among them; an unreachable one is left out.
        r = self.server.post("/_matrix/key/v2/query", {"server_keys": {
            self.remote.name: {self.remote.key_id: {"minimum_valid_until_ts": 0}},
            "test.local": {},
            "127.0.0.1:9": {}}})
        self.assertEqual(r.status, 200, r)
        by_name = {d["server_name"]: d for d in r.json["server_keys"]}
        self.assertEqual(set(by_name), {self.remote.name, "test.local"})
        signedjson.sign.verify_signed_json(by_name["test.local"], "test.local", ours)
        signedjson.sign.verify_signed_json(by_name[self.remote.name], self.remote.name, self.remote_verify_key())
        # Bad bodies.
        self.assertError(self.server.post("/_matrix/key/v2/query", {}), 400, "M_MISSING_PARAM")
        self.assertError(self.server.post("/_matrix/key/v2/query", {"server_keys": []}), 400, "M_BAD_JSON")
        r = self.server.get("/_matrix/key/v2/query/test.local?minimum_valid_until_ts=soon")
        self.assertError(r, 400, "M_INVALID_PARAM")


if __name__ == "__main__":
    main()
