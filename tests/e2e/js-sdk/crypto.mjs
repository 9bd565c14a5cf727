#!/usr/bin/env node
// End-to-end encryption with a real client: matrix-js-sdk's Rust crypto (matrix-sdk-crypto-wasm, an
// in-memory store: node has no IndexedDB) against a running Myelin.
//
//   node crypto.mjs http://127.0.0.1:8008
//
// ann and ben register, start their crypto and sync loops, and find each other's device keys
// (/keys/upload, /keys/query). ann creates a room with m.room.encryption (megolm) inviting ben, ben
// joins; ann's encrypted message reaches ben, who decrypts it (the room key came over an Olm session
// built from one of ben's one-time keys: /keys/claim, /sendToDevice, to_device in /sync), and ben's
// encrypted reply reaches ann. The server only ever holds ciphertext. Then ben logs in on a second
// device (the room's third): ann's client must learn of it from device_lists.changed in its /sync (no forced download),
// and ann's next message must be decryptable there. Every wait is bounded; exits 1 on any failure.
import assert from "node:assert/strict";
import { EventType, MatrixEventEvent, MsgType, Preset, RoomEvent, RoomMemberEvent } from "matrix-js-sdk";
import { finish, login, poll, register, startSyncing, step, waitFor } from "./harness.mjs";

const MEGOLM = "m.megolm.v1.aes-sha2";
// Room key delivery takes several round trips (key query, claim, to-device, the recipient's sync).
const DECRYPT_MS = 15000;

// initRustCrypto turns the Rust SDK's tracing on at debug level, written with console.debug/info
// (stdout under node); its warnings and errors still show.
if (process.env.MYELIN_JS_SDK_VERBOSE !== "1") console.debug = console.info = () => {};

async function startCryptoAndSync(client) {
  await client.initRustCrypto({ useIndexedDB: false });
  await startSyncing(client);
}

// The keys the device published, read back through another client's /keys/query.
async function devicesOf(observer, userId, download = false) {
  const map = await observer.getCrypto().getUserDeviceInfo([userId], download);
  return map.get(userId) ?? new Map();
}

// Checks that `observer` knows `owner`'s device with the identity keys `owner`'s crypto generated.
async function expectDeviceKnown(observer, owner, { download }) {
  const own = await owner.getCrypto().getOwnDeviceKeys();
  const device = await poll(
    async () => (await devicesOf(observer, owner.getUserId(), download)).get(owner.getDeviceId()),
    `${observer.getUserId()} to know ${owner.getUserId()}'s device ${owner.getDeviceId()}`);
  assert.equal(device.getFingerprint(), own.ed25519, "ed25519 key as uploaded");
  assert.equal(device.getIdentityKey(), own.curve25519, "curve25519 key as uploaded");
  assert.ok(device.algorithms.includes(MEGOLM), `algorithms: ${device.algorithms}`);
}

// Resolves once `event` is decrypted, or rejects with the decryption failure after DECRYPT_MS. A
// first attempt may fail while the room key is still on its way; the SDK retries when it arrives.
function decrypted(event) {
  const ok = () => !event.isBeingDecrypted() && event.getClearContent() !== null && !event.isDecryptionFailure();
  if (ok()) return Promise.resolve(event);
  return waitFor(event, MatrixEventEvent.Decrypted, () => ok(),
                 () => `decryption of ${event.getId()} (last failure: ${event.decryptionFailureReason ?? "none"})`,
                 DECRYPT_MS).then(() => event);
}

// Sends an encrypted text from one client and resolves with the event as each receiver decrypted it.
async function sendAndDecrypt(from, receivers, roomId, body) {
  const arrivals = receivers.map((to) => waitFor(
    to, RoomEvent.Timeline, (event, room) => room?.roomId === roomId && event.getSender() === from.getUserId()
      && event.getWireType() === EventType.RoomMessageEncrypted && event.getId() === sentId,
    `${from.getUserId()}'s message at ${to.getUserId()}/${to.getDeviceId()}`, DECRYPT_MS));
  let sentId;
  const { event_id } = await from.sendMessage(roomId, { msgtype: MsgType.Text, body });
  sentId = event_id;
  // Timeline events that arrived before the send answered are in the room already.
  const events = await Promise.all(receivers.map(async (to, i) => {
    const known = to.getRoom(roomId)?.findEventById(event_id);
    const [event] = known ? [known] : await arrivals[i];
    return decrypted(event);
  }));
  for (const [i, event] of events.entries()) {
    const who = `${receivers[i].getUserId()}/${receivers[i].getDeviceId()}`;
    assert.ok(event.isEncrypted(), `${who}: the event should have been encrypted`);
    assert.equal(event.getWireType(), EventType.RoomMessageEncrypted, `${who}: wire type`);
    assert.equal(event.getWireContent().algorithm, MEGOLM, `${who}: algorithm`);
    assert.equal(event.getType(), EventType.RoomMessage, `${who}: cleartext type`);
    assert.equal(event.getContent().body, body, `${who}: cleartext body`);
    assert.equal(event.getSender(), from.getUserId());
  }
  // What the server stored: ciphertext only.
  const raw = await from.fetchRoomEvent(roomId, event_id);
  assert.equal(raw.type, EventType.RoomMessageEncrypted, `stored type: ${JSON.stringify(raw)}`);
  assert.equal(raw.content.algorithm, MEGOLM);
  assert.ok(typeof raw.content.ciphertext === "string" && !raw.content.ciphertext.includes(body),
            `stored content: ${JSON.stringify(raw.content)}`);
  assert.equal(raw.content.body, undefined, "no cleartext body on the server");
  return events;
}

boundWholeRun();

const ann = await step("register ann", () => register("ann"), { required: true });
const ben = await step("register ben", () => register("ben"), { required: true });
await step("both start Rust crypto (in-memory store) and their sync loops", async () => {
  await startCryptoAndSync(ann);
  await startCryptoAndSync(ben);
  assert.ok(ann.getCrypto() && ben.getCrypto(), "getCrypto() after initRustCrypto");
}, { required: true });

await step("each sees the other's device keys as uploaded (/keys/upload, /keys/query)", async () => {
  await expectDeviceKnown(ann, ben, { download: true });
  await expectDeviceKnown(ben, ann, { download: true });
}, { required: true });

const roomId = await step("ann creates an encrypted room (m.room.encryption) inviting ben; ben joins", async () => {
  const invited = waitFor(ben, RoomMemberEvent.Membership,
                          (_e, m) => m.userId === ben.getUserId() && m.membership === "invite", "ben's invite");
  const { room_id } = await ann.createRoom({
    preset: Preset.PrivateChat, invite: [ben.getUserId()], name: "encrypted",
    initial_state: [{ type: EventType.RoomEncryption, state_key: "", content: { algorithm: MEGOLM } }],
  });
  await invited;
  const joined = waitFor(ann, RoomMemberEvent.Membership,
                         (_e, m) => m.roomId === room_id && m.userId === ben.getUserId() && m.membership === "join",
                         "ben's join on ann's side");
  await ben.joinRoom(room_id);
  await joined;
  for (const c of [ann, ben]) {
    await poll(() => c.getRoom(room_id)?.hasEncryptionStateEvent(),
               `${c.getUserId()}'s room to have m.room.encryption`);
    // The Rust crypto learns the room's settings from the sync it is still processing when the
    // state event is already in the room: wait for it rather than sample it once.
    await poll(() => c.getCrypto().isEncryptionEnabledInRoom(room_id), `${c.getUserId()}: encryption enabled`);
  }
  return room_id;
}, { required: true });

await step("ann's encrypted message: ben decrypts it; the server holds ciphertext", () =>
  sendAndDecrypt(ann, [ben], roomId, "hello ben, this is secret"), { required: true });

await step("ben's encrypted reply: ann decrypts it", () =>
  sendAndDecrypt(ben, [ann], roomId, "secret received, ann"));

// ben's second device, the room's third.
const ben3 = await step("ben logs in on another device (the room's third), starts crypto and syncs", async () => {
  const client = await login("ben", "js-sdk ben third device");
  assert.notEqual(client.getDeviceId(), ben.getDeviceId());
  await startCryptoAndSync(client);
  return client;
}, { required: true });

await step("ann's client learns ben's new device through device_lists.changed (no forced download)", async () => {
  // download=false: ann's crypto already tracks ben, so it only re-queries when a /sync says ben changed.
  await expectDeviceKnown(ann, ben3, { download: false });
  const ids = [...(await devicesOf(ann, ben.getUserId())).keys()].sort();
  assert.deepEqual(ids, [ben.getDeviceId(), ben3.getDeviceId()].sort(), "ann's view of ben's devices");
}, { required: true });

await step("ben's devices know each other", async () => {
  await expectDeviceKnown(ben, ben3, { download: false });
  await expectDeviceKnown(ben3, ben, { download: true });
});

await step("ann's next message is decryptable on ben's new device and his first one", () =>
  sendAndDecrypt(ann, [ben3, ben], roomId, "welcome, third device"));

for (const c of [ann, ben, ben3]) c?.stopClient();
finish();

// The harness's steps each bound their waits; this bounds the whole run in case the SDK itself hangs
// (a request with no timeout, a wasm call that never settles).
function boundWholeRun() {
  const limit = 90000;
  setTimeout(() => {
    console.log(`FAIL the whole script took more than ${limit / 1000} s`);
    process.exit(1);
  }, limit).unref();
}
