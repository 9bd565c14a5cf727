"""The load generator (bench/loadgen, `myelin-loadgen`) against a real Myelin: short runs produce
numbers for every configured endpoint class, the counts add up (requests per class, messages sent
= delivered + missed per member, and the server stored what the generator says it sent), a saved
population can be reused, and a broken server shows up as errors by errcode — not as zeros.

The generator is built only on request; without it this suite exits 77 (ctest: skipped):
    cmake --build build/test --target myelin-loadgen
MYELIN_LOADGEN names the binary (ctest sets it); otherwise it is looked up next to --binary.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import Server, ServerTestCase, main

SKIP_CODE = 77
# What a load test needs from the server: rate limits out of the way (registration and login
# already are in the harness defaults).
LIFTED_LIMITS = ("rc_message: {per_second: 10000, burst_count: 10000}\n"
                 "rc_media_create: {per_second: 10000, burst_count: 10000}\n")


def loadgen_path():
    env = os.environ.get("MYELIN_LOADGEN")
    if env:
        return env
    binary = sys.argv[sys.argv.index("--binary") + 1] if "--binary" in sys.argv else "build/test/myelin"
    return os.path.join(os.path.dirname(os.path.abspath(binary)), "bench", "loadgen", "myelin-loadgen")


LOADGEN = loadgen_path()

# Every class the full scenario below drives during its measured window.
MEASURED_CLASSES = ["sync", "send", "typing", "receipt", "presence", "to_device", "upload", "join"]


def full_scenario(port, **over):
    s = {
        "base_url": f"http://127.0.0.1:{port}",
        "seed": 7,
        "users": 12,
        "rooms": 3,
        "room_size": 5,
        # One member of each room joins during the run, all at once, 1 s into the measured window.
        "join": {"pattern": "storm", "fraction": 0.25, "at": 1},
        "messages": {"rate": 8, "size": {"min": 20, "max": 200}},
        "typing": {"rate": 2},
        "receipts": {"rate": 2},
        "presence": {"rate": 2},
        "to_device": {"rate": 2, "size": 128, "recipients": 2},
        "media": {"rate": 2, "size": "2K"},  # Poisson: P(no upload in 5 s) = e^-10
        "sync": {"fraction": 0.75, "timeout_ms": 5000},
        "ramp_up": 1,
        "warm_up": 1,
        "duration": 5,
        "delivery_grace": 5,
    }
    s.update(over)
    return s


class Run:
    """One finished generator run: its exit code, stderr, and report directory."""

    def __init__(self, code, stderr, out_dir):
        self.code, self.stderr, self.dir = code, stderr, out_dir
        self.summary = self.timeseries = None
        if os.path.exists(os.path.join(out_dir, "summary.json")):
            with open(os.path.join(out_dir, "summary.json")) as f:
                self.summary = json.load(f)
            with open(os.path.join(out_dir, "timeseries.json")) as f:
                self.timeseries = json.load(f)

    def classes(self):
        return self.summary["measured"]["classes"]

    def errors(self):
        return self.summary["measured"]["errors_by_code"]

    def series_total(self, cls=None, key="requests"):
        if cls is None:
            return sum(e[key] for e in self.timeseries)
        return sum(e["classes"].get(cls, {}).get(key, 0) for e in self.timeseries)


def write_scenario(tmp, scenario):
    path = os.path.join(tmp, "scenario.yaml")
    with open(path, "w") as f:
        # JSON is YAML: no YAML writer needed.
        json.dump(scenario, f)
    return path


def measure_args(server):
    args = ["--pid", f"myelin={server.proc.pid}"]
    if server.db == "sqlite":
        args += ["--db-file", os.path.join(server.dir, "homeserver.db")]
    else:
        args += ["--pg-db", f"{server.pg_info} dbname={server.pg_db}"]
    return args


def run_loadgen(scenario, *args, timeout=180, on_progress=None):
    """Runs the generator to completion; `on_progress(line)` sees each stderr line as it comes."""
    tmp = tempfile.mkdtemp(prefix="myelin-loadgen-")
    out = os.path.join(tmp, "report")
    cmd = [LOADGEN, write_scenario(tmp, scenario), "--out", out, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The generator bounds its own runs; this guards the suite if it ever does not.
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if on_progress:
                on_progress(line)
        proc.stdout.read()
        code = proc.wait()
    finally:
        expired = not watchdog.is_alive()
        watchdog.cancel()
    if expired:
        raise AssertionError("myelin-loadgen ran past its time bound:\n" + "".join(lines[-20:]))
    return Run(code, "".join(lines), out)


def server_message_count(server):
    return int(server.sql("SELECT count(*) FROM events WHERE type = 'm.room.message'")[0][0])


class FullRun(ServerTestCase):
    """One run of a scenario with every kind of traffic; the tests read its report."""
    extra_config = LIFTED_LIMITS

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="myelin-loadgen-pop-")
        cls.population = os.path.join(cls.tmp, "population.json")
        cls.report = run_loadgen(full_scenario(cls.server.port), "--save-population", cls.population,
                              *measure_args(cls.server))
        if cls.report.code != 0:
            raise AssertionError(f"myelin-loadgen exited {cls.report.code}:\n{cls.report.stderr[-3000:]}")
        cls.stored_messages = server_message_count(cls.server)  # before other tests send more

    def test_every_configured_class_is_measured(self):
        s = self.report.summary
        self.assertEqual(s["generator"]["stop_reason"], "duration")
        for cls in MEASURED_CLASSES:
            c = self.report.classes().get(cls)
            self.assertIsNotNone(c, f"no {cls} requests in the measured window: {self.report.classes().keys()}")
            self.assertGreater(c["requests"], 0, cls)
            self.assertEqual(c["errors"], 0, (cls, self.report.errors()))
            self.assertGreater(c["p50_ms"], 0, cls)
            self.assertLessEqual(c["p50_ms"], c["p90_ms"], cls)
            self.assertLessEqual(c["p90_ms"], c["p99_ms"], cls)
            self.assertLessEqual(c["p99_ms"], c["max_ms"], cls)
            self.assertGreater(c["per_second"], 0, cls)
        # Users came online (initial sync) during the ramp-up, before the window.
        self.assertEqual(self.report.series_total("sync_initial"), s["population"]["syncing_users"])
        self.assertEqual(s["client"]["live_users"], s["population"]["syncing_users"])
        # Setup is measured apart: 12 registrations, 3 rooms, 3 × 3 setup joins.
        setup = s["setup"]["classes"]
        self.assertEqual(setup["register"]["ok"], 12)
        self.assertEqual(setup["create_room"]["ok"], 3)
        self.assertEqual(setup["join"]["ok"], 9)
        # Rates: ~8 messages/s over 5 s (Poisson): far from zero, far from runaway.
        self.assertTrue(15 <= self.report.classes()["send"]["requests"] <= 80, self.report.classes()["send"])

    def test_counts_add_up(self):
        s = self.report.summary
        measured = s["measured"]
        classes = measured["classes"]
        self.assertEqual(measured["requests"], sum(c["requests"] for c in classes.values()))
        self.assertEqual(measured["errors"], sum(c["errors"] for c in classes.values()))
        for c in classes.values():
            self.assertEqual(c["ok"] + c["errors"], c["requests"])
        # Every request the run took is in the per-second series or was cut off at the stop
        # (the long-polls still parked).
        unfinished = s["client"]["unfinished_at_stop"]
        self.assertEqual(s["client"]["run_requests"], self.report.series_total() + sum(unfinished.values()))
        self.assertEqual(set(unfinished), {"sync"})
        for cls in classes:
            self.assertGreaterEqual(self.report.series_total(cls) + unfinished.get(cls, 0), classes[cls]["requests"])
        # Delivery: each acknowledged message was due to every other member syncing when it was
        # sent; each such (message, member) pair was delivered or missed.
        d = s["delivery"]
        self.assertEqual(d["messages"], classes["send"]["ok"])
        self.assertEqual(d["messages_failed"], 0)
        self.assertEqual(d["expected"], d["delivered"] + d["missed"])
        self.assertEqual(d["missed"], 0, d["missed_sample"])
        self.assertGreater(d["delivered"], d["messages"])  # rooms of 5: several recipients each
        self.assertLessEqual(d["expected"], d["messages"] * 4)
        self.assertGreaterEqual(d["latency"]["count"], d["delivered"])
        self.assertGreater(d["latency"]["p50_ms"], 0)
        # The storm: one run join per room, all in the window.
        self.assertEqual(s["population"]["run_joins"], 3)
        self.assertEqual(classes["join"]["requests"], 3)

    def test_the_server_stored_what_the_generator_sent(self):
        sent_ok = self.report.series_total("send") - self.report.series_total("send", "errors")
        self.assertGreater(sent_ok, 0)
        self.assertEqual(self.stored_messages, sent_ok)

    def test_processes_and_database(self):
        s = self.report.summary
        procs = {p["label"]: p for p in s["processes"]}
        self.assertEqual(set(procs), {"myelin", "loadgen"})
        for p in procs.values():
            self.assertGreaterEqual(p["samples"], 4, p)
            self.assertGreater(p["rss_mb_max"], 1, p)
            self.assertFalse(p["exited"])
        self.assertGreater(procs["myelin"]["cpu_percent_max"], 0)
        db = s["database"]
        self.assertEqual(db["kind"], self.server.db)
        self.assertGreater(db["bytes_before_run"], 0, db)
        self.assertGreaterEqual(db["bytes_after_run"], db["bytes_before_run"], db)
        # The per-second series carries the same samples.
        with_procs = [e for e in self.report.timeseries if "myelin" in e["processes"]]
        self.assertGreaterEqual(len(with_procs), 4)

    def test_a_process_tree_is_sampled_whole(self):
        """`--pid LABEL=PID+` adds the CPU of every descendant (a PostgreSQL server's backends): a
        parent that only waits while its child spins shows the child's CPU as a tree, none alone."""
        spin = "import time\nt = time.time()\nwhile time.time() - t < 6: pass\n"
        parent = subprocess.Popen([sys.executable, "-c",
                                   f"import subprocess, sys; subprocess.run([sys.executable, '-c', {spin!r}])"])
        try:
            scenario = full_scenario(self.server.port, join={"pattern": "setup"}, ramp_up=0, warm_up=1, duration=3,
                                     delivery_grace=1, users=2, rooms=1, room_size=2, media={"rate": 0},
                                     messages={"rate": 1})
            r = run_loadgen(scenario, "--population", self.population, "--pid", f"tree={parent.pid}+",
                            "--pid", f"alone={parent.pid}")
        finally:
            parent.kill()
            parent.wait()
        self.assertEqual(r.code, 0, r.stderr[-2000:])
        procs = {p["label"]: p for p in r.summary["processes"]}
        self.assertGreater(procs["tree"]["cpu_percent_avg"], 40, procs)
        self.assertLess(procs["alone"]["cpu_percent_avg"], 10, procs)
        self.assertGreater(procs["tree"]["rss_mb_max"], procs["alone"]["rss_mb_max"], procs)

    def test_report_files(self):
        d = self.report.dir
        with open(os.path.join(d, "summary.csv")) as f:
            rows = [line.split(",") for line in f.read().splitlines()]
        self.assertEqual(rows[0][:3], ["class", "requests", "ok"])
        self.assertEqual({r[0] for r in rows[1:]}, set(self.report.classes()) | {"delivery"})
        send = next(r for r in rows if r[0] == "send")
        self.assertEqual(int(send[1]), self.report.classes()["send"]["requests"])
        with open(os.path.join(d, "errors.csv")) as f:
            self.assertEqual(f.read().splitlines(), ["class,status,errcode,count"])
        with open(os.path.join(d, "timeseries.csv")) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "t,phase,class,requests,errors,p50_ms,p99_ms,max_ms")
        phases = {line.split(",")[1] for line in lines[1:]}
        self.assertTrue({"ramp_up", "warm_up", "measure"} <= phases, phases)
        with open(os.path.join(d, "processes.csv")) as f:
            self.assertGreater(len(f.read().splitlines()), 8)
        # The latency distributions, for CDF plots: per class, rising to 1 at the class's maximum.
        with open(os.path.join(d, "latency_cdf.csv")) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "class,ms,fraction")
        send = [(float(ms), float(frac)) for c, ms, frac in (line.split(",") for line in lines[1:]) if c == "send"]
        self.assertGreater(len(send), 1)
        self.assertEqual(send, sorted(send))
        self.assertAlmostEqual(send[-1][1], 1.0)
        self.assertAlmostEqual(send[-1][0], self.report.classes()["send"]["max_ms"], delta=0.01)
        self.assertIn("delivery", {line.split(",")[0] for line in lines[1:]})

    def test_reused_population_and_caps(self):
        before = server_message_count(self.server)
        scenario = full_scenario(self.server.port, join={"pattern": "setup"}, ramp_up=0, warm_up=0, duration=3,
                                 delivery_grace=5)
        run = run_loadgen(scenario, "--population", self.population)
        self.assertEqual(run.code, 0, run.stderr[-3000:])
        s = run.summary
        self.assertTrue(s["population"]["reused"])
        self.assertEqual(set(s["setup"]["classes"]), {"whoami"})  # no registration, no rooms
        self.assertEqual(s["population"]["users"], 12)
        # New transaction ids each run: a reused device must not get its last run's events back.
        d = s["delivery"]
        self.assertGreater(d["messages"], 0)
        self.assertEqual(d["missed"], 0, d["missed_sample"])
        sent_ok = run.series_total("send") - run.series_total("send", "errors")
        self.assertEqual(server_message_count(self.server), before + sent_ok)

        # A cap on requests ends the run early, exactly at the cap.
        run = run_loadgen(scenario, "--population", self.population, "--max-requests", "40")
        self.assertEqual(run.code, 0, run.stderr[-3000:])
        s = run.summary
        self.assertEqual(s["generator"]["stop_reason"], "max_requests")
        self.assertEqual(s["client"]["run_requests"], 40)
        self.assertEqual(run.series_total() + sum(s["client"]["unfinished_at_stop"].values()), 40)

        # The population's tokens on a server that never issued them: refused before any load.
        other = Server(LIFTED_LIMITS)
        try:
            other.start()
            run = run_loadgen(full_scenario(other.port), "--population", self.population)
        finally:
            other.stop()
            other.cleanup()
        self.assertEqual(run.code, 2)
        self.assertIn("tokens do not work", run.stderr)
        self.assertEqual(run.summary["generator"]["stop_reason"], "setup_failed")
        self.assertEqual(run.summary["setup"]["errors_by_code"][0]["errcode"], "M_UNKNOWN_TOKEN")


class BrokenServer(unittest.TestCase):
    """Failures must be counted by class, status and errcode."""

    def start(self, extra):
        server = Server(extra)
        try:
            server.start()
        except Exception:
            server.cleanup()
            raise
        self.addCleanup(server.cleanup)
        return server

    def small(self, port, **over):
        return full_scenario(port, users=6, rooms=2, room_size=3, join={"pattern": "setup"}, typing={"rate": 0},
                             receipts={"rate": 0}, presence={"rate": 0}, to_device={"rate": 0}, media={"rate": 0},
                             **over)

    def test_rate_limited_sends_are_errors_with_their_errcode(self):
        server = self.start("rc_message: {per_second: 0.2, burst_count: 2}\n")
        run = run_loadgen(self.small(server.port, messages={"rate": 10, "size": 50}, ramp_up=0, warm_up=0,
                                     duration=3))
        self.assertEqual(run.code, 0, run.stderr[-3000:])
        send = run.classes()["send"]
        self.assertGreater(send["errors"], 10, send)
        self.assertEqual(send["ok"] + send["errors"], send["requests"])
        limited = [e for e in run.errors() if e["class"] == "send"]
        self.assertEqual([(e["status"], e["errcode"]) for e in limited], [(429, "M_LIMIT_EXCEEDED")])
        self.assertEqual(limited[0]["count"], send["errors"])
        d = run.summary["delivery"]
        self.assertEqual(d["messages"], send["ok"])
        self.assertEqual(d["messages_failed"], send["errors"])
        self.assertEqual(d["expected"], d["delivered"] + d["missed"])
        self.assertRegex(run.stderr, r"measure +\d+ req/s +err [1-9]")  # the progress line shows them

    def test_a_server_that_dies_mid_run(self):
        server = self.start(LIFTED_LIMITS)
        killed = []

        def kill_once_measuring(line):
            if not killed and " measure " in line:
                server.proc.send_signal(signal.SIGKILL)
                killed.append(time.time())

        run = run_loadgen(self.small(server.port, ramp_up=1, warm_up=0, duration=4, delivery_grace=2),
                          on_progress=kill_once_measuring)
        self.assertTrue(killed, run.stderr[-2000:])
        self.assertEqual(run.code, 0, run.stderr[-3000:])
        errors = run.errors()
        transport = [e for e in errors if e["status"] == 0]
        self.assertTrue(transport, errors)
        self.assertTrue({e["class"] for e in transport} >= {"sync", "send"}, errors)
        self.assertTrue(all(e["errcode"] for e in transport), errors)  # "connection refused", …
        self.assertGreater(run.summary["measured"]["errors"], 0)
        self.assertGreater(run.summary["delivery"]["messages_failed"], 0)


class BadInput(unittest.TestCase):
    def loadgen(self, scenario_text, *args):
        tmp = tempfile.mkdtemp(prefix="myelin-loadgen-")
        path = os.path.join(tmp, "scenario.yaml")
        with open(path, "w") as f:
            f.write(scenario_text)
        return subprocess.run([LOADGEN, path, *args], capture_output=True, text=True, timeout=120)

    def test_scenario_errors_name_the_key_and_line(self):
        r = self.loadgen("users: 3\nmessages:\n  rate: 5\n  rat: 2\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("scenario.yaml:4: messages.rat: unknown key", r.stderr)
        r = self.loadgen("users: -1\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("users: must be between 1", r.stderr)
        r = self.loadgen("room_size: {distribution: pareto, max: 3}\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("room_size.distribution: must be fixed, uniform or zipf", r.stderr)
        r = self.loadgen("duration: 10 minutes\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("duration:", r.stderr)

    def test_check_fills_in_defaults(self):
        r = self.loadgen("users: 3\nduration: 2m\nmessages: {rate: 5}\n", "--check", "--rate-scale", "10")
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual(s["duration"], 120)
        self.assertEqual(s["messages"], {"rate": 50, "size": 100})
        self.assertEqual(s["sync"]["fraction"], 1)

    def test_several_base_urls(self):
        r = self.loadgen("users: 3\n", "--check", "--base-url", "http://127.0.0.1:1", "--base-url",
                         "http://127.0.0.1:2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["base_url"], ["http://127.0.0.1:1", "http://127.0.0.1:2"])
        r = self.loadgen("users: 3\nbase_url: [http://127.0.0.1:1, http://127.0.0.1:2]\n", "--check")
        self.assertEqual(json.loads(r.stdout)["base_url"], ["http://127.0.0.1:1", "http://127.0.0.1:2"])
        r = self.loadgen("users: 3\nbase_url: []\n", "--check")
        self.assertEqual(r.returncode, 2)
        self.assertIn("base_url: must list 1 to 64 URLs", r.stderr)
        # Every URL must be loopback, not only the first.
        r = self.loadgen("users: 1\nbase_url: [http://127.0.0.1:1, http://192.0.2.1:8008]\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("only sends traffic to loopback", r.stderr)

    def test_only_loopback(self):
        r = self.loadgen("base_url: http://192.0.2.1:8008\nusers: 1\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("only sends traffic to loopback", r.stderr)
        r = self.loadgen("base_url: https://127.0.0.1:8008\nusers: 1\n")
        self.assertEqual(r.returncode, 2)

    def test_a_server_that_is_not_there(self):
        # A port nothing listens on: setup fails with the reason, and the report says so.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = self.loadgen(f"base_url: http://127.0.0.1:{port}\nusers: 2\n", "--quiet")
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"setup failed \(2 requests\): registering lg\w+-\d: .*[Cc]onnection refused")
        summary = json.loads(r.stdout)
        self.assertEqual(summary["generator"]["stop_reason"], "setup_failed")
        self.assertEqual(summary["setup"]["errors_by_code"][0]["status"], 0)


if __name__ == "__main__":
    if not os.access(LOADGEN, os.X_OK):
        print(f"skipped: {LOADGEN} is not built (cmake --build <build dir> --target myelin-loadgen)")
        sys.exit(SKIP_CODE)
    main()
