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
resumes. :func:`run_extrapolation_learning` is the whole loop (notebook 03's
``selection: extrapolation``): the committee loop's step 0 (the same foundation-model
frames), then per round one fine-tune (seed 1, the committee's settings) and one
:func:`extrapolation_round`, the selected frames split into training and validation
frames as the committee loop splits its own. Costs: one training per round where the committee needs four; one descriptor
evaluation per saved frame during MD.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.core.errors import ParameterError
from lidiff_helpers.training.active_learning import ALResult, _read_xyz, _write_xyz

__all__ = ["ExtrapolationResult", "ExtrapolationRound", "MLIP3_GAMMA_SELECT",
           "MLIP3_GAMMA_BREAK", "extrapolation_round", "run_extrapolation_learning"]

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
                        seed: int = 0, dtype: str = "float64", equilibration_ps: float = 0.0,
                        timestep_fs: float = 1.0, device: str = "cpu",
                        progress: bool = True) -> ExtrapolationRound:
    """One MLIP-3 round for ``model`` (a ``.model`` path) trained on ``train_frames``
    (module docstring). ``labeller``: ``label(frames)`` and ``source``.

    Raises
    ------
    ParameterError
        ``gamma_break <= gamma_select`` or ``gamma_select < 1``, ``n_select < 0``.
    """
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
    calc = get_calculator(str(model), dtype=dtype, device=device, verbose=False)
    aset_path = workdir / "active_set.npz"
    if aset_path.is_file():
        aset = ActiveSet.load(aset_path, model_sha256=sha)
    else:
        d = mace_descriptors(calc, list(train_frames))
        aset = ActiveSet.from_features(d.features, d.numbers)
        aset.save(aset_path, model_sha256=sha)
    cands = explore(str(model), workdir / "md", temperatures_K, kinds, n_cells, explore_ps,
                    equilibration_ps=equilibration_ps, save_every=save_every,
                    timestep_fs=timestep_fs, seed=seed, dtype=dtype, device=device,
                    progress=progress,
                    guard={"gamma_break": float(gamma_break), "active_set": str(aset_path)})
    crossed = tuple(sorted({a.info["md_run"] for a in cands if a.info["md_frame"] == "break"}))
    d = mace_descriptors(calc, cands)
    grades = aset.grade(d.features, d.numbers).per_config if cands else np.zeros(0)
    sel_file, xyz = workdir / "selection.json", workdir / "selected.xyz"
    if not (sel_file.is_file() and xyz.is_file()):
        sel = select(grades, gamma_select, n_select, aset, d.features, d.numbers)
        picked = [cands[i] for i in sel.indices]
        for at, i in zip(picked, sel.indices):
            at.info["gamma"] = float(grades[i])
        _write_xyz(labeller.label(picked) if picked else [], xyz)
        sel_file.write_text(json.dumps({"indices": list(sel.indices), "gains": list(sel.gain),
                                        "labeller": str(labeller.source)}, indent=1))
    selected = _read_xyz(xyz)  # first run and resumed run: the frames as written
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


@dataclass
class ExtrapolationResult(ALResult):
    """What :func:`run_extrapolation_learning` produced: the committee loop's
    :class:`~lidiff_helpers.training.active_learning.ALResult` (``deviations`` empty,
    ``final_models`` the one final model) plus the grades.

    Attributes
    ----------
    rounds : per round ``{"round", "grades", "selected", "gamma_select", "gamma_break",
        "crossed"}`` (grades of every explored frame; indices of the selected ones)
    """

    rounds: list = field(default_factory=list)


def run_extrapolation_learning(cfg, foundation: str, labeller, workdir: str | Path, *,
                               gamma_select: float = MLIP3_GAMMA_SELECT,
                               gamma_break: float = MLIP3_GAMMA_BREAK,
                               progress: bool = True) -> ExtrapolationResult:
    """The MLIP-3 loop (module docstring) with the committee loop's settings ``cfg``
    (:class:`lidiff_helpers.training.active_learning.ALConfig`: step 0, exploration,
    frames per round = ``round_bulk + round_interstitial`` training frames plus their
    validation share, training, ``n_rounds``); cached in ``workdir`` and resumable.
    Stops when a round's exploration crosses no ``gamma_break`` (or after ``n_rounds``);
    when that round still labelled frames (grades above ``gamma_select``) and
    ``cfg.train_final``, a last model is trained on the final data, else the round's own
    model is final."""
    import dataclasses
    import time

    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import active_learning as al
    from lidiff_helpers.training.committee import resolve_e0s
    from lidiff_helpers.training.labelling import label_sources

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not 1.0 <= gamma_select < gamma_break:
        raise ParameterError(f"need 1 <= gamma_select ({gamma_select}) < gamma_break "
                             f"({gamma_break})")
    fspec = models.resolve_spec(foundation)
    ident = models.model_identity(fspec)
    al._config_guard(workdir, cfg, ident["sha256"], str(labeller.source),
                     extra={"gamma_select": gamma_select, "gamma_break": gamma_break})
    cfg = dataclasses.replace(cfg, e0s=resolve_e0s(cfg.e0s, labeller, ident["sha256"]))
    train, valid, rec0 = al._step0(cfg, str(fspec.path), ident["name"], labeller,
                                   workdir / "step_0", progress)
    records, rounds, model = [rec0], [], None
    n_tr = cfg.round_bulk + cfg.round_interstitial
    for r in range(1, int(cfg.n_rounds) + 1):
        t0, rd = time.time(), workdir / f"round_{r:02d}"
        model = _train_one(cfg, str(fspec.path), train, valid, rd / "model", progress)
        xr = extrapolation_round(
            model, train, labeller, rd, n_select=n_tr + int(round(cfg.valid_ratio * n_tr)),
            gamma_select=gamma_select, gamma_break=gamma_break,
            temperatures_K=cfg.temperatures_K, n_cells=cfg.n_cells, explore_ps=cfg.explore_ps,
            save_every=cfg.save_every, seed=cfg.seed + r, dtype=cfg.md_dtype,
            equilibration_ps=cfg.equilibration_ps, timestep_fs=cfg.timestep_fs,
            device=cfg.device, progress=progress)
        add = list(xr.selected)
        for at in add:
            at.info["al_step"] = r
        add_tr, add_va = al._split(add, min(n_tr, len(add)),
                                   np.random.default_rng([cfg.seed, r]))
        train, valid = train + add_tr, valid + add_va
        records.append(_round_record(r, model, xr, add_tr, add_va, train, valid,
                                     time.time() - t0))
        rounds.append({"round": r, "grades": xr.grades, "gamma_select": gamma_select,
                       "gamma_break": gamma_break, "crossed": list(xr.crossed),
                       "selected": json.loads((rd / "selection.json").read_text())["indices"]})
        if xr.converged:
            break
    if model is None or (cfg.train_final and records[-1]["added_bulk"]
                         + records[-1]["added_interstitial"] + records[-1]["added_valid"]):
        t0 = time.time()
        model = _train_one(cfg, str(fspec.path), train, valid, workdir / "final" / "model",
                           progress)
        records.append({"step": "final", "round": len(records), "explored_with": "-",
                        "n_train": len(train), "n_valid": len(valid), "converged": False,
                        "wall_s": round(time.time() - t0, 1)})
    return ExtrapolationResult(records, train, valid, [Path(model)], [],
                               label_sources(train + valid), workdir, rounds)


def _train_one(cfg, foundation_path: str, train, valid, folder: Path, progress: bool) -> Path:
    """One fine-tune with the committee's settings and its first seed."""
    from lidiff_helpers.training.committee import train_committee

    return train_committee(
        train, valid, foundation_path, folder, seeds=cfg.seeds[:1],
        max_num_epochs=cfg.max_num_epochs, patience=cfg.patience,
        loss_weights=cfg.loss_weights, e0s=cfg.e0s, extra=cfg.train_extra,
        device=cfg.device, n_parallel=1, threads=cfg.threads, progress=progress)[0]


def _round_record(r: int, model, xr: ExtrapolationRound, add_tr, add_va, train, valid,
                  wall_s: float) -> dict:
    """One row of the loop's table (the committee loop's columns where they apply)."""
    kinds = [a.info.get("kind") for a in add_tr]
    g = xr.grades
    return {"step": f"round {r}", "round": r, "explored_with": f"round {r} model",
            "n_candidates": len(g), "gamma_max": float(g.max()) if len(g) else float("nan"),
            "gamma_median": float(np.median(g)) if len(g) else float("nan"),
            "eligible": xr.eligible, "crossed": ", ".join(xr.crossed) or "-",
            "added_bulk": kinds.count("bulk"), "added_interstitial": kinds.count("interstitial"),
            "added_valid": len(add_va), "n_train": len(train), "n_valid": len(valid),
            "converged": xr.converged, "wall_s": round(wall_s, 1)}
