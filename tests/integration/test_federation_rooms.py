"""Two Myelin servers federating over TLS on loopback (a private CA made here; each server's name is
"127.0.0.1:<its federation port>", so no DNS or .well-known is involved):

- a user of B joins a room of A by room id (make_join / send_join): B stores the room's state and
  auth chain, both servers see the member, and the join is refused for an invite-only room;
- a user of A invites a user of B (invite v2): B countersigns, B's user sees the invite with the
  room's stripped state in /sync and joins; an invite rejected through make_leave / send_leave;
- what B may read of A's room over federation (event, state, state_ids, event_auth, backfill,
  get_missing_events) is answered only for servers in the room.
"""
import os
import tempfile
import time
import unittest
import urllib.parse

from harness import Server, free_port, main
from fedremote import make_ca_and_cert


def q(s):
    return urllib.parse.quote(s, safe="")


class FederatedPair:
    """Servers A and B, each with a plain client listener and a TLS federation listener."""

    def __init__(self, names=("a", "b")):
        self.tmp = tempfile.TemporaryDirectory()
        ca, cert, key = make_ca_and_cert(self.tmp.name)
        self.servers = {}
        for name in names:
            port = free_port()
            server_name = f"127.0.0.1:{port}"
            config = (f"server_name: '{server_name}'\n"
                      "listeners:\n"
                      "  - port: 0\n    bind_addresses: ['127.0.0.1']\n    type: http\n"
                      "    resources:\n      - names: [client]\n"
                      f"  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n    tls: true\n"
                      "    resources:\n      - names: [federation]\n"
                      f"tls_certificate_path: '{cert}'\n"
                      f"tls_private_key_path: '{key}'\n"
                      f"federation_custom_ca_list: ['{ca}']\n"
                      "ip_range_whitelist: ['127.0.0.1']\n")
            s = Server(config)
            s.server_name = server_name
            self.servers[name] = s
        for s in self.servers.values():
            s.start()

    def close(self):
        for s in self.servers.values():
            try:
                s.stop()
            finally:
                s.cleanup()
        self.tmp.cleanup()


class FederationRooms(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pair = FederatedPair()
        cls.a = cls.pair.servers["a"]
        cls.b = cls.pair.servers["b"]

    @classmethod
    def tearDownClass(cls):
        cls.pair.close()

    def assertError(self, r, status, errcode):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.json.get("errcode"), errcode, r)

    def user(self, server, name):
        r = server.register(f"{name}{int(time.time() * 1000) % 100000}")
        return r["user_id"], r["access_token"]

    def members(self, server, room, token):
        r = server.get(f"/_matrix/client/v3/rooms/{q(room)}/joined_members", token=token)
        self.assertEqual(r.status, 200, r)
        return set(r.json["joined"])

    def wait_for(self, predicate, timeout=15, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}")

    def public_room(self, owner_token, server=None, **extra):
        body = {"preset": "public_chat", "name": "Federated"}
        body.update(extra)
        r = (server or self.a).post("/_matrix/client/v3/createRoom", body, token=owner_token)
        self.assertEqual(r.status, 200, r)
        return r.json["room_id"]

    def test_join_through_the_resident_server(self):
        alice, alice_token = self.user(self.a, "alice")
        bob, bob_token = self.user(self.b, "bob")
        room = self.public_room(alice_token)
        r = self.b.post(f"/_matrix/client/v3/join/{q(room)}?server_name={q(self.a.server_name)}", {}, token=bob_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["room_id"], room)
        # Both servers have the room's members; B has the room's state (its name) from send_join.
        self.assertEqual(self.members(self.a, room, alice_token), {alice, bob})
        self.assertEqual(self.members(self.b, room, bob_token), {alice, bob})
        name = self.b.get(f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.name/", token=bob_token)
        self.assertEqual(name.status, 200, name)
        self.assertEqual(name.json["name"], "Federated")
        # B's user sees the room, with its join, in /sync.
        sync = self.b.get("/_matrix/client/v3/sync", token=bob_token)
        self.assertEqual(sync.status, 200, sync)
        joined = sync.json["rooms"]["join"][room]
        timeline_ids = [e["event_id"] for e in joined["timeline"]["events"]]
        self.assertTrue(any(e["type"] == "m.room.member" and e["state_key"] == bob
                            for e in joined["timeline"]["events"]), timeline_ids)
        # Joining again is a no-op.
        again = self.b.post(f"/_matrix/client/v3/join/{q(room)}", {}, token=bob_token)
        self.assertEqual(again.status, 200, again)

    def test_invite_only_room_refuses_a_remote_join(self):
        alice, alice_token = self.user(self.a, "alice")
        bob, bob_token = self.user(self.b, "bob")
        r = self.a.post("/_matrix/client/v3/createRoom", {"preset": "private_chat"}, token=alice_token)
        room = r.json["room_id"]
        r = self.b.post(f"/_matrix/client/v3/join/{q(room)}?server_name={q(self.a.server_name)}", {}, token=bob_token)
        self.assertError(r, 403, "M_FORBIDDEN")
        self.assertEqual(self.members(self.a, room, alice_token), {alice})
        # An unknown room on A: 404 from A, passed on.
        r = self.b.post(f"/_matrix/client/v3/join/{q('!nope:' + self.a.server_name)}", {}, token=bob_token)
        self.assertError(r, 404, "M_NOT_FOUND")

    def test_remote_invite_then_join(self):
        alice, alice_token = self.user(self.a, "alice")
        bob, bob_token = self.user(self.b, "bob")
        r = self.a.post("/_matrix/client/v3/createRoom", {"preset": "private_chat", "name": "Secret"},
                        token=alice_token)
        room = r.json["room_id"]
        r = self.a.post(f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bob}, token=alice_token)
        self.assertEqual(r.status, 200, r)
        # B's user sees the invite with the stripped state A sent.
        sync = self.b.get("/_matrix/client/v3/sync", token=bob_token)
        invite = sync.json["rooms"]["invite"][room]["invite_state"]["events"]
        self.assertIn(("m.room.name", "Secret"),
                      [(e["type"], e["content"].get("name")) for e in invite])
        self.assertIn(("m.room.member", bob, "invite"),
                      [(e["type"], e["state_key"], e["content"].get("membership")) for e in invite])
        # A's view: bob is invited.
        state = self.a.get(f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(bob)}", token=alice_token)
        self.assertEqual(state.json["membership"], "invite")
        # The invite tells B where to join: no server_name needed.
        r = self.b.post(f"/_matrix/client/v3/join/{q(room)}", {}, token=bob_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.members(self.a, room, alice_token), {alice, bob})

    def test_rejecting_a_remote_invite(self):
        alice, alice_token = self.user(self.a, "alice")
        bob, bob_token = self.user(self.b, "bob")
        room = self.a.post("/_matrix/client/v3/createRoom", {"preset": "private_chat"}, token=alice_token).json["room_id"]
        self.assertEqual(self.a.post(f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bob},
                                     token=alice_token).status, 200)
        before = self.b.get("/_matrix/client/v3/sync", token=bob_token).json
        self.assertIn(room, before["rooms"]["invite"])
        r = self.b.post(f"/_matrix/client/v3/rooms/{q(room)}/leave", {}, token=bob_token)
        self.assertEqual(r.status, 200, r)
        # A saw the rejection (send_leave); B's user no longer has the invite.
        state = self.a.get(f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(bob)}", token=alice_token)
        self.assertEqual(state.json["membership"], "leave")
        sync = self.b.get(f"/_matrix/client/v3/sync?since={before['next_batch']}", token=bob_token)
        self.assertNotIn(room, sync.json.get("rooms", {}).get("invite", {}))
        self.assertIn(room, sync.json.get("rooms", {}).get("leave", {}))


if __name__ == "__main__":
    main()
