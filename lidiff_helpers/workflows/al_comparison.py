"""Notebook 03's selection comparison (committee, extrapolation grade, random), and the
same comparison as a committed result.

:func:`comparison` runs :func:`lidiff_helpers.training.al_compare.compare_selection` with
a notebook-03 parameter set (the notebook calls it with its profile). :func:`main` runs it
outside the notebook with a fixed labeller, so that the documentation's numbers come from
a file a committed command writes::

    python -m lidiff_helpers.workflows.al_comparison [--profile quick] [--labeller sevennet-0]
        [--foundation embedded] [-p name value ...] [--force]

writes ``data/al/selection_comparison.json`` (rows per method and round, the settings,
the foundation's and labeller's identities, provenance). SevenNet-0 is the default
labeller: the best stand-in for DFT this machine has (held-out force RMSE 82 / 100 meV/A
against the study's DFT), independent of any earlier run. An existing result made with
other settings is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import ParameterError

__all__ = ["RESULT", "SETTINGS", "block", "comparison", "findings", "main", "run"]

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


def run(profile: str = "quick", labeller: str = "sevennet-0", foundation: str | None = None,
        overrides: Mapping[str, Any] | None = None, out: Path | None = RESULT,
        force: bool = False) -> dict:
    """Run the comparison with ``profile``'s notebook-03 parameters (and ``overrides``),
    labels from the model ``labeller``, and write ``out``."""
    from lidiff_helpers.core.provenance import record
    from lidiff_helpers.io import data
    from lidiff_helpers.runner import profiles
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training.labelling import SurrogateLabeller

    params = profiles.resolve("03_active_learning", profile, dict(overrides or {}))
    spec = models.resolve_spec(foundation or params["foundation_model"])
    settings = {k: params.get(k) for k in SETTINGS}
    key = {"profile": profile, "settings": settings, "labeller": labeller,
           "foundation_sha256": models.model_identity(spec)["sha256"]}
    old = json.loads(Path(out).read_text()) if out and Path(out).is_file() else None
    if old and {k: old.get(k) for k in key} != key and not force:
        raise ParameterError(f"{out}: holds a comparison made with other settings; "
                             "pass --force to replace it")
    lab = SurrogateLabeller.from_spec(labeller)
    tag = f"{profile}-{labeller}-{key['foundation_sha256'][:8]}"
    table = comparison(params, spec, lab, WORKDIR / tag)
    body = {**key, "what": "selection methods on one candidate pool and label budget "
            "(lidiff_helpers.training.al_compare)",
            "command": "python -m lidiff_helpers.workflows.al_comparison",
            "foundation": models.model_identity(spec),
            "labeller_identity": models.model_identity(lab.spec),
            "label_source": lab.source,
            "rows": json.loads(table.to_json(orient="records")),
            "provenance": record(profile=profile, parameters=settings,
                                 models=[models.model_identity(spec),
                                         models.model_identity(lab.spec)],
                                 data_files=data.files_used())}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(body, indent=1, default=str) + "\n")
    return body


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
        return ("Not computed yet: `python -m lidiff_helpers.workflows.al_comparison` "
                f"writes `{RESULT.relative_to(paths.ROOT)}`.")
    s = d["settings"]
    lines = [f"`{d['command']}` ({d['provenance']['created_utc'][:10]}, profile "
             f"`{d['profile']}`): foundation {d['foundation']['name']} "
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
                "(`python -m lidiff_helpers.workflows.al_comparison`).")
    ends = _ends(d)
    cpu = {m: sum(r["cpu_select_s"] + r["cpu_train_s"] for r in d["rows"] if r["method"] == m)
           for m in ends}
    parts = [f"{m} {_f(b['interstitial_F_rmse_meV_A'], '.0f')} meV/A after "
             f"{b['n_labelled']} labels for {cpu[m]:.0f} CPU-s" for m, (_, b) in ends.items()]
    start = next(iter(ends.values()))[0]
    return (f"**Choosing what to label** (notebook 03, [details](docs/active-learning.md)): "
            f"from {_f(start['interstitial_F_rmse_meV_A'], '.0f')} meV/A held-out "
            f"interstitial force error at the start, {'; '.join(parts)} (labels by "
            f"{d['labeller']}; one seed and one pool at `{d['profile']}`'s scale, not a "
            "significance test).")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.workflows.al_comparison",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--labeller", default="sevennet-0", help="model spec of the labels")
    ap.add_argument("--foundation", default=None, help="default: the profile's")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="notebook-03 parameter override (YAML value)")
    ap.add_argument("--out", default=str(RESULT))
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    import yaml

    over = {k: yaml.safe_load(v) for k, v in a.p}
    body = run(a.profile, a.labeller, a.foundation, over, Path(a.out), a.force)
    for r in body["rows"]:
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
