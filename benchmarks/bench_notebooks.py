"""Benchmark: wall time of every notebook in a profile: ci (what `make test` executes) or
quick (what `make all` runs; its budget is 25 minutes on 2 cores).

    .venv/bin/python benchmarks/bench_notebooks.py [--profile ci|quick] [--out FILE.json]

(default ``--out``: ``benchmarks/RESULTS_notebooks.json`` for ci,
``benchmarks/RESULTS_notebooks_quick.json`` for quick)

Runs ``python -m lidiff_helpers.run --profile <profile>`` into a fresh temporary results folder
(``LIDIFF_RESULTS_DIR``), so earlier results are neither reused nor touched, and writes
the per-notebook wall times (s, from each notebook's summary) with the machine's load
average, to JSON and a Markdown table beside it. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the budget each profile is held to (README, Profiles)
BUDGET_S = {"ci": "120 s per notebook", "quick": "1500 s in all (make all)"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=sorted(BUDGET_S), default="ci")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    if a.out is None:
        a.out = ROOT / "benchmarks" / ("RESULTS_notebooks.json" if a.profile == "ci"
                                       else f"RESULTS_notebooks_{a.profile}.json")
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="lidiff_bench_nb_") as tmp:
        env = {**os.environ, "LIDIFF_RESULTS_DIR": tmp, "LIDIFF_OFFLINE": "1"}
        load0 = os.getloadavg()[0]
        subprocess.run([sys.executable, "-m", "lidiff_helpers.run", "--profile", a.profile],
                       cwd=ROOT, env=env, check=True)
        load1 = os.getloadavg()[0]
        summary = json.loads((Path(tmp) / a.profile / "summary.json").read_text())
    total = time.time() - t0
    times = {k: round(float(v["wall_time_s"]), 1) for k, v in sorted(summary["notebooks"].items())}
    command = "benchmarks/bench_notebooks.py" + ("" if a.profile == "ci"
                                                  else f" --profile {a.profile}")
    body = {"command": command, "profile": a.profile,
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible",
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_before": load0, "load_after": load1, "wall_time_s": times,
            "total_wall_time_s": round(total, 1), "budget": BUDGET_S[a.profile],
            "provenance": next(iter(summary["notebooks"].values()))["provenance"]}
    a.out.write_text(json.dumps(body, indent=1) + "\n")
    md = [f"# {a.profile} notebooks (`{command}`)", "",
          f"Measured {body['date']} on {body['machine']}, OMP_NUM_THREADS="
          f"{body['omp_num_threads']}, load average {load0:.1f} before / {load1:.1f} after.",
          "", "| notebook | wall time / s |", "|:--|--:|"]
    md += [f"| {k} | {v:.0f} |" for k, v in times.items()]
    md += ["", f"Notebooks {sum(times.values()):.0f} s; whole run (kernel starts included) "
           f"{total:.0f} s. Budget: {BUDGET_S[a.profile]}.", ""]
    a.out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
