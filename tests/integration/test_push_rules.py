"""Push rules and notifications over HTTP.

Push rules: the default ruleset in the shape clients read (matrix-js-sdk walks
global.override/content/room/sender/underride), every CRUD endpoint with and without trailing
slashes, placement with before/after, enabled/actions on user and server-default rules, and the
errors (unknown rule, bad kind, reserved ids, malformed bodies, unknown before/after rule).

Notifications: GET /notifications after a DM message (notify) and a mention (highlight),
only=highlight, paging with next_token, the read flag after a read receipt, invites, and what stops
notifications: a muted room (room rule without actions), an ignored sender, the master rule.
Everything runs again on the split placement. Runs on SQLite and PostgreSQL."""
import os
import sqlite3
import subprocess
import urllib.parse

from harness import ServerTestCase, main
from room_helpers import V3, RoomClient, q

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(ROOT, "configs", "placement-split.yaml")) as f:
    SPLIT = f.read()
R0 = "/_matrix/client/r0"
KINDS = ["override", "content", "room", "sender", "underride"]


def db_exec(server, sql):
    """Runs SQL in the server's database (for the receipts table when this build has no receipts API)."""
    if server.db == "sqlite":
        con = sqlite3.connect(os.path.join(server.dir, "homeserver.db"), timeout=30)
        try:
            con.executescript(sql)
        finally:
            con.close()
    else:
        subprocess.run(["psql", f"{server.pg_info} dbname={server.pg_db}", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
                       check=True, capture_output=True)


RECEIPTS_TABLE = ("CREATE TABLE IF NOT EXISTS receipts (room_id TEXT, receipt_type TEXT, user_id TEXT, "
                  "thread_id TEXT NOT NULL DEFAULT '', event_id TEXT NOT NULL, data TEXT NOT NULL, "
                  "position BIGINT NOT NULL, PRIMARY KEY (room_id, receipt_type, user_id, thread_id))")


class PushRules(RoomClient, ServerTestCase):
    def rules(self, who, path="/pushrules/"):
        r = self.server.get(V3 + path, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json

    def put_rule(self, who, kind, rule_id, body, **params):
        path = f"{V3}/pushrules/global/{kind}/{q(rule_id)}"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        return self.server.put(path, body, token=self.tok(who))

    def ids(self, who, kind):
        return [r["rule_id"] for r in self.rules(who)["global"][kind] if not r["default"]]

    def test_default_ruleset_shape(self):
        body = self.rules("alice")
        self.assertEqual(list(body), ["global"])
        ruleset = body["global"]
        self.assertEqual(sorted(ruleset), sorted(KINDS))
        for kind in KINDS:
            for rule in ruleset[kind]:
                self.assertTrue({"rule_id", "default", "enabled", "actions"} <= set(rule), rule)
                self.assertTrue(rule["default"])
                if kind in ("override", "underride"):
                    self.assertIsInstance(rule["conditions"], list)
        override = [r["rule_id"] for r in ruleset["override"]]
        self.assertEqual(override[0], ".m.rule.master")
        self.assertFalse(ruleset["override"][0]["enabled"])
        for rid in (".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event",
                    ".m.rule.is_user_mention", ".m.rule.is_room_mention", ".m.rule.tombstone", ".m.rule.reaction",
                    ".m.rule.room.server_acl", ".m.rule.suppress_edits"):
            self.assertIn(rid, override)
        self.assertEqual([r["rule_id"] for r in ruleset["underride"]],
                         [".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one",
                          ".m.rule.message", ".m.rule.encrypted"])
        invite = next(r for r in ruleset["override"] if r["rule_id"] == ".m.rule.invite_for_me")
        self.assertIn({"kind": "event_match", "key": "state_key", "pattern": self.uid("alice")}, invite["conditions"])
        mention = next(r for r in ruleset["override"] if r["rule_id"] == ".m.rule.is_user_mention")
        self.assertEqual(mention["conditions"][0]["value"], self.uid("alice"))
        self.assertEqual(mention["conditions"][0]["key"], "content.m\\.mentions.user_ids")

        # The same ruleset under every path form clients use.
        self.assertEqual(self.rules("alice", "/pushrules"), body)
        self.assertEqual(self.rules("alice", "/pushrules/global/"), ruleset)
        self.assertEqual(self.rules("alice", "/pushrules/global"), ruleset)
        self.assertEqual(self.rules("alice", "/pushrules/global/underride/"), ruleset["underride"])
        self.assertEqual(self.rules("alice", "/pushrules/global/underride"), ruleset["underride"])
        r = self.server.get(f"{R0}/pushrules/", token=self.tok("alice"))
        self.assertEqual(r.json, body)
        self.assertEqual(self.server.get(f"{V3}/pushrules/").status, 401)
        r = self.server.get(f"{V3}/pushrules/global/underride/.m.rule.message", token=self.tok("alice"))
        self.assertEqual(r.json["rule_id"], ".m.rule.message")
        self.assertEqual(r.json["actions"], ["notify"])

    def test_crud_and_placement(self):
        for room in ("!a:test.local", "!b:test.local"):
            r = self.put_rule("bob", "room", room, {"actions": ["notify"]})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json, {})
        # New rules come first (sytest "New rules appear before old rules by default").
        self.assertEqual(self.ids("bob", "room"), ["!b:test.local", "!a:test.local"])
        self.assertEqual(self.put_rule("bob", "room", "!c:test.local", {"actions": []}, after="!a:test.local").status,
                         200)
        self.assertEqual(self.put_rule("bob", "room", "!d:test.local", {"actions": []}, before="!a:test.local").status,
                         200)
        self.assertEqual(self.ids("bob", "room"), ["!b:test.local", "!d:test.local", "!a:test.local", "!c:test.local"])

        rule = {"pattern": "cake*lie", "actions": ["notify", {"set_tweak": "sound", "value": "cakealarm.wav"}]}
        self.assertEqual(self.put_rule("bob", "content", "nocake", rule).status, 200)
        r = self.server.get(f"{V3}/pushrules/global/content/nocake", token=self.tok("bob"))
        self.assertEqual(r.json, {"rule_id": "nocake", "default": False, "enabled": True, "pattern": "cake*lie",
                                  "actions": rule["actions"]})
        cond = [{"kind": "event_match", "key": "content.body", "pattern": "beer"},
                {"kind": "room_member_count", "is": "<=10"}]
        self.assertEqual(self.put_rule("bob", "override", "beer", {"conditions": cond, "actions": ["notify"]}).status,
                         200)
        over = self.rules("bob")["global"]["override"]
        self.assertEqual(over[0]["rule_id"], ".m.rule.master")
        self.assertEqual(over[1]["rule_id"], "beer")  # user overrides right after the master rule
        self.assertEqual(over[1]["conditions"], cond)

        # enabled and actions, on a user rule.
        base = f"{V3}/pushrules/global/content/nocake"
        self.assertEqual(self.server.get(base + "/enabled", token=self.tok("bob")).json, {"enabled": True})
        self.assertEqual(self.server.put(base + "/enabled", {"enabled": False}, token=self.tok("bob")).status, 200)
        self.assertEqual(self.server.get(base + "/enabled", token=self.tok("bob")).json, {"enabled": False})
        self.assertEqual(self.server.put(base + "/actions", {"actions": ["notify", "coalesce"]},
                                         token=self.tok("bob")).status, 200)
        self.assertEqual(self.server.get(base + "/actions", token=self.tok("bob")).json, {"actions": ["notify"]})
        # Replacing the rule keeps it disabled and in place.
        self.assertEqual(self.put_rule("bob", "room", "!d:test.local", {"actions": ["notify"]}).status, 200)
        self.assertEqual(self.ids("bob", "room"), ["!b:test.local", "!d:test.local", "!a:test.local", "!c:test.local"])
        self.assertEqual(self.put_rule("bob", "content", "nocake", {"pattern": "pie", "actions": []}).status, 200)
        self.assertEqual(self.server.get(base, token=self.tok("bob")).json["enabled"], False)

        # On server-default rules.
        master = f"{V3}/pushrules/global/override/.m.rule.master"
        self.assertEqual(self.server.put(master + "/enabled", {"enabled": True}, token=self.tok("bob")).status, 200)
        self.assertEqual(self.server.get(master + "/enabled", token=self.tok("bob")).json, {"enabled": True})
        self.assertFalse(self.rules("alice")["global"]["override"][0]["enabled"])  # only bob's
        msg = f"{V3}/pushrules/global/underride/.m.rule.message/actions"
        self.assertEqual(self.server.put(msg, {"actions": []}, token=self.tok("bob")).status, 200)
        self.assertEqual(self.server.get(msg, token=self.tok("bob")).json, {"actions": []})
        self.server.put(master + "/enabled", {"enabled": False}, token=self.tok("bob"))
        self.server.put(msg, {"actions": ["notify"]}, token=self.tok("bob"))

        # Delete.
        r = self.server.delete(f"{V3}/pushrules/global/room/{q('!a:test.local')}", token=self.tok("bob"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ids("bob", "room"), ["!b:test.local", "!d:test.local", "!c:test.local"])
        self.assertError(self.server.get(f"{V3}/pushrules/global/room/{q('!a:test.local')}", token=self.tok("bob")),
                         404, "M_NOT_FOUND")
        # Deleted and created again: enabled again.
        self.server.delete(base, token=self.tok("bob"))
        self.assertEqual(self.put_rule("bob", "content", "nocake", {"pattern": "x", "actions": []}).status, 200)
        self.assertEqual(self.server.get(base + "/enabled", token=self.tok("bob")).json, {"enabled": True})

    def test_errors(self):
        tok = self.tok("carol")
        g = f"{V3}/pushrules/global"
        self.assertError(self.put_rule("carol", "bogus", "x", {"actions": []}), 400, "M_INVALID_PARAM")
        self.assertError(self.server.get(f"{g}/bogus/x", token=tok), 400, "M_INVALID_PARAM")
        self.assertError(self.server.get(f"{g}/bogus/", token=tok), 400, "M_INVALID_PARAM")
        self.assertError(self.put_rule("carol", "override", ".m.rule.mine", {"actions": []}), 400, "M_INVALID_PARAM")
        self.assertError(self.put_rule("carol", "override", ".m.rule.master", {"actions": []}), 400, "M_INVALID_PARAM")
        self.assertError(self.put_rule("carol", "override", "a/b", {"actions": []}), 400, "M_INVALID_PARAM")
        self.assertError(self.put_rule("carol", "override", "x", {}), 400, "M_BAD_JSON")
        self.assertError(self.put_rule("carol", "override", "x", {"actions": ["explode"]}), 400, "M_BAD_JSON")
        self.assertError(self.put_rule("carol", "override", "x", {"actions": [], "conditions": [{"key": "a"}]}),
                         400, "M_BAD_JSON")
        self.assertError(self.put_rule("carol", "override", "x", {
            "actions": [], "conditions": [{"kind": "room_member_count", "is": "lots"}]}), 400, "M_BAD_JSON")
        self.assertError(self.put_rule("carol", "content", "x", {"actions": []}), 400, "M_BAD_JSON")
        r = self.server.put(f"{g}/override/x", raw=b"{not json", token=tok)
        self.assertError(r, 400, "M_NOT_JSON")
        self.assertError(self.put_rule("carol", "room", "!x:test.local", {"actions": []}, before="!nope:test.local"),
                         400, "M_UNKNOWN")
        self.assertError(self.put_rule("carol", "underride", "x", {"actions": []}, after=".m.rule.message"),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.get(f"{g}/room/{q('!none:test.local')}", token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.delete(f"{g}/room/{q('!none:test.local')}", token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.delete(f"{g}/override/.m.rule.master", token=tok), 400, "M_INVALID_PARAM")
        self.assertError(self.server.put(f"{g}/room/{q('!none:test.local')}/enabled", {"enabled": True}, token=tok),
                         404, "M_NOT_FOUND")
        self.assertError(self.server.put(f"{g}/room/{q('!none:test.local')}/actions", {"actions": []}, token=tok),
                         404, "M_NOT_FOUND")
        self.assertError(self.server.put(f"{g}/override/.m.rule.master/enabled", {"enabled": "yes"}, token=tok),
                         400, "M_BAD_JSON")
        self.assertError(self.server.put(f"{g}/override/.m.rule.master/actions", {"actions": "notify"}, token=tok),
                         400, "M_BAD_JSON")
        # A default rule under another kind is not that rule.
        self.assertError(self.server.get(f"{g}/override/.m.rule.message", token=tok), 404, "M_NOT_FOUND")
        self.assertError(self.server.put(f"{g}/override/.m.rule.message/enabled", {"enabled": False}, token=tok),
                         404, "M_NOT_FOUND")
        self.assertError(self.server.get(f"{g}/override/.m.rule.master/colour", token=tok), 404, "M_UNRECOGNIZED")
        self.assertError(self.server.get(f"{V3}/pushrules/device/x/override/y", token=tok), 404, "M_UNRECOGNIZED")


class Notifications(RoomClient, ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        db_exec(cls.server, RECEIPTS_TABLE)

    def notifications(self, who, **params):
        path = f"{V3}/notifications"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        r = self.server.get(path, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json

    def event_ids(self, who, **params):
        return [n["event"]["event_id"] for n in self.notifications(who, **params)["notifications"]]

    def read_receipt(self, who, room, event_id):
        r = self.server.post(f"{V3}/rooms/{q(room)}/receipt/m.read/{q(event_id)}", {}, token=self.tok(who))
        if r.status == 404 and r.errcode == "M_UNRECOGNIZED":  # no receipts API in this build
            db_exec(self.server, "INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, data, "
                                 f"position) VALUES ('{room}', 'm.read', '{self.uid(who)}', '', '{event_id}', '{{}}', 1) "
                                 "ON CONFLICT (room_id, receipt_type, user_id, thread_id) "
                                 "DO UPDATE SET event_id = excluded.event_id")
        else:
            self.assertEqual(r.status, 200, r)

    def room_with(self, creator, *members, **body):
        room = self.create(creator, preset="public_chat", **body)
        for m in members:
            self.join(m, room)
        return room

    def test_dm_message_and_mention(self):
        dm = self.room_with("alice", "bob")
        hello = self.send("alice", dm, "hello bob")
        n = self.notifications("bob")["notifications"]
        self.assertEqual(len(n), 1, n)
        first = n[0]
        self.assertEqual(first["room_id"], dm)
        self.assertEqual(first["actions"], ["notify", {"set_tweak": "sound", "value": "default"}])
        self.assertIs(first["read"], False)
        self.assertIsInstance(first["ts"], int)
        self.assertEqual(first["event"]["event_id"], hello)
        self.assertEqual(first["event"]["content"]["body"], "hello bob")
        self.assertEqual(first["event"]["sender"], self.uid("alice"))
        self.assertNotIn("room_id", first["event"])
        self.assertNotIn("next_token", self.notifications("bob"))
        self.assertEqual(self.notifications("alice")["notifications"], [])  # never for one's own events

        group = self.room_with("alice", "bob", "carol")
        plain = self.send("alice", group, "morning all")
        mention = self.send("alice", group, content={"msgtype": "m.text", "body": "bob, look",
                                                     "m.mentions": {"user_ids": [self.uid("bob")]}})
        self.assertEqual(self.event_ids("bob")[:2], [mention, plain])
        top = self.notifications("bob")["notifications"][0]
        self.assertIn({"set_tweak": "highlight"}, top["actions"])
        self.assertEqual(self.event_ids("bob", only="highlight"), [mention])
        self.assertEqual(self.event_ids("carol"), [mention, plain])  # a plain message to carol
        self.assertEqual(self.event_ids("carol", only="highlight"), [])

        # A read receipt marks everything up to it read.
        self.read_receipt("bob", group, plain)
        by_id = {n["event"]["event_id"]: n["read"] for n in self.notifications("bob")["notifications"]}
        self.assertEqual(by_id[plain], True)
        self.assertEqual(by_id[mention], False)
        self.assertEqual(by_id[hello], False)  # another room

    def test_paging(self):
        room = self.room_with("dave", "erin")
        sent = [self.send("dave", room, f"message {i}") for i in range(5)]
        seen, token, pages = [], None, 0
        while True:
            params = {"limit": 2}
            if token:
                params["from"] = token
            body = self.notifications("erin", **params)
            pages += 1
            seen += [n["event"]["event_id"] for n in body["notifications"]]
            token = body.get("next_token")
            if not token:
                break
            self.assertLess(pages, 10)
        self.assertEqual(seen, list(reversed(sent)))
        self.assertEqual(pages, 3)
        self.assertError(self.server.get(f"{V3}/notifications?from=garbage", token=self.tok("erin")),
                         400, "M_INVALID_PARAM")
        self.assertError(self.server.get(f"{V3}/notifications?limit=0", token=self.tok("erin")), 400, "M_INVALID_PARAM")
        self.assertEqual(self.server.get(f"{V3}/notifications").status, 401)

    def test_invite_notifies_the_invitee(self):
        room = self.create("alice")
        self.user("frank")
        self.invite("alice", room, "frank")
        n = self.notifications("frank")["notifications"]
        self.assertEqual(len(n), 1, n)
        self.assertEqual(n[0]["event"]["type"], "m.room.member")
        self.assertEqual(n[0]["event"]["state_key"], self.uid("frank"))

    def test_muted_room_ignored_user_and_master_rule(self):
        room = self.room_with("gina", "hank", "ivan")
        self.send("gina", room, "one")
        self.assertEqual(len(self.event_ids("hank")), 1)
        # hank mutes the room: a room rule without actions.
        r = self.server.put(f"{V3}/pushrules/global/room/{q(room)}", {"actions": []}, token=self.tok("hank"))
        self.assertEqual(r.status, 200, r)
        self.send("gina", room, "two")
        self.assertEqual(len(self.event_ids("hank")), 1)
        self.server.delete(f"{V3}/pushrules/global/room/{q(room)}", token=self.tok("hank"))
        self.send("gina", room, "three")
        self.assertEqual(len(self.event_ids("hank")), 2)

        # ivan ignores gina: nothing she sends notifies him; others still do.
        self.assertEqual(len(self.event_ids("ivan")), 3)
        r = self.server.put(f"{V3}/user/{q(self.uid('ivan'))}/account_data/m.ignored_user_list",
                            {"ignored_users": {self.uid("gina"): {}}}, token=self.tok("ivan"))
        self.assertEqual(r.status, 200, r)
        self.send("gina", room, "four")
        self.assertEqual(len(self.event_ids("ivan")), 3)
        self.send("hank", room, "from hank")
        self.assertEqual(len(self.event_ids("ivan")), 4)

        # The master rule silences everything.
        before = self.event_ids("hank")
        self.assertEqual(len(before), 3)  # one, three, four
        master = f"{V3}/pushrules/global/override/.m.rule.master/enabled"
        self.assertEqual(self.server.put(master, {"enabled": True}, token=self.tok("hank")).status, 200)
        self.send("gina", room, content={"msgtype": "m.text", "body": "hank!",
                                         "m.mentions": {"user_ids": [self.uid("hank")]}})
        self.assertEqual(self.event_ids("hank"), before)


class PushRulesSplit(PushRules):
    """The same on the split placement: reads on any of three client readers, writes through the
    push_rules writer."""
    placement = SPLIT


class NotificationsSplit(Notifications):
    """The same with two event persisters: rooms on both, one user's notifications from both."""
    placement = SPLIT


if __name__ == "__main__":
    main()
