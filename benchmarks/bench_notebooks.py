"""Benchmark: wall time of every notebook in the ci profile (what `make test` executes).

    .venv/bin/python benchmarks/bench_notebooks.py [--out benchmarks/RESULTS_notebooks.json]

Runs ``python -m lidiff_helpers.run --profile ci`` into a fresh temporary results folder
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS_notebooks.json")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lidiff_bench_nb_") as tmp:
        env = {**os.environ, "LIDIFF_RESULTS_DIR": tmp, "LIDIFF_OFFLINE": "1"}
        load0 = os.getloadavg()[0]
        subprocess.run([sys.executable, "-m", "lidiff_helpers.run", "--profile", "ci"],
                       cwd=ROOT, env=env, check=True)
        load1 = os.getloadavg()[0]
        summary = json.loads((Path(tmp) / "ci" / "summary.json").read_text())
    times = {k: round(float(v["wall_time_s"]), 1) for k, v in sorted(summary["notebooks"].items())}
    body = {"command": "benchmarks/bench_notebooks.py", "profile": "ci",
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs visible",
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "load_before": load0, "load_after": load1, "wall_time_s": times,
            "provenance": next(iter(summary["notebooks"].values()))["provenance"]}
    a.out.write_text(json.dumps(body, indent=1) + "\n")
    md = ["# ci notebooks (`benchmarks/bench_notebooks.py`)", "",
          f"Measured {body['date']} on {body['machine']}, OMP_NUM_THREADS="
          f"{body['omp_num_threads']}, load average {load0:.1f} before / {load1:.1f} after.",
          "", "| notebook | wall time / s |", "|:--|--:|"]
    md += [f"| {k} | {v:.0f} |" for k, v in times.items()]
    md += ["", f"Total {sum(times.values()):.0f} s. Budget: 120 s per notebook.", ""]
    a.out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
