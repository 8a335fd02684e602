"""Notebook 04 (MD of interstitial Li): from the profile's parameters to its tables.

The runner is :mod:`lidiff_helpers.simulation.md`, the grid
:mod:`lidiff_helpers.simulation.md_grid`, the figure :mod:`lidiff_helpers.figures.md`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lidiff_helpers.simulation.md_definition import MDRun

__all__ = ["grid_table", "runs_table", "stability_table"]


def grid_table(runs: Sequence[MDRun]):
    """The grid as a DataFrame (one row per run)."""
    import pandas as pd

    cols = ["name", "model", "purpose", "temperature_K", "replica", "seed", "start_structure",
            "velocities", "equilibration_ps", "production_ps", "timestep_fs", "save_every",
            "dtype", "device"]
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
