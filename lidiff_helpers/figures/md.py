"""Figures of notebook 04: temperature, energy drift and Li displacement of MD runs."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lidiff_helpers.io.trajectory import open_trajectory
from lidiff_helpers.simulation.md_files import read_thermo

__all__ = ["plot_runs"]


def plot_runs(manifest: Sequence[Mapping], out: str | os.PathLike, species: str = "Li",
              max_points: int = 2000):
    """Figure: temperature, conserved-energy drift and the summed squared displacement
    of ``species`` from its start, sum_i |r_i(t) - r_i(0)|^2 (A^2; a hop of the
    interstitial mechanism shows as a step), per run versus production time."""
    import matplotlib.pyplot as plt
    from ase.data import atomic_numbers

    out = Path(out)
    fig, ax = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    z = atomic_numbers[species]
    for e in manifest:
        if e["status"] == "pending" or not (out / e["thermo"]).is_file():
            continue
        lab = f"{e['model']} {e['temperature_K']:g} K r{e['replica']}" + \
            (" (failed)" if e["status"] == "failed" else "")
        th = read_thermo(out / e["thermo"])
        ax[0].plot(th["time_ps"], th["temperature_K"], lw=0.8, label=lab)
        ax[1].plot(th["time_ps"], 1000.0 * th["drift_eV_per_atom"], lw=0.8)
        if e["n_frames"] > 1:
            tr = open_trajectory(out / e["trajectory"])
            stride = max(1, tr.n_frames // max_points)
            sel = tr.numbers == z
            pos = np.asarray(tr.positions_A[::stride][:, sel], dtype=float)
            ax[2].plot(tr.time_ps[::stride], ((pos - pos[0]) ** 2).sum(axis=(1, 2)), lw=0.8)
    ax[0].set_ylabel("T / K")
    ax[1].set_ylabel("conserved-energy drift / meV atom$^{-1}$")
    ax[2].set_ylabel(f"$\\sum_{{{species}}} |r(t)-r(0)|^2$ / A$^2$")
    ax[2].set_xlabel("t / ps (from production start)")
    ax[0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig
