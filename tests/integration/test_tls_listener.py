"""A listener with `tls: true` terminates TLS itself (tls_certificate_path, tls_private_key_path):
with a certificate from a private CA (fedremote.make_ca_and_cert) the key document and the client
API answer over HTTPS, verified against that CA; a plain-HTTP request and a client that never
finishes the handshake get a closed connection (within the header timeout), not a hang; a TLS
listener without its files, or with files that are not PEM, does not start, and says which key."""
import http.client
import os
import socket
import ssl
import tempfile
import time

import harness
from harness import Server, ServerTestCase, main
from fedremote import make_ca_and_cert


def tls_config(cert, key, extra=""):
    return ("listeners:\n  - port: 0\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: true\n"
            "    resources:\n      - names: [client, federation]\n"
            f"tls_certificate_path: '{cert}'\ntls_private_key_path: '{key}'\n" + extra)


class TlsListener(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ca, cert, key = make_ca_and_cert(cls.tmp.name)
        cls.extra_config = tls_config(cert, key, "limits:\n  header_timeout: 2s\n")
        super().setUpClass()
        cls.server.connect = cls.https_connection  # the harness's requests go over TLS

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.tmp.cleanup()

    @classmethod
    def https_connection(cls, timeout=30):
        context = ssl.create_default_context(cafile=cls.ca)
        return http.client.HTTPSConnection("127.0.0.1", cls.server.port, timeout=timeout, context=context)

    def test_federation_and_client_resources_over_https(self):
        r = self.server.get("/_matrix/key/v2/server")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["server_name"], "test.local")
        r = self.server.get("/_matrix/client/versions")
        self.assertEqual(r.status, 200, r)
        self.assertIn("versions", r.json)
        # Keep-alive: several requests on one TLS connection.
        conn = self.https_connection()
        try:
            for _ in range(3):
                self.assertEqual(self.server.get("/_matrix/federation/v1/version", conn=conn).status, 200)
        finally:
            conn.close()

    def test_untrusted_certificate_is_refused_by_the_client(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.server.port, timeout=10,
                                           context=ssl.create_default_context())  # system CAs only
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/_matrix/client/versions")
        conn.close()

    def read_until_closed(self, sock, limit):
        """Reads until the server closes; fails if it is still open after `limit` seconds."""
        sock.settimeout(limit)
        deadline = time.time() + limit
        while time.time() < deadline:
            try:
                if not sock.recv(4096):
                    return
            except ConnectionResetError:
                return
            except socket.timeout:
                break
        self.fail(f"the server kept the connection open for more than {limit}s")

    def test_plain_http_on_the_tls_port_is_closed(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n")
            self.read_until_closed(s, 5)

    def test_stalled_handshake_is_closed_after_the_header_timeout(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, never finished
            start = time.time()
            self.read_until_closed(s, 8)
            self.assertGreater(time.time() - start, 1)
        # The server is still fine.
        self.assertEqual(self.server.get("/_matrix/client/versions").status, 200)


class TlsStartupErrors(ServerTestCase):
    """No shared server: each case starts (or fails to start) its own."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.ca, cls.cert, cls.key = make_ca_and_cert(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assert_start_fails(self, extra_config, *expected):
        server = Server(extra_config)
        try:
            with self.assertRaises(RuntimeError) as cm:
                server.start()
            for text in expected:
                self.assertIn(text, str(cm.exception))
        finally:
            server.cleanup()

    def test_missing_certificate_file(self):
        missing = os.path.join(self.tmp.name, "nope.pem")
        self.assert_start_fails(tls_config(missing, self.key), "tls_certificate_path", "nope.pem")

    def test_missing_keys(self):
        self.assert_start_fails(tls_config(self.cert, self.key).split("tls_private_key_path")[0],
                                "tls_private_key_path", "required")

    def test_not_pem(self):
        junk = os.path.join(self.tmp.name, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        self.assert_start_fails(tls_config(junk, self.key), "tls_certificate_path", "junk.pem")
        self.assert_start_fails(tls_config(self.cert, junk), "tls_private_key_path", "junk.pem")

    def test_key_of_another_certificate(self):
        self.assert_start_fails(tls_config(self.cert, os.path.join(self.tmp.name, "ca.key")),
                                "tls_private_key_path", "ca.key", "mismatch")


if __name__ == "__main__":
    main()
