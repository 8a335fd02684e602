"""Notebook 04 (MD of interstitial Li): from the profile's parameters ``P`` and the
notebook's ``run`` (:class:`lidiff_helpers.runner.notebook.NotebookRun`) to its grid, runs,
tables and summary.

The runner is :mod:`lidiff_helpers.simulation.md`, the grid
:mod:`lidiff_helpers.simulation.md_grid`, the models
:func:`lidiff_helpers.simulation.model_set.models_to_compare` (the same list as notebook
01), the figure :mod:`lidiff_helpers.figures.md`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lidiff_helpers.core import paths
from lidiff_helpers.core.executor import executor_from_settings
from lidiff_helpers.simulation import lammps_inputs, md_grid
from lidiff_helpers.simulation.md import BENCHMARK_RESULTS
from lidiff_helpers.simulation.md_definition import GuardSettings, MDRun
from lidiff_helpers.simulation.model_set import models_to_compare

__all__ = ["model_list", "models_markdown", "guard_settings", "grid", "run_all",
           "lammps_inputs_table", "benchmark_markdown", "summary", "grid_table",
           "runs_table", "stability_table"]


def model_list(run, P) -> list[dict]:
    """The models to run as grid records (``name``, ``spec``, ``sha256``, ``foundation``,
    ``source``), recorded in ``run``'s provenance."""
    entries = models_to_compare(P.foundation_model, P.extra_models, out=run.out,
                                include_registered=P.include_registered,
                                max_extra_models=P.max_extra_models,
                                registered_where=P.registered_where)
    for m in entries:
        run.add_model(m.identity)
    return [m.as_dict() for m in entries]


def models_markdown(models: Sequence[Mapping]) -> str:
    """One Markdown bullet per model: name, source, spec, SHA256 (12 hex)."""
    return "\n".join(f"- **{m['name']}** ({m['source']}): `{m['spec']}`, "
                     f"SHA256 {str(m['sha256'])[:12]}" for m in models)


def guard_settings(P) -> GuardSettings:
    """The blow-up guard from the ``guard_*`` parameters."""
    return GuardSettings(min_distance_A=P.guard_min_distance_A,
                         max_temperature_factor=P.guard_max_temperature_factor,
                         grace_ps=P.guard_grace_ps,
                         max_drift_eV_per_atom=P.guard_max_drift_eV_per_atom)


def grid(models: Sequence[Mapping], P) -> list[MDRun]:
    """:func:`lidiff_helpers.simulation.md_grid.build_grid` from the profile."""
    return md_grid.build_grid(
        models, arrhenius_models=P.arrhenius_models,
        arrhenius_temperatures_K=P.arrhenius_temperatures_K,
        arrhenius_replicas=P.arrhenius_replicas,
        arrhenius_production_ps=P.arrhenius_production_ps,
        comparison_temperatures_K=P.comparison_temperatures_K,
        comparison_replicas=P.comparison_replicas,
        comparison_production_ps=P.comparison_production_ps,
        start_structure=P.start_structure, equilibration_ps=P.equilibration_ps,
        foundation_equilibration_ps=P.foundation_equilibration_ps, seed=P.seed,
        timestep_fs=P.timestep_fs, tdamp_fs=P.tdamp_fs, tchain=P.tchain,
        save_every=P.save_every, dtype=P.md_dtype, device=P.device,
        engine=md_grid.choose_engine(P.md_engine, P.device),
        checkpoint_every_s=P.checkpoint_every_s, guard=guard_settings(P))


def run_all(runs: Sequence[MDRun], run, P) -> list[dict]:
    """Run the grid through the profile's executor; returns the manifest entries
    (``<out>/md/manifest.json``, read by notebook 05)."""
    executor = executor_from_settings(P.executor, max_workers=P.max_workers,
                                      slurm_resources=P.slurm_resources,
                                      folder=run.work("slurm"))
    manifest = md_grid.run_grid(runs, run.out, executor, n_threads=P.threads_per_run,
                                progress=P.progress, max_batch=P.max_batch)
    print(f"manifest for notebook 05: {run.out / 'md' / 'manifest.json'} "
          f"({len(manifest)} runs)")
    return manifest


def lammps_inputs_table(runs: Sequence[MDRun], models: Sequence[Mapping], run, P):
    """The study's LAMMPS inputs for the grid under ``lammps/`` (None unless
    ``write_lammps_inputs``)."""
    if not P.write_lammps_inputs:
        return None
    return lammps_inputs.write_study_inputs(
        runs, models, run.work("lammps"), export_models=P.lammps_export_models,
        dtype=P.md_dtype, lmp_command=P.lammps_command,
        slurm=P.slurm_resources if P.executor == "slurm" else None)


def benchmark_markdown() -> str:
    """The MD benchmark's last results (``benchmarks/RESULTS_md.md``), or how to make them."""
    return paths.benchmark_report(BENCHMARK_RESULTS, "python benchmarks/bench_md.py")


def summary(manifest: Sequence[Mapping], stability, runs_df, run) -> dict:
    """Notebook 04's headline values (``summary/04_md_diffusion.json``)."""
    by_model = stability.set_index("model")
    return {
        "n_runs": len(manifest),
        "n_done": sum(e["status"] == "done" for e in manifest),
        "n_failed": sum(e["status"] == "failed" for e in manifest),
        "failed_runs": {e["name"]: e["failure"]["check"] for e in manifest if e["failure"]},
        "ms_per_step_by_model": by_model["mean_ms_per_step"].to_dict(),
        "ps_per_day_by_model": by_model["mean_ps_per_day"].to_dict(),
        "min_distance_A_by_model": by_model["min_distance_A"].to_dict(),
        "simulated_ps_total": float(runs_df["duration_ps"].sum()),
        "manifest": str(run.out / "md" / "manifest.json"),
    }


def grid_table(runs: Sequence[MDRun]):
    """The grid as a DataFrame (one row per run)."""
    import pandas as pd

    cols = ["name", "model", "purpose", "temperature_K", "replica", "seed", "start_structure",
            "velocities", "equilibration_ps", "production_ps", "timestep_fs", "save_every",
            "dtype", "device", "engine"]
    return pd.DataFrame([{k: getattr(r, k) for k in cols} for r in runs])


def runs_table(manifest: Sequence[Mapping]):
    """One row per run: model, T, replica, purpose, status, frames, throughput, stability."""
    import pandas as pd

    cols = ["model", "temperature_K", "replica", "purpose", "status", "n_frames",
            "duration_ps", "ms_per_step", "ps_per_day", "min_distance_A",
            "max_abs_drift_eV_per_atom", "mean_temperature_K", "time_to_failure_ps"]
    df = pd.DataFrame(list(manifest))
    df["failed_check"] = [f["check"] if f else None for f in df["failure"]]
    return df[cols + ["failed_check"]]


def stability_table(manifest: Sequence[Mapping]):
    """Stability per model: runs, done, failed, failed checks, time to failure (ps),
    smallest distance seen (A), largest drift (eV/atom), simulated time (ps)."""
    import pandas as pd

    df = runs_table(manifest)
    rows = []
    for model, g in df.groupby("model", sort=False):
        f = g[g["status"] == "failed"]
        rows.append({
            "model": model, "runs": len(g), "done": int((g["status"] == "done").sum()),
            "failed": len(f),
            "failed_checks": ", ".join(sorted(set(f["failed_check"].dropna()))) or "-",
            "mean_time_to_failure_ps": f["time_to_failure_ps"].mean() if len(f) else None,
            "min_distance_A": g["min_distance_A"].min(),
            "max_abs_drift_eV_per_atom": g["max_abs_drift_eV_per_atom"].max(),
            "simulated_ps": g["duration_ps"].sum(),
            "mean_ms_per_step": g["ms_per_step"].mean(),
            "mean_ps_per_day": g["ps_per_day"].mean(),
        })
    return pd.DataFrame(rows)
