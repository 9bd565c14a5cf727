"""Metrics and health (issue 10): a `type: metrics` listener serves the Prometheus text format at
/metrics (and /_synapse/metrics) and nothing else; every listener answers GET /health. The values
move as requests are made. Runs on both databases."""
import http.client
import json
import os
import re
import time
import unittest

from harness import ServerTestCase, main

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(-?[0-9.e+-]+|[+-]Inf|NaN)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset(labels)): value}; fails on any line that is not valid exposition format."""
    out, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not exposition format: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out, typed


class Metrics(ServerTestCase):
    extra_config = ("listeners:\n"
                    "  - port: 0\n    bind_addresses: ['127.0.0.1']\n    type: http\n"
                    "    resources:\n      - names: [client, federation]\n"
                    "  - port: 0\n    bind_addresses: ['127.0.0.1']\n    type: metrics\n")

    def metrics_port(self):
        ports = re.search(r"myelin ready .*ports=([\d,]+)", self.server.read_log()).group(1).split(",")
        self.assertEqual(len(ports), 2, ports)
        return int(ports[1])

    def get(self, port, path):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read().decode()
        finally:
            c.close()

    def scrape(self):
        status, headers, body = self.get(self.metrics_port(), "/metrics")
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(headers["content-type"].startswith("text/plain; version=0.0.4"), headers)
        return parse_exposition(body)

    def test_health_on_every_listener(self):
        for port in (self.server.port, self.metrics_port()):
            status, headers, body = self.get(port, "/health")
            self.assertEqual((status, body), (200, "OK"))

    def test_metrics_listener_serves_only_metrics(self):
        status, _, _ = self.get(self.metrics_port(), "/_matrix/client/versions")
        self.assertEqual(status, 404)
        # The client listener does not publish metrics (it has no `metrics` resource).
        status, _, _ = self.get(self.server.port, "/metrics")
        self.assertEqual(status, 404)
        status, _, body = self.get(self.metrics_port(), "/_synapse/metrics")  # Synapse's path, for old scrapers
        self.assertEqual(status, 200)

    def test_pusher_reports_its_lag(self):
        """The pusher instance reads every persisted event: its lag per persister shows and drains to 0."""
        user = self.server.register("metrics_pusher")
        r = self.server.post("/_matrix/client/v3/createRoom", {}, token=user["access_token"])
        self.assertEqual(r.status, 200, r)
        deadline = time.time() + 10
        while True:
            values, typed = self.scrape()
            lag = {dict(l).get("persister"): v for (n, l), v in values.items() if n == "myelin_pusher_lag_events"}
            if lag and all(v == 0 for v in lag.values()) or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertIn("writer.events/0", lag)
        self.assertEqual(lag["writer.events/0"], 0)
        for family in ("myelin_pusher_backed_off", "myelin_pusher_waiting_notifications"):
            self.assertIn(family, typed)

    def test_series_exist_and_move_with_requests(self):
        user = self.server.register("metrics_user")
        before, typed = self.scrape()
        for family in ("myelin_http_requests_total", "myelin_http_request_duration_seconds",
                       "myelin_db_query_duration_seconds", "myelin_db_pool_wait_seconds",
                       "myelin_handler_duration_seconds", "myelin_instance_pending_requests",
                       "myelin_stream_position", "myelin_group_instances", "myelin_db_pool_connections",
                       "myelin_blocking_pool_queued_jobs", "process_cpu_seconds_total",
                       "process_resident_memory_bytes", "myelin_build_info"):
            self.assertIn(family, typed)
        for _ in range(5):
            self.assertEqual(self.server.get("/_matrix/client/v3/account/whoami",
                                             token=user["access_token"]).status, 200)
        self.assertEqual(self.server.get("/_matrix/client/v3/nowhere").status, 404)
        after, _ = self.scrape()

        def total(values, name, **want):
            return sum(v for (n, labels), v in values.items()
                       if n == name and all((k, w) in labels for k, w in want.items()))

        whoami = dict(endpoint=next(dict(l)["endpoint"] for (n, l) in after
                                    if n == "myelin_http_requests_total" and "whoami" in dict(l).get("endpoint", "")))
        self.assertGreaterEqual(total(after, "myelin_http_requests_total", code="200", method="GET", **whoami) -
                                total(before, "myelin_http_requests_total", code="200", method="GET", **whoami), 5)
        self.assertGreaterEqual(total(after, "myelin_http_requests_total", code="404", endpoint="-", group="gateway"), 1)
        self.assertGreater(total(after, "myelin_db_query_duration_seconds_count"),
                           total(before, "myelin_db_query_duration_seconds_count"))
        # Histograms are cumulative and end in +Inf = count.
        for (n, labels), v in after.items():
            if n == "myelin_http_request_duration_seconds_bucket" and ("le", "+Inf") in labels:
                count = after[("myelin_http_request_duration_seconds_count", labels - {("le", "+Inf")})]
                self.assertEqual(v, count)
        self.assertGreater(total(after, "process_resident_memory_bytes"), 1e6)
        self.assertEqual(total(after, "myelin_group_instances", group="sync", state="available"), 1)
        self.assertGreater(total(after, "myelin_stream_position", stream="accounts"), 0)

    def test_the_dashboard_plots_series_that_exist(self):
        """docs/grafana-dashboard.json: every series a panel queries is one the server exports."""
        path = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "grafana-dashboard.json")
        with open(path) as f:
            dashboard = json.load(f)
        self.server.get("/_matrix/client/versions")
        values, typed = self.scrape()
        exported = typed | {name for name, _ in values}
        used = set()
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                used |= set(re.findall(r"\b((?:myelin|process)_[a-z_]+)", target["expr"]))
        self.assertTrue(used)
        # myelin_node_link_up exists only in a cluster.
        self.assertEqual(sorted(used - exported - {"myelin_node_link_up"}), [])


if __name__ == "__main__":
    main()
