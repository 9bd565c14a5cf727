"""Two Myelin servers federating over TLS on loopback (a private CA made here; each server's name is
"127.0.0.1:<its federation port>", so no DNS or .well-known is involved):

- a user of B joins a room of A by room id (make_join / send_join): B stores the room's state and
  auth chain, both servers see the member, and the join is refused for an invite-only room;
- a user of A invites a user of B (invite v2): B countersigns, B's user sees the invite with the
  room's stripped state in /sync and joins; an invite rejected through make_leave / send_leave;
- messages both ways through the federation senders, typing, receipts and presence, profiles,
  end-to-end keys of the other server's users, media of the other server;
- B stopped: A's users go on, and after B's restart its sender/backoff catches up (the newest
  event, then get_missing_events for the gap);
- a third server joins late and its user pages back through history it gets by backfill.
"""
import os
import tempfile
import time
import unittest
import urllib.parse

from harness import Server, free_port, main
from fedremote import make_ca_and_cert, signedjson


def q(s):
    return urllib.parse.quote(s, safe="")


class FederatedPair:
    """Servers A and B, each with a plain client listener and a TLS federation listener."""

    def __init__(self, names=("a", "b", "c")):
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
                      "ip_range_whitelist: ['127.0.0.1']\n"
                      "federation_sender: {retry_delay: 1s, max_retry_delay: 2s}\n"
                      "presence: {enabled: true}\n")
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
        cls.c = cls.pair.servers["c"]

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

    def test_knocking_on_a_remote_room(self):
        alice, alice_token = self.user(self.a, "alice")
        bob, bob_token = self.user(self.b, "bob")
        room = self.a.post("/_matrix/client/v3/createRoom",
                           {"preset": "private_chat", "name": "Knock here",
                            "initial_state": [{"type": "m.room.join_rules", "state_key": "",
                                               "content": {"join_rule": "knock"}}]},
                           token=alice_token).json["room_id"]
        r = self.b.post(f"/_matrix/client/v3/knock/{q(room)}?via={q(self.a.server_name)}",
                        {"reason": "let me in"}, token=bob_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["room_id"], room)
        # A has the knock (send_knock); B's user sees it with the stripped state A answered.
        state = self.a.get(f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(bob)}", token=alice_token)
        self.assertEqual((state.json["membership"], state.json.get("reason")), ("knock", "let me in"))
        knocked = self.b.get("/_matrix/client/v3/sync", token=bob_token).json["rooms"]["knock"][room]
        events = knocked["knock_state"]["events"]
        self.assertIn(("m.room.name", "Knock here"), [(e["type"], e["content"].get("name")) for e in events])
        self.assertIn(("m.room.join_rules", "knock"), [(e["type"], e["content"].get("join_rule")) for e in events])
        self.assertIn(("m.room.member", bob, "knock"),
                      [(e["type"], e.get("state_key"), e["content"].get("membership")) for e in events])
        # Let in: A's invite replaces the knock, and B's user joins through A.
        r = self.a.post(f"/_matrix/client/v3/rooms/{q(room)}/invite", {"user_id": bob}, token=alice_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.b.post(f"/_matrix/client/v3/join/{q(room)}", {}, token=bob_token).status, 200)
        self.assertEqual(self.members(self.a, room, alice_token), {alice, bob})

        # A knock withdrawn: the leave goes through the room's server.
        carol, carol_token = self.user(self.c, "carol")
        r = self.c.post(f"/_matrix/client/v3/knock/{q(room)}?server_name={q(self.a.server_name)}", {},
                        token=carol_token)
        self.assertEqual(r.status, 200, r)
        r = self.c.post(f"/_matrix/client/v3/rooms/{q(room)}/leave", {}, token=carol_token)
        self.assertEqual(r.status, 200, r)
        state = self.a.get(f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.member/{q(carol)}", token=alice_token)
        self.assertEqual(state.json["membership"], "leave")
        # A room that takes no knocks refuses, and nothing is kept on B.
        public = self.public_room(alice_token)
        dave, dave_token = self.user(self.b, "dave")
        r = self.b.post(f"/_matrix/client/v3/knock/{q(public)}?via={q(self.a.server_name)}", {}, token=dave_token)
        self.assertError(r, 403, "M_FORBIDDEN")
        self.assertNotIn(public, self.b.get("/_matrix/client/v3/sync", token=dave_token).json
                         .get("rooms", {}).get("knock", {}))

    def test_space_hierarchy_reaches_into_the_other_server(self):
        alice, alice_token = self.user(self.a, "alice")
        bob, bob_token = self.user(self.b, "bob")
        space = self.public_room(alice_token, name="Our space", creation_content={"type": "m.space"})
        # Rooms of B that A is not in: a public room, a private one, and a space with a room of its own.
        remote_room = self.public_room(bob_token, server=self.b, name="Remote room")
        hidden = self.b.post("/_matrix/client/v3/createRoom", {"preset": "private_chat", "name": "Hidden"},
                             token=bob_token).json["room_id"]
        remote_space = self.public_room(bob_token, server=self.b, name="Remote space",
                                        creation_content={"type": "m.space"})
        deep = self.public_room(bob_token, server=self.b, name="Deep")
        r = self.b.put(f"/_matrix/client/v3/rooms/{q(remote_space)}/state/m.space.child/{q(deep)}",
                       {"via": [self.b.server_name]}, token=bob_token)
        self.assertEqual(r.status, 200, r)
        for child in (remote_room, hidden, remote_space):
            r = self.a.put(f"/_matrix/client/v3/rooms/{q(space)}/state/m.space.child/{q(child)}",
                           {"via": [self.b.server_name]}, token=alice_token)
            self.assertEqual(r.status, 200, r)
        r = self.a.get(f"/_matrix/client/v1/rooms/{q(space)}/hierarchy", token=alice_token)
        self.assertEqual(r.status, 200, r)
        names = {room["room_id"]: room.get("name") for room in r.json["rooms"]}
        self.assertEqual(names, {space: "Our space", remote_room: "Remote room", remote_space: "Remote space",
                                 deep: "Deep"})
        by_id = {room["room_id"]: room for room in r.json["rooms"]}
        self.assertEqual([e["state_key"] for e in by_id[remote_space]["children_state"]], [deep])
        self.assertEqual(by_id[remote_space]["room_type"], "m.space")
        # Depth 1 stops at the space's own children; paging walks the same tree.
        r = self.a.get(f"/_matrix/client/v1/rooms/{q(space)}/hierarchy?max_depth=1", token=alice_token)
        self.assertNotIn(deep, [room["room_id"] for room in r.json["rooms"]])
        first = self.a.get(f"/_matrix/client/v1/rooms/{q(space)}/hierarchy?limit=2", token=alice_token).json
        rest = self.a.get(f"/_matrix/client/v1/rooms/{q(space)}/hierarchy?limit=10&from={first['next_batch']}",
                          token=alice_token).json
        self.assertEqual({room["room_id"] for room in first["rooms"] + rest["rooms"]}, set(names))

    # ---- events and EDUs both ways ----

    def joined_pair(self, **room):
        alice, alice_token = self.user(self.a, "alice")
        bob, bob_token = self.user(self.b, "bob")
        room_id = self.public_room(alice_token, **room)
        r = self.b.post(f"/_matrix/client/v3/join/{q(room_id)}?server_name={q(self.a.server_name)}", {},
                        token=bob_token)
        self.assertEqual(r.status, 200, r)
        return room_id, (alice, alice_token), (bob, bob_token)

    def say(self, server, room, token, body, event_type="m.room.message"):
        content = {"msgtype": "m.text", "body": body} if event_type == "m.room.message" else body
        r = server.put(f"/_matrix/client/v3/rooms/{q(room)}/send/{event_type}/t{time.time_ns()}", content,
                       token=token)
        self.assertEqual(r.status, 200, r)
        return r.json["event_id"]

    def bodies(self, server, room, token, limit=50):
        r = server.get(f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit={limit}", token=token)
        self.assertEqual(r.status, 200, r)
        return [e["content"].get("body") for e in r.json["chunk"] if e["type"] == "m.room.message"]

    def test_messages_both_ways(self):
        room, (alice, alice_token), (bob, bob_token) = self.joined_pair()
        self.say(self.a, room, alice_token, "hello from A")
        self.wait_for(lambda: "hello from A" in self.bodies(self.b, room, bob_token), what="A's message on B")
        event_id = self.say(self.b, room, bob_token, "hello from B")
        self.wait_for(lambda: "hello from B" in self.bodies(self.a, room, alice_token), what="B's message on A")
        # The same event on both servers, sent by bob.
        r = self.a.get(f"/_matrix/client/v3/rooms/{q(room)}/event/{q(event_id)}", token=alice_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["sender"], bob)
        # An opaque encrypted event goes through unchanged.
        encrypted = {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEn...", "sender_key": "abc",
                     "session_id": "s1", "device_id": "DEV"}
        self.say(self.a, room, alice_token, encrypted, event_type="m.room.encrypted")

        def seen_encrypted():
            r = self.b.get(f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit=10", token=bob_token)
            return any(e["type"] == "m.room.encrypted" and e["content"] == encrypted for e in r.json["chunk"])
        self.wait_for(seen_encrypted, what="the encrypted event on B")

    def test_typing_receipts_and_presence(self):
        room, (alice, alice_token), (bob, bob_token) = self.joined_pair()
        since = self.a.get("/_matrix/client/v3/sync?timeout=0", token=alice_token).json["next_batch"]
        r = self.b.put(f"/_matrix/client/v3/rooms/{q(room)}/typing/{q(bob)}", {"typing": True, "timeout": 20000},
                       token=bob_token)
        self.assertEqual(r.status, 200, r)
        last = self.say(self.a, room, alice_token, "read me")
        self.wait_for(lambda: last in self.event_ids(self.b, room, bob_token), what="the message on B")
        r = self.b.post(f"/_matrix/client/v3/rooms/{q(room)}/receipt/m.read/{q(last)}", {}, token=bob_token)
        self.assertEqual(r.status, 200, r)
        seen = {"typing": False, "receipt": False}

        def check():
            nonlocal since
            sync = self.a.get(f"/_matrix/client/v3/sync?timeout=1000&since={since}", token=alice_token).json
            since = sync["next_batch"]
            for e in sync.get("rooms", {}).get("join", {}).get(room, {}).get("ephemeral", {}).get("events", []):
                if e["type"] == "m.typing" and bob in e["content"]["user_ids"]:
                    seen["typing"] = True
                if e["type"] == "m.receipt" and bob in e["content"].get(last, {}).get("m.read", {}):
                    seen["receipt"] = True
            return all(seen.values())
        self.wait_for(check, what=f"typing and receipt from B on A ({seen})")
        # Presence: bob online, seen by alice who shares the room.
        r = self.b.put(f"/_matrix/client/v3/presence/{q(bob)}/status", {"presence": "online", "status_msg": "here"},
                       token=bob_token)
        self.assertEqual(r.status, 200, r)

        def presence():
            r = self.a.get(f"/_matrix/client/v3/presence/{q(bob)}/status", token=alice_token)
            return r.status == 200 and r.json.get("presence") == "online" and r.json.get("status_msg") == "here"
        self.wait_for(presence, what="bob's presence on A")

    def event_ids(self, server, room, token):
        r = server.get(f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit=20", token=token)
        return [e["event_id"] for e in r.json.get("chunk", [])]

    def test_profiles_keys_and_media_of_the_other_server(self):
        room, (alice, alice_token), (bob, bob_token) = self.joined_pair()
        self.assertEqual(self.b.put(f"/_matrix/client/v3/profile/{q(bob)}/displayname", {"displayname": "Bob B"},
                                    token=bob_token).status, 200)
        r = self.a.get(f"/_matrix/client/v3/profile/{q(bob)}", token=alice_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("displayname"), "Bob B")
        # Bob's device keys, asked of B through A.
        device = self.b.get("/_matrix/client/v3/account/whoami", token=bob_token).json["device_id"]
        device_key = signedjson.key.generate_signing_key(device)
        ed25519 = signedjson.key.encode_verify_key_base64(signedjson.key.get_verify_key(device_key))
        keys = signedjson.sign.sign_json(
            {"user_id": bob, "device_id": device, "algorithms": ["m.olm.v1.curve25519-aes-sha2"],
             "keys": {f"curve25519:{device}": "curvekey", f"ed25519:{device}": ed25519}}, bob, device_key)
        since = self.a.get("/_matrix/client/v3/sync?timeout=0", token=alice_token).json["next_batch"]
        r = self.b.post("/_matrix/client/v3/keys/upload",
                        {"device_keys": keys, "one_time_keys": {f"curve25519:{device}:1": "otk1"}}, token=bob_token)
        self.assertEqual(r.status, 200, r)

        # B tells A (m.device_list_update): alice's /sync lists bob as changed.
        def bob_changed():
            nonlocal since
            sync = self.a.get(f"/_matrix/client/v3/sync?timeout=1000&since={since}", token=alice_token).json
            since = sync["next_batch"]
            return bob in sync.get("device_lists", {}).get("changed", [])
        self.wait_for(bob_changed, what="bob's device list change on A")
        r = self.a.post("/_matrix/client/v3/keys/query", {"device_keys": {bob: []}}, token=alice_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["device_keys"][bob][device]["keys"], keys["keys"])
        r = self.a.post("/_matrix/client/v3/keys/claim",
                        {"one_time_keys": {bob: {device: "curve25519"}}}, token=alice_token)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(list(r.json["one_time_keys"][bob][device].values()), ["otk1"])
        # Media uploaded on B, downloaded through A (fetched over federation, then from A's cache).
        data = os.urandom(2048)
        r = self.b.request("POST", "/_matrix/media/v3/upload?filename=x.bin", raw=data,
                           headers={"Authorization": f"Bearer {bob_token}", "Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r)
        media_id = r.json["content_uri"].split("/")[-1]
        for _ in range(2):
            r = self.a.request("GET", f"/_matrix/client/v1/media/download/{q(self.b.server_name)}/{media_id}",
                               headers={"Authorization": f"Bearer {alice_token}"})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.data, data)

    def test_a_join_through_us_is_passed_on_to_the_other_servers(self):
        # C joins through A: A passes C's join on to B (C may not know B is in the room yet), so
        # B has carol as a member before carol says anything.
        room, (alice, alice_token), (bob, bob_token) = self.joined_pair()
        carol, carol_token = self.user(self.c, "carol")
        r = self.c.post(f"/_matrix/client/v3/join/{q(room)}?server_name={q(self.a.server_name)}", {},
                        token=carol_token)
        self.assertEqual(r.status, 200, r)
        self.wait_for(lambda: carol in self.members(self.b, room, bob_token), what="C's join on B")
        self.assertEqual(self.members(self.c, room, carol_token), {alice, bob, carol})

    # ---- outage, catch-up, late joiner ----

    def test_outage_then_catch_up_and_a_late_joiner_backfills(self):
        room, (alice, alice_token), (bob, bob_token) = self.joined_pair()
        self.say(self.a, room, alice_token, "before outage")
        self.wait_for(lambda: "before outage" in self.bodies(self.b, room, bob_token), what="first message on B")
        self.b.stop()
        try:
            for i in range(3):
                self.say(self.a, room, alice_token, f"during outage {i}")
            self.assertIn("during outage 2", self.bodies(self.a, room, alice_token))
        finally:
            self.b.start()
        # B is back: A's sender retries (backoff of 1–2 s in this test) and B fills the gap.
        self.wait_for(lambda: {"during outage 0", "during outage 1", "during outage 2"} <=
                      set(self.bodies(self.b, room, bob_token)), timeout=30, what="catch-up on B")
        # A third server joins late; its user pages back and gets the history by backfill.
        carol, carol_token = self.user(self.c, "carol")
        r = self.c.post(f"/_matrix/client/v3/join/{q(room)}?server_name={q(self.a.server_name)}", {},
                        token=carol_token)
        self.assertEqual(r.status, 200, r)
        bodies = self.bodies(self.c, room, carol_token)
        self.assertIn("before outage", bodies)
        self.assertIn("during outage 1", bodies)
        # And the room goes on for all three.
        self.say(self.c, room, carol_token, "hello from C")
        self.wait_for(lambda: "hello from C" in self.bodies(self.a, room, alice_token), what="C's message on A")
        self.wait_for(lambda: "hello from C" in self.bodies(self.b, room, bob_token), what="C's message on B")


if __name__ == "__main__":
    main()
