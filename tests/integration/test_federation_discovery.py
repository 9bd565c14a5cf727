"""Server discovery over SRV records (server-server API "Resolving server names", steps 4–6),
through real DNS queries to a tiny DNS server on a loopback UDP port (federation_dns_servers).

The remote is the fake homeserver of fedremote.py under the server name "localhost" (no port),
its certificate made for DNS:localhost only. Nothing listens on https://localhost:443, so the
/.well-known fetch fails fast and Myelin looks up `_matrix-fed._tcp.localhost`, then the deprecated
`_matrix._tcp.localhost`, then falls back to localhost:8448. A client's GET /profile of
@rita:localhost makes Myelin send a signed query/profile to the remote: it must arrive with
Host: localhost and an X-Matrix signature for destination "localhost" (the remote verifies it with
signedjson), whatever host and port the SRV record pointed at. The other way round, a request
signed by "localhost" makes Myelin fetch the remote's keys along the same route.

Routes are cached for minutes inside the process, so each case starts a fresh Myelin process."""
import socket
import struct
import threading
import time
import urllib.parse

from harness import main
from fedremote import FederationTestCase

SRV, CLASS_IN = 33, 1
NXDOMAIN = 3


def dns_name(name):
    out = b""
    for label in name.rstrip(".").split(".") if name not in ("", ".") else []:
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


class DnsServer:
    """A DNS server on a loopback UDP port: an SRV query for a name in `srv` is answered with its
    records ((priority, weight, port, target) tuples), a name not in it with NXDOMAIN. Every
    question asked is kept in `asked` as (name, type)."""

    def __init__(self, ttl=300):
        self.srv = {}
        self.asked = []
        self.ttl = ttl
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:
                return  # closed
            reply = self.answer(query)
            if reply:
                self.sock.sendto(reply, peer)

    def answer(self, query):
        if len(query) < 17:
            return None
        query_id, flags = struct.unpack(">HH", query[:4])
        labels, i = [], 12
        while i < len(query) and query[i] != 0:
            length = query[i]
            labels.append(query[i + 1:i + 1 + length].decode("ascii", "replace"))
            i += 1 + length
        if i + 5 > len(query):
            return None
        qtype, _ = struct.unpack(">HH", query[i + 1:i + 5])
        question = query[12:i + 5]
        name = ".".join(labels).lower()
        self.asked.append((name, qtype))
        records = self.srv.get(name)
        answers = []
        if records is not None and qtype == SRV:
            for priority, weight, port, target in records:
                rdata = struct.pack(">HHH", priority, weight, port) + dns_name(target)
                answers.append(b"\xc0\x0c" + struct.pack(">HHIH", SRV, CLASS_IN, self.ttl, len(rdata)) + rdata)
        rcode = NXDOMAIN if records is None else 0
        header = struct.pack(">HHHHHH", query_id, 0x8000 | (flags & 0x0100) | 0x0080 | rcode, 1, len(answers), 0, 0)
        return header + question + b"".join(answers)

    def close(self):
        self.sock.close()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class FederationDiscovery(FederationTestCase):
    certificate_names = "DNS:localhost"
    remote_name = "localhost"

    @classmethod
    def prepare_remotes(cls):
        cls.dns = DnsServer()
        cls.more_config = f"federation_dns_servers: ['127.0.0.1:{cls.dns.port}']\n"

    @classmethod
    def close_remotes(cls):
        if hasattr(cls, "dns"):
            cls.dns.close()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.asker = cls.server.register("asker")

    def setUp(self):
        # A fresh process: no route (nor /.well-known answer) cached from another case.
        self.server.stop()
        self.server.start()
        self.dns.srv.clear()
        self.dns.asked.clear()
        self.remote.hosts_seen.clear()
        self.remote.verified_requests.clear()

    def remote_profile(self):
        return self.server.get("/_matrix/client/v3/profile/" + urllib.parse.quote("@rita:localhost"),
                               token=self.asker["access_token"])

    def assert_profile_query_reached_the_remote(self):
        r = self.remote_profile()
        self.assertEqual(r.status, 200, f"{r} {self.server.read_log()[-3000:]}")
        self.assertEqual(r.json["displayname"], "Remote Rita")
        queries = [(host, path) for method, path, host in self.remote.hosts_seen
                   if path.startswith("/_matrix/federation/v1/query/profile?")]
        self.assertTrue(queries, self.remote.hosts_seen)
        # Host names the server, not the SRV target, and has no port (the server name has none).
        self.assertEqual({host for host, _ in queries}, {"localhost"})
        # The remote checked the signature, made for destination "localhost".
        self.assertIn(("test.local", queries[-1][1]), self.remote.verified_requests)

    def test_matrix_fed_srv_record(self):
        self.dns.srv["_matrix-fed._tcp.localhost"] = [(10, 0, self.remote.port, "localhost")]
        self.assert_profile_query_reached_the_remote()
        self.assertEqual(self.dns.asked, [("_matrix-fed._tcp.localhost", SRV)])  # the deprecated one not needed
        # The route is cached: another request asks DNS nothing.
        self.assert_profile_query_reached_the_remote()
        self.assertEqual(len(self.dns.asked), 1)

    def test_certificate_and_host_are_the_servers_not_the_targets(self):
        # The target is an address the certificate does not name: TLS still checks "localhost".
        self.dns.srv["_matrix-fed._tcp.localhost"] = [(0, 0, self.remote.port, "127.0.0.1")]
        self.assert_profile_query_reached_the_remote()

    def test_deprecated_matrix_srv_record(self):
        self.dns.srv["_matrix._tcp.localhost"] = [(0, 0, self.remote.port, "localhost.")]
        self.assert_profile_query_reached_the_remote()
        self.assertEqual(self.dns.asked, [("_matrix-fed._tcp.localhost", SRV), ("_matrix._tcp.localhost", SRV)])

    def test_next_target_when_the_first_refuses(self):
        self.dns.srv["_matrix-fed._tcp.localhost"] = [(20, 0, self.remote.port, "localhost"),
                                                      (10, 5, closed_port(), "localhost")]
        start = time.monotonic()
        self.assert_profile_query_reached_the_remote()
        self.assertLess(time.monotonic() - start, 8)

    def test_keys_of_a_requesting_server_are_fetched_through_srv(self):
        self.dns.srv["_matrix-fed._tcp.localhost"] = [(10, 0, self.remote.port, "localhost")]
        uri = "/_matrix/federation/v1/query/profile?user_id=" + urllib.parse.quote(self.asker["user_id"])
        auth = self.remote.authorization("GET", uri, "test.local")
        r = self.server.request("GET", uri, headers={"Authorization": auth})
        self.assertEqual(r.status, 200, r)
        self.assertIn(("GET", "/_matrix/key/v2/server", "localhost"), self.remote.hosts_seen)

    def test_no_srv_record_is_a_quick_clear_error(self):
        if listening(8448):
            self.skipTest("something listens on 127.0.0.1:8448, where discovery falls back to")
        start = time.monotonic()
        r = self.remote_profile()
        self.assertError(r, 502, "M_UNKNOWN")
        self.assertIn("localhost", r.json["error"])
        self.assertLess(time.monotonic() - start, 8)
        self.assertEqual(self.dns.asked, [("_matrix-fed._tcp.localhost", SRV), ("_matrix._tcp.localhost", SRV)])
        self.assertEqual(self.remote.hosts_seen, [])

    def test_dot_target_means_no_service(self):
        if listening(8448):
            self.skipTest("something listens on 127.0.0.1:8448, where discovery falls back to")
        self.dns.srv["_matrix-fed._tcp.localhost"] = [(0, 0, 0, ".")]
        self.dns.srv["_matrix._tcp.localhost"] = [(0, 0, 0, ".")]
        self.assertError(self.remote_profile(), 502, "M_UNKNOWN")
        self.assertEqual(self.remote.hosts_seen, [])


if __name__ == "__main__":
    main()
