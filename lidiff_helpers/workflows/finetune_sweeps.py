"""Notebook 02 (the study's Table 1): from the profile's parameters to the fine-tuning
sweep, its evaluation on the held-out test set and replay frames, Table 1 and the
summary. Each function is one step of the notebook.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lidiff_helpers.simulation import models
from lidiff_helpers.training import evaluation, sweeps
from lidiff_helpers.training.finetune import TABLE1_COLUMNS

__all__ = ["plan", "train", "evaluate", "table1", "register", "reference_models",
           "foundation_contrast", "summary_values"]


def plan(P, run):
    """The foundation model (recorded in the run's provenance) and the sweep's configs."""
    foundation = models.resolve_spec(P.foundation_model)
    run.add_model(models.model_identity(foundation))
    print(f"foundation: {foundation.name} ({foundation.path}) {foundation.note}")
    return foundation, sweeps.plan_from_params(P, foundation.path)


def train(P, run, foundation, configs) -> list:
    """Run (or skip, or resume) every config under the run's ``finetune`` folder."""
    results = sweeps.run_sweep(configs, run.work("finetune"), threads=P.train_threads,
                               descriptors=sweeps.descriptor_source(foundation.path))
    for r in results:
        print(f"{r.config.label:45s} {r.status:12s} {r.wall_time_s:7.1f} s  {r.message[:160]}")
    return results


def evaluate(P, run, results, foundation):
    """Test-set and replay errors of every run and of the foundation (zero-shot), and
    Table 1; saves ``finetune_sweep_full`` and ``table1_finetune_grid``."""
    test = evaluation.test_frames(P.n_test, P.seed)
    replay_valid = evaluation.replay_validation_frames(n_frames=P.n_forgetting, seed=P.seed)
    table = evaluation.sweep_table(results, test, replay_valid, dtype=P.eval_dtype,
                                   device=P.device)
    cache = run.work("finetune") / f"foundation-{foundation.name}-eval.json"
    baseline = evaluation.model_row(foundation.path, test, replay_valid, dtype=P.eval_dtype,
                                    device=P.device, energy_reference=None, cache=cache)
    grid = table1(table, baseline)
    run.save_table(table, "finetune_sweep_full")
    run.save_table(grid, "table1_finetune_grid")
    return table, baseline, grid


def table1(table, baseline: Mapping[str, Any] | None = None):
    """The sweep rendered like the study's Table 1 (one row per run, grid order), with the
    test/replay errors, cost per epoch and the confound-guard columns; the foundation
    model's zero-shot row first when ``baseline`` is given."""
    import pandas as pd

    t = table.copy()
    if "opt_s_per_epoch" in t:
        t["s_per_epoch"] = t["opt_s_per_epoch"] + t["eval_s_per_epoch"]
    rows = []
    if baseline:
        rows.append({"run": "foundation (zero-shot)", "n_bulk": 0, "n_interstitial": 0,
                     "n_pt": 0, "selection": "-", "status": "-",
                     **{k: v for k, v in baseline.items() if k in TABLE1_COLUMNS}})
    out = pd.concat([pd.DataFrame(rows), t], ignore_index=True) if rows else t
    return out[[c for c in TABLE1_COLUMNS if c in out]]


def register(P, run, results, table) -> list[dict]:
    """Register the finished runs (``register``) and the committed reference models named
    by ``register_reference`` (as ``reference-<arm>``) for notebooks 01, 04 and 05."""
    from lidiff_helpers.training.reference_models import register_reference

    entries = sweeps.register_results(run.out, results, table) if P.register else []
    return entries + register_reference(run.out, P.register_reference or [])


def reference_folder(P, run) -> Path:
    """Where the reference models are read from: the committed ``data/models/reference/``,
    or, with ``reference_recompute``, this run's ``reference_models/export`` after
    training and measuring every arm and the learning-curve runs again there (hours of
    CPU; resumable; the committed files are not touched)."""
    from lidiff_helpers.training import reference_models as ref
    from lidiff_helpers.workflows import reference_metrics as rm

    if not P.reference_recompute:
        return ref.REFERENCE_DIR
    root = run.work("reference_models")
    folder = root / "export"
    names = [a.name for a in ref.ARMS]
    for n, r in ref.train([*names, "learning-curve"], root).items():
        if r.ok and n in names:
            ref.export(n, r, folder)
    for n in [rm.FOUNDATION, *(n for n in names if ref.exported(n, folder).is_file())]:
        rm.measure(n, folder, root / "metrics")
    rm.learning_curve(root, folder / "learning_curve.json", folder)
    return folder


def reference_models(run, folder: Path):
    """The reference models in ``folder`` (:func:`reference_folder`): their strategy table
    (saved as ``reference_models``) and the learning curves of their training
    (``reference_learning_curves``). The table is empty when none is committed."""
    from lidiff_helpers.figures import finetune as figures
    from lidiff_helpers.workflows import reference_metrics as rm

    t = rm.table(folder)
    for r in rm.load(folder):
        run.add_model({"name": f"reference:{r['name']}", "sha256": r["model_sha256"]})
    if t.empty:
        print("no reference model committed yet: make reference-models")
        return t
    run.save_table(t, "reference_models")
    run.save_figure(figures.reference_learning_curves(rm.train_logs(folder)),
                    "reference_learning_curves")
    return t


def reference_error_vs_frames(run, folder: Path):
    """The test error against the number of fine-tuning frames (10, 30, 110, 210) for
    naive, multihead and scratch, from ``folder``'s ``learning_curve.json``: the figure
    ``reference_error_vs_frames`` (its CPU budgets under it), the rows as a table of the
    same name, each run's validation error per epoch by size
    (``reference_validation_by_size``), and the compact table (a column per size, with the CPU time) returned and
    saved as ``reference_learning_curve``. Empty when not computed."""
    from lidiff_helpers.figures import finetune as figures
    from lidiff_helpers.workflows import reference_metrics as rm

    from lidiff_helpers.training import reference_models as ref

    lc, source = rm.committed_learning_curve(folder)
    if lc.empty:
        print("no learning curve computed yet: make reference-models")
        return rm.learning_curve_table(lc)
    if source != folder:
        print(f"the learning curve of the first set, trained from "
              f"{ref.foundation_label(source)} ({source}): the runs from "
              f"{ref.foundation_label(folder)} are not trained yet (make reference-models)")
    base = next((r for r in rm.load(source) if r["name"] == rm.FOUNDATION), None)
    run.save_table(lc, "reference_error_vs_frames")
    run.save_figure(figures.error_vs_size(lc, base, note=rm.budget_note(lc)),
                    "reference_error_vs_frames")
    run.save_figure(figures.validation_by_size(lc), "reference_validation_by_size")
    compact = rm.learning_curve_table(lc)
    run.save_table(compact, "reference_learning_curve")
    return compact


def foundation_contrast(run, folder: Path):
    """Fine-tuning a soft foundation vs a good one: the same recipe's arms from
    ``embedded-v1`` (the first set, ``data/models/reference-v1/``) beside those in
    ``folder`` (from its foundation), with each arm's knock-off barrier change and whether
    it keeps, raises or lowers its foundation's
    (:func:`lidiff_helpers.workflows.reference_metrics.foundation_contrast`); saved as the
    table and figure ``foundation_contrast``. Empty when either set is missing."""
    from lidiff_helpers.figures import finetune as figures
    from lidiff_helpers.workflows import dft_neb
    from lidiff_helpers.workflows import reference_metrics as rm

    t = rm.contrast(folder)
    if t.empty:
        print("needs both sets of reference models: data/models/reference-v1 and "
              f"{folder}")
        return t
    own = dft_neb.study_level_barrier()
    run.save_table(t, "foundation_contrast")
    run.save_figure(figures.foundation_contrast(t, own["barrier_eV"] if own else None),
                    "foundation_contrast")
    return t


def summary_values(table, baseline: Mapping[str, Any] | None = None, flags=None) -> dict:
    """Headline numbers of a sweep for ``run.save_summary``."""
    ok = table.dropna(subset=["interstitial_F_rmse_meV_A"]) if \
        "interstitial_F_rmse_meV_A" in table else table.iloc[0:0]
    out: dict[str, Any] = {"n_runs": len(table), "n_trained": len(ok),
                           "statuses": table["status"].value_counts().to_dict()}
    if len(ok):
        best = ok.loc[ok["interstitial_F_rmse_meV_A"].idxmin()]
        out.update(best_run=best["run"],
                   best_interstitial_F_rmse_meV_A=float(best["interstitial_F_rmse_meV_A"]),
                   interstitial_F_rmse_meV_A={r["run"]: float(r["interstitial_F_rmse_meV_A"])
                                              for r in ok.to_dict("records")})
    if baseline:
        out["foundation_interstitial_F_rmse_meV_A"] = baseline.get("interstitial_F_rmse_meV_A")
    if flags is not None and len(flags):
        out["confounded_pairs"] = int(flags["confounded"].sum())
        out["compared_pairs"] = len(flags)
    return out

