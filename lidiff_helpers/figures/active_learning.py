"""Figures of the active-learning notebook (03): deviation histograms with the selection
bands, committee disagreement against round, the replay of the study's steps, the
extrapolation grades of the MLIP-3 loop, and the three-way selection comparison.

Every function takes a ``label_note`` that is printed on the figure: when the labels
came from a surrogate model instead of DFT the figure must say so
(:func:`label_note`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["label_note", "plot_deviation_histograms", "plot_disagreement_vs_round",
           "plot_gamma_history", "plot_replay_disagreement", "plot_selection_comparison"]

_KIND_COLORS = {"bulk": "tab:blue", "interstitial": "tab:red"}


def label_note(sources: Sequence[str]) -> str:
    """One line saying where the labels came from (warning for surrogate labels)."""
    sur = [s for s in sources if str(s).startswith("surrogate:")]
    if sur:
        return ("labels: SURROGATE model (" + ", ".join(s.split(":", 1)[1] for s in sur)
                + "), not DFT - a teaching run, not the study's data")
    return "labels: " + (", ".join(sources) if sources else "unknown")


def _note(fig, text: str) -> None:
    if text:
        fig.text(0.005, 0.995, text, ha="left", va="top", fontsize=7,
                 color="darkred" if "SURROGATE" in text else "0.3")


def _finish(fig, ax, ylabel: str, title: str, label_note: str):
    """Common ending of the per-round/per-step figures: labels, legend, label note."""
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _note(fig, label_note)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def plot_deviation_histograms(deviations: Sequence[Mapping], label_note: str = "",
                              bins: int = 30):
    """One panel per round: histogram of Eq. 4 per kind, the selection bands of each kind
    (shaded: band 1 darkest) and the selected frames (ticks on the axis).

    ``deviations``: :attr:`lidiff_helpers.training.active_learning.ALResult.deviations`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = max(1, len(deviations))
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for ax, entry in zip(axes[0], deviations):
        d = np.asarray(entry["max_eV_A"], float)
        kinds = np.asarray(entry["kind"])
        if d.size == 0:
            ax.set_title(f"round {entry['round']}: no frames")
            continue
        edges = np.linspace(0.0, float(d.max()) * 1.05 + 1e-12, bins + 1)
        for kind in ("bulk", "interstitial"):
            m = kinds == kind
            if not m.any():
                continue
            c = _KIND_COLORS[kind]
            ax.hist(d[m], bins=edges, histtype="step", color=c, lw=1.5,
                    label=f"{kind} ({int(m.sum())})")
            sel = entry.get("selection", {}).get(kind, {})
            if "sigma_eV_A" in sel and np.isfinite(sel["sigma_eV_A"]):
                mu, s = sel["center_eV_A"], sel["sigma_eV_A"]
                prev = 0.0
                for j, e in enumerate(sel["edges_sigma"]):
                    alpha = 0.18 / (j + 1)
                    lo_in, hi_in = mu + prev * s, mu + e * s
                    ax.axvspan(lo_in, hi_in, color=c, alpha=alpha, lw=0)
                    if sel.get("side", "both") == "both":
                        ax.axvspan(mu - e * s, mu - prev * s, color=c, alpha=alpha, lw=0)
                    ax.axvline(mu + e * s, color=c, lw=0.6, ls=":")
                    prev = e
                ax.axvline(mu, color=c, lw=0.8, ls="--")
            elif "lo_eV_A" in sel:
                ax.axvspan(sel["lo_eV_A"], sel["hi_eV_A"], color=c, alpha=0.12, lw=0)
        chosen = np.asarray(entry.get("selected", []), int)
        if chosen.size:
            ax.plot(d[chosen], np.zeros(chosen.size), "|", color="k", ms=10,
                    label=f"selected ({chosen.size})")
        ax.set_xlabel(r"max atomic force deviation $\sigma$ (Eq. 4) / eV $\AA^{-1}$")
        ax.set_ylabel("frames")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))   # counts
        ax.set_title(f"round {entry['round']}")
        ax.legend(fontsize=7)
    fig.suptitle("Committee disagreement of explored frames; shaded: selection bands "
                 "(mean +/- k std of each kind)", fontsize=9, y=0.93)
    _note(fig, label_note)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def plot_disagreement_vs_round(table, label_note: str = ""):
    """Mean (markers) and 95th percentile (dashed) of Eq. 4 per kind against round.

    ``table``: :meth:`lidiff_helpers.training.active_learning.ALResult.table` (rows with
    ``<kind>_maxdev_mean_eV_A`` columns).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    t = table[table["step"] != "step 0"].reset_index(drop=True)
    x = np.arange(len(t))
    for kind in ("bulk", "interstitial"):
        col = f"{kind}_maxdev_mean_eV_A"
        if col not in t:
            continue
        c = _KIND_COLORS[kind]
        ax.plot(x, t[col], "o-", color=c, label=f"{kind}: mean")
        if f"{kind}_maxdev_p95_eV_A" in t:
            ax.plot(x, t[f"{kind}_maxdev_p95_eV_A"], "s--", color=c, alpha=0.6,
                    label=f"{kind}: 95th pct")
    ax.set_xticks(x, list(t["step"]))
    return _finish(fig, ax, r"$\sigma$ (Eq. 4) / eV $\AA^{-1}$",
                   "Committee disagreement against round", label_note)


def plot_replay_disagreement(table, label_note: str = "labels: the study's DFT (QE)"):
    """Replay of the study: Eq. 4 of each step's committee on the common probe frames
    (bars: mean per kind) and on the frames the study added next (diamonds)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    steps = list(dict.fromkeys(table["step"]))
    x = np.arange(len(steps))
    w = 0.38
    for j, kind in enumerate(("bulk", "interstitial")):
        col = f"{kind}_maxdev_mean_eV_A"
        com = table[table["probe"] == "common"].set_index("step")
        vals = [com[col].get(s, np.nan) if col in com else np.nan for s in steps]
        ax.bar(x + (j - 0.5) * w, vals, w, color=_KIND_COLORS[kind], alpha=0.7,
               label=f"{kind}: held-out FT2 validation frames")
        nxt = table[table["probe"] == "next"].set_index("step")
        if col in nxt:
            v2 = [nxt[col].get(s, np.nan) for s in steps]
            ax.plot(x + (j - 0.5) * w, v2, "D", color=_KIND_COLORS[kind], mec="k",
                    label=f"{kind}: frames the study added next")
    ax.set_xticks(x, steps)
    return _finish(fig, ax, r"mean $\sigma$ (Eq. 4) / eV $\AA^{-1}$",
                   "Replay of the study's steps: committee disagreement", label_note)


_METHOD_STYLE = {"committee": ("tab:purple", "o"), "extrapolation": ("tab:green", "s"),
                 "random": ("0.4", "^")}


def plot_gamma_history(rounds: Sequence[Mapping], label_note: str = ""):
    """Extrapolation grade of every explored frame per round (log scale; selected frames
    ringed), with ``gamma_select`` and ``gamma_break`` as lines.

    ``rounds``: :attr:`lidiff_helpers.training.al_extrapolation.ExtrapolationResult.rounds`.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    rng = np.random.default_rng(0)
    for entry in rounds:
        g = np.maximum(np.asarray(entry["grades"], float), 1e-3)
        x = entry["round"] + rng.uniform(-0.18, 0.18, len(g))
        ax.plot(x, g, ".", color="tab:green", alpha=0.5, ms=4,
                label="explored frames" if entry is rounds[0] else None)
        sel = np.asarray(entry["selected"], int)
        if len(sel):
            ax.plot(x[sel], g[sel], "o", mfc="none", mec="k", ms=7,
                    label="selected (MaxVol)" if entry is rounds[0] else None)
    if rounds:
        for key, ls in (("gamma_select", "--"), ("gamma_break", "-")):
            v = rounds[0][key]
            ax.axhline(v, color="tab:red", ls=ls, lw=1, label=f"{key} = {v:g}")
        ax.set_xticks([e["round"] for e in rounds])
    else:
        ax.text(0.5, 0.5, "no round ran", ha="center", transform=ax.transAxes)
    ax.set_yscale("log")
    ax.set_xlabel("round")
    return _finish(fig, ax, r"extrapolation grade $\gamma$",
                   "MLIP-3 loop: extrapolation grade of the explored frames", label_note)


def plot_selection_comparison(table, label_note: str = ""):
    """Held-out force RMSE (bulk, interstitial) and, when measured, the knock-off barrier
    against the number of labelled frames, one line per selection method (the foundation
    without fine-tuning dashed).

    ``table``: :func:`lidiff_helpers.training.al_compare.compare_selection`.
    """
    import matplotlib.pyplot as plt

    cols = [("bulk_F_rmse_meV_A", r"bulk force RMSE / meV $\AA^{-1}$"),
            ("interstitial_F_rmse_meV_A", r"interstitial force RMSE / meV $\AA^{-1}$")]
    if "barrier_eV" in table and table["barrier_eV"].notna().any():
        cols.append(("barrier_eV", "collinear knock-off barrier / eV"))
    fig, axes = plt.subplots(1, len(cols), figsize=(3.6 * len(cols), 3.4), squeeze=False)
    for ax, (col, ylabel) in zip(axes[0], cols):
        for m, t in table.groupby("method", sort=False):
            if m.startswith("foundation"):  # the reference: no fine-tuning at all
                ax.axhline(t[col].iloc[0], color="k", ls="--", lw=1, label=m)
                continue
            c, mk = _METHOD_STYLE.get(m, ("k", "x"))
            ax.plot(t["n_labelled"], t[col], marker=mk, color=c, label=m)
        ax.set_xlabel("labelled frames")
        ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Selection methods on one candidate pool and label budget", fontsize=9)
    _note(fig, label_note)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig
