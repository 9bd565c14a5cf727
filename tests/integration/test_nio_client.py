"""A real Matrix client against Myelin: matrix-nio (Debian's python3-matrix-nio) registers, logs in
on a second device, asks whoami, lists and renames devices, and logs out — through nio's own
request code (legacy r0 paths, access_token as a query parameter). Then two nio clients run
`sync_forever` (nio validates every /sync response against its JSON schemas) and see each other's
invite, messages, typing and read receipts live."""
import asyncio
import sys

from harness import ServerTestCase, main

# Debian installs nio for the system interpreter; the test may run under another python3.
for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
# Required, not skipped: scripts/install-deps.sh installs it for `make test`.
import nio  # noqa: E402
from nio.responses import WhoamiResponse  # noqa: E402


class NioClient(ServerTestCase):
    def run_async(self, coro):
        return asyncio.run(coro)

    def test_register_login_devices_logout(self):
        url = f"http://127.0.0.1:{self.server.port}"

        async def scenario():
            first = nio.AsyncClient(url, "niouser", device_id="NIOFIRST")
            try:
                r = await first.register("niouser", "nio password", device_name="nio first")
                self.assertIsInstance(r, nio.RegisterResponse, r)
                self.assertEqual(r.user_id, "@niouser:test.local")

                second = nio.AsyncClient(url, "@niouser:test.local")
                try:
                    r = await second.login("nio password", device_name="nio second")
                    self.assertIsInstance(r, nio.LoginResponse, r)
                    w = await second.whoami()
                    self.assertIsInstance(w, WhoamiResponse, w)
                    self.assertEqual(w.user_id, "@niouser:test.local")

                    devices = await second.devices()
                    self.assertIsInstance(devices, nio.DevicesResponse, devices)
                    ids = sorted(d.id for d in devices.devices)
                    self.assertEqual(len(ids), 2, ids)
                    self.assertIn("NIOFIRST", ids)

                    upd = await second.update_device(second.device_id, {"display_name": "renamed by nio"})
                    self.assertIsInstance(upd, nio.UpdateDeviceResponse, upd)
                    devices = await second.devices()
                    names = {d.id: d.display_name for d in devices.devices}
                    self.assertEqual(names[second.device_id], "renamed by nio")

                    token = second.access_token
                    out = await second.logout()
                    self.assertIsInstance(out, nio.LogoutResponse, out)
                    # nio forgets its token on logout; the server must have revoked it too.
                    w = self.server.get("/_matrix/client/v3/account/whoami", token=token)
                    self.assertError(w, 401, "M_UNKNOWN_TOKEN")
                finally:
                    await second.close()

                bad = nio.AsyncClient(url, "@niouser:test.local")
                try:
                    r = await bad.login("wrong password")
                    self.assertIsInstance(r, nio.LoginError, r)
                    self.assertEqual(r.status_code, "M_FORBIDDEN")
                finally:
                    await bad.close()
            finally:
                await first.close()

        self.run_async(scenario())


class NioLiveSync(ServerTestCase):
    extra_config = "rc_message:\n  per_second: 10000\n  burst_count: 10000\n"

    def test_two_clients_with_sync_forever(self):
        url = f"http://127.0.0.1:{self.server.port}"

        async def until(predicate, what, seconds=10):
            deadline = asyncio.get_running_loop().time() + seconds
            while not predicate():
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                await asyncio.sleep(0.02)

        async def scenario():
            alice = nio.AsyncClient(url, "nioalice")
            bob = nio.AsyncClient(url, "niobob")
            seen = {"bob_messages": [], "alice_messages": [], "alice_typing": [], "alice_receipts": [],
                    "bob_invites": []}

            async def bob_invited(room, event):
                seen["bob_invites"].append(room.room_id)
                await bob.join(room.room_id)

            bob.add_event_callback(bob_invited, nio.InviteMemberEvent)
            bob.add_event_callback(lambda room, e: seen["bob_messages"].append(e.body), nio.RoomMessageText)
            alice.add_event_callback(lambda room, e: seen["alice_messages"].append(e.body), nio.RoomMessageText)
            alice.add_ephemeral_callback(lambda room, e: seen["alice_typing"].append(list(e.users)),
                                         nio.TypingNoticeEvent)
            alice.add_ephemeral_callback(lambda room, e: seen["alice_receipts"].extend(
                (r.user_id, r.event_id) for r in e.receipts), nio.ReceiptEvent)
            tasks = []
            try:
                for c, name in ((alice, "nioalice"), (bob, "niobob")):
                    r = await c.register(name, "nio password")
                    self.assertIsInstance(r, nio.RegisterResponse, r)
                for c in (alice, bob):
                    first = await c.sync(timeout=0, full_state=True)
                    self.assertIsInstance(first, nio.SyncResponse, first)
                    tasks.append(asyncio.ensure_future(c.sync_forever(timeout=30000)))
                created = await alice.room_create(name="nio live", invite=[bob.user_id])
                self.assertIsInstance(created, nio.RoomCreateResponse, created)
                room = created.room_id
                await until(lambda: room in bob.rooms and bob.user_id in bob.rooms[room].users, "bob's join")
                await until(lambda: bob.user_id in alice.rooms.get(room, nio.MatrixRoom(room, "")).users,
                            "bob's join on alice's side")
                sent = await alice.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "hello bob"})
                self.assertIsInstance(sent, nio.RoomSendResponse, sent)
                await until(lambda: "hello bob" in seen["bob_messages"], "alice's message at bob")
                await bob.room_send(room, "m.room.message", {"msgtype": "m.text", "body": "hello alice"})
                await until(lambda: "hello alice" in seen["alice_messages"], "bob's message at alice")
                r = await bob.room_typing(room, True, timeout=20000)
                self.assertIsInstance(r, nio.RoomTypingResponse, r)
                await until(lambda: [bob.user_id] in seen["alice_typing"], "bob typing at alice")
                await bob.room_typing(room, False)
                await until(lambda: seen["alice_typing"] and seen["alice_typing"][-1] == [], "typing stopped")
                r = await bob.room_read_markers(room, sent.event_id, sent.event_id)
                self.assertIsInstance(r, nio.RoomReadMarkersResponse, r)
                await until(lambda: (bob.user_id, sent.event_id) in seen["alice_receipts"], "bob's receipt at alice")
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await alice.close()
                await bob.close()

        asyncio.run(scenario())


if __name__ == "__main__":
    main()
