#!/usr/bin/env python3
"""Thumbnail benchmark through the real HTTP API against a release build on loopback.

A 4000x3000 photo-like JPEG (made with Pillow: smooth gradients plus sensor-like noise, about 3 MB)
is uploaded --count times, each upload its own media id, so every first request for a size misses
the cache and really decodes and encodes. Scenarios, each over all the ids from --clients
keep-alive connections:

  scale_320   GET …/thumbnail/…?width=320&height=240 (scale): first request, made and stored.
  crop_96     …?width=96&height=96&method=crop: first request for another size of the same ids.
  cached_320  scale_320 again: served from the stored file.

For each: thumbnails/s, p50/p90/p99 latency, and the server's peak resident memory while it ran
(sampled every 20 ms). Every answer is checked to be a JPEG of the expected size.

Usage: bench/thumbnails.py [--binary build/release/myelin] [--db sqlite|postgres] [--count 120]
                           [--clients 4] [--scenarios scale_320,crop_96,cached_320]
Results: JSON lines in build/bench-thumbnails.jsonl and a table.
"""
import argparse
import asyncio
import io
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from media import MediaConn, PeakRss, pct  # noqa: E402
from send import ROOT, Server  # noqa: E402
from sync import register_many  # noqa: E402

# Pillow from Debian's python3-pil (scripts/install-deps.sh bench), installed for the system interpreter.
for path in ("/usr/lib/python3/dist-packages",):
    if path not in sys.path:
        sys.path.append(path)
from PIL import Image  # noqa: E402

SCENARIOS = {  # name: (query, expected size)
    "scale_320": ("width=320&height=240", (320, 240)),
    "crop_96": ("width=96&height=96&method=crop", (96, 96)),
    "cached_320": ("width=320&height=240", (320, 240)),
}


def photo(width=4000, height=3000):
    """Gradients with noise on top: entropy of the order of a real photo's, so decoding is real work."""
    base = Image.merge("RGB", [Image.linear_gradient("L").resize((width, height)),
                               Image.radial_gradient("L").resize((width, height)),
                               Image.linear_gradient("L").rotate(90).resize((width, height))])
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    out = io.BytesIO()
    Image.blend(base, noise, 0.25).save(out, format="JPEG", quality=88)
    return out.getvalue()


class ThumbConn(MediaConn):
    async def thumbnail(self, media_id, query):
        await self._open()
        self.writer.write((f"GET /_matrix/client/v1/media/thumbnail/bench.local/{media_id}?{query} HTTP/1.1\r\n"
                           f"Host: bench\r\nAuthorization: Bearer {self.token}\r\n\r\n").encode())
        return await self._response()


async def run(args, server):
    tokens = await register_many(server.port, [f"t{i}" for i in range(args.clients)])
    conns = [ThumbConn(server.port, tokens[f"t{i}"][0]) for i in range(args.clients)]
    jpeg = photo()
    print(f"source: 4000x3000 JPEG, {len(jpeg) / 1e6:.1f} MB, uploading {args.count} copies", flush=True)
    ids = []
    for _ in range(args.count):
        ids.append(await conns[0].upload(len(jpeg), [jpeg], content_type="image/jpeg"))
    results = []

    for name in args.scenarios:
        query, want = SCENARIOS[name]
        queue = list(ids)
        latencies = []
        async def worker(conn):
            while queue:
                media_id = queue.pop()
                t = time.monotonic()
                status, body = await conn.thumbnail(media_id, query)
                latencies.append(time.monotonic() - t)
                if status != 200:
                    raise RuntimeError(f"thumbnail {media_id}: {status} {body[:200]!r}")
                image = Image.open(io.BytesIO(body))
                if (image.format, image.size) != ("JPEG", want):
                    raise RuntimeError(f"thumbnail {media_id}: {image.format} {image.size}, wanted {want}")
        with PeakRss(server.proc.pid) as rss:
            start = time.monotonic()
            await asyncio.gather(*(worker(c) for c in conns))
            took = time.monotonic() - start
        row = {"scenario": name, "db": args.db, "requests": len(latencies), "clients": args.clients,
               "per_s": round(len(latencies) / took, 1), "p50_ms": round(pct(latencies, .5), 1),
               "p90_ms": round(pct(latencies, .9), 1), "p99_ms": round(pct(latencies, .99), 1),
               "peak_rss_mib": round(rss.peak / 1024, 1), "idle_rss_mib": round(rss.idle / 1024, 1)}
        results.append(row)
        print(json.dumps(row), flush=True)
    for c in conns:
        c.close()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "release", "myelin"))
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--count", type=int, default=120)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = ap.parse_args()
    args.scenarios = args.scenarios.split(",")
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    server = Server(args.binary, 1, args.db, extra_config=(
        "max_upload_size: 50M\nrc_media_create: {per_second: 1000000, burst_count: 1000000}\n"))
    try:
        results = asyncio.run(run(args, server))
    finally:
        server.stop()
    with open(os.path.join(ROOT, "build", "bench-thumbnails.jsonl"), "a") as f:
        for r in results:
            f.write(json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%S"), **r}) + "\n")
    print(f"\n{'scenario':<12}{'thumbs/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'peak RSS MiB':>14}")
    for r in results:
        print(f"{r['scenario']:<12}{r['per_s']:>10}{r['p50_ms']:>9}{r['p90_ms']:>9}{r['p99_ms']:>9}"
              f"{r['peak_rss_mib']:>14}")


if __name__ == "__main__":
    main()
