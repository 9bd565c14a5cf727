"""Turns an experiment's results.json into results.csv, PNG plots (gnuplot) and report.md, which
says per load which deployment served the workload best and how the others compare with it."""
import csv
import os
import shutil
import subprocess

from .deploy import ROOT

TRAFFIC = ("messages", "typing", "receipts", "presence", "to_device", "media")
SYNC_CLASSES = ("sync", "sync_initial")


def metrics(run):
    """The headline numbers of one generator run."""
    s = run["summary"]
    classes = s["measured"]["classes"]
    sc = s["scenario"]
    delivery = s.get("delivery", {})
    lat = delivery.get("latency", {})
    servers = [p for p in s.get("processes", []) if p["label"] != "loadgen"]
    loadgen = next((p for p in s.get("processes", []) if p["label"] == "loadgen"), {})
    errors = sorted(s["measured"].get("errors_by_code", []), key=lambda e: -e["count"])
    window = s.get("window", {}).get("seconds", 0) or 0
    offered = sum(sc[k]["rate"] for k in TRAFFIC)
    dropped = sum(s.get("client", {}).get("dropped_backlog", {}).values())
    requests = s["measured"]["requests"]
    non_sync = {k: v for k, v in classes.items() if k not in SYNC_CLASSES}
    send = classes.get("send", {})
    return {
        "deployment": run["deployment"],
        "load": run["load"],
        "offered_per_s": offered,
        # Actions the generator could not send because the user's queue was full: the server was
        # too slow to take the offered load (counted over the whole run, as a share of the window's).
        "dropped": dropped,
        "dropped_rate": dropped / (offered * window) if offered and window else 0.0,
        "served_per_s": s["measured"]["per_second"],
        "non_sync_per_s": sum(v["per_second"] for v in non_sync.values()),
        # Actions answered with success per second: what a server that did not keep up still got done.
        "goodput_per_s": sum(v["per_second"] * v["ok"] / v["requests"] for v in non_sync.values() if v["requests"]),
        "requests": requests,
        "errors": s["measured"]["errors"],
        "error_rate": s["measured"]["errors"] / requests if requests else 0.0,
        "top_error": (f"{errors[0]['count']}× {errors[0]['status']} {errors[0]['errcode']} ({errors[0]['class']})"
                      if errors else ""),
        "send_p50_ms": send.get("p50_ms"),
        "send_p99_ms": send.get("p99_ms"),
        "messages": delivery.get("messages", 0),
        "expected": delivery.get("expected", 0),
        "delivered": delivery.get("delivered", 0),
        "missed": delivery.get("missed", 0),
        "delivery_p50_ms": lat.get("p50_ms") if lat.get("count") else None,
        "delivery_p99_ms": lat.get("p99_ms") if lat.get("count") else None,
        "server_cpu_percent": sum(p["cpu_percent_avg"] for p in servers),
        # PostgreSQL's shared buffers show in every backend's RSS: summing them says nothing.
        "server_rss_mb": sum(p["rss_mb_max"] for p in servers if p["label"] != "postgres"),
        "processes": {p["label"]: {"cpu": p["cpu_percent_avg"], "rss": p["rss_mb_max"]} for p in servers},
        "loadgen_cpu_percent": loadgen.get("cpu_percent_avg", 0.0),
        "loadgen_cpu_max": loadgen.get("cpu_percent_max", 0.0),
        "schedule_lag_p99_ms": s.get("client", {}).get("schedule_lag", {}).get("p99_ms"),
        "db_growth_bytes": s.get("database", {}).get("growth_bytes"),
        "cdf": s.get("latency_cdf", {}),
    }


def healthy(m):
    """Kept up: under 1% errors, no missed delivery, under 1% of the offered actions dropped."""
    return m["error_rate"] < 0.01 and m["missed"] == 0 and m["dropped_rate"] < 0.01


def score(m):
    """Lower is better. A run that kept up beats one that did not. Between runs that kept up: the
    latency users feel (delivery p99 when messages flow, else send p99), then throughput. Between
    runs that did not: the most actions answered with success per second (goodput), then latency."""
    latency = m["delivery_p99_ms"] if m["delivery_p99_ms"] is not None else (m["send_p99_ms"] or 0)
    if healthy(m):
        return (0, latency, -m["served_per_s"])
    return (1, -m["goodput_per_s"], latency)


def close_to(m, best):
    """Within 10% of the best on the measure that ranked them: the noise of a shared machine."""
    if healthy(m) != healthy(best):
        return False
    if healthy(best):
        return score(m)[1] <= 1.1 * score(best)[1]
    return m["goodput_per_s"] >= 0.9 * best["goodput_per_s"]


def shown_path(p):
    """A path as the reader of a report knows it: relative to the repository when inside it."""
    return os.path.relpath(p, ROOT) if p.startswith(ROOT + os.sep) else p


def fmt_ms(v):
    if v is None:
        return "—"
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.1f} ms"


def fmt_ratio(v, base):
    if v is None or not base:
        return ""
    return f" ({v / base:.2f}×)"


# --- plots ---

def _gnuplot_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_plots(results, runs, out_dir):
    """PNG plots through gnuplot; returns the list of files made (empty without gnuplot)."""
    gnuplot = shutil.which("gnuplot")
    plots = os.path.join(out_dir, "plots")
    os.makedirs(plots, exist_ok=True)
    deps = [d["name"] for d in results["experiment"]["deployments"] if any(m["deployment"] == d["name"] for m in runs)]
    if not runs or not gnuplot:
        return []
    slug = {d["name"]: d["slug"] for d in results["experiment"]["deployments"]}
    head = ("set terminal pngcairo size 900,560 font 'sans,10'\nset grid\nset key outside right top\n"
            "set datafile missing '?'\n")
    made = []

    def data(name, rows):
        with open(os.path.join(plots, name), "w") as f:
            for row in rows:
                f.write(" ".join("?" if v is None else str(v) for v in row) + "\n")
        return name  # gnuplot runs in plots/, so the scripts work wherever the report is copied

    def plot(png, script):
        path = os.path.join(plots, png.replace(".png", ".gp"))
        with open(path, "w") as f:
            f.write(head + f"set output {_gnuplot_string(png)}\n" + script)
        r = subprocess.run([gnuplot, os.path.basename(path)], capture_output=True, text=True, cwd=plots)
        if r.returncode == 0 and os.path.exists(os.path.join(plots, png)):
            made.append(os.path.join("plots", png))
        else:
            print(f"report: gnuplot failed for {png}: {r.stderr.strip()}")

    # Throughput and latency against offered load, one line per deployment.
    series = {}
    for dep in deps:
        rows = sorted((m["offered_per_s"], m["non_sync_per_s"], m["served_per_s"], m["send_p99_ms"],
                       m["delivery_p99_ms"], m["error_rate"] * 100) for m in runs if m["deployment"] == dep)
        series[dep] = data(f"load-{slug[dep]}.dat", rows)
    def per_deployment(column):
        """One line per deployment of `column` of the load-*.dat files against offered load."""
        return ", ".join(f"{_gnuplot_string(series[d])} using 1:{column} with linespoints lw 2 "
                         f"title {_gnuplot_string(d)}" for d in deps)

    lines = per_deployment(2)
    top = max(m["offered_per_s"] for m in runs) * 1.1 or 1
    plot("throughput.png", "set title 'Actions answered vs offered (sync long-polls excluded)'\n"
         "set xlabel 'offered actions / s'\nset ylabel 'answered non-sync requests / s'\n"
         f"set xrange [0:{top}]\nset yrange [0:*]\n"
         f"plot x with lines dt 2 lc 'gray' title 'answered = offered', {lines}\n")
    lines, lines_send = per_deployment(5), per_deployment(4)
    plot("latency.png", "set multiplot layout 1,2\nset logscale y\nset xlabel 'offered actions / s'\n"
         "set key bottom right inside\n"
         f"set title 'Delivery p99 (send → seen in each member sync)'\nset ylabel 'ms'\nplot {lines}\n"
         f"set title 'Message send p99'\nplot {lines_send}\nunset multiplot\n")
    lines = per_deployment(6)
    plot("errors.png", "set title 'Errors (% of requests in the measured window)'\n"
         "set xlabel 'offered actions / s'\nset ylabel '%'\nset yrange [0:*]\n"
         f"plot {lines}\n")

    # Latency CDFs at the highest load every deployment ran.
    for cls, title in (("delivery", "Delivery latency"), ("send", "Message send latency")):
        parts = []
        for dep in deps:
            mine = [m for m in runs if m["deployment"] == dep and m["cdf"].get(cls)]
            if not mine:
                continue
            m = max(mine, key=lambda x: x["load"])
            path = data(f"cdf-{cls}-{slug[dep]}.dat", ([max(ms, 0.01), f] for ms, f in m["cdf"][cls]))
            key = _gnuplot_string(f"{dep} ×{m['load']:g}")
            parts.append(f"{_gnuplot_string(path)} using 1:2 with steps lw 2 title {key}")
        if parts:
            plot(f"cdf-{cls}.png", f"set title '{title}: CDF at the highest load'\nset logscale x\n"
                 "set xlabel 'ms'\nset ylabel 'fraction at or below'\nset yrange [0:1]\n"
                 "set key top left inside\n" + "plot " + ", ".join(parts) + "\n")

    # Server CPU per process (a node hosts its groups), stacked, per deployment and load.
    labels = []
    for m in runs:
        for label in m["processes"]:
            if label not in labels:
                labels.append(label)
    rows = []
    for dep in deps:
        for m in sorted((m for m in runs if m["deployment"] == dep), key=lambda x: x["load"]):
            rows.append([_gnuplot_string(f"{dep} ×{m['load']:g}")] +
                        [round(m["processes"].get(l, {}).get("cpu", 0.0), 1) for l in labels])
    if labels:
        path = data("cpu.dat", rows)
        same_file = "''"  # gnuplot: the previous plot's data file
        cols = ", ".join(f"{_gnuplot_string(path) if i == 0 else same_file} using {i + 2}"
                         f"{':xtic(1)' if i == 0 else ''} title {_gnuplot_string(l)}" for i, l in enumerate(labels))
        plot("cpu.png", "set title 'Server CPU by process (100 = one core), averaged over the window'\n"
             "set style data histograms\nset style histogram rowstacked\nset style fill solid 0.8 border -1\n"
             "set boxwidth 0.7\nset xtics rotate by -35\nset ylabel '% of a core'\nset yrange [0:*]\n"
             f"plot {cols}\n")
    return made


# --- tables ---

def write_csv(runs, out_dir):
    fields = ["deployment", "load", "offered_per_s", "served_per_s", "non_sync_per_s", "requests", "errors",
              "error_rate", "send_p50_ms", "send_p99_ms", "messages", "expected", "delivered", "missed",
              "delivery_p50_ms", "delivery_p99_ms", "server_cpu_percent", "server_rss_mb", "loadgen_cpu_percent",
              "db_growth_bytes"]
    with open(os.path.join(out_dir, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(fields)
        for m in runs:
            w.writerow(["" if m[k] is None else (round(m[k], 4) if isinstance(m[k], float) else m[k])
                        for k in fields])


def write_markdown(results, runs, out_dir, plots):
    ex, env = results["experiment"], results["environment"]
    w = results["workload"]
    lines = [f"# Experiment: {ex['name']}", ""]
    if ex["description"]:
        lines += [ex["description"], ""]
    lines += [
        f"Run {env['date']} on {env['cpus']} CPUs ({env['cpu_model'] or 'unknown model'}), {env['memory_gib']} GiB, "
        f"Linux {env['kernel']}; Myelin at {env['commit']}, {env['build_type'] or 'unknown'} build. "
        f"Load average {env['load_average_at_start']:.1f} at the start, {env.get('load_average_at_end', 0):.1f} at "
        f"the end; {env.get('seconds', 0):.0f} s in all. The generator ran on the same machine.",
        "",
        f"**Workload** (`workload.yaml`, from `{os.path.basename(ex['workload_source'])}`): "
        f"{w['users']} users in {w['rooms']} rooms, {w['sync']['fraction'] * 100:g}% long-polling /sync; at ×1 "
        + ", ".join(f"{k} {w[k]['rate']:g}/s" for k in TRAFFIC if w[k]["rate"]) +
        f"; ramp-up {w['ramp_up']:g} s, warm-up {w['warm_up']:g} s, measured window {w['duration']:g} s. "
        f"Loads: ×{', ×'.join(f'{x:g}' for x in ex['loads'])} (every rate multiplied). Population: "
        + ("registered once per deployment, reused at every load." if ex["population"] == "per_deployment"
           else "registered afresh for every load."),
        "",
        "**Deployments**:",
        "",
    ]
    for d in ex["deployments"]:
        if d["base_url"]:
            lines.append(f"- **{d['name']}**: a running server at {', '.join(d['base_url'])}")
        else:
            where = f"`{shown_path(d['placement'])}`" if d["placement"] else "all-in-one (no placement file)"
            lines.append(f"- **{d['name']}**: {where}, {'PostgreSQL' if d['database'] == 'postgres' else 'SQLite'}")
    if any(d["database"] == "postgres" for d in ex["deployments"]):
        lines += ["", "PostgreSQL is the runner's private server (scripts/test-services.sh: unix socket, "
                  "`fsync=off`, `synchronous_commit=off`) unless `--pg` named another."]
    lines.append("")

    if results["failures"]:
        lines += ["## Failures", ""]
        for f in results["failures"]:
            lines.append(f"- **{f['deployment']}**: " + f["error"].splitlines()[0])
        lines.append("")

    lines += ["## Verdict", ""]
    wins, best_at = {}, {}
    for load in ex["loads"]:
        at = sorted((m for m in runs if m["load"] == load), key=score)
        if not at:
            continue
        best = at[0]
        wins[best["deployment"]] = wins.get(best["deployment"], 0) + 1
        best_at[load] = best["deployment"]
        why = (f"delivery p99 {fmt_ms(best['delivery_p99_ms'])}" if best["delivery_p99_ms"] is not None
               else f"send p99 {fmt_ms(best['send_p99_ms'])}")
        if not healthy(best):
            why = f"{best['goodput_per_s']:.0f} actions/s answered with success, {why}"
        state = "no errors, nothing missed or dropped" if best["errors"] == 0 and best["missed"] == 0 and \
            best["dropped"] == 0 else (f"{best['error_rate'] * 100:.2f}% errors, {best['missed']} deliveries missed, "
                                       f"{best['dropped_rate'] * 100:.1f}% of the offered actions dropped")
        note = "" if healthy(best) else \
            " — but no deployment kept up (≥1% errors, missed deliveries or ≥1% of the actions dropped)"
        # Runs this close are within the noise of a shared 2-core machine: say so rather than rank them.
        close = [m["deployment"] for m in at[1:] if close_to(m, best)]
        if close:
            note += f"; within 10% of it: {', '.join(close)}"
        lines.append(f"- **×{load:g}** ({best['offered_per_s']:g} actions/s offered): **{best['deployment']}** — "
                     f"{why}, {best['served_per_s']:.0f} req/s answered, {state}{note}.")
    if wins:
        # Most wins; between equals, the one that won at the higher load.
        top = max(wins.items(), key=lambda kv: (kv[1], max(l for l, d in best_at.items() if d == kv[0])))
        lines += ["", f"Best over the loads tried: **{top[0]}** (best at {top[1]} of {len(ex['loads'])}). The "
                  "ranking puts a run that kept up first (under 1% errors, no missed delivery, under 1% of the "
                  "offered actions dropped) and orders those by the latency users feel (delivery p99; send p99 "
                  "when the workload sends no messages), then throughput; runs that did not keep up are ordered "
                  "by the actions they answered with success per second."]
    lines.append("")

    base = ex["deployments"][0]["name"]
    lines += ["## Results", "",
              f"Ratios in parentheses compare with **{base}** at the same load. *answered/s* counts every request "
              "of the window, long-polls included; *non-sync/s* the actions; *dropped* the actions the generator "
              "could not send because the user's previous ones were still waiting for the server (the server "
              "did not keep up). CPU is the server's processes (100% = one core), averaged over the window, "
              "with the PostgreSQL server and all its backends when the runner started it; RSS is the peak sum "
              "of Myelin's processes (PostgreSQL's shared buffers appear in every backend, so its sum would "
              "mean nothing).", ""]
    for load in ex["loads"]:
        at = [m for m in runs if m["load"] == load]
        if not at:
            continue
        ref = next((m for m in at if m["deployment"] == base), None)
        lines += [f"### ×{load:g} — {at[0]['offered_per_s']:g} actions/s offered", "",
                  "| deployment | answered/s | non-sync/s | dropped | send p50 / p99 | delivered | delivery p50 / p99 | "
                  "errors | server CPU | RSS | generator CPU |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for m in at:
            procs = " + ".join(f"{k} {v['cpu']:.0f}%" for k, v in m["processes"].items())
            dropped = f"{m['dropped']} ({m['dropped_rate'] * 100:.0f}%)" if m["dropped"] else "0"
            errors = f"{m['errors']} ({m['top_error']})" if m["top_error"] else str(m["errors"])
            cpu = f"{m['server_cpu_percent']:.0f}%" + (f" ({procs})" if len(m["processes"]) > 1 else "")
            lines.append(
                f"| {m['deployment']} | {m['served_per_s']:.0f}{fmt_ratio(m['served_per_s'], ref and ref['served_per_s'])} "
                f"| {m['non_sync_per_s']:.1f} | {dropped} | {fmt_ms(m['send_p50_ms'])} / {fmt_ms(m['send_p99_ms'])} "
                f"| {m['delivered']}/{m['expected']} | {fmt_ms(m['delivery_p50_ms'])} / {fmt_ms(m['delivery_p99_ms'])}"
                f"{fmt_ratio(m['delivery_p99_ms'], ref and ref['delivery_p99_ms'])} | {errors} | {cpu} "
                f"| {m['server_rss_mb']:.0f} MB | {m['loadgen_cpu_percent']:.1f}% |")
        lines.append("")

    if runs:
        worst = max(runs, key=lambda m: m["loadgen_cpu_max"])
        lag = max((m["schedule_lag_p99_ms"] or 0) for m in runs)
        lines += ["## Was it the server or the generator?", "",
                  f"The generator's own CPU peaked at {worst['loadgen_cpu_max']:.0f}% of a core "
                  f"({worst['deployment']} ×{worst['load']:g}); its worst schedule lag p99 (how late actions left "
                  f"against their planned time) was {fmt_ms(lag)}. "]
        if worst["loadgen_cpu_max"] >= 60:
            lines[-1] += ("That is close to what one generator thread can do (docs/experiments.md): treat the "
                          "highest loads with care.")
        elif lag >= 100:
            lines[-1] += ("Its own CPU stayed far below its limit (about 15,000 simple requests/s per core), so the "
                          "lag comes from the shared CPU being saturated by the server: at those loads the numbers "
                          "are the machine's, with the generator's latency added on top — still comparable between "
                          "deployments, which all met the same machine.")
        else:
            lines[-1] += ("Both are far from its limits (about 15,000 simple requests/s per core), so the numbers "
                          "above measure the server.")
        lines.append("")

    if plots:
        lines += ["## Plots", ""]
        captions = {"throughput.png": "Answered vs offered actions", "latency.png": "Delivery and send p99 vs load",
                    "errors.png": "Error rate vs load", "cdf-delivery.png": "Delivery latency CDF",
                    "cdf-send.png": "Send latency CDF", "cpu.png": "Server CPU per process"}
        for p in plots:
            lines += [f"![{captions.get(os.path.basename(p), p)}]({p})", ""]

    lines += ["## Files", "",
              "`results.json` (everything, with each run's generator summary), `results.csv` (one row per "
              "deployment × load), `runs/<deployment>/x<load>/` (the generator's full report: per-second time "
              "series, per-process CPU, error codes, latency CDFs), `deployments/<deployment>/<node>/` "
              "(homeserver.yaml and server.log of each process), `plots/` (PNG and the gnuplot scripts and data "
              "behind them).", ""]
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(lines))


def write_report(results, out_dir):
    runs = [metrics(r) for r in results["runs"]]  # one per run, in results order
    write_csv(runs, out_dir)
    plots = write_plots(results, runs, out_dir)
    write_markdown(results, runs, out_dir, plots)
    return plots
