"""Figures of notebook 01 (bulk LiF validation); plotting only, no computation.

Each function takes results of :mod:`lidiff_helpers.simulation.bulk`,
:mod:`~lidiff_helpers.simulation.phonons`, :mod:`~lidiff_helpers.analysis.rdf` or
:mod:`~lidiff_helpers.analysis.parity`, keyed by model label, and returns a matplotlib
figure whose axes carry units.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from ase import units

from lidiff_helpers.core import reference
from lidiff_helpers.simulation.phonons import LOTO_NOTE

__all__ = ["plot_eos", "plot_parity", "plot_phonons", "plot_rdf"]

_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown",
           "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _color(i: int) -> str:
    return _COLORS[i % len(_COLORS)]


def plot_eos(lattice: Mapping):
    """E(a) per atom of every model (points: sampled, line: Birch-Murnaghan fit) and the
    fitted a0 against B, with the experimental and PBE lattice constants and the
    experimental bulk-modulus range.

    ``lattice``: label -> :class:`lidiff_helpers.simulation.bulk.LatticeResult`.
    """
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4))
    a_exp = reference.BULK_LIF["a_exp_RT"].value
    a_pbe = reference.BULK_LIF["a_PBE"].value
    b_ref = reference.BULK_LIF["B_exp"]
    for i, (lab, lat) in enumerate(lattice.items()):
        eos = lat.eos
        v = np.asarray(eos.volumes_A3)
        vv = np.linspace(v.min(), v.max(), 200)
        n = eos.n_atoms
        scale = 1e3 / n  # meV/atom
        ax.plot(v ** (1 / 3), (np.asarray(eos.energies_eV) - eos.E0_eV) * scale, "o",
                color=_color(i), ms=4)
        ax.plot(vv ** (1 / 3), (eos.energy_eV(vv) - eos.E0_eV) * scale, "-", color=_color(i),
                label=f"{lab}: a0 = {eos.a0_A:.3f} A, B = {eos.B_GPa:.1f} GPa")
        bx.plot(eos.a0_A, eos.B_GPa, "o", color=_color(i), label=lab)
        bx.plot(eos.a0_A, lat.elastic.B_GPa, "s", mfc="none", color=_color(i))
    for x, txt, ls in ((a_exp, "exp. (room T)", "--"), (a_pbe, "PBE", ":")):
        ax.axvline(x, color="k", ls=ls, lw=0.8)
        bx.axvline(x, color="k", ls=ls, lw=0.8, label=f"a {txt} = {x} A")
    bx.axhspan(b_ref.low, b_ref.high, color="0.85", zorder=0,
               label=f"B exp. {b_ref.low:g}-{b_ref.high:g} GPa")
    ax.set_xlabel("lattice constant a / A")
    ax.set_ylabel("E - E0 / meV atom$^{-1}$")
    ax.set_title("Equation of state (conventional 8-atom cell)")
    ax.legend(fontsize=7)
    bx.set_xlabel("a0 / A")
    bx.set_ylabel("bulk modulus B / GPa")
    bx.set_title("a0 and B (o: EOS fit, □: (C11 + 2 C12)/3)")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_phonons(results: Mapping):
    """Phonon bands along Gamma-X-U|K-Gamma-L-W-X and total DOS, every model overlaid.

    The path coordinate is normalised to [0, 1] so models with different lattice
    constants share the axis. A note states that LO-TO splitting is absent.
    ``results``: label -> :class:`lidiff_helpers.simulation.phonons.PhononResult`.
    """
    plt = _plt()
    fig, (ax, dx) = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True,
                                 gridspec_kw={"width_ratios": [3, 1]})
    ticks, labels = None, None
    for i, (lab, ph) in enumerate(results.items()):
        total = ph.band_distances[-1][-1]
        for d, f in zip(ph.band_distances, ph.band_frequencies_THz):
            ax.plot(np.asarray(d) / total, np.asarray(f), color=_color(i), lw=1)
        ax.plot([], [], color=_color(i), lw=1,
                label=(f"{lab} (Γ optical {ph.gamma_optical_THz:.2f} THz)"
                       if ph.gamma_optical_THz is not None else lab))
        if ticks is None:
            ticks = [ph.band_distances[0][0] / total] + [d[-1] / total for d in ph.band_distances]
            labels = list(ph.band_labels)
        dx.plot(ph.dos_states_THz, ph.dos_frequency_THz, color=_color(i), lw=1)
    for t in ticks or []:
        ax.axvline(t, color="0.6", lw=0.5)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xticks(ticks or [])
    ax.set_xticklabels(labels or [])
    ax.set_xlim(0, 1)
    ax.set_ylabel("frequency / THz")
    ax.set_title("Phonons (finite displacements, phonopy)")
    ax.legend(fontsize=7, loc="lower right")
    ax.text(0.01, 0.99, LOTO_NOTE, transform=ax.transAxes, va="top", fontsize=7,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})
    dx.set_xlabel("DOS / states THz$^{-1}$")
    dx.set_title("total DOS")
    fig.tight_layout()
    return fig


def plot_rdf(md: Mapping, structures: Mapping | None = None):
    """Partial RDFs Li-F, Li-Li, F-F: NVT frames per model and the study's equilibrated
    structures, with the perfect-lattice first shells (a/2, a/sqrt 2) of the
    experimental lattice constant as dashed lines.

    ``md``, ``structures``: label -> :class:`lidiff_helpers.analysis.rdf.RDFResult`.
    """
    from lidiff_helpers.analysis.rdf import perfect_lattice_peaks

    plt = _plt()
    pairs = ("Li-F", "Li-Li", "F-F")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    a_exp = reference.BULK_LIF["a_exp_RT"].value
    exp_peaks = perfect_lattice_peaks(a_exp)
    items = [(f"{lab} NVT {r.temperature_K:.0f} K" if r.temperature_K else lab, r, "-")
             for lab, r in md.items()]
    items += [(f"study structure {lab}", r, "--") for lab, r in (structures or {}).items()]
    for ax, pair in zip(axes, pairs):
        for i, (lab, r, ls) in enumerate(items):
            ax.plot(r.r_A, r.g[pair], ls, color=_color(i), lw=1,
                    label=f"{lab}: peak {r.peaks_A[pair]:.3f} A")
        ax.axvline(exp_peaks[pair], color="k", ls=":", lw=0.8,
                   label=f"perfect lattice, a = {a_exp} A (exp.): {exp_peaks[pair]:.3f} A")
        ax.set_xlabel("r / A")
        ax.set_ylabel(f"g$_{{{pair}}}$(r)")
        ax.set_title(pair)
        ax.set_ylim(0, 1.5 * ax.get_ylim()[1])     # headroom: the legend hides no peak
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig


def plot_parity(predictions: Mapping, offsets: Mapping, metrics: Mapping | None = None):
    """Parity plots (model vs DFT) of energy per atom, force components and stress
    components, one row per model; bulk and interstitial frames in different colours.

    ``predictions``: label -> :class:`lidiff_helpers.analysis.parity.Predictions`; ``offsets``:
    label -> :class:`~lidiff_helpers.analysis.parity.EnergyOffset` (removed from the energies only
    when ``applied``); ``metrics``: label -> rows of
    :func:`~lidiff_helpers.analysis.parity.parity_metrics`, quoted in the panels.
    """
    plt = _plt()
    n = len(predictions)
    fig, axes = plt.subplots(n, 3, figsize=(12, 3.6 * n), squeeze=False)
    for row, (lab, p) in zip(axes, predictions.items()):
        off = offsets[lab]
        ep, er = p.energy_per_atom_eV()
        ep = ep - off.per_frame_eV_atom(p.kinds)
        kinds = np.asarray(p.kinds)
        mrows = {r["kind"]: r for r in (metrics or {}).get(lab, [])}
        for kind, col in (("bulk", "tab:blue"), ("interstitial", "tab:orange")):
            m = kinds == kind
            if not m.any():
                continue
            am = p.atom_mask(m)
            r = mrows.get(kind, {})
            row[0].plot(er[m], ep[m], "o", ms=3, color=col,
                        label=f"{kind} ({m.sum()}): RMSE {r.get('E_rmse_meV_atom', np.nan):.3g}"
                              " meV/atom")
            row[1].plot(p.ref_forces_eV_A[am].ravel(), p.forces_eV_A[am].ravel(), ".", ms=1,
                        color=col, label=f"{kind}: RMSE {r.get('F_rmse_meV_A', np.nan):.3g} meV/A")
            row[2].plot(p.ref_stress_eV_A3[m].ravel() / units.GPa,
                        p.stress_eV_A3[m].ravel() / units.GPa, "o", ms=3, color=col,
                        label=f"{kind}: RMSE {r.get('S_rmse_GPa', np.nan):.3g} GPa")
        shift = " - offset" if off.applied else ""
        for ax, xl, yl in ((row[0], "DFT E / eV atom$^{-1}$", f"{lab} E{shift} / eV atom$^{-1}$"),
                           (row[1], "DFT F / eV A$^{-1}$", f"{lab} F / eV A$^{-1}$"),
                           (row[2], "DFT stress / GPa", f"{lab} stress / GPa")):
            lo, hi = ax.get_xlim()
            lo2, hi2 = ax.get_ylim()
            pad = 0.05 * (max(hi, hi2) - min(lo, lo2))
            lim = (min(lo, lo2) - pad, max(hi, hi2) + pad)
            ax.plot(lim, lim, "k-", lw=0.6)
            ax.set_xlim(lim)
            ax.set_ylim(lim)
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.xaxis.set_major_locator(plt.MaxNLocator(5))   # readable energy ticks
            ax.yaxis.set_major_locator(plt.MaxNLocator(5))
            ax.legend(fontsize=7)
        row[0].set_title(("energy offset removed per composition" if off.applied
                          else "no energy offset removed") + f" ({off.method})", fontsize=8)
    fig.tight_layout()
    return fig
