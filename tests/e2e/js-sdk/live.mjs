#!/usr/bin/env node
// Live sync with a real client library: two matrix-js-sdk clients run their own /sync loops
// (startClient) against a running Myelin and see each other act as it happens.
//
//   node live.mjs http://127.0.0.1:8008
//
// alice and bob (accounts ann and ben) register and start syncing; alice creates a room inviting bob; bob's client sees
// the invite and joins; each side sees the other's messages arrive through its sync loop, bob's
// typing notification reaches alice and stops, and bob's read receipt on alice's message reaches
// alice. Delivery times (send → the other client's event) are printed. Exits 1 on any failure.
import assert from "node:assert/strict";
import { MsgType, Preset, RoomEvent, RoomMemberEvent } from "matrix-js-sdk";
import { finish, register, startSyncing, step, waitFor } from "./harness.mjs";

const alice = await step("register ann (alice)", () => register("ann"), { required: true });
const bob = await step("register ben (bob)", () => register("ben"), { required: true });
await step("both clients start their sync loops (startClient)", async () => {
  await startSyncing(alice);
  await startSyncing(bob);
}, { required: true });

const roomId = await step("alice creates a room inviting bob; bob's client sees the invite live", async () => {
  const invited = waitFor(bob, RoomMemberEvent.Membership,
                          (_e, member) => member.userId === bob.getUserId() && member.membership === "invite",
                          "bob's invite");
  const { room_id } = await alice.createRoom({ preset: Preset.PrivateChat, invite: [bob.getUserId()], name: "live" });
  const [, member] = await invited;
  assert.equal(member.roomId, room_id);
  return room_id;
}, { required: true });

await step("bob joins; alice's client sees the join", async () => {
  const joined = waitFor(alice, RoomMemberEvent.Membership,
                         (_e, member) => member.userId === bob.getUserId() && member.membership === "join",
                         "bob's join on alice's side");
  await bob.joinRoom(roomId);
  await joined;
}, { required: true });

// Sends from one client and measures until the other's timeline has the event.
async function deliver(from, to, body) {
  const seen = waitFor(to, RoomEvent.Timeline,
                       (event, room) => room?.roomId === roomId && event.getContent().body === body,
                       `"${body}" at ${to.getUserId()}`);
  const t0 = performance.now();
  const { event_id } = await from.sendMessage(roomId, { msgtype: MsgType.Text, body });
  const [event] = await seen;
  assert.equal(event.getId(), event_id);
  assert.equal(event.getSender(), from.getUserId());
  return performance.now() - t0;
}

const times = [];
await step("messages both ways arrive through the other's sync loop", async () => {
  for (let i = 0; i < 5; i++) {
    times.push(await deliver(alice, bob, `from alice ${i}`));
    times.push(await deliver(bob, alice, `from bob ${i}`));
  }
  times.sort((a, b) => a - b);
  console.log(`     delivery send→other client: median ${times[times.length >> 1].toFixed(1)} ms, ` +
              `max ${times[times.length - 1].toFixed(1)} ms over ${times.length} messages`);
});

await step("bob's typing reaches alice, and its end too", async () => {
  const typing = waitFor(alice, RoomMemberEvent.Typing,
                         (_e, member) => member.userId === bob.getUserId() && member.typing, "bob typing");
  await bob.sendTyping(roomId, true, 20000);
  await typing;
  const stopped = waitFor(alice, RoomMemberEvent.Typing,
                          (_e, member) => member.userId === bob.getUserId() && !member.typing, "bob stops typing");
  await bob.sendTyping(roomId, false);
  await stopped;
});

await step("bob's read receipt on alice's message reaches alice", async () => {
  const room = bob.getRoom(roomId);
  const last = room.getLiveTimeline().getEvents().filter((e) => e.getSender() === alice.getUserId()).pop();
  assert.ok(last, "bob has alice's messages in his timeline");
  const receipt = waitFor(alice, RoomEvent.Receipt,
                          (event) => event.getContent()[last.getId()]?.["m.read"]?.[bob.getUserId()] !== undefined,
                          "bob's m.read receipt on that event");
  await bob.sendReadReceipt(last);
  const [event] = await receipt;
  // (The SDK's "read up to" would point at bob's own later messages, so the event itself is checked.)
  assert.ok(event.getContent()[last.getId()]["m.read"][bob.getUserId()].ts > 0, "the receipt has a timestamp");
});

alice.stopClient();
bob.stopClient();
finish();
