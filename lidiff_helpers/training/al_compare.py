r"""Three ways to choose what to label, compared on one footing: the study's committee, the
MLIP-3 extrapolation grade, and chance.

The study chooses new DFT frames by the disagreement of a committee of four fine-tunes
(its Eq. 4, banded 30/60/10 %; :mod:`lidiff_helpers.training.active_learning`); the MLIP-3
workflow by the D-optimality extrapolation grade of one model
(:mod:`lidiff_helpers.training.al_extrapolation`); the baseline of every active-learning
paper is random choice. :func:`compare_selection` gives the three the same start and
measures what each buys per label:

* the same starting data (the live loop's step 0: foundation-model frames, labelled) and
  the same starting model;
* the same **candidate pool**: frames of foundation-model NVT MD at the loop's
  temperatures (bulk and interstitial), explored once; every method draws from it without
  replacement (pool-based active learning: the comparison isolates the *choice*, where
  the live loops also differ in the MD each model runs);
* the same labeller and at most ``n_labels`` labels per round (MLIP-3 labels only frames
  above ``gamma_select``: fewer when fewer qualify, and the table says so);
* the same training after each round (a fine-tune of the foundation on all labels so far,
  the committee's settings, validated on step 0's validation frames); the committee
  method trains its whole committee (its selection needs it), the others one model;
* after each round: force RMSE of the method's model (seed 1) on held-out frames against
  the **labeller's** labels (the study's DFT when the labeller is DFT at its level of
  theory; the surrogate's own labels when it is a surrogate), optionally the collinear
  knock-off barrier, and the CPU seconds spent selecting and training.

Every step is cached under ``workdir/<method>/round_NN/`` (selection, labels, CPU spent
the first time, evaluation) and resumes. Caveat: at quick's scale (a few labels, two
epochs) the lines differ by little more than training noise; the paper profile has the
study's scale.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.core.errors import ParameterError

__all__ = ["METHODS", "compare_selection", "cpu_s", "heldout_frames"]

#: the selection methods compared, in the order the table lists them
METHODS = ("committee", "extrapolation", "random")


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (training subprocesses)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def heldout_frames(labeller, n_bulk: int, n_interstitial: int, seed: int = 0) -> list:
    """Held-out study frames (never trained on) labelled as the loop labels: the study's own
    DFT labels for a DFT labeller, the surrogate's labels for a surrogate."""
    from lidiff_helpers.io import data

    rng = np.random.default_rng(seed)
    out = []
    for kind, n in (("bulk", n_bulk), ("interstitial", n_interstitial)):
        frames = data.test_set(kind)
        if n > len(frames):
            raise ParameterError(f"compare: {n} held-out {kind} frames asked for, "
                                 f"{len(frames)} exist")
        out += [frames[i] for i in sorted(rng.choice(len(frames), n, replace=False))]
    if str(labeller.source).startswith("surrogate:"):
        out = labeller.label(out)
    return out


def _load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _select(method: str, models: list, train: list, pool: list, avail: list[int], n: int,
            cfg, gamma_select: float, seed: int) -> tuple[list[int], dict]:
    """Indices into ``pool`` (from ``avail``) chosen by ``method``, and a short report."""
    if method == "random":
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(avail), min(n, len(avail)), replace=False)
        return sorted(avail[i] for i in pick), {}
    cands = [pool[i] for i in avail]
    if method == "committee":
        from lidiff_helpers.simulation.models import get_committee
        from lidiff_helpers.training.al_selection import select_banded
        from lidiff_helpers.training.committee import committee_deviation

        com = get_committee([str(p) for p in models], device=cfg.device, dtype=cfg.eval_dtype)
        dev = committee_deviation(com, cands).max_eV_A
        sel = select_banded(dev, n, cfg.band_fractions, cfg.band_edges_sigma, cfg.band_side,
                            seed=seed)
        return sorted(avail[i] for i in sel.indices), {"max_dev_mean_eV_A": float(dev.mean())}
    from lidiff_helpers.analysis.dopt import ActiveSet, select
    from lidiff_helpers.simulation.descriptors import mace_descriptors
    from lidiff_helpers.simulation.models import get_calculator

    calc = get_calculator(str(models[0]), dtype="float64", device=cfg.device, verbose=False)
    d_tr = mace_descriptors(calc, train)
    aset = ActiveSet.from_features(d_tr.features, d_tr.numbers)
    d = mace_descriptors(calc, cands)
    g = aset.grade(d.features, d.numbers).per_config
    sel = select(g, gamma_select, n, aset, d.features, d.numbers)
    return sorted(avail[i] for i in sel.indices), {
        "eligible": int((g > gamma_select).sum()), "gamma_max": float(g.max())}


def _evaluate(model, heldout: list, barrier_settings, cfg) -> dict:
    """Held-out force RMSE per kind (meV/A) and, when asked, the collinear knock-off
    barrier (eV, 2x2x2 cells at the study's lattice)."""
    from lidiff_helpers.io.data import classify
    from lidiff_helpers.simulation.models import get_calculator

    calc = get_calculator(str(model), dtype="float64", device=cfg.device, verbose=False)
    out = {}
    for kind in ("bulk", "interstitial"):
        err = []
        for at in (a for a in heldout if classify(a) == kind):
            work = at.copy()
            work.calc = calc
            err.append(work.get_forces() - at.arrays["REF_forces"])
        out[f"{kind}_F_rmse_meV_A"] = (float(1e3 * np.sqrt(np.mean(np.concatenate(err) ** 2)))
                                       if err else float("nan"))
    if barrier_settings is not None:
        from lidiff_helpers.core.units import LIF_A_STUDY_A
        from lidiff_helpers.simulation import neb

        r = neb.barrier("knockoff-collinear", calc, 2, LIF_A_STUDY_A, barrier_settings)
        out["barrier_eV"] = float(r.barrier_eV)
    return out


def compare_selection(cfg, foundation: str, labeller, workdir: str | Path, *,
                      step0_dir: str | Path, heldout: Sequence,
                      methods: Sequence[str] = METHODS, n_rounds: int = 2,
                      n_labels: int = 4, gamma_select: float = 2.0,
                      barrier_settings=None, progress: bool = True):
    """The comparison (module docstring); a pandas DataFrame: first the foundation itself
    (no fine-tuning: the reference every method should beat), then one row per method and
    round (round 0, shared, then 1..``n_rounds``): ``n_labelled`` (cumulative), the held-out
    force RMSEs, ``barrier_eV``, ``cpu_select_s`` / ``cpu_train_s`` (this round) and
    ``cpu_total_s`` (cumulative, round 0's training included).

    ``cfg``: the live loop's :class:`~lidiff_helpers.training.active_learning.ALConfig`
    (exploration, band and training settings); ``step0_dir``: its step-0 folder (made
    here when absent); ``heldout``: :func:`heldout_frames`.
    """
    import dataclasses

    import pandas as pd

    from lidiff_helpers.simulation import models as sim_models
    from lidiff_helpers.training import active_learning as al
    from lidiff_helpers.training.committee import resolve_e0s

    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ParameterError(f"compare_methods: {bad or 'empty'}; choose from {METHODS}")
    if n_rounds < 1 or n_labels < 1:
        raise ParameterError(f"compare: n_rounds ({n_rounds}) and n_labels ({n_labels}) "
                             "must be >= 1")
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    fspec = sim_models.resolve_spec(foundation)
    ident = sim_models.model_identity(fspec)
    cfg = dataclasses.replace(cfg, e0s=resolve_e0s(cfg.e0s, labeller, ident["sha256"]))
    train0, valid0, _ = al._step0(cfg, str(fspec.path), ident["name"], labeller,
                                  Path(step0_dir), progress)
    pool = al._explore(cfg, str(fspec.path), wd / "pool", cfg.seed + 1000, progress)
    zero = _load(wd / "foundation.json")
    if zero is None:
        zero = _evaluate(fspec.path, list(heldout), barrier_settings, cfg)
        (wd / "foundation.json").write_text(json.dumps(zero, indent=1))
    first = "committee" if "committee" in methods else methods[0]  # round 0's models
    start = _train_step(cfg, first, str(fspec.path), train0, valid0, wd / "round_00",
                        heldout, barrier_settings, progress)
    rows = [{"method": "foundation (no fine-tuning)", "round": 0, "n_labelled": 0, **zero,
             "cpu_select_s": 0.0, "cpu_train_s": 0.0, "cpu_total_s": 0.0}]
    for m in methods:
        # round 0 trained the committee once for all; a one-model method pays one member
        cpu0 = round(start["cpu_train_s"] / (1 if m == "committee" else len(start["models"])),
                     1)
        rows.append({"method": m, "round": 0, "n_labelled": 0, **start["eval"],
                     "cpu_select_s": 0.0, "cpu_train_s": cpu0, "cpu_total_s": cpu0})
        models, train, taken, total = start["models"], list(train0), [], cpu0
        for r in range(1, n_rounds + 1):
            rd = wd / m / f"round_{r:02d}"
            rd.mkdir(parents=True, exist_ok=True)
            got = _load(rd / "selection.json")
            if got is None:
                c0 = cpu_s()
                avail = [i for i in range(len(pool)) if i not in set(taken)]
                idx, rep = _select(m, models, train, pool, avail, n_labels, cfg, gamma_select,
                                   seed=cfg.seed * 1000 + 100 * METHODS.index(m) + r)
                got = {"indices": idx, "report": rep, "cpu_select_s": round(cpu_s() - c0, 2),
                       "labeller": str(labeller.source)}
                (rd / "selection.json").write_text(json.dumps(got, indent=1))
            taken += got["indices"]
            train = train + _labelled(rd, [pool[i] for i in got["indices"]], labeller)
            step = _train_step(cfg, m, str(fspec.path), train, valid0, rd, heldout,
                               barrier_settings, progress)
            models = step["models"]
            total += got["cpu_select_s"] + step["cpu_train_s"]
            rows.append({"method": m, "round": r, "n_labelled": len(taken), **step["eval"],
                         "cpu_select_s": got["cpu_select_s"],
                         "cpu_train_s": step["cpu_train_s"], "cpu_total_s": round(total, 1),
                         **{k: v for k, v in got["report"].items()}})
    return pd.DataFrame(rows)


def _labelled(rd: Path, frames: list, labeller) -> list:
    """``frames`` labelled (cached in ``rd/labelled.xyz``), always as read back from it: a
    resumed run sees the same frames (and frame hashes) as the first."""
    from lidiff_helpers.training.active_learning import _read_xyz, _write_xyz

    path = rd / "labelled.xyz"
    if not path.is_file():
        _write_xyz(labeller.label(frames) if frames else [], path)
    return _read_xyz(path)


def _train_step(cfg, method: str, foundation_path: str, train, valid, rd: Path, heldout,
                barrier_settings, progress: bool) -> dict:
    """Train the method's model(s) on ``train`` (the committee for ``committee``, one model
    otherwise), evaluate seed 1; CPU of the first run cached in ``rd/step.json``."""
    from lidiff_helpers.training.committee import train_committee

    seeds = cfg.seeds if method == "committee" else cfg.seeds[:1]
    c0, t0 = cpu_s(), time.time()
    models = train_committee(
        train, valid, foundation_path, rd / "models", seeds=seeds,
        max_num_epochs=cfg.max_num_epochs, patience=cfg.patience,
        loss_weights=cfg.loss_weights, e0s=cfg.e0s, extra=cfg.train_extra, device=cfg.device,
        n_parallel=cfg.n_parallel, threads=cfg.threads, progress=progress)
    got = _load(rd / "step.json")
    if got is None:
        got = {"cpu_train_s": round(cpu_s() - c0, 1), "wall_s": round(time.time() - t0, 1),
               "n_train": len(train), "n_models": len(models),
               "eval": _evaluate(models[0], list(heldout), barrier_settings, cfg)}
        (rd / "step.json").write_text(json.dumps(got, indent=1))
    return {"models": models, **got}
