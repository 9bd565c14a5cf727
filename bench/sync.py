#!/usr/bin/env python3
"""Sync benchmarks, through the real HTTP API against a release build on loopback:

  idle      N long-polling /sync requests held open at once (default 10,000 over 100 users):
            server memory per parked request (RSS delta / N) and CPU while they wait.
  delivery  1,000 users in 100 rooms (10 each), every user long-polling; 100 messages/s sent
            for a bounded time: latency from the send to each other member's /sync returning it
            (p50/p90/p99 over every delivery), and deliveries missed.
  initial   one user in 500 rooms: time of an initial /sync (median of 3) and its size.

Usage: bench/sync.py [--binary build/release/myelin] [--db sqlite|postgres]
                     [--scenarios idle,delivery,initial] [--idle-requests 10000] [--seconds 20]
                     [--placement all-in-one|split]
The client is Python asyncio (stdlib only) sharing the machine's cores with the server; its own
CPU use is part of every latency figure. Results: JSON lines in build/bench-sync.jsonl and a table.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from send import ROOT, Server  # noqa: E402

V3 = "/_matrix/client/v3"


def q(s):
    return urllib.parse.quote(s, safe="")


class Conn:
    """One keep-alive HTTP/1.1 connection (stdlib asyncio streams)."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def request(self, method, path, body=None, token=None, raw=False):
        """The answer's JSON, or its bytes if `raw`; raises on any status but 200."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v)
        payload = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {payload[:200]!r}")
        if raw:
            return payload
        return json.loads(payload) if payload else None

    def close(self):
        if self.writer:
            self.writer.close()


async def register_many(port, names, parallel=8):
    tokens = {}
    sem = asyncio.Semaphore(parallel)

    async def one(name):
        async with sem:
            c = Conn(port)
            r = await c.request("POST", f"{V3}/register", {"username": name, "password": "bench password",
                                                           "auth": {"type": "m.login.dummy"}})
            c.close()
            tokens[name] = (r["access_token"], r["user_id"])

    await asyncio.gather(*(one(n) for n in names))
    return tokens


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = int(next(line for line in f if line.startswith("VmRSS")).split()[1]) * 1024
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


async def idle(server, requests, hold_seconds=10):
    users = await register_many(server.port, [f"idle{i}" for i in range(100)])
    toks = [t for t, _ in users.values()]
    since = {}
    for t in toks:
        c = Conn(server.port)
        since[t] = (await c.request("GET", f"{V3}/sync?timeout=0", token=t))["next_batch"]
        c.close()
    await asyncio.sleep(1)
    rss0, _ = proc_stats(server.proc.pid)
    conns = [Conn(server.port) for _ in range(requests)]
    # Open the connections (bounded concurrency) and leave one long-poll on each.
    sem = asyncio.Semaphore(200)

    async def open_one(c):
        async with sem:
            c.reader, c.writer = await asyncio.open_connection("127.0.0.1", server.port)

    await asyncio.gather(*(open_one(c) for c in conns))
    polls = []
    for i, c in enumerate(conns):
        t = toks[i % len(toks)]
        polls.append(asyncio.ensure_future(c.request("GET", f"{V3}/sync?timeout=110000&since={q(since[t])}", token=t)))
        if i % 500 == 499:
            await asyncio.sleep(0.05)
    await asyncio.sleep(3)  # let every request reach its instance and park
    rss1, cpu1 = proc_stats(server.proc.pid)
    await asyncio.sleep(hold_seconds)
    rss2, cpu2 = proc_stats(server.proc.pid)
    finished = sum(1 for p in polls if p.done())
    for p in polls:
        p.cancel()
    for c in conns:
        c.close()
    return {"scenario": "idle", "requests": requests, "returned_early": finished,
            "rss_before_mb": rss0 / 2**20, "rss_parked_mb": rss2 / 2**20,
            "bytes_per_request": (rss2 - rss0) / requests,
            "cpu_percent_parked": 100 * (cpu2 - cpu1) / hold_seconds}


async def delivery(server, seconds, rate=100, users_n=1000, rooms_n=100):
    names = [f"u{i}" for i in range(users_n)]
    users = await register_many(server.port, names)
    per_room = users_n // rooms_n
    rooms = []
    setup = Conn(server.port)
    for r in range(rooms_n):
        members = names[r * per_room:(r + 1) * per_room]
        owner = users[members[0]][0]
        room = (await setup.request("POST", f"{V3}/createRoom", {"preset": "public_chat"}, owner))["room_id"]
        for m in members[1:]:
            await setup.request("POST", f"{V3}/join/{q(room)}", {}, users[m][0])
        rooms.append((room, members))
    setup.close()

    sent = {}          # body → (send time, room index)
    latencies = []
    received = 0
    stop = asyncio.Event()

    async def poller(name):
        nonlocal received
        token, uid = users[name]
        c = Conn(server.port)
        since = (await c.request("GET", f"{V3}/sync?timeout=0&filter={q(json.dumps({'room': {'timeline': {'limit': 50}}}))}",
                                 token=token))["next_batch"]
        while not stop.is_set():
            try:
                body = await c.request("GET", f"{V3}/sync?timeout=30000&since={q(since)}", token=token)
            except Exception:
                if stop.is_set():
                    break
                raise
            now = time.monotonic()
            since = body["next_batch"]
            for room in body["rooms"]["join"].values():
                for ev in room["timeline"]["events"]:
                    text = ev.get("content", {}).get("body", "")
                    if ev["type"] == "m.room.message" and text in sent and ev["sender"] != uid:
                        latencies.append(now - sent[text][0])
                        received += 1
        c.close()

    pollers = [asyncio.ensure_future(poller(n)) for n in names]
    await asyncio.sleep(3)
    senders = [Conn(server.port) for _ in range(8)]
    total = int(seconds * rate)
    start = time.monotonic()

    async def send(i):
        room, members = rooms[i % rooms_n]
        who = members[random.randrange(len(members))]
        text = f"bench-{i}"
        sent[text] = (time.monotonic(), i % rooms_n)
        await senders[i % len(senders)].request("PUT", f"{V3}/rooms/{q(room)}/send/m.room.message/t{i}",
                                                {"msgtype": "m.text", "body": text}, users[who][0])

    inflight = set()
    for i in range(total):
        target = start + i / rate
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        # Senders are pipelined per connection: wait for that connection's previous send.
        task = asyncio.ensure_future(send(i))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
        if len(inflight) >= len(senders):
            await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*inflight)
    send_seconds = time.monotonic() - start
    await asyncio.sleep(3)
    stop.set()
    for p in pollers:
        p.cancel()
    expected = total * (per_room - 1)
    lat = sorted(latencies)

    def pct(p):
        return 1000 * lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

    return {"scenario": "delivery", "users": users_n, "rooms": rooms_n, "messages": total,
            "send_rate": total / send_seconds, "deliveries": received, "expected_deliveries": expected,
            "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99), "max_ms": 1000 * lat[-1] if lat else None}


async def initial(server, rooms_n=500):
    users = await register_many(server.port, ["big"])
    token = users["big"][0]
    c = Conn(server.port)
    for i in range(rooms_n):
        await c.request("POST", f"{V3}/createRoom", {"preset": "private_chat", "name": f"room {i}"}, token)
    times = []
    size = 0
    for _ in range(3):
        start = time.monotonic()
        c2 = Conn(server.port)
        body = await c2.request("GET", f"{V3}/sync", token=token)
        times.append(time.monotonic() - start)
        c2.close()
        size = len(json.dumps(body))
        assert len(body["rooms"]["join"]) == rooms_n
    c.close()
    return {"scenario": "initial", "rooms": rooms_n, "seconds_median": statistics.median(times),
            "seconds_all": times, "response_bytes": size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=f"{ROOT}/build/release/myelin")
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--scenarios", default="idle,delivery,initial")
    ap.add_argument("--idle-requests", type=int, default=10000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--placement", default="all-in-one", choices=["all-in-one", "split"])
    ap.add_argument("--out", default=f"{ROOT}/build/bench-sync.jsonl")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    groups = None
    if a.placement == "split":
        groups = "nodes:\n  main: {}\ngroups:\n  sync: 4\n  event_creator: 2\n  client_reader: 2\n  writer.events: 2\n"
    extra = "limits: {max_connections: 20000}\n"
    results = []
    for scenario in a.scenarios.split(","):
        server = Server(a.binary, 1, a.db, extra_config=extra, groups=groups)
        try:
            print(f"{scenario}: running…", file=sys.stderr, flush=True)
            if scenario == "idle":
                res = asyncio.run(idle(server, a.idle_requests))
            elif scenario == "delivery":
                res = asyncio.run(delivery(server, a.seconds))
            else:
                res = asyncio.run(initial(server))
            res.update({"db": a.db, "placement": a.placement})
            results.append(res)
            print(json.dumps(res), flush=True)
            with open(a.out, "a") as f:
                f.write(json.dumps(res) + "\n")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
