"""Reference fine-tuned models: one per fine-tuning strategy, trained once on the study's
ft200 composition as far toward convergence as a stated CPU budget allows, and committed
under ``data/models/reference/`` so that every profile can use converged models.

The recipe (``make reference-models`` = ``python -m lidiff_helpers.training.reference_models``)
----------------------------------------------------------------------------------------------
* Foundation: :data:`FOUNDATION_SPEC`, the committed embedded model the arms are trained
  from (``embedded``: v2, distilled from SevenNet-0, ``data/models/lidiff-embedded-v2.model``;
  each recipe records the foundation's SHA256). The first set, trained the same way from
  the soft ``embedded-v1`` (knock-off barrier 0.04 eV), stays under :data:`V1_DIR` for the
  contrast "fine-tuning a soft foundation vs a good one"
  (:func:`lidiff_helpers.workflows.reference_metrics.foundation_contrast`; spec
  ``reference-v1-<arm>``).
* Frames: 10 bulk + 200 interstitial (the study's ft200 composition), a seeded draw
  (``data_seed`` 20260101) from the local DeePMD-derived pool, disjoint from the held-out
  test set; 5 bulk + 45 interstitial validation frames shared by every arm (early stopping).
* Training: mace-torch's ``mace_run_train`` through
  :func:`lidiff_helpers.training.finetune.run_finetune` (the sweeps' code path), float32,
  lr 0.005, EMA 0.995, batch 2 (the study's), E0s fitted on the validation frames,
  early stopping after :data:`PATIENCE` epochs without improvement, at most
  :data:`CPU_BUDGET_S` CPU seconds per arm (1 thread per arm, two arms at a time on 2
  cores): when the budget is spent, the best checkpoint so far becomes the model
  (:func:`lidiff_helpers.training.mace_train.budgeted_train`). Interrupted runs resume.
* Arms (:data:`ARMS`): naive; multihead with 100 replayed MPtrj frames and lr/EMA kept
  equal to naive (``--force_mh_ft_lr``); the same with mace's default multihead override
  (lr 1e-4, EMA 0.99999: the study's runs), so the override's effect is shown; from
  scratch (the foundation's architecture, random weights); LoRA (``--lora``) and
  pseudolabel replay (``--pseudolabel_replay``) of the pinned mace-torch.

Each exported model ``<arm>.model`` (at most :data:`MAX_MODEL_MB` MB) has beside it
``<arm>.recipe.json`` (config, mace command, data hashes, budget record, versions) and
``<arm>.train_log.json`` (mace's per-epoch validation errors); the metrics are added by
:mod:`lidiff_helpers.workflows.reference_metrics`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lidiff_helpers.core import paths
from lidiff_helpers.training.finetune import FinetuneConfig, FinetuneResult, run_finetune

__all__ = ["ARMS", "CPU_BUDGET_S", "FOUNDATION_SPEC", "LEARNING_CURVE_ARMS",
           "LEARNING_CURVE_CPU_BUDGET_S", "LEARNING_CURVE_SIZES", "REFERENCE_DIR", "SADDLE_ARM",
           "V1_DIR", "V1_FOUNDATION_SPEC", "foundation_label", "foundation_spec",
           "Arm", "config", "export", "exported", "learning_curve_configs", "main",
           "register_reference", "train"]

#: where the reference models are committed
REFERENCE_DIR = paths.MODELS / "reference"
#: where they are trained (run folders, checkpoints; not committed)
TRAIN_ROOT = paths.RESULTS / "reference-models"
#: the first set, trained from the soft foundation :data:`V1_FOUNDATION_SPEC` with the same
#: recipe (kept for the soft-vs-good foundation contrast)
V1_DIR = paths.MODELS / "reference-v1"
V1_FOUNDATION_SPEC = "embedded-v1"
#: CPU seconds per arm, all sessions together (1 CPU-hour)
CPU_BUDGET_S = 3600.0
#: OMP threads per arm
THREADS = 1
#: early-stopping patience (epochs without a better validation loss)
PATIENCE = 10
#: an upper bound the budget reaches first
MAX_EPOCHS = 200
#: the largest committed model file
MAX_MODEL_MB = 10.0
#: the frames (the study's ft200 composition) and the shared validation frames
N_BULK, N_INTERSTITIAL = 10, 200
N_VALID = (5, 45)
DATA_SEED = 20260101


@dataclass(frozen=True)
class Arm:
    """One fine-tuning strategy of the reference set.

    ``name``: file stem under :data:`REFERENCE_DIR`; ``strategy``, ``n_pt``,
    ``force_mh_ft_lr``: as :class:`~lidiff_helpers.training.finetune.FinetuneConfig`;
    ``extra``: further mace options (``lora``, ``pseudolabel_replay``); ``what``: one line
    for tables."""

    name: str
    strategy: str
    what: str
    n_pt: int = 0
    force_mh_ft_lr: bool = True
    extra: dict = field(default_factory=dict)
    extra_train: str = ""


ARMS: tuple[Arm, ...] = (
    Arm("naive", "naive", "all weights on the fine-tuning frames only"),
    Arm("multihead-pt100", "multihead",
        "+ 100 replayed MPtrj frames, lr/EMA as naive (--force_mh_ft_lr)", n_pt=100),
    Arm("multihead-pt100-mace-default", "multihead",
        "+ 100 replayed MPtrj frames, mace's override (lr 1e-4, EMA 0.99999; the study's)",
        n_pt=100, force_mh_ft_lr=False),
    Arm("scratch", "scratch", "the foundation's architecture, random weights"),
    Arm("lora", "naive", "LoRA adapters (rank 4) on the frozen foundation (--lora)",
        extra={"lora": True, "lora_rank": 4, "lora_alpha": 1.0}),
    Arm("multihead-pt100-pseudolabel", "multihead",
        "+ 100 replay frames relabelled by the foundation (--pseudolabel_replay)", n_pt=100,
        extra={"pseudolabel_replay": True}),
)
#: issue 26's saddle-aware arm: naive plus the DFT-labelled knock-off path frames (every
#: finished pw.x run at the study's settings in data/dft/pw-labels: the DFT NEB's band and
#: the referee's images). Trained on request (``--arms naive-dft-path``); the tables and
#: cards show it after the arms of :data:`ARMS`
SADDLE_ARM = Arm("naive-dft-path", "naive",
                 "naive + the DFT-labelled knock-off path frames (110 / 440 Ry)",
                 extra_train="dft-path")
_BY_NAME = {a.name: a for a in (*ARMS, SADDLE_ARM)}


def arm(name: str) -> Arm:
    if name not in _BY_NAME:
        raise ValueError(f"unknown reference arm {name!r}; use one of {sorted(_BY_NAME)}")
    return _BY_NAME[name]


#: the foundation the committed arms were trained from (a model spec: the embedded model v2)
FOUNDATION_SPEC = "embedded"


def foundation_spec(folder: str | Path = REFERENCE_DIR) -> str:
    """The foundation (model spec) the arms in ``folder`` were trained from:
    :data:`V1_FOUNDATION_SPEC` for :data:`V1_DIR`, else :data:`FOUNDATION_SPEC`."""
    return V1_FOUNDATION_SPEC if Path(folder).resolve() == V1_DIR.resolve() else FOUNDATION_SPEC


def foundation_label(folder: str | Path = REFERENCE_DIR) -> str:
    """The versioned name of that foundation for tables (``embedded-v2`` rather than
    ``embedded``, which names whichever version is the default)."""
    from lidiff_helpers.simulation import models

    spec = foundation_spec(folder)
    path = models.resolve_spec(spec).path
    return next((v for v, f in models.EMBEDDED_VERSIONS.items() if f == path), spec)


def config(a: Arm, foundation: str = FOUNDATION_SPEC) -> FinetuneConfig:
    """The arm's :class:`FinetuneConfig` (the recipe above)."""
    from lidiff_helpers.simulation import models

    spec = models.resolve_spec(foundation)
    ident = models.model_identity(spec)
    return FinetuneConfig(
        strategy=a.strategy, foundation=str(spec.path), foundation_sha256=ident["sha256"],
        n_bulk=N_BULK, n_interstitial=N_INTERSTITIAL, selection="random", n_pt=a.n_pt,
        replay_source="study", n_valid_bulk=N_VALID[0], n_valid_interstitial=N_VALID[1],
        seed=1, data_seed=DATA_SEED, max_num_epochs=MAX_EPOCHS, patience=PATIENCE,
        default_dtype="float32", force_mh_ft_lr=a.force_mh_ft_lr and a.strategy == "multihead",
        e0s="fit", study_arch_flags=False, extra=dict(a.extra), extra_train=a.extra_train)


#: the learning curve's smaller sets [n_bulk, n_interstitial] (10, 30, 110 frames; the
#: reference arms are its 210-frame points), for these arms
LEARNING_CURVE_SIZES = ((10, 0), (10, 20), (10, 100))
LEARNING_CURVE_ARMS = ("naive", "multihead-pt100", "scratch")
#: CPU seconds per learning-curve run (10 minutes at 1 thread: the nine runs are 1.5 CPU-h;
#: their 210-frame points, the reference arms, had :data:`CPU_BUDGET_S`)
LEARNING_CURVE_CPU_BUDGET_S = 600.0


def learning_curve_configs(foundation: str = FOUNDATION_SPEC) -> list[FinetuneConfig]:
    """The learning curve's runs: each of :data:`LEARNING_CURVE_ARMS` on each of
    :data:`LEARNING_CURVE_SIZES`, otherwise the arm's recipe (same validation frames)."""
    import dataclasses

    return [dataclasses.replace(config(arm(n), foundation), n_bulk=b, n_interstitial=i)
            for b, i in LEARNING_CURVE_SIZES for n in LEARNING_CURVE_ARMS]


def train(names: Sequence[str], root: str | Path = TRAIN_ROOT,
          cpu_budget_s: float = CPU_BUDGET_S, threads: int = THREADS,
          parallel: int = 2, on_done=None,
          lc_cpu_budget_s: float = LEARNING_CURVE_CPU_BUDGET_S,
          foundation: str = FOUNDATION_SPEC) -> dict[str, FinetuneResult]:
    """Train the named arms (resumable; ``parallel`` at a time, ``threads`` each), each
    with ``cpu_budget_s`` CPU seconds, from ``foundation`` (a model spec: another one
    gets its own run folders); ``learning-curve`` adds the learning-curve runs, each with
    ``lc_cpu_budget_s``.

    ``on_done(name, result)`` is called as each arm finishes (the CLI exports it then,
    not after the last arm)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    cfgs = {n: (config(arm(n), foundation), cpu_budget_s) for n in names
            if n != "learning-curve"}
    if "learning-curve" in names:
        cfgs.update({f"learning-curve:{c.label}": (c, lc_cpu_budget_s)
                     for c in learning_curve_configs(foundation)})
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as ex:
        futs = {ex.submit(run_finetune, c, root, None, threads, budget): n
                for n, (c, budget) in cfgs.items()}
        done = {}
        for f in as_completed(futs):
            n = futs[f]
            try:
                done[n] = f.result()
            except Exception as exc:   # one arm's crash must not hide the others' results
                import traceback

                c = cfgs[n][0]
                done[n] = FinetuneResult(c, Path(root).resolve() / c.folder, None, "failed",
                                         message="".join(traceback.format_exception(exc)))
            if on_done is not None:
                on_done(n, done[n])
    return {n: done[n] for n in cfgs}


def exported(name: str, folder: str | Path = REFERENCE_DIR) -> Path:
    """The committed model file of arm ``name``."""
    return Path(folder) / f"{name}.model"


def export(name: str, result: FinetuneResult, folder: str | Path = REFERENCE_DIR,
           overwrite: bool = False) -> Path:
    """Copy a trained arm into ``folder``: the model, its recipe and training log.

    Refuses to replace a committed model with another file unless ``overwrite``, and a
    model over :data:`MAX_MODEL_MB`."""
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.io.mace_logs import read_mace_results
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import mace_train

    if not result.ok:
        raise RuntimeError(f"{name}: not trained ({result.status}: {result.message[-300:]})")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dest = exported(name, folder)
    sha = sha256_file(result.model)
    size_mb = result.model.stat().st_size / 1e6
    if size_mb > MAX_MODEL_MB:
        raise ValueError(f"{result.model}: {size_mb:.1f} MB, over the {MAX_MODEL_MB} MB limit")
    if dest.is_file() and sha256_file(dest) != sha and not overwrite:
        raise FileExistsError(f"{dest} holds another model; pass overwrite=True "
                              "(--overwrite) to replace it")
    shutil.copyfile(result.model, dest)
    models.record_committed(dest)
    wd = result.workdir
    done = json.loads((wd / "done.json").read_text())
    recipe = {"arm": vars(arm(name)), "model_sha256": sha, "size_MB": round(size_mb, 2),
              "config": result.config.to_dict(),
              "command": (wd / "command.txt").read_text().strip(),
              "data": json.loads((wd / "data.json").read_text()),
              "budget": mace_train.budget_state(wd), "done": done,
              "effective": _guard(wd, result.config.label),
              "recipe_command": "make reference-models",
              "provenance": _provenance(result)}
    recipe["config"]["foundation"] = Path(recipe["config"]["foundation"]).name
    (folder / f"{name}.recipe.json").write_text(json.dumps(recipe, indent=1, default=str))
    log = read_mace_results(wd)
    (folder / f"{name}.train_log.json").write_text(
        json.dumps(_log_records(log), indent=0, default=str) + "\n")
    return dest


def register_reference(out: str | Path, names: Sequence[str],
                       folder: str | Path = REFERENCE_DIR,
                       notebook: str = "02_finetune_sweeps") -> list[dict]:
    """Register committed reference models (``reference-<arm>``) in the results folder
    ``out`` for notebooks 01/04/05, with their recipe and measured errors as metadata.

    Raises FileNotFoundError naming the missing file (``make reference-models``)."""
    from lidiff_helpers.io.model_registry import register_model

    entries = []
    for name in names:
        a, model = arm(name), exported(name, folder)
        recipe_file = Path(folder) / f"{name}.recipe.json"
        if not model.is_file() or not recipe_file.is_file():
            raise FileNotFoundError(f"reference model {name!r}: {model} (and its recipe) is "
                                    "not committed; run make reference-models")
        cfg = json.loads(recipe_file.read_text())["config"]
        meta = {"strategy": a.strategy, "method": a.name, "selection": cfg["selection"],
                "n_bulk": cfg["n_bulk"], "n_interstitial": cfg["n_interstitial"],
                "n_pt": cfg["n_pt"], "seed": cfg["seed"],
                "foundation_sha256": cfg["foundation_sha256"], "energy_reference": "study",
                "head": "Default", "source": "reference model (make reference-models)"}
        mfile = Path(folder) / f"{name}.metrics.json"
        if mfile.is_file():
            met = json.loads(mfile.read_text())
            meta.update({k: met[k] for k in ("interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A",
                                               "lr_effective") if k in met})
        entries.append(register_model(Path(out), f"reference-{name}", model, notebook, meta))
    return entries


def _guard(workdir: Path, label: str) -> dict:
    """What mace actually did (lr, EMA, heads, E0s, epochs; the confound guard)."""
    from lidiff_helpers.analysis import confound

    return confound.guard_columns(confound.read_run(workdir, label))


def _log_records(log: list[dict]) -> list[dict]:
    """mace's training log, compacted: every ``eval`` line (validation errors per epoch
    and head) and one line per epoch of the ``opt`` lines (mean loss, summed time, s)."""
    import numpy as np

    out = [r for r in log if r.get("mode") == "eval"]
    by_epoch: dict = {}
    for r in log:
        if r.get("mode") == "opt":
            by_epoch.setdefault(r.get("epoch"), []).append(r)
    for ep, rs in sorted(by_epoch.items(), key=lambda kv: (kv[0] is None, kv[0])):
        out.append({"mode": "opt_epoch", "epoch": ep, "steps": len(rs),
                    "mean_loss": float(np.mean([r["loss"] for r in rs])),
                    "time_s": float(np.sum([r.get("time", 0.0) for r in rs]))})
    return out


def _provenance(result: FinetuneResult) -> dict[str, Any]:
    from lidiff_helpers.core import provenance
    from lidiff_helpers.simulation import models

    found = models.model_identity(models.resolve_spec(result.config.foundation))
    return provenance.record(models=[found],
                             extra={"recipe": "make reference-models",
                                    "cpu_budget_s": CPU_BUDGET_S, "threads": THREADS})


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.training.reference_models",
                                 description="train and export the reference models")
    ap.add_argument("--arms", nargs="+", default=[a.name for a in ARMS] + ["learning-curve"],
                    help="arms to train, and learning-curve for the smaller sets (default: "
                         "all)")
    ap.add_argument("--root", type=Path, default=TRAIN_ROOT)
    ap.add_argument("--cpu-budget-s", type=float, default=CPU_BUDGET_S,
                    help="CPU seconds per arm (default %(default)s)")
    ap.add_argument("--lc-cpu-budget-s", type=float, default=LEARNING_CURVE_CPU_BUDGET_S,
                    help="CPU seconds per learning-curve run (default %(default)s)")
    ap.add_argument("--threads", type=int, default=THREADS)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--foundation", default=FOUNDATION_SPEC,
                    help="the arms' foundation (model spec; default %(default)s, the "
                         "committed arms'); another one needs --no-export until every arm "
                         "is retrained from it")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--export-dir", type=Path, default=REFERENCE_DIR,
                    help="where finished arms are exported (default %(default)s); arms from "
                         "another foundation than the committed set's go to their own "
                         "folder (e.g. data/models/reference-next) until every arm is "
                         "retrained")
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    def report(n: str, r: FinetuneResult) -> None:
        print(f"{n}: {r.status} {r.workdir}" + (f" ({r.message[-300:]})" if r.message else ""),
              flush=True)
        if r.ok and not a.no_export and not n.startswith("learning-curve:"):
            print("  ->", export(n, r, a.export_dir, overwrite=a.overwrite))

    same_dir = Path(a.export_dir).resolve() == REFERENCE_DIR.resolve()
    if a.foundation != FOUNDATION_SPEC and not a.no_export and same_dir:
        ap.error(f"--foundation {a.foundation}: the committed arms in {REFERENCE_DIR} come "
                 f"from {FOUNDATION_SPEC}; export to another folder (--export-dir) or train "
                 "with --no-export until every arm is retrained and FOUNDATION_SPEC names "
                 "the new foundation")
    results = train(a.arms, a.root, a.cpu_budget_s, a.threads, a.parallel, on_done=report,
                    lc_cpu_budget_s=a.lc_cpu_budget_s, foundation=a.foundation)
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
