"""Measuring the embedded foundation model v2 against its teacher (issue 25's targets).

:func:`measure` puts v2 on the reference models' footing
(:func:`lidiff_helpers.workflows.reference_metrics.measure`: held-out test set, equation of
state, collinear knock-off and direct-hop CI-NEB with the same settings as SevenNet-0's
row), runs the 20 ps NVT stability checks of 3x3x3 LiF + 1 Li at 300 / 600 / 900 K
(resumable), and writes :func:`lidiff_helpers.training.embedded_v2.targets` (force RMSE
within 1.2x SevenNet-0's, barriers within 0.03 eV, a0 within 1 %, B within 15 %) into
``<model>.metrics.json``.

    python -m lidiff_helpers.workflows.embedded_v2_metrics [--model ...] [--stability-ps 20]

The stability runs cost about an hour of both cores each (20 000 steps of 217 atoms at
~0.2 s): more than a session leaves beside other work. Their folders therefore live in
the committed :data:`STABILITY_DIR` (checkpoint, thermo log, trajectory every 0.1 ps:
~0.6 MB per run), so that a run killed at the end of a session continues in the next
from its last checkpoint (at most 2 minutes lost):

    OMP_NUM_THREADS=1 python -m lidiff_helpers.workflows.embedded_v2_metrics \
        --stability-only --temperatures 300        # (one per core; kill it any time)
    python -m lidiff_helpers.workflows.embedded_v2_metrics --stability-record

``--stability-record`` writes the runs as far as they got into the metrics file (an
unfinished run is shown as in progress, never as passed).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from lidiff_helpers.training import distillation
from lidiff_helpers.training.embedded_v2 import (
    MODEL,
    STATE,
    TARGETS,
    WORKDIR,
    export_state,
    targets,
)
from lidiff_helpers.training.mace_train import newest_epoch
from lidiff_helpers.workflows import reference_metrics as rm

__all__ = ["PROGRESS", "STABILITY_DIR", "STABILITY_PS", "STABILITY_TEMPERATURES_K", "main",
           "measure", "measure_state", "write_stability_progress"]


#: the issue's NVT stability runs: 3x3x3 LiF + 1 Li, 20 ps at each temperature (K)
STABILITY_TEMPERATURES_K = (300.0, 600.0, 900.0)
STABILITY_PS = 20.0
#: where the stability runs live (committed, so that they continue across sessions)
STABILITY_DIR = STATE.parent / "embedded-v2-stability"


def measure(model: Path = MODEL, stability_ps: float = STABILITY_PS,
            temperatures_K: Sequence[float] = STABILITY_TEMPERATURES_K,
            workdir: Path = WORKDIR / "metrics", stability_dir: Path = STABILITY_DIR) -> dict:
    """Measure v2 on the reference models' footing (held-out test set, EOS, knock-off and
    direct-hop CI-NEB with the same settings as SevenNet-0's row; cached by SHA256), run
    the NVT stability checks (``stability_ps`` at ``temperatures_K`` in ``stability_dir``;
    resumable; 0 skips them), compare with the teacher (:func:`targets`) and write
    ``<model>.metrics.json``."""
    from lidiff_helpers.training import embedded

    model = Path(model)
    out = model.with_suffix(".metrics.json")
    m = rm.measure("embedded-v2", workdir=workdir, model=str(model), out=out,
                   what="zero-shot embedded foundation v2 (distilled from SevenNet-0)")
    teacher = rm.measure(distillation.TEACHER)
    if stability_ps > 0:
        runs = embedded.stability_check(model, stability_dir, tuple(temperatures_K),
                                        stability_ps, progress=True)
        _set_stability(m, runs)
    m["targets"] = targets(m, teacher).to_dict("records")
    m["teacher_metrics"] = {k: teacher.get(k) for k in (*(t[0] for t in TARGETS),
                                                        "bulk_S_rmse_GPa",
                                                        "interstitial_S_rmse_GPa")}
    out.write_text(json.dumps(m, indent=1, default=str) + "\n")
    return m


def _set_stability(m: dict, runs: list[dict]) -> None:
    """Put stability records into a metrics dict: ``stability_long`` (every run, finished or
    not) and ``stability_long_problems`` (the criteria's failures of the finished ones)."""
    from lidiff_helpers.training import embedded

    m["stability_long"] = runs
    m["stability_long_problems"] = [p for r in runs if r["status"] != "running"
                                    for p in embedded.stability_problems(r)]


def write_stability_progress(model: Path = MODEL, stability_ps: float = STABILITY_PS,
                             temperatures_K: Sequence[float] = STABILITY_TEMPERATURES_K,
                             stability_dir: Path = STABILITY_DIR) -> list[dict]:
    """Write the stability runs of ``model`` as far as they got (finished or not; nothing
    is run) into ``<model>.metrics.json``. Refuses a metrics file of another model file."""
    from lidiff_helpers.core.provenance import sha256_file
    from lidiff_helpers.training import embedded

    model = Path(model)
    out = model.with_suffix(".metrics.json")
    m = json.loads(out.read_text())
    if m.get("model_sha256") != sha256_file(model):
        raise ValueError(f"{out} describes model {str(m.get('model_sha256'))[:12]}, not "
                         f"{model} ({sha256_file(model)[:12]}): measure it first")
    runs = embedded.stability_progress(model, stability_dir, tuple(temperatures_K),
                                       stability_ps)
    _set_stability(m, runs)
    out.write_text(json.dumps(m, indent=1, default=str) + "\n")
    return runs


#: measured checkpoints of the unfinished v2 training, one row each (committed)
PROGRESS = STATE / "progress.json"


def measure_state(state: Path = STATE, workdir: Path = WORKDIR / "state-metrics",
                  progress_file: Path | None = None) -> dict:
    """Measure the committed checkpoint of the unfinished v2 training (:func:`export_state`,
    then :func:`measure`'s footing without the stability runs) and add its row to
    ``progress_file`` (default ``<state>/progress.json``): epoch, CPU seconds spent, model
    SHA256, the targets' quantities and which are met. Shows whether the training is
    heading for the targets before its budget is spent. Returns the row."""
    state, workdir = Path(state), Path(workdir)
    progress_file = Path(progress_file or state / "progress.json")
    epoch = newest_epoch(state)
    if epoch is None:
        raise FileNotFoundError(f"{state}: no committed checkpoint to measure")
    budget = json.loads((state / "budget.json").read_text())
    model = export_state(workdir / f"epoch-{epoch}.model", state)
    m = rm.measure("embedded-v2", workdir=workdir, model=str(model), stability_ps=0,
                   out=workdir / f"epoch-{epoch}.metrics.json",
                   what=f"embedded v2, checkpoint of epoch {epoch} (training unfinished)")
    teacher = rm.measure(distillation.TEACHER)
    t = targets(m, teacher)
    row = {"epoch": epoch, "cpu_s_spent": budget.get("cpu_s_spent"),
           "model_sha256": m["model_sha256"],
           **{k: m.get(k) for k in ("bulk_F_rmse_meV_A", "interstitial_F_rmse_meV_A",
                                    "bulk_S_rmse_GPa", "interstitial_S_rmse_GPa",
                                    "knockoff_collinear_barrier_eV", "direct_barrier_eV",
                                    "a0_A", "B_GPa")},
           "targets_met": dict(zip(t["quantity"], t["met"])),
           "teacher": {k: teacher.get(k) for k, _, _ in TARGETS},
           "command": "python -m lidiff_helpers.workflows.embedded_v2_metrics --state"}
    rows = json.loads(progress_file.read_text()) if progress_file.is_file() else []
    rows = [r for r in rows if r["model_sha256"] != row["model_sha256"]] + [row]
    progress_file.write_text(json.dumps(sorted(rows, key=lambda r: r["epoch"]), indent=1,
                                        default=str) + "\n")
    return row


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lidiff_helpers.workflows.embedded_v2_metrics",
                                 description="measure the embedded model v2 against its teacher")
    ap.add_argument("--model", default=str(MODEL))
    ap.add_argument("--stability-ps", type=float, default=STABILITY_PS,
                    help="NVT stability runs, ps (0: skip)")
    ap.add_argument("--temperatures", type=float, nargs="+",
                    default=list(STABILITY_TEMPERATURES_K), help="stability runs' temperatures, K")
    ap.add_argument("--stability-only", action="store_true",
                    help=f"only advance the NVT stability runs (in {STABILITY_DIR}; resumable, "
                         "also across sessions once committed), then record them")
    ap.add_argument("--stability-record", action="store_true",
                    help="write the stability runs as far as they got into the metrics file "
                         "(runs nothing)")
    ap.add_argument("--state", action="store_true",
                    help=f"measure the committed checkpoint of the unfinished training "
                         f"({STATE}) into its progress.json instead")
    a = ap.parse_args(argv)
    if a.state:
        print(json.dumps(measure_state(), indent=1, default=str))
        return 0
    if a.stability_only:
        from lidiff_helpers.training import embedded

        embedded.stability_check(Path(a.model), STABILITY_DIR, tuple(a.temperatures),
                                 a.stability_ps, progress=True)
    if a.stability_only or a.stability_record:
        runs = write_stability_progress(Path(a.model), a.stability_ps)
        print(json.dumps(runs, indent=1, default=str))
        return 0
    m = measure(Path(a.model), a.stability_ps, tuple(a.temperatures))
    print(targets(m, m["teacher_metrics"]).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
