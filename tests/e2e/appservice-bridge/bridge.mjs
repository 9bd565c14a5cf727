// A bridge-style application service on matrix-appservice-bridge (the library real bridges use),
// run by tests/integration/test_appservice_bridge.py against Myelin:
//   node bridge.mjs <homeserver url> <registration file> <port> <room id>
// It listens for transactions on <port>, registers its virtual user @_js_echo (with the as_token,
// m.login.application_service) and joins <room id> as that user, prints READY, then answers the
// first m.room.message from a real user with "echo: <body>" sent as the virtual user
// (intent.sendText), printing RECEIVED <event id> and SENT <event id>, and exits.
import { Bridge } from "matrix-appservice-bridge";

const [hsUrl, registration, port, roomId] = process.argv.slice(2);
if (!roomId) {
  console.error("usage: node bridge.mjs <homeserver url> <registration file> <port> <room id>");
  process.exit(2);
}
const domain = roomId.slice(roomId.indexOf(":") + 1);  // the homeserver's server name
const echoUser = `@_js_echo:${domain}`;
let answered = false;

const bridge = new Bridge({
  homeserverUrl: hsUrl,
  domain,
  registration,
  disableStores: true,
  disableContext: true,
  suppressEcho: true,  // the bridge's own users' events are not passed to onEvent
  controller: {
    onUserQuery: () => ({}),
    onEvent: async (request) => {
      const event = request.getData();
      if (answered || event.room_id !== roomId || event.type !== "m.room.message") return;
      answered = true;
      console.log(`RECEIVED ${event.event_id} from ${event.sender}: ${event.content.body}`);
      try {
        const sent = await bridge.getIntent(echoUser).sendText(roomId, `echo: ${event.content.body}`);
        console.log(`SENT ${sent.event_id}`);
        await bridge.close?.();
        process.exit(0);
      } catch (e) {
        console.error(`sendText failed: ${e?.stack || e}`);
        process.exit(1);
      }
    },
  },
});

const deadline = setTimeout(() => {
  console.error("no message arrived within 60 s");
  process.exit(1);
}, 60000);
deadline.unref();

try {
  await bridge.run(Number(port));
  const intent = bridge.getIntent(echoUser);
  await intent.ensureRegistered();
  await intent.join(roomId);
  console.log("READY");
} catch (e) {
  console.error(`bridge start failed: ${e?.stack || e}`);
  process.exit(1);
}
