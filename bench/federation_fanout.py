#!/usr/bin/env python3
"""Outbound federation fan-out: how long a message sent on one server takes to reach the users of
`--destinations` other Myelin servers in the same room (default 20), all on this machine.

Setup: 1 + N Myelin processes (release build), each with a plain client listener and a TLS
federation listener (a private CA made with openssl; server names "127.0.0.1:<port>"). A user on
the origin creates a public room; one user on each destination joins it through the origin
(make_join / send_join). Then `--messages` messages are sent one at a time on the origin while
every destination user long-polls /sync; for each message, the time until each destination's
/sync returns it.

Reported: per message, the time until the last destination has it (p50, p90, max) and the mean
per-destination delivery time. One JSON line in build/bench-federation-fanout.jsonl and on stdout.

Usage: bench/federation_fanout.py [--binary build/release/myelin] [--destinations 20] [--messages 20]
                                  [--parallel 8]  (the origin's federation_sender.parallel_destinations)
                                  [--origin-db sqlite|postgres]
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from send import ROOT, Server, call, percentile, register  # noqa: E402
from fedremote import make_ca_and_cert  # noqa: E402


def q(s):
    return urllib.parse.quote(s, safe="")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def federated_server(binary, ca, cert, key, extra="", db="sqlite"):
    port = free_port()
    tls = (f"  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    tls: true\n"
           "    resources: [{names: [federation]}]\n")
    extra = (f"tls_certificate_path: '{cert}'\ntls_private_key_path: '{key}'\n"
             f"federation_custom_ca_list: ['{ca}']\nip_range_whitelist: ['127.0.0.1']\n" + extra)
    s = Server(binary, 1, db, extra_config=extra, server_name=f"127.0.0.1:{port}", extra_listeners=tls,
               groups="nodes:\n  main: {}\n")
    s.server_name = f"127.0.0.1:{port}"
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/release/myelin"))
    ap.add_argument("--destinations", type=int, default=20)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=8, help="the origin's federation_sender.parallel_destinations")
    ap.add_argument("--origin-db", default="sqlite", choices=["sqlite", "postgres"],
                    help="the origin's database (postgres: MYELIN_TEST_PG, as scripts/test-services.sh sets it)")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    ca, cert, key = make_ca_and_cert(tmp.name)
    servers = []
    try:
        origin = federated_server(args.binary, ca, cert, key,
                                  f"federation_sender: {{parallel_destinations: {args.parallel}}}\n", args.origin_db)
        servers.append(origin)
        dests = []
        for _ in range(args.destinations):
            dests.append(federated_server(args.binary, ca, cert, key))
            servers.append(dests[-1])
        alice = register(origin.port, "alice")
        room = call(origin.port, "POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat"}, alice)["room_id"]
        users = []
        for d in dests:
            token = register(d.port, "bob")
            call(d.port, "POST", f"/_matrix/client/v3/join/{q(room)}?server_name={q(origin.server_name)}", {}, token)
            since = call(d.port, "GET", "/_matrix/client/v3/sync?timeout=0", None, token)["next_batch"]
            users.append([d, token, since])

        arrivals = {}  # (destination index, body) → time seen
        lock = threading.Lock()
        stop = threading.Event()

        def poll(i):
            d, token, since = users[i]
            conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)
            while not stop.is_set():
                conn.request("GET", f"/_matrix/client/v3/sync?timeout=5000&since={since}",
                             headers={"Authorization": f"Bearer {token}"})
                r = conn.getresponse()
                body = json.loads(r.read())
                now = time.time()
                since = body["next_batch"]
                for e in body.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {}).get("events", []):
                    if e["type"] == "m.room.message":
                        with lock:
                            arrivals.setdefault((i, e["content"]["body"]), now)

        threads = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(len(users))]
        for t in threads:
            t.start()
        time.sleep(1)
        sent = {}
        last_arrival, per_destination = [], []
        for m in range(args.messages):
            text = f"fan-out {m}"
            sent[text] = time.time()
            call(origin.port, "PUT", f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/m{m}",
                 {"msgtype": "m.text", "body": text}, alice)
            deadline = time.time() + 30
            while time.time() < deadline:
                with lock:
                    got = [arrivals.get((i, text)) for i in range(len(users))]
                if all(got):
                    break
                time.sleep(0.005)
            if not all(got):
                sys.exit(f"message {m} reached only {sum(1 for g in got if g)} of {len(users)} servers")
            delays = [(g - sent[text]) * 1000 for g in got]
            last_arrival.append(max(delays))
            per_destination.extend(delays)
        stop.set()
        result = {"bench": "federation_fanout", "destinations": args.destinations, "messages": args.messages,
                  "parallel_destinations": args.parallel, "origin_db": args.origin_db,
                  "all_reached_ms": {"p50": round(percentile(last_arrival, 50), 1),
                                     "p90": round(percentile(last_arrival, 90), 1),
                                     "max": round(max(last_arrival), 1)},
                  "per_destination_ms": {"mean": round(statistics.mean(per_destination), 1),
                                         "p50": round(percentile(per_destination, 50), 1)}}
        print(json.dumps(result))
        with open(os.path.join(ROOT, "build", "bench-federation-fanout.jsonl"), "a") as f:
            f.write(json.dumps(result) + "\n")
    finally:
        for s in servers:
            try:
                s.stop()
            except Exception:
                pass
        tmp.cleanup()


if __name__ == "__main__":
    main()
