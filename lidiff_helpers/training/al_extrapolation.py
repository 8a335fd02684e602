r"""Active learning by extrapolation grade: the MLIP-3 workflow's selection, for MACE.

Where the study's loop (:mod:`lidiff_helpers.training.active_learning`) trains a committee
of four models per round and selects by their force disagreement (its Eq. 4), the
moment-tensor-potential workflow for SEI phases (MLIP-3; Podryabinkin et al., J. Chem.
Phys. 159, 084112 (2023)) uses one model and the D-optimality *extrapolation grade*
:math:`\gamma` (:mod:`lidiff_helpers.analysis.dopt`). One round here
(:func:`extrapolation_round`):

1. the active set: MaxVol over the model's per-atom features
   (:mod:`lidiff_helpers.simulation.descriptors`) of the training frames, per element;
2. exploration MD with the model that stops when a saved frame's grade exceeds
   ``gamma_break`` (MLIP-3: 10; the MD runner's guard ``extrapolation``, recorded in the
   run's status like any other stop);
3. candidates: the explored frames (and the configuration that crossed ``gamma_break``)
   with :math:`\gamma >` ``gamma_select`` (MLIP-3: 2);
4. MaxVol selection of at most ``n_select`` of them (:func:`lidiff_helpers.analysis.dopt.select`),
   labelled (DFT or a surrogate, :mod:`lidiff_helpers.training.labelling`).

The caller retrains on the enlarged set and calls the next round; the loop has converged
when an exploration finishes without crossing ``gamma_break`` (``converged``). Each round
is cached in its folder (active set, MD runs, ``selection.json``, ``selected.xyz``) and
resumes. Costs: one training per round where the committee needs four; one descriptor
evaluation per saved frame during MD.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.core.errors import ParameterError

__all__ = ["ExtrapolationRound", "MLIP3_GAMMA_SELECT", "MLIP3_GAMMA_BREAK",
           "extrapolation_round"]

#: MLIP-3's defaults: candidates above ``gamma_select``; MD stops above ``gamma_break``
MLIP3_GAMMA_SELECT = 2.0
MLIP3_GAMMA_BREAK = 10.0


@dataclass(frozen=True, eq=False)
class ExtrapolationRound:
    """One round of :func:`extrapolation_round`.

    Attributes
    ----------
    selected : the selected frames, labelled (``info["gamma"]`` their grade)
    grades : (n_candidates,) grade of every explored frame
    eligible : how many exceeded ``gamma_select``
    crossed : names of the MD runs that stopped at ``gamma_break``
    converged : no run crossed ``gamma_break``
    record : JSON-ready summary (counts, max grade per run, active-set rank)
    """

    selected: list = field(repr=False)
    grades: np.ndarray = field(repr=False)
    eligible: int
    crossed: tuple[str, ...]
    converged: bool
    record: dict[str, Any]


def extrapolation_round(model: str | Path, train_frames, labeller, workdir: str | Path, *,
                        n_select: int, gamma_select: float = MLIP3_GAMMA_SELECT,
                        gamma_break: float = MLIP3_GAMMA_BREAK,
                        temperatures_K=(300.0, 600.0), kinds=("bulk", "interstitial"),
                        n_cells: int = 3, explore_ps: float = 1.0, save_every: int = 10,
                        seed: int = 0, dtype: str = "float64",
                        progress: bool = True) -> ExtrapolationRound:
    """One MLIP-3 round for ``model`` (a ``.model`` path) trained on ``train_frames``
    (module docstring). ``labeller``: ``label(frames)`` and ``source``.

    Raises
    ------
    ParameterError
        ``gamma_break <= gamma_select`` or ``gamma_select < 1``, ``n_select < 0``.
    """
    import ase.io

    from lidiff_helpers.analysis.dopt import ActiveSet, select
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.simulation.descriptors import mace_descriptors
    from lidiff_helpers.simulation.models import get_calculator
    from lidiff_helpers.training.active_learning import explore

    if not 1.0 <= gamma_select < gamma_break:
        raise ParameterError(f"need 1 <= gamma_select ({gamma_select}) < gamma_break "
                             f"({gamma_break})")
    if n_select < 0:
        raise ParameterError(f"n_select must be >= 0, got {n_select}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sha = sha256_file(model)
    calc = get_calculator(str(model), dtype=dtype, verbose=False)
    aset_path = workdir / "active_set.npz"
    if aset_path.is_file():
        aset = ActiveSet.load(aset_path, model_sha256=sha)
    else:
        d = mace_descriptors(calc, list(train_frames))
        aset = ActiveSet.from_features(d.features, d.numbers)
        aset.save(aset_path, model_sha256=sha)
    cands = explore(str(model), workdir / "md", temperatures_K, kinds, n_cells, explore_ps,
                    save_every=save_every, seed=seed, dtype=dtype, progress=progress,
                    guard={"gamma_break": float(gamma_break), "active_set": str(aset_path)})
    crossed = tuple(sorted({a.info["md_run"] for a in cands if a.info["md_frame"] == "break"}))
    d = mace_descriptors(calc, cands)
    grades = aset.grade(d.features, d.numbers).per_config if cands else np.zeros(0)
    sel_file, xyz = workdir / "selection.json", workdir / "selected.xyz"
    if sel_file.is_file() and xyz.is_file():
        chosen = json.loads(sel_file.read_text())["indices"]
        selected = ase.io.read(xyz, ":") if chosen else []
    else:
        sel = select(grades, gamma_select, n_select, aset, d.features, d.numbers)
        chosen = list(sel.indices)
        picked = [cands[i] for i in chosen]
        for at, i in zip(picked, chosen):
            at.info["gamma"] = float(grades[i])
        selected = labeller.label(picked) if picked else []
        if selected:
            ase.io.write(xyz, selected, format="extxyz")
        else:
            xyz.write_text("")
        sel_file.write_text(json.dumps({"indices": chosen, "gains": list(sel.gain),
                                        "labeller": str(labeller.source)}, indent=1))
    runs = sorted({a.info["md_run"] for a in cands})
    record = {"n_candidates": len(cands), "eligible": int((grades > gamma_select).sum()),
              "n_selected": len(selected), "crossed": list(crossed),
              "converged": not crossed, "active_set_rank": aset.rank,
              "gamma_select": gamma_select, "gamma_break": gamma_break,
              "max_gamma_per_run": {r: float(max(g for a, g in zip(cands, grades)
                                                 if a.info["md_run"] == r)) for r in runs},
              "labeller": str(labeller.source)}
    (workdir / "round.json").write_text(json.dumps(record, indent=1))
    return ExtrapolationRound(selected, grades, record["eligible"], crossed, not crossed,
                              record)
