"""Another server's events coming in, played by a fake remote homeserver over HTTPS
(fedremote.RemoteServer: its own key, room version 10 events built and signed with
python3-signedjson):

- its user joins a room of ours through make_join / send_join (the answer's state and auth chain
  are the room's); make_join refuses a server that does not support the room's version, a room
  whose rules refuse the user, and a server the room's ACL denies;
- /send/ transactions: a good message is accepted and shown; a bad signature, an event that fails
  the auth rules, an event claiming another server's user, and one of a server the ACL denies are
  refused and never shown; a wrong content hash keeps the event, redacted; an event whose prev
  events we lack makes Myelin ask the remote with get_missing_events;
- invite v2: an invite of our user is countersigned and shown in /sync with the stripped state;
  an unknown room version is refused with M_INCOMPATIBLE_ROOM_VERSION.
"""
import time
import urllib.parse

from harness import main, reply_json
from fedremote import FederationTestCase, event_id_v10, seal_event_v10, signedjson


def q(s):
    return urllib.parse.quote(s, safe="")


class FederationInbound(FederationTestCase):
    more_config = "public_baseurl: 'https://matrix.example.org:8443/'\nserve_server_wellknown: true\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.remote.events = {}  # event id → event, what the remote "has" (for get_missing_events)
        cls.remote.hidden = []
        cls.remote.missing_asked = []

        def get_missing(handler, match, body):
            cls.remote.missing_asked.append(body)
            reply_json(handler, 200, {"events": [cls.remote.events[e] for e in cls.remote.hidden
                                                 if e in cls.remote.events]})
        cls.remote.routes.append(("POST", r"^/_matrix/federation/v1/get_missing_events/", get_missing))

    # ---- tests ----

    def test_served_server_well_known_delegates_to_the_client_host(self):
        r = self.server.get("/.well-known/matrix/server")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"m.server": "matrix.example.org:443"})

    def test_join_through_make_join_and_send_join(self):
        room, alice, token = self.room_of_alice(name="Ours")
        join_id, answer = self.join_remote_user(room, self.rita())
        self.remote.events[join_id] = self.joined_events[join_id]
        types = {(e["type"], e.get("state_key")) for e in answer["state"]}
        self.assertIn(("m.room.create", ""), types)
        self.assertIn(("m.room.name", ""), types)
        self.assertIn(("m.room.member", alice), types)
        self.assertNotIn(("m.room.member", self.rita()), types)  # the state before the join
        self.assertTrue(all("event_id" not in e for e in answer["state"]))  # v3+ format
        self.assertIn(self.remote.name, answer.get("servers_in_room", []) + [self.remote.name])
        members = self.server.get(f"/_matrix/client/v3/rooms/{q(room)}/joined_members", token=token).json["joined"]
        self.assertEqual(set(members), {alice, self.rita()})
        self.assertIn(join_id, self.messages(room, token))

    def test_send_join_with_omit_members(self):
        def join_room_of_alice(**extra):
            room, alice, token = self.room_of_alice(**extra)
            others = []
            for name in ("bob", "carol"):
                r = self.server.register(f"{name}{time.time_ns() % 10**9}")
                self.assertEqual(self.server.post(f"/_matrix/client/v3/join/{q(room)}", {},
                                                  token=r["access_token"]).status, 200)
                others.append(r["user_id"])
            return room, [alice] + others
        # A named room: no member event in the state, none of the state repeated in the auth chain.
        room, members = join_room_of_alice(name="Named")
        _, answer = self.join_remote_user(room, self.rita(), omit_members=True)
        self.assertIs(answer["members_omitted"], True)
        self.assertEqual(answer["servers_in_room"], ["test.local"])
        types = {e["type"] for e in answer["state"]}
        self.assertIn("m.room.name", types)
        self.assertNotIn("m.room.member", types)
        state_ids = {event_id_v10(e) for e in answer["state"]}
        chain_ids = {event_id_v10(e) for e in answer["auth_chain"]}
        self.assertFalse(state_ids & chain_ids)
        # What the join and the state need is there: the creator's join authorises the power levels.
        chain_members = {e["state_key"] for e in answer["auth_chain"] if e["type"] == "m.room.member"}
        self.assertIn(members[0], chain_members)
        # A room without a name or alias: its heroes' member events are kept for naming it.
        room, members = join_room_of_alice()
        _, answer = self.join_remote_user(room, self.rita(), omit_members=True)
        self.assertIs(answer["members_omitted"], True)
        self.assertEqual({e["state_key"] for e in answer["state"] if e["type"] == "m.room.member"}, set(members))
        # Without omit_members: every member.
        room, members = join_room_of_alice(name="Full")
        _, answer = self.join_remote_user(room, self.rita())
        self.assertIs(answer["members_omitted"], False)
        self.assertEqual({e["state_key"] for e in answer["state"] if e["type"] == "m.room.member"}, set(members))

    def test_hierarchy_for_another_server(self):
        space, alice, token = self.room_of_alice(creation_content={"type": "m.space"}, name="Space")
        public, _, _ = self.room_of_alice(name="Open")
        private, _, _ = self.room_of_alice(preset="private_chat")
        for child in (public, private):
            r = self.server.put(f"/_matrix/client/v3/rooms/{q(space)}/state/m.space.child/{q(child)}",
                                {"via": ["test.local"], "suggested": child == public}, token=token)
            self.assertEqual(r.status, 200, r)
        r = self.fed("GET", f"/_matrix/federation/v1/hierarchy/{q(space)}")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["room"]["room_id"], space)
        self.assertEqual(r.json["room"]["room_type"], "m.space")
        self.assertEqual({e["state_key"] for e in r.json["room"]["children_state"]}, {public, private})
        self.assertEqual([c["room_id"] for c in r.json["children"]], [public])
        self.assertEqual(r.json["children"][0]["name"], "Open")
        self.assertEqual(r.json["inaccessible_children"], [private])
        r = self.fed("GET", f"/_matrix/federation/v1/hierarchy/{q(space)}?suggested_only=true")
        self.assertEqual({e["state_key"] for e in r.json["room"]["children_state"]}, {public})
        # A private room is hidden from a server with nobody in it; unsigned is 401.
        self.assertError(self.fed("GET", f"/_matrix/federation/v1/hierarchy/{q(private)}"), 404, "M_NOT_FOUND")
        self.assertError(self.server.get(f"/_matrix/federation/v1/hierarchy/{q(space)}"), 401, "M_UNAUTHORIZED")

    def test_make_join_refusals(self):
        room, alice, token = self.room_of_alice()
        # A server that does not list the room's version.
        r = self.fed("GET", f"/_matrix/federation/v1/make_join/{q(room)}/{q(self.rita())}?ver=1&ver=2")
        self.assertError(r, 400, "M_INCOMPATIBLE_ROOM_VERSION")
        self.assertEqual(r.json["room_version"], "10")
        # Another server's user.
        r = self.fed("GET", f"/_matrix/federation/v1/make_join/{q(room)}/{q('@x:elsewhere.example')}?ver=10")
        self.assertError(r, 403, "M_FORBIDDEN")
        # An invite-only room.
        private, _, _ = self.room_of_alice(preset="private_chat")
        r = self.fed("GET", f"/_matrix/federation/v1/make_join/{q(private)}/{q(self.rita())}?ver=10")
        self.assertError(r, 403, "M_FORBIDDEN")
        # Unknown room; unsigned request.
        r = self.fed("GET", f"/_matrix/federation/v1/make_join/{q('!nope:test.local')}/{q(self.rita())}?ver=10")
        self.assertError(r, 404, "M_NOT_FOUND")
        r = self.server.get(f"/_matrix/federation/v1/make_join/{q(room)}/{q(self.rita())}?ver=10")
        self.assertError(r, 401, "M_UNAUTHORIZED")
        # The room's ACL denies IP-literal servers (the remote is one).
        acl = {"allow": ["*"], "deny": [], "allow_ip_literals": False}
        r = self.server.put(f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.server_acl/", acl, token=token)
        self.assertEqual(r.status, 200, r)
        r = self.fed("GET", f"/_matrix/federation/v1/make_join/{q(room)}/{q(self.rita())}?ver=10")
        self.assertError(r, 403, "M_FORBIDDEN")

    def test_invite_v2_inbound(self):
        bob = self.server.register(f"bob{int(time.time() * 1000) % 1000000}")
        room = f"!r{int(time.time() * 1000)}:{self.remote.name}"
        create_id, _ = self.build(room, self.rita(), "m.room.create", {"creator": self.rita(), "room_version": "10"},
                                  [], [], 1, state_key="")
        invite_id, invite = self.build(room, self.rita(), "m.room.member", {"membership": "invite"}, [create_id],
                                       [create_id], 2, state_key=bob["user_id"])
        stripped = [{"type": "m.room.name", "state_key": "", "sender": self.rita(), "content": {"name": "Theirs"}}]
        path = f"/_matrix/federation/v2/invite/{q(room)}/{q(invite_id)}"
        r = self.fed("PUT", path, {"event": invite, "room_version": "10", "invite_room_state": stripped})
        self.assertEqual(r.status, 200, r)
        signed = r.json["event"]
        self.assertIn("test.local", signed["signatures"])
        self.assertIn(self.remote.name, signed["signatures"])
        sync = self.server.get("/_matrix/client/v3/sync", token=bob["access_token"]).json
        state = sync["rooms"]["invite"][room]["invite_state"]["events"]
        self.assertIn(("m.room.name", "Theirs"), [(e["type"], e["content"].get("name")) for e in state])
        # An unknown room version; an invite for another server's user.
        r = self.fed("PUT", path, {"event": invite, "room_version": "999", "invite_room_state": []})
        self.assertError(r, 400, "M_INCOMPATIBLE_ROOM_VERSION")
        other_id, other = self.build(room, self.rita(), "m.room.member", {"membership": "invite"}, [create_id],
                                     [create_id], 2, state_key="@someone:elsewhere.example")
        r = self.fed("PUT", f"/_matrix/federation/v2/invite/{q(room)}/{q(other_id)}",
                     {"event": other, "room_version": "10", "invite_room_state": []})
        self.assertEqual(r.status, 400, r)

    def test_send_checks_every_pdu(self):
        room, alice, token = self.room_of_alice()
        join_id, _ = self.join_remote_user(room, self.rita())
        self.remote.events[join_id] = self.joined_events[join_id]
        auth = self.auth_ids(room, token, self.rita())
        good_id, good = self.build(room, self.rita(), "m.room.message", {"msgtype": "m.text", "body": "hello"},
                                   [join_id], auth, 10)
        # Signed with a key the remote does not publish.
        forged_id, forged = self.build(room, self.rita(), "m.room.message", {"body": "forged"}, [good_id], auth, 11,
                                       key=signedjson.key.generate_signing_key("t1"))
        # Someone who never joined.
        intruder_id, intruder = self.build(room, self.rita("mallory"), "m.room.message", {"body": "spam"},
                                           [good_id], auth[:2], 11)
        # Another server's user, signed by the remote.
        spoof_id, spoof = self.build(room, "@alice:elsewhere.example", "m.room.message", {"body": "spoof"},
                                     [good_id], auth[:2], 11)
        # Content changed after signing: kept, redacted.
        edited_id, edited = self.build(room, self.rita(), "m.room.message", {"body": "original"}, [good_id], auth, 11)
        edited["content"] = {"body": "changed"}
        r = self.send([good, forged, intruder, spoof, edited])
        self.assertEqual(r.status, 200, r)
        pdus = r.json["pdus"]
        self.assertEqual(pdus[good_id], {})
        for refused in (forged_id, intruder_id, spoof_id):
            self.assertIn("error", pdus[refused], refused)
        seen = self.messages(room, token)
        self.assertEqual(seen[good_id]["content"]["body"], "hello")
        for refused in (forged_id, intruder_id, spoof_id):
            self.assertNotIn(refused, seen)
        self.assertEqual(pdus[edited_id], {})
        self.assertEqual(seen[edited_id]["content"], {})
        # Missing prev events: Myelin asks the remote for them.
        hidden_id, _ = self.build(room, self.rita(), "m.room.message", {"body": "hidden"}, [edited_id], auth, 12)
        after_id, after = self.build(room, self.rita(), "m.room.message", {"body": "after"}, [hidden_id], auth, 13)
        self.remote.hidden = [hidden_id]
        r = self.send([after])
        self.assertEqual(r.json["pdus"][after_id], {}, r)
        self.assertTrue(self.remote.missing_asked)
        seen = self.messages(room, token)
        self.assertIn(hidden_id, seen)
        self.assertIn(after_id, seen)
        # A read receipt EDU from the remote's user is shown…
        def receipt(event_id):
            return {"edu_type": "m.receipt", "content": {room: {"m.read": {self.rita(): {
                "event_ids": [event_id], "data": {"ts": int(time.time() * 1000)}}}}}}

        def receipts_seen():
            sync = self.server.get("/_matrix/client/v3/sync", token=token).json
            found = set()
            for e in sync["rooms"]["join"][room].get("ephemeral", {}).get("events", []):
                if e["type"] == "m.receipt":
                    found |= {eid for eid, r in e["content"].items() if self.rita() in r.get("m.read", {})}
            return found
        self.assertEqual(self.send([], [receipt(good_id)]).status, 200)
        self.assertIn(good_id, receipts_seen())
        # The ACL now denies the remote: its PDUs are refused one by one, its receipts ignored.
        acl = {"allow": ["*"], "allow_ip_literals": False}
        self.assertEqual(self.server.put(f"/_matrix/client/v3/rooms/{q(room)}/state/m.room.server_acl/", acl,
                                         token=token).status, 200)
        late_id, late = self.build(room, self.rita(), "m.room.message", {"body": "late"}, [after_id], auth, 14)
        r = self.send([late])
        self.assertIn("error", r.json["pdus"][late_id])
        self.assertNotIn(late_id, self.messages(room, token))
        self.assertEqual(self.send([], [receipt(after_id)]).status, 200)
        self.assertNotIn(after_id, receipts_seen())


if __name__ == "__main__":
    main()
