"""A real Matrix client against Myelin: matrix-nio (Debian's python3-matrix-nio) registers, logs in
on a second device, asks whoami, lists and renames devices, and logs out — through nio's own
request code (legacy r0 paths, access_token as a query parameter). Then two nio clients run
`sync_forever` (nio validates every /sync response against its JSON schemas) and see each other's
invite, messages, typing and read receipts live. Last, two nio clients with encryption enabled
(python3-olm) exchange megolm-encrypted messages both ways."""
import asyncio
import contextlib
import sys
import tempfile
import urllib.parse

from harness import ServerTestCase, main

# Debian installs nio for the system interpreter; the test may run under another python3.
for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
# Required, not skipped: scripts/install-deps.sh installs it for `make test`.
import nio  # noqa: E402
from nio.responses import WhoamiResponse  # noqa: E402


def quote(s):
    return urllib.parse.quote(s, safe="")


async def until(predicate, what, seconds=10):
    """Waits (bounded) until `predicate()` holds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


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


@contextlib.asynccontextmanager
async def syncing_pair(test, url, names=("nioalice", "niobob"), **client_args):
    """Two freshly registered nio clients (alice, bob) running `sync_forever`; bob joins every room he
    is invited to. The clients are closed and their loops stopped on exit."""
    alice, bob = (nio.AsyncClient(url, name, **client_args) for name in names)

    async def bob_invited(room, event):
        if event.state_key == bob.user_id and event.membership == "invite":
            await bob.join(room.room_id)

    bob.add_event_callback(bob_invited, nio.InviteMemberEvent)
    tasks = []
    try:
        for c, name in zip((alice, bob), names):
            r = await c.register(name, "nio password")
            test.assertIsInstance(r, nio.RegisterResponse, r)
            if c.olm:
                # sync_forever would upload the keys too, but would swallow an error.
                r = await c.keys_upload()
                test.assertIsInstance(r, nio.KeysUploadResponse, r)
        for c in (alice, bob):
            first = await c.sync(timeout=0, full_state=True)
            test.assertIsInstance(first, nio.SyncResponse, first)
            tasks.append(asyncio.ensure_future(c.sync_forever(timeout=30000)))
        yield alice, bob
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await alice.close()
        await bob.close()


async def shared_room(test, alice, bob, **create_args):
    """alice creates a room inviting bob; returns its id once both clients see bob joined."""
    created = await alice.room_create(invite=[bob.user_id], **create_args)
    test.assertIsInstance(created, nio.RoomCreateResponse, created)
    room = created.room_id
    await until(lambda: room in bob.rooms and bob.user_id in bob.rooms[room].users, "bob's join")
    await until(lambda: bob.user_id in alice.rooms.get(room, nio.MatrixRoom(room, "")).users,
                "bob's join on alice's side")
    return room


class NioLiveSync(ServerTestCase):
    extra_config = "rc_message:\n  per_second: 10000\n  burst_count: 10000\n"

    def test_two_clients_with_sync_forever(self):
        url = f"http://127.0.0.1:{self.server.port}"

        async def scenario():
            async with syncing_pair(self, url) as (alice, bob):
                seen = {"bob_messages": [], "alice_messages": [], "alice_typing": [], "alice_receipts": []}
                bob.add_event_callback(lambda room, e: seen["bob_messages"].append(e.body), nio.RoomMessageText)
                alice.add_event_callback(lambda room, e: seen["alice_messages"].append(e.body), nio.RoomMessageText)
                alice.add_ephemeral_callback(lambda room, e: seen["alice_typing"].append(list(e.users)),
                                             nio.TypingNoticeEvent)
                alice.add_ephemeral_callback(lambda room, e: seen["alice_receipts"].extend(
                    (r.user_id, r.event_id) for r in e.receipts), nio.ReceiptEvent)
                room = await shared_room(self, alice, bob, name="nio live")
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

        asyncio.run(scenario())


class NioEncryption(ServerTestCase):
    """End-to-end encryption with nio's Olm machine (python3-olm): device and one-time keys uploaded
    (/keys/upload), found (/keys/query) and claimed (/keys/claim), the megolm room key sent over Olm
    (/sendToDevice, to_device in /sync), messages decrypted both ways."""
    extra_config = "rc_message:\n  per_second: 10000\n  burst_count: 10000\n"

    def test_encrypted_room_both_ways(self):
        url = f"http://127.0.0.1:{self.server.port}"

        async def scenario(store):
            # nio keeps its Olm account in a per-user SQLite store under store_path.
            config = nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
            async with syncing_pair(self, url, ("nioe2ealice", "nioe2ebob"), store_path=store,
                                    config=config) as (alice, bob):
                for c in (alice, bob):
                    self.assertIsNotNone(c.olm, "nio loaded its Olm account after registering")
                    self.assertTrue(c.olm.account.shared, "device keys published")
                    self.assertFalse(c.should_upload_keys, "the server counts all the one-time keys uploaded")
                texts = {alice.user_id: [], bob.user_id: []}
                undecryptable = {alice.user_id: [], bob.user_id: []}
                for c in (alice, bob):
                    c.add_event_callback(lambda room, e, c=c: texts[c.user_id].append(e), nio.RoomMessageText)
                    c.add_event_callback(lambda room, e, c=c: undecryptable[c.user_id].append(e), nio.MegolmEvent)
                room = await shared_room(self, alice, bob, name="nio encrypted",
                                         initial_state=[nio.event_builders.EnableEncryptionBuilder().as_dict()])
                await until(lambda: alice.rooms[room].encrypted and bob.rooms[room].encrypted,
                            "m.room.encryption at both clients")

                async def exchange(sender, receiver, body):
                    sent = await sender.room_send(room, "m.room.message", {"msgtype": "m.text", "body": body},
                                                  ignore_unverified_devices=True)
                    self.assertIsInstance(sent, nio.RoomSendResponse, sent)
                    got = texts[receiver.user_id]
                    await until(lambda: any(e.event_id == sent.event_id for e in got)
                                or any(e.event_id == sent.event_id for e in undecryptable[receiver.user_id]),
                                f"{body!r} at {receiver.user_id}")
                    self.assertEqual([e.event_id for e in undecryptable[receiver.user_id]], [],
                                     f"{receiver.user_id} could not decrypt (room key not received)")
                    event = next(e for e in got if e.event_id == sent.event_id)
                    self.assertTrue(event.decrypted, "the event arrived encrypted and was decrypted")
                    self.assertEqual(event.body, body)
                    self.assertEqual(event.sender, sender.user_id)
                    # The server only ever saw ciphertext; nio decrypts the event fetched alone too.
                    stored = self.server.get(f"/_matrix/client/v3/rooms/{quote(room)}/event/{quote(sent.event_id)}",
                                             token=receiver.access_token)
                    self.assertEqual(stored.status, 200, stored)
                    self.assertEqual(stored.json["type"], "m.room.encrypted", stored)
                    self.assertEqual(stored.json["content"]["algorithm"], "m.megolm.v1.aes-sha2", stored)
                    self.assertNotIn(body, stored.raw)
                    fetched = await receiver.room_get_event(room, sent.event_id)
                    self.assertIsInstance(fetched, nio.RoomGetEventResponse, fetched)
                    self.assertIsInstance(fetched.event, nio.RoomMessageText, fetched.event)
                    self.assertEqual(fetched.event.body, body)

                await exchange(alice, bob, "hello bob, encrypted")
                await exchange(bob, alice, "hello alice, encrypted")
                await exchange(alice, bob, "second message, same session")

        with tempfile.TemporaryDirectory(prefix="nio-store-") as store:
            asyncio.run(scenario(store))


if __name__ == "__main__":
    main()
