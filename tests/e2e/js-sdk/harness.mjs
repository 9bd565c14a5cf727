// Shared by the matrix-js-sdk end-to-end scripts: the base URL argument, step bookkeeping (named
// checks, a summary, exit status), SDK loggers, registration through user-interactive auth, password
// login, and bounded waits on SDK events.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { ClientEvent, createClient, MatrixError } from "matrix-js-sdk";
// The SDK's global (loglevel) logger, used by parts that do not take the per-client one (the send
// scheduler). Not re-exported by the package index; the package has no exports map.
import { logger as sdkGlobalLogger } from "matrix-js-sdk/lib/logger.js";

export const baseUrl = process.argv[2];
if (!baseUrl) {
  console.error(`usage: node ${process.argv[1]} HOMESERVER_BASE_URL`);
  process.exit(2);
}
const verbose = process.env.MYELIN_JS_SDK_VERBOSE === "1";
export const PASSWORD = "js-sdk correct horse";
sdkGlobalLogger.setLevel(verbose ? "debug" : "warn");

// The SDK logs through this. Only warnings and errors are kept (debug traces every send), and a
// client whose failures are expected (dave) gets a silent one.
export function makeLogger(name, quiet = false) {
  const out = (level) => (...msg) => {
    if (verbose || (!quiet && (level === "warn" || level === "error"))) {
      console.error(`  [sdk ${name} ${level}]`, ...msg.map((m) => (m instanceof Error ? m.message : m)));
    }
  };
  const logger = {
    trace: out("trace"), debug: out("debug"), info: out("info"), warn: out("warn"), error: out("error"),
    log: out("info"),
    getChild: (ns) => makeLogger(`${name}/${ns}`, quiet),
  };
  return logger;
}

// ---- step bookkeeping ----
const results = [];
let failures = 0;

function describeError(e) {
  if (e instanceof MatrixError || (e && e.httpStatus !== undefined)) {
    return `${e.httpStatus} ${e.errcode ?? ""} ${JSON.stringify(e.data ?? {})} (${e.url ?? "?"})`;
  }
  if (e instanceof assert.AssertionError) return e.message;
  return (e && e.stack) || String(e);
}

// Runs one named check. `required` steps abort the run on failure (later steps depend on them).
export async function step(name, fn, { required = false } = {}) {
  const t0 = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    results.push({ name, ok: true, ms });
    console.log(`ok   ${name} (${ms.toFixed(0)} ms)`);
    return value;
  } catch (e) {
    const ms = performance.now() - t0;
    failures++;
    results.push({ name, ok: false, ms, error: describeError(e) });
    console.log(`FAIL ${name} (${ms.toFixed(0)} ms)\n     ${describeError(e).replace(/\n/g, "\n     ")}`);
    if (required) {
      finish(`aborted: "${name}" is required by the remaining steps`);
    }
    return undefined;
  }
}

export function finish(note) {
  const passed = results.filter((r) => r.ok).length;
  const total = results.reduce((s, r) => s + r.ms, 0);
  console.log("");
  console.log(`js-sdk e2e summary (matrix-js-sdk ${sdkVersion}, ${baseUrl}):`);
  for (const r of results) console.log(`  ${r.ok ? "ok  " : "FAIL"} ${r.name}${r.ok ? "" : ` -- ${r.error.split("\n")[0]}`}`);
  if (note) console.log(`  ${note}`);
  console.log(`${passed} passed, ${failures} failed in ${(total / 1000).toFixed(2)} s`);
  process.exit(failures === 0 && !note ? 0 : 1);
}

// Expects `promise` to reject with a MatrixError carrying `errcode` (and `status` if given).
export async function expectMatrixError(promise, errcode, status) {
  let err;
  try {
    const value = await promise;
    assert.fail(`expected ${errcode}, request succeeded with ${JSON.stringify(value)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.equal(err.errcode, errcode, `errcode: ${describeError(err)}`);
  if (status !== undefined) assert.equal(err.httpStatus, status, `status: ${describeError(err)}`);
  return err;
}

export const sdkVersion = createRequire(import.meta.url)("matrix-js-sdk/package.json").version;

// ---- accounts ----
// Registration through user-interactive auth, as a client that reads the flows would do it.
export async function register(username) {
  const anon = createClient({ baseUrl, logger: makeLogger(username) });
  const body = { username, password: PASSWORD, initial_device_display_name: `js-sdk ${username}` };
  let challenge;
  try {
    const res = await anon.registerRequest(body);
    assert.fail(`register without auth should answer 401 (UIA), got ${JSON.stringify(res)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    if (e.httpStatus !== 401) throw e;
    challenge = e;
  }
  const session = challenge.data?.session;
  assert.ok(typeof session === "string" && session.length > 0, `401 without a session: ${JSON.stringify(challenge.data)}`);
  const flows = challenge.data?.flows ?? [];
  assert.ok(flows.some((f) => (f.stages ?? []).includes("m.login.dummy")),
            `no m.login.dummy flow offered: ${JSON.stringify(flows)}`);
  const res = await anon.registerRequest({ ...body, auth: { type: "m.login.dummy", session } });
  assert.match(res.user_id, new RegExp(`^@${username}:`));
  assert.ok(res.access_token && res.device_id, `register response: ${JSON.stringify(res)}`);
  return clientFor(username, res);
}

export function clientFor(username, creds, quiet = false) {
  return createClient({
    baseUrl,
    userId: creds.user_id,
    accessToken: creds.access_token,
    deviceId: creds.device_id,
    logger: makeLogger(username, quiet),
  });
}

// Logs `username` in on a new device (m.login.password) and returns a client for that device.
export async function login(username, deviceName) {
  const anon = createClient({ baseUrl, logger: makeLogger(username) });
  const res = await anon.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: username },
    password: PASSWORD,
    initial_device_display_name: deviceName,
  });
  assert.match(res.user_id, new RegExp(`^@${username}:`));
  assert.ok(res.access_token && res.device_id, `login response: ${JSON.stringify(res)}`);
  return clientFor(username, res);
}

// ---- bounded waits ----
export const WAIT_MS = 10000;

// Resolves with the arguments of the first `event` from `emitter` for which `predicate(...args)`
// holds, or rejects after `ms`. `what` may be a function, called at the timeout for the message.
export function waitFor(emitter, event, predicate, what, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`timed out after ${ms} ms waiting for ${typeof what === "function" ? what() : what}`));
    }, ms);
    function handler(...args) {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(args);
    }
    emitter.on(event, handler);
  });
}

// Polls `probe` (sync or async) every `every` ms until it returns a truthy value, which it resolves
// with; rejects after `ms` with what the last probe returned.
export async function poll(probe, what, ms = WAIT_MS, every = 100) {
  const deadline = performance.now() + ms;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// startClient, resolved once the client's first sync has been processed.
export async function startSyncing(client) {
  const prepared = waitFor(client, ClientEvent.Sync, (state) => state === "PREPARED" || state === "SYNCING",
                           `${client.getUserId()} to finish its first sync`);
  await client.startClient({ initialSyncLimit: 10, lazyLoadMembers: true });
  await prepared;
}
