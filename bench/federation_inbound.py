#!/usr/bin/env python3
"""Inbound federation throughput: PDUs per second through PUT /_matrix/federation/v1/send/{txnId}
into one busy room, as another homeserver delivers them (one transaction in flight, ≤ 50 PDUs each).

Setup: Myelin (release build) with the federation API; a fake remote homeserver
(tests/integration/fedremote.py: its key over HTTPS with a private CA) whose user joins a public
room of ours through make_join / send_join; `--members` local users joined too (each event is
evaluated against their push rules). The remote's events are built and signed before timing: a
chain of `--events` messages, each on top of the previous one.

Reported: PDUs/s over the whole run, and transaction latency percentiles (ms). One JSON line in
build/bench-federation-inbound.jsonl and on stdout.

Usage: bench/federation_inbound.py [--binary build/release/myelin] [--db sqlite|postgres]
                                   [--events 5000] [--members 20] [--txn-size 50]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from send import ROOT, Server, call, percentile, register  # noqa: E402
from fedremote import RemoteServer, make_ca_and_cert, seal_event_v10  # noqa: E402
import http.client  # noqa: E402


def q(s):
    return urllib.parse.quote(s, safe="")


def fed(conn, remote, method, path, body=None):
    headers = {"Authorization": remote.authorization(method, path, "bench.local", content=body),
               "Content-Type": "application/json"}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/release/myelin"))
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--events", type=int, default=5000)
    ap.add_argument("--members", type=int, default=20)
    ap.add_argument("--txn-size", type=int, default=50)
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    ca, cert, key = make_ca_and_cert(tmp.name)
    remote = RemoteServer(cert, key)
    server = Server(args.binary, 1, args.db, resources="client, federation",
                    extra_config=f"federation_custom_ca_list: ['{ca}']\nip_range_whitelist: ['127.0.0.1']\n")
    try:
        token = register(server.port, "alice")
        room = call(server.port, "POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat"}, token)["room_id"]
        for i in range(args.members):
            call(server.port, "POST", f"/_matrix/client/v3/join/{q(room)}", {}, register(server.port, f"m{i}"))
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        rita = f"@rita:{remote.name}"
        made = fed(conn, remote, "GET", f"/_matrix/federation/v1/make_join/{q(room)}/{q(rita)}?ver=10")["event"]
        made["origin"] = remote.name
        made["origin_server_ts"] = int(time.time() * 1000)
        join_id, join = seal_event_v10(made, remote.name, remote.signing_key)
        fed(conn, remote, "PUT", f"/_matrix/federation/v2/send_join/{q(room)}/{q(join_id)}", join)
        state = call(server.port, "GET", f"/_matrix/client/v3/rooms/{q(room)}/state", None, token)
        by_key = {(e["type"], e["state_key"]): e["event_id"] for e in state}
        auth = [by_key[("m.room.create", "")], by_key[("m.room.power_levels", "")], join_id]

        built_at = time.time()
        pdus, prev, depth = [], join_id, made["depth"]
        for i in range(args.events):
            depth += 1
            ev = {"type": "m.room.message", "room_id": room, "sender": rita,
                  "content": {"msgtype": "m.text", "body": f"message {i}"}, "depth": depth, "prev_events": [prev],
                  "auth_events": auth, "origin": remote.name, "origin_server_ts": int(time.time() * 1000)}
            prev, ev = seal_event_v10(ev, remote.name, remote.signing_key)
            pdus.append((prev, ev))
        built = time.time() - built_at

        latencies, accepted = [], 0
        start = time.time()
        for n in range(0, len(pdus), args.txn_size):
            batch = pdus[n:n + args.txn_size]
            body = {"origin": remote.name, "origin_server_ts": int(time.time() * 1000), "pdus": [e for _, e in batch],
                    "edus": []}
            t0 = time.time()
            answer = fed(conn, remote, "PUT", f"/_matrix/federation/v1/send/bench{n}", body)
            latencies.append((time.time() - t0) * 1000)
            accepted += sum(1 for eid, _ in batch if answer["pdus"].get(eid) == {})
        elapsed = time.time() - start
        result = {"bench": "federation_inbound", "db": args.db, "events": args.events, "members": args.members + 1,
                  "txn_size": args.txn_size, "accepted": accepted, "seconds": round(elapsed, 2),
                  "pdus_per_s": round(len(pdus) / elapsed, 1),
                  "txn_ms": {"p50": round(percentile(latencies, 50), 1), "p90": round(percentile(latencies, 90), 1),
                             "p99": round(percentile(latencies, 99), 1), "mean": round(statistics.mean(latencies), 1)},
                  "client_build_s": round(built, 1)}
        print(json.dumps(result))
        with open(os.path.join(ROOT, "build", "bench-federation-inbound.jsonl"), "a") as f:
            f.write(json.dumps(result) + "\n")
        if accepted != len(pdus):
            sys.exit(f"only {accepted} of {len(pdus)} PDUs accepted")
    finally:
        server.stop()
        remote.close()
        tmp.cleanup()


if __name__ == "__main__":
    main()
