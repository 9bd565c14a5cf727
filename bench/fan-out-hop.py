#!/usr/bin/env python3
"""One message at a time across two nodes, over the node links and through Redis: the time from a
send's 200 on node a (event creator and persister there) to the wake-up of a long-poll on node b
(the sync tier), serial, so it is the hop's latency and not a queue. PostgreSQL and redis-server
come from scripts/test-services.sh (run `start` and `eval "$(… env …)"` first).
Usage: bench/fan-out-hop.py BINARY [messages]"""
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness  # noqa: E402

V3 = "/_matrix/client/v3"


def run(binary, n, redis_socket):
    harness.ARGS = type("A", (), {"binary": os.path.abspath(binary), "db": "postgres", "cluster": 0})()
    ports = (harness.free_port(), harness.free_port())
    layout = f"""shared_secret: "hop"
nodes:
  a: {{host: 127.0.0.1, port: {ports[0]}}}
  b: {{host: 127.0.0.1, port: {ports[1]}}}
{f"redis: {{path: {redis_socket}}}" if redis_socket else ""}
groups:
  main: {{node: a}}
  event_creator: {{node: a}}
  writer.events: {{node: a}}
  sync: {{node: b}}
"""
    lifted = "rc_message: {per_second: 1000, burst_count: 1000}\n"
    a = harness.Server(lifted, placement=layout, node="a")
    b = harness.Server(lifted, placement=layout, node="b", shared_pg_db=a.pg_db)
    try:
        a.start()
        b.start()
        for s in (a, b):
            while "cluster complete" not in s.read_log():
                time.sleep(0.1)
        time.sleep(1)
        sender, reader = a.register("sender"), b.register("reader")
        room = a.post(f"{V3}/createRoom", {"preset": "public_chat"}, token=sender["access_token"]).json["room_id"]
        b.post(f"{V3}/join/{room}", {}, token=reader["access_token"])
        since = b.get(f"{V3}/sync?timeout=0", token=reader["access_token"]).json["next_batch"]
        conn_a, conn_b = a.connect(), b.connect(timeout=40)
        hops = []
        for k in range(n):
            woke = {}

            def poll():
                nonlocal since
                while "t" not in woke:
                    r = b.get(f"{V3}/sync?timeout=20000&since={since}", token=reader["access_token"], conn=conn_b)
                    since = r.json["next_batch"]
                    events = r.json.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {}).get("events", [])
                    if any(e["content"].get("body") == f"m{k}" for e in events):
                        woke["t"] = time.perf_counter()
            t = threading.Thread(target=poll)
            t.start()
            time.sleep(0.15)  # the long-poll is parked
            r = a.put(f"{V3}/rooms/{room}/send/m.room.message/t{k}", {"msgtype": "m.text", "body": f"m{k}"},
                      token=sender["access_token"], conn=conn_a)
            acked = time.perf_counter()
            t.join(25)
            if r.status == 200 and "t" in woke:
                hops.append((woke["t"] - acked) * 1000)
        return hops
    finally:
        b.cleanup()
        a.cleanup()


def main():
    binary = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    redis_socket = os.environ.get("MYELIN_TEST_REDIS")
    for label, sock in (("links", None), ("redis", redis_socket), ("links", None), ("redis", redis_socket)):
        hops = sorted(run(binary, n, sock))
        q = statistics.quantiles(hops, n=100)
        print(f"{label:6} n={len(hops)} p50={q[49]:.1f} ms p90={q[89]:.1f} ms p99={q[98]:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
