"""Benchmark and reference numbers: CI-NEB barriers of the committed/available models.

    .venv/bin/python benchmarks/bench_barriers.py [--models embedded chgnet]
        [--mechanisms ...] [--images 5] [--fmax 0.03] [--out benchmarks/RESULTS_barriers.json]

For each model: the four mechanisms of :mod:`lidiff_helpers.simulation.neb` on 2x2x2
LiF + 1 Li (65 atoms) at the study's lattice constant (20.41714 A / 5) and, for MACE
models, at the model's own relaxed lattice constant; the harmonic-TST prefactor of the
lowest knock-off (partial Hessian within 2.6 A of the moving Li). Wall time of every NEB
(2 threads; the issue's target: one MACE knock-off in at most 3 minutes). Resumable: a
finished (model file's SHA256, mechanism, lattice) is read back from the JSON, so rows of
a model that has since been replaced under the same spec (``embedded`` was v1 before
v2) stay, and the new file is measured beside them; the README names each row by the
committed spec of its hash (``embedded-v1``). Each row records the date and commit it was
measured at.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lidiff_helpers.analysis import tst  # noqa: E402
from lidiff_helpers.core.provenance import git_commit, package_versions  # noqa: E402
from lidiff_helpers.core.units import LIF_A_STUDY_A  # noqa: E402
from lidiff_helpers.simulation import neb  # noqa: E402
from lidiff_helpers.simulation.models import get_calculator, model_identity  # noqa: E402


def _htst(calc, res: neb.NEBResult, cutoff_A: float, workdir: Path) -> dict:
    e_min, e_sad, idx = neb.harmonic_modes(calc, res.images[0], res.saddle, res.moving,
                                           cutoff_A, 0.01, workdir)
    try:
        h = tst.vineyard(e_min, e_sad)
        return {"prefactor_THz": h.prefactor_THz, "imaginary_THz": h.imaginary_THz,
                "hessian_atoms": len(idx)}
    except tst.InputError as exc:
        return {"error": str(exc), "hessian_atoms": len(idx)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["embedded", "chgnet"])
    ap.add_argument("--mechanisms", nargs="+", default=list(neb.MECHANISMS))
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--fmax", type=float, default=0.03)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS_barriers.json"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    body = json.loads(out.read_text()) if out.is_file() else {"rows": []}
    done = {(r["sha256"], r["mechanism"], r["lattice"]) for r in body["rows"]}
    s = neb.NEBSettings(n_images=a.images, fmax_eV_A=a.fmax)
    cmd = " ".join(["python benchmarks/bench_barriers.py", *(argv or sys.argv[1:])])
    body["commands"] = list(dict.fromkeys([*body.get("commands", []), cmd]))
    measured = {"date": time.strftime("%Y-%m-%d"), "commit": git_commit().get("commit")}
    # the body's date and commit are the last run's; each row keeps its own (rows of
    # several runs, days apart, live in one file)
    body.update(settings=vars(s), threads=int(os.environ.get("OMP_NUM_THREADS", "0") or 0),
                machine=platform.processor() or platform.machine(),
                versions=package_versions(), **measured)
    for spec in a.models:
        calc = get_calculator(spec, dtype="float64", verbose=False)
        ident = model_identity(spec)
        lattices = {"study": LIF_A_STUDY_A}
        if spec != "chgnet":
            from lidiff_helpers.simulation.bulk import relaxed_lattice_constant

            lattices["own"] = relaxed_lattice_constant(calc, a_guess_A=LIF_A_STUDY_A)
        for lat, a_A in lattices.items():
            ini = None
            for mech in a.mechanisms:
                if (ident.get("sha256"), mech, lat) in done:
                    continue
                t0 = time.time()
                if ini is None:
                    ini = neb.relax(neb.endpoints(mech, 2, a_A)[0], calc, s.fmax_eV_A)[0]
                r = neb.barrier(mech, calc, 2, a_A, s, relaxed_initial=ini)
                row = {"model": spec, "sha256": ident.get("sha256"), "mechanism": mech,
                       "lattice": lat, "a_A": a_A, "wall_s": round(time.time() - t0, 1),
                       **measured,
                       **{k: v for k, v in r.summary().items()
                          if k not in ("energies_eV", "path_A", "moving")}}
                if mech == "knockoff-collinear" and lat == "study" and spec != "chgnet":
                    row["htst"] = _htst(calc, r, 2.6,
                                        ROOT / "results" / "benchmark-barriers" / spec)
                body["rows"].append(row)
                out.write_text(json.dumps(body, indent=1) + "\n")
                print(f"{spec} {lat} {mech}: {r.barrier_eV:.4f} eV "
                      f"(converged {r.converged}) {row['wall_s']} s", flush=True)
    out.write_text(json.dumps(body, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
