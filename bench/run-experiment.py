#!/usr/bin/env python3
"""Runs a load experiment: one workload against a list of deployments (Myelin placements the runner
starts and stops, or running servers) at a list of loads, and writes a report directory —
report.md, results.json/csv, PNG plots, every generator run's full report.

    bench/run-experiment.py bench/experiments/placement-sweep.yaml --out build/exp/sweep

docs/experiments.md describes the experiment file. Exit status: 0 every run completed (the errors
the servers answered are data in the report), 1 some deployment failed (listed in the report),
2 a bad experiment file or missing binaries (nothing was started)."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from experiment.deploy import ROOT, DeployError  # noqa: E402
from experiment.report import write_report  # noqa: E402
from experiment.runner import Runner  # noqa: E402
from experiment.spec import SpecError, load_experiment  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", nargs="?", help="the experiment file (YAML)")
    p.add_argument("--out", help="report directory (default: build/experiments/<name>)")
    p.add_argument("--build", default=os.path.join(ROOT, "build", "release"),
                   help="build tree with myelin and bench/loadgen/myelin-loadgen (default: build/release)")
    p.add_argument("--pg", metavar="CONNINFO",
                   help="use this PostgreSQL server (databases are created and dropped) instead of starting a "
                        "private one with scripts/test-services.sh")
    p.add_argument("--duration", type=float, help="replace the workload's measured window (seconds)")
    p.add_argument("--only", help="comma-separated deployment names to run (the others are left out)")
    p.add_argument("--keep-data", action="store_true", help="keep each deployment's database and media")
    p.add_argument("--check", action="store_true", help="check the experiment and the workload, start nothing")
    p.add_argument("--report-only", metavar="DIR", help="rewrite report.md and plots from DIR/results.json")
    args = p.parse_args()

    if args.report_only:
        with open(os.path.join(args.report_only, "results.json")) as f:
            results = json.load(f)
        write_report(results, args.report_only)
        print(os.path.join(args.report_only, "report.md"))
        return 0
    if not args.experiment:
        p.error("an experiment file is needed")
    try:
        ex = load_experiment(args.experiment)
        if args.only:
            wanted = [n.strip() for n in args.only.split(",")]
            unknown = [n for n in wanted if n not in [d.name for d in ex.deployments]]
            if unknown:
                raise SpecError(f"--only: no deployment named {', '.join(unknown)} "
                                f"(there are: {', '.join(d.name for d in ex.deployments)})")
            ex.deployments = [d for d in ex.deployments if d.name in wanted]
        if args.duration is not None and not 0 < args.duration <= 86400:
            raise SpecError("--duration must be in (0, 86400] seconds")
        out = args.out or os.path.join(ROOT, "build", "experiments", ex.name)
        runner = Runner(ex, out, args.build, pg_conninfo=args.pg, keep_data=args.keep_data, duration=args.duration)
        if args.check:
            runner.check()
            print(f"{args.experiment}: {len(ex.deployments)} deployments × {len(ex.loads)} loads; "
                  f"workload checked ({runner.workload_path})")
            return 0
        results = runner.run()
    except (SpecError, DeployError) as e:
        print(f"run-experiment: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("run-experiment: interrupted; deployments were stopped", file=sys.stderr)
        return 130
    write_report(results, out)
    print(os.path.join(out, "report.md"))
    return 1 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
