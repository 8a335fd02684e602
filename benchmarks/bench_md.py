"""MD throughput: ms per step and ps/day, and the runner's overhead over a bare ASE loop.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_md.py            # writes RESULTS_md.md
    .venv/bin/python benchmarks/bench_md.py --steps 217=20 1001=20 --out /tmp/x.md  # smoke

For each cell - 3x3x3 LiF + 1 Li (217 atoms, the quick profile) and 5x5x5 + 1 Li (1001
atoms, the study's) - the same calculator object (the embedded foundation model,
float32; the tiny test model if the embedded one is missing, and the results say so) runs

* bare: ASE's ``NoseHooverChainNVT.run(n)`` with ``MACECalculator``, nothing saved;
* runner: :func:`lidiff_helpers.simulation.md.run_md` on the same system (guard every step, thermo
  line + distance check + frame every ``save_every`` steps, checkpoints), timed over its
  MD loop;

alternating bare/runner blocks (``--repeats``) so that load from other processes hits
both alike; reported: median wall ms/step, CPU ms/step (this process's CPU time, less
sensitive to other processes), ps/day at 1 fs and the overhead (runner / bare - 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lidiff_helpers.simulation import md, models  # noqa: E402
from lidiff_helpers.simulation.structures import lif_supercell  # noqa: E402

SAVE_EVERY = {217: 10, 1001: 20}   # 1001: more often than the study's 100 (upper bound)
CELLS = {217: 3, 1001: 5}


def bare(calc, n_cells: int, n_steps: int, seed: int = 1) -> tuple[float, float]:
    """(wall s, CPU s) of ``n_steps`` of ASE's NoseHooverChainNVT, after 2 warm-up steps."""
    from ase import units
    from ase.md.nose_hoover_chain import NoseHooverChainNVT
    from ase.md.velocitydistribution import Stationary, thermalize_momenta

    at = lif_supercell(n_cells)
    thermalize_momenta(at, 800.0, rng=np.random.default_rng(seed))
    Stationary(at)
    at.calc = calc
    dyn = NoseHooverChainNVT(at, timestep=1.0 * units.fs, temperature_K=800.0,
                             tdamp=100.0 * units.fs)
    dyn.run(2)
    w, c = time.perf_counter(), time.process_time()
    dyn.run(n_steps)
    return time.perf_counter() - w, time.process_time() - c


def runner(calc, n_cells: int, n_steps: int, save_every: int, folder: Path,
           seed: int = 1) -> tuple[float, float]:
    """(wall s, CPU s) of the runner's MD loop over ``n_steps`` (its own loop timing, which
    covers guard, thermo, frames and the final checkpoint; setup excluded)."""
    r = md.MDRun(name=f"bench{n_cells}", model_spec="bench", model="bench",
                 start_structure="lif", temperature_K=800.0, production_ps=n_steps / 1000.0,
                 save_every=save_every, seed=seed, checkpoint_every_s=120)
    st = md.run_md(r, folder, calculator=calc, atoms=lif_supercell(n_cells), progress=False,
                   restart=True)
    return st["ms_per_step"] * n_steps / 1e3, st["cpu_ms_per_step"] * n_steps / 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None,
                    help="model spec (default: embedded, else the tiny test model)")
    ap.add_argument("--steps", nargs="*", default=["217=200", "1001=40"],
                    help="atoms=steps per timed block")
    ap.add_argument("--repeats", type=int, default=2, help="alternating bare/runner blocks")
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_md.md")))
    args = ap.parse_args(argv)
    import torch

    spec = args.model
    note = ""
    if spec is None:
        if models.EMBEDDED.is_file():
            spec = "embedded"
        else:
            spec = str(ROOT / "tests" / "models" / "tiny-lif.model")
            note = ("**The embedded model (data/models/lidiff-embedded.model) did not exist "
                    "yet: these numbers are for the tiny 8-channel test model, far cheaper "
                    "than the real one. Rerun when the embedded model is committed.**")
    ident = models.model_identity(spec)
    calc = models.get_calculator(spec, dtype="float32", verbose=False)
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for item in args.steps:
            n_atoms, n_steps = (int(x) for x in item.split("="))
            n_cells, save_every = CELLS[n_atoms], SAVE_EVERY[n_atoms]
            b, r = [], []
            for _ in range(args.repeats):
                b.append(bare(calc, n_cells, n_steps))
                r.append(runner(calc, n_cells, n_steps, save_every, Path(tmp)))
                print(f"{n_atoms} atoms: bare {b[-1][0] / n_steps * 1e3:.1f} ms/step, runner "
                      f"{r[-1][0] / n_steps * 1e3:.1f} ms/step", flush=True)
            bw = statistics.median(x[0] for x in b) / n_steps * 1e3
            bc = statistics.median(x[1] for x in b) / n_steps * 1e3
            rw = statistics.median(x[0] for x in r) / n_steps * 1e3
            rc = statistics.median(x[1] for x in r) / n_steps * 1e3
            rows.append({"atoms": n_atoms, "steps": n_steps, "save_every": save_every,
                         "bare_ms": bw, "runner_ms": rw, "bare_cpu_ms": bc, "runner_cpu_ms": rc,
                         "ps_day": 86400.0 / (rw / 1000.0) * 1e-3,
                         "over_wall": rw / bw - 1, "over_cpu": rc / bc - 1})
    # threads vs processes: one 217-atom run on 1 thread (two such runs fit 2 cores)
    n1 = {int(a): int(b) for a, b in (i.split("=") for i in args.steps)}.get(217)
    one_thread = None
    if n1:
        nt = torch.get_num_threads()
        torch.set_num_threads(1)
        one_thread = statistics.median(bare(calc, 3, n1)[0] for _ in range(args.repeats))
        one_thread = one_thread / n1 * 1e3
        torch.set_num_threads(nt)
    load1 = os.getloadavg()
    lines = [
        "# MD benchmark (benchmarks/bench_md.py)", "",
        f"- date (UTC): {dt.datetime.now(dt.timezone.utc).isoformat(timespec='minutes')}",
        f"- model: `{ident['name']}` ({spec}), SHA256 {str(ident['sha256'])[:16]}, float32, CPU",
        f"- torch threads: {torch.get_num_threads()} (OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}), {os.cpu_count()} cores visible, "
        f"{platform.processor() or platform.machine()}",
        f"- load average at start / end: {load0[0]:.1f} / {load1[0]:.1f} (other jobs share "
        "the machine: wall times are inflated when it exceeds the core count; CPU times "
        "less so)",
        f"- {args.repeats} alternating bare/runner blocks per size, medians; NVT 800 K, 1 fs",
        "",
    ]
    if note:
        lines += [note, ""]
    lines += ["| atoms | steps/block | save every | bare ms/step | runner ms/step | "
              "bare CPU ms/step | runner CPU ms/step | runner ps/day | overhead (wall) | "
              "overhead (CPU) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for x in rows:
        lines.append(f"| {x['atoms']} | {x['steps']} | {x['save_every']} | {x['bare_ms']:.1f} "
                     f"| {x['runner_ms']:.1f} | {x['bare_cpu_ms']:.1f} | {x['runner_cpu_ms']:.1f}"
                     f" | {x['ps_day']:.0f} | {100 * x['over_wall']:+.1f} % | "
                     f"{100 * x['over_cpu']:+.1f} % |")
    if one_thread is not None:
        two = next(x["bare_ms"] for x in rows if x["atoms"] == 217)
        lines += ["", f"217 atoms on 1 thread (bare): {one_thread:.1f} ms/step, so "
                  f"{torch.get_num_threads()} threads speed one run up "
                  f"{one_thread / two:.2f}x; two 1-thread runs side by side (max_workers=2, "
                  "threads_per_run=1) beat one 2-thread run when that factor is below 2."]
    lines += ["", "Overhead target: at most 5 %. ps/day = 86400 s / (ms per step) x 1 fs.", ""]
    Path(args.out).write_text("\n".join(lines))
    from lidiff_helpers.core import provenance

    body = {"command": ("benchmarks/bench_md.py " + " ".join(
                argv if argv is not None else sys.argv[1:])).rstrip(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "model": ident["name"], "sha256": str(ident["sha256"]), "dtype": "float32",
            "threads": torch.get_num_threads(), "repeats": args.repeats,
            "load_before": load0[0], "load_after": load1[0], "rows": rows,
            "one_thread_ms": one_thread, "note": note or None,
            "provenance": provenance.record(models=[ident])}
    Path(args.out).with_suffix(".json").write_text(json.dumps(body, indent=1, default=str))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
