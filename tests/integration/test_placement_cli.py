"""The operator tools `myelin placement check` and `myelin placement from-synapse`, run as an
operator would: exit codes, messages naming FILE:LINE, and from-synapse's output accepted by
placement check. No server is started (the --db argument is accepted and unused)."""
import glob
import os
import subprocess
import tempfile
import unittest

import harness
from harness import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYNAPSE = os.path.join(ROOT, "tests", "data", "synapse")


def myelin(*args, cwd=None):
    return subprocess.run([harness.ARGS.binary, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def deployment(name):
    """The files of a tests/data/synapse deployment, relative to that folder, as a shell glob gives them."""
    d = os.path.join(SYNAPSE, name)
    files = ["homeserver.yaml"]
    for sub in ("conf.d", "workers"):
        files += sorted(os.path.relpath(p, d) for p in glob.glob(os.path.join(d, sub, "*.yaml")))
    return d, files


class PlacementCheck(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_valid_file_prints_the_layout(self):
        out = myelin("placement", "check", os.path.join(ROOT, "configs", "placement-split.yaml"))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("OK", out.stdout)
        self.assertIn("syncx4", out.stdout)

    def test_running_says_whether_a_cluster_adopts_the_file_live(self):
        head = "shared_secret: s\nnodes:\n  a: {host: 10.0.0.1, port: 9300}\n  b: {host: 10.0.0.2, port: 9300}\n"
        old = self.write("old.yaml", head + "groups:\n  sync: {node: b, instances: 2}\n")
        grown = self.write("grown.yaml", head + "  c: {host: 10.0.0.3, port: 9300}\n"
                                                "groups:\n  sync: [{node: b, instances: 2}, {node: c}]\n")
        out = myelin("placement", "check", grown, "--running", old)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("adopts it live", out.stdout)
        # Taking an instance away is not live: the cluster refuses it, and the tool says why.
        out = myelin("placement", "check", old, "--running", grown)
        self.assertEqual(out.returncode, 1, out)
        self.assertIn("will refuse it", out.stderr)
        self.assertIn("restart every node", out.stderr)
        out = myelin("placement", "check", grown, "--running")
        self.assertEqual(out.returncode, 2, out)  # usage

    def test_every_problem_is_reported_with_its_line(self):
        path = self.write("bad.yaml", "nodes:\n"
                                      "  a: {host: 10.0.0.1, port: 9300}\n"
                                      "  b: {port: 9300}\n"
                                      "groups:\n"
                                      "  user_dir: 2\n"
                                      "  sync: {node: c, instances: 2}\n"
                                      "  sync: 1\n")
        out = myelin("placement", "check", path)
        self.assertEqual(out.returncode, 1, out)
        for expected in ("bad.yaml:3: node 'b': a multi-node placement needs its 'host'",
                         "bad.yaml:5: group 'user_dir' is a singleton",
                         "bad.yaml:6: group 'sync': unknown node 'c'",
                         "bad.yaml:7: group 'sync' is listed twice"):
            self.assertIn(expected, out.stderr)
        self.assertEqual(out.stdout, "")

    def test_link_port_against_the_config_listeners(self):
        placement = self.write("p.yaml", "nodes:\n  main: {host: 127.0.0.1, port: 8448}\n")
        config = self.write("homeserver.yaml", "server_name: example.com\n"
                                               "listeners:\n"
                                               "  - port: 8448\n"
                                               "    bind_addresses: ['0.0.0.0']\n"
                                               "    type: http\n"
                                               "    resources:\n"
                                               "      - names: [federation]\n")
        out = myelin("placement", "check", placement, "--config", config)
        self.assertEqual(out.returncode, 1, out)
        self.assertIn(f"p.yaml:2: node 'main': link port 8448 is also the port of a listener in {config}", out.stderr)
        # Without the config the file itself is fine.
        self.assertEqual(myelin("placement", "check", placement).returncode, 0)
        # The server refuses to start with that pair too, before binding anything.
        out = myelin("--config", config, "--placement", placement, cwd=self.dir.name)
        self.assertEqual(out.returncode, 2, out)
        self.assertIn("link port 8448 is also the port of a listener", out.stderr)

    def test_usage_errors(self):
        for args in (["placement"], ["placement", "check"], ["placement", "frobnicate", "x"],
                     ["placement", "check", "a.yaml", "--confi", "b.yaml"], ["placement", "from-synapse"]):
            out = myelin(*args)
            self.assertEqual(out.returncode, 2, (args, out))
            self.assertIn("usage:", out.stderr)
        out = myelin("placement", "check", os.path.join(self.dir.name, "missing.yaml"))
        self.assertEqual(out.returncode, 1)
        self.assertIn("missing.yaml: cannot read placement file", out.stderr)


class FromSynapse(unittest.TestCase):
    def translate(self, name):
        d, files = deployment(name)
        out = myelin("placement", "from-synapse", *files, cwd=d)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out

    def check(self, placement_text):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(placement_text)
        self.addCleanup(os.unlink, f.name)
        return myelin("placement", "check", f.name)

    def test_one_machine(self):
        out = self.translate("one-machine")
        self.assertTrue(out.stdout.startswith("# Myelin placement translated by `myelin placement from-synapse`"))
        self.assertIn("  sync: 5\n", out.stdout)
        notes = [line for line in out.stderr.splitlines() if line.startswith("note: ")]
        self.assertTrue(notes, out.stderr)
        self.assertEqual(len(notes), len(out.stderr.splitlines()), out.stderr)  # nothing but notes
        self.assertIn("ran on one machine", out.stderr)
        checked = self.check(out.stdout)
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("1 node(s)", checked.stdout)
        self.assertIn("syncx5", checked.stdout)
        self.assertIn("writer.typingx1", checked.stdout)

    def test_two_hosts(self):
        out = self.translate("two-hosts")
        checked = self.check(out.stdout)
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("2 node(s)", checked.stdout)
        self.assertIn("node main (10.0.0.1:9301)", checked.stdout)
        self.assertIn("node node-10-0-0-2 (10.0.0.2:9301)", checked.stdout)
        self.assertNotIn("do-not-copy-me", out.stdout)

    def test_legacy_worker_apps(self):
        out = self.translate("legacy")
        checked = self.check(out.stdout)
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn("syncx2", checked.stdout)
        self.assertIn("keysx1", checked.stdout)
        self.assertIn("no worker_name", out.stderr)

    def test_broken_inputs_exit_2_with_file_and_line(self):
        cases = {
            "broken/missing-name.yaml": "broken/missing-name.yaml:2: worker_name is missing",
            "broken/unknown-app.yaml": "broken/unknown-app.yaml:3: unknown worker_app 'synapse.app.fancy_worker'",
            "broken/malformed.yaml": "broken/malformed.yaml:6: invalid YAML",
            "broken/bad-values.yaml": "broken/bad-values.yaml:5: worker_listeners.port must be a port number",
        }
        for worker, message in cases.items():
            out = myelin("placement", "from-synapse", "broken/homeserver.yaml", worker, cwd=SYNAPSE)
            self.assertEqual(out.returncode, 2, (worker, out))
            self.assertIn(message, out.stderr)
            self.assertEqual(out.stdout, "")
        out = myelin("placement", "from-synapse", "broken/homeserver.yaml", "broken/nowhere.yaml", cwd=SYNAPSE)
        self.assertEqual(out.returncode, 2)
        self.assertIn("broken/nowhere.yaml: cannot read", out.stderr)


if __name__ == "__main__":
    main()
