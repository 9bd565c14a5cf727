#!/usr/bin/env node
// End-to-end room check with a real client library: matrix-js-sdk against a running Myelin.
//
//   node rooms.mjs http://127.0.0.1:8008
//
// Registers alice, bob, carol and dave (user-interactive auth: a first /register answers 401 with a
// session, the retry carries {type: m.login.dummy, session}), logs carol in on a second device, and
// then, with request-level SDK calls only (live sync is live.mjs's subject): alice creates a private room inviting bob, bob joins, alice invites carol, carol joins,
// everyone sends messages, bob changes his display name, alice redacts one message, dave (not a
// member) is refused. /messages is paged backwards to m.room.create and checked: every sent event
// exactly once, newest first. Exits 1 if any check failed; independent checks keep running after a
// failure so one server bug does not hide the others.
import assert from "node:assert/strict";
import { Direction, EventType, MsgType, Preset } from "matrix-js-sdk";
import { clientFor, expectMatrixError, finish, login, register, sdkVersion, step } from "./harness.mjs";

const users = {};
for (const name of ["alice", "bob", "carol", "dave"]) {
  users[name] = await step(`register ${name} (UIA m.login.dummy)`, () => register(name), { required: true });
}
// Carol works from a second device, logged in with her password.
users.carol = await step("carol logs in (loginRequest, m.login.password)", async () => {
  const client = await login("carol", "js-sdk carol second device");
  assert.equal(client.getUserId(), users.carol.getUserId());
  assert.notEqual(client.getDeviceId(), users.carol.getDeviceId());
  const who = await client.whoami();
  assert.equal(who.user_id, client.getUserId());
  return client;
}, { required: true });
users.dave = clientFor("dave", { user_id: users.dave.getUserId(), access_token: users.dave.getAccessToken(),
                                 device_id: users.dave.getDeviceId() }, true);
const { alice, bob, carol, dave } = users;
const ids = Object.fromEntries(Object.entries(users).map(([k, c]) => [k, c.getUserId()]));

// ---- the room ----
const ROOM_NAME = "js-sdk e2e room";
const ROOM_TOPIC = "created by matrix-js-sdk " + sdkVersion;
const roomId = await step("alice creates a private_chat room inviting bob", async () => {
  const res = await alice.createRoom({ name: ROOM_NAME, topic: ROOM_TOPIC, preset: Preset.PrivateChat, invite: [ids.bob] });
  assert.match(res.room_id, /^!/);
  return res.room_id;
}, { required: true });

await step("room state: name, topic, join rules, bob invited", async () => {
  assert.equal((await alice.getStateEvent(roomId, EventType.RoomName, "")).name, ROOM_NAME);
  assert.equal((await alice.getStateEvent(roomId, EventType.RoomTopic, "")).topic, ROOM_TOPIC);
  assert.equal((await alice.getStateEvent(roomId, EventType.RoomJoinRules, "")).join_rule, "invite");
  assert.equal((await alice.getStateEvent(roomId, EventType.RoomMember, ids.bob)).membership, "invite");
  const create = await alice.getStateEvent(roomId, EventType.RoomCreate, "");
  assert.ok(create.room_version, `m.room.create content: ${JSON.stringify(create)}`);
});

await step("bob joins (joinRoom)", async () => {
  const room = await bob.joinRoom(roomId);
  assert.equal(room.roomId, roomId);
}, { required: true });

await step("alice invites carol (invite), carol joins", async () => {
  await alice.invite(roomId, ids.carol);
  assert.equal((await alice.getStateEvent(roomId, EventType.RoomMember, ids.carol)).membership, "invite");
  const room = await carol.joinRoom(roomId);
  assert.equal(room.roomId, roomId);
}, { required: true });

await step("getJoinedRooms lists the room for members only", async () => {
  for (const name of ["alice", "bob", "carol"]) {
    const { joined_rooms } = await users[name].getJoinedRooms();
    assert.ok(joined_rooms.includes(roomId), `${name}: ${JSON.stringify(joined_rooms)}`);
  }
  assert.ok(!(await dave.getJoinedRooms()).joined_rooms.includes(roomId));
});

await step("getJoinedRoomMembers: alice, bob, carol", async () => {
  const { joined } = await bob.getJoinedRoomMembers(roomId);
  assert.deepEqual(Object.keys(joined).sort(), [ids.alice, ids.bob, ids.carol].sort());
});

// ---- messages: every user sends, in a known order ----
const sent = []; // {event_id, sender, body} in send order
const ROUNDS = 4;
await step(`alice, bob, carol each send ${ROUNDS + 1} messages (sendMessage/sendTextMessage/sendEvent)`, async () => {
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of ["alice", "bob", "carol"]) {
      const body = `round ${r} from ${name}`;
      const client = users[name];
      let res;
      if (r % 3 === 0) res = await client.sendMessage(roomId, { msgtype: MsgType.Text, body });
      else if (r % 3 === 1) res = await client.sendTextMessage(roomId, body);
      else res = await client.sendEvent(roomId, EventType.RoomMessage, { msgtype: MsgType.Notice, body });
      assert.match(res.event_id, /^\$/);
      sent.push({ event_id: res.event_id, sender: ids[name], body, type: EventType.RoomMessage });
    }
  }
  // Same transaction id twice: the server must answer with the same event (idempotent PUT).
  for (const name of ["alice", "bob", "carol"]) {
    const txnId = `js-sdk-${name}-${Date.now()}`;
    const body = `idempotent from ${name}`;
    const a = await users[name].sendEvent(roomId, EventType.RoomMessage, { msgtype: MsgType.Text, body }, txnId);
    const b = await users[name].sendEvent(roomId, EventType.RoomMessage, { msgtype: MsgType.Text, body }, txnId);
    assert.equal(b.event_id, a.event_id, `txn ${txnId} sent twice gave two events`);
    sent.push({ event_id: a.event_id, sender: ids[name], body, type: EventType.RoomMessage });
  }
}, { required: true });

await step("a custom event type round-trips (sendEvent + fetchRoomEvent)", async () => {
  const content = { answer: 42, nested: { list: [1, "two", null] }, unicode: "héllo ✓" };
  const res = await bob.sendEvent(roomId, "org.myelin.e2e.custom", content);
  sent.push({ event_id: res.event_id, sender: ids.bob, type: "org.myelin.e2e.custom", content });
  const ev = await carol.fetchRoomEvent(roomId, res.event_id);
  assert.equal(ev.type, "org.myelin.e2e.custom");
  assert.equal(ev.sender, ids.bob);
  assert.equal(ev.room_id, roomId);
  assert.deepEqual(ev.content, content);
});

await step("fetchRoomEvent returns each message as sent", async () => {
  for (const s of sent.filter((e) => e.type === EventType.RoomMessage)) {
    const ev = await alice.fetchRoomEvent(roomId, s.event_id);
    assert.equal(ev.event_id, s.event_id);
    assert.equal(ev.sender, s.sender);
    assert.equal(ev.content.body, s.body);
  }
});

// ---- display name ----
const BOB_NAME = "Bob (via js-sdk)";
let bobMemberEventId;
await step("bob changes his display name; the member state follows", async () => {
  await bob.setDisplayName(BOB_NAME);
  assert.equal((await alice.getProfileInfo(ids.bob, "displayname")).displayname, BOB_NAME);
  const member = await alice.getStateEvent(roomId, EventType.RoomMember, ids.bob);
  assert.equal(member.membership, "join");
  assert.equal(member.displayname, BOB_NAME, `bob's m.room.member content: ${JSON.stringify(member)}`);
  const { joined } = await carol.getJoinedRoomMembers(roomId);
  assert.equal(joined[ids.bob]?.display_name, BOB_NAME, `joined_members: ${JSON.stringify(joined)}`);
  const { chunk } = await carol.members(roomId);
  const bobs = chunk.filter((e) => e.state_key === ids.bob);
  assert.equal(bobs.length, 1, `members chunk has ${bobs.length} entries for bob`);
  assert.equal(bobs[0].content.displayname, BOB_NAME);
  bobMemberEventId = bobs[0].event_id;
  const joinedOnly = await carol.members(roomId, "join");
  assert.deepEqual(joinedOnly.chunk.map((e) => e.state_key).sort(), [ids.alice, ids.bob, ids.carol].sort());
});

// ---- redaction ----
const victim = sent.find((s) => s.sender === ids.carol && s.type === EventType.RoomMessage);
let redactionId;
await step("alice redacts one of carol's messages; its content is emptied", async () => {
  const res = await alice.redactEvent(roomId, victim.event_id, undefined, { reason: "js-sdk e2e" });
  redactionId = res.event_id;
  assert.match(redactionId, /^\$/);
  const ev = await bob.fetchRoomEvent(roomId, victim.event_id);
  assert.deepEqual(ev.content, {}, `redacted event: ${JSON.stringify(ev)}`);
  assert.equal(ev.type, EventType.RoomMessage);
  const because = ev.unsigned?.redacted_because;
  if (because !== undefined) assert.equal(because.event_id, redactionId);
  const redaction = await bob.fetchRoomEvent(roomId, redactionId);
  assert.equal(redaction.type, EventType.RoomRedaction);
  assert.equal(redaction.redacts ?? redaction.content?.redacts, victim.event_id);
});

// ---- dave is not a member ----
await step("dave (not a member) cannot send: M_FORBIDDEN", async () => {
  await expectMatrixError(dave.sendMessage(roomId, { msgtype: MsgType.Text, body: "let me in" }), "M_FORBIDDEN", 403);
  await expectMatrixError(dave.sendEvent(roomId, "org.myelin.e2e.custom", { x: 1 }), "M_FORBIDDEN", 403);
});

await step("dave cannot join the private room uninvited: M_FORBIDDEN", async () => {
  await expectMatrixError(dave.joinRoom(roomId), "M_FORBIDDEN", 403);
});

// ---- history: /messages backwards to m.room.create ----
let pages = 0;
let timeline = [];
await step("createMessagesRequest pages backwards to m.room.create", async () => {
  let from = null;
  const seenTokens = new Set();
  for (;;) {
    const res = await bob.createMessagesRequest(roomId, from, 4, Direction.Backward);
    pages++;
    assert.ok(Array.isArray(res.chunk), `page ${pages}: ${JSON.stringify(res)}`);
    assert.ok(typeof res.start === "string", `page ${pages} has no start token`);
    timeline.push(...res.chunk);
    if (!res.end || res.chunk.length === 0) break;
    assert.ok(!seenTokens.has(res.end), `page ${pages}: end token ${res.end} repeats`);
    seenTokens.add(res.end);
    from = res.end;
    assert.ok(pages < 200, "more than 200 pages of 4 events: pagination does not terminate");
  }
  assert.ok(timeline.length > 0, "no events at all");
  assert.equal(timeline[timeline.length - 1].type, EventType.RoomCreate,
               `oldest event is ${timeline[timeline.length - 1].type}, not m.room.create`);
  const dupes = timeline.map((e) => e.event_id).filter((id, i, all) => all.indexOf(id) !== i);
  assert.deepEqual(dupes, [], "events returned more than once");
  for (const ev of timeline) assert.equal(ev.room_id ?? roomId, roomId);
});

await step("every sent event appears exactly once, newest first", async () => {
  const position = new Map(timeline.map((e, i) => [e.event_id, i]));
  for (const s of sent) {
    const n = timeline.filter((e) => e.event_id === s.event_id).length;
    assert.equal(n, 1, `${s.event_id} (${s.body ?? s.type}) found ${n} times`);
  }
  // Sent later => earlier in a backwards page.
  for (let i = 1; i < sent.length; i++) {
    assert.ok(position.get(sent[i].event_id) < position.get(sent[i - 1].event_id),
              `"${sent[i].body ?? sent[i].type}" should come before "${sent[i - 1].body ?? sent[i - 1].type}"`);
  }
  for (let i = 1; i < timeline.length; i++) {
    assert.ok(timeline[i].origin_server_ts <= timeline[i - 1].origin_server_ts,
              `timestamps go forward at position ${i}: ${timeline[i - 1].event_id} then ${timeline[i].event_id}`);
  }
  for (const s of sent) {
    const ev = timeline[position.get(s.event_id)];
    assert.equal(ev.sender, s.sender);
    if (s.event_id === victim.event_id) continue;
    if (s.body !== undefined) assert.equal(ev.content.body, s.body);
    else assert.deepEqual(ev.content, s.content);
  }
});

await step("the history shows the memberships, the new display name and the redaction", async () => {
  const members = timeline.filter((e) => e.type === EventType.RoomMember);
  const find = (user, pred) => members.find((e) => e.state_key === user && pred(e.content));
  assert.ok(find(ids.alice, (c) => c.membership === "join"), "alice's join");
  assert.ok(find(ids.bob, (c) => c.membership === "invite"), "bob's invite");
  assert.ok(find(ids.bob, (c) => c.membership === "join"), "bob's join");
  assert.ok(find(ids.carol, (c) => c.membership === "invite"), "carol's invite");
  assert.ok(find(ids.carol, (c) => c.membership === "join"), "carol's join");
  const rename = find(ids.bob, (c) => c.membership === "join" && c.displayname === BOB_NAME);
  assert.ok(rename, "bob's display name change is not in the history");
  if (bobMemberEventId) assert.equal(rename.event_id, bobMemberEventId);
  assert.ok(!members.some((e) => e.state_key === ids.dave), "dave has a membership event");
  const redacted = timeline.find((e) => e.event_id === victim.event_id);
  assert.deepEqual(redacted.content, {}, `redacted event in /messages: ${JSON.stringify(redacted)}`);
  assert.ok(timeline.some((e) => e.event_id === redactionId && e.type === EventType.RoomRedaction),
            "the redaction event is not in the history");
  for (const t of [EventType.RoomName, EventType.RoomTopic, EventType.RoomPowerLevels, EventType.RoomJoinRules]) {
    assert.ok(timeline.some((e) => e.type === t && e.state_key === ""), `${t} missing from the history`);
  }
});

console.log(`\nroom ${roomId}: ${sent.length} events sent, ${timeline.length} paged back in ${pages} pages`);
for (const c of Object.values(users)) c.stopClient();
finish();
