"""Starting and stopping what an experiment measures: a private PostgreSQL (scripts/test-services.sh)
and Myelin in a placement — one process, or one per node of a multi-node placement, each with its
own gateway on an ephemeral loopback port."""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import yaml

from .spec import SpecError, deep_merge, load_yaml, plain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class DeployError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A PostgreSQL server for the deployments that want one: the one given by conninfo, or a private
    one under a temporary directory started (and stopped) by scripts/test-services.sh. Each
    deployment gets a fresh database, dropped at teardown."""

    def __init__(self, conninfo=None):
        self.conninfo = conninfo
        self.services_dir = None

    def start(self):
        if self.conninfo:
            return
        self.services_dir = tempfile.mkdtemp(prefix="myelin-exp-services-")
        script = os.path.join(ROOT, "scripts", "test-services.sh")
        r = subprocess.run([script, "start", self.services_dir], capture_output=True, text=True)
        if r.returncode != 0:
            raise DeployError("starting PostgreSQL failed:\n" + r.stderr)
        env = subprocess.run([script, "env", self.services_dir], capture_output=True, text=True, check=True).stdout
        m = re.search(r"MYELIN_TEST_PG=(.*)", env)
        self.conninfo = shlex.split(m.group(1))[0]

    def redis_socket(self):
        """The unix socket of the redis-server test-services.sh started next to PostgreSQL."""
        if not self.services_dir:
            raise DeployError("redis: true needs the runner's own services (not --pg)")
        return os.path.join(self.services_dir, "redis.sock")

    def server_pid(self):
        """The postmaster's pid when this runner started the server (its CPU is part of what a
        PostgreSQL deployment costs); None for a server given by conninfo."""
        if not self.services_dir:
            return None
        try:
            with open(os.path.join(self.services_dir, "pg", "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self):
        if self.services_dir:
            subprocess.run([os.path.join(ROOT, "scripts", "test-services.sh"), "stop", self.services_dir],
                           capture_output=True)
            shutil.rmtree(self.services_dir, ignore_errors=True)
            self.services_dir = None

    def psql(self, sql, dbname=None):
        info = self.conninfo + (f" dbname={dbname}" if dbname else "")
        return subprocess.run(["psql", info, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql], capture_output=True,
                              text=True)

    def create_database(self):
        name = "myelin_exp_" + uuid.uuid4().hex[:10]
        r = self.psql(f"CREATE DATABASE {name}")
        if r.returncode != 0:
            raise DeployError("CREATE DATABASE failed: " + r.stderr.strip())
        return name

    def drop_database(self, name):
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def database_config(self, name):
        pairs = dict(re.findall(r"(\w+)=('(?:[^'\\]|\\.)*'|\S+)", self.conninfo))
        args = {"dbname": name, "cp_max": 16}
        for key in ("host", "port", "user", "password"):
            if key in pairs:
                args[key] = pairs[key].strip("'")
        return {"name": "psycopg2", "args": args}


# What a load test needs from the server (docs/experiments.md, "What the server must allow").
BENCH_HOMESERVER = {
    "server_name": "bench.local",
    "public_baseurl": "http://127.0.0.1/",
    "enable_registration": True,
    "enable_registration_without_verification": True,
    "rc_registration": {"per_second": 1000, "burst_count": 1000},
    "rc_message": {"per_second": 10000, "burst_count": 10000},
    "rc_media_create": {"per_second": 10000, "burst_count": 10000},
    "rc_login": {"address": {"per_second": 1000, "burst_count": 1000},
                 "account": {"per_second": 1000, "burst_count": 1000},
                 "failed_attempts": {"per_second": 1000, "burst_count": 1000}},
    "limits": {"max_connections": 30000},
    "presence": {"enabled": True},
    "logging": {"level": "info"},
}


class Node:
    def __init__(self, name, directory):
        self.name = name
        self.dir = directory
        self.proc = None
        self.port = None
        self.log_path = os.path.join(directory, "server.log")
        self.exit_code = None

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.read_log().splitlines()[-n:])


class MyelinDeployment:
    """A deployment the runner starts: `binary` in the deployment's placement, with its own data
    directory per node under `directory`."""

    def __init__(self, dep, binary, directory, experiment_homeserver, postgres=None):
        self.dep = dep
        self.binary = binary
        self.dir = directory
        self.postgres = postgres
        self.pg_db = None
        self.nodes = []
        self.multi_node = False
        self.placement_path = None
        self.homeserver = deep_merge(deep_merge(BENCH_HOMESERVER, experiment_homeserver), dep.homeserver)

    # --- setup ---

    def _placement(self):
        """The node names, and the placement file to start with (node link ports replaced by free
        ones, so runs never collide with each other or with anything else on the machine)."""
        if not self.dep.placement:
            return [None]
        try:
            doc = plain(load_yaml(self.dep.placement))
        except SpecError as e:
            raise DeployError(str(e))
        nodes = doc.get("nodes") if isinstance(doc, dict) else None
        if not isinstance(nodes, dict) or len(nodes) <= 1:
            self.placement_path = self.dep.placement
            return [None]
        for spec in nodes.values():
            if isinstance(spec, dict):
                spec["port"] = free_port()
        if self.dep.redis:
            doc["redis"] = {"path": self.postgres.redis_socket()}
        self.placement_path = os.path.join(self.dir, "placement.yaml")
        with open(self.placement_path, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        self.multi_node = True
        return list(nodes)

    def start(self, timeout=90):
        os.makedirs(self.dir, exist_ok=True)
        names = self._placement()
        if self.dep.database == "postgres":
            if self.postgres is None:
                raise DeployError("a PostgreSQL deployment without a PostgreSQL server")
            self.pg_db = self.postgres.create_database()
        elif self.multi_node:
            raise DeployError(f"{self.dep.name}: a multi-node placement needs database: postgres")
        for name in names:
            node = Node(name or "myelin", os.path.join(self.dir, name or "myelin"))
            os.makedirs(node.dir, exist_ok=True)
            cfg = dict(self.homeserver)
            cfg.setdefault("listeners", [{"port": 0, "bind_addresses": ["127.0.0.1"], "type": "http",
                                          "resources": [{"names": ["client", "federation"]}]}])
            if self.dep.database == "postgres":
                cfg["database"] = self.postgres.database_config(self.pg_db)
            else:
                cfg["database"] = {"name": "sqlite3", "args": {"database": "homeserver.db"}}
            with open(os.path.join(node.dir, "homeserver.yaml"), "w") as f:
                yaml.safe_dump(cfg, f, sort_keys=False)
            cmd = [self.binary, "--config", os.path.join(node.dir, "homeserver.yaml")]
            if self.placement_path:
                cmd += ["--placement", self.placement_path]
            if name:
                cmd += ["--node", name]
            with open(node.log_path, "a") as log:
                node.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=node.dir,
                                             start_new_session=True)
            self.nodes.append(node)
        deadline = time.time() + timeout
        for node in self.nodes:
            self._wait_ready(node, deadline)
        if self.multi_node:
            for node in self.nodes:
                self._wait_complete(node, deadline)

    def _wait_ready(self, node, deadline):
        while time.time() < deadline:
            if node.proc.poll() is not None:
                raise DeployError(f"{self.dep.name}: node {node.name} exited with {node.proc.returncode}:\n"
                                  + node.log_tail())
            m = re.search(r"myelin ready .*ports=(\d+)", node.read_log())
            if m:
                node.port = int(m.group(1))
                return
            time.sleep(0.1)
        raise DeployError(f"{self.dep.name}: node {node.name} did not become ready:\n" + node.log_tail())

    def _wait_complete(self, node, deadline):
        # "cluster complete": this node's links are up and every instance of the cluster (its own
        # and its peers') is reachable from it.
        while time.time() < deadline:
            if "cluster complete" in node.read_log():
                return
            if node.proc.poll() is not None:
                raise DeployError(f"{self.dep.name}: node {node.name} exited:\n" + node.log_tail())
            time.sleep(0.1)
        raise DeployError(f"{self.dep.name}: node {node.name} did not reach every instance of the cluster:\n"
                          + node.log_tail())

    # --- what the generator needs ---

    def base_urls(self):
        wanted = self.dep.gateways
        nodes = [n for n in self.nodes if not wanted or n.name in wanted]
        if wanted and len(nodes) != len(wanted):
            raise DeployError(f"{self.dep.name}: gateways names a node the placement does not have")
        return [f"http://127.0.0.1:{n.port}" for n in nodes]

    def pids(self):
        """label → pid for the generator's --pid; a trailing + samples a whole process tree."""
        pids = {n.name: str(n.proc.pid) for n in self.nodes if n.proc}
        if self.pg_db and self.postgres.server_pid():
            pids["postgres"] = f"{self.postgres.server_pid()}+"
        return pids

    def db_args(self):
        if self.pg_db:
            return ["--pg-db", f"{self.postgres.conninfo} dbname={self.pg_db}"]
        return ["--db-file", os.path.join(self.nodes[0].dir, "homeserver.db")]

    def check_alive(self):
        dead = [n for n in self.nodes if n.proc and n.proc.poll() is not None]
        if dead:
            raise DeployError(f"{self.dep.name}: node {dead[0].name} exited with {dead[0].proc.returncode}:\n"
                              + dead[0].log_tail())

    # --- teardown ---

    def stop(self, keep_data=False, timeout=30):
        """SIGTERM every node (graceful shutdown drains requests), SIGKILL what is left after
        `timeout`. Returns {node: exit code}; -9 means it had to be killed."""
        for node in self.nodes:
            if node.proc and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout
        for node in self.nodes:
            if not node.proc:
                continue
            try:
                node.proc.wait(timeout=max(0.1, deadline - time.time()))
                node.exit_code = node.proc.returncode
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait()
                node.exit_code = -9
        if self.pg_db:
            self.postgres.drop_database(self.pg_db)
        if not keep_data:
            for node in self.nodes:
                for entry in os.listdir(node.dir):
                    if entry not in ("server.log", "homeserver.yaml"):
                        p = os.path.join(node.dir, entry)
                        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
        return {n.name: n.exit_code for n in self.nodes}


class ExternalDeployment:
    """A homeserver already running (Synapse, or a Myelin started by hand): measured, never started
    or stopped."""

    def __init__(self, dep, directory):
        self.dep = dep
        self.dir = directory
        self.nodes = []

    def start(self):
        os.makedirs(self.dir, exist_ok=True)

    def base_urls(self):
        return list(self.dep.base_urls)

    def pids(self):
        return {label: str(pid) for label, pid in self.dep.pids.items()}

    def db_args(self):
        return []

    def check_alive(self):
        pass

    def stop(self, keep_data=False):
        return {}
