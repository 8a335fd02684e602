"""MD throughput of the two engines: atom-steps per second, ASE runner vs batched (torch-sim).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_md_batched.py      # CPU, writes RESULTS_md_batched.json
    .venv/bin/python benchmarks/bench_md_batched.py --device cuda --sizes 217 1001 --replicas 1 4 16 40 \
        --out benchmarks/RESULTS_md_batched_gpu.json       # a GPU: the gpu profile's 40 x 1001 atoms
    .venv/bin/python benchmarks/bench_md_batched.py --replicas 1 2 --sizes 65 --steps 10 --out /tmp/x.json  # smoke

For each cell size (2x2x2 LiF + 1 Li = 65 atoms, 3x3x3 + 1 Li = 217 atoms; 5x5x5 + 1 Li =
1001 atoms, the study's, on a GPU) and each number
of replicas (1, 4, 16 by default), both engines run the same NVT runs (embedded
foundation model, float32, 800 K, 1 fs, a frame every 10 steps, full guard) through the
real runners:

* ``ase``: :func:`lidiff_helpers.simulation.md.run_md`, the replicas one after another
  (what one process does today);
* ``batched``: :func:`lidiff_helpers.simulation.md_batched.run_batched`, all replicas in
  one torch-sim state, one model call per step.

Timed: each runner's own MD-loop timing (``ms_per_step`` in ``status.json``, setup and
model loading excluded); atom-steps/s = replicas x atoms x steps / wall time. Run it on a
quiet machine (one benchmark at a time, nothing else on the cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CELLS = {65: 2, 217: 3, 1001: 5}   # n atoms -> LiF cells per edge (+ 1 interstitial Li)


def _runs(engine: str, n_atoms: int, n_replicas: int, n_steps: int, device: str):
    from lidiff_helpers.simulation.md import MDRun

    return [MDRun(name=f"{engine}{n_atoms}r{n_replicas}_{i}", model_spec="embedded",
                  model="embedded", start_structure=f"lif:{CELLS[n_atoms]}",
                  temperature_K=800.0, seed=i, production_ps=n_steps / 1000.0,
                  equilibration_ps=0.0, save_every=10, dtype="float32", device=device,
                  checkpoint_every_s=600.0, engine=engine) for i in range(n_replicas)]


def measure(engine: str, n_atoms: int, n_replicas: int, n_steps: int, device: str,
            folder: Path) -> dict:
    """One engine on ``n_replicas`` runs of ``n_atoms``: wall s of the MD loops and
    atom-steps per second."""
    from lidiff_helpers.simulation.md import run_md
    from lidiff_helpers.simulation.md_batched import run_batched

    runs = _runs(engine, n_atoms, n_replicas, n_steps, device)
    if engine == "ase":
        recs = [run_md(r, folder, progress=False, restart=True) for r in runs]
        wall_s = sum(r["ms_per_step"] * n_steps / 1e3 for r in recs)
    else:
        recs = run_batched(runs, folder, progress=False, restart=True)
        wall_s = recs[0]["ms_per_step"] * n_steps / 1e3
    assert all(r["status"] == "done" for r in recs), [r["status"] for r in recs]
    return {"engine": engine, "n_atoms": n_atoms, "n_replicas": n_replicas,
            "n_steps": n_steps, "wall_s": wall_s,
            "ms_per_step_per_replica": 1e3 * wall_s / (n_steps * n_replicas),
            "atom_steps_per_s": n_atoms * n_replicas * n_steps / wall_s,
            "us_per_atom_step": 1e6 * wall_s / (n_atoms * n_replicas * n_steps)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", type=int, nargs="+", default=[65, 217], choices=sorted(CELLS),
                    help="atoms per cell")
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--steps", type=int, default=20, help="timed MD steps per run (a multiple of 10, the frame interval)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS_md_batched.json")
    a = ap.parse_args(argv)
    import torch

    from lidiff_helpers.core import provenance
    from lidiff_helpers.simulation import models

    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.sizes:
            for k in a.replicas:
                for engine in ("ase", "batched"):
                    r = measure(engine, n, k, a.steps, a.device, Path(tmp))
                    print(f"{engine:8s} {n:5d} atoms x {k:3d}: {r['atom_steps_per_s']:9.0f} "
                          f"atom-steps/s ({r['us_per_atom_step']:.1f} us/atom-step)", flush=True)
                    rows.append(r)
    for r in rows:
        ase = next(x for x in rows if x["engine"] == "ase" and x["n_atoms"] == r["n_atoms"]
                   and x["n_replicas"] == r["n_replicas"])
        r["speedup_vs_ase"] = r["atom_steps_per_s"] / ase["atom_steps_per_s"]
    dev = (torch.cuda.get_device_name(0) if a.device.startswith("cuda")
           else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    out = {"command": " ".join(["benchmarks/bench_md_batched.py"] + (argv or sys.argv[1:])),
           "date": dt.date.today().isoformat(), "device": a.device, "device_name": dev,
           "torch_threads": torch.get_num_threads(), "load_before": load,
           "model": models.model_identity("embedded"), "dtype": "float32", "rows": rows,
           "provenance": provenance.record(parameters=vars(a) | {"out": str(a.out)})}
    a.out.write_text(json.dumps(out, indent=1, default=str))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
