"""The federation sender against a fake remote server (fedremote.RemoteServer over HTTPS with a
private CA). A client's sendToDevice to a user of the remote arrives as a signed transaction
(PUT /_matrix/federation/v1/send/{txnId}) carrying an m.direct_to_device EDU with its message_id;
a remote answering 500 gets the same messages again after the backoff, none lost, in order, while
nothing is held in memory for it (myelin_federation_queue_depth); the outbox and the backoff
survive a restart of Myelin. PDUs: once the remote's user joined a room through make_join /
send_join, local events go to it (its own join is not sent back), a kick of its user reaches it,
and after an outage only the newest event of the room is sent (catch-up); a backed-off server that
sends us a transaction is retried at once, not after its backoff. Two real Myelin servers
exchanging events: test_federation_rooms.py."""
import threading
import time
import urllib.parse

from harness import main
from fedremote import FederationTestCase

SEND = r"^/_matrix/federation/v1/send/(.+)$"


LISTENER = ("listeners:\n  - port: 0\n    bind_addresses: ['127.0.0.1']\n    type: http\n"
            "    resources:\n      - names: [client, federation, metrics]\n")


class SenderTestCase(FederationTestCase):
    """A remote that records the transactions it gets and answers them with `answer`."""

    @classmethod
    def setUpClass(cls):
        cls.lock = threading.Lock()
        cls.attempts = []       # (time, txn id, body, verified origin, status answered)
        cls.answer = 200
        super().setUpClass()
        cls.remote.routes.append(("PUT", SEND, cls.on_send))
        cls.alice = cls.server.register("alice")
        cls.rita = f"@rita:{cls.remote.name}"

    @classmethod
    def on_send(cls, handler, match, body):
        origin = cls.remote.verify(handler, "PUT", body)
        with cls.lock:
            status = cls.answer if origin else 401
            cls.attempts.append((time.time(), urllib.parse.unquote(match.group(1)), body, origin, status))
        if status == 200:
            reply = {"pdus": {}}
        else:
            reply = {"errcode": "M_UNKNOWN", "error": "down for maintenance"}
        data = __import__("json").dumps(reply).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def setUp(self):
        # Whatever an earlier test left (it failed midway) is delivered first, out of the way.
        self.set_answer(200)
        self.wait_for(lambda: self.server.sql("SELECT COUNT(*) FROM federation_outbox") == [("0",)], timeout=20,
                      what="an empty outbox")
        with self.lock:
            self.attempts.clear()

    def set_answer(self, status):
        with self.lock:
            type(self).answer = status

    def send_to_device(self, txn, content, event_type="m.test"):
        r = self.server.put(f"/_matrix/client/v3/sendToDevice/{event_type}/{txn}",
                            {"messages": {self.rita: {"RDEV": content}}}, token=self.alice["access_token"])
        self.assertEqual(r.status, 200, r)

    def delivered(self):
        """The to-device contents of the transactions the remote accepted, in arrival order."""
        out = []
        with self.lock:
            for _, _, body, _, status in self.attempts:
                if status != 200:
                    continue
                for edu in body["edus"]:
                    if edu["edu_type"] == "m.direct_to_device":
                        out.append(edu["content"]["messages"][self.rita]["RDEV"])
        return out

    def wait_for(self, predicate, timeout=15, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}; attempts: {self.attempts}")

    def metric(self, name, labels=""):
        text = self.server.get("/metrics").raw
        total, seen = 0.0, False
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                if labels in line:
                    total += float(line.rsplit(" ", 1)[1])
                    seen = True
        return total if seen else None


class FederationSender(SenderTestCase):
    more_config = "federation_sender:\n  retry_delay: 1s\n  max_retry_delay: 3s\n  timeout: 5s\n" + LISTENER

    def test_to_device_arrives_as_a_signed_transaction(self):
        self.send_to_device("first", {"n": 1})
        self.wait_for(lambda: self.delivered(), what="a transaction")
        with self.lock:
            (_, txn_id, body, origin, status), = self.attempts
        self.assertEqual(origin, "test.local")  # X-Matrix verified by the remote, body included
        self.assertEqual(body["origin"], "test.local")
        self.assertIsInstance(body["origin_server_ts"], int)
        self.assertEqual(body["pdus"], [])
        edu, = body["edus"]
        self.assertEqual(edu["edu_type"], "m.direct_to_device")
        content = edu["content"]
        self.assertEqual(content["sender"], self.alice["user_id"])
        self.assertEqual(content["type"], "m.test")
        self.assertIsInstance(content["message_id"], str)
        self.assertTrue(0 < len(content["message_id"]) <= 32)
        self.assertEqual(content["messages"], {self.rita: {"RDEV": {"n": 1}}})
        # The client retrying its transaction sends nothing again.
        self.send_to_device("first", {"n": 1})
        time.sleep(1)
        self.assertEqual(len(self.attempts), 1)
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM federation_outbox"), [("0",)])

    def test_failures_back_off_and_lose_nothing(self):
        self.set_answer(500)
        self.send_to_device("b1", {"n": "b1"})
        self.wait_for(lambda: self.attempts, what="a first attempt")
        # While the remote is down, more messages wait in the database, not in memory.
        for i in (2, 3, 4):
            self.send_to_device(f"b{i}", {"n": f"b{i}"})
        self.assertEqual(self.metric("myelin_federation_queue_depth"), 0)
        self.assertGreaterEqual(self.metric("myelin_federation_destinations_backed_off"), 1)
        self.assertGreaterEqual(self.metric("myelin_federation_transactions_total", 'outcome="failed"'), 1)
        time.sleep(1.5)
        with self.lock:
            failed = [a for a in self.attempts if a[4] == 500]
        # Backed off: a few attempts at growing intervals, not a tight loop.
        self.assertLessEqual(len(failed), 3, failed)
        if len(failed) >= 2:
            self.assertGreaterEqual(failed[1][0] - failed[0][0], 0.8)
        self.set_answer(200)
        self.wait_for(lambda: len(self.delivered()) >= 4, timeout=10, what="the delivery after the outage")
        self.assertEqual(self.delivered(), [{"n": f"b{i}"} for i in (1, 2, 3, 4)])
        # One transaction in flight at a time: every failed attempt carried the oldest message first.
        for _, _, body, _, _ in failed:
            self.assertEqual(body["edus"][0]["content"]["messages"][self.rita]["RDEV"], {"n": "b1"})
        self.wait_for(lambda: self.metric("myelin_federation_destinations_backed_off") == 0, timeout=5,
                      what="the backoff to reset")

    def test_restart_keeps_outbox_and_backoff(self):
        self.set_answer(500)
        self.send_to_device("r1", {"n": "r1"})
        self.wait_for(lambda: self.attempts, what="a first attempt")
        self.send_to_device("r2", {"n": "r2"})
        time.sleep(0.3)
        (last_ts, interval), = self.server.sql(
            f"SELECT retry_last_ts, retry_interval_ms FROM federation_destinations WHERE destination = '{self.remote.name}'")
        self.assertGreater(int(interval), 0)
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM federation_outbox"), [("2",)])
        self.server.stop()
        self.set_answer(200)
        with self.lock:
            self.attempts.clear()
        self.server.start()
        self.wait_for(lambda: len(self.delivered()) >= 2, timeout=15, what="the delivery after the restart")
        self.assertEqual(self.delivered(), [{"n": "r1"}, {"n": "r2"}])
        with self.lock:
            first_attempt = self.attempts[0][0]
        # Not before the stored backoff ended (the clocks are the same machine's).
        self.assertGreaterEqual(first_attempt * 1000, int(last_ts) + int(interval) - 50)
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM federation_outbox"), [("0",)])

    def test_invalid_remote_recipient(self):
        r = self.server.put("/_matrix/client/v3/sendToDevice/m.test/bad",
                            {"messages": {"@rita:bad name": {"D": {}}}}, token=self.alice["access_token"])
        self.assertError(r, 400, "M_INVALID_PARAM")

    def pdus_delivered(self, room_id):
        with self.lock:
            return [p for _, _, body, _, status in self.attempts if status == 200
                    for p in body["pdus"] if p.get("room_id") == room_id]

    def test_pdus_follow_joined_members_and_catch_up(self):
        """Once the remote's user joined, a local message goes to the remote (its own join does not
        come back); while the remote fails, only the newest event of the room is sent once it is
        back (catch-up); a kick of its user reaches it."""
        tok = self.alice["access_token"]
        r = self.server.post("/_matrix/client/v3/createRoom", {"preset": "public_chat"}, token=tok)
        self.assertEqual(r.status, 200, r)
        room = r.json["room_id"]
        time.sleep(0.5)
        self.assertEqual(self.pdus_delivered(room), [])  # nobody elsewhere yet
        join_id, _ = self.join_remote_user(room, self.rita)

        def say(text):
            r = self.server.put(f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/send/m.room.message/{text}",
                                {"msgtype": "m.text", "body": text}, token=tok)
            self.assertEqual(r.status, 200, r)

        say("hello")
        self.wait_for(lambda: self.pdus_delivered(room), what="the PDU")
        pdu, = self.pdus_delivered(room)
        self.assertEqual((pdu["type"], pdu["sender"], pdu["content"]["body"]),
                         ("m.room.message", self.alice["user_id"], "hello"))
        self.assertIn("test.local", pdu["signatures"])
        self.assertNotIn("unsigned", pdu)
        # Down: three messages; back: only the newest is sent (the remote fetches the gap).
        self.set_answer(500)
        say("one")
        self.wait_for(lambda: any(a[4] == 500 for a in self.attempts), what="a failed attempt")
        say("two")
        say("three")
        self.set_answer(200)
        self.wait_for(lambda: len(self.pdus_delivered(room)) >= 2, timeout=10, what="the catch-up")
        time.sleep(0.5)
        self.assertEqual([p["content"]["body"] for p in self.pdus_delivered(room)], ["hello", "three"])
        self.assertNotIn(join_id, [p.get("event_id") for p in self.pdus_delivered(room)])
        self.assertFalse([p for p in self.pdus_delivered(room) if p["type"] == "m.room.member"])
        # Kicked: the remote's server still hears of it (the member event's target).
        r = self.server.post(f"/_matrix/client/v3/rooms/{urllib.parse.quote(room)}/kick", {"user_id": self.rita},
                             token=tok)
        self.assertEqual(r.status, 200, r)
        self.wait_for(lambda: [p for p in self.pdus_delivered(room) if p["type"] == "m.room.member"
                               and p["state_key"] == self.rita and p["content"]["membership"] == "leave"],
                      what="the kick at the remote")


class SenderRevival(SenderTestCase):
    """A long backoff (10 minutes) ends as soon as the backed-off server sends us a transaction."""
    more_config = "federation_sender:\n  retry_delay: 10m\n  timeout: 5s\n" + LISTENER

    def test_a_server_that_talks_to_us_is_retried_at_once(self):
        self.set_answer(500)
        self.send_to_device("v1", {"n": "v1"})
        self.wait_for(lambda: self.attempts, what="a first attempt")
        self.set_answer(200)
        time.sleep(1.5)
        self.assertEqual(self.delivered(), [])  # still backed off
        txn = f"alive{time.time_ns()}"
        r = self.fed("PUT", f"/_matrix/federation/v1/send/{txn}",
                     {"origin": self.remote.name, "origin_server_ts": int(time.time() * 1000), "pdus": [], "edus": []})
        self.assertEqual(r.status, 200, r)
        self.wait_for(lambda: self.delivered() == [{"n": "v1"}], timeout=10, what="the retry after the remote spoke")
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM federation_outbox"), [("0",)])


if __name__ == "__main__":
    main()
