"""The README's "What it finds" block (``findings``): the strategy table and its sentences,
rendered from the reference models' metrics files (``data/models/reference/*.metrics.json``,
``make reference-models``), ``benchmarks/RESULTS_barriers.json``, the DFT results under
``data/dft/`` and the first set's (``data/models/reference-v1/``, from ``embedded-v1``). Part of
:mod:`lidiff_helpers.runner.readme_numbers` (which checks and rewrites the block).
"""

from __future__ import annotations

import json

from lidiff_helpers.core.paths import BENCHMARKS as BENCH
from lidiff_helpers.core.paths import ROOT
from lidiff_helpers.core.paths import read_result
from lidiff_helpers.workflows.dft_reference import command_for

__all__ = ["EOS_KEPT", "findings", "findings_table"]


#: a fine-tuned model keeps the foundation's bulk equation of state when its a0 and B lie
#: within these relative deviations of the foundation's (8-atom Birch-Murnaghan fits)
EOS_KEPT = {"a0_A": 0.03, "B_GPa": 0.20}


def _eos_kept(m: dict, found: dict | None) -> str:
    """The findings table's "bulk EOS kept" cell of metrics ``m`` against the foundation's."""
    from lidiff_helpers.workflows import reference_metrics as rm

    if m["name"] == rm.FOUNDATION:
        return "(the foundation)"
    if m["name"] in rm.ZERO_SHOT or not found or found.get("a0_A") is None:
        return ""
    if m.get("a0_A") is None:
        return "no (no energy minimum near PBE's a0)"
    da = m["a0_A"] / found["a0_A"] - 1
    db = m["B_GPa"] / found["B_GPa"] - 1
    kept = abs(da) <= EOS_KEPT["a0_A"] and abs(db) <= EOS_KEPT["B_GPa"]
    return f"{'yes' if kept else 'no'} (a0 {100 * da:+.1f} %, B {100 * db:+.0f} %)"


def _findings_rows(ms: list[dict], bar: dict, referee: dict) -> list[dict]:
    """One row per measured model (metrics files), then the zero-shot models measured only
    by the barrier benchmark (study lattice, collinear knock-off)."""
    from lidiff_helpers.simulation.models import committed_spec
    from lidiff_helpers.workflows import reference_metrics as rm

    found = next((m for m in ms if m["name"] == rm.FOUNDATION), None)
    rows = []
    for m in ms:
        b = m.get("knockoff_collinear_barrier_eV")
        ref = referee.get(m.get("model_sha256"), {})
        rows.append({"model": m["name"], "strategy": m.get("what", ""),
                     "F": _num(m.get("interstitial_F_rmse_meV_A"), 1),
                     "barrier": _num(b, 3) + ("" if m.get("knockoff_collinear_converged", True)
                                              else " (not converged)"),
                     "dft": _num(ref.get("dft_barrier_along_path_eV"), 3),
                     "a0": _num(m.get("a0_A"), 3) if m.get("a0_A") is not None else "none",
                     "B": _num(m.get("B_GPa"), 1), "eos": _eos_kept(m, found)})
    shas = {m.get("model_sha256") for m in ms}
    for r in bar.get("rows", []):
        if (r["sha256"] in shas or r["mechanism"] != "knockoff-collinear"
                or r["lattice"] != "study"):
            continue
        ref = referee.get(r["sha256"], {})
        name = committed_spec(r["sha256"]) or r["model"]   # embedded-v1, not "embedded"
        rows.append({"model": name, "strategy": (rm.ZERO_SHOT.get(name) or
                                                 "zero-shot") + "; barrier only "
                     "(`benchmarks/RESULTS_barriers.json`)", "F": "",
                     "barrier": _num(r["barrier_eV"], 3), "a0": "", "B": "", "eos": "",
                     "dft": _num(ref.get("dft_barrier_along_path_eV"), 3),
                     "barrier_eV": r["barrier_eV"]})
    return rows


def _num(v, digits: int) -> str:
    return "" if v is None or v != v else f"{v:.{digits}f}"


def findings_table(rows: list[dict], with_dft_path: bool) -> list[str]:
    from lidiff_helpers.core import reference
    from lidiff_helpers.core.units import LIF_A_PBE_A
    from lidiff_helpers.workflows import dft_neb

    cols = [("model", "model"), ("strategy", "strategy"),
            ("F", "held-out interstitial F RMSE (meV/A)"),
            ("barrier", "knock-off barrier (eV)")]
    cols += [("dft", "DFT along its path (eV)")] if with_dft_path else []
    cols += [("a0", "a0 (A)"), ("B", "B (GPa)"), ("eos", "bulk EOS kept")]
    b = reference.BARRIERS
    dft = {"model": "DFT (PBE)", "strategy": "published references",
           "barrier": f"{b['dft-cineb-zheng'].Ea_eV:.2f} (Zheng et al.); "
                      f"{b['dft-neb-yildirim'].Ea_eV:.2f} (Yildirim et al.)",
           "a0": f"{LIF_A_PBE_A:.2f}"}
    own = dft_neb.study_level_barrier()
    own_row = [{"model": own["label"], "strategy": "pw.x CI-NEB, 65 atoms, the study's lattice "
                f"(`{command_for(dft_neb.NEB_FILE)}`)", "barrier": f"{own['barrier_eV']:.3f}"}] \
        if own else []
    out = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r.get(k, "")) for k, _ in cols) + " |"
            for r in [*rows, dft, *own_row]]
    return out


def _findings_sentences(ms: list[dict], referee: dict, others: list[dict]) -> list[str]:
    """A sentence per finding, every number from the metrics files (``others``: the rows of
    models with a benchmarked barrier only)."""
    from lidiff_helpers.core import reference
    from lidiff_helpers.training import reference_models as ref
    from lidiff_helpers.workflows import reference_metrics as rm

    by = {m["name"]: m for m in ms}
    found = by.get(rm.FOUNDATION)
    arms = [m for m in ms if m["name"] not in (rm.FOUNDATION, *rm.ZERO_SHOT)]
    if not (found and arms):
        return []
    out = []
    err = sorted(arms, key=lambda m: m["interstitial_F_rmse_meV_A"])
    budget = {m.get("cpu_budget_s") for m in arms}
    stopped = all(m.get("stopped_by") == "budget" for m in arms)
    out.append(
        f"- **Fine-tuning cuts the error.** On the {err[0].get('interstitial_n_test', '')} "
        f"held-out interstitial frames every arm's force RMSE is "
        f"{err[0]['interstitial_F_rmse_meV_A']:.1f}-{err[-1]['interstitial_F_rmse_meV_A']:.1f}"
        f" meV/A against the zero-shot foundation's {found['interstitial_F_rmse_meV_A']:.1f} "
        f"(best: {err[0]['name']} {err[0]['interstitial_F_rmse_meV_A']:.1f}, {err[1]['name']} "
        f"{err[1]['interstitial_F_rmse_meV_A']:.1f})"
        + (f"; all {len(arms)} arms were stopped by their {budget.pop() / 3600:g} CPU-hour "
           "budget, so none has converged." if stopped and len(budget) == 1 else "."))
    dft = sorted(r.Ea_eV for k, r in reference.BARRIERS.items() if k.startswith("dft"))
    bars = [m["knockoff_collinear_barrier_eV"] for m in arms]
    below = all(x < dft[0] for x in [*bars, found["knockoff_collinear_barrier_eV"],
                                     *(r["barrier_eV"] for r in others)])
    out.append(_barrier_sentence(found, bars, others, dft, below))
    real = [by[n] for n in rm.ZERO_SHOT if n in by]
    if real:
        r = min(real, key=lambda m: m["interstitial_F_rmse_meV_A"])
        out.append(
            f"- **A real foundation model already knows the defect.** Zero-shot, {r['name']} "
            f"gives a collinear knock-off barrier of {r['knockoff_collinear_barrier_eV']:.3f} "
            f"eV (DFT {dft[0]:.2f}-{dft[-1]:.2f}{_own_dft_clause()}) and "
            f"{r['interstitial_F_rmse_meV_A']:.1f} "
            f"meV/A on the held-out interstitial frames, as the study found for MACE-MPA-0; "
            f"the embedded foundation these arms start from ({ref.foundation_label()}, "
            f"{found['knockoff_collinear_barrier_eV']:.3f} eV) "
            + ("does not, so here fine-tuning looks like a rescue"
               if found["knockoff_collinear_barrier_eV"] < dft[0] - 0.1 else "does too")
            + ".")
    out += _contrast_sentence()
    out.append(_eos_sentence(found, arms))
    d, mh = by.get("multihead-pt100-mace-default"), by.get("multihead-pt100")
    if d and mh:
        out.append(
            f"- **mace's default multihead override costs accuracy.** Multihead replay with "
            f"lr {d['lr_effective']:g} and EMA {d['ema_decay_effective']:g} (mace's default, "
            f"as the study ran) ends at {d['interstitial_F_rmse_meV_A']:.1f} meV/A in the same "
            f"CPU time, against "
            f"{mh['interstitial_F_rmse_meV_A']:.1f} with lr {mh['lr_effective']:g} and EMA "
            f"{mh['ema_decay_effective']:g} as naive.")
    from lidiff_helpers.workflows.dft_reference import PATH_FILE

    out.append("- DFT at the study's level of theory along each model's own knock-off path: "
               + ("the column *DFT along its path* (`data/dft/path_referee.json`)."
                  if referee else f"not computed yet (`{command_for(PATH_FILE)}`)."))
    return out


def _own_dft_clause() -> str:
    """``; the study's level of theory 0.157`` once the compendium's DFT NEB is done."""
    from lidiff_helpers.workflows import dft_neb

    own = dft_neb.study_level_barrier()
    return f"; at the study's level of theory {own['barrier_eV']:.3f}" if own else ""


def _barrier_sentence(found: dict, bars: list[float], others: list[dict], dft: list[float],
                      below: bool) -> str:
    """The knock-off barrier finding: against the compendium's DFT CI-NEB at the study's
    level of theory once it is done (its headline says how close the arms come), else
    against the literature's DFT."""
    from lidiff_helpers.workflows import dft_neb

    own = dft_neb.study_level_barrier()
    tail = (f"; fine-tuning on the interstitial frames brings it to {min(bars):.3f}-"
            f"{max(bars):.3f} eV"
            + "".join(f"; zero-shot {r['model']}: {r['barrier_eV']:.3f} eV" for r in others))
    if own is None:
        return (("- **Every knock-off barrier is below DFT's.** " if below else
                 "- **Barriers.** ")
                + f"The zero-shot foundation's collinear knock-off barrier is "
                f"{found['knockoff_collinear_barrier_eV']:.3f} eV against DFT's {dft[0]:.2f}-"
                f"{dft[-1]:.2f} eV" + tail + ".")
    e = own["barrier_eV"]
    off = max(abs(b - e) for b in bars)
    head = (f"Fine-tuned barriers lie within {off:.3f} eV of DFT at the study's level of "
            "theory" if off <= 0.03 else "Barriers against DFT at the study's level of theory")
    return (f"- **{head}.** This compendium's pw.x CI-NEB with the study's settings gives "
            f"{e:.3f} eV for the collinear knock-off (the literature's {dft[0]:.2f}-"
            f"{dft[-1]:.2f} eV come from other codes, datasets, cells and charge states); "
            f"the zero-shot foundation gives {found['knockoff_collinear_barrier_eV']:.3f} eV"
            + tail + ".")


def _eos_sentence(found: dict, arms: list[dict]) -> str:
    """Which arms keep the foundation's bulk equation of state, with experiment's bulk
    modulus beside the arms' (a foundation whose own B is far from it is corrected, not
    lost, by an arm that moves)."""
    from lidiff_helpers.core import reference

    kept = [m["name"] for m in arms if _eos_kept(m, found).startswith("yes")]
    lost = [m for m in arms if m["name"] not in kept and m.get("a0_A") is not None]
    none = [m["name"] for m in arms if m.get("a0_A") is None]
    b_exp = reference.BULK_LIF["B_exp"]
    tol = EOS_KEPT["B_GPa"]
    found_off = not (b_exp.low * (1 - tol) <= found["B_GPa"] <= b_exp.high * (1 + tol))
    head = ("Only " + kept[0] + " keeps" if len(kept) == 1 else
            ", ".join(kept) + " keep" if kept else
            "Fine-tuning replaces" if found_off else "No arm keeps")
    text = (f"- **{head} the bulk equation of state** (the foundation's: a0 "
            f"{found['a0_A']:.3f} A, B {found['B_GPa']:.1f} GPa; kept: a0 within "
            f"{100 * EOS_KEPT['a0_A']:.0f} % and B within {100 * EOS_KEPT['B_GPa']:.0f} % of "
            "them)")
    if lost:
        bs = [m["B_GPa"] for m in lost]
        db = [100 * (b / found["B_GPa"] - 1) for b in bs]
        text += (f": {', '.join(m['name'] for m in lost)} end at B = {min(bs):.1f}-"
                 f"{max(bs):.1f} GPa ({min(db):+.0f} to {max(db):+.0f} %; experiment "
                 f"{b_exp.low:g}-{b_exp.high:g} GPa)")
    if none:
        text += (f"{';' if lost else ':'} {', '.join(none)} "
                 f"{'has' if len(none) == 1 else 'have'} no energy minimum near PBE's a0")
    return text + "."


def findings() -> str:
    """``findings``: the README's table of what the compendium finds."""
    from lidiff_helpers.training import reference_models as ref
    from lidiff_helpers.workflows import reference_metrics as rm
    from lidiff_helpers.workflows.dft_reference import PATH_FILE

    ms = rm.load()
    if not ms:
        return ("Not measured yet: `make reference-models` writes "
                "`data/models/reference/<arm>.metrics.json`.")
    referee = {r.get("model_sha256"): r for r in (read_result(PATH_FILE) or {}).get("rows", [])
               if r.get("status") == "done" and "dft_barrier_along_path_eV" in r}
    rows = _findings_rows(ms, read_result(BENCH / "RESULTS_barriers.json") or {}, referee)
    found = next((m for m in ms if m["name"] == rm.FOUNDATION), None)
    head = (f"One committed model per fine-tuning strategy (`data/models/reference/`, "
            f"`make reference-models`), each from the "
            + (found.get("what", "").removeprefix("zero-shot ") if found else "foundation")
            + f", spec `{ref.FOUNDATION_SPEC}`, on {ref.N_BULK} "
            f"bulk + {ref.N_INTERSTITIAL} interstitial study frames within "
            f"{ref.CPU_BUDGET_S / 3600:g} CPU-hour: reduced settings on 2 CPU cores, not the "
            "study's MACE-MPA-0 numbers. Force error on the held-out frames no model trained "
            "on; collinear knock-off barrier by CI-NEB (65 atoms, study lattice); a0 and B "
            "from an 8-atom Birch-Murnaghan fit.")
    missing = [a.name for a in ref.ARMS if a.name not in {m["name"] for m in ms}]
    if missing:
        head += (f" Not yet retrained from {ref.foundation_label()}: {', '.join(missing)} "
                 f"(the first set's, from {ref.foundation_label(ref.V1_DIR)}, are in "
                 f"`{ref.V1_DIR.relative_to(ROOT)}/`).")
    others = [r for r in rows if "barrier_eV" in r]
    return "\n".join([head, "", *findings_table(rows, bool(referee)), "",
                      *_findings_sentences(ms, referee, others)])


def _contrast_sentence() -> list[str]:
    """The finding "fine-tuning a soft foundation vs a good one", from both sets' metrics
    (:func:`lidiff_helpers.workflows.reference_metrics.foundation_contrast`): the barrier
    change of every arm that starts from its foundation's weights, per foundation."""
    from lidiff_helpers.training import reference_models as ref
    from lidiff_helpers.workflows import reference_metrics as rm

    t = rm.contrast()
    if t.empty:
        return []
    parts, verdicts = [], {}
    for label, g in t.groupby("foundation", sort=False):
        fb = g["knockoff_barrier_eV"].iloc[0]
        arms = g.iloc[1:]
        own = arms[arms["barrier"] != rm.RANDOM_START]
        d = own["barrier_change_eV"]
        counts = own["barrier"].value_counts()
        verdicts[label] = set(counts.index)
        said = ", ".join(("both" if n == len(own) == 2 else f"all {n}" if n == len(own) > 2
                          else f"{n}") + " " + (v if n == 1 else v[:-1]) + " it"
                         for v, n in counts.items())
        parts.append(f"from {label} ({fb:.3f} eV) the {len(own)} arms that start from its "
                     f"weights change the knock-off barrier by {d.min():+.3f} to "
                     f"{d.max():+.3f} eV ({said})")
    soft, good = (verdicts[ref.foundation_label(f)] for f in (ref.V1_DIR, ref.REFERENCE_DIR))
    head = ("A good foundation's barrier survives fine-tuning; a soft one's is rebuilt"
            if soft == {"raises"} and good == {"keeps"} else
            "Fine-tuning a soft foundation vs a good one")
    return [f"- **{head}.** With the same recipe, " + "; ".join(parts)
            + f" (kept: within {rm.BARRIER_KEPT_EV:g} eV; docs/reference-models.md)."]
