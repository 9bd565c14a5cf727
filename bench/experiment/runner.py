"""Runs an experiment: for each deployment, start it, register the workload's population once (or
per load), run the generator at each load, tear it down; collect every run's summary. Progress is
one line on stderr (rewritten in place on a terminal)."""
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time

import yaml

from .deploy import ROOT, DeployError, ExternalDeployment, MyelinDeployment, Postgres

PROGRESS_LINE = re.compile(r"^\s*\d+(\.\d+)?s ")


class Progress:
    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last_plain = 0.0
        self.width = 0

    def line(self, text, final=False):
        if self.tty:
            pad = max(0, self.width - len(text))
            self.stream.write("\r" + text + " " * pad + ("\n" if final else ""))
            self.width = 0 if final else len(text)
        elif final or time.time() - self.last_plain >= 10:
            self.stream.write(text + "\n")
            self.last_plain = time.time()
        self.stream.flush()

    def say(self, text):
        if self.tty and self.width:
            self.stream.write("\n")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()


def environment(build_dir):
    """What the numbers depend on, for the report."""
    def cmd(*args):
        try:
            return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem_gib = 0.0
    try:
        with open("/proc/meminfo") as f:
            mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    except (OSError, ValueError, IndexError):
        pass
    build_type = ""
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
            m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", f.read(), re.M)
            build_type = m.group(1) if m else ""
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "commit": cmd("git", "rev-parse", "--short", "HEAD") + (" (modified)" if cmd("git", "status", "--porcelain",
                                                                                    "--untracked-files=no") else ""),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "build_type": build_type,
        "load_average_at_start": os.getloadavg()[0],
    }


class Runner:
    def __init__(self, experiment, out_dir, build_dir, pg_conninfo=None, keep_data=False, duration=None,
                 progress=None):
        self.ex = experiment
        self.out = os.path.abspath(out_dir)
        self.build = os.path.abspath(build_dir)
        self.binary = os.path.join(self.build, "myelin")
        self.loadgen = os.path.join(self.build, "bench", "loadgen", "myelin-loadgen")
        self.pg_conninfo = pg_conninfo
        self.keep_data = keep_data
        self.duration = duration
        self.progress = progress or Progress()
        self.runs = []
        self.failures = []

    # --- checks before anything starts ---

    def check(self):
        """Everything that can be found wrong before a server starts: binaries, the effective
        workload (the generator checks it), the deployments' files."""
        needed = [(self.loadgen, "the load generator")]
        if any(not d.external for d in self.ex.deployments):
            needed.append((self.binary, "myelin"))
        for path, what in needed:
            if not os.access(path, os.X_OK):
                raise DeployError(
                    f"{what} is not built: {path}\n  build it with: cmake -S . -B {os.path.relpath(self.build, ROOT)}"
                    " -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-15 && cmake --build "
                    f"{os.path.relpath(self.build, ROOT)} --target myelin myelin-loadgen")
        os.makedirs(self.out, exist_ok=True)
        self.workload_path = os.path.join(self.out, "workload.yaml")
        workload = dict(self.ex.workload)
        if self.duration is not None:
            workload["duration"] = self.duration
        with open(self.workload_path, "w") as f:
            f.write(f"# The effective workload: {self.ex.workload_source} with the experiment's overrides.\n")
            yaml.safe_dump(workload, f, sort_keys=False)
        r = subprocess.run([self.loadgen, self.workload_path, "--check"], capture_output=True, text=True)
        if r.returncode != 0:
            raise DeployError(f"the workload is not valid (from {self.ex.workload_source}):\n{r.stderr.strip()}")
        self.effective = json.loads(r.stdout)
        # The population run registers and creates rooms only: no traffic, no syncs, one second.
        setup = dict(workload, ramp_up=0, warm_up=0, duration=1, delivery_grace=0)
        setup["sync"] = dict(workload.get("sync", {}), fraction=0)
        self.setup_path = os.path.join(self.out, "workload-setup.yaml")
        with open(self.setup_path, "w") as f:
            f.write("# Registers the population: the workload with no traffic and a one-second window.\n")
            yaml.safe_dump(setup, f, sort_keys=False)

    # --- the run ---

    def run(self):
        self.check()
        env = environment(self.build)
        postgres = None
        if any(d.database == "postgres" and not d.external for d in self.ex.deployments):
            postgres = Postgres(self.pg_conninfo)
            postgres.start()
        started = time.time()
        try:
            for i, dep in enumerate(self.ex.deployments, 1):
                self._run_deployment(i, dep, postgres)
        finally:
            if postgres:
                postgres.stop()
        env["load_average_at_end"] = os.getloadavg()[0]
        env["seconds"] = round(time.time() - started, 1)
        results = {
            "experiment": {"name": self.ex.name, "description": self.ex.description, "file": self.ex.path,
                           "workload_source": self.ex.workload_source, "loads": self.ex.loads,
                           "population": self.ex.population,
                           "deployments": [{"name": d.name, "slug": d.slug, "database": d.database if not d.external
                                            else None, "placement": d.placement, "base_url": d.base_urls}
                                           for d in self.ex.deployments]},
            "workload": self.effective,
            "environment": env,
            "runs": self.runs,
            "failures": self.failures,
        }
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        return results

    def _run_deployment(self, index, dep, postgres):
        tag = f"[{index}/{len(self.ex.deployments)} {dep.name}]"
        directory = os.path.join(self.out, "deployments", dep.slug)
        if dep.external:
            d = ExternalDeployment(dep, directory)
        else:
            d = MyelinDeployment(dep, self.binary, directory, self.ex.homeserver,
                                 postgres if dep.database == "postgres" else None)
        self.progress.say(f"{tag} starting ({'running server' if dep.external else dep.database}"
                          f"{', ' + os.path.basename(dep.placement) if dep.placement else ''})")
        exits = {}
        try:
            d.start()
            population = os.path.join(directory, "population.json")
            if self.ex.population == "per_deployment":
                self._loadgen(tag + " registering", d, self.setup_path, os.path.join(self.out, "runs", dep.slug, "setup"),
                              ["--rate-scale", "0", "--save-population", population], setup=True)
            for k, load in enumerate(self.ex.loads, 1):
                d.check_alive()
                time.sleep(self.ex.settle_seconds)
                extra = ["--rate-scale", f"{load:g}"]
                if self.ex.population == "per_deployment":
                    extra += ["--population", population]
                run_dir = os.path.join(self.out, "runs", dep.slug, f"x{load:g}")
                summary = self._loadgen(f"{tag} load ×{load:g} ({k}/{len(self.ex.loads)})", d, self.workload_path,
                                        run_dir, extra)
                self.runs.append({"deployment": dep.name, "slug": dep.slug, "load": load,
                                  "dir": os.path.relpath(run_dir, self.out), "summary": summary})
        except DeployError as e:
            self.progress.say(f"{tag} FAILED: {e}")
            self.failures.append({"deployment": dep.name, "error": str(e)})
        finally:
            exits = d.stop(keep_data=self.keep_data)
            if os.path.exists(os.path.join(directory, "population.json")) and not self.keep_data:
                os.unlink(os.path.join(directory, "population.json"))  # live tokens of a deleted server
            bad = {n: c for n, c in exits.items() if c not in (0, None)}
            if bad:
                self.failures.append({"deployment": dep.name, "error": f"unclean shutdown: exit codes {bad}"})
            self.progress.say(f"{tag} stopped" + (f" (exit codes {bad})" if bad else ""))

    def _loadgen(self, label, d, scenario, out_dir, extra, setup=False):
        os.makedirs(out_dir, exist_ok=True)
        cmd = [self.loadgen, scenario, "--out", out_dir] + extra
        for url in d.base_urls():
            cmd += ["--base-url", url]
        if not setup:
            for name, pid in d.pids().items():
                cmd += ["--pid", f"{name}={pid}"]
            cmd += d.db_args()
        # Bounded: the scenario's own bounds, plus a margin for setup (registration is slow).
        users = int(self.effective.get("users", 10))
        limit = float(self.effective.get("ramp_up", 0)) + float(self.effective.get("warm_up", 0)) + \
            float(self.duration or self.effective.get("duration", 10)) + \
            float(self.effective.get("delivery_grace", 5)) + 120 + users / 5
        with open(os.path.join(out_dir, "loadgen.log"), "w") as log:
            log.write(" ".join(cmd) + "\n")
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
            # The generator bounds itself; this is the backstop should it ever hang without a word.
            watchdog = threading.Timer(limit, proc.kill)
            watchdog.start()
            for raw in proc.stderr:
                log.write(raw)
                for part in raw.rstrip("\n").split("\r"):
                    if PROGRESS_LINE.match(part):
                        self.progress.line(f"{label} {part.strip()}")
                    elif part.strip():
                        self.progress.say(f"{label} {part.strip()}")
            code = proc.wait()
            watchdog.cancel()
        self.progress.line(f"{label} done", final=True)
        summary_path = os.path.join(out_dir, "summary.json")
        summary = None
        if os.path.exists(summary_path):
            with open(summary_path) as f:
                summary = json.load(f)
        if code != 0 or summary is None:
            why = (summary or {}).get("generator", {}).get("setup_error") or f"exit status {code}"
            raise DeployError(f"the load generator failed ({why}); see {os.path.join(out_dir, 'loadgen.log')}")
        return summary
