r"""A DFT climbing-image NEB of the collinear knock-off at the study's level of theory.

The collinear knock-off (65 atoms, the study's lattice) with ASE's NEB with the labeller as calculator, starting from a model's converged band
(SevenNet-0's by default), end states relaxed in DFT. Every pw.x call is cached per
structure, so a stopped run (``max_seconds``) started again replays the calls made and
continues: about a day of CPU at 110 / 440 Ry over several runs. ``cutoffs_Ry`` may be
lowered for the path search; the band is then recomputed at the study's cutoffs.

The result (``data/dft/neb_knockoff_collinear.json``: barrier, energies, the band, the
climbing image's force, settings, datasets' hashes, pw.x CPU) is what
:func:`study_level_barrier` gives notebook 05, the README and the softening figure. The
command line is :mod:`lidiff_helpers.workflows.dft_reference`'s ``neb``; the pw.x runs of
a stopped search are committed under ``data/dft/pw-labels/neb-pw-<cutoffs>/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.workflows.dft_common import (
    DFT_DIR,
    MECHANISM,
    STATE,
    STUDY_CUTOFFS_RY,
    WORKDIR,
    committed_state,
    model_path,
    path_image,
    qe_provenance,
    write_result,
)

__all__ = ["NEB_FILE", "STUDY_LEVEL_LABEL", "dft_neb", "study_level_barrier"]

#: the committed DFT NEB result
NEB_FILE = DFT_DIR / "neb_knockoff_collinear.json"


def _pw_cpu_s(folder: Path) -> float:
    """CPU seconds of every pw.x run under ``folder`` (each output's last "total cpu time",
    restarts and earlier outputs included)."""
    total = 0.0
    for f in Path(folder).rglob("espresso.pwo*"):
        hits = re.findall(r"total cpu time spent up to now is\s+([\d.]+) secs",
                          f.read_text(errors="replace"))
        total += float(hits[-1]) if hits else 0.0
    return round(total, 1)


def _final_state_text(sym) -> str:
    """How the NEB's final state was made (an :func:`~lidiff_helpers.simulation.neb.
    inversion_map` result or None)."""
    if sym is None:
        return "relaxed in DFT"
    return (f"the DFT-relaxed initial state inverted through {np.round(sym[0], 4).tolist()} "
            f"A (the start band's end states map so to {sym[2]:.4f} A)")


def _start_band(res: dict, n_images: int | None) -> list:
    """The start band's images (a :func:`model_path` result): all of them, or the end
    states and ``n_images`` interior images around the climbing image."""
    from lidiff_helpers.core.errors import ParameterError

    band = [path_image(res, k) for k in range(len(res["positions"]))]
    n_int = len(band) - 2
    if n_images is None or int(n_images) == n_int:
        return band
    if not 1 <= int(n_images) <= n_int:
        raise ParameterError(f"n_images must be 1..{n_int} (the start band's interior), "
                             f"got {n_images}")
    lo = min(max(1, int(res["climbing_index"]) - (int(n_images) - 1) // 2),
             n_int + 1 - int(n_images))
    return [band[0], *band[lo:lo + int(n_images)], band[-1]]


def dft_neb(workdir: str | Path = WORKDIR, out: str | Path | None = NEB_FILE,
            start: str = "sevennet-0", cutoffs_Ry: Sequence[float] = STUDY_CUTOFFS_RY,
            fmax_eV_A: float = 0.05, max_steps: int = 200, command: str = "pw.x",
            max_seconds: float | None = None, labeller=None, full_labeller=None,
            state: str | Path | None = STATE, n_images: int | None = None,
            symmetric_final: bool = True, optimizer: str = "bfgs",
            climb_from_start: bool = True) -> dict:
    """DFT CI-NEB of the collinear knock-off (module docstring). ``start``: the model whose
    converged band (:func:`model_path`) is the starting band; ``labeller``: the referee
    (default: pw.x at the study's settings and ``cutoffs_Ry``); ``full_labeller``: the
    study-cutoff recomputation when ``cutoffs_Ry`` are lower (default: pw.x at 110 / 440).
    Writes ``out`` when paused (status ``in progress``, pw.x CPU so far) and when done
    (barrier, energies, climbing-image force, the band, CPU). ``state``: committed finished
    pw.x runs (:data:`STATE`), read before and added to after (only with the default
    labellers; None: none). ``n_images``: interior images (None: the start band's; fewer:
    the start band's images around its climbing image; 1 is a climbing image alone, where
    the symmetric knock-off's saddle lies midway between its end states).
    ``symmetric_final``: when the start band's end states map onto each other by inversion
    (:func:`~lidiff_helpers.simulation.neb.inversion_map`), the final state is the
    DFT-relaxed initial state inverted, not relaxed again (its DFT energy is still computed:
    the endpoint asymmetry checks the symmetry). ``optimizer``, ``climb_from_start``: as
    :class:`~lidiff_helpers.simulation.neb.NEBSettings`; the default (BFGS climbing from
    the start band) needs the fewest force calls (``benchmarks/RESULTS_neb_optimizers.json``)."""
    from lidiff_helpers.simulation import neb
    from lidiff_helpers.simulation.models import model_identity
    from lidiff_helpers.training.labelling import (
        LabellingInterrupted,
        QuantumEspressoLabeller,
        labeller_calculator,
    )

    ec = tuple(float(x) for x in cutoffs_Ry)
    folder = Path(workdir) / f"neb-pw-{ec[0]:g}-{ec[1]:g}"
    lab = labeller or QuantumEspressoLabeller(workdir=folder, command=command,
                                              max_seconds=max_seconds, ecutwfc_Ry=ec[0],
                                              ecutrho_Ry=ec[1])
    res = model_path(start, workdir)
    band = _start_band(res, n_images)
    sym = neb.inversion_map(band[0], band[-1]) if symmetric_final else None
    body = {"what": "DFT climbing-image NEB of the collinear knock-off (65 atoms, study "
            "lattice), ASE NEB with pw.x as calculator",
            "command": "python -m lidiff_helpers.workflows.dft_reference neb",
            "start_band": start, "start_sha256": model_identity(start)["sha256"],
            "start_barrier_eV": res["barrier_eV"], "cutoffs_Ry": list(ec),
            "fmax_eV_A": fmax_eV_A, "max_steps": max_steps, "n_images": len(band) - 2,
            "optimizer": optimizer, "climb_from_start": climb_from_start,
            "final_state": _final_state_text(sym), "referee": lab.source,
            **qe_provenance(lab, command)}
    calc = labeller_calculator(lab)
    settings = neb.NEBSettings(n_images=len(band) - 2, fmax_eV_A=fmax_eV_A,
                               pre_fmax_eV_A=max(fmax_eV_A, 0.1), max_steps=max_steps,
                               optimizer=optimizer, climb_from_start=climb_from_start)
    folders = ([] if labeller is not None else [folder]) + \
        ([] if full_labeller is not None else [Path(workdir) / "neb-pw-study"])
    with committed_state(folders, state):
        try:
            init, _, ok_i = neb.relax(band[0], calc, fmax_eV_A, max_steps)
            if sym is None:
                fin, _, ok_f = neb.relax(band[-1], calc, fmax_eV_A, max_steps)
            else:
                fin, ok_f = neb.invert(init, band[-1], sym[0], sym[1]), ok_i
            r = neb.run_neb(init, fin, calc, settings, mechanism=MECHANISM,
                            interior=band[1:-1])
        except LabellingInterrupted as exc:
            body.update(status="in progress", note=str(exc), labels_this_run=calc.n_labels,
                        pw_cpu_s=_pw_cpu_s(folder))
            write_result(out, body, [])
            raise
        body.update(status="done", barrier_eV=r.barrier_eV, energies_eV=list(r.energies_eV),
                    climbing_index=r.climbing_index, climbing_fmax_eV_A=r.climbing_fmax_eV_A,
                    converged=r.converged, endpoints_relaxed=[ok_i, ok_f], n_steps=r.n_steps,
                    endpoint_asymmetry_eV=r.endpoint_asymmetry_eV,
                    labels_this_run=calc.n_labels, pw_cpu_s=_pw_cpu_s(folder),
                    positions=[im.positions.tolist() for im in r.images],
                    numbers=r.images[0].numbers.tolist(), cell=r.images[0].cell.tolist())
        if ec != STUDY_CUTOFFS_RY or full_labeller is not None:
            full = full_labeller or QuantumEspressoLabeller(
                workdir=Path(workdir) / "neb-pw-study", command=command, max_seconds=max_seconds)
            e = [x.info["REF_energy"] for x in full.label(r.images, progress=True)]
            body.update(barrier_study_cutoffs_eV=float(e[r.climbing_index] - e[0]),
                        energies_study_cutoffs_eV=[float(x - e[0]) for x in e],
                        pw_cpu_s_study_cutoffs=_pw_cpu_s(Path(workdir) / "neb-pw-study"))
        write_result(out, body, [])
        return body


#: how tables and figures name :func:`study_level_barrier`
STUDY_LEVEL_LABEL = "DFT, the study's level of theory (this compendium)"


def study_level_barrier(path: str | Path | None = None) -> dict | None:
    """The compendium's own DFT CI-NEB barrier of the collinear knock-off (the committed
    :func:`dft_neb` result) once it is done, else None: ``barrier_eV`` at the study's
    110 / 440 Ry (recomputed on the path when the search used lower cutoffs),
    ``cutoffs_Ry`` the path search's, ``converged``, ``n_images``, ``label``."""
    n = json.loads(Path(path or NEB_FILE).read_text()) if Path(path or NEB_FILE).is_file() \
        else None
    if not n or n.get("status") != "done":
        return None
    return {"barrier_eV": float(n.get("barrier_study_cutoffs_eV", n["barrier_eV"])),
            "search_barrier_eV": float(n["barrier_eV"]), "cutoffs_Ry": n["cutoffs_Ry"],
            "converged": bool(n["converged"]), "n_images": n.get("n_images"),
            "label": STUDY_LEVEL_LABEL}
