#!/usr/bin/env python3
"""Thumbnails of another server's media: requests/s and latency of one thumbnail asked again and
again (what clients do for remote avatars), the first request having fetched the media over
federation.

Setup: the fake remote server of tests/integration/test_federation_media.py (HTTPS with a private
CA, a 300×200 PNG `image`) and one Myelin process; `--requests` GETs of
/_matrix/client/v1/media/thumbnail/<remote>/image?width=32&height=32&method=crop, one after
another on one connection.

Reported: requests/s, p50 and p99 in ms; one JSON line in build/bench-remote-thumbnails.jsonl and
on stdout.

Usage: bench/remote_thumbnails.py [--binary build/release/myelin] [--requests 200] [--db sqlite|postgres]
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from send import ROOT, percentile  # noqa: E402
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/release/myelin"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    args = ap.parse_args()
    harness.ARGS = argparse.Namespace(binary=os.path.abspath(args.binary), db=args.db, cluster=0, netns="off",
                                      unittest_args=[])
    import test_federation_media  # noqa: E402  (after ARGS: its setup starts the server)

    suite = test_federation_media.FederationMedia
    suite.setUpClass()
    try:
        case = suite("test_remote_thumbnail")
        path = f"/_matrix/client/v1/media/thumbnail/{suite.remote.name}/image?width=32&height=32&method=crop"
        first = case.client_get(path)
        if first.status != 200:
            sys.exit(f"first thumbnail request answered {first.status}")
        latencies = []
        start = time.time()
        for _ in range(args.requests):
            t0 = time.time()
            r = case.client_get(path)
            latencies.append((time.time() - t0) * 1000)
            if r.status != 200:
                sys.exit(f"thumbnail request answered {r.status}")
        elapsed = time.time() - start
    finally:
        suite.tearDownClass()
    result = {"bench": "remote_thumbnails", "db": args.db, "requests": args.requests,
              "per_second": round(args.requests / elapsed, 1),
              "latency_ms": {"p50": round(percentile(latencies, 50), 1), "p99": round(percentile(latencies, 99), 1)}}
    print(json.dumps(result))
    with open(os.path.join(ROOT, "build", "bench-remote-thumbnails.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
