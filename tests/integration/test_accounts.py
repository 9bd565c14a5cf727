"""Accounts over HTTP: versions, registration (UIA), login, whoami, logout, password change,
deactivation, devices, capabilities, OpenID, and a restart. Runs on SQLite and PostgreSQL."""
import urllib.parse

from harness import Server, ServerTestCase, main

V3 = "/_matrix/client/v3"


class Discovery(ServerTestCase):
    def test_versions(self):
        r = self.server.get("/_matrix/client/versions")
        self.assertEqual(r.status, 200)
        self.assertIn("v1.1", r.json["versions"])
        self.assertIn("r0.6.1", r.json["versions"])
        self.assertIsInstance(r.json["unstable_features"], dict)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "*")

    def test_well_known(self):
        r = self.server.get("/.well-known/matrix/client")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["m.homeserver"]["base_url"], "http://127.0.0.1/")

    def test_capabilities_needs_auth_and_answers(self):
        self.assertError(self.server.get(V3 + "/capabilities"), 401, "M_MISSING_TOKEN")
        tok = self.server.register("caps")["access_token"]
        r = self.server.get(V3 + "/capabilities", token=tok)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.json["capabilities"]["m.change_password"]["enabled"])
        self.assertIn("default", r.json["capabilities"]["m.room_versions"])

    def test_threepids_are_empty(self):
        tok = self.server.register("threepid")["access_token"]
        r = self.server.get(V3 + "/account/3pid", token=tok)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {"threepids": []})

    def test_login_flows(self):
        r = self.server.get(V3 + "/login")
        self.assertEqual(r.status, 200)
        self.assertIn({"type": "m.login.password"}, r.json["flows"])
        self.assertEqual(self.server.get("/_matrix/client/r0/login").status, 200)


class Registration(ServerTestCase):
    def test_uia_dummy_flow_as_the_spec_describes(self):
        body = {"username": "uia_user", "password": "a good password"}
        r = self.server.post(V3 + "/register", body)
        self.assertEqual(r.status, 401, r)
        self.assertIn({"stages": ["m.login.dummy"]}, r.json["flows"])
        session = r.json["session"]
        self.assertTrue(session)
        self.assertEqual(r.json.get("completed", []), [])
        body["auth"] = {"type": "m.login.dummy", "session": session}
        r = self.server.post(V3 + "/register", body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user_id"], "@uia_user:test.local")
        self.assertTrue(r.json["access_token"].startswith("mye_"))
        self.assertTrue(r.json["device_id"])
        r = self.server.get(V3 + "/account/whoami", token=r.json["access_token"])
        self.assertEqual(r.json["user_id"], "@uia_user:test.local")

    def test_final_request_may_rely_on_the_session_body(self):
        r = self.server.post(V3 + "/register", {"username": "sessionbody", "password": "pw pw pw pw"})
        self.assertEqual(r.status, 401)
        r = self.server.post(V3 + "/register", {"auth": {"type": "m.login.dummy", "session": r.json["session"]}})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user_id"], "@sessionbody:test.local")

    def test_dummy_without_session_like_matrix_nio(self):
        r = self.server.post("/_matrix/client/r0/register",
                             {"username": "nio_style", "password": "pw pw pw pw",
                              "auth": {"type": "m.login.dummy"}, "device_id": "NIODEVICE",
                              "initial_device_display_name": "nio"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["device_id"], "NIODEVICE")

    def test_user_in_use_and_invalid_usernames(self):
        self.server.register("taken")
        self.assertError(self.server.post(V3 + "/register", {"username": "taken", "password": "x" * 10}),
                         400, "M_USER_IN_USE")
        self.assertError(self.server.post(V3 + "/register", {"username": "taken", "password": "x" * 10,
                                                             "auth": {"type": "m.login.dummy"}}),
                         400, "M_USER_IN_USE")
        for bad in ["Upper", "with space", "_reserved", "12345", "a" * 300, "ümlaut"]:
            r = self.server.post(V3 + "/register", {"username": bad, "password": "x" * 10,
                                                    "auth": {"type": "m.login.dummy"}})
            self.assertError(r, 400, "M_INVALID_USERNAME")

    def test_register_available(self):
        self.server.register("avail_taken")
        r = self.server.get(V3 + "/register/available?username=avail_free")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {"available": True})
        self.assertError(self.server.get(V3 + "/register/available?username=avail_taken"), 400, "M_USER_IN_USE")
        self.assertError(self.server.get(V3 + "/register/available?username=Bad%20Name"), 400, "M_INVALID_USERNAME")
        self.assertError(self.server.get(V3 + "/register/available"), 400, "M_MISSING_PARAM")

    def test_unknown_session_and_stage(self):
        r = self.server.post(V3 + "/register", {"username": "sess", "password": "x" * 10,
                                                "auth": {"type": "m.login.dummy", "session": "nope"}})
        self.assertError(r, 400, "M_UNKNOWN")
        r = self.server.post(V3 + "/register", {"username": "sess", "password": "x" * 10,
                                                "auth": {"type": "m.login.email.identity"}})
        self.assertEqual(r.status, 400, r)

    def test_inhibit_login(self):
        r = self.server.post(V3 + "/register", {"username": "inhibited", "password": "x" * 10,
                                                "inhibit_login": True, "auth": {"type": "m.login.dummy"}})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("access_token", r.json)
        self.assertEqual(self.server.login("inhibited", "x" * 10).status, 200)

    def test_missing_password(self):
        r = self.server.post(V3 + "/register", {"username": "nopw", "auth": {"type": "m.login.dummy"}})
        self.assertError(r, 400, "M_MISSING_PARAM")

    def test_guest_registration_is_off_by_default(self):
        r = self.server.post(V3 + "/register?kind=guest", {})
        self.assertEqual(r.status, 403, r)


class Login(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.register("loginuser", "the password")

    def test_password_login_with_identifier_and_legacy_user(self):
        r = self.server.login("loginuser", "the password", initial_device_display_name="Laptop")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user_id"], "@loginuser:test.local")
        tok = r.json["access_token"]
        dev = r.json["device_id"]
        r = self.server.get(V3 + "/devices/" + dev, token=tok)
        self.assertEqual(r.json["display_name"], "Laptop")
        r = self.server.post("/_matrix/client/r0/login", {"type": "m.login.password", "user": "@loginuser:test.local",
                                                          "password": "the password"})
        self.assertEqual(r.status, 200, r)
        r = self.server.post(V3 + "/login", {"type": "m.login.password", "user": "LoginUser",
                                             "password": "the password"})
        self.assertEqual(r.status, 200, r)

    def test_wrong_password_and_unknown_user(self):
        self.assertError(self.server.login("loginuser", "wrong"), 403, "M_FORBIDDEN")
        self.assertError(self.server.login("nobody", "wrong"), 403, "M_FORBIDDEN")

    def test_bad_login_bodies(self):
        self.assertError(self.server.post(V3 + "/login", {"type": "m.login.magic"}), 400, "M_UNKNOWN")
        self.assertError(self.server.post(V3 + "/login", {"type": "m.login.password", "password": "x"}),
                         400, "M_MISSING_PARAM")
        self.assertError(self.server.post(V3 + "/login", {"type": 5}), 400, "M_BAD_JSON")
        r = self.server.post(V3 + "/login", {"type": "m.login.password", "password": "x",
                                             "identifier": {"type": "m.id.thirdparty", "medium": "email",
                                                            "address": "a@b.c"}})
        self.assertEqual(r.status, 400, r)

    def test_login_with_existing_device_replaces_its_token(self):
        a = self.server.login("loginuser", "the password", device_id="SAMEDEVICE").json
        b = self.server.login("loginuser", "the password", device_id="SAMEDEVICE").json
        self.assertEqual(a["device_id"], b["device_id"])
        self.assertError(self.server.get(V3 + "/account/whoami", token=a["access_token"]), 401, "M_UNKNOWN_TOKEN")
        self.assertEqual(self.server.get(V3 + "/account/whoami", token=b["access_token"]).status, 200)


class Sessions(ServerTestCase):
    def test_whoami_header_and_query_token(self):
        reg = self.server.register("whoami")
        r = self.server.get(V3 + "/account/whoami", token=reg["access_token"])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {"user_id": "@whoami:test.local", "device_id": reg["device_id"], "is_guest": False})
        q = urllib.parse.quote(reg["access_token"])
        r = self.server.get("/_matrix/client/r0/account/whoami?access_token=" + q)
        self.assertEqual(r.status, 200)
        self.assertError(self.server.get(V3 + "/account/whoami"), 401, "M_MISSING_TOKEN")
        self.assertError(self.server.get(V3 + "/account/whoami", token="mye_nonsense"), 401, "M_UNKNOWN_TOKEN")

    def test_logout_revokes_token_and_device(self):
        reg = self.server.register("logout1")
        second = self.server.login("logout1").json
        r = self.server.post(V3 + "/logout", {}, token=reg["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {})
        # Immediately invalid: the response waited for this node's token cache.
        self.assertError(self.server.get(V3 + "/account/whoami", token=reg["access_token"]), 401, "M_UNKNOWN_TOKEN")
        devices = self.server.get(V3 + "/devices", token=second["access_token"]).json["devices"]
        self.assertEqual([d["device_id"] for d in devices], [second["device_id"]])

    def test_logout_all(self):
        reg = self.server.register("logout2")
        tokens = [reg["access_token"]] + [self.server.login("logout2").json["access_token"] for _ in range(2)]
        for t in tokens:  # warm the cache so revocation must really drop entries
            self.assertEqual(self.server.get(V3 + "/account/whoami", token=t).status, 200)
        self.assertEqual(self.server.post(V3 + "/logout/all", {}, token=tokens[1]).status, 200)
        for t in tokens:
            self.assertError(self.server.get(V3 + "/account/whoami", token=t), 401, "M_UNKNOWN_TOKEN")
        self.assertEqual(self.server.login("logout2").status, 200)


class PasswordAndDeactivation(ServerTestCase):
    def test_password_change_with_uia(self):
        reg = self.server.register("pwuser", "old password")
        other = self.server.login("pwuser", "old password").json
        tok = reg["access_token"]
        r = self.server.post(V3 + "/account/password", {"new_password": "new password"}, token=tok)
        self.assertEqual(r.status, 401, r)
        self.assertIn({"stages": ["m.login.password"]}, r.json["flows"])
        session = r.json["session"]
        bad = {"type": "m.login.password", "session": session, "password": "wrong",
               "identifier": {"type": "m.id.user", "user": "pwuser"}}
        r = self.server.post(V3 + "/account/password", {"new_password": "new password", "auth": bad}, token=tok)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.errcode, "M_FORBIDDEN")
        self.assertIn("flows", r.json)
        good = dict(bad, password="old password")
        r = self.server.post(V3 + "/account/password", {"new_password": "new password", "auth": good}, token=tok)
        self.assertEqual(r.status, 200, r)
        # This device stays logged in; the other device is logged out (logout_devices defaults to true).
        self.assertEqual(self.server.get(V3 + "/account/whoami", token=tok).status, 200)
        self.assertError(self.server.get(V3 + "/account/whoami", token=other["access_token"]), 401, "M_UNKNOWN_TOKEN")
        self.assertError(self.server.login("pwuser", "old password"), 403, "M_FORBIDDEN")
        self.assertEqual(self.server.login("pwuser", "new password").status, 200)

    def test_uia_cannot_prove_someone_else(self):
        self.server.register("victim", "victim password")
        tok = self.server.register("attacker", "attacker password")["access_token"]
        auth = {"type": "m.login.password", "password": "victim password",
                "identifier": {"type": "m.id.user", "user": "victim"}}
        r = self.server.post(V3 + "/account/deactivate", {"auth": auth}, token=tok)
        self.assertError(r, 403, "M_FORBIDDEN")
        self.assertEqual(self.server.login("victim", "victim password").status, 200)
        self.assertEqual(self.server.login("attacker", "attacker password").status, 200)

    def test_deactivate(self):
        reg = self.server.register("leaver", "leaver password")
        tok = reg["access_token"]
        r = self.server.post(V3 + "/account/deactivate", {}, token=tok)
        self.assertEqual(r.status, 401)
        auth = {"type": "m.login.password", "session": r.json["session"], "password": "leaver password",
                "identifier": {"type": "m.id.user", "user": "@leaver:test.local"}}
        r = self.server.post(V3 + "/account/deactivate", {"auth": auth}, token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id_server_unbind_result"], "no-support")
        self.assertError(self.server.get(V3 + "/account/whoami", token=tok), 401, "M_UNKNOWN_TOKEN")
        self.assertError(self.server.login("leaver", "leaver password"), 403, "M_FORBIDDEN")
        self.assertError(self.server.post(V3 + "/register", {"username": "leaver", "password": "x" * 10,
                                                             "auth": {"type": "m.login.dummy"}}), 400, "M_USER_IN_USE")


class Devices(ServerTestCase):
    def test_device_lifecycle(self):
        reg = self.server.register("devuser", "dev password", device_id="FIRST",
                                   initial_device_display_name="Phone")
        tok = reg["access_token"]
        second = self.server.login("devuser", "dev password", device_id="SECOND").json
        third = self.server.login("devuser", "dev password", device_id="THIRD").json
        r = self.server.get(V3 + "/devices", token=tok)
        self.assertEqual(r.status, 200)
        ids = sorted(d["device_id"] for d in r.json["devices"])
        self.assertEqual(ids, ["FIRST", "SECOND", "THIRD"])
        first = [d for d in r.json["devices"] if d["device_id"] == "FIRST"][0]
        self.assertEqual(first["display_name"], "Phone")
        self.assertEqual(first["last_seen_ip"], "127.0.0.1")

        self.assertEqual(self.server.put(V3 + "/devices/SECOND", {"display_name": "Tablet"}, token=tok).status, 200)
        self.assertEqual(self.server.get(V3 + "/devices/SECOND", token=tok).json["display_name"], "Tablet")
        self.assertError(self.server.get(V3 + "/devices/NOPE", token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.put(V3 + "/devices/NOPE", {"display_name": "x"}, token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.delete(V3 + "/devices/NOPE", {}, token=tok), 404, "M_NOT_FOUND")

        r = self.server.delete(V3 + "/devices/SECOND", {}, token=tok)
        self.assertEqual(r.status, 401)
        auth = {"type": "m.login.password", "session": r.json["session"], "password": "dev password",
                "identifier": {"type": "m.id.user", "user": "devuser"}}
        self.assertEqual(self.server.delete(V3 + "/devices/SECOND", {"auth": auth}, token=tok).status, 200)
        self.assertError(self.server.get(V3 + "/account/whoami", token=second["access_token"]), 401, "M_UNKNOWN_TOKEN")

        r = self.server.post(V3 + "/delete_devices", {"devices": ["THIRD", "UNKNOWN"]}, token=tok)
        self.assertEqual(r.status, 401)
        auth["session"] = r.json["session"]
        r = self.server.post(V3 + "/delete_devices", {"devices": ["THIRD", "UNKNOWN"], "auth": auth}, token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertError(self.server.get(V3 + "/account/whoami", token=third["access_token"]), 401, "M_UNKNOWN_TOKEN")
        ids = [d["device_id"] for d in self.server.get(V3 + "/devices", token=tok).json["devices"]]
        self.assertEqual(ids, ["FIRST"])
        self.assertError(self.server.post(V3 + "/delete_devices", {"devices": "x"}, token=tok), 400, "M_BAD_JSON")

    def test_users_see_only_their_own_devices(self):
        a = self.server.register("dev_a", device_id="ADEVICE")["access_token"]
        self.server.register("dev_b", device_id="BDEVICE")
        self.assertError(self.server.get(V3 + "/devices/BDEVICE", token=a), 404, "M_NOT_FOUND")
        ids = [d["device_id"] for d in self.server.get(V3 + "/devices", token=a).json["devices"]]
        self.assertEqual(ids, ["ADEVICE"])


class OpenID(ServerTestCase):
    def test_request_token_and_userinfo(self):
        tok = self.server.register("oid")["access_token"]
        r = self.server.post(V3 + "/user/%40oid%3Atest.local/openid/request_token", {}, token=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["token_type"], "Bearer")
        self.assertEqual(r.json["matrix_server_name"], "test.local")
        self.assertGreater(r.json["expires_in"], 0)
        info = self.server.get("/_matrix/federation/v1/openid/userinfo?access_token=" + r.json["access_token"])
        self.assertEqual(info.status, 200, info)
        self.assertEqual(info.json, {"sub": "@oid:test.local"})
        self.assertError(self.server.get("/_matrix/federation/v1/openid/userinfo?access_token=bad"),
                         401, "M_UNKNOWN_TOKEN")
        r = self.server.post(V3 + "/user/%40other%3Atest.local/openid/request_token", {}, token=tok)
        self.assertError(r, 403, "M_FORBIDDEN")


class Restart(ServerTestCase):
    def test_accounts_and_tokens_survive_a_restart(self):
        reg = self.server.register("survivor", "survivor password")
        self.server.stop()
        self.server.start()
        r = self.server.get(V3 + "/account/whoami", token=reg["access_token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.server.login("survivor", "survivor password").status, 200)
        self.assertError(self.server.post(V3 + "/register", {"username": "survivor", "password": "x" * 10,
                                                             "auth": {"type": "m.login.dummy"}}),
                         400, "M_USER_IN_USE")


class RegistrationDisabled(ServerTestCase):
    extra_config = "enable_registration: false\n"

    def test_registration_refused(self):
        r = self.server.post(V3 + "/register", {"username": "x", "password": "y" * 10,
                                                "auth": {"type": "m.login.dummy"}})
        self.assertError(r, 403, "M_FORBIDDEN")


if __name__ == "__main__":
    main()
