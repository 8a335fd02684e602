"""Force calls of the DFT NEB's optimizer choices, measured on a model surface.

    .venv/bin/python benchmarks/bench_neb_optimizers.py [--surface chgnet] [--start sevennet-0]
        [--out benchmarks/RESULTS_neb_optimizers.json]

Why: every force call of :func:`lidiff_helpers.workflows.dft_neb.dft_neb` is a pw.x
run of ~10 minutes, so the optimizer is chosen by how many calls it needs. Set-up as the
DFT NEB's: the collinear knock-off (65 atoms, study lattice), one interior image taken
from ``--start``'s converged band, end states relaxed (BFGS) on ``--surface`` (a model
standing in for DFT: another surface than the start band's), the final state by
inversion, fmax 0.05 eV/A. Per choice (:class:`lidiff_helpers.simulation.neb.NEBSettings`
``optimizer``, ``climb_from_start``): force calls of the plain-band stage and in all, the
barrier, converged or not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lidiff_helpers.core.provenance import git_commit, package_versions  # noqa: E402
from lidiff_helpers.simulation import neb  # noqa: E402
from lidiff_helpers.simulation.models import get_calculator, model_identity  # noqa: E402
from lidiff_helpers.workflows import dft_neb  # noqa: E402
from lidiff_helpers.workflows import dft_reference as dr  # noqa: E402

CHOICES = (("fire", False), ("bfgs", False), ("fire", True), ("bfgs", True))


def _counting(calc):
    from ase.calculators.calculator import Calculator, all_changes

    class Counting(Calculator):
        implemented_properties = ["energy", "free_energy", "forces"]
        n = 0

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            Counting.n += 1
            a = self.atoms.copy()
            a.calc = calc
            e = a.get_potential_energy()
            self.results = {"energy": e, "free_energy": e, "forces": a.get_forces()}

    return Counting()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--surface", default="chgnet")
    ap.add_argument("--start", default="sevennet-0")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS_neb_optimizers.json"))
    a = ap.parse_args(argv)
    band = dft_neb._start_band(dr.model_path(a.start), 1)
    calc = _counting(get_calculator(a.surface, dtype="float64", verbose=False))
    init, _, _ = neb.relax(band[0], calc, 0.05, 200)
    relax_calls = calc.n
    sym = neb.inversion_map(band[0], band[-1])
    fin = neb.invert(init, band[-1], sym[0], sym[1])
    rows = []
    for opt, from_start in CHOICES:
        s = neb.NEBSettings(n_images=1, fmax_eV_A=0.05, pre_fmax_eV_A=0.1, max_steps=300,
                            optimizer=opt, climb_from_start=from_start)
        type(calc).n, t0 = 0, time.time()
        r = neb.run_neb(init, fin, calc, s, mechanism="knockoff-collinear",
                        interior=band[1:-1])
        rows.append({"optimizer": opt, "climb_from_start": from_start,
                     "force_calls": calc.n, "barrier_eV": r.barrier_eV,
                     "converged": r.converged, "wall_s": round(time.time() - t0, 1)})
        print(rows[-1], flush=True)
    body = {"what": __doc__.splitlines()[0], "surface": model_identity(a.surface),
            "start_band": a.start, "relax_force_calls": relax_calls, "rows": rows,
            "command": "python benchmarks/bench_neb_optimizers.py", "commit": git_commit(),
            "versions": package_versions()}
    Path(a.out).write_text(json.dumps(body, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
