"""Metrics of the reference models (:mod:`lidiff_helpers.training.reference_models`) on one
footing, beside the zero-shot foundation: one ``<arm>.metrics.json`` per model and the
strategy table of README and notebook 02.

Per model (units in the names):

* held-out test set (all 120 frames, never trained or validated on): energy (meV/atom),
  force (meV/A) and stress (GPa) RMSE for bulk and interstitial frames, float64;
* forgetting, on one footing: the force RMSE on the 18 MPtrj frames made only of Li and
  F (:func:`lidiff_helpers.training.evaluation.lif_replay_frames`; every LiF model can
  evaluate them; the multihead arms replay them, so for them they are seen frames, said
  in ``lif_replay_seen``), through the fine-tuned head; and, for multihead arms, the
  replay head ``pt_head`` on the study's MPtrj validation frames;
* the bulk equation of state (8-atom cell, Birch-Murnaghan): a0 (A) and B (GPa), which
  fixed-cell fine-tuning frames do not constrain (PBE: 4.06 A);
* a short NVT stability check (3x3x3 LiF + 1 Li, 600 and 900 K): closest pair (A),
  mean temperature of the second half (K);
* the collinear knock-off and the direct-hop barriers (65 atoms, study lattice, CI-NEB,
  3 images, fmax 0.05 eV/A as notebook 05's quick profile; eV);
* from the recipe: effective lr/EMA/heads/E0s (the confound guard), epochs, CPU time;
* ``check``: RMSEs on a fixed 6-frame test subset, which the test suite recomputes to
  prove the committed file is the model measured.

Zero-shot baselines (:data:`ZERO_SHOT`: SevenNet-0, CHGNet) are measured the same way
beside the embedded foundation (``--arms sevennet-0``), without the MD stability check
(1-5 s per force call on CPU): the rows of notebook 00's zero-shot table.

``python -m lidiff_helpers.workflows.reference_metrics [--arms ...]`` (part of
``make reference-models``); cached per model SHA256.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lidiff_helpers.core.units import LIF_A_STUDY_A
from lidiff_helpers.training import reference_models as ref

__all__ = ["FOUNDATION", "ZERO_SHOT", "measure", "zero_shot_table", "check_subset", "check_values", "metrics_path", "load",
           "train_logs", "table", "learning_curve", "load_learning_curve", "budget_note",
           "learning_curve_table", "learning_curve_reading", "committed_learning_curve", "BARRIER_KEPT_EV", "RANDOM_START", "foundation_contrast", "contrast",
           "main"]

#: the row of the zero-shot foundation model (its metrics file sits beside the arms')
FOUNDATION = "foundation"
#: real universal potentials measured zero-shot beside it (model spec -> strategy text)
ZERO_SHOT = {"sevennet-0": "zero-shot SevenNet-0 (universal potential, MPtrj)",
             "chgnet": "zero-shot CHGNet 0.3.0 (universal potential, MPtrj)"}
STABILITY_TEMPERATURES_K = (600.0, 900.0)
#: ps of each stability run (after no equilibration: a built lattice starts at T/2)
STABILITY_PS = 0.5
#: frames of the test subset the test suite re-evaluates
CHECK_N_FRAMES = 6
#: settings of the knock-off barrier (as the quick profile's notebook 05)
NEB = {"n_images": 3, "fmax_eV_A": 0.05, "max_steps": 300}


def metrics_path(name: str, folder: str | Path = ref.REFERENCE_DIR) -> Path:
    """``<folder>/<name>.metrics.json``; the committed set's foundation row is the
    foundation model's own metrics file when it has one (the embedded model v2's,
    ``data/models/lidiff-embedded-v2.metrics.json``, measured by :func:`measure`), so that
    its numbers live in one file."""
    folder = Path(folder)
    if name == FOUNDATION and folder.resolve() == ref.REFERENCE_DIR.resolve():
        from lidiff_helpers.simulation import models

        own = models.resolve_spec(ref.FOUNDATION_SPEC).path.with_suffix(".metrics.json")
        if own.is_file() and "knockoff_collinear_barrier_eV" in json.loads(own.read_text()):
            return own
    return folder / f"{name}.metrics.json"


def _model(name: str, folder: Path) -> str:
    """The model spec or file of a row: the foundation the folder's arms were trained from
    (:func:`~lidiff_helpers.training.reference_models.foundation_spec`), a zero-shot
    baseline's spec, or an exported arm's file."""
    if name == FOUNDATION:
        from lidiff_helpers.simulation import models

        return str(models.resolve_spec(ref.foundation_spec(folder)).path)
    if name in ZERO_SHOT:
        return name
    return str(ref.exported(name, folder))


def check_subset() -> list:
    """The fixed test subset of ``check`` (stratified, seed 0)."""
    from lidiff_helpers.training import evaluation

    return evaluation.test_frames(CHECK_N_FRAMES, seed=0)


def check_values(model: str | Path) -> dict:
    """RMSEs of ``model`` on :func:`check_subset` (float64), by frame kind."""
    from lidiff_helpers.io.data import frame_hash
    from lidiff_helpers.training import evaluation

    sub = check_subset()
    rows, _ = evaluation.evaluate_model(model, sub, dtype="float64", energy_reference=None)
    return {"frames": [frame_hash(a) for a in sub], "dtype": "float64",
            "rmse": {r["kind"]: {"E_rmse_meV_atom": r["E_rmse_meV_atom"],
                                 "F_rmse_meV_A": r["F_rmse_meV_A"]}
                     for r in rows if r["n_frames"]}}


def measure(name: str, folder: str | Path = ref.REFERENCE_DIR,
            workdir: str | Path = ref.TRAIN_ROOT / "metrics",
            stability_ps: float = STABILITY_PS, overwrite: bool = False, *,
            model: str | None = None, out: str | Path | None = None,
            what: str | None = None) -> dict:
    """Measure one model (an exported arm, :data:`FOUNDATION` or a :data:`ZERO_SHOT`
    baseline), write and return its metrics; a file measured on the same model SHA256 is
    returned as is. ``model``, ``out``, ``what``: measure another foundation file on the
    same footing (e.g. a new embedded model before it is the default), into ``out``."""
    from lidiff_helpers.core import provenance
    from lidiff_helpers.simulation import neb
    from lidiff_helpers.simulation.models import get_calculator, model_identity
    from lidiff_helpers.training import embedded, evaluation

    folder, workdir = Path(folder), Path(workdir)
    model = model or _model(name, folder)
    sha = evaluation.model_sha256(model)
    out = Path(out) if out else metrics_path(name, folder)
    if out.is_file() and not overwrite:
        old = json.loads(out.read_text())
        if old.get("model_sha256") == sha:
            return old
    recipe = {}
    baseline = name in (FOUNDATION, *ZERO_SHOT) or what is not None
    if not baseline:
        recipe = json.loads((folder / f"{name}.recipe.json").read_text())
    cfg = recipe.get("config", {})
    multihead = cfg.get("strategy") == "multihead"
    wd = workdir / f"{name}-{sha[:12]}"
    wd.mkdir(parents=True, exist_ok=True)
    if what is None:
        what = (ZERO_SHOT[name] if name in ZERO_SHOT else
                f"zero-shot embedded foundation ({ref.FOUNDATION_SPEC}, the arms' start)"
                if name == FOUNDATION else ref.arm(name).what)
    m: dict[str, Any] = {"name": name, "model_sha256": sha, "what": what}
    m.update(evaluation.model_row(model, evaluation.test_frames(),
                                  evaluation.replay_validation_frames(),
                                  head_replay="pt_head" if multihead else None,
                                  dtype="float64", cache=wd / "test.json",
                                  energy_reference=None))
    lif = evaluation.lif_replay_frames()
    m["lif_replay_F_rmse_meV_A"], m["lif_replay_n_frames"] = evaluation.replay_force_rmse(
        model, lif, (3, 9), dtype="float64")
    m["lif_replay_seen"] = len(lif) if multihead else 0
    calc = get_calculator(model, dtype="float64", verbose=False)
    m.update(_eos(calc))
    settings, ini = neb.NEBSettings(**NEB), None
    for mech, key in (("knockoff-collinear", "knockoff_collinear"), ("direct", "direct")):
        if ini is None:
            ini = neb.relax(neb.endpoints(mech, 2, LIF_A_STUDY_A)[0], calc,
                            settings.fmax_eV_A, settings.max_steps)[0]
        r = neb.barrier(mech, calc, 2, LIF_A_STUDY_A, settings, relaxed_initial=ini).summary()
        m.update({f"{key}_barrier_eV": r["barrier_eV"], f"{key}_converged": r["converged"]})
    m["neb_settings"] = NEB
    runs = [] if name in ZERO_SHOT or stability_ps <= 0 else embedded.stability_check(
        model, wd / "stability", STABILITY_TEMPERATURES_K, stability_ps, progress=True)
    if name in ZERO_SHOT:
        m["stability_note"] = "not run (1-5 s per force call on CPU)"
    elif stability_ps <= 0:
        m["stability_note"] = "not run (stability_ps = 0)"
    m["stability"] = [{k: r[k] for k in ("temperature_K", "simulated_ps", "status",
                                         "min_distance_A", "mean_T_second_half_K")}
                      for r in runs]
    m["stability_problems"] = [p for r in runs for p in embedded.stability_problems(r)]
    eff, budget = recipe.get("effective", {}), recipe.get("budget", {})
    m.update(lr_effective=eff.get("lr_effective"),
             ema_decay_effective=eff.get("ema_decay_effective"), heads=eff.get("heads"),
             E0s_Default_eV=eff.get("E0s_Default_eV"), epochs_run=eff.get("epochs_run"),
             best_epoch=eff.get("best_epoch"), train_cpu_s=budget.get("cpu_s_spent"),
             cpu_budget_s=budget.get("cpu_budget_s"), stopped_by=budget.get("stopped_by"))
    m["check"] = check_values(model)
    m["provenance"] = provenance.record(
        models=[model_identity(model) if name in ZERO_SHOT else {"name": name, "sha256": sha}],
        extra={"command": "python -m lidiff_helpers.workflows.reference_metrics",
               "stability_ps": stability_ps})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(m, indent=1, default=str) + "\n")
    return m


def _eos(calc) -> dict:
    """a0 (A) and B (GPa) of the 8-atom cell; a model whose energy minimum lies more than
    15 % from PBE's 4.06 A is searched within 35 % and flagged (forgetting of the bulk
    equation of state), and one without any minimum there gets ``a0_A`` None and a note."""
    from lidiff_helpers.simulation import bulk

    try:
        eos = bulk.equation_of_state(calc)
        return {"a0_A": eos.a0_A, "B_GPa": eos.B_GPa, "eos_note": ""}
    except ValueError as first:
        try:
            a0 = bulk.relaxed_lattice_constant(calc, window=0.35)
            eos = bulk.equation_of_state(calc, a0_A=a0)
            return {"a0_A": eos.a0_A, "B_GPa": eos.B_GPa,
                    "eos_note": f"minimum more than 15 % from 4.06 A ({first})"}
        except ValueError as exc:
            return {"a0_A": None, "B_GPa": None, "eos_note": str(exc)}


def load(folder: str | Path = ref.REFERENCE_DIR) -> list[dict]:
    """Every metrics file in ``folder``: the foundation first, then the arms' order."""
    order = [FOUNDATION, *ZERO_SHOT] + [a.name for a in (*ref.ARMS, ref.SADDLE_ARM)]
    have = {p.name[:-len(".metrics.json")]: p for p in Path(folder).glob("*.metrics.json")}
    found = metrics_path(FOUNDATION, folder)
    if found.is_file():
        have[FOUNDATION] = found
    out = []
    for n in (n for n in order if n in have):
        r = json.loads(have[n].read_text())
        out.append({**r, "name": n})   # v2's own metrics file names itself embedded-v2
    return out


def train_logs(folder: str | Path = ref.REFERENCE_DIR) -> dict[str, list[dict]]:
    """Arm name -> its committed training log records (``<arm>.train_log.json``)."""
    out = {}
    for a in ref.ARMS:
        f = Path(folder) / f"{a.name}.train_log.json"
        if f.is_file():
            out[a.name] = json.loads(f.read_text())
    return out


#: the committed learning-curve results (written by :func:`learning_curve`)
LEARNING_CURVE_FILE = ref.REFERENCE_DIR / "learning_curve.json"


def learning_curve(root: str | Path = ref.TRAIN_ROOT, out: str | Path | None = None,
                   folder: str | Path = ref.REFERENCE_DIR):
    """Test-set errors against the number of fine-tuning frames (10, 30, 110, 210) for
    naive, multihead and scratch: the smaller sets' runs (trained by
    ``make reference-models`` under ``root``) evaluated on all 120 held-out frames
    (float64), plus the reference arms as the 210-frame points; each row also keeps its
    validation force RMSE per epoch (``valid_curve``). The runs start from the foundation
    of ``folder``'s arms. Written to ``out`` (default ``<folder>/learning_curve.json``,
    JSON) and returned as a table in the shape of
    :func:`lidiff_helpers.figures.finetune.error_vs_size`'s input."""
    import pandas as pd

    from lidiff_helpers.core import provenance
    from lidiff_helpers.training import evaluation, mace_train
    from lidiff_helpers.training.finetune import load_result
    from lidiff_helpers.training.sweeps import learning_curve as learning_curve_of

    test, rv = evaluation.test_frames(), evaluation.replay_validation_frames()
    rows = []
    out = Path(out) if out is not None else Path(folder) / LEARNING_CURVE_FILE.name
    for c in ref.learning_curve_configs(ref.foundation_spec(folder)):
        name = f"multihead-pt{c.n_pt}" if c.strategy == "multihead" else c.strategy
        row = {"method": name, "selection": c.selection, "n_bulk": c.n_bulk,
               "n_interstitial": c.n_interstitial, "n_frames": c.n_frames}
        wd = Path(root) / c.folder
        r = load_result(wd) if (wd / "config.json").is_file() else None
        if r is None or not r.ok:
            rows.append({**row, "status": "not trained"})
            continue
        row.update(evaluation.model_row(r.model, test, rv,
                                        "pt_head" if c.strategy == "multihead" else None,
                                        dtype="float64", cache=wd / "evaluation.json",
                                        energy_reference=None))
        b = mace_train.budget_state(wd)
        curve = learning_curve_of(wd)
        rows.append({**row, "status": "trained", "epochs_run": int(curve["epoch"].max()) + 1,
                     "valid_curve": _valid_curve(curve), "train_cpu_s": b.get("cpu_s_spent"),
                     "cpu_budget_s": b.get("cpu_budget_s"), "stopped_by": b.get("stopped_by"),
                     "model_sha256": provenance.sha256_file(r.model)})
    logs = train_logs(folder)
    for m in load(folder):
        if m["name"] in ref.LEARNING_CURVE_ARMS:
            rows.append({k: m.get(k) for k in ("interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A",
                                               "interstitial_E_rmse_meV_atom",
                                               "bulk_E_rmse_meV_atom", "replay_F_rmse_meV_A",
                                               "train_cpu_s", "cpu_budget_s", "stopped_by",
                                               "epochs_run", "model_sha256")}
                        | {"valid_curve": _valid_curve(learning_curve_of(logs[m["name"]]))
                           if m["name"] in logs else None,
                           "method": m["name"], "selection": "random", "n_bulk": ref.N_BULK,
                           "n_interstitial": ref.N_INTERSTITIAL,
                           "n_frames": ref.N_BULK + ref.N_INTERSTITIAL, "status": "trained"})
    body = {"command": "python -m lidiff_helpers.workflows.reference_metrics --learning-curve",
            "rows": rows, "provenance": provenance.record(
                extra={"cpu_budget_s": ref.CPU_BUDGET_S,
                       "learning_curve_cpu_budget_s": ref.LEARNING_CURVE_CPU_BUDGET_S,
                       "sizes": ref.LEARNING_CURVE_SIZES})}
    Path(out).write_text(json.dumps(body, indent=1, default=str) + "\n")
    return pd.DataFrame(rows)


def _valid_curve(curve) -> list[list[float]]:
    """[[epoch, validation force RMSE (meV/A)], ...] of the fine-tuned head (epoch -1:
    before training), from :func:`lidiff_helpers.training.sweeps.learning_curve`."""
    d = curve[curve["head"] == "Default"]
    return [[int(e), round(float(f), 3)] for e, f in zip(d["epoch"], d["rmse_f_meV_A"])]


def budget_note(lc) -> str:
    """The learning curve's CPU budgets in words, e.g. ``"CPU budget per run: 600 CPU-s
    (10-110 frames), 3600 CPU-s (210 frames)"`` (``lc``: :func:`load_learning_curve`)."""
    if "cpu_budget_s" not in lc or lc["cpu_budget_s"].isna().all():
        return ""
    parts = []
    for budget, g in lc.dropna(subset=["cpu_budget_s"]).groupby("cpu_budget_s"):
        n = sorted(set(int(x) for x in g["n_frames"]))
        frames = f"{n[0]}-{n[-1]}" if len(n) > 1 else f"{n[0]}"
        parts.append(f"{budget:.0f} CPU-s ({frames} frames)")
    return "CPU budget per run: " + ", ".join(parts)


def learning_curve_table(lc, metric: str = "interstitial_F_rmse_meV_A"):
    """The learning curve as one table: a row per method, a column per number of
    fine-tuning frames, each cell ``"<metric> (<training CPU> CPU-s)"`` (e.g.
    ``"53.2 (3603 CPU-s)"``), "not trained" where the run is missing."""
    import pandas as pd

    if lc.empty:
        return pd.DataFrame()
    cells: dict = {}
    for r in lc.to_dict("records"):
        v, cpu = r.get(metric), r.get("train_cpu_s")
        if r.get("status") != "trained" or v is None or v != v:
            text = "not trained"
        else:
            text = f"{v:.1f}" + (f" ({cpu:.0f} CPU-s)" if cpu is not None and cpu == cpu
                                 else "")
        cells.setdefault(r["method"], {})[int(r["n_frames"])] = text
    sizes = sorted({n for row in cells.values() for n in row})
    return pd.DataFrame([{"model": m, **{f"{n} frames": row.get(n, "") for n in sizes}}
                         for m, row in cells.items()])


def learning_curve_reading(lc, foundation_F_meV_A: float | None = None,
                           metric: str = "interstitial_F_rmse_meV_A") -> str:
    """What the learning curve says at equal CPU, in sentences with every number from ``lc``
    (:func:`load_learning_curve`): the sizes trained with the smallest CPU budget are
    compared (the largest size usually had more CPU, which mixes data with training time).

    Per size: the from-scratch run's error over the better fine-tune's (fine-tuning "beats
    training from scratch" where that ratio is above 1), which fine-tune is ahead, and,
    with ``foundation_F_meV_A`` (the zero-shot foundation's error on the same frames), at
    which sizes the fine-tunes improve on the foundation at all. Empty when fewer than two
    methods were trained at an equal-CPU size.
    """
    if lc.empty or "cpu_budget_s" not in lc:
        return ""
    ok = lc[(lc["status"] == "trained") & lc[metric].notna()]
    if ok.empty:
        return ""
    budget = ok["cpu_budget_s"].min()
    eq = ok[ok["cpu_budget_s"] == budget]
    f = {(r["method"], int(r["n_frames"])): float(r[metric]) for r in eq.to_dict("records")}
    sizes = sorted({n for _, n in f})
    tunes = [m for m in dict.fromkeys(eq["method"]) if m != "scratch"]

    def best_tune(n: int) -> float | None:
        """The better fine-tune's error at ``n`` frames (None: no fine-tune there)."""
        v = [f[(m, n)] for m in tunes if (m, n) in f]
        return min(v) if v else None

    out = []
    ratios = {n: f[("scratch", n)] / best_tune(n) for n in sizes
              if ("scratch", n) in f and best_tune(n) is not None}
    if not ratios and len(tunes) < 2:
        return ""
    cols = f"{sizes[0]}-{sizes[-1]}" if len(sizes) > 1 else f"{sizes[0]}"
    out.append(f"At equal CPU ({budget / 60:g} CPU-minutes per run, the {cols} frame "
               "columns):")
    if ratios:
        lo, hi = min(ratios.values()), max(ratios.values())
        rng = f"{lo:.1f}-{hi:.1f}" if f"{lo:.1f}" != f"{hi:.1f}" else f"{lo:.1f}"
        if lo > 1:
            out.append(f"fine-tuning beats training from scratch at every size (the "
                       f"from-scratch error is {rng} times the better fine-tune's);")
        else:
            won = [n for n, r in ratios.items() if r <= 1]
            out.append(f"training from scratch matches or beats every fine-tune at "
                       f"{', '.join(map(str, won))} frames (its error is {rng} times the "
                       "better fine-tune's);")
    if len(tunes) >= 2:
        a, b = tunes[:2]
        both = [n for n in sizes if (a, n) in f and (b, n) in f]
        wins = [n for n in both if f[(a, n)] < f[(b, n)]]
        if len(wins) == len(both):
            out.append(f"{a} beats {b} at every size;")
        elif not wins:
            out.append(f"{b} beats {a} at every size;")
        else:
            out.append(f"{a} beats {b} at {', '.join(map(str, wins))} frames only;")
    if foundation_F_meV_A is not None and tunes:
        better = [n for n in sizes
                  if best_tune(n) is not None and best_tune(n) < foundation_F_meV_A]
        best = best_tune(sizes[0])
        if better == sizes:
            out.append(f"the better fine-tune improves on the zero-shot foundation's "
                       f"{foundation_F_meV_A:.1f} meV/A at every size" + (
                           f" ({sizes[0]} frames already reach {best:.1f})"
                           if best is not None else "") + ".")
        elif better:
            out.append(f"only {', '.join(map(str, better))} frames improve on the zero-shot "
                       f"foundation's {foundation_F_meV_A:.1f} meV/A.")
        else:
            out.append(f"no fine-tune at these sizes improves on the zero-shot "
                       f"foundation's {foundation_F_meV_A:.1f} meV/A.")
    out[-1] = out[-1].rstrip(";") + ("" if out[-1].endswith(".") else ".")
    ep = eq["epochs_run"].dropna() if "epochs_run" in eq else []
    if len(ep) and "stopped_by" in eq and (eq["stopped_by"] == "budget").all():
        out.append(f"None of these runs converged (all stopped by the budget; "
                   f"{int(ep.min())}-{int(ep.max())} epochs).")
    return " ".join(out)


def committed_learning_curve(folder: str | Path = ref.REFERENCE_DIR):
    """``(table, folder it comes from)``: ``folder``'s learning curve; for the committed
    set, until its learning-curve runs are trained from its foundation, the first set's
    (:data:`~lidiff_helpers.training.reference_models.V1_DIR`, trained from
    ``embedded-v1``), so that callers can name the foundation it belongs to
    (:func:`~lidiff_helpers.training.reference_models.foundation_spec` of that folder)."""
    folder = Path(folder)
    own = folder / LEARNING_CURVE_FILE.name
    v1 = ref.V1_DIR / LEARNING_CURVE_FILE.name
    if (not own.is_file() and folder.resolve() == ref.REFERENCE_DIR.resolve()
            and v1.is_file()):
        return load_learning_curve(v1), ref.V1_DIR
    return load_learning_curve(own), folder


def load_learning_curve(path: str | Path = LEARNING_CURVE_FILE):
    """The committed learning curve (pandas; empty when not computed)."""
    import pandas as pd

    path = Path(path)
    return pd.DataFrame(json.loads(path.read_text())["rows"]) if path.is_file() \
        else pd.DataFrame(columns=["method", "selection", "n_frames", "status"])


#: the strategy table's columns (metrics key -> header)
COLUMNS = {"name": "model", "what": "strategy",
           "interstitial_F_rmse_meV_A": "interstitial F RMSE (meV/A)",
           "bulk_F_rmse_meV_A": "bulk F RMSE (meV/A)",
           "interstitial_E_rmse_meV_atom": "interstitial E RMSE (meV/atom)",
           "lif_replay_F_rmse_meV_A": "MPtrj Li/F frames F RMSE (meV/A)",
           "replay_F_rmse_meV_A": "replay F RMSE (meV/A)",
           "replay_n_frames": "replay frames it can evaluate",
           "a0_A": "a0 (A)", "B_GPa": "B (GPa)",
           "knockoff_collinear_barrier_eV": "knock-off barrier (eV)",
           "direct_barrier_eV": "direct-hop barrier (eV)",
           "lr_effective": "lr", "ema_decay_effective": "EMA", "best_epoch": "best epoch",
           "train_cpu_s": "training CPU (s)"}


def table(folder: str | Path = ref.REFERENCE_DIR, references: bool = True):
    """The strategy table (pandas), one row per measured model, and (``references``) a
    last row with the DFT values: PBE a0 and the two DFT NEB knock-off barriers the study
    cites (Zheng et al. CI-NEB; Yildirim et al. NEB)."""
    import pandas as pd

    from lidiff_helpers.core import reference
    from lidiff_helpers.core.units import LIF_A_PBE_A

    rows = [{h: r.get(k) for k, h in COLUMNS.items()} for r in load(folder)]
    if rows and references:
        b = reference.BARRIERS
        rows.append({COLUMNS["name"]: "DFT (PBE)", COLUMNS["what"]: "reference values",
                     COLUMNS["a0_A"]: LIF_A_PBE_A,
                     COLUMNS["knockoff_collinear_barrier_eV"]:
                         f"{b['dft-cineb-zheng'].Ea_eV}; {b['dft-neb-yildirim'].Ea_eV}"})
    return pd.DataFrame(rows, columns=list(COLUMNS.values()))


#: meaningful digits of the tables' numbers (errors to 0.1 meV, a0 to mA, barriers to meV)
DIGITS = {"bulk_F_rmse_meV_A": 1, "interstitial_F_rmse_meV_A": 1,
          "interstitial_E_rmse_meV_atom": 1, "a0_A": 3, "B_GPa": 1,
          "knockoff_collinear_barrier_eV": 3, "direct_barrier_eV": 3}
#: the zero-shot table's columns (of :data:`COLUMNS`)
ZERO_SHOT_COLUMNS = ("name", "what", "bulk_F_rmse_meV_A", "interstitial_F_rmse_meV_A",
                     "interstitial_E_rmse_meV_atom", "a0_A", "B_GPa",
                     "knockoff_collinear_barrier_eV", "direct_barrier_eV")


def zero_shot_table(folder: str | Path = ref.REFERENCE_DIR, v1: str | Path = ref.V1_DIR):
    """Notebook 00's zero-shot table: the embedded foundations (the committed arms'
    foundation, ``embedded`` v2, from ``folder``; the soft ``embedded-v1``, the foundation
    of the first set in ``v1``, where committed) and the real universal potentials
    (:data:`ZERO_SHOT`) on one footing, from their committed metrics files (held-out force
    and energy RMSE, equation of state, knock-off and direct-hop barriers), each named by
    its committed model spec, with the DFT reference row."""
    import pandas as pd

    from lidiff_helpers.simulation.models import committed_spec

    t = table(folder, references=True)
    heads = [COLUMNS[c] for c in ZERO_SHOT_COLUMNS]
    keep = t[COLUMNS["name"]].isin([FOUNDATION, *ZERO_SHOT, "DFT (PBE)"])
    t = t.loc[keep, heads].reset_index(drop=True)

    def spec_of(f: Path) -> str:
        return committed_spec(json.loads(f.read_text()).get("model_sha256")) or FOUNDATION

    f = metrics_path(FOUNDATION, folder)
    if f.is_file():
        t[COLUMNS["name"]] = t[COLUMNS["name"]].replace(FOUNDATION, spec_of(f))
    f1 = metrics_path(FOUNDATION, v1)
    if f1.is_file():   # the soft foundation, after the committed arms' one
        r = json.loads(f1.read_text())
        row = {COLUMNS[c]: r.get(c) for c in ZERO_SHOT_COLUMNS} | {COLUMNS["name"]: spec_of(f1)}
        at = 1 if f.is_file() else 0
        t = pd.concat([t.iloc[:at], pd.DataFrame([row]), t.iloc[at:]], ignore_index=True)
    for col, digits in DIGITS.items():
        h = COLUMNS[col]
        if h in t:
            t[h] = [round(v, digits) if isinstance(v, float) else v for v in t[h]]
    return t


#: a fine-tuned arm whose knock-off barrier lies within this of its foundation's keeps it
#: (eV; about the spread of CI-NEB barriers between NEB settings on one model)
BARRIER_KEPT_EV = 0.02
#: the contrast's verdict for an arm that starts from random weights (scratch: only the
#: foundation's architecture), whose barrier owes nothing to the foundation's
RANDOM_START = "(random start)"
_ARM_NAMES = {a.name for a in (*ref.ARMS, ref.SADDLE_ARM)}


def foundation_contrast(sets: dict[str, Sequence[dict]]):
    """Fine-tuning a soft foundation against fine-tuning a good one.

    ``sets``: foundation label -> metrics records (:func:`load`), the foundation's first,
    then its arms. Returns a pandas table, one row per foundation and per arm: held-out
    interstitial force RMSE (meV/A), collinear knock-off barrier (eV), the barrier's change
    from that set's foundation (eV) and whether the arm ``keeps`` it (within
    :data:`BARRIER_KEPT_EV`), ``raises`` or ``lowers`` it (:data:`RANDOM_START` for an
    arm trained from random weights). Records of zero-shot baselines are left out."""
    import pandas as pd

    rows = []
    for label, recs in sets.items():
        recs = [r for r in recs if r.get("name") not in ZERO_SHOT]
        if not recs:
            continue
        found, arms = recs[0], recs[1:]
        fb = found["knockoff_collinear_barrier_eV"]
        rows.append({"foundation": label, "model": "(the foundation)",
                     "interstitial_F_rmse_meV_A": found["interstitial_F_rmse_meV_A"],
                     "knockoff_barrier_eV": fb, "barrier_change_eV": 0.0, "barrier": ""})
        for m in arms:
            b = m["knockoff_collinear_barrier_eV"]
            d = b - fb
            random_start = m["name"] in _ARM_NAMES and ref.arm(m["name"]).strategy == "scratch"
            rows.append({"foundation": label, "model": m["name"],
                         "interstitial_F_rmse_meV_A": m["interstitial_F_rmse_meV_A"],
                         "knockoff_barrier_eV": b, "barrier_change_eV": d,
                         "barrier": RANDOM_START if random_start else
                         "keeps" if abs(d) <= BARRIER_KEPT_EV else
                         "raises" if d > 0 else "lowers"})
    return pd.DataFrame(rows, columns=["foundation", "model", "interstitial_F_rmse_meV_A",
                                       "knockoff_barrier_eV", "barrier_change_eV", "barrier"])


def contrast(folder: str | Path = ref.REFERENCE_DIR):
    """:func:`foundation_contrast` of the first set
    (:data:`~lidiff_helpers.training.reference_models.V1_DIR`, from ``embedded-v1``) and
    ``folder``'s, each labelled by its foundation's versioned name
    (:func:`~lidiff_helpers.training.reference_models.foundation_label`); empty unless both
    sets have metrics."""
    t = foundation_contrast({ref.foundation_label(f): load(f) for f in (ref.V1_DIR, folder)})
    return t if t["foundation"].nunique() == 2 else t.iloc[:0]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.workflows.reference_metrics",
                                 description="measure the reference models")
    ap.add_argument("--arms", nargs="+", default=None,
                    help="models to measure (default: the foundation, the zero-shot "
                         f"baselines {', '.join(ZERO_SHOT)} and every exported arm)")
    ap.add_argument("--stability-ps", type=float, default=STABILITY_PS)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--folder", type=Path, default=ref.REFERENCE_DIR,
                    help="the exported arms' folder (default %(default)s); the foundation "
                         "and zero-shot rows are measured only for the default one")
    ap.add_argument("--learning-curve", action="store_true",
                    help="only evaluate the learning-curve runs and write "
                         "data/models/reference/learning_curve.json")
    a = ap.parse_args(argv)
    if a.learning_curve:
        print(learning_curve().to_string(index=False))
        return 0
    default = Path(a.folder).resolve() == ref.REFERENCE_DIR.resolve()
    arms = [x.name for x in (*ref.ARMS, ref.SADDLE_ARM)
            if ref.exported(x.name, a.folder).is_file()]
    names = a.arms or ([FOUNDATION, *ZERO_SHOT] if default else []) + arms
    for n in names:
        m = measure(n, a.folder, stability_ps=a.stability_ps, overwrite=a.overwrite)
        print(f"{n}: interstitial F RMSE {m['interstitial_F_rmse_meV_A']:.1f} meV/A, "
              f"a0 {m['a0_A']} A, knock-off {m['knockoff_collinear_barrier_eV']:.3f} eV")
    print(table(a.folder, references=default).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
