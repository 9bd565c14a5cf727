#!/usr/bin/env python3
"""Sliding sync first screen vs /sync initial sync, through the real HTTP API on loopback.

One account in N rooms (default 2,000), created through POST /createRoom (concurrently, each with
a name and one message, so every room has a bump stamp). Then:

  sliding   POST /_matrix/client/unstable/org.matrix.simplified_msc3575/sync without pos (a new
            connection each time), one list with ranges [[0,19]], timeline_limit 1 and the
            required_state Element X asks for: first-response time (median of 5) and size.
  v2        GET /_matrix/client/v3/sync without since: initial sync time (median of 3) and size.

Usage: bench/sliding_sync_first_screen.py [--binary build/release/myelin] [--db sqlite|postgres]
                                          [--rooms 2000] [--create-parallel 4]
The client is Python asyncio (stdlib only) sharing the machine's cores with the server.
Results: one JSON line in build/bench-sliding-sync.jsonl and on stdout.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from send import ROOT, Server  # noqa: E402
from sync import V3, Conn, register_many  # noqa: E402

SS = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync"
# What Element X's room list asks for (its "all rooms" list).
FIRST_SCREEN = {
    "lists": {"all": {"ranges": [[0, 19]], "timeline_limit": 1,
                      "required_state": [["m.room.name", ""], ["m.room.avatar", ""], ["m.room.encryption", ""],
                                         ["m.room.member", "$ME"], ["m.room.canonical_alias", ""],
                                         ["m.room.join_rules", ""], ["m.room.power_levels", ""]]}},
    "extensions": {"e2ee": {"enabled": True}, "to_device": {"enabled": True},
                   "account_data": {"enabled": True}, "receipts": {"enabled": True}, "typing": {"enabled": True}},
}


async def create_rooms(port, token, n, parallel):
    queue = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker():
        c = Conn(port)
        while not queue.empty():
            i = queue.get_nowait()
            room = (await c.request("POST", f"{V3}/createRoom", {"preset": "private_chat", "name": f"room {i}"},
                                    token))["room_id"]
            await c.request("PUT", f"{V3}/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}",
                            {"msgtype": "m.text", "body": f"message {i}"}, token)
        c.close()

    await asyncio.gather(*(worker() for _ in range(parallel)))


async def timed(port, method, path, body, token, runs):
    times, size, last = [], 0, None
    for _ in range(runs):
        c = Conn(port)
        start = time.monotonic()
        raw = await c.request(method, path, body() if callable(body) else body, token, raw=True)
        times.append(time.monotonic() - start)
        c.close()
        size, last = len(raw), json.loads(raw)
    return times, size, last


async def run(server, rooms_n, parallel, sliding_runs=5, v2_runs=3):
    users = await register_many(server.port, ["big"])
    token = users["big"][0]
    start = time.monotonic()
    await create_rooms(server.port, token, rooms_n, parallel)
    setup = time.monotonic() - start

    def sliding_body():
        return dict(FIRST_SCREEN, conn_id=uuid.uuid4().hex)  # a new connection: a real first screen

    ss_times, ss_size, ss_last = await timed(server.port, "POST", SS, sliding_body, token, sliding_runs)
    assert ss_last["lists"]["all"]["count"] == rooms_n, ss_last["lists"]
    assert len(ss_last["rooms"]) == 20
    v2_times, v2_size = [0.0], 0
    if v2_runs:
        v2_times, v2_size, v2_last = await timed(server.port, "GET", f"{V3}/sync", None, token, v2_runs)
        assert len(v2_last["rooms"]["join"]) == rooms_n
    return {"scenario": "sliding_first_screen", "rooms": rooms_n, "setup_seconds": round(setup, 1),
            "sliding_ms_median": round(statistics.median(ss_times) * 1000, 1),
            "sliding_ms_all": [round(t * 1000, 1) for t in ss_times], "sliding_bytes": ss_size,
            "v2_initial_ms_median": round(statistics.median(v2_times) * 1000, 1),
            "v2_initial_ms_all": [round(t * 1000, 1) for t in v2_times], "v2_bytes": v2_size}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=f"{ROOT}/build/release/myelin")
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--rooms", type=int, default=2000)
    ap.add_argument("--create-parallel", type=int, default=4)
    ap.add_argument("--sliding-runs", type=int, default=5)
    ap.add_argument("--v2-runs", type=int, default=3, help="0 skips the v2 initial sync")
    ap.add_argument("--out", default=f"{ROOT}/build/bench-sliding-sync.jsonl")
    a = ap.parse_args()
    server = Server(a.binary, 1, a.db)
    try:
        res = asyncio.run(run(server, a.rooms, a.create_parallel, a.sliding_runs, a.v2_runs))
        res.update({"db": a.db, "binary": a.binary})
        print(json.dumps(res), flush=True)
        with open(a.out, "a") as f:
            f.write(json.dumps(res) + "\n")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
