"""Room helpers shared by the directory and search suites: users, room creation, sending, state
and membership through the client API. Mixed into harness.ServerTestCase subclasses."""
import urllib.parse
import uuid

V1 = "/_matrix/client/v1"
V3 = "/_matrix/client/v3"


def q(s):
    return urllib.parse.quote(s, safe="")


class RoomClient:
    """Needs `self.server` (a harness.Server). Users are registered lazily, by short name."""
    # These suites send faster than a person would; message rate limits are tested elsewhere.
    extra_config = "rc_message:\n  per_second: 10000\n  burst_count: 10000\n"

    def user(self, name):
        cls = type(self)
        if "_users" not in cls.__dict__:  # per class: a subclass runs its own server
            cls._users = {}
        if name not in cls._users:
            r = self.server.register(name)
            cls._users[name] = (r["access_token"], r["user_id"])
        return cls._users[name]

    def tok(self, name):
        return self.user(name)[0]

    def uid(self, name):
        return self.user(name)[1]

    def create(self, who, **body):
        r = self.server.post(f"{V3}/createRoom", body, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json["room_id"]

    def join(self, who, room):
        r = self.server.post(f"{V3}/join/{q(room)}", {}, token=self.tok(who))
        self.assertEqual(r.status, 200, r)

    def invite(self, who, room, target):
        r = self.server.post(f"{V3}/rooms/{q(room)}/invite", {"user_id": self.uid(target)}, token=self.tok(who))
        self.assertEqual(r.status, 200, r)

    def leave(self, who, room):
        r = self.server.post(f"{V3}/rooms/{q(room)}/leave", {}, token=self.tok(who))
        self.assertEqual(r.status, 200, r)

    def send(self, who, room, body="hi", etype="m.room.message", content=None):
        content = content if content is not None else {"msgtype": "m.text", "body": body}
        r = self.server.put(f"{V3}/rooms/{q(room)}/send/{etype}/{uuid.uuid4().hex}", content, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json["event_id"]

    def put_state(self, who, room, etype, content, key=""):
        r = self.server.put(f"{V3}/rooms/{q(room)}/state/{etype}/{q(key)}", content, token=self.tok(who))
        self.assertEqual(r.status, 200, r)
        return r.json["event_id"]

    def get_state(self, who, room, etype, key=""):
        return self.server.get(f"{V3}/rooms/{q(room)}/state/{etype}/{q(key)}", token=self.tok(who))

    def redact(self, who, room, event_id):
        r = self.server.put(f"{V3}/rooms/{q(room)}/redact/{q(event_id)}/{uuid.uuid4().hex}", {},
                            token=self.tok(who))
        self.assertEqual(r.status, 200, r)
