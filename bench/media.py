#!/usr/bin/env python3
"""Media repository benchmark through the real HTTP API against a release build on loopback.

Scenarios, each bounded in time or count:

  upload_1m      POST /_matrix/media/v3/upload of 1 MB bodies from --clients keep-alive connections
                 for --seconds: MB/s, uploads/s, p50/p90/p99 latency.
  download_1m    GET /_matrix/client/v1/media/download of those uploads, same clients and time.
  upload_100m    --big-count uploads of 100 MB, one at a time: MB/s each.
  download_100m  the same files downloaded, one at a time.
  upload_1g      one 1 GB upload streamed by the client in 1 MB writes while the server's resident
                 memory is sampled every 20 ms: MB/s and the server's peak RSS above its idle RSS
                 (the body must never sit in memory).

Every download's bytes are checked against the upload's SHA-256. The client is Python asyncio on
the same two cores, so its copying is part of every figure (loopback, page cache warm: these are
the server's CPU costs, not a disk's).

Usage: bench/media.py [--binary build/release/myelin] [--db sqlite|postgres] [--seconds 10]
                      [--clients 4] [--big-count 3] [--scenarios upload_1m,download_1m,...]
Results: JSON lines in build/bench-media.jsonl and a table.
"""
import argparse
import asyncio
import hashlib
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from send import ROOT, Server  # noqa: E402
from sync import register_many  # noqa: E402

MB = 1024 * 1024
ALL = ["upload_1m", "download_1m", "upload_100m", "download_100m", "upload_1g"]


class MediaConn:
    """One keep-alive connection speaking just enough HTTP/1.1 for media bodies."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.reader = self.writer = None

    async def _open(self):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=4 * MB)

    async def _response(self, sink=None):
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            k, _, v = line.decode().partition(":")
            if k.lower() == "content-length":
                length = int(v)
        if sink is None:
            return status, await self.reader.readexactly(length)
        left = length
        while left:
            chunk = await self.reader.read(min(left, MB))
            if not chunk:
                raise ConnectionError("short body")
            sink(chunk)
            left -= len(chunk)
        return status, length

    async def upload(self, size, chunks, content_type="application/octet-stream"):
        """Uploads `size` bytes produced by the iterable `chunks`; returns the media id."""
        await self._open()
        self.writer.write((f"POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: bench\r\nContent-Length: {size}\r\n"
                           f"Content-Type: {content_type}\r\nAuthorization: Bearer {self.token}\r\n\r\n")
                          .encode())
        for chunk in chunks:
            self.writer.write(chunk)
            await self.writer.drain()
        status, body = await self._response()
        if status != 200:
            raise RuntimeError(f"upload: {status} {body[:200]!r}")
        return json.loads(body)["content_uri"].rsplit("/", 1)[1]

    async def download(self, media_id):
        """Downloads a media id; returns (bytes, sha256 hex) without keeping the body."""
        await self._open()
        self.writer.write((f"GET /_matrix/client/v1/media/download/bench.local/{media_id} HTTP/1.1\r\n"
                           f"Host: bench\r\nAuthorization: Bearer {self.token}\r\n\r\n").encode())
        h = hashlib.sha256()
        status, length = await self._response(h.update)
        if status != 200:
            raise RuntimeError(f"download {media_id}: {status}")
        return length, h.hexdigest()

    def close(self):
        if self.writer:
            self.writer.close()


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] * 1000 if s else 0.0


def chunks_of(block, size):
    full, rest = divmod(size, len(block))
    for _ in range(full):
        yield block
    if rest:
        yield block[:rest]


async def timed_loop(seconds, clients, one):
    """Runs `one(client_index)` in a loop on every client until time is up; returns the latencies."""
    latencies, deadline = [], time.monotonic() + seconds

    async def worker(i):
        while time.monotonic() < deadline:
            t = time.monotonic()
            await one(i)
            latencies.append(time.monotonic() - t)
    start = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    return latencies, time.monotonic() - start


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


class PeakRss:
    """Samples a process's resident memory every 20 ms while the `with` block runs: `idle` is the
    RSS at the start, `peak` the highest seen (KiB)."""

    def __init__(self, pid):
        self.pid = pid
        self.idle = self.peak = rss_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


async def run(args, server):
    port = server.port
    tokens = await register_many(port, [f"m{i}" for i in range(args.clients)])
    conns = [MediaConn(port, tokens[f"m{i}"][0]) for i in range(args.clients)]
    block = os.urandom(MB)
    block_hash = hashlib.sha256(block).hexdigest()
    results, small_ids, big = [], [], []

    def record(name, **fields):
        row = {"scenario": name, "db": args.db, **fields}
        results.append(row)
        print(json.dumps(row), flush=True)

    if "upload_1m" in args.scenarios or "download_1m" in args.scenarios:
        async def up(i):
            small_ids.append(await conns[i].upload(MB, [block]))
        lat, took = await timed_loop(args.seconds, args.clients, up)
        if "upload_1m" in args.scenarios:
            record("upload_1m", requests=len(lat), mb_per_s=round(len(lat) / took, 1),
                   per_s=round(len(lat) / took, 1), p50_ms=round(pct(lat, .5), 1), p90_ms=round(pct(lat, .9), 1),
                   p99_ms=round(pct(lat, .99), 1))
    if "download_1m" in args.scenarios:
        async def down(i):
            length, digest = await conns[i].download(random.choice(small_ids))
            if length != MB or digest != block_hash:
                raise RuntimeError("download content differs from the upload")
        lat, took = await timed_loop(args.seconds, args.clients, down)
        record("download_1m", requests=len(lat), mb_per_s=round(len(lat) / took, 1),
               per_s=round(len(lat) / took, 1), p50_ms=round(pct(lat, .5), 1), p90_ms=round(pct(lat, .9), 1),
               p99_ms=round(pct(lat, .99), 1))
    if "upload_100m" in args.scenarios or "download_100m" in args.scenarios:
        times = []
        for _ in range(args.big_count):
            t = time.monotonic()
            big.append(await conns[0].upload(100 * MB, chunks_of(block, 100 * MB)))
            times.append(time.monotonic() - t)
        if "upload_100m" in args.scenarios:
            record("upload_100m", requests=len(times), mb_per_s=round(100 * len(times) / sum(times), 1),
                   p50_ms=round(pct(times, .5), 1), max_ms=round(max(times) * 1000, 1))
    if "download_100m" in args.scenarios:
        times = []
        for media_id in big:
            t = time.monotonic()
            length, _ = await conns[0].download(media_id)
            times.append(time.monotonic() - t)
            if length != 100 * MB:
                raise RuntimeError("short download")
        record("download_100m", requests=len(times), mb_per_s=round(100 * len(times) / sum(times), 1),
               p50_ms=round(pct(times, .5), 1), max_ms=round(max(times) * 1000, 1))
    if "upload_1g" in args.scenarios:
        with PeakRss(server.proc.pid) as rss:
            t = time.monotonic()
            media_id = await conns[0].upload(1024 * MB, chunks_of(block, 1024 * MB))
            took = time.monotonic() - t
        idle, peak = rss.idle, rss.peak
        length, _ = await conns[0].download(media_id)
        if length != 1024 * MB:
            raise RuntimeError("short 1 GB download")
        record("upload_1g", mb_per_s=round(1024 / took, 1), seconds=round(took, 2), idle_rss_mib=round(idle / 1024, 1),
               peak_rss_mib=round(peak / 1024, 1), peak_over_idle_mib=round((peak - idle) / 1024, 1))
    for c in conns:
        c.close()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "release", "myelin"))
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--big-count", type=int, default=3)
    ap.add_argument("--scenarios", default=",".join(ALL))
    args = ap.parse_args()
    args.scenarios = args.scenarios.split(",")
    unknown = set(args.scenarios) - set(ALL)
    if unknown:
        ap.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    server = Server(args.binary, 1, args.db, extra_config=(
        "max_upload_size: 2G\nrc_media_create: {per_second: 1000000, burst_count: 1000000}\n"))
    try:
        results = asyncio.run(run(args, server))
    finally:
        server.stop()
    with open(os.path.join(ROOT, "build", "bench-media.jsonl"), "a") as f:
        for r in results:
            f.write(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%S"), **r}) + "\n")
    print(f"\n{'scenario':<15}{'MB/s':>8}{'req/s':>8}{'p50 ms':>9}{'p99/max ms':>12}  notes")
    for r in results:
        tail = r.get("p99_ms", r.get("max_ms", ""))
        note = f"peak RSS {r['peak_rss_mib']} MiB ({r['peak_over_idle_mib']:+} over idle)" if "peak_rss_mib" in r else ""
        print(f"{r['scenario']:<15}{r['mb_per_s']:>8}{r.get('per_s', ''):>8}{r.get('p50_ms', ''):>9}{tail:>12}  {note}")


if __name__ == "__main__":
    main()
