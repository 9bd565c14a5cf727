"""Prints the median round of each benchmark label from a JSON-lines result file."""
import json
import sys
from collections import defaultdict

path, conns, secs, rounds = sys.argv[1:5]
runs = defaultdict(list)
for line in open(path):
    r = json.loads(line)
    runs[r["label"]].append(r["result"])
title = f"endpoint ({conns} conns, {secs}s x {rounds})"
print(f"{title:<36} {'req/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6}")
for label, rs in runs.items():
    m = sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]
    errors = sum(r["errors"] for r in rs)
    print(f"{label:<36} {m['rps']:>8.0f} {m['p50_us'] / 1000:>7.2f} {m['p90_us'] / 1000:>7.2f} "
          f"{m['p99_us'] / 1000:>7.2f} {errors:>6}")
