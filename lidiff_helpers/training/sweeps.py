"""Sweeps of fine-tuning runs (the study's Table 1 grid): plan the configs from a
profile, run them (skipping finished ones), read their learning curves and cost, and
register the trained models for the notebooks that follow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.training import mace_train as training
from lidiff_helpers.training import selection
from lidiff_helpers.training.finetune import (
    STUDY_EPOCHS_PT10000,
    FinetuneConfig,
    FinetuneResult,
    run_finetune,
)

__all__ = ["plan_sweep", "run_sweep", "plan_from_params", "plan_table", "planned_replay",
           "descriptor_source",
           "learning_curve", "epoch_times", "register_results"]


def plan_sweep(foundation_path: str | Path, subsets: Sequence[Sequence[int]],
               n_pt_values: Sequence[int], selections: Sequence[str] = ("random",),
               seeds: Sequence[int] = (1,), include_scratch: bool = False,
               epochs: int = 800, epochs_pt10000: int = STUDY_EPOCHS_PT10000,
               grid: Sequence | None = None, foundation_sha256: str | None = None,
               **common) -> list[FinetuneConfig]:
    """The grid: subsets x replay (0 = naive, > 0 = multihead) x selections x seeds.

    ``grid``: instead of the cross product ``subsets x n_pt_values``, the replay sizes
    per subset, ``[[[n_bulk, n_interstitial], [n_pt, ...]], ...]`` (the study's Table 1
    is not a full cross product). ``include_scratch`` adds one scratch run per subset,
    selection and seed. ``foundation_sha256``: the foundation's hash when known without
    reading the file (a plan made before the weights are downloaded). ``common`` are
    further :class:`FinetuneConfig` fields (lr, n_valid_*, force_mh_ft_lr, ...).
    """
    from lidiff_helpers.core.provenance import sha256_file

    fpath = str(Path(foundation_path).resolve())
    sha = foundation_sha256 or sha256_file(fpath)
    rows = _grid_rows(subsets, n_pt_values, grid)
    out = []
    for (nb, ni), n_pts in rows:
        for sel in selections:
            for seed in seeds:
                arms = [("naive" if n == 0 else "multihead", int(n)) for n in n_pts]
                if include_scratch:
                    arms.append(("scratch", 0))
                for strat, n in arms:
                    ep = epochs_pt10000 if n >= 10000 else epochs
                    out.append(FinetuneConfig(
                        strategy=strat, foundation=fpath, foundation_sha256=sha,
                        n_bulk=int(nb), n_interstitial=int(ni), selection=sel, n_pt=n,
                        seed=int(seed), max_num_epochs=int(ep), **common))
    return out


def _grid_rows(subsets, n_pt_values, grid) -> list[tuple[tuple[int, int], list[int]]]:
    """``[((n_bulk, n_interstitial), [n_pt, ...]), ...]`` of a sweep, validated."""
    if grid is None:
        return [((int(nb), int(ni)), [int(n) for n in n_pt_values]) for nb, ni in subsets]
    out = []
    for i, row in enumerate(grid):
        try:
            (nb, ni), n_pts = row
            out.append(((int(nb), int(ni)), [int(n) for n in n_pts]))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"grid entry {i} ({row!r}): expected [[n_bulk, n_interstitial], "
                             "[n_pt, ...]]") from exc
    return out


def run_sweep(configs: Sequence[FinetuneConfig], root: str | Path,
              descriptors: Mapping | Callable[[list], Mapping] | None = None,
              threads: int | None = None, progress: bool = True) -> list[FinetuneResult]:
    """Run every config in order (each skipped/resumed as :func:`run_finetune` does).

    ``descriptors`` may be a callable (:func:`descriptor_source`) so they are computed
    only if a diverse run still has to be trained.
    """
    it: Iterable = configs
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(configs, desc="fine-tuning runs", unit="run")
    out = []
    for cfg in it:
        res = run_finetune(cfg, root, descriptors, threads)
        if progress:
            it.set_postfix_str(f"{cfg.label}: {res.status}")
        out.append(res)
    return out


def plan_from_params(p, foundation_path: str | Path,
                     foundation_sha256: str | None = None) -> list[FinetuneConfig]:
    """The sweep of a notebook's parameters (``run.p`` of ``02_finetune_sweeps``)."""
    nvb, nvi = p.n_valid
    return plan_sweep(foundation_path, p.subsets, p.n_pt_values, p.selections, p.seeds,
                      p.include_scratch, epochs=p.epochs, epochs_pt10000=p.epochs_pt10000,
                      grid=p.grid, pt_ratio_threshold=p.pt_ratio_threshold,
                      foundation_sha256=foundation_sha256,
                      replay_source=p.replay_source, n_valid_bulk=nvb,
                      n_valid_interstitial=nvi, data_seed=p.seed, lr=p.lr,
                      weight_decay=p.weight_decay, ema_decay=p.ema_decay,
                      batch_size=p.batch_size, patience=p.patience,
                      default_dtype=p.default_dtype, force_mh_ft_lr=p.force_mh_ft_lr,
                      device=p.device, diverse_pool_max=p.diverse_pool_max, e0s=p.e0s,
                      n_pt_valid=p.n_pt_valid)


def plan_table(configs: Sequence[FinetuneConfig]):
    """The planned runs as a DataFrame (label, method, data, replay, epochs, folder)."""
    import pandas as pd

    return pd.DataFrame([{"run": c.label, "method": c.arm, "selection": c.selection,
                          "n_bulk": c.n_bulk, "n_interstitial": c.n_interstitial,
                          "n_pt": c.n_pt, **planned_replay(c), "max_epochs": c.max_num_epochs,
                          "seed": c.seed, "lr": c.lr, "force_mh_ft_lr": c.force_mh_ft_lr,
                          "folder": c.folder} for c in configs])


def planned_replay(cfg: FinetuneConfig) -> dict:
    """What mace will replay in a run, known before it runs (:func:`effective_replay`):
    ``replay_frames`` (the study's file sizes: N_pt = 1000 is 900 frames),
    ``num_samples_pt`` passed (unused with a replay file), ``ft_duplication``."""
    from lidiff_helpers.training.finetune_data import effective_replay

    if cfg.strategy != "multihead":
        return {"replay_frames": 0, "num_samples_pt": None, "ft_duplication": 1}
    study = cfg.study_replay
    n = study.train_frames if study else cfg.n_pt
    eff = effective_replay(cfg.n_frames, n, cfg.pt_ratio_threshold)
    return {"replay_frames": n, "num_samples_pt": study.num_samples if study else cfg.n_pt,
            "ft_duplication": eff["ft_duplication"]}


def descriptor_source(model_path: str | Path, cache_dir: str | Path | None = None,
                      dtype: str = "float32") -> Callable[[list], Mapping]:
    """``f(hashes) -> {hash: descriptor}`` with ``model_path``'s MACE descriptors, computed
    when first needed and cached in ``cache_dir`` (default: the lidiff cache, shared by
    every profile and notebook; the file name holds the model's SHA256)."""

    from lidiff_helpers.core import paths

    cache_dir = cache_dir if cache_dir is not None else paths.CACHE / "descriptors"
    return functools.partial(selection.pool_descriptors, str(model_path), cache_dir,
                             dtype=dtype)


def learning_curve(workdir: str | Path | Sequence[dict]):
    """Validation errors per epoch from mace's results file (a pandas DataFrame);
    ``workdir`` may also be the file's records (e.g. a reference model's committed
    ``<arm>.train_log.json``).

    Columns: ``epoch``, ``head``, ``rmse_e_meV_atom``, ``rmse_f_meV_A``,
    ``rmse_stress_meV_A3``, ``mae_f_meV_A``; epoch -1 is the evaluation before training
    (the first one: a resumed run's start evaluates its checkpoint, not the foundation).
    A resumed run's repeated epochs keep the later line.
    """
    import pandas as pd

    rows = {}
    recs = (training.read_mace_results(workdir) if isinstance(workdir, (str, Path))
            else workdir)
    for r in recs:
        if r.get("mode") != "eval":
            continue
        ep = -1 if r.get("epoch") is None else int(r["epoch"])
        if ep == -1 and (ep, r.get("head", "Default")) in rows:
            continue  # a resumed run evaluates its checkpoint first: not "before training"
        rows[(ep, r.get("head", "Default"))] = {
            "epoch": ep, "head": r.get("head", "Default"),
            "rmse_e_meV_atom": 1e3 * r.get("rmse_e_per_atom", np.nan),
            "rmse_f_meV_A": 1e3 * r.get("rmse_f", np.nan),
            "rmse_stress_meV_A3": 1e3 * r.get("rmse_stress", np.nan),
            "mae_f_meV_A": 1e3 * r.get("mae_f", np.nan)}
    cols = ["epoch", "head", "rmse_e_meV_atom", "rmse_f_meV_A", "rmse_stress_meV_A3",
            "mae_f_meV_A"]
    df = pd.DataFrame(list(rows.values()), columns=cols)
    return df.sort_values(["head", "epoch"]).reset_index(drop=True)


def epoch_times(workdir: str | Path) -> dict[str, float]:
    """Training cost per epoch from mace's results file.

    ``opt_s_per_epoch``: optimiser time (sum of step times) per epoch, median over
    epochs; ``eval_s_per_epoch``: validation time per epoch, median; ``n_epochs``.
    """
    opt: dict[int, float] = {}
    ev: dict[int, float] = {}
    recs = (training.read_mace_results(workdir) if isinstance(workdir, (str, Path))
            else workdir)
    for r in recs:
        ep = r.get("epoch")
        if ep is None:
            continue
        d = opt if r.get("mode") == "opt" else ev
        d[int(ep)] = d.get(int(ep), 0.0) + float(r.get("time", 0.0))
    return {"opt_s_per_epoch": float(np.median(list(opt.values()))) if opt else np.nan,
            "eval_s_per_epoch": float(np.median(list(ev.values()))) if ev else np.nan,
            "n_epochs": len(opt)}


def register_results(out: str | Path, results: Sequence[FinetuneResult], table=None,
                     notebook: str = "02_finetune_sweeps") -> list[dict]:
    """Register every finished model for notebooks 01/04/05 (``registry.register_model``).

    Name: the run label; metadata: strategy, data, replay, selection, seed, foundation
    SHA256, ``energy_reference="study"`` (trained with the study's E0s) and, when
    ``table`` is given, its test-set force RMSEs.
    """
    from lidiff_helpers.io.model_registry import register_model

    by_run = {} if table is None else {r["run"]: r for r in table.to_dict("records")}
    out_entries = []
    for r in results:
        if not r.ok:
            continue
        c = r.config
        meta = {"strategy": c.strategy, "method": c.arm, "selection": c.selection,
                "n_bulk": c.n_bulk, "n_interstitial": c.n_interstitial, "n_pt": c.n_pt,
                "seed": c.seed, "foundation_sha256": c.foundation_sha256,
                "energy_reference": "study", "head": "Default", "workdir": str(r.workdir)}
        row = by_run.get(c.label, {})
        for k in ("interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A", "lr_effective"):
            if k in row:
                meta[k] = row[k]
        out_entries.append(register_model(Path(out), c.label, r.model, notebook, meta))
    return out_entries

