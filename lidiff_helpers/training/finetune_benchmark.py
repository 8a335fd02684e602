"""The measured strategy comparison (naive vs multihead vs scratch on the same frames)
behind ``benchmarks/RESULTS_finetune.md``, and the fine-tuning command line
(``python -m lidiff_helpers.finetune {run,benchmark}``).

A benchmark file records the foundation model it was measured on (name and SHA256);
:func:`load_benchmark` refuses a file measured on another model than the current one.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lidiff_helpers.core import paths
from lidiff_helpers.core.errors import StaleResultError
from lidiff_helpers.training.finetune import FinetuneConfig, run_finetune
from lidiff_helpers.training.sweeps import plan_sweep

__all__ = ["BENCHMARK_JSON", "check_benchmark_model", "load_benchmark", "benchmark",
           "benchmark_markdown", "main"]

#: the measured strategy comparison (written by ``python -m lidiff_helpers.finetune benchmark``)
BENCHMARK_JSON = paths.BENCHMARKS / "RESULTS_finetune.json"


def check_benchmark_model(body: Mapping[str, Any], source: str | Path) -> None:
    """Raise :class:`~lidiff_helpers.core.errors.StaleResultError` when the benchmark record
    ``body`` (read from ``source``) was measured on another foundation model file (SHA256)
    than the one the same model name resolves to now and that file is no longer committed
    (:func:`~lidiff_helpers.simulation.models.committed_spec`: a record of ``embedded``
    v1 stays valid as ``embedded-v1``): its numbers would describe a model that is
    gone."""
    from lidiff_helpers.simulation import models

    f = body.get("foundation") or {}
    if models.committed_spec(f.get("sha256")) is not None:
        return
    try:
        now = models.model_identity(models.resolve_spec(f.get("name", "?")))
    except Exception as exc:  # the model it was measured on cannot be resolved here
        raise StaleResultError(f"{source}: measured on model {f.get('name')!r} "
                               f"(sha256 {str(f.get('sha256'))[:12]}), which cannot be "
                               f"resolved here: {exc}") from exc
    if now["sha256"] != f.get("sha256"):
        raise StaleResultError(
            f"{source}: measured on {f.get('name')} sha256 {str(f.get('sha256'))[:12]}, "
            f"but that model is now sha256 {str(now['sha256'])[:12]}; rerun the command "
            f"it records ({body.get('command')!r})")


def load_benchmark(path: str | Path = BENCHMARK_JSON, check_model: bool = True):
    """The benchmark's table (pandas) and record, or ``(None, None)`` if not measured;
    with ``check_model``, :func:`check_benchmark_model` first."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        return None, None
    body = json.loads(path.read_text())
    if check_model:
        check_benchmark_model(body, path)
    return pd.DataFrame(body["rows"]), {k: v for k, v in body.items() if k != "rows"}


def benchmark(root: str | Path, foundation: str = "embedded", n_bulk: int = 10,
              n_interstitial: int = 100, n_valid: Sequence[int] = (5, 45), epochs: int = 20,
              n_pt: int = 100, threads: int = 2, dtype: str = "float32",
              eval_dtype: str = "float32", e0s: str = "fit",
              out: str | Path = BENCHMARK_JSON, command: str = "") -> dict:
    """naive vs multihead vs scratch on the same frames, same epochs and same lr/EMA
    (``--force_mh_ft_lr=True``); test-set RMSEs and CPU/wall time; writes ``out`` (JSON)
    and the Markdown beside it."""
    import resource

    from lidiff_helpers.analysis import confound
    from lidiff_helpers.simulation import models
    from lidiff_helpers.training import evaluation

    spec = models.resolve_spec(foundation)
    cfgs = plan_sweep(spec.path, [[n_bulk, n_interstitial]], [0, n_pt],
                      include_scratch=True, epochs=epochs, n_valid_bulk=n_valid[0],
                      n_valid_interstitial=n_valid[1], default_dtype=dtype,
                      force_mh_ft_lr=True, data_seed=20260101, e0s=e0s)
    t0 = time.time()
    results = [run_finetune(c, root, threads=threads) for c in cfgs]
    bad = [f"{r.config.label}: {r.status}: {r.message[-400:]}" for r in results if not r.ok]
    if bad:
        raise RuntimeError("benchmark not written, runs did not finish:\n" + "\n".join(bad))
    # cost of the session that trained each model (a rerun skips and reads it back)
    done = [json.loads((r.workdir / "done.json").read_text()) for r in results]
    cpu = [d.get("cpu_time_s_last_session", float("nan")) for d in done]
    wall = [d.get("wall_time_s_last_session", float("nan")) for d in done]
    wall_train = time.time() - t0
    me0 = resource.getrusage(resource.RUSAGE_SELF)
    test = evaluation.test_frames()
    rv = evaluation.replay_validation_frames()
    table = evaluation.sweep_table(results, test, rv, dtype=eval_dtype, progress=False)
    table["train_cpu_s"] = cpu
    table["train_wall_s"] = wall
    base = evaluation.model_row(spec.path, test, rv, dtype=eval_dtype, energy_reference=None,
                                cache=Path(root) / f"foundation-{spec.name}-eval.json")
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    eval_cpu = me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime
    flags = confound.find_confounds(confound.arms_from_results(results))
    body = {"command": command, "foundation": models.model_identity(spec),
            "settings": {"n_bulk": n_bulk, "n_interstitial": n_interstitial,
                         "n_valid": list(n_valid), "epochs": epochs, "n_pt": n_pt,
                         "threads": threads, "dtype": dtype, "eval_dtype": eval_dtype,
                         "lr": 0.005, "e0s": e0s,
                         "force_mh_ft_lr": True,
                         "frames_used": n_bulk + n_interstitial + sum(n_valid)},
            "train_cpu_s_total": round(float(np.sum(cpu)), 1),
            "train_wall_s_total": round(float(np.sum(wall)), 1),
            "eval_cpu_s": round(eval_cpu, 1),
            "eval_wall_s": round(time.time() - t0 - wall_train, 1),
            "foundation_zero_shot": base,
            "confounded_pairs": int(flags["confounded"].sum()) if len(flags) else 0,
            "rows": json.loads(table.to_json(orient="records"))}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(body, indent=1, default=str))
    benchmark_markdown(body, out.with_suffix(".md"))
    return body


def benchmark_markdown(body: Mapping[str, Any], path: str | Path) -> Path:
    """Write the Markdown report of a :func:`benchmark` record (its JSON body)."""
    import pandas as pd

    st = body["settings"]
    table = pd.DataFrame(body["rows"])
    cols = ["run", "status", "interstitial_F_rmse_meV_A", "bulk_F_rmse_meV_A",
            "interstitial_E_rmse_meV_atom", "bulk_E_rmse_meV_atom", "interstitial_S_rmse_GPa",
            "replay_F_rmse_meV_A", "replay_n_frames", "epochs_run", "best_epoch",
            "lr_effective", "ema_decay_effective", "train_cpu_s", "train_wall_s"]
    base = body["foundation_zero_shot"]
    from lidiff_helpers.simulation.models import committed_spec

    f = body["foundation"]
    name = committed_spec(f["sha256"]) or f["name"]
    setup = (f"Foundation: {name} ({Path(f['path']).name}, sha256 {f['sha256'][:12]}). "
             f"Data: {st['n_bulk']} bulk + {st['n_interstitial']} interstitial "
             f"DeePMD-derived training frames (random, seeded), {st['n_valid'][0]} + "
             f"{st['n_valid'][1]} validation frames ({st['frames_used']} frames in all), "
             f"never a held-out test frame. {st['epochs']} epochs each, lr 0.005, EMA 0.995 "
             f"for every arm (`--force_mh_ft_lr=True`), E0s `{st.get('e0s', 'study')}`, "
             f"{st['dtype']}, {st['threads']} thread(s). Multihead replays {st['n_pt']} MPtrj "
             "frames (the study's train_100 file). Test: the 120 held-out frames (20 bulk, "
             f"100 interstitial), evaluated in {st.get('eval_dtype', 'float64')}.")
    zero = (f"Foundation zero-shot (energy offset to the QE reference removed per "
            f"composition): interstitial F RMSE {base.get('interstitial_F_rmse_meV_A'):.1f} "
            f"meV/A, bulk {base.get('bulk_F_rmse_meV_A'):.1f} meV/A, replay (MPtrj) F RMSE "
            f"{base.get('replay_F_rmse_meV_A'):.1f} meV/A on {base.get('replay_n_frames')} "
            "frames.")
    cost = (f"Cost: training {body['train_cpu_s_total'] / 60:.1f} CPU-min "
            f"({body['train_wall_s_total'] / 60:.1f} wall-min), evaluation "
            f"{body['eval_cpu_s'] / 60:.1f} CPU-min ({body['eval_wall_s'] / 60:.1f} "
            "wall-min), on a 2-core machine shared with other jobs (wall >> CPU).")
    notes = ("`replay_F_rmse_meV_A` (forgetting) uses the replay validation frames the "
             "model can evaluate (`replay_n_frames`): the multihead model through its "
             "replay head on all of them; the naive and scratch models keep only Li and F "
             "(mace drops the other elements), so theirs is over the few Li/F-only MPtrj "
             "frames and is not comparable.")
    md = ["# Fine-tuning strategies on the embedded foundation model (measured)", "",
          f"Command: `{body['command']}`", "", setup, "",
          table[[c for c in cols if c in table]].to_markdown(index=False, floatfmt=".4g"),
          "", zero, "", notes, "", cost, "",
          f"Confound guard: {body['confounded_pairs']} confounded pair(s) among the arms.",
          "", "Target (FIRE after fine-tuning): interstitial force RMSE <= 30 meV/A."]
    if body.get("notes"):
        md += ["", "## Notes", ""] + [f"- {n}" for n in body["notes"]]
    path = Path(path)
    path.write_text("\n".join(md) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - CLI
    """``python -m lidiff_helpers.finetune run CONFIG | benchmark ...``."""
    import shlex
    import sys

    ap = argparse.ArgumentParser(description="lidiff fine-tuning runs")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one config.json (skips/resumes)")
    r.add_argument("config")
    r.add_argument("--root", required=True)
    r.add_argument("--threads", type=int, default=None)
    b = sub.add_parser("benchmark", help="naive vs multihead vs scratch, measured")
    b.add_argument("--root", required=True)
    b.add_argument("--foundation", default="embedded")
    b.add_argument("--n-bulk", type=int, default=10)
    b.add_argument("--n-interstitial", type=int, default=100)
    b.add_argument("--n-valid", type=int, nargs=2, default=[5, 45])
    b.add_argument("--epochs", type=int, default=20)
    b.add_argument("--n-pt", type=int, default=100)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--dtype", default="float32")
    b.add_argument("--eval-dtype", default="float32")
    b.add_argument("--e0s", default="fit", choices=["fit", "study"])
    b.add_argument("--out", default=str(BENCHMARK_JSON))
    a = ap.parse_args(argv)
    if a.cmd == "run":
        cfg = FinetuneConfig.from_dict(json.loads(Path(a.config).read_text()))
        res = run_finetune(cfg, a.root, threads=a.threads)
        print(res.status, res.model or res.message)
        return 0 if res.ok else 1
    cmd = "python -m lidiff_helpers.finetune " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    body = benchmark(a.root, a.foundation, a.n_bulk, a.n_interstitial, a.n_valid, a.epochs,
                     a.n_pt, a.threads, a.dtype, a.eval_dtype, a.e0s, a.out, cmd)
    print(json.dumps({k: v for k, v in body.items() if k != "rows"}, indent=1, default=str))
    return 0


