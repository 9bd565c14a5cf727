#!/usr/bin/env node
// The media repository through matrix-js-sdk, as Element does it:
//
//   node media.mjs http://127.0.0.1:8008
//
// getMediaConfig (authenticated and legacy), uploadContent of a binary file, then the mxc URI turned
// into download URLs by the SDK (mxcUrlToHttp, authenticated and legacy) and fetched: the bytes come
// back identical, with the type and file name the upload declared. An image event carrying the mxc
// URI is sent and read back. The SDK's thumbnail URLs are fetched once thumbnails exist (the
// thumbnail tests check their content). Exits 1 if any check failed.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { EventType, MsgType, Preset } from "matrix-js-sdk";
import { finish, register, step } from "./harness.mjs";

const alice = await step("register alice", () => register("media_alice"), { required: true });
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

await step("getMediaConfig reports m.upload.size (authenticated and legacy)", async () => {
  for (const authed of [true, false]) {
    const config = await alice.getMediaConfig(authed);
    assert.ok(Number.isInteger(config["m.upload.size"]) && config["m.upload.size"] > 0, JSON.stringify(config));
  }
});

const content = Buffer.concat([randomBytes(300_000), Buffer.from([0, 255, 13, 10])]);
const upload = await step("uploadContent of a 300 KB binary file", async () => {
  const res = await alice.uploadContent(content, { name: "holiday photo.bin", type: "application/octet-stream" });
  assert.match(res.content_uri, /^mxc:\/\/[^/]+\/[A-Za-z0-9_-]+$/);
  return res;
}, { required: true });

for (const authed of [true, false]) {
  await step(`download through mxcUrlToHttp (${authed ? "authenticated" : "legacy"} media)`, async () => {
    const url = alice.mxcUrlToHttp(upload.content_uri, undefined, undefined, undefined, false, true, authed);
    assert.ok(url.includes(authed ? "/_matrix/client/v1/media/download/" : "/_matrix/media/v3/download/"), url);
    const headers = authed ? { Authorization: `Bearer ${alice.getAccessToken()}` } : {};
    const res = await fetch(url, { headers });
    assert.equal(res.status, 200, await res.clone().text());
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(sha256(body), sha256(content));
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.equal(res.headers.get("content-disposition"), "attachment; filename*=utf-8''holiday%20photo.bin");
    if (authed) {
      const anonymous = await fetch(url);
      assert.equal(anonymous.status, 401);
    }
  });
}

await step("an m.image event carries the mxc URI to the room and back", async () => {
  const { room_id: roomId } = await alice.createRoom({ preset: Preset.PrivateChat });
  const { event_id: eventId } = await alice.sendEvent(roomId, EventType.RoomMessage, {
    msgtype: MsgType.Image, body: "holiday photo.bin", url: upload.content_uri,
    info: { mimetype: "application/octet-stream", size: content.length },
  });
  const event = await alice.fetchRoomEvent(roomId, eventId);
  assert.equal(event.content.url, upload.content_uri);
});

finish();
