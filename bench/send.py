#!/usr/bin/env python3
"""Event sending benchmark: events persisted per second and send latency (p50/p90/p99) for
  (a) one busy room with 50 senders, and
  (b) 100 rooms with one sender each,
with 1, 2 and 4 event persisters (writer.events instances), through the real HTTP API.

Each configuration starts a fresh `myelin` (release build) on loopback with its own database,
registers the senders, creates and joins the rooms, then drives PUT /send with wrk for a bounded
time. Afterwards it counts the events actually stored, so "events/s" is what was persisted, not
what was merely answered.

Usage: bench/send.py [--binary build/release/myelin] [--seconds 10] [--db sqlite|postgres]
                     [--persisters 1,2,4] [--scenarios busy_room,many_rooms]
PostgreSQL needs MYELIN_TEST_PG (scripts/test-services.sh env). Results: JSON lines in
build/bench-send.jsonl and a table on stdout.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def call(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != 200:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


class Server:
    def __init__(self, binary, persisters, db, extra_config="", groups=None, resources="client", server_name="bench.local",
                 extra_listeners=""):
        self.dir = tempfile.mkdtemp(prefix="myelin-bench-")
        self.pg_db = None
        if db == "postgres":
            info = os.environ["MYELIN_TEST_PG"]
            self.pg_info = info
            self.pg_db = "myelin_bench_" + uuid.uuid4().hex[:10]
            subprocess.run(["psql", info, "-q", "-c", f"CREATE DATABASE {self.pg_db}"], check=True)
            pairs = dict(re.findall(r"(\w+)=(\S+)", info))
            pairs["dbname"] = self.pg_db
            args = "\n".join(f"    {k}: '{v}'" for k, v in pairs.items() if k in ("host", "port", "user", "dbname"))
            database = f"database:\n  name: psycopg2\n  args:\n{args}\n    cp_max: 16\n"
        else:
            database = f"database: {{name: sqlite3, args: {{database: {self.dir}/hs.db}}}}\n"
        with open(f"{self.dir}/homeserver.yaml", "w") as f:
            f.write(f"""server_name: '{server_name}'
listeners:
  - port: 0
    bind_addresses: ['127.0.0.1']
    resources: [{{names: [{resources}]}}]
{extra_listeners}{database}enable_registration: true
enable_registration_without_verification: true
logging: {{level: warn, access_log: false, components: {{main: info}}}}
rc_message: {{per_second: 1000000, burst_count: 1000000}}
rc_registration: {{per_second: 1000000, burst_count: 1000000}}
{extra_config}""")
        with open(f"{self.dir}/placement.yaml", "w") as f:
            f.write(groups or f"nodes:\n  main: {{}}\ngroups:\n  event_creator: 2\n  client_reader: 2\n"
                              f"  writer.events: {persisters}\n")
        self.log = open(f"{self.dir}/log", "w")
        self.proc = subprocess.Popen([binary, "--config", f"{self.dir}/homeserver.yaml", "--placement",
                                      f"{self.dir}/placement.yaml"], stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        for _ in range(300):
            m = re.search(r"ports=(\d+)", open(f"{self.dir}/log").read())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.1)
        if not self.port:
            raise RuntimeError("server did not start:\n" + open(f"{self.dir}/log").read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.log.close()
        if self.pg_db:
            subprocess.run(["psql", self.pg_info, "-q", "-c", f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)"])
        shutil.rmtree(self.dir, ignore_errors=True)


def percentile(values, p):
    """The p-th percentile (0–100) of `values`, nearest rank."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def register(port, name):
    return call(port, "POST", "/_matrix/client/v3/register",
                {"username": name, "password": "bench password", "auth": {"type": "m.login.dummy"}})["access_token"]


def q(s):
    return urllib.parse.quote(s, safe="")


def prepare(port, scenario):
    """Returns [(token, room_id)] sender slots and the rooms."""
    slots = []
    if scenario == "busy_room":
        owner = register(port, "owner")
        room = call(port, "POST", "/_matrix/client/v3/createRoom", {"preset": "public_chat"}, owner)["room_id"]
        for i in range(50):
            tok = register(port, f"sender{i}")
            call(port, "POST", f"/_matrix/client/v3/join/{q(room)}", {}, tok)
            slots.append((tok, room))
        return slots, [room]
    rooms = []
    for i in range(100):
        tok = register(port, f"sender{i}")
        room = call(port, "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat"}, tok)["room_id"]
        slots.append((tok, room))
        rooms.append(room)
    return slots, rooms


def count_messages(port, token, room):
    """m.room.message events stored in a room, paging /messages backwards."""
    n, frm = 0, None
    while True:
        path = f"/_matrix/client/v3/rooms/{q(room)}/messages?dir=b&limit=1000"
        if frm:
            path += "&from=" + q(frm)
        r = call(port, "GET", path, token=token)
        n += sum(1 for e in r["chunk"] if e["type"] == "m.room.message")
        frm = r.get("end")
        if not frm or not r["chunk"]:
            return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=f"{ROOT}/build/release/myelin")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--persisters", default="1,2,4")
    ap.add_argument("--scenarios", default="busy_room,many_rooms")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=f"{ROOT}/build/bench-send.jsonl")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt install wrk)")
    results = []
    for scenario in a.scenarios.split(","):
        conns = 50 if scenario == "busy_room" else 100
        for persisters in [int(p) for p in a.persisters.split(",")]:
            server = Server(a.binary, persisters, a.db)
            try:
                print(f"{scenario}, {persisters} persister(s): preparing…", file=sys.stderr, flush=True)
                slots, rooms = prepare(server.port, scenario)
                senders = f"{server.dir}/senders"
                with open(senders, "w") as f:
                    f.writelines(f"{t} {r}\n" for t, r in slots)
                print(f"{scenario}, {persisters} persister(s): {conns} connections for {a.seconds}s…",
                      file=sys.stderr, flush=True)
                out = subprocess.run(["wrk", f"-t{a.threads}", f"-c{conns}", f"-d{a.seconds}s", "--timeout", "10s",
                                      "-s", f"{ROOT}/bench/wrk-send.lua", f"http://127.0.0.1:{server.port}"],
                                     env=dict(os.environ, MYELIN_SENDERS=senders), capture_output=True, text=True,
                                     check=True).stdout
                wrk = json.loads(out.strip().splitlines()[-1])
                token_of = {r: t for t, r in slots}
                stored = sum(count_messages(server.port, token_of[r], r) for r in rooms)
                res = {"scenario": scenario, "persisters": persisters, "db": a.db, "connections": conns,
                       "stored_events": stored, "events_per_s": stored / wrk["seconds"], **wrk}
                results.append(res)
                with open(a.out, "a") as f:
                    f.write(json.dumps(res) + "\n")
            finally:
                server.stop()
    print(f"{'scenario':<12} {'db':<8} {'persisters':>10} {'events/s':>9} {'p50 ms':>7} {'p90 ms':>7} "
          f"{'p99 ms':>7} {'errors':>6}")
    for r in results:
        print(f"{r['scenario']:<12} {r['db']:<8} {r['persisters']:>10} {r['events_per_s']:>9.0f} "
              f"{r['p50_us'] / 1000:>7.1f} {r['p90_us'] / 1000:>7.1f} {r['p99_us'] / 1000:>7.1f} {r['errors']:>6}")


if __name__ == "__main__":
    main()
