"""Benchmark: MSD and D of a paper-scale trajectory, lidiff vs MDAnalysis.

    .venv/bin/python benchmarks/bench_msd.py [--frames 90000] [--cells 5] [--mda-frames N]
                                             [--out benchmarks/RESULTS_msd.md] [--keep]

Data: a synthetic interstitial-Li trajectory
(:func:`lidiff_helpers.synthetic.trajectories.synthetic_interstitial_run`, 450 K, the study's
DeePMD D) of
a 5x5x5 LiF cell plus one Li (1001 atoms, 501 Li) with 90 000 frames (9 ns every 0.1 ps,
the study's production run), written as float32 in the compendium's trajectory format
(1.08 GB) and read back as a ``numpy.memmap``.

Each measurement runs in a fresh subprocess (so peak memory is its own) with
``OMP_NUM_THREADS=2``:

* ``lidiff msd``: :func:`lidiff_helpers.analysis.diffusion.msd` of the 501 Li (all time origins);
* ``lidiff D``: :func:`lidiff_helpers.analysis.diffusion.diffusion_coefficient` (framework-drift
  removal, three conventions, 5-block errors, unwrapping check) - the full analysis;
* ``lidiff msd (tracemalloc)``: the same MSD with ``tracemalloc`` on, for the heap peak;
* ``MDAnalysis``: ``EinsteinMSD(select="type Li", fft=True)`` on the same positions
  (``MemoryReader``), for ``--mda-frames`` frames (default: all).

Reported: wall time and CPU time of the process (all threads), s; peak resident memory
(``ru_maxrss``; for lidiff it includes the pages of the memory-mapped file it touched);
tracemalloc heap peak; the largest difference between the two MSDs. Writes a markdown
table to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GB = 1024 ** 3


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def make_data(path: Path, n_frames: int, n_cells: int) -> dict:
    from lidiff_helpers.analysis.arrhenius import arrhenius_D_cm2_s
    from lidiff_helpers.core import reference
    from lidiff_helpers.synthetic.trajectories import synthetic_interstitial_run

    deepmd = reference.TABLE3["deepmd"]
    D = arrhenius_D_cm2_s(450.0, deepmd.Ea_eV, deepmd.D0_cm2_s)
    t0 = time.perf_counter()
    run = synthetic_interstitial_run(450.0, D, duration_ps=(n_frames - 1) * 0.1,
                                     frame_interval_ps=0.1, n_cells=n_cells, seed=1)
    traj = run.write(path, info={"model": "synthetic", "benchmark": True})
    return {"n_frames": traj.n_frames, "n_atoms": traj.n_atoms,
            "n_li": int((traj.numbers == 3).sum()), "D_true_cm2_s": D,
            "bytes": traj.n_frames * traj.n_atoms * 3 * 4, "write_s": time.perf_counter() - t0,
            "n_events": len(run.events)}


def worker(kind: str, path: str, mda_frames: int | None) -> dict:
    import numpy as np

    from lidiff_helpers.analysis import diffusion
    from lidiff_helpers.io.trajectory import open_trajectory

    traj = open_trajectory(path)
    li = np.flatnonzero(traj.numbers == 3)
    base_rss = _rss_bytes()
    out: dict = {"kind": kind, "baseline_rss_bytes": base_rss}
    if kind in ("msd", "msd_tracemalloc"):
        if kind == "msd_tracemalloc":
            import tracemalloc

            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        res = diffusion.msd(traj.positions_A, traj.frame_interval_ps, atoms=li)
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - c0
        if kind == "msd_tracemalloc":
            out["heap_peak_bytes"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        np.save(Path(path) / "msd_lidiff.npy", res.msd_A2)
    elif kind == "D":
        t0, c0 = time.perf_counter(), time.process_time()
        r = diffusion.diffusion_coefficient(traj)
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - c0
        out.update({"D_defect_cm2_s": r.D_defect_cm2_s, "D_err_cm2_s": r.D_err_cm2_s,
                    "D_collective_cm2_s": r.D_collective_cm2_s,
                    "fit_window_ps": list(r.fit_window_ps)})
    elif kind == "mda":
        import MDAnalysis as mda
        from MDAnalysis.analysis.msd import EinsteinMSD
        from MDAnalysis.coordinates.memory import MemoryReader

        n = traj.n_frames if mda_frames is None else min(mda_frames, traj.n_frames)
        t_load = time.perf_counter()
        u = mda.Universe.empty(traj.n_atoms, trajectory=False)
        u.add_TopologyAttr("type", np.where(traj.numbers == 3, "Li", "F"))
        u.load_new(np.asarray(traj.positions_A[:n]), format=MemoryReader,
                   dt=traj.frame_interval_ps)
        out["load_s"] = time.perf_counter() - t_load
        t0, c0 = time.perf_counter(), time.process_time()
        m = EinsteinMSD(u, select="type Li", msd_type="xyz", fft=True).run()
        out["wall_s"] = time.perf_counter() - t0
        out["cpu_s"] = time.process_time() - c0
        out["n_frames"] = n
        ours = np.load(Path(path) / "msd_lidiff.npy") if n == traj.n_frames else \
            diffusion.msd(traj.positions_A, traj.frame_interval_ps, atoms=li, frames=(0, n)).msd_A2
        out["max_abs_diff_A2"] = float(np.max(np.abs(m.results.timeseries - ours)))
        out["max_msd_A2"] = float(np.max(ours))
    out["peak_rss_bytes"] = _rss_bytes()
    return out


def run_worker(kind: str, path: Path, mda_frames: int | None) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2",
           "MKL_NUM_THREADS": "2", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, __file__, "--worker", kind, "--data", str(path)]
    if mda_frames is not None:
        cmd += ["--mda-frames", str(mda_frames)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    if proc.returncode:
        return {"kind": kind, "error": proc.stderr.strip().splitlines()[-1:],
                "process_s": time.perf_counter() - t0}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_s"] = time.perf_counter() - t0
    return res


def report(meta: dict, res: dict, out: Path) -> str:
    size = meta["bytes"]

    def gb(b):
        return f"{b / GB:.2f} GiB" if b is not None else "-"

    def row(label, r, frames):
        if "error" in r:
            return f"| {label} | {frames} | failed: {r['error']} | | | | |"
        heap = r.get("heap_peak_bytes")
        above = r["peak_rss_bytes"] - r["baseline_rss_bytes"]
        cpu = f"{r['cpu_s']:.1f}" if "cpu_s" in r else "-"
        return (f"| {label} | {frames} | {r['wall_s']:.1f} | {cpu} | {gb(r['peak_rss_bytes'])} "
                f"({r['peak_rss_bytes'] / size:.2f}x) | {gb(above)} ({above / size:.2f}x) | "
                f"{gb(heap)} |")

    mda = res["mda"]
    mda_frames = mda.get("n_frames", meta["n_frames"])
    lines = [
        "# MSD benchmark (`benchmarks/bench_msd.py`)",
        "",
        (f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
        "OMP_NUM_THREADS=2 (machine shared with other jobs: wall times are upper bounds; "
        f"1-min load average {meta['load_before']:.1f} before, {meta['load_after']:.1f} "
        "after the measurements)."),
        "",
        (f"Trajectory: synthetic interstitial Li in LiF, {meta['n_atoms']} atoms "
        f"({meta['n_li']} Li analysed) x {meta['n_frames']} frames, float32 "
        f"= {gb(size)} on disk, read as a numpy memmap. Written in {meta['write_s']:.0f} s."),
        "",
        ("| method | frames | wall time / s | CPU time / s | peak RSS (x trajectory size) | "
        "peak RSS above the process after imports | tracemalloc heap peak |"),
        "|:--|--:|--:|--:|--:|--:|--:|",
        row(f"lidiff `msd` (FFT, {meta['n_li']} Li, all origins)", res["msd"],
            meta["n_frames"]),
        row("lidiff `msd`, tracemalloc on", res["msd_tracemalloc"], meta["n_frames"]),
        row("lidiff `diffusion_coefficient` (drift, 3 conventions, 5 blocks)", res["D"],
            meta["n_frames"]),
        row("MDAnalysis `EinsteinMSD(fft=True)` (tidynamics)", mda, mda_frames),
        "",
    ]
    if "error" not in mda:
        lines += [(f"MDAnalysis also needed {mda['load_s']:.1f} s to load the positions into a "
                  "`MemoryReader` (not counted above). Largest |MSD difference| lidiff vs "
                  f"MDAnalysis: {mda['max_abs_diff_A2']:.2e} A^2 (MSD up to "
                  f"{mda['max_msd_A2']:.1f} A^2)."), ""]
        if mda_frames != meta["n_frames"]:
            lines += [f"MDAnalysis was run on the first {mda_frames} frames only.", ""]
    if "error" not in res["D"]:
        d = res["D"]
        lines += [(f"`diffusion_coefficient`: D_defect = {d['D_defect_cm2_s']:.3e} +- "
                  f"{d['D_err_cm2_s']:.1e} cm^2/s (generated with "
                  f"{meta['D_true_cm2_s']:.3e} cm^2/s, {meta['n_events']} events), "
                  f"fit window {d['fit_window_ps'][0]:g}-{d['fit_window_ps'][1]:g} ps."), ""]
    lines += [("Peak RSS of lidiff includes the resident pages of the memory-mapped trajectory "
              "(file cache, reclaimable); the tracemalloc peak is its own heap allocation. "
              "Targets: <= 60 s, <= 1.5 x the trajectory size, faster than MDAnalysis."), ""]
    text = "\n".join(lines)
    raw = json.dumps({"meta": meta, "results": res}, indent=1)
    from lidiff_helpers.core import provenance

    def summary_row(method: str, r: dict) -> dict:
        if "wall_s" not in r:
            return {"method": method, "error": r.get("error", "not measured")}
        return {"method": method, "wall_s": r["wall_s"], "cpu_s": r.get("cpu_s"),
                "rss_x": r["peak_rss_bytes"] / size, "n_frames": r.get("n_frames",
                                                                        meta["n_frames"])}

    body = {"command": meta.get("command", "benchmarks/bench_msd.py"),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "n_atoms": meta["n_atoms"], "n_li": meta["n_li"], "n_frames": meta["n_frames"],
            "load_before": meta["load_before"], "load_after": meta["load_after"],
            "rows": [summary_row(k, res[key]) for k, key in
                     (("msd", "msd"), ("msd_tracemalloc", "msd_tracemalloc"), ("D", "D"),
                      ("mdanalysis", "mda"))],
            "meta": meta, "results": res, "provenance": provenance.record()}
    out.with_suffix(".json").write_text(json.dumps(body, indent=1, default=str))
    out.write_text(text + "\n<details><summary>raw measurements (JSON)</summary>\n\n```json\n"
                   + raw + "\n```\n</details>\n")
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=90000)
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--mda-frames", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS_msd.md")
    ap.add_argument("--keep", action="store_true", help="keep the trajectory")
    ap.add_argument("--worker", default=None)
    ap.add_argument("--data", default=None)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.data, a.mda_frames)))
        return 0
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="lidiff_bench_"))
    data = tmp / "traj"
    try:
        meta = make_data(data, a.frames, a.cells)
        meta["command"] = "benchmarks/bench_msd.py " + " ".join(
            argv if argv is not None else sys.argv[1:]).rstrip()
        print("data:", meta, flush=True)
        res = {}
        meta["load_before"] = os.getloadavg()[0]
        for kind in ("msd", "msd_tracemalloc", "D", "mda"):
            res[kind] = run_worker(kind, data, a.mda_frames)
            print(kind, res[kind], flush=True)
        meta["load_after"] = os.getloadavg()[0]
        print(report(meta, res, a.out))
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
