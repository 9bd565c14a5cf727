#!/usr/bin/env node
// Simplified sliding sync (MSC4186) with matrix-js-sdk's own SlidingSync class (the one Element Web
// uses), over /_matrix/client/unstable/org.matrix.simplified_msc3575/sync:
//
//   node sliding.mjs http://127.0.0.1:8008
//
// sam creates two rooms; a SlidingSync with one list and a room subscription sees both rooms, then a
// new message in the listed room and one in the subscribed room arrive through its long-poll loop.
// Exits 1 on any failure.
import assert from "node:assert/strict";
import { SlidingSync, SlidingSyncEvent } from "matrix-js-sdk/lib/sliding-sync.js";
import { MsgType } from "matrix-js-sdk";
import { baseUrl, finish, register, step } from "./harness.mjs";

const sam = await step("register sam", () => register("sam"), { required: true });
// The list shows only the newest room (range [0, 0]); the older one is reached by subscription.
const subscribed = (await sam.createRoom({ name: "subscribed room" })).room_id;
const listed = (await sam.createRoom({ name: "listed room" })).room_id;

// Every RoomData callback, by room, and waiters for the next matching one.
const seen = new Map();
const waiters = [];
function roomData(roomId, data) {
  if (!seen.has(roomId)) seen.set(roomId, []);
  seen.get(roomId).push(data);
  for (const w of [...waiters])
    if (w.test(roomId, data)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(data);
    }
}
function next(what, test, ms = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    waiters.push({ test, resolve: (d) => { clearTimeout(timer); resolve(d); } });
  });
}
const bodies = (data) => (data.timeline ?? []).filter((e) => e.type === "m.room.message").map((e) => e.content.body);

const lists = new Map([["all", { ranges: [[0, 0]], timeline_limit: 5, required_state: [["m.room.name", ""]] }]]);
const ss = new SlidingSync(baseUrl, lists, { timeline_limit: 5, required_state: [["*", "*"]] }, sam, 10000);
ss.on(SlidingSyncEvent.RoomData, roomData);

await step("the first answer has the newest room in the list and the subscribed room", async () => {
  const gotListed = next("the listed room", (id) => id === listed);
  const gotSubscribed = next("the subscribed room", (id) => id === subscribed);
  ss.modifyRoomSubscriptions(new Set([subscribed]));
  ss.start();
  const [l, s] = await Promise.all([gotListed, gotSubscribed]);
  assert.equal(l.name, "listed room");
  assert.equal(l.initial, true);
  assert.equal(s.name, "subscribed room");
  assert.ok(s.required_state.some((e) => e.type === "m.room.create"), "the subscription's required_state [*, *]");
}, { required: true });

await step("a new message in the listed room arrives through the long-poll", async () => {
  const got = next("the message in the list", (id, d) => id === listed && bodies(d).includes("to the list"));
  await sam.sendMessage(listed, { msgtype: MsgType.Text, body: "to the list" });
  const d = await got;
  assert.equal(d.num_live, 1);
});

await step("a new message in the subscribed room arrives as a room subscription update", async () => {
  const got = next("the message in the subscription",
                   (id, d) => id === subscribed && bodies(d).includes("to the subscription"));
  await sam.sendMessage(subscribed, { msgtype: MsgType.Text, body: "to the subscription" });
  await got;
});

ss.stop();
finish();
