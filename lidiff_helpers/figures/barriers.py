"""Figures of the migration barriers (notebook 05); no computation here.

Inputs are :class:`lidiff_helpers.workflows.barriers.BarrierSet` and the tables of that
module (passed in). Axes carry units; the study's cited DFT barriers are reference lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lidiff_helpers.core import reference

__all__ = ["plot_profiles", "plot_softening", "plot_saddle", "plot_arrhenius_htst"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _dft_lines(ax, horizontal: bool = True, own: Mapping | None = None) -> None:
    line = ax.axhline if horizontal else ax.axvline
    for key, ls in (("dft-cineb-zheng", "--"), ("dft-neb-yildirim", ":")):
        b = reference.BARRIERS[key]
        line(b.Ea_eV, color="k", ls=ls, lw=1, label=f"{b.label}: {b.Ea_eV} eV")
    if own:
        line(own["barrier_eV"], color="tab:red", ls="-", lw=1.5,
             label=f"{own['label']}: {own['barrier_eV']:.3f} eV")


def plot_profiles(paths: Mapping, mechanism: str = "knockoff-collinear",
                  n_atoms: int = 65, lattice: str = "study", note: str = "",
                  own_dft: Mapping | None = None):
    """Energy along the NEB path of ``mechanism`` for every model, DFT barriers dashed
    (``own_dft``: this compendium's DFT NEB at the study's level of theory, a solid line;
    :func:`lidiff_helpers.workflows.dft_neb.study_level_barrier`)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for (model, mech, _, lat), res in paths.items():
        if mech != mechanism or lat != lattice or len(res["numbers"]) != n_atoms:
            continue
        s, e = np.asarray(res["path_A"]), np.asarray(res["energies_eV"])
        ax.plot(s / s[-1], e, "o-", label=f"{model}: {res['barrier_eV']:.3f} eV")
    _dft_lines(ax, own=own_dft)
    ax.set_xlabel("reaction coordinate (fraction of the NEB path)")
    ax.set_ylabel("energy relative to the initial state (eV)")
    ax.set_title(f"{mechanism}, {n_atoms} atoms, {lattice} lattice constant" + note)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_softening(comparison, note: str = ""):
    """Model knock-off barrier minus DFT's per model: negative = a softer energy surface
    than DFT (Deng et al.). DFT is this compendium's CI-NEB at the study's level of theory
    when the table has it (``softening_vs_this_DFT_eV``), else Zheng et al.'s 0.25 eV; the
    other DFT values are dotted lines at their offsets."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.0, 1.9 + 0.45 * max(len(comparison), 1)))
    y = np.arange(len(comparison))
    own = comparison.get("DFT_this_compendium_eV")
    own = float(own.iloc[0]) if own is not None and len(own) and np.isfinite(own.iloc[0]) \
        else None
    ref_eV = own if own is not None else reference.BARRIERS["dft-cineb-zheng"].Ea_eV
    ax.barh(y, comparison["knockoff_barrier_eV"] - ref_eV, color="tab:blue")
    ax.set_yticks(y, comparison["model"])
    ax.axvline(0.0, color="k", lw=1)
    others = [reference.BARRIERS["dft-neb-yildirim"]]
    others += [reference.BARRIERS["dft-cineb-zheng"]] if own is not None else []
    for b, ls in zip(others, (":", "--")):
        ax.axvline(b.Ea_eV - ref_eV, color="k", ls=ls, lw=1,
                   label=f"{b.label}: {b.Ea_eV} eV")
    what = ("DFT CI-NEB at the study's level of theory (this compendium) "
            f"{ref_eV:.3f} eV" if own is not None else f"DFT CI-NEB {ref_eV} eV")
    ax.set_xlabel(f"model knock-off barrier - {what} (eV)")
    ax.set_title("Barrier softening: zero-shot vs fine-tuned" + note)
    ax.margins(x=0.08, y=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def plot_saddle(res: Mapping, cutoff_A: float = 2.6, note: str = ""):
    """The climbing image: the moving Li (red) and their neighbours within ``cutoff_A``
    (ASE ``plot_atoms``, viewed along [110] and [001])."""
    from ase import Atoms
    from ase.visualize.plot import plot_atoms

    from lidiff_helpers.simulation.neb import local_indices

    plt = _plt()
    at = Atoms(numbers=res["numbers"], positions=res["positions"][res["climbing_index"]],
               cell=res["cell"], pbc=True)
    keep = local_indices(at, res["moving"], cutoff_A)
    centre = at.positions[res["moving"][0]]
    d = at.get_distances(res["moving"][0], keep, mic=True, vector=True)
    sub = Atoms(numbers=at.numbers[keep], positions=centre + d)
    colors = ["red" if k in res["moving"] else ("silver" if z == 3 else "tab:green")
              for k, z in zip(keep, sub.numbers)]
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.6))
    for ax, rot in zip(axes, ("-90x,45y,0z", "0x,0y,0z")):
        plot_atoms(sub, ax, rotation=rot, colors=colors, radii=0.45)
        ax.set_axis_off()
        ax.set_title(f"view {rot}", fontsize=8)
    fig.suptitle(f"saddle of {res['mechanism']}: moving Li red, Li grey, F green" + note,
                 fontsize=9)
    return fig


def plot_arrhenius_htst(by_temperature, htst_D, models: Sequence[str] | None = None,
                        note: str = ""):
    """MD D(T) (points, replica means with errors) beside each model's harmonic-TST
    D(T) (lines) and the DeePMD Arrhenius law (dashed), against 1000/T."""
    from lidiff_helpers.analysis.arrhenius import arrhenius_D_cm2_s

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    names = list(models) if models else sorted(set(htst_D["model"]))
    for i, m in enumerate(names):
        c = f"C{i % 10}"
        h = htst_D[htst_D["model"] == m].sort_values("temperature_K")
        if len(h):
            ax.plot(1000 / h["temperature_K"], h["D_htst_cm2_s"], "-", color=c,
                    label=f"{m}: harmonic TST")
        if by_temperature is not None and len(by_temperature):
            md = by_temperature[by_temperature["model"] == m]
            if len(md):
                ax.errorbar(1000 / md["temperature_K"], md["D_cm2_s"],
                            yerr=md.get("D_err_cm2_s"), fmt="o", color=c, label=f"{m}: MD")
    ref = reference.table3_reference("deepmd")
    T = np.linspace(300, 1000, 50)
    ax.plot(1000 / T, arrhenius_D_cm2_s(T, ref.Ea_eV, ref.D0_cm2_s), "k--",
            label=f"DeePMD (Ea {ref.Ea_eV} eV)")
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("D of the defect (cm$^2$/s)")
    ax.set_title("MD and harmonic transition-state theory" + note)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
