"""Benchmark: wall time of one force call (energy, forces, stress) per model and cell size.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_force_calls.py \
        [--models embedded sevennet-0 chgnet] [--sizes 65 217] [--repeats 5]

For each model and cell (2x2x2 LiF + 1 Li = 65 atoms, 3x3x3 + 1 = 217 atoms, at the study's
lattice, rattled 0.05 A, seed 0): one warm-up call, then the median and the spread of
``--repeats`` calls on freshly rattled copies (so no result is cached), in the model's
NEB/validation precision (float64; SevenNet-0's network is float32 whatever is asked).
Writes ``benchmarks/RESULTS_force_calls.json`` with threads, machine, load, commit and
package versions. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lidiff_helpers.core.provenance import git_commit, package_versions
from lidiff_helpers.simulation.models import get_calculator, model_identity
from lidiff_helpers.simulation.structures import lif_supercell

CELLS = {65: 2, 217: 3}


def time_calls(calc, n_atoms: int, repeats: int, seed: int = 0) -> list[float]:
    """Wall seconds of ``repeats`` force calls (after one warm-up) on rattled cells."""
    rng = np.random.default_rng(seed)
    base = lif_supercell(CELLS[n_atoms])
    out = []
    for k in range(repeats + 1):
        at = base.copy()
        at.positions += rng.normal(0.0, 0.05, at.positions.shape)
        at.calc = calc
        t0 = time.perf_counter()
        at.get_forces()
        at.get_stress()
        if k:
            out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["embedded", "sevennet-0", "chgnet"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[65, 217], choices=sorted(CELLS))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS_force_calls.json"))
    a = ap.parse_args(argv)
    rows = []
    load = os.getloadavg()[0]
    for spec in a.models:
        calc = get_calculator(spec, dtype="float64", verbose=False)
        ident = model_identity(spec)
        for n in a.sizes:
            t = time_calls(calc, n, a.repeats)
            rows.append({"model": spec, "sha256": ident.get("sha256"), "n_atoms": n,
                         "median_s": float(np.median(t)), "min_s": float(np.min(t)),
                         "max_s": float(np.max(t)), "repeats": a.repeats})
            print(f"{spec} {n} atoms: {np.median(t):.3f} s per call "
                  f"({np.min(t):.3f}-{np.max(t):.3f})", flush=True)
    body = {"rows": rows, "threads": int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
            "load_before": round(load, 2), "machine": platform.processor() or platform.machine(),
            "commit": git_commit().get("commit"), "versions": package_versions(),
            "date": time.strftime("%Y-%m-%d"),
            "command": " ".join(["python benchmarks/bench_force_calls.py",
                                 *(argv or sys.argv[1:])])}
    Path(a.out).write_text(json.dumps(body, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
