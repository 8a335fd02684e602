"""Figures of the fine-tuning sweeps (notebook 02): learning curves, error vs data size.

Axes carry units; every function returns a matplotlib Figure for ``run.save_figure``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lidiff_helpers.figures.ticks import plain_log_ticks

__all__ = ["error_vs_size", "foundation_contrast", "learning_curves", "reference_learning_curves",
           "strategy_bars",
           "validation_by_size"]

_METHOD_STYLE = {"naive": ("C0", "o"), "scratch": ("C3", "s")}


def _style(method: str) -> tuple[str, str]:
    """(colour, marker) of a method: naive, scratch, multihead-pt<N>[-anything]."""
    import re

    if method in _METHOD_STYLE:
        return _METHOD_STYLE[method]
    m = re.search(r"pt(\d+)", method)
    colors = {100: "C1", 1000: "C2", 10000: "C4"}
    return colors.get(int(m.group(1)) if m else 0, "C5"), "^"


def learning_curves(results: Sequence, metric: str = "rmse_f_meV_A"):
    """Validation force RMSE per epoch: fine-tuned head (left), replay head (right).

    ``results``: :class:`lidiff_helpers.training.finetune.FinetuneResult` (finished ones used).
    """
    from lidiff_helpers.training.sweeps import learning_curve

    curves = [(r.config.label, *_style(r.config.arm),
               "-" if r.config.selection == "random" else "--", learning_curve(r.workdir))
              for r in results if r.ok]
    return _curves_figure(curves, metric)


def reference_learning_curves(logs, metric: str = "rmse_f_meV_A"):
    """The committed reference models' validation errors per epoch (``logs``: arm name ->
    its ``<arm>.train_log.json`` records), as :func:`learning_curves`."""
    from lidiff_helpers.training.sweeps import learning_curve

    styles = {"lora": ("C6", "v"), "multihead-pt100-mace-default": ("C8", "D"),
              "multihead-pt100-pseudolabel": ("C9", "P")}
    curves = [(name, *(styles[name] if name in styles else _style(name)), "-",
               learning_curve(recs)) for name, recs in logs.items()]
    return _curves_figure(curves, metric)


def _curves_figure(curves, metric: str):
    """``curves``: (label, colour, marker, line style, learning-curve DataFrame)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    any_pt = False
    for label, color, marker, ls, lc in curves:
        for ax, head in zip(axes, ("Default", "pt_head")):
            d = lc[lc["head"] == head]
            if d.empty:
                continue
            any_pt |= head == "pt_head"
            ax.plot(d["epoch"] + 1, d[metric], ls=ls, marker=marker, ms=3, color=color,
                    label=label)
    unit = metric.split("_")[-2] + "/" + metric.split("_")[-1]
    axes[0].set_title("fine-tuned head (LiF validation frames)")
    axes[1].set_title("replay head pt_head (MPtrj validation frames)")
    for ax in axes:
        ax.set_xlabel("epoch (0 = before training)")
        ax.set_ylabel(f"force RMSE / {unit}")
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are integers
    if not any_pt:
        axes[1].text(0.5, 0.5, "no multihead run", ha="center", transform=axes[1].transAxes)
    axes[0].legend(fontsize=6, loc="best")
    fig.tight_layout()
    return fig


def error_vs_size(table, baseline: dict | None = None,
                  metrics: Sequence[str] = ("interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A"),
                  note: str = ""):
    """Test-set force RMSE against the number of fine-tuning frames, per method/selection.

    ``table``: :func:`lidiff_helpers.training.evaluation.sweep_table`; ``baseline``: the
    foundation model's row (zero-shot), drawn as a horizontal line; ``note``: a line
    under the axes (e.g. the CPU budgets).
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.8))
    axes = np.atleast_1d(axes)
    ok = table[table["status"].isin(["trained", "resumed", "skipped"])]
    for ax, m in zip(axes, metrics):
        if m not in ok:
            continue
        for (method, sel), g in ok.groupby(["method", "selection"]):
            g = g.groupby("n_frames")[m].agg(["mean", "min", "max"]).reset_index()
            color, marker = _style(method)
            ax.errorbar(g["n_frames"], g["mean"], yerr=[g["mean"] - g["min"], g["max"] - g["mean"]],
                        color=color, marker=marker, ls="-" if sel == "random" else "--",
                        capsize=3, label=f"{method} ({sel})")
        if baseline and m in baseline:
            ax.axhline(baseline[m], color="k", ls=":", lw=1, label="foundation (zero-shot)")
        kind = m.split("_")[0]
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # frames are integers
        ax.set_xlabel("fine-tuning frames")
        ax.set_ylabel(f"{kind} test force RMSE / meV/A")
        ax.set_title(f"held-out {kind} frames")
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    if note:
        fig.subplots_adjust(bottom=0.2)
        fig.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=8)
    return fig


def strategy_bars(table, metric: str = "interstitial_F_rmse_meV_A", target: float | None = 30.0):
    """One bar per run (naive / multihead / scratch ...) of a test-set metric."""
    import matplotlib.pyplot as plt

    ok = table.dropna(subset=[metric])
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(ok), 3.6))
    colors = [_style(m)[0] for m in ok["method"]]
    ax.bar(range(len(ok)), ok[metric], color=colors)
    ax.set_xticks(range(len(ok)), ok["run"], rotation=30, ha="right", fontsize=7)
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=1, label=f"target {target:g} meV/A")
        ax.legend(fontsize=7)
    ax.set_ylabel(f"{metric.split('_')[0]} test force RMSE / meV/A")
    fig.tight_layout()
    return fig


def validation_by_size(table):
    """Validation force RMSE per epoch, one panel per number of fine-tuning frames, a line
    per method: how fast each strategy learns from 10, 30, 110 or 210 frames.

    ``table``: the learning curve's rows (``method``, ``n_frames``, ``valid_curve`` =
    [[epoch, meV/A], ...], optional ``train_cpu_s``), e.g.
    :func:`lidiff_helpers.workflows.reference_metrics.load_learning_curve`."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ok = table[table["valid_curve"].map(lambda c: isinstance(c, list) and len(c) > 0)] \
        if "valid_curve" in table else table.iloc[0:0]
    sizes = sorted(int(n) for n in ok["n_frames"].unique()) if len(ok) else []
    fig, axes = plt.subplots(1, max(1, len(sizes)), figsize=(3.2 * max(1, len(sizes)), 3.4),
                             sharey=True, squeeze=False)
    axes = axes[0]
    if not sizes:
        axes[0].text(0.5, 0.5, "no learning-curve run", ha="center", transform=axes[0].transAxes)
    for ax, n in zip(axes, sizes):
        for r in ok[ok["n_frames"] == n].to_dict("records"):
            e, f = np.asarray(r["valid_curve"], dtype=float).T
            color, marker = _style(r["method"])
            cpu = r.get("train_cpu_s")
            label = r["method"] + (f" ({cpu:.0f} CPU-s)" if cpu is not None and cpu == cpu else "")
            ax.plot(e + 1, f, color=color, marker=marker, ms=3, label=label)
        ax.set_title(f"{n} fine-tuning frames")
        ax.set_xlabel("epoch (0 = before training)")
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=6)
    axes[0].set_ylabel("validation force RMSE / meV/A")
    fig.tight_layout()
    return fig


def foundation_contrast(table, dft_eV: float | None = None):
    """Fine-tuning a soft foundation vs a good one: the collinear knock-off barrier (eV)
    of each arm, one bar per foundation, each foundation's zero-shot barrier as a dashed
    line of its colour and DFT at the study's level of theory (``dft_eV``) as a black one.

    ``table``: :func:`lidiff_helpers.workflows.reference_metrics.foundation_contrast`."""
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(table["foundation"]))
    arms = list(dict.fromkeys(m for m in table["model"] if m != "(the foundation)"))
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(arms), 3.6))
    width = 0.8 / max(1, len(labels))
    x = np.arange(len(arms))
    for k, label in enumerate(labels):
        g = table[table["foundation"] == label]
        colour = f"C{k}"
        ax.axhline(g["knockoff_barrier_eV"].iloc[0], color=colour, ls="--", lw=1,
                   label=f"{label} zero-shot")
        by = dict(zip(g["model"], g["knockoff_barrier_eV"]))
        ax.bar(x + (k - (len(labels) - 1) / 2) * width, [by.get(a, np.nan) for a in arms],
               width, color=colour, label=f"fine-tuned from {label}")
    if dft_eV is not None:
        ax.axhline(dft_eV, color="k", lw=1.2, label="DFT, the study's level of theory")
    ax.set_xticks(x, arms, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("collinear knock-off barrier (eV)")
    ax.set_ylim(0, None)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
