"""Integration test harness: starts the real `myelin` binary on an ephemeral loopback port with a
fresh SQLite file or a fresh PostgreSQL database, and speaks HTTP to it (stdlib only).

Each suite is a script: `python3 test_x.py --binary PATH --db sqlite|postgres`. It runs its
unittest cases and ends with a plain "N passed, N failed" line for CI.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

ARGS = None  # parsed command line, set by main()


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--cluster", type=int, default=0, metavar="N",
                   help="run each ServerTestCase against N nodes of one placement (PostgreSQL; 2 or 3), "
                        "its requests spread over every node's gateway")
    p.add_argument("--netns", choices=["auto", "on", "off"], default="off",
                   help="with --cluster: run each node in its own network namespace joined by veth pairs "
                        "to a bridge (needs root and `ip netns`); auto falls back to loopback ports")
    p.add_argument("unittest_args", nargs="*")
    return p.parse_args()


def pg_conninfo():
    info = os.environ.get("MYELIN_TEST_PG")
    if not info:
        if os.environ.get("MYELIN_REQUIRE_PG") == "1":
            raise RuntimeError("MYELIN_TEST_PG is not set but PostgreSQL tests are required")
        return None
    return info


def conninfo_pairs(info):
    return dict(re.findall(r"(\w+)=('(?:[^'\\]|\\.)*'|\S+)", info))


def create_pg_database(info):
    """A fresh database per server, so suites never see each other's data."""
    name = "myelin_it_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", info, "-v", "ON_ERROR_STOP=1", "-q", "-c", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True)
    return name


def drop_pg_database(info, name):
    subprocess.run(["psql", info, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                   capture_output=True)


class Response:
    def __init__(self, status, headers, body, data=b""):
        self.status = status
        self.data = data  # the body's bytes (media), `raw` is their text
        self.headers = {k.lower(): v for k, v in headers}
        self.raw = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def errcode(self):
        return (self.json or {}).get("errcode")

    def __repr__(self):
        return f"<{self.status} {self.raw[:300]!r}>"


class Server:
    """One myelin process. `extra_config` is appended to the generated homeserver.yaml."""

    def __init__(self, extra_config="", placement=None, db=None, expose_instance_header=True, node=None,
                 shared_pg_db=None, host="127.0.0.1", netns=None):
        """`node` runs one node of a multi-node placement (--node); `shared_pg_db` makes it use another
        server's PostgreSQL database (the nodes of a cluster share one) instead of a fresh one.
        `netns` runs the process in that network namespace, its listener on `host` there."""
        self.host = host
        self.netns = netns
        self.db = db or ARGS.db
        self.node = node
        self.owns_pg_db = shared_pg_db is None
        self.dir = tempfile.mkdtemp(prefix="myelin-it-")
        self.extra_config = extra_config
        self.placement = placement
        self.expose = expose_instance_header
        self.proc = None
        self.port = None
        self.pg_db = None
        self.log_path = os.path.join(self.dir, "server.log")
        if self.db == "postgres":
            self.pg_info = pg_conninfo()
            if self.pg_info is None:
                raise unittest.SkipTest("PostgreSQL not available (MYELIN_TEST_PG unset)")
            self.pg_db = shared_pg_db or create_pg_database(self.pg_info)
        self.write_config()

    def database_yaml(self):
        if self.db == "sqlite":
            return "database:\n  name: sqlite3\n  args:\n    database: homeserver.db\n"
        pairs = conninfo_pairs(self.pg_info)
        lines = ["database:", "  name: psycopg2", "  args:", f"    dbname: {self.pg_db}", "    cp_max: 8"]
        for key in ("host", "port", "user", "password"):
            if key in pairs:
                lines.append(f"    {key}: {pairs[key].strip(chr(39))}")
        return "\n".join(lines) + "\n"

    def write_config(self):
        # Top-level defaults; a key that extra_config sets replaces the default block.
        defaults = [
            ("server_name", "server_name: test.local\n"),
            ("public_baseurl", "public_baseurl: http://127.0.0.1/\n"),
            ("listeners", f"listeners:\n  - port: 0\n    bind_addresses: ['{self.host}']\n    type: http\n"
                          "    resources:\n      - names: [client, federation]\n"),
            ("database", self.database_yaml()),
            ("enable_registration", "enable_registration: true\n"),
            ("enable_registration_without_verification", "enable_registration_without_verification: true\n"),
            ("rc_registration", "rc_registration: {per_second: 1000, burst_count: 1000}\n"),
            ("rc_login", "rc_login:\n  address: {per_second: 1000, burst_count: 1000}\n"
                         "  account: {per_second: 1000, burst_count: 1000}\n"
                         "  failed_attempts: {per_second: 1000, burst_count: 1000}\n"),
            ("logging", "logging:\n  level: info\n"),
        ]
        overridden = set(re.findall(r"^(\w+):", self.extra_config, re.M))
        cfg = "".join(text for key, text in defaults if key not in overridden) + self.extra_config
        with open(os.path.join(self.dir, "homeserver.yaml"), "w") as f:
            f.write(cfg)

    def start(self, timeout=30):
        cmd = [ARGS.binary, "--config", os.path.join(self.dir, "homeserver.yaml")]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd  # execs the binary: the pid stays myelin's
        if self.placement:
            path = os.path.join(self.dir, "placement.yaml")
            with open(path, "w") as f:
                f.write(self.placement)
            cmd += ["--placement", path]
        if self.node:
            cmd += ["--node", self.node]
        if self.expose:
            cmd.append("--expose-instance-header")
        self.log = open(self.log_path, "a")
        offset = self.log.tell()  # look for "ready" only in this run's output
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"myelin exited with {self.proc.returncode}:\n{self.read_log()}")
            m = re.search(r"myelin ready .*ports=(\d+)", self.read_log()[offset:])
            if m:
                self.port = int(m.group(1))
                return self
            time.sleep(0.05)
        raise RuntimeError("myelin did not become ready:\n" + self.read_log())

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout=20):
        """SIGTERM and expect a clean, prompt exit (graceful shutdown)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("myelin did not shut down within %ss" % timeout)
        finally:
            self.log.close()
            self.proc = None
        return code

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.log.close()
            self.proc = None
        if self.pg_db and self.owns_pg_db:
            drop_pg_database(self.pg_info, self.pg_db)
        if os.environ.get("MYELIN_KEEP_TEST_DIRS") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, query):
        """Rows of a read-only query against this server's database, each a tuple of strings (None
        for NULL), for checking what an endpoint stored when no endpoint reads it back."""
        if self.db == "sqlite":
            con = sqlite3.connect(os.path.join(self.dir, "homeserver.db"))
            try:
                return [tuple(None if v is None else str(v) for v in row) for row in con.execute(query)]
            finally:
                con.close()
        out = subprocess.run(["psql", self.pg_info + f" dbname={self.pg_db}", "-v", "ON_ERROR_STOP=1", "-AtX",
                              "-F", "\x1f", "-P", "null=\x1e", "-c", query], check=True, capture_output=True,
                             text=True).stdout
        return [tuple(None if v == "\x1e" else v for v in line.split("\x1f")) for line in out.splitlines()]

    def sql_write(self, statement):
        """Runs one statement that changes this server's database — only for state no endpoint can
        set yet (an admin flag before the admin API exists)."""
        if self.db == "sqlite":
            con = sqlite3.connect(os.path.join(self.dir, "homeserver.db"), timeout=10)
            try:
                con.execute(statement)
                con.commit()
            finally:
                con.close()
            return
        subprocess.run(["psql", self.pg_info + f" dbname={self.pg_db}", "-v", "ON_ERROR_STOP=1", "-qAtX",
                        "-c", statement], check=True, capture_output=True)

    # ---- HTTP ----
    def connect(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, token=None, headers=None, raw=None, conn=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, r.getheaders(), data.decode(errors="replace"), data)
        finally:
            if own:
                conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body=body, **kw)

    # ---- account helpers ----
    def register(self, username, password="correct horse battery", device_id=None, **extra):
        body = {"username": username, "password": password, "auth": {"type": "m.login.dummy"}}
        if device_id:
            body["device_id"] = device_id
        body.update(extra)
        r = self.post("/_matrix/client/v3/register", body)
        if r.status != 200:
            raise AssertionError(f"register {username} failed: {r}")
        return r.json

    def login(self, username, password="correct horse battery", **extra):
        body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": username},
                "password": password}
        body.update(extra)
        return self.post("/_matrix/client/v3/login", body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cluster_placement(n, ports, secret="harness cluster secret", hosts=None):
    """Groups spread so that nearly every request and stream update crosses a node link: a holds
    main, the account writers and one persister; b the sync tier with typing, receipts, presence
    and the other persister; c (with 3 nodes) the event creators, to-device, device lists and a
    second client_reader."""
    third = n >= 3
    hosts = hosts or ["127.0.0.1"] * n
    nodes = "".join(f"  {name}: {{host: {host}, port: {port}, bind_address: {host}}}\n"
                    for name, port, host in zip("abc", ports, hosts))
    return f"""shared_secret: "{secret}"
nodes:
{nodes}groups:
  main: {{node: a}}
  client_reader:
    - {{node: a, instances: 1}}
    - {{node: {'c' if third else 'b'}, instances: 1}}
  keys: {{node: a}}
  media: {{node: a}}
  federation_reader: {{node: {'c' if third else 'a'}}}
  sync: {{node: b, instances: 2}}
  event_creator: {{node: {'c' if third else 'b'}, instances: 2}}
  writer.accounts: {{node: a}}
  writer.account_data: {{node: a}}
  writer.push_rules: {{node: a}}
  writer.events:
    - {{node: a, instances: 1}}
    - {{node: b, instances: 1}}
  writer.typing: {{node: b}}
  writer.receipts: {{node: b}}
  writer.presence: {{node: b}}
  writer.to_device: {{node: {'c' if third else 'a'}}}
  writer.device_lists: {{node: {'c' if third else 'a'}}}
"""


class NetnsLab:
    """Network namespaces for the nodes of a cluster test: one per node, each with a veth pair whose
    other end is on a bridge in the test's namespace, so nodes reach each other (and the test reaches
    their gateways) only over real interfaces, never a shared loopback. Needs root and `ip`."""

    def __init__(self, names):
        import random
        self.tag = f"{os.getpid() % 10000}{random.randrange(100):02d}"
        self.bridge = f"mybr{self.tag}"
        self.spaces = []
        for _ in range(20):  # a free /24 under 10.213.0.0/16
            self.subnet = f"10.213.{random.randrange(1, 255)}"
            if not subprocess.run(["ip", "route", "show", self.subnet + ".0/24"], capture_output=True,
                                  text=True).stdout.strip():
                break
        try:
            self.ip("link", "add", self.bridge, "type", "bridge")
            self.ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
            self.ip("link", "set", self.bridge, "up")
            self.hosts = {}
            for i, name in enumerate(names):
                ns, veth = f"myelin{self.tag}{name}", f"myv{self.tag}{name}"
                self.ip("netns", "add", ns)
                self.spaces.append(ns)
                self.ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
                self.ip("-n", ns, "addr", "add", f"{self.subnet}.{10 + i}/24", "dev", "eth0")
                self.ip("-n", ns, "link", "set", "eth0", "up")
                self.ip("-n", ns, "link", "set", "lo", "up")
                self.ip("link", "set", veth, "master", self.bridge, "up")
                self.hosts[name] = (ns, f"{self.subnet}.{10 + i}")
        except Exception:
            self.remove()
            raise

    @staticmethod
    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True)

    @staticmethod
    def available():
        if os.geteuid() != 0 or not shutil.which("ip"):
            return False
        probe = f"myelinprobe{os.getpid()}"
        ok = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True)
        return ok

    def remove(self):
        for ns in self.spaces:  # deleting a namespace deletes its end of the veth pair, and so both
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.spaces = []


def use_netns():
    mode = ARGS.netns if ARGS else "off"
    if mode == "off":
        return False
    if NetnsLab.available():
        return True
    if mode == "on":
        raise RuntimeError("--netns on: cannot create network namespaces (needs root and `ip netns`)")
    return False


class ClusterServer(Server):
    """N myelin processes of one multi-node placement sharing one PostgreSQL database, behind the
    same interface as Server: each request (and each connection) goes to the next node's gateway in
    turn, so a test's consecutive requests cross nodes — read-after-write included."""

    def __init__(self, extra_config="", nodes=3):
        if (ARGS.db if ARGS else "sqlite") != "postgres":
            raise unittest.SkipTest("a multi-node placement needs PostgreSQL")
        names = "abc"[:nodes]
        # In namespaces every node has an address of its own: one port serves them all.
        self.lab = NetnsLab(names) if use_netns() else None
        where = self.lab.hosts if self.lab else {n: (None, "127.0.0.1") for n in names}
        ports = [free_port()] * nodes if self.lab else [free_port() for _ in names]
        layout = cluster_placement(nodes, ports, hosts=[where[n][1] for n in names])
        try:
            first = Server(extra_config, placement=layout, node="a", host=where["a"][1], netns=where["a"][0])
            self.nodes = [first] + [Server(extra_config, placement=layout, node=n, shared_pg_db=first.pg_db,
                                           host=where[n][1], netns=where[n][0]) for n in names[1:]]
        except BaseException:
            if self.lab:
                self.lab.remove()
            raise
        # Server's own fields, from the first node (sql, sql_write and dir use them).
        self.__dict__.update({k: v for k, v in first.__dict__.items() if k not in ("proc", "port")})
        self.nodes_by_name = dict(zip(names, self.nodes))
        self.turn = 0

    @property
    def port(self):
        return self.nodes[0].port

    @property
    def proc(self):
        return self.nodes[0].proc

    def start(self, timeout=60):
        # A restart appends to the logs: look only at what this start writes.
        offsets = [len(node.read_log()) if os.path.exists(node.log_path) else 0 for node in self.nodes]
        for node in self.nodes:
            node.start(timeout)
        deadline = time.time() + timeout
        for node, offset in zip(self.nodes, offsets):
            # Every instance of the cluster reachable from this node: its links are up and every
            # peer's instances have reported their handles.
            while "cluster complete" not in node.read_log()[offset:]:
                if time.time() > deadline:
                    raise RuntimeError("cluster did not complete:\n" + node.read_log()[-3000:])
                time.sleep(0.05)
        return self

    def read_log(self):
        return "".join(f"==== node {n.node} ====\n" + n.read_log() for n in self.nodes)

    def stop(self, timeout=20):
        codes = [n.stop(timeout) for n in reversed(self.nodes)]
        return next((c for c in codes if c != 0), 0)

    def cleanup(self):
        for n in reversed(self.nodes):
            n.cleanup()
        if self.lab:
            self.lab.remove()

    def connect(self, timeout=30):
        node = self.nodes[self.turn % len(self.nodes)]
        self.turn += 1
        return http.client.HTTPConnection(node.host, node.port, timeout=timeout)


def reply_json(handler, status, body):
    """Answers a test's fake server request (http.server handler) with a JSON body. A client that
    gave up waiting (a timeout under test) is not an error."""
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    try:
        handler.wfile.write(data)
    except BrokenPipeError:
        pass


class ServerTestCase(unittest.TestCase):
    """A test class sharing one server started in setUpClass (with --cluster N, one cluster)."""
    extra_config = ""
    placement = None

    @classmethod
    def setUpClass(cls):
        if ARGS.cluster:
            if cls.placement:
                raise unittest.SkipTest("has its own placement; --cluster runs the all-in-one cases on a cluster")
            cls.server = ClusterServer(cls.extra_config, ARGS.cluster)
        else:
            cls.server = Server(cls.extra_config, cls.placement)
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            code = cls.server.stop()
            if code != 0:
                raise AssertionError(f"myelin exited with {code}:\n{cls.server.read_log()[-4000:]}")
        finally:
            cls.server.cleanup()

    def assertError(self, r, status, errcode):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.errcode, errcode, r)
        self.assertIsInstance((r.json or {}).get("error"), str, r)


def main():
    global ARGS
    ARGS = parse_args()
    ARGS.binary = os.path.abspath(ARGS.binary)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    if ARGS.unittest_args:
        suite = unittest.defaultTestLoader.loadTestsFromNames(ARGS.unittest_args, sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    # A class skipped in setUpClass counts as one skip but ran no test: only real tests' skips are
    # taken off the tests run.
    skipped_tests = sum(1 for test, _ in result.skipped if isinstance(test, unittest.TestCase))
    passed = max(0, result.testsRun - len(result.failures) - len(result.errors) - skipped_tests)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
