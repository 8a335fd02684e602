"""Figures of notebook 05 (diffusion and Arrhenius analysis); no computation here.

Each function takes results of :mod:`lidiff_helpers.analysis.diffusion`,
:mod:`~lidiff_helpers.analysis.arrhenius`, :mod:`~lidiff_helpers.analysis.hops` or
:mod:`lidiff_helpers.workflows.arrhenius_analysis` (``RunAnalyses``, passed in, not
imported) and returns a matplotlib figure; axes carry units. Figure
numbers follow the study (Alghamdi et al., J. Phys. Energy 2026): Figure 1 knock-off
snapshots, Figure 2 Arrhenius plot, Figure 3 D per model at 400 and 450 K.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence

import numpy as np

from lidiff_helpers.analysis.arrhenius import (EA_RESOLVED_MAX_ERR_EV, ArrheniusFit,
                                               arrhenius_D_cm2_s)
from lidiff_helpers.core import paths
from lidiff_helpers.figures.ticks import plain_log_ticks
from lidiff_helpers.io.loading import load_trajectory

__all__ = [
    "benchmark_markdown",
    "event_widget",
    "event_images",
    "first_knockoff",
    "knockoff_frames",
    "plot_D_at_temperatures",
    "plot_arrhenius",
    "plot_haven_ratio",
    "plot_hop_counts",
    "plot_knockoff_snapshots",
    "plot_msd_fits",
    "title",
]

_COLORS = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]


def title(text: str, synthetic: bool) -> str:
    """Figure title, prefixed ``SYNTHETIC`` for synthetic trajectories."""
    return f"SYNTHETIC trajectories (known D, DeePMD Ea/D0) - {text}" if synthetic else text


def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_msd_fits(analyses, *, synthetic: bool, max_models: int = 4):
    """MSD (chosen convention) of replica 0 per temperature, fit window shaded, fit dashed."""
    plt = _plt()
    tab = analyses.table
    models = list(dict.fromkeys(tab["model"]))[:max_models]
    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        g = tab[(tab["model"] == model)].sort_values(["temperature_K", "replica"])
        g = g.drop_duplicates("temperature_K")
        for c, (k, row) in zip(_COLORS * 4, g.iterrows()):
            res = analyses.results[k]
            t0, t1 = res.fit_window_ps
            tmax = min(res.lag_ps[-1], 2 * t1)
            sel = res.lag_ps <= tmax
            step = max(1, int(sel.sum() // 400))
            ax.plot(res.lag_ps[sel][::step], res.msd_A2[sel][::step], color=c, lw=1,
                    label=f"{row['temperature_K']:g} K")
            tt = np.array([0, tmax])
            ax.plot(tt, 6 * res.D_cm2_s / 1e-4 * tt + res.fit_intercept_A2, "--", color=c,
                    lw=0.8)
            ax.axvspan(t0, t1, color=c, alpha=0.06)
        conv = tab["convention"].iloc[0]
        ylab = {"defect": r"$\sum_i$ MSD$_i$ / $\AA^2$", "tracer": r"MSD per Li / $\AA^2$",
                "collective": r"$|\sum_i \Delta r_i|^2$ / $\AA^2$"}[conv]
        ax.set(xlabel="t / ps", ylabel=ylab, title=f"{model} ({conv} convention)")
        ax.legend(fontsize=7)
    fig.suptitle(title("MSD with fit windows (shaded) and fits (dashed)", synthetic), fontsize=9)
    fig.tight_layout()
    return fig


def plot_arrhenius(rep_table, fits: Mapping[str, ArrheniusFit], *, synthetic: bool,
                   reference=None, T_range_K: Sequence[float] = (280.0, 620.0)):
    """Figure 2: ln D vs 1000/T with error bars, fits and the DeePMD reference line.

    Parameters
    ----------
    rep_table : replica-averaged table (model, temperature_K, D_cm2_s, D_err_cm2_s)
    fits : model -> ArrheniusFit
    reference : :class:`lidiff_helpers.core.reference.ArrheniusReference` drawn dashed
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    t_data = rep_table["temperature_K"].to_numpy(dtype=float)
    lo, hi = T_range_K
    if t_data.size:                    # the lines span the data too (e.g. quick: 800-1000 K)
        lo, hi = min(lo, 0.95 * t_data.min()), max(hi, 1.05 * t_data.max())
    T = np.linspace(lo, hi, 100)
    dropped = []
    for c, (model, g) in zip(_COLORS * 4, rep_table.groupby("model", sort=False)):
        pos = g["D_cm2_s"].to_numpy() > 0      # ln D: a fitted D <= 0 (noise) cannot be drawn
        dropped += [f"{model} {t:g} K" for t in g["temperature_K"].to_numpy()[~pos]]
        g = g[pos]
        x = 1000 / g["temperature_K"].to_numpy()
        y = np.log(g["D_cm2_s"].to_numpy())
        yerr = np.abs(g["D_err_cm2_s"].to_numpy() / g["D_cm2_s"].to_numpy())
        ax.errorbar(x, y, yerr=yerr, fmt="o", color=c, capsize=3, label=model)
        if model in fits:
            f = fits[model]
            if np.isfinite(f.Ea_err_eV) and f.Ea_err_eV <= EA_RESOLVED_MAX_ERR_EV:
                lab = f"fit: Ea = {f.Ea_eV:.3f} ± {f.Ea_err_eV:.3f} eV"
                ax.plot(1000 / T, np.log(f.predict(T).D_cm2_s), color=c, lw=1, label=lab)
            else:  # a line across the plot would claim an Ea the data do not resolve
                ax.plot([], [], " ", label=f"{model}: Ea not resolved (± {f.Ea_err_eV:.2g} eV)")
    if reference is not None:
        ax.plot(1000 / T, np.log(arrhenius_D_cm2_s(T, reference.Ea_eV, reference.D0_cm2_s)),
                "k--", lw=1, label=f"study {reference.model}: Ea = {reference.Ea_eV} eV, "
                f"D0 = {reference.D0_cm2_s:g} cm²/s")
    ax.set(xlabel="1000 / T / K$^{-1}$", ylabel="ln(D / cm$^2$ s$^{-1}$)")
    if dropped:
        ax.text(0.02, 0.02, "D <= 0 (too short / noisy), not shown nor fitted: "
                + ", ".join(dropped), transform=ax.transAxes, fontsize=6, color="crimson")
    ax.legend(fontsize=7)
    ax.set_title(title("Figure 2: Arrhenius plot", synthetic), fontsize=8)
    fig.tight_layout()
    return fig


def plot_D_at_temperatures(rep_table, temperatures_K: Sequence[float], *, synthetic: bool,
                           reference=None):
    """Figure 3: D per model at each temperature, DeePMD reference dashed.

    The reference at a temperature the study tabulates (450, 500 K) is its Table 3
    value; elsewhere (400 K) it is D0 exp(-Ea/kT) from its Table 3 Ea and D0. A
    temperature without runs gets no panel; with none at any, the return value is one line
    saying so (a str: :meth:`~lidiff_helpers.runner.notebook.NotebookRun.save_figure`
    prints it instead of saving empty axes).
    """
    have = [T for T in temperatures_K if np.isclose(rep_table["temperature_K"], T).any()]
    if not have:
        return (f"no MD run at {' or '.join(f'{T:g}' for T in temperatures_K)} K in this "
                "profile: Figure 3 needs them (the paper profile runs them)")
    temperatures_K = have
    plt = _plt()
    fig, axes = plt.subplots(1, len(temperatures_K), figsize=(4.2 * len(temperatures_K), 3.8),
                             squeeze=False)
    for ax, T in zip(axes[0], temperatures_K):
        g = rep_table[np.isclose(rep_table["temperature_K"], T)]
        models = list(g["model"])
        ax.errorbar(range(len(models)), g["D_cm2_s"] * 1e6, yerr=g["D_err_cm2_s"] * 1e6,
                    fmt="o", capsize=4, color="tab:blue")
        ax.set_xticks(range(len(models)), models, rotation=20, fontsize=8)
        if reference is not None:
            tab = reference.D_at_cm2_s(T)
            D_ref = tab if tab is not None else arrhenius_D_cm2_s(T, reference.Ea_eV,
                                                                 reference.D0_cm2_s)
            how = "Table 3" if tab is not None else "Table 3 Ea, D0"
            ax.axhline(D_ref * 1e6, color="k", ls="--", lw=1,
                       label=f"study {reference.model} ({how})")
            ax.legend(fontsize=7, loc="upper right")
        ax.set(ylabel="D / 10$^{-6}$ cm$^2$ s$^{-1}$", title=f"{T:g} K")
        ax.set_ylim(0, 1.4 * ax.get_ylim()[1])      # headroom: the legend hides no bar
        ax.set_xlim(-0.7, max(len(models), 1) - 0.3)
    fig.suptitle(title("Figure 3: D per model", synthetic), fontsize=9)
    fig.tight_layout()
    return fig


def plot_hop_counts(table, *, synthetic: bool):
    """Detected knock-off and direct hops per ns vs temperature, per model (replica mean)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    if "n_knockoff" not in table:
        ax.text(0.5, 0.5, "no hop analysis", ha="center", transform=ax.transAxes)
        return fig
    for c, (model, g) in zip(_COLORS * 4, table.groupby("model", sort=False)):
        m = g.groupby("temperature_K").agg(ko=("n_knockoff", "sum"), di=("n_direct", "sum"),
                                           dur=("duration_ps", "sum")).reset_index()
        ax.plot(m["temperature_K"], m["ko"] / m["dur"] * 1e3, "o-", color=c,
                label=f"{model}: knock-off")
        ax.plot(m["temperature_K"], m["di"] / m["dur"] * 1e3, "s:", color=c,
                label=f"{model}: direct interstitial")
    ax.set(xlabel="T / K", ylabel="events / ns", yscale="log")
    plain_log_ticks(ax.yaxis)
    ax.legend(fontsize=7)
    ax.set_title(title("Hop events per temperature", synthetic), fontsize=8)
    fig.tight_layout()
    return fig


def plot_haven_ratio(table, *, synthetic: bool):
    """Haven ratio D_defect / D_collective per run vs temperature."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for c, (model, g) in zip(_COLORS * 4, table.groupby("model", sort=False)):
        ax.errorbar(g["temperature_K"], g["haven_ratio"], yerr=g["haven_ratio_err"], fmt="o",
                    color=c, capsize=3, label=model, alpha=0.8)
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set(xlabel="T / K", ylabel="Haven ratio $H_R$ = D$_{defect}$ / D$_{collective}$")
    ax.legend(fontsize=7)
    ax.set_title(title("Haven ratio", synthetic), fontsize=8)
    fig.tight_layout()
    return fig


def first_knockoff(analyses):
    """(row index, HopEvent) of the first knock-off with room before/after it, or None."""
    for k, h in analyses.hops.items():
        n = len(h.n_interstitial)
        for e in h.of_kind("knockoff"):
            if e.frame_left > 10 and e.frame < n - 11:
                return k, e
    return None


def _local_atoms(pos, numbers, center, box, radius, keep):
    from ase import Atoms

    d = pos - center
    d -= box * np.round(d / box)
    sel = np.flatnonzero((np.linalg.norm(d, axis=1) < radius) | np.isin(np.arange(len(d)), keep))
    return Atoms(numbers=numbers[sel], positions=d[sel]), sel


def _cube_sites(a_A: float):
    """Ideal sites of the conventional cube (edge ``a_A``) centred on a lattice Li site, in
    A: lattice Li sites, F sites and the 8 tetrahedral interstitial sites."""
    g = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    even = g.sum(axis=1) % 2 == 0
    tet = np.array([(i, j, k) for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)]) * 0.5
    return g[even] * a_A / 2, g[~even] * a_A / 2, tet * a_A / 2


def knockoff_frames(traj, event, offset_ps: float = 0.5):
    """Figure 1's geometry: the ``before``/``during``/``after`` frame indices (``offset_ps``
    around the event), the rock-salt sites fitted to the F sublattice of the first, and a
    function mapping positions (A) to minimum-image vectors from the exchanged lattice
    site (the cube's centre)."""
    from lidiff_helpers.analysis.hops import fit_rocksalt_sites

    n = traj.positions_A.shape[0]
    k = max(1, round(offset_ps / traj.frame_interval_ps))
    frames = {"before": max(0, event.frame_left - k),
              "during": (event.frame_left + event.frame) // 2,
              "after": min(n - 1, event.frame + k)}
    box = np.diag(traj.cell_A)
    pos0 = np.asarray(traj.positions_A[frames["before"]], float)
    sites = fit_rocksalt_sites(traj.cell_A, pos0[traj.numbers == 9])
    centre = (sites.site_position_A(event.lattice_site) if event.lattice_site >= 0
              else pos0[event.atoms[1]])

    def local(x):
        d = np.asarray(x, float) - centre
        return d - box * np.round(d / box)

    return frames, sites, local


def plot_knockoff_snapshots(trajectory, event, *, synthetic: bool, offset_ps: float = 0.5,
                            elev_deg: float = 16.0, azim_deg: float = -58.0):
    """Figure 1: before / during / after a knock-off, in the local rock-salt cube.

    The conventional cube (edge a) centred on the exchanged lattice site is drawn from one
    fixed viewpoint in the three panels, with its ideal lattice sites (hollow: Li grey, F
    green) and tetrahedral interstitial sites (x); the atoms inside it at that time
    (Li grey, F green); the incoming interstitial Li (red) and the lattice Li it knocks off
    (blue) with their paths over the whole window, so the exchange reads across the panels.
    The site lattice is fitted to the F sublattice
    (:func:`lidiff_helpers.analysis.hops.fit_rocksalt_sites`).
    """
    from matplotlib.lines import Line2D

    plt = _plt()
    traj = load_trajectory(trajectory)
    frames, sites, local = knockoff_frames(traj, event, offset_ps)
    a_in, a_out = event.atoms
    li_sites, f_sites, tet_sites = _cube_sites(sites.a_A)
    h = sites.a_A / 2
    window = range(frames["before"], frames["after"] + 1)
    paths = {i: np.array([local(traj.positions_A[f, i]) for f in window]) for i in (a_in, a_out)}
    corners = np.array(list(itertools.product((-h, h), repeat=3)))
    edges = [(p, q) for i, p in enumerate(corners) for q in corners[i + 1:]
             if np.count_nonzero(p != q) == 1]  # the cube's 12 edges
    fig = plt.figure(figsize=(13, 4.8))
    for j, (name, f) in enumerate(frames.items()):
        ax = fig.add_subplot(1, 3, j + 1, projection="3d")
        for p, q in edges:
            ax.plot(*zip(p, q), color="0.6", lw=0.8)
        for pts, c in ((li_sites, "0.55"), (f_sites, "tab:green")):
            ax.scatter(*pts.T, s=90, facecolors="none", edgecolors=c, linewidths=0.8)
        ax.scatter(*tet_sites.T, s=25, marker="x", color="k", linewidths=0.8)
        d = local(traj.positions_A[f])
        inside = np.all(np.abs(d) <= h + 0.35, axis=1)
        inside[[a_in, a_out]] = False
        for z, c, size in ((3, "0.7", 60), (9, "tab:green", 110)):
            m = inside & (traj.numbers == z)
            ax.scatter(*d[m].T, s=size, color=c, edgecolors="k", linewidths=0.3, alpha=0.9)
        for i, c in ((a_in, "tab:red"), (a_out, "tab:blue")):
            ax.plot(*paths[i].T, color=c, lw=1.0, alpha=0.6)
            ax.scatter(*d[i], s=140, color=c, edgecolors="k", linewidths=0.6, depthshade=False)
        lim = h + 0.6
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), zlim=(-lim, lim))
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=elev_deg, azim=azim_deg)
        ax.set_axis_off()
        ax.set_title(f"{name}: t = {traj.time_ps[f] - traj.time_ps[0]:.2f} ps", fontsize=9)
    handles = [Line2D([], [], marker="o", ls="", color="tab:red", mec="k", label="incoming Li"),
               Line2D([], [], marker="o", ls="", color="tab:blue", mec="k",
                      label="knocked-off lattice Li"),
               Line2D([], [], color="0.4", lw=1, label="their paths (whole window)"),
               Line2D([], [], marker="o", ls="", color="0.7", mec="k", label="Li"),
               Line2D([], [], marker="o", ls="", color="tab:green", mec="k", label="F"),
               Line2D([], [], marker="o", ls="", mfc="none", mec="0.55", label="lattice site"),
               Line2D([], [], marker="x", ls="", color="k", label="interstitial (tet.) site"),
               Line2D([], [], color="0.6", lw=0.8, label=f"cube, a = {sites.a_A:.2f} A")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(title(f"Figure 1: knock-off at {event.time_ps:.2f} ps in the rock-salt cube "
                       "centred on the exchanged lattice site", synthetic), fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.16, wspace=0.02)
    return fig


def event_images(trajectory, event, *, radius_A: float = 5.0, pad_ps: float = 1.0) -> list:
    """The frames around ``event`` (``pad_ps`` before and after) as ASE Atoms: the atoms
    within ``radius_A`` of the exchanged site (minimum image, centred on it), the incoming
    Li first and the knocked-off Li second, so that viewers can colour them."""
    from ase import Atoms

    traj = load_trajectory(trajectory)
    k = max(1, round(pad_ps / traj.frame_interval_ps))
    box = np.diag(traj.cell_A)
    center = np.asarray(traj.positions_A[event.frame, event.atoms[0]], float)
    frames = range(max(0, event.frame_left - k), min(traj.positions_A.shape[0], event.frame + k))
    ref = np.asarray(traj.positions_A[event.frame], float)
    _, sel = _local_atoms(ref, traj.numbers, center, box, radius_A, list(event.atoms))
    a_in, a_out = event.atoms
    order = [a_in, a_out] + [i for i in sel if i not in (a_in, a_out)]
    images = []
    for f in frames:
        d = np.asarray(traj.positions_A[f], float)[order] - center
        d -= box * np.round(d / box)
        at = Atoms(numbers=traj.numbers[order], positions=d)
        at.info.update(time_ps=float(f * traj.frame_interval_ps), frame=int(f))
        images.append(at)
    return images


def event_widget(trajectory, event, *, radius_A: float = 5.0, pad_ps: float = 1.0):
    """An nglview widget of :func:`event_images`, or None without nglview.

    Only for interactive JupyterLab sessions; notebook 05 calls it only when its
    ``show_widget`` parameter is true, so headless (papermill) runs never need it.
    """
    try:
        import nglview
    except ImportError:
        return None
    return nglview.show_asetraj(event_images(trajectory, event, radius_A=radius_A,
                                             pad_ps=pad_ps))


def benchmark_markdown(path: str | os.PathLike | None = None) -> str:
    """The measured MSD benchmark (``benchmarks/RESULTS_msd.md``) as markdown text."""
    return paths.benchmark_report(path or paths.BENCHMARKS / "RESULTS_msd.md",
                                  "python benchmarks/bench_msd.py")
