"""Notebook 03's selection comparison (committee, extrapolation grade, random), and the
same comparison as a committed result.

:func:`comparison` runs :func:`lidiff_helpers.training.al_compare.compare_selection` with
a notebook-03 parameter set (the notebook calls it with its profile).
:mod:`lidiff_helpers.runner.al_comparison` runs it outside the notebook with a fixed
labeller, so that the documentation's numbers (:func:`block`, :func:`findings`) come from
a file a committed command writes::

    python -m lidiff_helpers.runner.al_comparison

writes ``data/al/selection_comparison.json`` (:data:`RESULT`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lidiff_helpers.core import paths

__all__ = ["RESULT", "SETTINGS", "WORKDIR", "block", "committed", "comparison", "findings"]

RESULT = paths.DATA / "al" / "selection_comparison.json"
WORKDIR = paths.RESULTS / "al-comparison"
#: notebook-03 parameters the comparison reads (recorded in the result)
SETTINGS = ("compare_methods", "compare_rounds", "compare_labels_per_round",
            "compare_heldout_bulk", "compare_heldout_interstitial",
            "compare_barrier_n_images", "gamma_select", "temperatures_K", "n_cells",
            "explore_ps", "save_every", "step0_bulk", "step0_interstitial", "valid_ratio",
            "committee_size", "max_num_epochs", "patience", "train_dtype", "band_fractions",
            "band_edges_sigma", "band_side", "seed")


def comparison(params: Mapping[str, Any], spec, labeller, workdir: Path,
               step0_dir: Path | None = None, progress: bool = True):
    """The comparison with notebook-03 ``params`` from foundation ``spec`` (a resolved
    model spec): a DataFrame (:func:`~lidiff_helpers.training.al_compare.compare_selection`)."""
    from lidiff_helpers.simulation import neb
    from lidiff_helpers.training import active_learning as al
    from lidiff_helpers.training import al_compare

    cfg = al.ALConfig.from_params(params, threads=params.get("train_threads"),
                                  selection="bands")
    n_img = params.get("compare_barrier_n_images")
    return al_compare.compare_selection(
        cfg, str(spec.path), labeller, workdir,
        step0_dir=step0_dir or Path(workdir) / "step_0",
        heldout=al_compare.heldout_frames(labeller, params["compare_heldout_bulk"],
                                          params["compare_heldout_interstitial"],
                                          seed=params["seed"]),
        methods=params["compare_methods"], n_rounds=params["compare_rounds"],
        n_labels=params["compare_labels_per_round"], gamma_select=params["gamma_select"],
        barrier_settings=neb.NEBSettings(n_images=n_img, fmax_eV_A=0.05, max_steps=300)
        if n_img else None, progress=progress)


def committed(params: Mapping[str, Any], spec, path: Path | None = None):
    """The committed comparison (:data:`RESULT`) in place of a live one: ``(table, record)``
    when it was made with these notebook-03 ``params`` (every key of :data:`SETTINGS`)
    from this foundation file (SHA256 of the resolved ``spec``), else ``(None, reason)``.
    The table has the live comparison's rows and columns; its labels are the record's
    labeller's (``label_source``), not the notebook's ``labeller``."""
    import pandas as pd

    from lidiff_helpers.simulation import models

    where = Path(path or RESULT)
    d = _load(where)
    if d is None:
        return None, (f"{where} not computed yet (python -m lidiff_helpers.runner."
                      "al_comparison)")
    sha = models.model_identity(spec)["sha256"]
    if d.get("foundation_sha256") != sha:
        return None, (f"{where} was made from foundation {str(d.get('foundation_sha256'))[:12]}"
                      f", not this run's {spec.name} ({str(sha)[:12]})")
    diff = [k for k in SETTINGS if d["settings"].get(k) != params.get(k)]
    if diff:
        return None, f"{where} was made with other settings ({', '.join(diff)})"
    return pd.DataFrame(d["rows"]), d


def _load(path: Path | None) -> dict | None:
    path = Path(path or RESULT)
    return json.loads(path.read_text()) if path.is_file() else None


def _ends(d: dict) -> dict[str, tuple[dict, dict]]:
    """Method -> (its round-0 row, its last row), in the table's order."""
    out: dict[str, tuple[dict, dict]] = {}
    for r in d["rows"]:
        first = out.get(r["method"], (r, r))[0]
        out[r["method"]] = (first, r)
    return out


def _f(v, fmt: str) -> str:
    import math

    return "-" if v is None or math.isnan(v) else format(v, fmt)


def block(path: Path | None = None) -> str:
    """Markdown of the committed result (documentation block ``al-selection``)."""
    d = _load(path)
    if d is None:
        return ("Not computed yet: `python -m lidiff_helpers.runner.al_comparison` "
                f"writes `{RESULT.relative_to(paths.ROOT)}`.")
    s = d["settings"]
    from lidiff_helpers.simulation.models import committed_spec

    name = committed_spec(d["foundation"]["sha256"]) or d["foundation"]["name"]
    lines = [f"`{d['command']}` ({d['provenance']['created_utc'][:10]}, profile "
             f"`{d['profile']}`): foundation {name} "
             f"(`{d['foundation']['sha256'][:12]}`), labels by {d['labeller']} as a stand-in "
             f"for DFT, pool of foundation-model MD at {s['temperatures_K']} K, "
             f"{s['compare_rounds']} rounds of at most {s['compare_labels_per_round']} "
             f"labels, {s['max_num_epochs']} epochs per fine-tune, committee of "
             f"{s['committee_size']}; held-out: {s['compare_heldout_bulk']} bulk + "
             f"{s['compare_heldout_interstitial']} interstitial study frames (force RMSE "
             f"against {d['labeller']}'s labels).", "",
             "| method | labelled frames | bulk force RMSE (meV/A), start -> end | "
             "interstitial (meV/A), start -> end | knock-off barrier (eV), start -> end | "
             "CPU selecting (s) | CPU training (s) |", "|---|---|---|---|---|---|---|"]
    for m, (a, b) in _ends(d).items():
        rows = [r for r in d["rows"] if r["method"] == m]
        sel = sum(r["cpu_select_s"] for r in rows)
        train = sum(r["cpu_train_s"] for r in rows)
        lines.append(
            f"| {m} | {b['n_labelled']} | {_f(a['bulk_F_rmse_meV_A'], '.1f')} -> "
            f"{_f(b['bulk_F_rmse_meV_A'], '.1f')} | {_f(a['interstitial_F_rmse_meV_A'], '.1f')}"
            f" -> {_f(b['interstitial_F_rmse_meV_A'], '.1f')} | "
            f"{_f(a.get('barrier_eV'), '.3f')} -> {_f(b.get('barrier_eV'), '.3f')} | "
            f"{sel:.0f} | {train:.0f} |")
    return "\n".join(lines)


def findings(path: Path | None = None) -> str:
    """One sentence for the README (block ``al-selection-findings``)."""
    d = _load(path)
    if d is None:
        return ("Selection methods compared: not computed yet "
                "(`python -m lidiff_helpers.runner.al_comparison`).")
    ends = _ends(d)
    zero = ends.pop("foundation (no fine-tuning)", (None, None))[0]
    cpu = {m: sum(r["cpu_select_s"] + r["cpu_train_s"] for r in d["rows"] if r["method"] == m)
           for m in ends}
    parts = [f"{m} {_f(b['interstitial_F_rmse_meV_A'], '.0f')} meV/A after "
             f"{b['n_labelled']} labels for {cpu[m]:.0f} CPU-s" for m, (_, b) in ends.items()]
    start = next(iter(ends.values()))[0]
    worse = [m for m, (_, b) in ends.items() if zero and b["interstitial_F_rmse_meV_A"]
             > zero["interstitial_F_rmse_meV_A"]]
    verdict = (f" At this scale ({d['settings']['max_num_epochs']} epochs per fine-tune) "
               f"{'every method' if len(worse) == len(ends) else ', '.join(worse)} ends "
               f"worse than the foundation without fine-tuning "
               f"({_f(zero['interstitial_F_rmse_meV_A'], '.0f')} meV/A): the fine-tunes, "
               "not the selection, decide; the paper profile has the study's scale."
               if worse else "")
    return (f"**Choosing what to label** (notebook 03, [details](docs/active-learning.md)): "
            f"from {_f(start['interstitial_F_rmse_meV_A'], '.0f')} meV/A held-out "
            f"interstitial force error after step 0, {'; '.join(parts)} (labels by "
            f"{d['labeller']}; one seed and one pool at `{d['profile']}`'s scale, not a "
            f"significance test).{verdict}")
