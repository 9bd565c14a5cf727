"""A fake remote homeserver for federation tests: a private CA and certificate for 127.0.0.1
(made with openssl), an HTTPS server that serves its key document and whatever routes a test adds,
X-Matrix signing of its own requests and verification of Myelin's, all with Debian's
python3-signedjson (the library Synapse signs with)."""
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import tempfile

from harness import ServerTestCase, reply_json

# Debian installs signedjson for the system interpreter; the test may run under another python3.
for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
# Required, not skipped: scripts/install-deps.sh installs it for `make test`.
import signedjson.key  # noqa: E402
import signedjson.sign  # noqa: E402


def unpadded_b64decode(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))


# ---- events, as a homeserver builds them (room version 10) ----

def canonical_json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def unpadded_b64(data, urlsafe=False):
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return text.rstrip("=")


_KEEP_CONTENT_V10 = {
    "m.room.member": ("membership", "join_authorised_via_users_server"),
    "m.room.create": ("creator",),
    "m.room.join_rules": ("join_rule", "allow"),
    "m.room.power_levels": ("ban", "events", "events_default", "kick", "redact", "state_default", "users",
                            "users_default"),
    "m.room.history_visibility": ("history_visibility",),
}
_KEEP_TOP = ("event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
             "prev_events", "auth_events", "origin", "origin_server_ts")


def redact_v10(event):
    """The redaction algorithm of room version 10 (rooms/v10 "Redactions")."""
    out = {k: v for k, v in event.items() if k in _KEEP_TOP}
    keep = _KEEP_CONTENT_V10.get(event.get("type"), ())
    out["content"] = {k: v for k, v in event.get("content", {}).items() if k in keep}
    return out


def event_id_v10(event):
    """'$' + URL-safe unpadded base64 of the reference hash."""
    import hashlib
    redacted = redact_v10(event)
    redacted.pop("signatures", None)
    redacted.pop("unsigned", None)
    return "$" + unpadded_b64(hashlib.sha256(canonical_json(redacted)).digest(), urlsafe=True)


def seal_event_v10(event, server_name, signing_key):
    """Adds the content hash and `server_name`'s signature (over the redacted event); returns
    (event_id, event)."""
    import hashlib
    event = dict(event)
    for key in ("unsigned", "signatures", "hashes"):
        event.pop(key, None)
    event["hashes"] = {"sha256": unpadded_b64(hashlib.sha256(canonical_json(event)).digest())}
    signed = signedjson.sign.sign_json(redact_v10(event), server_name, signing_key)
    event["signatures"] = signed["signatures"]
    return event_id_v10(event), event


def make_ca_and_cert(directory, subject_alt_name="IP:127.0.0.1"):
    """A private CA and a certificate signed by it (PEM files), for 127.0.0.1 unless
    `subject_alt_name` names something else (openssl syntax: "DNS:localhost")."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Myelin test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    common_name = subject_alt_name.split(":", 1)[1].split(",")[0]
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={common_name}", "-keyout", "server.key",
        "-out", "server.csr")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write(f"subjectAltName={subject_alt_name}\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "ext.cnf", "-out", "server.pem")
    return os.path.join(directory, "ca.pem"), os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")


class RemoteServer:
    """A remote homeserver as far as keys go: /_matrix/key/v2/server over HTTPS, and signing.
    Its server name is "127.0.0.1:PORT" unless `name` gives another (one that discovery leads to
    this server, such as "localhost" with an SRV record)."""

    def __init__(self, cert, key, name=None):
        self.signing_key = signedjson.key.generate_signing_key("t1")
        self.key_id = "ed25519:t1"
        remote = self
        self.fetches = 0
        self.hosts_seen = []          # (method, path, Host header) of every request, in order
        self.peer_keys = {}           # (server, key id) → verify key of servers allowed to ask
        self.verified_requests = []   # (origin, path) of requests whose signature checked out
        self.old_verify_keys = {}     # key id → {"key": base64, "expired_ts": ms}: keys it retired
        # (method, path regex, fn(handler, match, parsed JSON body or None)) tried before the
        # built-in routes; tests append their own.
        self.routes = []

        class Handler(BaseHTTPRequestHandler):
            def parse_request(self):
                ok = super().parse_request()
                if ok:
                    remote.hosts_seen.append((self.command, self.path, self.headers.get("Host")))
                return ok

            def dispatch(self, method):
                for m, pattern, fn in remote.routes:
                    match = re.match(pattern, self.path)
                    if m == method and match:
                        length = int(self.headers.get("Content-Length") or 0)
                        raw = self.rfile.read(length) if length else b""
                        fn(self, match, json.loads(raw) if raw else None)
                        return True
                return False

            def do_PUT(self):
                if not self.dispatch("PUT"):
                    self.send_error(404)

            def do_POST(self):
                if not self.dispatch("POST"):
                    self.send_error(404)

            def do_GET(self):
                if self.dispatch("GET"):
                    return
                if self.path == "/_matrix/key/v2/server":
                    remote.fetches += 1
                    reply_json(self, 200, remote.key_document())
                elif self.path.startswith("/_matrix/federation/v1/query/profile?"):
                    origin = remote.verify(self, "GET")
                    if not origin:
                        reply_json(self, 401, {"errcode": "M_UNAUTHORIZED", "error": "bad signature"})
                        return
                    user = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["user_id"][0]
                    if user == f"@rita:{remote.name}":
                        reply_json(self, 200, {"displayname": "Remote Rita", "avatar_url": "mxc://x/y"})
                    else:
                        reply_json(self, 404, {"errcode": "M_NOT_FOUND", "error": "no such user"})
                elif self.path.startswith("/_matrix/federation/v1/query/directory?"):
                    if not remote.verify(self, "GET"):
                        reply_json(self, 401, {"errcode": "M_UNAUTHORIZED", "error": "bad signature"})
                        return
                    alias = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["room_alias"][0]
                    if alias == f"#lobby:{remote.name}":
                        reply_json(self, 200, {"room_id": f"!lobby:{remote.name}", "servers": [remote.name, 7]})
                    else:
                        reply_json(self, 404, {"errcode": "M_NOT_FOUND", "error": "no such alias"})
                else:
                    self.send_error(404)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.name = name or f"127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def verify(self, handler, method, content=None):
        """The origin of a request to this server when its X-Matrix signature verifies, else None.
        `content`: the request's parsed JSON body, which the signature covers."""
        params = dict(re.findall(r'(\w+)="([^"]*)"', handler.headers.get("Authorization", "")))
        key = self.peer_keys.get((params.get("origin"), params.get("key")))
        if not key or params.get("destination") != self.name:
            return None
        signed = {"method": method, "uri": handler.path, "origin": params["origin"], "destination": self.name,
                  "signatures": {params["origin"]: {params["key"]: params["sig"]}}}
        if content is not None:
            signed["content"] = content
        try:
            signedjson.sign.verify_signed_json(signed, params["origin"], key)
        except signedjson.sign.SignatureVerifyException:
            return None
        self.verified_requests.append((params["origin"], handler.path))
        return params["origin"]

    def rotate_key(self, expired_ts):
        """Retires the current key (into old_verify_keys, expired at `expired_ts`) for a new one;
        returns the retired signing key."""
        old = self.signing_key
        self.old_verify_keys[self.key_id] = {
            "key": signedjson.key.encode_verify_key_base64(signedjson.key.get_verify_key(old)),
            "expired_ts": expired_ts}
        version = f"t{len(self.old_verify_keys) + 1}"
        self.signing_key = signedjson.key.generate_signing_key(version)
        self.key_id = f"ed25519:{version}"
        return old

    def key_document(self):
        verify = signedjson.key.encode_verify_key_base64(signedjson.key.get_verify_key(self.signing_key))
        doc = {"server_name": self.name, "valid_until_ts": int(time.time() * 1000) + 3600 * 1000,
               "verify_keys": {self.key_id: {"key": verify}}, "old_verify_keys": dict(self.old_verify_keys)}
        return signedjson.sign.sign_json(doc, self.name, self.signing_key)

    def authorization(self, method, uri, destination, content=None, key=None, origin=None):
        origin = origin or self.name
        obj = {"method": method, "uri": uri, "origin": origin, "destination": destination}
        if content is not None:
            obj["content"] = content
        signed = signedjson.sign.sign_json(obj, origin, key or self.signing_key)
        sig = signed["signatures"][origin][f"ed25519:{(key or self.signing_key).version}"]
        return f'X-Matrix origin="{origin}",destination="{destination}",key="ed25519:{(key or self.signing_key).version}",sig="{sig}"'

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FederationTestCase(ServerTestCase):
    """One Myelin server and a fake remote homeserver that trust each other: Myelin trusts the
    remote's certificate (federation_custom_ca_list, loopback allowed), the remote knows Myelin's
    signing key (remote.peer_keys). `more_config` is added to Myelin's config; a suite that needs
    more fake servers before Myelin starts makes them in `prepare_remotes` (cls.cert: the
    certificate and key every fake server may use) and closes them in `close_remotes`.
    `certificate_names` / `remote_name`: the remote's certificate subjectAltName and server name
    (default: 127.0.0.1 and "127.0.0.1:<port>")."""
    more_config = ""
    certificate_names = "IP:127.0.0.1"
    remote_name = None

    @classmethod
    def prepare_remotes(cls):
        pass

    @classmethod
    def close_remotes(cls):
        pass

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        ca, cert, key = make_ca_and_cert(cls.tmp.name, cls.certificate_names)
        cls.cert = (cert, key)
        cls.remote = RemoteServer(cert, key, name=cls.remote_name)
        cls.remote.events = {}  # event id → event: what the remote "has" (build() adds to it)
        try:
            cls.prepare_remotes()
            cls.extra_config = (f"federation_custom_ca_list: ['{ca}']\n"
                                "ip_range_whitelist: ['127.0.0.1']\n" + cls.more_config)
            super().setUpClass()
        except BaseException:
            cls.close_remotes()
            cls.remote.close()
            cls.tmp.cleanup()
            raise
        doc = cls.server.get("/_matrix/key/v2/server").json
        (key_id, entry), = doc["verify_keys"].items()
        cls.remote.peer_keys[("test.local", key_id)] = signedjson.key.decode_verify_key_bytes(
            key_id, unpadded_b64decode(entry["key"]))

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.close_remotes()
            cls.remote.close()
            cls.tmp.cleanup()

    @classmethod
    def fed(cls, method, path, body=None):
        """A request from the remote to Myelin, signed with X-Matrix."""
        auth = cls.remote.authorization(method, path, "test.local", content=body)
        return cls.server.request(method, path, body, headers={"Authorization": auth})

    @classmethod
    def join_remote_user(cls, room, user, omit_members=False):
        """`user` (of the remote) joins `room` through make_join / send_join, as a real server would
        (asking for the reduced answer of faster joins with `omit_members`).
        Returns (join event id, send_join's answer)."""
        q = urllib.parse.quote
        r = cls.fed("GET", f"/_matrix/federation/v1/make_join/{q(room, safe='')}/{q(user, safe='')}?ver=10")
        assert r.status == 200, r
        template = dict(r.json["event"], origin=cls.remote.name, origin_server_ts=int(time.time() * 1000))
        event_id, event = seal_event_v10(template, cls.remote.name, cls.remote.signing_key)
        r = cls.fed("PUT", f"/_matrix/federation/v2/send_join/{q(room, safe='')}/{q(event_id, safe='')}"
                           + ("?omit_members=true" if omit_members else ""), event)
        assert r.status == 200, r
        cls.joined_events = getattr(cls, "joined_events", {})
        cls.joined_events[event_id] = event
        return event_id, r.json

    # ---- helpers for suites that play the remote ----

    def rita(self, name="rita"):
        return f"@{name}:{self.remote.name}"

    def room_of_alice(self, **extra):
        r = self.server.register(f"alice{int(time.time() * 1000) % 1000000}")
        body = {"preset": "public_chat"}
        body.update(extra)
        room = self.server.post("/_matrix/client/v3/createRoom", body, token=r["access_token"]).json["room_id"]
        return room, r["user_id"], r["access_token"]

    def build(self, room, sender, type_, content, prev, auth, depth, state_key=None, key=None, ts=None):
        """An event of the remote, sealed with its key (or `key`), remembered in remote.events."""
        event = {"type": type_, "room_id": room, "sender": sender, "content": content, "depth": depth,
                 "prev_events": prev, "auth_events": auth, "origin": self.remote.name,
                 "origin_server_ts": ts or int(time.time() * 1000)}
        if state_key is not None:
            event["state_key"] = state_key
        event_id, event = seal_event_v10(event, self.remote.name, key or self.remote.signing_key)
        self.remote.events[event_id] = event
        return event_id, event

    def send(self, pdus, edus=()):
        """A /send/ transaction of the remote."""
        txn = f"t{time.time_ns()}"
        path = f"/_matrix/federation/v1/send/{txn}"
        body = {"origin": self.remote.name, "origin_server_ts": int(time.time() * 1000), "pdus": list(pdus),
                "edus": list(edus)}
        return self.fed("PUT", path, body)

    def messages(self, room, token):
        r = self.server.get(f"/_matrix/client/v3/rooms/{urllib.parse.quote(room, safe='')}/messages?dir=b&limit=50", token=token)
        self.assertEqual(r.status, 200, r)
        return {e["event_id"]: e for e in r.json["chunk"]}

    def auth_ids(self, room, token, user):
        """create, power levels and the user's member event ids (what a message's auth events are)."""
        state = self.server.get(f"/_matrix/client/v3/rooms/{urllib.parse.quote(room, safe='')}/state", token=token).json
        by_key = {(e["type"], e["state_key"]): e["event_id"] for e in state}
        return [by_key[("m.room.create", "")], by_key[("m.room.power_levels", "")],
                by_key[("m.room.member", user)]]
