#!/usr/bin/env python3
"""End-to-end encryption keys benchmark, through the real HTTP API against a release build on loopback.

Setup: 500 users × 2 devices (register + one password login each), all joined to one room; every
device uploads device keys signed with a real ed25519 key (the server checks the signature), 100
signed one-time keys (signed_curve25519, also signed) and a fallback key. Then, each for a bounded time:

  query         POST /keys/query listing every member of the room (as Element does for a room: one
                request, 500 users, all their devices), from --query-clients connections: requests/s,
                p50/p90/p99 latency, response size.
  claim_room    POST /keys/claim of one signed_curve25519 key for every device of the room (1,000
                devices in a request, as a client starting a megolm session does), from
                --room-claim-clients connections at once (so every device is claimed concurrently):
                keys/s and request latency.
  claim_single  POST /keys/claim of one key of one device, from --claim-clients concurrent
                connections spreading over all devices: claims/s and latency.

Every claimed one-time key is checked against what its device uploaded, and no key may be handed
out twice (fallback keys, which may be, are counted apart). The claim scenarios share each device's
keys: claim_room takes at most half of them, claim_single the rest, so neither runs dry into the
fallback key before its time is up (if it would, it stops early and says so).

Usage: bench/keys.py [--binary build/release/myelin] [--db sqlite|postgres] [--seconds 10]
                     [--placement all-in-one|split] [--scenarios query,claim_room,claim_single]
                     [--users 500] [--otks 100] [--query-clients 2] [--room-claim-clients 2]
                     [--claim-clients 16]
The client is Python asyncio (stdlib, plus python3-nacl or Debian's python3-cryptography for
ed25519) sharing the machine's cores with the server: its JSON parsing is part of every figure.
Results: JSON lines in build/bench-keys.jsonl and a table.
"""
import argparse
import asyncio
import base64
import itertools
import json
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from send import ROOT, Server  # noqa: E402
from sync import V3, Conn, q, register_many  # noqa: E402

# Debian installs python3-nacl / python3-cryptography for the system interpreter.
if "/usr/lib/python3/dist-packages" not in sys.path:
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    import nacl.signing

    def new_signing_key():
        key = nacl.signing.SigningKey.generate()
        return key.verify_key.encode(), lambda data: key.sign(data).signature
except ImportError:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    def new_signing_key():
        key = Ed25519PrivateKey.generate()
        return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), key.sign

ALGORITHMS = ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"]


def b64(data):
    """Unpadded standard base64, as Matrix encodes keys and signatures."""
    return base64.b64encode(data).rstrip(b"=").decode()


def canonical(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


class Device:
    """One device's keys: a real ed25519 signing key; curve25519 keys are random bytes (the server
    never checks them)."""

    def __init__(self, user_id, device_id, token):
        self.user_id, self.device_id, self.token = user_id, device_id, token
        public, self._sign = new_signing_key()
        self.ed25519 = b64(public)
        self.otks = {}  # key id → the signed object uploaded

    def signed(self, obj):
        sig = b64(self._sign(canonical({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})))
        return {**obj, "signatures": {self.user_id: {f"ed25519:{self.device_id}": sig}}}

    def upload_body(self, otks):
        device_keys = self.signed({
            "user_id": self.user_id, "device_id": self.device_id, "algorithms": ALGORITHMS,
            "keys": {f"curve25519:{self.device_id}": b64(secrets.token_bytes(32)),
                     f"ed25519:{self.device_id}": self.ed25519}})
        for i in range(otks):
            self.otks[f"signed_curve25519:{i:06d}"] = self.signed({"key": b64(secrets.token_bytes(32))})
        fallback = {"signed_curve25519:fallback": self.signed({"key": b64(secrets.token_bytes(32)), "fallback": True})}
        return {"device_keys": device_keys, "one_time_keys": self.otks, "fallback_keys": fallback}


def pct(values, p):
    s = sorted(values)
    return 1000 * s[min(len(s) - 1, int(p * len(s)))] if s else None


def latency_fields(lat):
    return {"p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9), "p99_ms": pct(lat, 0.99),
            "max_ms": 1000 * max(lat) if lat else None}


async def on_connections(port, n, items, fn):
    """Calls `await fn(conn, item)` for every item, from `n` workers with a keep-alive connection each;
    returns the results in the items' order."""
    results = [None] * len(items)
    todo = iter(enumerate(items))

    async def worker():
        conn = Conn(port)
        for i, item in todo:
            results[i] = await fn(conn, item)
        conn.close()

    await asyncio.gather(*(worker() for _ in range(n)))
    return results


async def setup(port, users_n, otks):
    """Registers the users, logs each in a second time, joins everyone to one room and uploads every
    device's keys. Returns (devices, setup figures)."""
    names = [f"k{i}" for i in range(users_n)]
    t0 = time.monotonic()
    users = await register_many(port, names)
    devices = []

    async def second_device(conn, name):
        return await conn.request("POST", f"{V3}/login", {"type": "m.login.password", "password": "bench password",
                                                          "identifier": {"type": "m.id.user", "user": name}})

    logins = await on_connections(port, 8, names, second_device)
    c = Conn(port)
    for name, login in zip(names, logins):
        token, user_id = users[name]
        whoami = await c.request("GET", f"{V3}/account/whoami", token=token)
        devices.append(Device(user_id, whoami["device_id"], token))
        devices.append(Device(user_id, login["device_id"], login["access_token"]))
    owner = users[names[0]][0]
    room = (await c.request("POST", f"{V3}/createRoom", {"preset": "public_chat"}, owner))["room_id"]
    for name in names[1:]:
        await c.request("POST", f"{V3}/join/{q(room)}", {}, users[name][0])
    c.close()
    accounts_s = time.monotonic() - t0
    print(f"setup: {users_n} users, {len(devices)} devices in one room in {accounts_s:.1f} s; uploading keys…",
          file=sys.stderr, flush=True)

    bodies = [d.upload_body(otks) for d in devices]  # signing outside the timed part
    upload_lat = []
    clients = 4

    async def upload(conn, i):
        t = time.monotonic()
        r = await conn.request("POST", f"{V3}/keys/upload", bodies[i], devices[i].token)
        upload_lat.append(time.monotonic() - t)
        got = r.get("one_time_key_counts", {}).get("signed_curve25519")
        if got != otks:
            raise RuntimeError(f"upload of {devices[i].device_id}: one_time_key_counts {r}")

    t0 = time.monotonic()
    await on_connections(port, clients, range(len(devices)), upload)
    upload_s = time.monotonic() - t0
    return devices, room, {"scenario": "upload", "devices": len(devices), "otks_per_device": otks,
                           "clients": clients, "requests": len(devices),
                           "uploads_per_s": len(devices) / upload_s, **latency_fields(upload_lat),
                           "setup_accounts_s": accounts_s}


def check_query(body, devices):
    """The answer must list every device with the keys it uploaded, signature included."""
    got = body.get("device_keys", {})
    for d in devices:
        keys = got.get(d.user_id, {}).get(d.device_id)
        if keys is None:
            raise RuntimeError(f"/keys/query lacks {d.user_id} {d.device_id}")
        if keys["keys"].get(f"ed25519:{d.device_id}") != d.ed25519 or \
           f"ed25519:{d.device_id}" not in keys.get("signatures", {}).get(d.user_id, {}):
            raise RuntimeError(f"/keys/query answers other keys for {d.device_id}: {keys}")


async def timed_loop(seconds, clients, work):
    """Runs `work(client_index)` repeatedly on `clients` concurrent tasks for `seconds`; `work`
    returns False to stop early. Returns (latencies, elapsed seconds)."""
    lat = []
    deadline = time.monotonic() + seconds
    stopped = False

    async def loop(i):
        nonlocal stopped
        while not stopped and time.monotonic() < deadline:
            t = time.monotonic()
            if await work(i) is False:
                stopped = True
                return
            lat.append(time.monotonic() - t)

    t0 = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(clients)))
    return lat, time.monotonic() - t0


async def query(port, devices, seconds, clients):
    users = sorted({d.user_id for d in devices})
    body = {"device_keys": {u: [] for u in users}}
    conns = [Conn(port) for _ in range(clients)]
    first = await conns[0].request("POST", f"{V3}/keys/query", body, devices[0].token)
    check_query(first, devices)
    size = len(json.dumps(first))

    async def work(i):
        # Raw bytes: parsing 1,000 devices' keys per answer would make this a benchmark of json.loads.
        await conns[i].request("POST", f"{V3}/keys/query", body, devices[i].token, raw=True)

    lat, elapsed = await timed_loop(seconds, clients, work)
    for c in conns:
        c.close()
    return {"scenario": "query", "users": len(users), "devices": len(devices), "clients": clients,
            "requests": len(lat), "requests_per_s": len(lat) / elapsed, "response_bytes": size,
            **latency_fields(lat)}


class Claims:
    """What was claimed: each one-time key id at most once, and exactly as its device uploaded it."""

    def __init__(self, devices):
        self.by_id = {(d.user_id, d.device_id): d for d in devices}
        self.seen = set()
        self.duplicates = self.fallbacks = self.missing = self.wrong = 0

    def record(self, answer, asked):
        got = answer.get("one_time_keys", {})
        for user_id, device_id in asked:
            keys = got.get(user_id, {}).get(device_id, {})
            if not keys:
                self.missing += 1
            for key_id, key in keys.items():
                if key.get("fallback"):
                    self.fallbacks += 1
                    continue
                device = self.by_id[(user_id, device_id)]
                if device.otks.get(key_id) != key:
                    self.wrong += 1
                ident = (user_id, device_id, key_id)
                if ident in self.seen:
                    self.duplicates += 1
                self.seen.add(ident)

    def fields(self):
        return {"keys_claimed": len(self.seen), "duplicates": self.duplicates, "wrong_keys": self.wrong,
                "fallback_keys": self.fallbacks, "devices_without_key": self.missing}


async def claim_room(port, devices, claims, seconds, clients, rounds):
    body = {"one_time_keys": {}}
    for d in devices:
        body["one_time_keys"].setdefault(d.user_id, {})[d.device_id] = "signed_curve25519"
    asked = [(d.user_id, d.device_id) for d in devices]
    conns = [Conn(port) for _ in range(clients)]
    done = 0

    async def work(i):
        nonlocal done
        if done >= rounds:
            return False
        done += 1
        claims.record(await conns[i].request("POST", f"{V3}/keys/claim", body, devices[i].token), asked)

    lat, elapsed = await timed_loop(seconds, clients, work)
    for c in conns:
        c.close()
    return {"scenario": "claim_room", "devices_per_request": len(devices), "clients": clients,
            "requests": len(lat), "keys_per_s": len(lat) * len(devices) / elapsed,
            "stopped_at_key_budget": done >= rounds, **latency_fields(lat)}


async def claim_single(port, devices, claims, seconds, clients, per_device):
    # Device order cycles so that concurrent claims mostly hit different devices, and each device
    # is claimed at most `per_device` times.
    order = itertools.chain.from_iterable(itertools.repeat(devices, per_device))
    conns = [Conn(port) for _ in range(clients)]

    async def work(i):
        d = next(order, None)
        if d is None:
            return False
        body = {"one_time_keys": {d.user_id: {d.device_id: "signed_curve25519"}}}
        claims.record(await conns[i].request("POST", f"{V3}/keys/claim", body, devices[i].token),
                      [(d.user_id, d.device_id)])

    lat, elapsed = await timed_loop(seconds, clients, work)
    for c in conns:
        c.close()
    return {"scenario": "claim_single", "clients": clients, "requests": len(lat),
            "claims_per_s": len(lat) / elapsed, "stopped_at_key_budget": next(order, None) is None,
            **latency_fields(lat)}


async def run(server, a):
    devices, room, upload = await setup(server.port, a.users, a.otks)
    results = [upload]
    claims = Claims(devices)
    room_rounds = a.otks // 2
    for scenario in a.scenarios.split(","):
        print(f"{scenario}: {a.seconds} s…", file=sys.stderr, flush=True)
        if scenario == "query":
            res = await query(server.port, devices, a.seconds, a.query_clients)
        elif scenario == "claim_room":
            res = await claim_room(server.port, devices, claims, a.seconds, a.room_claim_clients, room_rounds)
        elif scenario == "claim_single":
            res = await claim_single(server.port, devices, claims, a.seconds, a.claim_clients, a.otks - room_rounds)
        else:
            raise SystemExit(f"unknown scenario {scenario}")
        results.append(res)
    if any(s.startswith("claim") for s in a.scenarios.split(",")):
        results.append({"scenario": "claim_check", **claims.fields()})
    return results


def print_table(results):
    print(f"{'scenario':<14} {'db':<8} {'placement':<11} {'clients':>7} {'requests':>8} {'rate':>16} "
          f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}")
    for r in results:
        if r["scenario"] == "claim_check":
            print(f"claimed one-time keys: {r['keys_claimed']}, handed out twice: {r['duplicates']}, "
                  f"not as uploaded: {r['wrong_keys']}, fallback keys: {r['fallback_keys']}, "
                  f"devices without a key: {r['devices_without_key']}")
            continue
        rate = {"upload": ("uploads_per_s", "uploads/s"), "query": ("requests_per_s", "req/s"),
                "claim_room": ("keys_per_s", "keys/s"), "claim_single": ("claims_per_s", "claims/s")}[r["scenario"]]
        print(f"{r['scenario']:<14} {r['db']:<8} {r['placement']:<11} {r['clients']:>7} "
              f"{r['requests']:>8} {r[rate[0]]:>9.0f} {rate[1]:<6} "
              f"{r['p50_ms']:>7.1f} {r['p90_ms']:>7.1f} {r['p99_ms']:>7.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=f"{ROOT}/build/release/myelin")
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--placement", default="all-in-one", choices=["all-in-one", "split"])
    ap.add_argument("--scenarios", default="query,claim_room,claim_single")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--otks", type=int, default=100, help="one-time keys each device uploads")
    ap.add_argument("--query-clients", type=int, default=2)
    ap.add_argument("--room-claim-clients", type=int, default=2)
    ap.add_argument("--claim-clients", type=int, default=16)
    ap.add_argument("--out", default=f"{ROOT}/build/bench-keys.jsonl")
    a = ap.parse_args()
    groups = None
    if a.placement == "split":
        groups = ("nodes:\n  main: {}\ngroups:\n  sync: 2\n  event_creator: 2\n  client_reader: 2\n"
                  "  writer.events: 2\n  keys: 2\n")
    extra = ("rc_login: {address: {per_second: 1000000, burst_count: 1000000}, "
             "account: {per_second: 1000000, burst_count: 1000000}, "
             "failed_attempts: {per_second: 1000000, burst_count: 1000000}}\n")
    server = Server(a.binary, 1, a.db, extra_config=extra, groups=groups)
    try:
        results = asyncio.run(run(server, a))
    finally:
        server.stop()
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "a") as f:
        for r in results:
            r.update({"db": a.db, "placement": a.placement, "seconds": a.seconds})
            f.write(json.dumps(r) + "\n")
    print_table(results)
    check = next((r for r in results if r["scenario"] == "claim_check"), None)
    if check and (check["duplicates"] or check["wrong_keys"]):
        sys.exit("FAIL: one-time keys handed out twice or not as uploaded")


if __name__ == "__main__":
    main()
