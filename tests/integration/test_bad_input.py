"""Bad input gets a clear Matrix error and the server keeps serving: unknown endpoints, wrong
methods, malformed JSON, wrong types, huge bodies and headers, floods of unknown paths, slowloris
clients, garbage bytes, rate limits, expired tokens, CORS preflight."""
import json
import socket
import threading
import time

from harness import ServerTestCase, main

V3 = "/_matrix/client/v3"


def raw_exchange(port, data, timeout=5.0):
    """Sends raw bytes and returns whatever comes back before the server closes or times out."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        s.close()


class Errors(ServerTestCase):
    extra_config = ("limits:\n  max_request_body_size: 65536\n  max_header_size: 8192\n"
                    "  header_timeout: 2s\n  max_json_depth: 32\n")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.token = cls.server.register("badinput")["access_token"]

    def alive(self):
        r = self.server.get("/_matrix/client/versions")
        self.assertEqual(r.status, 200)

    def test_unknown_endpoint_is_404_unrecognized(self):
        self.assertError(self.server.get("/_matrix/client/v3/no/such/thing"), 404, "M_UNRECOGNIZED")
        self.assertError(self.server.get("/"), 404, "M_UNRECOGNIZED")
        self.assertError(self.server.post("/_matrix/client/v99/login", {}), 404, "M_UNRECOGNIZED")

    def test_wrong_method_is_405(self):
        r = self.server.request("DELETE", V3 + "/account/whoami", token=self.token)
        self.assertError(r, 405, "M_UNRECOGNIZED")
        self.assertError(self.server.put(V3 + "/login", {}), 405, "M_UNRECOGNIZED")

    def test_not_json_and_bad_json(self):
        r = self.server.request("POST", V3 + "/login", raw=b"{not json",
                                headers={"Content-Type": "application/json"})
        self.assertError(r, 400, "M_NOT_JSON")
        self.assertError(self.server.request("POST", V3 + "/login", raw=b""), 400, "M_NOT_JSON")
        self.assertError(self.server.post(V3 + "/login", [1, 2, 3]), 400, "M_BAD_JSON")
        self.assertError(self.server.post(V3 + "/login", {"type": ["m.login.password"]}), 400, "M_BAD_JSON")
        self.assertError(self.server.post(V3 + "/register", {"username": 7, "password": "x" * 10,
                                                             "auth": {"type": "m.login.dummy"}}), 400, "M_BAD_JSON")
        self.assertError(self.server.put(V3 + "/devices/X", {"display_name": 5}, token=self.token), 400, "M_BAD_JSON")
        deep = "[" * 100 + "]" * 100
        r = self.server.request("POST", V3 + "/login", raw=('{"a":' + deep + "}").encode())
        self.assertError(r, 400, "M_NOT_JSON")
        r = self.server.request("POST", V3 + "/login", raw=b'{"type": "m.login.password", "password": "\xff\xfe"}')
        self.assertEqual(r.status, 400, r)
        self.alive()

    def test_huge_body_is_413_and_nothing_is_written(self):
        body = {"username": "huge", "password": "x" * 10, "auth": {"type": "m.login.dummy"}, "pad": "p" * 200000}
        r = self.server.post(V3 + "/register", body)
        self.assertError(r, 413, "M_TOO_LARGE")
        self.assertEqual(self.server.get(V3 + "/register/available?username=huge").status, 200)
        self.alive()

    def test_huge_headers_are_refused(self):
        data = (b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        reply = raw_exchange(self.server.port, data)
        self.assertTrue(reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:200])
        self.alive()

    def test_ten_thousand_unknown_paths(self):
        conn = self.server.connect()
        try:
            for i in range(10000):
                conn.request("GET", f"/_matrix/client/v3/unknown/{i}/x%2Fy?z={i}")
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 404)
                if i % 2500 == 0:
                    self.assertEqual(json.loads(body)["errcode"], "M_UNRECOGNIZED")
        finally:
            conn.close()
        self.alive()

    def test_slowloris_is_cut_off_and_others_are_served(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        start = time.time()
        closed = False
        try:
            s.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\n")
            for i in range(100):
                try:
                    s.sendall(b"X-Slow-%d: y\r\n" % i)
                except OSError:
                    closed = True
                    break
                self.alive()  # everyone else is still served meanwhile
                time.sleep(0.1)
                s.settimeout(0.01)
                try:
                    if s.recv(1024) == b"":
                        closed = True
                        break
                except socket.timeout:
                    pass
                except OSError:
                    closed = True
                    break
        finally:
            s.close()
        self.assertTrue(closed, "a client trickling headers was never disconnected")
        self.assertLess(time.time() - start, 8)

    def test_garbage_bytes_do_not_hurt(self):
        import random
        rnd = random.Random(42)
        for i in range(300):
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
            if i % 3 == 0:
                data = b"GET /" + data + b" HTTP/1.1\r\n\r\n"
            try:
                raw_exchange(self.server.port, data, timeout=0.5)
            except OSError:
                pass
        self.alive()

    def test_cors_preflight(self):
        r = self.server.request("OPTIONS", V3 + "/login", headers={"Origin": "https://app.example",
                                                                    "Access-Control-Request-Method": "POST"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "*")
        self.assertIn("POST", r.headers.get("access-control-allow-methods", ""))
        self.assertIn("Authorization", r.headers.get("access-control-allow-headers", ""))

    def test_malformed_authorization_header(self):
        r = self.server.get(V3 + "/account/whoami", headers={"Authorization": "Basic abc"})
        self.assertEqual(r.status, 401, r)
        self.assertIn(r.errcode, ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN"))

    def test_concurrent_clients(self):
        errors = []

        def worker():
            try:
                conn = self.server.connect()
                for _ in range(50):
                    conn.request("GET", V3 + "/account/whoami", headers={"Authorization": "Bearer " + self.token})
                    r = conn.getresponse()
                    r.read()
                    if r.status != 200:
                        errors.append(r.status)
                conn.close()
            except Exception as e:  # noqa: BLE001 — record and fail below
                errors.append(repr(e))

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


class RateLimits(ServerTestCase):
    extra_config = ("rc_login:\n  address: {per_second: 0.1, burst_count: 3}\n"
                    "  account: {per_second: 1000, burst_count: 1000}\n"
                    "  failed_attempts: {per_second: 1000, burst_count: 1000}\n")

    def test_login_is_rate_limited_per_address(self):
        statuses = []
        last = None
        for _ in range(5):
            last = self.server.login("nobody", "x")
            statuses.append(last.status)
        self.assertEqual(statuses[:3], [403, 403, 403])
        self.assertEqual(statuses[3:], [429, 429])
        self.assertEqual(last.errcode, "M_LIMIT_EXCEEDED")
        self.assertGreater(last.json["retry_after_ms"], 0)
        self.assertIn("retry-after", last.headers)
        # Other endpoints are unaffected.
        self.assertEqual(self.server.get("/_matrix/client/versions").status, 200)


class AccountLoginLimits(ServerTestCase):
    extra_config = ("rc_login:\n  address: {per_second: 1000, burst_count: 1000}\n"
                    "  account: {per_second: 1000, burst_count: 1000}\n"
                    "  failed_attempts: {per_second: 0.05, burst_count: 3}\n")

    def test_failed_attempts_lock_the_account_even_for_the_right_password(self):
        self.server.register("guarded", "the real password")
        statuses = [self.server.login("guarded", f"guess {i}").status for i in range(4)]
        self.assertEqual(statuses, [403, 403, 403, 429])
        r = self.server.login("guarded", "the real password")
        self.assertError(r, 429, "M_LIMIT_EXCEEDED")
        self.assertGreater(r.json["retry_after_ms"], 0)
        self.assertIn("retry-after", r.headers)
        # Other accounts are not affected.
        self.server.register("bystander", "bystander password")
        self.assertEqual(self.server.login("bystander", "bystander password").status, 200)


class ListenerResources(ServerTestCase):
    extra_config = ("listeners:\n"
                    "  - port: 0\n    bind_addresses: ['127.0.0.1']\n    resources: [{names: [client]}]\n"
                    "  - port: 0\n    bind_addresses: ['127.0.0.1']\n    resources: [{names: [federation]}]\n")

    def test_each_listener_serves_only_its_resources(self):
        import re
        ports = re.findall(r"myelin ready .*ports=([\d,]+)", self.server.read_log())[-1].split(",")
        self.assertEqual(len(ports), 2, ports)
        client_port, federation_port = int(ports[0]), int(ports[1])
        self.assertEqual(client_port, self.server.port)
        tok = self.server.register("resources")["access_token"]
        self.assertEqual(self.server.get("/_matrix/client/versions").status, 200)
        self.assertError(self.server.get("/_matrix/federation/v1/openid/userinfo?access_token=x"),
                         404, "M_UNRECOGNIZED")
        self.server.port = federation_port
        try:
            self.assertError(self.server.get("/_matrix/client/versions"), 404, "M_UNRECOGNIZED")
            self.assertError(self.server.get("/_matrix/client/v3/account/whoami", token=tok), 404, "M_UNRECOGNIZED")
            self.assertError(self.server.get("/_matrix/federation/v1/openid/userinfo?access_token=x"),
                             401, "M_UNKNOWN_TOKEN")
        finally:
            self.server.port = client_port


class ExpiringTokens(ServerTestCase):
    extra_config = "session_lifetime: 2s\n"

    def test_expired_token_is_soft_logout(self):
        reg = self.server.register("expiring")
        self.assertEqual(reg.get("expires_in_ms"), 2000)
        self.assertEqual(self.server.get(V3 + "/account/whoami", token=reg["access_token"]).status, 200)
        time.sleep(2.2)
        r = self.server.get(V3 + "/account/whoami", token=reg["access_token"])
        self.assertError(r, 401, "M_UNKNOWN_TOKEN")
        self.assertIs(r.json.get("soft_logout"), True)


if __name__ == "__main__":
    main()
