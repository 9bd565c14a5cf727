"""The experiment runner (bench/run-experiment.py) end to end: it starts each deployment, registers a
population, runs the load generator at each load, tears down, and writes a report whose numbers
match the generator's runs — with PNG plots. A deployment that cannot be reached is reported as a
failure without stopping the others; a bad experiment file is refused before anything starts.

On PostgreSQL the second deployment is a two-node cluster (configs/placement-2-nodes.yaml), on
SQLite the split placement. Needs myelin-loadgen built next to --binary (exit 77 otherwise)."""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import Server, free_port, main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "bench", "run-experiment.py")
SKIP_CODE = 77


def build_dir():
    binary = sys.argv[sys.argv.index("--binary") + 1] if "--binary" in sys.argv else "build/test/myelin"
    return os.path.dirname(os.path.abspath(binary))


BUILD = build_dir()
LOADGEN = os.path.join(BUILD, "bench", "loadgen", "myelin-loadgen")

WORKLOAD = """workload:
  users: 12
  rooms: 3
  room_size: 4
  messages: {rate: 6, size: {min: 20, max: 100}}
  typing: {rate: 2}
  receipts: {rate: 2}
  sync: {fraction: 1.0, timeout_ms: 5000}
  ramp_up: 1
  warm_up: 1
  duration: 3
  delivery_grace: 8
settle_seconds: 0.5
"""


def db():
    import harness
    return harness.ARGS.db

class ExperimentRunner(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="myelin-it-exp-")

    def tearDown(self):
        if os.environ.get("MYELIN_KEEP_TEST_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def run_experiment(self, text, *extra, timeout=400):
        path = os.path.join(self.dir, "experiment.yaml")
        with open(path, "w") as f:
            f.write(text)
        out = os.path.join(self.dir, "report")
        cmd = [sys.executable, RUNNER, path, "--build", BUILD, "--out", out, *extra]
        if db() == "postgres":
            cmd += ["--pg", os.environ["MYELIN_TEST_PG"]]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r, out

    def test_two_placements_two_loads(self):
        if db() == "postgres":
            second = "  - name: two nodes\n    database: postgres\n" \
                     f"    placement: {ROOT}/configs/placement-2-nodes.yaml\n"
            first = "  - name: all in one\n    database: postgres\n"
        else:
            second = f"  - name: split\n    placement: {ROOT}/configs/placement-split.yaml\n"
            first = "  - name: all in one\n"
        r, out = self.run_experiment("name: smoke\n" + WORKLOAD + "loads: [1, 2]\ndeployments:\n" + first + second)
        self.assertEqual(r.returncode, 0, r.stderr[-4000:])
        self.assertIn("load ×2 (2/2)", r.stderr)  # the progress lines name deployment and load

        with open(os.path.join(out, "results.json")) as f:
            results = json.load(f)
        self.assertEqual(results["failures"], [])
        names = [d["name"] for d in results["experiment"]["deployments"]]
        runs = results["runs"]
        self.assertEqual([(x["deployment"], x["load"]) for x in runs],
                         [(n, load) for n in names for load in (1.0, 2.0)])
        for run in runs:
            s = run["summary"]
            classes = s["measured"]["classes"]
            # Every kind of traffic was measured, against the deployment's own processes.
            for cls in ("send", "typing", "receipt", "sync"):
                self.assertGreater(classes[cls]["requests"], 0, (run["deployment"], cls))
            self.assertEqual(s["measured"]["errors"], 0, s["measured"]["errors_by_code"])
            self.assertTrue(s["population"]["reused"])
            d = s["delivery"]
            self.assertGreater(d["expected"], 0)
            self.assertEqual(d["delivered"], d["expected"], d["missed_sample"])
            labels = sorted(p["label"] for p in s["processes"] if p["label"] != "loadgen")
            self.assertEqual(labels, ["back", "front"] if "two nodes" == run["deployment"] else ["myelin"])
            self.assertTrue(all(p["samples"] > 0 for p in s["processes"]), s["processes"])
            # The ×2 run offered twice the ×1 rates.
            self.assertAlmostEqual(s["scenario"]["messages"]["rate"], 6 * run["load"])
            self.assertTrue(os.path.exists(os.path.join(out, run["dir"], "latency_cdf.csv")))

        with open(os.path.join(out, "results.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 4)
        for row, run in zip(rows, runs):
            self.assertEqual(int(row["delivered"]), run["summary"]["delivery"]["delivered"])
            self.assertEqual(int(row["requests"]), run["summary"]["measured"]["requests"])

        with open(os.path.join(out, "report.md")) as f:
            report = f.read()
        self.assertIn("## Verdict", report)
        self.assertIn("- **×1**", report)
        self.assertIn("- **×2**", report)
        for n in names:
            self.assertGreaterEqual(report.count(f"| {n} |"), 2)
        for png in ("throughput.png", "latency.png", "errors.png", "cdf-delivery.png", "cdf-send.png", "cpu.png"):
            path = os.path.join(out, "plots", png)
            self.assertIn(f"](plots/{png})", report)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", png)
            self.assertGreater(os.path.getsize(path), 5000, png)

        # Torn down: each server shut down cleanly and left no data or live tokens behind.
        for dep in results["experiment"]["deployments"]:
            ddir = os.path.join(out, "deployments", dep["slug"])
            self.assertFalse(os.path.exists(os.path.join(ddir, "population.json")))
            for node in os.listdir(ddir):
                if os.path.isdir(os.path.join(ddir, node)):
                    self.assertEqual(sorted(os.listdir(os.path.join(ddir, node))), ["homeserver.yaml", "server.log"])
        if db() == "postgres":
            left = subprocess.run(["psql", os.environ["MYELIN_TEST_PG"], "-qAtX", "-c",
                                   "SELECT count(*) FROM pg_database WHERE datname LIKE 'myelin_exp_%'"],
                                  capture_output=True, text=True).stdout.strip()
            self.assertEqual(left, "0")

    def test_running_server_and_unreachable_one(self):
        """A running server is measured by URL (and its pid sampled); one with nothing listening is a
        failure in the report, the exit status is 1, and the other deployment's numbers stand."""
        server = Server(extra_config="rc_message: {per_second: 10000, burst_count: 10000}\n")
        try:
            server.start()
            dead_port = free_port()
            r, out = self.run_experiment(
                "name: urls\n" + WORKLOAD + "loads: [1]\ndeployments:\n"
                f"  - name: running\n    base_url: http://127.0.0.1:{server.port}\n"
                f"    pids: {{server: {server.proc.pid}}}\n"
                f"  - name: nobody home\n    base_url: http://127.0.0.1:{dead_port}\n")
        finally:
            server.cleanup()
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        with open(os.path.join(out, "results.json")) as f:
            results = json.load(f)
        self.assertEqual([x["deployment"] for x in results["runs"]], ["running"])
        s = results["runs"][0]["summary"]
        self.assertGreater(s["measured"]["classes"]["send"]["requests"], 0)
        self.assertEqual([p["label"] for p in s["processes"]], ["server", "loadgen"])
        self.assertEqual([f["deployment"] for f in results["failures"]], ["nobody home"])
        self.assertIn("load generator failed", results["failures"][0]["error"])
        with open(os.path.join(out, "report.md")) as f:
            report = f.read()
        self.assertIn("## Failures", report)
        self.assertIn("**nobody home**", report)

    def test_bad_experiment_files_start_nothing(self):
        cases = [
            ("name: x\n" + WORKLOAD + "deployments:\n  - name: a\n    databse: sqlite\n", ":17: databse: unknown key"),
            ("name: x\n" + WORKLOAD + "loads: [0]\ndeployments:\n  - name: a\n", ":15: loads: must be"),
            ("name: x\n" + WORKLOAD + "deployments:\n  - name: a\n  - name: A\n", "name: 'A' is used twice"),
            ("name: x\n" + WORKLOAD.replace("users: 12", "users: 12\n  usres: 3") + "deployments:\n  - name: a\n",
             "usres: unknown key"),
            ("name: x\n" + WORKLOAD + "deployments:\n  - name: a\n    placement: /nonexistent.yaml\n",
             "placement: no such file"),
            ("name: x\nworkload: [\n", "not valid YAML"),
        ]
        for text, message in cases:
            r, out = self.run_experiment(text, timeout=60)
            self.assertEqual(r.returncode, 2, (text, r.stderr))
            self.assertIn(message, r.stderr)
            self.assertFalse(os.path.exists(os.path.join(out, "deployments")), "something was started")


if __name__ == "__main__":
    if not os.access(LOADGEN, os.X_OK):
        print(f"test_experiment: {LOADGEN} is not built (cmake --build build/test --target myelin-loadgen); skipped")
        sys.exit(SKIP_CODE)
    main()
