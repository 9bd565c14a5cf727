"""The experiment file: a workload (a myelin-loadgen scenario) × a list of loads × a list of
deployments. Parsed with line numbers so every mistake is reported as FILE:LINE: key: what."""
import os

import yaml


class SpecError(Exception):
    pass


class _Map(dict):
    """A mapping that remembers the line of each of its keys."""
    line = 0
    lines = None


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    m = _Map()
    m.line = node.start_mark.line + 1
    m.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in m:
            raise SpecError(f"line {key_node.start_mark.line + 1}: duplicate key '{key}'")
        m[key] = loader.construct_object(value_node, deep=True)
        m.lines[key] = key_node.start_mark.line + 1
    return m


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


def plain(v):
    """The same data without line bookkeeping (for yaml.safe_dump and JSON)."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def deep_merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise SpecError(f"{path}: {e.strerror}")
    try:
        return yaml.load(text, Loader=_Loader)
    except SpecError as e:
        raise SpecError(f"{path}:{str(e)[5:]}")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})")


class Deployment:
    """One thing to measure: a Myelin placement started by the runner, or a running server."""

    def __init__(self, name, database="sqlite", placement=None, homeserver=None, base_urls=None, pids=None,
                 gateways=None, redis=False):
        self.name = name
        self.database = database
        self.placement = placement      # absolute path or None (all-in-one)
        self.homeserver = homeserver or {}
        self.base_urls = base_urls      # set: an external server, not started or stopped
        self.pids = pids or {}
        self.gateways = gateways        # node names whose gateway the users are spread over
        self.redis = redis              # fan out stream updates through the runner's redis-server

    @property
    def external(self):
        return self.base_urls is not None

    @property
    def slug(self):
        s = "".join(c if c.isalnum() else "-" for c in self.name.lower())
        return "-".join(p for p in s.split("-") if p)


class Experiment:
    def __init__(self):
        self.path = None
        self.name = None
        self.description = ""
        self.workload = {}              # the effective scenario (overrides applied), plain dict
        self.workload_source = None
        self.loads = [1.0]
        self.population = "per_deployment"
        self.homeserver = {}
        self.deployments = []
        self.settle_seconds = 2.0


def _fail(path, m, key, what):
    line = m.lines.get(key, m.line) if isinstance(m, _Map) and m.lines else getattr(m, "line", 0)
    raise SpecError(f"{path}:{line}: {key}: {what}")


def _only(path, m, where, allowed):
    if not isinstance(m, dict):
        raise SpecError(f"{path}:{getattr(m, 'line', 0)}: {where}: must be a mapping")
    for k in m:
        if k not in allowed:
            _fail(path, m, k, f"unknown key (expected one of: {', '.join(allowed)})")


def load_experiment(path):
    path = os.path.abspath(path)
    here = os.path.dirname(path)
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: an experiment file is a mapping (workload, loads, deployments, …)")
    _only(path, doc, "(top level)", ["name", "description", "workload", "overrides", "loads", "population",
                                     "homeserver", "deployments", "settle_seconds"])
    ex = Experiment()
    ex.path = path
    ex.name = doc.get("name") or os.path.splitext(os.path.basename(path))[0]
    ex.description = str(doc.get("description", "")).strip()

    if "workload" not in doc:
        raise SpecError(f"{path}: workload: missing (a scenario file for myelin-loadgen, or one inline)")
    w = doc["workload"]
    if isinstance(w, str):
        ex.workload_source = os.path.normpath(os.path.join(here, w))
        w = load_yaml(ex.workload_source)
        if not isinstance(w, dict):
            raise SpecError(f"{ex.workload_source}: a scenario is a mapping")
    elif isinstance(w, dict):
        ex.workload_source = f"{path} (inline)"
    else:
        _fail(path, doc, "workload", "must be a scenario file name or an inline scenario mapping")
    w = plain(w)
    if "overrides" in doc:
        if not isinstance(doc["overrides"], dict):
            _fail(path, doc, "overrides", "must be a mapping of scenario keys")
        w = deep_merge(w, plain(doc["overrides"]))
    w.pop("base_url", None)   # the runner points the generator at each deployment
    w.pop("population", None)
    ex.workload = w

    loads = doc.get("loads", [1])
    if not isinstance(loads, list) or not loads or len(loads) > 20 or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x <= 10000 for x in loads):
        _fail(path, doc, "loads", "must be a list of 1 to 20 rate multipliers, each in (0, 10000]")
    ex.loads = [float(x) for x in loads]

    ex.population = doc.get("population", "per_deployment")
    if ex.population not in ("per_deployment", "per_load"):
        _fail(path, doc, "population", "must be per_deployment (register once, reuse at every load) or per_load")
    settle = doc.get("settle_seconds", 2)
    if not isinstance(settle, (int, float)) or not 0 <= settle <= 600:
        _fail(path, doc, "settle_seconds", "must be a number of seconds in [0, 600]")
    ex.settle_seconds = float(settle)

    hs = doc.get("homeserver", {})
    if not isinstance(hs, dict):
        _fail(path, doc, "homeserver", "must be a mapping of homeserver.yaml keys")
    ex.homeserver = plain(hs)

    deps = doc.get("deployments")
    if not isinstance(deps, list) or not 1 <= len(deps) <= 16:
        _fail(path, doc, "deployments", "must be a list of 1 to 16 deployments")
    seen = set()
    for d in deps:
        _only(path, d, "deployments[]", ["name", "database", "placement", "homeserver", "base_url", "pids",
                                         "gateways", "redis"])
        name = d.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SpecError(f"{path}:{d.line}: deployments[]: name: missing")
        dep = Deployment(name.strip())
        if dep.slug in seen:
            _fail(path, d, "name", f"'{name}' is used twice")
        seen.add(dep.slug)
        if "base_url" in d:
            urls = d["base_url"] if isinstance(d["base_url"], list) else [d["base_url"]]
            if not urls or not all(isinstance(u, str) and u.startswith("http://") for u in urls):
                _fail(path, d, "base_url", "must be an http:// URL or a list of them")
            for k in ("database", "placement", "homeserver", "gateways", "redis"):
                if k in d:
                    _fail(path, d, k, "does not apply to a running server given by base_url")
            dep.base_urls = urls
            pids = d.get("pids", {})
            if not isinstance(pids, dict) or not all(isinstance(v, int) and v > 0 for v in pids.values()):
                _fail(path, d, "pids", "must map labels to process ids")
            dep.pids = dict(pids)
        else:
            if "pids" in d:
                _fail(path, d, "pids", "only for a running server (base_url); the runner knows its own")
            dep.database = d.get("database", "sqlite")
            if dep.database not in ("sqlite", "postgres"):
                _fail(path, d, "database", "must be sqlite or postgres")
            if "placement" in d:
                if not isinstance(d["placement"], str):
                    _fail(path, d, "placement", "must be a file name")
                dep.placement = os.path.normpath(os.path.join(here, d["placement"]))
                if not os.path.isfile(dep.placement):
                    _fail(path, d, "placement", f"no such file: {dep.placement}")
            if "redis" in d:
                if not isinstance(d["redis"], bool):
                    _fail(path, d, "redis", "must be true or false")
                if d["redis"] and (dep.database != "postgres" or not dep.placement):
                    _fail(path, d, "redis", "needs a multi-node placement (and database: postgres)")
                dep.redis = d["redis"]
            hs = d.get("homeserver", {})
            if not isinstance(hs, dict):
                _fail(path, d, "homeserver", "must be a mapping of homeserver.yaml keys")
            dep.homeserver = plain(hs)
            if "gateways" in d:
                g = d["gateways"]
                if not isinstance(g, list) or not g or not all(isinstance(x, str) for x in g):
                    _fail(path, d, "gateways", "must be a list of node names")
                dep.gateways = list(g)
        ex.deployments.append(dep)
    return ex
